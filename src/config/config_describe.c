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
    fprintf(out, "; io-threads %u; max-connections %u; ", (unsigned)config->io_threads,
            (unsigned)config->max_connections);
    print_duration("shutdown-timeout", config->shutdown_timeout_ms, out);
    fputs("; ", out);
    print_duration("idle-timeout", config->idle_timeout_ms, out);
    if (config->run_as[0])
        fprintf(out, "\nprivileges: run-as %s (when started as root)", config->run_as);
    else
        fputs("\nprivileges: run-as postern (default: when started as root and the user "
              "exists)", out);
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
    fprintf(out, "tls: protocols %s; ", config->tls.protocols);
    print_duration("timeout", config->tls.handshake_timeout_ms, out);
    fputs("; certificates", out);
    for (size_t i = 0; i < config->tls.ncertificates; i++)
        fprintf(out, "%s %s%s", i ? "," : "", config->tls.certificates[i].id,
                config->tls.certificates[i].is_default ? " (default)" : "");
    if (config->tls.ncertificates == 0)
        fputs(" none (a self-signed one is generated at start)", out);
    fputc('\n', out);
}

static void print_rate(const char *label, const struct ban_rule *rule, FILE *out)
{
    char window[32];
    config_format_duration(rule->window_ms, window, sizeof window);
    if (rule->count)
        fprintf(out, "%s %u/%s", label, (unsigned)rule->count, window);
    else
        fprintf(out, "%s off", label);
}

static void describe_limits(const struct config *config, FILE *out)
{
    const struct smtp_limits *smtp = &config->smtp;
    fprintf(out, "session: data.limits.size %llu", (unsigned long long)smtp->max_message_size);
    if (smtp->max_message_size % (1u << 20) == 0)
        fprintf(out, " (%llu MiB)", (unsigned long long)(smtp->max_message_size >> 20));
    fprintf(out, "; rcpt.max-recipients %u; max-errors %u; max-commands-before-mail %u\n",
            (unsigned)smtp->max_recipients, (unsigned)smtp->max_errors,
            (unsigned)smtp->max_commands_before_mail);
    const struct imap_limits *imap = &config->imap;
    char idle[32], poll[32];
    config_format_duration(imap->idle_timeout_ms, idle, sizeof idle);
    config_format_duration(imap->idle_poll_ms, poll, sizeof poll);
    fprintf(out, "imap: request.max-size %llu; request.max-line %u; "
            "request.max-line-before-login %u; request.max-depth %u; request.max-arguments %u; "
            "max-commands-before-login %u; max-errors %u; timeout.idle %s; "
            "idle.poll-interval %s\n",
            (unsigned long long)imap->max_size, (unsigned)imap->max_line,
            (unsigned)imap->max_line_before_login, (unsigned)imap->max_depth,
            (unsigned)imap->max_arguments, (unsigned)imap->max_commands_before_login,
            (unsigned)imap->max_errors, idle, poll);
    const struct client_table_policy *policy = &config->client_policy;
    print_rate("auto-ban: auth.rate", &policy->auth, out);
    print_rate("; abuse.rate", &policy->abuse, out);
    char duration[32];
    config_format_duration(policy->ban_ms, duration, sizeof duration);
    fprintf(out, "; duration %s; max-connections-per-client ", duration);
    if (policy->max_per_client)
        fprintf(out, "%u\n", (unsigned)policy->max_per_client);
    else
        fputs("no limit\n", out);
}

/* One line per account: what `grep 'account alice:'` should tell an operator. */
static void describe_directory(const struct directory *dir, FILE *out)
{
    size_t count = directory_count(dir);
    fprintf(out, "directory: %zu account%s\n", count, count == 1 ? "" : "s");
    for (size_t i = 0; i < count; i++) {
        const struct account *account = directory_account(dir, i);
        const char *scheme = directory_secret_scheme(account->secret);
        fprintf(out, "account %s: secret %s; email ", account->name, scheme ? scheme : "?");
        for (size_t k = 0; k < account->naddresses; k++)
            fprintf(out, "%s%s", k ? ", " : "", account->addresses[k]);
        fputs(account->naddresses ? "\n" : "none (login only)\n", out);
    }
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
    if (listener->submission)
        fputs("submission yes (AUTH before MAIL); ", out);
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
    describe_limits(config, out);
    describe_directory(config->directory, out);
}
