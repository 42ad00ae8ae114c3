//! classify.asm on the CP/M emulator with a stub model that dumps `zin`: one
//! step per line, the label printed with BDOS 9, output equal to the
//! reference byte for byte.

mod common;

use common::*;
use zlmc_backends::sim::z80::Exit;

fn lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = vec![
        b"lights on".to_vec(),
        b"".to_vec(),
        b"   ".to_vec(),
        b"  Turn OFF the lights  ".to_vec(),
        b"what's the weather?".to_vec(),
        b"\tplay\tsome music".to_vec(),
        vec![0xC8, 0xC5, 0xCC, 0xD0, 0x07],
        vec![b'Q'; 127],
    ];
    for _ in 0..40 {
        let len = rng.index(128);
        let mut l: Vec<u8> = (0..len)
            .map(|_| match rng.index(4) {
                0 => b' ',
                1 => b'A' + rng.index(26) as u8,
                _ => 0x20 + rng.index(95) as u8,
            })
            .collect();
        if l.first() == Some(&b'!') {
            l[0] = b'?';
        }
        lines.push(l);
    }
    lines
}

fn input(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    input
}

fn configs() -> Vec<(&'static str, Config)> {
    let small = Config::classifier();
    let wide = Config {
        qbuckets: 256,
        qoffset: 5,
        qvalue: -17,
        zin_len: 270,
        ..small.clone()
    };
    let tiny = Config {
        qbuckets: 1,
        qoffset: 1,
        qvalue: 300,
        zin_len: 2,
        ..small.clone()
    };
    let chat_shaped = Config {
        // A classifier generated with chat's constants too: classify.asm ignores them.
        cbuckets: 128,
        coffset: 128,
        cvalue: 32,
        ctxlen: 8,
        qbuckets: 128,
        zin_len: 256,
        maxlen: 50,
        ..small.clone()
    };
    vec![
        ("64 buckets", small),
        ("256 buckets", wide),
        ("one bucket", tiny),
        ("with context constants", chat_shaped),
    ]
}

#[test]
fn classifies_each_line_with_one_step() {
    for (i, (name, cfg)) in configs().into_iter().enumerate() {
        let mut rng = Rng::new(1234 + i as u64);
        let lines = lines(&mut rng);
        let r = check(name, &cfg, 3 + i as u64, b"", &input(&lines));
        assert_eq!(r.exit, Exit::InputExhausted);
        let mut quit = input(&lines[..5]);
        quit.extend_from_slice(b"!\nnever read\n");
        let r = check(name, &cfg, 3 + i as u64, b"", &quit);
        assert_eq!(r.exit, Exit::WarmBoot);
    }
}

#[test]
fn the_command_tail_is_classified_once() {
    for (name, cfg) in configs() {
        for (j, tail) in [&b"lights on"[..], b"   ", b"what's THE weather", b"!x"]
            .into_iter()
            .enumerate()
        {
            let what = format!("{name}, tail {:?}", show(tail));
            let r = check(&what, &cfg, j as u64, tail, b"");
            assert_eq!(r.exit, Exit::WarmBoot);
            assert_eq!(r.step_tstates.len(), 1);
        }
    }
}

#[test]
fn the_loop_prints_bare_labels() {
    let cfg = Config::classifier();
    let asm = build(&cfg, Stub::Quiet, &[1, 2, 0]);
    let r = run(&asm, b"", b"\nturn it off\nplay\n!\n", None);
    assert_output(
        "session",
        &r.output,
        b"\r\n> \r\r\n\r\n> turn it off\r\r\nlights off\r\n> play\r\r\nplay    music\r\n> !\r\r\n",
    );
    assert_eq!(r.exit, Exit::WarmBoot);
    let r = run(&asm, b"lights", b"", None);
    assert_output("tail", &r.output, b"lights off");
    let used = cfg.stack_top - r.lowest_sp;
    assert!(used <= zlmc_runtime_z80::STACK_BYTES);
    check_bounds("tail", &cfg, &asm, &r);
}
