//! Reader for `.safetensors` weights files.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::tensors::{Tensor, TensorData, TensorMap};
use crate::diag::{Diagnostic, Result};

/// Read every tensor of a `.safetensors` file.
pub fn read_safetensors(path: &Path) -> Result<TensorMap> {
    use std::io::Read;
    let max = super::npz::MAX_TOTAL_BYTES;
    let open =
        |e: std::io::Error| Diagnostic::in_file(path, format!("cannot open weights file: {e}"));
    // The whole file is the data, so bounding the file bounds every tensor;
    // the crate checks the (untrusted) header's offsets against it.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(open)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(open)?;
    if bytes.len() > max {
        return Err(Diagnostic::in_file(
            path,
            format!("weights file exceeds the limit of {max} bytes"),
        ));
    }
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Diagnostic::in_file(path, format!("not a valid .safetensors file: {e}")))?;
    let mut out = TensorMap::new();
    for (name, view) in st.tensors() {
        let b = view.data();
        let n = view
            .shape()
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        let limit = super::npz::MAX_ARRAY_ELEMENTS;
        if n.is_none_or(|n| n > limit) {
            return Err(Diagnostic::in_file(
                path,
                format!("tensor `{name}` exceeds the limit of {limit} elements"),
            ));
        }
        let ints = |size: usize, f: fn(&[u8]) -> i64| {
            TensorData::Int(b.chunks_exact(size).map(f).collect())
        };
        let (dtype, data) = match view.dtype() {
            Dtype::I8 => ("int8", ints(1, |c| c[0] as i8 as i64)),
            Dtype::U8 => ("uint8", ints(1, |c| c[0] as i64)),
            Dtype::I16 => (
                "int16",
                ints(2, |c| i16::from_le_bytes([c[0], c[1]]) as i64),
            ),
            Dtype::U16 => (
                "uint16",
                ints(2, |c| u16::from_le_bytes([c[0], c[1]]) as i64),
            ),
            Dtype::I32 => (
                "int32",
                ints(4, |c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64),
            ),
            Dtype::I64 => (
                "int64",
                ints(8, |c| i64::from_le_bytes(c.try_into().expect("8 bytes"))),
            ),
            Dtype::F32 => (
                "float32",
                TensorData::Float(
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                        .collect(),
                ),
            ),
            Dtype::F64 => (
                "float64",
                TensorData::Float(
                    b.chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                        .collect(),
                ),
            ),
            Dtype::F16 => (
                "float16",
                TensorData::Float(
                    b.chunks_exact(2)
                        .map(|c| f16(u16::from_le_bytes([c[0], c[1]])))
                        .collect(),
                ),
            ),
            Dtype::BF16 => (
                "bfloat16",
                TensorData::Float(
                    b.chunks_exact(2)
                        .map(|c| {
                            f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64
                        })
                        .collect(),
                ),
            ),
            other => {
                return Err(Diagnostic::in_file(
                    path,
                    format!("tensor `{name}` has unsupported dtype {other:?}"),
                ))
            }
        };
        out.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                dtype: dtype.to_string(),
                data,
            },
        );
    }
    Ok(out)
}

/// IEEE half precision to f64.
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
