//! What `zlmc compress --finetune` and `zlmc train` share: samples from
//! float feature data, a training run with its progress and plot, and the
//! trained layers put back into a quantized model.

use std::io::Write;
use std::path::{Path, PathBuf};

use zlmc_ir::{Decode, Model};

use super::report::{plot, JudgedOn, MetricKind, Progress};
use super::{train, Samples, TrainOptions};
use crate::diag::{Diagnostic, Result};
use crate::evaluate::quantize_features;
use crate::quant::dataset::Dataset;
use crate::quant::float_model::FloatMlp;
use crate::quant::ptq::Quantized;

/// The command line's training options.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// What to train with.
    pub opts: TrainOptions,
    /// No progress output.
    pub quiet: bool,
    /// Where to write the loss and metric curves (SVG).
    pub plot: Option<PathBuf>,
}

/// Training samples for `model` from float features `d`: inputs quantized
/// as the model quantizes them, labels when `d` has them (training refuses
/// labels that are not the model's classes), the teacher's logits (or
/// values) when there is a teacher.
pub fn float_samples(model: &Model, d: &Dataset, teacher: Option<&FloatMlp>) -> Samples {
    let labelled = matches!(model.decode, Decode::Classify { .. }) && d.y.len() == d.x.len();
    Samples {
        inputs: d.x.iter().map(|x| quantize_features(model, x)).collect(),
        labels: labelled.then(|| d.y.iter().map(|&y| y as u32).collect()),
        targets: None,
        teacher: teacher.map(|t| d.x.iter().map(|x| t.eval(x)).collect()),
        groups: None,
    }
}

/// The metric `model`'s held-out scores are shown as.
pub fn metric_kind(model: &Model) -> MetricKind {
    match model.decode {
        Decode::Values { .. } => MetricKind::NegMae,
        _ => MetricKind::Accuracy,
    }
}

/// Train `start` on `data` with progress on `err` and the plot when asked;
/// `data_path` names the data in errors.
pub fn run(
    start: &Model,
    data: &Samples,
    args: &RunArgs,
    data_path: &Path,
    err: &mut dyn Write,
) -> Result<Model> {
    run_with_metric(start, data, args, data_path, err, None, metric_kind(start))
}

/// [`run`] with the caller's held-out metric (`kind` names it): what the
/// character models pass for their exact-reply rate.
pub fn run_with_metric(
    start: &Model,
    data: &Samples,
    args: &RunArgs,
    data_path: &Path,
    err: &mut dyn Write,
    metric: Option<&dyn Fn(&Model) -> f64>,
    kind: MetricKind,
) -> Result<Model> {
    let judged = (kind, JudgedOn::of(args.opts.holdout));
    let mut progress = Progress::new(args.opts.epochs, args.quiet, judged, err);
    let result = train(start, data, &args.opts, &mut |r| progress.epoch(r), metric);
    progress.finish();
    let (model, history) = result.map_err(|e| match e {
        super::TrainError::Data(_) => Diagnostic::in_file(data_path, e.to_string()),
        super::TrainError::Unsupported(_) => Diagnostic::new(e.to_string()),
    })?;
    if !args.quiet {
        let best = super::best(&history);
        let _ = writeln!(
            err,
            "trained {} epochs; kept epoch {} ({})",
            history.len() - 1,
            best.epoch,
            kind.show(best.held_out_metric, judged.1)
        );
    }
    if let Some(p) = &args.plot {
        crate::output::write_file(p, plot(&history, judged)?.as_bytes())?;
    }
    Ok(model)
}

/// Put the trained layers of `model` back into `q` (same shapes: training
/// changes weights and biases only).
pub fn store(model: &Model, q: &mut Quantized) -> Result<()> {
    let layers = super::net::chain_of(model).map_err(|e| Diagnostic::new(e.to_string()))?;
    for (ql, l) in q.layers.iter_mut().zip(layers) {
        ql.data.weights.data = l.data.weights.data;
        ql.data.bias = l.data.bias;
    }
    Ok(())
}

/// The integer teacher's logits (or values) for `inputs`: what the
/// interpreter gives, as floats. For models with no float reference
/// (z80ai's), the original model is the teacher of its compressed forms.
pub fn integer_teacher(teacher: &Model, inputs: &[Vec<i16>]) -> Result<Vec<Vec<f32>>> {
    let net =
        super::net::Net::from_model(teacher, false).map_err(|e| Diagnostic::new(e.to_string()))?;
    let outs = net.outputs();
    let threads = TrainOptions::default().threads;
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(256) {
        let x: Vec<f32> = chunk.iter().flatten().map(|&v| v as f32).collect();
        let t = net.forward(x, chunk.len(), threads);
        out.extend(t.output().chunks(outs).map(<[f32]>::to_vec));
    }
    Ok(out)
}
