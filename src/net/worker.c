#include "net/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"
#include "net/conn.h"

#define ACCEPT_BATCH 64       /* accepts per wake-up, so one busy listener cannot starve I/O */
#define ACCEPT_PAUSE_MS 100   /* out of file descriptors: try again after this long */

void worker_conn_added(struct worker *worker, struct conn *conn)
{
    conn->next = worker->conns;
    if (worker->conns)
        worker->conns->prev = conn;
    worker->conns = conn;
    worker->nconns++;
}

void worker_conn_removed(struct worker *worker, struct conn *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        worker->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    worker->nconns--;
    if (worker->draining && worker->nconns == 0)
        event_loop_stop(worker->loop);
}

static void on_accept(struct event_loop *loop, struct io_watch *watch, unsigned events);

static void on_accept_resume(struct event_loop *loop, struct timer *timer)
{
    struct accept_watch *aw = container_of(timer, struct accept_watch, pause_timer);
    if (!aw->worker->draining)
        io_watch_start_exclusive(loop, &aw->watch, aw->watch.fd, on_accept);
}

static void pause_accepting(struct event_loop *loop, struct accept_watch *aw, int error)
{
    struct log_line line;
    log_begin(&line, LOG_ERROR, "accept_failed");
    log_str(&line, "listener", aw->listener->config->id);
    log_str(&line, "error", strerror(error));
    log_uint(&line, "pause_ms", ACCEPT_PAUSE_MS);
    log_end(&line);
    io_watch_stop(loop, &aw->watch);
    timer_start(loop, &aw->pause_timer, ACCEPT_PAUSE_MS, on_accept_resume);
}

static void on_accept(struct event_loop *loop, struct io_watch *watch, unsigned events)
{
    (void)events;
    struct accept_watch *aw = container_of(watch, struct accept_watch, watch);
    for (int i = 0; i < ACCEPT_BATCH && !aw->worker->draining; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept4(watch->fd, (struct sockaddr *)&peer, &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_accept(aw->worker, aw->listener, fd, &peer);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            pause_accepting(loop, aw, errno);
        if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
            break;
    }
}

/* Shutdown, first step: stop accepting; sessions get the shutdown timeout to finish. */
static void on_drain_deadline(struct event_loop *loop, struct timer *timer)
{
    (void)loop;
    struct worker *worker = container_of(timer, struct worker, drain_timer);
    struct conn *next;
    for (struct conn *conn = worker->conns; conn; conn = next) {
        next = conn->next;
        if (conn->stage == STAGE_SESSION)
            conn_farewell(conn, FAREWELL_SHUTDOWN);
        else
            conn_abort(conn);
    }
}

static void begin_drain(void *ctx)
{
    struct worker *worker = ctx;
    if (worker->draining || !atomic_load(&worker->shared->stopping))
        return;
    worker->draining = true;
    for (size_t i = 0; i < worker->naccepts; i++) {
        io_watch_stop(worker->loop, &worker->accepts[i].watch);
        timer_stop(worker->loop, &worker->accepts[i].pause_timer);
    }
    if (worker->nconns == 0) {
        event_loop_stop(worker->loop);
        return;
    }
    timer_start(worker->loop, &worker->drain_timer, worker->shared->config->shutdown_timeout_ms,
                on_drain_deadline);
}

static void *worker_main(void *arg)
{
    struct worker *worker = arg;
    event_loop_run(worker->loop);
    return NULL;
}

static int worker_init(struct worker *worker, struct server_shared *shared, unsigned index)
{
    worker->index = index;
    worker->shared = shared;
    worker->loop = event_loop_new();
    if (!worker->loop)
        return -1;
    event_loop_set_wake_handler(worker->loop, begin_drain, worker);
    size_t total = 0;
    for (size_t i = 0; i < shared->nlisteners; i++)
        total += shared->listeners[i].nfds;
    worker->accepts = calloc(total ? total : 1, sizeof *worker->accepts);
    if (!worker->accepts)
        return -1;
    for (size_t i = 0; i < shared->nlisteners; i++) {
        struct listener *l = &shared->listeners[i];
        for (size_t j = 0; j < l->nfds; j++) {
            struct accept_watch *aw = &worker->accepts[worker->naccepts++];
            aw->worker = worker;
            aw->listener = l;
            if (io_watch_start_exclusive(worker->loop, &aw->watch, l->fds[j], on_accept) < 0)
                return -1;
        }
    }
    return 0;
}

static void worker_free(struct worker *worker)
{
    event_loop_free(worker->loop);
    free(worker->accepts);
}

struct worker *workers_start(struct server_shared *shared, unsigned count)
{
    struct worker *workers = calloc(count, sizeof *workers);
    if (!workers)
        return NULL;
    for (unsigned i = 0; i < count; i++) {
        if (worker_init(&workers[i], shared, i) < 0 ||
            pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            log_message(LOG_ERROR, "worker_failed", "cannot start a worker thread");
            atomic_store(&shared->stopping, true);
            workers_stop(workers, i);
            workers_join(workers, i);
            worker_free(&workers[i]);
            free(workers);
            return NULL;
        }
    }
    return workers;
}

void workers_stop(struct worker *workers, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        event_loop_wake(workers[i].loop);
}

void workers_join(struct worker *workers, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        pthread_join(workers[i].thread, NULL);
        worker_free(&workers[i]);
    }
}
