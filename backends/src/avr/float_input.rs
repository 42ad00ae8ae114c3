//! `NAME_input.c` for a model quantized from a float one: its float features
//! to int16 inputs exactly as `zlmc_ir::InputQuant::quantize` does, from
//! text (the sketch's Serial lines) or from a float (`NAME_step_float`,
//! `NAME_predict_float`). The algorithm is `runtime-avr/src/quantize.c`;
//! this module writes the model's constants before it.

use zlmc_ir::InputQuant;

use crate::lowered::Unsupported;

/// The longest value the sketch reads, in characters.
pub const TOKEN_MAX: usize = 32;

/// Flash the float reader takes in a sketch: its code with the 64-bit and
/// float routines it pulls in (6,164 bytes measured with avr-gcc 7.3 -Os on
/// the ATmega328P; counted on the high side).
pub const FLASH: usize = 6_300;

/// `value = sign * m * 2^e` with `m` 0 or in `[2^52, 2^53)`.
fn parts(x: f64) -> (bool, u64, i32) {
    if x == 0.0 {
        return (x.is_sign_negative(), 0, 0);
    }
    let bits = x.to_bits();
    let neg = bits >> 63 == 1;
    let ex = ((bits >> 52) & 0x7FF) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (mut m, mut e) = if ex == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), ex - 1075)
    };
    while m < 1 << 52 {
        m <<= 1;
        e -= 1;
    }
    (neg, m, e)
}

/// The decimal exponents below and above which every value quantizes alike
/// (by sign), checked on the powers of ten out to f64's ends.
fn window(q: &InputQuant) -> Option<(i32, i32)> {
    let mut small = q.scale / 4.0;
    // Past 2^17 + |zero point| steps every value saturates.
    let mut large = q.scale * (262_144.0 + 2.0 * f64::from(q.zero_point).abs());
    if let Some((lo, hi)) = q.range {
        for b in [lo, hi] {
            if b != 0.0 {
                small = small.min(b.abs());
            }
            large = large.max(b.abs());
        }
    }
    let kmin = (small.log10().floor() as i32 - 1).max(-300);
    let kmax = (large.log10().ceil() as i32 + 1).min(300);
    let p = |k: i32| format!("1e{k}").parse::<f64>().unwrap_or(f64::INFINITY);
    // quantize is monotonic: equal at both ends of a stretch, equal all along it.
    let uniform =
        |from: i32, to: i32, sign: f64| q.quantize(sign * p(from)) == q.quantize(sign * p(to));
    for sign in [1.0, -1.0] {
        if !uniform(-330, kmin, sign) || !uniform(kmax, 307, sign) {
            return None;
        }
    }
    Some((kmin, kmax))
}

/// Words of the multi-word integers: the digits of a value, its power of 5
/// and the long division's shifted divisor (see quantize.c).
fn words(kmin: i32, kmax: i32) -> usize {
    let log2_5 = 5f64.log2();
    let digits = (TOKEN_MAX as f64 * 10f64.log2()).ceil() as i32;
    let up = 32 + (log2_5 * kmax.max(0) as f64).ceil() as i32 + 2;
    let down = (log2_5 * (TOKEN_MAX as i32 - 1 - kmin).max(0) as f64).ceil() as i32 + 58;
    let bits = digits.max(up).max(down) + 8;
    (bits as usize).div_ceil(32)
}

/// Whether `x` is a float32 (normal or zero, as the sketch's estimate needs).
fn exact_in_f32(x: f64) -> bool {
    let f = x as f32;
    f as f64 == x && (f == 0.0 || f.is_normal())
}

fn float_literal(x: f64) -> String {
    format!("{:e}f", x as f32)
}

/// `NAME_input.c`, or why the sketch cannot read this model's features.
pub fn source(banner: &str, p: &str, q: &InputQuant) -> Result<String, Unsupported> {
    let (kmin, kmax) = window(q).ok_or_else(|| {
        Unsupported::Other(format!(
            "the input scale {:e} is too far from 1 for the sketch's float reader",
            q.scale
        ))
    })?;
    let up = p.to_ascii_uppercase();
    let (_, sm, se) = parts(q.scale);
    let mut c = format!(
        "{banner}\n/*\n * Model \"{p}\": its float features to its int16 inputs, exactly as zlmc's\n \
         * interpreter quantizes them (see docs/avr.md).\n */\n\
         #include <stdint.h>\n#include \"{p}_model.h\"\n\n\
         #define ZQ_WORDS {}\n#define ZQ_DIGITS_MAX {TOKEN_MAX}\n\
         #define ZQ_SCALE_M 0x{sm:x}ULL\n#define ZQ_SCALE_E ({se})\n\
         #define ZQ_INV_SCALE_F {}\n#define ZQ_INV_EXACT {}\n\
         #define ZQ_ZERO_POINT ({}L)\n\
         #define ZQ_KMIN ({kmin})\n#define ZQ_KMAX ({kmax})\n\
         #define ZQ_TINY_POS ({})\n#define ZQ_TINY_NEG ({})\n\
         #define ZQ_HUGE_POS ({})\n#define ZQ_HUGE_NEG ({})\n",
        words(kmin, kmax),
        float_literal(1.0 / q.scale),
        u8::from(exact_in_f32(1.0 / q.scale) && 1.0 / (1.0 / q.scale) == q.scale && sm == 1 << 52),
        q.zero_point,
        q.quantize(1e-300),
        q.quantize(-1e-300),
        q.quantize(1e300),
        q.quantize(-1e300),
    );
    match q.range {
        Some((lo, hi)) => {
            let (ln, lm, le) = parts(lo);
            let (hn, hm, he) = parts(hi);
            c.push_str(&format!(
                "#define ZQ_HAS_RANGE 1\n\
                 #define ZQ_LO_NEG {}\n#define ZQ_LO_M 0x{lm:x}ULL\n#define ZQ_LO_E ({le})\n\
                 #define ZQ_HI_NEG {}\n#define ZQ_HI_M 0x{hm:x}ULL\n#define ZQ_HI_E ({he})\n\
                 #define ZQ_LO_F {}\n#define ZQ_HI_F {}\n#define ZQ_ENDS_EXACT {}\n\
                 #define ZQ_AT_LO ({})\n#define ZQ_AT_HI ({})\n",
                u8::from(ln),
                u8::from(hn),
                float_literal(lo),
                float_literal(hi),
                u8::from(exact_in_f32(lo) && exact_in_f32(hi)),
                q.quantize(lo),
                q.quantize(hi),
            ));
        }
        None => c.push_str("#define ZQ_HAS_RANGE 0\n"),
    }
    c.push('\n');
    c.push_str(zlmc_runtime_avr::QUANTIZE_C);
    c.push_str(&format!(
        "
int16_t {p}_quantize(float feature)
{{
    return zq_float(feature);
}}

uint8_t {p}_quantize_text(const char *text, int16_t *input)
{{
    return zq_text(text, input);
}}

void {p}_step_float(const float *features, int16_t *logits)
{{
    int16_t in[{up}_INPUTS];

    for (uint16_t i = 0; i < {up}_INPUTS; i++)
        in[i] = zq_float(features[i]);
    {p}_step(in, logits);
}}

uint16_t {p}_predict_float(const float *features)
{{
    int16_t in[{up}_INPUTS];

    for (uint16_t i = 0; i < {up}_INPUTS; i++)
        in[i] = zq_float(features[i]);
    return {p}_predict(in);
}}
"
    ));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_split_into_mantissa_and_exponent() {
        for x in [1.0, 0.1, 3.5e-300, -16.0, f64::MIN_POSITIVE * 8.0] {
            let (neg, m, e) = parts(x);
            assert!((1u64 << 52..1 << 53).contains(&m), "{x}");
            // In two halves: 2^e alone underflows to 0 for the smallest doubles
            // (whether powi does depends on how the compiler lowers it).
            let back = m as f64 * 2f64.powi(e / 2) * 2f64.powi(e - e / 2);
            assert_eq!(if neg { -back } else { back }, x);
        }
        assert_eq!(parts(0.0), (false, 0, 0));
    }

    #[test]
    fn the_window_covers_the_scale_and_the_range() {
        let q = InputQuant {
            scale: 1.0 / 256.0,
            zero_point: 0,
            range: Some((0.0, 16.0)),
        };
        assert_eq!(window(&q), Some((-5, 5)));
        assert!(words(-5, 5) >= 5);
    }
}
