/*
 * The "metrics" listener protocol: one HTTP/1.0 or 1.1 request per connection.
 * GET (or HEAD) /metrics answers 200 with the Prometheus text exposition (metrics.h); other
 * paths 404, other methods 405, malformed requests 400, requests over METRICS_REQUEST_MAX
 * bytes 431, no complete request within METRICS_REQUEST_TIMEOUT_MS 408. Then it closes.
 */
#ifndef POSTERN_METRICS_HTTP_H
#define POSTERN_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "net/service.h"
#include "util/strbuf.h"

#define METRICS_REQUEST_MAX 4096
#define METRICS_REQUEST_TIMEOUT_MS 10000

extern const struct service metrics_service;

/* The request parser, separate from the socket for tests. */
enum metrics_request_status {
    METRICS_REQUEST_INCOMPLETE, /* no blank line yet, and still under the size limit */
    METRICS_REQUEST_DONE,       /* *used bytes were the request; the response is in out */
};

/* Builds the whole response (status line, headers and, except for HEAD, the body) for the
 * request at data[0..len). */
enum metrics_request_status metrics_http_respond(const uint8_t *data, size_t len,
                                                 struct strbuf *out, size_t *used);

#endif
