/*
 * Maildir delivery. The order of operations is what makes a 250 reply honest: the file's data
 * is on disk (fsync) before any new/ entry exists, and each new/ entry is on disk (fsync of the
 * directory) before we return. Until the last step nothing is visible in new/ that could not
 * be taken back, so every failure removes what it linked.
 */
#include "store/maildir.h"

#include "store/durable.h"
#include "util/error_text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIR_MODE 0700
#define FILE_MODE 0600
/* iovecs handed to one writev(); larger messages simply take several calls. */
#define WRITE_BATCH 64
/* Longest account folder name (the directory's ACCOUNT_NAME_MAX). */
#define ACCOUNT_FOLDER_MAX 64

static const char *const subdirs[] = {"tmp", "new", "cur"};

/* ---- Names ---- */

const char *maildir_account_problem(const char *account)
{
    size_t len = strlen(account);
    if (len == 0)
        return "empty account name";
    if (len > ACCOUNT_FOLDER_MAX)
        return "account name too long";
    if (account[0] == '.' || strchr(account, '/'))
        return "account name is not a plain folder name";
    return NULL;
}

size_t maildir_escape_hostname(const char *host, char out[MAILDIR_HOST_TEXT_MAX])
{
    size_t n = 0;
    for (; *host; host++) {
        const char *piece = *host == '/' ? "\\057" : *host == ':' ? "\\072" : NULL;
        size_t piece_len = piece ? 4 : 1;
        if (n + piece_len >= MAILDIR_HOST_TEXT_MAX)
            break;
        if (piece)
            memcpy(out + n, piece, piece_len);
        else
            out[n] = *host;
        n += piece_len;
    }
    out[n] = '\0';
    return n;
}

/* Computed once per process: the host part must not change mid-run, and gethostname() would
 * cost a system call per message. */
static char host_text[MAILDIR_HOST_TEXT_MAX];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void compute_host_text(void)
{
    char host[HOST_NAME_MAX + 1] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "localhost");
    maildir_escape_hostname(host, host_text);
}

static const char *escaped_hostname(void)
{
    pthread_once(&host_once, compute_host_text);
    return host_text;
}

void maildir_unique_name(uint64_t size, char out[MAILDIR_NAME_MAX])
{
    static atomic_uint_fast64_t counter;
    uint64_t n = atomic_fetch_add(&counter, 1) + 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(out, MAILDIR_NAME_MAX, "%lld.M%06ldP%ldQ%llu.%s,S=%llu", (long long)now.tv_sec,
             now.tv_nsec / 1000, (long)getpid(), (unsigned long long)n, escaped_hostname(),
             (unsigned long long)size);
}

/* DATA_DIR/ACCOUNT[/SUB[/NAME]]; false when it does not fit PATH_MAX. */
static bool build_path(char out[PATH_MAX], const char *data_dir, const char *account,
                       const char *sub, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s%s%s%s", data_dir, account, sub ? "/" : "",
                     sub ? sub : "", name ? "/" : "", name ? name : "");
    return n > 0 && n < PATH_MAX;
}

/* ---- Directories ---- */

/* Creates path unless it is already a directory; *created says whether it did. */
static int make_dir(const char *path, bool *created, char *err, size_t errlen)
{
    *created = false;
    if (mkdir(path, DIR_MODE) == 0) {
        *created = true;
        return 0;
    }
    if (errno != EEXIST)
        return error_text(err, errlen, "mkdir %s: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0)
        return error_text(err, errlen, "stat %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return error_text(err, errlen, "%s exists and is not a directory", path);
    return 0;
}

/* A new directory's entry is only durable once its parent has been synced too. */
static int make_durable_dir(const char *path, const char *parent, char *err, size_t errlen)
{
    bool created;
    if (make_dir(path, &created, err, errlen) != 0)
        return -1;
    if (created && durable_fsync_dir(parent) != 0)
        return error_text(err, errlen, "fsync %s: %s", parent, strerror(errno));
    return 0;
}

int maildir_ensure(const char *data_dir, const char *account, char *err, size_t errlen)
{
    const char *why = maildir_account_problem(account);
    if (why)
        return error_text(err, errlen, "%s: \"%s\"", why, account);
    char base[PATH_MAX], path[PATH_MAX], parent[PATH_MAX];
    if (!build_path(base, data_dir, account, NULL, NULL))
        return error_text(err, errlen, "path too long for account %s", account);
    snprintf(parent, sizeof parent, "%s/..", data_dir);
    if (make_durable_dir(data_dir, parent, err, errlen) != 0 ||
        make_durable_dir(base, data_dir, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        build_path(path, data_dir, account, subdirs[i], NULL);
        if (make_durable_dir(path, base, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* ---- Writing ---- */

/* Writes every byte of parts, across short writes and interruptions. */
static int write_parts(int fd, const struct iovec *parts, size_t nparts)
{
    size_t index = 0, offset = 0; /* the first byte not yet written */
    for (;;) {
        while (index < nparts && offset == parts[index].iov_len) {
            index++;
            offset = 0;
        }
        if (index == nparts)
            return 0;
        struct iovec batch[WRITE_BATCH];
        size_t n = 0;
        for (size_t i = index; i < nparts && n < WRITE_BATCH; i++, n++) {
            size_t skip = i == index ? offset : 0;
            batch[n].iov_base = (char *)parts[i].iov_base + skip;
            batch[n].iov_len = parts[i].iov_len - skip;
        }
        ssize_t written = writev(fd, batch, (int)n);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return -1; /* 0 cannot happen with bytes pending: treat it as an error */
        for (size_t left = (size_t)written; left > 0;) {
            size_t step = parts[index].iov_len - offset;
            if (step > left)
                step = left;
            offset += step;
            left -= step;
            if (offset == parts[index].iov_len && left > 0) {
                index++;
                offset = 0;
            }
        }
    }
}

int maildir_write_file(const char *path, int open_flags, unsigned mode, time_t mtime,
                       const struct iovec *parts, size_t nparts, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | open_flags, (mode_t)mode);
    if (fd < 0)
        return error_text(err, errlen, "create %s: %s", path, strerror(errno));
    const char *step = NULL;
    struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    if (write_parts(fd, parts, nparts) != 0)
        step = "write";
    else if (mtime != 0 && futimens(fd, times) != 0)
        step = "set the date of";
    else if (durable_fsync(fd) != 0)
        step = "fsync";
    int saved = errno;
    /* close() can report a delayed write error (NFS); it must count as a failure too. */
    if (close(fd) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    if (!step)
        return 0;
    unlink(path);
    return error_text(err, errlen, "%s %s: %s", step, path, strerror(saved));
}

/* The message as DATA_DIR/ACCOUNT/tmp/NAME, its data on disk; removed again on failure. */
static int write_copy(const char *path, const struct iovec *parts, size_t nparts, char *err,
                      size_t errlen)
{
    return maildir_write_file(path, O_EXCL, FILE_MODE, 0, parts, nparts, err, errlen);
}

static uint64_t total_size(const struct iovec *parts, size_t nparts, bool *overflow)
{
    uint64_t size = 0;
    *overflow = false;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].iov_len > UINT64_MAX - size)
            *overflow = true;
        size += parts[i].iov_len;
    }
    return size;
}

/* ---- Delivery ---- */

struct target {
    bool duplicate; /* the same account appears earlier in the list */
    bool linked;    /* its new/NAME exists because of this delivery */
    bool own_copy;  /* its tmp/NAME was written by this delivery */
};

struct delivery {
    const char *data_dir;
    const char *const *accounts;
    size_t count;
    struct target *targets;
    const struct iovec *parts;
    size_t nparts;
    char name[MAILDIR_NAME_MAX];
    size_t source; /* the account whose tmp/ copy is linked */
};

static void mark_duplicates(struct delivery *d)
{
    for (size_t i = 1; i < d->count; i++) {
        for (size_t j = 0; j < i && !d->targets[i].duplicate; j++)
            d->targets[i].duplicate = strcmp(d->accounts[i], d->accounts[j]) == 0;
    }
}

static int write_into(struct delivery *d, size_t i, char *err, size_t errlen)
{
    char path[PATH_MAX];
    build_path(path, d->data_dir, d->accounts[i], "tmp", d->name);
    if (write_copy(path, d->parts, d->nparts, err, errlen) != 0)
        return -1;
    d->targets[i].own_copy = true;
    return 0;
}

/* Accounts on another file system than the copy get a copy of their own (link gives EXDEV). */
static int link_into(struct delivery *d, size_t i, char *err, size_t errlen)
{
    char from[PATH_MAX], to[PATH_MAX];
    build_path(to, d->data_dir, d->accounts[i], "new", d->name);
    build_path(from, d->data_dir, d->accounts[d->source], "tmp", d->name);
    int rc = link(from, to);
    if (rc != 0 && errno == EXDEV) {
        if (write_into(d, i, err, errlen) != 0)
            return -1;
        build_path(from, d->data_dir, d->accounts[i], "tmp", d->name);
        rc = link(from, to);
    }
    if (rc != 0)
        return error_text(err, errlen, "link %s: %s", to, strerror(errno));
    d->targets[i].linked = true;
    return 0;
}

static int sync_new_dirs(struct delivery *d, char *err, size_t errlen)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < d->count; i++) {
        if (!d->targets[i].linked)
            continue;
        build_path(path, d->data_dir, d->accounts[i], "new", NULL);
        if (durable_fsync_dir(path) != 0)
            return error_text(err, errlen, "fsync %s: %s", path, strerror(errno));
    }
    return 0;
}

static int place(struct delivery *d, char *err, size_t errlen)
{
    if (write_into(d, d->source, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < d->count; i++) {
        if (!d->targets[i].duplicate && link_into(d, i, err, errlen) != 0)
            return -1;
    }
    return sync_new_dirs(d, err, errlen);
}

/* After a failure: no new/ keeps the message, and the removal is synced like a delivery. */
static void take_back(struct delivery *d)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < d->count; i++) {
        if (!d->targets[i].linked)
            continue;
        build_path(path, d->data_dir, d->accounts[i], "new", d->name);
        unlink(path);
        build_path(path, d->data_dir, d->accounts[i], "new", NULL);
        durable_fsync_dir(path);
    }
}

/* The tmp/ names go in every case: after success new/ holds the message. */
static void remove_copies(struct delivery *d)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < d->count; i++) {
        if (!d->targets[i].own_copy)
            continue;
        build_path(path, d->data_dir, d->accounts[i], "tmp", d->name);
        unlink(path);
    }
}

static int prepare(const char *data_dir, const char *const *accounts, size_t naccounts,
                   char *err, size_t errlen)
{
    if (naccounts == 0)
        return error_text(err, errlen, "no accounts to deliver to");
    for (size_t i = 0; i < naccounts; i++) {
        char path[PATH_MAX];
        const char *why = maildir_account_problem(accounts[i]);
        if (why)
            return error_text(err, errlen, "%s: \"%s\"", why, accounts[i]);
        /* The longest path used: the account's tmp/ or new/ entry. */
        if (!build_path(path, data_dir, accounts[i], "tmp", "x") ||
            strlen(path) - 1 + MAILDIR_NAME_MAX > PATH_MAX)
            return error_text(err, errlen, "path too long for account %s", accounts[i]);
        if (maildir_ensure(data_dir, accounts[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

int maildir_deliver(const char *data_dir, const char *const *accounts, size_t naccounts,
                    const struct iovec *parts, size_t nparts, char *err, size_t errlen)
{
    bool overflow;
    uint64_t size = total_size(parts, nparts, &overflow);
    if (overflow)
        return error_text(err, errlen, "message size overflows");
    if (prepare(data_dir, accounts, naccounts, err, errlen) != 0)
        return -1;
    struct delivery d = {.data_dir = data_dir, .accounts = accounts, .count = naccounts,
                         .parts = parts, .nparts = nparts, .source = 0};
    d.targets = calloc(naccounts, sizeof *d.targets);
    if (!d.targets)
        return error_text(err, errlen, "out of memory");
    maildir_unique_name(size, d.name);
    mark_duplicates(&d);
    int rc = place(&d, err, errlen);
    if (rc != 0)
        take_back(&d);
    remove_copies(&d);
    free(d.targets);
    return rc;
}
