//! Sizes and T-states of the runtimes on the CP/M emulator, printed for the
//! docs and reports (`cargo test -p zlmc-runtime-z80 --test figures -- --nocapture`).
//! Nothing here is a timing threshold: only the counts of calls are checked.

mod common;

use common::*;

/// T-states of each call of `routine` while answering `line` (typed at the prompt).
fn timed(cfg: &Config, line: &[u8], routine: &str, steps: usize) -> Vec<u64> {
    // `steps - 1` characters, then EOS.
    let mut script = vec![1u8; steps - 1];
    script.push(cfg.eos);
    let asm = build(cfg, Stub::Quiet, &script);
    let mut input = line.to_vec();
    input.extend_from_slice(b"\n!\n");
    let r = run(&asm, b"", &input, Some(routine));
    r.step_tstates
}

#[test]
fn figures() {
    for (name, cfg) in [
        ("chat", Config::tinychat()),
        ("classify", Config::classifier()),
    ] {
        let asm = build(&cfg, Stub::Quiet, &[]);
        let size = sym(&asm, "st_begin") - 0x100;
        let data = sym(&asm, "st_begin") - sym(&asm, "rt_prompt");
        println!(
            "{name}: {size} bytes ({} of code, {data} of strings and buffers; CTXLEN {})",
            size - data,
            cfg.ctxlen
        );
    }

    let cfg = Config::tinychat();
    println!("tinychat shape: ZIN_LEN 256, 128 query + 128 context buckets, CTXLEN 8");
    for len in [1usize, 5, 20, 64, 127] {
        let line: Vec<u8> = (0..len).map(|i| b"hello world "[i % 12]).collect();
        let query = timed(&cfg, &line, "rt_query", 3);
        let once = timed(&cfg, &line, "rt_fill_query", 3);
        let fill = timed(&cfg, &line, "rt_fill", 3);
        let unfill = timed(&cfg, &line, "rt_unfill", 3);
        assert_eq!(query.len(), 1);
        assert_eq!(once.len(), 1);
        assert_eq!(fill.len(), 3);
        assert_eq!(unfill.len(), 3);
        assert!(fill.windows(2).all(|w| w[0] == w[1]));
        println!(
            "query of {len:3} bytes: once per reply, hash {:6} T and zero and fill zin {:6} T; \
             each step, add the context {:5} T and take it out {:5} T",
            query[0], once[0], fill[0], unfill[0],
        );
    }
}
