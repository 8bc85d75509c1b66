/*
 * Network sets. Entries are kept in input order for display; netset_compile() turns them into
 * sorted, disjoint [first, last] ranges per family so that a lookup is one binary search.
 */
#include "netset/netset.h"
#include "util/array.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define IPV4_BITS 32
#define IPV6_BITS 128
#define MAPPED_PREFIX_BITS 96 /* ::ffff:0:0/96 */
#define QUOTED_ENTRY_MAX 64   /* entry bytes shown in messages before "..." */

struct u128 {
    uint64_t hi, lo;
};

struct range4 {
    uint32_t first, last;
};

struct range6 {
    struct u128 first, last;
};

struct netset {
    struct netset_cidr *entries; /* input order */
    size_t count, capacity;
    struct range4 *v4;
    struct range6 *v6;
    size_t v4_count, v6_count;
    bool compiled; /* v4/v6 reflect every entry */
};

/* ---- Address arithmetic ---- */

static uint32_t load_u32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
           bytes[3];
}

static void store_u32(uint8_t *bytes, uint32_t value)
{
    for (int i = 3; i >= 0; i--, value >>= 8)
        bytes[i] = (uint8_t)value;
}

static uint64_t load_u64(const uint8_t *bytes)
{
    return (uint64_t)load_u32(bytes) << 32 | load_u32(bytes + 4);
}

static void store_u64(uint8_t *bytes, uint64_t value)
{
    store_u32(bytes, (uint32_t)(value >> 32));
    store_u32(bytes + 4, (uint32_t)value);
}

static struct u128 load_u128(const uint8_t *bytes)
{
    return (struct u128){load_u64(bytes), load_u64(bytes + 8)};
}

static void store_u128(uint8_t *bytes, struct u128 value)
{
    store_u64(bytes, value.hi);
    store_u64(bytes + 8, value.lo);
}

static bool u128_less(struct u128 a, struct u128 b)
{
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

static bool u128_equal(struct u128 a, struct u128 b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

/* Wraps at the top; callers only add one to values below the maximum. */
static struct u128 u128_plus_one(struct u128 a)
{
    return (struct u128){a.hi + (a.lo == UINT64_MAX), a.lo + 1};
}

/* The top `bits` bits set, for 0-64 (a shift by 64 would be undefined). */
static uint64_t high_bits64(unsigned bits)
{
    return bits == 0 ? 0 : UINT64_MAX << (64 - bits);
}

static uint32_t ipv4_netmask(unsigned prefix)
{
    return prefix == 0 ? 0 : UINT32_MAX << (IPV4_BITS - prefix);
}

static struct u128 ipv6_netmask(unsigned prefix)
{
    unsigned hi_bits = prefix < 64 ? prefix : 64;
    return (struct u128){high_bits64(hi_bits), high_bits64(prefix - hi_bits)};
}

static struct range4 cidr_range4(const struct netset_cidr *cidr)
{
    uint32_t first = load_u32(cidr->base.addr);
    return (struct range4){first, first | ~ipv4_netmask(cidr->prefix)};
}

static struct range6 cidr_range6(const struct netset_cidr *cidr)
{
    struct u128 first = load_u128(cidr->base.addr);
    struct u128 mask = ipv6_netmask(cidr->prefix);
    return (struct range6){first, {first.hi | ~mask.hi, first.lo | ~mask.lo}};
}

/* Clears the bits below the prefix; returns true when any was set. */
static bool clear_host_bits(struct netset_cidr *cidr)
{
    if (cidr->base.family == PROXY_FAM_INET) {
        uint32_t base = load_u32(cidr->base.addr);
        uint32_t network = base & ipv4_netmask(cidr->prefix);
        store_u32(cidr->base.addr, network);
        return network != base;
    }
    struct u128 base = load_u128(cidr->base.addr);
    struct u128 mask = ipv6_netmask(cidr->prefix);
    struct u128 network = {base.hi & mask.hi, base.lo & mask.lo};
    store_u128(cidr->base.addr, network);
    return !u128_equal(network, base);
}

/* ---- Messages ---- */

/* The entry as the operator wrote it, escaped and shortened so a message stays one line. */
static void quote_entry(const char *text, size_t len, char *out, size_t cap)
{
    size_t shown = len > QUOTED_ENTRY_MAX ? QUOTED_ENTRY_MAX : len;
    size_t n = 0;
    for (size_t i = 0; i < shown && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    if (shown < len && n + 4 <= cap)
        n += (size_t)snprintf(out + n, cap - n, "...");
    out[n] = '\0';
}

__attribute__((format(printf, 5, 6))) static void
write_message(char *msg, size_t msglen, const char *text, size_t len, const char *fmt, ...)
{
    if (msg == NULL || msglen == 0)
        return;
    char quoted[QUOTED_ENTRY_MAX * 4 + 8];
    quote_entry(text, len, quoted, sizeof quoted);
    int n = snprintf(msg, msglen, "\"%s\": ", quoted);
    if (n < 0 || (size_t)n >= msglen)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg + n, msglen - (size_t)n, fmt, args);
    va_end(args);
}

static void clear_message(char *msg, size_t msglen)
{
    if (msg != NULL && msglen > 0)
        msg[0] = '\0';
}

/* ---- Parsing entries ---- */

static bool contains_byte(const char *text, size_t len, char c)
{
    return memchr(text, c, len) != NULL;
}

static bool has_whitespace(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r'))
            return true;
    return false;
}

static bool only_digits_and_dots(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != '.' && (text[i] < '0' || text[i] > '9'))
            return false;
    return true;
}

/* The most useful explanation for address text proxy_ip_parse() refused. */
static const char *describe_bad_address(const char *text, size_t len)
{
    if (len == 0)
        return "missing address before \"/\"";
    if (contains_byte(text, len, '%'))
        return "zone ids (\"%...\") are not allowed";
    if (text[0] == '[')
        return "write the address without brackets";
    if (contains_byte(text, len, ':'))
        return "not a valid IPv6 address";
    if (only_digits_and_dots(text, len))
        return "not a valid IPv4 address (four numbers 0-255, no leading zeros)";
    return "not an IP address (host names are not allowed)";
}

/* Plain decimal up to max; returns NULL or what is wrong. */
static const char *parse_prefix(const char *text, size_t len, unsigned max, unsigned *out)
{
    if (len == 0)
        return "missing prefix length after \"/\"";
    unsigned value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return "prefix length must be a decimal number";
        if (value <= IPV6_BITS) /* saturates: only "too large" matters past this */
            value = value * 10 + (unsigned)(text[i] - '0');
    }
    if (len > 1 && text[0] == '0')
        return "prefix length must not have leading zeros";
    if (value > max)
        return max == IPV4_BITS ? "prefix length must be 0-32 for IPv4"
                                : "prefix length must be 0-128 for IPv6";
    *out = value;
    return NULL;
}

/* ::ffff:a.b.c.d/96+n is a.b.c.d/n: IPv4 peers are matched as IPv4 however they arrive. */
static void unmap_entry(struct netset_cidr *cidr)
{
    if (cidr->prefix >= MAPPED_PREFIX_BITS && proxy_ip_is_v4_mapped(&cidr->base)) {
        proxy_ip_unmap(&cidr->base);
        cidr->prefix -= MAPPED_PREFIX_BITS;
    }
}

enum netset_status netset_cidr_parse(const char *text, size_t len, struct netset_cidr *out,
                                     char *msg, size_t msglen)
{
    if (len == 0) {
        write_message(msg, msglen, text, len, "empty entry");
        return NETSET_INVALID;
    }
    if (has_whitespace(text, len)) {
        write_message(msg, msglen, text, len, "unexpected whitespace");
        return NETSET_INVALID;
    }
    const char *slash = memchr(text, '/', len);
    size_t addr_len = slash ? (size_t)(slash - text) : len;
    struct netset_cidr cidr;
    if (!proxy_ip_parse(text, addr_len, &cidr.base)) {
        write_message(msg, msglen, text, len, "%s", describe_bad_address(text, addr_len));
        return NETSET_INVALID;
    }
    unsigned max = cidr.base.family == PROXY_FAM_INET ? IPV4_BITS : IPV6_BITS;
    unsigned prefix = max;
    if (slash) {
        const char *problem = parse_prefix(slash + 1, len - addr_len - 1, max, &prefix);
        if (problem) {
            write_message(msg, msglen, text, len, "%s", problem);
            return NETSET_INVALID;
        }
    }
    cidr.prefix = (uint8_t)prefix;
    unmap_entry(&cidr);
    bool had_host_bits = clear_host_bits(&cidr);
    *out = cidr;
    if (!had_host_bits) {
        clear_message(msg, msglen);
        return NETSET_ADDED;
    }
    char canonical[NETSET_CIDR_TEXT_MAX];
    netset_cidr_format(&cidr, canonical);
    write_message(msg, msglen, text, len, "host bits set; treated as %s", canonical);
    return NETSET_ADDED_NORMALISED;
}

size_t netset_cidr_format(const struct netset_cidr *cidr, char out[NETSET_CIDR_TEXT_MAX])
{
    size_t n = proxy_ip_format(&cidr->base, out);
    int suffix = snprintf(out + n, NETSET_CIDR_TEXT_MAX - n, "/%u", (unsigned)cidr->prefix);
    return n + (suffix > 0 ? (size_t)suffix : 0);
}

/* IPv4-mapped addresses become plain IPv4; returns false for families a set never holds. */
static bool lookup_form(const struct proxy_ip *addr, struct proxy_ip *out)
{
    if (addr->family != PROXY_FAM_INET && addr->family != PROXY_FAM_INET6)
        return false;
    *out = *addr;
    proxy_ip_unmap(out);
    return true;
}

static bool cidr_contains_normalised(const struct netset_cidr *cidr, const struct proxy_ip *ip)
{
    if (cidr->base.family != ip->family)
        return false;
    if (ip->family == PROXY_FAM_INET) {
        struct range4 range = cidr_range4(cidr);
        uint32_t value = load_u32(ip->addr);
        return range.first <= value && value <= range.last;
    }
    struct range6 range = cidr_range6(cidr);
    struct u128 value = load_u128(ip->addr);
    return !u128_less(value, range.first) && !u128_less(range.last, value);
}

bool netset_cidr_contains(const struct netset_cidr *cidr, const struct proxy_ip *addr)
{
    struct proxy_ip ip;
    return lookup_form(addr, &ip) && cidr_contains_normalised(cidr, &ip);
}

/* ---- Sets ---- */

struct netset *netset_new(void)
{
    return calloc(1, sizeof(struct netset));
}

void netset_free(struct netset *set)
{
    if (set == NULL)
        return;
    free(set->entries);
    free(set->v4);
    free(set->v6);
    free(set);
}

static bool reserve_entry(struct netset *set)
{
    struct netset_cidr *room = array_make_room(set->entries, set->count, &set->capacity,
                                               sizeof *room, 8);
    if (!room)
        return false;
    set->entries = room;
    return true;
}

enum netset_status netset_add(struct netset *set, const char *text, size_t len, char *msg,
                              size_t msglen)
{
    struct netset_cidr cidr;
    enum netset_status status = netset_cidr_parse(text, len, &cidr, msg, msglen);
    if (status == NETSET_INVALID)
        return status;
    if (!reserve_entry(set)) {
        write_message(msg, msglen, text, len, "out of memory");
        return NETSET_INVALID;
    }
    set->entries[set->count++] = cidr;
    set->compiled = false;
    return status;
}

bool netset_add_set(struct netset *set, const struct netset *from)
{
    for (size_t i = 0; from && i < from->count; i++) {
        if (!reserve_entry(set))
            return false;
        set->entries[set->count++] = from->entries[i];
        set->compiled = false;
    }
    return true;
}

static int compare_range4(const void *a, const void *b)
{
    uint32_t x = ((const struct range4 *)a)->first, y = ((const struct range4 *)b)->first;
    return (x > y) - (x < y);
}

static int compare_range6(const void *a, const void *b)
{
    struct u128 x = ((const struct range6 *)a)->first, y = ((const struct range6 *)b)->first;
    return u128_less(y, x) - u128_less(x, y);
}

/* Sorted ranges in, disjoint and non-adjacent ranges out (in place); returns the new count. */
static size_t merge_ranges4(struct range4 *ranges, size_t n)
{
    if (n == 0)
        return 0;
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        struct range4 *cur = &ranges[out];
        /* first > last here means last < UINT32_MAX, so last + 1 cannot wrap */
        if (ranges[i].first <= cur->last || ranges[i].first == cur->last + 1) {
            if (ranges[i].last > cur->last)
                cur->last = ranges[i].last;
        } else {
            ranges[++out] = ranges[i];
        }
    }
    return out + 1;
}

static size_t merge_ranges6(struct range6 *ranges, size_t n)
{
    if (n == 0)
        return 0;
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        struct range6 *cur = &ranges[out];
        if (!u128_less(cur->last, ranges[i].first) ||
            u128_equal(ranges[i].first, u128_plus_one(cur->last))) {
            if (u128_less(cur->last, ranges[i].last))
                cur->last = ranges[i].last;
        } else {
            ranges[++out] = ranges[i];
        }
    }
    return out + 1;
}

static size_t count_family(const struct netset *set, uint8_t family)
{
    size_t n = 0;
    for (size_t i = 0; i < set->count; i++)
        n += set->entries[i].base.family == family;
    return n;
}

bool netset_compile(struct netset *set)
{
    size_t n4 = count_family(set, PROXY_FAM_INET), n6 = set->count - n4;
    /* +1: malloc(0) may return NULL, which would look like a failure */
    struct range4 *v4 = malloc((n4 + 1) * sizeof *v4);
    struct range6 *v6 = malloc((n6 + 1) * sizeof *v6);
    if (v4 == NULL || v6 == NULL) {
        free(v4);
        free(v6);
        return false;
    }
    size_t i4 = 0, i6 = 0;
    for (size_t i = 0; i < set->count; i++) {
        if (set->entries[i].base.family == PROXY_FAM_INET)
            v4[i4++] = cidr_range4(&set->entries[i]);
        else
            v6[i6++] = cidr_range6(&set->entries[i]);
    }
    qsort(v4, n4, sizeof *v4, compare_range4);
    qsort(v6, n6, sizeof *v6, compare_range6);
    free(set->v4);
    free(set->v6);
    set->v4 = v4;
    set->v6 = v6;
    set->v4_count = merge_ranges4(v4, n4);
    set->v6_count = merge_ranges6(v6, n6);
    set->compiled = true;
    return true;
}

/* Binary search for the last range starting at or below value. */
static bool ranges4_contain(const struct range4 *ranges, size_t n, uint32_t value)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ranges[mid].first <= value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && value <= ranges[lo - 1].last;
}

static bool ranges6_contain(const struct range6 *ranges, size_t n, struct u128 value)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (!u128_less(value, ranges[mid].first))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && !u128_less(ranges[lo - 1].last, value);
}

static bool entries_contain(const struct netset *set, const struct proxy_ip *ip)
{
    for (size_t i = 0; i < set->count; i++)
        if (cidr_contains_normalised(&set->entries[i], ip))
            return true;
    return false;
}

bool netset_contains(const struct netset *set, const struct proxy_ip *addr)
{
    struct proxy_ip ip;
    if (set == NULL || addr == NULL || !lookup_form(addr, &ip))
        return false;
    if (!set->compiled)
        return entries_contain(set, &ip);
    if (ip.family == PROXY_FAM_INET)
        return ranges4_contain(set->v4, set->v4_count, load_u32(ip.addr));
    return ranges6_contain(set->v6, set->v6_count, load_u128(ip.addr));
}

bool netset_contains_sockaddr(const struct netset *set, const struct sockaddr *sa)
{
    struct proxy_ip ip = {0};
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        ip.family = PROXY_FAM_INET;
        memcpy(ip.addr, &sin->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        ip.family = PROXY_FAM_INET6;
        memcpy(ip.addr, &sin6->sin6_addr, 16);
    } else {
        return false;
    }
    return netset_contains(set, &ip);
}

size_t netset_count(const struct netset *set)
{
    return set ? set->count : 0;
}

const struct netset_cidr *netset_entry(const struct netset *set, size_t i)
{
    return set && i < set->count ? &set->entries[i] : NULL;
}

size_t netset_range_count(const struct netset *set)
{
    return set && set->compiled ? set->v4_count + set->v6_count : 0;
}

/* Appends like snprintf: *len counts everything, out receives what fits. */
static void append_text(char *out, size_t cap, size_t *len, const char *text, size_t n)
{
    if (*len + 1 < cap) {
        size_t room = cap - 1 - *len;
        memcpy(out + *len, text, n < room ? n : room);
    }
    *len += n;
}

size_t netset_format(const struct netset *set, char *out, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < netset_count(set); i++) {
        char entry[NETSET_CIDR_TEXT_MAX];
        size_t n = netset_cidr_format(&set->entries[i], entry);
        if (i > 0)
            append_text(out, cap, &len, ", ", 2);
        append_text(out, cap, &len, entry, n);
    }
    if (cap > 0)
        out[len < cap ? len : cap - 1] = '\0';
    return len;
}
