//! The AVR backend's activations (clamp, leaky ReLU, lookup tables) in
//! simavr, bit for bit with the interpreter: each kind alone on the values
//! at its edges, and on random models of every shape and accumulator width,
//! on the Uno and (tables read with `elpm`) the Mega 2560.

use std::path::Path;

use zlmc::frontend::quantize::LayerData;
use zlmc_backends::avr::sim::run as avr_run;
use zlmc_backends::avr::Board;
use zlmc_ir::{interp, Activation, DenseWeights, Elem, Model, WeightKind};
use zlmc_test_support::models::{
    dense_mlp, digit_like_inputs, make_values, random_activation, random_inputs,
    random_model_with_activations, random_text_model, raw_classifier_with_accs,
};
use zlmc_test_support::simavr::{self, check_in_two, firmware, vector_cases};
use zlmc_test_support::{build, scratch, Rng};

/// `n` units each passing its input on (weight 1, shift 0), then `act`.
fn identity(n: usize, act: Option<Activation>) -> LayerData {
    let mut data = vec![0i8; n * n];
    for i in 0..n {
        data[i * n + i] = 1;
    }
    LayerData {
        weights: DenseWeights {
            kind: WeightKind::Int8,
            rows: n,
            cols: n,
            data,
        },
        bias: vec![0; n],
        shift: 0,
        activation: act,
    }
}

/// The inputs where `act` changes its ways, their neighbours, int16's ends
/// and random values (half of them near the interesting part).
fn edges(rng: &mut Rng, act: &Activation) -> Vec<i16> {
    let mut v: Vec<i32> = vec![i16::MIN as i32, i16::MIN as i32 + 1, -1, 0, 1, 255, 256];
    v.push(i16::MAX as i32);
    let (lo, hi) = match act {
        Activation::Relu => (-300, 300),
        Activation::Clamp { lo, hi } => (*lo as i32, *hi as i32),
        Activation::LeakyRelu { .. } => (-40_000, 0),
        Activation::Lut { lo, table } => (*lo as i32, *lo as i32 + table.len() as i32 - 1),
    };
    for e in [lo, hi] {
        v.extend([e - 1, e, e + 1]);
    }
    for _ in 0..16 {
        v.push(rng.range(lo as i64 - 2, hi as i64 + 2) as i32);
        v.push(rng.range(i16::MIN as i64, i16::MAX as i64) as i32);
    }
    v.into_iter()
        .map(|x| x.clamp(i16::MIN as i32, i16::MAX as i32) as i16)
        .collect()
}

/// Edge activations the random ones may miss: bounds at int16's ends, an
/// empty-width clamp, the steepest and shallowest slopes, full tables at
/// int16's ends in each storage form.
fn edge_activations() -> Vec<Activation> {
    let ramp = |n: usize, f: &dyn Fn(usize) -> i16| (0..n).map(f).collect::<Vec<i16>>();
    vec![
        Activation::Clamp { lo: 0, hi: 6 },
        Activation::Clamp {
            lo: i16::MIN,
            hi: 100,
        },
        Activation::Clamp {
            lo: -100,
            hi: i16::MAX,
        },
        Activation::Clamp { lo: 5, hi: 5 },
        Activation::LeakyRelu { mul: 1, shift: 15 },
        Activation::LeakyRelu { mul: 255, shift: 8 },
        Activation::LeakyRelu { mul: 1, shift: 1 },
        Activation::LeakyRelu { mul: 7, shift: 3 },
        Activation::LeakyRelu { mul: 3, shift: 5 },
        Activation::Lut {
            lo: i16::MIN,
            table: ramp(256, &|i| i as i16 - 128),
        },
        Activation::Lut {
            lo: i16::MAX - 255,
            table: ramp(256, &|i| i as i16),
        },
        Activation::Lut {
            lo: -3,
            table: ramp(2, &|i| [i16::MIN, i16::MAX][i]),
        },
    ]
}

/// Every activation kind alone (then through a following layer's walk,
/// where a lookup table must keep the walk's Z): the value at each edge.
#[test]
fn each_activation_alone_agrees_with_the_interpreter_in_simavr() {
    let tmp = scratch("avr-activations-alone");
    let mut rng = Rng::new(0xED6E);
    let mut acts = edge_activations();
    acts.extend((0..12).map(|_| random_activation(&mut rng)));
    let n = 8;
    let mut jobs = Vec::new();
    for (i, act) in acts.iter().enumerate() {
        let values = edges(&mut rng, act);
        let inputs: Vec<Vec<i16>> = values
            .chunks(n)
            .map(|c| {
                let mut x = c.to_vec();
                x.resize(n, 0);
                x
            })
            .collect();
        for walked in [false, true] {
            let mut layers = vec![(identity(n, Some(act.clone())), Elem::I16)];
            if walked {
                layers.push((identity(n, None), Elem::I16));
            }
            let name = format!("e{i}{}", if walked { "w" } else { "" });
            let mut m = raw_classifier_with_accs(&name, n, layers);
            zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
            let (lines, want) = vector_cases(&m, &inputs);
            let board = if i % 4 == 3 {
                Board::Mega2560
            } else {
                Board::Uno
            };
            jobs.push((m, lines, want, board));
        }
    }
    let lines: usize = jobs.iter().map(|j| j.1.len()).sum();
    assert_eq!(check_in_two(tmp.path(), jobs), lines);
}

/// Which kind an activation is, for counting (lookup tables by storage form).
fn kind(act: &Activation) -> &'static str {
    match act {
        Activation::Relu => "relu",
        Activation::Clamp { .. } => "clamp",
        Activation::LeakyRelu { .. } => "leaky",
        Activation::Lut { table, .. } if table.iter().all(|v| (-128..=127).contains(v)) => {
            "lut-signed"
        }
        Activation::Lut { table, .. } if table.iter().all(|v| (0..=255).contains(v)) => {
            "lut-unsigned"
        }
        Activation::Lut { .. } => "lut-words",
    }
}

/// 100 random models with every activation kind over its whole range, both
/// accumulator widths, gap-nibble and dense kernels, on the Uno and every
/// eighth on the Mega 2560.
#[test]
fn random_activations_agree_with_the_interpreter_in_simavr() {
    const N: usize = 100;
    const LINES: usize = 4;
    let tmp = scratch("avr-activations");
    let mut rng = Rng::new(0xAC7_2026);
    let mut jobs = Vec::new();
    let mut kinds: Vec<(&str, Board)> = Vec::new();
    let mut dense = 0;
    let mut values = 0;
    for i in 0..N {
        let mut m = random_model_with_activations(&mut rng, &format!("a{i}"));
        // Every fifth is a values model: the same outputs, no labels.
        if i % 5 == 4 {
            make_values(&mut m, 0.125, -3);
            values += 1;
        }
        let inputs = random_inputs(&mut rng, m.input_len(), LINES);
        let (lines, want) = vector_cases(&m, &inputs);
        // Every fourth model keeps separate bias, shift and activation nodes.
        simavr::optimize(&mut m, i % 4 == 3);
        let board = if i % 8 == 7 {
            Board::Mega2560
        } else {
            Board::Uno
        };
        if let Ok(files) = build::avr(&m, Path::new("random"), board) {
            dense += files
                .report
                .layers
                .iter()
                .filter(|l| l.coding.is_dense())
                .count();
        }
        for n in m.graph.node_ids() {
            let act = match &m.graph.node(n).op {
                zlmc_ir::Op::Activate(a) => Some(a),
                zlmc_ir::Op::Epilogue { activation, .. } => activation.as_ref(),
                _ => None,
            };
            if let Some(a) = act {
                kinds.push((kind(a), board));
            }
        }
        jobs.push((m, lines, want, board));
    }
    // Unsigned byte tables are rare among random ones: the edge test has one.
    for k in ["clamp", "leaky", "lut-signed", "lut-words"] {
        assert!(kinds.iter().any(|&(x, _)| x == k), "no {k}: {kinds:?}");
    }
    assert!(
        kinds
            .iter()
            .any(|&(x, b)| x.starts_with("lut") && b == Board::Mega2560),
        "no lookup table on the Mega 2560"
    );
    assert!(dense > 0, "no dense layer");
    let start = std::time::Instant::now();
    assert_eq!(check_in_two(tmp.path(), jobs), N * LINES);
    eprintln!(
        "avr activations: {N} random models ({values} values models) x {LINES} lines agree in \
         simavr ({} activations, {dense} dense layers, {:.0} s)",
        kinds.len(),
        start.elapsed().as_secs_f64()
    );
}

/// What each activation costs per output, measured in simavr against the
/// same layer without one (32 units passing full-range int16 inputs on, half
/// of them negative), and what `build` predicts for it: within 3 cycles an
/// output. Prints the figures (`-- --nocapture`) for docs/avr.md.
#[test]
fn activation_costs_are_measured_and_predicted() {
    let tmp = scratch("avr-activation-costs");
    let mut rng = Rng::new(0xC057);
    let n = 32;
    let inputs = random_inputs(&mut rng, n, 8)
        .into_iter()
        .step_by(4)
        .chain((0..6).map(|_| {
            (0..n)
                .map(|_| rng.range(i16::MIN as i64, i16::MAX as i64) as i16)
                .collect()
        }))
        .collect::<Vec<Vec<i16>>>();
    let tanh: Vec<i16> = (0..64)
        .map(|i| (100.0 * ((i as f64 - 32.0) / 12.0).tanh()).round() as i16)
        .collect();
    let sigmoid: Vec<i16> = (0..256)
        .map(|i| (255.0 / (1.0 + (-(i as f64 - 128.0) / 24.0).exp())).round() as i16)
        .collect();
    let gelu: Vec<i16> = (0..256)
        .map(|i| {
            let x = (i as f64 - 128.0) * 8.0;
            (x / (1.0 + (-1.702 * x / 256.0).exp())).round() as i16
        })
        .collect();
    let kinds: Vec<(&str, Option<Activation>)> = vec![
        ("none", None),
        ("relu", Some(Activation::Relu)),
        (
            "clamp 0..6 (ReLU6)",
            Some(Activation::Clamp { lo: 0, hi: 6 }),
        ),
        (
            "clamp -100..100",
            Some(Activation::Clamp { lo: -100, hi: 100 }),
        ),
        (
            "leaky 1/8 (shift 3)",
            Some(Activation::LeakyRelu { mul: 1, shift: 3 }),
        ),
        (
            "leaky 3/16 (shift 4)",
            Some(Activation::LeakyRelu { mul: 3, shift: 4 }),
        ),
        (
            "leaky 26/256 (shift 8)",
            Some(Activation::LeakyRelu { mul: 26, shift: 8 }),
        ),
        (
            "leaky 1/32768 (shift 15)",
            Some(Activation::LeakyRelu { mul: 1, shift: 15 }),
        ),
        (
            "lut 64 signed bytes",
            Some(Activation::Lut {
                lo: -32,
                table: tanh,
            }),
        ),
        (
            "lut 256 unsigned bytes",
            Some(Activation::Lut {
                lo: -128,
                table: sigmoid,
            }),
        ),
        (
            "lut 256 words",
            Some(Activation::Lut {
                lo: -128,
                table: gelu,
            }),
        ),
    ];
    let mut base: Option<(u64, usize, usize, usize)> = None;
    eprintln!("activation (per output, Uno)      cycles  predicted  code bytes  table bytes");
    for (i, (what, act)) in kinds.into_iter().enumerate() {
        let mut m =
            raw_classifier_with_accs(&format!("c{i}"), n, vec![(identity(n, act), Elem::I16)]);
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        let files = build::avr(&m, Path::new("costs"), Board::Uno).expect("fits");
        let predicted = files.report.layers[0].cycles.expected;
        let (lines, want) = vector_cases(&m, &inputs);
        let fw = firmware(&m, Board::Uno, &tmp.path().join(&m.name));
        let got = avr_run(&fw, &lines).unwrap_or_else(|d| panic!("{what}: {d}"));
        for (g, w) in got.answers.iter().zip(&want) {
            assert_eq!(String::from_utf8_lossy(g), *w, "{what}");
        }
        let cycles: u64 = got.steps.iter().flatten().sum::<u64>() / inputs.len() as u64;
        let (code, tables) = (files.report.code, files.report.tables);
        let Some((c0, p0, code0, tables0)) = base else {
            base = Some((cycles, predicted, code, tables));
            continue;
        };
        let per = (cycles as f64 - c0 as f64) / n as f64;
        let per_predicted = (predicted as f64 - p0 as f64) / n as f64;
        eprintln!(
            "{what:<32} {per:>7.1} {per_predicted:>10.1} {:>11} {:>12}",
            code as i64 - code0 as i64,
            tables - tables0
        );
        // ReLU's cost is in the kernels' figures (it predicts 0).
        if !what.starts_with("relu") {
            assert!(
                (per - per_predicted).abs() <= 3.0,
                "{what}: {per:.1} cycles an output measured, {per_predicted:.1} predicted"
            );
        }
    }
}

/// `m` with a random activation (see [`random_activation`]) in place of
/// each of its activations.
fn with_random_activations(rng: &mut Rng, mut m: Model) -> (Model, usize) {
    let mut count = 0;
    for n in m.graph.node_ids() {
        match &mut m.graph.node_mut(n).op {
            zlmc_ir::Op::Activate(a)
            | zlmc_ir::Op::Epilogue {
                activation: Some(a),
                ..
            } => {
                *a = random_activation(rng);
                count += 1;
            }
            _ => {}
        }
    }
    (m, count)
}

/// Text models (classifiers over query trigrams, generators over the query
/// and their reply's context) with random activations: layer 1 walks bucket
/// counts, later walks take the activations in; the replies agree.
#[test]
fn text_models_with_activations_agree_with_the_interpreter_in_simavr() {
    const N: usize = 16;
    let tmp = scratch("avr-activations-text");
    let mut rng = Rng::new(0x7E87);
    let mut jobs = Vec::new();
    let mut activations = 0;
    for i in 0..N {
        let m = random_text_model(&mut rng, &format!("t{i}"), i % 2 == 0, 120);
        let (mut m, count) = with_random_activations(&mut rng, m);
        activations += count;
        let queries: Vec<Vec<u8>> = (0..3)
            .map(|k| {
                let len = rng.range(0, 30) as usize;
                (0..len + k)
                    .map(|_| rng.pick(b"abcdefghijklmnopqrstuvwxyz ?!,."))
                    .collect()
            })
            .collect();
        let want = queries
            .iter()
            .map(|q| String::from_utf8_lossy(&interp::reply(&m, q).0).into_owned())
            .collect();
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        let board = if i % 4 == 3 {
            Board::Mega2560
        } else {
            Board::Uno
        };
        jobs.push((m, queries, want, board));
    }
    assert!(activations >= N, "{activations} activations");
    assert_eq!(check_in_two(tmp.path(), jobs), N * 3);
}

/// A Mega 2560 model whose tables pass 64 KB: its lookup table lies beyond
/// them, read with `elpm` (RAMPZ from `hh8`, kept around the read in the walk).
#[test]
fn a_lookup_table_beyond_64k_on_the_mega2560() {
    let tmp = scratch("avr-activations-far");
    let mut rng = Rng::new(0xFA7);
    let layer = |rows: usize, cols: usize, act: Activation, rng: &mut Rng| LayerData {
        weights: DenseWeights {
            kind: WeightKind::Int2,
            rows,
            cols,
            data: (0..rows * cols).map(|_| rng.pick(&[-2i8, -1, 1])).collect(),
        },
        bias: (0..rows).map(|_| rng.range(-300, 300)).collect(),
        shift: 6,
        activation: Some(act),
    };
    let table: Vec<i16> = (0..256).map(|i| (i as i16 - 128) * 100).collect();
    let l1 = layer(320, 256, Activation::Lut { lo: -128, table }, &mut rng);
    let l2 = layer(
        200,
        320,
        Activation::LeakyRelu { mul: 5, shift: 4 },
        &mut rng,
    );
    let l3 = layer(8, 200, Activation::Clamp { lo: -50, hi: 50 }, &mut rng);
    let layers = vec![(l1, Elem::I16), (l2, Elem::I16), (l3, Elem::I16)];
    let mut m = raw_classifier_with_accs("farlut", 256, layers);
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    let inputs: Vec<Vec<i16>> = (0..6)
        .map(|k| {
            (0..256)
                .map(|_| rng.range(-(4 << k), 4 << k) as i16)
                .collect()
        })
        .collect();
    let (lines, want) = vector_cases(&m, &inputs);
    let fw = firmware(&m, Board::Mega2560, tmp.path());
    assert!(
        fw.files.report.tables > 65_536,
        "{}",
        fw.files.report.tables
    );
    assert!(fw.files.asm.contains(".section .text.farlut_tables"));
    let got = avr_run(&fw, &lines).expect("runs");
    for (k, (g, w)) in got.answers.iter().zip(&want).enumerate() {
        assert_eq!(String::from_utf8_lossy(g), *w, "line {k}");
    }
}

/// Dense 64 → 32 → 15 → 10 models whose hidden activations give negative
/// outputs (a leaky ReLU, a clamp to −100..100: the dense kernels' second
/// pass runs at every step) or bytes (a clamp to 0..255: it never does), at
/// both weight kinds and accumulator widths: `build`'s expected cycles
/// within 10 % of simavr's on digit-like inputs.
#[test]
fn dense_layers_after_activations_are_predicted() {
    let tmp = scratch("avr-activations-dense");
    let acts = [
        ("leaky", Activation::LeakyRelu { mul: 3, shift: 5 }),
        ("clamp_byte", Activation::Clamp { lo: 0, hi: 255 }),
        ("clamp_signed", Activation::Clamp { lo: -100, hi: 100 }),
    ];
    for acc in [Elem::I16, Elem::I32] {
        for kind in [WeightKind::Int8, WeightKind::Int4] {
            for (what, act) in &acts {
                let mut rng = Rng::new(5);
                let name = format!("d{}{}_{what}", acc.bits(), kind.name());
                let mut m = dense_mlp(&mut rng, &name, kind, acc, &[64, 32, 15, 10]);
                for n in m.graph.node_ids() {
                    match &mut m.graph.node_mut(n).op {
                        zlmc_ir::Op::Activate(a)
                        | zlmc_ir::Op::Epilogue {
                            activation: Some(a),
                            ..
                        } => *a = act.clone(),
                        _ => {}
                    }
                }
                zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
                let files = build::avr(&m, Path::new("dense"), Board::Uno).expect("fits");
                assert!(files.report.layers.iter().all(|l| l.coding.is_dense()));
                let predicted: usize = files.report.layers.iter().map(|l| l.cycles.expected).sum();
                let inputs = digit_like_inputs(&mut rng, 64, 10);
                let (lines, want) = vector_cases(&m, &inputs);
                let fw = firmware(&m, Board::Uno, &tmp.path().join(&name));
                let got = avr_run(&fw, &lines).unwrap_or_else(|d| panic!("{name}: {d}"));
                for (g, w) in got.answers.iter().zip(&want) {
                    assert_eq!(String::from_utf8_lossy(g), *w, "{name}");
                }
                let measured = got.steps.iter().flatten().sum::<u64>() / inputs.len() as u64;
                let off = predicted as f64 / measured as f64 - 1.0;
                eprintln!("{name}: {predicted} cycles predicted, {measured} measured");
                assert!(
                    off.abs() <= 0.10,
                    "{name}: {predicted} cycles predicted, {measured} measured"
                );
            }
        }
    }
}
