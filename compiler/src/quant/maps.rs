//! Convolutions and pools on integer maps as the interpreter computes them
//! (for calibration, before a model exists), and the patches a convolution
//! reads (its inputs seen as a dense layer's, for choosing its weights).

use zlmc_ir::{DenseWeights, Shape, Window};

use super::float_model::at;

/// The output map of `window` over `input` (the window fits: it was checked).
pub fn output(input: Shape, window: Window, channels: usize) -> Shape {
    window
        .map_over(input, channels)
        .expect("a checked window fits its input")
}

/// Every in-bounds flat index of each window of channel `c`, output position by position.
fn windows(input: Shape, window: Window, c: usize) -> impl Iterator<Item = Vec<usize>> {
    let out = output(input, window, 1);
    let [kh, kw] = window.kernel;
    (0..out.height).flat_map(move |oy| {
        (0..out.width).map(move |ox| {
            (0..kh)
                .flat_map(|ky| (0..kw).map(move |kx| (ky, kx)))
                .filter_map(|(ky, kx)| at(input, window, c, oy, ox, ky, kx))
                .collect()
        })
    })
}

/// `Σ W·x + b` of a convolution at every output element, not wrapped.
pub fn conv_sums(
    x: &[i64],
    input: Shape,
    window: Window,
    groups: usize,
    w: &DenseWeights,
    bias: &[i64],
) -> Vec<i64> {
    let out = output(input, window, w.rows);
    let per_in = input.channels / groups;
    let per_out = w.rows / groups;
    let [kh, kw] = window.kernel;
    let mut y = Vec::with_capacity(out.len());
    for (o, &b) in bias.iter().enumerate().take(w.rows) {
        let row = w.row(o);
        let first = o / per_out * per_in;
        for oy in 0..out.height {
            for ox in 0..out.width {
                let mut s = b;
                for ci in 0..per_in {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some(i) = at(input, window, first + ci, oy, ox, ky, kx) {
                                s += i64::from(row[(ci * kh + ky) * kw + kx]) * x[i];
                            }
                        }
                    }
                }
                y.push(s);
            }
        }
    }
    y
}

/// Max pooling: the largest in-bounds element of every window.
pub fn max_pool(x: &[i64], input: Shape, window: Window) -> Vec<i64> {
    (0..input.channels)
        .flat_map(|c| windows(input, window, c))
        .map(|idx| {
            idx.iter()
                .map(|&i| x[i])
                .max()
                .expect("a window holds an element")
        })
        .collect()
}

/// The sum of the in-bounds elements of every window (padding adds 0).
pub fn sum_pool(x: &[i64], input: Shape, window: Window) -> Vec<i64> {
    (0..input.channels)
        .flat_map(|c| windows(input, window, c))
        .map(|idx| idx.iter().map(|&i| x[i]).sum())
        .collect()
}

/// What a convolution's weight columns read, as a dense layer's inputs:
/// for each group, one patch of `(C/groups)·kh·kw` values per output
/// position (0 where the window reads padding).
pub fn patches(x: &[f64], input: Shape, window: Window, groups: usize) -> Vec<Vec<Vec<f64>>> {
    let out = output(input, window, 1);
    let per_in = input.channels / groups;
    let [kh, kw] = window.kernel;
    (0..groups)
        .map(|g| {
            let mut per_position = Vec::with_capacity(out.len());
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let mut p = Vec::with_capacity(per_in * kh * kw);
                    for ci in 0..per_in {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let i = at(input, window, g * per_in + ci, oy, ox, ky, kx);
                                p.push(i.map_or(0.0, |i| x[i]));
                            }
                        }
                    }
                    per_position.push(p);
                }
            }
            per_position
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zlmc_ir::WeightKind;

    fn square(n: usize) -> Shape {
        Shape {
            channels: 1,
            height: n,
            width: n,
        }
    }

    #[test]
    fn integer_pools_follow_the_float_ones() {
        let w = Window {
            kernel: [2, 2],
            stride: [2, 2],
            pads: [1, 1, 0, 0],
        };
        let x: Vec<i64> = (1..=9).collect();
        assert_eq!(max_pool(&x, square(3), w), vec![1, 3, 7, 9]);
        assert_eq!(sum_pool(&x, square(3), w), vec![1, 5, 11, 28]);
    }

    #[test]
    fn conv_sums_and_patches_agree() {
        let w = Window {
            kernel: [3, 3],
            stride: [1, 1],
            pads: [1; 4],
        };
        let weights = DenseWeights {
            kind: WeightKind::Int8,
            rows: 1,
            cols: 9,
            data: vec![1, 2, 3, 4, 5, 6, 7, 8, 9],
        };
        let x: Vec<i64> = (1..=9).collect();
        let sums = conv_sums(&x, square(3), w, 1, &weights, &[10]);
        let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let p = patches(&xf, square(3), w, 1);
        for (s, patch) in sums.iter().zip(&p[0]) {
            let dot: f64 = patch
                .iter()
                .zip(&weights.data)
                .map(|(a, &b)| a * f64::from(b))
                .sum();
            assert_eq!(*s, dot as i64 + 10);
        }
        // The centre reads the whole map: Σ k·k over 1..=9.
        assert_eq!(sums[4], 285 + 10);
    }
}
