//! `zlmc train`: a spec's architecture trained from scratch on data, with
//! quantization-aware training for the spec's weight kind.

use std::io::Write;
use std::path::Path;

use zlmc_ir::{Activation, Decode, Encoder, InputQuant, Model, WeightKind};

use crate::diag::{Diagnostic, Result};
use crate::evaluate::values;
use crate::frontend::load_architecture;
use crate::quant::dataset::{self, Dataset};
use crate::quant::float_model::{FloatActivation, FloatDivisor, FloatLayer, FloatMlp, FloatOutput};
use crate::quant::ptq::{QLayer, Quantized};
use crate::quant::{float_spec, guard_overwrite, write, WriteArgs};
use crate::train::net::chain_of;
use crate::train::run::{float_samples, run, RunArgs};
use crate::train::{fresh, Samples};

/// Float logits per output step of a model trained from scratch: outputs
/// of a few hundred steps (inputs are planned in 0..255) make logits of ±10.
const FRESH_LOGIT_SCALE: f32 = 1.0 / 32.0;

/// `zlmc train SPEC --data DATA -o DIR`.
pub fn train(
    spec: &Path,
    data: &Path,
    args: &RunArgs,
    w: &WriteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let mut arch = load_architecture(spec)?;
    if arch.takes_text() {
        // Character models (query|reply text, z80ai's encoders) are trained
        // by `train::chat` (issue 20's character-model side).
        return crate::train::chat::train_text(spec, data, args, w, out, err);
    }
    let features = arch.input_len();
    let d = dataset::load(data, dataset::Split::Train { features })?;
    if d.x[0].len() != features {
        return Err(Diagnostic::in_file(
            data,
            format!(
                "samples have {} features, the spec takes {features}",
                d.x[0].len()
            ),
        ));
    }
    let input = match arch.input_quant() {
        Some(q) => q,
        None => input_plan(&d),
    };
    arch.encoders = vec![Encoder::Raw {
        len: features,
        quant: Some(input),
    }];
    choose_shifts(&mut arch);
    let start =
        fresh(&arch, args.opts.seed).map_err(|e| Diagnostic::in_file(spec, e.to_string()))?;
    let mut samples = float_samples(&start, &d, None);
    if let Decode::Values { count, .. } = start.decode {
        let v = values::load(data, features, count)?;
        samples = Samples {
            inputs: v
                .x
                .iter()
                .map(|x| crate::evaluate::quantize_features(&start, x))
                .collect(),
            targets: Some(
                v.y.iter()
                    .map(|t| t.iter().map(|&x| x as f32).collect())
                    .collect(),
            ),
            ..Samples::default()
        };
    } else if samples.labels.is_none() {
        return Err(Diagnostic::in_file(
            data,
            format!(
                "training from scratch needs labels, class indices below {}",
                start.classes()
            ),
        ));
    }
    let mut args = args.clone();
    args.opts.logit_scale.get_or_insert(FRESH_LOGIT_SCALE);
    let trained = run(&start, &samples, &args, data, err)?;
    write_trained(&trained, input, spec, w, out)
}

/// Inputs planned in 0..=255 over the data's range (the AVR and Z80
/// kernels' fast path): zero point at the data's minimum when it is negative.
fn input_plan(d: &Dataset) -> InputQuant {
    let lo =
        d.x.iter()
            .flatten()
            .copied()
            .fold(f32::INFINITY, f32::min)
            .min(0.0) as f64;
    let hi =
        d.x.iter()
            .flatten()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
            .max(0.0) as f64;
    let scale = ((hi - lo) / 255.0).max(f64::MIN_POSITIVE.sqrt());
    InputQuant {
        scale,
        zero_point: (-lo / scale).round() as i32,
        range: Some((lo, hi)),
    }
}

/// A layer whose spec gives no shift (0) gets the one that keeps its
/// outputs about as large as its inputs with weights of a good part of its
/// kind's range: `log2(typical |w| · √inputs)`.
fn choose_shifts(m: &mut Model) {
    for n in m.graph.node_ids() {
        let cols = match &m.graph.node(n).op {
            zlmc_ir::Op::MatMul { weights, .. } | zlmc_ir::Op::Conv { weights, .. } => {
                (weights.kind(), weights.cols())
            }
            _ => continue,
        };
        let Some(&user) = m.graph.users(n).first() else {
            continue;
        };
        let Some(&shift_node) = m.graph.users(user).first() else {
            continue;
        };
        if let zlmc_ir::Op::Shift { amount } = &mut m.graph.node_mut(shift_node).op {
            if *amount == 0 {
                let typical = match cols.0 {
                    WeightKind::Int8 => 40.0,
                    WeightKind::Int4 => 2.5,
                    WeightKind::Ternary | WeightKind::Int2 => 0.7,
                    WeightKind::Binary => 1.0,
                };
                *amount = (typical * (cols.1 as f64).sqrt())
                    .log2()
                    .round()
                    .clamp(0.0, 24.0) as u32;
            }
        }
    }
}

/// The float model an integer one computes, without rounding or wrapping:
/// each dense layer's or convolution's `(W·x + b) / 2^shift` in its output
/// steps, pools as they are (an average dividing by its window's area, which
/// the integer `mul / 2^shift` approximates), the first weighted layer
/// taking float features through the input quantization, a values model's
/// last layer giving values. `None` when an activation has no float form
/// (a table).
pub(crate) fn float_reference(m: &Model, input: InputQuant) -> Option<FloatMlp> {
    let layers = chain_of(m).ok()?;
    let n = layers.len();
    let first = layers.iter().position(|l| !l.kind.is_pool())?;
    let mut out = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let l = &layer.data;
        let down = 1.0 / (1u64 << l.shift) as f64;
        let (mul, zp) = if i == first {
            (1.0 / input.scale, input.zero_point as f64)
        } else {
            (1.0, 0.0)
        };
        // Integer padding reads 0, which in float is the input's −zp·scale:
        // no float convolution pads with that.
        let pads = layer
            .kind
            .map_input()
            .is_some_and(|(_, w)| w.pads != [0; 4]);
        if zp != 0.0 && pads {
            return None;
        }
        let (oscale, ozp) = match (&m.decode, i + 1 == n) {
            (Decode::Values { quant, .. }, true) => (quant.scale, quant.zero_point as f64),
            _ => (1.0, 0.0),
        };
        let w = &l.weights;
        let weight = (0..w.rows)
            .map(|r| {
                w.row(r)
                    .iter()
                    .map(|&v| (v as f64 * mul * down * oscale) as f32)
                    .collect()
            })
            .collect();
        let bias = (0..w.rows)
            .map(|r| {
                let fold: f64 = w.row(r).iter().map(|&v| v as f64 * zp).sum();
                (((l.bias[r] as f64 + fold) * down - ozp) * oscale) as f32
            })
            .collect();
        let activation = match &l.activation {
            None => FloatActivation::None,
            Some(Activation::Relu) => FloatActivation::Relu,
            Some(Activation::Clamp { lo, hi }) => FloatActivation::Clip {
                min: *lo as f32,
                max: *hi as f32,
            },
            Some(Activation::LeakyRelu { mul, shift }) => FloatActivation::LeakyRelu {
                alpha: *mul as f32 / (1u32 << shift) as f32,
            },
            Some(Activation::Lut { .. }) => return None,
        };
        out.push(FloatLayer {
            weight,
            bias,
            activation,
            kind: layer
                .kind
                .with_divisor(|_, _| FloatDivisor { count_pad: true }),
        });
    }
    Some(FloatMlp {
        name: m.name.clone(),
        inputs: m.input_len(),
        layers: out,
        labels: match &m.decode {
            Decode::Classify { labels } => Some(labels.clone()),
            _ => None,
        },
        output: match m.decode {
            Decode::Values { .. } => FloatOutput::Values,
            _ => FloatOutput::Classes,
        },
    })
}

/// Write the trained model as `import` does: `model.yaml` + `weights.npz`,
/// and the float reference beside them when there is one.
fn write_trained(
    m: &Model,
    input: InputQuant,
    spec: &Path,
    w: &WriteArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let layers = chain_of(m).map_err(|e| Diagnostic::new(e.to_string()))?;
    let (output, output_scale, output_zero_point, labels) = match &m.decode {
        Decode::Values { quant, .. } => {
            (FloatOutput::Values, quant.scale, quant.zero_point, vec![])
        }
        Decode::Classify { labels } => (FloatOutput::Classes, 1.0, 0, labels.clone()),
        Decode::Generate { .. } => return Err(Diagnostic::new("a text model is not written here")),
    };
    let q = Quantized {
        name: m.name.clone(),
        input,
        output_scale,
        output_zero_point,
        output,
        narrow: layers.iter().map(|_| false).collect(),
        layers: layers
            .into_iter()
            .map(|l| QLayer {
                kind: l.kind,
                data: l.data,
                acc: l.acc,
                scale: 1.0,
                zero_point: 0,
                channel_scales: None,
                unrounded: Vec::new(),
            })
            .collect(),
        labels,
        report: vec![],
    };
    let reference = float_reference(m, input);
    let header = vec![format!(
        "Trained by zlmc {} from {} (quantization-aware).",
        crate::driver::VERSION,
        spec.display()
    )];
    let mut files = write::quantized_files(&q, &header, reference.is_some())?;
    if let Some(r) = &reference {
        files.extend(float_spec::float_spec_files(
            r,
            &spec.display().to_string(),
        )?);
    }
    guard_overwrite(w.dir, &files, w.force)?;
    crate::output::write_all(w.dir, &files)?;
    for (name, _) in &files {
        writeln!(out, "wrote {}", w.dir.join(name).display()).map_err(crate::input::io_err)?;
    }
    Ok(())
}
