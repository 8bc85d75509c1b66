#include "net/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "net/conn_internal.h"
#include "net/listener.h"
#include "net/proxy_stage.h"
#include "net/tls.h"
#include "net/tls_stage.h"
#include "net/worker.h"

/* How long a closing connection may take to flush its last reply. */
#define CONN_LINGER_MS 2000

const struct config *conn_config(const struct conn *conn)
{
    return conn->config->config;
}

void conn_log_begin(const struct conn *conn, struct log_line *line, enum log_level level,
                    const char *event)
{
    log_begin(line, level, event);
    log_str(line, "listener", conn->info.listener->id);
    log_uint(line, "conn", conn->info.conn_id);
    if (conn->info.client.ss_family != AF_UNSPEC)
        log_str(line, "client", conn->info.client_text);
    if (conn->info.proxied || conn->stage == STAGE_PROXY)
        log_str(line, "proxy", conn->info.peer_text);
}

/* ---- closing, in two steps: the socket now, the memory after the loop iteration ---- */

/* Runs after the loop iteration, when no callback can still hold the session or conn; a conn
 * with offloaded work in flight waits for the last job's completion. */
static void conn_free(void *ctx)
{
    struct conn *conn = ctx;
    if (conn->holds > 0) {
        conn->free_pending = true;
        return;
    }
    if (conn->session)
        conn->service->close(conn->session, conn);
    tls_conn_free(conn->tls);
    config_handle_unref(conn->config);
    if (conn->in)
        worker_input_buffer_give(conn->worker, conn->in, conn->in_cap);
    free(conn->out.data);
    free(conn);
}

static void finish_close(struct conn *conn)
{
    if (conn->stage == STAGE_CLOSED)
        return;
    struct event_loop *loop = conn->worker->loop;
    conn->stage = STAGE_CLOSED;
    timer_stop(loop, &conn->timer);
    timer_stop(loop, &conn->session_timer);
    if (conn->tls)
        tls_conn_shutdown(conn->tls);
    io_watch_close(loop, &conn->watch);
    if (conn->counted_per_client)
        client_table_leave(conn->worker->shared->clients, &conn->info.client);
    atomic_fetch_sub(&conn->listener->active, 1);
    metrics_listener_closed(conn->metrics_series);
    atomic_fetch_sub(&conn->worker->shared->active, 1);
    worker_conn_removed(conn->worker, conn);
    if (event_loop_defer(loop, conn_free, conn) < 0)
        abort(); /* freeing now could pull memory from under a running callback */
}

void conn_hold(struct conn *conn)
{
    conn->holds++;
    conn->worker->jobs_in_flight++;
}

static void settle_buffers(struct conn *conn);

void conn_release(struct conn *conn)
{
    struct worker *worker = conn->worker;
    settle_buffers(conn); /* the job's completion ran: the loop gets control back */
    conn->holds--;
    worker->jobs_in_flight--;
    if (conn->holds == 0 && conn->free_pending)
        conn_free(conn);
    worker_maybe_stop(worker);
}

void conn_abort(struct conn *conn)
{
    finish_close(conn);
}

static void on_conn_timer(struct event_loop *loop, struct timer *timer);

void conn_close(struct conn *conn)
{
    if (conn->stage == STAGE_CLOSING || conn->stage == STAGE_CLOSED)
        return;
    conn->stage = STAGE_CLOSING;
    if (conn->out.len == conn->out.sent) {
        finish_close(conn);
        return;
    }
    io_watch_update(conn->worker->loop, &conn->watch, EV_WRITE);
    timer_start(conn->worker->loop, &conn->timer, CONN_LINGER_MS, on_conn_timer);
}

void conn_farewell(struct conn *conn, enum farewell reason)
{
    if (conn->service && conn->stage != STAGE_CLOSED)
        conn->service->farewell(conn, reason);
    conn_close(conn);
}

/* ---- output ---- */

void conn_update_interest(struct conn *conn)
{
    if (conn->stage == STAGE_CLOSED)
        return;
    bool pending = conn->out.len > conn->out.sent || conn->tls_wants_write;
    conn->reading_paused = conn->out.len - conn->out.sent > CONN_OUTPUT_HIGH_WATER;
    bool want_read = conn->stage != STAGE_CLOSING && !conn->reading_paused &&
                     !conn->peer_closed && !conn->input_held;
    io_watch_update(conn->worker->loop, &conn->watch,
                    (want_read ? EV_READ : 0u) | (pending ? EV_WRITE : 0u));
}

/* Sends some queued bytes, in plain text or through TLS. Returns bytes sent, 0 when the socket
 * is full, -1 on failure (already logged). */
static ssize_t send_some(struct conn *conn, const uint8_t *data, size_t len)
{
    if (conn->tls) {
        size_t sent = 0;
        enum tls_result r = tls_conn_write(conn->tls, data, len, &sent);
        if (r == TLS_DONE)
            return (ssize_t)sent;
        if (r == TLS_WANT_WRITE || r == TLS_WANT_READ)
            return 0;
        struct log_line line;
        conn_log_begin(conn, &line, LOG_DEBUG, "write_failed");
        log_str(&line, "error", tls_conn_error(conn->tls));
        log_end(&line);
        return -1;
    }
    for (;;) {
        ssize_t n = send(conn->watch.fd, data, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        struct log_line line;
        conn_log_begin(conn, &line, LOG_DEBUG, "write_failed");
        log_str(&line, "error", strerror(errno));
        log_end(&line);
        return -1;
    }
}

/* Sends what is queued. Returns false if the connection failed and was closed. */
static bool flush_output(struct conn *conn)
{
    struct out_buffer *out = &conn->out;
    while (out->sent < out->len) {
        ssize_t n = send_some(conn, out->data + out->sent, out->len - out->sent);
        if (n < 0) {
            finish_close(conn);
            return false;
        }
        if (n == 0)
            break;
        out->sent += (size_t)n;
        conn->bytes_out += (uint64_t)n;
    }
    if (out->sent == out->len) {
        out->sent = out->len = 0;
        if (conn->stage == STAGE_CLOSING) {
            finish_close(conn);
            return false;
        }
        if (conn->starttls_pending && conn->stage == STAGE_SESSION) {
            tls_stage_begin(conn); /* the "ready to start TLS" reply is out, in plain text */
            return conn->stage != STAGE_CLOSED;
        }
    }
    conn_update_interest(conn);
    return true;
}

static bool reserve_output(struct out_buffer *out, size_t more)
{
    if (out->sent > 0 && out->len + more > out->cap) {
        memmove(out->data, out->data + out->sent, out->len - out->sent);
        out->len -= out->sent;
        out->sent = 0;
    }
    if (out->len + more <= out->cap)
        return true;
    size_t cap = out->cap ? out->cap : 512;
    while (cap < out->len + more)
        cap *= 2;
    uint8_t *data = realloc(out->data, cap);
    if (!data)
        return false;
    out->data = data;
    out->cap = cap;
    return true;
}

void conn_write(struct conn *conn, const void *data, size_t len)
{
    if (conn->stage == STAGE_CLOSED || len == 0)
        return;
    if (!reserve_output(&conn->out, len)) {
        finish_close(conn);
        return;
    }
    memcpy(conn->out.data + conn->out.len, data, len);
    conn->out.len += len;
    /* Try at once: most replies leave in this call and never need a write watch. */
    if (conn->out.sent == 0 && conn->out.len == len && conn->stage != STAGE_CLOSING)
        flush_output(conn);
    else
        conn_update_interest(conn);
}

void conn_printf(struct conn *conn, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    conn_write(conn, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* ---- session input ---- */

/*
 * A peer outside the trusted networks whose first bytes are a PROXY header is a misconfigured
 * proxy (or a spoofing attempt): its header is never honoured, and the operator is told how
 * to fix it. Returns 1 when it is a header, 0 when not, -1 when too few bytes to tell.
 */
static int untrusted_proxy_header(const uint8_t *data, size_t len)
{
    static const char v1[] = "PROXY ";
    size_t v1_len = sizeof v1 - 1;
    if (len > 0 && data[0] == 'P') {
        size_t n = len < v1_len ? len : v1_len;
        if (memcmp(data, v1, n) != 0)
            return 0;
        return len >= v1_len ? 1 : -1;
    }
    if (len > 0 && data[0] == proxy_v2_signature[0]) {
        size_t n = len < sizeof proxy_v2_signature ? len : sizeof proxy_v2_signature;
        if (memcmp(data, proxy_v2_signature, n) != 0)
            return 0;
        return len >= sizeof proxy_v2_signature ? 1 : -1;
    }
    return 0;
}

static bool refuse_untrusted_proxy_header(struct conn *conn)
{
    int verdict = untrusted_proxy_header(conn->in, conn->in_len);
    if (verdict == 0) {
        conn->first_input_checked = true;
        return false;
    }
    if (verdict < 0)
        return true; /* wait for enough bytes to tell */
    struct log_line line;
    char msg[256];
    snprintf(msg, sizeof msg,
             "PROXY header from %s, which is not in the trusted networks of listener %s; "
             "add the proxy's address to proxy.trusted-networks to accept it",
             conn->info.client_ip, conn->info.listener->id);
    metrics_count(METRIC_PROXY_UNTRUSTED, NULL);
    conn_log_begin(conn, &line, LOG_WARN, "proxy_untrusted");
    log_str(&line, "msg", msg);
    log_end(&line);
    conn_farewell(conn, FAREWELL_UNTRUSTED_PROXY);
    return true;
}

/*
 * After STARTTLS nothing sent in plain text may be acted on: bytes pipelined behind the command
 * would otherwise run inside the TLS session (CVE-2011-0411). They are dropped and logged.
 */
static void begin_starttls(struct conn *conn, size_t used)
{
    if (used < conn->in_len) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_WARN, "starttls_pipelined");
        log_uint(&line, "discarded_bytes", conn->in_len - used);
        log_end(&line);
    }
    conn->in_len = 0;
    if (conn->out.len == conn->out.sent)
        tls_stage_begin(conn);
}

static void session_input(struct conn *conn)
{
    if (!conn->info.proxied && !conn->first_input_checked && refuse_untrusted_proxy_header(conn))
        return;
    size_t used = 0;
    conn->in_session_input = true;
    while (used < conn->in_len && conn->stage == STAGE_SESSION && !conn->starttls_pending &&
           !conn->input_held) {
        size_t n = conn->service->input(conn->session, conn, conn->in + used,
                                        conn->in_len - used);
        if (n == 0)
            break;
        used += n;
    }
    conn->in_session_input = false;
    if (conn->stage == STAGE_CLOSED)
        return;
    if (conn->starttls_pending && conn->stage == STAGE_SESSION) {
        begin_starttls(conn, used);
        return;
    }
    memmove(conn->in, conn->in + used, conn->in_len - used);
    conn->in_len -= used;
    if (conn->stage == STAGE_SESSION && conn->in_len == conn->in_cap && !conn->input_held) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_WARN, "line_too_long");
        log_uint(&line, "limit", conn->in_cap);
        log_end(&line);
        conn_farewell(conn, FAREWELL_LINE_TOO_LONG);
    }
}

void conn_deliver_input(struct conn *conn)
{
    if (conn->stage == STAGE_PROXY)
        proxy_stage_input(conn);
    else if (conn->stage == STAGE_SESSION)
        session_input(conn);
}

void conn_peer_closed(struct conn *conn)
{
    conn->peer_closed = true;
    if (conn->stage == STAGE_PROXY) {
        proxy_stage_eof(conn);
        return;
    }
    conn_close(conn);
}

bool conn_input_take(struct conn *conn)
{
    if (conn->in)
        return true;
    conn->in = worker_input_buffer_take(conn->worker, conn->in_cap);
    if (conn->in)
        return true;
    struct log_line line;
    conn_log_begin(conn, &line, LOG_ERROR, "out_of_memory");
    log_uint(&line, "bytes", conn->in_cap);
    log_end(&line);
    finish_close(conn);
    return false;
}

/* Called when the loop gets control back: an idle connection keeps no buffer. Replies written
 * within one event share the output buffer; a large reply's memory goes once it is sent. */
static void settle_buffers(struct conn *conn)
{
    if (conn->in && conn->in_len == 0) {
        worker_input_buffer_give(conn->worker, conn->in, conn->in_cap);
        conn->in = NULL;
    }
    if (conn->out.data && conn->out.len == 0) {
        free(conn->out.data);
        conn->out = (struct out_buffer){0};
    }
}

static void read_input(struct conn *conn)
{
    if (conn->tls) {
        tls_stage_readable(conn);
        return;
    }
    if (conn->in_len == conn->in_cap || !conn_input_take(conn))
        return;
    ssize_t n = recv(conn->watch.fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, 0);
    if (n > 0) {
        conn->in_len += (size_t)n;
        conn->bytes_in += (uint64_t)n;
        conn->last_input_ms = event_loop_now(conn->worker->loop);
        conn_deliver_input(conn);
    } else if (n == 0) {
        conn_peer_closed(conn);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_DEBUG, "read_failed");
        log_str(&line, "error", strerror(errno));
        log_end(&line);
        finish_close(conn);
    }
}

static void on_conn_io(struct event_loop *loop, struct io_watch *watch, unsigned events)
{
    (void)loop;
    struct conn *conn = container_of(watch, struct conn, watch);
    if ((events & EV_WRITE) && conn->stage == STAGE_TLS) {
        tls_stage_writable(conn);
    } else if ((events & EV_WRITE) && conn->stage != STAGE_CLOSED) {
        if (!flush_output(conn))
            return;
        /* Reading resumed after a pause: TLS may already hold decrypted input. */
        if (conn->tls && conn->stage == STAGE_SESSION && !conn->reading_paused &&
            tls_conn_has_buffered(conn->tls))
            tls_stage_pump(conn);
    }
    if ((events & EV_READ) &&
        (conn->stage == STAGE_PROXY || conn->stage == STAGE_TLS ||
         conn->stage == STAGE_SESSION) &&
        !conn->reading_paused)
        read_input(conn);
    settle_buffers(conn);
}

/* ---- timers: the PROXY deadline, the idle timeout, the closing linger ---- */

static void on_conn_timer(struct event_loop *loop, struct timer *timer)
{
    struct conn *conn = container_of(timer, struct conn, timer);
    uint64_t idle_ms = conn->idle_timeout_ms ? conn->idle_timeout_ms
                                             : conn_config(conn)->idle_timeout_ms;
    switch (conn->stage) {
    case STAGE_PROXY:
        proxy_stage_timeout(conn);
        break;
    case STAGE_TLS:
        tls_stage_timeout(conn);
        break;
    case STAGE_SESSION: {
        /* Re-armed lazily: input only records its time, the timer checks it here. */
        uint64_t quiet = event_loop_now(loop) - conn->last_input_ms;
        if (quiet < idle_ms) {
            timer_start(loop, timer, idle_ms - quiet, on_conn_timer);
            break;
        }
        struct log_line line;
        conn_log_begin(conn, &line, LOG_INFO, "idle_timeout");
        log_uint(&line, "idle_ms", idle_ms);
        log_end(&line);
        conn_farewell(conn, FAREWELL_IDLE);
        break;
    }
    default:
        finish_close(conn);
        break;
    }
}

/* ---- from accept to session ---- */

static void read_input(struct conn *conn);

static void log_connect(const struct conn *conn)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_INFO, "connect");
    if (conn->info.proxied) {
        log_uint(&line, "proxy_version", conn->info.proxy_version);
        if (conn->info.proxy_local)
            log_bool(&line, "proxy_local", true);
    }
    static const char *const origins[] = {"none", "own", "proxy", "assumed"};
    if (conn->info.tls.origin != TLS_NONE)
        log_str(&line, "tls", origins[conn->info.tls.origin]);
    if (conn->info.tls.origin == TLS_AT_PROXY || conn->info.tls.origin == TLS_ASSUMED)
        metrics_count(METRIC_SESSIONS_SECURE, origins[conn->info.tls.origin]);
    if (conn->info.tls.version[0])
        log_str(&line, "tls_version", conn->info.tls.version);
    log_end(&line);
}

/* Proxies (any trusted network) and allowed networks are never banned nor limited per client:
 * a proxy carries many clients, and an operator's own networks must stay reachable. */
static bool client_exempt(const struct conn *conn)
{
    return netset_contains_sockaddr(conn_config(conn)->exempt_networks,
                                    (const struct sockaddr *)&conn->info.client);
}

/* A refusal at session start: logged, then the service's goodbye. */
static void refuse_session(struct conn *conn, const char *event, const char *key,
                           const char *value, enum farewell reason)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_WARN, event);
    log_str(&line, key, value);
    log_end(&line);
    conn_farewell(conn, reason);
}

/* Bans and the per-client limit, on the real client. False when the session is refused. */
static bool admit_client(struct conn *conn)
{
    struct client_table *clients = conn->worker->shared->clients;
    if (client_exempt(conn))
        return true;
    switch (client_table_admit(clients, &conn->info.client, event_loop_now(conn->worker->loop),
                               &conn->counted_per_client)) {
    case CLIENT_BANNED:
        refuse_session(conn, "client_banned", "msg", "temporarily banned (server.auto-ban)",
                       FAREWELL_BANNED);
        return false;
    case CLIENT_OVER_LIMIT:
        refuse_session(conn, "connection_limit", "limit", "server.max-connections-per-client",
                       FAREWELL_BUSY);
        return false;
    case CLIENT_ADMITTED:
        break;
    }
    return true;
}

static bool client_blocked(const struct conn *conn)
{
    const struct config *config = conn_config(conn);
    const struct sockaddr *client = (const struct sockaddr *)&conn->info.client;
    return netset_contains_sockaddr(config->blocked_networks, client) &&
           !netset_contains_sockaddr(config->allowed_networks, client);
}

void conn_arm_timer(struct conn *conn, uint64_t delay_ms)
{
    timer_start(conn->worker->loop, &conn->timer, delay_ms, on_conn_timer);
}

void conn_open_session(struct conn *conn)
{
    struct event_loop *loop = conn->worker->loop;
    conn->stage = STAGE_SESSION;
    if (client_blocked(conn)) {
        refuse_session(conn, "client_blocked", "msg", "client is in server.blocked-networks",
                       FAREWELL_BLOCKED);
        return;
    }
    if (!admit_client(conn))
        return;
    conn->session = conn->service->open(conn);
    if (!conn->session)
        conn_abort(conn);
    if (conn->stage != STAGE_SESSION)
        return; /* the greeting failed or the service said goodbye at once */
    conn->last_input_ms = event_loop_now(loop);
    conn_arm_timer(conn, conn_config(conn)->idle_timeout_ms);
    if (conn->in_len > 0 && conn->stage == STAGE_SESSION)
        session_input(conn); /* bytes that arrived together with the PROXY header */
}

void conn_client_known(struct conn *conn)
{
    log_connect(conn);
    if (conn->info.listener->tls_implicit)
        tls_stage_begin(conn);
    else
        conn_open_session(conn);
}

/* Limits are checked before anything is read: a silent trusted peer counts like any other. */
static const char *limit_reached(const struct conn *conn, unsigned global, unsigned local)
{
    const struct config *config = conn_config(conn);
    if (global > config->max_connections)
        return "server.max-connections";
    if (conn->info.listener->max_connections && local > conn->info.listener->max_connections)
        return "listener max-connections";
    return NULL;
}

static struct conn *conn_new(struct worker *worker, struct listener *listener, int fd)
{
    const struct listener_config *lc;
    struct config_handle *handle = shared_acquire(worker->shared, listener, &lc);
    const struct config *config = handle->config;
    size_t in_cap = CONN_INPUT_CAPACITY;
    if (lc->trusted && config->proxy_max_header > in_cap)
        in_cap = config->proxy_max_header;
    struct conn *conn = malloc(sizeof *conn);
    if (!conn) {
        config_handle_unref(handle);
        return NULL;
    }
    memset(conn, 0, sizeof *conn);
    conn->config = handle;
    conn->in_cap = in_cap;
    conn->worker = worker;
    conn->listener = listener;
    conn->service = listener->service;
    conn->watch.fd = fd;
    conn->info.listener = lc;
    /* A slot keeps its series while it has connections (reload reuses slots by id). */
    conn->metrics_series = listener->metrics_series;
    conn->info.conn_id = atomic_fetch_add(&worker->shared->next_conn_id, 1);
    return conn;
}

/* The peer comes from accept(): getpeername() fails once a quick peer (a health check) has
 * already closed, and an unknown peer must never be mistaken for a direct client. */
static void init_endpoints(struct conn *conn, const struct sockaddr_storage *peer)
{
    conn->info.peer = *peer;
    sockaddr_unmap(&conn->info.peer);
    sockaddr_format(&conn->info.peer, conn->info.peer_text, NULL);
}

static void refuse_over_limit(struct conn *conn, const char *limit, bool trusted_peer)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_WARN, "connection_limit");
    log_str(&line, "limit", limit);
    log_end(&line);
    /* Nothing may be written to a proxy before its header: it would reach the client raw. */
    if (trusted_peer)
        conn_abort(conn);
    else
        conn_farewell(conn, FAREWELL_BUSY);
}

void conn_accept(struct worker *worker, struct listener *listener, int fd,
                 const struct sockaddr_storage *peer)
{
    struct conn *conn = conn_new(worker, listener, fd);
    if (!conn) {
        close(fd);
        return;
    }
    init_endpoints(conn, peer);
    unsigned global = atomic_fetch_add(&worker->shared->active, 1) + 1;
    unsigned local = atomic_fetch_add(&listener->active, 1) + 1;
    metrics_listener_opened(conn->metrics_series);
    worker_conn_added(worker, conn);
    if (io_watch_start(worker->loop, &conn->watch, fd, EV_READ, on_conn_io) < 0) {
        finish_close(conn);
        return;
    }
    const struct netset *trusted = conn->info.listener->trusted;
    bool trusted_peer = netset_contains_sockaddr(trusted, (struct sockaddr *)&conn->info.peer);
    const char *limit = limit_reached(conn, global, local);
    if (trusted_peer) {
        conn->stage = STAGE_PROXY;
        if (limit) {
            refuse_over_limit(conn, limit, true);
            return;
        }
        /* A deferred accept means the header is already here: no wait for another wake-up,
         * and no deadline to arm unless the header is still incomplete after this read. */
        if (conn->info.listener->defer_accept) {
            read_input(conn);
            settle_buffers(conn);
            if (conn->stage != STAGE_PROXY)
                return;
        }
        timer_start(worker->loop, &conn->timer, conn_config(conn)->proxy_timeout_ms,
                    on_conn_timer);
        return;
    }
    /* A direct client is never assumed secure: proxy.assume-tls speaks for proxied clients. */
    conn->info.client = conn->info.peer;
    client_info_format(&conn->info);
    conn->stage = STAGE_SESSION;
    if (limit) {
        refuse_over_limit(conn, limit, false);
        return;
    }
    conn_client_known(conn);
    settle_buffers(conn);
}

/* ---- the service's timer ---- */

static void on_session_timer(struct event_loop *loop, struct timer *timer)
{
    (void)loop;
    struct conn *conn = container_of(timer, struct conn, session_timer);
    if (conn->stage == STAGE_SESSION && conn->service->timer)
        conn->service->timer(conn->session, conn);
    settle_buffers(conn);
}

void conn_session_timer(struct conn *conn, uint64_t delay_ms)
{
    if (conn->stage == STAGE_CLOSED)
        return;
    if (delay_ms == 0)
        timer_stop(conn->worker->loop, &conn->session_timer);
    else
        timer_start(conn->worker->loop, &conn->session_timer, delay_ms, on_session_timer);
}

void conn_hold_input(struct conn *conn)
{
    conn->input_held = true;
    conn_update_interest(conn);
}

void conn_set_idle_timeout(struct conn *conn, uint32_t ms)
{
    conn->idle_timeout_ms = ms;
    conn->last_input_ms = event_loop_now(conn->worker->loop);
    if (conn->stage == STAGE_SESSION)
        conn_arm_timer(conn, ms ? ms : conn_config(conn)->idle_timeout_ms);
}

void conn_resume_input(struct conn *conn)
{
    conn->input_held = false;
    conn_update_interest(conn);
    if (conn->in_session_input)
        return; /* work that finished at once: the running input loop simply goes on */
    if (conn->stage == STAGE_SESSION && conn->in_len > 0)
        session_input(conn);
    /* TLS may hold more decrypted input than fit in the buffer before. */
    if (conn->tls && conn->stage == STAGE_SESSION && tls_conn_has_buffered(conn->tls))
        tls_stage_pump(conn);
}

/* ---- STARTTLS, failures ---- */

bool conn_tls_available(const struct conn *conn)
{
    return !conn->tls && conn->info.tls.origin != TLS_AT_PROXY && conn->stage == STAGE_SESSION;
}

bool conn_start_tls(struct conn *conn)
{
    if (!conn_tls_available(conn))
        return false;
    conn->starttls_pending = true;
    return true;
}

bool conn_report_failure(struct conn *conn, enum client_failure kind)
{
    struct client_table *clients = conn->worker->shared->clients;
    uint64_t now = event_loop_now(conn->worker->loop);
    const char *kind_name = kind == FAILURE_AUTH ? "auth" : "abuse";
    bool exempt = client_exempt(conn);
    struct log_line line;
    conn_log_begin(conn, &line, LOG_INFO, "client_failure");
    log_str(&line, "kind", kind_name);
    if (exempt)
        log_bool(&line, "exempt", true);
    log_end(&line);
    if (exempt)
        return false;
    if (client_table_failure(clients, &conn->info.client, kind, now)) {
        conn_log_begin(conn, &line, LOG_WARN, "client_banned");
        log_str(&line, "kind", kind_name);
        log_uint(&line, "ban_ms", conn_config(conn)->client_policy.ban_ms);
        log_end(&line);
    }
    return client_table_banned(clients, &conn->info.client, now);
}
