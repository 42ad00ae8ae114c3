//! The `zlmc` command line.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use zlmc_backends::target::{check_options, lookup, Options, SramUse, TARGETS};
use zlmc_ir::WeightKind;

use crate::commands;
use crate::commands::build::Emit;
use crate::commands::compress::CompressArgs;
use crate::diag::{Diagnostic, Result};
use crate::evaluate::measure::MeasureTarget;
use crate::input::BROKEN_PIPE;
use crate::quant::WriteArgs;

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
        /// Model name (default: z80ai: the weights file's folder name; onnx: the
        /// file's name, or the output folder's for a `model.onnx`).
        #[arg(long)]
        name: Option<String>,
        /// `onnx` only: calibration data; without it a float spec is written.
        #[arg(long, value_name = "DATA")]
        calibrate: Option<PathBuf>,
        /// `onnx` only: what the last layer gives (default: as the graph says;
        /// a one-output layer must be named binary or values).
        #[arg(long, value_enum, value_name = "KIND")]
        output_kind: Option<OutputKindArg>,
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
        /// Static RAM the program may spend for speed, for targets that have boards.
        #[arg(long, default_value = "safe", value_parser = sram_parser())]
        sram: SramUse,
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
        /// Static RAM the program may spend for speed, for targets that have boards.
        #[arg(long, default_value = "safe", value_parser = sram_parser())]
        sram: SramUse,
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
        /// `.npz` (`x`/`y` or `x_test`/`y_test`), `.csv` (label last or named), or
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
        /// Drop this fraction of each hidden layer's neurons (least output spread × outgoing weights).
        #[arg(long, value_name = "FRACTION")]
        prune_neurons: Option<f64>,
        /// Zero this fraction of each layer's weights (least |w| × input spread).
        #[arg(long, value_name = "FRACTION")]
        sparsity: Option<f64>,
        /// Calibration data for re-quantizing (default: `--data`).
        #[arg(long, value_name = "DATA")]
        calibrate: Option<PathBuf>,
        /// Labelled data: report accuracy before and after.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Weight kind of the result (default: the model's).
        #[arg(long, value_parser = weight_kind())]
        weights: Option<WeightKind>,
        #[command(flatten)]
        numerics: NumericFlags,
        /// Fine-tune the result on `--data` (quantization-aware, distilled
        /// from the unpruned float model).
        #[arg(long)]
        finetune: bool,
        #[command(flatten)]
        training: TrainFlags,
    },
    /// Train a spec's architecture from scratch (quantization-aware) on data.
    Train {
        /// A spec: its architecture, weight kind, shifts and activations
        /// (its weights file need not exist).
        spec: PathBuf,
        /// Training data: `.npz` (`x_train`/`y_train`, else `x_calib`/`y_calib`,
        /// else `x`/`y`) or `.csv` (label last or named).
        #[arg(long)]
        data: PathBuf,
        /// Folder to write `model.yaml`, `weights.npz` and the float reference into.
        #[arg(short, long)]
        output: PathBuf,
        /// Overwrite output files that differ.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        training: TrainFlags,
    },
    /// Quantize a float spec with calibration data (post-training quantization).
    Quantize {
        /// A float spec (`numerics: {weights: float}`), as `zlmc import` writes.
        spec: PathBuf,
        /// Calibration data, no labels needed: `.npz` (`x_calib`, `x` or `x_train`) or `.csv`.
        #[arg(long, value_name = "DATA")]
        calibrate: PathBuf,
        /// Folder to write `model.yaml`, `weights.npz` and the float reference into.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        quant: QuantFlags,
    },
}

/// How `compress --finetune` and `train` train.
#[derive(Debug, clap::Args)]
struct TrainFlags {
    /// Passes over the training data (at most: early stopping may end sooner)
    /// [default: 100; 60 when fine-tuning a classifier or values model]
    #[arg(long)]
    epochs: Option<usize>,
    /// Seed of the held-out split, the shuffles and the initial weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Learning rate, relative to each layer's weights (see docs/training.md)
    /// [default: 0.01; 0.02 when fine-tuning a classifier or values model,
    /// 0.002 a character model]
    #[arg(long)]
    lr: Option<f32>,
    /// Examples per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Weight of distillation against the labels' cross-entropy.
    #[arg(long, default_value_t = 0.5)]
    alpha: f32,
    /// Distillation temperature.
    #[arg(long, default_value_t = 2.0)]
    temperature: f32,
    /// Fraction of the training data held out for early stopping
    /// [default: 0.1 when training from scratch; 0 when fine-tuning, and for
    /// character models, which learn their text's replies]
    #[arg(long, value_name = "FRACTION")]
    holdout: Option<f64>,
    /// Epochs without a better held-out score before stopping (0: never stop
    /// early) [default: 20; 0 when fine-tuning a classifier or values model]
    #[arg(long)]
    patience: Option<usize>,
    /// Threads (results do not depend on it; default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
    /// Write the loss and accuracy curves here.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// Defaults of the training flags that depend on the run.
struct RunDefaults {
    epochs: usize,
    lr: f32,
    holdout: f64,
    patience: usize,
}

impl RunDefaults {
    /// `text`: a character model (z80ai's encoders); `finetune`: starting
    /// from a compressed model rather than from scratch. Fine-tuning a
    /// classifier or values model trains on every example through a whole
    /// annealed schedule: on the digits fixtures a held-out tenth and early
    /// stopping on it cost more than they saved (docs/training.md).
    fn of(text: bool, finetune: bool) -> RunDefaults {
        if finetune && !text {
            return RunDefaults {
                epochs: 60,
                lr: 0.02,
                holdout: 0.0,
                patience: 0,
            };
        }
        RunDefaults {
            epochs: 100,
            lr: if text && finetune {
                crate::train::chat::FINETUNE_LR
            } else {
                0.01
            },
            holdout: if text { 0.0 } else { 0.1 },
            patience: 20,
        }
    }
}

impl TrainFlags {
    /// The training run these flags ask for.
    /// `text`: for a character model (z80ai's encoders), whose defaults differ.
    fn run_args(&self, text: bool, finetune: bool) -> Result<crate::train::run::RunArgs> {
        let d = RunDefaults::of(text, finetune);
        let holdout = self.holdout.unwrap_or(d.holdout);
        if !(0.0..1.0).contains(&holdout) {
            return Err(Diagnostic::new(format!(
                "--holdout {holdout} must be in [0, 1)"
            )));
        }
        let defaults = crate::train::TrainOptions::default();
        Ok(crate::train::run::RunArgs {
            opts: crate::train::TrainOptions {
                epochs: self.epochs.unwrap_or(d.epochs),
                seed: self.seed,
                lr: self.lr.unwrap_or(d.lr),
                batch: self.batch.max(1),
                alpha: self.alpha,
                temperature: self.temperature,
                holdout,
                patience: self.patience.unwrap_or(d.patience),
                threads: self.threads.unwrap_or(defaults.threads).max(1),
                ..defaults
            },
            quiet: self.quiet,
            plot: self.plot.clone(),
        })
    }
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
    fn target(&self) -> Result<Option<MeasureTarget>> {
        match (&self.target, &self.board) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Diagnostic::new("--board needs --target")),
            (Some(t), b) => MeasureTarget::new(t, b.as_deref()).map(Some),
        }
    }
}

/// How `quantize` and `import` quantize.
#[derive(Debug, clap::Args)]
struct QuantFlags {
    /// Weight kind of the integer model: int8, int4, ternary, int2 or binary.
    #[arg(long, default_value = "int8", value_parser = weight_kind())]
    weights: WeightKind,
    #[command(flatten)]
    numerics: NumericFlags,
}

/// The accumulators and ranges a (re-)quantized model gets, and whether its
/// files may be overwritten: what `quantize`, `import` and `compress` share.
#[derive(Debug, clap::Args)]
struct NumericFlags {
    /// Accumulator width; `auto` takes 16 bits where range analysis proves it safe.
    #[arg(long, value_enum, default_value = "32")]
    accumulator: AccArg,
    /// Range statistic for inputs and activations: min–max, or the 99.9th percentile.
    #[arg(long, value_enum, default_value = "minmax")]
    calibration: RangeArg,
    /// Width of inputs and hidden activations: 8 keeps them in 0..255 (the
    /// AVR and Z80 kernels' fast path), 16 finer; `auto` takes 8 wherever
    /// calibration says the answers hold.
    #[arg(long, value_enum, default_value = "auto")]
    activations: ActArg,
    /// Overwrite output files that differ.
    #[arg(long)]
    force: bool,
}

impl NumericFlags {
    /// The quantizer's options with weights of `kind`.
    fn options(&self, kind: WeightKind) -> crate::quant::ptq::Options {
        use crate::quant::ptq::{AccChoice, ActChoice, RangeMethod};
        crate::quant::ptq::Options {
            kind,
            acc: match self.accumulator {
                AccArg::B16 => AccChoice::Bits16,
                AccArg::B32 => AccChoice::Bits32,
                AccArg::Auto => AccChoice::Auto,
            },
            range: match self.calibration {
                RangeArg::Minmax => RangeMethod::MinMax,
                RangeArg::Percentile => RangeMethod::Percentile(99.9),
            },
            activations: match self.activations {
                ActArg::B8 => ActChoice::Bits8,
                ActArg::B16 => ActChoice::Bits16,
                ActArg::Auto => ActChoice::Auto,
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
enum ActArg {
    /// In 0..255 wherever they cannot be negative.
    #[value(name = "8")]
    B8,
    /// Up to ±4096.
    #[value(name = "16")]
    B16,
    /// 8 bits where calibration agreement holds, else 16.
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
enum OutputKindArg {
    /// Class scores: the label of the largest.
    Classify,
    /// One logit: label 1 when it is positive.
    Binary,
    /// Values (regression): the outputs themselves.
    Values,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ImportFormat {
    /// A `model.npz` written by z80ai's exporter.
    Z80ai,
    /// A float MLP in ONNX (PyTorch, Keras via tf2onnx, scikit-learn via skl2onnx).
    Onnx,
}

/// `--weights` values: every weight kind, each with the values it holds.
fn weight_kind() -> impl TypedValueParser<Value = WeightKind> {
    PossibleValuesParser::new(WeightKind::ALL.map(|k| {
        let values = k.values();
        let help = match values.as_slice() {
            [lo, .., hi] if values.len() > 4 => format!("weights {lo} to {hi}"),
            _ => {
                let v: Vec<String> = values.iter().map(i8::to_string).collect();
                format!("weights {}", v.join(", "))
            }
        };
        PossibleValue::new(k.name()).help(help)
    }))
    .map(|s| WeightKind::from_name(&s).expect("clap checked the weight kind"))
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

/// `--sram` values.
fn sram_parser() -> impl TypedValueParser<Value = SramUse> {
    PossibleValuesParser::new(
        SramUse::ALL
            .iter()
            .map(|s| PossibleValue::new(s.name()).help(s.about())),
    )
    .map(|name| SramUse::from_name(&name).expect("clap checked the name"))
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

/// `--board` is required by targets with boards and refused by the others: a
/// usage error, shown with the subcommand's usage and the target's boards.
fn check_board(cli: Cli) -> std::result::Result<Cli, clap::Error> {
    use clap::CommandFactory;
    let (name, target, board, sram) = match &cli.command {
        Command::Build {
            target,
            board,
            sram,
            ..
        } => ("build", target, board, *sram),
        Command::Sim {
            target,
            board,
            sram,
            ..
        } => ("sim", target, board, *sram),
        _ => return Ok(cli),
    };
    let t = lookup(target).expect("clap checked the target name");
    let opts = Options {
        board: board.as_deref(),
        sram,
    };
    let Err(e) = check_options(t, opts) else {
        return Ok(cli);
    };
    let mut message = e.message;
    if !t.boards().is_empty() {
        message.push_str(&format!("\n\nboards of --target {}:", t.name()));
        for b in t.boards() {
            message.push_str(&format!("\n  {:<10} {}", b.name, b.about()));
        }
    }
    let mut sub = Cli::command()
        .find_subcommand(name)
        .expect("build and sim are subcommands")
        .clone()
        .bin_name(format!("zlmc {name}"));
    Err(sub.error(clap::error::ErrorKind::InvalidValue, message))
}

/// Do what `cmd` asks, through its file in `commands`.
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
            output_kind,
            quant,
        } => commands::import::onnx(
            &commands::import::OnnxSource {
                model: &model,
                kind: output_kind.map(|k| match k {
                    OutputKindArg::Classify => crate::import::onnx::OutputKind::Classify,
                    OutputKindArg::Binary => crate::import::onnx::OutputKind::Binary,
                    OutputKindArg::Values => crate::import::onnx::OutputKind::Values,
                }),
                name: name.as_deref(),
            },
            calibrate.as_deref(),
            quant.numerics.options(quant.weights),
            &WriteArgs {
                dir: &output,
                force: quant.numerics.force,
                source: &model,
            },
            out,
            err,
        ),
        Command::Import {
            format: ImportFormat::Z80ai,
            model,
            output,
            name,
            quant,
            ..
        } => commands::import::z80ai(&model, &output, name.as_deref(), quant.numerics.force, out),
        Command::Run {
            model,
            prompt,
            batch,
        } => commands::run::run(&model, prompt, batch, stdin, out, err),
        Command::Build {
            model,
            target,
            emit,
            output,
            print_after,
            disable_pass,
            board,
            sram,
        } => commands::build::build(
            &model,
            lookup(&target).expect("clap checked the target name"),
            emit,
            output.as_deref(),
            &print_after,
            &disable_pass,
            Options {
                board: board.as_deref(),
                sram,
            },
            out,
        ),
        Command::Sim {
            model,
            target,
            board,
            sram,
            prompt,
            batch,
        } => {
            let queries = commands::sim::read_queries(prompt, batch, stdin)?;
            commands::sim::sim(
                &model,
                lookup(&target).expect("clap checked the target name"),
                Options {
                    board: board.as_deref(),
                    sram,
                },
                &queries,
                batch,
                out,
                err,
            )
        }
        Command::Eval { model, data, on } => {
            commands::eval::eval(&model, &data, on.target()?, out, err)
        }
        Command::Compare {
            models,
            data,
            on,
            chart,
        } => commands::compare::compare(&models, &data, on.target()?, chart.as_deref(), out, err),
        Command::Compress {
            model,
            output,
            prune_neurons,
            sparsity,
            calibrate,
            data,
            weights,
            numerics,
            finetune,
            training,
        } => {
            let force = numerics.force;
            let run = training.run_args(crate::train::chat::is_text_model(&model), true)?;
            commands::compress::compress(
                &model,
                calibrate.as_deref(),
                data.as_deref(),
                CompressArgs {
                    prune_neurons,
                    sparsity,
                    opts: numerics.options(weights.unwrap_or(WeightKind::Int8)),
                    kind_given: weights.is_some(),
                    finetune: finetune.then_some(run),
                },
                &WriteArgs {
                    dir: &output,
                    force,
                    source: &model,
                },
                out,
                err,
            )
        }
        Command::Train {
            spec,
            data,
            output,
            force,
            training,
        } => commands::train::train(
            &spec,
            &data,
            &training.run_args(crate::train::chat::is_text_model(&spec), false)?,
            &WriteArgs {
                dir: &output,
                force,
                source: &spec,
            },
            out,
            err,
        ),
        Command::Quantize {
            spec,
            calibrate,
            output,
            quant,
        } => commands::quantize::quantize(
            &spec,
            &calibrate,
            quant.numerics.options(quant.weights),
            &WriteArgs {
                dir: &output,
                force: quant.numerics.force,
                source: &spec,
            },
            out,
            err,
        ),
        Command::Passes => commands::passes::passes(out),
    }
}
