//! Machine-independent passes. Each is exact: the optimized model computes
//! the same logits as the unoptimized one for every input.

mod dead_neurons;
mod fuse_epilogue;
mod sparse_weights;

use zlmc_ir::verify::{verify_model, VerifyError};
use zlmc_ir::Model;

/// A named pass over a model.
pub struct Pass {
    /// The name used by `--print-after` and `--disable-pass`.
    pub name: &'static str,
    /// One line on what it does.
    pub about: &'static str,
    /// The transformation.
    pub run: fn(&mut Model),
}

/// All passes, in pipeline order.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "verify",
        about: "check types, shapes and weight ranges",
        run: |_| {},
    },
    Pass {
        name: "dead-neurons",
        about: "fold neurons (and conv channels) with all-zero weights into the next layer's bias and drop them",
        run: dead_neurons::run,
    },
    Pass {
        name: "fuse-epilogue",
        about: "fuse bias + shift + ReLU into one epilogue per layer",
        run: fuse_epilogue::run,
    },
    Pass {
        name: "sparse-weights",
        about: "store only non-zero weights (zero-weight elimination)",
        run: sparse_weights::run,
    },
];

/// Whether `name` names a pass.
pub fn exists(name: &str) -> bool {
    PASSES.iter().any(|p| p.name == name)
}

/// Run the pipeline, skipping `disabled` passes and calling `after` with each
/// pass's name and result. The model is verified before and after every pass;
/// the verifier cannot be disabled.
pub fn run_pipeline(
    model: &mut Model,
    disabled: &[String],
    mut after: impl FnMut(&str, &Model),
) -> Result<(), PassError> {
    for pass in PASSES {
        if pass.name != "verify" && disabled.iter().any(|d| d == pass.name) {
            continue;
        }
        (pass.run)(model);
        verify_model(model).map_err(|error| PassError {
            pass: pass.name,
            error,
        })?;
        after(pass.name, model);
    }
    Ok(())
}

/// The model failed verification after a pass (or before any, for `verify`).
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", if *pass == "verify" { "invalid model".to_string() } else { format!("internal error: the model is invalid after pass {pass}") })]
pub struct PassError {
    /// The pass after which verification failed.
    pub pass: &'static str,
    /// What the verifier found.
    pub error: VerifyError,
}
