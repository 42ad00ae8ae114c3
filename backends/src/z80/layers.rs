//! The Z80 backend's view of a model: a chain of layers, each a sparse matmul
//! followed by bias, shift and optional ReLU.

use zlmc_ir::{Elem, Graph, Op, Weights};

/// One layer as the Z80 code computes it.
#[derive(Debug, Clone)]
pub struct ZLayer {
    /// Number of inputs.
    pub cols: usize,
    /// For every column, its non-zero weights as `(row, value)`, rows ascending.
    pub columns: Vec<Vec<(usize, i8)>>,
    /// Bias per row (the accumulators' initial values).
    pub bias: Vec<i16>,
    /// Arithmetic shift right after the sum.
    pub shift: u32,
    /// Whether ReLU follows.
    pub relu: bool,
}

impl ZLayer {
    /// Number of rows (outputs).
    pub fn rows(&self) -> usize {
        self.bias.len()
    }
}

/// Split a verified chain graph into layers, or say why it cannot be.
pub fn layers(graph: &Graph) -> Result<Vec<ZLayer>, String> {
    let order = graph.topo_order().ok_or("the graph has a cycle")?;
    let mut out: Vec<ZLayer> = Vec::new();
    let mut current: Option<ZLayer> = None;
    // How far into bias (1), shift (2), ReLU (3) the current layer has got.
    let mut stage = 0;
    for &n in &order {
        match &graph.node(n).op {
            Op::Input { .. } => {}
            Op::MatMul { weights, acc } => {
                if *acc != Elem::I16 {
                    return Err("the Z80 backend supports 16-bit accumulators only".into());
                }
                out.extend(current.take());
                stage = 0;
                let rows = weights.rows();
                let mut columns = vec![Vec::new(); weights.cols()];
                for r in 0..rows {
                    let entries = match weights {
                        Weights::Dense(d) => (0..d.cols)
                            .filter(|&c| d.get(r, c) != 0)
                            .map(|c| (c as u32, d.get(r, c)))
                            .collect(),
                        Weights::Sparse(s) => s.rows[r].clone(),
                    };
                    for (c, w) in entries {
                        columns[c as usize].push((r, w));
                    }
                }
                current = Some(ZLayer {
                    cols: weights.cols(),
                    columns,
                    bias: vec![0; rows],
                    shift: 0,
                    relu: false,
                });
            }
            op => {
                let Some(l) = current.as_mut() else {
                    return Err(format!(
                        "{} before the first matmul is not supported by the Z80 backend",
                        op.mnemonic()
                    ));
                };
                match op {
                    Op::Bias { values } if stage < 1 => {
                        for (b, v) in l.bias.iter_mut().zip(values) {
                            *b = b.wrapping_add(*v as i16);
                        }
                        stage = 1;
                    }
                    Op::Shift { amount } if stage < 2 => {
                        l.shift = *amount;
                        stage = 2;
                    }
                    Op::Relu if stage == 2 => {
                        l.relu = true;
                        stage = 3;
                    }
                    Op::Epilogue { bias, shift, relu } if stage < 1 => {
                        for (b, v) in l.bias.iter_mut().zip(bias) {
                            *b = b.wrapping_add(*v as i16);
                        }
                        l.shift = *shift;
                        l.relu = *relu;
                        stage = 3;
                    }
                    Op::Argmax => {}
                    op => {
                        return Err(format!(
                            "`{}` in this position is not supported by the Z80 backend",
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
