/*
 * A small epoll event loop, one per worker thread: I/O watches, one-shot timers on a min-heap,
 * and work deferred to the end of the current iteration (so sessions are never freed inside
 * a callback chain that may still touch them).
 */
#ifndef POSTERN_NET_EVENT_LOOP_H
#define POSTERN_NET_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_READ 0x1u
#define EV_WRITE 0x2u

struct event_loop;
struct io_watch;
struct timer;

typedef void (*io_handler)(struct event_loop *loop, struct io_watch *watch, unsigned events);
typedef void (*timer_handler)(struct event_loop *loop, struct timer *timer);
typedef void (*deferred_handler)(void *ctx);

/* Embedded in the owner's struct; the handler finds the owner with container_of. */
struct io_watch {
    int fd;
    unsigned events; /* EV_READ | EV_WRITE currently asked for */
    io_handler handler;
};

struct timer {
    uint64_t deadline_ms;
    size_t heap_index; /* 0 when not armed */
    timer_handler handler;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop *loop);

int io_watch_start(struct event_loop *loop, struct io_watch *watch, int fd, unsigned events,
                   io_handler handler);
/* Changes the events asked for; a no-op when they are unchanged. */
int io_watch_update(struct event_loop *loop, struct io_watch *watch, unsigned events);
void io_watch_stop(struct event_loop *loop, struct io_watch *watch);
/* Stops watching and closes the descriptor (fd becomes -1). Closing alone takes a descriptor out
 * of epoll, saving a system call per connection, as long as nothing else holds a duplicate:
 * only for descriptors the owner never dup()s or shares. */
void io_watch_close(struct event_loop *loop, struct io_watch *watch);
/* For sockets shared by several loops (listeners): only one loop is woken per event. */
int io_watch_start_exclusive(struct event_loop *loop, struct io_watch *watch, int fd,
                             io_handler handler);

/* Arms (or re-arms) the timer to fire once, delay_ms from now. */
void timer_start(struct event_loop *loop, struct timer *timer, uint64_t delay_ms,
                 timer_handler handler);
void timer_stop(struct event_loop *loop, struct timer *timer);
static inline bool timer_armed(const struct timer *timer)
{
    return timer->heap_index != 0;
}

/* Runs fn(ctx) after the current iteration's callbacks. Returns -1 when out of memory. */
int event_loop_defer(struct event_loop *loop, deferred_handler fn, void *ctx);

/* Milliseconds on the monotonic clock, cached per iteration. */
uint64_t event_loop_now(const struct event_loop *loop);
uint64_t monotonic_ms(void);

/* Runs until event_loop_stop(); wake with event_loop_wake() from another thread. */
void event_loop_run(struct event_loop *loop);
void event_loop_stop(struct event_loop *loop);
/* Thread-safe: fn(ctx) runs in the loop's thread soon (before its wake handler). -1 when out
 * of memory. */
int event_loop_post(struct event_loop *loop, deferred_handler fn, void *ctx);

/* Thread-safe: interrupts epoll_wait so the loop runs its wake handler. */
void event_loop_wake(struct event_loop *loop);
void event_loop_set_wake_handler(struct event_loop *loop, void (*fn)(void *ctx), void *ctx);

#endif
