//! The Z80 target in the registry: a CP/M 2.2 program (`NAME.asm`,
//! `NAME.COM`), simulated on zlmc's CP/M machine (`crate::sim::z80`).

use crate::sim::z80::{run_cpm, CpmReport, CpmRun, Exit, MAX_PROGRAM, MAX_TAIL};
use crate::target::{
    answer_each, Answer, Emitted, Job, Machine, SimRun, SimSummary, Simulator, Target, TargetInfo,
    Verified,
};
use crate::{BackendError, Provenance};

use super::Z80Files;

/// The `z80` target.
pub struct Z80Target;

/// The registry's entry for the Z80 target.
pub static Z80_TARGET: Z80Target = Z80Target;

/// The CP/M 2.2 machine the `.COM` programs run on (`crate::sim::z80`).
pub static CPM: [Machine; 1] = [Machine {
    name: "cpm",
    title: "CP/M 2.2 machine",
    cpu: "Z80",
    clock_hz: 4_000_000,
    cycle_name: "T-states",
    program_bytes: MAX_PROGRAM,
    ram_bytes: 1 << 16,
    arduino: None,
}];

/// Longest query the program takes: the chat loop's line (BDOS 10 into a
/// 127-byte buffer), where a query too long for the command tail is typed.
pub const MAX_QUERY: usize = zlmc_runtime_z80::LINE_MAX;

/// Whether `query` fits CP/M's command tail once the CCP has put a space before it.
fn fits_tail(query: &[u8]) -> bool {
    let space = usize::from(query.first().is_some_and(|&b| b != b' '));
    !query.is_empty() && query.len() + space <= MAX_TAIL
}

/// Whether `query` can be typed into the chat loop as one line: printable
/// ASCII (BDOS 10 echoes control keys as `^X`), not empty (the loop prompts
/// again) and not starting with `!` (which returns to CP/M).
fn typable(query: &[u8]) -> bool {
    !query.is_empty()
        && query.len() <= MAX_QUERY
        && query[0] != b'!'
        && query.iter().all(|b| (32..127).contains(b))
}

/// Why the CP/M program cannot be given `query`, if it cannot: it takes a
/// query as its command tail, or typed into its chat loop when the tail is too short.
pub fn z80_refusal(query: &[u8]) -> Option<String> {
    if query.is_empty() {
        return Some(
            "an empty query: the CP/M program starts its chat loop for an empty command tail, \
             and the chat loop skips empty lines"
                .into(),
        );
    }
    if fits_tail(query) || typable(query) {
        return None;
    }
    Some(format!(
        "a query of {} bytes: a CP/M command tail holds {MAX_TAIL} bytes, the space the CCP \
         puts before the query included, and a longer query must be typed into the chat loop, \
         which reads lines of at most {MAX_QUERY} bytes of printable ASCII not starting with `!`",
        query.len()
    ))
}

/// Build the CP/M program for a verified model.
pub fn build(model: &Verified, prov: &Provenance) -> Result<super::Z80Files, BackendError> {
    super::emit(
        model,
        prov,
        super::Runtimes {
            chat: zlmc_runtime_z80::CHAT_ASM,
            classify: zlmc_runtime_z80::CLASSIFY_ASM,
            raw: zlmc_runtime_z80::RAW_ASM,
            raw_values: zlmc_runtime_z80::RAW_VALUES_ASM,
        },
    )
}

/// The registry's facts about the `z80` target.
static INFO: TargetInfo = TargetInfo {
    name: "z80",
    about: "Z80 assembly and a CP/M 2.2 program (NAME.asm, NAME.COM)",
    machines: &CPM,
};

impl Target for Z80Target {
    fn info(&self) -> &'static TargetInfo {
        &INFO
    }

    fn emit(&self, job: &Job) -> Result<Emitted, BackendError> {
        let z = build(job.model, job.prov)?;
        let mut summary = format!(
            "z80: {} is {} bytes; buffers from 0x{:04x}",
            z.com_name,
            z.com.len(),
            z.buffers_start
        );
        for line in &z.report {
            summary.push_str("\n  ");
            summary.push_str(line);
        }
        let files = vec![
            (z.asm_name.clone(), z.asm.clone().into_bytes()),
            (z.com_name.clone(), z.com.clone()),
        ];
        Ok(Emitted::program_files(files, z.com.len(), summary, z))
    }

    fn simulator(&self) -> Option<&'static dyn Simulator> {
        Some(&Z80_TARGET)
    }
}

/// Why a raw-input model's program cannot be given `query`, if it cannot: the
/// values are typed into its loop, a key at a time, so any length goes, but
/// as one line of printable ASCII that does not start with `!` (which leaves).
pub fn raw_refusal(query: &[u8]) -> Option<String> {
    if query.is_empty() || query[0] == b'!' || !query.iter().all(|b| (32..127).contains(b)) {
        return Some(
            "the program reads a line of printable ASCII, not empty and not starting with `!`"
                .into(),
        );
    }
    None
}

/// Run a raw-input model's `com` once with `query` typed into its loop
/// (BDOS 1 a key at a time, then `!`): the answer and the run's report.
pub fn z80_raw_reply(
    com: &[u8],
    step_entry: u16,
    query: &[u8],
) -> Result<(Answer, CpmReport), BackendError> {
    if let Some(why) = raw_refusal(query) {
        return Err(BackendError::Unsupported(why));
    }
    let mut keys = query.to_vec();
    keys.extend(b"\r!");
    let r = run_to_cpm(com, b"", &keys, step_entry, query)?;
    // "\r\n> ", the query's echo and BDOS 1's echo of CR, CR LF, the
    // answer, then the next prompt and the `!` that leaves.
    let reply = typed_answer(
        &r.output,
        [b"\r\n> ", query, b"\r\r\n"],
        b"\r\n> !",
        "console output for a line of values",
    )?;
    let answer = Answer {
        reply: reply.to_vec(),
        steps: r.step_tstates.clone(),
    };
    Ok((answer, r))
}

/// One run of `com` for `query` (given as `command_tail`, or typed as
/// `keys`) that must end with a warm boot back to CP/M: its report.
fn run_to_cpm(
    com: &[u8],
    command_tail: &[u8],
    keys: &[u8],
    step_entry: u16,
    query: &[u8],
) -> Result<CpmReport, BackendError> {
    let r = run_cpm(&CpmRun {
        program: com,
        command_tail,
        console_input: keys,
        step_entry: Some(step_entry),
        max_tstates: 20_000_000_000,
    })
    .map_err(|e| BackendError::Internal(format!("cannot run the program: {e}")))?;
    if !matches!(r.exit, Exit::WarmBoot) {
        return Err(BackendError::Internal(format!(
            "the program did not return to CP/M ({:?}) for query {:?}",
            r.exit,
            String::from_utf8_lossy(query)
        )));
    }
    Ok(r)
}

impl Simulator for Z80Target {
    fn refusal(&self, job: &Job, query: &[u8]) -> Option<String> {
        if job.model.model().takes_text() {
            z80_refusal(query)
        } else {
            raw_refusal(query)
        }
    }

    fn run(&self, job: &Job, built: &Emitted, queries: &[Vec<u8>]) -> Result<SimRun, BackendError> {
        let z: &Z80Files = built.program.get()?;
        let text = job.model.model().takes_text();
        let (answers, runs) = answer_each(queries, |q| {
            if text {
                z80_reply(&z.com, z.step_entry, q)
            } else {
                z80_raw_reply(&z.com, z.step_entry, q)
            }
        })?;
        let whole_runs: u64 = runs.iter().map(|r| r.total_tstates).sum();
        let highest_write = runs.iter().map(|r| r.highest_write).max().unwrap_or(0);
        let first_step = runs
            .iter()
            .map(|r| r.first_step_at.unwrap_or(r.total_tstates))
            .max()
            .unwrap_or(0);
        let summary = SimSummary::of(&answers, queries, &CPM[0]);
        let report = format!(
            "z80: {summary}; whole runs incl. front-end: {:.0} per step; \
             first step at most {first_step} T-states after start; \
             .COM {} bytes; buffers from 0x{:04x}; highest write 0x{highest_write:04x}{}",
            summary.per_step(whole_runs),
            z.com.len(),
            z.buffers_start,
            if text {
                chat_mode(z, queries)?
            } else {
                String::new()
            }
        );
        Ok(SimRun {
            answers,
            summary,
            report,
        })
    }
}

/// The queries typed into one run of the chat loop (started once, as a user
/// would): T-states per step from the first step on, the front-end's work
/// for each query included. Empty if a query cannot be typed as a line.
fn chat_mode(z: &Z80Files, queries: &[Vec<u8>]) -> Result<String, BackendError> {
    if queries.is_empty() || !queries.iter().all(|q| typable(q)) {
        return Ok(String::new());
    }
    let mut input = Vec::new();
    for q in queries {
        input.extend(q);
        input.push(b'\r');
    }
    input.extend(b"!\r");
    let r = run_cpm(&CpmRun {
        program: &z.com,
        command_tail: b"",
        console_input: &input,
        step_entry: Some(z.step_entry),
        max_tstates: 1 << 50,
    })
    .map_err(|e| BackendError::Internal(format!("cannot run the program: {e}")))?;
    let steps = r.step_tstates.len().max(1) as f64;
    let from = r.first_step_at.unwrap_or(0);
    Ok(format!(
        "; chat mode (one run, the queries typed): {:.0} T-states per step incl. front-end",
        (r.total_tstates - from) as f64 / steps
    ))
}

/// Run `com` once with `query` as its command tail, or typed into its chat
/// loop if the tail cannot hold it: the answer (what the program printed,
/// each step's T-states) and the run's whole report.
pub fn z80_reply(
    com: &[u8],
    step_entry: u16,
    query: &[u8],
) -> Result<(Answer, CpmReport), BackendError> {
    if let Some(why) = z80_refusal(query) {
        return Err(BackendError::Unsupported(why));
    }
    let in_tail = fits_tail(query);
    let mut keys = Vec::new();
    if !in_tail {
        // A full line ends without ENTER, as BDOS 10 ends it; then `!` leaves.
        keys.extend(query);
        if query.len() < MAX_QUERY {
            keys.push(b'\r');
        }
        keys.extend(b"!\r");
    }
    let tail = if in_tail { query } else { b"" };
    let r = run_to_cpm(com, tail, &keys, step_entry, query)?;
    if r.console_calls_with_interrupts_disabled > 0 {
        return Err(BackendError::internal(
            "the program called the console with interrupts disabled",
        ));
    }
    let reply = if in_tail {
        r.output.clone()
    } else {
        chat_reply(&r.output, query)?.to_vec()
    };
    let answer = Answer {
        reply,
        steps: r.step_tstates.clone(),
    };
    Ok((answer, r))
}

/// The reply in the console output of one query typed into the chat loop:
/// `CR LF "> "`, the query's echo and BDOS 10's CR, `CR LF`, the reply, then
/// the next prompt with `!` typed and its line end.
fn chat_reply<'a>(output: &'a [u8], query: &[u8]) -> Result<&'a [u8], BackendError> {
    typed_answer(
        output,
        [b"\r\n> ", query, b"\r\r\n"],
        b"\r\n> !\r\r\n",
        "console output for a query typed into the chat loop",
    )
}

/// The answer in the `output` of a run with one query typed at a prompt:
/// what stands between `head` (the prompt, the query's echo and what ends
/// the echo) and `tail` (what is printed after). An internal error naming
/// `what` was read if the output is not of that form.
pub(crate) fn typed_answer<'a>(
    output: &'a [u8],
    head: [&[u8]; 3],
    tail: &[u8],
    what: &str,
) -> Result<&'a [u8], BackendError> {
    output
        .strip_prefix(&head.concat()[..])
        .and_then(|o| o.strip_suffix(tail))
        .ok_or_else(|| {
            BackendError::Internal(format!(
                "unexpected {what}: {:?}",
                String::from_utf8_lossy(output)
            ))
        })
}
