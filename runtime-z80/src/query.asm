; Shared by chat.asm and classify.asm (the crate appends it to both).
;
; The query part of the input depends only on the line, so its trigrams are
; hashed once per line into a list of bucket numbers (rt_nq of them, at
; rt_len), which rt_fill_query adds up. The list overwrites the text behind
; the trigram being read, so it needs no memory of its own.
rt_query:
        xor a
        ld (rt_nq), a
        ld hl, QBUCKETS         ; no query encoder: no trigrams
        ld a, h
        or l
        ret z
        ld hl, rt_len
        ld b, (hl)
        inc hl
rt_skip:
        ld a, b                 ; leading spaces do not count; a line of
        or a                    ; nothing else leaves the buckets at 0
        ret z
        ld a, (hl)
        cp ' '
        jr nz, rt_body
        inc hl
        dec b
        jr rt_skip
rt_body:
        ld a, b                 ; n bytes padded with a space each side:
        ld (rt_nq), a           ; s0 = ' ', s1..sn, s(n+1) = ' ', n trigrams
        push hl
rt_lower:
        ld a, (hl)
        cp 'A'
        jr c, rt_lowered
        cp 'Z'+1
        jr nc, rt_lowered
        add a, 32
        ld (hl), a
rt_lowered:
        inc hl
        djnz rt_lower
        ld (hl), ' '            ; s(n+1): rt_text has a byte spare for it
        pop hl
        ld a, (rt_nq)
        ld b, a
        ; Trigram k (from 0) is s[k] s[k+1] s[k+2]; its bucket goes to
        ; rt_len+k, which is at or before s[k], already hashed.
        ld de, rt_len
        ld a, (hl)
        add a, 224              ; s0*31 + s1, as ' '*31 = 992 = 224 mod 256
        ld c, a
rt_tri:
        ld a, c                 ; C = s[k]*31 + s[k+1], HL -> s[k+1]
        rrca
        rrca
        rrca
        and 224
        sub c
        inc hl
        add a, (hl)             ; h = C*31 + s[k+2]
        and QBUCKETS-1
        ld (de), a
        inc de
        dec hl
        ld a, (hl)              ; the next C: s[k+1]*31 + s[k+2]
        rrca
        rrca
        rrca
        and 224
        sub (hl)
        inc hl
        add a, (hl)
        ld c, a
        djnz rt_tri
        ret

; zin all zeros, once at the start: after that the query part is zeroed
; for each line, and the context part is zero between steps (chat.asm).
rt_zero_zin:
        ld hl, zin
        ld de, zin+1
        ld bc, ZIN_LEN+ZIN_LEN-1
        ld (hl), 0
        ldir
        ret

; Zero the query part, then add QVALUE per query trigram listed by rt_query
; (once per line: model_step leaves zin as it is).
rt_fill_query:
        ld hl, QBUCKETS         ; no query encoder: nothing to fill
        ld a, h
        or l
        ret z
        ld hl, zin+QOFFSET+QOFFSET
        ld de, zin+QOFFSET+QOFFSET+1
        ld bc, QBUCKETS+QBUCKETS-1
        ld (hl), 0
        ldir
        ld a, (rt_nq)
        or a
        ret z
        ld b, a
        ld hl, rt_len
rt_fillq:
        ld a, (hl)
        inc hl
        push hl
        ld l, a
        ld h, 0
        add hl, hl
        ld de, zin+QOFFSET+QOFFSET
        add hl, de
        ld a, (hl)              ; 16-bit add, wrapping
        add a, 255 & QVALUE
        ld (hl), a
        inc hl
        ld a, (hl)
        adc a, 255 & QVALUE >> 8
        ld (hl), a
        pop hl
        djnz rt_fillq
        ret

rt_nq:
        db 0                    ; query trigrams in the bucket list
