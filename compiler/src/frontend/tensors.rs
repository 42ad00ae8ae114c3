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

/// A little-endian element type as weights files store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// `int8`.
    I8,
    /// `uint8` (and NumPy's `bool`).
    U8,
    /// `int16`.
    I16,
    /// `uint16`.
    U16,
    /// `int32`.
    I32,
    /// `uint32`.
    U32,
    /// `int64`.
    I64,
    /// IEEE half precision.
    F16,
    /// bfloat16: the high half of a float32.
    Bf16,
    /// `float32`.
    F32,
    /// `float64`.
    F64,
}

impl Elem {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::I16 | Elem::U16 | Elem::F16 | Elem::Bf16 => 2,
            Elem::I32 | Elem::U32 | Elem::F32 => 4,
            Elem::I64 | Elem::F64 => 8,
        }
    }

    /// The dtype's name in messages (`int8`, `float32`, …).
    pub fn name(self) -> &'static str {
        match self {
            Elem::I8 => "int8",
            Elem::U8 => "uint8",
            Elem::I16 => "int16",
            Elem::U16 => "uint16",
            Elem::I32 => "int32",
            Elem::U32 => "uint32",
            Elem::I64 => "int64",
            Elem::F16 => "float16",
            Elem::Bf16 => "bfloat16",
            Elem::F32 => "float32",
            Elem::F64 => "float64",
        }
    }

    /// Every whole element of `bytes`, widened: integers stay integers.
    pub fn decode(self, bytes: &[u8]) -> TensorData {
        let chunks = bytes.chunks_exact(self.size());
        match self {
            Elem::F16 | Elem::Bf16 | Elem::F32 | Elem::F64 => {
                TensorData::Float(chunks.map(|c| self.float(c)).collect())
            }
            _ => TensorData::Int(chunks.map(|c| self.int(c)).collect()),
        }
    }

    /// One integer element (`c` holds exactly its bytes).
    fn int(self, c: &[u8]) -> i64 {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        let u = u64::from_le_bytes(b);
        match self {
            Elem::I8 => i64::from(u as u8 as i8),
            Elem::I16 => i64::from(u as u16 as i16),
            Elem::I32 => i64::from(u as u32 as i32),
            _ => u as i64,
        }
    }

    /// One float element (`c` holds exactly its bytes).
    fn float(self, c: &[u8]) -> f64 {
        let bits = self.int(c) as u64;
        match self {
            Elem::F16 => f16(bits as u16),
            Elem::Bf16 => f64::from(f32::from_bits((bits as u32) << 16)),
            Elem::F32 => f64::from(f32::from_bits(bits as u32)),
            _ => f64::from_bits(bits),
        }
    }
}

/// An IEEE half-precision value, exactly.
fn f16(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}
