//! Feature maps in an ONNX graph: the windows of `Conv`, `MaxPool` and
//! `AveragePool` read from their attributes, the layout of a transposed map,
//! and the constant shape arithmetic (`Shape`, `Gather`, `Slice`, `Concat`,
//! `Unsqueeze`, `Squeeze`) exporters write around a flatten.
//!
//! A value's *logical* shape is what the graph says (NCHW for PyTorch, NHWC
//! after Keras's transposes); the chain computes it in one fixed order (the
//! IR's channel-major maps). A [`Layout`] says where each logical element
//! sits in the chain's order, so a `Transpose` moves no data: it changes the
//! layout, and the next dense layer reads its inputs through it.

use zlmc_ir::{Shape, Window};

use super::proto::AttributeProto;
use super::tensor::{Const, Data};

/// What `Shape` gives for a batch dimension whose size the graph leaves open:
/// a `Reshape` may put it back as the batch, nothing else may use it.
pub const BATCH: i64 = i64::MIN;

/// For each logical element (row-major over the logical shape), its index
/// in the chain's order; `None` when the two are the same.
pub type Layout = Option<Vec<usize>>;

/// The layout after `Transpose` with `perm` of a value of logical `shape`
/// (batch excluded, `perm` over the dimensions after it) laid out as `layout`:
/// the new shape and layout.
pub fn transpose(shape: &[usize], layout: &Layout, perm: &[usize]) -> (Vec<usize>, Layout) {
    let new_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let n: usize = shape.iter().product();
    let strides = strides(shape);
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; new_shape.len()];
    for _ in 0..n {
        // The old flat index of the element at new coordinates `idx`.
        let old: usize = idx.iter().zip(perm).map(|(&i, &p)| i * strides[p]).sum();
        out.push(layout.as_ref().map_or(old, |l| l[old]));
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < new_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let identity = out.iter().enumerate().all(|(i, &v)| i == v);
    (new_shape, (!identity).then_some(out))
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// A logical-order vector put in the chain's order.
pub fn to_chain_order(v: Vec<f64>, layout: &Layout) -> Vec<f64> {
    match layout {
        None => v,
        Some(l) => {
            let mut out = vec![0.0; v.len()];
            for (i, x) in v.into_iter().enumerate() {
                out[l[i]] = x;
            }
            out
        }
    }
}

/// The map a value of logical `shape` (after the batch) is: `[C, L]` or `[C, H, W]`.
pub fn map_shape(shape: &[usize], op: &str) -> Result<Shape, String> {
    match *shape {
        [channels, width] => Ok(Shape {
            channels,
            height: 1,
            width,
        }),
        [channels, height, width] => Ok(Shape {
            channels,
            height,
            width,
        }),
        _ => Err(format!(
            "`{op}` needs a feature map [batch, C, L] or [batch, C, H, W]; this value has \
             shape {shape:?} after the batch"
        )),
    }
}

/// A map's logical shape: `[C, L]` for 1-D maps when `one_d`, else `[C, H, W]`.
pub fn logical(s: Shape, one_d: bool) -> Vec<usize> {
    if one_d {
        vec![s.channels, s.width]
    } else {
        vec![s.channels, s.height, s.width]
    }
}

/// Which padding an op asks for.
fn auto_pad(attrs: &[AttributeProto]) -> Result<&str, String> {
    let v = attrs
        .iter()
        .find(|a| a.name == "auto_pad")
        .map_or(&b"NOTSET"[..], |a| a.s.as_slice());
    match v {
        b"NOTSET" | b"" => Ok("NOTSET"),
        b"VALID" => Ok("VALID"),
        b"SAME_UPPER" => Ok("SAME_UPPER"),
        b"SAME_LOWER" => Ok("SAME_LOWER"),
        other => Err(format!(
            "auto_pad `{}` is not one ONNX defines",
            String::from_utf8_lossy(other)
        )),
    }
}

/// The integers of attribute `name`, when present.
fn ints<'a>(attrs: &'a [AttributeProto], name: &str) -> Option<&'a [i64]> {
    attrs
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.ints.as_slice())
}

/// The window of `op` over `input` from its attributes (`kernel` when the op
/// takes it from its weights): `kernel_shape`, `strides`, `pads` or
/// `auto_pad`, `dilations` (1 only) and, for pools, `ceil_mode` where it
/// changes nothing. `one_d` says the map is 1-D (one spatial axis).
pub fn window(
    op: &str,
    attrs: &[AttributeProto],
    input: Shape,
    one_d: bool,
    kernel: Option<&[usize]>,
) -> Result<Window, String> {
    let axes = if one_d { 1 } else { 2 };
    let usizes = |name: &str, v: &[i64], len: usize| -> Result<Vec<usize>, String> {
        if v.len() != len {
            return Err(format!(
                "`{op}` has {} {name} for {axes} spatial axes",
                v.len()
            ));
        }
        v.iter()
            .map(|&x| {
                usize::try_from(x)
                    .ok()
                    .filter(|&x| x <= zlmc_ir::verify::limits::MAX_VECTOR)
                    .ok_or_else(|| format!("`{op}` has {name} {v:?}, out of range"))
            })
            .collect()
    };
    let k = match (ints(attrs, "kernel_shape"), kernel) {
        (Some(k), _) => usizes("kernel_shape", k, axes)?,
        (None, Some(k)) => k.to_vec(),
        (None, None) => return Err(format!("`{op}` has no kernel_shape")),
    };
    if let Some(kernel) = kernel {
        if kernel != k.as_slice() {
            return Err(format!(
                "`{op}` kernel_shape {k:?} differs from its weights' {kernel:?}"
            ));
        }
    }
    let s = match ints(attrs, "strides") {
        Some(s) => usizes("strides", s, axes)?,
        None => vec![1; axes],
    };
    if let Some(d) = ints(attrs, "dilations") {
        if d.iter().any(|&d| d != 1) {
            return Err(format!(
                "`{op}` with dilations {d:?} is not supported: zlmc convolves and pools \
                 with dilation 1 only"
            ));
        }
    }
    let size: Vec<usize> = if one_d {
        vec![input.width]
    } else {
        vec![input.height, input.width]
    };
    // Padding before and after each spatial axis.
    let (before, after): (Vec<usize>, Vec<usize>) = match auto_pad(attrs)? {
        "NOTSET" => match ints(attrs, "pads") {
            Some(p) => {
                let p = usizes("pads", p, 2 * axes)?;
                (p[..axes].to_vec(), p[axes..].to_vec())
            }
            None => (vec![0; axes], vec![0; axes]),
        },
        "VALID" => (vec![0; axes], vec![0; axes]),
        same => (0..axes)
            .map(|a| {
                // SAME: ceil(in / stride) outputs; the odd pad goes after
                // (SAME_UPPER) or before (SAME_LOWER).
                let out = size[a].div_ceil(s[a].max(1));
                let total = ((out.max(1) - 1) * s[a] + k[a]).saturating_sub(size[a]);
                if same == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                }
            })
            .unzip(),
    };
    let w = if one_d {
        Window {
            kernel: [1, k[0]],
            stride: [1, s[0]],
            pads: [0, before[0], 0, after[0]],
        }
    } else {
        Window {
            kernel: [k[0], k[1]],
            stride: [s[0], s[1]],
            pads: [before[0], before[1], after[0], after[1]],
        }
    };
    w.output(input.height, input.width)
        .map_err(|m| format!("`{op}` window over a [{input}] map: {m}"))?;
    let ceil = attrs
        .iter()
        .find(|a| a.name == "ceil_mode")
        .is_some_and(|a| a.i != 0);
    if ceil {
        // ceil_mode rounds the output size up; fine where it divides evenly.
        let even = (0..axes).all(|a| {
            let span = size[a] + before[a] + after[a] - k[a];
            span.is_multiple_of(s[a])
        });
        if !even {
            return Err(format!(
                "`{op}` with ceil_mode=1 adds a partial window at the end, which zlmc \
                 does not compute; export with ceil_mode=False"
            ));
        }
    }
    Ok(w)
}

/// `Shape` of a value of logical `shape` (batch first when `batched`:
/// [`BATCH`] unless `batch_of_one`), with opset 15's `start`/`end`.
pub fn shape_of(
    shape: &[usize],
    batched: bool,
    batch_of_one: bool,
    start: i64,
    end: Option<i64>,
) -> Const {
    let mut dims: Vec<i64> = Vec::new();
    if batched {
        dims.push(if batch_of_one { 1 } else { BATCH });
    }
    dims.extend(shape.iter().map(|&d| d as i64));
    let r = dims.len() as i64;
    let clamp = |i: i64| (if i < 0 { i + r } else { i }).clamp(0, r) as usize;
    let (a, b) = (clamp(start), clamp(end.unwrap_or(r)));
    let v = if a < b { dims[a..b].to_vec() } else { vec![] };
    Const {
        dims: vec![v.len()],
        data: Data::Int(v),
    }
}

/// The integers of a constant (shape arithmetic), or an error naming `op`.
fn int_list(c: &Const, op: &str) -> Result<Vec<i64>, String> {
    c.ints()
        .map(<[i64]>::to_vec)
        .ok_or_else(|| format!("`{op}` is supported on integer constants (shapes) only"))
}

/// `Gather` along axis 0 of a 1-D integer constant (scalar indices give a scalar).
pub fn gather(data: &Const, indices: &Const, axis: i64) -> Result<Const, String> {
    let d = int_list(data, "Gather")?;
    if data.dims.len() != 1 || axis != 0 {
        return Err(
            "`Gather` is supported on 1-D constants (shapes) along axis 0 only".to_string(),
        );
    }
    let idx = int_list(indices, "Gather")?;
    let n = d.len() as i64;
    let picked = idx
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            (0..n)
                .contains(&j)
                .then(|| d[j as usize])
                .ok_or(format!("`Gather` index {i} is out of range for {n} values"))
        })
        .collect::<Result<Vec<i64>, String>>()?;
    Ok(Const {
        dims: indices.dims.clone(),
        data: Data::Int(picked),
    })
}

/// `Slice` of a 1-D integer constant.
pub fn slice(
    data: &Const,
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
) -> Result<Const, String> {
    let d = int_list(data, "Slice")?;
    let one = |v: &[i64], default: i64| -> Result<i64, String> {
        match v {
            [] => Ok(default),
            [x] => Ok(*x),
            _ => Err("`Slice` is supported on 1-D constants (shapes) only".to_string()),
        }
    };
    if data.dims.len() != 1 || !matches!(one(axes, 0)?, 0 | -1) {
        return Err("`Slice` is supported on 1-D constants (shapes) only".into());
    }
    let n = d.len() as i64;
    let step = one(steps, 1)?;
    if step != 1 {
        return Err("`Slice` with a step other than 1 is not supported".into());
    }
    let clamp = |i: i64| (if i < 0 { i.saturating_add(n) } else { i }).clamp(0, n) as usize;
    let (a, b) = (clamp(one(starts, 0)?), clamp(one(ends, n)?));
    let v = if a < b { d[a..b].to_vec() } else { vec![] };
    Ok(Const {
        dims: vec![v.len()],
        data: Data::Int(v),
    })
}

/// `Concat` of 1-D (or scalar) integer constants.
pub fn concat(parts: &[&Const]) -> Result<Const, String> {
    let mut v = Vec::new();
    for c in parts {
        if c.dims.len() > 1 {
            return Err("`Concat` of constants is supported for 1-D shapes only".into());
        }
        v.extend(int_list(c, "Concat")?);
    }
    Ok(Const {
        dims: vec![v.len()],
        data: Data::Int(v),
    })
}

/// `dims` with a 1 inserted at each of `axes` (`Unsqueeze`; negative axes
/// count from the end of the result).
pub fn unsqueeze(dims: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let r = (dims.len() + axes.len()) as i64;
    let mut at: Vec<usize> = axes
        .iter()
        .map(|&a| {
            let a = if a < 0 { a + r } else { a };
            usize::try_from(a)
                .ok()
                .filter(|&a| (a as i64) < r)
                .ok_or(format!("`Unsqueeze` axis {a} is out of range"))
        })
        .collect::<Result<_, _>>()?;
    at.sort_unstable();
    at.dedup();
    if at.len() != axes.len() {
        return Err("`Unsqueeze` names an axis twice".into());
    }
    let mut out = dims.to_vec();
    for a in at {
        out.insert(a, 1);
    }
    Ok(out)
}

/// `dims` without the axes `axes` (each of size 1), or without every 1 when
/// `axes` is empty (`Squeeze`).
pub fn squeeze(dims: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    if axes.is_empty() {
        return Ok(dims.iter().copied().filter(|&d| d != 1).collect());
    }
    let r = dims.len() as i64;
    let mut drop = vec![false; dims.len()];
    for &a in axes {
        let a = if a < 0 { a + r } else { a };
        if !(0..r).contains(&a) || dims[a as usize] != 1 {
            return Err(format!(
                "`Squeeze` axis {a} is not a dimension of size 1 in {dims:?}"
            ));
        }
        drop[a as usize] = true;
    }
    Ok(dims
        .iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(&d, _)| d)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhwc_to_nchw_and_back_is_the_identity_layout() {
        let (s, l) = transpose(&[2, 3, 4], &None, &[2, 0, 1]);
        assert_eq!(s, [4, 2, 3]);
        assert!(l.is_some());
        let (s, l) = transpose(&s, &l, &[1, 2, 0]);
        assert_eq!(s, [2, 3, 4]);
        assert_eq!(l, None);
    }

    #[test]
    fn a_channels_last_flatten_reads_channel_major_values_through_the_layout() {
        // A [C=2, H=1, W=3] map, transposed to HWC: logical element (w, c)
        // sits at c·3 + w in the chain.
        let (s, l) = transpose(&[2, 1, 3], &None, &[1, 2, 0]);
        assert_eq!(s, [1, 3, 2]);
        assert_eq!(l, Some(vec![0, 3, 1, 4, 2, 5]));
        let v = to_chain_order(vec![10.0, 11.0, 20.0, 21.0, 30.0, 31.0], &l);
        assert_eq!(v, [10.0, 20.0, 30.0, 11.0, 21.0, 31.0]);
    }

    #[test]
    fn same_upper_puts_the_odd_pad_after() {
        let attrs = [
            AttributeProto {
                name: "auto_pad".into(),
                s: b"SAME_UPPER".to_vec(),
                ..Default::default()
            },
            AttributeProto {
                name: "strides".into(),
                ints: vec![2, 2],
                ..Default::default()
            },
        ];
        let input = Shape {
            channels: 1,
            height: 8,
            width: 8,
        };
        let w = window("Conv", &attrs, input, false, Some(&[3, 3])).unwrap();
        assert_eq!(w.pads, [0, 0, 1, 1]);
        assert_eq!(w.output(8, 8).unwrap(), (4, 4));
    }

    #[test]
    fn dilation_is_refused_by_name() {
        let attrs = [AttributeProto {
            name: "dilations".into(),
            ints: vec![2],
            ..Default::default()
        }];
        let input = Shape {
            channels: 1,
            height: 1,
            width: 16,
        };
        let e = window("Conv", &attrs, input, true, Some(&[3])).unwrap_err();
        assert!(e.contains("dilation 1 only"), "{e}");
    }

    #[test]
    fn shape_plumbing_folds_to_the_batch_and_a_length() {
        let s = shape_of(&[4, 4, 4], true, false, 0, None);
        let idx = Const {
            dims: vec![4],
            data: Data::Int(vec![0, 2, 3, 1]),
        };
        let g = gather(&s, &idx, 0).unwrap();
        let b = slice(&g, &[0], &[1], &[0], &[]).unwrap();
        let n = Const {
            dims: vec![1],
            data: Data::Int(vec![64]),
        };
        let c = concat(&[&b, &n]).unwrap();
        assert_eq!(c.ints(), Some(&[BATCH, 64][..]));
    }
}
