//! Evaluating a model on labelled data: accuracy, agreement with the float
//! reference, parameters, weight bits and (with a target) what the model costs
//! there ([`mod@measure`]). Character models are scored on text ([`text`]), several
//! models side by side in [`compare`]; `zlmc eval` and `zlmc compare` print
//! the results.

pub mod compare;
pub mod measure;
pub mod text;
pub mod values;

use std::io::Write;
use std::path::{Path, PathBuf};

use zlmc_ir::{interp, Decode, Model, Op, Weights};

use crate::diag::{Diagnostic, Result};
use crate::quant::agreement::significant;
use crate::quant::dataset::{self, Dataset, Split};
use crate::quant::float_model::{FloatMlp, FloatOutput};
use crate::quant::float_spec;
use measure::{measure, MeasureTarget, Measured, Sample};
use text::TextScore;
use values::ValuesScore;

/// Samples the target simulators time.
pub const TIMED_SAMPLES: usize = 16;

/// A model as `eval` and `compare` see it.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// An integer model, with its float reference when it has one.
    Int {
        /// The unoptimized model.
        model: Model,
        /// The float model it was quantized from.
        reference: Option<FloatMlp>,
    },
    /// A float spec.
    Float(FloatMlp),
}

/// Load a `.yaml` (integer or float spec) or `.zir` model.
pub fn load(path: &Path) -> Result<Loaded> {
    if float_spec::is_float_spec(path)? {
        return Ok(Loaded::Float(float_spec::load_float_spec(path)?));
    }
    let model = crate::driver::load(path)?;
    let reference = match reference_path(path) {
        Some(r) => Some(float_spec::load_float_spec(&r)?),
        None => None,
    };
    Ok(Loaded::Int { model, reference })
}

/// The float reference a spec names, relative to its folder.
pub fn reference_path(path: &Path) -> Option<PathBuf> {
    let is_yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let spec = if is_yaml {
        float_spec::read_spec(path).ok()?
    } else {
        return None;
    };
    let r = spec.reference?;
    Some(path.parent().unwrap_or(Path::new(".")).join(r))
}

/// The int16 input for float features: the model's input quantization, or
/// the features rounded when the model takes integers.
pub fn quantize_features(model: &Model, x: &[f32]) -> Vec<i16> {
    match model.input_quant() {
        Some(q) => x.iter().map(|&v| q.quantize(v as f64)).collect(),
        None => x
            .iter()
            .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
            .collect(),
    }
}

/// How a values model's outputs map to floats; `None` for other models.
fn values_quant(model: &Model) -> Option<zlmc_ir::OutputQuant> {
    match model.decode {
        Decode::Values { quant, .. } => Some(quant),
        _ => None,
    }
}

/// The integer model's predicted class.
pub fn predict(model: &Model, x: &[f32]) -> usize {
    interp::step(&model.graph, &quantize_features(model, x)).class
}

/// Parameter counts and weight width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params {
    /// Weights and biases.
    pub total: usize,
    /// Those that are not zero.
    pub nonzero: usize,
    /// Bits per stored weight (32 for float).
    pub weight_bits: u32,
}

/// Count a model's parameters.
pub fn params(l: &Loaded) -> Params {
    match l {
        Loaded::Float(m) => {
            let all = m
                .layers
                .iter()
                .flat_map(|l| l.weight.iter().flatten().chain(&l.bias));
            Params {
                total: all.clone().count(),
                nonzero: all.filter(|&&v| v != 0.0).count(),
                weight_bits: 32,
            }
        }
        Loaded::Int { model, .. } => {
            let mut p = Params::default();
            for n in model.graph.node_ids() {
                match &model.graph.node(n).op {
                    Op::MatMul { weights, .. } | Op::Conv { weights, .. } => {
                        p.total += weights.rows() * weights.cols();
                        p.nonzero += match weights {
                            Weights::Dense(d) => d.data.iter().filter(|&&w| w != 0).count(),
                            Weights::Sparse(s) => s.nnz(),
                        };
                        p.weight_bits = match weights.kind().name() {
                            "int8" => 8,
                            "int4" => 4,
                            "int2" | "ternary" => 2,
                            _ => 1,
                        };
                    }
                    Op::Bias { values } | Op::Epilogue { bias: values, .. } => {
                        p.total += values.len();
                        p.nonzero += values.iter().filter(|&&b| b != 0).count();
                    }
                    _ => {}
                }
            }
            p
        }
    }
}

/// Everything `eval` reports about one model.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Model name.
    pub name: String,
    /// Samples (or lines) scored.
    pub samples: usize,
    /// Correct predictions (exact replies for text).
    pub correct: usize,
    /// The float reference's accuracy on the same samples.
    pub float_accuracy: Option<f64>,
    /// Fraction of samples where model and float reference predict the same class.
    pub agreement: Option<f64>,
    /// Parameters.
    pub params: Params,
    /// Text scores, for character models.
    pub text: Option<TextScore>,
    /// Errors, for models that give values (then `correct` is 0).
    pub values: Option<ValuesScore>,
    /// Target costs.
    pub measured: Option<Measured>,
    /// Whether this is a float model.
    pub float: bool,
    /// What the data made doubtful (labels the model cannot predict), for stderr.
    pub warnings: Vec<String>,
}

impl Summary {
    /// Accuracy, as a fraction.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.samples.max(1) as f64
    }
}

fn float_accuracy(m: &FloatMlp, d: &Dataset) -> (usize, Vec<usize>) {
    let preds: Vec<usize> = d.x.iter().map(|x| m.predict(x)).collect();
    (
        preds.iter().zip(&d.y).filter(|(p, y)| p == y).count(),
        preds,
    )
}

/// A warning when labels fall outside the model's `classes` (they can only
/// count as misses): how many, and the likely cause when shifting them down
/// by one would fit.
fn label_range_warning(y: &[usize], classes: usize) -> Option<String> {
    let outside = y.iter().filter(|&&c| c >= classes).count();
    if outside == 0 {
        return None;
    }
    let one_based = y.iter().all(|&c| (1..=classes).contains(&c));
    Some(format!(
        "{outside} of {} labels are outside the model's classes 0..{} (counted as misses){}",
        y.len(),
        classes.saturating_sub(1),
        if one_based { "; are they 1-based?" } else { "" }
    ))
}

fn is_text_data(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.ends_with(".txt") || s.ends_with(".txt.gz")
}

/// Evaluate the model at `path` on `data`, measuring on `target` when given.
pub fn evaluate(path: &Path, data: &Path, target: Option<MeasureTarget>) -> Result<Summary> {
    let loaded = load(path)?;
    let mut s = Summary {
        params: params(&loaded),
        ..Summary::default()
    };
    let sample;
    let quant = match &loaded {
        Loaded::Int { model, .. } => values_quant(model),
        Loaded::Float(_) => None,
    };
    match (&loaded, quant) {
        (Loaded::Int { model, .. }, _) if is_text_data(data) => {
            let lines = text::read_lines(data)?;
            let t = text::score(model, &lines)?;
            s.name = model.name.clone();
            s.samples = t.lines;
            s.correct = t.exact;
            s.text = Some(t);
            sample = Sample::Queries(
                lines
                    .iter()
                    .take(TIMED_SAMPLES)
                    .map(|l| l.query.clone())
                    .collect(),
            );
        }
        (Loaded::Int { model, reference }, Some(quant)) => {
            let d = values::load(data, model.input_len(), model.classes())?;
            s.name = model.name.clone();
            s.samples = d.x.len();
            let got: Vec<Vec<f64>> =
                d.x.iter()
                    .map(|x| {
                        let q = interp::step(&model.graph, &quantize_features(model, x));
                        q.logits.iter().map(|&v| quant.value(v)).collect()
                    })
                    .collect();
            let float = match reference {
                Some(r) if r.output == FloatOutput::Values => {
                    check_width(data, d.x[0].len(), r.inputs)?;
                    Some(values::float_values(r, &d))
                }
                _ => None,
            };
            s.values = Some(values::score(&got, &d, float.as_deref()));
            sample = Sample::Vectors(
                d.x.iter()
                    .take(TIMED_SAMPLES)
                    .map(|x| quantize_features(model, x))
                    .collect(),
            );
        }
        (Loaded::Int { model, reference }, None) => {
            let d = dataset::load(data, Split::Test)?;
            check_width(data, d.x[0].len(), model.input_len())?;
            s.warnings
                .extend(label_range_warning(&d.y, model.classes()));
            s.name = model.name.clone();
            s.samples = d.x.len();
            let preds: Vec<usize> = d.x.iter().map(|x| predict(model, x)).collect();
            s.correct = preds.iter().zip(&d.y).filter(|(p, y)| p == y).count();
            if let Some(r) = reference {
                check_width(data, d.x[0].len(), r.inputs)?;
                let (fc, fp) = float_accuracy(r, &d);
                s.float_accuracy = Some(fc as f64 / d.x.len() as f64);
                let same = preds.iter().zip(&fp).filter(|(a, b)| a == b).count();
                s.agreement = Some(same as f64 / d.x.len() as f64);
            }
            sample = Sample::Vectors(
                d.x.iter()
                    .take(TIMED_SAMPLES)
                    .map(|x| quantize_features(model, x))
                    .collect(),
            );
        }
        (Loaded::Float(m), _) if m.output == FloatOutput::Values => {
            let outputs = m.layers.last().map_or(0, |l| l.units());
            let d = values::load(data, m.inputs, outputs)?;
            s.name = m.name.clone();
            s.samples = d.x.len();
            s.values = Some(values::score(&values::float_values(m, &d), &d, None));
            s.float = true;
            return Ok(s);
        }
        (Loaded::Float(m), _) => {
            let d = dataset::load(data, Split::Test)?;
            check_width(data, d.x[0].len(), m.inputs)?;
            let classes = m.layers.last().map_or(0, |l| l.units());
            s.warnings.extend(label_range_warning(&d.y, classes));
            s.name = m.name.clone();
            s.samples = d.x.len();
            s.correct = float_accuracy(m, &d).0;
            // A float reference is not built for a target: it has no flash
            // or cycles there, only its weights' 4 bytes a parameter.
            s.float = true;
            return Ok(s);
        }
    }
    if let (Some(t), Loaded::Int { model, .. }) = (target, &loaded) {
        let mut m = model.clone();
        crate::driver::optimize(&mut m, &[], |_, _| {})?;
        s.measured = Some(measure(&m, path, t, &sample)?);
    }
    Ok(s)
}

fn check_width(data: &Path, have: usize, want: usize) -> Result<()> {
    if have == want {
        Ok(())
    } else {
        Err(Diagnostic::in_file(
            data,
            format!("samples have {have} features, the model takes {want}"),
        ))
    }
}

/// Print warnings about `data` as the range analysis prints its own:
/// `DATA: warning: …` on `err`, each once.
pub fn print_warnings<'a>(
    data: &Path,
    warnings: impl IntoIterator<Item = &'a String>,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for w in warnings.into_iter().filter(|w| seen.insert(*w)) {
        writeln!(err, "{}: warning: {w}", data.display())?;
    }
    Ok(())
}

/// Print a summary as `eval` does.
pub fn print(
    s: &Summary,
    target: Option<MeasureTarget>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let pct = |x: f64| 100.0 * x;
    writeln!(
        out,
        "model: {}{}",
        s.name,
        if s.float { " (float reference)" } else { "" }
    )?;
    match (&s.text, &s.values) {
        (_, Some(v)) => {
            writeln!(
                out,
                "mean absolute error: {} ({} samples, {} value{} each, against the labels)",
                significant(v.mae),
                s.samples,
                v.outputs,
                if v.outputs == 1 { "" } else { "s" }
            )?;
            if let (Some(f), Some(d)) = (v.float_mae, v.mae_to_float) {
                writeln!(
                    out,
                    "float reference: MAE {}, mean absolute difference {}",
                    significant(f),
                    significant(d)
                )?;
            }
        }
        (Some(t), _) => {
            writeln!(
                out,
                "exact replies: {} of {} lines ({:.1} %)",
                t.exact,
                t.lines,
                pct(t.exact as f64 / t.lines.max(1) as f64)
            )?;
            writeln!(
                out,
                "next-character accuracy (teacher-forced): {} of {} positions ({:.1} %)",
                t.next_correct,
                t.positions,
                pct(t.next_correct as f64 / t.positions.max(1) as f64)
            )?;
        }
        (None, None) => writeln!(
            out,
            "accuracy: {:.2} % ({} of {} samples)",
            pct(s.accuracy()),
            s.correct,
            s.samples
        )?,
    }
    if let (Some(f), Some(a)) = (s.float_accuracy, s.agreement) {
        writeln!(
            out,
            "float reference: accuracy {:.2} %, agreement {:.2} %",
            pct(f),
            pct(a)
        )?;
    }
    writeln!(
        out,
        "parameters: {} ({} non-zero); weight bits: {}",
        s.params.total, s.params.nonzero, s.params.weight_bits
    )?;
    if let (Some(t), true) = (target, s.float) {
        writeln!(
            out,
            "target {}: not built (a float reference; its weights take {} bytes as float32)",
            t.name(),
            4 * s.params.total
        )?;
    }
    if let (Some(t), Some(m)) = (target, &s.measured) {
        write!(out, "target {}: {} bytes", t.name(), m.flash)?;
        if let Some(r) = m.sram {
            write!(out, ", {r} bytes of SRAM")?;
        }
        if let (Some(c), Some(ms)) = (m.cycles, m.ms) {
            write!(out, "; {c:.0} cycles per inference ({ms:.3} ms)")?;
        }
        if let Some(f) = m.fits {
            write!(out, "; fits: {}", if f { "yes" } else { "no" })?;
        }
        writeln!(out)?;
        if let Some(n) = &m.note {
            writeln!(out, "  {n}")?;
        }
    }
    Ok(())
}
