/*
 * Per-client state shared by all workers: concurrent connections, recent failures and bans,
 * keyed by the real client address (never the proxy's). Thread-safe.
 */
#ifndef POSTERN_ACCESS_CLIENT_TABLE_H
#define POSTERN_ACCESS_CLIENT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Most entries the table keeps (unless policy.max_entries asks for more): past it, the entry
 * idle the longest is dropped first. Bounds memory whatever addresses clients come from. */
#define CLIENT_TABLE_MAX_ENTRIES 65536
/* Largest N in an "N/window" rule: each client keeps its last N failure times per kind. */
#define CLIENT_BAN_COUNT_MAX 100

enum client_failure {
    FAILURE_AUTH,  /* a failed login */
    FAILURE_ABUSE, /* protocol abuse: relay attempts, too many errors, bad commands */
};

/* "N failures within window_ms" bans the client for ban_ms; a zero count disables the rule. */
struct ban_rule {
    uint32_t count;
    uint64_t window_ms;
};

struct client_table_policy {
    struct ban_rule auth;   /* server.auto-ban.auth.rate, e.g. "5/10m" */
    struct ban_rule abuse;  /* server.auto-ban.abuse.rate */
    uint64_t ban_ms;        /* server.auto-ban.duration */
    uint32_t max_per_client; /* server.max-connections-per-client; 0: no limit */
    /* Entry cap; 0: CLIENT_TABLE_MAX_ENTRIES. Entries with open connections are never dropped,
     * so the configuration sets at least server.max-connections. (addition) */
    uint32_t max_entries;
};

struct client_table;

struct client_table *client_table_new(const struct client_table_policy *policy);
void client_table_free(struct client_table *table);

/* True while the client is banned. */
bool client_table_banned(struct client_table *table, const struct sockaddr_storage *client,
                         uint64_t now_ms);
/* Counts a new connection; false (and nothing counted) when the client is at its limit (or, only
 * when max_entries is below the server's connection limit, when every entry has connections). */
bool client_table_enter(struct client_table *table, const struct sockaddr_storage *client);

enum client_admission { CLIENT_ADMITTED, CLIENT_BANNED, CLIENT_OVER_LIMIT };
/* client_table_banned and client_table_enter in one lookup, for the start of every session.
 * Without a per-client limit there is nothing to count and no entry is made; *counted says
 * whether the connection was counted (and so owes a client_table_leave). */
enum client_admission client_table_admit(struct client_table *table,
                                         const struct sockaddr_storage *client, uint64_t now_ms,
                                         bool *counted);
void client_table_leave(struct client_table *table, const struct sockaddr_storage *client);
/* Records a failure; true when this one starts a ban. Callers skip exempt (trusted/allowed)
 * clients: a proxy's own address must never be banned. */
bool client_table_failure(struct client_table *table, const struct sockaddr_storage *client,
                          enum client_failure kind, uint64_t now_ms);
/* A reload: the per-client limit and the ban duration change at once; the failure rates
 * (which size each entry) keep the values the table was created with until a restart. */
void client_table_set_limits(struct client_table *table, uint32_t max_per_client,
                             uint64_t ban_ms);
unsigned client_table_active_bans(struct client_table *table, uint64_t now_ms);

/* ---- Additions ---- */

/* Entries currently held (for tests and metrics). */
size_t client_table_size(struct client_table *table);
/* Open connections counted for this client. */
uint32_t client_table_connections(struct client_table *table,
                                  const struct sockaddr_storage *client);

#endif
