/* What every postern fuzz target shares: the entry point, property checks, exact copies. */
#ifndef POSTERN_FUZZ_UTIL_H
#define POSTERN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated property is a crash libFuzzer records, with the input that caused it. */
#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

/* A heap copy of exactly len bytes, so reading one byte past the input is caught by ASan. */
static inline char *exact_copy(const void *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len)
        memcpy(copy, data, len);
    return copy;
}

#endif
