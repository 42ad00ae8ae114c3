; The answer of a raw-input values model (after raw.asm): the last layer's
; NOUT int16 outputs, which model_step leaves at zout, as signed decimal
; numbers separated by spaces (BDOS 2). zlmc sim scales them as zlmc run
; prints them: OUTPUT_SCALE * (q - OUTPUT_ZERO_POINT).
rt_answer:
        ld hl, zout
rt_av_next:
        ld e, (hl)
        inc hl
        ld d, (hl)
        inc hl
        push hl
        ex de, hl
        call rt_psdec
        pop hl
        push hl
        ld de, zout+NOUT+NOUT
        or a
        sbc hl, de
        pop hl
        ret z
        push hl
        ld e, ' '
        ld c, rt_rawout
        call rt_bdos
        pop hl
        jr rt_av_next

; Print HL as a signed decimal number.
rt_psdec:
        bit 7, h
        jp z, rt_pdec
        push hl
        ld e, '-'
        ld c, rt_rawout
        call rt_bdos
        pop hl
        ex de, hl
        ld hl, 0
        or a
        sbc hl, de
        jp rt_pdec
