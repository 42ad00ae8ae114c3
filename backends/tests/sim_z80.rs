//! The CP/M machine of `zlmc_backends::sim::z80`, driven by small programs that z80asm
//! assembles from the sources below.

use std::time::Instant;

use zlmc_test_support::tools::z80asm;

use zlmc_backends::sim::z80::{CCP_BASE, INITIAL_SP};
use zlmc_backends::sim::{run_cpm, CpmReport, CpmRun, Exit, SimError};

/// Prints the B bytes at HL with BDOS 2 (label `show`).
const SHOW: &str = "show:   push bc
        push hl
        ld e,(hl)
        ld c,2
        call 5
        pop hl
        pop bc
        inc hl
        djnz show
";

fn run_with(program: &[u8], tail: &[u8], input: &[u8], step: Option<u16>) -> CpmReport {
    run_cpm(&CpmRun {
        program,
        command_tail: tail,
        console_input: input,
        step_entry: step,
        max_tstates: 10_000_000,
    })
    .unwrap()
}

fn run(program: &[u8]) -> CpmReport {
    run_with(program, b"", b"", None)
}

fn text(report: &CpmReport) -> String {
    String::from_utf8_lossy(&report.output).into_owned()
}

#[test]
fn prints_strings_characters_and_expands_tabs() {
    let com = z80asm(
        r#"
        org 0x100
        ld c,9
        ld de,hello
        call 5
        ld c,2
        ld e,'!'
        call 5
        ld c,9
        ld de,tabbed
        call 5
        ld c,6          ; direct output: no tab expansion
        ld e,9
        call 5
        ld c,'b'        ; BIOS CONOUT, found through the jump at 0x0000
        call conout
        ret
conout: ld hl,(1)
        ld l,0x0c
        jp (hl)
hello:  defm "Hello$"
tabbed: defb 13,10
        defm "ab"
        defb 9
        defm "c$"
"#,
    );
    let report = run(&com);
    assert_eq!(report.exit, Exit::WarmBoot);
    assert_eq!(text(&report), "Hello!\r\nab      c\tb");
    assert!(report.unknown_bdos_functions.is_empty());
}

#[test]
fn reads_lines_with_echo_into_the_buffer() {
    let com = z80asm(&format!(
        r#"
        org 0x100
again:  ld c,9
        ld de,prompt
        call 5
        ld c,10
        ld de,buf
        call 5
        ld a,(buf+1)    ; the count, as a digit
        add a,'0'
        ld e,a
        ld c,2
        call 5
        ld hl,buf+2     ; all 8 bytes of the buffer
        ld b,8
{SHOW}        ld c,9
        ld de,crlf
        call 5
        jp again
prompt: defm "> $"
crlf:   defb 13,10,'$'
buf:    defb 8,0xff
        defm "........"
"#
    ));
    let report = run_with(&com, b"", b"hello\nabcdefghij\r\n", None);
    assert_eq!(report.exit, Exit::InputExhausted);
    // BDOS 2.2 echoes the line and a lone CR; a full buffer ends the line, and
    // the rest of the typed line is read next time.
    assert_eq!(
        text(&report),
        "> hello\r5hello...\r\n> abcdefgh\r8abcdefgh\r\n> ij\r2ijcdefgh\r\n> "
    );
}

#[test]
fn host_line_ends_reach_the_program_as_one_cr() {
    let com = z80asm(
        r#"
        org 0x100
loop:   ld c,1
        call 5
        cp 13
        jr nz,loop
        ld c,2
        ld e,'|'
        call 5
        jr loop
"#,
    );
    let report = run_with(&com, b"", b"a\r\nb\rc\nd", None);
    assert_eq!(report.exit, Exit::InputExhausted);
    assert_eq!(text(&report), "a\r|b\r|c\r|d");
}

#[test]
fn command_tail_is_upper_cased_with_its_leading_space() {
    let com = z80asm(&format!(
        r#"
        org 0x100
        ld hl,(6)       ; the BDOS jump gives the top of the TPA
        ld de,0xe406
        or a
        sbc hl,de
        jr nz,bad
        ld hl,(1)       ; the warm boot jump gives the BIOS
        ld de,0xf203
        or a
        sbc hl,de
        jr nz,bad
        ld c,2
        ld e,'['
        call 5
        ld hl,0x80
        ld a,(hl)
        inc hl
        or a
        jr z,done
        ld b,a
{SHOW}done:   ld a,(hl)       ; the byte after the tail
        add a,'0'
        ld (end),a
        ld c,9
        ld de,end-1
        call 5
        ret
bad:    ld c,9
        ld de,badmsg
        call 5
        ret
badmsg: defm "bad page zero$"
        defm "]"
end:    defm "?$"
"#
    ));
    let report = run_with(&com, b"hello World", b"", None);
    assert_eq!(text(&report), "[ HELLO WORLD]0");
    let report = run_with(&com, b"  two-spaces", b"", None);
    assert_eq!(text(&report), "[  TWO-SPACES]0");
    let report = run_with(&com, b"", b"", None);
    assert_eq!(text(&report), "[]0");
    assert_eq!(report.exit, Exit::WarmBoot);
}

#[test]
fn warm_boots_via_jp_0_ret_and_function_0() {
    for (name, source) in [
        ("wboot_jp", "org 0x100\n jp 0\n"),
        ("wboot_ret", "org 0x100\n ret\n"),
        ("wboot_bdos", "org 0x100\n ld c,0\n call 5\n halt\n"),
    ] {
        let report = run(&z80asm(source));
        assert_eq!(report.exit, Exit::WarmBoot, "{name}");
        assert!(report.output.is_empty(), "{name}");
    }
}

#[test]
fn version_and_unknown_functions() {
    let com = z80asm(
        r#"
        org 0x100
        ld c,15         ; open file: not served
        ld de,0x5c
        call 5
        or a
        jr nz,bad
        ld c,12
        call 5
        ld de,0x0022
        or a
        sbc hl,de
        jr nz,bad
        cp 0x22
        jr nz,bad
        ld c,9
        ld de,ok
        call 5
bad:    ret
ok:     defm "2.2$"
"#,
    );
    let report = run(&com);
    assert_eq!(text(&report), "2.2");
    assert_eq!(report.unknown_bdos_functions, vec![15]);
}

#[test]
fn counts_a_djnz_loop_exactly() {
    let com = z80asm("org 0x100\n ld b,10\nloop: djnz loop\n halt\n");
    let report = run(&com);
    assert_eq!(report.exit, Exit::Halted);
    assert_eq!(report.total_tstates, 7 + 9 * 13 + 8 + 4);
    assert_eq!(report.instructions, 12);
}

#[test]
fn counts_tstates_as_the_zilog_manual() {
    // The lines iz80's own tables get wrong are marked.
    let lines: &[(&str, u64)] = &[
        ("xor a", 4),
        ("jp nz,0", 10),     // iz80: 7
        ("jp z,t1", 10),     // iz80: 12
        ("t1: jr nz,t1", 7), // iz80: 8
        ("jr z,t2", 12),
        ("t2: ld ix,data", 14), // iz80 misses every DD/FD prefix
        ("ld a,(ix+1)", 19),
        ("inc (ix+1)", 23),
        ("ld (ix+0),5", 19),
        ("add a,(ix+0)", 19),
        ("push ix", 15),
        ("pop iy", 14),
        ("bit 0,(iy+1)", 20),
        ("set 1,(iy+1)", 23),
        ("add ix,de", 15),
        ("inc ix", 10),
        ("ld hl,src", 10),
        ("ld de,dst", 10),
        ("ld bc,3", 10),
        ("ldir", 21 + 21 + 16),
        ("ld ix,t3", 14),
        ("jp (ix)", 8),
        ("t3: ex (sp),ix", 23),
        ("ex (sp),ix", 23),
        ("ld a,(0x5000)", 13),
        ("halt", 4),
    ];
    let mut source = String::from(" org 0x100\n");
    for (line, _) in lines {
        source += &format!(" {line}\n");
    }
    source += "data: defb 0,0\nsrc: defb 1,2,3\ndst: defb 0,0,0\n";
    let report = run(&z80asm(&source));
    assert_eq!(report.exit, Exit::Halted);
    let expected: u64 = lines.iter().map(|(_, t)| t).sum();
    assert_eq!(report.total_tstates, expected);
}

#[test]
fn times_each_step_with_nested_and_bdos_calls() {
    let com = z80asm(
        r#"
        org 0x100
        call step
        call step
        ret
step:   ld b,3
sloop:  djnz sloop
        call inner
        ld c,2
        ld e,'x'
        call 5
        ret
inner:  nop
        ret
"#,
    );
    let report = run_with(&com, b"", b"", Some(0x0107));
    // ld b 7, djnz 13+13+8, call inner 17 + nop 4 + ret 10, ld 7 + ld 7,
    // call 5 17 + the jp at 0x0005 10 (the BDOS itself is free), ret 10.
    let step = 7 + 34 + 17 + 4 + 10 + 7 + 7 + 17 + 10 + 10;
    assert_eq!(report.step_tstates, vec![step, step]);
    // Two calls, the final ret and the jp at 0x0000 to the BIOS warm boot.
    assert_eq!(report.total_tstates, 2 * (17 + step) + 10 + 10);
    assert_eq!(text(&report), "xx");
    assert_eq!(report.exit, Exit::WarmBoot);
}

#[test]
fn reports_highest_write_and_lowest_sp() {
    let com = z80asm(
        r#"
        org 0x100
        ld sp,0x8000
        ld a,1
        ld (0xc123),a
        ld hl,0x9000
        ld (hl),a
        push af
        push af
        pop af
        pop af
        ld sp,0xdbfe
        ret
"#,
    );
    let report = run(&com);
    assert_eq!(report.exit, Exit::WarmBoot);
    assert_eq!(report.highest_write, 0xC123);
    assert_eq!(report.lowest_sp, 0x7FFC);

    let report = run(&z80asm("org 0x100\n ret\n"));
    assert_eq!(report.highest_write, 0);
    assert_eq!(report.lowest_sp, INITIAL_SP);
    assert!(report.highest_write < CCP_BASE && report.lowest_sp < CCP_BASE);
}

#[test]
fn counts_console_calls_with_interrupts_disabled() {
    let com = z80asm(
        r#"
        org 0x100
        ld c,12         ; not a console call
        call 5
        di
        ld c,2
        ld e,'a'
        call 5
        ei
        ld c,2
        ld e,'b'
        call 5
        ret
"#,
    );
    let report = run(&com);
    assert_eq!(text(&report), "ab");
    assert_eq!(report.console_calls_with_interrupts_disabled, 1);
}

#[test]
fn stops_after_max_tstates_without_the_unfinished_step() {
    let com = z80asm("org 0x100\n call spin\n ret\nspin: jr spin\n");
    let report = run_cpm(&CpmRun {
        program: &com,
        command_tail: b"",
        console_input: b"",
        step_entry: Some(0x0104),
        max_tstates: 1000,
    })
    .unwrap();
    assert_eq!(report.exit, Exit::TimedOut);
    assert!(report.total_tstates > 1000 && report.total_tstates <= 1012);
    assert!(report.step_tstates.is_empty());
}

#[test]
fn rejects_programs_and_tails_that_do_not_fit() {
    let big = vec![0u8; 0xDAFF];
    let run = |program: &[u8], tail: &[u8]| {
        run_cpm(&CpmRun {
            program,
            command_tail: tail,
            console_input: b"",
            step_entry: None,
            max_tstates: 100,
        })
    };
    assert_eq!(
        run(&big, b"").unwrap_err(),
        SimError::ProgramTooLarge { len: 0xDAFF }
    );
    assert_eq!(run(&big[1..], b"").unwrap().exit, Exit::TimedOut);
    let tail = vec![b'x'; 127];
    assert_eq!(
        run(&[0xC9], &tail).unwrap_err(),
        SimError::TailTooLong { len: 128 }
    );
    assert_eq!(run(&[0xC9], &tail[1..]).unwrap().exit, Exit::WarmBoot);
}

/// Prints the emulator's speed: `cargo test [--release] -p zlmc-backends --test sim_z80 -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed() {
    // 256 × 256 × 64 inner iterations of a mixed loop body.
    let com = z80asm(
        r#"
        org 0x100
        ld ix,0x8000
        ld d,64
outer:  ld c,0
middle: ld b,0
inner:  ld a,(hl)
        add a,e
        ld (ix+1),a
        inc hl
        djnz inner
        dec c
        jp nz,middle
        dec d
        jp nz,outer
        halt
"#,
    );
    let start = Instant::now();
    let report = run_cpm(&CpmRun {
        program: &com,
        command_tail: b"",
        console_input: b"",
        step_entry: None,
        max_tstates: u64::MAX,
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.exit, Exit::Halted);
    println!(
        "{} instructions, {} T-states in {:.2} s: {:.1} M instructions/s, {:.1} M T-states/s",
        report.instructions,
        report.total_tstates,
        secs,
        report.instructions as f64 / secs / 1e6,
        report.total_tstates as f64 / secs / 1e6
    );
}
