/*
 * zlmc's simulator firmware for AVR models: a plain avr-libc program (no
 * Arduino core) that `zlmc sim --target avr` and the tests run in simavr.
 *
 * It talks over UART0 (polled, 8N1, as fast as the clock allows): it sends
 * the prompt byte ZLMC_PROMPT (0x05, which no reply holds), reads a line up
 * to '\n' (a '\r' before it is dropped; at most ZLMC_LINE - 1 bytes are
 * kept) and answers it, then prompts again:
 *
 *   ZLMC_MODE_REPLY     the line is a query: NAME_reply's bytes, then '\n'
 *   ZLMC_MODE_CLASSIFY  the line is a text: NAME_label(NAME_classify(line)), '\n'
 *   ZLMC_MODE_VECTOR    the line holds up to NAME_INPUTS integers (missing
 *                       ones are 0): NAME_step's logits, " | ", NAME_predict's
 *                       class, '\n'
 *
 * A small C file written by zlmc includes the model's header, defines the
 * mode and the ZLMC_* names for the model's functions, and includes this file.
 */
#include <avr/io.h>
#include <stdint.h>
#include <stdlib.h>

#define ZLMC_PROMPT 0x05
#ifndef ZLMC_LINE
#define ZLMC_LINE 256
#endif

static void uart_init(void)
{
    /* U2X, UBRR 0: F_CPU / 8 baud, which simavr delivers without loss. */
    UBRR0H = 0;
    UBRR0L = 0;
    UCSR0A = 1 << U2X0;
    UCSR0B = (1 << RXEN0) | (1 << TXEN0);
    UCSR0C = 3 << UCSZ00;
}

#include "zlmc_uart_poll.h"

static void put_str(const char *s)
{
    while (*s)
        put((uint8_t)*s++);
}

#if defined(ZLMC_MODE_VECTOR)
static int16_t input[ZLMC_INPUTS];
static int16_t logits[ZLMC_CLASSES];

/* Reads integers up to the end of the line into input[]. */
static void read_vector(void)
{
    uint16_t i = 0;
    int32_t v = 0;
    uint8_t digits = 0, neg = 0, c;

    for (i = 0; i < ZLMC_INPUTS; i++)
        input[i] = 0;
    i = 0;
    do {
        c = get();
        if (c == '-') {
            neg = 1;
        } else if (c >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            digits = 1;
        } else {
            if (digits && i < ZLMC_INPUTS)
                input[i++] = (int16_t)(neg ? -v : v);
            v = 0;
            digits = 0;
            neg = 0;
        }
    } while (c != '\n');
}

static void put_int(int16_t v)
{
    char buf[8];

    put_str(itoa(v, buf, 10));
}
#else
static char line[ZLMC_LINE];

/* Reads a line into line[], NUL-terminated. */
static void read_line(void)
{
    uint16_t n = 0;
    uint8_t c;

    while ((c = get()) != '\n') {
        if (n < ZLMC_LINE - 1)
            line[n++] = (char)c;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
}
#endif

#if defined(ZLMC_MODE_REPLY)
static char reply[ZLMC_REPLY_CAP];
#endif

int main(void)
{
    uart_init();
    for (;;) {
        put(ZLMC_PROMPT);
#if defined(ZLMC_MODE_REPLY)
        read_line();
        size_t n = ZLMC_REPLY(line, reply, sizeof reply);
        for (size_t i = 0; i < n; i++)
            put((uint8_t)reply[i]);
#elif defined(ZLMC_MODE_CLASSIFY)
        read_line();
        put_str(ZLMC_LABEL(ZLMC_CLASSIFY(line)));
#else
        read_vector();
        ZLMC_STEP(input, logits);
        for (uint16_t i = 0; i < ZLMC_CLASSES; i++) {
            if (i > 0)
                put(' ');
            put_int(logits[i]);
        }
        put_str(" | ");
        put_int((int16_t)ZLMC_PREDICT(input));
#endif
        put('\n');
    }
}
