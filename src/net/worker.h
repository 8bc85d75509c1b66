/* Worker threads: each runs its own event loop and owns the connections it accepts. */
#ifndef POSTERN_NET_WORKER_H
#define POSTERN_NET_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "access/client_table.h"
#include "config/config.h"
#include "net/event_loop.h"
#include "net/listener.h"

/* State every worker reads; counters are atomic. */
struct server_shared {
    const struct config *config;
    struct listener *listeners;
    size_t nlisteners;
    atomic_uint active;            /* all connections, for server.max-connections */
    atomic_uint_fast64_t next_conn_id;
    atomic_bool stopping;
    struct client_table *clients;  /* bans and per-client limits, by real client address */
};

struct accept_watch {
    struct io_watch watch;
    struct timer pause_timer;      /* out of file descriptors: accepting resumes later */
    struct worker *worker;
    struct listener *listener;
};

struct conn;

struct worker {
    unsigned index;
    struct event_loop *loop;
    struct server_shared *shared;
    pthread_t thread;
    struct conn *conns;            /* every connection this worker owns */
    size_t nconns;
    struct accept_watch *accepts;
    size_t naccepts;
    bool draining;
    struct timer drain_timer;
};

struct worker *workers_start(struct server_shared *shared, unsigned count);
/* Thread-safe: asks every worker to stop accepting and finish its sessions. */
void workers_stop(struct worker *workers, unsigned count);
void workers_join(struct worker *workers, unsigned count);

/* Called by conn.c when a connection is created and when it is gone. */
void worker_conn_added(struct worker *worker, struct conn *conn);
void worker_conn_removed(struct worker *worker, struct conn *conn);

#endif
