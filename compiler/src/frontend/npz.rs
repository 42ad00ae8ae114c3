//! Reader for NumPy `.npz` archives (z80ai's export format): a zip of `.npy` files.

use std::io::Read;
use std::path::Path;

use super::tensors::{Tensor, TensorData, TensorMap};
use crate::diag::{Diagnostic, Result};

/// Read every array of an `.npz` file.
pub fn read_npz(path: &Path) -> Result<TensorMap> {
    let file = std::fs::File::open(path)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot open weights file: {e}")))?;
    let bad = |m: String| Diagnostic::in_file(path, m);
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| bad(format!("not a NumPy .npz archive (zip): {e}")))?;
    let mut out = TensorMap::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| bad(format!("cannot read archive entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(format!("archive entry {i} has a bad name: {e}")))?
            .to_string();
        let Some(key) = name.strip_suffix(".npy") else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("cannot read {name}: {e}")))?;
        let t = parse_npy(&bytes).map_err(|m| bad(format!("{name}: {m}")))?;
        out.insert(key.to_string(), t);
    }
    Ok(out)
}

/// Parse one `.npy` file (format versions 1.0–3.0, C order).
pub fn parse_npy(b: &[u8]) -> std::result::Result<Tensor, String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    let (hlen, hstart) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = b
        .get(hstart..hstart + hlen)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no descr")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or("header has no fortran_order")?;
    if fortran.trim() != "False" {
        return Err(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape_s = dict_value(header, "shape").ok_or("header has no shape")?;
    let shape: Vec<usize> = shape_s
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape {shape_s}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let body = &b[hstart + hlen..];
    let n: usize = shape.iter().product();
    let (order, kind, size) = split_descr(descr)?;
    let need = n.checked_mul(size).ok_or("array too large")?;
    if body.len() < need {
        return Err(format!(
            "data holds {} bytes, shape needs {need}",
            body.len()
        ));
    }
    if order == '>' && size > 1 {
        return Err(format!("big-endian dtype {descr} is not supported"));
    }
    let chunks = body[..need].chunks_exact(size.max(1));
    let (dtype, data) = match (kind, size) {
        ('S', _) => (
            format!("bytes{size}"),
            TensorData::Bytes(body[..need].to_vec()),
        ),
        ('i', 1) => (
            "int8".into(),
            TensorData::Int(chunks.map(|c| c[0] as i8 as i64).collect()),
        ),
        ('u', 1) | ('b', 1) => (
            "uint8".into(),
            TensorData::Int(chunks.map(|c| c[0] as i64).collect()),
        ),
        ('i', 2) => (
            "int16".into(),
            TensorData::Int(
                chunks
                    .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                    .collect(),
            ),
        ),
        ('u', 2) => (
            "uint16".into(),
            TensorData::Int(
                chunks
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                    .collect(),
            ),
        ),
        ('i', 4) => (
            "int32".into(),
            TensorData::Int(
                chunks
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                    .collect(),
            ),
        ),
        ('u', 4) => (
            "uint32".into(),
            TensorData::Int(
                chunks
                    .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as i64)
                    .collect(),
            ),
        ),
        ('i', 8) => (
            "int64".into(),
            TensorData::Int(
                chunks
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
        ),
        ('f', 4) => (
            "float32".into(),
            TensorData::Float(
                chunks
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
            ),
        ),
        ('f', 8) => (
            "float64".into(),
            TensorData::Float(
                chunks
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
        ),
        _ => return Err(format!("unsupported dtype {descr}")),
    };
    Ok(Tensor { shape, dtype, data })
}

fn split_descr(d: &str) -> std::result::Result<(char, char, usize), String> {
    let mut it = d.chars();
    let order = it.next().ok_or("empty dtype")?;
    let kind = it.next().ok_or("bad dtype")?;
    let size: usize = it
        .as_str()
        .parse()
        .map_err(|_| format!("unsupported dtype {d}"))?;
    Ok((order, kind, size))
}

/// The text of `key`'s value in a Python dict literal (values here have no nested dicts).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find(',').or_else(|| rest.find('}'))?
    };
    Some(&rest[..end])
}
