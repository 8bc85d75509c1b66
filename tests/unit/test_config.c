/*
 * Configuration loading: Stalwart's documented snippets verbatim, trust resolution per listener,
 * every class of error with its message, macros, durations, bind addresses, unknown keys, and
 * the embedded default.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_internal.h" /* CONFIG_MACRO_FILE_MAX */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Stalwart's documentation, verbatim (seeds 000 and 001). */
#define SEED_GLOBAL                                                                           \
    "[server.proxy]\n"                                                                        \
    "trusted-networks = [\"127.0.0.0/8\", \"::1\", \"10.0.0.0/8\"]\n"
#define SEED_LISTENER                                                                         \
    "[server.listener.\"smtp\".proxy]\n"                                                      \
    "trusted-networks = [\"127.0.0.0/8\", \"::1\", \"10.0.0.0/8\"]\n"
/* The broken copy of the second seed: the brackets became braces and the addresses vanished. */
#define SEED_BROKEN "trusted-networks = {\"\", \"::1\", \"\"}\n"

#define SMTP_LISTENER                                                                         \
    "[server.listener.\"smtp\"]\n"                                                            \
    "bind = \"127.0.0.1:2525\"\n"                                                             \
    "protocol = \"smtp\"\n"

/* ---- Helpers ---- */

struct loaded {
    struct config *config;
    char *diag; /* everything config_load() wrote, NUL-terminated */
};

static struct loaded load(const char *text)
{
    struct loaded out = {0};
    size_t len = 0;
    FILE *diag = open_memstream(&out.diag, &len);
    assert_non_null(diag);
    out.config = config_load(text, strlen(text), "postern.toml", diag);
    fclose(diag);
    return out;
}

static void release(struct loaded *l)
{
    config_free(l->config);
    free(l->diag);
}

static void expect_text(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected to find\n  %s\nin\n%s", needle, haystack);
}

/* The text must load, with no diagnostics at all. */
static struct loaded load_clean(const char *text)
{
    struct loaded l = load(text);
    if (!l.config || l.diag[0] != '\0')
        fail_msg("expected a clean load of\n%s\ngot:\n%s", text, l.diag);
    return l;
}

/* The text must be refused, and the diagnostics must contain every given line. */
static void expect_refused(const char *text, const char *const *messages, size_t n)
{
    struct loaded l = load(text);
    if (l.config)
        fail_msg("expected\n%s\nto be refused; diagnostics:\n%s", text, l.diag);
    for (size_t i = 0; i < n; i++)
        expect_text(l.diag, messages[i]);
    release(&l);
}

#define EXPECT_REFUSED(text, ...)                                                             \
    expect_refused((text), (const char *const[]){__VA_ARGS__},                                \
                   ARRAY_LEN(((const char *const[]){__VA_ARGS__})))

/* The text must load, with these warnings among the diagnostics. */
static void expect_warned(const char *text, const char *const *messages, size_t n)
{
    struct loaded l = load(text);
    if (!l.config)
        fail_msg("expected\n%s\nto load; diagnostics:\n%s", text, l.diag);
    for (size_t i = 0; i < n; i++)
        expect_text(l.diag, messages[i]);
    assert_null(strstr(l.diag, "error:"));
    release(&l);
}

#define EXPECT_WARNED(text, ...)                                                              \
    expect_warned((text), (const char *const[]){__VA_ARGS__},                                 \
                  ARRAY_LEN(((const char *const[]){__VA_ARGS__})))

static const struct listener_config *listener(const struct config *config, const char *id)
{
    for (size_t i = 0; i < config->nlisteners; i++) {
        if (strcmp(config->listeners[i].id, id) == 0)
            return &config->listeners[i];
    }
    fail_msg("no listener %s", id);
    return NULL;
}

static bool trusts(const struct netset *set, const char *ip)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
        return netset_contains_sockaddr(set, (const struct sockaddr *)&sin);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
    return netset_contains_sockaddr(set, (const struct sockaddr *)&sin6);
}

static char *describe(const struct config *config)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    config_describe(config, out);
    fclose(out);
    return text;
}

/* ---- Stalwart's snippets ---- */

static void test_seed_global_list(void **state)
{
    (void)state;
    struct loaded l = load_clean(SEED_GLOBAL SMTP_LISTENER);
    assert_int_equal(netset_count(l.config->trusted_networks), 3);
    const struct listener_config *smtp = listener(l.config, "smtp");
    assert_int_equal(smtp->trust_source, TRUST_GLOBAL);
    assert_ptr_equal(smtp->trusted, l.config->trusted_networks);
    assert_true(trusts(smtp->trusted, "127.0.0.1"));
    assert_true(trusts(smtp->trusted, "::1"));
    assert_true(trusts(smtp->trusted, "10.200.0.1"));
    assert_false(trusts(smtp->trusted, "192.0.2.1"));
    assert_int_equal(netset_range_count(smtp->trusted), 3); /* compiled */
    release(&l);
}

static void test_seed_listener_list(void **state)
{
    (void)state;
    struct loaded l = load_clean(SMTP_LISTENER "\n" SEED_LISTENER);
    assert_int_equal(netset_count(l.config->trusted_networks), 0);
    const struct listener_config *smtp = listener(l.config, "smtp");
    assert_int_equal(smtp->trust_source, TRUST_LISTENER);
    assert_ptr_equal(smtp->trusted, smtp->own_trusted);
    assert_true(trusts(smtp->trusted, "10.0.0.1"));
    assert_int_equal(netset_range_count(smtp->trusted), 3);
    release(&l);
}

/* A whole file of just the first snippet is valid; postern says it listens on nothing. */
static void test_seed_alone(void **state)
{
    (void)state;
    EXPECT_WARNED(SEED_GLOBAL, "warning: postern.toml:1: no listeners");
    EXPECT_REFUSED(SEED_LISTENER,
                   "error: postern.toml:1: server.listener.smtp: missing required key bind",
                   "error: postern.toml:1: server.listener.smtp: missing required key protocol");
}

static void test_seed_broken_variant(void **state)
{
    (void)state;
    /* TOML reads '{' as an inline table and then fails on the ',' after the key "". */
    EXPECT_REFUSED("[server.proxy]\n" SEED_BROKEN,
                   "error: postern.toml:2:23: expected '=' after key, found ','",
                   "hint: postern.toml:2: server.proxy.trusted-networks: braces {}",
                   "square brackets");
    EXPECT_REFUSED(SMTP_LISTENER "[server.listener.\"smtp\".proxy]\n" SEED_BROKEN,
                   "error: postern.toml:5:23:",
                   "hint: postern.toml:5: server.listener.smtp.proxy.trusted-networks: braces");
    /* As printed in the seed, without its table header. */
    EXPECT_REFUSED(SEED_BROKEN, "error: postern.toml:1:23:",
                   "hint: postern.toml:1: trusted-networks: braces",
                   "did you mean server.proxy.trusted-networks or "
                   "server.listener.<id>.proxy.trusted-networks?");
}

/* Braces that do make valid TOML are a type error, with the key and line. */
static void test_inline_table_is_a_type_error(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server.proxy]\ntrusted-networks = {a = \"10.0.0.0/8\"}\n",
                   "error: postern.toml:2: server.proxy.trusted-networks: expected a list of "
                   "networks in square brackets");
    EXPECT_REFUSED("[server.proxy]\ntrusted-networks = {}\n",
                   "postern.toml:2: server.proxy.trusted-networks: expected a list",
                   "found table");
}

/* A syntax error further down a multi-line array still names the array's key. */
static void test_syntax_hint_multiline(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server.proxy]\ntrusted-networks = [\n  \"10.0.0.0/8\"\n  \"::1\",\n]\n",
                   "error: postern.toml:4:",
                   "hint: postern.toml:4: server.proxy.trusted-networks: the value of this key "
                   "(from line 2)");
    /* A broken key after a complete value is not blamed on that value, nor is a duplicate. */
    static const char *const no_hint[] = {
        "[server]\nhostname = \"a\"\nmax connections = 5\n",
        "[server]\nhostname = \"a\"\nhostname = \"b\"\n",
        "[server.proxy]\ntrusted-networks = [\"10.0.0.0/8\"]\nx y = 1\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(no_hint); i++) {
        struct loaded l = load(no_hint[i]);
        assert_null(l.config);
        if (strstr(l.diag, "hint:"))
            fail_msg("unexpected hint for\n%s\n%s", no_hint[i], l.diag);
        release(&l);
    }
    /* A multi-line string, then an error on its key's line continuation. */
    EXPECT_REFUSED("[server]\nhostname = \"\"\"\nmx\"\"\" x\n",
                   "hint: postern.toml:3: server.hostname: the value of this key (from line 2)");
}

/* ---- Trust resolution ---- */

static void test_list_or_string(void **state)
{
    (void)state;
    struct loaded l = load_clean("[server.proxy]\ntrusted-networks = \"10.0.0.0/8\"\n"
                                 "[server]\nblocked-networks = \"192.0.2.0/24\"\n"
                                 "allowed-networks = [\"198.51.100.7\", \"2001:db8::/32\"]\n"
                                 "[server.listener.a]\nbind = \"127.0.0.1:2000\"\n"
                                 "protocol = \"smtp\"\n"
                                 "proxy.trusted-networks = \"::1\"\n"
                                 "[server.listener.b]\n"
                                 "bind = [\"127.0.0.1:2001\", \"[::1]:2001\"]\n"
                                 "protocol = \"imap\"\n");
    assert_int_equal(netset_count(l.config->trusted_networks), 1);
    assert_true(trusts(l.config->blocked_networks, "192.0.2.9"));
    assert_true(trusts(l.config->allowed_networks, "2001:db8::1"));
    assert_int_equal(netset_count(l.config->allowed_networks), 2);
    const struct listener_config *a = listener(l.config, "a"), *b = listener(l.config, "b");
    assert_int_equal(a->trust_source, TRUST_LISTENER);
    assert_true(trusts(a->trusted, "::1"));
    assert_false(trusts(a->trusted, "10.0.0.1"));
    assert_int_equal(a->nbinds, 1);
    assert_int_equal(b->nbinds, 2);
    assert_string_equal(b->binds[1].text, "[::1]:2001");
    assert_int_equal(b->protocol, PROTOCOL_IMAP);
    assert_int_equal(b->trust_source, TRUST_GLOBAL);
    /* Exempt from bans and per-client limits: allowed, global and per-listener trusted. */
    const struct netset *exempt = l.config->exempt_networks;
    assert_true(trusts(exempt, "198.51.100.7"));
    assert_true(trusts(exempt, "2001:db8::1"));
    assert_true(trusts(exempt, "10.1.2.3"));
    assert_true(trusts(exempt, "::1"));
    assert_false(trusts(exempt, "192.0.2.9")); /* blocked is not exempt */
    assert_false(trusts(exempt, "198.51.100.8"));
    release(&l);
}

static void test_empty_list_disables_proxy(void **state)
{
    (void)state;
    struct loaded l = load_clean(SEED_GLOBAL SMTP_LISTENER "proxy.trusted-networks = []\n"
                                 "[server.listener.other]\nbind = \"127.0.0.1:2526\"\n"
                                 "protocol = \"smtp\"\n");
    const struct listener_config *smtp = listener(l.config, "smtp");
    assert_int_equal(smtp->trust_source, TRUST_OFF);
    assert_null(smtp->trusted);
    assert_non_null(smtp->own_trusted);
    assert_int_equal(listener(l.config, "other")->trust_source, TRUST_GLOBAL);
    char *text = describe(l.config);
    expect_text(text, "listener smtp: bind 127.0.0.1:2525; protocol smtp; tls implicit no; "
                      "proxy off");
    expect_text(text, "listener other: bind 127.0.0.1:2526; protocol smtp; tls implicit no; "
                      "proxy trusted 127.0.0.0/8, ::1/128, 10.0.0.0/8 (from global)");
    free(text);
    release(&l);
}

static void test_listener_override(void **state)
{
    (void)state;
    struct loaded l = load_clean(SEED_GLOBAL SMTP_LISTENER "tls.implicit = true\n"
                                 "max-connections = 100\n"
                                 "[server.listener.smtp.proxy]\n"
                                 "trusted-networks = [\"192.168.1.0/24\"]\n"
                                 "assume-tls = true\n");
    const struct listener_config *smtp = listener(l.config, "smtp");
    assert_int_equal(smtp->trust_source, TRUST_LISTENER);
    assert_true(trusts(smtp->trusted, "192.168.1.5"));
    assert_false(trusts(smtp->trusted, "127.0.0.1"));
    assert_true(smtp->tls_implicit);
    assert_true(smtp->assume_tls);
    assert_int_equal(smtp->max_connections, 100);
    char *text = describe(l.config);
    expect_text(text, "listener smtp: bind 127.0.0.1:2525; protocol smtp; tls implicit yes; "
                      "max-connections 100; proxy trusted 192.168.1.0/24 (from listener); "
                      "assume-tls yes\n");
    free(text);
    release(&l);
}

static void test_no_lists_means_off(void **state)
{
    (void)state;
    struct loaded l = load_clean(SMTP_LISTENER);
    const struct listener_config *smtp = listener(l.config, "smtp");
    assert_int_equal(smtp->trust_source, TRUST_OFF);
    assert_null(smtp->trusted);
    assert_null(smtp->own_trusted);
    assert_non_null(l.config->trusted_networks); /* always present, possibly empty */
    release(&l);
    EXPECT_WARNED(SMTP_LISTENER "proxy.assume-tls = true\n",
                  "warning: postern.toml:1: server.listener.smtp.proxy.assume-tls: no effect");
}

/* ---- Values and defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    struct loaded l = load_clean(SMTP_LISTENER);
    const struct config *c = l.config;
    assert_string_equal(c->source, "postern.toml");
    assert_string_equal(c->data_dir, "./data");
    char host[256] = "";
    gethostname(host, sizeof host);
    assert_true(c->hostname[0] != '\0');
    if (host[0] && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789.-_") == strlen(host))
        assert_string_equal(c->hostname, host);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->max_connections, CONFIG_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(c->shutdown_timeout_ms, CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS);
    assert_int_equal(c->idle_timeout_ms, CONFIG_DEFAULT_IDLE_TIMEOUT_MS);
    assert_int_equal(c->proxy_timeout_ms, 5000);
    assert_int_equal(c->proxy_max_header, 4096);
    const struct listener_config *smtp = listener(c, "smtp");
    assert_false(smtp->tls_implicit);
    assert_false(smtp->assume_tls);
    assert_int_equal(smtp->max_connections, 0);
    release(&l);
}

static void test_server_values(void **state)
{
    (void)state;
    struct loaded l = load_clean("[server]\nhostname = \"mx.example.org\"\n"
                                 "data-dir = \"/var/lib/postern\"\nworkers = 4\n"
                                 "max-connections = 500\nshutdown-timeout = \"30s\"\n"
                                 "idle-timeout = \"10m\"\n"
                                 "[server.proxy]\ntimeout = \"250ms\"\nmax-header-size = 16\n"
                                 SMTP_LISTENER);
    const struct config *c = l.config;
    assert_string_equal(c->hostname, "mx.example.org");
    assert_string_equal(c->data_dir, "/var/lib/postern");
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->max_connections, 500);
    assert_int_equal(c->shutdown_timeout_ms, 30000);
    assert_int_equal(c->idle_timeout_ms, 600000);
    assert_int_equal(c->proxy_timeout_ms, 250);
    assert_int_equal(c->proxy_max_header, 16);
    char *text = describe(c);
    expect_text(text, "server: hostname mx.example.org; data-dir /var/lib/postern; "
                      "workers 4; io-threads 16; max-connections 500; "
                      "shutdown-timeout 30s; idle-timeout 10m\n");
    expect_text(text, "proxy: trusted none; timeout 250ms; max-header-size 16\n");
    free(text);
    release(&l);
    l = load_clean("[server.proxy]\ntimeout = \"1h\"\nmax-header-size = 65551\n" SMTP_LISTENER);
    assert_int_equal(l.config->proxy_timeout_ms, 3600000);
    assert_int_equal(l.config->proxy_max_header, 65551);
    release(&l);
}

/* ---- Errors ---- */

static void test_wrong_types(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server]\nmax-connections = \"100\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.max-connections: expected an integer, found "
                   "string");
    EXPECT_REFUSED("[server]\nhostname = 5\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.hostname: expected a string, found integer");
    EXPECT_REFUSED(SMTP_LISTENER "tls.implicit = \"yes\"\n",
                   "error: postern.toml:4: server.listener.smtp.tls.implicit: expected true or "
                   "false, found string");
    EXPECT_REFUSED("[server.proxy]\ntimeout = 5\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.proxy.timeout: expected a duration such as "
                   "\"5s\"");
    EXPECT_REFUSED("[server.proxy]\ntrusted-networks = [\"10.0.0.0/8\", 7]\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.proxy.trusted-networks: expected a string in "
                   "the list, found integer");
    EXPECT_REFUSED("server.proxy = \"on\"\n" SMTP_LISTENER,
                   "error: postern.toml:1: server.proxy: expected a table, found string");
    EXPECT_REFUSED("[server.listener]\nsmtp = \"127.0.0.1:25\"\n",
                   "error: postern.toml:2: server.listener.smtp: expected a listener table, "
                   "found string");
    EXPECT_REFUSED(SMTP_LISTENER "bind = []\n", /* TOML itself refuses a key defined twice */
                   "error: postern.toml:4:1: duplicate key 'bind'");
    EXPECT_REFUSED("[server.listener.smtp]\nbind = []\nprotocol = \"smtp\"\n",
                   "error: postern.toml:2: server.listener.smtp.bind: expected an address such "
                   "as \"127.0.0.1:25\" or a non-empty list of them, found an empty list");
}

static void test_out_of_range(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server]\nworkers = 257\nmax-connections = 0\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.workers: 257 is out of range (0 to 256)",
                   "error: postern.toml:3: server.max-connections: 0 is out of range (1 to ");
    EXPECT_REFUSED("[server.proxy]\ntimeout = \"0s\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.proxy.timeout: \"0s\" is out of range (more "
                   "than 0, at most 1h)");
    EXPECT_REFUSED("[server.proxy]\ntimeout = \"61m\"\n" SMTP_LISTENER,
                   "server.proxy.timeout: \"61m\" is out of range");
    EXPECT_REFUSED("[server.proxy]\nmax-header-size = 15\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.proxy.max-header-size: 15 is out of range (16 "
                   "to 65551)");
    EXPECT_REFUSED("[server.proxy]\nmax-header-size = 65552\n" SMTP_LISTENER,
                   "server.proxy.max-header-size: 65552 is out of range");
    EXPECT_REFUSED(SMTP_LISTENER "max-connections = -1\n",
                   "server.listener.smtp.max-connections: -1 is out of range (0 to ");
    EXPECT_REFUSED("[server]\nshutdown-timeout = \"5\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.shutdown-timeout: \"5\" is not a duration");
}

static void test_bad_networks(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server.proxy]\ntrusted-networks = [\n  \"10.0.0.0/8\",\n"
                   "  \"10.0.0.0/33\",\n]\n" SMTP_LISTENER,
                   "error: postern.toml:4: server.proxy.trusted-networks: \"10.0.0.0/33\": "
                   "prefix length must be 0-32 for IPv4");
    EXPECT_REFUSED(SMTP_LISTENER "proxy.trusted-networks = [\"\"]\n",
                   "error: postern.toml:4: server.listener.smtp.proxy.trusted-networks: \"\": "
                   "empty entry");
    EXPECT_REFUSED("[server]\nblocked-networks = \"mail.example.org\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.blocked-networks: \"mail.example.org\":");
    EXPECT_WARNED("[server.proxy]\ntrusted-networks = [\"10.1.2.3/8\"]\n" SMTP_LISTENER,
                  "warning: postern.toml:2: server.proxy.trusted-networks: \"10.1.2.3/8\": host "
                  "bits set; treated as 10.0.0.0/8");
    EXPECT_WARNED("[server.proxy]\ntrusted-networks = [\"0.0.0.0/0\"]\n" SMTP_LISTENER,
                  "warning: postern.toml:2: server.proxy.trusted-networks: 0.0.0.0/0 trusts "
                  "every IPv4 address");
}

static void test_bad_binds(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server.listener.smtp]\nbind = \"::1:25\"\nprotocol = \"smtp\"\n",
                   "error: postern.toml:2: server.listener.smtp.bind: \"::1:25\": an IPv6 "
                   "address must be in brackets");
    EXPECT_REFUSED("[server.listener.smtp]\nbind = [\"127.0.0.1:0\", \"127.0.0.1:65536\"]\n"
                   "protocol = \"smtp\"\n",
                   "error: postern.toml:2: server.listener.smtp.bind: \"127.0.0.1:0\": port "
                   "\"0\" is not a number from 1 to 65535",
                   "\"127.0.0.1:65536\": port \"65536\" is not a number from 1 to 65535");
    EXPECT_REFUSED("[server.listener.smtp]\nbind = \"localhost:25\"\nprotocol = \"smtp\"\n",
                   "\"localhost\" is not an IP address (host names are not resolved");
}

static void test_duplicate_binds(void **state)
{
    (void)state;
    EXPECT_REFUSED(SMTP_LISTENER "[server.listener.submission]\n"
                   "bind = [\"[::1]:2587\", \"127.0.0.1:2525\"]\nprotocol = \"smtp\"\n",
                   "error: postern.toml:5: server.listener.submission.bind: 127.0.0.1:2525 is "
                   "already bound by listener smtp (line 2)");
    /* Written differently, same address. */
    EXPECT_REFUSED("[server.listener.a]\nbind = [\"[::1]:25\", \"[0:0::1]:25\"]\n"
                   "protocol = \"smtp\"\n",
                   "server.listener.a.bind: [::1]:25 is already bound by listener a (line 2)");
}

static void test_imap_limits(void **state)
{
    (void)state;
    struct loaded l = load_clean(SMTP_LISTENER);
    const struct imap_limits *imap = &l.config->imap;
    assert_int_equal(imap->max_size, CONFIG_DEFAULT_IMAP_MAX_SIZE);
    assert_int_equal(imap->max_line, CONFIG_DEFAULT_IMAP_MAX_LINE);
    assert_int_equal(imap->max_line_before_login, CONFIG_DEFAULT_IMAP_MAX_LINE_BEFORE_LOGIN);
    assert_int_equal(imap->max_depth, CONFIG_DEFAULT_IMAP_MAX_DEPTH);
    assert_int_equal(imap->max_arguments, CONFIG_DEFAULT_IMAP_MAX_ARGUMENTS);
    assert_int_equal(imap->max_commands_before_login,
                     CONFIG_DEFAULT_IMAP_MAX_COMMANDS_BEFORE_LOGIN);
    assert_int_equal(imap->max_errors, CONFIG_DEFAULT_IMAP_MAX_ERRORS);
    assert_int_equal(imap->idle_timeout_ms, 30 * 60 * 1000);
    assert_int_equal(imap->idle_poll_ms, CONFIG_DEFAULT_IMAP_IDLE_POLL_MS);
    release(&l);
    l = load_clean("[imap]\ntimeout.idle = \"29m\"\nidle.poll-interval = \"500ms\"\n"
                   "[imap.request]\nmax-size = 1048576\nmax-depth = 64\n" SMTP_LISTENER);
    assert_int_equal(l.config->imap.max_size, 1048576);
    assert_int_equal(l.config->imap.max_depth, 64);
    assert_int_equal(l.config->imap.idle_timeout_ms, 29 * 60 * 1000);
    assert_int_equal(l.config->imap.idle_poll_ms, 500);
    release(&l);
    EXPECT_REFUSED("[imap.request]\nmax-depth = 65\n" SMTP_LISTENER, "imap.request.max-depth");
    EXPECT_REFUSED("[imap.request]\nmax-line = 100\n" SMTP_LISTENER, "imap.request.max-line");
}

static void test_listener_errors(void **state)
{
    (void)state;
    EXPECT_REFUSED("[server.listener.smtp]\nbind = \"127.0.0.1:25\"\nprotocol = \"lmtp\"\n",
                   "error: postern.toml:3: server.listener.smtp.protocol: unknown protocol "
                   "\"lmtp\" (postern supports \"smtp\", \"imap\" and \"metrics\")");
    EXPECT_REFUSED("[server.listener.smtp]\nprotocol = \"smtp\"\n",
                   "error: postern.toml:1: server.listener.smtp: missing required key bind");
    EXPECT_REFUSED("[server.listener.smtp]\nbind = \"127.0.0.1:25\"\n",
                   "error: postern.toml:1: server.listener.smtp: missing required key protocol");
    EXPECT_REFUSED("[server.listener.\"my smtp\"]\nbind = \"127.0.0.1:25\"\nprotocol = \"smtp\"\n",
                   "error: postern.toml:1: server.listener.\"my smtp\": a listener id may only "
                   "contain letters, digits");
    EXPECT_REFUSED("[server.listener.a234567890123456789012345678901234567890123456789012345678"
                   "901234]\nbind = \"127.0.0.1:25\"\nprotocol = \"smtp\"\n",
                   "a listener id has at most 63 bytes");
}

/* Quoted and bare ids are the same key; ids may contain '.', shown quoted in messages. */
static void test_listener_ids(void **state)
{
    (void)state;
    struct loaded l = load_clean("[server.listener.\"smtp.v2\"]\nbind = \"127.0.0.1:2525\"\n"
                                 "protocol = \"smtp\"\n"
                                 "[server.listener.a2345678901234567890123456789012345678901234"
                                 "5678901234567890123]\nbind = \"127.0.0.1:2526\"\n"
                                 "protocol = \"imap\"\n");
    assert_int_equal(l.config->nlisteners, 2);
    assert_string_equal(l.config->listeners[0].id, "smtp.v2");
    assert_int_equal(strlen(l.config->listeners[1].id), CONFIG_ID_MAX - 1);
    release(&l);
    EXPECT_WARNED("[server.listener.\"smtp.v2\"]\nbind = \"127.0.0.1:2525\"\n"
                  "protocol = \"smtp\"\nfoo = 1\n",
                  "warning: postern.toml:4: unknown key server.listener.\"smtp.v2\".foo "
                  "(ignored)");
}

/* Every problem of a file in one run, not just the first. */
static void test_all_errors_collected(void **state)
{
    (void)state;
    struct loaded l = load("[server]\nworkers = -1\nhostname = \"bad host\"\n"
                           "[server.proxy]\ntrusted-networks = [\"x\"]\n"
                           "[server.listener.smtp]\nbind = \"127.0.0.1\"\nprotocol = \"pop3\"\n");
    assert_null(l.config);
    size_t errors = 0;
    for (const char *p = l.diag; (p = strstr(p, "error: ")) != NULL; p++)
        errors++;
    assert_int_equal(errors, 5);
    expect_text(l.diag, "postern.toml:2: server.workers:");
    expect_text(l.diag, "postern.toml:3: server.hostname: \"bad host\" may only contain");
    expect_text(l.diag, "postern.toml:5: server.proxy.trusted-networks: \"x\":");
    expect_text(l.diag, "postern.toml:7: server.listener.smtp.bind: \"127.0.0.1\": missing port");
    expect_text(l.diag, "postern.toml:8: server.listener.smtp.protocol: unknown protocol");
    release(&l);
}

/* ---- Unknown keys ---- */

static void test_unknown_keys(void **state)
{
    (void)state;
    EXPECT_WARNED(SMTP_LISTENER "foo = 1\n",
                  "warning: postern.toml:4: unknown key server.listener.smtp.foo (ignored)\n");
    /* Other Stalwart sections: named leaf by leaf, never an error. */
    EXPECT_WARNED(SMTP_LISTENER "[storage]\ndata = \"rocksdb\"\n"
                  "[directory.\"internal\"]\ntype = \"internal\"\n"
                  "[tracer.stdout]\ntype = \"stdout\"\n"
                  "[session.rcpt]\ndirectory = \"'internal'\"\n[queue]\n",
                  "warning: postern.toml:5: unknown key storage.data (ignored)\n",
                  "warning: postern.toml:7: unknown key directory.internal.type (ignored)\n",
                  "warning: postern.toml:9: unknown key tracer.stdout.type (ignored)\n",
                  "warning: postern.toml:11: unknown key session.rcpt.directory (ignored)\n",
                  "warning: postern.toml:12: unknown key queue (ignored)\n");
    /* Misplaced postern keys get a suggestion. */
    EXPECT_WARNED("trusted-networks = [\"10.0.0.0/8\"]\n" SMTP_LISTENER "proxy.timeout = \"3s\"\n",
                  "warning: postern.toml:1: unknown key trusted-networks (ignored); did you "
                  "mean server.proxy.trusted-networks or "
                  "server.listener.<id>.proxy.trusted-networks?",
                  "warning: postern.toml:5: unknown key server.listener.smtp.proxy.timeout "
                  "(ignored); did you mean server.proxy.timeout or server.tls.timeout?");
    /* Stalwart's own listener keys are not postern's. */
    EXPECT_WARNED(SMTP_LISTENER "socket.backlog = 1024\n",
                  "warning: postern.toml:4: unknown key server.listener.smtp.socket.backlog "
                  "(ignored)\n");
}

/* ---- Macros ---- */

static char *temp_file(const char *content, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/postern-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_env_macro(void **state)
{
    (void)state;
    setenv("POSTERN_TEST_HOST", "mx", 1);
    setenv("POSTERN_TEST_DOMAIN", "example.org", 1);
    setenv("POSTERN_TEST_NET", "192.0.2.0/24", 1);
    struct loaded l = load_clean("[server]\n"
                                 "hostname = \"%{env:POSTERN_TEST_HOST}%.%{env:POSTERN_TEST_DOMAIN}%\"\n"
                                 "data-dir = \"50%{ literal\"\n"
                                 "[server.proxy]\n"
                                 "trusted-networks = \"%{env:POSTERN_TEST_NET}%\"\n" SMTP_LISTENER);
    assert_string_equal(l.config->hostname, "mx.example.org");
    assert_string_equal(l.config->data_dir, "50%{ literal");
    assert_true(trusts(l.config->trusted_networks, "192.0.2.200"));
    release(&l);
    unsetenv("POSTERN_TEST_UNSET");
    EXPECT_REFUSED("[server]\nhostname = \"%{env:POSTERN_TEST_UNSET}%\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.hostname: %{env:POSTERN_TEST_UNSET}%: "
                   "environment variable POSTERN_TEST_UNSET is not set");
    EXPECT_REFUSED("[server]\nhostname = \"%{env:POSTERN_TEST_HOST\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.hostname: unterminated macro");
    EXPECT_REFUSED("[server]\nhostname = \"%{cfg:x}%\"\n" SMTP_LISTENER,
                   "error: postern.toml:2: server.hostname: %{cfg:x}%: unknown macro");
    EXPECT_REFUSED("[server]\nhostname = \"%{env:}%\"\n" SMTP_LISTENER,
                   "%{env:}%: missing NAME");
    /* Values are validated after expansion. */
    setenv("POSTERN_TEST_BIND", "::1:25", 1);
    EXPECT_REFUSED("[server.listener.a]\nbind = \"%{env:POSTERN_TEST_BIND}%\"\nprotocol = \"smtp\"\n",
                   "error: postern.toml:2: server.listener.a.bind: \"::1:25\": an IPv6 address "
                   "must be in brackets");
}

static void test_file_macro(void **state)
{
    (void)state;
    char path[64], text[512];
    snprintf(path, sizeof path, "%s", temp_file("mx.example.org\n", 15));
    snprintf(text, sizeof text, "[server]\nhostname = \"%%{file:%s}%%\"\n"
             "data-dir = \"/srv/%%{file:%s}%%/%%{file:%s}%%\"\n" SMTP_LISTENER, path, path, path);
    struct loaded l = load_clean(text);
    assert_string_equal(l.config->hostname, "mx.example.org"); /* one newline stripped */
    assert_string_equal(l.config->data_dir, "/srv/mx.example.org/mx.example.org");
    release(&l);
    unlink(path);
    EXPECT_REFUSED(text, "error: postern.toml:2: server.hostname: %{file:/tmp/postern-test-config-",
                   "}%: cannot read /tmp/postern-test-config-", ": No such file or directory");

    /* Only one line break is stripped: the second one is part of the value. */
    snprintf(path, sizeof path, "%s", temp_file("10.0.0.0/8\r\n\n", 13));
    snprintf(text, sizeof text, "[server.proxy]\ntrusted-networks = \"%%{file:%s}%%\"\n"
             SMTP_LISTENER, path);
    EXPECT_REFUSED(text, "error: postern.toml:2: server.proxy.trusted-networks: \"10.0.0.0/8");
    unlink(path);

    /* Bounded size: one byte too many is refused. */
    char *big = malloc(CONFIG_MACRO_FILE_MAX + 1);
    assert_non_null(big);
    memset(big, 'a', CONFIG_MACRO_FILE_MAX + 1);
    snprintf(path, sizeof path, "%s", temp_file(big, CONFIG_MACRO_FILE_MAX + 1));
    free(big);
    snprintf(text, sizeof text, "[server]\ndata-dir = \"%%{file:%s}%%\"\n" SMTP_LISTENER, path);
    EXPECT_REFUSED(text, "is larger than 1048576 bytes");
    unlink(path);
}

/* ---- Durations ---- */

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {
        {"5s", 5000},       {"250ms", 250},         {"2m", 120000}, {"1h", 3600000},
        {"1d", 86400000},   {"0s", 0},              {"007s", 7000}, {"18446744073709551615ms", UINT64_MAX},
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        uint64_t ms = 1;
        if (!config_parse_duration(good[i].text, strlen(good[i].text), &ms))
            fail_msg("\"%s\" refused", good[i].text);
        assert_int_equal(ms, good[i].ms);
    }
    static const char *const bad[] = {
        "5", "-1s", "5x", "", "s", "1.5s", " 5s", "5s ", "5 s", "5S", "5sec", "+5s", "5ms5",
        "18446744073709551616ms", "18446744073709552s", "99999999999999999999d", "213503982335d",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint64_t ms = 0;
        if (config_parse_duration(bad[i], strlen(bad[i]), &ms))
            fail_msg("\"%s\" accepted as %llu ms", bad[i], (unsigned long long)ms);
    }
    uint64_t ms = 0;
    assert_false(config_parse_duration("5s", 1, &ms)); /* length is respected: "5" */
    assert_true(config_parse_duration("250ms!", 5, &ms));
    assert_int_equal(ms, 250);
}

/* ---- Bind addresses ---- */

static void test_bind_parsing(void **state)
{
    (void)state;
    struct bind_address b;
    char why[256];
    assert_true(config_parse_bind("[::1]:25", 8, &b, why, sizeof why));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&b.addr;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 25);
    assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
    assert_int_equal(b.addr_len, sizeof(struct sockaddr_in6));
    assert_string_equal(b.text, "[::1]:25");

    assert_true(config_parse_bind("127.0.0.1:25", 12, &b, why, sizeof why));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&b.addr;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 25);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(b.addr_len, sizeof(struct sockaddr_in));
    assert_string_equal(b.text, "127.0.0.1:25");

    assert_true(config_parse_bind("[2001:DB8:0::0:1]:65535", 23, &b, why, sizeof why));
    assert_string_equal(b.text, "[2001:db8::1]:65535"); /* normalised */
    assert_true(config_parse_bind("0.0.0.0:1", 9, &b, why, sizeof why));
    assert_true(config_parse_bind("[::]:587", 8, &b, why, sizeof why));
    assert_true(config_parse_bind("[::ffff:127.0.0.1]:25", 21, &b, why, sizeof why));
    assert_string_equal(b.text, "[::ffff:127.0.0.1]:25");

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"::1:25", "\"::1:25\": an IPv6 address must be in brackets"},
        {"127.0.0.1:0", "port \"0\" is not a number from 1 to 65535"},
        {"127.0.0.1:65536", "port \"65536\" is not a number from 1 to 65535"},
        {"[::1]:0", "expected a port from 1 to 65535"},
        {"[::1]:65536", "expected a port from 1 to 65535"},
        {"127.0.0.1", "missing port"},
        {"127.0.0.1:", "port \"\" is not a number"},
        {"127.0.0.1:+25", "is not a number"},
        {"127.0.0.1:0x19", "is not a number"},
        {"127.0.0.1:025x", "is not a number"},
        {"[::1]", "expected a port"},
        {"[::1]25", "expected a port"},
        {"[::1:25", "missing ']'"},
        {"[127.0.0.1]:25", "brackets are only for IPv6"},
        {"[mail]:25", "\"mail\" is not an IPv6 address"},
        {"localhost:25", "\"localhost\" is not an IP address"},
        {"127.1:25", "\"127.1\" is not an IP address"},
        {"[fe80::1%lo]:25", "is not an IPv6 address"},
        {"", "empty address"},
        {" 127.0.0.1:25", "is not an IP address"},
        {"\n", "\"\\x0a\": missing port"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        why[0] = '\0';
        if (config_parse_bind(bad[i].text, strlen(bad[i].text), &b, why, sizeof why))
            fail_msg("\"%s\" accepted", bad[i].text);
        expect_text(why, bad[i].why);
    }
    char long_text[200];
    memset(long_text, '1', sizeof long_text);
    assert_false(config_parse_bind(long_text, sizeof long_text, &b, why, sizeof why));
    expect_text(why, "not an address");
    assert_false(config_parse_bind("127.0.0.1:25\0", 13, &b, why, sizeof why));
}

/* ---- Accounts, SMTP limits, bans ---- */

/* "correct horse" (libxcrypt's default costs: cheap for tests). */
#define HASH_Y "$y$j9T$1UaT9oY/Sy2ziozRYWzFE/$NRZXlF17KPXvLqw0e3x8cOdgTzO.kStF.6Cj9hM8X99"
#define HASH_6                                                                                \
    "$6$2ZDWHeh.JZCmm2wo$x5YTCdH485jY.WznSUePh5Awe7cqcvBDnRZHOHDKgNwkATHx3pWkxBX2bdbomNaUTBBG" \
    "C7MjxyqgcplEwRuIh0"
#define HASH_2B "$2b$05$KgSnuQnD7CvbrJqEoRf4yuI6O2y5rto1XrLFm564U/O03vfXBqla2"

#define ACCOUNT(name, secret, email)                                                          \
    "[[directory.accounts]]\nname = \"" name "\"\nsecret = \"" secret "\"\nemail = " email "\n"

static const struct account *account_named(const struct config *config, const char *name)
{
    const struct account *account = directory_find_login(config->directory, name, strlen(name));
    if (!account)
        fail_msg("no account %s", name);
    return account;
}

static void test_accounts(void **state)
{
    (void)state;
    struct loaded l = load_clean(SMTP_LISTENER
                                 ACCOUNT("alice", HASH_Y, "[\"Alice@Example.org\", "
                                         "\"postmaster@example.org\"]")
                                 ACCOUNT("bob", HASH_6, "\"bob@example.net\"")
                                 "[[directory.accounts]]\nname = \"relay\"\nsecret = \"" HASH_2B
                                 "\"\n");
    const struct config *c = l.config;
    assert_int_equal(directory_count(c->directory), 3);
    const struct account *alice = account_named(c, "alice");
    assert_string_equal(alice->secret, HASH_Y);
    assert_int_equal(alice->naddresses, 2);
    assert_string_equal(alice->addresses[0], "alice@example.org");
    assert_ptr_equal(directory_find_address(c->directory, "POSTMASTER@example.org", 22), alice);
    assert_int_equal(account_named(c, "bob")->naddresses, 1);
    assert_int_equal(account_named(c, "relay")->naddresses, 0);
    assert_true(directory_is_local_domain(c->directory, "example.net", 11));
    assert_true(directory_check_password(alice, "correct horse", 13));
    char *text = describe(c);
    expect_text(text, "\ndirectory: 3 accounts\n");
    expect_text(text, "\naccount alice: secret yescrypt; email alice@example.org, "
                      "postmaster@example.org\n");
    expect_text(text, "\naccount bob: secret sha512; email bob@example.net\n");
    expect_text(text, "\naccount relay: secret bcrypt; email none (login only)\n");
    assert_null(strstr(text, HASH_Y)); /* hashes are not printed */
    free(text);
    release(&l);
    /* Inline tables in an array are arrays of tables too; macros work in secrets. */
    setenv("POSTERN_TEST_HASH", HASH_6, 1);
    l = load_clean("directory.accounts = [{name = \"a\", secret = \"%{env:POSTERN_TEST_HASH}%\", "
                   "email = \"a@x.org\"}]\n" SMTP_LISTENER);
    assert_string_equal(account_named(l.config, "a")->secret, HASH_6);
    release(&l);
    unsetenv("POSTERN_TEST_HASH");
    /* No accounts: an empty directory, never NULL. */
    l = load_clean(SMTP_LISTENER);
    assert_non_null(l.config->directory);
    assert_int_equal(directory_count(l.config->directory), 0);
    release(&l);
}

static void test_account_errors(void **state)
{
    (void)state;
    /* A password in clear: refused, not repeated, and the fix named. */
    struct loaded l = load(ACCOUNT("alice", "correct horse", "\"alice@example.org\""));
    assert_null(l.config);
    expect_text(l.diag, "error: postern.toml:3: directory.accounts[0].secret: the value is not a "
                        "password hash");
    expect_text(l.diag, "run `postern hash-password`");
    assert_null(strstr(l.diag, "correct horse"));
    release(&l);
    EXPECT_REFUSED(ACCOUNT("alice", "$1$abcdefgh$0123456789abcdef012345", "[]"),
                   "error: postern.toml:3: directory.accounts[0].secret: the value uses an "
                   "unsupported hash scheme");
    EXPECT_REFUSED(ACCOUNT("alice", "$6$2ZDWHeh.JZCmm2wo$x5YTCd", "[]"),
                   "directory.accounts[0].secret: the value is not a valid hash");
    EXPECT_REFUSED("[[directory.accounts]]\nemail = \"a@b.c\"\n",
                   "error: postern.toml:1: directory.accounts[0]: missing required key name",
                   "error: postern.toml:1: directory.accounts[0]: missing required key secret");
    EXPECT_REFUSED(ACCOUNT("al/ice", HASH_Y, "[]"),
                   "error: postern.toml:2: directory.accounts[0].name: \"al/ice\" may only "
                   "contain letters");
    EXPECT_REFUSED(ACCOUNT(".alice", HASH_Y, "[]"), "must not start with '.'");
    EXPECT_REFUSED(ACCOUNT("alice", HASH_Y, "[\"alice@example.org\",\n  \"alice\", 5]"),
                   "error: postern.toml:5: directory.accounts[0].email: \"alice\" has no '@'",
                   "error: postern.toml:5: directory.accounts[0].email: expected a string in "
                   "the list, found integer");
    EXPECT_REFUSED(ACCOUNT("alice", HASH_Y, "{a = 1}"),
                   "directory.accounts[0].email: expected a string or a list of strings");
    EXPECT_REFUSED("[directory]\naccounts = \"alice\"\n",
                   "error: postern.toml:2: directory.accounts: expected tables written as "
                   "[[directory.accounts]], found string");
    EXPECT_REFUSED("[directory.accounts]\nname = \"alice\"\n",
                   "directory.accounts: expected tables written as [[directory.accounts]], "
                   "found table");
    EXPECT_REFUSED("directory.accounts = [1]\n",
                   "error: postern.toml:1: directory.accounts[0]: expected a table "
                   "([[directory.accounts]]), found integer");
    EXPECT_WARNED(ACCOUNT("alice", HASH_Y, "[]") "password = \"x\"\n",
                  "warning: postern.toml:5: unknown key directory.accounts[0].password (ignored)");
    EXPECT_WARNED("[server]\nsecret = \"x\"\n",
                  "unknown key server.secret (ignored); did you mean "
                  "directory.accounts[<n>].secret?");
}

static void test_account_duplicates(void **state)
{
    (void)state;
    EXPECT_REFUSED(ACCOUNT("alice", HASH_Y, "\"alice@example.org\"")
                   ACCOUNT("Alice", HASH_6, "\"other@example.org\""),
                   "error: postern.toml:6: directory.accounts[1].name: account \"Alice\" is "
                   "already defined (line 1); names are case-insensitive");
    EXPECT_REFUSED(ACCOUNT("alice", HASH_Y, "\"alice@example.org\"")
                   ACCOUNT("bob", HASH_6, "[\"bob@example.org\",\n\"ALICE@example.org\"]"),
                   "error: postern.toml:9: directory.accounts[1].email: \"ALICE@example.org\" "
                   "already belongs to account \"alice\" (line 1)");
    EXPECT_REFUSED(ACCOUNT("alice", HASH_Y, "[\"alice@example.org\",\n\"a@example.org\",\n"
                                            "\"Alice@Example.org\"]"),
                   "error: postern.toml:6: directory.accounts[0].email: \"Alice@Example.org\" "
                   "is listed twice (line 4)");
    /* Every duplicate in one run. */
    EXPECT_REFUSED(ACCOUNT("a", HASH_Y, "\"x@example.org\"") ACCOUNT("a", HASH_Y, "\"x@example.org\""),
                   "postern.toml:6: directory.accounts[1].name: account \"a\" is already defined",
                   "postern.toml:8: directory.accounts[1].email: \"x@example.org\" already "
                   "belongs to account \"a\"");
}

static void test_smtp_and_ban_keys(void **state)
{
    (void)state;
    struct loaded l = load_clean(SMTP_LISTENER);
    const struct config *c = l.config;
    assert_int_equal(c->smtp.max_message_size, 26214400);
    assert_int_equal(c->smtp.max_recipients, 100);
    assert_int_equal(c->smtp.max_errors, 10);
    assert_int_equal(c->smtp.max_commands_before_mail, 50);
    assert_int_equal(c->client_policy.auth.count, 5);
    assert_int_equal(c->client_policy.auth.window_ms, 600000);
    assert_int_equal(c->client_policy.abuse.count, 20);
    assert_int_equal(c->client_policy.abuse.window_ms, 600000);
    assert_int_equal(c->client_policy.ban_ms, 3600000);
    assert_int_equal(c->client_policy.max_per_client, 20);
    assert_int_equal(c->client_policy.max_entries, CLIENT_TABLE_MAX_ENTRIES);
    assert_false(listener(c, "smtp")->submission);
    char *text = describe(c);
    expect_text(text, "\nsession: data.limits.size 26214400 (25 MiB); rcpt.max-recipients 100; "
                      "max-errors 10; max-commands-before-mail 50\n");
    expect_text(text, "\nauto-ban: auth.rate 5/10m; abuse.rate 20/10m; duration 1h; "
                      "max-connections-per-client 20\n");
    free(text);
    release(&l);

    l = load_clean("[session]\ndata.limits.size = 1048577\nrcpt.max-recipients = 5\n"
                   "max-errors = 3\nmax-commands-before-mail = 7\n"
                   "[server]\nmax-connections = 100000\nmax-connections-per-client = 0\n"
                   "[server.auto-ban]\nauth.rate = \"3/1h\"\nabuse.rate = \"0/1m\"\n"
                   "duration = \"1d\"\n"
                   SMTP_LISTENER "submission = true\n");
    c = l.config;
    assert_int_equal(c->smtp.max_message_size, 1048577);
    assert_int_equal(c->smtp.max_recipients, 5);
    assert_int_equal(c->smtp.max_errors, 3);
    assert_int_equal(c->smtp.max_commands_before_mail, 7);
    assert_int_equal(c->client_policy.auth.count, 3);
    assert_int_equal(c->client_policy.auth.window_ms, 3600000);
    assert_int_equal(c->client_policy.abuse.count, 0);
    assert_int_equal(c->client_policy.ban_ms, 86400000);
    assert_int_equal(c->client_policy.max_per_client, 0);
    assert_int_equal(c->client_policy.max_entries, 100000); /* one per admitted connection */
    assert_true(listener(c, "smtp")->submission);
    text = describe(c);
    expect_text(text, "session: data.limits.size 1048577; rcpt.max-recipients 5;");
    expect_text(text, "auto-ban: auth.rate 3/1h; abuse.rate off; duration 1d; "
                      "max-connections-per-client no limit\n");
    expect_text(text, "listener smtp: bind 127.0.0.1:2525; protocol smtp; tls implicit no; "
                      "submission yes (AUTH before MAIL); proxy off\n");
    free(text);
    release(&l);
}

static void test_smtp_and_ban_errors(void **state)
{
    (void)state;
    EXPECT_REFUSED("[session]\ndata.limits.size = 1023\nrcpt.max-recipients = 0\n"
                   "max-errors = 1001\nmax-commands-before-mail = \"50\"\n",
                   "error: postern.toml:2: session.data.limits.size: 1023 is out of range (1024 "
                   "to 1073741824)",
                   "error: postern.toml:3: session.rcpt.max-recipients: 0 is out of range (1 to "
                   "10000)",
                   "error: postern.toml:4: session.max-errors: 1001 is out of range (1 to 1000)",
                   "error: postern.toml:5: session.max-commands-before-mail: expected an integer, "
                   "found string");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"5 per 10m\"\nabuse.rate = 20\n"
                   "duration = \"0s\"\n",
                   "error: postern.toml:2: server.auto-ban.auth.rate: \"5 per 10m\" is not a "
                   "rate (a count, '/' and a duration, e.g. \"5/10m\")",
                   "error: postern.toml:3: server.auto-ban.abuse.rate: expected a rate such as "
                   "\"5/10m\"",
                   "error: postern.toml:4: server.auto-ban.duration: \"0s\" is out of range");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"101/1m\"\n",
                   "error: postern.toml:2: server.auto-ban.auth.rate: \"101/1m\" is out of range "
                   "(a count from 0 to 100");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"5/0s\"\n", "\"5/0s\" is out of range");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"5/31d\"\n", "at most 30d)");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"/1m\"\n", "is not a rate");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"5/\"\n", "is not a rate");
    EXPECT_REFUSED("[server.auto-ban]\nauth.rate = \"-1/1m\"\n", "is not a rate");
    EXPECT_REFUSED("[server.auto-ban]\nduration = \"31d\"\n",
                   "server.auto-ban.duration: \"31d\" is out of range (more than 0, at most 30d)");
    EXPECT_REFUSED("[server]\nmax-connections-per-client = -1\n",
                   "server.max-connections-per-client: -1 is out of range");
    EXPECT_REFUSED(SMTP_LISTENER "submission = \"yes\"\n",
                   "error: postern.toml:4: server.listener.smtp.submission: expected true or "
                   "false, found string");
}

/* ---- The embedded default ---- */

static void test_embedded_default(void **state)
{
    (void)state;
    struct loaded l = load_clean(config_embedded_default);
    const struct config *c = l.config;
    assert_int_equal(c->nlisteners, 7);
    assert_int_equal(netset_count(c->trusted_networks), 0);
    assert_string_equal(c->data_dir, "./data");
    static const struct {
        const char *id, *bind;
        enum listener_protocol protocol;
        enum trust_source trust;
        bool implicit, submission;
    } expected[] = {
        {"smtp", "127.0.0.1:2525", PROTOCOL_SMTP, TRUST_OFF, false, false},
        {"submission", "127.0.0.1:2587", PROTOCOL_SMTP, TRUST_OFF, false, true},
        {"imap", "127.0.0.1:2143", PROTOCOL_IMAP, TRUST_OFF, false, false},
        {"smtps", "127.0.0.1:2465", PROTOCOL_SMTP, TRUST_OFF, true, true},
        {"imaps", "127.0.0.1:2993", PROTOCOL_IMAP, TRUST_OFF, true, false},
        {"smtp-proxy", "127.0.0.1:2526", PROTOCOL_SMTP, TRUST_LISTENER, false, false},
        {"imap-proxy", "127.0.0.1:2144", PROTOCOL_IMAP, TRUST_LISTENER, false, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(expected); i++) {
        const struct listener_config *li = listener(c, expected[i].id);
        assert_int_equal(li->nbinds, 1);
        assert_string_equal(li->binds[0].text, expected[i].bind);
        assert_int_equal(li->protocol, expected[i].protocol);
        assert_int_equal(li->trust_source, expected[i].trust);
        assert_int_equal(li->tls_implicit, expected[i].implicit);
        assert_int_equal(li->submission, expected[i].submission);
        if (expected[i].trust == TRUST_LISTENER) {
            assert_true(trusts(li->trusted, "127.0.0.2"));
            assert_true(trusts(li->trusted, "::1"));
            assert_false(trusts(li->trusted, "10.0.0.1"));
        }
    }
    char *text = describe(c);
    expect_text(text, "config postern.toml\n");
    expect_text(text, "\nlistener smtp-proxy: bind 127.0.0.1:2526; protocol smtp; tls implicit "
                      "no; proxy trusted 127.0.0.0/8, ::1/128 (from listener)\n");
    expect_text(text, "\nlistener smtp: bind 127.0.0.1:2525; protocol smtp; tls implicit no; "
                      "proxy off\n");
    expect_text(text, "\nproxy: trusted none; timeout 5s; max-header-size 4096\n");
    expect_text(text, "\naccess: blocked none; allowed none\n");
    expect_text(text, "\nlistener submission: bind 127.0.0.1:2587; protocol smtp; tls implicit "
                      "no; submission yes (AUTH before MAIL); proxy off\n");
    expect_text(text, "\ndirectory: 0 accounts\n");
    free(text);
    /* The commented-out example account is the shape the schema expects. */
    assert_int_equal(directory_count(c->directory), 0);
    expect_text(config_embedded_default, "#[[directory.accounts]]\n#name = \"alice\"\n");
    release(&l);
}

static void test_load_file(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *diag = open_memstream(&text, &len);
    struct config *c = config_load_file(NULL, diag);
    assert_non_null(c);
    assert_string_equal(c->source, "<embedded default>");
    config_free(c);
    assert_null(config_load_file("/nonexistent/postern.toml", diag));
    fclose(diag);
    expect_text(text, "error: /nonexistent/postern.toml: cannot read: No such file or directory");
    free(text);

    static const char duplicate_key[] = "[server.listener.a]\nbind = \"127.0.0.1:1\"\n"
                                        "protocol = \"smtp\"\nprotocol = \"imap\"\n";
    char path[64];
    snprintf(path, sizeof path, "%s", temp_file(duplicate_key, strlen(duplicate_key)));
    text = NULL;
    diag = open_memstream(&text, &len);
    assert_null(config_load_file(path, diag));
    fclose(diag);
    char expected[128];
    snprintf(expected, sizeof expected, "error: %s:4:", path);
    expect_text(text, expected);
    free(text);
    unlink(path);
    config_free(NULL);
    c = config_load("", 0, NULL, NULL); /* valid, if useless: it listens on nothing */
    assert_non_null(c);
    assert_int_equal(c->nlisteners, 0);
    config_free(c);
}

/* No diagnostics stream: loading still works and still refuses. */
static void test_null_diag(void **state)
{
    (void)state;
    struct config *c = config_load(SMTP_LISTENER "foo = 1\n", strlen(SMTP_LISTENER "foo = 1\n"),
                                   NULL, NULL);
    assert_non_null(c);
    config_free(c);
    assert_null(config_load("x = {", 5, NULL, NULL));
    assert_null(config_load("[server]\nworkers = -1\n", 22, NULL, NULL));
    assert_string_equal(listener_protocol_name(PROTOCOL_SMTP), "smtp");
    assert_string_equal(listener_protocol_name(PROTOCOL_IMAP), "imap");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_global_list),
        cmocka_unit_test(test_seed_listener_list),
        cmocka_unit_test(test_seed_alone),
        cmocka_unit_test(test_seed_broken_variant),
        cmocka_unit_test(test_inline_table_is_a_type_error),
        cmocka_unit_test(test_syntax_hint_multiline),
        cmocka_unit_test(test_list_or_string),
        cmocka_unit_test(test_empty_list_disables_proxy),
        cmocka_unit_test(test_listener_override),
        cmocka_unit_test(test_no_lists_means_off),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_server_values),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_networks),
        cmocka_unit_test(test_bad_binds),
        cmocka_unit_test(test_duplicate_binds),
        cmocka_unit_test(test_listener_errors),
        cmocka_unit_test(test_imap_limits),
        cmocka_unit_test(test_listener_ids),
        cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_env_macro),
        cmocka_unit_test(test_file_macro),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bind_parsing),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_account_errors),
        cmocka_unit_test(test_account_duplicates),
        cmocka_unit_test(test_smtp_and_ban_keys),
        cmocka_unit_test(test_smtp_and_ban_errors),
        cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_null_diag),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
