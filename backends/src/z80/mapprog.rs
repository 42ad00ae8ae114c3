//! The whole program of a feature-map model (a model with convolution or
//! pooling layers): the raw-input front-end, the layer loops of `mapcode.rs`
//! over the buffers `mapplan.rs` places, the tables; its memory checked and
//! each layer's figures reported.

use zlmc_ir::{Decode, Model};

use super::build::Builder;
use super::mapcode::{map_model_code, BufAddrs, MapVars};
use super::mapcost::layer_tstates;
use super::mapplan::{BufferPlan, Dims, Kernel, MapLayer, Tap};
use super::plan::{Layout, MemoryMap, Vars};
use super::program::{decode_tables, header, Runtimes, Z80Files};
use super::{assemble, parse, print, Item};
use crate::lowered::{LayerOp, Lowered, Unsupported};
use crate::{BackendError, Provenance};

/// Whether the lowered model has a layer only the feature-map code runs.
pub fn has_maps(lowered: &Lowered) -> bool {
    lowered
        .layers
        .iter()
        .any(|l| !matches!(l.op, LayerOp::Dense(_)))
}

/// The layers as the Z80's map code runs them, or why it cannot.
pub fn map_layers(lowered: &Lowered) -> Result<Vec<MapLayer>, Unsupported> {
    if let Some(step) = lowered.prelude.first() {
        return Err(Unsupported::BeforeFirstLayer {
            backend: "Z80",
            op: step.mnemonic(),
        });
    }
    if lowered.layers.is_empty() {
        return Err(Unsupported::NoLayer);
    }
    let dims = |s: zlmc_ir::Shape| Dims {
        c: s.channels,
        h: s.height,
        w: s.width,
    };
    lowered
        .layers
        .iter()
        .map(|l| {
            let e = l.epilogue("Z80")?;
            let all_taps = |c: usize, win: &zlmc_ir::Window| {
                (0..c)
                    .map(|ci| {
                        (0..win.kernel[0])
                            .flat_map(|ky| {
                                (0..win.kernel[1]).map(move |kx| Tap { ci, ky, kx, w: 1 })
                            })
                            .collect()
                    })
                    .collect()
            };
            let layer = match l.op {
                LayerOp::Dense(w) => MapLayer {
                    kernel: Kernel::Mac { acc: l.acc },
                    input: Dims {
                        c: l.inputs,
                        h: 1,
                        w: 1,
                    },
                    output: Dims {
                        c: w.rows(),
                        h: 1,
                        w: 1,
                    },
                    size: [1, 1],
                    stride: [1, 1],
                    pads: [0; 4],
                    taps: (0..w.rows())
                        .map(|r| {
                            w.row_entries(r)
                                .into_iter()
                                .filter(|&(_, w)| w != 0)
                                .map(|(c, w)| Tap {
                                    ci: c as usize,
                                    ky: 0,
                                    kx: 0,
                                    w,
                                })
                                .collect()
                        })
                        .collect(),
                    bias: e.bias,
                    shift: e.shift,
                    activation: e.activation,
                    dense: true,
                },
                LayerOp::Conv {
                    window,
                    groups,
                    weights,
                    input,
                    output,
                } => {
                    let [kh, kw] = window.kernel;
                    let per_group_in = input.channels / groups;
                    let per_group_out = output.channels / groups;
                    let taps = (0..output.channels)
                        .map(|o| {
                            let g = o / per_group_out;
                            weights
                                .row_entries(o)
                                .into_iter()
                                .filter(|&(_, w)| w != 0)
                                .map(|(col, w)| {
                                    let col = col as usize;
                                    Tap {
                                        ci: g * per_group_in + col / (kh * kw),
                                        ky: col / kw % kh,
                                        kx: col % kw,
                                        w,
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    MapLayer {
                        kernel: Kernel::Mac { acc: l.acc },
                        input: dims(input),
                        output: dims(output),
                        size: window.kernel,
                        stride: window.stride,
                        pads: window.pads,
                        taps,
                        bias: e.bias,
                        shift: e.shift,
                        activation: e.activation,
                        dense: false,
                    }
                }
                LayerOp::MaxPool {
                    window,
                    input,
                    output,
                }
                | LayerOp::AvgPool {
                    window,
                    input,
                    output,
                    ..
                } => MapLayer {
                    kernel: match l.op {
                        LayerOp::AvgPool { mul, shift, .. } => Kernel::Avg { mul, shift },
                        _ => Kernel::Max,
                    },
                    input: dims(input),
                    output: dims(output),
                    size: window.kernel,
                    stride: window.stride,
                    pads: window.pads,
                    taps: all_taps(input.channels, &window),
                    bias: vec![0; output.channels],
                    shift: 0,
                    activation: e.activation,
                    dense: false,
                },
            };
            Ok(layer)
        })
        .collect()
}

/// The program of a feature-map model on the machine `layout` describes.
pub fn emit_maps(
    model: &Model,
    lowered: &Lowered,
    prov: &Provenance,
    runtimes: Runtimes,
    layout: &Layout,
) -> Result<Z80Files, BackendError> {
    if lowered.input.takes_text() {
        return Err(Unsupported::Other(
            "convolution and pooling layers take raw input, not text encoders".into(),
        )
        .into());
    }
    let layers = map_layers(lowered)?;
    let argmax = !matches!(model.decode, Decode::Values { .. });
    let runtime = match &model.decode {
        Decode::Generate { .. } => {
            return Err(Unsupported::Other(
                "generating text needs text input encoders, not raw ones".into(),
            )
            .into())
        }
        Decode::Classify { .. } => runtimes.raw,
        Decode::Values { .. } => runtimes.raw_values,
    };
    let classes = layers.last().map_or(0, |l| l.output.len());
    if argmax && classes > 256 {
        return Err(Unsupported::TooManyClasses {
            picker: "the Z80 front-end",
            classes,
            max: 256,
        }
        .into());
    }
    let runtime = parse(runtime).map_err(|e| {
        BackendError::internal(format!("runtime source line {}: {}", e.line, e.message))
    })?;
    let plan = BufferPlan::new(&layers);
    let zin_len = model.input_len();
    let mut last = None;
    for origin in [Some(layout.origin), layout.low_origin]
        .into_iter()
        .flatten()
    {
        let at = layout.at(origin);
        match map_program(model, prov, &at, &layers, &plan, zin_len, &runtime, argmax) {
            Err(e @ BackendError::TooBig { .. }) => last = Some(e),
            r => return r,
        }
    }
    Err(last.unwrap_or_else(|| BackendError::internal("no layout tried")))
}

/// The variables' page (the front-end's line buffer in it) and the buffers
/// below it: zin, then A, then B.
fn addresses(layout: &Layout, zin_len: usize, plan: &BufferPlan) -> Option<(u16, BufAddrs)> {
    let page = layout.buffers_top.checked_sub(0x100)?;
    let zin = page.checked_sub(u16::try_from(2 * zin_len).ok()?)?;
    let a = zin.checked_sub(u16::try_from(plan.bytes[0]).ok()?)?;
    let b = a.checked_sub(u16::try_from(plan.bytes[1]).ok()?)?;
    Some((page, BufAddrs { zin, a, b }))
}

/// The program at `layout`'s origin, or why it does not fit.
#[allow(clippy::too_many_arguments)]
fn map_program(
    model: &Model,
    prov: &Provenance,
    layout: &Layout,
    layers: &[MapLayer],
    plan: &BufferPlan,
    zin_len: usize,
    runtime: &[Item],
    argmax: bool,
) -> Result<Z80Files, BackendError> {
    let buffers = 2 * zin_len + plan.bytes[0] + plan.bytes[1];
    let Some((page, addrs)) = addresses(layout, zin_len, plan) else {
        return Err(BackendError::TooBig {
            message: format!(
                "the model's maps need {buffers} bytes of RAM, more than the {} between the program's start at 0x{:04x} and the variables' page at 0x{:04x} ({})",
                (layout.buffers_top as usize).saturating_sub(0x100 + layout.origin as usize),
                layout.origin,
                layout.buffers_top.saturating_sub(0x100),
                layout.memory
            ),
            help: "smaller maps fit: fewer channels, a stride or a pool earlier".into(),
        });
    };
    // The line buffer sits at page+0x20 (as the dense programs have it);
    // the map code's variables above it.
    let vars = Vars::at(page);
    let v = MapVars::at(page + 0xB0);
    let mem = MemoryMap {
        stack_top: layout.stack_top,
        acc: Vec::new(),
        recs: Vec::new(),
        vars,
        zout: addrs.of(plan.last()),
        act: 0,
        cache: 0,
        ctx_list: 0,
        zin: addrs.zin,
    };
    let mut b = Builder::new();
    header(
        &mut b,
        model,
        prov,
        layout,
        &lowered_text(model),
        &mem,
        (1, 0),
    );
    b.org(layout.origin);
    b.extend(runtime.iter().cloned());
    map_model_code(&mut b, layers, plan, &addrs, &v, argmax);
    decode_tables(&mut b, &model.decode);
    b.label("program_end");
    let items = b.finish();
    let limit = addrs.b as usize;
    let asm = assemble(&items, layout.origin).map_err(|_| BackendError::TooBig {
        message: format!(
            "the program's code and tables pass 64 KB; its maps need {buffers} bytes below 0x{:04x} ({})",
            layout.buffers_top, layout.memory
        ),
        help: "a smaller model fits: fewer channels or units, or sparser weights".into(),
    })?;
    let end = layout.origin as usize + asm.bytes.len();
    if end > limit {
        return Err(BackendError::TooBig {
            message: format!(
                "the program needs {} bytes of memory ({} of code and tables from 0x{:04x}, {buffers} of maps and the {}-byte variables' page), but {} are available below 0x{:04x} ({})",
                asm.bytes.len() + buffers + 0x100,
                asm.bytes.len(),
                layout.origin,
                0x100,
                layout.buffers_top as usize - layout.origin as usize,
                layout.buffers_top,
                layout.memory
            ),
            help: "a smaller model fits: fewer channels or units, or sparser weights".into(),
        });
    }
    let step_entry =
        *asm.symbols
            .get("model_step")
            .ok_or_else(|| BackendError::internal("`model_step` is not defined"))? as u16;
    let report = report(layers, plan, &addrs, layout, &asm.symbols, buffers);
    Ok(Z80Files {
        asm_name: format!("{}.asm", model.name),
        asm: print(&items),
        com_name: super::program::com_name(&model.name),
        com: asm.bytes,
        origin: layout.origin,
        step_entry,
        buffers_start: addrs.b,
        report,
    })
}

/// The input map the header's `equ`s describe: a raw model's, with no text parts.
fn lowered_text(model: &Model) -> crate::lowered::InputMap {
    crate::lowered::InputMap::of(model)
}

/// Per layer: its kernel, shapes, bytes of tables and predicted T-states;
/// then the activation memory.
fn report(
    layers: &[MapLayer],
    plan: &BufferPlan,
    addrs: &BufAddrs,
    layout: &Layout,
    symbols: &super::Symbols,
    buffers: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0u64;
    for (k, l) in layers.iter().enumerate() {
        let bytes = {
            let from = symbols.get(&format!("m{k}_taps")).copied().unwrap_or(0);
            let to = symbols
                .get(&format!("m{}_taps", k + 1))
                .or_else(|| symbols.get("labels"))
                .or_else(|| symbols.get("program_end"))
                .copied()
                .unwrap_or(from);
            to.saturating_sub(from)
        };
        let t = layer_tstates(l, plan.placed[k].pad.is_some());
        total += t;
        let kind = if l.dense {
            "dense".to_string()
        } else {
            format!(
                "{} {}×{} stride {}×{}",
                l.kernel.name(),
                l.size[0],
                l.size[1],
                l.stride[0],
                l.stride[1]
            )
        };
        out.push(format!(
            "layer {}: {kind}, {}×{}×{} -> {}×{}×{}, {} taps, {bytes} bytes, {} {}, {t} T-states predicted",
            k + 1,
            l.input.c,
            l.input.h,
            l.input.w,
            l.output.c,
            l.output.h,
            l.output.w,
            l.tap_count(),
            l.work(),
            match l.kernel {
                Kernel::Mac { .. } => "MACs",
                Kernel::Max => "compares",
                Kernel::Avg { .. } => "additions",
            },
        ));
    }
    out.push(format!(
        "maps: buffers of {} and {} bytes reused between layers, input {} bytes; peak RAM {} bytes (0x{:04x}-0x{:04x}, variables' page included); {total} T-states per inference predicted",
        plan.bytes[0],
        plan.bytes[1],
        buffers - plan.bytes[0] - plan.bytes[1],
        buffers + 0x100,
        addrs.b,
        layout.buffers_top - 1,
    ));
    out
}

#[cfg(test)]
mod tests {
    use crate::target::Verified;
    use crate::z80::target::z80_raw_reply;
    use zlmc_ir::interp;

    /// `text`'s CP/M program answers each of `inputs` as the interpreter,
    /// and so does its values form (all the last layer's outputs printed).
    fn agrees(text: &str, inputs: &[Vec<i16>]) {
        let m = zlmc_ir::text::parse_model(text).expect("parses");
        let mut values = m.clone();
        values.decode = zlmc_ir::Decode::Values {
            count: m.classes(),
            quant: zlmc_ir::OutputQuant {
                scale: 1.0,
                zero_point: 0,
            },
        };
        for m in [m, values] {
            let v = Verified::new(&m).expect("verifies");
            let z = super::emit_maps(
                &m,
                v.lowered(),
                &crate::Provenance {
                    version: "t".into(),
                    source: "t".into(),
                },
                super::super::Runtimes {
                    chat: zlmc_runtime_z80::CHAT_ASM,
                    classify: zlmc_runtime_z80::CLASSIFY_ASM,
                    raw: zlmc_runtime_z80::RAW_ASM,
                    raw_values: zlmc_runtime_z80::RAW_VALUES_ASM,
                },
                &super::super::CPM,
            )
            .expect("builds");
            for x in inputs {
                let words = |v: &[i16]| {
                    let w: Vec<String> = v.iter().map(|v| v.to_string()).collect();
                    w.join(" ")
                };
                let (got, _) =
                    z80_raw_reply(&z.com, z.step_entry, words(x).as_bytes()).expect("runs");
                let r = interp::step(&m.graph, x);
                let want = match m.decode {
                    zlmc_ir::Decode::Values { .. } => words(&r.logits).into_bytes(),
                    _ => m.decode.answer(r.class).expect("a label"),
                };
                assert_eq!(
                    String::from_utf8_lossy(&got.reply),
                    String::from_utf8_lossy(&want),
                    "{x:?}"
                );
            }
        }
    }

    /// Inputs of `n` values: small, large, and extreme (for the wrap-arounds).
    fn inputs(n: usize) -> Vec<Vec<i16>> {
        let f = |k: i64| -> Vec<i16> {
            (0..n as i64)
                .map(|i| ((i * 7919 + k * 104_729) % 65_536 - 32_768) as i16)
                .collect()
        };
        vec![
            f(1),
            f(2),
            (0..n).map(|i| (i % 5) as i16 - 2).collect(),
            vec![i16::MIN; n],
            vec![i16::MAX; n],
            (0..n).map(|i| (i * 37 % 200) as i16 - 100).collect(),
        ]
    }

    #[test]
    fn dense_layers_through_the_map_code_answer_as_the_interpreter() {
        for acc in ["i16", "i32"] {
            let text = format!(
                "zir 1\nmodel \"m\"\nencode raw(length: 3)\ndecode classify(labels: [\"a\", \"b\", \"c\"])\n\n\
                 %0 = input : i16[3]\n\
                 %1 = matmul %0, dense int8[4, 3] [\n[1 -2 3]\n[-128 127 0]\n[5 0 -7]\n[0 0 0]\n], acc {acc} : {acc}[4]\n\
                 %2 = epilogue %1, bias [3, -5, 100, 7], shift 2, relu : i16[4]\n\
                 %3 = matmul %2, dense int8[3, 4] [\n[1 2 3 4]\n[-1 -2 -3 4]\n[9 -9 1 1]\n], acc {acc} : {acc}[3]\n\
                 %4 = epilogue %3, bias [0, 1, -1], shift 1 : i16[3]\n\
                 %5 = argmax %4 : index\n"
            );
            agrees(&text, &inputs(3));
        }
    }

    #[test]
    fn a_small_cnn_answers_as_the_interpreter() {
        for (acc, shift) in [("i16", 3), ("i32", 9), ("i32", 17)] {
            let text = format!(
                "zir 1\nmodel \"c\"\nencode raw(length: 25)\ndecode classify(labels: [\"a\", \"b\", \"c\"])\n\n\
                 %0 = input : i16[25]\n\
                 %1 = reshape %0, [1, 5, 5] : i16[1, 5, 5]\n\
                 %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, dense int8[2, 9] [\n\
                 [1 -2 3 0 1 1 -1 2 5]\n[-128 127 0 0 3 0 0 -7 1]\n], acc {acc} : {acc}[2, 5, 5]\n\
                 %3 = epilogue %2, bias [3, -5], shift {shift}, relu : i16[2, 5, 5]\n\
                 %4 = maxpool %3, kernel [2, 2], stride [2, 2], pad [0, 0, 1, 1] : i16[2, 3, 3]\n\
                 %5 = conv %4, kernel [2, 2], stride [1, 1], pad [1, 0, 0, 1], groups 2, dense int8[4, 4] [\n\
                 [1 -1 2 3]\n[0 0 0 -2]\n[7 7 -7 1]\n[1 1 1 1]\n], acc {acc} : {acc}[4, 3, 3]\n\
                 %6 = epilogue %5, bias [0, -1, 2, 1], shift 1 : i16[4, 3, 3]\n\
                 %7 = avgpool %6, kernel [2, 2], stride [1, 1], pad [0, 0, 0, 0], mul 3, shift 2 : i16[4, 2, 2]\n\
                 %8 = flatten %7 : i16[16]\n\
                 %9 = matmul %8, sparse int8[3, 16] [\n[0:1 3:-2 15:5]\n[1:1 2:1 7:-1]\n[4:9]\n], acc {acc} : {acc}[3]\n\
                 %10 = epilogue %9, bias [1, 0, -1], shift 2 : i16[3]\n\
                 %11 = argmax %10 : index\n"
            );
            agrees(&text, &inputs(25));
        }
    }

    #[test]
    fn a_1d_cnn_answers_as_the_interpreter() {
        let text = "zir 1\nmodel \"d\"\nencode raw(length: 11)\ndecode classify(labels: [\"a\", \"b\"])\n\n\
             %0 = input : i16[11]\n\
             %1 = reshape %0, [1, 11] : i16[1, 11]\n\
             %2 = conv %1, kernel [5], stride [2], pad [2, 2], groups 1, dense int8[3, 5] [\n\
             [1 -1 1 -1 1]\n[0 2 0 0 0]\n[-3 -3 -3 -3 -3]\n], acc i16 : i16[3, 6]\n\
             %3 = epilogue %2, bias [1, 2, 3], shift 0 : i16[3, 6]\n\
             %4 = maxpool %3, kernel [3], stride [3], pad [1, 1] : i16[3, 2]\n\
             %5 = avgpool %4, kernel [2], stride [2], pad [0, 0], mul 255, shift 31 : i16[3, 1]\n\
             %6 = flatten %5 : i16[3]\n\
             %7 = matmul %6, dense int8[2, 3] [\n[1 2 3]\n[3 2 1]\n], acc i16 : i16[2]\n\
             %8 = argmax %7 : index\n";
        agrees(text, &inputs(11));
    }
}
