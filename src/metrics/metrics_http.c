/*
 * A deliberately small HTTP responder for Prometheus scrapes: one request, one response,
 * close. No keep-alive, no chunked bodies, no request bodies: a scraper needs none of them,
 * and every one of them would be attack surface on a server that faces the Internet.
 */
#include "metrics/metrics_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"
#include "net/conn.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* 200 with the exposition (HEAD: the same headers, no body). */
static void respond_ok(struct strbuf *out, const char *body, size_t body_len, bool head)
{
    strbuf_printf(out,
                  "HTTP/1.1 200 OK\r\n"
                  "Content-Type: " CONTENT_TYPE "\r\n"
                  "Content-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: close\r\n"
                  "\r\n",
                  body_len);
    if (!head)
        strbuf_append(out, body, body_len);
}

/* An error response with a one-line text body. */
static void respond_error(struct strbuf *out, const char *status, const char *extra_headers,
                          bool head)
{
    char body[96];
    int n = snprintf(body, sizeof body, "%s\n", status);
    strbuf_printf(out,
                  "HTTP/1.1 %s\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Length: %d\r\n"
                  "Connection: close\r\n"
                  "%s\r\n",
                  status, n, extra_headers ? extra_headers : "");
    if (!head)
        strbuf_append(out, body, (size_t)n);
}

/* The end of the header block: the offset just past "\n\r\n" or "\n\n", or 0. */
static size_t header_end(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] != '\n')
            continue;
        if (data[i + 1] == '\n')
            return i + 2;
        if (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

struct request_line {
    const char *method, *target;
    size_t method_len, target_len;
};

/* "METHOD SP TARGET SP HTTP/1.x" (RFC 9112 3); false when it is not one. */
static bool parse_request_line(const uint8_t *data, size_t len, struct request_line *rl)
{
    const char *line = (const char *)data;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    size_t m = 0;
    while (m < len && line[m] >= 'A' && line[m] <= 'Z')
        m++;
    if (m == 0 || m >= len || line[m] != ' ')
        return false;
    size_t t = m + 1;
    while (t < len && line[t] > ' ' && line[t] < 0x7f)
        t++;
    if (t == m + 1 || t >= len || line[t] != ' ')
        return false;
    const char *version = line + t + 1;
    size_t version_len = len - t - 1;
    if (version_len != 8 || (memcmp(version, "HTTP/1.1", 8) != 0 &&
                             memcmp(version, "HTTP/1.0", 8) != 0))
        return false;
    *rl = (struct request_line){line, line + m + 1, m, t - m - 1};
    return true;
}

static bool equals(const char *text, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(text, word, len) == 0;
}

/* "/metrics", with or without a query string (Prometheus may add one). */
static bool is_metrics_path(const char *target, size_t len)
{
    const char *query = memchr(target, '?', len);
    return equals(target, query ? (size_t)(query - target) : len, "/metrics");
}

static void answer(const struct request_line *rl, struct strbuf *out)
{
    bool head = equals(rl->method, rl->method_len, "HEAD");
    if (!head && !equals(rl->method, rl->method_len, "GET")) {
        respond_error(out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", false);
        return;
    }
    if (!is_metrics_path(rl->target, rl->target_len)) {
        respond_error(out, "404 Not Found", NULL, head);
        return;
    }
    struct strbuf body = {0};
    if (metrics_render(&body))
        respond_ok(out, body.data, body.len, head);
    else
        respond_error(out, "503 Service Unavailable", NULL, head);
    strbuf_free(&body);
}

enum metrics_request_status metrics_http_respond(const uint8_t *data, size_t len,
                                                 struct strbuf *out, size_t *used)
{
    *used = len;
    const uint8_t *lf = memchr(data, '\n', len);
    struct request_line rl = {0};
    size_t method = 0; /* upper-case letters so far: anything else (TLS, SMTP) fails at once */
    while (method < len && data[method] >= 'A' && data[method] <= 'Z')
        method++;
    bool bad_start = method < len && data[method] != ' ';
    if (bad_start || memchr(data, '\0', len) ||
        (lf && !parse_request_line(data, (size_t)(lf - data), &rl))) {
        respond_error(out, "400 Bad Request", NULL, false);
        return METRICS_REQUEST_DONE;
    }
    size_t end = header_end(data, len);
    if (end == 0 || end > METRICS_REQUEST_MAX) {
        if (len < METRICS_REQUEST_MAX)
            return METRICS_REQUEST_INCOMPLETE;
        respond_error(out, "431 Request Header Fields Too Large", NULL, false);
        return METRICS_REQUEST_DONE;
    }
    *used = end;
    answer(&rl, out);
    return METRICS_REQUEST_DONE;
}

/* ---- the service ---- */

static void *metrics_open(struct conn *conn)
{
    static int session_marker;
    conn_session_timer(conn, METRICS_REQUEST_TIMEOUT_MS);
    return &session_marker;
}

static size_t metrics_input(void *session, struct conn *conn, const uint8_t *data, size_t len)
{
    (void)session;
    struct strbuf out = {0};
    size_t used = 0;
    if (metrics_http_respond(data, len, &out, &used) == METRICS_REQUEST_INCOMPLETE)
        return 0;
    if (out.failed)
        conn_abort(conn);
    else {
        conn_write(conn, out.data, out.len);
        conn_close(conn);
    }
    strbuf_free(&out);
    return len; /* nothing after the request is read: the connection closes */
}

static void write_error(struct conn *conn, const char *status)
{
    struct strbuf out = {0};
    respond_error(&out, status, NULL, false);
    if (!out.failed)
        conn_write(conn, out.data, out.len);
    strbuf_free(&out);
}

static void metrics_farewell(struct conn *conn, enum farewell reason)
{
    static const char *const statuses[] = {
        [FAREWELL_BLOCKED] = "403 Forbidden",
        [FAREWELL_BUSY] = "503 Service Unavailable",
        [FAREWELL_IDLE] = "408 Request Timeout",
        [FAREWELL_SHUTDOWN] = "503 Service Unavailable",
        [FAREWELL_UNTRUSTED_PROXY] = "400 Bad Request",
        [FAREWELL_LINE_TOO_LONG] = "431 Request Header Fields Too Large",
        [FAREWELL_BANNED] = "403 Forbidden",
        [FAREWELL_TOO_MANY_ERRORS] = "400 Bad Request",
    };
    const char *status = (size_t)reason < sizeof statuses / sizeof statuses[0] && statuses[reason]
                             ? statuses[reason]
                             : "400 Bad Request";
    write_error(conn, status);
}

static void metrics_timer(void *session, struct conn *conn)
{
    (void)session;
    write_error(conn, "408 Request Timeout");
    conn_close(conn);
}

static void metrics_close(void *session, struct conn *conn)
{
    (void)session;
    (void)conn;
}

const struct service metrics_service = {
    .name = "metrics",
    .open = metrics_open,
    .input = metrics_input,
    .farewell = metrics_farewell,
    .close = metrics_close,
    .timer = metrics_timer,
};
