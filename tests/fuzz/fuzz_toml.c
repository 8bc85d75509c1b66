/* libFuzzer target: any byte string must parse or fail cleanly, never crash, leak or recurse
 * without bound. Successful parses are walked through the public API as a config loader would. */
#include <stddef.h>
#include <stdint.h>

#include "config/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bounded by TOML_MAX_DEPTH. */
static size_t walk(const struct toml_value *v)
{
    char text[TOML_DATETIME_TEXT_MAX];
    size_t n = 1;
    struct toml_entry e;
    const struct toml_value *item;
    TOML_TABLE_FOREACH(e, v) {
        if (toml_table_getn(v, e.key, e.key_len) != e.value)
            __builtin_trap(); /* every key must be found again */
        n += walk(e.value);
    }
    TOML_ARRAY_FOREACH(item, v)
        n += walk(item);
    toml_datetime_format(v, text, sizeof(text));
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[TOML_ERROR_MAX];
    struct toml_value *root = toml_parse((const char *)data, size, "fuzz", err, sizeof(err));
    if (root)
        walk(root);
    toml_free(root);
    return 0;
}
