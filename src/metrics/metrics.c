/*
 * The metrics registry: a fixed table of families, each with a fixed array of atomic slots
 * (one per label value), and the Prometheus text rendering. Nothing here allocates except the
 * rendering buffer, and nothing takes a lock except adding a listener label value.
 */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "postern/proxy.h"
#include "version.h"

#define LISTENER_ID_MAX CONFIG_ID_MAX

typedef _Atomic int64_t metric_slot;

/* ---- label values ---- */

/* Listener ids, added at start or on first use; published with a release store. */
static char listener_ids[METRICS_MAX_LISTENERS][LISTENER_ID_MAX];
static atomic_size_t listener_count;
static pthread_mutex_t listener_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *listener_value(size_t i)
{
    return listener_ids[i];
}

/* Every proxy_error except PROXY_OK, by its stable name. */
static const char *reason_value(size_t i)
{
    return proxy_error_name((enum proxy_error)(i + 1));
}

static const char *const proxy_header_values[] = {"1 PROXY", "2 PROXY", "2 LOCAL"};
static const char *const missing_values[] = {"no_data", "incomplete"};
static const char *const secure_values[] = {"own", "proxy", "assumed"};
static const char *const protocol_values[] = {"smtp", "imap"};

/* ---- storage ---- */

static metric_slot accepted[METRICS_MAX_LISTENERS];
static metric_slot active[METRICS_MAX_LISTENERS];
static metric_slot proxy_headers[3];
static metric_slot proxy_invalid[PROXY_ERR__COUNT - 1];
static metric_slot proxy_missing[2];
static metric_slot proxy_timeouts[1];
static metric_slot proxy_untrusted[1];
static metric_slot sessions_secure[3];
static metric_slot auth_successes[2];
static metric_slot auth_failures[2];
static metric_slot bans_active[1];
static metric_slot delivered[1];
static metric_slot delivered_bytes[1];

struct family {
    const char *name;
    const char *type; /* "counter" or "gauge" */
    const char *help;
    const char *labels[2];           /* label names; values are space-separated in order */
    const char *const *values;       /* fixed label values, or NULL */
    const char *(*value_at)(size_t); /* computed label values, or NULL */
    size_t nvalues;                  /* fixed count; listener families use listener_count */
    bool per_listener;
    metric_slot *slots;
    int64_t (*callback)(void *ctx);
    void *callback_ctx;
};

#define FIXED(array) .values = array, .nvalues = sizeof array / sizeof array[0]

static struct family families[METRIC__COUNT] = {
    [METRIC_CONNECTIONS_ACCEPTED] = {
        "postern_connections_accepted_total", "counter",
        "Connections accepted, by listener (PROXY stage included).", {"listener"},
        .value_at = listener_value, .per_listener = true, .slots = accepted},
    [METRIC_CONNECTIONS_ACTIVE] = {
        "postern_connections_active", "gauge",
        "Connections open now, by listener.", {"listener"},
        .value_at = listener_value, .per_listener = true, .slots = active},
    [METRIC_PROXY_HEADERS] = {
        "postern_proxy_headers_total", "counter",
        "Valid PROXY headers from trusted peers, by version and command.",
        {"version", "command"}, FIXED(proxy_header_values), .slots = proxy_headers},
    [METRIC_PROXY_INVALID] = {
        "postern_proxy_invalid_total", "counter",
        "Invalid PROXY headers from trusted peers, by the rule they broke.", {"reason"},
        .value_at = reason_value, .nvalues = PROXY_ERR__COUNT - 1, .slots = proxy_invalid},
    [METRIC_PROXY_MISSING] = {
        "postern_proxy_missing_total", "counter",
        "Trusted peers that closed before completing a PROXY header.", {"reason"},
        FIXED(missing_values), .slots = proxy_missing},
    [METRIC_PROXY_TIMEOUTS] = {
        "postern_proxy_timeouts_total", "counter",
        "Trusted peers that sent no complete PROXY header within server.proxy.timeout.",
        {NULL}, .nvalues = 1, .slots = proxy_timeouts},
    [METRIC_PROXY_UNTRUSTED] = {
        "postern_proxy_untrusted_total", "counter",
        "PROXY headers refused because the peer is not in the listener's trusted networks.",
        {NULL}, .nvalues = 1, .slots = proxy_untrusted},
    [METRIC_SESSIONS_SECURE] = {
        "postern_sessions_secure_total", "counter",
        "Sessions that became secure, by where TLS ended: own, proxy (SSL TLV), assumed "
        "(proxy.assume-tls).", {"tls"}, FIXED(secure_values), .slots = sessions_secure},
    [METRIC_AUTH_SUCCESSES] = {
        "postern_auth_successes_total", "counter",
        "Successful logins, by protocol.", {"protocol"}, FIXED(protocol_values),
        .slots = auth_successes},
    [METRIC_AUTH_FAILURES] = {
        "postern_auth_failures_total", "counter",
        "Failed logins, by protocol.", {"protocol"}, FIXED(protocol_values),
        .slots = auth_failures},
    [METRIC_BANS_ACTIVE] = {
        "postern_bans_active", "gauge",
        "Clients banned right now (server.auto-ban).", {NULL}, .nvalues = 1,
        .slots = bans_active},
    [METRIC_MESSAGES_DELIVERED] = {
        "postern_messages_delivered_total", "counter",
        "Messages written durably into Maildirs.", {NULL}, .nvalues = 1, .slots = delivered},
    [METRIC_DELIVERED_BYTES] = {
        "postern_delivered_bytes_total", "counter",
        "Bytes of the messages delivered (each message counted once).", {NULL}, .nvalues = 1,
        .slots = delivered_bytes},
};

/* ---- the histogram ---- */

static const double delivery_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,      2.5,   5,    10};
#define DELIVERY_BUCKETS (sizeof delivery_bounds / sizeof delivery_bounds[0])

static metric_slot delivery_counts[DELIVERY_BUCKETS + 1]; /* per bucket, the last is +Inf */
static metric_slot delivery_sum_ns;

size_t metrics_delivery_buckets(const double **bounds)
{
    *bounds = delivery_bounds;
    return DELIVERY_BUCKETS;
}

void metrics_observe_delivery(double seconds)
{
    if (!(seconds > 0)) /* negative, zero or NaN */
        seconds = 0;
    if (seconds > 1e6) /* keeps the sum in range; such a value is a clock problem anyway */
        seconds = 1e6;
    size_t i = 0;
    while (i < DELIVERY_BUCKETS && seconds > delivery_bounds[i])
        i++;
    atomic_fetch_add_explicit(&delivery_counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&delivery_sum_ns, (int64_t)(seconds * 1e9), memory_order_relaxed);
}

/* ---- finding a slot ---- */

static bool listener_index(const char *id, bool add, size_t *index)
{
    if (!id || strlen(id) >= LISTENER_ID_MAX)
        return false;
    size_t n = atomic_load_explicit(&listener_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(listener_ids[i], id) == 0) {
            *index = i;
            return true;
        }
    }
    if (!add)
        return false;
    pthread_mutex_lock(&listener_lock);
    n = atomic_load_explicit(&listener_count, memory_order_relaxed);
    size_t i = 0;
    while (i < n && strcmp(listener_ids[i], id) != 0)
        i++;
    bool known = i < n;
    if (!known && n < METRICS_MAX_LISTENERS) {
        strcpy(listener_ids[n], id);
        atomic_store_explicit(&listener_count, n + 1, memory_order_release);
        known = true;
    }
    pthread_mutex_unlock(&listener_lock);
    *index = i;
    return known;
}

static metric_slot *slot_for(enum metric_id id, const char *label)
{
    if ((unsigned)id >= METRIC__COUNT)
        return NULL;
    struct family *f = &families[id];
    size_t index = 0;
    if (f->per_listener)
        return listener_index(label, true, &index) ? &f->slots[index] : NULL;
    if (!f->labels[0])
        return label ? NULL : &f->slots[0];
    if (!label)
        return NULL;
    for (size_t i = 0; i < f->nvalues; i++) {
        const char *value = f->values ? f->values[i] : f->value_at(i);
        if (strcmp(value, label) == 0)
            return &f->slots[i];
    }
    return NULL;
}

bool metrics_add(enum metric_id id, const char *label, uint64_t n)
{
    metric_slot *slot = slot_for(id, label);
    if (slot)
        atomic_fetch_add_explicit(slot, (int64_t)n, memory_order_relaxed);
    return slot != NULL;
}

bool metrics_count(enum metric_id id, const char *label)
{
    return metrics_add(id, label, 1);
}

bool metrics_gauge_add(enum metric_id id, const char *label, int64_t delta)
{
    metric_slot *slot = slot_for(id, label);
    if (slot)
        atomic_fetch_add_explicit(slot, delta, memory_order_relaxed);
    return slot != NULL;
}

bool metrics_gauge_set(enum metric_id id, const char *label, int64_t value)
{
    metric_slot *slot = slot_for(id, label);
    if (slot)
        atomic_store_explicit(slot, value, memory_order_relaxed);
    return slot != NULL;
}

static pthread_mutex_t callback_lock = PTHREAD_MUTEX_INITIALIZER;

void metrics_gauge_callback(enum metric_id id, int64_t (*fn)(void *ctx), void *ctx)
{
    if ((unsigned)id >= METRIC__COUNT)
        return;
    pthread_mutex_lock(&callback_lock);
    families[id].callback = fn;
    families[id].callback_ctx = ctx;
    pthread_mutex_unlock(&callback_lock);
}

bool metrics_register_listener(const char *id)
{
    return metrics_listener_series(id) >= 0;
}

int metrics_listener_series(const char *id)
{
    size_t index;
    return listener_index(id, true, &index) ? (int)index : -1;
}

/* ---- typed helpers ---- */

void metrics_listener_opened(int series)
{
    if (series < 0)
        return;
    atomic_fetch_add_explicit(&accepted[series], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&active[series], 1, memory_order_relaxed);
}

void metrics_listener_closed(int series)
{
    if (series >= 0)
        atomic_fetch_sub_explicit(&active[series], 1, memory_order_relaxed);
}

void metrics_connection_opened(const char *listener)
{
    metrics_listener_opened(metrics_listener_series(listener));
}

void metrics_connection_closed(const char *listener)
{
    size_t i;
    if (listener_index(listener, false, &i))
        metrics_listener_closed((int)i);
}

void metrics_proxy_header(unsigned version, unsigned command)
{
    size_t i = version == 1 ? 0 : command == PROXY_CMD_LOCAL ? 2 : 1;
    if (version == 1 || version == 2)
        atomic_fetch_add_explicit(&proxy_headers[i], 1, memory_order_relaxed);
}

void metrics_delivered(uint64_t size, double seconds)
{
    atomic_fetch_add_explicit(&delivered[0], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&delivered_bytes[0], (int64_t)size, memory_order_relaxed);
    metrics_observe_delivery(seconds);
}

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- rendering ---- */

/* Label values are escaped as the text format requires: backslash, quote, newline. */
static void append_escaped(struct strbuf *out, const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\\')
            strbuf_append(out, "\\\\", 2);
        else if (c == '"')
            strbuf_append(out, "\\\"", 2);
        else if (c == '\n')
            strbuf_append(out, "\\n", 2);
        else
            strbuf_append(out, &c, 1);
    }
}

/* {a="x",b="y"} from the label names and a space-separated value. */
static void append_labels(struct strbuf *out, const struct family *f, const char *value)
{
    const char *space = f->labels[1] ? strchr(value, ' ') : NULL;
    size_t first = space ? (size_t)(space - value) : strlen(value);
    strbuf_printf(out, "{%s=\"", f->labels[0]);
    append_escaped(out, value, first);
    if (space) {
        strbuf_printf(out, "\",%s=\"", f->labels[1]);
        append_escaped(out, space + 1, strlen(space + 1));
    }
    strbuf_append(out, "\"}", 2);
}

static void render_family(struct strbuf *out, struct family *f)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    if (!f->labels[0]) {
        pthread_mutex_lock(&callback_lock);
        int64_t value = f->callback ? f->callback(f->callback_ctx)
                                    : atomic_load_explicit(&f->slots[0], memory_order_relaxed);
        pthread_mutex_unlock(&callback_lock);
        strbuf_printf(out, "%s %lld\n", f->name, (long long)value);
        return;
    }
    size_t n = f->per_listener ? atomic_load_explicit(&listener_count, memory_order_acquire)
                               : f->nvalues;
    for (size_t i = 0; i < n; i++) {
        strbuf_append_str(out, f->name);
        append_labels(out, f, f->values ? f->values[i] : f->value_at(i));
        strbuf_printf(out, " %lld\n",
                      (long long)atomic_load_explicit(&f->slots[i], memory_order_relaxed));
    }
}

static void render_histogram(struct strbuf *out)
{
    static const char name[] = "postern_delivery_duration_seconds";
    strbuf_printf(out, "# HELP %s Time from the end of a message to its durable delivery "
                       "(fsyncs included).\n# TYPE %s histogram\n", name, name);
    int64_t cumulative = 0;
    for (size_t i = 0; i <= DELIVERY_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&delivery_counts[i], memory_order_relaxed);
        if (i < DELIVERY_BUCKETS)
            strbuf_printf(out, "%s_bucket{le=\"%g\"} %lld\n", name, delivery_bounds[i],
                          (long long)cumulative);
        else
            strbuf_printf(out, "%s_bucket{le=\"+Inf\"} %lld\n", name, (long long)cumulative);
    }
    double sum = (double)atomic_load_explicit(&delivery_sum_ns, memory_order_relaxed) / 1e9;
    strbuf_printf(out, "%s_sum %.9g\n%s_count %lld\n", name, sum, name, (long long)cumulative);
}

bool metrics_render(struct strbuf *out)
{
    strbuf_append_str(out, "# HELP postern_build_info The running postern's version.\n"
                           "# TYPE postern_build_info gauge\n");
    strbuf_append_str(out, "postern_build_info{version=\"");
    append_escaped(out, POSTERN_VERSION, strlen(POSTERN_VERSION));
    strbuf_append_str(out, "\"} 1\n");
    for (size_t i = 0; i < METRIC__COUNT; i++)
        render_family(out, &families[i]);
    render_histogram(out);
    return !out->failed;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&listener_lock);
    atomic_store(&listener_count, 0);
    memset(listener_ids, 0, sizeof listener_ids);
    pthread_mutex_unlock(&listener_lock);
    for (size_t i = 0; i < METRIC__COUNT; i++) {
        struct family *f = &families[i];
        size_t n = f->per_listener ? METRICS_MAX_LISTENERS : f->nvalues;
        for (size_t k = 0; k < n; k++)
            atomic_store(&f->slots[k], 0);
        metrics_gauge_callback((enum metric_id)i, NULL, NULL);
    }
    for (size_t i = 0; i <= DELIVERY_BUCKETS; i++)
        atomic_store(&delivery_counts[i], 0);
    atomic_store(&delivery_sum_ns, 0);
}
