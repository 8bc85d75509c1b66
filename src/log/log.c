#include "log/log.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/json.h"

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

static bool logfmt_needs_quotes(const uint8_t *v, size_t len)
{
    if (len == 0)
        return true;
    for (size_t i = 0; i < len; i++) {
        if (v[i] <= ' ' || v[i] == '=' || v[i] == '"' || v[i] == '\\' || v[i] >= 0x7F)
            return true;
    }
    return false;
}

/* Escapes for both formats: quotes, backslashes, control bytes and invalid UTF-8. */
static void append_escaped(struct log_line *line, const uint8_t *v, size_t len)
{
    char tmp[8];
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence_length(v + i, len - i);
        uint8_t c = v[i];
        if (c == '"' || c == '\\') {
            append_char(line, '\\');
            append_char(line, (char)c);
        } else if (c == '\n') {
            append(line, "\\n", 2);
        } else if (n == 1 && c >= 0x20 && c != 0x7F) {
            append_char(line, (char)c);
        } else if (n > 1) {
            append(line, (const char *)v + i, n);
            i += n;
            continue;
        } else {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            append(line, tmp, 6);
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
    append_key(line, key);
    bool quote = log_settings.format == LOG_FORMAT_JSON || logfmt_needs_quotes(value, len);
    if (quote)
        append_char(line, '"');
    append_escaped(line, value, len);
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
    char text[24];
    int n = snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    append_key(line, key);
    append(line, text, (size_t)n);
}

void log_bool(struct log_line *line, const char *key, bool value)
{
    if (line->skip)
        return;
    append_key(line, key);
    append(line, value ? "true" : "false", value ? 4 : 5);
}

void log_begin(struct log_line *line, enum log_level level, const char *event)
{
    line->len = 0;
    line->skip = !log_enabled(level);
    if (line->skip)
        return;
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
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
