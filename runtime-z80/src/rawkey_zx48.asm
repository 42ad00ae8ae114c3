; raw.asm's keys on the Spectrum, through zx48.asm's rt_k_input: wait for a key
; (interrupts on: the ROM's interrupt handler reads the keyboard), echo a
; printable one; ENTER comes back as CR (13, not echoed), DELETE as a
; backspace (8, not echoed: raw.asm has no line editing); other keys are
; ignored.
rt_getkey:
        ei
        ld iy, rt_sysvars
rt_getkey_wait:
        set 3, (iy+1)           ; FLAGS: L mode, letters not keywords
        call rt_k_input
        jr nc, rt_getkey_wait   ; no key yet
        cp rt_enter
        ret z
        cp rt_delete
        jr z, rt_getkey_bs
        cp ' '
        jr c, rt_getkey_wait    ; other control keys: ignored
        cp 128
        jr nc, rt_getkey_wait   ; keywords and graphics: ignored
        push af
        call rt_out
        pop af
        ret
rt_getkey_bs:
        ld a, 8
        ret
