/*
 * The interface between the network core and a protocol service (SMTP, IMAP). The core owns
 * sockets, buffers, timers and the PROXY/TLS stages; a service only sees bytes in, bytes out.
 */
#ifndef POSTERN_NET_SERVICE_H
#define POSTERN_NET_SERVICE_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/* Why the core ends a connection with a protocol-level goodbye. */
enum farewell {
    FAREWELL_BLOCKED,         /* the client is in server.blocked-networks */
    FAREWELL_BUSY,            /* a connection limit was reached */
    FAREWELL_IDLE,            /* no input within the idle timeout */
    FAREWELL_SHUTDOWN,        /* the server is stopping */
    FAREWELL_UNTRUSTED_PROXY, /* a PROXY header from a peer that is not trusted */
    FAREWELL_LINE_TOO_LONG,   /* input buffer full without a complete command */
    FAREWELL_BANNED,          /* the client is temporarily banned (auth failures, abuse) */
    FAREWELL_TOO_MANY_ERRORS, /* the session made too many errors */
};

struct service {
    const char *name;
    /* Creates the session and writes the greeting; NULL closes the connection. */
    void *(*open)(struct conn *conn);
    /*
     * Consumes input; returns how many bytes it used (the rest is offered again with more).
     * May write replies and call conn_close(). Called again while it makes progress.
     */
    size_t (*input)(void *session, struct conn *conn, const uint8_t *data, size_t len);
    /* The last line before the core closes: e.g. "421 4.4.2 idle timeout" or "* BYE ...". */
    void (*farewell)(struct conn *conn, enum farewell reason);
    /* Frees the session (conn is still valid, its socket may already be closed). */
    void (*close)(void *session, struct conn *conn);
    /*
     * STARTTLS finished: the handshake succeeded and conn->info.tls describes it. The service
     * resets its state as its RFC requires (SMTP: back to before EHLO). May be NULL.
     */
    void (*tls_ready)(void *session, struct conn *conn);
    /* The session timer set with conn_session_timer() fired. May be NULL. */
    void (*timer)(void *session, struct conn *conn);
};

extern const struct service smtp_service;
extern const struct service imap_service;

#endif
