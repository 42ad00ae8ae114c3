//! `zlmc import`: a spec for weights another tool exported.

use std::io::Write;
use std::path::Path;

use crate::diag::{Diagnostic, Result};
use crate::import::onnx::OutputKind;
use crate::input::io_err;
use crate::quant::ptq::Options;
use crate::quant::{calibrate_checked, print_calibration, write_models, WriteArgs};

/// `zlmc import z80ai MODEL -o DIR`: write `DIR/model.yaml` for z80ai's export.
pub fn z80ai(
    model: &Path,
    output: &Path,
    name: Option<&str>,
    force: bool,
    out: &mut dyn Write,
) -> Result<()> {
    crate::import::z80ai::import_z80ai(model, output, name, force)?;
    writeln!(out, "wrote {}", output.join("model.yaml").display()).map_err(io_err)
}

/// The ONNX model to import and how to read it.
pub struct OnnxSource<'a> {
    /// The `.onnx` file.
    pub model: &'a Path,
    /// What its output is, when the graph cannot tell (`--output-kind`).
    pub kind: Option<OutputKind>,
    /// The model name to use instead of the file's (`--name`).
    pub name: Option<&'a str>,
}

/// `zlmc import onnx MODEL -o DIR`: the float model, quantized on `data` when
/// given (with the check against the float model on `out`, its warning on
/// `err`), its output read as `src.kind` says (or as the graph does).
pub fn onnx(
    src: &OnnxSource,
    data: Option<&Path>,
    opts: Options,
    w: &WriteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let (model, name) = (src.model, src.name);
    let mut m = crate::import::onnx::load_as(model, src.kind)?;
    if let Some(n) = name {
        if !crate::frontend::is_identifier(n) {
            return Err(Diagnostic::new(format!(
                "model name `{n}` is not an identifier"
            )));
        }
        m.name = n.to_string();
    } else if let Some(n) = crate::import::onnx::folder_name_instead(model, w.dir) {
        writeln!(
            out,
            "model name: {n}, after the output folder (the file name `{}` names no model; --name sets another)",
            model.file_name().unwrap_or_default().to_string_lossy()
        )
        .map_err(io_err)?;
        m.name = n;
    }
    match data {
        Some(d) => {
            let c = calibrate_checked(&m, d, opts)?;
            write_models(&m, Some((&c.quantized, d)), w, out)?;
            print_calibration(&c, &m, out, err)
        }
        None => write_models(&m, None, w, out),
    }
}
