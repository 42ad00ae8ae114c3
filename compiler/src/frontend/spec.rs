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
    /// Layers, applied in order.
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

/// One layer: a dense layer (`units`), a convolution (`conv1d`, `conv2d`), a
/// pooling (`maxpool`, `avgpool`, `global_avgpool`) or a `flatten`; exactly
/// one of those keys. `name`, `shift`, `activation`, `accumulator`, `weight`
/// and `bias` mean the same for every layer that has them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Layer name; its tensors are `NAME_weight`/`NAME_bias` (or `NAME.weight`/`NAME.bias`).
    /// Required for dense and convolution layers, optional for the others.
    #[serde(default)]
    pub name: String,
    /// Number of output units: makes the layer a dense one.
    #[serde(default)]
    pub units: Option<usize>,
    /// A 1-D convolution.
    #[serde(default)]
    pub conv1d: Option<ConvSpec>,
    /// A 2-D convolution.
    #[serde(default)]
    pub conv2d: Option<ConvSpec>,
    /// Max pooling.
    #[serde(default)]
    pub maxpool: Option<PoolSpec>,
    /// Average pooling.
    #[serde(default)]
    pub avgpool: Option<PoolSpec>,
    /// Average pooling over each whole channel.
    #[serde(default)]
    pub global_avgpool: Option<GlobalPoolSpec>,
    /// A map read as a flat vector, channel-major (what a dense layer after a map does anyway).
    #[serde(default)]
    pub flatten: Option<FlattenSpec>,
    /// Arithmetic right shift after the bias.
    #[serde(default)]
    pub shift: u32,
    /// Activation after the shift.
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    pub activation: Activation,
    /// This layer's accumulator width, overriding `numerics.accumulator`.
    #[serde(default)]
    pub accumulator: Option<u32>,
    /// Explicit weight tensor name, overriding the default.
    pub weight: Option<String>,
    /// Explicit bias tensor name, overriding the default.
    pub bias: Option<String>,
}

impl LayerSpec {
    /// The key that says what the layer is, or why there is not exactly one.
    pub fn kind_key(&self) -> std::result::Result<&'static str, String> {
        let keys: Vec<&'static str> = [
            ("units", self.units.is_some()),
            ("conv1d", self.conv1d.is_some()),
            ("conv2d", self.conv2d.is_some()),
            ("maxpool", self.maxpool.is_some()),
            ("avgpool", self.avgpool.is_some()),
            ("global_avgpool", self.global_avgpool.is_some()),
            ("flatten", self.flatten.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        match keys[..] {
            [k] => Ok(k),
            [] => Err(
                "a layer needs one of `units` (dense), `conv1d`, `conv2d`, `maxpool`, \
                 `avgpool`, `global_avgpool` or `flatten`"
                    .into(),
            ),
            _ => Err(format!(
                "a layer is one thing, but this one has `{}`",
                keys.join("`, `")
            )),
        }
    }

    /// Whether the layer has weight and bias tensors (dense and convolutions).
    pub fn has_weights(&self) -> bool {
        self.units.is_some() || self.conv1d.is_some() || self.conv2d.is_some()
    }
}

/// A size given once for every axis or once per axis (`3` or `[3, 3]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Sizes {
    /// The same on every axis.
    One(usize),
    /// Per axis (paddings: per side).
    Each(Vec<usize>),
}

/// A convolution's geometry. Weights `[filters, in_channels/groups, kh, kw]`
/// (PyTorch's order; `[filters, in_channels/groups, k]` in 1-D) or the same
/// flattened to `[filters, in_channels/groups·kh·kw]`; bias `[filters]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    /// The input map's shape, `[C, L]` or `[C, H, W]`: needed after a vector
    /// (which it reshapes), optional after a map (which it must match in length).
    #[serde(default)]
    pub input: Option<Vec<usize>>,
    /// Output channels.
    pub filters: usize,
    /// Kernel size.
    pub kernel: Sizes,
    /// Stride (default 1).
    #[serde(default)]
    pub stride: Option<Sizes>,
    /// Zero padding: one for all sides, per axis, or per side (see `docs/spec.md`).
    #[serde(default)]
    pub padding: Option<Sizes>,
    /// Channel groups (default 1; the input channels for depthwise).
    #[serde(default = "one_group")]
    pub groups: usize,
}

fn one_group() -> usize {
    1
}

/// A pooling window: 1-D or 2-D as its input map is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// The input map's shape (as a convolution's `input`).
    #[serde(default)]
    pub input: Option<Vec<usize>>,
    /// Window size.
    pub kernel: Sizes,
    /// Stride (default: the kernel).
    #[serde(default)]
    pub stride: Option<Sizes>,
    /// Padding (as a convolution's); max pooling never picks it, average pooling adds 0.
    #[serde(default)]
    pub padding: Option<Sizes>,
    /// Integer average pooling: `Σ · mul >> shift` (default: the closest to
    /// dividing by the kernel's area).
    #[serde(default)]
    pub mul: Option<u32>,
    /// See `mul`.
    #[serde(default)]
    pub shift: Option<u32>,
    /// Float average pooling: whether padding counts in the divisor (default false).
    #[serde(default)]
    pub count_pad: Option<bool>,
}

/// Global average pooling (every channel to one value).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPoolSpec {
    /// The input map's shape (as a convolution's `input`).
    #[serde(default)]
    pub input: Option<Vec<usize>>,
    /// Integer: `Σ · mul >> shift` (default: the closest to dividing by the area).
    #[serde(default)]
    pub mul: Option<u32>,
    /// See `mul`.
    #[serde(default)]
    pub shift: Option<u32>,
}

/// `flatten: {}`: no parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenSpec {}

/// A layer's activation: integer forms for integer specs, float forms for
/// float specs (`weights: float`); ReLU and none in both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// No activation.
    #[default]
    None,
    /// max(0, x).
    Relu,
    /// `[lo, hi]`: min(max(x, lo), hi) on the integer output.
    Clamp([i64; 2]),
    /// `{mul, shift}` (integer) or `{alpha}` (float): the slope below zero.
    LeakyRelu(LeakySpec),
    /// `{lo, table}`: `table[clamp(x − lo, 0, len − 1)]`.
    Lut(LutSpec),
    /// Float: tanh.
    Tanh,
    /// Float: the logistic sigmoid.
    Sigmoid,
    /// Float: `[min, max]` bounds (ReLU6 is `[0, 6]`).
    Clip([f64; 2]),
    /// Float: `max(0, min(1, alpha·x + beta))`.
    HardSigmoid(HardSigmoidSpec),
    /// Float: `x·max(0, min(1, x/6 + 1/2))`.
    HardSwish,
    /// Float: GELU, the exact (erf) form.
    Gelu,
    /// Float: GELU's tanh approximation.
    GeluTanh,
}

impl Activation {
    /// The integer activation an integer spec's layer applies (`None` for
    /// none), or why it cannot: a float form, or bounds out of range.
    pub fn to_integer(&self) -> std::result::Result<Option<zlmc_ir::Activation>, String> {
        use zlmc_ir::Activation as A;
        let i16_of = |v: i64, what: &str| {
            i16::try_from(v).map_err(|_| format!("{what} {v} does not fit int16"))
        };
        let a = match self {
            Activation::None => return Ok(None),
            Activation::Relu => A::Relu,
            Activation::Clamp([lo, hi]) => A::Clamp {
                lo: i16_of(*lo, "clamp bound")?,
                hi: i16_of(*hi, "clamp bound")?,
            },
            Activation::LeakyRelu(LeakySpec {
                mul: Some(mul),
                shift: Some(shift),
                alpha: None,
            }) => A::LeakyRelu {
                mul: u8::try_from(*mul)
                    .map_err(|_| format!("leaky_relu mul {mul} must be 1..=255"))?,
                shift: u8::try_from(*shift)
                    .map_err(|_| format!("leaky_relu shift {shift} must be 1..=15"))?,
            },
            Activation::LeakyRelu(_) => {
                return Err(
                    "an integer spec's leaky_relu takes `{mul, shift}` (slope mul / 2^shift); \
                     `alpha` is for float specs"
                        .into(),
                )
            }
            Activation::Lut(l) => A::Lut {
                lo: i16_of(l.lo, "lut lo")?,
                table: l
                    .table
                    .iter()
                    .map(|&v| i16_of(v, "lut entry"))
                    .collect::<std::result::Result<_, _>>()?,
            },
            float => {
                return Err(format!(
                    "`{}` is a float activation: only a float spec (`weights: float`) takes \
                     it, and `zlmc quantize` turns it into an integer one",
                    float.name()
                ))
            }
        };
        a.check()?;
        Ok(Some(a))
    }

    /// The key naming it in a spec.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::None => "none",
            Activation::Relu => "relu",
            Activation::Clamp(_) => "clamp",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Lut(_) => "lut",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Clip(_) => "clip",
            Activation::HardSigmoid(_) => "hard_sigmoid",
            Activation::HardSwish => "hard_swish",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
        }
    }
}

/// An integer activation as a spec writes it (the `activation:` value).
pub fn activation_yaml(a: &zlmc_ir::Activation) -> String {
    use zlmc_ir::Activation as A;
    match a {
        A::Relu => "relu".to_string(),
        A::Clamp { lo, hi } => format!("{{clamp: [{lo}, {hi}]}}"),
        A::LeakyRelu { mul, shift } => format!("{{leaky_relu: {{mul: {mul}, shift: {shift}}}}}"),
        A::Lut { lo, table } => {
            let t: Vec<String> = table.iter().map(i16::to_string).collect();
            format!("{{lut: {{lo: {lo}, table: [{}]}}}}", t.join(", "))
        }
    }
}

/// A leaky ReLU's slope: `mul / 2^shift` (integer specs) or `alpha` (float).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakySpec {
    /// Numerator of the integer slope.
    pub mul: Option<i64>,
    /// Log2 of its denominator.
    pub shift: Option<i64>,
    /// The float slope.
    pub alpha: Option<f64>,
}

/// A lookup-table activation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LutSpec {
    /// The input the first entry stands for.
    pub lo: i64,
    /// Outputs for inputs `lo, lo + 1, …`.
    pub table: Vec<i64>,
}

/// A hard sigmoid's parameters (ONNX's defaults: 0.2 and 0.5).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardSigmoidSpec {
    /// Slope.
    #[serde(default = "default_hs_alpha")]
    pub alpha: f64,
    /// Offset.
    #[serde(default = "default_hs_beta")]
    pub beta: f64,
}

fn default_hs_alpha() -> f64 {
    0.2
}

fn default_hs_beta() -> f64 {
    0.5
}

/// What the predicted class means.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputSpec {
    /// Class labels, in class order.
    Classify(Vec<String>),
    /// Autoregressive character generation.
    Generate(GenerateSpec),
    /// Values: the last layer's outputs are the answer.
    Values(ValuesSpec),
}

/// How a values model's int16 outputs map to floats (`scale·(q − zero_point)`);
/// a float spec leaves both out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesSpec {
    /// Float value of one output step.
    pub scale: Option<f64>,
    /// The integer that stands for 0.0.
    #[serde(default)]
    pub zero_point: i32,
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
