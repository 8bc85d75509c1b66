#include "net/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "net/listener.h"
#include "net/proxy_stage.h"
#include "net/worker.h"

/* How long a closing connection may take to flush its last reply. */
#define CONN_LINGER_MS 2000

static const struct config *conn_config(const struct conn *conn)
{
    return conn->worker->shared->config;
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

/* Runs after the loop iteration, when no callback can still hold the session or conn. */
static void conn_free(void *ctx)
{
    struct conn *conn = ctx;
    if (conn->session)
        conn->service->close(conn->session, conn);
    free(conn->out.data);
    free(conn);
}

static void finish_close(struct conn *conn)
{
    if (conn->stage == STAGE_CLOSED)
        return;
    struct event_loop *loop = conn->worker->loop;
    conn->stage = STAGE_CLOSED;
    io_watch_stop(loop, &conn->watch);
    timer_stop(loop, &conn->timer);
    close(conn->watch.fd);
    conn->watch.fd = -1;
    atomic_fetch_sub(&conn->listener->active, 1);
    atomic_fetch_sub(&conn->worker->shared->active, 1);
    worker_conn_removed(conn->worker, conn);
    if (event_loop_defer(loop, conn_free, conn) < 0)
        abort(); /* freeing now could pull memory from under a running callback */
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

static void update_interest(struct conn *conn)
{
    if (conn->stage == STAGE_CLOSED)
        return;
    bool pending = conn->out.len > conn->out.sent;
    conn->reading_paused = conn->out.len - conn->out.sent > CONN_OUTPUT_HIGH_WATER;
    bool want_read = conn->stage != STAGE_CLOSING && !conn->reading_paused && !conn->peer_closed;
    io_watch_update(conn->worker->loop, &conn->watch,
                    (want_read ? EV_READ : 0u) | (pending ? EV_WRITE : 0u));
}

/* Sends what is queued. Returns false if the connection failed and was closed. */
static bool flush_output(struct conn *conn)
{
    struct out_buffer *out = &conn->out;
    while (out->sent < out->len) {
        ssize_t n = send(conn->watch.fd, out->data + out->sent, out->len - out->sent,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            struct log_line line;
            conn_log_begin(conn, &line, LOG_DEBUG, "write_failed");
            log_str(&line, "error", strerror(errno));
            log_end(&line);
            finish_close(conn);
            return false;
        }
        out->sent += (size_t)n;
        conn->bytes_out += (uint64_t)n;
    }
    if (out->sent == out->len) {
        out->sent = out->len = 0;
        if (conn->stage == STAGE_CLOSING) {
            finish_close(conn);
            return false;
        }
    }
    update_interest(conn);
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
        update_interest(conn);
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
    conn_log_begin(conn, &line, LOG_WARN, "proxy_untrusted");
    log_str(&line, "msg", msg);
    log_end(&line);
    conn_farewell(conn, FAREWELL_UNTRUSTED_PROXY);
    return true;
}

static void session_input(struct conn *conn)
{
    if (!conn->info.proxied && !conn->first_input_checked && refuse_untrusted_proxy_header(conn))
        return;
    size_t used = 0;
    while (used < conn->in_len && conn->stage == STAGE_SESSION) {
        size_t n = conn->service->input(conn->session, conn, conn->in + used,
                                        conn->in_len - used);
        if (n == 0)
            break;
        used += n;
    }
    if (conn->stage == STAGE_CLOSED)
        return;
    memmove(conn->in, conn->in + used, conn->in_len - used);
    conn->in_len -= used;
    if (conn->stage == STAGE_SESSION && conn->in_len == conn->in_cap) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_WARN, "line_too_long");
        log_uint(&line, "limit", conn->in_cap);
        log_end(&line);
        conn_farewell(conn, FAREWELL_LINE_TOO_LONG);
    }
}

static void deliver_input(struct conn *conn)
{
    if (conn->stage == STAGE_PROXY)
        proxy_stage_input(conn);
    else if (conn->stage == STAGE_SESSION)
        session_input(conn);
}

static void peer_closed(struct conn *conn)
{
    conn->peer_closed = true;
    if (conn->stage == STAGE_PROXY) {
        proxy_stage_eof(conn);
        return;
    }
    conn_close(conn);
}

static void read_input(struct conn *conn)
{
    if (conn->in_len == conn->in_cap)
        return;
    ssize_t n = recv(conn->watch.fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, 0);
    if (n > 0) {
        conn->in_len += (size_t)n;
        conn->bytes_in += (uint64_t)n;
        conn->last_input_ms = event_loop_now(conn->worker->loop);
        deliver_input(conn);
    } else if (n == 0) {
        peer_closed(conn);
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
    if ((events & EV_WRITE) && conn->stage != STAGE_CLOSED && !flush_output(conn))
        return;
    if ((events & EV_READ) && (conn->stage == STAGE_PROXY || conn->stage == STAGE_SESSION) &&
        !conn->reading_paused)
        read_input(conn);
}

/* ---- timers: the PROXY deadline, the idle timeout, the closing linger ---- */

static void on_conn_timer(struct event_loop *loop, struct timer *timer)
{
    struct conn *conn = container_of(timer, struct conn, timer);
    uint64_t idle_ms = conn_config(conn)->idle_timeout_ms;
    switch (conn->stage) {
    case STAGE_PROXY:
        proxy_stage_timeout(conn);
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
    if (conn->info.tls.version[0])
        log_str(&line, "tls_version", conn->info.tls.version);
    log_end(&line);
}

static bool client_blocked(const struct conn *conn)
{
    const struct config *config = conn_config(conn);
    const struct sockaddr *client = (const struct sockaddr *)&conn->info.client;
    return netset_contains_sockaddr(config->blocked_networks, client) &&
           !netset_contains_sockaddr(config->allowed_networks, client);
}

void conn_client_known(struct conn *conn)
{
    struct event_loop *loop = conn->worker->loop;
    conn->stage = STAGE_SESSION;
    log_connect(conn);
    if (client_blocked(conn)) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_WARN, "client_blocked");
        log_str(&line, "msg", "client is in server.blocked-networks");
        log_end(&line);
        conn_farewell(conn, FAREWELL_BLOCKED);
        return;
    }
    conn->session = conn->service->open(conn);
    if (!conn->session)
        conn_abort(conn);
    if (conn->stage != STAGE_SESSION)
        return; /* the greeting failed or the service said goodbye at once */
    conn->last_input_ms = event_loop_now(loop);
    timer_start(loop, &conn->timer, conn_config(conn)->idle_timeout_ms, on_conn_timer);
    if (conn->in_len > 0 && conn->stage == STAGE_SESSION)
        session_input(conn); /* bytes that arrived together with the PROXY header */
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
    const struct config *config = worker->shared->config;
    size_t in_cap = CONN_INPUT_CAPACITY;
    if (listener->config->trusted && config->proxy_max_header > in_cap)
        in_cap = config->proxy_max_header;
    struct conn *conn = malloc(sizeof *conn + in_cap);
    if (!conn)
        return NULL;
    memset(conn, 0, sizeof *conn);
    conn->in = (uint8_t *)(conn + 1);
    conn->in_cap = in_cap;
    conn->worker = worker;
    conn->listener = listener;
    conn->service = listener->service;
    conn->watch.fd = fd;
    conn->info.listener = listener->config;
    conn->info.conn_id = atomic_fetch_add(&worker->shared->next_conn_id, 1);
    return conn;
}

/* The peer comes from accept(): getpeername() fails once a quick peer (a health check) has
 * already closed, and an unknown peer must never be mistaken for a direct client. */
static void init_endpoints(struct conn *conn, int fd, const struct sockaddr_storage *peer)
{
    conn->info.peer = *peer;
    socklen_t len = sizeof conn->info.server;
    getsockname(fd, (struct sockaddr *)&conn->info.server, &len);
    sockaddr_unmap(&conn->info.peer);
    sockaddr_unmap(&conn->info.server);
    client_info_format(&conn->info);
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
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    init_endpoints(conn, fd, peer);
    unsigned global = atomic_fetch_add(&worker->shared->active, 1) + 1;
    unsigned local = atomic_fetch_add(&listener->active, 1) + 1;
    worker_conn_added(worker, conn);
    if (io_watch_start(worker->loop, &conn->watch, fd, EV_READ, on_conn_io) < 0) {
        finish_close(conn);
        return;
    }
    const struct netset *trusted = listener->config->trusted;
    bool trusted_peer = netset_contains_sockaddr(trusted, (struct sockaddr *)&conn->info.peer);
    const char *limit = limit_reached(conn, global, local);
    if (trusted_peer) {
        conn->stage = STAGE_PROXY;
        if (limit) {
            refuse_over_limit(conn, limit, true);
            return;
        }
        timer_start(worker->loop, &conn->timer, worker->shared->config->proxy_timeout_ms,
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
}
