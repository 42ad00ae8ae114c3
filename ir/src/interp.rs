//! The reference interpreter: the meaning of every op, encoder and decoder.
//! Every backend is tested bit-for-bit against this module.

use std::collections::HashMap;

use crate::graph::{Graph, NodeId};
use crate::model::{Decode, Encoder, Model};
use crate::op::{shift_to_i16, Activation, Op, Window};
use crate::tensor::Weights;
use crate::types::{Shape, Type};

/// The value of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A vector, each element already wrapped to its element type.
    Vec(Vec<i64>),
    /// A class index.
    Index(usize),
}

/// Result of one inference step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The last vector before `argmax` (the logits), as int16.
    pub logits: Vec<i16>,
    /// The predicted class.
    pub class: usize,
}

/// Evaluate every node of a verified graph on `input`.
pub fn eval(graph: &Graph, input: &[i16]) -> HashMap<NodeId, Value> {
    let order = graph.topo_order().expect("verified graph is acyclic");
    let mut vals: HashMap<NodeId, Value> = HashMap::new();
    for n in order {
        let node = graph.node(n);
        let arg = |i: usize| -> &Vec<i64> {
            match &vals[&graph.operands(n)[i]] {
                Value::Vec(v) => v,
                Value::Index(_) => panic!("verified graph: vector operand expected"),
            }
        };
        let elem = node.ty.elem();
        let v = match &node.op {
            Op::Input { .. } => Value::Vec(input.iter().map(|&x| x as i64).collect()),
            Op::MatMul { weights, acc } => {
                let x = arg(0);
                // Sums are taken in i64 and wrapped once: wrapping is a ring
                // homomorphism, so this equals wrapping after every term.
                let sums: Vec<i64> = match weights {
                    Weights::Dense(d) => (0..d.rows)
                        .map(|r| d.row(r).iter().zip(x).map(|(&w, &v)| w as i64 * v).sum())
                        .collect(),
                    Weights::Sparse(s) => s
                        .rows
                        .iter()
                        .map(|row| row.iter().map(|&(c, w)| w as i64 * x[c as usize]).sum())
                        .collect(),
                };
                Value::Vec(sums.into_iter().map(|s| acc.wrap(s)).collect())
            }
            Op::Bias { values } => {
                let e = elem.expect("bias yields a vector");
                Value::Vec(
                    arg(0)
                        .iter()
                        .zip(per_element(values, arg(0).len()))
                        .map(|(&x, b)| e.wrap(x + b))
                        .collect(),
                )
            }
            Op::Shift { amount } => {
                Value::Vec(arg(0).iter().map(|&x| shift_to_i16(x, *amount)).collect())
            }
            Op::Activate(a) => Value::Vec(arg(0).iter().map(|&x| activate(a, x)).collect()),
            Op::Epilogue {
                bias,
                shift,
                activation,
            } => {
                let acc = graph
                    .node(graph.operands(n)[0])
                    .ty
                    .elem()
                    .expect("epilogue operand is a vector");
                Value::Vec(
                    arg(0)
                        .iter()
                        .zip(per_element(bias, arg(0).len()))
                        .map(|(&x, b)| epilogue(acc.wrap(x + b), *shift, activation.as_ref()))
                        .collect(),
                )
            }
            Op::Argmax => Value::Index(argmax(arg(0))),
            Op::Reshape { .. } | Op::Flatten => Value::Vec(arg(0).clone()),
            Op::Conv {
                window,
                groups,
                weights,
                acc,
            } => {
                let shape = operand_shape(graph, n);
                let sums = conv(arg(0), shape, window, *groups, weights);
                Value::Vec(sums.into_iter().map(|s| acc.wrap(s)).collect())
            }
            Op::MaxPool { window } => {
                let shape = operand_shape(graph, n);
                Value::Vec(pool(arg(0), shape, window, |w| {
                    w.iter()
                        .copied()
                        .max()
                        .expect("every window holds an element")
                }))
            }
            Op::AvgPool { window, mul, shift } => {
                let shape = operand_shape(graph, n);
                Value::Vec(pool(arg(0), shape, window, |w| {
                    let sum: i64 = w.iter().sum();
                    shift_to_i16(sum * *mul as i64, *shift)
                }))
            }
        };
        vals.insert(n, v);
    }
    vals
}

/// A bias's value for each of `len` elements: one per element, or one per
/// channel of a channel-major map (each repeated over its plane).
fn per_element(values: &[i64], len: usize) -> impl Iterator<Item = i64> + '_ {
    let plane = if values.is_empty() {
        1
    } else {
        len / values.len()
    };
    values
        .iter()
        .flat_map(move |&v| std::iter::repeat_n(v, plane))
}

/// The shape of node `n`'s map operand.
fn operand_shape(graph: &Graph, n: NodeId) -> Shape {
    graph
        .node(graph.operands(n)[0])
        .ty
        .shape()
        .expect("verified: window ops take maps")
}

/// Unwrapped convolution sums, output channel-major.
fn conv(x: &[i64], shape: Shape, window: &Window, groups: usize, w: &Weights) -> Vec<i64> {
    let per_group_in = shape.channels / groups;
    let per_group_out = w.rows() / groups;
    let area = window.area();
    let places = window.taps(shape);
    let mut out = Vec::with_capacity(w.rows() * places.len());
    for o in 0..w.rows() {
        let first = o / per_group_out * per_group_in;
        let entries = w.row_entries(o);
        for taps in &places {
            let mut sum = 0i64;
            for &(col, wv) in &entries {
                let (ci, tap) = (col as usize / area, col as usize % area);
                if let Some(at) = taps[tap] {
                    sum += wv as i64 * x[(first + ci) * shape.plane() + at];
                }
            }
            out.push(sum);
        }
    }
    out
}

/// `reduce` of every window's in-bounds elements, channel by channel.
fn pool(x: &[i64], shape: Shape, window: &Window, reduce: impl Fn(&[i64]) -> i64) -> Vec<i64> {
    let places = window.taps(shape);
    let mut out = Vec::with_capacity(shape.channels * places.len());
    let mut held = Vec::with_capacity(window.area());
    for c in 0..shape.channels {
        let base = c * shape.plane();
        for taps in &places {
            held.clear();
            held.extend(taps.iter().flatten().map(|&at| x[base + at]));
            out.push(reduce(&held));
        }
    }
    out
}

/// Shift (wrapped to i16) then the optional activation, on an accumulator
/// already holding the bias.
pub fn epilogue(acc: i64, shift: u32, activation: Option<&Activation>) -> i64 {
    let y = shift_to_i16(acc, shift);
    match activation {
        Some(a) => activate(a, y),
        None => y,
    }
}

/// An activation on an i16 value held as i64.
pub fn activate(a: &Activation, x: i64) -> i64 {
    a.apply(x as i16) as i64
}

/// Index of the first maximum (a later equal value does not replace it).
pub fn argmax(v: &[i64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Run one inference step of `model` on an input vector.
pub fn step(graph: &Graph, input: &[i16]) -> StepResult {
    let vals = eval(graph, input);
    let out = graph.output().expect("verified graph has an output");
    let class = match &vals[&out] {
        Value::Index(i) => *i,
        Value::Vec(_) => panic!("verified graph ends in argmax"),
    };
    let logits_node = graph.operands(out)[0];
    let logits = match &vals[&logits_node] {
        Value::Vec(v) => v.iter().map(|&x| x as i16).collect(),
        Value::Index(_) => unreachable!(),
    };
    debug_assert!(matches!(graph.node(logits_node).ty, Type::Vec { .. }));
    StepResult { logits, class }
}

/// Lower-case ASCII `A`–`Z`, keep every other byte.
pub fn lower(b: u8) -> u8 {
    if b.is_ascii_uppercase() {
        b + 0x20
    } else {
        b
    }
}

/// z80ai's query trigram hash: add `value` to the buckets of the padded query's trigrams.
pub fn encode_query(query: &[u8], buckets: usize, value: i16, out: &mut [i16]) {
    out.iter_mut().for_each(|x| *x = 0);
    let start = query.iter().position(|&b| b != b' ').unwrap_or(query.len());
    let body = &query[start..];
    if body.is_empty() {
        return;
    }
    let mut s = Vec::with_capacity(body.len() + 2);
    s.push(b' ');
    s.extend(body.iter().map(|&b| lower(b)));
    s.push(b' ');
    for t in s.windows(3) {
        let h = (t[0] as u16).wrapping_mul(31).wrapping_add(t[1] as u16);
        let h = h.wrapping_mul(31).wrapping_add(t[2] as u16);
        let i = h as usize & (buckets - 1);
        out[i] = out[i].wrapping_add(value);
    }
}

/// z80ai's context hash of the last reply characters (1-, 2- and 3-grams, position-seeded).
pub fn encode_context(ctx: &[u8], buckets: usize, value: i16, out: &mut [i16]) {
    out.iter_mut().for_each(|x| *x = 0);
    for n in 1..=3usize.min(ctx.len()) {
        for pos in 0..=ctx.len() - n {
            let mut h = (pos as u16).wrapping_mul(7);
            for &c in &ctx[pos..pos + n] {
                h = h.wrapping_mul(31).wrapping_add(c as u16);
            }
            let i = h as usize & (buckets - 1);
            out[i] = out[i].wrapping_add(value);
        }
    }
}

/// Build the input vector for a text model from the query and the reply context.
pub fn encode(model: &Model, query: &[u8], ctx: &[u8]) -> Vec<i16> {
    let mut input = vec![0i16; model.input_len()];
    let mut at = 0;
    for e in &model.encoders {
        let out = &mut input[at..at + e.len()];
        match *e {
            Encoder::QueryTrigram { buckets, value } => encode_query(query, buckets, value, out),
            Encoder::ContextNgram { buckets, value, .. } => {
                encode_context(ctx, buckets, value, out)
            }
            Encoder::Raw { .. } => {}
        }
        at += e.len();
    }
    input
}

/// The context length of a model's context encoder (0 if it has none).
pub fn context_length(model: &Model) -> usize {
    model
        .encoders
        .iter()
        .find_map(|e| match e {
            Encoder::ContextNgram { length, .. } => Some(*length),
            _ => None,
        })
        .unwrap_or(0)
}

/// The model's answer to a text query: the generated reply, the class label,
/// or the values.
/// Also returns the number of inference steps taken.
pub fn reply(model: &Model, query: &[u8]) -> (Vec<u8>, usize) {
    match &model.decode {
        Decode::Generate {
            charset,
            eos,
            max_length,
        } => {
            let mut ctx = vec![b' '; context_length(model)];
            let mut out = Vec::new();
            let mut steps = 0;
            while out.len() < *max_length {
                let r = step(&model.graph, &encode(model, query, &ctx));
                steps += 1;
                if r.class == *eos {
                    break;
                }
                let c = charset[r.class];
                out.push(c);
                if !ctx.is_empty() {
                    ctx.remove(0);
                    ctx.push(lower(c));
                }
            }
            (out, steps)
        }
        Decode::Classify { labels } => {
            let r = step(&model.graph, &encode(model, query, &[]));
            (labels[r.class].as_bytes().to_vec(), 1)
        }
        Decode::Values { quant, .. } => {
            let r = step(&model.graph, &encode(model, query, &[]));
            (quant.text(&r.logits).into_bytes(), 1)
        }
    }
}
