//! What a simulated run of many queries cost, worked out the same way for
//! every target: steps, cycles per step (average, maximum, the worst query)
//! and milliseconds at the machine's clock. A target's report adds only its
//! own figures (sizes, CP/M's chat mode, the Spectrum's contention).

use std::fmt;

use crate::machine::Machine;
use crate::target::Answer;

/// The cost of a run of queries on one machine.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSummary {
    /// The machine the run was timed on.
    pub machine: &'static Machine,
    /// Inference steps over all queries.
    pub steps: usize,
    /// Cycles of all those steps.
    pub cycles: u64,
    /// Cycles of the longest step.
    pub max: u64,
    /// The query with the highest cycles per step, if any query took a step.
    pub worst: Option<WorstQuery>,
}

/// The query that cost the most per step.
#[derive(Debug, Clone, PartialEq)]
pub struct WorstQuery {
    /// The query, as text.
    pub query: String,
    /// Its cycles per step.
    pub per_step: f64,
}

impl SimSummary {
    /// The summary of `answers` (one per query, in order) on `machine`.
    pub fn of(answers: &[Answer], queries: &[Vec<u8>], machine: &'static Machine) -> SimSummary {
        let all = || answers.iter().flat_map(|a| a.steps.iter().copied());
        let mut worst: Option<WorstQuery> = None;
        for (q, a) in queries.iter().zip(answers) {
            if a.steps.is_empty() {
                continue;
            }
            let per_step = a.steps.iter().sum::<u64>() as f64 / a.steps.len() as f64;
            // The first of equally costly queries is named.
            if worst.as_ref().is_none_or(|w| per_step > w.per_step) {
                worst = Some(WorstQuery {
                    query: String::from_utf8_lossy(q).into_owned(),
                    per_step,
                });
            }
        }
        SimSummary {
            machine,
            steps: all().count(),
            cycles: all().sum(),
            max: all().max().unwrap_or(0),
            worst,
        }
    }

    /// Cycles per step on average (0 without steps).
    pub fn average(&self) -> f64 {
        self.cycles as f64 / self.steps.max(1) as f64
    }

    /// Milliseconds per step on average, at the machine's clock.
    pub fn average_ms(&self) -> f64 {
        self.machine.ms(self.average())
    }

    /// `total` cycles (of whole runs, say) per step.
    pub fn per_step(&self, total: u64) -> f64 {
        total as f64 / self.steps.max(1) as f64
    }
}

/// "N steps on the MACHINE; cycles per inference step: average A (ms), max M
/// (ms); worst query "Q" at W per step".
impl fmt::Display for SimSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.machine;
        write!(
            f,
            "{} steps on the {}; {} per inference step: average {:.0} ({:.2} ms), max {} ({:.2} ms)",
            self.steps,
            m.about(),
            m.cycle_name,
            self.average(),
            self.average_ms(),
            self.max,
            m.ms(self.max as f64)
        )?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst query {:?} at {:.0} per step",
                w.query, w.per_step
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avr::Board;

    fn answer(steps: &[u64]) -> Answer {
        Answer {
            reply: Vec::new(),
            steps: steps.to_vec(),
        }
    }

    #[test]
    fn averages_over_steps_and_names_the_costliest_query_per_step() {
        let uno = Board::Uno.machine();
        let queries = [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        let answers = [answer(&[100, 300]), answer(&[250]), answer(&[250])];
        let s = SimSummary::of(&answers, &queries, uno);
        assert_eq!((s.steps, s.cycles, s.max), (4, 900, 300));
        assert_eq!(s.average(), 225.0);
        assert_eq!(s.average_ms(), uno.ms(225.0));
        let w = s.worst.as_ref().expect("a worst query");
        assert_eq!((w.query.as_str(), w.per_step), ("b", 250.0));
        let text = s.to_string();
        assert!(text.starts_with("4 steps on the Arduino Uno"), "{text}");
        assert!(
            text.ends_with("worst query \"b\" at 250 per step"),
            "{text}"
        );
    }

    #[test]
    fn a_run_without_steps_has_no_worst_query() {
        let s = SimSummary::of(&[answer(&[])], &[b"x".to_vec()], Board::Uno.machine());
        assert_eq!((s.steps, s.average(), s.worst), (0, 0.0, None));
    }
}
