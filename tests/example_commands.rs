//! The project's own example: zlmc reproduces the predictions that the
//! example's training script computed with its own integer arithmetic
//! (`examples/commands/data/expected.tsv`), in the interpreter and in C.

use zlmc_test_support::tools::{gcc, run_exe};
use zlmc_test_support::{example, repo, scratch, zlmc_build, zlmc_ok};

fn expected() -> (String, String) {
    let tsv = std::fs::read_to_string(repo().join("examples/commands/data/expected.tsv")).unwrap();
    let queries = tsv
        .lines()
        .map(|l| format!("{}\n", l.split('\t').next().unwrap()))
        .collect();
    (tsv, queries)
}

#[test]
fn interpreter_matches_the_training_script() {
    let (tsv, queries) = expected();
    assert!(
        tsv.lines().count() >= 100,
        "the example ships its test split"
    );
    let spec = example("commands");
    let out = zlmc_ok(&["run", spec.to_str().unwrap(), "--batch"], &queries);
    assert_eq!(out.stdout, tsv);
}

#[test]
fn c_matches_the_training_script() {
    let (tsv, queries) = expected();
    let tmp = scratch("example-commands-c");
    let dir = tmp.path();
    zlmc_build(&example("commands"), "c", &[], dir);
    std::fs::write(
        dir.join("driver.c"),
        r#"#include <stdio.h>
#include <string.h>
#include "commands.h"
int main(void) {
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        printf("%s\t%s\n", line, commands_label(commands_classify(line)));
    }
    return 0;
}
"#,
    )
    .unwrap();
    let exe = gcc(
        dir,
        "commands",
        &[dir.join("commands.c"), dir.join("driver.c")],
        &["-O1"],
    );
    assert_eq!(run_exe(&exe, queries.as_bytes()), tsv);
}
