//! Bringing float models in: float specs, calibration data, post-training
//! quantization, and the `zlmc quantize` / `zlmc import onnx` commands.

pub mod compress;
pub mod dataset;
pub mod float_model;
pub mod float_spec;
pub mod npz_write;
pub mod ptq;
pub mod write;

use std::io::Write;
use std::path::Path;

use zlmc_ir::{Elem, WeightKind};

use crate::diag::{Diagnostic, Result};
use crate::output::{self, OutFile};
use crate::quant::float_model::FloatMlp;
use ptq::{AccChoice, Options, Quantized};

/// Clamping above this fraction of calibration values is warned about.
pub const CLAMP_WARN: f64 = 0.001;

/// Quantize `m` on the calibration split of `data`; `auto` accumulators are
/// settled by the static range analysis.
pub fn calibrate(m: &FloatMlp, data: &Path, opts: Options) -> Result<Quantized> {
    let d = dataset::load(data, dataset::Split::Calibrate)?;
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
    let mut q = ptq::quantize(m, &d, opts);
    if opts.acc == AccChoice::Auto {
        let bounds = crate::range::analyze(&write::to_model(&q)).unwrap_or_default();
        for (l, b) in q.layers.iter_mut().zip(bounds) {
            if b.fits16() && l.data.shift < 16 {
                l.acc = Elem::I16;
            }
        }
    }
    Ok(q)
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
    for (l, r) in q.layers.iter().zip(&q.report) {
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

fn io_err(e: std::io::Error) -> Diagnostic {
    Diagnostic::new(format!("I/O error: {e}"))
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

/// `zlmc quantize SPEC --calibrate DATA -o DIR`.
pub fn quantize_command(
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

/// `zlmc import onnx`'s second half: write a float model, calibrated or not.
pub fn import_float(
    mut m: FloatMlp,
    data: Option<&Path>,
    opts: Options,
    name: Option<&str>,
    w: &WriteArgs,
    out: &mut dyn Write,
) -> Result<()> {
    if let Some(n) = name {
        if !crate::frontend::is_identifier(n) {
            return Err(Diagnostic::new(format!(
                "model name `{n}` is not an identifier"
            )));
        }
        m.name = n.to_string();
    }
    match data {
        Some(d) => {
            let q = calibrate(&m, d, opts)?;
            write_models(&m, Some((&q, d)), w, out)
        }
        None => write_models(&m, None, w, out),
    }
}

/// What `zlmc compress` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct CompressArgs {
    /// Fraction of hidden neurons to drop.
    pub prune_neurons: Option<f64>,
    /// Fraction of weights to zero.
    pub sparsity: Option<f64>,
    /// Quantization of the result (the weight kind defaults to the model's).
    pub opts: Options,
    /// Whether `--weights` was given.
    pub kind_given: bool,
}

/// `zlmc compress MODEL -o DIR`: prune the float reference, quantize again,
/// and report accuracy before and after when `data` is given.
pub fn compress_command(
    model: &Path,
    calib: &Path,
    data: Option<&Path>,
    mut args: CompressArgs,
    w: &WriteArgs,
    out: &mut dyn Write,
) -> Result<()> {
    for f in [args.prune_neurons, args.sparsity].into_iter().flatten() {
        if !(0.0..1.0).contains(&f) {
            return Err(Diagnostic::new(format!("fraction {f} must be in [0, 1)")));
        }
    }
    let (mut m, kind) = if float_spec::is_float_spec(model)? {
        (float_spec::load_float_spec(model)?, None)
    } else {
        let r = crate::evaluate::reference_path(model).ok_or_else(|| {
            Diagnostic::in_file(model, "no float reference to compress from")
                .help("compress works on models written by `zlmc import` or `zlmc quantize` (their spec names a `reference:`)")
        })?;
        let spec = float_spec::read_spec(model)?;
        (
            float_spec::load_float_spec(&r)?,
            WeightKind::from_name(&spec.numerics.weights),
        )
    };
    if !args.kind_given {
        args.opts.kind = kind.unwrap_or(args.opts.kind);
    }
    let d = dataset::load(calib, dataset::Split::Calibrate)?;
    if let Some(f) = args.prune_neurons {
        let n = compress::prune_neurons(&mut m, f, &d);
        writeln!(out, "pruned {n} hidden neurons").map_err(io_err)?;
    }
    if let Some(f) = args.sparsity {
        let n = compress::sparsify(&mut m, f);
        writeln!(out, "zeroed {n} weights").map_err(io_err)?;
    }
    let q = calibrate(&m, calib, args.opts)?;
    write_models(&m, Some((&q, calib)), w, out)?;
    if let Some(data) = data {
        let before = crate::evaluate::evaluate(model, data, None)?;
        let after = crate::evaluate::evaluate(&w.dir.join(write::MODEL_SPEC), data, None)?;
        let p = |s: &crate::evaluate::Summary| (100.0 * s.accuracy(), s.params.nonzero);
        let (a0, n0) = p(&before);
        let (a1, n1) = p(&after);
        writeln!(
            out,
            "accuracy {a0:.2} % -> {a1:.2} % ({:+.2} points); non-zero parameters {n0} -> {n1}",
            a1 - a0
        )
        .map_err(io_err)?;
    }
    Ok(())
}

/// Parse a weight kind name for the command line.
pub fn weight_kind(s: &str) -> std::result::Result<WeightKind, String> {
    WeightKind::from_name(s)
        .ok_or_else(|| format!("unknown weight kind `{s}` (int8, int4, ternary, int2, binary)"))
}
