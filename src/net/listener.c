#include "net/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"
#include "net/service.h"

static const struct service *service_for(enum listener_protocol protocol)
{
    return protocol == PROTOCOL_IMAP ? &imap_service : &smtp_service;
}

static int open_socket(const struct bind_address *bind_addr, const char *listener_id)
{
    int family = bind_addr->addr.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
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

void listeners_close(struct listener *listeners, size_t count)
{
    if (!listeners)
        return;
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < listeners[i].nfds; j++)
            close(listeners[i].fds[j]);
    }
    free(listeners);
}

struct listener *listeners_open(const struct config *config)
{
    struct listener *listeners = calloc(config->nlisteners ? config->nlisteners : 1,
                                        sizeof *listeners);
    if (!listeners)
        return NULL;
    for (size_t i = 0; i < config->nlisteners; i++) {
        struct listener *l = &listeners[i];
        l->config = &config->listeners[i];
        l->service = service_for(l->config->protocol);
        for (size_t j = 0; j < l->config->nbinds; j++) {
            int fd = open_socket(&l->config->binds[j], l->config->id);
            if (fd < 0) {
                listeners_close(listeners, config->nlisteners);
                return NULL;
            }
            l->fds[l->nfds++] = fd;
        }
    }
    return listeners;
}
