//! The C target in the registry: `NAME.c` and `NAME.h`, no simulator (the
//! tests compile and run it with gcc, and under avr-gcc in simavr).

use crate::target::{Emitted, Job, Plan, Program, Target};
use crate::BackendError;

/// The `c` target.
pub struct CTarget;

/// The registry's entry for the C target.
pub static C_TARGET: CTarget = CTarget;

impl Target for CTarget {
    fn name(&self) -> &'static str {
        "c"
    }

    fn about(&self) -> &'static str {
        "portable C99 (NAME.c, NAME.h)"
    }

    fn emit(&self, job: &Job) -> Result<Emitted, BackendError> {
        let c = super::emit(job.model, job.prov)
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        Ok(Emitted {
            folder: None,
            files: vec![
                (c.header_name, c.header.into_bytes()),
                (c.source_name, c.source.into_bytes()),
            ],
            plan: Plan::default(),
            program: Program::default(),
        })
    }
}
