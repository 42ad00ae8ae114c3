//! The one table of Z80 mnemonics: the printer writes them, the parser reads
//! them, and the assembler reserves every one as a name (z80asm and pasmo would
//! read a label `ld` as the instruction). Mnemonics the ISA leaves out (`ini`,
//! `otir`, the undocumented `sll`/`sli`, ...) are here for the last reason.

/// Defines one constant per mnemonic and [`ALL`], so each spelling is written once.
macro_rules! mnemonics {
    ($($name:ident = $text:literal,)*) => {
        $(
            #[doc = concat!("`", $text, "`.")]
            pub const $name: &str = $text;
        )*
        /// Every mnemonic, lower case.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

mnemonics! {
    ADC = "adc",
    ADD = "add",
    AND = "and",
    BIT = "bit",
    CALL = "call",
    CCF = "ccf",
    CP = "cp",
    CPD = "cpd",
    CPDR = "cpdr",
    CPI = "cpi",
    CPIR = "cpir",
    CPL = "cpl",
    DAA = "daa",
    DEC = "dec",
    DI = "di",
    DJNZ = "djnz",
    EI = "ei",
    EX = "ex",
    EXX = "exx",
    HALT = "halt",
    IM = "im",
    IN = "in",
    INC = "inc",
    IND = "ind",
    INDR = "indr",
    INI = "ini",
    INIR = "inir",
    JP = "jp",
    JR = "jr",
    LD = "ld",
    LDD = "ldd",
    LDDR = "lddr",
    LDI = "ldi",
    LDIR = "ldir",
    NEG = "neg",
    NOP = "nop",
    OR = "or",
    OTDR = "otdr",
    OTIR = "otir",
    OUT = "out",
    OUTD = "outd",
    OUTI = "outi",
    POP = "pop",
    PUSH = "push",
    RES = "res",
    RET = "ret",
    RETI = "reti",
    RETN = "retn",
    RL = "rl",
    RLA = "rla",
    RLC = "rlc",
    RLCA = "rlca",
    RLD = "rld",
    RR = "rr",
    RRA = "rra",
    RRC = "rrc",
    RRCA = "rrca",
    RRD = "rrd",
    RST = "rst",
    SBC = "sbc",
    SCF = "scf",
    SET = "set",
    SLA = "sla",
    SLL = "sll",
    SLI = "sli",
    SRA = "sra",
    SRL = "srl",
    SUB = "sub",
    XOR = "xor",
}
