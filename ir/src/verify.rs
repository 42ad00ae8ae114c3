//! The verifier: structural and type rules every graph must satisfy.

use crate::graph::{Graph, NodeId};
use crate::model::{Decode, Model};
use crate::op::Op;
use crate::tensor::Weights;
use crate::types::{Elem, Type};

/// A broken rule, naming the node where it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", node.map(|n| format!("node %{}: ", n.index())).unwrap_or_default())]
pub struct VerifyError {
    /// The offending node, if the rule concerns one.
    pub node: Option<NodeId>,
    /// What is wrong.
    pub message: String,
}

fn err(node: Option<NodeId>, message: impl Into<String>) -> VerifyError {
    VerifyError {
        node,
        message: message.into(),
    }
}

/// The type `op` produces from operands of types `args`, or why it cannot.
pub fn infer(op: &Op, args: &[Type]) -> Result<Type, String> {
    if args.len() != op.arity() {
        return Err(format!(
            "{} takes {} operand(s), has {}",
            op.mnemonic(),
            op.arity(),
            args.len()
        ));
    }
    // Vectors for matmul and argmax; maps for the window ops; either for
    // the elementwise ops, which keep the shape.
    let vec_arg = || match args[0] {
        Type::Vec { elem, len } => Ok((elem, len)),
        Type::Map { .. } => Err(format!(
            "{} needs a vector operand, has the map {} (flatten it first)",
            op.mnemonic(),
            args[0]
        )),
        Type::Index => Err(format!("{} needs a vector operand", op.mnemonic())),
    };
    let map_arg = || match args[0] {
        Type::Map {
            elem: Elem::I16,
            shape,
        } => Ok(shape),
        other => Err(format!(
            "{} needs an i16 map operand, has {other}",
            op.mnemonic()
        )),
    };
    // An elementwise op's operand: its element type, its length, and how
    // many values a bias needs (one per channel on a map).
    let any_arg = || match args[0] {
        Type::Vec { elem, len } => Ok((elem, len, len)),
        Type::Map { elem, shape } => Ok((elem, shape.len(), shape.channels)),
        Type::Index => Err(format!("{} needs a vector operand", op.mnemonic())),
    };
    // The same shape (map or vector) with elements of `elem`.
    let keep_shape = |elem: Elem| match args[0] {
        Type::Map { shape, .. } => Type::Map { elem, shape },
        other => Type::Vec {
            elem,
            len: other.len().unwrap_or(0),
        },
    };
    match op {
        Op::Input { len } => Ok(Type::i16s(*len)),
        Op::MatMul { weights, acc } => {
            let (elem, len) = vec_arg()?;
            if elem != Elem::I16 {
                return Err(format!("matmul input must be i16, is {elem}"));
            }
            if weights.cols() != len {
                return Err(format!(
                    "matmul weights have {} columns but the input has {len} elements",
                    weights.cols()
                ));
            }
            Ok(Type::Vec {
                elem: *acc,
                len: weights.rows(),
            })
        }
        Op::Bias { values } => {
            let (elem, _, want) = any_arg()?;
            check_len("bias", values.len(), want)?;
            check_fits("bias", values, elem)?;
            Ok(args[0])
        }
        Op::Shift { amount } => {
            let (elem, _, _) = any_arg()?;
            if *amount >= elem.bits() {
                return Err(format!("shift by {amount} on {elem}"));
            }
            Ok(keep_shape(Elem::I16))
        }
        Op::Activate(a) => {
            let (elem, _, _) = any_arg()?;
            if elem != Elem::I16 {
                return Err(format!("{} input must be i16, is {elem}", a.mnemonic()));
            }
            a.check()?;
            Ok(keep_shape(Elem::I16))
        }
        Op::Epilogue {
            bias,
            shift,
            activation,
        } => {
            if let Some(a) = activation {
                a.check()?;
            }
            let (elem, _, want) = any_arg()?;
            check_len("epilogue bias", bias.len(), want)?;
            check_fits("epilogue bias", bias, elem)?;
            if *shift >= elem.bits() {
                return Err(format!("shift by {shift} on {elem}"));
            }
            Ok(keep_shape(Elem::I16))
        }
        Op::Argmax => {
            let (elem, len) = vec_arg()?;
            if elem != Elem::I16 || len == 0 {
                return Err(format!(
                    "argmax needs a non-empty i16 vector, has {}",
                    args[0]
                ));
            }
            Ok(Type::Index)
        }
        Op::Reshape { shape } => {
            let (elem, len, _) = any_arg()?;
            if elem != Elem::I16 {
                return Err(format!("reshape input must be i16, is {elem}"));
            }
            if shape.len() != len || shape.is_empty() {
                return Err(format!(
                    "reshape to [{shape}] needs {} elements, the operand has {len}",
                    shape.len()
                ));
            }
            Ok(Type::Map {
                elem,
                shape: *shape,
            })
        }
        Op::Flatten => match args[0] {
            Type::Map { elem, shape } => Ok(Type::Vec {
                elem,
                len: shape.len(),
            }),
            other => Err(format!("flatten needs a map operand, has {other}")),
        },
        Op::Conv {
            window,
            groups,
            weights,
            acc,
        } => {
            let shape = map_arg()?;
            let (c, o) = (shape.channels, weights.rows());
            let output = window.map_over(shape, o)?;
            if *groups == 0 || c % groups != 0 || o % groups != 0 {
                return Err(format!(
                    "{groups} groups must divide the {c} input and {o} output channels"
                ));
            }
            let taps = c / groups * window.area();
            if weights.cols() != taps {
                return Err(format!(
                    "conv weights have {} columns, {} input channels per group times a {}x{} kernel need {taps}",
                    weights.cols(),
                    c / groups,
                    window.kernel[0],
                    window.kernel[1]
                ));
            }
            Ok(Type::Map {
                elem: *acc,
                shape: output,
            })
        }
        Op::MaxPool { window } | Op::AvgPool { window, .. } => {
            let shape = map_arg()?;
            let output = window.map_over(shape, shape.channels)?;
            if let Op::AvgPool { mul, shift, .. } = op {
                if *mul == 0 || *shift >= 32 {
                    return Err(format!(
                        "avgpool needs 1 <= mul <= 255 and shift < 32, has mul {mul}, shift {shift}"
                    ));
                }
            }
            Ok(Type::Map {
                elem: Elem::I16,
                shape: output,
            })
        }
    }
}

fn check_len(what: &str, have: usize, want: usize) -> Result<(), String> {
    if have == want {
        Ok(())
    } else {
        Err(format!("{what} has {have} values for {want} elements"))
    }
}

fn check_fits(what: &str, values: &[i64], elem: Elem) -> Result<(), String> {
    match values.iter().find(|&&v| elem.wrap(v) != v) {
        Some(v) => Err(format!("{what} value {v} does not fit {elem}")),
        None => Ok(()),
    }
}

fn check_weights(w: &Weights) -> Result<(), String> {
    let kind = w.kind();
    match w {
        Weights::Dense(d) => {
            if d.data.len() != d.rows * d.cols {
                return Err(format!(
                    "dense weights hold {} values for {}x{}",
                    d.data.len(),
                    d.rows,
                    d.cols
                ));
            }
            if let Some(v) = d.data.iter().find(|&&v| !kind.allows(v as i64)) {
                return Err(format!("weight {v} is not an {kind} value"));
            }
        }
        Weights::Sparse(s) => {
            for (r, row) in s.rows.iter().enumerate() {
                for (i, &(c, v)) in row.iter().enumerate() {
                    if v == 0 || !kind.allows(v as i64) {
                        return Err(format!(
                            "row {r}: weight {v} is not a non-zero {kind} value"
                        ));
                    }
                    if c as usize >= s.cols || (i > 0 && row[i - 1].0 >= c) {
                        return Err(format!("row {r}: columns must ascend below {}", s.cols));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Check a graph: acyclic, one input first, ops well-typed, ends in one argmax.
pub fn verify_graph(g: &Graph) -> Result<(), VerifyError> {
    let order = g
        .topo_order()
        .ok_or_else(|| err(None, "the graph has a cycle"))?;
    if order.is_empty() {
        return Err(err(None, "the graph is empty"));
    }
    let inputs = g.find(|op| matches!(op, Op::Input { .. }));
    if inputs.len() != 1 {
        return Err(err(
            None,
            format!("the graph has {} inputs, needs 1", inputs.len()),
        ));
    }
    for &n in &order {
        let node = g.node(n);
        if let Op::MatMul { weights, .. } | Op::Conv { weights, .. } = &node.op {
            check_weights(weights).map_err(|m| err(Some(n), m))?;
        }
        let args: Vec<Type> = g.operands(n).iter().map(|&o| g.node(o).ty).collect();
        let ty = infer(&node.op, &args).map_err(|m| err(Some(n), m))?;
        if ty != node.ty {
            return Err(err(
                Some(n),
                format!(
                    "{} yields {ty}, but is typed {}",
                    node.op.mnemonic(),
                    node.ty
                ),
            ));
        }
    }
    let sinks: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|&n| g.users(n).is_empty())
        .collect();
    match sinks.as_slice() {
        [n] if g.node(*n).op == Op::Argmax => Ok(()),
        [n] => Err(err(Some(*n), "the graph must end in argmax")),
        _ => Err(err(
            None,
            format!("the graph has {} results, needs exactly 1", sinks.len()),
        )),
    }
}

/// Check a model: a verified graph whose input and output fit the encoders and decoder.
pub fn verify_model(m: &Model) -> Result<(), VerifyError> {
    verify_graph(&m.graph)?;
    let input = m.graph.input().expect("verified");
    let len = m.graph.node(input).ty.len().unwrap_or(0);
    let fill = m.input_len();
    if len != fill {
        let message = format!("input has {len} elements but the encoders fill {fill}");
        return Err(err(Some(input), message));
    }
    let out = m.graph.output().expect("verified");
    let logits = m.graph.operands(out)[0];
    let classes = m.graph.node(logits).ty.len().unwrap_or(0);
    let named = m.classes();
    if classes != named {
        let message =
            format!("the network has {classes} outputs but the decoder names {named} classes");
        return Err(err(Some(out), message));
    }
    if let Decode::Generate { eos, .. } = &m.decode {
        if *eos >= classes {
            return Err(err(
                None,
                format!("end-of-sequence class {eos} out of range"),
            ));
        }
    }
    validate_model(m)
}

/// Limits every model must keep, whichever front end produced it.
///
/// They are checked before anything sized by the model is allocated, so a
/// hostile file fails quickly instead of exhausting memory or time.
pub mod limits {
    /// Most hash buckets of one encoder (the hash is 16 bits wide).
    pub const MAX_BUCKETS: usize = 65_536;
    /// Longest context an n-gram encoder may hash (the Z80 keeps it in a byte).
    pub const MAX_CONTEXT: usize = 255;
    /// Longest reply (the 8-bit targets count it in 16 bits).
    pub const MAX_REPLY: usize = 65_535;
    /// Most elements of any vector in the graph: two encoders of the most buckets.
    pub const MAX_VECTOR: usize = 2 * MAX_BUCKETS;
    /// Most weights (dense elements, or stored sparse entries) of the whole model.
    pub const MAX_WEIGHTS: usize = 1 << 20;
    /// Most multiply-adds one reply may take (replies × weights), so a run stays fast.
    pub const MAX_REPLY_WORK: u64 = 1 << 26;
    /// Most classes (labels or charset bytes): a vector's worth.
    pub const MAX_CLASSES: usize = MAX_VECTOR;
}

/// The number of stored weights of a matrix (dense elements, or sparse entries).
fn stored_weights(w: &Weights) -> usize {
    match w {
        Weights::Dense(d) => d.data.len(),
        Weights::Sparse(s) => s.rows.iter().map(Vec::len).sum(),
    }
}

/// Check the model-level rules (encoders, decoder, sizes) that hold for every
/// front end; [`verify_model`] calls it after the graph checks.
pub fn validate_model(m: &Model) -> Result<(), VerifyError> {
    use crate::model::Encoder;
    use limits::*;
    for &n in &m.graph.topo_order().unwrap_or_default() {
        if let Some(len) = m.graph.node(n).ty.len() {
            if len > MAX_VECTOR {
                return Err(err(
                    Some(n),
                    format!("vector of {len} elements exceeds the limit of {MAX_VECTOR}"),
                ));
            }
        }
        if let Op::MatMul { weights, .. } = &m.graph.node(n).op {
            if weights.cols() > MAX_VECTOR || weights.rows() > MAX_VECTOR {
                return Err(err(
                    Some(n),
                    format!(
                        "{}x{} matrix exceeds the limit of {MAX_VECTOR} rows or columns",
                        weights.rows(),
                        weights.cols()
                    ),
                ));
            }
        }
    }
    let total: usize = m
        .graph
        .topo_order()
        .unwrap_or_default()
        .iter()
        .filter_map(|&n| match &m.graph.node(n).op {
            Op::MatMul { weights, .. } => Some(stored_weights(weights)),
            _ => None,
        })
        .sum();
    if total > MAX_WEIGHTS {
        return Err(err(
            None,
            format!("the model has {total} weights, more than the limit of {MAX_WEIGHTS}"),
        ));
    }
    for e in &m.encoders {
        match *e {
            Encoder::QueryTrigram { buckets, .. } | Encoder::ContextNgram { buckets, .. } => {
                if !buckets.is_power_of_two() {
                    return Err(err(
                        None,
                        format!("{buckets} buckets: must be a power of two (the hash is masked)"),
                    ));
                }
                if buckets > MAX_BUCKETS {
                    return Err(err(
                        None,
                        format!("{buckets} buckets: more than the limit of {MAX_BUCKETS}"),
                    ));
                }
            }
            Encoder::Raw { len, .. } => {
                if len == 0 || len > MAX_VECTOR {
                    return Err(err(
                        None,
                        format!("raw input of {len} elements: must be 1..={MAX_VECTOR}"),
                    ));
                }
            }
        }
        if let Encoder::ContextNgram { length, .. } = *e {
            if !(1..=MAX_CONTEXT).contains(&length) {
                return Err(err(
                    None,
                    format!("context length {length} must be 1..={MAX_CONTEXT}"),
                ));
            }
        }
    }
    if m.encoders.is_empty() {
        return Err(err(None, "no input encoders"));
    }
    let classes = m.classes();
    if classes == 0 || classes > MAX_CLASSES {
        return Err(err(
            None,
            format!("{classes} output classes: must be 1..={MAX_CLASSES}"),
        ));
    }
    let replies = match &m.decode {
        Decode::Generate { max_length, .. } => {
            if !(1..=MAX_REPLY).contains(max_length) {
                return Err(err(
                    None,
                    format!("max_length {max_length} must be 1..={MAX_REPLY}"),
                ));
            }
            *max_length as u64
        }
        // Mixed raw and text encoders, any charset byte and any label text are
        // the IR's to express (the spec is stricter); backends refuse what they
        // cannot generate.
        Decode::Classify { .. } => 1,
        Decode::Values { quant, .. } => {
            if !(quant.scale.is_finite() && quant.scale > 0.0) {
                return Err(err(
                    None,
                    format!("values scale {} must be positive and finite", quant.scale),
                ));
            }
            1
        }
    };
    let work = replies.saturating_mul(total.max(1) as u64);
    if work > MAX_REPLY_WORK {
        return Err(err(
            None,
            format!(
                "a reply may take {replies} steps of {total} weights, more than the limit of \
                 {MAX_REPLY_WORK} multiply-adds"
            ),
        ));
    }
    Ok(())
}
