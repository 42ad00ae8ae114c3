//! Feature data for calibration and evaluation: `.npz` (`x`/`y`, or
//! `x_calib`/`y_calib` and `x_test`/`y_test`) or `.csv` (see [`load`]).
//! Calibration never needs labels, so data without them calibrates; only
//! measuring accuracy needs them (calibration takes them when they are there,
//! to report the accuracy the quantization costs).

use std::path::Path;

use crate::diag::{Diagnostic, Result};
use crate::frontend::npz::read_npz_as;
use crate::frontend::tensors::{Tensor, TensorData};

/// Feature vectors and, when the split needs them, their labels.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// One float feature vector per sample.
    pub x: Vec<Vec<f32>>,
    /// The label of each sample. For [`Split::Calibrate`], which never needs
    /// them, the labels when the file has valid ones, else empty.
    pub y: Vec<usize>,
}

/// Which part of a data file to read, and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Calibration samples, no labels: `x_calib`, else `x`, else `x_train`.
    /// `features` is the model's input count, which tells a `.csv` row of
    /// features alone from one with a label after them.
    Calibrate {
        /// The number of features the model takes.
        features: usize,
    },
    /// Labelled test samples: `x_test`/`y_test`, else `x`/`y`.
    Test,
    /// Training samples, labels when there are valid ones (as for
    /// calibration): `x_train`, else `x_calib`, else `x`.
    Train {
        /// The number of features the model takes.
        features: usize,
    },
}

impl Split {
    /// What a file read for this split is, for error messages.
    fn file_kind(self) -> &'static str {
        match self {
            Split::Calibrate { .. } => "calibration data file",
            Split::Test => "data file",
            Split::Train { .. } => "training data file",
        }
    }

    /// Whether labels are optional (taken only when valid).
    fn labels_optional(self) -> bool {
        !matches!(self, Split::Test)
    }
}

/// Names a `.csv` header may give the label column (compared ignoring case).
const LABEL_COLUMNS: [&str; 5] = ["y", "label", "labels", "target", "class"];

/// Read the `split` samples of a `.npz` or `.csv` data file.
///
/// A `.csv` holds one sample per row. A first row that is not all numbers is
/// a header; a header column named `y`, `label`, `labels`, `target` or
/// `class` is the label. Without such a column the label is the last one,
/// except for calibration when a row has exactly as many columns as the model
/// has features: then every column is a feature.
pub fn load(path: &Path, split: Split) -> Result<Dataset> {
    let d = match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => load_npz(path, split)?,
        Some("csv") => load_csv(path, split)?,
        _ => {
            return Err(Diagnostic::in_file(
                path,
                "unknown data format: expected .npz (x, and y labels) or .csv",
            ))
        }
    };
    if d.x.is_empty() {
        return Err(Diagnostic::in_file(path, "the data holds no samples"));
    }
    Ok(d)
}

/// What a file without labels is told when labels are needed.
const NEEDS_LABELS: &str = "measuring accuracy needs labels; calibration (`--calibrate`) does not";

fn load_npz(path: &Path, split: Split) -> Result<Dataset> {
    let t = read_npz_as(path, split.file_kind())?;
    let order: &[&str] = match split {
        Split::Calibrate { .. } => &["calib", "", "train"],
        Split::Test => &["test", ""],
        Split::Train { .. } => &["train", "calib", ""],
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
    let x = &t[&xn];
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
    let xs = floats(x).map_err(|m| bad(format!("`{xn}`: {m}")))?;
    let x = xs.chunks(f.max(1)).map(<[f32]>::to_vec).collect();
    // `labels` is what zlmc's ONNX fixtures call the classes of `x`.
    let yn = [key("y", s), key("labels", s)]
        .into_iter()
        .find(|k| t.contains_key(k));
    if split.labels_optional() {
        // Labels only add the accuracy drop to the report: take them when they are valid.
        let y = yn
            .and_then(|k| labels(&t[&k]).ok())
            .filter(|y| y.len() == n)
            .unwrap_or_default();
        return Ok(Dataset { x, y });
    }
    let yn = yn.ok_or_else(|| {
        bad(format!("`{xn}` has no `{}` labels beside it", key("y", s))).help(NEEDS_LABELS)
    })?;
    let y = &t[&yn];
    if y.elements() != n {
        return Err(bad(format!(
            "`{xn}` holds {n} samples but `{yn}` {} labels",
            y.elements()
        )));
    }
    let y = labels(y).map_err(|m| bad(format!("`{yn}`: {m}")))?;
    Ok(Dataset { x, y })
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

/// Where the label is in a `.csv` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelColumn {
    /// At this index.
    At(usize),
    /// None: every column is a feature.
    Absent,
}

fn load_csv(path: &Path, split: Split) -> Result<Dataset> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::in_file(path, format!("cannot open {}: {e}", split.file_kind()))
    })?;
    let mut d = Dataset::default();
    // The header's label column, once a header is seen.
    let mut named: Option<Option<usize>> = None;
    let mut layout: Option<(usize, LabelColumn)> = None;
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
            if layout.is_none() && named.is_none() {
                named = Some(
                    cells
                        .iter()
                        .position(|c| LABEL_COLUMNS.iter().any(|l| c.eq_ignore_ascii_case(l))),
                );
                continue;
            }
            return Err(Diagnostic::in_file(path, "a cell is not a number").at(at));
        };
        let (width, label) = match layout {
            Some(l) => l,
            None => {
                let l = (nums.len(), label_column(nums.len(), named.flatten(), split));
                layout = Some(l);
                l
            }
        };
        if nums.len() != width {
            return Err(Diagnostic::in_file(
                path,
                format!(
                    "{} columns; every row needs the same count as the first ({width})",
                    nums.len()
                ),
            )
            .at(at));
        }
        let (label, feats): (Option<f64>, Vec<f32>) = match label {
            LabelColumn::At(k) => (
                Some(nums[k]),
                nums.iter()
                    .enumerate()
                    .filter(|&(j, _)| j != k)
                    .map(|(_, &v)| v as f32)
                    .collect(),
            ),
            LabelColumn::Absent => (None, nums.iter().map(|&v| v as f32).collect()),
        };
        if feats.is_empty() {
            return Err(Diagnostic::in_file(path, "a row holds a label but no features").at(at));
        }
        d.x.push(feats);
        // Calibration never needs labels: any value in their column will do,
        // and the labels are kept only while every one is a class index.
        if let (Some(label), true) = (label, split.labels_optional()) {
            if label >= 0.0 && label.fract() == 0.0 && d.y.len() + 1 == d.x.len() {
                d.y.push(label as usize);
            }
        }
        if let (Some(label), Split::Test) = (label, split) {
            if !(label >= 0.0 && label.fract() == 0.0) {
                return Err(Diagnostic::in_file(
                    path,
                    format!("label {label} is not a class index"),
                )
                .at(at)
                .help(format!(
                    "the label is the last column unless a header names another ({}); \
                     {NEEDS_LABELS}",
                    LABEL_COLUMNS.join(", ")
                )));
            }
            d.y.push(label as usize);
        }
    }
    if d.y.len() != d.x.len() {
        d.y.clear();
    }
    Ok(d)
}

/// The label column of rows `width` wide: the header's, else none where
/// calibration finds exactly the model's features, else the last.
fn label_column(width: usize, named: Option<usize>, split: Split) -> LabelColumn {
    match (named, split) {
        (Some(k), _) if k < width => LabelColumn::At(k),
        (_, Split::Calibrate { features } | Split::Train { features }) if width == features => {
            LabelColumn::Absent
        }
        _ => LabelColumn::At(width - 1),
    }
}
