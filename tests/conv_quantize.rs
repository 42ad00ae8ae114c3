//! Convolutional models through the compiler's middle: integer specs with
//! `conv1d`/`conv2d`/pools lowered to the IR, float conv specs written and
//! read back, calibrated quantization against the float model, and the exact
//! passes on random conv models against the interpreter.

use std::path::{Path, PathBuf};

use zlmc::frontend::lower::lower_layers;
use zlmc::frontend::quantize::{AvgDivisor, Layer, LayerData, LayerKind};
use zlmc::quant::float_model::{
    FloatActivation, FloatDivisor, FloatLayer, FloatLayerKind, FloatMlp, FloatOutput,
};
use zlmc::quant::npz_write::{npz_bytes, Array};
use zlmc_ir::{
    interp, Activation, Decode, DenseWeights, Elem, Encoder, Op, Shape, WeightKind, Window,
};
use zlmc_test_support::{scratch, zlmc, Rng};

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * (rng.range(0, 1_000_000) as f32 / 1_000_000.0)
}

fn map(channels: usize, height: usize, width: usize) -> Shape {
    Shape {
        channels,
        height,
        width,
    }
}

fn window(kernel: [usize; 2], stride: [usize; 2], pads: [usize; 4]) -> Window {
    Window {
        kernel,
        stride,
        pads,
    }
}

/// An integer spec with a padded 2-D convolution, a max pool, a flatten and
/// a dense layer: the IR it lowers to, and its answers against the test's
/// own loops.
#[test]
fn integer_conv_spec_lowers_to_the_ir_ops() {
    let dir = scratch("conv-spec");
    let d = dir.path();
    // conv: 2 filters 3×3 over [1, 4, 4], padding 1; fc: 3 units over 2·2·2.
    let conv_w: Vec<i64> = (0..18).map(|i| (i % 5) - 2).collect();
    let fc_w: Vec<i64> = (0..24).map(|i| (i % 7) - 3).collect();
    let npz = npz_bytes(&[
        Array::I32(
            "c1_weight",
            vec![2, 1, 3, 3],
            conv_w.iter().map(|&v| v as i32).collect(),
        ),
        Array::I32("c1_bias", vec![2], vec![3, -5]),
        Array::I32(
            "fc_weight",
            vec![3, 8],
            fc_w.iter().map(|&v| v as i32).collect(),
        ),
        Array::I32("fc_bias", vec![3], vec![0, 1, -1]),
    ])
    .unwrap();
    std::fs::write(d.join("w.npz"), npz).unwrap();
    let spec = d.join("model.yaml");
    std::fs::write(
        &spec,
        "zlmc: 1\nname: c\nweights: w.npz\ninput:\n  - raw: {size: 16}\n\
         numerics: {weights: int8, accumulator: 32}\nlayers:\n\
         \x20 - {name: c1, conv2d: {input: [1, 4, 4], filters: 2, kernel: 3, padding: 1}, shift: 1, activation: relu}\n\
         \x20 - maxpool: {kernel: 2}\n\
         \x20 - flatten: {}\n\
         \x20 - {name: fc, units: 3}\n\
         output:\n  classify: [a, b, c]\n",
    )
    .unwrap();
    let model = zlmc::driver::load(&spec).unwrap();
    zlmc_ir::verify::verify_model(&model).unwrap();
    let ops: Vec<&str> = model
        .graph
        .topo_order()
        .unwrap()
        .into_iter()
        .map(|n| model.graph.node(n).op.mnemonic())
        .collect();
    assert_eq!(
        ops,
        [
            "input", "reshape", "conv", "bias", "shift", "relu", "maxpool", "flatten", "matmul",
            "bias", "shift", "argmax"
        ]
    );
    let mut rng = Rng::new(5);
    for _ in 0..20 {
        let x: Vec<i64> = (0..16).map(|_| rng.range(-40, 40)).collect();
        // The test's own convolution: out[o][y][x] = relu((Σ w·in + b) >> 1).
        let mut conv = vec![0i64; 2 * 16];
        for o in 0..2 {
            for y in 0..4i64 {
                for xx in 0..4i64 {
                    let mut acc = [3, -5][o];
                    for ky in 0..3i64 {
                        for kx in 0..3i64 {
                            let (iy, ix) = (y + ky - 1, xx + kx - 1);
                            if (0..4).contains(&iy) && (0..4).contains(&ix) {
                                acc += conv_w[o * 9 + (ky * 3 + kx) as usize]
                                    * x[(iy * 4 + ix) as usize];
                            }
                        }
                    }
                    conv[o * 16 + (y * 4 + xx) as usize] = (acc >> 1).max(0);
                }
            }
        }
        let mut pooled = Vec::new();
        for o in 0..2 {
            for py in 0..2 {
                for px in 0..2 {
                    let at = |dy: usize, dx: usize| conv[o * 16 + (2 * py + dy) * 4 + 2 * px + dx];
                    pooled.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                }
            }
        }
        let logits: Vec<i16> = (0..3)
            .map(|u| {
                let acc: i64 =
                    (0..8).map(|j| fc_w[u * 8 + j] * pooled[j]).sum::<i64>() + [0, 1, -1][u];
                acc as i16
            })
            .collect();
        let input: Vec<i16> = x.iter().map(|&v| v as i16).collect();
        assert_eq!(interp::step(&model.graph, &input).logits, logits);
    }
}

/// A spec mistake in a conv layer is reported at its line, without a panic.
#[test]
fn conv_spec_mistakes_point_at_the_layer() {
    let dir = scratch("conv-spec-errors");
    let d = dir.path();
    std::fs::write(
        d.join("w.npz"),
        npz_bytes(&[Array::I32("c1_weight", vec![2, 9], vec![0; 18])]).unwrap(),
    )
    .unwrap();
    let cases = [
        (
            "{name: c1, conv2d: {filters: 2, kernel: 3}}",
            "say which map it is",
        ),
        (
            "{name: c1, conv2d: {input: [1, 4, 4], filters: 2, kernel: 5}}",
            "larger than the padded input",
        ),
        (
            "{name: c1, conv1d: {input: [1, 4, 4], filters: 2, kernel: 3}}",
            "1-D convolution",
        ),
        (
            "{name: c1, conv2d: {input: [2, 2, 4], filters: 3, kernel: 1, groups: 2}}",
            "groups",
        ),
        ("{name: c1, units: 4, maxpool: {kernel: 2}}", "one thing"),
        (
            "{maxpool: {input: [1, 4, 4], kernel: 18446744073709551615, padding: 9223372036854775807}}",
            "window sizes above",
        ),
        (
            "{maxpool: {input: [4294967296, 4294967296, 4294967296], kernel: 1}}",
            "holds more than",
        ),
        (
            "{maxpool: {input: [1, 4, 4], kernel: 2}, shift: 3}",
            "does not apply",
        ),
        (
            "{name: c1, conv2d: {input: [1, 4, 4], filters: 2, kernel: 3, padding: [1, 1, 1]}}",
            "padding",
        ),
    ];
    for (layer, needle) in cases {
        let spec = d.join("model.yaml");
        std::fs::write(
            &spec,
            format!(
                "zlmc: 1\nname: c\nweights: w.npz\ninput:\n  - raw: {{size: 16}}\n\
                 numerics: {{weights: int8}}\nlayers:\n  - {layer}\noutput:\n  classify: [a]\n"
            ),
        )
        .unwrap();
        let r = zlmc(&["build", &s(&spec), "--emit", "zir"], "");
        assert_eq!(r.code, 1, "{layer}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{layer}: {}", r.stderr);
        assert!(r.stderr.contains("model.yaml:8:"), "{layer}: {}", r.stderr);
    }
}

fn dense(rng: &mut Rng, rows: usize, cols: usize, act: FloatActivation) -> FloatLayer {
    FloatLayer {
        kind: FloatLayerKind::Dense,
        weight: (0..rows)
            .map(|_| (0..cols).map(|_| uniform(rng, -0.5, 0.5)).collect())
            .collect(),
        bias: (0..rows).map(|_| uniform(rng, -0.2, 0.2)).collect(),
        activation: act,
    }
}

fn conv(
    rng: &mut Rng,
    input: Shape,
    window: Window,
    groups: usize,
    filters: usize,
    act: FloatActivation,
) -> FloatLayer {
    let cols = input.channels / groups * window.kernel[0] * window.kernel[1];
    FloatLayer {
        kind: FloatLayerKind::Conv {
            input,
            window,
            groups,
        },
        weight: (0..filters)
            .map(|_| (0..cols).map(|_| uniform(rng, -0.6, 0.6)).collect())
            .collect(),
        bias: (0..filters).map(|_| uniform(rng, -0.2, 0.2)).collect(),
        activation: act,
    }
}

fn pool(kind: FloatLayerKind) -> FloatLayer {
    FloatLayer {
        kind,
        weight: Vec::new(),
        bias: Vec::new(),
        activation: FloatActivation::None,
    }
}

/// The Conv2d(1, 4, 3, padding 1) → ReLU → MaxPool2d(2) → Flatten →
/// Linear(64, classes) on an 8×8 input.
fn conv2d_net(rng: &mut Rng, classes: usize) -> FloatMlp {
    let input = map(1, 8, 8);
    FloatMlp {
        name: "cnn2d".into(),
        inputs: 64,
        layers: vec![
            conv(
                rng,
                input,
                window([3, 3], [1, 1], [1; 4]),
                1,
                4,
                FloatActivation::Relu,
            ),
            pool(FloatLayerKind::MaxPool {
                input: map(4, 8, 8),
                window: window([2, 2], [2, 2], [0; 4]),
            }),
            dense(rng, classes, 64, FloatActivation::None),
        ],
        labels: None,
        output: FloatOutput::Classes,
    }
}

/// A depthwise Conv1d(4, 4, 3, padding 1, groups 4) whose kernels differ
/// 150× in size → ReLU → MaxPool1d(2) → Conv1d(4, 4, 1) (which reads every
/// channel back at the same size) → ReLU → global average → Linear(4,
/// classes), over four channels of 16: one weight scale for the depthwise
/// layer would leave its small kernels a step or two, or none.
fn depthwise_net(rng: &mut Rng, classes: usize) -> FloatMlp {
    let one_d = |k: usize, s: usize, p: usize| window([1, k], [1, s], [0, p, 0, p]);
    let sizes = [1.0, 0.1, 0.02, 3.0];
    let mut dw = conv(
        rng,
        map(4, 1, 16),
        one_d(3, 1, 1),
        4,
        4,
        FloatActivation::Relu,
    );
    for (row, size) in dw.weight.iter_mut().zip(sizes) {
        for w in row {
            *w *= size;
        }
    }
    // The pointwise layer reads each channel back at the same size, as
    // training balances them: every channel counts.
    let mut pw = conv(
        rng,
        map(4, 1, 8),
        one_d(1, 1, 0),
        1,
        4,
        FloatActivation::Relu,
    );
    for row in &mut pw.weight {
        for (w, size) in row.iter_mut().zip(sizes) {
            *w /= size;
        }
    }
    FloatMlp {
        name: "dw".into(),
        inputs: 64,
        layers: vec![
            dw,
            pool(FloatLayerKind::MaxPool {
                input: map(4, 1, 16),
                window: one_d(2, 2, 0),
            }),
            pw,
            pool(FloatLayerKind::AvgPool {
                input: map(4, 1, 8),
                window: one_d(8, 8, 0),
                divisor: FloatDivisor { count_pad: false },
            }),
            dense(rng, classes, 4, FloatActivation::None),
        ],
        labels: None,
        output: FloatOutput::Classes,
    }
}

/// [`conv2d_net`] with its ReLU after the pool (as an importer may leave it).
fn conv2d_pool_relu_net(rng: &mut Rng, classes: usize) -> FloatMlp {
    let mut m = conv2d_net(rng, classes);
    m.layers[0].activation = FloatActivation::None;
    m.layers[1].activation = FloatActivation::Relu;
    m
}

/// A 1-D network: Conv1d(2, 4, 5, padding 2) → ReLU → AvgPool1d(4) →
/// depthwise Conv1d(4, 4, 3, stride 2, groups 4) → ReLU6 → global average →
/// Linear(4, classes), over two channels of 32.
fn conv1d_net(rng: &mut Rng, classes: usize) -> FloatMlp {
    let one_d = |k: usize, s: usize, p: usize| window([1, k], [1, s], [0, p, 0, p]);
    FloatMlp {
        name: "cnn1d".into(),
        inputs: 64,
        layers: vec![
            conv(
                rng,
                map(2, 1, 32),
                one_d(5, 1, 2),
                1,
                4,
                FloatActivation::Relu,
            ),
            pool(FloatLayerKind::AvgPool {
                input: map(4, 1, 32),
                window: one_d(4, 4, 0),
                divisor: FloatDivisor { count_pad: false },
            }),
            conv(
                rng,
                map(4, 1, 8),
                one_d(3, 2, 1),
                4,
                4,
                FloatActivation::Clip { min: 0.0, max: 6.0 },
            ),
            pool(FloatLayerKind::AvgPool {
                input: map(4, 1, 4),
                window: one_d(4, 4, 0),
                divisor: FloatDivisor { count_pad: true },
            }),
            dense(rng, classes, 4, FloatActivation::None),
        ],
        labels: None,
        output: FloatOutput::Classes,
    }
}

/// `n` inputs in `[lo, hi)` that `m` classifies with a margin (so that the
/// labels are the model's rule, not its rounding), and those labels.
fn labelled(
    m: &FloatMlp,
    rng: &mut Rng,
    n: usize,
    (lo, hi): (f32, f32),
) -> (Vec<Vec<f32>>, Vec<usize>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    while x.len() < n {
        let v: Vec<f32> = (0..m.inputs).map(|_| uniform(rng, lo, hi)).collect();
        let mut logits = m.eval(&v);
        let class = m.predict(&v);
        let top = logits[class];
        logits[class] = f32::NEG_INFINITY;
        let second = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if top - second > 0.05 * top.abs().max(0.5) {
            x.push(v);
            y.push(class);
        }
    }
    (x, y)
}

/// Writes the float spec of `m` and `n` labelled samples; returns both paths.
fn fixture(
    dir: &Path,
    m: &FloatMlp,
    rng: &mut Rng,
    n: usize,
    range: (f32, f32),
) -> (PathBuf, PathBuf) {
    for (name, data) in zlmc::quant::float_spec::float_spec_files(m, "a test").unwrap() {
        std::fs::write(dir.join(name), data).unwrap();
    }
    let (x, y) = labelled(m, rng, n, range);
    let flat: Vec<f32> = x.iter().flatten().copied().collect();
    let npz = npz_bytes(&[
        Array::F32("x", vec![n, m.inputs], flat),
        Array::I32("y", vec![n], y.iter().map(|&c| c as i32).collect()),
    ])
    .unwrap();
    std::fs::write(dir.join("data.npz"), npz).unwrap();
    (dir.join("float.yaml"), dir.join("data.npz"))
}

fn accuracy(model: &Path, data: &Path) -> f64 {
    let r = zlmc(&["eval", &s(model), "--data", &s(data)], "");
    assert_eq!(r.code, 0, "eval {}: {}", model.display(), r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("accuracy:"))
        .unwrap_or_else(|| panic!("no accuracy in {}", r.stdout));
    line["accuracy:".len()..]
        .trim()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A float conv spec written by zlmc reads back as the same model.
#[test]
fn float_conv_specs_round_trip() {
    let dir = scratch("conv-float-spec");
    let mut rng = Rng::new(11);
    // A 2-D window padding a map of height 1 stays 2-D.
    let flat_2d = FloatMlp {
        name: "flat2d".into(),
        inputs: 10,
        layers: vec![
            conv(
                &mut rng,
                map(2, 1, 5),
                window([3, 3], [1, 2], [1; 4]),
                1,
                3,
                FloatActivation::Relu,
            ),
            dense(&mut rng, 2, 9, FloatActivation::None),
        ],
        labels: None,
        output: FloatOutput::Classes,
    };
    for mut m in [conv2d_net(&mut rng, 5), conv1d_net(&mut rng, 3), flat_2d] {
        m.labels = Some(zlmc::quant::float_spec::label_list(&m));
        for (name, data) in zlmc::quant::float_spec::float_spec_files(&m, "a test").unwrap() {
            std::fs::write(dir.path().join(name), data).unwrap();
        }
        let yaml = std::fs::read_to_string(dir.path().join("float.yaml")).unwrap();
        // Layers are named by what they are and where they stand.
        assert!(yaml.contains("- {name: conv1, conv"), "{yaml}");
        assert!(
            m.name == "flat2d" || yaml.contains("- {name: pool2, "),
            "{yaml}"
        );
        let back =
            zlmc::quant::float_spec::load_float_spec(&dir.path().join("float.yaml")).unwrap();
        assert_eq!(back, m);
    }
}

/// Makes a float network of so many classes.
type Net = fn(&mut Rng, usize) -> FloatMlp;

/// Quantized conv models answer as the float model does: int8 within 1.5
/// points of its accuracy on labelled data, int4 within 5, under every
/// activation plan; the quantized spec loads and its interpreter's answers
/// are what `zlmc eval` counted.
#[test]
fn quantized_conv_models_agree_with_float() {
    let cases: [(&str, Net, (f32, f32)); 5] = [
        ("2d", conv2d_net, (0.0, 1.0)),
        ("1d", conv1d_net, (0.0, 1.0)),
        // Negative inputs into a padded convolution: the 8-bit plan must
        // keep the input's zero point at 0, as padding reads integer 0.
        ("2d-signed", conv2d_net, (-1.0, 1.0)),
        ("2d-pool-relu", conv2d_pool_relu_net, (0.0, 1.0)),
        ("depthwise", depthwise_net, (0.0, 1.0)),
    ];
    for (seed, (tag, net, range)) in cases.into_iter().enumerate() {
        let dir = scratch(&format!("conv-quantize-{tag}"));
        let d = dir.path();
        let mut rng = Rng::new(40 + seed as u64);
        let m = net(&mut rng, 4);
        let (spec, data) = fixture(d, &m, &mut rng, 300, range);
        let float = accuracy(&spec, &data);
        assert_eq!(float, 100.0, "{tag}: the labels are the float model's");
        let plans = [
            ("int8", "8", "32", 1.5),
            ("int8", "16", "32", 1.5),
            ("int8", "auto", "32", 1.5),
            ("int8", "auto", "auto", 1.5),
            ("int8", "auto", "16", 3.0),
            ("int4", "8", "32", 5.0),
            ("int4", "16", "32", 5.0),
            ("int4", "auto", "auto", 5.0),
        ];
        for (kind, acts, accs, within) in plans {
            let out = d.join(format!("{kind}-{acts}-{accs}"));
            let args = [
                "quantize",
                &s(&spec),
                "--calibrate",
                &s(&data),
                "-o",
                &s(&out),
                "--weights",
                kind,
                "--activations",
                acts,
                "--accumulator",
                accs,
            ];
            let r = zlmc(&args, "");
            let what = format!("{tag} {kind} --activations {acts} --accumulator {accs}");
            assert_eq!(r.code, 0, "{what}: {}", r.stderr);
            let model = out.join("model.yaml");
            let acc = accuracy(&model, &data);
            eprintln!("{what}: {acc} %");
            assert!(
                acc >= float - within,
                "{what}: {acc} % against float {float} %\n{}",
                r.stdout
            );
            if accs == "auto" {
                // 16 bits only where the range analysis proves them safe;
                // and the quantized spec builds for every target.
                for target in [&["c"][..], &["avr", "--board", "uno"], &["z80"]] {
                    let (model_s, dir_s) = (s(&model), s(&out.join(target[0])));
                    let mut args = vec!["build", model_s.as_str(), "--target"];
                    args.extend_from_slice(target);
                    args.extend(["-o", dir_s.as_str()]);
                    let b = zlmc(&args, "");
                    assert_eq!(b.code, 0, "{what} {target:?}: {}", b.stderr);
                    assert!(!b.stderr.contains("accumulates in 16 bits"), "{}", b.stderr);
                }
            }
        }
    }
}

/// The zero point rule in the quantizer: a padded convolution's input keeps
/// zero point 0 even on the 8-bit plan, so that padding stands for 0.0.
#[test]
fn padded_conv_inputs_keep_zero_point_zero() {
    let mut rng = Rng::new(3);
    let m = conv2d_net(&mut rng, 4);
    let (x, _) = labelled(&m, &mut rng, 100, (-1.0, 1.0));
    let data = zlmc::quant::dataset::Dataset { x, y: Vec::new() };
    let opts = zlmc::quant::ptq::Options {
        kind: WeightKind::Int8,
        acc: zlmc::quant::ptq::AccChoice::Bits32,
        range: zlmc::quant::ptq::RangeMethod::MinMax,
        activations: zlmc::quant::ptq::ActChoice::Bits8,
    };
    let q = zlmc::quant::ptq::quantize(&m, &data, opts);
    assert_eq!(q.input.zero_point, 0);
    assert!(!q.narrow[0]);
    // The same model on non-negative inputs takes the 8-bit input.
    let (x, _) = labelled(&m, &mut rng, 100, (0.0, 1.0));
    let data = zlmc::quant::dataset::Dataset { x, y: Vec::new() };
    let q = zlmc::quant::ptq::quantize(&m, &data, opts);
    assert!(q.narrow[0] && q.input.zero_point == 0);
    // ptq's integer forward is the interpreter's.
    let model = zlmc::quant::write::to_model(&q);
    for x in &data.x {
        let input: Vec<i16> = x.iter().map(|&f| q.input.quantize(f64::from(f))).collect();
        let want = interp::step(&model.graph, &input).logits;
        let got: Vec<i16> = zlmc::quant::ptq::forward(&q, x)
            .iter()
            .map(|&v| v as i16)
            .collect();
        assert_eq!(got, want);
    }
}

/// A random integer conv model: raw input reshaped to a 1-D or 2-D map,
/// one to three conv/pool stages (strides, paddings, groups, both pools,
/// sparse-friendly zero weights, both accumulators), then one or two dense
/// layers.
fn random_conv_layers(rng: &mut Rng) -> (usize, Vec<Layer>) {
    let two_d = rng.chance(50);
    let channels = rng.range(1, 3) as usize;
    let (height, width) = if two_d {
        (rng.range(3, 7) as usize, rng.range(3, 7) as usize)
    } else {
        (1, rng.range(5, 17) as usize)
    };
    let mut shape = map(channels, height, width);
    let inputs = shape.len();
    let mut layers = Vec::new();
    let kind = rng.pick(&[
        WeightKind::Int8,
        WeightKind::Int4,
        WeightKind::Ternary,
        WeightKind::Int2,
    ]);
    let weight = |rng: &mut Rng| -> i8 {
        let (lo, hi) = kind.range();
        if rng.chance(30) {
            0
        } else {
            rng.range(lo as i64, hi as i64) as i8
        }
    };
    for _ in 0..rng.range(1, 3) {
        let k = rng.range(1, 3) as usize;
        let (kh, ph) = if shape.is_1d() {
            (1, 0)
        } else {
            (k.min(shape.height), rng.range(0, k as i64 - 1) as usize)
        };
        let kw = k.min(shape.width);
        let pw = rng.range(0, kw as i64 - 1) as usize;
        let stride = rng.range(1, 2) as usize;
        let w = window(
            [kh, kw],
            [if shape.is_1d() { 1 } else { stride }, stride],
            [ph, pw, ph, pw],
        );
        let Ok((oh, ow)) = w.output(shape.height, shape.width) else {
            continue;
        };
        if rng.chance(65) {
            let groups = if rng.chance(30) { shape.channels } else { 1 };
            let filters = groups * rng.range(1, 2) as usize;
            let cols = shape.channels / groups * kh * kw;
            let acc = rng.pick(&[Elem::I16, Elem::I32]);
            let act = rng
                .pick_ref(&[
                    None,
                    Some(Activation::Relu),
                    Some(Activation::Clamp { lo: -20, hi: 90 }),
                ])
                .clone();
            layers.push(Layer {
                kind: LayerKind::Conv {
                    input: shape,
                    window: w,
                    groups,
                },
                data: LayerData {
                    weights: DenseWeights {
                        kind,
                        rows: filters,
                        cols,
                        data: (0..filters * cols).map(|_| weight(rng)).collect(),
                    },
                    bias: (0..filters).map(|_| rng.range(-300, 300)).collect(),
                    shift: rng.range(0, 4) as u32,
                    activation: act,
                },
                acc,
            });
            shape = map(filters, oh, ow);
        } else {
            let kind_of = if rng.chance(50) {
                LayerKind::MaxPool {
                    input: shape,
                    window: w,
                }
            } else {
                let (mul, shift) = zlmc::frontend::layers::avg_divisor(kh * kw);
                LayerKind::AvgPool {
                    input: shape,
                    window: w,
                    divisor: AvgDivisor { mul, shift },
                }
            };
            let act = rng.pick_ref(&[None, Some(Activation::Relu)]).clone();
            layers.push(Layer {
                kind: kind_of,
                data: LayerData::pool(kind, act),
                acc: Elem::I16,
            });
            shape = map(shape.channels, oh, ow);
        }
    }
    let mut cols = shape.len();
    for last in [false, true] {
        if !last && rng.chance(50) {
            continue;
        }
        let rows = if last { 3 } else { rng.range(2, 6) as usize };
        layers.push(Layer {
            kind: LayerKind::Dense,
            data: LayerData {
                weights: DenseWeights {
                    kind,
                    rows,
                    cols,
                    data: (0..rows * cols).map(|_| weight(rng)).collect(),
                },
                bias: (0..rows).map(|_| rng.range(-300, 300)).collect(),
                shift: rng.range(0, 3) as u32,
                activation: if last { None } else { Some(Activation::Relu) },
            },
            acc: Elem::I32,
        });
        cols = rows;
    }
    (inputs, layers)
}

/// The conv channels of a model, in all.
fn conv_channels(m: &zlmc_ir::Model) -> usize {
    m.graph
        .node_ids()
        .into_iter()
        .filter_map(|n| match &m.graph.node(n).op {
            Op::Conv { weights, .. } => Some(weights.rows()),
            _ => None,
        })
        .sum()
}

/// The exact passes keep every random conv model's answers, drop dead
/// channels, and leave convolution kernels sparse only where a third of
/// them are zeros.
#[test]
fn passes_keep_random_conv_models_exact() {
    let mut rng = Rng::new(21);
    let (mut sparse, mut dropped) = (0, 0);
    for i in 0..150 {
        let (inputs, layers) = random_conv_layers(&mut rng);
        let model = lower_layers(
            &format!("m{i}"),
            vec![Encoder::Raw {
                len: inputs,
                quant: None,
            }],
            Decode::Classify {
                labels: vec!["a".into(), "b".into(), "c".into()],
            },
            layers,
        );
        zlmc_ir::verify::verify_model(&model).unwrap_or_else(|e| panic!("model {i}: {e}"));
        let mut optimized = model.clone();
        zlmc::passes::run_pipeline(&mut optimized, &[], |_, _| {}).unwrap();
        dropped += conv_channels(&model) - conv_channels(&optimized);
        for n in optimized.graph.node_ids() {
            match &optimized.graph.node(n).op {
                Op::Bias { .. } | Op::Shift { .. } => panic!("model {i}: an unfused bias or shift"),
                Op::Conv { weights, .. } => {
                    let zeros = (0..weights.rows())
                        .map(|r| {
                            (0..weights.cols())
                                .filter(|&c| weights.get(r, c) == 0)
                                .count()
                        })
                        .sum::<usize>();
                    let sparse_now = matches!(weights, zlmc_ir::Weights::Sparse(_));
                    sparse += usize::from(sparse_now);
                    assert_eq!(
                        sparse_now,
                        zeros > 0 && 3 * zeros >= weights.rows() * weights.cols(),
                        "model {i}"
                    );
                }
                _ => {}
            }
        }
        for _ in 0..10 {
            let x: Vec<i16> = (0..inputs).map(|_| rng.range(-300, 300) as i16).collect();
            assert_eq!(
                interp::step(&optimized.graph, &x),
                interp::step(&model.graph, &x),
                "model {i}, input {x:?}"
            );
        }
    }
    assert!(sparse > 10, "only {sparse} sparse convolutions");
    eprintln!("{sparse} sparse convolutions, {dropped} dead channels dropped");
    assert!(dropped > 5, "only {dropped} dead channels dropped");
}

/// The same on test-support's random CNNs (the backends' differential
/// models): the pipeline keeps every answer of the unoptimized model.
#[test]
fn passes_keep_test_support_conv_models_exact() {
    let mut rng = Rng::new(77);
    for i in 0..120 {
        let model = zlmc_test_support::conv_models::random_conv_model(&mut rng, &format!("r{i}"));
        let inputs = model.input_len();
        let mut optimized = model.clone();
        zlmc::passes::run_pipeline(&mut optimized, &[], |_, _| {}).unwrap();
        for _ in 0..10 {
            let x: Vec<i16> = (0..inputs).map(|_| rng.range(-2000, 2000) as i16).collect();
            assert_eq!(
                interp::step(&optimized.graph, &x),
                interp::step(&model.graph, &x),
                "model {i}, input {x:?}"
            );
        }
    }
}

/// A depthwise convolution whose kernels differ in size takes one weight
/// scale per channel, and the layer after it each channel's scale: ptq's
/// integer forward is still the interpreter's, and the logits come closer
/// to float than under one scale for the layer.
#[test]
fn depthwise_kernels_of_different_sizes_take_a_scale_each() {
    let mut rng = Rng::new(8);
    let m = depthwise_net(&mut rng, 4);
    let (x, y) = labelled(&m, &mut rng, 300, (0.0, 1.0));
    let data = zlmc::quant::dataset::Dataset { x, y };
    for kind in [WeightKind::Int8, WeightKind::Int4] {
        let opts = zlmc::quant::ptq::Options {
            kind,
            acc: zlmc::quant::ptq::AccChoice::Bits32,
            range: zlmc::quant::ptq::RangeMethod::MinMax,
            activations: zlmc::quant::ptq::ActChoice::Auto,
        };
        let q = zlmc::quant::ptq::quantize(&m, &data, opts);
        let scales = q.layers[0].channel_scales.as_ref().expect("per channel");
        assert_eq!(scales.len(), 4);
        assert!(q.layers[1].channel_scales.is_some(), "the pool keeps them");
        assert!(q.layers[2].channel_scales.is_none());
        let model = zlmc::quant::write::to_model(&q);
        for x in &data.x {
            let input: Vec<i16> = x.iter().map(|&f| q.input.quantize(f64::from(f))).collect();
            let got: Vec<i16> = zlmc::quant::ptq::forward(&q, x)
                .iter()
                .map(|&v| v as i16)
                .collect();
            assert_eq!(got, interp::step(&model.graph, &input).logits);
        }
        let wrong = zlmc::quant::ptq::disagreement(&m, &q, &data);
        assert!(wrong <= 0.015, "{kind}: {wrong}");
        // The logits' error: with one scale for the depthwise layer it is
        // 0.0074 (int8) and 0.0077 (int4); a scale per channel halves it.
        let a = zlmc::quant::agreement::measure(&m, &q, &data);
        let logits = a.layers.last().unwrap().relative_rms;
        eprintln!("depthwise {kind}: logits' relative RMS error {logits:.4}");
        assert!(logits < 0.006, "{kind}: {logits}");
    }
}
