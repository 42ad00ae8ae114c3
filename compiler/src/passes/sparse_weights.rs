//! Zero-weight elimination: dense matrices become row lists of non-zero entries.

use zlmc_ir::{Model, Op, Weights};

/// Convert every dense matmul to the sparse form.
pub fn run(model: &mut Model) {
    for n in model.graph.node_ids() {
        if let Op::MatMul { weights, .. } = &mut model.graph.node_mut(n).op {
            if let Weights::Dense(d) = weights {
                *weights = Weights::Sparse(d.to_sparse());
            }
        }
    }
}
