/*
 * Shared by the config_*.c files: the loader state, the key schema, diagnostics, and the value
 * converters. Nothing here is part of the public contract (config.h).
 */
#ifndef POSTERN_CONFIG_INTERNAL_H
#define POSTERN_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "config/toml.h"

/* Longest dotted key shown in a message; longer ones are cut with "...". */
#define CONFIG_KEY_TEXT_MAX 512
/* Longest schema name relative to its scope ("proxy.trusted-networks"), NUL included. */
#define CONFIG_REL_NAME_MAX 64
/* Longest diagnostic detail (after "file:line: key: "). */
#define CONFIG_MESSAGE_MAX 512

#define CONFIG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Where each listener and each of its binds was written, for messages naming both sides. */
struct listener_origin {
    size_t line;
    size_t bind_lines[CONFIG_MAX_BINDS];
};

struct loader {
    const char *filename;
    FILE *diag;
    unsigned errors;
    unsigned warnings;
    struct config *config;
    struct listener_origin *origins; /* parallel to config->listeners */
    size_t listener_capacity;
    size_t *account_lines; /* where each directory account was written, parallel to it */
    size_t account_capacity;
};

/* The dotted key being visited, as an operator would write it (quoted where it must be). */
struct key_path {
    char text[CONFIG_KEY_TEXT_MAX];
    size_t len;
};

/* Diagnostics: "error: FILE:LINE: KEY: message" and "warning: FILE:LINE: message". */
void config_error(struct loader *ld, size_t line, const char *key, const char *fmt, ...)
    CONFIG_PRINTF(4, 5);
void config_warning(struct loader *ld, size_t line, const char *fmt, ...) CONFIG_PRINTF(3, 4);

/* Appends one key component, quoting it unless it is a bare key; returns the old length. */
size_t key_path_push(struct key_path *path, const char *key, size_t key_len);
/* Appends "[index]" (an element of an array of tables); returns the old length. */
size_t key_path_push_index(struct key_path *path, size_t index);
void key_path_pop(struct key_path *path, size_t old_len);

/* ---- The schema: which keys exist, their type, where they are stored, their default. ---- */

/* KEY_COUNT and KEY_DURATION store a uint32_t, or a uint64_t when .size is KEY_WIDE. */
#define KEY_WIDE sizeof(uint64_t)

enum key_type {
    KEY_TEXT,      /* string (macros expanded) into a char array */
    KEY_COUNT,     /* integer within [min, max] into a uint32_t (or uint64_t, KEY_WIDE) */
    KEY_DURATION,  /* "5s" within [min, max] milliseconds into a uint32_t (or KEY_WIDE) */
    KEY_BOOL,      /* boolean into a bool */
    KEY_NETWORKS,  /* list of networks, or one string, into a struct netset * */
    KEY_BINDS,     /* list of ip:port, or one string, into a listener's binds */
    KEY_CHOICE,    /* one of the names in .choices into an enum field: the name's index (a
                      field left alone keeps index 0, the default) */
    KEY_LISTENERS, /* table of listener tables */
    KEY_RATE,      /* "N/duration" into a struct ban_rule: N within [0, max], the duration
                      within (0, CONFIG_MAX_RATE_WINDOW_MS] */
    KEY_TEXT_LIST, /* list of strings, or one string, into a struct text_list: each at most
                      .size - 1 bytes and passing .check, at most .max of them */
    KEY_TABLES,    /* array of tables ([[a.b]]), each walked with .tables's keys */
    KEY_NAMED_TABLES, /* tables keyed by an id ([a.<id>]), each walked with .tables's keys */
};

void text_list_free(struct text_list *list);

struct key_spec;

/* What a KEY_TABLES key holds: each element is walked with keys into a fresh, zeroed item of
 * item_size bytes (defaults applied), then handed to finish, then to release. */
struct table_array {
    const struct key_spec *keys;
    size_t nkeys;
    size_t item_size;
    /* clean: the element's keys raised no error (so its item is complete). */
    void (*finish)(struct loader *ld, void *item, const struct toml_value *table,
                   const struct key_path *path, bool clean);
    void (*release)(void *item);
    /* KEY_NAMED_TABLES: gives the item its id before its keys are walked. */
    void (*set_id)(void *item, const char *id, size_t len);
};

struct key_spec {
    const char *name;   /* dotted, relative to its scope */
    enum key_type type;
    size_t offset;      /* of the field in the scope's target struct */
    size_t size;        /* KEY_TEXT: capacity of the field, NUL included */
    int64_t min, max;   /* KEY_COUNT, KEY_DURATION (milliseconds) */
    int64_t fallback;   /* default of KEY_COUNT, KEY_DURATION, KEY_BOOL */
    const char *fallback_text; /* default of KEY_TEXT; NULL: empty or computed */
    bool required;
    bool trusts_peers; /* KEY_NETWORKS: these peers may state the client's address */
    bool secret;       /* KEY_TEXT: never repeat the value in a message (a password hash) */
    const struct table_array *tables; /* KEY_TABLES */
    const char *const *choices;       /* KEY_CHOICE: the names, NULL-terminated */
    /* KEY_TEXT: extra validation; returns NULL or why the text is refused. */
    const char *(*check)(const char *text);
};

/* The value being applied and where it was written. */
struct key_site {
    const struct toml_value *value;
    const char *key; /* dotted, for messages */
    size_t line;
};

/* Root keys (server.*, session.*, directory.*) applied to a struct config; listener keys to a
 * struct listener_config; account keys to an account draft (config_directory.c). */
extern const struct key_spec config_server_keys[];
extern const size_t config_server_key_count;
extern const struct key_spec config_listener_keys[];
extern const size_t config_listener_key_count;

/* The schema keys whose last part is key ("timeout" -> "server.proxy.timeout"), joined with
 * " or "; false when there is none. */
bool config_suggest_key(const char *key, size_t len, char *out, size_t cap);
/* Stores every default of the table into target. */
void config_apply_defaults(const struct key_spec *keys, size_t nkeys, void *target);
/* Visits every entry of the root table: known keys are applied, unknown ones warned about. */
void config_walk_root(struct loader *ld, const struct toml_value *root);
/* The same for one listener's table; also reports its missing required keys. */
void config_walk_listener(struct loader *ld, const struct toml_value *table, struct key_path *path,
                          struct listener_config *listener);
/* Any table with its own key schema, into target; reports missing required keys. */
void config_walk_scope(struct loader *ld, const struct toml_value *table, struct key_path *path,
                       const struct key_spec *keys, size_t nkeys, void *target);
/* A KEY_TABLES value: every element walked and finished (config_schema.c). */
void config_apply_tables(struct loader *ld, const struct key_spec *spec,
                         const struct key_site *site, struct key_path *path);

/* ---- Converters (config_values.c): each reports its own errors and leaves the default. ---- */

void config_apply_value(struct loader *ld, const struct key_spec *spec,
                        const struct key_site *site, void *target);

/* The string with macros expanded, or NULL after reporting; caller frees. */
char *config_string_value(struct loader *ld, const struct toml_value *value, const char *key,
                          size_t line, size_t *len);

/* Listeners (config_listeners.c). */
void config_apply_listeners(struct loader *ld, const struct key_site *site, struct key_path *path);
void config_apply_binds(struct loader *ld, const struct key_site *site,
                        struct listener_config *listener);
void config_resolve_listeners(struct loader *ld);

/* Accounts (config_directory.c). */
extern const struct table_array config_account_tables;
extern const struct table_array config_certificate_tables;
void config_apply_named_tables(struct loader *ld, const struct key_spec *spec,
                               const struct key_site *site, struct key_path *path);
/* server.tls.protocols entries; NULL or why one is refused. */
const char *config_check_tls_protocol(const char *text);
/* After loading: protocol range, the default certificate. */
void config_finish_tls(struct loader *ld);
void config_free_tls(struct config *config);
/* "N/duration" into a rule; false with why set. */
bool config_parse_rate(const char *text, size_t len, int64_t max_count, struct ban_rule *out,
                       char *why, size_t whylen);

/* ---- Macros (config_macro.c). ---- */

/* Largest file a %{file:PATH}% macro may read. */
#define CONFIG_MACRO_FILE_MAX (1u << 20)

/*
 * Expands every %{env:NAME}% and %{file:PATH}% in text. Returns a malloc'd NUL-terminated
 * string (its length in *out_len), or NULL with why set, e.g.
 *   %{env:SMTP_BIND}%: environment variable SMTP_BIND is not set
 */
char *config_expand_macros(const char *text, size_t len, size_t *out_len, char *why,
                           size_t whylen);

/* ---- Syntax errors (config_syntax.c). ---- */

/* Writes the TOML parser's error, then a hint naming the key that the failing line defines
 * (the parser knows the position, not which configuration key is being written). */
void config_report_syntax_error(const char *text, size_t len, const char *filename,
                                const char *err, FILE *diag);

/* ---- Formatting shared by describe and messages. ---- */

/* "5s", "250ms", "1h": the largest unit that divides ms exactly. */
void config_format_duration(uint64_t ms, char *out, size_t cap);

#endif
