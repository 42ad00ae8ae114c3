//! One runner per external tool the tests use: gcc, z80asm, pasmo, avr-gcc and
//! simavr. A missing tool fails the test and names the Debian package
//! (`scripts/setup.sh` installs them all).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The flags every generated C file must compile cleanly with.
pub const C_STRICT: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"];

/// Runs `cmd`; a tool that is not installed fails the test naming its package.
fn output(cmd: &mut Command, tool: &str, package: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!(
            "{tool} is required by this test: install the Debian package `{package}` \
             (scripts/setup.sh does, as root): {e}"
        )
    })
}

/// Whether `tool` is installed: `false` only when the system cannot find the
/// command (`tool --version` is started to find out), so a test may skip
/// what needs it and still fail on anything the tool itself reports.
pub fn installed(tool: &str) -> bool {
    let started = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    !matches!(started, Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// Both streams of a finished tool, as text.
fn messages(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Compiles and links `sources` with the host gcc into `dir/exe`: strict C99
/// ([`C_STRICT`]), `-I dir`, then `extra`. Panics with gcc's messages on failure.
pub fn gcc(dir: &Path, exe: &str, sources: &[PathBuf], extra: &[&str]) -> PathBuf {
    let out = dir.join(exe);
    let res = output(
        Command::new("gcc")
            .args(C_STRICT)
            .args(extra)
            .arg("-I")
            .arg(dir)
            .arg("-o")
            .arg(&out)
            .args(sources),
        "gcc",
        "gcc",
    );
    assert!(
        res.status.success(),
        "gcc {extra:?} failed:\n{}",
        messages(&res)
    );
    out
}

/// Compiles one C file to an object with the host gcc, strict C99 plus `extra`.
pub fn gcc_object(src: &Path, obj: &Path, extra: &[&str]) {
    let res = output(
        Command::new("gcc")
            .args(C_STRICT)
            .args(extra)
            .arg("-c")
            .arg("-o")
            .arg(obj)
            .arg(src),
        "gcc",
        "gcc",
    );
    assert!(
        res.status.success(),
        "gcc -c {} {extra:?}:\n{}",
        src.display(),
        messages(&res)
    );
}

/// Runs an executable with `stdin`; returns its standard output. Fails the
/// test (with its stderr) if it does not exit successfully.
pub fn run_exe(exe: &Path, stdin: &[u8]) -> String {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("wait for the test program");
    writer.join().expect("stdin writer").expect("write stdin");
    assert!(
        out.status.success(),
        "{} failed: {}\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A C array literal of int16 values, written so no literal overflows `int`.
pub fn c_i16_array(v: &[i16]) -> String {
    let mut s = String::from("{");
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if *x == i16::MIN {
            s.push_str("-32767-1");
        } else {
            let _ = write!(s, "{x}");
        }
    }
    s.push('}');
    s
}

/// The Z80 assemblers users have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Z80Asm {
    /// `z80asm -o out.bin file.asm`.
    Z80asm,
    /// `pasmo file.asm out.bin`.
    Pasmo,
}

impl Z80Asm {
    /// Both assemblers.
    pub const ALL: [Z80Asm; 2] = [Z80Asm::Z80asm, Z80Asm::Pasmo];

    /// The command's (and its Debian package's) name.
    pub fn name(self) -> &'static str {
        match self {
            Z80Asm::Z80asm => "z80asm",
            Z80Asm::Pasmo => "pasmo",
        }
    }
}

/// What an external assembler made of a source: its bytes and whatever it printed.
#[derive(Debug)]
pub struct External {
    /// The assembled bytes.
    pub bytes: Vec<u8>,
    /// Everything it printed on stdout and stderr.
    pub messages: String,
}

/// Assembles `text` with `tool` in a scratch folder; `Err` with its messages
/// when it fails.
pub fn z80_assemble(tool: Z80Asm, text: &str) -> Result<External, String> {
    let dir = crate::scratch(tool.name());
    let src = dir.path().join("file.asm");
    let bin = dir.path().join("out.bin");
    std::fs::write(&src, text).expect("write source");
    let mut cmd = Command::new(tool.name());
    match tool {
        Z80Asm::Z80asm => cmd.arg("-o").arg(&bin).arg(&src),
        Z80Asm::Pasmo => cmd.arg(&src).arg(&bin),
    };
    let res = output(cmd.current_dir(dir.path()), tool.name(), tool.name());
    let messages = messages(&res);
    if !res.status.success() {
        return Err(format!(
            "{} failed ({}):\n{messages}",
            tool.name(),
            res.status
        ));
    }
    let bytes = std::fs::read(&bin).unwrap_or_default();
    Ok(External { bytes, messages })
}

/// Assembles `text` with z80asm, asserting it succeeds; returns the bytes.
pub fn z80asm(text: &str) -> Vec<u8> {
    z80_assemble(Z80Asm::Z80asm, text)
        .unwrap_or_else(|e| panic!("{e}"))
        .bytes
}

/// Compiles C `sources` for an AVR `mcu` with avr-gcc: strict C99, `-Os`,
/// `-I dir`, into `dir/NAME`. Panics with avr-gcc's messages on failure.
pub fn avr_gcc(dir: &Path, elf: &str, mcu: &str, sources: &[PathBuf]) -> PathBuf {
    let out = dir.join(elf);
    let res = output(
        Command::new("avr-gcc")
            .arg(format!("-mmcu={mcu}"))
            .args(C_STRICT)
            .arg("-Os")
            .arg("-o")
            .arg(&out)
            .arg(format!("-I{}", dir.display()))
            .args(sources),
        "avr-gcc",
        "gcc-avr",
    );
    assert!(res.status.success(), "avr-gcc failed:\n{}", messages(&res));
    out
}

/// Runs `elf` in the `simavr` command (not zlmc's harness) until it sleeps,
/// with a deadline of `timeout`; returns the lines it wrote to UART0.
pub fn simavr(elf: &Path, mcu: &str, f_cpu: u32, timeout: Duration) -> Vec<String> {
    let log = elf.with_extension("simavr.log");
    let mut sim = Command::new("simavr")
        .args(["-m", mcu, "-f", &f_cpu.to_string()])
        .arg(elf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create simavr log"))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("simavr is required by this test: install the Debian package `simavr`: {e}")
        });
    let start = Instant::now();
    while sim.try_wait().expect("simavr status").is_none() {
        if start.elapsed() > timeout {
            sim.kill().expect("stop simavr");
            sim.wait().expect("reap simavr");
            panic!(
                "simavr did not finish within {timeout:?}; output in {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // simavr echoes each UART line to stderr in colour, ending it with a '.'.
    let text = String::from_utf8_lossy(&std::fs::read(&log).expect("read simavr log"))
        .replace("\x1b[32m", "")
        .replace("\x1b[0m", "");
    text.lines()
        .map(|l| l.trim_end_matches('.').to_string())
        .filter(|l| !l.is_empty() && !l.starts_with("Loaded"))
        .collect()
}
