/*
 * Address text: strict parsing (IPv4, RFC 4291 IPv6) and RFC 5952 formatting.
 * glibc's inet_pton/inet_ntop serve as an independent reference where their rules match ours.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <postern/proxy.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Parses a private copy of exactly len bytes, so ASan catches any read past the end. */
static bool parse_exact(const char *text, size_t len, struct proxy_ip *out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    bool ok = proxy_ip_parse(copy, len, out);
    free(copy);
    return ok;
}

static bool parse_str(const char *text, struct proxy_ip *out)
{
    return parse_exact(text, strlen(text), out);
}

/* The reference parser's verdict, as a proxy_ip. */
static bool reference_parse(const char *text, struct proxy_ip *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = PROXY_FAM_INET;
        return true;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->family = PROXY_FAM_INET6;
        return true;
    }
    return false;
}

static void assert_ip_equal(const struct proxy_ip *a, const struct proxy_ip *b)
{
    assert_int_equal(a->family, b->family);
    size_t n = a->family == PROXY_FAM_INET ? 4 : 16;
    assert_memory_equal(a->addr, b->addr, n);
}

/* canonical: the RFC 5952 form, or NULL when the text must be rejected. */
struct parse_case {
    const char *text;
    const char *canonical;
};

static const struct parse_case parse_cases[] = {
    /* IPv4 */
    {"0.0.0.0", "0.0.0.0"},
    {"1.2.3.4", "1.2.3.4"},
    {"127.0.0.1", "127.0.0.1"},
    {"255.255.255.255", "255.255.255.255"},
    {"192.168.100.200", "192.168.100.200"},
    {"10.0.0.10", "10.0.0.10"},
    {"9.99.199.249", "9.99.199.249"},
    {"256.0.0.0", NULL},
    {"0.0.0.256", NULL},
    {"1.2.3.300", NULL},
    {"1.2.3.999", NULL},
    {"1.2.3.1000", NULL},
    {"01.2.3.4", NULL},
    {"1.2.3.04", NULL},
    {"1.2.3.00", NULL},
    {"00.0.0.0", NULL},
    {"1.2.3.012", NULL},
    {"1.2.3", NULL},
    {"1.2.3.4.5", NULL},
    {"1..3.4", NULL},
    {".1.2.3", NULL},
    {"1.2.3.", NULL},
    {"1.2.3.4.", NULL},
    {".1.2.3.4", NULL},
    {"+1.2.3.4", NULL},
    {"-1.2.3.4", NULL},
    {"1.2.3.-4", NULL},
    {" 1.2.3.4", NULL},
    {"1.2.3.4 ", NULL},
    {"1. 2.3.4", NULL},
    {"0x1.2.3.4", NULL},
    {"1.2.3.4a", NULL},
    {"a.b.c.d", NULL},
    {"1.2.3.4/32", NULL},
    {"1.2.3.4:25", NULL},
    {"4294967295", NULL},
    {"1", NULL},
    {"1.2", NULL},
    {"", NULL},
    {".", NULL},
    {"...", NULL},
    /* RFC 4291 2.2, form 1: all eight groups */
    {"ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"},
    {"abcd:ef01:2345:6789:abcd:ef01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"},
    {"2001:DB8:0:0:8:800:200C:417A", "2001:db8::8:800:200c:417a"},
    {"2001:0db8:0000:0000:0008:0800:200c:417a", "2001:db8::8:800:200c:417a"},
    {"FF01:0:0:0:0:0:0:101", "ff01::101"},
    {"0:0:0:0:0:0:0:1", "::1"},
    {"0:0:0:0:0:0:0:0", "::"},
    {"0000:0000:0000:0000:0000:0000:0000:0000", "::"},
    /* form 2: "::" */
    {"2001:DB8::8:800:200C:417A", "2001:db8::8:800:200c:417a"},
    {"FF01::101", "ff01::101"},
    {"::1", "::1"},
    {"::", "::"},
    {"1::", "1::"},
    {"1::2", "1::2"},
    {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
    {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
    {"1::3:4:5:6:7:8", "1:0:3:4:5:6:7:8"},
    {"1:2:3:4:5:6::8", "1:2:3:4:5:6:0:8"},
    {"1:2:3::6:7:8", "1:2:3::6:7:8"},
    {"1::8", "1::8"},
    {"fe80::1", "fe80::1"},
    /* form 3: trailing dotted quad */
    {"0:0:0:0:0:0:13.1.68.3", "::d01:4403"},
    {"::13.1.68.3", "::d01:4403"},
    {"0:0:0:0:0:FFFF:129.144.52.38", "::ffff:129.144.52.38"},
    {"::FFFF:129.144.52.38", "::ffff:129.144.52.38"},
    {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
    {"::ffff:0.0.0.0", "::ffff:0.0.0.0"},
    {"::ffff:255.255.255.255", "::ffff:255.255.255.255"},
    {"::1.2.3.4", "::102:304"},
    {"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
    {"1::1.2.3.4", "1::102:304"},
    {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"0000:0000:0000:0000:0000:ffff:255.255.255.255", "::ffff:255.255.255.255"},
    {"::ffff:1.2.3", NULL},
    {"::ffff:1.2.3.4.5", NULL},
    {"::ffff:1.2.3.256", NULL},
    {"::ffff:01.2.3.4", NULL},
    {"::ffff:1.2.3.04", NULL},
    {"::1.2.3.4:5", NULL},
    {"1.2.3.4::", NULL},
    {"::1.2.3.4.", NULL},
    {"1:2:3:4:5:6:7:1.2.3.4", NULL},
    {"1:2:3:4:5:6:7:8:1.2.3.4", NULL},
    {"::1:2:3:4:5:6:1.2.3.4", NULL},
    {"1:2:3:4:5::6:1.2.3.4", NULL},
    {"::ffff:1a.2.3.4", NULL},
    {"::ffff:1234.2.3.4", NULL},
    {"::ffff:.2.3.4", NULL},
    /* leading zeros in groups: up to four digits */
    {"0001:0002:0003:0004:0005:0006:0007:0008", "1:2:3:4:5:6:7:8"},
    {"00ab::0", "ab::"},
    {"2001:0db8::0001", "2001:db8::1"},
    {"12345::", NULL},
    {"::12345", NULL},
    {"1:2:3:4:5:6:7:00008", NULL},
    {"0:0:0:0:0:0:0:00000", NULL},
    /* group counts and colons */
    {"1:2:3:4:5:6:7", NULL},
    {"1:2:3:4:5:6:7:8:9", NULL},
    {"1:2:3:4:5:6:7:8::", NULL},
    {"::1:2:3:4:5:6:7:8", NULL},
    {"1:2:3:4::5:6:7:8", NULL},
    {":::", NULL},
    {"::::", NULL},
    {"1:::2", NULL},
    {"1::2::3", NULL},
    {"::1::", NULL},
    {":", NULL},
    {":1", NULL},
    {"1:", NULL},
    {":1::2", NULL},
    {"1::2:", NULL},
    {":1:2:3:4:5:6:7:8", NULL},
    {"1:2:3:4:5:6:7:8:", NULL},
    {"1:2:3:4:5:6:7:", NULL},
    {"1::2:3:", NULL},
    /* foreign syntax */
    {"::1%eth0", NULL},
    {"fe80::1%1", NULL},
    {"fe80::1%", NULL},
    {"[::1]", NULL},
    {"[::1]:25", NULL},
    {"::g", NULL},
    {"g::", NULL},
    {"::-1", NULL},
    {"::+1", NULL},
    {":: 1", NULL},
    {" ::1", NULL},
    {"::1 ", NULL},
    {"::1/128", NULL},
    {"localhost", NULL},
    {"0x1::", NULL},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct proxy_ip ip;
        bool ok = parse_str(c->text, &ip);
        if (ok != (c->canonical != NULL))
            fail_msg("\"%s\": expected %s", c->text, c->canonical ? "valid" : "invalid");
        if (!ok)
            continue;
        char text[PROXY_IP_TEXT_MAX];
        size_t len = proxy_ip_format(&ip, text);
        if (strcmp(text, c->canonical) != 0)
            fail_msg("\"%s\": formatted \"%s\", expected \"%s\"", c->text, text, c->canonical);
        assert_int_equal(len, strlen(text));
    }
}

/* glibc's inet_pton follows the same strict rules, so every case must agree with it too. */
static void test_parse_table_matches_reference(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(parse_cases); i++) {
        struct proxy_ip ours, ref;
        bool ok = parse_str(parse_cases[i].text, &ours);
        bool ref_ok = reference_parse(parse_cases[i].text, &ref);
        if (ok != ref_ok)
            fail_msg("\"%s\": ours %d, inet_pton %d", parse_cases[i].text, ok, ref_ok);
        if (ok)
            assert_ip_equal(&ours, &ref);
    }
}

static void test_parse_bytes(void **state)
{
    (void)state;
    struct proxy_ip ip;
    assert_true(parse_str("1.2.3.4", &ip));
    assert_int_equal(ip.family, PROXY_FAM_INET);
    assert_memory_equal(ip.addr, ((uint8_t[]){1, 2, 3, 4}), 4);

    static const uint8_t tail_zero[16] = {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0};
    assert_true(parse_str("1:2:3:4:5:6:7::", &ip));
    assert_int_equal(ip.family, PROXY_FAM_INET6);
    assert_memory_equal(ip.addr, tail_zero, 16);

    static const uint8_t head_zero[16] = {0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8};
    assert_true(parse_str("::2:3:4:5:6:7:8", &ip));
    assert_memory_equal(ip.addr, head_zero, 16);

    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
    assert_true(parse_str("::FfFf:10.1.2.3", &ip));
    assert_memory_equal(ip.addr, mapped, 16);

    static const uint8_t mixed[16] = {0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 1, 2, 3, 4};
    assert_true(parse_str("ABcd::12:1.2.3.4", &ip));
    assert_memory_equal(ip.addr, mixed, 16);
}

/* IPv4 octets zero-fill the rest, so whole structs compare equal. */
static void test_parse_ipv4_clears_tail(void **state)
{
    (void)state;
    struct proxy_ip ip;
    memset(&ip, 0xAA, sizeof ip);
    assert_true(parse_str("9.8.7.6", &ip));
    static const uint8_t expected[16] = {9, 8, 7, 6};
    assert_memory_equal(ip.addr, expected, 16);
}

static void test_parse_failure_leaves_output(void **state)
{
    (void)state;
    struct proxy_ip ip, before;
    memset(&ip, 0x5A, sizeof ip);
    before = ip;
    assert_false(parse_str("1.2.3.256", &ip));
    assert_false(parse_str("1:2:3:4:5:6:7:8:9", &ip));
    assert_memory_equal(&ip, &before, sizeof ip);
}

/* Only text[0..len) counts: what follows is another field of the PROXY line. */
static void test_parse_respects_len(void **state)
{
    (void)state;
    struct proxy_ip ip;
    const char *line = "192.168.0.1 10.0.0.1 56324 443\r\n";
    assert_true(proxy_ip_parse(line, 11, &ip));
    assert_memory_equal(ip.addr, ((uint8_t[]){192, 168, 0, 1}), 4);
    assert_false(proxy_ip_parse(line, 12, &ip));
    assert_false(proxy_ip_parse(line, 10, &ip));

    assert_true(proxy_ip_parse("::1 ::2", 3, &ip));
    assert_true(proxy_ip_parse("::1", 2, &ip)); /* "::" */
    char text[PROXY_IP_TEXT_MAX];
    proxy_ip_format(&ip, text);
    assert_string_equal(text, "::");
    assert_false(proxy_ip_parse("::1", 1, &ip));
    assert_false(proxy_ip_parse("1.2.3.4", 0, &ip));

    /* an embedded NUL is just an invalid byte */
    assert_false(parse_exact("1.2.3.4\0", 8, &ip));
    assert_false(parse_exact("1.2\0.3.4", 8, &ip));
    assert_false(parse_exact("::1\0", 4, &ip));
}

static void test_parse_length_limit(void **state)
{
    (void)state;
    struct proxy_ip ip;
    const char *longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    assert_int_equal(strlen(longest), PROXY_IP_TEXT_MAX - 1);
    assert_true(parse_str(longest, &ip));
    assert_false(parse_str("0ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &ip));
    assert_false(parse_str("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2550", &ip));

    char big[1000];
    memset(big, '0', sizeof big);
    assert_false(parse_exact(big, sizeof big, &ip));
    memset(big, ':', sizeof big);
    assert_false(parse_exact(big, sizeof big, &ip));
}

static void test_parse_every_single_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char byte = (char)c;
        struct proxy_ip ip;
        assert_false(parse_exact(&byte, 1, &ip));
    }
}

/* One group with 0-3 extra leading zeros and random letter case. */
static char *write_styled_group(char *p, unsigned value)
{
    char digits[8];
    int n = snprintf(digits, sizeof digits, "%x", value);
    int width = n + (int)(rng_next() % (unsigned)(5 - n));
    for (int i = 0; i < width - n; i++)
        *p++ = '0';
    for (int i = 0; i < n; i++) {
        bool upper = digits[i] >= 'a' && rng_next() % 2;
        *p++ = upper ? (char)(digits[i] - 'a' + 'A') : digits[i];
    }
    return p;
}

/*
 * Any valid spelling of a random address: "::" over any zero run (or none), optional dotted
 * quad tail, leading zeros, mixed case.
 */
static size_t write_styled_ip(const struct proxy_ip *ip, char *out)
{
    char *p = out;
    if (ip->family == PROXY_FAM_INET)
        return (size_t)sprintf(out, "%u.%u.%u.%u", ip->addr[0], ip->addr[1], ip->addr[2],
                               ip->addr[3]);
    unsigned groups[8];
    for (int i = 0; i < 8; i++)
        groups[i] = (unsigned)ip->addr[2 * i] << 8 | ip->addr[2 * i + 1];
    bool quad_tail = rng_next() % 4 == 0;
    int last = quad_tail ? 6 : 8; /* groups written in hex */
    int gap_start = -1, gap_end = -1;
    int pick = (int)(rng_next() % 8);
    if (groups[pick] == 0 && pick < last) {
        gap_start = gap_end = pick;
        while (gap_start > 0 && groups[gap_start - 1] == 0 && rng_next() % 3)
            gap_start--;
        while (gap_end + 1 < last && groups[gap_end + 1] == 0 && rng_next() % 3)
            gap_end++;
    }
    for (int i = 0; i < last; i++) {
        if (i == gap_start) {
            p += sprintf(p, "::");
            i = gap_end;
            continue;
        }
        if (i > 0 && i != gap_end + 1)
            *p++ = ':';
        p = write_styled_group(p, groups[i]);
    }
    if (quad_tail)
        p += sprintf(p, "%s%u.%u.%u.%u", gap_end == 5 ? "" : ":", ip->addr[12], ip->addr[13],
                     ip->addr[14], ip->addr[15]);
    *p = '\0';
    return (size_t)(p - out);
}

/* Inserts, deletes or replaces one byte, to produce near misses. */
static size_t mutate(char *text, size_t len, size_t cap)
{
    static const char alphabet[] = "0123456789abcdefABCDEFg:.% /[]-+";
    size_t at = len ? rng_next() % len : 0;
    char c = alphabet[rng_next() % (sizeof alphabet - 1)];
    switch (rng_next() % 3) {
    case 0:
        if (len + 1 < cap) {
            memmove(text + at + 1, text + at, len - at + 1);
            text[at] = c;
            len++;
        }
        break;
    case 1:
        if (len) {
            memmove(text + at, text + at + 1, len - at);
            len--;
        }
        break;
    default:
        if (len)
            text[at] = c;
        break;
    }
    return len;
}

static struct proxy_ip random_ip(void);

/* Valid spellings and their near misses, judged by glibc's inet_pton as well. */
static void test_parse_random_text_matches_reference(void **state)
{
    (void)state;
    int valid = 0;
    for (int round = 0; round < 300000; round++) {
        struct proxy_ip ip = random_ip();
        char text[128];
        size_t len = write_styled_ip(&ip, text);
        int mutations = (int)(rng_next() % 4);
        for (int i = 0; i < mutations; i++)
            len = mutate(text, len, sizeof text);
        struct proxy_ip ours, ref;
        bool ok = parse_exact(text, len, &ours);
        bool ref_ok = reference_parse(text, &ref);
        if (ok != ref_ok)
            fail_msg("\"%s\": ours %d, inet_pton %d", text, ok, ref_ok);
        if (ok) {
            assert_ip_equal(&ours, &ref);
            valid++;
        }
        if (ok && mutations == 0)
            assert_ip_equal(&ours, &ip);
        if (mutations == 0 && !ok)
            fail_msg("\"%s\" should be valid", text);
    }
    assert_true(valid > 50000);
}

/* Addresses shaped like real ones: runs of zero groups, small groups, v4-mapped. */
static struct proxy_ip random_ip(void)
{
    struct proxy_ip ip = {.family = PROXY_FAM_INET6};
    uint64_t shape = rng_next();
    if (shape % 5 == 0) {
        ip.family = PROXY_FAM_INET;
        for (int i = 0; i < 4; i++)
            ip.addr[i] = (uint8_t)rng_next();
        return ip;
    }
    for (int group = 0; group < 8; group++) {
        uint64_t r = rng_next();
        unsigned value = r % 3 == 0 ? 0 : (unsigned)(r >> 8) & (r % 5 ? 0xffffu : 0xfu);
        ip.addr[2 * group] = (uint8_t)(value >> 8);
        ip.addr[2 * group + 1] = (uint8_t)value;
    }
    if (shape % 7 == 0) {
        memset(ip.addr, 0, 10);
        ip.addr[10] = ip.addr[11] = 0xff;
    }
    return ip;
}

/* glibc writes ::a.b.c.d for the deprecated IPv4-compatible block, RFC 5952 does not. */
static bool reference_formats_like_rfc5952(const struct proxy_ip *ip)
{
    static const uint8_t zeros[12];
    return ip->family == PROXY_FAM_INET || memcmp(ip->addr, zeros, 12) != 0;
}

static void test_format_round_trip_random(void **state)
{
    (void)state;
    for (int round = 0; round < 200000; round++) {
        struct proxy_ip ip = random_ip(), back;
        char text[PROXY_IP_TEXT_MAX];
        size_t len = proxy_ip_format(&ip, text);
        assert_int_equal(len, strlen(text));
        assert_true(len < PROXY_IP_TEXT_MAX);
        if (!parse_exact(text, len, &back))
            fail_msg("formatted \"%s\" does not parse", text);
        assert_ip_equal(&ip, &back);

        if (reference_formats_like_rfc5952(&ip)) {
            char ref[INET6_ADDRSTRLEN];
            int af = ip.family == PROXY_FAM_INET ? AF_INET : AF_INET6;
            assert_non_null(inet_ntop(af, ip.addr, ref, sizeof ref));
            if (strcmp(ref, text) != 0)
                fail_msg("formatted \"%s\", inet_ntop \"%s\"", text, ref);
        }
    }
}

/* Input as any valid text (parsed by the reference), expected RFC 5952 output. */
struct format_case {
    const char *input;
    const char *expected;
};

static const struct format_case format_cases[] = {
    /* RFC 5952 4.1: leading zeros dropped */
    {"2001:0db8::0001", "2001:db8::1"},
    {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"},
    {"2001:db8::00ff", "2001:db8::ff"},
    {"2001:db8::0", "2001:db8::"},
    /* 4.2.1: "::" as long as possible */
    {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},
    {"2001:db8::0:1", "2001:db8::1"},
    {"2001:db8:0:0:0::1", "2001:db8::1"},
    /* 4.2.2: not for a single zero group */
    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
    {"2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
    {"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"},
    /* 4.2.3: the longest run, the first one on ties */
    {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
    {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
    {"0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"},
    {"1:0:0:1:0:0:0:0", "1:0:0:1::"},
    {"0:0:0:1:0:0:0:0", "0:0:0:1::"},
    /* 4.3: lower case */
    {"2001:DB8::ABCD:EF", "2001:db8::abcd:ef"},
    /* 5: mixed notation for v4-mapped only */
    {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
    {"0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"},
    {"::fffe:192.0.2.1", "::fffe:c000:201"},
    {"1::ffff:192.0.2.1", "1::ffff:c000:201"},
    {"::192.0.2.1", "::c000:201"},
    /* edges */
    {"::", "::"},
    {"::1", "::1"},
    {"1::", "1::"},
    {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
    {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"0.0.0.0", "0.0.0.0"},
    {"255.255.255.255", "255.255.255.255"},
    {"10.100.1.0", "10.100.1.0"},
};

static void test_format_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(format_cases); i++) {
        struct proxy_ip ip;
        assert_true(reference_parse(format_cases[i].input, &ip));
        char text[PROXY_IP_TEXT_MAX];
        size_t len = proxy_ip_format(&ip, text);
        if (strcmp(text, format_cases[i].expected) != 0)
            fail_msg("\"%s\": formatted \"%s\", expected \"%s\"", format_cases[i].input, text,
                     format_cases[i].expected);
        assert_int_equal(len, strlen(format_cases[i].expected));
    }
}

static void test_format_every_ipv4_octet(void **state)
{
    (void)state;
    for (int v = 0; v < 256; v++) {
        struct proxy_ip ip = {.family = PROXY_FAM_INET, .addr = {(uint8_t)v, 0, (uint8_t)v, 1}};
        char text[PROXY_IP_TEXT_MAX], expected[32];
        snprintf(expected, sizeof expected, "%d.0.%d.1", v, v);
        assert_int_equal(proxy_ip_format(&ip, text), strlen(expected));
        assert_string_equal(text, expected);
    }
}

static void test_format_unknown_family(void **state)
{
    (void)state;
    struct proxy_ip ip = {.family = PROXY_FAM_UNIX};
    char text[PROXY_IP_TEXT_MAX] = "junk";
    assert_int_equal(proxy_ip_format(&ip, text), 0);
    assert_string_equal(text, "");
}

static void test_v4_mapped(void **state)
{
    (void)state;
    struct proxy_ip ip;
    assert_true(parse_str("::ffff:10.1.2.3", &ip));
    assert_true(proxy_ip_is_v4_mapped(&ip));
    proxy_ip_unmap(&ip);
    assert_int_equal(ip.family, PROXY_FAM_INET);
    static const uint8_t expected[16] = {10, 1, 2, 3};
    assert_memory_equal(ip.addr, expected, 16);
    assert_false(proxy_ip_is_v4_mapped(&ip));

    static const char *const not_mapped[] = {
        "::1", "::", "::fffe:10.1.2.3", "1::ffff:10.1.2.3", "::ffff:0:10.1.2.3",
        "10.1.2.3", "ffff::10.1.2.3", "0:0:0:0:1:ffff:10.1.2.3",
    };
    for (size_t i = 0; i < ARRAY_LEN(not_mapped); i++) {
        assert_true(parse_str(not_mapped[i], &ip));
        if (proxy_ip_is_v4_mapped(&ip))
            fail_msg("\"%s\" is not v4-mapped", not_mapped[i]);
        struct proxy_ip copy = ip;
        proxy_ip_unmap(&copy);
        assert_memory_equal(&copy, &ip, sizeof ip);
    }
}

static void test_v4_mapped_round_trip(void **state)
{
    (void)state;
    struct proxy_ip ip, back;
    assert_true(parse_str("0:0:0:0:0:FFFF:7f00:1", &ip));
    assert_true(proxy_ip_is_v4_mapped(&ip));
    char text[PROXY_IP_TEXT_MAX];
    proxy_ip_format(&ip, text);
    assert_string_equal(text, "::ffff:127.0.0.1");
    assert_true(parse_str(text, &back));
    assert_ip_equal(&ip, &back);
    proxy_ip_unmap(&back);
    proxy_ip_format(&back, text);
    assert_string_equal(text, "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_table_matches_reference),
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_parse_ipv4_clears_tail),
        cmocka_unit_test(test_parse_failure_leaves_output),
        cmocka_unit_test(test_parse_respects_len),
        cmocka_unit_test(test_parse_length_limit),
        cmocka_unit_test(test_parse_every_single_byte),
        cmocka_unit_test(test_parse_random_text_matches_reference),
        cmocka_unit_test(test_format_table),
        cmocka_unit_test(test_format_round_trip_random),
        cmocka_unit_test(test_format_every_ipv4_octet),
        cmocka_unit_test(test_format_unknown_family),
        cmocka_unit_test(test_v4_mapped),
        cmocka_unit_test(test_v4_mapped_round_trip),
    };
    return cmocka_run_group_tests_name("ip_text", tests, NULL, NULL);
}
