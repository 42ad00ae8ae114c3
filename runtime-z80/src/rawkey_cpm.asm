; raw.asm's keys on CP/M: BDOS 1, which waits for a key and echoes it.
rt_getkey:
        ld c, 1
        jp rt_bdos
