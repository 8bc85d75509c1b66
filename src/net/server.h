/* Runs postern: opens listeners, starts workers, handles signals until a graceful stop. */
#ifndef POSTERN_NET_SERVER_H
#define POSTERN_NET_SERVER_H

#include "config/config.h"

/* Returns the process exit status. */
int server_run(const struct config *config);

#endif
