//! The plan of a feature-map model (one with convolutions or pooling) on the
//! Z80, made before any code is emitted: each layer as a loop over output
//! channels, rows and columns whose element kernel walks a list of taps, the
//! zero padding each layer needs as a copy into a padded buffer, and the
//! activation memory: two buffers used in turn, each as large as the largest
//! map placed in it, so a layer's input is freed once its output is written.

use zlmc_ir::Elem;

use crate::lowered::Activation;

/// A map's shape, channel-major: element (c, y, x) at (c·h + y)·w + x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Channels.
    pub c: usize,
    /// Height (1 for 1-D maps and vectors).
    pub h: usize,
    /// Width (1 for vectors).
    pub w: usize,
}

impl Dims {
    /// Elements.
    pub fn len(self) -> usize {
        self.c * self.h * self.w
    }
}

/// What an element kernel computes over its window's taps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Σ w·x from the channel's bias, wrapped to `acc`; then shift and activation.
    Mac {
        /// The accumulator.
        acc: Elem,
    },
    /// The largest element (padding never wins: it holds -32768).
    Max,
    /// The exact sum, then `sum·mul >> shift` wrapped to i16.
    Avg {
        /// 1..=255.
        mul: u8,
        /// 0..=31.
        shift: u32,
    },
}

impl Kernel {
    /// The layer kind's name, as `zlmc build` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Mac { .. } => "conv",
            Kernel::Max => "maxpool",
            Kernel::Avg { .. } => "avgpool",
        }
    }

    /// The value padding holds for this kernel.
    pub fn pad_fill(self) -> i16 {
        match self {
            Kernel::Max => i16::MIN,
            _ => 0,
        }
    }
}

/// One weight of an output channel: input channel (absolute), ky, kx, weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    /// Input channel.
    pub ci: usize,
    /// Row within the window.
    pub ky: usize,
    /// Column within the window.
    pub kx: usize,
    /// Weight (never 0: zero weights are left out).
    pub w: i8,
}

/// A layer as the Z80 runs it: a convolution, a pool, or a dense layer
/// (a 1×1 convolution over a map of `inputs` channels of 1×1).
#[derive(Debug, Clone)]
pub struct MapLayer {
    /// Its element kernel.
    pub kernel: Kernel,
    /// The input map.
    pub input: Dims,
    /// The output map.
    pub output: Dims,
    /// Kernel (height, width).
    pub size: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Zero padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Per output channel, its non-zero taps.
    pub taps: Vec<Vec<Tap>>,
    /// Per output channel, the accumulator's start (wrapped to the accumulator).
    pub bias: Vec<i64>,
    /// Arithmetic shift right after the sum (Mac only).
    pub shift: u32,
    /// The activation last, if any.
    pub activation: Option<Activation>,
    /// Whether it was a dense layer (for the report).
    pub dense: bool,
}

impl MapLayer {
    /// Whether it reads a padded copy of its input.
    pub fn padded(&self) -> bool {
        self.pads.iter().any(|&p| p > 0)
    }

    /// The map it reads: its input with the padding around each channel.
    pub fn read_dims(&self) -> Dims {
        let [t, l, b, r] = self.pads;
        Dims {
            c: self.input.c,
            h: self.input.h + t + b,
            w: self.input.w + l + r,
        }
    }

    /// Tap `t`'s byte offset from the window's first element in the map it reads.
    pub fn tap_offset(&self, t: &Tap) -> usize {
        let d = self.read_dims();
        2 * ((t.ci * d.h + t.ky) * d.w + t.kx)
    }

    /// Number of taps in all.
    pub fn tap_count(&self) -> usize {
        self.taps.iter().map(Vec::len).sum()
    }

    /// Multiply-accumulates (or compares, or additions) of one inference.
    pub fn work(&self) -> usize {
        self.tap_count() * self.output.h * self.output.w
    }
}

/// Where a map lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buf {
    /// The input the front-end fills.
    Zin,
    /// The first activation buffer.
    A,
    /// The second.
    B,
}

/// One layer placed: where it reads from and writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// With padding: the unpadded input and the buffer its padded copy goes to.
    pub pad: Option<(Buf, Buf)>,
    /// The map the kernels read (the padded copy, if any).
    pub src: Buf,
    /// The output.
    pub dst: Buf,
}

/// The activation memory of a chain of layers fed from `Buf::Zin`: each
/// map goes into whichever of A and B the layer is not reading, so two
/// buffers serve the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferPlan {
    /// Per layer.
    pub placed: Vec<Placed>,
    /// Bytes of A and of B.
    pub bytes: [usize; 2],
}

impl BufferPlan {
    /// Place `layers`' maps.
    pub fn new(layers: &[MapLayer]) -> BufferPlan {
        let mut bytes = [0usize; 2];
        let mut cur = Buf::Zin;
        let other = |b: Buf| if b == Buf::A { Buf::B } else { Buf::A };
        let mut need = |b: Buf, n: usize| {
            let i = usize::from(b == Buf::B);
            if b != Buf::Zin {
                bytes[i] = bytes[i].max(2 * n);
            }
        };
        let mut placed = Vec::new();
        for l in layers {
            let pad = l.padded().then(|| (cur, other(cur)));
            let src = pad.map_or(cur, |(_, p)| p);
            if let Some((_, p)) = pad {
                need(p, l.read_dims().len());
            }
            let dst = other(src);
            need(dst, l.output.len());
            placed.push(Placed { pad, src, dst });
            cur = dst;
        }
        BufferPlan { placed, bytes }
    }

    /// The buffer holding the last layer's output.
    pub fn last(&self) -> Buf {
        self.placed.last().map_or(Buf::Zin, |p| p.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(input: Dims, output: Dims, pads: [usize; 4]) -> MapLayer {
        MapLayer {
            kernel: Kernel::Max,
            input,
            output,
            size: [1, 1],
            stride: [1, 1],
            pads,
            taps: vec![Vec::new(); output.c],
            bias: vec![0; output.c],
            shift: 0,
            activation: None,
            dense: false,
        }
    }

    #[test]
    fn two_buffers_take_turns_and_a_padded_copy_takes_the_free_one() {
        let d = |c, h, w| Dims { c, h, w };
        let ls = [
            layer(d(1, 8, 8), d(4, 8, 8), [1, 1, 1, 1]),
            layer(d(4, 8, 8), d(4, 4, 4), [0; 4]),
            layer(d(64, 1, 1), d(10, 1, 1), [0; 4]),
        ];
        let p = BufferPlan::new(&ls);
        assert_eq!(p.placed[0].pad, Some((Buf::Zin, Buf::A)));
        assert_eq!((p.placed[0].src, p.placed[0].dst), (Buf::A, Buf::B));
        assert_eq!((p.placed[1].src, p.placed[1].dst), (Buf::B, Buf::A));
        assert_eq!((p.placed[2].src, p.placed[2].dst), (Buf::A, Buf::B));
        // A: the padded 10×10 input or the 4×4×4 pool; B: the 4×8×8 conv output.
        assert_eq!(p.bytes, [2 * 100, 2 * 256]);
        assert_eq!(p.last(), Buf::B);
    }

    #[test]
    fn tap_offsets_count_in_the_padded_map() {
        let mut l = layer(
            Dims { c: 2, h: 3, w: 5 },
            Dims { c: 2, h: 3, w: 5 },
            [1, 2, 1, 0],
        );
        l.size = [3, 3];
        let t = Tap {
            ci: 1,
            ky: 2,
            kx: 1,
            w: 3,
        };
        // The padded map is 2 × 5 × 7.
        assert_eq!(l.tap_offset(&t), 2 * ((5 + 2) * 7 + 1));
    }
}
