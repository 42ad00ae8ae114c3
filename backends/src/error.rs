//! The one error type every backend returns.

/// Why a backend cannot generate code for a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The model uses something this target does not support.
    #[error("{0}")]
    Unsupported(String),
    /// The model does not fit the machine.
    #[error("{message}")]
    TooBig {
        /// What it needs and what the machine has.
        message: String,
        /// What could help.
        help: String,
    },
    /// A bug in zlmc: generated code that does not assemble, a broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl BackendError {
    /// An [`BackendError::Unsupported`] from anything printable.
    pub fn unsupported(message: impl Into<String>) -> Self {
        BackendError::Unsupported(message.into())
    }

    /// An [`BackendError::Internal`] from anything printable.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        BackendError::Internal(message.to_string())
    }
}
