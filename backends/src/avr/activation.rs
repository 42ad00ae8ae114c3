//! The activations of layer epilogues beyond ReLU: how a lookup table is
//! stored in flash and what each activation costs per output. The code that
//! applies them is in `code/activation.rs`.

use crate::lowered::{Activation, FusedLayer};

/// How a lookup table's entries are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LutForm {
    /// A byte each, sign-extended (every entry in −128..=127).
    Signed,
    /// A byte each, zero-extended (every entry in 0..=255).
    Unsigned,
    /// A little-endian word each.
    Words,
}

/// The narrowest form that holds every entry of `table`.
pub fn lut_form(table: &[i16]) -> LutForm {
    if table.iter().all(|&v| (-128..=127).contains(&v)) {
        LutForm::Signed
    } else if table.iter().all(|&v| (0..=255).contains(&v)) {
        LutForm::Unsigned
    } else {
        LutForm::Words
    }
}

/// The table's bytes in flash, in its [`lut_form`].
pub fn lut_bytes(table: &[i16]) -> Vec<u8> {
    match lut_form(table) {
        LutForm::Signed | LutForm::Unsigned => table.iter().map(|&v| v as u8).collect(),
        LutForm::Words => table.iter().flat_map(|&v| v.to_le_bytes()).collect(),
    }
}

/// The layer's lookup table, if its activation is one.
pub fn lut(l: &FusedLayer) -> Option<(i16, &[i16])> {
    match &l.activation {
        Some(Activation::Lut { lo, table }) => Some((*lo, table)),
        _ => None,
    }
}

/// Bytes of the layer's lookup table in flash (0 without one).
pub fn lut_table_bytes(l: &FusedLayer) -> usize {
    lut(l).map_or(0, |(_, t)| lut_bytes(t).len())
}

/// Whether the activation makes every negative output 0 (ReLU, a clamp at
/// 0): it wants r2:r3 = 0 to move over them, and leaves as many zeros.
pub fn needs_zero(act: Option<&Activation>) -> bool {
    act.is_some_and(Activation::zeroes_negatives)
}

/// Whether a leaky ReLU's `>> shift` (of a 24-bit product) is cheaper as a
/// left shift by `8 - shift` that keeps the upper two bytes.
pub fn leaky_shifts_left(shift: u8) -> bool {
    shift < 8 && 8 - shift < shift
}

/// Cycles an activation adds to each output beyond the shift, on average
/// over outputs of either sign, on the Uno (ReLU's two are in the kernels'
/// figures, so it counts 0 and ReLU models keep their predictions);
/// `in_walk`: inside a fused walk, where a lookup saves and restores Z.
pub fn cycles(act: Option<&Activation>, in_walk: bool) -> usize {
    match act {
        None | Some(Activation::Relu) => 0,
        Some(Activation::Clamp { lo, hi }) => {
            let lower = match *lo {
                0 => 2,
                i16::MIN => 0,
                _ => 5,
            };
            let upper = if *hi == i16::MAX { 0 } else { 5 };
            lower + upper
        }
        Some(Activation::LeakyRelu { shift, .. }) => {
            let s = usize::from(*shift);
            let negative = if s >= 8 {
                13 + 2 * (s - 8)
            } else if leaky_shifts_left(*shift) {
                14 + 3 * (8 - s)
            } else {
                14 + 3 * s
            };
            // Half the outputs negative: 3 cycles to pass a non-negative one.
            (3 + negative) / 2
        }
        Some(Activation::Lut { table, .. }) => {
            let form = match lut_form(table) {
                LutForm::Signed => 3,
                LutForm::Unsigned => 1,
                LutForm::Words => 6,
            };
            16 + form + if in_walk { 2 } else { 0 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_take_the_narrowest_form() {
        assert_eq!(lut_form(&[-128, 127]), LutForm::Signed);
        assert_eq!(lut_form(&[0, 255]), LutForm::Unsigned);
        assert_eq!(lut_form(&[-1, 128]), LutForm::Words);
        assert_eq!(lut_bytes(&[-1, 2]), vec![0xFF, 2]);
        assert_eq!(lut_bytes(&[200, 3]), vec![200, 3]);
        assert_eq!(lut_bytes(&[-300, 1]), vec![0xD4, 0xFE, 1, 0]);
    }
}
