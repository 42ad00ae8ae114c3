//! What a training run shows: a progress bar on a terminal, one line per
//! epoch elsewhere, nothing with `--quiet`; and the `--plot` chart.

use std::io::{IsTerminal, Write};

use plotters::prelude::*;

use super::EpochReport;
use crate::diag::{Diagnostic, Result};

/// How the held-out metric is named and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Accuracy in 0..1, shown in percent.
    Accuracy,
    /// Negated mean absolute error, shown as MAE.
    NegMae,
    /// Another rate in 0..1 (exact replies), shown in percent.
    Rate(&'static str),
}

impl MetricKind {
    /// The metric as people read it, measured `on` the held-out or the
    /// training examples.
    pub fn show(self, m: f64, on: JudgedOn) -> String {
        let on = on.name();
        match self {
            MetricKind::Accuracy => format!("{on} accuracy {:.2} %", 100.0 * m),
            MetricKind::NegMae => format!("{on} MAE {:.4}", -m),
            MetricKind::Rate(name) => format!("{on} {name} {:.2} %", 100.0 * m),
        }
    }

    /// The chart's axis: the metric's value and its name.
    fn axis(self, m: f64, on: JudgedOn) -> (f64, String) {
        let on = on.name();
        match self {
            MetricKind::Accuracy => (100.0 * m, format!("{on} accuracy %")),
            MetricKind::NegMae => (-m, format!("{on} MAE")),
            MetricKind::Rate(name) => (100.0 * m, name.to_string()),
        }
    }
}

/// Which examples a run's epochs are judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgedOn {
    /// A held-out split.
    HeldOut,
    /// The training examples themselves (nothing held out).
    Training,
}

impl JudgedOn {
    /// `HeldOut` when `holdout` holds anything out.
    pub fn of(holdout: f64) -> JudgedOn {
        if holdout > 0.0 {
            JudgedOn::HeldOut
        } else {
            JudgedOn::Training
        }
    }

    fn name(self) -> &'static str {
        match self {
            JudgedOn::HeldOut => "held-out",
            JudgedOn::Training => "training",
        }
    }
}

/// Per-epoch progress: an `indicatif` bar when stderr is a terminal, else
/// a plain line per epoch on `err` (logs and pipes keep a record); silent
/// when quiet.
pub struct Progress<'a> {
    bar: Option<indicatif::ProgressBar>,
    err: &'a mut dyn Write,
    quiet: bool,
    epochs: usize,
    metric: MetricKind,
    on: JudgedOn,
}

impl<'a> Progress<'a> {
    /// Progress of a run of at most `epochs` epochs, judged `on`.
    pub fn new(
        epochs: usize,
        quiet: bool,
        (metric, on): (MetricKind, JudgedOn),
        err: &'a mut dyn Write,
    ) -> Progress<'a> {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(epochs as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {pos}/{len} [{bar:30}] {msg} ({eta} left)",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            b
        });
        Progress {
            bar,
            err,
            quiet,
            epochs,
            metric,
            on,
        }
    }

    /// Show one epoch's report.
    pub fn epoch(&mut self, r: &EpochReport) {
        let line = match self.on {
            JudgedOn::HeldOut => format!(
                "loss {:.4}, held-out loss {:.4}, {}",
                r.loss,
                r.held_out_loss,
                self.metric.show(r.held_out_metric, self.on)
            ),
            JudgedOn::Training => format!(
                "loss {:.4}, {}",
                r.loss,
                self.metric.show(r.held_out_metric, self.on)
            ),
        };
        if let Some(b) = &self.bar {
            b.set_position(r.epoch as u64);
            b.set_message(line);
        } else if !self.quiet {
            let _ = writeln!(
                self.err,
                "epoch {}/{}: {line} ({:.1} s)",
                r.epoch, self.epochs, r.seconds
            );
        }
    }

    /// End the bar (early stopping may end before the last epoch).
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

/// The loss curves (training, and held-out or at the epoch's end) and the
/// metric per epoch, as SVG text.
pub fn plot(history: &[EpochReport], (metric, on): (MetricKind, JudgedOn)) -> Result<String> {
    let fail = |e: String| Diagnostic::new(format!("cannot draw the plot: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let panels = root.split_evenly((1, 2));
        let last = history.last().map_or(1, |r| r.epoch).max(1) as f64;
        let losses: Vec<f64> = history
            .iter()
            .flat_map(|r| [r.loss, r.held_out_loss])
            .filter(|v| v.is_finite())
            .collect();
        let top = losses.iter().copied().fold(0.0, f64::max).max(1e-6) * 1.1;
        let mut c = ChartBuilder::on(&panels[0])
            .caption("loss", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..last, 0.0..top)
            .map_err(|e| fail(e.to_string()))?;
        c.configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        let series = |f: fn(&EpochReport) -> f64| -> Vec<(f64, f64)> {
            history.iter().map(|r| (r.epoch as f64, f(r))).collect()
        };
        c.draw_series(LineSeries::new(series(|r| r.loss), BLUE.stroke_width(2)))
            .map_err(|e| fail(e.to_string()))?
            .label("training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        c.draw_series(LineSeries::new(
            series(|r| r.held_out_loss),
            RED.stroke_width(2),
        ))
        .map_err(|e| fail(e.to_string()))?
        .label(match on {
            JudgedOn::HeldOut => "held out",
            JudgedOn::Training => "end of epoch",
        })
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        let pts: Vec<(f64, f64)> = history
            .iter()
            .map(|r| (r.epoch as f64, metric.axis(r.held_out_metric, on).0))
            .collect();
        let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.1).max(1e-3);
        let name = metric.axis(0.0, on).1;
        let mut c = ChartBuilder::on(&panels[1])
            .caption(&name, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..last, (lo - pad)..(hi + pad))
            .map_err(|e| fail(e.to_string()))?;
        c.configure_mesh()
            .x_desc("epoch")
            .y_desc(&name)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        c.draw_series(LineSeries::new(pts, GREEN.stroke_width(2)))
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}
