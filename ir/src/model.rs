//! A whole model: how text becomes the input vector, the graph, and how outputs
//! become a reply.

use crate::graph::Graph;

/// Fills a slice of the input vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoder {
    /// z80ai's query hash: trigrams of the padded, lower-cased query, `value`
    /// added to bucket `hash & (buckets - 1)`.
    QueryTrigram { buckets: usize, value: i16 },
    /// z80ai's context hash: 1-, 2- and 3-grams of the last `length` reply
    /// characters, each n-gram seeded with its position times 7.
    ContextNgram {
        buckets: usize,
        length: usize,
        value: i16,
    },
    /// `len` int16 values given directly by the caller; `quant` says how float
    /// features map to them when the model was quantized from a float one.
    Raw {
        len: usize,
        quant: Option<InputQuant>,
    },
}

/// How a float feature becomes an int16 input: `q = round(x / scale) + zero_point`,
/// saturated to int16; `x ≈ scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy)]
pub struct InputQuant {
    /// Float value of one input step (positive, finite).
    pub scale: f64,
    /// The integer that stands for 0.0.
    pub zero_point: i32,
    /// The declared float range of every feature, `(min, max)`, when known; static
    /// range analysis starts from it.
    pub range: Option<(f64, f64)>,
}

impl InputQuant {
    /// The int16 input for float feature `x`: clamped to the declared range,
    /// divided by the scale, rounded half away from zero, zero point added,
    /// saturated (NaN maps to the zero point).
    pub fn quantize(&self, x: f64) -> i16 {
        if x.is_nan() {
            return self.zero_point.clamp(-32768, 32767) as i16;
        }
        let x = match self.range {
            Some((lo, hi)) => x.clamp(lo, hi),
            None => x,
        };
        let q = (x / self.scale).round() + self.zero_point as f64;
        q.clamp(-32768.0, 32767.0) as i16
    }

    /// The declared range in input units, `(lo, hi)`, when a range is declared.
    pub fn int_range(&self) -> Option<(i64, i64)> {
        self.range
            .map(|(lo, hi)| (self.quantize(lo) as i64, self.quantize(hi) as i64))
    }
}

// Compared bit for bit, so that a printed and re-parsed model is equal to itself.
impl PartialEq for InputQuant {
    fn eq(&self, o: &InputQuant) -> bool {
        let bits = |r: Option<(f64, f64)>| r.map(|(a, b)| (a.to_bits(), b.to_bits()));
        self.scale.to_bits() == o.scale.to_bits()
            && self.zero_point == o.zero_point
            && bits(self.range) == bits(o.range)
    }
}

impl Eq for InputQuant {}

impl Encoder {
    /// Number of input elements the encoder fills.
    pub fn len(&self) -> usize {
        match *self {
            Encoder::QueryTrigram { buckets, .. } => buckets,
            Encoder::ContextNgram { buckets, .. } => buckets,
            Encoder::Raw { len, .. } => len,
        }
    }

    /// Whether the encoder fills no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the predicted class means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    /// Autoregressive text: class `i` is byte `charset[i]`; `eos` ends the reply,
    /// which is at most `max_length` bytes long.
    Generate {
        charset: Vec<u8>,
        eos: usize,
        max_length: usize,
    },
    /// One-shot classification: class `i` is `labels[i]`.
    Classify { labels: Vec<String> },
    /// Values (regression, scores): the answer is the `count` int16 outputs
    /// of the last layer, each standing for `scale·(q − zero_point)`. The
    /// graph still ends in `argmax`, whose operand they are.
    Values {
        /// Number of values.
        count: usize,
        /// What one output step is worth.
        quant: OutputQuant,
    },
}

/// How an int16 output maps to a float value: `v = scale·(q − zero_point)`.
#[derive(Debug, Clone, Copy)]
pub struct OutputQuant {
    /// Float value of one output step (positive, finite).
    pub scale: f64,
    /// The integer that stands for 0.0.
    pub zero_point: i32,
}

impl OutputQuant {
    /// The float value output `q` stands for.
    pub fn value(&self, q: i16) -> f64 {
        self.scale * (q as f64 - self.zero_point as f64)
    }

    /// The values `qs` stand for, in Rust's shortest round-trip form,
    /// separated by single spaces: the line `zlmc run` prints.
    pub fn text(&self, qs: &[i16]) -> String {
        let v: Vec<String> = qs.iter().map(|&q| format!("{}", self.value(q))).collect();
        v.join(" ")
    }
}

// Compared bit for bit, so that a printed and re-parsed model is equal to itself.
impl PartialEq for OutputQuant {
    fn eq(&self, o: &OutputQuant) -> bool {
        self.scale.to_bits() == o.scale.to_bits() && self.zero_point == o.zero_point
    }
}

impl Eq for OutputQuant {}

impl Decode {
    /// A generating model's `(charset, eos, max_length)`; `None` for a classifier.
    pub fn generation(&self) -> Option<(&[u8], usize, usize)> {
        match self {
            Decode::Generate {
                charset,
                eos,
                max_length,
            } => Some((charset, *eos, *max_length)),
            Decode::Classify { .. } | Decode::Values { .. } => None,
        }
    }

    /// What class `class` prints as: its label, or its charset byte (`None`
    /// for a values model, whose answer is not a class).
    pub fn answer(&self, class: usize) -> Option<Vec<u8>> {
        match self {
            Decode::Classify { labels } => labels.get(class).map(|l| l.clone().into_bytes()),
            Decode::Generate { charset, .. } => charset.get(class).map(|&c| vec![c]),
            Decode::Values { .. } => None,
        }
    }
}

/// A model: name, input encoding, graph and output decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Identifier used for generated files and C symbols.
    pub name: String,
    /// Encoders, in input order; their lengths add up to the graph's input length.
    pub encoders: Vec<Encoder>,
    /// How to read the predicted class.
    pub decode: Decode,
    /// The network.
    pub graph: Graph,
}

impl Model {
    /// Total input length the encoders produce.
    pub fn input_len(&self) -> usize {
        self.encoders.iter().map(Encoder::len).sum()
    }

    /// Whether the input is text (every encoder hashes text) rather than raw vectors.
    pub fn takes_text(&self) -> bool {
        self.encoders
            .iter()
            .all(|e| !matches!(e, Encoder::Raw { .. }))
    }

    /// The input quantization of a raw model quantized from a float one.
    pub fn input_quant(&self) -> Option<InputQuant> {
        self.encoders.iter().find_map(|e| match e {
            Encoder::Raw { quant, .. } => *quant,
            _ => None,
        })
    }

    /// Number of output classes (of values, for a values model).
    pub fn classes(&self) -> usize {
        match &self.decode {
            Decode::Generate { charset, .. } => charset.len(),
            Decode::Classify { labels } => labels.len(),
            Decode::Values { count, .. } => *count,
        }
    }
}
