/*
 * The encoder: exact bytes for known headers (CRC32C values computed outside the codec),
 * decode(encode(x)) == x for many random x, NOOP padding, and output bounds checked with the
 * output placed right before a PROT_NONE page.
 */
#include "proxy_test_util.h"

static struct proxy_ip ip_of(const char *text)
{
    struct proxy_ip ip = {.family = PROXY_FAM_INET};
    if (inet_pton(AF_INET, text, ip.addr) != 1) {
        ip.family = PROXY_FAM_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, ip.addr), 1);
    }
    return ip;
}

static struct proxy_header tcp_header(uint8_t family, const char *src, const char *dst,
                                      uint16_t sport, uint16_t dport)
{
    return (struct proxy_header){.command = PROXY_CMD_PROXY, .family = family,
                                 .transport = PROXY_TRANSPORT_STREAM, .has_addresses = true,
                                 .src = ip_of(src), .dst = ip_of(dst), .src_port = sport,
                                 .dst_port = dport};
}

/* ==== v1 ==== */

#define F8 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

struct v1_encode_case {
    struct proxy_header hdr;
    const char *expect; /* NULL: cannot be expressed in v1 */
};

/* Filled in by v1_cases_init(): struct proxy_ip values are easier made at run time. */
static struct v1_encode_case v1_cases[12];
static size_t v1_ncases;

static void v1_cases_init(void)
{
    size_t n = 0;
    v1_cases[n++] = (struct v1_encode_case){tcp_header(PROXY_FAM_INET, "1.2.3.4", "5.6.7.8", 1, 2),
                                            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"};
    v1_cases[n++] = (struct v1_encode_case){
        tcp_header(PROXY_FAM_INET, "0.0.0.0", "255.255.255.255", 0, 65535),
        "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"};
    v1_cases[n++] = (struct v1_encode_case){
        tcp_header(PROXY_FAM_INET6, "2001:db8:0:0:0:0:0:1", "2001:DB8::2", 443, 993),
        "PROXY TCP6 2001:db8::1 2001:db8::2 443 993\r\n"};
    v1_cases[n++] = (struct v1_encode_case){
        tcp_header(PROXY_FAM_INET6, "::ffff:192.0.2.1", "::ffff:198.51.100.2", 50000, 25),
        "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.2 50000 25\r\n"};
    v1_cases[n++] = (struct v1_encode_case){tcp_header(PROXY_FAM_INET6, F8, F8, 65535, 65535),
                                            "PROXY TCP6 " F8 " " F8 " 65535 65535\r\n"};
    v1_cases[n++] = (struct v1_encode_case){tcp_header(PROXY_FAM_INET6, "::", "::1", 0, 1),
                                            "PROXY TCP6 :: ::1 0 1\r\n"};
    /* No addresses: UNKNOWN, whatever the rest says. */
    v1_cases[n++] = (struct v1_encode_case){{.command = PROXY_CMD_PROXY}, "PROXY UNKNOWN\r\n"};
    v1_cases[n++] = (struct v1_encode_case){{.command = PROXY_CMD_LOCAL, .family = PROXY_FAM_INET},
                                            "PROXY UNKNOWN\r\n"};
    /* Not expressible in v1. */
    struct proxy_header mixed = tcp_header(PROXY_FAM_INET6, "::1", "::2", 1, 2);
    mixed.src = ip_of("1.2.3.4");
    v1_cases[n++] = (struct v1_encode_case){mixed, NULL};
    struct proxy_header v4_as_v6 = tcp_header(PROXY_FAM_INET, "::1", "::2", 1, 2);
    v1_cases[n++] = (struct v1_encode_case){v4_as_v6, NULL};
    struct proxy_header unix_hdr = {.command = PROXY_CMD_PROXY, .family = PROXY_FAM_UNIX,
                                    .transport = PROXY_TRANSPORT_STREAM, .has_addresses = true};
    v1_cases[n++] = (struct v1_encode_case){unix_hdr, NULL};
    /* v1 only speaks TCP: a UDP header would silently turn into TCP. */
    struct proxy_header udp = tcp_header(PROXY_FAM_INET, "1.2.3.4", "5.6.7.8", 53, 53);
    udp.transport = PROXY_TRANSPORT_DGRAM;
    v1_cases[n++] = (struct v1_encode_case){udp, NULL};
    assert_true(n <= ARRAY_LEN(v1_cases));
    v1_ncases = n;
}

static void test_encode_v1_table(void **state)
{
    (void)state;
    v1_cases_init();
    for (size_t i = 0; i < v1_ncases; i++) {
        uint8_t out[256];
        int n = proxy_encode_v1(out, sizeof out, &v1_cases[i].hdr);
        if (!v1_cases[i].expect) {
            if (n != -1)
                fail_msg("v1 encode case %zu: %d bytes, want -1", i, n);
            continue;
        }
        size_t want = strlen(v1_cases[i].expect);
        if (n != (int)want || memcmp(out, v1_cases[i].expect, want) != 0) {
            char got[512];
            fail_msg("v1 encode case %zu: \"%s\", want \"%s\"", i,
                     show_bytes(out, n > 0 ? (size_t)n : 0, got, sizeof got), v1_cases[i].expect);
        }
    }
}

/* Every capacity short of the line fails without writing past it; the exact one works. */
static void test_encode_v1_capacity(void **state)
{
    (void)state;
    v1_cases_init();
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < v1_ncases; i++) {
        if (!v1_cases[i].expect)
            continue;
        size_t want = strlen(v1_cases[i].expect);
        for (size_t cap = 0; cap < want; cap++)
            assert_int_equal(proxy_encode_v1(guard_end(&g) - cap, cap, &v1_cases[i].hdr), -1);
        assert_int_equal(proxy_encode_v1(guard_end(&g) - want, want, &v1_cases[i].hdr),
                         (int)want);
        assert_memory_equal(guard_end(&g) - want, v1_cases[i].expect, want);
    }
    guard_free(&g);
}

static void random_ip(uint64_t *rng, uint8_t family, struct proxy_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    ip->family = family;
    rng_fill(rng, ip->addr, family == PROXY_FAM_INET ? 4 : 16);
    if (family == PROXY_FAM_INET6) {
        switch (rng_below(rng, 4)) {
        case 0: /* v4-mapped */
            memset(ip->addr, 0, 10);
            ip->addr[10] = ip->addr[11] = 0xff;
            break;
        case 1: { /* a run of zero groups, for "::" */
            uint32_t first = rng_below(rng, 8), count = 1 + rng_below(rng, 8 - first);
            memset(ip->addr + 2 * first, 0, 2 * count);
            break;
        }
        default:
            break;
        }
    }
}

static void assert_same_ip(const struct proxy_ip *a, const struct proxy_ip *b)
{
    assert_int_equal(a->family, b->family);
    assert_memory_equal(a->addr, b->addr, a->family == PROXY_FAM_INET ? 4 : 16);
}

/* decode(encode(x)) == x for random TCP4/TCP6/UNKNOWN headers, and re-encoding is stable. */
static void test_encode_v1_round_trip_random(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 0x5eed;
    for (int i = 0; i < 20000; i++) {
        struct proxy_header x = {.command = PROXY_CMD_PROXY};
        unsigned kind = rng_below(&rng, 5);
        if (kind < 4) {
            x.family = kind < 2 ? PROXY_FAM_INET : PROXY_FAM_INET6;
            x.transport = PROXY_TRANSPORT_STREAM;
            x.has_addresses = true;
            random_ip(&rng, x.family, &x.src);
            random_ip(&rng, x.family, &x.dst);
            x.src_port = (uint16_t)rng_below(&rng, 65536);
            x.dst_port = (uint16_t)rng_below(&rng, 65536);
        }
        uint8_t out[PROXY_V1_MAX_LENGTH], again[PROXY_V1_MAX_LENGTH];
        int n = proxy_encode_v1(out, sizeof out, &x);
        assert_in_range(n, 15, PROXY_V1_MAX_LENGTH);
        struct proxy_header y;
        expect_parse(&g, out, (size_t)n, NULL, n, PROXY_OK, &y, "v1 round trip");
        assert_int_equal(y.version, 1);
        assert_int_equal(y.command, PROXY_CMD_PROXY);
        assert_int_equal(y.family, x.family);
        assert_int_equal(y.transport, x.transport);
        assert_int_equal(y.has_addresses, x.has_addresses);
        if (x.has_addresses) {
            assert_same_ip(&y.src, &x.src);
            assert_same_ip(&y.dst, &x.dst);
            assert_int_equal(y.src_port, x.src_port);
            assert_int_equal(y.dst_port, x.dst_port);
        }
        assert_int_equal(proxy_encode_v1(again, sizeof again, &y), n);
        assert_memory_equal(again, out, (size_t)n);
    }
    guard_free(&g);
}

/* ==== v2: exact bytes ==== */

#define UID16 "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
#define SSL_VALUE "\x07" Z4 "\x21\x00\x07" "TLSv1.3" "\x22\x00\x12" "client.example.com"

/* What HAProxy-like options produce; the CRC32C values were computed outside the codec. */
static const uint8_t v2_tcp6_tlvs_crc[] =
    SIG "\x21\x21\x00\x78"
    "\x20\x01\x0d\xb8" Z8 "\0\0\0\x01" "\x20\x01\x0d\xb8" Z8 "\0\0\0\x25" "\xc3\x50" "\x01\xd1"
    "\x02\x00\x10" "mail.example.com"
    "\x05\x00\x10" UID16
    "\x20\x00\x24" SSL_VALUE
    "\x03\x00\x04" "\xd8\x74\xf0\x89";
static const uint8_t v2_tcp4_padded_crc[] =
    SIG "\x21\x11\x00\x30" INET_ADDRS
    "\x04\x00\x1a" Z16 Z8 "\0\0"
    "\x03\x00\x04" "\x92\x97\xc6\xbe";

static void expect_encoded(const struct proxy_header *hdr, const struct proxy_tlv *tlvs,
                           size_t ntlvs, const struct proxy_encode_options *opts,
                           const uint8_t *want, size_t want_len, const char *what)
{
    uint8_t out[1024];
    int n = proxy_encode_v2(out, sizeof out, hdr, tlvs, ntlvs, opts);
    if (n != (int)want_len || memcmp(out, want, want_len) != 0) {
        char a[1024], b[1024];
        fail_msg("%s: encoded %d bytes \"%s\", want %zu \"%s\"", what, n,
                 show_bytes(out, n > 0 ? (size_t)n : 0, a, sizeof a), want_len,
                 show_bytes(want, want_len, b, sizeof b));
    }
}

static void test_encode_v2_exact_bytes(void **state)
{
    (void)state;
    struct proxy_header tcp4 = tcp_header(PROXY_FAM_INET, "127.0.0.1", "192.0.2.1", 12345, 25);
    expect_encoded(&tcp4, NULL, 0, NULL, (const uint8_t *)SIG "\x21\x11\x00\x0c" INET_ADDRS, 28,
                   "TCP4");
    struct proxy_encode_options crc = {.crc32c = true};
    expect_encoded(&tcp4, NULL, 0, &crc, (const uint8_t *)V2_TCP4_CRC, sizeof V2_TCP4_CRC - 1,
                   "TCP4 with CRC32C");
    struct proxy_encode_options crc_pad = {.crc32c = true, .pad_to = 64};
    expect_encoded(&tcp4, NULL, 0, &crc_pad, v2_tcp4_padded_crc, sizeof v2_tcp4_padded_crc - 1,
                   "TCP4 padded to 64 with CRC32C");
    struct proxy_header udp4 = tcp4;
    udp4.transport = PROXY_TRANSPORT_DGRAM;
    expect_encoded(&udp4, NULL, 0, NULL, (const uint8_t *)SIG "\x21\x12\x00\x0c" INET_ADDRS, 28,
                   "UDP4");

    struct proxy_header tcp6 =
        tcp_header(PROXY_FAM_INET6, "2001:db8::1", "2001:db8::25", 50000, 465);
    const struct proxy_tlv tlvs[] = {
        {.type = PROXY_TLV_AUTHORITY, .len = 16, .value = (const uint8_t *)"mail.example.com"},
        {.type = PROXY_TLV_UNIQUE_ID, .len = 16, .value = (const uint8_t *)UID16},
        {.type = PROXY_TLV_SSL, .len = sizeof SSL_VALUE - 1, .value = (const uint8_t *)SSL_VALUE},
    };
    expect_encoded(&tcp6, tlvs, ARRAY_LEN(tlvs), &crc, v2_tcp6_tlvs_crc,
                   sizeof v2_tcp6_tlvs_crc - 1, "TCP6 with TLVs and CRC32C");

    struct proxy_header local = {.command = PROXY_CMD_LOCAL};
    expect_encoded(&local, NULL, 0, NULL, (const uint8_t *)SIG "\x20\x00\x00\x00", 16, "LOCAL");
    struct proxy_header local_inet = tcp4;
    local_inet.command = PROXY_CMD_LOCAL;
    expect_encoded(&local_inet, NULL, 0, NULL, (const uint8_t *)SIG "\x20\x11\x00\x0c" INET_ADDRS,
                   28, "LOCAL with addresses (HAProxy health check)");
    local_inet.has_addresses = false;
    expect_encoded(&local_inet, NULL, 0, NULL, (const uint8_t *)SIG "\x20\x11\x00\x00", 16,
                   "LOCAL TCP4 without addresses");
    struct proxy_header unspec = {.command = PROXY_CMD_PROXY};
    expect_encoded(&unspec, NULL, 0, NULL, (const uint8_t *)SIG "\x21\x00\x00\x00", 16,
                   "PROXY UNSPEC");

    struct proxy_header unix_hdr = {
        .command = PROXY_CMD_PROXY, .family = PROXY_FAM_UNIX, .transport = PROXY_TRANSPORT_STREAM,
        .src_unix = {(const uint8_t *)UNIX_SRC_PATH, sizeof UNIX_SRC_PATH - 1},
        .dst_unix = {(const uint8_t *)UNIX_DST_PATH, sizeof UNIX_DST_PATH - 1}};
    expect_encoded(&unix_hdr, NULL, 0, NULL, (const uint8_t *)SIG "\x21\x31\x00\xd8" UNIX_ADDRS,
                   232, "UNIX stream");
}

static void test_encode_ssl_value_exact_bytes(void **state)
{
    (void)state;
    const struct proxy_tlv subs[] = {
        {.type = PROXY_TLV_SSL_VERSION, .len = 7, .value = (const uint8_t *)"TLSv1.3"},
        {.type = PROXY_TLV_SSL_CN, .len = 18, .value = (const uint8_t *)"client.example.com"},
    };
    uint8_t out[64];
    assert_int_equal(proxy_encode_ssl_value(out, sizeof out, 7, 0, subs, 2), sizeof SSL_VALUE - 1);
    assert_memory_equal(out, SSL_VALUE, sizeof SSL_VALUE - 1);
    assert_int_equal(proxy_encode_ssl_value(out, sizeof out, 0x01, 0x01020304, NULL, 0), 5);
    assert_memory_equal(out, "\x01\x01\x02\x03\x04", 5);

    struct guard g;
    guard_init(&g, 4096);
    for (size_t cap = 0; cap < sizeof SSL_VALUE - 1; cap++)
        assert_int_equal(proxy_encode_ssl_value(guard_end(&g) - cap, cap, 7, 0, subs, 2), -1);
    guard_free(&g);
}

/* Headers the parser would refuse are not written. */
static void test_encode_v2_refuses_what_cannot_be_parsed(void **state)
{
    (void)state;
    uint8_t out[512];
    struct proxy_header h = tcp_header(PROXY_FAM_INET, "1.2.3.4", "5.6.7.8", 1, 2);
    h.command = 2;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &h, NULL, 0, NULL), -1);
    h = tcp_header(PROXY_FAM_INET, "1.2.3.4", "5.6.7.8", 1, 2);
    h.family = 4;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &h, NULL, 0, NULL), -1);
    h = tcp_header(PROXY_FAM_INET, "1.2.3.4", "5.6.7.8", 1, 2);
    h.transport = 3;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &h, NULL, 0, NULL), -1);
    /* PROXY with an IP family but no addresses would have no address block. */
    h = tcp_header(PROXY_FAM_INET6, "::1", "::2", 1, 2);
    h.has_addresses = false;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &h, NULL, 0, NULL), -1);
    /* PROXY UNIX without paths, likewise. */
    h = (struct proxy_header){.command = PROXY_CMD_PROXY, .family = PROXY_FAM_UNIX,
                              .transport = PROXY_TRANSPORT_DGRAM};
    assert_int_equal(proxy_encode_v2(out, sizeof out, &h, NULL, 0, NULL), -1);
}

/* ==== v2: padding ==== */

/* pad_to: exact, impossible gaps of 1 and 2 bytes, a NOOP of any size, too small, too large. */
static void test_encode_v2_pad_to(void **state)
{
    (void)state;
    static uint8_t out[PROXY_V2_MAX_LENGTH + 16];
    struct guard g;
    guard_init(&g, PROXY_V2_MAX_LENGTH);
    struct proxy_header tcp4 = tcp_header(PROXY_FAM_INET, "127.0.0.1", "192.0.2.1", 12345, 25);
    struct proxy_parse_options any = {.max_length = PROXY_V2_MAX_LENGTH};
    const struct proxy_tlv alpn = {.type = PROXY_TLV_ALPN, .len = 2,
                                   .value = (const uint8_t *)"h2"};
    for (int with_crc = 0; with_crc < 2; with_crc++) {
        struct proxy_encode_options opts = {.crc32c = with_crc};
        int natural = proxy_encode_v2(out, sizeof out, &tcp4, &alpn, 1, &opts);
        assert_int_equal(natural, 28 + 5 + (with_crc ? 7 : 0));
        uint32_t targets[] = {(uint32_t)natural, (uint32_t)natural + 1, (uint32_t)natural + 2,
                              (uint32_t)natural + 3, (uint32_t)natural + 4, 100, 536, 4096,
                              PROXY_V2_MAX_LENGTH, 1, (uint32_t)natural - 1};
        for (size_t t = 0; t < ARRAY_LEN(targets); t++) {
            opts.pad_to = targets[t];
            uint32_t pad = targets[t];
            int n = proxy_encode_v2(out, sizeof out, &tcp4, &alpn, 1, &opts);
            if (pad < (uint32_t)natural || pad == (uint32_t)natural + 1 ||
                pad == (uint32_t)natural + 2) {
                assert_int_equal(n, -1);
                continue;
            }
            assert_int_equal(n, (int)pad);
            struct proxy_header h;
            expect_parse(&g, out, (size_t)n, &any, n, PROXY_OK, &h, "padded");
            assert_int_equal(h.tlv.has_crc32c, with_crc);
            expect_bytes(h.tlv.alpn, (struct text)TEXT("h2"), "alpn", "padded");
            /* ALPN, then the NOOP when there is a gap, then the CRC32C. */
            size_t want_count = 1 + (pad > (uint32_t)natural) + (size_t)with_crc;
            assert_int_equal(count_tlvs(h.tlv_area), want_count);
            if (pad > (uint32_t)natural) {
                struct proxy_tlv_iter it;
                struct proxy_tlv tlv;
                proxy_tlv_iter_init(&it, h.tlv_area);
                assert_true(proxy_tlv_next(&it, &tlv));
                assert_true(proxy_tlv_next(&it, &tlv));
                assert_int_equal(tlv.type, PROXY_TLV_NOOP);
                assert_int_equal(tlv.len, pad - (uint32_t)natural - 3);
            }
        }
        /* Beyond the protocol's ceiling, whatever the capacity. */
        opts.pad_to = PROXY_V2_MAX_LENGTH + 1;
        assert_int_equal(proxy_encode_v2(out, sizeof out, &tcp4, &alpn, 1, &opts), -1);
        opts.pad_to = UINT32_MAX;
        assert_int_equal(proxy_encode_v2(out, sizeof out, &tcp4, &alpn, 1, &opts), -1);
    }
    guard_free(&g);
}

/* ==== v2: capacity ==== */

/* For every capacity short of the header: -1, and nothing written past the capacity. */
static void test_encode_v2_capacity(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header tcp6 =
        tcp_header(PROXY_FAM_INET6, "2001:db8::1", "2001:db8::25", 50000, 465);
    const struct proxy_tlv tlvs[] = {
        {.type = PROXY_TLV_AUTHORITY, .len = 16, .value = (const uint8_t *)"mail.example.com"},
        {.type = PROXY_TLV_UNIQUE_ID, .len = 16, .value = (const uint8_t *)UID16},
        {.type = PROXY_TLV_SSL, .len = sizeof SSL_VALUE - 1, .value = (const uint8_t *)SSL_VALUE},
    };
    const struct proxy_encode_options variants[] = {{0}, {.crc32c = true}, {.pad_to = 300},
                                                    {.crc32c = true, .pad_to = 300}};
    for (size_t v = 0; v < ARRAY_LEN(variants); v++) {
        uint8_t ref[512];
        int n = proxy_encode_v2(ref, sizeof ref, &tcp6, tlvs, ARRAY_LEN(tlvs), &variants[v]);
        assert_true(n > 0);
        for (size_t cap = 0; cap < (size_t)n; cap++) {
            uint8_t *out = guard_end(&g) - cap;
            assert_int_equal(proxy_encode_v2(out, cap, &tcp6, tlvs, ARRAY_LEN(tlvs), &variants[v]),
                             -1);
        }
        uint8_t *out = guard_end(&g) - n;
        assert_int_equal(
            proxy_encode_v2(out, (size_t)n, &tcp6, tlvs, ARRAY_LEN(tlvs), &variants[v]), n);
        assert_memory_equal(out, ref, (size_t)n);
    }
    guard_free(&g);
}

/* 65551 bytes is the largest header; one byte more cannot be written, whatever the capacity. */
static void test_encode_v2_largest_header(void **state)
{
    (void)state;
    static uint8_t value[UINT16_MAX];
    static uint8_t out[PROXY_V2_MAX_LENGTH + 100];
    memset(value, 'x', sizeof value);
    struct proxy_header tcp4 = tcp_header(PROXY_FAM_INET, "127.0.0.1", "192.0.2.1", 12345, 25);
    struct proxy_tlv big = {.type = 0xF0, .len = PROXY_V2_MAX_LENGTH - 16 - 12 - 3, .value = value};
    assert_int_equal(proxy_encode_v2(out, sizeof out, &tcp4, &big, 1, NULL), PROXY_V2_MAX_LENGTH);
    struct proxy_header h;
    struct proxy_parse_options any = {.max_length = PROXY_V2_MAX_LENGTH};
    assert_int_equal(proxy_parse(out, PROXY_V2_MAX_LENGTH, &any, &h), PROXY_V2_MAX_LENGTH);
    assert_int_equal(count_tlvs(h.tlv_area), 1);
    big.len++;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &tcp4, &big, 1, NULL), -1);
    big.len = UINT16_MAX;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &tcp4, &big, 1, NULL), -1);
    struct proxy_encode_options crc = {.crc32c = true};
    big.len = PROXY_V2_MAX_LENGTH - 16 - 12 - 3 - 7;
    assert_int_equal(proxy_encode_v2(out, sizeof out, &tcp4, &big, 1, &crc), PROXY_V2_MAX_LENGTH);
    assert_int_equal(proxy_parse(out, PROXY_V2_MAX_LENGTH, &any, &h), PROXY_V2_MAX_LENGTH);
    assert_true(h.tlv.has_crc32c);
}

/* ==== v2: random round trips ==== */

#define MAX_TLVS 16
#define MAX_SUBS 12

struct random_v2 {
    struct proxy_header hdr;
    struct proxy_tlv tlvs[MAX_TLVS];
    size_t ntlvs;
    struct proxy_tlv subs[MAX_SUBS];
    size_t nsubs;
    uint8_t ssl_client;
    uint32_t ssl_verify;
    bool has_ssl;
    uint8_t values[MAX_TLVS][300];
    uint8_t sub_values[MAX_SUBS][64];
    uint8_t ssl_value[5 + MAX_SUBS * (3 + 64)];
    uint8_t src_path[PROXY_UNIX_PATH_LENGTH], dst_path[PROXY_UNIX_PATH_LENGTH];
    struct proxy_encode_options opts;
};

static const uint8_t valid_fams[] = {0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32};

/* A TLV type with its longest allowed value, avoiding singletons already used. */
static uint8_t random_tlv_type(uint64_t *rng, bool used[256], size_t *max_len)
{
    static const uint8_t singletons[] = {PROXY_TLV_ALPN, PROXY_TLV_AUTHORITY, PROXY_TLV_UNIQUE_ID,
                                         PROXY_TLV_NETNS, PROXY_TLV_SSL};
    for (;;) {
        uint8_t type;
        if (rng_below(rng, 2))
            type = singletons[rng_below(rng, ARRAY_LEN(singletons))];
        else if (rng_below(rng, 2))
            type = (uint8_t)(0xE0 + rng_below(rng, 32)); /* vendor, custom, experimental, future */
        else
            type = (uint8_t)rng_below(rng, 256);
        if (type == PROXY_TLV_CRC32C)
            continue; /* written by the encoder itself */
        bool singleton = memchr(singletons, type, sizeof singletons) != NULL;
        if (singleton && used[type])
            continue;
        used[type] = true;
        *max_len = type == PROXY_TLV_AUTHORITY ? PROXY_AUTHORITY_MAX
                   : type == PROXY_TLV_UNIQUE_ID ? PROXY_UNIQUE_ID_MAX
                                                 : 300;
        return type;
    }
}

/* Random value bytes; vendor TLVs get their decodable shape half of the time. */
static uint16_t random_value(uint64_t *rng, uint8_t type, uint8_t *v, size_t max_len)
{
    size_t len = rng_below(rng, 4) == 0 ? rng_below(rng, (uint32_t)max_len + 1)
                                        : rng_below(rng, 24);
    rng_fill(rng, v, len);
    if (rng_below(rng, 2)) {
        if (type == PROXY_TLV_GCP)
            len = 8;
        if (type == PROXY_TLV_AWS && len > 0)
            v[0] = PROXY_AWS_SUBTYPE_VPCE_ID;
        if (type == PROXY_TLV_AZURE) {
            len = 5;
            v[0] = PROXY_AZURE_SUBTYPE_LINK_ID;
        }
    }
    return (uint16_t)len;
}

static void random_v2_header(uint64_t *rng, struct random_v2 *r)
{
    memset(r, 0, sizeof *r);
    struct proxy_header *h = &r->hdr;
    uint8_t fam = valid_fams[rng_below(rng, ARRAY_LEN(valid_fams))];
    h->command = (uint8_t)(rng_below(rng, 4) != 0); /* mostly PROXY */
    h->family = fam >> 4;
    h->transport = fam & 0x0F;
    if (h->family == PROXY_FAM_INET || h->family == PROXY_FAM_INET6) {
        h->has_addresses = h->command == PROXY_CMD_PROXY || rng_below(rng, 2);
        random_ip(rng, h->family, &h->src);
        random_ip(rng, h->family, &h->dst);
        h->src_port = (uint16_t)rng_below(rng, 65536);
        h->dst_port = (uint16_t)rng_below(rng, 65536);
    }
    if (h->family == PROXY_FAM_UNIX && (h->command == PROXY_CMD_PROXY || rng_below(rng, 2))) {
        size_t sl = rng_below(rng, PROXY_UNIX_PATH_LENGTH + 1);
        size_t dl = rng_below(rng, PROXY_UNIX_PATH_LENGTH + 1);
        rng_fill(rng, r->src_path, sl);
        rng_fill(rng, r->dst_path, dl);
        h->src_unix = (struct proxy_bytes){r->src_path, (uint16_t)sl};
        h->dst_unix = (struct proxy_bytes){r->dst_path, (uint16_t)dl};
    }
    bool used[256] = {false};
    r->ntlvs = rng_below(rng, MAX_TLVS + 1);
    for (size_t i = 0; i < r->ntlvs; i++) {
        size_t max_len;
        uint8_t type = random_tlv_type(rng, used, &max_len);
        struct proxy_tlv *t = &r->tlvs[i];
        t->type = type;
        t->value = r->values[i];
        if (type != PROXY_TLV_SSL) {
            t->len = random_value(rng, type, r->values[i], max_len);
            continue;
        }
        /* SSL: client, verify, and known sub-TLVs (each once) mixed with unknown ones. */
        bool sub_used[256] = {false};
        r->has_ssl = true;
        r->ssl_client = (uint8_t)rng_below(rng, 8);
        r->ssl_verify = rng_below(rng, 2) ? 0 : (uint32_t)rng_next(rng);
        r->nsubs = rng_below(rng, MAX_SUBS + 1);
        for (size_t s = 0; s < r->nsubs; s++) {
            uint8_t st;
            do
                st = rng_below(rng, 3) ? (uint8_t)(0x21 + rng_below(rng, 8))
                                       : (uint8_t)rng_below(rng, 256);
            while (st >= PROXY_TLV_SSL_VERSION && st <= PROXY_TLV_SSL_CLIENT_CERT && sub_used[st]);
            sub_used[st] = true;
            size_t sl = rng_below(rng, 64);
            rng_fill(rng, r->sub_values[s], sl);
            r->subs[s] =
                (struct proxy_tlv){.type = st, .len = (uint16_t)sl, .value = r->sub_values[s]};
        }
        int n = proxy_encode_ssl_value(r->ssl_value, sizeof r->ssl_value, r->ssl_client,
                                       r->ssl_verify, r->subs, r->nsubs);
        assert_true(n >= 5);
        t->len = (uint16_t)n;
        t->value = r->ssl_value;
    }
    r->opts.crc32c = rng_below(rng, 2);
}

/* The first TLV of a type in the input, or NULL. */
static const struct proxy_tlv *first_of(const struct proxy_tlv *tlvs, size_t n, uint8_t type)
{
    for (size_t i = 0; i < n; i++) {
        if (tlvs[i].type == type)
            return &tlvs[i];
    }
    return NULL;
}

static void expect_tlv_field(struct proxy_bytes got, const struct proxy_tlv *tlvs, size_t n,
                             uint8_t type, const char *field)
{
    const struct proxy_tlv *t = first_of(tlvs, n, type);
    struct text want = {t ? (const char *)(t->value ? t->value : (const uint8_t *)"") : NULL,
                        t ? t->len : 0};
    expect_bytes(got, want, field, "round trip");
}

static void check_vendor_fields(const struct random_v2 *r, const struct proxy_tlvs *d)
{
    bool gcp = false, aws = false, azure = false;
    for (size_t i = 0; i < r->ntlvs; i++) {
        const struct proxy_tlv *t = &r->tlvs[i];
        const uint8_t *v = t->value;
        if (t->type == PROXY_TLV_GCP && t->len == 8 && !gcp) {
            gcp = true;
            uint64_t id = 0;
            for (int k = 0; k < 8; k++)
                id = id << 8 | v[k];
            assert_true(d->gcp_psc_id == id);
        } else if (t->type == PROXY_TLV_AWS && t->len >= 1 && v[0] == 1 && !aws) {
            aws = true;
            expect_bytes(d->aws_vpce_id, (struct text){(const char *)v + 1, t->len - 1u},
                         "aws_vpce_id", "round trip");
        } else if (t->type == PROXY_TLV_AZURE && t->len == 5 && v[0] == 1 && !azure) {
            azure = true;
            assert_int_equal(d->azure_link_id, (uint32_t)v[1] | (uint32_t)v[2] << 8 |
                                                   (uint32_t)v[3] << 16 | (uint32_t)v[4] << 24);
        }
    }
    assert_int_equal(d->has_gcp_psc_id, gcp);
    assert_int_equal(d->has_azure_link_id, azure);
    if (!aws)
        assert_null(d->aws_vpce_id.ptr);
}

static void check_ssl_fields(const struct random_v2 *r, const struct proxy_ssl *s)
{
    assert_int_equal(s->present, r->has_ssl);
    if (!r->has_ssl)
        return;
    assert_int_equal(s->client, r->ssl_client);
    assert_int_equal(s->verify, r->ssl_verify);
    assert_int_equal(count_tlvs(s->subtlvs), r->nsubs);
    expect_tlv_field(s->version, r->subs, r->nsubs, PROXY_TLV_SSL_VERSION, "ssl.version");
    expect_tlv_field(s->cn, r->subs, r->nsubs, PROXY_TLV_SSL_CN, "ssl.cn");
    expect_tlv_field(s->cipher, r->subs, r->nsubs, PROXY_TLV_SSL_CIPHER, "ssl.cipher");
    expect_tlv_field(s->sig_alg, r->subs, r->nsubs, PROXY_TLV_SSL_SIG_ALG, "ssl.sig_alg");
    expect_tlv_field(s->key_alg, r->subs, r->nsubs, PROXY_TLV_SSL_KEY_ALG, "ssl.key_alg");
    expect_tlv_field(s->group, r->subs, r->nsubs, PROXY_TLV_SSL_GROUP, "ssl.group");
    expect_tlv_field(s->sig_scheme, r->subs, r->nsubs, PROXY_TLV_SSL_SIG_SCHEME, "ssl.sig_scheme");
    expect_tlv_field(s->client_cert, r->subs, r->nsubs, PROXY_TLV_SSL_CLIENT_CERT,
                     "ssl.client_cert");
}

/* The decoded TLV sequence is the input, then the padding NOOP, then the CRC32C. */
static void check_tlv_sequence(const struct random_v2 *r, const struct proxy_header *d, bool padded)
{
    struct proxy_tlv_iter it;
    struct proxy_tlv tlv;
    proxy_tlv_iter_init(&it, d->tlv_area);
    for (size_t i = 0; i < r->ntlvs; i++) {
        assert_true(proxy_tlv_next(&it, &tlv));
        assert_int_equal(tlv.type, r->tlvs[i].type);
        assert_int_equal(tlv.len, r->tlvs[i].len);
        if (tlv.len)
            assert_memory_equal(tlv.value, r->tlvs[i].value, tlv.len);
    }
    if (padded) {
        assert_true(proxy_tlv_next(&it, &tlv));
        assert_int_equal(tlv.type, PROXY_TLV_NOOP);
    }
    if (r->opts.crc32c) {
        assert_true(proxy_tlv_next(&it, &tlv));
        assert_int_equal(tlv.type, PROXY_TLV_CRC32C);
        assert_int_equal(tlv.len, 4);
    }
    assert_false(proxy_tlv_next(&it, &tlv));
}

static void check_round_trip(const struct random_v2 *r, const struct proxy_header *d, int n,
                             bool padded)
{
    const struct proxy_header *x = &r->hdr;
    assert_int_equal(d->version, 2);
    assert_int_equal(d->length, n);
    assert_int_equal(d->command, x->command);
    assert_int_equal(d->family, x->family);
    assert_int_equal(d->transport, x->transport);
    bool proxy = x->command == PROXY_CMD_PROXY && x->family != PROXY_FAM_UNSPEC;
    bool ip = proxy && x->family != PROXY_FAM_UNIX;
    assert_int_equal(d->has_addresses, ip);
    if (ip) {
        assert_same_ip(&d->src, &x->src);
        assert_same_ip(&d->dst, &x->dst);
        assert_int_equal(d->src_port, x->src_port);
        assert_int_equal(d->dst_port, x->dst_port);
    }
    if (proxy && x->family == PROXY_FAM_UNIX) {
        uint8_t want[PROXY_UNIX_PATH_LENGTH] = {0};
        memcpy(want, x->src_unix.ptr, x->src_unix.len);
        assert_int_equal(d->src_unix.len, PROXY_UNIX_PATH_LENGTH);
        assert_memory_equal(d->src_unix.ptr, want, sizeof want);
        memset(want, 0, sizeof want);
        memcpy(want, x->dst_unix.ptr, x->dst_unix.len);
        assert_memory_equal(d->dst_unix.ptr, want, sizeof want);
    }
    if (!proxy) { /* LOCAL and UNSPEC: the block and TLVs are skipped */
        assert_null(d->tlv_area.ptr);
        assert_false(d->tlv.ssl.present);
        return;
    }
    check_tlv_sequence(r, d, padded);
    const struct proxy_tlv *t = r->tlvs;
    expect_tlv_field(d->tlv.alpn, t, r->ntlvs, PROXY_TLV_ALPN, "alpn");
    expect_tlv_field(d->tlv.authority, t, r->ntlvs, PROXY_TLV_AUTHORITY, "authority");
    expect_tlv_field(d->tlv.unique_id, t, r->ntlvs, PROXY_TLV_UNIQUE_ID, "unique_id");
    expect_tlv_field(d->tlv.netns, t, r->ntlvs, PROXY_TLV_NETNS, "netns");
    assert_int_equal(d->tlv.has_crc32c, r->opts.crc32c);
    check_vendor_fields(r, &d->tlv);
    check_ssl_fields(r, &d->tlv.ssl);
}

/* Re-encoding the decoded header and its TLVs (CRC32C left to the encoder) gives the same bytes. */
static void check_reencode(const struct proxy_header *d, const uint8_t *first, int n,
                           const struct proxy_encode_options *opts)
{
    struct proxy_tlv tlvs[MAX_TLVS + 2];
    size_t count = 0;
    struct proxy_tlv_iter it;
    proxy_tlv_iter_init(&it, d->tlv_area);
    while (count < ARRAY_LEN(tlvs) && proxy_tlv_next(&it, &tlvs[count])) {
        if (tlvs[count].type != PROXY_TLV_CRC32C)
            count++;
    }
    struct proxy_encode_options again_opts = {.crc32c = opts->crc32c};
    uint8_t again[4096];
    assert_int_equal(proxy_encode_v2(again, sizeof again, d, tlvs, count, &again_opts), n);
    assert_memory_equal(again, first, (size_t)n);
}

static void test_encode_v2_round_trip_random(void **state)
{
    (void)state;
    static struct random_v2 r;
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 0xC0FFEE;
    struct proxy_parse_options opts = {.max_length = 4096};
    for (int i = 0; i < 20000; i++) {
        random_v2_header(&rng, &r);
        uint8_t out[4096];
        int natural = proxy_encode_v2(out, sizeof out, &r.hdr, r.tlvs, r.ntlvs, &r.opts);
        assert_true(natural >= 16);
        /* Sometimes pad: exactly, by an impossible 1 or 2 bytes, or by 3 or more. */
        bool padded = false;
        switch (rng_below(&rng, 4)) {
        case 0:
            r.opts.pad_to = (uint32_t)natural;
            break;
        case 1:
            r.opts.pad_to = (uint32_t)natural + 1 + rng_below(&rng, 2);
            assert_int_equal(proxy_encode_v2(out, sizeof out, &r.hdr, r.tlvs, r.ntlvs, &r.opts),
                             -1);
            r.opts.pad_to = 0;
            break;
        case 2:
            r.opts.pad_to = (uint32_t)natural + 3 + rng_below(&rng, 200);
            padded = true;
            break;
        default:
            break;
        }
        int n = proxy_encode_v2(out, sizeof out, &r.hdr, r.tlvs, r.ntlvs, &r.opts);
        assert_int_equal(n, r.opts.pad_to ? (int)r.opts.pad_to : natural);
        struct proxy_header d;
        expect_parse(&g, out, (size_t)n, &opts, n, PROXY_OK, &d, "v2 round trip");
        check_round_trip(&r, &d, n, padded);
        bool proxy = r.hdr.command == PROXY_CMD_PROXY && r.hdr.family != PROXY_FAM_UNSPEC;
        if (proxy && !padded)
            check_reencode(&d, out, n, &r.opts);
        if (i % 97 == 0) /* split reads of the encoder's output */
            expect_prefixes_valid(&g, out, (size_t)n, (size_t)n, &opts, "v2 round trip");
    }
    guard_free(&g);
}

/* The same connection written as v1 and as v2 decodes to the same addresses. */
static void test_encode_v1_and_v2_agree(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 99;
    for (int i = 0; i < 5000; i++) {
        struct proxy_header x = {.command = PROXY_CMD_PROXY, .transport = PROXY_TRANSPORT_STREAM,
                                 .has_addresses = true};
        x.family = rng_below(&rng, 2) ? PROXY_FAM_INET : PROXY_FAM_INET6;
        random_ip(&rng, x.family, &x.src);
        random_ip(&rng, x.family, &x.dst);
        x.src_port = (uint16_t)rng_below(&rng, 65536);
        x.dst_port = (uint16_t)rng_below(&rng, 65536);
        uint8_t a[128], b[128];
        int na = proxy_encode_v1(a, sizeof a, &x);
        int nb = proxy_encode_v2(b, sizeof b, &x, NULL, 0, NULL);
        struct proxy_header da, db;
        expect_parse(&g, a, (size_t)na, NULL, na, PROXY_OK, &da, "v1");
        expect_parse(&g, b, (size_t)nb, NULL, nb, PROXY_OK, &db, "v2");
        assert_same_ip(&da.src, &db.src);
        assert_same_ip(&da.dst, &db.dst);
        assert_int_equal(da.src_port, db.src_port);
        assert_int_equal(da.dst_port, db.dst_port);
        assert_int_equal(da.family, db.family);
        assert_int_equal(da.transport, db.transport);
    }
    guard_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_v1_table),
        cmocka_unit_test(test_encode_v1_capacity),
        cmocka_unit_test(test_encode_v1_round_trip_random),
        cmocka_unit_test(test_encode_v2_exact_bytes),
        cmocka_unit_test(test_encode_ssl_value_exact_bytes),
        cmocka_unit_test(test_encode_v2_refuses_what_cannot_be_parsed),
        cmocka_unit_test(test_encode_v2_pad_to),
        cmocka_unit_test(test_encode_v2_capacity),
        cmocka_unit_test(test_encode_v2_largest_header),
        cmocka_unit_test(test_encode_v2_round_trip_random),
        cmocka_unit_test(test_encode_v1_and_v2_agree),
    };
    return cmocka_run_group_tests_name("proxy_encode", tests, NULL, NULL);
}
