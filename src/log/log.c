#include "log/log.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/decimal.h"
#include "util/json.h"

/* Room for a timestamp: "YYYY-MM-DDTHH:MM:SS" (kept per second) and ".mmmZ". */
#define LOG_STAMP_MAX 32

/* Set once at start-up, before any worker thread exists; only fd changes later (reopen). */
static struct {
    enum log_format format;
    enum log_level min_level;
    atomic_int fd;
    char path[1024]; /* the --log-file, "" for stderr */
} log_settings = {LOG_FORMAT_LOGFMT, LOG_INFO, 2, ""};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_format format, enum log_level min_level, int fd)
{
    log_settings.format = format;
    log_settings.min_level = min_level;
    atomic_store(&log_settings.fd, fd);
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

bool log_open_file(const char *path)
{
    int fd = open_log(path);
    if (fd < 0)
        return false;
    snprintf(log_settings.path, sizeof log_settings.path, "%s", path);
    atomic_store(&log_settings.fd, fd);
    return true;
}

/* The new file is in place before the old one closes: no line is lost or written to a closed
 * descriptor (a line started just before may still land in the old file, which is fine). */
void log_reopen(void)
{
    if (!log_settings.path[0])
        return;
    int fd = open_log(log_settings.path);
    if (fd < 0) {
        log_message(LOG_ERROR, "log_reopen_failed", log_settings.path);
        return;
    }
    int old = atomic_exchange(&log_settings.fd, fd);
    close(old);
    log_message(LOG_INFO, "log_reopened", log_settings.path);
}

bool log_format_parse(const char *name, enum log_format *out)
{
    if (strcmp(name, "logfmt") == 0)
        *out = LOG_FORMAT_LOGFMT;
    else if (strcmp(name, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

bool log_enabled(enum log_level level)
{
    return level >= log_settings.min_level;
}

static void append(struct log_line *line, const char *text, size_t n)
{
    /* Keep room for the closing "}\n"; a line too long is cut, never overflowed. */
    size_t room = LOG_LINE_MAX - 3 - line->len;
    if (n > room)
        n = room;
    memcpy(line->buf + line->len, text, n);
    line->len += n;
}

static void append_char(struct log_line *line, char c)
{
    append(line, &c, 1);
}

/* What a value byte asks of the writer. Most values (addresses, ids, listener names) have
 * neither, and are copied whole. */
enum { NEEDS_QUOTES = 1, NEEDS_ESCAPE = 2 };

static unsigned byte_needs(uint8_t c)
{
    if (c > ' ' && c < 0x7F && c != '=' && c != '"' && c != '\\')
        return 0;
    if (c == ' ' || c == '=')
        return NEEDS_QUOTES; /* logfmt quotes them; nothing to escape */
    return NEEDS_QUOTES | NEEDS_ESCAPE;
}

/* Escapes for both formats: quotes, backslashes, control bytes and invalid UTF-8. Runs of
 * bytes that need nothing are copied at once. */
static void append_escaped(struct log_line *line, const uint8_t *v, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && !(byte_needs(v[run]) & NEEDS_ESCAPE))
            run++;
        append(line, (const char *)v + i, run - i);
        if (run == len)
            return;
        i = run;
        uint8_t c = v[i];
        size_t n = c >= 0x80 ? utf8_sequence_length(v + i, len - i) : 0;
        if (n > 0) {
            append(line, (const char *)v + i, n);
            i += n;
            continue;
        }
        if (c == '"' || c == '\\') {
            char pair[2] = {'\\', (char)c};
            append(line, pair, 2);
        } else if (c == '\n') {
            append(line, "\\n", 2);
        } else {
            char code[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            append(line, code, sizeof code);
        }
        i++;
    }
}

static void append_key(struct log_line *line, const char *key)
{
    if (log_settings.format == LOG_FORMAT_JSON) {
        append(line, ",\"", 2);
        append(line, key, strlen(key));
        append(line, "\":", 2);
    } else {
        append_char(line, ' ');
        append(line, key, strlen(key));
        append_char(line, '=');
    }
}

void log_strn(struct log_line *line, const char *key, const void *value, size_t len)
{
    if (line->skip)
        return;
    const uint8_t *v = value;
    unsigned needs = 0;
    for (size_t i = 0; i < len; i++)
        needs |= byte_needs(v[i]);
    append_key(line, key);
    bool quote = log_settings.format == LOG_FORMAT_JSON || len == 0 || (needs & NEEDS_QUOTES);
    if (quote)
        append_char(line, '"');
    if (needs & NEEDS_ESCAPE)
        append_escaped(line, v, len);
    else
        append(line, value, len);
    if (quote)
        append_char(line, '"');
}

void log_str(struct log_line *line, const char *key, const char *value)
{
    log_strn(line, key, value ? value : "", value ? strlen(value) : 0);
}

void log_uint(struct log_line *line, const char *key, uint64_t value)
{
    if (line->skip)
        return;
    char text[DECIMAL_MAX];
    append_key(line, key);
    append(line, text, (size_t)(decimal_write(text, value) - text));
}

void log_bool(struct log_line *line, const char *key, bool value)
{
    if (line->skip)
        return;
    append_key(line, key);
    append(line, value ? "true" : "false", value ? 4 : 5);
}

/* "2026-11-21T10:00:00.123Z". The part up to the seconds changes once a second, so each thread
 * keeps it instead of calling gmtime_r and strftime for every line. */
static size_t format_timestamp(char stamp[LOG_STAMP_MAX])
{
    static _Thread_local struct {
        time_t second;
        char text[LOG_STAMP_MAX];
        size_t len;
    } cached = {-1, "", 0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached.second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached.len = strftime(cached.text, sizeof cached.text, "%Y-%m-%dT%H:%M:%S", &tm);
        cached.second = ts.tv_sec;
    }
    memcpy(stamp, cached.text, cached.len);
    char *p = stamp + cached.len;
    *p++ = '.';
    p = decimal_write_fixed(p, (uint64_t)ts.tv_nsec / 1000000, 3);
    *p++ = 'Z';
    return (size_t)(p - stamp);
}

void log_begin(struct log_line *line, enum log_level level, const char *event)
{
    line->len = 0;
    line->skip = !log_enabled(level);
    if (line->skip)
        return;
    char stamp[LOG_STAMP_MAX];
    size_t n = format_timestamp(stamp);
    if (log_settings.format == LOG_FORMAT_JSON) {
        append(line, "{\"ts\":\"", 7);
        append(line, stamp, n);
        append_char(line, '"');
    } else {
        append(line, "ts=", 3);
        append(line, stamp, n);
    }
    log_str(line, "level", level_names[level]);
    log_str(line, "event", event);
}

void log_end(struct log_line *line)
{
    if (line->skip)
        return;
    if (log_settings.format == LOG_FORMAT_JSON)
        line->buf[line->len++] = '}';
    line->buf[line->len++] = '\n';
    ssize_t n = write(atomic_load(&log_settings.fd), line->buf, line->len);
    (void)n; /* nowhere left to report a failing log */
}

void log_message(enum log_level level, const char *event, const char *msg)
{
    struct log_line line;
    log_begin(&line, level, event);
    log_str(&line, "msg", msg);
    log_end(&line);
}
