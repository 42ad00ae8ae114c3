//! `zlmc compare`: one Markdown row per model (accuracy, size, latency,
//! compression against the first model) and an SVG chart of accuracy against
//! flash and against milliseconds per inference.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::diag::{Diagnostic, Result};
use crate::evaluate::measure::MeasureTarget;
use crate::evaluate::{evaluate, Summary};

/// One compared model.
#[derive(Debug, Clone)]
pub struct Row {
    /// How the table names it.
    pub label: String,
    /// What `eval` found.
    pub summary: Summary,
    /// Bytes it takes: the target's, else its weights' storage.
    pub size: usize,
}

/// A model's name in the table: its folder for `model.yaml`, else its file stem.
pub fn label(path: &Path, float: bool) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned());
    let base = match dir {
        Some(d) if stem == "model" || stem == "float" => d,
        _ => stem,
    };
    if float {
        format!("{base} (float)")
    } else {
        base
    }
}

fn size_of(s: &Summary) -> usize {
    match &s.measured {
        Some(m) if m.flash > 0 => m.flash,
        _ if s.float => 4 * s.params.total,
        _ => (s.params.total * s.params.weight_bits as usize).div_ceil(8),
    }
}

/// Evaluate every model.
pub fn rows(models: &[PathBuf], data: &Path, target: Option<MeasureTarget>) -> Result<Vec<Row>> {
    models
        .iter()
        .map(|p| {
            let summary = evaluate(p, data, target)?;
            Ok(Row {
                label: label(p, summary.float),
                size: size_of(&summary),
                summary,
            })
        })
        .collect()
}

/// The Markdown table; the first row is the base of CR and drop.
pub fn table(rows: &[Row], target: Option<MeasureTarget>) -> String {
    let mut t = String::new();
    let unit = match target {
        Some(t) => format!("Flash ({})", t.name()),
        None => "Size".to_string(),
    };
    t.push_str(&format!(
        "| Model | Accuracy | Parameters | {unit} | Latency | fits Arduino? | CR | drop | Score |\n\
         |---|---:|---:|---:|---:|:---:|---:|---:|---:|\n"
    ));
    let Some(base) = rows.first() else {
        return t;
    };
    let base_acc = base.summary.accuracy();
    for r in rows {
        let s = &r.summary;
        let acc = s.accuracy();
        let cr = base.size as f64 / r.size.max(1) as f64;
        let drop = if base_acc > 0.0 {
            (base_acc - acc) / base_acc
        } else {
            0.0
        };
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
        t.push_str(&format!(
            "| {} | {:.2} % | {} ({} non-zero) | {} B | {latency} | {fits} | {cr:.2} | {:.2} % | {:.2} |\n",
            r.label,
            100.0 * acc,
            s.params.total,
            s.params.nonzero,
            r.size,
            100.0 * drop,
            cr / (1.0 + drop)
        ));
    }
    t
}

/// The chart as SVG text: accuracy against size, and against milliseconds.
pub fn chart(rows: &[Row]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 420)).into_drawing_area();
        let fail = |e: String| Diagnostic::new(format!("cannot draw the chart: {e}"));
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let panels = root.split_evenly((1, 2));
        let acc: Vec<f64> = rows.iter().map(|r| 100.0 * r.summary.accuracy()).collect();
        let lo = acc.iter().copied().fold(100.0, f64::min).floor().max(0.0) - 1.0;
        let sets: [(&str, Vec<Option<f64>>); 2] = [
            ("bytes", rows.iter().map(|r| Some(r.size as f64)).collect()),
            (
                "ms per inference",
                rows.iter()
                    .map(|r| r.summary.measured.as_ref().and_then(|m| m.ms))
                    .collect(),
            ),
        ];
        for (panel, (xlabel, xs)) in panels.iter().zip(sets) {
            let max = xs.iter().flatten().copied().fold(0.0, f64::max).max(1e-3) * 1.15;
            let mut c = ChartBuilder::on(panel)
                .caption(format!("accuracy vs {xlabel}"), ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d(0.0..max, lo..100.5)
                .map_err(|e| fail(e.to_string()))?;
            c.configure_mesh()
                .x_desc(xlabel)
                .y_desc("accuracy %")
                .draw()
                .map_err(|e| fail(e.to_string()))?;
            let pts: Vec<(f64, f64, &str)> = xs
                .iter()
                .zip(&acc)
                .zip(rows)
                .filter_map(|((x, &a), r)| x.map(|x| (x, a, r.label.as_str())))
                .collect();
            c.draw_series(pts.iter().map(|&(x, a, l)| {
                EmptyElement::at((x, a))
                    + Circle::new((0, 0), 4, BLUE.filled())
                    + Text::new(l.to_string(), (6, -12), ("sans-serif", 12))
            }))
            .map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}
