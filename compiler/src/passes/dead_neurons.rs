//! Dead-neuron elimination. A hidden neuron whose weight row is all zero
//! outputs a constant `c = post(bias)`; its contribution to the next layer is
//! the constant `W'[k][i]·c`, which is folded into that layer's bias before the
//! neuron (its row, its bias entry and the next layer's column) is dropped.
//!
//! A convolution's output channel whose kernel is all zero is a constant map
//! likewise. It is dropped where its contribution is one constant per output
//! of the next layer: a dense layer after the flatten (every element of the
//! channel is a column), or an unpadded convolution without groups (every
//! window reads the whole kernel over the constant channel). Grouped
//! convolutions, pools and padding in between keep their channels.

use zlmc_ir::interp::{activate, epilogue};
use zlmc_ir::op::shift_to_i16;
use zlmc_ir::{Graph, Model, NodeId, Op, Type};

/// Drop every dead hidden neuron (keeping at least one per layer).
pub fn run(model: &mut Model) {
    dense(model);
    channels(model);
}

/// Dead neurons between matmuls.
fn dense(model: &mut Model) {
    let g = &mut model.graph;
    for m1 in g.find(|op| matches!(op, Op::MatMul { .. })) {
        let Some((chain, m2)) = chain_to_next_matmul(g, m1) else {
            continue;
        };
        let rows = rows_of(g, m1);
        for i in (0..rows).rev() {
            if rows_of(g, m1) == 1 {
                break;
            }
            let dead = match &g.node(m1).op {
                Op::MatMul { weights, .. } => weights.row_is_zero(i),
                _ => unreachable!(),
            };
            if dead {
                let c = constant_output(g, m1, &chain, i);
                fold_column(g, m2, i, c);
                remove_neuron(g, m1, &chain, i);
            }
        }
    }
}

fn rows_of(g: &Graph, m: NodeId) -> usize {
    match &g.node(m).op {
        Op::MatMul { weights, .. } | Op::Conv { weights, .. } => weights.rows(),
        _ => unreachable!(),
    }
}

/// What reads a convolution's channels after its elementwise chain.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// `flatten → matmul`: channel `i` is columns `i·plane ..`.
    Dense { flatten: NodeId, matmul: NodeId },
    /// An unpadded, ungrouped convolution: channel `i` is columns `i·area ..`.
    Conv(NodeId),
}

/// Dead channels of ungrouped convolutions (see the module comment).
fn channels(model: &mut Model) {
    let g = &mut model.graph;
    for c1 in g.find(|op| matches!(op, Op::Conv { groups: 1, .. })) {
        let Some((chain, reader)) = chain_to_reader(g, c1) else {
            continue;
        };
        let shape = g.node(c1).ty.shape().expect("a conv yields a map");
        let plane = shape.height * shape.width;
        for i in (0..rows_of(g, c1)).rev() {
            if rows_of(g, c1) == 1 {
                break;
            }
            let dead = match &g.node(c1).op {
                Op::Conv { weights, .. } => weights.row_is_zero(i),
                _ => unreachable!(),
            };
            if !dead {
                continue;
            }
            let c = constant_output(g, c1, &chain, i);
            match reader {
                Reader::Dense { flatten, matmul } => {
                    for p in (i * plane..(i + 1) * plane).rev() {
                        fold_column(g, matmul, p, c);
                    }
                    if let Type::Vec { len, .. } = &mut g.node_mut(flatten).ty {
                        *len -= plane;
                    }
                }
                Reader::Conv(c2) => fold_channel(g, c2, i, c),
            }
            remove_neuron(g, c1, &chain, i);
        }
    }
}

/// The elementwise nodes after convolution `c1` and what reads its channels
/// after them, when each has one user and the reader is one that a dead
/// channel folds into.
fn chain_to_reader(g: &Graph, c1: NodeId) -> Option<(Vec<NodeId>, Reader)> {
    let mut chain = Vec::new();
    let mut n = c1;
    loop {
        let [next] = g.users(n)[..] else {
            return None;
        };
        match &g.node(next).op {
            op if op.is_elementwise() => {
                chain.push(next);
                n = next;
            }
            Op::Flatten => {
                let [m] = g.users(next)[..] else {
                    return None;
                };
                return matches!(g.node(m).op, Op::MatMul { .. }).then_some((
                    chain,
                    Reader::Dense {
                        flatten: next,
                        matmul: m,
                    },
                ));
            }
            Op::Conv {
                window, groups: 1, ..
            } if window.pads == [0; 4] => return Some((chain, Reader::Conv(next))),
            _ => return None,
        }
    }
}

/// Fold input channel `i` of convolution `c2`, constant `c`, into the bias
/// after it (every window reads the whole kernel: there is no padding), then
/// drop the channel's kernel columns.
fn fold_channel(g: &mut Graph, c2: NodeId, i: usize, c: i64) {
    let (sums, area, acc) = match &g.node(c2).op {
        Op::Conv {
            weights,
            window,
            acc,
            ..
        } => {
            let area = window.kernel[0] * window.kernel[1];
            let sums: Vec<i64> = (0..weights.rows())
                .map(|r| {
                    (i * area..(i + 1) * area)
                        .map(|col| weights.get(r, col) as i64)
                        .sum()
                })
                .collect();
            (sums, area, *acc)
        }
        _ => unreachable!(),
    };
    if c != 0 && sums.iter().any(|&w| w != 0) {
        let bias_node = bias_after(g, c2);
        match &mut g.node_mut(bias_node).op {
            Op::Bias { values } | Op::Epilogue { bias: values, .. } => {
                for (b, w) in values.iter_mut().zip(&sums) {
                    *b = acc.wrap(*b + w * c);
                }
            }
            _ => unreachable!(),
        }
    }
    if let Op::Conv { weights, .. } = &mut g.node_mut(c2).op {
        for col in (i * area..(i + 1) * area).rev() {
            weights.remove_col(col);
        }
    }
}

/// The elementwise nodes after `m1` up to the next matmul, when each has one user.
fn chain_to_next_matmul(g: &Graph, m1: NodeId) -> Option<(Vec<NodeId>, NodeId)> {
    let mut chain = Vec::new();
    let mut n = m1;
    loop {
        let [next] = g.users(n)[..] else {
            return None;
        };
        let op = &g.node(next).op;
        if matches!(op, Op::MatMul { .. }) {
            return Some((chain, next));
        }
        if !op.is_elementwise() {
            return None;
        }
        chain.push(next);
        n = next;
    }
}

/// What neuron `i` outputs when its weighted sum is 0.
fn constant_output(g: &Graph, m1: NodeId, chain: &[NodeId], i: usize) -> i64 {
    let mut v = 0i64;
    let mut elem = g.node(m1).ty.elem().expect("matmul and conv yield numbers");
    for &n in chain {
        v = match &g.node(n).op {
            Op::Bias { values } => elem.wrap(v + values[i]),
            Op::Shift { amount } => shift_to_i16(v, *amount),
            Op::Activate(a) => activate(a, v),
            Op::Epilogue {
                bias,
                shift,
                activation,
            } => epilogue(elem.wrap(v + bias[i]), *shift, activation.as_ref()),
            _ => unreachable!("chain holds elementwise ops"),
        };
        elem = g.node(n).ty.elem().expect("elementwise ops yield vectors");
    }
    v
}

/// Add column `i` of `m2` times `c` to the bias after `m2`, then drop the column.
fn fold_column(g: &mut Graph, m2: NodeId, i: usize, c: i64) {
    let (col, acc) = match &g.node(m2).op {
        Op::MatMul { weights, acc } => (
            (0..weights.rows())
                .map(|r| weights.get(r, i) as i64)
                .collect::<Vec<_>>(),
            *acc,
        ),
        _ => unreachable!(),
    };
    if c != 0 && col.iter().any(|&w| w != 0) {
        let bias_node = bias_after(g, m2);
        match &mut g.node_mut(bias_node).op {
            Op::Bias { values } | Op::Epilogue { bias: values, .. } => {
                for (b, w) in values.iter_mut().zip(&col) {
                    *b = acc.wrap(*b + w * c);
                }
            }
            _ => unreachable!(),
        }
    }
    if let Op::MatMul { weights, .. } = &mut g.node_mut(m2).op {
        weights.remove_col(i);
    }
}

/// The bias (or epilogue) that directly follows `m`, inserting a zero bias if there is none.
fn bias_after(g: &mut Graph, m: NodeId) -> NodeId {
    if let [u] = g.users(m)[..] {
        if matches!(g.node(u).op, Op::Bias { .. } | Op::Epilogue { .. }) {
            return u;
        }
    }
    let ty = g.node(m).ty;
    // One bias per element of a vector, per channel of a map.
    let len = match ty {
        Type::Map { shape, .. } => shape.channels,
        _ => ty.len().expect("matmul yields a vector"),
    };
    g.insert_after(
        m,
        Op::Bias {
            values: vec![0; len],
        },
        ty,
    )
}

/// Drop neuron `i`: row `i` of `m1` and element `i` of every node in `chain`
/// (channel `i` of a convolution's maps).
fn remove_neuron(g: &mut Graph, m1: NodeId, chain: &[NodeId], i: usize) {
    for &n in std::iter::once(&m1).chain(chain) {
        let node = g.node_mut(n);
        match &mut node.op {
            Op::MatMul { weights, .. } | Op::Conv { weights, .. } => weights.remove_row(i),
            Op::Bias { values } | Op::Epilogue { bias: values, .. } => {
                values.remove(i);
            }
            _ => {}
        }
        match &mut node.ty {
            Type::Vec { len, .. } => *len -= 1,
            Type::Map { shape, .. } => shape.channels -= 1,
            Type::Index => {}
        }
    }
}
