//! Column coding shared by the Z80 and AVR generators: a weight column as
//! lists of ±1 rows, the lists as row-gap nibbles, nibbles packed two to a
//! byte, and where a text model's query and context buckets sit in the input.

use std::ops::Range;
use zlmc_ir::{Encoder, Model};

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

/// One text encoder's buckets in the input vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPart {
    /// The input words it fills.
    pub words: Range<usize>,
    /// What each hash adds to its bucket.
    pub value: i16,
    /// The context's length in characters for context encoders (0 for the query's trigrams).
    pub length: usize,
}

/// Where a text model's query trigrams and context n-grams sit in the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    /// The query trigram buckets, if the model has them.
    pub query: Option<TextPart>,
    /// The context n-gram buckets, if the model has them.
    pub context: Option<TextPart>,
}

impl TextInput {
    /// The text encoders of `model` (raw inputs take their words and nothing else).
    pub fn of(model: &Model) -> TextInput {
        let mut t = TextInput::default();
        let mut at = 0;
        for e in &model.encoders {
            let words = at..at + e.len();
            match *e {
                Encoder::QueryTrigram { value, .. } => {
                    t.query = Some(TextPart {
                        words,
                        value,
                        length: 0,
                    })
                }
                Encoder::ContextNgram { length, value, .. } => {
                    t.context = Some(TextPart {
                        words,
                        value,
                        length,
                    })
                }
                Encoder::Raw { .. } => {}
            }
            at += e.len();
        }
        t
    }

    /// With both a non-empty query and context, their words: layer 1 can add
    /// the query's columns once per reply, as the query does not change within one.
    pub fn split(&self) -> Option<(Range<usize>, Range<usize>)> {
        match (&self.query, &self.context) {
            (Some(q), Some(c)) if !q.words.is_empty() && !c.words.is_empty() => {
                Some((q.words.clone(), c.words.clone()))
            }
            _ => None,
        }
    }
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
