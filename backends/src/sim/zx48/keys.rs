//! The 48K keyboard as a ROM reads it (port 0xFE, eight half-rows of five
//! keys), and a typist who presses one key at a time for the ROM's own
//! interrupt handler to find.
//!
//! The typist holds a key down for exactly one interrupt, and only once the
//! program has polled the K channel since the last key: a key pressed while
//! the program is busy with interrupts off would be lost on a real machine,
//! and one pressed before the program has set its keyboard mode up (at
//! start) could be read as a keyword. Between keys it leaves the ROM's two
//! key-state sets time to free themselves (each is held for five interrupts
//! after its key is last seen; a key pressed while neither is free, or while
//! its own set still holds it, is not a new key): three interrupts after a
//! different key, five after the same one.

/// A shift key held with the main key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shift {
    Caps,
    Symbol,
}

/// A key as the matrix sees it: its half-row (0 for port 0xFEFE … 7 for
/// 0x7FFE), its bit, and the shift held with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    row: u8,
    bit: u8,
    shift: Option<Shift>,
}

/// The half-rows, from port 0xFEFE (row 0) to 0x7FFE (row 7), bit 0 first;
/// `^` is CAPS SHIFT, `$` SYMBOL SHIFT, `\r` ENTER.
const ROWS: [&[u8; 5]; 8] = [
    b"^ZXCV", b"ASDFG", b"QWERT", b"12345", b"09876", b"POIUY", b"\rLKJH", b" $MNB",
];

/// SYMBOL SHIFT with a key: the characters both ROMs (Sinclair's and
/// OpenSE's) give for it the same way, in L mode. The others (`[`, `]`,
/// `{`, `}`, `\`, `|`, `~`, `©`) need E mode on Sinclair's ROM and not on
/// OpenSE's, so a typist cannot type them without knowing the ROM.
const SYMBOLS: &[(u8, u8)] = &[
    (b'!', b'1'),
    (b'@', b'2'),
    (b'#', b'3'),
    (b'$', b'4'),
    (b'%', b'5'),
    (b'&', b'6'),
    (b'\'', b'7'),
    (b'(', b'8'),
    (b')', b'9'),
    (b'_', b'0'),
    (b'^', b'H'),
    (b'-', b'J'),
    (b'+', b'K'),
    (b'=', b'L'),
    (b':', b'Z'),
    (b'`', b'X'),
    (b'?', b'C'),
    (b'/', b'V'),
    (b'*', b'B'),
    (b',', b'N'),
    (b'.', b'M'),
    (b'<', b'R'),
    (b'>', b'T'),
    (b';', b'O'),
    (b'"', b'P'),
];

fn plain(legend: u8) -> Key {
    let (row, bit) = ROWS
        .iter()
        .enumerate()
        .find_map(|(r, keys)| keys.iter().position(|&k| k == legend).map(|b| (r, b)))
        .expect("a key's legend");
    Key {
        row: row as u8,
        bit: bit as u8,
        shift: None,
    }
}

/// The keys that type `byte` in L mode: LF is ENTER, 12 DELETE (CAPS SHIFT
/// and 0); `None` for a byte the typist cannot type on both ROMs alike.
pub fn key_for(byte: u8) -> Option<Key> {
    let with = |legend, shift| Key {
        shift: Some(shift),
        ..plain(legend)
    };
    Some(match byte {
        b'\n' => plain(b'\r'),
        12 => with(b'0', Shift::Caps),
        b' ' => plain(b' '),
        b'a'..=b'z' => plain(byte.to_ascii_uppercase()),
        b'A'..=b'Z' => with(byte, Shift::Caps),
        b'0'..=b'9' => plain(byte),
        _ => with(SYMBOLS.iter().find(|s| s.0 == byte)?.1, Shift::Symbol),
    })
}

/// The keys for `text`, CR dropped; the first byte that cannot be typed as `Err`.
pub fn keys_for(text: &[u8]) -> Result<Vec<Key>, u8> {
    text.iter()
        .filter(|&&b| b != b'\r')
        .map(|&b| key_for(b).ok_or(b))
        .collect()
}

/// Interrupts to wait after pressing `last` before pressing `next`.
fn gap(last: Key, next: Key) -> u64 {
    if (last.row, last.bit) == (next.row, next.bit) {
        5
    } else {
        3
    }
}

/// Presses keys in turn, one interrupt each (see the module docs).
#[derive(Debug, Clone)]
pub struct Typist {
    keys: Vec<Key>,
    next: usize,
    /// The interrupt from which the next key may be pressed.
    ready_at: u64,
    /// Whether the program has polled the K channel since the last press.
    polled: bool,
    down: Option<Key>,
}

impl Typist {
    /// A typist with `keys` to press.
    pub fn new(keys: Vec<Key>) -> Typist {
        Typist {
            keys,
            next: 0,
            ready_at: 0,
            polled: false,
            down: None,
        }
    }

    /// The program polled the K channel.
    pub fn polled(&mut self) {
        self.polled = true;
    }

    /// Whether every key has been pressed and let go.
    pub fn done(&self) -> bool {
        self.next == self.keys.len() && self.down.is_none()
    }

    /// Interrupt number `count` is being taken: press the next key for it,
    /// if its time has come, and let go of the last one.
    pub fn interrupt(&mut self, count: u64) {
        self.down = None;
        if self.polled && count >= self.ready_at {
            if let Some(&key) = self.keys.get(self.next) {
                self.next += 1;
                self.down = Some(key);
                self.polled = false;
                self.ready_at = count + self.keys.get(self.next).map_or(0, |&n| gap(key, n));
            }
        }
    }

    /// What `in` from port `address` reads: bits 0–4 low for the keys held
    /// in the half-rows whose address line is low; the other bits high.
    pub fn port(&self, address: u16) -> u8 {
        if address & 1 != 0 {
            return 0xFF;
        }
        let Some(key) = self.down else {
            return 0xFF;
        };
        let selected = |row: u8| address & (0x100 << row) == 0;
        let mut bits = 0u8;
        if selected(key.row) {
            bits |= 1 << key.bit;
        }
        match key.shift {
            Some(Shift::Caps) if selected(0) => bits |= 1,
            Some(Shift::Symbol) if selected(7) => bits |= 2,
            _ => {}
        }
        !bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_low_in_their_half_row_only() {
        let mut t = Typist::new(keys_for(b"?A").unwrap());
        t.polled();
        t.interrupt(1);
        // '?' is SYMBOL SHIFT (row 7, bit 1) and C (row 0, bit 3).
        assert_eq!(t.port(0xFEFE), !0b1000);
        assert_eq!(t.port(0x7FFE), !0b10);
        assert_eq!(t.port(0x00FE), !0b1010);
        assert_eq!(t.port(0xFDFE), 0xFF);
        assert_eq!(t.port(0x00FF), 0xFF);
        // Let go at the next interrupt; the next key waits for a poll and the gap.
        t.interrupt(2);
        assert_eq!(t.port(0x00FE), 0xFF);
        t.polled();
        t.interrupt(3);
        assert_eq!(t.port(0x00FE), 0xFF, "too soon after '?'");
        t.interrupt(4);
        // 'A' is CAPS SHIFT (row 0, bit 0) and A (row 1, bit 0).
        assert_eq!(t.port(0xFEFE), !1);
        assert_eq!(t.port(0xFDFE), !1);
        assert!(!t.done());
        t.interrupt(5);
        assert!(t.done());
    }

    #[test]
    fn only_what_both_roms_type_alike_is_typed() {
        assert!(keys_for(b"hello, World! 42?\n\x0c").is_ok());
        assert_eq!(keys_for(b"a[b"), Err(b'['));
        assert_eq!(keys_for(b"~"), Err(b'~'));
        assert_eq!(keys_for(b"\t"), Err(b'\t'));
    }
}
