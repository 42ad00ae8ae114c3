//! Reader for NumPy `.npz` archives (z80ai's export format): a zip of `.npy` files.

use std::io::Read;
use std::path::Path;

use super::tensors::{Elem, Tensor, TensorData, TensorMap};
use crate::diag::{Diagnostic, Result};

/// Read every array of an `.npz` weights file.
pub fn read_npz(path: &Path) -> Result<TensorMap> {
    read_npz_as(path, "weights file")
}

/// Read every array of an `.npz` file; `what` names the file in errors
/// ("weights file", "data file"), as only the caller knows what it is for.
pub fn read_npz_as(path: &Path, what: &str) -> Result<TensorMap> {
    let file = std::fs::File::open(path)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot open {what}: {e}")))?;
    let bad = |m: String| Diagnostic::in_file(path, m);
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| bad(format!("not a NumPy .npz archive (zip): {e}")))?;
    let mut out = TensorMap::new();
    let mut budget = MAX_TOTAL_BYTES;
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
        // The archive is untrusted: an entry may inflate far beyond the file's
        // size, so read only what the header's shape and dtype need, within limits.
        let bytes =
            read_bounded(&mut entry, &mut budget).map_err(|m| bad(format!("{name}: {m}")))?;
        let t = parse_npy(&bytes).map_err(|m| bad(format!("{name}: {m}")))?;
        out.insert(key.to_string(), t);
    }
    Ok(out)
}

/// Most bytes of data one array may hold.
pub const MAX_ARRAY_BYTES: usize = 16 << 20;
/// Most bytes of data all arrays of one file may hold together.
pub const MAX_TOTAL_BYTES: usize = 64 << 20;
/// Most elements one array may hold (the model's weight limit).
pub const MAX_ARRAY_ELEMENTS: usize = zlmc_ir::verify::limits::MAX_WEIGHTS;
/// Longest `.npy` header read.
const MAX_HEADER: usize = 1 << 16;

/// Read one `.npy` stream: its header, then only the data its shape needs,
/// refusing arrays over the limits before reading their data.
fn read_bounded(r: &mut dyn Read, budget: &mut usize) -> std::result::Result<Vec<u8>, String> {
    let mut b = Vec::new();
    let take = |r: &mut dyn Read, b: &mut Vec<u8>, n: usize| {
        let got = r
            .take(n as u64)
            .read_to_end(b)
            .map_err(|e| format!("cannot read: {e}"))?;
        if got < n {
            Err("truncated .npy data".to_string())
        } else {
            Ok(())
        }
    };
    take(r, &mut b, 10)?;
    if &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    let hlen = match b[6] {
        1 => u16::from_le_bytes([b[8], b[9]]) as usize,
        2 | 3 => {
            take(r, &mut b, 2)?;
            u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    if hlen > MAX_HEADER {
        return Err(format!(
            ".npy header of {hlen} bytes exceeds the limit of {MAX_HEADER}"
        ));
    }
    take(r, &mut b, hlen)?;
    let (n, size) = header_size(&b)?;
    if n > MAX_ARRAY_ELEMENTS {
        return Err(format!(
            "array of {n} elements exceeds the limit of {MAX_ARRAY_ELEMENTS}"
        ));
    }
    let need = n
        .checked_mul(size)
        .filter(|&need| need <= MAX_ARRAY_BYTES)
        .ok_or_else(|| format!("array data exceeds the limit of {MAX_ARRAY_BYTES} bytes"))?;
    if need > *budget {
        return Err(format!(
            "the arrays together exceed the limit of {MAX_TOTAL_BYTES} bytes"
        ));
    }
    *budget -= need;
    take(r, &mut b, need)?;
    Ok(b)
}

/// Element count and element size a complete `.npy` header declares.
fn header_size(b: &[u8]) -> std::result::Result<(usize, usize), String> {
    let (_, descr, shape) = parse_header(b)?;
    let (_, _, size) = split_descr(&descr)?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("array too large")?;
    Ok((n, size))
}

/// Split a `.npy` file into header end offset, dtype descriptor and shape.
fn parse_header(b: &[u8]) -> std::result::Result<(usize, String, Vec<usize>), String> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    let (hlen, hstart): (usize, usize) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = hstart
        .checked_add(hlen)
        .and_then(|end| b.get(hstart..end))
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
    Ok((hstart + hlen, descr.to_string(), shape))
}

/// Parse one `.npy` file (format versions 1.0–3.0, C order).
pub fn parse_npy(b: &[u8]) -> std::result::Result<Tensor, String> {
    let (hend, descr, shape) = parse_header(b)?;
    let descr = descr.as_str();
    let body = &b[hend..];
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("array too large")?;
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
    let body = &body[..need];
    let elem = match (kind, size) {
        ('S', _) => {
            let data = TensorData::Bytes(body.to_vec());
            let dtype = format!("bytes{size}");
            return Ok(Tensor { shape, dtype, data });
        }
        ('i', 1) => Elem::I8,
        ('u', 1) | ('b', 1) => Elem::U8,
        ('i', 2) => Elem::I16,
        ('u', 2) => Elem::U16,
        ('i', 4) => Elem::I32,
        ('u', 4) => Elem::U32,
        ('i', 8) => Elem::I64,
        ('f', 2) => Elem::F16,
        ('f', 4) => Elem::F32,
        ('f', 8) => Elem::F64,
        _ => return Err(format!("unsupported dtype {descr}")),
    };
    let (dtype, data) = (elem.name().to_string(), elem.decode(body));
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
