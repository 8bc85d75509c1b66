#include "net/event_loop.h"
#include "util/array.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EPOLL_BATCH 256
#define MAX_WAIT_MS 1000

struct deferred {
    deferred_handler fn;
    void *ctx;
};

struct event_loop {
    int epfd;
    bool stopping;
    uint64_t now_ms;
    struct timer **heap; /* 1-based min-heap on deadline_ms */
    size_t heap_len, heap_cap;
    struct deferred *deferred;
    size_t deferred_len, deferred_cap;
    struct io_watch wake_watch;
    void (*wake_fn)(void *ctx);
    void *wake_ctx;
    pthread_mutex_t posted_lock;  /* callbacks posted from other threads */
    struct deferred *posted;
    size_t posted_len, posted_cap;
};

uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t event_loop_now(const struct event_loop *loop)
{
    return loop->now_ms;
}

/* Runs what other threads posted, swapping the queue out so they never wait on a callback. */
static void run_posted(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->posted_lock);
    struct deferred *batch = loop->posted;
    size_t n = loop->posted_len;
    loop->posted = NULL;
    loop->posted_len = loop->posted_cap = 0;
    pthread_mutex_unlock(&loop->posted_lock);
    for (size_t i = 0; i < n; i++)
        batch[i].fn(batch[i].ctx);
    free(batch);
}

static void on_wake(struct event_loop *loop, struct io_watch *watch, unsigned events)
{
    (void)events;
    uint64_t count;
    while (read(watch->fd, &count, sizeof count) > 0) {
    }
    run_posted(loop);
    if (loop->wake_fn)
        loop->wake_fn(loop->wake_ctx);
}

int event_loop_post(struct event_loop *loop, deferred_handler fn, void *ctx)
{
    pthread_mutex_lock(&loop->posted_lock);
    struct deferred *room = array_make_room(loop->posted, loop->posted_len, &loop->posted_cap,
                                            sizeof *room, 64);
    if (!room) {
        pthread_mutex_unlock(&loop->posted_lock);
        return -1;
    }
    loop->posted = room;
    loop->posted[loop->posted_len++] = (struct deferred){fn, ctx};
    pthread_mutex_unlock(&loop->posted_lock);
    event_loop_wake(loop);
    return 0;
}

struct event_loop *event_loop_new(void)
{
    struct event_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    pthread_mutex_init(&loop->posted_lock, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || wake_fd < 0 ||
        io_watch_start(loop, &loop->wake_watch, wake_fd, EV_READ, on_wake) < 0) {
        if (wake_fd >= 0)
            close(wake_fd);
        if (loop->epfd >= 0)
            close(loop->epfd);
        free(loop);
        return NULL;
    }
    loop->now_ms = monotonic_ms();
    return loop;
}

void event_loop_free(struct event_loop *loop)
{
    if (!loop)
        return;
    close(loop->wake_watch.fd);
    close(loop->epfd);
    free(loop->heap);
    free(loop->deferred);
    free(loop->posted);
    pthread_mutex_destroy(&loop->posted_lock);
    free(loop);
}

static uint32_t epoll_mask(unsigned events)
{
    return (events & EV_READ ? EPOLLIN | EPOLLRDHUP : 0u) | (events & EV_WRITE ? EPOLLOUT : 0u);
}

int io_watch_start(struct event_loop *loop, struct io_watch *watch, int fd, unsigned events,
                   io_handler handler)
{
    watch->fd = fd;
    watch->events = events;
    watch->handler = handler;
    struct epoll_event ev = {.events = epoll_mask(events), .data.ptr = watch};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int io_watch_start_exclusive(struct event_loop *loop, struct io_watch *watch, int fd,
                             io_handler handler)
{
    watch->fd = fd;
    watch->events = EV_READ;
    watch->handler = handler;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = watch};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int io_watch_update(struct event_loop *loop, struct io_watch *watch, unsigned events)
{
    if (watch->events == events)
        return 0;
    watch->events = events;
    struct epoll_event ev = {.events = epoll_mask(events), .data.ptr = watch};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, watch->fd, &ev);
}

void io_watch_stop(struct event_loop *loop, struct io_watch *watch)
{
    if (watch->fd >= 0)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
    watch->events = 0;
}

void io_watch_close(struct event_loop *loop, struct io_watch *watch)
{
    (void)loop;
    if (watch->fd >= 0)
        close(watch->fd);
    watch->fd = -1;
    watch->events = 0;
}

/* ---- timers: a binary min-heap, each timer knowing its slot for O(log n) removal ---- */

static void heap_place(struct event_loop *loop, size_t i, struct timer *t)
{
    loop->heap[i] = t;
    t->heap_index = i;
}

static void heap_sift_up(struct event_loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    while (i > 1 && loop->heap[i / 2]->deadline_ms > t->deadline_ms) {
        heap_place(loop, i, loop->heap[i / 2]);
        i /= 2;
    }
    heap_place(loop, i, t);
}

static void heap_sift_down(struct event_loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i;
        if (child > loop->heap_len)
            break;
        if (child < loop->heap_len &&
            loop->heap[child + 1]->deadline_ms < loop->heap[child]->deadline_ms)
            child++;
        if (loop->heap[child]->deadline_ms >= t->deadline_ms)
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

void timer_stop(struct event_loop *loop, struct timer *timer)
{
    size_t i = timer->heap_index;
    if (i == 0)
        return;
    timer->heap_index = 0;
    struct timer *last = loop->heap[loop->heap_len--];
    if (i > loop->heap_len)
        return;
    heap_place(loop, i, last);
    heap_sift_up(loop, i);
    heap_sift_down(loop, last->heap_index);
}

void timer_start(struct event_loop *loop, struct timer *timer, uint64_t delay_ms,
                 timer_handler handler)
{
    timer_stop(loop, timer);
    /* The heap starts at index 1: the new timer goes to heap_len + 1. */
    struct timer **heap = array_make_room(loop->heap, loop->heap_len + 1, &loop->heap_cap,
                                          sizeof *heap, 64);
    if (!heap)
        abort(); /* a connection without its deadline would be a silent leak */
    loop->heap = heap;
    timer->deadline_ms = loop->now_ms + delay_ms;
    timer->handler = handler;
    heap_place(loop, ++loop->heap_len, timer);
    heap_sift_up(loop, loop->heap_len);
}

static void run_due_timers(struct event_loop *loop)
{
    while (loop->heap_len > 0 && loop->heap[1]->deadline_ms <= loop->now_ms) {
        struct timer *t = loop->heap[1];
        timer_stop(loop, t);
        t->handler(loop, t);
    }
}

static int next_wait_ms(const struct event_loop *loop)
{
    if (loop->deferred_len > 0)
        return 0;
    if (loop->heap_len == 0)
        return MAX_WAIT_MS;
    uint64_t due = loop->heap[1]->deadline_ms;
    if (due <= loop->now_ms)
        return 0;
    return due - loop->now_ms > MAX_WAIT_MS ? MAX_WAIT_MS : (int)(due - loop->now_ms);
}

/* ---- deferred work ---- */

int event_loop_defer(struct event_loop *loop, deferred_handler fn, void *ctx)
{
    struct deferred *room = array_make_room(loop->deferred, loop->deferred_len,
                                            &loop->deferred_cap, sizeof *room, 64);
    if (!room)
        return -1;
    loop->deferred = room;
    loop->deferred[loop->deferred_len++] = (struct deferred){fn, ctx};
    return 0;
}

static void run_deferred(struct event_loop *loop)
{
    /* Handlers may defer more work; it runs in this same pass. */
    for (size_t i = 0; i < loop->deferred_len; i++)
        loop->deferred[i].fn(loop->deferred[i].ctx);
    loop->deferred_len = 0;
}

void event_loop_set_wake_handler(struct event_loop *loop, void (*fn)(void *ctx), void *ctx)
{
    loop->wake_fn = fn;
    loop->wake_ctx = ctx;
}

void event_loop_wake(struct event_loop *loop)
{
    uint64_t one = 1;
    ssize_t n = write(loop->wake_watch.fd, &one, sizeof one);
    (void)n; /* a full counter already means "wake up" */
}

void event_loop_stop(struct event_loop *loop)
{
    loop->stopping = true;
}

void event_loop_run(struct event_loop *loop)
{
    struct epoll_event events[EPOLL_BATCH];
    while (!loop->stopping) {
        int n = epoll_wait(loop->epfd, events, EPOLL_BATCH, next_wait_ms(loop));
        if (n < 0 && errno != EINTR)
            abort(); /* only a programming error (bad epfd) gets here */
        loop->now_ms = monotonic_ms();
        for (int i = 0; i < n; i++) {
            struct io_watch *w = events[i].data.ptr;
            uint32_t e = events[i].events;
            unsigned mask = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) ? EV_READ : 0u) |
                            (e & (EPOLLOUT | EPOLLHUP | EPOLLERR) ? EV_WRITE : 0u);
            w->handler(loop, w, mask);
        }
        run_due_timers(loop);
        run_deferred(loop);
    }
}
