//! Instruction facts that need no assembler: T-states against the Zilog manual,
//! printed forms, sizes and encodings of representative instructions.

mod z80_common;

use z80_common::*;
use zlmc_backends::z80::Inst::*;
use zlmc_backends::z80::*;

fn ts(i: &Inst) -> (u8, u8) {
    let t = i.tstates();
    (t.taken, t.not_taken)
}

#[test]
fn tstates_match_the_zilog_manual() {
    let nn = || Expr::sym("nn");
    let table: Vec<(Inst, u8, u8)> = vec![
        (Ld(Reg8::A, Src8::R(Reg8::B)), 4, 4),
        (Ld(Reg8::A, Src8::N(Expr::Num(1))), 7, 7),
        (Ld(Reg8::A, Src8::Hl), 7, 7),
        (Ld(Reg8::A, Src8::Idx(Idx::ix(5))), 19, 19),
        (St(Mem8::Hl, Reg8::B), 7, 7),
        (St(Mem8::Idx(Idx::iy(-2)), Reg8::B), 19, 19),
        (StImm(Mem8::Hl, Expr::Num(0)), 10, 10),
        (StImm(Mem8::Idx(Idx::ix(0)), Expr::Num(0)), 19, 19),
        (LdAPtr(BcDe::DE), 7, 7),
        (LdAMem(nn()), 13, 13),
        (LdMemA(nn()), 13, 13),
        (Ld16(Reg16::HL, nn()), 10, 10),
        (Ld16(Reg16::IX, nn()), 14, 14),
        (Ld16Mem(Reg16::HL, nn()), 16, 16),
        (Ld16Mem(Reg16::DE, nn()), 20, 20),
        (Ld16Mem(Reg16::IY, nn()), 20, 20),
        (St16Mem(nn(), Reg16::HL), 16, 16),
        (St16Mem(nn(), Reg16::BC), 20, 20),
        (LdSp(HlIx::HL), 6, 6),
        (LdSp(HlIx::IX), 10, 10),
        (Push(StackReg::HL), 11, 11),
        (Push(StackReg::IX), 15, 15),
        (Pop(StackReg::AF), 10, 10),
        (Pop(StackReg::IY), 14, 14),
        (ExDeHl, 4, 4),
        (ExAf, 4, 4),
        (Exx, 4, 4),
        (ExSp(HlIx::HL), 19, 19),
        (ExSp(HlIx::IX), 23, 23),
        (Alu(AluOp::Add, Src8::R(Reg8::C)), 4, 4),
        (Alu(AluOp::Cp, Src8::N(Expr::Num(3))), 7, 7),
        (Alu(AluOp::Sub, Src8::Hl), 7, 7),
        (Alu(AluOp::Xor, Src8::Idx(Idx::ix(1))), 19, 19),
        (Inc(Loc8::R(Reg8::A)), 4, 4),
        (Inc(Loc8::Hl), 11, 11),
        (Dec(Loc8::Idx(Idx::ix(3))), 23, 23),
        (Inc16(Reg16::DE), 6, 6),
        (Dec16(Reg16::IX), 10, 10),
        (AddHl(Pair::DE), 11, 11),
        (AdcHl(Pair::BC), 15, 15),
        (SbcHl(Pair::DE), 15, 15),
        (AddIdx(Index::IX, Pair::SP), 15, 15),
        (Neg, 8, 8),
        (Cpl, 4, 4),
        (Rlca, 4, 4),
        (Rot(RotOp::Sla, Loc8::R(Reg8::E)), 8, 8),
        (Rot(RotOp::Rr, Loc8::Hl), 15, 15),
        (Rot(RotOp::Srl, Loc8::Idx(Idx::iy(2))), 23, 23),
        (Rld, 18, 18),
        (Bit(3, Loc8::R(Reg8::A)), 8, 8),
        (Bit(3, Loc8::Hl), 12, 12),
        (Bit(3, Loc8::Idx(Idx::ix(0))), 20, 20),
        (Set(0, Loc8::Hl), 15, 15),
        (Res(7, Loc8::Idx(Idx::ix(0))), 23, 23),
        (Jp(nn()), 10, 10),
        (JpCc(Cond::PE, nn()), 10, 10),
        (JpInd(HlIx::HL), 4, 4),
        (JpInd(HlIx::IX), 8, 8),
        (Jr(nn()), 12, 12),
        (JrCc(JrCond::NZ, nn()), 12, 7),
        (Djnz(nn()), 13, 8),
        (Call(nn()), 17, 17),
        (CallCc(Cond::Z, nn()), 17, 10),
        (Ret, 10, 10),
        (RetCc(Cond::NC), 11, 5),
        (Rst(0x38), 11, 11),
        (Ldir, 21, 16),
        (Lddr, 21, 16),
        (Cpir, 21, 16),
        (Ldi, 16, 16),
        (Nop, 4, 4),
        (Halt, 4, 4),
        (Di, 4, 4),
        (Im(1), 8, 8),
        (InA(Expr::Num(1)), 11, 11),
        (OutA(Expr::Num(1)), 11, 11),
        (InC(Reg8::B), 12, 12),
        (LdAI, 9, 9),
    ];
    for (inst, taken, not_taken) in table {
        assert_eq!(ts(&inst), (taken, not_taken), "T-states of `{inst}`");
    }
}

#[test]
fn conditional_timings_differ_only_for_branches_and_repeats() {
    for inst in straight_table().iter().chain(relative_table().iter()) {
        let t = inst.tstates();
        let conditional = matches!(
            inst,
            JrCc(..) | Djnz(_) | CallCc(..) | RetCc(_) | Ldir | Lddr | Cpir | Cpdr
        );
        assert_eq!(t.taken != t.not_taken, conditional, "`{inst}`");
        assert!(t.not_taken >= 4, "`{inst}`");
    }
}

#[test]
fn instructions_print_in_zilog_syntax() {
    let cases: Vec<(Inst, &str)> = vec![
        (Ld(Reg8::A, Src8::Hl), "ld a,(hl)"),
        (Ld(Reg8::H, Src8::Idx(Idx::iy(-5))), "ld h,(iy-5)"),
        (Ld(Reg8::B, Src8::Idx(Idx::ix(0))), "ld b,(ix+0)"),
        (St(Mem8::Idx(Idx::ix(127)), Reg8::A), "ld (ix+127),a"),
        (StImm(Mem8::Hl, Expr::Num(-1)), "ld (hl),-1"),
        (
            Ld(
                Reg8::L,
                Src8::Idx(idx(Index::IX, Expr::Num(0).minus(s("off")))),
            ),
            "ld l,(ix-off)",
        ),
        (LdAPtr(BcDe::BC), "ld a,(bc)"),
        (LdMemA(s("buf").offset(2)), "ld (buf+2),a"),
        (Ld16(Reg16::HL, s("table").low()), "ld hl,255 & table"),
        (Ld16(Reg16::DE, s("table").high()), "ld de,255 & table >> 8"),
        (
            Ld16(Reg16::BC, s("end_").minus(s("start")).high()),
            "ld bc,255 & (end_-start) >> 8",
        ),
        (Ld16(Reg16::BC, Expr::Num(-5).plus(s("x"))), "ld bc,+(-5)+x"),
        (Ld16(Reg16::BC, s("x").plus(Expr::Num(-5))), "ld bc,x+(-5)"),
        (Ld16Mem(Reg16::IX, Expr::Num(0x1234)), "ld ix,(0x1234)"),
        (St16Mem(s("v"), Reg16::SP), "ld (v),sp"),
        (LdSp(HlIx::IY), "ld sp,iy"),
        (Push(StackReg::AF), "push af"),
        (ExAf, "ex af,af'"),
        (ExSp(HlIx::HL), "ex (sp),hl"),
        (Alu(AluOp::Add, Src8::R(Reg8::B)), "add a,b"),
        (Alu(AluOp::Sbc, Src8::N(Expr::Num(1))), "sbc a,1"),
        (Alu(AluOp::Sub, Src8::R(Reg8::B)), "sub b"),
        (Alu(AluOp::Cp, Src8::N(Expr::Num(b'a' as i32))), "cp 97"),
        (AddIdx(Index::IX, Pair::HL), "add ix,ix"),
        (AddIdx(Index::IY, Pair::DE), "add iy,de"),
        (SbcHl(Pair::DE), "sbc hl,de"),
        (Rot(RotOp::Srl, Loc8::Hl), "srl (hl)"),
        (Bit(7, Loc8::Idx(Idx::ix(-128))), "bit 7,(ix-128)"),
        (JpCc(Cond::PO, s("loop")), "jp po,loop"),
        (JpInd(HlIx::IX), "jp (ix)"),
        (JrCc(JrCond::C, Expr::Here.offset(2)), "jr c,$+2"),
        (Djnz(s("loop")), "djnz loop"),
        (RetCc(Cond::M), "ret m"),
        (Rst(0x38), "rst 0x38"),
        (Rst(0), "rst 0x00"),
        (Im(2), "im 2"),
        (InA(Expr::Num(0x10)), "in a,(16)"),
        (OutA(s("port")), "out (port),a"),
        (InC(Reg8::E), "in e,(c)"),
        (OutC(Reg8::A), "out (c),a"),
        (Jp(Expr::Num(0x100)), "jp 0x100"),
        (Jp(Expr::Num(-0x100)), "jp -0x100"),
        (
            LdAMem(s("x").low().plus(Expr::Num(1))),
            "ld a,(+(255 & x)+1)",
        ),
    ];
    for (inst, text) in cases {
        assert_eq!(inst.to_string(), text);
    }
}

#[test]
fn items_print_one_line_each() {
    let items = vec![
        Item::Label("start".into()),
        Item::Inst(Nop),
        Item::Org(Expr::Num(0x100)),
        Item::Db(Data::text("Hi \"you\"\\\r\n$")),
        Item::Dw(vec![s("start"), Expr::Num(-1)]),
        Item::Ds(Expr::Num(4), None),
        Item::Ds(Expr::Num(4), Some(Expr::Num(0xE5))),
        Item::Equ("bdos".into(), Expr::Num(5)),
        Item::Comment("two\nlines".into()),
        Item::Comment(String::new()),
        Item::Blank,
    ];
    assert_eq!(
        print(&items),
        "start:\n\tnop\n\torg 0x100\n\tdb \"Hi \",34,\"you\",34,92,13,10,\"$\"\n\
         \tdw start,-1\n\tds 4\n\tds 4,229\nbdos: equ 5\n; two lines\n;\n\n"
    );
}

#[test]
fn encodings_of_prefixed_forms() {
    let syms = Symbols::from([("x".to_string(), 0x1234)]);
    let cases: Vec<(Inst, Vec<u8>)> = vec![
        (Ld(Reg8::A, Src8::Idx(Idx::ix(-1))), vec![0xDD, 0x7E, 0xFF]),
        (
            StImm(Mem8::Idx(Idx::iy(5)), Expr::Num(7)),
            vec![0xFD, 0x36, 5, 7],
        ),
        (Bit(7, Loc8::Idx(Idx::iy(-3))), vec![0xFD, 0xCB, 0xFD, 0x7E]),
        (Ld16Mem(Reg16::DE, s("x")), vec![0xED, 0x5B, 0x34, 0x12]),
        (Ld16Mem(Reg16::HL, s("x")), vec![0x2A, 0x34, 0x12]),
        (St16Mem(s("x"), Reg16::IX), vec![0xDD, 0x22, 0x34, 0x12]),
        (SbcHl(Pair::DE), vec![0xED, 0x52]),
        (AdcHl(Pair::SP), vec![0xED, 0x7A]),
        (Ld(Reg8::A, Src8::N(s("x").high())), vec![0x3E, 0x12]),
        (Jr(Expr::Here), vec![0x18, 0xFE]),
        (Djnz(Expr::Here.offset(-126)), vec![0x10, 0x80]),
    ];
    for (inst, bytes) in cases {
        let code = inst.encode(0x100, &syms).unwrap();
        assert_eq!(code, bytes, "`{inst}`");
        assert_eq!(code.len(), usize::from(inst.size()), "`{inst}`");
    }
}

#[test]
fn encoding_checks_operands() {
    let none = Symbols::new();
    let range = |i: Inst| match i.encode(0, &none) {
        Err(EncodeError::Range { what, value }) => (what, value),
        other => panic!("`{i}`: {other:?}"),
    };
    assert_eq!(range(Jr(Expr::Num(130))).1, 128);
    assert_eq!(range(Jr(Expr::Num(-127))).1, -129);
    assert_eq!(range(Ld(Reg8::A, Src8::N(Expr::Num(256)))).1, 256);
    assert_eq!(range(Ld(Reg8::A, Src8::N(Expr::Num(-129)))).1, -129);
    assert_eq!(range(Ld16(Reg16::HL, Expr::Num(65536))).1, 65536);
    assert_eq!(range(Rst(0x39)).1, 0x39);
    assert_eq!(range(Bit(8, Loc8::Hl)).1, 8);
    assert_eq!(range(Im(3)).1, 3);
    let disp = |d: Expr| Ld(Reg8::A, Src8::Idx(idx(Index::IX, d)));
    assert_eq!(range(disp(Expr::Num(128))).1, 128);
    assert_eq!(range(disp(Expr::Num(-129))).1, -129);
    // pasmo rejects `(ix+e)` with a negative symbolic `e`, so we do too.
    let syms = Symbols::from([("m".to_string(), -2), ("big".to_string(), 129)]);
    assert!(matches!(
        disp(Expr::sym("m")).encode(0, &syms),
        Err(EncodeError::Range { value: -2, .. })
    ));
    assert!(matches!(
        disp(Expr::Num(0).minus(Expr::sym("big"))).encode(0, &syms),
        Err(EncodeError::Range { value: 129, .. })
    ));
    assert!(matches!(
        disp(Expr::Num(0).minus(Expr::sym("m").offset(1))).encode(0, &syms),
        Err(EncodeError::Unportable(_))
    ));
    assert_eq!(
        Jp(Expr::sym("nowhere")).encode(0, &none),
        Err(EncodeError::Undefined("nowhere".into()))
    );
}
