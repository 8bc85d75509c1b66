/*
 * Helpers shared by the PROXY codec tests. Header-only (static inline): every test file is a
 * binary of its own.
 *
 * Inputs are parsed from the very end of an mmap'd area followed by a PROT_NONE page, so a read
 * one byte past the input crashes the test (picohttpparser's trick), with or without ASan.
 */
#ifndef POSTERN_PROXY_TEST_UTIL_H
#define POSTERN_PROXY_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <postern/proxy.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A string literal as table input bytes, without its terminating NUL. */
#define IN(lit) .input = (const uint8_t *)(lit), .len = sizeof(lit) - 1

/* ---- v2 building blocks, as string literals ---- */

/* The 12-byte signature: 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A. */
#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define Z4 "\0\0\0\0"
#define Z8 Z4 Z4
#define Z16 Z8 Z8
#define Z64 Z16 Z16 Z16 Z16
/* 127.0.0.1 port 12345 -> 192.0.2.1 port 25 */
#define INET_ADDRS "\x7f\x00\x00\x01" "\xc0\x00\x02\x01" "\x30\x39" "\x00\x19"
/* Two 108-byte socket paths, zero-padded: 16 characters + 92 NULs each. */
#define UNIX_SRC_PATH "/run/client.sock"
#define UNIX_DST_PATH "/run/server.sock"
#define UNIX_ADDRS UNIX_SRC_PATH Z64 Z16 Z8 Z4 UNIX_DST_PATH Z64 Z16 Z8 Z4
/* PROXY TCP4 with only a CRC32C TLV; the value 0x206DC1BE was computed outside the codec. */
#define V2_TCP4_CRC SIG "\x21\x11\x00\x13" INET_ADDRS "\x03\x00\x04" "\x20\x6d\xc1\xbe"

/* ---- Deterministic PRNG (xorshift64*), so every failure reproduces ---- */

static inline uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform enough for tests: a value in [0, bound). */
static inline uint32_t rng_below(uint64_t *state, uint32_t bound)
{
    return (uint32_t)((rng_next(state) >> 32) % bound);
}

static inline void rng_fill(uint64_t *state, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(rng_next(state) >> 56);
}

/* ---- Guard pages ---- */

struct guard {
    uint8_t *map;    /* data pages, then one PROT_NONE page */
    size_t data_len; /* bytes before the guard page */
    size_t map_len;
};

/* Maps room for inputs of up to max_len bytes, followed by an inaccessible page. */
static inline void guard_init(struct guard *g, size_t max_len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    g->data_len = (max_len + page - 1) / page * page;
    if (g->data_len == 0)
        g->data_len = page;
    g->map_len = g->data_len + page;
    void *map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    g->map = map;
    assert_int_equal(mprotect(g->map + g->data_len, page, PROT_NONE), 0);
}

static inline void guard_free(struct guard *g)
{
    assert_int_equal(munmap(g->map, g->map_len), 0);
    g->map = NULL;
}

/* The first byte of the PROT_NONE page. */
static inline uint8_t *guard_end(const struct guard *g)
{
    return g->map + g->data_len;
}

/* Copies data so that it ends exactly at the guard page; returns where it starts. */
static inline const uint8_t *guard_place(struct guard *g, const void *data, size_t len)
{
    assert_true(len <= g->data_len);
    uint8_t *at = guard_end(g) - len;
    if (len)
        memcpy(at, data, len);
    return at;
}

/* ---- Messages ---- */

/* Printable rendering of bytes for failure messages (C escapes, truncated). */
static inline const char *show_bytes(const uint8_t *p, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        uint8_t c = p[i];
        if (c == '\r')
            o += (size_t)snprintf(out + o, cap - o, "\\r");
        else if (c == '\n')
            o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (c == '\\' || c == '"')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (o + 8 >= cap && cap >= 4)
        memcpy(out + cap - 4, "...", 4);
    else
        out[o] = '\0';
    return out;
}

/* "1234", "NEED_MORE" or "INVALID(v1_src_addr)" */
static inline const char *show_result(int rc, enum proxy_error error, char *out, size_t cap)
{
    if (rc == PROXY_NEED_MORE)
        snprintf(out, cap, "NEED_MORE");
    else if (rc == PROXY_INVALID)
        snprintf(out, cap, "INVALID(%s)", proxy_error_name(error));
    else
        snprintf(out, cap, "%d", rc);
    return out;
}

/* ---- Parsing at the guard page ---- */

static inline int parse_guarded(struct guard *g, const void *data, size_t len,
                                const struct proxy_parse_options *opts, struct proxy_header *hdr)
{
    const uint8_t *at = guard_place(g, data, len);
    memset(hdr, 0xA5, sizeof *hdr); /* stale garbage: the parser must not rely on a clean struct */
    return proxy_parse(at, len, opts, hdr);
}

/*
 * Parses data[0..len) at the guard page and fails with a readable message unless the result is
 * `expect` (a length, PROXY_NEED_MORE, or PROXY_INVALID with `error`).
 */
static inline void expect_parse(struct guard *g, const void *data, size_t len,
                                const struct proxy_parse_options *opts, int expect,
                                enum proxy_error error, struct proxy_header *hdr, const char *what)
{
    int rc = parse_guarded(g, data, len, opts, hdr);
    bool ok = rc == expect && (rc != PROXY_INVALID || hdr->error == error) &&
              (rc != PROXY_NEED_MORE || hdr->error == PROXY_OK);
    if (rc > 0 && ok)
        ok = hdr->length == (uint32_t)rc && hdr->error == PROXY_OK;
    if (!ok) {
        char shown[512], got[64], want[64];
        fail_msg("%s: input \"%s\" (%zu bytes): got %s, want %s", what,
                 show_bytes(data, len, shown, sizeof shown), len,
                 show_result(rc, hdr->error, got, sizeof got),
                 show_result(expect, error, want, sizeof want));
    }
}

/*
 * For a valid header of `n` bytes inside data[0..len): every prefix shorter than n, placed at the
 * guard page, is PROXY_NEED_MORE, and every longer one (application bytes after it) gives n.
 */
static inline void expect_prefixes_valid(struct guard *g, const uint8_t *data, size_t len, size_t n,
                                         const struct proxy_parse_options *opts, const char *what)
{
    struct proxy_header hdr;
    for (size_t k = 0; k <= len; k++)
        expect_parse(g, data, k, opts, k < n ? PROXY_NEED_MORE : (int)n, PROXY_OK, &hdr, what);
}

/*
 * For an invalid input: no prefix is a complete header, once a prefix is invalid every longer one
 * is too (reading more never helps), and the whole input is invalid with `error`.
 */
static inline void expect_prefixes_invalid(struct guard *g, const uint8_t *data, size_t len,
                                           const struct proxy_parse_options *opts,
                                           enum proxy_error error, const char *what)
{
    struct proxy_header hdr;
    bool invalid_seen = false;
    for (size_t k = 0; k < len; k++) {
        int rc = parse_guarded(g, data, k, opts, &hdr);
        char shown[512], got[64];
        if (rc > 0 || (invalid_seen && rc != PROXY_INVALID) ||
            (rc != PROXY_INVALID && rc != PROXY_NEED_MORE))
            fail_msg("%s: prefix \"%s\" (%zu of %zu bytes) gave %s", what,
                     show_bytes(data, k, shown, sizeof shown), k, len,
                     show_result(rc, hdr.error, got, sizeof got));
        invalid_seen = invalid_seen || rc == PROXY_INVALID;
    }
    expect_parse(g, data, len, opts, PROXY_INVALID, error, &hdr, what);
}

/*
 * A receiver's view: the bytes arrive in reads of random sizes (1..max_read) into one growing
 * buffer, and proxy_parse() runs on everything received after each read. The first non-NEED_MORE
 * answer must be `expect`, and must come exactly when enough bytes have arrived.
 */
static inline void expect_split_reads(struct guard *g, const uint8_t *data, size_t len, int expect,
                                      size_t decided_at, uint64_t *rng, uint32_t max_read,
                                      const char *what)
{
    struct proxy_header hdr;
    size_t have = 0;
    while (have < len) {
        have += 1 + rng_below(rng, max_read);
        if (have > len)
            have = len;
        int rc = parse_guarded(g, data, have, NULL, &hdr);
        if (have < decided_at) {
            if (rc != PROXY_NEED_MORE)
                fail_msg("%s: %zu of %zu bytes received gave %d, want NEED_MORE", what, have,
                         len, rc);
            continue;
        }
        if (rc != expect)
            fail_msg("%s: %zu of %zu bytes received gave %d, want %d", what, have, len, rc,
                     expect);
        return;
    }
    fail_msg("%s: never decided", what);
}

/* ---- Expected values ---- */

/* addr must be the address `text` (parsed by inet_pton, independent of the codec). */
static inline void expect_ip(const struct proxy_ip *ip, const char *text, const char *what)
{
    struct proxy_ip want = {.family = PROXY_FAM_INET};
    if (inet_pton(AF_INET, text, want.addr) != 1) {
        want.family = PROXY_FAM_INET6;
        if (inet_pton(AF_INET6, text, want.addr) != 1)
            fail_msg("%s: bad expected address %s in the test", what, text);
    }
    size_t n = want.family == PROXY_FAM_INET ? 4 : 16;
    if (ip->family != want.family || memcmp(ip->addr, want.addr, n) != 0) {
        char got[INET6_ADDRSTRLEN] = "?";
        inet_ntop(ip->family == PROXY_FAM_INET ? AF_INET : AF_INET6, ip->addr, got, sizeof got);
        fail_msg("%s: address %s (family %d), want %s", what, got, ip->family, text);
    }
}

/* An optional byte string expected in a decoded field: s == NULL means "absent". */
struct text {
    const char *s;
    size_t len;
};
#define TEXT(lit) {(lit), sizeof(lit) - 1}

static inline void expect_bytes(struct proxy_bytes got, struct text want, const char *field,
                                const char *what)
{
    if (!want.s) {
        if (got.ptr)
            fail_msg("%s: %s present (%u bytes), want absent", what, field, got.len);
        return;
    }
    if (!got.ptr)
        fail_msg("%s: %s absent, want %zu bytes", what, field, want.len);
    if (got.len != want.len || memcmp(got.ptr, want.s, want.len) != 0) {
        char a[256], b[256];
        fail_msg("%s: %s is \"%s\", want \"%s\"", what, field,
                 show_bytes(got.ptr, got.len, a, sizeof a),
                 show_bytes((const uint8_t *)want.s, want.len, b, sizeof b));
    }
}

static inline size_t count_tlvs(struct proxy_bytes area)
{
    struct proxy_tlv_iter it;
    struct proxy_tlv tlv;
    size_t n = 0;
    proxy_tlv_iter_init(&it, area);
    while (proxy_tlv_next(&it, &tlv))
        n++;
    return n;
}

/* A table case's expected result: one complete header (then `tail` application bytes). */
#define VALID 1

/*
 * Every prefix of one table case: a valid header waits (NEED_MORE) until it is complete, an
 * invalid input never completes and ends with `error`, a NEED_MORE case waits throughout.
 */
static inline void expect_case_prefixes(struct guard *g, const uint8_t *input, size_t len,
                                        int result, enum proxy_error error, size_t tail,
                                        const char *what)
{
    if (result == VALID)
        expect_prefixes_valid(g, input, len, len - tail, NULL, what);
    else if (result == PROXY_INVALID)
        expect_prefixes_invalid(g, input, len, NULL, error, what);
    else
        expect_prefixes_valid(g, input, len, len + 1, NULL, what);
}

#endif
