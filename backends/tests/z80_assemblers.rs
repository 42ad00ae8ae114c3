//! The printed text assembles with z80asm and pasmo to exactly the bytes our own
//! assembler produces, for every instruction variant and a CP/M program.

mod z80_common;

use std::collections::BTreeSet;
use z80_common::*;
use zlmc_backends::z80::*;

#[test]
fn the_table_covers_every_instruction_variant() {
    let seen: BTreeSet<&str> = straight_table()
        .iter()
        .chain(relative_table().iter())
        .map(variant)
        .collect();
    let missing: Vec<&&str> = VARIANTS.iter().filter(|v| !seen.contains(**v)).collect();
    assert!(
        missing.is_empty(),
        "variants missing from the table: {missing:?}"
    );
}

#[test]
fn every_instruction_assembles_identically_three_ways() {
    let program = table_program();
    let ours = assemble_three_ways(&program);
    let insts = program
        .iter()
        .filter(|i| matches!(i, Item::Inst(_)))
        .count();
    assert!(insts > 2500, "the table has only {insts} instructions");
    // size() is the encoded length for each instruction, in place.
    for (i, item) in program.iter().enumerate() {
        if let Item::Inst(inst) = item {
            let here = ours.addresses[i];
            let code = inst.encode(here, &ours.symbols).unwrap();
            assert_eq!(code.len(), usize::from(inst.size()), "size of `{inst}`");
            let next = ours.addresses.get(i + 1).copied().unwrap_or(0);
            assert_eq!(next - here, inst.size(), "address step after `{inst}`");
            let at = usize::from(here - ours.origin);
            assert_eq!(&ours.bytes[at..at + code.len()], &code[..], "`{inst}`");
        }
    }
}

#[test]
fn each_instruction_alone_matches_both_assemblers() {
    // One instruction of each variant and size, each followed by a marker byte, so a
    // length disagreement shows at the instruction rather than somewhere later.
    let mut shapes = BTreeSet::new();
    let mut program = vec![
        Item::Org(Expr::Num(0x100)),
        Item::Equ("small".into(), Expr::Num(5)),
        Item::Equ("big".into(), Expr::Num(0x1234)),
        Item::Equ("minus3".into(), Expr::Num(-3)),
        Item::Equ("top".into(), Expr::Num(0xFFFF)),
        Item::Equ("d128".into(), Expr::Num(128)),
        Item::Label("fwd".into()),
        Item::Label("back".into()),
    ];
    for inst in straight_table() {
        let shape = (variant(&inst), inst.size());
        if shapes.insert(shape) {
            program.push(Item::Inst(inst));
            program.push(Item::Db(vec![Data::Byte(Expr::Num(0xA5))]));
        }
    }
    assemble_three_ways(&program);
}

#[test]
fn a_cpm_program_assembles_identically_three_ways() {
    use Inst::*;
    let program = vec![
        Item::Comment("hello: print a string with BDOS function 9, return to CP/M".into()),
        Item::Org(Expr::Num(0x100)),
        Item::Equ("bdos".into(), Expr::Num(5)),
        Item::Equ("print_string".into(), Expr::Num(9)),
        Item::Blank,
        Item::Label("start".into()),
        Item::Inst(Ld16(Reg16::DE, Expr::sym("msg"))),
        Item::Inst(Ld(Reg8::C, Src8::N(Expr::sym("print_string")))),
        Item::Inst(Call(Expr::sym("bdos"))),
        Item::Inst(Ret),
        Item::Blank,
        Item::Label("msg".into()),
        Item::Db(
            [
                Data::text("Hello from zlmc"),
                vec![
                    Data::Byte(Expr::Num(13)),
                    Data::Byte(Expr::Num(10)),
                    Data::Str("$".into()),
                ],
            ]
            .concat(),
        ),
    ];
    let out = assemble_three_ways(&program);
    assert_eq!(out.origin, 0x100);
    let mut expect = vec![0x11, 0x09, 0x01, 0x0E, 0x09, 0xCD, 0x05, 0x00, 0xC9];
    expect.extend_from_slice(b"Hello from zlmc\r\n$");
    assert_eq!(out.bytes, expect);
    assert_eq!(out.symbols["msg"], 0x109);
    assert_eq!(out.symbols["bdos"], 5);

    // The same program written by hand reads back to the same items.
    let text = "; hello: print a string with BDOS function 9, return to CP/M
\tORG 0x100
bdos: EQU 5
print_string: equ 9

start:\tLD DE,msg
\tld c,print_string
\tCall bdos
\tret

msg:\tdb \"Hello from zlmc\",13,10,\"$\"
";
    let parsed = parse(text).unwrap();
    assert_eq!(assemble(&parsed, 0).unwrap().bytes, out.bytes);
}

#[test]
fn programs_without_org_start_at_zero_in_all_three() {
    let program = vec![
        Item::Label("top_of_code".into()),
        Item::Inst(Inst::Jp(Expr::sym("top_of_code"))),
        Item::Inst(Inst::Jr(Expr::Here)),
        Item::Ds(Expr::Num(2), None),
    ];
    let out = assemble_three_ways(&program);
    assert_eq!(out.origin, 0);
    assert_eq!(out.bytes, [0xC3, 0x00, 0x00, 0x18, 0xFE, 0, 0]);
}

#[test]
fn names_near_reserved_words_work_in_all_three() {
    use Inst::*;
    let names = [
        "_x1", "ffh", "endless", "lowest", "Loop", "loop", "hl2", "ix_", "nop1",
    ];
    let mut program = Vec::new();
    for n in names {
        program.push(Item::Label(n.into()));
        program.push(Item::Inst(Jp(Expr::sym(n))));
    }
    program.push(Item::Equ("AF_".into(), Expr::sym("loop").offset(1)));
    program.push(Item::Dw(vec![Expr::sym("AF_"), Expr::sym("Loop")]));
    let out = assemble_three_ways(&program);
    assert_eq!(out.symbols["loop"], 15);
    assert_eq!(out.symbols["Loop"], 12);
}
