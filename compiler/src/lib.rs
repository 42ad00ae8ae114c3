//! zlmc: compiles tiny quantized neural networks (a YAML spec plus trained
//! weights) to portable C, with the IR interpreter as the reference.

pub mod cli;
pub mod commands;
pub mod diag;
pub mod driver;
pub mod evaluate;
pub mod frontend;
pub mod import;
pub mod input;
pub mod output;
pub mod passes;
pub mod quant;
pub mod range;
pub mod train;

pub use diag::Diagnostic;
