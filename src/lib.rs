//! The root package hosts zlmc's cross-crate test suite in `tests/`; what the
//! tests share lives in the `zlmc-test-support` crate (`test-support/`).
