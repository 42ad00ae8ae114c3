//! Training zlmc's integer models: quantization-aware training (QAT) whose
//! forward pass is the interpreter's exact integer arithmetic, straight-through
//! gradients, Adam, cross-entropy, distillation and squared-error losses,
//! a held-out split with early stopping. `docs/training.md` explains it.
//!
//! The model trained is a verified dense chain (`matmul → bias → shift →
//! activation? → … → argmax`, fused or not). Each layer keeps latent float
//! weights and biases in the integer model's own units; the forward pass
//! rounds them to the layer's weight kind and the accumulator and computes
//! exactly what `zlmc_ir::interp::step` computes, so the model `train`
//! returns is bit for bit the one that was evaluated.

pub mod adam;
pub mod chat;
pub mod gemm;
pub mod loss;
pub mod maps;
pub mod net;
pub mod report;
pub mod rng;
pub mod run;
pub mod text;

use zlmc_ir::{Decode, Model};

use adam::Adam;
use loss::{Objective, Truth};
use net::Net;
use rng::Rng;

/// Training examples: the integer input vectors a step of the model sees,
/// and what each is scored against.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// One per example, `model.input_len()` long.
    pub inputs: Vec<Vec<i16>>,
    /// Class index per example (classifiers, character models).
    pub labels: Option<Vec<u32>>,
    /// Float target values per example (values models).
    pub targets: Option<Vec<Vec<f32>>>,
    /// Teacher logits (float, before temperature) or values per example.
    pub teacher: Option<Vec<Vec<f32>>>,
    /// Which group (query) each example belongs to: the held-out split
    /// keeps a group's examples together.
    pub groups: Option<Vec<u32>>,
}

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Passes over the training split (at most: early stopping may end sooner).
    pub epochs: usize,
    /// Seed of the split, the shuffles and initializations.
    pub seed: u64,
    /// Learning rate, relative: a step moves a layer's weights by about this
    /// fraction of their typical size (see `docs/training.md`).
    pub lr: f32,
    /// Examples per gradient step.
    pub batch: usize,
    /// Weight of the distillation term when there are both a teacher and labels.
    pub alpha: f32,
    /// Distillation temperature τ.
    pub temperature: f32,
    /// Fraction of the examples (of the groups, when there are groups) held out.
    pub holdout: f64,
    /// Epochs without a better held-out metric before training stops (0: never stops early).
    pub patience: usize,
    /// Threads for the matrix products (results do not depend on it).
    pub threads: usize,
    /// Float logits per integer output step for the softmax; `None` fits it
    /// to the starting model (to the teacher's logits, else to the labels).
    pub logit_scale: Option<f32>,
    /// Keep the starting model's zero weights at zero (sparsity masks).
    pub keep_zeros: bool,
    /// Weight of the penalty on values beyond half of int16 or the accumulator.
    pub range_weight: f32,
    /// Weight of an L1 penalty on the hidden layers' outputs (per unit of
    /// output, per example): fewer active neurons, and the Uno's and Z80's
    /// kernels skip the inputs that are 0, so fewer cycles. 0: none.
    pub activity_weight: f32,
    /// Per layer, the float weights in integer units that the starting
    /// model's weights were rounded from (empty: start on the integers).
    pub unrounded: Vec<Vec<f32>>,
}

impl Default for TrainOptions {
    fn default() -> TrainOptions {
        TrainOptions {
            epochs: 20,
            seed: 1,
            lr: 0.01,
            batch: 64,
            alpha: 0.5,
            temperature: 2.0,
            holdout: 0.1,
            patience: 5,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            logit_scale: None,
            keep_zeros: false,
            range_weight: 1e-3,
            activity_weight: 0.0,
            unrounded: Vec::new(),
        }
    }
}

/// What one epoch reports (the progress bar, `--plot`, early stopping).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 0 for the starting model, then 1, 2, ….
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Mean loss on the held-out split.
    pub held_out_loss: f64,
    /// The held-out metric, larger is better: accuracy (0..1), −MAE for
    /// values, or what the caller's metric gives.
    pub held_out_metric: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

/// Why training cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    /// The model is not a chain of dense layers training knows.
    #[error("cannot train this model: {0}")]
    Unsupported(String),
    /// The examples do not fit the model or each other.
    #[error("bad training data: {0}")]
    Data(String),
}

/// Check `data` against a model of `inputs` inputs and `outputs` outputs.
fn check(data: &Samples, inputs: usize, outputs: usize, values: bool) -> Result<(), TrainError> {
    let bad = |m: String| Err(TrainError::Data(m));
    let n = data.inputs.len();
    if n == 0 {
        return bad("no examples".into());
    }
    if let Some(i) = data.inputs.iter().position(|x| x.len() != inputs) {
        return bad(format!(
            "example {i} has {} inputs, the model takes {inputs}",
            data.inputs[i].len()
        ));
    }
    let lens = [
        ("labels", data.labels.as_ref().map(Vec::len)),
        ("targets", data.targets.as_ref().map(Vec::len)),
        ("teacher outputs", data.teacher.as_ref().map(Vec::len)),
        ("groups", data.groups.as_ref().map(Vec::len)),
    ];
    for (what, len) in lens {
        if let Some(l) = len.filter(|&l| l != n) {
            return bad(format!("{n} examples but {l} {what}"));
        }
    }
    if let Some(y) = data
        .labels
        .as_ref()
        .and_then(|l| l.iter().find(|&&y| y as usize >= outputs))
    {
        return bad(format!(
            "label {y} is not one of the model's {outputs} classes"
        ));
    }
    for (what, v) in [("teacher", &data.teacher), ("target", &data.targets)] {
        if let Some(v) = v {
            if let Some(i) = v.iter().position(|t| t.len() != outputs) {
                return bad(format!(
                    "{what} {i} has {} values, the model gives {outputs}",
                    v[i].len()
                ));
            }
            if v.iter().flatten().any(|x| !x.is_finite()) {
                return bad(format!("a {what} value is not finite"));
            }
        }
    }
    if values {
        if data.targets.is_none() && data.teacher.is_none() {
            return bad("a values model learns from target values or a teacher".into());
        }
    } else if data.labels.is_none() && data.teacher.is_none() {
        return bad("a classifier learns from labels or a teacher".into());
    }
    Ok(())
}

/// Split example indices into (training, held out): `fraction` of the
/// examples, or of the groups when there are groups, chosen by `rng`.
pub fn split(data: &Samples, fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let n = data.inputs.len();
    let keys: Vec<u64> = match &data.groups {
        Some(g) => g.iter().map(|&g| g as u64).collect(),
        None => (0..n as u64).collect(),
    };
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    rng.shuffle(&mut distinct);
    let held = ((fraction * distinct.len() as f64).round() as usize).min(distinct.len() - 1);
    let mut out: Vec<u64> = distinct[..held].to_vec();
    out.sort_unstable();
    let (mut train, mut hold) = (Vec::new(), Vec::new());
    for (i, k) in keys.iter().enumerate() {
        if out.binary_search(k).is_ok() {
            hold.push(i);
        } else {
            train.push(i);
        }
    }
    (train, hold)
}

/// The inputs of `idx` as one `len(idx) × inputs` matrix.
fn batch_inputs(data: &Samples, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| data.inputs[i].iter().map(|&v| v as f32))
        .collect()
}

fn truth(data: &Samples, i: usize) -> Truth<'_> {
    Truth {
        label: data.labels.as_ref().map(|l| l[i]),
        target: data.targets.as_ref().map(|t| t[i].as_slice()),
        teacher: data.teacher.as_ref().map(|t| t[i].as_slice()),
    }
}

/// Examples evaluated at once outside training.
const EVAL_BATCH: usize = 256;

/// Loss and metric of `net` on `idx` (exact forward pass).
fn score(net: &Net, data: &Samples, idx: &[usize], obj: &Objective, threads: usize) -> (f64, f64) {
    if idx.is_empty() {
        return (0.0, 0.0);
    }
    let outs = net.outputs();
    let (mut loss, mut metric) = (0.0, 0.0);
    let mut scratch = vec![0f32; outs];
    for chunk in idx.chunks(EVAL_BATCH) {
        let t = net.forward(batch_inputs(data, chunk), chunk.len(), threads);
        for (z, &i) in t.output().chunks(outs).zip(chunk) {
            let tr = truth(data, i);
            loss += obj.example(z, tr, 1.0, &mut scratch);
            metric += match *obj {
                Objective::Classes { .. } => {
                    let want = tr
                        .label
                        .map(|y| y as usize)
                        .or_else(|| tr.teacher.map(loss::argmax))
                        .expect("checked: labels or a teacher");
                    (loss::argmax(z) == want) as u8 as f64
                }
                Objective::Values {
                    scale, zero_point, ..
                } => {
                    let t = tr
                        .target
                        .or(tr.teacher)
                        .expect("checked: targets or a teacher");
                    let e: f64 = z
                        .iter()
                        .zip(t)
                        .map(|(&q, &v)| {
                            (scale as f64 * (q as f64 - zero_point as f64) - v as f64).abs()
                        })
                        .sum();
                    -e / outs as f64
                }
            };
        }
    }
    let n = idx.len() as f64;
    (loss / n, metric / n)
}

/// The float logits per output step that best fits the starting model:
/// least squares to the teacher's centred logits, else the smallest
/// cross-entropy with the labels over a grid of scales.
fn fit_logit_scale(net: &Net, data: &Samples, idx: &[usize], threads: usize) -> f32 {
    let outs = net.outputs();
    let idx = &idx[..idx.len().min(4096)];
    let mut z = Vec::new();
    for chunk in idx.chunks(EVAL_BATCH) {
        z.extend_from_slice(
            net.forward(batch_inputs(data, chunk), chunk.len(), threads)
                .output(),
        );
    }
    let centred = |v: &[f32]| -> Vec<f64> {
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        v.iter().map(|&x| x as f64 - m).collect()
    };
    if let Some(t) = &data.teacher {
        let (mut zt, mut zz) = (0.0, 0.0);
        for (zs, &i) in z.chunks(outs).zip(idx) {
            let (a, b) = (centred(zs), centred(&t[i]));
            zt += a.iter().zip(&b).map(|(x, y)| x * y).sum::<f64>();
            zz += a.iter().map(|x| x * x).sum::<f64>();
        }
        if zz > 0.0 && zt > 0.0 {
            return (zt / zz) as f32;
        }
    }
    // Cross-entropy with the labels, on a geometric grid of scales.
    let Some(labels) = &data.labels else {
        return 1.0;
    };
    let mut best = (f64::INFINITY, 1.0f32);
    for k in -60..=20 {
        let s = 2f32.powf(k as f32 / 4.0);
        let obj = Objective::Classes {
            scale: s,
            alpha: 0.0,
            temperature: 1.0,
        };
        let mut scratch = vec![0f32; outs];
        let l: f64 = z
            .chunks(outs)
            .zip(idx)
            .map(|(zs, &i)| {
                let tr = Truth {
                    label: Some(labels[i]),
                    target: None,
                    teacher: None,
                };
                obj.example(zs, tr, 1.0, &mut scratch)
            })
            .sum();
        if l < best.0 {
            best = (l, s);
        }
    }
    best.1
}

/// How the outputs of `model` are scored under `opts`.
fn objective(
    model: &Model,
    net: &Net,
    data: &Samples,
    idx: &[usize],
    opts: &TrainOptions,
) -> Objective {
    match &model.decode {
        Decode::Values { quant, .. } => Objective::Values {
            scale: quant.scale as f32,
            zero_point: quant.zero_point as f32,
            alpha: opts.alpha,
        },
        _ => Objective::Classes {
            scale: opts
                .logit_scale
                .unwrap_or_else(|| fit_logit_scale(net, data, idx, opts.threads)),
            alpha: opts.alpha,
            temperature: opts.temperature,
        },
    }
}

/// Train `start` (an integer model) on `data`; returns the model that did
/// best on the held-out split (the start itself if no epoch beat it) and
/// the per-epoch history, starting with epoch 0, the start. `progress` is
/// called after every epoch; `metric`, when given, replaces the held-out
/// metric (the chat side passes its exact-reply rate).
pub fn train(
    start: &Model,
    data: &Samples,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(&EpochReport),
    metric: Option<&dyn Fn(&Model) -> f64>,
) -> Result<(Model, Vec<EpochReport>), TrainError> {
    let clock = std::time::Instant::now();
    let mut net = Net::from_model(start, opts.keep_zeros)?;
    net.start_from_unrounded(&opts.unrounded);
    if net.inputs() != start.input_len() {
        return Err(TrainError::Unsupported(format!(
            "the first layer takes {} inputs, the encoders give {}",
            net.inputs(),
            start.input_len()
        )));
    }
    let values = matches!(start.decode, Decode::Values { .. });
    check(data, net.inputs(), net.outputs(), values)?;
    if opts.lr.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !opts.lr.is_finite() {
        return Err(TrainError::Data(format!(
            "learning rate {} is not positive",
            opts.lr
        )));
    }
    if !(0.0..=1.0).contains(&opts.alpha)
        || opts.temperature.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return Err(TrainError::Data(
            "alpha must be in [0, 1] and the temperature positive".into(),
        ));
    }
    let mut rng = Rng::new(opts.seed);
    let (mut train_idx, held) = split(data, opts.holdout, &mut rng);
    // Without a held-out split the training examples are the judge.
    let judge = if held.is_empty() {
        train_idx.clone()
    } else {
        held
    };
    let obj = objective(start, &net, data, &train_idx, opts);
    let threads = opts.threads.max(1);
    let batch = opts.batch.max(1);
    let mut adam = Adam::new(&net, data, &train_idx, opts.lr, threads);

    let evaluate = |net: &Net| -> (f64, f64) {
        let (l, m) = score(net, data, &judge, &obj, threads);
        match metric {
            Some(f) => (l, f(&net.to_model(start))),
            None => (l, m),
        }
    };
    let (l0, m0) = evaluate(&net);
    let (train0, _) = score(&net, data, &train_idx, &obj, threads);
    let mut history = vec![EpochReport {
        epoch: 0,
        loss: train0,
        held_out_loss: l0,
        held_out_metric: m0,
        seconds: clock.elapsed().as_secs_f64(),
    }];
    progress(&history[0]);
    let mut best_net = net.clone();
    let mut best_at = 0;
    let mut since_best = 0;
    let outs = net.outputs();
    for epoch in 1..=opts.epochs {
        // Cosine decay over the epochs asked for: large steps first, fine ones last.
        adam.decay =
            0.5 * (1.0 + (std::f64::consts::PI * (epoch - 1) as f64 / opts.epochs as f64).cos());
        rng.shuffle(&mut train_idx);
        let mut total = 0.0;
        for chunk in train_idx.chunks(batch) {
            let b = chunk.len();
            let t = net.forward(batch_inputs(data, chunk), b, threads);
            let mut grad = vec![0f32; b * outs];
            let w = 1.0 / b as f32;
            for ((z, g), &i) in t
                .output()
                .chunks(outs)
                .zip(grad.chunks_mut(outs))
                .zip(chunk)
            {
                total += obj.example(z, truth(data, i), w, g);
            }
            let (grads, pen) = net.backward_penalized(
                &t,
                grad,
                b,
                (opts.range_weight, opts.activity_weight),
                threads,
                true,
            );
            total += pen * b as f64;
            adam.step(&mut net, &grads);
        }
        let (hl, hm) = evaluate(&net);
        let report = EpochReport {
            epoch,
            loss: total / train_idx.len().max(1) as f64,
            held_out_loss: hl,
            held_out_metric: hm,
            seconds: clock.elapsed().as_secs_f64(),
        };
        history.push(report);
        progress(&report);
        if better(&report, &history[best_at]) {
            best_at = history.len() - 1;
            best_net = net.clone();
            since_best = 0;
        } else {
            since_best += 1;
            if opts.patience > 0 && since_best >= opts.patience {
                break;
            }
        }
    }
    Ok((best_net.to_model(start), history))
}

/// Whether epoch `a` beats epoch `b`: a better held-out metric, or the same
/// metric at a lower held-out loss.
fn better(a: &EpochReport, b: &EpochReport) -> bool {
    a.held_out_metric > b.held_out_metric
        || (a.held_out_metric == b.held_out_metric && a.held_out_loss < b.held_out_loss)
}

/// The epoch `train` keeps: the first of the best by [`better`].
pub fn best(history: &[EpochReport]) -> EpochReport {
    history
        .iter()
        .skip(1)
        .fold(history[0], |b, r| if better(r, &b) { *r } else { b })
}

/// Loss and held-out-style metric of `model` on all of `data`, with the
/// exact forward pass (what training reports; a cross-check of `train`).
pub fn evaluate(
    model: &Model,
    data: &Samples,
    opts: &TrainOptions,
) -> Result<(f64, f64), TrainError> {
    let net = Net::from_model(model, false)?;
    let values = matches!(model.decode, Decode::Values { .. });
    check(data, net.inputs(), net.outputs(), values)?;
    let idx: Vec<usize> = (0..data.inputs.len()).collect();
    let obj = objective(model, &net, data, &idx, opts);
    Ok(score(&net, data, &idx, &obj, opts.threads.max(1)))
}

#[cfg(test)]
mod tests;

/// `spec_model` (any dense chain: its architecture, weight kinds, shifts,
/// accumulators and activations) with fresh random weights for training
/// from scratch: each layer's weights uniform with the spread that keeps
/// its outputs about as large as its inputs through its shift (He's rule in
/// integer units, `2^shift·√(gain/cols)`), clipped to the kind, biases 0.
pub fn fresh(spec_model: &Model, seed: u64) -> Result<Model, TrainError> {
    let mut net = Net::from_model(spec_model, false)?;
    let mut rng = Rng::new(seed);
    for l in &mut net.layers {
        let gain = if l.activation.is_some() { 2.0 } else { 1.0 };
        let sigma = (1u64 << l.shift) as f64 * (gain / l.cols.max(1) as f64).sqrt();
        let half = 3f64.sqrt() * sigma;
        for w in &mut l.w {
            *w = ((rng.unit() * 2.0 - 1.0) * half) as f32;
        }
        for b in &mut l.b {
            *b = 0.0;
        }
    }
    Ok(net.to_model(spec_model))
}
