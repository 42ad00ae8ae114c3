//! What each `zlmc` subcommand does, one file per subcommand; `cli.rs` parses
//! the command line and calls here.

pub mod build;
pub mod compare;
pub mod compress;
pub mod eval;
pub mod import;
pub mod passes;
pub mod quantize;
pub mod run;
pub mod sim;
pub mod train;
