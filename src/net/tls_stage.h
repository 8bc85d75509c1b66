/*
 * The TLS stage: implicit TLS right after the PROXY stage, or STARTTLS on request of the
 * service. Bytes that arrived before the handshake started (the ClientHello behind a PROXY
 * header) are fed to TLS first, without loss.
 */
#ifndef POSTERN_NET_TLS_STAGE_H
#define POSTERN_NET_TLS_STAGE_H

struct conn;

void tls_stage_begin(struct conn *conn);
void tls_stage_readable(struct conn *conn); /* the socket has bytes for a TLS connection */
void tls_stage_pump(struct conn *conn);     /* decrypt what TLS already holds */
void tls_stage_writable(struct conn *conn); /* the handshake waited for the socket */
void tls_stage_timeout(struct conn *conn);

#endif
