//! The C target in the registry: `NAME.c` and `NAME.h`, no simulator (the
//! tests compile and run it with gcc, and under avr-gcc in simavr).

use crate::target::{Emitted, Job, Plan, Program, Target, TargetInfo};
use crate::BackendError;

/// The `c` target.
pub struct CTarget;

/// The registry's entry for the C target.
pub static C_TARGET: CTarget = CTarget;

/// The registry's facts about the `c` target.
static INFO: TargetInfo = TargetInfo {
    name: "c",
    about: "portable C99 (NAME.c, NAME.h)",
    machines: &[],
};

impl Target for CTarget {
    fn info(&self) -> &'static TargetInfo {
        &INFO
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
