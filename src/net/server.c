#include "net/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include "log/log.h"
#include "net/listener.h"
#include "net/tls.h"
#include "net/worker.h"

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

static void log_listening(const struct listener *l)
{
    char trusted[1024] = "";
    netset_format(l->config->trusted, trusted, sizeof trusted);
    for (size_t i = 0; i < l->config->nbinds; i++) {
        struct log_line line;
        log_begin(&line, LOG_INFO, "listening");
        log_str(&line, "listener", l->config->id);
        log_str(&line, "bind", l->config->binds[i].text);
        log_str(&line, "protocol", listener_protocol_name(l->config->protocol));
        log_bool(&line, "tls_implicit", l->config->tls_implicit);
        log_str(&line, "proxy", trust_source_name(l->config->trust_source));
        if (l->config->trusted)
            log_str(&line, "trusted", trusted);
        log_end(&line);
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

/* SIGHUP: new connections get the certificates now in the file; established ones keep theirs. */
static void reload_certificates(const struct config *running)
{
    if (strcmp(running->source, "<embedded default>") == 0) {
        log_message(LOG_INFO, "reload", "embedded configuration: nothing to re-read");
        return;
    }
    struct config *fresh = config_load_file(running->source, stderr);
    if (!fresh) {
        log_message(LOG_ERROR, "reload_failed", "configuration has errors; keeping the old one");
        return;
    }
    load_certificates(fresh);
    config_free(fresh);
}

static void wait_for_stop_signal(const sigset_t *set, const struct config *config)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGINT || sig == SIGTERM) {
            log_message(LOG_INFO, "shutdown", sig == SIGTERM ? "SIGTERM: finishing sessions"
                                                             : "SIGINT: finishing sessions");
            return;
        }
        if (sig == SIGHUP)
            reload_certificates(config);
    }
}

int server_run(const struct config *config)
{
    sigset_t signals;
    block_signals(&signals);
    if (ensure_data_dir(config->data_dir) < 0 || !load_certificates(config))
        return 1;
    struct server_shared shared = {.config = config, .next_conn_id = 1};
    shared.clients = client_table_new(&config->client_policy);
    shared.listeners = shared.clients ? listeners_open(config) : NULL;
    if (!shared.listeners) {
        client_table_free(shared.clients);
        return 1;
    }
    shared.nlisteners = config->nlisteners;
    for (size_t i = 0; i < shared.nlisteners; i++)
        log_listening(&shared.listeners[i]);
    unsigned nworkers = worker_count(config);
    struct worker *workers = workers_start(&shared, nworkers);
    if (!workers) {
        listeners_close(shared.listeners, shared.nlisteners);
        client_table_free(shared.clients);
        return 1;
    }
    struct log_line line;
    log_begin(&line, LOG_INFO, "started");
    log_str(&line, "config", config->source);
    log_uint(&line, "workers", nworkers);
    log_uint(&line, "pid", (uint64_t)getpid());
    log_end(&line);

    wait_for_stop_signal(&signals, config);
    atomic_store(&shared.stopping, true);
    workers_stop(workers, nworkers);
    workers_join(workers, nworkers);
    free(workers);
    listeners_close(shared.listeners, shared.nlisteners);
    client_table_free(shared.clients);
    tls_current_set(NULL);
    log_message(LOG_INFO, "stopped", "all sessions finished");
    return 0;
}
