//! Random models exercising the arithmetic's corners, and random inputs for them.

use zlmc::frontend::lower::{lower, lower_with_accs};
use zlmc::frontend::quantize::LayerData;
use zlmc_ir::{Activation, Decode, DenseWeights, Elem, Encoder, Model, WeightKind};

use crate::Rng;

/// A random raw-input classifier exercising every corner the arithmetic has:
/// 1–4 layers, widths 1–300, every weight value, dead rows, negative and
/// extreme biases (so accumulators wrap), shifts from 0 up, both accumulators.
pub fn random_model(rng: &mut Rng, name: &str) -> Model {
    let (inputs, acc, data) = random_model_layers(rng);
    raw_classifier(name, inputs, acc, data)
}

/// What [`random_model`] lowers: its number of inputs, its accumulator and
/// its layers.
pub fn random_model_layers(rng: &mut Rng) -> (usize, Elem, Vec<LayerData>) {
    let acc = if rng.chance(25) { Elem::I32 } else { Elem::I16 };
    let inputs = if rng.chance(20) {
        rng.range(1, 300)
    } else {
        rng.range(1, 40)
    } as usize;
    (inputs, acc, random_layers(rng, acc, inputs, 300))
}

/// A classifier over `inputs` raw inputs with classes `c0`, `c1`, ….
fn raw_classifier(name: &str, inputs: usize, acc: Elem, data: Vec<LayerData>) -> Model {
    raw_classifier_with_accs(name, inputs, data.into_iter().map(|l| (l, acc)).collect())
}

/// A classifier over `inputs` raw inputs with classes `c0`, `c1`, …, each
/// layer accumulating in its own width.
pub fn raw_classifier_with_accs(
    name: &str,
    inputs: usize,
    layers: Vec<(LayerData, Elem)>,
) -> Model {
    let classes = layers.last().expect("at least one layer").0.weights.rows;
    let labels = (0..classes).map(|i| format!("c{i}")).collect();
    lower_with_accs(
        name,
        vec![Encoder::Raw {
            len: inputs,
            quant: None,
        }],
        Decode::Classify { labels },
        layers,
    )
}

/// A random text model for targets with a text front-end (16-bit accumulators,
/// at most `max_width` units a layer): a classifier over query trigrams, or a
/// character generator over query trigrams and reply context.
pub fn random_text_model(rng: &mut Rng, name: &str, generate: bool, max_width: usize) -> Model {
    text_model(rng, name, generate, None, max_width, |_, _| {})
}

/// [`random_text_model`] with a random activation (see [`random_activation`])
/// on some layers, the last one included: the activations' differential
/// tests on targets that take text.
pub fn random_text_model_with_activations(
    rng: &mut Rng,
    name: &str,
    generate: bool,
    max_width: usize,
) -> Model {
    text_model(rng, name, generate, None, max_width, |rng, data| {
        for l in data {
            if rng.chance(75) {
                l.activation = Some(random_activation(rng));
            }
        }
    })
}

/// A random text model like [`random_text_model`] with weights of `kind`.
pub fn random_text_model_of(
    rng: &mut Rng,
    name: &str,
    generate: bool,
    kind: WeightKind,
    max_width: usize,
) -> Model {
    text_model(rng, name, generate, Some(kind), max_width, |_, _| {})
}

/// A random query of 1–39 characters: letters of both cases, digits,
/// punctuation and spaces (never `!` first, which ends the Z80 programs).
pub fn random_query(rng: &mut Rng) -> Vec<u8> {
    let len = rng.range(1, 40) as usize;
    let mut q: Vec<u8> = (0..len)
        .map(|_| rng.pick(b"abcdefghijklmnopqrstuvwxyz ABCXYZ?!,.'0123456789  "))
        .collect();
    if q[0] == b'!' {
        q[0] = b'?';
    }
    q
}

/// Runs `check` on `count` random int8 text models (optimized, at most
/// `max_width` units a layer, half of them generators): int8 weights take
/// the Z80 targets' layout up to 128 entries each, so `check` may give back
/// the build's refusal, which must say what memory the program needs or
/// passes. Returns
/// how many models were checked rather than refused.
pub fn check_int8_text_models(
    rng: &mut Rng,
    count: usize,
    max_width: usize,
    mut check: impl FnMut(&Model, &mut Rng) -> Result<(), String>,
) -> usize {
    let mut checked = 0;
    for i in 0..count {
        let name = format!("i{i}");
        let mut m = random_text_model_of(rng, &name, i % 2 == 0, WeightKind::Int8, max_width);
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        match check(&m, rng) {
            Ok(()) => checked += 1,
            Err(e) => assert!(
                e.contains("the program") && (e.contains(" bytes of memory") || e.contains(" KB")),
                "{name} is refused without the memory it needs: {e}"
            ),
        }
    }
    checked
}

/// A random text model with weights of `kind`, or of a random kind, its
/// layers changed by `layers` before it is lowered.
fn text_model(
    rng: &mut Rng,
    name: &str,
    generate: bool,
    kind: Option<WeightKind>,
    max_width: usize,
    layers: impl FnOnce(&mut Rng, &mut Vec<LayerData>),
) -> Model {
    let q = rng.pick(&[16usize, 32, 64, 128]);
    let mut encoders = vec![Encoder::QueryTrigram {
        buckets: q,
        value: rng.pick(&[32i16, 1, 100, -7]),
    }];
    if generate {
        encoders.push(Encoder::ContextNgram {
            buckets: rng.pick(&[8usize, 64, 128]),
            length: rng.range(1, 8) as usize,
            value: 32,
        });
    }
    let inputs: usize = encoders.iter().map(Encoder::len).sum();
    let kind = kind.unwrap_or_else(|| rng.pick(&WeightKind::ALL));
    let mut data = random_layers_of(rng, Elem::I16, kind, inputs, max_width);
    layers(rng, &mut data);
    let classes = data.last().expect("at least one layer").weights.rows;
    let decode = if generate {
        // Printable classes; the last one ends the reply.
        let charset = (0..classes)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789 ?!."[i % 40])
            .collect();
        Decode::Generate {
            charset,
            eos: classes - 1,
            max_length: rng.range(1, 12) as usize,
        }
    } else {
        Decode::Classify {
            labels: (0..classes).map(|i| format!("class{i}")).collect(),
        }
    };
    lower(name, encoders, decode, Elem::I16, data)
}

/// A bias for an `acc` accumulator: its extremes (so sums wrap), anything in
/// its range, zero, or a small value.
pub fn random_bias(rng: &mut Rng, acc: Elem) -> i64 {
    let (lo, hi) = match acc {
        Elem::I16 => (i16::MIN as i64, i16::MAX as i64),
        Elem::I32 => (i32::MIN as i64, i32::MAX as i64),
    };
    match rng.below(6) {
        0 => lo,
        1 => hi,
        2 => rng.range(lo, hi),
        3 => 0,
        _ => rng.range(-300, 300),
    }
}

/// A random raw-input classifier like [`random_model`] with weights of one
/// kind and one accumulator width, at most `max_width` units a layer.
pub fn random_model_of(
    rng: &mut Rng,
    name: &str,
    kind: WeightKind,
    acc: Elem,
    max_width: usize,
) -> Model {
    let inputs = rng.range(1, 70) as usize;
    let data = random_layers_of(rng, acc, kind, inputs, max_width);
    raw_classifier(name, inputs, acc, data)
}

/// Random dense layers from `inputs` inputs (see [`random_model`]).
fn random_layers(rng: &mut Rng, acc: Elem, inputs: usize, max_width: usize) -> Vec<LayerData> {
    let kind = rng.pick(&WeightKind::ALL);
    random_layers_of(rng, acc, kind, inputs, max_width)
}

/// Random dense layers of weights of `kind` from `inputs` inputs.
fn random_layers_of(
    rng: &mut Rng,
    acc: Elem,
    kind: WeightKind,
    inputs: usize,
    max_width: usize,
) -> Vec<LayerData> {
    let layers = rng.range(1, 4) as usize;
    let width = |rng: &mut Rng| {
        if rng.chance(20) {
            rng.range(1, max_width as i64) as usize
        } else {
            rng.range(1, 40.min(max_width as i64)) as usize
        }
    };
    let mut inputs = inputs;
    let zero_pct = rng.pick(&[0, 30, 75, 95]);
    let dead_pct = rng.pick(&[0, 10, 40]);
    let mut data = Vec::new();
    for l in 0..layers {
        let units = width(rng);
        let values = kind.values();
        let mut w = Vec::with_capacity(units * inputs);
        for _ in 0..units {
            let dead = kind != WeightKind::Binary && rng.chance(dead_pct);
            for _ in 0..inputs {
                let zero = kind != WeightKind::Binary && (dead || rng.chance(zero_pct));
                w.push(if zero { 0 } else { rng.pick(&values) });
            }
        }
        let bias = (0..units).map(|_| random_bias(rng, acc)).collect();
        let shift = match rng.range(0, 3) {
            0 => 0,
            1 => 2,
            _ => rng.range(0, acc.bits() as i64 - 1) as u32,
        };
        let last = l + 1 == layers;
        data.push(dense_layer(
            kind,
            (units, inputs),
            w,
            bias,
            shift,
            !last && rng.chance(80),
        ));
        inputs = units;
    }
    data
}

/// One dense layer of `units × inputs` weights (row-major), with its epilogue.
pub fn dense_layer(
    kind: WeightKind,
    (units, inputs): (usize, usize),
    data: Vec<i8>,
    bias: Vec<i64>,
    shift: u32,
    relu: bool,
) -> LayerData {
    LayerData {
        weights: DenseWeights {
            kind,
            rows: units,
            cols: inputs,
            data,
        },
        bias,
        shift,
        activation: relu.then_some(Activation::Relu),
    }
}

/// A random activation of every kind the IR has, with parameters over their
/// whole ranges: ReLU, clamps (narrow, wide, one-sided, empty-width),
/// leaky slopes from 1/32768 to 255/256, and lookup tables of 2 to 256
/// entries placed anywhere in int16 (extreme entries included).
pub fn random_activation(rng: &mut Rng) -> Activation {
    let i16_any = |rng: &mut Rng| rng.range(i16::MIN as i64, i16::MAX as i64) as i16;
    match rng.range(0, 3) {
        0 => Activation::Relu,
        1 => {
            let (a, b) = if rng.chance(50) {
                (rng.range(-300, 300) as i16, rng.range(-300, 300) as i16)
            } else {
                (i16_any(rng), i16_any(rng))
            };
            Activation::Clamp {
                lo: a.min(b),
                hi: a.max(b),
            }
        }
        2 => {
            let shift = rng.range(1, 15) as u8;
            let max = ((1u32 << shift) - 1).min(255) as i64;
            Activation::LeakyRelu {
                mul: rng.range(1, max) as u8,
                shift,
            }
        }
        _ => {
            let len = if rng.chance(30) {
                256
            } else {
                rng.range(2, 256) as usize
            };
            let lo = if rng.chance(50) {
                rng.range(-300, 100) as i16
            } else {
                rng.range(i16::MIN as i64, i16::MAX as i64 - len as i64) as i16
            };
            let narrow = rng.chance(60);
            let table = (0..len)
                .map(|_| {
                    if narrow {
                        rng.range(-128, 127) as i16
                    } else {
                        i16_any(rng)
                    }
                })
                .collect();
            Activation::Lut { lo, table }
        }
    }
}

/// [`random_model`] with a random activation (see [`random_activation`]) on
/// some layers, the last one included: for the activations' differential tests.
pub fn random_model_with_activations(rng: &mut Rng, name: &str) -> Model {
    let (inputs, acc, mut data) = random_model_layers(rng);
    for l in &mut data {
        if rng.chance(75) {
            l.activation = Some(random_activation(rng));
        }
    }
    raw_classifier(name, inputs, acc, data)
}

/// Random input vectors for a model: full-range, small, sparse and all-zero.
pub fn random_inputs(rng: &mut Rng, len: usize, count: usize) -> Vec<Vec<i16>> {
    (0..count)
        .map(|k| {
            (0..len)
                .map(|_| match k % 4 {
                    0 => rng.range(i16::MIN as i64, i16::MAX as i64) as i16,
                    1 => rng.range(-64, 64) as i16,
                    2 if rng.chance(10) => 32,
                    3 => 0,
                    _ => 0,
                })
                .collect()
        })
        .collect()
}

/// A dense MLP over `shape[0]` raw inputs (`shape` lists every layer's
/// width): every weight drawn over the whole range of `kind` (zero only as
/// often as any other value), biases of the size of a layer's sums, shifts
/// that keep activations in a byte or so, ReLU between layers — the issue's
/// benchmark models for dense kernels.
pub fn dense_mlp(rng: &mut Rng, name: &str, kind: WeightKind, acc: Elem, shape: &[usize]) -> Model {
    let (lo, hi) = kind.range();
    let mut data = Vec::new();
    for (l, w) in shape.windows(2).enumerate() {
        let (inputs, units) = (w[0], w[1]);
        let data_w = (0..units * inputs)
            .map(|_| rng.range(lo as i64, hi as i64) as i8)
            .collect();
        let span = match acc {
            Elem::I16 => 3_000,
            Elem::I32 => 20_000,
        };
        let bias = (0..units).map(|_| rng.range(-span, span)).collect();
        let last = l + 2 == shape.len();
        data.push(dense_layer(
            kind,
            (units, inputs),
            data_w,
            bias,
            if acc == Elem::I16 { 6 } else { 8 },
            !last,
        ));
    }
    raw_classifier(name, shape[0], acc, data)
}

/// `count` inputs like scikit-learn's digits: pixels 0–16, about half zero.
pub fn digit_like_inputs(rng: &mut Rng, len: usize, count: usize) -> Vec<Vec<i16>> {
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| {
                    if rng.chance(50) {
                        0
                    } else {
                        rng.range(1, 16) as i16
                    }
                })
                .collect()
        })
        .collect()
}

/// A random model in z80ai's format: 128 query trigram buckets and 128
/// context n-gram buckets (8 characters) of value 32, 2-bit weights
/// (`zero_pct` percent zero; tinychat's are about 74), every
/// unit with a non-zero weight (so the dead-neurons pass keeps them all),
/// `>> 2` and ReLU between layers, and `classes` characters, the last one
/// ending the reply.
pub fn z80ai_model(
    rng: &mut Rng,
    name: &str,
    hidden: &[usize],
    classes: usize,
    zero_pct: u64,
    max_length: usize,
) -> Model {
    let encoders = vec![
        Encoder::QueryTrigram {
            buckets: 128,
            value: 32,
        },
        Encoder::ContextNgram {
            buckets: 128,
            length: 8,
            value: 32,
        },
    ];
    let sizes: Vec<usize> = hidden.iter().copied().chain([classes]).collect();
    let mut inputs = 256;
    let mut data = Vec::new();
    for (l, &units) in sizes.iter().enumerate() {
        let mut w = Vec::with_capacity(units * inputs);
        for _ in 0..units {
            let row: Vec<i8> = (0..inputs)
                .map(|_| {
                    if rng.chance(zero_pct) {
                        0
                    } else {
                        rng.pick(&[-2i8, -1, 1])
                    }
                })
                .collect();
            let mut row = row;
            if row.iter().all(|&x| x == 0) {
                row[rng.index(inputs)] = 1;
            }
            w.extend(row);
        }
        let bias = (0..units).map(|_| rng.range(-400, 400)).collect();
        let relu = l + 1 < sizes.len();
        data.push(dense_layer(
            WeightKind::Int2,
            (units, inputs),
            w,
            bias,
            2,
            relu,
        ));
        inputs = units;
    }
    let charset = (0..classes)
        .map(|i| {
            if i + 1 == classes {
                0
            } else {
                b"abcdefghijklmnopqrstuvwxyz .,?!'0123456789"[i % 42]
            }
        })
        .collect();
    lower(
        name,
        encoders,
        Decode::Generate {
            charset,
            eos: classes - 1,
            max_length,
        },
        Elem::I16,
        data,
    )
}

/// Makes `m` a values model: its outputs are the answer, each `scale` a step
/// from `zero_point`.
pub fn make_values(m: &mut Model, scale: f64, zero_point: i32) {
    m.decode = Decode::Values {
        count: m.classes(),
        quant: zlmc_ir::OutputQuant { scale, zero_point },
    };
}
