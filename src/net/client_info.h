/*
 * What the network core knows about a client, handed from the PROXY stage to the TLS stage to
 * the protocol session. Every decision about a client (access, bans, limits, logs, Received
 * headers) uses `client`, never the socket peer when a trusted proxy spoke for it.
 */
#ifndef POSTERN_NET_CLIENT_INFO_H
#define POSTERN_NET_CLIENT_INFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "postern/proxy.h"

#define CLIENT_ENDPOINT_TEXT_MAX (PROXY_IP_TEXT_MAX + 8) /* "[ip]:port" */

struct listener_config;

/* How the client's link is secured, if it is. */
enum tls_origin {
    TLS_NONE,     /* plain text as far as postern knows */
    TLS_OWN,      /* postern terminated TLS itself */
    TLS_AT_PROXY, /* the PROXY v2 SSL TLV says the client used TLS to the proxy */
    TLS_ASSUMED,  /* the listener's proxy.assume-tls says so (e.g. behind Traefik) */
};

struct tls_facts {
    enum tls_origin origin;
    bool client_cert;          /* the client presented a certificate */
    bool client_cert_verified;
    char version[32];          /* "TLSv1.3", when known */
    char cipher[96];
    char client_cn[128];
};

struct client_info {
    uint64_t conn_id;
    const struct listener_config *listener;
    struct sockaddr_storage client; /* the real client (v4-mapped shown as IPv4) */
    struct sockaddr_storage peer;   /* the socket peer: the proxy, when proxied */
    bool proxied;                   /* a trusted peer sent a PROXY header */
    uint8_t proxy_version;          /* 1 or 2 when proxied */
    bool proxy_local;               /* LOCAL/UNKNOWN: the proxy spoke for itself */
    char client_ip[PROXY_IP_TEXT_MAX];
    char client_text[CLIENT_ENDPOINT_TEXT_MAX]; /* "ip:port", "[ip]:port" */
    char peer_text[CLIENT_ENDPOINT_TEXT_MAX];
    struct tls_facts tls;
    char authority[PROXY_AUTHORITY_MAX + 1];    /* AUTHORITY TLV (usually the SNI) */
    uint8_t unique_id[PROXY_UNIQUE_ID_MAX];
    uint8_t unique_id_len;
};

static inline bool client_is_secure(const struct client_info *info)
{
    return info->tls.origin != TLS_NONE;
}

/* Formats a socket address as "ip:port" / "[ip]:port" and "ip" (either may be
 * NULL); v4-mapped become IPv4. */
void sockaddr_format(const struct sockaddr_storage *addr, char endpoint[CLIENT_ENDPOINT_TEXT_MAX],
                     char ip[PROXY_IP_TEXT_MAX]);
/* Turns ::ffff:a.b.c.d into an AF_INET address; other addresses are left alone. */
void sockaddr_unmap(struct sockaddr_storage *addr);
/* Builds a socket address from a PROXY header address. */
void sockaddr_from_proxy(struct sockaddr_storage *out, const struct proxy_ip *ip, uint16_t port);
/* Fills client_ip and client_text from client, once the real client is known. */
void client_info_format(struct client_info *info);

#endif
