#include "net/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"
#include "metrics/metrics.h"
#include "metrics/metrics_http.h"
#include "net/service.h"

const struct service *listener_service(enum listener_protocol protocol)
{
    return protocol == PROTOCOL_METRICS ? &metrics_service
           : protocol == PROTOCOL_IMAP  ? &imap_service
                                        : &smtp_service;
}

static int open_socket(const struct bind_address *bind_addr, const struct listener_config *lc)
{
    const char *listener_id = lc->id;
    int family = bind_addr->addr.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* "[::]:25" means IPv6 only, so it can sit beside "0.0.0.0:25" as operators write it. */
    if (fd >= 0 && family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    /* Accepted sockets inherit it on Linux: one system call per listener, not per connection. */
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Proxies send their header first: wake the workers only once it has arrived. */
    int defer = (int)lc->defer_accept_s;
    if (fd >= 0 && lc->defer_accept)
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, (const struct sockaddr *)&bind_addr->addr, bind_addr->addr_len) == 0 &&
        listen(fd, LISTEN_BACKLOG) == 0)
        return fd;
    struct log_line line;
    log_begin(&line, LOG_ERROR, "listen_failed");
    log_str(&line, "listener", listener_id);
    log_str(&line, "bind", bind_addr->text);
    log_str(&line, "error", strerror(errno));
    log_end(&line);
    if (fd >= 0)
        close(fd);
    return -1;
}

void listener_close(struct listener *slot)
{
    for (size_t i = 0; i < slot->nfds; i++)
        close(slot->fds[i]);
    slot->nfds = 0;
    slot->open = false;
}

int listener_open(struct listener *slot, const struct listener_config *lc)
{
    slot->config = lc;
    slot->service = listener_service(lc->protocol);
    slot->metrics_series = metrics_listener_series(lc->id);
    slot->nfds = 0;
    for (size_t i = 0; i < lc->nbinds; i++) {
        int fd = open_socket(&lc->binds[i], lc);
        if (fd < 0) {
            listener_close(slot);
            return -1;
        }
        slot->fds[slot->nfds++] = fd;
    }
    slot->open = true;
    return 0;
}
