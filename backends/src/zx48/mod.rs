//! The ZX Spectrum 48K target: the Z80 generator's program laid out for the
//! Spectrum (code from 0x8000, or 0x6000 when it needs the room; buffers up
//! to 0xFF00 under the UDGs), with the
//! ROM-based front-end of `runtime-z80/src/zx48.asm`, on a `.tap` tape whose
//! BASIC loader runs by itself.

pub mod tap;
pub mod target;

use crate::target::Verified;
use crate::z80::{emit_for, Layout, Runtimes, Z80Files};
use crate::{BackendError, Provenance};

/// Where the code loads and starts: uncontended RAM, as z80ai's tapes do.
pub const ORIGIN: u16 = 0x8000;

/// Where it loads when it does not fit above [`ORIGIN`]: lower, in RAM the
/// screen contends for (slower on a real machine), leaving BASIC's loader,
/// its workspace and the stack the 0x300-odd bytes from 0x5CCB.
pub const LOW_ORIGIN: u16 = 0x6000;

/// The Spectrum's memory as the generator sees it: the code from
/// [`ORIGIN`] (or [`LOW_ORIGIN`]), BASIC's stack below it (the loader's `CLEAR`), the model's
/// buffers in the pages below 0xFF00, under the UDGs at 0xFF58.
pub const ZX48: Layout = Layout {
    origin: ORIGIN,
    stack_top: ORIGIN,
    buffers_top: 0xFF00,
    system: "the ZX Spectrum 48K (LOAD \"\" CODE, RANDOMIZE USR)",
    memory: "ZX Spectrum 48K: code from 0x8000 or 0x6000, buffers below 0xFF00 under the UDGs",
    max_image: None,
    low_origin: Some(LOW_ORIGIN),
};

/// The generated files and what the simulator needs.
#[derive(Debug, Clone)]
pub struct Zx48Files {
    /// The code block as the Z80 generator builds it: its assembly source,
    /// its bytes (`com`, not written as a `.COM`) loaded at `origin`
    /// ([`ORIGIN`], or [`LOW_ORIGIN`] for a program that does not fit above
    /// it), its step entry and buffers.
    pub program: Z80Files,
    /// File name of the tape.
    pub tap_name: String,
    /// The tape: the BASIC loader and the code block.
    pub tap: Vec<u8>,
}

/// Build the tape for a verified model.
pub fn build(model: &Verified, prov: &Provenance) -> Result<Zx48Files, BackendError> {
    let runtimes = Runtimes {
        chat: zlmc_runtime_z80::ZX48_CHAT_ASM,
        classify: zlmc_runtime_z80::ZX48_CLASSIFY_ASM,
        raw: zlmc_runtime_z80::ZX48_RAW_ASM,
        raw_values: zlmc_runtime_z80::ZX48_RAW_VALUES_ASM,
    };
    let z = emit_for(model, prov, runtimes, &ZX48)?;
    Ok(Zx48Files {
        tap_name: format!("{}.tap", model.name),
        tap: tap::tape(&model.name, z.origin, &z.com),
        program: z,
    })
}
