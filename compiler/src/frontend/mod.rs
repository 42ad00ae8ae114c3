//! Frontend: read a spec and its weights, check them, and lower them to the IR.

pub mod layers;
pub mod lower;
pub mod npz;
pub mod quantize;
pub mod safetensors;
pub mod spec;
pub mod tensors;

use std::path::{Path, PathBuf};

use zlmc_ir::{Decode, Elem, Encoder, Model, WeightKind};

use crate::diag::{Diagnostic, Result};
use spec::{Eos, InputSpec, OutputSpec, PathStep, Spec};
use tensors::TensorMap;

/// A spec file's text and path, for locating errors in it.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, path: &[PathStep], message: impl Into<String>) -> Diagnostic {
        Diagnostic::in_file(self.path, message).at(spec::locate(self.text, path))
    }
}

/// A spec file's text and its parse, within the size and nesting limits.
fn parse_spec(path: &Path) -> Result<(String, Spec)> {
    let text = read_limited(path, MAX_SPEC_BYTES)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot read model spec: {e}")))?;
    prescan_yaml(&text).map_err(|(pos, m)| Diagnostic::in_file(path, m).at(Some(pos)))?;
    let spec: Spec = serde_yaml::from_str(&text).map_err(|e| {
        let pos = e.location().map(|l| (l.line(), l.column()));
        Diagnostic::in_file(path, yaml_message(&e)).at(pos)
    })?;
    Ok((text, spec))
}

/// Load a YAML spec and its weights into an unoptimized model.
pub fn load_spec(path: &Path) -> Result<Model> {
    let (text, spec) = parse_spec(path)?;
    let src = Source { path, text: &text };
    let checked = check(&spec, &src)?;
    let weights_path = weights_path(path, &spec.weights);
    if !weights_path.is_file() {
        return Err(src
            .error(
                &[PathStep::Key("weights")],
                format!("weights file `{}` not found", weights_path.display()),
            )
            .help("`weights:` is relative to the spec's folder"));
    }
    let tensors = read_weights(&weights_path)?;
    let layers = quantize::layer_tensors(&spec, &checked, &tensors, &weights_path, &|p, m| {
        src.error(p, m)
    })?;
    Ok(lower::lower_layers(
        &spec.name,
        checked.encoders,
        checked.decode,
        layers,
    ))
}

/// A spec's architecture as a model without reading its weights: every
/// layer's shape, shift, activation and accumulator from the spec, its
/// weights the kind's smallest non-negative value (0, or +1 for binary) and
/// its biases 0. What `zlmc train` starts from.
pub fn load_architecture(path: &Path) -> Result<Model> {
    let (text, spec) = parse_spec(path)?;
    let src = Source { path, text: &text };
    let checked = check(&spec, &src)?;
    let fill: i8 = if checked.kind == zlmc_ir::WeightKind::Binary {
        1
    } else {
        0
    };
    let mut layers = Vec::new();
    for &(i, geometry) in &checked.plan {
        let l = &spec.layers[i];
        let at = [PathStep::Key("layers"), PathStep::Item(i)];
        let activation = l
            .activation
            .to_integer()
            .map_err(|m| src.error(&[at[0], at[1], PathStep::Key("activation")], m))?;
        let kind = quantize::layer_kind(l, geometry)
            .map_err(|(key, m)| src.error(&[at[0], at[1], PathStep::Key(key)], m))?;
        let data = match geometry.weight_matrix() {
            Some((rows, cols)) => quantize::LayerData {
                weights: zlmc_ir::DenseWeights {
                    kind: checked.kind,
                    rows,
                    cols,
                    data: vec![fill; rows * cols],
                },
                bias: vec![0; rows],
                shift: l.shift,
                activation,
            },
            None => quantize::LayerData::pool(checked.kind, activation),
        };
        layers.push(quantize::Layer {
            kind,
            data,
            acc: checked.layer_accs[i],
        });
    }
    Ok(lower::lower_layers(
        &spec.name,
        checked.encoders,
        checked.decode,
        layers,
    ))
}

/// Largest spec file read (specs are a few hundred bytes; labels may add some).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;
/// Deepest nesting of flow collections and block indentation levels allowed in a spec.
pub const MAX_YAML_DEPTH: usize = 64;

/// A file's text, refusing files longer than `max` bytes before reading them whole.
pub fn read_limited(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "the file exceeds the limit of {max} bytes"
        )));
    }
    Ok(text)
}

/// Refuse YAML nested deeper than [`MAX_YAML_DEPTH`] before serde_yaml parses it:
/// its scanner takes time quadratic in the nesting depth. Counts flow brackets
/// outside quotes and comments, and distinct block indentation levels; returns
/// the 1-based line and column where the limit was passed.
pub fn prescan_yaml(text: &str) -> std::result::Result<(), ((usize, usize), String)> {
    let too_deep = |line: usize, col: usize| {
        Err((
            (line, col),
            format!("YAML nested deeper than the limit of {MAX_YAML_DEPTH}"),
        ))
    };
    let mut depth = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches([' ', '-']);
        if depth == 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
            let indent = line.len() - trimmed.len();
            while indents.last().is_some_and(|&i| i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            if indents.len() > MAX_YAML_DEPTH {
                return too_deep(ln + 1, indent + 1);
            }
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some('"'), '\\') if prev == '\\' => {
                    prev = ' ';
                    continue;
                }
                (Some(q), c) if c == q && !(q == '"' && prev == '\\') => quote = None,
                (Some(_), _) => {}
                (None, '#') if prev == ' ' || col == 0 => break,
                (None, '"' | '\'') if depth > 0 || prev == ' ' || prev == ':' => quote = Some(c),
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_YAML_DEPTH {
                        return too_deep(ln + 1, col + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    Ok(())
}

/// serde_yaml's message without its own " at line L column C" suffix
/// (the position is printed in front, compiler style).
fn yaml_message(e: &serde_yaml::Error) -> String {
    let m = e.to_string();
    match m.find(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m,
    }
}

/// Read a weights file, by extension.
pub fn read_weights(path: &Path) -> Result<TensorMap> {
    if !path.exists() {
        return Err(Diagnostic::in_file(path, "weights file not found"));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => npz::read_npz(path),
        Some("safetensors") => safetensors::read_safetensors(path),
        _ => Err(Diagnostic::in_file(
            path,
            "unknown weights format: expected a .npz or .safetensors file",
        )),
    }
}

/// What the spec says once checked: IR-level encoders, decoder and numerics.
pub struct Checked {
    /// Input encoders.
    pub encoders: Vec<Encoder>,
    /// Output decoder.
    pub decode: Decode,
    /// Weight kind.
    pub kind: WeightKind,
    /// Accumulator element type (the spec's default).
    pub acc: Elem,
    /// Each spec layer's accumulator element type.
    pub layer_accs: Vec<Elem>,
    /// The layers that compute (all but `flatten`s): spec position and shapes.
    pub plan: Vec<(usize, layers::Geometry)>,
}

/// Whether `s` is a C identifier (model names become file and symbol names).
pub use zlmc_backends::is_c_identifier as is_identifier;

fn check(spec: &Spec, src: &Source) -> Result<Checked> {
    use PathStep::{Item, Key};
    if spec.zlmc != spec::SPEC_VERSION {
        return Err(src
            .error(
                &[Key("zlmc")],
                format!("unsupported spec version {}", spec.zlmc),
            )
            .help(format!("this zlmc reads version {}", spec::SPEC_VERSION)));
    }
    if !is_identifier(&spec.name) {
        return Err(src.error(
            &[Key("name")],
            format!("model name `{}` is not an identifier (letters, digits, _; not starting with a digit)", spec.name),
        ));
    }
    if spec.numerics.weights == "float" {
        return Err(src
            .error(
                &[Key("numerics"), Key("weights")],
                "this is a float spec: its weights must be quantized before it can run or be built",
            )
            .help(
                "run `zlmc quantize SPEC --calibrate DATA -o DIR` (or `zlmc eval` it directly)",
            ));
    }
    let kind = WeightKind::from_name(&spec.numerics.weights).ok_or_else(|| {
        src.error(
            &[Key("numerics"), Key("weights")],
            format!("unknown weight kind `{}`", spec.numerics.weights),
        )
        .help("one of int2, ternary, binary, int4, int8")
    })?;
    let acc = Elem::from_bits(spec.numerics.accumulator).ok_or_else(|| {
        src.error(
            &[Key("numerics"), Key("accumulator")],
            format!(
                "unsupported accumulator width {}",
                spec.numerics.accumulator
            ),
        )
        .help("16 (as z80ai) or 32")
    })?;
    if let Some(q) = &spec.numerics.quantize {
        if !(q.weight_scale.is_finite() && q.bias_scale.is_finite()) {
            return Err(src.error(
                &[Key("numerics"), Key("quantize")],
                "quantize scales must be finite numbers",
            ));
        }
    }
    if spec.input.is_empty() {
        return Err(src.error(&[Key("input")], "no input encoders"));
    }
    let mut layer_accs = Vec::new();
    for (i, l) in spec.layers.iter().enumerate() {
        let a = match l.accumulator {
            None => acc,
            Some(bits) => Elem::from_bits(bits).ok_or_else(|| {
                src.error(
                    &[Key("layers"), Item(i), Key("accumulator")],
                    format!("unsupported accumulator width {bits}"),
                )
                .help("16 or 32")
            })?,
        };
        layer_accs.push(a);
    }
    let mut encoders = Vec::new();
    for (i, e) in spec.input.iter().enumerate() {
        let at = [Key("input"), Item(i)];
        let enc = match *e {
            InputSpec::QueryTrigram { buckets, value } => {
                check_buckets(buckets, src, &at)?;
                Encoder::QueryTrigram { buckets, value }
            }
            InputSpec::ContextNgram {
                buckets,
                length,
                value,
            } => {
                check_buckets(buckets, src, &at)?;
                if length == 0 || length > 64 {
                    return Err(src.error(&at, format!("context length {length} must be 1..=64")));
                }
                Encoder::ContextNgram {
                    buckets,
                    length,
                    value,
                }
            }
            InputSpec::Raw {
                size,
                scale,
                zero_point,
                range,
            } => {
                let max = zlmc_ir::verify::limits::MAX_VECTOR;
                if size == 0 || size > max {
                    return Err(
                        src.error(&at, format!("raw input of size {size}: must be 1..={max}"))
                    );
                }
                Encoder::Raw {
                    len: size,
                    quant: input_quant(scale, zero_point, range, src, &at)?,
                }
            }
        };
        encoders.push(enc);
    }
    let raw = encoders
        .iter()
        .filter(|e| matches!(e, Encoder::Raw { .. }))
        .count();
    if raw > 0 && raw < encoders.len() {
        return Err(src.error(
            &[Key("input")],
            "raw inputs cannot be mixed with text encoders",
        ));
    }
    if spec.layers.is_empty() {
        return Err(src.error(&[Key("layers")], "the model has no layers"));
    }
    let inputs: usize = encoders.iter().map(Encoder::len).sum();
    let planned = layers::plan(&spec.layers, inputs).map_err(|e| {
        let mut at = vec![Key("layers"), Item(e.index)];
        at.extend(e.key.map(Key));
        src.error(&at, e.message)
    })?;
    if planned.is_empty() {
        return Err(src.error(
            &[Key("layers")],
            "the model computes nothing: it has only `flatten`s",
        ));
    }
    for (i, l) in spec.layers.iter().enumerate() {
        let acc = layer_accs[i];
        if l.shift >= acc.bits() {
            return Err(src.error(
                &[Key("layers"), Item(i), Key("shift")],
                format!(
                    "shift {} does not fit a {}-bit accumulator",
                    l.shift,
                    acc.bits()
                ),
            ));
        }
        if !l.name.is_empty() && spec.layers[..i].iter().any(|p| p.name == l.name) {
            return Err(src.error(
                &[Key("layers"), Item(i), Key("name")],
                format!("layer name {} used twice", l.name),
            ));
        }
    }
    let last = planned.last().expect("non-empty");
    let classes = last.geometry.outputs();
    let decode = match &spec.output {
        OutputSpec::Classify(labels) => {
            if labels.is_empty() {
                return Err(src.error(&[Key("output"), Key("classify")], "no class labels"));
            }
            Decode::Classify {
                labels: labels.clone(),
            }
        }
        OutputSpec::Values(v) => {
            let at = [Key("output"), Key("values")];
            let Some(scale) = v.scale else {
                return Err(src
                    .error(&at, "an integer model's values need a `scale`")
                    .help("value = scale * (output - zero_point); only float specs leave it out"));
            };
            if !(scale.is_finite() && scale > 0.0) {
                return Err(src.error(&at, format!("scale {scale} must be positive and finite")));
            }
            Decode::Values {
                count: classes,
                quant: zlmc_ir::OutputQuant {
                    scale,
                    zero_point: v.zero_point,
                },
            }
        }
        OutputSpec::Generate(g) => {
            let at = [Key("output"), Key("generate"), Key("charset")];
            if g.charset.is_empty() {
                return Err(src
                    .error(&at, "empty charset")
                    .help("one character per output class, the end-of-sequence class included"));
            }
            if let Some(c) = g.charset.chars().find(|c| !c.is_ascii()) {
                return Err(src.error(&at, format!("charset character {c:?} is not ASCII")));
            }
            let charset = g.charset.as_bytes().to_vec();
            let eos = match &g.eos {
                Eos::Last => charset.len() - 1,
                Eos::Keyword(k) if k == "last" => charset.len() - 1,
                Eos::Keyword(k) => {
                    return Err(src.error(
                        &[Key("output"), Key("generate"), Key("eos")],
                        format!("eos must be `last` or a class index, not `{k}`"),
                    ))
                }
                Eos::Index(i) if *i < charset.len() => *i,
                Eos::Index(i) => {
                    return Err(src.error(
                        &[Key("output"), Key("generate"), Key("eos")],
                        format!(
                            "eos class {i} is outside the charset ({} classes)",
                            charset.len()
                        ),
                    ))
                }
            };
            let max = zlmc_ir::verify::limits::MAX_REPLY;
            if g.max_length == 0 || g.max_length > max {
                return Err(src.error(
                    &[Key("output"), Key("generate"), Key("max_length")],
                    format!("max_length {} must be 1..={max}", g.max_length),
                ));
            }
            Decode::Generate {
                charset,
                eos,
                max_length: g.max_length,
            }
        }
    };
    let named = match &decode {
        Decode::Classify { labels } => labels.len(),
        Decode::Generate { charset, .. } => charset.len(),
        Decode::Values { count, .. } => *count,
    };
    if named != classes {
        let key = last.spec.kind_key().unwrap_or("units");
        return Err(src.error(
            &[Key("layers"), Item(last.index), Key(key)],
            format!("the last layer has {classes} units but the output names {named} classes"),
        ));
    }
    if matches!(decode, Decode::Generate { .. }) && raw > 0 {
        return Err(src.error(
            &[Key("output")],
            "generation needs text input encoders, not raw",
        ));
    }
    let plan = planned.iter().map(|p| (p.index, p.geometry)).collect();
    Ok(Checked {
        encoders,
        decode,
        kind,
        acc,
        layer_accs,
        plan,
    })
}

/// The IR input quantization of a raw input's `scale`/`zero_point`/`range`.
fn input_quant(
    scale: Option<f64>,
    zero_point: Option<i32>,
    range: Option<[f64; 2]>,
    src: &Source,
    at: &[PathStep],
) -> Result<Option<zlmc_ir::InputQuant>> {
    let Some(scale) = scale else {
        if zero_point.is_some() || range.is_some() {
            return Err(src
                .error(at, "`zero_point` and `range` need a `scale`")
                .help("scale is the float value of one input step"));
        }
        return Ok(None);
    };
    if !(scale.is_finite() && scale > 0.0) {
        return Err(src.error(at, format!("input scale {scale} must be a positive number")));
    }
    if let Some([lo, hi]) = range {
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(src.error(
                at,
                format!("input range [{lo}, {hi}] must be finite, min ≤ max"),
            ));
        }
    }
    Ok(Some(zlmc_ir::InputQuant {
        scale,
        zero_point: zero_point.unwrap_or(0),
        range: range.map(|[a, b]| (a, b)),
    }))
}

fn check_buckets(buckets: usize, src: &Source, at: &[PathStep]) -> Result<()> {
    let max = zlmc_ir::verify::limits::MAX_BUCKETS;
    if !buckets.is_power_of_two() {
        Err(src.error(
            at,
            format!("{buckets} buckets: must be a power of two (the hash is masked)"),
        ))
    } else if buckets > max {
        Err(src.error(
            at,
            format!("{buckets} buckets: more than the limit of {max}"),
        ))
    } else {
        Ok(())
    }
}

/// Path of a weights file as the spec names it, relative to the spec's folder.
pub fn weights_path(spec_path: &Path, weights: &str) -> PathBuf {
    spec_path.parent().unwrap_or(Path::new(".")).join(weights)
}
