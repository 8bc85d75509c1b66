/*
 * PROXY protocol v2 (binary) and its TLVs, in the picohttpparser style: one table line per case,
 * every input parsed at the end of a page followed by a PROT_NONE page, every prefix parsed too.
 * Exhaustive loops cover the version nibble, the command nibble and the family byte.
 */
#include "proxy_test_util.h"

#define MORE .result = PROXY_NEED_MORE
#define BAD(e) .result = PROXY_INVALID, .error = (e)

/* 2001:db8::1 port 443 -> 2001:db8::2 port 993 */
#define INET6_ADDRS                                                                    \
    "\x20\x01\x0d\xb8" Z8 "\0\0\0\x01" "\x20\x01\x0d\xb8" Z8 "\0\0\0\x02" "\x01\xbb" \
    "\x03\xe1"
/* ::ffff:192.0.2.1 port 50000 -> ::ffff:198.51.100.2 port 25 */
#define INET6_MAPPED_ADDRS                                                                   \
    Z8 "\0\0\xff\xff" "\xc0\x00\x02\x01" Z8 "\0\0\xff\xff" "\xc6\x33\x64\x02" "\xc3\x50" \
    "\x00\x19"

#define A16 "aaaaaaaaaaaaaaaa"
#define A64 A16 A16 A16 A16
#define A128 A64 A64
#define A255 A128 A64 A16 A16 A16 "aaaaaaaaaaaaaaa"

/* ==== Header level: fixed part, families, address blocks ==== */

struct v2_case {
    const uint8_t *input;
    size_t len;
    int result; /* VALID, PROXY_NEED_MORE or PROXY_INVALID */
    enum proxy_error error;
    size_t tail;     /* application bytes after a VALID header */
    size_t tlv_area; /* expected TLV area length of a PROXY INET/INET6/UNIX header */
    const char *src, *dst;
    unsigned sport, dport;
};

#define ADDRS(s, sp, d, dp) .src = (s), .dst = (d), .sport = (sp), .dport = (dp)
#define ADDRS4 ADDRS("127.0.0.1", 12345, "192.0.2.1", 25)
#define ADDRS6 ADDRS("2001:db8::1", 443, "2001:db8::2", 993)

static const struct v2_case v2_cases[] = {
    /* ---- PROXY, every valid family/transport byte ---- */
    {IN(SIG "\x21\x11\x00\x0c" INET_ADDRS), .result = VALID, ADDRS4},
    {IN(SIG "\x21\x12\x00\x0c" INET_ADDRS), .result = VALID, ADDRS4},
    {IN(SIG "\x21\x21\x00\x24" INET6_ADDRS), .result = VALID, ADDRS6},
    {IN(SIG "\x21\x22\x00\x24" INET6_ADDRS), .result = VALID, ADDRS6},
    {IN(SIG "\x21\x21\x00\x24" INET6_MAPPED_ADDRS), .result = VALID,
     ADDRS("::ffff:192.0.2.1", 50000, "::ffff:198.51.100.2", 25)},
    /* UNIX: the paths ("/ru..." reads as TLV 0x2F of 0x7275 bytes) are an address block */
    {IN(SIG "\x21\x31\x00\xd8" UNIX_ADDRS), .result = VALID},
    {IN(SIG "\x21\x32\x00\xd8" UNIX_ADDRS), .result = VALID},
    {IN(SIG "\x21\x00\x00\x00"), .result = VALID},
    /* UNSPEC: the bytes are not TLVs (Dovecot parses them as such), whatever they look like */
    {IN(SIG "\x21\x00\x00\x0c" INET_ADDRS), .result = VALID},
    {IN(SIG "\x21\x00\x00\x03" "\x02\xff\xff"), .result = VALID},
    {IN(SIG "\x21\x00\x00\x01" "\x03"), .result = VALID},
    /* TLVs after the address block */
    {IN(SIG "\x21\x11\x00\x0f" INET_ADDRS "\x04\x00\x00"), .result = VALID, .tlv_area = 3, ADDRS4},
    {IN(SIG "\x21\x21\x00\x29" INET6_ADDRS "\x01\x00\x02" "h2"), .result = VALID, .tlv_area = 5,
     ADDRS6},
    {IN(SIG "\x21\x31\x00\xdd" UNIX_ADDRS "\x04\x00\x02" "\0\0"), .result = VALID, .tlv_area = 5},
    /* application bytes after the header belong to the application */
    {IN(SIG "\x21\x11\x00\x0c" INET_ADDRS "\x16\x03\x01\x00\xa5"), .result = VALID, .tail = 5,
     ADDRS4},
    {IN(SIG "\x21\x11\x00\x0c" INET_ADDRS SIG "\x21\x11\x00\x0c" INET_ADDRS), .result = VALID,
     .tail = 28, ADDRS4},

    /* ---- LOCAL: any length, any valid family, never an address (health checks) ---- */
    {IN(SIG "\x20\x00\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x11\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x12\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x21\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x22\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x31\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x32\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x11\x00\x0c" INET_ADDRS), .result = VALID}, /* HAProxy check-send-proxy */
    {IN(SIG "\x20\x21\x00\x27" INET6_ADDRS "\x02\xff\xff"), .result = VALID},
    {IN(SIG "\x20\x11\x00\x03" "\x7f\x00\x00"), .result = VALID},
    {IN(SIG "\x20\x00\x00\x01" "\xff"), .result = VALID},
    {IN(SIG "\x20\x31\x00\x0c" INET_ADDRS), .result = VALID},
    {IN(SIG "\x20\x11\x00\x0e" INET_ADDRS "\x03\x00"), .result = VALID},

    /* ---- valid prefixes ---- */
    {IN("\r"), MORE},
    {IN("\r\n\r\n\0"), MORE},
    {IN(SIG), MORE},
    {IN(SIG "\x21"), MORE},
    {IN(SIG "\x21\x11"), MORE},
    {IN(SIG "\x21\x11\x00"), MORE},
    {IN(SIG "\x21\x11\x00\x0c"), MORE},
    {IN(SIG "\x21\x11\x00\x0c" "\x7f\x00\x00\x01\xc0\x00\x02\x01\x30\x39\x00"), MORE},
    {IN(SIG "\x20\x00\x0f\xf0"), MORE}, /* 4096 bytes announced: the default maximum */

    /* ---- not a signature ---- */
    {IN("\r\n\r\n\x01"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\r\n\r\n\r\n"), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\r\n\r\n\0\r\nquit\n\x21\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_NOT_PROXY)},
    {IN("\n\r\n\r\0\n\rQUIT\n\x21\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_NOT_PROXY)},

    /* ---- version nibble must be 2, decided on byte 13 ---- */
    {IN(SIG "\x11\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_VERSION)},
    {IN(SIG "\x31\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_VERSION)},
    {IN(SIG "\x01\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_VERSION)},
    {IN(SIG "\xf1\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_VERSION)},
    {IN(SIG "\x10"), BAD(PROXY_ERR_V2_VERSION)},

    /* ---- command: LOCAL or PROXY only (nginx skips unknown ones) ---- */
    {IN(SIG "\x22\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_COMMAND)},
    {IN(SIG "\x2f\x11\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_COMMAND)},
    {IN(SIG "\x2f\x00\x00\x00"), BAD(PROXY_ERR_V2_COMMAND)},
    {IN(SIG "\x23"), BAD(PROXY_ERR_V2_COMMAND)},

    /* ---- family/transport byte: seven valid values ---- */
    {IN(SIG "\x21\x01\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x21\x10\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x21\x13\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x21\x20\x00\x24" INET6_ADDRS), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x21\x33"), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x21\x41\x00\x00"), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x21\xff\x00\x00"), BAD(PROXY_ERR_V2_FAMILY)},
    {IN(SIG "\x20\x13\x00\x00"), BAD(PROXY_ERR_V2_FAMILY)}, /* LOCAL does not excuse it */

    /* ---- address block shorter than the family's ---- */
    {IN(SIG "\x21\x11\x00\x00"), BAD(PROXY_ERR_V2_ADDR_TRUNCATED)},
    {IN(SIG "\x21\x12\x00\x0b" "\x7f\x00\x00\x01\xc0\x00\x02\x01\x30\x39\x00"),
     BAD(PROXY_ERR_V2_ADDR_TRUNCATED)},
    {IN(SIG "\x21\x21\x00\x0c" INET_ADDRS), BAD(PROXY_ERR_V2_ADDR_TRUNCATED)},
    {IN(SIG "\x21\x22\x00\x23" INET6_ADDRS), BAD(PROXY_ERR_V2_ADDR_TRUNCATED)},
    {IN(SIG "\x21\x31\x00\x24" INET6_ADDRS), BAD(PROXY_ERR_V2_ADDR_TRUNCATED)},
    {IN(SIG "\x21\x32\x00\xd7" UNIX_ADDRS), BAD(PROXY_ERR_V2_ADDR_TRUNCATED)},

    /* ---- the TLV area must end exactly at the header end ---- */
    {IN(SIG "\x21\x11\x00\x0d" INET_ADDRS "\x04"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x11\x00\x0e" INET_ADDRS "\x04\x00"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x11\x00\x10" INET_ADDRS "\x04\x00\x00" "\x04"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x11\x00\x11" INET_ADDRS "\x04\x00\x00" "\x04\x00"),
     BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x11\x00\x0f" INET_ADDRS "\x04\x00\x01"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x11\x00\x11" INET_ADDRS "\x01\x00\x03" "h2"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    /* a TLV length field pointing far past the buffer (libproxyprotocol, classic CVEs) */
    {IN(SIG "\x21\x11\x00\x12" INET_ADDRS "\x02\xff\xff" "abc"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x21\x00\x27" INET6_ADDRS "\xe0\xff\xff"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN(SIG "\x21\x31\x00\xd9" UNIX_ADDRS "\x20"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},

    /* ---- larger than the caller's maximum (default 4096), decided on the fixed part ---- */
    {IN(SIG "\x20\x00\x0f\xf1"), BAD(PROXY_ERR_TOO_LARGE)},
    {IN(SIG "\x21\x11\xff\xff" INET_ADDRS), BAD(PROXY_ERR_TOO_LARGE)},
};

static void check_v2_fields(const struct v2_case *c, const uint8_t *buf,
                            const struct proxy_header *h, const char *what)
{
    uint8_t command = buf[12] & 0x0F, family = buf[13] >> 4, transport = buf[13] & 0x0F;
    assert_int_equal(h->version, 2);
    assert_int_equal(h->command, command);
    assert_int_equal(h->family, family);
    assert_int_equal(h->transport, transport);
    assert_int_equal(h->error, PROXY_OK);
    assert_int_equal(h->length, c->len - c->tail);
    bool proxy = command == PROXY_CMD_PROXY && family != PROXY_FAM_UNSPEC;
    bool ip = proxy && (family == PROXY_FAM_INET || family == PROXY_FAM_INET6);
    assert_int_equal(h->has_addresses, ip);
    if (ip) {
        expect_ip(&h->src, c->src, what);
        expect_ip(&h->dst, c->dst, what);
        assert_int_equal(h->src_port, c->sport);
        assert_int_equal(h->dst_port, c->dport);
    }
    if (proxy && family == PROXY_FAM_UNIX) {
        assert_ptr_equal(h->src_unix.ptr, buf + 16);
        assert_int_equal(h->src_unix.len, PROXY_UNIX_PATH_LENGTH);
        assert_ptr_equal(h->dst_unix.ptr, buf + 16 + PROXY_UNIX_PATH_LENGTH);
        assert_int_equal(h->dst_unix.len, PROXY_UNIX_PATH_LENGTH);
        assert_memory_equal(h->src_unix.ptr, UNIX_SRC_PATH, sizeof UNIX_SRC_PATH);
        assert_memory_equal(h->dst_unix.ptr, UNIX_DST_PATH, sizeof UNIX_DST_PATH);
    } else {
        assert_null(h->src_unix.ptr);
        assert_null(h->dst_unix.ptr);
    }
    if (proxy) {
        size_t block = family == PROXY_FAM_INET ? 12 : family == PROXY_FAM_INET6 ? 36 : 216;
        assert_ptr_equal(h->tlv_area.ptr, buf + 16 + block);
        assert_int_equal(h->tlv_area.len, c->tlv_area);
    } else {
        assert_null(h->tlv_area.ptr); /* LOCAL and UNSPEC: the bytes are skipped, not TLVs */
        assert_int_equal(h->tlv_area.len, 0);
    }
}

static int expected_rc(const struct v2_case *c)
{
    return c->result == VALID ? (int)(c->len - c->tail) : c->result;
}

static void test_v2_table(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(v2_cases); i++) {
        const struct v2_case *c = &v2_cases[i];
        struct proxy_header h;
        char what[32];
        snprintf(what, sizeof what, "v2 case %zu", i);
        expect_parse(&g, c->input, c->len, NULL, expected_rc(c), c->error, &h, what);
        if (c->result == VALID)
            check_v2_fields(c, guard_end(&g) - c->len, &h, what);
    }
    guard_free(&g);
}

static void test_v2_table_every_prefix(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(v2_cases); i++) {
        const struct v2_case *c = &v2_cases[i];
        char what[32];
        snprintf(what, sizeof what, "v2 case %zu", i);
        expect_case_prefixes(&g, c->input, c->len, c->result, c->error, c->tail, what);
    }
    guard_free(&g);
}

/* Each of the 12 signature bytes replaced by any other value: not a header, decided there. */
static void test_v2_signature_bytes(void **state)
{
    (void)state;
    static const uint8_t good[] = SIG "\x21\x11\x00\x0c" INET_ADDRS;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (size_t pos = 0; pos < 12; pos++) {
        for (int b = 0; b < 256; b++) {
            uint8_t buf[sizeof good];
            memcpy(buf, good, sizeof buf);
            if (buf[pos] == b || (pos == 0 && b == 'P'))
                continue;
            buf[pos] = (uint8_t)b;
            expect_parse(&g, buf, pos + 1, NULL, PROXY_INVALID, PROXY_ERR_NOT_PROXY, &h,
                         "signature byte");
            expect_parse(&g, buf, sizeof buf - 1, NULL, PROXY_INVALID, PROXY_ERR_NOT_PROXY, &h,
                         "signature byte");
        }
    }
    guard_free(&g);
}

/* Version nibble: only 2, rejected on byte 13 alone. */
static void test_v2_every_version_nibble(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (unsigned v = 0; v < 16; v++) {
        uint8_t buf[] = SIG "\x21\x11\x00\x0c" INET_ADDRS;
        buf[12] = (uint8_t)(v << 4 | 1);
        if (v == 2) {
            expect_prefixes_valid(&g, buf, sizeof buf - 1, sizeof buf - 1, NULL, "version 2");
            continue;
        }
        expect_parse(&g, buf, 13, NULL, PROXY_INVALID, PROXY_ERR_V2_VERSION, &h, "version");
        expect_prefixes_invalid(&g, buf, sizeof buf - 1, NULL, PROXY_ERR_V2_VERSION, "version");
    }
    guard_free(&g);
}

/* Command nibble: 0 LOCAL and 1 PROXY; 2..15 rejected on byte 13 alone. */
static void test_v2_every_command(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (unsigned cmd = 0; cmd < 16; cmd++) {
        uint8_t buf[] = SIG "\x21\x11\x00\x0c" INET_ADDRS;
        buf[12] = (uint8_t)(0x20 | cmd);
        if (cmd <= PROXY_CMD_PROXY) {
            expect_parse(&g, buf, sizeof buf - 1, NULL, (int)sizeof buf - 1, PROXY_OK, &h,
                         "command");
            assert_int_equal(h.command, cmd);
            assert_int_equal(h.has_addresses, cmd == PROXY_CMD_PROXY);
            continue;
        }
        expect_parse(&g, buf, 13, NULL, PROXY_INVALID, PROXY_ERR_V2_COMMAND, &h, "command");
        expect_prefixes_invalid(&g, buf, sizeof buf - 1, NULL, PROXY_ERR_V2_COMMAND, "command");
    }
    guard_free(&g);
}

/*
 * Every family/transport byte under both commands. The body is 216 zero bytes: the block of
 * any family followed by zero-length TLVs of type 0 (204 = 68 * 3, 180 = 60 * 3).
 */
static void test_v2_every_family_byte(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (unsigned cmd = 0; cmd <= 1; cmd++) {
        for (unsigned fam = 0; fam < 256; fam++) {
            uint8_t buf[16 + 216] = {0};
            memcpy(buf, SIG, 12);
            buf[12] = (uint8_t)(0x20 | cmd);
            buf[13] = (uint8_t)fam;
            buf[15] = 216;
            bool valid = fam == 0x00 || fam == 0x11 || fam == 0x12 || fam == 0x21 ||
                         fam == 0x22 || fam == 0x31 || fam == 0x32;
            if (!valid) {
                expect_parse(&g, buf, 14, NULL, PROXY_INVALID, PROXY_ERR_V2_FAMILY, &h, "family");
                expect_prefixes_invalid(&g, buf, sizeof buf, NULL, PROXY_ERR_V2_FAMILY, "family");
                continue;
            }
            expect_parse(&g, buf, sizeof buf, NULL, (int)sizeof buf, PROXY_OK, &h, "family");
            assert_int_equal(h.family, fam >> 4);
            assert_int_equal(h.transport, fam & 0x0F);
            bool ip = cmd == PROXY_CMD_PROXY && (fam >> 4 == 1 || fam >> 4 == 2);
            assert_int_equal(h.has_addresses, ip);
            size_t zero_tlvs = fam >> 4 == 1 ? 68 : fam >> 4 == 2 ? 60 : 0;
            if (cmd == PROXY_CMD_PROXY && fam != 0)
                assert_int_equal(count_tlvs(h.tlv_area), zero_tlvs);
        }
    }
    guard_free(&g);
}

/* LOCAL with every valid family and every length 0..300 of random bytes: accepted, no address. */
static void test_v2_local_any_length_any_family(void **state)
{
    (void)state;
    static const uint8_t families[] = {0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32};
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 7;
    struct proxy_header h;
    for (size_t f = 0; f < ARRAY_LEN(families); f++) {
        for (size_t n = 0; n <= 300; n++) {
            uint8_t buf[16 + 300];
            memcpy(buf, SIG, 12);
            buf[12] = 0x20;
            buf[13] = families[f];
            buf[14] = (uint8_t)(n >> 8);
            buf[15] = (uint8_t)n;
            rng_fill(&rng, buf + 16, n);
            expect_parse(&g, buf, 16 + n, NULL, (int)(16 + n), PROXY_OK, &h, "LOCAL");
            assert_int_equal(h.command, PROXY_CMD_LOCAL);
            assert_int_equal(h.family, families[f] >> 4);
            assert_false(h.has_addresses);
            assert_null(h.tlv_area.ptr);
            assert_null(h.src_unix.ptr);
            assert_false(h.tlv.ssl.present);
            if (n % 37 == 0)
                expect_prefixes_valid(&g, buf, 16 + n, 16 + n, NULL, "LOCAL");
        }
    }
    guard_free(&g);
}

/* PROXY with every length shorter than the family's block: truncated; the exact block: valid. */
static void test_v2_address_block_lengths(void **state)
{
    (void)state;
    static const struct {
        uint8_t fam;
        size_t block;
    } families[] = {{0x11, 12}, {0x12, 12}, {0x21, 36}, {0x22, 36}, {0x31, 216}, {0x32, 216}};
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (size_t f = 0; f < ARRAY_LEN(families); f++) {
        for (size_t n = 0; n <= families[f].block; n++) {
            uint8_t buf[16 + 216] = {0};
            memcpy(buf, SIG, 12);
            buf[12] = 0x21;
            buf[13] = families[f].fam;
            buf[15] = (uint8_t)n;
            if (n == families[f].block) {
                expect_parse(&g, buf, 16 + n, NULL, (int)(16 + n), PROXY_OK, &h, "full block");
                assert_int_equal(h.tlv_area.len, 0);
                continue;
            }
            expect_prefixes_invalid(&g, buf, 16 + n, NULL, PROXY_ERR_V2_ADDR_TRUNCATED,
                                    "short block");
        }
    }
    guard_free(&g);
}

/* Writes SIG, PROXY TCP4 (or LOCAL), the test addresses and a NOOP filling up to `total`. */
static size_t build_padded(uint8_t *out, size_t total, uint8_t command)
{
    static const uint8_t fixed[] = SIG "\x21\x11\x00\x00" INET_ADDRS "\x04\x00\x00";
    memcpy(out, fixed, sizeof fixed - 1);
    out[12] = (uint8_t)(0x20 | command);
    out[14] = (uint8_t)((total - 16) >> 8);
    out[15] = (uint8_t)(total - 16);
    size_t noop = total - (sizeof fixed - 1);
    out[29] = (uint8_t)(noop >> 8);
    out[30] = (uint8_t)noop;
    memset(out + sizeof fixed - 1, 0xEE, noop);
    return total;
}

/* Default maximum: 4096 bytes accepted, 4097 refused as soon as the fixed part is there. */
static void test_v2_default_max_length(void **state)
{
    (void)state;
    static uint8_t buf[4097];
    struct guard g;
    guard_init(&g, sizeof buf);
    struct proxy_header h;
    build_padded(buf, PROXY_DEFAULT_MAX_LENGTH, PROXY_CMD_PROXY);
    expect_prefixes_valid(&g, buf, PROXY_DEFAULT_MAX_LENGTH, PROXY_DEFAULT_MAX_LENGTH, NULL,
                          "4096 bytes");
    expect_parse(&g, buf, PROXY_DEFAULT_MAX_LENGTH, NULL, PROXY_DEFAULT_MAX_LENGTH, PROXY_OK, &h,
                 "4096 bytes");
    assert_int_equal(count_tlvs(h.tlv_area), 1);
    build_padded(buf, PROXY_DEFAULT_MAX_LENGTH + 1, PROXY_CMD_PROXY);
    expect_parse(&g, buf, 15, NULL, PROXY_NEED_MORE, PROXY_OK, &h, "4097 bytes, 15 present");
    expect_parse(&g, buf, 16, NULL, PROXY_INVALID, PROXY_ERR_TOO_LARGE, &h,
                 "4097 bytes, 16 present");
    expect_prefixes_invalid(&g, buf, sizeof buf, NULL, PROXY_ERR_TOO_LARGE, "4097 bytes");
    /* LOCAL is bounded the same way: its bytes must be read too. */
    build_padded(buf, PROXY_DEFAULT_MAX_LENGTH + 1, PROXY_CMD_LOCAL);
    expect_parse(&g, buf, 16, NULL, PROXY_INVALID, PROXY_ERR_TOO_LARGE, &h, "LOCAL 4097 bytes");
    struct proxy_parse_options zero = {.max_length = 0}; /* 0 means the default */
    expect_parse(&g, buf, sizeof buf, &zero, PROXY_INVALID, PROXY_ERR_TOO_LARGE, &h, "max 0");
    guard_free(&g);
}

/* A caller's maximum, and the protocol's own ceiling of 65551 bytes. */
static void test_v2_custom_max_length(void **state)
{
    (void)state;
    static uint8_t buf[PROXY_V2_MAX_LENGTH];
    struct guard g;
    guard_init(&g, sizeof buf);
    struct proxy_header h;
    for (uint32_t max = 31; max < 40; max++) {
        struct proxy_parse_options opts = {.max_length = max};
        for (size_t total = 31; total < 40; total++) {
            build_padded(buf, total, PROXY_CMD_PROXY);
            if (total <= max)
                expect_parse(&g, buf, total, &opts, (int)total, PROXY_OK, &h, "custom max");
            else
                expect_parse(&g, buf, 16, &opts, PROXY_INVALID, PROXY_ERR_TOO_LARGE, &h,
                             "custom max");
        }
    }
    /* Under the smallest maximum there is, even a bare LOCAL is too large. */
    struct proxy_parse_options tiny = {.max_length = 15};
    expect_parse(&g, SIG "\x20\x00\x00\x00", 16, &tiny, PROXY_INVALID, PROXY_ERR_TOO_LARGE, &h,
                 "max 15");
    /* The largest header there is: 16 + 65535, accepted under a max of 65551 or more. */
    build_padded(buf, PROXY_V2_MAX_LENGTH, PROXY_CMD_PROXY);
    static const uint32_t big[] = {PROXY_V2_MAX_LENGTH, PROXY_V2_MAX_LENGTH + 1, UINT32_MAX};
    for (size_t i = 0; i < ARRAY_LEN(big); i++) {
        struct proxy_parse_options opts = {.max_length = big[i]};
        expect_parse(&g, buf, sizeof buf, &opts, PROXY_V2_MAX_LENGTH, PROXY_OK, &h, "65551");
        expect_parse(&g, buf, sizeof buf - 1, &opts, PROXY_NEED_MORE, PROXY_OK, &h, "65550");
        assert_int_equal(h.error, PROXY_OK);
    }
    struct proxy_parse_options just_under = {.max_length = PROXY_V2_MAX_LENGTH - 1};
    expect_parse(&g, buf, 16, &just_under, PROXY_INVALID, PROXY_ERR_TOO_LARGE, &h, "65550 max");
    guard_free(&g);
}

/* ==== TLVs ==== */

enum crc_patch {
    CRC_AS_IS,
    CRC_FIX,   /* write the right CRC32C, big-endian, into the first CRC32C TLV */
    CRC_FLIP,  /* the right CRC32C with one bit flipped */
    CRC_SWAP,  /* the right CRC32C written little-endian (libproxyprotocol's bug) */
};

struct tlv_expect {
    size_t count; /* TLVs the iterator yields */
    struct text alpn, authority, unique_id, netns, aws_vpce_id;
    bool crc32c;
    bool gcp, azure;
    uint64_t gcp_id;
    uint32_t azure_id;
    bool ssl;
    uint8_t ssl_client;
    uint32_t ssl_verify;
    size_t ssl_count; /* sub-TLVs the iterator yields */
    struct text version, cn, cipher, sig_alg, key_alg, group, sig_scheme, client_cert;
};

struct tlv_case {
    const uint8_t *input; /* the TLV area after a PROXY TCP4 address block */
    size_t len;
    int result;
    enum proxy_error error;
    enum crc_patch crc;
    struct tlv_expect want;
};

#define OK(...) .result = VALID, .want = {__VA_ARGS__}
#define SSL_MIN "\x20\x00\x05" "\x01" Z4 /* CLIENT_SSL, verified, no sub-TLVs */
#define CRC_TLV "\x03\x00\x04" Z4

static const struct tlv_case tlv_cases[] = {
    {IN(""), OK(.count = 0)},

    /* ---- ALPN: bytes, may contain NUL, single ---- */
    {IN("\x01\x00\x02" "h2"), OK(.count = 1, .alpn = TEXT("h2"))},
    {IN("\x01\x00\x08" "http/1.1"), OK(.count = 1, .alpn = TEXT("http/1.1"))},
    {IN("\x01\x00\x03" "h\0" "2"), OK(.count = 1, .alpn = TEXT("h\0" "2"))},
    {IN("\x01\x00\x00"), OK(.count = 1, .alpn = TEXT(""))},
    {IN("\x01\x00\x02" "h2" "\x01\x00\x02" "h2"), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},
    {IN("\x01\x00\x02" "h2" "\x04\x00\x00" "\x01\x00\x00"), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},

    /* ---- AUTHORITY: at most 255 bytes, single ---- */
    {IN("\x02\x00\x10" "mail.example.com"), OK(.count = 1, .authority = TEXT("mail.example.com"))},
    {IN("\x02\x00\xff" A255), OK(.count = 1, .authority = TEXT(A255))},
    {IN("\x02\x01\x00" A255 "a"), BAD(PROXY_ERR_V2_TLV_LENGTH)},
    {IN("\x02\x00\x03" "a\0b"), OK(.count = 1, .authority = TEXT("a\0b"))},
    {IN("\x02\x00\x00"), OK(.count = 1, .authority = TEXT(""))},
    {IN("\x02\x00\x01" "a" "\x02\x00\x01" "b"), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},

    /* ---- UNIQUE_ID: at most 128 bytes, single ---- */
    {IN("\x05\x00\x80" A128), OK(.count = 1, .unique_id = TEXT(A128))},
    {IN("\x05\x00\x81" A128 "a"), BAD(PROXY_ERR_V2_TLV_LENGTH)},
    {IN("\x05\x00\x00"), OK(.count = 1, .unique_id = TEXT(""))},
    {IN("\x05\x00\x04" "\0\x01\0\xff"), OK(.count = 1, .unique_id = TEXT("\0\x01\0\xff"))},
    {IN("\x05\x00\x01" "a" "\x05\x00\x01" "a"), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},

    /* ---- CRC32C: exactly 4 bytes, big-endian, verified, single ---- */
    {IN(CRC_TLV), .crc = CRC_FIX, OK(.count = 1, .crc32c = true)},
    {IN("\x01\x00\x02" "h2" CRC_TLV "\x02\x00\x01" "x"), .crc = CRC_FIX,
     OK(.count = 3, .crc32c = true, .alpn = TEXT("h2"), .authority = TEXT("x"))},
    {IN(CRC_TLV), .crc = CRC_FLIP, BAD(PROXY_ERR_V2_CRC32C)},
    {IN(CRC_TLV), .crc = CRC_SWAP, BAD(PROXY_ERR_V2_CRC32C)},
    {IN("\x01\x00\x02" "h2" CRC_TLV), .crc = CRC_SWAP, BAD(PROXY_ERR_V2_CRC32C)},
    {IN(CRC_TLV), BAD(PROXY_ERR_V2_CRC32C)}, /* left zero */
    {IN("\x03\x00\x00"), BAD(PROXY_ERR_V2_TLV_LENGTH)},
    {IN("\x03\x00\x03" "\0\0\0"), BAD(PROXY_ERR_V2_TLV_LENGTH)},
    {IN("\x03\x00\x05" "\0\0\0\0\0"), BAD(PROXY_ERR_V2_TLV_LENGTH)},
    {IN("\x03\x00\x08" Z8), BAD(PROXY_ERR_V2_TLV_LENGTH)},
    {IN(CRC_TLV CRC_TLV), .crc = CRC_FIX, BAD(PROXY_ERR_V2_TLV_DUPLICATE)},

    /* ---- NOOP: ignored, any content, any number ---- */
    {IN("\x04\x00\x00"), OK(.count = 1)},
    {IN("\x04\x00\x07" "\x01\x00\x02" "h2\xff\x03"), OK(.count = 1)},
    {IN("\x04\x00\x00" "\x04\x00\x01" "\0" "\x04\x00\x00"), OK(.count = 3)},

    /* ---- NETNS: single ---- */
    {IN("\x30\x00\x04" "blue"), OK(.count = 1, .netns = TEXT("blue"))},
    {IN("\x30\x00\x03" "b\0b"), OK(.count = 1, .netns = TEXT("b\0b"))},
    {IN("\x30\x00\x01" "a" "\x30\x00\x01" "b"), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},

    /* ---- SSL: client (1), verify (4, big-endian), then sub-TLVs ---- */
    {IN(SSL_MIN), OK(.count = 1, .ssl = true, .ssl_client = 1)},
    {IN("\x20\x00\x05" "\x06" "\x00\x00\x01\x02"),
     OK(.count = 1, .ssl = true, .ssl_client = 6, .ssl_verify = 0x102)},
    {IN("\x20\x00\x05" "\x07" "\xff\xff\xff\xff"),
     OK(.count = 1, .ssl = true, .ssl_client = 7, .ssl_verify = 0xffffffff)},
    {IN("\x20\x00\x78" "\x07" Z4
        "\x21\x00\x07" "TLSv1.3"
        "\x22\x00\x0b" "client name"
        "\x23\x00\x16" "TLS_AES_256_GCM_SHA384"
        "\x24\x00\x0a" "RSA-SHA256"
        "\x25\x00\x07" "RSA2048"
        "\x26\x00\x06" "X25519"
        "\x27\x00\x16" "ecdsa_secp256r1_sha256"
        "\x28\x00\x06" "\x30\x82\x00\x02\x00\x00"),
     OK(.count = 1, .ssl = true, .ssl_client = 7, .ssl_count = 8, .version = TEXT("TLSv1.3"),
        .cn = TEXT("client name"), .cipher = TEXT("TLS_AES_256_GCM_SHA384"),
        .sig_alg = TEXT("RSA-SHA256"), .key_alg = TEXT("RSA2048"), .group = TEXT("X25519"),
        .sig_scheme = TEXT("ecdsa_secp256r1_sha256"),
        .client_cert = TEXT("\x30\x82\x00\x02\x00\x00"))},
    /* unknown sub-TLVs are kept for the iterator */
    {IN("\x20\x00\x0c" "\x01" Z4 "\x29\x00\x01" "x" "\xff\x00\x00"),
     OK(.count = 1, .ssl = true, .ssl_client = 1, .ssl_count = 2)},
    {IN("\x20\x00\x00"), BAD(PROXY_ERR_V2_SSL)},
    {IN("\x20\x00\x04" "\x01\0\0\0"), BAD(PROXY_ERR_V2_SSL)},
    {IN("\x20\x00\x06" "\x01" Z4 "\x21"), BAD(PROXY_ERR_V2_SSL)},
    {IN("\x20\x00\x07" "\x01" Z4 "\x21\x00"), BAD(PROXY_ERR_V2_SSL)},
    {IN("\x20\x00\x08" "\x01" Z4 "\x21\x00\x01"), BAD(PROXY_ERR_V2_SSL)},
    {IN("\x20\x00\x09" "\x01" Z4 "\x21\x00\x00" "\x22"), BAD(PROXY_ERR_V2_SSL)},
    {IN("\x20\x00\x0b" "\x01" Z4 "\x21\x00\x00" "\x21\x00\x00"), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},
    {IN("\x20\x00\x0d" "\x01" Z4 "\x22\x00\x01" "a" "\x22\x00\x01" "b"),
     BAD(PROXY_ERR_V2_TLV_DUPLICATE)},
    {IN(SSL_MIN SSL_MIN), BAD(PROXY_ERR_V2_TLV_DUPLICATE)},
    {IN("\x20\x00\x06" "\x01" Z4), BAD(PROXY_ERR_V2_TLV_TRUNCATED)}, /* the SSL TLV overruns */

    /* ---- vendor TLVs: decoded only with the vendor's exact shape, first one wins ---- */
    {IN("\xe0\x00\x08" "\x01\x02\x03\x04\x05\x06\x07\x08"),
     OK(.count = 1, .gcp = true, .gcp_id = 0x0102030405060708)},
    {IN("\xe0\x00\x07" "\x01\x02\x03\x04\x05\x06\x07"), OK(.count = 1)},
    {IN("\xe0\x00\x09" "\x01\x02\x03\x04\x05\x06\x07\x08\x09"), OK(.count = 1)},
    {IN("\xe0\x00\x08" "\xff\0\0\0\0\0\0\x01" "\xe0\x00\x08" "\x01\x02\x03\x04\x05\x06\x07\x08"),
     OK(.count = 2, .gcp = true, .gcp_id = 0xff00000000000001)},
    {IN("\xea\x00\x0f" "\x01" "vpce-08d2bf15f"),
     OK(.count = 1, .aws_vpce_id = TEXT("vpce-08d2bf15f"))},
    {IN("\xea\x00\x05" "\x02" "abcd"), OK(.count = 1)},
    {IN("\xea\x00\x00"), OK(.count = 1)},
    {IN("\xea\x00\x02" "\x01" "a" "\xea\x00\x02" "\x01" "b"),
     OK(.count = 2, .aws_vpce_id = TEXT("a"))},
    {IN("\xee\x00\x05" "\x01" "\x78\x56\x34\x12"),
     OK(.count = 1, .azure = true, .azure_id = 0x12345678)},
    {IN("\xee\x00\x04" "\x01" "\x78\x56\x34"), OK(.count = 1)},
    {IN("\xee\x00\x06" "\x01" "\x78\x56\x34\x12\x00"), OK(.count = 1)},
    {IN("\xee\x00\x05" "\x02" "\x78\x56\x34\x12"), OK(.count = 1)},
    {IN("\xee\x00\x05" "\x01" "\x01\0\0\0" "\xee\x00\x05" "\x01" "\x02\0\0\0"),
     OK(.count = 2, .azure = true, .azure_id = 1)},

    /* ---- custom, experimental, future and unassigned types: kept raw, any number ---- */
    {IN("\xe1\x00\x01" "x" "\xef\x00\x00" "\xf0\x00\x02" "\0\0" "\xf7\x00\x00" "\xf8\x00\x01" "y"
        "\xff\x00\x00"),
     OK(.count = 6)},
    {IN("\x00\x00\x00" "\x06\x00\x01" "z" "\x1f\x00\x00" "\x31\x00\x00" "\x7f\x00\x00"),
     OK(.count = 5)},
    {IN("\x21\x00\x03" "TLS" "\x22\x00\x00"), OK(.count = 2)}, /* SSL sub-TLV types at top level */
    {IN("\xe1\x00\x01" "x" "\xe1\x00\x01" "x"), OK(.count = 2)},

    /* ---- everything at once ---- */
    {IN("\x01\x00\x02" "h2"
        "\x02\x00\x0b" "example.org"
        CRC_TLV
        "\x04\x00\x01" "\0"
        "\x05\x00\x02" "id"
        SSL_MIN
        "\x30\x00\x02" "ns"
        "\xe0\x00\x08" "\0\0\0\0\0\0\0\x2a"
        "\xea\x00\x02" "\x01" "v"
        "\xee\x00\x05" "\x01" "\x2a\0\0\0"
        "\xf0\x00\x01" "?"),
     .crc = CRC_FIX,
     OK(.count = 11, .alpn = TEXT("h2"), .authority = TEXT("example.org"), .crc32c = true,
        .unique_id = TEXT("id"), .ssl = true, .ssl_client = 1, .netns = TEXT("ns"), .gcp = true,
        .gcp_id = 42, .aws_vpce_id = TEXT("v"), .azure = true, .azure_id = 42)},

    /* ---- structure ---- */
    {IN("\x01"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x01\x00"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x01\x00\x01"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x01\x00\x03" "h2"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x02\xff\xff" "abc"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x03\x00\x04" "\0\0\0"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x04\x00\x00" "\x04"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x04\x00\x00" "\x04\x00"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\x01\x00\x02" "h2" "\xff"), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
    {IN("\xe0\x80\x00" Z8), BAD(PROXY_ERR_V2_TLV_TRUNCATED)},
};

#define TCP4_PREFIX SIG "\x21\x11\x00\x00" INET_ADDRS
#define TCP4_PREFIX_LEN (sizeof TCP4_PREFIX - 1)

/* SIG, PROXY TCP4, the test addresses, then `area`; the length field covers it all. */
static size_t build_tcp4(uint8_t *out, const uint8_t *area, size_t area_len)
{
    memcpy(out, TCP4_PREFIX, TCP4_PREFIX_LEN);
    memcpy(out + TCP4_PREFIX_LEN, area, area_len);
    size_t body = TCP4_PREFIX_LEN - 16 + area_len;
    out[14] = (uint8_t)(body >> 8);
    out[15] = (uint8_t)body;
    return TCP4_PREFIX_LEN + area_len;
}

/* Finds the first 4-byte CRC32C TLV by walking the TLVs the test wrote. */
static uint8_t *find_crc_value(uint8_t *hdr, size_t len)
{
    for (size_t p = TCP4_PREFIX_LEN; p + 3 <= len;) {
        size_t n = (size_t)hdr[p + 1] << 8 | hdr[p + 2];
        if (hdr[p] == PROXY_TLV_CRC32C && n == 4)
            return hdr + p + 3;
        p += 3 + n;
    }
    return NULL;
}

/*
 * Applies a CRC patch; the CRC is computed with the portable table implementation, which
 * test_crc32c checks against the RFC 3720 vectors. Returns the value written big-endian.
 */
static uint32_t patch_crc(uint8_t *hdr, size_t len, enum crc_patch patch)
{
    if (patch == CRC_AS_IS)
        return 0;
    uint8_t *v = find_crc_value(hdr, len);
    assert_non_null(v);
    memset(v, 0, 4);
    uint32_t crc = proxy_crc32c_portable(0, hdr, len);
    uint32_t wire = patch == CRC_FLIP ? crc ^ 0x00010000 : crc;
    if (patch == CRC_SWAP) {
        assert_int_not_equal(crc, __builtin_bswap32(crc));
        v[0] = (uint8_t)crc, v[1] = (uint8_t)(crc >> 8), v[2] = (uint8_t)(crc >> 16),
        v[3] = (uint8_t)(crc >> 24);
    } else {
        v[0] = (uint8_t)(wire >> 24), v[1] = (uint8_t)(wire >> 16), v[2] = (uint8_t)(wire >> 8),
        v[3] = (uint8_t)wire;
    }
    return crc;
}

static void expect_inside(struct proxy_bytes b, const uint8_t *buf, size_t len, const char *field,
                          const char *what)
{
    if (b.ptr && (b.ptr < buf || b.ptr + b.len > buf + len))
        fail_msg("%s: %s does not point into the parsed buffer", what, field);
}

static void check_tlv_fields(const struct tlv_expect *w, const struct proxy_header *h,
                             const uint8_t *buf, size_t len, uint32_t crc, const char *what)
{
    const struct proxy_tlvs *t = &h->tlv;
    const struct proxy_ssl *s = &t->ssl;
    assert_int_equal(count_tlvs(h->tlv_area), w->count);
    expect_bytes(t->alpn, w->alpn, "alpn", what);
    expect_bytes(t->authority, w->authority, "authority", what);
    expect_bytes(t->unique_id, w->unique_id, "unique_id", what);
    expect_bytes(t->netns, w->netns, "netns", what);
    expect_bytes(t->aws_vpce_id, w->aws_vpce_id, "aws_vpce_id", what);
    assert_int_equal(t->has_crc32c, w->crc32c);
    if (w->crc32c)
        assert_int_equal(t->crc32c, crc);
    assert_int_equal(t->has_gcp_psc_id, w->gcp);
    if (w->gcp)
        assert_true(t->gcp_psc_id == w->gcp_id);
    assert_int_equal(t->has_azure_link_id, w->azure);
    if (w->azure)
        assert_int_equal(t->azure_link_id, w->azure_id);
    assert_int_equal(s->present, w->ssl);
    if (w->ssl) {
        assert_int_equal(s->client, w->ssl_client);
        assert_int_equal(s->verify, w->ssl_verify);
        assert_non_null(s->subtlvs.ptr);
        assert_int_equal(count_tlvs(s->subtlvs), w->ssl_count);
    }
    expect_bytes(s->version, w->version, "ssl.version", what);
    expect_bytes(s->cn, w->cn, "ssl.cn", what);
    expect_bytes(s->cipher, w->cipher, "ssl.cipher", what);
    expect_bytes(s->sig_alg, w->sig_alg, "ssl.sig_alg", what);
    expect_bytes(s->key_alg, w->key_alg, "ssl.key_alg", what);
    expect_bytes(s->group, w->group, "ssl.group", what);
    expect_bytes(s->sig_scheme, w->sig_scheme, "ssl.sig_scheme", what);
    expect_bytes(s->client_cert, w->client_cert, "ssl.client_cert", what);
    const struct proxy_bytes all[] = {t->alpn, t->authority, t->unique_id, t->netns,
                                      t->aws_vpce_id, s->subtlvs, s->version, s->cn, s->cipher,
                                      s->sig_alg, s->key_alg, s->group, s->sig_scheme,
                                      s->client_cert, h->tlv_area};
    for (size_t i = 0; i < ARRAY_LEN(all); i++)
        expect_inside(all[i], buf, len, "a decoded field", what);
}

static void test_tlv_table(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(tlv_cases); i++) {
        const struct tlv_case *c = &tlv_cases[i];
        uint8_t buf[1024];
        size_t n = build_tcp4(buf, c->input, c->len);
        uint32_t crc = patch_crc(buf, n, c->crc);
        struct proxy_header h;
        char what[32];
        snprintf(what, sizeof what, "TLV case %zu", i);
        expect_parse(&g, buf, n, NULL, c->result == VALID ? (int)n : c->result, c->error, &h,
                     what);
        if (c->result != VALID)
            continue;
        assert_ptr_equal(h.tlv_area.ptr, guard_end(&g) - c->len);
        assert_int_equal(h.tlv_area.len, c->len);
        check_tlv_fields(&c->want, &h, guard_end(&g) - n, n, crc, what);
    }
    guard_free(&g);
}

static void test_tlv_table_every_prefix(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(tlv_cases); i++) {
        const struct tlv_case *c = &tlv_cases[i];
        uint8_t buf[1024];
        size_t n = build_tcp4(buf, c->input, c->len);
        patch_crc(buf, n, c->crc);
        char what[32];
        snprintf(what, sizeof what, "TLV case %zu", i);
        if (c->result == VALID)
            expect_prefixes_valid(&g, buf, n, n, NULL, what);
        else
            expect_prefixes_invalid(&g, buf, n, NULL, c->error, what);
    }
    guard_free(&g);
}

/* Between them, the two tables expect every v2 error and the size error. */
static void test_v2_tables_cover_every_v2_error(void **state)
{
    (void)state;
    static const enum proxy_error errors[] = {
        PROXY_ERR_NOT_PROXY,        PROXY_ERR_V2_VERSION,      PROXY_ERR_V2_COMMAND,
        PROXY_ERR_V2_FAMILY,        PROXY_ERR_TOO_LARGE,       PROXY_ERR_V2_ADDR_TRUNCATED,
        PROXY_ERR_V2_TLV_TRUNCATED, PROXY_ERR_V2_TLV_LENGTH,   PROXY_ERR_V2_TLV_DUPLICATE,
        PROXY_ERR_V2_SSL,           PROXY_ERR_V2_CRC32C,
    };
    for (size_t e = 0; e < ARRAY_LEN(errors); e++) {
        bool found = false;
        for (size_t i = 0; i < ARRAY_LEN(v2_cases) && !found; i++)
            found = v2_cases[i].result == PROXY_INVALID && v2_cases[i].error == errors[e];
        for (size_t i = 0; i < ARRAY_LEN(tlv_cases) && !found; i++)
            found = tlv_cases[i].result == PROXY_INVALID && tlv_cases[i].error == errors[e];
        if (!found)
            fail_msg("no v2 table line expects %s", proxy_error_name(errors[e]));
    }
}

/* One TLV of the given type and length with a value of 'v' bytes; returns the header length. */
static size_t build_one_tlv(uint8_t *buf, uint8_t type, size_t len)
{
    uint8_t area[3 + 300];
    area[0] = type;
    area[1] = (uint8_t)(len >> 8);
    area[2] = (uint8_t)len;
    memset(area + 3, 'v', len);
    return build_tcp4(buf, area, 3 + len);
}

/* AUTHORITY 0..255 and UNIQUE_ID 0..128 bytes are accepted, one byte more is not. */
static void test_tlv_length_limits(void **state)
{
    (void)state;
    static const struct {
        uint8_t type;
        size_t max;
    } limits[] = {{PROXY_TLV_AUTHORITY, PROXY_AUTHORITY_MAX},
                  {PROXY_TLV_UNIQUE_ID, PROXY_UNIQUE_ID_MAX}};
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (size_t l = 0; l < ARRAY_LEN(limits); l++) {
        for (size_t len = 0; len <= 300; len++) {
            uint8_t buf[512];
            size_t n = build_one_tlv(buf, limits[l].type, len);
            if (len > limits[l].max) {
                expect_parse(&g, buf, n, NULL, PROXY_INVALID, PROXY_ERR_V2_TLV_LENGTH, &h,
                             "over the limit");
                continue;
            }
            expect_parse(&g, buf, n, NULL, (int)n, PROXY_OK, &h, "within the limit");
            struct proxy_bytes b =
                limits[l].type == PROXY_TLV_AUTHORITY ? h.tlv.authority : h.tlv.unique_id;
            assert_non_null(b.ptr);
            assert_int_equal(b.len, len);
        }
    }
    guard_free(&g);
}

/* CRC32C with any length but 4 is malformed; SSL under 5 bytes is malformed. */
static void test_tlv_fixed_lengths(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (size_t len = 0; len <= 16; len++) {
        uint8_t buf[512];
        size_t n = build_one_tlv(buf, PROXY_TLV_CRC32C, len);
        if (len == 4) {
            patch_crc(buf, n, CRC_FIX);
            expect_parse(&g, buf, n, NULL, (int)n, PROXY_OK, &h, "CRC32C of 4 bytes");
            assert_true(h.tlv.has_crc32c);
        } else {
            expect_parse(&g, buf, n, NULL, PROXY_INVALID, PROXY_ERR_V2_TLV_LENGTH, &h,
                         "CRC32C length");
        }
        n = build_one_tlv(buf, PROXY_TLV_SSL, len);
        memset(buf + n - len, 0, len); /* client 0, verify 0, zero-length sub-TLVs of type 0 */
        bool ok = len >= 5 && (len - 5) % 3 == 0;
        expect_parse(&g, buf, n, NULL, ok ? (int)n : PROXY_INVALID, PROXY_ERR_V2_SSL, &h,
                     "SSL length");
        if (ok)
            assert_int_equal(count_tlvs(h.tlv.ssl.subtlvs), (len - 5) / 3);
    }
    guard_free(&g);
}

/* Every TLV type that has no length rule (all but CRC32C and SSL) is accepted and iterable. */
static void test_tlv_every_type_iterable(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (int type = 0; type < 256; type++) {
        if (type == PROXY_TLV_CRC32C || type == PROXY_TLV_SSL)
            continue;
        uint8_t area[] = {(uint8_t)type, 0, 3, 'a', 0, 'b', PROXY_TLV_NOOP, 0, 0};
        uint8_t buf[64];
        size_t n = build_tcp4(buf, area, sizeof area);
        expect_parse(&g, buf, n, NULL, (int)n, PROXY_OK, &h, "TLV type");
        struct proxy_tlv_iter it;
        struct proxy_tlv tlv;
        proxy_tlv_iter_init(&it, h.tlv_area);
        assert_true(proxy_tlv_next(&it, &tlv));
        assert_int_equal(tlv.type, type);
        assert_int_equal(tlv.len, 3);
        assert_ptr_equal(tlv.value, guard_end(&g) - sizeof area + 3);
        assert_memory_equal(tlv.value, "a\0b", 3);
        assert_true(proxy_tlv_next(&it, &tlv));
        assert_int_equal(tlv.type, PROXY_TLV_NOOP);
        assert_int_equal(tlv.len, 0);
        assert_false(proxy_tlv_next(&it, &tlv));
        assert_false(proxy_tlv_next(&it, &tlv)); /* stays at the end */
    }
    guard_free(&g);
}

/* The iterator on areas with nothing in them. */
static void test_tlv_iterator_empty_areas(void **state)
{
    (void)state;
    struct proxy_tlv_iter it;
    struct proxy_tlv tlv;
    proxy_tlv_iter_init(&it, (struct proxy_bytes){0});
    assert_false(proxy_tlv_next(&it, &tlv));
    static const uint8_t nothing[1];
    proxy_tlv_iter_init(&it, (struct proxy_bytes){.ptr = nothing, .len = 0});
    assert_false(proxy_tlv_next(&it, &tlv));
}

/* Even on an area nobody validated, the iterator never yields bytes past its end. */
static void test_tlv_iterator_stops_at_a_truncated_tlv(void **state)
{
    (void)state;
    static const uint8_t areas[][4] = {
        {0x01, 0x00, 0x02, 'a'}, /* one value byte short */
        {0x01, 0xff, 0xff, 'a'},
        {0x01, 0x00, 0x00, 0x01}, /* then one stray byte */
    };
    struct guard g;
    guard_init(&g, 4096);
    for (size_t i = 0; i < ARRAY_LEN(areas); i++) {
        for (size_t n = 0; n <= sizeof areas[i]; n++) {
            const uint8_t *at = guard_place(&g, areas[i], n);
            struct proxy_tlv_iter it;
            struct proxy_tlv tlv;
            proxy_tlv_iter_init(&it, (struct proxy_bytes){.ptr = at, .len = (uint16_t)n});
            while (proxy_tlv_next(&it, &tlv))
                assert_true(tlv.value + tlv.len <= at + n);
        }
    }
    guard_free(&g);
}

/* The TLV area must end exactly at the header end: after a valid TLV, 1 or 2 stray bytes fail. */
static void test_tlv_stray_trailing_bytes(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (int type = 0; type < 256; type++) {
        for (size_t stray = 1; stray <= 2; stray++) {
            uint8_t area[] = {PROXY_TLV_NOOP, 0, 1, 'x', (uint8_t)type, 0};
            uint8_t buf[64];
            size_t n = build_tcp4(buf, area, 4 + stray);
            expect_parse(&g, buf, n, NULL, PROXY_INVALID, PROXY_ERR_V2_TLV_TRUNCATED, &h,
                         "stray bytes");
        }
    }
    guard_free(&g);
}

/* A TLV length field running past the header by any amount: truncated, never read. */
static void test_tlv_length_past_the_end(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    for (uint32_t claimed = 1; claimed <= 0xFFFF; claimed += claimed < 64 ? 1 : 997) {
        static const uint8_t types[] = {0x01, 0x02, 0x03, 0x05, 0x20, 0x30, 0xe0, 0xea, 0xee, 0xff};
        for (size_t t = 0; t < ARRAY_LEN(types); t++) {
            uint8_t area[3] = {types[t], (uint8_t)(claimed >> 8), (uint8_t)claimed};
            uint8_t buf[64];
            size_t n = build_tcp4(buf, area, sizeof area);
            expect_parse(&g, buf, n, NULL, PROXY_INVALID, PROXY_ERR_V2_TLV_TRUNCATED, &h,
                         "TLV length past the end");
        }
    }
    guard_free(&g);
}

#define UID16 "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"

/* ==== CRC32C over whole headers, with values computed outside the codec ==== */

/*
 * PROXY TCP6 2001:db8::1 port 50000 -> 2001:db8::25 port 465 with AUTHORITY, CRC32C
 * (0xB9390B33, computed independently), UNIQUE_ID and SSL (VERSION, CN, CIPHER, SIG_ALG,
 * KEY_ALG): what HAProxy sends with send-proxy-v2-ssl-cn and crc32c,unique-id,authority.
 */
#define V2_TCP6_TLVS                                                    \
    SIG "\x21\x21\x00\xa8"                                              \
    "\x20\x01\x0d\xb8" Z8 "\0\0\0\x01" "\x20\x01\x0d\xb8" Z8 "\0\0\0\x25" \
    "\xc3\x50" "\x01\xd1"                                               \
    "\x02\x00\x10" "mail.example.com"                                   \
    "\x03\x00\x04" "\xb9\x39\x0b\x33"                                   \
    "\x05\x00\x10" UID16                                               \
    "\x20\x00\x54" "\x07" Z4                                            \
    "\x21\x00\x07" "TLSv1.3"                                            \
    "\x22\x00\x12" "client.example.com"                                 \
    "\x23\x00\x16" "TLS_AES_256_GCM_SHA384"                             \
    "\x24\x00\x0a" "RSA-SHA256"                                         \
    "\x25\x00\x07" "RSA2048"

static void test_crc32c_independent_values(void **state)
{
    (void)state;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    expect_parse(&g, V2_TCP4_CRC, sizeof V2_TCP4_CRC - 1, NULL, (int)sizeof V2_TCP4_CRC - 1,
                 PROXY_OK, &h, "TCP4 with CRC32C");
    assert_true(h.tlv.has_crc32c);
    assert_int_equal(h.tlv.crc32c, 0x206DC1BE);

    expect_parse(&g, V2_TCP6_TLVS, sizeof V2_TCP6_TLVS - 1, NULL, 184, PROXY_OK, &h,
                 "TCP6 with TLVs");
    assert_int_equal(h.tlv.crc32c, 0xB9390B33);
    expect_ip(&h.src, "2001:db8::1", "TCP6 with TLVs");
    expect_ip(&h.dst, "2001:db8::25", "TCP6 with TLVs");
    assert_int_equal(h.src_port, 50000);
    assert_int_equal(h.dst_port, 465);
    expect_bytes(h.tlv.authority, (struct text)TEXT("mail.example.com"), "authority", "TCP6");
    expect_bytes(h.tlv.unique_id, (struct text)TEXT(UID16), "unique_id", "TCP6");
    assert_true(h.tlv.ssl.present);
    assert_int_equal(h.tlv.ssl.client, 7);
    assert_int_equal(h.tlv.ssl.verify, 0);
    expect_bytes(h.tlv.ssl.version, (struct text)TEXT("TLSv1.3"), "version", "TCP6");
    expect_bytes(h.tlv.ssl.cn, (struct text)TEXT("client.example.com"), "cn", "TCP6");
    expect_bytes(h.tlv.ssl.cipher, (struct text)TEXT("TLS_AES_256_GCM_SHA384"), "cipher", "TCP6");
    expect_bytes(h.tlv.ssl.sig_alg, (struct text)TEXT("RSA-SHA256"), "sig_alg", "TCP6");
    expect_bytes(h.tlv.ssl.key_alg, (struct text)TEXT("RSA2048"), "key_alg", "TCP6");
    assert_int_equal(count_tlvs(h.tlv_area), 4);
    assert_int_equal(count_tlvs(h.tlv.ssl.subtlvs), 5);

    /* The same value written little-endian (host order on x86) must not verify. */
    uint8_t swapped[] = V2_TCP4_CRC;
    swapped[31] = 0xbe, swapped[32] = 0xc1, swapped[33] = 0x6d, swapped[34] = 0x20;
    expect_parse(&g, swapped, sizeof swapped - 1, NULL, PROXY_INVALID, PROXY_ERR_V2_CRC32C, &h,
                 "little-endian CRC32C");
    guard_free(&g);
}

/*
 * Any single bit flipped after the fixed part of a CRC-protected header makes it invalid, except
 * in the CRC32C TLV's type byte: turned into another type, it no longer asks for verification.
 */
static void test_crc32c_detects_every_bit_flip(void **state)
{
    (void)state;
    static const uint8_t good[] = V2_TCP6_TLVS;
    struct guard g;
    guard_init(&g, 4096);
    struct proxy_header h;
    const size_t crc_type_at = 16 + 36 + 3 + 16;
    assert_int_equal(good[crc_type_at], PROXY_TLV_CRC32C);
    for (size_t pos = 16; pos < sizeof good - 1; pos++) {
        if (pos == crc_type_at)
            continue;
        for (int bit = 0; bit < 8; bit++) {
            uint8_t buf[sizeof good];
            memcpy(buf, good, sizeof buf);
            buf[pos] ^= (uint8_t)(1u << bit);
            int rc = parse_guarded(&g, buf, sizeof buf - 1, NULL, &h);
            if (rc != PROXY_INVALID)
                fail_msg("bit %d of byte %zu flipped: got %d", bit, pos, rc);
        }
    }
    guard_free(&g);
}

/* ==== Split reads of the named headers ==== */

static void test_v2_split_reads(void **state)
{
    (void)state;
    static const struct {
        const uint8_t *input;
        size_t len;
    } headers[] = {
        {IN(SIG "\x21\x11\x00\x0c" INET_ADDRS)},
        {IN(V2_TCP4_CRC)},
        {IN(V2_TCP6_TLVS)},
        {IN(SIG "\x21\x31\x00\xd8" UNIX_ADDRS)},
        {IN(SIG "\x20\x11\x00\x0c" INET_ADDRS)},
    };
    static const uint8_t app[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" SIG "\x21\x11";
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 3;
    for (size_t i = 0; i < ARRAY_LEN(headers); i++) {
        uint8_t buf[512];
        size_t n = headers[i].len;
        memcpy(buf, headers[i].input, n);
        memcpy(buf + n, app, sizeof app - 1);
        size_t total = n + sizeof app - 1;
        char what[32];
        snprintf(what, sizeof what, "split header %zu", i);
        expect_prefixes_valid(&g, buf, total, n, NULL, what);
        for (uint32_t max_read = 1; max_read <= 64; max_read *= 2) {
            for (int round = 0; round < 50; round++)
                expect_split_reads(&g, buf, total, (int)n, n, &rng, max_read, what);
        }
    }
    guard_free(&g);
}

/* ==== Error texts ==== */

static void test_error_names_and_messages(void **state)
{
    (void)state;
    for (int a = 0; a < PROXY_ERR__COUNT; a++) {
        const char *name = proxy_error_name((enum proxy_error)a);
        const char *message = proxy_error_message((enum proxy_error)a);
        assert_non_null(name);
        assert_non_null(message);
        if (!name[0] || !message[0])
            fail_msg("error %d has an empty name or message", a);
        for (const char *p = name; *p; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                fail_msg("error name \"%s\" is not a lower-case token", name);
        }
        for (int b = 0; b < a; b++) {
            if (strcmp(name, proxy_error_name((enum proxy_error)b)) == 0)
                fail_msg("errors %d and %d share the name %s", a, b, name);
            if (strcmp(message, proxy_error_message((enum proxy_error)b)) == 0)
                fail_msg("errors %d and %d share the message \"%s\"", a, b, message);
        }
    }
    assert_string_equal(proxy_error_name(PROXY_OK), "ok");
    assert_string_equal(proxy_error_name(PROXY_ERR_V1_TOO_LONG), "v1_too_long");
    /* Out of range: still a string, never a crash. */
    assert_non_null(proxy_error_name(PROXY_ERR__COUNT));
    assert_non_null(proxy_error_message(PROXY_ERR__COUNT));
    assert_non_null(proxy_error_name((enum proxy_error)-1));
    assert_non_null(proxy_error_message((enum proxy_error)1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_table),
        cmocka_unit_test(test_v2_table_every_prefix),
        cmocka_unit_test(test_v2_signature_bytes),
        cmocka_unit_test(test_v2_every_version_nibble),
        cmocka_unit_test(test_v2_every_command),
        cmocka_unit_test(test_v2_every_family_byte),
        cmocka_unit_test(test_v2_local_any_length_any_family),
        cmocka_unit_test(test_v2_address_block_lengths),
        cmocka_unit_test(test_v2_default_max_length),
        cmocka_unit_test(test_v2_custom_max_length),
        cmocka_unit_test(test_tlv_table),
        cmocka_unit_test(test_tlv_table_every_prefix),
        cmocka_unit_test(test_v2_tables_cover_every_v2_error),
        cmocka_unit_test(test_tlv_length_limits),
        cmocka_unit_test(test_tlv_fixed_lengths),
        cmocka_unit_test(test_tlv_every_type_iterable),
        cmocka_unit_test(test_tlv_iterator_empty_areas),
        cmocka_unit_test(test_tlv_iterator_stops_at_a_truncated_tlv),
        cmocka_unit_test(test_tlv_stray_trailing_bytes),
        cmocka_unit_test(test_tlv_length_past_the_end),
        cmocka_unit_test(test_crc32c_independent_values),
        cmocka_unit_test(test_crc32c_detects_every_bit_flip),
        cmocka_unit_test(test_v2_split_reads),
        cmocka_unit_test(test_error_names_and_messages),
    };
    return cmocka_run_group_tests_name("proxy_v2", tests, NULL, NULL);
}
