//! The `.tap` tape image: a BASIC loader that runs by itself, then the code.
//!
//! A TAP file is a sequence of blocks, each a 2-byte little-endian length, a
//! flag byte (0x00 header, 0xFF data), the payload and the XOR of flag and
//! payload. A header's payload is 17 bytes: type (0 program, 3 code), a
//! 10-character name, the data length, parameter 1 (a program's autostart
//! line, a code block's start address) and parameter 2 (a program's length
//! without variables; 32768 for code).

/// The BASIC loader's line number, where it autostarts.
pub const LOADER_LINE: u16 = 10;

/// BASIC tokens the loader uses.
pub mod token {
    /// `CLEAR`
    pub const CLEAR: u8 = 0xFD;
    /// `LOAD`
    pub const LOAD: u8 = 0xEF;
    /// `CODE`
    pub const CODE: u8 = 0xAF;
    /// `RANDOMIZE`
    pub const RANDOMIZE: u8 = 0xF9;
    /// `USR`
    pub const USR: u8 = 0xC0;
    /// The marker before a numeric literal's hidden 5-byte form.
    pub const NUMBER: u8 = 0x0E;
    /// The end of a line (ENTER).
    pub const ENTER: u8 = 0x0D;
}

/// A numeric literal as BASIC stores it: its digits, then the hidden number
/// (0x0E and the 5-byte small-integer form 0, 0, low, high, 0).
fn number(out: &mut Vec<u8>, n: u16) {
    out.extend(n.to_string().bytes());
    let [lo, hi] = n.to_le_bytes();
    out.extend([token::NUMBER, 0, 0, lo, hi, 0]);
}

/// The loader program: `10 CLEAR origin-1: LOAD "" CODE: RANDOMIZE USR origin`.
pub fn loader(origin: u16) -> Vec<u8> {
    let mut text = vec![token::CLEAR];
    number(&mut text, origin - 1);
    text.extend([b':', token::LOAD, b'"', b'"', token::CODE, b':']);
    text.extend([token::RANDOMIZE, token::USR]);
    number(&mut text, origin);
    text.push(token::ENTER);
    // A line: its number big-endian, its text's length little-endian, the text.
    let mut line = LOADER_LINE.to_be_bytes().to_vec();
    line.extend((text.len() as u16).to_le_bytes());
    line.extend(text);
    line
}

/// One block: length, flag, payload, checksum.
fn block(out: &mut Vec<u8>, flag: u8, payload: &[u8]) {
    out.extend(((payload.len() + 2) as u16).to_le_bytes());
    out.push(flag);
    out.extend(payload);
    out.push(payload.iter().fold(flag, |x, b| x ^ b));
}

/// A header block's payload.
fn header(kind: u8, name: &str, len: usize, param1: u16, param2: u16) -> Vec<u8> {
    let mut h = vec![kind];
    let mut n: Vec<u8> = name
        .bytes()
        .filter(|b| (32..127).contains(b))
        .take(10)
        .collect();
    n.resize(10, b' ');
    h.extend(n);
    h.extend((len as u16).to_le_bytes());
    h.extend(param1.to_le_bytes());
    h.extend(param2.to_le_bytes());
    h
}

/// The whole tape: the loader (named `name`, autostarting) and `code`,
/// loaded at and started from `origin`. `code` must be under 64 KB.
pub fn tape(name: &str, origin: u16, code: &[u8]) -> Vec<u8> {
    let prog = loader(origin);
    let mut out = Vec::new();
    block(
        &mut out,
        0x00,
        &header(0, name, prog.len(), LOADER_LINE, prog.len() as u16),
    );
    block(&mut out, 0xFF, &prog);
    block(&mut out, 0x00, &header(3, name, code.len(), origin, 32768));
    block(&mut out, 0xFF, code);
    out
}

/// A tape's blocks: (flag, payload), each checked for its length and checksum.
pub fn blocks(tap: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < tap.len() {
        let len = match tap.get(at..at + 2) {
            Some(l) => u16::from_le_bytes([l[0], l[1]]) as usize,
            None => return Err(format!("a block length is cut off at byte {at}")),
        };
        let Some(b) = tap.get(at + 2..at + 2 + len) else {
            return Err(format!(
                "the block at byte {at} says {len} bytes but the tape ends"
            ));
        };
        if len < 2 {
            return Err(format!("the block at byte {at} is {len} bytes long"));
        }
        if b.iter().fold(0, |x, y| x ^ y) != 0 {
            return Err(format!("the block at byte {at} has a bad checksum"));
        }
        out.push((b[0], &b[1..len - 1]));
        at += 2 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_is_tokenized_basic() {
        let l = loader(0x8000);
        assert_eq!(&l[..2], &[0, 10]);
        assert_eq!(u16::from_le_bytes([l[2], l[3]]) as usize, l.len() - 4);
        let mut want = vec![0xFD];
        want.extend(b"32767");
        want.extend([
            0x0E, 0, 0, 0xFF, 0x7F, 0, b':', 0xEF, b'"', b'"', 0xAF, b':', 0xF9, 0xC0,
        ]);
        want.extend(b"32768");
        want.extend([0x0E, 0, 0, 0x00, 0x80, 0, 0x0D]);
        assert_eq!(&l[4..], &want[..]);
    }

    #[test]
    fn a_tape_has_four_checked_blocks() {
        let t = tape("chat", 0x8000, &[1, 2, 3]);
        let b = blocks(&t).unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].0, 0);
        assert_eq!(&b[0].1[..11], b"\0chat      ");
        assert_eq!(
            b[2].1,
            &[3, b'c', b'h', b'a', b't', 32, 32, 32, 32, 32, 32, 3, 0, 0, 0x80, 0, 0x80]
        );
        assert_eq!(b[3], (0xFF, &[1u8, 2, 3][..]));
        let mut bad = t.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(blocks(&bad).is_err());
    }
}
