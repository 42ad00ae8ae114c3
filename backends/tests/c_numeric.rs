//! The generated C's inference step, compiled with gcc, against the reference
//! interpreter, bit for bit, on random and hand-picked chain models.

mod c_common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use c_common::*;
use zlmc_ir::interp;
use zlmc_ir::{Activation, Elem, Model, Op, WeightKind};
use zlmc_test_support::models::{make_values, random_model_with_activations};
use zlmc_test_support::tools::{gcc, run_exe};

/// Random input vectors of length `n`: zeros, extremes, sparse, small and full-range.
fn inputs(rng: &mut Rng, n: usize) -> Vec<Vec<i16>> {
    let mut v = vec![vec![0; n], vec![i16::MAX; n], vec![i16::MIN; n]];
    for pattern in 0..6 {
        v.push(
            (0..n)
                .map(|_| match pattern {
                    0 | 1 if rng.chance(85) => 0,
                    0 => rng.range(-3, 3) as i16,
                    1 => rng.pick(&[i16::MIN, i16::MAX, -1, 1]),
                    2 => rng.range(-200, 200) as i16,
                    _ => rng.next_u64() as i16,
                })
                .collect(),
        );
    }
    v
}

/// A random chain model: 1–3 layers in random spellings, maybe elementwise ops on the input.
fn random_model(rng: &mut Rng, name: &str) -> Model {
    const WIDTHS: &[usize] = &[1, 2, 3, 7, 16, 31, 64, 100, 255, 256, 257, 300];
    let small = |rng: &mut Rng| rng.pick(&WIDTHS[..8]);
    let inputs = if rng.chance(20) {
        rng.pick(WIDTHS)
    } else {
        small(rng)
    };
    let layers = 1 + rng.below(3) as usize;
    let mut ops = Vec::new();
    if rng.chance(15) {
        ops.extend(input_ops(rng, inputs));
    }
    let mut cols = inputs;
    for l in 0..layers {
        let rows = if rng.chance(15) {
            rng.pick(WIDTHS)
        } else {
            small(rng)
        };
        let kind = rng.pick(&WeightKind::ALL);
        let density = rng.pick(&[0, 3, 30, 70, 100]);
        let acc = rng.pick(&[Elem::I16, Elem::I32]);
        let spec = LayerSpec::random(rng, rows, cols, kind, density, acc);
        let form = Form {
            sparse: rng.chance(50),
            fused: rng.chance(40),
            minimal: rng.chance(50),
        };
        let mut layer = spec.ops(form);
        // A second bias in the accumulator's width, as an unoptimised graph may have.
        if !form.fused && rng.chance(15) {
            let (lo, hi) = match acc {
                Elem::I16 => (i16::MIN as i64, i16::MAX as i64),
                Elem::I32 => (i32::MIN as i64, i32::MAX as i64),
            };
            let values = (0..rows).map(|_| rng.range(lo, hi)).collect();
            layer.insert(1, Op::Bias { values });
        }
        ops.extend(layer);
        if l + 1 < layers && rng.chance(10) {
            ops.push(Op::Activate(Activation::Relu));
        }
        cols = rows;
    }
    raw_model(name, chain(inputs, ops))
}

/// Elementwise ops applied to the i16 input before the first matmul.
fn input_ops(rng: &mut Rng, n: usize) -> Vec<Op> {
    let bias = |rng: &mut Rng| (0..n).map(|_| rng.range(-32768, 32767)).collect();
    let mut ops = Vec::new();
    for _ in 0..1 + rng.below(3) {
        ops.push(match rng.below(4) {
            0 => Op::Bias { values: bias(rng) },
            1 => Op::Shift {
                amount: rng.below(16) as u32,
            },
            2 => Op::Activate(Activation::Relu),
            _ => Op::Epilogue {
                bias: bias(rng),
                shift: rng.below(16) as u32,
                activation: rng.chance(50).then_some(Activation::Relu),
            },
        });
    }
    ops
}

/// A driver that reads `model values…` lines and prints `logits… : step-class predict`.
fn driver(models: &[Model]) -> String {
    let mut s = DRIVER_PRELUDE.to_string();
    for m in models {
        writeln!(s, "#include \"{}.h\"", m.name).unwrap();
    }
    s.push_str(
        "\nstruct model {\n    unsigned inputs, classes;\n    \
         void (*step)(const int16_t *, int16_t *);\n    uint16_t (*predict)(const int16_t *);\n};\n\n\
         static const struct model models[] = {\n",
    );
    for m in models {
        let up = m.name.to_ascii_uppercase();
        writeln!(
            s,
            "    {{ {up}_INPUTS, {up}_CLASSES, {0}_step, {0}_predict }},",
            m.name
        )
        .unwrap();
    }
    s.push_str(
        r#"};

static int16_t in[70000], logits[70000];

int main(void)
{
    unsigned m;

    (void)unhex;
    (void)puthex;
    while (scanf("%u", &m) == 1) {
        unsigned i, best = 0;
        for (i = 0; i < models[m].inputs; i++) {
            int v;
            if (scanf("%d", &v) != 1)
                return 2;
            in[i] = (int16_t)v;
        }
        models[m].step(in, logits);
        for (i = 0; i < models[m].classes; i++) {
            printf("%d ", logits[i]);
            if (logits[i] > logits[best])
                best = i;
        }
        printf(": %u %u\n", best, (unsigned)models[m].predict(in));
    }
    return 0;
}
"#,
    );
    s
}

/// Compile all models into one driver (with `extra` flags), run every input through
/// it and compare with the interpreter.
fn check(
    dir: &Path,
    exe: &str,
    sources: &[PathBuf],
    models: &[Model],
    cases: &[(usize, Vec<i16>)],
    extra: &[&str],
) {
    let exe = gcc(dir, exe, sources, extra);
    let mut stdin = String::new();
    for (m, input) in cases {
        write!(stdin, "{m}").unwrap();
        for x in input {
            write!(stdin, " {x}").unwrap();
        }
        stdin.push('\n');
    }
    let out = run_exe(&exe, stdin.as_bytes());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), cases.len(), "driver output:\n{out}");
    for ((m, input), line) in cases.iter().zip(lines) {
        let r = interp::step(&models[*m].graph, input);
        let mut want = String::new();
        for l in &r.logits {
            write!(want, "{l} ").unwrap();
        }
        write!(want, ": {0} {0}", r.class).unwrap();
        assert_eq!(
            line, want,
            "model {} ({extra:?}) differs on input {input:?}",
            models[*m].name
        );
    }
}

/// Emit all models into `dir` with a driver, check them strictly and optimised with UBSan.
fn check_all(test: &str, models: &[Model], rng: &mut Rng) -> Vec<String> {
    let tmp = work_dir(test);
    let dir = tmp.path();
    let mut sources = vec![dir.join("driver.c")];
    let mut texts = Vec::new();
    for m in models {
        let src = write_model(dir, m);
        texts.push(std::fs::read_to_string(&src).unwrap());
        sources.push(src);
    }
    std::fs::write(&sources[0], driver(models)).unwrap();
    let mut cases = Vec::new();
    for (i, m) in models.iter().enumerate() {
        for input in inputs(rng, m.input_len()) {
            cases.push((i, input));
        }
    }
    check(dir, "strict", &sources, models, &cases, &[]);
    check(
        dir,
        "ubsan",
        &sources,
        models,
        &cases,
        &["-O2", "-fsanitize=undefined", "-fno-sanitize-recover=all"],
    );
    texts
}

#[test]
fn random_chains_match_interpreter() {
    let mut rng = Rng::new(0x5eed);
    let models: Vec<Model> = (0..36)
        .map(|i| random_model(&mut rng, &format!("rand{i}")))
        .collect();
    let sources = check_all("random", &models, &mut rng);
    // Both table layouts must have been exercised.
    assert!(
        sources.iter().any(|s| s.contains("_val[g]")),
        "no grouped layer"
    );
    assert!(
        sources.iter().any(|s| s.contains("_w[k]")),
        "no per-entry layer"
    );
}

/// Every activation kind (clamps, leaky slopes, lookup tables anywhere in
/// int16) on 100 random models, a fifth of them values models, bit for bit
/// with the interpreter.
#[test]
fn random_activations_match_interpreter() {
    let mut rng = Rng::new(0xac71);
    let models: Vec<Model> = (0..100)
        .map(|i| {
            let mut m = random_model_with_activations(&mut rng, &format!("act{i}"));
            // Every fifth a values model: the same step, its outputs the answer.
            if i % 5 == 0 {
                make_values(&mut m, 0.5, -3);
            }
            m
        })
        .collect();
    let sources = check_all("activations", &models, &mut rng);
    for what in [
        "clamp to",
        "leaky ReLU",
        "lookup table",
        "_values(const int16_t",
    ] {
        assert!(sources.iter().any(|s| s.contains(what)), "no {what}");
    }
}

#[test]
fn every_weight_value_and_shift_matches_interpreter() {
    let mut rng = Rng::new(7);
    let mut models = Vec::new();
    // Every shift of both accumulator widths, cycling through the weight kinds so
    // that each kind meets both widths.
    for (a, acc) in [Elem::I16, Elem::I32].into_iter().enumerate() {
        for shift in 0..acc.bits() {
            let kind = WeightKind::ALL[(shift as usize + a) % WeightKind::ALL.len()];
            // One row per weight value, every column holding it.
            let values = kind.values();
            let cols = 6;
            let mut spec = LayerSpec::random(&mut rng, values.len(), cols, kind, 100, acc);
            for (r, &v) in values.iter().enumerate() {
                spec.weights[r] = vec![v; cols];
            }
            spec.shift = shift;
            spec.activation = (shift % 2 == 1).then_some(Activation::Relu);
            let form = Form {
                sparse: shift % 3 == 0,
                fused: shift % 2 == 0,
                minimal: false,
            };
            let name = format!("k{}_{}_s{shift}", kind.name(), acc.bits());
            models.push(raw_model(&name, chain(cols, spec.ops(form))));
        }
    }
    check_all("values", &models, &mut rng);
}

#[test]
fn unusual_chains_match_interpreter() {
    let mut rng = Rng::new(99);
    let mut models = Vec::new();
    let mut add = |name: &str, inputs: usize, ops: Vec<Op>| {
        models.push(raw_model(name, chain(inputs, ops)));
    };
    // No matmul at all.
    add("bare", 5, vec![]);
    add("only_relu", 5, vec![Op::Activate(Activation::Relu)]);
    add("only_eltwise", 9, input_ops(&mut Rng::new(3), 9));
    // Matmuls feeding each other without any elementwise op (i16 accumulators).
    let a = LayerSpec::random(&mut rng, 20, 12, WeightKind::Int8, 60, Elem::I16);
    let b = LayerSpec::random(&mut rng, 4, 20, WeightKind::Int4, 60, Elem::I16);
    add(
        "mm_mm",
        12,
        vec![
            a.ops(Form::DENSE_MINIMAL)[0].clone(),
            b.ops(Form::SPARSE_MINIMAL)[0].clone(),
        ],
    );
    // 32-bit accumulators through several biases, a shift by 31 and a ReLU.
    let mut c = LayerSpec::random(&mut rng, 8, 10, WeightKind::Int8, 80, Elem::I32);
    c.shift = 31;
    let mut ops = c.ops(Form::DENSE);
    ops.insert(
        1,
        Op::Bias {
            values: vec![i32::MAX as i64; 8],
        },
    );
    ops.insert(
        1,
        Op::Bias {
            values: vec![i32::MIN as i64; 8],
        },
    );
    add("acc32_chain", 10, ops);
    // All-zero weights, and a single output class.
    let z = LayerSpec::random(&mut rng, 3, 7, WeightKind::Ternary, 0, Elem::I32);
    add("zero_w", 7, z.ops(Form::SPARSE_FUSED));
    let one = LayerSpec::random(&mut rng, 1, 7, WeightKind::Int2, 50, Elem::I16);
    add("one_class", 7, one.ops(Form::DENSE_MINIMAL));
    // No inputs at all: one validator refuses it for every front end and
    // backend (a raw input holds 1 to 131,072 values).
    let mut e = LayerSpec::random(&mut rng, 4, 0, WeightKind::Int2, 50, Elem::I16);
    e.bias = vec![5, -3, 7, 7];
    e.shift = 0;
    e.activation = None;
    let none = raw_model("no_inputs", chain(0, e.ops(Form::DENSE)));
    let err = zlmc_backends::target::Verified::new(&none).unwrap_err();
    assert!(err.to_string().contains("raw input of 0 elements"), "{err}");
    // A zero-length hidden layer.
    let h0 = LayerSpec::random(&mut rng, 0, 5, WeightKind::Int2, 50, Elem::I16);
    let h1 = LayerSpec::random(&mut rng, 3, 0, WeightKind::Int2, 50, Elem::I32);
    let mut ops = h0.ops(Form::SPARSE);
    ops.extend(h1.ops(Form::DENSE_FUSED));
    add("empty_hidden", 5, ops);
    // Wide layers: 16-bit row indices, and more than 65535 entries (32-bit offsets).
    let w1 = LayerSpec::random(&mut rng, 300, 300, WeightKind::Int2, 100, Elem::I32);
    let w2 = LayerSpec::random(&mut rng, 290, 300, WeightKind::Int8, 100, Elem::I32);
    let w3 = LayerSpec::random(&mut rng, 260, 290, WeightKind::Binary, 100, Elem::I16);
    let mut ops = w1.ops(Form::DENSE_FUSED);
    ops.extend(w2.ops(Form::SPARSE_MINIMAL));
    ops.extend(w3.ops(Form::DENSE));
    add("wide", 300, ops);
    let sources = check_all("unusual", &models, &mut rng);
    let wide = sources.last().unwrap();
    assert!(
        wide.contains("static const uint32_t wide_l0_off"),
        "32-bit offsets expected"
    );
    assert!(
        wide.contains("static const uint16_t wide_l0_row"),
        "16-bit rows expected"
    );
}
