//! The AVR backend: a model becomes an Arduino sketch folder — `NAME.ino` (a
//! Serial chat), `NAME_model.S` (the model in avr-gcc assembly, tables in
//! flash) and `NAME_model.h` (the C backend's API) — planned to fit the
//! board's flash and SRAM. See docs/avr.md.

mod activation;
mod board;
mod buffer;
mod build;
mod code;
mod coding;
mod conv;
mod dense;
mod estimate;
mod float_input;
pub mod inst;
mod kernels;
mod plan;
pub mod sim;
mod tables;
pub mod target;

use askama::Template;
use zlmc_ir::{Decode, Encoder, Model};

use crate::lowered::{Activation, FusedLayer, Unsupported};
use crate::target::{SramUse, Verified};
use crate::{BackendError, Provenance};
pub use board::{Board, BOARDS};
pub use coding::Coding;
pub use estimate::Cycles;
pub use plan::{CacheChoice, SKETCH_FLASH, SKETCH_SRAM, STACK_RESERVE};

/// The generated sketch folder.
#[derive(Debug, Clone)]
pub struct AvrFiles {
    /// Name of the sketch folder (and of the `.ino`): the model name.
    pub dir_name: String,
    /// `(file name, contents)` of `NAME.ino`, `NAME_model.S`, `NAME_model.h`.
    pub files: Vec<(String, String)>,
    /// The assembly (also in `files`).
    pub asm: String,
    /// The sizes and layout chosen.
    pub report: Report,
}

/// One layer's kernel and its costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerReport {
    /// Outputs.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// The coding of its weights, which names its kernel.
    pub coding: Coding,
    /// Bytes of its table (weights, and biases where the table holds them).
    pub bytes: usize,
    /// Cycles of one step on the Uno, expected and at worst (see docs/avr.md).
    pub cycles: Cycles,
}

/// One conv or pool layer's kernel and its costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    /// What it computes: `conv 1x8x8 -> 4x8x8, window 3x3 stride 1x1, …`.
    pub what: String,
    /// Its kernel.
    pub kernel: &'static str,
    /// Bytes of its table (channel records, weights, constants).
    pub bytes: usize,
    /// Cycles of one step on the Uno: inputs in 0..=255, and at worst.
    pub cycles: Cycles,
}

/// What the plan chose and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The board.
    pub board: Board,
    /// Bytes of flash tables (weights, biases, charset or labels).
    pub tables: usize,
    /// Bytes of model code.
    pub code: usize,
    /// Bytes of static RAM the model takes.
    pub sram: usize,
    /// Estimated flash of the Arduino core and the sketch.
    pub sketch_flash: usize,
    /// Estimated static RAM of the Arduino core and the sketch.
    pub sketch_sram: usize,
    /// Per conv or pool layer (before the dense ones): what its kernel is and costs.
    pub front: Vec<StageReport>,
    /// Bytes of SRAM the conv and pool layers' maps and scratch take (in `sram`).
    pub front_sram: usize,
    /// Whether the dense layers' buffers reuse the conv layers' scratch.
    pub dense_in_scratch: bool,
    /// Per dense layer: what its kernel is and costs.
    pub layers: Vec<LayerReport>,
    /// Whether layer 1's query sums are kept for a reply.
    pub query_cache: bool,
    /// How the query cache was weighed, when the model could have one.
    pub cache_choice: Option<CacheChoice>,
    /// What the expected cycles take about the inputs.
    pub basis: String,
}

impl Report {
    /// Flash the model takes (tables and code).
    pub fn model_flash(&self) -> usize {
        self.tables + self.code
    }

    /// One line per fact, for `zlmc build` and `zlmc sim`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "avr {}: model {} bytes of flash ({} tables + {} code), {} bytes of SRAM; \
             with the Arduino core and sketch about {} of {} bytes of flash and {} of {} bytes of SRAM",
            self.board,
            self.model_flash(),
            self.tables,
            self.code,
            self.sram,
            self.model_flash() + self.sketch_flash,
            self.board.flash(),
            self.sram + self.sketch_sram,
            self.board.sram()
        );
        for (j, f) in self.front.iter().enumerate() {
            s.push_str(&format!(
                "\n  layer {}: {}, kernel {}, {} bytes, {}",
                j + 1,
                f.what,
                f.kernel,
                f.bytes,
                cycles_text(f.cycles)
            ));
        }
        if self.front_sram > 0 {
            s.push_str(&format!(
                "\n  conv and pool maps: {} bytes of SRAM (one map, each layer's over the last, and a \
                 padded scratch{})",
                self.front_sram,
                if self.dense_in_scratch {
                    ", which the dense layers' buffers reuse"
                } else {
                    ""
                }
            ));
        }
        for (k, l) in self.layers.iter().enumerate() {
            s.push_str(&format!(
                "\n  layer {}: {} x {}, kernel {}, {} bytes, {}",
                self.front.len() + k + 1,
                l.rows,
                l.cols,
                l.coding.kernel(),
                l.bytes,
                cycles_text(l.cycles)
            ));
        }
        let total = self
            .front
            .iter()
            .map(|f| f.cycles)
            .chain(self.layers.iter().map(|l| l.cycles))
            .fold(Cycles::default(), |t, c| t + c);
        s.push_str(&format!("\n  a step: {}", cycles_text(total)));
        if total.worst != total.expected {
            s.push_str(&format!(
                "\n  (expected: {}; worst: every input non-zero, and outside 0..255 where it can be)",
                self.basis
            ));
        }
        if let Some(c) = self.cache_choice {
            s.push_str(&cache_text(self.query_cache, c, self.board.sram()));
        }
        s
    }
}

/// A pass's cycles for the summary: the expected figure, and the worst case
/// beside it where it differs.
fn cycles_text(c: Cycles) -> String {
    if c.worst == c.expected {
        format!("about {} cycles predicted", c.expected)
    } else {
        format!(
            "about {} cycles expected ({} at worst)",
            c.expected, c.worst
        )
    }
}

/// What the plan chose about the query cache, and why.
fn cache_text(kept: bool, c: CacheChoice, sram: usize) -> String {
    let with = format!(
        "{} bytes of SRAM, static RAM about {} of {sram} bytes with them",
        c.bytes, c.static_with
    );
    match (kept, c.sram) {
        (true, SramUse::Safe) => format!(
            "\n  layer 1's query sums kept for each reply ({with}, under the 75 % the Arduino \
             IDE warns above; about {} fewer cycles per step)",
            c.saves
        ),
        (true, SramUse::Fast) => format!(
            "\n  layer 1's query sums kept for each reply (--sram fast: {with}; about {} fewer \
             cycles per step)",
            c.saves
        ),
        (false, SramUse::Safe) => format!(
            "\n  layer 1's query sums not kept: {with}, over the {} bytes (75 %) the Arduino IDE \
             warns above; --sram fast keeps them, about {} fewer cycles per step",
            c.limit, c.saves
        ),
        (false, SramUse::Fast) => format!(
            "\n  layer 1's query sums not kept: {with}, more than the {} bytes the stack \
             leaves room for",
            c.limit
        ),
    }
}

#[derive(Template)]
#[template(path = "avr/model.h.txt", escape = "none")]
struct HeaderTemplate<'a> {
    c: &'a View,
}

#[derive(Template)]
#[template(path = "avr/sketch.ino.txt", escape = "none")]
struct SketchTemplate<'a> {
    c: &'a View,
}

/// What the header and sketch templates need.
struct View {
    banner: String,
    p: String,
    up: String,
    inputs: usize,
    classes: usize,
    max_length: Option<usize>,
    ctx_len: usize,
    text: bool,
    has_context: bool,
    nul_in_charset: bool,
    classify: bool,
    generate: bool,
    text_step: bool,
    reply_buf: usize,
    board: String,
    mcu: String,
    mhz: f64,
    /// Whether the model reads float features (it was quantized from a float one).
    quant: bool,
    /// How a float feature becomes an input, for the header's macros.
    input: Option<InputView>,
    /// The longest value the sketch reads.
    token_max: usize,
    /// A values model's output scale and zero point, for the header's macros.
    values: Option<(String, i32)>,
}

/// The header's input quantization: scale, zero point and range as C literals.
struct InputView {
    scale: String,
    zero_point: i32,
    range: Option<(String, String)>,
}

/// Generate the sketch folder for `model` on `board`, or say why it cannot fit:
/// the fastest kernels, or where they do not fit the most compact ones.
pub fn emit(
    model: &Verified,
    prov: &Provenance,
    board: Board,
    sram: SramUse,
) -> Result<AvrFiles, BackendError> {
    // The layers are fused once for both plans.
    let (front, ls) = conv::split(model.lowered(), "AVR")?;
    if let Decode::Values { .. } = model.model().decode {
        if model.model().takes_text() {
            return Err(Unsupported::ValuesFromText { backend: "AVR" }.into());
        }
    }
    match emit_for(model, &front, &ls, prov, board, plan::Goal::Fast, sram) {
        Err(BackendError::TooBig { .. }) => {
            emit_for(model, &front, &ls, prov, board, plan::Goal::Small, sram)
        }
        r => r,
    }
}

fn emit_for(
    model: &Verified,
    front: &[conv::Stage],
    ls: &[FusedLayer],
    prov: &Provenance,
    board: Board,
    goal: plan::Goal,
    sram: SramUse,
) -> Result<AvrFiles, BackendError> {
    let lowered = model.lowered();
    let model = model.model();
    let p = lowered.symbol_prefix()?;
    let mut allocation = plan::allocate(lowered, ls, board, goal, sram)?;
    if !front.is_empty() {
        // The first dense layer reads the conv and pool layers' last map.
        let w = estimate::after_front(model, front);
        allocation.wide[0] = w;
        allocation.cycles[0] = estimate::layer(
            ls,
            0,
            allocation.codings[0],
            &allocation.text,
            allocation.cache,
            w,
        );
    }
    let (generate, charset, labels) = match &model.decode {
        Decode::Generate {
            charset,
            eos,
            max_length,
        } => (Some((*eos, *max_length)), Some(charset.as_slice()), None),
        Decode::Classify { labels } => (None, None, Some(labels.as_slice())),
        Decode::Values { .. } => (None, None, None),
    };
    if let Some(l) = labels {
        if l.iter().map(|s| s.len() + 1).sum::<usize>() > 65535 {
            return Err(Unsupported::LabelsTooLong { max: 65535 }.into());
        }
    }
    let extra = tables::Extra { charset, labels };
    let g = code::Gen {
        p,
        front,
        layers: ls,
        allocation: &allocation,
        far: board.far_flash(),
        generate,
        classify: labels.is_some(),
        text_api: model.takes_text(),
        inputs: model.input_len(),
    };

    let mut a = buffer::Buffer::default();
    a.raw(format!("{}\n", prov.banner()));
    a.raw(description(model, front, ls, &allocation, board));
    a.raw("#include <avr/io.h>\n\n");
    let memory = conv::Memory::of(front);
    let dense_bufs = allocation.bufs[0] + allocation.bufs[1];
    let within = memory.holds(dense_bufs).then(|| format!("{p}_pad"));
    conv::buffers(&mut a, p, &memory);
    tables::buffers(&mut a, p, ls, &allocation, within.as_deref());
    a.blank();
    g.code(&mut a);
    a.blank();
    tables::tables(&mut a, p, ls, &allocation, &extra, board.far_flash());
    conv::tables(&mut a, p, front);
    // Only the code holds instructions: the buffer's bytes are the code's.
    let (text, code_bytes) = a.finish();

    let report = Report {
        board,
        tables: tables::table_bytes(ls, &allocation, &extra) + conv::table_bytes(front),
        code: code_bytes,
        sram: allocation.sram(ls) + memory.sram() - if within.is_some() { dense_bufs } else { 0 },
        sketch_flash: SKETCH_FLASH
            + if model.input_quant().is_some() {
                float_input::FLASH
            } else {
                0
            },
        sketch_sram: plan::sketch_sram(model),
        front: front
            .iter()
            .enumerate()
            .map(|(j, s)| StageReport {
                what: s.describe(),
                kernel: s.kernel(),
                bytes: s.table().len(),
                cycles: conv::predicted(s, g.front_pieces(j)),
            })
            .collect(),
        front_sram: memory.sram(),
        dense_in_scratch: within.is_some(),
        layers: ls
            .iter()
            .enumerate()
            .map(|(k, l)| LayerReport {
                rows: l.rows(),
                cols: l.cols,
                coding: allocation.codings[k],
                bytes: allocation.coded[k].bytes.len()
                    + tables::bias_bytes(l, allocation.codings[k]),
                cycles: allocation.cycles[k],
            })
            .collect(),
        query_cache: allocation.cache,
        cache_choice: allocation.cache_choice,
        basis: estimate::basis(ls, &allocation, !front.is_empty()),
    };
    check_fit(&report)?;

    let generate_model = generate.is_some();
    let view = View {
        banner: prov.banner(),
        p: p.to_string(),
        up: p.to_ascii_uppercase(),
        inputs: model.input_len(),
        classes: model.classes(),
        max_length: generate.map(|g| g.1),
        ctx_len: allocation.ctx_len,
        text: model.takes_text(),
        has_context: model
            .encoders
            .iter()
            .any(|e| matches!(e, Encoder::ContextNgram { .. })),
        nul_in_charset: match &model.decode {
            Decode::Generate { charset, eos, .. } => charset
                .iter()
                .enumerate()
                .any(|(i, &b)| b == 0 && i != *eos),
            Decode::Classify { .. } | Decode::Values { .. } => false,
        },
        classify: labels.is_some(),
        generate: generate_model,
        text_step: generate_model || (labels.is_some() && model.takes_text()),
        reply_buf: generate.map(|g| plan::reply_buffer(g.1)).unwrap_or(0),
        board: board.title().to_string(),
        mcu: board.mcu().to_string(),
        mhz: board.machine().mhz(),
        quant: model.input_quant().is_some(),
        input: model.input_quant().map(|q| InputView {
            scale: format!("{:?}", q.scale),
            zero_point: q.zero_point,
            range: q
                .range
                .map(|(lo, hi)| (format!("{lo:?}"), format!("{hi:?}"))),
        }),
        token_max: float_input::TOKEN_MAX,
        values: match &model.decode {
            Decode::Values { quant, .. } => Some((format!("{:?}", quant.scale), quant.zero_point)),
            _ => None,
        },
    };
    let input_c = match model.input_quant() {
        Some(q) => Some(float_input::source(&prov.banner(), p, &q)?),
        None => None,
    };
    // Askama drops a template's final newline; source files should end with one.
    let header = HeaderTemplate { c: &view }
        .render()
        .expect("rendering the AVR header cannot fail")
        + "\n";
    let ino = SketchTemplate { c: &view }
        .render()
        .expect("rendering the sketch cannot fail")
        + "\n";
    let asm = text;
    let mut files = vec![
        (format!("{p}.ino"), ino),
        (format!("{p}_model.S"), asm.clone()),
        (format!("{p}_model.h"), header),
    ];
    if let Some(c) = input_c {
        files.push((format!("{p}_input.c"), c));
    }
    Ok(AvrFiles {
        dir_name: p.to_string(),
        files,
        asm,
        report,
    })
}

/// The `.S` file's opening comment: the model and the layout chosen.
fn description(
    model: &Model,
    front: &[conv::Stage],
    ls: &[FusedLayer],
    allocation: &plan::Allocation,
    board: Board,
) -> String {
    let mut s = format!(
        "/*\n * Model \"{}\" for the {} ({}): avr-gcc assembly, tables in flash.\n",
        model.name,
        board.title(),
        board.mcu()
    );
    s.push_str(
        " * Gap-nibble layers code columns as row gaps in nibbles and skip the columns\n \
         * whose input is 0; dense layers run rows on the multiplier (see docs/avr.md).\n",
    );
    for (j, f) in front.iter().enumerate() {
        s.push_str(&format!(
            " * Layer {}: {}{}{}; {}.\n",
            j + 1,
            f.describe(),
            match f.op {
                conv::StageOp::Conv { .. } => format!(", shift {}", f.shift),
                _ => String::new(),
            },
            activation_text(f.activation.as_ref()),
            f.kernel()
        ));
    }
    for (k, l) in ls.iter().enumerate() {
        s.push_str(&format!(
            " * Layer {}: {} outputs from {} inputs, {} non-zero weights, {}-bit accumulators, \
             shift {}{}; {}.\n",
            front.len() + k + 1,
            l.rows(),
            l.cols,
            l.columns.iter().map(Vec::len).sum::<usize>(),
            l.acc.bits(),
            l.shift,
            activation_text(l.activation.as_ref()),
            allocation.codings[k].kernel()
        ));
    }
    if allocation.cache {
        s.push_str(" * Layer 1's sums over the query are kept for the whole reply.\n");
    }
    s.push_str(" */\n");
    s
}

/// A layer's activation in the `.S` file's opening comment.
fn activation_text(act: Option<&Activation>) -> String {
    match act {
        None => String::new(),
        Some(Activation::Relu) => ", ReLU".into(),
        Some(Activation::Clamp { lo, hi }) => format!(", clamp to {lo}..{hi}"),
        Some(Activation::LeakyRelu { mul, shift }) => {
            format!(", leaky ReLU (x * {mul} >> {shift} below 0)")
        }
        Some(Activation::Lut { lo, table }) => {
            format!(", lookup table of {} from {lo}", table.len())
        }
    }
}

/// The error for a sketch that does not fit, if it does not.
fn check_fit(r: &Report) -> Result<(), BackendError> {
    let b = r.board;
    let flash = r.model_flash() + r.sketch_flash;
    let sram = r.sram + r.sketch_sram;
    let sram_max = if r.query_cache {
        b.sram() - plan::CACHE_STACK_RESERVE
    } else {
        plan::sram_budget(b)
    };
    if flash <= b.flash() && sram <= sram_max {
        return Ok(());
    }
    let message = format!(
        "the model does not fit the {}: it needs {} bytes of flash ({} of tables, {} of code) \
         and {} bytes of SRAM; with the Arduino core and the sketch (about {} bytes of flash \
         and {} of SRAM, estimated) that is {} of the {} bytes of flash a sketch may use and \
         {} of the {} bytes of SRAM static data may take (of {}; {} stay for the stack)",
        b.name(),
        r.model_flash(),
        r.tables,
        r.code,
        r.sram,
        r.sketch_flash,
        r.sketch_sram,
        flash,
        b.flash(),
        sram,
        sram_max,
        b.sram(),
        STACK_RESERVE
    );
    let mut help = Vec::new();
    if b != Board::Mega2560 {
        help.push(format!(
            "a bigger board (--board mega2560: {} bytes of flash, {} of SRAM)",
            Board::Mega2560.flash(),
            Board::Mega2560.sram()
        ));
    }
    help.push("fewer units per layer".to_string());
    if flash > b.flash() {
        help.push("more zero weights (pruning), which cost no flash".to_string());
    }
    Err(BackendError::TooBig {
        message,
        help: help.join(", or "),
    })
}
