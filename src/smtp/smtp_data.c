/*
 * Message transfer and delivery: DATA (dot-unstuffed, ended only by CRLF.CRLF), BDAT chunks
 * (exact octet counts across reads), the Received header, and Maildir delivery.
 *
 * The message grows in one buffer that never exceeds session.data.limits.size: once the
 * limit is passed the buffer is freed and the rest is read and dropped, so the 552 comes
 * after the client finished sending (it would not read a reply earlier) and memory stays
 * bounded. Delivery runs on an I/O thread (net/offload.h): its fsyncs never stall the worker's
 * other sessions, and concurrent deliveries share journal commits; the session holds further
 * input until the 250 (or 451) is sent.
 *
 * Decisions where RFC 5321 leaves room, both rejecting the whole message after its end:
 *  - a text line over 1000 octets (4.5.3.1.6) is answered "500 5.5.2" (4.5.3.1.10's "line too
 *    long"), never truncated;
 *  - a bare CR or LF (2.3.8) is answered "550 5.6.0": such lines are how SMTP smuggling hides
 *    a second message, and no conforming client sends them.
 * BDAT data is taken as sent (RFC 3030: chunks are octets, BINARYMIME may be binary).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "net/offload.h"
#include "smtp/smtp_internal.h"
#include "store/maildir.h"

#define RECEIVED_MAX 1536 /* the Received header: two names of 255, TLS facts, the date */

void smtp_txn_free(struct smtp_txn *txn)
{
    if (!txn)
        return;
    free(txn->from);
    free(txn->accounts);
    free(txn->msg);
    free(txn);
}

/* ---- storing message text, within the size limit ---- */

static void drop_text(struct smtp_txn *txn)
{
    free(txn->msg);
    txn->msg = NULL;
    txn->msg_len = txn->msg_cap = 0;
}

/* Grows the buffer by doubling, never past max (0: no limit); need <= max holds. */
static bool reserve_text(struct smtp_txn *txn, size_t need, uint64_t max)
{
    if (need <= txn->msg_cap)
        return true;
    size_t cap = txn->msg_cap ? txn->msg_cap : SMTP_MESSAGE_INITIAL;
    while (cap < need)
        cap *= 2;
    if (max && cap > max)
        cap = (size_t)max;
    uint8_t *grown = realloc(txn->msg, cap);
    if (!grown)
        return false;
    txn->msg = grown;
    txn->msg_cap = cap;
    return true;
}

static void store_text(struct smtp_session *s, const uint8_t *text, size_t len)
{
    struct smtp_txn *txn = s->txn;
    uint64_t max = s->config->smtp.max_message_size;
    txn->received += len;
    if (txn->too_large || txn->out_of_memory || len == 0)
        return;
    if (max && txn->received > max) {
        txn->too_large = true;
        drop_text(txn);
        return;
    }
    if (!reserve_text(txn, txn->msg_len + len, max)) {
        txn->out_of_memory = true;
        drop_text(txn);
        return;
    }
    memcpy(txn->msg + txn->msg_len, text, len);
    txn->msg_len += len;
}

/* ---- the Received header ---- */

/* RFC 3848: ESMTP, plus S for TLS (own, at the proxy, or assumed), plus A for AUTH. */
static const char *protocol_name(const struct smtp_session *s, const struct conn *conn)
{
    static const char *const names[] = {"ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"};
    bool secure = smtp_is_secure(conn);
    if (!s->extended && !secure)
        return "SMTP"; /* HELO: RFC 5321 4.4 */
    return names[(secure ? 1 : 0) + (s->account ? 2 : 0)];
}

/* RFC 5322 3.3 date-time in UTC, independent of the locale. */
static void format_date(time_t now, char *out, size_t cap)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(out, cap, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The client as an RFC 5321 address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
static void client_literal(const struct conn *conn, char *out, size_t cap)
{
    bool v6 = conn->info.client.ss_family == AF_INET6;
    snprintf(out, cap, "[%s%s]", v6 ? "IPv6:" : "", conn->info.client_ip);
}

/* Appends one folded comment line "\r\n\t(...)" when text is not empty. */
static size_t fold_comment(char *out, size_t cap, size_t len, const char *text)
{
    if (!text[0] || len >= cap)
        return len;
    int n = snprintf(out + len, cap - len, "\r\n\t(%s)", text);
    return n < 0 || (size_t)n >= cap - len ? len : len + (size_t)n;
}

static size_t build_received(const struct smtp_session *s, const struct conn *conn,
                             const char *queue_id, char *out, size_t cap)
{
    const struct tls_facts *tls = &conn->info.tls;
    char literal[PROXY_IP_TEXT_MAX + 8], date[64], tls_text[160] = "", via[96] = "";
    client_literal(conn, literal, sizeof literal);
    format_date(time(NULL), date, sizeof date);
    if (tls->version[0] && tls->cipher[0])
        snprintf(tls_text, sizeof tls_text, "version=%s cipher=%s", tls->version, tls->cipher);
    else if (tls->version[0] || tls->cipher[0])
        snprintf(tls_text, sizeof tls_text, "%s=%s", tls->version[0] ? "version" : "cipher",
                 tls->version[0] ? tls->version : tls->cipher);
    if (conn->info.proxied) {
        char ip[PROXY_IP_TEXT_MAX];
        sockaddr_format(&conn->info.peer, NULL, ip);
        snprintf(via, sizeof via, "via proxy %s", ip);
    }
    int n = snprintf(out, cap, "Received: from %s (%s)\r\n\tby %s (postern) with %s id %s",
                     s->helo ? s->helo : "unknown", literal, s->config->hostname,
                     protocol_name(s, conn), queue_id);
    size_t len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    len = fold_comment(out, cap, len, tls_text);
    len = fold_comment(out, cap, len, via);
    n = snprintf(out + len, cap - len, ";\r\n\t%s\r\n", date);
    if (n < 0 || (size_t)n >= cap - len)
        return 0;
    return len + (size_t)n;
}

/* Unique per process and over restarts: microseconds since the epoch, then a counter. */
static void make_queue_id(char out[SMTP_QUEUE_ID_MAX])
{
    static atomic_uint counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000u +
                              (unsigned long long)ts.tv_nsec / 1000u;
    unsigned n = atomic_fetch_add(&counter, 1) & 0xFFFFu;
    snprintf(out, SMTP_QUEUE_ID_MAX, "%013llX%04X", usec, n);
}

/* ---- delivery ---- */

/* A message on its way to disk: owned by the job from hand-off to completion. */
struct delivery {
    struct offload_job job;
    struct smtp_session *session;
    struct smtp_txn *txn;
    const char *data_dir;
    const char **names;
    char queue_id[SMTP_QUEUE_ID_MAX];
    char header[RECEIVED_MAX];
    size_t header_len;
    int result;
    char err[256];
    double started; /* metrics_now() when the message was complete */
};

static void log_delivered(const struct smtp_session *s, const struct conn *conn,
                          const struct delivery *d)
{
    char accounts[512];
    size_t len = 0;
    const struct smtp_txn *txn = d->txn;
    accounts[0] = '\0';
    for (uint32_t i = 0; i < txn->naccounts && len < sizeof accounts; i++) {
        int n = snprintf(accounts + len, sizeof accounts - len, "%s%s", i ? "," : "",
                         d->names[i]);
        len = n < 0 ? len : len + (size_t)n;
    }
    struct log_line line;
    conn_log_begin(conn, &line, LOG_INFO, "delivered");
    log_str(&line, "queue_id", d->queue_id);
    log_uint(&line, "size", txn->msg_len);
    log_str(&line, "from", txn->from);
    log_uint(&line, "rcpts", txn->nrcpt);
    log_str(&line, "accounts", accounts);
    if (s->account)
        log_str(&line, "login", s->account->name);
    log_end(&line);
}

static void delivery_failed(struct conn *conn, const char *queue_id, const char *error)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_ERROR, "delivery_failed");
    log_str(&line, "queue_id", queue_id);
    log_str(&line, "error", error);
    log_end(&line);
    smtp_reply(conn, "451 4.3.0 local delivery failed, try again later");
}

static void delivery_free(struct delivery *d)
{
    smtp_txn_free(d->txn);
    free(d->names);
    free(d);
}

/* On an I/O thread: the only step that waits for the disk. */
static void delivery_work(struct offload_job *job)
{
    struct delivery *d = (struct delivery *)job;
    struct iovec parts[2] = {
        {.iov_base = d->header, .iov_len = d->header_len},
        {.iov_base = d->txn->msg, .iov_len = d->txn->msg_len},
    };
    d->result = maildir_deliver(d->data_dir, d->names, d->txn->naccounts, parts, 2, d->err,
                                sizeof d->err);
}

/* Back in the session's loop: the message is on disk (or not); answer and read on. */
static void delivery_done(struct offload_job *job, struct conn *conn)
{
    struct delivery *d = (struct delivery *)job;
    struct smtp_session *s = d->session;
    s->awaiting_job = false;
    if (d->result == 0) {
        log_delivered(s, conn, d);
        metrics_delivered(d->txn->msg_len, metrics_now() - d->started);
    }
    if (conn->stage == STAGE_SESSION) {
        if (d->result == 0)
            smtp_reply(conn, "250 2.0.0 Ok: queued as %s", d->queue_id);
        else
            delivery_failed(conn, d->queue_id, d->err);
    }
    delivery_free(d);
    conn_resume_input(conn);
}

/* Hands the transaction to an I/O thread; the reply follows in delivery_done(). */
static void deliver(struct smtp_session *s, struct conn *conn)
{
    struct delivery *d = calloc(1, sizeof *d);
    char queue_id[SMTP_QUEUE_ID_MAX];
    make_queue_id(queue_id);
    if (!d || !(d->names = calloc(s->txn->naccounts, sizeof *d->names))) {
        free(d);
        delivery_failed(conn, queue_id, "out of memory");
        return;
    }
    memcpy(d->queue_id, queue_id, sizeof queue_id);
    d->header_len = build_received(s, conn, queue_id, d->header, sizeof d->header);
    if (d->header_len == 0) {
        free(d->names);
        free(d);
        delivery_failed(conn, queue_id, "Received header too long");
        return;
    }
    d->session = s;
    d->txn = s->txn;
    s->txn = NULL; /* the job owns it now */
    d->data_dir = s->config->data_dir;
    for (uint32_t i = 0; i < d->txn->naccounts; i++)
        d->names[i] = d->txn->accounts[i]->name;
    d->started = metrics_now();
    d->job.work = delivery_work;
    d->job.done = delivery_done;
    s->awaiting_job = true;
    conn_hold_input(conn);
    conn_offload(conn, &d->job);
}

/* The message is complete: refuse it with the reason, or deliver it; the transaction ends. */
static void finish_message(struct smtp_session *s, struct conn *conn)
{
    struct smtp_txn *txn = s->txn;
    if (txn->too_large) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_WARN, "message_too_large");
        log_uint(&line, "received", txn->received);
        log_uint(&line, "limit", s->config->smtp.max_message_size);
        log_end(&line);
        smtp_reply_error(s, conn, "552 5.3.4 message size exceeds fixed maximum message size");
    } else if (!txn->used_bdat && txn->dot.long_line) {
        smtp_reply_error(s, conn, "500 5.5.2 message has a line longer than 1000 octets");
    } else if (!txn->used_bdat && txn->dot.bare_newline) {
        smtp_reply_error(s, conn,
                         "550 5.6.0 message has a bare CR or LF; lines must end with CRLF");
    } else if (txn->out_of_memory) {
        smtp_reply(conn, "451 4.3.0 out of memory, try again later");
    } else {
        deliver(s, conn);
    }
    smtp_txn_free(s->txn);
    s->txn = NULL;
    smtp_set_state(s, conn, SMTP_READY);
}

/* ---- DATA ---- */

void smtp_data_start(struct smtp_session *s, struct conn *conn)
{
    smtp_dot_init(&s->txn->dot);
    smtp_set_state(s, conn, SMTP_DATA);
    smtp_reply(conn, "354 end data with <CR><LF>.<CR><LF>");
}

size_t smtp_data_input(struct smtp_session *s, struct conn *conn, const uint8_t *data,
                       size_t len)
{
    uint8_t text[CONN_INPUT_CAPACITY + 1]; /* decoded output is at most input + 1 octet */
    size_t take = len < CONN_INPUT_CAPACITY ? len : CONN_INPUT_CAPACITY;
    size_t text_len = 0;
    bool done = false;
    size_t used = smtp_dot_decode(&s->txn->dot, data, take, text, &text_len, &done);
    store_text(s, text, text_len);
    if (done)
        finish_message(s, conn);
    return used;
}

/* ---- BDAT ---- */

static void chunk_done(struct smtp_session *s, struct conn *conn)
{
    if (s->chunk_error) {
        smtp_set_state(s, conn, s->chunk_return);
        smtp_reply_error(s, conn, "%s", s->chunk_error);
        s->chunk_error = NULL;
        return;
    }
    if (s->chunk_last || s->txn->too_large) {
        /* Past the limit the transaction ends now: later chunks are refused (503). */
        finish_message(s, conn);
        return;
    }
    smtp_set_state(s, conn, SMTP_BDAT_MORE);
    smtp_reply(conn, "250 2.0.0 %llu octets received", (unsigned long long)s->txn->received);
}

void smtp_bdat_start(struct smtp_session *s, struct conn *conn, uint64_t size, bool last,
                     const char *error)
{
    s->chunk_left = size;
    s->chunk_last = last;
    s->chunk_error = error;
    s->chunk_return = s->state;
    if (!error)
        s->txn->used_bdat = true;
    smtp_set_state(s, conn, SMTP_BDAT);
    if (size == 0)
        chunk_done(s, conn);
}

size_t smtp_bdat_input(struct smtp_session *s, struct conn *conn, const uint8_t *data,
                       size_t len)
{
    size_t take = s->chunk_left < len ? (size_t)s->chunk_left : len;
    if (!s->chunk_error)
        store_text(s, data, take);
    s->chunk_left -= take;
    if (s->chunk_left == 0)
        chunk_done(s, conn);
    return take;
}
