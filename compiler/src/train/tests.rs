//! Finite-difference checks of the backward pass on its float surrogate,
//! for every activation kind and every loss.

use zlmc_ir::{Activation, Decode, DenseWeights, Elem, Encoder, Model, OutputQuant, WeightKind};

use super::loss::{Objective, Truth};
use super::net::{Net, Trace};
use super::rng::Rng;
use crate::frontend::lower::lower_with_accs;
use crate::frontend::quantize::LayerData;

/// A three-layer model `inputs → 6 → 5 → classes` with `act` between layers.
fn model(act: Option<Activation>, kind: WeightKind, classes: usize, values: bool) -> Model {
    let mut rng = Rng::new(7);
    let dims = [4usize, 6, 5, classes];
    let layers = dims
        .windows(2)
        .enumerate()
        .map(|(i, d)| {
            let (lo, hi) = kind.range();
            let data = (0..d[0] * d[1])
                .map(|_| {
                    let v = lo as i64 + rng.below((hi - lo) as usize + 1) as i64;
                    if kind == WeightKind::Binary && v == 0 {
                        1
                    } else {
                        v as i8
                    }
                })
                .collect();
            (
                LayerData {
                    weights: DenseWeights {
                        kind,
                        rows: d[1],
                        cols: d[0],
                        data,
                    },
                    bias: (0..d[1]).map(|j| (j as i64 * 37) % 50 - 25).collect(),
                    shift: [2, 1, 0][i],
                    activation: if i < 2 { act.clone() } else { None },
                },
                if i == 0 { Elem::I16 } else { Elem::I32 },
            )
        })
        .collect();
    let decode = if values {
        Decode::Values {
            count: classes,
            quant: OutputQuant {
                scale: 0.25,
                zero_point: 3,
            },
        }
    } else {
        Decode::Classify {
            labels: (0..classes).map(|i| i.to_string()).collect(),
        }
    };
    lower_with_accs(
        "g",
        vec![Encoder::Raw {
            len: 4,
            quant: None,
        }],
        decode,
        layers,
    )
}

fn activations() -> Vec<Option<Activation>> {
    vec![
        None,
        Some(Activation::Relu),
        Some(Activation::Clamp { lo: -20, hi: 30 }),
        Some(Activation::LeakyRelu { mul: 3, shift: 3 }),
        Some(Activation::Lut {
            lo: -40,
            table: (0..80)
                .map(|i| ((i as f64 - 40.0) / 12.0).tanh().mul_add(50.0, 0.0) as i16)
                .collect(),
        }),
    ]
}

/// Loss of the surrogate pass: the objective's batch mean plus the range penalty.
fn loss(
    net: &Net,
    x: &[f32],
    batch: usize,
    obj: &Objective,
    truths: &[Truth],
    range_weight: f32,
) -> f64 {
    let t = net.forward_surrogate(x.to_vec(), batch);
    let outs = net.outputs();
    let mut scratch = vec![0f32; outs];
    let mut l = 0.0;
    for (z, tr) in t.output().chunks(outs).zip(truths) {
        l += obj.example(z, *tr, 1.0, &mut scratch) / batch as f64;
    }
    l + penalty(net, &t, batch, range_weight)
}

fn penalty(net: &Net, t: &Trace, batch: usize, range_weight: f32) -> f64 {
    let mut p = 0.0;
    for (l, u) in net.layers.iter().zip(&t.unwrapped) {
        let lim = super::net::range_limit(l);
        for &v in u {
            let over = v.abs() - lim;
            if over > 0.0 {
                p += (range_weight * over * over) as f64 / batch as f64;
            }
        }
    }
    p
}

/// Compare backward's gradients with central differences of the surrogate loss.
fn check(act: Option<Activation>, obj: Objective, values: bool, teacher: bool, range_weight: f32) {
    let m = model(act.clone(), WeightKind::Int4, 3, values);
    check_model(&m, &format!("{act:?}"), obj, values, teacher, range_weight);
}

/// [`check`] on the model `m` (3 outputs).
fn check_model(
    m: &Model,
    what: &str,
    obj: Objective,
    values: bool,
    teacher: bool,
    range_weight: f32,
) {
    let classes = 3;
    let mut net = Net::from_model(m, false).expect("a chain");
    let inputs = net.inputs();
    let mut rng = Rng::new(11);
    // Latent weights off the integers, so the surrogate is smooth around them.
    for l in &mut net.layers {
        for w in &mut l.w {
            *w += (rng.unit() as f32 - 0.5) * 0.6;
        }
        for b in &mut l.b {
            *b += rng.unit() - 0.5;
        }
    }
    let batch = 5;
    let scale_in = if range_weight > 0.0 { 900.0 } else { 30.0 };
    let x: Vec<f32> = (0..batch * inputs)
        .map(|_| ((rng.unit() - 0.3) * scale_in) as f32)
        .collect();
    let teachers: Vec<Vec<f32>> = (0..batch)
        .map(|_| {
            (0..classes)
                .map(|_| (rng.unit() * 4.0 - 2.0) as f32)
                .collect()
        })
        .collect();
    let truths: Vec<Truth> = (0..batch)
        .map(|i| Truth {
            label: (!values).then_some((i % classes) as u32),
            target: values.then_some(&teachers[(i + 1) % batch][..]),
            teacher: teacher.then_some(&teachers[i][..]),
        })
        .collect();
    let t = net.forward_surrogate(x.clone(), batch);
    let outs = net.outputs();
    let mut grad = vec![0f32; batch * outs];
    for ((z, g), tr) in t
        .output()
        .chunks(outs)
        .zip(grad.chunks_mut(outs))
        .zip(&truths)
    {
        obj.example(z, *tr, 1.0 / batch as f32, g);
    }
    let (g, _) = net.backward(&t, grad, batch, range_weight, 1, false);
    let (mut good, mut total) = (0, 0);
    for li in 0..net.layers.len() {
        for i in 0..net.layers[li].w.len() {
            let h = 1e-2f32;
            let mut p = net.clone();
            p.layers[li].w[i] += h;
            let up = loss(&p, &x, batch, &obj, &truths, range_weight);
            p.layers[li].w[i] -= 2.0 * h;
            let down = loss(&p, &x, batch, &obj, &truths, range_weight);
            let fd = (up - down) / (2.0 * h as f64);
            let an = g.w[li][i] as f64;
            total += 1;
            if (fd - an).abs() <= 2e-3 + 2e-2 * fd.abs().max(an.abs()) {
                good += 1;
            }
        }
        for i in 0..net.layers[li].b.len() {
            // Biases are in accumulator units: a step of 1e-2 is below f32's
            // resolution of the large sums the range test makes.
            let h = 0.25;
            let mut p = net.clone();
            p.layers[li].b[i] += h;
            let up = loss(&p, &x, batch, &obj, &truths, range_weight);
            p.layers[li].b[i] -= 2.0 * h;
            let down = loss(&p, &x, batch, &obj, &truths, range_weight);
            let fd = (up - down) / (2.0 * h);
            let an = g.b[li][i];
            total += 1;
            if (fd - an).abs() <= 2e-3 + 2e-2 * fd.abs().max(an.abs()) {
                good += 1;
            }
        }
    }
    // A difference may straddle a kink (ReLU at 0, a table's step): allow a few.
    assert!(
        good as f64 >= 0.95 * total as f64,
        "{what} {obj:?}: {good} of {total} gradients agree with finite differences"
    );
}

#[test]
fn gradients_match_finite_differences_for_every_activation_and_loss() {
    for act in activations() {
        let ce = Objective::Classes {
            scale: 0.05,
            alpha: 0.0,
            temperature: 1.0,
        };
        check(act.clone(), ce, false, false, 0.0);
        let kd = Objective::Classes {
            scale: 0.05,
            alpha: 0.7,
            temperature: 2.5,
        };
        check(act.clone(), kd, false, true, 0.0);
        let mse = Objective::Values {
            scale: 0.25,
            zero_point: 3.0,
            alpha: 0.4,
        };
        check(act.clone(), mse, true, true, 0.0);
    }
}

#[test]
fn the_range_penalty_has_the_gradient_of_its_loss() {
    let ce = Objective::Classes {
        scale: 0.01,
        alpha: 0.0,
        temperature: 1.0,
    };
    check(Some(Activation::Relu), ce, false, false, 1e-4);
}

#[test]
fn distillation_alone_pulls_toward_the_teacher() {
    // With a teacher equal to the student's own scaled logits the loss is 0
    // and so is its gradient.
    let obj = Objective::Classes {
        scale: 0.5,
        alpha: 1.0,
        temperature: 3.0,
    };
    let z = [4.0f32, -2.0, 10.0];
    let t: Vec<f32> = z.iter().map(|v| v * 0.5).collect();
    let mut g = [0f32; 3];
    let tr = Truth {
        label: None,
        target: None,
        teacher: Some(&t),
    };
    let l = obj.example(&z, tr, 1.0, &mut g);
    assert!(
        l.abs() < 1e-12 && g.iter().all(|v| v.abs() < 1e-6),
        "{l} {g:?}"
    );
}

#[test]
fn starting_from_unrounded_weights_keeps_the_integer_model() {
    for kind in [WeightKind::Int4, WeightKind::Ternary, WeightKind::Binary] {
        let m = model(Some(Activation::Relu), kind, 3, false);
        let mut net = Net::from_model(&m, false).unwrap();
        let before: Vec<Vec<i8>> = net.layers.iter().map(|l| l.int_weights()).collect();
        // Float weights anywhere around the integers, some far beyond.
        let mut rng = Rng::new(3);
        let unrounded: Vec<Vec<f32>> = net
            .layers
            .iter()
            .map(|l| {
                l.w.iter()
                    .map(|&w| w + (rng.unit() as f32 - 0.5) * 4.0)
                    .collect()
            })
            .collect();
        net.start_from_unrounded(&unrounded);
        let after: Vec<Vec<i8>> = net.layers.iter().map(|l| l.int_weights()).collect();
        assert_eq!(before, after, "{kind:?}: the integers changed");
        // The latent weights moved off the integers, toward the floats.
        let moved = net.layers[0]
            .w
            .iter()
            .zip(&before[0])
            .filter(|(&w, &q)| w != f32::from(q))
            .count();
        assert!(moved > net.layers[0].w.len() / 2, "{kind:?}: {moved} moved");
    }
}

/// `2×4×4 → conv 3×3 (pad 1, 2 groups) → max pool 2×2 → padded average
/// pool 2×2 → dense → 3`, `act` after the convolution and the average pool.
fn map_model(act: Option<Activation>, values: bool) -> Model {
    use crate::frontend::lower::lower_layers;
    use crate::frontend::quantize::{AvgDivisor, Layer, LayerKind};
    use zlmc_ir::{Shape, Window};
    let mut rng = Rng::new(5);
    let mut ints = |n: usize| -> Vec<i8> { (0..n).map(|_| rng.below(15) as i8 - 7).collect() };
    let input = Shape {
        channels: 2,
        height: 4,
        width: 4,
    };
    let pooled = Shape {
        channels: 4,
        height: 2,
        width: 2,
    };
    let window = |k: usize, s: usize, pads: [usize; 4]| Window {
        kernel: [k, k],
        stride: [s, s],
        pads,
    };
    let weighted = |rows, cols, data, shift, activation| LayerData {
        weights: DenseWeights {
            kind: WeightKind::Int4,
            rows,
            cols,
            data,
        },
        bias: (0..rows).map(|j| (j as i64 * 29) % 40 - 20).collect(),
        shift,
        activation,
    };
    let layers = vec![
        Layer {
            kind: LayerKind::Conv {
                input,
                window: window(3, 1, [1, 1, 1, 1]),
                groups: 2,
            },
            data: weighted(4, 9, ints(36), 2, act.clone()),
            acc: Elem::I32,
        },
        Layer {
            kind: LayerKind::MaxPool {
                input: Shape {
                    channels: 4,
                    ..input
                },
                window: window(2, 2, [0; 4]),
            },
            data: LayerData::pool(WeightKind::Int4, None),
            acc: Elem::I16,
        },
        Layer {
            kind: LayerKind::AvgPool {
                input: pooled,
                window: window(2, 1, [0, 0, 1, 1]),
                divisor: AvgDivisor { mul: 1, shift: 2 },
            },
            data: LayerData::pool(WeightKind::Int4, act),
            acc: Elem::I16,
        },
        Layer {
            kind: LayerKind::Dense,
            data: weighted(3, 16, ints(48), 1, None),
            acc: Elem::I32,
        },
    ];
    let decode = if values {
        Decode::Values {
            count: 3,
            quant: OutputQuant {
                scale: 0.25,
                zero_point: 3,
            },
        }
    } else {
        Decode::Classify {
            labels: (0..3).map(|i| i.to_string()).collect(),
        }
    };
    lower_layers(
        "maps",
        vec![Encoder::Raw {
            len: input.len(),
            quant: None,
        }],
        decode,
        layers,
    )
}

#[test]
fn gradients_match_finite_differences_through_convolutions_and_pools() {
    for act in activations() {
        let what = format!("maps {act:?}");
        let kd = Objective::Classes {
            scale: 0.05,
            alpha: 0.7,
            temperature: 2.5,
        };
        check_model(&map_model(act.clone(), false), &what, kd, false, true, 0.0);
        let mse = Objective::Values {
            scale: 0.25,
            zero_point: 3.0,
            alpha: 0.4,
        };
        check_model(&map_model(act, true), &what, mse, true, true, 0.0);
    }
}
