/*
 * Network sets: entry syntax and messages, normalisation (host bits, IPv4-mapped), lookups
 * (compiled and not), and a cross-check of random sets against a naive linear scan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "netset/netset.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Test-side address parsing goes through glibc, independent of the code under test. */
static struct proxy_ip ip_of(const char *text)
{
    struct proxy_ip ip = {0};
    if (inet_pton(AF_INET, text, ip.addr) == 1) {
        ip.family = PROXY_FAM_INET;
    } else {
        ip.family = PROXY_FAM_INET6;
        if (inet_pton(AF_INET6, text, ip.addr) != 1)
            fail_msg("test bug: \"%s\" is not an address", text);
    }
    return ip;
}

static struct netset *set_of(const char *const *entries, size_t n)
{
    struct netset *set = netset_new();
    assert_non_null(set);
    for (size_t i = 0; i < n; i++) {
        char msg[256];
        if (!netset_add(set, entries[i], strlen(entries[i]), msg, sizeof msg))
            fail_msg("%s", msg);
    }
    return set;
}

#define SET_OF(...) \
    set_of((const char *const[]){__VA_ARGS__}, ARRAY_LEN(((const char *const[]){__VA_ARGS__})))

static bool has(const struct netset *set, const char *addr)
{
    struct proxy_ip ip = ip_of(addr);
    return netset_contains(set, &ip);
}

/* ---- Entry syntax ---- */

/* expected: the canonical entry for NETSET_ADDED, the message otherwise. */
struct add_case {
    const char *text;
    enum netset_status status;
    const char *expected;
};

#define OK NETSET_ADDED
#define FIXED NETSET_ADDED_NORMALISED
#define BAD NETSET_INVALID

static const struct add_case add_cases[] = {
    {"1.2.3.4", OK, "1.2.3.4/32"},
    {"10.0.0.0/8", OK, "10.0.0.0/8"},
    {"0.0.0.0/0", OK, "0.0.0.0/0"},
    {"255.255.255.255/32", OK, "255.255.255.255/32"},
    {"192.168.1.128/25", OK, "192.168.1.128/25"},
    {"127.0.0.1/32", OK, "127.0.0.1/32"},
    {"::1", OK, "::1/128"},
    {"::", OK, "::/128"},
    {"::/0", OK, "::/0"},
    {"2001:db8::/32", OK, "2001:db8::/32"},
    {"2001:0DB8:0000::/32", OK, "2001:db8::/32"},
    {"fe80::/10", OK, "fe80::/10"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", OK,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
    {"2001:db8::/64", OK, "2001:db8::/64"},
    {"2001:db8:0:0:8000::/65", OK, "2001:db8:0:0:8000::/65"},
    /* IPv4-mapped entries are IPv4 */
    {"::ffff:10.0.0.0/104", OK, "10.0.0.0/8"},
    {"::ffff:10.1.2.3", OK, "10.1.2.3/32"},
    {"::FFFF:10.1.2.3/128", OK, "10.1.2.3/32"},
    {"::ffff:0.0.0.0/96", OK, "0.0.0.0/0"},
    {"::ffff:0:0/96", OK, "0.0.0.0/0"},
    {"0:0:0:0:0:ffff:c0a8:0/112", OK, "192.168.0.0/16"},
    {"::fffe:0:0/95", OK, "::fffe:0:0/95"},
    {"::ffff:0:0/95", FIXED, "\"::ffff:0:0/95\": host bits set; treated as ::fffe:0:0/95"},
    {"::ffff:0.0.0.0/80", FIXED, "\"::ffff:0.0.0.0/80\": host bits set; treated as ::/80"},
    {"::1.2.3.4", OK, "::102:304/128"},
    /* host bits set: accepted, cleared, warned about */
    {"10.1.2.3/8", FIXED, "\"10.1.2.3/8\": host bits set; treated as 10.0.0.0/8"},
    {"192.168.1.1/24", FIXED, "\"192.168.1.1/24\": host bits set; treated as 192.168.1.0/24"},
    {"1.2.3.4/0", FIXED, "\"1.2.3.4/0\": host bits set; treated as 0.0.0.0/0"},
    {"10.0.0.1/31", FIXED, "\"10.0.0.1/31\": host bits set; treated as 10.0.0.0/31"},
    {"2001:db8::1/32", FIXED, "\"2001:db8::1/32\": host bits set; treated as 2001:db8::/32"},
    {"::1/127", FIXED, "\"::1/127\": host bits set; treated as ::/127"},
    {"::1/0", FIXED, "\"::1/0\": host bits set; treated as ::/0"},
    {"2001:db8::8000:0:0:1/65", FIXED,
     "\"2001:db8::8000:0:0:1/65\": host bits set; treated as 2001:db8:0:0:8000::/65"},
    {"::ffff:10.1.2.3/104", FIXED, "\"::ffff:10.1.2.3/104\": host bits set; treated as 10.0.0.0/8"},
    {"::ffff:10.0.0.0/8", FIXED, "\"::ffff:10.0.0.0/8\": host bits set; treated as ::/8"},
    /* prefix length */
    {"10.0.0.0/33", BAD, "\"10.0.0.0/33\": prefix length must be 0-32 for IPv4"},
    {"10.0.0.0/128", BAD, "\"10.0.0.0/128\": prefix length must be 0-32 for IPv4"},
    {"10.0.0.0/4294967304", BAD, "\"10.0.0.0/4294967304\": prefix length must be 0-32 for IPv4"},
    {"10.0.0.0/99999999999999999999999", BAD,
     "\"10.0.0.0/99999999999999999999999\": prefix length must be 0-32 for IPv4"},
    {"::/129", BAD, "\"::/129\": prefix length must be 0-128 for IPv6"},
    {"::ffff:10.0.0.0/129", BAD, "\"::ffff:10.0.0.0/129\": prefix length must be 0-128 for IPv6"},
    {"10.0.0.0/", BAD, "\"10.0.0.0/\": missing prefix length after \"/\""},
    {"::/", BAD, "\"::/\": missing prefix length after \"/\""},
    {"10.0.0.0/08", BAD, "\"10.0.0.0/08\": prefix length must not have leading zeros"},
    {"10.0.0.0/00", BAD, "\"10.0.0.0/00\": prefix length must not have leading zeros"},
    {"::/064", BAD, "\"::/064\": prefix length must not have leading zeros"},
    {"10.0.0.0/+8", BAD, "\"10.0.0.0/+8\": prefix length must be a decimal number"},
    {"10.0.0.0/-1", BAD, "\"10.0.0.0/-1\": prefix length must be a decimal number"},
    {"10.0.0.0/8/8", BAD, "\"10.0.0.0/8/8\": prefix length must be a decimal number"},
    {"10.0.0.0/0x8", BAD, "\"10.0.0.0/0x8\": prefix length must be a decimal number"},
    {"10.0.0.0/8a", BAD, "\"10.0.0.0/8a\": prefix length must be a decimal number"},
    {"10.0.0.0/255.0.0.0", BAD, "\"10.0.0.0/255.0.0.0\": prefix length must be a decimal number"},
    /* address */
    {"", BAD, "\"\": empty entry"},
    {"/8", BAD, "\"/8\": missing address before \"/\""},
    {"/", BAD, "\"/\": missing address before \"/\""},
    {"256.0.0.0/8", BAD,
     "\"256.0.0.0/8\": not a valid IPv4 address (four numbers 0-255, no leading zeros)"},
    {"010.0.0.0/8", BAD,
     "\"010.0.0.0/8\": not a valid IPv4 address (four numbers 0-255, no leading zeros)"},
    {"10.0.0/24", BAD,
     "\"10.0.0/24\": not a valid IPv4 address (four numbers 0-255, no leading zeros)"},
    {"10", BAD, "\"10\": not a valid IPv4 address (four numbers 0-255, no leading zeros)"},
    {"1:2:3:4:5:6:7:8:9", BAD, "\"1:2:3:4:5:6:7:8:9\": not a valid IPv6 address"},
    {":::/64", BAD, "\":::/64\": not a valid IPv6 address"},
    {"2001:db8::g/32", BAD, "\"2001:db8::g/32\": not a valid IPv6 address"},
    {"fe80::1%eth0", BAD, "\"fe80::1%eth0\": zone ids (\"%...\") are not allowed"},
    {"fe80::%eth0/64", BAD, "\"fe80::%eth0/64\": zone ids (\"%...\") are not allowed"},
    {"[::1]", BAD, "\"[::1]\": write the address without brackets"},
    {"[2001:db8::]/32", BAD, "\"[2001:db8::]/32\": write the address without brackets"},
    {"localhost", BAD, "\"localhost\": not an IP address (host names are not allowed)"},
    {"mx.example.com/24", BAD,
     "\"mx.example.com/24\": not an IP address (host names are not allowed)"},
    {"*", BAD, "\"*\": not an IP address (host names are not allowed)"},
    {"any", BAD, "\"any\": not an IP address (host names are not allowed)"},
    {" 10.0.0.0/8", BAD, "\" 10.0.0.0/8\": unexpected whitespace"},
    {"10.0.0.0 /8", BAD, "\"10.0.0.0 /8\": unexpected whitespace"},
    {"10.0.0.0/8\n", BAD, "\"10.0.0.0/8\\x0a\": unexpected whitespace"},
    {"10.0.0.0/8\t", BAD, "\"10.0.0.0/8\\x09\": unexpected whitespace"},
    {"10.0.0.0,::1", BAD, "\"10.0.0.0,::1\": not a valid IPv6 address"},
    /* the entry is quoted safely */
    {"a\"b", BAD, "\"a\\\"b\": not an IP address (host names are not allowed)"},
    {"a\\b", BAD, "\"a\\\\b\": not an IP address (host names are not allowed)"},
    {"\x01\x7f\xff", BAD, "\"\\x01\\x7f\\xff\": not an IP address (host names are not allowed)"},
};

static void test_add_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(add_cases); i++) {
        const struct add_case *c = &add_cases[i];
        struct netset *set = netset_new();
        char msg[256] = "untouched";
        enum netset_status status = netset_add(set, c->text, strlen(c->text), msg, sizeof msg);
        if (status != c->status)
            fail_msg("\"%s\": status %d, expected %d (%s)", c->text, status, c->status, msg);
        if (status == NETSET_ADDED) {
            assert_string_equal(msg, "");
            char canonical[NETSET_CIDR_TEXT_MAX];
            netset_cidr_format(netset_entry(set, 0), canonical);
            if (strcmp(canonical, c->expected) != 0)
                fail_msg("\"%s\": stored as \"%s\", expected \"%s\"", c->text, canonical,
                         c->expected);
        } else if (strcmp(msg, c->expected) != 0) {
            fail_msg("\"%s\": message '%s', expected '%s'", c->text, msg, c->expected);
        }
        assert_int_equal(netset_count(set), status == NETSET_INVALID ? 0 : 1);
        netset_free(set);
    }
}

/* The canonical form of every accepted entry is itself accepted unchanged. */
static void test_canonical_form_is_stable(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(add_cases); i++) {
        struct netset_cidr first, again;
        if (!netset_cidr_parse(add_cases[i].text, strlen(add_cases[i].text), &first, NULL, 0))
            continue;
        char text[NETSET_CIDR_TEXT_MAX];
        size_t len = netset_cidr_format(&first, text);
        assert_int_equal(len, strlen(text));
        assert_int_equal(netset_cidr_parse(text, len, &again, NULL, 0), NETSET_ADDED);
        assert_int_equal(again.prefix, first.prefix);
        assert_int_equal(again.base.family, first.base.family);
        assert_memory_equal(again.base.addr, first.base.addr, 16);
    }
}

static void test_message_embedded_nul_and_len(void **state)
{
    (void)state;
    char msg[128];
    struct netset_cidr cidr;
    assert_int_equal(netset_cidr_parse("1.2.3.4\0", 8, &cidr, msg, sizeof msg), NETSET_INVALID);
    assert_string_equal(msg, "\"1.2.3.4\\x00\": not an IP address (host names are not allowed)");
    /* only len bytes count */
    assert_int_equal(netset_cidr_parse("10.0.0.0/8, 11.0.0.0/8", 10, &cidr, msg, sizeof msg),
                     NETSET_ADDED);
    assert_int_equal(cidr.prefix, 8);
    char *exact = malloc(12);
    memcpy(exact, "::ffff:1.2.3", 12); /* no NUL: ASan checks nothing past len is read */
    assert_int_equal(netset_cidr_parse(exact, 12, &cidr, msg, sizeof msg), NETSET_INVALID);
    assert_string_equal(msg, "\"::ffff:1.2.3\": not a valid IPv6 address");
    free(exact);
}

static void test_message_long_entry_shortened(void **state)
{
    (void)state;
    char entry[300], msg[512];
    memset(entry, 'x', sizeof entry);
    struct netset_cidr cidr;
    assert_int_equal(netset_cidr_parse(entry, sizeof entry, &cidr, msg, sizeof msg),
                     NETSET_INVALID);
    char expected[512];
    snprintf(expected, sizeof expected,
             "\"%.*s...\": not an IP address (host names are not allowed)", 64, entry);
    assert_string_equal(msg, expected);
}

static void test_message_buffer_limits(void **state)
{
    (void)state;
    struct netset_cidr cidr;
    assert_int_equal(netset_cidr_parse("10.0.0.0/33", 11, &cidr, NULL, 0), NETSET_INVALID);
    assert_int_equal(netset_cidr_parse("10.1.0.0/8", 10, &cidr, NULL, 100),
                     NETSET_ADDED_NORMALISED);
    char tiny[8] = "abcdefg";
    assert_int_equal(netset_cidr_parse("10.0.0.0/33", 11, &cidr, tiny, 0), NETSET_INVALID);
    assert_string_equal(tiny, "abcdefg");
    assert_int_equal(netset_cidr_parse("10.0.0.0/33", 11, &cidr, tiny, 1), NETSET_INVALID);
    assert_string_equal(tiny, "");
    assert_int_equal(netset_cidr_parse("10.0.0.0/33", 11, &cidr, tiny, sizeof tiny),
                     NETSET_INVALID);
    assert_string_equal(tiny, "\"10.0.0");
    char exact[16];
    assert_int_equal(netset_cidr_parse("1.1.1.1/33", 10, &cidr, exact, 15), NETSET_INVALID);
    assert_string_equal(exact, "\"1.1.1.1/33\": ");
    assert_int_equal(netset_cidr_parse("1.1.1.1", 7, &cidr, exact, sizeof exact), NETSET_ADDED);
    assert_string_equal(exact, "");
}

/* ---- Lookups ---- */

static void test_empty_and_null_sets(void **state)
{
    (void)state;
    struct netset *set = netset_new();
    assert_false(has(set, "0.0.0.0"));
    assert_false(has(set, "::"));
    assert_true(netset_compile(set));
    assert_false(has(set, "10.0.0.1"));
    assert_false(has(set, "::ffff:10.0.0.1"));
    assert_int_equal(netset_count(set), 0);
    assert_int_equal(netset_range_count(set), 0);
    assert_null(netset_entry(set, 0));
    netset_free(set);

    struct proxy_ip ip = ip_of("1.2.3.4");
    assert_false(netset_contains(NULL, &ip));
    assert_int_equal(netset_count(NULL), 0);
    char out[8] = "junk";
    assert_int_equal(netset_format(NULL, out, sizeof out), 0);
    assert_string_equal(out, "");
    netset_free(NULL);
}

/* Every lookup test runs on the set as built (linear scan) and compiled (binary search). */
static void check_both_ways(struct netset *set, const char *const *in, size_t n_in,
                            const char *const *out, size_t n_out)
{
    for (int compiled = 0; compiled < 2; compiled++) {
        if (compiled)
            assert_true(netset_compile(set));
        for (size_t i = 0; i < n_in; i++)
            if (!has(set, in[i]))
                fail_msg("%s should be in the set (compiled=%d)", in[i], compiled);
        for (size_t i = 0; i < n_out; i++)
            if (has(set, out[i]))
                fail_msg("%s should not be in the set (compiled=%d)", out[i], compiled);
    }
}

#define LIST(...) \
    (const char *const[]){__VA_ARGS__}, ARRAY_LEN(((const char *const[]){__VA_ARGS__}))

static void test_ipv4_network_boundaries(void **state)
{
    (void)state;
    struct netset *set = SET_OF("10.0.0.0/8", "192.168.1.7", "172.16.0.0/12");
    check_both_ways(set,
                    LIST("10.0.0.0", "10.255.255.255", "10.1.2.3", "192.168.1.7", "172.16.0.0",
                         "172.31.255.255"),
                    LIST("9.255.255.255", "11.0.0.0", "192.168.1.6", "192.168.1.8",
                         "172.15.255.255", "172.32.0.0", "0.0.0.0", "255.255.255.255",
                         "::a00:1", "10::"));
    netset_free(set);
}

static void test_address_space_edges(void **state)
{
    (void)state;
    struct netset *set = SET_OF("0.0.0.0/32", "255.255.255.255/32", "::/128",
                                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
    check_both_ways(set,
                    LIST("0.0.0.0", "255.255.255.255", "::",
                         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                    LIST("0.0.0.1", "255.255.255.254", "::1",
                         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "::ffff:0.0.0.1"));
    assert_int_equal(netset_range_count(set), 4);
    netset_free(set);
}

static void test_prefix_zero(void **state)
{
    (void)state;
    struct netset *v4 = SET_OF("0.0.0.0/0");
    check_both_ways(v4, LIST("0.0.0.0", "255.255.255.255", "10.1.2.3", "::ffff:10.1.2.3"),
                    LIST("::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    netset_free(v4);

    /* IPv6 entries match IPv6 peers only, also when the peer arrives IPv4-mapped */
    struct netset *v6 = SET_OF("::/0");
    check_both_ways(v6, LIST("::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                             "::fffe:1.2.3.4", "::1.2.3.4"),
                    LIST("0.0.0.0", "10.1.2.3", "::ffff:10.1.2.3", "255.255.255.255"));
    netset_free(v6);
}

static void test_prefix_full_length(void **state)
{
    (void)state;
    struct netset *set = SET_OF("203.0.113.9/32", "2001:db8::1/128", "2001:db8::2");
    check_both_ways(set, LIST("203.0.113.9", "::ffff:203.0.113.9", "2001:db8::1", "2001:db8::2"),
                    LIST("203.0.113.8", "203.0.113.10", "2001:db8::", "2001:db8::3",
                         "2001:db8::1:1"));
    netset_free(set);
}

static void test_ipv6_prefixes_across_the_middle(void **state)
{
    (void)state;
    struct netset *set = SET_OF("2001:db8:1:2::/64", "2001:db8:1:3:8000::/65", "fe80::/10",
                                "2001:db8:ff00::/40", "2001:db8:1:4::/63");
    check_both_ways(set,
                    LIST("2001:db8:1:2::", "2001:db8:1:2:ffff:ffff:ffff:ffff",
                         "2001:db8:1:3:8000::", "2001:db8:1:3:ffff:ffff:ffff:ffff", "fe80::1",
                         "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:ff00::",
                         "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:1:5::1"),
                    LIST("2001:db8:1:1:ffff:ffff:ffff:ffff", "2001:db8:1:3::",
                         "2001:db8:1:3:7fff:ffff:ffff:ffff",
                         "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                         "fec0::", "2001:db8:fe00::", "2001:db8:1:6::", "2001:db8:1:3::1"));
    netset_free(set);
}

static void test_mapped_peer_matches_ipv4_entry(void **state)
{
    (void)state;
    struct netset *set = SET_OF("10.0.0.0/8", "192.0.2.1");
    check_both_ways(set, LIST("::ffff:10.1.2.3", "::FFFF:10.0.0.0", "::ffff:192.0.2.1", "10.9.9.9"),
                    LIST("::ffff:11.0.0.0", "::ffff:192.0.2.2", "::a01:203", "::fffe:10.1.2.3",
                         "64:ff9b::10.1.2.3"));
    netset_free(set);
}

static void test_mapped_entry_matches_ipv4_peer(void **state)
{
    (void)state;
    struct netset *set = SET_OF("::ffff:10.0.0.0/104", "::ffff:192.0.2.1");
    check_both_ways(set, LIST("10.1.2.3", "::ffff:10.1.2.3", "192.0.2.1", "::ffff:192.0.2.1"),
                    LIST("11.0.0.1", "::ffff:11.0.0.1", "192.0.2.2", "::a01:203"));
    assert_int_equal(netset_entry(set, 0)->base.family, PROXY_FAM_INET);
    netset_free(set);
}

static void test_host_bits_entry_matches_whole_network(void **state)
{
    (void)state;
    struct netset *set = netset_new();
    char msg[128];
    assert_int_equal(netset_add(set, "10.1.2.3/8", 10, msg, sizeof msg), NETSET_ADDED_NORMALISED);
    assert_int_equal(netset_count(set), 1);
    check_both_ways(set, LIST("10.0.0.0", "10.200.0.1", "10.1.2.3"), LIST("11.1.2.3"));
    netset_free(set);
}

static void test_overlapping_entries_merge(void **state)
{
    (void)state;
    struct netset *set = SET_OF("10.1.0.0/16", "10.0.0.0/8", "10.0.0.0/8", "11.0.0.0/8",
                                "10.200.3.4", "192.168.0.128/25", "192.168.0.0/24",
                                "172.16.0.0/12", "2001:db8::/32", "2001:db8:1::/48",
                                "2001:db9::/32", "::1");
    check_both_ways(set, LIST("10.0.0.0", "11.255.255.255", "192.168.0.255", "2001:db9:ffff::",
                              "172.20.0.1", "::1"),
                    LIST("12.0.0.0", "9.255.255.255", "192.168.1.0", "2001:dba::", "::2"));
    /* 10/8+11/8 adjacent, 192.168.0.0/24, 172.16/12; 2001:db8::/31, ::1 */
    assert_int_equal(netset_range_count(set), 5);
    assert_int_equal(netset_count(set), 12);
    netset_free(set);
}

/* Ranges that almost touch must not merge. */
static void test_one_address_gap_stays_open(void **state)
{
    (void)state;
    struct netset *set = SET_OF("10.0.0.0/31", "10.0.0.3", "2001:db8::/127", "2001:db8::3",
                                "0:0:0:0:ffff:ffff:ffff:fffe/127", "0:0:0:1::1");
    check_both_ways(set,
                    LIST("10.0.0.0", "10.0.0.1", "10.0.0.3", "2001:db8::", "2001:db8::1",
                         "2001:db8::3", "0:0:0:0:ffff:ffff:ffff:ffff", "0:0:0:1::1"),
                    LIST("10.0.0.2", "10.0.0.4", "9.255.255.255", "2001:db8::2", "2001:db8::4",
                         "0:0:0:1::", "0:0:0:1::2"));
    assert_int_equal(netset_range_count(set), 6);
    netset_free(set);
}

static void test_adjacent_halves_cover_everything(void **state)
{
    (void)state;
    struct netset *set = SET_OF("128.0.0.0/1", "0.0.0.0/1", "8000::/1", "::/1");
    check_both_ways(set, LIST("0.0.0.0", "127.255.255.255", "128.0.0.0", "255.255.255.255", "::",
                              "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::",
                              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                    NULL, 0);
    assert_int_equal(netset_range_count(set), 2);
    netset_free(set);
}

static void test_add_after_lookup_and_compile(void **state)
{
    (void)state;
    struct netset *set = SET_OF("10.0.0.0/8");
    assert_true(netset_compile(set));
    assert_true(has(set, "10.0.0.1"));
    assert_false(has(set, "192.168.0.1"));
    char msg[128];
    assert_int_equal(netset_add(set, "192.168.0.0/16", 14, msg, sizeof msg), NETSET_ADDED);
    assert_int_equal(netset_range_count(set), 0); /* stale until compiled again */
    assert_true(has(set, "192.168.0.1"));         /* but still correct */
    assert_true(has(set, "10.0.0.1"));
    assert_true(netset_compile(set));
    assert_true(has(set, "192.168.0.1"));
    assert_int_equal(netset_range_count(set), 2);
    /* a refused entry leaves the set as it was */
    assert_int_equal(netset_add(set, "bogus", 5, msg, sizeof msg), NETSET_INVALID);
    assert_int_equal(netset_count(set), 2);
    assert_int_equal(netset_range_count(set), 2);
    netset_free(set);
}

static void test_union_of_sets(void **state)
{
    (void)state;
    struct netset *a = SET_OF("10.0.0.0/8", "::1"), *b = SET_OF("192.0.2.7");
    struct netset *both = netset_new();
    assert_true(netset_add_set(both, a));
    assert_true(netset_add_set(both, b));
    assert_true(netset_add_set(both, NULL));
    assert_true(netset_compile(both));
    assert_int_equal(netset_count(both), 3);
    assert_true(has(both, "10.9.8.7"));
    assert_true(has(both, "::1"));
    assert_true(has(both, "192.0.2.7"));
    assert_false(has(both, "192.0.2.8"));
    assert_int_equal(netset_count(a), 2); /* the sources are left alone */
    netset_free(a);
    netset_free(b);
    netset_free(both);
}

static void test_contains_sockaddr(void **state)
{
    (void)state;
    struct netset *set = SET_OF("10.0.0.0/8", "2001:db8::/32");
    assert_true(netset_compile(set));

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(25)};
    inet_pton(AF_INET, "10.20.30.40", &sin.sin_addr);
    assert_true(netset_contains_sockaddr(set, (struct sockaddr *)&sin));
    inet_pton(AF_INET, "11.20.30.40", &sin.sin_addr);
    assert_false(netset_contains_sockaddr(set, (struct sockaddr *)&sin));

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(25)};
    inet_pton(AF_INET6, "::ffff:10.20.30.40", &sin6.sin6_addr);
    assert_true(netset_contains_sockaddr(set, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db8:1::1", &sin6.sin6_addr);
    assert_true(netset_contains_sockaddr(set, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db9::1", &sin6.sin6_addr);
    assert_false(netset_contains_sockaddr(set, (struct sockaddr *)&sin6));

    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    memcpy(&storage, &sin6, sizeof sin6);
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &((struct sockaddr_in6 *)&storage)->sin6_addr);
    assert_true(netset_contains_sockaddr(set, (struct sockaddr *)&storage));

    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/run/postern.sock"};
    assert_false(netset_contains_sockaddr(set, (struct sockaddr *)&sun));
    assert_false(netset_contains_sockaddr(set, NULL));
    assert_false(netset_contains_sockaddr(NULL, (struct sockaddr *)&sin6));
    netset_free(set);
}

static void test_unknown_family_not_contained(void **state)
{
    (void)state;
    struct netset *set = SET_OF("0.0.0.0/0", "::/0");
    struct proxy_ip unix_ip = {.family = PROXY_FAM_UNIX};
    struct proxy_ip unspec = {.family = PROXY_FAM_UNSPEC};
    assert_false(netset_contains(set, &unix_ip));
    assert_false(netset_contains(set, &unspec));
    assert_true(netset_compile(set));
    assert_false(netset_contains(set, &unix_ip));
    assert_false(netset_contains(set, &unspec));
    assert_false(netset_contains(set, NULL));
    netset_free(set);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    struct netset_cidr cidr;
    assert_int_equal(netset_cidr_parse("10.0.0.0/8", 10, &cidr, NULL, 0), NETSET_ADDED);
    struct proxy_ip in = ip_of("10.1.1.1"), mapped = ip_of("::ffff:10.1.1.1"),
                    out = ip_of("11.1.1.1"), v6 = ip_of("::a01:101");
    assert_true(netset_cidr_contains(&cidr, &in));
    assert_true(netset_cidr_contains(&cidr, &mapped));
    assert_false(netset_cidr_contains(&cidr, &out));
    assert_false(netset_cidr_contains(&cidr, &v6));
}

/* ---- Listing ---- */

static void test_format_lists_entries_in_input_order(void **state)
{
    (void)state;
    struct netset *set = SET_OF("127.0.0.0/8", "::1", "10.1.2.3/8", "::ffff:192.168.0.0/112",
                                "2001:DB8::/32", "127.0.0.0/8");
    const char *expected =
        "127.0.0.0/8, ::1/128, 10.0.0.0/8, 192.168.0.0/16, 2001:db8::/32, 127.0.0.0/8";
    char out[256];
    assert_int_equal(netset_format(set, out, sizeof out), strlen(expected));
    assert_string_equal(out, expected);
    assert_int_equal(netset_count(set), 6);
    assert_int_equal(netset_entry(set, 3)->prefix, 16);
    assert_null(netset_entry(set, 6));

    /* snprintf-like truncation */
    char small[10] = "xxxxxxxxx";
    assert_int_equal(netset_format(set, small, sizeof small), strlen(expected));
    assert_string_equal(small, "127.0.0.0");
    assert_int_equal(netset_format(set, small, 1), strlen(expected));
    assert_string_equal(small, "");
    small[0] = 'x';
    assert_int_equal(netset_format(set, NULL, 0), strlen(expected));
    assert_int_equal(netset_format(set, small, 0), strlen(expected));
    assert_int_equal(small[0], 'x');
    char exact[80];
    assert_int_equal(netset_format(set, exact, strlen(expected) + 1), strlen(expected));
    assert_string_equal(exact, expected);
    netset_free(set);
}

static void test_format_empty_set(void **state)
{
    (void)state;
    struct netset *set = netset_new();
    char out[8] = "junk";
    assert_int_equal(netset_format(set, out, sizeof out), 0);
    assert_string_equal(out, "");
    netset_free(set);
}

/* ---- Random sets against a naive scan ---- */

/* An entry as the naive model sees it: its own normalisation, bit by bit. */
struct model_entry {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

static bool is_mapped(const uint8_t addr[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(addr, prefix, 12) == 0;
}

static bool bit_at(const uint8_t *bytes, unsigned i)
{
    return bytes[i / 8] >> (7 - i % 8) & 1;
}

static bool model_match(const struct model_entry *e, int family, const uint8_t *addr)
{
    if (e->family != family)
        return false;
    for (unsigned i = 0; i < e->prefix; i++)
        if (bit_at(e->addr, i) != bit_at(addr, i))
            return false;
    return true;
}

static bool model_contains(const struct model_entry *entries, size_t n, int family,
                           const uint8_t *addr)
{
    uint8_t v4[4];
    if (family == AF_INET6 && is_mapped(addr)) {
        memcpy(v4, addr + 12, 4);
        family = AF_INET;
        addr = v4;
    }
    for (size_t i = 0; i < n; i++)
        if (model_match(&entries[i], family, addr))
            return true;
    return false;
}

/* Entries cluster in a few prefixes so that they overlap, nest and touch. */
static void random_bytes_near(uint8_t *out, size_t n, const uint8_t *hub)
{
    size_t shared = rng_next() % (n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = i < shared ? hub[i] : (uint8_t)rng_next();
}

static struct model_entry random_entry(const uint8_t hubs[4][16], char *text, size_t cap)
{
    struct model_entry e;
    const uint8_t *hub = hubs[rng_next() % 4];
    uint64_t kind = rng_next() % 10;
    char addr_text[INET6_ADDRSTRLEN];
    if (kind < 5) {
        e.family = AF_INET;
        random_bytes_near(e.addr, 4, hub);
        e.prefix = (unsigned)(rng_next() % 33);
        if (kind == 0)
            e.prefix = 24 + (unsigned)(rng_next() % 9);
        inet_ntop(AF_INET, e.addr, addr_text, sizeof addr_text);
    } else {
        e.family = AF_INET6;
        random_bytes_near(e.addr, 16, hub);
        e.prefix = (unsigned)(rng_next() % 129);
        if (kind == 9) { /* IPv4-mapped entry */
            memset(e.addr, 0, 10);
            e.addr[10] = e.addr[11] = 0xff;
            e.prefix = 96 + (unsigned)(rng_next() % 33);
        }
        inet_ntop(AF_INET6, e.addr, addr_text, sizeof addr_text);
    }
    snprintf(text, cap, "%s/%u", addr_text, e.prefix);
    if (e.family == AF_INET6 && is_mapped(e.addr) && e.prefix >= 96) {
        memmove(e.addr, e.addr + 12, 4);
        e.family = AF_INET;
        e.prefix -= 96;
    }
    return e;
}

/* Addresses at, just inside and just outside entry boundaries, plus random ones. */
static void random_probe(const struct model_entry *entries, size_t n, const uint8_t hubs[4][16],
                         int *family, uint8_t addr[16])
{
    const struct model_entry *e = &entries[rng_next() % n];
    uint64_t kind = rng_next() % 6;
    memset(addr, 0, 16);
    *family = e->family;
    size_t len = e->family == AF_INET ? 4 : 16;
    if (kind == 0) {
        random_bytes_near(addr, len, hubs[rng_next() % 4]);
    } else {
        memcpy(addr, e->addr, len);
        unsigned bits = (unsigned)len * 8;
        for (unsigned i = e->prefix; i < bits; i++) /* fill host bits: all 0, all 1 or random */
            if (kind == 2 || (kind == 3 && rng_next() % 2))
                addr[i / 8] |= (uint8_t)(1u << (7 - i % 8));
        if (kind == 4 && e->prefix > 0) /* flip the last network bit: just outside */
            addr[(e->prefix - 1) / 8] ^= (uint8_t)(1u << (7 - (e->prefix - 1) % 8));
    }
    if (*family == AF_INET && rng_next() % 3 == 0) { /* as a dual-stack socket reports it */
        memmove(addr + 12, addr, 4);
        memset(addr, 0, 10);
        addr[10] = addr[11] = 0xff;
        *family = AF_INET6;
    }
}

static void check_random_set(size_t n_entries, int probes)
{
    uint8_t hubs[4][16];
    for (int h = 0; h < 4; h++)
        for (int i = 0; i < 16; i++)
            hubs[h][i] = (uint8_t)rng_next();
    struct model_entry *entries = calloc(n_entries, sizeof *entries);
    struct netset *set = netset_new();
    for (size_t i = 0; i < n_entries; i++) {
        char text[80], msg[256];
        entries[i] = random_entry(hubs, text, sizeof text);
        if (!netset_add(set, text, strlen(text), msg, sizeof msg))
            fail_msg("%s", msg);
    }
    for (int round = 0; round < 2; round++) { /* linear scan first, then compiled */
        if (round == 1)
            assert_true(netset_compile(set));
        for (int p = 0; p < probes; p++) {
            int family;
            uint8_t addr[16];
            random_probe(entries, n_entries, hubs, &family, addr);
            struct proxy_ip ip = {.family = family == AF_INET ? PROXY_FAM_INET : PROXY_FAM_INET6};
            memcpy(ip.addr, addr, 16);
            bool expected = model_contains(entries, n_entries, family, addr);
            if (netset_contains(set, &ip) != expected) {
                char text[INET6_ADDRSTRLEN];
                inet_ntop(family, addr, text, sizeof text);
                fail_msg("%s: expected %d (compiled=%d)", text, expected, round);
            }
        }
    }
    assert_true(netset_range_count(set) <= n_entries);
    netset_free(set);
    free(entries);
}

static void test_random_sets_match_naive_scan(void **state)
{
    (void)state;
    check_random_set(500, 20000);
    for (int i = 0; i < 40; i++)
        check_random_set(1 + rng_next() % 60, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_table),
        cmocka_unit_test(test_canonical_form_is_stable),
        cmocka_unit_test(test_message_embedded_nul_and_len),
        cmocka_unit_test(test_message_long_entry_shortened),
        cmocka_unit_test(test_message_buffer_limits),
        cmocka_unit_test(test_empty_and_null_sets),
        cmocka_unit_test(test_ipv4_network_boundaries),
        cmocka_unit_test(test_address_space_edges),
        cmocka_unit_test(test_prefix_zero),
        cmocka_unit_test(test_prefix_full_length),
        cmocka_unit_test(test_ipv6_prefixes_across_the_middle),
        cmocka_unit_test(test_mapped_peer_matches_ipv4_entry),
        cmocka_unit_test(test_mapped_entry_matches_ipv4_peer),
        cmocka_unit_test(test_host_bits_entry_matches_whole_network),
        cmocka_unit_test(test_overlapping_entries_merge),
        cmocka_unit_test(test_one_address_gap_stays_open),
        cmocka_unit_test(test_adjacent_halves_cover_everything),
        cmocka_unit_test(test_add_after_lookup_and_compile),
        cmocka_unit_test(test_union_of_sets),
        cmocka_unit_test(test_contains_sockaddr),
        cmocka_unit_test(test_unknown_family_not_contained),
        cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_format_lists_entries_in_input_order),
        cmocka_unit_test(test_format_empty_set),
        cmocka_unit_test(test_random_sets_match_naive_scan),
    };
    return cmocka_run_group_tests_name("netset", tests, NULL, NULL);
}
