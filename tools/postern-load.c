/*
 * postern-load: a load generator for SMTP and IMAP servers behind the PROXY protocol.
 *
 * One process, one epoll loop, many connections at once. Each connection may bind a source
 * address of its own (round robin over a list or range in 127.0.0.0/8), so more than 64k
 * connections are possible; it may send a PROXY v1 or v2 header (built with postern's encoder)
 * claiming a client from --proxy-src-range, then plays a scenario:
 *   greet    greeting, QUIT (SMTP) or LOGOUT (IMAP), wait for the server to close
 *   smtp     EHLO, then per message MAIL, RCPT, DATA (--size bytes), QUIT; --pipelining
 *   imap     LOGIN, SELECT, FETCH (FLAGS or bodies), LOGOUT
 *   idle     send the header, read the greeting, hold the connection for --hold seconds
 *   garbage  random bytes, truncated or broken headers, half-close, wait for the server to close
 * and prints throughput, latency percentiles (log buckets, ~3% precision) and errors by kind,
 * with the first unexpected reply of each kind. Every run is bounded in time. Only loopback
 * targets and sources are accepted. Exit status: 0 ran, 1 no session succeeded, 2 usage or setup.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "postern/proxy.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_RANGES 64
#define MAX_ERROR_KINDS 64
#define MAX_RCPTS 32
#define MAX_SEGS 4              /* output pieces queued at once: commands, header, body */
#define MAX_EXPECT 40           /* replies awaited at once (pipelining) */
#define INPUT_CAP 8192          /* longest reply line (IMAP literals are skipped, not kept) */
#define HIST_SUB 32             /* histogram sub-buckets per power of two: ~3% precision */
#define HIST_BUCKETS (64 * HIST_SUB)
#define RETRY_DELAY_US 100000   /* a slot whose connect failed waits this long */
#define SCAN_US 50000           /* deadlines are checked this often */

enum scenario { SC_GREET, SC_SMTP, SC_IMAP, SC_IDLE, SC_GARBAGE };
static const char *const scenario_names[] = {"greet", "smtp", "imap", "idle", "garbage"};

enum phase {
    PH_FREE, PH_CONNECTING, PH_GREETING, PH_EHLO, PH_MAIL, PH_RCPT, PH_DATA, PH_BODY, PH_QUIT,
    PH_LOGIN, PH_SELECT, PH_FETCH, PH_LOGOUT, PH_HOLD, PH_GARBAGE, PH_DRAIN, PH_WAIT,
};
static const char *const phase_names[] = {
    "free", "connect", "greeting", "ehlo", "mail", "rcpt", "data", "body", "quit",
    "login", "select", "fetch", "logout", "hold", "garbage", "drain", "wait",
};

enum proto { PROTO_UNKNOWN, PROTO_SMTP, PROTO_IMAP };
enum hist_id { H_GREETING, H_SESSION, H_MESSAGE, H_LOGIN, H_FETCH, H_PEER_CLOSED, H_COUNT };
static const char *const hist_names[] = {"greeting", "session", "message", "login", "fetch",
                                         "peer_closed"};

struct histogram {
    uint64_t count, sum, max;
    uint64_t buckets[HIST_BUCKETS];
};

/* Addresses as ranges: start + [0, count); for IPv6 the low 64 bits vary. */
struct addr_range {
    int family; /* AF_INET or AF_INET6 */
    uint8_t start[16];
    uint64_t count;
};
struct addr_list {
    struct addr_range r[MAX_RANGES];
    size_t n;
    uint64_t total, next;
};

struct options {
    struct sockaddr_storage target;
    socklen_t target_len;
    const char *target_text;
    enum scenario scenario;
    uint64_t concurrency, count, size, messages_per_conn, fetch_count, fetches, seed;
    double duration, rate, hold, timeout, max_time;
    struct addr_list sources, claimed;
    bool have_sources, have_claimed, ssl_tlv, crc32c, unique_id, pipelining, garbage_keep_open;
    bool json, quiet;
    int proxy; /* 0 none, 1, 2 */
    const char *ssl_version, *authority, *alpn, *ehlo, *from, *to[MAX_RCPTS];
    size_t nto;
    const char *user, *pass, *mailbox, *fetch, *garbage, *record_path, *ready_file;
};

struct seg {
    const uint8_t *shared; /* NULL: the bytes are in the connection's own buffer at off */
    size_t off, len;
};

struct conn {
    int fd;                          /* -1 when the slot is free */
    uint32_t gen;                    /* tells a slot's sessions apart in epoll events */
    uint32_t events;                 /* what epoll watches on fd: changed only when it must */
    enum phase phase;                /* what the session waits for */
    enum proto proto;
    bool write_shutdown, counted_ready, imap_cont;
    uint64_t t_start, t_step, t_msg; /* session start, last command, MAIL of this message */
    uint64_t deadline, wake_at;      /* timeout or hold end; retry time of a failed slot */
    uint64_t literal_left;           /* IMAP literal bytes still to skip */
    uint64_t msg_serial;
    uint32_t done, exists, tag;      /* messages or FETCHes done; EXISTS; IMAP tag or RCPTs */
    uint8_t *obuf, *ibuf;            /* own output bytes; input (allocated on first use) */
    size_t olen, ocap, ilen, nsegs, nexpect;
    struct seg segs[MAX_SEGS];
    enum phase expect[MAX_EXPECT];   /* replies awaited, oldest first */
};

struct error_count {
    char kind[40], sample[100]; /* "5xx@rcpt" and the first reply of that kind */
    uint64_t n;
};

static struct options opt = {
    .concurrency = 10, .timeout = 10, .hold = 10, .size = 1024, .messages_per_conn = 1,
    .fetches = 1, .ehlo = "load.postern-load.test", .from = "load@postern-load.test",
    .to = {"load@example.test"}, .nto = 1, .user = "load", .pass = "load", .mailbox = "INBOX",
    .fetch = "flags", .garbage = "mixed", .ssl_version = "TLSv1.3",
};
static struct {
    uint64_t started, ok, failed, messages, message_bytes, logins, fetched_msgs, fetched_bytes;
    uint64_t bytes_out, bytes_in, held, ready, max_open, open, waiting;
    struct histogram hist[H_COUNT];
    struct error_count errors[MAX_ERROR_KINDS];
    size_t nerrors;
} st;
static struct conn *conns;
static uint32_t *free_slots;
static size_t nfree;
static int epfd = -1;
static FILE *record_file;
static uint64_t t0, stop_starting_at, hard_end, msg_counter;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint8_t *body;             /* the shared message text after the headers, and ".\r\n" */
static size_t body_len, header_len;
static struct proxy_tlv tlvs[8];
static size_t ntlvs;
static uint8_t ssl_value[256];
static volatile sig_atomic_t interrupted;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    return rng_state ^= rng_state << 17;
}

/* ---- statistics ------------------------------------------------------------------------ */

/* Values below HIST_SUB are exact; above, HIST_SUB/2 buckets per power of two. */
static size_t hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v) - 4u; /* v >> e is in [16, 32) */
    size_t i = (size_t)e * (HIST_SUB / 2) + (size_t)(v >> e);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t hist_value(size_t i)
{
    if (i < HIST_SUB)
        return i;
    size_t e = i / (HIST_SUB / 2) - 1, m = i % (HIST_SUB / 2) + HIST_SUB / 2;
    return ((uint64_t)m << e) + ((uint64_t)1 << e) / 2; /* the middle of the bucket */
}

static void hist_add(enum hist_id id, uint64_t us)
{
    struct histogram *h = &st.hist[id];
    h->buckets[hist_index(us)]++;
    h->count++;
    h->sum += us;
    h->max = us > h->max ? us : h->max;
}

static double hist_ms(const struct histogram *h, double pct)
{
    uint64_t want = (uint64_t)(pct / 100.0 * (double)h->count + 0.5), seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS && h->count; i++) {
        seen += h->buckets[i];
        if (seen >= (want ? want : 1)) {
            uint64_t v = hist_value(i);
            return (double)(v < h->max ? v : h->max) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

static void count_error(const char *kind, enum phase phase, const char *reply)
{
    char key[40];
    snprintf(key, sizeof key, "%s@%s", kind, phase_names[phase]);
    size_t i = 0;
    while (i < st.nerrors && strcmp(st.errors[i].kind, key) != 0)
        i++;
    if (i == st.nerrors) {
        if (i == MAX_ERROR_KINDS)
            return;
        st.nerrors++;
        snprintf(st.errors[i].kind, sizeof st.errors[i].kind, "%s", key);
        snprintf(st.errors[i].sample, sizeof st.errors[i].sample, "%s", reply ? reply : "");
    }
    st.errors[i].n++;
}

/* ---- addresses ---------------------------------------------------------------------------- */

static bool parse_ip(const char *text, size_t len, int *family, uint8_t out[16])
{
    struct proxy_ip ip;
    if (!proxy_ip_parse(text, len, &ip))
        return false;
    *family = ip.family == PROXY_FAM_INET ? AF_INET : AF_INET6;
    memcpy(out, ip.addr, 16);
    return true;
}

/* The part of an address that ranges vary: all of IPv4, the low 64 bits of IPv6. */
static uint64_t addr_low(int family, const uint8_t *a)
{
    uint64_t v = 0;
    for (int i = family == AF_INET ? 0 : 8; i < (family == AF_INET ? 4 : 16); i++)
        v = v << 8 | a[i];
    return v;
}

static void addr_set_low(int family, uint8_t *a, uint64_t v)
{
    for (int i = family == AF_INET ? 3 : 15; i >= (family == AF_INET ? 0 : 8); i--, v >>= 8)
        a[i] = (uint8_t)v;
}

/* One item of a list: "A", "A-B" or "A/N". */
static bool parse_range(char *item, struct addr_range *r)
{
    char *dash = strchr(item, '-'), *slash = strchr(item, '/');
    size_t len = dash ? (size_t)(dash - item) : slash ? (size_t)(slash - item) : strlen(item);
    r->count = 1;
    if (!parse_ip(item, len, &r->family, r->start))
        return false;
    if (dash) {
        int fam;
        uint8_t end[16];
        if (!parse_ip(dash + 1, strlen(dash + 1), &fam, end) || fam != r->family ||
            memcmp(end, r->start, fam == AF_INET ? 0 : 8) != 0 ||
            addr_low(fam, end) < addr_low(fam, r->start))
            return false;
        r->count = addr_low(fam, end) - addr_low(fam, r->start) + 1;
    } else if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10), width = r->family == AF_INET ? 32 : 128;
        if (*end || bits < (r->family == AF_INET ? 8 : 64) || bits > width)
            return false;
        int host = (int)(width - bits);
        uint64_t mask = host >= 64 ? UINT64_MAX : ((uint64_t)1 << host) - 1;
        uint64_t low = addr_low(r->family, r->start) & ~mask;
        bool inner = host >= 2 && r->family == AF_INET; /* skip network and broadcast */
        addr_set_low(r->family, r->start, low + inner);
        r->count = (host >= 62 ? (uint64_t)1 << 62 : (uint64_t)1 << host) - 2 * inner;
    }
    return true;
}

static bool parse_addr_list(const char *text, struct addr_list *list)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return false;
    list->n = 0;
    list->total = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        if (list->n == MAX_RANGES || !parse_range(item, &list->r[list->n]))
            return false;
        list->total += list->r[list->n++].count;
    }
    return list->n > 0;
}

/* The next address of the list, round robin. */
static int addr_next(struct addr_list *list, uint8_t out[16])
{
    uint64_t index = list->next++ % list->total;
    for (size_t i = 0;; i++) {
        const struct addr_range *r = &list->r[i];
        if (index < r->count) {
            memcpy(out, r->start, 16);
            addr_set_low(r->family, out, addr_low(r->family, r->start) + index);
            return r->family;
        }
        index -= r->count;
    }
}

static bool is_loopback(int family, const uint8_t *a)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    return family == AF_INET ? a[0] == 127 : memcmp(a, v6_loopback, 16) == 0;
}

static socklen_t make_sockaddr(int family, const uint8_t *a, uint16_t port,
                               struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a, 4);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, a, 16);
    return sizeof *sin6;
}

static const uint8_t *target_addr(void)
{
    return opt.target.ss_family == AF_INET
               ? (const uint8_t *)&((struct sockaddr_in *)&opt.target)->sin_addr
               : (const uint8_t *)&((struct sockaddr_in6 *)&opt.target)->sin6_addr;
}

/* ---- output ------------------------------------------------------------------------------ */

static void out_bytes(struct conn *c, const void *data, size_t len, bool shared)
{
    if (len == 0 || c->nsegs == MAX_SEGS)
        return;
    if (shared) {
        c->segs[c->nsegs++] = (struct seg){.shared = data, .len = len};
        return;
    }
    if (c->olen + len > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 512;
        while (cap < c->olen + len)
            cap *= 2;
        uint8_t *p = realloc(c->obuf, cap);
        if (!p)
            return;
        c->obuf = p;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, data, len);
    struct seg *last = c->nsegs ? &c->segs[c->nsegs - 1] : NULL;
    if (last && !last->shared && last->off + last->len == c->olen)
        last->len += len;
    else
        c->segs[c->nsegs++] = (struct seg){.off = c->olen, .len = len};
    c->olen += len;
}

static void out_text(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_text(struct conn *c, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_bytes(c, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, false);
}

/* A command was queued; p is the reply it will get. */
static void expect(struct conn *c, enum phase p)
{
    if (c->nexpect < MAX_EXPECT)
        c->expect[c->nexpect++] = p;
    c->phase = c->expect[0];
}

static void set_events(struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                             .data.u64 = (uint64_t)(c - conns) | (uint64_t)c->gen << 32};
    if (c->nsegs || c->phase == PH_CONNECTING)
        ev.events |= EPOLLOUT;
    if (ev.events == c->events)
        return; /* a system call saved: the generator shares the cores with the server */
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = ev.events;
}

/* ---- session lifecycle ------------------------------------------------------------------- */

static void close_conn(struct conn *c, bool retry_later)
{
    if (c->fd >= 0) {
        close(c->fd); /* also leaves epoll: descriptors are never duplicated */
        st.open--;
    }
    c->fd = -1;
    c->gen++;
    c->nsegs = c->olen = c->ilen = c->nexpect = 0;
    if (retry_later) { /* a failed connect: this slot pauses, so a dead server is not spun on */
        c->phase = PH_WAIT;
        c->wake_at = now_us() + RETRY_DELAY_US;
        st.waiting++;
    } else {
        c->phase = PH_FREE;
        free_slots[nfree++] = (uint32_t)(c - conns);
    }
}

static void session_ok(struct conn *c)
{
    st.ok++;
    hist_add(H_SESSION, now_us() - c->t_start);
    close_conn(c, false);
}

static void session_fail(struct conn *c, const char *kind, const char *reply)
{
    st.failed++;
    count_error(kind, c->phase, reply);
    close_conn(c, c->phase == PH_CONNECTING);
}

static void after_step(struct conn *c)
{
    c->t_step = now_us();
    c->deadline = c->t_step + (uint64_t)(opt.timeout * 1e6);
}

static void start_drain(struct conn *c)
{
    c->phase = PH_DRAIN;
    c->nexpect = 0;
    after_step(c);
}

/* ---- PROXY headers and garbage ----------------------------------------------------------- */

static int build_header(struct conn *c, int version, uint8_t *out, size_t cap)
{
    struct proxy_header h;
    memset(&h, 0, sizeof h);
    h.command = PROXY_CMD_PROXY;
    h.transport = PROXY_TRANSPORT_STREAM;
    h.has_addresses = true;
    static uint64_t headers;
    int fam = AF_INET;
    uint8_t src[16] = {192, 0, 2, (uint8_t)(1 + headers++ % 254)}, dst[16] = {0};
    if (opt.have_claimed)
        fam = addr_next(&opt.claimed, src);
    if (opt.target.ss_family == fam)
        memcpy(dst, target_addr(), 16);
    else if (fam == AF_INET)
        dst[0] = 127, dst[3] = 1;
    else
        dst[15] = 1;
    h.family = h.src.family = h.dst.family = fam == AF_INET ? PROXY_FAM_INET : PROXY_FAM_INET6;
    memcpy(h.src.addr, src, 16);
    memcpy(h.dst.addr, dst, 16);
    h.src_port = (uint16_t)(1024 + (uint64_t)(c - conns) * 7 % 64000 + c->gen % 500);
    h.dst_port = ntohs(((struct sockaddr_in *)&opt.target)->sin_port);
    if (version == 1)
        return proxy_encode_v1(out, cap, &h);
    struct proxy_tlv all[10];
    uint8_t uid[16];
    size_t n = ntlvs;
    memcpy(all, tlvs, ntlvs * sizeof tlvs[0]);
    if (opt.unique_id) {
        for (size_t i = 0; i < sizeof uid; i++)
            uid[i] = (uint8_t)rnd();
        all[n++] = (struct proxy_tlv){.type = PROXY_TLV_UNIQUE_ID, .len = 16, .value = uid};
    }
    struct proxy_encode_options eo = {.crc32c = opt.crc32c};
    return proxy_encode_v2(out, cap, &h, all, n, &eo);
}

/* One abusive opening: random bytes, a strict prefix of a header, or a header broken so that
 * any decoder must refuse it (keyword, family, command, version, length or line end). */
static void queue_garbage(struct conn *c)
{
    const char *mode = opt.garbage;
    int kind = strcmp(mode, "random") == 0 ? 0 : strcmp(mode, "truncated") == 0 ? 1
               : strcmp(mode, "invalid") == 0 ? 2 : (int)(rnd() % 3);
    uint8_t buf[1024];
    size_t len;
    if (kind == 0) {
        len = 1 + rnd() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rnd();
        if (buf[0] == 'P' || buf[0] == '\r')
            buf[0] = 'x'; /* never a header prefix by chance */
    } else {
        int n = build_header(c, 1 + (int)(rnd() % 2), buf, sizeof buf);
        if (n < 2)
            return;
        len = kind == 1 ? 1 + rnd() % (uint64_t)(n - 1) : (size_t)n;
        bool v1 = buf[0] == 'P';
        if (kind == 2) {
            switch (rnd() % 4) {
            case 0: buf[v1 ? 1 : 12] = v1 ? 'r' : 0x31; break;     /* keyword / version 3 */
            case 1: buf[v1 ? 8 : 13] = v1 ? 'X' : 0xFF; break;     /* family */
            case 2: if (v1) memset(buf + len - 2, 'x', 2);           /* no line end */
                    else buf[14] = buf[15] = 0xFF;                   /* too large */
                    break;
            default: buf[v1 ? 4 : 12] = v1 ? 'y' : 0x22; break;    /* keyword / command */
            }
        }
    }
    out_bytes(c, buf, len, false);
}

/* ---- starting sessions ------------------------------------------------------------------- */

static void start_session(struct conn *c)
{
    uint64_t now = now_us();
    c->fd = socket(opt.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    st.started++;
    c->t_start = now;
    c->phase = PH_CONNECTING;
    c->proto = opt.scenario == SC_SMTP ? PROTO_SMTP : opt.scenario == SC_IMAP ? PROTO_IMAP
                                                                              : PROTO_UNKNOWN;
    c->write_shutdown = c->counted_ready = c->imap_cont = false;
    c->done = c->tag = 0;
    c->literal_left = 0;
    c->exists = UINT32_MAX;
    c->deadline = now + (uint64_t)(opt.timeout * 1e6);
    if (c->fd < 0) {
        session_fail(c, errno == EMFILE ? "emfile" : "socket", strerror(errno));
        return;
    }
    if (++st.open > st.max_open)
        st.max_open = st.open;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.have_sources) {
        struct sockaddr_storage src;
        uint8_t a[16];
        int fam = addr_next(&opt.sources, a);
        socklen_t len = make_sockaddr(fam, a, 0, &src);
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, len) < 0) {
            session_fail(c, "bind", strerror(errno));
            return;
        }
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP,
                             .data.u64 = (uint64_t)(c - conns) | (uint64_t)c->gen << 32};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->events = ev.events;
    if (connect(c->fd, (struct sockaddr *)&opt.target, opt.target_len) < 0 &&
        errno != EINPROGRESS)
        session_fail(c, errno == ECONNREFUSED ? "refused" : errno == EADDRNOTAVAIL ? "no_port"
                                                                                   : "connect",
                     strerror(errno));
}

static void connected(struct conn *c)
{
    if (opt.proxy && opt.scenario != SC_GARBAGE) {
        uint8_t hdr[1024];
        int n = build_header(c, opt.proxy, hdr, sizeof hdr);
        if (n > 0)
            out_bytes(c, hdr, (size_t)n, false);
    }
    after_step(c);
    if (opt.scenario == SC_GARBAGE) {
        queue_garbage(c);
        c->phase = PH_GARBAGE;
    } else if (opt.scenario == SC_IDLE) {
        c->phase = PH_HOLD;
        c->deadline = c->t_step + (uint64_t)(opt.hold * 1e6);
    } else {
        expect(c, PH_GREETING);
    }
    set_events(c);
}

/* ---- SMTP ------------------------------------------------------------------------------------ */

static void smtp_command(struct conn *c, enum phase p, const char *verb, const char *arg)
{
    out_text(c, "%s%s%s\r\n", verb, arg ? arg : "", arg ? ">" : "");
    expect(c, p);
}

static void smtp_next_message(struct conn *c)
{
    c->msg_serial = ++msg_counter;
    c->t_msg = now_us();
    c->tag = 0; /* recipients sent */
    smtp_command(c, PH_MAIL, "MAIL FROM:<", opt.from);
    for (size_t i = 0; opt.pipelining && i < opt.nto; i++)
        smtp_command(c, PH_RCPT, "RCPT TO:<", opt.to[i]);
    if (opt.pipelining)
        smtp_command(c, PH_DATA, "DATA", NULL);
}

/* The message: fixed-length headers (Message-ID first) and the shared body. */
static void smtp_send_message(struct conn *c)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    out_text(c, "Message-ID: <%016" PRIx64 ".%08" PRIx32 "@postern-load.test>\r\nFrom: <%s>\r\n"
                "To: <%s>\r\nSubject: postern-load message\r\nDate: %s\r\n\r\n",
             c->msg_serial, (uint32_t)opt.seed, opt.from, opt.to[0], date);
    out_bytes(c, body, body_len, true);
    expect(c, PH_BODY);
    if (opt.pipelining && c->done + 1 >= opt.messages_per_conn)
        smtp_command(c, PH_QUIT, "QUIT", NULL);
}

static void smtp_accepted(struct conn *c, const char *reply)
{
    const char *id = strstr(reply, "queued as ");
    char qid[64] = "-";
    if (id)
        sscanf(id + 10, "%63s", qid);
    st.messages++;
    st.message_bytes += header_len + body_len - 3;
    hist_add(H_MESSAGE, now_us() - c->t_msg);
    if (record_file)
        fprintf(record_file, "%s <%016" PRIx64 ".%08" PRIx32 "@postern-load.test> %zu\n", qid,
                c->msg_serial, (uint32_t)opt.seed, header_len + body_len - 3);
}

/* One complete SMTP reply, for the oldest command awaiting one. */
static void smtp_reply(struct conn *c, int code, const char *text)
{
    enum phase p = c->nexpect ? c->expect[0] : c->phase;
    if (c->nexpect)
        memmove(c->expect, c->expect + 1, --c->nexpect * sizeof c->expect[0]);
    c->phase = p;
    int want = p == PH_GREETING ? 220 : p == PH_DATA ? 354 : p == PH_QUIT ? 221 : 250;
    if (code != want) {
        session_fail(c, code >= 500 ? "5xx" : code >= 400 ? "4xx" : "reply", text);
        return;
    }
    after_step(c);
    switch (p) {
    case PH_GREETING:
        hist_add(H_GREETING, now_us() - c->t_start);
        if (opt.scenario == SC_GREET)
            smtp_command(c, PH_QUIT, "QUIT", NULL);
        else
            out_text(c, "EHLO %s\r\n", opt.ehlo), expect(c, PH_EHLO);
        break;
    case PH_EHLO: smtp_next_message(c); break;
    case PH_MAIL:
    case PH_RCPT:
        if (opt.pipelining)
            break;
        if (c->tag < opt.nto)
            smtp_command(c, PH_RCPT, "RCPT TO:<", opt.to[c->tag++]);
        else
            smtp_command(c, PH_DATA, "DATA", NULL);
        break;
    case PH_DATA: smtp_send_message(c); break;
    case PH_BODY:
        smtp_accepted(c, text);
        if (++c->done < opt.messages_per_conn)
            smtp_next_message(c);
        else if (!opt.pipelining)
            smtp_command(c, PH_QUIT, "QUIT", NULL);
        break;
    case PH_QUIT: start_drain(c); break;
    default: break;
    }
}

/* ---- IMAP ------------------------------------------------------------------------------------ */

static void imap_command(struct conn *c, enum phase p, const char *command)
{
    out_text(c, "a%" PRIu32 " %s\r\n", ++c->tag, command);
    c->nexpect = 0;
    expect(c, p);
    c->t_step = now_us();
}

static void imap_fetch_or_logout(struct conn *c)
{
    char command[64];
    if (c->done >= opt.fetches || c->exists == 0) {
        imap_command(c, PH_LOGOUT, "LOGOUT");
        return;
    }
    int n = snprintf(command, sizeof command, "FETCH 1:");
    snprintf(command + n, sizeof command - (size_t)n, opt.fetch_count ? "%" PRIu64 : "*",
             opt.fetch_count);
    strcat(command, strcmp(opt.fetch, "bodies") == 0 ? " (BODY.PEEK[])" : " (FLAGS)");
    imap_command(c, PH_FETCH, command);
}

/* The greeting, or the tagged completion of the command in flight. */
static void imap_status(struct conn *c, bool ok, const char *line)
{
    uint64_t now = now_us(), sent = c->t_step;
    char command[600];
    if (!ok) {
        session_fail(c, c->phase == PH_GREETING ? "rejected" : strstr(line, " NO ") ? "no"
                                                                                    : "bad",
                     line);
        return;
    }
    after_step(c);
    switch (c->phase) {
    case PH_GREETING:
        hist_add(H_GREETING, now - c->t_start);
        snprintf(command, sizeof command, "LOGIN \"%s\" \"%s\"", opt.user, opt.pass);
        imap_command(c, opt.scenario == SC_GREET ? PH_LOGOUT : PH_LOGIN,
                     opt.scenario == SC_GREET ? "LOGOUT" : command);
        break;
    case PH_LOGIN:
        st.logins++;
        hist_add(H_LOGIN, now - sent);
        snprintf(command, sizeof command, "SELECT \"%s\"", opt.mailbox);
        imap_command(c, PH_SELECT, command);
        break;
    case PH_SELECT: imap_fetch_or_logout(c); break;
    case PH_FETCH:
        c->done++;
        hist_add(H_FETCH, now - sent);
        imap_fetch_or_logout(c);
        break;
    case PH_LOGOUT: start_drain(c); break;
    default: break;
    }
}

/* One line without its CRLF. A line ending in {N} announces a literal (skipped by the reader);
 * the line after it continues the same response and is not looked at. */
static void imap_line(struct conn *c, const char *line, size_t len)
{
    bool continued = c->imap_cont;
    unsigned long long lit = 0;
    const char *brace = len >= 3 && line[len - 1] == '}' ? memrchr(line, '{', len) : NULL;
    if (brace && sscanf(brace + 1, "%llu", &lit) == 1)
        c->literal_left = lit;
    c->imap_cont = lit > 0;
    if (continued)
        return;
    if (c->phase == PH_GREETING) {
        imap_status(c, strncmp(line, "* OK", 4) == 0 || strncmp(line, "* PREAUTH", 9) == 0,
                    line);
        return;
    }
    unsigned n;
    char word[16], tag[16];
    if (line[0] == '*') {
        if (sscanf(line, "* %u %15s", &n, word) == 2) {
            c->exists = strcmp(word, "EXISTS") == 0 ? n : c->exists;
            st.fetched_msgs += strcmp(word, "FETCH") == 0;
        }
        return;
    }
    int taglen = snprintf(tag, sizeof tag, "a%" PRIu32 " ", c->tag);
    if (len > (size_t)taglen && memcmp(line, tag, (size_t)taglen) == 0)
        imap_status(c, strncmp(line + taglen, "OK", 2) == 0, line);
}

/* ---- input ----------------------------------------------------------------------------------- */

/* Takes complete lines (SMTP replies, IMAP responses) and skips IMAP literals. */
static void process_input(struct conn *c)
{
    size_t pos = 0;
    while (pos < c->ilen && c->fd >= 0 && c->phase != PH_DRAIN) {
        if (c->literal_left) {
            size_t take = c->ilen - pos < c->literal_left ? c->ilen - pos : c->literal_left;
            c->literal_left -= take;
            st.fetched_bytes += take;
            pos += take;
            continue;
        }
        char *line = (char *)c->ibuf + pos, *lf = memchr(line, '\n', c->ilen - pos);
        if (!lf)
            break;
        size_t len = (size_t)(lf - line);
        pos += len + 1;
        if (len && line[len - 1] == '\r')
            len--;
        line[len] = 0;
        if (c->proto == PROTO_UNKNOWN)
            c->proto = line[0] == '*' ? PROTO_IMAP : PROTO_SMTP;
        if (c->proto == PROTO_IMAP)
            imap_line(c, line, len);
        else if (len < 4 || line[3] != '-') /* the last line of a reply */
            smtp_reply(c, len >= 3 ? atoi(line) : 0, line);
    }
    if (c->fd < 0)
        return;
    memmove(c->ibuf, c->ibuf + pos, c->ilen - pos);
    c->ilen -= pos;
    if (c->ilen == INPUT_CAP)
        session_fail(c, "line_too_long", NULL);
}

static void flush_output(struct conn *c)
{
    while (c->nsegs) {
        struct iovec iov[MAX_SEGS];
        for (size_t i = 0; i < c->nsegs; i++) {
            iov[i].iov_base = (void *)(c->segs[i].shared ? c->segs[i].shared
                                                         : c->obuf + c->segs[i].off);
            iov[i].iov_len = c->segs[i].len;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = c->nsegs};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0) {
            session_fail(c, errno == ECONNRESET ? "reset" : errno == EPIPE ? "closed" : "send",
                         strerror(errno));
            return;
        }
        st.bytes_out += (uint64_t)n;
        for (size_t sent = (size_t)n; sent && c->nsegs;) {
            struct seg *s = &c->segs[0];
            size_t k = sent < s->len ? sent : s->len;
            s->len -= k, s->off += k, sent -= k;
            s->shared = s->shared ? s->shared + k : NULL;
            if (s->len == 0)
                memmove(c->segs, c->segs + 1, --c->nsegs * sizeof c->segs[0]);
        }
    }
    if (c->nsegs == 0) {
        c->olen = 0;
        if (c->phase == PH_GARBAGE && !c->write_shutdown) {
            c->write_shutdown = true;
            if (!opt.garbage_keep_open)
                shutdown(c->fd, SHUT_WR); /* the server sees the end of a truncated header */
        }
    }
    set_events(c);
}

static void hold_ready(struct conn *c)
{
    if (c->counted_ready)
        return;
    c->counted_ready = true;
    if (++st.ready != (opt.count ? opt.count : opt.concurrency))
        return;
    if (!opt.quiet)
        fprintf(stderr, "postern-load: ready: %" PRIu64 " connections held\n", st.ready);
    FILE *f = opt.ready_file ? fopen(opt.ready_file, "w") : NULL;
    if (f)
        fprintf(f, "%" PRIu64 "\n", st.ready), fclose(f);
}

/* The server closed (EOF) or reset the connection. */
static void peer_closed(struct conn *c, bool reset)
{
    if (c->phase == PH_GARBAGE || c->phase == PH_HOLD)
        hist_add(H_PEER_CLOSED, now_us() - c->t_start);
    if (c->phase == PH_DRAIN || c->phase == PH_GARBAGE)
        session_ok(c);
    else
        session_fail(c, reset ? "reset" : "closed", NULL);
}

static void read_input(struct conn *c)
{
    bool discard = c->phase == PH_HOLD || c->phase == PH_GARBAGE || c->phase == PH_DRAIN;
    if (!discard && !c->ibuf && !(c->ibuf = malloc(INPUT_CAP + 1))) {
        session_fail(c, "memory", NULL);
        return;
    }
    uint8_t scratch[4096];
    ssize_t n = recv(c->fd, discard ? scratch : c->ibuf + c->ilen,
                     discard ? sizeof scratch : INPUT_CAP - c->ilen, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        peer_closed(c, n < 0);
        return;
    }
    if (n < 0)
        return;
    st.bytes_in += (uint64_t)n;
    if (c->phase == PH_HOLD && !c->counted_ready) {
        hist_add(H_GREETING, now_us() - c->t_start);
        hold_ready(c);
    }
    if (!discard) {
        c->ilen += (size_t)n;
        process_input(c);
        if (c->fd >= 0 && c->nsegs)
            flush_output(c);
    }
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->phase == PH_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            session_fail(c, err == ECONNREFUSED ? "refused" : "connect", strerror(err));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN)))
            return;
        connected(c);
    }
    if ((events & EPOLLOUT) && c->fd >= 0 && c->nsegs)
        flush_output(c);
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && c->fd >= 0)
        read_input(c);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static bool more_to_start(uint64_t now)
{
    return !interrupted && now < stop_starting_at && (!opt.count || st.started < opt.count);
}

static bool may_start(uint64_t now)
{
    return more_to_start(now) &&
           (opt.rate <= 0 || (double)st.started < opt.rate * (double)(now - t0) / 1e6 + 1);
}

static void check_deadlines(uint64_t now)
{
    for (uint64_t i = 0; i < opt.concurrency; i++) {
        struct conn *c = &conns[i];
        if (c->phase == PH_WAIT && now >= c->wake_at) {
            c->phase = PH_FREE;
            free_slots[nfree++] = (uint32_t)i;
            st.waiting--;
        } else if (c->fd >= 0 && now >= c->deadline) {
            if (c->phase == PH_HOLD)
                st.held++, session_ok(c);
            else if (c->phase == PH_DRAIN)
                session_ok(c); /* the last reply came; the server only kept the socket open */
            else
                session_fail(c, "timeout", NULL);
        }
    }
}

static void print_progress(uint64_t now)
{
    double t = (double)(now - t0) / 1e6;
    uint64_t errors = 0;
    for (size_t i = 0; i < st.nerrors; i++)
        errors += st.errors[i].n;
    fprintf(stderr, "[%6.1fs] open %" PRIu64 "  ok %" PRIu64 " (%.0f/s)  messages %" PRIu64
                    "  logins %" PRIu64 "  errors %" PRIu64 "\n",
            t, st.open, st.ok, (double)st.ok / t, st.messages, st.logins, errors);
}

static void run(void)
{
    struct epoll_event events[256];
    uint64_t next_progress = t0 + 1000000, next_scan = t0;
    bool progress = !opt.quiet && stop_starting_at - t0 > 3000000;
    for (;;) {
        uint64_t now = now_us();
        while (nfree && may_start(now))
            start_session(&conns[free_slots[--nfree]]);
        if ((!st.open && !more_to_start(now)) || now >= hard_end ||
            (interrupted && opt.scenario == SC_IDLE))
            break;
        int n = epoll_wait(epfd, events, 256, opt.rate > 0 && nfree ? 1 : 20);
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[(uint32_t)events[i].data.u64];
            if (c->gen == (uint32_t)(events[i].data.u64 >> 32) && c->fd >= 0)
                on_event(c, events[i].events);
        }
        now = now_us();
        if (now >= next_scan)
            check_deadlines(now), next_scan = now + SCAN_US;
        if (progress && now >= next_progress)
            print_progress(now), next_progress += 1000000;
    }
    for (uint64_t i = 0; i < opt.concurrency; i++) {
        struct conn *c = &conns[i];
        if (c->fd >= 0 && c->phase == PH_HOLD && interrupted)
            st.held++, session_ok(c); /* SIGINT/SIGTERM end a hold early */
        else if (c->fd >= 0)
            session_fail(c, "unfinished", NULL);
    }
}

/* ---- summary ------------------------------------------------------------------------------ */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7F)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_json(double secs)
{
    printf("{\"scenario\":\"%s\",\"target\":", scenario_names[opt.scenario]);
    json_string(opt.target_text);
    printf(",\"proxy\":%d,\"concurrency\":%" PRIu64 ",\"elapsed_s\":%.6f,\"sessions\":"
           "{\"started\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"per_s\":%.3f},"
           "\"messages\":{\"ok\":%" PRIu64 ",\"per_s\":%.3f,\"bytes\":%" PRIu64 "},\"logins\":"
           "{\"ok\":%" PRIu64 ",\"per_s\":%.3f},\"fetched\":{\"messages\":%" PRIu64 ",\"bytes\":"
           "%" PRIu64 ",\"bytes_per_s\":%.1f},\"held\":%" PRIu64 ",\"greeted\":%" PRIu64
           ",\"max_open\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
           ",\"latency_ms\":{",
           opt.proxy, opt.concurrency, secs, st.started, st.ok, st.failed,
           (double)st.ok / secs, st.messages, (double)st.messages / secs, st.message_bytes,
           st.logins, (double)st.logins / secs, st.fetched_msgs, st.fetched_bytes,
           (double)st.fetched_bytes / secs, st.held, st.ready, st.max_open, st.bytes_out,
           st.bytes_in);
    const char *sep = "";
    for (int i = 0; i < H_COUNT; i++) {
        const struct histogram *h = &st.hist[i];
        if (h->count)
            printf("%s\"%s\":{\"count\":%" PRIu64 ",\"mean\":%.4f,\"p50\":%.4f,\"p99\":%.4f,"
                   "\"p999\":%.4f,\"max\":%.4f}", sep, hist_names[i], h->count,
                   (double)h->sum / (double)h->count / 1000.0, hist_ms(h, 50), hist_ms(h, 99),
                   hist_ms(h, 99.9), (double)h->max / 1000.0), sep = ",";
    }
    uint64_t total = 0;
    printf("},\"errors\":{");
    for (size_t i = 0; i < st.nerrors; i++)
        printf("%s\"%s\":%" PRIu64, i ? "," : "", st.errors[i].kind, st.errors[i].n),
            total += st.errors[i].n;
    printf("},\"error_samples\":{");
    for (size_t i = 0; i < st.nerrors; i++)
        printf("%s\"%s\":", i ? "," : "", st.errors[i].kind), json_string(st.errors[i].sample);
    printf("},\"errors_total\":%" PRIu64 "}\n", total);
}

static void print_text(double secs)
{
    printf("postern-load: %s %s proxy=%s concurrency=%" PRIu64 " elapsed=%.2fs\n"
           "sessions: %" PRIu64 " started, %" PRIu64 " ok, %" PRIu64 " failed, %.1f ok/s\n",
           scenario_names[opt.scenario], opt.target_text, (const char *[]){"none", "v1", "v2"}
           [opt.proxy], opt.concurrency, secs, st.started, st.ok, st.failed,
           (double)st.ok / secs);
    if (opt.scenario == SC_SMTP)
        printf("messages: %" PRIu64 " accepted, %.1f/s, %.2f MiB/s\n", st.messages,
               (double)st.messages / secs, (double)st.message_bytes / secs / 1048576.0);
    if (opt.scenario == SC_IMAP)
        printf("imap: %" PRIu64 " logins (%.1f/s), %" PRIu64 " messages fetched, %.2f MiB/s\n",
               st.logins, (double)st.logins / secs, st.fetched_msgs,
               (double)st.fetched_bytes / secs / 1048576.0);
    if (opt.scenario == SC_IDLE)
        printf("idle: %" PRIu64 " held to the end, %" PRIu64 " greeted, max open %" PRIu64 "\n",
               st.held, st.ready, st.max_open);
    printf("%-12s %9s %9s %9s %9s %9s %9s\n", "latency ms", "count", "mean", "p50", "p99",
           "p999", "max");
    for (int i = 0; i < H_COUNT; i++) {
        const struct histogram *h = &st.hist[i];
        if (h->count)
            printf("%-12s %9" PRIu64 " %9.3f %9.3f %9.3f %9.3f %9.3f\n", hist_names[i],
                   h->count, (double)h->sum / (double)h->count / 1000.0, hist_ms(h, 50),
                   hist_ms(h, 99), hist_ms(h, 99.9), (double)h->max / 1000.0);
    }
    printf("errors:%s\n", st.nerrors ? "" : " none");
    for (size_t i = 0; i < st.nerrors; i++)
        printf("  %-24s %9" PRIu64 "  %s\n", st.errors[i].kind, st.errors[i].n,
               st.errors[i].sample);
}

/* ---- options and setup --------------------------------------------------------------------- */

static const char usage_text[] =
    "usage: postern-load [options] HOST:PORT        (HOST: 127.x.y.z, ::1 or [::1])\n"
    "  -s, --scenario S        greet | smtp | imap | idle | garbage (default greet)\n"
    "  -c, --concurrency N     connections open at once (default 10)\n"
    "  -d, --duration SECS     start sessions for this long (default 10 unless -n)\n"
    "  -n, --count N           start this many sessions in all (idle: default -c)\n"
    "  -r, --rate N            at most N new sessions per second (default: no limit)\n"
    "      --timeout SECS      wait this long for each reply (default 10)\n"
    "      --max-time SECS     hard bound of the run (default: duration + timeout + 5 [+ hold],\n"
    "                          600 with -n alone)\n"
    "      --source LIST       source addresses, round robin: A, A-B or A/N, comma-separated;\n"
    "                          loopback only, the target's family\n"
    "  PROXY: --proxy none|v1|v2 (default none)  --proxy-src-range LIST (claimed clients,\n"
    "         default 192.0.2.1-254)  --ssl-tlv[=VERSION] (CLIENT_SSL, default TLSv1.3)\n"
    "         --authority NAME  --alpn NAME  --unique-id  --crc32c       (v2 TLVs)\n"
    "  smtp:  --ehlo NAME  --from ADDR  --to ADDR[,ADDR...]  --size BYTES (default 1024)\n"
    "         --pipelining  --messages-per-connection N (default 1)\n"
    "         --record FILE  appends 'queue-id <message-id> bytes' for every 250 after DATA\n"
    "  imap:  --user U  --pass P  --mailbox NAME (INBOX)  --fetch flags|bodies\n"
    "         --fetch-count N (FETCH 1:N, default 1:*)  --fetches N per session (default 1)\n"
    "  idle:  --hold SECS (default 10)  --ready-file FILE (written once all are greeted)\n"
    "  garbage: --garbage random|truncated|invalid|mixed (default mixed)  --garbage-keep-open\n"
    "  output: --json (one JSON object)  --quiet (no progress)  --seed N\n"
    "Exit status: 0 ran, 1 no session succeeded, 2 usage or setup error.\n";

enum kind { K_STR, K_U64, K_DBL, K_FLAG, K_OTHER };
static const struct opt_def {
    const char *name;
    char letter;
    enum kind kind;
    void *dst;
    double lo, hi;
} defs[] = {
    {"scenario", 's', K_OTHER, NULL, 0, 0},
    {"concurrency", 'c', K_U64, &opt.concurrency, 1, 1000000},
    {"duration", 'd', K_DBL, &opt.duration, 0.001, 86400},
    {"count", 'n', K_U64, &opt.count, 1, 1e15}, {"rate", 'r', K_DBL, &opt.rate, 0.001, 1e9},
    {"timeout", 0, K_DBL, &opt.timeout, 0.01, 3600},
    {"max-time", 0, K_DBL, &opt.max_time, 0.01, 86400}, {"source", 0, K_OTHER, NULL, 0, 0},
    {"proxy", 0, K_OTHER, NULL, 0, 0}, {"proxy-src-range", 0, K_OTHER, NULL, 0, 0},
    {"ssl-tlv", 0, K_OTHER, NULL, 0, 0},
    {"authority", 0, K_STR, &opt.authority, 0, PROXY_AUTHORITY_MAX},
    {"alpn", 0, K_STR, &opt.alpn, 0, 255}, {"unique-id", 0, K_FLAG, &opt.unique_id, 0, 0},
    {"crc32c", 0, K_FLAG, &opt.crc32c, 0, 0}, {"ehlo", 0, K_STR, &opt.ehlo, 1, 255},
    {"from", 0, K_STR, &opt.from, 0, 254}, {"to", 0, K_OTHER, NULL, 0, 0},
    {"size", 0, K_U64, &opt.size, 0, 1 << 30}, {"pipelining", 0, K_FLAG, &opt.pipelining, 0, 0},
    {"messages-per-connection", 0, K_U64, &opt.messages_per_conn, 1, 1e6},
    {"record", 0, K_STR, &opt.record_path, 1, 4096}, {"user", 0, K_STR, &opt.user, 1, 255},
    {"pass", 0, K_STR, &opt.pass, 0, 255}, {"mailbox", 0, K_STR, &opt.mailbox, 1, 255},
    {"fetch", 0, K_OTHER, NULL, 0, 0}, {"fetch-count", 0, K_U64, &opt.fetch_count, 0, UINT32_MAX},
    {"fetches", 0, K_U64, &opt.fetches, 0, 1e6}, {"hold", 0, K_DBL, &opt.hold, 0, 86400},
    {"ready-file", 0, K_STR, &opt.ready_file, 1, 4096}, {"garbage", 0, K_OTHER, NULL, 0, 0},
    {"garbage-keep-open", 0, K_FLAG, &opt.garbage_keep_open, 0, 0},
    {"json", 0, K_FLAG, &opt.json, 0, 0}, {"quiet", 0, K_FLAG, &opt.quiet, 0, 0},
    {"seed", 0, K_U64, &opt.seed, 0, 1e15},
};
#define NDEFS (sizeof defs / sizeof defs[0])

static int one_of(const char *arg, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(arg, names[i]) == 0)
            return i;
    return -1;
}

/* The options whose argument is more than a value. */
static bool apply_other(const char *name, char *arg)
{
    static const char *const proxies[] = {"none", "v1", "v2"};
    static const char *const fetches[] = {"flags", "bodies"};
    static const char *const garbage[] = {"random", "truncated", "invalid", "mixed"};
    int i;
    if (strcmp(name, "scenario") == 0 && (i = one_of(arg, scenario_names, 5)) >= 0)
        return opt.scenario = (enum scenario)i, true;
    if (strcmp(name, "proxy") == 0 && (i = one_of(arg, proxies, 3)) >= 0)
        return opt.proxy = i, true;
    if (strcmp(name, "fetch") == 0 && one_of(arg, fetches, 2) >= 0)
        return opt.fetch = arg, true;
    if (strcmp(name, "garbage") == 0 && one_of(arg, garbage, 4) >= 0)
        return opt.garbage = arg, true;
    if (strcmp(name, "source") == 0)
        return opt.have_sources = parse_addr_list(arg, &opt.sources);
    if (strcmp(name, "proxy-src-range") == 0)
        return opt.have_claimed = parse_addr_list(arg, &opt.claimed);
    if (strcmp(name, "ssl-tlv") == 0)
        return opt.ssl_tlv = true, opt.ssl_version = arg ? arg : "TLSv1.3", strlen(opt.ssl_version) < 64;
    if (strcmp(name, "to") == 0) {
        opt.nto = 0;
        for (char *save = NULL, *a = strtok_r(arg, ",", &save); a; a = strtok_r(NULL, ",", &save))
            if (opt.nto == MAX_RCPTS || strlen(a) > 254 || !(opt.to[opt.nto++] = a))
                return false;
        return opt.nto > 0;
    }
    return false;
}

static bool apply_option(const struct opt_def *d, char *arg)
{
    char *end;
    double v;
    switch (d->kind) {
    case K_FLAG: return *(bool *)d->dst = true;
    case K_STR: *(const char **)d->dst = arg; return strlen(arg) >= d->lo && strlen(arg) <= d->hi;
    case K_OTHER: return apply_other(d->name, arg);
    default: break;
    }
    v = strtod(arg, &end);
    if (!*arg || *end || !(v >= d->lo && v <= d->hi) || (d->kind == K_U64 && v != (double)(uint64_t)v))
        return false;
    if (d->kind == K_U64)
        *(uint64_t *)d->dst = (uint64_t)v;
    else
        *(double *)d->dst = v;
    return true;
}

static bool parse_args(int argc, char **argv)
{
    struct option longs[NDEFS + 2];
    char shorts[3 * NDEFS + 2] = "h";
    for (size_t i = 0; i < NDEFS; i++) {
        longs[i] = (struct option){defs[i].name, defs[i].kind == K_FLAG ? no_argument
                                   : strcmp(defs[i].name, "ssl-tlv") == 0 ? optional_argument
                                   : required_argument, NULL, 256 + (int)i};
        if (defs[i].letter)
            strcat(shorts, (char[]){defs[i].letter, ':', 0});
    }
    longs[NDEFS] = (struct option){"help", no_argument, NULL, 'h'};
    longs[NDEFS + 1] = (struct option){0};
    int o;
    while ((o = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (o == 'h') {
            fputs(usage_text, stdout);
            exit(0);
        }
        const struct opt_def *d = NULL;
        for (size_t i = 0; i < NDEFS && !d; i++)
            d = (o == 256 + (int)i || o == defs[i].letter) ? &defs[i] : NULL;
        if (!d || !apply_option(d, optarg)) {
            if (d)
                fprintf(stderr, "postern-load: bad value for --%s: '%s'\n", d->name,
                        optarg ? optarg : "");
            return false;
        }
    }
    return optind == argc - 1;
}

/* HOST:PORT on loopback. */
static bool parse_target(const char *text)
{
    const char *colon = strrchr(text, ':'), *host = text;
    char *end;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || *end || port == 0 || port > 65535)
        return false;
    size_t len = (size_t)(colon - text);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
        host++, len -= 2;
    int fam;
    uint8_t a[16];
    if (!parse_ip(host, len, &fam, a))
        return false;
    if (!is_loopback(fam, a)) {
        fprintf(stderr, "postern-load: %s is not a loopback address; this tool only loads "
                        "127.0.0.0/8 and ::1\n", text);
        exit(2);
    }
    opt.target_len = make_sockaddr(fam, a, (uint16_t)port, &opt.target);
    opt.target_text = text;
    return true;
}

/* Sources must be loopback addresses of the target's family (safety, and bind needs it). */
static bool sources_valid(void)
{
    for (size_t i = 0; opt.have_sources && i < opt.sources.n; i++) {
        const struct addr_range *r = &opt.sources.r[i];
        uint8_t last[16];
        memcpy(last, r->start, 16);
        addr_set_low(r->family, last, addr_low(r->family, r->start) + r->count - 1);
        if (r->family != opt.target.ss_family || !is_loopback(r->family, r->start) ||
            !is_loopback(r->family, last)) {
            fprintf(stderr, "postern-load: --source must be loopback addresses (127.0.0.0/8 "
                            "or ::1) of the target's family\n");
            return false;
        }
    }
    return true;
}

/* The shared body: 76-character lines filling --size with the fixed-length headers, ".\r\n". */
static bool build_body(void)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    header_len = strlen("Message-ID: <0123456789abcdef.01234567@postern-load.test>\r\nFrom: <>\r\n"
                        "To: <>\r\nSubject: postern-load message\r\nDate: Sat, 21 Nov 2026 "
                        "10:13:48 +0000\r\n\r\n") + strlen(opt.from) + strlen(opt.to[0]);
    size_t text = opt.size > header_len + 2 ? opt.size - header_len : 2;
    if (!(body = malloc(text + 3)))
        return false;
    for (size_t i = 0, col = 0; i < text; i++, col++) {
        if (text - i == 2 || col == 76) {
            body[i++] = '\r', body[i] = '\n', col = (size_t)-1;
            continue;
        }
        body[i] = (uint8_t)alphabet[(i * 7 + col) % (sizeof alphabet - 1)];
    }
    memcpy(body + text, ".\r\n", 3);
    body_len = text + 3;
    return true;
}

static bool build_tlvs(void)
{
    if (opt.alpn)
        tlvs[ntlvs++] = (struct proxy_tlv){PROXY_TLV_ALPN, (uint16_t)strlen(opt.alpn),
                                           (const uint8_t *)opt.alpn};
    if (opt.authority)
        tlvs[ntlvs++] = (struct proxy_tlv){PROXY_TLV_AUTHORITY, (uint16_t)strlen(opt.authority),
                                           (const uint8_t *)opt.authority};
    if (!opt.ssl_tlv)
        return true;
    static const char cipher[] = "TLS_AES_256_GCM_SHA384";
    struct proxy_tlv sub[2] = {
        {PROXY_TLV_SSL_VERSION, (uint16_t)strlen(opt.ssl_version),
         (const uint8_t *)opt.ssl_version},
        {PROXY_TLV_SSL_CIPHER, sizeof cipher - 1, (const uint8_t *)cipher},
    };
    int n = proxy_encode_ssl_value(ssl_value, sizeof ssl_value, PROXY_SSL_CLIENT_SSL, 0, sub, 2);
    if (n < 0)
        return false;
    tlvs[ntlvs++] = (struct proxy_tlv){PROXY_TLV_SSL, (uint16_t)n, ssl_value};
    return true;
}

/* Enough descriptors for every connection; raises the soft (and, as root, hard) limit. */
static bool raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)opt.concurrency + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= need)
        return true;
    rl.rlim_cur = need;
    rl.rlim_max = rl.rlim_max > need ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        return true;
    getrlimit(RLIMIT_NOFILE, &rl);
    fprintf(stderr, "postern-load: -c %" PRIu64 " needs %llu file descriptors, the limit is "
                    "%llu (ulimit -n)\n", opt.concurrency, (unsigned long long)need,
            (unsigned long long)rl.rlim_max);
    return false;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Sessions start until stop_starting_at; everything ends by hard_end. */
static void plan_time(void)
{
    if (opt.scenario == SC_IDLE && !opt.count && !opt.duration)
        opt.count = opt.concurrency;
    if (!opt.count && !opt.duration)
        opt.duration = 10;
    double tail = opt.timeout + 5 + (opt.scenario == SC_IDLE ? opt.hold : 0);
    double total = opt.max_time ? opt.max_time : (opt.duration ? opt.duration : 600) + tail;
    hard_end = t0 + (uint64_t)(total * 1e6);
    stop_starting_at = opt.duration ? t0 + (uint64_t)(opt.duration * 1e6) : hard_end;
    if (stop_starting_at > hard_end)
        stop_starting_at = hard_end;
}

static int setup(void)
{
    if (opt.proxy == 1 && (opt.ssl_tlv || opt.authority || opt.alpn || opt.unique_id)) {
        fprintf(stderr, "postern-load: TLVs need --proxy v2\n");
        return -1;
    }
    if (!sources_valid() || !raise_fd_limit() || !build_body() || !build_tlvs())
        return -1;
    if (opt.record_path && !(record_file = fopen(opt.record_path, "a"))) {
        fprintf(stderr, "postern-load: %s: %s\n", opt.record_path, strerror(errno));
        return -1;
    }
    if (record_file)
        setvbuf(record_file, NULL, _IOLBF, 0); /* a line per 250, even if we are killed */
    conns = calloc(opt.concurrency, sizeof *conns);
    free_slots = calloc(opt.concurrency, sizeof *free_slots);
    if (!conns || !free_slots || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        fprintf(stderr, "postern-load: %s\n", strerror(errno));
        return -1;
    }
    for (uint64_t i = opt.concurrency; i-- > 0;)
        conns[i].fd = -1, free_slots[nfree++] = (uint32_t)i;
    if (!opt.seed)
        opt.seed = (uint64_t)getpid() ^ (uint64_t)time(NULL) << 16;
    rng_state ^= opt.seed * 0x2545F4914F6CDD1Dull;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (!parse_args(argc, argv) || !parse_target(argv[optind])) {
        fprintf(stderr, "%s", usage_text);
        return 2;
    }
    if (setup() < 0)
        return 2;
    t0 = now_us();
    plan_time();
    run();
    double secs = (double)(now_us() - t0) / 1e6;
    if (opt.json)
        print_json(secs);
    else
        print_text(secs);
    if (record_file)
        fclose(record_file);
    for (uint64_t i = 0; i < opt.concurrency; i++)
        free(conns[i].obuf), free(conns[i].ibuf);
    free(conns);
    free(free_slots);
    free(body);
    close(epfd);
    return st.ok ? 0 : 1;
}
