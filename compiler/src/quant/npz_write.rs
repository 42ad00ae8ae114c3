//! Writing NumPy `.npz` archives (uncompressed, fixed timestamps, so the same
//! tensors always give the same bytes).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// One array to store: name, shape and values.
pub enum Array<'a> {
    /// Stored as `<f4`.
    F32(&'a str, Vec<usize>, Vec<f32>),
    /// Stored as `|i1` (weights).
    I8(&'a str, Vec<usize>, Vec<i8>),
    /// Stored as `<i4` (biases).
    I32(&'a str, Vec<usize>, Vec<i32>),
}

/// The `.npy` bytes of one array (format 1.0).
fn npy(descr: &str, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_s = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    // Magic, version and length take 10 bytes; NumPy pads the header with
    // spaces and a newline to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The bytes of an `.npz` holding `arrays`, in the given order.
pub fn npz_bytes(arrays: &[Array]) -> std::io::Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default());
    for a in arrays {
        let (name, bytes) = match a {
            Array::F32(n, s, v) => {
                let body: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (n, npy("<f4", s, &body))
            }
            Array::I8(n, s, v) => {
                let body: Vec<u8> = v.iter().map(|&x| x as u8).collect();
                (n, npy("|i1", s, &body))
            }
            Array::I32(n, s, v) => {
                let body: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (n, npy("<i4", s, &body))
            }
        };
        zip.start_file(format!("{name}.npy"), opts)
            .map_err(std::io::Error::other)?;
        zip.write_all(&bytes)?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::npz::parse_npy;
    use crate::frontend::tensors::TensorData;

    #[test]
    fn written_arrays_read_back() {
        let b = npy("<f4", &[2, 1], &[0, 0, 128, 63, 0, 0, 0, 192]);
        let t = parse_npy(&b).expect("parses");
        assert_eq!(t.shape, vec![2, 1]);
        assert_eq!(t.data, TensorData::Float(vec![1.0, -2.0]));
        assert_eq!((b.len() - 8) % 64, 0);
    }
}
