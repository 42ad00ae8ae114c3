//! The model spec (YAML, version 1): what the user writes.
//! The format is documented in `docs/spec.md`; keep the two in step.

use serde::Deserialize;

/// The spec versions this zlmc reads.
pub const SPEC_VERSION: u32 = 1;

/// A whole spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Spec format version; must be [`SPEC_VERSION`].
    pub zlmc: u32,
    /// Model name: a C identifier, used for file and symbol names.
    pub name: String,
    /// Weights file (`.npz` or `.safetensors`), relative to the spec file.
    pub weights: String,
    /// Encoders that fill the input vector, in order.
    #[serde(with = "serde_yaml::with::singleton_map_recursive")]
    pub input: Vec<InputSpec>,
    /// Number formats.
    pub numerics: Numerics,
    /// Dense layers, applied in order.
    pub layers: Vec<LayerSpec>,
    /// How the last layer's argmax is read.
    #[serde(with = "serde_yaml::with::singleton_map_recursive")]
    pub output: OutputSpec,
    /// The float spec this model was quantized from, relative to this file
    /// (`zlmc eval` measures agreement with it).
    #[serde(default)]
    pub reference: Option<String>,
}

/// One input encoder.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InputSpec {
    /// z80ai's query trigram hash.
    QueryTrigram {
        buckets: usize,
        #[serde(default = "default_value")]
        value: i16,
    },
    /// z80ai's n-gram hash of the reply so far.
    ContextNgram {
        buckets: usize,
        #[serde(default = "default_context")]
        length: usize,
        #[serde(default = "default_value")]
        value: i16,
    },
    /// A raw int16 vector given by the caller, or float features quantized
    /// as `round(x / scale) + zero_point` when `scale` is given.
    Raw {
        size: usize,
        /// Float value of one input step.
        #[serde(default)]
        scale: Option<f64>,
        /// The integer that stands for 0.0 (needs `scale`).
        #[serde(default)]
        zero_point: Option<i32>,
        /// Declared float range `[min, max]` of every feature (needs `scale`).
        #[serde(default)]
        range: Option<[f64; 2]>,
    },
}

fn default_value() -> i16 {
    32
}

fn default_context() -> usize {
    8
}

/// Number formats of the whole model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Numerics {
    /// Weight kind: int2, ternary, binary, int4 or int8; `float` marks a float
    /// spec, which `zlmc quantize` turns into one of the others.
    pub weights: String,
    /// Accumulator width in bits: 16 (z80ai) or 32.
    #[serde(default = "default_acc")]
    pub accumulator: u32,
    /// How to turn float tensors into integers; without it float tensors are an error.
    pub quantize: Option<Quantize>,
}

fn default_acc() -> u32 {
    16
}

/// Rounding of float tensors: `round(w · weight_scale)` clamped to the weight kind,
/// `round(b · bias_scale)` clamped to the accumulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantize {
    /// Factor applied to float weights before rounding.
    #[serde(default = "one")]
    pub weight_scale: f64,
    /// Factor applied to float biases before rounding.
    #[serde(default = "one")]
    pub bias_scale: f64,
}

fn one() -> f64 {
    1.0
}

/// One dense layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Layer name; its tensors are `NAME_weight`/`NAME_bias` (or `NAME.weight`/`NAME.bias`).
    pub name: String,
    /// Number of output units.
    pub units: usize,
    /// Arithmetic right shift after the bias.
    #[serde(default)]
    pub shift: u32,
    /// Activation after the shift.
    #[serde(default)]
    pub activation: Activation,
    /// This layer's accumulator width, overriding `numerics.accumulator`.
    #[serde(default)]
    pub accumulator: Option<u32>,
    /// Explicit weight tensor name, overriding the default.
    pub weight: Option<String>,
    /// Explicit bias tensor name, overriding the default.
    pub bias: Option<String>,
}

/// A layer's activation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// No activation.
    #[default]
    None,
    /// max(0, x).
    Relu,
}

/// What the predicted class means.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputSpec {
    /// Class labels, in class order.
    Classify(Vec<String>),
    /// Autoregressive character generation.
    Generate(GenerateSpec),
}

/// Character generation settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// One character per class (ASCII; `\0` allowed).
    pub charset: String,
    /// End-of-sequence class: `last` or an index.
    #[serde(default)]
    pub eos: Eos,
    /// Longest reply, in characters.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
}

fn default_max_length() -> usize {
    50
}

/// The end-of-sequence class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Eos {
    /// A class index.
    Index(usize),
    /// A keyword; only `last` is valid.
    Keyword(String),
    /// The last class.
    #[default]
    #[serde(skip)]
    Last,
}

/// One step of a path into a YAML document, for locating errors.
#[derive(Debug, Clone, Copy)]
pub enum PathStep<'a> {
    /// A mapping key.
    Key(&'a str),
    /// The n-th item of a sequence.
    Item(usize),
}

/// Best-effort line and column (1-based) of the node at `path` in YAML `src`.
/// serde_yaml reports positions only for its own errors; this finds them for
/// errors found after parsing. Returns the deepest part of the path it could find.
pub fn locate(src: &str, path: &[PathStep]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut best = None;
    let (mut from, mut indent) = (0usize, -1i64);
    let mut col_floor = 0usize;
    for step in path {
        let found = match *step {
            PathStep::Key(k) => find_key(&lines, from, indent, col_floor, k),
            PathStep::Item(i) => find_item(&lines, from, indent, i),
        };
        match found {
            Some((line, col)) => {
                best = Some((line + 1, col + 1));
                from = line;
                indent = col as i64;
                col_floor = col;
                if let PathStep::Item(_) = step {
                    // The item's own keys may sit on the dash line.
                    col_floor = col + 1;
                }
            }
            None => break,
        }
    }
    best
}

fn strip_comment(line: &str) -> &str {
    match line.find(" #") {
        Some(i) => &line[..i],
        None if line.trim_start().starts_with('#') => "",
        None => line,
    }
}

fn find_key(
    lines: &[&str],
    from: usize,
    parent_indent: i64,
    col_floor: usize,
    key: &str,
) -> Option<(usize, usize)> {
    for (ln, line) in lines.iter().enumerate().skip(from) {
        let text = strip_comment(line);
        let indent = text.len() - text.trim_start().len();
        if ln > from && !text.trim().is_empty() && (indent as i64) <= parent_indent {
            return None;
        }
        let start = if ln == from { col_floor } else { 0 };
        let mut search = start;
        while let Some(off) = text.get(search..).and_then(|t| t.find(key)) {
            let at = search + off;
            let before = text[..at].chars().last();
            let after = text[at + key.len()..].trim_start();
            let boundary = before.is_none_or(|c| matches!(c, ' ' | '{' | ',' | '-'));
            if boundary && after.starts_with(':') {
                return Some((ln, at));
            }
            search = at + key.len();
        }
    }
    None
}

fn find_item(lines: &[&str], from: usize, parent_indent: i64, n: usize) -> Option<(usize, usize)> {
    let mut count = 0;
    for (ln, line) in lines.iter().enumerate().skip(from + 1) {
        let text = strip_comment(line);
        let indent = text.len() - text.trim_start().len();
        if text.trim().is_empty() {
            continue;
        }
        if (indent as i64) < parent_indent
            || ((indent as i64) == parent_indent && !text.trim_start().starts_with('-'))
        {
            return None;
        }
        if text.trim_start().starts_with('-') {
            if count == n {
                return Some((ln, indent));
            }
            count += 1;
        }
    }
    None
}
