//! Dead-neuron elimination. A hidden neuron whose weight row is all zero
//! outputs a constant `c = post(bias)`; its contribution to the next layer is
//! the constant `W'[k][i]·c`, which is folded into that layer's bias before the
//! neuron (its row, its bias entry and the next layer's column) is dropped.

use zlmc_ir::interp::{activate, epilogue};
use zlmc_ir::op::shift_to_i16;
use zlmc_ir::{Graph, Model, NodeId, Op, Type};

/// Drop every dead hidden neuron (keeping at least one per layer).
pub fn run(model: &mut Model) {
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
        Op::MatMul { weights, .. } => weights.rows(),
        _ => unreachable!(),
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
    let mut elem = g.node(m1).ty.elem().expect("matmul yields a vector");
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
    let len = ty.len().expect("matmul yields a vector");
    g.insert_after(
        m,
        Op::Bias {
            values: vec![0; len],
        },
        ty,
    )
}

/// Drop neuron `i`: row `i` of `m1` and element `i` of every node in `chain`.
fn remove_neuron(g: &mut Graph, m1: NodeId, chain: &[NodeId], i: usize) {
    for &n in std::iter::once(&m1).chain(chain) {
        let node = g.node_mut(n);
        match &mut node.op {
            Op::MatMul { weights, .. } => weights.remove_row(i),
            Op::Bias { values } | Op::Epilogue { bias: values, .. } => {
                values.remove(i);
            }
            _ => {}
        }
        if let Type::Vec { len, .. } = &mut node.ty {
            *len -= 1;
        }
    }
}
