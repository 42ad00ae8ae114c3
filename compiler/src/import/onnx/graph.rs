//! Walk an ONNX graph node by node, tracking what each value is: a constant,
//! the float vector the MLP computes, or the classifier tail built on it.

use std::collections::HashMap;

use super::chain::{Chain, ConvSpec, Pool};
use super::elementwise::{self, BinOp, Expr, Step};
use super::external::ExternalFiles;
use super::maps::{self, Layout};
use super::proto::{attr_type, data_type, AttributeProto, GraphProto, NodeProto, ValueInfoProto};
use super::statistics;
use super::tensor::{self, Const, Data};
use crate::quant::float_model::FloatActivation;
use zlmc_ir::Shape;

/// The most ops an elementwise function between layers may take (GELU
/// spelled out takes 5): bounds the expression the walk keeps.
const MAX_ELEMENTWISE_OPS: usize = 64;

/// What a graph value is known to be.
#[derive(Debug, Clone)]
enum Value {
    /// A constant (initializer, `Constant` node, or folded from them).
    Const(Const),
    /// The vector the network computes: an affine chain of the input.
    Act(Act),
    /// Class scores read from the chain's output as `Head` says
    /// (`Softmax`, `LogSoftmax`, the binary `[1 − σ, σ]`), possibly wrapped by
    /// `ZipMap` with its class labels.
    Scores(Act, Head, Option<Vec<String>>),
    /// `ArgMax` of the class scores.
    Index(Chain, Head),
    /// The class label picked by `ArrayFeatureExtractor` from the labels.
    Label(Chain, Head, Vec<String>),
}

/// How the graph's answer is read from the chain's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// The outputs as they are (logits, or values).
    Plain,
    /// A sigmoid of each output (probabilities; the logits rank the same).
    Sigmoid,
    /// Softmax or LogSoftmax of the outputs (the logits rank the same).
    Softmax,
    /// Probabilities `[1 − σ(z), σ(z)]` of one logit `z`, as skl2onnx
    /// writes binary classifiers.
    BinaryProbs,
}

/// The network's vector value with its shape.
#[derive(Debug, Clone)]
struct Act {
    chain: Chain,
    /// Dimensions after the batch dimension.
    shape: Vec<usize>,
    /// Whether the value has a leading batch dimension.
    batched: bool,
    /// Whether that batch dimension is declared as exactly 1 (exporters traced
    /// on one sample write it so, and then reshape to `[1, N]`).
    batch_of_one: bool,
    /// An elementwise function applied to the chain's output, not yet
    /// folded into it (an activation may take several ops to spell).
    expr: Expr,
    /// The ops that built `expr`, for messages.
    ops: Vec<String>,
    /// Where each element of `shape` sits in the chain's output (after a
    /// `Transpose` of a map); `None` when in the same order.
    layout: Layout,
}

impl Act {
    fn rank(&self) -> usize {
        self.shape.len() + usize::from(self.batched)
    }

    /// Whether `other` is a function of the same value.
    fn same_base(&self, other: &Act) -> bool {
        self.chain == other.chain
            && self.shape == other.shape
            && self.batched == other.batched
            && self.layout == other.layout
    }

    /// Per-element constants in `shape`'s order, put in the chain's order.
    fn chain_order(&self, v: Vec<f64>) -> Vec<f64> {
        maps::to_chain_order(v, &self.layout)
    }

    /// The map this value is, for `op`: channel-major, as the IR takes maps.
    fn map_shape(&self, op: &str) -> Result<Shape, String> {
        if self.layout.is_some() {
            return Err(format!(
                "`{op}` of a map laid out channels-last (after a Transpose): zlmc \
                 convolves channel-major maps ([C, H, W]); a channels-last input with \
                 several channels is not supported yet"
            ));
        }
        maps::map_shape(&self.shape, op)
    }

    /// `f(expr)` recorded as built by `op` (after `with`'s ops, when it
    /// combines another function); errors past [`MAX_ELEMENTWISE_OPS`].
    fn map(&self, op: &str, with: &[String], f: impl FnOnce(Expr) -> Expr) -> Result<Act, String> {
        let mut x = self.clone();
        x.expr = f(std::mem::replace(&mut x.expr, Expr::Var));
        x.ops.extend(with.iter().cloned());
        x.ops.push(op.to_string());
        if x.ops.len() > MAX_ELEMENTWISE_OPS {
            return Err(format!(
                "an elementwise function of more than {MAX_ELEMENTWISE_OPS} ops between \
                 layers is not supported"
            ));
        }
        Ok(x)
    }

    /// The value with its pending elementwise function folded into the chain.
    fn settled(&self, consumer: &str) -> Result<Act, String> {
        let mut x = self.clone();
        if x.expr == Expr::Var {
            return Ok(x);
        }
        let steps = elementwise::steps(&x.expr).ok_or_else(|| {
            format!(
                "the elementwise function `{}` computes before `{consumer}` is not an \
                 activation zlmc knows (Relu, LeakyRelu, Clip, Tanh, Sigmoid, HardSigmoid, \
                 HardSwish, Gelu, or affine maps of them)",
                x.ops.join(" → ")
            )
        })?;
        for s in steps {
            match s {
                Step::Affine { mul, add } => x.chain.affine(mul, add)?,
                Step::Activate(a) => x.chain.activate(a)?,
            }
        }
        x.expr = Expr::Var;
        x.ops.clear();
        Ok(x)
    }

    /// The class scores this value is: a sigmoid of the chain (dropped, as it
    /// keeps the order) or the chain's outputs themselves.
    fn scores(&self, consumer: &str) -> Result<(Act, Head), String> {
        if let Expr::Apply(FloatActivation::Sigmoid, inner) = &self.expr {
            let mut x = self.clone();
            x.expr = (**inner).clone();
            return Ok((x.settled(consumer)?, Head::Sigmoid));
        }
        Ok((self.settled(consumer)?, Head::Plain))
    }
}

/// A graph whose walk has produced a float MLP.
pub struct Walked {
    /// The layers, not finished: what reads the head may add an activation.
    pub chain: Chain,
    /// How the graph reads its answer from the chain's output.
    pub head: Head,
    /// Class labels, if the graph names them.
    pub labels: Option<Vec<String>>,
}

/// Walk `g` (default-domain opset `opset`) into layers, reading tensors' external
/// data through `external`; errors name the node.
pub fn walk(g: &GraphProto, opset: i64, external: &mut ExternalFiles) -> Result<Walked, String> {
    if !g.sparse_initializer.is_empty() {
        return Err("sparse initializers are not supported".into());
    }
    let mut values: HashMap<String, Value> = HashMap::new();
    for t in &g.initializer {
        let c = external
            .resolve(t)
            .and_then(|t| tensor::decode(&t))
            .map_err(|m| format!("initializer `{}` {m}", t.name))?;
        values.insert(t.name.clone(), Value::Const(c));
    }
    let (input, act) = graph_input(g, &values)?;
    values.insert(input, Value::Act(act));
    for (i, node) in g.node.iter().enumerate() {
        let at = |m: String| {
            if node.name.is_empty() {
                format!("node {i}: {m}")
            } else {
                format!("node {i} (`{}`): {m}", node.name)
            }
        };
        let outs = if node.domain == "ai.onnx.ml" && node.op_type == "LinearClassifier" {
            linear_classifier(node, &values).map_err(at)?
        } else {
            vec![eval_node(node, &values, opset, external).map_err(at)?]
        };
        for (name, out) in node.output.iter().zip(outs) {
            values.insert(name.clone(), out);
        }
    }
    graph_output(g, &values)
}

/// The single non-constant graph input, as the start of the chain.
fn graph_input(g: &GraphProto, values: &HashMap<String, Value>) -> Result<(String, Act), String> {
    let inputs: Vec<&ValueInfoProto> = g
        .input
        .iter()
        .filter(|v| !values.contains_key(&v.name))
        .collect();
    let [input] = inputs[..] else {
        return Err(statistics::not_one_input(g, &inputs));
    };
    let what = format!("input `{}`", input.name);
    let t = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| format!("{what} is not a tensor"))?;
    if t.elem_type != data_type::FLOAT && t.elem_type != data_type::DOUBLE {
        return Err(format!(
            "{what} has element type {}; zlmc reads float features",
            data_type::name(t.elem_type)
        ));
    }
    let dims = &t
        .shape
        .as_ref()
        .ok_or_else(|| format!("{what} declares no shape"))?
        .dim;
    // Any rank: the first dimension of two or more is the batch, the rest are
    // flattened row-major (C order, as PyTorch, NumPy and Keras lay them out).
    let batched = dims.len() >= 2;
    let batch_of_one = batched && dims[0].dim_value == Some(1);
    let mut shape = Vec::new();
    for d in dims.iter().skip(usize::from(batched)) {
        match d.dim_value {
            Some(v) if v > 0 => shape.push(v),
            _ => {
                return Err(format!(
                    "{what} has a feature dimension of unknown or zero size"
                ))
            }
        }
    }
    if shape.is_empty() {
        return Err(format!("{what} is a scalar, not a feature vector"));
    }
    let (shape, n) = tensor::check_dims(&shape).map_err(|m| format!("{what} {m}"))?;
    let limit = zlmc_ir::verify::limits::MAX_VECTOR;
    if n > limit {
        return Err(format!(
            "{what} has {n} features, over the limit of {limit}"
        ));
    }
    Ok((
        input.name.clone(),
        Act {
            chain: Chain::new(n),
            shape,
            batched,
            batch_of_one,
            expr: Expr::Var,
            ops: Vec::new(),
            layout: None,
        },
    ))
}

/// Collect the graph outputs into one chain, its head and its labels.
fn graph_output(g: &GraphProto, values: &HashMap<String, Value>) -> Result<Walked, String> {
    let mut chain: Option<(u8, Chain, Head)> = None;
    let mut labels: Option<&Vec<String>> = None;
    for out in &g.output {
        let v = values
            .get(&out.name)
            .ok_or_else(|| format!("output `{}` is not computed by any node", out.name))?;
        let at = |m: String| format!("output `{}`: {m}", out.name);
        // Prefer the value closest to the logits: the layers are the same.
        let (rank, c, head, l) = match v {
            Value::Act(a) => {
                if a.layout.is_some() {
                    return Err(at(
                        "the output is a transposed map; zlmc gives outputs in the \
                         order of the last layer"
                            .into(),
                    ));
                }
                let (x, head) = a.scores("the output").map_err(at)?;
                (0, x.chain, head, None)
            }
            Value::Scores(x, h, l) => (1, x.chain.clone(), *h, l.as_ref()),
            Value::Index(c, h) => (2, c.clone(), *h, None),
            Value::Label(c, h, l) => (2, c.clone(), *h, Some(l)),
            Value::Const(_) => return Err(format!("output `{}` is a constant", out.name)),
        };
        if let Some((_, prev, _)) = &chain {
            if *prev != c {
                return Err(format!(
                    "output `{}` is computed by different layers than the other outputs",
                    out.name
                ));
            }
        }
        if chain.as_ref().is_none_or(|(r, _, _)| rank < *r) {
            chain = Some((rank, c, head));
        }
        if let Some(l) = l {
            if labels.is_some_and(|prev| prev != l) {
                return Err("the graph's outputs disagree on the class labels".into());
            }
            labels = Some(l);
        }
    }
    let (_, chain, head) = chain.ok_or("the graph has no outputs")?;
    Ok(Walked {
        chain,
        head,
        labels: labels.cloned(),
    })
}

fn eval_node(
    node: &NodeProto,
    values: &HashMap<String, Value>,
    opset: i64,
    external: &mut ExternalFiles,
) -> Result<Value, String> {
    let op = node.op_type.as_str();
    let ml = node.domain == "ai.onnx.ml";
    if !(node.domain.is_empty() || node.domain == "ai.onnx" || ml) {
        return Err(format!("unsupported op `{}.{op}`", node.domain));
    }
    let input = |k: usize| -> Result<&Value, String> {
        let name = node
            .input
            .get(k)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("`{op}` has no input {k}"))?;
        values
            .get(name)
            .ok_or_else(|| format!("input `{name}` is not defined by an earlier node"))
    };
    let a = Attrs(&node.attribute);
    a.check()?;
    let input_named = |k: usize| node.input.get(k).is_some_and(|n| !n.is_empty());
    match (ml, op) {
        (false, "Constant") => constant(&a, external).map(Value::Const),
        (false, "Identity" | "Dropout") => Ok(input(0)?.clone()),
        (false, "Cast") => cast(input(0)?, a.int("to", 0)),
        (false, "Relu" | "Tanh" | "Sigmoid" | "HardSwish") => {
            let act = match op {
                "Relu" => FloatActivation::Relu,
                "Tanh" => FloatActivation::Tanh,
                "Sigmoid" => FloatActivation::Sigmoid,
                _ => FloatActivation::HardSwish,
            };
            activation(input(0)?, op, act)
        }
        (false, "LeakyRelu") => activation(
            input(0)?,
            op,
            FloatActivation::LeakyRelu {
                alpha: a.float("alpha", 0.01),
            },
        ),
        // PyTorch's nn.PReLU with one learned slope is a leaky ReLU.
        (false, "PRelu") => match input(1)? {
            Value::Const(c) if c.len() == 1 => {
                let alpha = c.floats().ok_or("`PRelu` slope is not a number")?[0] as f32;
                activation(input(0)?, op, FloatActivation::LeakyRelu { alpha })
            }
            _ => Err(
                "`PRelu` is supported with one constant slope (a leaky ReLU), not a slope \
                 per feature"
                    .into(),
            ),
        },
        (false, "HardSigmoid") => activation(
            input(0)?,
            op,
            FloatActivation::HardSigmoid {
                alpha: a.float("alpha", 0.2),
                beta: a.float("beta", 0.5),
            },
        ),
        (false, "Gelu") => {
            let tanh = match a.get("approximate").map(|v| v.s.as_slice()) {
                None | Some(b"none") => false,
                Some(b"tanh") => true,
                Some(other) => {
                    return Err(format!(
                        "`Gelu` with approximate=`{}` is not supported",
                        String::from_utf8_lossy(other)
                    ))
                }
            };
            activation(input(0)?, op, FloatActivation::Gelu { tanh })
        }
        (false, "Clip") => {
            // Opset 11 made the bounds optional inputs; before, attributes
            // defaulting to the float range.
            let bound = |k: usize, attr: &str| -> Result<Option<f64>, String> {
                if opset < 11 {
                    let v = a.get(attr).map(|v| f64::from(v.f));
                    return Ok(v.filter(|v| v.abs() < f64::from(f32::MAX)));
                }
                if !input_named(k) {
                    return Ok(None);
                }
                match input(k)? {
                    Value::Const(c) if c.len() == 1 => Ok(c.floats().map(|f| f[0])),
                    _ => Err(format!("`Clip` needs a constant scalar {attr} bound")),
                }
            };
            let (lo, hi) = (bound(1, "min")?, bound(2, "max")?);
            if lo.into_iter().chain(hi).any(|v| !v.is_finite()) {
                return Err("`Clip` has a bound that is not a finite number".into());
            }
            let x = act(input(0)?, op)?;
            Ok(Value::Act(x.map(op, &[], |e| match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => Expr::Apply(
                    FloatActivation::Clip {
                        min: lo as f32,
                        max: hi as f32,
                    },
                    Box::new(e),
                ),
                (Some(lo), Some(hi)) => Expr::bin(
                    BinOp::Min,
                    Expr::bin(BinOp::Max, e, Expr::Num(lo)),
                    Expr::Num(hi),
                ),
                (Some(lo), None) => Expr::bin(BinOp::Max, e, Expr::Num(lo)),
                (None, Some(hi)) => Expr::bin(BinOp::Min, e, Expr::Num(hi)),
                (None, None) => e,
            })?))
        }
        (false, "Erf") => {
            let x = act(input(0)?, op)?;
            Ok(Value::Act(x.map(op, &[], |e| Expr::Erf(Box::new(e)))?))
        }
        // Not an ONNX op: TensorFlow's, which tf2onnx leaves in Keras's exact
        // GELU (`0.5·x·erfc(−x/√2)`); erfc(x) = 1 − erf(x).
        (false, "Erfc") => {
            let x = act(input(0)?, op)?;
            Ok(Value::Act(x.map(op, &[], |e| {
                Expr::bin(BinOp::Sub, Expr::Num(1.0), Expr::Erf(Box::new(e)))
            })?))
        }
        (false, "Neg") => {
            let x = act(input(0)?, op)?;
            Ok(Value::Act(x.map(op, &[], |e| {
                Expr::bin(BinOp::Sub, Expr::Num(0.0), e)
            })?))
        }
        (false, "MatMul") => {
            let mut x = act(input(0)?, op)?.settled(op)?;
            let w = weight(input(1)?, op, true)?;
            apply_weight(&mut x, &w, op)?;
            Ok(Value::Act(x))
        }
        (false, "Gemm") => gemm(
            input(0)?,
            input(1)?,
            input_named(2).then(|| input(2)).transpose()?,
            &a,
        ),
        (false, "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min") => {
            if node.input.len() != 2 {
                return Err(format!(
                    "`{op}` of {} inputs is supported only with two",
                    node.input.len()
                ));
            }
            arith(op, input(0)?, input(1)?)
        }
        (false, "BatchNormalization") => batch_norm(node, &input, &a),
        (false, "Concat") => concat(node, &input, a.int("axis", 0)),
        (false, "Flatten") => flatten(input(0)?, a.int("axis", 1)),
        (false, "Reshape") => reshape(input(0)?, input(1)?),
        (false, "Transpose") => transpose(input(0)?, &a),
        (false, "Conv") => conv(
            input(0)?,
            input(1)?,
            input_named(2).then(|| input(2)).transpose()?,
            &a,
        ),
        (false, "MaxPool" | "AveragePool") => {
            if node.output.iter().skip(1).any(|o| !o.is_empty()) {
                return Err("`MaxPool` with an Indices output is not supported".into());
            }
            let pool = if op == "MaxPool" {
                Pool::Max
            } else {
                Pool::Avg {
                    count_pad: a.int("count_include_pad", 0) != 0,
                }
            };
            pool_node(input(0)?, op, &a, pool)
        }
        (false, "GlobalAveragePool") => global_average(input(0)?, op, None, true),
        (false, "ReduceMean") => {
            // Opset 18 moved the axes from an attribute to an input.
            let axes = if input_named(1) {
                match input(1)? {
                    Value::Const(c) => c.ints().map(<[i64]>::to_vec),
                    _ => None,
                }
                .ok_or("`ReduceMean` needs constant integer axes")?
            } else {
                a.get("axes").map(|v| v.ints.clone()).unwrap_or_default()
            };
            global_average(input(0)?, op, Some(&axes), a.int("keepdims", 1) != 0)
        }
        (false, "Shape") => match input(0)? {
            Value::Act(x) => Ok(Value::Const(maps::shape_of(
                &x.shape,
                x.batched,
                x.batch_of_one,
                a.int("start", 0),
                a.get("end").map(|v| v.i),
            ))),
            _ => Err("`Shape` is supported on the network's values only".into()),
        },
        (false, "Gather") => match (input(0)?, input(1)?) {
            (Value::Const(d), Value::Const(i)) => {
                maps::gather(d, i, a.int("axis", 0)).map(Value::Const)
            }
            _ => Err(unsupported(op)),
        },
        (false, "Slice") => {
            let list = |k: usize, attr: &str| -> Result<Vec<i64>, String> {
                if opset < 10 {
                    return Ok(a.get(attr).map(|v| v.ints.clone()).unwrap_or_default());
                }
                if !input_named(k) {
                    return Ok(vec![]);
                }
                match input(k)? {
                    Value::Const(c) => c
                        .ints()
                        .map(<[i64]>::to_vec)
                        .ok_or(format!("`Slice` {attr} are not integers")),
                    _ => Err(format!("`Slice` needs constant {attr}")),
                }
            };
            match input(0)? {
                Value::Const(d) => maps::slice(
                    d,
                    &list(1, "starts")?,
                    &list(2, "ends")?,
                    &list(3, "axes")?,
                    &list(4, "steps")?,
                )
                .map(Value::Const),
                _ => Err(unsupported(op)),
            }
        }
        (false, "Unsqueeze" | "Squeeze") => {
            let axes = if opset < 13 {
                a.get("axes").map(|v| v.ints.clone()).unwrap_or_default()
            } else if input_named(1) {
                match input(1)? {
                    Value::Const(c) => c.ints().map(<[i64]>::to_vec),
                    _ => None,
                }
                .ok_or(format!("`{op}` needs constant integer axes"))?
            } else {
                vec![]
            };
            squeeze_unsqueeze(input(0)?, op, &axes)
        }
        (false, "Softmax" | "LogSoftmax") => {
            let x = act(input(0)?, op)?.settled(op)?;
            let default = if opset < 13 { 1 } else { -1 };
            feature_axis(&x, a.int("axis", default), opset)?;
            Ok(Value::Scores(x, Head::Softmax, None))
        }
        (false, "ArgMax") => {
            if a.int("select_last_index", 0) != 0 {
                return Err("`ArgMax` with select_last_index=1 is not supported".into());
            }
            let (x, head) = match input(0)? {
                Value::Act(x) => x.scores(op)?,
                Value::Scores(x, head, _) => (x.clone(), *head),
                _ => return Err("`ArgMax` must follow the network's outputs".into()),
            };
            feature_axis(&x, a.int("axis", 0), 13)?;
            Ok(Value::Index(x.chain, head))
        }
        (true, "Scaler") => scaler(input(0)?, &a),
        // skl2onnx's one-vs-rest probabilities: each row divided by its sum,
        // which keeps the order of the (positive) scores.
        (true, "Normalizer") => match input(0)? {
            v @ Value::Scores(_, Head::Sigmoid | Head::Softmax, _)
                if a.get("norm").is_some_and(|n| n.s == b"L1") =>
            {
                Ok(v.clone())
            }
            _ => {
                Err("`Normalizer` is supported only as L1 over a classifier's probabilities".into())
            }
        },
        (true, "LinearRegressor") => {
            if !matches!(
                a.get("post_transform").map(|v| v.s.as_slice()),
                None | Some(b"NONE")
            ) {
                return Err("`LinearRegressor` with a post_transform is not supported".into());
            }
            let x = act(input(0)?, op)?.settled(op)?;
            let targets = usize::try_from(a.int("targets", 1)).unwrap_or(0);
            linear(x, &a, targets, op).map(Value::Act)
        }
        (true, "ArrayFeatureExtractor") => match (input(0)?, input(1)?) {
            (Value::Const(classes), Value::Index(c, head)) => {
                let labels = classes
                    .labels()
                    .ok_or("`ArrayFeatureExtractor` picks from float values, not class labels")?;
                Ok(Value::Label(c.clone(), *head, labels))
            }
            // skl2onnx's binary LinearSVC/RidgeClassifier: the positive class's
            // score, which is the one logit the classifier was read as.
            (v @ Value::Scores(x, Head::Sigmoid, _), Value::Const(i))
                if x.chain.width() == 1 && i.ints() == Some(&[1]) =>
            {
                Ok(v.clone())
            }
            _ => Err(
                "`ArrayFeatureExtractor` is supported only to pick a class label by ArgMax, \
                 or a binary classifier's positive score"
                    .into(),
            ),
        },
        (true, "ZipMap") => {
            let labels = match (a.get("classlabels_strings"), a.get("classlabels_int64s")) {
                (Some(s), _) => Some(
                    s.strings
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect(),
                ),
                (None, Some(i)) => Some(i.ints.iter().map(i64::to_string).collect()),
                (None, None) => None,
            };
            match input(0)? {
                Value::Act(x) => {
                    let (x, head) = x.scores(op)?;
                    Ok(Value::Scores(x, head, labels))
                }
                Value::Scores(x, head, _) => Ok(Value::Scores(x.clone(), *head, labels)),
                _ => Err("`ZipMap` must follow the network's outputs".into()),
            }
        }
        (true, _) => Err(format!("unsupported op `ai.onnx.ml.{op}`")),
        (false, _) => Err(unsupported(op)),
    }
}

/// `y = W·x + b` with `W` and `b` from the `coefficients` and `intercepts`
/// attributes of `rows` outputs (scikit-learn's linear models).
fn linear(mut x: Act, a: &Attrs, rows: usize, op: &str) -> Result<Act, String> {
    let floats = |name: &str| -> Vec<f64> {
        a.get(name)
            .map_or(vec![], |v| v.floats.iter().map(|&f| f64::from(f)).collect())
    };
    let (coef, mut bias) = (floats("coefficients"), floats("intercepts"));
    let n = x.chain.width();
    if rows == 0 || coef.len() != rows * n {
        return Err(format!(
            "`{op}` has {} coefficients for {rows} outputs of {n} features",
            coef.len()
        ));
    }
    if bias.is_empty() {
        bias = vec![0.0; rows];
    }
    if bias.len() != rows {
        return Err(format!(
            "`{op}` has {} intercepts for {rows} outputs",
            bias.len()
        ));
    }
    let w: Vec<Vec<f64>> = coef.chunks(n).map(<[f64]>::to_vec).collect();
    apply_weight(&mut x, &w, op)?;
    x.chain.scale_shift(&vec![1.0; rows], &bias)?;
    Ok(x)
}

/// skl2onnx's `LinearClassifier`: the label and the class scores. Two
/// classes with opposite rows are one logit (the second class's).
fn linear_classifier(
    node: &NodeProto,
    values: &HashMap<String, Value>,
) -> Result<Vec<Value>, String> {
    let op = "LinearClassifier";
    let a = Attrs(&node.attribute);
    a.check()?;
    let x = node
        .input
        .first()
        .and_then(|n| values.get(n))
        .ok_or("`LinearClassifier` has no defined input")?;
    let x = act(x, op)?.settled(op)?;
    let labels: Vec<String> = match (a.get("classlabels_strings"), a.get("classlabels_ints")) {
        (Some(s), _) if !s.strings.is_empty() => s
            .strings
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect(),
        (_, Some(i)) => i.ints.iter().map(i64::to_string).collect(),
        _ => return Err("`LinearClassifier` names no class labels".into()),
    };
    let n = x.chain.width();
    let rows = a.get("coefficients").map_or(0, |c| c.floats.len()) / n.max(1);
    let head = match a.get("post_transform").map(|v| v.s.as_slice()) {
        None | Some(b"NONE") => Head::Plain,
        Some(b"LOGISTIC") => Head::Sigmoid,
        Some(b"SOFTMAX") => Head::Softmax,
        // SOFTMAX_ZERO leaves zero scores at zero: [0, −5] becomes [0, 1].
        Some(t) => {
            return Err(format!(
                "`LinearClassifier` with post_transform {} can change which class scores \
                 highest; zlmc reads NONE, LOGISTIC and SOFTMAX",
                String::from_utf8_lossy(t)
            ))
        }
    };
    let mut x = linear(x, &a, rows, op)?;
    let opposite = |c: &[f32]| {
        let (r0, r1) = c.split_at(c.len() / 2);
        r0.iter().zip(r1).all(|(a, b)| *a == -*b)
    };
    let binary = labels.len() == 2
        && (rows == 1
            || (rows == 2
                && a.get("coefficients").is_some_and(|c| opposite(&c.floats))
                && a.get("intercepts").is_some_and(|c| opposite(&c.floats))));
    if binary && head != Head::Softmax {
        if rows == 2 {
            // Keep the second class's logit: the first is its negation.
            let mut w = vec![vec![0.0; 2]];
            w[0][1] = 1.0;
            x.chain.matmul(&w)?;
            x.shape = vec![1];
        }
    } else if rows != labels.len() {
        return Err(format!(
            "`LinearClassifier` has {rows} score rows for {} classes",
            labels.len()
        ));
    }
    let head = if binary && head == Head::Plain {
        Head::Sigmoid
    } else {
        head
    };
    Ok(vec![
        Value::Label(x.chain.clone(), head, labels.clone()),
        Value::Scores(x, head, None),
    ])
}

/// What the importer reads of a convolutional network, for messages.
const CNN_OPS: &str = "zlmc reads convolutional networks made of Conv (1-D or 2-D, any \
    kernel, stride, padding and group count, dilation 1), MaxPool, AveragePool, \
    GlobalAveragePool (or ReduceMean over the spatial axes), BatchNormalization, the \
    activations, Flatten/Reshape/Transpose and dense layers (MatMul, Gemm)";

/// The message for an op the importer does not read, with the nearest
/// supported pattern where there is one.
fn unsupported(op: &str) -> String {
    let hint = match op {
        "ConvTranspose" | "ConvInteger" | "QLinearConv" | "DeformConv" => CNN_OPS,
        "GlobalMaxPool" | "LpPool" | "GlobalLpPool" | "MaxRoiPool" | "MaxUnpool" => CNN_OPS,
        "Pad" | "Resize" | "Upsample" | "SpaceToDepth" | "DepthToSpace" => CNN_OPS,
        "ReduceMax" | "ReduceSum" | "ReduceMin" | "ReduceProd" => CNN_OPS,
        "LSTM" | "GRU" | "RNN" => "recurrent layers are not supported",
        "Elu" | "Selu" | "Celu" | "Softplus" | "Softsign" | "Mish" | "ThresholdedRelu"
        | "Shrink" => {
            "the activations zlmc reads are Relu, LeakyRelu, Clip (ReLU6), Tanh, Sigmoid, \
             HardSigmoid, HardSwish and Gelu"
        }
        "LayerNormalization"
        | "InstanceNormalization"
        | "GroupNormalization"
        | "LpNormalization" => {
            "it normalizes each sample by its own statistics; BatchNormalization in \
             inference form (and constant Mul/Add) folds into the layers"
        }
        "Exp" | "Log" | "Sqrt" | "Abs" | "Reciprocal" | "Sin" | "Cos" => {
            "elementwise functions are read only as parts of a supported activation \
             (e.g. GELU as Mul/Erf/Add)"
        }
        "Gather" | "Slice" => {
            "zlmc folds Gather and Slice of constant shapes (Shape → Gather → Concat → \
             Reshape), not of the network's values; reshape them with Flatten or Reshape"
        }
        "Split" | "Expand" | "Tile" => {
            "zlmc reads one feature vector or map flowing through the layers; reshape it \
             with Flatten or Reshape"
        }
        _ => "",
    };
    if hint.is_empty() {
        format!("unsupported op `{op}`")
    } else {
        format!("unsupported op `{op}`: {hint}")
    }
}

/// `act` applied to the network's value (folded into a layer later).
fn activation(v: &Value, op: &str, act_: FloatActivation) -> Result<Value, String> {
    let params = match act_ {
        FloatActivation::LeakyRelu { alpha } => vec![alpha],
        FloatActivation::HardSigmoid { alpha, beta } => vec![alpha, beta],
        _ => vec![],
    };
    if params.iter().any(|p| !p.is_finite()) {
        return Err(format!(
            "`{op}` has a parameter that is not a finite number"
        ));
    }
    let x = act(v, op)?;
    Ok(Value::Act(
        x.map(op, &[], |e| Expr::Apply(act_, Box::new(e)))?,
    ))
}

/// `BatchNormalization` in inference form: per channel (axis 1)
/// `y = scale·(x − mean)/√(var + ε) + B`, a constant affine map.
fn batch_norm<'a>(
    node: &NodeProto,
    input: &dyn Fn(usize) -> Result<&'a Value, String>,
    a: &Attrs,
) -> Result<Value, String> {
    if a.int("training_mode", 0) != 0 || node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(
            "`BatchNormalization` in training mode is not supported (export the model in \
             eval mode)"
                .into(),
        );
    }
    let mut x = act(input(0)?, "BatchNormalization")?.settled("BatchNormalization")?;
    let channels = x.shape.first().copied().unwrap_or(0);
    let per = x.chain.width() / channels.max(1);
    let param = |k: usize, name: &str| -> Result<Vec<f64>, String> {
        match input(k)? {
            Value::Const(c) if c.len() == channels => c
                .floats()
                .ok_or(format!("`BatchNormalization` {name} is not numbers")),
            Value::Const(c) => Err(format!(
                "`BatchNormalization` has {} {name} values for {channels} channels",
                c.len()
            )),
            _ => Err(format!("`BatchNormalization` needs a constant {name}")),
        }
    };
    let (scale, bias) = (param(1, "scale")?, param(2, "B")?);
    let (mean, var) = (param(3, "mean")?, param(4, "var")?);
    let eps = f64::from(a.float("epsilon", 1e-5));
    let mut mul = Vec::with_capacity(x.chain.width());
    let mut add = Vec::with_capacity(x.chain.width());
    for c in 0..channels {
        let m = scale[c] / (var[c] + eps).sqrt();
        let k = bias[c] - mean[c] * m;
        if !(m.is_finite() && k.is_finite()) {
            return Err(format!(
                "`BatchNormalization` channel {c} (variance {}, epsilon {eps}) does not \
                 give a finite scale and shift",
                var[c]
            ));
        }
        mul.extend(std::iter::repeat_n(m, per));
        add.extend(std::iter::repeat_n(k, per));
    }
    let (mul, add) = (x.chain_order(mul), x.chain_order(add));
    x.chain.scale_shift(&mul, &add)?;
    Ok(Value::Act(x))
}

/// `Concat` of the network's values: only skl2onnx's binary probabilities
/// `[1 − σ(z), σ(z)]` of one logit `z`.
fn concat<'a>(
    node: &NodeProto,
    input: &dyn Fn(usize) -> Result<&'a Value, String>,
    axis: i64,
) -> Result<Value, String> {
    let refuse = || {
        Err(
            "`Concat` is supported only for a binary classifier's probabilities \
             [1 − sigmoid(z), sigmoid(z)] of one logit z"
                .to_string(),
        )
    };
    let parts: Vec<&Value> = (0..node.input.len()).map(input).collect::<Result<_, _>>()?;
    if parts.iter().all(|p| matches!(p, Value::Const(_))) {
        let consts: Vec<&Const> = parts
            .iter()
            .filter_map(|p| match p {
                Value::Const(c) => Some(c),
                _ => None,
            })
            .collect();
        return maps::concat(&consts).map(Value::Const);
    }
    if node.input.len() != 2 {
        return refuse();
    }
    let (Value::Act(neg), Value::Act(pos)) = (input(0)?, input(1)?) else {
        return refuse();
    };
    let one_wide = |x: &Act| x.shape == [1] && x.batched;
    if !(one_wide(neg) && neg.same_base(pos) && (axis == 1 || axis == -1)) {
        return refuse();
    }
    let Expr::Apply(FloatActivation::Sigmoid, _) = &pos.expr else {
        return refuse();
    };
    let complement = (-400..=400).all(|i| {
        let z = f64::from(i) / 40.0;
        (neg.expr.eval(z) - (1.0 - pos.expr.eval(z))).abs() <= 1e-6
    });
    if !complement {
        return refuse();
    }
    let (mut x, _) = pos.scores("Concat")?;
    // Two class scores, computed later from the one logit.
    x.shape = vec![2];
    Ok(Value::Scores(x, Head::BinaryProbs, None))
}

/// The value as the network's vector, or an error naming the op.
fn act(v: &Value, op: &str) -> Result<Act, String> {
    match v {
        Value::Act(a) => Ok(a.clone()),
        Value::Const(_) => Err(format!("`{op}` on constants only is not supported")),
        Value::Scores(_, Head::Softmax, _) => Err(format!(
            "`{op}` after a Softmax: Softmax is supported only as the network's last op \
             (where it is dropped, as argmax does not change)"
        )),
        _ => Err(format!(
            "`{op}` after the classifier's output (Softmax, ArgMax) is not supported"
        )),
    }
}

/// A 2-D constant as rows; `transposed` reads it column by column.
fn weight(v: &Value, op: &str, transposed: bool) -> Result<Vec<Vec<f64>>, String> {
    let Value::Const(c) = v else {
        return Err(format!("`{op}` needs constant weights as its second input"));
    };
    let [r, k] = c.dims[..] else {
        return Err(format!(
            "`{op}` weights have shape {:?}, not a matrix",
            c.dims
        ));
    };
    let f = c.floats().ok_or(format!("`{op}` weights are strings"))?;
    Ok(if transposed {
        (0..k)
            .map(|j| (0..r).map(|i| f[i * k + j]).collect())
            .collect()
    } else {
        f.chunks(k.max(1)).map(<[f64]>::to_vec).collect()
    })
}

/// Apply `w` (`[outputs][inputs]`) to `x`, checking that the sizes agree.
fn apply_weight(x: &mut Act, w: &[Vec<f64>], op: &str) -> Result<(), String> {
    if x.shape.len() != 1 {
        return Err(format!(
            "`{op}` on a value of shape {:?}; flatten it to a vector first",
            x.shape
        ));
    }
    let k = w.first().map_or(0, Vec::len);
    if k != x.chain.width() || w.is_empty() {
        return Err(format!(
            "`{op}` weights take {k} inputs but the value before has {} (shape mismatch)",
            x.chain.width()
        ));
    }
    if let Some(l) = x.layout.take() {
        // Input j of the weight is element l[j] of the chain's output.
        let w: Vec<Vec<f64>> = w
            .iter()
            .map(|row| maps::to_chain_order(row.clone(), &Some(l.clone())))
            .collect();
        x.chain.matmul(&w)?;
    } else {
        x.chain.matmul(w)?;
    }
    x.shape = vec![w.len()];
    Ok(())
}

/// MatMul's `[inputs][outputs]` weight is `Wᵀ`; Gemm's `B` is `Wᵀ` unless `transB`.
fn gemm(x: &Value, b: &Value, c: Option<&Value>, a: &Attrs) -> Result<Value, String> {
    if a.int("transA", 0) != 0 {
        return Err("`Gemm` with transA=1 is not supported".into());
    }
    let mut x = act(x, "Gemm")?.settled("Gemm")?;
    let alpha = a.float("alpha", 1.0) as f64;
    let beta = a.float("beta", 1.0) as f64;
    let mut w = weight(b, "Gemm", a.int("transB", 0) == 0)?;
    w.iter_mut().flatten().for_each(|v| *v *= alpha);
    apply_weight(&mut x, &w, "Gemm")?;
    if let Some(c) = c {
        let Value::Const(c) = c else {
            return Err("`Gemm` needs a constant bias C".into());
        };
        let n = x.chain.width();
        let bias = broadcast(c, &x.shape).map_err(|m| format!("`Gemm` bias {m}"))?;
        let bias: Vec<f64> = bias.iter().map(|v| v * beta).collect();
        x.chain.scale_shift(&vec![1.0; n], &bias)?;
    }
    Ok(Value::Act(x))
}

/// A constant broadcast over values of `shape` (after the batch dimension),
/// as NumPy broadcasts: dimensions aligned from the last, each 1 or equal
/// (a bias per channel is `[C, 1, 1]` over `[C, H, W]`).
fn broadcast(c: &Const, shape: &[usize]) -> Result<Vec<f64>, String> {
    let f = c.floats().ok_or("is a string tensor")?;
    let n: usize = shape.iter().product();
    let refuse = || {
        format!(
            "has shape {:?}, which does not broadcast over values of shape {shape:?}",
            c.dims
        )
    };
    let dims = c.squeezed_dims();
    if c.dims.len() > shape.len() + 1 || dims.len() > shape.len() {
        return Err(refuse());
    }
    // The constant's strides over `shape`'s axes (0 where it broadcasts).
    let off = shape.len() - dims.len();
    let mut strides = vec![0usize; shape.len()];
    let mut stride = 1;
    for (k, &d) in dims.iter().enumerate().rev() {
        let axis = off + k;
        if d == shape[axis] {
            strides[axis] = if d == 1 { 0 } else { stride };
        } else if d != 1 {
            return Err(refuse());
        }
        stride *= d;
    }
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        out.push(f[idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

fn arith(op: &str, l: &Value, r: &Value) -> Result<Value, String> {
    let bin = match op {
        "Add" => BinOp::Add,
        "Sub" => BinOp::Sub,
        "Mul" => BinOp::Mul,
        "Div" => BinOp::Div,
        "Pow" => BinOp::Pow,
        "Max" => BinOp::Max,
        _ => BinOp::Min,
    };
    let (x, c, const_first) = match (l, r) {
        (Value::Act(x), Value::Const(c)) => (x, c, false),
        (Value::Const(c), Value::Act(x)) => (x, c, true),
        // One function of the same value in two places (GELU's x·Φ(x)).
        (Value::Act(x), Value::Act(y)) if x.same_base(y) => {
            let z = x.map(op, &y.ops, |e| Expr::bin(bin, e, y.expr.clone()))?;
            return Ok(Value::Act(z));
        }
        (Value::Act(_), Value::Act(_)) => {
            return Err(format!(
                "`{op}` of two computed values is not supported (only an elementwise \
                 function of one value, such as GELU's x·Φ(x), or a value and a constant)"
            ))
        }
        _ => {
            return Err(format!(
                "`{op}` is supported only between the network's values and a constant"
            ))
        }
    };
    // A scalar constant stays in the elementwise function: it may be part
    // of an activation (`x + 3` of a hard sigmoid); linear, it folds later.
    if c.len() == 1 && c.dims.len() <= x.rank() {
        let k = c.floats().ok_or(format!("`{op}` of a string constant"))?[0];
        match op {
            "Div" if const_first => {
                return Err("`Div` of a constant by the network's values is not linear".into())
            }
            "Div" if k == 0.0 => return Err("`Div` divides by zero".into()),
            _ => {}
        }
        let k = Expr::Num(k);
        let x = x.map(op, &[], |e| {
            if const_first {
                Expr::bin(bin, k, e)
            } else {
                Expr::bin(bin, e, k)
            }
        })?;
        return Ok(Value::Act(x));
    }
    let x = &x.settled(op)?;
    let k = broadcast(c, &x.shape).map_err(|m| format!("`{op}` constant {m}"))?;
    let k = x.chain_order(k);
    let n = k.len();
    let (mul, add): (Vec<f64>, Vec<f64>) = match (op, const_first) {
        ("Add", _) => (vec![1.0; n], k),
        ("Sub", false) => (vec![1.0; n], k.iter().map(|v| -v).collect()),
        ("Sub", true) => (vec![-1.0; n], k),
        ("Mul", _) => (k, vec![0.0; n]),
        ("Div", false) => {
            if k.contains(&0.0) {
                return Err("`Div` divides by zero".into());
            }
            (k.iter().map(|v| 1.0 / v).collect(), vec![0.0; n])
        }
        ("Div", true) => {
            return Err("`Div` of a constant by the network's values is not linear".into())
        }
        _ => {
            return Err(format!(
                "`{op}` with a constant per feature is not supported (only with one \
                 constant for all, as in ReLU6 written as Max/Min)"
            ))
        }
    };
    let mut x = x.clone();
    x.chain.scale_shift(&mul, &add)?;
    Ok(Value::Act(x))
}

fn scaler(v: &Value, a: &Attrs) -> Result<Value, String> {
    let mut x = act(v, "Scaler")?.settled("Scaler")?;
    let n = x.chain.width();
    let get = |name: &str, default: f64| -> Result<Vec<f64>, String> {
        let f: Vec<f64> = a
            .get(name)
            .map_or(vec![], |a| a.floats.iter().map(|&v| v as f64).collect());
        match f.len() {
            0 => Ok(vec![default; n]),
            1 => Ok(vec![f[0]; n]),
            l if l == n => Ok(f),
            l => Err(format!("`Scaler` has {l} {name} values for {n} features")),
        }
    };
    let offset = get("offset", 0.0)?;
    let scale = get("scale", 1.0)?;
    let add: Vec<f64> = offset.iter().zip(&scale).map(|(o, s)| -o * s).collect();
    x.chain.scale_shift(&scale, &add)?;
    Ok(Value::Act(x))
}

fn cast(v: &Value, to: i64) -> Result<Value, String> {
    let to = i32::try_from(to).unwrap_or(-1);
    let float = to == data_type::FLOAT || to == data_type::DOUBLE;
    match v {
        Value::Act(_) | Value::Scores(..) if float => Ok(v.clone()),
        Value::Act(_) | Value::Scores(..) => Err(format!(
            "`Cast` of the network's values to {}",
            data_type::name(to)
        )),
        Value::Index(..) | Value::Label(..) => Ok(v.clone()),
        Value::Const(c) => {
            let data = match (&c.data, to) {
                (_, _) if float => Data::Float(c.floats().ok_or("`Cast` of strings to float")?),
                (Data::Int(i), data_type::INT64 | data_type::INT32) => Data::Int(i.clone()),
                _ => return Err(format!("`Cast` of a constant to {}", data_type::name(to))),
            };
            Ok(Value::Const(Const {
                dims: c.dims.clone(),
                data,
            }))
        }
    }
}

fn flatten(v: &Value, axis: i64) -> Result<Value, String> {
    match v {
        Value::Act(x) => {
            let axis = if axis < 0 {
                axis + x.rank() as i64
            } else {
                axis
            };
            // With a batch of one, flattening it in as well changes nothing.
            let merges_one = axis == 0 && x.batch_of_one;
            if axis != i64::from(x.batched) && !merges_one {
                return Err(format!(
                    "`Flatten` at axis {axis} would merge the batch dimension"
                ));
            }
            let mut x = x.clone();
            x.shape = vec![x.chain.width()];
            Ok(Value::Act(x))
        }
        Value::Const(_) => Err("`Flatten` of a constant is not supported".into()),
        _ => Ok(v.clone()),
    }
}

fn reshape(v: &Value, shape: &Value) -> Result<Value, String> {
    let Value::Const(s) = shape else {
        return Err("`Reshape` to a computed shape is not supported".into());
    };
    let s = s.ints().ok_or("`Reshape` shape is not integers")?;
    match v {
        Value::Act(x) => {
            let n = x.chain.width();
            let mut target = s;
            if x.batched {
                match target.split_first() {
                    Some((&(0 | -1 | maps::BATCH), rest)) => target = rest,
                    Some((&1, rest)) if x.batch_of_one => target = rest,
                    _ => {
                        return Err(format!(
                            "`Reshape` to {s:?} would change the batch dimension"
                        ))
                    }
                }
            }
            // Checked: the target comes from the file and may be any i64.
            let known = target
                .iter()
                .filter(|&&d| d > 0)
                .try_fold(1i64, |p, &d| p.checked_mul(d))
                .unwrap_or(0);
            let free = target.iter().filter(|&&d| d == -1).count();
            if target.iter().any(|&d| d == 0 || d < -1) || free > 1 || known <= 0 {
                return Err(format!("`Reshape` to {s:?} is not supported"));
            }
            let dims: Vec<usize> = target
                .iter()
                .map(|&d| {
                    if d == -1 {
                        n / known as usize
                    } else {
                        d as usize
                    }
                })
                .collect();
            if dims.iter().product::<usize>() != n {
                return Err(format!("`Reshape` of {n} values to {s:?} (shape mismatch)"));
            }
            let mut x = x.clone();
            x.shape = dims;
            Ok(Value::Act(x))
        }
        Value::Const(_) => Err("`Reshape` of a constant is not supported".into()),
        _ => Ok(v.clone()),
    }
}

fn transpose(v: &Value, a: &Attrs) -> Result<Value, String> {
    let perm = a.get("perm").map(|p| p.ints.clone());
    match v {
        Value::Const(c) if c.dims.len() == 2 && perm.as_deref().is_none_or(|p| p == [1, 0]) => {
            let rows = weight(v, "Transpose", true)?;
            Ok(Value::Const(Const {
                dims: vec![c.dims[1], c.dims[0]],
                data: Data::Float(rows.concat()),
            }))
        }
        Value::Act(x) => {
            let x = x.settled("Transpose")?;
            let rank = x.rank();
            let perm: Vec<i64> = perm.unwrap_or_else(|| (0..rank as i64).rev().collect());
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..rank as i64).collect::<Vec<_>>() {
                return Err(format!(
                    "`Transpose` perm {perm:?} is not a permutation of {rank} axes"
                ));
            }
            let skip = usize::from(x.batched);
            if x.batched && perm[0] != 0 {
                return Err(format!(
                    "`Transpose` perm {perm:?} moves the batch dimension"
                ));
            }
            let perm: Vec<usize> = perm[skip..].iter().map(|&p| p as usize - skip).collect();
            let (shape, layout) = maps::transpose(&x.shape, &x.layout, &perm);
            Ok(Value::Act(Act { shape, layout, ..x }))
        }
        _ => Err(
            "`Transpose` is supported only on constant matrices and the network's values".into(),
        ),
    }
}

/// `Conv` of the network's map by constant weights `[O, C/groups, (kh,) kw]`
/// and an optional bias `[O]`.
fn conv(x: &Value, w: &Value, b: Option<&Value>, a: &Attrs) -> Result<Value, String> {
    let op = "Conv";
    let mut x = act(x, op)?.settled(op)?;
    let input = x.map_shape(op)?;
    let one_d = x.shape.len() == 2;
    let Value::Const(w) = w else {
        return Err("`Conv` needs constant weights as its second input".into());
    };
    let spatial = if one_d { 1 } else { 2 };
    if w.dims.len() != 2 + spatial {
        return Err(format!(
            "`Conv` weights have shape {:?}, not [out channels, in channels / groups, \
             kernel…] for a {}-D map",
            w.dims, spatial
        ));
    }
    let groups = usize::try_from(a.int("group", 1))
        .ok()
        .filter(|&g| g >= 1)
        .ok_or("`Conv` group must be at least 1")?;
    let (out, per_group) = (w.dims[0], w.dims[1]);
    if out == 0
        || !input.channels.is_multiple_of(groups)
        || !out.is_multiple_of(groups)
        || per_group * groups != input.channels
    {
        return Err(format!(
            "`Conv` weights {:?} in {groups} groups do not fit an input of {} channels",
            w.dims, input.channels
        ));
    }
    let window = maps::window(op, a.0, input, one_d, Some(&w.dims[2..]))?;
    let f = w.floats().ok_or("`Conv` weights are strings")?;
    let cols = f.len() / out;
    let weight: Vec<Vec<f64>> = f.chunks(cols.max(1)).map(<[f64]>::to_vec).collect();
    let bias = match b {
        None => vec![0.0; out],
        Some(Value::Const(c)) if c.len() == out => c.floats().ok_or("`Conv` bias is strings")?,
        Some(Value::Const(c)) => {
            return Err(format!(
                "`Conv` has {} bias values for {out} output channels",
                c.len()
            ))
        }
        Some(_) => return Err("`Conv` needs a constant bias".into()),
    };
    x.chain.conv(ConvSpec {
        input,
        window,
        groups,
        weight,
        bias,
    })?;
    let output = window.map_over(input, out)?;
    x.shape = maps::logical(output, one_d);
    Ok(Value::Act(x))
}

/// `MaxPool` or `AveragePool` of the network's map.
fn pool_node(x: &Value, op: &str, a: &Attrs, pool: Pool) -> Result<Value, String> {
    if a.int("storage_order", 0) != 0 {
        return Err(format!("`{op}` with storage_order=1 is not supported"));
    }
    let mut x = act(x, op)?.settled(op)?;
    let input = x.map_shape(op)?;
    let one_d = x.shape.len() == 2;
    let window = maps::window(op, a.0, input, one_d, None)?;
    let output = x.chain.pool(input, window, pool)?;
    x.shape = maps::logical(output, one_d);
    Ok(Value::Act(x))
}

/// `GlobalAveragePool`, or `ReduceMean` over every spatial axis (`axes`;
/// PyTorch's AdaptiveAvgPool2d(1) and Keras's GlobalAveragePooling2D): an
/// average pool whose window is the whole map. `keepdims` keeps the
/// spatial axes as 1s.
fn global_average(
    x: &Value,
    op: &str,
    axes: Option<&[i64]>,
    keepdims: bool,
) -> Result<Value, String> {
    let mut x = act(x, op)?.settled(op)?;
    let input = x.map_shape(op)?;
    let one_d = x.shape.len() == 2;
    if let Some(axes) = axes {
        let rank = x.rank() as i64;
        let mut axes: Vec<i64> = axes
            .iter()
            .map(|&a| if a < 0 { a + rank } else { a })
            .collect();
        axes.sort_unstable();
        let skip = i64::from(x.batched);
        let spatial: Vec<i64> = (skip + 1..rank).collect();
        if axes != spatial {
            return Err(format!(
                "`{op}` is supported over the spatial axes of a map (global average \
                 pooling), not over axes {axes:?} of shape {:?}",
                x.shape
            ));
        }
    }
    let window = zlmc_ir::Window {
        kernel: [input.height, input.width],
        stride: [1, 1],
        pads: [0; 4],
    };
    let output = x
        .chain
        .pool(input, window, Pool::Avg { count_pad: false })?;
    x.shape = if keepdims {
        maps::logical(output, one_d)
    } else {
        vec![output.channels]
    };
    Ok(Value::Act(x))
}

/// `Squeeze`/`Unsqueeze` of the network's values (their shape only) or of a
/// constant.
fn squeeze_unsqueeze(v: &Value, op: &str, axes: &[i64]) -> Result<Value, String> {
    let change = |dims: &[usize]| {
        if op == "Squeeze" {
            maps::squeeze(dims, axes)
        } else {
            maps::unsqueeze(dims, axes)
        }
    };
    match v {
        Value::Const(c) => Ok(Value::Const(Const {
            dims: change(&c.dims)?,
            data: c.data.clone(),
        })),
        Value::Act(x) => {
            let mut x = x.settled(op)?;
            if x.layout.is_some() {
                return Err(format!("`{op}` of a transposed map is not supported"));
            }
            let mut full = x.shape.clone();
            if x.batched {
                full.insert(0, if x.batch_of_one { 1 } else { usize::MAX });
            }
            let mut new = change(&full)?;
            if x.batched {
                if new.first() != Some(&full[0]) {
                    return Err(format!("`{op}` would change the batch dimension"));
                }
                new.remove(0);
            }
            x.shape = new;
            Ok(Value::Act(x))
        }
        _ => Err(format!(
            "`{op}` after the classifier's output is not supported"
        )),
    }
}

/// Check that `axis` names the (single) feature axis of `x`.
fn feature_axis(x: &Act, axis: i64, opset: i64) -> Result<(), String> {
    let rank = x.rank() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    // Before opset 13, Softmax coerced the input to 2-D at `axis`.
    let ok = if opset < 13 {
        axis == i64::from(x.batched)
    } else {
        axis == rank - 1 && x.shape.len() == 1
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the op runs over axis {axis}, not over the features"
        ))
    }
}

/// A node's attributes.
struct Attrs<'a>(&'a [AttributeProto]);

impl Attrs<'_> {
    fn check(&self) -> Result<(), String> {
        match self.0.iter().find(|a| !a.ref_attr_name.is_empty()) {
            Some(a) => Err(format!(
                "attribute `{}` refers to a function attribute",
                a.name
            )),
            None => Ok(()),
        }
    }

    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }
}

/// The value of a `Constant` node.
fn constant(a: &Attrs, external: &mut ExternalFiles) -> Result<Const, String> {
    let attr = a.0.first().ok_or("`Constant` has no value")?;
    let scalar = |data| Const { dims: vec![], data };
    let list = |data: Data, n: usize| Const {
        dims: vec![n],
        data,
    };
    Ok(match (attr.name.as_str(), attr.r#type) {
        ("value", attr_type::TENSOR) => {
            let t = attr.t.as_ref().ok_or("`Constant` has no tensor")?;
            external
                .resolve(t)
                .and_then(|t| tensor::decode(&t))
                .map_err(|m| format!("`Constant` tensor {m}"))?
        }
        ("value_float", attr_type::FLOAT) => scalar(Data::Float(vec![attr.f as f64])),
        ("value_int", attr_type::INT) => scalar(Data::Int(vec![attr.i])),
        ("value_floats", attr_type::FLOATS) => list(
            Data::Float(attr.floats.iter().map(|&v| v as f64).collect()),
            attr.floats.len(),
        ),
        ("value_ints", attr_type::INTS) => list(Data::Int(attr.ints.clone()), attr.ints.len()),
        ("value_string", attr_type::STRING) => {
            scalar(Data::Str(vec![
                String::from_utf8_lossy(&attr.s).into_owned()
            ]))
        }
        ("value_strings", attr_type::STRINGS) => list(
            Data::Str(
                attr.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            attr.strings.len(),
        ),
        (name, _) => {
            return Err(format!(
                "`Constant` with attribute `{name}` is not supported"
            ))
        }
    })
}
