//! `zlmc sim`: run the generated program on a simulator, print the replies
//! (stdout) and what they cost (stderr).

use std::io::{BufRead, Write};
use std::path::Path;

use crate::diag::{Diagnostic, Result};
use crate::driver;
use crate::sim::z80::{run_cpm, CpmRun, Exit};

/// One query's run on the Z80.
#[derive(Debug, Clone)]
pub struct Z80Reply {
    /// What the program printed: the reply.
    pub reply: Vec<u8>,
    /// T-states of each inference step.
    pub steps: Vec<u64>,
    /// T-states of the whole run, front-end included.
    pub total: u64,
    /// Highest address the program wrote (stack pushes included).
    pub highest_write: u16,
}

/// Longest query a CP/M command tail holds.
pub const MAX_QUERY: usize = 127;

/// Run `com` once with `query` as its command tail.
pub fn z80_reply(com: &[u8], step_entry: u16, query: &[u8]) -> Result<Z80Reply> {
    if query.is_empty() {
        return Err(Diagnostic::new(
            "an empty query cannot be passed as a CP/M command tail (the program would start its chat loop)",
        ));
    }
    if query.len() > MAX_QUERY {
        return Err(Diagnostic::new(format!(
            "query of {} bytes: a CP/M command tail holds at most {MAX_QUERY}",
            query.len()
        )));
    }
    let r = run_cpm(&CpmRun {
        program: com,
        command_tail: query,
        console_input: b"",
        step_entry: Some(step_entry),
        max_tstates: 20_000_000_000,
    })
    .map_err(|e| Diagnostic::new(format!("cannot run the program: {e}")))?;
    if !matches!(r.exit, Exit::WarmBoot) {
        return Err(Diagnostic::new(format!(
            "the program did not return to CP/M ({:?}) for query {:?}",
            r.exit,
            String::from_utf8_lossy(query)
        )));
    }
    if r.console_calls_with_interrupts_disabled > 0 {
        return Err(Diagnostic::new(
            "the program called the console with interrupts disabled",
        ));
    }
    Ok(Z80Reply {
        reply: r.output,
        steps: r.step_tstates,
        total: r.total_tstates,
        highest_write: r.highest_write,
    })
}

/// `zlmc sim MODEL --target z80`.
pub fn z80(
    path: &Path,
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let mut model = driver::load(path)?;
    driver::optimize(&mut model, &[], |_, _| {})?;
    let z = driver::build_z80(&model, path)?;
    let io = |e: std::io::Error| Diagnostic::new(format!("I/O error: {e}"));
    let mut queries = Vec::new();
    if let Some(p) = prompt {
        queries.push(p.into_bytes());
    } else if batch {
        while let Some(line) = crate::cli::read_line(stdin).map_err(io)? {
            queries.push(line);
        }
    } else {
        return Err(Diagnostic::new("nothing to run").help("pass --prompt TEXT or --batch"));
    }
    let mut stats = Stats::default();
    for q in &queries {
        let r = z80_reply(&z.com, z.step_entry, q)?;
        if batch {
            out.write_all(q).map_err(io)?;
            out.write_all(b"\t").map_err(io)?;
        }
        out.write_all(&r.reply).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
        stats.add(q, &r);
    }
    eprintln!("{}", stats.summary(z.com.len(), z.buffers_start));
    Ok(())
}

/// Cost figures over a run of queries.
#[derive(Debug, Default)]
pub struct Stats {
    steps: u64,
    tstates: u64,
    max_step: u64,
    worst: (f64, String),
    total: u64,
    highest_write: u16,
}

impl Stats {
    /// Count one query's run.
    pub fn add(&mut self, query: &[u8], r: &Z80Reply) {
        let sum: u64 = r.steps.iter().sum();
        self.steps += r.steps.len() as u64;
        self.tstates += sum;
        self.total += r.total;
        self.max_step = self
            .max_step
            .max(r.steps.iter().copied().max().unwrap_or(0));
        let avg = sum as f64 / r.steps.len().max(1) as f64;
        if avg > self.worst.0 {
            self.worst = (avg, String::from_utf8_lossy(query).into_owned());
        }
        self.highest_write = self.highest_write.max(r.highest_write);
    }

    /// Average T-states per inference step.
    pub fn average(&self) -> f64 {
        self.tstates as f64 / self.steps.max(1) as f64
    }

    /// A report: steps, T-states per step (average, max, worst query), sizes.
    pub fn summary(&self, com_len: usize, buffers: u16) -> String {
        format!(
            "z80: {} steps; T-states per inference step: average {:.0} ({:.1} ms at 4 MHz), max {}; \
             worst query {:?} at {:.0} per step; whole runs incl. front-end: {:.0} per step; \
             .COM {} bytes; buffers from 0x{buffers:04x}; highest write 0x{:04x}",
            self.steps,
            self.average(),
            self.average() / 4000.0,
            self.max_step,
            self.worst.1,
            self.worst.0,
            self.total as f64 / self.steps.max(1) as f64,
            com_len,
            self.highest_write
        )
    }
}

/// A model built into zlmc's simulator firmware (see `runtime-avr/src/sim_main.c`).
#[derive(Debug, Clone)]
pub struct AvrFirmware {
    /// The firmware.
    pub elf: std::path::PathBuf,
    /// The board it is built for.
    pub board: zlmc_backends::avr::Board,
    /// The function whose calls are the inference steps.
    pub step_symbol: String,
    /// How lines are answered.
    pub mode: AvrMode,
    /// The generated sketch files and their plan.
    pub files: zlmc_backends::avr::AvrFiles,
    /// Longest reply the firmware holds (generators).
    pub reply_cap: usize,
}

/// How the simulator firmware answers a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvrMode {
    /// `NAME_reply`: the reply.
    Reply {
        /// The model's longest reply.
        max_length: usize,
    },
    /// `NAME_label(NAME_classify(line))`.
    Classify,
    /// Integers in; logits, ` | ` and the class out (`NAME_step`, `NAME_predict`).
    Vector,
}

/// Longest line the simulator firmware reads (and replies it holds).
pub const AVR_LINE: usize = 255;

/// Build the simulator firmware for an optimized `model` in `dir`.
pub fn avr_firmware(
    model: &zlmc_ir::Model,
    source: &Path,
    board: zlmc_backends::avr::Board,
    dir: &Path,
) -> Result<AvrFirmware> {
    use zlmc_ir::Decode;
    let files = driver::build_avr(model, source, board)?;
    let p = &model.name;
    let up = p.to_ascii_uppercase();
    let io = |e: std::io::Error, f: &Path| Diagnostic::in_file(f, format!("cannot write: {e}"));
    std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    for (name, text) in &files.files {
        if !name.ends_with(".ino") {
            let f = dir.join(name);
            std::fs::write(&f, text).map_err(|e| io(e, &f))?;
        }
    }
    let (mode, step) = match &model.decode {
        Decode::Generate { max_length, .. } if model.takes_text() => (
            AvrMode::Reply {
                max_length: *max_length,
            },
            "text_step",
        ),
        Decode::Classify { .. } if model.takes_text() => (AvrMode::Classify, "text_step"),
        _ => (AvrMode::Vector, "step"),
    };
    let reply_cap = match mode {
        AvrMode::Reply { max_length } => max_length.min(AVR_LINE),
        _ => 0,
    };
    let mut shim = format!(
        "/* Generated by zlmc {}: the simulator firmware for model {p}. */\n#include \"{p}_model.h\"\n",
        driver::VERSION
    );
    shim.push_str(&match mode {
        AvrMode::Reply { .. } => format!(
            "#define ZLMC_MODE_REPLY 1\n#define ZLMC_REPLY {p}_reply\n#define ZLMC_REPLY_CAP {}\n",
            reply_cap + 1
        ),
        AvrMode::Classify => format!(
            "#define ZLMC_MODE_CLASSIFY 1\n#define ZLMC_CLASSIFY {p}_classify\n#define ZLMC_LABEL {p}_label\n"
        ),
        AvrMode::Vector => format!(
            "#define ZLMC_MODE_VECTOR 1\n#define ZLMC_STEP {p}_step\n#define ZLMC_PREDICT {p}_predict\n\
             #define ZLMC_INPUTS {up}_INPUTS\n#define ZLMC_CLASSES {up}_CLASSES\n"
        ),
    });
    shim.push_str("#include \"zlmc_sim_main.c\"\n");
    let main_c = dir.join("zlmc_sim_main.c");
    std::fs::write(&main_c, zlmc_runtime_avr::SIM_MAIN_C).map_err(|e| io(e, &main_c))?;
    let shim_c = dir.join("zlmc_sim.c");
    std::fs::write(&shim_c, shim).map_err(|e| io(e, &shim_c))?;
    let elf = dir.join(format!("{p}.elf"));
    crate::sim::avr::compile_firmware(
        &[shim_c, dir.join(format!("{p}_model.S"))],
        board.mcu(),
        board.f_cpu(),
        &elf,
    )
    .map_err(|e| Diagnostic::new(format!("cannot build the simulator firmware: {e}")))?;
    Ok(AvrFirmware {
        elf,
        board,
        step_symbol: format!("{p}_{step}"),
        mode,
        files,
        reply_cap,
    })
}

/// What one simavr run of many lines gave.
#[derive(Debug, Clone)]
pub struct AvrRunResult {
    /// The answer to each line, without its `\n`.
    pub answers: Vec<Vec<u8>>,
    /// The steps each line took, in cycles.
    pub steps: Vec<Vec<u64>>,
    /// The harness's report.
    pub report: crate::sim::avr::AvrReport,
}

/// Answer `lines` (each without `\n`) in one simavr run of the firmware.
pub fn avr_run(fw: &AvrFirmware, lines: &[Vec<u8>]) -> Result<AvrRunResult> {
    use crate::sim::avr::{run_firmware, AvrExit, AvrRun};
    let mut input = Vec::new();
    for l in lines {
        if l.len() > AVR_LINE && fw.mode != AvrMode::Vector {
            return Err(Diagnostic::new(format!(
                "a line of {} bytes: the simulator firmware reads at most {AVR_LINE}",
                l.len()
            )));
        }
        if l.contains(&b'\n') {
            return Err(Diagnostic::new("a query cannot hold a line break"));
        }
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let f = u64::from(fw.board.f_cpu());
    let prompt = [zlmc_runtime_avr::SIM_PROMPT];
    let mut run = AvrRun::new(&fw.elf, fw.board.mcu(), fw.board.f_cpu());
    run.uart_input = &input;
    run.step_symbol = Some(&fw.step_symbol);
    run.stop_on = Some(&prompt);
    // A hung firmware is caught by the cycle limit; a long reply sends
    // nothing for a while, which must not count as hung.
    run.max_cycles = 100 * f * (lines.len() as u64 + 1);
    run.idle_cycles = run.max_cycles;
    let report = run_firmware(&run)
        .map_err(|e| Diagnostic::new(format!("cannot run the firmware in simavr: {e}")))?;
    if report.exit != AvrExit::Prompt {
        return Err(Diagnostic::new(format!(
            "the firmware stopped before answering every line ({:?}); output so far: {:?}",
            report.exit,
            String::from_utf8_lossy(&report.output)
        )));
    }
    let mut parts = report.output.split(|&b| b == zlmc_runtime_avr::SIM_PROMPT);
    if parts.next() != Some(&[][..]) {
        return Err(Diagnostic::new(
            "the firmware wrote before its first prompt",
        ));
    }
    let answers: Vec<Vec<u8>> = parts
        .take(lines.len())
        .map(|a| a.strip_suffix(b"\n").unwrap_or(a).to_vec())
        .collect();
    if answers.len() != lines.len() {
        return Err(Diagnostic::new(
            "the firmware answered fewer lines than it was given",
        ));
    }
    // Which steps belong to which line: a reply of n bytes took n + 1 steps,
    // or n when it stopped at its longest.
    let mut steps = Vec::new();
    let mut at = 0;
    for a in &answers {
        let n = match fw.mode {
            AvrMode::Reply { max_length } => {
                if a.len() < max_length.min(fw.reply_cap) {
                    a.len() + 1
                } else {
                    a.len()
                }
            }
            AvrMode::Classify => 1,
            AvrMode::Vector => 2,
        };
        let end = (at + n).min(report.step_cycles.len());
        steps.push(report.step_cycles[at..end].to_vec());
        at = end;
    }
    Ok(AvrRunResult {
        answers,
        steps,
        report,
    })
}

/// `zlmc sim MODEL --target avr --board BOARD`.
pub fn avr(
    path: &Path,
    board: zlmc_backends::avr::Board,
    prompt: Option<String>,
    batch: bool,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let mut model = driver::load(path)?;
    driver::optimize(&mut model, &[], |_, _| {})?;
    let io = |e: std::io::Error| Diagnostic::new(format!("I/O error: {e}"));
    let mut queries = Vec::new();
    if let Some(p) = prompt {
        queries.push(p.into_bytes());
    } else if batch {
        while let Some(line) = crate::cli::read_line(stdin).map_err(io)? {
            queries.push(line);
        }
    } else {
        return Err(Diagnostic::new("nothing to run").help("pass --prompt TEXT or --batch"));
    }
    let dir = std::env::temp_dir().join(format!("zlmc-avr-sim-{}", std::process::id()));
    let result = (|| {
        let fw = avr_firmware(&model, path, board, &dir)?;
        let r = avr_run(&fw, &queries)?;
        let size = crate::sim::avr::avr_size(&fw.elf)
            .map_err(|e| Diagnostic::new(format!("cannot size the firmware: {e}")))?;
        Ok::<_, Diagnostic>((fw, r, size))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let (fw, r, size) = result?;
    for (q, a) in queries.iter().zip(&r.answers) {
        if batch {
            out.write_all(q).map_err(io)?;
            out.write_all(b"\t").map_err(io)?;
        }
        out.write_all(a).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
    }
    eprintln!(
        "{}",
        avr_summary(&fw, &queries, &r, size.flash(), size.static_ram())
    );
    Ok(())
}

/// The cost report of an AVR run: cycles per step, time at the board's clock, sizes.
pub fn avr_summary(
    fw: &AvrFirmware,
    queries: &[Vec<u8>],
    r: &AvrRunResult,
    flash: u64,
    sram: u64,
) -> String {
    let all: Vec<u64> = r.steps.iter().flatten().copied().collect();
    let n = all.len().max(1) as f64;
    let avg = all.iter().sum::<u64>() as f64 / n;
    let max = all.iter().copied().max().unwrap_or(0);
    let mut worst = (0.0, String::new());
    for (q, s) in queries.iter().zip(&r.steps) {
        let a = s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
        if a > worst.0 {
            worst = (a, String::from_utf8_lossy(q).into_owned());
        }
    }
    let khz = f64::from(fw.board.f_cpu()) / 1000.0;
    format!(
        "avr {} ({}, {} MHz): {} steps; cycles per inference step: average {avg:.0} ({:.2} ms), \
         max {max} ({:.2} ms); worst query {:?} at {:.0} per step; firmware {flash} bytes of \
         flash, {sram} of static RAM, stack peak {} bytes\n{}",
        fw.board,
        fw.board.mcu(),
        fw.board.f_cpu() / 1_000_000,
        all.len(),
        avg / khz,
        max as f64 / khz,
        worst.1,
        worst.0,
        r.report.stack_peak(),
        fw.files.report.summary()
    )
}
