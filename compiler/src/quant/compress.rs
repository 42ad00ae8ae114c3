//! `zlmc compress`: lossy size reductions as explicit commands (the passes
//! stay exact). Pruning works on the float reference; the result is then
//! quantized again with calibration data.

use crate::quant::float_model::{FloatLayerKind, FloatMlp};

use super::dataset::Dataset;

/// Drop `fraction` of every hidden layer's neurons, those that matter least
/// on `calib`: a neuron's score is how much its output varies (standard
/// deviation) times the size (L2 norm) of its outgoing weights, what
/// removing it changes the next layer's sums by once its mean is
/// compensated. That mean, times its outgoing weights, is folded into the
/// next layer's bias. Returns how many neurons were dropped.
#[allow(clippy::needless_range_loop)] // `l` indexes two layers and their means
pub fn prune_neurons(m: &mut FloatMlp, fraction: f64, calib: &Dataset) -> usize {
    let moments = input_moments(m, calib);
    let mut dropped = 0;
    for l in 0..m.layers.len().saturating_sub(1) {
        // Only a dense layer's neurons fold into a dense next layer's bias.
        let dense = |k: usize| m.layers[k].kind == FloatLayerKind::Dense;
        if !dense(l) || !dense(l + 1) {
            continue;
        }
        let units = m.layers[l].units();
        let n = ((fraction * units as f64).floor() as usize).min(units - 1);
        if n == 0 {
            continue;
        }
        let mut order: Vec<usize> = (0..units).collect();
        // The next layer's inputs are this layer's outputs.
        let out = &moments[l + 1];
        let next = &m.layers[l + 1].weight;
        let score = |j: usize| {
            let norm: f64 = next.iter().map(|r| f64::from(r[j]).powi(2)).sum();
            out.std(j) * norm.sqrt()
        };
        order.sort_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)));
        let mut drop: Vec<usize> = order[..n].to_vec();
        drop.sort_unstable();
        let next = &mut m.layers[l + 1];
        for &j in &drop {
            for (k, b) in next.bias.iter_mut().enumerate() {
                *b += (f64::from(next.weight[k][j]) * out.mean[j]) as f32;
            }
        }
        let kept = |j: &usize| drop.binary_search(j).is_err();
        for row in &mut next.weight {
            *row = keep_where(std::mem::take(row), kept);
        }
        let cur = &mut m.layers[l];
        cur.weight = keep_where(std::mem::take(&mut cur.weight), kept);
        cur.bias = keep_where(std::mem::take(&mut cur.bias), kept);
        dropped += n;
    }
    dropped
}

/// The items of `v` whose index `kept` accepts.
fn keep_where<T>(v: Vec<T>, kept: impl Fn(&usize) -> bool) -> Vec<T> {
    v.into_iter()
        .enumerate()
        .filter(|(j, _)| kept(j))
        .map(|(_, x)| x)
        .collect()
}

/// Zero the `fraction` of each layer's weights that matter least on `calib`:
/// a weight's score is its magnitude times the spread (standard deviation)
/// of the input it reads, so a large weight on an input that hardly moves
/// (a border pixel a folded scaler blew up) goes before a small one on a busy
/// input. What a zeroed dense weight contributed on average, its input's mean
/// times the weight, moves into the bias. A convolution's weights are scored
/// by their input channel's root mean square (padding makes the mean inexact
/// there, so nothing is folded). Returns how many weights were zeroed.
pub fn sparsify(m: &mut FloatMlp, fraction: f64, calib: &Dataset) -> usize {
    let moments = input_moments(m, calib);
    let mut zeroed = 0;
    for (l, mom) in m.layers.iter_mut().zip(&moments) {
        let cols = l.weight.first().map_or(0, Vec::len);
        let total = l.weight.len() * cols;
        let n = (fraction * total as f64).floor() as usize;
        if n == 0 {
            continue;
        }
        let spread = |j: usize| -> f64 {
            match l.kind {
                FloatLayerKind::Dense => mom.std(j),
                _ => {
                    let [kh, kw] = l.map_input().map_or([1, 1], |(_, w)| w.kernel);
                    mom.rms(j / (kh * kw))
                }
            }
        };
        let spreads: Vec<f64> = (0..cols).map(spread).collect();
        let score = |i: usize| {
            let (r, c) = (i / cols, i % cols);
            f64::from(l.weight[r][c].abs()) * spreads[c]
        };
        // Lowest scores go first; ties in row order, so the cut is
        // deterministic.
        let mut order: Vec<usize> = (0..total).collect();
        order.sort_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)));
        let dense = l.kind == FloatLayerKind::Dense;
        for &i in &order[..n] {
            let (r, c) = (i / cols, i % cols);
            let w = std::mem::take(&mut l.weight[r][c]);
            if dense {
                l.bias[r] += (f64::from(w) * mom.mean[c]) as f32;
            }
        }
        zeroed += n;
    }
    zeroed
}

/// First and second moments of a layer's inputs over a dataset: per input
/// for a dense layer, per input channel for a convolution or pool.
struct Moments {
    mean: Vec<f64>,
    square: Vec<f64>,
}

impl Moments {
    /// The standard deviation of input `j`.
    fn std(&self, j: usize) -> f64 {
        (self.square[j] - self.mean[j] * self.mean[j])
            .max(0.0)
            .sqrt()
    }

    /// The root mean square of input `j`.
    fn rms(&self, j: usize) -> f64 {
        self.square[j].max(0.0).sqrt()
    }
}

/// Every layer's input moments over `d`, as the float model computes them.
fn input_moments(m: &FloatMlp, d: &Dataset) -> Vec<Moments> {
    let groups = |l: &crate::quant::float_model::FloatLayer, len: usize| match l.map_input() {
        Some((shape, _)) => (shape.channels, len / shape.channels.max(1)),
        None => (len, 1),
    };
    let mut sums: Vec<(Vec<f64>, Vec<f64>)> = m
        .layers
        .iter()
        .map(|l| {
            let (n, _) = groups(l, l.inputs());
            (vec![0.0; n], vec![0.0; n])
        })
        .collect();
    for x in &d.x {
        let mut v = x.clone();
        for (l, (s1, s2)) in m.layers.iter().zip(&mut sums) {
            let (_, per) = groups(l, v.len());
            for (k, &a) in v.iter().enumerate() {
                let a = f64::from(a);
                s1[k / per] += a;
                s2[k / per] += a * a;
            }
            v = l.forward(&v);
        }
    }
    sums.into_iter()
        .zip(&m.layers)
        .map(|((s1, s2), l)| {
            let (_, per) = groups(l, l.inputs());
            let n = (d.x.len() * per).max(1) as f64;
            Moments {
                mean: s1.into_iter().map(|s| s / n).collect(),
                square: s2.into_iter().map(|s| s / n).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::float_model::{FloatActivation, FloatLayer, FloatLayerKind, FloatOutput};

    fn mlp() -> FloatMlp {
        FloatMlp {
            name: "t".into(),
            inputs: 2,
            layers: vec![
                FloatLayer {
                    kind: FloatLayerKind::Dense,
                    weight: vec![vec![1.0, 1.0], vec![0.01, 0.0], vec![2.0, -1.0]],
                    bias: vec![0.0, 0.5, 0.0],
                    activation: FloatActivation::Relu,
                },
                FloatLayer {
                    kind: FloatLayerKind::Dense,
                    weight: vec![vec![1.0, 4.0, 1.0]],
                    bias: vec![0.0],
                    activation: FloatActivation::None,
                },
            ],
            labels: None,
            output: FloatOutput::Classes,
        }
    }

    #[test]
    fn pruned_neuron_folds_its_mean_into_the_next_bias() {
        let mut m = mlp();
        let d = Dataset {
            x: vec![vec![1.0, 0.0], vec![3.0, 0.0]],
            y: vec![0, 0],
        };
        assert_eq!(prune_neurons(&mut m, 0.34, &d), 1);
        assert_eq!(m.layers[0].units(), 2);
        assert_eq!(m.layers[1].weight, vec![vec![1.0, 1.0]]);
        // Neuron 1 gave relu(0.01·x + 0.5): mean 0.52, times 4.
        assert!((m.layers[1].bias[0] - 2.08).abs() < 1e-5);
    }

    #[test]
    fn sparsity_zeroes_weights_on_quiet_inputs_first_and_folds_their_mean() {
        let mut m = FloatMlp {
            layers: vec![FloatLayer {
                kind: FloatLayerKind::Dense,
                weight: vec![vec![10.0, 1.0], vec![-0.5, 0.25]],
                bias: vec![0.5, 0.0],
                activation: FloatActivation::None,
            }],
            ..mlp()
        };
        // Input 0 barely moves (spread 0.01), input 1 spans 0..4 (spread 2).
        let d = Dataset {
            x: vec![vec![2.0, 0.0], vec![2.02, 4.0]],
            y: vec![],
        };
        assert_eq!(sparsify(&mut m, 0.5, &d), 2);
        // The big weight on the quiet input goes, with the small one on it;
        // both weights on the busy input stay, however small.
        assert_eq!(m.layers[0].weight, vec![vec![0.0, 1.0], vec![0.0, 0.25]]);
        // What they gave on average (input 0's mean, 2.01) is now bias.
        assert!((m.layers[0].bias[0] - (0.5 + 10.0 * 2.01)).abs() < 1e-4);
        assert!((m.layers[0].bias[1] - (-0.5 * 2.01)).abs() < 1e-4);
    }

    #[test]
    fn neuron_pruning_scores_by_output_spread_and_outgoing_weights() {
        // Neuron 0 has the largest incoming weights but an output that
        // never moves; neuron 1 moves and feeds the next layer.
        let mut m = FloatMlp {
            layers: vec![
                FloatLayer {
                    kind: FloatLayerKind::Dense,
                    weight: vec![vec![50.0, 0.0], vec![0.0, 0.1]],
                    bias: vec![0.0, 0.0],
                    activation: FloatActivation::Relu,
                },
                FloatLayer {
                    kind: FloatLayerKind::Dense,
                    weight: vec![vec![1.0, 1.0]],
                    bias: vec![0.0],
                    activation: FloatActivation::None,
                },
            ],
            ..mlp()
        };
        let d = Dataset {
            x: vec![vec![1.0, 0.0], vec![1.0, 10.0]],
            y: vec![],
        };
        assert_eq!(prune_neurons(&mut m, 0.5, &d), 1);
        assert_eq!(m.layers[0].weight, vec![vec![0.0, 0.1]]);
        // Neuron 0 always gave 50: the next layer's bias keeps it.
        assert!((m.layers[1].bias[0] - 50.0).abs() < 1e-4);
    }
}
