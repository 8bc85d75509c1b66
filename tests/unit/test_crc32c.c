/*
 * CRC32C (Castagnoli), as the PROXY v2 CRC32C TLV uses: RFC 3720 B.4 vectors, the usual check
 * value, a bit-at-a-time reference written here from the polynomial, agreement of the SSE4.2 and
 * table paths on every length and alignment, and chaining.
 */
#include "proxy_test_util.h"

/* Bit at a time from the reflected polynomial: slow, obvious, and independent of the codec. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int bit = 0; bit < 8; bit++)
            crc = crc >> 1 ^ (crc & 1 ? 0x82F63B78u : 0);
    }
    return ~crc;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static const struct {
    const char *name;
    crc_fn fn;
} impls[] = {
    {"proxy_crc32c", proxy_crc32c},
    {"proxy_crc32c_portable", proxy_crc32c_portable},
};

static void expect_crc(const void *data, size_t len, uint32_t want, const char *what)
{
    for (size_t i = 0; i < ARRAY_LEN(impls); i++) {
        uint32_t got = impls[i].fn(0, data, len);
        if (got != want)
            fail_msg("%s(%s) = 0x%08X, want 0x%08X", impls[i].name, what, got, want);
    }
    assert_int_equal(crc32c_bitwise(0, data, len), want);
}

/* RFC 3720 appendix B.4. */
static void test_crc32c_rfc3720_vectors(void **state)
{
    (void)state;
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    expect_crc(buf, sizeof buf, 0x8A9136AA, "32 zero bytes");
    memset(buf, 0xFF, sizeof buf);
    expect_crc(buf, sizeof buf, 0x62A8AB43, "32 0xFF bytes");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    expect_crc(buf, sizeof buf, 0x46DD794E, "0..31");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    expect_crc(buf, sizeof buf, 0x113FDB5C, "31..0");
    /* An iSCSI SCSI Read (10) command PDU. */
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    expect_crc(pdu, sizeof pdu, 0xD9963A56, "iSCSI read PDU");
}

static void test_crc32c_check_values(void **state)
{
    (void)state;
    expect_crc("123456789", 9, 0xE3069283, "\"123456789\"");
    expect_crc("a", 1, 0xC1D04330, "\"a\"");
    expect_crc("", 0, 0x00000000, "nothing");
}

/* Zero bytes leave a running CRC unchanged. */
static void test_crc32c_empty_input_keeps_crc(void **state)
{
    (void)state;
    static const uint8_t byte = 0;
    for (size_t i = 0; i < ARRAY_LEN(impls); i++) {
        assert_int_equal(impls[i].fn(0x12345678, &byte, 0), 0x12345678);
        assert_int_equal(impls[i].fn(0xFFFFFFFF, &byte, 0), 0xFFFFFFFF);
    }
}

/*
 * The dispatching function (SSE4.2 when the CPU has it) and the table agree with the bitwise
 * reference on random data of every length 0..300 at every alignment 0..15, each buffer ending
 * at a guard page so a wide load past the end would crash.
 */
static void test_crc32c_paths_agree_every_length_and_alignment(void **state)
{
    (void)state;
#if defined(__x86_64__)
    print_message("# SSE4.2 %s\n", __builtin_cpu_supports("sse4.2") ? "present" : "absent");
#endif
    struct guard g;
    guard_init(&g, 4096);
    uint64_t rng = 0xC4C32C;
    uint8_t data[300 + 16];
    for (size_t len = 0; len <= 300; len++) {
        for (size_t misalign = 0; misalign < 16; misalign++) {
            rng_fill(&rng, data, len + misalign);
            uint32_t seed = (uint32_t)rng_next(&rng);
            uint32_t want = crc32c_bitwise(seed, data + misalign, len);
            /* At the guard page, starting at every alignment. */
            uint8_t *at = guard_end(&g) - len - misalign;
            memcpy(at, data + misalign, len);
            for (size_t i = 0; i < ARRAY_LEN(impls); i++) {
                uint32_t got = impls[i].fn(seed, at, len);
                if (got != want)
                    fail_msg("%s, %zu bytes at offset %zu: 0x%08X, want 0x%08X", impls[i].name,
                             len, misalign, got, want);
                got = impls[i].fn(seed, data + misalign, len);
                if (got != want)
                    fail_msg("%s, %zu bytes at alignment %zu: 0x%08X, want 0x%08X",
                             impls[i].name, len, misalign, got, want);
            }
        }
    }
    guard_free(&g);
}

/* crc(a || b) == crc(crc(a), b) for every split point, within and across the two paths. */
static void test_crc32c_chaining(void **state)
{
    (void)state;
    uint64_t rng = 1234;
    uint8_t data[300];
    for (int round = 0; round < 8; round++) {
        size_t len = round == 0 ? sizeof data : 1 + rng_below(&rng, sizeof data);
        rng_fill(&rng, data, len);
        uint32_t whole = proxy_crc32c_portable(0, data, len);
        assert_int_equal(proxy_crc32c(0, data, len), whole);
        for (size_t split = 0; split <= len; split++) {
            uint32_t a = proxy_crc32c(0, data, split);
            uint32_t b = proxy_crc32c_portable(0, data, split);
            assert_int_equal(proxy_crc32c(a, data + split, len - split), whole);
            assert_int_equal(proxy_crc32c_portable(b, data + split, len - split), whole);
            assert_int_equal(proxy_crc32c_portable(a, data + split, len - split), whole);
            assert_int_equal(proxy_crc32c(b, data + split, len - split), whole);
        }
        /* Three pieces, as the v2 parser computes it around the CRC32C value. */
        for (size_t i = 0; i + 4 <= len; i += 13) {
            uint32_t c = proxy_crc32c(0, data, i);
            c = proxy_crc32c(c, data + i, 4);
            c = proxy_crc32c(c, data + i + 4, len - i - 4);
            assert_int_equal(c, whole);
        }
    }
}

/* Long inputs: the 8-byte loop of the SSE4.2 path over many iterations. */
static void test_crc32c_long_input(void **state)
{
    (void)state;
    static uint8_t big[PROXY_V2_MAX_LENGTH];
    uint64_t rng = 77;
    rng_fill(&rng, big, sizeof big);
    uint32_t want = crc32c_bitwise(0, big, sizeof big);
    for (size_t i = 0; i < ARRAY_LEN(impls); i++)
        assert_int_equal(impls[i].fn(0, big, sizeof big), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_check_values),
        cmocka_unit_test(test_crc32c_empty_input_keeps_crc),
        cmocka_unit_test(test_crc32c_paths_agree_every_length_and_alignment),
        cmocka_unit_test(test_crc32c_chaining),
        cmocka_unit_test(test_crc32c_long_input),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
