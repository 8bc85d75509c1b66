/*
 * The folders of an account: LIST, CREATE, DELETE, RENAME, all under the account lock so that
 * a rename of a hierarchy is not interleaved with a create of one of its new names.
 *
 * New folders are built complete (cur/ new/ tmp/, maildirfolder, a uid list with a fresh
 * UIDVALIDITY) under a scratch name and renamed into place, so nobody sees half a folder; a
 * deleted folder is first renamed away, then removed, for the same reason. Scratch names start
 * with "..", which no folder name can.
 *
 * CREATE makes only the named folder (Maildir++ needs no parents). DELETE removes only the
 * named folder: "Foo.Bar" survives the deletion of "Foo" (RFC 3501 6.3.4). RENAME moves the
 * children too and gives every moved folder a fresh UIDVALIDITY, so a client that knew an older
 * folder of the new name never takes these UIDs for those. RENAME INBOX moves INBOX's messages
 * into the new folder (keeping their UIDs) and leaves INBOX empty, its children in place.
 */
#include "store/durable.h"
#include "store/mailbox_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INBOX "INBOX"
/* Our folders are three levels deep (folder/cur/file); anything deeper is not ours to keep. */
#define REMOVE_DEPTH_MAX 8

/* ---- Listing ---- */

static int compare_folder_names(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    bool a_inbox = strcmp(a, INBOX) == 0, b_inbox = strcmp(b, INBOX) == 0;
    if (a_inbox != b_inbox)
        return a_inbox ? -1 : 1;
    return strcmp(a, b);
}

/* ".NAME" with a valid NAME and a cur/ inside; ".INBOX" would shadow INBOX and is ignored. */
static bool is_folder_entry(int dir_fd, const char *entry)
{
    if (entry[0] != '.' || mailbox_name_problem(entry + 1) || strcasecmp(entry + 1, INBOX) == 0)
        return false;
    char cur[MAILBOX_NAME_MAX + 8];
    struct stat st;
    snprintf(cur, sizeof cur, "%s/cur", entry);
    return fstatat(dir_fd, cur, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static int collect_folders(const char *account_dir, struct name_list *out, char *err,
                           size_t errlen)
{
    DIR *dir = opendir(account_dir);
    if (!dir)
        return error_text(err, errlen, "open %s: %s", account_dir, strerror(errno));
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        if (is_folder_entry(dirfd(dir), entry->d_name) &&
            mbox_name_list_add(out, entry->d_name + 1) != 0)
            rc = error_text(err, errlen, "out of memory");
    }
    closedir(dir);
    return rc;
}

int mailbox_list(const char *data_dir, const char *account, char ***names, size_t *count, char *err,
                 size_t errlen)
{
    struct folder inbox;
    struct name_list list = {0};
    *names = NULL;
    *count = 0;
    if (mbox_folder_locate(&inbox, data_dir, account, INBOX, err, errlen) != 0)
        return -1;
    int rc = mbox_name_list_add(&list, INBOX) == 0
                 ? collect_folders(inbox.account_dir, &list, err, errlen)
                 : error_text(err, errlen, "out of memory");
    if (rc != 0) {
        mailbox_names_free(list.items, list.count);
        return -1;
    }
    qsort(list.items, list.count, sizeof *list.items, compare_folder_names);
    *names = list.items;
    *count = list.count;
    return 0;
}

/* ---- Building and removing folders ---- */

static void remove_tree(int parent_fd, const char *name, int depth)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            if (unlinkat(fd, entry->d_name, 0) != 0 && (errno == EISDIR || errno == EPERM) &&
                depth < REMOVE_DEPTH_MAX)
                remove_tree(fd, entry->d_name, depth + 1);
        }
        closedir(dir);
    } else if (fd >= 0) {
        close(fd);
    }
    unlinkat(parent_fd, name, AT_REMOVEDIR);
}

static void remove_path(const char *path)
{
    remove_tree(AT_FDCWD, path, 0);
}

static int make_layout(const char *path, char *err, size_t errlen)
{
    static const char *const subdirs[] = {"cur", "new", "tmp"};
    char sub[PATH_MAX];
    if (mkdir(path, MAILBOX_DIR_MODE) != 0)
        return error_text(err, errlen, "mkdir %s: %s", path, strerror(errno));
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        mbox_path(sub, path, subdirs[i], NULL);
        if (mkdir(sub, MAILBOX_DIR_MODE) != 0)
            return error_text(err, errlen, "mkdir %s: %s", sub, strerror(errno));
    }
    mbox_path(sub, path, FOLDER_MARKER_FILE, NULL); /* Maildir++: "this is a subfolder" */
    int fd = open(sub, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, MAILBOX_FILE_MODE);
    if (fd < 0)
        return error_text(err, errlen, "create %s: %s", sub, strerror(errno));
    close(fd);
    return 0;
}

/* Builds the folder f under a scratch name with the uid list given (or a fresh one) and
 * renames it into place. With lock_out, the new folder's lock is held on return. */
static int build_folder(const struct folder *f, struct uidlist *list, int *lock_out, char *err,
                        size_t errlen)
{
    struct folder scratch = *f;
    char name[64];
    mbox_scratch_name(name, "new");
    if (!mbox_path(scratch.path, f->account_dir, name, NULL))
        return error_text(err, errlen, "path too long: %s", f->account_dir);
    struct uidlist fresh = {.uidnext = 1};
    if (!list && mbox_uidvalidity_next(f->account_dir, &fresh.uidvalidity, err, errlen) != 0)
        return -1;
    int lock = -1;
    int rc = make_layout(scratch.path, err, errlen);
    if (rc == 0)
        rc = uidlist_save(&scratch, list ? list : &fresh, err, errlen); /* fsyncs the layout */
    if (rc == 0 && lock_out && (lock = mbox_lock(scratch.path, UIDLIST_LOCK_FILE, err, errlen)) < 0)
        rc = -1;
    if (rc == 0 && rename(scratch.path, f->path) != 0) {
        bool taken = errno == EEXIST || errno == ENOTEMPTY;
        rc = taken ? error_text(err, errlen, "mailbox %s already exists", f->name)
                   : error_text(err, errlen, "rename %s: %s", scratch.path, strerror(errno));
    }
    if (rc != 0) {
        mbox_unlock(lock);
        remove_path(scratch.path);
        return -1;
    }
    if (lock_out)
        *lock_out = lock;
    return durable_fsync_dir(f->account_dir) == 0
               ? 0
               : error_text(err, errlen, "fsync %s: %s", f->account_dir, strerror(errno));
}

/* ---- CREATE and DELETE ---- */

int mailbox_create(const char *data_dir, const char *account, const char *name, char *err,
                   size_t errlen)
{
    struct folder f;
    if (mbox_folder_locate(&f, data_dir, account, name, err, errlen) != 0)
        return -1;
    if (f.inbox)
        return error_text(err, errlen, "INBOX already exists");
    int lock = mbox_lock(f.account_dir, ACCOUNT_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    int rc = mbox_folder_exists(&f) ? error_text(err, errlen, "mailbox %s already exists", f.name)
                                    : build_folder(&f, NULL, NULL, err, errlen);
    mbox_unlock(lock);
    return rc;
}

static int delete_folder(const struct folder *f, char *err, size_t errlen)
{
    if (!mbox_folder_exists(f))
        return error_text(err, errlen, "mailbox %s does not exist", f->name);
    char name[64], doomed[PATH_MAX];
    mbox_scratch_name(name, "deleted");
    if (!mbox_path(doomed, f->account_dir, name, NULL))
        return error_text(err, errlen, "path too long: %s", f->account_dir);
    if (rename(f->path, doomed) != 0)
        return error_text(err, errlen, "rename %s: %s", f->path, strerror(errno));
    durable_fsync_dir(f->account_dir);
    remove_path(doomed);
    return 0;
}

int mailbox_delete(const char *data_dir, const char *account, const char *name, char *err,
                   size_t errlen)
{
    struct folder f;
    if (mbox_folder_locate(&f, data_dir, account, name, err, errlen) != 0)
        return -1;
    if (f.inbox)
        return error_text(err, errlen, "INBOX cannot be deleted");
    int lock = mbox_lock(f.account_dir, ACCOUNT_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    int rc = delete_folder(&f, err, errlen);
    mbox_unlock(lock);
    return rc;
}

/* ---- RENAME ---- */

/* A renamed folder is a new mailbox to clients: same UIDs, a UIDVALIDITY never used before. */
static void renew_uidvalidity(const struct folder *f)
{
    int lock = mbox_lock(f->path, UIDLIST_LOCK_FILE, NULL, 0);
    if (lock < 0)
        return;
    struct uidlist list;
    if (uidlist_load(f, &list, NULL, 0) == 0 && !list.rebuilt &&
        mbox_uidvalidity_next(f->account_dir, &list.uidvalidity, NULL, 0) == 0)
        uidlist_save(f, &list, NULL, 0);
    uidlist_free(&list);
    mbox_unlock(lock);
}

struct move {
    struct folder from, to;
};

/* The folder and its children, with their new names; fails when a new name is taken. */
static int plan_moves(const struct folder *src, const struct folder *dst, struct move **moves,
                      size_t *nmoves, char *err, size_t errlen)
{
    struct name_list all = {0};
    size_t prefix = strlen(src->name);
    if (collect_folders(src->account_dir, &all, err, errlen) != 0) {
        mailbox_names_free(all.items, all.count);
        return -1;
    }
    *moves = calloc(all.count + 1, sizeof **moves);
    *nmoves = 0;
    int rc = *moves ? 0 : error_text(err, errlen, "out of memory");
    for (size_t i = 0; i < all.count && rc == 0; i++) {
        const char *name = all.items[i];
        if (strncmp(name, src->name, prefix) != 0 || (name[prefix] && name[prefix] != '.'))
            continue;
        char target[MAILBOX_NAME_MAX * 2 + 2];
        snprintf(target, sizeof target, "%s%s", dst->name, name + prefix);
        struct move *m = &(*moves)[(*nmoves)++];
        if (mbox_folder_sibling(&m->from, src, name, err, errlen) != 0 ||
            mbox_folder_locate_in(&m->to, src->account_dir, target, err, errlen) != 0)
            rc = -1;
        else if (mbox_folder_exists(&m->to))
            rc = error_text(err, errlen, "mailbox %s already exists", m->to.name);
    }
    mailbox_names_free(all.items, all.count);
    return rc;
}

static int apply_moves(const struct move *moves, size_t nmoves, char *err, size_t errlen)
{
    for (size_t i = 0; i < nmoves; i++) {
        if (rename(moves[i].from.path, moves[i].to.path) == 0)
            continue;
        error_text(err, errlen, "rename %s: %s", moves[i].from.path, strerror(errno));
        while (i-- > 0) /* put the hierarchy back as it was */
            rename(moves[i].to.path, moves[i].from.path);
        return -1;
    }
    return 0;
}

static int rename_hierarchy(const struct folder *src, const struct folder *dst, char *err,
                            size_t errlen)
{
    if (!mbox_folder_exists(src))
        return error_text(err, errlen, "mailbox %s does not exist", src->name);
    size_t prefix = strlen(src->name);
    if (strncmp(dst->name, src->name, prefix) == 0 && dst->name[prefix] == '.')
        return error_text(err, errlen, "cannot move mailbox %s into itself", src->name);
    struct move *moves = NULL;
    size_t nmoves = 0;
    int rc = plan_moves(src, dst, &moves, &nmoves, err, errlen);
    if (rc == 0)
        rc = apply_moves(moves, nmoves, err, errlen);
    if (rc == 0) {
        durable_fsync_dir(src->account_dir);
        for (size_t i = 0; i < nmoves; i++)
            renew_uidvalidity(&moves[i].to);
    }
    free(moves);
    return rc;
}

/* The new folder's uid list: INBOX's messages with their UIDs, a fresh UIDVALIDITY. */
static int seed_from(const struct snapshot *snap, const struct folder *dst, struct uidlist *seed,
                     char *err, size_t errlen)
{
    memset(seed, 0, sizeof *seed);
    seed->uidnext = snap->uidnext;
    seed->recent_uid = snap->recent_floor;
    for (size_t i = 0; i < snap->count; i++) {
        const struct found *m = &snap->msgs[i];
        if (uidlist_append(seed, m->uid, m->name, m->base_len) != 0)
            return error_text(err, errlen, "out of memory");
    }
    return mbox_uidvalidity_next(dst->account_dir, &seed->uidvalidity, err, errlen);
}

static void move_messages(const struct snapshot *snap, const struct folder *src,
                          const struct folder *dst)
{
    char from[PATH_MAX], to[PATH_MAX];
    for (size_t i = 0; i < snap->count; i++) {
        msgfile_path(from, src, snap->msgs[i].name, snap->msgs[i].in_new);
        msgfile_path(to, dst, snap->msgs[i].name, snap->msgs[i].in_new);
        rename(from, to); /* a message that stays is simply still in INBOX after the next sync */
    }
    mbox_path(to, dst->path, "cur", NULL);
    durable_fsync_dir(to);
    mbox_path(from, src->path, "cur", NULL);
    durable_fsync_dir(from);
}

static int rename_inbox(const struct folder *inbox, const struct folder *dst, char *err,
                        size_t errlen)
{
    if (mbox_folder_exists(dst))
        return error_text(err, errlen, "mailbox %s already exists", dst->name);
    int inbox_lock = mbox_lock(inbox->path, UIDLIST_LOCK_FILE, err, errlen);
    if (inbox_lock < 0)
        return -1;
    struct snapshot snap;
    struct uidlist seed = {0};
    int dst_lock = -1;
    int rc = mbox_folder_sync(inbox, RECENCY_PEEK, &snap, err, errlen);
    if (rc == 0)
        rc = seed_from(&snap, dst, &seed, err, errlen);
    if (rc == 0)
        rc = build_folder(dst, &seed, &dst_lock, err, errlen);
    if (rc == 0) {
        move_messages(&snap, inbox, dst);
        struct snapshot left; /* forgets what moved; INBOX keeps its UIDVALIDITY and UIDNEXT */
        if (mbox_folder_sync(inbox, RECENCY_PEEK, &left, NULL, 0) == 0)
            mbox_snapshot_free(&left);
    }
    mbox_unlock(dst_lock);
    mbox_unlock(inbox_lock);
    uidlist_free(&seed);
    mbox_snapshot_free(&snap);
    return rc;
}

int mailbox_rename(const char *data_dir, const char *account, const char *from, const char *to,
                   char *err, size_t errlen)
{
    struct folder src, dst;
    if (mbox_folder_locate(&src, data_dir, account, from, err, errlen) != 0 ||
        mbox_folder_locate(&dst, data_dir, account, to, err, errlen) != 0)
        return -1;
    if (dst.inbox || strcmp(src.name, dst.name) == 0)
        return error_text(err, errlen, "mailbox %s already exists", dst.name);
    int lock = mbox_lock(src.account_dir, ACCOUNT_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    int rc = src.inbox ? rename_inbox(&src, &dst, err, errlen)
                       : rename_hierarchy(&src, &dst, err, errlen);
    mbox_unlock(lock);
    return rc;
}
