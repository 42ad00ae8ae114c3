//! Writing generated files: all of them or none.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Result};

/// A generated file: name inside the output folder, and contents.
pub type OutFile = (String, Vec<u8>);

/// Write `files` into `dir` (created if needed) so that a failure leaves
/// nothing half-written: everything goes to a temporary folder first and is
/// then renamed into place.
pub fn write_all(given: &Path, files: &[OutFile]) -> Result<()> {
    let dir = &std::path::absolute(given)
        .map_err(|e| Diagnostic::in_file(given, format!("cannot resolve output folder: {e}")))?;
    // The temporary folder goes in the nearest folder that exists, so that
    // missing parents are only created once everything else succeeded.
    let mut parent: PathBuf = dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    while !parent.is_dir() {
        match parent.parent() {
            Some(p) => parent = p.to_path_buf(),
            None => {
                return Err(Diagnostic::in_file(
                    given,
                    "cannot create output folder: no existing parent folder",
                ))
            }
        }
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Diagnostic::in_file(
            given,
            "output path exists and is not a folder",
        ));
    }
    // Every destination is checked before anything is written, so a bad one
    // cannot leave the others behind.
    for (name, _) in files {
        let to = dir.join(name);
        if to.is_dir() {
            return Err(Diagnostic::in_file(
                &given.join(name),
                "cannot write: a folder is in the way",
            ));
        }
    }
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    // Part of the name at most: a long model name must fail on the file it
    // names, not on the temporary folder.
    let base: String = base.chars().take(32).collect();
    let tmp = parent.join(format!(".{base}.zlmc-tmp-{}", std::process::id()));
    // Errors name the path the user gave (or a file in it), never the temporary folder.
    let io = |e: std::io::Error, p: &Path| {
        let shown = p
            .strip_prefix(&tmp)
            .or_else(|_| p.strip_prefix(dir))
            .map_or_else(|_| given.to_path_buf(), |rel| given.join(rel));
        let d = Diagnostic::in_file(&shown, format!("cannot write: {e}"));
        if e.kind() == std::io::ErrorKind::InvalidFilename {
            return d.help("the file is named after the model: give the model a shorter name");
        }
        d
    };
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(|e| io(e, &tmp))?;
        for (name, data) in files {
            let p = tmp.join(name);
            std::fs::write(&p, data).map_err(|e| io(e, &p))?;
        }
        if !dir.exists() {
            if let Some(p) = dir.parent() {
                std::fs::create_dir_all(p).map_err(|e| io(e, p))?;
            }
            return std::fs::rename(&tmp, dir).map_err(|e| io(e, dir));
        }
        for (name, _) in files {
            let to = dir.join(name);
            std::fs::rename(tmp.join(name), &to).map_err(|e| io(e, &to))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Write one file whole: to a temporary name beside it, then renamed.
pub fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Diagnostic::in_file(path, "not a file name"))?
        .to_string_lossy()
        .into_owned();
    write_all(dir, &[(name, data.to_vec())])
}
