//! Lowering: checked layers to the unoptimized graph
//! (`input → [matmul → bias → shift → relu?]* → argmax`; convolutions as
//! `conv → bias → shift → act?` on maps, pools as `pool → act?`, with
//! `reshape` and `flatten` where maps and vectors meet).

use zlmc_ir::{Decode, Elem, Encoder, Graph, Model, NodeId, Op, Shape, Type, Weights};

use super::quantize::{AvgDivisor, Layer, LayerData, LayerKind};

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

/// Build the unoptimized model from checked dense parts, each layer with its own accumulator.
pub fn lower_with_accs(
    name: &str,
    encoders: Vec<Encoder>,
    decode: Decode,
    layers: Vec<(LayerData, Elem)>,
) -> Model {
    let layers = layers
        .into_iter()
        .map(|(data, acc)| Layer {
            kind: LayerKind::Dense,
            data,
            acc,
        })
        .collect();
    lower_layers(name, encoders, decode, layers)
}

/// Build the unoptimized model from checked layers of every kind: a map
/// layer after a vector reshapes it, a dense layer (or the argmax) after a
/// map flattens it.
pub fn lower_layers(
    name: &str,
    encoders: Vec<Encoder>,
    decode: Decode,
    layers: Vec<Layer>,
) -> Model {
    let mut g = Graph::new();
    let len: usize = encoders.iter().map(Encoder::len).sum();
    let mut x = g.add(Op::Input { len }, Type::i16s(len), &[]);
    let map = |elem, shape| Type::Map { elem, shape };
    for Layer { kind, data: l, acc } in layers {
        let (core, out) = match kind {
            LayerKind::Dense => {
                x = flatten(&mut g, x);
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
                (m, accs)
            }
            LayerKind::Conv {
                input,
                window,
                groups,
            } => {
                x = reshape(&mut g, x, input);
                let out = window
                    .map_over(input, l.weights.rows)
                    .expect("a checked window fits its input");
                let ty = map(acc, out);
                let c = g.add(
                    Op::Conv {
                        window,
                        groups,
                        weights: Weights::Dense(l.weights),
                        acc,
                    },
                    ty,
                    &[x],
                );
                (c, ty)
            }
            LayerKind::MaxPool { input, window } => {
                x = reshape(&mut g, x, input);
                let ty = map(
                    Elem::I16,
                    window
                        .map_over(input, input.channels)
                        .expect("a checked window fits its input"),
                );
                x = g.add(Op::MaxPool { window }, ty, &[x]);
                if let Some(a) = l.activation {
                    x = g.add(Op::Activate(a), ty, &[x]);
                }
                continue;
            }
            LayerKind::AvgPool {
                input,
                window,
                divisor: AvgDivisor { mul, shift },
            } => {
                x = reshape(&mut g, x, input);
                let ty = map(
                    Elem::I16,
                    window
                        .map_over(input, input.channels)
                        .expect("a checked window fits its input"),
                );
                x = g.add(Op::AvgPool { window, mul, shift }, ty, &[x]);
                if let Some(a) = l.activation {
                    x = g.add(Op::Activate(a), ty, &[x]);
                }
                continue;
            }
        };
        let b = g.add(Op::Bias { values: l.bias }, out, &[core]);
        let shifted = match out {
            Type::Map { shape, .. } => map(Elem::I16, shape),
            _ => Type::i16s(out.len().unwrap_or(0)),
        };
        x = g.add(Op::Shift { amount: l.shift }, shifted, &[b]);
        if let Some(a) = l.activation {
            x = g.add(Op::Activate(a), shifted, &[x]);
        }
    }
    x = flatten(&mut g, x);
    g.add(Op::Argmax, Type::Index, &[x]);
    Model {
        name: name.to_string(),
        encoders,
        decode,
        graph: g,
    }
}

/// `x` as a map of `shape`: itself when it is one, else a reshape.
fn reshape(g: &mut Graph, x: NodeId, shape: Shape) -> NodeId {
    let ty = g.node(x).ty;
    if ty.shape() == Some(shape) {
        return x;
    }
    let elem = ty.elem().unwrap_or(Elem::I16);
    g.add(Op::Reshape { shape }, Type::Map { elem, shape }, &[x])
}

/// `x` as a vector: itself when it is one, else a flatten.
fn flatten(g: &mut Graph, x: NodeId) -> NodeId {
    match g.node(x).ty {
        Type::Map { elem, shape } => g.add(
            Op::Flatten,
            Type::Vec {
                elem,
                len: shape.len(),
            },
            &[x],
        ),
        _ => x,
    }
}
