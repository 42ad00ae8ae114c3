//! Every "this target cannot build that model" message, in one place, so that
//! the targets refuse the same thing in the same words.

use std::fmt;

use crate::BackendError;

/// Why a target cannot generate code for a (verified) model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// The graph is not one chain `input → … → argmax`.
    NotAChain(String),
    /// The graph has no matmul: nothing for a layer to compute.
    NoLayer,
    /// An elementwise op before the first matmul, on a target that fuses
    /// every elementwise op into a layer's epilogue.
    BeforeFirstLayer {
        /// The target's display name (`AVR`, `Z80`).
        backend: &'static str,
        /// The op's mnemonic.
        op: &'static str,
    },
    /// An elementwise op a layer's fused epilogue (bias, shift, activation,
    /// in that order) cannot take where it stands.
    EpilogueOrder {
        /// The target's display name.
        backend: &'static str,
        /// The op's mnemonic.
        op: &'static str,
    },
    /// Accumulators of a width the target does not implement.
    Accumulator {
        /// The target's display name.
        backend: &'static str,
        /// What it implements.
        supported: &'static str,
    },
    /// A text encoder with more buckets than the target's hash can address.
    TooManyBuckets {
        /// What the target's front-end is called (`the Z80 front-end`).
        hasher: &'static str,
        /// The encoder's buckets.
        buckets: usize,
        /// The most the target takes.
        max: usize,
        /// Why (`a bucket index is a byte`).
        why: &'static str,
    },
    /// More classes than the target can pick from.
    TooManyClasses {
        /// What picks the class (`the Z80 front-end`).
        picker: &'static str,
        /// The last layer's units.
        classes: usize,
        /// The most it takes.
        max: usize,
    },
    /// A model name that cannot prefix C and assembler symbols.
    BadName(String),
    /// Labels whose text takes more bytes than the target's tables index.
    LabelsTooLong {
        /// The most they may take.
        max: usize,
    },
    /// A values output (regression) from text input, which a target's
    /// front-end answers with a class only.
    ValuesFromText {
        /// The target's display name.
        backend: &'static str,
    },
    /// A layer kind (conv, pooling) the target does not generate yet.
    Layer {
        /// The target's display name.
        backend: &'static str,
        /// The layer's IR mnemonic.
        op: &'static str,
    },
    /// Anything else the target refuses, said in full.
    Other(String),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::NotAChain(why) => write!(
                f,
                "zlmc's backends handle chain graphs only (input → … → argmax): {why}"
            ),
            Unsupported::NoLayer => f.write_str("the model has no matmul"),
            Unsupported::BeforeFirstLayer { backend, op } => write!(
                f,
                "`{op}` before the first matmul is not supported by the {backend} backend"
            ),
            Unsupported::EpilogueOrder { backend, op } => write!(
                f,
                "`{op}` in this position is not supported by the {backend} backend \
                 (a layer's epilogue is bias, shift, then activation)"
            ),
            Unsupported::Accumulator { backend, supported } => {
                write!(f, "the {backend} backend supports {supported} accumulators only")
            }
            Unsupported::TooManyBuckets {
                hasher,
                buckets,
                max,
                why,
            } => write!(
                f,
                "an encoder of {buckets} buckets: {hasher} hashes into at most {max} ({why})"
            ),
            Unsupported::TooManyClasses {
                picker,
                classes,
                max,
            } => write!(
                f,
                "the last layer has {classes} units; {picker} picks a class in a byte (at most {max})"
            ),
            Unsupported::BadName(name) => write!(f, "model name {name:?} is not a C identifier"),
            Unsupported::LabelsTooLong { max } => {
                write!(f, "the labels take more than {} bytes", thousands(*max))
            }
            Unsupported::ValuesFromText { backend } => write!(
                f,
                "the {backend} backend gives a values output for raw-input models only"
            ),
            Unsupported::Layer { backend, op } => write!(
                f,
                "the {backend} backend does not generate `{op}` layers yet (the C target does)"
            ),
            Unsupported::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Unsupported {}

/// `n` with commas between its thousands, as the messages write numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

impl From<Unsupported> for BackendError {
    fn from(u: Unsupported) -> BackendError {
        BackendError::Unsupported(u.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(65_535), "65,535");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(
            Unsupported::LabelsTooLong { max: 65_535 }.to_string(),
            "the labels take more than 65,535 bytes"
        );
    }
}
