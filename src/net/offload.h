/*
 * Blocking work off the event loops: fsync for durable delivery, password hashing. A few I/O
 * threads run jobs; many deliveries syncing at once share the file system's journal commits
 * (group commit), and no worker loop ever waits on a disk or a hash.
 */
#ifndef POSTERN_NET_OFFLOAD_H
#define POSTERN_NET_OFFLOAD_H

#include <stdbool.h>

struct conn;

struct offload_job {
    /* On an I/O thread: must not touch the connection or the session. */
    void (*work)(struct offload_job *job);
    /* Back in the connection's loop. The connection is still allocated, but it may have
     * closed meanwhile (conn->stage): then only release what the job holds. */
    void (*done)(struct offload_job *job, struct conn *conn);
    struct conn *conn;        /* set by conn_offload */
    struct offload_job *next; /* the pool's queue */
};

bool offload_start(unsigned threads);
/* After every worker has stopped: no job is in flight then. */
void offload_stop(void);

/* Runs job->work on an I/O thread, then job->done in conn's loop; keeps conn allocated until
 * then. When the pool cannot take it, work and done run at once, in the caller's thread. */
void conn_offload(struct conn *conn, struct offload_job *job);

#endif
