//! Precise-output checks (Cranelift style): a test's output against the text it
//! expects, re-blessed on purpose with `ZLMC_BLESS=1`, a mismatch shown as a diff.

/// True when the expectations are to be rewritten (`ZLMC_BLESS` is set).
pub fn blessing() -> bool {
    std::env::var_os("ZLMC_BLESS").is_some()
}

/// A unified diff from `expected` to `got`, with three lines of context.
pub fn diff(what: &str, expected: &str, got: &str) -> String {
    similar::TextDiff::from_lines(expected, got)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{what} (expected)"), &format!("{what} (got)"))
        .to_string()
}

/// `Ok` when `got` is `expected`, else the diff (and how to re-bless).
pub fn check(what: &str, expected: &str, got: &str) -> Result<(), String> {
    if expected == got {
        return Ok(());
    }
    Err(format!(
        "{what} differs from its expectation (rewrite it on purpose with ZLMC_BLESS=1):\n{}",
        diff(what, expected, got)
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mismatch_shows_the_changed_lines() {
        assert!(super::check("x", "a\nb\n", "a\nb\n").is_ok());
        let e = super::check("x", "a\nb\nc\n", "a\nB\nc\n").unwrap_err();
        assert!(e.contains("-b\n+B\n"), "{e}");
        assert!(e.contains("ZLMC_BLESS=1"), "{e}");
    }
}
