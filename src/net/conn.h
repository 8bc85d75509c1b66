/*
 * A client connection: its socket, buffers, deadline, and the stage it is in. Data flows one
 * way: socket -> PROXY stage -> (TLS stage) -> protocol session.
 */
#ifndef POSTERN_NET_CONN_H
#define POSTERN_NET_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access/client_table.h"
#include "log/log.h"
#include "net/client_info.h"
#include "net/event_loop.h"
#include "net/service.h"

/* Input is read into a fixed-size buffer, taken from the worker when bytes are about to be read
 * and given back once all are consumed; a session with more unconsumed input is refused. */
#define CONN_INPUT_CAPACITY 4096
/* Past this much unsent output the core stops reading (a client that never reads replies). */
#define CONN_OUTPUT_HIGH_WATER (256 * 1024)

struct worker;
struct listener;
struct service;

enum conn_stage {
    STAGE_PROXY,   /* waiting for a trusted peer's PROXY header */
    STAGE_TLS,     /* TLS handshake: implicit TLS, or after STARTTLS */
    STAGE_SESSION, /* the protocol service owns the input */
    STAGE_CLOSING, /* flushing the last output */
    STAGE_CLOSED,  /* socket closed, memory freed after this loop iteration */
};

struct out_buffer {
    uint8_t *data;
    size_t len, sent, cap;
};

struct conn {
    struct io_watch watch;         /* the socket */
    struct timer timer;            /* PROXY deadline, then the idle timeout */
    struct timer session_timer;    /* the service's own: IMAP IDLE polling, delayed replies */
    struct worker *worker;         /* owner; conns never move between threads */
    struct config_handle *config;  /* the configuration it was accepted under (a reference) */
    struct listener *listener;
    int metrics_series;            /* the listener's connection counters */
    enum conn_stage stage;
    struct client_info info;       /* filled by the PROXY stage, read by everything after */
    const struct service *service;
    void *session;
    struct tls_conn *tls;          /* set once TLS starts: all I/O goes through it */
    bool starttls_pending;         /* STARTTLS accepted: handshake after the reply is sent */
    bool tls_wants_write;          /* the handshake waits for the socket to be writable */
    bool peer_closed;              /* read returned 0: no more input will come */
    bool reading_paused;           /* output above the high-water mark */
    bool first_input_checked;      /* untrusted peers: first bytes checked for a PROXY header */
    bool input_held;               /* the service asked not to be given input for now */
    bool in_session_input;         /* inside session_input(): a resume must not re-enter it */
    uint32_t idle_timeout_ms;      /* the service's own idle timeout; 0: server.idle-timeout */
    bool counted_per_client;       /* entered in the client table: leave it on close */
    uint64_t last_input_ms;        /* for the idle timeout */
    uint64_t bytes_in, bytes_out;
    unsigned holds;                /* offloaded jobs in flight: freeing waits for them */
    bool free_pending;             /* closed while held: freed at the last release */
    size_t in_len;                 /* unconsumed bytes in in[] */
    struct out_buffer out;
    struct conn *prev, *next;      /* the worker's list, for shutdown */
    uint8_t *in;                   /* NULL while no input waits (idle); in_cap bytes */
    size_t in_cap;                 /* CONN_INPUT_CAPACITY, more if a PROXY header may be longer */
};

/* Called by the worker for an accepted socket and its peer. Takes ownership of fd. */
void conn_accept(struct worker *worker, struct listener *listener, int fd,
                 const struct sockaddr_storage *peer);

/* Queues output; tries to send at once. */
void conn_write(struct conn *conn, const void *data, size_t len);
void conn_printf(struct conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flushes what is queued, then closes. Safe to call more than once, from any callback. */
void conn_close(struct conn *conn);
/* Closes at once, dropping unsent output. */
void conn_abort(struct conn *conn);
/* Says the service's goodbye for reason, then closes. */
void conn_farewell(struct conn *conn, enum farewell reason);

/*
 * STARTTLS. conn_tls_available(): this listener has a certificate and the session is not TLS
 * already. conn_start_tls(): call right after queuing the "ready to start TLS" reply; the reply
 * is flushed, then the handshake runs. Input that arrived after the STARTTLS command line is
 * discarded (CVE-2011-0411), so the service must return the command line's length from input()
 * and process nothing after it. On success service->tls_ready() is called; on failure the
 * connection is closed and logged. Returns false (nothing changed) when TLS is not available.
 */
bool conn_tls_available(const struct conn *conn);
bool conn_start_tls(struct conn *conn);

/*
 * A failed login or protocol abuse by this client: counts towards server.auto-ban.* for the
 * real client address (never for trusted proxies or allowed networks) and logs the ban when
 * one starts. Returns true when the client is now banned (the caller should say goodbye).
 */
bool conn_report_failure(struct conn *conn, enum client_failure kind);

/*
 * The service's timer: service->timer() runs once, delay_ms from now (0 stops it).
 * conn_hold_input(): the service gets no input (and the socket is not read, so nothing piles
 * up) until conn_resume_input(), which offers the buffered input again. For work that must
 * finish before the next command: a delivery, a password check, a delayed reply.
 */
void conn_session_timer(struct conn *conn, uint64_t delay_ms);
void conn_hold_input(struct conn *conn);
void conn_resume_input(struct conn *conn);
/* A session-specific idle timeout (IMAP IDLE: 30 minutes); 0 restores server.idle-timeout. */
void conn_set_idle_timeout(struct conn *conn, uint32_t ms);

/* The configuration this connection runs under: a reload does not change it. */
const struct config *conn_config(const struct conn *conn);

/* Starts a log line carrying listener, conn, client and (when proxied) proxy fields. */
void conn_log_begin(const struct conn *conn, struct log_line *line, enum log_level level,
                    const char *event);

/* The PROXY stage (or accept, for direct clients) knows the client: check access, start. */
void conn_client_known(struct conn *conn);

#endif
