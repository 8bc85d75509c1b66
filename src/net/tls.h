/*
 * TLS with OpenSSL 3, in one place: certificates, SNI, and the per-connection engine. Protocol
 * code never calls SSL_*; the connection layer moves bytes through here.
 *
 * A "generation" is one loaded set of certificates. Each connection holds a reference to the
 * generation it started with, so a reload (SIGHUP) swaps in a new one without touching
 * established sessions.
 */
#ifndef POSTERN_NET_TLS_H
#define POSTERN_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/client_info.h"

#define TLS_MAX_CERTIFICATES 64
#define TLS_READ_CHUNK 16384 /* one TLS record */

struct config;
struct tls_generation;
struct tls_conn;

/* Loads the configured certificates (or a self-signed one when there are none). NULL with a
 * message in err on failure. The result holds one reference. */
struct tls_generation *tls_generation_load(const struct config *config, char *err,
                                           size_t errlen);
struct tls_generation *tls_generation_ref(struct tls_generation *gen);
void tls_generation_unref(struct tls_generation *gen);
/* A one-line description for logs: "2 certificates (mail.example.com, ...)" or "self-signed". */
const char *tls_generation_describe(const struct tls_generation *gen);

/* The generation new connections use; swapped atomically on reload. */
void tls_current_set(struct tls_generation *gen); /* takes the caller's reference */
struct tls_generation *tls_current_acquire(void); /* a new reference, or NULL */

/* ---- one connection ---- */

enum tls_result {
    TLS_DONE,       /* the step completed */
    TLS_WANT_READ,  /* needs more bytes from the peer */
    TLS_WANT_WRITE, /* the socket is full: wait until writable */
    TLS_FAILED,     /* fatal; tls_conn_error() says why */
};

/* A server-side TLS connection writing to fd; NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_generation *gen, int fd);
void tls_conn_free(struct tls_conn *tls);

/* Bytes received from the socket (or left over from the PROXY stage) for TLS to decrypt. */
bool tls_conn_feed(struct tls_conn *tls, const uint8_t *data, size_t len);
enum tls_result tls_conn_handshake(struct tls_conn *tls);
/* Decrypted bytes into out; *got is how many. */
enum tls_result tls_conn_read(struct tls_conn *tls, uint8_t *out, size_t cap, size_t *got);
/* True when decrypted or undecrypted bytes are already buffered inside TLS. */
bool tls_conn_has_buffered(struct tls_conn *tls);
/* Encrypts and sends up to len bytes; *sent is how many were consumed. */
enum tls_result tls_conn_write(struct tls_conn *tls, const uint8_t *data, size_t len,
                               size_t *sent);
/* Best-effort close_notify. */
void tls_conn_shutdown(struct tls_conn *tls);
/* After a successful handshake: version, cipher, client certificate. */
void tls_conn_facts(struct tls_conn *tls, struct tls_facts *facts);
/* Why the last step failed, e.g. "no shared cipher" or "wrong version number". */
const char *tls_conn_error(const struct tls_conn *tls);
/* The SNI name the client asked for, or NULL. */
const char *tls_conn_server_name(struct tls_conn *tls);

#endif
