//! Training (issue 20): the QAT forward pass is the interpreter's
//! arithmetic bit for bit, training is deterministic, and it learns.

use zlmc::train::net::Net;
use zlmc::train::{train, Samples, TrainOptions};
use zlmc_ir::interp::step;
use zlmc_ir::{Elem, Model, WeightKind};
use zlmc_test_support::conv_models::random_conv_model;
use zlmc_test_support::models::{
    dense_mlp, random_inputs, random_model, random_model_of, random_model_with_activations,
};
use zlmc_test_support::Rng;

/// The net's exact forward pass against `interp::step` on `inputs`.
fn assert_forward_is_interp(m: &Model, inputs: &[Vec<i16>], threads: usize) {
    let net = Net::from_model(m, false).expect("a chain");
    let x: Vec<f32> = inputs.iter().flatten().map(|&v| v as f32).collect();
    let t = net.forward(x, inputs.len(), threads);
    for (z, input) in t.output().chunks(net.outputs()).zip(inputs) {
        let want = step(&m.graph, input).logits;
        let got: Vec<i16> = z.iter().map(|&v| v as i16).collect();
        assert!(z.iter().all(|v| v.fract() == 0.0));
        assert_eq!(got, want, "{}: input {input:?}", m.name);
    }
}

/// Random models of every kind, accumulator and activation, with
/// accumulators that wrap: the forward pass is the interpreter's.
#[test]
fn forward_pass_is_the_interpreter_on_random_models() {
    let mut rng = Rng::new(2020);
    for i in 0..60 {
        let m = match i % 3 {
            0 => random_model(&mut rng, "r"),
            1 => random_model_with_activations(&mut rng, "a"),
            _ => {
                let kind = WeightKind::ALL[i % 5];
                let acc = if i % 2 == 0 { Elem::I16 } else { Elem::I32 };
                random_model_of(&mut rng, "k", kind, acc, 80)
            }
        };
        let inputs = random_inputs(&mut rng, m.input_len(), 12);
        assert_forward_is_interp(&m, &inputs, 1 + i % 2);
        // The optimized form (fused epilogues, sparse weights) reads the same.
        let mut o = m.clone();
        zlmc::driver::optimize(&mut o, &[], |_, _| {}).expect("passes");
        if o.graph
            .find(|op| matches!(op, zlmc_ir::Op::MatMul { .. }))
            .len()
            == m.graph
                .find(|op| matches!(op, zlmc_ir::Op::MatMul { .. }))
                .len()
        {
            assert_forward_is_interp(&o, &inputs, 2);
        }
    }
}

/// Random CNNs (1-D and 2-D maps, strides, padding, groups and depthwise,
/// max and padded average pools, every weight kind, sparse weights,
/// accumulators that wrap): the forward pass is the interpreter's, before
/// training and after a few epochs of it, optimized or not.
#[test]
fn forward_pass_is_the_interpreter_on_random_cnns_before_and_after_training() {
    let mut rng = Rng::new(2121);
    let mut changed = 0;
    for i in 0..60 {
        let m = random_conv_model(&mut rng, "c");
        let inputs = random_inputs(&mut rng, m.input_len(), 6);
        assert_forward_is_interp(&m, &inputs, 1 + i % 2);
        let mut o = m.clone();
        zlmc::driver::optimize(&mut o, &[], |_, _| {}).expect("passes");
        assert_forward_is_interp(&o, &inputs, 2);
        if i % 6 == 0 {
            let data = samples(&mut rng, &m, 24);
            let opts = TrainOptions {
                epochs: 2,
                batch: 8,
                patience: 0,
                holdout: 0.0,
                threads: 2,
                ..TrainOptions::default()
            };
            let (t, _) = train(&m, &data, &opts, &mut |_| {}, None).expect("trains");
            assert_forward_is_interp(&t, &data.inputs, 1);
            let start = Net::from_model(&m, false).unwrap().to_model(&m);
            changed += usize::from(t != start);
        }
    }
    assert!(changed >= 5, "training changed {changed} of 10 models");
}

/// Small random examples for `m`, labelled by a random teacher.
fn samples(rng: &mut Rng, m: &Model, n: usize) -> Samples {
    let inputs = random_inputs(rng, m.input_len(), n);
    let classes = m.classes();
    let teacher: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            (0..classes)
                .map(|_| rng.range(-300, 300) as f32 / 100.0)
                .collect()
        })
        .collect();
    let labels = teacher
        .iter()
        .map(|t| zlmc::train::loss::argmax(t) as u32)
        .collect();
    Samples {
        inputs,
        labels: Some(labels),
        teacher: Some(teacher),
        ..Samples::default()
    }
}

/// Trained weights of every kind: the model `train` returns is what the
/// interpreter runs, and the same seed gives the same model whatever the
/// thread count.
#[test]
fn trained_models_run_in_the_interpreter_as_trained_and_replay() {
    let mut rng = Rng::new(77);
    for (i, kind) in WeightKind::ALL.into_iter().enumerate() {
        for acc in [Elem::I16, Elem::I32] {
            let m = random_model_of(&mut rng, "t", kind, acc, 24);
            let data = samples(&mut rng, &m, 80);
            let opts = |threads| TrainOptions {
                epochs: 3,
                batch: 16,
                seed: i as u64,
                threads,
                patience: 0,
                holdout: 0.25,
                ..TrainOptions::default()
            };
            let (a, hist) = train(&m, &data, &opts(1), &mut |_| {}, None).expect("trains");
            assert_eq!(hist.len(), 4, "epoch 0 and three epochs");
            let (b, hist2) = train(&m, &data, &opts(2), &mut |_| {}, None).expect("trains");
            assert_eq!(a, b, "{kind}: same seed, same model");
            let bits = |h: &[zlmc::train::EpochReport]| -> Vec<u64> {
                h.iter().map(|r| r.loss.to_bits()).collect()
            };
            assert_eq!(bits(&hist), bits(&hist2));
            assert_forward_is_interp(&a, &data.inputs, 2);
        }
    }
}

/// On a learnable problem (labels from a hidden integer model) training
/// raises held-out accuracy well above the start's.
#[test]
fn training_learns_a_teacher() {
    let mut rng = Rng::new(5);
    let shape = [20, 16, 5];
    let teacher = dense_mlp(&mut rng, "teacher", WeightKind::Int4, Elem::I32, &shape);
    let inputs = random_inputs(&mut rng, teacher.input_len(), 600);
    let labels: Vec<u32> = inputs
        .iter()
        .map(|x| step(&teacher.graph, x).class as u32)
        .collect();
    let data = Samples {
        inputs,
        labels: Some(labels),
        ..Samples::default()
    };
    let student = dense_mlp(&mut rng, "student", WeightKind::Int4, Elem::I32, &shape);
    let opts = TrainOptions {
        epochs: 10,
        ..TrainOptions::default()
    };
    let (_, h) = train(&student, &data, &opts, &mut |_| {}, None).expect("trains");
    let best = h.iter().map(|r| r.held_out_metric).fold(0.0, f64::max);
    assert!(best > h[0].held_out_metric + 0.2, "{h:?}");
}

/// The training benchmark (docs/training.md): one epoch of a tinychat-sized
/// model (256 → 256 → 192 → 128 → 40, 2-bit weights, ReLU) on 20,000
/// random examples (and 200 held out, whose scoring is part of an epoch),
/// batch 64, 2 threads, the median of 3 epochs; compare with
/// `scripts/bench_train_torch.py`. A figure, not a pass/fail test:
/// `cargo test --release --test train bench_training -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: run on purpose with --release"]
fn bench_training_epoch_tinychat_sized() {
    let mut rng = Rng::new(1);
    let m = zlmc_test_support::models::z80ai_model(&mut rng, "bench", &[256, 192, 128], 40, 74, 30);
    let n = 20_200;
    let inputs: Vec<Vec<i16>> = (0..n)
        .map(|_| {
            (0..256)
                .map(|_| {
                    if rng.chance(5) {
                        32 * rng.range(0, 3) as i16
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let labels = (0..n).map(|_| rng.range(0, 39) as u32).collect();
    let data = Samples {
        inputs,
        labels: Some(labels),
        ..Samples::default()
    };
    let opts = TrainOptions {
        epochs: 4,
        batch: 64,
        threads: 2,
        holdout: 200.0 / n as f64,
        patience: 0,
        ..TrainOptions::default()
    };
    let mut stamps = Vec::new();
    train(&m, &data, &opts, &mut |r| stamps.push(r.seconds), None).expect("trains");
    // Epoch 1 warms up; epochs 2 to 4 are timed.
    let mut epochs: Vec<f64> = stamps.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
    epochs.sort_by(f64::total_cmp);
    println!(
        "zlmc: threads 2, batch 64, 20000 examples: {:.3} s per epoch (median of 3)",
        epochs[1]
    );
}
