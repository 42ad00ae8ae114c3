//! Convolutions and pools in training. A convolution's inputs are gathered
//! into patches (one row per output position, zeros where a tap reads the
//! padding) so that its sums and both of its gradients are matrix products;
//! pools are computed as the interpreter computes them, and their gradient
//! goes to the element a max took, or spreads over the window an average read.

use zlmc_ir::op::shift_to_i16;
use zlmc_ir::{Shape, Window};

use super::gemm::{matmul, View};

/// A convolution's geometry.
#[derive(Debug, Clone, Copy)]
pub struct ConvShape {
    /// The input map.
    pub input: Shape,
    /// Kernel, stride, padding.
    pub window: Window,
    /// Channel groups.
    pub groups: usize,
    /// Output channels.
    pub rows: usize,
}

impl ConvShape {
    /// Output positions per channel.
    pub fn positions(&self) -> usize {
        self.window
            .map_over(self.input, 1)
            .expect("a verified convolution fits its input")
            .len()
    }

    /// Flat output length (channel-major).
    pub fn out_len(&self) -> usize {
        self.rows * self.positions()
    }

    /// Weights per output channel: input channels per group times the window.
    pub fn cols(&self) -> usize {
        self.input.channels / self.groups * self.window.area()
    }

    /// Group `g`'s patches of `batch` inputs: `(batch · positions) × cols`.
    fn patches(&self, taps: &[Vec<Option<usize>>], x: &[f32], batch: usize, g: usize) -> Vec<f64> {
        let (area, cols, plane) = (self.window.area(), self.cols(), self.input.plane());
        let first = g * (self.input.channels / self.groups);
        let mut p = vec![0f64; batch * taps.len() * cols];
        for b in 0..batch {
            let xb = &x[b * self.input.len()..(b + 1) * self.input.len()];
            for (pos, at) in taps.iter().enumerate() {
                let row = &mut p[(b * taps.len() + pos) * cols..][..cols];
                for (col, v) in row.iter_mut().enumerate() {
                    let (ci, tap) = (col / area, col % area);
                    if let Some(i) = at[tap] {
                        *v = f64::from(xb[(first + ci) * plane + i]);
                    }
                }
            }
        }
        p
    }

    /// The sums (no bias) of `batch` inputs with weights `w` (`rows × cols`),
    /// per input `[o · positions + p]`. Exact for integers below 2^53.
    pub fn sums(&self, x: &[f32], batch: usize, w: &[f64], threads: usize) -> Vec<f64> {
        let taps = self.window.taps(self.input);
        let (positions, cols, per_out) = (taps.len(), self.cols(), self.rows / self.groups);
        let out_len = self.rows * positions;
        let mut out = vec![0f64; batch * out_len];
        for g in 0..self.groups {
            let p = self.patches(&taps, x, batch, g);
            let wg = &w[g * per_out * cols..(g + 1) * per_out * cols];
            let s = matmul(
                View::new(&p, batch * positions, cols),
                View::new(wg, per_out, cols).t(),
                threads,
            );
            for (r, row) in s.chunks(per_out.max(1)).enumerate() {
                let (b, pos) = (r / positions, r % positions);
                for (oo, &v) in row.iter().enumerate() {
                    out[b * out_len + (g * per_out + oo) * positions + pos] = v;
                }
            }
        }
        out
    }

    /// Gradients from `du` (d loss / d sums, per input `[o · positions + p]`):
    /// of the weights (`rows × cols`), and of the inputs when `input_too`.
    pub fn backward(
        &self,
        x: &[f32],
        batch: usize,
        du: &[f32],
        w: &[f64],
        input_too: bool,
        threads: usize,
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let taps = self.window.taps(self.input);
        let (positions, cols, per_out) = (taps.len(), self.cols(), self.rows / self.groups);
        let (area, plane, per_in) = (
            self.window.area(),
            self.input.plane(),
            self.input.channels / self.groups,
        );
        let out_len = self.rows * positions;
        let mut dw = vec![0f32; self.rows * cols];
        let mut dx = input_too.then(|| vec![0f32; batch * self.input.len()]);
        for g in 0..self.groups {
            // This group's du as (batch · positions) × per_out.
            let mut dug = vec![0f64; batch * positions * per_out];
            for b in 0..batch {
                for oo in 0..per_out {
                    let src = &du[b * out_len + (g * per_out + oo) * positions..][..positions];
                    for (pos, &d) in src.iter().enumerate() {
                        dug[(b * positions + pos) * per_out + oo] = f64::from(d);
                    }
                }
            }
            let p = self.patches(&taps, x, batch, g);
            let gw = matmul(
                View::new(&dug, batch * positions, per_out).t(),
                View::new(&p, batch * positions, cols),
                threads,
            );
            for (d, &v) in dw[g * per_out * cols..].iter_mut().zip(&gw) {
                *d = v as f32;
            }
            if let Some(dx) = &mut dx {
                let wg = &w[g * per_out * cols..(g + 1) * per_out * cols];
                let dp = matmul(
                    View::new(&dug, batch * positions, per_out),
                    View::new(wg, per_out, cols),
                    threads,
                );
                for (r, row) in dp.chunks(cols.max(1)).enumerate() {
                    let (b, pos) = (r / positions, r % positions);
                    let dxb = &mut dx[b * self.input.len()..(b + 1) * self.input.len()];
                    for (col, &v) in row.iter().enumerate() {
                        if let Some(i) = taps[pos][col % area] {
                            dxb[(g * per_in + col / area) * plane + i] += v as f32;
                        }
                    }
                }
            }
        }
        (dw, dx)
    }
}

/// How a pool reduces its window.
#[derive(Debug, Clone, Copy)]
pub enum Reduce {
    /// The largest element.
    Max,
    /// `Σ · mul >> shift` (exactly), or `Σ · mul / 2^shift` (the surrogate).
    Avg {
        /// Multiplier.
        mul: u8,
        /// Right shift.
        shift: u32,
    },
}

/// A pool of `batch` maps of `input` shape, channel-major; `exact` as the
/// interpreter computes an average (shift rounding down, wrap to int16).
pub fn pool(
    input: Shape,
    window: Window,
    reduce: Reduce,
    x: &[f32],
    batch: usize,
    exact: bool,
) -> Vec<f32> {
    let taps = window.taps(input);
    let plane = input.plane();
    let mut out = Vec::with_capacity(batch * input.channels * taps.len());
    for xb in x.chunks(input.len().max(1)).take(batch) {
        for c in 0..input.channels {
            let xc = &xb[c * plane..(c + 1) * plane];
            for at in &taps {
                let vals = at.iter().flatten().map(|&i| xc[i]);
                out.push(match reduce {
                    Reduce::Max => vals.fold(f32::NEG_INFINITY, f32::max),
                    Reduce::Avg { mul, shift } => {
                        let sum: f64 = vals.map(f64::from).sum();
                        if exact {
                            shift_to_i16(sum as i64 * i64::from(mul), shift) as f32
                        } else {
                            (sum * f64::from(mul) / (1u64 << shift) as f64) as f32
                        }
                    }
                });
            }
        }
    }
    out
}

/// d loss / d input of a pool, from `dy` (d loss / d output): a max's to
/// the first element that was the largest, an average's spread over its
/// window's in-bounds elements as `mul / 2^shift` each.
pub fn pool_backward(
    input: Shape,
    window: Window,
    reduce: Reduce,
    x: &[f32],
    batch: usize,
    dy: &[f32],
) -> Vec<f32> {
    let taps = window.taps(input);
    let plane = input.plane();
    let mut dx = vec![0f32; batch * input.len()];
    let mut k = 0;
    for b in 0..batch {
        for c in 0..input.channels {
            let base = b * input.len() + c * plane;
            for at in &taps {
                let d = dy[k];
                k += 1;
                match reduce {
                    Reduce::Max => {
                        let best = at.iter().flatten().copied().reduce(|a, i| {
                            if x[base + i] > x[base + a] {
                                i
                            } else {
                                a
                            }
                        });
                        if let Some(i) = best {
                            dx[base + i] += d;
                        }
                    }
                    Reduce::Avg { mul, shift } => {
                        let each = d * f32::from(mul) / (1u64 << shift) as f32;
                        for &i in at.iter().flatten() {
                            dx[base + i] += each;
                        }
                    }
                }
            }
        }
    }
    dx
}
