//! `zlmc compare`: one Markdown row per model (accuracy, weights' bytes,
//! flash and latency on a target, compression against the first model) and
//! an SVG chart of accuracy against bytes and against milliseconds per
//! inference.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::diag::{Diagnostic, Result};
use crate::evaluate::measure::MeasureTarget;
use crate::evaluate::{evaluate, Summary};
use crate::quant::agreement::significant;

/// One compared model.
#[derive(Debug, Clone)]
pub struct Row {
    /// How the table names it.
    pub label: String,
    /// What `eval` found.
    pub summary: Summary,
    /// Bytes its weights and biases take as stored: 4 a parameter for a
    /// float model, the weight kind's bits for an integer one. The same
    /// measure for every row, so the compression ratio compares like with like.
    pub weight_bytes: usize,
    /// Program bytes on the target, for a model built there.
    pub flash: Option<usize>,
}

impl Row {
    /// What the chart plots as the model's size: its flash on the target
    /// when there is a target, else its weights' bytes.
    fn chart_bytes(&self, target: Option<MeasureTarget>) -> Option<usize> {
        match target {
            Some(_) => self.flash,
            None => Some(self.weight_bytes),
        }
    }
}

/// A model's name in the table: its folder for `model.yaml`, "float
/// reference" for an importer's `float.yaml`, else its file stem.
pub fn label(path: &Path, float: bool) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned());
    match dir {
        Some(_) if float && stem == "float" => "float reference".to_string(),
        Some(d) if stem == "model" => d,
        _ if float => format!("{stem} (float)"),
        _ => stem,
    }
}

/// Bytes of weights and biases as stored (see [`Row::weight_bytes`]).
fn weight_bytes(s: &Summary) -> usize {
    if s.float {
        4 * s.params.total
    } else {
        (s.params.total * s.params.weight_bits as usize).div_ceil(8)
    }
}

/// Evaluate every model: all classifiers, or all models that give values.
pub fn rows(models: &[PathBuf], data: &Path, target: Option<MeasureTarget>) -> Result<Vec<Row>> {
    let rows: Vec<Row> = models
        .iter()
        .map(|p| {
            let summary = evaluate(p, data, target)?;
            Ok(Row {
                label: label(p, summary.float),
                weight_bytes: weight_bytes(&summary),
                flash: summary
                    .measured
                    .as_ref()
                    .map(|m| m.flash)
                    .filter(|&f| f > 0),
                summary,
            })
        })
        .collect::<Result<_>>()?;
    let values = rows.iter().filter(|r| r.summary.values.is_some()).count();
    if values != 0 && values != rows.len() {
        return Err(Diagnostic::new(
            "compare puts classifiers side by side, or models that give values, not both",
        ));
    }
    Ok(rows)
}

/// What the table's accuracy column shows: the accuracy, or a values
/// model's mean absolute error against the labels.
fn quality(s: &Summary) -> String {
    match &s.values {
        Some(v) => format!("MAE {}", significant(v.mae)),
        None => format!("{:.2} %", 100.0 * s.accuracy()),
    }
}

/// How much worse `s` does than `base`, as a fraction: the relative accuracy
/// drop, or for values models the relative growth of the mean absolute error.
fn drop_from(base: &Summary, s: &Summary) -> f64 {
    match (&base.values, &s.values) {
        (Some(b), Some(v)) if b.mae > 0.0 => (v.mae - b.mae) / b.mae,
        (Some(_), _) | (_, Some(_)) => 0.0,
        (None, None) => {
            let base_acc = base.accuracy();
            if base_acc > 0.0 {
                (base_acc - s.accuracy()) / base_acc
            } else {
                0.0
            }
        }
    }
}

/// `CR / (1 + drop)`, a gain over the base counting as no drop: the
/// formula turns negative past a gain of 100 %.
fn score(cr: f64, drop: f64) -> f64 {
    cr / (1.0 + drop.max(0.0))
}

/// The Markdown table; the first row is the base of CR and drop.
pub fn table(rows: &[Row], target: Option<MeasureTarget>) -> String {
    let mut t = String::new();
    let flash = match target {
        Some(t) => format!(" Flash ({}) |", t.name()),
        None => String::new(),
    };
    let flash_rule = if target.is_some() { "---:|" } else { "" };
    t.push_str(&format!(
        "| Model | Accuracy | Parameters | Weights |{flash} Latency | fits Arduino? | CR | drop | Score |\n\
         |---|---:|---:|---:|{flash_rule}---:|:---:|---:|---:|---:|\n"
    ));
    let Some(base) = rows.first() else {
        return t;
    };
    for r in rows {
        let s = &r.summary;
        let cr = base.weight_bytes as f64 / r.weight_bytes.max(1) as f64;
        let drop = drop_from(&base.summary, s);
        let m = s.measured.as_ref();
        let latency = match m.and_then(|m| m.ms.zip(m.cycles)) {
            Some((ms, c)) => format!("{ms:.2} ms ({c:.0} cycles)"),
            None => "—".into(),
        };
        let fits = match m.and_then(|m| m.fits) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        };
        let kind = if s.float {
            "float32".to_string()
        } else {
            format!("{}-bit", s.params.weight_bits)
        };
        let flash = match (target, r.flash) {
            (None, _) => String::new(),
            (Some(_), Some(f)) => format!(" {f} B |"),
            (Some(_), None) if s.float => " — (float: not built) |".to_string(),
            (Some(_), None) => " — |".to_string(),
        };
        t.push_str(&format!(
            "| {} | {} | {} ({} non-zero) | {} B {kind} |{flash} {latency} | {fits} | {cr:.2} | {:.2} % | {:.2} |\n",
            r.label,
            quality(s),
            s.params.total,
            s.params.nonzero,
            r.weight_bytes,
            100.0 * drop,
            score(cr, drop)
        ));
    }
    t
}

/// One panel of the chart: what its x axis shows, each row's x (none where
/// the row has no such figure) and a vertical limit line with its name.
struct Panel {
    xlabel: String,
    xs: Vec<Option<f64>>,
    limit: Option<(f64, &'static str)>,
}

/// The chart as SVG text: accuracy against bytes (flash on the target, or
/// the weights' bytes without one) and against milliseconds per inference.
/// Each model has a colour and a legend entry; a float reference without a
/// size or time on the target is a dashed line at its accuracy; the board's
/// flash is a vertical line.
pub fn chart(rows: &[Row], target: Option<MeasureTarget>) -> Result<String> {
    if rows.iter().any(|r| r.summary.values.is_some()) {
        return Err(Diagnostic::new(
            "the chart plots accuracy, which models that give values do not have",
        )
        .help("compare them by the table's mean absolute error, without --chart"));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 460)).into_drawing_area();
        let fail = |e: String| Diagnostic::new(format!("cannot draw the chart: {e}"));
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let panels = root.split_evenly((1, 2));
        let acc: Vec<f64> = rows.iter().map(|r| 100.0 * r.summary.accuracy()).collect();
        let lo = acc.iter().copied().fold(100.0, f64::min).floor().max(0.0) - 1.0;
        let bytes_label = match target {
            Some(t) => format!("flash bytes ({})", t.name()),
            None => "bytes of weights".to_string(),
        };
        let flash_limit = target
            .and_then(MeasureTarget::machine)
            .filter(|m| m.arduino.is_some())
            .map(|m| (m.program_bytes as f64, m.title));
        let sets = [
            Panel {
                xlabel: bytes_label,
                xs: rows
                    .iter()
                    .map(|r| r.chart_bytes(target).map(|b| b as f64))
                    .collect(),
                limit: flash_limit,
            },
            Panel {
                xlabel: "ms per inference".to_string(),
                xs: rows
                    .iter()
                    .map(|r| r.summary.measured.as_ref().and_then(|m| m.ms))
                    .collect(),
                limit: None,
            },
        ];
        for (panel, Panel { xlabel, xs, limit }) in panels.iter().zip(sets) {
            let top = xs
                .iter()
                .flatten()
                .copied()
                .chain(limit.map(|(x, _)| x))
                .fold(0.0, f64::max);
            let max = top.max(1e-3) * 1.15;
            let mut c = ChartBuilder::on(panel)
                .caption(format!("accuracy vs {xlabel}"), ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d(0.0..max, lo..100.5)
                .map_err(|e| fail(e.to_string()))?;
            let whole = xlabel != "ms per inference";
            let x_format = |x: &f64| {
                if whole {
                    format!("{x:.0}")
                } else {
                    format!("{x:.2}")
                }
            };
            c.configure_mesh()
                .x_desc(xlabel.as_str())
                .y_desc("accuracy %")
                .x_label_formatter(&x_format)
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()
                .map_err(|e| fail(e.to_string()))?;
            for (i, (r, (x, &a))) in rows.iter().zip(xs.iter().zip(&acc)).enumerate() {
                let colour = Palette99::pick(i).to_rgba();
                let series = match x {
                    Some(x) => {
                        c.draw_series(std::iter::once(Circle::new((*x, a), 5, colour.filled())))
                    }
                    // No size or time here (a float reference): its accuracy as a line.
                    None => c.draw_series(DashedLineSeries::new(
                        [(0.0, a), (max, a)],
                        6,
                        4,
                        colour.stroke_width(1),
                    )),
                }
                .map_err(|e| fail(e.to_string()))?;
                let series = series.label(r.label.clone());
                if x.is_some() {
                    series.legend(move |(x, y)| Circle::new((x + 6, y), 5, colour.filled()));
                } else {
                    series.legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 12, y)], colour.stroke_width(1))
                    });
                }
            }
            if let Some((x, title)) = limit {
                c.draw_series(std::iter::once(PathElement::new(
                    vec![(x, lo), (x, 100.5)],
                    RED.stroke_width(2),
                )))
                .map_err(|e| fail(e.to_string()))?
                .label(format!("{title}'s flash ({x:.0} B)"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RED.stroke_width(2)));
            }
            c.configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::values::ValuesScore;

    fn values_row(label: &str, mae: f64, weight_bytes: usize) -> Row {
        Row {
            label: label.into(),
            summary: Summary {
                samples: 10,
                values: Some(ValuesScore {
                    outputs: 1,
                    mae,
                    ..ValuesScore::default()
                }),
                ..Summary::default()
            },
            weight_bytes,
            flash: None,
        }
    }

    #[test]
    fn a_gain_over_the_base_scores_its_compression_ratio() {
        assert_eq!(score(4.0, 0.1), 4.0 / 1.1);
        assert_eq!(score(4.0, 0.0), 4.0);
        // 2.1 times the base's accuracy: the bare formula would give -36.4.
        assert_eq!(score(4.0, -1.11), 4.0);
    }

    #[test]
    fn values_models_are_compared_by_their_mean_absolute_error() {
        let rows = [values_row("float", 0.5, 400), values_row("int8", 0.55, 100)];
        let t = table(&rows, None);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].starts_with("| float | MAE 0.5000 |"), "{t}");
        // The error grew by 10 %: that is the drop, and the score is 4 / 1.1.
        assert!(lines[3].starts_with("| int8 | MAE 0.5500 |"), "{t}");
        assert!(lines[3].ends_with("| 4.00 | 10.00 % | 3.64 |"), "{t}");
        let e = chart(&rows, None).unwrap_err().to_string();
        assert!(e.contains("the chart plots accuracy"), "{e}");
    }
}
