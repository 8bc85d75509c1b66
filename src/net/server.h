/* Runs postern: opens listeners, starts workers, handles signals until a graceful stop. */
#ifndef POSTERN_NET_SERVER_H
#define POSTERN_NET_SERVER_H

#include "config/config.h"

/* The pid file in the data directory, read by `postern reload`. */
#define SERVER_PID_FILE "postern.pid"

/* Runs until SIGTERM/SIGINT; takes ownership of config. Returns the process exit status. */
int server_run(struct config *config);

#endif
