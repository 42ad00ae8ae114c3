//! Labelled feature data for calibration and evaluation: `.npz` (`x`/`y`, or
//! `x_calib`/`y_calib` and `x_test`/`y_test`) or `.csv` (label in the last column).

use std::path::Path;

use crate::diag::{Diagnostic, Result};
use crate::frontend::npz::read_npz;
use crate::frontend::tensors::{Tensor, TensorData};

/// Feature vectors and their labels (class indices).
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// One float feature vector per sample.
    pub x: Vec<Vec<f32>>,
    /// The label of each sample.
    pub y: Vec<usize>,
}

/// Which part of a data file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Calibration samples: `x_calib`, else `x`, else `x_train`.
    Calibrate,
    /// Test samples: `x_test`, else `x`.
    Test,
}

/// Read the `split` samples of a `.npz` or `.csv` data file.
pub fn load(path: &Path, split: Split) -> Result<Dataset> {
    let d = match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => load_npz(path, split)?,
        Some("csv") => load_csv(path)?,
        _ => {
            return Err(Diagnostic::in_file(
                path,
                "unknown data format: expected .npz (x, y) or .csv (label last)",
            ))
        }
    };
    if d.x.is_empty() {
        return Err(Diagnostic::in_file(path, "the data holds no samples"));
    }
    Ok(d)
}

fn load_npz(path: &Path, split: Split) -> Result<Dataset> {
    let t = read_npz(path)?;
    let order: &[&str] = match split {
        Split::Calibrate => &["calib", "", "train"],
        Split::Test => &["test", ""],
    };
    let key = |p: &str, s: &str| {
        if s.is_empty() {
            p.to_string()
        } else {
            format!("{p}_{s}")
        }
    };
    let Some(s) = order.iter().find(|s| t.contains_key(&key("x", s))) else {
        let have: Vec<&str> = t.keys().map(String::as_str).collect();
        return Err(Diagnostic::in_file(
            path,
            format!("no `{}` array in the data", key("x", order[0])),
        )
        .help(format!(
            "the file holds: {}; expected x/y or x_calib/y_calib and x_test/y_test",
            have.join(", ")
        )));
    };
    let xn = key("x", s);
    // `labels` is what zlmc's ONNX fixtures call the classes of `x`.
    let yn = [key("y", s), key("labels", s)]
        .into_iter()
        .find(|k| t.contains_key(k))
        .ok_or_else(|| {
            Diagnostic::in_file(
                path,
                format!("`{xn}` has no `{}` labels beside it", key("y", s)),
            )
        })?;
    let x = &t[&xn];
    let y = &t[&yn];
    let bad = |m: String| Diagnostic::in_file(path, m);
    // Samples may be images: every dimension after the first is flattened.
    let (n, f) = match x.shape[..] {
        [n, ref rest @ ..] if !rest.is_empty() => (n, rest.iter().product::<usize>()),
        _ => {
            return Err(bad(format!(
                "`{xn}` has shape {:?}; expected [samples, features]",
                x.shape
            )))
        }
    };
    if y.elements() != n {
        return Err(bad(format!(
            "`{xn}` holds {n} samples but `{yn}` {} labels",
            y.elements()
        )));
    }
    let xs = floats(x).map_err(|m| bad(format!("`{xn}`: {m}")))?;
    let ys = labels(y).map_err(|m| bad(format!("`{yn}`: {m}")))?;
    Ok(Dataset {
        x: xs.chunks(f.max(1)).map(<[f32]>::to_vec).collect(),
        y: ys,
    })
}

fn floats(t: &Tensor) -> std::result::Result<Vec<f32>, String> {
    match &t.data {
        TensorData::Float(v) => Ok(v.iter().map(|&x| x as f32).collect()),
        TensorData::Int(v) => Ok(v.iter().map(|&x| x as f32).collect()),
        TensorData::Bytes(_) => Err("holds bytes, not numbers".into()),
    }
}

fn labels(t: &Tensor) -> std::result::Result<Vec<usize>, String> {
    let as_label = |v: f64| {
        if v >= 0.0 && v.fract() == 0.0 {
            Ok(v as usize)
        } else {
            Err(format!("label {v} is not a class index"))
        }
    };
    match &t.data {
        TensorData::Int(v) => v.iter().map(|&x| as_label(x as f64)).collect(),
        TensorData::Float(v) => v.iter().map(|&x| as_label(x)).collect(),
        TensorData::Bytes(_) => Err("holds bytes, not labels".into()),
    }
}

fn load_csv(path: &Path) -> Result<Dataset> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot read data: {e}")))?;
    let mut d = Dataset::default();
    let mut width = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = Some((i + 1, 1));
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let nums: std::result::Result<Vec<f64>, _> =
            cells.iter().map(|c| c.parse::<f64>()).collect();
        let Ok(nums) = nums else {
            // A header line names the columns.
            if d.x.is_empty() && width.is_none() {
                width = Some(cells.len());
                continue;
            }
            return Err(Diagnostic::in_file(path, "a cell is not a number").at(at));
        };
        if nums.len() < 2 || width.is_some_and(|w| w != nums.len()) {
            return Err(Diagnostic::in_file(
                path,
                format!(
                    "{} columns; every row needs the same count, at least 2",
                    nums.len()
                ),
            )
            .at(at));
        }
        width = Some(nums.len());
        let (label, feats) = nums.split_last().expect("two or more");
        if !(*label >= 0.0 && label.fract() == 0.0) {
            return Err(
                Diagnostic::in_file(path, format!("label {label} is not a class index")).at(at),
            );
        }
        d.y.push(*label as usize);
        d.x.push(feats.iter().map(|&v| v as f32).collect());
    }
    Ok(d)
}
