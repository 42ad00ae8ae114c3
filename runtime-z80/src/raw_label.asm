; The answer of a raw-input classifier (after raw.asm): the label of class
; A, printed with BDOS 9.
rt_answer:
        ld l, a
        ld h, 0
        add hl, hl
        ld de, labels
        add hl, de
        ld e, (hl)
        inc hl
        ld d, (hl)
        jp rt_pstr
