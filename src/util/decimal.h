/* Unsigned decimals written by hand: snprintf costs hundreds of instructions per number, and
 * ports, connection ids and sizes are formatted on every connection. */
#ifndef POSTERN_UTIL_DECIMAL_H
#define POSTERN_UTIL_DECIMAL_H

#include <stdint.h>

/* Enough for UINT64_MAX (20 digits); no terminating NUL is written. */
#define DECIMAL_MAX 20

/* Writes value at p and returns the end. */
static inline char *decimal_write(char *p, uint64_t value)
{
    char digits[DECIMAL_MAX];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* Writes value as exactly width digits, with leading zeros (width <= DECIMAL_MAX). */
static inline char *decimal_write_fixed(char *p, uint64_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

#endif
