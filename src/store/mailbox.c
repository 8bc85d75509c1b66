/*
 * A session's view of a folder: the snapshot it last synced, ordered by UID, and the diff
 * between that and a fresh sync, reported the way IMAP needs it (mailbox.h). Refreshes are
 * cheap when nothing changed: three stat() calls against the stamp of the last sync.
 */
#include "store/mailbox_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void mailbox_changes_free(struct mailbox_changes *changes)
{
    if (!changes)
        return;
    free(changes->expunged);
    free(changes->flags_changed);
    memset(changes, 0, sizeof *changes);
}

/* ---- Accessors ---- */

size_t mailbox_count(const struct mailbox *mb)
{
    return mb->count;
}

const struct mailbox_message *mailbox_message(const struct mailbox *mb, size_t index)
{
    return index < mb->count ? &mb->msgs[index].msg : NULL;
}

uint32_t mailbox_uidvalidity(const struct mailbox *mb)
{
    return mb->uidvalidity;
}

uint32_t mailbox_uidnext(const struct mailbox *mb)
{
    return mb->uidnext;
}

uint32_t mailbox_recent_count(const struct mailbox *mb)
{
    return mb->recent;
}

long mailbox_find_uid(const struct mailbox *mb, uint32_t uid)
{
    size_t low = 0, high = mb->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        uint32_t here = mb->msgs[mid].msg.uid;
        if (here == uid)
            return (long)mid;
        if (here < uid)
            low = mid + 1;
        else
            high = mid;
    }
    return -1;
}

/* ---- Applying a snapshot ---- */

/* What one refresh produces before it replaces the view; allocated up front so that applying
 * it cannot fail halfway. */
struct diff {
    struct view_msg *msgs;
    size_t count;
    uint32_t *expunged, *flags_changed;
    size_t nexpunged, nflags_changed, added;
};

static int diff_alloc(struct diff *d, size_t old_count, size_t new_count)
{
    memset(d, 0, sizeof *d);
    d->msgs = malloc((new_count + 1) * sizeof *d->msgs);
    d->expunged = malloc((old_count + 1) * sizeof *d->expunged);
    d->flags_changed = malloc((old_count + 1) * sizeof *d->flags_changed);
    if (d->msgs && d->expunged && d->flags_changed)
        return 0;
    free(d->msgs);
    free(d->expunged);
    free(d->flags_changed);
    return -1;
}

/* size and internal date come from the file; a file gone already reads as empty and the next
 * refresh reports its expunge. */
static void fill_from_file(const struct folder *f, struct view_msg *v)
{
    char path[PATH_MAX];
    struct stat st;
    msgfile_path(path, f, v->name, v->in_new);
    if (stat(path, &st) == 0) {
        v->msg.size = (uint64_t)st.st_size;
        v->msg.internal_date = st.st_mtime;
    }
}

static void take_new(struct mailbox *mb, struct diff *d, struct found *m, uint32_t recent_floor)
{
    struct view_msg *v = &d->msgs[d->count++];
    *v = (struct view_msg){.name = m->name, .base_len = m->base_len, .in_new = m->in_new};
    m->name = NULL; /* now owned by the view */
    v->msg.uid = m->uid;
    v->msg.flags = m->flags | (m->uid > recent_floor ? MAILBOX_RECENT : 0);
    fill_from_file(&mb->folder, v);
    d->added++;
}

static void take_known(struct diff *d, struct view_msg *old, struct found *m)
{
    struct view_msg *v = &d->msgs[d->count++];
    *v = *old;
    free(v->name);
    v->name = m->name;
    m->name = NULL;
    v->in_new = m->in_new;
    v->missing = false;
    uint32_t recent = old->msg.flags & MAILBOX_RECENT;
    if ((old->msg.flags & ~MAILBOX_RECENT) != m->flags)
        d->flags_changed[d->nflags_changed++] = (uint32_t)d->count;
    v->msg.flags = m->flags | recent;
}

/* A merge of the old view and the snapshot, both in UID order. A snapshot UID below the
 * view's highest that the view never had cannot be shown (IMAP numbers new messages after the
 * old ones) and waits for the next SELECT; with a sane uid list it does not happen. */
static void merge(struct mailbox *mb, struct snapshot *snap, bool start_over, struct diff *d)
{
    size_t i = 0, j = 0;
    uint32_t highest_old = mb->count && !start_over ? mb->msgs[mb->count - 1].msg.uid : 0;
    while (i < mb->count || j < snap->count) {
        struct view_msg *old = i < mb->count ? &mb->msgs[i] : NULL;
        struct found *m = j < snap->count ? &snap->msgs[j] : NULL;
        if (old && (start_over || !m || old->msg.uid < m->uid)) {
            d->expunged[d->nexpunged++] = (uint32_t)(i + 1);
            free(old->name);
            i++;
        } else if (!old || m->uid < old->msg.uid) {
            if (m->uid > highest_old)
                take_new(mb, d, m, snap->recent_floor);
            j++;
        } else {
            take_known(d, old, m);
            i++;
            j++;
        }
    }
}

static void reverse(uint32_t *values, size_t n)
{
    for (size_t a = 0, b = n; a + 1 < b; a++, b--) {
        uint32_t t = values[a];
        values[a] = values[b - 1];
        values[b - 1] = t;
    }
}

static void report(const struct mailbox *mb, struct diff *d, bool start_over,
                   struct mailbox_changes *changes)
{
    if (!changes) {
        free(d->expunged);
        free(d->flags_changed);
        return;
    }
    reverse(d->expunged, d->nexpunged); /* highest first: see mailbox.h */
    changes->expunged = d->expunged;
    changes->nexpunged = d->nexpunged;
    changes->flags_changed = d->flags_changed;
    changes->nflags_changed = d->nflags_changed;
    changes->exists = (uint32_t)mb->count;
    changes->recent = mb->recent;
    changes->exists_changed = d->added > 0;
    changes->uidvalidity_changed = start_over;
}

static int view_apply(struct mailbox *mb, struct snapshot *snap, struct mailbox_changes *changes,
                      char *err, size_t errlen)
{
    struct diff d;
    if (diff_alloc(&d, mb->count, snap->count) != 0)
        return error_text(err, errlen, "out of memory");
    bool start_over = mb->uidvalidity != 0 && mb->uidvalidity != snap->uidvalidity;
    merge(mb, snap, start_over, &d);
    free(mb->msgs);
    mb->msgs = d.msgs;
    mb->count = d.count;
    mb->recent = 0;
    for (size_t i = 0; i < mb->count; i++)
        mb->recent += (mb->msgs[i].msg.flags & MAILBOX_RECENT) != 0;
    mb->uidvalidity = snap->uidvalidity;
    mb->uidnext = snap->uidnext;
    mb->stamp = snap->stamp;
    report(mb, &d, start_over, changes);
    return 0;
}

static int view_sync(struct mailbox *mb, struct mailbox_changes *changes, char *err,
                     size_t errlen)
{
    if (!mbox_folder_exists(&mb->folder))
        return error_text(err, errlen, "mailbox %s has been deleted or renamed", mb->folder.name);
    int lock = mbox_lock(mb->folder.path, UIDLIST_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    struct snapshot snap;
    enum recency recency = mb->read_only ? RECENCY_PEEK : RECENCY_CLAIM;
    int rc = mbox_folder_sync(&mb->folder, recency, &snap, err, errlen);
    mbox_unlock(lock);
    if (rc == 0)
        rc = view_apply(mb, &snap, changes, err, errlen);
    mbox_snapshot_free(&snap);
    return rc;
}

/* ---- Opening and refreshing ---- */

struct mailbox *mailbox_open(const char *data_dir, const char *account, const char *name,
                             bool read_only, char *err, size_t errlen)
{
    struct mailbox *mb = calloc(1, sizeof *mb);
    if (!mb) {
        error_text(err, errlen, "out of memory");
        return NULL;
    }
    mb->read_only = read_only;
    if (mbox_folder_open(&mb->folder, data_dir, account, name, err, errlen) != 0 ||
        view_sync(mb, NULL, err, errlen) != 0) {
        mailbox_close(mb);
        return NULL;
    }
    return mb;
}

void mailbox_close(struct mailbox *mb)
{
    if (!mb)
        return;
    for (size_t i = 0; i < mb->count; i++)
        free(mb->msgs[i].name);
    free(mb->msgs);
    free(mb);
}

int mailbox_refresh(struct mailbox *mb, struct mailbox_changes *changes, char *err,
                    size_t errlen)
{
    if (changes)
        memset(changes, 0, sizeof *changes);
    struct folder_stamp now;
    mbox_stamp_take(&mb->folder, &now);
    if (!mbox_stamp_same(&now, &mb->stamp))
        return view_sync(mb, changes, err, errlen);
    if (changes) {
        changes->exists = (uint32_t)mb->count;
        changes->recent = mb->recent;
    }
    return 0;
}
