/*
 * ns per PROXY header decode, beside a baseline measured in the same run: copying the same
 * bytes and comparing them with a reference (the least any receiver must do with them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "postern/proxy.h"

#define ROUNDS 7
#define MIN_ROUND_NS 200000000.0 /* each round runs at least 0.2 s */

struct bench_case {
    const char *name;
    double target_ns;
    uint8_t bytes[512];
    size_t len;
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void keep(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static uint64_t parse_loop(const struct bench_case *c, uint64_t iterations)
{
    struct proxy_header hdr;
    uint64_t total = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        keep(c->bytes);
        total += (uint64_t)proxy_parse(c->bytes, c->len, NULL, &hdr);
        keep(&hdr);
    }
    return total;
}

static uint64_t baseline_loop(const struct bench_case *c, uint64_t iterations)
{
    uint8_t copy[512];
    uint64_t total = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        keep(c->bytes);
        memcpy(copy, c->bytes, c->len);
        keep(copy);
        total += memcmp(copy, c->bytes, c->len) == 0;
    }
    return total;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ns per call over ROUNDS rounds, each long enough to swamp timer overhead. */
static double measure(uint64_t (*loop)(const struct bench_case *, uint64_t),
                      const struct bench_case *c)
{
    uint64_t iterations = 1000;
    double start = now_ns();
    while (loop(c, iterations), now_ns() - start < MIN_ROUND_NS / 20) {
        iterations *= 2;
        start = now_ns();
    }
    iterations *= 20;
    double per_call[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        start = now_ns();
        keep((void *)(uintptr_t)loop(c, iterations));
        per_call[r] = (now_ns() - start) / (double)iterations;
    }
    qsort(per_call, ROUNDS, sizeof per_call[0], compare_doubles);
    return per_call[ROUNDS / 2];
}

static void add_v1(struct bench_case *c, const char *line)
{
    c->len = strlen(line);
    memcpy(c->bytes, line, c->len);
}

static void add_v2(struct bench_case *c, const struct proxy_header *h, const struct proxy_tlv *tlvs,
                   size_t n, bool crc)
{
    struct proxy_encode_options opts = {.crc32c = crc};
    int len = proxy_encode_v2(c->bytes, sizeof c->bytes, h, tlvs, n, &opts);
    if (len < 0)
        abort();
    c->len = (size_t)len;
}

static void build_cases(struct bench_case cases[4])
{
    cases[0] = (struct bench_case){.name = "v1 TCP4", .target_ns = 30};
    add_v1(&cases[0], "PROXY TCP4 192.168.100.200 10.20.30.40 56324 25\r\n");
    cases[1] = (struct bench_case){.name = "v1 TCP6 longest", .target_ns = 0};
    add_v1(&cases[1], "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n");

    struct proxy_header h4 = {.command = PROXY_CMD_PROXY, .family = PROXY_FAM_INET,
                              .transport = PROXY_TRANSPORT_STREAM, .has_addresses = true,
                              .src = {PROXY_FAM_INET, {192, 168, 100, 200}},
                              .dst = {PROXY_FAM_INET, {10, 20, 30, 40}},
                              .src_port = 56324, .dst_port = 25};
    cases[2] = (struct bench_case){.name = "v2 TCP4", .target_ns = 10};
    add_v2(&cases[2], &h4, NULL, 0, false);

    struct proxy_header h6 = h4;
    h6.family = PROXY_FAM_INET6;
    proxy_ip_parse("2001:db8::1234", 14, &h6.src);
    proxy_ip_parse("2001:db8::25", 12, &h6.dst);
    static const struct proxy_tlv ssl_subs[] = {
        {PROXY_TLV_SSL_VERSION, 7, (const uint8_t *)"TLSv1.3"},
        {PROXY_TLV_SSL_CIPHER, 22, (const uint8_t *)"TLS_AES_256_GCM_SHA384"},
        {PROXY_TLV_SSL_CN, 18, (const uint8_t *)"client.example.com"},
    };
    static uint8_t ssl_value[128];
    int ssl_len = proxy_encode_ssl_value(ssl_value, sizeof ssl_value, 0x07, 0, ssl_subs, 3);
    const struct proxy_tlv tlvs[] = {
        {PROXY_TLV_SSL, (uint16_t)ssl_len, ssl_value},
        {PROXY_TLV_AUTHORITY, 16, (const uint8_t *)"mail.example.com"},
        {PROXY_TLV_UNIQUE_ID, 16, (const uint8_t *)"0123456789abcdef"},
    };
    cases[3] = (struct bench_case){.name = "v2 TCP6 SSL+AUTHORITY+UNIQUE_ID+CRC32C",
                                   .target_ns = 60};
    add_v2(&cases[3], &h6, tlvs, 3, true);
}

int main(void)
{
    struct bench_case cases[4];
    build_cases(cases);
    printf("%-40s %6s %10s %12s %8s %10s\n", "header", "bytes", "decode ns", "baseline ns",
           "ratio", "target");
    for (int i = 0; i < 4; i++) {
        struct proxy_header hdr;
        if (proxy_parse(cases[i].bytes, cases[i].len, NULL, &hdr) != (int)cases[i].len) {
            fprintf(stderr, "bench case '%s' does not parse\n", cases[i].name);
            return 1;
        }
        double parse_ns = measure(parse_loop, &cases[i]);
        double base_ns = measure(baseline_loop, &cases[i]);
        char target[16] = "-";
        if (cases[i].target_ns > 0)
            snprintf(target, sizeof target, "<= %.0f ns", cases[i].target_ns);
        printf("%-40s %6zu %10.1f %12.1f %7.1fx %10s\n", cases[i].name, cases[i].len, parse_ns,
               base_ns, parse_ns / base_ns, target);
    }
    return 0;
}
