/*
 * The per-folder uid list, "postern-uidlist":
 *
 *     V<uidvalidity> N<uidnext> R<recent uid>
 *     <uid> <base>
 *     ...
 *
 * one line per message in ascending UID order, base being the file name without its ":2,..."
 * info (it never changes when flags do). R is the highest UID some session has already seen as
 * \Recent. Unknown header fields are ignored. The file is only written under the folder lock
 * and replaced atomically; a reader that finds garbage keeps what it can and rewrites it.
 *
 * UIDVALIDITY comes from "postern-uidvalidity" in the account directory, the last value given
 * in that account, so that a folder deleted and re-created within the same second still gets
 * a larger value than before (RFC 3501 2.3.1.1).
 */
#include "store/durable.h"
#include "store/mailbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/array.h"

/* A uid list larger than this is treated as damaged (about a million messages). */
#define UIDLIST_MAX_BYTES ((size_t)64 << 20)
#define COUNTER_TEXT_MAX 32

/* ---- Parsing ---- */

/* Decimal digits into a uint32_t; advances *p. False on no digits or overflow. */
static bool parse_u32(const char **p, uint32_t *out)
{
    const char *s = *p;
    uint64_t value = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        value = value * 10 + (uint64_t)(*s - '0');
        if (value > UINT32_MAX)
            return false;
        s++;
    }
    *p = s;
    *out = (uint32_t)value;
    return true;
}

/* "V1 N2 R3" (R optional, other fields ignored); the line ends at '\n' or NUL. */
static bool parse_header(const char *line, struct uidlist *list)
{
    bool have_v = false, have_n = false;
    const char *p = line;
    while (*p && *p != '\n') {
        char key = *p++;
        uint32_t value = 0;
        bool numeric = parse_u32(&p, &value);
        if (key == 'V' && numeric) {
            have_v = true;
            list->uidvalidity = value;
        } else if (key == 'N' && numeric) {
            have_n = true;
            list->uidnext = value;
        } else if (key == 'R' && numeric) {
            list->recent_uid = value;
        }
        while (*p && *p != '\n' && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    return have_v && have_n && list->uidvalidity != 0 && list->uidnext != 0;
}

static bool base_acceptable(const char *base, size_t len)
{
    if (len == 0 || len > MESSAGE_NAME_MAX || base[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)base[i];
        if (c < 0x20 || c == 0x7f || c == ':' || c == '/')
            return false;
    }
    return true;
}

int uidlist_append(struct uidlist *list, uint32_t uid, const char *base, size_t len)
{
    struct uid_entry *room = array_make_room(list->entries, list->count, &list->cap,
                                             sizeof *room, 64);
    if (!room)
        return -1;
    list->entries = room;
    char *copy = strndup(base, len);
    if (!copy)
        return -1;
    list->entries[list->count++] = (struct uid_entry){.uid = uid, .base = copy};
    return 0;
}

/* "<uid> <base>": a line out of order or malformed only marks the list dirty. */
static int parse_entry(const char *line, size_t len, struct uidlist *list)
{
    const char *p = line;
    uint32_t uid;
    uint32_t last = list->count ? list->entries[list->count - 1].uid : 0;
    if (!parse_u32(&p, &uid) || *p != ' ' || uid == 0 || uid <= last) {
        list->dirty = true;
        return 0;
    }
    p++;
    size_t base_len = len - (size_t)(p - line);
    if (!base_acceptable(p, base_len)) {
        list->dirty = true;
        return 0;
    }
    if (uid >= list->uidnext) { /* a header that lags its lines: never hand out uid again */
        list->uidnext = uid == UINT32_MAX ? UINT32_MAX : uid + 1;
        list->dirty = true;
    }
    return uidlist_append(list, uid, p, base_len);
}

static int parse_list(const char *text, size_t len, struct uidlist *list)
{
    const char *end = text + len;
    const char *nl = memchr(text, '\n', len);
    if (!nl || !parse_header(text, list))
        return 1; /* unusable: rebuild */
    for (const char *line = nl + 1; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) {
            list->dirty = true; /* a cut last line */
            break;
        }
        if (parse_entry(line, (size_t)(nl - line), list) != 0)
            return -1;
    }
    return 0;
}

/* ---- Loading and saving ---- */

void uidlist_free(struct uidlist *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->entries[i].base);
    free(list->entries);
    memset(list, 0, sizeof *list);
}

static int start_fresh(const struct folder *f, struct uidlist *list, char *err, size_t errlen)
{
    uidlist_free(list);
    list->uidnext = 1;
    list->dirty = list->rebuilt = true;
    return mbox_uidvalidity_next(f->account_dir, &list->uidvalidity, err, errlen);
}

int uidlist_load(const struct folder *f, struct uidlist *list, char *err, size_t errlen)
{
    memset(list, 0, sizeof *list);
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    mbox_path(path, f->path, UIDLIST_FILE, NULL);
    if (mbox_read_file(path, UIDLIST_MAX_BYTES, &text, &len) != 0) {
        if (errno != ENOENT && errno != EFBIG && errno != EINVAL)
            return error_text(err, errlen, "read %s: %s", path, strerror(errno));
        return start_fresh(f, list, err, errlen);
    }
    int rc = parse_list(text, len, list);
    free(text);
    if (rc < 0) {
        uidlist_free(list);
        return error_text(err, errlen, "out of memory reading %s", path);
    }
    return rc == 0 ? 0 : start_fresh(f, list, err, errlen);
}

int uidlist_save(const struct folder *f, const struct uidlist *list, char *err, size_t errlen)
{
    struct strbuf sb = {0};
    strbuf_printf(&sb, "V%u N%u R%u\n", list->uidvalidity, list->uidnext, list->recent_uid);
    for (size_t i = 0; i < list->count; i++)
        strbuf_printf(&sb, "%u %s\n", list->entries[i].uid, list->entries[i].base);
    int rc = sb.failed ? error_text(err, errlen, "out of memory writing the uid list")
                       : mbox_write_atomically(f->path, UIDLIST_FILE, sb.data, sb.len, err, errlen);
    strbuf_free(&sb);
    return rc;
}

int uidlist_assign(struct uidlist *list, const char *base, size_t base_len, uint32_t *uid,
                   char *err, size_t errlen)
{
    /* Linear: used once per APPEND/COPY, which rewrites the whole list anyway. */
    for (size_t i = 0; i < list->count; i++) {
        const char *known = list->entries[i].base;
        if (strncmp(known, base, base_len) == 0 && known[base_len] == '\0') {
            *uid = list->entries[i].uid;
            return 0;
        }
    }
    return uidlist_add_new(list, base, base_len, uid, err, errlen);
}

int uidlist_add_new(struct uidlist *list, const char *base, size_t base_len, uint32_t *uid,
                    char *err, size_t errlen)
{
    if (list->uidnext == UINT32_MAX)
        return error_text(err, errlen, "no UIDs left in this mailbox");
    if (uidlist_append(list, list->uidnext, base, base_len) != 0)
        return error_text(err, errlen, "out of memory");
    *uid = list->uidnext++;
    list->dirty = true;
    return 0;
}

void uidlist_drop_gone(struct uidlist *list)
{
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (list->entries[i].gone) {
            free(list->entries[i].base);
            list->dirty = true;
            continue;
        }
        list->entries[kept++] = list->entries[i];
    }
    list->count = kept;
}

/* ---- UIDVALIDITY ---- */

static uint32_t read_counter(int fd)
{
    char text[COUNTER_TEXT_MAX] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    const char *p = text;
    uint32_t value = 0;
    if (n <= 0 || !parse_u32(&p, &value))
        return 0;
    return value;
}

/* The counter is rewritten in place under its own flock (a rename would take the lock's inode
 * away from waiters). It is a few bytes inside one sector, so a torn write is not a practical
 * concern, and a damaged counter only falls back to the clock. */
static int write_counter(int fd, uint32_t value)
{
    char text[COUNTER_TEXT_MAX];
    int n = snprintf(text, sizeof text, "%u\n", value);
    if (pwrite(fd, text, (size_t)n, 0) != n || ftruncate(fd, n) != 0 || durable_fsync(fd) != 0)
        return -1;
    return 0;
}

int mbox_uidvalidity_next(const char *account_dir, uint32_t *value, char *err, size_t errlen)
{
    int fd = mbox_lock(account_dir, UIDVALIDITY_FILE, err, errlen);
    if (fd < 0)
        return -1;
    uint32_t last = read_counter(fd);
    uint32_t now = (uint32_t)time(NULL);
    *value = last != 0 && last != UINT32_MAX && last >= now ? last + 1 : now;
    if (*value == 0)
        *value = 1;
    int rc = write_counter(fd, *value);
    int saved = errno;
    mbox_unlock(fd);
    if (rc != 0)
        return error_text(err, errlen, "write %s/%s: %s", account_dir, UIDVALIDITY_FILE,
                         strerror(saved));
    return 0;
}
