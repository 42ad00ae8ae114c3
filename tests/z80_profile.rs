//! Where tinychat's CP/M program spends its time (run on purpose: `cargo test
//! --release --test z80_profile -- --ignored --nocapture`): the queries of
//! expected.tsv typed into one chat-mode run, T-states summed per label of
//! the `.asm` (each instruction counts towards the label above it).

use std::path::Path;

use std::ops::Range;

use zlmc_backends::sim::{run_profiled, CpmRun};
use zlmc_backends::z80::{assemble, parse, Assembled};
use zlmc_test_support::build::Z80Files;
use zlmc_test_support::{bench_stride, build, tinychat, Tinychat};

/// tinychat imported and built for CP/M, and its `.asm` assembled (for the labels).
fn built(test: &str) -> Option<(Tinychat, Z80Files, Assembled)> {
    let t = tinychat(test)?;
    let z = build::z80(&t.model, Path::new("tinychat")).expect("builds");
    let asm = assemble(&parse(&z.asm).expect("parses"), z.origin).expect("assembles");
    Some((t, z, asm))
}

/// The labels and `equ`s whose values lie in `within`, by address.
fn labels_by_address(asm: &Assembled, within: Range<i32>) -> Vec<(i32, &str)> {
    let mut labels: Vec<(i32, &str)> = asm
        .symbols
        .iter()
        .filter(|(_, a)| within.contains(a))
        .map(|(n, &a)| (a, n.as_str()))
        .collect();
    labels.sort();
    labels
}

#[test]
#[ignore = "benchmark: a minute of simulation"]
fn tinychat_chat_mode_profile_by_label() {
    let Some((t, z, asm)) = built("tinychat_chat_mode_profile_by_label") else {
        return;
    };
    assert_eq!(asm.bytes, z.com, "the .asm is the .COM");
    // PROFILE_TAIL=words: one command-tail run instead (start-up included).
    let tail = std::env::var("PROFILE_TAIL").unwrap_or_default();
    let mut input = Vec::new();
    if tail.is_empty() {
        for line in t.expected.lines().step_by(bench_stride()) {
            input.extend(line.split('\t').next().unwrap().as_bytes());
            input.push(b'\r');
        }
        input.extend(b"!\r");
    }
    let mut profile = vec![0u64; 0x10000];
    let r = run_profiled(
        &CpmRun {
            program: &z.com,
            command_tail: tail.as_bytes(),
            console_input: &input,
            step_entry: Some(z.step_entry),
            max_tstates: 1 << 50,
        },
        Some(&mut profile),
    )
    .expect("runs");
    let steps = r.step_tstates.len() as u64;
    let labels = labels_by_address(&asm, z.origin as i32..0x10000);
    let mut by_label: std::collections::BTreeMap<&str, u64> = Default::default();
    for (pc, &t) in profile.iter().enumerate() {
        if t == 0 {
            continue;
        }
        let i = labels.partition_point(|&(a, _)| a as usize <= pc);
        let name = if i == 0 { "?" } else { labels[i - 1].1 };
        *by_label.entry(name).or_default() += t;
    }
    let total: u64 = profile.iter().sum();
    let mut rows: Vec<_> = by_label.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    println!(
        "{steps} steps; {:.0} T-states per step in all; first step at {:?}",
        total as f64 / steps as f64,
        r.first_step_at
    );
    for (name, t) in rows.iter().take(60) {
        println!("{:>10.0}  {name}", *t as f64 / steps as f64);
    }
}

#[test]
#[ignore = "report: the sizes of tinychat's program parts"]
fn tinychat_program_sizes_by_label() {
    let Some((_, z, asm)) = built("tinychat_program_sizes_by_label") else {
        return;
    };
    let end = z.origin as i32 + z.com.len() as i32;
    let labels = labels_by_address(&asm, z.origin as i32..end);
    let mut rows: Vec<(i32, &str)> = labels
        .windows(2)
        .map(|w| (w[1].0 - w[0].0, w[0].1))
        .chain(labels.last().map(|&(a, n)| (end - a, n)))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    println!("{} bytes", z.com.len());
    for (size, name) in rows.iter().take(40) {
        println!("{size:>6}  {name}");
    }
}
