//! `zlmc passes`: the optimization passes, one per line.

use std::io::Write;

use crate::diag::Result;
use crate::input::io_err;

/// `zlmc passes`: each pass's name and what it does.
pub fn passes(out: &mut dyn Write) -> Result<()> {
    for p in crate::passes::PASSES {
        writeln!(out, "{:<16} {}", p.name, p.about).map_err(io_err)?;
    }
    Ok(())
}
