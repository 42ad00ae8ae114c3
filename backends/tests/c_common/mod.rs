//! Shared helpers of the C backend tests: hand-built models and a driver prelude
//! (the generator, gcc and scratch folders come from `zlmc-test-support`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use zlmc_backends::Provenance;
use zlmc_ir::tensor::{DenseWeights, SparseWeights};
use zlmc_ir::verify::infer;
use zlmc_ir::{Activation, Decode, Elem, Encoder, Graph, Model, Op, WeightKind, Weights};
use zlmc_test_support::models::random_bias;
pub use zlmc_test_support::Rng;
use zlmc_test_support::{build, scratch, TempDir};

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
    /// The activation after the shift, if any.
    pub activation: Option<Activation>,
    pub acc: Elem,
}

/// How a layer is spelled in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub sparse: bool,
    /// One `epilogue` node instead of `bias`, `shift`, activation.
    pub fused: bool,
    /// Leave out ops that do nothing (zero bias, shift by 0, no ReLU).
    pub minimal: bool,
}

impl Form {
    /// Dense weights and every op spelled out.
    pub const DENSE: Form = Form::new(false, false, false);
    /// Dense weights, ops that do nothing left out.
    pub const DENSE_MINIMAL: Form = Form::new(false, false, true);
    /// Dense weights and one fused epilogue.
    pub const DENSE_FUSED: Form = Form::new(false, true, false);
    /// Sparse weights and every op spelled out.
    pub const SPARSE: Form = Form::new(true, false, false);
    /// Sparse weights, ops that do nothing left out.
    pub const SPARSE_MINIMAL: Form = Form::new(true, false, true);
    /// Sparse weights and one fused epilogue.
    pub const SPARSE_FUSED: Form = Form::new(true, true, false);

    const fn new(sparse: bool, fused: bool, minimal: bool) -> Form {
        Form {
            sparse,
            fused,
            minimal,
        }
    }
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
                            rng.pick(&nonzero)
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        let bias = (0..rows).map(|_| random_bias(rng, acc)).collect();
        LayerSpec {
            weights,
            cols,
            kind,
            bias,
            shift: rng.below(acc.bits() as u64) as u32,
            activation: rng.chance(50).then_some(Activation::Relu),
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
                activation: self.activation.clone(),
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
        if let Some(a) = &self.activation {
            ops.push(Op::Activate(a.clone()));
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

/// A fresh scratch folder for one test.
pub fn work_dir(test: &str) -> TempDir {
    scratch(&format!("c-{test}"))
}

/// Writes a model's generated files into `dir`, returning the source path.
pub fn write_model(dir: &Path, model: &Model) -> PathBuf {
    build::write_c(dir, model, &prov())
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
