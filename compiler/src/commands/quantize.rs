//! `zlmc quantize`: an integer model from a float spec and calibration data.

use std::io::Write;
use std::path::Path;

use crate::diag::Result;
use crate::quant::ptq::Options;
use crate::quant::{calibrate_checked, float_spec, print_calibration, write_models, WriteArgs};

/// `zlmc quantize SPEC --calibrate DATA -o DIR`: the check against the float
/// model on `out`, its warning on `err`.
pub fn quantize(
    spec: &Path,
    data: &Path,
    opts: Options,
    w: &WriteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let m = float_spec::load_float_spec(spec)?;
    let c = calibrate_checked(&m, data, opts)?;
    write_models(&m, Some((&c.quantized, data)), w, out)?;
    print_calibration(&c, &m, out, err)
}
