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
    for f in ["commands.c", "commands.h"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
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
