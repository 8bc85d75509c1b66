/*
 * Synchronising a folder's directories with its uid list, under the folder lock: deliveries
 * move from new/ to cur/, files without a UID get one (in file name order, so the numbering is
 * stable whoever runs first), UIDs whose file is gone are forgotten. Matching is a merge of
 * two lists sorted by base name: O(n log n) for any folder size.
 *
 * Every postern change to cur/ happens under the folder lock, so a scan sees a consistent
 * directory. Another program renaming files meanwhile could make a readdir() miss a file; a
 * scan that finds a known message missing therefore looks once more before forgetting it.
 */
#include "store/mailbox_internal.h"
#include "util/array.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A directory mtime is trusted for the cheap refresh path only once it is this old: a change
 * within the same timestamp tick as our look would not move it. */
#define STAMP_SETTLE_SECONDS 2
#define SCAN_ATTEMPTS 2

struct found_list {
    struct found *items;
    size_t count, cap;
};

static void found_list_free(struct found_list *list)
{
    mbox_found_free(list->items, list->count);
    memset(list, 0, sizeof *list);
}

static int found_add(struct found_list *list, const char *name, bool in_new)
{
    struct found *room = array_make_room(list->items, list->count, &list->cap, sizeof *room,
                                         256);
    if (!room)
        return -1;
    list->items = room;
    char *copy = strdup(name);
    if (!copy)
        return -1;
    size_t base_len = msgfile_base_length(name);
    list->items[list->count++] = (struct found){
        .name = copy, .base_len = (uint16_t)base_len, .in_new = in_new,
        .flags = msgfile_flags(name, base_len)};
    return 0;
}

/* ---- Reading the directories ---- */

static bool worth_a_look(const struct dirent *entry)
{
    /* Sockets, links and directories are not messages; DT_UNKNOWN is checked when opened. */
    bool file_type = entry->d_type == DT_REG || entry->d_type == DT_UNKNOWN;
    return file_type && msgfile_acceptable(entry->d_name);
}

static int list_dir(const struct folder *f, bool in_new, struct found_list *out, char *err,
                    size_t errlen)
{
    char path[PATH_MAX];
    mbox_path(path, f->path, in_new ? "new" : "cur", NULL);
    DIR *dir = opendir(path);
    if (!dir)
        return error_text(err, errlen, "open %s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *entry;
    errno = 0;
    while ((entry = readdir(dir)) != NULL) {
        if (worth_a_look(entry) && found_add(out, entry->d_name, in_new) != 0) {
            rc = error_text(err, errlen, "out of memory");
            break;
        }
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = error_text(err, errlen, "read %s: %s", path, strerror(errno));
    closedir(dir);
    return rc;
}

/* new/NAME -> cur/BASE:2,FLAGS. Files that cannot move (read-only storage) stay listed as in
 * new/; files someone else moved will be found in cur/. */
static int move_new_messages(const struct folder *f, struct found_list *out, char *err,
                             size_t errlen)
{
    struct found_list arrivals = {0};
    if (list_dir(f, true, &arrivals, err, errlen) != 0) {
        found_list_free(&arrivals);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < arrivals.count && rc == 0; i++) {
        const struct found *m = &arrivals.items[i];
        char target[MESSAGE_NAME_BUF], from[PATH_MAX], to[PATH_MAX];
        bool movable = msgfile_with_flags(target, m->name, m->base_len, m->flags) == 0;
        msgfile_path(from, f, m->name, true);
        msgfile_path(to, f, target, false);
        if (movable && rename(from, to) == 0)
            continue;
        if (movable && errno == ENOENT)
            continue;
        if (found_add(out, m->name, true) != 0)
            rc = error_text(err, errlen, "out of memory");
    }
    found_list_free(&arrivals);
    return rc;
}

int msgfile_compare_bases(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    if (c != 0)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

/* By base; for one base the copy in cur/ first, then by full name. */
static int compare_found_by_base(const void *pa, const void *pb)
{
    const struct found *a = pa, *b = pb;
    int c = msgfile_compare_bases(a->name, a->base_len, b->name, b->base_len);
    if (c != 0)
        return c;
    if (a->in_new != b->in_new)
        return a->in_new ? 1 : -1;
    return strcmp(a->name, b->name);
}

/* One message per base: a second file with the same base (a crash between link and unlink by
 * some other program) is ignored rather than counted twice. */
static void drop_duplicates(struct found_list *files)
{
    size_t kept = 0;
    for (size_t i = 0; i < files->count; i++) {
        struct found *m = &files->items[i];
        if (kept > 0) {
            const struct found *prev = &files->items[kept - 1];
            if (msgfile_compare_bases(prev->name, prev->base_len, m->name, m->base_len) == 0) {
                free(m->name);
                continue;
            }
        }
        files->items[kept++] = *m;
    }
    files->count = kept;
}

static int scan(const struct folder *f, struct found_list *files, char *err, size_t errlen)
{
    if (move_new_messages(f, files, err, errlen) != 0 ||
        list_dir(f, false, files, err, errlen) != 0)
        return -1;
    if (files->count > 1) /* qsort() must not see the NULL of an empty list */
        qsort(files->items, files->count, sizeof *files->items, compare_found_by_base);
    drop_duplicates(files);
    return 0;
}

/* ---- Matching files with UIDs ---- */

static int compare_entries_by_base(const void *pa, const void *pb)
{
    const struct uid_entry *a = *(const struct uid_entry *const *)pa;
    const struct uid_entry *b = *(const struct uid_entry *const *)pb;
    return strcmp(a->base, b->base);
}

/* Gives each file its UID from the list and marks entries without a file gone. Returns how
 * many are gone, or -1 when out of memory. */
static long match(struct uidlist *list, struct found_list *files)
{
    struct uid_entry **by_base = malloc((list->count + 1) * sizeof *by_base);
    if (!by_base)
        return -1;
    for (size_t i = 0; i < list->count; i++) {
        by_base[i] = &list->entries[i];
        by_base[i]->gone = false;
    }
    qsort(by_base, list->count, sizeof *by_base, compare_entries_by_base);
    size_t i = 0, j = 0;
    long gone = 0;
    while (i < list->count) {
        struct uid_entry *e = by_base[i];
        int c = j < files->count
                    ? msgfile_compare_bases(e->base, strlen(e->base), files->items[j].name,
                                            files->items[j].base_len)
                    : -1;
        if (c < 0) {
            e->gone = true; /* also a second entry for an already matched base */
            gone++;
            i++;
        } else if (c > 0) {
            files->items[j++].uid = 0;
        } else {
            files->items[j++].uid = e->uid;
            i++;
        }
    }
    for (; j < files->count; j++)
        files->items[j].uid = 0;
    free(by_base);
    return gone;
}

static int scan_and_match(const struct folder *f, struct uidlist *list, struct found_list *files,
                          char *err, size_t errlen)
{
    for (int attempt = 1;; attempt++) {
        if (scan(f, files, err, errlen) != 0)
            return -1;
        long gone = match(list, files);
        if (gone < 0)
            return error_text(err, errlen, "out of memory");
        if (gone == 0 || attempt == SCAN_ATTEMPTS)
            break;
        found_list_free(files);
    }
    uidlist_drop_gone(list);
    return 0;
}

/* Files are in base order here, which makes the new UIDs follow file names. */
static int assign_new_uids(struct uidlist *list, struct found_list *files, char *err,
                           size_t errlen)
{
    for (size_t i = 0; i < files->count; i++) {
        struct found *m = &files->items[i];
        if (m->uid == 0 && uidlist_add_new(list, m->name, m->base_len, &m->uid, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int compare_found_by_uid(const void *pa, const void *pb)
{
    const struct found *a = pa, *b = pb;
    return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* ---- The sync ---- */

void mbox_snapshot_free(struct snapshot *snap)
{
    mbox_found_free(snap->msgs, snap->count);
    snap->msgs = NULL;
    snap->count = 0;
}

int mbox_folder_sync(const struct folder *f, enum recency recency, struct snapshot *snap, char *err,
                     size_t errlen)
{
    memset(snap, 0, sizeof *snap);
    struct uidlist list;
    if (uidlist_load(f, &list, err, errlen) != 0)
        return -1;
    struct found_list files = {0};
    int rc = scan_and_match(f, &list, &files, err, errlen);
    if (rc == 0)
        rc = assign_new_uids(&list, &files, err, errlen);
    snap->recent_floor = list.recent_uid;
    if (rc == 0 && recency == RECENCY_CLAIM && list.recent_uid < list.uidnext - 1) {
        list.recent_uid = list.uidnext - 1;
        list.dirty = true;
    }
    if (rc == 0 && list.dirty)
        rc = uidlist_save(f, &list, err, errlen);
    if (rc == 0) {
        if (files.count > 1) /* qsort() must not see the NULL of an empty list */
            qsort(files.items, files.count, sizeof *files.items, compare_found_by_uid);
        snap->msgs = files.items;
        snap->count = files.count;
        snap->uidvalidity = list.uidvalidity;
        snap->uidnext = list.uidnext;
        mbox_stamp_take(f, &snap->stamp);
        memset(&files, 0, sizeof files);
    }
    found_list_free(&files);
    uidlist_free(&list);
    return rc;
}

/* ---- Stamps ---- */

static bool settled(const struct timespec *mtime, const struct timespec *now)
{
    return mtime->tv_sec + STAMP_SETTLE_SECONDS < now->tv_sec;
}

void mbox_stamp_take(const struct folder *f, struct folder_stamp *stamp)
{
    memset(stamp, 0, sizeof *stamp);
    char cur[PATH_MAX], new[PATH_MAX], list[PATH_MAX];
    struct stat cur_st, new_st, list_st;
    mbox_path(cur, f->path, "cur", NULL);
    mbox_path(new, f->path, "new", NULL);
    mbox_path(list, f->path, UIDLIST_FILE, NULL);
    if (stat(cur, &cur_st) != 0 || stat(new, &new_st) != 0 || stat(list, &list_st) != 0)
        return;
    stamp->cur = cur_st.st_mtim;
    stamp->new = new_st.st_mtim;
    stamp->list = list_st.st_mtim;
    stamp->list_ino = list_st.st_ino;
    stamp->list_size = list_st.st_size;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    stamp->usable =
        settled(&stamp->cur, &now) && settled(&stamp->new, &now) && settled(&stamp->list, &now);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool mbox_stamp_same(const struct folder_stamp *a, const struct folder_stamp *b)
{
    return a->usable && b->usable && same_time(&a->cur, &b->cur) && same_time(&a->new, &b->new) &&
           same_time(&a->list, &b->list) && a->list_ino == b->list_ino &&
           a->list_size == b->list_size;
}

/* ---- Listing without changing anything ---- */

int mbox_list_messages(const struct folder *f, struct found **msgs, size_t *count, char *err,
                       size_t errlen)
{
    struct found_list files = {0};
    if (list_dir(f, true, &files, err, errlen) != 0 ||
        list_dir(f, false, &files, err, errlen) != 0) {
        found_list_free(&files);
        return -1;
    }
    if (files.count > 1)
        qsort(files.items, files.count, sizeof *files.items, compare_found_by_base);
    drop_duplicates(&files);
    *msgs = files.items;
    *count = files.count;
    return 0;
}

void mbox_found_free(struct found *msgs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(msgs[i].name);
    free(msgs);
}
