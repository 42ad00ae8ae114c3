//! The machines zlmc's programs run on (they live in `zlmc_backends::sim`,
//! beside the targets that use them).

pub use zlmc_backends::sim::*;
