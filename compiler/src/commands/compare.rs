//! `zlmc compare`: models side by side on the same data, as a Markdown table
//! and optionally an SVG chart.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diag::Result;
use crate::evaluate::compare::{chart, rows, table};
use crate::evaluate::measure::MeasureTarget;
use crate::evaluate::print_warnings;
use crate::input::io_err;
use crate::output::write_file;

/// `zlmc compare BASE MODELS… --data DATA`: the table on `out`, the chart
/// written to `chart_path` when given, warnings about the data on `err`.
pub fn compare(
    models: &[PathBuf],
    data: &Path,
    target: Option<MeasureTarget>,
    chart_path: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let rows = rows(models, data, target)?;
    let warnings = rows.iter().flat_map(|r| &r.summary.warnings);
    print_warnings(data, warnings, err).map_err(io_err)?;
    if let Some(c) = chart_path {
        let svg = chart(&rows, target)?;
        write_file(c, svg.as_bytes())?;
    }
    out.write_all(table(&rows, target).as_bytes())
        .map_err(io_err)
}
