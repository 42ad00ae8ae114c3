//! The assembly backends' view of a model: a chain of layers, each a matmul with
//! 16- or 32-bit accumulators followed by bias, shift and optional ReLU.

use zlmc_ir::{Elem, Graph, NodeId, Op};

/// One layer as the generated code computes it.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Number of inputs.
    pub cols: usize,
    /// For every column, its non-zero weights as `(row, value)`, rows ascending.
    pub columns: Vec<Vec<(usize, i8)>>,
    /// Accumulator width.
    pub acc: Elem,
    /// Bias per row (the accumulators' initial values), wrapped to `acc`.
    pub bias: Vec<i64>,
    /// Arithmetic shift right after the sum.
    pub shift: u32,
    /// Whether ReLU follows.
    pub relu: bool,
}

impl Layer {
    /// Number of rows (outputs).
    pub fn rows(&self) -> usize {
        self.bias.len()
    }

    /// Bytes per accumulator.
    pub fn acc_bytes(&self) -> usize {
        self.acc.bits() as usize / 8
    }

    /// Largest weight magnitude (0 for an all-zero matrix).
    pub fn max_abs_weight(&self) -> u8 {
        self.columns
            .iter()
            .flatten()
            .map(|&(_, w)| w.unsigned_abs())
            .max()
            .unwrap_or(0)
    }
}

/// The nodes of a chain graph `input → … → argmax` in order, or why the graph is not one.
pub fn chain(graph: &Graph) -> Result<Vec<NodeId>, String> {
    let order = graph.topo_order().ok_or("the graph has a cycle")?;
    for (i, &n) in order.iter().enumerate() {
        let want_operands: &[_] = if i == 0 { &[] } else { &order[i - 1..i] };
        if graph.operands(n) != want_operands {
            return Err(format!(
                "node %{} does not take exactly the previous node as its operand",
                n.index()
            ));
        }
        let users = graph.users(n);
        let want_users: &[_] = order.get(i + 1..i + 2).unwrap_or(&[]);
        if users != want_users {
            return Err(format!("node %{} has {} users", n.index(), users.len()));
        }
    }
    Ok(order)
}

/// Split a verified chain graph into layers, or say why it cannot be.
pub fn layers(graph: &Graph, target: &str) -> Result<Vec<Layer>, String> {
    let order =
        chain(graph).map_err(|e| format!("the {target} backend handles chain graphs only: {e}"))?;
    let mut out: Vec<Layer> = Vec::new();
    let mut current: Option<Layer> = None;
    // How far into bias (1), shift (2), ReLU (3) the current layer has got.
    let mut stage = 0;
    for &n in &order {
        match &graph.node(n).op {
            Op::Input { .. } => {}
            Op::MatMul { weights, acc } => {
                out.extend(current.take());
                stage = 0;
                let rows = weights.rows();
                let mut columns = vec![Vec::new(); weights.cols()];
                for r in 0..rows {
                    for (c, w) in weights.row_entries(r) {
                        columns[c as usize].push((r, w));
                    }
                }
                current = Some(Layer {
                    cols: weights.cols(),
                    columns,
                    acc: *acc,
                    bias: vec![0; rows],
                    shift: 0,
                    relu: false,
                });
            }
            op => {
                let Some(l) = current.as_mut() else {
                    return Err(format!(
                        "`{}` before the first matmul is not supported by the {target} backend",
                        op.mnemonic()
                    ));
                };
                match op {
                    Op::Bias { values } if stage < 1 => {
                        for (b, v) in l.bias.iter_mut().zip(values) {
                            *b = l.acc.wrap(*b + *v);
                        }
                        stage = 1;
                    }
                    Op::Shift { amount } if stage < 2 => {
                        l.shift = *amount;
                        stage = 2;
                    }
                    Op::Relu if stage < 3 && (stage == 2 || l.acc == Elem::I16) => {
                        l.relu = true;
                        stage = 3;
                    }
                    Op::Epilogue { bias, shift, relu } if stage < 1 => {
                        for (b, v) in l.bias.iter_mut().zip(bias) {
                            *b = l.acc.wrap(*b + *v);
                        }
                        l.shift = *shift;
                        l.relu = *relu;
                        stage = 3;
                    }
                    Op::Argmax => {}
                    op => {
                        return Err(format!(
                            "`{}` in this position is not supported by the {target} backend",
                            op.mnemonic()
                        ))
                    }
                }
            }
        }
    }
    out.extend(current);
    if out.is_empty() {
        return Err("the model has no matmul".into());
    }
    Ok(out)
}
