//! `zlmc compress`: a smaller model (lossy), pruned from the float reference
//! and quantized again.

use std::io::Write;
use std::path::Path;

use zlmc_ir::WeightKind;

use crate::commands::train::float_reference;
use crate::diag::{Diagnostic, Result};
use crate::evaluate::{evaluate, reference_path, Summary};
use crate::input::io_err;
use crate::quant::compress::{prune_neurons, sparsify};
use crate::quant::float_model::FloatMlp;
use crate::quant::ptq::Options;
use crate::quant::{calibrate, dataset, float_spec, write, write_models, WriteArgs};
use crate::train::chat::{self, TextCompress};
use crate::train::run::{float_samples, run, store, RunArgs};

/// What `zlmc compress` is asked to do.
#[derive(Debug, Clone)]
pub struct CompressArgs {
    /// Fraction of hidden neurons to drop.
    pub prune_neurons: Option<f64>,
    /// Fraction of weights to zero.
    pub sparsity: Option<f64>,
    /// Quantization of the result (the weight kind defaults to the model's).
    pub opts: Options,
    /// Whether `--weights` was given.
    pub kind_given: bool,
    /// Fine-tune the result (`--finetune`) with these options.
    pub finetune: Option<RunArgs>,
}

/// `zlmc compress MODEL -o DIR`: prune the float reference, quantize again on
/// `calib` (default: `data`), fine-tune the integer model on `data`'s
/// training split with the unpruned float model as teacher when `finetune`
/// says so, and report accuracy before and after when `data` has a test split.
pub fn compress(
    model: &Path,
    calib: Option<&Path>,
    data: Option<&Path>,
    mut args: CompressArgs,
    w: &WriteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let finetune = args.finetune.clone();
    let finetune = finetune.as_ref();
    if finetune.is_some() && data.is_none() {
        return Err(Diagnostic::new(
            "--finetune trains on data: pass --data DATA (x_train/y_train, else x_calib or x; labels optional)",
        ));
    }
    let calib = calib.or(data).ok_or_else(|| {
        Diagnostic::new("compress re-quantizes: pass --calibrate DATA or --data DATA")
    })?;
    for f in [args.prune_neurons, args.sparsity].into_iter().flatten() {
        if !(0.0..1.0).contains(&f) {
            return Err(Diagnostic::new(format!("fraction {f} must be in [0, 1)")));
        }
    }
    let (mut m, kind) = if float_spec::is_float_spec(model)? {
        (float_spec::load_float_spec(model)?, None)
    } else {
        // A model with no float reference (z80ai's) has only itself to
        // learn from: `train::chat` (issue 20's character-model side)
        // compresses those with the original integer model as the teacher.
        if reference_path(model).is_none() && chat::is_text_model(model) {
            if args.sparsity.is_some() {
                return Err(Diagnostic::in_file(
                    model,
                    "--sparsity needs a float reference; an integer-only character model takes --prune-neurons and --weights",
                ));
            }
            let text = TextCompress {
                prune_neurons: args.prune_neurons,
                kind: args.kind_given.then_some(args.opts.kind),
            };
            return chat::compress_text(model, calib, text, finetune, w, out, err);
        }
        let r = reference_path(model).ok_or_else(|| {
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
    // Accuracy needs labels: a file without them fails here, before
    // anything is written (fine-tuning takes unlabelled data).
    if let Some(data) = data.filter(|&d| finetune.is_none() || has_test_split(d)) {
        dataset::load(data, dataset::Split::Test)?;
    }
    let features = m.inputs;
    let original = m.clone();
    let d = dataset::load(calib, dataset::Split::Calibrate { features })?;
    if let Some(f) = args.prune_neurons {
        let n = prune_neurons(&mut m, f, &d);
        writeln!(out, "pruned {n} hidden neurons").map_err(io_err)?;
    }
    if let Some(f) = args.sparsity {
        let n = sparsify(&mut m, f, &d);
        writeln!(out, "zeroed {n} weights").map_err(io_err)?;
    }
    let teacher = original;
    let mut q = calibrate(&m, calib, args.opts)?;
    if let (Some(ft), Some(data)) = (finetune, data) {
        let start = write::to_model(&q);
        let d = dataset::load(data, dataset::Split::Train { features })?;
        let samples = float_samples(&start, &d, Some(&teacher));
        let mut ft = ft.clone();
        // Weights zeroed on purpose stay zero.
        ft.opts.keep_zeros = args.sparsity.is_some();
        ft.opts.unrounded = q.layers.iter().map(|l| l.unrounded.clone()).collect();
        let trained = run(&start, &samples, &ft, data, err)?;
        store(&trained, &mut q)?;
        // The reference written beside a fine-tuned model is the float
        // model its integer one now computes (as `zlmc train` writes), not
        // the compressed float model it started from.
        if let Some(r) = float_reference(&trained, q.input) {
            m = FloatMlp {
                labels: m.labels,
                ..r
            };
        }
    }
    write_models(&m, Some((&q, calib)), w, out)?;
    if let Some(data) = data.filter(|d| has_test_split(d)) {
        let before = evaluate(model, data, None)?;
        let after = evaluate(&w.dir.join(write::MODEL_SPEC), data, None)?;
        let p = |s: &Summary| (100.0 * s.accuracy(), s.params.nonzero);
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

/// Whether `data` holds labelled test samples (a fine-tuning file may hold
/// unlabelled training samples only).
fn has_test_split(data: &Path) -> bool {
    dataset::load(data, dataset::Split::Test).is_ok()
}
