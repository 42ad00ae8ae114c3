//! Lowering a chain graph into the C backend's layers: one function per matmul with
//! the elementwise ops that follow it, plus an optional leading elementwise pass.

use zlmc_ir::{Elem, Graph, Op, Weights};

use super::EmitError;

/// An elementwise step applied per output element after accumulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Post {
    /// Add `values[i]`, wrapping to `elem`.
    Bias { values: Vec<i64>, elem: Elem },
    /// Arithmetic shift right of an `from` value by `amount`, wrapped to i16.
    Shift { amount: u32, from: Elem },
    /// Clamp negative i16 values to zero.
    Relu,
}

/// One generated C function: `y = post(init + W·x)`, or `y = post(x)` without a matmul.
#[derive(Debug, Clone)]
pub(crate) struct Segment<'a> {
    /// The weights and accumulator width, absent for the leading elementwise pass.
    pub matmul: Option<(&'a Weights, Elem)>,
    /// Length of the vector the segment reads.
    pub in_len: usize,
    /// Length of the vector it writes.
    pub out_len: usize,
    /// A bias folded into the accumulators' initial values (matmul segments only).
    pub init_bias: Option<Vec<i64>>,
    /// Elementwise steps, in graph order.
    pub post: Vec<Post>,
}

/// Vectors longer than this do not fit the generated code's `unsigned` loop counters
/// and `uint16_t` class indices on 16-bit targets.
pub(crate) const MAX_LEN: usize = 65535;

/// Split a verified graph, which must be a chain `input → … → argmax`, into segments.
pub(crate) fn lower(graph: &Graph) -> Result<Vec<Segment<'_>>, EmitError> {
    let order = crate::layers::chain(graph).map_err(EmitError::NotAChain)?;

    let mut segments: Vec<Segment> = Vec::new();
    let mut len = 0usize;
    for (i, &n) in order.iter().enumerate() {
        let node = graph.node(n);
        let operand_elem = || {
            graph
                .node(order[i - 1])
                .ty
                .elem()
                .expect("verified: elementwise operands are vectors")
        };
        if let Some(l) = node.ty.len() {
            if l > MAX_LEN {
                return Err(EmitError::TooLarge(format!(
                    "node %{} has {l} elements, the C backend supports at most {MAX_LEN}",
                    n.index()
                )));
            }
        }
        let post = match &node.op {
            Op::Input { len: l } if i == 0 => {
                len = *l;
                continue;
            }
            Op::Argmax if i + 1 == order.len() => continue,
            Op::Input { .. } | Op::Argmax => {
                return Err(EmitError::NotAChain(format!(
                    "{} in the middle of the chain",
                    node.op.mnemonic()
                )))
            }
            Op::MatMul { weights, acc } => {
                segments.push(Segment {
                    matmul: Some((weights, *acc)),
                    in_len: len,
                    out_len: weights.rows(),
                    init_bias: None,
                    post: Vec::new(),
                });
                len = weights.rows();
                continue;
            }
            Op::Bias { values } => vec![Post::Bias {
                values: values.clone(),
                elem: operand_elem(),
            }],
            Op::Shift { amount } => vec![Post::Shift {
                amount: *amount,
                from: operand_elem(),
            }],
            Op::Relu => vec![Post::Relu],
            Op::Epilogue { bias, shift, relu } => {
                let elem = operand_elem();
                let mut v = vec![
                    Post::Bias {
                        values: bias.clone(),
                        elem,
                    },
                    Post::Shift {
                        amount: *shift,
                        from: elem,
                    },
                ];
                if *relu {
                    v.push(Post::Relu);
                }
                v
            }
        };
        // Elementwise ops before the first matmul get a pass of their own, because the
        // caller's input is const and must not be modified in place.
        if segments.is_empty() {
            segments.push(Segment {
                matmul: None,
                in_len: len,
                out_len: len,
                init_bias: None,
                post: Vec::new(),
            });
        }
        segments
            .last_mut()
            .expect("a segment was just ensured")
            .post
            .extend(post);
    }

    // Wrapping addition is associative, so a bias right after the matmul can seed the
    // accumulators instead of costing a pass of its own.
    for s in &mut segments {
        if s.matmul.is_some() {
            if let Some(Post::Bias { .. }) = s.post.first() {
                if let Post::Bias { values, .. } = s.post.remove(0) {
                    s.init_bias = Some(values);
                }
            }
        }
    }
    Ok(segments)
}
