//! The C backend's view of the lowered model: one function per layer with the
//! elementwise steps that follow it, plus an optional leading elementwise pass.

use zlmc_ir::{Elem, Weights};

use crate::lowered::{LayerOp, Lowered, Step, Unsupported};

/// One generated C function: `y = post(init + W·x)`, `y = post(window(x))`
/// for a conv or pool, or `y = post(x)` without either.
#[derive(Debug, Clone)]
pub(crate) struct Function<'a> {
    /// The weights and accumulator width of a dense layer.
    pub matmul: Option<(&'a Weights, Elem)>,
    /// A conv or pool layer and its accumulator width (i16 for pools).
    pub window: Option<(LayerOp<'a>, Elem)>,
    /// Elements that share one bias value: a map's plane, else 1.
    pub bias_plane: usize,
    /// Length of the vector the function reads.
    pub in_len: usize,
    /// Length of the vector it writes.
    pub out_len: usize,
    /// A bias folded into the accumulators' initial values (matmul functions only).
    pub init_bias: Option<Vec<i64>>,
    /// Elementwise steps, in graph order.
    pub post: Vec<Step>,
}

/// Vectors longer than this do not fit the generated code's `unsigned` loop counters
/// and `uint16_t` class indices on 16-bit targets.
pub(crate) const MAX_LEN: usize = 65535;

/// The functions of a lowered model.
pub(crate) fn functions<'a>(lowered: &Lowered<'a>) -> Result<Vec<Function<'a>>, Unsupported> {
    let longest = lowered
        .layers
        .iter()
        .map(|l| l.outputs)
        .chain([lowered.input.len()])
        .max()
        .unwrap_or(0);
    if longest > MAX_LEN {
        return Err(Unsupported::Other(format!(
            "too large for the C backend: a vector has {longest} elements, \
             the C backend supports at most {MAX_LEN}"
        )));
    }
    let mut functions = Vec::with_capacity(lowered.layers.len() + 1);
    // Elementwise steps before the first layer get a pass of their own, because
    // the caller's input is const and must not be modified in place.
    if !lowered.prelude.is_empty() {
        functions.push(Function {
            matmul: None,
            window: None,
            bias_plane: 1,
            in_len: lowered.input.len(),
            out_len: lowered.input.len(),
            init_bias: None,
            post: lowered.prelude.clone(),
        });
    }
    for l in &lowered.layers {
        let mut post = l.steps.clone();
        // Wrapping addition is associative, so a bias right after the matmul can
        // seed the accumulators instead of costing a pass of its own.
        let init_bias = match post.first() {
            Some(Step::Bias { .. }) => match post.remove(0) {
                Step::Bias { values, .. } => Some(values),
                _ => unreachable!("the first step was just matched as a bias"),
            },
            _ => None,
        };
        let (matmul, window) = match l.op {
            LayerOp::Dense(w) => (Some((w, l.acc)), None),
            op => (None, Some((op, l.acc))),
        };
        functions.push(Function {
            matmul,
            window,
            bias_plane: l.output_shape().map_or(1, |s| s.plane()),
            in_len: l.inputs,
            out_len: l.outputs,
            init_bias,
            post,
        });
    }
    Ok(functions)
}

impl Function<'_> {
    /// The width it accumulates in: a matmul's or a window layer's (`None`
    /// for an elementwise pass).
    pub fn acc(&self) -> Option<Elem> {
        self.matmul
            .map(|(_, acc)| acc)
            .or(self.window.map(|(_, acc)| acc))
    }
}
