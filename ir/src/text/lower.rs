//! From the syntax tree to a [`Model`]: resolves names, checks every value
//! against the IR's rules and infers types, reporting errors where they were written.

use std::collections::HashMap;

use super::ast::*;
use super::lexer::Located;
use crate::graph::{Graph, NodeId};
use crate::model::{Decode, Encoder, Model};
use crate::op::{Activation, Op, Window};
use crate::tensor::{DenseWeights, SparseWeights, Weights};
use crate::types::{Shape, Type, WeightKind};
use crate::verify;

/// A model built from its text and, per node index, where and under which name it was defined,
/// so verifier errors can be reported at the definition.
pub struct TextModel {
    /// The model, not yet verified.
    pub model: Model,
    /// Offset and name of the definition of node `i`.
    pub defs: Vec<(usize, String)>,
}

/// Build the model `file` describes.
pub fn lower(file: FileAst<'_>, src: &str) -> Result<TextModel, Located> {
    let name = utf8(file.name, "model name")?;
    let mut encoders = Vec::with_capacity(file.encoders.len());
    let mut total: usize = 0;
    for sec in &file.encoders {
        let e = encoder(sec)?;
        // Model::input_len sums these without overflow checks.
        total = total
            .checked_add(e.len())
            .ok_or_else(|| Located::new(sec.kind.at, "the encoders' total length overflows"))?;
        encoders.push(e);
    }
    let decode = decoder(&file.decode)?;

    let mut graph = Graph::new();
    let mut defs: Vec<(usize, String)> = Vec::with_capacity(file.nodes.len());
    let mut names: HashMap<&str, (NodeId, usize)> = HashMap::new();
    for node in file.nodes {
        if let Some(&(_, first)) = names.get(node.name.v) {
            let (line, col) = super::line_col(src, first);
            return Err(Located::new(
                node.name.at,
                format!("{} is already defined at {line}:{col}", node.name.v),
            ));
        }
        let resolve = |x: &Operand<'_>| -> Result<NodeId, Located> {
            names
                .get(x.v)
                .map(|&(id, _)| id)
                .ok_or_else(|| Located::new(x.at, format!("undefined {}", x.v)))
        };
        let annotated = ty(&node.ty)?;
        let (op, operands) = match node.op {
            OpAst::Input => match annotated {
                Type::Vec { len, .. } => (Op::Input { len }, vec![]),
                Type::Map { .. } | Type::Index => {
                    return Err(Located::new(
                        node.ty.at,
                        "input must be typed i16[N] (reshape it to a map)",
                    ));
                }
            },
            OpAst::MatMul { x, weights, acc } => (
                Op::MatMul {
                    weights: lower_weights(weights)?,
                    acc,
                },
                vec![resolve(&x)?],
            ),
            OpAst::Bias { x, values } => (
                Op::Bias {
                    values: ints(&values)?,
                },
                vec![resolve(&x)?],
            ),
            OpAst::Shift { x, amount } => (
                Op::Shift {
                    amount: int(&amount, "shift amount")?,
                },
                vec![resolve(&x)?],
            ),
            OpAst::Activate { x, act } => (Op::Activate(activation(&act)?), vec![resolve(&x)?]),
            OpAst::Named { kind, rest } if WINDOW_OPS.contains(&kind.v) => {
                let Some((x, args)) = rest else {
                    return Err(Located::new(
                        kind.at + kind.v.len(),
                        format!("{} needs an operand", kind.v),
                    ));
                };
                (window_op(&kind, &args)?, vec![resolve(&x)?])
            }
            OpAst::Shaped { kind, x, dims } if kind.v == "reshape" => {
                let shape = map_shape(&dims, kind.at)?;
                (Op::Reshape { shape }, vec![resolve(&x)?])
            }
            OpAst::Weighted {
                kind,
                x,
                args,
                weights,
                acc,
            } if kind.v == "conv" => {
                let parts = named_args(&kind, &args, &["kernel", "stride", "pad", "groups"])?;
                let window = window(&parts[..3])?;
                (
                    Op::Conv {
                        window,
                        groups: int(&arg_int(parts[3], "groups")?, "groups")?,
                        weights: lower_weights(weights)?,
                        acc,
                    },
                    vec![resolve(&x)?],
                )
            }
            OpAst::Shaped { kind, .. } | OpAst::Weighted { kind, .. } => {
                known_activation(&kind)?;
                return Err(Located::new(
                    kind.at,
                    format!("{} does not take that form of arguments", kind.v),
                ));
            }
            OpAst::Named { kind, rest } => {
                known_activation(&kind)?;
                let Some((x, args)) = rest else {
                    return Err(Located::new(
                        kind.at + kind.v.len(),
                        format!("{} needs an operand", kind.v),
                    ));
                };
                let act = ActAst::Named { kind, args };
                (Op::Activate(activation(&act)?), vec![resolve(&x)?])
            }
            OpAst::Epilogue {
                x,
                bias,
                shift,
                act,
            } => (
                Op::Epilogue {
                    bias: ints(&bias)?,
                    shift: int(&shift, "shift amount")?,
                    activation: act.as_ref().map(activation).transpose()?,
                },
                vec![resolve(&x)?],
            ),
            OpAst::Argmax { x } => (Op::Argmax, vec![resolve(&x)?]),
        };
        let args: Vec<Type> = operands.iter().map(|&o| graph.node(o).ty).collect();
        let inferred = verify::infer(&op, &args).map_err(|m| Located::new(node.name.at, m))?;
        if inferred != annotated {
            return Err(Located::new(
                node.ty.at,
                format!(
                    "{} is annotated {annotated}, but {} yields {inferred}",
                    node.name.v,
                    op.mnemonic()
                ),
            ));
        }
        let id = graph.add(op, annotated, &operands);
        names.insert(node.name.v, (id, node.name.at));
        defs.push((node.name.at, node.name.v.to_string()));
    }
    Ok(TextModel {
        model: Model {
            name,
            encoders,
            decode,
            graph,
        },
        defs,
    })
}

fn encoder(sec: &Section<'_>) -> Result<Encoder, Located> {
    match sec.kind.v {
        "query_trigram" => {
            let [b, v] = fields(sec, ["buckets", "value"])?;
            Ok(Encoder::QueryTrigram {
                buckets: field_int(b, "buckets")?,
                value: field_int(v, "value")?,
            })
        }
        "context_ngram" => {
            let [b, l, v] = fields(sec, ["buckets", "length", "value"])?;
            Ok(Encoder::ContextNgram {
                buckets: field_int(b, "buckets")?,
                length: field_int(l, "length")?,
                value: field_int(v, "value")?,
            })
        }
        "raw" => raw_encoder(sec),
        other => Err(Located::new(
            sec.kind.at,
            format!("unknown encoder `{other}`: expected query_trigram, context_ngram or raw"),
        )),
    }
}

/// `raw(length)`, `raw(length, scale, zero_point)` or with `min, max` too.
fn raw_encoder(sec: &Section<'_>) -> Result<Encoder, Located> {
    // Without `scale` second, the plain form's errors (unexpected field) apply.
    if sec.fields.get(1).is_none_or(|f| f.name.v != "scale") {
        let [l] = fields(sec, ["length"])?;
        return Ok(Encoder::Raw {
            len: field_int(l, "length")?,
            quant: None,
        });
    }
    let (len, scale, zero_point, range) = if sec.fields.len() <= 3 {
        let [l, s, z] = fields(sec, ["length", "scale", "zero_point"])?;
        (l, s, z, None)
    } else {
        let [l, s, z, lo, hi] = fields(sec, ["length", "scale", "zero_point", "min", "max"])?;
        (
            l,
            s,
            z,
            Some((field_float(lo, "min")?, field_float(hi, "max")?)),
        )
    };
    let scale_v = field_float(scale, "scale")?;
    if scale_v <= 0.0 {
        return Err(Located::new(scale.at, "scale must be positive"));
    }
    Ok(Encoder::Raw {
        len: field_int(len, "length")?,
        quant: Some(crate::model::InputQuant {
            scale: scale_v,
            zero_point: field_int(zero_point, "zero_point")?,
            range,
        }),
    })
}

/// A finite number: a float literal or an integer.
fn field_float(v: &Spanned<Value>, what: &str) -> Result<f64, Located> {
    let x = match &v.v {
        Value::Int(n) => *n as f64,
        Value::Float(s) => s
            .parse::<f64>()
            .map_err(|_| Located::new(v.at, format!("{what} {s} is not a number")))?,
        _ => return Err(Located::new(v.at, format!("{what} must be a number"))),
    };
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Located::new(v.at, format!("{what} must be finite")))
    }
}

fn decoder(sec: &Section<'_>) -> Result<Decode, Located> {
    match sec.kind.v {
        "generate" => {
            let [c, e, m] = fields(sec, ["charset", "eos", "max_length"])?;
            let charset = match &c.v {
                Value::Str(s) => s.clone(),
                _ => return Err(Located::new(c.at, "charset must be a string")),
            };
            Ok(Decode::Generate {
                charset,
                eos: field_int(e, "eos")?,
                max_length: field_int(m, "max_length")?,
            })
        }
        "classify" => {
            let [l] = fields(sec, ["labels"])?;
            let labels = match &l.v {
                Value::List(items) => items
                    .iter()
                    .map(|s| utf8(s.clone(), "label"))
                    .collect::<Result<_, _>>()?,
                _ => return Err(Located::new(l.at, "labels must be a list of strings")),
            };
            Ok(Decode::Classify { labels })
        }
        "values" => {
            let [c, s, z] = fields(sec, ["count", "scale", "zero_point"])?;
            let scale = field_float(s, "scale")?;
            if scale <= 0.0 {
                return Err(Located::new(s.at, "scale must be positive"));
            }
            Ok(Decode::Values {
                count: field_int(c, "count")?,
                quant: crate::model::OutputQuant {
                    scale,
                    zero_point: field_int(z, "zero_point")?,
                },
            })
        }
        other => Err(Located::new(
            sec.kind.at,
            format!("unknown decoder `{other}`: expected generate, classify or values"),
        )),
    }
}

/// The values of `sec`'s fields, which must be exactly `names`, in that order.
fn fields<'s, const N: usize>(
    sec: &'s Section<'_>,
    names: [&str; N],
) -> Result<[&'s Spanned<Value>; N], Located> {
    let kind = sec.kind.v;
    if let Some(extra) = sec.fields.get(N) {
        return Err(Located::new(
            extra.name.at,
            format!("unexpected field `{}` in {kind}", extra.name.v),
        ));
    }
    let mut out = Vec::with_capacity(N);
    for (i, want) in names.into_iter().enumerate() {
        match sec.fields.get(i) {
            None => {
                return Err(Located::new(
                    sec.close,
                    format!("missing field `{want}` in {kind}"),
                ))
            }
            Some(f) if f.name.v != want => {
                return Err(Located::new(
                    f.name.at,
                    format!("expected field `{want}` in {kind}, found `{}`", f.name.v),
                ))
            }
            Some(f) => out.push(&f.value),
        }
    }
    Ok(out
        .try_into()
        .unwrap_or_else(|_| unreachable!("N fields pushed")))
}

fn field_int<T: TryFrom<i128>>(v: &Spanned<Value>, what: &str) -> Result<T, Located> {
    match v.v {
        Value::Int(n) => int(&Spanned { at: v.at, v: n }, what),
        _ => Err(Located::new(v.at, format!("{what} must be an integer"))),
    }
}

/// `n` converted to the IR's field type, or an error naming the field.
fn int<T: TryFrom<i128>>(n: &Num, what: &str) -> Result<T, Located> {
    T::try_from(n.v).map_err(|_| {
        Located::new(
            n.at,
            format!("{what} {} is out of range for {}", n.v, short_type::<T>()),
        )
    })
}

fn short_type<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

fn ints(values: &[Num]) -> Result<Vec<i64>, Located> {
    values.iter().map(|n| int(n, "bias value")).collect()
}

fn utf8(s: Spanned<Vec<u8>>, what: &str) -> Result<String, Located> {
    String::from_utf8(s.v).map_err(|_| Located::new(s.at, format!("{what} is not valid UTF-8")))
}

fn ty(t: &Spanned<TypeAst>) -> Result<Type, Located> {
    Ok(match &t.v {
        TypeAst::Vec(elem, dims) if dims.len() == 1 => Type::Vec {
            elem: *elem,
            len: int(&dims[0], "length")?,
        },
        TypeAst::Vec(elem, dims) => Type::Map {
            elem: *elem,
            shape: map_shape(dims, t.at)?,
        },
        TypeAst::Index => Type::Index,
    })
}

/// A map's shape from `[C, L]` or `[C, H, W]`.
fn map_shape(dims: &[Num], at: usize) -> Result<Shape, Located> {
    let d = |i: usize| int::<usize>(&dims[i], "dimension");
    match dims.len() {
        2 => Ok(Shape {
            channels: d(0)?,
            height: 1,
            width: d(1)?,
        }),
        3 => Ok(Shape {
            channels: d(0)?,
            height: d(1)?,
            width: d(2)?,
        }),
        n => Err(Located::new(
            at,
            format!("a shape has 1 (vector), 2 (C, L) or 3 (C, H, W) dimensions, not {n}"),
        )),
    }
}

/// The ops whose arguments are a window (and, for avgpool, its scaling).
const WINDOW_OPS: [&str; 3] = ["flatten", "maxpool", "avgpool"];

/// `flatten`, `maxpool` or `avgpool` with its named arguments.
fn window_op(kind: &Spanned<&str>, args: &[ArgAst<'_>]) -> Result<Op, Located> {
    Ok(match kind.v {
        "flatten" => {
            named_args(kind, args, &[])?;
            Op::Flatten
        }
        "maxpool" => Op::MaxPool {
            window: window(&named_args(kind, args, &["kernel", "stride", "pad"])?)?,
        },
        _ => {
            let a = named_args(kind, args, &["kernel", "stride", "pad", "mul", "shift"])?;
            Op::AvgPool {
                window: window(&a[..3])?,
                mul: int(&arg_int(a[3], "mul")?, "avgpool mul")?,
                shift: int(&arg_int(a[4], "shift")?, "avgpool shift")?,
            }
        }
    })
}

/// A window from its `kernel`, `stride` and `pad` lists: `[k], [s], [l, r]`
/// (1-D) or `[kh, kw], [sh, sw], [t, l, b, r]`.
fn window(a: &[&Spanned<ArgValue>]) -> Result<Window, Located> {
    let list = |i: usize, what: &str| -> Result<Vec<usize>, Located> {
        match &a[i].v {
            ArgValue::List(l) => l.iter().map(|n| int(n, what)).collect(),
            ArgValue::Int(_) => Err(Located::new(a[i].at, format!("`{what}` must be a list"))),
        }
    };
    let (kernel, stride, pads) = (list(0, "kernel")?, list(1, "stride")?, list(2, "pad")?);
    match (kernel.as_slice(), stride.as_slice(), pads.as_slice()) {
        ([k], [s], [l, r]) => Ok(Window {
            kernel: [1, *k],
            stride: [1, *s],
            pads: [0, *l, 0, *r],
        }),
        ([kh, kw], [sh, sw], [t, l, b, r]) => Ok(Window {
            kernel: [*kh, *kw],
            stride: [*sh, *sw],
            pads: [*t, *l, *b, *r],
        }),
        _ => Err(Located::new(
            a[0].at,
            "a window is `kernel [k], stride [s], pad [l, r]` (1-D) or \
             `kernel [kh, kw], stride [sh, sw], pad [t, l, b, r]` (2-D)",
        )),
    }
}

/// An integer argument's value.
fn arg_int(v: &Spanned<ArgValue>, what: &str) -> Result<Num, Located> {
    match v.v {
        ArgValue::Int(n) => Ok(Spanned { at: v.at, v: n }),
        ArgValue::List(_) => Err(Located::new(v.at, format!("`{what}` must be an integer"))),
    }
}

/// The values of `args`, which must be named exactly `want`, in order.
fn named_args<'x>(
    kind: &Spanned<&str>,
    args: &'x [ArgAst<'_>],
    want: &[&str],
) -> Result<Vec<&'x Spanned<ArgValue>>, Located> {
    let end = args.last().map_or(kind.at, |a| a.value.at);
    if let Some(extra) = args.get(want.len()) {
        return Err(Located::new(
            extra.name.at,
            format!("unexpected argument `{}` in {}", extra.name.v, kind.v),
        ));
    }
    for (i, w) in want.iter().enumerate() {
        match args.get(i) {
            Some(a) if a.name.v == *w => {}
            Some(a) => {
                return Err(Located::new(
                    a.name.at,
                    format!(
                        "expected argument `{w}` of {}, found `{}`",
                        kind.v, a.name.v
                    ),
                ))
            }
            None => {
                return Err(Located::new(
                    end,
                    format!("{} is missing its `{w}` argument", kind.v),
                ))
            }
        }
    }
    Ok(args.iter().map(|a| &a.value).collect())
}

fn lower_weights(w: WeightsAst<'_>) -> Result<Weights, Located> {
    let kind = WeightKind::from_name(w.kind.v).ok_or_else(|| {
        let names: Vec<&str> = WeightKind::ALL.iter().map(|k| k.name()).collect();
        Located::new(
            w.kind.at,
            format!(
                "unknown weight kind `{}`: expected one of {}",
                w.kind.v,
                names.join(", ")
            ),
        )
    })?;
    let rows: usize = int(&w.rows, "row count")?;
    let cols: usize = int(&w.cols, "column count")?;
    let have = match &w.body {
        Rows::Dense(r) => r.len(),
        Rows::Sparse(r) => r.len(),
    };
    if have != rows {
        return Err(Located::new(
            w.open,
            format!("the matrix has {have} rows, its shape says {rows}"),
        ));
    }
    let weight = |n: &Num, nonzero: bool| -> Result<i8, Located> {
        let ok = kind.allows_i128(n.v) && !(nonzero && n.v == 0);
        if ok {
            Ok(n.v as i8)
        } else {
            let what = if nonzero { "a non-zero" } else { "an" };
            Err(Located::new(
                n.at,
                format!("weight {} is not {what} {kind} value", n.v),
            ))
        }
    };
    Ok(match w.body {
        Rows::Dense(body) => {
            // Bounded by the source size: every value was written out.
            let mut data = Vec::with_capacity(body.iter().map(|r| r.v.len()).sum());
            for (r, row) in body.iter().enumerate() {
                if row.v.len() != cols {
                    return Err(Located::new(
                        row.at,
                        format!("row {r} has {} values, the shape says {cols}", row.v.len()),
                    ));
                }
                for n in &row.v {
                    data.push(weight(n, false)?);
                }
            }
            Weights::Dense(DenseWeights {
                kind,
                rows,
                cols,
                data,
            })
        }
        Rows::Sparse(body) => {
            let mut out = Vec::with_capacity(body.len());
            for row in body {
                let mut entries = Vec::with_capacity(row.v.len());
                let mut prev: Option<u32> = None;
                for (c, v) in &row.v {
                    let col: u32 = int(c, "column")?;
                    if col as usize >= cols {
                        return Err(Located::new(
                            c.at,
                            format!("column {col} is out of range for {cols} columns"),
                        ));
                    }
                    if prev.is_some_and(|p| p >= col) {
                        return Err(Located::new(
                            c.at,
                            format!("column {col} does not ascend; columns must be increasing"),
                        ));
                    }
                    prev = Some(col);
                    entries.push((col, weight(v, true)?));
                }
                out.push(entries);
            }
            Weights::Sparse(SparseWeights {
                kind,
                cols,
                rows: out,
            })
        }
    })
}

trait AllowsWide {
    fn allows_i128(self, v: i128) -> bool;
}

impl AllowsWide for WeightKind {
    fn allows_i128(self, v: i128) -> bool {
        i64::try_from(v).is_ok_and(|v| self.allows(v))
    }
}

/// The arguments activation `kind` takes, or an error naming every op.
fn known_activation(kind: &Spanned<&str>) -> Result<&'static [&'static str], Located> {
    match kind.v {
        "clamp" => Ok(&["lo", "hi"]),
        "leaky_relu" => Ok(&["mul", "shift"]),
        "lut" => Ok(&["lo", "table"]),
        other => Err(Located::new(
            kind.at,
            format!(
                "unknown operation `{other}`, expected one of input, matmul, bias, shift, \
                 relu, clamp, leaky_relu, lut, epilogue, argmax, reshape, flatten, conv, \
                 maxpool, avgpool"
            ),
        )),
    }
}

/// An activation as written, its arguments named exactly and in range.
fn activation(act: &ActAst<'_>) -> Result<Activation, Located> {
    let ActAst::Named { kind, args } = act else {
        return Ok(Activation::Relu);
    };
    let want = known_activation(kind)?;
    named_args(kind, args, want)?;
    let num = |i: usize| -> Result<Num, Located> {
        match &args[i].value.v {
            ArgValue::Int(n) => Ok(Spanned {
                at: args[i].value.at,
                v: *n,
            }),
            ArgValue::List(_) => Err(Located::new(
                args[i].value.at,
                format!("`{}` must be an integer", want[i]),
            )),
        }
    };
    Ok(match kind.v {
        "clamp" => Activation::Clamp {
            lo: int(&num(0)?, "clamp bound")?,
            hi: int(&num(1)?, "clamp bound")?,
        },
        "leaky_relu" => Activation::LeakyRelu {
            mul: int(&num(0)?, "leaky_relu mul")?,
            shift: int(&num(1)?, "leaky_relu shift")?,
        },
        _ => {
            let ArgValue::List(table) = &args[1].value.v else {
                return Err(Located::new(args[1].value.at, "`table` must be a list"));
            };
            Activation::Lut {
                lo: int(&num(0)?, "lut lo")?,
                table: table
                    .iter()
                    .map(|n| int(n, "lut entry"))
                    .collect::<Result<_, _>>()?,
            }
        }
    })
}
