//! Model → `.zir` text. The output is deterministic so it can be diffed and
//! snapshot-tested, and parses back to an equal model.

use std::collections::HashMap;
use std::fmt::Write;

use crate::graph::NodeId;
use crate::model::{Decode, Encoder, Model};
use crate::op::{Activation, Op, Window};
use crate::tensor::Weights;

/// Render `m` in the `.zir` format, nodes numbered in topological order.
pub fn print_model(m: &Model) -> String {
    let mut out = String::new();
    out.push_str("zir 1\n");
    out.push_str("model ");
    quote_str(&mut out, &m.name);
    out.push('\n');
    for e in &m.encoders {
        // Writing into a String cannot fail.
        let _ = match e {
            Encoder::QueryTrigram { buckets, value } => writeln!(
                out,
                "encode query_trigram(buckets: {buckets}, value: {value})"
            ),
            Encoder::ContextNgram {
                buckets,
                length,
                value,
            } => writeln!(
                out,
                "encode context_ngram(buckets: {buckets}, length: {length}, value: {value})"
            ),
            Encoder::Raw { len, quant: None } => writeln!(out, "encode raw(length: {len})"),
            // `{:?}` prints the shortest text that parses back to the same f64.
            Encoder::Raw {
                len,
                quant: Some(q),
            } => {
                let _ = write!(
                    out,
                    "encode raw(length: {len}, scale: {:?}, zero_point: {}",
                    q.scale, q.zero_point
                );
                if let Some((lo, hi)) = q.range {
                    let _ = write!(out, ", min: {lo:?}, max: {hi:?}");
                }
                writeln!(out, ")")
            }
        };
    }
    match &m.decode {
        Decode::Generate {
            charset,
            eos,
            max_length,
        } => {
            out.push_str("decode generate(charset: ");
            quote_bytes(&mut out, charset);
            let _ = writeln!(out, ", eos: {eos}, max_length: {max_length})");
        }
        Decode::Classify { labels } => {
            out.push_str("decode classify(labels: [");
            for (i, l) in labels.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote_str(&mut out, l);
            }
            out.push_str("])\n");
        }
        Decode::Values { count, quant } => {
            let _ = writeln!(
                out,
                "decode values(count: {count}, scale: {:?}, zero_point: {})",
                quant.scale, quant.zero_point
            );
        }
    }
    out.push('\n');

    let g = &m.graph;
    // A cyclic graph cannot be written faithfully; print it in id order rather than panic.
    let order = g.topo_order().unwrap_or_else(|| g.node_ids());
    let num: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let operand = |n: NodeId, i: usize| -> String {
        match g.operands(n).get(i).and_then(|o| num.get(o)) {
            Some(k) => format!("%{k}"),
            None => "%missing".to_string(),
        }
    };
    // A window over a 1-D map is written 1-D when it can be.
    let one_d = |n: NodeId| {
        let on_1d = g.operands(n).first().and_then(|&o| g.node(o).ty.shape());
        on_1d.is_some_and(|s| s.is_1d())
    };
    for (i, &n) in order.iter().enumerate() {
        let node = g.node(n);
        let _ = write!(out, "%{i} = {}", node.op.mnemonic());
        match &node.op {
            Op::Input { .. } => {}
            Op::MatMul { weights, acc } => {
                let _ = write!(out, " {}, ", operand(n, 0));
                print_weights(&mut out, weights);
                let _ = write!(out, ", acc {acc}");
            }
            Op::Bias { values } => {
                let _ = write!(out, " {}, ", operand(n, 0));
                print_list(&mut out, values);
            }
            Op::Shift { amount } => {
                let _ = write!(out, " {}, {amount}", operand(n, 0));
            }
            Op::Argmax => {
                let _ = write!(out, " {}", operand(n, 0));
            }
            Op::Activate(a) => {
                let _ = write!(out, " {}", operand(n, 0));
                let args = activation_args(a);
                if !args.is_empty() {
                    let _ = write!(out, ", {args}");
                }
            }
            Op::Epilogue {
                bias,
                shift,
                activation,
            } => {
                let _ = write!(out, " {}, bias ", operand(n, 0));
                print_list(&mut out, bias);
                let _ = write!(out, ", shift {shift}");
                if let Some(a) = activation {
                    let _ = write!(out, ", {}", a.mnemonic());
                    let args = activation_args(a);
                    if !args.is_empty() {
                        let _ = write!(out, " {args}");
                    }
                }
            }
            Op::Reshape { shape } => {
                let _ = write!(out, " {}, [{shape}]", operand(n, 0));
            }
            Op::Flatten => {
                let _ = write!(out, " {}", operand(n, 0));
            }
            Op::Conv {
                window,
                groups,
                weights,
                acc,
            } => {
                let _ = write!(out, " {}, ", operand(n, 0));
                print_window(&mut out, window, one_d(n));
                let _ = write!(out, ", groups {groups}, ");
                print_weights(&mut out, weights);
                let _ = write!(out, ", acc {acc}");
            }
            Op::MaxPool { window } => {
                let _ = write!(out, " {}, ", operand(n, 0));
                print_window(&mut out, window, one_d(n));
            }
            Op::AvgPool { window, mul, shift } => {
                let _ = write!(out, " {}, ", operand(n, 0));
                print_window(&mut out, window, one_d(n));
                let _ = write!(out, ", mul {mul}, shift {shift}");
            }
        }
        let _ = writeln!(out, " : {}", node.ty);
    }
    out
}

/// An activation's arguments, `name value` separated by commas (none for relu).
fn activation_args(a: &Activation) -> String {
    match a {
        Activation::Relu => String::new(),
        Activation::Clamp { lo, hi } => format!("lo {lo}, hi {hi}"),
        Activation::LeakyRelu { mul, shift } => format!("mul {mul}, shift {shift}"),
        Activation::Lut { lo, table } => {
            let mut s = format!("lo {lo}, table [");
            push_joined(&mut s, table, ", ");
            s.push(']');
            s
        }
    }
}

/// `kernel [kh, kw], stride [sh, sw], pad [t, l, b, r]`, or the 1-D form
/// `kernel [k], stride [s], pad [l, r]` when `one_d` and the window allows.
fn print_window(out: &mut String, w: &Window, one_d: bool) {
    let [kh, kw] = w.kernel;
    let [sh, sw] = w.stride;
    let [t, l, b, r] = w.pads;
    if one_d && w.is_1d() {
        let _ = write!(out, "kernel [{kw}], stride [{sw}], pad [{l}, {r}]");
    } else {
        let _ = write!(
            out,
            "kernel [{kh}, {kw}], stride [{sh}, {sw}], pad [{t}, {l}, {b}, {r}]"
        );
    }
}

fn print_list(out: &mut String, values: &[i64]) {
    out.push('[');
    push_joined(out, values, ", ");
    out.push(']');
}

/// `values` separated by `sep`.
fn push_joined<T: std::fmt::Display>(out: &mut String, values: &[T], sep: &str) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let _ = write!(out, "{v}");
    }
}

/// One row per line keeps 256×256 matrices readable and diffs row-local.
fn print_weights(out: &mut String, w: &Weights) {
    let layout = match w {
        Weights::Dense(_) => "dense",
        Weights::Sparse(_) => "sparse",
    };
    let _ = write!(out, "{layout} {}[{}, {}] [", w.kind(), w.rows(), w.cols());
    if w.rows() == 0 {
        out.push(']');
        return;
    }
    out.push('\n');
    match w {
        Weights::Dense(d) => {
            for r in 0..d.rows {
                // Tolerate a malformed matrix (data shorter than rows × cols): print, don't panic.
                let row = r
                    .checked_mul(d.cols)
                    .and_then(|s| d.data.get(s..s.checked_add(d.cols)?))
                    .unwrap_or(&[]);
                out.push_str("  [");
                push_joined(out, row, " ");
                out.push_str("]\n");
            }
        }
        Weights::Sparse(s) => {
            for row in &s.rows {
                out.push_str("  [");
                for (i, (c, v)) in row.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{c}:{v}");
                }
                out.push_str("]\n");
            }
        }
    }
    out.push(']');
}

/// Bytes as a string literal: printable ASCII as is, everything else `\xHH`.
fn quote_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        push_ascii_or_hex(out, b);
    }
    out.push('"');
}

/// A Rust string as a literal: like [`quote_bytes`] but non-ASCII characters stay readable.
fn quote_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c.is_ascii() {
            push_ascii_or_hex(out, c as u8);
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

fn push_ascii_or_hex(out: &mut String, b: u8) {
    match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        0x20..=0x7e => out.push(b as char),
        _ => {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}
