//! Scoring a model that gives values (regression, scores) rather than a
//! class: the mean absolute error of its values against the labels, and
//! against the float model it was quantized from.

use std::path::Path;

use crate::diag::{Diagnostic, Result};
use crate::frontend::npz::read_npz_as;
use crate::frontend::tensors::TensorData;
use crate::quant::float_model::FloatMlp;

/// Feature vectors and the values a model should give for them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueData {
    /// One float feature vector per sample.
    pub x: Vec<Vec<f32>>,
    /// The expected values of each sample.
    pub y: Vec<Vec<f64>>,
}

/// How a values model did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ValuesScore {
    /// Values per sample.
    pub outputs: usize,
    /// Mean absolute error against the labels, over every sample and value.
    pub mae: f64,
    /// The float reference's mean absolute error against the labels.
    pub float_mae: Option<f64>,
    /// Mean absolute difference from the float reference's values.
    pub mae_to_float: Option<f64>,
}

/// The mean of `|a − b|` over every value of every sample.
pub fn mean_abs_error(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (p, q) in a.iter().zip(b) {
        for (x, y) in p.iter().zip(q) {
            sum += (x - y).abs();
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// The float model's values for every sample.
pub fn float_values(m: &FloatMlp, d: &ValueData) -> Vec<Vec<f64>> {
    d.x.iter()
        .map(|x| m.eval(x).into_iter().map(f64::from).collect())
        .collect()
}

/// Score `got`, a model's values for `d`, against the labels and, when
/// given, against the float reference's values `float`.
pub fn score(got: &[Vec<f64>], d: &ValueData, float: Option<&[Vec<f64>]>) -> ValuesScore {
    ValuesScore {
        outputs: d.y.first().map_or(0, Vec::len),
        mae: mean_abs_error(got, &d.y),
        float_mae: float.map(|f| mean_abs_error(f, &d.y)),
        mae_to_float: float.map(|f| mean_abs_error(got, f)),
    }
}

/// Read labelled samples for a model of `outputs` values from `.npz`
/// (`x_test`/`y_test`, else `x`/`y`; `y` holds `outputs` numbers a sample)
/// or `.csv` (a row's last `outputs` columns are its values; a first row that
/// is not all numbers is a header).
pub fn load(path: &Path, features: usize, outputs: usize) -> Result<ValueData> {
    let d = match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => load_npz(path, outputs)?,
        Some("csv") => load_csv(path, features, outputs)?,
        _ => {
            return Err(Diagnostic::in_file(
                path,
                "unknown data format: expected .npz (x, and y values) or .csv",
            ))
        }
    };
    if d.x.is_empty() {
        return Err(Diagnostic::in_file(path, "the data holds no samples"));
    }
    if d.x[0].len() != features {
        return Err(Diagnostic::in_file(
            path,
            format!(
                "samples have {} features, the model takes {features}",
                d.x[0].len()
            ),
        ));
    }
    Ok(d)
}

fn numbers(t: &TensorData) -> Option<Vec<f64>> {
    match t {
        TensorData::Float(v) => Some(v.clone()),
        TensorData::Int(v) => Some(v.iter().map(|&x| x as f64).collect()),
        TensorData::Bytes(_) => None,
    }
}

fn load_npz(path: &Path, outputs: usize) -> Result<ValueData> {
    let t = read_npz_as(path, "data file")?;
    let bad = |m: String| Diagnostic::in_file(path, m);
    let (xn, yn) = if t.contains_key("x_test") {
        ("x_test", "y_test")
    } else {
        ("x", "y")
    };
    let x = t
        .get(xn)
        .ok_or_else(|| bad("no `x` or `x_test` array in the data".into()))?;
    let y = t
        .get(yn)
        .ok_or_else(|| bad(format!("`{xn}` has no `{yn}` values beside it")))?;
    let n = x.shape.first().copied().unwrap_or(0);
    let xs = numbers(&x.data).ok_or_else(|| bad(format!("`{xn}` holds bytes, not numbers")))?;
    let ys = numbers(&y.data).ok_or_else(|| bad(format!("`{yn}` holds bytes, not numbers")))?;
    if n == 0 || ys.len() != n * outputs {
        return Err(bad(format!(
            "`{xn}` holds {n} samples but `{yn}` {} numbers; a model of {outputs} value{} needs {}",
            ys.len(),
            if outputs == 1 { "" } else { "s" },
            n * outputs
        )));
    }
    let f = xs.len() / n;
    Ok(ValueData {
        x: xs
            .chunks(f.max(1))
            .map(|r| r.iter().map(|&v| v as f32).collect())
            .collect(),
        y: ys.chunks(outputs.max(1)).map(<[f64]>::to_vec).collect(),
    })
}

fn load_csv(path: &Path, features: usize, outputs: usize) -> Result<ValueData> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::in_file(path, format!("cannot open data file: {e}")))?;
    let mut d = ValueData::default();
    let mut seen_row = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = Some((i + 1, 1));
        let nums: std::result::Result<Vec<f64>, _> =
            line.split(',').map(|c| c.trim().parse::<f64>()).collect();
        let Ok(nums) = nums else {
            if !seen_row {
                seen_row = true;
                continue; // a header
            }
            return Err(Diagnostic::in_file(path, "a cell is not a number").at(at));
        };
        seen_row = true;
        if nums.len() != features + outputs {
            return Err(Diagnostic::in_file(
                path,
                format!(
                    "{} columns; a row needs the model's {features} features and then its {outputs} value{}",
                    nums.len(),
                    if outputs == 1 { "" } else { "s" }
                ),
            )
            .at(at));
        }
        d.x.push(nums[..features].iter().map(|&v| v as f32).collect());
        d.y.push(nums[features..].to_vec());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_is_averaged_over_every_value() {
        let a = vec![vec![1.0, 2.0], vec![0.0, -1.0]];
        let b = vec![vec![1.5, 2.0], vec![1.0, -1.0]];
        assert_eq!(mean_abs_error(&a, &b), 1.5 / 4.0);
    }

    #[test]
    fn csv_values_are_the_last_columns() {
        let dir = std::env::temp_dir().join(format!("zlmc-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("d.csv");
        std::fs::write(&p, "a,b,target\n1,2,0.5\n3,4,-1.25\n").unwrap();
        let d = load(&p, 2, 1).unwrap();
        assert_eq!(d.x, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        assert_eq!(d.y, vec![vec![0.5], vec![-1.25]]);
        let e = load(&p, 1, 1).unwrap_err().to_string();
        assert!(
            e.contains("3 columns; a row needs the model's 1 features and then its 1 value"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
