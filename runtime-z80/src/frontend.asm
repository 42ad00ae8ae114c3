; zlmc CP/M front-end, the part chat.asm and classify.asm share (the crate
; puts it first, so `start` is at 0x100): the command tail or the chat loop,
; each line answered by rt_reply, which the model-specific part defines.
;
; Hashing in 8 bits: a bucket is h & (BUCKETS-1) with BUCKETS a power of
; two up to 256, so only h mod 256 matters; and h mod 256 depends only on
; the operands mod 256, as every step is a sum or product. So the 16-bit
; hashes of z80ai are computed here in A, and h*31 is h*32-h: three rrca
; and an and make h*32 (mod 256).

rt_bdos: equ 5
rt_print: equ 9
rt_readline: equ 10

start:
        ld sp, STACK_TOP
        call model_init         ; the model's one-time setup, before any step
        call rt_zero_zin
        ld hl, 0x80             ; CP/M's command tail: length, then the text
        ld a, (hl)
        or a
        jr z, rt_chat
        ; Copy length and text into the line buffer: the encoder writes a
        ; pad byte after the text, and a 127-byte tail ends at 0xFF.
        ld c, a
        ld b, 0
        inc c
        ld de, rt_len
        ldir
        call rt_reply
        rst 0                   ; warm boot: back to CP/M

rt_chat:
        call rt_getline
        jr z, rt_chat           ; empty line: prompt again
        cp '!'
        jp z, 0                 ; "!...": back to CP/M
        call rt_reply
        jr rt_chat
