//! Keras's SAME average pooling divides each window by the elements inside
//! the map, which differ at the border; zlmc's integer pool divides every
//! window alike. Before a dense layer the difference folds away exactly: the
//! pool divides by the kernel's area, and each of the dense layer's columns
//! takes `area / count` of the position it reads.

use super::float_model::{FloatActivation, FloatDivisor, FloatLayerKind, FloatMlp};

/// `m` with every border-counting average pool that a dense layer reads
/// (after no activation, or a ReLU, which commutes with a positive scale)
/// turned into one that divides by the kernel's area, the dense layer's
/// weights scaled to compute the same function.
pub fn fold(m: &FloatMlp) -> FloatMlp {
    let mut m = m.clone();
    for i in 0..m.layers.len().saturating_sub(1) {
        let FloatLayerKind::AvgPool {
            input,
            window,
            divisor: FloatDivisor { count_pad: false },
        } = m.layers[i].kind
        else {
            continue;
        };
        let scalable = matches!(
            m.layers[i].activation,
            FloatActivation::None | FloatActivation::Relu
        );
        if !scalable || window.pads.iter().all(|&p| p == 0) {
            continue;
        }
        if m.layers[i + 1].kind != FloatLayerKind::Dense {
            continue;
        }
        let area = window.area() as f32;
        let factors: Vec<f32> = window
            .taps(input)
            .iter()
            .map(|t| area / t.iter().flatten().count() as f32)
            .collect();
        let plane = factors.len();
        for row in &mut m.layers[i + 1].weight {
            for (j, w) in row.iter_mut().enumerate() {
                *w *= factors[j % plane];
            }
        }
        m.layers[i].kind = FloatLayerKind::AvgPool {
            input,
            window,
            divisor: FloatDivisor { count_pad: true },
        };
    }
    m
}

#[cfg(test)]
mod tests {
    use zlmc_ir::{Shape, Window};

    use super::*;
    use crate::quant::float_model::{FloatLayer, FloatOutput};

    #[test]
    fn a_same_average_pool_before_a_dense_layer_folds_into_it_exactly() {
        let input = Shape {
            channels: 2,
            height: 3,
            width: 3,
        };
        let window = Window {
            kernel: [2, 2],
            stride: [1, 1],
            pads: [0, 0, 1, 1],
        };
        let pool = FloatLayer {
            weight: vec![],
            bias: vec![],
            activation: FloatActivation::Relu,
            kind: FloatLayerKind::AvgPool {
                input,
                window,
                divisor: FloatDivisor { count_pad: false },
            },
        };
        let dense = FloatLayer {
            weight: (0..3)
                .map(|u| {
                    (0..18)
                        .map(|j| ((u * 7 + j * 3) % 11) as f32 - 5.0)
                        .collect()
                })
                .collect(),
            bias: vec![0.5, -1.0, 2.0],
            activation: FloatActivation::None,
            kind: FloatLayerKind::Dense,
        };
        let m = FloatMlp {
            name: "m".into(),
            inputs: 18,
            layers: vec![pool, dense],
            labels: None,
            output: FloatOutput::Classes,
        };
        let f = fold(&m);
        assert_eq!(
            f.layers[0].kind,
            FloatLayerKind::AvgPool {
                input,
                window,
                divisor: FloatDivisor { count_pad: true }
            }
        );
        for k in 0..5 {
            let x: Vec<f32> = (0..18)
                .map(|j| ((j * 5 + k * 3) % 9) as f32 - 3.0)
                .collect();
            for (a, b) in m.eval(&x).iter().zip(f.eval(&x)) {
                assert!((a - b).abs() < 1e-4, "{a} against {b}");
            }
        }
        // Padding lies below and right: the columns of the positions there
        // took area / count, 4/4 at the top left, 4/2 on the right edge, 4/1
        // in the corner.
        let (a, b) = (&m.layers[1].weight[0], &f.layers[1].weight[0]);
        assert_eq!((b[0], b[2], b[8]), (a[0], 2.0 * a[2], 4.0 * a[8]));
    }
}
