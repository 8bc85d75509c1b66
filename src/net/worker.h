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

/*
 * A loaded configuration and the connections using it: a reload swaps in a new one for new
 * connections, and the old one is freed when its last connection closes.
 */
struct config_handle {
    struct config *config;
    atomic_int refs;
};
struct config_handle *config_handle_new(struct config *config);
void config_handle_unref(struct config_handle *handle);

/* State every worker reads. */
struct server_shared {
    pthread_mutex_t lock;            /* guards current and the listener slots' config pointers */
    struct config_handle *current;   /* the configuration new connections get */
    struct listener listeners[CONFIG_MAX_LISTENERS];
    atomic_uint listener_generation; /* bumped when listeners open or close */
    atomic_uint active;              /* all connections, for server.max-connections */
    atomic_uint_fast64_t next_conn_id;
    atomic_bool stopping;
    struct client_table *clients;    /* bans and per-client limits, by real client address */
};

/* A reference to the configuration in force, and the slot's listener_config within it. */
struct config_handle *shared_acquire(struct server_shared *shared, const struct listener *slot,
                                     const struct listener_config **lc);

struct accept_watch {
    struct io_watch watch;
    struct timer pause_timer;      /* out of file descriptors: accepting resumes later */
    struct worker *worker;
    struct listener *listener;
};

struct conn;

/* How long a worker stays without connections before it returns freed memory to the system. */
#define WORKER_TRIM_DELAY_MS 250
/* Input buffers a worker keeps for reuse, so that taking one per read costs no malloc. */
#define WORKER_SPARE_INPUTS 64

struct worker {
    unsigned index;
    struct event_loop *loop;
    struct server_shared *shared;
    pthread_t thread;
    struct conn *conns;            /* every connection this worker owns */
    size_t nconns;
    struct accept_watch *accepts;
    size_t naccepts;
    atomic_uint seen_generation;   /* the listener generation its accept watches follow */
    unsigned jobs_in_flight;       /* offloaded work whose completion this loop still runs */
    bool draining;
    struct timer drain_timer;
    struct timer trim_timer;       /* returns freed memory once the worker is idle */
    uint8_t *spare_inputs[WORKER_SPARE_INPUTS]; /* CONN_INPUT_CAPACITY bytes each */
    unsigned nspare_inputs;
};

struct worker *workers_start(struct server_shared *shared, unsigned count);
/* Thread-safe: wakes every worker to look at shared state (stopping, listener changes). */
void workers_wake(struct worker *workers, unsigned count);
/* Waits (bounded) until every worker follows the current listener generation. */
bool workers_wait_generation(struct worker *workers, unsigned count, unsigned timeout_ms);
void workers_join(struct worker *workers, unsigned count);

/* Called by conn.c when a connection is created and when it is gone. */
void worker_conn_added(struct worker *worker, struct conn *conn);
void worker_conn_removed(struct worker *worker, struct conn *conn);
/* Input buffers of capacity bytes, lent to connections while they have unconsumed input. */
uint8_t *worker_input_buffer_take(struct worker *worker, size_t capacity);
void worker_input_buffer_give(struct worker *worker, uint8_t *buffer, size_t capacity);
/* A draining worker stops once it has no connection and no offloaded job left. */
void worker_maybe_stop(struct worker *worker);

#endif
