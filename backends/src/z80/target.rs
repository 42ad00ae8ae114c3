//! The Z80 target in the registry: a CP/M 2.2 program (`NAME.asm`,
//! `NAME.COM`), simulated on zlmc's CP/M machine (`crate::sim::z80`).

use crate::sim::z80::{run_cpm, CpmReport, CpmRun, Exit, MAX_PROGRAM, MAX_TAIL};
use crate::target::{
    answer_each, Answer, Emitted, Job, Machine, Plan, Program, SimRun, SimSummary, Simulator,
    Target, Verified,
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

/// Longest query a CP/M command tail holds.
pub const MAX_QUERY: usize = MAX_TAIL;

/// Build the CP/M program for a verified model.
pub fn build(model: &Verified, prov: &Provenance) -> Result<super::Z80Files, BackendError> {
    super::emit(
        model,
        prov,
        zlmc_runtime_z80::CHAT_ASM,
        zlmc_runtime_z80::CLASSIFY_ASM,
    )
}

impl Target for Z80Target {
    fn name(&self) -> &'static str {
        "z80"
    }

    fn about(&self) -> &'static str {
        "Z80 assembly and a CP/M 2.2 program (NAME.asm, NAME.COM)"
    }

    fn machines(&self) -> &'static [Machine] {
        &CPM
    }

    fn emit(&self, job: &Job) -> Result<Emitted, BackendError> {
        let z = build(job.model, job.prov)?;
        let plan = Plan {
            flash: Some(z.com.len()),
            ram: None,
            cycles: None,
            summary: format!(
                "z80: {} is {} bytes; buffers from 0x{:04x}",
                z.com_name,
                z.com.len(),
                z.buffers_start
            ),
        };
        Ok(Emitted {
            folder: None,
            files: vec![
                (z.asm_name.clone(), z.asm.clone().into_bytes()),
                (z.com_name.clone(), z.com.clone()),
            ],
            plan,
            program: Program::new(z),
        })
    }

    fn simulator(&self) -> Option<&'static dyn Simulator> {
        Some(&Z80_TARGET)
    }
}

impl Simulator for Z80Target {
    fn run(
        &self,
        _job: &Job,
        built: &Emitted,
        queries: &[Vec<u8>],
    ) -> Result<SimRun, BackendError> {
        let z: &Z80Files = built.program.get()?;
        let (answers, runs) = answer_each(queries, |q| z80_reply(&z.com, z.step_entry, q))?;
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
            chat_mode(z, queries)?
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
    let typable = |q: &Vec<u8>| {
        !q.is_empty()
            && q.len() <= MAX_QUERY
            && q[0] != b'!'
            && q.iter().all(|b| (32..127).contains(b))
    };
    if queries.is_empty() || !queries.iter().all(typable) {
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

/// Run `com` once with `query` as its command tail: the answer (what the
/// program printed, each step's T-states) and the run's whole report.
pub fn z80_reply(
    com: &[u8],
    step_entry: u16,
    query: &[u8],
) -> Result<(Answer, CpmReport), BackendError> {
    if query.is_empty() {
        return Err(BackendError::unsupported(
            "an empty query cannot be passed as a CP/M command tail (the program would start its chat loop)",
        ));
    }
    if query.len() > MAX_QUERY {
        return Err(BackendError::Unsupported(format!(
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
    .map_err(|e| BackendError::Internal(format!("cannot run the program: {e}")))?;
    if !matches!(r.exit, Exit::WarmBoot) {
        return Err(BackendError::Internal(format!(
            "the program did not return to CP/M ({:?}) for query {:?}",
            r.exit,
            String::from_utf8_lossy(query)
        )));
    }
    if r.console_calls_with_interrupts_disabled > 0 {
        return Err(BackendError::internal(
            "the program called the console with interrupts disabled",
        ));
    }
    let answer = Answer {
        reply: r.output.clone(),
        steps: r.step_tstates.clone(),
    };
    Ok((answer, r))
}
