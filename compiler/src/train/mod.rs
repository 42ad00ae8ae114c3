//! Training (issue 20): quantization-aware fine-tuning and training from
//! scratch of integer models.

pub mod chat;
pub mod text;
