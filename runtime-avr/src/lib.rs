//! Device-side AVR sources that zlmc embeds: the firmware `zlmc sim --target
//! avr` and the tests run a model in (the simavr harness is in `sim/`).

/// The simulator firmware's C source; see its opening comment for the
/// protocol and the `ZLMC_*` names a wrapper defines before including it.
pub const SIM_MAIN_C: &str = include_str!("sim_main.c");

/// The prompt byte the simulator firmware sends before reading each line.
pub const SIM_PROMPT: u8 = 0x05;
