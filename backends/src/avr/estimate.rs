//! What a step is expected to cost, beside its worst case: the gap-nibble
//! kernels skip the column of every zero input, so their cycles depend on how
//! many inputs are non-zero. The expected figure takes the shares below; the
//! worst case takes every input as non-zero (docs/avr.md).

use super::activation;
use super::coding::Coding;
use super::dense;
use crate::lowered::{FusedLayer, InputPart, PartKind};

/// Share of a hidden layer's inputs taken as non-zero: ReLU zeroes most
/// hidden units (tinychat, on expected.tsv's queries: 19 %, 35 % and 36 % of
/// its layers 2–4's inputs are non-zero).
pub const LIVE_HIDDEN: f64 = 1.0 / 3.0;
/// Share of raw inputs taken as non-zero (digit-like inputs are about half zero).
pub const LIVE_RAW: f64 = 0.5;
/// Characters of a typical query: its trigrams fill about as many buckets
/// (tinychat's queries fill 11.5 of 128 on average).
pub const TYPICAL_QUERY: usize = 12;
/// Steps of a typical reply, over which kept query sums are spread (tinychat: 4.6).
pub const TYPICAL_REPLY: usize = 5;
/// Cycles of a gap-nibble column whose input is zero.
const SKIP: usize = 14;
/// Cycles per byte of copying the query sums in or out of the cache.
const COPY_PER_BYTE: usize = 6;

/// A pass's cycles as predicted on the Uno: what to expect, and the worst case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cycles {
    /// With the shares of non-zero inputs above.
    pub expected: usize,
    /// With every input non-zero (and, with a query cache, a reply's first step).
    pub worst: usize,
}

impl std::ops::Add for Cycles {
    type Output = Cycles;
    fn add(self, o: Cycles) -> Cycles {
        Cycles {
            expected: self.expected + o.expected,
            worst: self.worst + o.worst,
        }
    }
}

/// Cycles of a gap-nibble column in coding `f` when its input is non-zero.
pub fn gap_column(col: &[(usize, i8)], f: Coding, acc_bytes: usize) -> usize {
    let per_entry = match (f, acc_bytes) {
        (Coding::PlusMinus, 2) => 14,
        (Coding::PlusMinus, _) => 18,
        (_, 2) => 20,
        _ => 26,
    };
    let entries: usize = match f {
        Coding::PlusMinus => col.iter().map(|e| e.1.unsigned_abs() as usize).sum(),
        _ => col.len(),
    };
    let groups = match f {
        Coding::PlusMinus => 2,
        _ => {
            let mut v: Vec<i8> = col.iter().map(|e| e.1).collect();
            v.sort_unstable();
            v.dedup();
            v.len() + 1
        }
    };
    40 + 22 * groups + per_entry * entries
}

/// Cycles of setting a gap-nibble layer's accumulators to its biases.
pub fn gap_init(l: &FusedLayer) -> usize {
    2 * l.acc_bytes() * l.rows() + 20
}

/// Cycles of `l`'s columns in `cols`, each input non-zero with probability `live`.
fn gap_columns(l: &FusedLayer, f: Coding, cols: std::ops::Range<usize>, live: f64) -> f64 {
    l.columns[cols]
        .iter()
        .map(|c| live * gap_column(c, f, l.acc_bytes()) as f64 + (1.0 - live) * SKIP as f64)
        .sum()
}

/// Expected distinct buckets `hashes` hashes fill of `buckets`.
fn filled(hashes: usize, buckets: usize) -> f64 {
    let b = buckets as f64;
    b * (1.0 - (1.0 - 1.0 / b).powi(hashes as i32))
}

/// Share of a text part's buckets a step finds non-zero.
fn text_share(part: &InputPart) -> f64 {
    let hashes = match part.kind {
        PartKind::QueryTrigram => TYPICAL_QUERY,
        // 1-, 2- and 3-grams of the (space-padded) context.
        PartKind::ContextNgram { length } => (1..=3).map(|n| (length + 1).saturating_sub(n)).sum(),
        PartKind::Raw => return LIVE_RAW,
    };
    filled(hashes, part.len()) / part.len() as f64
}

/// Layer `k`'s cycles per step in coding `f`. `text` is the input's text
/// parts (layer 1 of a text model walks them); `cache` whether the query's
/// sums are kept for a reply.
pub fn layer(
    layers: &[FusedLayer],
    k: usize,
    f: Coding,
    text: &[InputPart],
    cache: bool,
) -> Cycles {
    let l = &layers[k];
    // The epilogue's activation, where a later layer's walk may take it in.
    let act = l.rows() * activation::cycles(l.activation.as_ref(), k + 1 < layers.len());
    let mut c = layer_columns(layers, k, f, text, cache);
    c.expected += act;
    c.worst += act;
    c
}

/// Layer `k`'s cycles per step in coding `f` but for its activation (see [`layer`]).
fn layer_columns(
    layers: &[FusedLayer],
    k: usize,
    f: Coding,
    text: &[InputPart],
    cache: bool,
) -> Cycles {
    let l = &layers[k];
    if f.is_dense() {
        let mut c = dense::predicted_cycles(l, f);
        if k > 0 && activation::leaves_a_byte(layers[k - 1].activation.as_ref()) == Some(false) {
            c += dense::high_pass_cycles(l, f);
        }
        return Cycles {
            expected: c,
            worst: c,
        };
    }
    let all = gap_columns(l, f, 0..l.cols, 1.0) as usize;
    let init = gap_init(l);
    if k > 0 || text.is_empty() {
        let live = match k {
            0 => LIVE_RAW,
            // ReLU, or a clamp at 0 (ReLU6), zeroes the negative outputs.
            _ if activation::needs_zero(layers[k - 1].activation.as_ref()) => LIVE_HIDDEN,
            _ => 1.0,
        };
        return Cycles {
            expected: init + gap_columns(l, f, 0..l.cols, live) as usize,
            worst: init + all,
        };
    }
    let mut per_step = 0.0;
    let mut per_query = init as f64;
    for part in text {
        let c = gap_columns(l, f, part.words.clone(), text_share(part));
        if cache && part.is_query() {
            per_query += c;
        } else {
            per_step += c;
        }
    }
    let copy = if cache {
        COPY_PER_BYTE * l.rows() * l.acc_bytes()
    } else {
        0
    };
    let per_query = if cache {
        per_query / TYPICAL_REPLY as f64
    } else {
        per_query
    };
    Cycles {
        expected: (per_step + per_query) as usize + copy,
        worst: init + all + copy,
    }
}

/// What the expected figures of `layers` (in `codings`) take, for the summary;
/// empty when no figure depends on the inputs.
pub fn basis(layers: &[FusedLayer], codings: &[Coding], text: &[InputPart], cache: bool) -> String {
    let gap = |k: usize| !codings[k].is_dense();
    let mut v = Vec::new();
    if (1..layers.len())
        .any(|k| gap(k) && activation::needs_zero(layers[k - 1].activation.as_ref()))
    {
        v.push("a third of a hidden layer's inputs non-zero after ReLU".to_string());
    }
    if gap(0) && text.is_empty() {
        v.push("half of the raw inputs non-zero".to_string());
    }
    if gap(0) && text.iter().any(InputPart::is_query) {
        v.push(format!("queries of about {TYPICAL_QUERY} characters"));
    }
    if cache {
        v.push(format!("replies of about {TYPICAL_REPLY} steps"));
    }
    v.join(", ")
}
