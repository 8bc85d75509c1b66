#include "net/tls_stage.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "net/conn_internal.h"
#include "net/tls.h"
#include "net/worker.h"

static void fail(struct conn *conn, const char *event, const char *reason)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_WARN, event);
    log_str(&line, "reason", reason);
    log_end(&line);
    conn_abort(conn);
}

static void log_established(struct conn *conn)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_INFO, "tls_established");
    log_str(&line, "tls_version", conn->info.tls.version);
    log_str(&line, "cipher", conn->info.tls.cipher);
    const char *sni = tls_conn_server_name(conn->tls);
    if (sni)
        log_str(&line, "sni", sni);
    log_bool(&line, "starttls", conn->starttls_pending);
    log_end(&line);
}

static void handshake_done(struct conn *conn)
{
    tls_conn_facts(conn->tls, &conn->info.tls);
    conn->tls_wants_write = false;
    log_established(conn);
    metrics_count(METRIC_SESSIONS_SECURE, "own");
    if (!conn->starttls_pending) {
        conn_open_session(conn); /* implicit TLS: the greeting goes out encrypted */
        return;
    }
    conn->starttls_pending = false;
    conn->stage = STAGE_SESSION;
    conn_arm_timer(conn, conn_config(conn)->idle_timeout_ms);
    if (conn->service->tls_ready)
        conn->service->tls_ready(conn->session, conn);
}

static bool step_handshake(struct conn *conn)
{
    switch (tls_conn_handshake(conn->tls)) {
    case TLS_DONE:
        handshake_done(conn);
        return conn->stage == STAGE_SESSION;
    case TLS_WANT_WRITE:
        conn->tls_wants_write = true;
        conn_update_interest(conn);
        return false;
    case TLS_WANT_READ:
        conn->tls_wants_write = false;
        conn_update_interest(conn);
        return false;
    default:
        fail(conn, "tls_failed", tls_conn_error(conn->tls));
        return false;
    }
}

void tls_stage_pump(struct conn *conn)
{
    if (conn->stage == STAGE_TLS && !step_handshake(conn))
        return;
    while (conn->stage == STAGE_SESSION && conn->in_len < conn->in_cap &&
           !conn->reading_paused && !conn->input_held) {
        if (!conn_input_take(conn))
            return;
        size_t got;
        enum tls_result r = tls_conn_read(conn->tls, conn->in + conn->in_len,
                                          conn->in_cap - conn->in_len, &got);
        if (r == TLS_DONE) {
            conn->in_len += got;
            conn_deliver_input(conn);
            continue;
        }
        if (r == TLS_FAILED) {
            if (strcmp(tls_conn_error(conn->tls), "peer sent close_notify") == 0)
                conn_peer_closed(conn);
            else
                fail(conn, "tls_failed", tls_conn_error(conn->tls));
        }
        return; /* WANT_READ: wait for the socket; WANT_WRITE cannot happen without renegotiation */
    }
}

void tls_stage_readable(struct conn *conn)
{
    uint8_t raw[TLS_READ_CHUNK];
    ssize_t n = recv(conn->watch.fd, raw, sizeof raw, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        if (conn->stage == STAGE_TLS)
            fail(conn, "tls_failed", n == 0 ? "client closed during the handshake"
                                            : strerror(errno));
        else if (n == 0)
            conn_peer_closed(conn);
        else
            conn_abort(conn);
        return;
    }
    conn->bytes_in += (uint64_t)n;
    conn->last_input_ms = event_loop_now(conn->worker->loop);
    if (!tls_conn_feed(conn->tls, raw, (size_t)n)) {
        fail(conn, "tls_failed", "out of memory");
        return;
    }
    tls_stage_pump(conn);
}

void tls_stage_writable(struct conn *conn)
{
    if (conn->stage == STAGE_TLS && conn->tls_wants_write)
        tls_stage_pump(conn);
}

void tls_stage_timeout(struct conn *conn)
{
    fail(conn, "tls_timeout", "no completed TLS handshake within server.tls.timeout");
}

void tls_stage_begin(struct conn *conn)
{
    struct tls_generation *gen = tls_current_acquire();
    conn->tls = gen ? tls_conn_new(gen, conn->watch.fd) : NULL;
    tls_generation_unref(gen);
    if (!conn->tls) {
        fail(conn, "tls_failed", "TLS is not available");
        return;
    }
    conn->stage = STAGE_TLS;
    uint32_t timeout = conn_config(conn)->tls.handshake_timeout_ms;
    conn_arm_timer(conn, timeout ? timeout : CONFIG_DEFAULT_TLS_TIMEOUT_MS);
    /* What arrived with the PROXY header belongs to TLS, byte for byte. */
    if (!tls_conn_feed(conn->tls, conn->in, conn->in_len)) {
        fail(conn, "tls_failed", "out of memory");
        return;
    }
    conn->in_len = 0;
    tls_stage_pump(conn);
}
