/*
 * Per-client state behind one mutex: every operation is a hash lookup and a few stores, far
 * shorter than the system calls around it, so one lock does not limit throughput.
 *
 * Memory stays bounded: an entry lives only while it has open connections, failures within
 * their window, or a ban. Entries without connections sit on an "idle" list, least recently
 * used first; every operation drops the stale ones at its old end, and when the table is at its
 * cap the oldest idle entry makes room, whatever it holds.
 */
#include "access/client_table.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Stale entries examined at the idle list's old end on each operation. */
#define SWEEP_STEP 2
/* How often (in callers' time) the whole idle list is swept: a banned entry at the old end
 * stops the step-by-step sweep, and expired entries behind it must still go. */
#define FULL_SWEEP_INTERVAL_MS 60000

enum { KEY_LEN = 16 }; /* an IPv6 address; IPv4 as ::ffff:a.b.c.d */

/* The last failure times of one kind, a ring of the rule's count. */
struct ring {
    uint32_t start; /* the oldest */
    uint32_t len;
};

struct entry {
    uint8_t key[KEY_LEN];
    uint64_t hash;
    struct entry *chain; /* next in the bucket */
    struct entry *older, *newer; /* the idle list; only while connections == 0 */
    uint32_t connections;
    uint64_t ban_until;
    struct ring rings[2]; /* FAILURE_AUTH, FAILURE_ABUSE */
    uint64_t stamps[];    /* auth.count times, then abuse.count times */
};

struct client_table {
    pthread_mutex_t lock;
    struct client_table_policy policy;
    size_t max_entries;
    struct entry **buckets;
    size_t bucket_mask;
    size_t count;
    struct entry *oldest, *newest; /* idle list */
    uint64_t now_ms; /* the latest time a caller gave; for operations that take none */
    uint64_t next_full_sweep_ms;
    uint64_t seed[2];
};

/* ---- Keys ---- */

static bool key_of(const struct sockaddr_storage *client, uint8_t key[KEY_LEN])
{
    if (client->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)client;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, mapped, sizeof mapped);
        memcpy(key + 12, &sin->sin_addr, 4);
        return true;
    }
    if (client->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)client)->sin6_addr, KEY_LEN);
        return true;
    }
    return false; /* not an IP client (a Unix socket): nothing to track */
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

/* SipHash-1-3 of the 16-byte key, with a secret seed: clients choose their IPv6 addresses, and
 * must not be able to choose ones that share a bucket. One compression round and three
 * finalisation rounds (as hash tables in Rust and CPython use) halve the cost of 2-4, which runs
 * on every connection. */
static uint64_t hash_key(const struct client_table *table, const uint8_t key[KEY_LEN])
{
    uint64_t v[4] = {table->seed[0] ^ 0x736f6d6570736575u, table->seed[1] ^ 0x646f72616e646f6du,
                     table->seed[0] ^ 0x6c7967656e657261u, table->seed[1] ^ 0x7465646279746573u};
    uint64_t words[3];
    memcpy(&words[0], key, 8);
    memcpy(&words[1], key + 8, 8);
    words[2] = (uint64_t)KEY_LEN << 56;
    for (size_t i = 0; i < 3; i++) {
        v[3] ^= words[i];
        sip_round(v);
        v[0] ^= words[i];
    }
    v[2] ^= 0xff;
    for (int i = 0; i < 3; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- Failure rings ---- */

static const struct ban_rule *rule_of(const struct client_table *table, enum client_failure kind)
{
    return kind == FAILURE_AUTH ? &table->policy.auth : &table->policy.abuse;
}

static uint64_t *stamps_of(const struct client_table *table, struct entry *e,
                           enum client_failure kind)
{
    return kind == FAILURE_AUTH ? e->stamps : e->stamps + table->policy.auth.count;
}

/* Times from several workers may arrive slightly out of order; never wrap around. */
static uint64_t elapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static void ring_push(struct ring *ring, uint64_t *stamps, uint32_t capacity, uint64_t now)
{
    if (ring->len < capacity) {
        stamps[(ring->start + ring->len++) % capacity] = now;
        return;
    }
    stamps[ring->start] = now; /* overwrite the oldest */
    ring->start = (ring->start + 1) % capacity;
}

/* Failures are counted while younger than the window. */
static bool ring_recent(const struct ring *ring, const uint64_t *stamps, uint32_t capacity,
                        uint64_t window, uint64_t now)
{
    if (ring->len == 0)
        return false;
    uint64_t newest = stamps[(ring->start + ring->len - 1) % capacity];
    return elapsed(now, newest) < window;
}

/* True when the ring holds `capacity` failures, all within the window. */
static bool ring_full_within(const struct ring *ring, const uint64_t *stamps, uint32_t capacity,
                             uint64_t window, uint64_t now)
{
    return ring->len == capacity && elapsed(now, stamps[ring->start]) < window;
}

static bool has_recent_failures(const struct client_table *table, struct entry *e, uint64_t now)
{
    for (int kind = FAILURE_AUTH; kind <= FAILURE_ABUSE; kind++) {
        const struct ban_rule *rule = rule_of(table, (enum client_failure)kind);
        if (ring_recent(&e->rings[kind], stamps_of(table, e, (enum client_failure)kind),
                        rule->count, rule->window_ms, now))
            return true;
    }
    return false;
}

/* Nothing worth keeping: no connection, no ban, no failure that still counts. */
static bool is_stale(const struct client_table *table, struct entry *e, uint64_t now)
{
    return e->connections == 0 && e->ban_until <= now && !has_recent_failures(table, e, now);
}

/* ---- The idle list ---- */

static void idle_unlink(struct client_table *table, struct entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        table->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        table->newest = e->older;
    e->older = e->newer = NULL;
}

static void idle_append(struct client_table *table, struct entry *e)
{
    e->older = table->newest;
    e->newer = NULL;
    if (table->newest)
        table->newest->newer = e;
    else
        table->oldest = e;
    table->newest = e;
}

/* ---- Entries ---- */

static struct entry **slot_of(struct client_table *table, const uint8_t key[KEY_LEN],
                              uint64_t hash)
{
    struct entry **slot = &table->buckets[hash & table->bucket_mask];
    while (*slot && ((*slot)->hash != hash || memcmp((*slot)->key, key, KEY_LEN) != 0))
        slot = &(*slot)->chain;
    return slot;
}

static void drop(struct client_table *table, struct entry *e)
{
    struct entry **slot = slot_of(table, e->key, e->hash);
    *slot = e->chain;
    if (e->connections == 0)
        idle_unlink(table, e);
    table->count--;
    free(e);
}

/* Drops stale entries: a few at the idle list's old end on every operation, all of them once
 * per FULL_SWEEP_INTERVAL_MS. */
static void sweep(struct client_table *table, uint64_t now)
{
    if (now >= table->next_full_sweep_ms) {
        table->next_full_sweep_ms = now + FULL_SWEEP_INTERVAL_MS;
        for (struct entry *e = table->oldest, *newer; e; e = newer) {
            newer = e->newer;
            if (is_stale(table, e, now))
                drop(table, e);
        }
        return;
    }
    for (int i = 0; i < SWEEP_STEP && table->oldest && is_stale(table, table->oldest, now); i++)
        drop(table, table->oldest);
}

static struct entry *find_hashed(struct client_table *table, const uint8_t key[KEY_LEN],
                                 uint64_t hash)
{
    return *slot_of(table, key, hash);
}

static struct entry *find(struct client_table *table, const uint8_t key[KEY_LEN])
{
    return find_hashed(table, key, hash_key(table, key));
}

/* A new idle entry, evicting the oldest idle one at the cap; NULL when there is no room. */
static struct entry *create_hashed(struct client_table *table, const uint8_t key[KEY_LEN],
                                   uint64_t hash)
{
    if (table->count >= table->max_entries) {
        if (!table->oldest)
            return NULL; /* every entry has open connections */
        drop(table, table->oldest);
    }
    size_t nstamps = (size_t)table->policy.auth.count + table->policy.abuse.count;
    struct entry *e = calloc(1, sizeof *e + nstamps * sizeof e->stamps[0]);
    if (!e)
        return NULL;
    memcpy(e->key, key, KEY_LEN);
    e->hash = hash;
    struct entry **slot = &table->buckets[e->hash & table->bucket_mask];
    e->chain = *slot;
    *slot = e;
    idle_append(table, e);
    table->count++;
    return e;
}

static struct entry *create(struct client_table *table, const uint8_t key[KEY_LEN])
{
    return create_hashed(table, key, hash_key(table, key));
}

/* Marks an idle entry as the most recently used. */
static void touch(struct client_table *table, struct entry *e)
{
    if (e->connections == 0) {
        idle_unlink(table, e);
        idle_append(table, e);
    }
}

static void note_time(struct client_table *table, uint64_t now)
{
    if (now > table->now_ms)
        table->now_ms = now;
}

/* ---- The interface ---- */

static size_t buckets_for(size_t entries)
{
    size_t n = 16;
    while (n < entries && n < ((size_t)1 << 30))
        n *= 2;
    return n;
}

static void random_seed(uint64_t seed[2])
{
    if (getrandom(seed, 2 * sizeof seed[0], GRND_NONBLOCK) == (ssize_t)(2 * sizeof seed[0]))
        return;
    /* Without kernel randomness (very early boot), an unpredictable-enough mix. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)seed;
    seed[1] = (uint64_t)ts.tv_sec ^ rotl(seed[0], 29);
}

struct client_table *client_table_new(const struct client_table_policy *policy)
{
    if (policy->auth.count > CLIENT_BAN_COUNT_MAX || policy->abuse.count > CLIENT_BAN_COUNT_MAX)
        return NULL;
    struct client_table *table = calloc(1, sizeof *table);
    if (!table)
        return NULL;
    table->policy = *policy;
    table->max_entries = policy->max_entries ? policy->max_entries : CLIENT_TABLE_MAX_ENTRIES;
    size_t nbuckets = buckets_for(table->max_entries);
    table->buckets = calloc(nbuckets, sizeof *table->buckets);
    if (!table->buckets || pthread_mutex_init(&table->lock, NULL) != 0) {
        free(table->buckets);
        free(table);
        return NULL;
    }
    table->bucket_mask = nbuckets - 1;
    random_seed(table->seed);
    return table;
}

void client_table_free(struct client_table *table)
{
    if (!table)
        return;
    for (size_t i = 0; i <= table->bucket_mask; i++) {
        for (struct entry *e = table->buckets[i], *next; e; e = next) {
            next = e->chain;
            free(e);
        }
    }
    free(table->buckets);
    pthread_mutex_destroy(&table->lock);
    free(table);
}

bool client_table_banned(struct client_table *table, const struct sockaddr_storage *client,
                         uint64_t now_ms)
{
    uint8_t key[KEY_LEN];
    if (!key_of(client, key))
        return false;
    pthread_mutex_lock(&table->lock);
    note_time(table, now_ms);
    struct entry *e = find(table, key);
    bool banned = e && e->ban_until > now_ms;
    if (e && is_stale(table, e, now_ms))
        drop(table, e);
    sweep(table, now_ms);
    pthread_mutex_unlock(&table->lock);
    return banned;
}

/* Counts a connection of the client whose entry is e (found or made by the caller). */
static bool count_connection(struct client_table *table, struct entry *e, uint64_t now)
{
    uint32_t limit = table->policy.max_per_client;
    bool admitted = e && (limit == 0 || e->connections < limit);
    if (admitted) {
        if (e->connections++ == 0)
            idle_unlink(table, e);
    } else if (e && is_stale(table, e, now)) {
        drop(table, e);
    }
    return admitted;
}

bool client_table_enter(struct client_table *table, const struct sockaddr_storage *client)
{
    uint8_t key[KEY_LEN];
    if (!key_of(client, key))
        return true;
    pthread_mutex_lock(&table->lock);
    sweep(table, table->now_ms);
    struct entry *e = find(table, key);
    if (!e)
        e = create(table, key);
    bool admitted = count_connection(table, e, table->now_ms);
    pthread_mutex_unlock(&table->lock);
    return admitted;
}

enum client_admission client_table_admit(struct client_table *table,
                                         const struct sockaddr_storage *client, uint64_t now_ms,
                                         bool *counted)
{
    *counted = false;
    uint8_t key[KEY_LEN];
    if (!key_of(client, key))
        return CLIENT_ADMITTED;
    uint64_t hash = hash_key(table, key);
    enum client_admission verdict = CLIENT_ADMITTED;
    pthread_mutex_lock(&table->lock);
    note_time(table, now_ms);
    sweep(table, now_ms);
    struct entry *e = find_hashed(table, key, hash);
    if (e && e->ban_until > now_ms) {
        verdict = CLIENT_BANNED;
    } else if (table->policy.max_per_client > 0) {
        if (!e)
            e = create_hashed(table, key, hash);
        *counted = count_connection(table, e, now_ms);
        if (!*counted)
            verdict = CLIENT_OVER_LIMIT;
    } else if (e && is_stale(table, e, now_ms)) {
        drop(table, e);
    }
    pthread_mutex_unlock(&table->lock);
    return verdict;
}

void client_table_leave(struct client_table *table, const struct sockaddr_storage *client)
{
    uint8_t key[KEY_LEN];
    if (!key_of(client, key))
        return;
    pthread_mutex_lock(&table->lock);
    struct entry *e = find(table, key);
    if (e && e->connections > 0 && --e->connections == 0) {
        idle_append(table, e);
        if (is_stale(table, e, table->now_ms))
            drop(table, e);
    }
    pthread_mutex_unlock(&table->lock);
}

/* Records one failure in e; true when it starts a ban. */
static bool record_failure(struct client_table *table, struct entry *e, enum client_failure kind,
                           uint64_t now)
{
    const struct ban_rule *rule = rule_of(table, kind);
    struct ring *ring = &e->rings[kind];
    uint64_t *stamps = stamps_of(table, e, kind);
    ring_push(ring, stamps, rule->count, now);
    if (table->policy.ban_ms == 0 ||
        !ring_full_within(ring, stamps, rule->count, rule->window_ms, now))
        return false;
    bool was_banned = e->ban_until > now;
    if (now + table->policy.ban_ms > e->ban_until)
        e->ban_until = now + table->policy.ban_ms;
    /* A client back from a ban starts counting afresh. */
    ring->start = ring->len = 0;
    return !was_banned;
}

bool client_table_failure(struct client_table *table, const struct sockaddr_storage *client,
                          enum client_failure kind, uint64_t now_ms)
{
    uint8_t key[KEY_LEN];
    if (!key_of(client, key) || rule_of(table, kind)->count == 0)
        return false;
    pthread_mutex_lock(&table->lock);
    note_time(table, now_ms);
    sweep(table, now_ms);
    struct entry *e = find(table, key);
    if (!e)
        e = create(table, key);
    bool starts_ban = false;
    if (e) {
        touch(table, e);
        starts_ban = record_failure(table, e, kind, now_ms);
    }
    pthread_mutex_unlock(&table->lock);
    return starts_ban;
}

unsigned client_table_active_bans(struct client_table *table, uint64_t now_ms)
{
    unsigned bans = 0;
    pthread_mutex_lock(&table->lock);
    note_time(table, now_ms);
    for (size_t i = 0; i <= table->bucket_mask; i++) {
        for (const struct entry *e = table->buckets[i]; e; e = e->chain)
            bans += e->ban_until > now_ms;
    }
    pthread_mutex_unlock(&table->lock);
    return bans;
}

size_t client_table_size(struct client_table *table)
{
    pthread_mutex_lock(&table->lock);
    size_t count = table->count;
    pthread_mutex_unlock(&table->lock);
    return count;
}

uint32_t client_table_connections(struct client_table *table,
                                  const struct sockaddr_storage *client)
{
    uint8_t key[KEY_LEN];
    if (!key_of(client, key))
        return 0;
    pthread_mutex_lock(&table->lock);
    const struct entry *e = find(table, key);
    uint32_t connections = e ? e->connections : 0;
    pthread_mutex_unlock(&table->lock);
    return connections;
}

void client_table_set_limits(struct client_table *table, uint32_t max_per_client,
                             uint64_t ban_ms)
{
    pthread_mutex_lock(&table->lock);
    table->policy.max_per_client = max_per_client;
    table->policy.ban_ms = ban_ms;
    pthread_mutex_unlock(&table->lock);
}
