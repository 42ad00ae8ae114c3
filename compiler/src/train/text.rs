//! Teacher-forced training samples for z80ai-style character models, from
//! `query|reply` text.
//!
//! Every reply position is one sample, as z80ai's trainer makes them
//! (`create_training_examples` in its `feedme.py`): the model's own encoding
//! of the query and of the last `length` characters of the *true* reply so
//! far (lower-cased, spaces before the reply starts), labelled with the
//! reply's next character, and the end-of-sequence class after the last one.
//! Like z80ai, nothing is deduplicated: a line that appears twice gives its
//! samples twice (the data's own weighting), and a query with two replies
//! gives both. Samples are grouped by query (lower-cased, leading spaces
//! dropped — the encoder's view of it), so that a held-out split by group
//! never sees a query it was trained on.

use std::collections::HashMap;

use zlmc_ir::{interp, Model};

use crate::diag::{Diagnostic, Result};
use crate::evaluate::text::Line;

/// Teacher-forced samples of a character model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextSamples {
    /// The step's input vector (query buckets then context buckets), one per sample.
    pub inputs: Vec<Vec<i16>>,
    /// The class to predict: the next reply character, or end-of-sequence.
    pub labels: Vec<u32>,
    /// Which distinct query a sample belongs to (0, 1, … in order of first appearance).
    pub groups: Vec<u32>,
    /// Which line of the text a sample comes from.
    pub lines: Vec<u32>,
}

impl TextSamples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of distinct queries.
    pub fn group_count(&self) -> usize {
        self.groups.iter().max().map_or(0, |&g| g as usize + 1)
    }
}

/// The class of reply byte `c`: its charset position, or else the position
/// of the same letter in the other case (z80ai charsets hold one case).
pub fn class_of(charset: &[u8], c: u8) -> Option<usize> {
    charset
        .iter()
        .position(|&x| x == c)
        .or_else(|| charset.iter().position(|x| x.eq_ignore_ascii_case(&c)))
}

/// The query as the encoder sees it: leading spaces dropped, ASCII lower-cased.
pub fn query_key(query: &[u8]) -> Vec<u8> {
    let start = query.iter().position(|&b| b != b' ').unwrap_or(query.len());
    query[start..].iter().map(|&b| interp::lower(b)).collect()
}

/// The teacher-forced samples of `lines` for `model` (a generating model).
/// Positions at or beyond the model's `max_length` are left out, as
/// generation never reaches them; a reply byte outside the charset is an error.
pub fn samples_from_lines(model: &Model, lines: &[Line]) -> Result<TextSamples> {
    let Some((charset, eos, max_length)) = model.decode.generation() else {
        return Err(Diagnostic::new(
            "query|reply text trains character models (output: generate)",
        ));
    };
    let ctx_len = interp::context_length(model);
    let mut groups: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut s = TextSamples::default();
    for (n, l) in lines.iter().enumerate() {
        let next = groups.len() as u32;
        let g = *groups.entry(query_key(&l.query)).or_insert(next);
        let mut ctx = vec![b' '; ctx_len];
        for i in 0..=l.reply.len().min(max_length.saturating_sub(1)) {
            let label = match l.reply.get(i) {
                Some(&c) => class_of(charset, c).ok_or_else(|| {
                    Diagnostic::new(format!(
                        "the reply to `{}` (query|reply line {}, not counting comments and blank lines) has '{}', which is not in the model's charset",
                        String::from_utf8_lossy(&l.query),
                        n + 1,
                        std::ascii::escape_default(c)
                    ))
                })?,
                None => eos,
            };
            s.inputs.push(interp::encode(model, &l.query, &ctx));
            s.labels.push(label as u32);
            s.groups.push(g);
            s.lines.push(n as u32);
            if let Some(&c) = l.reply.get(i) {
                if !ctx.is_empty() {
                    ctx.remove(0);
                    ctx.push(interp::lower(c));
                }
            }
        }
    }
    Ok(s)
}

/// Split line indices into (training, held-out) by query: about `fraction`
/// of the distinct queries, chosen by `seed`, go to the held-out side with
/// every line that asks them.
pub fn split_lines_by_query(lines: &[Line], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let group: Vec<usize> = lines
        .iter()
        .map(|l| {
            let k = query_key(&l.query);
            *index.entry(k.clone()).or_insert_with(|| {
                keys.push(k);
                keys.len() - 1
            })
        })
        .collect();
    let held: Vec<bool> = (0..keys.len())
        .map(|g| {
            (splitmix(seed ^ (g as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) as f64)
                < fraction * u64::MAX as f64
        })
        .collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, &g) in group.iter().enumerate() {
        if held[g] {
            test.push(i);
        } else {
            train.push(i);
        }
    }
    (train, test)
}

/// SplitMix64: a well-mixed hash of one `u64`, for reproducible choices.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::chat::tests::tiny_model;

    fn line(q: &str, r: &str) -> Line {
        Line {
            query: q.as_bytes().to_vec(),
            reply: r.as_bytes().to_vec(),
        }
    }

    #[test]
    fn one_sample_per_reply_character_and_the_end() {
        let m = tiny_model(3);
        let s = samples_from_lines(&m, &[line("hi", "AB"), line("yo", "b")]).unwrap();
        // charset "ab\0": A→0, B→1, end→2 (letters matched across case).
        assert_eq!(s.labels, [0, 1, 2, 1, 2]);
        assert_eq!(s.groups, [0, 0, 0, 1, 1]);
        assert_eq!(s.lines, [0, 0, 0, 1, 1]);
        // The context is the true reply so far, lower-cased.
        assert_eq!(s.inputs[0], interp::encode(&m, b"hi", b"    "));
        assert_eq!(s.inputs[2], interp::encode(&m, b"hi", b"  ab"));
    }

    #[test]
    fn duplicates_are_kept_and_grouped_by_what_the_encoder_sees() {
        let m = tiny_model(3);
        let s =
            samples_from_lines(&m, &[line("Hi", "a"), line("  hi", "a"), line("x", "b")]).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s.groups, [0, 0, 0, 0, 1, 1]);
        assert_eq!(s.group_count(), 2);
    }

    #[test]
    fn positions_stop_at_max_length() {
        let m = tiny_model(3); // max_length 5
        let s = samples_from_lines(&m, &[line("q", "abababab")]).unwrap();
        assert_eq!(s.labels, [0, 1, 0, 1, 0]);
    }

    #[test]
    fn a_character_outside_the_charset_is_an_error() {
        let m = tiny_model(3);
        let e = samples_from_lines(&m, &[line("q", "a"), line("w", "az")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("the reply to `w` (query|reply line 2,"),
            "{e}"
        );
        assert!(e.to_string().contains("'z'"), "{e}");
    }

    #[test]
    fn the_split_keeps_every_query_on_one_side() {
        let lines: Vec<Line> = (0..200)
            .map(|i| line(&format!("q{}", i % 50), "a"))
            .collect();
        let (train, test) = split_lines_by_query(&lines, 0.2, 7);
        assert_eq!(train.len() + test.len(), 200);
        let key = |i: &usize| query_key(&lines[*i].query);
        let held: std::collections::HashSet<_> = test.iter().map(key).collect();
        assert!(train.iter().all(|i| !held.contains(&key(i))));
        // About a fifth of the 50 queries, and the same split for the same seed.
        assert!((5..=16).contains(&held.len()), "{}", held.len());
        assert_eq!(split_lines_by_query(&lines, 0.2, 7).1, test);
        assert_ne!(split_lines_by_query(&lines, 0.2, 8).1, test);
    }
}
