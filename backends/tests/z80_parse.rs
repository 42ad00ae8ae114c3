//! The parser reads back what the printer writes, and points at mistakes by line and
//! column.

mod z80_common;

use z80_common::*;
use zlmc_backends::z80::*;

#[test]
fn printed_table_parses_back_to_the_same_items() {
    let items = table_program();
    let text = print(&items);
    let parsed = parse(&text).unwrap_or_else(|e| panic!("{e}\n{}", line_of(&text, e.line)));
    assert_eq!(parsed.len(), items.len());
    for (i, (a, b)) in items.iter().zip(&parsed).enumerate() {
        assert_eq!(a, b, "line {}: `{a}`", i + 1);
    }
    assert_eq!(print(&parsed), text);
}

#[test]
fn every_instruction_alone_round_trips() {
    for inst in straight_table().into_iter().chain(relative_table()) {
        let text = inst.to_string();
        let parsed = parse(&format!("\t{text}\n")).unwrap_or_else(|e| panic!("`{text}`: {e}"));
        assert_eq!(parsed, [Item::Inst(inst)], "`{text}`");
    }
}

fn line_of(text: &str, line: usize) -> &str {
    text.lines().nth(line - 1).unwrap_or("")
}

#[test]
fn hand_written_syntax_is_read_case_insensitively() {
    let text = "\
; runtime
\tORG 100h
CR: EQU 0Dh ; carriage return
Start:\tLD A,(IX-3)\t; load
\tJR NZ,Start
\tEX AF,AF'
\tcp 'a'
\tld hl,$1F+%101
\tdb 'xy',CR,\"$\"
\tds 2
loop:
";
    let items = parse(text).unwrap();
    use Inst::*;
    let expect = vec![
        Item::Comment("runtime".into()),
        Item::Org(Expr::Num(0x100)),
        Item::Equ("CR".into(), Expr::Hex(13)),
        Item::Remark("carriage return".into()),
        Item::Label("Start".into()),
        Item::Inst(Ld(Reg8::A, Src8::Idx(Idx::ix(-3)))),
        Item::Remark("load".into()),
        Item::Inst(JrCc(JrCond::NZ, s("Start"))),
        Item::Inst(ExAf),
        Item::Inst(Alu(AluOp::Cp, Src8::N(Expr::Num(97)))),
        Item::Inst(Ld16(Reg16::HL, add(Expr::Hex(0x1F), Expr::Num(5)))),
        Item::Db(vec![
            Data::Str("xy".into()),
            Data::Byte(s("CR")),
            Data::Str("$".into()),
        ]),
        Item::Ds(Expr::Num(2), None),
        Item::Label("loop".into()),
    ];
    assert_eq!(items, expect);
    // Symbols keep their case.
    assert!(parse("\tjp start\n").unwrap() != parse("\tjp Start\n").unwrap());
}

#[test]
fn end_of_line_comments_and_hex_bytes_print_as_written() {
    let text = "\
\tld hl,0x80\t\t; CP/M's command tail
rt_cl_all: equ 0x0daf\t; CL_ALL
loop:\t\t\t\t; the chat loop
\tcp 33
; a line of its own
\tld a,12h
";
    let printed = print(&parse(text).unwrap());
    assert_eq!(
        printed,
        "\
\tld hl,0x80\t\t; CP/M's command tail
rt_cl_all: equ 0xdaf\t\t; CL_ALL
loop:\t\t\t\t; the chat loop
\tcp 33
; a line of its own
\tld a,0x12
"
    );
    assert_eq!(parse(&printed).unwrap(), parse(text).unwrap());
}

#[test]
fn strings_that_need_numbers_parse_to_the_split_form() {
    let items = vec![Item::Db(vec![Data::Str("a\"b\\c\n".into())])];
    let parsed = parse(&print(&items)).unwrap();
    assert_eq!(parsed, [Item::Db(Data::text("a\"b\\c\n"))]);
    assert_eq!(
        assemble(&parsed, 0).unwrap().bytes,
        assemble(&items, 0).unwrap().bytes
    );
}

#[test]
fn low_and_high_byte_forms() {
    let cases = [
        ("255 & x", s("x").low()),
        ("x & 255", s("x").low()),
        ("0ffh & x", s("x").low()),
        ("255 & x >> 8", s("x").high()),
        ("x >> 8 & 255", s("x").high()),
        ("255 & (x+1) >> 8", s("x").offset(1).high()),
        ("+(255 & x)+1", s("x").low().offset(1)),
    ];
    for (text, e) in cases {
        let items = parse(&format!("\tld a,{text}\n")).unwrap();
        assert_eq!(items, [Item::Inst(Inst::Ld(Reg8::A, Src8::N(e)))], "{text}");
    }
}

fn error_at(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(ParseError { line, col, message }) => (line, col, message),
        Ok(items) => panic!("parsed {text:?} as {items:?}"),
    }
}

#[test]
fn errors_point_at_line_and_column() {
    // (source, line, column, part of the message)
    let cases = [
        ("\tnop\n\tld q,1\n", 2, 5, "invalid operands for `ld`"),
        ("\tnop\n\n\tfrob a\n", 3, 2, "unknown mnemonic"),
        ("x:\n\tld a,-5+x\n", 2, 7, "pasmo reads `-a+b` as `-(a+b)`"),
        ("\tld a,(ix+-5)\n", 1, 11, "negative number inside a sum"),
        ("\tld a,(ix-x+1)\n", 1, 12, "one term"),
        ("\tjr po,x\n", 1, 5, "`jr` takes only"),
        ("nop:\n", 1, 1, "reserved"),
        ("\tdb \"abc\n", 1, 5, "unterminated string"),
        ("\tdb \"a\\n\"\n", 1, 7, "escape"),
        ("\tld a,x & 15\n", 1, 9, "`&` is only portable"),
        ("\tld hl,x+1 >> 8\n", 1, 12, "`>>` is only portable"),
        ("\tld a,(x)+1\n", 1, 7, "start an immediate with `+`"),
        ("\tsub a,b\n", 1, 2, "write `sub x`"),
        ("\tld a,b,c\n", 1, 2, "takes 2 operands"),
        ("\tbit 8,a\n", 1, 6, "not a valid bit number"),
        ("\trst 7\n", 1, 6, "not a valid rst vector"),
        ("\tld a,(hl\n", 1, 7, "unmatched `(`"),
        ("\tld a,#1\n", 1, 7, "unexpected character"),
        ("\tld a,0xzz\n", 1, 7, "bad number"),
        ("\tjp (x)\n", 1, 5, "invalid operands for `jp`"),
        ("\tadd ix,iy\n", 1, 9, "invalid operands"),
        ("\tex af,af\n", 1, 5, "invalid operands"),
        ("\tld a,nop\n", 1, 7, "reserved word"),
        ("equ 5\n", 1, 1, "needs a name"),
        ("\tdb\n", 1, 2, "needs operands"),
        ("\tld a,\n", 1, 6, "missing operand"),
    ];
    for (text, line, col, message) in cases {
        let (l, c, m) = error_at(text);
        assert_eq!((l, c), (line, col), "{text:?}: {m}");
        assert!(m.contains(message), "{text:?}: {m}");
    }
}

#[test]
fn error_display_is_line_colon_column() {
    let e = parse("\tnop\n\tld q,1\n").unwrap_err();
    assert_eq!(e.to_string(), "2:5: invalid operands for `ld`");
}
