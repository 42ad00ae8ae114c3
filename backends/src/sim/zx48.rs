//! A ZX Spectrum 48K as a machine-code program started by `RANDOMIZE USR`
//! sees it: iz80 runs the code, and the ROM is either served (its entry
//! points the zx48 front-end uses, answered here) or a real 48K ROM image
//! whose own code runs ([`Rom`]; OpenSE BASIC is free to use).
//!
//! # The machine
//!
//! - The code block is loaded at its address. A write below 0x4000 (the
//!   ROM) ends the run with [`ZxExit::RomWrite`].
//! - The program starts with IY = 0x5C3A, HL' = 0x2758 (BASIC's values),
//!   interrupts on, BC = its address and SP = `origin - 10` holding 0x2D2B,
//!   the ROM's return point after USR: reaching it with SP back at
//!   `origin - 8` is [`ZxExit::Basic`], and then IY and HL' must be BASIC's
//!   again and interrupts on (else [`ZxExit::BadReturn`]).
//! - Entering the ROM from the program with IY other than 0x5C3A is
//!   [`ZxExit::BadCall`]: the ROM's routines and its interrupt handler read
//!   the system variables through IY.
//!
//! ## Served ROM (no image)
//!
//! The rest of RAM is zero and no interrupt is ever delivered. Served
//! entries, each returning as its `ret` would, in no time: RST 10h (0x0010:
//! print A; the byte is recorded as is), the K channel's input routine (the
//! address at CHANS + 2, which the served machine sets to 0x10A8 as
//! Sinclair's ROM does: the next typed key in A with carry set; the run ends
//! with [`ZxExit::InputExhausted`] when there is none), CL_ALL (0x0DAF) and
//! CHAN_OPEN (0x1601, stream 2 or -2 only). They need interrupts on to read
//! a key (a real machine would wait for ever), else [`ZxExit::BadCall`].
//! They leave BC, DE and HL (and AF but the key input's A and carry)
//! scrambled, so a program that relies on the ROM keeping them fails here.
//! Reaching any other ROM address is [`ZxExit::RomJump`]. Typed keys are
//! host text: LF is ENTER (13), CR is dropped.
//!
//! ## A real ROM ([`Rom`])
//!
//! The ROM boots from reset once, until its editor first polls the K
//! channel; every run starts from a copy of that machine, with what the
//! tape's loader does next done by hand: `CLEAR origin - 1` (RAMTOP, the
//! GO SUB stack's end marker, ERR_SP pointing at a return address of ours
//! under it) and the USR call's registers. From then on only the ROM's code
//! runs: a 50 Hz interrupt (every 69,888 T-states, held for 32) enters its
//! IM 1 handler, which scans the keyboard through port 0xFE, where
//! [`keys::Typist`] presses the typed keys one at a time; the program reads
//! them through the ROM. What the program gives RST 10h is recorded, and
//! the screen can be read back ([`ZxReport::screen`]). An error the ROM
//! reports (RST 8) ends the run with [`ZxExit::RomError`]. Only keys both
//! ROMs type alike can be typed ([`keys::key_for`]).
//!
//! T-states are corrected as in [`super::z80`] (same tables); they are the
//! uncontended counts of a 3.5 MHz Z80: code and data from 0x8000 up run at
//! that speed on a real 48K, but what lies in 0x4000–0x7FFF (the stack, and
//! code loaded below 0x8000) is in contended RAM; the report counts those
//! accesses for an estimate (see [`CONTENTION_PER_ACCESS`], docs/z80.md).

pub mod keys;
mod rom;

pub use rom::{Rom, RomError, OPENSE_ROM};

use iz80::{Cpu, Machine, Reg16};

use super::z80::{after_prefixes, corrected_tstates, NEEDS_FIX};
use keys::Typist;

/// IY as the ROM keeps it: the address of ERR_NR.
pub const SYSVARS: u16 = 0x5C3A;
/// HL' as BASIC leaves it for USR (the calculator's address), checked at return.
pub const BASIC_HL2: u16 = 0x2758;
/// The ROM's return point after a USR call (STACK_BC).
pub const USR_RETURN: u16 = 0x2D2B;
/// Where the ROM's error handler returns to (ERR_SP's word; MAIN-4 in
/// Sinclair's ROM): reaching it ends a run with [`ZxExit::RomError`].
pub const ERROR_RETURN: u16 = 0x1303;
/// SP when a program at `origin` starts (below it, as the loader's CLEAR
/// leaves it): it holds [`USR_RETURN`].
pub fn initial_sp(origin: u16) -> u16 {
    origin - 10
}
/// The T-states a real 48K loses per access to 0x4000–0x7FFF, on average:
/// the ULA holds such an access during 128 of the 224 T-states of each of
/// the 192 screen lines (35% of a 69,888 T-state frame), by 6, 5, 4, 3, 2,
/// 1, 0, 0 T-states (2.6 on average) by where in its 8-T-state cycle it falls.
pub const CONTENTION_PER_ACCESS: f64 = 192.0 * 128.0 / 69888.0 * 2.625;
/// T-states from one interrupt to the next (a 50 Hz frame).
pub const FRAME: u64 = 69_888;
/// T-states the interrupt line is held at the start of a frame.
const INT_LENGTH: u64 = 32;

/// RST 10h: print the character in A on the current channel.
pub const PRINT_A: u16 = 0x0010;
/// Sinclair's KEY_INPUT: carry set and A = the key if one was pressed. The
/// served machine's channel table points the K channel's input here.
pub const KEY_INPUT: u16 = 0x10A8;
/// CL_ALL: clear the whole screen and open channel S.
pub const CL_ALL: u16 = 0x0DAF;
/// CHAN_OPEN: open the stream in A.
pub const CHAN_OPEN: u16 = 0x1601;
/// The first RAM address.
pub const RAM_START: u16 = 0x4000;
/// The system variables the simulator reads or sets.
pub mod sysvar {
    /// FLAGS: bit 5 is set when a new key is waiting.
    pub const FLAGS: u16 = 0x5C3B;
    /// ERR_NR: the error code less one, set by RST 8.
    pub const ERR_NR: u16 = 0x5C3A;
    /// ERR_SP: where the error handler takes SP from.
    pub const ERR_SP: u16 = 0x5C3D;
    /// CHANS: the channel table; K's entry first (output, input, `K`).
    pub const CHANS: u16 = 0x5C4F;
    /// CHARS: 256 bytes below the font.
    pub const CHARS: u16 = 0x5C36;
    /// RAMTOP: the last byte BASIC may use.
    pub const RAMTOP: u16 = 0x5CB2;
}

const SCRAMBLE: u16 = 0xA5A5;
/// Where the simulator runs instructions of its own (the printer buffer),
/// putting the bytes back after.
const STUB: u16 = 0x5B00;
/// Where the served machine's channel table lies (as after Sinclair's boot).
const SERVED_CHANS: u16 = 0x5CB6;

/// What to run and what to feed it.
#[derive(Debug, Clone, Copy)]
pub struct ZxRun<'a> {
    /// The code block's bytes.
    pub code: &'a [u8],
    /// Where they load, and where USR starts them.
    pub origin: u16,
    /// Keys typed, as host text (line ends become ENTER).
    pub keys: &'a [u8],
    /// The routine whose calls are timed, as in [`super::z80::CpmRun::step_entry`].
    pub step_entry: Option<u16>,
    /// The run stops with [`ZxExit::TimedOut`] once it has used more T-states.
    pub max_tstates: u64,
    /// A booted ROM to run, or `None` to serve the entry points.
    pub rom: Option<&'a Rom>,
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZxExit {
    /// The program returned to BASIC as it should.
    Basic,
    /// The program asked for a key after the typed keys were used up.
    InputExhausted,
    /// The run used more than `max_tstates`.
    TimedOut,
    /// The CPU executed `halt` with nothing to wake it.
    Halted,
    /// A write to the ROM, at this address.
    RomWrite(u16),
    /// A jump into the ROM somewhere not served, at this address.
    RomJump(u16),
    /// A ROM entry called in a state the ROM cannot work in.
    BadCall(String),
    /// Back to BASIC with registers BASIC cannot go on with.
    BadReturn(String),
    /// The ROM reported this error (ERR_NR + 1, the number BASIC shows).
    RomError(u8),
    /// A key to type that the typist cannot type on every ROM alike.
    Untypeable(u8),
}

/// What happened during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZxReport {
    /// Every byte the program gave RST 10h, in order.
    pub output: Vec<u8>,
    /// How many times the program cleared the screen (CL_ALL).
    pub clears: usize,
    /// T-states of each completed call of `step_entry`.
    pub step_tstates: Vec<u64>,
    /// T-states of the whole run (served ROM calls count as zero).
    pub total_tstates: u64,
    /// Highest address written; lowest SP seen.
    pub highest_write: u16,
    /// Lowest SP after any instruction.
    pub lowest_sp: u16,
    /// Memory accesses (fetches, reads, writes) to 0x4000–0x7FFF, the RAM
    /// the screen contends for on a real machine (see [`CONTENTION_PER_ACCESS`]).
    pub contended_accesses: u64,
    /// With a real ROM, the screen at the end: 24 lines of 32 characters,
    /// each cell read back against the ROM's font (`?` for one that matches
    /// no character 32–127).
    pub screen: Option<Vec<String>>,
    /// FLAGS (0x5C3B) at the end, as BASIC finds it after a return.
    pub flags: u8,
    /// Why the run stopped.
    pub exit: ZxExit,
}

/// A program that cannot be loaded where it says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a code block of {len} bytes at 0x{origin:04x} does not fit between 0x4000 and 0xFFFF")]
pub struct LoadError {
    /// The block's length.
    pub len: usize,
    /// Its address.
    pub origin: u16,
}

struct Ram {
    bytes: Box<[u8; 0x10000]>,
    highest_write: u16,
    rom_write: Option<u16>,
    contended: u64,
    typist: Typist,
}

impl Ram {
    fn new(bytes: Box<[u8; 0x10000]>) -> Ram {
        Ram {
            bytes,
            highest_write: 0,
            rom_write: None,
            contended: 0,
            typist: Typist::new(Vec::new()),
        }
    }

    fn word(&self, at: u16) -> u16 {
        word(&self.bytes, at)
    }

    fn set_word(&mut self, at: u16, value: u16) {
        let [lo, hi] = value.to_le_bytes();
        self.bytes[at as usize] = lo;
        self.bytes[at.wrapping_add(1) as usize] = hi;
    }

    /// The K channel's input routine, where the channel table says, once
    /// the table is there (a `K` at its first entry's end).
    fn k_input(&self) -> Option<u16> {
        let chans = self.word(sysvar::CHANS);
        (chans >= RAM_START && self.bytes[chans.wrapping_add(4) as usize] == b'K')
            .then(|| self.word(chans.wrapping_add(2)))
    }
}

impl Machine for Ram {
    #[inline]
    fn peek(&mut self, address: u16) -> u8 {
        self.contended += u64::from(address & 0xC000 == 0x4000);
        self.bytes[address as usize]
    }

    #[inline]
    fn poke(&mut self, address: u16, value: u8) {
        if address < RAM_START {
            self.rom_write.get_or_insert(address);
            return;
        }
        self.contended += u64::from(address & 0xC000 == 0x4000);
        self.highest_write = self.highest_write.max(address);
        self.bytes[address as usize] = value;
    }

    fn port_in(&mut self, address: u16) -> u8 {
        self.typist.port(address)
    }

    fn port_out(&mut self, _address: u16, _value: u8) {}
}

/// The CPU, the memory and the frame clock.
struct Spectrum {
    cpu: Cpu,
    ram: Ram,
    tstates: u64,
    /// Whether frame interrupts are delivered (a real ROM's machine).
    frames: bool,
    next_frame: u64,
    interrupts: u64,
    after_ei: bool,
}

/// What one [`Spectrum::step`] did.
struct Stepped {
    /// The frame interrupt was taken before the instruction.
    interrupted: bool,
}

impl Spectrum {
    fn new(ram: Ram, frames: bool) -> Spectrum {
        Spectrum {
            cpu: Cpu::new_z80(),
            ram,
            tstates: 0,
            frames,
            next_frame: FRAME,
            interrupts: 0,
            after_ei: false,
        }
    }

    fn pc(&self) -> u16 {
        self.cpu.immutable_registers().pc()
    }

    fn sp(&self) -> u16 {
        self.cpu.immutable_registers().get16(Reg16::SP)
    }

    fn interrupts_on(&self) -> bool {
        self.cpu.immutable_registers().get_interrupt_mode().0
    }

    /// Run `ops`, one-instruction each, from [`STUB`] (iz80 has no setter
    /// for IFF1, IM or the alternate set), then put the bytes there back
    /// and PC where it was; their T-states are not counted.
    fn stub(&mut self, ops: &[&[u8]]) {
        let pc = self.pc();
        for op in ops {
            let at = STUB as usize;
            let saved: Vec<u8> = self.ram.bytes[at..at + op.len()].to_vec();
            self.ram.bytes[at..at + op.len()].copy_from_slice(op);
            self.cpu.registers().set_pc(STUB);
            self.cpu.execute_instruction(&mut self.ram);
            self.ram.bytes[at..at + op.len()].copy_from_slice(&saved);
        }
        self.cpu.registers().set_pc(pc);
        self.after_ei = false;
    }

    /// Run one instruction, taking the frame's interrupt first when it is
    /// due and enabled; a halted CPU waits for the next frame.
    fn step(&mut self) -> Stepped {
        let mut interrupted = false;
        if self.frames {
            while self.tstates >= self.next_frame + INT_LENGTH {
                self.next_frame += FRAME;
            }
            if self.tstates >= self.next_frame && self.interrupts_on() && !self.after_ei {
                interrupted = true;
                self.next_frame += FRAME;
                self.interrupts += 1;
                self.ram.typist.interrupt(self.interrupts);
                self.cpu.signal_interrupt(true);
            }
        }
        let pc = if interrupted { 0x0038 } else { self.pc() };
        let op = self.ram.bytes[pc as usize];
        let fix = NEEDS_FIX[op as usize].then(|| after_prefixes(&self.ram.bytes, pc));
        let before = self.cpu.cycle_count();
        self.cpu.execute_instruction(&mut self.ram);
        let mut spent = self.cpu.cycle_count().wrapping_sub(before);
        if let Some((prefixes, op)) = fix {
            spent = corrected_tstates(prefixes, op, spent);
        }
        if interrupted {
            self.cpu.signal_interrupt(false);
        }
        self.after_ei = op == 0xFB && !interrupted;
        self.tstates += spent;
        if self.frames && self.cpu.is_halted() && self.interrupts_on() {
            // HALT runs NOPs until the next interrupt.
            self.tstates = self.tstates.max(self.next_frame);
        }
        Stepped { interrupted }
    }
}

/// Run the code block as `RANDOMIZE USR origin` would, on the machine above.
pub fn run_zx48(run: &ZxRun) -> Result<ZxReport, LoadError> {
    let start = run.origin as usize;
    if run.origin < RAM_START + 0x100 || start + run.code.len() > 0x10000 {
        return Err(LoadError {
            len: run.code.len(),
            origin: run.origin,
        });
    }
    let sp0 = initial_sp(run.origin);
    let err_sp = run.origin - 4;
    let mut ram = match run.rom {
        Some(rom) => Ram::new(rom.booted_ram()),
        None => {
            let bytes = vec![0u8; 0x10000].into_boxed_slice().try_into();
            let mut ram = Ram::new(bytes.expect("64 KB"));
            // The channel table's K entry, as the served key input's address.
            ram.set_word(sysvar::CHANS, SERVED_CHANS);
            ram.set_word(SERVED_CHANS + 2, KEY_INPUT);
            ram.bytes[SERVED_CHANS as usize + 4] = b'K';
            ram
        }
    };
    ram.bytes[start..start + run.code.len()].copy_from_slice(run.code);
    // CLEAR origin - 1: RAMTOP, the GO SUB stack's end marker at it, and
    // the error return under it; then the interpreter's frames and USR's.
    ram.set_word(sysvar::RAMTOP, run.origin - 1);
    ram.bytes[start - 1] = 0x3E;
    ram.set_word(err_sp, ERROR_RETURN);
    ram.set_word(sysvar::ERR_SP, err_sp);
    ram.set_word(sp0, USR_RETURN);
    let typed = match run.rom {
        Some(_) => keys::keys_for(run.keys),
        None => Ok(Vec::new()),
    };
    let mut m = Spectrum::new(ram, run.rom.is_some());
    m.tstates = 0;
    m.stub(&[&[0xED, 0x56], &[0xFB]]); // im 1, ei
    m.cpu.registers().set16(Reg16::HL, BASIC_HL2);
    m.stub(&[&[0xD9]]); // exx
    {
        let r = m.cpu.registers();
        r.set16(Reg16::IY, SYSVARS);
        r.set16(Reg16::SP, sp0);
        r.set16(Reg16::BC, run.origin);
        r.set_pc(run.origin);
    }
    let mut served_keys =
        run.keys
            .iter()
            .filter(|&&k| k != b'\r')
            .map(|&k| if k == b'\n' { 13 } else { k });
    let mut output = Vec::new();
    let mut clears = 0;
    let mut lowest_sp = sp0;
    let mut steps = Vec::new();
    let mut step: Option<(u16, u16, u64)> = None;
    let mut from_ram = true;
    let exit = 'run: {
        match typed {
            Ok(k) => m.ram.typist = Typist::new(k),
            Err(b) => break 'run ZxExit::Untypeable(b),
        }
        loop {
            let pc = m.pc();
            let sp = m.sp();
            if let Some((back, sp_after, t0)) = step {
                if pc == back && sp == sp_after {
                    steps.push(m.tstates - t0);
                    step = None;
                }
            } else if Some(pc) == run.step_entry {
                step = Some((m.ram.word(sp), sp.wrapping_add(2), m.tstates));
            }
            if let Some(at) = m.ram.rom_write {
                break ZxExit::RomWrite(at);
            }
            if pc < RAM_START {
                if pc == USR_RETURN && sp == sp0 + 2 {
                    break basic_return(&mut m);
                }
                if pc == ERROR_RETURN && sp == err_sp + 2 {
                    break ZxExit::RomError(m.ram.bytes[sysvar::ERR_NR as usize].wrapping_add(1));
                }
                let regs = m.cpu.immutable_registers();
                if from_ram && regs.get16(Reg16::IY) != SYSVARS {
                    break ZxExit::BadCall(format!(
                        "ROM entry 0x{pc:04x} called with IY = 0x{:04x}",
                        regs.get16(Reg16::IY)
                    ));
                }
                if from_ram && pc == PRINT_A {
                    output.push(regs.a());
                }
                if from_ram && pc == CL_ALL {
                    clears += 1;
                }
                if Some(pc) == m.ram.k_input() {
                    if !m.interrupts_on() {
                        break ZxExit::BadCall("the K channel's input with interrupts off".into());
                    }
                    m.ram.typist.polled();
                    let waiting = m.ram.bytes[sysvar::FLAGS as usize] & 0x20 != 0;
                    if run.rom.is_some() && m.ram.typist.done() && !waiting {
                        break ZxExit::InputExhausted;
                    }
                }
                if run.rom.is_none() {
                    if let Err(exit) = serve(&mut m, pc, &mut served_keys) {
                        break exit;
                    }
                    from_ram = true;
                    continue;
                }
            }
            let s = m.step();
            from_ram = pc >= RAM_START && !s.interrupted;
            lowest_sp = lowest_sp.min(m.sp());
            if m.tstates > run.max_tstates {
                break ZxExit::TimedOut;
            }
            if m.cpu.is_halted() && !(m.frames && m.interrupts_on()) {
                break ZxExit::Halted;
            }
        }
    };
    let screen = run.rom.map(|_| rom::screen_text(&m.ram.bytes));
    Ok(ZxReport {
        output,
        clears,
        step_tstates: steps,
        total_tstates: m.tstates,
        highest_write: m.ram.highest_write,
        lowest_sp,
        contended_accesses: m.ram.contended,
        screen,
        flags: m.ram.bytes[sysvar::FLAGS as usize],
        exit,
    })
}

/// Serve the ROM entry at `pc` (without a ROM image) and return from it as
/// its `ret` would.
fn serve(m: &mut Spectrum, pc: u16, keys: &mut impl Iterator<Item = u8>) -> Result<(), ZxExit> {
    let regs = m.cpu.registers();
    let a = regs.a();
    match pc {
        PRINT_A | CL_ALL => {}
        CHAN_OPEN if a == 2 || a == 0xFE => {}
        CHAN_OPEN => return Err(ZxExit::BadCall(format!("CHAN_OPEN with stream {a}"))),
        KEY_INPUT => match keys.next() {
            Some(k) => {
                scramble(regs);
                regs.set_a(k);
                regs.set_flag(iz80::Flag::C);
                regs.clear_flag(iz80::Flag::Z);
            }
            None => return Err(ZxExit::InputExhausted),
        },
        _ => return Err(ZxExit::RomJump(pc)),
    }
    if pc != KEY_INPUT {
        scramble(regs);
        regs.set16(Reg16::AF, SCRAMBLE);
    }
    let sp = regs.get16(Reg16::SP);
    let back = m.ram.word(sp);
    let regs = m.cpu.registers();
    regs.set16(Reg16::SP, sp.wrapping_add(2));
    regs.set_pc(back);
    Ok(())
}

fn word(bytes: &[u8; 0x10000], at: u16) -> u16 {
    u16::from_le_bytes([bytes[at as usize], bytes[at.wrapping_add(1) as usize]])
}

fn scramble(regs: &mut iz80::Registers) {
    for r in [Reg16::BC, Reg16::DE, Reg16::HL] {
        regs.set16(r, SCRAMBLE);
    }
}

/// Whether BASIC can go on after the program's `ret`.
fn basic_return(m: &mut Spectrum) -> ZxExit {
    let iy = m.cpu.immutable_registers().get16(Reg16::IY);
    m.stub(&[&[0xD9]]);
    let hl2 = m.cpu.immutable_registers().get16(Reg16::HL);
    m.stub(&[&[0xD9]]);
    if iy != SYSVARS {
        ZxExit::BadReturn(format!("IY is 0x{iy:04x}, not 0x5C3A"))
    } else if hl2 != BASIC_HL2 {
        ZxExit::BadReturn(format!("HL' is 0x{hl2:04x}, not BASIC's 0x{BASIC_HL2:04x}"))
    } else if !m.interrupts_on() {
        ZxExit::BadReturn("interrupts are off".into())
    } else {
        ZxExit::Basic
    }
}
