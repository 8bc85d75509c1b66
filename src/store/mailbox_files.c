/*
 * File plumbing for the mailbox layer: paths, flock-based locks, durable replacement of small
 * files, reading a file whole.
 */
#include "store/durable.h"
#include "store/mailbox_internal.h"
#include "store/maildir.h"
#include "util/array.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

bool mbox_path(char out[PATH_MAX], const char *dir, const char *sub, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s%s%s%s%s", dir, sub ? "/" : "", sub ? sub : "",
                     name ? "/" : "", name ? name : "");
    return n > 0 && n < PATH_MAX;
}

/* ---- Locks ---- */

int mbox_lock(const char *dir, const char *file, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (!mbox_path(path, dir, file, NULL))
        return error_text(err, errlen, "path too long: %s", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, MAILBOX_FILE_MODE);
    if (fd < 0)
        return error_text(err, errlen, "open %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        int saved = errno;
        close(fd);
        return error_text(err, errlen, "lock %s: %s", path, strerror(saved));
    }
    return fd;
}

void mbox_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor of the open file description drops the flock */
}

/* ---- Durable files ---- */

static int write_synced(const char *path, const void *data, size_t len, char *err,
                        size_t errlen)
{
    struct iovec part = {.iov_base = (void *)data, .iov_len = len};
    return maildir_write_file(path, O_TRUNC, MAILBOX_FILE_MODE, 0, &part, 1, err, errlen);
}

int mbox_write_atomically(const char *dir, const char *name, const void *data, size_t len,
                          char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (!mbox_path(path, dir, name, NULL) || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= PATH_MAX)
        return error_text(err, errlen, "path too long: %s", dir);
    if (write_synced(tmp, data, len, err, errlen) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return error_text(err, errlen, "rename %s: %s", tmp, strerror(saved));
    }
    if (durable_fsync_dir(dir) != 0)
        return error_text(err, errlen, "fsync %s: %s", dir, strerror(errno));
    return 0;
}

static int read_fd(int fd, size_t max, char **data, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return -1;
    while (got < size) { /* a file that shrank meanwhile just ends early */
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int mbox_read_file(const char *path, size_t max, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    int rc = read_fd(fd, max, data, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

void mbox_scratch_name(char out[64], const char *purpose)
{
    static atomic_uint counter;
    unsigned n = atomic_fetch_add(&counter, 1);
    snprintf(out, 64, "..postern-%s-%ld-%u", purpose, (long)getpid(), n);
}

/* ---- Lists of names ---- */

int mbox_name_list_add(struct name_list *list, const char *name)
{
    char **room = array_make_room(list->items, list->count, &list->cap, sizeof *room, 16);
    if (!room)
        return -1;
    list->items = room;
    char *copy = strdup(name);
    if (!copy)
        return -1;
    list->items[list->count++] = copy;
    return 0;
}

void mailbox_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
