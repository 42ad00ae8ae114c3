//! Conformance: z80ai's tinychat, imported and run by zlmc, gives exactly the
//! replies z80ai's own CP/M program gave (`expected.tsv`, 2,290 queries) —
//! in the interpreter and in the generated C.

use zlmc_test_support::tools::{gcc, run_exe};
use zlmc_test_support::{tinychat, zlmc_build, zlmc_ok};

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
    let Some(t) = tinychat("interpreter_reproduces_expected_tsv") else {
        return;
    };
    let tsv = &t.expected;
    let out = zlmc_ok(&["run", t.spec.to_str().unwrap(), "--batch"], &t.queries());
    assert_same(&out.stdout, tsv, "zlmc run --batch");
    eprintln!(
        "interpreter: {} of {} lines reproduced",
        tsv.lines().count(),
        tsv.lines().count()
    );
}

#[test]
fn generated_c_reproduces_expected_tsv() {
    let Some(t) = tinychat("generated_c_reproduces_expected_tsv") else {
        return;
    };
    let tsv = &t.expected;
    let dir = t.dir.path().join("c");
    zlmc_build(&t.spec, "c", &[], &dir);
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
    let exe = gcc(
        &dir,
        "tinychat",
        &[dir.join("tinychat.c"), driver],
        &["-O1"],
    );
    let got = run_exe(&exe, t.queries().as_bytes());
    assert_same(&got, tsv, "tinychat.c");
    eprintln!(
        "C backend: {} of {} lines reproduced",
        tsv.lines().count(),
        tsv.lines().count()
    );
}
