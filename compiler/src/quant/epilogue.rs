//! A layer's integer epilogue from its float activation and calibrated
//! pre-activations: the shift, the IR activation, and the scale and zero
//! point of what comes out (the next layer's inputs, or the model's values).
//!
//! ReLU, clip and leaky ReLU act on the shifted sum in its own scale
//! (`Relu`, `Clamp` with the bounds in that scale, `LeakyRelu` with the slope
//! as `mul / 2^shift`); the smooth ones (tanh, sigmoid, hard sigmoid, hard
//! swish, GELU) become a `Lut`: the shift puts the calibrated pre-activation
//! range (where the function still changes) on at most 256 entries, and the
//! table holds `round(f(x) / s_out) + zero_point` in an output scale of its own.

use zlmc_ir::op::MAX_LUT;
use zlmc_ir::{Activation, Elem};

use super::float_model::FloatActivation;
use super::ptq::NARROW_BUDGET;

/// Largest shifted sum (before the activation) that a clamp or table layer
/// allows on calibration data: half of int16, so inputs a little beyond
/// calibration do not wrap.
const PRE_BUDGET: f64 = 16384.0;

/// Largest output a values model's last layer aims for: its values are the
/// answer, so they keep 4× the hidden layers' resolution (int16 holds 2× more).
pub const VALUES_BUDGET: f64 = 16384.0;

/// What a layer's outputs are planned for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// The next layer's inputs in 0..=255 (a zero point where they can be negative).
    Narrow,
    /// Up to this magnitude, zero point 0.
    Wide(f64),
}

/// A layer's integer epilogue and what its outputs stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct Epilogue {
    /// Right shift after the bias.
    pub shift: u32,
    /// The activation after it.
    pub activation: Option<Activation>,
    /// Float value of one output step.
    pub scale: f64,
    /// The output that stands for 0.0.
    pub zero_point: i64,
    /// What to add to every bias (in accumulator units) to move the outputs
    /// by the zero point before a clamp.
    pub bias_offset: i64,
}

/// Whether `a`'s integer outputs can be planned in 0..=255 for the next
/// layer: bounded below (a clip below 0 through a zero point), or a table.
pub fn narrowable(a: FloatActivation) -> bool {
    !matches!(a, FloatActivation::None | FloatActivation::LeakyRelu { .. })
}

/// The slope `alpha` (0 < alpha < 1) as `mul / 2^shift`: the largest shift
/// (at most 15) whose `mul` stays at most 255; `None` when no such slope is
/// within reach (alpha ≤ 0, ≥ 1, or rounding to 0).
pub fn leaky_slope(alpha: f32) -> Option<(u8, u8)> {
    let a = f64::from(alpha);
    if a.is_nan() || a <= 0.0 || a >= 1.0 {
        return None;
    }
    (1..=15u8).rev().find_map(|shift| {
        let mul = (a * f64::from(1u32 << shift)).round();
        ((1.0..=255.0).contains(&mul) && mul < f64::from(1u32 << shift))
            .then_some((mul as u8, shift))
    })
}

/// Why `a` has no integer form, if it has none: a leaky ReLU's slope must be
/// in [0, 1) (one below 2^-16 is ReLU).
pub fn unsupported(a: FloatActivation) -> Option<String> {
    match a {
        FloatActivation::LeakyRelu { alpha } if !(0.0..1.0).contains(&alpha) => Some(format!(
            "a leaky ReLU's slope {alpha} has no integer form (zlmc takes slopes in [0, 1))"
        )),
        _ => None,
    }
}

/// Where a smooth function still changes: inputs beyond these bounds give
/// (to within an output step of 255) what the bound gives.
fn varies_on(a: FloatActivation) -> (f64, f64) {
    match a {
        FloatActivation::Tanh => (-3.5, 3.5),
        FloatActivation::Sigmoid => (-6.0, 6.0),
        FloatActivation::HardSigmoid { alpha, beta } if alpha != 0.0 => {
            let (p, q) = (
                -f64::from(beta) / f64::from(alpha),
                (1.0 - f64::from(beta)) / f64::from(alpha),
            );
            (p.min(q), p.max(q))
        }
        FloatActivation::HardSwish => (-3.0, f64::INFINITY),
        FloatActivation::Gelu { .. } => (-4.0, f64::INFINITY),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// The smallest shift (below the accumulator's width) that brings `mag`
/// (in accumulator units) to at most `budget`.
fn shift_for(mag: f64, budget: f64, acc: Elem) -> u32 {
    let mut s = 0;
    while mag / f64::from(1u32 << s) > budget && s + 1 < acc.bits() {
        s += 1;
    }
    s
}

/// The epilogue of a layer with activation `a` whose calibrated
/// pre-activations are `pre` (float; `lo..hi` their range and `mag` their
/// magnitude, as the range statistic takes them), in accumulator units of
/// `s_acc`, planned for `target`; `extra` more bits of shift coarsen the
/// output for the next layer.
#[allow(clippy::too_many_arguments)]
pub fn choose(
    a: FloatActivation,
    (lo, hi): (f64, f64),
    mag: f64,
    s_acc: f64,
    acc: Elem,
    target: Target,
    extra: u32,
) -> Epilogue {
    let top = acc.bits() - 1;
    let plain = |act: Option<Activation>, out_mag: f64| {
        let budget = match target {
            Target::Narrow => NARROW_BUDGET,
            Target::Wide(b) => b,
        };
        let mut shift = shift_for(out_mag / s_acc, budget, acc);
        // The shifted sum itself must not wrap on calibration data.
        shift = shift.max(shift_for(mag / s_acc, PRE_BUDGET, acc));
        let shift = (shift + extra).min(top);
        (shift, act, s_acc * f64::from(1u32 << shift))
    };
    let (shift, activation, scale) = match a {
        FloatActivation::None => plain(None, mag),
        FloatActivation::Relu => {
            let out = match target {
                Target::Narrow => hi.max(0.0),
                Target::Wide(_) => mag,
            };
            plain(Some(Activation::Relu), out)
        }
        FloatActivation::LeakyRelu { alpha } => match leaky_slope(alpha) {
            Some((mul, shift)) => plain(Some(Activation::LeakyRelu { mul, shift }), mag),
            // A slope that rounds to 0 is ReLU.
            None => plain(Some(Activation::Relu), mag),
        },
        FloatActivation::Clip { min, max } if target == Target::Narrow && min < 0.0 => {
            return offset_clamp((f64::from(min), f64::from(max)), (lo, hi), plain);
        }
        FloatActivation::Clip { min, max } => {
            let (min, max) = (f64::from(min), f64::from(max));
            let out = match target {
                Target::Narrow => hi.clamp(min, max).max(0.0),
                Target::Wide(_) => lo.clamp(min, max).abs().max(hi.clamp(min, max).abs()),
            };
            let (shift, _, scale) = plain(None, out.max(f64::MIN_POSITIVE));
            let bound = |v: f64| (v / scale).round().clamp(-32768.0, 32767.0) as i16;
            let act = Activation::Clamp {
                lo: bound(min),
                hi: bound(max),
            };
            (shift, Some(act), scale)
        }
        _ => return lut(a, (lo, hi), mag, s_acc, acc, target, extra),
    };
    Epilogue {
        shift,
        activation,
        scale,
        zero_point: 0,
        bias_offset: 0,
    }
}

/// A clip below 0 for an 8-bit next layer: the bias moves the calibrated
/// clipped range's low end to 0 (that is the zero point), and the clamp's
/// bounds move with it.
fn offset_clamp(
    (min, max): (f64, f64),
    (lo, hi): (f64, f64),
    plain: impl Fn(Option<Activation>, f64) -> (u32, Option<Activation>, f64),
) -> Epilogue {
    let (a0, a1) = (lo.clamp(min, max), hi.clamp(min, max));
    let (shift, _, scale) = plain(None, (a1 - a0).max(f64::MIN_POSITIVE));
    // lo ≤ 0 and min < 0, so a0 ≤ 0 and the zero point is not negative.
    let zero_point = (-(a0 / scale).round()).clamp(0.0, 32767.0) as i64;
    let bound = |v: f64| ((v / scale).round() + zero_point as f64).clamp(-32768.0, 32767.0) as i16;
    Epilogue {
        shift,
        activation: Some(Activation::Clamp {
            lo: bound(min),
            hi: bound(max),
        }),
        scale,
        zero_point,
        bias_offset: zero_point << shift,
    }
}

/// The lookup-table epilogue of a smooth activation (see [`choose`]).
fn lut(
    a: FloatActivation,
    (lo, hi): (f64, f64),
    mag: f64,
    s_acc: f64,
    acc: Elem,
    target: Target,
    extra: u32,
) -> Epilogue {
    let (vlo, vhi) = varies_on(a);
    let (mut d0, mut d1) = (lo.max(vlo), hi.min(vhi));
    if d1.partial_cmp(&d0) != Some(std::cmp::Ordering::Greater) {
        // Every calibrated input on one flat side: a small table around it.
        let c = d0.min(d1).clamp(vlo.max(-1e30), vhi.min(1e30));
        (d0, d1) = (c - 0.5, c + 0.5);
    }
    let top = acc.bits() - 1;
    let entries = (MAX_LUT - 1) as f64;
    // Extra bits (asked for when the sum could wrap, or the next layer's
    // 16-bit accumulator overflow) go both into the shift and the table's
    // output scale.
    let mut shift =
        (shift_for((d1 - d0) / s_acc, entries, acc).max(shift_for(mag / s_acc, PRE_BUDGET, acc))
            + extra)
            .min(top);
    let (first, last, s_z) = loop {
        let s_z = s_acc * f64::from(1u32 << shift);
        let first = (d0 / s_z).floor().clamp(-32768.0, 32766.0);
        let last = (d1 / s_z).ceil().min(32767.0).max(first + 1.0);
        if last - first < MAX_LUT as f64 || shift >= top {
            let last = last.min(first + entries);
            break (first as i64, last as i64, s_z);
        }
        shift += 1;
    };
    let f = |i: i64| f64::from(a.apply((i as f64 * s_z) as f32));
    let ys: Vec<f64> = (first..=last).map(f).collect();
    let fmin = ys.iter().copied().fold(0.0, f64::min);
    let fmax = ys.iter().copied().fold(0.0, f64::max);
    let (mut scale, zero_point) = match target {
        Target::Narrow if fmax > fmin => {
            let s = (fmax - fmin) / NARROW_BUDGET;
            (s, (-fmin / s).round() as i64)
        }
        Target::Wide(b) if fmax > fmin => (fmin.abs().max(fmax.abs()) / b, 0),
        _ => (1.0, 0),
    };
    let zero_point = if extra > 0 {
        scale *= f64::from(1u32 << extra.min(15));
        (zero_point as f64 / f64::from(1u32 << extra.min(15))).round() as i64
    } else {
        zero_point
    };
    let table = ys
        .iter()
        .map(|&y| ((y / scale).round() as i64 + zero_point).clamp(-32768, 32767) as i16)
        .collect();
    Epilogue {
        shift,
        activation: Some(Activation::Lut {
            lo: first as i16,
            table,
        }),
        scale,
        zero_point,
        bias_offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaky_slopes_take_the_largest_shift_with_mul_up_to_255() {
        assert_eq!(leaky_slope(0.01), Some((164, 14)));
        assert_eq!(leaky_slope(0.2), Some((205, 10)));
        assert_eq!(leaky_slope(0.5), Some((128, 8)));
        assert_eq!(leaky_slope(0.0), None);
        assert_eq!(leaky_slope(1.0), None);
    }

    #[test]
    fn leaky_slopes_outside_0_to_1_are_refused() {
        for alpha in [-0.1, 1.0, 2.0, f32::NAN] {
            assert!(
                unsupported(FloatActivation::LeakyRelu { alpha }).is_some(),
                "{alpha}"
            );
        }
        assert_eq!(
            unsupported(FloatActivation::LeakyRelu { alpha: 0.01 }),
            None
        );
        assert_eq!(unsupported(FloatActivation::Tanh), None);
    }

    #[test]
    fn relu6_clamps_at_six_in_the_output_scale() {
        let e = choose(
            FloatActivation::Clip { min: 0.0, max: 6.0 },
            (-9.0, 20.0),
            20.0,
            0.001,
            Elem::I32,
            Target::Narrow,
            0,
        );
        let Some(Activation::Clamp { lo, hi }) = e.activation else {
            panic!("{e:?}")
        };
        assert_eq!(lo, 0);
        assert_eq!(f64::from(hi), (6.0 / e.scale).round(), "{e:?}");
        assert!(hi <= 255, "{e:?}");
    }

    #[test]
    fn a_clip_below_0_moves_to_0_to_255_through_the_bias() {
        let e = choose(
            FloatActivation::Clip {
                min: -1.0,
                max: 1.0,
            },
            (-3.0, 2.0),
            3.0,
            0.001,
            Elem::I32,
            Target::Narrow,
            0,
        );
        let Some(Activation::Clamp { lo, hi }) = e.activation else {
            panic!("{e:?}")
        };
        assert_eq!(lo, 0, "{e:?}");
        assert!(hi <= 255 && hi > 127, "{e:?}");
        assert_eq!(
            f64::from(lo) - e.zero_point as f64,
            (-1.0 / e.scale).round()
        );
        assert_eq!(e.bias_offset, e.zero_point << e.shift);
    }

    #[test]
    fn tanh_tables_cover_the_calibrated_range_in_the_fast_range() {
        let e = choose(
            FloatActivation::Tanh,
            (-2.0, 10.0),
            10.0,
            0.0005,
            Elem::I32,
            Target::Narrow,
            0,
        );
        let Some(Activation::Lut { lo, table }) = &e.activation else {
            panic!("{e:?}")
        };
        assert!(
            table.len() <= MAX_LUT && table.len() > 100,
            "{}",
            table.len()
        );
        assert!(table.iter().all(|v| (0..=255).contains(v)), "{table:?}");
        let s_z = 0.0005 * f64::from(1u32 << e.shift);
        // Its first entry is tanh at the range's start, in the output scale.
        assert!(f64::from(*lo) * s_z <= -2.0);
        let y0 = (f64::from(table[0]) - e.zero_point as f64) * e.scale;
        assert!(
            (y0 - (f64::from(*lo) * s_z).tanh()).abs() <= e.scale,
            "{y0}"
        );
    }
}
