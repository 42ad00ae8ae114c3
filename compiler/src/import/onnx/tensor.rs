//! Constant tensors: `TensorProto` (initializers, `Constant` nodes) decoded into
//! plain values, with every size checked before anything is allocated.

use super::proto::{data_type, TensorProto};
use crate::frontend::tensors::{Elem, TensorData};

/// Largest tensor the reader accepts, in elements: far above any model a
/// microcontroller can hold, far below what would exhaust memory.
pub const MAX_ELEMENTS: usize = 16 * 1024 * 1024;

/// Element values of a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `float` or `double`, widened.
    Float(Vec<f64>),
    /// `int32` or `int64`, widened.
    Int(Vec<i64>),
    /// `string`.
    Str(Vec<String>),
}

/// A constant tensor: dimensions and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Dimensions, outermost first; empty for a scalar.
    pub dims: Vec<usize>,
    /// The values.
    pub data: Data,
}

impl Const {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Float(v) => v.len(),
            Data::Int(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as floats (integers converted), or `None` for strings.
    pub fn floats(&self) -> Option<Vec<f64>> {
        match &self.data {
            Data::Float(v) => Some(v.clone()),
            Data::Int(v) => Some(v.iter().map(|&i| i as f64).collect()),
            Data::Str(_) => None,
        }
    }

    /// The values as integers, or `None` unless the tensor is integer.
    pub fn ints(&self) -> Option<&[i64]> {
        match &self.data {
            Data::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The values as text: strings as they are, integers in decimal.
    pub fn labels(&self) -> Option<Vec<String>> {
        match &self.data {
            Data::Str(v) => Some(v.clone()),
            Data::Int(v) => Some(v.iter().map(i64::to_string).collect()),
            Data::Float(_) => None,
        }
    }

    /// The dimensions with leading 1s removed (how broadcasting sees a constant).
    pub fn squeezed_dims(&self) -> &[usize] {
        let lead = self.dims.iter().take_while(|&&d| d == 1).count();
        &self.dims[lead..]
    }
}

/// Check declared dimensions and return them with their element count.
pub fn check_dims(dims: &[i64]) -> Result<(Vec<usize>, usize), String> {
    let mut n: usize = 1;
    let mut out = Vec::with_capacity(dims.len().min(16));
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| format!("has a negative dimension {d}"))?;
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                format!("has dimensions {dims:?}, over the limit of {MAX_ELEMENTS} elements")
            })?;
        out.push(d);
    }
    Ok((out, n))
}

/// Decode a constant tensor; errors are phrased to follow "tensor `NAME` ".
pub fn decode(t: &TensorProto) -> Result<Const, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        let loc = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map_or(String::new(), |e| format!(" (`{}`)", e.value));
        return Err(format!("keeps its data in an external file{loc}"));
    }
    if t.segment.is_some() {
        return Err("is a segment of a larger tensor, which is not supported".into());
    }
    let (dims, n) = check_dims(&t.dims)?;
    let count = |got: usize| {
        if got == n {
            Ok(())
        } else {
            Err(format!(
                "holds {got} values but its dimensions {dims:?} need {n}"
            ))
        }
    };
    // `raw_data` when the tensor has it, as the element type says; else `None`.
    let raw = |elem: Elem| -> Result<Option<Data>, String> {
        if t.raw_data.is_empty() {
            return Ok(None);
        }
        let size = elem.size();
        if !t.raw_data.len().is_multiple_of(size) {
            return Err(format!(
                "has {} bytes of raw data, not a whole number of {size}-byte values",
                t.raw_data.len()
            ));
        }
        count(t.raw_data.len() / size)?;
        Ok(Some(match elem.decode(&t.raw_data) {
            TensorData::Int(v) => Data::Int(v),
            TensorData::Float(v) => Data::Float(v),
            TensorData::Bytes(_) => return Err("holds bytes, not numbers".into()),
        }))
    };
    let data = match t.data_type {
        data_type::FLOAT => match raw(Elem::F32)? {
            Some(d) => d,
            None => {
                count(t.float_data.len())?;
                Data::Float(t.float_data.iter().map(|&v| v as f64).collect())
            }
        },
        data_type::DOUBLE => match raw(Elem::F64)? {
            Some(d) => d,
            None => {
                count(t.double_data.len())?;
                Data::Float(t.double_data.clone())
            }
        },
        data_type::INT64 => match raw(Elem::I64)? {
            Some(d) => d,
            None => {
                count(t.int64_data.len())?;
                Data::Int(t.int64_data.clone())
            }
        },
        data_type::INT32 => match raw(Elem::I32)? {
            Some(d) => d,
            None => {
                count(t.int32_data.len())?;
                Data::Int(t.int32_data.iter().map(|&v| v as i64).collect())
            }
        },
        data_type::STRING => {
            count(t.string_data.len())?;
            Data::Str(
                t.string_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            )
        }
        other => {
            return Err(format!(
                "has element type {}, not float, double, int32, int64 or string",
                data_type::name(other)
            ))
        }
    };
    Ok(Const { dims, data })
}
