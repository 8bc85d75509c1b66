#include "net/worker.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "net/conn.h"

#define ACCEPT_BATCH 64       /* accepts per wake-up, so one busy listener cannot starve I/O */
#define ACCEPT_PAUSE_MS 100   /* out of file descriptors: try again after this long */

struct config_handle *config_handle_new(struct config *config)
{
    struct config_handle *handle = calloc(1, sizeof *handle);
    if (!handle)
        return NULL;
    handle->config = config;
    atomic_init(&handle->refs, 1);
    return handle;
}

void config_handle_unref(struct config_handle *handle)
{
    if (handle && atomic_fetch_sub(&handle->refs, 1) == 1) {
        config_free(handle->config);
        free(handle);
    }
}

struct config_handle *shared_acquire(struct server_shared *shared, const struct listener *slot,
                                     const struct listener_config **lc)
{
    pthread_mutex_lock(&shared->lock);
    struct config_handle *handle = shared->current;
    atomic_fetch_add(&handle->refs, 1);
    if (lc)
        *lc = slot->config;
    pthread_mutex_unlock(&shared->lock);
    return handle;
}

void worker_conn_added(struct worker *worker, struct conn *conn)
{
    conn->next = worker->conns;
    if (worker->conns)
        worker->conns->prev = conn;
    worker->conns = conn;
    worker->nconns++;
}

/* After a burst, glibc keeps the freed connection memory. Giving it back walks the heap, so it
 * waits until the worker has had no connection for a moment, not each time the last one closes
 * (which, at a low concurrency, is nearly every connection). */
uint8_t *worker_input_buffer_take(struct worker *worker, size_t capacity)
{
    if (capacity == CONN_INPUT_CAPACITY && worker->nspare_inputs > 0)
        return worker->spare_inputs[--worker->nspare_inputs];
    return malloc(capacity);
}

void worker_input_buffer_give(struct worker *worker, uint8_t *buffer, size_t capacity)
{
    if (capacity == CONN_INPUT_CAPACITY && worker->nspare_inputs < WORKER_SPARE_INPUTS)
        worker->spare_inputs[worker->nspare_inputs++] = buffer;
    else
        free(buffer);
}

static void free_spare_inputs(struct worker *worker)
{
    while (worker->nspare_inputs > 0)
        free(worker->spare_inputs[--worker->nspare_inputs]);
}

static void on_trim_timer(struct event_loop *loop, struct timer *timer)
{
    (void)loop;
    struct worker *worker = container_of(timer, struct worker, trim_timer);
    if (worker->nconns == 0) {
        free_spare_inputs(worker);
        malloc_trim(0);
    }
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
    if (worker->nconns == 0 && !timer_armed(&worker->trim_timer))
        timer_start(worker->loop, &worker->trim_timer, WORKER_TRIM_DELAY_MS, on_trim_timer);
    worker_maybe_stop(worker);
}

void worker_maybe_stop(struct worker *worker)
{
    if (worker->draining && worker->nconns == 0 && worker->jobs_in_flight == 0)
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
    const struct listener_config *lc;
    config_handle_unref(shared_acquire(aw->worker->shared, aw->listener, &lc));
    log_str(&line, "listener", lc->id); /* ids outlive reloads: the slot keeps its id */
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

static void stop_accepting(struct worker *worker)
{
    for (size_t i = 0; i < worker->naccepts; i++) {
        io_watch_stop(worker->loop, &worker->accepts[i].watch);
        timer_stop(worker->loop, &worker->accepts[i].pause_timer);
    }
    free(worker->accepts);
    worker->accepts = NULL;
    worker->naccepts = 0;
}

/* One accept watch per socket of every open listener slot. */
static int start_accepting(struct worker *worker)
{
    struct server_shared *shared = worker->shared;
    pthread_mutex_lock(&shared->lock); /* a reload changes the slots under this lock */
    int rc = 0;
    size_t total = 0;
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++)
        total += shared->listeners[i].open ? shared->listeners[i].nfds : 0;
    worker->accepts = calloc(total ? total : 1, sizeof *worker->accepts);
    for (size_t i = 0; worker->accepts && i < CONFIG_MAX_LISTENERS; i++) {
        struct listener *l = &shared->listeners[i];
        for (size_t j = 0; l->open && j < l->nfds; j++) {
            struct accept_watch *aw = &worker->accepts[worker->naccepts++];
            aw->worker = worker;
            aw->listener = l;
            if (io_watch_start_exclusive(worker->loop, &aw->watch, l->fds[j], on_accept) < 0)
                rc = -1;
        }
    }
    pthread_mutex_unlock(&shared->lock);
    return worker->accepts ? rc : -1;
}

/* Listeners were opened or closed by a reload: follow the new set. */
static void follow_listeners(struct worker *worker)
{
    unsigned generation = atomic_load(&worker->shared->listener_generation);
    if (generation == atomic_load(&worker->seen_generation))
        return;
    stop_accepting(worker);
    if (!worker->draining && start_accepting(worker) < 0)
        log_message(LOG_ERROR, "accept_failed", "cannot watch the reloaded listeners");
    atomic_store(&worker->seen_generation, generation);
}

static void on_wake(void *ctx)
{
    struct worker *worker = ctx;
    follow_listeners(worker);
    if (worker->draining || !atomic_load(&worker->shared->stopping))
        return;
    worker->draining = true;
    stop_accepting(worker);
    if (worker->nconns == 0 && worker->jobs_in_flight == 0) {
        event_loop_stop(worker->loop);
        return;
    }
    struct config_handle *handle = shared_acquire(worker->shared, NULL, NULL);
    uint32_t deadline = handle->config->shutdown_timeout_ms;
    config_handle_unref(handle);
    timer_start(worker->loop, &worker->drain_timer, deadline, on_drain_deadline);
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
    event_loop_set_wake_handler(worker->loop, on_wake, worker);
    atomic_store(&worker->seen_generation, atomic_load(&shared->listener_generation));
    return start_accepting(worker);
}

static void worker_free(struct worker *worker)
{
    free_spare_inputs(worker);
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
            workers_wake(workers, i);
            workers_join(workers, i);
            worker_free(&workers[i]);
            free(workers);
            return NULL;
        }
    }
    return workers;
}

void workers_wake(struct worker *workers, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        event_loop_wake(workers[i].loop);
}

bool workers_wait_generation(struct worker *workers, unsigned count, unsigned timeout_ms)
{
    unsigned generation = atomic_load(&workers[0].shared->listener_generation);
    struct timespec pause = {0, 5 * 1000 * 1000};
    for (unsigned waited = 0; waited <= timeout_ms; waited += 5) {
        unsigned behind = 0;
        for (unsigned i = 0; i < count; i++)
            behind += atomic_load(&workers[i].seen_generation) != generation;
        if (behind == 0)
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

void workers_join(struct worker *workers, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        pthread_join(workers[i].thread, NULL);
        worker_free(&workers[i]);
    }
}
