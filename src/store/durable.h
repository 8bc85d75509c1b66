/*
 * When written data is safe: the store's one place for fsync. Each file and each directory a
 * change touches is synced, as Postfix and Dovecot do; nothing else on the file system is
 * flushed.
 */
#ifndef POSTERN_STORE_DURABLE_H
#define POSTERN_STORE_DURABLE_H

/* fsync of a file, retried across EINTR; 0 or -1 with errno. */
int durable_fsync(int fd);
/* fsync of a directory (its entries: created, linked, renamed and removed names). */
int durable_fsync_dir(const char *path);

#endif
