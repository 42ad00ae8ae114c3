//! `zlmc quantize`: an integer model from a float spec and calibration data.

use std::io::Write;
use std::path::Path;

use crate::diag::Result;
use crate::quant::ptq::Options;
use crate::quant::{calibrate, float_spec, write_models, WriteArgs};

/// `zlmc quantize SPEC --calibrate DATA -o DIR`.
pub fn quantize(
    spec: &Path,
    data: &Path,
    opts: Options,
    w: &WriteArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let m = float_spec::load_float_spec(spec)?;
    let q = calibrate(&m, data, opts)?;
    write_models(&m, Some((&q, data)), w, out)
}
