//! Shared helpers for zlmc's cross-crate test suite in `tests/`.
