/* TOML scalars: the four kinds of strings, integers, floats, booleans and dates/times. */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_internal.h"

/* ---- strings ---- */

static bool opens_multiline(const struct toml_parser *p, int quote)
{
    return toml_peek_at(p, 1) == quote && toml_peek_at(p, 2) == quote;
}

static bool fail_control(struct toml_parser *p, const char *where)
{
    char c[16];
    return toml_fail(p, "control character %s is not allowed in %s",
                     toml_describe_char(p, c, sizeof(c)), where);
}

/* Copies the run of ordinary characters at the cursor: everything up to a quote, a backslash
 * (when the string has escapes) or a control character. */
static bool take_plain_run(struct toml_parser *p, struct toml_buf *out, int quote, bool escapes)
{
    size_t start = p->offset;
    for (;;) {
        int c = toml_peek(p);
        if (c == TOML_EOF || c == quote || (escapes && c == '\\') || toml_is_forbidden_control(c))
            break;
        toml_advance(p);
    }
    return toml_buf_append(p, out, p->text + start, p->offset - start);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \uXXXX or \UXXXXXXXX; the cursor is on the 'u' or 'U'. */
static bool scan_unicode_escape(struct toml_parser *p, struct toml_buf *out, struct toml_pos at)
{
    int digits = toml_peek(p) == 'u' ? 4 : 8;
    toml_advance(p);
    uint32_t cp = 0;
    for (int i = 0; i < digits; i++) {
        int v = hex_value(toml_peek(p));
        if (v < 0)
            return toml_fail(p, "\\%c escape needs %d hexadecimal digits", digits == 4 ? 'u' : 'U',
                             digits);
        cp = cp * 16 + (uint32_t)v;
        toml_advance(p);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return toml_fail_at(p, at, "escape \\%c%0*X is not a Unicode scalar value",
                            digits == 4 ? 'u' : 'U', digits, (unsigned)cp);
    return toml_buf_append_codepoint(p, out, cp);
}

static char simple_escape(int c)
{
    switch (c) {
    case 'b':
        return '\b';
    case 't':
        return '\t';
    case 'n':
        return '\n';
    case 'f':
        return '\f';
    case 'r':
        return '\r';
    case '"':
        return '"';
    case '\\':
        return '\\';
    default:
        return 0;
    }
}

/* The cursor is on the backslash. */
static bool scan_escape(struct toml_parser *p, struct toml_buf *out)
{
    struct toml_pos at = p->at;
    toml_advance(p);
    int c = toml_peek(p);
    if (c == 'u' || c == 'U')
        return scan_unicode_escape(p, out, at);
    char plain = simple_escape(c);
    if (plain) {
        toml_advance(p);
        return toml_buf_append(p, out, &plain, 1);
    }
    if (c > 0x20 && c < 0x7F)
        return toml_fail_at(p, at, "invalid escape \\%c", c);
    char what[16];
    return toml_fail_at(p, at, "invalid escape: backslash followed by %s",
                        toml_describe_char(p, what, sizeof(what)));
}

static bool scan_basic(struct toml_parser *p, struct toml_buf *out, struct toml_pos start)
{
    for (;;) {
        int c = toml_peek(p);
        if (c == '"') {
            toml_advance(p);
            return true;
        }
        if (c == TOML_EOF || toml_at_newline(p))
            return toml_fail_at(p, start, "unterminated string");
        if (c == '\\') {
            if (!scan_escape(p, out))
                return false;
        } else if (toml_is_forbidden_control(c)) {
            return fail_control(p, "a string");
        } else if (!take_plain_run(p, out, '"', true)) {
            return false;
        }
    }
}

static bool scan_literal(struct toml_parser *p, struct toml_buf *out, struct toml_pos start)
{
    for (;;) {
        int c = toml_peek(p);
        if (c == '\'') {
            toml_advance(p);
            return true;
        }
        if (c == TOML_EOF || toml_at_newline(p))
            return toml_fail_at(p, start, "unterminated string");
        if (toml_is_forbidden_control(c))
            return fail_control(p, "a string");
        if (!take_plain_run(p, out, '\'', false))
            return false;
    }
}

/* The cursor is on a quote inside a multi-line string. One or two quotes are content; three to
 * five close the string, the extra ones being content ("""a""""" is 'a""'). */
static bool scan_multiline_quotes(struct toml_parser *p, struct toml_buf *out, bool *closed)
{
    int quote = toml_peek(p);
    size_t run = 0;
    while (toml_peek_at(p, run) == quote)
        run++;
    *closed = run >= 3;
    size_t content = *closed ? run - 3 : run;
    if (content > 2) {
        for (int i = 0; i < 5; i++)
            toml_advance(p);
        return toml_fail(p, "too many quotes at the end of a multi-line string");
    }
    for (size_t i = 0; i < run; i++)
        toml_advance(p);
    char quotes[2] = {(char)quote, (char)quote};
    return toml_buf_append(p, out, quotes, content);
}

/* A backslash that ends a line (trailing blanks allowed) swallows the line break and all
 * whitespace up to the next visible character. Returns false if this backslash is not one. */
static bool skip_line_ending_backslash(struct toml_parser *p)
{
    size_t ahead = 1;
    while (toml_peek_at(p, ahead) == ' ' || toml_peek_at(p, ahead) == '\t')
        ahead++;
    int c = toml_peek_at(p, ahead);
    if (c != '\n' && !(c == '\r' && toml_peek_at(p, ahead + 1) == '\n'))
        return false;
    toml_advance(p);
    for (;;) {
        c = toml_peek(p);
        if (c == ' ' || c == '\t')
            toml_advance(p);
        else if (toml_at_newline(p))
            toml_skip_newline(p);
        else
            break;
    }
    return true;
}

/* Line breaks inside multi-line strings are stored as "\n" whatever the file uses. */
static bool scan_multiline(struct toml_parser *p, struct toml_buf *out, struct toml_pos start,
                           int quote)
{
    bool escapes = quote == '"';
    for (;;) {
        int c = toml_peek(p);
        bool closed = false;
        if (c == quote) {
            if (!scan_multiline_quotes(p, out, &closed))
                return false;
            if (closed)
                return true;
        } else if (c == TOML_EOF) {
            return toml_fail_at(p, start, "unterminated multi-line string");
        } else if (toml_at_newline(p)) {
            toml_skip_newline(p);
            if (!toml_buf_append(p, out, "\n", 1))
                return false;
        } else if (escapes && c == '\\') {
            if (!skip_line_ending_backslash(p) && !scan_escape(p, out))
                return false;
        } else if (toml_is_forbidden_control(c)) {
            return fail_control(p, "a string");
        } else if (!take_plain_run(p, out, quote, escapes)) {
            return false;
        }
    }
}

bool toml_scan_string(struct toml_parser *p, bool allow_multiline, struct toml_buf *out)
{
    int quote = toml_peek(p);
    struct toml_pos start = p->at;
    out->len = 0;
    if (opens_multiline(p, quote)) {
        if (!allow_multiline)
            return toml_fail(p, "a multi-line string cannot be a key");
        for (int i = 0; i < 3; i++)
            toml_advance(p);
        /* A line break right after the opening quotes is not part of the string. */
        if (toml_at_newline(p))
            toml_skip_newline(p);
        return scan_multiline(p, out, start, quote);
    }
    toml_advance(p);
    return quote == '"' ? scan_basic(p, out, start) : scan_literal(p, out, start);
}

/* ---- bare values: booleans, numbers, dates and times ---- */

/* The characters a bare value is made of; anything else ends it. */
static bool is_bare_value_char(int c)
{
    return toml_is_bare_key_char(c) || c == '.' || c == ':' || c == '+';
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!toml_is_digit(s[i]))
            return false;
    return true;
}

static bool is_date_prefix(const char *s, size_t n)
{
    return n >= 5 && all_digits(s, 4) && s[4] == '-';
}

static bool is_time_prefix(const char *s, size_t n)
{
    return n >= 3 && all_digits(s, 2) && s[2] == ':';
}

/* Length of the bare value at the cursor. A date followed by a space and a digit continues as
 * a date-time ("1979-05-27 07:32:00"), the one place a bare value holds a space. */
static size_t bare_value_length(const struct toml_parser *p)
{
    const char *s = p->text + p->offset;
    size_t avail = p->len - p->offset, n = 0;
    while (n < avail && is_bare_value_char((unsigned char)s[n]))
        n++;
    if (n == 10 && is_date_prefix(s, n) && avail > 11 && s[10] == ' ' && toml_is_digit(s[11])) {
        n = 11;
        while (n < avail && is_bare_value_char((unsigned char)s[n]))
            n++;
    }
    return n;
}

/* The bare value being classified: text and where it starts, for error positions. */
struct token {
    const char *s;
    size_t n;
    struct toml_pos pos;
};

/* Bare values never span lines and are ASCII, so offset i is column + i. */
static struct toml_pos token_pos(const struct token *t, size_t i)
{
    return (struct toml_pos){t->pos.line, t->pos.column + i};
}

static bool token_is(const struct token *t, size_t from, const char *word)
{
    size_t len = strlen(word);
    return t->n - from == len && memcmp(t->s + from, word, len) == 0;
}

/* The character at i is not what `thing` needs there. */
static bool fail_expected(struct toml_parser *p, const struct token *t, size_t i,
                          const char *thing, const char *expected)
{
    if (i >= t->n)
        return toml_fail_at(p, token_pos(t, i), "incomplete %s (expected %s)", thing, expected);
    return toml_fail_at(p, token_pos(t, i), "invalid character '%c' in %s (expected %s)",
                        t->s[i], thing, expected);
}

/* The value is complete but followed by more characters. */
static bool fail_trailing(struct toml_parser *p, const struct token *t, size_t i,
                          const char *thing)
{
    return toml_fail_at(p, token_pos(t, i), "invalid character '%c' in %s", t->s[i], thing);
}

/* ---- dates and times ---- */

/* Exactly `width` digits at *i. */
static bool take_fixed_digits(const struct token *t, size_t *i, size_t width, int *out)
{
    if (t->n - *i < width || !all_digits(t->s + *i, width))
        return false;
    int v = 0;
    for (size_t k = 0; k < width; k++)
        v = v * 10 + (t->s[*i + k] - '0');
    *i += width;
    *out = v;
    return true;
}

static bool take_char(const struct token *t, size_t *i, char c)
{
    if (*i >= t->n || t->s[*i] != c)
        return false;
    (*i)++;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static bool scan_date(struct toml_parser *p, const struct token *t, size_t *i,
                      struct toml_datetime *dt)
{
    if (!take_fixed_digits(t, i, 4, &dt->year) || !take_char(t, i, '-') ||
        !take_fixed_digits(t, i, 2, &dt->month) || !take_char(t, i, '-') ||
        !take_fixed_digits(t, i, 2, &dt->day))
        return fail_expected(p, t, *i, "date", "YYYY-MM-DD");
    if (dt->month < 1 || dt->month > 12)
        return toml_fail_at(p, token_pos(t, 5), "month %02d does not exist", dt->month);
    if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month))
        return toml_fail_at(p, token_pos(t, 8), "day %02d does not exist in %04d-%02d", dt->day,
                            dt->year, dt->month);
    return true;
}

/* Digits after the decimal point: the first nine give nanoseconds, the rest are dropped. */
static bool scan_fraction(struct toml_parser *p, const struct token *t, size_t *i,
                          struct toml_datetime *dt)
{
    size_t start = *i;
    while (*i < t->n && toml_is_digit(t->s[*i])) {
        if (*i - start < 9) {
            dt->nanosecond = dt->nanosecond * 10 + (t->s[*i] - '0');
            dt->fraction_digits++;
        }
        (*i)++;
    }
    if (*i == start)
        return fail_expected(p, t, *i, "time", "digits after '.'");
    for (int k = dt->fraction_digits; k < 9; k++)
        dt->nanosecond *= 10;
    return true;
}

static bool scan_time(struct toml_parser *p, const struct token *t, size_t *i,
                      struct toml_datetime *dt)
{
    size_t start = *i;
    if (!take_fixed_digits(t, i, 2, &dt->hour) || !take_char(t, i, ':') ||
        !take_fixed_digits(t, i, 2, &dt->minute) || !take_char(t, i, ':') ||
        !take_fixed_digits(t, i, 2, &dt->second))
        return fail_expected(p, t, *i, "time", "HH:MM:SS");
    if (dt->hour > 23)
        return toml_fail_at(p, token_pos(t, start), "hour %02d is out of range", dt->hour);
    if (dt->minute > 59)
        return toml_fail_at(p, token_pos(t, start + 3), "minute %02d is out of range",
                            dt->minute);
    if (dt->second > 60)
        return toml_fail_at(p, token_pos(t, start + 6), "second %02d is out of range",
                            dt->second);
    if (take_char(t, i, '.'))
        return scan_fraction(p, t, i, dt);
    return true;
}

/* "Z", "z" or "+HH:MM" / "-HH:MM". */
static bool scan_offset(struct toml_parser *p, const struct token *t, size_t *i,
                        struct toml_datetime *dt)
{
    if (take_char(t, i, 'Z') || take_char(t, i, 'z'))
        return true;
    size_t start = *i;
    int sign = take_char(t, i, '+') ? 1 : take_char(t, i, '-') ? -1 : 0;
    int hours, minutes;
    if (sign == 0 || !take_fixed_digits(t, i, 2, &hours) || !take_char(t, i, ':') ||
        !take_fixed_digits(t, i, 2, &minutes))
        return fail_expected(p, t, *i, "time offset", "Z or +HH:MM");
    if (hours > 23 || minutes > 59)
        return toml_fail_at(p, token_pos(t, start), "time offset %.6s is out of range",
                            t->s + start);
    dt->offset_minutes = sign * (hours * 60 + minutes);
    return true;
}

static bool scan_datetime(struct toml_parser *p, const struct token *t, struct toml_value *out)
{
    struct toml_datetime *dt = &out->as.datetime;
    size_t i = 0;
    if (!scan_date(p, t, &i, dt))
        return false;
    out->kind = TOML_LOCAL_DATE;
    if (i == t->n)
        return true;
    if (!take_char(t, &i, 'T') && !take_char(t, &i, 't') && !take_char(t, &i, ' '))
        return fail_expected(p, t, i, "date-time", "'T' or a space between date and time");
    if (!scan_time(p, t, &i, dt))
        return false;
    out->kind = TOML_LOCAL_DATETIME;
    if (i == t->n)
        return true;
    if (!scan_offset(p, t, &i, dt))
        return false;
    out->kind = TOML_OFFSET_DATETIME;
    return i == t->n || fail_trailing(p, t, i, "date-time");
}

static bool scan_local_time(struct toml_parser *p, const struct token *t, struct toml_value *out)
{
    size_t i = 0;
    if (!scan_time(p, t, &i, &out->as.datetime))
        return false;
    out->kind = TOML_LOCAL_TIME;
    return i == t->n || fail_trailing(p, t, i, "local time");
}

/* ---- numbers ---- */

static int digit_value(int c)
{
    int v = hex_value(c);
    return v < 0 ? 99 : v;
}

/* A run of digits in the given radix with single underscores between digits. */
static bool scan_digits(struct toml_parser *p, const struct token *t, size_t *i, int radix,
                        size_t *count)
{
    size_t start = *i;
    *count = 0;
    while (*i < t->n) {
        int c = (unsigned char)t->s[*i];
        if (digit_value(c) < radix) {
            (*i)++;
            (*count)++;
        } else if (c == '_') {
            bool between = *i > start && digit_value((unsigned char)t->s[*i - 1]) < radix &&
                           *i + 1 < t->n && digit_value((unsigned char)t->s[*i + 1]) < radix;
            if (!between)
                return toml_fail_at(p, token_pos(t, *i), "'_' in a number must be between digits");
            (*i)++;
        } else {
            break;
        }
    }
    return *count > 0 || fail_expected(p, t, *i, "number", "a digit");
}

static bool out_of_range(struct toml_parser *p, const struct token *t)
{
    return toml_fail_at(p, t->pos, "integer %.*s does not fit in 64 bits",
                        (int)(t->n > 40 ? 40 : t->n), t->s);
}

/* Accumulates the digits of t->s[from, to) in magnitude, rejecting anything above limit. */
static bool accumulate(const struct token *t, size_t from, size_t to, int radix, uint64_t limit,
                       uint64_t *magnitude)
{
    uint64_t m = 0;
    for (size_t k = from; k < to; k++) {
        if (t->s[k] == '_')
            continue;
        uint64_t d = (uint64_t)digit_value((unsigned char)t->s[k]);
        if (m > (limit - d) / (uint64_t)radix)
            return false;
        m = m * (uint64_t)radix + d;
    }
    *magnitude = m;
    return true;
}

/* 0x..., 0o..., 0b...: never signed. */
static bool scan_prefixed_integer(struct toml_parser *p, const struct token *t,
                                  struct toml_value *out)
{
    int radix = t->s[1] == 'x' ? 16 : t->s[1] == 'o' ? 8 : 2;
    size_t i = 2, count;
    if (!scan_digits(p, t, &i, radix, &count))
        return false;
    if (i != t->n)
        return fail_trailing(p, t, i, "integer");
    uint64_t m;
    if (!accumulate(t, 2, t->n, radix, INT64_MAX, &m))
        return out_of_range(p, t);
    out->kind = TOML_INTEGER;
    out->as.integer = (int64_t)m;
    return true;
}

static bool decimal_integer(struct toml_parser *p, const struct token *t, size_t from,
                            bool negative, struct toml_value *out)
{
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t m;
    if (!accumulate(t, from, t->n, 10, limit, &m))
        return out_of_range(p, t);
    out->kind = TOML_INTEGER;
    /* Negating in unsigned arithmetic keeps INT64_MIN representable. */
    out->as.integer = negative ? (int64_t)(0 - m) : (int64_t)m;
    return true;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* strtod in the "C" locale, whatever the process's locale says a decimal point is. */
static bool decimal_float(struct toml_parser *p, const struct token *t, struct toml_value *out)
{
    pthread_once(&c_locale_once, make_c_locale);
    struct toml_buf *clean = &p->scratch;
    clean->len = 0;
    for (size_t k = 0; k < t->n; k++)
        if (t->s[k] != '_' && !toml_buf_append(p, clean, t->s + k, 1))
            return false;
    if (!toml_buf_append(p, clean, "", 1))
        return false;
    if (!c_locale)
        return toml_fail_at(p, t->pos, "out of memory");
    double d = strtod_l(clean->data, NULL, c_locale);
    if (isinf(d))
        return toml_fail_at(p, t->pos, "float %.*s is too large for 64 bits",
                            (int)(t->n > 40 ? 40 : t->n), t->s);
    out->kind = TOML_FLOAT;
    out->as.floating = d;
    return true;
}

static bool scan_special_float(const struct token *t, size_t from, bool negative,
                               struct toml_value *out)
{
    if (token_is(t, from, "inf"))
        out->as.floating = negative ? -INFINITY : INFINITY;
    else if (token_is(t, from, "nan"))
        out->as.floating = negative ? -NAN : NAN;
    else
        return false;
    out->kind = TOML_FLOAT;
    return true;
}

static bool scan_decimal(struct toml_parser *p, const struct token *t, size_t from,
                         bool negative, struct toml_value *out)
{
    size_t i = from, count;
    if (!scan_digits(p, t, &i, 10, &count))
        return false;
    if (t->s[from] == '0' && count > 1)
        return toml_fail_at(p, token_pos(t, from), "leading zeros are not allowed");
    bool is_float = false;
    if (take_char(t, &i, '.')) {
        is_float = true;
        if (!scan_digits(p, t, &i, 10, &count))
            return false;
    }
    if (take_char(t, &i, 'e') || take_char(t, &i, 'E')) {
        is_float = true;
        if (!take_char(t, &i, '+'))
            take_char(t, &i, '-');
        if (!scan_digits(p, t, &i, 10, &count))
            return false;
    }
    if (i != t->n)
        return fail_trailing(p, t, i, "number");
    return is_float ? decimal_float(p, t, out) : decimal_integer(p, t, from, negative, out);
}

static bool is_prefixed_integer(const struct token *t, size_t from)
{
    return t->n - from > 1 && t->s[from] == '0' &&
           (t->s[from + 1] == 'x' || t->s[from + 1] == 'o' || t->s[from + 1] == 'b');
}

static bool scan_number(struct toml_parser *p, const struct token *t, struct toml_value *out)
{
    bool negative = t->s[0] == '-';
    size_t from = t->s[0] == '-' || t->s[0] == '+' ? 1 : 0;
    if (scan_special_float(t, from, negative, out))
        return true;
    if (is_prefixed_integer(t, from)) {
        if (from)
            return toml_fail_at(p, t->pos, "hexadecimal, octal and binary integers cannot "
                                           "have a sign");
        return scan_prefixed_integer(p, t, out);
    }
    if (from == t->n || !toml_is_digit(t->s[from]))
        return toml_fail_at(p, t->pos, "invalid value '%.*s' (strings need quotes)",
                            (int)(t->n > 40 ? 40 : t->n), t->s);
    return scan_decimal(p, t, from, negative, out);
}

bool toml_scan_bare_value(struct toml_parser *p, struct toml_value *out)
{
    struct token t = {p->text + p->offset, bare_value_length(p), p->at};
    if (t.n == 0) {
        char what[16];
        return toml_fail(p, "expected a value, found %s", toml_describe_char(p, what, sizeof(what)));
    }
    bool ok;
    if (token_is(&t, 0, "true") || token_is(&t, 0, "false")) {
        out->kind = TOML_BOOL;
        out->as.boolean = t.s[0] == 't';
        ok = true;
    } else if (is_date_prefix(t.s, t.n)) {
        ok = scan_datetime(p, &t, out);
    } else if (is_time_prefix(t.s, t.n)) {
        ok = scan_local_time(p, &t, out);
    } else {
        ok = scan_number(p, &t, out);
    }
    for (size_t i = 0; ok && i < t.n; i++)
        toml_advance(p);
    return ok;
}
