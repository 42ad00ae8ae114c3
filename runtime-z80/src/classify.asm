; zlmc CP/M front-end for text classifiers.
;
;   CLASSIFY some words   prints the class label once, returns to CP/M
;   CLASSIFY              loop: CR LF and "> ", read a line (BDOS 10),
;                         CR LF, print its label; an empty line prompts
;                         again, a line starting with "!" returns to CP/M
;
; One inference step per line. The label is printed with BDOS 9 and no line
; end of its own: the next prompt's CR LF, or the CCP's after a
; command-tail answer, ends the line (the same framing as chat.asm, z80ai's
; CHAT.COM).
;
; The generated model code defines, before this text: QBUCKETS QOFFSET
; QVALUE ZIN_LEN STACK_TOP LINEBUF; after it: zin (ZIN_LEN words), model_step
; (A = class; may clobber every register, IX, IY and the alternate set) and
; labels (a dw per class, each pointing at a "$"-terminated string). Every
; name defined here starts with rt_ (start is in frontend.asm).
;

; Classify the line in rt_len/rt_text and print its label.
rt_reply:
        call rt_query
        call rt_fill_query      ; the query trigrams are all of zin
        call model_query        ; every line is a new query
        call model_step         ; registers are all gone after this
        ld l, a
        ld h, 0
        add hl, hl
        ld de, labels
        add hl, de
        ld e, (hl)
        inc hl
        ld d, (hl)
        ld c, rt_print
        jp rt_bdos              ; the BDOS returns to our caller

rt_prompt:
        db 13, 10, "> $"
rt_crlf:
        db 13, 10, "$"
