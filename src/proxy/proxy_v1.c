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

static bool is_digit(uint8_t c)
{
    return (unsigned)(c - '0') <= 9;
}

static bool is_ipv6_char(uint8_t c)
{
    return is_digit(c) || (unsigned)((c | 0x20) - 'a') <= 5 || c == ':' || c == '.';
}

/* Decimal without sign or leading zeros, at most max_digits long and at most max_value. */
static enum field_result scan_decimal(struct v1_line *line, int max_digits, unsigned max_value,
                                      unsigned *out)
{
    const uint8_t *p = line->pos, *stop = line->stop;
    if (p == stop)
        return FIELD_PARTIAL;
    if (!is_digit(*p))
        return FIELD_BAD;
    unsigned value = (unsigned)(*p++ - '0');
    if (value != 0) {
        for (int i = 1; i < max_digits && p < stop && is_digit(*p); i++)
            value = value * 10 + (unsigned)(*p++ - '0');
    }
    if (value > max_value)
        return FIELD_BAD;
    *out = value;
    line->pos = p;
    return FIELD_OK;
}

static enum field_result scan_ipv4(struct v1_line *line, struct proxy_ip *ip)
{
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (line->pos == line->stop)
                return FIELD_PARTIAL;
            if (*line->pos != '.')
                return FIELD_BAD;
            line->pos++;
        }
        unsigned value;
        enum field_result r = scan_decimal(line, 3, 255, &value);
        if (r != FIELD_OK)
            return r;
        ip->addr[octet] = (uint8_t)value;
    }
    ip->family = PROXY_FAM_INET;
    return FIELD_OK;
}

static enum field_result scan_ipv6(struct v1_line *line, struct proxy_ip *ip)
{
    const uint8_t *start = line->pos, *p = start;
    while (p < line->stop && is_ipv6_char(*p) && p - start <= IPV6_TEXT_MAX)
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
static int expect_separator(struct v1_line *line, bool last, enum proxy_error field_error,
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
static int field_outcome(const struct v1_line *line, enum field_result r,
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

static const struct {
    const char *text;
    uint8_t len;
    uint8_t family;
} v1_protocols[] = {
    {"TCP4", 4, PROXY_FAM_INET},
    {"TCP6", 4, PROXY_FAM_INET6},
    {"UNKNOWN", 7, PROXY_FAM_UNSPEC},
};

static int parse_protocol(struct v1_line *line, struct proxy_header *hdr)
{
    size_t avail = (size_t)(line->stop - line->pos);
    for (size_t i = 0; i < sizeof v1_protocols / sizeof v1_protocols[0]; i++) {
        size_t n = v1_protocols[i].len;
        if (avail < n) {
            if (!line->complete && memcmp(line->pos, v1_protocols[i].text, avail) == 0)
                return PROXY_NEED_MORE;
            continue;
        }
        if (memcmp(line->pos, v1_protocols[i].text, n) != 0)
            continue;
        if (avail > n && line->pos[n] != ' ')
            return proxy_fail(hdr, PROXY_ERR_V1_FAMILY);
        hdr->family = v1_protocols[i].family;
        line->pos += n;
        return 0;
    }
    return proxy_fail(hdr, PROXY_ERR_V1_FAMILY);
}

/* UNKNOWN may carry anything up to the CRLF; the receiver ignores it and uses the socket. */
static int finish_unknown(const struct v1_line *line, struct proxy_header *hdr)
{
    if (!line->complete)
        return PROXY_NEED_MORE;
    if (memchr(line->pos, '\r', (size_t)(line->stop - line->pos)))
        return proxy_fail(hdr, PROXY_ERR_V1_LINE_END);
    hdr->transport = PROXY_TRANSPORT_UNSPEC;
    hdr->has_addresses = false;
    return 0;
}

static int parse_addresses(struct v1_line *line, struct proxy_header *hdr)
{
    int rc;
    enum field_result (*scan_ip)(struct v1_line *, struct proxy_ip *) =
        hdr->family == PROXY_FAM_INET ? scan_ipv4 : scan_ipv6;
    if ((rc = expect_separator(line, false, PROXY_ERR_V1_FAMILY, hdr)) != 0)
        return rc;
    if ((rc = field_outcome(line, scan_ip(line, &hdr->src), PROXY_ERR_V1_SRC_ADDR, hdr)) != 0 ||
        (rc = expect_separator(line, false, PROXY_ERR_V1_SRC_ADDR, hdr)) != 0)
        return rc;
    if ((rc = field_outcome(line, scan_ip(line, &hdr->dst), PROXY_ERR_V1_DST_ADDR, hdr)) != 0 ||
        (rc = expect_separator(line, false, PROXY_ERR_V1_DST_ADDR, hdr)) != 0)
        return rc;
    unsigned port;
    if ((rc = field_outcome(line, scan_decimal(line, 5, 65535, &port), PROXY_ERR_V1_SRC_PORT,
                            hdr)) != 0 ||
        (rc = expect_separator(line, false, PROXY_ERR_V1_SRC_PORT, hdr)) != 0)
        return rc;
    hdr->src_port = (uint16_t)port;
    if ((rc = field_outcome(line, scan_decimal(line, 5, 65535, &port), PROXY_ERR_V1_DST_PORT,
                            hdr)) != 0 ||
        (rc = expect_separator(line, true, PROXY_ERR_V1_DST_PORT, hdr)) != 0)
        return rc;
    hdr->dst_port = (uint16_t)port;
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

int proxy_parse_v1(const uint8_t *buf, size_t len, uint32_t max_length, struct proxy_header *hdr)
{
    struct v1_line line = {.pos = buf + V1_FIELDS_START};
    int rc;
    if ((rc = find_line_end(buf, len, max_length, &line, hdr)) != 0)
        return rc;
    memset(hdr, 0, sizeof *hdr);
    hdr->version = 1;
    hdr->command = PROXY_CMD_PROXY;
    if (line.pos < line.stop && *line.pos == ' ')
        return proxy_fail(hdr, PROXY_ERR_V1_SEPARATOR);
    if ((rc = parse_protocol(&line, hdr)) != 0)
        return rc;
    rc = hdr->family == PROXY_FAM_UNSPEC ? finish_unknown(&line, hdr) : parse_addresses(&line, hdr);
    if (rc != 0)
        return rc;
    hdr->length = (uint32_t)(line.stop + 2 - buf);
    return (int)hdr->length;
}
