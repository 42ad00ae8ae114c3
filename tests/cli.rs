//! The command line as users meet it: chat loop, prompt, batch, passes, IR printing.

use zlmc_test_support::{scratch, zlmc, zlmc_build};

fn example() -> String {
    zlmc_test_support::example("commands")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn prompt_prints_one_reply() {
    let r = zlmc(&["run", &example(), "--prompt", "turn the lights on"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let batch = zlmc(&["run", &example(), "--batch"], "turn the lights on\n");
    assert_eq!(format!("turn the lights on\t{}", r.stdout), batch.stdout);
}

#[test]
fn chat_loop_behaves_like_z80ai() {
    // Empty lines prompt again; a line starting with `!` quits before later lines.
    let r = zlmc(
        &["run", &example()],
        "\nturn the lights on\n\n!quit\nfan on\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reply = zlmc(&["run", &example(), "--prompt", "turn the lights on"], "").stdout;
    assert_eq!(r.stdout, format!("> > {reply}> > "));
    // End of input quits too.
    let r = zlmc(&["run", &example()], "fan on\n");
    assert!(
        r.stdout.starts_with("> ") && r.stdout.ends_with("> \n"),
        "{:?}",
        r.stdout
    );
}

#[test]
fn batch_keeps_queries_verbatim() {
    let q = "  Lights ON  \nlights on\n";
    let r = zlmc(&["run", &example(), "--batch"], q);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("  Lights ON  \t"), "{lines:?}");
    assert!(lines[1].starts_with("lights on\t"), "{lines:?}");
}

#[test]
fn a_batch_answers_every_line_it_can_and_reports_the_others() {
    let r = zlmc(
        &["run", &example(), "--batch"],
        "lights on\ntab\tinside\nfan on\n",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("lights on\t"), "{lines:?}");
    assert!(lines[1].starts_with("fan on\t"), "{lines:?}");
    assert!(
        r.stderr.contains("stdin line 2: the query contains a tab"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("1 of 3 stdin lines could not be answered"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_sim_batch_answers_every_line_it_can_and_reports_the_others() {
    // The Spectrum's front-end cannot be typed `!x` (it returns to BASIC) nor
    // an empty line; a tab is refused as for `run`; the rest is answered.
    let r = zlmc(
        &["sim", &example(), "--target", "zx48", "--batch"],
        "lights on\n!x\ntab\tinside\n\nfan on\n",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines, ["lights on\tlights_on", "fan on\tfan_on"]);
    for said in [
        "error: stdin line 2: --target zx48 cannot take this query: the Spectrum front-end reads lines of printable ASCII, and one starting with `!` returns to BASIC",
        "error: stdin line 3: the query contains a tab",
        "error: stdin line 4: --target zx48 cannot take this query: a query of 0 bytes",
        "zx48: 2 steps on the ZX Spectrum 48K",
        "3 of 5 stdin lines could not be answered",
    ] {
        assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("cannot build"), "{}", r.stderr);
    // One query alone: refused, naming the prompt.
    let r = zlmc(
        &["sim", &example(), "--target", "zx48", "--prompt", "!x"],
        "",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: --prompt: --target zx48 cannot take this query: "),
        "{}",
        r.stderr
    );
}

#[test]
fn a_query_too_long_for_the_cpm_command_tail_is_typed_into_the_chat_loop() {
    // `CHAT ` and 127 bytes overflow the tail's buffer at 0x0080; the chat
    // loop reads lines of 127, so the query is typed there and answered.
    let long = "turn the lights on ".repeat(7);
    for len in [126, 127] {
        let q = &long[..len];
        let sim = zlmc(&["sim", &example(), "--target", "z80", "--prompt", q], "");
        assert_eq!(sim.code, 0, "{len}: {}", sim.stderr);
        let run = zlmc(&["run", &example(), "--prompt", q], "");
        assert_eq!(sim.stdout, run.stdout, "{len}");
    }
    // Longer than any line it reads, or not typable: refused, not an internal error.
    for q in [&long[..128], &format!("!{}", &long[..126])] {
        let r = zlmc(&["sim", &example(), "--target", "z80", "--prompt", q], "");
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "error: --prompt: --target z80 cannot take this query: a query of {} bytes: a CP/M command tail holds 127 bytes",
                q.len()
            )),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_missing_board_shows_the_subcommands_usage_and_the_boards() {
    let out = scratch("no-board");
    let o = out.path().join("o");
    for cmd in ["build", "sim"] {
        let model = example();
        let mut args = vec![cmd, model.as_str(), "--target", "avr"];
        if cmd == "build" {
            args.extend(["-o", o.to_str().unwrap()]);
        } else {
            args.extend(["--prompt", "lights on"]);
        }
        let r = zlmc(&args, "");
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("Usage: zlmc {cmd} [OPTIONS] ")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("uno        Arduino Uno (ATmega328P, 16 MHz)"),
            "{}",
            r.stderr
        );
        assert!(!o.exists());
    }
}

#[test]
fn print_after_each_pass() {
    for pass in ["verify", "dead-neurons", "fuse-epilogue", "sparse-weights"] {
        let r = zlmc(
            &["build", &example(), "--emit", "zir", "--print-after", pass],
            "",
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains(&format!("(after {pass})")), "{pass}");
    }
    let r = zlmc(
        &[
            "build",
            &example(),
            "--emit",
            "zir",
            "--print-after",
            "nonsense",
        ],
        "",
    );
    assert_eq!(r.code, 2, "a usage error");
    assert!(r.stderr.contains("unknown pass `nonsense`"), "{}", r.stderr);
}

#[test]
fn disabled_passes_leave_their_form() {
    let r = zlmc(
        &[
            "build",
            &example(),
            "--emit",
            "zir",
            "--disable-pass",
            "sparse-weights",
            "--disable-pass",
            "fuse-epilogue",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("dense int2")
            && !r.stdout.contains("sparse")
            && !r.stdout.contains("epilogue")
    );
    let r = zlmc(&["build", &example(), "--emit", "zir"], "");
    assert!(
        !r.stdout.contains("dense int2")
            && r.stdout.contains("sparse")
            && r.stdout.contains("epilogue")
    );
}

#[test]
fn build_is_deterministic() {
    let (ta, tb) = (scratch("determinism-a"), scratch("determinism-b"));
    let (a, b) = (ta.path(), tb.path());
    for d in [a, b] {
        zlmc_build(std::path::Path::new(&example()), "c", &[], d);
    }
    zlmc_test_support::assert_same_files(a, b, &["commands.c", "commands.h"]);
}

#[test]
fn build_without_output_folder_is_an_error() {
    let r = zlmc(&["build", &example(), "--target", "c"], "");
    assert_eq!(r.code, 2, "a usage error");
    assert!(r.stderr.contains("no output folder"), "{}", r.stderr);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(zlmc(&["frobnicate"], "").code, 2);
    assert_eq!(zlmc(&["build"], "").code, 2);
    assert_eq!(zlmc(&["--version"], "").code, 0);
}

/// `average N` and `worst query "Q" at N per step` from a `zlmc sim` report.
fn sim_figures(stderr: &str) -> (u64, String, u64) {
    let after = |key: &str| {
        let at = stderr
            .find(key)
            .unwrap_or_else(|| panic!("no `{key}` in {stderr}"))
            + key.len();
        &stderr[at..]
    };
    let number = |s: &str| -> u64 {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no number in {s}"))
    };
    let worst = after("worst query \"");
    let (query, rest) = worst.split_once("\" at ").expect("worst query figure");
    (number(after("average ")), query.to_string(), number(rest))
}

#[test]
fn sim_names_the_worst_query_with_its_own_figure() {
    let queries = [
        "fan on",
        "please turn all of the lights in the kitchen off now",
    ];
    let alone: Vec<u64> = queries
        .iter()
        .map(|q| {
            let r = zlmc(&["sim", &example(), "--target", "z80", "--prompt", q], "");
            assert_eq!(r.code, 0, "{}", r.stderr);
            let (average, worst, figure) = sim_figures(&r.stderr);
            assert_eq!((worst.as_str(), figure), (*q, average));
            average
        })
        .collect();
    assert_ne!(
        alone[0], alone[1],
        "the test needs queries of different cost"
    );
    let r = zlmc(
        &["sim", &example(), "--target", "z80", "--batch"],
        &format!("{}\n{}\n", queries[0], queries[1]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, worst, figure) = sim_figures(&r.stderr);
    let k = if alone[0] > alone[1] { 0 } else { 1 };
    assert_eq!((worst.as_str(), figure), (queries[k], alone[k]));
}

#[test]
fn sim_and_run_print_raw_model_answers_alike() {
    // A model quantized from a float one: both read the float features.
    let scratch_dir = scratch("cli-raw-sim");
    let dir = scratch_dir.path().join("digits");
    let ex = zlmc_test_support::repo().join("examples/digits");
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let r = zlmc(
        &[
            "import",
            "onnx",
            &s(&ex.join("digits.onnx")),
            "--calibrate",
            &s(&ex.join("data.npz")),
            "--weights",
            "int8",
            "-o",
            &s(&dir),
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let spec = s(&dir.join("model.yaml"));
    let zero = vec!["0"; 64].join(" ");
    let mut queries = vec![zero.clone(), vec!["16"; 64].join(" ")];
    // A "0" and a "1" as an 8 x 8 image of 0–16 values.
    let picture = |rows: [&str; 8]| -> String {
        let v: Vec<&str> = rows
            .iter()
            .flat_map(|r| r.chars().map(|c| if c == '#' { "15" } else { "0" }))
            .collect();
        v.join(" ")
    };
    queries.push(picture([
        "..####..", ".##..##.", ".#....#.", ".#....#.", ".#....#.", ".#....#.", ".##..##.",
        "..####..",
    ]));
    queries.push(picture([
        "...##...", "..###...", "...##...", "...##...", "...##...", "...##...", "...##...",
        "..####..",
    ]));
    let stdin = queries.join("\n") + "\n";
    let run = zlmc(&["run", &spec, "--batch"], &stdin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sim = zlmc(
        &["sim", &spec, "--target", "avr", "--board", "uno", "--batch"],
        &stdin,
    );
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    assert_eq!(sim.stdout, run.stdout);
    let labels: std::collections::BTreeSet<&str> = run
        .stdout
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap())
        .collect();
    assert!(
        labels.len() > 1,
        "the queries should not all get one label: {labels:?}"
    );
}

#[test]
fn eval_reports_milliseconds_on_every_simulated_target() {
    // The clock comes from each target's machine table, whatever the target.
    let scratch_dir = scratch("cli-eval-ms");
    let dir = scratch_dir.path();
    let mut rng = zlmc_test_support::Rng::new(22);
    let model = zlmc_test_support::models::random_text_model(&mut rng, "chat", true, 12);
    let zir = dir.join("chat.zir");
    let prov = zlmc::driver::provenance(&zir);
    std::fs::write(&zir, zlmc::driver::zir_text(&model, &prov, "test")).unwrap();
    let data = dir.join("data.txt");
    std::fs::write(&data, "lights on|ab\nfan off|c\n").unwrap();
    let (zir, data) = (zir.to_str().unwrap(), data.to_str().unwrap());
    for t in zlmc_backends::target::TARGETS {
        if t.simulator().is_none() {
            continue;
        }
        let mut args = vec!["eval", zir, "--data", data, "--target", t.name()];
        if let Some(b) = t.boards().first() {
            args.extend(["--board", b.name]);
        }
        let r = zlmc(&args, "");
        assert_eq!(r.code, 0, "{}: {}", t.name(), r.stderr);
        if r.stdout.contains("is not installed") {
            zlmc_test_support::skip(&zlmc_test_support::this_test(), &r.stdout);
            continue;
        }
        let target_line = r.stdout.lines().find(|l| l.starts_with("target "));
        assert!(
            target_line
                .is_some_and(|l| l.contains(" cycles per inference (") && l.contains(" ms)")),
            "{}: {}",
            t.name(),
            r.stdout
        );
    }
}
