//! The portable C backend: a model becomes `NAME.h` and `NAME.c`, C99 without
//! malloc, floating point or stdio, bit-identical to [`zlmc_ir::interp`].
//!
//! Each matmul is stored column-major so that a zero activation skips its whole
//! column and zero weights are not stored at all: for every input `j` with
//! `x[j] != 0`, its column's non-zero weights are added into accumulators that start
//! at zero or at the bias. Within a column the rows are grouped by weight value when
//! that is no larger than storing a value per entry (always the case for dense int2,
//! ternary and binary layers): then `x[j] * value` is computed once per group and the
//! inner loop only adds. Otherwise each entry carries its weight and the inner loop
//! multiplies.

mod float_input;
mod plan;
mod tables;
pub mod target;
mod values;
mod window;

use askama::Template;
use zlmc_ir::{Decode, Elem, Encoder, Model, WeightKind, Weights};

use crate::lowered::{Activation, Step, Unsupported};
use crate::target::Verified;
use crate::Provenance;
use plan::Function;
use tables::{byte_string, signed, size_of, table, unsigned_for};

/// The generated header and source of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CFiles {
    /// File name of the header, `NAME.h`.
    pub header_name: String,
    /// Contents of the header.
    pub header: String,
    /// File name of the source, `NAME.c`.
    pub source_name: String,
    /// Contents of the source.
    pub source: String,
}

/// Generate the C header and source for a model.
pub fn emit(model: &Verified, prov: &Provenance) -> Result<CFiles, Unsupported> {
    let lowered = model.lowered();
    let model = model.model();
    let name = lowered.symbol_prefix()?;
    let functions = plan::functions(lowered)?;
    let c = Context::new(model, prov, &functions);
    // Askama drops a template's final newline; C files should end with one.
    let header = HeaderTemplate { c: &c }
        .render()
        .expect("rendering the C header cannot fail")
        + "\n";
    let mut source = SourceTemplate { c: &c }
        .render()
        .expect("rendering the C source cannot fail")
        + "\n";
    let mut header = header;
    if let Some(q) = model.input_quant() {
        let guard = "\n#ifdef __cplusplus\n}";
        let at = header.rfind(guard).unwrap_or(header.len());
        header.insert_str(at, &float_input::declarations(name));
        source.push_str(&float_input::definitions(name, &q));
    }
    if let Decode::Values { quant, .. } = &model.decode {
        let float_input = model.input_quant().is_some();
        let guard = "\n#ifdef __cplusplus\n}";
        let at = header.rfind(guard).unwrap_or(header.len());
        header.insert_str(at, &values::declarations(name, quant, float_input));
        source.push_str(&values::definitions(name, float_input));
    }
    Ok(CFiles {
        header_name: format!("{name}.h"),
        header,
        source_name: format!("{name}.c"),
        source,
    })
}

#[derive(Template)]
#[template(path = "c/model.h.txt", escape = "none")]
struct HeaderTemplate<'a> {
    c: &'a Context,
}

#[derive(Template)]
#[template(path = "c/model.c.txt", escape = "none")]
struct SourceTemplate<'a> {
    c: &'a Context,
}

/// Everything the templates need, computed and formatted up front.
struct Context {
    banner: String,
    /// Prefix of every C function and object.
    p: String,
    /// Prefix of every macro.
    up: String,
    header_name: String,
    inputs: usize,
    classes: usize,
    layers: Vec<LayerView>,
    /// Calls `p_run` makes, in order, and the buffer it returns.
    run_calls: Vec<String>,
    run_result: String,
    /// Sizes of the work buffers, if used.
    buf0: Option<usize>,
    buf1: Option<usize>,
    acc32: Option<usize>,
    /// Whether `NAME_encode` is part of the API.
    text: bool,
    /// Whether the internal encoder is needed (text API or generation loop).
    encoder: bool,
    encode_lines: Vec<String>,
    has_query: bool,
    has_context: bool,
    /// Length of the reply context the generation loop keeps.
    ctx_len: usize,
    needs_lower: bool,
    generate: Option<GenerateView>,
    classify: Option<ClassifyView>,
    rom_bytes: usize,
    ram_bytes: usize,
}

struct GenerateView {
    charset: String,
    eos: usize,
    max_length: usize,
    /// Whether a class other than end-of-sequence emits a NUL byte.
    nul_in_charset: bool,
}

struct ClassifyView {
    /// Whether `NAME_classify` (text input) is part of the API.
    text: bool,
    label_text: String,
    label_at: String,
    rd_at: String,
    /// Size of the RAM buffer labels are copied into on AVR.
    label_buf: usize,
}

/// One generated layer function.
struct LayerView {
    func: String,
    comment: String,
    /// The coded layer: its weight and bias tables, as C (see [`Coding`]).
    tables: Vec<String>,
    rows: usize,
    matmul: Option<MatMulView>,
    /// The loops of a conv or pool layer.
    window_body: Option<String>,
    /// Whether the per-element pass after accumulation runs, its first lines, and
    /// its statements.
    pass: bool,
    load: String,
    post: Vec<String>,
    uses_x: bool,
    uses_y: bool,
}

struct MatMulView {
    /// The accumulator array (`y` itself for 16-bit accumulators).
    acc: String,
    /// Its element type.
    acc_t: String,
    init: String,
    accumulate: Option<AccumulateView>,
}

struct AccumulateView {
    cols: usize,
    /// Dense rows (`row[]` holds every weight, row by row): the bytes of a
    /// row, else 0 for the column-major codings.
    stride: usize,
    /// For dense rows: the weight of entry `j` of the row at `wr`, as `int8_t`.
    weight: String,
    /// Number of value groups per column; 0 when each entry stores its weight.
    groups: usize,
    off_t: String,
    rd_off: String,
    rd_idx: String,
    off: String,
    row: String,
    /// What is added to an accumulator: per group (`xv`'s value) or per entry.
    product: String,
    /// Whether the column's activation is needed as a signed value `xs`.
    signed_x: bool,
}

impl Context {
    fn new(model: &Model, prov: &Provenance, functions: &[Function]) -> Context {
        let p = model.name.clone();
        let up = model.name.to_ascii_uppercase();
        let mut rom_bytes = 0;
        let layers: Vec<LayerView> = functions
            .iter()
            .enumerate()
            .map(|(k, s)| layer_view(&p, &up, k, s, &mut rom_bytes))
            .collect();

        let generate = matches!(model.decode, Decode::Generate { .. });
        let text = model.takes_text();
        let classify_text = text && !generate;
        let encoder = text || generate;

        // Layer k writes buffer k % 2, so the first layer reads the encoded input from
        // buffer 1 and each buffer is only as large as the vectors it holds.
        let mut bufs = [None::<usize>, None];
        for (k, s) in functions.iter().enumerate() {
            let b = &mut bufs[k % 2];
            *b = Some(b.unwrap_or(0).max(s.out_len));
        }
        if generate || classify_text {
            bufs[1] = Some(bufs[1].unwrap_or(0).max(model.input_len()));
        }
        let [buf0, buf1] = bufs.map(|b| b.map(|n| n.max(1)));
        let acc32 = functions
            .iter()
            .filter(|s| s.acc() == Some(Elem::I32))
            .map(|s| s.out_len.max(1))
            .max();
        let run_calls = (0..functions.len())
            .map(|k| {
                let src = if k == 0 {
                    "x".to_string()
                } else {
                    format!("{p}_buf{}", (k - 1) % 2)
                };
                format!("{p}_layer{k}({src}, {p}_buf{});", k % 2)
            })
            .collect();
        let run_result = match functions.len() {
            0 => "x".to_string(),
            n => format!("{p}_buf{}", (n - 1) % 2),
        };

        let mut encode_lines = Vec::new();
        let mut at = 0;
        for e in &model.encoders {
            match *e {
                Encoder::QueryTrigram { buckets, value } => encode_lines.push(format!(
                    "{p}_hash_query(q, in + {at}, {buckets}u, 0x{:04X}u);",
                    value as u16
                )),
                Encoder::ContextNgram { buckets, value, .. } => encode_lines.push(format!(
                    "{p}_hash_context(ctx, ctx_len, in + {at}, {buckets}u, 0x{:04X}u);",
                    value as u16
                )),
                Encoder::Raw { len: 0, .. } => {}
                Encoder::Raw { len, .. } => encode_lines.push(format!(
                    "for (unsigned i = 0; i < {len}u; i++)\n        in[{at} + i] = 0;"
                )),
            }
            at += e.len();
        }
        let has_query = encoder
            && model
                .encoders
                .iter()
                .any(|e| matches!(e, Encoder::QueryTrigram { .. }));
        let has_context = encoder
            && model
                .encoders
                .iter()
                .any(|e| matches!(e, Encoder::ContextNgram { .. }));
        let ctx_len = zlmc_ir::interp::context_length(model);

        let mut ram_bytes = 2 * (buf0.unwrap_or(0) + buf1.unwrap_or(0)) + 4 * acc32.unwrap_or(0);
        let (generate, classify) = match &model.decode {
            Decode::Generate {
                charset,
                eos,
                max_length,
            } => {
                rom_bytes += charset.len() + 1;
                ram_bytes += ctx_len.max(1);
                let view = GenerateView {
                    charset: byte_string("uint8_t", &format!("{p}_charset"), &rom(&up), charset),
                    eos: *eos,
                    max_length: *max_length,
                    nul_in_charset: charset
                        .iter()
                        .enumerate()
                        .any(|(i, &b)| b == 0 && i != *eos),
                };
                (Some(view), None)
            }
            Decode::Classify { labels } => {
                let mut text_bytes = Vec::new();
                let mut at = Vec::new();
                for (i, l) in labels.iter().enumerate() {
                    if i > 0 {
                        text_bytes.push(0);
                    }
                    at.push(text_bytes.len());
                    text_bytes.extend_from_slice(l.as_bytes());
                }
                let (at_t, rd_at) = unsigned_for(text_bytes.len() as u64);
                rom_bytes += text_bytes.len() + 1 + labels.len() * size_of(at_t);
                let label_buf = labels
                    .iter()
                    .map(|l| l.bytes().take_while(|&b| b != 0).count())
                    .max()
                    .unwrap_or(0)
                    + 1;
                // Only AVR has this buffer, but the figure matters most there.
                ram_bytes += label_buf;
                let view = ClassifyView {
                    text: classify_text,
                    label_text: byte_string(
                        "char",
                        &format!("{p}_label_text"),
                        &rom(&up),
                        &text_bytes,
                    ),
                    label_at: table(
                        at_t,
                        &format!("{p}_label_at"),
                        &rom(&up),
                        &at.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    ),
                    rd_at: format!("{up}_{rd_at}"),
                    label_buf,
                };
                (None, Some(view))
            }
            // Values need no tables: the header's macros carry the scale.
            Decode::Values { .. } => (None, None),
        };

        Context {
            banner: prov.banner(),
            header_name: format!("{p}.h"),
            inputs: model.input_len(),
            classes: model.classes(),
            layers,
            run_calls,
            run_result,
            buf0,
            buf1,
            acc32,
            text,
            encoder,
            encode_lines,
            has_query,
            has_context,
            ctx_len,
            needs_lower: has_query || ctx_len > 0 && generate.is_some(),
            generate,
            classify,
            rom_bytes,
            ram_bytes,
            p,
            up,
        }
    }
}

/// The attribute that keeps a table in flash.
fn rom(up: &str) -> String {
    format!("{up}_ROM")
}

/// Formats function `k` as the C function `p_layerK(x, y)`.
fn layer_view(p: &str, up: &str, k: usize, s: &Function, rom_bytes: &mut usize) -> LayerView {
    let rom = rom(up);
    let mut tables = Vec::new();
    let mut comment = Vec::new();
    let rows = s.out_len;

    let matmul = s.matmul.map(|(w, acc)| {
        let (acc_name, acc_t, rd) = match acc {
            Elem::I16 => ("y".to_string(), "int16_t", "RD16"),
            Elem::I32 => (format!("{p}_acc"), "int32_t", "RD32"),
        };
        let init = match &s.init_bias {
            // An empty table would be unused, and C rejects unused statics under -Werror.
            Some(values) if rows > 0 => {
                let name = format!("{p}_l{k}_init");
                tables.push(table(
                    acc_t,
                    &name,
                    &rom,
                    &values.iter().map(|&v| signed(v)).collect::<Vec<_>>(),
                ));
                *rom_bytes += values.len().max(1) * size_of(acc_t);
                format!("(u{acc_t}){up}_{rd}(&{name}[i])")
            }
            _ => "0".to_string(),
        };
        comment.push(format!(
            "Layer {k}: {rows} outputs from {} inputs, {} weights, {}-bit accumulators{}.",
            s.in_len,
            w.kind(),
            acc.bits(),
            if s.init_bias.is_some() {
                " starting at the bias"
            } else {
                ""
            }
        ));
        let accumulate = (w.nnz() > 0).then(|| {
            let (view, bytes, how) = accumulate_view(p, up, k, w, acc, &mut tables);
            *rom_bytes += bytes;
            comment.push(format!("{} non-zero weights, {how}.", w.nnz()));
            view
        });
        if accumulate.is_none() {
            comment.push("All weights are zero.".to_string());
        }
        MatMulView {
            acc: acc_name,
            acc_t: format!("u{acc_t}"),
            init,
            accumulate,
        }
    });

    let window_body = s.window.map(|(op, acc)| {
        let code = window::window_code((p, up), k, &op, acc, s.init_bias.as_deref());
        tables.extend(code.tables);
        *rom_bytes += code.rom_bytes;
        comment.push(format!(
            "Layer {k}: {} outputs from {} inputs.",
            rows, s.in_len
        ));
        comment.extend(code.comment);
        code.body
    });
    // A map's bias is per channel: element i takes entry i / plane.
    let at = if s.bias_plane > 1 {
        format!("i / {}u", s.bias_plane)
    } else {
        "i".to_string()
    };
    let mut post = Vec::new();
    let mut steps = Vec::new();
    for (m, op) in s.post.iter().enumerate() {
        match op {
            Step::Bias { .. } if rows == 0 => {}
            Step::Bias { values, elem } => {
                let name = format!("{p}_l{k}_bias{m}");
                let (ty, stmt) = match elem {
                    Elem::I16 => (
                        "int16_t",
                        format!("h = (uint16_t)(h + (uint16_t){up}_RD16(&{name}[{at}]));"),
                    ),
                    Elem::I32 => (
                        "int32_t",
                        format!("w += (uint32_t){up}_RD32(&{name}[{at}]);"),
                    ),
                };
                tables.push(table(
                    ty,
                    &name,
                    &rom,
                    &values.iter().map(|&v| signed(v)).collect::<Vec<_>>(),
                ));
                *rom_bytes += values.len().max(1) * size_of(ty);
                post.push(stmt);
                steps.push(format!("add bias ({}-bit)", elem.bits()));
            }
            Step::Shift { amount, from } => {
                post.extend(shift_stmt(*amount, *from));
                steps.push(format!("shift right by {amount}"));
            }
            Step::Activate(Activation::Relu) => {
                post.push("if (h & 0x8000u)\n            h = 0;".to_string());
                steps.push("ReLU".to_string());
            }
            Step::Activate(Activation::Clamp { lo, hi }) => {
                post.push(format!(
                    "if ({p}_s16(h) < {lo})\n            h = 0x{:04X}u;\n        \
                     else if ({p}_s16(h) > {hi})\n            h = 0x{:04X}u;",
                    *lo as u16, *hi as u16
                ));
                steps.push(format!("clamp to [{lo}, {hi}]"));
            }
            Step::Activate(Activation::LeakyRelu { mul, shift }) => {
                // Below zero, y = floor(x·mul / 2^shift) = −ceil(|x|·mul / 2^shift),
                // in unsigned arithmetic: C99 leaves >> of a negative value to
                // the implementation.
                post.push(format!(
                    "if (h & 0x8000u)\n            h = (uint16_t)(0x10000UL - \
                     (((0x10000UL - h) * {mul}UL + {}UL) >> {shift}));",
                    (1u32 << shift) - 1
                ));
                steps.push(format!("leaky ReLU (x*{mul} >> {shift} below 0)"));
            }
            Step::Activate(Activation::Lut { lo, table: t }) => {
                let name = format!("{p}_l{k}_lut{m}");
                tables.push(table(
                    "int16_t",
                    &name,
                    &rom,
                    &t.iter().map(|&v| v.to_string()).collect::<Vec<_>>(),
                ));
                *rom_bytes += t.len() * 2;
                post.push(format!(
                    "{{\n            long j = (long){p}_s16(h) - ({lo});\n            \
                     if (j < 0)\n                j = 0;\n            \
                     if (j > {last})\n                j = {last};\n            \
                     h = (uint16_t){up}_RD16(&{name}[j]);\n        }}",
                    last = t.len() - 1
                ));
                steps.push(format!("a {}-entry lookup table from {lo}", t.len()));
            }
        }
    }
    if s.matmul.is_none() && s.window.is_none() {
        comment.push(format!("Layer {k}: elementwise on the {rows} inputs."));
    }
    if !steps.is_empty() {
        comment.push(format!("Then per output: {}.", steps.join(", ")));
    }

    let acc32 = s.acc() == Some(Elem::I32);
    let pass = rows > 0 && (s.acc().is_none() || acc32 || !post.is_empty());
    let load = if acc32 {
        format!("uint32_t w = {p}_acc[i];\n        uint16_t h;")
    } else if s.acc().is_some() {
        "uint16_t h = y[i];".to_string()
    } else {
        "uint16_t h = x[i];".to_string()
    };
    let uses_x = match &matmul {
        Some(m) => m.accumulate.is_some(),
        None => rows > 0,
    };
    let uses_x = uses_x || window_body.is_some();
    LayerView {
        func: format!("{p}_layer{k}"),
        comment: block_comment(&comment),
        tables,
        rows,
        matmul,
        window_body,
        pass,
        load,
        post,
        uses_x,
        uses_y: rows > 0,
    }
}

/// How a matmul's weights are coded as C tables: the smallest of the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// Per column, its rows grouped by weight value (`off`, `row`, `val`).
    Grouped,
    /// Per column, its rows, each entry with its weight (`off`, `row`, `w`).
    Pairs,
    /// Every weight, row by row (`row`): int8 a byte, or int4 two a byte.
    Dense { nibbles: bool },
}

/// A matmul with at least one non-zero weight, coded (see [`Coding`]): its
/// tables, what is added per entry, the tables' size in bytes and a
/// description of the coding.
fn accumulate_view(
    p: &str,
    up: &str,
    k: usize,
    w: &Weights,
    acc: Elem,
    tables: &mut Vec<String>,
) -> (AccumulateView, usize, String) {
    let rom = rom(up);
    let (rows, cols, nnz) = (w.rows(), w.cols(), w.nnz());
    let mut columns: Vec<Vec<(usize, i8)>> = vec![Vec::new(); cols];
    for r in 0..rows {
        for (c, v) in w.row_entries(r) {
            columns[c as usize].push((r, v));
        }
    }
    let mut values: Vec<i8> = columns.iter().flatten().map(|&(_, v)| v).collect();
    values.sort_unstable();
    values.dedup();

    let (idx_t, rd_idx) = unsigned_for(rows.saturating_sub(1) as u64);
    let (off_t, rd_off) = unsigned_for(nnz as u64);
    let g = values.len();
    let grouped_bytes = (cols * g + 1) * size_of(off_t) + nnz * size_of(idx_t) + g;
    let pairs_bytes = (cols + 1) * size_of(off_t) + nnz * (size_of(idx_t) + 1);
    // int8 and int4 weights may be stored dense, row by row (int4 two a
    // byte), where that is smaller than either column-major coding.
    let nibbles = values.iter().all(|v| (-8..=7).contains(v));
    let stride = if nibbles { cols.div_ceil(2) } else { cols };
    let dense_bytes = rows * stride;
    let dense_kind = matches!(w.kind(), WeightKind::Int8 | WeightKind::Int4);
    let coding = if dense_kind && dense_bytes < grouped_bytes.min(pairs_bytes) {
        Coding::Dense { nibbles }
    } else if grouped_bytes <= pairs_bytes {
        Coding::Grouped
    } else {
        Coding::Pairs
    };
    if let Coding::Dense { nibbles } = coding {
        return dense_view(p, up, k, w, acc, nibbles, tables);
    }
    let grouped = coding == Coding::Grouped;

    let (off_name, row_name) = (format!("{p}_l{k}_off"), format!("{p}_l{k}_row"));
    let mut off = vec!["0".to_string()];
    let mut row = Vec::with_capacity(nnz);
    let mut wts = Vec::new();
    for col in &mut columns {
        if grouped {
            for &v in &values {
                row.extend(col.iter().filter(|e| e.1 == v).map(|e| e.0.to_string()));
                off.push(row.len().to_string());
            }
        } else {
            row.extend(col.iter().map(|e| e.0.to_string()));
            wts.extend(col.iter().map(|e| e.1.to_string()));
            off.push(row.len().to_string());
        }
    }
    tables.push(table(off_t, &off_name, &rom, &off));
    tables.push(table(idx_t, &row_name, &rom, &row));
    let (weight, how, bytes) = if grouped {
        let name = format!("{p}_l{k}_val");
        let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        tables.push(table("int8_t", &name, &rom, &vals));
        let how = format!(
            "each column's rows grouped by weight value ({})",
            vals.join(", ")
        );
        (format!("{name}[g]"), how, grouped_bytes)
    } else {
        let name = format!("{p}_l{k}_w");
        tables.push(table("int8_t", &name, &rom, &wts));
        (
            format!("{name}[k]"),
            "each entry stored with its weight".to_string(),
            pairs_bytes,
        )
    };
    // 16-bit products wrap as unsigned; 32-bit products of an int16 by an int8 are
    // exact in int32_t and only then reduced modulo 2^32.
    let product = match acc {
        Elem::I16 => format!("(uint16_t)((unsigned)xj * (uint16_t)(int8_t){up}_RD8(&{weight}))"),
        Elem::I32 => format!("(uint32_t)((int32_t)xs * (int8_t){up}_RD8(&{weight}))"),
    };
    let view = AccumulateView {
        cols,
        stride: 0,
        weight: String::new(),
        groups: if grouped { g } else { 0 },
        off_t: off_t.to_string(),
        rd_off: format!("{up}_{rd_off}"),
        rd_idx: format!("{up}_{rd_idx}"),
        off: off_name,
        row: row_name,
        product,
        signed_x: acc == Elem::I32,
    };
    (view, bytes, how)
}

/// A matmul coded [`Coding::Dense`]: `row[]` holds every weight, row by row,
/// int8 a byte each or int4 two a byte (entry 2j in the low nibble).
fn dense_view(
    p: &str,
    up: &str,
    k: usize,
    w: &Weights,
    acc: Elem,
    nibbles: bool,
    tables: &mut Vec<String>,
) -> (AccumulateView, usize, String) {
    let rom = rom(up);
    let (rows, cols) = (w.rows(), w.cols());
    let mut m = vec![vec![0i8; cols]; rows];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in w.row_entries(r) {
            row[c as usize] = v;
        }
    }
    let mut bytes = Vec::new();
    for row in &m {
        if nibbles {
            for pair in row.chunks(2) {
                let hi = pair.get(1).copied().unwrap_or(0);
                bytes.push((pair[0] as u8 & 0x0F) | (hi as u8) << 4);
            }
        } else {
            bytes.extend(row.iter().map(|&v| v as u8));
        }
    }
    let name = format!("{p}_l{k}_row");
    let vals: Vec<String> = bytes.iter().map(|b| format!("{b}u")).collect();
    tables.push(table("uint8_t", &name, &rom, &vals));
    let stride = if nibbles { cols.div_ceil(2) } else { cols };
    // A nibble n is the int4 value (n ^ 8) - 8.
    let weight = if nibbles {
        format!(
            "(int8_t)((int)((((j & 1u) ? {up}_RD8(&wr[j >> 1]) >> 4 : {up}_RD8(&wr[j >> 1])) \
             & 0x0Fu) ^ 8u) - 8)"
        )
    } else {
        format!("(int8_t){up}_RD8(&wr[j])")
    };
    let product = match acc {
        Elem::I16 => "(uint16_t)((unsigned)xj * (uint16_t)wv)".to_string(),
        Elem::I32 => "(uint32_t)((int32_t)xs * wv)".to_string(),
    };
    let how = if nibbles {
        "stored dense, row by row, two int4 weights a byte"
    } else {
        "stored dense, row by row, an int8 weight a byte"
    };
    let view = AccumulateView {
        cols,
        stride,
        weight,
        groups: 0,
        off_t: String::new(),
        rd_off: String::new(),
        rd_idx: String::new(),
        off: String::new(),
        row: name,
        product,
        signed_x: acc == Elem::I32,
    };
    (view, rows * stride, how.to_string())
}

/// Statements computing `h`, the i16 result of an arithmetic shift right of `h` or `w`.
///
/// Shifting the unsigned bits and filling in the sign bits that land in the low 16
/// bits avoids right-shifting negative numbers, whose result C leaves to the
/// implementation.
fn shift_stmt(amount: u32, from: Elem) -> Option<String> {
    let bits = from.bits();
    let fill = (0xFFFF_u64 << (bits - amount)) & 0xFFFF;
    let (var, sign) = match from {
        Elem::I16 => ("h", "0x8000u"),
        Elem::I32 => ("w", "0x80000000UL"),
    };
    match (from, amount, fill) {
        (Elem::I16, 0, _) => None,
        (Elem::I32, 0, _) => Some("h = (uint16_t)w;".to_string()),
        (_, _, 0) => Some(format!("h = (uint16_t)({var} >> {amount});")),
        _ => Some(format!(
            "h = (uint16_t)(({var} >> {amount}) | (({var} & {sign}) ? 0x{fill:04X}u : 0u));"
        )),
    }
}

/// Lines as a C block comment (lines contain no user text).
fn block_comment(lines: &[String]) -> String {
    let mut s = "/*".to_string();
    for l in lines {
        s.push_str("\n * ");
        s.push_str(l);
    }
    s.push_str("\n */");
    s
}
