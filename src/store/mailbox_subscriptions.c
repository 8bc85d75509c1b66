/*
 * Subscriptions: DATA_DIR/<account>/subscriptions holds one folder name per line, as IMAP
 * names them ('.' between levels), no header: the format Dovecot's Maildir++ storage used
 * before version 2.3. Dovecot 2.3 writes a "V\t2" header line, an empty line, then names with
 * a tab between levels; that format is read as well (and rewritten in ours on the next change),
 * so subscriptions survive a move from Dovecot. Names that are not valid folder names are
 * dropped. Changes happen under the account lock and replace the file atomically.
 * Subscribing does not need the folder to exist (RFC 3501 6.3.6); unsubscribing a name that is
 * not subscribed is not an error.
 */
#include "store/mailbox_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

#define SUBSCRIPTIONS_MAX_BYTES ((size_t)4 << 20)
#define DOVECOT_V2_HEADER "V\t2"

static int compare_names(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static void sort_unique(struct name_list *list)
{
    if (list->count > 1) /* qsort() must not see the NULL of an empty list */
        qsort(list->items, list->count, sizeof *list->items, compare_names);
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (kept > 0 && strcmp(list->items[kept - 1], list->items[i]) == 0) {
            free(list->items[i]);
            continue;
        }
        list->items[kept++] = list->items[i];
    }
    list->count = kept;
}

/* One line: in the Dovecot 2.3 format tabs separate the levels. */
static int add_line(struct name_list *out, char *line, bool tabs_separate)
{
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (tabs_separate) {
        for (char *p = line; *p; p++)
            *p = *p == '\t' ? '.' : *p;
    }
    if (mailbox_name_problem(line))
        return 0;
    char name[MAILBOX_NAME_MAX + 1];
    mbox_canonical_name(line, name);
    return mbox_name_list_add(out, name);
}

static int parse_subscriptions(char *text, struct name_list *out)
{
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    bool dovecot_v2 = line && strcmp(line, DOVECOT_V2_HEADER) == 0;
    if (dovecot_v2)
        line = strtok_r(NULL, "\n", &save); /* strtok_r also skips the empty line after it */
    for (; line; line = strtok_r(NULL, "\n", &save)) {
        if (add_line(out, line, dovecot_v2) != 0)
            return -1;
    }
    return 0;
}

static int read_subscriptions(const char *account_dir, struct name_list *out, char *err,
                              size_t errlen)
{
    char path[PATH_MAX], *text;
    size_t len;
    mbox_path(path, account_dir, SUBSCRIPTIONS_FILE, NULL);
    if (mbox_read_file(path, SUBSCRIPTIONS_MAX_BYTES, &text, &len) != 0)
        return errno == ENOENT ? 0 : error_text(err, errlen, "read %s: %s", path, strerror(errno));
    int rc = parse_subscriptions(text, out);
    free(text);
    if (rc != 0)
        return error_text(err, errlen, "out of memory");
    sort_unique(out);
    return 0;
}

static int write_subscriptions(const char *account_dir, const struct name_list *list, char *err,
                               size_t errlen)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < list->count; i++)
        strbuf_printf(&sb, "%s\n", list->items[i]);
    int rc = sb.failed ? error_text(err, errlen, "out of memory")
                       : mbox_write_atomically(account_dir, SUBSCRIPTIONS_FILE, sb.data, sb.len,
                                               err, errlen);
    strbuf_free(&sb);
    return rc;
}

/* Adds or removes name; *changed says whether the list differs now. */
static int toggle(struct name_list *list, const char *name, bool on, bool *changed)
{
    size_t i = 0;
    while (i < list->count && strcmp(list->items[i], name) != 0)
        i++;
    bool present = i < list->count;
    *changed = present != on;
    if (!*changed)
        return 0;
    if (on)
        return mbox_name_list_add(list, name);
    free(list->items[i]);
    list->items[i] = list->items[--list->count];
    return 0;
}

static int update(const struct folder *f, bool on, char *err, size_t errlen)
{
    struct name_list list = {0};
    bool changed = false;
    int rc = read_subscriptions(f->account_dir, &list, err, errlen);
    if (rc == 0 && toggle(&list, f->name, on, &changed) != 0)
        rc = error_text(err, errlen, "out of memory");
    if (rc == 0 && changed) {
        sort_unique(&list);
        rc = write_subscriptions(f->account_dir, &list, err, errlen);
    }
    mailbox_names_free(list.items, list.count);
    return rc;
}

int mailbox_subscribe(const char *data_dir, const char *account, const char *name, bool on,
                      char *err, size_t errlen)
{
    struct folder f;
    if (mbox_folder_locate(&f, data_dir, account, name, err, errlen) != 0)
        return -1;
    int lock = mbox_lock(f.account_dir, ACCOUNT_LOCK_FILE, err, errlen);
    if (lock < 0)
        return -1;
    int rc = update(&f, on, err, errlen);
    mbox_unlock(lock);
    return rc;
}

int mailbox_subscriptions(const char *data_dir, const char *account, char ***names, size_t *count,
                          char *err, size_t errlen)
{
    struct folder inbox;
    struct name_list list = {0};
    *names = NULL;
    *count = 0;
    if (mbox_folder_locate(&inbox, data_dir, account, "INBOX", err, errlen) != 0)
        return -1;
    /* No lock: the file is only ever replaced whole. */
    if (read_subscriptions(inbox.account_dir, &list, err, errlen) != 0) {
        mailbox_names_free(list.items, list.count);
        return -1;
    }
    *names = list.items;
    *count = list.count;
    return 0;
}
