/*
 * Polled UART0 byte I/O for zlmc's simulator firmware and the harness tests
 * (written beside them as zlmc_uart_poll.h): put waits for room, get for a byte.
 */
#ifndef ZLMC_UART_POLL_H
#define ZLMC_UART_POLL_H

#include <avr/io.h>
#include <stdint.h>

static void put(uint8_t c)
{
    while (!(UCSR0A & (1 << UDRE0)))
        ;
    UDR0 = c;
}

static uint8_t get(void)
{
    while (!(UCSR0A & (1 << RXC0)))
        ;
    return UDR0;
}

#endif
