/*
 * toml-decode: the toml-test decoder interface for postern's TOML parser.
 *
 * Reads a TOML document on stdin and prints it on stdout as toml-test's "tagged JSON" (every
 * scalar becomes {"type": ..., "value": "<text>"}), exit status 0. On a parse error prints
 * "<stdin>:line:column: message" on stderr and exits 1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml.h"

static char *read_all(FILE *in, size_t *len)
{
    size_t capacity = 65536, n = 0;
    char *data = malloc(capacity);
    while (data) {
        n += fread(data + n, 1, capacity - n, in);
        if (n < capacity)
            break;
        capacity *= 2;
        char *bigger = realloc(data, capacity);
        if (!bigger)
            free(data);
        data = bigger;
    }
    if (data && ferror(in)) {
        free(data);
        data = NULL;
    }
    *len = n;
    return data;
}

static void print_json_string(const char *s, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_tagged(const char *type, const char *text)
{
    printf("{\"type\": \"%s\", \"value\": ", type);
    print_json_string(text, strlen(text));
    putchar('}');
}

/* The shortest %g text that reads back as the same double. */
static void format_float(double d, char *buf, size_t size)
{
    if (isnan(d)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, d < 0 ? "-inf" : "inf");
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static const char *datetime_type(enum toml_kind kind)
{
    switch (kind) {
    case TOML_OFFSET_DATETIME:
        return "datetime";
    case TOML_LOCAL_DATETIME:
        return "datetime-local";
    case TOML_LOCAL_DATE:
        return "date-local";
    default:
        return "time-local";
    }
}

static void print_value(const struct toml_value *v);

static void print_table(const struct toml_value *table)
{
    struct toml_entry e;
    const char *separator = "";
    putchar('{');
    TOML_TABLE_FOREACH(e, table) {
        fputs(separator, stdout);
        separator = ",";
        print_json_string(e.key, e.key_len);
        putchar(':');
        print_value(e.value);
    }
    putchar('}');
}

static void print_array(const struct toml_value *array)
{
    const struct toml_value *item;
    const char *separator = "";
    putchar('[');
    TOML_ARRAY_FOREACH(item, array) {
        fputs(separator, stdout);
        separator = ",";
        print_value(item);
    }
    putchar(']');
}

static void print_scalar(const struct toml_value *v)
{
    char text[64];
    size_t len;
    const char *s;
    int64_t i;
    double d;
    bool b;
    if ((s = toml_as_string(v, &len))) {
        printf("{\"type\": \"string\", \"value\": ");
        print_json_string(s, len);
        putchar('}');
    } else if (toml_as_integer(v, &i)) {
        snprintf(text, sizeof(text), "%" PRId64, i);
        print_tagged("integer", text);
    } else if (toml_as_float(v, &d)) {
        format_float(d, text, sizeof(text));
        print_tagged("float", text);
    } else if (toml_as_bool(v, &b)) {
        print_tagged("bool", b ? "true" : "false");
    } else {
        toml_datetime_format(v, text, sizeof(text));
        print_tagged(datetime_type(toml_kind_of(v)), text);
    }
}

/* Recursion depth is bounded by TOML_MAX_DEPTH. */
static void print_value(const struct toml_value *v)
{
    if (toml_kind_of(v) == TOML_TABLE)
        print_table(v);
    else if (toml_kind_of(v) == TOML_ARRAY)
        print_array(v);
    else
        print_scalar(v);
}

int main(void)
{
    size_t len;
    char *text = read_all(stdin, &len);
    if (!text) {
        fprintf(stderr, "toml-decode: cannot read standard input\n");
        return 1;
    }
    char err[TOML_ERROR_MAX];
    struct toml_value *root = toml_parse(text, len, "<stdin>", err, sizeof(err));
    free(text);
    if (!root) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    print_value(root);
    putchar('\n');
    toml_free(root);
    return fflush(stdout) == 0 ? 0 : 1;
}
