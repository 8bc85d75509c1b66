/*
 * systemd's readiness protocol without libsystemd: one datagram of "KEY=VALUE\n" lines to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * Without $NOTIFY_SOCKET (not started by systemd with Type=notify) every call does nothing.
 *
 *   sd_notify_send("READY=1\nSTATUS=accepting connections");   after the workers started
 *   sd_notify_send("RELOADING=1");  ... sd_notify_send("READY=1");   around a reload
 *   sd_notify_send("STOPPING=1");                                     when a stop begins
 */
#ifndef POSTERN_NET_SD_NOTIFY_H
#define POSTERN_NET_SD_NOTIFY_H

#include <stdbool.h>

/* Sends state; true when it was delivered, false when there is no socket or it failed. */
bool sd_notify_send(const char *state);

/* READY=1 with the main pid and a status line. */
bool sd_notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC (systemd 253 wants it; older ones ignore it). */
bool sd_notify_reloading(void);
bool sd_notify_stopping(void);

#endif
