//! The `zlmc` command line.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Parser, Subcommand, ValueEnum};
use zlmc_backends::target::{check_options, lookup, Options, Target, TARGETS};
use zlmc_ir::interp;
use zlmc_ir::Model;

use crate::diag::{Diagnostic, Result};
use crate::{driver, import, output};

/// zlmc compiles tiny quantized neural networks to C and 8-bit machine code.
#[derive(Debug, Parser)]
#[command(name = "zlmc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a model spec for weights exported by another tool.
    Import {
        /// The exporting tool.
        #[arg(value_enum)]
        format: ImportFormat,
        /// The exported weights file.
        model: PathBuf,
        /// Folder to write `model.yaml` into.
        #[arg(short, long)]
        output: PathBuf,
        /// Model name (default: the weights file's folder name).
        #[arg(long)]
        name: Option<String>,
        /// `onnx` only: calibration data; without it a float spec is written.
        #[arg(long, value_name = "DATA")]
        calibrate: Option<PathBuf>,
        #[command(flatten)]
        quant: QuantFlags,
    },
    /// Run a model on the host with the reference interpreter.
    Run {
        /// A `.yaml` spec or a `.zir` file.
        model: PathBuf,
        /// Answer this one query and exit.
        #[arg(long, conflicts_with = "batch", allow_hyphen_values = true)]
        prompt: Option<String>,
        /// Read one query per line from stdin, print `query<TAB>reply` per line.
        #[arg(long)]
        batch: bool,
    },
    /// Optimize a model and generate code or IR.
    Build {
        /// A `.yaml` spec or a `.zir` file.
        model: PathBuf,
        /// Target to generate code for.
        #[arg(long, default_value = TARGETS[0].name(), value_parser = target_parser(false))]
        target: String,
        /// What to produce: target code, or the final IR (`.zir`).
        #[arg(long, value_enum, default_value = "code")]
        emit: Emit,
        /// Output folder (required for code; for `--emit zir`, stdout without it).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Print the IR after this pass to stdout.
        #[arg(long, value_name = "PASS")]
        print_after: Vec<String>,
        /// Skip this pass (repeatable).
        #[arg(long, value_name = "PASS")]
        disable_pass: Vec<String>,
        /// The board, for targets that have boards.
        #[arg(long, value_parser = board_parser())]
        board: Option<String>,
    },
    /// Run a model's generated program on a simulator and report its cost.
    Sim {
        /// A `.yaml` spec or a `.zir` file.
        model: PathBuf,
        /// Target whose program to simulate.
        #[arg(long, value_parser = target_parser(true))]
        target: String,
        /// The board, for targets that have boards.
        #[arg(long, value_parser = board_parser())]
        board: Option<String>,
        /// Answer this one query (on CP/M: as the command tail).
        #[arg(long, conflicts_with = "batch", allow_hyphen_values = true)]
        prompt: Option<String>,
        /// Read one query per line from stdin, print `query<TAB>reply` per line.
        #[arg(long)]
        batch: bool,
    },
    /// List the optimization passes.
    Passes,
    /// Measure a model on labelled data (and on a target's simulator).
    Eval {
        /// A `.yaml` spec (integer or float) or a `.zir` file.
        model: PathBuf,
        /// `.npz` (`x`/`y` or `x_test`/`y_test`), `.csv` (label last), or
        /// `query|reply` text (`.txt`, `.txt.gz`) for character models.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        on: MeasureFlags,
    },
    /// Compare models on the same data: a Markdown table, optionally an SVG chart.
    Compare {
        /// The base model (CR and drop are relative to it), then the variants.
        #[arg(required = true, num_args = 1..)]
        models: Vec<PathBuf>,
        /// Labelled data, as for `zlmc eval`.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        on: MeasureFlags,
        /// Write a chart of accuracy against flash and milliseconds here.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// Make a smaller model (lossy): prune neurons or weights, re-quantize.
    Compress {
        /// A model written by `zlmc import`/`quantize`, or a float spec.
        model: PathBuf,
        /// Output folder.
        #[arg(short, long)]
        output: PathBuf,
        /// Drop this fraction of each hidden layer's neurons (lowest L1 importance).
        #[arg(long, value_name = "FRACTION")]
        prune_neurons: Option<f64>,
        /// Zero this fraction of each layer's weights (smallest magnitude).
        #[arg(long, value_name = "FRACTION")]
        sparsity: Option<f64>,
        /// Calibration data for re-quantizing (default: `--data`).
        #[arg(long, value_name = "DATA")]
        calibrate: Option<PathBuf>,
        /// Labelled data: report accuracy before and after.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Weight kind of the result (default: the model's).
        #[arg(long, value_parser = crate::quant::weight_kind)]
        weights: Option<zlmc_ir::WeightKind>,
        /// Accumulator width.
        #[arg(long, value_enum, default_value = "32")]
        accumulator: AccArg,
        /// Overwrite output files that differ.
        #[arg(long)]
        force: bool,
    },
    /// Quantize a float spec with calibration data (post-training quantization).
    Quantize {
        /// A float spec (`numerics: {weights: float}`), as `zlmc import` writes.
        spec: PathBuf,
        /// Calibration data: `.npz` (`x_calib`/`y_calib`, or `x`/`y`) or `.csv`.
        #[arg(long, value_name = "DATA")]
        calibrate: PathBuf,
        /// Folder to write `model.yaml`, `weights.npz` and the float reference into.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        quant: QuantFlags,
    },
}

/// Where `eval` and `compare` measure.
#[derive(Debug, clap::Args)]
struct MeasureFlags {
    /// Target to measure sizes and cycles on.
    #[arg(long, value_parser = target_parser(false))]
    target: Option<String>,
    /// The board, for targets that have boards.
    #[arg(long, value_parser = board_parser())]
    board: Option<String>,
}

impl MeasureFlags {
    fn target(&self) -> Result<Option<crate::measure::MeasureTarget>> {
        match (&self.target, &self.board) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Diagnostic::new("--board needs --target")),
            (Some(t), b) => crate::measure::MeasureTarget::new(t, b.as_deref()).map(Some),
        }
    }
}

/// How `quantize` and `import` quantize.
#[derive(Debug, clap::Args)]
struct QuantFlags {
    /// Weight kind of the integer model: int8, int4, ternary, int2 or binary.
    #[arg(long, default_value = "int8", value_parser = crate::quant::weight_kind)]
    weights: zlmc_ir::WeightKind,
    /// Accumulator width; `auto` takes 16 bits where range analysis proves it safe.
    #[arg(long, value_enum, default_value = "32")]
    accumulator: AccArg,
    /// Range statistic for inputs and activations: min–max, or the 99.9th percentile.
    #[arg(long, value_enum, default_value = "minmax")]
    calibration: RangeArg,
    /// Overwrite output files that differ.
    #[arg(long)]
    force: bool,
}

impl QuantFlags {
    fn options(&self) -> crate::quant::ptq::Options {
        use crate::quant::ptq::{AccChoice, RangeMethod};
        crate::quant::ptq::Options {
            kind: self.weights,
            acc: match self.accumulator {
                AccArg::B16 => AccChoice::Bits16,
                AccArg::B32 => AccChoice::Bits32,
                AccArg::Auto => AccChoice::Auto,
            },
            range: match self.calibration {
                RangeArg::Minmax => RangeMethod::MinMax,
                RangeArg::Percentile => RangeMethod::Percentile(99.9),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AccArg {
    /// 16 bits.
    #[value(name = "16")]
    B16,
    /// 32 bits.
    #[value(name = "32")]
    B32,
    /// 16 bits where overflow is impossible, else 32.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RangeArg {
    /// The largest calibrated magnitude.
    Minmax,
    /// The 99.9th percentile of calibrated magnitudes.
    Percentile,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ImportFormat {
    /// A `model.npz` written by z80ai's exporter.
    Z80ai,
    /// A float MLP in ONNX (PyTorch, Keras via tf2onnx, scikit-learn via skl2onnx).
    Onnx,
}

/// `--target` values: the registry's targets (with `simulated`, those with a simulator).
fn target_parser(simulated: bool) -> PossibleValuesParser {
    PossibleValuesParser::new(
        TARGETS
            .iter()
            .filter(|t| !simulated || t.simulator().is_some())
            .map(|t| PossibleValue::new(t.name()).help(t.about())),
    )
}

/// `--board` values: every board of every target in the registry.
fn board_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        TARGETS
            .iter()
            .flat_map(|t| t.boards())
            .map(|b| PossibleValue::new(b.name).help(b.about())),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// Target code.
    Code,
    /// The optimized IR as text.
    Zir,
}

/// Run zlmc with `args` (program name first) on the given streams; returns the exit code.
pub fn run(
    args: Vec<OsString>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args).and_then(check_board) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            let _ = if code == 0 {
                write!(stdout, "{text}")
            } else {
                write!(stderr, "{text}")
            };
            return code;
        }
    };
    // Range analysis warns before building or running a model that can overflow.
    if let Command::Build { model, .. } | Command::Run { model, .. } = &cli.command {
        for w in crate::range::file_warnings(model) {
            let _ = writeln!(stderr, "{w}");
        }
    }
    match execute(cli.command, stdin, stdout, stderr) {
        Ok(()) => 0,
        // A reader that stopped reading (`| head`) is not an error.
        Err(d) if d.message == BROKEN_PIPE => 0,
        Err(d) => {
            let _ = writeln!(stderr, "{d}");
            if d.usage {
                2
            } else {
                1
            }
        }
    }
}

/// `--board` is required by targets with boards and refused by the others: a usage error.
fn check_board(cli: Cli) -> std::result::Result<Cli, clap::Error> {
    use clap::CommandFactory;
    let (Command::Build { target, board, .. } | Command::Sim { target, board, .. }) = &cli.command
    else {
        return Ok(cli);
    };
    let t = lookup(target).expect("clap checked the target name");
    let opts = Options {
        board: board.as_deref(),
    };
    match check_options(t, opts) {
        Ok(()) => Ok(cli),
        Err(e) => Err(Cli::command().error(clap::error::ErrorKind::InvalidValue, e.message)),
    }
}

/// Write one file whole: to a temporary name beside it, then renamed.
fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Diagnostic::in_file(path, "not a file name"))?
        .to_string_lossy()
        .into_owned();
    output::write_all(dir, &[(name, data.to_vec())])
}

/// The message of the error for a closed stdout, which ends zlmc quietly.
const BROKEN_PIPE: &str = "broken pipe";

/// An output error as a diagnostic.
pub(crate) fn io_err(e: std::io::Error) -> Diagnostic {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Diagnostic::new(BROKEN_PIPE);
    }
    Diagnostic::new(format!("I/O error: {e}"))
}

fn execute(
    cmd: Command,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match cmd {
        Command::Import {
            format: ImportFormat::Onnx,
            model,
            output,
            name,
            calibrate,
            quant,
        } => crate::quant::import_float(
            crate::onnx::load(&model)?,
            calibrate.as_deref(),
            quant.options(),
            name.as_deref(),
            &crate::quant::WriteArgs {
                dir: &output,
                force: quant.force,
                source: &model,
            },
            out,
        ),
        Command::Import {
            format: ImportFormat::Z80ai,
            model,
            output,
            name,
            quant,
            ..
        } => {
            import::import_z80ai(&model, &output, name.as_deref(), quant.force)?;
            writeln!(out, "wrote {}", output.join("model.yaml").display()).map_err(io_err)
        }
        Command::Run {
            model,
            prompt,
            batch,
        } => {
            let m = driver::load(&model)?;
            run_model(&m, prompt, batch, stdin, out)
        }
        Command::Build {
            model,
            target,
            emit,
            output,
            print_after,
            disable_pass,
            board,
        } => build(
            &model,
            lookup(&target).expect("clap checked the target name"),
            emit,
            output.as_deref(),
            &print_after,
            &disable_pass,
            Options {
                board: board.as_deref(),
            },
            out,
        ),
        Command::Sim {
            model,
            target,
            board,
            prompt,
            batch,
        } => {
            let queries = crate::simulate::read_queries(prompt, batch, stdin)?;
            crate::simulate::sim(
                &model,
                lookup(&target).expect("clap checked the target name"),
                Options {
                    board: board.as_deref(),
                },
                &queries,
                batch,
                out,
                err,
            )
        }
        Command::Eval { model, data, on } => {
            let t = on.target()?;
            let s = crate::eval::evaluate(&model, &data, t)?;
            crate::eval::print(&s, t, out).map_err(io_err)
        }
        Command::Compare {
            models,
            data,
            on,
            chart,
        } => {
            let t = on.target()?;
            let rows = crate::compare::rows(&models, &data, t)?;
            if let Some(c) = chart {
                let svg = crate::compare::chart(&rows)?;
                write_file(&c, svg.as_bytes())?;
            }
            out.write_all(crate::compare::table(&rows, t).as_bytes())
                .map_err(io_err)
        }
        Command::Compress {
            model,
            output,
            prune_neurons,
            sparsity,
            calibrate,
            data,
            weights,
            accumulator,
            force,
        } => {
            let calib = calibrate.or(data.clone()).ok_or_else(|| {
                Diagnostic::new("compress re-quantizes: pass --calibrate DATA or --data DATA")
            })?;
            let flags = QuantFlags {
                weights: weights.unwrap_or(zlmc_ir::WeightKind::Int8),
                accumulator,
                calibration: RangeArg::Minmax,
                force,
            };
            crate::quant::compress_command(
                &model,
                &calib,
                data.as_deref(),
                crate::quant::CompressArgs {
                    prune_neurons,
                    sparsity,
                    opts: flags.options(),
                    kind_given: weights.is_some(),
                },
                &crate::quant::WriteArgs {
                    dir: &output,
                    force,
                    source: &model,
                },
                out,
            )
        }
        Command::Quantize {
            spec,
            calibrate,
            output,
            quant,
        } => crate::quant::quantize_command(
            &spec,
            &calibrate,
            quant.options(),
            &crate::quant::WriteArgs {
                dir: &output,
                force: quant.force,
                source: &spec,
            },
            out,
        ),
        Command::Passes => {
            for p in crate::passes::PASSES {
                writeln!(out, "{:<16} {}", p.name, p.about).map_err(io_err)?;
            }
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    path: &Path,
    target: &dyn Target,
    emit: Emit,
    output: Option<&Path>,
    print_after: &[String],
    disabled: &[String],
    opts: Options,
    out: &mut dyn Write,
) -> Result<()> {
    if let Some(p) = print_after
        .iter()
        .chain(disabled)
        .find(|p| !crate::passes::exists(p))
    {
        return Err(driver::unknown_pass(p));
    }
    if let Some(p) = print_after.iter().find(|p| disabled.contains(p)) {
        return Err(Diagnostic::usage(format!(
            "--print-after {p} with --disable-pass {p}: a disabled pass prints nothing"
        )));
    }
    if emit == Emit::Code && output.is_none() {
        return Err(Diagnostic::usage("no output folder")
            .help("pass -o DIR (or --emit zir to print the IR)"));
    }
    let mut model = driver::load(path)?;
    let prov = driver::provenance(path);
    let mut printed = String::new();
    driver::optimize(&mut model, disabled, |pass, m| {
        if print_after.iter().any(|p| p == pass) {
            printed.push_str(&driver::zir_text(m, &prov, &format!("after {pass}")));
        }
    })?;
    out.write_all(printed.as_bytes()).map_err(io_err)?;
    let (folder, files, summary) = match emit {
        Emit::Zir => {
            let text = driver::zir_text(&model, &prov, "optimized");
            match output {
                None => return out.write_all(text.as_bytes()).map_err(io_err),
                Some(_) => (
                    None,
                    vec![(format!("{}.zir", model.name), text.into_bytes())],
                    String::new(),
                ),
            }
        }
        Emit::Code => {
            let e = driver::emit(target, &model, path, opts)?;
            (e.folder, e.files, e.plan.summary)
        }
    };
    let output = output.expect("checked above");
    let dir = folder.map_or_else(|| output.to_path_buf(), |f| output.join(f));
    output::write_all(&dir, &files)?;
    for (name, _) in &files {
        writeln!(out, "wrote {}", dir.join(name).display()).map_err(io_err)?;
    }
    if !summary.is_empty() {
        writeln!(out, "{summary}").map_err(io_err)?;
    }
    Ok(())
}

/// The input vector of a raw-input model from one line of whitespace- or
/// comma-separated integers, or why the line is not one.
pub(crate) fn raw_input(m: &Model, line: &[u8]) -> std::result::Result<Vec<i16>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the input is not UTF-8 text".to_string())?;
    let values: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let want = m.input_len();
    // A model quantized from a float one reads the float features it was trained on.
    let quant = m.input_quant();
    let what = if quant.is_some() {
        "numbers"
    } else {
        "integers"
    };
    if values.len() != want {
        return Err(format!(
            "the model takes {want} {what}, the input has {}",
            values.len()
        ));
    }
    if let Some(q) = quant {
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(q.quantize(x)),
                _ => Err(format!("value {} `{v}` is not a finite number", i + 1)),
            })
            .collect();
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v.parse::<i64>() {
            Ok(n) => i16::try_from(n).map_err(|_| {
                format!(
                    "value {} `{v}` is out of range for i16 (-32768..=32767)",
                    i + 1
                )
            }),
            Err(_) => Err(format!("value {} `{v}` is not an integer", i + 1)),
        })
        .collect()
}

/// The model's answer to one line of input, as bytes.
fn answer(m: &Model, line: &[u8]) -> Result<Vec<u8>> {
    if m.takes_text() {
        return Ok(interp::reply(m, line).0);
    }
    let input = raw_input(m, line).map_err(Diagnostic::new)?;
    let r = interp::step(&m.graph, &input);
    Ok(m.decode.answer(r.class).expect("argmax is a class"))
}

pub(crate) fn read_line(stdin: &mut dyn BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    if stdin.read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(Some(buf))
}

fn run_model(
    m: &Model,
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    if let Some(p) = prompt {
        let reply = answer(m, p.as_bytes()).map_err(|d| d.help("in --prompt"))?;
        out.write_all(&reply).map_err(io_err)?;
        return out.write_all(b"\n").map_err(io_err);
    }
    if batch {
        let mut n = 0;
        while let Some(line) = read_line(stdin).map_err(io_err)? {
            n += 1;
            check_batch_line(&line, n)?;
            let reply = answer(m, &line).map_err(|d| Diagnostic {
                message: format!("stdin line {n}: {}", d.message),
                ..d
            })?;
            out.write_all(&line).map_err(io_err)?;
            out.write_all(b"\t").map_err(io_err)?;
            out.write_all(&reply).map_err(io_err)?;
            out.write_all(b"\n").map_err(io_err)?;
        }
        return Ok(());
    }
    // The chat loop of z80ai's CP/M program.
    loop {
        out.write_all(b"> ").map_err(io_err)?;
        out.flush().map_err(io_err)?;
        let Some(line) = read_line(stdin).map_err(io_err)? else {
            return out.write_all(b"\n").map_err(io_err);
        };
        if line.first() == Some(&b'!') {
            return Ok(());
        }
        if line.is_empty() {
            continue;
        }
        // In the chat loop a bad line is reported and the loop goes on.
        match answer(m, &line) {
            Ok(reply) => out.write_all(&reply).map_err(io_err)?,
            Err(d) => out.write_all(format!("{d}").as_bytes()).map_err(io_err)?,
        }
        out.write_all(b"\n").map_err(io_err)?;
    }
}

/// A `--batch` query may not hold a tab: the output separates query and reply by one.
pub(crate) fn check_batch_line(line: &[u8], n: usize) -> Result<()> {
    if line.contains(&b'\t') {
        return Err(Diagnostic::new(format!(
            "stdin line {n}: the query contains a tab, which would make the tab-separated output ambiguous"
        )));
    }
    Ok(())
}
