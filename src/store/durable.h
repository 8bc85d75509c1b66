/*
 * When written data is safe: the store's one place for fsync, and group commit.
 *
 * DURABLE_FSYNC (the default) syncs each file and each directory a change touches, as Postfix
 * and Dovecot do; nothing else on the file system is flushed. DURABLE_SYNCFS defers those syncs:
 * writers finish with durable_commit(), and every writer waiting at the same time shares one
 * syncfs(2), which writes each directory block and inode table block once however many messages
 * touched it. It flushes everything dirty on that file system, so it suits a data directory on
 * a file system of its own (server.data-sync = "syncfs").
 */
#ifndef POSTERN_STORE_DURABLE_H
#define POSTERN_STORE_DURABLE_H

#include <stdbool.h>
#include <stdint.h>

enum durable_mode {
    DURABLE_FSYNC,
    DURABLE_SYNCFS,
};

/* Process-wide, from server.data-sync; a change applies to operations that start after it. */
void durable_set_mode(enum durable_mode mode);
enum durable_mode durable_mode(void);

/* fsync of a file, retried across EINTR; 0 or -1 with errno. */
int durable_fsync(int fd);
/* fsync of a directory (its entries: created, linked, renamed and removed names). */
int durable_fsync_dir(const char *path);

/*
 * Blocks until every write this thread made before the call, on the file system holding path,
 * is on stable storage: one syncfs() serves every caller that arrived before it started. 0, or
 * -1 with errno when the flush that covered the caller failed (writes of that flush may be
 * lost). Only for DURABLE_SYNCFS operations, which skipped their own fsyncs.
 */
int durable_commit(const char *path);

/* Flushes made by durable_commit so far (fewer than its callers when they shared them). */
uint64_t durable_flushes(void);

#endif
