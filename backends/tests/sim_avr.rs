//! `zlmc_backends::sim::avr`: small hand-written firmware, built with avr-gcc or
//! arduino-mk and run in simavr through the harness. Each test records a skip
//! (`zlmc_test_support::skip`) and passes when the Debian packages it needs are
//! not installed.

use std::path::{Path, PathBuf};

use zlmc_test_support::{scratch, skip, this_test, TempDir};

use zlmc_backends::sim::avr::{
    arduino_board, avr_size, build_sketch, compile_firmware, run_firmware, AvrError, AvrExit,
    AvrReport, AvrRun,
};

/// Unwraps, or ends the test with SKIPPED when a tool is not installed.
macro_rules! or_skip {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(
                e @ (AvrError::ToolMissing { .. }
                | AvrError::SimavrMissing { .. }
                | AvrError::ArduinoMissing { .. }),
            ) => {
                skip(&this_test(), &e.to_string());
                return;
            }
            Err(e) => panic!("{e}"),
        }
    };
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls UART0 at 115200 baud: prints `> `, reads a line, echoes it
/// upper-cased, calling `step` once per character before sending it.
const ECHO_C: &str = r#"
#include <avr/io.h>
#include <stdint.h>
#include "zlmc_uart_poll.h"

extern void step(void);

int main(void)
{
    UCSR0A = 1 << U2X0;
    UBRR0 = F_CPU / 8 / 115200 - 1;
    UCSR0B = (1 << RXEN0) | (1 << TXEN0);
    UCSR0C = 3 << UCSZ00;
    for (;;) {
        put('>');
        put(' ');
        for (;;) {
            uint8_t c = get();
            if (c == '\n')
                break;
            step();
            put(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        put('\n');
    }
}
"#;

/// `ldi` (1) + 10 `dec` (10) + 9 taken `brne` (18) + 1 untaken (1) + `ret`.
const STEP_S: &str = r#"
    .global step
    .type step, @function
step:
    ldi r25, 10
1:  dec r25
    brne 1b
    ret
"#;

/// Cycles of one `step` call: `ret` takes 4 cycles with a 16-bit PC, 5 with
/// the ATmega2560's 22-bit PC.
fn step_cycles(mcu: &str) -> u64 {
    30 + if mcu == "atmega2560" { 5 } else { 4 }
}

/// Sends "bye" and returns from main: avr-libc then loops with interrupts off.
const BYE_C: &str = r#"
#include <avr/io.h>

int main(void)
{
    UBRR0 = F_CPU / 16 / 9600 - 1;
    UCSR0B = 1 << TXEN0;
    for (const char *s = "bye\n"; *s; s++) {
        while (!(UCSR0A & (1 << UDRE0)))
            ;
        UDR0 = *s;
    }
    return 0;
}
"#;

/// Builds a firmware from (file name, text) pairs in a scratch folder of its
/// own; returns the folder (removed when dropped) and the ELF in it.
fn firmware(name: &str, mcu: &str, files: &[(&str, &str)]) -> Result<(TempDir, PathBuf), AvrError> {
    let dir = scratch(&format!("{name}-{mcu}"));
    let header = zlmc_runtime_avr::UART_POLL_H;
    write(dir.path(), "zlmc_uart_poll.h", header);
    let sources: Vec<PathBuf> = files.iter().map(|(n, t)| write(dir.path(), n, t)).collect();
    let elf = dir.path().join("firmware.elf");
    compile_firmware(&sources, mcu, 16_000_000, &elf)?;
    Ok((dir, elf))
}

/// Runs the echo firmware on an ATmega328P at 16 MHz with `run`'s settings.
fn echo_run(name: &str, run: impl FnOnce(AvrRun<'_>) -> AvrRun<'_>) -> Result<AvrReport, AvrError> {
    let mcu = "atmega328p";
    let (_dir, elf) = echo_firmware(name, mcu)?;
    run_firmware(&run(AvrRun::new(&elf, mcu, 16_000_000)))
}

fn echo_firmware(name: &str, mcu: &str) -> Result<(TempDir, PathBuf), AvrError> {
    firmware(name, mcu, &[("echo.c", ECHO_C), ("step.S", STEP_S)])
}

fn text(report: &AvrReport) -> String {
    String::from_utf8_lossy(&report.output).into_owned()
}

fn polled_echo(mcu: &str, ramend: u16) {
    let (_dir, elf) = or_skip!(echo_firmware("echo", mcu));
    let report = or_skip!(run_firmware(&AvrRun {
        uart_input: b"hello\nab\n",
        step_symbol: Some("step"),
        stop_on: Some(b"> "),
        ..AvrRun::new(&elf, mcu, 16_000_000)
    }));
    assert_eq!(text(&report), "> HELLO\n> AB\n> ");
    assert_eq!(report.exit, AvrExit::Prompt);
    assert_eq!(report.step_cycles, vec![step_cycles(mcu); 7]);
    assert_eq!(report.step_interrupt_cycles, vec![0; 7]);
    assert_eq!(report.input_unread, 0);
    assert_eq!(report.ramend, ramend);
    // main's frame and step's return address, and nothing near the data.
    assert!(
        (2..=16).contains(&report.stack_peak()),
        "stack peak {} bytes",
        report.stack_peak()
    );
    let free = report.free_ram().expect("the ELF has _end");
    assert!(free > 1000, "{free} bytes free");
    // The nine input bytes come one after another at 115200 baud (at least
    // 10 bits, 1389 cycles at 16 MHz, each); the replies overlap them.
    assert!(report.total_cycles > 9 * 1389, "{}", report.total_cycles);
}

#[test]
fn polled_echo_with_exact_steps_on_atmega328p() {
    polled_echo("atmega328p", 0x08FF);
}

#[test]
fn polled_echo_with_exact_steps_on_atmega2560() {
    polled_echo("atmega2560", 0x21FF);
}

#[test]
fn without_a_prompt_all_input_is_offered_and_the_run_ends_idle() {
    let report = or_skip!(echo_run("echo-idle", |r| AvrRun {
        uart_input: b"one\ntwo\nthree\n",
        step_symbol: Some("step"),
        idle_cycles: 200_000,
        ..r
    }));
    assert_eq!(text(&report), "> ONE\n> TWO\n> THREE\n> ");
    assert_eq!(report.exit, AvrExit::Idle);
    assert_eq!(report.step_cycles.len(), 11);
    assert_eq!(report.input_unread, 0);
}

#[test]
fn a_prompt_that_never_follows_the_last_line_ends_idle() {
    // The last line has no newline, so the firmware waits for more.
    let report = or_skip!(echo_run("echo-unfinished", |r| AvrRun {
        uart_input: b"ab\ncd",
        stop_on: Some(b"> "),
        idle_cycles: 100_000,
        ..r
    }));
    assert_eq!(text(&report), "> AB\n> CD");
    assert_eq!(report.exit, AvrExit::Idle);
    assert_eq!(report.input_unread, 0);
}

#[test]
fn returning_from_main_halts() {
    let (_dir, elf) = or_skip!(firmware("bye", "atmega328p", &[("bye.c", BYE_C)]));
    let report = or_skip!(run_firmware(&AvrRun::new(&elf, "atmega328p", 16_000_000)));
    assert_eq!(text(&report), "bye\n");
    assert_eq!(report.exit, AvrExit::Halted);
}

#[test]
fn max_cycles_ends_the_run() {
    let report = or_skip!(echo_run("echo-timeout", |r| AvrRun {
        uart_input: b"a long line that takes a while\n",
        stop_on: Some(b"> "),
        max_cycles: 20_000,
        ..r
    }));
    assert_eq!(report.exit, AvrExit::TimedOut);
    assert!(report.total_cycles >= 20_000);
    assert!(report.input_unread > 0);
}

#[test]
fn unknown_symbols_and_mcus_are_errors() {
    let mcu = "atmega328p";
    let (_dir, elf) = or_skip!(echo_firmware("echo-errors", mcu));
    let err = run_firmware(&AvrRun {
        step_symbol: Some("no_such_function"),
        ..AvrRun::new(&elf, mcu, 16_000_000)
    })
    .unwrap_err();
    assert!(matches!(err, AvrError::SymbolNotFound { .. }), "{err}");
    let err = run_firmware(&AvrRun::new(&elf, "atmega9999", 16_000_000));
    let err = or_skip!(match err {
        Ok(report) => panic!("ran on an unknown MCU: {report:?}"),
        Err(e @ AvrError::HarnessFailed { .. }) => Ok(e),
        Err(e) => Err(e),
    });
    assert!(err.to_string().contains("atmega9999"), "{err}");
}

#[test]
fn compile_errors_carry_avr_gcc_messages() {
    let err = firmware(
        "broken",
        "atmega328p",
        &[("broken.c", "int main(void) { oops }")],
    );
    match err {
        Err(AvrError::ToolFailed { log, .. }) => assert!(log.contains("oops"), "{log}"),
        Err(e @ AvrError::ToolMissing { .. }) => skip(&this_test(), &e.to_string()),
        other => panic!("{other:?}"),
    }
}

/// The sketch: Arduino's interrupt-driven Serial at 115200 baud, a `> `
/// prompt, and each character of a line upper-cased by `step_upper` in step.S.
const CHAT_INO: &str = r#"
#include "chat.h"

static char line[64];

void setup()
{
    Serial.begin(115200);
}

void loop()
{
    Serial.print("> ");
    uint8_t n = 0;
    for (;;) {
        while (!Serial.available())
            ;
        int c = Serial.read();
        if (c == '\n')
            break;
        if (n < sizeof line - 1)
            line[n++] = (char)c;
    }
    line[n] = 0;
    for (uint8_t i = 0; i < n; i++)
        line[i] = step_upper(line[i]);
    Serial.println(line);
}
"#;

const CHAT_H: &str = r#"
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
char step_upper(char c);
#ifdef __cplusplus
}
#endif
"#;

/// 80 rounds of a 250-count loop, long enough (over 60,000 cycles) for
/// Arduino's timer 0 to interrupt every call, then the case change.
const CHAT_S: &str = r#"
    .global step_upper
    .type step_upper, @function
step_upper:
    ldi r26, 80
0:  ldi r25, 250
1:  dec r25
    brne 1b
    dec r26
    brne 0b
    cpi r24, 'a'
    brlo 2f
    cpi r24, 'z'+1
    brsh 2f
    subi r24, 32
2:  ret
"#;

/// Cycles of `step_upper(c)`: the loop is 60240 cycles (the first `ldi`, 80
/// rounds of 1 + 250 + 2 × 249 + 1, 80 `dec` and 79 taken `brne` at 2, one
/// untaken at 1); then below 'a' costs a `cpi` and a taken `brlo` (3),
/// anything else two `cpi`, two untaken branches or one taken, and maybe a
/// `subi` (5); then `ret`.
fn step_upper_cycles(c: u8, ret: u64) -> u64 {
    60240 + ret + if c < b'a' { 3 } else { 5 }
}

#[test]
fn arduino_sketch_builds_for_every_board_and_serial_works_in_the_harness() {
    let tmp = scratch("sketch");
    let sketch = tmp.path().join("chat");
    std::fs::create_dir_all(&sketch).unwrap();
    write(&sketch, "chat.ino", CHAT_INO);
    write(&sketch, "chat.h", CHAT_H);
    write(&sketch, "step.S", CHAT_S);

    // The four core builds are independent; in parallel they take half the time.
    let builds: Vec<(&str, Result<PathBuf, AvrError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = zlmc_backends::avr::BOARDS
            .iter()
            .map(|b| {
                let sketch = &sketch;
                let dir = tmp.path().join(format!("build-{}", b.name));
                std::fs::create_dir_all(&dir).unwrap();
                s.spawn(move || (b.name, build_sketch(sketch, b.name, &dir)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let input = b"hello world 42\nabc\n";
    for (board, elf) in builds {
        let elf = or_skip!(elf);
        let info = arduino_board(board).and_then(|b| b.arduino).unwrap();
        let f_cpu = arduino_board(board).unwrap().clock_hz;
        let size = or_skip!(avr_size(&elf));
        assert!(
            (1000..8000).contains(&size.text),
            "{board}: {size:?} (Serial, the core and the sketch)"
        );
        assert!(
            size.static_ram() > 150,
            "{board}: Serial's buffers: {size:?}"
        );

        let report = or_skip!(run_firmware(&AvrRun {
            uart_input: input,
            step_symbol: Some("step_upper"),
            stop_on: Some(b"> "),
            ..AvrRun::new(&elf, info.mcu, f_cpu)
        }));
        assert_eq!(
            text(&report),
            "> HELLO WORLD 42\r\n> ABC\r\n> ",
            "{board}: {report:?}"
        );
        assert_eq!(report.exit, AvrExit::Prompt, "{board}");
        let ret = if info.mcu == "atmega2560" { 5 } else { 4 };
        let expected: Vec<u64> = input
            .iter()
            .filter(|&&c| c != b'\n')
            .map(|&c| step_upper_cycles(c, ret))
            .collect();
        assert_eq!(report.step_cycles, expected, "{board}");
        // Timer 0 ticks every 16,384 cycles at 16 MHz (prescaler 64, 256
        // counts), so each call is interrupted; the ticks are not its cycles.
        assert!(
            report.step_interrupt_cycles.iter().all(|&c| c > 0),
            "{board}: {:?}",
            report.step_interrupt_cycles
        );
        assert!(report.free_ram().unwrap() > 1000, "{board}: {report:?}");
    }
}

#[test]
fn unknown_boards_are_errors() {
    let tmp = scratch("unknown-board");
    let err = build_sketch(tmp.path(), "leonardo", tmp.path()).unwrap_err();
    assert!(matches!(err, AvrError::UnknownBoard { .. }), "{err}");
    assert!(err.to_string().contains("mega2560"), "{err}");
}
