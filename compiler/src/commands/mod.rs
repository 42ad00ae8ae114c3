//! What each `zlmc` subcommand does, one file per subcommand; `cli.rs` parses
//! the command line and calls here.

pub mod sim;
