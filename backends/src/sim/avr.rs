//! AVR firmware on the host: builds it with avr-gcc or with Debian's
//! arduino-mk, and runs it in simavr through a small C harness
//! (`runtime-avr/sim/harness.c`) that types into UART0, collects what the
//! firmware sends, times calls of one function and tracks the stack.
//!
//! # Tools (Debian packages)
//!
//! | needed for | tools | packages |
//! |---|---|---|
//! | [`compile_firmware`] | `avr-gcc` | `gcc-avr`, `avr-libc` |
//! | [`run_firmware`] | host `cc` (or `gcc`), libsimavr, `avr-nm` | `gcc`, `libsimavr-dev`, `binutils-avr` |
//! | [`build_sketch`] | `make`, `/usr/share/arduino/Arduino.mk` | `make`, `arduino-mk`, `arduino-core-avr` |
//! | [`avr_size`] | `avr-size` | `binutils-avr` |
//!
//! A missing tool is an [`AvrError`] that names the package to install.
//!
//! # The harness
//!
//! The harness source is built into zlmc. The first run builds it with the
//! host C compiler into `$TMPDIR/zlmc-avr-harness-<hash of source and flags>/`
//! and later runs (and other processes) reuse it. Its comment block documents
//! the UART pacing, the stop rules and the report; [`AvrRun`] and
//! [`AvrReport`] sum them up.
//!
//! Cycles are simavr's, which follow the datasheet for each instruction (`ret`
//! is 4 cycles on 16-bit-PC parts, 5 on the ATmega2560) but charge nothing
//! for entering an interrupt.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::machine::{ArduinoNames, Machine};

/// The harness's C source, as compiled on first use.
pub const HARNESS_SOURCE: &str = include_str!("../../../runtime-avr/sim/harness.c");

/// Host compiler flags for the harness; part of the cache key.
const HARNESS_FLAGS: &[&str] = &["-O2", "-w"];
/// Libraries the harness links; part of the cache key.
const HARNESS_LIBS: &[&str] = &["-lsimavr"];

/// Debian's arduino-mk, the makefile that builds sketches from the command line.
pub const ARDUINO_MK: &str = "/usr/share/arduino/Arduino.mk";
/// Where Debian's arduino-core-avr keeps the AVR core and `boards.txt`.
pub const ARDUINO_AVR_DIR: &str = "/usr/share/arduino/hardware/arduino/avr";

/// The board called `name` in the board table ([`crate::avr::BOARDS`];
/// `mega` also names the Mega 2560).
pub fn arduino_board(name: &str) -> Option<&'static Machine> {
    let name = if name == "mega" { "mega2560" } else { name };
    crate::avr::BOARDS.iter().find(|b| b.name == name)
}

/// Something that stopped a build or a run before it produced a result.
#[derive(Debug, thiserror::Error)]
pub enum AvrError {
    /// A program zlmc runs is not installed.
    #[error("`{tool}` is not installed: install the Debian package(s) {packages} (scripts/setup.sh does, as root)")]
    ToolMissing {
        /// The program.
        tool: &'static str,
        /// The Debian packages that provide it, ready to print.
        packages: &'static str,
    },
    /// The harness does not build because libsimavr's headers or library are missing.
    #[error(
        "libsimavr is not installed, so the simulator harness cannot be built: install the \
         Debian package `libsimavr-dev` (scripts/setup.sh does, as root)\n{log}"
    )]
    SimavrMissing {
        /// The host compiler's complaint.
        log: String,
    },
    /// Debian's Arduino build files are missing.
    #[error(
        "{path} is missing, so Arduino sketches cannot be built: install the Debian packages \
         `arduino-mk` and `arduino-core-avr` (scripts/setup.sh does, as root)"
    )]
    ArduinoMissing {
        /// The file or folder that is not there.
        path: PathBuf,
    },
    /// A compiler, linker or make failed.
    #[error("{what} failed:\n{log}")]
    ToolFailed {
        /// What was being built, for the user.
        what: String,
        /// The tool's error output.
        log: String,
    },
    /// Reading, writing or starting something failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What zlmc was doing.
        action: &'static str,
        /// The file or program involved.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The step function is not in the firmware's symbol table.
    #[error("the function `{symbol}` is not in {}'s symbol table", elf.display())]
    SymbolNotFound {
        /// The symbol asked for.
        symbol: String,
        /// The firmware.
        elf: PathBuf,
    },
    /// [`build_sketch`] does not know the board.
    #[error("unknown Arduino board `{board}`: zlmc knows uno, nano, lilypad and mega2560")]
    UnknownBoard {
        /// The name given.
        board: String,
    },
    /// An argument the tools cannot take.
    #[error("{0}")]
    InvalidArgument(String),
    /// The harness refused the run or died (an unknown MCU, an unreadable ELF).
    #[error("the simulator harness failed ({status}):\n{log}")]
    HarnessFailed {
        /// How it exited.
        status: String,
        /// Its error output.
        log: String,
    },
}

/// What to run in simavr and what to type into it.
#[derive(Debug, Clone, Copy)]
pub struct AvrRun<'a> {
    /// The firmware, an ELF file from avr-gcc.
    pub elf: &'a Path,
    /// The MCU, as simavr names it (`atmega328p`, `atmega2560`).
    pub mcu: &'a str,
    /// The clock in Hz; UART timing and the idle limit follow it.
    pub f_cpu: u32,
    /// Bytes typed into UART0. They arrive at the baud rate the firmware set
    /// and only as fast as it takes them, so none is lost.
    pub uart_input: &'a [u8],
    /// The function whose calls are timed into [`AvrReport::step_cycles`]: a
    /// step starts when the PC reaches it and ends when its return lifts SP
    /// above the entry value. Calls during a step belong to it.
    pub step_symbol: Option<&'a str>,
    /// The firmware's prompt. With it, the input is typed a line at a time,
    /// each line after the prompt's next appearance (the first line after the
    /// first prompt), and the run ends with [`AvrExit::Prompt`] once the
    /// prompt follows the last line and all input has been read.
    /// Without it, all input is offered at once.
    pub stop_on: Option<&'a [u8]>,
    /// The run ends with [`AvrExit::TimedOut`] after this many cycles.
    pub max_cycles: u64,
    /// The run ends with [`AvrExit::Idle`] after this many cycles in which the
    /// firmware sent nothing and read nothing; 0 means one simulated second.
    pub idle_cycles: u64,
}

impl<'a> AvrRun<'a> {
    /// A run of `elf` with no input, no step timing, no prompt, at most 100
    /// simulated seconds and the default idle limit.
    pub fn new(elf: &'a Path, mcu: &'a str, f_cpu: u32) -> AvrRun<'a> {
        AvrRun {
            elf,
            mcu,
            f_cpu,
            uart_input: b"",
            step_symbol: None,
            stop_on: None,
            max_cycles: 100 * u64::from(f_cpu),
            idle_cycles: 0,
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvrExit {
    /// The prompt followed the last input line and all input was read.
    Prompt,
    /// The firmware sent and read nothing for [`AvrRun::idle_cycles`].
    Idle,
    /// The firmware stopped: `sleep` with interrupts off, or a jump to itself
    /// with interrupts off (avr-libc's `exit`, and returning from `main`).
    Halted,
    /// simavr found the firmware crashed (a jump outside the program, a bad
    /// stack, a watchdog reset without a handler).
    Crashed,
    /// The run reached [`AvrRun::max_cycles`].
    TimedOut,
}

/// What happened during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvrReport {
    /// Every byte the firmware sent on UART0.
    pub output: Vec<u8>,
    /// Cycles of each completed step, in order, without the cycles of
    /// interrupt handlers that ran during it (a timer tick, a UART interrupt).
    pub step_cycles: Vec<u64>,
    /// Cycles interrupt handlers took during each step, beside `step_cycles`.
    pub step_interrupt_cycles: Vec<u64>,
    /// Cycles of the whole run.
    pub total_cycles: u64,
    /// Instructions simavr executed (each sleeping stretch counts as one).
    pub instructions: u64,
    /// The lowest SP during the run (SP points at the next free byte, so the
    /// deepest byte the stack reached is `min_sp + 1`).
    pub min_sp: u16,
    /// The last RAM address: SP at reset.
    pub ramend: u16,
    /// The first RAM address above the static data (`.data`, `.bss`,
    /// `.noinit`: the linker's `_end`), if the ELF has it.
    pub data_end: Option<u16>,
    /// Input bytes the firmware never read.
    pub input_unread: usize,
    /// Why the run ended.
    pub exit: AvrExit,
}

impl AvrReport {
    /// Bytes of stack at the deepest point of the run.
    pub fn stack_peak(&self) -> u16 {
        self.ramend.saturating_sub(self.min_sp)
    }

    /// Bytes of RAM between the static data and the deepest stack byte,
    /// which nothing but a heap (`malloc`, which zlmc's code never calls)
    /// could have used.
    pub fn free_ram(&self) -> Option<u16> {
        let end = self.data_end?;
        Some(self.min_sp.saturating_add(1).saturating_sub(end))
    }
}

/// Flash and RAM use of a firmware, from `avr-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvrSize {
    /// Code and constants in flash (`.text`, with tables in `PROGMEM`).
    pub text: u64,
    /// Initialized variables: in RAM, with their initial values also in flash.
    pub data: u64,
    /// Zeroed and uninitialized variables, in RAM.
    pub bss: u64,
}

impl AvrSize {
    /// Bytes of flash the firmware occupies (`text + data`).
    pub fn flash(&self) -> u64 {
        self.text + self.data
    }

    /// Bytes of RAM taken by static data (`data + bss`), before any stack.
    pub fn static_ram(&self) -> u64 {
        self.data + self.bss
    }
}

/// Compiles and links `sources` (`.c` as GNU C99, `.S` assembled with the C
/// preprocessor, `.s` without) into `out_elf` with avr-gcc at `-Os`, defining
/// `F_CPU` as `f_cpu`UL.
pub fn compile_firmware(
    sources: &[PathBuf],
    mcu: &str,
    f_cpu: u32,
    out_elf: &Path,
) -> Result<(), AvrError> {
    if sources.is_empty() {
        return Err(AvrError::InvalidArgument(
            "compile_firmware needs at least one source file".into(),
        ));
    }
    let mut cmd = Command::new("avr-gcc");
    cmd.arg(format!("-mmcu={mcu}"))
        .arg(format!("-DF_CPU={f_cpu}UL"))
        .args(["-Os", "-std=gnu99", "-o"])
        .arg(out_elf)
        .args(sources);
    let out = run_tool(&mut cmd, "avr-gcc", "`gcc-avr` and `avr-libc`")?;
    if !out.status.success() {
        return Err(AvrError::ToolFailed {
            what: format!("avr-gcc building {} for {mcu}", out_elf.display()),
            log: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// Runs a firmware in simavr as `run` describes.
///
/// A run that ends — even by timing out or crashing — gives a report; an
/// error means it could not start or the harness failed.
pub fn run_firmware(run: &AvrRun) -> Result<AvrReport, AvrError> {
    if let Some(prompt) = run.stop_on {
        if prompt.is_empty() || prompt.contains(&0) {
            return Err(AvrError::InvalidArgument(
                "the prompt (stop_on) must be non-empty and without NUL bytes".into(),
            ));
        }
    }
    if run.f_cpu == 0 {
        return Err(AvrError::InvalidArgument("f_cpu must not be 0".into()));
    }
    // Checked here so that a wrong path reads as such, not as avr-nm's complaint.
    std::fs::metadata(run.elf).map_err(|source| AvrError::Io {
        action: "read",
        path: run.elf.to_path_buf(),
        source,
    })?;
    let symbols = symbols(run.elf)?;
    let find = |name: &str| symbols.iter().find(|(n, _)| n == name).map(|&(_, a)| a);
    let step_addr = match run.step_symbol {
        Some(name) => Some(find(name).ok_or_else(|| AvrError::SymbolNotFound {
            symbol: name.to_string(),
            elf: run.elf.to_path_buf(),
        })?),
        None => None,
    };
    // Data addresses carry avr-gcc's 0x800000 RAM offset.
    let data_end = find("_end").and_then(|a| u16::try_from(a.checked_sub(0x80_0000)?).ok());

    let harness = harness()?;
    let mut cmd = Command::new(&harness);
    cmd.arg("--mcu")
        .arg(run.mcu)
        .arg("--freq")
        .arg(run.f_cpu.to_string())
        .arg("--elf")
        .arg(run.elf)
        .arg("--max-cycles")
        .arg(run.max_cycles.max(1).to_string());
    if run.idle_cycles > 0 {
        cmd.arg("--idle-cycles").arg(run.idle_cycles.to_string());
    }
    if let Some(addr) = step_addr {
        cmd.arg("--step-addr").arg(format!("{addr:#x}"));
    }
    if let Some(prompt) = run.stop_on {
        cmd.arg("--stop-on")
            .arg(OsString::from_vec(prompt.to_vec()));
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let io_err = |action, source| AvrError::Io {
        action,
        path: harness.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(|e| io_err("start", e))?;
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let input = run.uart_input;
    // The harness reads all input before it writes anything, but a writer
    // thread keeps that an implementation detail rather than a deadlock risk.
    let out = std::thread::scope(|s| {
        // A harness that stops early (an unknown MCU) closes its stdin; its
        // own report says why, so a failed write adds nothing.
        s.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    });
    let out = out.map_err(|e| io_err("run", e))?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0 | 2 | 3) => {}
        _ => {
            return Err(AvrError::HarnessFailed {
                status: out.status.to_string(),
                log,
            })
        }
    }
    parse_report(out.stdout, &log, data_end)
}

/// Reads the harness's `report KEY VALUE` lines.
fn parse_report(output: Vec<u8>, log: &str, data_end: Option<u16>) -> Result<AvrReport, AvrError> {
    let bad = |what: &str| AvrError::HarnessFailed {
        status: format!("unreadable report: {what}"),
        log: log.to_string(),
    };
    let mut report = AvrReport {
        output,
        step_cycles: Vec::new(),
        step_interrupt_cycles: Vec::new(),
        total_cycles: 0,
        instructions: 0,
        min_sp: 0,
        ramend: 0,
        data_end,
        input_unread: 0,
        exit: AvrExit::Crashed,
    };
    let mut seen_exit = false;
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("report ") else {
            continue;
        };
        let mut words = rest.split_ascii_whitespace();
        let key = words.next().unwrap_or("");
        let mut num = || -> Result<u64, AvrError> {
            let w = words.next().ok_or_else(|| bad(line))?;
            let parsed = match w.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => w.parse(),
            };
            parsed.map_err(|_| bad(line))
        };
        match key {
            "step" => {
                report.step_cycles.push(num()?);
                report.step_interrupt_cycles.push(num()?);
            }
            "cycles" => report.total_cycles = num()?,
            "instructions" => report.instructions = num()?,
            "min_sp" => report.min_sp = u16::try_from(num()?).map_err(|_| bad(line))?,
            "ramend" => report.ramend = u16::try_from(num()?).map_err(|_| bad(line))?,
            "input_unread" => report.input_unread = num()? as usize,
            "exit" => {
                seen_exit = true;
                report.exit = match words.next() {
                    Some("prompt") => AvrExit::Prompt,
                    Some("idle") => AvrExit::Idle,
                    Some("halted") => AvrExit::Halted,
                    Some("crashed") => AvrExit::Crashed,
                    Some("max-cycles") => AvrExit::TimedOut,
                    _ => return Err(bad(line)),
                };
            }
            _ => {}
        }
    }
    if !seen_exit {
        return Err(bad("no exit line"));
    }
    Ok(report)
}

/// A Makefile for Debian's arduino-mk that builds a generated sketch for
/// `board`, with `extra` lines before the include; docs/avr.md gives the
/// Uno's as the recipe for users (a test holds the two equal).
pub fn arduino_mk_recipe(board: &ArduinoNames, extra: &str) -> String {
    let sub = board
        .board_sub
        .map(|s| format!("BOARD_SUB = {s}\n"))
        .unwrap_or_default();
    format!(
        "# Builds the Arduino sketch in this folder with Debian's arduino-mk: `make`.\n\
         ARDUINO_DIR = /usr/share/arduino\n\
         ARDMK_DIR = /usr/share/arduino\n\
         AVR_TOOLS_DIR = /usr\n\
         BOARD_TAG = {tag}\n\
         {sub}\
         # Debian's avr-gcc 5.4 defines DECIMAL_DIG for C only; the core's\n\
         # WString.cpp needs it in C++ too.\n\
         CXXFLAGS += -DDECIMAL_DIG=__DECIMAL_DIG__\n\
         {extra}\
         include {mk}\n",
        tag = board.board_tag,
        mk = ARDUINO_MK,
    )
}

/// An I/O failure to `action` `path`, as a `map_err` argument.
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AvrError {
    let path = path.to_path_buf();
    move |source| AvrError::Io {
        action,
        path,
        source,
    }
}

/// Builds the Arduino sketch in `sketch_dir` (one `.ino`, plus any `.c`,
/// `.cpp`, `.S` and `.h` files beside it) for `board` (a name in
/// [`crate::avr::BOARDS`]) with Debian's arduino-mk, and returns the ELF file.
///
/// Everything is written under `build_dir`, the makefile included; the sketch
/// folder is only read. Unlike the Arduino IDE, arduino-mk compiles the
/// `.ino` as it is: functions must be declared before they are used.
/// Neither path may contain whitespace, which make cannot handle.
pub fn build_sketch(sketch_dir: &Path, board: &str, build_dir: &Path) -> Result<PathBuf, AvrError> {
    let (info, names) = arduino_board(board)
        .and_then(|m| Some((m, m.arduino.as_ref()?)))
        .ok_or_else(|| AvrError::UnknownBoard {
            board: board.to_string(),
        })?;
    for path in [Path::new(ARDUINO_MK), Path::new(ARDUINO_AVR_DIR)] {
        if !path.exists() {
            return Err(AvrError::ArduinoMissing {
                path: path.to_path_buf(),
            });
        }
    }
    std::fs::create_dir_all(build_dir).map_err(io("create", build_dir))?;
    let build_dir = build_dir.canonicalize().map_err(io("find", build_dir))?;
    let sketch_dir = sketch_dir.canonicalize().map_err(io("find", sketch_dir))?;
    for dir in [&sketch_dir, &build_dir] {
        let text = dir.to_str().ok_or_else(|| {
            AvrError::InvalidArgument(format!("{} is not valid UTF-8", dir.display()))
        })?;
        if text
            .chars()
            .any(|c| c.is_whitespace() || c == '$' || c == '#')
        {
            return Err(AvrError::InvalidArgument(format!(
                "make cannot build in {}: its path has a space, `$` or `#`",
                dir.display()
            )));
        }
    }
    let target: String = sketch_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sketch".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();

    let makefile = arduino_mk_recipe(
        names,
        &format!("TARGET = {target}\nOBJDIR = {}\n", build_dir.display()),
    );
    let makefile_path = build_dir.join("Makefile");
    // The makefile is a dependency of every object: rewriting it unchanged
    // would rebuild the core each time.
    if std::fs::read_to_string(&makefile_path).ok().as_deref() != Some(makefile.as_str()) {
        std::fs::write(&makefile_path, &makefile).map_err(io("write", &makefile_path))?;
    }
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cmd = Command::new("make");
    cmd.arg("-f")
        .arg(&makefile_path)
        .arg(format!("-j{jobs}"))
        .current_dir(&sketch_dir);
    let out = run_tool(&mut cmd, "make", "`make`")?;
    if !out.status.success() {
        let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
        if log.trim().is_empty() {
            log = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        return Err(AvrError::ToolFailed {
            what: format!(
                "arduino-mk building {} for {} (BOARD_TAG {})",
                sketch_dir.display(),
                info.name,
                names.board_tag
            ),
            log,
        });
    }
    let elf = build_dir.join(format!("{target}.elf"));
    if !elf.is_file() {
        return Err(AvrError::ToolFailed {
            what: format!("arduino-mk building {}", sketch_dir.display()),
            log: format!(
                "make succeeded but {} is missing:\n{}",
                elf.display(),
                String::from_utf8_lossy(&out.stdout)
            ),
        });
    }
    Ok(elf)
}

/// The firmware's section sizes, as `avr-size` (Berkeley format) gives them.
pub fn avr_size(elf: &Path) -> Result<AvrSize, AvrError> {
    let out = run_tool(
        Command::new("avr-size").arg(elf),
        "avr-size",
        "`binutils-avr`",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let failed = || AvrError::ToolFailed {
        what: format!("avr-size reading {}", elf.display()),
        log: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
    };
    if !out.status.success() {
        return Err(failed());
    }
    // "   text    data     bss     dec     hex filename" and one line of numbers.
    let numbers: Vec<u64> = text
        .lines()
        .nth(1)
        .ok_or_else(failed)?
        .split_ascii_whitespace()
        .take(3)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| failed())?;
    match numbers[..] {
        [text, data, bss] => Ok(AvrSize { text, data, bss }),
        _ => Err(failed()),
    }
}

/// The ELF's defined symbols and their addresses, from `avr-nm`.
fn symbols(elf: &Path) -> Result<Vec<(String, u64)>, AvrError> {
    let out = run_tool(
        Command::new("avr-nm").arg("--defined-only").arg(elf),
        "avr-nm",
        "`binutils-avr` (with `gcc-avr`)",
    )?;
    if !out.status.success() {
        return Err(AvrError::ToolFailed {
            what: format!("avr-nm reading {}", elf.display()),
            log: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut w = line.split_ascii_whitespace();
            let addr = u64::from_str_radix(w.next()?, 16).ok()?;
            let _kind = w.next()?;
            Some((w.next()?.to_string(), addr))
        })
        .collect())
}

/// Runs `cmd` to completion, turning "not found" into [`AvrError::ToolMissing`].
fn run_tool(
    cmd: &mut Command,
    tool: &'static str,
    packages: &'static str,
) -> Result<Output, AvrError> {
    cmd.stdin(Stdio::null());
    match cmd.output() {
        Ok(out) => Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(AvrError::ToolMissing { tool, packages })
        }
        Err(source) => Err(AvrError::Io {
            action: "run",
            path: PathBuf::from(tool),
            source,
        }),
    }
}

/// The harness binary, built on first use (see the module docs).
fn harness() -> Result<PathBuf, AvrError> {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.as_ref() {
        return Ok(path.clone());
    }
    let key = format!("{HARNESS_SOURCE}\0{HARNESS_FLAGS:?}\0{HARNESS_LIBS:?}");
    let dir = std::env::temp_dir().join(format!("zlmc-avr-harness-{:016x}", fnv1a(key.as_bytes())));
    let exe = dir.join("harness");
    if !exe.is_file() {
        build_harness(&dir, &exe)?;
    }
    *built = Some(exe.clone());
    Ok(exe)
}

/// Compiles the harness into `exe`. Other processes may be doing the same:
/// each writes its own temporary files and renames the result into place,
/// which is atomic, so a reader sees either no harness or a whole one.
fn build_harness(dir: &Path, exe: &Path) -> Result<(), AvrError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let unique = format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let src = dir.join(format!("harness-{unique}.c"));
    let tmp = dir.join(format!("harness-{unique}.tmp"));
    std::fs::write(&src, HARNESS_SOURCE).map_err(io("write", &src))?;

    let compile = |cc: &'static str| {
        let mut cmd = Command::new(cc);
        cmd.args(HARNESS_FLAGS)
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .args(HARNESS_LIBS);
        run_tool(&mut cmd, cc, "`gcc`")
    };
    let result = match compile("cc") {
        Err(AvrError::ToolMissing { .. }) => compile("gcc"),
        other => other,
    };
    let _ = std::fs::remove_file(&src);
    let out = result?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        if log.contains("simavr/") || log.contains("-lsimavr") {
            return Err(AvrError::SimavrMissing { log });
        }
        return Err(AvrError::ToolFailed {
            what: "the host C compiler building the simavr harness".into(),
            log,
        });
    }
    std::fs::rename(&tmp, exe).map_err(io("move into place", exe))?;
    Ok(())
}

/// FNV-1a, 64 bits: a cache key that stays the same across Rust versions,
/// which std's hashers do not promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_are_read_and_other_lines_ignored() {
        let log = "Loaded 238 .text at address 0x0\n\
                   report mcu atmega328p\n\
                   report ramend 0x8ff\n\
                   report step 34 0\n\
                   report step 40 96\n\
                   report cycles 21192\n\
                   report instructions 12687\n\
                   report min_sp 0x8fb\n\
                   report input_unread 2\n\
                   report exit prompt\n";
        let r = parse_report(b"> ".to_vec(), log, Some(0x100)).unwrap();
        assert_eq!(r.step_cycles, [34, 40]);
        assert_eq!(r.step_interrupt_cycles, [0, 96]);
        assert_eq!((r.total_cycles, r.instructions), (21192, 12687));
        assert_eq!((r.ramend, r.min_sp, r.input_unread), (0x8ff, 0x8fb, 2));
        assert_eq!(r.exit, AvrExit::Prompt);
        assert_eq!(r.stack_peak(), 4);
        assert_eq!(r.free_ram(), Some(0x8fc - 0x100));
    }

    #[test]
    fn a_report_without_exit_is_an_error() {
        let err = parse_report(Vec::new(), "report cycles 5\n", None).unwrap_err();
        assert!(matches!(err, AvrError::HarnessFailed { .. }), "{err}");
    }

    #[test]
    fn boards_have_their_debian_tags() {
        let mega = arduino_board("mega").and_then(|m| m.arduino).unwrap();
        assert_eq!(
            (mega.board_tag, mega.board_sub),
            ("mega", Some("atmega2560"))
        );
        assert_eq!(arduino_board("lilypad").unwrap().title, "LilyPad Arduino");
        assert!(arduino_board("leonardo").is_none());
    }

    #[test]
    fn missing_tools_name_their_packages() {
        let err = run_tool(
            &mut Command::new("zlmc-no-such-tool"),
            "zlmc-no-such-tool",
            "`gcc-avr` and `avr-libc`",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("gcc-avr") && text.contains("avr-libc"),
            "{text}"
        );
    }
}
