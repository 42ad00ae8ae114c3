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
    ATMEGA328P.board("uno", "Arduino Uno", 16_000_000, "uno", None),
    ATMEGA328P.board(
        "nano",
        "Arduino Nano",
        16_000_000,
        "nano",
        Some("atmega328"),
    ),
    ATMEGA328P.board(
        "lilypad",
        "LilyPad Arduino",
        8_000_000,
        "lilypad",
        Some("atmega328"),
    ),
    ATMEGA2560.board(
        "mega2560",
        "Arduino Mega 2560",
        16_000_000,
        "mega",
        Some("atmega2560"),
    ),
];

/// A microcontroller's facts, the same on every board that carries it.
struct Chip {
    /// The processor as its maker names it.
    cpu: &'static str,
    /// The name avr-gcc's `-mmcu` and simavr take.
    mcu: &'static str,
    /// Flash a sketch may use: the chip's flash minus the bootloader.
    program_bytes: usize,
    /// SRAM bytes.
    ram_bytes: usize,
}

/// The Uno's, the Nano's and the LilyPad's microcontroller.
const ATMEGA328P: Chip = Chip {
    cpu: "ATmega328P",
    mcu: "atmega328p",
    program_bytes: 32_256,
    ram_bytes: 2_048,
};

/// The Mega 2560's microcontroller.
const ATMEGA2560: Chip = Chip {
    cpu: "ATmega2560",
    mcu: "atmega2560",
    program_bytes: 253_952,
    ram_bytes: 8_192,
};

impl Chip {
    /// The table entry of a board with this chip, clocked at `clock_hz`, that
    /// arduino-mk calls `board_tag` (and `board_sub` in its CPU menu).
    const fn board(
        &self,
        name: &'static str,
        title: &'static str,
        clock_hz: u32,
        board_tag: &'static str,
        board_sub: Option<&'static str>,
    ) -> Machine {
        Machine {
            name,
            title,
            cpu: self.cpu,
            clock_hz,
            cycle_name: "cycles",
            program_bytes: self.program_bytes,
            ram_bytes: self.ram_bytes,
            arduino: Some(ArduinoNames {
                mcu: self.mcu,
                board_tag,
                board_sub,
            }),
        }
    }
}

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
