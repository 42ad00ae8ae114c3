//! The Uno sketch of a model quantized from a float one reads the float
//! features as `zlmc run` does: its quantizer (`NAME_input.c`), compiled with
//! the host gcc, agrees with `InputQuant::quantize` on random scales, zero
//! points and ranges, for decimals near every rounding boundary, random
//! decimals of every form, text that is not a number, and float bit patterns;
//! and the real sketch (Arduino core, simavr, its Serial input) prints the
//! interpreter's label for the digits model's test samples.

use std::path::{Path, PathBuf};

use zlmc_backends::avr::Board;
use zlmc_ir::{Elem, Encoder, InputQuant, Model, WeightKind};
use zlmc_test_support::models::dense_mlp;
use zlmc_test_support::tools::{gcc, run_exe};
use zlmc_test_support::{build, scratch, Rng};

/// A host program that answers `t<text>` with the quantized input (or `E`)
/// and `f<hex bits>` with the input of that float.
const DRIVER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "NAME_model.h"

void NAME_step(const int16_t *input, int16_t *logits) { (void)input; (void)logits; }
uint16_t NAME_predict(const int16_t *input) { (void)input; return 0; }

int main(void)
{
    char buf[256];

    while (fgets(buf, sizeof buf, stdin)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (buf[0] == 'f') {
            uint32_t u = (uint32_t)strtoul(buf + 1, NULL, 16);
            float f;

            memcpy(&f, &u, sizeof f);
            printf("%d\n", NAME_quantize(f));
        } else {
            int16_t q = 0;

            if (NAME_quantize_text(buf + 1, &q))
                printf("E\n");
            else
                printf("%d\n", q);
        }
    }
    return 0;
}
"#;

/// A random quantization: scales over many decades and the usual ones,
/// zero points near and far from 0, ranges of either sign or none.
fn random_quant(rng: &mut Rng) -> InputQuant {
    let scale = match rng.below(4) {
        0 => rng.pick(&[1.0 / 256.0, 16.0 / 127.0, 0.1, 1.0, 0.003_921_568_627_450_98, 2.5]),
        _ => {
            let mantissa = 1.0 + rng.below(1 << 30) as f64 / (1u64 << 30) as f64;
            mantissa * 10f64.powi(rng.range(-7, 4) as i32)
        }
    };
    let zero_point = match rng.below(3) {
        0 => 0,
        1 => rng.range(-200, 200) as i32,
        _ => rng.range(-40_000, 40_000) as i32,
    };
    let range = match rng.below(3) {
        0 => None,
        _ => {
            let a = scale * rng.range(-5000, 5000) as f64 * 1.37;
            let b = a + scale * rng.range(0, 9000) as f64 * 0.91;
            Some((a, b))
        }
    };
    InputQuant {
        scale,
        zero_point,
        range,
    }
}

/// A decimal written as a user or a program might: near a rounding
/// boundary (shortest form, or cut to a few digits and nudged), or random.
fn random_text(rng: &mut Rng, q: &InputQuant) -> String {
    let sign = if rng.chance(30) { "-" } else { "" };
    match rng.below(6) {
        0 | 1 => {
            let k = rng.range(-5000, 5000) as f64 + 0.5;
            let x = k * q.scale;
            if rng.chance(50) {
                format!("{x:?}")
            } else {
                let digits = rng.range(1, 18) as usize;
                let s = format!("{x:.digits$e}");
                // Nudge the last digit of the mantissa.
                let (m, e) = s.split_once('e').expect("an exponent");
                let mut m: Vec<u8> = m.bytes().collect();
                let last = m.len() - 1;
                if m[last].is_ascii_digit() {
                    m[last] = b'0' + (m[last] - b'0' + rng.pick(&[0u8, 1, 9])) % 10;
                }
                format!("{}e{e}", String::from_utf8(m).expect("ascii"))
            }
        }
        2 => {
            if let Some((lo, hi)) = q.range {
                format!("{:?}", rng.pick(&[lo, hi]))
            } else {
                format!("{:?}", q.scale * rng.range(-40_000, 40_000) as f64)
            }
        }
        3 => {
            let int: String = (0..rng.range(0, 6))
                .map(|_| (b'0' + rng.below(10) as u8) as char)
                .collect();
            let frac: String = (0..rng.range(0, 12))
                .map(|_| (b'0' + rng.below(10) as u8) as char)
                .collect();
            let exp = match rng.below(4) {
                0 => format!("e{}", rng.range(-12, 12)),
                1 => format!("E+{}", rng.range(0, 5)),
                _ => String::new(),
            };
            let plus = if sign.is_empty() && rng.chance(10) {
                "+"
            } else {
                sign
            };
            match rng.below(3) {
                0 => format!("{plus}{int}{exp}"),
                1 => format!("{plus}{int}.{exp}"),
                _ => format!("{plus}{int}.{frac}{exp}"),
            }
        }
        4 => rng
            .pick(&[
                "", "-", "+", ".", "e5", "1e", "1e+", "abc", "inf", "-inf", "NaN", "infinity",
                "1.2.3", "--1", "0x10", "1e-400", "-1e-999", "1e307", "-2e300", "0", "-0",
                "0.0e0", "00000000000000000000000000000001", "1_0", "1e5x", " 1",
            ])
            .to_string(),
        _ => format!("{sign}{}", rng.range(0, 70_000)),
    }
}

/// The quantizer program for `q`, built in `dir`.
fn quantizer(dir: &Path, q: &InputQuant, rng: &mut Rng) -> PathBuf {
    let mut m: Model = dense_mlp(rng, "fq", WeightKind::Int8, Elem::I16, &[4, 3, 2]);
    for e in &mut m.encoders {
        if let Encoder::Raw { quant, .. } = e {
            *quant = Some(*q);
        }
    }
    let files = build::avr(&m, Path::new("fq.zir"), Board::Uno)
        .unwrap_or_else(|e| panic!("{q:?}: {e}"))
        .files;
    let want = ["fq_model.h", "fq_input.c"];
    for (name, text) in files.iter().filter(|(n, _)| want.contains(&n.as_str())) {
        std::fs::write(dir.join(name), text).expect("write");
    }
    std::fs::write(dir.join("driver.c"), DRIVER.replace("NAME", "fq")).expect("write");
    gcc(
        dir,
        "fq",
        &[dir.join("fq_input.c"), dir.join("driver.c")],
        &["-O1"],
    )
}

#[test]
fn the_quantizer_matches_the_interpreter_on_random_scales_and_text() {
    let mut rng = Rng::new(19_009);
    let tmp = scratch("avr-float-input");
    let mut checked = 0;
    for round in 0..24 {
        let q = random_quant(&mut rng);
        let dir = tmp.path().join(format!("q{round}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let exe = quantizer(&dir, &q, &mut rng);
        let mut input = String::new();
        let mut want = Vec::new();
        for _ in 0..3000 {
            let text = random_text(&mut rng, &q);
            if text.len() > 32 || text.contains(['\n', ' ']) {
                continue;
            }
            let lead_exp = text.parse::<f64>().ok().filter(|x| x.abs() >= 1e308);
            let expect = match text.parse::<f64>() {
                Ok(x) if x.is_finite() && lead_exp.is_none() => q.quantize(x).to_string(),
                _ => "E".to_string(),
            };
            input.push_str(&format!("t{text}\n"));
            want.push((text, expect));
        }
        for _ in 0..1000 {
            let bits = match rng.below(3) {
                0 => rng.next_u64() as u32,
                _ => ((q.scale * (rng.range(-3000, 3000) as f64 + 0.5)) as f32).to_bits(),
            };
            let x = f32::from_bits(bits) as f64;
            input.push_str(&format!("f{bits:x}\n"));
            want.push((format!("float {x:?}"), q.quantize(x).to_string()));
        }
        let got = run_exe(&exe, input.as_bytes());
        let got: Vec<&str> = got.lines().collect();
        assert_eq!(got.len(), want.len());
        for ((text, expect), got) in want.iter().zip(got) {
            assert_eq!(got, expect, "{q:?}: {text:?}");
            checked += 1;
        }
    }
    eprintln!("{checked} values quantized as the interpreter does");
}
