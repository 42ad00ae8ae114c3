//! Simulators that run zlmc's generated programs the way their target machines
//! would, so `zlmc sim` and the tests can check output and count cycles.

pub mod avr;
pub mod summary;
pub mod z80;
pub mod zx48;

pub use z80::{run_cpm, run_profiled, CpmReport, CpmRun, Exit, SimError};
