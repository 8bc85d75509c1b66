/*
 * Listeners: their ids, bind addresses, and after loading, which trusted networks each one
 * uses and whether two listeners claim the same address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

/* ---- Bind addresses ---- */

#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

/* "\"TEXT\": message", with unprintable bytes of TEXT escaped. */
CONFIG_PRINTF(5, 6)
static void bind_why(char *why, size_t whylen, const char *text, size_t len, const char *fmt, ...)
{
    char quoted[CONFIG_BIND_TEXT_MAX * 4 + 8];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 5 < sizeof quoted; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            n += (size_t)snprintf(quoted + n, sizeof quoted - n, "\\x%02x", c);
        else
            quoted[n++] = (char)c;
    }
    quoted[n] = '\0';
    int used = snprintf(why, whylen, "\"%s%s\": ", quoted, n + 5 >= sizeof quoted ? "..." : "");
    if (used < 0 || (size_t)used >= whylen)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(why + used, whylen - (size_t)used, fmt, args);
    va_end(args);
}

static bool parse_port(const char *text, uint16_t *port)
{
    size_t len = strlen(text);
    if (len == 0 || len > 5 || strspn(text, "0123456789") != len)
        return false;
    unsigned long n = strtoul(text, NULL, 10);
    if (n == 0 || n > 65535)
        return false;
    *port = (uint16_t)n;
    return true;
}

static void fill_inet(struct bind_address *out, const struct in_addr *ip, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = *ip};
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, ip, host, sizeof host);
    memset(&out->addr, 0, sizeof out->addr);
    memcpy(&out->addr, &sin, sizeof sin);
    out->addr_len = sizeof sin;
    snprintf(out->text, sizeof out->text, "%s:%u", host, (unsigned)port);
}

static void fill_inet6(struct bind_address *out, const struct in6_addr *ip, uint16_t port)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port),
                                .sin6_addr = *ip};
    char host[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, ip, host, sizeof host);
    memset(&out->addr, 0, sizeof out->addr);
    memcpy(&out->addr, &sin6, sizeof sin6);
    out->addr_len = sizeof sin6;
    snprintf(out->text, sizeof out->text, "[%s]:%u", host, (unsigned)port);
}

/* "[ipv6]:port"; buf is a writable copy of the text. */
static bool parse_bracketed(char *buf, const char *text, size_t len, struct bind_address *out,
                            char *why, size_t whylen)
{
    char *close = strchr(buf, ']');
    if (!close) {
        bind_why(why, whylen, text, len, "missing ']' after the IPv6 address");
        return false;
    }
    *close = '\0';
    struct in6_addr ip6;
    struct in_addr ip4;
    uint16_t port;
    if (inet_pton(AF_INET6, buf + 1, &ip6) != 1) {
        if (inet_pton(AF_INET, buf + 1, &ip4) == 1)
            bind_why(why, whylen, text, len, "brackets are only for IPv6; write \"%s:PORT\"",
                     buf + 1);
        else
            bind_why(why, whylen, text, len, "\"%s\" is not an IPv6 address", buf + 1);
        return false;
    }
    if (close[1] != ':' || !parse_port(close + 2, &port)) {
        bind_why(why, whylen, text, len, "expected a port from 1 to 65535 after \"]:\"");
        return false;
    }
    fill_inet6(out, &ip6, port);
    return true;
}

/* "ipv4:port"; buf is a writable copy of the text. */
static bool parse_plain(char *buf, const char *text, size_t len, struct bind_address *out,
                        char *why, size_t whylen)
{
    char *colon = strrchr(buf, ':');
    if (!colon) {
        bind_why(why, whylen, text, len, "missing port (expected \"ip:port\", e.g. "
                 "\"127.0.0.1:25\" or \"[::1]:25\")");
        return false;
    }
    *colon = '\0';
    if (strchr(buf, ':')) {
        bind_why(why, whylen, text, len, "an IPv6 address must be in brackets, with the port "
                 "after them, e.g. \"[::1]:25\"");
        return false;
    }
    struct in_addr ip4;
    uint16_t port;
    if (inet_pton(AF_INET, buf, &ip4) != 1) {
        bind_why(why, whylen, text, len, "\"%s\" is not an IP address (host names are not "
                 "resolved; use 0.0.0.0 or [::] for every address)", buf);
        return false;
    }
    if (!parse_port(colon + 1, &port)) {
        bind_why(why, whylen, text, len, "port \"%s\" is not a number from 1 to 65535",
                 colon + 1);
        return false;
    }
    fill_inet(out, &ip4, port);
    return true;
}

bool config_parse_bind(const char *text, size_t len, struct bind_address *out, char *why,
                       size_t whylen)
{
    char buf[CONFIG_BIND_TEXT_MAX];
    if (len == 0) {
        snprintf(why, whylen, "empty address (expected \"ip:port\", e.g. \"127.0.0.1:25\")");
        return false;
    }
    if (len >= sizeof buf || memchr(text, '\0', len)) {
        bind_why(why, whylen, text, len, "not an address (expected \"ip:port\" or "
                 "\"[ipv6]:port\")");
        return false;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (buf[0] == '[')
        return parse_bracketed(buf, text, len, out, why, whylen);
    return parse_plain(buf, text, len, out, why, whylen);
}

/* ---- Listener tables ---- */

static size_t listener_index(const struct loader *ld, const struct listener_config *listener)
{
    return (size_t)(listener - ld->config->listeners);
}

static void add_bind(struct loader *ld, const struct toml_value *item, const char *key,
                     size_t line, struct listener_config *listener)
{
    size_t len;
    char *text = config_string_value(ld, item, key, line, &len);
    if (!text)
        return;
    char why[CONFIG_MESSAGE_MAX];
    struct bind_address bind;
    if (!config_parse_bind(text, len, &bind, why, sizeof why)) {
        config_error(ld, line, key, "%s", why);
    } else if (listener->nbinds == CONFIG_MAX_BINDS) {
        config_error(ld, line, key, "too many addresses (at most %d)", CONFIG_MAX_BINDS);
    } else {
        ld->origins[listener_index(ld, listener)].bind_lines[listener->nbinds] = line;
        listener->binds[listener->nbinds++] = bind;
    }
    free(text);
}

void config_apply_binds(struct loader *ld, const struct key_site *site,
                        struct listener_config *listener)
{
    enum toml_kind kind = toml_kind_of(site->value);
    if (kind == TOML_STRING) {
        add_bind(ld, site->value, site->key, site->line, listener);
        return;
    }
    if (kind != TOML_ARRAY || toml_array_size(site->value) == 0) {
        config_error(ld, site->line, site->key, "expected an address such as \"127.0.0.1:25\" "
                     "or a non-empty list of them, found %s",
                     kind == TOML_ARRAY ? "an empty list" : toml_kind_name(kind));
        return;
    }
    const struct toml_value *item;
    TOML_ARRAY_FOREACH(item, site->value) {
        size_t line = toml_position(item).line ? toml_position(item).line : site->line;
        add_bind(ld, item, site->key, line, listener);
    }
}

static const char *check_listener_id(const char *id, size_t len)
{
    if (len == 0)
        return "a listener id must not be empty";
    if (len >= CONFIG_ID_MAX)
        return "a listener id has at most 63 bytes";
    if (memchr(id, '\0', len) || strspn(id, ID_CHARS) != len)
        return "a listener id may only contain letters, digits, '_', '.' and '-'";
    return NULL;
}

static bool reserve_listeners(struct loader *ld, size_t count, const struct key_site *site)
{
    struct config *config = ld->config;
    if (count > CONFIG_MAX_LISTENERS) {
        config_error(ld, site->line, site->key, "too many listeners (%zu, at most %d)", count,
                     CONFIG_MAX_LISTENERS);
        count = CONFIG_MAX_LISTENERS;
    }
    config->listeners = calloc(count ? count : 1, sizeof *config->listeners);
    ld->origins = calloc(count ? count : 1, sizeof *ld->origins);
    ld->listener_capacity = count;
    if (!config->listeners || !ld->origins) {
        config_error(ld, site->line, site->key, "out of memory");
        return false;
    }
    return true;
}

static void add_listener(struct loader *ld, const struct toml_entry *e, struct key_path *path)
{
    const char *why = check_listener_id(e->key, e->key_len);
    if (why) {
        config_error(ld, e->key_pos.line, path->text, "%s", why);
        return;
    }
    if (toml_kind_of(e->value) != TOML_TABLE) {
        config_error(ld, e->key_pos.line, path->text, "expected a listener table, found %s",
                     toml_kind_name(toml_kind_of(e->value)));
        return;
    }
    struct config *config = ld->config;
    struct listener_config *listener = &config->listeners[config->nlisteners];
    memcpy(listener->id, e->key, e->key_len);
    listener->id[e->key_len] = '\0';
    size_t line = toml_position(e->value).line;
    ld->origins[config->nlisteners++].line = line ? line : e->key_pos.line;
    config_walk_listener(ld, e->value, path, listener);
}

void config_apply_listeners(struct loader *ld, const struct key_site *site, struct key_path *path)
{
    if (toml_kind_of(site->value) != TOML_TABLE) {
        config_error(ld, site->line, site->key, "expected tables [server.listener.<id>], "
                     "found %s", toml_kind_name(toml_kind_of(site->value)));
        return;
    }
    if (!reserve_listeners(ld, toml_table_size(site->value), site))
        return;
    struct toml_entry e;
    TOML_TABLE_FOREACH(e, site->value) {
        if (ld->config->nlisteners == ld->listener_capacity)
            break;
        size_t mark = key_path_push(path, e.key, e.key_len);
        add_listener(ld, &e, path);
        key_path_pop(path, mark);
    }
}

/* ---- After loading ---- */

/* "server.listener.ID.SUFFIX", with the id quoted when it has a '.'. */
static void listener_key(const struct listener_config *listener, const char *suffix,
                         struct key_path *out)
{
    out->len = 0;
    out->text[0] = '\0';
    key_path_push(out, "server", strlen("server"));
    key_path_push(out, "listener", strlen("listener"));
    key_path_push(out, listener->id, strlen(listener->id));
    snprintf(out->text + out->len, sizeof out->text - out->len, ".%s", suffix);
}

static void resolve_trust(struct loader *ld, struct listener_config *listener)
{
    /* A scraper connects directly: a metrics listener only trusts its own list, if any. */
    const struct netset *global =
        listener->protocol == PROTOCOL_METRICS ? NULL : ld->config->trusted_networks;
    if (listener->own_trusted) {
        bool any = netset_count(listener->own_trusted) > 0;
        listener->trust_source = any ? TRUST_LISTENER : TRUST_OFF;
        listener->trusted = any ? listener->own_trusted : NULL;
    } else if (netset_count(global) > 0) {
        listener->trust_source = TRUST_GLOBAL;
        listener->trusted = global;
    } else {
        listener->trust_source = TRUST_OFF;
        listener->trusted = NULL;
    }
    if (listener->assume_tls && listener->trust_source == TRUST_OFF) {
        struct key_path key;
        listener_key(listener, "proxy.assume-tls", &key);
        config_warning(ld, ld->origins[listener_index(ld, listener)].line,
                       "%s: no effect, PROXY is off on this listener (no trusted networks)",
                       key.text);
    }
    if (listener->defer_accept && listener->trust_source == TRUST_OFF) {
        struct key_path key;
        listener_key(listener, "proxy.defer-accept", &key);
        config_warning(ld, ld->origins[listener_index(ld, listener)].line,
                       "%s: PROXY is off on this listener; direct clients would wait for a "
                       "greeting that only comes after the defer period", key.text);
    }
    listener->defer_accept_s = (ld->config->proxy_timeout_ms + 999) / 1000;
}

static bool is_loopback(const struct bind_address *bind)
{
    if (bind->addr.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&bind->addr;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&bind->addr;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
        return sin6->sin6_addr.s6_addr[12] == 127;
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

/* Metrics tell anyone who can read them about clients, proxies and failures: loopback only,
 * unless the operator really means it (a warning, not an error: a firewall may cover it). */
static void check_metrics_binds(struct loader *ld, size_t li)
{
    const struct listener_config *listener = &ld->config->listeners[li];
    if (listener->protocol != PROTOCOL_METRICS)
        return;
    for (size_t j = 0; j < listener->nbinds; j++) {
        if (is_loopback(&listener->binds[j]))
            continue;
        struct key_path key;
        listener_key(listener, "bind", &key);
        config_warning(ld, ld->origins[li].bind_lines[j],
                       "%s: metrics listener on %s, which is not a loopback address: anyone "
                       "who can reach it can read the metrics (bind 127.0.0.1 or [::1], or "
                       "make sure a firewall covers it)", key.text, listener->binds[j].text);
    }
}

static bool same_address(const struct bind_address *a, const struct bind_address *b)
{
    return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

/* Reports bind j of listener li if an earlier bind (in file order) has the same address. */
static void check_bind_unique(struct loader *ld, size_t li, size_t j)
{
    const struct config *config = ld->config;
    const struct bind_address *bind = &config->listeners[li].binds[j];
    for (size_t lk = 0; lk <= li; lk++) {
        const struct listener_config *other = &config->listeners[lk];
        size_t limit = lk == li ? j : other->nbinds;
        for (size_t k = 0; k < limit; k++) {
            if (!same_address(bind, &other->binds[k]))
                continue;
            struct key_path key;
            listener_key(&config->listeners[li], "bind", &key);
            config_error(ld, ld->origins[li].bind_lines[j], key.text,
                         "%s is already bound by listener %s (line %zu)", bind->text, other->id,
                         ld->origins[lk].bind_lines[k]);
            return;
        }
    }
}

void config_resolve_listeners(struct loader *ld)
{
    struct config *config = ld->config;
    for (size_t i = 0; i < config->nlisteners; i++) {
        resolve_trust(ld, &config->listeners[i]);
        check_metrics_binds(ld, i);
        for (size_t j = 0; j < config->listeners[i].nbinds; j++)
            check_bind_unique(ld, i, j);
    }
}
