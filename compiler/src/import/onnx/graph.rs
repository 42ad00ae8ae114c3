//! Walk an ONNX graph node by node, tracking what each value is: a constant,
//! the float vector the MLP computes, or the classifier tail built on it.

use std::collections::HashMap;

use super::chain::Chain;
use super::external::ExternalFiles;
use super::proto::{attr_type, data_type, AttributeProto, GraphProto, NodeProto, ValueInfoProto};
use super::tensor::{self, Const, Data};
use crate::quant::float_model::FloatLayer;

/// What a graph value is known to be.
#[derive(Debug, Clone)]
enum Value {
    /// A constant (initializer, `Constant` node, or folded from them).
    Const(Const),
    /// The vector the network computes: an affine chain of the input.
    Act(Act),
    /// A monotone function of the chain's output (`Softmax`, `LogSoftmax`),
    /// possibly wrapped by `ZipMap` with its class labels.
    Scores(Act, Option<Vec<String>>),
    /// `ArgMax` of the chain's output.
    Index(Chain),
    /// The class label picked by `ArrayFeatureExtractor` from the labels.
    Label(Chain, Vec<String>),
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
}

impl Act {
    fn rank(&self) -> usize {
        self.shape.len() + usize::from(self.batched)
    }
}

/// A graph whose walk has produced a float MLP.
pub struct Walked {
    /// Length of the input vector.
    pub inputs: usize,
    /// Dense layers.
    pub layers: Vec<FloatLayer>,
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
        let out = eval_node(node, &values, opset, external).map_err(at)?;
        if let Some(name) = node.output.first() {
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
        let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
        return Err(format!(
            "the graph has {} inputs ({names:?}); zlmc reads models with one feature vector",
            inputs.len()
        ));
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
        },
    ))
}

/// Collect the graph outputs into one chain and its labels.
fn graph_output(g: &GraphProto, values: &HashMap<String, Value>) -> Result<Walked, String> {
    let mut chain: Option<(u8, &Chain)> = None;
    let mut labels: Option<&Vec<String>> = None;
    for out in &g.output {
        let v = values
            .get(&out.name)
            .ok_or_else(|| format!("output `{}` is not computed by any node", out.name))?;
        // Prefer the value closest to the logits: the layers are the same.
        let (rank, c, l) = match v {
            Value::Act(a) => (0, &a.chain, None),
            Value::Scores(x, l) => (1, &x.chain, l.as_ref()),
            Value::Index(c) => (2, c, None),
            Value::Label(c, l) => (2, c, Some(l)),
            Value::Const(_) => return Err(format!("output `{}` is a constant", out.name)),
        };
        if let Some((_, prev)) = chain {
            if prev != c {
                return Err(format!(
                    "output `{}` is computed by different layers than the other outputs",
                    out.name
                ));
            }
        }
        if chain.is_none_or(|(r, _)| rank < r) {
            chain = Some((rank, c));
        }
        if let Some(l) = l {
            if labels.is_some_and(|prev| prev != l) {
                return Err("the graph's outputs disagree on the class labels".into());
            }
            labels = Some(l);
        }
    }
    let (_, chain) = chain.ok_or("the graph has no outputs")?;
    let inputs = chain.inputs;
    let layers = chain.clone().finish()?;
    let units = layers.last().map_or(0, FloatLayer::units);
    if let Some(l) = labels {
        if l.len() != units {
            return Err(format!(
                "the graph has {} class labels for {units} outputs",
                l.len()
            ));
        }
    }
    Ok(Walked {
        inputs,
        layers,
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
    match (ml, op) {
        (false, "Constant") => constant(&a, external).map(Value::Const),
        (false, "Identity" | "Dropout") => Ok(input(0)?.clone()),
        (false, "Cast") => cast(input(0)?, a.int("to", 0)),
        (false, "Relu") => {
            let mut x = act(input(0)?, op)?;
            x.chain.relu()?;
            Ok(Value::Act(x))
        }
        (false, "MatMul") => {
            let mut x = act(input(0)?, op)?;
            let w = weight(input(1)?, op, true)?;
            apply_weight(&mut x, &w, op)?;
            Ok(Value::Act(x))
        }
        (false, "Gemm") => gemm(
            input(0)?,
            input(1)?,
            node.input
                .get(2)
                .filter(|n| !n.is_empty())
                .map(|_| input(2))
                .transpose()?,
            &a,
        ),
        (false, "Add" | "Sub" | "Mul" | "Div") => arith(op, input(0)?, input(1)?),
        (false, "Flatten") => flatten(input(0)?, a.int("axis", 1)),
        (false, "Reshape") => reshape(input(0)?, input(1)?),
        (false, "Transpose") => transpose(input(0)?, &a),
        (false, "Softmax" | "LogSoftmax") => {
            let x = act(input(0)?, op)?;
            let default = if opset < 13 { 1 } else { -1 };
            feature_axis(&x, a.int("axis", default), opset)?;
            Ok(Value::Scores(x, None))
        }
        (false, "ArgMax") => {
            if a.int("select_last_index", 0) != 0 {
                return Err("`ArgMax` with select_last_index=1 is not supported".into());
            }
            match input(0)? {
                Value::Act(x) | Value::Scores(x, _) => {
                    feature_axis(x, a.int("axis", 0), 13)?;
                    Ok(Value::Index(x.chain.clone()))
                }
                _ => Err("`ArgMax` must follow the network's outputs".into()),
            }
        }
        (true, "Scaler") => scaler(input(0)?, &a),
        (true, "ArrayFeatureExtractor") => match (input(0)?, input(1)?) {
            (Value::Const(classes), Value::Index(c)) => {
                let labels = classes
                    .labels()
                    .ok_or("`ArrayFeatureExtractor` picks from float values, not class labels")?;
                Ok(Value::Label(c.clone(), labels))
            }
            _ => Err(
                "`ArrayFeatureExtractor` is supported only to pick a class label by ArgMax".into(),
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
                Value::Act(x) | Value::Scores(x, _) => Ok(Value::Scores(x.clone(), labels)),
                _ => Err("`ZipMap` must follow the network's outputs".into()),
            }
        }
        (true, _) => Err(format!("unsupported op `ai.onnx.ml.{op}`")),
        (false, _) => Err(format!("unsupported op `{op}`")),
    }
}

/// The value as the network's vector, or an error naming the op.
fn act(v: &Value, op: &str) -> Result<Act, String> {
    match v {
        Value::Act(a) => Ok(a.clone()),
        Value::Const(_) => Err(format!("`{op}` on constants only is not supported")),
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
    x.chain.matmul(w)?;
    x.shape = vec![w.len()];
    Ok(())
}

/// MatMul's `[inputs][outputs]` weight is `Wᵀ`; Gemm's `B` is `Wᵀ` unless `transB`.
fn gemm(x: &Value, b: &Value, c: Option<&Value>, a: &Attrs) -> Result<Value, String> {
    if a.int("transA", 0) != 0 {
        return Err("`Gemm` with transA=1 is not supported".into());
    }
    let mut x = act(x, "Gemm")?;
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
        x.chain.scale_shift(&vec![1.0; n], &bias);
    }
    Ok(Value::Act(x))
}

/// A constant broadcast over values of `shape` (after the batch dimension).
fn broadcast(c: &Const, shape: &[usize]) -> Result<Vec<f64>, String> {
    let f = c.floats().ok_or("is a string tensor")?;
    let n: usize = shape.iter().product();
    let dims = c.squeezed_dims();
    if c.dims.len() > shape.len() + 1 || (!dims.is_empty() && dims != shape) {
        return Err(format!(
            "has shape {:?}, which does not broadcast over values of shape {shape:?}",
            c.dims
        ));
    }
    Ok(if dims.is_empty() { vec![f[0]; n] } else { f })
}

fn arith(op: &str, l: &Value, r: &Value) -> Result<Value, String> {
    let (x, c, const_first) = match (l, r) {
        (Value::Act(x), Value::Const(c)) => (x, c, false),
        (Value::Const(c), Value::Act(x)) => (x, c, true),
        (Value::Act(_), Value::Act(_)) => {
            return Err(format!("`{op}` of two computed values is not supported"))
        }
        _ => {
            return Err(format!(
                "`{op}` is supported only between the network's values and a constant"
            ))
        }
    };
    let k = broadcast(c, &x.shape).map_err(|m| format!("`{op}` constant {m}"))?;
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
        _ => return Err("`Div` of a constant by the network's values is not linear".into()),
    };
    let mut x = x.clone();
    x.chain.scale_shift(&mul, &add);
    Ok(Value::Act(x))
}

fn scaler(v: &Value, a: &Attrs) -> Result<Value, String> {
    let mut x = act(v, "Scaler")?;
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
    x.chain.scale_shift(&scale, &add);
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
        Value::Index(_) | Value::Label(..) => Ok(v.clone()),
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
                    Some((&(0 | -1), rest)) => target = rest,
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
        _ => Err("`Transpose` is supported only on constant matrices".into()),
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
