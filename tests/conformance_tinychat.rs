//! Conformance: z80ai's tinychat, imported and run by zlmc, gives exactly the
//! replies z80ai's own CP/M program gave (`expected.tsv`, 2,290 queries) —
//! in the interpreter and in the generated C.

use zlmc_tests::{compile_c, run_exe, scratch, skip, tinychat_dir, zlmc};

/// The expected lines and the queries alone (one per line), from expected.tsv.
fn expected() -> Option<(String, String)> {
    let dir = tinychat_dir()?;
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("read expected.tsv");
    let queries: String = tsv
        .lines()
        .map(|l| format!("{}\n", l.split('\t').next().expect("query column")))
        .collect();
    Some((tsv, queries))
}

fn import(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let npz = tinychat_dir().expect("checked").join("model.npz");
    let out = zlmc(
        &[
            "import",
            "z80ai",
            npz.to_str().unwrap(),
            "-o",
            dir.join("tinychat").to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 0, "import failed: {}", out.stderr);
    dir.join("tinychat/model.yaml")
}

fn assert_same(got: &str, want: &str, what: &str) {
    let mut differ = 0;
    for (g, w) in got.lines().zip(want.lines()) {
        if g != w {
            if differ < 5 {
                eprintln!("{what}: got {g:?}, want {w:?}");
            }
            differ += 1;
        }
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "{what}: line count"
    );
    assert_eq!(
        differ,
        0,
        "{what}: {differ} of {} replies differ",
        want.lines().count()
    );
    assert_eq!(got, want, "{what}: byte-identical output");
}

#[test]
fn interpreter_reproduces_expected_tsv() {
    let Some((tsv, queries)) = expected() else {
        return skip(
            "interpreter_reproduces_expected_tsv",
            "../shared/z80ai/tinychat is not beside the repository",
        );
    };
    let spec = import("conf-interp");
    let out = zlmc(&["run", spec.to_str().unwrap(), "--batch"], &queries);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same(&out.stdout, &tsv, "zlmc run --batch");
    eprintln!(
        "interpreter: {} of {} lines reproduced",
        tsv.lines().count(),
        tsv.lines().count()
    );
}

#[test]
fn generated_c_reproduces_expected_tsv() {
    let Some((tsv, queries)) = expected() else {
        return skip(
            "generated_c_reproduces_expected_tsv",
            "../shared/z80ai/tinychat is not beside the repository",
        );
    };
    let spec = import("conf-c");
    let dir = spec.parent().unwrap().join("c");
    let out = zlmc(
        &[
            "build",
            spec.to_str().unwrap(),
            "--target",
            "c",
            "-o",
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let driver = dir.join("driver.c");
    std::fs::write(
        &driver,
        r#"#include <stdio.h>
#include <string.h>
#include "tinychat.h"
int main(void) {
    char line[512], reply[128];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        tinychat_reply(line, reply, sizeof reply);
        printf("%s\t%s\n", line, reply);
    }
    return 0;
}
"#,
    )
    .unwrap();
    let exe = compile_c(&dir, &[dir.join("tinychat.c"), driver], "tinychat");
    let got = run_exe(&exe, queries.as_bytes());
    assert_same(&got, &tsv, "tinychat.c");
    eprintln!(
        "C backend: {} of {} lines reproduced",
        tsv.lines().count(),
        tsv.lines().count()
    );
}
