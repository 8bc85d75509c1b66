/* Listening sockets opened from the configuration, shared by every worker. */
#ifndef POSTERN_NET_LISTENER_H
#define POSTERN_NET_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>

#include "config/config.h"

#define LISTEN_BACKLOG 1024

struct service;

struct listener {
    const struct listener_config *config;
    const struct service *service;
    int fds[CONFIG_MAX_BINDS];
    size_t nfds;
    atomic_uint active; /* connections of this listener, PROXY stage included */
};

/* Binds every listener's addresses; on failure logs which one and why, and returns NULL. */
struct listener *listeners_open(const struct config *config);
void listeners_close(struct listener *listeners, size_t count);

#endif
