//! Tensors as loaded from a weights file, before they become IR weights.

use std::collections::BTreeMap;

/// Element values of a loaded tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Any integer dtype, widened.
    Int(Vec<i64>),
    /// Any float dtype, widened.
    Float(Vec<f64>),
    /// A byte string (NumPy `|S`), as z80ai stores its metadata.
    Bytes(Vec<u8>),
}

/// A loaded tensor: shape, dtype name as the file spells it, and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// The dtype as stored, for messages (`int8`, `float32`, …).
    pub dtype: String,
    /// The values, row-major.
    pub data: TensorData,
}

/// All tensors of a weights file, by name.
pub type TensorMap = BTreeMap<String, Tensor>;

impl Tensor {
    /// Number of elements the shape describes.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The tensor's bytes if it is a byte string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            TensorData::Bytes(b) => Some(b),
            _ => None,
        }
    }
}
