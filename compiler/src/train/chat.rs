//! Compressing integer-only character models (a z80ai export has no float
//! reference): structured pruning and re-quantization of the integer layers
//! themselves, and the original integer model as the teacher for the
//! fine-tuning that follows.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use zlmc_ir::{interp, DenseWeights, Elem, Model, Op, WeightKind, Weights};

use crate::diag::{Diagnostic, Result};
use crate::evaluate::text::{read_lines, Line};
use crate::frontend::lower::lower_with_accs;
use crate::frontend::quantize::LayerData;
use crate::frontend::spec::activation_yaml;
use crate::import::z80ai::yaml_quote;
use crate::input::io_err;
use crate::output::OutFile;
use crate::quant::npz_write::{npz_bytes, Array};
use crate::quant::{guard_overwrite, WriteArgs};
use crate::train::report::{plot, JudgedOn, MetricKind, Progress};
use crate::train::run::RunArgs;
use crate::train::{text, train, EpochReport, Samples, TrainOptions};

/// One dense layer of an integer model, with its accumulator.
pub type Layer = (LayerData, Elem);

/// The dense layers of a model `input → [matmul → bias → shift → act?]* →
/// argmax` (the lowered form, or with epilogues fused), in order.
pub fn layers_of(model: &Model) -> Result<Vec<Layer>> {
    let g = &model.graph;
    let order = g
        .topo_order()
        .ok_or_else(|| Diagnostic::new("the model's graph has a cycle"))?;
    let not_chain = || Diagnostic::new("only a chain of dense layers can be compressed or trained");
    let mut layers: Vec<Layer> = Vec::new();
    for n in order {
        let node = g.node(n);
        let last = layers.last_mut();
        match (&node.op, last) {
            (Op::Input { .. }, _) | (Op::Argmax, _) => {}
            (Op::MatMul { weights, acc }, _) => {
                let weights = match weights {
                    Weights::Dense(d) => d.clone(),
                    Weights::Sparse(s) => {
                        let mut data = vec![0i8; s.rows.len() * s.cols];
                        for (r, row) in s.rows.iter().enumerate() {
                            for &(c, w) in row {
                                data[r * s.cols + c as usize] = w;
                            }
                        }
                        DenseWeights {
                            kind: s.kind,
                            rows: s.rows.len(),
                            cols: s.cols,
                            data,
                        }
                    }
                };
                let units = weights.rows;
                layers.push((
                    LayerData {
                        weights,
                        bias: vec![0; units],
                        shift: 0,
                        activation: None,
                    },
                    *acc,
                ));
            }
            (Op::Bias { values }, Some(l)) => l.0.bias = values.clone(),
            (Op::Shift { amount }, Some(l)) => l.0.shift = *amount,
            (Op::Activate(a), Some(l)) => l.0.activation = Some(a.clone()),
            (
                Op::Epilogue {
                    bias,
                    shift,
                    activation,
                },
                Some(l),
            ) => {
                l.0.bias = bias.clone();
                l.0.shift = *shift;
                l.0.activation = activation.clone();
            }
            _ => return Err(not_chain()),
        }
    }
    if layers.is_empty() {
        return Err(not_chain());
    }
    Ok(layers)
}

/// `model` with its layers replaced by `layers` (same encoders and decoding).
pub fn with_layers(model: &Model, layers: Vec<Layer>) -> Model {
    lower_with_accs(
        &model.name,
        model.encoders.clone(),
        model.decode.clone(),
        layers,
    )
}

/// One layer's outputs on `x`, with the interpreter's arithmetic.
pub fn layer_forward(l: &Layer, x: &[i64]) -> Vec<i64> {
    let (d, acc) = l;
    (0..d.weights.rows)
        .map(|r| {
            let s: i64 = d
                .weights
                .row(r)
                .iter()
                .zip(x)
                .map(|(&w, &v)| w as i64 * v)
                .sum();
            interp::epilogue(
                acc.wrap(acc.wrap(s) + d.bias[r]),
                d.shift,
                d.activation.as_ref(),
            )
        })
        .collect()
}

/// Every layer's outputs on one input vector.
pub fn forward_all(layers: &[Layer], input: &[i16]) -> Vec<Vec<i64>> {
    let mut x: Vec<i64> = input.iter().map(|&v| v as i64).collect();
    let mut outs = Vec::with_capacity(layers.len());
    for l in layers {
        x = layer_forward(l, &x);
        outs.push(x.clone());
    }
    outs
}

/// The teacher's logits (the last layer's int16 outputs, as floats) for
/// every input: the soft targets of distillation from an integer model.
pub fn teacher_logits(model: &Model, inputs: &[Vec<i16>]) -> Vec<Vec<f32>> {
    inputs
        .iter()
        .map(|x| {
            interp::step(&model.graph, x)
                .logits
                .iter()
                .map(|&v| v as f32)
                .collect()
        })
        .collect()
}

/// Drop `fraction` of every hidden layer's neurons: those with the smallest
/// L1 norm of incoming integer weights. What a dropped neuron gave the next
/// layer on average — its mean output over `inputs` times its outgoing
/// weights, rounded — is added to the next layer's bias (in accumulator
/// units, saturated to the accumulator). Returns the pruned model and how
/// many neurons went.
pub fn prune_neurons(model: &Model, fraction: f64, inputs: &[Vec<i16>]) -> Result<(Model, usize)> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(Diagnostic::new(format!(
            "fraction {fraction} must be in [0, 1)"
        )));
    }
    let mut layers = layers_of(model)?;
    let means = mean_outputs(&layers, inputs);
    let mut dropped = 0;
    for l in 0..layers.len() - 1 {
        let units = layers[l].0.weights.rows;
        let n = ((fraction * units as f64).floor() as usize).min(units - 1);
        if n == 0 {
            continue;
        }
        let l1 =
            |w: &DenseWeights, j: usize| w.row(j).iter().map(|&v| (v as i64).abs()).sum::<i64>();
        let mut order: Vec<usize> = (0..units).collect();
        order.sort_by_key(|&j| (l1(&layers[l].0.weights, j), j));
        let mut drop = order[..n].to_vec();
        drop.sort_unstable();
        let keep: Vec<usize> = (0..units)
            .filter(|j| drop.binary_search(j).is_err())
            .collect();
        // Fold the dropped neurons' mean contribution into the next bias.
        let (next, acc) = &mut layers[l + 1];
        let lim = 1i64 << (acc.bits() - 1);
        for k in 0..next.weights.rows {
            let add: f64 = drop
                .iter()
                .map(|&j| next.weights.get(k, j) as f64 * means[l][j])
                .sum();
            next.bias[k] = (next.bias[k] + add.round() as i64).clamp(-lim, lim - 1);
        }
        next.weights = keep_cols(&next.weights, &keep);
        let cur = &mut layers[l].0;
        cur.weights = keep_rows(&cur.weights, &keep);
        cur.bias = keep.iter().map(|&j| cur.bias[j]).collect();
        dropped += n;
    }
    Ok((with_layers(model, layers), dropped))
}

/// Each layer's mean output over `inputs`.
fn mean_outputs(layers: &[Layer], inputs: &[Vec<i16>]) -> Vec<Vec<f64>> {
    let mut sums: Vec<Vec<f64>> = layers.iter().map(|l| vec![0.0; l.0.weights.rows]).collect();
    for x in inputs {
        for (s, o) in sums.iter_mut().zip(forward_all(layers, x)) {
            for (a, v) in s.iter_mut().zip(o) {
                *a += v as f64;
            }
        }
    }
    let n = inputs.len().max(1) as f64;
    sums.into_iter()
        .map(|v| v.into_iter().map(|s| s / n).collect())
        .collect()
}

fn keep_rows(w: &DenseWeights, keep: &[usize]) -> DenseWeights {
    DenseWeights {
        kind: w.kind,
        rows: keep.len(),
        cols: w.cols,
        data: keep.iter().flat_map(|&r| w.row(r).to_vec()).collect(),
    }
}

fn keep_cols(w: &DenseWeights, keep: &[usize]) -> DenseWeights {
    DenseWeights {
        kind: w.kind,
        rows: w.rows,
        cols: keep.len(),
        data: (0..w.rows)
            .flat_map(|r| keep.iter().map(move |&c| w.get(r, c)))
            .collect(),
    }
}

/// Re-quantize every layer's integer weights to `kind`: each weight is
/// rounded into the kind's range (`int2`'s −2 becomes ternary's −1); for
/// `binary`, which has no 0, a zero weight takes +1 and −1 in turn along
/// its row, so that together they add about nothing. Biases, shifts and
/// accumulators stay; fine-tuning is what recovers the lost precision.
pub fn requantize(model: &Model, kind: WeightKind) -> Result<Model> {
    let mut layers = layers_of(model)?;
    let (lo, hi) = kind.range();
    for (d, _) in &mut layers {
        let cols = d.weights.cols;
        d.weights.data = d
            .weights
            .data
            .iter()
            .enumerate()
            .map(|(i, &w)| match (kind, w) {
                (WeightKind::Binary, 0) => {
                    if (i % cols) % 2 == 0 {
                        1
                    } else {
                        -1
                    }
                }
                _ => w.clamp(lo, hi),
            })
            .collect();
        d.weights.kind = kind;
    }
    Ok(with_layers(model, layers))
}

/// The spec and `.npz` of a character model's integer layers, as `import
/// z80ai` would describe them: `model.yaml` naming `model.npz`, which holds
/// `fcK_weight` (int8 `[units, inputs]`) and `fcK_bias` (int32).
pub fn model_files(model: &Model, header: &[String]) -> Result<Vec<OutFile>> {
    let layers = layers_of(model)?;
    let Some((charset, eos, max_length)) = model.decode.generation() else {
        return Err(Diagnostic::new(
            "a character model (output: generate) was expected",
        ));
    };
    let kind = layers[0].0.weights.kind;
    let acc = layers[0].1;
    let mut y = String::new();
    for h in header {
        let _ = writeln!(y, "# {h}");
    }
    let _ = writeln!(y, "zlmc: 1");
    let _ = writeln!(y, "name: {}", model.name);
    let _ = writeln!(y, "weights: model.npz");
    let _ = writeln!(y, "input:");
    for e in &model.encoders {
        match *e {
            zlmc_ir::Encoder::QueryTrigram { buckets, value } => {
                let _ = writeln!(
                    y,
                    "  - query_trigram: {{buckets: {buckets}, value: {value}}}"
                );
            }
            zlmc_ir::Encoder::ContextNgram {
                buckets,
                length,
                value,
            } => {
                let _ = writeln!(
                    y,
                    "  - context_ngram: {{buckets: {buckets}, length: {length}, value: {value}}}"
                );
            }
            zlmc_ir::Encoder::Raw { .. } => {
                return Err(Diagnostic::new("a text model was expected (raw input)"))
            }
        }
    }
    let _ = writeln!(y, "numerics:");
    let _ = writeln!(y, "  weights: {}", kind.name());
    let _ = writeln!(y, "  accumulator: {}", acc.bits());
    let _ = writeln!(y, "layers:");
    let mut arrays = Vec::new();
    let names: Vec<(String, String)> = (1..=layers.len())
        .map(|i| (format!("fc{i}_weight"), format!("fc{i}_bias")))
        .collect();
    for (i, (d, a)) in layers.iter().enumerate() {
        let act = d
            .activation
            .as_ref()
            .map_or("none".to_string(), activation_yaml);
        let accum = if *a != acc {
            format!(", accumulator: {}", a.bits())
        } else {
            String::new()
        };
        let _ = writeln!(
            y,
            "  - {{name: fc{}, units: {}, shift: {}, activation: {act}{accum}}}",
            i + 1,
            d.weights.rows,
            d.shift
        );
        arrays.push(Array::I8(
            &names[i].0,
            vec![d.weights.rows, d.weights.cols],
            d.weights.data.clone(),
        ));
        arrays.push(Array::I32(
            &names[i].1,
            vec![d.weights.rows],
            d.bias.iter().map(|&b| b as i32).collect(),
        ));
    }
    let eos_s = if eos + 1 == charset.len() {
        "last".to_string()
    } else {
        eos.to_string()
    };
    let _ = writeln!(y, "output:");
    let _ = writeln!(y, "  generate:");
    let _ = writeln!(y, "    charset: {}", yaml_quote(charset));
    let _ = writeln!(y, "    eos: {eos_s}");
    let _ = writeln!(y, "    max_length: {max_length}");
    let npz =
        npz_bytes(&arrays).map_err(|e| Diagnostic::new(format!("cannot build model.npz: {e}")))?;
    Ok(vec![
        ("model.yaml".to_string(), y.into_bytes()),
        ("model.npz".to_string(), npz),
    ])
}

/// The engine's samples of `lines` for `model`: teacher-forced steps, their
/// labels and query groups, and, when there is a teacher, its logits as
/// float logits (its int16 outputs times [`label_scale`] of them).
/// Also returns that scale.
pub fn samples(
    model: &Model,
    lines: &[Line],
    teacher: Option<&Model>,
) -> Result<(Samples, Option<f32>)> {
    let t = text::samples_from_lines(model, lines)?;
    let mut scale = None;
    let teacher = teacher.map(|m| {
        let z = teacher_logits(m, &t.inputs);
        let s = label_scale(&z, &t.labels);
        scale = Some(s);
        z.into_iter()
            .map(|v| v.into_iter().map(|x| x * s).collect())
            .collect()
    });
    let samples = Samples {
        inputs: t.inputs,
        labels: Some(t.labels),
        targets: None,
        teacher,
        groups: Some(t.groups),
    };
    Ok((samples, scale))
}

/// The float logits per integer output step that make `logits` the best
/// predictor of `labels` (least cross-entropy over scales 2^(k/4)): how an
/// integer model's outputs read as a probability distribution. An integer
/// teacher's outputs are int16 steps, far too peaked for distillation as they
/// are; both teacher and student are read at this scale.
pub fn label_scale(logits: &[Vec<f32>], labels: &[u32]) -> f32 {
    let ce = |s: f64| -> f64 {
        logits
            .iter()
            .zip(labels)
            .take(8192)
            .map(|(z, &y)| {
                let m = z
                    .iter()
                    .map(|&x| x as f64 * s)
                    .fold(f64::NEG_INFINITY, f64::max);
                let lse = z
                    .iter()
                    .map(|&x| (x as f64 * s - m).exp())
                    .sum::<f64>()
                    .ln()
                    + m;
                lse - z[y as usize] as f64 * s
            })
            .sum()
    };
    let mut best = (f64::INFINITY, 1.0);
    for k in -60..=20 {
        let s = 2f64.powf(k as f64 / 4.0);
        let l = ce(s);
        if l < best.0 {
            best = (l, s);
        }
    }
    best.1 as f32
}

/// How many of `lines` get their exact reply (ignoring ASCII case), as
/// `zlmc eval` counts them; the lines are shared among `threads` threads.
pub fn exact_replies(model: &Model, lines: &[Line], threads: usize) -> usize {
    let chunk = lines.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().filter(|l| is_exact(model, l)).count()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .sum()
    })
}

/// Whether generation gives `l`'s reply: the steps of `interp::reply`, ended
/// at the first character that differs (the reply can no longer be exact).
pub fn is_exact(model: &Model, l: &Line) -> bool {
    let Some((charset, eos, max_length)) = model.decode.generation() else {
        return false;
    };
    let mut ctx = vec![b' '; interp::context_length(model)];
    for i in 0..max_length {
        let class = interp::step(&model.graph, &interp::encode(model, &l.query, &ctx)).class;
        let Some(&want) = l.reply.get(i) else {
            return class == eos;
        };
        if class == eos || !charset[class].eq_ignore_ascii_case(&want) {
            return false;
        }
        if !ctx.is_empty() {
            ctx.remove(0);
            ctx.push(interp::lower(charset[class]));
        }
    }
    l.reply.len() == max_length
}

/// Fine-tune (or train) character model `start` on `lines`, teacher-forced,
/// with `teacher`'s logits as soft targets when given (weight `opts.alpha`).
/// Without a held-out split (`opts.holdout` 0, z80ai's way: the model is to
/// learn these replies) the metric that picks the best epoch is the exact-reply
/// rate on `lines`; with one, the engine's held-out accuracy.
pub fn fit(
    start: &Model,
    teacher: Option<&Model>,
    lines: &[Line],
    opts: &TrainOptions,
    progress: &mut dyn FnMut(&EpochReport),
) -> Result<(Model, Vec<EpochReport>)> {
    let (data, scale) = samples(start, lines, teacher)?;
    let mut opts = opts.clone();
    // The student's outputs are read as the teacher's are.
    opts.logit_scale = opts.logit_scale.or(scale);
    let opts = &opts;
    let threads = opts.threads.max(1);
    let rate = |m: &Model| exact_replies(m, lines, threads) as f64 / lines.len().max(1) as f64;
    let metric: Option<&dyn Fn(&Model) -> f64> = if opts.holdout == 0.0 {
        Some(&rate)
    } else {
        None
    };
    train(start, &data, opts, progress, metric).map_err(|e| Diagnostic::new(e.to_string()))
}

/// Float logits per integer output step when training from scratch: z80ai's
/// fixed-point activation scale (32 steps to 1.0). A scale fitted to a random
/// start would be tiny and starve the gradients.
pub const SCRATCH_LOGIT_SCALE: f32 = 1.0 / 32.0;

/// A model like `template` (encoders, decoding, numerics, activations) with
/// hidden layers of `hidden` units (all zero weights): a shape to train.
pub fn reshaped(template: &Model, hidden: &[usize]) -> Result<Model> {
    let layers = layers_of(template)?;
    let first = &layers[0];
    let last = &layers[layers.len() - 1];
    let mut out = Vec::new();
    let mut inputs = template.input_len();
    let sizes: Vec<usize> = hidden
        .iter()
        .copied()
        .chain([last.0.weights.rows])
        .collect();
    for (i, &units) in sizes.iter().enumerate() {
        let like = if i + 1 == sizes.len() { last } else { first };
        out.push((
            LayerData {
                weights: DenseWeights {
                    kind: like.0.weights.kind,
                    rows: units,
                    cols: inputs,
                    data: vec![0; units * inputs],
                },
                bias: vec![0; units],
                shift: like.0.shift,
                activation: like.0.activation.clone(),
            },
            like.1,
        ));
        inputs = units;
    }
    Ok(with_layers(template, out))
}

/// A starting point for training a character model of `model`'s shape from
/// scratch: every weight drawn from `seed`, symmetric about 0 (−1, 0, +1 for
/// the small kinds; ±a few for int4/int8), biases 0. QAT moves the latent
/// weights from there.
pub fn fresh(model: &Model, seed: u64) -> Result<Model> {
    let mut layers = layers_of(model)?;
    let mut r = seed ^ 0x5eed;
    for (d, _) in &mut layers {
        let (lo, hi) = d.weights.kind.range();
        let span = (hi.min(-lo)).min(1) as i64; // ±1 for every kind
        for w in &mut d.weights.data {
            r = text::splitmix(r);
            let v = (r % (2 * span as u64 + 1)) as i64 - span;
            *w = if d.weights.kind == WeightKind::Binary && v == 0 {
                if r & 256 == 0 {
                    1
                } else {
                    -1
                }
            } else {
                v as i8
            };
        }
        d.bias.iter_mut().for_each(|b| *b = 0);
    }
    Ok(with_layers(model, layers))
}

/// Fine-tuning defaults for an integer-only character model (see
/// `docs/compress.md`): the pruned structure and its zero weights kept, and a
/// light L1 penalty on hidden outputs so that fewer neurons fire and the
/// AVR and Z80 kernels, which skip zero inputs, take fewer cycles.
pub const FINETUNE_ACTIVITY: f32 = 4e-4;

/// Learning rate of fine-tuning an integer-only character model when
/// `--lr` is not given: a fifth of training's, the start is already good.
pub const FINETUNE_LR: f32 = 0.002;

/// The metric character models are trained and kept by.
const EXACT: MetricKind = MetricKind::Rate("exact replies");

/// Whether `path` holds a character model (z80ai-style text encoders): its
/// training and compression are this module's.
pub fn is_text_model(path: &Path) -> bool {
    crate::frontend::load_architecture(path).is_ok_and(|m| m.takes_text())
}

/// What `zlmc compress` does to an integer-only character model.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextCompress {
    /// Fraction of hidden neurons to drop.
    pub prune_neurons: Option<f64>,
    /// The weight kind to re-quantize to.
    pub kind: Option<WeightKind>,
}

/// `zlmc compress` of a character model with no float reference (z80ai's):
/// prune and re-quantize its integer layers, fine-tune them on the
/// `query|reply` text of `data` with the original model as the teacher when
/// `finetune` is given, write the spec and `.npz`, and report exact replies
/// and non-zero parameters before and after.
pub fn compress_text(
    model_path: &Path,
    data: &Path,
    args: TextCompress,
    finetune: Option<&RunArgs>,
    w: &WriteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let original = crate::driver::load(model_path)?;
    let lines = read_lines(data)?;
    let mut model = original.clone();
    if let Some(f) = args.prune_neurons {
        let inputs = text::samples_from_lines(&model, &lines)?.inputs;
        let (m, n) = prune_neurons(&model, f, &inputs)?;
        model = m;
        writeln!(out, "pruned {n} hidden neurons").map_err(io_err)?;
    }
    if let Some(k) = args.kind {
        model = requantize(&model, k)?;
    }
    if let Some(ft) = finetune {
        let mut ft = ft.clone();
        ft.opts.keep_zeros = args.prune_neurons.is_some();
        if args.prune_neurons.is_some() && ft.opts.activity_weight == 0.0 {
            ft.opts.activity_weight = FINETUNE_ACTIVITY;
        }
        model = fit_with_progress(&model, Some(&original), &lines, &ft, data, err)?;
    }
    let header = vec![format!(
        "Compressed by zlmc {} from {}.",
        crate::driver::VERSION,
        model_path.display()
    )];
    write_text_model(&model, &header, w, out)?;
    let threads = finetune.map_or(1, |f| f.opts.threads);
    let nonzero = |m: &Model| -> usize {
        layers_of(m).map_or(0, |l| {
            l.iter()
                .map(|(d, _)| d.weights.data.iter().filter(|&&v| v != 0).count())
                .sum()
        })
    };
    writeln!(
        out,
        "exact replies {} -> {} of {}; non-zero weights {} -> {}",
        exact_replies(&original, &lines, threads),
        exact_replies(&model, &lines, threads),
        lines.len(),
        nonzero(&original),
        nonzero(&model)
    )
    .map_err(io_err)
}

/// `zlmc train SPEC --data TEXT -o DIR` for a character model: the spec's
/// architecture, encoders and numerics from a fresh start, trained on the
/// `query|reply` text teacher-forced with QAT; writes `model.yaml` and
/// `model.npz` as `import z80ai` describes a z80ai export.
pub fn train_text(
    spec: &Path,
    data: &Path,
    args: &RunArgs,
    w: &WriteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let arch = crate::frontend::load_architecture(spec)?;
    if arch.decode.generation().is_none() {
        return Err(Diagnostic::in_file(
            spec,
            "a text model trained on query|reply text generates (output: generate)",
        ));
    }
    let lines = read_lines(data)?;
    let start = fresh(&arch, args.opts.seed)?;
    let mut args = args.clone();
    args.opts.logit_scale.get_or_insert(SCRATCH_LOGIT_SCALE);
    let model = fit_with_progress(&start, None, &lines, &args, data, err)?;
    let header = vec![format!(
        "Trained by zlmc {} from {} on {} (quantization-aware).",
        crate::driver::VERSION,
        spec.display(),
        data.display()
    )];
    write_text_model(&model, &header, w, out)?;
    let s = crate::evaluate::text::score(&model, &lines)?;
    writeln!(
        out,
        "exact replies: {} of {} lines; next-character accuracy {} of {}",
        s.exact, s.lines, s.next_correct, s.positions
    )
    .map_err(io_err)
}

/// [`fit`] with the command line's progress and plot.
fn fit_with_progress(
    start: &Model,
    teacher: Option<&Model>,
    lines: &[Line],
    args: &RunArgs,
    data: &Path,
    err: &mut dyn Write,
) -> Result<Model> {
    let judged = (EXACT, JudgedOn::of(args.opts.holdout));
    let mut progress = Progress::new(args.opts.epochs, args.quiet, judged, err);
    let result = fit(start, teacher, lines, &args.opts, &mut |r| {
        progress.epoch(r)
    });
    progress.finish();
    let (model, history) = result.map_err(|e| Diagnostic::in_file(data, e.to_string()))?;
    if !args.quiet {
        let best = crate::train::best(&history);
        let _ = writeln!(
            err,
            "trained {} epochs; kept epoch {} ({})",
            history.len() - 1,
            best.epoch,
            EXACT.show(best.held_out_metric, judged.1)
        );
    }
    if let Some(p) = &args.plot {
        crate::output::write_file(p, plot(&history, judged)?.as_bytes())?;
    }
    Ok(model)
}

/// Write a character model's spec and `.npz` into `w.dir`, all or nothing.
fn write_text_model(
    m: &Model,
    header: &[String],
    w: &WriteArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let files = model_files(m, header)?;
    guard_overwrite(w.dir, &files, w.force)?;
    crate::output::write_all(w.dir, &files)?;
    for (name, _) in &files {
        writeln!(out, "wrote {}", w.dir.join(name).display()).map_err(io_err)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use zlmc_ir::{Activation, Decode, Encoder};

    /// A small character model (8 + 8 buckets → 6 → 5 → 3, charset "ab\0"),
    /// its int2 weights drawn from `seed`.
    pub(crate) fn tiny_model(seed: u64) -> Model {
        let mut r = seed;
        let mut next = move || {
            r = crate::train::text::splitmix(r);
            r
        };
        let mut layer = |rows: usize, cols: usize, act: bool| {
            let data = (0..rows * cols).map(|_| (next() % 4) as i8 - 2).collect();
            let bias = (0..rows).map(|_| (next() % 64) as i64 - 32).collect();
            (
                LayerData {
                    weights: DenseWeights {
                        kind: WeightKind::Int2,
                        rows,
                        cols,
                        data,
                    },
                    bias,
                    shift: 2,
                    activation: act.then_some(Activation::Relu),
                },
                Elem::I16,
            )
        };
        let layers = vec![layer(6, 16, true), layer(5, 6, true), layer(3, 5, false)];
        lower_with_accs(
            "tiny",
            vec![
                Encoder::QueryTrigram {
                    buckets: 8,
                    value: 32,
                },
                Encoder::ContextNgram {
                    buckets: 8,
                    length: 4,
                    value: 32,
                },
            ],
            Decode::Generate {
                charset: b"ab\0".to_vec(),
                eos: 2,
                max_length: 5,
            },
            layers,
        )
    }

    fn inputs(m: &Model) -> Vec<Vec<i16>> {
        ["a", "hello", "x y", "bab", "q"]
            .iter()
            .flat_map(|q| {
                ["    ", "   a", "  ab"].map(|c| interp::encode(m, q.as_bytes(), c.as_bytes()))
            })
            .collect()
    }

    #[test]
    fn layers_round_trip_through_the_graph() {
        let m = tiny_model(1);
        let again = with_layers(&m, layers_of(&m).unwrap());
        assert_eq!(again, m);
        let layers = layers_of(&m).unwrap();
        for x in inputs(&m) {
            let ours = forward_all(&layers, &x).pop().unwrap();
            let theirs = interp::step(&m.graph, &x).logits;
            assert_eq!(ours, theirs.iter().map(|&v| v as i64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn pruning_drops_the_smallest_neurons_and_folds_their_mean() {
        let m = tiny_model(2);
        let xs = inputs(&m);
        let (p, n) = prune_neurons(&m, 0.5, &xs).unwrap();
        assert_eq!(n, 3 + 2);
        let before = layers_of(&m).unwrap();
        let after = layers_of(&p).unwrap();
        assert_eq!(after[0].0.weights.rows, 3);
        assert_eq!(after[1].0.weights.rows, 3);
        assert_eq!(after[1].0.weights.cols, 3);
        assert_eq!(after[2].0.weights.cols, 3);
        // The kept neurons of layer 1 are the three of largest L1 norm.
        let l1 =
            |d: &DenseWeights, r: usize| d.row(r).iter().map(|&w| (w as i64).abs()).sum::<i64>();
        let kept_min = (0..3).map(|r| l1(&after[0].0.weights, r)).min().unwrap();
        let mut all: Vec<i64> = (0..6).map(|r| l1(&before[0].0.weights, r)).collect();
        all.sort();
        assert!(kept_min >= all[2]);
        // The last layer's bias gained what layer 2's two dropped neurons
        // (smallest L1 norm, lower index first on ties) gave it on average.
        let means = mean_outputs(&before, &xs);
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by_key(|&j| (l1(&before[1].0.weights, j), j));
        for k in 0..3 {
            let add: f64 = order[..2]
                .iter()
                .map(|&j| before[2].0.weights.get(k, j) as f64 * means[1][j])
                .sum();
            assert_eq!(after[2].0.bias[k], before[2].0.bias[k] + add.round() as i64);
        }
        assert!(
            means[1].iter().any(|&v| v > 0.0),
            "a model whose means are all 0 tests nothing"
        );
        assert!(prune_neurons(&m, 1.0, &xs).is_err());
    }

    #[test]
    fn requantizing_keeps_every_weight_in_the_new_kind() {
        let m = tiny_model(4);
        for kind in [WeightKind::Binary, WeightKind::Ternary, WeightKind::Int4] {
            let q = requantize(&m, kind).unwrap();
            for (d, _) in layers_of(&q).unwrap() {
                assert_eq!(d.weights.kind, kind);
                assert!(d.weights.data.iter().all(|&w| kind.allows(w as i64)));
            }
        }
        // int4 holds every int2 weight: nothing changes but the kind.
        let q = layers_of(&requantize(&m, WeightKind::Int4).unwrap()).unwrap();
        assert_eq!(
            q[0].0.weights.data,
            layers_of(&m).unwrap()[0].0.weights.data
        );
    }

    /// The activity penalty's gradient (`Net::backward_penalized`) against
    /// central differences of the surrogate loss: outputs weighted by fixed
    /// coefficients, plus the L1 of the hidden layers' outputs.
    #[test]
    fn the_activity_penalty_has_the_gradient_of_its_loss() {
        use crate::train::net::Net;
        let m = tiny_model(9);
        let mut net = Net::from_model(&m, false).unwrap();
        let mut r = 5u64;
        let mut unit = move || {
            r = text::splitmix(r);
            (r >> 11) as f32 / (1u64 << 53) as f32
        };
        for l in &mut net.layers {
            for w in &mut l.w {
                *w += (unit() - 0.5) * 0.6;
            }
        }
        let xs = inputs(&m);
        let batch = xs.len();
        let x: Vec<f32> = xs.iter().flatten().map(|&v| v as f32).collect();
        let outs = net.outputs();
        let coef: Vec<f32> = (0..batch * outs).map(|_| unit() - 0.5).collect();
        let aw = 0.05f32;
        let loss = |n: &Net| -> f64 {
            let t = n.forward_surrogate(x.clone(), batch);
            let mut l: f64 = t
                .output()
                .iter()
                .zip(&coef)
                .map(|(&z, &c)| (z * c) as f64)
                .sum::<f64>()
                / batch as f64;
            for y in &t.acts[1..t.acts.len() - 1] {
                l += y.iter().map(|v| (aw * v.abs()) as f64).sum::<f64>() / batch as f64;
            }
            l
        };
        let t = net.forward_surrogate(x.clone(), batch);
        let delta: Vec<f32> = coef.iter().map(|c| c / batch as f32).collect();
        let (g, _) = net.backward_penalized(&t, delta, batch, (0.0, aw), 1, false);
        let (mut good, mut total) = (0, 0);
        for li in 0..net.layers.len() {
            for i in 0..net.layers[li].w.len() {
                let h = 1e-2f32;
                let mut p = net.clone();
                p.layers[li].w[i] += h;
                let up = loss(&p);
                p.layers[li].w[i] -= 2.0 * h;
                let fd = (up - loss(&p)) / (2.0 * h as f64);
                let an = g.w[li][i] as f64;
                total += 1;
                good += ((fd - an).abs() <= 2e-3 + 2e-2 * fd.abs().max(an.abs())) as usize;
            }
        }
        // A ReLU kink inside ±h spoils a few differences, never many.
        assert!(
            good * 100 >= total * 95,
            "{good} of {total} gradients agree"
        );
        // Without the penalty the gradients differ: the check sees it.
        let delta: Vec<f32> = coef.iter().map(|c| c / batch as f32).collect();
        let (g0, _) = net.backward_penalized(&t, delta, batch, (0.0, 0.0), 1, false);
        assert_ne!(g0.w[0], g.w[0]);
    }
}
