//! Where everything goes, decided before any code is emitted: the buffers
//! below the stack, the step's variables, and which of layer 1's input
//! columns are added once per reply; and whether the model fits that layout.

use std::ops::Range;

use super::records::gaps;
use crate::columns::unit_lists;
use crate::layers::Layer;
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
}

impl Vars {
    /// The variables laid out from `at`.
    fn at(at: u16) -> Vars {
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
}

/// CP/M 2.2 on a 64 KB machine: from 0x100, stack under the CCP at 0xDC00, a
/// page of stack below it, the buffers below that.
pub const CPM: Layout = Layout {
    origin: 0x100,
    stack_top: 0xDC00,
    buffers_top: 0xDB00,
    system: "CP/M 2.2",
    memory: "64 KB CP/M, CCP at 0xDC00",
};

/// Where the model's buffers go, below the stack (all in RAM above the program).
#[derive(Debug, Clone)]
pub struct Memory {
    /// Top of the stack (the program sets SP here).
    pub stack_top: u16,
    /// Per layer: low-byte accumulator page (high bytes in the next page).
    pub acc: Vec<u16>,
    /// Per layer: page of record address low bytes (high bytes in the next page).
    pub recs: Vec<u16>,
    /// The step's variables.
    pub vars: Vars,
    /// Last layer's outputs, int16 each.
    pub zout: u16,
    /// The query's active list: its non-zero buckets, for `model_query`'s part.
    pub act: u16,
    /// Layer 1's sums over the query, kept for a reply (see [`Split`]).
    pub cache: u16,
    /// The input vector.
    pub zin: u16,
}

impl Memory {
    /// Plan the buffers for `layers` fed by an input of `zin_len` words, as
    /// pages down from `layout.buffers_top`.
    pub fn plan(layers: &[Layer], zin_len: usize, layout: &Layout) -> Memory {
        let stack_top = layout.stack_top;
        let mut next = layout.buffers_top;
        let mut pages = |n: u16| {
            next -= n * 0x100;
            next
        };
        let acc = layers.iter().map(|_| pages(2)).collect();
        let recs = layers.iter().map(|_| pages(2)).collect();
        let vars = pages(1);
        let last_rows = layers.last().map(Layer::rows).unwrap_or(1) as u16;
        let zout = vars - 2 * last_rows;
        let act_len = 4 * 257;
        let act = zout - act_len;
        let cache = act - 2 * layers.first().map(Layer::rows).unwrap_or(1) as u16;
        let zin = (cache - 2 * zin_len as u16) & 0xFF00;
        Memory {
            stack_top,
            acc,
            recs,
            vars: Vars::at(vars),
            zout,
            act,
            cache,
            zin,
        }
    }

    /// The lowest address the model's buffers use: the program must end below it.
    pub fn buffers_start(&self) -> u16 {
        self.zin
    }
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

/// Why the layers do not fit this layout, if they do not.
pub fn check_layers(layers: &[Layer], zin_len: usize) -> Result<(), String> {
    if zin_len > 256 {
        return Err(format!(
            "the input has {zin_len} elements; the Z80 layout takes at most 256"
        ));
    }
    for (i, l) in layers.iter().enumerate() {
        if l.acc != Elem::I16 {
            return Err("the Z80 backend supports 16-bit accumulators only".into());
        }
        if l.rows() > 255 || l.cols > 256 {
            return Err(format!(
                "layer {} is {}x{}; the Z80 layout holds at most 255 units and 256 inputs per layer (the dead-neurons pass may bring it down)",
                i + 1,
                l.rows(),
                l.cols
            ));
        }
        for (j, c) in l.columns.iter().enumerate() {
            let (p, m) = unit_lists(c);
            if p.len() > 255 || m.len() > 255 {
                return Err(format!(
                    "layer {} column {j} has more than 255 unit weights of one sign (a weight of 2 counts twice)",
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// Why layer 1's query columns do not fit the nibble coding, if they do not.
pub fn check_split(layer: &Layer, sp: &Split) -> Result<(), String> {
    for (j, c) in layer.columns[sp.query.clone()].iter().enumerate() {
        let (p, m) = unit_lists(c);
        if gaps(&p).len() > 255 || gaps(&m).len() > 255 {
            return Err(format!(
                "layer 1 query column {j} needs more than 255 row gaps of one sign"
            ));
        }
    }
    Ok(())
}
