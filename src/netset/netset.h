/*
 * Network sets: lists of addresses and CIDR networks (trusted proxies, access lists),
 * looked up in O(log n).
 *
 * Entries are "1.2.3.4", "10.0.0.0/8", "::1", "2001:db8::/32". Rules:
 *  - The prefix length is plain decimal (no sign, no leading zeros), 0-32 for IPv4 and 0-128
 *    for IPv6; without one the entry is a single address (/32, /128).
 *  - Host bits set ("10.1.2.3/8") are accepted and cleared (10.0.0.0/8); netset_add() then
 *    returns NETSET_ADDED_NORMALISED and writes a warning, so config loading can tell the
 *    operator what the entry really means.
 *  - IPv4 is one address space, however it is written or reported: an IPv4-mapped entry with
 *    a prefix of at least 96 ("::ffff:10.0.0.0/104") is stored as IPv4 (10.0.0.0/8), and an
 *    IPv4-mapped peer ("::ffff:10.1.2.3", what a dual-stack socket reports for IPv4 clients)
 *    is looked up as IPv4. IPv6 entries match IPv6 peers only: "::/0" does not match IPv4
 *    clients, whether they arrive on an IPv4 or a dual-stack socket.
 *
 * Lifecycle: netset_add() every entry, then netset_compile() once. Lookups on a compiled set
 * are O(log n) and may run from several threads at once, as long as nobody modifies the set.
 * A set modified since its last compile still answers correctly, by a linear scan.
 */
#ifndef POSTERN_NETSET_H
#define POSTERN_NETSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <postern/proxy.h>

struct sockaddr;

/* Longest entry text netset_cidr_format() writes: an IPv6 address, "/128", NUL. */
#define NETSET_CIDR_TEXT_MAX (PROXY_IP_TEXT_MAX + 4)

/* One entry, normalised: host bits clear, IPv4-mapped entries turned into IPv4. */
struct netset_cidr {
    struct proxy_ip base;
    uint8_t prefix; /* 0-32 for PROXY_FAM_INET, 0-128 for PROXY_FAM_INET6 */
};

enum netset_status {
    NETSET_INVALID = 0,      /* rejected; the message says why */
    NETSET_ADDED,            /* accepted as written; the message is empty */
    NETSET_ADDED_NORMALISED, /* accepted after clearing host bits; the message is a warning */
};

/*
 * Parses one entry of exactly len bytes (not NUL-terminated). msg (may be NULL) receives ""
 * on NETSET_ADDED, or a message naming the entry, e.g.
 *   "10.0.0.0/33": prefix length must be 0-32 for IPv4
 *   "10.1.2.3/8": host bits set; treated as 10.0.0.0/8
 */
enum netset_status netset_cidr_parse(const char *text, size_t len, struct netset_cidr *out,
                                     char *msg, size_t msglen);
/* Canonical text: "10.0.0.0/8", "2001:db8::/32", "::1/128". Returns the length. */
size_t netset_cidr_format(const struct netset_cidr *cidr, char out[NETSET_CIDR_TEXT_MAX]);
/* addr may be IPv4-mapped; it is matched as IPv4. */
bool netset_cidr_contains(const struct netset_cidr *cidr, const struct proxy_ip *addr);

struct netset;

/* NULL when out of memory. */
struct netset *netset_new(void);
/* Accepts NULL. */
void netset_free(struct netset *set);

/*
 * Parses and adds one entry (see netset_cidr_parse()); set must not be NULL. Out of memory
 * is NETSET_INVALID with the message "out of memory". A refused entry leaves the set as it was.
 */
enum netset_status netset_add(struct netset *set, const char *text, size_t len, char *msg,
                              size_t msglen);
/*
 * Sorts the entries and merges them into disjoint ranges for O(log n) lookups. Call after the
 * last netset_add(). Returns false when out of memory; the set then stays correct but slow.
 */
bool netset_compile(struct netset *set);
/* Adds every entry of from (NULL adds nothing), for a union of sets; false when out of memory
 * (set then holds some of them). Compile afterwards. */
bool netset_add_set(struct netset *set, const struct netset *from);

/* A NULL or empty set contains nothing. */
bool netset_contains(const struct netset *set, const struct proxy_ip *addr);
/* For AF_INET and AF_INET6 socket addresses; anything else (AF_UNIX, NULL) is not contained. */
bool netset_contains_sockaddr(const struct netset *set, const struct sockaddr *sa);

/* Entries as added, duplicates included. */
size_t netset_count(const struct netset *set);
/* The i-th entry in input order, normalised; NULL when i >= netset_count(). */
const struct netset_cidr *netset_entry(const struct netset *set, size_t i);
/* Disjoint ranges after the last compile, both families; 0 when not compiled. */
size_t netset_range_count(const struct netset *set);
/*
 * Writes the entries in input order and canonical form, e.g. "127.0.0.0/8, ::1/128", like
 * snprintf: returns the full length and truncates to cap - 1 bytes plus a NUL when cap > 0.
 */
size_t netset_format(const struct netset *set, char *out, size_t cap);

#endif
