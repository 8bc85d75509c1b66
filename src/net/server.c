#include "net/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include "log/log.h"
#include "metrics/metrics.h"
#include "net/listener.h"
#include "net/offload.h"
#include "net/privileges.h"
#include "net/sd_notify.h"
#include "net/tls.h"
#include "net/worker.h"

/* postern_bans_active, read at each scrape (on the scraping worker's thread). */
static int64_t active_bans(void *clients)
{
    return client_table_active_bans(clients, monotonic_ms());
}

static unsigned worker_count(const struct config *config)
{
    if (config->workers)
        return config->workers;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 && cores <= CONFIG_MAX_WORKERS ? (unsigned)cores : 1;
}

static const char *trust_source_name(enum trust_source source)
{
    switch (source) {
    case TRUST_GLOBAL: return "global";
    case TRUST_LISTENER: return "listener";
    default: return "off";
    }
}

static void log_listening(const struct listener_config *lc, const char *event)
{
    char trusted[1024] = "";
    netset_format(lc->trusted, trusted, sizeof trusted);
    for (size_t i = 0; i < lc->nbinds; i++) {
        struct log_line line;
        log_begin(&line, LOG_INFO, event);
        log_str(&line, "listener", lc->id);
        log_str(&line, "bind", lc->binds[i].text);
        log_str(&line, "protocol", listener_protocol_name(lc->protocol));
        log_bool(&line, "tls_implicit", lc->tls_implicit);
        log_str(&line, "proxy", trust_source_name(lc->trust_source));
        if (lc->trusted)
            log_str(&line, "trusted", trusted);
        log_end(&line);
    }
}

/* Every connection is a descriptor: raise the soft limit to the hard one, and say so when
 * server.max-connections cannot be reached within it. */
static void raise_fd_limit(const struct config *config)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    /* Listeners, logs, the TLS and event machinery need a few more than the connections. */
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (rlim_t)config->max_connections + 64) {
        char msg[160];
        snprintf(msg, sizeof msg, "open-file limit %llu is below server.max-connections %u; "
                                  "raise it (LimitNOFILE=, ulimit -n)",
                 (unsigned long long)lim.rlim_cur, config->max_connections);
        log_message(LOG_WARN, "fd_limit", msg);
    }
}

static int ensure_data_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    struct log_line line;
    log_begin(&line, LOG_ERROR, "data_dir_failed");
    log_str(&line, "path", path);
    log_str(&line, "error", strerror(errno));
    log_end(&line);
    return -1;
}

/* Signals are taken synchronously by the main thread; workers never see them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static bool load_certificates(const struct config *config)
{
    char err[512];
    struct tls_generation *gen = tls_generation_load(config, err, sizeof err);
    if (!gen) {
        log_message(LOG_ERROR, "tls_certificates_failed", err);
        return false;
    }
    log_message(LOG_INFO, "tls_certificates", tls_generation_describe(gen));
    tls_current_set(gen);
    return true;
}

struct server {
    struct server_shared shared;
    struct worker *workers;
    unsigned nworkers;
    char pid_path[1100];
};

static const struct config *running_config(struct server *srv)
{
    return srv->shared.current->config; /* only the main thread swaps it */
}

/* The slot a listener id uses: its own slot across reloads, else a free one. */
static struct listener *slot_for(struct server_shared *shared, const char *id)
{
    struct listener *free_slot = NULL;
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++) {
        struct listener *l = &shared->listeners[i];
        if (l->open && strcmp(l->config->id, id) == 0)
            return l;
        if (!l->open && atomic_load(&l->active) == 0 && !free_slot)
            free_slot = l;
    }
    return free_slot;
}

/* A socket already listening on this address, handed over to its new listener. */
static int take_open_socket(struct server_shared *shared, const struct bind_address *bind_addr,
                            bool *taken)
{
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++) {
        const struct listener *l = &shared->listeners[i];
        for (size_t j = 0; l->open && j < l->nfds; j++) {
            const struct bind_address *b = &l->config->binds[j];
            if (!taken[i * CONFIG_MAX_BINDS + j] && b->addr_len == bind_addr->addr_len &&
                memcmp(&b->addr, &bind_addr->addr, b->addr_len) == 0) {
                taken[i * CONFIG_MAX_BINDS + j] = true;
                return l->fds[j];
            }
        }
    }
    return -1;
}

/* The next state of every slot, computed before anything running changes. */
struct reload_plan {
    struct listener next[CONFIG_MAX_LISTENERS];
    bool taken[CONFIG_MAX_LISTENERS * CONFIG_MAX_BINDS]; /* old sockets reused */
    int opened[CONFIG_MAX_LISTENERS * CONFIG_MAX_BINDS]; /* sockets opened for the plan */
    size_t nopened;
    unsigned added, removed, kept;
};

static bool plan_listener(struct server *srv, struct reload_plan *plan,
                          const struct listener_config *lc)
{
    struct listener *slot = slot_for(&srv->shared, lc->id);
    if (!slot) {
        log_message(LOG_ERROR, "reload_failed", "no free listener slot");
        return false;
    }
    struct listener *next = &plan->next[slot - srv->shared.listeners];
    bool existed = slot->open;
    next->config = lc;
    next->open = true;
    next->nfds = 0;
    next->metrics_series = metrics_listener_series(lc->id);
    for (size_t i = 0; i < lc->nbinds; i++) {
        int fd = take_open_socket(&srv->shared, &lc->binds[i], plan->taken);
        if (fd < 0) {
            struct listener probe = {.nfds = 0};
            struct listener_config single = *lc;
            single.binds[0] = lc->binds[i];
            single.nbinds = 1;
            if (listener_open(&probe, &single) < 0)
                return false;
            fd = plan->opened[plan->nopened++] = probe.fds[0];
        }
        next->fds[next->nfds++] = fd;
    }
    existed ? plan->kept++ : plan->added++;
    if (!existed)
        log_listening(lc, "listening");
    return true;
}

static void abandon_plan(struct reload_plan *plan)
{
    for (size_t i = 0; i < plan->nopened; i++)
        close(plan->opened[i]);
}

/* Swaps in the new configuration and listener set; returns the sockets no longer used. */
static void apply_plan(struct server *srv, struct reload_plan *plan, struct config_handle *fresh,
                       int *unused, size_t *nunused)
{
    struct server_shared *shared = &srv->shared;
    pthread_mutex_lock(&shared->lock);
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++) {
        struct listener *l = &shared->listeners[i];
        for (size_t j = 0; l->open && j < l->nfds; j++) {
            if (!plan->taken[i * CONFIG_MAX_BINDS + j])
                unused[(*nunused)++] = l->fds[j];
        }
        if (l->open && !plan->next[i].open) {
            log_listening(l->config, "listener_closed");
            plan->removed++;
        }
        l->open = plan->next[i].open;
        l->nfds = plan->next[i].nfds;
        memcpy(l->fds, plan->next[i].fds, sizeof l->fds);
        if (l->open) {
            l->config = plan->next[i].config;
            l->service = listener_service(l->config->protocol);
            l->metrics_series = plan->next[i].metrics_series;
        }
    }
    shared->current = fresh;
    atomic_fetch_add(&shared->listener_generation, 1);
    pthread_mutex_unlock(&shared->lock);
}

static void log_reloaded(const struct config *fresh, const struct reload_plan *plan)
{
    struct log_line line;
    log_begin(&line, LOG_INFO, "reloaded");
    log_str(&line, "config", fresh->source);
    log_uint(&line, "listeners_kept", plan->kept);
    log_uint(&line, "listeners_added", plan->added);
    log_uint(&line, "listeners_removed", plan->removed);
    log_uint(&line, "accounts", directory_count(fresh->directory));
    log_str(&line, "msg", "new connections use the new configuration; established sessions "
                          "keep theirs");
    log_end(&line);
}

/*
 * SIGHUP: the file is loaded and checked, and the new listeners' sockets opened, before
 * anything running changes. Then new connections get the new configuration (trusted and
 * access networks, limits, accounts, certificates); established sessions keep the one they
 * started with.
 */
static void reload(struct server *srv)
{
    const struct config *running = running_config(srv);
    if (strcmp(running->source, "<embedded default>") == 0) {
        log_message(LOG_INFO, "reload", "embedded configuration: nothing to re-read");
        return;
    }
    struct config *loaded = config_load_file(running->source, stderr);
    struct config_handle *fresh = loaded ? config_handle_new(loaded) : NULL;
    if (!fresh) {
        config_free(loaded);
        log_message(LOG_ERROR, "reload_failed", "the configuration has errors; the running one "
                                                "stays (see the messages above)");
        return;
    }
    struct reload_plan *plan = calloc(1, sizeof *plan);
    bool ok = plan != NULL;
    for (size_t i = 0; ok && i < loaded->nlisteners; i++)
        ok = plan_listener(srv, plan, &loaded->listeners[i]);
    if (!ok || !load_certificates(loaded)) {
        if (plan)
            abandon_plan(plan);
        free(plan);
        config_handle_unref(fresh);
        log_message(LOG_ERROR, "reload_failed", "the running configuration stays");
        return;
    }
    struct config_handle *old = srv->shared.current;
    int unused[CONFIG_MAX_LISTENERS * CONFIG_MAX_BINDS];
    size_t nunused = 0;
    apply_plan(srv, plan, fresh, unused, &nunused);
    client_table_set_limits(srv->shared.clients, loaded->client_policy.max_per_client,
                            loaded->client_policy.ban_ms);
    workers_wake(srv->workers, srv->nworkers);
    /* A socket is closed only once no worker watches it any more. */
    if (!workers_wait_generation(srv->workers, srv->nworkers, 2000))
        log_message(LOG_WARN, "reload", "a worker is slow to follow; closing old sockets anyway");
    for (size_t i = 0; i < nunused; i++)
        close(unused[i]);
    log_reloaded(loaded, plan);
    free(plan);
    config_handle_unref(old);
}

static void wait_for_stop_signal(const sigset_t *set, struct server *srv)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGINT || sig == SIGTERM) {
            sd_notify_stopping();
            log_message(LOG_INFO, "shutdown", sig == SIGTERM ? "SIGTERM: finishing sessions"
                                                             : "SIGINT: finishing sessions");
            return;
        }
        if (sig == SIGUSR1) {
            log_reopen();
            continue;
        }
        if (sig == SIGHUP) {
            sd_notify_reloading();
            reload(srv);
            sd_notify_send("READY=1");
        }
    }
}

static bool open_listeners(struct server_shared *shared, const struct config *config)
{
    for (size_t i = 0; i < config->nlisteners; i++) {
        if (listener_open(&shared->listeners[i], &config->listeners[i]) < 0)
            return false;
        log_listening(&config->listeners[i], "listening");
    }
    return true;
}

static void close_listeners(struct server_shared *shared)
{
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++) {
        if (shared->listeners[i].open)
            listener_close(&shared->listeners[i]);
    }
}

/* DATA_DIR/postern.pid: how `postern reload` finds the running instance. */
static void write_pid_file(struct server *srv, const struct config *config)
{
    snprintf(srv->pid_path, sizeof srv->pid_path, "%s/%s", config->data_dir, SERVER_PID_FILE);
    FILE *f = fopen(srv->pid_path, "w");
    if (!f) {
        srv->pid_path[0] = '\0';
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
}

static void log_started(const struct config *config, unsigned nworkers)
{
    struct log_line line;
    log_begin(&line, LOG_INFO, "started");
    log_str(&line, "config", config->source);
    log_uint(&line, "workers", nworkers);
    log_uint(&line, "pid", (uint64_t)getpid());
    log_end(&line);
}

int server_run(struct config *config)
{
    sigset_t signals;
    block_signals(&signals);
    struct server *srv = calloc(1, sizeof *srv);
    struct config_handle *handle = srv ? config_handle_new(config) : NULL;
    if (!handle) {
        free(srv);
        config_free(config);
        return 1;
    }
    struct server_shared *shared = &srv->shared;
    pthread_mutex_init(&shared->lock, NULL);
    shared->current = handle;
    atomic_init(&shared->next_conn_id, 1);
    int status = 1;
    raise_fd_limit(config);
    if (ensure_data_dir(config->data_dir) < 0 || !load_certificates(config))
        goto out;
    shared->clients = client_table_new(&config->client_policy);
    if (!shared->clients || !open_listeners(shared, config) || !privileges_apply(config) ||
        !offload_start(config->io_threads))
        goto out;
    srv->nworkers = worker_count(config);
    srv->workers = workers_start(shared, srv->nworkers);
    if (!srv->workers)
        goto out;
    write_pid_file(srv, config);
    metrics_gauge_callback(METRIC_BANS_ACTIVE, active_bans, shared->clients);
    log_started(config, srv->nworkers);
    sd_notify_ready();

    wait_for_stop_signal(&signals, srv);
    atomic_store(&shared->stopping, true);
    workers_wake(srv->workers, srv->nworkers);
    workers_join(srv->workers, srv->nworkers);
    free(srv->workers);
    if (srv->pid_path[0])
        unlink(srv->pid_path);
    log_message(LOG_INFO, "stopped", "all sessions finished");
    status = 0;
out:
    offload_stop(); /* after the workers: no job can be in flight any more */
    close_listeners(shared);
    metrics_gauge_callback(METRIC_BANS_ACTIVE, NULL, NULL);
    client_table_free(shared->clients);
    tls_current_set(NULL);
    config_handle_unref(shared->current);
    pthread_mutex_destroy(&shared->lock);
    free(srv);
    return status;
}
