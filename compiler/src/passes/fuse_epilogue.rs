//! Fuse `bias → shift → activation` (each part optional but the shift) into one epilogue,
//! so backends compute each neuron's result in one go.

use zlmc_ir::{Model, Op};

/// Replace every shift (with the bias before it and the activation after it, where
/// they are used by nothing else) with an epilogue.
pub fn run(model: &mut Model) {
    let g = &mut model.graph;
    for shift in g.find(|op| matches!(op, Op::Shift { .. })) {
        let Op::Shift { amount } = g.node(shift).op else {
            unreachable!()
        };
        let mut first = shift;
        let mut src = g.operands(shift)[0];
        // The epilogue yields what the shift did (a vector or a map); a
        // missing bias is zero per element, or per channel on a map.
        let ty = g.node(shift).ty;
        let len = ty
            .shape()
            .map_or_else(|| ty.len().expect("shift yields a vector"), |s| s.channels);
        let bias = match &g.node(src).op {
            Op::Bias { values } if g.users(src).len() == 1 => {
                let values = values.clone();
                first = src;
                src = g.operands(src)[0];
                values
            }
            _ => vec![0; len],
        };
        let users = g.users(shift);
        let act = match users.as_slice() {
            [r] => match &g.node(*r).op {
                Op::Activate(a) => Some((*r, a.clone())),
                _ => None,
            },
            _ => None,
        };
        let last = act.as_ref().map_or(shift, |(r, _)| *r);
        let ep = g.add(
            Op::Epilogue {
                bias,
                shift: amount,
                activation: act.map(|(_, a)| a),
            },
            ty,
            &[src],
        );
        g.replace_uses(last, ep);
        g.remove(last);
        if last != shift {
            g.remove(shift);
        }
        if first != shift {
            g.remove(first);
        }
    }
}
