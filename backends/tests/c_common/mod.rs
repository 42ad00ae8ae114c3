//! Shared helpers of the C backend tests: hand-built models, a PRNG, and running gcc.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zlmc_backends::c::{emit, CFiles};
use zlmc_backends::Provenance;
use zlmc_ir::tensor::{DenseWeights, SparseWeights};
use zlmc_ir::verify::infer;
use zlmc_ir::{Decode, Elem, Encoder, Graph, Model, Op, WeightKind, Weights};

/// The flags every generated file must compile cleanly with.
pub const STRICT: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"];

/// xorshift64*: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as i64
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One dense layer: `y = post(W·x + bias)`.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// `rows × cols` weights.
    pub weights: Vec<Vec<i8>>,
    /// Number of inputs (needed when there are no rows).
    pub cols: usize,
    pub kind: WeightKind,
    pub bias: Vec<i64>,
    pub shift: u32,
    pub relu: bool,
    pub acc: Elem,
}

/// How a layer is spelled in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub sparse: bool,
    /// One `epilogue` node instead of `bias`, `shift`, `relu`.
    pub fused: bool,
    /// Leave out ops that do nothing (zero bias, shift by 0, no ReLU).
    pub minimal: bool,
}

impl LayerSpec {
    /// Random weights of `kind` with about `density` percent non-zero.
    pub fn random(
        rng: &mut Rng,
        rows: usize,
        cols: usize,
        kind: WeightKind,
        density: u64,
        acc: Elem,
    ) -> LayerSpec {
        let nonzero: Vec<i8> = kind.values().into_iter().filter(|&v| v != 0).collect();
        let weights = (0..rows)
            .map(|_| {
                (0..cols)
                    .map(|_| {
                        if kind == WeightKind::Binary || rng.chance(density) {
                            *rng.pick(&nonzero)
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        let (lo, hi) = match acc {
            Elem::I16 => (i16::MIN as i64, i16::MAX as i64),
            Elem::I32 => (i32::MIN as i64, i32::MAX as i64),
        };
        let bias = (0..rows)
            .map(|_| match rng.below(6) {
                0 => lo,
                1 => hi,
                2 => rng.range(lo, hi),
                3 => 0,
                _ => rng.range(-300, 300),
            })
            .collect();
        LayerSpec {
            weights,
            cols,
            kind,
            bias,
            shift: rng.below(acc.bits() as u64) as u32,
            relu: rng.chance(50),
            acc,
        }
    }

    /// The ops computing this layer.
    pub fn ops(&self, form: Form) -> Vec<Op> {
        let rows = self.weights.len();
        let cols = self.cols;
        let weights = if form.sparse {
            Weights::Sparse(SparseWeights {
                kind: self.kind,
                cols,
                rows: self
                    .weights
                    .iter()
                    .map(|r| {
                        r.iter()
                            .enumerate()
                            .filter(|(_, &w)| w != 0)
                            .map(|(c, &w)| (c as u32, w))
                            .collect()
                    })
                    .collect(),
            })
        } else {
            Weights::Dense(DenseWeights {
                kind: self.kind,
                rows,
                cols,
                data: self.weights.concat(),
            })
        };
        let mut ops = vec![Op::MatMul {
            weights,
            acc: self.acc,
        }];
        if form.fused {
            ops.push(Op::Epilogue {
                bias: self.bias.clone(),
                shift: self.shift,
                relu: self.relu,
            });
            return ops;
        }
        if !form.minimal || self.bias.iter().any(|&b| b != 0) {
            ops.push(Op::Bias {
                values: self.bias.clone(),
            });
        }
        if !form.minimal || self.shift != 0 || self.acc == Elem::I32 {
            ops.push(Op::Shift { amount: self.shift });
        }
        if self.relu {
            ops.push(Op::Relu);
        }
        ops
    }
}

/// A chain graph `input(inputs) → ops… → argmax`, typed by the IR's own inference.
pub fn chain(inputs: usize, ops: Vec<Op>) -> Graph {
    let mut g = Graph::new();
    let mut prev = g.add(Op::Input { len: inputs }, zlmc_ir::Type::i16s(inputs), &[]);
    for op in ops.into_iter().chain([Op::Argmax]) {
        let ty = infer(&op, &[g.node(prev).ty]).unwrap_or_else(|e| panic!("bad test chain: {e}"));
        prev = g.add(op, ty, &[prev]);
    }
    g
}

/// A raw-input classifier over `graph`.
pub fn raw_model(name: &str, graph: Graph) -> Model {
    let inputs = graph
        .node(graph.input().expect("has input"))
        .ty
        .len()
        .expect("vector");
    let out = graph.output().expect("has output");
    let classes = graph.node(graph.operands(out)[0]).ty.len().expect("vector");
    Model {
        name: name.to_string(),
        encoders: vec![Encoder::Raw {
            len: inputs,
            quant: None,
        }],
        decode: Decode::Classify {
            labels: (0..classes).map(|i| format!("class{i}")).collect(),
        },
        graph,
    }
}

/// Provenance used throughout the tests.
pub fn prov() -> Provenance {
    Provenance {
        version: "0.1.0".into(),
        source: "tests/hand-built.yaml".into(),
    }
}

/// A fresh directory for one test's files.
pub fn work_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("c_backend")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test directory");
    dir
}

/// Write a model's generated files into `dir`, returning the source path.
pub fn write_model(dir: &Path, model: &Model) -> PathBuf {
    let files: CFiles = emit(model, &prov()).unwrap_or_else(|e| panic!("emit {}: {e}", model.name));
    std::fs::write(dir.join(&files.header_name), &files.header).expect("write header");
    let src = dir.join(&files.source_name);
    std::fs::write(&src, &files.source).expect("write source");
    src
}

/// Fail clearly when gcc, a declared dependency of the C backend tests, is missing.
pub fn require_gcc() {
    match Command::new("gcc").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "gcc is required to test the C backend (it compiles and runs the generated \
             code); install gcc and make sure it is on PATH"
        ),
    }
}

/// Compile `sources` into an executable with the strict flags plus `extra`.
pub fn compile(dir: &Path, exe: &str, sources: &[PathBuf], extra: &[&str]) -> PathBuf {
    require_gcc();
    let out = dir.join(exe);
    let res = Command::new("gcc")
        .args(STRICT)
        .args(extra)
        .arg("-I")
        .arg(dir)
        .arg("-o")
        .arg(&out)
        .args(sources)
        .output()
        .expect("run gcc");
    assert!(
        res.status.success(),
        "gcc {:?} failed:\n{}",
        extra,
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// Run `exe` with `input` on stdin and return its stdout.
pub fn run(exe: &Path, input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run test driver");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("wait for test driver");
    writer.join().expect("join").expect("write stdin");
    assert!(
        out.status.success(),
        "test driver failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Lower-case hex of bytes, for passing arbitrary strings through a line protocol;
/// `-` stands for no bytes.
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inverse of [`hex`].
pub fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// C helpers for drivers: hex decoding and printing.
pub const DRIVER_PRELUDE: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

/* Decodes hex into buf (NUL-terminated); "-" is the empty string. */
static void unhex(const char *s, char *buf)
{
    size_t n = 0;
    if (strcmp(s, "-") != 0)
        for (; s[0] && s[1]; s += 2) {
            unsigned v;
            char two[3];
            two[0] = s[0];
            two[1] = s[1];
            two[2] = 0;
            v = (unsigned)strtoul(two, NULL, 16);
            ((unsigned char *)buf)[n++] = (unsigned char)v;
        }
    buf[n] = 0;
}

static void puthex(const char *s, size_t n)
{
    size_t i;
    if (n == 0)
        printf("-");
    for (i = 0; i < n; i++)
        printf("%02x", ((const unsigned char *)s)[i]);
}
"#;
