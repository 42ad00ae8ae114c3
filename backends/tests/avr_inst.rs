//! The AVR instruction type: sizes, cycle counts on both cores, and the text
//! each instruction prints.

use zlmc_backends::avr::inst::{
    Cond, Core, Dest, Imm, Io, MInst, Op0, Op1, Op2, OpFlow, OpImm, OpWord, Ptr, Sym, R16, R18,
    R24, R28, R30,
};

fn flow(op: OpFlow, to: &str) -> MInst {
    MInst::Flow { op, to: to.into() }
}

#[test]
fn instructions_print_as_the_assembler_reads_them() {
    let cases = [
        (
            MInst::RI {
                op: OpImm::Ldi,
                rd: R30,
                k: Imm::Hh8(Sym::from("m_l0_w")),
            },
            "ldi r30, hh8(m_l0_w)",
        ),
        (
            MInst::RI {
                op: OpImm::Cpi,
                rd: R16,
                k: Imm::Hex(0x41),
            },
            "cpi r16, 0x41",
        ),
        (
            MInst::Word {
                op: OpWord::Sbiw,
                rd: R24,
                k: 1,
            },
            "sbiw r24, 1",
        ),
        (
            MInst::Out {
                io: Io::Rampz,
                rr: R30,
            },
            "out _SFR_IO_ADDR(RAMPZ), r30",
        ),
        (
            MInst::Lds {
                rd: R28,
                sym: Sym {
                    name: "m_qs".into(),
                    offset: 1,
                },
            },
            "lds r28, m_qs+1",
        ),
        (
            MInst::Lpm {
                far: true,
                rd: R16,
                inc: true,
            },
            "elpm r16, Z+",
        ),
        (MInst::Std { q: 1, rr: R18 }, "std Y+1, r18"),
        (
            MInst::St {
                ptr: Ptr::XInc,
                rr: R18,
            },
            "st X+, r18",
        ),
        (
            MInst::Br {
                cond: Cond::Eq,
                to: Dest::Next(1),
            },
            "breq 1f",
        ),
        (flow(OpFlow::Rcall, ".Lhit"), "rcall .Lhit"),
        (
            MInst::R {
                op: Op1::Clr,
                rd: R18,
            },
            "clr r18",
        ),
        (
            MInst::RR {
                op: Op2::Movw,
                rd: R28,
                rr: R24,
            },
            "movw r28, r24",
        ),
    ];
    for (inst, text) in cases {
        assert_eq!(inst.to_string(), text);
    }
}

#[test]
fn sizes_in_words() {
    assert_eq!(flow(OpFlow::Rjmp, "x").words(), 1);
    assert_eq!(flow(OpFlow::Call, "x").words(), 2);
    let sts = MInst::Sts {
        sym: Sym::from("v"),
        rr: R16,
    };
    assert_eq!(sts.bytes(), 4);
    assert_eq!(MInst::Op0(Op0::Ret).words(), 1);
}

#[test]
fn calls_and_returns_take_a_cycle_more_on_the_2560() {
    for (inst, small, big) in [
        (flow(OpFlow::Rcall, "x"), 3, 4),
        (flow(OpFlow::Call, "x"), 4, 5),
        (MInst::Op0(Op0::Ret), 4, 5),
        (flow(OpFlow::Rjmp, "x"), 2, 2),
        (flow(OpFlow::Jmp, "x"), 3, 3),
    ] {
        assert_eq!(inst.cycles(Core::Mega328).max, small, "{inst}");
        assert_eq!(inst.cycles(Core::Mega2560).max, big, "{inst}");
    }
    let br = MInst::Br {
        cond: Cond::Ne,
        to: ".L".into(),
    };
    let c = br.cycles(Core::Mega328);
    assert_eq!((c.min, c.max), (1, 2));
    let lpm = MInst::Lpm {
        far: false,
        rd: R16,
        inc: true,
    };
    assert_eq!(lpm.cycles(Core::Mega328).max, 3);
}

#[test]
fn conditions_invert() {
    for c in [Cond::Eq, Cond::Lo, Cond::Ge, Cond::Cs, Cond::Ts] {
        assert_ne!(c.invert(), c);
        assert_eq!(c.invert().invert(), c);
    }
    assert_eq!(Cond::Sh.invert().mnemonic(), Cond::Lo.mnemonic());
}
