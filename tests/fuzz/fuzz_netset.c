/*
 * Fuzzes address text and network sets. The input is a list of entries, one per line.
 * Properties checked (any violation traps):
 *  - proxy_ip_parse: accepted text is at most 45 bytes; its formatted form parses back to the
 *    same address and formats identically; a v4-mapped address unmaps to its last 4 bytes.
 *  - netset_cidr_parse: the canonical form of an accepted entry is accepted unchanged, and the
 *    message is empty exactly when the entry was accepted as written.
 *  - netset: a compiled set answers every probe like the same set uncompiled (a linear scan),
 *    contains the first and last address of every entry (unless IPv4-mapped), and answers an
 *    IPv4 address and its IPv4-mapped form alike.
 * Every parse runs on an exact-size heap copy, so ASan sees any read past the given length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netset/netset.h"
#include "fuzz_util.h"

#define MAX_LINES 512
static bool same_ip(const struct proxy_ip *a, const struct proxy_ip *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

static void check_ip_text(const char *text, size_t len)
{
    struct proxy_ip ip, again;
    if (!proxy_ip_parse(text, len, &ip))
        return;
    CHECK(len < PROXY_IP_TEXT_MAX);
    CHECK(ip.family == PROXY_FAM_INET || ip.family == PROXY_FAM_INET6);
    char formatted[PROXY_IP_TEXT_MAX], reformatted[PROXY_IP_TEXT_MAX];
    size_t n = proxy_ip_format(&ip, formatted);
    CHECK(n == strlen(formatted) && n < PROXY_IP_TEXT_MAX);
    char *copy = exact_copy((const uint8_t *)formatted, n);
    CHECK(proxy_ip_parse(copy, n, &again));
    free(copy);
    CHECK(same_ip(&ip, &again));
    CHECK(proxy_ip_format(&again, reformatted) == n && memcmp(formatted, reformatted, n) == 0);
    if (proxy_ip_is_v4_mapped(&ip)) {
        struct proxy_ip plain = ip;
        proxy_ip_unmap(&plain);
        CHECK(plain.family == PROXY_FAM_INET && memcmp(plain.addr, ip.addr + 12, 4) == 0);
    }
}

static void check_cidr_text(const char *text, size_t len)
{
    struct netset_cidr cidr, again;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    enum netset_status status = netset_cidr_parse(text, len, &cidr, msg, sizeof msg);
    CHECK(memchr(msg, '\0', sizeof msg) != NULL);
    CHECK((status == NETSET_ADDED) == (msg[0] == '\0'));
    if (status == NETSET_INVALID)
        return;
    CHECK(cidr.prefix <= (cidr.base.family == PROXY_FAM_INET ? 32 : 128));
    CHECK(!proxy_ip_is_v4_mapped(&cidr.base) || cidr.prefix < 96);
    char canonical[NETSET_CIDR_TEXT_MAX];
    size_t n = netset_cidr_format(&cidr, canonical);
    CHECK(n == strlen(canonical));
    char *copy = exact_copy((const uint8_t *)canonical, n);
    CHECK(netset_cidr_parse(copy, n, &again, NULL, 0) == NETSET_ADDED);
    free(copy);
    CHECK(again.prefix == cidr.prefix && same_ip(&again.base, &cidr.base));
}

/* The highest address of an entry: its base with every host bit set. */
static struct proxy_ip last_address(const struct netset_cidr *cidr)
{
    struct proxy_ip ip = cidr->base;
    unsigned bits = ip.family == PROXY_FAM_INET ? 32 : 128;
    for (unsigned i = cidr->prefix; i < bits; i++)
        ip.addr[i / 8] |= (uint8_t)(1u << (7 - i % 8));
    return ip;
}

static struct proxy_ip mapped_form(const struct proxy_ip *v4)
{
    struct proxy_ip ip = {.family = PROXY_FAM_INET6};
    ip.addr[10] = ip.addr[11] = 0xff;
    memcpy(ip.addr + 12, v4->addr, 4);
    return ip;
}

static void check_probe(const struct netset *compiled, const struct netset *linear,
                        const struct proxy_ip *ip)
{
    bool expected = netset_contains(linear, ip);
    CHECK(netset_contains(compiled, ip) == expected);
    if (ip->family == PROXY_FAM_INET) {
        struct proxy_ip mapped = mapped_form(ip);
        CHECK(netset_contains(compiled, &mapped) == expected);
        CHECK(netset_contains(linear, &mapped) == expected);
    }
}

/* Probe addresses from raw input bytes, so the fuzzer can steer them. */
static void check_raw_probes(const struct netset *compiled, const struct netset *linear,
                             const uint8_t *data, size_t size)
{
    for (size_t offset = 0; offset + 16 <= size && offset < 16 * 32; offset += 16) {
        struct proxy_ip ip = {.family = PROXY_FAM_INET6};
        memcpy(ip.addr, data + offset, 16);
        check_probe(compiled, linear, &ip);
        struct proxy_ip v4 = {.family = PROXY_FAM_INET};
        memcpy(v4.addr, data + offset, 4);
        check_probe(compiled, linear, &v4);
    }
}

static void check_sets(const struct netset *compiled, const struct netset *linear,
                       const uint8_t *data, size_t size)
{
    CHECK(netset_count(compiled) == netset_count(linear));
    CHECK(netset_range_count(compiled) <= netset_count(compiled));
    for (size_t i = 0; i < netset_count(compiled); i++) {
        const struct netset_cidr *cidr = netset_entry(compiled, i);
        struct proxy_ip last = last_address(cidr);
        /* IPv6 entries reaching into ::ffff:0:0/96 do not match those addresses: they are
         * looked up as IPv4 */
        CHECK(proxy_ip_is_v4_mapped(&cidr->base) || netset_contains(compiled, &cidr->base));
        CHECK(proxy_ip_is_v4_mapped(&last) || netset_contains(compiled, &last));
        check_probe(compiled, linear, &cidr->base);
        check_probe(compiled, linear, &last);
    }
    check_raw_probes(compiled, linear, data, size);

    size_t need = netset_format(compiled, NULL, 0);
    char *listing = malloc(need + 1);
    CHECK(listing != NULL);
    CHECK(netset_format(compiled, listing, need + 1) == need && strlen(listing) == need);
    free(listing);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netset *compiled = netset_new(), *linear = netset_new();
    CHECK(compiled != NULL && linear != NULL);
    size_t start = 0;
    for (int lines = 0; start <= size && lines < MAX_LINES; lines++) {
        const uint8_t *newline = start < size ? memchr(data + start, '\n', size - start) : NULL;
        size_t len = newline ? (size_t)(newline - (data + start)) : size - start;
        char *line = exact_copy(data + start, len);
        check_ip_text(line, len);
        check_cidr_text(line, len);
        enum netset_status a = netset_add(compiled, line, len, NULL, 0);
        enum netset_status b = netset_add(linear, line, len, NULL, 0);
        CHECK(a == b);
        free(line);
        start += len + 1;
    }
    CHECK(netset_compile(compiled));
    check_sets(compiled, linear, data, size);
    netset_free(compiled);
    netset_free(linear);
    return 0;
}
