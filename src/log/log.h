/*
 * Event logs: one line per event on stderr (or a file), logfmt by default or JSON:
 *   ts=2026-11-21T10:00:00.123Z level=warn event=proxy_invalid listener=smtp conn=42 ...
 * Lines are built in a fixed buffer and written with a single write(2), so lines from
 * different threads never interleave. Values are escaped; user data can never forge a field.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 2048

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

/* Call before any thread logs. fd defaults to 2 (stderr). */
void log_setup(enum log_format format, enum log_level min_level, int fd);
bool log_format_parse(const char *name, enum log_format *out);
/* Logs to a file instead of stderr (appending); false when it cannot be opened. */
bool log_open_file(const char *path);
/* SIGUSR1: reopens the log file after rotation (a no-op when logging to stderr). */
void log_reopen(void);
bool log_enabled(enum log_level level);

struct log_line {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool skip; /* below the minimum level: every call is a no-op */
};

void log_begin(struct log_line *line, enum log_level level, const char *event);
void log_str(struct log_line *line, const char *key, const char *value);
void log_strn(struct log_line *line, const char *key, const void *value, size_t len);
void log_uint(struct log_line *line, const char *key, uint64_t value);
void log_bool(struct log_line *line, const char *key, bool value);
void log_end(struct log_line *line);

/* A one-field convenience for process-level events: log_message(LOG_INFO, "started", "..."). */
void log_message(enum log_level level, const char *event, const char *msg);

#endif
