/*
 * Operations on messages: reading, flag changes (a rename), EXPUNGE (unlink), COPY (a hard
 * link under a fresh name), APPEND (tmp/, fsync, rename into cur/), STATUS.
 *
 * A view's file name can be out of date when another session renamed the file (flags) since
 * the last refresh: every operation that gets ENOENT looks the message up again by its base
 * name and retries, and only a message whose base is gone counts as expunged.
 */
#include "store/durable.h"
#include "store/mailbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir.h"

/* How often an operation follows a file that keeps being renamed before giving up. */
#define RENAME_RETRIES 5
#define KNOWN_FLAGS                                                                                \
    (MAILBOX_SEEN | MAILBOX_ANSWERED | MAILBOX_FLAGGED | MAILBOX_DELETED | MAILBOX_DRAFT)

static struct view_msg *message_at(struct mailbox *mb, size_t index, char *err, size_t errlen)
{
    if (index < mb->count)
        return &mb->msgs[index];
    error_text(err, errlen, "no message at index %zu", index);
    return NULL;
}

static int compare_views_by_base(const void *pa, const void *pb)
{
    const struct view_msg *a = *(const struct view_msg *const *)pa;
    const struct view_msg *b = *(const struct view_msg *const *)pb;
    return msgfile_compare_bases(a->name, a->base_len, b->name, b->base_len);
}

static int take_name(struct view_msg *v, const struct found *file)
{
    v->missing = false;
    v->in_new = file->in_new;
    if (strcmp(v->name, file->name) == 0)
        return 0;
    char *copy = strdup(file->name);
    if (!copy)
        return -1;
    free(v->name);
    v->name = copy;
    return 0;
}

/* After ENOENT: every message's current file name from one scan, matched by base, so a session
 * that is behind another's STORE on many messages pays one scan, not one per message. Messages
 * whose base is gone are marked missing. The caller holds the folder lock. */
static int relocate_all(struct mailbox *mb, char *err, size_t errlen)
{
    struct found *files = NULL;
    size_t nfiles = 0, i = 0, j = 0;
    struct view_msg **by_base = malloc((mb->count + 1) * sizeof *by_base);
    if (!by_base)
        return error_text(err, errlen, "out of memory");
    if (mbox_list_messages(&mb->folder, &files, &nfiles, err, errlen) != 0) {
        free(by_base);
        return -1;
    }
    for (size_t k = 0; k < mb->count; k++)
        by_base[k] = &mb->msgs[k];
    if (mb->count > 1)
        qsort(by_base, mb->count, sizeof *by_base, compare_views_by_base);
    int rc = 0;
    while (i < mb->count && rc == 0) {
        struct view_msg *v = by_base[i];
        int c = j < nfiles
                    ? msgfile_compare_bases(v->name, v->base_len, files[j].name, files[j].base_len)
                    : -1;
        if (c > 0) {
            j++;
            continue;
        }
        v->missing = c < 0;
        if (c == 0 && take_name(v, &files[j++]) != 0)
            rc = error_text(err, errlen, "out of memory");
        i++;
    }
    mbox_found_free(files, nfiles);
    free(by_base);
    return rc;
}

/* 1 when v has a current name again, 0 when it is gone, -1 on error. */
static int relocate(struct mailbox *mb, struct view_msg *v, char *err, size_t errlen)
{
    if (relocate_all(mb, err, errlen) != 0)
        return -1;
    return v->missing ? 0 : 1;
}

static int relocate_locked(struct mailbox *mb, struct view_msg *v, char *err, size_t errlen)
{
    int lock = mbox_lock(mb->folder.path, UIDLIST_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    int found = relocate(mb, v, err, errlen);
    mbox_unlock(lock);
    return found;
}

/* After ENOENT: 0 when v has a current name to retry with, -1 (err set) when it is gone or
 * the lookup failed. */
static int follow_rename(struct mailbox *mb, struct view_msg *v, bool take_lock, char *err,
                         size_t errlen)
{
    int found = take_lock ? relocate_locked(mb, v, err, errlen) : relocate(mb, v, err, errlen);
    if (found > 0)
        return 0;
    if (found == 0)
        error_text(err, errlen, "message UID %u has been expunged", v->msg.uid);
    return -1;
}

/* ---- Reading ---- */

int mailbox_read(struct mailbox *mb, size_t index, char **data, size_t *len, char *err,
                 size_t errlen)
{
    struct view_msg *v = message_at(mb, index, err, errlen);
    if (!v)
        return -1;
    for (int attempt = 0; attempt < RENAME_RETRIES; attempt++) {
        char path[PATH_MAX];
        msgfile_path(path, &mb->folder, v->name, v->in_new);
        if (mbox_read_file(path, MAILBOX_READ_MAX, data, len) == 0)
            return 0;
        if (errno == EFBIG)
            return error_text(err, errlen, "message UID %u is larger than %zu bytes", v->msg.uid,
                             MAILBOX_READ_MAX);
        if (errno != ENOENT)
            return error_text(err, errlen, "read %s: %s", path, strerror(errno));
        if (follow_rename(mb, v, true, err, errlen) != 0)
            return -1;
    }
    return error_text(err, errlen, "message UID %u keeps being renamed", v->msg.uid);
}

/* ---- Flags ---- */

static int rename_with_flags(struct mailbox *mb, struct view_msg *v, uint32_t flags, char *err,
                             size_t errlen)
{
    for (int attempt = 0; attempt < RENAME_RETRIES; attempt++) {
        char target[MESSAGE_NAME_BUF], from[PATH_MAX], to[PATH_MAX];
        if (msgfile_with_flags(target, v->name, v->base_len, flags) != 0)
            return error_text(err, errlen, "file name too long for UID %u", v->msg.uid);
        if (!v->in_new && strcmp(target, v->name) == 0)
            return 0;
        char *copy = strdup(target);
        if (!copy)
            return error_text(err, errlen, "out of memory");
        msgfile_path(from, &mb->folder, v->name, v->in_new);
        msgfile_path(to, &mb->folder, target, false);
        if (rename(from, to) == 0) {
            free(v->name);
            v->name = copy;
            v->in_new = false;
            return 0;
        }
        int saved = errno;
        free(copy);
        if (saved != ENOENT)
            return error_text(err, errlen, "rename %s: %s", from, strerror(saved));
        if (follow_rename(mb, v, false, err, errlen) != 0)
            return -1;
    }
    return error_text(err, errlen, "message UID %u keeps being renamed", v->msg.uid);
}

int mailbox_set_flags(struct mailbox *mb, size_t index, uint32_t flags, char *err,
                      size_t errlen)
{
    if (mb->read_only)
        return error_text(err, errlen, "mailbox %s is read-only", mb->folder.name);
    struct view_msg *v = message_at(mb, index, err, errlen);
    if (!v)
        return -1;
    flags &= KNOWN_FLAGS;
    /* Under the lock so that no scan of cur/ runs while the name changes (see mailbox_sync.c) */
    int lock = mbox_lock(mb->folder.path, UIDLIST_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    int rc = rename_with_flags(mb, v, flags, err, errlen);
    mbox_unlock(lock);
    if (rc == 0)
        v->msg.flags = flags | (v->msg.flags & MAILBOX_RECENT);
    return rc;
}

/* ---- Expunge ---- */

/* 1 when the message is gone (now or already), 0 when someone took its \Deleted away,
 * -1 when it could not be removed. */
static int remove_message(struct mailbox *mb, struct view_msg *v, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < RENAME_RETRIES; attempt++) {
        char path[PATH_MAX];
        msgfile_path(path, &mb->folder, v->name, v->in_new);
        if (unlink(path) == 0)
            return 1;
        if (errno != ENOENT)
            return error_text(err, errlen, "unlink %s: %s", path, strerror(errno));
        int found = relocate(mb, v, err, errlen);
        if (found <= 0)
            return found < 0 ? -1 : 1;
        if (!(msgfile_flags(v->name, v->base_len) & MAILBOX_DELETED))
            return 0;
    }
    return error_text(err, errlen, "message UID %u keeps being renamed", v->msg.uid);
}

static int compare_u32(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return a < b ? -1 : a > b;
}

static bool wanted(const struct view_msg *v, const uint32_t *sorted_uids, size_t nuids)
{
    if (!(v->msg.flags & MAILBOX_DELETED))
        return false;
    return !sorted_uids ||
           bsearch(&v->msg.uid, sorted_uids, nuids, sizeof *sorted_uids, compare_u32) != NULL;
}

/* The uid list forgets the removed messages. A failure here is not the session's: the files
 * are gone, and the next sync of the folder drops their entries anyway. */
static void forget_uids(struct mailbox *mb, const bool *removed)
{
    struct uidlist list;
    if (uidlist_load(&mb->folder, &list, NULL, 0) != 0 || list.rebuilt) {
        uidlist_free(&list); /* a list that has to be rebuilt is the next sync's job */
        return;
    }
    size_t j = 0;
    for (size_t i = 0; i < list.count; i++) {
        while (j < mb->count && mb->msgs[j].msg.uid < list.entries[i].uid)
            j++;
        list.entries[i].gone =
            j < mb->count && mb->msgs[j].msg.uid == list.entries[i].uid && removed[j];
    }
    uidlist_drop_gone(&list);
    if (list.dirty)
        uidlist_save(&mb->folder, &list, NULL, 0);
    uidlist_free(&list);
}

/* Removes the entries marked in removed from the view; their sequence numbers, highest
 * first, go to changes. */
static void drop_from_view(struct mailbox *mb, const bool *removed, uint32_t *expunged,
                           struct mailbox_changes *changes)
{
    size_t kept = 0, n = 0;
    for (size_t i = mb->count; i-- > 0;) {
        if (removed[i])
            expunged[n++] = (uint32_t)(i + 1);
    }
    for (size_t i = 0; i < mb->count; i++) {
        if (removed[i]) {
            mb->recent -= (mb->msgs[i].msg.flags & MAILBOX_RECENT) != 0;
            free(mb->msgs[i].name);
            continue;
        }
        mb->msgs[kept++] = mb->msgs[i];
    }
    mb->count = kept;
    if (!changes) {
        free(expunged);
        return;
    }
    changes->expunged = expunged;
    changes->nexpunged = n;
    changes->exists = (uint32_t)mb->count;
    changes->recent = mb->recent;
}

/* What one EXPUNGE works with, allocated before anything is removed. */
struct expunge_work {
    uint32_t *uids; /* UID EXPUNGE's set, sorted; NULL for EXPUNGE */
    size_t nuids;
    bool *removed;      /* by view index */
    uint32_t *expunged; /* handed to the caller's changes */
};

static void expunge_work_free(struct expunge_work *w)
{
    free(w->uids);
    free(w->removed);
    free(w->expunged);
}

static int expunge_work_init(struct expunge_work *w, const struct mailbox *mb, const uint32_t *uids,
                             size_t nuids)
{
    *w = (struct expunge_work){.nuids = nuids};
    w->removed = calloc(mb->count + 1, sizeof *w->removed);
    w->expunged = malloc((mb->count + 1) * sizeof *w->expunged);
    if (uids && (w->uids = malloc((nuids + 1) * sizeof *w->uids)) != NULL) {
        memcpy(w->uids, uids, nuids * sizeof *w->uids);
        qsort(w->uids, nuids, sizeof *w->uids, compare_u32);
    }
    if (w->removed && w->expunged && (!uids || w->uids))
        return 0;
    expunge_work_free(w);
    return -1;
}

/* Unlinks what it can; a message that cannot be removed keeps \Deleted and stays, so a later
 * EXPUNGE tries again, and the ones removed are still reported. */
static size_t remove_wanted(struct mailbox *mb, struct expunge_work *w)
{
    size_t n = 0;
    for (size_t i = 0; i < mb->count; i++) {
        struct view_msg *v = &mb->msgs[i];
        if (wanted(v, w->uids, w->nuids) && remove_message(mb, v, NULL, 0) == 1) {
            w->removed[i] = true;
            n++;
        }
    }
    return n;
}

int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
                    struct mailbox_changes *changes, char *err, size_t errlen)
{
    if (changes)
        memset(changes, 0, sizeof *changes);
    if (mb->read_only)
        return error_text(err, errlen, "mailbox %s is read-only", mb->folder.name);
    struct expunge_work w;
    if (expunge_work_init(&w, mb, uids, nuids) != 0)
        return error_text(err, errlen, "out of memory");
    int lock = mbox_lock(mb->folder.path, UIDLIST_LOCK_FILE, err, errlen);
    if (lock < 0) {
        expunge_work_free(&w);
        return -1;
    }
    if (remove_wanted(mb, &w) > 0) {
        char cur[PATH_MAX];
        mbox_path(cur, mb->folder.path, "cur", NULL);
        durable_fsync_dir(cur);
        forget_uids(mb, w.removed);
    }
    mbox_unlock(lock);
    drop_from_view(mb, w.removed, w.expunged, changes);
    w.expunged = NULL; /* now the caller's, or freed */
    expunge_work_free(&w);
    return 0;
}

/* ---- Storing files into a folder ---- */

/* tmp/UNIQUE written, dated (mtime = internal date), fsynced, then renamed to cur/NAME and
 * cur/ fsynced: once this returns the message survives a crash. */
static int store_file(const struct folder *f, const char *unique, const char *name,
                      const void *data, size_t len, time_t date, char *err, size_t errlen)
{
    char tmp[PATH_MAX], final[PATH_MAX], cur[PATH_MAX];
    mbox_path(tmp, f->path, "tmp", unique);
    msgfile_path(final, f, name, false);
    mbox_path(cur, f->path, "cur", NULL);
    struct iovec part = {.iov_base = (void *)data, .iov_len = len};
    if (maildir_write_file(tmp, O_EXCL, MAILBOX_FILE_MODE, date, &part, 1, err, errlen) != 0)
        return -1;
    if (rename(tmp, final) != 0) {
        int saved = errno;
        unlink(tmp);
        return error_text(err, errlen, "rename %s: %s", tmp, strerror(saved));
    }
    if (durable_fsync_dir(cur) != 0)
        return error_text(err, errlen, "fsync %s: %s", cur, strerror(errno));
    return 0;
}

/* The UID of a file already in cur/ (a sync may have numbered it meanwhile). */
static int number_file(const struct folder *f, const char *unique, uint32_t *uid,
                       uint32_t *uidvalidity, char *err, size_t errlen)
{
    int lock = mbox_lock(f->path, UIDLIST_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    struct uidlist list;
    int rc = uidlist_load(f, &list, err, errlen);
    if (rc == 0)
        rc = uidlist_assign(&list, unique, strlen(unique), uid, err, errlen);
    if (rc == 0 && list.dirty)
        rc = uidlist_save(f, &list, err, errlen);
    *uidvalidity = list.uidvalidity;
    uidlist_free(&list);
    mbox_unlock(lock);
    return rc;
}

int mailbox_append(const char *data_dir, const char *account, const char *name, const void *data,
                   size_t len, uint32_t flags, time_t internal_date, uint32_t *uid,
                   uint32_t *uidvalidity, char *err, size_t errlen)
{
    struct folder f;
    if (mbox_folder_open(&f, data_dir, account, name, err, errlen) != 0)
        return -1;
    if (len > MAILBOX_READ_MAX)
        return error_text(err, errlen, "message larger than %zu bytes", MAILBOX_READ_MAX);
    char unique[MAILDIR_NAME_MAX], final[MESSAGE_NAME_BUF];
    maildir_unique_name(len, unique);
    if (msgfile_with_flags(final, unique, strlen(unique), flags & KNOWN_FLAGS) != 0)
        return error_text(err, errlen, "file name too long");
    if (store_file(&f, unique, final, data, len, internal_date, err, errlen) != 0)
        return -1;
    return number_file(&f, unique, uid, uidvalidity, err, errlen);
}

/* ---- Copy ---- */

static bool links_unsupported(int error)
{
    return error == EXDEV || error == EMLINK || error == EPERM || error == ENOTSUP ||
           error == EOPNOTSUPP;
}

/* Where hard links are impossible (another file system) the bytes are copied, with the date. */
static int copy_contents(struct mailbox *mb, struct view_msg *v, const struct folder *dest,
                         const char *unique, const char *name, char *err, size_t errlen)
{
    char *data;
    size_t len;
    size_t index = (size_t)(v - mb->msgs);
    if (mailbox_read(mb, index, &data, &len, err, errlen) != 0)
        return -1;
    int rc = store_file(dest, unique, name, data, len, v->msg.internal_date, err, errlen);
    free(data);
    return rc;
}

static int link_copy(struct mailbox *mb, struct view_msg *v, const struct folder *dest,
                     const char *unique, const char *name, char *err, size_t errlen)
{
    char to[PATH_MAX], cur[PATH_MAX];
    msgfile_path(to, dest, name, false);
    mbox_path(cur, dest->path, "cur", NULL);
    for (int attempt = 0; attempt < RENAME_RETRIES; attempt++) {
        char from[PATH_MAX];
        msgfile_path(from, &mb->folder, v->name, v->in_new);
        if (link(from, to) == 0) {
            if (durable_fsync_dir(cur) != 0)
                return error_text(err, errlen, "fsync %s: %s", cur, strerror(errno));
            return 0;
        }
        if (links_unsupported(errno))
            return copy_contents(mb, v, dest, unique, name, err, errlen);
        if (errno != ENOENT)
            return error_text(err, errlen, "link %s: %s", to, strerror(errno));
        if (follow_rename(mb, v, true, err, errlen) != 0)
            return -1;
    }
    return error_text(err, errlen, "message UID %u keeps being renamed", v->msg.uid);
}

int mailbox_copy(struct mailbox *mb, size_t index, const char *dest_name, uint32_t *dest_uid,
                 uint32_t *dest_uidvalidity, char *err, size_t errlen)
{
    struct view_msg *v = message_at(mb, index, err, errlen);
    if (!v)
        return -1;
    struct folder dest;
    if (mbox_folder_sibling(&dest, &mb->folder, dest_name, err, errlen) != 0)
        return -1;
    char unique[MAILDIR_NAME_MAX], name[MESSAGE_NAME_BUF];
    maildir_unique_name(v->msg.size, unique);
    /* Flags travel (not \Recent, not keywords: their letters mean something per folder) */
    if (msgfile_with_flags(name, unique, strlen(unique), v->msg.flags & KNOWN_FLAGS) != 0)
        return error_text(err, errlen, "file name too long");
    if (link_copy(mb, v, &dest, unique, name, err, errlen) != 0)
        return -1;
    return number_file(&dest, unique, dest_uid, dest_uidvalidity, err, errlen);
}

/* ---- Status ---- */

int mailbox_status(const char *data_dir, const char *account, const char *name,
                   struct mailbox_status *status, char *err, size_t errlen)
{
    struct folder f;
    if (mbox_folder_open(&f, data_dir, account, name, err, errlen) != 0)
        return -1;
    int lock = mbox_lock(f.path, UIDLIST_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    struct snapshot snap;
    int rc = mbox_folder_sync(&f, RECENCY_PEEK, &snap, err, errlen);
    mbox_unlock(lock);
    if (rc != 0)
        return -1;
    memset(status, 0, sizeof *status);
    status->messages = (uint32_t)snap.count;
    status->uidnext = snap.uidnext;
    status->uidvalidity = snap.uidvalidity;
    for (size_t i = 0; i < snap.count; i++) {
        status->recent += snap.msgs[i].uid > snap.recent_floor;
        status->unseen += !(snap.msgs[i].flags & MAILBOX_SEEN);
    }
    mbox_snapshot_free(&snap);
    return 0;
}
