//! The Z80 backend: a typed instruction list that knows each instruction's size,
//! T-states and encoding, prints Zilog syntax that z80asm (1.8) and pasmo (0.5.3) both
//! assemble to the very bytes [`assemble`] produces, and parses that syntax back (for
//! the hand-written runtime sources); and the generator, which plans memory
//! (`plan.rs`), codes each layer's weights as column records (`coding.rs`) and builds the inference code
//! as typed items (`build.rs`, `model.rs`, `scatter.rs`, `query.rs`, `init.rs`).
//!
//! A program is a `Vec<Item>`; printing writes one line per item, so an item's index is
//! its line in the `.asm` file, which is how [`AsmError`] points at it.

mod activation;
mod asm;
mod build;
mod coding;
mod expr;
mod init;
mod isa;
mod mapcode;
mod mapcost;
mod mapplan;
mod mapprog;
mod mnemonics;
mod model;
mod parse;
mod plan;
mod print;
mod program;
mod query;
mod scatter;
mod seq;
pub mod target;

pub use asm::{
    assemble, is_identifier, is_reserved, AsmError, AsmErrorKind, Assembled, Data, Item,
};
pub use build::Builder;
pub use expr::{EvalError, Expr, Symbols};
pub use isa::{
    AluOp, BcDe, Cond, EncodeError, HlIx, Idx, Index, Inst, JrCond, Loc8, Mem8, Pair, Reg16, Reg8,
    RotOp, Src8, StackReg, Tstates,
};
pub use parse::{parse, ParseError};
pub use plan::{Layout, CPM};
pub use print::print;
pub use program::{emit, emit_for, Runtimes, Z80Files};
