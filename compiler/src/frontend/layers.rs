//! The shapes a spec's layers take and give: which layers read feature maps,
//! their windows, and what each layer's tensors must hold. Shared by integer
//! specs (`load_spec`) and float specs (`zlmc quantize`, `zlmc eval`).

use zlmc_ir::{Shape, Window};

use super::spec::{ConvSpec, LayerSpec, Sizes};

/// What a layer computes, with every shape resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// `units` sums over `inputs` values (a map before it is flattened).
    Dense {
        /// Flat input length.
        inputs: usize,
        /// Outputs.
        units: usize,
    },
    /// A convolution of `filters` output channels.
    Conv {
        /// Input map.
        input: Shape,
        /// Kernel, stride, padding.
        window: Window,
        /// Channel groups.
        groups: usize,
        /// Output channels.
        filters: usize,
    },
    /// Max pooling.
    MaxPool {
        /// Input map.
        input: Shape,
        /// Window.
        window: Window,
    },
    /// Average pooling (global when the window is the whole map).
    AvgPool {
        /// Input map.
        input: Shape,
        /// Window.
        window: Window,
    },
}

impl Geometry {
    /// The output map, for convolutions and pools.
    pub fn output_shape(&self) -> Option<Shape> {
        let (input, window, channels) = match *self {
            Geometry::Dense { .. } => return None,
            Geometry::Conv {
                input,
                window,
                filters,
                ..
            } => (input, window, filters),
            Geometry::MaxPool { input, window } | Geometry::AvgPool { input, window } => {
                (input, window, input.channels)
            }
        };
        window.map_over(input, channels).ok()
    }

    /// Flat output length.
    pub fn outputs(&self) -> usize {
        match self {
            Geometry::Dense { units, .. } => *units,
            _ => self.output_shape().map_or(0, Shape::len),
        }
    }

    /// Flat input length.
    pub fn inputs(&self) -> usize {
        match *self {
            Geometry::Dense { inputs, .. } => inputs,
            Geometry::Conv { input, .. }
            | Geometry::MaxPool { input, .. }
            | Geometry::AvgPool { input, .. } => input.len(),
        }
    }

    /// The weight matrix `[rows, cols]` (IR order), for dense and convolution layers.
    pub fn weight_matrix(&self) -> Option<(usize, usize)> {
        match *self {
            Geometry::Dense { inputs, units } => Some((units, inputs)),
            Geometry::Conv {
                input,
                window,
                groups,
                filters,
            } => Some((
                filters,
                input.channels / groups * window.kernel[0] * window.kernel[1],
            )),
            _ => None,
        }
    }

    /// The weight tensor shapes a spec accepts: `[rows, cols]`, and for a
    /// convolution also PyTorch's `[filters, C/groups, kh, kw]` (`[filters, C/groups, k]` in 1-D).
    pub fn weight_shapes(&self) -> Vec<Vec<usize>> {
        let Some((rows, cols)) = self.weight_matrix() else {
            return Vec::new();
        };
        let mut shapes = vec![vec![rows, cols]];
        if let Geometry::Conv {
            input,
            window,
            groups,
            filters,
        } = *self
        {
            let per = input.channels / groups;
            shapes.insert(
                0,
                if input.is_1d() {
                    vec![filters, per, window.kernel[1]]
                } else {
                    vec![filters, per, window.kernel[0], window.kernel[1]]
                },
            );
        }
        shapes
    }

    /// Bias length (per output channel for a convolution), for weighted layers.
    pub fn bias_len(&self) -> Option<usize> {
        self.weight_matrix().map(|(rows, _)| rows)
    }
}

/// A layer the spec computes (a `flatten` computes nothing and has none).
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    /// Position in the spec's `layers`.
    pub index: usize,
    /// The spec entry.
    pub spec: &'a LayerSpec,
    /// Its shapes.
    pub geometry: Geometry,
}

/// A layer that does not fit: its position, the key to point at, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// Position in the spec's `layers`.
    pub index: usize,
    /// The key under the layer that is wrong (`None`: the layer itself).
    pub key: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

/// What flows between layers.
#[derive(Debug, Clone, Copy)]
enum Value {
    Vector(usize),
    /// A map, and whether it is 2-D (a 2-D map may have height 1).
    Map(Shape, bool),
}

impl Value {
    fn len(self) -> usize {
        match self {
            Value::Vector(n) => n,
            Value::Map(s, _) => s.len(),
        }
    }
}

/// Resolve every layer's shapes over an input of `inputs` values.
pub fn plan(layers: &[LayerSpec], inputs: usize) -> Result<Vec<Planned<'_>>, PlanError> {
    let mut value = Value::Vector(inputs);
    let mut out = Vec::new();
    for (index, l) in layers.iter().enumerate() {
        let fail = |key: Option<&'static str>, message: String| PlanError {
            index,
            key,
            message,
        };
        let kind = l.kind_key().map_err(|m| fail(None, m))?;
        if l.has_weights() && l.name.is_empty() {
            return Err(fail(
                None,
                format!(
                    "a `{kind}` layer needs a `name` (its tensors are NAME_weight and NAME_bias)"
                ),
            ));
        }
        if !l.has_weights() {
            let stray = [
                ("shift", l.shift != 0),
                ("accumulator", l.accumulator.is_some()),
                ("weight", l.weight.is_some()),
                ("bias", l.bias.is_some()),
            ]
            .into_iter()
            .find(|(_, set)| *set);
            if let Some((key, _)) = stray {
                return Err(fail(
                    Some(key),
                    format!(
                        "a `{kind}` layer has no weights, bias or shift: `{key}` does not apply"
                    ),
                ));
            }
        }
        let max = zlmc_ir::verify::limits::MAX_VECTOR;
        // Whether the layer's maps are 2-D.
        let mut dims = false;
        let geometry = match kind {
            "flatten" => {
                if l.activation != super::spec::Activation::None {
                    return Err(fail(
                        Some("activation"),
                        "`flatten` moves no data and takes no activation".into(),
                    ));
                }
                value = Value::Vector(value.len());
                continue;
            }
            "units" => {
                let units = l.units.expect("kind_key saw units");
                if units == 0 || units > max {
                    return Err(fail(
                        Some("units"),
                        format!("layer {} has {units} units: must be 1..={max}", l.name),
                    ));
                }
                Geometry::Dense {
                    inputs: value.len(),
                    units,
                }
            }
            "conv1d" | "conv2d" => {
                let c = l.conv1d.as_ref().or(l.conv2d.as_ref()).expect("kind_key");
                let two_d = kind == "conv2d";
                let (input, _) = map_input(value, c.input.as_deref(), Some(two_d))
                    .map_err(|m| fail(Some(kind), m))?;
                dims = two_d;
                conv(c, input, two_d).map_err(|m| fail(Some(kind), m))?
            }
            "maxpool" | "avgpool" => {
                let p = l.maxpool.as_ref().or(l.avgpool.as_ref()).expect("kind_key");
                let (input, two_d) =
                    map_input(value, p.input.as_deref(), None).map_err(|m| fail(Some(kind), m))?;
                dims = two_d;
                let stride = p.stride.as_ref().unwrap_or(&p.kernel);
                let window = window(input, two_d, &p.kernel, Some(stride), p.padding.as_ref())
                    .map_err(|m| fail(Some(kind), m))?;
                if kind == "maxpool" {
                    Geometry::MaxPool { input, window }
                } else {
                    Geometry::AvgPool { input, window }
                }
            }
            "global_avgpool" => {
                let g = l.global_avgpool.as_ref().expect("kind_key");
                let (input, two_d) =
                    map_input(value, g.input.as_deref(), None).map_err(|m| fail(Some(kind), m))?;
                dims = two_d;
                let k = [input.height, input.width];
                Geometry::AvgPool {
                    input,
                    window: Window {
                        kernel: k,
                        stride: k,
                        pads: [0; 4],
                    },
                }
            }
            _ => unreachable!("kind_key gives known keys"),
        };
        if let Some(s) = geometry.output_shape() {
            if s.len() > max {
                return Err(fail(
                    Some(kind),
                    format!(
                        "the output map [{s}] has {} values, more than {max}",
                        s.len()
                    ),
                ));
            }
            value = Value::Map(s, dims);
        } else {
            value = Value::Vector(geometry.outputs());
        }
        out.push(Planned {
            index,
            spec: l,
            geometry,
        });
    }
    Ok(out)
}

/// The map a layer reads and whether it is 2-D: the `input` it declares (a
/// reshape of what comes in, same length; 2-D with three sizes) or the map
/// that comes in. `two_d`: a convolution's dimensionality, which the map must have.
fn map_input(
    value: Value,
    declared: Option<&[usize]>,
    two_d: Option<bool>,
) -> Result<(Shape, bool), String> {
    let shape = match (declared, value) {
        (Some(d), _) => {
            let s = match *d {
                [channels, width] => Shape {
                    channels,
                    height: 1,
                    width,
                },
                [channels, height, width] => Shape {
                    channels,
                    height,
                    width,
                },
                _ => {
                    return Err(format!(
                        "`input` is [channels, length] or [channels, height, width], not {d:?}"
                    ))
                }
            };
            if d.contains(&0) {
                return Err(format!("`input` {d:?} has an empty axis"));
            }
            let max = zlmc_ir::verify::limits::MAX_VECTOR;
            let len = d.iter().try_fold(1usize, |a, &v| a.checked_mul(v));
            if len.is_none_or(|n| n > max) {
                return Err(format!("`input` {d:?} holds more than {max} values"));
            }
            if s.len() != value.len() {
                return Err(format!(
                    "`input` {d:?} holds {} values, but {} come in",
                    s.len(),
                    value.len()
                ));
            }
            if let Some(two_d) = two_d {
                if (d.len() == 3) != two_d {
                    return Err(format!(
                        "a {} convolution's `input` is {}",
                        if two_d { "2-D" } else { "1-D" },
                        if two_d {
                            "[channels, height, width]"
                        } else {
                            "[channels, length]"
                        }
                    ));
                }
            }
            (s, d.len() == 3)
        }
        (None, Value::Map(s, is_2d)) => {
            if let Some(two_d) = two_d {
                if two_d != is_2d {
                    return Err(format!(
                        "the map [{s}] is {}: this takes a `conv{}`",
                        if is_2d { "2-D" } else { "1-D" },
                        if is_2d { "2d" } else { "1d" }
                    ));
                }
            }
            (s, is_2d)
        }
        (None, Value::Vector(n)) => {
            return Err(format!(
                "a vector of {n} values comes in: say which map it is with `input: [C, L]` or `input: [C, H, W]`"
            ))
        }
    };
    Ok(shape)
}

/// A convolution's geometry over `input`.
fn conv(c: &ConvSpec, input: Shape, two_d: bool) -> Result<Geometry, String> {
    if c.filters == 0 || c.groups == 0 {
        return Err("`filters` and `groups` must be at least 1".into());
    }
    let max = zlmc_ir::verify::limits::MAX_VECTOR;
    if c.filters > max {
        return Err(format!("{} filters: more than {max}", c.filters));
    }
    if !input.channels.is_multiple_of(c.groups) || !c.filters.is_multiple_of(c.groups) {
        return Err(format!(
            "{} input and {} output channels do not split into {} groups",
            input.channels, c.filters, c.groups
        ));
    }
    let stride = c.stride.clone().unwrap_or(Sizes::One(1));
    let window = window(input, two_d, &c.kernel, Some(&stride), c.padding.as_ref())?;
    Ok(Geometry::Conv {
        input,
        window,
        groups: c.groups,
        filters: c.filters,
    })
}

/// A window over `input` from the spec's sizes: on a 1-D map one kernel and
/// stride, padding `p` or `[left, right]`; on a 2-D map `k` or `[kh, kw]`,
/// padding `p`, `[ph, pw]` or `[top, left, bottom, right]`.
fn window(
    input: Shape,
    two_d: bool,
    kernel: &Sizes,
    stride: Option<&Sizes>,
    padding: Option<&Sizes>,
) -> Result<Window, String> {
    let one_d = !two_d;
    let pair = |s: &Sizes, what: &str| -> Result<[usize; 2], String> {
        match (s, one_d) {
            (Sizes::One(v), true) => Ok([1, *v]),
            (Sizes::One(v), false) => Ok([*v, *v]),
            (Sizes::Each(v), true) if v.len() == 1 => Ok([1, v[0]]),
            (Sizes::Each(v), false) if v.len() == 2 => Ok([v[0], v[1]]),
            (Sizes::Each(v), _) => Err(format!(
                "{what} {v:?}: a {} map takes {}",
                if one_d { "1-D" } else { "2-D" },
                if one_d { "one size" } else { "[height, width]" }
            )),
        }
    };
    let kernel = pair(kernel, "kernel")?;
    let stride = stride.map_or(Ok([1, 1]), |s| pair(s, "stride"))?;
    let pads = match (padding, one_d) {
        (None, _) => [0; 4],
        (Some(Sizes::One(p)), true) => [0, *p, 0, *p],
        (Some(Sizes::One(p)), false) => [*p; 4],
        (Some(Sizes::Each(v)), true) if v.len() == 2 => [0, v[0], 0, v[1]],
        (Some(Sizes::Each(v)), false) if v.len() == 2 => [v[0], v[1], v[0], v[1]],
        (Some(Sizes::Each(v)), false) if v.len() == 4 => [v[0], v[1], v[2], v[3]],
        (Some(Sizes::Each(v)), _) => {
            return Err(format!(
                "padding {v:?}: a {} map takes {}",
                if one_d { "1-D" } else { "2-D" },
                if one_d {
                    "p or [left, right]"
                } else {
                    "p, [ph, pw] or [top, left, bottom, right]"
                }
            ))
        }
    };
    // Sizes beyond any map (and their sums) are refused before they are added up.
    let max = zlmc_ir::verify::limits::MAX_VECTOR;
    if kernel.iter().chain(&stride).chain(&pads).any(|&v| v > max) {
        return Err(format!("window sizes above {max}"));
    }
    let w = Window {
        kernel,
        stride,
        pads,
    };
    w.output(input.height, input.width)
        .map_err(|m| format!("over the map [{input}]: {m}"))?;
    Ok(w)
}

/// Integer average pooling's `mul / 2^shift` for dividing by `count`: exact
/// (`mul` 1) for a power of two; else the closest with `mul ≤ 255`, rounded
/// up so that a window of equal non-negative values gives its value back.
pub fn avg_divisor(count: usize) -> (u8, u32) {
    let count = count.max(1) as u64;
    let mut best = (1u8, 0u32, f64::INFINITY);
    for shift in 0..=31u32 {
        let mul = (1u64 << shift).div_ceil(count);
        if mul > 255 {
            break;
        }
        let err = (mul * count) as f64 / (1u64 << shift) as f64 - 1.0;
        if err < best.2 {
            best = (mul as u8, shift, err);
        }
    }
    (best.0, best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_divisor_is_exact_for_powers_of_two() {
        assert_eq!(avg_divisor(1), (1, 0));
        assert_eq!(avg_divisor(4), (1, 2));
        assert_eq!(avg_divisor(64), (1, 6));
    }

    #[test]
    fn avg_divisor_rounds_up_with_the_finest_mul() {
        let (mul, shift) = avg_divisor(9);
        assert_eq!((mul, shift), (57, 9));
        // A window of nine 100s averages to 100.
        assert_eq!((900 * u32::from(mul)) >> shift, 100);
        let (mul, shift) = avg_divisor(3);
        assert!(3 * u32::from(mul) >= 1 << shift);
        assert!(f64::from(mul) / f64::from(1u32 << shift) - 1.0 / 3.0 < 1e-3);
    }
}
