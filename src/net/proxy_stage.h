/*
 * The PROXY stage: a connection from a trusted peer must send a complete, valid PROXY header
 * before its deadline; nothing is written to it before then. The header names the real client;
 * bytes after it (often a TLS ClientHello) stay in the input buffer for the next stage.
 */
#ifndef POSTERN_NET_PROXY_STAGE_H
#define POSTERN_NET_PROXY_STAGE_H

struct conn;

void proxy_stage_input(struct conn *conn);   /* new bytes are in conn->in */
void proxy_stage_eof(struct conn *conn);     /* the peer closed before a complete header */
void proxy_stage_timeout(struct conn *conn); /* the deadline passed */

#endif
