//! The plan (an [`Allocation`]): how each layer's weights are coded, where
//! every buffer goes in SRAM, and whether the whole sketch fits the board. All budget decisions
//! are made here.

use zlmc_ir::{Decode, Model};

use super::coding::{coding_for, encode, too_long, CodedLayer, Coding};
use super::dense;
use super::estimate::{self, Cycles};
use super::Board;
use crate::lowered::{FusedLayer, InputMap, InputPart, Lowered, Unsupported};
use crate::target::SramUse;

/// Flash the Arduino core and the generated sketch take besides the model,
/// estimated on the high side (measured: about 2.1 KB with avr-gcc 5.4 and
/// Arduino AVR core 1.8; see docs/avr.md).
pub const SKETCH_FLASH: usize = 2_800;
/// Static RAM the Arduino core (Serial's buffers, millis) and the sketch's
/// line buffer take, estimated on the high side; the reply buffer comes on top.
pub const SKETCH_SRAM: usize = 360;
/// SRAM kept free of static data for the stack (its peak is about 100 bytes)
/// with room to spare.
pub const STACK_RESERVE: usize = 512;
/// SRAM the query cache must leave free of static data: the stack's measured
/// peak with the Arduino core (about 60 bytes on tinychat) and 128 bytes that
/// stay free besides, a little more than the estimates' excess.
pub const CACHE_STACK_RESERVE: usize = 160;

/// How one model spends one board's flash and SRAM: each layer's coding and
/// coded weights, and the size of every buffer (not `target::Plan`, the
/// registry's summary of a build, which is made from it).
#[derive(Debug, Clone)]
pub struct Allocation {
    /// Per layer: the coding of its columns.
    pub codings: Vec<Coding>,
    /// Per layer: the coded columns (or a dense layer's table).
    pub coded: Vec<CodedLayer>,
    /// Per layer: the cycles of one step, expected and at worst (see [`estimate`]).
    pub cycles: Vec<Cycles>,
    /// Bytes of the two accumulator buffers (layer k uses buffer k % 2).
    pub bufs: [usize; 2],
    /// Text encoders, in input order.
    pub text: Vec<InputPart>,
    /// Bytes of the bucket counts buffer (0 without text encoders).
    pub counts: usize,
    /// Reply context length (generators).
    pub ctx_len: usize,
    /// Whether layer 1's sums over the query are kept for a whole reply.
    pub cache: bool,
    /// Why the query cache was kept or left out, when the model could have one.
    pub cache_choice: Option<CacheChoice>,
    /// Bytes of the label buffer (classifiers).
    pub label_buf: usize,
    /// Bytes of small variables.
    pub vars: usize,
    /// Per layer: whether its inputs leave 0..=255 (see [`estimate::wide_inputs`]).
    pub wide: Vec<estimate::Wide>,
}

impl Allocation {
    /// Bytes of the query cache (0 without one).
    pub fn cache_bytes(&self, layers: &[FusedLayer]) -> usize {
        if self.cache {
            layers[0].rows() * layers[0].acc_bytes()
        } else {
            0
        }
    }

    /// Static RAM the model takes.
    pub fn sram(&self, layers: &[FusedLayer]) -> usize {
        self.bufs[0]
            + self.bufs[1]
            + self.counts
            + self.ctx_len
            + self.label_buf
            + self.vars
            + self.cache_bytes(layers)
    }
}

/// The query cache's trade of SRAM for cycles, as the plan weighed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheChoice {
    /// What `--sram` asked for.
    pub sram: SramUse,
    /// Bytes the cache takes.
    pub bytes: usize,
    /// Estimated static RAM of the whole sketch with the cache.
    pub static_with: usize,
    /// The most static RAM `sram` allows with the cache.
    pub limit: usize,
    /// Cycles per step it saves (expected).
    pub saves: usize,
}

/// Static RAM above which the Arduino IDE warns of low memory: 75 % of the board's.
pub fn ide_warning_sram(board: Board) -> usize {
    board.sram() * 3 / 4
}

/// The text parts of the input, or why the AVR hashing cannot serve them.
fn text_inputs(input: &InputMap) -> Result<Vec<InputPart>, Unsupported> {
    input.check_buckets("the AVR code", 256, "a bucket index is a byte")?;
    Ok(input.text_parts().cloned().collect())
}

/// How the plan weighs a layer's kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The fewest predicted cycles.
    Fast,
    /// The fewest bytes of flash (when the fast choice does not fit).
    Small,
}

/// Cycles of a gap-nibble layer on the Uno taking half the inputs as zero
/// (their columns are skipped): the figure kernels are chosen by (what to
/// expect is [`estimate::layer`]).
pub fn gap_cycles(l: &FusedLayer, f: Coding) -> usize {
    let mut total = estimate::gap_init(l);
    for col in &l.columns {
        total += (estimate::gap_column(col, f, l.acc_bytes()) + 14) / 2;
    }
    total
}

/// Cycles of a layer in a coding that kernels are chosen by (dense: inputs in 0..=255).
pub fn predicted_cycles(l: &FusedLayer, f: Coding) -> usize {
    if f.is_dense() {
        dense::predicted_cycles(l, f)
    } else {
        gap_cycles(l, f)
    }
}

/// A layer coded in `f`: the coded layer (a dense table holds the biases too)
/// and the bytes it and the layer's own code take.
fn code_layer(l: &FusedLayer, f: Coding) -> (CodedLayer, usize) {
    if f.is_dense() {
        let bytes = dense::table(l, f);
        let n = bytes.len() + dense::layer_code_bytes(l, f);
        let s = CodedLayer {
            bytes,
            starts: Vec::new(),
            wide_len: false,
        };
        (s, n)
    } else {
        let s = encode(&l.columns, f);
        let n = s.bytes.len() + super::tables::bias_bytes(l, f);
        (s, n)
    }
}

/// Allocate a model's flash and SRAM on a board (the fit is checked once the code exists).
pub fn allocate(
    lowered: &Lowered,
    layers: &[FusedLayer],
    board: Board,
    goal: Goal,
    sram: SramUse,
) -> Result<Allocation, Unsupported> {
    let model = lowered.model;
    let mut codings = Vec::new();
    let mut coded = Vec::new();
    let generate = matches!(model.decode, Decode::Generate { .. });
    let text = if model.takes_text() || generate {
        text_inputs(&lowered.input)?
    } else {
        Vec::new()
    };
    for (k, l) in layers.iter().enumerate() {
        let gap = coding_for(l.max_abs_weight());
        if let Some(c) = too_long(&l.columns, gap) {
            return Err(Unsupported::Other(format!(
                "layer {} column {c} codes to more than 65,535 bytes",
                k + 1
            )));
        }
        let mut options = vec![gap];
        // Layer 1 of a text model walks bucket counts: gap columns only.
        if dense::usable(l) && (k > 0 || text.is_empty()) {
            options.push(Coding::Dense8);
            if dense::fits_int4(l) {
                options.push(Coding::Dense4);
            }
        }
        let (f, s) = options
            .into_iter()
            .map(|f| (f, code_layer(l, f)))
            .min_by_key(|(f, (_, bytes))| match goal {
                Goal::Fast => (predicted_cycles(l, *f), *bytes),
                Goal::Small => (*bytes, predicted_cycles(l, *f)),
            })
            .map(|(f, (s, _))| (f, s))
            .expect("a gap coding is always an option");
        coded.push(s);
        codings.push(f);
    }
    let mut bufs = [0usize; 2];
    for (k, l) in layers.iter().enumerate() {
        bufs[k % 2] = bufs[k % 2].max(l.rows() * l.acc_bytes());
    }
    let counts = text.iter().map(|t| t.len()).max().unwrap_or(0);
    let ctx_len = if generate {
        zlmc_ir::interp::context_length(model)
    } else {
        0
    };
    let label_buf = match &model.decode {
        Decode::Classify { labels } => {
            labels
                .iter()
                .map(|l| l.bytes().take_while(|&b| b != 0).count())
                .max()
                .unwrap_or(0)
                + 1
        }
        Decode::Generate { .. } | Decode::Values { .. } => 0,
    };
    let mut p = Allocation {
        codings,
        coded,
        cycles: Vec::new(),
        bufs,
        counts,
        ctx_len,
        cache: false,
        cache_choice: None,
        label_buf,
        // query pointer, hash state (pointer, two bytes, done), new-query flag
        vars: if text.is_empty() { 0 } else { 8 },
        text,
        wide: estimate::wide_inputs(model, layers),
    };
    let wide = p.wide.clone();
    // A reply's query part is the same at every step: keep it if SRAM allows.
    let has_query = p.text.iter().any(|t| t.is_query());
    let has_context = p.text.iter().any(|t| !t.is_query());
    if generate && has_query && has_context {
        let bytes = layers[0].rows() * layers[0].acc_bytes();
        let static_with = p.sram(layers) + bytes + sketch_sram(model);
        // Fast: the cache may take static RAM past the general budget; the
        // stack it then leaves is checked on the measured peak (docs/avr.md).
        let limit = match sram {
            SramUse::Safe => ide_warning_sram(board).min(sram_budget(board)),
            SramUse::Fast => board.sram() - CACHE_STACK_RESERVE,
        };
        p.cache = static_with <= limit;
        let first =
            |cache| estimate::layer(layers, 0, p.codings[0], &p.text, cache, wide[0]).expected;
        p.cache_choice = Some(CacheChoice {
            sram,
            bytes,
            static_with,
            limit,
            saves: first(false).saturating_sub(first(true)),
        });
    }
    p.cycles = (0..layers.len())
        .map(|k| estimate::layer(layers, k, p.codings[k], &p.text, p.cache, wide[k]))
        .collect();
    Ok(p)
}

/// The gap-nibble kernels the layers use, as (coding, accumulator bytes).
pub fn kernels_used(layers: &[FusedLayer], allocation: &Allocation) -> Vec<(Coding, usize)> {
    layers
        .iter()
        .zip(&allocation.codings)
        .filter(|(_, f)| !f.is_dense())
        .map(|(l, &f)| (f, l.acc_bytes()))
        .collect()
}

/// Static RAM the sketch and Arduino core take besides the model (estimate).
pub fn sketch_sram(model: &Model) -> usize {
    SKETCH_SRAM
        + match &model.decode {
            Decode::Generate { max_length, .. } => reply_buffer(*max_length),
            Decode::Classify { .. } | Decode::Values { .. } => 0,
        }
        + if model.takes_text() {
            0
        } else {
            2 * model.input_len()
        }
}

/// Size of the sketch's reply buffer for a model's longest reply.
pub fn reply_buffer(max_length: usize) -> usize {
    max_length.min(255) + 1
}

/// Static RAM a board allows: all of it but the stack's reserve.
pub fn sram_budget(board: Board) -> usize {
    board.sram() - STACK_RESERVE
}
