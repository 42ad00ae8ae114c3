//! The real `zlmc` process: main() wires the streams and the exit code.

use std::process::Command;

const ZLMC: &str = env!("CARGO_BIN_EXE_zlmc");

fn example() -> String {
    format!(
        "{}/../examples/commands/model.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn prompt_reply_and_exit_code() {
    let out = Command::new(ZLMC)
        .args(["run", &example(), "--prompt", "fan on"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty());
}

#[test]
fn errors_go_to_stderr_with_exit_1() {
    let out = Command::new(ZLMC)
        .args(["run", "/nonexistent/model.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("/nonexistent/model.yaml: error: cannot read model spec"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(ZLMC).arg("bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
