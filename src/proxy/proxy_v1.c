/*
 * PROXY v1: "PROXY <TCP4|TCP6|UNKNOWN> <src> <dst> <sport> <dport>\r\n", at most 107 bytes.
 *
 * One pass over the line. Every field is checked on the bytes present so far, so a header split
 * at any byte yields NEED_MORE while it is still a valid prefix and INVALID as soon as it cannot
 * become one, without waiting for the CRLF.
 */
#include <string.h>

#include "proxy_internal.h"

#define V1_FIELDS_START 6 /* after "PROXY " */
#define IPV6_TEXT_MAX 45

enum field_result {
    FIELD_OK,      /* parsed; the cursor is on the byte after the field */
    FIELD_PARTIAL, /* ran into the end of the bytes present while still valid */
    FIELD_BAD,
};

/* The line so far: fields end at `stop`, the CR of a complete line or the end of the data. */
struct v1_line {
    const uint8_t *pos, *stop;
    bool complete;
};

/* Hot path: the field scanners are small and called once per field, so inline them all. */
#define V1_HOT static inline __attribute__((always_inline))

V1_HOT bool is_digit(uint8_t c)
{
    return (unsigned)(c - '0') <= 9;
}

/* Bytes that can appear in IPv6 text: hex digits, ':' and '.' (for a trailing dotted quad). */
static const uint8_t ipv6_text_char[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, [':'] = 1, ['.'] = 1,
};

/*
 * Decimal without sign or leading zeros, at most max_digits long and at most max_value.
 * On a complete line the CR at stop ends any digit run, so the scan needs no bounds check and
 * its trip count is a constant; a partial line has no such sentinel and checks each byte.
 */
V1_HOT enum field_result scan_decimal(const uint8_t **pos, const uint8_t *stop, bool sentinel,
                                      size_t max_digits, unsigned max_value, unsigned *out)
{
    const uint8_t *p = *pos;
    if (p == stop)
        return FIELD_PARTIAL;
    unsigned value = (unsigned)(p[0] - '0');
    if (value > 9)
        return FIELD_BAD;
    size_t n = 1;
    if (value != 0 && sentinel) {
        for (; n < max_digits && is_digit(p[n]); n++)
            value = value * 10 + (unsigned)(p[n] - '0');
    } else if (value != 0) {
        size_t limit = (size_t)(stop - p) < max_digits ? (size_t)(stop - p) : max_digits;
        for (; n < limit && is_digit(p[n]); n++)
            value = value * 10 + (unsigned)(p[n] - '0');
    }
    if (value > max_value)
        return FIELD_BAD;
    *out = value;
    *pos = p + n;
    return FIELD_OK;
}

V1_HOT enum field_result scan_port(struct v1_line *line, uint16_t *port)
{
    unsigned value = 0;
    enum field_result r = scan_decimal(&line->pos, line->stop, line->complete, 5, 65535, &value);
    *port = (uint16_t)value;
    return r;
}

V1_HOT enum field_result scan_ipv4(struct v1_line *line, struct proxy_ip *ip)
{
    const uint8_t *p = line->pos, *stop = line->stop;
    enum field_result r = FIELD_OK;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (p == stop) {
                r = FIELD_PARTIAL;
                break;
            }
            if (*p++ != '.')
                return FIELD_BAD;
        }
        unsigned value = 0;
        if ((r = scan_decimal(&p, stop, line->complete, 3, 255, &value)) != FIELD_OK)
            break;
        ip->addr[octet] = (uint8_t)value;
    }
    line->pos = p;
    ip->family = PROXY_FAM_INET;
    return r;
}

static enum field_result scan_ipv6(struct v1_line *line, struct proxy_ip *ip)
{
    const uint8_t *start = line->pos, *p = start;
    const uint8_t *limit = line->stop - start > IPV6_TEXT_MAX + 1 ? start + IPV6_TEXT_MAX + 1
                                                                  : line->stop;
    while (p < limit && ipv6_text_char[*p])
        p++;
    if (p - start > IPV6_TEXT_MAX)
        return FIELD_BAD;
    line->pos = p;
    if (p == line->stop && !line->complete)
        return FIELD_PARTIAL;
    if (!proxy_ip_parse((const char *)start, (size_t)(p - start), ip))
        return FIELD_BAD;
    return ip->family == PROXY_FAM_INET6 ? FIELD_OK : FIELD_BAD;
}

/*
 * After a field: a single space when another field follows, the end of the line after the last.
 * Returns 0 when the separator is right, or a PROXY_NEED_MORE / PROXY_INVALID result.
 */
V1_HOT int expect_separator(struct v1_line *line, bool last, enum proxy_error field_error,
                            struct proxy_header *hdr)
{
    if (line->pos == line->stop) {
        if (!line->complete)
            return PROXY_NEED_MORE;
        return last ? 0 : proxy_fail(hdr, PROXY_ERR_V1_MISSING_FIELD);
    }
    if (*line->pos != ' ')
        return proxy_fail(hdr, field_error);
    if (last)
        return proxy_fail(hdr, PROXY_ERR_V1_TRAILING);
    line->pos++;
    if (line->pos < line->stop && *line->pos == ' ')
        return proxy_fail(hdr, PROXY_ERR_V1_SEPARATOR);
    return 0;
}

/* Turns a field's result into 0 (go on), PROXY_NEED_MORE, or PROXY_INVALID with the error. */
V1_HOT int field_outcome(const struct v1_line *line, enum field_result r,
                         enum proxy_error field_error, struct proxy_header *hdr)
{
    if (r == FIELD_OK)
        return 0;
    if (r == FIELD_PARTIAL && !line->complete)
        return PROXY_NEED_MORE;
    if (r == FIELD_PARTIAL && line->pos == line->stop && line->pos[-1] == ' ')
        return proxy_fail(hdr, PROXY_ERR_V1_MISSING_FIELD);
    return proxy_fail(hdr, field_error);
}

static bool is_proper_prefix(const uint8_t *p, size_t avail, const char *word)
{
    return avail < strlen(word) && memcmp(p, word, avail) == 0;
}

/* The protocol keyword: "TCP4", "TCP6" or "UNKNOWN", or a prefix of one on a partial line. */
static int parse_protocol(struct v1_line *line, struct proxy_header *hdr)
{
    static const char unknown[] = "UNKNOWN";
    const uint8_t *p = line->pos;
    size_t avail = (size_t)(line->stop - p), n;
    if (avail >= 4 && memcmp(p, "TCP", 3) == 0 && (p[3] == '4' || p[3] == '6')) {
        hdr->family = p[3] == '4' ? PROXY_FAM_INET : PROXY_FAM_INET6;
        n = 4;
    } else if (avail >= 7 && memcmp(p, unknown, 7) == 0) {
        hdr->family = PROXY_FAM_UNSPEC;
        n = 7;
    } else if (!line->complete && (is_proper_prefix(p, avail, "TCP4") ||
                                   is_proper_prefix(p, avail, "TCP6") ||
                                   is_proper_prefix(p, avail, unknown))) {
        return PROXY_NEED_MORE;
    } else {
        return proxy_fail(hdr, PROXY_ERR_V1_FAMILY);
    }
    if (avail > n && p[n] != ' ')
        return proxy_fail(hdr, PROXY_ERR_V1_FAMILY);
    line->pos += n;
    return 0;
}

/* UNKNOWN may carry anything up to the CRLF; the receiver ignores it and uses the socket. */
static int finish_unknown(const struct v1_line *line, struct proxy_header *hdr)
{
    /* A CR before the stop is a lone one, even on a partial line (stop excludes a final CR). */
    if (memchr(line->pos, '\r', (size_t)(line->stop - line->pos)))
        return proxy_fail(hdr, PROXY_ERR_V1_LINE_END);
    if (!line->complete)
        return PROXY_NEED_MORE;
    hdr->transport = PROXY_TRANSPORT_UNSPEC;
    hdr->has_addresses = false;
    return 0;
}

V1_HOT enum field_result scan_ip(struct v1_line *line, bool v4, struct proxy_ip *ip)
{
    return v4 ? scan_ipv4(line, ip) : scan_ipv6(line, ip);
}

/* A scanned field, then the separator that must follow it. */
V1_HOT int finish_field(struct v1_line *line, enum field_result scanned, enum proxy_error error,
                        bool last, struct proxy_header *hdr)
{
    int rc = field_outcome(line, scanned, error, hdr);
    return rc != 0 ? rc : expect_separator(line, last, error, hdr);
}

static int parse_addresses(struct v1_line *line, struct proxy_header *hdr)
{
    bool v4 = hdr->family == PROXY_FAM_INET;
    int rc;
    if ((rc = expect_separator(line, false, PROXY_ERR_V1_FAMILY, hdr)) != 0 ||
        (rc = finish_field(line, scan_ip(line, v4, &hdr->src), PROXY_ERR_V1_SRC_ADDR, false,
                           hdr)) != 0 ||
        (rc = finish_field(line, scan_ip(line, v4, &hdr->dst), PROXY_ERR_V1_DST_ADDR, false,
                           hdr)) != 0 ||
        (rc = finish_field(line, scan_port(line, &hdr->src_port), PROXY_ERR_V1_SRC_PORT, false,
                           hdr)) != 0 ||
        (rc = finish_field(line, scan_port(line, &hdr->dst_port), PROXY_ERR_V1_DST_PORT, true,
                           hdr)) != 0)
        return rc;
    hdr->transport = PROXY_TRANSPORT_STREAM;
    hdr->has_addresses = true;
    return 0;
}

/* Finds where the line's fields stop: at the CR of CRLF, or at the end of a partial line. */
static int find_line_end(const uint8_t *buf, size_t len, uint32_t max_length, struct v1_line *line,
                         struct proxy_header *hdr)
{
    size_t limit = max_length < PROXY_V1_MAX_LENGTH ? max_length : PROXY_V1_MAX_LENGTH;
    size_t scan = len < limit ? len : limit;
    const uint8_t *lf = memchr(buf, '\n', scan);
    if (lf) {
        if (lf == buf || lf[-1] != '\r')
            return proxy_fail(hdr, PROXY_ERR_V1_LINE_END);
        line->stop = lf - 1;
        line->complete = true;
        return 0;
    }
    if (len >= limit)
        return proxy_fail(hdr, limit == PROXY_V1_MAX_LENGTH ? PROXY_ERR_V1_TOO_LONG
                                                            : PROXY_ERR_TOO_LARGE);
    /* A final CR may be the first half of the CRLF. */
    line->stop = buf + len - (buf[len - 1] == '\r');
    line->complete = false;
    return 0;
}

/*
 * Error path of the keyword and of TCP4/TCP6 fields: a control byte in the line (a lone CR or
 * LF, a NUL, a tab) is reported as such rather than as the field it happened to break.
 */
static int fail_line(const uint8_t *buf, const struct v1_line *line, struct proxy_header *hdr)
{
    for (const uint8_t *p = buf + V1_FIELDS_START; p < line->stop; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return proxy_fail(hdr, PROXY_ERR_V1_LINE_END);
    }
    return PROXY_INVALID;
}

int proxy_parse_v1(const uint8_t *buf, size_t len, uint32_t max_length, struct proxy_header *hdr)
{
    struct v1_line line = {.pos = buf + V1_FIELDS_START};
    int rc;
    if ((rc = find_line_end(buf, len, max_length, &line, hdr)) != 0)
        return rc;
    proxy_clear_header(hdr);
    hdr->version = 1;
    hdr->command = PROXY_CMD_PROXY;
    if (line.pos < line.stop && *line.pos == ' ')
        return proxy_fail(hdr, PROXY_ERR_V1_SEPARATOR);
    if ((rc = parse_protocol(&line, hdr)) != 0)
        return rc == PROXY_INVALID ? fail_line(buf, &line, hdr) : rc;
    if (hdr->family == PROXY_FAM_UNSPEC)
        rc = finish_unknown(&line, hdr);
    else if ((rc = parse_addresses(&line, hdr)) == PROXY_INVALID)
        rc = fail_line(buf, &line, hdr);
    if (rc != 0)
        return rc;
    hdr->length = (uint32_t)(line.stop + 2 - buf);
    return (int)hdr->length;
}
