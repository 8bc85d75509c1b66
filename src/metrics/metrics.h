/*
 * Process-wide metrics: counters, gauges and one latency histogram, rendered in the Prometheus
 * text format (version 0.0.4) by the "metrics" listener (metrics_http.c).
 *
 * Every update is a relaxed atomic operation on a fixed slot: lock-free, allocation-free and
 * safe from any worker thread. Each metric has at most one label dimension with a small fixed
 * set of values (listener ids are added at start, or on first use), so a scrape is bounded.
 *
 *   metrics_count(METRIC_PROXY_INVALID, proxy_error_name(hdr.error));
 *   metrics_count(METRIC_CONNECTIONS_ACCEPTED, listener->config->id);
 *   metrics_observe_delivery(seconds);
 *
 * A label value that a metric does not know is not counted (the call returns false), so a
 * typo shows up in the unit tests instead of as a stray series.
 */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* Most listener label values (the configuration's own limit). */
#define METRICS_MAX_LISTENERS 256

enum metric_id {
    /* counter postern_connections_accepted_total{listener}: every accepted socket */
    METRIC_CONNECTIONS_ACCEPTED,
    /* gauge postern_connections_active{listener}: accepted and not yet closed */
    METRIC_CONNECTIONS_ACTIVE,
    /* counter postern_proxy_headers_total{version,command}: valid headers from trusted
     * peers; label values "1 PROXY", "2 PROXY", "2 LOCAL" (or metrics_proxy_header()) */
    METRIC_PROXY_HEADERS,
    /* counter postern_proxy_invalid_total{reason}: reason = proxy_error_name() */
    METRIC_PROXY_INVALID,
    /* counter postern_proxy_missing_total{reason}: "no_data" / "incomplete" (the trusted
     * peer closed before completing its header: usually a health check) */
    METRIC_PROXY_MISSING,
    /* counter postern_proxy_timeouts_total: no complete header within server.proxy.timeout */
    METRIC_PROXY_TIMEOUTS,
    /* counter postern_proxy_untrusted_total: a PROXY header from a peer outside the
     * listener's trusted networks */
    METRIC_PROXY_UNTRUSTED,
    /* counter postern_sessions_secure_total{tls}: "own" (postern's TLS: implicit or
     * STARTTLS), "proxy" (SSL TLV), "assumed" (proxy.assume-tls) */
    METRIC_SESSIONS_SECURE,
    /* counter postern_auth_successes_total{protocol}: "smtp", "imap" */
    METRIC_AUTH_SUCCESSES,
    /* counter postern_auth_failures_total{protocol}: "smtp", "imap" */
    METRIC_AUTH_FAILURES,
    /* gauge postern_bans_active: clients banned right now (metrics_gauge_callback) */
    METRIC_BANS_ACTIVE,
    /* counter postern_messages_delivered_total: messages written into Maildirs */
    METRIC_MESSAGES_DELIVERED,
    /* counter postern_delivered_bytes_total: their size (as received, per message) */
    METRIC_DELIVERED_BYTES,
    METRIC__COUNT
};

/* Adds 1 to a counter (or a gauge). label: the label value, NULL for unlabelled metrics.
 * False (nothing counted) when the metric has no such label value. */
bool metrics_count(enum metric_id id, const char *label);
/* Adds n to a counter. */
bool metrics_add(enum metric_id id, const char *label, uint64_t n);
/* Moves a gauge up or down. */
bool metrics_gauge_add(enum metric_id id, const char *label, int64_t delta);
/* Sets a gauge. */
bool metrics_gauge_set(enum metric_id id, const char *label, int64_t value);
/* An unlabelled gauge read at each scrape instead of stored, e.g. bans from the client table.
 * fn runs on the scraping worker's thread; NULL removes it (the gauge then shows its stored
 * value). Set it before workers start and clear it before ctx is freed. */
void metrics_gauge_callback(enum metric_id id, int64_t (*fn)(void *ctx), void *ctx);

/* Adds a listener label value so its series show 0 before any traffic. Ids not registered
 * are added on first use; past METRICS_MAX_LISTENERS they are not counted. Thread-safe. */
bool metrics_register_listener(const char *id);
/* The same, returning the listener's series index (-1 when it cannot be counted): the core
 * resolves it once per listener and counts connections by index, with no lookup per
 * connection. */
int metrics_listener_series(const char *id);

/* Typed helpers for the events the core reports. */
void metrics_listener_opened(int series); /* accepted +1, active +1; -1 is ignored */
void metrics_listener_closed(int series); /* active -1; -1 is ignored */
void metrics_connection_opened(const char *listener); /* by id: looks the series up */
void metrics_connection_closed(const char *listener);
/* version 1 or 2; command: 0 LOCAL, 1 PROXY (enum proxy_command). */
void metrics_proxy_header(unsigned version, unsigned command);

/* Delivery latency histogram postern_delivery_duration_seconds (from the end of the message
 * to the durable write, fsyncs included). Negative or NaN values count as 0. */
void metrics_observe_delivery(double seconds);
/* One delivered message: delivered +1, bytes +size, latency observed. */
void metrics_delivered(uint64_t size, double seconds);

/* The whole exposition (text format 0.0.4). False when out of memory (sb->failed). */
bool metrics_render(struct strbuf *out);

/* The number of buckets (without +Inf) and their upper bounds in seconds. */
size_t metrics_delivery_buckets(const double **bounds);

/* Seconds on the monotonic clock, for measuring latencies. */
double metrics_now(void);

/* Tests only: every value back to 0, listeners and callbacks forgotten. */
void metrics_reset(void);

#endif
