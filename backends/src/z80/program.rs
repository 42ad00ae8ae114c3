//! A whole CP/M program for a model: constants, the runtime front-end from
//! `runtime-z80/`, the inference code and its tables, assembled to a `.COM`.

use zlmc_ir::{Decode, Model};

use super::build::Builder;
use super::coding::{blob, layer_sizes, Blob, Coding};
use super::mapprog::{emit_maps, has_maps};
use super::model::model_code;
use super::plan::{check_layers, Layout, MemoryMap, Split, CPM};
use super::Item;
use super::{assemble, parse, print};
use crate::lowered::FusedLayer;
use crate::lowered::{InputMap, InputPart, Unsupported};
use crate::target::Verified;
use crate::{BackendError, Provenance};

/// The generated files: `NAME.asm` (Zilog syntax for z80asm and pasmo) and `NAME.COM`.
#[derive(Debug, Clone)]
pub struct Z80Files {
    /// File name of the assembly source.
    pub asm_name: String,
    /// The assembly source.
    pub asm: String,
    /// File name of the CP/M program (upper-case 8.3).
    pub com_name: String,
    /// The program's bytes, loaded at `origin`.
    pub com: Vec<u8>,
    /// Where the program is loaded and starts (0x100 for CP/M).
    pub origin: u16,
    /// Address of `model_step`, where an inference step starts.
    pub step_entry: u16,
    /// Lowest address of the model's buffers (program end must stay below).
    pub buffers_start: u16,
    /// For a feature-map model: a line per layer (kernel, bytes, predicted
    /// T-states) and one for the activation memory; empty otherwise.
    pub report: Vec<String>,
}

/// The runtime texts a machine's programs start with, one per kind of model.
#[derive(Debug, Clone, Copy)]
pub struct Runtimes<'a> {
    /// Character generation (`CHAT_ASM`).
    pub chat: &'a str,
    /// Text classifiers (`CLASSIFY_ASM`).
    pub classify: &'a str,
    /// Raw-input classifiers (`RAW_ASM`).
    pub raw: &'a str,
    /// Raw-input values models (`RAW_VALUES_ASM`).
    pub raw_values: &'a str,
}

/// Generate the CP/M program for `model`.
pub fn emit(
    model: &Verified,
    prov: &Provenance,
    runtimes: Runtimes,
) -> Result<Z80Files, BackendError> {
    emit_for(model, prov, runtimes, &CPM)
}

/// Generate the program for `model` on the machine `layout` describes, with
/// the front-ends given (their first byte is the entry, at `layout.origin`).
pub fn emit_for(
    model: &Verified,
    prov: &Provenance,
    runtimes: Runtimes,
    layout: &Layout,
) -> Result<Z80Files, BackendError> {
    let lowered = model.lowered();
    let model = model.model();
    if has_maps(lowered) {
        return emit_maps(model, lowered, prov, runtimes, layout);
    }
    let text = &lowered.input;
    let ls = lowered.fused_layers("Z80")?;
    if let Decode::Values { .. } = model.decode {
        if text.takes_text() {
            return Err(Unsupported::ValuesFromText { backend: "Z80" }.into());
        }
    }
    let zin_len = text.len();
    check_layers(&ls, zin_len)?;
    // Chat models keep layer 1's query part for a whole reply.
    let split = text
        .split()
        .map(|(query, context)| Split { query, context });
    text.check_buckets("the Z80 front-end", 256, "a bucket index is a byte")?;
    // The front-end's list of the context buckets a step hits.
    let ctx_list = text
        .context()
        .map_or(0, |p| zlmc_runtime_z80::ctxlist_bytes(p.context_length()));
    let (runtime, maxlen, eos) = match &model.decode {
        Decode::Generate { .. } if !text.takes_text() => {
            return Err(Unsupported::Other(
                "generating text needs text input encoders, not raw ones".into(),
            )
            .into())
        }
        Decode::Generate {
            max_length, eos, ..
        } => (runtimes.chat, *max_length, *eos),
        Decode::Classify { .. } if !text.takes_text() => (runtimes.raw, 1, 0),
        Decode::Classify { .. } => (runtimes.classify, 1, 0),
        Decode::Values { .. } => (runtimes.raw_values, 1, 0),
    };
    let runtime = parse(runtime).map_err(|e| {
        BackendError::internal(format!("runtime source line {}: {}", e.line, e.message))
    })?;

    // How each layer keeps its records: the fastest choice that fits (no
    // nibble-coded layer if possible, then the least set-up), trying the
    // layout's lower origin before coding more layers in nibbles.
    // The program file's size limit is a wish: a model that cannot keep to
    // it is built as small as it goes.
    let origins: Vec<Layout> = [Some(layout.origin), layout.low_origin]
        .into_iter()
        .flatten()
        .map(|o| layout.at(o))
        .collect();
    let unlimited: Vec<Layout> = origins
        .iter()
        .filter(|l| l.max_image.is_some())
        .map(|l| Layout {
            max_image: None,
            ..*l
        })
        .collect();
    let build = |at: &Layout, codings: &[Coding]| {
        let mem = MemoryMap::plan(&ls, zin_len, ctx_list, at);
        let parts = (maxlen, eos);
        program(
            model,
            prov,
            at,
            &ls,
            &mem,
            text,
            split.as_ref(),
            &runtime,
            parts,
            codings,
        )
    };
    let mut last = None;
    // What did not fit where: a choice that keeps each layer as a failed one
    // did, or nibble-coded where that one was not, cannot fit there either
    // (nibble-coding a layer only shrinks it once the nibble reader is in).
    // Trying all-nibble first makes a model that fits nowhere cheap to refuse.
    let mut failed: Vec<(Layout, Vec<Coding>)> = Vec::new();
    let smaller: Vec<bool> = ls
        .iter()
        .map(|l| {
            let (ready, nibble) = layer_sizes(l);
            nibble <= ready
        })
        .collect();
    let all_nibble = vec![Coding::Nibble; ls.len()];
    for at in origins.iter().chain(&unlimited) {
        match build(at, &all_nibble) {
            Err(e @ BackendError::TooBig { .. }) => {
                last = Some(e);
                failed.push((*at, all_nibble.clone()));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    for (mut codings, origins) in [&origins, &unlimited].into_iter().flat_map(|o| {
        coding_choices(&ls, split.as_ref())
            .into_iter()
            .map(move |s| (s, o))
    }) {
        for at in origins {
            if failed
                .iter()
                .any(|(where_, f)| where_ == at && cannot_fit_either(f, &codings, &smaller))
            {
                continue;
            }
            match build(at, &codings) {
                Err(e @ BackendError::TooBig { .. }) => {
                    last = Some(e);
                    failed.push((*at, codings.clone()));
                }
                Err(e) => return Err(e),
                Ok(z) => {
                    // Set-up time: of the largest packed layer, pack only as
                    // many columns as the program's size needs.
                    let Some(k) = (0..ls.len())
                        .filter(|&k| matches!(codings[k], Coding::Packed(_)))
                        .max_by_key(|&k| ls[k].cols)
                    else {
                        return Ok(z);
                    };
                    let (mut lo, mut hi, mut best) = (0, ls[k].cols, z);
                    while lo < hi {
                        let mid = (lo + hi) / 2;
                        codings[k] = Coding::Packed(mid);
                        match build(at, &codings) {
                            Ok(z) => (hi, best) = (mid, z),
                            Err(BackendError::TooBig { .. }) => lo = mid + 1,
                            Err(e) => return Err(e),
                        }
                    }
                    return Ok(best);
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| BackendError::internal("no layout tried")))
}

/// Whether `codings` needs at least the memory of `failed`, which did not fit:
/// every layer kept the same or, where `failed` nibble-coded a layer whose
/// nibble-coded records are the smaller (`smaller[k]`), kept otherwise; and
/// the nibble reader still in when `failed` had it. Ready and packed are not
/// compared.
fn cannot_fit_either(failed: &[Coding], codings: &[Coding], smaller: &[bool]) -> bool {
    let has_nibble = |s: &[Coding]| s.contains(&Coding::Nibble);
    (!has_nibble(failed) || has_nibble(codings))
        && failed
            .iter()
            .zip(codings)
            .zip(smaller)
            .all(|((f, s), &small)| f == s || (*f == Coding::Nibble && small))
}

/// The ways to keep the layers' records, best first: least work read
/// nibble-coded at each step (slow: a layer's bytes weighted by how many of
/// its columns a step uses, about half of a hidden layer's, a few of layer
/// 1's context buckets), then fewest bytes unpacked at set-up. Every
/// combination for up to five layers; for more, all ready, all packed, and
/// the layers saving the most coded in nibbles one more at a time.
fn coding_choices(ls: &[FusedLayer], split: Option<&Split>) -> Vec<Vec<Coding>> {
    let sizes: Vec<(usize, usize)> = ls.iter().map(layer_sizes).collect();
    // Per layer: the bytes a nibble-coded layer would be read from at each
    // step, times the share of its columns a step scatters, in 1/16ths.
    let work: Vec<usize> = ls
        .iter()
        .enumerate()
        .map(|(k, l)| match (k, split) {
            // A step hashes a couple of dozen context n-grams.
            (0, Some(sp)) => {
                let context = sizes[0].0 * sp.context.len() / l.cols.max(1);
                context * (384 / sp.context.len().max(1)).clamp(1, 16)
            }
            _ => sizes[k].0 * 8,
        })
        .collect();
    let mut out: Vec<Vec<Coding>> = if ls.len() <= 5 {
        (0..3usize.pow(ls.len() as u32))
            .map(|mut n| {
                (0..ls.len())
                    .map(|_| {
                        let s = [Coding::Ready, Coding::Packed(usize::MAX), Coding::Nibble][n % 3];
                        n /= 3;
                        s
                    })
                    .collect()
            })
            .collect()
    } else {
        let mut order: Vec<usize> = (0..ls.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(sizes[k].0.saturating_sub(sizes[k].1)));
        let mut v = vec![vec![Coding::Ready; ls.len()]];
        let mut s = vec![Coding::Packed(usize::MAX); ls.len()];
        v.push(s.clone());
        for k in order {
            s[k] = Coding::Nibble;
            v.push(s.clone());
        }
        v
    };
    let cost = |s: &Vec<Coding>| {
        let (mut nibble, mut packed) = (0, 0);
        for (k, x) in s.iter().enumerate() {
            match x {
                Coding::Nibble => nibble += work[k],
                Coding::Packed(_) => packed += sizes[k].0,
                Coding::Ready => {}
            }
        }
        (nibble, packed)
    };
    out.sort_by_key(cost);
    out
}

/// The program with each layer's records kept as `codings` says.
#[allow(clippy::too_many_arguments)]
fn program(
    model: &Model,
    prov: &Provenance,
    layout: &Layout,
    ls: &[FusedLayer],
    mem: &MemoryMap,
    text: &InputMap,
    split: Option<&Split>,
    runtime: &[Item],
    (maxlen, eos): (usize, usize),
    codings: &[Coding],
) -> Result<Z80Files, BackendError> {
    let zin_len = model.input_len();
    let mut b = Builder::new();
    header(&mut b, model, prov, layout, text, mem, (maxlen, eos));
    b.org(layout.origin);
    b.extend(runtime.iter().cloned());
    let packed = blob(ls, split, codings).map_err(BackendError::Internal)?;
    model_code(&mut b, ls, mem, zin_len, split, &packed);
    decode_tables(&mut b, &model.decode);
    // Last, as model_init unpacks the records over it and beyond.
    b.label("zblob");
    b.db_lines(&packed.bytes, 16);
    b.label("program_end");
    let items = b.finish();
    let asm = match assemble(&items, layout.origin) {
        Ok(asm) => asm,
        Err(e) => {
            return Err(too_big(&items, layout, &packed, mem)
                .unwrap_or(BackendError::internal(format!("{e:?}"))))
        }
    };
    if let Some(max) = layout.max_image {
        if asm.bytes.len() > max {
            return Err(BackendError::TooBig {
                message: format!(
                    "the program is {} bytes; at most {max} are wanted ({})",
                    asm.bytes.len(),
                    layout.memory
                ),
                help: "sparser weights or fewer units make it smaller".into(),
            });
        }
    }
    let symbol = |name: &str| {
        asm.symbols
            .get(name)
            .copied()
            .ok_or_else(|| BackendError::internal(format!("`{name}` is not defined")))
    };
    if packed.multi {
        // The general scatter tells the −1 loops' entries apart by their low
        // bytes (`scatter::slot_map`); their bodies sit together so they differ.
        let mut lows = Vec::new();
        for lp in ["zss", "zsk", "zsn"] {
            for slot in ["s0", "e1", "s2", "e3", "x"] {
                lows.push(symbol(&format!("{lp}_{slot}"))? & 0xFF);
            }
        }
        lows.sort_unstable();
        lows.dedup();
        if lows.len() != 15 {
            return Err(BackendError::internal(
                "two entries of the −1 scatter loops share a low byte",
            ));
        }
    }
    let zblob = symbol("zblob")? as usize;
    let end = zblob + packed.extent();
    let limit = mem.buffers_start() as usize;
    if end > limit {
        return Err(no_room(end, limit, layout));
    }
    let step_entry = symbol("model_step")? as u16;
    Ok(Z80Files {
        asm_name: format!("{}.asm", model.name),
        asm: print(&items),
        com_name: com_name(&model.name),
        com: asm.bytes,
        origin: layout.origin,
        step_entry,
        buffers_start: limit as u16,
        report: Vec::new(),
    })
}

/// The error for a program that needs memory up to `end` but has it up to `limit`.
fn no_room(end: usize, limit: usize, layout: &Layout) -> BackendError {
    BackendError::TooBig {
        message: format!(
            "the program needs {} bytes of memory once its records are unpacked, but only {} fit below its buffers at 0x{limit:04x} ({})",
            end - layout.origin as usize,
            limit.saturating_sub(layout.origin as usize),
            layout.memory
        ),
        help: "a smaller model fits: fewer units or inputs, or sparser weights (the dead-neurons and sparse-weights passes help)".into(),
    }
}

/// When the program does not assemble at its origin because its addresses
/// run past 0xFFFF: the size it would need, found by assembling it at 0.
fn too_big(
    items: &[Item],
    layout: &Layout,
    packed: &Blob,
    mem: &MemoryMap,
) -> Option<BackendError> {
    // At 0, with the blob's bytes and sizes left out: they are known.
    let blob_at = items
        .iter()
        .position(|i| matches!(i, Item::Label(l) if l == "zblob"))?;
    let at0: Vec<Item> = items
        .iter()
        .enumerate()
        .filter(|(n, i)| *n <= blob_at || !matches!(i, Item::Db(_)))
        .map(|(_, i)| match i {
            Item::Org(_) => Item::Org(0.into()),
            Item::Equ(name, _) if name.starts_with("zblob_") => Item::Equ(name.clone(), 0.into()),
            i => i.clone(),
        })
        .collect();
    let Ok(at0) = assemble(&at0, 0) else {
        return Some(BackendError::TooBig {
            message: format!(
                "the program's code and records alone pass 64 KB ({})",
                layout.memory
            ),
            help: "a smaller model fits: fewer units or inputs, or sparser weights (the dead-neurons and sparse-weights passes help)".into(),
        });
    };
    let zblob = *at0.symbols.get("zblob")? as usize + layout.origin as usize;
    let end = zblob + packed.extent();
    let limit = mem.buffers_start() as usize;
    (end > limit).then(|| no_room(end, limit, layout))
}

/// The banner comments and the `equ` constants the runtime front-end reads:
/// where the text encoders' buckets are, the reply limits, the buffers.
pub(super) fn header(
    b: &mut Builder,
    model: &Model,
    prov: &Provenance,
    layout: &Layout,
    text: &InputMap,
    mem: &MemoryMap,
    (maxlen, eos): (usize, usize),
) {
    b.comment(format!(
        "Generated by zlmc {} from {}. Do not edit.",
        prov.version, prov.source
    ));
    b.comment(format!(
        "Model \"{}\" for {} on the Z80: assemble with z80asm or pasmo.",
        model.name, layout.system
    ));
    let part = |p: Option<&InputPart>| {
        p.map(|p| (p.len(), p.words.start, p.value, p.context_length()))
            .unwrap_or((0, 0, 0, 0))
    };
    let (q, c) = (part(text.query()), part(text.context()));
    b.equ("QBUCKETS", q.0 as i32);
    b.equ("QOFFSET", q.1 as i32);
    b.equ("QVALUE", q.2 as u16);
    b.equ("CBUCKETS", c.0 as i32);
    b.equ("COFFSET", c.1 as i32);
    b.equ("CVALUE", c.2 as u16);
    b.equ("CTXLEN", c.3.max(1) as i32);
    b.equ("ZIN_LEN", model.input_len() as i32);
    b.equ("MAXLEN", maxlen as i32);
    b.equ("EOS", eos as i32);
    b.equ("STACK_TOP", mem.stack_top);
    b.equ("LINEBUF", mem.vars.line);
    b.equ("CTXLIST", mem.ctx_list);
    b.equ("zin", mem.zin);
    b.equ("zout", mem.zout);
    if let Decode::Values { count, .. } = model.decode {
        b.equ("NOUT", count as i32);
    }
}

/// The tables the front-end prints replies from: the charset, or the labels.
pub(super) fn decode_tables(b: &mut Builder, decode: &Decode) {
    match decode {
        Decode::Generate { charset, .. } => {
            b.label("charset");
            b.db_lines(charset, 16);
        }
        Decode::Classify { labels } => {
            b.label("labels");
            for i in 0..labels.len() {
                b.dw([format!("label{i}")]);
            }
            for (i, l) in labels.iter().enumerate() {
                let mut bytes: Vec<u8> = l.bytes().filter(|&b| b != b'$').collect();
                bytes.push(b'$');
                b.label(format!("label{i}"));
                b.db(bytes);
            }
        }
        // The outputs are printed as numbers: no table.
        Decode::Values { .. } => {}
    }
}

/// The `.COM` file's name: the model's name upper-cased, letters and digits
/// only, at most 8 of them (CP/M's limit), `MODEL` when none is left.
pub(super) fn com_name(name: &str) -> String {
    let upper: String = name
        .to_ascii_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    if upper.is_empty() {
        "MODEL.COM".into()
    } else {
        format!("{upper}.COM")
    }
}
