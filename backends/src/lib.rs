//! zlmc's code generators, one folder per target.
