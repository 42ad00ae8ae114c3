//! What a step is expected to cost, beside its worst case: the gap-nibble
//! kernels skip the column of every zero input, so their cycles depend on how
//! many inputs are non-zero. The expected figure takes the shares below; the
//! worst case takes every input as non-zero (docs/avr.md). The dense
//! kernels' second pass runs when some input of a layer leaves 0..=255: it is
//! expected where the inputs' declared range or the activation before the
//! layer says they do, and counted in the worst case wherever they may.

use zlmc_ir::{Encoder, Model};

use super::activation;
use super::coding::Coding;
use super::conv::{Stage, StageOp};
use super::dense;
use super::plan::Allocation;
use crate::lowered::{Activation, FusedLayer, InputPart, PartKind};

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

/// Whether a layer's inputs leave 0..=255, so that a dense kernel's second
/// pass runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wide {
    /// On a typical input.
    pub expected: bool,
    /// On some input.
    pub possible: bool,
}

impl Wide {
    const NEVER: Wide = Wide {
        expected: false,
        possible: false,
    };
    const ALWAYS: Wide = Wide {
        expected: true,
        possible: true,
    };
    const MAYBE: Wide = Wide {
        expected: false,
        possible: true,
    };
}

/// Per layer, whether its inputs leave 0..=255. The model's raw inputs do
/// when their declared range quantizes outside it; a hidden layer's inputs
/// never do after a clamp or table within 0..=255, are taken to be in it
/// after ReLU (what the quantizer plans for: see `--activations`), and are
/// signed, so do, after anything else.
pub fn wide_inputs(model: &Model, layers: &[FusedLayer]) -> Vec<Wide> {
    (0..layers.len())
        .map(|k| match k {
            0 => raw_inputs(model),
            _ => after(layers[k - 1].activation.as_ref()),
        })
        .collect()
}

/// Whether the conv and pool layers' last map leaves 0..=255, the first
/// dense layer's inputs: a conv's activation says so as a dense layer's
/// does; a pool keeps its input's range unless its own activation says otherwise.
pub fn after_front(model: &Model, front: &[Stage]) -> Wide {
    front
        .iter()
        .fold(raw_inputs(model), |w, s| match (&s.op, &s.activation) {
            (StageOp::Conv { .. }, a) => after(a.as_ref()),
            (_, Some(a)) => after(Some(a)),
            (_, None) => w,
        })
}

/// Whether the outputs of activation `a` leave 0..=255.
fn after(a: Option<&Activation>) -> Wide {
    let byte = |v: i16| (0..=255).contains(&v);
    match a {
        Some(Activation::Clamp { lo, hi }) if byte(*lo) && byte(*hi) => Wide::NEVER,
        Some(Activation::Lut { table, .. }) if table.iter().all(|&v| byte(v)) => Wide::NEVER,
        Some(Activation::Relu) => Wide::MAYBE,
        Some(Activation::Clamp { lo, .. }) if *lo >= 0 => Wide::MAYBE,
        _ => Wide::ALWAYS,
    }
}

/// Whether the model's raw inputs leave 0..=255 (text inputs go to the gap
/// kernels, which have no second pass).
fn raw_inputs(model: &Model) -> Wide {
    let mut w = Wide::NEVER;
    for e in &model.encoders {
        if let Encoder::Raw { quant, .. } = e {
            let range = quant.as_ref().and_then(|q| q.int_range());
            let part = match range {
                Some((lo, hi)) if lo >= 0 && hi <= 255 => Wide::NEVER,
                Some(_) => Wide::ALWAYS,
                None => Wide::MAYBE,
            };
            w.expected |= part.expected;
            w.possible |= part.possible;
        }
    }
    w
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
/// sums are kept for a reply; `wide` whether the layer's inputs leave 0..=255.
pub fn layer(
    layers: &[FusedLayer],
    k: usize,
    f: Coding,
    text: &[InputPart],
    cache: bool,
    wide: Wide,
) -> Cycles {
    let l = &layers[k];
    // The epilogue's activation, where a later layer's walk may take it in.
    let act = l.rows() * activation::cycles(l.activation.as_ref(), k + 1 < layers.len());
    let mut c = layer_columns(layers, k, f, text, cache, wide);
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
    wide: Wide,
) -> Cycles {
    let l = &layers[k];
    if f.is_dense() {
        let c = dense::predicted_cycles(l, f);
        let second = dense::high_pass_cycles(l, f);
        return Cycles {
            expected: c + if wide.expected { second } else { 0 },
            worst: c + if wide.possible { second } else { 0 },
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

/// What the expected figures of `layers` (as `a` plans them) take, for the
/// summary; empty when no figure depends on the inputs.
/// `front` says whether conv and pool layers come before the dense ones.
pub fn basis(layers: &[FusedLayer], a: &Allocation, front: bool) -> String {
    let (codings, text, cache) = (&a.codings, &a.text[..], a.cache);
    let gap = |k: usize| !codings[k].is_dense();
    let mut v = Vec::new();
    let narrow = |k: usize| !gap(k) && a.wide[k] == Wide::MAYBE;
    if narrow(0) && !front {
        v.push("raw inputs in 0..255 (no range is declared)".to_string());
    }
    if (1..layers.len()).any(narrow) || (front && narrow(0)) {
        v.push("ReLU outputs in 0..255 (the 8-bit plan of `--activations`)".to_string());
    }
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
