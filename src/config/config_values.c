/*
 * Converters from TOML values to configuration fields, one per key type. Each checks the TOML
 * type itself (no conversions: "100" is not an integer), reports what is wrong in the operator's
 * terms, and leaves the default in place on error so that loading continues and every problem
 * is reported in one run.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

static const char *kind_of(const struct toml_value *value)
{
    return toml_kind_name(toml_kind_of(value));
}

static void *field_of(void *target, const struct key_spec *spec)
{
    return (char *)target + spec->offset;
}

char *config_string_value(struct loader *ld, const struct toml_value *value, const char *key,
                          size_t line, size_t *len)
{
    size_t raw_len;
    const char *raw = toml_as_string(value, &raw_len);
    if (!raw) {
        config_error(ld, line, key, "expected a string, found %s", kind_of(value));
        return NULL;
    }
    if (memchr(raw, '\0', raw_len)) {
        config_error(ld, line, key, "contains a NUL character");
        return NULL;
    }
    char why[CONFIG_MESSAGE_MAX];
    char *text = config_expand_macros(raw, raw_len, len, why, sizeof why);
    if (!text)
        config_error(ld, line, key, "%s", why);
    return text;
}

static void apply_text(struct loader *ld, const struct key_spec *spec,
                       const struct key_site *site, void *target)
{
    size_t len;
    char *text = config_string_value(ld, site->value, site->key, site->line, &len);
    if (!text)
        return;
    const char *why = spec->check ? spec->check(text) : NULL;
    if (len >= spec->size)
        config_error(ld, site->line, site->key, "too long (%zu bytes, at most %zu)", len,
                     spec->size - 1);
    else if (why && spec->secret)
        config_error(ld, site->line, site->key, "the value %s", why);
    else if (why)
        config_error(ld, site->line, site->key, "\"%s\" %s", text, why);
    else
        memcpy(field_of(target, spec), text, len + 1);
    if (spec->secret)
        explicit_bzero(text, len);
    free(text);
}

/* KEY_COUNT and KEY_DURATION: a uint32_t field, or a uint64_t one for KEY_WIDE. */
static void store_u32(void *target, const struct key_spec *spec, uint64_t value)
{
    if (spec->size == KEY_WIDE) {
        memcpy(field_of(target, spec), &value, sizeof value);
        return;
    }
    uint32_t narrow = (uint32_t)value;
    memcpy(field_of(target, spec), &narrow, sizeof narrow);
}

static void apply_count(struct loader *ld, const struct key_spec *spec,
                        const struct key_site *site, void *target)
{
    int64_t n;
    if (!toml_as_integer(site->value, &n)) {
        config_error(ld, site->line, site->key, "expected an integer, found %s",
                     kind_of(site->value));
    } else if (n < spec->min || n > spec->max) {
        config_error(ld, site->line, site->key, "%" PRId64 " is out of range (%" PRId64
                     " to %" PRId64 ")", n, spec->min, spec->max);
    } else {
        store_u32(target, spec, (uint64_t)n);
    }
}

static void report_duration_range(struct loader *ld, const struct key_spec *spec,
                                  const struct key_site *site, const char *text)
{
    char min[32], max[32];
    config_format_duration((uint64_t)spec->min, min, sizeof min);
    config_format_duration((uint64_t)spec->max, max, sizeof max);
    if (spec->min > 0)
        config_error(ld, site->line, site->key, "\"%s\" is out of range (more than 0, at most %s)",
                     text, max);
    else
        config_error(ld, site->line, site->key, "\"%s\" is out of range (%s to %s)", text, min,
                     max);
}

static void apply_duration(struct loader *ld, const struct key_spec *spec,
                           const struct key_site *site, void *target)
{
    if (toml_kind_of(site->value) != TOML_STRING) {
        config_error(ld, site->line, site->key,
                     "expected a duration such as \"5s\" or \"250ms\", found %s",
                     kind_of(site->value));
        return;
    }
    size_t len;
    char *text = config_string_value(ld, site->value, site->key, site->line, &len);
    if (!text)
        return;
    uint64_t ms;
    if (!config_parse_duration(text, len, &ms))
        config_error(ld, site->line, site->key,
                     "\"%s\" is not a duration (a whole number and a unit: ms, s, m, h or d, "
                     "e.g. \"5s\")", text);
    else if (ms < (uint64_t)spec->min || ms > (uint64_t)spec->max)
        report_duration_range(ld, spec, site, text);
    else
        store_u32(target, spec, ms);
    free(text);
}

static void apply_bool(struct loader *ld, const struct key_spec *spec,
                       const struct key_site *site, void *target)
{
    bool flag;
    if (!toml_as_bool(site->value, &flag))
        config_error(ld, site->line, site->key, "expected true or false, found %s",
                     kind_of(site->value));
    else
        memcpy(field_of(target, spec), &flag, sizeof flag);
}

/* A trusted entry with prefix 0 lets anyone on the Internet choose their address. */
static void warn_if_matches_everything(struct loader *ld, const struct netset *set,
                                       const char *key, size_t line)
{
    const struct netset_cidr *entry = netset_entry(set, netset_count(set) - 1);
    if (entry && entry->prefix == 0)
        config_warning(ld, line, "%s: %s trusts every %s address: any such client can claim "
                       "to be anyone", key, entry->base.family == PROXY_FAM_INET ? "0.0.0.0/0" : "::/0",
                       entry->base.family == PROXY_FAM_INET ? "IPv4" : "IPv6");
}

static void add_network(struct loader *ld, const struct key_spec *spec, struct netset *set,
                        const struct toml_value *item, const char *key, size_t line)
{
    if (toml_kind_of(item) != TOML_STRING) {
        config_error(ld, line, key, "expected a string in the list, found %s", kind_of(item));
        return;
    }
    size_t len;
    char *text = config_string_value(ld, item, key, line, &len);
    if (!text)
        return;
    char msg[CONFIG_MESSAGE_MAX];
    enum netset_status status = netset_add(set, text, len, msg, sizeof msg);
    if (status == NETSET_INVALID)
        config_error(ld, line, key, "%s", msg);
    else if (status == NETSET_ADDED_NORMALISED)
        config_warning(ld, line, "%s: %s", key, msg);
    if (status != NETSET_INVALID && spec->trusts_peers)
        warn_if_matches_everything(ld, set, key, line);
    free(text);
}

/* The line of an array item, falling back to the key's line. */
static size_t line_of(const struct toml_value *item, size_t fallback)
{
    size_t line = toml_position(item).line;
    return line ? line : fallback;
}

static void apply_networks(struct loader *ld, const struct key_spec *spec,
                           const struct key_site *site, void *target)
{
    enum toml_kind kind = toml_kind_of(site->value);
    if (kind != TOML_STRING && kind != TOML_ARRAY) {
        config_error(ld, site->line, site->key,
                     "expected a list of networks in square brackets, e.g. "
                     "[\"10.0.0.0/8\", \"::1\"], or a single string; found %s",
                     kind_of(site->value));
        return;
    }
    struct netset **slot = field_of(target, spec);
    if (!*slot && !(*slot = netset_new())) {
        config_error(ld, site->line, site->key, "out of memory");
        return;
    }
    if (kind == TOML_STRING) {
        add_network(ld, spec, *slot, site->value, site->key, site->line);
        return;
    }
    const struct toml_value *item;
    TOML_ARRAY_FOREACH(item, site->value)
        add_network(ld, spec, *slot, item, site->key, line_of(item, site->line));
}

/* "a", "b" and "c" */
static void format_choices(const char *const *choices, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; choices[i] && used < outlen; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " and ";
        int n = snprintf(out + used, outlen - used, "%s\"%s\"", sep, choices[i]);
        used += n > 0 ? (size_t)n : 0;
    }
}

static void apply_choice(struct loader *ld, const struct key_spec *spec,
                         const struct key_site *site, void *target)
{
    size_t len;
    char *text = config_string_value(ld, site->value, site->key, site->line, &len);
    if (!text)
        return;
    int i = 0;
    while (spec->choices[i] && strcmp(text, spec->choices[i]) != 0)
        i++;
    if (spec->choices[i]) {
        memcpy(field_of(target, spec), &i, sizeof i);
    } else {
        const char *dot = strrchr(spec->name, '.');
        char names[256];
        format_choices(spec->choices, names, sizeof names);
        config_error(ld, site->line, site->key, "unknown %s \"%s\" (postern supports %s)",
                     dot ? dot + 1 : spec->name, text, names);
    }
    free(text);
}

/* ---- Rates ---- */

bool config_parse_rate(const char *text, size_t len, int64_t max_count, struct ban_rule *out,
                       char *why, size_t whylen)
{
    const char *slash = memchr(text, '/', len);
    size_t digits = slash ? (size_t)(slash - text) : 0;
    uint64_t count = 0, window = 0;
    bool number = digits > 0 && digits <= 9 && strspn(text, "0123456789") == digits;
    for (size_t i = 0; number && i < digits; i++)
        count = count * 10 + (uint64_t)(text[i] - '0');
    if (!number || !config_parse_duration(slash + 1, len - digits - 1, &window)) {
        if (why)
            snprintf(why, whylen, "\"%.*s\" is not a rate (a count, '/' and a duration, e.g. "
                     "\"5/10m\")", (int)len, text);
        return false;
    }
    if (count > (uint64_t)max_count || window == 0 || window > CONFIG_MAX_RATE_WINDOW_MS) {
        char longest[32];
        config_format_duration(CONFIG_MAX_RATE_WINDOW_MS, longest, sizeof longest);
        if (why)
            snprintf(why, whylen, "\"%.*s\" is out of range (a count from 0 to %" PRId64
                     ", 0 turning the rule off; a window above 0 and at most %s)", (int)len,
                     text, max_count, longest);
        return false;
    }
    out->count = (uint32_t)count;
    out->window_ms = window;
    return true;
}

static void apply_rate(struct loader *ld, const struct key_spec *spec,
                       const struct key_site *site, void *target)
{
    if (toml_kind_of(site->value) != TOML_STRING) {
        config_error(ld, site->line, site->key, "expected a rate such as \"5/10m\" (a count, "
                     "'/' and a duration), found %s", kind_of(site->value));
        return;
    }
    size_t len;
    char *text = config_string_value(ld, site->value, site->key, site->line, &len);
    if (!text)
        return;
    char why[CONFIG_MESSAGE_MAX];
    struct ban_rule rule;
    if (config_parse_rate(text, len, spec->max, &rule, why, sizeof why))
        memcpy(field_of(target, spec), &rule, sizeof rule);
    else
        config_error(ld, site->line, site->key, "%s", why);
    free(text);
}

/* ---- Lists of strings ---- */

void text_list_free(struct text_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    free(list->lines);
    *list = (struct text_list){0};
}

static bool text_list_append(struct text_list *list, char *text, size_t line)
{
    char **items = realloc(list->items, (list->count + 1) * sizeof *items);
    if (items)
        list->items = items;
    size_t *lines = items ? realloc(list->lines, (list->count + 1) * sizeof *lines) : NULL;
    if (!lines)
        return false;
    list->lines = lines;
    list->items[list->count] = text;
    list->lines[list->count++] = line;
    return true;
}

static void add_list_item(struct loader *ld, const struct key_spec *spec,
                          const struct toml_value *item, const struct key_site *site,
                          struct text_list *list)
{
    size_t line = line_of(item, site->line);
    if (toml_kind_of(item) != TOML_STRING) {
        config_error(ld, line, site->key, "expected a string in the list, found %s",
                     kind_of(item));
        return;
    }
    size_t len;
    char *text = config_string_value(ld, item, site->key, line, &len);
    if (!text)
        return;
    const char *why = spec->check ? spec->check(text) : NULL;
    if (len >= spec->size)
        config_error(ld, line, site->key, "too long (%zu bytes, at most %zu)", len,
                     spec->size - 1);
    else if (why)
        config_error(ld, line, site->key, "\"%s\" %s", text, why);
    else if ((int64_t)list->count >= spec->max)
        config_error(ld, line, site->key, "too many entries (at most %" PRId64 ")", spec->max);
    else if (text_list_append(list, text, line))
        return; /* the list owns it now */
    else
        config_error(ld, line, site->key, "out of memory");
    free(text);
}

static void apply_text_list(struct loader *ld, const struct key_spec *spec,
                            const struct key_site *site, void *target)
{
    enum toml_kind kind = toml_kind_of(site->value);
    struct text_list *list = field_of(target, spec);
    if (kind == TOML_STRING) {
        add_list_item(ld, spec, site->value, site, list);
        return;
    }
    if (kind != TOML_ARRAY) {
        config_error(ld, site->line, site->key, "expected a string or a list of strings in "
                     "square brackets, found %s", kind_of(site->value));
        return;
    }
    const struct toml_value *item;
    TOML_ARRAY_FOREACH(item, site->value)
        add_list_item(ld, spec, item, site, list);
}

void config_apply_value(struct loader *ld, const struct key_spec *spec,
                        const struct key_site *site, void *target)
{
    switch (spec->type) {
    case KEY_TEXT:
        apply_text(ld, spec, site, target);
        break;
    case KEY_COUNT:
        apply_count(ld, spec, site, target);
        break;
    case KEY_DURATION:
        apply_duration(ld, spec, site, target);
        break;
    case KEY_BOOL:
        apply_bool(ld, spec, site, target);
        break;
    case KEY_NETWORKS:
        apply_networks(ld, spec, site, target);
        break;
    case KEY_CHOICE:
        apply_choice(ld, spec, site, target);
        break;
    case KEY_BINDS:
        config_apply_binds(ld, site, target);
        break;
    case KEY_RATE:
        apply_rate(ld, spec, site, target);
        break;
    case KEY_TEXT_LIST:
        apply_text_list(ld, spec, site, target);
        break;
    case KEY_LISTENERS: /* handled by the walk, which knows the key path */
    case KEY_TABLES:
    case KEY_NAMED_TABLES:
        break;
    }
}

const char *const config_protocol_names[] = {"smtp", "imap", "metrics", NULL};

const char *listener_protocol_name(enum listener_protocol protocol)
{
    return (unsigned)protocol <= PROTOCOL_METRICS ? config_protocol_names[protocol] : "unknown";
}

/* ---- Durations ---- */

static const struct duration_unit {
    const char *suffix;
    uint64_t ms;
} duration_units[] = {
    /* largest first, so formatting picks the largest exact unit */
    {"d", 86400000},
    {"h", 3600000},
    {"m", 60000},
    {"s", 1000},
    {"ms", 1},
};

bool config_parse_duration(const char *text, size_t len, uint64_t *ms)
{
    size_t digits = 0;
    uint64_t n = 0;
    while (digits < len && text[digits] >= '0' && text[digits] <= '9') {
        unsigned d = (unsigned)(text[digits++] - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    if (digits == 0)
        return false;
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        const struct duration_unit *unit = &duration_units[i];
        if (strlen(unit->suffix) != len - digits ||
            memcmp(unit->suffix, text + digits, len - digits) != 0)
            continue;
        if (n > UINT64_MAX / unit->ms)
            return false;
        *ms = n * unit->ms;
        return true;
    }
    return false;
}

void config_format_duration(uint64_t ms, char *out, size_t cap)
{
    const struct duration_unit *unit = &duration_units[sizeof duration_units /
                                                      sizeof duration_units[0] - 1];
    for (size_t i = 0; ms != 0 && i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (ms % duration_units[i].ms == 0) {
            unit = &duration_units[i];
            break;
        }
    }
    snprintf(out, cap, "%" PRIu64 "%s", ms / unit->ms, ms == 0 ? "s" : unit->suffix);
}
