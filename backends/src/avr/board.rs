//! The Arduino boards the AVR backend targets: their table entries, and
//! [`Board`], the typed handle the backend passes around.

use std::fmt;

use crate::machine::{ArduinoNames, Machine};

/// The boards, in [`Board`]'s order and the order `--board` lists them.
/// Debian's `boards.txt` (Arduino 1.8.19) gives the Nano and the LilyPad a
/// CPU menu whose `atmega328` entry is the ATmega328P, and the Mega 2560 the
/// `mega` key with an `atmega2560` entry (`megaADK` has the same MCU, but
/// another board define). A sketch may use the flash the bootloader leaves.
pub static BOARDS: [Machine; 4] = [
    Machine {
        name: "uno",
        title: "Arduino Uno",
        cpu: "ATmega328P",
        clock_hz: 16_000_000,
        cycle_name: "cycles",
        program_bytes: 32_256,
        ram_bytes: 2_048,
        arduino: Some(ArduinoNames {
            mcu: "atmega328p",
            board_tag: "uno",
            board_sub: None,
        }),
    },
    Machine {
        name: "nano",
        title: "Arduino Nano",
        cpu: "ATmega328P",
        clock_hz: 16_000_000,
        cycle_name: "cycles",
        program_bytes: 32_256,
        ram_bytes: 2_048,
        arduino: Some(ArduinoNames {
            mcu: "atmega328p",
            board_tag: "nano",
            board_sub: Some("atmega328"),
        }),
    },
    Machine {
        name: "lilypad",
        title: "LilyPad Arduino",
        cpu: "ATmega328P",
        clock_hz: 8_000_000,
        cycle_name: "cycles",
        program_bytes: 32_256,
        ram_bytes: 2_048,
        arduino: Some(ArduinoNames {
            mcu: "atmega328p",
            board_tag: "lilypad",
            board_sub: Some("atmega328"),
        }),
    },
    Machine {
        name: "mega2560",
        title: "Arduino Mega 2560",
        cpu: "ATmega2560",
        clock_hz: 16_000_000,
        cycle_name: "cycles",
        program_bytes: 253_952,
        ram_bytes: 8_192,
        arduino: Some(ArduinoNames {
            mcu: "atmega2560",
            board_tag: "mega",
            board_sub: Some("atmega2560"),
        }),
    },
];

/// An Arduino board zlmc can build a sketch for: an entry of [`BOARDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Board {
    /// Arduino Uno.
    Uno,
    /// Arduino Nano.
    Nano,
    /// LilyPad Arduino.
    Lilypad,
    /// Arduino Mega 2560.
    Mega2560,
}

impl Board {
    /// Every board, in the order of [`BOARDS`].
    pub const ALL: [Board; 4] = [Board::Uno, Board::Nano, Board::Lilypad, Board::Mega2560];

    /// The board's entry in the machine table.
    pub fn machine(self) -> &'static Machine {
        &BOARDS[self as usize]
    }

    /// What the AVR toolchains call the board.
    fn arduino(self) -> &'static ArduinoNames {
        self.machine()
            .arduino
            .as_ref()
            .expect("every board in BOARDS has its Arduino names")
    }

    /// The name `--board` takes.
    pub fn name(self) -> &'static str {
        self.machine().name
    }

    /// The board named `s`, if zlmc knows it.
    pub fn from_name(s: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The board's name as Arduino writes it.
    pub fn title(self) -> &'static str {
        self.machine().title
    }

    /// The microcontroller, as avr-gcc's `-mmcu` and simavr name it.
    pub fn mcu(self) -> &'static str {
        self.arduino().mcu
    }

    /// Clock frequency in Hz.
    pub fn f_cpu(self) -> u32 {
        self.machine().clock_hz
    }

    /// Flash a sketch may use: the chip's flash minus the bootloader.
    pub fn flash(self) -> usize {
        self.machine().program_bytes
    }

    /// SRAM bytes.
    pub fn sram(self) -> usize {
        self.machine().ram_bytes
    }

    /// Whether flash extends beyond 64 KB, so that tables are read with `elpm`
    /// and RAMPZ (and may lie anywhere in flash).
    pub fn far_flash(self) -> bool {
        self.flash() > 1 << 16
    }

    /// The board's name for arduino-mk's `BOARD_TAG` and the Arduino IDE's menu.
    pub fn arduino_tag(self) -> &'static str {
        self.arduino().board_tag
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_board_is_its_own_table_entry() {
        for m in &BOARDS {
            let b = Board::from_name(m.name).expect("a Board for every entry");
            assert!(std::ptr::eq(b.machine(), m), "{}", m.name);
            assert!(m.arduino.is_some(), "{}", m.name);
        }
        assert_eq!(Board::ALL.len(), BOARDS.len());
    }

    #[test]
    fn only_the_mega_reads_far_flash() {
        let far: Vec<Board> = Board::ALL.into_iter().filter(|b| b.far_flash()).collect();
        assert_eq!(far, [Board::Mega2560]);
    }
}
