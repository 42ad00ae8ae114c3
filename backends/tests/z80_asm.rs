//! The two-pass assembler: symbols, addresses, and the errors it reports (each one a
//! program that z80asm and pasmo would reject, or assemble differently or wrongly).

mod z80_common;

use z80_common::*;
use zlmc_backends::z80::*;

fn lbl(n: &str) -> Item {
    Item::Label(n.into())
}

fn inst(i: Inst) -> Item {
    Item::Inst(i)
}

fn fails(items: &[Item]) -> (usize, AsmErrorKind) {
    match assemble(items, 0) {
        Err(AsmError { item, kind }) => (item, kind),
        Ok(a) => panic!("assembled: {a:?}"),
    }
}

#[test]
fn forward_and_backward_labels_resolve() {
    let items = vec![
        Item::Org(Expr::Num(0x8000)),
        lbl("top_"),
        inst(Inst::Jp(s("end_"))),
        inst(Inst::Jr(s("top_"))),
        Item::Equ("len".into(), s("top_").offset(5)),
        lbl("end_"),
        inst(Inst::Ld16(Reg16::HL, s("end_").minus(s("top_")))),
    ];
    let a = assemble(&items, 0).unwrap();
    assert_eq!(a.origin, 0x8000);
    assert_eq!(a.symbols["top_"], 0x8000);
    assert_eq!(a.symbols["end_"], 0x8005);
    assert_eq!(a.symbols["len"], 0x8005);
    assert_eq!(
        a.addresses,
        [0, 0x8000, 0x8000, 0x8003, 0x8005, 0x8005, 0x8005]
    );
    assert_eq!(a.bytes, [0xC3, 0x05, 0x80, 0x18, 0xFB, 0x21, 0x05, 0x00]);
}

#[test]
fn origin_argument_applies_without_org() {
    let items = vec![lbl("here"), inst(Inst::Call(s("here")))];
    let a = assemble(&items, 0x100).unwrap();
    assert_eq!(a.origin, 0x100);
    assert_eq!(a.bytes, [0xCD, 0x00, 0x01]);
}

#[test]
fn undefined_and_duplicate_symbols() {
    let (i, k) = fails(&[inst(Inst::Nop), inst(Inst::Call(s("missing")))]);
    assert_eq!((i, k), (1, AsmErrorKind::Undefined("missing".into())));
    let (i, k) = fails(&[lbl("x"), inst(Inst::Nop), lbl("x")]);
    assert_eq!((i, k), (2, AsmErrorKind::Duplicate("x".into())));
    let (i, k) = fails(&[lbl("x"), Item::Equ("x".into(), Expr::Num(1))]);
    assert_eq!((i, k), (1, AsmErrorKind::Duplicate("x".into())));
    // Symbols are case-sensitive in both assemblers.
    assemble(&[lbl("x"), lbl("X"), inst(Inst::Jp(s("X")))], 0).unwrap();
}

#[test]
fn names_both_assemblers_accept() {
    for bad in ["1x", "x.y", "a-b", "", "x'"] {
        let (_, k) = fails(&[lbl(bad)]);
        assert_eq!(k, AsmErrorKind::BadName(bad.into()));
    }
    // Registers, mnemonics, directives and pasmo's operators, in any case.
    for reserved in [
        "nz", "HL", "af", "ix", "neg", "Ld", "end", "END", "low", "high", "mod", "db",
    ] {
        let (_, k) = fails(&[lbl(reserved)]);
        assert_eq!(k, AsmErrorKind::Reserved(reserved.into()));
        let (_, k) = fails(&[Item::Equ(reserved.into(), Expr::Num(1))]);
        assert_eq!(k, AsmErrorKind::Reserved(reserved.into()));
    }
    assemble(&[lbl("_x1"), lbl("endless"), lbl("ffh"), lbl("lowest")], 0).unwrap();
}

#[test]
fn relative_jump_range_is_exact() {
    let around = |before: u16, after: u16, jump: Inst| {
        vec![
            lbl("bk"),
            Item::Ds(Expr::Num(before.into()), None),
            inst(jump),
            Item::Ds(Expr::Num(after.into()), None),
            lbl("fw"),
        ]
    };
    for make in [Inst::Jr as fn(Expr) -> Inst, Inst::Djnz, |e| {
        Inst::JrCc(JrCond::NC, e)
    }] {
        // Backward: -128 reaches, -129 does not.
        assemble(&around(126, 0, make(s("bk"))), 0).unwrap();
        let (i, k) = fails(&around(127, 0, make(s("bk"))));
        assert_eq!(i, 2);
        assert!(matches!(k, AsmErrorKind::Range { value: -129, .. }), "{k}");
        // Forward: +127 reaches, +128 does not.
        assemble(&around(0, 127, make(s("fw"))), 0).unwrap();
        let (i, k) = fails(&around(0, 128, make(s("fw"))));
        assert_eq!(i, 2);
        assert!(matches!(k, AsmErrorKind::Range { value: 128, .. }), "{k}");
    }
}

#[test]
fn values_must_fit_their_fields() {
    let cases = [
        (inst(Inst::Ld(Reg8::A, Src8::N(Expr::Num(256)))), 256),
        (inst(Inst::Ld16(Reg16::BC, Expr::Num(-32769))), -32769),
        (Item::Db(vec![Data::Byte(Expr::Num(-129))]), -129),
        (Item::Dw(vec![Expr::Num(0x10000)]), 0x10000),
        (Item::Ds(Expr::Num(1), Some(Expr::Num(300))), 300),
        (Item::Ds(Expr::Num(-1), None), -1),
        (Item::Org(Expr::Num(0x10000)), 0x10000),
    ];
    for (item, value) in cases {
        let (i, k) = fails(std::slice::from_ref(&item));
        assert_eq!(i, 0);
        assert!(
            matches!(k, AsmErrorKind::Range { value: v, .. } if v == value),
            "{item}: {k}"
        );
    }
}

#[test]
fn org_moves_only_before_code() {
    // z80asm concatenates the pieces of a program with several orgs, pasmo fills the gap.
    let (i, k) = fails(&[
        Item::Org(Expr::Num(0x100)),
        inst(Inst::Nop),
        Item::Org(Expr::Num(0x200)),
    ]);
    assert_eq!((i, k), (2, AsmErrorKind::LateOrg));
    let a = assemble(
        &[
            Item::Org(Expr::Num(0x100)),
            lbl("a0"),
            Item::Org(Expr::Num(0x200)),
            inst(Inst::Nop),
            Item::Org(s("a0").offset(0x101)),
            inst(Inst::Nop),
        ],
        0,
    )
    .unwrap();
    assert_eq!((a.origin, a.bytes.len()), (0x200, 2));
}

#[test]
fn layout_and_equ_values_only_use_symbols_above() {
    // z80asm takes an equ of a later label as 0 without a word.
    let (i, k) = fails(&[
        Item::Equ("len".into(), s("end_").minus(s("start"))),
        lbl("start"),
        inst(Inst::Nop),
        lbl("end_"),
    ]);
    assert_eq!((i, k), (0, AsmErrorKind::NotYetKnown("equ value")));
    let (i, k) = fails(&[Item::Ds(s("n"), None), Item::Equ("n".into(), Expr::Num(2))]);
    assert_eq!((i, k), (0, AsmErrorKind::NotYetKnown("ds count")));
    let (i, k) = fails(&[Item::Org(s("n")), Item::Equ("n".into(), Expr::Num(2))]);
    assert_eq!((i, k), (0, AsmErrorKind::NotYetKnown("org address")));
    let (i, k) = fails(&[Item::Equ("n".into(), s("nothing"))]);
    assert_eq!((i, k), (0, AsmErrorKind::Undefined("nothing".into())));
    // Using an equ before its definition is fine.
    let a = assemble(
        &[
            inst(Inst::Ld(Reg8::A, Src8::N(s("n")))),
            Item::Equ("n".into(), Expr::Num(2)),
        ],
        0,
    )
    .unwrap();
    assert_eq!(a.bytes, [0x3E, 2]);
}

#[test]
fn programs_stay_below_64k() {
    let (i, k) = fails(&[Item::Org(Expr::Num(0xFFFE)), inst(Inst::Jp(Expr::Num(0)))]);
    assert_eq!((i, k), (1, AsmErrorKind::Overflow));
    let (i, k) = fails(&[Item::Org(Expr::Num(0xFFFF)), inst(Inst::Nop), lbl("past")]);
    assert_eq!((i, k), (2, AsmErrorKind::Overflow));
    assemble(&[Item::Org(Expr::Num(0xFFFF)), inst(Inst::Nop)], 0).unwrap();
}

#[test]
fn empty_data_is_rejected() {
    assert_eq!(fails(&[Item::Db(vec![])]).1, AsmErrorKind::Empty("db"));
    assert_eq!(fails(&[Item::Dw(vec![])]).1, AsmErrorKind::Empty("dw"));
    assert_eq!(
        fails(&[Item::Db(vec![Data::Str(String::new())])]).1,
        AsmErrorKind::Empty("db")
    );
}

#[test]
fn errors_name_the_printed_line() {
    let items = vec![
        Item::Comment("c".into()),
        inst(Inst::Nop),
        inst(Inst::Jp(s("nowhere"))),
    ];
    let e = assemble(&items, 0).unwrap_err();
    assert_eq!(e.to_string(), "line 3: undefined symbol `nowhere`");
    assert_eq!(print(&items).lines().nth(e.item), Some("\tjp nowhere"));
}
