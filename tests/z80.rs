//! The Z80 backend: CP/M programs run on zlmc's Z80 emulator give the
//! interpreter's replies bit for bit, and their `.asm` assembles with z80asm
//! and pasmo to the very bytes of zlmc's `.COM`.

use std::path::Path;

use std::collections::BTreeMap;
use zlmc_backends::z80::target::z80_reply;

use zlmc_ir::{interp, Activation, Model, Op, WeightKind};
use zlmc_test_support::build::{self, assert_assemblers_agree, Z80Files};
use zlmc_test_support::models::{
    check_int8_text_models, random_query, random_text_model, random_text_model_of,
    random_text_model_with_activations, z80ai_model,
};
use zlmc_test_support::{
    assert_same_reply, assert_tinychat_sim_reproduces_expected, assert_within_budget, example,
    figure_after, tinychat, zlmc, Rng,
};

fn build(model: &Model) -> Z80Files {
    let mut m = model.clone();
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    build::z80(&m, Path::new("random")).unwrap_or_else(|e| panic!("{}: {e}", model.name))
}

/// Build `m` for CP/M and check its replies to `first` and `n - 1` random
/// queries against the interpreter's; how many were checked.
fn agree(m: &Model, rng: &mut Rng, first: &[u8], n: usize) -> usize {
    agree_on(&build(m), m, rng, first, n)
}

/// [`agree`] for the program `z` built from `m`.
fn agree_on(z: &Z80Files, m: &Model, rng: &mut Rng, first: &[u8], n: usize) -> usize {
    for k in 0..n {
        let q = if k == 0 {
            first.to_vec()
        } else {
            random_query(rng)
        };
        let want = interp::reply(m, &q).0;
        let (got, run) = z80_reply(&z.com, z.step_entry, &q).expect("runs");
        assert_same_reply(&m.name, &q, &got.reply, &want);
        assert!(run.highest_write < 0xDC00, "writes stay below the CCP");
    }
    n
}

#[test]
fn random_models_agree_with_the_interpreter_on_the_emulator() {
    let mut rng = Rng::new(0x0280_2026);
    let mut outputs = 0;
    let mut models = 0;
    while models < 100 {
        let generate = models % 2 == 0;
        let m = if models % 10 == 9 {
            // Wide: a layer of more than 256 units, more than one page.
            let wide = 257 + rng.index(140);
            z80ai_model(&mut rng, &format!("w{models}"), &[wide, 40], 20, 90, 8)
        } else {
            random_text_model(&mut rng, &format!("z{models}"), generate, 200)
        };
        let kind = match &m
            .graph
            .node(m.graph.find(|op| matches!(op, zlmc_ir::Op::MatMul { .. }))[0])
            .op
        {
            zlmc_ir::Op::MatMul { weights, .. } => weights.kind(),
            _ => unreachable!(),
        };
        if kind == WeightKind::Int8 {
            // int8 weights become up to 128 repeated entries: layers this
            // wide seldom fit CP/M; random_int8_models_… runs narrower ones.
            continue;
        }
        outputs += agree(&m, &mut rng, b"   ", 4);
        models += 1;
    }
    assert_eq!(outputs, 400);
}

/// int8 weights, which the layout writes as up to 128 repeated entries: each
/// random model either gives the interpreter's replies or is refused for the
/// memory it would need; most fit (22 of 30 today).
#[test]
fn random_int8_models_agree_or_are_refused_for_their_size() {
    let mut rng = Rng::new(0x0280_0008);
    let fitted = check_int8_text_models(&mut rng, 30, 40, |m, rng| {
        let z = build::z80(m, Path::new("random")).map_err(|e| e.to_string())?;
        agree_on(&z, m, rng, b"   ", 4);
        Ok(())
    });
    assert!(fitted >= 20, "only {fitted} of 30 int8 models fit");
}

/// z80ai's default architecture with every unit alive, and a wider one (a
/// layer of 384 units takes two accumulator pages, its 384 columns two
/// table pages), at tinychat's density (80% zeros here) and sparser: built
/// for CP/M, equal to the interpreter. The dense wider one's records do not
/// all fit CP/M's memory unpacked: some layers keep theirs nibble-coded.
#[test]
fn wide_z80ai_models_agree_with_the_interpreter_on_the_emulator() {
    let mut rng = Rng::new(0x5a80_0011);
    for (name, hidden, classes, zeros) in [
        ("wide1", &[256, 192, 128][..], 40, 80),
        ("wide2", &[384, 160, 96][..], 24, 85),
        ("wide2dense", &[384, 160, 96][..], 24, 80),
    ] {
        let m = z80ai_model(&mut rng, name, hidden, classes, zeros, 12);
        assert_eq!(agree(&m, &mut rng, b"hello", 50), 50);
    }
}

/// The weight kind of `m`'s first layer.
fn first_kind(m: &Model) -> WeightKind {
    match &m
        .graph
        .node(m.graph.find(|op| matches!(op, Op::MatMul { .. }))[0])
        .op
    {
        Op::MatMul { weights, .. } => weights.kind(),
        _ => unreachable!(),
    }
}

/// Which way an activation other than ReLU took `x`: its kind, and below,
/// inside or above its range (leaky ReLU: negative or not; a lookup
/// table: kept as bytes or words, as the Z80 keeps it).
fn branch(a: &Activation, x: i16) -> Option<String> {
    let side = |lo: i32, hi: i32| match i32::from(x) {
        v if v < lo => "below",
        v if v > hi => "above",
        _ => "inside",
    };
    Some(match a {
        Activation::Relu => return None,
        Activation::Clamp { lo: 0, hi } => format!("clamp from 0 {}", side(0, (*hi).into())),
        Activation::Clamp { lo, hi } => format!("clamp {}", side((*lo).into(), (*hi).into())),
        Activation::LeakyRelu { .. } => {
            format!("leaky_relu {}", if x < 0 { "below" } else { "inside" })
        }
        Activation::Lut { lo, table } => {
            let bytes = table.iter().all(|&v| i8::try_from(v).is_ok());
            let lo = i32::from(*lo);
            format!(
                "lut {} {}",
                if bytes { "bytes" } else { "words" },
                side(lo, lo + table.len() as i32 - 1)
            )
        }
    })
}

/// Counts, into `seen`, which way each unit's activation took the first
/// step of `query` in `m` (see [`branch`]).
fn count_branches(m: &Model, query: &[u8], seen: &mut BTreeMap<String, usize>) {
    let ctx = vec![b' '; interp::context_length(m)];
    let vals = interp::eval(&m.graph, &interp::encode(m, query, &ctx));
    let vec = |n| match &vals[&n] {
        interp::Value::Vec(v) => v.clone(),
        interp::Value::Index(_) => unreachable!("a vector"),
    };
    for n in m.graph.topo_order().unwrap() {
        let (xs, act) = match &m.graph.node(n).op {
            Op::Activate(a) => (vec(m.graph.operands(n)[0]), a),
            Op::Epilogue {
                bias,
                shift,
                activation: Some(a),
            } => {
                let acc = vec(m.graph.operands(n)[0]);
                let x = acc
                    .iter()
                    .zip(bias)
                    .map(|(&s, &b)| zlmc_ir::op::shift_to_i16(i64::from((s + b) as i16), *shift))
                    .collect();
                (x, a)
            }
            _ => continue,
        };
        for x in xs {
            if let Some(b) = branch(act, x as i16) {
                *seen.entry(b).or_default() += 1;
            }
        }
    }
}

/// Every activation, through the Z80's epilogues (hidden and last layers,
/// lookup tables as bytes and as words), gives the interpreter's replies
/// bit for bit on 100 random models (a quarter of them with clamps from 0
/// only, the ReLU6 path); each way through each activation is
/// taken many times; the first models' `.asm` assembles to the `.COM` with
/// z80asm and pasmo.
#[test]
fn random_activations_agree_with_the_interpreter_on_the_emulator() {
    let mut rng = Rng::new(0xac71_2026);
    let mut seen = BTreeMap::new();
    let mut models = 0;
    while models < 100 {
        let generate = models % 2 == 0;
        let mut m =
            random_text_model_with_activations(&mut rng, &format!("act{models}"), generate, 120);
        if models % 4 == 3 {
            // Clamps from 0 (ReLU6), whose hidden epilogues skip negative rows as ReLU's do.
            for n in m.graph.find(|op| matches!(op, Op::Activate(_))) {
                let hi = rng.pick(&[0, 1, 6, 127, 255, 256, 1000, i16::MAX]);
                m.graph.node_mut(n).op = Op::Activate(Activation::Clamp { lo: 0, hi });
            }
        }
        let others = m.graph.find(|op| {
            matches!(op, Op::Activate(a) | Op::Epilogue { activation: Some(a), .. } if *a != Activation::Relu)
        });
        if first_kind(&m) == WeightKind::Int8 || others.is_empty() {
            continue;
        }
        let z = build(&m);
        if models < 12 {
            // The activations' code and tables print as both assemblers read them.
            assert_assemblers_agree(&z, &m.name);
        }
        for k in 0..4 {
            let q = if k == 0 {
                b"   ".to_vec()
            } else {
                random_query(&mut rng)
            };
            count_branches(&m, &q, &mut seen);
            let want = interp::reply(&m, &q).0;
            let (got, _) = z80_reply(&z.com, z.step_entry, &q).expect("runs");
            assert_same_reply(&m.name, &q, &got.reply, &want);
        }
        models += 1;
    }
    for kind in ["clamp", "clamp from 0", "lut bytes", "lut words"] {
        for side in ["below", "inside", "above"] {
            let n = seen.get(&format!("{kind} {side}")).copied().unwrap_or(0);
            assert!(n >= 20, "{kind} {side}: {n} times in {seen:?}");
        }
    }
    for side in ["below", "inside"] {
        let n = seen
            .get(&format!("leaky_relu {side}"))
            .copied()
            .unwrap_or(0);
        assert!(n >= 20, "leaky_relu {side}: {n} times in {seen:?}");
    }
    eprintln!("ways through the activations: {seen:?}");
}

/// Activations in layers of more than 256 units (their epilogues a page at
/// a time) and in layers whose next layer is nibble-coded (the dense wide
/// model's records do not all fit unpacked): z80ai's wider shapes with a
/// leaky ReLU, a lookup table and a clamp for their ReLUs, or clamps from 0.
#[test]
fn wide_models_with_activations_agree_with_the_interpreter_on_the_emulator() {
    let mut rng = Rng::new(0x5a80_ac71);
    let acts = [
        Activation::LeakyRelu { mul: 13, shift: 7 },
        Activation::Lut {
            lo: -20,
            table: (0..200).map(|i| (i * 37 % 301 - 150) as i16).collect(),
        },
        Activation::Clamp { lo: -30, hi: 400 },
    ];
    let relu6 = [
        Activation::Clamp { lo: 0, hi: 200 },
        Activation::Clamp { lo: 0, hi: 6 },
        Activation::Clamp { lo: 0, hi: 90 },
    ];
    for (name, zeros, acts) in [
        ("wide2", 85, &acts),
        ("wide2dense", 80, &acts),
        ("wide2relu6", 80, &relu6),
    ] {
        let mut m = z80ai_model(&mut rng, name, &[384, 160, 96], 24, zeros, 12);
        let relus = m
            .graph
            .find(|op| matches!(op, Op::Activate(Activation::Relu)));
        assert_eq!(relus.len(), acts.len());
        for (n, a) in relus.into_iter().zip(acts) {
            m.graph.node_mut(n).op = Op::Activate(a.clone());
        }
        assert_eq!(agree(&m, &mut rng, b"hello", 20), 20);
    }
}

#[test]
fn asm_assembles_to_the_com_with_z80asm_and_pasmo() {
    let mut rng = Rng::new(77);
    let mut specs: Vec<Model> = (0..4)
        .map(|i| random_text_model(&mut rng, &format!("a{i}"), i % 2 == 0, 60))
        .collect();
    specs.retain(|m| {
        !matches!(&m.graph.node(m.graph.find(|op| matches!(op, zlmc_ir::Op::MatMul { .. }))[0]).op,
            zlmc_ir::Op::MatMul { weights, .. } if weights.kind() == WeightKind::Int8)
    });
    // One small int8 model: its repeated entries.
    specs.push(random_text_model_of(
        &mut rng,
        "a8",
        true,
        WeightKind::Int8,
        12,
    ));
    specs.push(zlmc::driver::load(&example("commands")).unwrap());
    // Pages of rows, segments, and records ready, packed and nibble-coded.
    specs.push(z80ai_model(&mut rng, "wide", &[384, 160, 96], 24, 80, 12));
    if let Some(t) = tinychat("asm_assembles_to_the_com_with_z80asm_and_pasmo") {
        specs.push(t.model.clone());
    }
    for m in &specs {
        let z = build(m);
        assert_assemblers_agree(&z, &m.name);
    }
}

#[test]
fn tinychat_reproduces_expected_tsv_on_the_emulator() {
    let Some(report) = assert_tinychat_sim_reproduces_expected("z80") else {
        return;
    };
    // T-states are the emulator's, deterministic: budgets about 3 % above
    // the figures measured when they were pinned.
    let per_step = figure_after(&report, "T-states per inference step: average ");
    assert_within_budget("tinychat's T-states per step on CP/M", per_step, 405_500); // 393,726
    let chat = figure_after(&report, "chat mode (one run, the queries typed): ");
    assert_within_budget("tinychat's T-states per step in chat mode", chat, 415_200);
    // 403,167
}

/// What a Z80 cannot count is refused by the spec's validator with the
/// limit's name, for both Z80 targets, before any code is generated.
#[test]
fn replies_and_contexts_the_z80_cannot_count_are_refused() {
    let Some(t) = tinychat("replies_and_contexts_the_z80_cannot_count_are_refused") else {
        return;
    };
    let spec = std::fs::read_to_string(&t.spec).unwrap();
    for (from, to, want) in [
        (
            "max_length: 50",
            "max_length: 65536",
            "max_length 65536 must be 1..=65535",
        ),
        (
            "length: 8}",
            "length: 256}",
            "context length 256 must be 1..=",
        ),
    ] {
        let bad = spec.replacen(from, to, 1);
        assert_ne!(bad, spec, "the imported spec changed: update this test");
        let p = t.dir.path().join("bad.yaml");
        std::fs::write(&p, bad).unwrap();
        for target in ["z80", "zx48"] {
            let out = t.dir.path().join(format!("out-{target}"));
            let r = zlmc(
                &[
                    "build",
                    p.to_str().unwrap(),
                    "--target",
                    target,
                    "-o",
                    out.to_str().unwrap(),
                ],
                "",
            );
            assert_ne!(r.code, 0, "{target}: {to} was built");
            assert!(
                r.stderr.contains(want) && !r.stderr.contains("internal"),
                "{}",
                r.stderr
            );
            assert!(!out.exists());
        }
    }
}
