//! The Uno sketch of a model quantized from a float one reads the float
//! features as `zlmc run` does: its quantizer (`NAME_input.c`), compiled with
//! the host gcc, agrees with `InputQuant::quantize` on random scales, zero
//! points and ranges, for decimals near every rounding boundary, random
//! decimals of every form, text that is not a number, and float bit patterns;
//! and the real sketch (Arduino core, simavr, its Serial input) prints the
//! interpreter's label for the digits model's test samples.

use std::path::{Path, PathBuf};

use zlmc::frontend::tensors::TensorData;
use zlmc_backends::avr::Board;
use zlmc_ir::{Elem, Encoder, InputQuant, Model, WeightKind};
use zlmc_test_support::models::{dense_mlp, make_values};
use zlmc_test_support::tools::{gcc, run_exe};
use zlmc_test_support::{build, import_digits, repo, scratch, zlmc, zlmc_build, Rng};

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
        0 => rng.pick(&[
            1.0 / 256.0,
            16.0 / 127.0,
            0.1,
            1.0,
            0.003_921_568_627_450_98,
            2.5,
        ]),
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
    let range = match rng.below(4) {
        0 => None,
        1 => Some(rng.pick(&[(0.0, 16.0), (-1.0, 1.0), (0.0, 255.0), (-8.5, 0.0)])),
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
    match rng.below(7) {
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
                "",
                "-",
                "+",
                ".",
                "e5",
                "1e",
                "1e+",
                "abc",
                "inf",
                "-inf",
                "NaN",
                "infinity",
                "1.2.3",
                "--1",
                "0x10",
                "1e-400",
                "-1e-999",
                "1e307",
                "-2e300",
                "0",
                "-0",
                "0.0e0",
                "00000000000000000000000000000001",
                "1_0",
                "1e5x",
                " 1",
            ])
            .to_string(),
        5 => format!("{sign}{}", rng.range(0, 70_000)),
        _ => format!(
            "{sign}{}.{}",
            rng.range(0, 20),
            rng.pick(&["0", "5", "25", "50", "125", "00"])
        ),
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

/// The digits test samples as a user would type them: float features in a
/// few spellings, separated by spaces or commas; one as quantized integers.
fn digits_lines(n: usize) -> Vec<String> {
    let data = repo().join("examples/digits/data.npz");
    let t = zlmc::frontend::npz::read_npz_as(&data, "data file").expect("digits data");
    let x = &t["x_test"];
    let TensorData::Float(v) = &x.data else {
        panic!("x_test is not float")
    };
    let width = x.shape[1];
    (0..n)
        .map(|i| {
            let row = &v[i * width..(i + 1) * width];
            let (sep, form): (&str, fn(f64) -> String) = match i % 4 {
                0 => (" ", |x| format!("{x:?}")),
                1 => (", ", |x| format!("{x}")),
                2 => (",", |x| format!("{:.3}", x / 16.0 * 16.0)),
                _ => (" ", |x| format!("{}e1", x / 10.0)),
            };
            let vals: Vec<String> = row.iter().map(|&x| form(x)).collect();
            vals.join(sep)
        })
        .collect()
}

#[test]
fn the_digits_sketch_reads_what_zlmc_run_reads_in_simavr() {
    use zlmc_backends::sim::avr::{avr_size, build_sketch, run_firmware, AvrExit, AvrRun};
    let tmp = scratch("avr-digits-sketch");
    let dir = tmp.path();
    let spec = import_digits(&dir.join("d8"), &["--weights", "int8"]);
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let mut lines = digits_lines(12);
    // Errors: a value short, one too many, not a number, too long, and the
    // quantized integers with one out of range.
    let line0 = lines[0].clone();
    let first: Vec<&str> = line0.split(' ').collect();
    lines.push(first[1..].join(" "));
    lines.push(format!("{line0} 1"));
    lines.push(format!("{} x", first[..63].join(" ")));
    lines.push(format!("{} {}", first[..63].join(" "), "1".repeat(40)));
    let run = zlmc(&["run", &s(&spec), "--batch"], &(lines.join("\n") + "\n"));
    // The same samples as the quantized integers `zlmc run` makes of them.
    let m = zlmc::driver::load(&spec).expect("load");
    let q = m.input_quant().expect("a float model's quantization");
    let ints: Vec<String> = digits_lines(3)
        .iter()
        .map(|l| {
            let v: Vec<String> = l
                .split([' ', ','])
                .filter(|t| !t.is_empty())
                .map(|t| q.quantize(t.parse().expect("a number")).to_string())
                .collect();
            format!("q{}", v.join(" "))
        })
        .collect();
    let mut typed = lines.clone();
    typed.extend(ints.iter().cloned());
    typed.push("q 1 2 40000".into());
    zlmc_build(&spec, "avr", &["--board", "uno"], &dir.join("out"));
    let sketch_dir = dir.join("out").join(&m.name);
    let elf = build_sketch(&sketch_dir, "uno", &dir.join("build")).expect("the sketch builds");
    let size = avr_size(&elf).expect("avr-size");
    let input: String = typed.iter().map(|q| format!("{q}\r\n")).collect();
    let mut sim = AvrRun::new(&elf, Board::Uno.mcu(), Board::Uno.f_cpu());
    sim.uart_input = input.as_bytes();
    sim.stop_on = Some(b"> ");
    let step = format!("{}_predict", m.name);
    sim.step_symbol = Some(&step);
    let rep = run_firmware(&sim).expect("simavr");
    let out = String::from_utf8_lossy(&rep.output).into_owned();
    assert_eq!(rep.exit, AvrExit::Prompt, "{out}");
    let answers: Vec<&str> = out
        .split("> ")
        .skip(1)
        .map(|a| a.split_once("\r\n").map_or("", |(_echo, answer)| answer))
        .map(|a| a.strip_suffix("\r\n").unwrap_or(a))
        .collect();
    assert_eq!(answers.len(), typed.len() + 1, "{out}");
    // zlmc run's answers, in order; the errors on stderr.
    let mut run_answers = run
        .stdout
        .lines()
        .map(|l| l.split_once('\t').expect("tab").1);
    for (i, line) in lines.iter().enumerate() {
        let got = answers[i];
        if let Some(e) = got.strip_prefix("error: ") {
            if e.contains("longer than") {
                assert!(line.len() > 64 * 3, "{e}");
                continue;
            }
            assert!(
                run.stderr.contains(&format!("stdin line {}: {e}", i + 1)),
                "line {}: the sketch says {e:?}; zlmc run: {}",
                i + 1,
                run.stderr
            );
        } else {
            assert_eq!(Some(got), run_answers.next(), "line {}: {line}", i + 1);
        }
    }
    for (k, _) in ints.iter().enumerate() {
        assert_eq!(answers[lines.len() + k], answers[k], "quantized sample {k}");
    }
    assert_eq!(
        answers[lines.len() + ints.len()],
        "error: the model takes 64 integers, the input has 3"
    );
    // The input arrives at 115200 baud (10 bits a byte) as fast as the
    // sketch reads it: a run not much longer than the bytes' time on the
    // wire plus the inferences kept up with them.
    let wire = input.len() as u64 * 10 * u64::from(Board::Uno.f_cpu()) / 115_200;
    let steps: u64 = rep.step_cycles.iter().sum();
    eprintln!(
        "digits sketch on the uno: flash {}, static RAM {}, stack peak {}; \
         {} bytes typed: {} cycles on the wire, {} cycles in the run, {} of them in {} \
         inferences ({} each)",
        size.flash(),
        size.static_ram(),
        rep.stack_peak(),
        input.len(),
        wire,
        rep.total_cycles,
        steps,
        rep.step_cycles.len(),
        steps / rep.step_cycles.len().max(1) as u64
    );
}

/// The digits model as a values model (its ten scores): the sketch prints
/// the int16 outputs of `NAME_step` for the float features, the very
/// outputs `zlmc run` scales.
#[test]
fn a_values_sketch_prints_the_interpreters_outputs_in_simavr() {
    use zlmc_backends::sim::avr::build_sketch;
    let tmp = scratch("avr-values-sketch");
    let dir = tmp.path();
    let spec = import_digits(&dir.join("d8"), &["--weights", "int8"]);
    let mut m = zlmc::driver::load(&spec).expect("load");
    make_values(&mut m, 0.01, 3);
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    let files = build::avr(&m, Path::new("values"), Board::Uno).expect("builds");
    let sketch_dir = dir.join("sketch").join(&files.dir_name);
    std::fs::create_dir_all(&sketch_dir).expect("mkdir");
    build::write_files(&sketch_dir, &files.files);
    let header = &files
        .files
        .iter()
        .find(|(n, _)| n.ends_with("_model.h"))
        .expect("header")
        .1;
    assert!(
        header.contains("#define DIGITS_OUTPUT_SCALE 0.01"),
        "{header}"
    );
    assert!(
        header.contains("#define DIGITS_OUTPUT_ZERO_POINT 3"),
        "{header}"
    );
    let elf = build_sketch(&sketch_dir, "uno", &dir.join("build")).expect("the sketch builds");
    let lines = digits_lines(4);
    let q = m.input_quant().expect("quantized from float");
    let out = type_into_uno_sketch(&elf, lines.iter());
    for (line, answer) in lines.iter().zip(out.split("> ").skip(1)) {
        let values: Vec<i16> = line
            .split([' ', ','])
            .filter(|t| !t.is_empty())
            .map(|t| q.quantize(t.parse().expect("a number")))
            .collect();
        let want: Vec<String> = zlmc_ir::interp::step(&m.graph, &values)
            .logits
            .iter()
            .map(i16::to_string)
            .collect();
        let got = answer.split_once("\r\n").expect("a line").1;
        assert_eq!(got.trim_end(), want.join(" "), "{line}");
    }
}

/// A model with integer inputs: the sketch reads integers, with or without
/// the `q`, and says what `zlmc run` says of a value out of range.
#[test]
fn an_integer_sketch_reads_integers_in_simavr() {
    use zlmc_backends::sim::avr::build_sketch;
    let mut rng = Rng::new(19_011);
    let tmp = scratch("avr-integer-sketch");
    let dir = tmp.path();
    let mut m = dense_mlp(&mut rng, "ints", WeightKind::Int8, Elem::I16, &[5, 6, 3]);
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    let files = build::avr(&m, Path::new("ints"), Board::Uno).expect("builds");
    assert!(!files.files.iter().any(|(n, _)| n.ends_with("_input.c")));
    let sketch_dir = dir.join("sketch").join(&files.dir_name);
    std::fs::create_dir_all(&sketch_dir).expect("mkdir");
    build::write_files(&sketch_dir, &files.files);
    let elf = build_sketch(&sketch_dir, "uno", &dir.join("build")).expect("the sketch builds");
    let cases: Vec<(&str, String)> = vec![
        ("1 -2 300 4 -32768", label(&m, &[1, -2, 300, 4, -32768])),
        ("q 7,0,0,+9,-1", label(&m, &[7, 0, 0, 9, -1])),
        (
            "1 2 3 4 32768",
            "error: value 5 `32768` is out of range for i16 (-32768..=32767)".into(),
        ),
        (
            "1 2 3 4 99999999999999999999",
            "error: value 5 `99999999999999999999` is not an integer".into(),
        ),
        (
            "1 2 3 4",
            "error: the model takes 5 integers, the input has 4".into(),
        ),
        (
            "1 2 3 4 1.5",
            "error: value 5 `1.5` is not an integer".into(),
        ),
    ];
    let out = type_into_uno_sketch(&elf, cases.iter().map(|(q, _)| q));
    for ((q, want), answer) in cases.iter().zip(out.split("> ").skip(1)) {
        let got = answer.split_once("\r\n").expect("a line").1;
        assert_eq!(got.trim_end(), want, "{q}");
    }
}

/// The Uno sketch `elf` in simavr with `lines` typed, each ended by CR LF,
/// run until it prompts for more; what it printed.
fn type_into_uno_sketch(elf: &Path, lines: impl Iterator<Item = impl std::fmt::Display>) -> String {
    use zlmc_backends::sim::avr::{run_firmware, AvrExit, AvrRun};
    let input: String = lines.map(|l| format!("{l}\r\n")).collect();
    let mut sim = AvrRun::new(elf, Board::Uno.mcu(), Board::Uno.f_cpu());
    sim.uart_input = input.as_bytes();
    sim.stop_on = Some(b"> ");
    let rep = run_firmware(&sim).expect("simavr");
    let out = String::from_utf8_lossy(&rep.output).into_owned();
    assert_eq!(rep.exit, AvrExit::Prompt, "{out}");
    out
}

fn label(m: &Model, values: &[i16]) -> String {
    let r = zlmc_ir::interp::step(&m.graph, values);
    String::from_utf8(m.decode.answer(r.class).expect("a class")).expect("utf-8")
}
