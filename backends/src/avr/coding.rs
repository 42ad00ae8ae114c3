//! How the AVR backend codes a layer's weights ([`Coding`]) and the coded
//! layer itself ([`CodedLayer`]): each layer's non-zero weights, column by
//! column, as row gaps in nibbles, the form the AVR inner loop decodes (the
//! dense codings' tables are made in `dense.rs`).
//!
//! A column is a length (the bytes that follow it, so an inactive column is
//! skipped with one add to Z) and then lists of row gaps, one nibble each,
//! high nibble first. A gap g in 0..=13 moves the accumulator pointer g rows
//! on and adds; 14 moves it 14 rows on without adding; 15 ends the list. The
//! first gap counts from row 0, so a row that takes the value twice (a weight
//! of ±2) is a gap of 0.
//!
//! The coding itself is shared with the Z80 backend (`crate::columns`).
//!
//! - [`Coding::PlusMinus`] (weights −2..=2): the rows that add x, then the
//!   rows that subtract it, |w| entries per weight; the second list starts in
//!   the nibble after the first one's end.
//! - [`Coding::Grouped`] (any weights): per distinct weight v a byte v and the
//!   rows that add x·v, byte-aligned; a 0 byte ends the column.

use crate::columns::{gap_nibbles, pack_nibbles, unit_lists, Escape};

/// How a layer's weights are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// A list of rows to add x to and one to subtract it from.
    PlusMinus,
    /// One list per weight value, each headed by the value.
    Grouped,
    /// Dense int8 rows, a byte a weight, on the multiplier (`dense.rs`).
    Dense8,
    /// Dense int4 rows, two rows' weights a byte (`dense.rs`).
    Dense4,
}

impl Coding {
    /// How the docs and generated comments call the coding.
    pub fn name(self) -> &'static str {
        match self {
            Coding::PlusMinus => "plus/minus",
            Coding::Grouped => "value-grouped",
            Coding::Dense8 => "dense int8",
            Coding::Dense4 => "dense int4",
        }
    }

    /// Whether the coding is a dense row-major one (else gap-nibble columns).
    pub fn is_dense(self) -> bool {
        matches!(self, Coding::Dense8 | Coding::Dense4)
    }

    /// How `zlmc build` calls the layer's kernel.
    pub fn kernel(self) -> &'static str {
        match self {
            Coding::PlusMinus => "gap-nibble plus/minus columns",
            Coding::Grouped => "gap-nibble value-grouped columns",
            Coding::Dense8 => "dense int8 rows, mul",
            Coding::Dense4 => "dense int4 rows (2 a byte), mul",
        }
    }
}

/// Nibble that moves on [`SKIP`] rows without adding.
pub const SKIP: u8 = 14;
/// Nibble that ends a list.
pub const END: u8 = 15;

/// A layer's weights as coded: its columns (or a dense layer's table).
#[derive(Debug, Clone)]
pub struct CodedLayer {
    /// The bytes of every column, lengths included, back to back.
    pub bytes: Vec<u8>,
    /// Offset of each column's length in `bytes`.
    pub starts: Vec<usize>,
    /// Whether lengths take two bytes (little-endian) instead of one.
    pub wide_len: bool,
}

/// The gap-nibble coding a layer's weights allow: the compact one where it can.
pub fn coding_for(max_abs: u8) -> Coding {
    if max_abs <= 2 {
        Coding::PlusMinus
    } else {
        Coding::Grouped
    }
}

/// Gap nibbles of ascending (possibly repeated) rows, ended by [`END`].
fn gaps(rows: &[usize], out: &mut Vec<u8>) {
    gap_nibbles(rows, Escape::AVR, out);
}

/// The body (after the length) of one column.
fn column(col: &[(usize, i8)], coding: Coding) -> Vec<u8> {
    match coding {
        Coding::PlusMinus => {
            let (plus, minus) = unit_lists(col);
            let mut n = Vec::new();
            gaps(&plus, &mut n);
            gaps(&minus, &mut n);
            pack_nibbles(&n)
        }
        Coding::Grouped | Coding::Dense8 | Coding::Dense4 => {
            let mut values: Vec<i8> = col.iter().map(|e| e.1).collect();
            values.sort_unstable();
            values.dedup();
            let mut out = Vec::new();
            for v in values {
                let rows: Vec<usize> = col.iter().filter(|e| e.1 == v).map(|e| e.0).collect();
                let mut n = Vec::new();
                gaps(&rows, &mut n);
                out.push(v as u8);
                out.extend(pack_nibbles(&n));
            }
            out.push(0);
            out
        }
    }
}

/// Code every column of a layer.
pub fn encode(columns: &[Vec<(usize, i8)>], coding: Coding) -> CodedLayer {
    let bodies: Vec<Vec<u8>> = columns.iter().map(|c| column(c, coding)).collect();
    let wide_len = bodies.iter().any(|b| b.len() > 255);
    let mut bytes = Vec::new();
    let mut starts = Vec::with_capacity(bodies.len());
    for b in bodies {
        starts.push(bytes.len());
        let len = b.len() as u16;
        bytes.push(len as u8);
        if wide_len {
            bytes.push((len >> 8) as u8);
        }
        bytes.extend(b);
    }
    CodedLayer {
        bytes,
        starts,
        wide_len,
    }
}

/// The longest column body a 16-bit length can describe.
pub const MAX_COLUMN: usize = 65535;

/// Whether some column is too long for even a 16-bit length.
pub fn too_long(columns: &[Vec<(usize, i8)>], coding: Coding) -> Option<usize> {
    columns
        .iter()
        .position(|c| column(c, coding).len() > MAX_COLUMN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_minus_column() {
        // rows 0:+1, 3:-2, 20:+1 → plus [0, 20], minus [3, 3]
        let s = encode(&[vec![(0, 1), (3, -2), (20, 1)]], Coding::PlusMinus);
        // plus: 0, 14, 6, END; minus: 3, 0, END; pad
        assert_eq!(s.bytes, vec![4, 0x0E, 0x6F, 0x30, 0xF0]);
        assert_eq!(s.starts, vec![0]);
        assert!(!s.wide_len);
    }

    #[test]
    fn empty_column_is_two_ends() {
        let s = encode(&[vec![]], Coding::PlusMinus);
        assert_eq!(s.bytes, vec![1, 0xFF]);
    }

    #[test]
    fn grouped_column() {
        let s = encode(&[vec![(1, 5), (2, -7), (4, 5)]], Coding::Grouped);
        // -7: [2, END] ; 5: [1, 3, END] ; 0
        assert_eq!(s.bytes, vec![6, 0xF9, 0x2F, 0x05, 0x13, 0xF0, 0x00]);
    }
}
