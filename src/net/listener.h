/* Listening sockets, one slot per configured listener; slots outlive configuration reloads. */
#ifndef POSTERN_NET_LISTENER_H
#define POSTERN_NET_LISTENER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* The kernel caps it at net.core.somaxconn: ask for as much as it allows, so a burst of
 * connects queues instead of overflowing silently. */
#define LISTEN_BACKLOG 65535

struct service;

struct listener {
    const struct listener_config *config; /* in the configuration in force (under shared lock) */
    const struct service *service;
    int fds[CONFIG_MAX_BINDS];
    size_t nfds;
    bool open;
    int metrics_series;  /* its connection counters (metrics_listener_series) */
    atomic_uint active; /* connections of this listener, PROXY stage included */
};

/* Binds every address of lc into the slot; on failure logs which one and why, returns -1. */
int listener_open(struct listener *slot, const struct listener_config *lc);
void listener_close(struct listener *slot);
const struct service *listener_service(enum listener_protocol protocol);

#endif
