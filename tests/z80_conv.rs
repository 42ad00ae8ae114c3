//! Convolution and pooling on the Z80: random feature-map models (1-D and
//! 2-D, strides, paddings, groups, both pools, every weight kind, 16- and
//! 32-bit accumulators) answer as the interpreter on the CP/M emulator, their
//! `.asm` assembling with z80asm and pasmo to the `.COM`'s bytes, and some on
//! the Spectrum; the predicted T-states track the measured ones; a model
//! whose maps do not fit is refused with what it needs and what there is.

use std::path::Path;

use zlmc_backends::z80::target::z80_raw_reply;
use zlmc_backends::zx48::target::zx48_raw_reply;
use zlmc_ir::{interp, Model};
use zlmc_test_support::build::{self, assert_assemblers_agree, Z80Files};
use zlmc_test_support::conv_models::random_conv_model;
use zlmc_test_support::models::{make_values, random_inputs};
use zlmc_test_support::Rng;

fn line(values: &[i16]) -> Vec<u8> {
    let words: Vec<String> = values.iter().map(i16::to_string).collect();
    words.join(" ").into_bytes()
}

/// The interpreter's label for `values`.
fn label(m: &Model, values: &[i16]) -> Vec<u8> {
    let r = interp::step(&m.graph, values);
    m.decode.answer(r.class).expect("a class")
}

/// The T-states `zlmc build` predicts for a whole inference.
fn predicted(z: &Z80Files) -> u64 {
    let last = z.report.last().expect("a feature-map model's report");
    let figure = last
        .split("; ")
        .find_map(|part| part.strip_suffix(" T-states per inference predicted"))
        .expect("the prediction");
    figure.parse().expect("a number")
}

/// A random conv model, optimized as `zlmc build` does.
fn conv_model(rng: &mut Rng, name: &str) -> Model {
    let mut m = random_conv_model(rng, name);
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    m
}

#[test]
fn random_conv_models_agree_with_the_interpreter_on_cpm_with_both_assemblers() {
    let mut rng = Rng::new(0x0021_0080);
    let (mut models, mut answers, mut refused) = (0, 0, 0);
    let mut worst_prediction = 0.0f64;
    while models < 100 {
        let m = conv_model(&mut rng, &format!("c{models}"));
        let z = match build::z80(&m, Path::new("random")) {
            Ok(z) => z,
            Err(e) if e.message.contains("bytes") => {
                refused += 1;
                assert!(refused < 20, "{}: {e}", m.name);
                continue;
            }
            Err(e) => panic!("{}: {e}", m.name),
        };
        models += 1;
        assert_assemblers_agree(&z, &m.name);
        for values in random_inputs(&mut rng, m.input_len(), 2) {
            let q = line(&values);
            let (got, run) = z80_raw_reply(&z.com, z.step_entry, &q).expect("runs");
            assert_eq!(
                String::from_utf8_lossy(&got.reply),
                String::from_utf8_lossy(&label(&m, &values)),
                "{}: {}",
                m.name,
                String::from_utf8_lossy(&q)
            );
            assert!(run.highest_write < 0xDC00, "writes stay below the CCP");
            let measured = run.step_tstates.iter().sum::<u64>() as f64;
            let off = (predicted(&z) as f64 - measured).abs() / measured;
            worst_prediction = worst_prediction.max(off);
            answers += 1;
        }
        // Its values form prints every output of the last layer.
        let mut values = m.clone();
        make_values(&mut values, 1.0, 0);
        let z = build::z80(&values, Path::new("random")).expect("builds as the classifier did");
        for x in random_inputs(&mut rng, m.input_len(), 2) {
            let (got, _) = z80_raw_reply(&z.com, z.step_entry, &line(&x)).expect("runs");
            let want = line(&interp::step(&m.graph, &x).logits);
            assert_eq!(got.reply, want, "{} as values", m.name);
        }
    }
    eprintln!(
        "{answers} answers of {models} conv models agree ({refused} refused for their size); \
         predictions within {:.1}%",
        100.0 * worst_prediction
    );
    assert!(
        worst_prediction < 0.2,
        "predicted T-states off by {worst_prediction}"
    );
}

#[test]
fn random_conv_models_agree_with_the_interpreter_on_the_spectrum() {
    let mut rng = Rng::new(0x0021_0048);
    let mut models = 0;
    while models < 8 {
        let m = conv_model(&mut rng, &format!("s{models}"));
        let v = zlmc_backends::target::Verified::new(&m).expect("verified");
        let zx = match zlmc_backends::zx48::build(&v, &build::provenance(Path::new("random"))) {
            Ok(z) => z,
            Err(zlmc_backends::BackendError::TooBig { .. }) => continue,
            Err(e) => panic!("{}: {e}", m.name),
        };
        models += 1;
        for values in random_inputs(&mut rng, m.input_len(), 3) {
            let q = line(&values);
            let (got, run) = zx48_raw_reply(&zx, &q).expect("runs");
            assert_eq!(got.reply, label(&m, &values), "{} on the Spectrum", m.name);
            assert!(run.highest_write < 0xFF00, "writes stay below the UDGs");
        }
    }
}

/// The digits-sized CNN, `Conv2d(1, 4, 3, padding=1) → ReLU →
/// MaxPool2d(2) → Flatten → Linear(64, 10)` on an 8×8 input, its weights
/// drawn from `rng` (int8, 32-bit accumulators).
fn digits_cnn(rng: &mut Rng) -> Model {
    let row = |rng: &mut Rng, n: usize| {
        let w: Vec<String> = (0..n).map(|_| rng.range(-127, 127).to_string()).collect();
        format!("[{}]\n", w.join(" "))
    };
    let conv: String = (0..4).map(|_| row(rng, 9)).collect();
    let dense: String = (0..10).map(|_| row(rng, 64)).collect();
    let labels: Vec<String> = (0..10).map(|d| format!("\"{d}\"")).collect();
    let text = format!(
        "zir 1\nmodel \"cnn\"\nencode raw(length: 64)\ndecode classify(labels: [{}])\n\n\
         %0 = input : i16[64]\n\
         %1 = reshape %0, [1, 8, 8] : i16[1, 8, 8]\n\
         %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, dense int8[4, 9] [\n{conv}], acc i32 : i32[4, 8, 8]\n\
         %3 = epilogue %2, bias [100, -200, 300, 0], shift 7, relu : i16[4, 8, 8]\n\
         %4 = maxpool %3, kernel [2, 2], stride [2, 2], pad [0, 0, 0, 0] : i16[4, 4, 4]\n\
         %5 = flatten %4 : i16[64]\n\
         %6 = matmul %5, dense int8[10, 64] [\n{dense}], acc i32 : i32[10]\n\
         %7 = epilogue %6, bias [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], shift 8 : i16[10]\n\
         %8 = argmax %7 : index\n",
        labels.join(", ")
    );
    zlmc_ir::text::parse_model(&text).expect("the CNN parses")
}

#[test]
fn the_digits_sized_cnn_runs_as_predicted_and_reports_its_layers() {
    let mut rng = Rng::new(0x0021_0064);
    let m = digits_cnn(&mut rng);
    let z = build::z80(&m, Path::new("cnn")).expect("builds");
    assert_assemblers_agree(&z, "cnn");
    for l in &z.report {
        eprintln!("{l}");
    }
    assert_eq!(z.report.len(), 4, "three layers and the memory");
    assert!(z.report[0].starts_with("layer 1: conv 3×3 stride 1×1, 1×8×8 -> 4×8×8, 36 taps"));
    assert!(z.report[1].starts_with("layer 2: maxpool 2×2 stride 2×2, 4×8×8 -> 4×4×4, 16 taps"));
    assert!(z.report[2].starts_with("layer 3: dense, 64×1×1 -> 10×1×1"));
    let mut steps = Vec::new();
    for x in random_inputs(&mut rng, 64, 4) {
        let (got, run) = z80_raw_reply(&z.com, z.step_entry, &line(&x)).expect("runs");
        assert_eq!(got.reply, label(&m, &x));
        steps.extend(run.step_tstates);
    }
    let avg = steps.iter().sum::<u64>() / steps.len() as u64;
    let p = predicted(&z);
    eprintln!(
        "cnn: {} bytes, {avg} T-states per inference measured on average ({} ms at 4 MHz), {p} predicted",
        z.com.len(),
        avg / 4000
    );
    assert!(p.abs_diff(avg) * 20 < avg, "predicted {p}, measured {avg}");
}

#[test]
fn maps_that_do_not_fit_are_refused_with_what_they_need_and_what_there_is() {
    let text = "zir 1\nmodel \"big\"\nencode raw(length: 8100)\ndecode classify(labels: [\"a\", \"b\"])\n\n\
         %0 = input : i16[8100]\n\
         %1 = reshape %0, [1, 90, 90] : i16[1, 90, 90]\n\
         %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, sparse int8[8, 9] [\n\
         [0:1]\n[1:1]\n[2:1]\n[3:1]\n[4:1]\n[5:1]\n[6:1]\n[7:1]\n], acc i16 : i16[8, 90, 90]\n\
         %3 = flatten %2 : i16[64800]\n\
         %4 = matmul %3, sparse int8[2, 64800] [\n[0:1]\n[64799:-1]\n], acc i16 : i16[2]\n\
         %5 = argmax %4 : index\n";
    let m = zlmc_ir::text::parse_model(text).expect("parses");
    let e = build::z80(&m, Path::new("big")).expect_err("too big for CP/M");
    eprintln!("{}", e.message);
    assert!(
        e.message.contains("need 162728 bytes") && e.message.contains("more than the 55552"),
        "{}",
        e.message
    );
    let v = zlmc_backends::target::Verified::new(&m).expect("verified");
    match zlmc_backends::zx48::build(&v, &build::provenance(Path::new("big"))) {
        Err(zlmc_backends::BackendError::TooBig { message, .. }) => {
            assert!(
                message.contains("need 162728 bytes") && message.contains("0xfe00"),
                "{message}"
            )
        }
        other => panic!("the Spectrum took it: {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_program_that_does_not_fit_beside_its_maps_is_refused_with_both_sizes() {
    // Maps of 54,768 bytes fit below the variables' page, the code beside them does not.
    let text = "zir 1\nmodel \"wide\"\nencode raw(length: 9000)\ndecode classify(labels: [\"a\", \"b\"])\n\n\
         %0 = input : i16[9000]\n\
         %1 = reshape %0, [1, 90, 100] : i16[1, 90, 100]\n\
         %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, sparse int8[1, 9] [\n\
         [0:1 4:-3]\n], acc i16 : i16[1, 90, 100]\n\
         %3 = flatten %2 : i16[9000]\n\
         %4 = matmul %3, sparse int8[2, 9000] [\n[0:1]\n[8999:-1]\n], acc i16 : i16[2]\n\
         %5 = argmax %4 : index\n";
    let m = zlmc_ir::text::parse_model(text).expect("parses");
    let e = build::z80(&m, Path::new("wide")).expect_err("too big for CP/M");
    eprintln!("{}", e.message);
    assert!(
        e.message.contains("54768 of maps") && e.message.contains("are available below 0xdb00"),
        "{}",
        e.message
    );
}
