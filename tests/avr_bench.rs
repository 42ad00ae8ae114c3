//! Benchmarks of the AVR target (run on purpose: `cargo test --release --test
//! avr_bench -- --ignored --nocapture`): tinychat's cycles per inference step
//! in simavr, zlmc's AVR assembly against avr-gcc -Os on zlmc's C output.

use std::path::Path;

use zlmc::sim::avr::{compile_firmware, run_firmware, AvrExit, AvrRun};
use zlmc::simulate::avr_run;
use zlmc_backends::avr::Board;
use zlmc_test_support::build::avr_firmware;
use zlmc_test_support::{build, repo, tinychat};

/// Queries of expected.tsv: every `BENCH_STRIDE`-th one (1 = all 2,290).
fn stride() -> usize {
    std::env::var("BENCH_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

#[test]
#[ignore = "benchmark: minutes of simulation"]
fn tinychat_asm_against_c_on_the_mega2560() {
    let Some(t) = tinychat("tinychat_asm_against_c_on_the_mega2560") else {
        return;
    };
    let (m, spec, dir) = (&t.model, &t.spec, t.dir.path());
    let lines: Vec<&str> = t.expected.lines().step_by(stride()).collect();
    let queries: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap().as_bytes().to_vec())
        .collect();
    let want: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();

    for board in [Board::Uno, Board::Mega2560] {
        let fw = avr_firmware(m, spec, board, &dir.join(format!("asm-{board}"))).unwrap();
        let got = avr_run(&fw, &queries).unwrap();
        for (g, w) in got.answers.iter().zip(&want) {
            assert_eq!(String::from_utf8_lossy(g), *w);
        }
        let steps: Vec<u64> = got.steps.iter().flatten().copied().collect();
        let avg = steps.iter().sum::<u64>() as f64 / steps.len() as f64;
        eprintln!(
            "asm on {board}: {} queries, {} steps, {avg:.0} cycles per step (text_step), max {}, \
             whole run {:.0} cycles per step",
            queries.len(),
            steps.len(),
            steps.iter().max().unwrap(),
            got.report.total_cycles as f64 / steps.len() as f64
        );
    }

    // zlmc's C backend, avr-gcc -Os, in the same firmware (C and AVR APIs agree).
    let c = build::c(m, Path::new("tinychat"));
    let cdir = dir.join("c");
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(cdir.join(&c.header_name), &c.header).unwrap();
    std::fs::write(cdir.join(&c.source_name), &c.source).unwrap();
    std::fs::write(cdir.join("zlmc_sim_main.c"), zlmc_runtime_avr_main()).unwrap();
    std::fs::write(
        cdir.join("shim.c"),
        "#include \"tinychat.h\"\n#define ZLMC_MODE_REPLY 1\n#define ZLMC_REPLY tinychat_reply\n\
         #define ZLMC_REPLY_CAP 51\n#include \"zlmc_sim_main.c\"\n",
    )
    .unwrap();
    let elf = cdir.join("c.elf");
    let board = Board::Mega2560;
    compile_firmware(
        &[cdir.join("shim.c"), cdir.join(&c.source_name)],
        board.mcu(),
        board.f_cpu(),
        &elf,
    )
    .unwrap();
    let input: Vec<u8> = queries
        .iter()
        .flat_map(|q| q.iter().copied().chain([b'\n']))
        .collect();
    let mut run = AvrRun::new(&elf, board.mcu(), board.f_cpu());
    run.uart_input = &input;
    run.stop_on = Some(&[0x05]);
    run.max_cycles = u64::MAX / 2;
    run.idle_cycles = run.max_cycles;
    run.step_symbol = Some("tinychat_run");
    let rep = run_firmware(&run).unwrap();
    assert_eq!(rep.exit, AvrExit::Prompt);
    let mut outs = rep.output.split(|&b| b == 0x05).skip(1);
    for w in &want {
        let g = outs.next().unwrap();
        assert_eq!(String::from_utf8_lossy(g.strip_suffix(b"\n").unwrap()), *w);
    }
    let n = rep.step_cycles.len().max(1) as f64;
    eprintln!(
        "C -Os on mega2560: {} steps, tinychat_run {:.0} cycles per step, whole run {:.0} cycles per step",
        rep.step_cycles.len(),
        rep.step_cycles.iter().sum::<u64>() as f64 / n,
        rep.total_cycles as f64 / n
    );
}

fn zlmc_runtime_avr_main() -> &'static str {
    // The firmware source is not exported by the root package's dependencies;
    // read it from the repository.
    Box::leak(
        std::fs::read_to_string(repo().join("runtime-avr/src/sim_main.c"))
            .unwrap()
            .into_boxed_str(),
    )
}
