//! Lowering: checked layers to the unoptimized graph
//! (`input → [matmul → bias → shift → relu?]* → argmax`).

use zlmc_ir::{Decode, Elem, Encoder, Graph, Model, Op, Type, Weights};

use super::quantize::LayerData;

/// Build the unoptimized model from checked parts, every layer accumulating in `acc`.
pub fn lower(
    name: &str,
    encoders: Vec<Encoder>,
    decode: Decode,
    acc: Elem,
    layers: Vec<LayerData>,
) -> Model {
    let layers = layers.into_iter().map(|l| (l, acc)).collect();
    lower_with_accs(name, encoders, decode, layers)
}

/// Build the unoptimized model from checked parts, each layer with its own accumulator.
pub fn lower_with_accs(
    name: &str,
    encoders: Vec<Encoder>,
    decode: Decode,
    layers: Vec<(LayerData, Elem)>,
) -> Model {
    let mut g = Graph::new();
    let len: usize = encoders.iter().map(Encoder::len).sum();
    let mut x = g.add(Op::Input { len }, Type::i16s(len), &[]);
    for (l, acc) in layers {
        let units = l.weights.rows;
        let accs = Type::Vec {
            elem: acc,
            len: units,
        };
        let m = g.add(
            Op::MatMul {
                weights: Weights::Dense(l.weights),
                acc,
            },
            accs,
            &[x],
        );
        let b = g.add(Op::Bias { values: l.bias }, accs, &[m]);
        x = g.add(Op::Shift { amount: l.shift }, Type::i16s(units), &[b]);
        if let Some(a) = l.activation {
            x = g.add(Op::Activate(a), Type::i16s(units), &[x]);
        }
    }
    g.add(Op::Argmax, Type::Index, &[x]);
    Model {
        name: name.to_string(),
        encoders,
        decode,
        graph: g,
    }
}
