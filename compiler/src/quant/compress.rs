//! `zlmc compress`: lossy size reductions as explicit commands (the passes
//! stay exact). Pruning works on the float reference; the result is then
//! quantized again with calibration data.

use crate::quant::float_model::{FloatLayerKind, FloatMlp};

use super::dataset::Dataset;

/// Drop `fraction` of every hidden layer's neurons, those with the smallest
/// L1 norm of incoming weights. What a dropped neuron contributed is folded
/// into the next layer's bias: its mean activation over `calib` times its
/// outgoing weights (for a ReLU unit, the mean of the rectified value).
/// Returns how many neurons were dropped.
#[allow(clippy::needless_range_loop)] // `l` indexes two layers and their means
pub fn prune_neurons(m: &mut FloatMlp, fraction: f64, calib: &Dataset) -> usize {
    let means = mean_activations(m, calib);
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
        let l1 = |j: usize| m.layers[l].weight[j].iter().map(|w| w.abs()).sum::<f32>();
        order.sort_by(|&a, &b| l1(a).total_cmp(&l1(b)).then(a.cmp(&b)));
        let mut drop: Vec<usize> = order[..n].to_vec();
        drop.sort_unstable();
        let next = &mut m.layers[l + 1];
        for &j in &drop {
            for (k, b) in next.bias.iter_mut().enumerate() {
                *b += next.weight[k][j] * means[l][j];
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

/// Each layer's mean output (after its activation) over `d`.
fn mean_activations(m: &FloatMlp, d: &Dataset) -> Vec<Vec<f32>> {
    let mut sums: Vec<Vec<f64>> = m.layers.iter().map(|l| vec![0.0; l.units()]).collect();
    for x in &d.x {
        let mut v = x.clone();
        for (l, layer) in m.layers.iter().enumerate() {
            v = layer.forward(&v);
            for (s, &a) in sums[l].iter_mut().zip(&v) {
                *s += a as f64;
            }
        }
    }
    let n = d.x.len().max(1) as f64;
    sums.into_iter()
        .map(|v| v.into_iter().map(|s| (s / n) as f32).collect())
        .collect()
}

/// Zero the `fraction` of each layer's weights with the smallest magnitude.
/// Returns how many weights were zeroed.
pub fn sparsify(m: &mut FloatMlp, fraction: f64) -> usize {
    let mut zeroed = 0;
    for l in &mut m.layers {
        let mut mags: Vec<f32> = l.weight.iter().flatten().map(|w| w.abs()).collect();
        let n = (fraction * mags.len() as f64).floor() as usize;
        if n == 0 {
            continue;
        }
        mags.sort_by(f32::total_cmp);
        let cut = mags[n - 1];
        // Everything below the cut goes, then ties at the cut in row order.
        let mut left = n;
        for w in l.weight.iter_mut().flatten() {
            if w.abs() < cut {
                *w = 0.0;
                left -= 1;
            }
        }
        for w in l.weight.iter_mut().flatten() {
            if left > 0 && w.abs() == cut {
                *w = 0.0;
                left -= 1;
            }
        }
        zeroed += n - left;
    }
    zeroed
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
    fn sparsity_zeroes_the_smallest_weights() {
        let mut m = mlp();
        assert_eq!(sparsify(&mut m, 0.5), 4);
        assert_eq!(
            m.layers[0].weight,
            vec![vec![0.0, 1.0], vec![0.0, 0.0], vec![2.0, -1.0]]
        );
        assert_eq!(m.layers[1].weight, vec![vec![0.0, 4.0, 1.0]]);
    }
}
