; zlmc CP/M front-end for character-generation models (z80ai's CHAT.COM).
;
;   CHAT some words    answers once and returns to CP/M
;   CHAT               chat loop: CR LF and "> ", read a line (BDOS 10),
;                      CR LF, answer; an empty line prompts again, a line
;                      starting with "!" returns to CP/M
;
; An answer is printed one character at a time (BDOS 2) as the model
; generates it, with no line end of its own: the next prompt's CR LF, or
; the CCP's after a command-tail answer, ends the line, as in z80ai.
;
; The generated model code defines, before this text: QBUCKETS QOFFSET
; QVALUE CBUCKETS COFFSET CVALUE CTXLEN ZIN_LEN MAXLEN EOS STACK_TOP
; LINEBUF CTXLIST; after it: zin (ZIN_LEN words), model_step (A = class;
; may clobber every register, IX, IY and the alternate set) and charset (a
; byte per class).
; Every name defined here starts with rt_ (start is in frontend.asm).
;
rt_conout: equ 2

; Answer the line in rt_len/rt_text: at most MAXLEN steps, each printing
; charset[class] and pushing its lower case into the context, until EOS.
rt_reply:
        call rt_query
        call rt_fill_query      ; zin: the query part, for the whole reply
        call model_query        ; a new query: the model may keep work for the reply
        ld a, CTXLEN            ; the context starts as CTXLEN spaces
        or a
        jr z, rt_gen
        ld b, a
        ld hl, rt_ctx
rt_space:
        ld (hl), ' '
        inc hl
        djnz rt_space
rt_gen:
        ld hl, MAXLEN
        ld (rt_left), hl
rt_next:
        ld hl, (rt_left)
        ld a, h
        or l
        ret z                   ; MAXLEN characters: the reply is cut here
        dec hl
        ld (rt_left), hl
        call rt_fill
        call model_step         ; registers are all gone after this
        push af
        call rt_unfill          ; zin: the query part alone again
        pop af
        cp EOS
        ret z
        ld l, a
        ld h, 0
        ld de, charset
        add hl, de
        ld a, (hl)
        push af                 ; the BDOS keeps no register
        ld e, a
        ld c, rt_conout
        call rt_bdos
        pop af
        cp 'A'                  ; lower case A-Z, as the query is
        jr c, rt_push
        cp 'Z'+1
        jr nc, rt_push
        add a, 32
rt_push:
        ld b, CTXLEN            ; slide it in from the right: each byte moves
        inc b                   ; one place left and the oldest falls out
        dec b
        jr z, rt_next
        ld hl, rt_ctx+CTXLEN-1
rt_slide:
        ld c, (hl)
        ld (hl), a
        ld a, c
        dec hl
        djnz rt_slide
        jr rt_next

; Before each step, add the context n-grams to zin (which holds the query
; part alone: model_step leaves zin as it is), noting the address of each
; bucket hit in the list at CTXLIST; after the step, zero the buckets listed
; (the context part is all zeros but for them), which costs no hashing.
rt_unfill:
        call rt_noctx
        ret z
        ld hl, CTXLIST
rt_unlp:
        ld e, (hl)
        inc hl
        ld d, (hl)
        inc hl
        ld a, d                 ; a 0 word ends the list (zin is not in
        or a                    ; page 0)
        ret z
        xor a
        ld (de), a
        inc de
        ld (de), a
        jr rt_unlp

; Z if the model has no context n-grams to fill.
rt_noctx:
        ld hl, CBUCKETS
        ld a, h
        or l
        ret z
        ld a, CTXLEN
        or a
        ret

; Add CVALUE to the bucket of each context n-gram: for each position pos
; and n = 1..3 (while bytes last), h = pos*7, then h = h*31 + c for each
; byte of ctx[pos..pos+n]. The three n-grams at one position share their
; prefix, so one chain makes all three.
rt_fill:
        call rt_noctx
        ret z
        exx                     ; the buckets in the alternate set:
        ld bc, CTXLIST          ; bc' = where the next address is noted,
        ld de, zin+COFFSET+COFFSET ; de' = the first context word
        exx
        ld b, a                 ; B = bytes from pos to the end
        ld c, 0                 ; C = pos*7
        ld hl, rt_ctx
rt_cpos:
        push hl
        push bc
        ld a, b
        cp 3
        jr c, rt_cn
        ld a, 3
rt_cn:
        ld b, a                 ; n-grams of 1..min(3, B) bytes start here
        ld a, c
rt_cgram:
        ld c, a
        rrca
        rrca
        rrca
        and 224
        sub c
        add a, (hl)             ; h = h*31 + c
        inc hl
        ld c, a
        exx
        and CBUCKETS-1
        ld l, a
        ld h, 0
        add hl, hl
        add hl, de
        ld a, l                 ; noted for rt_unfill
        ld (bc), a
        inc bc
        ld a, h
        ld (bc), a
        inc bc
        ld a, (hl)              ; 16-bit add, wrapping
        add a, 255 & CVALUE
        ld (hl), a
        inc hl
        ld a, (hl)
        adc a, 255 & CVALUE >> 8
        ld (hl), a
        exx
        ld a, c
        djnz rt_cgram
        pop bc
        pop hl
        inc hl
        ld a, c
        add a, 7
        ld c, a
        djnz rt_cpos
        exx                     ; the list's end
        xor a
        ld (bc), a
        inc bc
        ld (bc), a
        exx
        ret

rt_prompt:
        db 13, 10, "> $"
rt_crlf:
        db 13, 10, "$"
rt_left:
        dw 0                    ; characters the reply may still print
rt_ctx:
        ds CTXLEN               ; the reply's last CTXLEN bytes, lower case
