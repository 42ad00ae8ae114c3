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
    /// `len` int16 values given directly by the caller.
    Raw { len: usize },
}

impl Encoder {
    /// Number of input elements the encoder fills.
    pub fn len(&self) -> usize {
        match *self {
            Encoder::QueryTrigram { buckets, .. } => buckets,
            Encoder::ContextNgram { buckets, .. } => buckets,
            Encoder::Raw { len } => len,
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

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        match &self.decode {
            Decode::Generate { charset, .. } => charset.len(),
            Decode::Classify { labels } => labels.len(),
        }
    }
}
