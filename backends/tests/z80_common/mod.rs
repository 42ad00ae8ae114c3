//! Shared helpers of the Z80 tests: a table with every instruction variant, and
//! checking our assembler against z80asm and pasmo, the assemblers users have.
#![allow(dead_code)]

use zlmc_backends::z80::*;
use zlmc_test_support::tools::{z80_assemble, Z80Asm};

/// A symbol reference.
pub fn s(name: &str) -> Expr {
    Expr::sym(name)
}

/// `a+b`.
pub fn add(a: Expr, b: Expr) -> Expr {
    a.plus(b)
}

/// `a-b`.
pub fn sub(a: Expr, b: Expr) -> Expr {
    a.minus(b)
}

/// `(ix+e)` / `(iy+e)` with any displacement expression.
pub fn idx(reg: Index, disp: Expr) -> Idx {
    Idx { reg, disp }
}

/// Constants and labels the table refers to; `table_program` defines them.
pub const EQUS: &[(&str, i32)] = &[
    ("small", 5),
    ("big", 0x1234),
    ("minus3", -3),
    ("top", 0xFFFF),
    ("d128", 128),
];

/// `numbers` as operand values, then `symbolic`.
fn values(numbers: &[i32], symbolic: Vec<Expr>) -> Vec<Expr> {
    numbers
        .iter()
        .map(|&n| Expr::Num(n))
        .chain(symbolic)
        .collect()
}

/// Byte-sized operand values, every printed shape included.
pub fn bytes() -> Vec<Expr> {
    let numbers = [0, 1, 127, 128, 255, -1, -128];
    values(
        &numbers,
        vec![
            s("small"),
            s("minus3"),
            s("big").low(),
            s("big").high(),
            s("fwd").low(),
            s("back").high(),
            add(s("big"), Expr::Num(300)).high(),
            sub(s("fwd"), s("back")).low(),
            s("small").offset(-7),
            add(Expr::Num(-5), s("small")),
            add(s("small").low(), Expr::Num(1)),
            sub(Expr::Num(10), add(s("small"), Expr::Num(2))),
            add(s("small"), Expr::Num(-5)),
            sub(Expr::Num(0), s("small")),
            s("big").low().low(),
            Expr::Num(b'"' as i32),
        ],
    )
}

/// Word-sized operand values.
pub fn words() -> Vec<Expr> {
    let numbers = [0, 0x1234, 65535, -1, -32768];
    values(
        &numbers,
        vec![
            s("fwd"),
            s("back"),
            s("top"),
            s("fwd").offset(10),
            s("back").offset(-2),
            sub(s("fwd"), s("back")),
            sub(s("back"), s("fwd")),
            Expr::Here,
            Expr::Here.offset(3),
            add(Expr::Num(-5), s("big")),
            add(s("big").high(), s("back")),
            add(s("back"), sub(Expr::Num(1), s("small"))),
            s("big").low(),
        ],
    )
}

/// Index displacements, every printed shape included.
pub fn disps() -> Vec<Expr> {
    let numbers = [0, 5, -1, -128, 127];
    values(
        &numbers,
        vec![
            s("small"),
            sub(Expr::Num(0), s("small")),
            s("small").offset(2),
            add(Expr::Num(-3), s("small")),
            s("big").low().offset(-50),
            sub(Expr::Num(0), s("d128")),
        ],
    )
}

fn idxs() -> Vec<Idx> {
    let mut out = Vec::new();
    for d in disps() {
        for r in Index::ALL {
            out.push(idx(r, d.clone()));
        }
    }
    out
}

fn locs() -> Vec<Loc8> {
    let mut out: Vec<Loc8> = Reg8::ALL.into_iter().map(Loc8::R).collect();
    out.push(Loc8::Hl);
    out.extend(idxs().into_iter().map(Loc8::Idx));
    out
}

fn mems() -> Vec<Mem8> {
    let mut out = vec![Mem8::Hl];
    out.extend(idxs().into_iter().map(Mem8::Idx));
    out
}

fn srcs() -> Vec<Src8> {
    let mut out: Vec<Src8> = Reg8::ALL.into_iter().map(Src8::R).collect();
    out.push(Src8::Hl);
    out.extend(idxs().into_iter().map(Src8::Idx));
    out.extend(bytes().into_iter().map(Src8::N));
    out
}

/// Every instruction variant with several operand values, except relative jumps.
pub fn straight_table() -> Vec<Inst> {
    use Inst::*;
    let mut t = Vec::new();
    for r in Reg8::ALL {
        for src in srcs() {
            t.push(Ld(r, src));
        }
    }
    for m in mems() {
        for r in Reg8::ALL {
            t.push(St(m.clone(), r));
        }
        for n in bytes().into_iter().take(8) {
            t.push(StImm(m.clone(), n));
        }
    }
    t.push(StImm(Mem8::Hl, s("big").high()));
    for p in BcDe::ALL {
        t.push(LdAPtr(p));
        t.push(LdPtrA(p));
    }
    for w in words() {
        t.push(LdAMem(w.clone()));
        t.push(LdMemA(w.clone()));
        t.push(InA(w.clone().low()));
        t.push(OutA(w.clone().high()));
        for r in Reg16::ALL {
            t.push(Ld16(r, w.clone()));
            t.push(Ld16Mem(r, w.clone()));
            t.push(St16Mem(w.clone(), r));
        }
        t.push(Jp(w.clone()));
        t.push(Call(w.clone()));
        for c in Cond::ALL {
            t.push(JpCc(c, w.clone()));
            t.push(CallCc(c, w.clone()));
        }
    }
    for n in bytes() {
        t.push(InA(n.clone()));
        t.push(OutA(n));
    }
    t.extend([LdAI, LdAR, LdIA, LdRA]);
    for r in HlIx::ALL {
        t.push(LdSp(r));
        t.push(ExSp(r));
        t.push(JpInd(r));
    }
    for r in StackReg::ALL {
        t.push(Push(r));
        t.push(Pop(r));
    }
    t.extend([ExDeHl, ExAf, Exx]);
    for op in AluOp::ALL {
        for src in srcs() {
            t.push(Alu(op, src));
        }
    }
    for l in locs() {
        t.push(Inc(l.clone()));
        t.push(Dec(l.clone()));
        for op in RotOp::ALL {
            t.push(Rot(op, l.clone()));
        }
        for b in 0..8 {
            t.push(Bit(b, l.clone()));
            t.push(Set(b, l.clone()));
            t.push(Res(b, l.clone()));
        }
    }
    for r in Reg16::ALL {
        t.push(Inc16(r));
        t.push(Dec16(r));
    }
    for p in Pair::ALL {
        t.push(AddHl(p));
        t.push(AdcHl(p));
        t.push(SbcHl(p));
        for x in Index::ALL {
            t.push(AddIdx(x, p));
        }
    }
    t.extend([
        Daa, Cpl, Neg, Ccf, Scf, Rlca, Rrca, Rla, Rra, Rld, Rrd, Ret, Reti, Retn, Ldi, Ldir, Ldd,
        Lddr, Cpi, Cpir, Cpd, Cpdr, Nop, Halt, Di, Ei,
    ]);
    for c in Cond::ALL {
        t.push(RetCc(c));
    }
    for p in (0..8).map(|k| k * 8) {
        t.push(Rst(p));
    }
    for m in 0..3 {
        t.push(Im(m));
    }
    for r in Reg8::ALL {
        t.push(InC(r));
        t.push(OutC(r));
    }
    t
}

/// Relative jumps to targets within reach of the block they sit in, which is placed
/// between the labels `jr_back` and `jr_fwd`.
pub fn relative_table() -> Vec<Inst> {
    use Inst::*;
    let targets = || {
        vec![
            s("jr_back"),
            s("jr_fwd"),
            Expr::Here,
            Expr::Here.offset(2),
            Expr::Here.offset(-20),
            s("jr_back").offset(3),
        ]
    };
    let mut t = Vec::new();
    for e in targets() {
        t.push(Jr(e.clone()));
        t.push(Djnz(e.clone()));
        for c in JrCond::ALL {
            t.push(JrCc(c, e.clone()));
        }
    }
    t
}

/// The whole table as one program: org, equs, labels, data directives, every
/// instruction, relative jumps at both ends of their range.
pub fn table_program() -> Vec<Item> {
    let mut p = vec![
        Item::Comment("every instruction variant, several operand values each".into()),
        Item::Org(Expr::Num(0x4000)),
    ];
    for (name, v) in EQUS {
        p.push(Item::Equ((*name).into(), Expr::Num(*v)));
    }
    p.push(Item::Label("back".into()));
    p.push(Item::Blank);
    p.extend(straight_table().into_iter().map(Item::Inst));
    p.push(Item::Label("jr_back".into()));
    p.extend(relative_table().into_iter().map(Item::Inst));
    p.push(Item::Label("jr_fwd".into()));
    // Both ends of the relative range.
    p.push(Item::Label("far_back".into()));
    p.push(Item::Ds(Expr::Num(126), None));
    p.push(Item::Inst(Inst::Jr(s("far_back"))));
    p.push(Item::Inst(Inst::Djnz(s("far_fwd"))));
    p.push(Item::Ds(Expr::Num(127), Some(Expr::Num(0xAA))));
    p.push(Item::Label("far_fwd".into()));
    p.push(Item::Comment(" data directives; ; in a comment".into()));
    p.push(Item::Label("fwd".into()));
    p.push(Item::Equ("later".into(), sub(s("fwd"), s("back"))));
    p.push(Item::Equ("here_equ".into(), Expr::Here.offset(1)));
    let mut data = Data::text("Hello, world; 'quoted' \\ $");
    data.extend([
        Data::Byte(Expr::Num(13)),
        Data::Byte(Expr::Num(10)),
        Data::Byte(Expr::Num(-1)),
        Data::Byte(s("big").high()),
        Data::Byte(Expr::Here.low()),
    ]);
    p.push(Item::Db(data));
    p.push(Item::Db(Data::text("say \"hi\"\ttab\u{7f}")));
    p.push(Item::Db(Data::text("x\"y\n")));
    p.push(Item::Dw(words()));
    p.push(Item::Dw(vec![
        Expr::Here,
        Expr::Here,
        s("later"),
        s("here_equ"),
    ]));
    p.push(Item::Ds(s("small"), None));
    p.push(Item::Ds(Expr::Num(3), Some(s("minus3"))));
    p.push(Item::Ds(Expr::Num(0), None));
    p.push(Item::Comment(String::new()));
    p
}

/// The name of an instruction's variant; exhaustive so a new variant must be listed.
pub fn variant(i: &Inst) -> &'static str {
    use Inst::*;
    match i {
        Ld(..) => "Ld",
        St(..) => "St",
        StImm(..) => "StImm",
        LdAPtr(..) => "LdAPtr",
        LdPtrA(..) => "LdPtrA",
        LdAMem(..) => "LdAMem",
        LdMemA(..) => "LdMemA",
        LdAI => "LdAI",
        LdAR => "LdAR",
        LdIA => "LdIA",
        LdRA => "LdRA",
        Ld16(..) => "Ld16",
        Ld16Mem(..) => "Ld16Mem",
        St16Mem(..) => "St16Mem",
        LdSp(..) => "LdSp",
        Push(..) => "Push",
        Pop(..) => "Pop",
        ExDeHl => "ExDeHl",
        ExAf => "ExAf",
        Exx => "Exx",
        ExSp(..) => "ExSp",
        Alu(..) => "Alu",
        Inc(..) => "Inc",
        Dec(..) => "Dec",
        Inc16(..) => "Inc16",
        Dec16(..) => "Dec16",
        AddHl(..) => "AddHl",
        AdcHl(..) => "AdcHl",
        SbcHl(..) => "SbcHl",
        AddIdx(..) => "AddIdx",
        Daa => "Daa",
        Cpl => "Cpl",
        Neg => "Neg",
        Ccf => "Ccf",
        Scf => "Scf",
        Rlca => "Rlca",
        Rrca => "Rrca",
        Rla => "Rla",
        Rra => "Rra",
        Rld => "Rld",
        Rrd => "Rrd",
        Rot(..) => "Rot",
        Bit(..) => "Bit",
        Set(..) => "Set",
        Res(..) => "Res",
        Jp(..) => "Jp",
        JpCc(..) => "JpCc",
        JpInd(..) => "JpInd",
        Jr(..) => "Jr",
        JrCc(..) => "JrCc",
        Djnz(..) => "Djnz",
        Call(..) => "Call",
        CallCc(..) => "CallCc",
        Ret => "Ret",
        RetCc(..) => "RetCc",
        Reti => "Reti",
        Retn => "Retn",
        Rst(..) => "Rst",
        Ldi => "Ldi",
        Ldir => "Ldir",
        Ldd => "Ldd",
        Lddr => "Lddr",
        Cpi => "Cpi",
        Cpir => "Cpir",
        Cpd => "Cpd",
        Cpdr => "Cpdr",
        Nop => "Nop",
        Halt => "Halt",
        Di => "Di",
        Ei => "Ei",
        Im(..) => "Im",
        InA(..) => "InA",
        OutA(..) => "OutA",
        InC(..) => "InC",
        OutC(..) => "OutC",
    }
}

/// Every name `variant` returns.
pub const VARIANTS: &[&str] = &[
    "Ld", "St", "StImm", "LdAPtr", "LdPtrA", "LdAMem", "LdMemA", "LdAI", "LdAR", "LdIA", "LdRA",
    "Ld16", "Ld16Mem", "St16Mem", "LdSp", "Push", "Pop", "ExDeHl", "ExAf", "Exx", "ExSp", "Alu",
    "Inc", "Dec", "Inc16", "Dec16", "AddHl", "AdcHl", "SbcHl", "AddIdx", "Daa", "Cpl", "Neg",
    "Ccf", "Scf", "Rlca", "Rrca", "Rla", "Rra", "Rld", "Rrd", "Rot", "Bit", "Set", "Res", "Jp",
    "JpCc", "JpInd", "Jr", "JrCc", "Djnz", "Call", "CallCc", "Ret", "RetCc", "Reti", "Retn", "Rst",
    "Ldi", "Ldir", "Ldd", "Lddr", "Cpi", "Cpir", "Cpd", "Cpdr", "Nop", "Halt", "Di", "Ei", "Im",
    "InA", "OutA", "InC", "OutC",
];

/// Assembles `items` three ways and asserts the bytes agree and neither external
/// assembler warns; returns our result.
pub fn assemble_three_ways(items: &[Item]) -> Assembled {
    let ours = assemble(items, 0).unwrap_or_else(|e| panic!("our assembler: {e}"));
    let text = print(items);
    for asm in Z80Asm::ALL {
        let tool = asm.name();
        let ext = z80_assemble(asm, &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            ext.messages.trim().is_empty(),
            "{tool} printed messages:\n{}",
            ext.messages
        );
        if ext.bytes != ours.bytes {
            panic!("{}", first_difference(tool, items, &ours, &ext.bytes));
        }
    }
    ours
}

/// Names the item where `theirs` first differs from our bytes.
fn first_difference(tool: &str, items: &[Item], ours: &Assembled, theirs: &[u8]) -> String {
    let at = ours
        .bytes
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.bytes.len().min(theirs.len()));
    let addr = usize::from(ours.origin) + at;
    let item = ours
        .addresses
        .iter()
        .rposition(|&a| usize::from(a) <= addr)
        .unwrap_or(0);
    // The item that emitted the byte: the last with its address that has size.
    let mut i = item;
    while i > 0 && usize::from(ours.addresses[i]) == addr && !emits(&items[i]) {
        i -= 1;
    }
    let lo = at.saturating_sub(4);
    format!(
        "{tool} differs at offset {at} (address {addr:#06x}, line {} `{}`): \
         ours {:02x?} theirs {:02x?} (lengths {} vs {})",
        i + 1,
        items[i],
        &ours.bytes[lo..(at + 4).min(ours.bytes.len())],
        &theirs[lo.min(theirs.len())..(at + 4).min(theirs.len())],
        ours.bytes.len(),
        theirs.len()
    )
}

fn emits(item: &Item) -> bool {
    matches!(
        item,
        Item::Inst(_) | Item::Db(_) | Item::Dw(_) | Item::Ds(..)
    )
}
