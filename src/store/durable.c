/*
 * Group commit with tickets: a caller takes the next ticket once its writes are done. A flush
 * covers every ticket issued before it started, so a caller is done when a flush that started
 * after its ticket has finished. Whoever finds no flush running starts one; the others wait, and
 * those that arrive during a flush are served together by the next.
 */
#include "store/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic int current_mode = DURABLE_FSYNC;

void durable_set_mode(enum durable_mode mode)
{
    atomic_store(&current_mode, (int)mode);
}

enum durable_mode durable_mode(void)
{
    return (enum durable_mode)atomic_load(&current_mode);
}

int durable_fsync(int fd)
{
    int rc;
    while ((rc = fsync(fd)) != 0 && errno == EINTR)
        ;
    return rc;
}

int durable_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = durable_fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* ---- Group commit ---- */

/* The commits of one file system. Groups are few (one per file system the store has used) and
 * live as long as the process. */
struct commit_group {
    struct commit_group *next;
    pthread_cond_t flushed;
    uint64_t issued;  /* tickets handed out */
    uint64_t covered; /* every ticket up to here has been flushed (or its flush failed) */
    bool flushing;
    /* Tickets whose flush failed; consecutive failures widen the range, which can only call a
     * message lost that was not (its client retries), never the other way round. */
    uint64_t failed_from, failed_through;
    int failed_errno;
    dev_t device;
};

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static struct commit_group *groups;
static _Atomic uint64_t flushes;

uint64_t durable_flushes(void)
{
    return atomic_load(&flushes);
}

static struct commit_group *group_for(dev_t device)
{
    for (struct commit_group *g = groups; g; g = g->next) {
        if (g->device == device)
            return g;
    }
    struct commit_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (pthread_cond_init(&g->flushed, NULL) != 0) {
        free(g);
        return NULL;
    }
    g->device = device;
    g->failed_from = 1; /* an empty range: failed_through < failed_from */
    g->next = groups;
    groups = g;
    return g;
}

static int flush_file_system(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc;
    while ((rc = syncfs(fd)) != 0 && errno == EINTR)
        ;
    atomic_fetch_add(&flushes, 1);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Called with groups_lock held, which it drops during the flush. path is the leader's own, on
 * the group's file system: syncfs flushes the whole file system whichever path it is given. */
static void lead_flush(struct commit_group *g, const char *path)
{
    g->flushing = true;
    uint64_t from = g->covered + 1, through = g->issued;
    pthread_mutex_unlock(&groups_lock);
    int rc = flush_file_system(path);
    int saved = errno;
    pthread_mutex_lock(&groups_lock);
    if (rc != 0) {
        if (g->failed_through < g->failed_from)
            g->failed_from = from;
        g->failed_through = through;
        g->failed_errno = saved;
    }
    g->covered = through;
    g->flushing = false;
    pthread_cond_broadcast(&g->flushed);
}

int durable_commit(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    pthread_mutex_lock(&groups_lock);
    struct commit_group *g = group_for(st.st_dev);
    if (!g) {
        pthread_mutex_unlock(&groups_lock);
        return flush_file_system(path); /* no memory for a group: flush alone */
    }
    uint64_t ticket = ++g->issued;
    while (g->covered < ticket) {
        if (g->flushing)
            pthread_cond_wait(&g->flushed, &groups_lock);
        else
            lead_flush(g, path);
    }
    bool failed = ticket >= g->failed_from && ticket <= g->failed_through;
    int why = g->failed_errno;
    pthread_mutex_unlock(&groups_lock);
    if (failed) {
        errno = why;
        return -1;
    }
    return 0;
}
