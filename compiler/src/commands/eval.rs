//! `zlmc eval`: one model's scores on labelled data, and its cost on a target.

use std::io::Write;
use std::path::Path;

use crate::diag::Result;
use crate::evaluate::measure::MeasureTarget;
use crate::evaluate::{evaluate, print, print_warnings};
use crate::input::io_err;

/// `zlmc eval MODEL --data DATA [--target T]`: the summary on `out`,
/// warnings about the data on `err`.
pub fn eval(
    model: &Path,
    data: &Path,
    target: Option<MeasureTarget>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let s = evaluate(model, data, target)?;
    print_warnings(data, &s.warnings, err).map_err(io_err)?;
    print(&s, target, out).map_err(io_err)
}
