//! Column coding shared by the Z80 and AVR generators: a weight column as
//! lists of ±1 rows, the lists as row-gap nibbles, nibbles packed two to a
//! byte (where a text model's buckets sit is the lowered model's input map).

/// How a gap-nibble list codes gaps too long for one nibble, and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escape {
    /// The nibble that moves on this many rows without adding.
    pub skip: u8,
    /// The nibble that ends a list, if lists are ended in-band (the Z80's
    /// records carry their lengths instead).
    pub end: Option<u8>,
}

impl Escape {
    /// The Z80's coding: 15 moves on 15 rows; lists are counted, not ended.
    pub const Z80: Escape = Escape {
        skip: 15,
        end: None,
    };
    /// The AVR's coding: 14 moves on 14 rows, 15 ends a list.
    pub const AVR: Escape = Escape {
        skip: 14,
        end: Some(15),
    };
}

/// Gap nibbles of ascending (possibly repeated) rows, appended to `out`: each
/// gap counts from the previous row (the first from row 0), so a row taken
/// twice is a gap of 0.
pub fn gap_nibbles(rows: &[usize], esc: Escape, out: &mut Vec<u8>) {
    let skip = usize::from(esc.skip);
    let mut at = 0;
    for &r in rows {
        let mut gap = r - at;
        while gap >= skip {
            out.push(esc.skip);
            gap -= skip;
        }
        out.push(gap as u8);
        at = r;
    }
    if let Some(end) = esc.end {
        out.push(end);
    }
}

/// Nibbles packed two to a byte, high first; an odd count is padded with 0.
pub fn pack_nibbles(nibbles: &[u8]) -> Vec<u8> {
    nibbles
        .chunks(2)
        .map(|c| c[0] << 4 | c.get(1).copied().unwrap_or(0))
        .collect()
}

/// A column's signed weights as unit lists: (rows that add x, rows that
/// subtract it), a row appearing |w| times for a weight w.
pub fn unit_lists(col: &[(usize, i8)]) -> (Vec<usize>, Vec<usize>) {
    let (mut plus, mut minus) = (Vec::new(), Vec::new());
    for &(r, w) in col {
        let list = if w > 0 { &mut plus } else { &mut minus };
        list.extend(std::iter::repeat_n(r, usize::from(w.unsigned_abs())));
    }
    (plus, minus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_differ_only_in_skip_and_end() {
        let mut z = Vec::new();
        gap_nibbles(&[0, 20, 20], Escape::Z80, &mut z);
        assert_eq!(z, vec![0, 15, 5, 0]);
        let mut a = Vec::new();
        gap_nibbles(&[0, 20, 20], Escape::AVR, &mut a);
        assert_eq!(a, vec![0, 14, 6, 0, 15]);
        assert_eq!(pack_nibbles(&a), vec![0x0E, 0x60, 0xF0]);
    }

    #[test]
    fn unit_lists_repeat_rows_by_weight() {
        assert_eq!(
            unit_lists(&[(0, 1), (3, -2), (20, 2)]),
            (vec![0, 20, 20], vec![3, 3])
        );
    }
}
