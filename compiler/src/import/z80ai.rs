//! `zlmc import z80ai`: write a spec for a model exported by z80ai's trainer.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::diag::{Diagnostic, Result};
use crate::frontend::{is_identifier, npz};
use crate::output;

/// z80ai's `_architecture` record.
#[derive(Debug, Deserialize)]
struct Architecture {
    input_size: usize,
    hidden_sizes: Vec<usize>,
    num_classes: usize,
}

/// Write `dir/model.yaml` describing the z80ai export `npz_path`.
pub fn import_z80ai(npz_path: &Path, dir: &Path, name: Option<&str>, force: bool) -> Result<()> {
    let tensors = npz::read_npz(npz_path)?;
    let bad = |m: &str| Diagnostic::in_file(npz_path, format!("not a z80ai export: {m}"));
    let arch = tensors
        .get("_architecture")
        .and_then(|t| t.bytes())
        .ok_or_else(|| bad("no `_architecture` record"))?;
    let arch: Architecture = serde_yaml::from_slice(arch)
        .map_err(|e| bad(&format!("cannot read `_architecture`: {e}")))?;
    let charset = tensors
        .get("_charset")
        .and_then(|t| t.bytes())
        .ok_or_else(|| bad("no `_charset` record"))?;
    if charset.len() != arch.num_classes {
        return Err(bad(&format!(
            "the charset has {} characters for {} classes",
            charset.len(),
            arch.num_classes
        )));
    }
    if !arch.input_size.is_multiple_of(2) || !(arch.input_size / 2).is_power_of_two() {
        return Err(bad(&format!(
            "input size {} is not two power-of-two halves (query and context buckets)",
            arch.input_size
        )));
    }
    let name = match name {
        Some(n) => n.to_string(),
        None => default_name(npz_path),
    };
    if !is_identifier(&name) {
        return Err(
            Diagnostic::new(format!("model name `{name}` is not an identifier"))
                .help("pass --name with letters, digits and _"),
        );
    }
    let weights = relative_to(npz_path, dir)?;
    let yaml = spec_text(&name, &weights, &arch, charset, npz_path);
    // The spec is meant to be edited: never lose edits without --force.
    let dest = dir.join("model.yaml");
    if !force && dest.exists() && std::fs::read(&dest).ok().as_deref() != Some(yaml.as_bytes()) {
        return Err(Diagnostic::in_file(
            &dest,
            "exists and differs from the imported spec; not overwritten",
        )
        .help("pass --force to overwrite it"));
    }
    output::write_all(dir, &[("model.yaml".to_string(), yaml.into_bytes())])
}

/// The npz's folder name, made into an identifier.
fn default_name(npz: &Path) -> String {
    let folder = std::path::absolute(npz)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "model".into());
    super::identifier_from(&folder)
}

/// `target`'s path as seen from folder `from` (which may not exist yet).
fn relative_to(target: &Path, from: &Path) -> Result<String> {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .map_err(|e| Diagnostic::in_file(p, format!("cannot resolve path: {e}")))
    };
    let t = normalize(&abs(target)?);
    let f = normalize(&abs(from)?);
    let tc: Vec<Component> = t.components().collect();
    let fc: Vec<Component> = f.components().collect();
    let common = tc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        // Nothing shared but the root: an absolute path reads better.
        return Ok(t.to_string_lossy().replace('\\', "/"));
    }
    let mut rel = PathBuf::new();
    for _ in common..fc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c);
    }
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// A YAML double-quoted string holding `bytes` exactly.
pub fn yaml_quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0 => s.push_str("\\0"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn spec_text(name: &str, weights: &str, arch: &Architecture, charset: &[u8], npz: &Path) -> String {
    let half = arch.input_size / 2;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Imported by zlmc {} from {} (a z80ai export).",
        crate::driver::VERSION,
        npz.display()
    );
    let _ = writeln!(s, "zlmc: 1");
    let _ = writeln!(s, "name: {name}");
    let _ = writeln!(s, "weights: {}", yaml_quote(weights.as_bytes()));
    let _ = writeln!(s, "input:");
    let _ = writeln!(s, "  - query_trigram: {{buckets: {half}}}");
    let _ = writeln!(s, "  - context_ngram: {{buckets: {half}, length: 8}}");
    let _ = writeln!(s, "numerics:");
    let _ = writeln!(s, "  weights: int2");
    let _ = writeln!(s, "  accumulator: 16");
    let _ = writeln!(s, "layers:");
    let sizes: Vec<usize> = arch
        .hidden_sizes
        .iter()
        .copied()
        .chain([arch.num_classes])
        .collect();
    for (i, units) in sizes.iter().enumerate() {
        let act = if i + 1 < sizes.len() { "relu" } else { "none" };
        let _ = writeln!(
            s,
            "  - {{name: fc{}, units: {units}, shift: 2, activation: {act}}}",
            i + 1
        );
    }
    let _ = writeln!(s, "output:");
    let _ = writeln!(s, "  generate:");
    let _ = writeln!(s, "    charset: {}", yaml_quote(charset));
    let _ = writeln!(s, "    eos: last");
    let _ = writeln!(s, "    max_length: 50");
    s
}
