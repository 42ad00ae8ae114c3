; zlmc front-end part for raw-input models (after frontend.asm or zx48.asm,
; before rawkey_cpm.asm or rawkey_zx48.asm, which define rt_getkey):
;
;   NAME 1 2 3 ...        the values as the command tail (CP/M): the answer,
;                         then back to CP/M
;   NAME                  loop: CR LF and "> ", a line of values read a key
;                         at a time as they are typed, CR LF, the answer; an
;                         empty line prompts again, a line starting with "!"
;                         returns
;
; A line holds ZIN_LEN decimal integers (the model's int16 inputs, the
; quantized features of a model quantized from a float one), separated by
; spaces, commas, tabs, VT or FF, with an optional "q" before the first
; (the Arduino sketch's prefix for integers). Each value goes into zin as it
; ends, so a line may be as long as its values need. The answer is the
; class label (BDOS 9), or for a line it cannot take "error: " and why:
; "the model takes N integers, the input has M", "value I is not an
; integer" or "value I is out of range for i16 (-32768..=32767)" (zlmc
; run's words, without the value's text). There is no line editing: a
; typed backspace makes the value it is in invalid.
;
; The generated model code defines, before this text: ZIN_LEN STACK_TOP
; LINEBUF; after it: zin (ZIN_LEN words), model_query, model_step (A =
; class) and labels. Every name defined here starts with rt_.

rt_rawout: equ 2                ; BDOS 2: print E

; The command tail's buffer: frontend.asm copies the tail to rt_len.
rt_buf: equ LINEBUF
rt_len: equ LINEBUF+1
rt_text: equ LINEBUF+2

; The values are all written at each line: zin needs no zeroing.
rt_zero_zin:
        ret

; The prompt, then a line of values into zin. Returns Z for an empty line,
; else NZ and A = its first byte ("!" is returned as soon as it is typed).
rt_getline:
        ld de, rt_prompt
        ld c, rt_print
        call rt_bdos
        call rt_begin
        ld a, 1
        ld (rt_fed), a
        ld (rt_first), a
rt_gl_key:
        call rt_getkey          ; A = the key, echoed; CR ends the line
        cp 13
        jr z, rt_gl_end
        ld b, a
        ld a, (rt_first)
        or a
        ld a, b
        jr z, rt_gl_feed
        xor a
        ld (rt_first), a
        ld a, b
        cp '!'
        jr nz, rt_gl_feed
        or a                    ; NZ, A = "!"
        ret
rt_gl_feed:
        call rt_feed
        jr rt_gl_key
rt_gl_end:
        call rt_endval
        ld de, rt_crlf
        ld c, rt_print
        call rt_bdos
        ld a, (rt_first)        ; 1 if nothing was typed
        xor 1
        ret

; Answer the values: from rt_getline, or else the command tail's.
rt_reply:
        ld a, (rt_fed)
        or a
        jr nz, rt_check
        call rt_begin
        ld hl, rt_len
        ld b, (hl)
        inc hl
rt_tail:
        ld a, b
        or a
        jr z, rt_tail_end
        ld a, (hl)
        push hl
        push bc
        call rt_feed
        pop bc
        pop hl
        inc hl
        dec b
        jr rt_tail
rt_tail_end:
        call rt_endval
rt_check:
        xor a
        ld (rt_fed), a
        ld hl, (rt_cnt)
        ld de, ZIN_LEN
        or a
        sbc hl, de
        jr nz, rt_err_count
        ld hl, (rt_bad)
        ld a, h
        or l
        jr nz, rt_err_value
        call model_query        ; every line is a new input
        call model_step         ; registers are all gone after this
        jp rt_answer

rt_err_count:
        ld de, rt_m_takes
        call rt_pstr
        ld hl, ZIN_LEN
        call rt_pdec
        ld de, rt_m_has
        call rt_pstr
        ld hl, (rt_cnt)
        jp rt_pdec

rt_err_value:
        ld de, rt_m_value
        call rt_pstr
        ld hl, (rt_bad)
        call rt_pdec
        ld a, (rt_why)
        cp 2
        ld de, rt_m_range
        jr z, rt_pstr
        ld de, rt_m_notint
rt_pstr:
        ld c, rt_print
        jp rt_bdos

; Print HL as an unsigned decimal number (BDOS 2).
rt_pdec:
        ld c, 0                 ; digits on the stack
rt_pd_div:
        push bc
        call rt_div10
        pop bc
        push af
        inc c
        ld a, h
        or l
        jr nz, rt_pd_div
rt_pd_out:
        pop af
        add a, '0'
        ld e, a
        push bc
        ld c, rt_rawout
        call rt_bdos
        pop bc
        dec c
        jr nz, rt_pd_out
        ret

; HL = HL / 10, A = the remainder.
rt_div10:
        xor a
        ld b, 16
rt_d10:
        add hl, hl
        rla
        cp 10
        jr c, rt_d10n
        sub 10
        inc l
rt_d10n:
        djnz rt_d10
        ret

; A new line: no values yet.
rt_begin:
        ld hl, 0
        ld (rt_cnt), hl
        ld (rt_bad), hl
        jp rt_valreset

; One typed byte A of the line.
rt_feed:
        cp ' '
        jr z, rt_endval
        cp ','
        jr z, rt_endval
        cp 9
        jr z, rt_endval
        cp 11
        jr z, rt_endval
        cp 12
        jr z, rt_endval
        ld b, a
        ld a, (rt_tok)
        ld c, a                 ; C: bytes of this value before this one
        ld a, b
        or 32
        cp 'q'                  ; "q" or "Q" before the first value: skipped
        jr nz, rt_fd_byte
        ld a, c
        ld hl, (rt_cnt)
        or h
        or l
        ret z
rt_fd_byte:
        ld a, 1
        ld (rt_tok), a
        ld a, b
        cp '-'
        jr z, rt_sign
        cp '+'
        jr z, rt_sign
        sub '0'
        cp 10
        jr nc, rt_invalid
        ld e, a
        ld d, 0
        ld a, 1
        ld (rt_ndig), a
        ld a, (rt_big)
        or a
        ret nz
        ld hl, (rt_val)         ; past 3276, ten times it is past 32768
        ld bc, 3277
        or a
        sbc hl, bc
        add hl, bc
        jr nc, rt_big_set
        ld b, h
        ld c, l
        add hl, hl
        add hl, hl
        add hl, bc
        add hl, hl
        add hl, de
        ld (rt_val), hl
        ld bc, 32769
        or a
        sbc hl, bc
        ret c
rt_big_set:
        ld a, 1
        ld (rt_big), a
        ret
rt_sign:
        ld a, c                 ; a sign only as the value's first byte
        or a
        jr nz, rt_invalid
        ld a, b
        cp '-'
        ret nz
        ld a, 1
        ld (rt_neg), a
        ret
rt_invalid:
        ld a, 1
        ld (rt_inv), a
        ret

; The end of a value (if one was typed): counted, and the first ZIN_LEN
; stored in zin unless one before them was bad.
rt_endval:
        ld a, (rt_tok)
        or a
        ret z
        ld hl, (rt_cnt)
        inc hl
        ld (rt_cnt), hl
        ld de, ZIN_LEN+1
        or a
        sbc hl, de
        jr nc, rt_valreset
        ld hl, (rt_bad)
        ld a, h
        or l
        jr nz, rt_valreset
        ld a, (rt_ndig)
        or a
        jr z, rt_notint
        ld a, (rt_inv)
        or a
        jr nz, rt_notint
        ld a, (rt_big)
        or a
        jr nz, rt_range
        ld hl, (rt_val)
        ld a, (rt_neg)
        or a
        jr z, rt_pos
        ex de, hl               ; -32768..0
        ld hl, 0
        or a
        sbc hl, de
        jr rt_store
rt_pos:
        bit 7, h                ; 32768 is out of range
        jr nz, rt_range
rt_store:
        ex de, hl
        ld hl, (rt_cnt)
        dec hl
        add hl, hl
        ld bc, zin
        add hl, bc
        ld (hl), e
        inc hl
        ld (hl), d
        jr rt_valreset
rt_notint:
        ld a, 1
        jr rt_mark
rt_range:
        ld a, 2
rt_mark:
        ld (rt_why), a
        ld hl, (rt_cnt)
        ld (rt_bad), hl
rt_valreset:
        ld hl, rt_val
        ld b, 7
        xor a
rt_vr:
        ld (hl), a
        inc hl
        djnz rt_vr
        ret

rt_prompt:
        db 13, 10, "> $"
rt_crlf:
        db 13, 10, "$"
rt_m_takes:
        db "error: the model takes $"
rt_m_has:
        db " integers, the input has $"
rt_m_value:
        db "error: value $"
rt_m_notint:
        db " is not an integer$"
rt_m_range:
        db " is out of range for i16 (-32768..=32767)$"

rt_fed:
        db 0                    ; 1: rt_getline has read the values
rt_first:
        db 0                    ; 1: no byte of the line yet
rt_cnt:
        dw 0                    ; values on the line
rt_bad:
        dw 0                    ; the first bad value (from 1), 0 if none
rt_why:
        db 0                    ; 1: not an integer, 2: out of range
rt_val:
        dw 0                    ; the value being read: its magnitude,
rt_neg:
        db 0                    ; a "-" before it,
rt_ndig:
        db 0                    ; some digit,
rt_tok:
        db 0                    ; some byte,
rt_inv:
        db 0                    ; a byte that is not a digit or sign,
rt_big:
        db 0                    ; and a magnitude past 32768
