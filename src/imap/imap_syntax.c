/*
 * The small IMAP grammars that live inside arguments: sequence sets, flags, dates
 * (RFC 3501 section 9). Pure, like the rest of imap_parse.h.
 */
#include <strings.h>

#include "imap/imap_parse.h"
#include "store/mailbox.h"

/* ---- sequence sets ---- */

/* nz-number (no leading zero, at most 4294967295) or "*" (returned as 0). */
static enum imap_parse_status seq_number(const char *text, size_t len, size_t *pos,
                                         uint32_t *out)
{
    size_t i = *pos;
    if (i < len && text[i] == '*') {
        *out = 0;
        *pos = i + 1;
        return IMAP_PARSE_OK;
    }
    if (i >= len || text[i] < '1' || text[i] > '9')
        return IMAP_PARSE_SYNTAX;
    uint64_t n = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        n = n * 10 + (uint64_t)(text[i++] - '0');
        if (n > UINT32_MAX)
            return IMAP_PARSE_TOO_LARGE;
    }
    *out = (uint32_t)n;
    *pos = i;
    return IMAP_PARSE_OK;
}

enum imap_parse_status imap_seqset_parse(const char *text, size_t len, struct imap_range *ranges,
                                         size_t cap, size_t *n)
{
    size_t pos = 0, count = 0;
    *n = 0;
    for (;;) {
        struct imap_range r;
        enum imap_parse_status st = seq_number(text, len, &pos, &r.lo);
        if (st != IMAP_PARSE_OK)
            return st;
        r.hi = r.lo;
        if (pos < len && text[pos] == ':') {
            pos++;
            st = seq_number(text, len, &pos, &r.hi);
            if (st != IMAP_PARSE_OK)
                return st;
        }
        if (ranges) {
            if (count >= cap)
                return IMAP_PARSE_TOO_MANY_ARGS;
            ranges[count] = r;
        }
        count++;
        if (pos == len)
            break;
        if (text[pos++] != ',')
            return IMAP_PARSE_SYNTAX;
    }
    *n = count;
    return IMAP_PARSE_OK;
}

void imap_seqset_resolve(struct imap_range *ranges, size_t n, uint32_t star)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = ranges[i].lo ? ranges[i].lo : star;
        uint32_t hi = ranges[i].hi ? ranges[i].hi : star;
        ranges[i].lo = lo < hi ? lo : hi;
        ranges[i].hi = lo < hi ? hi : lo;
    }
}

bool imap_seqset_contains(const struct imap_range *ranges, size_t n, uint32_t value)
{
    for (size_t i = 0; i < n; i++)
        if (value >= ranges[i].lo && value <= ranges[i].hi)
            return true;
    return false;
}

/* ---- flags ---- */

static const struct {
    const char *name;
    uint32_t bit;
} flag_names[] = {
    {"\\Seen", MAILBOX_SEEN},       {"\\Answered", MAILBOX_ANSWERED},
    {"\\Flagged", MAILBOX_FLAGGED}, {"\\Deleted", MAILBOX_DELETED},
    {"\\Draft", MAILBOX_DRAFT},     {"\\Recent", MAILBOX_RECENT},
};

const char *imap_flag_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++)
        if (flag_names[i].bit == bit)
            return flag_names[i].name;
    return NULL;
}

static enum imap_parse_status one_flag(const struct imap_arg *arg, struct imap_flags *out)
{
    if (arg->type != IMAP_ARG_ATOM)
        return IMAP_PARSE_SYNTAX;
    if (arg->ptr[0] != '\\') {
        out->keywords = true; /* a keyword: valid syntax, but there is nowhere to keep it */
        return IMAP_PARSE_OK;
    }
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
        if (imap_arg_atom_is(arg, flag_names[i].name)) {
            if (flag_names[i].bit == MAILBOX_RECENT)
                out->recent = true;
            else
                out->bits |= flag_names[i].bit;
            return IMAP_PARSE_OK;
        }
    }
    return IMAP_PARSE_UNKNOWN;
}

enum imap_parse_status imap_parse_flags(const struct imap_arg *arg, struct imap_flags *out)
{
    *out = (struct imap_flags){0};
    if (arg->type != IMAP_ARG_LIST)
        return one_flag(arg, out);
    const struct imap_arg *end = imap_arg_next(arg);
    for (const struct imap_arg *a = arg + 1; a < end; a = imap_arg_next(a)) {
        enum imap_parse_status st = one_flag(a, out);
        if (st != IMAP_PARSE_OK)
            return st;
    }
    return IMAP_PARSE_OK;
}

/* ---- dates ---- */

int64_t imap_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    /* Era arithmetic on 400-year cycles (the Gregorian calendar's period). */
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t yoe = year - era * 400;
    int64_t mp = (int64_t)(month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static unsigned days_in_month(int64_t year, unsigned month)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static bool digits(const char *text, size_t len, size_t *pos, size_t min, size_t max,
                   unsigned *out)
{
    size_t i = *pos;
    unsigned n = 0;
    while (i < len && i - *pos < max && text[i] >= '0' && text[i] <= '9')
        n = n * 10 + (unsigned)(text[i++] - '0');
    if (i - *pos < min)
        return false;
    *out = n;
    *pos = i;
    return true;
}

static bool month_name(const char *text, size_t len, size_t *pos, unsigned *month)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (len - *pos < 3)
        return false;
    for (unsigned m = 0; m < 12; m++) {
        if (strncasecmp(text + *pos, names + 3 * m, 3) == 0) {
            *month = m + 1;
            *pos += 3;
            return true;
        }
    }
    return false;
}

/* "d-Mon-yyyy" or "dd-Mon-yyyy" (a leading space allowed: date-day-fixed). */
static bool date_text(const char *text, size_t len, size_t *pos, int64_t *days)
{
    unsigned day, month, year;
    if (*pos < len && text[*pos] == ' ')
        (*pos)++;
    if (!digits(text, len, pos, 1, 2, &day) || *pos >= len || text[(*pos)++] != '-' ||
        !month_name(text, len, pos, &month) || *pos >= len || text[(*pos)++] != '-' ||
        !digits(text, len, pos, 4, 4, &year))
        return false;
    if (day < 1 || day > days_in_month(year, month))
        return false;
    *days = imap_days_from_civil(year, month, day);
    return true;
}

enum imap_parse_status imap_parse_date(const char *text, size_t len, int64_t *days)
{
    size_t pos = 0;
    if (!date_text(text, len, &pos, days) || pos != len)
        return IMAP_PARSE_SYNTAX;
    return IMAP_PARSE_OK;
}

enum imap_parse_status imap_parse_date_time(const char *text, size_t len, int64_t *epoch)
{
    size_t pos = 0;
    int64_t days;
    unsigned h, m, s, zone;
    if (!date_text(text, len, &pos, &days) || pos >= len || text[pos++] != ' ' ||
        !digits(text, len, &pos, 2, 2, &h) || pos >= len || text[pos++] != ':' ||
        !digits(text, len, &pos, 2, 2, &m) || pos >= len || text[pos++] != ':' ||
        !digits(text, len, &pos, 2, 2, &s) || pos >= len || text[pos++] != ' ' ||
        pos >= len || (text[pos] != '+' && text[pos] != '-'))
        return IMAP_PARSE_SYNTAX;
    bool west = text[pos++] == '-';
    if (!digits(text, len, &pos, 4, 4, &zone) || pos != len)
        return IMAP_PARSE_SYNTAX;
    if (h > 23 || m > 59 || s > 60 || zone % 100 > 59)
        return IMAP_PARSE_SYNTAX;
    int64_t offset = (int64_t)(zone / 100) * 3600 + (int64_t)(zone % 100) * 60;
    *epoch = days * 86400 + h * 3600 + m * 60 + s + (west ? offset : -offset);
    return IMAP_PARSE_OK;
}
