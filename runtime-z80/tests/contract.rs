//! The texts keep the contract the crate documents: they parse, use exactly
//! the listed constants and symbols, start at `start`, and name nothing else
//! outside the `rt_` prefix.

mod common;

use common::*;
use zlmc_backends::z80::{assemble, parse, AsmErrorKind, Item};
use zlmc_runtime_z80::*;

struct Runtime {
    name: &'static str,
    text: &'static str,
    constants: &'static [&'static str],
    symbols: &'static [&'static str],
}

fn runtimes() -> [Runtime; 4] {
    [
        Runtime {
            name: "chat",
            text: CHAT_ASM,
            constants: CHAT_CONSTANTS,
            symbols: CHAT_SYMBOLS,
        },
        Runtime {
            name: "classify",
            text: CLASSIFY_ASM,
            constants: CLASSIFY_CONSTANTS,
            symbols: CLASSIFY_SYMBOLS,
        },
        Runtime {
            name: "raw",
            text: RAW_ASM,
            constants: RAW_CONSTANTS,
            symbols: RAW_SYMBOLS,
        },
        Runtime {
            name: "raw values",
            text: RAW_VALUES_ASM,
            constants: RAW_VALUES_CONSTANTS,
            symbols: RAW_VALUES_SYMBOLS,
        },
    ]
}

/// `org`, the constants but `skip`, the runtime, the symbols but `skip`.
fn program(rt: &Runtime, skip: Option<&str>) -> Vec<Item> {
    let mut text = String::from("        org 0x100\n");
    for c in rt.constants.iter().filter(|c| Some(**c) != skip) {
        // Values that make every expression valid: 1 bucket, short buffers.
        text.push_str(&format!(
            "{c}: equ {}\n",
            if *c == "STACK_TOP" { 0xD000 } else { 1 }
        ));
    }
    text.push_str(rt.text);
    for s in rt.symbols.iter().filter(|s| Some(**s) != skip) {
        text.push_str(&format!("{s}:\n        db 0\n"));
    }
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", rt.name))
}

#[test]
fn the_runtimes_parse_and_use_exactly_the_documented_names() {
    for rt in runtimes() {
        let items = program(&rt, None);
        assemble(&items, 0x100).unwrap_or_else(|e| panic!("{}: {e}", rt.name));
        for name in rt.constants.iter().chain(rt.symbols) {
            let err = assemble(&program(&rt, Some(name)), 0x100)
                .expect_err(&format!("{}: {name} is documented but unused", rt.name));
            assert_eq!(
                err.kind,
                AsmErrorKind::Undefined(name.to_string()),
                "{}: without {name}",
                rt.name
            );
        }
    }
}

#[test]
fn the_runtimes_start_at_start_and_keep_to_their_prefix() {
    for rt in runtimes() {
        let own = parse(rt.text).unwrap();
        assert!(
            !own.iter().any(|i| matches!(i, Item::Org(_))),
            "{}: the generator emits the org",
            rt.name
        );
        let first_emitting = own
            .iter()
            .position(|i| matches!(i, Item::Inst(_) | Item::Db(_) | Item::Dw(_) | Item::Ds(..)))
            .unwrap();
        let first_label = own
            .iter()
            .position(|i| matches!(i, Item::Label(_)))
            .unwrap();
        assert_eq!(own[first_label], Item::Label(ENTRY.into()), "{}", rt.name);
        assert!(
            first_label < first_emitting,
            "{}: code before start",
            rt.name
        );
        for item in &own {
            if let Item::Label(n) | Item::Equ(n, _) = item {
                assert!(
                    n == ENTRY || n.starts_with(PREFIX),
                    "{}: `{n}` is outside the {PREFIX} prefix",
                    rt.name
                );
            }
        }
        let asm = assemble(&program(&rt, None), 0x100).unwrap();
        assert_eq!(sym(&asm, ENTRY), 0x100, "{}", rt.name);
    }
}

#[test]
fn the_line_buffer_is_at_linebuf() {
    for rt in runtimes() {
        let asm = assemble(&program(&rt, None), 0x100).unwrap();
        // size byte, length byte, then the text (LINE_MAX bytes and the
        // encoder's pad): LINEBUF_BYTES of RAM the generator provides.
        let buf = sym(&asm, "LINEBUF");
        assert_eq!(sym(&asm, "rt_buf"), buf, "{}", rt.name);
        assert_eq!(sym(&asm, "rt_len"), buf + 1, "{}", rt.name);
        assert_eq!(sym(&asm, "rt_text"), buf + 2, "{}", rt.name);
        assert_eq!(usize::from(LINEBUF_BYTES), 2 + LINE_MAX + 1, "{}", rt.name);
    }
}
