//! `.zir` printing and parsing: round trips, stable output, work in
//! proportion to the text, and robustness.

use zlmc_ir::text::{parse_model, print_model};
use zlmc_ir::verify::verify_model;
use zlmc_ir::{
    Activation, Decode, DenseWeights, Elem, Encoder, Graph, Model, Op, OutputQuant, SparseWeights,
    Type, WeightKind, Weights,
};
use zlmc_test_support::alloc::{measure, Counting, Usage};
use zlmc_test_support::Rng;

fn dense(kind: WeightKind, rows: usize, cols: usize, rng: &mut Rng) -> DenseWeights {
    let vals = kind.values();
    DenseWeights {
        kind,
        rows,
        cols,
        data: (0..rows * cols).map(|_| rng.pick(&vals)).collect(),
    }
}

fn weights(kind: WeightKind, rows: usize, cols: usize, sparse: bool, rng: &mut Rng) -> Weights {
    let d = dense(kind, rows, cols, rng);
    if sparse {
        Weights::Sparse(d.to_sparse())
    } else {
        Weights::Dense(d)
    }
}

/// input → matmul → bias → shift → relu → matmul → epilogue → matmul → epilogue+relu → argmax,
/// touching every op.
fn every_op_model(
    kind: WeightKind,
    sparse: bool,
    acc: Elem,
    encoders: Vec<Encoder>,
    decode: Decode,
) -> Model {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ kind as u64);
    let n_in: usize = encoders.iter().map(Encoder::len).sum();
    let classes = match &decode {
        Decode::Generate { charset, .. } => charset.len(),
        Decode::Classify { labels } => labels.len(),
        Decode::Values { count, .. } => *count,
    };
    let vec = |elem, len| Type::Vec { elem, len };
    let (lo, hi) = match acc {
        Elem::I16 => (i16::MIN as i64, i16::MAX as i64),
        Elem::I32 => (i32::MIN as i64, i32::MAX as i64),
    };
    let mut g = Graph::new();
    let x = g.add(Op::Input { len: n_in }, Type::i16s(n_in), &[]);
    let w1 = weights(kind, 5, n_in, sparse, &mut rng);
    let m1 = g.add(
        Op::MatMul {
            weights: w1,
            acc: Elem::I16,
        },
        vec(Elem::I16, 5),
        &[x],
    );
    let b = g.add(
        Op::Bias {
            values: vec![i16::MIN as i64, i16::MAX as i64, 0, -1, 7],
        },
        Type::i16s(5),
        &[m1],
    );
    let s = g.add(Op::Shift { amount: 15 }, Type::i16s(5), &[b]);
    let r = g.add(Op::Activate(Activation::Relu), Type::i16s(5), &[s]);
    let c = g.add(
        Op::Activate(Activation::Clamp {
            lo: i16::MIN,
            hi: 6,
        }),
        Type::i16s(5),
        &[r],
    );
    let l = g.add(
        Op::Activate(Activation::Lut {
            lo: -3,
            table: vec![i16::MIN, -1, 0, i16::MAX],
        }),
        Type::i16s(5),
        &[c],
    );
    let r = g.add(
        Op::Activate(Activation::LeakyRelu {
            mul: 255,
            shift: 15,
        }),
        Type::i16s(5),
        &[l],
    );
    let m2 = g.add(
        Op::MatMul {
            weights: weights(kind, 4, 5, !sparse, &mut rng),
            acc,
        },
        vec(acc, 4),
        &[r],
    );
    let e1 = g.add(
        Op::Epilogue {
            bias: vec![lo, hi, 1, -2],
            shift: acc.bits() - 1,
            activation: Some(Activation::Lut {
                lo: i16::MAX - 1,
                table: vec![3, -3],
            }),
        },
        Type::i16s(4),
        &[m2],
    );
    let m3 = g.add(
        Op::MatMul {
            weights: weights(kind, classes, 4, sparse, &mut rng),
            acc,
        },
        vec(acc, classes),
        &[e1],
    );
    let e2 = g.add(
        Op::Epilogue {
            bias: (0..classes as i64)
                .map(|i| if i % 2 == 0 { lo } else { hi })
                .collect(),
            shift: 0,
            activation: Some(Activation::Relu),
        },
        Type::i16s(classes),
        &[m3],
    );
    g.add(Op::Argmax, Type::Index, &[e2]);
    Model {
        name: "every_op".into(),
        encoders,
        decode,
        graph: g,
    }
}

fn text_encoders() -> Vec<Encoder> {
    vec![
        Encoder::QueryTrigram {
            buckets: 8,
            value: i16::MIN,
        },
        Encoder::ContextNgram {
            buckets: 4,
            length: 8,
            value: i16::MAX,
        },
        Encoder::Raw {
            len: 3,
            quant: None,
        },
    ]
}

fn generate() -> Decode {
    Decode::Generate {
        charset: b" AB\"\\\x00\n\x7f\xff~".to_vec(),
        eos: 5,
        max_length: 50,
    }
}

fn classify() -> Decode {
    Decode::Classify {
        labels: vec![
            "lights_on".into(),
            "say \"hi\"\\".into(),
            "été ☃".into(),
            "tab\tnl\n\u{7f}".into(),
            String::new(),
        ],
    }
}

fn round_trip(m: &Model) -> String {
    verify_model(m).expect("hand-built model verifies");
    let text = print_model(m);
    let back = parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, m, "round trip changed the model:\n{text}");
    assert_eq!(print_model(&back), text, "printing is not stable");
    text
}

#[test]
fn every_kind_layout_and_accumulator_round_trips() {
    for kind in WeightKind::ALL {
        for sparse in [false, true] {
            for acc in [Elem::I16, Elem::I32] {
                round_trip(&every_op_model(
                    kind,
                    sparse,
                    acc,
                    text_encoders(),
                    generate(),
                ));
                round_trip(&every_op_model(
                    kind,
                    sparse,
                    acc,
                    text_encoders(),
                    classify(),
                ));
                round_trip(&every_op_model(
                    kind,
                    sparse,
                    acc,
                    text_encoders(),
                    Decode::Values {
                        count: 3,
                        quant: OutputQuant {
                            scale: 0.1 + f64::EPSILON,
                            zero_point: -7,
                        },
                    },
                ));
            }
        }
    }
}

#[test]
fn raw_input_model_round_trips() {
    let m = every_op_model(
        WeightKind::Int8,
        false,
        Elem::I32,
        vec![Encoder::Raw {
            len: 10,
            quant: None,
        }],
        classify(),
    );
    round_trip(&m);
}

#[test]
fn printed_form_is_as_documented() {
    let mut g = Graph::new();
    let x = g.add(Op::Input { len: 3 }, Type::i16s(3), &[]);
    let m1 = g.add(
        Op::MatMul {
            weights: Weights::Dense(DenseWeights {
                kind: WeightKind::Int2,
                rows: 2,
                cols: 3,
                data: vec![0, 1, -1, -2, 0, 1],
            }),
            acc: Elem::I16,
        },
        Type::i16s(2),
        &[x],
    );
    let b = g.add(
        Op::Bias {
            values: vec![5, -3],
        },
        Type::i16s(2),
        &[m1],
    );
    let m2 = g.add(
        Op::MatMul {
            weights: Weights::Sparse(SparseWeights {
                kind: WeightKind::Ternary,
                cols: 2,
                rows: vec![vec![(0, 1), (1, -1)], vec![], vec![(1, 1)]],
            }),
            acc: Elem::I32,
        },
        Type::Vec {
            elem: Elem::I32,
            len: 3,
        },
        &[b],
    );
    let e = g.add(
        Op::Epilogue {
            bias: vec![7, -2147483648, 0],
            shift: 2,
            activation: Some(Activation::Relu),
        },
        Type::i16s(3),
        &[m2],
    );
    g.add(Op::Argmax, Type::Index, &[e]);
    let m = Model {
        name: "tiny \"one\"".into(),
        encoders: vec![Encoder::Raw {
            len: 3,
            quant: None,
        }],
        decode: Decode::Generate {
            charset: b"a\"\x00".to_vec(),
            eos: 2,
            max_length: 9,
        },
        graph: g,
    };
    let expected = r#"zir 1
model "tiny \"one\""
encode raw(length: 3)
decode generate(charset: "a\"\x00", eos: 2, max_length: 9)

%0 = input : i16[3]
%1 = matmul %0, dense int2[2, 3] [
  [0 1 -1]
  [-2 0 1]
], acc i16 : i16[2]
%2 = bias %1, [5, -3] : i16[2]
%3 = matmul %2, sparse ternary[3, 2] [
  [0:1 1:-1]
  []
  [1:1]
], acc i32 : i32[3]
%4 = epilogue %3, bias [7, -2147483648, 0], shift 2, relu : i16[3]
%5 = argmax %4 : index
"#;
    assert_eq!(round_trip(&m), expected);
}

#[test]
fn hand_written_text_with_comments_and_names_parses() {
    let src = r#"
        ; a comment before the header
        zir 1 model "hand"   ; everything on few lines
        encode query_trigram(buckets: 2, value: 32)
        encode raw(length: 1,)
        decode classify(labels: ["a", "b\x41", "\t",])
        %in = input : i16[3]
        %fc_1 = matmul %in, dense binary[3, 3] [[1 -1 1][-1 -1 -1] [1 1 1]], acc i32 : i32[3]
        %y = epilogue %fc_1, bias [1, 2, 3], shift 1 : i16[3]
        %out = argmax %y : index ; the end — “quoted” comment
    "#;
    let m = parse_model(src).unwrap();
    assert_eq!(m.name, "hand");
    assert_eq!(
        m.decode,
        Decode::Classify {
            labels: vec!["a".into(), "bA".into(), "\t".into()]
        }
    );
    assert_eq!(m.graph.len(), 4);
    let again = parse_model(&print_model(&m)).unwrap();
    assert_eq!(again, m);
}

/// `layers` int8 dense layers of `rows` rows over 256 inputs (then over
/// `rows`), 32-bit accumulators: two of 256 rows are tinychat-sized, about
/// 480 KB of text.
fn big_model(layers: usize, rows: usize) -> Model {
    let mut rng = Rng::new(42);
    let mut g = Graph::new();
    let x = g.add(Op::Input { len: 256 }, Type::i16s(256), &[]);
    let (mut prev, mut inputs) = (x, 256);
    for _ in 0..layers {
        let m = g.add(
            Op::MatMul {
                weights: Weights::Dense(dense(WeightKind::Int8, rows, inputs, &mut rng)),
                acc: Elem::I32,
            },
            Type::Vec {
                elem: Elem::I32,
                len: rows,
            },
            &[prev],
        );
        prev = g.add(
            Op::Epilogue {
                bias: (0..rows as i64).collect(),
                shift: 8,
                activation: Some(Activation::Relu),
            },
            Type::i16s(rows),
            &[m],
        );
        inputs = rows;
    }
    g.add(Op::Argmax, Type::Index, &[prev]);
    Model {
        name: "big".into(),
        encoders: vec![Encoder::QueryTrigram {
            buckets: 256,
            value: 32,
        }],
        decode: Decode::Classify {
            labels: (0..rows).map(|i| format!("c{i}")).collect(),
        },
        graph: g,
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Parsing does work in proportion to the text: twice the rows, or twice
/// the layers, allocate at most 2.2 times as much (in bytes and in number)
/// — work growing with the square of a layer's or a model's size would
/// make it about 4.
#[test]
fn parsing_work_grows_with_the_text() {
    for (small, large) in [((1, 256), (1, 512)), ((2, 256), (4, 256))] {
        let used: Vec<Usage> = [small, large]
            .into_iter()
            .map(|(layers, rows)| {
                let m = big_model(layers, rows);
                let text = print_model(&m);
                assert!(text.len() > layers * rows * 600, "{} bytes", text.len());
                let (back, usage) = measure(|| parse_model(&text).unwrap());
                assert_eq!(back, m);
                usage
            })
            .collect();
        let ratio = |f: fn(&Usage) -> u64| f(&used[1]) as f64 / f(&used[0]) as f64;
        assert!(
            ratio(|u| u.bytes) <= 2.2 && ratio(|u| u.allocations) <= 2.2,
            "{small:?} then {large:?} (layers, rows): {used:?}"
        );
    }
}

/// How long parsing tinychat-sized text takes (run on purpose: `cargo test
/// -p zlmc-ir --release --test text_roundtrip -- --ignored --nocapture`).
#[test]
#[ignore = "benchmark: reports the time parsing takes"]
fn large_model_parse_time() {
    let m = big_model(2, 256);
    let text = print_model(&m);
    let t = std::time::Instant::now();
    let back = parse_model(&text).unwrap();
    let took = t.elapsed();
    assert_eq!(back, m);
    eprintln!("parsing {} bytes took {took:?}", text.len());
}

#[test]
fn truncated_and_mangled_inputs_never_panic() {
    let m = every_op_model(
        WeightKind::Int4,
        true,
        Elem::I32,
        text_encoders(),
        classify(),
    );
    let text = print_model(&m);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for &(i, _) in &chars {
        // Any result is fine; returning at all is what is tested.
        let _ = parse_model(&text[..i]);
        let skipped: String = text[..i].chars().chain(text[i..].chars().skip(1)).collect();
        let _ = parse_model(&skipped);
    }
    let mut rng = Rng::new(7);
    let alphabet: Vec<char> = "%=,:[]()\"\\;\n -0123456789azir model encode decode input matmul dense sparse acc bias shift relu epilogue argmax index i16 i32 int2 raw é☃\u{0}\t".chars().collect();
    for _ in 0..2000 {
        let len = (rng.next_u64() % 80) as usize;
        let s: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
        let _ = parse_model(&s);
        let mut spliced = text.clone();
        let at = text
            .char_indices()
            .nth((rng.next_u64() % chars.len() as u64) as usize)
            .unwrap()
            .0;
        spliced.insert_str(at, &s);
        let _ = parse_model(&spliced);
    }
    for s in [
        "",
        "zir",
        "zir 1",
        "zir 1 model",
        "\"",
        "zir 1 model \"x\" decode classify(labels: []) %0 = input : i16[99999999999999999999]",
        "zir 1 model \"x\" encode raw(length: 9223372036854775807) encode raw(length: 9223372036854775807) encode raw(length: 9223372036854775807) decode classify(labels: [])",
        "zir 1 model \"x\" decode classify(labels: [\"a\"]) %0 = input : i16[2] %1 = matmul %0, dense int8[9223372036854775807, 2] [], acc i16 : i16[0]",
        "zir 1 model \"x\" decode classify(labels: [\"a\"]) %0 = input : i16[0] %1 = matmul %0, dense int8[0, 18446744073709551615] [], acc i16 : i16[0]",
        "zir 1 model \"x\" decode classify(labels: [\"a\"]) %0 = input : i16[1] %1 = shift %0, 4294967296 : i16[1]",
        "zir 1 model \"x\" decode classify(labels: [\"a\"]) %0 = input : i16[1] %1 = matmul %0, sparse int2[1, 1] [[4294967296:1]], acc i16 : i16[1]",
    ] {
        assert!(parse_model(s).is_err(), "{s}");
    }
}

#[test]
fn documented_example_parses() {
    // The format documentation's example, trimmed to one decoder and one result.
    let src = r#"; zlmc 0.1.0 — IR of "commands" (from examples/commands/model.yaml)
zir 1
model "commands"
encode raw(length: 4)
decode generate(charset: "\x00\"", eos: 0, max_length: 50)

%0 = input : i16[4]
%1 = matmul %0, dense int2[3, 4] [
  [0 1 -1 0]
  [-2 0 0 1]
  [0 0 0 0]
], acc i16 : i16[3]
%2 = bias %1, [5, -3, 32767] : i16[3]
%3 = shift %2, 2 : i16[3]
%4 = relu %3 : i16[3]
%5 = matmul %4, sparse int2[2, 3] [
  [0:1 2:-2]
  []
], acc i32 : i32[2]
%6 = epilogue %5, bias [7, -2147483648], shift 2, relu : i16[2]
%7 = epilogue %6, bias [1, 2], shift 3 : i16[2]     ; relu omitted = no relu
%8 = argmax %7 : index
"#;
    let m = parse_model(src).unwrap();
    assert_eq!(
        m.decode,
        Decode::Generate {
            charset: vec![0, b'"'],
            eos: 0,
            max_length: 50
        }
    );
    let body = |s: &str| s[s.find("%0").unwrap()..].replace("     ; relu omitted = no relu", "");
    assert_eq!(body(&print_model(&m)), body(src));
}

/// A quantized raw input keeps its scale, zero point and range bit for bit.
#[test]
fn quantized_raw_input_round_trips() {
    let src = r#"zir 1
model "q"
encode raw(length: 2, scale: 0.0625, zero_point: -3, min: 0.0, max: 1.5e1)
decode classify(labels: ["a", "b"])
%0 = input : i16[2]
%1 = argmax %0 : index
"#;
    let m = parse_model(src).expect("parses");
    let q = m.input_quant().expect("quantized");
    assert_eq!(
        (q.scale, q.zero_point, q.range),
        (0.0625, -3, Some((0.0, 15.0)))
    );
    let text = print_model(&m);
    assert!(
        text.contains("encode raw(length: 2, scale: 0.0625, zero_point: -3, min: 0.0, max: 15.0)"),
        "{text}"
    );
    assert_eq!(parse_model(&text).expect("re-parses"), m);
    for (x, want) in [
        (1.0, 13),
        (-1e9, -3),
        (0.03, -3),
        (f64::NAN, -3),
        (100.0, 237),
    ] {
        assert_eq!(q.quantize(x), want, "x = {x}");
    }
    let odd = 0.1f64 + 0.2;
    let mut m2 = m.clone();
    m2.encoders = vec![Encoder::Raw {
        len: 2,
        quant: Some(zlmc_ir::InputQuant {
            scale: odd,
            zero_point: 0,
            range: None,
        }),
    }];
    assert_eq!(parse_model(&print_model(&m2)).expect("re-parses"), m2);
    let bad = src.replace("scale: 0.0625", "scale: -1.0");
    assert!(parse_model(&bad)
        .unwrap_err()
        .message
        .contains("scale must be positive"));
}
