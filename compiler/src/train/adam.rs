//! Adam with a step size per layer in the layer's own units.
//!
//! Latent weights live in integer units (an int8 layer's weights run to
//! ±127, a ternary one's to ±1) and biases in accumulator units, so one
//! learning rate cannot suit them all. Each layer's weights step by
//! `lr · max(1, rms of its starting weights)` and its biases by
//! `lr · (rms of its starting sums before the shift)`, at most: Adam's
//! normalized steps are about that size.

use super::net::{Grads, Net};
use super::{batch_inputs, Samples};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
/// Gradients in integer units can be tiny (a shift of 12 scales them by
/// 2^−12): the usual 1e−8 would swamp them. The moments are f64 so that
/// squares of tiny gradients do not underflow.
const EPS: f64 = 1e-30;

/// Adam's state.
#[derive(Debug, Clone)]
pub struct Adam {
    t: i32,
    /// Factor on every step size (the schedule's).
    pub decay: f64,
    lr_w: Vec<f64>,
    lr_b: Vec<f64>,
    m_w: Vec<Vec<f64>>,
    v_w: Vec<Vec<f64>>,
    m_b: Vec<Vec<f64>>,
    v_b: Vec<Vec<f64>>,
}

/// Root mean square, or `floor` when there is nothing to average.
fn rms(v: impl Iterator<Item = f64>, floor: f64) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x * x;
        n += 1;
    }
    if n == 0 || s == 0.0 {
        floor
    } else {
        (s / n as f64).sqrt().max(floor)
    }
}

impl Adam {
    /// Fresh state for `net`, its step sizes measured on (up to 512 of) the examples `idx`.
    pub fn new(net: &Net, data: &Samples, idx: &[usize], lr: f32, threads: usize) -> Adam {
        let lr = lr as f64;
        let sample = &idx[..idx.len().min(512)];
        let t = net.forward(batch_inputs(data, sample), sample.len(), threads);
        let lr_w = net
            .layers
            .iter()
            .map(|l| lr * rms(l.w.iter().filter(|&&w| w != 0.0).map(|&w| w as f64), 1.0))
            .collect();
        let lr_b = net
            .layers
            .iter()
            .zip(&t.unwrapped)
            .map(|(l, u)| {
                let up = (1u64 << l.shift) as f64;
                lr * rms(u.iter().map(|&x| x as f64 * up), up)
            })
            .collect();
        Adam {
            t: 0,
            decay: 1.0,
            lr_w,
            lr_b,
            m_w: net.layers.iter().map(|l| vec![0.0; l.w.len()]).collect(),
            v_w: net.layers.iter().map(|l| vec![0.0; l.w.len()]).collect(),
            m_b: net.layers.iter().map(|l| vec![0.0; l.b.len()]).collect(),
            v_b: net.layers.iter().map(|l| vec![0.0; l.b.len()]).collect(),
        }
    }

    /// One step down `g`, then the latent weights clipped to their kinds.
    pub fn step(&mut self, net: &mut Net, g: &Grads) {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t);
        let c2 = 1.0 - BETA2.powi(self.t);
        for (li, l) in net.layers.iter_mut().enumerate() {
            let lr = self.lr_w[li] * self.decay;
            for (((w, &gi), m), v) in
                l.w.iter_mut()
                    .zip(&g.w[li])
                    .zip(self.m_w[li].iter_mut())
                    .zip(self.v_w[li].iter_mut())
            {
                let gi = gi as f64;
                *m = BETA1 * *m + (1.0 - BETA1) * gi;
                *v = BETA2 * *v + (1.0 - BETA2) * gi * gi;
                *w -= (lr * (*m / c1) / ((*v / c2).sqrt() + EPS)) as f32;
            }
            let lr = self.lr_b[li] * self.decay;
            for (((b, &gi), m), v) in
                l.b.iter_mut()
                    .zip(&g.b[li])
                    .zip(self.m_b[li].iter_mut())
                    .zip(self.v_b[li].iter_mut())
            {
                *m = BETA1 * *m + (1.0 - BETA1) * gi;
                *v = BETA2 * *v + (1.0 - BETA2) * gi * gi;
                *b -= lr * (*m / c1) / ((*v / c2).sqrt() + EPS);
            }
            l.clip_latent();
        }
    }
}
