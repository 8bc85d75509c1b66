/*
 * The Date: field (RFC 5322 3.3) as seconds since the epoch, for SEARCH SENTON and friends.
 * Tolerates the obsolete forms of 4.3: comments and extra blanks anywhere, two- and
 * three-digit years, alphabetic zones (UT, GMT, EST..PDT; military letters and unknown
 * names count as +0000, as 4.3 advises), a missing day name, comma or seconds, "-" between
 * date parts, and a missing zone (taken as +0000).
 */
#include "mime/mime_internal.h"

#include <string.h>

struct date_reader {
    struct mime_lex lx;
};

struct date_parts {
    int64_t year;
    int month, day, hour, minute, second, zone_minutes;
};

static void skip_blanks(struct date_reader *r)
{
    mime_lex_skip_cfws(&r->lx, NULL);
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    c = mime_lower(c);
    return c >= 'a' && c <= 'z';
}

/* Up to max_digits digits; false when there is none. */
static bool read_number(struct date_reader *r, int max_digits, int *value, int *digits)
{
    *value = 0;
    *digits = 0;
    while (r->lx.pos < r->lx.end && is_digit(*r->lx.pos) && *digits < max_digits) {
        *value = *value * 10 + (*r->lx.pos++ - '0');
        (*digits)++;
    }
    return *digits > 0;
}

static size_t read_word(struct date_reader *r, const uint8_t **word)
{
    *word = r->lx.pos;
    while (r->lx.pos < r->lx.end && is_alpha(*r->lx.pos))
        r->lx.pos++;
    return (size_t)(r->lx.pos - *word);
}

static bool skip_char(struct date_reader *r, uint8_t c)
{
    if (!mime_lex_at(&r->lx, c))
        return false;
    r->lx.pos++;
    return true;
}

/* Month from its English name (the first three letters decide). */
static int month_number(const uint8_t *word, size_t len)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (len < 3)
        return 0;
    for (int m = 0; m < 12; m++) {
        if (mime_lower(word[0]) == names[m * 3] && mime_lower(word[1]) == names[m * 3 + 1] &&
            mime_lower(word[2]) == names[m * 3 + 2])
            return m + 1;
    }
    return 0;
}

static bool read_day_month_year(struct date_reader *r, struct date_parts *d)
{
    const uint8_t *word;
    int digits, year;
    skip_blanks(r);
    if (r->lx.pos < r->lx.end && is_alpha(*r->lx.pos)) { /* day-of-week, its comma optional */
        read_word(r, &word);
        skip_blanks(r);
        skip_char(r, ',');
        skip_blanks(r);
    }
    if (!read_number(r, 2, &d->day, &digits))
        return false;
    skip_blanks(r);
    skip_char(r, '-');
    skip_blanks(r);
    size_t month_len = read_word(r, &word);
    d->month = month_number(word, month_len);
    skip_blanks(r);
    skip_char(r, '-');
    skip_blanks(r);
    if (!d->month || !read_number(r, 4, &year, &digits))
        return false;
    /* RFC 5322 4.3: two digits are 1950-2049, three digits count from 1900 */
    d->year = digits == 2 ? (year < 50 ? 2000 + year : 1900 + year)
            : digits == 3 ? 1900 + year : year;
    return d->day >= 1 && d->day <= 31;
}

static bool read_time(struct date_reader *r, struct date_parts *d)
{
    int digits;
    skip_blanks(r);
    if (!read_number(r, 2, &d->hour, &digits) || !skip_char(r, ':') ||
        !read_number(r, 2, &d->minute, &digits))
        return false;
    d->second = 0;
    if (skip_char(r, ':') && !read_number(r, 2, &d->second, &digits))
        return false;
    return d->hour <= 23 && d->minute <= 59 && d->second <= 60;
}

static int named_zone_minutes(const uint8_t *word, size_t len)
{
    static const struct {
        const char *name;
        int hours;
    } zones[] = {{"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
                 {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        if (mime_equals_ci(word, len, zones[i].name))
            return zones[i].hours * 60;
    }
    return 0; /* UT, GMT, military letters, unknown names */
}

static void read_zone(struct date_reader *r, struct date_parts *d)
{
    skip_blanks(r);
    d->zone_minutes = 0;
    if (mime_lex_at(&r->lx, '+') || mime_lex_at(&r->lx, '-')) {
        int sign = *r->lx.pos++ == '-' ? -1 : 1;
        int value, digits;
        if (read_number(r, 4, &value, &digits) && digits == 4 && value % 100 < 60)
            d->zone_minutes = sign * (value / 100 * 60 + value % 100);
        return;
    }
    const uint8_t *word;
    size_t len = read_word(r, &word);
    if (len > 0)
        d->zone_minutes = named_zone_minutes(word, len);
}

/* Days from 1970-01-01 to a proleptic Gregorian date (the civil-from-days inverse). */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

bool mime_date_zone(const struct mime_message *msg, int64_t *epoch, int *offset_minutes)
{
    const struct mime_node *root = &msg->nodes[0];
    struct mime_field field;
    if (!mime_field_find(mime_node_header(msg, root), root->header.len, "Date", &field))
        return false;
    struct date_reader r = {{field.value, field.value + field.value_len}};
    struct date_parts d;
    if (!read_day_month_year(&r, &d) || !read_time(&r, &d))
        return false;
    read_zone(&r, &d);
    *epoch = days_from_civil(d.year, d.month, d.day) * 86400 + d.hour * 3600 + d.minute * 60 +
             d.second - (int64_t)d.zone_minutes * 60;
    *offset_minutes = d.zone_minutes;
    return true;
}

bool mime_date(const struct mime_message *msg, int64_t *epoch)
{
    int offset_minutes;
    return mime_date_zone(msg, epoch, &offset_minutes);
}
