//! Device-side Z80 sources: the hand-written CP/M front-ends that zlmc puts in
//! front of a generated Z80 model to make a `.COM` program.
//!
//! There are two, one per kind of text model, each a self-contained assembly
//! text in the portable syntax of `zlmc_backends::z80` (it parses with
//! `zlmc_backends::z80::parse`, and its printed form assembles to the same
//! bytes with z80asm and pasmo):
//!
//! - [`CHAT_ASM`]: character-generation models, behaving like z80ai's
//!   `CHAT.COM`;
//! - [`CLASSIFY_ASM`]: text classifiers, the same front-end with one step per
//!   line and a label as the answer.
//!
//! (and the same two for the ZX Spectrum 48K); and for raw-input models
//! [`RAW_ASM`] and [`RAW_VALUES_ASM`] (a line of decimal integers read a key
//! at a time by `raw.asm`, answered with the label or the outputs; see
//! `raw.asm` and docs/z80.md). Each is a front-end
//! (`frontend.asm`, `zx48.asm`), the model kind's part (`chat.asm`,
//! `classify.asm`) and what every program shares: reading a line
//! (`line.asm`) and the query's hashing and adding up (`query.asm`).
//!
//! # How a program is put together
//!
//! ```text
//!         org 0x100
//! QBUCKETS: equ 128           ; the constants (see *_CONSTANTS), then
//! ...
//! <CHAT_ASM or CLASSIFY_ASM>  ; this text: `start:` is its first label
//! <the generated model>       ; zin, model_step, charset or labels
//! ```
//!
//! The constants come first because the runtime uses some of them where a
//! value must be known when it is read (`ds CTXLEN`). The runtime emits its
//! first byte at its label `start`, so the program starts at 0x100 as CP/M
//! requires. Every other name it defines starts with [`PREFIX`] (`rt_`); the
//! generated code must not define such names.
//!
//! # Constants (defined with `equ` before the runtime)
//!
//! | name | meaning | range |
//! |---|---|---|
//! | `QBUCKETS` | query trigram buckets; 0 if the model has no query encoder | 0 or a power of two ≤ 256 |
//! | `QOFFSET` | word index of the first query bucket in `zin` | |
//! | `QVALUE` | added (16-bit, wrapping) to a bucket per trigram | int16 |
//! | `CBUCKETS` | context n-gram buckets; 0 if none (chat only) | 0 or a power of two ≤ 256 |
//! | `COFFSET` | word index of the first context bucket (chat only) | |
//! | `CVALUE` | added per context n-gram (chat only) | int16 |
//! | `CTXLEN` | context length in bytes (chat only) | 0–255 |
//! | `ZIN_LEN` | words in `zin` | ≥ 1 |
//! | `MAXLEN` | most characters in one reply (chat only) | 0–65535 |
//! | `EOS` | the end-of-sequence class (chat only) | 0–255 |
//! | `STACK_TOP` | the initial SP | ≤ 0xDC00 |
//! | `LINEBUF` | [`LINEBUF_BYTES`] of RAM for the line buffer | |
//! | `CTXLIST` | [`ctxlist_bytes`]`(CTXLEN)` of RAM for the context buckets a step hits (chat only) | |
//!
//! # Symbols the generated code defines (after the runtime)
//!
//! - `zin`: `ZIN_LEN` little-endian int16 words, the model's input. The
//!   runtime zeroes it once at `start`, writes its query part once per line
//!   and, for chat, adds the context n-grams before every step, noting the
//!   buckets they hit at `CTXLIST`, and zeroes those buckets after it (the
//!   context part is all zeros between steps), so `model_step` must leave
//!   `zin` as it found it.
//! - `model_init`: the model's one-time setup, called once at `start` before
//!   any step (it may clobber every register but SP).
//! - `model_query`: called when the query part of `zin` is about to change
//!   (at the start of every reply, before its first step), so the model may
//!   keep work that depends on the query alone for the whole reply.
//! - `model_step`: one inference step on `zin`; returns the class in A
//!   (classes 0–255). It may clobber every register, IX, IY and the
//!   alternate set, and may `di`/`ei` as long as it leaves interrupts as it
//!   found them before it returns (the runtime then calls the BDOS). It is
//!   called with SP = `STACK_TOP - 4`.
//! - chat: `charset`, one byte per class, the character it prints.
//! - classify: `labels`, one `dw` per class pointing at a `$`-terminated
//!   string.
//!
//! # Memory
//!
//! Besides `zin` and its own code, the runtime uses the RAM at `LINEBUF`
//! (the BDOS 10 line buffer: size byte 127, written before each read,
//! length, 128 bytes of text and pad) and, for chat, at `CTXLIST`; and a few
//! bytes of its own (`ds`, inside the file): a query trigram count, and for
//! chat the context (`CTXLEN` bytes) and a reply counter. It reads CP/M's
//! command tail at 0x80–0xFF and writes nothing outside its own bytes, those
//! two buffers and `zin`. Its stack
//! use below `STACK_TOP` is at most [`STACK_BYTES`], plus what `model_step`
//! uses below its own return address.
//!
//! # Behaviour and what is printed
//!
//! With a command tail (`CHAT some words`; CP/M has put a space before it
//! and upper-cased it, which the encoder's rules make harmless) the program
//! prints the answer and warm-boots: the output is exactly the answer.
//!
//! Without one it loops: it prints CR LF and `> ` (BDOS 9), reads a line
//! (BDOS 10, at most [`LINE_MAX`] bytes; the BDOS echoes the typed keys and a
//! lone CR), prints CR LF, and then:
//! - an empty line: prompts again;
//! - a line whose first byte is `!`: warm-boots (after that CR LF);
//! - otherwise: prints the answer and prompts again.
//!
//! The answer has no line end of its own: the next prompt's CR LF, or the
//! CCP's after a command-tail answer, ends the line — exactly as z80ai's
//! `CHAT.COM` does. So one exchange reads
//! `"\r\n> " + echo + "\r" + "\r\n" + answer`, and a harness finds the
//! answer between `"\r\r\n"` after the echo and the next `"\r\n> "` (or the
//! end of the output), or simply passes the query as the command tail.
//!
//! - chat: the answer is `charset[c]` for each generated class `c`, printed
//!   with BDOS 2 as soon as it is predicted, until `EOS` or `MAXLEN`
//!   characters (so a reply takes up to `MAXLEN + 1` steps, as in
//!   `zlmc_ir::interp::reply`);
//! - classify: the answer is `labels[c]`, printed with BDOS 9.
//!
//! # Encoding (bit-exact with `zlmc_ir::interp::encode_query` and `encode_context`)
//!
//! At every step `zin` holds zeros plus `QVALUE` in
//! word `QOFFSET + (h & (QBUCKETS-1))` for every trigram hash `h` of the
//! query (leading spaces dropped, A–Z lower-cased, a space added each side),
//! and, for chat, `CVALUE` in word `COFFSET + (h & (CBUCKETS-1))` for every
//! position-seeded 1-, 2- and 3-gram hash of the context (the last `CTXLEN`
//! reply characters, lower-cased, spaces at first), all added with 16-bit
//! wrapping. The query part is written once per line (zeroing `zin`); the
//! context n-grams are added before each step and subtracted after it. The
//! hashes are computed in 8 bits, which is exact because only `h mod 256`
//! reaches a bucket number.
//!
//! # Size and speed
//!
//! Measured on zlmc's CP/M emulator (`cargo test -p zlmc-runtime-z80 --test
//! figures -- --nocapture` prints them), for tinychat's shape (`ZIN_LEN` 256,
//! 128 query and 128 context buckets, `CTXLEN` 8):
//!
//! - size: chat 535 bytes (with `CTXLEN` bytes of context), classify 375;
//! - once per reply: hashing the query, about 190 T-states per byte (1,135
//!   for a 5-byte query, 23,777 for 127 bytes), then zeroing `zin` and
//!   adding the trigrams (11,497 for 5 bytes, 28,333 for 127);
//! - each step: adding the context's 21 n-grams (4,129) and taking them out
//!   again (4,117).

/// One program's runtime text: a front-end, the model kind's part, then the
/// parts all programs share.
macro_rules! program {
    ($front:literal, $kind:literal) => {
        concat!(
            include_str!($front),
            include_str!($kind),
            include_str!("line.asm"),
            include_str!("query.asm")
        )
    };
}

/// The CP/M front-end for character-generation models; see the crate docs.
pub const CHAT_ASM: &str = program!("frontend.asm", "chat.asm");

/// The CP/M front-end for text classifiers; see the crate docs.
pub const CLASSIFY_ASM: &str = program!("frontend.asm", "classify.asm");

/// The ZX Spectrum 48K front-end for character-generation models: `zx48.asm`
/// (the ROM's keyboard and screen in place of the BDOS, `!` back to BASIC)
/// with the chat part of [`CHAT_ASM`]; the same constants and symbols.
pub const ZX48_CHAT_ASM: &str = program!("zx48.asm", "chat.asm");

/// The ZX Spectrum 48K front-end for text classifiers (see [`ZX48_CHAT_ASM`]).
pub const ZX48_CLASSIFY_ASM: &str = program!("zx48.asm", "classify.asm");

/// A raw-input program's runtime text: a front-end, the values reader
/// (`raw.asm`), the answer, and the front-end's way of reading one key.
macro_rules! raw_program {
    ($front:literal, $answer:literal, $key:literal) => {
        concat!(
            include_str!($front),
            include_str!("raw.asm"),
            include_str!($answer),
            include_str!($key)
        )
    };
}

/// The CP/M front-end for raw-input classifiers: a line of `ZIN_LEN` decimal
/// integers (the model's int16 inputs), read a key at a time (BDOS 1) so it
/// may be as long as the values need, or the command tail; the label out.
/// See `raw.asm`.
pub const RAW_ASM: &str = raw_program!("frontend.asm", "raw_label.asm", "rawkey_cpm.asm");

/// The ZX Spectrum 48K front-end for raw-input classifiers (see [`RAW_ASM`]):
/// `zx48.asm` with the keys read through the ROM.
pub const ZX48_RAW_ASM: &str = raw_program!("zx48.asm", "raw_label.asm", "rawkey_zx48.asm");

/// The CP/M front-end for raw-input values models: [`RAW_ASM`] answering
/// with the `NOUT` int16 outputs at `zout` (`raw_values.asm`), in decimal.
pub const RAW_VALUES_ASM: &str = raw_program!("frontend.asm", "raw_values.asm", "rawkey_cpm.asm");

/// The ZX Spectrum 48K front-end for raw-input values models.
pub const ZX48_RAW_VALUES_ASM: &str = raw_program!("zx48.asm", "raw_values.asm", "rawkey_zx48.asm");

/// The constants [`RAW_ASM`] uses, which the generated code defines with
/// `equ` before it.
pub const RAW_CONSTANTS: &[&str] = &["ZIN_LEN", "STACK_TOP", "LINEBUF"];

/// The labels [`RAW_ASM`] uses, which the generated code defines after it.
pub const RAW_SYMBOLS: &[&str] = &["zin", "model_init", "model_query", "model_step", "labels"];

/// The constants [`RAW_VALUES_ASM`] uses, which the generated code defines
/// with `equ` before it: [`RAW_CONSTANTS`], the outputs' address `zout` and
/// their count `NOUT`.
pub const RAW_VALUES_CONSTANTS: &[&str] = &["ZIN_LEN", "STACK_TOP", "LINEBUF", "zout", "NOUT"];

/// The labels [`RAW_VALUES_ASM`] uses, which the generated code defines after it.
pub const RAW_VALUES_SYMBOLS: &[&str] = &["zin", "model_init", "model_query", "model_step"];

/// The constants [`CHAT_ASM`] uses, which the generated code defines with
/// `equ` before it.
pub const CHAT_CONSTANTS: &[&str] = &[
    "QBUCKETS",
    "QOFFSET",
    "QVALUE",
    "CBUCKETS",
    "COFFSET",
    "CVALUE",
    "CTXLEN",
    "ZIN_LEN",
    "MAXLEN",
    "EOS",
    "STACK_TOP",
    "LINEBUF",
    "CTXLIST",
];

/// The labels [`CHAT_ASM`] uses, which the generated code defines after it.
pub const CHAT_SYMBOLS: &[&str] = &["zin", "model_init", "model_query", "model_step", "charset"];

/// The constants [`CLASSIFY_ASM`] uses, which the generated code defines with
/// `equ` before it.
pub const CLASSIFY_CONSTANTS: &[&str] = &[
    "QBUCKETS",
    "QOFFSET",
    "QVALUE",
    "ZIN_LEN",
    "STACK_TOP",
    "LINEBUF",
];

/// The labels [`CLASSIFY_ASM`] uses, which the generated code defines after it.
pub const CLASSIFY_SYMBOLS: &[&str] = &["zin", "model_init", "model_query", "model_step", "labels"];

/// The entry label, the runtime's first byte (at 0x100).
pub const ENTRY: &str = "start";

/// The prefix of every other name the runtimes define.
pub const PREFIX: &str = "rt_";

/// The longest line the chat loop reads (the BDOS 10 buffer size); a command
/// tail is at most 127 bytes too.
pub const LINE_MAX: usize = 127;

/// The most stack the runtimes use below `STACK_TOP`, not counting what
/// `model_step` uses below its return address.
pub const STACK_BYTES: u16 = 8;

/// The RAM at `LINEBUF`: the BDOS 10 buffer's size and length bytes, then
/// [`LINE_MAX`] bytes of text and the encoder's pad.
pub const LINEBUF_BYTES: u16 = 130;

/// The RAM at `CTXLIST` for a context of `ctxlen` bytes: a word per context
/// n-gram (1, 2 and 3 bytes long at each position, while bytes last), then a
/// 0 word.
pub fn ctxlist_bytes(ctxlen: usize) -> usize {
    2 * ((1..=ctxlen).map(|left| left.min(3)).sum::<usize>() + 1)
}
