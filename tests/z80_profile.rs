//! Where tinychat's CP/M program spends its time (run on purpose: `cargo test
//! --release --test z80_profile -- --ignored --nocapture`): the queries of
//! expected.tsv typed into one chat-mode run, T-states summed per label of
//! the `.asm` (each instruction counts towards the label above it).

use std::path::Path;

use zlmc_backends::sim::{run_profiled, CpmRun};
use zlmc_backends::z80::{assemble, parse};
use zlmc_test_support::{bench_stride, build, tinychat};

#[test]
#[ignore = "benchmark: a minute of simulation"]
fn tinychat_chat_mode_profile_by_label() {
    let Some(t) = tinychat("tinychat_chat_mode_profile_by_label") else {
        return;
    };
    let z = build::z80(&t.model, Path::new("tinychat")).expect("builds");
    let asm = assemble(&parse(&z.asm).expect("parses"), z.origin).expect("assembles");
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
    // Labels by address; local ones (named like `x_s0`) fold into the last
    // label without an underscore-digit tail only if nothing better exists.
    let mut labels: Vec<(u16, &str)> = asm
        .symbols
        .iter()
        .filter(|(_, &a)| (z.origin as i32..0x10000).contains(&a))
        .map(|(n, &a)| (a as u16, n.as_str()))
        .collect();
    labels.sort();
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
    let Some(t) = tinychat("tinychat_program_sizes_by_label") else {
        return;
    };
    let z = build::z80(&t.model, Path::new("tinychat")).expect("builds");
    let asm = assemble(&parse(&z.asm).expect("parses"), z.origin).expect("assembles");
    let end = z.origin as i32 + z.com.len() as i32;
    let mut labels: Vec<(i32, &str)> = asm
        .symbols
        .iter()
        .filter(|(_, &a)| (z.origin as i32..end).contains(&a))
        .map(|(n, &a)| (a, n.as_str()))
        .collect();
    labels.sort();
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
