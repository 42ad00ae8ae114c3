//! The machines zlmc's programs run on, one table entry each: the clock, the
//! memory and what the toolchains call the machine. Every such fact in the
//! code comes from here; each target lists its machines through
//! [`Target::machines`](crate::target::Target::machines).

/// A machine a target's programs run on: an Arduino board, the CP/M
/// machine, the ZX Spectrum 48K.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// The name `--board` takes (for a target with several machines), else
    /// the machine's short name.
    pub name: &'static str,
    /// The machine as its makers name it ("Arduino Uno").
    pub title: &'static str,
    /// The processor as its maker names it ("ATmega328P").
    pub cpu: &'static str,
    /// The clock in Hz.
    pub clock_hz: u32,
    /// What reports call the processor's clock cycles ("cycles", "T-states").
    pub cycle_name: &'static str,
    /// Bytes of program memory a program may take (an Arduino's flash less
    /// the bootloader, CP/M's TPA up to the stack).
    pub program_bytes: usize,
    /// Bytes of RAM.
    pub ram_bytes: usize,
    /// What avr-gcc, simavr and arduino-mk call it, for an Arduino board.
    pub arduino: Option<ArduinoNames>,
}

/// What the AVR toolchains call an Arduino board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArduinoNames {
    /// The microcontroller, as avr-gcc's `-mmcu` and simavr name it.
    pub mcu: &'static str,
    /// arduino-mk's `BOARD_TAG`: the board's key in `boards.txt` (and the
    /// Arduino IDE's menu).
    pub board_tag: &'static str,
    /// arduino-mk's `BOARD_SUB`: the board's `menu.cpu` entry, if it has a menu.
    pub board_sub: Option<&'static str>,
}

impl Machine {
    /// The clock in MHz.
    pub fn mhz(&self) -> f64 {
        f64::from(self.clock_hz) / 1e6
    }

    /// Milliseconds that `cycles` take at the machine's clock.
    pub fn ms(&self, cycles: f64) -> f64 {
        cycles * 1000.0 / f64::from(self.clock_hz)
    }

    /// A line for `--help` and reports: the title, the processor and the clock in MHz.
    pub fn about(&self) -> String {
        format!("{} ({}, {} MHz)", self.title, self.cpu, self.mhz())
    }
}

#[cfg(test)]
mod tests {
    use crate::target::TARGETS;

    #[test]
    fn every_machine_has_a_clock_and_writes_it_in_whole_or_fractional_megahertz() {
        for m in TARGETS.iter().flat_map(|t| t.machines()) {
            assert_eq!(m.ms(f64::from(m.clock_hz)), 1000.0, "{}", m.name);
            let about = m.about();
            assert!(about.ends_with(&format!(", {} MHz)", m.mhz())), "{about}");
            assert!(!about.contains(".0 MHz"), "{about}");
        }
    }
}
