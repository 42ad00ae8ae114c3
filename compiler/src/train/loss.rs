//! Losses on the student's integer outputs, and their gradients.
//!
//! Class scores are read as float logits `scale · z`; values models as
//! `scale · (z − zero_point)`, the model's output quantization.

/// How a batch of integer outputs is scored.
#[derive(Debug, Clone, Copy)]
pub enum Objective {
    /// Class scores: softmax cross-entropy with labels and/or distillation
    /// from teacher logits.
    Classes {
        /// Float logits per integer output step.
        scale: f32,
        /// Weight of distillation (1 − α goes to the labels).
        alpha: f32,
        /// Distillation temperature τ.
        temperature: f32,
    },
    /// Values: squared error against targets and/or the teacher's values.
    Values {
        /// Float value of one output step.
        scale: f32,
        /// The output that stands for 0.
        zero_point: f32,
        /// Weight of the teacher's values (1 − α goes to the targets).
        alpha: f32,
    },
}

/// What one example is scored against.
#[derive(Debug, Clone, Copy)]
pub struct Truth<'a> {
    /// The class label.
    pub label: Option<u32>,
    /// Target values.
    pub target: Option<&'a [f32]>,
    /// Teacher logits or values.
    pub teacher: Option<&'a [f32]>,
}

/// `softmax(v / t)` in f64.
fn softmax(v: impl Iterator<Item = f64>, t: f64) -> Vec<f64> {
    let v: Vec<f64> = v.map(|x| x / t).collect();
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = v.iter().map(|&x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

impl Objective {
    /// The loss of one example's outputs `z` and, added into `grad`,
    /// d loss / d z scaled by `weight` (1/batch for a batch mean).
    pub fn example(&self, z: &[f32], truth: Truth, weight: f32, grad: &mut [f32]) -> f64 {
        match *self {
            Objective::Classes {
                scale,
                alpha,
                temperature,
            } => {
                let s = scale as f64;
                let mut loss = 0.0;
                let (a, la) = match (truth.teacher, truth.label) {
                    (Some(_), Some(_)) => (alpha as f64, 1.0 - alpha as f64),
                    (Some(_), None) => (1.0, 0.0),
                    (None, _) => (0.0, 1.0),
                };
                if let (Some(t), true) = (truth.teacher, a > 0.0) {
                    let tau = temperature as f64;
                    let q = softmax(t.iter().map(|&x| x as f64), tau);
                    let p = softmax(z.iter().map(|&x| x as f64 * s), tau);
                    // τ²·KL(q‖p); its gradient in z is τ·s·(p − q).
                    let kl: f64 = q
                        .iter()
                        .zip(&p)
                        .filter(|(&qi, _)| qi > 0.0)
                        .map(|(&qi, &pi)| qi * (qi.ln() - pi.max(1e-300).ln()))
                        .sum();
                    loss += a * tau * tau * kl;
                    for ((g, &pi), &qi) in grad.iter_mut().zip(&p).zip(&q) {
                        *g += (a * tau * s * (pi - qi)) as f32 * weight;
                    }
                }
                if let (Some(y), true) = (truth.label, la > 0.0) {
                    let p = softmax(z.iter().map(|&x| x as f64 * s), 1.0);
                    let y = y as usize;
                    loss -= la * p[y].max(1e-300).ln();
                    for (i, (g, &pi)) in grad.iter_mut().zip(&p).enumerate() {
                        let d = pi - if i == y { 1.0 } else { 0.0 };
                        *g += (la * s * d) as f32 * weight;
                    }
                }
                loss
            }
            Objective::Values {
                scale,
                zero_point,
                alpha,
            } => {
                let s = scale as f64;
                let n = z.len().max(1) as f64;
                let (a, la) = match (truth.teacher, truth.target) {
                    (Some(_), Some(_)) => (alpha as f64, 1.0 - alpha as f64),
                    (Some(_), None) => (1.0, 0.0),
                    (None, _) => (0.0, 1.0),
                };
                let mut loss = 0.0;
                for (w, t) in [(a, truth.teacher), (la, truth.target)] {
                    let Some(t) = t else { continue };
                    if w == 0.0 {
                        continue;
                    }
                    for ((g, &zi), &ti) in grad.iter_mut().zip(z).zip(t) {
                        let e = s * (zi as f64 - zero_point as f64) - ti as f64;
                        loss += w * e * e / n;
                        *g += (w * 2.0 * e * s / n) as f32 * weight;
                    }
                }
                loss
            }
        }
    }
}

/// The first index of the largest value: the interpreter's argmax.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
