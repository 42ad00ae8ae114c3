//! A ZX Spectrum 48K as a machine-code program started by `RANDOMIZE USR`
//! sees it, without a ROM image: iz80 runs the code, and the ROM entry
//! points the zx48 front-end uses are served here.
//!
//! # The machine
//!
//! - The code block is loaded at its address; the rest of RAM is zero. A
//!   write below 0x4000 (the ROM) ends the run with [`ZxExit::RomWrite`], and
//!   so does reaching a ROM address that is not one of the served entries
//!   ([`ZxExit::RomJump`]).
//! - The program starts with IY = 0x5C3A, HL' = 0x2758 (BASIC's values),
//!   interrupts on, and SP = 0x7FF6 holding 0x2D2B, the ROM's return point
//!   after USR: reaching it with SP back at 0x7FF8 is [`ZxExit::Basic`], and
//!   then IY and HL' must be BASIC's again (else [`ZxExit::BadReturn`]).
//! - Served entries, each returning as its `ret` would, in no time: RST 10h
//!   (0x0010: print A; the byte is recorded as is), KEY_INPUT (0x10A8: the
//!   next typed key in A with carry set; the run ends with
//!   [`ZxExit::InputExhausted`] when there is none), CL_ALL (0x0DAF) and
//!   CHAN_OPEN (0x1601, stream 2 or -2 only). They need IY = 0x5C3A, and
//!   KEY_INPUT interrupts on (a real machine would wait for ever), else
//!   [`ZxExit::BadCall`]. They leave BC, DE and HL (and AF but KEY_INPUT's
//!   A and carry) scrambled, so a program that relies on the ROM keeping
//!   them fails here. No interrupt is ever delivered.
//! - Typed keys are host text: LF is ENTER (13), CR is dropped.
//!
//! T-states are corrected as in [`super::z80`] (same tables); they are the
//! uncontended counts of a 3.5 MHz Z80: code and data from 0x8000 up run at
//! that speed on a real 48K, but what lies in 0x4000–0x7FFF (the stack, and
//! code loaded below 0x8000) is in contended RAM; the report counts those
//! accesses for an estimate (see [`CONTENTION_PER_ACCESS`], docs/z80.md).

use iz80::{Cpu, Machine, Reg16};

use super::z80::{after_prefixes, corrected_tstates, NEEDS_FIX};

/// IY as the ROM keeps it: the address of ERR_NR.
pub const SYSVARS: u16 = 0x5C3A;
/// HL' as BASIC leaves it for USR (the calculator's address), checked at return.
pub const BASIC_HL2: u16 = 0x2758;
/// The ROM's return point after a USR call (STACK_BC).
pub const USR_RETURN: u16 = 0x2D2B;
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

/// RST 10h: print the character in A on the current channel.
pub const PRINT_A: u16 = 0x0010;
/// KEY_INPUT: carry set and A = the key if one was pressed.
pub const KEY_INPUT: u16 = 0x10A8;
/// CL_ALL: clear the whole screen and open channel S.
pub const CL_ALL: u16 = 0x0DAF;
/// CHAN_OPEN: open the stream in A.
pub const CHAN_OPEN: u16 = 0x1601;
/// The first RAM address.
pub const RAM_START: u16 = 0x4000;

const SCRAMBLE: u16 = 0xA5A5;
const EI_STUB: u16 = 0x3F00;

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
    /// A served ROM entry called in a state the ROM cannot work in.
    BadCall(String),
    /// Back to BASIC with registers BASIC cannot go on with.
    BadReturn(String),
}

/// What happened during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZxReport {
    /// Every byte given to RST 10h, in order.
    pub output: Vec<u8>,
    /// How many times the screen was cleared (CL_ALL).
    pub clears: usize,
    /// T-states of each completed call of `step_entry`.
    pub step_tstates: Vec<u64>,
    /// T-states of the whole run (ROM calls count as zero).
    pub total_tstates: u64,
    /// Highest address written; lowest SP seen.
    pub highest_write: u16,
    /// Lowest SP after any instruction.
    pub lowest_sp: u16,
    /// Memory accesses (fetches, reads, writes) to 0x4000–0x7FFF, the RAM
    /// the screen contends for on a real machine (see [`CONTENTION_PER_ACCESS`]).
    pub contended_accesses: u64,
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

    fn port_in(&mut self, _address: u16) -> u8 {
        0xFF
    }

    fn port_out(&mut self, _address: u16, _value: u8) {}
}

/// Run the code block as `RANDOMIZE USR origin` would, on the machine above.
pub fn run_zx48(run: &ZxRun) -> Result<ZxReport, LoadError> {
    let start = run.origin as usize;
    let sp0 = initial_sp(run.origin.max(RAM_START + 0x100));
    if run.origin < RAM_START || start + run.code.len() > 0x10000 {
        return Err(LoadError {
            len: run.code.len(),
            origin: run.origin,
        });
    }
    let bytes = vec![0u8; 0x10000].into_boxed_slice().try_into();
    let mut ram = Ram {
        bytes: bytes.expect("64 KB"),
        highest_write: 0,
        rom_write: None,
        contended: 0,
    };
    ram.bytes[start..start + run.code.len()].copy_from_slice(run.code);
    ram.bytes[sp0 as usize..sp0 as usize + 2].copy_from_slice(&USR_RETURN.to_le_bytes());
    let mut cpu = Cpu::new_z80();
    // iz80 offers no setter for IFF1, so run an `ei` of our own (in the ROM,
    // which the program cannot have written).
    ram.bytes[EI_STUB as usize] = 0xFB;
    cpu.registers().set_pc(EI_STUB);
    cpu.execute_instruction(&mut ram);
    cpu.registers().set16(Reg16::HL, BASIC_HL2);
    exx(&mut cpu, &mut ram);
    {
        let r = cpu.registers();
        r.set16(Reg16::IY, SYSVARS);
        r.set16(Reg16::SP, sp0);
        r.set_pc(run.origin);
    }
    let mut keys = run
        .keys
        .iter()
        .filter(|&&k| k != b'\r')
        .map(|&k| if k == b'\n' { 13 } else { k })
        .peekable();
    let mut output = Vec::new();
    let mut clears = 0;
    let (mut tstates, mut lowest_sp) = (0u64, sp0);
    let mut steps = Vec::new();
    let mut step: Option<(u16, u16, u64)> = None;
    let exit = loop {
        let pc = cpu.immutable_registers().pc();
        let sp = cpu.immutable_registers().get16(Reg16::SP);
        if let Some((back, sp_after, t0)) = step {
            if pc == back && sp == sp_after {
                steps.push(tstates - t0);
                step = None;
            }
        } else if Some(pc) == run.step_entry {
            step = Some((word(&ram.bytes, sp), sp.wrapping_add(2), tstates));
        }
        if let Some(at) = ram.rom_write {
            break ZxExit::RomWrite(at);
        }
        if pc < RAM_START {
            let regs = cpu.registers();
            if pc == USR_RETURN && sp == sp0 + 2 {
                break basic_return(&mut cpu, &mut ram);
            }
            if regs.get16(Reg16::IY) != SYSVARS {
                break ZxExit::BadCall(format!(
                    "ROM entry 0x{pc:04x} called with IY = 0x{:04x}",
                    regs.get16(Reg16::IY)
                ));
            }
            let a = regs.a();
            match pc {
                PRINT_A => output.push(a),
                CL_ALL => clears += 1,
                CHAN_OPEN if a == 2 || a == 0xFE => {}
                CHAN_OPEN => break ZxExit::BadCall(format!("CHAN_OPEN with stream {a}")),
                KEY_INPUT if !regs.get_interrupt_mode().0 => {
                    break ZxExit::BadCall("KEY_INPUT with interrupts off".into())
                }
                KEY_INPUT => match keys.next() {
                    Some(k) => {
                        scramble(regs);
                        regs.set_a(k);
                        regs.set_flag(iz80::Flag::C);
                        regs.clear_flag(iz80::Flag::Z);
                    }
                    None => break ZxExit::InputExhausted,
                },
                _ => break ZxExit::RomJump(pc),
            }
            if pc != KEY_INPUT {
                scramble(regs);
                regs.set16(Reg16::AF, SCRAMBLE);
            }
            let back = word(&ram.bytes, sp);
            regs.set16(Reg16::SP, sp.wrapping_add(2));
            regs.set_pc(back);
            continue;
        }
        let fix =
            NEEDS_FIX[ram.bytes[pc as usize] as usize].then(|| after_prefixes(&ram.bytes, pc));
        let before = cpu.cycle_count();
        cpu.execute_instruction(&mut ram);
        let mut spent = cpu.cycle_count().wrapping_sub(before);
        if let Some((prefixes, op)) = fix {
            spent = corrected_tstates(prefixes, op, spent);
        }
        tstates += spent;
        lowest_sp = lowest_sp.min(cpu.immutable_registers().get16(Reg16::SP));
        if tstates > run.max_tstates {
            break ZxExit::TimedOut;
        }
        if cpu.is_halted() {
            break ZxExit::Halted;
        }
    };
    Ok(ZxReport {
        output,
        clears,
        step_tstates: steps,
        total_tstates: tstates,
        highest_write: ram.highest_write,
        lowest_sp,
        contended_accesses: ram.contended,
        exit,
    })
}

fn word(bytes: &[u8; 0x10000], at: u16) -> u16 {
    u16::from_le_bytes([bytes[at as usize], bytes[at.wrapping_add(1) as usize]])
}

fn scramble(regs: &mut iz80::Registers) {
    for r in [Reg16::BC, Reg16::DE, Reg16::HL] {
        regs.set16(r, SCRAMBLE);
    }
}

/// Run an `exx` of our own (iz80 offers no access to the alternate set),
/// from the ROM, where the program cannot have written.
fn exx(cpu: &mut Cpu, ram: &mut Ram) {
    let pc = cpu.immutable_registers().pc();
    ram.bytes[EI_STUB as usize] = 0xD9;
    cpu.registers().set_pc(EI_STUB);
    cpu.execute_instruction(ram);
    cpu.registers().set_pc(pc);
}

/// Whether BASIC can go on after the program's `ret`.
fn basic_return(cpu: &mut Cpu, ram: &mut Ram) -> ZxExit {
    let iy = cpu.immutable_registers().get16(Reg16::IY);
    exx(cpu, ram);
    let hl2 = cpu.immutable_registers().get16(Reg16::HL);
    exx(cpu, ram);
    let regs = cpu.immutable_registers();
    if iy != SYSVARS {
        ZxExit::BadReturn(format!("IY is 0x{iy:04x}, not 0x5C3A"))
    } else if hl2 != BASIC_HL2 {
        ZxExit::BadReturn(format!("HL' is 0x{hl2:04x}, not BASIC's 0x{BASIC_HL2:04x}"))
    } else if !regs.get_interrupt_mode().0 {
        ZxExit::BadReturn("interrupts are off".into())
    } else {
        ZxExit::Basic
    }
}
