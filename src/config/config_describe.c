/*
 * The effective configuration as `postern check` prints it: one line per subject, fields
 * separated by "; ", so that `grep 'listener smtp:'` shows everything about one listener.
 */
#include <stdlib.h>

#include "config/config_internal.h"

/* "127.0.0.0/8, ::1/128", or `empty` for an empty or missing set. */
static void print_netset(const struct netset *set, const char *empty, FILE *out)
{
    size_t len = netset_count(set) ? netset_format(set, NULL, 0) : 0;
    char *text = len ? malloc(len + 1) : NULL;
    if (!text) {
        fputs(len ? "(out of memory)" : empty, out);
        return;
    }
    netset_format(set, text, len + 1);
    fputs(text, out);
    free(text);
}

static void print_duration(const char *label, uint32_t ms, FILE *out)
{
    char text[32];
    config_format_duration(ms, text, sizeof text);
    fprintf(out, "%s %s", label, text);
}

static void describe_server(const struct config *config, FILE *out)
{
    fprintf(out, "config %s\n", config->source);
    fprintf(out, "server: hostname %s; data-dir %s; workers ", config->hostname,
            config->data_dir);
    if (config->workers)
        fprintf(out, "%u", config->workers);
    else
        fputs("auto (one per core)", out);
    fprintf(out, "; max-connections %u; ", (unsigned)config->max_connections);
    print_duration("shutdown-timeout", config->shutdown_timeout_ms, out);
    fputs("; ", out);
    print_duration("idle-timeout", config->idle_timeout_ms, out);
    fputs("\nproxy: trusted ", out);
    print_netset(config->trusted_networks, "none", out);
    fputs(netset_count(config->trusted_networks) ? " (global); " : "; ", out);
    print_duration("timeout", config->proxy_timeout_ms, out);
    fprintf(out, "; max-header-size %u\n", (unsigned)config->proxy_max_header);
    fputs("access: blocked ", out);
    print_netset(config->blocked_networks, "none", out);
    fputs("; allowed ", out);
    print_netset(config->allowed_networks, "none", out);
    fputc('\n', out);
}

static void describe_trust(const struct listener_config *listener, FILE *out)
{
    switch (listener->trust_source) {
    case TRUST_OFF:
        fputs(listener->own_trusted ? "proxy off (disabled by the listener)" : "proxy off", out);
        return;
    case TRUST_GLOBAL:
    case TRUST_LISTENER:
        fputs("proxy trusted ", out);
        print_netset(listener->trusted, "none", out);
        fputs(listener->trust_source == TRUST_GLOBAL ? " (from global)" : " (from listener)",
              out);
        if (listener->assume_tls)
            fputs("; assume-tls yes", out);
        return;
    }
}

static void describe_listener(const struct listener_config *listener, FILE *out)
{
    fprintf(out, "listener %s: bind ", listener->id);
    for (size_t i = 0; i < listener->nbinds; i++)
        fprintf(out, "%s%s", i ? ", " : "", listener->binds[i].text);
    fprintf(out, "; protocol %s; tls implicit %s; ", listener_protocol_name(listener->protocol),
            listener->tls_implicit ? "yes" : "no");
    if (listener->max_connections)
        fprintf(out, "max-connections %u; ", (unsigned)listener->max_connections);
    describe_trust(listener, out);
    fputc('\n', out);
}

void config_describe(const struct config *config, FILE *out)
{
    describe_server(config, out);
    for (size_t i = 0; i < config->nlisteners; i++)
        describe_listener(&config->listeners[i], out);
}
