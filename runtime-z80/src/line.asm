; Shared by both front-ends (the crate appends it to every program): the
; prompt, one line read into rt_buf (BDOS 10, or the Spectrum front-end's
; stand-in for it), then CR LF, as BDOS 10 ends with a lone CR.
; Returns Z for an empty line, else NZ and A = its first byte.
rt_getline:
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

rt_buf:
        db 127                  ; BDOS 10 buffer: size, length, text
rt_len:
        db 0
rt_text:
        ds 128                  ; 127 bytes of text and the pad
