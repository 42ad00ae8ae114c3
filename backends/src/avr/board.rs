//! The Arduino boards the AVR backend targets, and what each one offers.

use std::fmt;

/// An Arduino board zlmc can build a sketch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Board {
    /// Arduino Uno: ATmega328P at 16 MHz.
    Uno,
    /// Arduino Nano: ATmega328P at 16 MHz.
    Nano,
    /// LilyPad Arduino: ATmega328P at 8 MHz.
    Lilypad,
    /// Arduino Mega 2560: ATmega2560 at 16 MHz.
    Mega2560,
}

impl Board {
    /// Every board, in the order the docs list them.
    pub const ALL: [Board; 4] = [Board::Uno, Board::Nano, Board::Lilypad, Board::Mega2560];

    /// The name `--board` takes.
    pub fn name(self) -> &'static str {
        match self {
            Board::Uno => "uno",
            Board::Nano => "nano",
            Board::Lilypad => "lilypad",
            Board::Mega2560 => "mega2560",
        }
    }

    /// The board named `s`, if zlmc knows it.
    pub fn from_name(s: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The board's name as Arduino writes it.
    pub fn title(self) -> &'static str {
        match self {
            Board::Uno => "Arduino Uno",
            Board::Nano => "Arduino Nano",
            Board::Lilypad => "LilyPad Arduino",
            Board::Mega2560 => "Arduino Mega 2560",
        }
    }

    /// The microcontroller, as avr-gcc's `-mmcu` and simavr name it.
    pub fn mcu(self) -> &'static str {
        match self {
            Board::Mega2560 => "atmega2560",
            _ => "atmega328p",
        }
    }

    /// Clock frequency in Hz.
    pub fn f_cpu(self) -> u32 {
        match self {
            Board::Lilypad => 8_000_000,
            _ => 16_000_000,
        }
    }

    /// Flash a sketch may use: the chip's flash minus the bootloader.
    pub fn flash(self) -> usize {
        match self {
            Board::Mega2560 => 253_952,
            _ => 32_256,
        }
    }

    /// SRAM bytes.
    pub fn sram(self) -> usize {
        match self {
            Board::Mega2560 => 8_192,
            _ => 2_048,
        }
    }

    /// Whether flash extends beyond 64 KB, so that tables are read with `elpm`
    /// and RAMPZ (and may lie anywhere in flash).
    pub fn far_flash(self) -> bool {
        self == Board::Mega2560
    }

    /// The board's name for arduino-mk's `BOARD_TAG` and the Arduino IDE's menu.
    pub fn arduino_tag(self) -> &'static str {
        match self {
            Board::Uno => "uno",
            Board::Nano => "nano",
            Board::Lilypad => "lilypad",
            Board::Mega2560 => "mega",
        }
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
