//! Tensors whose data lives in a file beside the model (`external_data`:
//! `location`, `offset`, `length`), as PyTorch 2's default exporter writes
//! `model.onnx` + `model.onnx.data`.
//!
//! The file is untrusted like the model: the location must be a relative path
//! inside the model's folder (no `..`, no symlink leading out), the byte range
//! must lie inside the file and match the tensor's declared size, and every
//! check runs before anything is allocated. All external bytes together count
//! against the model file's limit ([`super::MAX_FILE_BYTES`]).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use super::proto::{data_type, TensorProto};
use super::tensor;

/// Where external data is read from, and how many bytes may still be read.
#[derive(Debug, Clone)]
pub struct ExternalFiles {
    /// The model's folder; `None` when the model came from memory.
    dir: Option<PathBuf>,
    /// Bytes left under the limit.
    budget: u64,
}

impl ExternalFiles {
    /// External data beside a model in `dir`, at most `budget` bytes in all.
    pub fn in_folder(dir: &Path, budget: u64) -> ExternalFiles {
        ExternalFiles {
            dir: Some(dir.to_path_buf()),
            budget,
        }
    }

    /// No folder: a tensor with external data is an error.
    pub fn none() -> ExternalFiles {
        ExternalFiles {
            dir: None,
            budget: 0,
        }
    }

    /// `t` with its external data read into `raw_data`, or `t` unchanged when
    /// its data is inline. Errors are phrased to follow "tensor `NAME` ".
    pub fn resolve<'t>(
        &mut self,
        t: &'t TensorProto,
    ) -> Result<std::borrow::Cow<'t, TensorProto>, String> {
        if t.data_location != 1 && t.external_data.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(t));
        }
        let field = |key: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.as_str())
        };
        let location = field("location")
            .filter(|l| !l.is_empty())
            .ok_or("keeps its data in an external file but names no `location`")?;
        let Some(dir) = &self.dir else {
            return Err(format!(
                "keeps its data in an external file (`{location}`), which is read only \
                 when the model is loaded from its folder"
            ));
        };
        let path = inside(dir, location)?;
        let number = |key: &str| -> Result<Option<u64>, String> {
            field(key)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        format!("keeps its data in `{location}` at {key} `{v}`, not a byte count")
                    })
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let length = number("length")?;
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("keeps its data in `{location}`, which cannot be read: {e}"))?
            .len();
        if offset > size {
            return Err(format!(
                "keeps its data in `{location}` at offset {offset}, past the end of the file \
                 ({size} bytes)"
            ));
        }
        // `length` absent means "to the end of the file", as ONNX reads it.
        let end = match length {
            Some(len) => offset.checked_add(len).ok_or_else(|| {
                format!(
                    "keeps its data in `{location}` at offset {offset} with length {len}, \
                     which overflows"
                )
            })?,
            None => size,
        };
        if end > size {
            return Err(format!(
                "keeps its data in `{location}` at bytes {offset}..{end}, past the end of the \
                 file ({size} bytes)"
            ));
        }
        let len = end - offset;
        let elem = elem_size(t.data_type).ok_or_else(|| {
            format!(
                "keeps {} data in an external file; only float, double, int32 and int64 can be",
                data_type::name(t.data_type)
            )
        })?;
        let (_, n) = tensor::check_dims(&t.dims)?;
        // n ≤ MAX_ELEMENTS, so this cannot overflow.
        let need = (n * elem) as u64;
        if len != need {
            return Err(format!(
                "keeps {len} bytes in `{location}` but its dimensions {:?} need {need}",
                t.dims
            ));
        }
        if len > self.budget {
            return Err(format!(
                "keeps {len} bytes in `{location}`, over what is left of the limit of {} bytes \
                 for a model and its data ({} bytes)",
                super::MAX_FILE_BYTES,
                self.budget
            ));
        }
        self.budget -= len;
        let cannot = |e: std::io::Error| format!("keeps its data in `{location}`: {e}");
        let mut f = std::fs::File::open(&path).map_err(cannot)?;
        f.seek(SeekFrom::Start(offset)).map_err(cannot)?;
        // `len` is bounded by the tensor limit and the file's size, checked above.
        let mut raw = Vec::with_capacity(len as usize);
        f.take(len).read_to_end(&mut raw).map_err(cannot)?;
        if raw.len() as u64 != len {
            return Err(format!(
                "keeps its data in `{location}`, which ended after {} of {len} bytes",
                raw.len()
            ));
        }
        Ok(std::borrow::Cow::Owned(TensorProto {
            raw_data: raw,
            external_data: Vec::new(),
            data_location: 0,
            ..t.clone()
        }))
    }
}

/// The bytes per element of a type external data may hold.
fn elem_size(t: i32) -> Option<usize> {
    match t {
        data_type::FLOAT | data_type::INT32 => Some(4),
        data_type::DOUBLE | data_type::INT64 => Some(8),
        _ => None,
    }
}

/// `location` inside `dir`: relative, without `..`, and (symlinks resolved)
/// still inside the folder, naming a regular file.
fn inside(dir: &Path, location: &str) -> Result<PathBuf, String> {
    let rel = Path::new(location);
    let escapes = |why: &str| format!("keeps its data at `{location}`, {why}");
    if rel.is_absolute() || rel.has_root() {
        return Err(escapes(
            "an absolute path; external data must be in the model's folder",
        ));
    }
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(escapes("outside the model's folder"));
    }
    let cannot =
        |e: std::io::Error| format!("keeps its data in `{location}`, which cannot be read: {e}");
    let folder = dir.canonicalize().map_err(cannot)?;
    let path = folder.join(rel).canonicalize().map_err(cannot)?;
    if !path.starts_with(&folder) {
        return Err(format!(
            "keeps its data in `{location}`, which resolves to {}, outside the model's folder",
            path.display()
        ));
    }
    if !path.is_file() {
        return Err(format!(
            "keeps its data in `{location}`, which is not a regular file"
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::onnx::proto::StringStringEntryProto;

    fn external(location: &str, n: i64) -> TensorProto {
        TensorProto {
            name: "w".into(),
            dims: vec![n],
            data_type: data_type::FLOAT,
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: location.into(),
            }],
            data_location: 1,
            ..Default::default()
        }
    }

    #[test]
    fn all_external_bytes_count_against_one_budget() {
        let dir = std::env::temp_dir().join(format!("zlmc-external-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.bin"), 1.5f32.to_le_bytes().repeat(2)).unwrap();
        // Two 8-byte tensors fit 16 bytes; a third does not.
        let mut files = ExternalFiles::in_folder(&dir, 16);
        let w = external("a.bin", 2);
        for _ in 0..2 {
            let t = files.resolve(&w).unwrap();
            assert_eq!(t.raw_data, 1.5f32.to_le_bytes().repeat(2));
            assert!(t.external_data.is_empty() && t.data_location == 0);
        }
        let e = files.resolve(&w).unwrap_err();
        assert!(
            e.starts_with("keeps 8 bytes in `a.bin`, over what is left of the limit"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inline_tensors_are_borrowed_untouched() {
        let t = TensorProto {
            raw_data: vec![0; 4],
            ..Default::default()
        };
        let mut files = ExternalFiles::none();
        assert!(matches!(
            files.resolve(&t),
            Ok(std::borrow::Cow::Borrowed(_))
        ));
        let e = files.resolve(&external("a.bin", 1)).unwrap_err();
        assert!(
            e.contains("read only when the model is loaded from its folder"),
            "{e}"
        );
    }
}
