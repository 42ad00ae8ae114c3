//! A 48K ROM image, booted once: the machine a tape's program starts on.

use std::path::Path;

use super::{sysvar, Ram, Spectrum, RAM_START};

/// Where Debian's `opense-basic` puts OpenSE BASIC, the free 48K ROM.
pub const OPENSE_ROM: &str = "/usr/share/spectrum-roms/opense.rom";

/// T-states a ROM may take to boot to its editor (Sinclair's and OpenSE's
/// take under 2 seconds, 7 million).
const BOOT_LIMIT: u64 = 50_000_000;

/// A ROM that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RomError {
    /// The file cannot be read.
    #[error("cannot read the ROM image {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not 16 KB.
    #[error("a 48K ROM image is 16,384 bytes, not {0}")]
    Size(usize),
    /// The boot did not reach the editor's first key poll.
    #[error("the ROM did not reach its editor's first key poll in {BOOT_LIMIT} T-states")]
    NoBoot,
}

/// A 48K ROM and the RAM it leaves when its editor first polls the keyboard.
#[derive(Clone)]
pub struct Rom {
    booted: Box<[u8; 0x10000]>,
    /// T-states the boot took.
    pub boot_tstates: u64,
}

impl std::fmt::Debug for Rom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rom {{ booted in {} T-states }}", self.boot_tstates)
    }
}

impl Rom {
    /// Boot `image` from reset, with frame interrupts and no key pressed,
    /// until its editor first calls the K channel's input routine.
    pub fn boot(image: &[u8]) -> Result<Rom, RomError> {
        if image.len() != 0x4000 {
            return Err(RomError::Size(image.len()));
        }
        let mut bytes: Box<[u8; 0x10000]> = vec![0u8; 0x10000]
            .into_boxed_slice()
            .try_into()
            .expect("64 KB");
        bytes[..0x4000].copy_from_slice(image);
        let mut m = Spectrum::new(Ram::new(bytes), true);
        while m.tstates < BOOT_LIMIT {
            if m.ram.rom_write.is_some() {
                // The boot's RAM test may write to the ROM: writes there are lost.
                m.ram.rom_write = None;
            }
            if Some(m.pc()) == m.ram.k_input() {
                let mut booted = m.ram.bytes;
                booted[..0x4000].copy_from_slice(image);
                return Ok(Rom {
                    booted,
                    boot_tstates: m.tstates,
                });
            }
            m.step();
        }
        Err(RomError::NoBoot)
    }

    /// Read and boot the image at `path`.
    pub fn open(path: &Path) -> Result<Rom, RomError> {
        let image = std::fs::read(path).map_err(|source| RomError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Rom::boot(&image)
    }

    /// A copy of the booted machine's memory, ROM included.
    pub(super) fn booted_ram(&self) -> Box<[u8; 0x10000]> {
        self.booted.clone()
    }
}

/// The screen as text: each 8x8 cell of the display file matched against
/// the font CHARS points at (characters 32–127, `?` for none).
pub(super) fn screen_text(bytes: &[u8; 0x10000]) -> Vec<String> {
    let chars = u16::from_le_bytes([
        bytes[sysvar::CHARS as usize],
        bytes[sysvar::CHARS as usize + 1],
    ]);
    let glyph = |c: u8| -> [u8; 8] {
        let at = chars.wrapping_add(u16::from(c) * 8) as usize;
        std::array::from_fn(|i| bytes[(at + i) & 0xFFFF])
    };
    let font: Vec<(u8, [u8; 8])> = (32..128).map(|c| (c, glyph(c))).collect();
    (0..24u16)
        .map(|row| {
            (0..32u16)
                .map(|col| {
                    let cell: [u8; 8] = std::array::from_fn(|line| {
                        let at = RAM_START
                            | (row & 0x18) << 8
                            | (line as u16) << 8
                            | (row & 7) << 5
                            | col;
                        bytes[at as usize]
                    });
                    font.iter()
                        .find(|(_, g)| *g == cell)
                        .map_or('?', |&(c, _)| c as char)
                })
                .collect()
        })
        .collect()
}
