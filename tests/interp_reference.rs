//! The interpreter, every backend's oracle, against a reference written
//! separately here: each layer computed from the layers a model is lowered
//! from, in i128 with every wrap made explicit (`wrap`), on random models of
//! every weight kind and accumulator and on hand-made corners (sums that wrap
//! at 16 and 32 bits, shifts of negative sums, shifted values that wrap to
//! 16 bits, binary ±1 weights, int8 -128). The dead-neurons pass folds the
//! constants of dead neurons with the interpreter's own arithmetic, so the
//! models it rewrites are held to this reference too.

use zlmc::frontend::quantize::LayerData;
use zlmc_ir::{interp, Activation, Elem, Model, Op, WeightKind};
use zlmc_test_support::models::{
    dense_layer, random_activation, random_inputs, random_model_layers, raw_classifier_with_accs,
};
use zlmc_test_support::Rng;

/// A layer and the width its sums wrap at.
type Layer = (LayerData, Elem);

/// `v` reduced modulo 2^bits into the signed range of `bits` bits.
fn wrap(v: i128, bits: u32) -> i128 {
    let m = 1i128 << bits;
    let r = v.rem_euclid(m);
    if r >= m / 2 {
        r - m
    } else {
        r
    }
}

/// The meaning of the layers, spelled out: per unit, the bias plus the sum of
/// weight times input, wrapped to the accumulator; divided by 2^shift
/// rounding down; wrapped to 16 bits; ReLU if asked. The logits and the
/// first index of the largest.
fn reference(layers: &[Layer], input: &[i16]) -> (Vec<i16>, usize) {
    let mut x: Vec<i128> = input.iter().map(|&v| i128::from(v)).collect();
    for (l, acc) in layers {
        let bits = match acc {
            Elem::I16 => 16,
            Elem::I32 => 32,
        };
        let w = &l.weights;
        x = (0..w.rows)
            .map(|r| {
                let mut sum = i128::from(l.bias[r]);
                for (c, &v) in x.iter().enumerate() {
                    sum += i128::from(w.data[r * w.cols + c]) * v;
                }
                let shifted = wrap(sum, bits).div_euclid(1i128 << l.shift);
                let y = wrap(shifted, 16);
                match &l.activation {
                    Some(a) => activation(a, y),
                    None => y,
                }
            })
            .collect();
    }
    let mut class = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[class] {
            class = i;
        }
    }
    let logits = x
        .iter()
        .map(|&v| i16::try_from(v).expect("16-bit"))
        .collect();
    (logits, class)
}

/// `model`, lowered from `layers`, gives the reference's logits and class
/// on `input` in the interpreter.
#[track_caller]
fn assert_reference(model: &Model, layers: &[Layer], input: &[i16], what: &str) {
    let (logits, class) = reference(layers, input);
    let got = interp::step(&model.graph, input);
    assert_eq!(
        (&got.logits, got.class),
        (&logits, class),
        "{} ({what}) on {input:?}",
        model.name
    );
}

/// `model` after the pipeline with `disabled` passes off.
fn optimized(model: &Model, disabled: &[&str]) -> Model {
    let mut m = model.clone();
    let disabled: Vec<String> = disabled.iter().map(|s| s.to_string()).collect();
    zlmc::driver::optimize(&mut m, &disabled, |_, _| {}).expect("passes");
    m
}

/// The pass configurations each model is checked in: as lowered, every pass,
/// dead neurons alone (on the unfused chain), and dead neurons run again
/// on a model whose epilogues are already fused.
fn variants(model: &Model) -> Vec<(&'static str, Model)> {
    let fused = optimized(model, &["dead-neurons", "sparse-weights"]);
    vec![
        ("as lowered", model.clone()),
        ("all passes", optimized(model, &[])),
        (
            "dead neurons alone",
            optimized(model, &["fuse-epilogue", "sparse-weights"]),
        ),
        (
            "dead neurons after fusing",
            optimized(&fused, &["fuse-epilogue", "sparse-weights"]),
        ),
    ]
}

/// How many matmul rows `model` has in all (the dead-neurons pass removes some).
fn rows(model: &Model) -> usize {
    model
        .graph
        .find(|op| matches!(op, Op::MatMul { .. }))
        .into_iter()
        .map(|n| match &model.graph.node(n).op {
            Op::MatMul { weights, .. } => weights.rows(),
            _ => unreachable!(),
        })
        .sum()
}

#[test]
fn random_activations_agree_with_the_reference() {
    let mut rng = Rng::new(0xac7_2026);
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..200 {
        let (inputs, acc, mut data) = random_model_layers(&mut rng);
        for l in &mut data {
            let a = random_activation(&mut rng);
            kinds.insert(a.mnemonic());
            l.activation = Some(a);
        }
        let layers: Vec<Layer> = data.into_iter().map(|l| (l, acc)).collect();
        let model = raw_classifier_with_accs(&format!("a{i}"), inputs, layers.clone());
        for x in random_inputs(&mut rng, inputs, 8) {
            for (what, m) in variants(&model) {
                assert_reference(&m, &layers, &x, what);
            }
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

#[test]
fn random_models_agree_with_the_reference() {
    let mut rng = Rng::new(0x1e7e_2026);
    let (mut checked, mut folded) = (0, 0);
    for i in 0..300 {
        let (inputs, acc, data) = random_model_layers(&mut rng);
        // Some layers of 16-bit models widened to 32 bits: mixed widths.
        let mixed = rng.chance(30);
        let layers: Vec<Layer> = data
            .into_iter()
            .map(|l| {
                let wide = acc == Elem::I32 || (mixed && rng.chance(50));
                (l, if wide { Elem::I32 } else { Elem::I16 })
            })
            .collect();
        let model = raw_classifier_with_accs(&format!("r{i}"), inputs, layers.clone());
        let xs = random_inputs(&mut rng, inputs, 8);
        for (what, m) in variants(&model) {
            if rows(&m) < rows(&model) {
                folded += 1;
            }
            for x in &xs {
                assert_reference(&m, &layers, x, what);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 300 * 4 * 8);
    // Enough models lose dead neurons for the folding to be tested.
    assert!(
        folded >= 100,
        "only {folded} models had dead neurons folded"
    );
}

/// An activation spelled out: ReLU and clamps bound `y`; a leaky slope
/// divides `y·mul` by 2^shift rounding down; a table is read at `y − lo`,
/// held to its first and last entries.
fn activation(a: &Activation, y: i128) -> i128 {
    match a {
        Activation::Relu => y.max(0),
        Activation::Clamp { lo, hi } => y.max(i128::from(*lo)).min(i128::from(*hi)),
        Activation::LeakyRelu { mul, shift } if y < 0 => {
            (y * i128::from(*mul)).div_euclid(1i128 << shift)
        }
        Activation::LeakyRelu { .. } => y,
        Activation::Lut { lo, table } => {
            let last = table.len() as i128 - 1;
            let i = (y - i128::from(*lo)).max(0).min(last);
            i128::from(table[i as usize])
        }
    }
}

/// One layer of `kind` weights, `rows` × `cols`, row-major.
fn layer(
    kind: WeightKind,
    (rows, cols): (usize, usize),
    weights: &[i8],
    bias: &[i64],
    shift: u32,
    relu: bool,
    acc: Elem,
) -> Layer {
    let l = dense_layer(
        kind,
        (rows, cols),
        weights.to_vec(),
        bias.to_vec(),
        shift,
        relu,
    );
    (l, acc)
}

/// Hand-made corners, each with the logits and class worked out by hand,
/// which the reference must give too (so it is checked as well as used).
#[test]
fn corners_of_the_arithmetic_agree_with_the_reference() {
    use Elem::{I16, I32};
    use WeightKind::{Binary, Int8};
    type Case = (&'static str, Vec<Layer>, Vec<i16>, Vec<i16>, usize);
    let cases: Vec<Case> = vec![
        // -128 · 256 = -32768 fits in 16 bits; one less wraps to 32767.
        (
            "int8 -128, 16-bit wrap",
            vec![layer(Int8, (2, 1), &[-128, -128], &[0, -1], 0, false, I16)],
            vec![256],
            vec![-32768, 32767],
            1,
        ),
        // 127 · 32767 · 2 + 2^31 - 1 = 2155806465 wraps at 32 bits to
        // -2139160831, which >> 20 rounds down to -2041 (unwrapped: 2055;
        // with a shift of 16 or less the 16-bit wrap would hide the 32-bit one).
        (
            "32-bit wrap, shift of a negative sum",
            vec![layer(
                Int8,
                (1, 2),
                &[127, 127],
                &[i64::from(i32::MAX)],
                20,
                false,
                I32,
            )],
            vec![32767, 32767],
            vec![-2041],
            0,
        ),
        // 64 · 16384 >> 2 = 2^18 wraps to 0 in 16 bits; (96 · 16384 + 5) >> 2
        // = 393217 wraps to 1.
        (
            "shifted 32-bit sums wrap to 16 bits",
            vec![layer(Int8, (2, 1), &[64, 96], &[0, 5], 2, false, I32)],
            vec![16384],
            vec![0, 1],
            1,
        ),
        // -1 >> 1 = -1 and -3 >> 1 = -2 (toward −∞), 5 >> 1 = 2; then ±1
        // binary weights: -1 + 2 + 2 = 3 and 1 - 2 - 2 = -3, which ReLU makes 0.
        (
            "negative shifts, binary ±1, ReLU",
            vec![
                layer(Int8, (3, 1), &[-1, -3, 5], &[0, 0, 0], 1, false, I16),
                layer(
                    Binary,
                    (2, 3),
                    &[1, -1, 1, -1, 1, -1],
                    &[0, 0],
                    0,
                    true,
                    I16,
                ),
            ],
            vec![1],
            vec![3, 0],
            0,
        ),
        // Binary weights: -16384 - 16384 - 1 = -32769 wraps to 32767.
        (
            "binary 16-bit wrap",
            vec![layer(
                Binary,
                (2, 2),
                &[-1, -1, 1, 1],
                &[-1, 0],
                0,
                false,
                I16,
            )],
            vec![16384, 16384],
            vec![32767, -32768],
            0,
        ),
        // 1 >> 1 = 0, 4 >> 1 = 2 twice: the first of the equal largest wins.
        (
            "ties",
            vec![layer(Int8, (3, 1), &[1, 4, 4], &[0, 0, 0], 1, false, I16)],
            vec![1],
            vec![0, 2, 2],
            1,
        ),
    ];
    for (what, layers, input, logits, class) in cases {
        assert_eq!(
            reference(&layers, &input),
            (logits, class),
            "{what}: the reference"
        );
        let model = raw_classifier_with_accs("corner", input.len(), layers.clone());
        for (config, m) in variants(&model) {
            assert_reference(&m, &layers, &input, &format!("{what}, {config}"));
        }
    }
}

/// Dead neurons whose constant outputs go through the shift, the 16-bit wrap
/// and ReLU, folded into a next layer whose bias then wraps, before and after
/// fusing: the rewritten model has fewer rows and still gives the reference's
/// logits.
#[test]
fn dead_neurons_fold_wrapping_constants_like_the_reference() {
    use Elem::{I16, I32};
    use WeightKind::Int8;
    // Layer 1: unit 0 is live; units 1 and 2 are dead (zero rows): with
    // 16 bits, -32767 >> 2 = -8192 and 1000 >> 2 = 250; with 32 bits and
    // ReLU, 131071 >> 2 = 32767 and -1000 >> 2 = -250, made 0. Layer 2 takes
    // them 127 and -128 times: its folded biases wrap at 16 bits.
    for (acc1, bias, relu) in [(I16, [-32767, 1000], false), (I32, [131071, -1000], true)] {
        let layers = vec![
            layer(
                Int8,
                (3, 2),
                &[3, -5, 0, 0, 0, 0],
                &[7, bias[0], bias[1]],
                2,
                relu,
                acc1,
            ),
            layer(
                Int8,
                (2, 3),
                &[1, 127, 127, -128, -128, 127],
                &[2000, -5],
                0,
                false,
                I16,
            ),
        ];
        let model = raw_classifier_with_accs("dead", 2, layers.clone());
        for (config, m) in variants(&model).into_iter().skip(1) {
            assert!(rows(&m) < rows(&model), "{config}: no neuron removed");
            for input in [[0, 0], [100, -7], [-32768, 32767], [5, 5]] {
                assert_reference(&m, &layers, &input, config);
            }
        }
    }
}
