//! Bringing float models in: float specs, calibration data, post-training
//! quantization, and writing the results (for `zlmc quantize`, `zlmc import
//! onnx` and `zlmc compress`).

pub mod agreement;
pub mod compress;
pub mod constant_inputs;
pub mod dataset;
pub mod epilogue;
pub mod float_model;
pub mod float_spec;
pub mod maps;
pub mod npz_write;
pub mod pool_divisor;
pub mod ptq;
pub mod write;

use std::io::Write;
use std::path::Path;

use zlmc_ir::Elem;

use crate::diag::{Diagnostic, Result};
use crate::input::io_err;
use crate::output::{self, OutFile};
use crate::quant::float_model::FloatMlp;
use agreement::Agreement;
use constant_inputs::ConstantInput;
use ptq::{AccChoice, Options, Quantized};

/// Clamping above this fraction of calibration values is warned about.
pub const CLAMP_WARN: f64 = 0.001;

/// A quantized model and what calibrating it found.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The integer model.
    pub quantized: Quantized,
    /// Inputs folded into the first layer's bias as constants.
    pub constants: Vec<ConstantInput>,
    /// The integer model against the float one on the calibration data.
    pub check: Agreement,
}

/// Quantize `m` on the calibration split of `data`, its constant inputs
/// folded into the first layer's bias first; `auto` accumulators are settled
/// by the static range analysis.
pub fn calibrate(m: &FloatMlp, data: &Path, opts: Options) -> Result<Quantized> {
    let d = load_calibration(m, data)?;
    Ok(quantize_folded(m, &d, opts)?.0)
}

/// [`calibrate`], then run the integer model against `m` on the same data.
pub fn calibrate_checked(m: &FloatMlp, data: &Path, opts: Options) -> Result<Calibration> {
    let d = load_calibration(m, data)?;
    let (quantized, constants) = quantize_folded(m, &d, opts)?;
    // Layer by layer against the float model quantized: the same function,
    // with its border-counting pools' divisors folded (see pool_divisor).
    let check = agreement::measure(&pool_divisor::fold(m), &quantized, &d);
    Ok(Calibration {
        quantized,
        constants,
        check,
    })
}

/// The calibration samples of `data`, checked against `m`'s input width.
fn load_calibration(m: &FloatMlp, data: &Path) -> Result<dataset::Dataset> {
    let d = dataset::load(data, dataset::Split::Calibrate { features: m.inputs })?;
    if d.x[0].len() != m.inputs {
        return Err(Diagnostic::in_file(
            data,
            format!(
                "samples have {} features, the model takes {}",
                d.x[0].len(),
                m.inputs
            ),
        ));
    }
    Ok(d)
}

/// Quantize `m` on `d`, its constant inputs folded first (see [`constant_inputs`]).
fn quantize_folded(
    m: &FloatMlp,
    d: &dataset::Dataset,
    opts: Options,
) -> Result<(Quantized, Vec<ConstantInput>)> {
    let m = &pool_divisor::fold(m);
    for (l, layer) in m.layers.iter().enumerate() {
        if let Some(why) =
            epilogue::unsupported(layer.activation).or_else(|| ptq::unsupported_pool(layer))
        {
            return Err(Diagnostic::new(format!("layer {}: {why}", l + 1)));
        }
    }
    // Constant inputs fold into a dense first layer's bias; a convolution
    // reads every input through many weights, and its padding does not fold.
    let dense_first = m
        .layers
        .first()
        .is_some_and(|l| l.kind == float_model::FloatLayerKind::Dense);
    let constants = if dense_first {
        constant_inputs::find(d)
    } else {
        Vec::new()
    };
    let folded = constant_inputs::fold(m, &constants);
    let mut q = ptq::quantize(&folded, d, opts);
    if opts.acc == AccChoice::Auto {
        let bounds = crate::range::analyze(&write::to_model(&q)).unwrap_or_default();
        let weighted = q.weighted();
        for (&l, b) in weighted.iter().zip(bounds) {
            let l = &mut q.layers[l];
            if b.fits16() && l.data.shift < 16 {
                l.acc = Elem::I16;
            }
        }
    }
    Ok((q, constants))
}

/// What calibration found, after the files are written: the folded inputs
/// and the agreement warning on `err`, the check on `out`.
pub fn print_calibration(
    c: &Calibration,
    m: &FloatMlp,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    if !c.constants.is_empty() {
        let shown: Vec<String> = c
            .constants
            .iter()
            .take(12)
            .map(|k| k.index.to_string())
            .collect();
        writeln!(
            err,
            "folded {} constant over the calibration data into the first layer's bias ({} now 0): {}{}",
            if c.constants.len() == 1 {
                "1 input".to_string()
            } else {
                format!("{} inputs", c.constants.len())
            },
            if c.constants.len() == 1 { "its weights are" } else { "their weights are" },
            shown.join(", "),
            if c.constants.len() > shown.len() { ", …" } else { "" }
        )
        .map_err(io_err)?;
    }
    agreement::print(&c.check, out).map_err(io_err)?;
    agreement::warn(&c.check, m, &c.quantized, err).map_err(io_err)
}

/// Refuse to replace an existing file that differs, unless `force`.
pub fn guard_overwrite(dir: &Path, files: &[OutFile], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    for (name, data) in files {
        let p = dir.join(name);
        if let Ok(old) = std::fs::read(&p) {
            if &old != data {
                return Err(Diagnostic::in_file(
                    &p,
                    "already exists and differs from what would be written",
                )
                .help("pass --force to overwrite, or choose another -o folder"));
            }
        }
    }
    Ok(())
}

/// Which layers take 8-bit inputs (0..255, the AVR and Z80 kernels' fast
/// path) and which 16-bit ones, as `--activations` planned them.
fn plan_line(q: &Quantized) -> String {
    let names = |narrow: bool| -> Vec<String> {
        q.report
            .iter()
            .zip(&q.narrow)
            .zip(&q.layers)
            .filter(|((_, &n), l)| n == narrow && !l.is_pool())
            .map(|((r, _), _)| r.name.clone())
            .collect()
    };
    let (fast, wide) = (names(true), names(false));
    let mut parts = Vec::new();
    if !fast.is_empty() {
        parts.push(format!("8-bit into {}", fast.join(", ")));
    }
    if !wide.is_empty() {
        parts.push(format!("16-bit into {}", wide.join(", ")));
    }
    format!("activations: {}", parts.join("; "))
}

/// Print what quantization cost, layer by layer, with a warning line for heavy clamping.
pub fn print_report(q: &Quantized, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "input: scale {:.6} zero point {}{}",
        q.input.scale,
        q.input.zero_point,
        q.input
            .range
            .map_or(String::new(), |(a, b)| format!(", range [{a}, {b}]"))
    )?;
    writeln!(out, "{}", plan_line(q))?;
    for (l, r) in q.layers.iter().zip(&q.report) {
        if let Some(what) = pool_summary(l) {
            writeln!(
                out,
                "{}: {what}; clamped on calibration {} of {} ({:.3} %)",
                r.name,
                r.clamped,
                r.values,
                100.0 * r.clamp_rate()
            )?;
            continue;
        }
        writeln!(
            out,
            "{}: {} weights, scale {:.6}, shift {}, {}-bit accumulator; clipped weights {}, clamped biases {}, clamped on calibration {} of {} ({:.3} %)",
            r.name,
            l.data.weights.kind,
            r.weight_scale,
            l.data.shift,
            l.acc.bits(),
            r.clipped_weights,
            r.clamped_biases,
            r.clamped,
            r.values,
            100.0 * r.clamp_rate()
        )?;
        // In the report itself: the writer the command was given, not the process's stderr.
        if r.clamp_rate() > CLAMP_WARN {
            writeln!(
                out,
                "warning: layer {}: {:.3} % of calibration values clamped (more than {} %)",
                r.name,
                100.0 * r.clamp_rate(),
                100.0 * CLAMP_WARN
            )?;
        }
    }
    Ok(())
}

/// A pool's line in the report (`None` for layers with weights).
fn pool_summary(l: &ptq::QLayer) -> Option<String> {
    use crate::frontend::quantize::{AvgDivisor, LayerKind};
    match l.kind {
        LayerKind::MaxPool { window, .. } => Some(format!(
            "max pool {}x{}, scale passed on",
            window.kernel[0], window.kernel[1]
        )),
        LayerKind::AvgPool {
            window,
            divisor: AvgDivisor { mul, shift },
            ..
        } => Some(format!(
            "average pool {}x{} as sum * {mul} >> {shift}, scale passed on",
            window.kernel[0], window.kernel[1]
        )),
        _ => None,
    }
}

/// What `quantize` and `import` write into a folder.
pub struct WriteArgs<'a> {
    /// Output folder.
    pub dir: &'a Path,
    /// Overwrite differing files.
    pub force: bool,
    /// Where the float model came from, for the header.
    pub source: &'a Path,
}

/// Write the float reference, and the quantized model when `q` is given.
pub fn write_models(
    m: &FloatMlp,
    q: Option<(&Quantized, &Path)>,
    w: &WriteArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let source = w.source.display().to_string();
    let mut files = float_spec::float_spec_files(m, &source)?;
    match q {
        Some((q, data)) => {
            let header = vec![
                format!("Written by zlmc {} from {source}.", crate::driver::VERSION),
                format!("Calibrated on {}.", data.display()),
            ];
            files.extend(write::quantized_files(q, &header, true)?);
        }
        None => {
            // Without calibration data the float spec is the model.
            let spec = files[0].1.clone();
            files.push((write::MODEL_SPEC.to_string(), spec));
        }
    }
    guard_overwrite(w.dir, &files, w.force)?;
    output::write_all(w.dir, &files)?;
    if let Some((q, _)) = q {
        print_report(q, out).map_err(io_err)?;
    }
    for (name, _) in &files {
        writeln!(out, "wrote {}", w.dir.join(name).display()).map_err(io_err)?;
    }
    if q.is_none() {
        writeln!(
            out,
            "{} is a float spec; make an integer model with `zlmc quantize {} --calibrate DATA -o DIR`",
            w.dir.join(write::MODEL_SPEC).display(),
            w.dir.join(write::MODEL_SPEC).display()
        )
        .map_err(io_err)?;
    }
    Ok(())
}
