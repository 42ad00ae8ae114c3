//! The generator's builder makes the items the parser reads from the printed
//! text, so typed emission and the hand-written runtime sources agree.

use zlmc_backends::z80::Reg8::{A, B, C, E, H, L};
use zlmc_backends::z80::*;

#[test]
fn builder_items_print_and_parse_back_the_same() {
    let mut b = Builder::new();
    b.comment("---- a loop ----");
    b.equ("count", 3);
    b.label("top");
    b.ld(A, 1);
    b.ld(B, Src8::Hl);
    b.ld(L, Idx::ix(2));
    b.st(Mem8::Hl, E);
    b.st_imm(Idx::iy(-1), 255);
    b.ld_a_mem(0xd000u16);
    b.ld_mem_a(Expr::sym("top").plus(Expr::Num(0)));
    b.ld16(Reg16::HL, Expr::sym("count").minus(Expr::Num(1)));
    b.st16_mem("slot", Reg16::SP);
    b.alu(AluOp::Add, C);
    b.alu(AluOp::Cp, Expr::sym("top").low());
    b.inc(H);
    b.dec(Loc8::Hl);
    b.rot(RotOp::Sra, A);
    b.inst(Inst::ExAf);
    b.jr_cc(JrCond::NZ, "top");
    b.jp_cc(Cond::PO, "top");
    b.djnz("top");
    b.call_cc(Cond::Z, "top");
    b.ret_cc(Cond::NC);
    b.ret();
    b.label("slot");
    b.dw([0u16]);
    b.db_lines(&[1, 2, 3], 2);
    let items = b.finish();
    let text = print(&items);
    assert_eq!(parse(&text).expect("parses"), items, "{text}");
    assert!(text.contains("\tld (top+0),a\n"), "{text}");
    assert!(text.contains("\tcp 255 & top\n"), "{text}");
    assert!(text.contains("\tdb 1,2\n\tdb 3\n"), "{text}");
    assemble(&items, 0x100).expect("assembles");
}

#[test]
fn every_mnemonic_is_a_reserved_name() {
    for name in ["ld", "LD", "djnz", "sll", "otir", "exx"] {
        assert!(is_reserved(name), "{name}");
    }
    assert!(!is_reserved("ld_a"));
}
