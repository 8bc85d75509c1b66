/*
 * postern's effective configuration, loaded from TOML with Stalwart's key names.
 *
 * config_load() validates everything before anything runs: on any error it returns NULL, and
 * every problem (and every warning, such as an unknown key) has been written to the diagnostics
 * stream as "file:line: key: message". The result is immutable and shared by all workers.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "access/client_table.h"
#include "auth/directory.h"
#include "netset/netset.h"

/* Defaults and bounds, named so that every limit is visible in one place. */
#define CONFIG_DEFAULT_PROXY_TIMEOUT_MS 5000
#define CONFIG_DEFAULT_PROXY_MAX_HEADER PROXY_DEFAULT_MAX_LENGTH
#define CONFIG_DEFAULT_MAX_CONNECTIONS 8192
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_IDLE_TIMEOUT_MS 300000
#define CONFIG_MAX_WORKERS 256
/* Threads for blocking work: fsync, password hashing (server.io-threads). */
#define CONFIG_DEFAULT_IO_THREADS 16
#define CONFIG_MAX_IO_THREADS 256
#define CONFIG_MAX_LISTENERS 256
#define CONFIG_MAX_BINDS 64
#define CONFIG_ID_MAX 64
#define CONFIG_MAX_CONNECTIONS_LIMIT (1u << 20) /* largest max-connections: Linux's nr_open */
#define CONFIG_MAX_PROXY_TIMEOUT_MS 3600000u     /* server.proxy.timeout: at most 1h */
#define CONFIG_MIN_PROXY_MAX_HEADER 16           /* a v2 header's fixed part */
#define CONFIG_FILE_MAX (16u << 20)              /* largest configuration file read */
#define CONFIG_BIND_TEXT_MAX 64                  /* "[" IPv6 "]:" port, NUL, with room */
#define CONFIG_RUN_AS_NAME_MAX 32                /* a user or group name (useradd's limit) */
#define CONFIG_RUN_AS_MAX (2 * CONFIG_RUN_AS_NAME_MAX + 2) /* "user:group", NUL */

/* SMTP session limits (session.*). */
#define CONFIG_DEFAULT_MAX_MESSAGE_SIZE (25u << 20)   /* session.data.limits.size: 25 MiB */
#define CONFIG_MIN_MESSAGE_SIZE 1024                   /* room for the headers of a message */
#define CONFIG_MAX_MESSAGE_SIZE_LIMIT (1u << 30)      /* 1 GiB */
#define CONFIG_DEFAULT_MAX_RECIPIENTS 100              /* RFC 5321 4.5.3.1.8: at least 100 */
#define CONFIG_MAX_RECIPIENTS_LIMIT 10000
#define CONFIG_DEFAULT_MAX_ERRORS 10
#define CONFIG_MAX_ERRORS_LIMIT 1000
#define CONFIG_DEFAULT_MAX_COMMANDS_BEFORE_MAIL 50
#define CONFIG_MAX_COMMANDS_BEFORE_MAIL_LIMIT 10000

/* IMAP session limits (imap.*). */
#define CONFIG_DEFAULT_IMAP_MAX_SIZE (64ull << 20)     /* imap.request.max-size: an APPEND */
#define CONFIG_MIN_IMAP_MAX_SIZE 1024
#define CONFIG_MAX_IMAP_MAX_SIZE (1ull << 30)
#define CONFIG_DEFAULT_IMAP_MAX_LINE (64u << 10)       /* a command with non-APPEND literals */
#define CONFIG_DEFAULT_IMAP_MAX_LINE_BEFORE_LOGIN (8u << 10) /* LOGIN with literals */
#define CONFIG_MIN_IMAP_MAX_LINE 1024
#define CONFIG_MAX_IMAP_MAX_LINE (16u << 20)
#define CONFIG_DEFAULT_IMAP_MAX_DEPTH 16               /* parenthesised nesting (SEARCH) */
#define CONFIG_MAX_IMAP_MAX_DEPTH 64                   /* the parser's IMAP_DEPTH_HARD_MAX */
#define CONFIG_DEFAULT_IMAP_MAX_ARGUMENTS 8192         /* argument nodes of one command */
#define CONFIG_MAX_IMAP_MAX_ARGUMENTS (1u << 20)
#define CONFIG_DEFAULT_IMAP_MAX_COMMANDS_BEFORE_LOGIN 20
#define CONFIG_DEFAULT_IMAP_MAX_ERRORS 10              /* BAD replies, then BYE */
#define CONFIG_DEFAULT_IMAP_IDLE_TIMEOUT_MS (30u * 60 * 1000) /* RFC 3501 5.4: at least 30m */
#define CONFIG_DEFAULT_IMAP_IDLE_POLL_MS 2000          /* how often IDLE looks for changes */

/* Bans and per-client limits (server.auto-ban.*, server.max-connections-per-client). */
#define CONFIG_DEFAULT_AUTH_BAN_RATE "5/10m"
#define CONFIG_DEFAULT_ABUSE_BAN_RATE "20/10m"
#define CONFIG_MAX_RATE_WINDOW_MS (30ull * 86400000)   /* the window of an "N/window" rate */
#define CONFIG_DEFAULT_BAN_DURATION_MS 3600000
#define CONFIG_MAX_BAN_DURATION_MS (30ull * 86400000)  /* longer: use server.blocked-networks */
#define CONFIG_DEFAULT_MAX_CONNECTIONS_PER_CLIENT 20

enum listener_protocol {
    PROTOCOL_SMTP,
    PROTOCOL_IMAP,
    PROTOCOL_METRICS, /* Prometheus text over HTTP (GET /metrics); never uses the global
                         trusted networks, only its own proxy.trusted-networks */
};

/* Where a listener's PROXY trust comes from, for `postern check` and logs. */
enum trust_source {
    TRUST_OFF,      /* no trusted networks: PROXY headers are never accepted */
    TRUST_GLOBAL,   /* server.proxy.trusted-networks */
    TRUST_LISTENER, /* server.listener.<id>.proxy.trusted-networks */
};

struct bind_address {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char text[CONFIG_BIND_TEXT_MAX]; /* "127.0.0.1:2525", "[::1]:2525" as written, normalised */
};

struct listener_config {
    char id[CONFIG_ID_MAX];
    enum listener_protocol protocol;
    struct bind_address binds[CONFIG_MAX_BINDS];
    size_t nbinds;
    bool tls_implicit;            /* tls.implicit */
    uint32_t max_connections;     /* 0: only the server-wide limit applies */
    const struct netset *trusted; /* PROXY accepted from these peers; NULL when TRUST_OFF */
    enum trust_source trust_source;
    struct netset *own_trusted;   /* owned: the listener's own list, when it has one */
    bool assume_tls;              /* proxy.assume-tls: clients reached the proxy over TLS */
    bool defer_accept;            /* proxy.defer-accept (ours): accept once the header is in */
    uint32_t defer_accept_s;      /* server.proxy.timeout in whole seconds, for the kernel */
    bool submission;              /* submission: AUTH required before MAIL (ours) */
};

/* A list-of-strings value: each string with the line it was written on. */
struct text_list {
    char **items;
    size_t *lines;
    size_t count;
};

/* certificate.<id>.*: PEM text (usually "%{file:/path}%"). */
struct certificate_config {
    char id[CONFIG_ID_MAX];
    char *cert_pem;   /* certificate, then its chain */
    char *key_pem;
    bool is_default;  /* served when SNI names no certificate */
};

/* server.tls.*: what every TLS listener and STARTTLS offer. */
struct tls_settings {
    struct certificate_config *certificates; /* none: a self-signed one is generated */
    size_t ncertificates;
    int min_version, max_version;     /* OpenSSL TLS1_x_VERSION, from server.tls.protocols */
    char ciphers[512];                /* TLS 1.2 cipher list, "" for OpenSSL's default */
    char ciphersuites[512];           /* TLS 1.3 suites, "" for OpenSSL's default */
    uint32_t handshake_timeout_ms;    /* server.tls.timeout */
    char protocols[64];               /* server.tls.protocols as given, for `postern check` */
};

#define CONFIG_DEFAULT_TLS_TIMEOUT_MS 10000
#define CONFIG_CERT_PEM_MAX (64 * 1024) /* a certificate with its chain, or a key */
#define CONFIG_MAX_CERTIFICATES 64

/* SMTP session limits (Stalwart's session.* names where it has one). */
struct smtp_limits {
    uint64_t max_message_size;    /* session.data.limits.size, bytes (SIZE, 552) */
    uint32_t max_recipients;      /* session.rcpt.max-recipients (452) */
    uint32_t max_errors;          /* session.max-errors (ours): then 421 and close */
    uint32_t max_commands_before_mail; /* session.max-commands-before-mail (ours) */
};

struct imap_limits {
    uint64_t max_size;                /* imap.request.max-size: one APPEND literal ([TOOBIG]) */
    uint32_t max_line;                /* imap.request.max-line (ours): a command's lines and
                                         non-APPEND literals */
    uint32_t max_line_before_login;   /* imap.request.max-line-before-login (ours) */
    uint32_t max_depth;               /* imap.request.max-depth (ours) */
    uint32_t max_arguments;           /* imap.request.max-arguments (ours) */
    uint32_t max_commands_before_login; /* imap.max-commands-before-login (ours), then BYE */
    uint32_t max_errors;              /* imap.max-errors (ours): BAD replies, then BYE */
    uint32_t idle_timeout_ms;         /* imap.timeout.idle: an IDLE command's idle timeout */
    uint32_t idle_poll_ms;            /* imap.idle.poll-interval (ours) */
};

struct config {
    char source[256];             /* file name, or "<embedded default>" */
    char hostname[256];           /* server.hostname (default: the machine's host name) */
    char data_dir[1024];          /* server.data-dir */
    unsigned workers;             /* server.workers; 0 in the file means one per core */
    uint32_t io_threads;          /* server.io-threads (ours); read at start only */
    uint32_t max_connections;     /* server.max-connections */
    uint32_t shutdown_timeout_ms; /* server.shutdown-timeout */
    uint32_t idle_timeout_ms;     /* server.idle-timeout: a session with no input is closed */
    /* server.run-as (ours): "user" or "user:group" to become after binding when started as
     * root; "" means the default: the user "postern" when it exists (net/privileges.c). */
    char run_as[CONFIG_RUN_AS_MAX];

    struct netset *trusted_networks; /* server.proxy.trusted-networks (may be empty) */
    uint32_t proxy_timeout_ms;       /* server.proxy.timeout: deadline for a trusted header */
    uint32_t proxy_max_header;       /* server.proxy.max-header-size, bytes */

    struct netset *blocked_networks; /* server.blocked-networks: refused at connect */
    struct netset *allowed_networks; /* server.allowed-networks: never blocked nor banned */
    /* Derived: allowed networks and every trusted list (global and per listener). Proxies and
     * the operator's networks are never banned nor limited per client: one lookup. */
    struct netset *exempt_networks;

    struct listener_config *listeners;
    size_t nlisteners;

    struct directory *directory;         /* [[directory.accounts]]; never NULL, may be empty */
    struct tls_settings tls;
    struct text_list tls_protocols;      /* server.tls.protocols as written */
    struct smtp_limits smtp;
    struct imap_limits imap;
    struct client_table_policy client_policy; /* server.auto-ban.*, max-connections-per-client */
};

/* The configuration used when postern runs without --config. */
extern const char config_embedded_default[];

/* Parses and validates; NULL on any error. Diagnostics go to diag (may be NULL). */
struct config *config_load(const char *text, size_t len, const char *filename, FILE *diag);
/* Reads the file (or config_embedded_default when path is NULL) and loads it. */
struct config *config_load_file(const char *path, FILE *diag);
void config_free(struct config *config);

/* The effective listeners as `postern check` shows them. */
void config_describe(const struct config *config, FILE *out);

/* "5s", "250ms", "2m", "1h", "1d"; false on anything else. */
bool config_parse_duration(const char *text, size_t len, uint64_t *ms);

/*
 * Parses "127.0.0.1:25" or "[::1]:25": a numeric address (no host names; IPv6 in brackets)
 * and a port 1-65535. Fills addr, addr_len and the normalised text. False with why set, e.g.
 *   "::1:25": an IPv6 address must be in brackets, e.g. "[::1]:25"
 */
bool config_parse_bind(const char *text, size_t len, struct bind_address *out, char *why,
                       size_t whylen);

const char *listener_protocol_name(enum listener_protocol protocol);
/* The names of the KEY_CHOICE keys, in enum order, NULL-terminated. */
extern const char *const config_protocol_names[];

/*
 * server.run-as: "user" or "user:group". Names have 1-32 of [A-Za-z0-9._-] and do not start
 * with '-'; all digits is also accepted (a numeric id when no such name exists). Fills user
 * and group (group "" when not given; both need CONFIG_RUN_AS_NAME_MAX + 1 bytes). NULL on
 * success, else why the text is refused.
 */
const char *config_parse_run_as(const char *text, char *user, char *group);

#endif
