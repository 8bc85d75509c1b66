#include "net/offload.h"

#include <pthread.h>
#include <stdlib.h>

#include "log/log.h"
#include "net/conn_internal.h"
#include "net/worker.h"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct offload_job *head, *tail;
    bool stopping;
    pthread_t *threads;
    unsigned nthreads;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false, NULL, 0};

static void complete(void *ctx)
{
    struct offload_job *job = ctx;
    struct conn *conn = job->conn;
    job->done(job, conn);
    conn_release(conn);
}

static struct offload_job *next_job(void)
{
    pthread_mutex_lock(&pool.lock);
    while (!pool.head && !pool.stopping)
        pthread_cond_wait(&pool.ready, &pool.lock);
    struct offload_job *job = pool.head;
    if (job) {
        pool.head = job->next;
        if (!pool.head)
            pool.tail = NULL;
    }
    pthread_mutex_unlock(&pool.lock);
    return job;
}

static void *io_thread(void *arg)
{
    (void)arg;
    struct offload_job *job;
    while ((job = next_job()) != NULL) {
        job->work(job);
        if (event_loop_post(job->conn->worker->loop, complete, job) < 0)
            abort(); /* a lost completion would leave a session waiting forever */
    }
    return NULL;
}

bool offload_start(unsigned threads)
{
    pool.threads = calloc(threads, sizeof *pool.threads);
    if (!pool.threads)
        return false;
    pool.stopping = false;
    for (pool.nthreads = 0; pool.nthreads < threads; pool.nthreads++) {
        if (pthread_create(&pool.threads[pool.nthreads], NULL, io_thread, NULL) != 0) {
            log_message(LOG_ERROR, "offload_failed", "cannot start an I/O thread");
            offload_stop();
            return false;
        }
    }
    return true;
}

void offload_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.ready);
    pthread_mutex_unlock(&pool.lock);
    for (unsigned i = 0; i < pool.nthreads; i++)
        pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    pool.threads = NULL;
    pool.nthreads = 0;
}

void conn_offload(struct conn *conn, struct offload_job *job)
{
    job->conn = conn;
    job->next = NULL;
    conn_hold(conn);
    pthread_mutex_lock(&pool.lock);
    bool accepted = pool.nthreads > 0 && !pool.stopping;
    if (accepted) {
        if (pool.tail)
            pool.tail->next = job;
        else
            pool.head = job;
        pool.tail = job;
        pthread_cond_signal(&pool.ready);
    }
    pthread_mutex_unlock(&pool.lock);
    if (!accepted) {
        job->work(job);
        complete(job);
    }
}
