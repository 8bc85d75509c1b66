/*
 * IP addresses as text: strict parsing (IPv4 dotted quad, RFC 4291 IPv6) and canonical
 * formatting (RFC 5952). The parser sits on the v1 PROXY hot path (twice per header), so it
 * is a single pass over exactly len bytes with no libc calls; it never looks at text[len].
 */
#include <postern/proxy.h>

#include <string.h>

#define IPV4_BYTES 4
#define IPV6_GROUPS 8
#define IP_TEXT_LONGEST (PROXY_IP_TEXT_MAX - 1)

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Hex digit values plus one; 0 marks bytes that are not hex digits. */
static const uint8_t hex_digit_plus_one[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Returns 0-15, or -1 for anything that is not a hex digit. */
static inline int hex_digit_value(char c)
{
    return hex_digit_plus_one[(unsigned char)c] - 1;
}

/*
 * Up to three digits. A leading 0 ends the octet, so "01" leaves "1" for the caller to
 * reject. Unrolled: this is on the v1 PROXY hot path.
 */
static inline bool parse_octet(const char **pos, const char *end, unsigned *out)
{
    const char *p = *pos;
    unsigned value, digit;
    if (p == end || (value = (unsigned)(*p - '0')) > 9)
        return false;
    p++;
    if (value != 0 && p != end && (digit = (unsigned)(*p - '0')) <= 9) {
        value = value * 10 + digit;
        p++;
        if (p != end && (digit = (unsigned)(*p - '0')) <= 9) {
            value = value * 10 + digit;
            p++;
            if (value > 255)
                return false;
        }
    }
    *out = value;
    *pos = p;
    return true;
}

/* The whole of [p, end) must be a dotted quad. */
static inline bool parse_ipv4(const char *p, const char *end, uint8_t out[IPV4_BYTES])
{
    uint32_t quad = 0;
    for (int i = 0;; i++) {
        unsigned octet;
        if (!parse_octet(&p, end, &octet))
            return false;
        quad = quad << 8 | octet;
        if (i == IPV4_BYTES - 1)
            break;
        if (p == end || *p != '.')
            return false;
        p++;
    }
    if (p != end)
        return false;
    out[0] = (uint8_t)(quad >> 24);
    out[1] = (uint8_t)(quad >> 16);
    out[2] = (uint8_t)(quad >> 8);
    out[3] = (uint8_t)quad;
    return true;
}

/* 1-4 hex digits. A fifth digit is left for the caller, which then sees no ':' and fails. */
static bool parse_hex_group(const char **pos, const char *end, unsigned *out)
{
    const char *p = *pos;
    unsigned value = 0;
    int digit;
    while (p < end && p - *pos < 4 && (digit = hex_digit_value(*p)) >= 0) {
        value = value << 4 | (unsigned)digit;
        p++;
    }
    if (p == *pos)
        return false;
    *out = value;
    *pos = p;
    return true;
}

/* Spreads the groups around the "::" gap into 16 bytes; missing groups are zero. */
static void expand_groups(const uint16_t *groups, int count, int gap, uint8_t out[16])
{
    memset(out, 0, 16);
    int tail_start = gap < 0 ? count : gap;
    int shift = IPV6_GROUPS - count; /* zero groups the "::" stands for */
    for (int i = 0; i < count; i++) {
        int slot = i < tail_start ? i : i + shift;
        out[2 * slot] = (uint8_t)(groups[i] >> 8);
        out[2 * slot + 1] = (uint8_t)groups[i];
    }
}

/*
 * RFC 4291 section 2.2: 1-4 hex digits per group, at most one "::" standing for one or more
 * zero groups, and an optional dotted quad in place of the last two groups.
 */
static bool parse_ipv6(const char *p, const char *end, uint8_t out[16])
{
    uint16_t groups[IPV6_GROUPS];
    int count = 0;
    int gap = -1; /* index of the group that follows "::", -1 without one */

    if (end - p >= 2 && p[0] == ':' && p[1] == ':') {
        gap = 0;
        p += 2;
    }
    for (;;) {
        if (p == end && gap == count)
            break; /* the text ends with "::" */
        const char *group_start = p;
        unsigned value;
        if (!parse_hex_group(&p, end, &value))
            return false;
        if (p < end && *p == '.') {
            uint8_t quad[IPV4_BYTES];
            if (count > IPV6_GROUPS - 2 || !parse_ipv4(group_start, end, quad))
                return false;
            groups[count++] = (uint16_t)(quad[0] << 8 | quad[1]);
            groups[count++] = (uint16_t)(quad[2] << 8 | quad[3]);
            break;
        }
        if (count == IPV6_GROUPS)
            return false;
        groups[count++] = (uint16_t)value;
        if (p == end)
            break;
        if (*p++ != ':')
            return false;
        if (p < end && *p == ':') {
            if (gap >= 0)
                return false;
            gap = count;
            p++;
        }
        /* A single ':' at the very end falls through to a group with no digits: invalid. */
    }
    if (gap < 0 ? count != IPV6_GROUPS : count > IPV6_GROUPS - 1)
        return false;
    expand_groups(groups, count, gap, out);
    return true;
}

bool proxy_ip_parse(const char *text, size_t len, struct proxy_ip *out)
{
    if (len == 0 || len > IP_TEXT_LONGEST)
        return false;
    const char *end = text + len;
    uint8_t addr[16];
    /* IPv4 first: it is the common case, and IPv6 text fails it within a few bytes. */
    if (parse_ipv4(text, end, addr)) {
        out->family = PROXY_FAM_INET;
        memcpy(out->addr, addr, IPV4_BYTES);
        memset(out->addr + IPV4_BYTES, 0, sizeof out->addr - IPV4_BYTES);
        return true;
    }
    if (!parse_ipv6(text, end, addr))
        return false;
    out->family = PROXY_FAM_INET6;
    memcpy(out->addr, addr, sizeof out->addr);
    return true;
}

static char *write_decimal_octet(char *p, uint8_t value)
{
    if (value >= 100)
        *p++ = (char)('0' + value / 100);
    if (value >= 10)
        *p++ = (char)('0' + value / 10 % 10);
    *p++ = (char)('0' + value % 10);
    return p;
}

static char *write_dotted_quad(char *p, const uint8_t addr[IPV4_BYTES])
{
    for (int i = 0; i < IPV4_BYTES; i++) {
        if (i > 0)
            *p++ = '.';
        p = write_decimal_octet(p, addr[i]);
    }
    return p;
}

/* Lower case, leading zeros dropped (RFC 5952 4.1, 4.3). */
static char *write_hex_group(char *p, unsigned value)
{
    static const char digits[] = "0123456789abcdef";
    int shift = 12;
    while (shift > 0 && (value >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        *p++ = digits[(value >> shift) & 0xf];
    return p;
}

/* RFC 5952 4.2: the longest run of two or more zero groups, the first one on ties. */
static void find_longest_zero_run(const unsigned groups[IPV6_GROUPS], int *start, int *len)
{
    *start = IPV6_GROUPS; /* none: no group index ever matches */
    *len = 0;
    for (int i = 0; i < IPV6_GROUPS;) {
        if (groups[i] != 0) {
            i++;
            continue;
        }
        int run = i;
        while (i < IPV6_GROUPS && groups[i] == 0)
            i++;
        if (i - run >= 2 && i - run > *len) {
            *start = run;
            *len = i - run;
        }
    }
}

static char *write_ipv6(char *p, const uint8_t addr[16])
{
    unsigned groups[IPV6_GROUPS];
    for (int i = 0; i < IPV6_GROUPS; i++)
        groups[i] = (unsigned)addr[2 * i] << 8 | addr[2 * i + 1];
    int run_start, run_len;
    find_longest_zero_run(groups, &run_start, &run_len);
    for (int i = 0; i < IPV6_GROUPS;) {
        if (i == run_start) {
            *p++ = ':';
            *p++ = ':';
            i += run_len;
            continue;
        }
        if (i > 0 && i != run_start + run_len)
            *p++ = ':';
        p = write_hex_group(p, groups[i++]);
    }
    return p;
}

static bool has_v4_mapped_prefix(const uint8_t addr[16])
{
    return memcmp(addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

size_t proxy_ip_format(const struct proxy_ip *ip, char out[PROXY_IP_TEXT_MAX])
{
    char *p = out;
    if (ip->family == PROXY_FAM_INET) {
        p = write_dotted_quad(p, ip->addr);
    } else if (ip->family == PROXY_FAM_INET6 && has_v4_mapped_prefix(ip->addr)) {
        /* RFC 5952 5: mixed notation for v4-mapped addresses. */
        memcpy(p, "::ffff:", 7);
        p = write_dotted_quad(p + 7, ip->addr + 12);
    } else if (ip->family == PROXY_FAM_INET6) {
        p = write_ipv6(p, ip->addr);
    }
    *p = '\0';
    return (size_t)(p - out);
}

bool proxy_ip_is_v4_mapped(const struct proxy_ip *ip)
{
    return ip->family == PROXY_FAM_INET6 && has_v4_mapped_prefix(ip->addr);
}

void proxy_ip_unmap(struct proxy_ip *ip)
{
    if (!proxy_ip_is_v4_mapped(ip))
        return;
    uint8_t quad[IPV4_BYTES];
    memcpy(quad, ip->addr + 12, IPV4_BYTES);
    memset(ip->addr, 0, sizeof ip->addr);
    memcpy(ip->addr, quad, IPV4_BYTES);
    ip->family = PROXY_FAM_INET;
}
