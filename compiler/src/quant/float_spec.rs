//! Float specs: a spec whose `numerics.weights` is `float` and whose tensors
//! are f32. Importers write one beside every quantized model (the float
//! reference); `zlmc quantize` and `zlmc eval` read them.

use std::path::Path;

use zlmc_ir::{Shape, Window};

use crate::diag::{Diagnostic, Result};
use crate::frontend::layers::{plan, Geometry};
use crate::frontend::spec::{Activation, InputSpec, LeakySpec, OutputSpec, Spec};
use crate::frontend::tensors::{TensorData, TensorMap};
use crate::frontend::{read_weights, weights_path};
use crate::output::OutFile;
use crate::quant::float_model::{
    FloatActivation, FloatDivisor, FloatLayer, FloatLayerKind, FloatMlp, FloatOutput,
};

use super::npz_write::{npz_bytes, Array};

/// File name of the float reference spec in an output folder.
pub const FLOAT_SPEC: &str = "float.yaml";
/// File name of the float reference tensors.
pub const FLOAT_WEIGHTS: &str = "float.npz";

/// Parse a spec file without checking it.
pub fn read_spec(path: &Path) -> Result<Spec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot read model spec: {e}")))?;
    serde_yaml::from_str(&text).map_err(|e| {
        let pos = e.location().map(|l| (l.line(), l.column()));
        Diagnostic::in_file(path, e.to_string()).at(pos)
    })
}

/// Whether the `.yaml` at `path` is a float spec.
pub fn is_float_spec(path: &Path) -> Result<bool> {
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    Ok(yaml && read_spec(path)?.numerics.weights == "float")
}

/// The class labels a spec's `classify` output names.
pub fn labels_of(spec: &Spec) -> Option<Vec<String>> {
    match &spec.output {
        OutputSpec::Classify(l) => Some(l.clone()),
        OutputSpec::Generate(_) | OutputSpec::Values(_) => None,
    }
}

/// Load a float spec (or any raw-input spec with float tensors) as a float MLP.
pub fn load_float_spec(path: &Path) -> Result<FloatMlp> {
    let spec = read_spec(path)?;
    let inputs = match spec.input.as_slice() {
        [InputSpec::Raw { size, .. }] => *size,
        _ => {
            return Err(Diagnostic::in_file(
                path,
                "a float model takes one raw input (`input: [raw: {size: N}]`)",
            ))
        }
    };
    let wpath = weights_path(path, &spec.weights);
    let tensors = read_weights(&wpath)?;
    let planned = plan(&spec.layers, inputs).map_err(|e| {
        let name = &spec.layers[e.index].name;
        Diagnostic::in_file(
            path,
            format!(
                "layer {}: {}",
                if name.is_empty() {
                    format!("{}", e.index + 1)
                } else {
                    name.clone()
                },
                e.message
            ),
        )
    })?;
    let mut layers = Vec::new();
    for p in &planned {
        let l = p.spec;
        let activation = float_activation(&l.activation)
            .map_err(|m| Diagnostic::in_file(path, format!("layer {}: {m}", l.name)))?;
        let kind = match p.geometry {
            Geometry::Dense { .. } => FloatLayerKind::Dense,
            Geometry::Conv {
                input,
                window,
                groups,
                ..
            } => FloatLayerKind::Conv {
                input,
                window,
                groups,
            },
            Geometry::MaxPool { input, window } => FloatLayerKind::MaxPool { input, window },
            Geometry::AvgPool { input, window } => {
                let pool = l.avgpool.as_ref();
                if pool.is_some_and(|a| a.mul.is_some() || a.shift.is_some())
                    || l.global_avgpool
                        .as_ref()
                        .is_some_and(|g| g.mul.is_some() || g.shift.is_some())
                {
                    return Err(Diagnostic::in_file(
                        path,
                        format!(
                            "layer {}: `mul` and `shift` are for integer specs; a float average pool divides (`count_pad` says by what)",
                            p.index + 1
                        ),
                    ));
                }
                FloatLayerKind::AvgPool {
                    input,
                    window,
                    divisor: FloatDivisor {
                        count_pad: pool.and_then(|a| a.count_pad).unwrap_or(false),
                    },
                }
            }
        };
        let (weight, bias) = match p.geometry.weight_matrix() {
            None => (Vec::new(), Vec::new()),
            Some((rows, cols)) => {
                let w = tensor(&tensors, l.weight.as_deref(), &l.name, "weight", &wpath)?;
                let b = tensor(&tensors, l.bias.as_deref(), &l.name, "bias", &wpath)?;
                let shapes = p.geometry.weight_shapes();
                if !shapes.contains(&w.0) || b.0 != [rows] {
                    let want: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
                    return Err(Diagnostic::in_file(
                        &wpath,
                        format!(
                            "layer {}: tensors have shapes {:?} and {:?}, the spec needs {} and [{rows}]",
                            l.name,
                            w.0,
                            b.0,
                            want.join(" or ")
                        ),
                    ));
                }
                (w.1.chunks(cols).map(<[f32]>::to_vec).collect(), b.1)
            }
        };
        layers.push(FloatLayer {
            kind,
            weight,
            bias,
            activation,
        });
    }
    if layers.is_empty() {
        return Err(Diagnostic::in_file(path, "the model has no layers"));
    }
    Ok(FloatMlp {
        name: spec.name.clone(),
        inputs,
        layers,
        labels: labels_of(&spec),
        output: match spec.output {
            OutputSpec::Values(_) => FloatOutput::Values,
            _ => FloatOutput::Classes,
        },
    })
}

/// The float activation a float spec's layer names, or why it cannot.
fn float_activation(a: &Activation) -> std::result::Result<FloatActivation, String> {
    Ok(match a {
        Activation::None => FloatActivation::None,
        Activation::Relu => FloatActivation::Relu,
        Activation::Tanh => FloatActivation::Tanh,
        Activation::Sigmoid => FloatActivation::Sigmoid,
        Activation::LeakyRelu(LeakySpec {
            alpha: Some(alpha),
            mul: None,
            shift: None,
        }) => FloatActivation::LeakyRelu {
            alpha: *alpha as f32,
        },
        Activation::Clip([min, max]) if min <= max => FloatActivation::Clip {
            min: *min as f32,
            max: *max as f32,
        },
        Activation::Clip([min, max]) => return Err(format!("clip bounds {min} > {max}")),
        Activation::HardSigmoid(h) => FloatActivation::HardSigmoid {
            alpha: h.alpha as f32,
            beta: h.beta as f32,
        },
        Activation::HardSwish => FloatActivation::HardSwish,
        Activation::Gelu => FloatActivation::Gelu { tanh: false },
        Activation::GeluTanh => FloatActivation::Gelu { tanh: true },
        other => {
            return Err(format!(
                "`{}` here is an integer activation; a float spec's leaky_relu takes `{{alpha}}`",
                other.name()
            ))
        }
    })
}

/// A float activation as a float spec writes it (`, activation: ...`, or
/// nothing for none).
pub fn float_activation_yaml(a: FloatActivation) -> String {
    let v = match a {
        FloatActivation::None => return String::new(),
        FloatActivation::Relu => "relu".to_string(),
        FloatActivation::Tanh => "tanh".to_string(),
        FloatActivation::Sigmoid => "sigmoid".to_string(),
        FloatActivation::LeakyRelu { alpha } => format!("{{leaky_relu: {{alpha: {alpha:?}}}}}"),
        FloatActivation::Clip { min, max } => format!("{{clip: [{min:?}, {max:?}]}}"),
        FloatActivation::HardSigmoid { alpha, beta } => {
            format!("{{hard_sigmoid: {{alpha: {alpha:?}, beta: {beta:?}}}}}")
        }
        FloatActivation::HardSwish => "hard_swish".to_string(),
        FloatActivation::Gelu { tanh: false } => "gelu".to_string(),
        FloatActivation::Gelu { tanh: true } => "gelu_tanh".to_string(),
    };
    format!(", activation: {v}")
}

fn tensor(
    t: &TensorMap,
    explicit: Option<&str>,
    layer: &str,
    what: &str,
    file: &Path,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let names = match explicit {
        Some(n) => vec![n.to_string()],
        None => vec![format!("{layer}_{what}"), format!("{layer}.{what}")],
    };
    let found = names.iter().find_map(|n| t.get(n.as_str()));
    let Some(found) = found else {
        return Err(Diagnostic::in_file(
            file,
            format!("tensor `{}` not found", names.join("` or `")),
        ));
    };
    let v = match &found.data {
        TensorData::Float(v) => v.iter().map(|&x| x as f32).collect(),
        TensorData::Int(v) => v.iter().map(|&x| x as f32).collect(),
        TensorData::Bytes(_) => {
            return Err(Diagnostic::in_file(
                file,
                format!("tensor `{}` holds bytes", names[0]),
            ))
        }
    };
    Ok((found.shape.clone(), v))
}

/// A string as a YAML double-quoted scalar.
pub fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The labels to write: the model's, or the class indices.
pub fn label_list(m: &FloatMlp) -> Vec<String> {
    let n = m.layers.last().map_or(0, FloatLayer::units);
    m.labels
        .clone()
        .unwrap_or_else(|| (0..n).map(|i| i.to_string()).collect())
}

/// The YAML `output:` section for a classifier.
pub fn output_yaml(labels: &[String]) -> String {
    let l: Vec<String> = labels.iter().map(|s| yaml_str(s)).collect();
    format!("output:\n  classify: [{}]\n", l.join(", "))
}

/// Name of dense layer `i` in written specs.
pub fn layer_name(i: usize) -> String {
    named("fc", i)
}

/// Name of layer `i` in written specs: `fc`, `conv` or `pool` by what it
/// is, then its position (`conv1`, `pool2`, `fc3`).
pub fn named(stem: &str, i: usize) -> String {
    format!("{stem}{}", i + 1)
}

/// Name of float layer `i` in written specs (see [`named`]).
pub fn float_layer_name(l: &FloatLayer, i: usize) -> String {
    named(
        match l.kind {
            FloatLayerKind::Dense => "fc",
            FloatLayerKind::Conv { .. } => "conv",
            FloatLayerKind::MaxPool { .. } | FloatLayerKind::AvgPool { .. } => "pool",
        },
        i,
    )
}

/// `float.yaml` and `float.npz` for a float model; `source` is named in the header.
pub fn float_spec_files(m: &FloatMlp, source: &str) -> Result<Vec<OutFile>> {
    let mut y = format!(
        "# Float reference written by zlmc from {source}.\n\
         # `zlmc quantize {FLOAT_SPEC} --calibrate DATA -o DIR` makes an integer model of it.\n\
         zlmc: 1\nname: {}\nweights: {FLOAT_WEIGHTS}\ninput:\n  - raw: {{size: {}}}\n\
         numerics:\n  weights: float\nlayers:\n",
        m.name, m.inputs
    );
    for (i, l) in m.layers.iter().enumerate() {
        let act = float_activation_yaml(l.activation);
        y.push_str(&format!(
            "  - {{name: {}, {}{act}}}\n",
            float_layer_name(l, i),
            layer_kind_yaml(l)
        ));
    }
    match m.output {
        FloatOutput::Classes => y.push_str(&output_yaml(&label_list(m))),
        FloatOutput::Values => y.push_str("output:\n  values: {}\n"),
    }
    let names: Vec<(String, String)> = (m.layers.iter().enumerate())
        .map(|(i, l)| {
            let n = float_layer_name(l, i);
            (format!("{n}_weight"), format!("{n}_bias"))
        })
        .collect();
    let mut arrays = Vec::new();
    for (l, (wn, bn)) in m.layers.iter().zip(&names) {
        if l.weight.is_empty() {
            continue;
        }
        let flat: Vec<f32> = l.weight.iter().flatten().copied().collect();
        let cols = l.weight.first().map_or(0, Vec::len);
        arrays.push(Array::F32(wn, vec![l.weight.len(), cols], flat));
        arrays.push(Array::F32(bn, vec![l.bias.len()], l.bias.clone()));
    }
    let npz =
        npz_bytes(&arrays).map_err(|e| Diagnostic::new(format!("cannot pack weights: {e}")))?;
    Ok(vec![
        (FLOAT_SPEC.to_string(), y.into_bytes()),
        (FLOAT_WEIGHTS.to_string(), npz),
    ])
}

/// What a layer is, as a spec's layer entry writes it (after its name): `units: N`,
/// or a `conv1d`/`conv2d`/`maxpool`/`avgpool` mapping with its input map and
/// every size written out.
pub fn layer_kind_yaml(l: &FloatLayer) -> String {
    layer_geometry_yaml(l.kind, l.weight.len(), l.units())
}

/// A layer's kind key as a spec writes it, for a layer of `kind` with `rows`
/// weight rows (`units` outputs for a dense layer).
pub fn layer_geometry_yaml(kind: FloatLayerKind, rows: usize, units: usize) -> String {
    match kind {
        FloatLayerKind::Dense => format!("units: {units}"),
        FloatLayerKind::Conv {
            input,
            window,
            groups,
        } => format!(
            "{}: {{input: {}, filters: {rows}, {}, groups: {groups}}}",
            if written_2d(input, window) {
                "conv2d"
            } else {
                "conv1d"
            },
            shape_yaml(input, window),
            window_yaml(input, window)
        ),
        FloatLayerKind::MaxPool { input, window } => format!(
            "maxpool: {{input: {}, {}}}",
            shape_yaml(input, window),
            window_yaml(input, window)
        ),
        FloatLayerKind::AvgPool {
            input,
            window,
            divisor: FloatDivisor { count_pad },
        } => format!(
            "avgpool: {{input: {}, {}, count_pad: {count_pad}}}",
            shape_yaml(input, window),
            window_yaml(input, window)
        ),
    }
}

/// Whether a window over `input` is written 2-D: unless the map has height 1
/// and the window is 1-D (a 2-D window may pad a map of height 1).
pub fn written_2d(input: Shape, w: Window) -> bool {
    !(input.is_1d() && w.is_1d())
}

/// A map's shape as a spec's `input` writes it for window `w`: `[C, L]` or `[C, H, W]`.
pub fn shape_yaml(s: Shape, w: Window) -> String {
    if written_2d(s, w) {
        format!("[{}, {}, {}]", s.channels, s.height, s.width)
    } else {
        format!("[{}, {}]", s.channels, s.width)
    }
}

/// A window's `kernel`, `stride` and `padding` keys over `input`, 1-D or 2-D
/// as [`written_2d`] says.
pub fn window_yaml(input: Shape, w: Window) -> String {
    let [t, l, b, r] = w.pads;
    if !written_2d(input, w) {
        format!(
            "kernel: [{}], stride: [{}], padding: [{l}, {r}]",
            w.kernel[1], w.stride[1]
        )
    } else {
        format!(
            "kernel: [{}, {}], stride: [{}, {}], padding: [{t}, {l}, {b}, {r}]",
            w.kernel[0], w.kernel[1], w.stride[0], w.stride[1]
        )
    }
}
