/*
 * Metrics: counters and gauges by label value, unknown label values refused, listener ids
 * added on first use and capped, label escaping, the delivery histogram (cumulative buckets,
 * sum, count), gauge callbacks, exact totals from concurrent threads, the text format line by
 * line, and the HTTP responder (200/404/405/400/431, HEAD, incomplete requests).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/metrics_http.h"
#include "postern/proxy.h"
#include "version.h"

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

/* The rendered exposition, NUL-terminated; the caller frees it. */
static char *render(void)
{
    struct strbuf sb = {0};
    assert_true(metrics_render(&sb));
    assert_non_null(sb.data);
    return sb.data;
}

static void expect_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return;
    }
    fail_msg("expected the line\n  %s\nin\n%s", line, text);
}

static void expect_no_text(const char *text, const char *needle)
{
    if (strstr(text, needle))
        fail_msg("did not expect\n  %s\nin\n%s", needle, text);
}

/* Every line is a comment (# HELP / # TYPE) or "name[{labels}] value": the text format. */
static void expect_valid_format(const char *text)
{
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        size_t len = (size_t)(end - line);
        char buf[1024];
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (buf[0] == '#') {
            if (strncmp(buf, "# HELP postern_", 15) != 0 && strncmp(buf, "# TYPE postern_", 15) != 0)
                fail_msg("bad comment line: %s", buf);
        } else {
            size_t name = strspn(buf, "abcdefghijklmnopqrstuvwxyz_");
            if (name == 0 || strncmp(buf, "postern_", 8) != 0)
                fail_msg("bad sample name: %s", buf);
            const char *rest = buf + name;
            if (*rest == '{') {
                const char *close = strstr(rest, "} ");
                if (!close)
                    fail_msg("unterminated labels: %s", buf);
                rest = close + 1;
            }
            char *after = NULL;
            if (*rest != ' ' || (strtod(rest + 1, &after), *after != '\0'))
                fail_msg("bad value: %s", buf);
        }
        line = end + 1;
    }
}

static void test_empty_exposition(void **state)
{
    (void)state;
    char *text = render();
    expect_valid_format(text);
    expect_line(text, "# TYPE postern_connections_accepted_total counter");
    expect_line(text, "# TYPE postern_connections_active gauge");
    expect_line(text, "postern_proxy_headers_total{version=\"1\",command=\"PROXY\"} 0");
    expect_line(text, "postern_proxy_headers_total{version=\"2\",command=\"PROXY\"} 0");
    expect_line(text, "postern_proxy_headers_total{version=\"2\",command=\"LOCAL\"} 0");
    expect_line(text, "postern_proxy_timeouts_total 0");
    expect_line(text, "postern_proxy_untrusted_total 0");
    expect_line(text, "postern_sessions_secure_total{tls=\"assumed\"} 0");
    expect_line(text, "postern_auth_failures_total{protocol=\"imap\"} 0");
    expect_line(text, "# TYPE postern_bans_active gauge");
    expect_line(text, "postern_bans_active 0");
    expect_line(text, "postern_messages_delivered_total 0");
    expect_line(text, "# TYPE postern_delivery_duration_seconds histogram");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"+Inf\"} 0");
    expect_line(text, "postern_delivery_duration_seconds_count 0");
    expect_line(text, "postern_build_info{version=\"" POSTERN_VERSION "\"} 1");
    /* no listener is known yet: the family is declared, with no samples */
    expect_no_text(text, "postern_connections_accepted_total{");
    free(text);
}

static void test_every_invalid_reason(void **state)
{
    (void)state;
    for (int e = 1; e < PROXY_ERR__COUNT; e++)
        assert_true(metrics_count(METRIC_PROXY_INVALID, proxy_error_name((enum proxy_error)e)));
    assert_true(metrics_count(METRIC_PROXY_INVALID, "v2_crc32c"));
    assert_false(metrics_count(METRIC_PROXY_INVALID, "ok"));
    assert_false(metrics_count(METRIC_PROXY_INVALID, "unknown"));
    char *text = render();
    for (int e = 1; e < PROXY_ERR__COUNT; e++) {
        char line[128];
        snprintf(line, sizeof line, "postern_proxy_invalid_total{reason=\"%s\"} %d",
                 proxy_error_name((enum proxy_error)e), e == PROXY_ERR_V2_CRC32C ? 2 : 1);
        expect_line(text, line);
    }
    free(text);
}

static void test_labels_are_checked(void **state)
{
    (void)state;
    assert_true(metrics_count(METRIC_SESSIONS_SECURE, "own"));
    assert_true(metrics_count(METRIC_SESSIONS_SECURE, "proxy"));
    assert_true(metrics_count(METRIC_SESSIONS_SECURE, "proxy"));
    assert_false(metrics_count(METRIC_SESSIONS_SECURE, "Own"));
    assert_false(metrics_count(METRIC_SESSIONS_SECURE, NULL));
    assert_false(metrics_count(METRIC_PROXY_TIMEOUTS, "x"));      /* unlabelled */
    assert_true(metrics_count(METRIC_PROXY_TIMEOUTS, NULL));
    assert_true(metrics_count(METRIC_AUTH_FAILURES, "smtp"));
    assert_false(metrics_count(METRIC_AUTH_FAILURES, "pop3"));
    assert_true(metrics_count(METRIC_PROXY_MISSING, "no_data"));
    assert_true(metrics_count(METRIC_PROXY_HEADERS, "2 LOCAL"));
    assert_false(metrics_count(METRIC_PROXY_HEADERS, "3 PROXY"));
    assert_false(metrics_count((enum metric_id)METRIC__COUNT, NULL));
    assert_true(metrics_add(METRIC_DELIVERED_BYTES, NULL, 1000));
    char *text = render();
    expect_line(text, "postern_sessions_secure_total{tls=\"own\"} 1");
    expect_line(text, "postern_sessions_secure_total{tls=\"proxy\"} 2");
    expect_line(text, "postern_sessions_secure_total{tls=\"assumed\"} 0");
    expect_line(text, "postern_proxy_timeouts_total 1");
    expect_line(text, "postern_auth_failures_total{protocol=\"smtp\"} 1");
    expect_line(text, "postern_auth_successes_total{protocol=\"smtp\"} 0");
    expect_line(text, "postern_proxy_missing_total{reason=\"no_data\"} 1");
    expect_line(text, "postern_proxy_headers_total{version=\"2\",command=\"LOCAL\"} 1");
    expect_line(text, "postern_delivered_bytes_total 1000");
    free(text);
}

static void test_proxy_header_helper(void **state)
{
    (void)state;
    metrics_proxy_header(1, PROXY_CMD_PROXY);
    metrics_proxy_header(2, PROXY_CMD_PROXY);
    metrics_proxy_header(2, PROXY_CMD_PROXY);
    metrics_proxy_header(2, PROXY_CMD_LOCAL);
    metrics_proxy_header(3, PROXY_CMD_PROXY); /* not a version: ignored */
    char *text = render();
    expect_line(text, "postern_proxy_headers_total{version=\"1\",command=\"PROXY\"} 1");
    expect_line(text, "postern_proxy_headers_total{version=\"2\",command=\"PROXY\"} 2");
    expect_line(text, "postern_proxy_headers_total{version=\"2\",command=\"LOCAL\"} 1");
    free(text);
}

static void test_listeners(void **state)
{
    (void)state;
    assert_true(metrics_register_listener("smtp"));
    assert_true(metrics_register_listener("smtp")); /* again: the same series */
    assert_true(metrics_register_listener("imap"));
    metrics_connection_opened("smtp");
    metrics_connection_opened("smtp");
    metrics_connection_opened("submission"); /* not registered: added on first use */
    metrics_connection_closed("smtp");
    metrics_connection_closed("nobody");     /* unknown: nothing happens */
    assert_true(metrics_gauge_add(METRIC_CONNECTIONS_ACTIVE, "imap", 3));
    assert_true(metrics_gauge_set(METRIC_CONNECTIONS_ACTIVE, "imap", 1));
    char *text = render();
    expect_valid_format(text);
    expect_line(text, "postern_connections_accepted_total{listener=\"smtp\"} 2");
    expect_line(text, "postern_connections_active{listener=\"smtp\"} 1");
    expect_line(text, "postern_connections_accepted_total{listener=\"imap\"} 0");
    expect_line(text, "postern_connections_active{listener=\"imap\"} 1");
    expect_line(text, "postern_connections_accepted_total{listener=\"submission\"} 1");
    expect_no_text(text, "nobody");
    /* registration order is rendering order */
    assert_true(strstr(text, "listener=\"smtp\"") < strstr(text, "listener=\"imap\""));
    free(text);
}

static void test_listener_cap_and_long_ids(void **state)
{
    (void)state;
    for (int i = 0; i < METRICS_MAX_LISTENERS; i++) {
        char id[32];
        snprintf(id, sizeof id, "l%d", i);
        assert_true(metrics_register_listener(id));
    }
    assert_false(metrics_register_listener("one-too-many"));
    assert_false(metrics_count(METRIC_CONNECTIONS_ACCEPTED, "one-too-many"));
    assert_true(metrics_count(METRIC_CONNECTIONS_ACCEPTED, "l255"));
    metrics_reset();
    char long_id[100];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_false(metrics_register_listener(long_id));
    assert_false(metrics_register_listener(NULL));
}

static void test_label_escaping(void **state)
{
    (void)state;
    assert_true(metrics_register_listener("a\"b\\c\nd"));
    char *text = render();
    expect_line(text, "postern_connections_accepted_total{listener=\"a\\\"b\\\\c\\nd\"} 0");
    expect_valid_format(text);
    free(text);
}

static void test_histogram(void **state)
{
    (void)state;
    const double *bounds;
    size_t n = metrics_delivery_buckets(&bounds);
    assert_true(n >= 10);
    for (size_t i = 1; i < n; i++)
        assert_true(bounds[i] > bounds[i - 1]);
    metrics_observe_delivery(0.003);   /* le 0.005 */
    metrics_observe_delivery(0.005);   /* le 0.005: bounds are inclusive */
    metrics_observe_delivery(0.02);    /* le 0.025 */
    metrics_observe_delivery(20);      /* +Inf only */
    metrics_observe_delivery(-1);      /* a clock step: counted as 0 */
    metrics_observe_delivery(NAN);
    metrics_delivered(500, 0.5);       /* counter, bytes and the histogram */
    char *text = render();
    expect_valid_format(text);
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"0.001\"} 2");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"0.0025\"} 2");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"0.005\"} 4");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"0.01\"} 4");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"0.025\"} 5");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"0.5\"} 6");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"10\"} 6");
    expect_line(text, "postern_delivery_duration_seconds_bucket{le=\"+Inf\"} 7");
    expect_line(text, "postern_delivery_duration_seconds_count 7");
    expect_line(text, "postern_delivery_duration_seconds_sum 20.528");
    expect_line(text, "postern_messages_delivered_total 1");
    expect_line(text, "postern_delivered_bytes_total 500");
    free(text);
}

static int64_t forty_two(void *ctx)
{
    return *(int *)ctx + 40;
}

static void test_gauge_callback(void **state)
{
    (void)state;
    static int two = 2;
    assert_true(metrics_gauge_set(METRIC_BANS_ACTIVE, NULL, 7));
    char *text = render();
    expect_line(text, "postern_bans_active 7");
    free(text);
    metrics_gauge_callback(METRIC_BANS_ACTIVE, forty_two, &two);
    text = render();
    expect_line(text, "postern_bans_active 42");
    free(text);
    metrics_gauge_callback(METRIC_BANS_ACTIVE, NULL, NULL);
    text = render();
    expect_line(text, "postern_bans_active 7");
    free(text);
}

#define THREADS 8
#define ROUNDS 20000

static void *hammer(void *arg)
{
    const char *id = arg;
    for (int i = 0; i < ROUNDS; i++) {
        metrics_connection_opened(id);
        metrics_count(METRIC_PROXY_INVALID, "v1_src_addr");
        metrics_observe_delivery(0.001);
        metrics_connection_closed(id);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t threads[THREADS];
    static const char *const ids[] = {"a", "b"};
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, (void *)ids[i % 2]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    char *text = render();
    char line[128];
    snprintf(line, sizeof line, "postern_connections_accepted_total{listener=\"a\"} %d",
             THREADS / 2 * ROUNDS);
    expect_line(text, line);
    expect_line(text, "postern_connections_active{listener=\"a\"} 0");
    expect_line(text, "postern_connections_active{listener=\"b\"} 0");
    snprintf(line, sizeof line, "postern_proxy_invalid_total{reason=\"v1_src_addr\"} %d",
             THREADS * ROUNDS);
    expect_line(text, line);
    snprintf(line, sizeof line, "postern_delivery_duration_seconds_count %d", THREADS * ROUNDS);
    expect_line(text, line);
    free(text);
}

/* ---- HTTP ---- */

struct response {
    enum metrics_request_status status;
    size_t used;
    char *text;
};

static struct response ask(const char *request)
{
    struct strbuf out = {0};
    struct response r;
    r.status = metrics_http_respond((const uint8_t *)request, strlen(request), &out, &r.used);
    r.text = out.data ? out.data : strdup("");
    return r;
}

static void expect_status(const char *request, const char *status_line)
{
    struct response r = ask(request);
    assert_int_equal(r.status, METRICS_REQUEST_DONE);
    if (strncmp(r.text, status_line, strlen(status_line)) != 0)
        fail_msg("request %s: expected %s, got\n%s", request, status_line, r.text);
    assert_non_null(strstr(r.text, "\r\nConnection: close\r\n"));
    free(r.text);
}

static void test_http_get_metrics(void **state)
{
    (void)state;
    metrics_count(METRIC_PROXY_TIMEOUTS, NULL);
    struct response r = ask("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
    assert_int_equal(r.status, METRICS_REQUEST_DONE);
    assert_int_equal(r.used, strlen("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"));
    assert_true(strncmp(r.text, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(r.text, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    const char *body = strstr(r.text, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    size_t length = 0;
    const char *cl = strstr(r.text, "Content-Length: ");
    assert_non_null(cl);
    length = strtoul(cl + 16, NULL, 10);
    assert_int_equal(length, strlen(body));
    expect_line(body, "postern_proxy_timeouts_total 1");
    expect_valid_format(body);
    free(r.text);

    /* HTTP/1.0, bare LF, a query string */
    r = ask("GET /metrics?x=1 HTTP/1.0\n\n");
    assert_true(strncmp(r.text, "HTTP/1.1 200 OK\r\n", 17) == 0);
    free(r.text);
    /* HEAD: the headers only */
    r = ask("HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_true(strncmp(r.text, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_string_equal(strstr(r.text, "\r\n\r\n"), "\r\n\r\n");
    free(r.text);
}

static void test_http_errors(void **state)
{
    (void)state;
    expect_status("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n");
    expect_status("GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n");
    expect_status("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                  "HTTP/1.1 405 Method Not Allowed\r\nContent-Type");
    struct response r = ask("DELETE /metrics HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r.text, "\r\nAllow: GET, HEAD\r\n"));
    free(r.text);
    /* malformed request lines answer at once, without waiting for the headers */
    expect_status("EHLO me\r\n", "HTTP/1.1 400 Bad Request\r\n");
    expect_status("GET /metrics HTTP/2.0\r\n", "HTTP/1.1 400 Bad Request\r\n");
    expect_status("GET  /metrics HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\n");
    expect_status("get /metrics HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\n");
    expect_status("GET /metrics\r\n", "HTTP/1.1 400 Bad Request\r\n");
    expect_status("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", "HTTP/1.1 400 Bad Request\r\n");
    struct strbuf out = {0};
    size_t used;
    static const uint8_t nul[] = "GET /metrics\0 HTTP/1.1\r\n\r\n";
    assert_int_equal(metrics_http_respond(nul, sizeof nul - 1, &out, &used),
                     METRICS_REQUEST_DONE);
    assert_true(strncmp(out.data, "HTTP/1.1 400 ", 13) == 0);
    strbuf_free(&out);
}

static void test_http_incomplete_and_too_large(void **state)
{
    (void)state;
    struct response r = ask("GET /metr");
    assert_int_equal(r.status, METRICS_REQUEST_INCOMPLETE);
    free(r.text);
    r = ask("GET /metrics HTTP/1.1\r\nHost: x\r\n");
    assert_int_equal(r.status, METRICS_REQUEST_INCOMPLETE);
    free(r.text);
    size_t big = METRICS_REQUEST_MAX + 10;
    char *request = malloc(big + 1);
    assert_non_null(request);
    strcpy(request, "GET /metrics HTTP/1.1\r\nX-Long: ");
    size_t used = strlen(request);
    memset(request + used, 'a', big - used);
    request[big] = '\0';
    expect_status(request, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
    /* the blank line only after the limit: still too large */
    memcpy(request + big - 4, "\r\n\r\n", 4);
    expect_status(request, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
    free(request);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_empty_exposition, reset),
        cmocka_unit_test_setup(test_every_invalid_reason, reset),
        cmocka_unit_test_setup(test_labels_are_checked, reset),
        cmocka_unit_test_setup(test_proxy_header_helper, reset),
        cmocka_unit_test_setup(test_listeners, reset),
        cmocka_unit_test_setup(test_listener_cap_and_long_ids, reset),
        cmocka_unit_test_setup(test_label_escaping, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_gauge_callback, reset),
        cmocka_unit_test_setup(test_threads, reset),
        cmocka_unit_test_setup(test_http_get_metrics, reset),
        cmocka_unit_test_setup(test_http_errors, reset),
        cmocka_unit_test_setup(test_http_incomplete_and_too_large, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
