//! The code buffer, in the manner of Cranelift's `MachBuffer`: the `.S` file
//! as instructions, labels and text; on [`Buffer::finish`] it lays the code
//! out, resolves labels and relaxes branches, then prints.
//!
//! Relaxation starts every branch, jump and call short and lengthens only
//! those whose target is out of reach, until nothing changes (lengthening
//! only grows the code, so this ends):
//!
//! - `brXX L` (64 words back, 63 on) becomes the inverted branch over an
//!   `rjmp L` (`brYY 1f; rjmp L; 1:`), or over a `jmp L` if even that is too
//!   far;
//! - `rjmp`/`rcall` (±2 K words) become `jmp`/`call`, which both MCUs have.
//!
//! A target not defined in the same section of this file (an avr-libc or
//! Arduino function, a table, another object's symbol) is placed by the
//! linker, so its distance is unknown here: such a branch takes the long form
//! (`jmp`/`call`, reaching all of flash) from the start. The generator only
//! calls its own code today, so this is the conservative rule for what may
//! come.

use std::collections::HashMap;

use super::inst::{Core, Dest, MInst, OpFlow};

/// Words a relative branch reaches back (`brXX`).
const BR_BACK: i64 = 64;
/// Words a relative branch reaches on.
const BR_ON: i64 = 63;
/// Words `rjmp` and `rcall` reach back.
const RJMP_BACK: i64 = 2048;
/// Words `rjmp` and `rcall` reach on.
const RJMP_ON: i64 = 2047;

/// A line of the file.
#[derive(Debug, Clone)]
enum Item {
    /// An instruction.
    Inst(MInst),
    /// `name:`; a name of digits is a numeric local label.
    Label(String),
    /// A section directive: distances are not known across it.
    Section(String),
    /// Text that assembles to no code (directives, comments, blank lines).
    Text(String),
}

/// How long a relaxable instruction has become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    /// As written: one word.
    Short,
    /// A branch over an `rjmp`, or an `rjmp`/`rcall` as `jmp`/`call`.
    Long,
    /// A branch over a `jmp`.
    Far,
}

/// The `.S` file under construction.
#[derive(Debug, Default)]
pub struct Buffer {
    items: Vec<Item>,
}

/// Where an item starts: its section and word address within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    section: usize,
    word: i64,
}

impl Buffer {
    /// An instruction.
    pub fn inst(&mut self, inst: MInst) {
        self.items.push(Item::Inst(inst));
    }

    /// A label.
    pub fn label(&mut self, label: impl Into<String>) {
        self.items.push(Item::Label(label.into()));
    }

    /// A directive that assembles to no code.
    pub fn directive(&mut self, line: impl AsRef<str>) {
        self.items
            .push(Item::Text(format!("    {}\n", line.as_ref())));
    }

    /// A section directive (`.text`, `.section …`).
    pub fn section(&mut self, line: impl AsRef<str>) {
        self.items
            .push(Item::Section(format!("    {}\n", line.as_ref())));
    }

    /// A comment line (C style: the file goes through the C preprocessor).
    pub fn comment(&mut self, comment: impl AsRef<str>) {
        self.items
            .push(Item::Text(format!("    /* {} */\n", comment.as_ref())));
    }

    /// A blank line.
    pub fn blank(&mut self) {
        self.items.push(Item::Text("\n".into()));
    }

    /// Text taken as it is (no code).
    pub fn raw(&mut self, text: impl Into<String>) {
        self.items.push(Item::Text(text.into()));
    }

    /// The cycles of the instructions so far taken once each, branches not
    /// taken and skips not skipping: what a straight run of code costs, for
    /// the plan's predictions.
    pub fn straight_cycles(&self, core: Core) -> usize {
        self.items
            .iter()
            .map(|i| match i {
                Item::Inst(inst) => inst.cycles(core).min as usize,
                _ => 0,
            })
            .sum()
    }

    /// Lay out, relax and print: the text and the bytes of code.
    pub fn finish(self) -> (String, usize) {
        let forms = self.relax();
        let mut text = String::new();
        let mut bytes = 0;
        for (item, &form) in self.items.iter().zip(&forms) {
            bytes += 2 * words(item, form);
            match item {
                Item::Inst(inst) => print_inst(&mut text, inst, form),
                Item::Label(l) => {
                    text.push_str(l);
                    text.push_str(":\n");
                }
                Item::Section(t) | Item::Text(t) => text.push_str(t),
            }
        }
        (text, bytes)
    }

    /// The form of every item once every target is in reach.
    fn relax(&self) -> Vec<Form> {
        let mut forms: Vec<Form> = self
            .items
            .iter()
            .map(|item| match item {
                Item::Inst(MInst::Flow {
                    op: OpFlow::Jmp | OpFlow::Call,
                    ..
                }) => Form::Long,
                _ => Form::Short,
            })
            .collect();
        loop {
            let at = self.layout(&forms);
            let labels = self.labels(&at);
            let mut changed = false;
            for (k, item) in self.items.iter().enumerate() {
                let Item::Inst(inst) = item else { continue };
                let Some(to) = inst.dest() else { continue };
                let dest = self.resolve(k, to, &at, &forms, &labels);
                let need = needed(inst, at[k], dest);
                if need > forms[k] {
                    assert!(
                        !matches!(to, Dest::Next(_)),
                        "a branch to a numeric label must stay short: {inst}"
                    );
                    forms[k] = need;
                    changed = true;
                }
            }
            if !changed {
                return forms;
            }
        }
    }

    /// Where each item starts, given the forms.
    fn layout(&self, forms: &[Form]) -> Vec<At> {
        let mut at = Vec::with_capacity(self.items.len());
        let (mut section, mut word) = (0, 0);
        for (item, &form) in self.items.iter().zip(forms) {
            if let Item::Section(_) = item {
                section += 1;
                word = 0;
            }
            at.push(At { section, word });
            word += words(item, form) as i64;
        }
        at
    }

    /// Where each named label is.
    fn labels(&self, at: &[At]) -> HashMap<&str, At> {
        self.items
            .iter()
            .zip(at)
            .filter_map(|(item, &a)| match item {
                Item::Label(l) if !is_numeric(l) => Some((l.as_str(), a)),
                _ => None,
            })
            .collect()
    }

    /// Where the target of item `k` is, if in the same section.
    fn resolve(
        &self,
        k: usize,
        to: &Dest,
        at: &[At],
        forms: &[Form],
        labels: &HashMap<&str, At>,
    ) -> Option<At> {
        let dest = match to {
            Dest::Label(l) => *labels.get(l.as_str())?,
            Dest::Next(n) => {
                let name = n.to_string();
                (k + 1..self.items.len()).find_map(|j| match &self.items[j] {
                    Item::Label(l) if *l == name => Some(at[j]),
                    // A lengthened branch brings its own `1:` after it.
                    Item::Inst(MInst::Br { .. }) if *n == 1 && forms[j] != Form::Short => {
                        Some(At {
                            section: at[j].section,
                            word: at[j].word + words(&self.items[j], forms[j]) as i64,
                        })
                    }
                    _ => None,
                })?
            }
        };
        (dest.section == at[k].section).then_some(dest)
    }
}

/// Whether a label is numeric (`1:`, referred to as `1f`/`1b`).
fn is_numeric(l: &str) -> bool {
    l.bytes().all(|b| b.is_ascii_digit())
}

/// Words an item takes in a form.
fn words(item: &Item, form: Form) -> usize {
    match item {
        Item::Inst(inst @ MInst::Br { .. }) => match form {
            Form::Short => inst.words(),
            Form::Long => 2,
            Form::Far => 3,
        },
        Item::Inst(
            inst @ MInst::Flow {
                op: OpFlow::Rjmp | OpFlow::Rcall,
                ..
            },
        ) => match form {
            Form::Short => inst.words(),
            _ => 2,
        },
        Item::Inst(inst) => inst.words(),
        _ => 0,
    }
}

/// The shortest form that reaches `dest` (unknown: an external symbol).
fn needed(inst: &MInst, at: At, dest: Option<At>) -> Form {
    let reach = |from: i64, back: i64, on: i64| {
        dest.is_some_and(|d| (-back..=on).contains(&(d.word - from)))
    };
    match inst {
        MInst::Br { .. } => {
            if reach(at.word + 1, BR_BACK, BR_ON) {
                Form::Short
            } else if reach(at.word + 2, RJMP_BACK, RJMP_ON) {
                Form::Long
            } else {
                Form::Far
            }
        }
        MInst::Flow {
            op: OpFlow::Rjmp | OpFlow::Rcall,
            ..
        } => {
            if reach(at.word + 1, RJMP_BACK, RJMP_ON) {
                Form::Short
            } else {
                Form::Long
            }
        }
        _ => Form::Short,
    }
}

/// The text of an instruction in its form.
fn print_inst(text: &mut String, inst: &MInst, form: Form) {
    let line = |text: &mut String, i: &MInst| {
        text.push_str("    ");
        text.push_str(&i.to_string());
        text.push('\n');
    };
    match (inst, form) {
        (MInst::Br { cond, to }, Form::Long | Form::Far) => {
            line(
                text,
                &MInst::Br {
                    cond: cond.invert(),
                    to: Dest::Next(1),
                },
            );
            let op = if form == Form::Long {
                OpFlow::Rjmp
            } else {
                OpFlow::Jmp
            };
            line(text, &MInst::Flow { op, to: to.clone() });
            text.push_str("1:\n");
        }
        (MInst::Flow { op, to }, Form::Long) => {
            let op = match op {
                OpFlow::Rcall | OpFlow::Call => OpFlow::Call,
                OpFlow::Rjmp | OpFlow::Jmp => OpFlow::Jmp,
            };
            line(text, &MInst::Flow { op, to: to.clone() });
        }
        _ => line(text, inst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avr::inst::{Cond, Op0, R1};

    fn nops(b: &mut Buffer, n: usize) {
        for _ in 0..n {
            b.inst(MInst::RR {
                op: crate::avr::inst::Op2::Mov,
                rd: R1,
                rr: R1,
            });
        }
    }

    fn flow(op: OpFlow, to: &str) -> MInst {
        MInst::Flow { op, to: to.into() }
    }

    fn br(cond: Cond, to: &str) -> MInst {
        MInst::Br {
            cond,
            to: to.into(),
        }
    }

    fn branch_back(body: usize) -> String {
        let mut b = Buffer::default();
        b.section(".text");
        b.label(".Ltop");
        nops(&mut b, body);
        b.inst(br(Cond::Ne, ".Ltop"));
        b.finish().0
    }

    #[test]
    fn a_branch_reaches_64_words_back() {
        // The branch at word 63 goes to 63 - (63 + 1) = -64: in reach.
        assert!(branch_back(63).ends_with("    brne .Ltop\n"));
        let far = branch_back(64);
        assert!(far.ends_with("    breq 1f\n    rjmp .Ltop\n1:\n"), "{far}");
    }

    #[test]
    fn a_branch_reaches_63_words_on() {
        let on = |body: usize| {
            let mut b = Buffer::default();
            b.section(".text");
            b.inst(br(Cond::Lo, ".Lend"));
            nops(&mut b, body);
            b.label(".Lend");
            b.finish()
        };
        assert!(on(63).0.contains("    brlo .Lend\n"));
        let (text, bytes) = on(64);
        assert!(text.contains("    brsh 1f\n    rjmp .Lend\n1:\n"), "{text}");
        assert_eq!(bytes, 2 * (64 + 2));
    }

    #[test]
    fn rjmp_and_rcall_past_4_kb_become_jmp_and_call() {
        let mut b = Buffer::default();
        b.section(".text");
        b.label(".Lstart");
        b.inst(flow(OpFlow::Rcall, ".Lfar"));
        b.inst(flow(OpFlow::Rjmp, ".Lnear"));
        b.label(".Lnear");
        nops(&mut b, 2047);
        b.label(".Lfar");
        b.inst(MInst::Op0(Op0::Ret));
        b.inst(br(Cond::Eq, ".Lstart"));
        let (text, bytes) = b.finish();
        // The rcall at word 0 reaches words 1 + 2047 at most; .Lfar is at
        // 2049 (2050 once the rcall is a call). The branch back from the end
        // is beyond even an rjmp's reach.
        assert!(text.contains("    call .Lfar\n    rjmp .Lnear\n"), "{text}");
        assert!(
            text.contains("    brne 1f\n    jmp .Lstart\n1:\n"),
            "{text}"
        );
        assert_eq!(bytes, 2 * (2 + 1 + 2047 + 1 + 3));
    }

    #[test]
    fn symbols_outside_the_section_take_the_long_form() {
        let mut b = Buffer::default();
        b.section(".text");
        b.inst(flow(OpFlow::Rcall, "memcpy"));
        b.inst(flow(OpFlow::Rjmp, "table"));
        b.section(".section .progmem.data");
        b.label("table");
        let (text, bytes) = b.finish();
        assert!(text.contains("    call memcpy\n    jmp table\n"), "{text}");
        assert_eq!(bytes, 8);
    }
}
