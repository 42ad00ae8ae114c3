//! The input map: where each encoder's words sit in the input vector, so that
//! every backend reads the same facts about a text model's hashing front-end.

use std::ops::Range;

use zlmc_ir::{Encoder, Model};

use super::Unsupported;

/// What fills one part of the input vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// Values the caller gives directly.
    Raw,
    /// z80ai's query trigram buckets.
    QueryTrigram,
    /// z80ai's context n-gram buckets over the last `length` reply characters.
    ContextNgram {
        /// The context's length in characters.
        length: usize,
    },
}

/// One encoder's words in the input vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPart {
    /// What fills it.
    pub kind: PartKind,
    /// The input words it fills.
    pub words: Range<usize>,
    /// What each hash adds to its bucket (0 for raw parts).
    pub value: i16,
}

impl InputPart {
    /// Number of words (a text part's buckets).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the part has no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether a text hash fills it (query trigrams or context n-grams).
    pub fn is_text(&self) -> bool {
        self.kind != PartKind::Raw
    }

    /// Whether it holds query trigrams.
    pub fn is_query(&self) -> bool {
        self.kind == PartKind::QueryTrigram
    }

    /// The context's length in characters for context parts, 0 otherwise.
    pub fn context_length(&self) -> usize {
        match self.kind {
            PartKind::ContextNgram { length } => length,
            _ => 0,
        }
    }
}

/// The model's encoders as parts of the input vector, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputMap {
    /// The parts, in input order; their words tile the input.
    pub parts: Vec<InputPart>,
}

impl InputMap {
    /// The input map of `model`'s encoders.
    pub fn of(model: &Model) -> InputMap {
        let mut parts = Vec::with_capacity(model.encoders.len());
        let mut at = 0;
        for e in &model.encoders {
            let words = at..at + e.len();
            at += e.len();
            let (kind, value) = match *e {
                Encoder::QueryTrigram { value, .. } => (PartKind::QueryTrigram, value),
                Encoder::ContextNgram { length, value, .. } => {
                    (PartKind::ContextNgram { length }, value)
                }
                Encoder::Raw { .. } => (PartKind::Raw, 0),
            };
            parts.push(InputPart { kind, words, value });
        }
        InputMap { parts }
    }

    /// Length of the input vector.
    pub fn len(&self) -> usize {
        self.parts.last().map_or(0, |p| p.words.end)
    }

    /// Whether the input vector is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every part is hashed text (a model that reads a line of text).
    pub fn takes_text(&self) -> bool {
        self.parts.iter().all(InputPart::is_text)
    }

    /// The text parts, in input order.
    pub fn text_parts(&self) -> impl Iterator<Item = &InputPart> {
        self.parts.iter().filter(|p| p.is_text())
    }

    /// The (last) query trigram part, if the model has one.
    pub fn query(&self) -> Option<&InputPart> {
        self.parts
            .iter()
            .rfind(|p| p.kind == PartKind::QueryTrigram)
    }

    /// The (last) context n-gram part, if the model has one.
    pub fn context(&self) -> Option<&InputPart> {
        self.parts
            .iter()
            .rfind(|p| matches!(p.kind, PartKind::ContextNgram { .. }))
    }

    /// Refuse a text part of more than `max` buckets, the most `hasher` (the
    /// target's front-end) can index, because of `why`.
    pub fn check_buckets(
        &self,
        hasher: &'static str,
        max: usize,
        why: &'static str,
    ) -> Result<(), Unsupported> {
        match self.text_parts().find(|p| p.len() > max) {
            Some(p) => Err(Unsupported::TooManyBuckets {
                hasher,
                buckets: p.len(),
                max,
                why,
            }),
            None => Ok(()),
        }
    }

    /// With both a non-empty query and context, their words: layer 1 can add
    /// the query's columns once per reply, as the query does not change within one.
    pub fn split(&self) -> Option<(Range<usize>, Range<usize>)> {
        match (self.query(), self.context()) {
            (Some(q), Some(c)) if !q.is_empty() && !c.is_empty() => {
                Some((q.words.clone(), c.words.clone()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zlmc_ir::{Decode, Graph};

    fn model(encoders: Vec<Encoder>) -> Model {
        Model {
            name: "m".into(),
            encoders,
            decode: Decode::Classify { labels: vec![] },
            graph: Graph::default(),
        }
    }

    #[test]
    fn parts_tile_the_input_in_encoder_order() {
        let m = model(vec![
            Encoder::QueryTrigram {
                buckets: 16,
                value: 32,
            },
            Encoder::ContextNgram {
                buckets: 8,
                length: 3,
                value: -7,
            },
        ]);
        let map = InputMap::of(&m);
        assert_eq!(map.len(), 24);
        assert!(map.takes_text());
        assert_eq!(map.query().unwrap().words, 0..16);
        let c = map.context().unwrap();
        assert_eq!(
            (c.words.clone(), c.value, c.context_length()),
            (16..24, -7, 3)
        );
        assert_eq!(map.split(), Some((0..16, 16..24)));
    }

    #[test]
    fn raw_inputs_are_not_text() {
        let m = model(vec![Encoder::Raw {
            len: 5,
            quant: None,
        }]);
        let map = InputMap::of(&m);
        assert_eq!(map.len(), 5);
        assert!(!map.takes_text());
        assert_eq!(map.text_parts().count(), 0);
        assert_eq!(map.split(), None);
    }

    #[test]
    fn a_text_part_over_the_bucket_limit_is_refused() {
        let m = model(vec![
            Encoder::QueryTrigram {
                buckets: 16,
                value: 32,
            },
            Encoder::ContextNgram {
                buckets: 20,
                length: 3,
                value: 1,
            },
        ]);
        let map = InputMap::of(&m);
        assert_eq!(map.check_buckets("h", 20, "why"), Ok(()));
        let e = map.check_buckets("h", 19, "why").unwrap_err();
        assert_eq!(
            e.to_string(),
            "an encoder of 20 buckets: h hashes into at most 19 (why)"
        );
    }
}
