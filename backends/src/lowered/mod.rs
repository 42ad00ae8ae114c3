//! The lowered model: a verified model as every backend generates code from
//! it, produced once (by [`crate::target::Verified::new`]) and shared, as
//! naga's validator hands each writer its `ModuleInfo`.
//!
//! It holds the layers with their weights and the exact elementwise steps
//! that follow each one, the fused epilogue (bias, shift, activation) where
//! the steps take that form, the input map of the text encoders, and the
//! decoder. What a target cannot take it refuses with an [`Unsupported`]
//! from one list of messages.
//!
//! A layer is a dense matmul, a convolution or a pooling window over a
//! feature map (reshapes and flattens move no data and vanish here); its
//! activation is any of the IR's (ReLU, clamp, leaky ReLU, lookup table).
//! A backend that does not take a layer kind refuses it with
//! [`Unsupported::Layer`].

pub mod input;
pub mod unsupported;

use zlmc_ir::{Decode, Elem, Graph, Model, NodeId, Op, Shape, Weights, Window};

pub use input::{InputMap, InputPart, PartKind};
pub use unsupported::Unsupported;

/// What a layer computes before its elementwise steps.
#[derive(Debug, Clone, Copy)]
pub enum LayerOp<'a> {
    /// `acc[i] = Σ_j W[i][j]·x[j]`, wrapped to the layer's accumulator.
    Dense(&'a Weights),
    /// A convolution (the IR's `conv`) of an `input` map into an `output` map.
    Conv {
        /// `[output channels × (C/groups)·kh·kw]`.
        weights: &'a Weights,
        /// Kernel, stride, padding.
        window: Window,
        /// Channel groups.
        groups: usize,
        /// The map it reads.
        input: Shape,
        /// The map it writes (its accumulators).
        output: Shape,
    },
    /// Largest in-bounds element of every window (the IR's `maxpool`).
    MaxPool {
        /// Kernel, stride, padding.
        window: Window,
        /// The map it reads.
        input: Shape,
        /// The map it writes.
        output: Shape,
    },
    /// `(Σ in-bounds elements) · mul >> shift` of every window (the IR's `avgpool`).
    AvgPool {
        /// Kernel, stride, padding.
        window: Window,
        /// Multiplier, 1 to 255.
        mul: u8,
        /// Shift right after the product.
        shift: u32,
        /// The map it reads.
        input: Shape,
        /// The map it writes.
        output: Shape,
    },
}

impl LayerOp<'_> {
    /// The IR mnemonic of the op.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            LayerOp::Dense(_) => "matmul",
            LayerOp::Conv { .. } => "conv",
            LayerOp::MaxPool { .. } => "maxpool",
            LayerOp::AvgPool { .. } => "avgpool",
        }
    }

    /// Whether it is a pooling layer (no weights, i16 results).
    pub fn is_pool(&self) -> bool {
        matches!(self, LayerOp::MaxPool { .. } | LayerOp::AvgPool { .. })
    }
}

/// A non-linearity applied to each i16 value: the IR's own.
pub use zlmc_ir::Activation;

/// One elementwise step, exactly as the graph has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Add `values[i]`, wrapping to `elem` (the operand's element type).
    Bias {
        /// Per element.
        values: Vec<i64>,
        /// The element type it wraps to.
        elem: Elem,
    },
    /// Arithmetic shift right of a `from` value by `amount`, wrapped to i16.
    Shift {
        /// Bits.
        amount: u32,
        /// The operand's element type.
        from: Elem,
    },
    /// An activation on i16 values.
    Activate(Activation),
}

/// A layer's elementwise steps fused into one pass per output: the bias
/// seeds the accumulator, then the shift, then the activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epilogue {
    /// Bias per output (the accumulators' initial values), wrapped to the accumulator.
    pub bias: Vec<i64>,
    /// Arithmetic shift right after the sum.
    pub shift: u32,
    /// The activation after the shift, if any.
    pub activation: Option<Activation>,
}

/// One layer: its op, its accumulator, its steps.
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    /// What it computes.
    pub op: LayerOp<'a>,
    /// Accumulator width.
    pub acc: Elem,
    /// Number of inputs.
    pub inputs: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// The elementwise steps after it, in graph order.
    pub steps: Vec<Step>,
}

impl<'a> Layer<'a> {
    /// The weights of a dense or conv layer (a pool has none).
    pub fn weights(&self) -> Option<&'a Weights> {
        match self.op {
            LayerOp::Dense(w) | LayerOp::Conv { weights: w, .. } => Some(w),
            LayerOp::MaxPool { .. } | LayerOp::AvgPool { .. } => None,
        }
    }

    /// The dense weights, or `backend`'s refusal of any other layer kind.
    pub fn dense_weights(&self, backend: &'static str) -> Result<&'a Weights, Unsupported> {
        match self.op {
            LayerOp::Dense(w) => Ok(w),
            op => Err(Unsupported::Layer {
                backend,
                op: op.mnemonic(),
            }),
        }
    }

    /// The map a conv or pool layer writes (`None` for a dense layer).
    pub fn output_shape(&self) -> Option<Shape> {
        match self.op {
            LayerOp::Dense(_) => None,
            LayerOp::Conv { output, .. }
            | LayerOp::MaxPool { output, .. }
            | LayerOp::AvgPool { output, .. } => Some(output),
        }
    }

    /// The steps as one fused epilogue, or the first step that does not fit
    /// one (bias, shift, activation, each at most once and in that order;
    /// an activation before the shift only on 16-bit accumulators; after a
    /// pool, an activation only). A conv layer's bias is per output channel.
    pub fn epilogue(&self, backend: &'static str) -> Result<Epilogue, Unsupported> {
        let per = self.output_shape().map_or(self.outputs, |s| s.channels);
        let mut e = Epilogue {
            bias: vec![0; per],
            shift: 0,
            activation: None,
        };
        // How far into bias (1), shift (2), activation (3) the steps have got.
        let mut stage = 0;
        for step in &self.steps {
            match step {
                Step::Bias { .. } | Step::Shift { .. } if self.op.is_pool() => {
                    return Err(Unsupported::EpilogueOrder {
                        backend,
                        op: step.mnemonic(),
                    })
                }
                Step::Bias { values, .. } if stage < 1 => {
                    for (b, v) in e.bias.iter_mut().zip(values) {
                        *b = self.acc.wrap(*b + *v);
                    }
                    stage = 1;
                }
                Step::Shift { amount, .. } if stage < 2 => {
                    e.shift = *amount;
                    stage = 2;
                }
                Step::Activate(a) if stage < 3 && (stage == 2 || self.acc == Elem::I16) => {
                    e.activation = Some(a.clone());
                    stage = 3;
                }
                step => {
                    return Err(Unsupported::EpilogueOrder {
                        backend,
                        op: step.mnemonic(),
                    })
                }
            }
        }
        Ok(e)
    }
}

impl Step {
    /// The mnemonic of the IR op it came from.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Step::Bias { .. } => "bias",
            Step::Shift { .. } => "shift",
            Step::Activate(a) => a.mnemonic(),
        }
    }
}

/// A verified chain model, lowered.
#[derive(Debug, Clone)]
pub struct Lowered<'a> {
    /// The model it came from.
    pub model: &'a Model,
    /// Where each encoder's words sit in the input.
    pub input: InputMap,
    /// Elementwise steps on the input before the first layer.
    pub prelude: Vec<Step>,
    /// The layers, in order.
    pub layers: Vec<Layer<'a>>,
}

impl<'a> Lowered<'a> {
    /// Lower a verified `model`, or say why it is not a chain of layers.
    pub fn new(model: &'a Model) -> Result<Lowered<'a>, Unsupported> {
        let graph = &model.graph;
        let order = chain(graph).map_err(Unsupported::NotAChain)?;
        let mut prelude = Vec::new();
        let mut layers: Vec<Layer> = Vec::new();
        let mut len = 0;
        for (i, &n) in order.iter().enumerate() {
            let node = graph.node(n);
            let operand_elem = || {
                graph
                    .node(order[i - 1])
                    .ty
                    .elem()
                    .expect("verified: elementwise operands are vectors")
            };
            let steps: Vec<Step> = match &node.op {
                Op::Input { len: l } if i == 0 => {
                    len = *l;
                    continue;
                }
                Op::Argmax if i + 1 == order.len() => continue,
                Op::Input { .. } | Op::Argmax => {
                    return Err(Unsupported::NotAChain(format!(
                        "{} in the middle of the chain",
                        node.op.mnemonic()
                    )))
                }
                Op::MatMul { weights, acc } => {
                    layers.push(Layer {
                        op: LayerOp::Dense(weights),
                        acc: *acc,
                        inputs: len,
                        outputs: weights.rows(),
                        steps: Vec::new(),
                    });
                    len = weights.rows();
                    continue;
                }
                // Views: no data moves.
                Op::Reshape { .. } | Op::Flatten => continue,
                Op::Conv {
                    window,
                    groups,
                    weights,
                    acc,
                } => {
                    let (input, output) = map_shapes(graph, order[i - 1], n);
                    layers.push(Layer {
                        op: LayerOp::Conv {
                            weights,
                            window: *window,
                            groups: *groups,
                            input,
                            output,
                        },
                        acc: *acc,
                        inputs: len,
                        outputs: output.len(),
                        steps: Vec::new(),
                    });
                    len = output.len();
                    continue;
                }
                Op::MaxPool { window } | Op::AvgPool { window, .. } => {
                    let (input, output) = map_shapes(graph, order[i - 1], n);
                    let op = match node.op {
                        Op::AvgPool { mul, shift, .. } => LayerOp::AvgPool {
                            window: *window,
                            mul,
                            shift,
                            input,
                            output,
                        },
                        _ => LayerOp::MaxPool {
                            window: *window,
                            input,
                            output,
                        },
                    };
                    layers.push(Layer {
                        op,
                        acc: Elem::I16,
                        inputs: len,
                        outputs: output.len(),
                        steps: Vec::new(),
                    });
                    len = output.len();
                    continue;
                }
                Op::Bias { values } => vec![Step::Bias {
                    values: values.clone(),
                    elem: operand_elem(),
                }],
                Op::Shift { amount } => vec![Step::Shift {
                    amount: *amount,
                    from: operand_elem(),
                }],
                Op::Activate(a) => vec![Step::Activate(a.clone())],
                Op::Epilogue {
                    bias,
                    shift,
                    activation,
                } => {
                    let elem = operand_elem();
                    let mut v = vec![
                        Step::Bias {
                            values: bias.clone(),
                            elem,
                        },
                        Step::Shift {
                            amount: *shift,
                            from: elem,
                        },
                    ];
                    if let Some(a) = activation {
                        v.push(Step::Activate(a.clone()));
                    }
                    v
                }
            };
            match layers.last_mut() {
                Some(l) => l.steps.extend(steps),
                None => prelude.extend(steps),
            }
        }
        Ok(Lowered {
            model,
            input: InputMap::of(model),
            prelude,
            layers,
        })
    }

    /// The model's name, which prefixes the generated C and assembler
    /// symbols, or why it cannot.
    pub fn symbol_prefix(&self) -> Result<&'a str, Unsupported> {
        let name = self.model.name.as_str();
        if crate::is_c_identifier(name) {
            Ok(name)
        } else {
            Err(Unsupported::BadName(name.to_string()))
        }
    }

    /// How the predicted class is read.
    pub fn decode(&self) -> &'a Decode {
        &self.model.decode
    }

    /// Number of classes (the last layer's outputs, or the input's length without layers).
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(self.input.len(), |l| l.outputs)
    }

    /// The layers with their epilogues fused, column-major, as the assembly
    /// backends generate them; or why `backend` cannot.
    pub fn fused_layers(&self, backend: &'static str) -> Result<Vec<FusedLayer>, Unsupported> {
        if let Some(step) = self.prelude.first() {
            return Err(Unsupported::BeforeFirstLayer {
                backend,
                op: step.mnemonic(),
            });
        }
        if self.layers.is_empty() {
            return Err(Unsupported::NoLayer);
        }
        self.layers
            .iter()
            .map(|l| {
                let w = l.dense_weights(backend)?;
                Ok(FusedLayer::new(w, l.acc, l.epilogue(backend)?))
            })
            .collect()
    }
}

/// A layer with its epilogue fused, its weights stored by column: what the
/// assembly backends (AVR, Z80) walk.
#[derive(Debug, Clone)]
pub struct FusedLayer {
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
    /// The activation after the shift, if any.
    pub activation: Option<Activation>,
}

impl FusedLayer {
    /// The layer of `weights` with accumulator `acc` and epilogue `e`.
    pub fn new(weights: &Weights, acc: Elem, e: Epilogue) -> FusedLayer {
        let mut columns = vec![Vec::new(); weights.cols()];
        for r in 0..weights.rows() {
            for (c, w) in weights.row_entries(r) {
                columns[c as usize].push((r, w));
            }
        }
        FusedLayer {
            cols: weights.cols(),
            columns,
            acc,
            bias: e.bias,
            shift: e.shift,
            activation: e.activation,
        }
    }

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

    /// Whether ReLU follows the shift.
    pub fn relu(&self) -> bool {
        self.activation == Some(Activation::Relu)
    }
}

/// The shapes of a window op's operand `x` and of its result `n` (both
/// maps in a verified graph).
fn map_shapes(graph: &Graph, x: NodeId, n: NodeId) -> (Shape, Shape) {
    let shape = |m: NodeId| {
        graph
            .node(m)
            .ty
            .shape()
            .expect("verified: window ops map maps")
    };
    (shape(x), shape(n))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw-input model of `body` (nodes from `%1` on, reading `%0 = input : i16[2]`).
    fn model(body: &str) -> Model {
        let text = format!(
            "zir 1\nmodel \"m\"\nencode raw(length: 2)\ndecode classify(labels: [\"a\", \"b\"])\n\n\
             %0 = input : i16[2]\n{body}"
        );
        zlmc_ir::text::parse_model(&text).expect("test model parses")
    }

    const MATMUL: &str =
        "%1 = matmul %0, sparse int8[2, 2] [\n  [0:3 1:-2]\n  [1:5]\n], acc i16 : i16[2]\n";

    #[test]
    fn separate_steps_and_a_fused_epilogue_lower_alike() {
        let apart = model(&format!(
            "{MATMUL}%2 = bias %1, [32767, -4] : i16[2]\n%3 = shift %2, 1 : i16[2]\n\
             %4 = relu %3 : i16[2]\n%5 = argmax %4 : index\n"
        ));
        let fused = model(&format!(
            "{MATMUL}%2 = epilogue %1, bias [32767, -4], shift 1, relu : i16[2]\n\
             %3 = argmax %2 : index\n"
        ));
        for m in [&apart, &fused] {
            let l = Lowered::new(m).unwrap();
            assert!(l.prelude.is_empty());
            assert_eq!(l.layers.len(), 1);
            assert_eq!((l.layers[0].inputs, l.layers[0].outputs), (2, 2));
            let e = l.layers[0].epilogue("test").unwrap();
            assert_eq!(e.bias, vec![32767, -4]);
            assert_eq!((e.shift, e.activation), (1, Some(Activation::Relu)));
            let f = &l.fused_layers("test").unwrap()[0];
            assert_eq!(f.columns, vec![vec![(0, 3)], vec![(0, -2), (1, 5)]]);
            assert!(f.relu());
            assert_eq!(l.classes(), 2);
        }
    }

    #[test]
    fn a_bias_after_the_shift_is_refused_by_the_fused_form_only() {
        let m = model(&format!(
            "{MATMUL}%2 = shift %1, 1 : i16[2]\n%3 = bias %2, [1, 2] : i16[2]\n\
             %4 = argmax %3 : index\n"
        ));
        let l = Lowered::new(&m).unwrap();
        assert_eq!(l.layers[0].steps.len(), 2);
        let err = l.fused_layers("AVR").unwrap_err();
        assert_eq!(
            err,
            Unsupported::EpilogueOrder {
                backend: "AVR",
                op: "bias"
            }
        );
        assert!(err.to_string().contains("not supported by the AVR backend"));
    }

    #[test]
    fn steps_before_the_first_layer_are_the_prelude() {
        let m = model(&format!(
            "%1 = relu %0 : i16[2]\n{}%3 = argmax %2 : index\n",
            MATMUL.replace("%1 = matmul %0", "%2 = matmul %1")
        ));
        let l = Lowered::new(&m).unwrap();
        assert_eq!(l.prelude, vec![Step::Activate(Activation::Relu)]);
        assert_eq!(
            l.fused_layers("Z80").unwrap_err().to_string(),
            "`relu` before the first matmul is not supported by the Z80 backend"
        );
    }

    #[test]
    fn a_model_without_layers_is_refused_by_the_fused_form() {
        let m = model("%1 = argmax %0 : index\n");
        let l = Lowered::new(&m).unwrap();
        assert_eq!(l.classes(), 2);
        assert_eq!(l.fused_layers("Z80").unwrap_err(), Unsupported::NoLayer);
    }

    #[test]
    fn a_bad_name_is_refused_once_for_every_target() {
        let mut m = model(&format!("{MATMUL}%2 = argmax %1 : index\n"));
        m.name = "9lives".into();
        let l = Lowered::new(&m).unwrap();
        assert_eq!(
            l.symbol_prefix().unwrap_err().to_string(),
            "model name \"9lives\" is not a C identifier"
        );
    }
}
