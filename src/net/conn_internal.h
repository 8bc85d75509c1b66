/* Connection internals shared by the stages (proxy_stage.c, tls_stage.c); not for services. */
#ifndef POSTERN_NET_CONN_INTERNAL_H
#define POSTERN_NET_CONN_INTERNAL_H

#include "net/conn.h"

/* conn->in before bytes are read into it: false (and the connection closed) without memory. */
bool conn_input_take(struct conn *conn);
/* Hands conn->in to the current stage. */
void conn_deliver_input(struct conn *conn);
/* The peer closed its side (read returned 0 or TLS close_notify). */
void conn_peer_closed(struct conn *conn);
/* Re-computes which socket events the connection waits for. */
void conn_update_interest(struct conn *conn);
/* The client is known and, for implicit TLS, the handshake is done: check access, greet. */
void conn_open_session(struct conn *conn);
/* Keeps the connection allocated while blocking work for it runs elsewhere (offload.c). */
void conn_hold(struct conn *conn);
void conn_release(struct conn *conn);

/* Arms the connection's single timer for its current stage. */
void conn_arm_timer(struct conn *conn, uint64_t delay_ms);

#endif
