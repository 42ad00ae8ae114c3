//! Shared test harness: a stub model in assembly around the runtimes, a model
//! of what the program must print (built from `zlmc_ir::interp`'s encoders and
//! CP/M 2.2's console rules), and the external assemblers.
#![allow(dead_code)]

use std::fmt::Write as _;

use zlmc_backends::sim::z80::{run_cpm, CpmReport, CpmRun, Exit};
use zlmc_backends::z80::{assemble, parse, print, Assembled, Item};
use zlmc_ir::interp::{encode_context, encode_query, lower};
pub use zlmc_test_support::tools::{z80_assemble, Z80Asm};
pub use zlmc_test_support::Rng;

/// Which front-end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Classify,
}

impl Kind {
    pub fn runtime(self) -> &'static str {
        match self {
            Kind::Chat => zlmc_runtime_z80::CHAT_ASM,
            Kind::Classify => zlmc_runtime_z80::CLASSIFY_ASM,
        }
    }
}

/// The constants a generated model would define, and its output table.
#[derive(Debug, Clone)]
pub struct Config {
    pub kind: Kind,
    pub qbuckets: usize,
    pub qoffset: usize,
    pub qvalue: i16,
    pub cbuckets: usize,
    pub coffset: usize,
    pub cvalue: i16,
    pub ctxlen: usize,
    pub zin_len: usize,
    pub maxlen: usize,
    pub eos: u8,
    pub stack_top: u16,
    /// Chat: the character of each class (the EOS entry is never printed).
    pub charset: Vec<u8>,
    /// Classify: the label of each class.
    pub labels: Vec<String>,
}

impl Config {
    /// z80ai's tinychat: 128 query + 128 context buckets, 8 context bytes, 40 classes.
    pub fn tinychat() -> Config {
        let mut charset: Vec<u8> = b" etaoinshrdlucmfwypvbgkqjxz.,?!'0123-:\t".to_vec();
        charset.push(0);
        assert_eq!(charset.len(), 40);
        Config {
            kind: Kind::Chat,
            qbuckets: 128,
            qoffset: 0,
            qvalue: 32,
            cbuckets: 128,
            coffset: 128,
            cvalue: 32,
            ctxlen: 8,
            zin_len: 256,
            maxlen: 50,
            eos: 39,
            stack_top: 0xDC00,
            charset,
            labels: Vec::new(),
        }
    }

    /// A text classifier with 64 query buckets and no context encoder.
    pub fn classifier() -> Config {
        Config {
            kind: Kind::Classify,
            qbuckets: 64,
            qoffset: 0,
            qvalue: 32,
            cbuckets: 0,
            coffset: 0,
            cvalue: 0,
            ctxlen: 0,
            zin_len: 64,
            maxlen: 0,
            eos: 0,
            stack_top: 0xD000,
            charset: Vec::new(),
            labels: [
                "lights on",
                "lights off",
                "play\tmusic",
                "stop",
                "weather",
                "help",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }

    pub fn classes(&self) -> usize {
        match self.kind {
            Kind::Chat => self.charset.len(),
            Kind::Classify => self.labels.len(),
        }
    }

    /// The `equ` lines the generated code puts before the runtime.
    pub fn equs(&self) -> String {
        let mut s = String::new();
        for (name, v) in [
            ("QBUCKETS", self.qbuckets as i64),
            ("QOFFSET", self.qoffset as i64),
            ("QVALUE", i64::from(self.qvalue)),
            ("CBUCKETS", self.cbuckets as i64),
            ("COFFSET", self.coffset as i64),
            ("CVALUE", i64::from(self.cvalue)),
            ("CTXLEN", self.ctxlen as i64),
            ("ZIN_LEN", self.zin_len as i64),
            ("MAXLEN", self.maxlen as i64),
            ("EOS", i64::from(self.eos)),
            ("STACK_TOP", i64::from(self.stack_top)),
            // The front-end's RAM, which the generator places among the
            // model's buffers: here well above the small test programs.
            ("LINEBUF", 0xC000),
            ("CTXLIST", 0xC100),
        ] {
            writeln!(s, "{name}: equ {v}").unwrap();
        }
        s
    }

    /// The expected input vector for a query and a context.
    pub fn zin(&self, query: &[u8], ctx: &[u8]) -> Vec<i16> {
        let mut zin = vec![0i16; self.zin_len];
        if self.qbuckets > 0 {
            encode_query(
                query,
                self.qbuckets,
                self.qvalue,
                &mut zin[self.qoffset..self.qoffset + self.qbuckets],
            );
        }
        if self.kind == Kind::Chat && self.cbuckets > 0 && self.ctxlen > 0 {
            encode_context(
                ctx,
                self.cbuckets,
                self.cvalue,
                &mut zin[self.coffset..self.coffset + self.cbuckets],
            );
        }
        zin
    }
}

/// What the stub model does in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stub {
    /// Print 0x01, every `zin` word as 4 hex digits, the SP it was called
    /// with, 0x02; then scribble over every register (`zin` it must leave).
    Dump,
    /// Only return the next scripted class (for stack and T-state figures).
    Quiet,
}

/// The stub model: `model_step` returns the next class of `script`.
pub fn stub_model(cfg: &Config, stub: Stub, script: &[u8]) -> String {
    let mut s = String::from("st_begin:\nmodel_init:\nmodel_query:\n        ret\nmodel_step:\n");
    if stub == Stub::Dump {
        s.push_str(
            "        ld (st_sp), sp
        ld e, 1
        call st_out
        ld hl, zin
        ld bc, ZIN_LEN
st_word:
        push bc
        inc hl
        ld a, (hl)
        call st_hex
        dec hl
        ld a, (hl)
        call st_hex
        inc hl
        inc hl
        pop bc
        dec bc
        ld a, b
        or c
        jr nz, st_word
        ld e, 32
        call st_out
        ld hl, st_sp+1
        ld a, (hl)
        call st_hex
        dec hl
        ld a, (hl)
        call st_hex
        ld e, 2
        call st_out
        exx
        ld bc, 0x1111
        ld de, 0x2222
        ld hl, 0x3333
        exx
        ex af, af'
        ld a, 0x44
        ex af, af'
        ld ix, 0x5a5a
        ld iy, 0xa5a5
        di
        ei
",
        );
    }
    s.push_str(
        "        ld hl, (st_ptr)
        ld a, (hl)
        inc hl
        ld (st_ptr), hl
        ld bc, 0x9999
        ld de, 0x8888
        ld hl, 0x7777
        ret
st_hex:
        push af
        rrca
        rrca
        rrca
        rrca
        call st_nib
        pop af
st_nib:
        and 15
        add a, 48
        cp 58
        jr c, st_digit
        add a, 7
st_digit:
        ld e, a
st_out:
        push hl
        ld c, 2
        call 5
        pop hl
        ret
st_sp:
        dw 0
st_ptr:
        dw st_script
st_script:
",
    );
    // The script, then EOS/class 0 forever after (a run that reads past it fails
    // its comparison rather than running wild).
    let mut all = script.to_vec();
    all.extend(std::iter::repeat_n(cfg.eos, 16));
    for chunk in all.chunks(16) {
        let bytes: Vec<String> = chunk.iter().map(|b| b.to_string()).collect();
        writeln!(s, "        db {}", bytes.join(", ")).unwrap();
    }
    match cfg.kind {
        Kind::Chat => {
            s.push_str("charset:\n");
            for chunk in cfg.charset.chunks(16) {
                let bytes: Vec<String> = chunk.iter().map(|b| b.to_string()).collect();
                writeln!(s, "        db {}", bytes.join(", ")).unwrap();
            }
        }
        Kind::Classify => {
            s.push_str("labels:\n");
            for i in 0..cfg.labels.len() {
                writeln!(s, "        dw st_label{i}").unwrap();
            }
            for (i, l) in cfg.labels.iter().enumerate() {
                let bytes: Vec<String> = l.bytes().map(|b| b.to_string()).collect();
                writeln!(s, "st_label{i}:\n        db {}, 36", bytes.join(", ")).unwrap();
            }
        }
    }
    s.push_str("zin:\n        ds ZIN_LEN+ZIN_LEN\n");
    s
}

/// The whole program's source text.
pub fn source(cfg: &Config, stub: Stub, script: &[u8]) -> String {
    format!(
        "        org 0x100\n{}{}{}",
        cfg.equs(),
        cfg.kind.runtime(),
        stub_model(cfg, stub, script)
    )
}

/// Parses and assembles a source.
pub fn build_text(text: &str) -> (Vec<Item>, Assembled) {
    let items = parse(text).unwrap_or_else(|e| panic!("parse: {e}\n{text}"));
    let asm = assemble(&items, 0x100).unwrap_or_else(|e| {
        let line = print(&items).lines().nth(e.item).unwrap_or("").to_string();
        panic!("assemble: {e} (`{line}`)")
    });
    assert_eq!(asm.origin, 0x100);
    (items, asm)
}

/// The program for a config.
pub fn build(cfg: &Config, stub: Stub, script: &[u8]) -> Assembled {
    build_text(&source(cfg, stub, script)).1
}

/// A symbol's address.
pub fn sym(asm: &Assembled, name: &str) -> u16 {
    *asm.symbols
        .get(name)
        .unwrap_or_else(|| panic!("no symbol {name}")) as u16
}

/// Runs a program.
pub fn run(asm: &Assembled, tail: &[u8], input: &[u8], step: Option<&str>) -> CpmReport {
    run_cpm(&CpmRun {
        program: &asm.bytes,
        command_tail: tail,
        console_input: input,
        step_entry: step.map(|s| sym(asm, s)),
        max_tstates: 2_000_000_000,
    })
    .expect("the program runs")
}

/// CP/M 2.2's console as the emulator plays it: keys with host line ends
/// read as CR, and the BDOS's column count for TAB expansion.
pub struct Console<'a> {
    input: &'a [u8],
    pos: usize,
    pub out: Vec<u8>,
    column: u8,
}

const CR: u8 = 13;
const LF: u8 = 10;

impl<'a> Console<'a> {
    pub fn new(input: &'a [u8]) -> Console<'a> {
        Console {
            input,
            pos: 0,
            out: Vec::new(),
            column: 0,
        }
    }

    fn key(&mut self) -> Option<u8> {
        let k = *self.input.get(self.pos)?;
        self.pos += 1;
        if k == CR && self.input.get(self.pos) == Some(&LF) {
            self.pos += 1;
        }
        Some(if k == LF { CR } else { k })
    }

    fn conout(&mut self, c: u8) {
        self.out.push(c);
        if c == 0x7F || c >= b' ' {
            self.column = self.column.wrapping_add(u8::from(c != 0x7F));
        } else if self.column != 0 {
            match c {
                8 => self.column -= 1,
                LF => self.column = 0,
                _ => {}
            }
        }
    }

    /// BDOS 2 (and each byte of BDOS 9).
    pub fn tabout(&mut self, c: u8) {
        if c != b'\t' {
            return self.conout(c);
        }
        loop {
            self.conout(b' ');
            if self.column & 7 == 0 {
                break;
            }
        }
    }

    pub fn print(&mut self, s: &[u8]) {
        for &c in s {
            self.tabout(c);
        }
    }

    fn echoes(c: u8) -> bool {
        matches!(c, CR | LF | 9 | 8) || c >= b' '
    }

    /// BDOS 10 with a buffer of `max` bytes; `None` when the input is used up.
    /// (Tests never type ^C first on a line.)
    pub fn read_line(&mut self, max: usize) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            let k = self.key()? & 0x7F;
            if k == CR || k == LF {
                break;
            }
            line.push(k);
            if Self::echoes(k) {
                self.tabout(k);
            } else {
                self.conout(b'^');
                self.tabout(k | 0x40);
            }
            assert!(!(k == 3 && line.len() == 1), "tests never type ^C first");
            if line.len() >= max {
                break;
            }
        }
        self.conout(CR);
        Some(line)
    }
}

/// How the scripted model picks classes.
pub struct Picker {
    rng: Rng,
    /// Chance of EOS per step, in 1/256 (0: never, so replies run to MAXLEN).
    pub eos_per_256: u64,
    /// Every class the runs consume, in order: the stub's script.
    pub script: Vec<u8>,
}

impl Picker {
    pub fn new(seed: u64, eos_per_256: u64) -> Picker {
        Picker {
            rng: Rng::new(seed),
            eos_per_256,
            script: Vec::new(),
        }
    }

    fn class(&mut self, cfg: &Config) -> u8 {
        let c = match cfg.kind {
            Kind::Classify => self.rng.index(cfg.classes()) as u8,
            Kind::Chat => {
                if self.rng.below(256) < self.eos_per_256 {
                    cfg.eos
                } else {
                    loop {
                        let c = self.rng.index(cfg.classes()) as u8;
                        if c != cfg.eos {
                            break c;
                        }
                    }
                }
            }
        };
        self.script.push(c);
        c
    }
}

/// What a run must print and how it must end.
pub struct Expected {
    pub output: Vec<u8>,
    pub exit: Exit,
    /// Inference steps.
    pub steps: usize,
    /// The replies (chat) or labels (classify), in order.
    pub answers: Vec<Vec<u8>>,
}

/// The answer to `query`, printed as the program must (the dump stub's lines
/// included); follows `zlmc_ir::interp::reply`.
fn answer(
    cfg: &Config,
    con: &mut Console,
    pick: &mut Picker,
    query: &[u8],
    step_sp: u16,
    steps: &mut usize,
) -> Vec<u8> {
    let dump = |con: &mut Console, zin: &[i16]| {
        let mut s = vec![1u8];
        for w in zin {
            s.extend(format!("{:04X}", *w as u16).bytes());
        }
        s.extend(format!(" {step_sp:04X}").bytes());
        s.push(2);
        con.print(&s);
    };
    match cfg.kind {
        Kind::Chat => {
            let mut ctx = vec![b' '; cfg.ctxlen];
            let mut out = Vec::new();
            while out.len() < cfg.maxlen {
                dump(con, &cfg.zin(query, &ctx));
                *steps += 1;
                let c = pick.class(cfg);
                if c == cfg.eos {
                    break;
                }
                let ch = cfg.charset[c as usize];
                con.tabout(ch);
                out.push(ch);
                if !ctx.is_empty() {
                    ctx.remove(0);
                    ctx.push(lower(ch));
                }
            }
            out
        }
        Kind::Classify => {
            dump(con, &cfg.zin(query, &[]));
            *steps += 1;
            let c = pick.class(cfg);
            let label = cfg.labels[c as usize].as_bytes().to_vec();
            con.print(&label);
            label
        }
    }
}

/// The command tail as CP/M's CCP leaves it (leading space, upper case).
pub fn cpm_tail(typed: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    if !typed.is_empty() && typed[0] != b' ' {
        t.push(b' ');
    }
    t.extend(typed.iter().map(u8::to_ascii_uppercase));
    t
}

/// What the program must do given a command tail and console input.
pub fn expect(cfg: &Config, pick: &mut Picker, tail: &[u8], input: &[u8]) -> Expected {
    let step_sp = cfg.stack_top.wrapping_sub(4);
    let mut con = Console::new(input);
    let mut steps = 0;
    let mut answers = Vec::new();
    if !tail.is_empty() {
        let q = cpm_tail(tail);
        answers.push(answer(cfg, &mut con, pick, &q, step_sp, &mut steps));
        return Expected {
            output: con.out,
            exit: Exit::WarmBoot,
            steps,
            answers,
        };
    }
    let exit = loop {
        con.print(b"\r\n> ");
        let Some(line) = con.read_line(zlmc_runtime_z80::LINE_MAX) else {
            break Exit::InputExhausted;
        };
        con.print(b"\r\n");
        if line.is_empty() {
            continue;
        }
        if line[0] == b'!' {
            break Exit::WarmBoot;
        }
        answers.push(answer(cfg, &mut con, pick, &line, step_sp, &mut steps));
    };
    Expected {
        output: con.out,
        exit,
        steps,
        answers,
    }
}

/// Bytes with control characters made visible.
pub fn show(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            1 => s.push('\u{ab}'),
            2 => s.push('\u{bb}'),
            0x20..=0x7e => s.push(c as char),
            _ => write!(s, "\\x{c:02x}").unwrap(),
        }
    }
    s
}

/// Asserts two outputs are equal, showing where they first differ.
pub fn assert_output(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    // Start the excerpt at the beginning of the step dump or line it is in.
    let from = want[..at]
        .iter()
        .rposition(|&c| c == 1 || c == b'\n')
        .unwrap_or(0)
        .max(at.saturating_sub(1200));
    panic!(
        "{what}: output differs at byte {at} (lengths: got {}, want {})\n got: {}\nwant: {}",
        got.len(),
        want.len(),
        show(&got[from..(at + 80).min(got.len())]),
        show(&want[from..(at + 80).min(want.len())]),
    );
}

/// Runs `cfg`'s program on a tail and input with the dump stub and checks the
/// output byte for byte against the reference; returns the report.
pub fn check(what: &str, cfg: &Config, seed: u64, tail: &[u8], input: &[u8]) -> CpmReport {
    check_with(what, cfg, &mut Picker::new(seed, 40), tail, input)
}

/// [`check`] with a given class picker.
pub fn check_with(
    what: &str,
    cfg: &Config,
    pick: &mut Picker,
    tail: &[u8],
    input: &[u8],
) -> CpmReport {
    let want = expect(cfg, pick, tail, input);
    let asm = build(cfg, Stub::Dump, &pick.script);
    let report = run(&asm, tail, input, Some("model_step"));
    assert_output(what, &report.output, &want.output);
    assert_eq!(report.exit, want.exit, "{what}: exit");
    assert_eq!(report.step_tstates.len(), want.steps, "{what}: steps");
    check_bounds(what, cfg, &asm, &report);
    report
}

/// The memory and console rules every run keeps.
pub fn check_bounds(what: &str, cfg: &Config, asm: &Assembled, report: &CpmReport) {
    assert!(
        report.highest_write < 0xDC00,
        "{what}: wrote at {:#06x}, in the CCP",
        report.highest_write
    );
    assert!(
        report.lowest_sp < 0xDC00 && report.lowest_sp <= cfg.stack_top,
        "{what}: SP stayed above the stack top"
    );
    let end = 0x100 + asm.bytes.len() as u32;
    assert!(
        u32::from(report.lowest_sp) > end,
        "{what}: the stack ({:#06x}) ran into the program (ends {end:#06x})",
        report.lowest_sp
    );
    assert_eq!(
        report.console_calls_with_interrupts_disabled, 0,
        "{what}: console calls with interrupts off"
    );
    assert!(
        report.unknown_bdos_functions.is_empty(),
        "{what}: unknown BDOS functions {:?}",
        report.unknown_bdos_functions
    );
}

/// Assembles a text with an external assembler; returns the bytes and its messages.
pub fn external(tool: Z80Asm, text: &str) -> (Vec<u8>, String) {
    let ext = z80_assemble(tool, text).unwrap_or_else(|e| panic!("{e}"));
    (ext.bytes, ext.messages)
}
