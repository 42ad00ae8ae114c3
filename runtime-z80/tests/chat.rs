//! chat.asm on the CP/M emulator with a stub model that dumps `zin` at every
//! step: the whole output must equal the reference's byte for byte (prompts,
//! echoes, `zin` as `zlmc_ir::interp` encodes it, the reply characters).

mod common;

use common::*;
use zlmc_backends::sim::z80::Exit;

/// Lines that probe the query encoder's rules.
fn probe_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"".to_vec(),
        b"   ".to_vec(),
        b" ".to_vec(),
        b"  leading spaces".to_vec(),
        b"trailing spaces   ".to_vec(),
        b"inner  spaces   here".to_vec(),
        b"UPPER case MiXeD AZaz@[`{".to_vec(),
        b"what's up? (a) [b] {c} #~^_|\\\"".to_vec(),
        b"a".to_vec(),
        b" b".to_vec(),
        b"ab".to_vec(),
        b" !not a quit".to_vec(),
        b"tab\there".to_vec(),
        vec![0x07, b'x', 0x7F, 0x1B, 0x00, b'Q'],
        vec![0xC1, 0xE9, b'z', 0xFF, 0x80, 0xDA],
    ];
    lines.push(vec![b'Z'; 127]);
    lines.push(
        (0..127u8)
            .map(|i| b"Hello World "[usize::from(i) % 12])
            .collect(),
    );
    lines.push((0..127u8).map(|i| 0x20 + i % 95).collect());
    // Longer than the buffer: BDOS 10 stops at 127, the rest is the next line.
    lines.push((0..140u8).map(|i| b'a' + i % 26).collect());
    lines
}

/// Random lines of random bytes (never a line end, never `!` or ^C first).
fn random_lines(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let len = match rng.index(6) {
                0 => 127,
                1 => rng.index(4),
                _ => rng.index(128),
            };
            let mut line: Vec<u8> = (0..len)
                .map(|_| loop {
                    let b = match rng.index(8) {
                        0 => rng.index(256) as u8,
                        1 => b' ',
                        2 => b'A' + rng.index(26) as u8,
                        _ => 0x20 + rng.index(95) as u8,
                    };
                    if !matches!(b & 0x7F, 0x0A | 0x0D) {
                        break b;
                    }
                })
                .collect();
            if let Some(first) = line.first_mut() {
                if matches!(*first & 0x7F, b'!' | 3) {
                    *first = b'x';
                }
            }
            line
        })
        .collect()
}

/// Console input for `lines`, with assorted line ends, then `!quit` if asked.
fn session(lines: &[Vec<u8>], quit: bool) -> Vec<u8> {
    let mut input = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        input.extend_from_slice(l);
        input.extend_from_slice(match i % 3 {
            0 => b"\n",
            1 => b"\r\n",
            _ => b"\r",
        });
    }
    if quit {
        input.extend_from_slice(b"!quit\n");
    }
    input
}

fn configs() -> Vec<(&'static str, Config)> {
    let tiny = Config::tinychat();
    let odd = Config {
        qbuckets: 64,
        qoffset: 3,
        qvalue: -300,
        cbuckets: 128,
        coffset: 70,
        cvalue: 1000,
        ctxlen: 5,
        zin_len: 200,
        maxlen: 12,
        eos: 0,
        stack_top: 0xC000,
        charset: b"\0abcdefghijABCDEFGHIJ .?!".to_vec(),
        ..tiny.clone()
    };
    let wide = Config {
        qbuckets: 256,
        qoffset: 256,
        qvalue: 1,
        cbuckets: 256,
        coffset: 0,
        cvalue: -1,
        ctxlen: 2,
        zin_len: 512,
        maxlen: 9,
        ..tiny.clone()
    };
    let three = Config {
        qbuckets: 32,
        qoffset: 40,
        qvalue: 0x4000,
        cbuckets: 32,
        coffset: 2,
        cvalue: 0x3FFF,
        ctxlen: 3,
        zin_len: 75,
        ..tiny.clone()
    };
    let one = Config {
        qbuckets: 2,
        qoffset: 0,
        qvalue: 7,
        cbuckets: 1,
        coffset: 2,
        cvalue: 9,
        ctxlen: 1,
        zin_len: 3,
        ..tiny.clone()
    };
    let no_query = Config {
        qbuckets: 0,
        qoffset: 0,
        cbuckets: 64,
        coffset: 0,
        zin_len: 64,
        ..tiny.clone()
    };
    let no_context = Config {
        cbuckets: 0,
        coffset: 0,
        ctxlen: 0,
        zin_len: 128,
        ..tiny.clone()
    };
    vec![
        ("tinychat", tiny),
        ("odd offsets and values", odd),
        ("256 buckets", wide),
        ("context of 3", three),
        ("context of 1, one bucket", one),
        ("no query encoder", no_query),
        ("no context encoder", no_context),
    ]
}

#[test]
fn tinychat_encodes_probe_lines_like_the_interpreter() {
    let cfg = Config::tinychat();
    check("probes", &cfg, 1, b"", &session(&probe_lines(), true));
}

#[test]
fn every_config_encodes_random_lines_like_the_interpreter() {
    for (i, (name, cfg)) in configs().into_iter().enumerate() {
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ i as u64);
        let mut lines = probe_lines();
        lines.extend(random_lines(&mut rng, 40));
        check(name, &cfg, 7 + i as u64, b"", &session(&lines, false));
    }
}

#[test]
fn the_command_tail_is_answered_once() {
    let long: Vec<u8> = (0..126u8).map(|i| b"ab cd"[usize::from(i) % 5]).collect();
    let tails: Vec<&[u8]> = vec![
        b"hello",
        b"   ",
        b" ",
        b"  two  leading",
        b"what is your name?",
        b"x",
        &long,
        b"!bang is not special here",
        b"caf\xe9 \x01\xff\x80 ctrl and high bytes pass as they are",
    ];
    for (i, (name, cfg)) in configs().into_iter().enumerate() {
        for (j, tail) in tails.iter().enumerate() {
            let what = format!("{name}, tail {:?}", show(tail));
            // Typed input must be left alone: the program never reads it.
            let r = check(&what, &cfg, (i * 100 + j) as u64, tail, b"ignored\n");
            assert_eq!(r.exit, Exit::WarmBoot);
        }
    }
}

#[test]
fn replies_stop_at_maxlen() {
    for (name, cfg) in [
        ("tinychat", Config::tinychat()),
        (
            "maxlen 300",
            Config {
                maxlen: 300,
                ..Config::tinychat()
            },
        ),
        (
            "maxlen 1",
            Config {
                maxlen: 1,
                ..Config::tinychat()
            },
        ),
        (
            "maxlen 0",
            Config {
                maxlen: 0,
                ..Config::tinychat()
            },
        ),
    ] {
        let mut pick = Picker::new(99, 0);
        let input = session(&[b"tell me more".to_vec(), b"and more".to_vec()], true);
        let want = expect(&cfg, &mut pick, b"", &input);
        assert_eq!(want.answers.len(), 2);
        for a in &want.answers {
            assert_eq!(a.len(), cfg.maxlen, "{name}: the reference reply length");
        }
        let r = check_with(name, &cfg, &mut Picker::new(99, 0), b"", &input);
        assert_eq!(r.step_tstates.len(), 2 * cfg.maxlen, "{name}: steps");
    }
}

#[test]
fn the_loop_prompts_reads_and_quits_like_z80ai() {
    let cfg = Config::tinychat();
    // Classes: 'e' (1), 't' (2), EOS; then EOS at once; then 'a' (3), EOS.
    let script = [1, 2, 39, 39, 3, 39];
    let asm = build(&cfg, Stub::Quiet, &script);

    let r = run(&asm, b"", b"\nhi\n   \nyo\n!bye\nnever read\n", None);
    assert_output(
        "session",
        &r.output,
        b"\r\n> \r\r\n\r\n> hi\r\r\net\r\n>    \r\r\n\r\n> yo\r\r\na\r\n> !bye\r\r\n",
    );
    assert_eq!(r.exit, Exit::WarmBoot);

    // End of input while waiting for a line.
    let r = run(&asm, b"", b"hi\n", None);
    assert_output("end of input", &r.output, b"\r\n> hi\r\r\net\r\n> ");
    assert_eq!(r.exit, Exit::InputExhausted);

    // A command tail: the reply alone, then a warm boot.
    let r = run(&asm, b"hi", b"", None);
    assert_output("tail", &r.output, b"et");
    assert_eq!(r.exit, Exit::WarmBoot);
}

#[test]
fn the_stack_stays_within_the_documented_bytes() {
    for (name, cfg) in configs() {
        let mut pick = Picker::new(5, 30);
        let input = session(&random_lines(&mut Rng::new(77), 10), true);
        expect(&cfg, &mut pick, b"", &input);
        let asm = build(&cfg, Stub::Quiet, &pick.script);
        let r = run(&asm, b"", &input, None);
        check_bounds(name, &cfg, &asm, &r);
        let used = cfg.stack_top - r.lowest_sp;
        assert!(
            used <= zlmc_runtime_z80::STACK_BYTES,
            "{name}: the runtime used {used} bytes of stack"
        );
        if cfg.cbuckets > 0 && cfg.ctxlen > 0 {
            let deepest = cfg.stack_top - zlmc_runtime_z80::STACK_BYTES;
            assert_eq!(r.lowest_sp, deepest, "{name}: STACK_BYTES is not tight");
        }
    }
}
