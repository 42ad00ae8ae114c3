//! The zx48 target in the registry: a ZX Spectrum 48K tape (`NAME.tap`,
//! `NAME.asm`), simulated on zlmc's Spectrum machine (`crate::sim::zx48`).

use crate::sim::zx48::{run_zx48, Rom, ZxExit, ZxReport, ZxRun, CONTENTION_PER_ACCESS};
use crate::target::{
    answer_each, Answer, Emitted, Job, Machine, SimRun, SimSummary, Simulator, Target, TargetInfo,
};
use crate::z80::target::typed_answer;
use crate::BackendError;

use super::{build, Zx48Files, LOW_ORIGIN, ZX48};

/// The `zx48` target.
pub struct Zx48Target;

/// The registry's entry for the ZX Spectrum 48K target.
pub static ZX48_TARGET: Zx48Target = Zx48Target;

/// The ZX Spectrum 48K (`crate::sim::zx48`).
pub static SPECTRUM_48K: [Machine; 1] = [Machine {
    name: "zx48",
    title: "ZX Spectrum 48K",
    cpu: "Z80A",
    clock_hz: 3_500_000,
    cycle_name: "T-states",
    // The code from its lowest origin, and the buffers up to their top.
    program_bytes: (ZX48.buffers_top - LOW_ORIGIN) as usize,
    ram_bytes: 48 << 10,
    arduino: None,
}];

/// Longest query the front-end's line buffer holds.
pub const MAX_QUERY: usize = zlmc_runtime_z80::LINE_MAX;

/// The registry's facts about the `zx48` target.
static INFO: TargetInfo = TargetInfo {
    name: "zx48",
    about: "ZX Spectrum 48K: a tape with a BASIC loader and the code at 0x8000, or 0x6000 if it needs the room (NAME.tap, NAME.asm)",
    machines: &SPECTRUM_48K,
};

impl Target for Zx48Target {
    fn info(&self) -> &'static TargetInfo {
        &INFO
    }

    fn emit(&self, job: &Job) -> Result<Emitted, BackendError> {
        let z = build(job.model, job.prov)?;
        let mut summary = format!(
            "zx48: {} is {} bytes, its code block {} bytes at 0x{:04x}; buffers from 0x{:04x}",
            z.tap_name,
            z.tap.len(),
            z.program.com.len(),
            z.program.origin,
            z.program.buffers_start
        );
        for line in &z.program.report {
            summary.push_str("\n  ");
            summary.push_str(line);
        }
        let files = vec![
            (
                z.program.asm_name.clone(),
                z.program.asm.clone().into_bytes(),
            ),
            (z.tap_name.clone(), z.tap.clone()),
        ];
        let flash = z.program.com.len();
        Ok(Emitted::program_files(files, flash, summary, z))
    }

    fn simulator(&self) -> Option<&'static dyn Simulator> {
        Some(&ZX48_TARGET)
    }
}

/// Why the Spectrum front-end cannot be given `query` (it is typed at the
/// prompt), if it cannot.
pub fn zx48_refusal(query: &[u8]) -> Option<String> {
    if query.is_empty() || query.len() > MAX_QUERY {
        return Some(format!(
            "a query of {} bytes: the Spectrum front-end reads lines of 1 to {MAX_QUERY}",
            query.len()
        ));
    }
    if query[0] == b'!' || query.iter().any(|b| !(32..128).contains(b)) {
        return Some(
            "the Spectrum front-end reads lines of printable ASCII, and one starting with `!` returns to BASIC"
                .into(),
        );
    }
    None
}

/// Run the code block: type `query` and ENTER at the prompt, then `!` and
/// ENTER, and read the reply off the screen output. The answer (the reply,
/// each step's T-states) and the run's whole report.
pub fn zx48_reply(z: &Zx48Files, query: &[u8]) -> Result<(Answer, ZxReport), BackendError> {
    zx48_reply_on(z, query, None)
}

/// [`zx48_reply`] on the machine with `rom`'s own code (`None`: the served
/// ROM entry points).
pub fn zx48_reply_on(
    z: &Zx48Files,
    query: &[u8],
    rom: Option<&Rom>,
) -> Result<(Answer, ZxReport), BackendError> {
    if let Some(why) = zx48_refusal(query) {
        return Err(BackendError::Unsupported(why));
    }
    // The screen shows "\r> " query "\r" reply "\r> !\r" (LF is not printed).
    typed_reply(z, query, rom, b"\n!\n", b"\r> !\r")
}

/// Run a raw-input model's code block: type `query`, ENTER and `!` (which
/// leaves as soon as it is typed), and read the answer off the screen output.
pub fn zx48_raw_reply(z: &Zx48Files, query: &[u8]) -> Result<(Answer, ZxReport), BackendError> {
    zx48_raw_reply_on(z, query, None)
}

/// [`zx48_raw_reply`] on the machine with `rom`'s own code (`None`: the
/// served ROM entry points).
pub fn zx48_raw_reply_on(
    z: &Zx48Files,
    query: &[u8],
    rom: Option<&Rom>,
) -> Result<(Answer, ZxReport), BackendError> {
    if let Some(why) = crate::z80::target::raw_refusal(query) {
        return Err(BackendError::Unsupported(why));
    }
    // The screen shows "\r> " query "\r" answer "\r> !" (LF is not printed).
    typed_reply(z, query, rom, b"\n!", b"\r> !")
}

/// Type `query` then `keys_after` at the prompt of a run of the code block
/// that must end back in BASIC, and read the answer off the screen between
/// the query's echo and `screen_after` (shared by the text and raw-input
/// front-ends, which differ only in what follows the query).
fn typed_reply(
    z: &Zx48Files,
    query: &[u8],
    rom: Option<&Rom>,
    keys_after: &[u8],
    screen_after: &[u8],
) -> Result<(Answer, ZxReport), BackendError> {
    if let (Some(_), Err(b)) = (rom, crate::sim::zx48::keys::keys_for(query)) {
        return Err(BackendError::Unsupported(format!(
            "{:?} is typed differently on Sinclair's ROM and OpenSE's, so the simulator does not type it on a real ROM",
            b as char
        )));
    }
    let mut keys = query.to_vec();
    keys.extend(keys_after);
    let r = run_zx48(&ZxRun {
        code: &z.program.com,
        origin: z.program.origin,
        keys: &keys,
        step_entry: Some(z.program.step_entry),
        max_tstates: 20_000_000_000,
        rom,
    })
    .map_err(|e| BackendError::Internal(e.to_string()))?;
    if r.exit != ZxExit::Basic {
        return Err(BackendError::Internal(format!(
            "the program did not return to BASIC ({:?}) for query {:?}; the screen showed {:?}",
            r.exit,
            String::from_utf8_lossy(query),
            String::from_utf8_lossy(&r.output)
        )));
    }
    let reply = typed_answer(
        &r.output,
        [b"\r> ", query, b"\r"],
        screen_after,
        "screen output",
    )?;
    let answer = Answer {
        reply: reply.to_vec(),
        steps: r.step_tstates.clone(),
    };
    Ok((answer, r))
}

impl Simulator for Zx48Target {
    fn refusal(&self, job: &Job, query: &[u8]) -> Option<String> {
        if job.model.model().takes_text() {
            zx48_refusal(query)
        } else {
            crate::z80::target::raw_refusal(query)
        }
    }

    fn run(&self, job: &Job, built: &Emitted, queries: &[Vec<u8>]) -> Result<SimRun, BackendError> {
        let z: &Zx48Files = built.program.get()?;
        let text = job.model.model().takes_text();
        let (answers, runs) = answer_each(queries, |q| {
            if text {
                zx48_reply(z, q)
            } else {
                zx48_raw_reply(z, q)
            }
        })?;
        let whole_runs: u64 = runs.iter().map(|r| r.total_tstates).sum();
        let contended: u64 = runs.iter().map(|r| r.contended_accesses).sum();
        let high = runs.iter().map(|r| r.highest_write).max().unwrap_or(0);
        let low_sp = runs.iter().map(|r| r.lowest_sp).min().unwrap_or(0xFFFF);
        let summary = SimSummary::of(&answers, queries, &SPECTRUM_48K[0]);
        let slower = contended as f64 * CONTENTION_PER_ACCESS / whole_runs.max(1) as f64;
        let report = format!(
            "zx48: {summary}; whole runs incl. front-end and set-up: {:.0} per step; \
             {} {} bytes, code {} bytes at 0x{:04x}; buffers from 0x{:04x}; \
             highest write 0x{high:04x}; lowest SP 0x{low_sp:04x}; uncontended T-states: \
             a real 48K is about {:.0}% slower, as {:.0} accesses per step touch the RAM \
             below 0x8000 the screen contends for ({CONTENTION_PER_ACCESS:.2} T-states each on average)",
            summary.per_step(whole_runs),
            z.tap_name,
            z.tap.len(),
            z.program.com.len(),
            z.program.origin,
            z.program.buffers_start,
            100.0 * slower,
            summary.per_step(contended),
        );
        Ok(SimRun {
            answers,
            summary,
            report,
        })
    }
}
