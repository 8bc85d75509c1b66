#include "net/proxy_stage.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "net/worker.h"

/* Names what a trusted peer sent instead of a header, so the operator sees the likely cause. */
static const char *describe_non_header(const uint8_t *data, size_t len)
{
    if (len >= 3 && data[0] == 0x16 && data[1] == 0x03)
        return "expected a PROXY header, got what looks like a TLS ClientHello - is the proxy "
               "configured to send PROXY protocol?";
    size_t printable = 0;
    for (size_t i = 0; i < len && i < 16; i++)
        printable += data[i] >= 0x20 && data[i] < 0x7F;
    if (len > 0 && printable == (len < 16 ? len : 16))
        return "expected a PROXY header, got text that looks like SMTP/IMAP commands - is the "
               "proxy configured to send PROXY protocol?";
    return NULL;
}

static void reject(struct conn *conn, const char *event, const char *reason, const char *msg)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_WARN, event);
    if (reason)
        log_str(&line, "reason", reason);
    log_str(&line, "msg", msg);
    log_uint(&line, "bytes", conn->in_len);
    log_end(&line);
    conn_abort(conn); /* never write to a proxy before its header: it would reach the client */
}

static void copy_text(char *dst, size_t cap, struct proxy_bytes src)
{
    size_t n = src.len < cap - 1 ? src.len : cap - 1;
    if (src.ptr)
        memcpy(dst, src.ptr, n);
    dst[src.ptr ? n : 0] = '\0';
}

/* What the SSL TLV says about the client's TLS, and what the listener lets us assume. */
static void take_tls_facts(struct conn *conn, const struct proxy_header *hdr)
{
    const struct proxy_ssl *ssl = &hdr->tlv.ssl;
    struct tls_facts *tls = &conn->info.tls;
    if (ssl->present && (ssl->client & PROXY_SSL_CLIENT_SSL)) {
        tls->origin = TLS_AT_PROXY;
        tls->client_cert = ssl->client & (PROXY_SSL_CLIENT_CERT_CONN | PROXY_SSL_CLIENT_CERT_SESS);
        tls->client_cert_verified = tls->client_cert && ssl->verify == 0;
        copy_text(tls->version, sizeof tls->version, ssl->version);
        copy_text(tls->cipher, sizeof tls->cipher, ssl->cipher);
        copy_text(tls->client_cn, sizeof tls->client_cn, ssl->cn);
    } else if (conn->info.listener->assume_tls) {
        tls->origin = TLS_ASSUMED;
    }
}

static void take_header(struct conn *conn, const struct proxy_header *hdr)
{
    struct client_info *info = &conn->info;
    info->proxied = true;
    info->proxy_version = hdr->version;
    if (hdr->command == PROXY_CMD_PROXY && hdr->has_addresses) {
        struct proxy_ip src = hdr->src;
        proxy_ip_unmap(&src);
        sockaddr_from_proxy(&info->client, &src, hdr->src_port);
    } else {
        /* LOCAL, UNSPEC, UNIX and v1 UNKNOWN: the connection is the proxy's own. */
        info->proxy_local = true;
        info->client = info->peer;
    }
    client_info_format(info);
    take_tls_facts(conn, hdr);
    copy_text(info->authority, sizeof info->authority, hdr->tlv.authority);
    info->unique_id_len = (uint8_t)hdr->tlv.unique_id.len;
    if (hdr->tlv.unique_id.ptr)
        memcpy(info->unique_id, hdr->tlv.unique_id.ptr, hdr->tlv.unique_id.len);
}

void proxy_stage_input(struct conn *conn)
{
    const struct config *config = conn_config(conn);
    struct proxy_parse_options opts = {.max_length = config->proxy_max_header};
    struct proxy_header hdr;
    int rc = proxy_parse(conn->in, conn->in_len, &opts, &hdr);
    if (rc == PROXY_NEED_MORE)
        return;
    if (rc == PROXY_INVALID) {
        const char *hint = hdr.error == PROXY_ERR_NOT_PROXY
                               ? describe_non_header(conn->in, conn->in_len)
                               : NULL;
        metrics_count(METRIC_PROXY_INVALID, proxy_error_name(hdr.error));
        reject(conn, "proxy_invalid", proxy_error_name(hdr.error),
               hint ? hint : proxy_error_message(hdr.error));
        return;
    }
    take_header(conn, &hdr);
    metrics_proxy_header(hdr.version, hdr.command);
    timer_stop(conn->worker->loop, &conn->timer);
    /* Everything after the header belongs to the client, byte for byte. */
    conn->in_len -= (size_t)rc;
    memmove(conn->in, conn->in + rc, conn->in_len);
    conn_client_known(conn);
}

void proxy_stage_eof(struct conn *conn)
{
    metrics_count(METRIC_PROXY_MISSING, conn->in_len ? "incomplete" : "no_data");
    reject(conn, "proxy_missing",
           conn->in_len ? "incomplete" : "no_data",
           conn->in_len ? "the proxy closed the connection in the middle of a PROXY header"
                        : "the proxy closed the connection without sending a PROXY header");
}

void proxy_stage_timeout(struct conn *conn)
{
    char msg[160];
    snprintf(msg, sizeof msg, "no complete PROXY header within %u ms (server.proxy.timeout)",
             conn_config(conn)->proxy_timeout_ms);
    metrics_count(METRIC_PROXY_TIMEOUTS, NULL);
    reject(conn, "proxy_timeout", "timeout", msg);
}
