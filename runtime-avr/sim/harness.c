/*
 * harness.c: runs an AVR firmware ELF in simavr for zlmc's tests and `zlmc sim`.
 *
 * Build (Debian: gcc, libsimavr-dev):
 *     cc -O2 -o harness harness.c -lsimavr
 *
 * Usage:
 *     harness --mcu atmega328p --freq 16000000 --elf FIRMWARE.elf
 *             [--step-addr BYTEADDR] [--stop-on STRING]
 *             [--max-cycles N] [--idle-cycles N]
 *
 * stdin   bytes typed into UART0, read whole before the run starts.
 * stdout  every byte the firmware sent on UART0, raw, written at the end.
 * stderr  the report, one "report KEY VALUE..." line each (below), mixed
 *         with simavr's own messages, which never start with "report ".
 *
 * Input pacing. Bytes reach UART0's receiver through simavr's input IRQ and
 * follow its XON/XOFF IRQs the way simavr's uart_pty part does: send while
 * XON, stop at XOFF, go on at the next XON. simavr then delivers them at the
 * line rate the firmware set (UBRR), so nothing is lost, whether the firmware
 * polls UCSRnA or takes bytes in its RX interrupt (Arduino's HardwareSerial).
 * simavr raises XON only when the firmware touches the UART, so the harness
 * also starts sending on its own once the receiver is enabled and empty.
 *
 * With --stop-on, STRING is taken as the firmware's prompt and the input as
 * lines (each ending after a '\n'; a last line without one counts too): the
 * harness types line k only after the prompt has appeared k times, as a user
 * at a terminal would, so no input arrives while the firmware computes. The
 * run stops once the prompt has appeared one time more than there are lines
 * and every byte has been read. A firmware must print the prompt before it
 * reads each line, the first one included.
 * Without --stop-on all input is offered at once.
 *
 * The run also stops when the firmware halts (sleep with interrupts off, or
 * avr-libc's exit: a jump to itself with interrupts off), when it crashes,
 * when it has been idle for --idle-cycles (no byte sent, no byte taken from
 * the receiver; default: one simulated second, F_CPU cycles) and at
 * --max-cycles (default: 100 simulated seconds), which exits with status 2.
 *
 * Report keys, in this order:
 *     report mcu NAME
 *     report f_cpu HZ
 *     report ramend HEX           last RAM address (the SP at reset)
 *     report step CYCLES ISR      one line per completed step, in order
 *     report cycles N             cycles of the whole run
 *     report instructions N       avr_run calls (instructions, or sleeps)
 *     report min_sp HEX           lowest SP after any instruction
 *     report input_unread N       input bytes the firmware never read
 *     report exit REASON          prompt | idle | halted | crashed | max-cycles
 *
 * Steps. When the PC reaches --step-addr (a byte address in flash), a step
 * starts: the cycle count and SP are noted. It ends after the instruction
 * that first leaves SP above that entry SP (the function's return). CYCLES
 * are the step's own: instructions of interrupt handlers that ran during the
 * step are left out and summed in ISR instead. Arrivals at --step-addr
 * during a step are part of it (steps do not nest); a step still running at
 * the end is not reported.
 *
 * Exit status: 0 after prompt, idle or halted; 2 at max-cycles; 3 on a crash;
 * 1 when the run cannot start (bad arguments, unreadable ELF, unknown MCU).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>
#include <simavr/sim_irq.h>

struct bytes {
	uint8_t *data;
	size_t len, cap;
};

static void bytes_push(struct bytes *b, const uint8_t *src, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *grown = realloc(b->data, cap);
		if (!grown) {
			fprintf(stderr, "harness: out of memory\n");
			exit(1);
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, src, n);
	b->len += n;
}

/* Everything the IRQ hooks and the main loop share. */
static struct {
	avr_t *avr;
	avr_uart_t *uart;
	avr_irq_t *uart_in;
	int xon;

	struct bytes input;
	size_t fed;      /* bytes handed to the UART */
	size_t released; /* bytes the user has typed so far (prompt gating) */
	size_t *line_ends;
	size_t lines;

	struct bytes output;
	const uint8_t *prompt;
	size_t prompt_len;
	size_t prompts;

	avr_cycle_count_t last_activity;
} h;

/* simavr's default logger prints level LOG_OUTPUT on stdout; everything goes
 * to stderr here, and a message cut short of its newline gets one, so that a
 * report line always starts a line. */
static int stderr_mid_line;

static void logger(avr_t *avr, const int level, const char *format, va_list ap)
{
	if (avr && avr->log < level)
		return;
	char buf[1024];
	int n = vsnprintf(buf, sizeof buf, format, ap);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	fputs(buf, stderr);
	stderr_mid_line = buf[n - 1] != '\n';
}

static void report(const char *format, ...)
{
	/* simavr printf()s a few messages; they go to stderr too (see main). */
	fflush(stdout);
	if (stderr_mid_line) {
		fputc('\n', stderr);
		stderr_mid_line = 0;
	}
	va_list ap;
	va_start(ap, format);
	fputs("report ", stderr);
	vfprintf(stderr, format, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static size_t fifo_count(void)
{
	/* The header declares the FIFO but its accessors live in libsimavr. */
	const uart_fifo_t *f = &h.uart->input;
	return (size_t)((f->write + uart_fifo_fifo_size - f->read) & (uart_fifo_fifo_size - 1));
}

static int receiver_enabled(void)
{
	return avr_regbit_get(h.avr, h.uart->rxen);
}

/* The bytes typed so far: with a prompt, up to the end of line `prompts`. */
static void release_input(void)
{
	if (!h.prompt_len) {
		h.released = h.input.len;
	} else if (h.prompts > 0 && h.lines > 0) {
		size_t k = h.prompts < h.lines ? h.prompts : h.lines;
		h.released = h.line_ends[k - 1];
	}
}

static void feed(void)
{
	/* simavr drops what arrives while the receiver is off. */
	while (h.xon && h.fed < h.released && receiver_enabled()) {
		uint8_t byte = h.input.data[h.fed++];
		/* May raise XOFF, which clears h.xon, before it returns. */
		avr_raise_irq(h.uart_in, byte);
	}
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	(void)value;
	(void)param;
	h.xon = 1;
	feed();
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	(void)param;
	/* simavr lowers XOFF just before raising XON; only a raise matters. */
	if (value)
		h.xon = 0;
}

static void on_output(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	(void)param;
	uint8_t byte = (uint8_t)value;
	bytes_push(&h.output, &byte, 1);
	h.last_activity = h.avr->cycle;
	if (h.prompt_len && h.output.len >= h.prompt_len &&
	    memcmp(h.output.data + h.output.len - h.prompt_len, h.prompt, h.prompt_len) == 0) {
		h.prompts++;
		release_input();
	}
}

static void usage(const char *why)
{
	fprintf(stderr,
		"harness: %s\n"
		"usage: harness --mcu MCU --freq HZ --elf FILE [--step-addr BYTEADDR]\n"
		"               [--stop-on STRING] [--max-cycles N] [--idle-cycles N]\n",
		why);
	exit(1);
}

static unsigned long long number(const char *flag, const char *text)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-') {
		fprintf(stderr, "harness: %s wants a number, not '%s'\n", flag, text);
		exit(1);
	}
	return v;
}

static void read_stdin(void)
{
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("harness: reading stdin");
			exit(1);
		}
		bytes_push(&h.input, buf, (size_t)n);
	}
}

static void split_lines(void)
{
	h.line_ends = calloc(h.input.len + 1, sizeof *h.line_ends);
	if (!h.line_ends) {
		fprintf(stderr, "harness: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < h.input.len; i++)
		if (h.input.data[i] == '\n')
			h.line_ends[h.lines++] = i + 1;
	if (h.input.len && h.input.data[h.input.len - 1] != '\n')
		h.line_ends[h.lines++] = h.input.len;
}

static avr_uart_t *find_uart0(avr_t *avr)
{
	for (avr_io_t *io = avr->io_port; io; io = io->next) {
		/* avr_uart_t starts with its avr_io_t, as simavr's own casts assume. */
		if (io->kind && strcmp(io->kind, "uart") == 0 && ((avr_uart_t *)io)->name == '0')
			return (avr_uart_t *)io;
	}
	return NULL;
}

/* Time passes only in simulated cycles: simavr's default sleep callback
 * would usleep() to keep a sleeping firmware in step with the wall clock. */
static void no_sleep(avr_t *avr, avr_cycle_count_t how_long)
{
	(void)avr;
	(void)how_long;
}

static uint16_t stack_pointer(const avr_t *avr)
{
	return (uint16_t)(avr->data[R_SPL] | (avr->data[R_SPH] << 8));
}

int main(int argc, char **argv)
{
	const char *mcu = NULL, *elf = NULL;
	unsigned long long freq = 0, max_cycles = 0, idle_cycles = 0;
	unsigned long long step_addr = 0;
	int have_step = 0;

	for (int i = 1; i < argc; i++) {
		const char *flag = argv[i];
		if (i + 1 >= argc)
			usage("every option takes a value");
		const char *value = argv[++i];
		if (!strcmp(flag, "--mcu"))
			mcu = value;
		else if (!strcmp(flag, "--elf"))
			elf = value;
		else if (!strcmp(flag, "--freq"))
			freq = number(flag, value);
		else if (!strcmp(flag, "--step-addr")) {
			step_addr = number(flag, value);
			have_step = 1;
		} else if (!strcmp(flag, "--stop-on")) {
			h.prompt = (const uint8_t *)value;
			h.prompt_len = strlen(value);
			if (!h.prompt_len)
				usage("--stop-on wants a non-empty string");
		} else if (!strcmp(flag, "--max-cycles"))
			max_cycles = number(flag, value);
		else if (!strcmp(flag, "--idle-cycles"))
			idle_cycles = number(flag, value);
		else
			usage("unknown option");
	}
	if (!mcu || !elf || !freq)
		usage("--mcu, --freq and --elf are required");
	if (freq > UINT32_MAX)
		usage("--freq is too large");
	if (!max_cycles)
		max_cycles = 100 * freq;
	if (!idle_cycles)
		idle_cycles = freq;

	/* simavr printf()s some messages; keep stdout for the UART alone. */
	int out_fd = dup(STDOUT_FILENO);
	if (out_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		perror("harness: redirecting stdout");
		return 1;
	}
	avr_global_logger_set(logger);

	read_stdin();
	if (h.prompt_len)
		split_lines();

	elf_firmware_t fw;
	memset(&fw, 0, sizeof fw);
	if (elf_read_firmware(elf, &fw) != 0) {
		fprintf(stderr, "harness: cannot load the ELF file %s\n", elf);
		return 1;
	}
	/* simavr reads a file that is not ELF as an empty program. */
	if (!fw.flash || !fw.flashsize) {
		fprintf(stderr, "harness: %s holds no program for the flash\n", elf);
		return 1;
	}
	avr_t *avr = avr_make_mcu_by_name(mcu);
	if (!avr) {
		fprintf(stderr, "harness: simavr does not know the MCU '%s'\n", mcu);
		return 1;
	}
	avr_init(avr);
	avr->log = LOG_ERROR;
	avr->sleep = no_sleep;
	fw.frequency = (uint32_t)freq;
	avr_load_firmware(avr, &fw);
	avr->frequency = (uint32_t)freq;
	h.avr = avr;

	h.uart = find_uart0(avr);
	if (!h.uart) {
		fprintf(stderr, "harness: the MCU '%s' has no UART0 in simavr\n", mcu);
		return 1;
	}
	/* No usleep() in polling loops, no line echo of the output on stdout. */
	uint32_t flags = 0;
	avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
	flags &= ~(uint32_t)(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
	avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);

	h.uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
				on_output, NULL);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
				on_xon, NULL);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
				on_xoff, NULL);
	release_input();

	struct bytes steps = {0};
	int in_step = 0;
	uint16_t step_sp = 0;
	avr_cycle_count_t step_start = 0, step_isr = 0;
	uint16_t min_sp = stack_pointer(avr);
	size_t taken = 0; /* bytes the firmware has read from the receiver */
	unsigned long long instructions = 0;
	const char *exit_reason;
	int status = 0;

	for (;;) {
		avr_flashaddr_t pc_before = avr->pc;
		avr_cycle_count_t cycle_before = avr->cycle;
		int in_isr_before = avr->interrupts.running_ptr > 0;
		int state = avr_run(avr);
		instructions++;

		if (state == cpu_Done) {
			exit_reason = "halted";
			break;
		}
		if (state == cpu_Crashed || state == cpu_Stopped) {
			exit_reason = "crashed";
			status = 3;
			break;
		}

		uint16_t sp = stack_pointer(avr);
		if (sp < min_sp)
			min_sp = sp;
		if (in_step) {
			if (in_isr_before)
				step_isr += avr->cycle - cycle_before;
			if (sp > step_sp) {
				unsigned long long pair[2] = {avr->cycle - step_start - step_isr, step_isr};
				bytes_push(&steps, (const uint8_t *)pair, sizeof pair);
				in_step = 0;
			}
		} else if (have_step && avr->pc == step_addr) {
			in_step = 1;
			step_sp = sp;
			step_start = avr->cycle;
			step_isr = 0;
		}

		if (h.fed < h.released) {
			if (!h.xon && receiver_enabled() && fifo_count() == 0)
				h.xon = 1;
			feed();
		}
		size_t now_taken = h.fed - fifo_count();
		if (now_taken != taken) {
			taken = now_taken;
			h.last_activity = avr->cycle;
		}

		if (h.prompt_len && h.prompts > h.lines && taken == h.input.len) {
			exit_reason = "prompt";
			break;
		}
		if (state == cpu_Running && avr->pc == pc_before && !avr->sreg[S_I]) {
			exit_reason = "halted";
			break;
		}
		if (avr->cycle - h.last_activity >= idle_cycles) {
			exit_reason = "idle";
			break;
		}
		if (avr->cycle >= max_cycles) {
			exit_reason = "max-cycles";
			status = 2;
			break;
		}
	}

	size_t written = 0;
	while (written < h.output.len) {
		ssize_t n = write(out_fd, h.output.data + written, h.output.len - written);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("harness: writing the UART output");
			return 1;
		}
		written += (size_t)n;
	}

	report("mcu %s", mcu);
	report("f_cpu %llu", freq);
	report("ramend 0x%x", avr->ramend);
	for (size_t i = 0; i < steps.len / (2 * sizeof(unsigned long long)); i++) {
		unsigned long long pair[2];
		memcpy(pair, steps.data + i * sizeof pair, sizeof pair);
		report("step %llu %llu", pair[0], pair[1]);
	}
	report("cycles %llu", (unsigned long long)avr->cycle);
	report("instructions %llu", instructions);
	report("min_sp 0x%x", min_sp);
	report("input_unread %zu", h.input.len - taken);
	report("exit %s", exit_reason);
	fflush(stderr);
	return status;
}
