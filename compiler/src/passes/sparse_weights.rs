//! Zero-weight elimination: dense matrices become row lists of non-zero
//! entries. A convolution's kernels (one row per output channel) do so when
//! at least a third of their weights are zero: a kernel is read once per
//! output position, and a sparse entry (index and weight) costs about twice a
//! dense one to fetch, so fewer zeros would make the loops slower.

use zlmc_ir::{Model, Op, Weights};

/// Convert every dense matmul to the sparse form, and every convolution
/// whose kernels are at least a third zeros.
pub fn run(model: &mut Model) {
    for n in model.graph.node_ids() {
        match &mut model.graph.node_mut(n).op {
            Op::MatMul { weights, .. } => {
                if let Weights::Dense(d) = weights {
                    *weights = Weights::Sparse(d.to_sparse());
                }
            }
            Op::Conv { weights, .. } => {
                if let Weights::Dense(d) = weights {
                    let zeros = d.data.iter().filter(|&&w| w == 0).count();
                    if zeros > 0 && 3 * zeros >= d.data.len() {
                        *weights = Weights::Sparse(d.to_sparse());
                    }
                }
            }
            _ => {}
        }
    }
}
