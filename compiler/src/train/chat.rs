//! Compressing integer-only character models (a z80ai export has no float
//! reference): structured pruning and re-quantization of the integer layers
//! themselves, and the original integer model as the teacher for the
//! fine-tuning that follows.

use std::fmt::Write as _;

use zlmc_ir::{interp, DenseWeights, Elem, Model, Op, WeightKind, Weights};

use crate::diag::{Diagnostic, Result};
use crate::frontend::lower::lower_with_accs;
use crate::frontend::quantize::LayerData;
use crate::frontend::spec::activation_yaml;
use crate::import::z80ai::yaml_quote;
use crate::output::OutFile;
use crate::quant::npz_write::{npz_bytes, Array};

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
}
