; Shared by both front-ends (the crate appends it to every program): the
; prompt, one line read into rt_buf (BDOS 10, or the Spectrum front-end's
; stand-in for it), then CR LF, as BDOS 10 ends with a lone CR.
; Returns Z for an empty line, else NZ and A = its first byte.
rt_getline:
        ld hl, rt_buf
        ld (hl), 127            ; the buffer's size, for BDOS 10
        ld de, rt_prompt
        ld c, rt_print
        call rt_bdos
        ld de, rt_buf
        ld c, rt_readline
        call rt_bdos
        ld de, rt_crlf
        ld c, rt_print
        call rt_bdos
        ld a, (rt_len)
        or a
        ret z
        ld a, (rt_text)         ; loads leave the flags as they are: NZ
        ret

; The BDOS 10 buffer (size, length, 127 bytes of text and the pad) is in
; the model's RAM (LINEBUF, in its variables' page), not in the program.
rt_buf: equ LINEBUF
rt_len: equ LINEBUF+1
rt_text: equ LINEBUF+2
