/*
 * Loading: TOML text in, a validated struct config out, or NULL after every problem has been
 * reported. The schema and the converters live in config_schema.c and config_values.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config_internal.h"

/* ---- Diagnostics ---- */

static void vreport(struct loader *ld, const char *severity, size_t line, const char *key,
                    const char *fmt, va_list args)
{
    if (!ld->diag)
        return;
    fprintf(ld->diag, "%s: %s:%zu: ", severity, ld->filename, line);
    if (key)
        fprintf(ld->diag, "%s: ", key);
    vfprintf(ld->diag, fmt, args);
    fputc('\n', ld->diag);
}

void config_error(struct loader *ld, size_t line, const char *key, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vreport(ld, "error", line, key, fmt, args);
    va_end(args);
    ld->errors++;
}

void config_warning(struct loader *ld, size_t line, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vreport(ld, "warning", line, NULL, fmt, args);
    va_end(args);
    ld->warnings++;
}

/* ---- Key paths as the operator would write them ---- */

static bool is_bare_key(const char *key, size_t len)
{
    static const char bare[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '\0' || !strchr(bare, key[i]))
            return false;
    }
    return true;
}

static void path_append(struct key_path *path, const char *s, size_t n)
{
    static const char ellipsis[] = "...";
    size_t room = sizeof path->text - 1 - path->len;
    if (n > room) {
        n = room;
        if (room >= sizeof ellipsis - 1) {
            memcpy(path->text + path->len, s, n - (sizeof ellipsis - 1));
            memcpy(path->text + path->len + n - (sizeof ellipsis - 1), ellipsis,
                   sizeof ellipsis - 1);
            path->len += n;
            path->text[path->len] = '\0';
            return;
        }
    }
    memcpy(path->text + path->len, s, n);
    path->len += n;
    path->text[path->len] = '\0';
}

size_t key_path_push(struct key_path *path, const char *key, size_t key_len)
{
    size_t old = path->len;
    if (path->len)
        path_append(path, ".", 1);
    if (is_bare_key(key, key_len)) {
        path_append(path, key, key_len);
        return old;
    }
    path_append(path, "\"", 1);
    for (size_t i = 0; i < key_len; i++) {
        unsigned char c = (unsigned char)key[i];
        char esc[8];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            int n = snprintf(esc, sizeof esc, c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
            path_append(path, esc, (size_t)n);
        } else {
            path_append(path, (const char *)&key[i], 1);
        }
    }
    path_append(path, "\"", 1);
    return old;
}

size_t key_path_push_index(struct key_path *path, size_t index)
{
    size_t old = path->len;
    char text[32];
    int n = snprintf(text, sizeof text, "[%zu]", index);
    path_append(path, text, (size_t)n);
    return old;
}

void key_path_pop(struct key_path *path, size_t old_len)
{
    path->len = old_len;
    path->text[old_len] = '\0';
}

/* ---- Loading ---- */

static void default_hostname(struct config *config)
{
    char name[sizeof config->hostname];
    if (gethostname(name, sizeof name) != 0 || name[0] == '\0' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
            strlen(name))
        snprintf(name, sizeof name, "localhost");
    name[sizeof name - 1] = '\0';
    memcpy(config->hostname, name, sizeof name);
}

static bool new_netset(struct loader *ld, struct netset **slot)
{
    if (!*slot && !(*slot = netset_new())) {
        config_error(ld, 0, NULL, "out of memory");
        return false;
    }
    return true;
}

/* Every set is compiled so that lookups from the workers are O(log n) and read-only. */
static void compile_netsets(struct loader *ld)
{
    struct config *config = ld->config;
    struct netset *sets[] = {config->trusted_networks, config->blocked_networks,
                             config->allowed_networks};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!netset_compile(sets[i]))
            config_error(ld, 0, NULL, "out of memory");
    }
    bool ok = netset_add_set(config->exempt_networks, config->allowed_networks) &&
              netset_add_set(config->exempt_networks, config->trusted_networks);
    for (size_t i = 0; i < config->nlisteners; i++) {
        struct netset *own = config->listeners[i].own_trusted;
        if (own && !netset_compile(own))
            ok = false;
        ok = ok && netset_add_set(config->exempt_networks, config->listeners[i].trusted);
    }
    if (!ok || !netset_compile(config->exempt_networks))
        config_error(ld, 0, NULL, "out of memory");
}

static struct config *new_config(struct loader *ld, const char *source)
{
    struct config *config = calloc(1, sizeof *config);
    if (!config) {
        config_error(ld, 0, NULL, "out of memory");
        return NULL;
    }
    ld->config = config;
    snprintf(config->source, sizeof config->source, "%s", source);
    config_apply_defaults(config_server_keys, config_server_key_count, config);
    /* Always present, possibly empty: the network core never needs a NULL check. */
    new_netset(ld, &config->trusted_networks);
    new_netset(ld, &config->blocked_networks);
    new_netset(ld, &config->allowed_networks);
    new_netset(ld, &config->exempt_networks);
    if (!(config->directory = directory_new()))
        config_error(ld, 0, NULL, "out of memory");
    return config;
}

static void finish(struct loader *ld, const struct toml_value *root)
{
    struct config *config = ld->config;
    if (config->hostname[0] == '\0')
        default_hostname(config);
    size_t server_line = toml_position(toml_get_path(root, "server")).line;
    if (config->nlisteners == 0)
        config_warning(ld, server_line ? server_line : 1,
                       "no listeners: postern will not accept connections (define "
                       "[server.listener.<id>] with bind and protocol)");
    config_resolve_listeners(ld);
    config_finish_tls(ld);
    compile_netsets(ld);
    /* Entries with open connections are never evicted, so the client table must hold at
     * least one per connection the server admits. */
    config->client_policy.max_entries = config->max_connections > CLIENT_TABLE_MAX_ENTRIES
                                            ? config->max_connections
                                            : CLIENT_TABLE_MAX_ENTRIES;
}

struct config *config_load(const char *text, size_t len, const char *filename, FILE *diag)
{
    struct loader ld = {.filename = filename ? filename : "<input>", .diag = diag};
    char err[TOML_ERROR_MAX];
    struct toml_value *root = toml_parse(text, len, ld.filename, err, sizeof err);
    if (!root) {
        if (diag)
            config_report_syntax_error(text, len, ld.filename, err, diag);
        return NULL;
    }
    if (new_config(&ld, ld.filename)) {
        config_walk_root(&ld, root);
        finish(&ld, root);
    }
    toml_free(root);
    free(ld.origins);
    free(ld.account_lines);
    if (ld.errors) {
        config_free(ld.config);
        return NULL;
    }
    return ld.config;
}

/* The whole file, or NULL with errno set (EFBIG past CONFIG_FILE_MAX). */
static char *read_file(const char *path, size_t *len)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return NULL;
    char *data = malloc(CONFIG_FILE_MAX + 1);
    size_t n = data ? fread(data, 1, CONFIG_FILE_MAX + 1, in) : 0;
    int saved = !data ? ENOMEM : ferror(in) ? errno : n > CONFIG_FILE_MAX ? EFBIG : 0;
    fclose(in);
    if (saved) {
        free(data);
        errno = saved;
        return NULL;
    }
    *len = n;
    return data;
}

struct config *config_load_file(const char *path, FILE *diag)
{
    if (!path)
        return config_load(config_embedded_default, strlen(config_embedded_default),
                           "<embedded default>", diag);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        if (diag)
            fprintf(diag, "error: %s: cannot read: %s\n", path,
                    errno == EFBIG ? "the file is too large" : strerror(errno));
        return NULL;
    }
    struct config *config = config_load(text, len, path, diag);
    free(text);
    return config;
}

void config_free(struct config *config)
{
    if (!config)
        return;
    for (size_t i = 0; i < config->nlisteners; i++)
        netset_free(config->listeners[i].own_trusted);
    free(config->listeners);
    netset_free(config->trusted_networks);
    netset_free(config->blocked_networks);
    netset_free(config->allowed_networks);
    netset_free(config->exempt_networks);
    directory_free(config->directory);
    config_free_tls(config);
    free(config);
}
