//! Device-side AVR sources that zlmc embeds: the firmware `zlmc sim --target
//! avr` and the tests run a model in (the simavr harness is in `sim/`).

/// The simulator firmware's C source; see its opening comment for the
/// protocol and the `ZLMC_*` names a wrapper defines before including it.
pub const SIM_MAIN_C: &str = include_str!("sim_main.c");

/// Polled UART0 `put`/`get`, which the firmware includes as `zlmc_uart_poll.h`.
pub const UART_POLL_H: &str = include_str!("uart_poll.h");

/// The files the simulator firmware's wrapper needs beside it: (name, text).
pub const SIM_FILES: [(&str, &str); 2] = [
    ("zlmc_sim_main.c", SIM_MAIN_C),
    ("zlmc_uart_poll.h", UART_POLL_H),
];

/// The prompt byte the simulator firmware sends before reading each line.
pub const SIM_PROMPT: u8 = 0x05;

/// The exact float-feature quantizer of the sketches (`NAME_input.c`): the
/// model's `ZQ_*` constants go before it.
pub const QUANTIZE_C: &str = include_str!("quantize.c");
