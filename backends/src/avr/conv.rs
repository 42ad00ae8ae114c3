//! The convolution front of a model: the conv and pool layers before the
//! dense ones, as the AVR runs them (see docs/avr.md, "Convolutions").
//!
//! Every conv layer first copies its input map into a padded scratch of
//! bytes, the low byte of each element with its top bit flipped (the
//! element − 128 as a signed byte) and the border 0x80 (an element 0), so
//! that every window is whole and no tap tests a bound. The output
//! channel's weights wait in registers (loaded from flash once per channel)
//! and each output's window is one straight run of `ldd`, `muls` and adds.
//! The products are flipped to unsigned (+32768) so that three bytes add
//! them without sign extension; the flips and the −128 come back as one
//! constant per channel, folded into its bias. Inputs outside 0..=255 (some
//! high byte not 0) take a second plane of the high bytes and two runs per
//! output. Pools read the map (or a padded copy, −32768 or 0 around it) as
//! 16-bit elements.
//!
//! Every layer but the first writes its map over its input's: a conv or a
//! padded pool has copied its input into the scratch by then, and an
//! unpadded pool never writes an element a later window reads. So the maps
//! take one buffer, the largest map, beside the scratch; the dense layers'
//! buffers go into the scratch when it holds them (it is free by then).

use zlmc_ir::{Elem, Shape, Window};

use super::activation;
use super::buffer::Buffer;
use super::estimate::Cycles;
use crate::lowered::{Activation, Epilogue, FusedLayer, LayerOp, Lowered, Unsupported};

/// The most weights an output channel keeps in registers; more taps read
/// the rest from flash at every output.
pub const WEIGHT_REGS: usize = 9;
/// With more taps than [`WEIGHT_REGS`], the weights kept in registers (the
/// others need a register to load into and a pair for their address).
pub const FEW_WEIGHT_REGS: usize = 6;
/// The most elements an average pool's window may hold (its sum is 24-bit).
pub const MAX_AVG_WINDOW: usize = 256;

/// What a front stage computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOp {
    /// A convolution: per output channel, its weights in the IR's column order.
    Conv {
        /// Groups (depthwise: as many as input channels).
        groups: usize,
        /// Per output channel, `(C/groups)·kh·kw` weights.
        weights: Vec<Vec<i8>>,
    },
    /// The largest element of each window.
    MaxPool,
    /// `(Σ window) · mul >> shift`, wrapped to int16.
    AvgPool {
        /// The multiplier, 1..=255.
        mul: u8,
        /// The shift.
        shift: u32,
    },
}

/// One conv or pool layer with its epilogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// What it computes.
    pub op: StageOp,
    /// Kernel, stride, padding.
    pub window: Window,
    /// The map it reads.
    pub input: Shape,
    /// The map it writes.
    pub output: Shape,
    /// Accumulator width (conv; pools: i16).
    pub acc: Elem,
    /// Bias per output channel (conv; pools: all 0).
    pub bias: Vec<i64>,
    /// Arithmetic shift right after the sum (conv; pools: 0).
    pub shift: u32,
    /// The activation after the shift.
    pub activation: Option<Activation>,
}

impl Stage {
    /// The padded input's height and width.
    pub fn padded(&self) -> (usize, usize) {
        let p = self.window.pads;
        (
            self.input.height + p[0] + p[2],
            self.input.width + p[1] + p[3],
        )
    }

    /// Whether the stage reads a padded copy of its input (every conv: its
    /// bytes are flipped; a pool only with padding).
    pub fn copies(&self) -> bool {
        matches!(self.op, StageOp::Conv { .. }) || self.window.pads.iter().any(|&p| p > 0)
    }

    /// Bytes of one padded plane (a conv's low or high bytes).
    pub fn plane(&self) -> usize {
        let (hp, wp) = self.padded();
        self.input.channels * hp * wp
    }

    /// Bytes of scratch the stage needs: two byte planes for a conv, the
    /// 16-bit padded map for a padded pool.
    pub fn scratch(&self) -> usize {
        if self.copies() {
            2 * self.plane()
        } else {
            0
        }
    }

    /// Elements of one window (per input channel of a group for a conv).
    pub fn window_len(&self) -> usize {
        self.window.kernel[0] * self.window.kernel[1]
    }

    /// A conv's taps per output (`(C/groups)·kh·kw`); a pool's window.
    pub fn taps(&self) -> usize {
        match &self.op {
            StageOp::Conv { groups, .. } => self.input.channels / groups * self.window_len(),
            _ => self.window_len(),
        }
    }

    /// Each tap's offset from the window's first element in elements of the
    /// (padded, for a copy) input: `(ci·Hp + ky)·Wp + kx`.
    pub fn tap_offsets(&self) -> Vec<usize> {
        let (hp, wp) = if self.copies() {
            self.padded()
        } else {
            (self.input.height, self.input.width)
        };
        let [kh, kw] = self.window.kernel;
        let cg = self.taps() / self.window_len();
        let mut v = Vec::new();
        for ci in 0..cg {
            for ky in 0..kh {
                for kx in 0..kw {
                    v.push((ci * hp + ky) * wp + kx);
                }
            }
        }
        v
    }

    /// Whether a conv's sums need four bytes (more than 256 flipped products).
    pub fn wide(&self) -> bool {
        self.taps() > 256
    }

    /// Weights kept in registers per output channel.
    pub fn weight_regs(&self) -> usize {
        if self.taps() <= WEIGHT_REGS {
            self.taps()
        } else {
            FEW_WEIGHT_REGS
        }
    }

    /// Per output channel, the constant added to the flipped sum: the bias,
    /// 128·Σw for the low bytes read as `x − 128`, −32768 per flipped product.
    pub fn channel_constant(&self, o: usize) -> u32 {
        let StageOp::Conv { weights, .. } = &self.op else {
            return 0;
        };
        let sw: i64 = weights[o].iter().map(|&w| w as i64).sum();
        (self.bias[o] + 128 * sw - 32768 * self.taps() as i64) as u32
    }

    /// A conv's flash record per output channel: its window base (2 bytes,
    /// offset into the scratch), its constant (4 bytes), its weights.
    pub fn table(&self) -> Vec<u8> {
        let StageOp::Conv { groups, weights } = &self.op else {
            return Vec::new();
        };
        let per_group = self.output.channels / groups;
        let cg = self.input.channels / groups;
        let (hp, wp) = self.padded();
        let mut b = Vec::new();
        for (o, w) in weights.iter().enumerate() {
            let base = (o / per_group) * cg * hp * wp;
            b.extend_from_slice(&(base as u16).to_le_bytes());
            b.extend_from_slice(&self.channel_constant(o).to_le_bytes());
            b.extend(w.iter().map(|&x| x as u8));
        }
        b
    }

    /// The layer's kernel as `zlmc build` names it.
    pub fn kernel(&self) -> &'static str {
        match self.op {
            StageOp::Conv { .. } if self.taps() <= WEIGHT_REGS => "conv, weights in registers",
            StageOp::Conv { .. } => "conv, weights in registers and flash",
            StageOp::MaxPool => "maxpool",
            StageOp::AvgPool { .. } => "avgpool",
        }
    }

    /// What the layer is, for the report: `conv 1x8x8 -> 4x8x8 (3x3, stride 1, 1 group)`.
    pub fn describe(&self) -> String {
        let name = match self.op {
            StageOp::Conv { .. } => "conv",
            StageOp::MaxPool => "maxpool",
            StageOp::AvgPool { .. } => "avgpool",
        };
        let shape = |s: Shape| {
            if s.height == 1 {
                format!("{}x{}", s.channels, s.width)
            } else {
                format!("{}x{}x{}", s.channels, s.height, s.width)
            }
        };
        let w = &self.window;
        let mut s = format!(
            "{name} {} -> {}, window {}x{} stride {}x{}",
            shape(self.input),
            shape(self.output),
            w.kernel[0],
            w.kernel[1],
            w.stride[0],
            w.stride[1]
        );
        if let StageOp::Conv { groups, .. } = self.op {
            s.push_str(&format!(
                ", {groups} group{}, {}-bit accumulators",
                if groups == 1 { "" } else { "s" },
                self.acc.bits()
            ));
        }
        s
    }

    /// Why the AVR cannot run the stage, if it cannot.
    pub fn check(&self) -> Result<(), Unsupported> {
        let o = self.output;
        let too = |what: &str| {
            Err(Unsupported::Other(format!(
                "the AVR backend takes {what} of at most 255 in a conv or pool layer ({})",
                self.describe()
            )))
        };
        if o.channels > 255 || self.input.channels > 255 {
            return too("channels");
        }
        if o.height > 255 || o.width > 255 || self.input.height > 255 {
            return too("output heights and widths, input heights");
        }
        if self.window.kernel[0] > 255 {
            return too("window heights");
        }
        if let StageOp::AvgPool { .. } = self.op {
            if self.window_len() > MAX_AVG_WINDOW {
                return Err(Unsupported::Other(format!(
                    "the AVR backend takes average pools of at most {MAX_AVG_WINDOW} elements \
                     a window ({})",
                    self.describe()
                )));
            }
        }
        Ok(())
    }
}

/// The front's buffers in SRAM: the map every layer writes (the first
/// reads the caller's vector, the others the map, in place) and the padded
/// scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Bytes of the map.
    pub map: usize,
    /// Bytes of the padded scratch.
    pub scratch: usize,
}

impl Memory {
    /// The buffers `stages` need.
    pub fn of(stages: &[Stage]) -> Memory {
        let mut m = Memory::default();
        for s in stages {
            m.map = m.map.max(2 * s.output.len());
            m.scratch = m.scratch.max(s.scratch());
        }
        m
    }

    /// Static RAM of the front: its buffers and the input pointer it keeps.
    pub fn sram(&self) -> usize {
        if self.map == 0 {
            return 0;
        }
        self.map + self.scratch + 2
    }

    /// Whether the dense layers' two buffers (`bufs` bytes) fit in the scratch.
    pub fn holds(&self, bufs: usize) -> bool {
        self.map > 0 && bufs <= self.scratch
    }
}

/// Cycles of the pieces of a stage's code, measured on the code itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pieces {
    /// One output on the fast path (inputs in 0..=255; pools: always).
    pub fast: usize,
    /// One output on the general path.
    pub general: usize,
    /// Per output channel.
    pub channel: usize,
    /// Per output row.
    pub row: usize,
    /// Copying one element into the scratch (per plane).
    pub copy: usize,
    /// Per element of a separate activation pass.
    pub activation: usize,
}

/// A stage's predicted cycles from the cycles of its code's pieces.
pub fn predicted(s: &Stage, p: Pieces) -> Cycles {
    let o = s.output;
    let outputs = o.len();
    let rows = o.channels * o.height;
    let (hp, wp) = s.padded();
    let copy = if s.copies() {
        s.input.len() * p.copy + s.input.channels * hp * wp * 3 / 2
    } else {
        0
    };
    let base = copy + o.channels * p.channel + rows * p.row + outputs * p.activation + 30;
    let general = match s.op {
        StageOp::Conv { .. } => base + copy + outputs * p.general,
        _ => base + outputs * p.fast,
    };
    Cycles {
        expected: base + outputs * p.fast,
        worst: general,
    }
}

/// The SRAM buffers of the front, in `.bss` (after the dense layers' own).
pub fn buffers(a: &mut Buffer, p: &str, m: &Memory) {
    if m.sram() == 0 {
        return;
    }
    a.section(".section .bss");
    for (name, bytes, what) in [
        (
            "map",
            m.map,
            "the conv and pool layers' output maps, each over the last",
        ),
        (
            "pad",
            m.scratch,
            "a conv or pool layer's input, padded (a conv's as byte planes)",
        ),
        ("cin", 2, "the input pointer the conv layers were given"),
    ] {
        if bytes > 0 {
            a.comment(what);
            a.label(format!("{p}_{name}"));
            a.directive(format!(".skip {bytes}"));
        }
    }
}

/// Bytes of the front's flash tables: conv records and lookup tables.
pub fn table_bytes(stages: &[Stage]) -> usize {
    stages
        .iter()
        .map(|s| {
            s.table().len()
                + match &s.activation {
                    Some(Activation::Lut { table, .. }) => activation::lut_bytes(table).len(),
                    _ => 0,
                }
        })
        .sum()
}

/// The front's flash tables: per conv layer its channel records, per
/// layer with a lookup-table activation its table.
pub fn tables(a: &mut Buffer, p: &str, stages: &[Stage]) {
    if table_bytes(stages) == 0 {
        return;
    }
    a.section(".section .progmem.data,\"a\",@progbits");
    for (j, s) in stages.iter().enumerate() {
        let t = s.table();
        if !t.is_empty() {
            a.blank();
            a.comment(format!(
                "Layer {}: per output channel its window's offset in the scratch, its \
                 constant (bias + 128 * sum of weights - 32768 * taps), its {} weights.",
                j + 1,
                s.taps()
            ));
            a.label(format!("{p}_s{j}_w"));
            byte_lines(a, &t);
        }
        if let Some(Activation::Lut { table, .. }) = &s.activation {
            a.blank();
            a.comment(format!("Layer {}'s activation table.", j + 1));
            a.label(format!("{p}_s{j}_act"));
            byte_lines(a, &activation::lut_bytes(table));
        }
    }
    a.directive(".p2align 1");
}

/// `.byte` lines, 16 a line.
fn byte_lines(a: &mut Buffer, bytes: &[u8]) {
    for chunk in bytes.chunks(16) {
        let b: Vec<String> = chunk.iter().map(|b| format!("0x{b:02X}")).collect();
        a.directive(format!(".byte {}", b.join(", ")));
    }
}

/// The model's conv and pool layers (which must all come before its dense
/// ones) and its dense layers fused, or why the AVR cannot take them.
pub fn split(
    lowered: &Lowered,
    backend: &'static str,
) -> Result<(Vec<Stage>, Vec<FusedLayer>), Unsupported> {
    if lowered
        .layers
        .iter()
        .all(|l| matches!(l.op, LayerOp::Dense(_)))
    {
        return Ok((Vec::new(), lowered.fused_layers(backend)?));
    }
    if let Some(step) = lowered.prelude.first() {
        return Err(Unsupported::BeforeFirstLayer {
            backend,
            op: step.mnemonic(),
        });
    }
    let mut stages = Vec::new();
    let mut dense = Vec::new();
    for l in &lowered.layers {
        let e = l.epilogue(backend)?;
        let stage = match &l.op {
            LayerOp::Dense(w) => {
                dense.push(FusedLayer::new(w, l.acc, e));
                continue;
            }
            _ if !dense.is_empty() => {
                return Err(Unsupported::Other(format!(
                    "the {backend} backend takes conv and pool layers before the dense layers only"
                )))
            }
            LayerOp::Conv {
                window,
                groups,
                weights,
                input,
                output,
            } => Stage {
                op: StageOp::Conv {
                    groups: *groups,
                    weights: (0..weights.rows())
                        .map(|r| {
                            let mut v = vec![0i8; weights.cols()];
                            for (c, w) in weights.row_entries(r) {
                                v[c as usize] = w;
                            }
                            v
                        })
                        .collect(),
                },
                window: *window,
                input: *input,
                output: *output,
                acc: l.acc,
                bias: e.bias,
                shift: e.shift,
                activation: e.activation,
            },
            LayerOp::MaxPool {
                window,
                input,
                output,
            } => pool(StageOp::MaxPool, window, input, output, e),
            LayerOp::AvgPool {
                window,
                mul,
                shift,
                input,
                output,
            } => pool(
                StageOp::AvgPool {
                    mul: *mul,
                    shift: *shift,
                },
                window,
                input,
                output,
                e,
            ),
        };
        stage.check()?;
        stages.push(stage);
    }
    if dense.is_empty() {
        return Err(Unsupported::Other(format!(
            "the {backend} backend needs a dense layer after the conv and pool layers"
        )));
    }
    Ok((stages, dense))
}

/// A pool stage (its epilogue is an activation at most).
fn pool(op: StageOp, window: &Window, input: &Shape, output: &Shape, e: Epilogue) -> Stage {
    Stage {
        op,
        window: *window,
        input: *input,
        output: *output,
        acc: Elem::I16,
        bias: vec![0; output.channels],
        shift: 0,
        activation: e.activation,
    }
}
