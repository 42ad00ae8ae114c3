/*
 * zlmc: a float feature to the model's int16 input, exactly as zlmc's
 * interpreter does it (zlmc_ir::InputQuant::quantize on the f64 that Rust's
 * str::parse::<f64> reads, or that a float converts to):
 *
 *     x = the feature as a double (a decimal: rounded to nearest, ties to even)
 *     x = min(max(x, lo), hi)                      (where a range is declared)
 *     q = round_half_away(x / scale) + zero_point  (x / scale rounded to a double)
 *     q saturated to int16
 *
 * avr-gcc's double is a 32-bit float, so the doubles here are emulated
 * exactly in integers: a decimal becomes N * 10^E with N a multi-word
 * integer, is rounded to a 53-bit mantissa by long division, and x / scale is
 * another long division, rounded to nearest even. A float32 estimate settles
 * most values first (in well under a millisecond at 16 MHz); only one within
 * a relative 1e-5 of a rounding boundary or of the range's ends takes the
 * exact path. Values too small or too large to matter (outside
 * 10^ZQ_KMIN .. 10^ZQ_KMAX) take the constant they all quantize to.
 *
 * zlmc writes the ZQ_* constants for the model before this text.
 */

typedef struct {
    uint8_t neg;
    uint64_t m; /* 0, or in [2^52, 2^53) */
    int16_t e;  /* the value is (neg ? -1 : 1) * m * 2^e */
} zq_double;

static void zq_bn_zero(uint32_t *a)
{
    for (uint8_t i = 0; i < ZQ_WORDS; i++)
        a[i] = 0;
}

/* a = a * m + add (m < 2^16), in 16-bit halves: no 64-bit multiplies. */
static void zq_bn_mul_add(uint32_t *a, uint16_t m, uint16_t add)
{
    uint32_t carry = add;

    for (uint8_t i = 0; i < ZQ_WORDS; i++) {
        uint32_t lo = (a[i] & 0xFFFF) * m + carry;
        uint32_t hi = (a[i] >> 16) * m + (lo >> 16);

        a[i] = (hi << 16) | (lo & 0xFFFF);
        carry = hi >> 16;
    }
}

static int16_t zq_bn_bits(const uint32_t *a)
{
    for (int8_t i = ZQ_WORDS - 1; i >= 0; i--) {
        uint32_t w = a[i];

        if (w) {
            int16_t n = 32 * i;

            while (w) {
                n++;
                w >>= 1;
            }
            return n;
        }
    }
    return 0;
}

static void zq_bn_shl(uint32_t *a, int16_t k)
{
    int16_t words = k >> 5;
    uint8_t bits = k & 31;

    for (int8_t i = ZQ_WORDS - 1; i >= 0; i--) {
        int16_t from = i - words;
        uint32_t w = 0;

        if (from >= 0) {
            w = a[from] << bits;
            if (bits && from > 0)
                w |= a[from - 1] >> (32 - bits);
        }
        a[i] = w;
    }
}

static void zq_bn_shr1(uint32_t *a)
{
    for (uint8_t i = 0; i < ZQ_WORDS; i++) {
        a[i] >>= 1;
        if (i + 1 < ZQ_WORDS)
            a[i] |= a[i + 1] << 31;
    }
}

/* a >= b */
static uint8_t zq_bn_ge(const uint32_t *a, const uint32_t *b)
{
    for (int8_t i = ZQ_WORDS - 1; i >= 0; i--) {
        if (a[i] != b[i])
            return a[i] > b[i];
    }
    return 1;
}

static void zq_bn_sub(uint32_t *a, const uint32_t *b)
{
    uint8_t borrow = 0;

    for (uint8_t i = 0; i < ZQ_WORDS; i++) {
        uint32_t x = a[i], y = b[i];
        uint32_t d = x - y - borrow;

        borrow = x < y || (x == y && borrow);
        a[i] = d;
    }
}

/*
 * The 53-bit mantissa of q * 2^e (q in [2^53, 2^56), sticky set if bits
 * below q were lost), rounded to nearest, ties to even.
 */
static void zq_round(uint64_t q, uint8_t sticky, int16_t e, zq_double *out)
{
    while (q >= ((uint64_t)1 << 54)) {
        sticky |= (uint8_t)(q & 1);
        q >>= 1;
        e++;
    }
    uint8_t half = (uint8_t)(q & 1);

    q >>= 1;
    e++;
    if (half && (sticky || (q & 1)))
        q++;
    if (q == ((uint64_t)1 << 53)) {
        q >>= 1;
        e++;
    }
    out->m = q;
    out->e = e;
}

/* The double nearest n * 10^e10 (n > 0; n is used up). */
static void zq_decimal(uint32_t *n, int16_t e10, zq_double *out)
{
    uint32_t d[ZQ_WORDS];
    int16_t e2 = e10;

    zq_bn_zero(d);
    d[0] = 1;
    /* Powers of 5 six at a time: 5^6 = 15625 fits the multiplier. */
    for (; e10 >= 6; e10 -= 6)
        zq_bn_mul_add(n, 15625, 0);
    for (; e10 > 0; e10--)
        zq_bn_mul_add(n, 5, 0);
    for (; e10 <= -6; e10 += 6)
        zq_bn_mul_add(d, 15625, 0);
    for (; e10 < 0; e10++)
        zq_bn_mul_add(d, 5, 0);
    /* n * 2^k / d is in (2^53, 2^55). */
    int16_t k = 54 - (zq_bn_bits(n) - zq_bn_bits(d));

    if (k >= 0)
        zq_bn_shl(n, k);
    else
        zq_bn_shl(d, -k);
    e2 -= k;
    zq_bn_shl(d, 55);
    uint64_t q = 0;

    for (uint8_t i = 0; i < 56; i++) {
        q <<= 1;
        if (zq_bn_ge(n, d)) {
            zq_bn_sub(n, d);
            q |= 1;
        }
        zq_bn_shr1(d);
    }
    uint8_t sticky = 0;

    for (uint8_t i = 0; i < ZQ_WORDS; i++)
        sticky |= n[i] != 0;
    zq_round(q, sticky, e2, out);
}

#if ZQ_HAS_RANGE
/* Compares a and b: -1, 0 or 1. */
static int8_t zq_cmp(const zq_double *a, const zq_double *b)
{
    int8_t sa = a->m == 0 ? 0 : (a->neg ? -1 : 1);
    int8_t sb = b->m == 0 ? 0 : (b->neg ? -1 : 1);

    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    int8_t mag = a->e != b->e ? (a->e > b->e ? 1 : -1) : (a->m != b->m ? (a->m > b->m ? 1 : -1) : 0);

    return sa > 0 ? mag : -mag;
}
#endif

/* How many exact answers zq_text keeps (see there). */
#define ZQ_MEMO 4

static int16_t zq_saturate(int32_t v)
{
    if (v > 32767)
        return 32767;
    if (v < -32768)
        return -32768;
    return (int16_t)v;
}

/* The quantized input of the double x (finite). */
static int16_t zq_exact(zq_double x)
{
#if ZQ_HAS_RANGE
    static const zq_double lo = {ZQ_LO_NEG, ZQ_LO_M, ZQ_LO_E};
    static const zq_double hi = {ZQ_HI_NEG, ZQ_HI_M, ZQ_HI_E};

    if (zq_cmp(&x, &lo) < 0)
        x = lo;
    if (zq_cmp(&x, &hi) > 0)
        x = hi;
#endif
    if (x.m == 0)
        return zq_saturate(ZQ_ZERO_POINT);
    /* y = x / scale: the mantissas' quotient, 56 bits of it. */
    const uint64_t ms = ZQ_SCALE_M;
    uint64_t r = x.m, q = 0;

    if (r >= ms) {
        r -= ms;
        q = 1;
    }
    for (uint8_t i = 0; i < 55; i++) {
        q <<= 1;
        r <<= 1;
        if (r >= ms) {
            r -= ms;
            q |= 1;
        }
    }
    zq_double y;

    y.neg = x.neg;
    zq_round(q, r != 0, x.e - ZQ_SCALE_E - 55, &y);
    /* Rounded half away from zero. */
    int32_t v;

    if (y.e >= -32) {
        v = 1L << 20; /* at least 2^52 / 2^32: saturates */
    } else if (y.e < -54) {
        v = 0;
    } else {
        uint8_t sh = (uint8_t)-y.e;
        uint64_t ip = y.m >> sh;
        uint64_t frac = y.m & (((uint64_t)1 << sh) - 1);

        if (frac >= ((uint64_t)1 << (sh - 1)))
            ip++;
        v = ip > (1L << 20) ? (1L << 20) : (int32_t)ip;
    }
    if (y.neg)
        v = -v;
    return zq_saturate(v + ZQ_ZERO_POINT);
}

/* The quantized input of a float32 value, as the interpreter quantizes it. */
static int16_t zq_float(float f)
{
    union {
        float f;
        uint32_t u;
    } bits;

    bits.f = f;
    uint8_t neg = (uint8_t)(bits.u >> 31);
    uint8_t ex = (uint8_t)(bits.u >> 23);
    uint32_t frac = bits.u & 0x7FFFFF;

    if (ex == 255) {
        if (frac)
            return zq_saturate(ZQ_ZERO_POINT); /* NaN */
        return neg ? ZQ_HUGE_NEG : ZQ_HUGE_POS;
    }
    zq_double x;

    x.neg = neg;
    if (ex == 0 && frac == 0) {
        x.m = 0;
        x.e = 0;
        return zq_exact(x);
    }
    int16_t e = ex == 0 ? -149 : (int16_t)ex - 150;
    uint64_t m = ex == 0 ? frac : (frac | 0x800000UL);

    while (m < ((uint64_t)1 << 52)) {
        m <<= 1;
        e--;
    }
    x.m = m;
    x.e = e;
    return zq_exact(x);
}

/*
 * Reads a decimal number as Rust's str::parse::<f64> does (sign, digits, an
 * optional point and fraction, an optional exponent) and quantizes it into
 * *out. Returns 0, 1 if the text is not a finite number, or 2 if it has
 * more than ZQ_DIGITS_MAX significant digits.
 */
static uint8_t zq_text(const char *s, int16_t *out)
{
    uint8_t neg = 0;
    uint16_t digits = 0, nd = 0;
    int16_t e10 = 0;
    /* The first 9 significant digits, for the float estimate. */
    uint32_t lead = 0;
    uint8_t nlead = 0;
    const char *mantissa;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    mantissa = s;
    for (uint8_t point = 0;; s++) {
        if (*s == '.' && !point) {
            point = 1;
            continue;
        }
        if (*s < '0' || *s > '9')
            break;
        if (digits < 60000)
            digits++;
        if (point && e10 > -30000)
            e10--;
        if (nd || *s != '0') {
            if (nd < 60000)
                nd++;
            if (nlead < 9) {
                lead = lead * 10 + (uint32_t)(*s - '0');
                nlead++;
            }
        }
    }
    if (!digits)
        return 1;
    if (*s == 'e' || *s == 'E') {
        uint8_t eneg = 0, edigits = 0;
        int16_t ev = 0;

        s++;
        if (*s == '+' || *s == '-')
            eneg = *s++ == '-';
        for (; *s >= '0' && *s <= '9'; s++) {
            edigits++;
            if (ev < 1000) /* any more is far outside every window */
                ev = ev * 10 + (*s - '0');
        }
        if (!edigits)
            return 1;
        e10 += eneg ? -ev : ev;
    }
    if (*s)
        return 1;
    if (nd > ZQ_DIGITS_MAX)
        return 2;
    if (nd == 0) {
        zq_double zero = {neg, 0, 0};

        *out = zq_exact(zero);
        return 0;
    }
    /* The decimal exponent of the leading digit. */
    int16_t lead_exp = e10 + nd - 1;

    if (lead_exp >= 308)
        return 1; /* 1e308 and beyond: refused as not finite (see docs/avr.md) */
    if (lead_exp < ZQ_KMIN) {
        *out = neg ? ZQ_TINY_NEG : ZQ_TINY_POS;
        return 0;
    }
    if (lead_exp >= ZQ_KMAX) {
        *out = neg ? ZQ_HUGE_NEG : ZQ_HUGE_POS;
        return 0;
    }
    /* The float estimate: lead * 10^(lead_exp - nlead + 1). */
    int16_t pe = lead_exp - nlead + 1;

    /* An integer of at most 24 bits is its own float: f is exact. */
    while (pe < 0 && lead % 10 == 0 && lead) {
        lead /= 10;
        pe++;
    }
    uint8_t exact = nlead == nd && pe == 0 && lead < 16777216UL;

    if (pe >= -10 && pe <= 10) {
        float p = 1.0f, f = (float)lead;

        for (int8_t i = pe < 0 ? -pe : pe; i > 0; i--)
            p *= 10.0f;
        f = pe < 0 ? f / p : f * p;
        if (neg)
            f = -f;
        uint8_t settled = 1;
#if ZQ_HAS_RANGE
        /* How far f may be from the decimal, and then some. */
        float slack = exact && ZQ_ENDS_EXACT ? 0.0f : (f < 0 ? -f : f) * 1e-5f;

        if (f + slack < ZQ_LO_F || (slack == 0.0f && f == ZQ_LO_F)) {
            *out = ZQ_AT_LO;
            return 0;
        }
        if (f - slack > ZQ_HI_F || (slack == 0.0f && f == ZQ_HI_F)) {
            *out = ZQ_AT_HI;
            return 0;
        }
        if (f - slack <= ZQ_LO_F || f + slack >= ZQ_HI_F)
            settled = 0;
#endif
        float t = f * ZQ_INV_SCALE_F;
        float a = t < 0 ? -t : t;

        if (settled && a < 1048576.0f) {
            int32_t i = (int32_t)a; /* truncates */
            float rest = a - (float)i;
            /* With a power-of-two scale, an exact f makes t exact too. */
            float slack_t = exact && ZQ_INV_EXACT ? 0.0f : a * 1e-5f + 1e-30f;

            if (slack_t == 0.0f || rest - 0.5f > slack_t || 0.5f - rest > slack_t) {
                if (rest >= 0.5f)
                    i++;
                *out = zq_saturate((t < 0 ? -i : i) + ZQ_ZERO_POINT);
                return 0;
            }
        }
    }
    /*
     * The exact path costs tens of thousands of cycles, and a serial line
     * arrives at one character every ~1,400: a line of the same few values
     * (a digit's pixels) must not pay it for each, or the receive buffer
     * overflows. The last few exact answers are kept, keyed by the value
     * (all its digits are in lead when nlead == nd: lead · 10^pe, signed).
     */
    static struct {
        uint32_t lead;
        int16_t pe;
        uint8_t neg, used;
        int16_t q;
    } memo[ZQ_MEMO];
    static uint8_t memo_next;
    uint8_t keyed = nlead == nd;

    if (keyed)
        for (uint8_t i = 0; i < ZQ_MEMO; i++)
            if (memo[i].used && memo[i].lead == lead && memo[i].pe == pe && memo[i].neg == neg) {
                *out = memo[i].q;
                return 0;
            }
    /* The significant digits as one integer. */
    uint32_t n[ZQ_WORDS];

    zq_bn_zero(n);
    for (nd = 0; *mantissa == '.' || (*mantissa >= '0' && *mantissa <= '9'); mantissa++) {
        if (*mantissa == '.' || (!nd && *mantissa == '0'))
            continue;
        zq_bn_mul_add(n, 10, (uint16_t)(*mantissa - '0'));
        nd++;
    }
    zq_double x;

    x.neg = neg;
    zq_decimal(n, e10, &x);
    *out = zq_exact(x);
    if (keyed) {
        memo[memo_next].lead = lead;
        memo[memo_next].pe = pe;
        memo[memo_next].neg = neg;
        memo[memo_next].used = 1;
        memo[memo_next].q = *out;
        memo_next = (uint8_t)((memo_next + 1) % ZQ_MEMO);
    }
    return 0;
}
