//! Reader for `.safetensors` weights files.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::tensors::{Elem, Tensor, TensorMap};
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
        let elem = match view.dtype() {
            Dtype::I8 => Elem::I8,
            Dtype::U8 => Elem::U8,
            Dtype::I16 => Elem::I16,
            Dtype::U16 => Elem::U16,
            Dtype::I32 => Elem::I32,
            Dtype::U32 => Elem::U32,
            Dtype::I64 => Elem::I64,
            Dtype::F16 => Elem::F16,
            Dtype::BF16 => Elem::Bf16,
            Dtype::F32 => Elem::F32,
            Dtype::F64 => Elem::F64,
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
                dtype: elem.name().to_string(),
                data: elem.decode(b),
            },
        );
    }
    Ok(out)
}
