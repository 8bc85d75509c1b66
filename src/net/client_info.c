#include "net/client_info.h"

#include <netinet/in.h>
#include <string.h>

#include "util/decimal.h"

static bool sockaddr_to_proxy_ip(const struct sockaddr_storage *addr, struct proxy_ip *ip,
                                 uint16_t *port)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        ip->family = PROXY_FAM_INET;
        memcpy(ip->addr, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
        return true;
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        ip->family = PROXY_FAM_INET6;
        memcpy(ip->addr, &in6->sin6_addr, 16);
        *port = ntohs(in6->sin6_port);
        return true;
    }
    return false;
}

void sockaddr_from_proxy(struct sockaddr_storage *out, const struct proxy_ip *ip, uint16_t port)
{
    memset(out, 0, sizeof *out);
    if (ip->family == PROXY_FAM_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, ip->addr, 4);
        in->sin_port = htons(port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, ip->addr, 16);
        in6->sin6_port = htons(port);
    }
}

void sockaddr_unmap(struct sockaddr_storage *addr)
{
    struct proxy_ip ip;
    uint16_t port;
    if (addr->ss_family != AF_INET6 || !sockaddr_to_proxy_ip(addr, &ip, &port) ||
        !proxy_ip_is_v4_mapped(&ip))
        return;
    proxy_ip_unmap(&ip);
    sockaddr_from_proxy(addr, &ip, port);
}

void sockaddr_format(const struct sockaddr_storage *addr, char endpoint[CLIENT_ENDPOINT_TEXT_MAX],
                     char ip_text[PROXY_IP_TEXT_MAX])
{
    struct proxy_ip ip;
    uint16_t port;
    char text[PROXY_IP_TEXT_MAX] = "unknown";
    size_t len = sizeof "unknown" - 1;
    bool ok = sockaddr_to_proxy_ip(addr, &ip, &port);
    if (ok) {
        proxy_ip_unmap(&ip);
        len = proxy_ip_format(&ip, text);
    }
    if (ip_text)
        memcpy(ip_text, text, len + 1);
    if (!endpoint)
        return;
    char *p = endpoint;
    bool brackets = ok && ip.family == PROXY_FAM_INET6;
    if (brackets)
        *p++ = '[';
    memcpy(p, text, len);
    p += len;
    if (brackets)
        *p++ = ']';
    if (ok) {
        *p++ = ':';
        p = decimal_write(p, port);
    }
    *p = '\0';
}

void client_info_format(struct client_info *info)
{
    sockaddr_format(&info->client, info->client_text, info->client_ip);
}
