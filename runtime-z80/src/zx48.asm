; zlmc ZX Spectrum 48K front-end, in place of frontend.asm: started from
; BASIC with RANDOMIZE USR, it clears the screen and runs the chat loop of
; the CP/M one (a prompt "> ", a typed line, the answer; an empty line
; prompts again, a line starting with "!" returns to BASIC).
;
; chat.asm and classify.asm talk to CP/M's BDOS (functions 2, 9 and 10
; through rt_bdos); here rt_bdos is a routine that does the same with the
; 48K ROM: RST 10h prints, the K channel's input routine reads keys. LF is
; not printed (CR alone is the Spectrum's new line).
;
; The ROMs: Sinclair's and OpenSE BASIC (3.2.1, the free one Debian
; ships). OpenSE keeps the published entry points but moves others (its
; KEY-INPUT is at 0x10A6, not 0x10A8), so the ROM is reached only where
; both have the same routine, each named below with why it is safe:
; - RST 10h and RST 38h: restart vectors, fixed by the Z80 itself;
; - CL_ALL (0x0DAF) and CHAN_OPEN (0x1601): entry points programs have
;   always called, which OpenSE keeps (the same code at the same address);
; - the K channel's input routine: called where the ROM itself keeps its
;   address, in the channel table (the word at CHANS + 2: K's entry is the
;   first), never at a fixed address;
; - system variables, at the same addresses in both: ERR_NR (IY's value),
;   FLAGS, MODE, SCR_CT, CHANS.
;
; What the ROM needs (why the di/ei and the restores below):
; - IY = 0x5C3A (ERR_NR, the base of the system variables) whenever an
;   interrupt may come: the ROM's RST 38h handler scans the keyboard
;   through IY, and every ROM routine used here reads IY too. The model
;   clobbers IY, so replies run with interrupts off and IY is set again
;   before any ROM call and before interrupts come back on.
; - HL' as BASIC left it when we return: the ROM's calculator keeps an
;   address there. The model clobbers the alternate set, so HL' is saved on
;   the ROM's stack at start and restored before the final ret.
; - The stack stays where BASIC put it (below RAMTOP, which the loader's
;   CLEAR sets below the code); a reply needs a few bytes of it.
; - Keys need interrupts on: the RST 38h handler is what reads the keyboard.
; The screen and the system variables are only touched through the ROM,
; and through the flags below (FLAGS bit 3: L mode, letters rather than
; keywords, on Sinclair's ROM, the 8-bit character set on OpenSE's, so it
; is put back as it was at the end; MODE; SCR_CT against "scroll?").
;
; Every name defined here starts with rt_, but for start.

rt_print: equ 9
rt_readline: equ 10
rt_sysvars: equ 0x5C3A          ; IY's value for the ROM
rt_flags: equ 0x5C3B            ; FLAGS
rt_mode: equ 0x5C41             ; MODE: 0 is K/L/C mode
rt_chans: equ 0x5C4F            ; CHANS: the channel table, K's entry first
rt_scr_ct: equ 0x5C8C           ; SCR_CT: scrolls left before "scroll?"
rt_cl_all: equ 0x0DAF           ; CL_ALL: clear the screen, open channel S
rt_chan_open: equ 0x1601        ; CHAN_OPEN: A = stream
rt_enter: equ 13
rt_delete: equ 12

start:
        di
        exx
        push hl                 ; HL' for BASIC, popped at rt_quit
        exx
        call model_init         ; the model's one-time setup, before any step
        call rt_zero_zin
        ld iy, rt_sysvars
        ld a, (rt_flags)
        ld (rt_flags_in), a     ; its bit 3 is put back at rt_quit
        xor a
        ld (rt_mode), a
        call rt_cl_all
        ei
rt_chat:
        call rt_getline
        jr z, rt_chat           ; empty line: prompt again
        cp '!'
        jr z, rt_quit
        di                      ; the model clobbers IY
        call rt_reply
        ld iy, rt_sysvars
        ei
        jr rt_chat
rt_quit:
        di
        exx
        pop hl
        exx
        ld iy, rt_sysvars
        ld a, (rt_flags_in)     ; FLAGS bit 3 as BASIC had it
        xor (iy+1)
        and 8
        xor (iy+1)
        ld (iy+1), a
        ld bc, 0                ; USR's value
        ei
        ret                     ; back to BASIC
rt_flags_in:
        ds 1

; BDOS 2 (E = a character), 9 (DE = a "$"-ended string) and 10 (DE = a
; line buffer: size, length, text), as CP/M does them; registers are lost.
; It may be called with interrupts off (during a reply): printing does not
; need them, and SCR_CT keeps the ROM from waiting for a key to scroll.
rt_bdos:
        ld iy, rt_sysvars
        ld a, c
        cp rt_readline
        jr z, rt_rdline
        cp rt_print
        ld a, e
        jr nz, rt_out
rt_str:
        ld a, (de)
        cp '$'
        ret z
        push de
        call rt_out
        pop de
        inc de
        jr rt_str

; Print A on the upper screen, LF left out.
rt_out:
        cp 10
        ret z
        push af
        ld a, 255
        ld (rt_scr_ct), a
        ld a, 2                 ; the upper screen, in case the ROM opened K
        call rt_chan_open
        pop af
        rst 0x10
        ret

; Read a line into (DE) with the ROM's keyboard, echoing it; DELETE rubs
; out, ENTER ends it (not stored, not echoed: the caller prints CR LF).
rt_rdline:
        ei                      ; keys come from the interrupt handler
        inc de
        xor a
        ld (de), a              ; length 0
rt_key:
        push de
        set 3, (iy+1)           ; FLAGS: L mode, letters not keywords
        call rt_k_input
        pop de
        jr nc, rt_key           ; no key yet
        cp rt_enter
        ret z
        cp rt_delete
        jr z, rt_rub
        cp ' '
        jr c, rt_key            ; other control keys: ignored
        cp 128
        jr nc, rt_key           ; keywords and graphics: ignored
        ld c, a
        dec de
        ld a, (de)              ; the buffer's size
        inc de
        ld b, a
        ld a, (de)
        cp b
        jr nc, rt_key           ; full: only ENTER and DELETE now
        inc a
        ld (de), a
        ld l, a                 ; store at text + length - 1
        ld h, 0
        add hl, de
        ld (hl), c
        ld a, c
rt_echo:
        push de
        call rt_out
        pop de
        jr rt_key
rt_rub:
        ld a, (de)
        or a
        jr z, rt_key
        dec a
        ld (de), a
        push de
        ld a, 8                 ; back, a space over it, back again
        call rt_out
        ld a, ' '
        call rt_out
        pop de
        ld a, 8
        jr rt_echo

; The K channel's input routine (carry and A = the key, if one came), at
; the address the channel table holds: both ROMs read it there too, and
; point it elsewhere for the byte after a colour key.
rt_k_input:
        ld hl, (rt_chans)
        inc hl
        inc hl
        ld a, (hl)
        inc hl
        ld h, (hl)
        ld l, a
        jp (hl)
