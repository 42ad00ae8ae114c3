//! The AVR backend's conv and pool layers: random conv models agree with the
//! interpreter bit for bit in simavr; the digits CNN runs on the Uno
//! within 12 cycles per multiply-accumulate, and its SRAM plan holds against
//! avr-size and the measured stack; its sketch builds with the Arduino core;
//! a conv model too big for the Uno is refused with the figures.

use std::fmt::Write as _;
use std::path::Path;

use zlmc_backends::avr::sim::run as avr_run;
use zlmc_backends::avr::Board;
use zlmc_backends::sim::avr::{avr_size, build_sketch, run_firmware, AvrExit, AvrRun};
use zlmc_ir::Model;
use zlmc_test_support::build::{self, avr_firmware};
use zlmc_test_support::conv_models::random_conv_model;
use zlmc_test_support::models::{digit_like_inputs, random_inputs};
use zlmc_test_support::simavr::{self, check_in_two, vector_cases};
use zlmc_test_support::{scratch, zlmc_build, Rng};

const MODELS: usize = 120;

/// Random conv models (1-D and 2-D, strides, paddings, groups, both pools,
/// every weight kind, both accumulators), on the Uno and the Mega 2560, each
/// on two digit-like inputs (the kernels' byte-wide path) and two over the
/// whole int16 range (the high-byte plane): every answer is the interpreter's.
#[test]
fn random_conv_models_agree_with_the_interpreter_in_simavr() {
    let tmp = scratch("avr-conv-differential");
    let mut rng = Rng::new(0xC0_2026);
    let mut jobs = Vec::new();
    let mut lines_total = 0;
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..MODELS {
        let name = format!("c{i}");
        let m = random_conv_model(&mut rng, &name);
        let mut inputs = digit_like_inputs(&mut rng, m.input_len(), 2);
        inputs.extend(random_inputs(&mut rng, m.input_len(), 2));
        let (lines, want) = vector_cases(&m, &inputs);
        lines_total += lines.len();
        let mut opt = m.clone();
        // Every fourth model keeps the unoptimized graph.
        simavr::optimize(&mut opt, i % 4 == 3);
        let board = [Board::Uno, Board::Mega2560][i % 2];
        let files = build::avr(&opt, Path::new("random"), Board::Mega2560).expect("builds");
        for f in &files.report.front {
            let kind = f.what.split(' ').next().unwrap_or("");
            *kinds
                .entry(format!("{kind}: {}", f.kernel))
                .or_insert(0usize) += 1;
            if f.what.contains("window 1x") && !f.what.contains("window 1x1 ") {
                *kinds.entry("1-D window".into()).or_insert(0) += 1;
            }
            if f.what.contains("groups") {
                *kinds.entry("grouped conv".into()).or_insert(0) += 1;
            }
        }
        jobs.push((opt, lines, want, board));
    }
    // Every kernel and path is exercised.
    eprintln!("conv and pool layers: {kinds:?}");
    for k in [
        "conv: conv, weights in registers",
        "conv: conv, weights in registers and flash",
        "maxpool: maxpool",
        "avgpool: avgpool",
        "grouped conv",
    ] {
        assert!(kinds.get(k).copied().unwrap_or(0) >= 3, "{k}: {kinds:?}");
    }
    let checked = check_in_two(tmp.path(), jobs);
    assert_eq!(checked, lines_total);
    eprintln!("avr conv differential: {MODELS} random conv models, {checked} lines agree");
}

/// The digits CNN, `Conv2d(1, 4, 3, padding=1) → ReLU → MaxPool2d(2)
/// → Flatten → Linear(64, 10)`, int8 weights (random, seeded), 32-bit
/// accumulators, as `.zir` text.
fn digits_cnn(name: &str) -> Model {
    let mut rng = Rng::new(0x00D1_6175);
    let mut w = |n: usize| -> String {
        let v: Vec<String> = (0..n).map(|_| rng.range(-128, 127).to_string()).collect();
        v.join(" ")
    };
    let rows = |w: &mut dyn FnMut(usize) -> String, r: usize, c: usize| -> String {
        (0..r).map(|_| format!("  [{}]\n", w(c))).collect()
    };
    let conv = rows(&mut w, 4, 9);
    let dense = rows(&mut w, 10, 64);
    let labels: Vec<String> = (0..10).map(|i| format!("\"{i}\"")).collect();
    let mut s = String::new();
    let _ = write!(
        s,
        "zir 1\nmodel \"{name}\"\nencode raw(length: 64)\ndecode classify(labels: [{}])\n\n\
         %0 = input : i16[64]\n\
         %1 = reshape %0, [1, 8, 8] : i16[1, 8, 8]\n\
         %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, dense int8[4, 9] [\n{conv}], acc i32 : i32[4, 8, 8]\n\
         %3 = epilogue %2, bias [300, -200, 100, -50], shift 7, relu : i16[4, 8, 8]\n\
         %4 = maxpool %3, kernel [2, 2], stride [2, 2], pad [0, 0, 0, 0] : i16[4, 4, 4]\n\
         %5 = flatten %4 : i16[64]\n\
         %6 = matmul %5, dense int8[10, 64] [\n{dense}], acc i32 : i32[10]\n\
         %7 = epilogue %6, bias [1000, -1000, 500, -500, 0, 2000, -2000, 300, -300, 0], shift 8 : i16[10]\n\
         %8 = argmax %7 : index\n",
        labels.join(", ")
    );
    zlmc_ir::text::parse_model(&s).unwrap_or_else(|e| panic!("{e}\n{s}"))
}

/// Multiply-accumulates of the digits CNN, counted as PyTorch's profilers
/// count them: every conv tap of every output, padding included
/// (4·8·8·9 = 2,304; 1,936 without the taps on the padding), and the dense
/// layer's 64·10 = 640.
const DIGITS_MACS: u64 = 4 * 8 * 8 * 9 + 64 * 10;

/// On the Uno, the digits CNN takes at most 12 cycles per multiply-accumulate
/// of the whole network in simavr, every answer the interpreter's; the plan's
/// SRAM is within the firmware's static data (avr-size), and that data plus
/// the measured stack peak fits the board.
#[test]
fn digits_cnn_runs_within_12_cycles_per_mac_on_the_uno() {
    let tmp = scratch("avr-conv-digits");
    let mut m = digits_cnn("digits_cnn");
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    let mut rng = Rng::new(0x000D_1617);
    let inputs = digit_like_inputs(&mut rng, 64, 100);
    let (lines, want) = vector_cases(&m, &inputs);
    let fw = avr_firmware(&m, Path::new("digits_cnn"), Board::Uno, tmp.path()).expect("fits");
    let got = avr_run(&fw, &lines).expect("runs");
    for (g, w) in got.answers.iter().zip(&want) {
        assert_eq!(String::from_utf8_lossy(g), *w);
    }
    let steps: Vec<u64> = got.steps.iter().flatten().copied().collect();
    assert_eq!(steps.len(), inputs.len());
    let cycles = steps.iter().sum::<u64>() / steps.len() as u64;
    let per_mac = cycles as f64 / DIGITS_MACS as f64;
    let r = &fw.files.report;
    let predicted: usize = r.front.iter().map(|f| f.cycles.expected).sum::<usize>()
        + r.layers.iter().map(|l| l.cycles.expected).sum::<usize>();
    let size = avr_size(&fw.elf).expect("avr-size");
    let stack = u64::from(got.report.stack_peak());
    eprintln!("{}", r.summary());
    eprintln!(
        "digits CNN on the Uno: {cycles} cycles per inference ({} at most), {DIGITS_MACS} MACs, \
         {per_mac:.2} cycles per MAC; predicted {predicted}; model SRAM {} bytes (maps {}), \
         firmware static RAM {} (avr-size), stack peak {stack}",
        steps.iter().max().unwrap(),
        r.sram,
        r.front_sram,
        size.static_ram()
    );
    assert!(per_mac <= 12.0, "{per_mac:.2} cycles per MAC");
    assert!(
        (r.sram as u64) <= size.static_ram(),
        "the plan's {} bytes are in the firmware's static RAM ({})",
        r.sram,
        size.static_ram()
    );
    assert!(size.static_ram() + stack <= Board::Uno.sram() as u64);
    let off = predicted as f64 / cycles as f64 - 1.0;
    assert!(
        off.abs() <= 0.15,
        "predicted {predicted}, measured {cycles} ({:+.1} %)",
        100.0 * off
    );
}

/// The digits CNN's sketch builds with the Arduino core (arduino-mk), fits
/// the Uno with its stack, and answers as the interpreter does.
#[test]
fn digits_cnn_sketch_builds_and_answers_on_the_uno() {
    let tmp = scratch("avr-conv-sketch");
    let dir = tmp.path();
    let m = digits_cnn("digits_cnn");
    let spec = dir.join("digits_cnn.zir");
    std::fs::write(&spec, zlmc_ir::text::print_model(&m)).unwrap();
    zlmc_build(&spec, "avr", &["--board", "uno"], &dir.join("out"));
    let elf = build_sketch(
        &dir.join("out").join("digits_cnn"),
        "uno",
        &dir.join("build"),
    )
    .expect("the sketch builds");
    let size = avr_size(&elf).unwrap();
    let mut rng = Rng::new(7);
    let inputs = digit_like_inputs(&mut rng, 64, 3);
    let (lines, _) = vector_cases(&m, &inputs);
    let typed: String = lines
        .iter()
        .map(|l| format!("{}\r\n", String::from_utf8_lossy(l)))
        .collect();
    let mut run = AvrRun::new(&elf, Board::Uno.mcu(), Board::Uno.f_cpu());
    run.uart_input = typed.as_bytes();
    run.stop_on = Some(b"> ");
    let rep = run_firmware(&run).unwrap();
    assert_eq!(rep.exit, AvrExit::Prompt);
    let out = String::from_utf8_lossy(&rep.output).into_owned();
    for x in &inputs {
        let class = zlmc_ir::interp::step(&m.graph, x).class;
        assert!(
            out.contains(&format!("\r\n{class}\r\n")),
            "{class} in {out:?}"
        );
    }
    let stack = u64::from(rep.stack_peak());
    eprintln!(
        "digits CNN sketch on the Uno: flash {}, static RAM {}, stack peak {stack}",
        size.flash(),
        size.static_ram()
    );
    assert!(size.flash() <= Board::Uno.flash() as u64);
    assert!(size.static_ram() + stack + 128 <= Board::Uno.sram() as u64);
}

/// A conv model whose maps need more SRAM than the Uno has is refused with
/// what it needs and what the board has, and builds for the Mega 2560.
#[test]
fn a_conv_model_too_big_for_the_uno_says_what_it_needs() {
    let text = "zir 1\nmodel \"big\"\nencode raw(length: 256)\ndecode classify(labels: [\"a\", \"b\"])\n\n\
         %0 = input : i16[256]\n\
         %1 = reshape %0, [1, 16, 16] : i16[1, 16, 16]\n\
         %2 = conv %1, kernel [1, 1], stride [1, 1], pad [0, 0, 0, 0], groups 1, dense int8[8, 1] [\n  [1]\n  [2]\n  [3]\n  [4]\n  [5]\n  [6]\n  [7]\n  [8]\n], acc i16 : i16[8, 16, 16]\n\
         %3 = epilogue %2, bias [0, 0, 0, 0, 0, 0, 0, 0], shift 0 : i16[8, 16, 16]\n\
         %4 = avgpool %3, kernel [16, 16], stride [16, 16], pad [0, 0, 0, 0], mul 1, shift 8 : i16[8, 1, 1]\n\
         %5 = flatten %4 : i16[8]\n\
         %6 = matmul %5, dense int8[2, 8] [\n  [1 0 0 0 0 0 0 0]\n  [0 1 0 0 0 0 0 0]\n], acc i16 : i16[2]\n\
         %7 = argmax %6 : index\n";
    let m = zlmc_ir::text::parse_model(text).expect("parses");
    let err = build::avr(&m, Path::new("big.zir"), Board::Uno).expect_err("too big");
    let msg = format!("{err}");
    assert!(msg.contains("does not fit the uno"), "{msg}");
    assert!(msg.contains("bytes of SRAM"), "{msg}");
    eprintln!("{msg}");
    let files = build::avr(&m, Path::new("big.zir"), Board::Mega2560).expect("fits the Mega 2560");
    assert_eq!(files.report.front_sram, 2 * 8 * 256 + 2 * 256 + 2);
}

/// A conv layer then a pool of more than 32 elements a window (padded, so
/// from the scratch), which loops over the window's rows: max and average
/// pools agree with the interpreter on the Uno; so does a conv of more than
/// 256 taps an output.
#[test]
fn large_windows_agree_with_the_interpreter() {
    let tmp = scratch("avr-conv-large-pools");
    let pools = [
        (
            "maxpool",
            "kernel [6, 6], stride [3, 3], pad [2, 2, 2, 2]",
            4,
        ),
        (
            "avgpool",
            "kernel [7, 7], stride [5, 5], pad [3, 3, 3, 3], mul 5, shift 8",
            3,
        ),
    ];
    let mut rng = Rng::new(0x9001);
    let mut jobs = Vec::new();
    for (i, (pool, window, side)) in pools.iter().enumerate() {
        let conv: String = (0..2)
            .map(|_| {
                let v: Vec<String> = (0..9).map(|_| rng.range(-128, 127).to_string()).collect();
                format!("  [{}]\n", v.join(" "))
            })
            .collect();
        let flat = 2 * side * side;
        let dense: String = (0..3)
            .map(|_| {
                let v: Vec<String> = (0..flat).map(|_| rng.range(-8, 7).to_string()).collect();
                format!("  [{}]\n", v.join(" "))
            })
            .collect();
        let text = format!(
            "zir 1\nmodel \"pool{i}\"\nencode raw(length: 144)\ndecode classify(labels: [\"a\", \"b\", \"c\"])\n\n\
             %0 = input : i16[144]\n\
             %1 = reshape %0, [1, 12, 12] : i16[1, 12, 12]\n\
             %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, dense int8[2, 9] [\n{conv}], acc i16 : i16[2, 12, 12]\n\
             %3 = epilogue %2, bias [-300, 200], shift 3 : i16[2, 12, 12]\n\
             %4 = {pool} %3, {window} : i16[2, {side}, {side}]\n\
             %5 = flatten %4 : i16[{flat}]\n\
             %6 = matmul %5, dense int4[3, {flat}] [\n{dense}], acc i32 : i32[3]\n\
             %7 = epilogue %6, bias [0, 0, 0], shift 4 : i16[3]\n\
             %8 = argmax %7 : index\n"
        );
        let m = zlmc_ir::text::parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut inputs = digit_like_inputs(&mut rng, 144, 2);
        inputs.extend(random_inputs(&mut rng, 144, 2));
        let (lines, want) = vector_cases(&m, &inputs);
        jobs.push((m, lines, want, Board::Uno));
    }
    // A conv of 270 taps an output: sums past 256 flipped products take a
    // fourth byte, and most weights come from flash.
    let conv: String = (0..3)
        .map(|_| {
            let v: Vec<String> = (0..270).map(|_| rng.range(-128, 127).to_string()).collect();
            format!("  [{}]\n", v.join(" "))
        })
        .collect();
    let text = format!(
        "zir 1\nmodel \"taps270\"\nencode raw(length: 480)\ndecode classify(labels: [\"a\", \"b\"])\n\n\
         %0 = input : i16[480]\n\
         %1 = reshape %0, [30, 4, 4] : i16[30, 4, 4]\n\
         %2 = conv %1, kernel [3, 3], stride [1, 1], pad [0, 0, 0, 0], groups 1, dense int8[3, 270] [\n{conv}], acc i32 : i32[3, 2, 2]\n\
         %3 = epilogue %2, bias [-70000, 0, 70000], shift 9 : i16[3, 2, 2]\n\
         %4 = flatten %3 : i16[12]\n\
         %5 = matmul %4, dense int8[2, 12] [\n  [1 -2 3 -4 5 -6 7 -8 9 -10 11 -12]\n  [-1 2 -3 4 -5 6 -7 8 -9 10 -11 12]\n], acc i32 : i32[2]\n\
         %6 = epilogue %5, bias [0, 0], shift 4 : i16[2]\n\
         %7 = argmax %6 : index\n"
    );
    let m = zlmc_ir::text::parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut inputs = digit_like_inputs(&mut rng, 480, 2);
    inputs.extend(random_inputs(&mut rng, 480, 2));
    let (lines, want) = vector_cases(&m, &inputs);
    jobs.push((m, lines, want, Board::Mega2560));
    assert_eq!(check_in_two(tmp.path(), jobs), 12);
}
