//! The generated C's text API (encoding, reply generation, classification, labels),
//! compiled with gcc, against the reference interpreter; also through the AVR
//! code paths, with a stand-in for avr-libc's pgmspace.h.

mod c_common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use c_common::*;
use std::time::Duration;
use zlmc_ir::interp;
use zlmc_ir::{Decode, Elem, Encoder, Model, WeightKind};
use zlmc_test_support::tools::{avr_gcc, gcc, run_exe, simavr};
use zlmc_test_support::TempDir;

/// A two-layer network from `inputs` to `classes`, in the given spellings.
fn network(
    rng: &mut Rng,
    inputs: usize,
    classes: usize,
    acc: Elem,
    forms: [Form; 2],
) -> zlmc_ir::Graph {
    let hidden = 24;
    let mut l0 = LayerSpec::random(rng, hidden, inputs, WeightKind::Int2, 60, acc);
    l0.shift = 1;
    l0.activation = Some(zlmc_ir::Activation::Relu);
    for b in &mut l0.bias {
        *b = rng.range(-8, 8);
    }
    let mut l1 = LayerSpec::random(rng, classes, hidden, WeightKind::Int4, 70, Elem::I32);
    l1.shift = 2;
    l1.activation = None;
    for b in &mut l1.bias {
        *b = rng.range(-8, 8);
    }
    let mut ops = l0.ops(forms[0]);
    ops.extend(l1.ops(forms[1]));
    chain(inputs, ops)
}

/// Queries covering the encoder's corner cases.
const QUERIES: &[&[u8]] = &[
    b"",
    b" ",
    b"   ",
    b"a",
    b"hi",
    b"  Hello there",
    b"HELLO WORLD",
    b"what is the time?",
    b"tabs\tand\tpunctuation!!",
    b"\xe9t\xe9 \x80\xff high bytes",
    b"ZzYy  double  spaces  ",
    b"a somewhat longer query that goes on for a while to fill the trigram buckets well",
];

/// A generation model whose replies to [`QUERIES`] vary, found by trying seeds.
/// Without a context every step sees the same input, so a reply repeats one
/// character: distinct replies are all one can ask for then.
fn generation_model(
    name: &str,
    encoders: Vec<Encoder>,
    charset: &[u8],
    eos: usize,
    max_length: usize,
    acc: Elem,
) -> Model {
    let inputs: usize = encoders.iter().map(Encoder::len).sum();
    for seed in 0..3000 {
        let mut rng = Rng::new(seed * 31 + name.len() as u64);
        let forms = [
            Form {
                sparse: seed % 2 == 0,
                fused: true,
                minimal: false,
            },
            Form::DENSE_MINIMAL,
        ];
        let model = Model {
            name: name.into(),
            encoders: encoders.clone(),
            decode: Decode::Generate {
                charset: charset.to_vec(),
                eos,
                max_length,
            },
            graph: network(&mut rng, inputs, charset.len(), acc, forms),
        };
        let replies: Vec<Vec<u8>> = QUERIES.iter().map(|q| interp::reply(&model, q).0).collect();
        let lens: Vec<usize> = replies.iter().map(Vec::len).collect();
        let mut distinct = replies.clone();
        distinct.sort();
        distinct.dedup();
        let varied = replies.iter().any(|r| {
            let mut b = r.clone();
            b.sort();
            b.dedup();
            b.len() >= 3.min(charset.len() - 1)
        });
        // The replies must depend on the context being lower-cased.
        let upper_ok = !charset.iter().any(u8::is_ascii_uppercase)
            || QUERIES
                .iter()
                .any(|q| reply_unlowered(&model, q) != interp::reply(&model, q).0);
        let nul_ok = !charset[..eos].contains(&0)
            || replies
                .iter()
                .any(|r| r.iter().rev().skip(1).any(|&b| b == 0));
        let ok = if interp::context_length(&model) > 0 {
            distinct.len() >= 4 && varied && upper_ok && nul_ok
        } else {
            distinct.len() >= 3
        };
        if ok && lens.iter().any(|&l| l >= 4) {
            return model;
        }
    }
    panic!("no seed gives varied replies for {name}");
}

/// `interp::reply` as it would be if the context were not lower-cased.
fn reply_unlowered(model: &Model, query: &[u8]) -> Vec<u8> {
    let (charset, eos, max_length) = model.decode.generation().expect("generation model");
    let mut ctx = vec![b' '; interp::context_length(model)];
    let mut out = Vec::new();
    while out.len() < max_length {
        let class = interp::step(&model.graph, &interp::encode(model, query, &ctx)).class;
        if class == eos {
            break;
        }
        out.push(charset[class]);
        if !ctx.is_empty() {
            ctx.remove(0);
            ctx.push(charset[class]);
        }
    }
    out
}

fn models() -> Vec<Model> {
    let mut rng = Rng::new(2024);
    let mut v = vec![
        // Query and context, a charset with bytes that need escaping and upper case
        // (the context holds the lower-cased reply; case only changes a bucket with
        // more than 32 buckets, as the cases differ by 32).
        generation_model(
            "chat",
            vec![
                Encoder::QueryTrigram {
                    buckets: 64,
                    value: 3,
                },
                Encoder::ContextNgram {
                    buckets: 64,
                    length: 4,
                    value: -6,
                },
            ],
            b"\0 abeAZ?\"\\\xe9!",
            0,
            12,
            Elem::I32,
        ),
        // No context encoder, and a bucket value that makes the sums wrap.
        generation_model(
            "echo",
            vec![Encoder::QueryTrigram {
                buckets: 16,
                value: 32767,
            }],
            b"xyz",
            2,
            5,
            Elem::I16,
        ),
        // A one-character context, a raw slice (zero during generation), and a NUL
        // byte that replies, and so the context, can contain.
        generation_model(
            "mixed",
            vec![
                Encoder::ContextNgram {
                    buckets: 8,
                    length: 1,
                    value: 5,
                },
                Encoder::Raw {
                    len: 3,
                    quant: None,
                },
                Encoder::QueryTrigram {
                    buckets: 8,
                    value: -1,
                },
            ],
            b"a\0.",
            2,
            9,
            Elem::I16,
        ),
    ];
    let labels: Vec<String> = [
        "yes",
        "no",
        "what??!",
        "quote\"back\\slash",
        "",
        "\u{e9}t\u{e9}",
        "*/ end",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let encoders = vec![
        Encoder::QueryTrigram {
            buckets: 128,
            value: 1,
        },
        Encoder::ContextNgram {
            buckets: 16,
            length: 3,
            value: 1,
        },
    ];
    let forms = [Form::SPARSE; 2];
    v.push(Model {
        name: "intent".into(),
        encoders,
        decode: Decode::Classify {
            labels: labels.clone(),
        },
        graph: network(&mut rng, 144, labels.len(), Elem::I16, forms),
    });
    let forms = [Form::DENSE_FUSED; 2];
    let mut raw = raw_model("sensor", network(&mut rng, 10, 4, Elem::I32, forms));
    if let Decode::Classify { labels } = &mut raw.decode {
        labels[1] = "motion?? detected".into();
    }
    v.push(raw);
    v
}

/// A driver answering `model R cap query`, `model E query context`, `model C text`,
/// `model L class` and `model P values…` lines (strings in hex).
fn driver(models: &[Model]) -> String {
    let mut s = DRIVER_PRELUDE.to_string();
    for m in models {
        writeln!(s, "#include \"{}.h\"", m.name).unwrap();
    }
    s.push_str(
        r#"
static char a[4096], b[4096], out[4096];
static int16_t vec[4096];

static void print_label(const char *l)
{
    if (l == NULL)
        printf("NULL\n");
    else {
        puthex(l, strlen(l));
        printf("\n");
    }
}

int main(void)
{
    char model[64], cmd[8], t1[8192], t2[8192];

    while (scanf("%63s %7s", model, cmd) == 2) {
"#,
    );
    for m in models {
        let (p, up) = (&m.name, m.name.to_ascii_uppercase());
        writeln!(s, "        if (strcmp(model, \"{p}\") == 0) {{").unwrap();
        if matches!(m.decode, Decode::Generate { .. }) {
            write!(
                s,
                r#"            if (cmd[0] == 'R') {{
                unsigned long cap;
                size_t n;
                if (scanf("%lu %8191s", &cap, t1) != 2)
                    return 2;
                unhex(t1, a);
                memset(out, 0x5A, sizeof out);
                n = {p}_reply(a, out, (size_t)cap);
                printf("%lu ", (unsigned long)n);
                puthex(out, n);
                printf(" %s\n", cap == 0 ? (out[0] == 0x5A ? "ok" : "bad")
                                          : (out[n] == 0 && out[cap] == 0x5A ? "ok" : "bad"));
            }}
"#
            )
            .unwrap();
        }
        if m.takes_text() {
            write!(
                s,
                r#"            if (cmd[0] == 'E') {{
                unsigned i;
                if (scanf("%8191s %8191s", t1, t2) != 2)
                    return 2;
                unhex(t1, a);
                unhex(t2, b);
                {p}_encode(a, strcmp(t2, "null") == 0 ? NULL : b, vec);
                for (i = 0; i < {up}_INPUTS; i++)
                    printf("%d ", vec[i]);
                printf("\n");
            }}
"#
            )
            .unwrap();
        }
        if let Decode::Classify { .. } = m.decode {
            if m.takes_text() {
                write!(
                    s,
                    r#"            if (cmd[0] == 'C') {{
                uint16_t c;
                if (scanf("%8191s", t1) != 1)
                    return 2;
                unhex(t1, a);
                c = {p}_classify(a);
                printf("%u ", (unsigned)c);
                print_label({p}_label(c));
            }}
"#
                )
                .unwrap();
            }
            write!(
                s,
                r#"            if (cmd[0] == 'L') {{
                unsigned c;
                if (scanf("%u", &c) != 1)
                    return 2;
                print_label({p}_label((uint16_t)c));
            }}
"#
            )
            .unwrap();
        }
        write!(
            s,
            r#"            if (cmd[0] == 'P') {{
                unsigned i;
                for (i = 0; i < {up}_INPUTS; i++) {{
                    int v;
                    if (scanf("%d", &v) != 1)
                        return 2;
                    vec[i] = (int16_t)v;
                }}
                printf("%u\n", (unsigned){p}_predict(vec));
            }}
        }}
"#
        )
        .unwrap();
    }
    s.push_str("    }\n    return 0;\n}\n");
    s
}

/// Requests and the interpreter's answers, one line each.
fn script(models: &[Model]) -> (String, Vec<String>) {
    let mut input = String::new();
    let mut want = Vec::new();
    let mut rng = Rng::new(5);
    for m in models {
        let p = &m.name;
        if let Decode::Generate { .. } = m.decode {
            for q in QUERIES {
                let full = interp::reply(m, q).0;
                for cap in [0usize, 1, 2, 4, full.len(), full.len() + 1, 4000] {
                    writeln!(input, "{p} R {cap} {}", hex(q)).unwrap();
                    let n = full.len().min(cap.saturating_sub(1));
                    want.push(format!("{n} {} ok", hex(&full[..n])));
                }
            }
        }
        if m.takes_text() {
            let contexts: &[&[u8]] = &[
                b"",
                b" ",
                b"    ",
                b"ab",
                b"Hi!x",
                b"\xe9\x80zz",
                b"longer context",
            ];
            for q in QUERIES {
                for ctx in contexts {
                    writeln!(input, "{p} E {} {}", hex(q), hex(ctx)).unwrap();
                    let v = interp::encode(m, q, ctx);
                    want.push(v.iter().map(|x| format!("{x} ")).collect());
                }
                writeln!(input, "{p} E {} null", hex(q)).unwrap();
                let v = interp::encode(m, q, b"");
                want.push(v.iter().map(|x| format!("{x} ")).collect());
            }
        }
        if let Decode::Classify { labels } = &m.decode {
            if m.takes_text() {
                for q in QUERIES {
                    writeln!(input, "{p} C {}", hex(q)).unwrap();
                    let class = interp::step(&m.graph, &interp::encode(m, q, b"")).class;
                    let label = interp::reply(m, q).0;
                    assert_eq!(label, labels[class].as_bytes());
                    want.push(format!("{class} {}", hex(&label)));
                }
            }
            for c in 0..labels.len() + 2 {
                writeln!(input, "{p} L {c}").unwrap();
                want.push(match labels.get(c) {
                    Some(l) => hex(l.as_bytes()),
                    None => "NULL".into(),
                });
            }
        }
        for _ in 0..20 {
            let v: Vec<i16> = (0..m.input_len())
                .map(|_| {
                    if rng.chance(70) {
                        0
                    } else {
                        rng.range(-9, 9) as i16
                    }
                })
                .collect();
            write!(input, "{p} P").unwrap();
            for x in &v {
                write!(input, " {x}").unwrap();
            }
            input.push('\n');
            want.push(interp::step(&m.graph, &v).class.to_string());
        }
    }
    (input, want)
}

fn check(dir: &Path, exe: &str, sources: &[PathBuf], extra: &[&str], models: &[Model]) {
    let exe = gcc(dir, exe, sources, extra);
    let (input, want) = script(models);
    let out = run_exe(&exe, input.as_bytes());
    let got: Vec<&str> = out.lines().collect();
    let requests: Vec<&str> = input.lines().collect();
    assert_eq!(got.len(), want.len(), "driver output ({extra:?}):\n{out}");
    for ((g, w), r) in got.iter().zip(&want).zip(requests) {
        assert_eq!(g, w, "request {r:?} ({extra:?})");
    }
}

fn setup(test: &str) -> (TempDir, Vec<PathBuf>, Vec<Model>) {
    let tmp = work_dir(test);
    let models = models();
    let mut sources = vec![tmp.path().join("driver.c")];
    for m in &models {
        sources.push(write_model(tmp.path(), m));
    }
    std::fs::write(&sources[0], driver(&models)).unwrap();
    (tmp, sources, models)
}

#[test]
fn text_api_matches_interpreter() {
    let (tmp, sources, models) = setup("text");
    let dir = tmp.path();
    check(dir, "strict", &sources, &[], &models);
    check(
        dir,
        "ubsan",
        &sources,
        &["-O2", "-fsanitize=undefined", "-fno-sanitize-recover=all"],
        &models,
    );
    let header = std::fs::read_to_string(dir.join("chat.h")).unwrap();
    assert!(header.contains("size_t chat_reply(const char *query, char *reply, size_t cap);"));
    assert!(header
        .contains("void chat_encode(const char *query, const char *context, int16_t *input);"));
    assert!(header.contains("#define CHAT_CONTEXT_LENGTH 4"));
    assert!(header.contains("#define CHAT_MAX_LENGTH 12"));
    let mixed = std::fs::read_to_string(dir.join("mixed.h")).unwrap();
    assert!(
        !mixed.contains("mixed_encode"),
        "raw input: no text encoder in the API"
    );
    let sensor = std::fs::read_to_string(dir.join("sensor.h")).unwrap();
    assert!(sensor.contains("sensor_label") && !sensor.contains("sensor_classify"));
    let intent = std::fs::read_to_string(dir.join("intent.h")).unwrap();
    assert!(intent.contains("uint16_t intent_classify(const char *text);"));
}

/// avr-libc's pgmspace.h, reduced to what the generated code uses, reading RAM.
const MOCK_PGMSPACE: &str = r#"#ifndef MOCK_PGMSPACE_H
#define MOCK_PGMSPACE_H
#include <stdint.h>
#include <string.h>
#define PROGMEM
#define pgm_read_byte(p) (*(const uint8_t *)(const void *)(p))
#define pgm_read_word(p) (*(const uint16_t *)(const void *)(p))
#define pgm_read_dword(p) (*(const uint32_t *)(const void *)(p))
#define strcpy_P(d, s) strcpy((d), (s))
#endif
"#;

#[test]
fn avr_code_paths_match_interpreter() {
    let (tmp, sources, models) = setup("text_avr");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("mock/avr")).unwrap();
    std::fs::write(dir.join("mock/avr/pgmspace.h"), MOCK_PGMSPACE).unwrap();
    let mock = dir.join("mock");
    let inc = format!("-I{}", mock.display());
    check(dir, "avr_mock", &sources, &["-D__AVR__", &inc], &models);
}

/// `bytes` as a C string literal: octal escapes for anything but plain characters.
fn c_literal(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b' ' | b'.' | b'!' | b',' => {
                s.push(b as char)
            }
            _ => s.push_str(&format!("\\{b:03o}")),
        }
    }
    s.push('"');
    s
}

/// Small raw models with extreme biases, for the 16-bit-int run.
fn extreme_models() -> Vec<Model> {
    let mut rng = Rng::new(77);
    let mut v = Vec::new();
    for (i, (kind, acc, shift)) in [
        (WeightKind::Int8, Elem::I16, 3),
        (WeightKind::Int8, Elem::I32, 20),
        (WeightKind::Int2, Elem::I32, 31),
        (WeightKind::Int4, Elem::I16, 15),
    ]
    .into_iter()
    .enumerate()
    {
        let mut l0 = LayerSpec::random(&mut rng, 20, 12, kind, 60, acc);
        l0.shift = shift;
        let l1 = LayerSpec::random(&mut rng, 6, 20, WeightKind::Ternary, 60, Elem::I16);
        let sparse = i % 2 == 0;
        let mut ops = l0.ops(Form {
            sparse,
            fused: sparse,
            minimal: false,
        });
        ops.extend(l1.ops(Form {
            sparse: !sparse,
            fused: false,
            minimal: true,
        }));
        v.push(raw_model(&format!("extreme{i}"), chain(12, ops)));
    }
    v
}

/// An AVR program that runs every model's API on fixed requests and prints one value
/// a line on the UART, and the values the interpreter says it must print.
fn avr_driver(models: &[Model]) -> (String, Vec<String>) {
    let mut rng = Rng::new(8);
    let mut c = String::from(
        r#"#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <string.h>
"#,
    );
    let mut body = String::new();
    let mut want = Vec::new();
    for m in models {
        writeln!(c, "#include \"{}.h\"", m.name).unwrap();
    }
    c.push_str(
        r#"
static void put(char ch)
{
    loop_until_bit_is_set(UCSR0A, UDRE0);
    UDR0 = ch;
}

static void line(long v)
{
    char buf[12];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    if (v < 0)
        put('-');
    do {
        buf[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        put(buf[--n]);
    put('\n');
}

static void bytes(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        line((unsigned char)s[i]);
}

static char q[128], out[64];
static int16_t vec[256], logits[64];
"#,
    );
    for (mi, m) in models.iter().enumerate() {
        let p = &m.name;
        if let Decode::Generate { .. } = m.decode {
            for (qi, query) in QUERIES.iter().enumerate() {
                writeln!(
                    c,
                    "static const char q{mi}_{qi}[] PROGMEM = {};",
                    c_literal(query)
                )
                .unwrap();
                let full = interp::reply(m, query).0;
                for cap in [1usize, 3, 64] {
                    writeln!(
                        body,
                        "    strcpy_P(q, q{mi}_{qi});\n    {{ size_t n = {p}_reply(q, out, {cap}); line((long)n); bytes(out, n); }}"
                    )
                    .unwrap();
                    let n = full.len().min(cap - 1);
                    want.push(n.to_string());
                    want.extend(full[..n].iter().map(|b| b.to_string()));
                }
            }
        }
        if let Decode::Classify { labels } = &m.decode {
            if m.takes_text() {
                for (qi, query) in QUERIES.iter().enumerate() {
                    writeln!(
                        c,
                        "static const char q{mi}_{qi}[] PROGMEM = {};",
                        c_literal(query)
                    )
                    .unwrap();
                    writeln!(
                        body,
                        "    strcpy_P(q, q{mi}_{qi});\n    line({p}_classify(q));"
                    )
                    .unwrap();
                    want.push(
                        interp::step(&m.graph, &interp::encode(m, query, b""))
                            .class
                            .to_string(),
                    );
                }
            }
            for cls in 0..=labels.len() {
                writeln!(
                    body,
                    "    {{ const char *l = {p}_label({cls}); if (l) bytes(l, strlen(l)); else line(-1); }}"
                )
                .unwrap();
                match labels.get(cls) {
                    Some(l) => want.extend(l.bytes().map(|b| b.to_string())),
                    None => want.push("-1".into()),
                }
            }
        }
        for vi in 0..4 {
            let input: Vec<i16> = (0..m.input_len())
                .map(|_| match vi {
                    0 => rng.next_u64() as i16,
                    1 => rng.pick(&[i16::MIN, i16::MAX, 0, -1]),
                    _ if rng.chance(70) => 0,
                    _ => rng.range(-20, 20) as i16,
                })
                .collect();
            let values: Vec<String> = input.iter().map(|x| tables_signed(*x)).collect();
            writeln!(
                c,
                "static const int16_t v{mi}_{vi}[{}] PROGMEM = {{ {} }};",
                input.len().max(1),
                if values.is_empty() {
                    "0".to_string()
                } else {
                    values.join(", ")
                }
            )
            .unwrap();
            let up = p.to_ascii_uppercase();
            writeln!(
                body,
                "    memcpy_P(vec, v{mi}_{vi}, sizeof v{mi}_{vi});\n    {p}_step(vec, logits);\n    \
                 {{ unsigned i; for (i = 0; i < {up}_CLASSES; i++) line(logits[i]); }}\n    line({p}_predict(vec));"
            )
            .unwrap();
            let r = interp::step(&m.graph, &input);
            want.extend(r.logits.iter().map(|l| l.to_string()));
            want.push(r.class.to_string());
        }
    }
    write!(
        c,
        "\nint main(void)\n{{\n    UCSR0B = (1 << TXEN0);\n{body}    line(12345);\n    cli();\n    sleep_mode();\n    return 0;\n}}\n"
    )
    .unwrap();
    want.push("12345".into());
    (c, want)
}

/// An int16 as a C constant that is valid where int has 16 bits.
fn tables_signed(x: i16) -> String {
    if x == i16::MIN {
        "(-32767 - 1)".into()
    } else {
        x.to_string()
    }
}

/// On an ATmega2560 in simavr: real flash tables, a 16-bit int, avr-gcc -Os
/// (`scripts/setup.sh` installs gcc-avr, avr-libc and simavr).
#[test]
fn avr_simulator_matches_interpreter() {
    let tmp = work_dir("avr_sim");
    let dir = tmp.path();
    let mut models = models();
    models.extend(extreme_models());
    let mut sources: Vec<PathBuf> = models.iter().map(|m| write_model(dir, m)).collect();
    let (driver, want) = avr_driver(&models);
    std::fs::write(dir.join("driver.c"), driver).unwrap();
    sources.push(dir.join("driver.c"));
    let elf = avr_gcc(dir, "sim.elf", "atmega2560", &sources);
    // A broken build may never reach its final sleep, so the run gets a deadline.
    let got = simavr(&elf, "atmega2560", 16_000_000, Duration::from_secs(60));
    let text = got.join("\n");
    assert_eq!(got.len(), want.len(), "simavr output:\n{text}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "value {i} differs");
    }
}
