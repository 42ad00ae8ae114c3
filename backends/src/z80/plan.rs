//! Where everything goes, decided before any code is emitted: the buffers
//! below the stack, the step's variables, and which of layer 1's input
//! columns are added once per reply; and whether the model fits that layout.

use std::ops::Range;

use crate::lowered::{FusedLayer, Unsupported};
use zlmc_ir::Elem;

/// The step's variables, one page below the accumulators, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vars {
    /// The caller's SP (a step borrows SP to read records).
    pub saved_sp: u16,
    /// The caller's interrupt state: 1 if interrupts were enabled.
    pub iff: u16,
    /// Where the query's active list starts (word).
    pub act_ptr: u16,
    /// The argmax so far: high byte of the best output, sign bit flipped.
    pub best_hi: u16,
    /// The argmax so far: low byte of the best output.
    pub best_lo: u16,
    /// The argmax so far: its unit, the step's result.
    pub class: u16,
    /// 1 when the query changed and layer 1's query part must be redone.
    pub new_query: u16,
    /// An epilogue's SP (its bias pointer) while a scatter borrows SP (word).
    pub epilogue_sp: u16,
    /// An input x in 256..=65535 or negative, for the general scatter (word).
    pub x: u16,
    /// The front-end's line buffer (BDOS 10's form: size, length, 128 bytes
    /// of text), in the page's free middle: RAM the program file need not hold.
    pub line: u16,
}

impl Vars {
    /// The variables laid out from `at`.
    pub(super) fn at(at: u16) -> Vars {
        Vars {
            saved_sp: at,
            iff: at + 2,
            act_ptr: at + 4,
            best_hi: at + 6,
            best_lo: at + 7,
            class: at + 8,
            new_query: at + 9,
            epilogue_sp: at + 11,
            x: at + 13,
            line: at + 0x20,
        }
    }
}

/// The machine a program is laid out for: where it loads, where its buffers
/// end, and how messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Where the program is loaded and starts.
    pub origin: u16,
    /// The `STACK_TOP` constant the front-end may set SP to.
    pub stack_top: u16,
    /// The buffers' pages lie below this address (a multiple of 256).
    pub buffers_top: u16,
    /// The system, for the banner ("CP/M 2.2").
    pub system: &'static str,
    /// The memory map, for the message when a model does not fit.
    pub memory: &'static str,
    /// The most bytes the program file should take (records kept packed or
    /// nibble-coded to stay within it), if the model can keep to it.
    pub max_image: Option<usize>,
    /// A lower origin to fall back on when a program does not fit above
    /// `origin` (the stack top moves down with it).
    pub low_origin: Option<u16>,
}

impl Layout {
    /// This layout with the program at `origin` instead (the stack top moved as much).
    pub fn at(&self, origin: u16) -> Layout {
        Layout {
            origin,
            stack_top: self.stack_top - (self.origin - origin),
            ..*self
        }
    }
}

/// CP/M 2.2 on a 64 KB machine: from 0x100, stack under the CCP at 0xDC00, a
/// page of stack below it, the buffers below that; a `.COM` of at most 40 KB
/// (it loads from disk in a few seconds).
pub const CPM: Layout = Layout {
    origin: 0x100,
    stack_top: 0xDC00,
    buffers_top: 0xDB00,
    system: "CP/M 2.2",
    memory: "64 KB CP/M, CCP at 0xDC00",
    max_image: Some(40 * 1024),
    low_origin: None,
};

/// Pages of 256 that `n` rows or columns take (at least one).
pub fn pages_of(n: usize) -> usize {
    n.div_ceil(256).max(1)
}

/// Where the model's buffers go, below the stack (all in RAM above the program).
#[derive(Debug, Clone)]
pub struct MemoryMap {
    /// Top of the stack (the program sets SP here).
    pub stack_top: u16,
    /// Per layer: the accumulators of its first 256 rows, low bytes in this
    /// page and high bytes in the next; rows 256 on follow in the next two
    /// pages, and so on (see [`MemoryMap::acc_page`]).
    pub acc: Vec<u16>,
    /// Per layer: the record address table of its first 256 columns, low
    /// bytes in this page and high bytes in the next; columns 256 on follow
    /// in the next two pages, and so on (see [`MemoryMap::table`]).
    pub recs: Vec<u16>,
    /// The step's variables.
    pub vars: Vars,
    /// Last layer's outputs, int16 each.
    pub zout: u16,
    /// The query's active list: its non-zero buckets, for `model_query`'s part.
    pub act: u16,
    /// Layer 1's sums over the query, kept for a reply (see [`Split`]).
    pub cache: u16,
    /// The front-end's list of the context buckets a step's n-grams hit
    /// (their addresses, then a 0 word), so they are hashed once per step.
    pub ctx_list: u16,
    /// The input vector.
    pub zin: u16,
}

impl MemoryMap {
    /// Plan the buffers for `layers` fed by an input of `zin_len` words, with
    /// `ctx_list` bytes for the front-end's context bucket list, as pages
    /// down from `layout.buffers_top`.
    pub fn plan(
        layers: &[FusedLayer],
        zin_len: usize,
        ctx_list: usize,
        layout: &Layout,
    ) -> MemoryMap {
        let stack_top = layout.stack_top;
        let mut next = layout.buffers_top as i64;
        let mut pages = |n: usize| {
            next -= n as i64 * 0x100;
            next.max(0) as u16
        };
        let acc = layers
            .iter()
            .map(|l| pages(2 * pages_of(l.rows())))
            .collect();
        let recs = layers.iter().map(|l| pages(2 * pages_of(l.cols))).collect();
        let vars = pages(1);
        let last_rows = layers.last().map(FusedLayer::rows).unwrap_or(1);
        let below = |at: u16, bytes: usize| at.saturating_sub(bytes.min(0xFFFF) as u16);
        let zout = below(vars, 2 * last_rows);
        let act = below(zout, 4 * (zin_len + 1));
        let cache = below(act, 2 * layers.first().map(FusedLayer::rows).unwrap_or(1));
        let ctx_list = below(cache, ctx_list);
        let zin = below(ctx_list, 2 * zin_len) & 0xFF00;
        MemoryMap {
            stack_top,
            acc,
            recs,
            vars: Vars::at(vars),
            zout,
            act,
            cache,
            ctx_list,
            zin,
        }
    }

    /// The lowest address the model's buffers use: the program must end below it.
    pub fn buffers_start(&self) -> u16 {
        self.zin
    }

    /// Layer `k`'s accumulator page (low bytes) for rows `256*page ..`.
    pub fn acc_page(&self, k: usize, page: usize) -> u16 {
        self.acc[k] + 0x200 * page as u16
    }

    /// The slot of layer `k`'s column `col` in its record address table (low byte).
    pub fn table(&self, k: usize, col: usize) -> u16 {
        self.recs[k] + 0x200 * (col / 256) as u16 + (col % 256) as u16
    }
}

/// `range` cut where it crosses a multiple of 256 (a table or accumulator page).
pub fn page_runs(range: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let end = range.end.min((at / 256 + 1) * 256);
        out.push(at..end);
        at = end;
    }
    out
}

/// Where a chat model's query and context buckets sit in the input. With
/// both, layer 1 adds the query's columns once per reply (the query does not
/// change within a reply) and keeps the result as the starting point of every
/// step of that reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The query trigram buckets' words.
    pub query: Range<usize>,
    /// The context n-gram buckets' words.
    pub context: Range<usize>,
}

/// Why the layers do not fit the Z80's code, if they do not (memory is
/// checked once the program is assembled).
pub fn check_layers(layers: &[FusedLayer], zin_len: usize) -> Result<(), Unsupported> {
    if layers.iter().any(|l| l.acc != Elem::I16) {
        return Err(Unsupported::Accumulator {
            backend: "Z80",
            supported: "16-bit",
        });
    }
    let classes = layers.last().map(FusedLayer::rows).unwrap_or(0);
    if classes > 256 {
        return Err(Unsupported::TooManyClasses {
            picker: "the Z80 front-end",
            classes,
            max: 256,
        });
    }
    if zin_len > 0x4000 || layers.iter().any(|l| l.rows() > 0x4000) {
        return Err(Unsupported::Other(format!(
            "a layer or the input is wider than the 64 KB a Z80 addresses could hold ({zin_len} inputs)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_buffer_fits_between_the_variables_and_the_stack_at_the_page_top() {
        let v = Vars::at(0xCA00);
        // The variables end with x (a word); the nibble-coded scatters' stack
        // grows down from the page's top, a few calls deep (16 bytes is ample).
        assert!(v.line >= v.x + 2);
        assert!(u32::from(v.line) + u32::from(zlmc_runtime_z80::LINEBUF_BYTES) <= 0xCB00 - 16);
    }
}
