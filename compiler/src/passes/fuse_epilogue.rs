//! Fuse `bias → shift → relu` (each part optional but the shift) into one epilogue,
//! so backends compute each neuron's result in one go.

use zlmc_ir::{Model, Op, Type};

/// Replace every shift (with the bias before it and the ReLU after it, where
/// they are used by nothing else) with an epilogue.
pub fn run(model: &mut Model) {
    let g = &mut model.graph;
    for shift in g.find(|op| matches!(op, Op::Shift { .. })) {
        let Op::Shift { amount } = g.node(shift).op else {
            unreachable!()
        };
        let mut first = shift;
        let mut src = g.operands(shift)[0];
        let len = g.node(shift).ty.len().expect("shift yields a vector");
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
        let relu = match users.as_slice() {
            [r] if g.node(*r).op == Op::Relu => Some(*r),
            _ => None,
        };
        let last = relu.unwrap_or(shift);
        let ep = g.add(
            Op::Epilogue {
                bias,
                shift: amount,
                relu: relu.is_some(),
            },
            Type::i16s(len),
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
