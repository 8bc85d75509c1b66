/*
 * The schema as data: every key postern understands, with its type, its field and its default.
 * The walk over the TOML tree looks keys up here, so a key missing from these tables is by
 * construction an unknown key, and gets a warning rather than silently doing nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

/* workers is declared unsigned; KEY_COUNT stores a uint32_t. They must be the same type. */
_Static_assert(_Generic(((struct config *)0)->workers, uint32_t: 1, default: 0),
               "struct config.workers must be a uint32_t for KEY_COUNT");

/* KEY_WIDE fields must really be 64-bit, and the others 32-bit. */
#define IS_U64(expr) _Generic((expr), uint64_t: 1, default: 0)
_Static_assert(IS_U64(((struct config *)0)->smtp.max_message_size), "KEY_WIDE field");
_Static_assert(IS_U64(((struct config *)0)->client_policy.ban_ms), "KEY_WIDE field");
_Static_assert(IS_U64(((struct config *)0)->imap.max_size), "KEY_WIDE field");
_Static_assert(_Generic(((struct config *)0)->client_policy.auth, struct ban_rule: 1), "KEY_RATE");
/* KEY_CHOICE stores an int. */
_Static_assert(sizeof(enum listener_protocol) == sizeof(int), "KEY_CHOICE field");

#define SERVER_FIELD(field) .offset = offsetof(struct config, field)
#define SERVER_TEXT(field) SERVER_FIELD(field), .size = sizeof(((struct config *)0)->field)
#define LISTENER_FIELD(field) .offset = offsetof(struct listener_config, field)

#define SECOND 1000
#define HOUR (3600 * SECOND)
#define DAY (24 * HOUR)

/* A name that goes into SMTP greetings: no spaces, no line breaks, nothing to inject. */
static const char *check_hostname(const char *text)
{
    if (text[0] == '\0')
        return "must not be empty";
    if (text[0] == '.' || text[0] == '-')
        return "must start with a letter or digit";
    if (strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
        strlen(text))
        return "may only contain letters, digits, '.', '-' and '_'";
    return NULL;
}

static const char *check_not_empty(const char *text)
{
    return text[0] == '\0' ? "must not be empty" : NULL;
}

static const char *check_run_as(const char *text)
{
    char user[CONFIG_RUN_AS_NAME_MAX + 1], group[CONFIG_RUN_AS_NAME_MAX + 1];
    return config_parse_run_as(text, user, group);
}

/* A user or group name as useradd/groupadd accept it (and numeric ids). */
static bool valid_account_name(const char *name, size_t len)
{
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    if (len == 0 || len > CONFIG_RUN_AS_NAME_MAX || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!strchr(allowed, name[i]) || name[i] == '\0')
            return false;
    }
    return true;
}

const char *config_parse_run_as(const char *text, char *user, char *group)
{
    const char *colon = strchr(text, ':');
    size_t user_len = colon ? (size_t)(colon - text) : strlen(text);
    size_t group_len = colon ? strlen(colon + 1) : 0;
    user[0] = group[0] = '\0';
    if (!valid_account_name(text, user_len))
        return "is not a user name (expected \"user\" or \"user:group\"; names have 1-32 "
               "letters, digits, '.', '_' or '-')";
    if (colon && !valid_account_name(colon + 1, group_len))
        return "has no valid group name after ':' (expected \"user:group\")";
    memcpy(user, text, user_len);
    user[user_len] = '\0';
    if (colon) {
        memcpy(group, colon + 1, group_len);
        group[group_len] = '\0';
    }
    return NULL;
}

const struct key_spec config_server_keys[] = {
    /* default: the machine's host name, filled in after loading */
    {"server.hostname", KEY_TEXT, SERVER_TEXT(hostname), .check = check_hostname},
    {"server.data-dir", KEY_TEXT, SERVER_TEXT(data_dir), .fallback_text = "./data",
     .check = check_not_empty},
    /* 0: one worker per core */
    {"server.workers", KEY_COUNT, SERVER_FIELD(workers), .min = 0, .max = CONFIG_MAX_WORKERS},
    {"server.io-threads", KEY_COUNT, SERVER_FIELD(io_threads), .min = 1,
     .max = CONFIG_MAX_IO_THREADS, .fallback = CONFIG_DEFAULT_IO_THREADS},
    {"server.max-connections", KEY_COUNT, SERVER_FIELD(max_connections), .min = 1,
     .max = CONFIG_MAX_CONNECTIONS_LIMIT, .fallback = CONFIG_DEFAULT_MAX_CONNECTIONS},
    {"server.shutdown-timeout", KEY_DURATION, SERVER_FIELD(shutdown_timeout_ms), .min = 0,
     .max = HOUR, .fallback = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS},
    {"server.idle-timeout", KEY_DURATION, SERVER_FIELD(idle_timeout_ms), .min = 1, .max = DAY,
     .fallback = CONFIG_DEFAULT_IDLE_TIMEOUT_MS},
    /* "user" or "user:group" (ours); empty: the user "postern" when it exists */
    {"server.run-as", KEY_TEXT, SERVER_TEXT(run_as), .check = check_run_as},
    {"server.proxy.trusted-networks", KEY_NETWORKS, SERVER_FIELD(trusted_networks),
     .trusts_peers = true},
    {"server.proxy.timeout", KEY_DURATION, SERVER_FIELD(proxy_timeout_ms), .min = 1,
     .max = CONFIG_MAX_PROXY_TIMEOUT_MS, .fallback = CONFIG_DEFAULT_PROXY_TIMEOUT_MS},
    {"server.proxy.max-header-size", KEY_COUNT, SERVER_FIELD(proxy_max_header),
     .min = CONFIG_MIN_PROXY_MAX_HEADER, .max = PROXY_V2_MAX_LENGTH,
     .fallback = CONFIG_DEFAULT_PROXY_MAX_HEADER},
    {"server.blocked-networks", KEY_NETWORKS, SERVER_FIELD(blocked_networks)},
    {"server.allowed-networks", KEY_NETWORKS, SERVER_FIELD(allowed_networks)},
    {"server.listener", KEY_LISTENERS, .offset = 0}, /* tables of listener keys, below */
    /* 0: no per-client limit */
    {"server.max-connections-per-client", KEY_COUNT, SERVER_FIELD(client_policy.max_per_client),
     .min = 0, .max = CONFIG_MAX_CONNECTIONS_LIMIT,
     .fallback = CONFIG_DEFAULT_MAX_CONNECTIONS_PER_CLIENT},
    /* "N/window": N failures within the window ban the client; N = 0 turns the rule off */
    {"server.auto-ban.auth.rate", KEY_RATE, SERVER_FIELD(client_policy.auth),
     .max = CLIENT_BAN_COUNT_MAX, .fallback_text = CONFIG_DEFAULT_AUTH_BAN_RATE},
    {"server.auto-ban.abuse.rate", KEY_RATE, SERVER_FIELD(client_policy.abuse),
     .max = CLIENT_BAN_COUNT_MAX, .fallback_text = CONFIG_DEFAULT_ABUSE_BAN_RATE},
    {"server.auto-ban.duration", KEY_DURATION, SERVER_FIELD(client_policy.ban_ms),
     .size = KEY_WIDE, .min = 1, .max = CONFIG_MAX_BAN_DURATION_MS,
     .fallback = CONFIG_DEFAULT_BAN_DURATION_MS},
    {"session.data.limits.size", KEY_COUNT, SERVER_FIELD(smtp.max_message_size),
     .size = KEY_WIDE, .min = CONFIG_MIN_MESSAGE_SIZE, .max = CONFIG_MAX_MESSAGE_SIZE_LIMIT,
     .fallback = CONFIG_DEFAULT_MAX_MESSAGE_SIZE},
    {"session.rcpt.max-recipients", KEY_COUNT, SERVER_FIELD(smtp.max_recipients), .min = 1,
     .max = CONFIG_MAX_RECIPIENTS_LIMIT, .fallback = CONFIG_DEFAULT_MAX_RECIPIENTS},
    {"session.max-errors", KEY_COUNT, SERVER_FIELD(smtp.max_errors), .min = 1,
     .max = CONFIG_MAX_ERRORS_LIMIT, .fallback = CONFIG_DEFAULT_MAX_ERRORS},
    {"session.max-commands-before-mail", KEY_COUNT,
     SERVER_FIELD(smtp.max_commands_before_mail), .min = 1,
     .max = CONFIG_MAX_COMMANDS_BEFORE_MAIL_LIMIT,
     .fallback = CONFIG_DEFAULT_MAX_COMMANDS_BEFORE_MAIL},
    {"imap.request.max-size", KEY_COUNT, SERVER_FIELD(imap.max_size), .size = KEY_WIDE,
     .min = CONFIG_MIN_IMAP_MAX_SIZE, .max = CONFIG_MAX_IMAP_MAX_SIZE,
     .fallback = CONFIG_DEFAULT_IMAP_MAX_SIZE},
    {"imap.request.max-line", KEY_COUNT, SERVER_FIELD(imap.max_line),
     .min = CONFIG_MIN_IMAP_MAX_LINE, .max = CONFIG_MAX_IMAP_MAX_LINE,
     .fallback = CONFIG_DEFAULT_IMAP_MAX_LINE},
    {"imap.request.max-line-before-login", KEY_COUNT, SERVER_FIELD(imap.max_line_before_login),
     .min = CONFIG_MIN_IMAP_MAX_LINE, .max = CONFIG_MAX_IMAP_MAX_LINE,
     .fallback = CONFIG_DEFAULT_IMAP_MAX_LINE_BEFORE_LOGIN},
    {"imap.request.max-depth", KEY_COUNT, SERVER_FIELD(imap.max_depth), .min = 1,
     .max = CONFIG_MAX_IMAP_MAX_DEPTH, .fallback = CONFIG_DEFAULT_IMAP_MAX_DEPTH},
    {"imap.request.max-arguments", KEY_COUNT, SERVER_FIELD(imap.max_arguments), .min = 16,
     .max = CONFIG_MAX_IMAP_MAX_ARGUMENTS, .fallback = CONFIG_DEFAULT_IMAP_MAX_ARGUMENTS},
    {"imap.max-commands-before-login", KEY_COUNT, SERVER_FIELD(imap.max_commands_before_login),
     .min = 1, .max = CONFIG_MAX_COMMANDS_BEFORE_MAIL_LIMIT,
     .fallback = CONFIG_DEFAULT_IMAP_MAX_COMMANDS_BEFORE_LOGIN},
    {"imap.max-errors", KEY_COUNT, SERVER_FIELD(imap.max_errors), .min = 1,
     .max = CONFIG_MAX_ERRORS_LIMIT, .fallback = CONFIG_DEFAULT_IMAP_MAX_ERRORS},
    {"imap.timeout.idle", KEY_DURATION, SERVER_FIELD(imap.idle_timeout_ms), .min = SECOND,
     .max = DAY, .fallback = CONFIG_DEFAULT_IMAP_IDLE_TIMEOUT_MS},
    {"imap.idle.poll-interval", KEY_DURATION, SERVER_FIELD(imap.idle_poll_ms), .min = 100,
     .max = HOUR, .fallback = CONFIG_DEFAULT_IMAP_IDLE_POLL_MS},
    {"directory.accounts", KEY_TABLES, .tables = &config_account_tables},
    {"certificate", KEY_NAMED_TABLES, .tables = &config_certificate_tables},
    /* "TLSv1.2", "TLSv1.3" (older ones only when listed); OpenSSL's defaults for ciphers */
    {"server.tls.protocols", KEY_TEXT_LIST, SERVER_FIELD(tls_protocols), .size = 16, .max = 4,
     .check = config_check_tls_protocol},
    {"server.tls.ciphers", KEY_TEXT, SERVER_TEXT(tls.ciphers)},
    {"server.tls.ciphersuites", KEY_TEXT, SERVER_TEXT(tls.ciphersuites)},
    {"server.tls.timeout", KEY_DURATION, SERVER_FIELD(tls.handshake_timeout_ms), .min = 1,
     .max = HOUR, .fallback = CONFIG_DEFAULT_TLS_TIMEOUT_MS},
};
const size_t config_server_key_count = sizeof config_server_keys / sizeof config_server_keys[0];

const struct key_spec config_listener_keys[] = {
    {"bind", KEY_BINDS, .required = true},
    {"protocol", KEY_CHOICE, LISTENER_FIELD(protocol), .required = true,
     .choices = config_protocol_names},
    {"tls.implicit", KEY_BOOL, LISTENER_FIELD(tls_implicit)},
    /* 0: only the server-wide limit applies */
    {"max-connections", KEY_COUNT, LISTENER_FIELD(max_connections), .min = 0,
     .max = CONFIG_MAX_CONNECTIONS_LIMIT},
    /* present: replaces the global list for this listener; [] turns PROXY off */
    {"proxy.trusted-networks", KEY_NETWORKS, LISTENER_FIELD(own_trusted), .trusts_peers = true},
    {"proxy.assume-tls", KEY_BOOL, LISTENER_FIELD(assume_tls)},
    /* only proxies connect here: the kernel hands over connections once data arrived */
    {"proxy.defer-accept", KEY_BOOL, LISTENER_FIELD(defer_accept)},
    /* AUTH required before MAIL (ours) */
    {"submission", KEY_BOOL, LISTENER_FIELD(submission)},
};
const size_t config_listener_key_count =
    sizeof config_listener_keys / sizeof config_listener_keys[0];

/* Scopes track which keys they saw in a 64-bit mask. */
_Static_assert(sizeof config_server_keys / sizeof config_server_keys[0] <= 64, "seen mask");
_Static_assert(sizeof config_listener_keys / sizeof config_listener_keys[0] <= 64, "seen mask");

void config_apply_defaults(const struct key_spec *keys, size_t nkeys, void *target)
{
    char *base = target;
    for (size_t i = 0; i < nkeys; i++) {
        const struct key_spec *spec = &keys[i];
        uint32_t number = (uint32_t)spec->fallback;
        uint64_t wide = (uint64_t)spec->fallback;
        bool flag = spec->fallback != 0;
        struct ban_rule rule = {0};
        switch (spec->type) {
        case KEY_COUNT:
        case KEY_DURATION:
            if (spec->size == KEY_WIDE)
                memcpy(base + spec->offset, &wide, sizeof wide);
            else
                memcpy(base + spec->offset, &number, sizeof number);
            break;
        case KEY_RATE:
            /* The schema's own defaults are valid by construction (tests load them). */
            if (spec->fallback_text)
                config_parse_rate(spec->fallback_text, strlen(spec->fallback_text), spec->max,
                                  &rule, NULL, 0);
            memcpy(base + spec->offset, &rule, sizeof rule);
            break;
        case KEY_BOOL:
            memcpy(base + spec->offset, &flag, sizeof flag);
            break;
        case KEY_TEXT:
            if (spec->fallback_text)
                snprintf(base + spec->offset, spec->size, "%s", spec->fallback_text);
            break;
        default: /* networks, binds, protocol, lists and tables start empty */
            break;
        }
    }
}

/* ---- The walk ---- */

/* A key relative to its scope ("proxy.trusted-networks"), to look up in the schema. A component
 * with a '.' or a NUL in it cannot name a schema key, so such a name matches nothing. */
struct rel_name {
    char text[CONFIG_REL_NAME_MAX];
    size_t len;
    unsigned unmatchable; /* components that cannot match, in the current stack */
};

struct rel_mark {
    size_t len;
    bool unmatchable;
};

static struct rel_mark rel_push(struct rel_name *rel, const char *key, size_t key_len)
{
    struct rel_mark mark = {rel->len, false};
    size_t need = key_len + (rel->len ? 1 : 0);
    if (memchr(key, '.', key_len) || memchr(key, '\0', key_len) ||
        rel->len + need >= sizeof rel->text) {
        mark.unmatchable = true;
        rel->unmatchable++;
        return mark;
    }
    if (rel->len)
        rel->text[rel->len++] = '.';
    memcpy(rel->text + rel->len, key, key_len);
    rel->len += key_len;
    rel->text[rel->len] = '\0';
    return mark;
}

static void rel_pop(struct rel_name *rel, struct rel_mark mark)
{
    if (mark.unmatchable)
        rel->unmatchable--;
    rel->len = mark.len;
    rel->text[rel->len] = '\0';
}

struct scope {
    const struct key_spec *keys;
    size_t nkeys;
    void *target;
    uint64_t seen; /* bit i: keys[i] was given */
};

static const struct key_spec *find_key(const struct scope *scope, const struct rel_name *rel)
{
    if (rel->unmatchable)
        return NULL;
    for (size_t i = 0; i < scope->nkeys; i++) {
        if (strcmp(scope->keys[i].name, rel->text) == 0)
            return &scope->keys[i];
    }
    return NULL;
}

/* True when rel names a table on the way to a schema key ("server.proxy"). */
static bool is_key_prefix(const struct scope *scope, const struct rel_name *rel)
{
    if (rel->unmatchable)
        return false;
    for (size_t i = 0; i < scope->nkeys; i++) {
        const char *name = scope->keys[i].name;
        if (strncmp(name, rel->text, rel->len) == 0 && name[rel->len] == '.')
            return true;
    }
    return false;
}

static const char *last_part(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

static void append_suggestion(char *out, size_t cap, const char *prefix, const char *name)
{
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s%s%s", used ? " or " : "", prefix, name);
}

bool config_suggest_key(const char *key, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < config_server_key_count; i++) {
        const char *last = last_part(config_server_keys[i].name);
        if (strlen(last) == len && memcmp(last, key, len) == 0)
            append_suggestion(out, cap, "", config_server_keys[i].name);
    }
    for (size_t i = 0; i < config_listener_key_count; i++) {
        const char *last = last_part(config_listener_keys[i].name);
        if (strlen(last) == len && memcmp(last, key, len) == 0)
            append_suggestion(out, cap, "server.listener.<id>.", config_listener_keys[i].name);
    }
    for (size_t i = 0; i < config_account_tables.nkeys; i++) {
        const char *name = config_account_tables.keys[i].name;
        if (strlen(name) == len && memcmp(name, key, len) == 0)
            append_suggestion(out, cap, "directory.accounts[<n>].", name);
    }
    return out[0] != '\0';
}

/* A misplaced postern key ("trusted-networks" at the top, "timeout" under a listener) is
 * worth a suggestion; keys of Stalwart's other sections (storage, queue...) are not ours. */
static bool may_be_ours(const struct key_path *path)
{
    return strncmp(path->text, "server.", strlen("server.")) == 0 ||
           strncmp(path->text, "directory.", strlen("directory.")) == 0 ||
           !strchr(path->text, '.');
}

static void warn_unknown_leaf(struct loader *ld, const char *key, size_t key_len, size_t line,
                              const struct key_path *path)
{
    char suggestion[CONFIG_MESSAGE_MAX];
    if (may_be_ours(path) && config_suggest_key(key, key_len, suggestion, sizeof suggestion))
        config_warning(ld, line, "unknown key %s (ignored); did you mean %s?", path->text,
                       suggestion);
    else
        config_warning(ld, line, "unknown key %s (ignored)", path->text);
}

/* Every leaf of an unknown table is named, so the operator sees exactly what is ignored. */
static void warn_unknown(struct loader *ld, const struct toml_entry *e, struct key_path *path)
{
    if (toml_kind_of(e->value) != TOML_TABLE || toml_table_size(e->value) == 0) {
        warn_unknown_leaf(ld, e->key, e->key_len, e->key_pos.line, path);
        return;
    }
    struct toml_entry inner;
    TOML_TABLE_FOREACH(inner, e->value) {
        size_t mark = key_path_push(path, inner.key, inner.key_len);
        warn_unknown(ld, &inner, path);
        key_path_pop(path, mark);
    }
}

static void walk_table(struct loader *ld, const struct toml_value *table, struct key_path *path,
                       struct rel_name *rel, struct scope *scope);

static void apply_key(struct loader *ld, const struct key_spec *spec, const struct key_site *site,
                      struct key_path *path, struct scope *scope)
{
    scope->seen |= UINT64_C(1) << (spec - scope->keys);
    if (spec->type == KEY_LISTENERS)
        config_apply_listeners(ld, site, path);
    else if (spec->type == KEY_TABLES)
        config_apply_tables(ld, spec, site, path);
    else if (spec->type == KEY_NAMED_TABLES)
        config_apply_named_tables(ld, spec, site, path);
    else
        config_apply_value(ld, spec, site, scope->target);
}

static void visit_entry(struct loader *ld, const struct toml_entry *e, struct key_path *path,
                        struct rel_name *rel, struct scope *scope)
{
    struct key_site site = {e->value, path->text, e->key_pos.line};
    const struct key_spec *spec = find_key(scope, rel);
    if (spec) {
        apply_key(ld, spec, &site, path, scope);
    } else if (is_key_prefix(scope, rel)) {
        if (toml_kind_of(e->value) == TOML_TABLE)
            walk_table(ld, e->value, path, rel, scope);
        else
            config_error(ld, site.line, path->text, "expected a table, found %s",
                         toml_kind_name(toml_kind_of(e->value)));
    } else {
        warn_unknown(ld, e, path);
    }
}

static void walk_table(struct loader *ld, const struct toml_value *table, struct key_path *path,
                       struct rel_name *rel, struct scope *scope)
{
    struct toml_entry e;
    TOML_TABLE_FOREACH(e, table) {
        size_t path_mark = key_path_push(path, e.key, e.key_len);
        struct rel_mark mark = rel_push(rel, e.key, e.key_len);
        visit_entry(ld, &e, path, rel, scope);
        rel_pop(rel, mark);
        key_path_pop(path, path_mark);
    }
}

void config_walk_root(struct loader *ld, const struct toml_value *root)
{
    struct key_path path = {.len = 0};
    struct rel_name rel = {.len = 0};
    struct scope scope = {config_server_keys, config_server_key_count, ld->config, 0};
    walk_table(ld, root, &path, &rel, &scope);
}

void config_walk_scope(struct loader *ld, const struct toml_value *table, struct key_path *path,
                       const struct key_spec *keys, size_t nkeys, void *target)
{
    struct rel_name rel = {.len = 0};
    struct scope scope = {keys, nkeys, target, 0};
    walk_table(ld, table, path, &rel, &scope);
    for (size_t i = 0; i < scope.nkeys; i++) {
        if (scope.keys[i].required && !(scope.seen & (UINT64_C(1) << i)))
            config_error(ld, toml_position(table).line, path->text, "missing required key %s",
                         scope.keys[i].name);
    }
}

void config_walk_listener(struct loader *ld, const struct toml_value *table, struct key_path *path,
                          struct listener_config *listener)
{
    config_walk_scope(ld, table, path, config_listener_keys, config_listener_key_count,
                      listener);
}

/* ---- Arrays of tables ---- */

static void walk_element(struct loader *ld, const struct table_array *array,
                         const struct toml_value *table, struct key_path *path, const char *id,
                         size_t id_len)
{
    void *item = calloc(1, array->item_size);
    if (!item) {
        config_error(ld, toml_position(table).line, path->text, "out of memory");
        return;
    }
    config_apply_defaults(array->keys, array->nkeys, item);
    if (array->set_id)
        array->set_id(item, id, id_len);
    unsigned errors_before = ld->errors;
    config_walk_scope(ld, table, path, array->keys, array->nkeys, item);
    array->finish(ld, item, table, path, ld->errors == errors_before);
    array->release(item);
    free(item);
}

void config_apply_named_tables(struct loader *ld, const struct key_spec *spec,
                               const struct key_site *site, struct key_path *path)
{
    if (toml_kind_of(site->value) != TOML_TABLE) {
        config_error(ld, site->line, site->key, "expected tables [%s.<id>], found %s",
                     spec->name, toml_kind_name(toml_kind_of(site->value)));
        return;
    }
    struct toml_entry e;
    TOML_TABLE_FOREACH(e, site->value) {
        size_t mark = key_path_push(path, e.key, e.key_len);
        if (toml_kind_of(e.value) == TOML_TABLE)
            walk_element(ld, spec->tables, e.value, path, e.key, e.key_len);
        else
            config_error(ld, e.key_pos.line, path->text, "expected a table [%s.<id>], found %s",
                         spec->name, toml_kind_name(toml_kind_of(e.value)));
        key_path_pop(path, mark);
    }
}

void config_apply_tables(struct loader *ld, const struct key_spec *spec,
                         const struct key_site *site, struct key_path *path)
{
    if (toml_kind_of(site->value) != TOML_ARRAY) {
        config_error(ld, site->line, site->key, "expected tables written as [[%s]], found %s",
                     spec->name, toml_kind_name(toml_kind_of(site->value)));
        return;
    }
    size_t index = 0;
    const struct toml_value *item;
    TOML_ARRAY_FOREACH(item, site->value) {
        size_t mark = key_path_push_index(path, index++);
        if (toml_kind_of(item) == TOML_TABLE)
            walk_element(ld, spec->tables, item, path, NULL, 0);
        else
            config_error(ld, toml_position(item).line ? toml_position(item).line : site->line,
                         path->text, "expected a table ([[%s]]), found %s", spec->name,
                         toml_kind_name(toml_kind_of(item)));
        key_path_pop(path, mark);
    }
}
