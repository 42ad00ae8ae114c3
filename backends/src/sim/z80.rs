//! A 64 KB CP/M 2.2 machine for running `.COM` programs: iz80 executes the Z80
//! code, this module plays the BDOS and BIOS console, feeds scripted input,
//! collects the output and counts T-states.
//!
//! # The machine as a program sees it
//!
//! | address | holds |
//! |---|---|
//! | `0x0000` | `jp 0xF203` (BIOS warm boot); bytes 1–2 give programs the BIOS base |
//! | `0x0003`, `0x0004` | IOBYTE and current drive/user, both 0 |
//! | `0x0005` | `jp 0xE406` (BDOS entry); bytes 6–7 give programs the top of the TPA |
//! | `0x005C`, `0x006C` | default FCBs, drive 0 and blank names (the CCP's file-name parsing is not done) |
//! | `0x0080` | command tail: length byte, the tail, a 0 byte if there is room |
//! | `0x0100` | the program (it must end below the initial stack) |
//! | `0xDBFE` | the initial stack: SP = `0xDBFE` holding `0x0000`, so `ret` warm-boots |
//! | `0xF200` | BIOS jump table: BOOT and WBOOT end the run, CONST/CONIN/CONOUT work, the rest `ret` |
//!
//! Interrupts start enabled (IFF1 = 1), as an interrupt-driven CP/M BIOS leaves
//! them, so [`CpmReport::console_calls_with_interrupts_disabled`] only counts
//! calls made after the program's own `di`. No interrupt ever arrives.
//!
//! # Console, as CP/M 2.2's BDOS does it
//!
//! - Function 1 reads a key and echoes it if it is printable, CR, LF, TAB or BS.
//! - Functions 2 and 9 expand TAB to the next multiple of 8 columns; the column
//!   follows BDOS 2.2's rule (LF, not CR, resets it). Function 6 output is raw.
//! - Function 10 echoes each typed character (control characters as `^X`),
//!   ends the line on CR or LF — which it does not store — and then echoes a
//!   lone CR, exactly like BDOS 2.2: the output of typing `hi` is `hi\r`, and a
//!   program that wants a new line prints its own LF or CR LF. A full buffer
//!   ends the line without waiting for CR (the CR then stays in the input and
//!   reads as an empty line next time); `^C` as the first character warm-boots.
//!   Line-editing keys (`^H`, DEL, `^U`, `^X`, `^R`, `^E`, `^P`) are stored like
//!   ordinary characters, and `^S` is not a pause: unlike CP/M.
//! - Function 11 returns 1 when a key is waiting (BDOS 2.2 returns 1, not 0xFF).
//! - Functions 0 (reset), 7/8 (IOBYTE) and 12 (version 0x0022) are answered; any
//!   other returns 0 and is listed in [`CpmReport::unknown_bdos_functions`].
//! - Results come back as BDOS 2.2 gives them: A = L = low byte, B = H = high
//!   byte. C, D, E and the index registers are preserved, which a real BDOS does
//!   not promise for C, D and E, so a program leaning on that passes here.
//!
//! Console input is host text: every line end in it (LF, CR LF or CR) reaches
//! the program as one CR, the code a terminal's Return key sends. A program that
//! asks for a key (functions 1, 10, 6 with E = 0xFF, BIOS CONIN) once the input
//! is used up ends the run with [`Exit::InputExhausted`], even in the middle of
//! a line; status queries (function 11, BIOS CONST) just answer "no key".
//!
//! # Cycles
//!
//! T-states are iz80's counts with its known timing slips corrected to the
//! Zilog manual: `jp cc,nn` is 10 whether taken or not, `jr cc` not taken is 7,
//! DD/FD-prefixed instructions cost their 4-T-state prefix (19 for
//! `op (ix+d)`, 23 for `inc`/`dec (ix+d)`), and undefined ED opcodes cost 8.
//! The BDOS and BIOS traps take no time: a call costs only the program's `call`
//! (17) and the `jp` at `0x0005` (10).

use iz80::{Cpu, Machine, Reg16, Reg8};

/// Where CP/M loads and starts a `.COM` program.
pub const TPA_START: u16 = 0x0100;
/// Start of the CCP: a program, its data and its stack must stay below it.
pub const CCP_BASE: u16 = 0xDC00;
/// The BDOS entry point, which address 0x0005 jumps to (top of the TPA).
pub const BDOS_ENTRY: u16 = 0xE406;
/// The BIOS jump table; its WBOOT entry (`BIOS_BASE + 3`) is where `jp 0` leads.
pub const BIOS_BASE: u16 = 0xF200;

/// Where SP starts, holding 0x0000 so that a final `ret` warm-boots.
pub const INITIAL_SP: u16 = CCP_BASE - 2;
/// The largest program: it must end below the initial stack, 2 bytes under the CCP.
pub const MAX_PROGRAM: usize = (INITIAL_SP - TPA_START) as usize;
/// The longest command tail: CP/M's buffer at 0x0080 holds its length and 127 bytes.
pub const MAX_TAIL: usize = 127;

const BIOS_BOOT: u16 = BIOS_BASE;
const BIOS_WBOOT: u16 = BIOS_BASE + 3;
const BIOS_CONST: u16 = BIOS_BASE + 6;
const BIOS_CONIN: u16 = BIOS_BASE + 9;
const BIOS_CONOUT: u16 = BIOS_BASE + 12;
/// CP/M 2.2's BIOS has 17 three-byte entries.
const BIOS_ENTRIES: u16 = 17;
/// The harness's own `ei`, run once before the program to set IFF1.
const EI_STUB: u16 = BIOS_BASE + 0x80;
const NOWHERE: u32 = 0x1_0000;

const CR: u8 = 0x0D;
const LF: u8 = 0x0A;
const TAB: u8 = 0x09;
const BS: u8 = 0x08;
const CTRL_C: u8 = 0x03;
const RUBOUT: u8 = 0x7F;

/// What to run and what to feed it.
#[derive(Debug, Clone, Copy)]
pub struct CpmRun<'a> {
    /// The `.COM` image, loaded at 0x0100.
    pub program: &'a [u8],
    /// What the user typed after the command name (`hello` for `CHAT hello`);
    /// CP/M's CCP form is built from it: a leading space added if missing,
    /// a–z upper-cased, so the program sees ` HELLO`.
    pub command_tail: &'a [u8],
    /// Keys typed at the console, as host text (line ends become CR).
    pub console_input: &'a [u8],
    /// The routine whose calls are timed into [`CpmReport::step_tstates`]: a
    /// step starts when PC reaches it and ends when PC is back at the return
    /// address then on the stack with SP 2 above its entry value. Nested
    /// calls, and arrivals at the entry during a step, belong to that step.
    pub step_entry: Option<u16>,
    /// The run stops with [`Exit::TimedOut`] once it has used more T-states.
    pub max_tstates: u64,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The program warm-booted: `jp 0`, `ret` from the start, BDOS function 0,
    /// BIOS BOOT/WBOOT, or `^C` at the start of a line.
    WarmBoot,
    /// The CPU executed `halt` (nothing will ever interrupt it).
    Halted,
    /// The run used more than `max_tstates`.
    TimedOut,
    /// The program asked for a key after the console input was used up.
    InputExhausted,
}

/// What happened during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpmReport {
    /// Every byte the program sent to the console, echoes included, untranslated.
    pub output: Vec<u8>,
    /// T-states of each completed call of `step_entry`, in order; a call still
    /// running when the run stops is left out.
    pub step_tstates: Vec<u64>,
    /// T-states from the program's start to its first call of `step_entry`.
    pub first_step_at: Option<u64>,
    /// T-states of the whole run (BDOS and BIOS calls count as zero).
    pub total_tstates: u64,
    /// Instructions executed, for speed measurements.
    pub instructions: u64,
    /// Highest address written by the program or by the BDOS on its behalf
    /// (function 10's buffer); 0 if nothing was written. Stack pushes count.
    pub highest_write: u16,
    /// Lowest SP after any instruction (the initial SP if it never went lower).
    pub lowest_sp: u16,
    /// Console BDOS calls (1, 2, 6, 9, 10, 11) and BIOS console calls made
    /// while IFF1 was off: a program that `di`s for speed must `ei` before
    /// talking to a real, interrupt-driven console.
    pub console_calls_with_interrupts_disabled: usize,
    /// BDOS function numbers the harness does not implement, each listed once
    /// in the order first called; they returned 0.
    pub unknown_bdos_functions: Vec<u8>,
    /// Why the run stopped.
    pub exit: Exit,
}

/// A run that cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The program would overlap its initial stack, just under the CCP.
    #[error(
        "the program is {len} bytes but a CP/M program loaded at 0x0100 must end below its \
         initial stack at 0xDBFE, under the CCP (at most 56062 bytes)"
    )]
    ProgramTooLarge {
        /// The program's size in bytes.
        len: usize,
    },
    /// The command tail does not fit CP/M's buffer at 0x0080.
    #[error(
        "the command tail is {len} bytes in CP/M form but its buffer at 0x0080 holds {MAX_TAIL}"
    )]
    TailTooLong {
        /// The tail's length with its leading space.
        len: usize,
    },
}

/// Runs a `.COM` program on the CP/M machine described in the module docs.
pub fn run_cpm(run: &CpmRun) -> Result<CpmReport, SimError> {
    run_profiled(run, None)
}

/// [`run_cpm`], also adding each instruction's T-states to `profile[pc]`
/// (for finding where a program spends its time).
pub fn run_profiled(run: &CpmRun, mut profile: Option<&mut [u64]>) -> Result<CpmReport, SimError> {
    if run.program.len() > MAX_PROGRAM {
        return Err(SimError::ProgramTooLarge {
            len: run.program.len(),
        });
    }
    let tail = cpm_tail(run.command_tail)?;
    let mut sim = Sim {
        mem: Memory::new(),
        con: Console::new(run.console_input),
        unknown_bdos: Vec::new(),
    };
    sim.mem.set_up(run.program, &tail);

    let mut cpu = Cpu::new_z80();
    // iz80 offers no setter for IFF1, so run an `ei` of our own.
    sim.mem.bytes[EI_STUB as usize] = 0xFB;
    cpu.registers().set_pc(EI_STUB);
    cpu.execute_instruction(&mut sim.mem);
    sim.mem.bytes[EI_STUB as usize] = 0;
    cpu.registers().set_pc(TPA_START);
    cpu.registers().set16(Reg16::SP, INITIAL_SP);

    let mut tstates: u64 = 0;
    let mut instructions: u64 = 0;
    let mut lowest_sp = INITIAL_SP;
    let mut console_di = 0;
    let mut steps = Vec::new();
    let step_entry = run.step_entry.map_or(NOWHERE, u32::from);
    // The sentinels make the hot loop's step checks one comparison each.
    let mut watch_entry = step_entry;
    let mut watch_return = NOWHERE;
    let mut step_sp_after = 0u16;
    let mut step_start = 0u64;
    let mut first_step_at = None;

    let exit = loop {
        let pc = cpu.immutable_registers().pc();
        if u32::from(pc) == watch_return
            && cpu.immutable_registers().get16(Reg16::SP) == step_sp_after
        {
            steps.push(tstates - step_start);
            watch_return = NOWHERE;
            watch_entry = step_entry;
        }
        if pc >= BDOS_ENTRY {
            if let Some(trap) = trap_at(pc) {
                let regs = cpu.immutable_registers();
                if trap.is_console(regs) && !regs.get_interrupt_mode().0 {
                    console_di += 1;
                }
                match sim.serve(trap, cpu.registers()) {
                    Ok(()) => {
                        // Return as the trapped routine's `ret` would, in no time.
                        let regs = cpu.registers();
                        let sp = regs.get16(Reg16::SP);
                        let back = sim.mem.word(sp);
                        regs.set16(Reg16::SP, sp.wrapping_add(2));
                        regs.set_pc(back);
                        continue;
                    }
                    Err(exit) => break exit,
                }
            }
        }
        if u32::from(pc) == watch_entry {
            let sp = cpu.immutable_registers().get16(Reg16::SP);
            watch_entry = NOWHERE;
            watch_return = u32::from(sim.mem.word(sp));
            step_sp_after = sp.wrapping_add(2);
            step_start = tstates;
            first_step_at.get_or_insert(tstates);
        }

        let op = sim.mem.bytes[pc as usize];
        let fix = if NEEDS_FIX[op as usize] {
            Some(after_prefixes(&sim.mem.bytes, pc))
        } else {
            None
        };
        let before = cpu.cycle_count();
        cpu.execute_instruction(&mut sim.mem);
        let mut spent = cpu.cycle_count().wrapping_sub(before);
        if let Some((prefixes, op)) = fix {
            spent = corrected_tstates(prefixes, op, spent);
        }
        tstates += spent;
        instructions += 1;
        if let Some(p) = profile.as_deref_mut() {
            p[pc as usize] += spent;
        }

        let sp = cpu.immutable_registers().get16(Reg16::SP);
        lowest_sp = lowest_sp.min(sp);
        if tstates > run.max_tstates {
            break Exit::TimedOut;
        }
        if cpu.is_halted() {
            break Exit::Halted;
        }
    };

    Ok(CpmReport {
        output: sim.con.output,
        step_tstates: steps,
        first_step_at,
        total_tstates: tstates,
        instructions,
        highest_write: sim.mem.highest_write,
        lowest_sp,
        console_calls_with_interrupts_disabled: console_di,
        unknown_bdos_functions: sim.unknown_bdos,
        exit,
    })
}

/// The tail as CP/M's CCP leaves it at 0x0081: leading space, upper case.
fn cpm_tail(typed: &[u8]) -> Result<Vec<u8>, SimError> {
    let mut tail = Vec::with_capacity(typed.len() + 1);
    if !typed.is_empty() && typed[0] != b' ' {
        tail.push(b' ');
    }
    tail.extend(typed.iter().map(u8::to_ascii_uppercase));
    if tail.len() > MAX_TAIL {
        return Err(SimError::TailTooLong { len: tail.len() });
    }
    Ok(tail)
}

/// The 64 KB of RAM, noting the highest address the program writes.
struct Memory {
    bytes: Box<[u8; 0x10000]>,
    highest_write: u16,
}

impl Memory {
    fn new() -> Memory {
        let bytes = vec![0u8; 0x10000].into_boxed_slice().try_into();
        Memory {
            bytes: bytes.expect("64 KB"),
            highest_write: 0,
        }
    }

    /// Page zero, the program, the stack and the BIOS table, written directly
    /// so none of it counts as the program's writes.
    fn set_up(&mut self, program: &[u8], tail: &[u8]) {
        let m = &mut self.bytes[..];
        m[0x0000] = 0xC3;
        m[0x0001..0x0003].copy_from_slice(&BIOS_WBOOT.to_le_bytes());
        m[0x0005] = 0xC3;
        m[0x0006..0x0008].copy_from_slice(&BDOS_ENTRY.to_le_bytes());
        for fcb in [0x5C, 0x6C] {
            m[fcb + 1..fcb + 12].fill(b' ');
        }
        m[0x0080] = tail.len() as u8;
        m[0x0081..0x0081 + tail.len()].copy_from_slice(tail);
        let start = TPA_START as usize;
        m[start..start + program.len()].copy_from_slice(program);
        m[INITIAL_SP as usize..CCP_BASE as usize].fill(0);
        // The BDOS is a trap; a `ret` there keeps a stray jump harmless.
        m[BDOS_ENTRY as usize] = 0xC9;
        for entry in 0..BIOS_ENTRIES {
            m[(BIOS_BASE + 3 * entry) as usize] = 0xC9;
        }
    }

    fn word(&self, at: u16) -> u16 {
        u16::from_le_bytes([
            self.bytes[at as usize],
            self.bytes[at.wrapping_add(1) as usize],
        ])
    }
}

impl Machine for Memory {
    #[inline]
    fn peek(&mut self, address: u16) -> u8 {
        self.bytes[address as usize]
    }

    #[inline]
    fn poke(&mut self, address: u16, value: u8) {
        self.highest_write = self.highest_write.max(address);
        self.bytes[address as usize] = value;
    }

    fn port_in(&mut self, _address: u16) -> u8 {
        0xFF
    }

    fn port_out(&mut self, _address: u16, _value: u8) {}
}

/// An entry point the harness serves instead of executing code.
#[derive(Clone, Copy)]
enum Trap {
    Bdos,
    Boot,
    ConStatus,
    ConIn,
    ConOut,
}

impl Trap {
    fn is_console(self, regs: &iz80::Registers) -> bool {
        match self {
            Trap::Bdos => matches!(regs.get8(Reg8::C), 1 | 2 | 6 | 9 | 10 | 11),
            Trap::Boot => false,
            Trap::ConStatus | Trap::ConIn | Trap::ConOut => true,
        }
    }
}

fn trap_at(pc: u16) -> Option<Trap> {
    match pc {
        BDOS_ENTRY => Some(Trap::Bdos),
        BIOS_BOOT | BIOS_WBOOT => Some(Trap::Boot),
        BIOS_CONST => Some(Trap::ConStatus),
        BIOS_CONIN => Some(Trap::ConIn),
        BIOS_CONOUT => Some(Trap::ConOut),
        _ => None,
    }
}

struct Sim<'a> {
    mem: Memory,
    con: Console<'a>,
    unknown_bdos: Vec<u8>,
}

impl Sim<'_> {
    /// Does what the trapped routine does; `Err` ends the run.
    fn serve(&mut self, trap: Trap, regs: &mut iz80::Registers) -> Result<(), Exit> {
        match trap {
            Trap::Bdos => {
                let func = regs.get8(Reg8::C);
                let result = self.bdos(func, regs.get16(Reg16::DE))?;
                regs.set16(Reg16::HL, result);
                regs.set_a(result as u8);
                regs.set8(Reg8::B, (result >> 8) as u8);
            }
            Trap::Boot => return Err(Exit::WarmBoot),
            Trap::ConStatus => regs.set_a(if self.con.key_ready() { 0xFF } else { 0 }),
            Trap::ConIn => regs.set_a(self.con.read_key().ok_or(Exit::InputExhausted)?),
            Trap::ConOut => self.con.raw_out(regs.get8(Reg8::C)),
        }
        Ok(())
    }

    /// BDOS function `func` with DE = `de`; returns the BDOS's HL.
    fn bdos(&mut self, func: u8, de: u16) -> Result<u16, Exit> {
        let e = de as u8;
        match func {
            0 => return Err(Exit::WarmBoot),
            1 => {
                let key = self.con.read_key().ok_or(Exit::InputExhausted)?;
                if echoes(key) {
                    self.con.tabout(key);
                }
                return Ok(u16::from(key));
            }
            2 => self.con.tabout(e),
            6 if e == 0xFF => {
                return self
                    .con
                    .read_key()
                    .map(u16::from)
                    .ok_or(Exit::InputExhausted);
            }
            6 => self.con.raw_out(e),
            7 => return Ok(u16::from(self.mem.bytes[0x0003])),
            8 => self.mem.poke(0x0003, e),
            9 => {
                let mut at = de;
                // A string without `$` would hang a real BDOS; stop after 64 KB.
                for _ in 0..0x10000 {
                    let c = self.mem.bytes[at as usize];
                    if c == b'$' {
                        break;
                    }
                    self.con.tabout(c);
                    at = at.wrapping_add(1);
                }
            }
            10 => self.read_line(de)?,
            11 => return Ok(u16::from(self.con.key_ready())),
            12 => return Ok(0x0022),
            _ => {
                if !self.unknown_bdos.contains(&func) {
                    self.unknown_bdos.push(func);
                }
            }
        }
        Ok(0)
    }

    /// BDOS function 10 into the buffer at `info`, as BDOS 2.2's `read`.
    fn read_line(&mut self, info: u16) -> Result<(), Exit> {
        let max = self.mem.bytes[info as usize];
        let mut len: u8 = 0;
        loop {
            let key = self.con.read_key().ok_or(Exit::InputExhausted)? & 0x7F;
            if key == CR || key == LF {
                break;
            }
            len = len.wrapping_add(1);
            self.mem
                .poke(info.wrapping_add(1).wrapping_add(u16::from(len)), key);
            self.con.ctlout(key);
            if key == CTRL_C && len == 1 {
                return Err(Exit::WarmBoot);
            }
            if len >= max {
                break;
            }
        }
        self.mem.poke(info.wrapping_add(1), len);
        self.con.conout(CR);
        Ok(())
    }
}

/// BDOS 2.2's `echoc`: which keys function 1 echoes, and which function 10
/// echoes without a `^`.
fn echoes(c: u8) -> bool {
    matches!(c, CR | LF | TAB | BS) || c >= b' '
}

/// The keyboard queue and the screen, with BDOS 2.2's column count.
struct Console<'a> {
    input: &'a [u8],
    pos: usize,
    output: Vec<u8>,
    column: u8,
}

impl<'a> Console<'a> {
    fn new(input: &'a [u8]) -> Console<'a> {
        Console {
            input,
            pos: 0,
            output: Vec::new(),
            column: 0,
        }
    }

    fn key_ready(&self) -> bool {
        self.pos < self.input.len()
    }

    /// The next key, with a host line end (LF, CR LF, CR) read as one CR.
    fn read_key(&mut self) -> Option<u8> {
        let key = *self.input.get(self.pos)?;
        self.pos += 1;
        match key {
            CR => {
                if self.input.get(self.pos) == Some(&LF) {
                    self.pos += 1;
                }
                Some(CR)
            }
            LF => Some(CR),
            _ => Some(key),
        }
    }

    fn raw_out(&mut self, c: u8) {
        self.output.push(c);
    }

    /// BDOS 2.2's `conout`.
    fn conout(&mut self, c: u8) {
        self.output.push(c);
        if c == RUBOUT || c >= b' ' {
            self.column = self.column.wrapping_add(u8::from(c != RUBOUT));
        } else if self.column != 0 {
            match c {
                BS => self.column -= 1,
                LF => self.column = 0,
                _ => {}
            }
        }
    }

    /// BDOS 2.2's `tabout`: TAB becomes spaces up to a multiple of 8 columns.
    fn tabout(&mut self, c: u8) {
        if c != TAB {
            return self.conout(c);
        }
        loop {
            self.conout(b' ');
            if self.column & 7 == 0 {
                break;
            }
        }
    }

    /// BDOS 2.2's `ctlout`: other control characters as `^` and a letter.
    fn ctlout(&mut self, c: u8) {
        if echoes(c) {
            self.tabout(c);
        } else {
            self.conout(b'^');
            self.tabout(c | 0x40);
        }
    }
}

/// First bytes whose iz80 timing needs correcting: `jp cc`, `jr cc`, ED, DD, FD.
pub(crate) const NEEDS_FIX: [bool; 256] = {
    let mut t = [false; 256];
    let ops = [
        0xC2, 0xCA, 0xD2, 0xDA, 0xE2, 0xEA, 0xF2, 0xFA, 0x20, 0x28, 0x30, 0x38, 0xED, 0xDD, 0xFD,
    ];
    let mut i = 0;
    while i < ops.len() {
        t[ops[i]] = true;
        i += 1;
    }
    t
};

/// Opcodes that take an `(ix+d)` operand after a DD/FD prefix.
const INDEXED: [bool; 256] = {
    let mut t = [false; 256];
    let ops = [
        0x34, 0x35, 0x36, 0x46, 0x4E, 0x56, 0x5E, 0x66, 0x6E, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75,
        0x77, 0x7E, 0x86, 0x8E, 0x96, 0x9E, 0xA6, 0xAE, 0xB6, 0xBE,
    ];
    let mut i = 0;
    while i < ops.len() {
        t[ops[i]] = true;
        i += 1;
    }
    t
};

/// The number of DD/FD prefixes at `pc` and the opcode byte after them.
pub(crate) fn after_prefixes(bytes: &[u8; 0x10000], pc: u16) -> (u64, u8) {
    let mut at = pc;
    let mut prefixes = 0;
    while matches!(bytes[at as usize], 0xDD | 0xFD) && prefixes < 0x10000 {
        prefixes += 1;
        at = at.wrapping_add(1);
    }
    (prefixes, bytes[at as usize])
}

/// The Zilog manual's T-states where iz80's tables differ: iz80 charges
/// DD/FD-prefixed instructions as unprefixed (except DD CB, which it gets
/// right), `jp cc` 12/7, `jr cc` not taken 8, and undefined ED opcodes 0.
pub(crate) fn corrected_tstates(prefixes: u64, op: u8, iz80: u64) -> u64 {
    let extra = 4 * prefixes;
    match op {
        0xCB if prefixes > 0 => iz80 + extra - 4,
        0x34 | 0x35 if prefixes > 0 => 23 + extra - 4,
        _ if prefixes > 0 && INDEXED[op as usize] => 19 + extra - 4,
        0xC2 | 0xCA | 0xD2 | 0xDA | 0xE2 | 0xEA | 0xF2 | 0xFA => 10 + extra,
        0x20 | 0x28 | 0x30 | 0x38 if iz80 == 8 => 7 + extra,
        0xED if iz80 == 0 => 8 + extra,
        _ => iz80 + extra,
    }
}
