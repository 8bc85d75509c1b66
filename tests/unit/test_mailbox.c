/*
 * The Maildir++ mailbox layer in a temporary data directory: deliveries picked up with UIDs
 * that survive reopening, \Recent given to exactly one session, flags as file name suffixes,
 * two sessions seeing each other's changes, expunge order, COPY/APPEND with UIDPLUS data,
 * folder and subscription rules, concurrent appends, damaged uid lists, odd files, and a
 * 10 000-message folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "store/mailbox.h"
#include "store/maildir.h"
#include "sandbox_test_util.h"

#define ACCOUNT "alice"
#define ERR_LEN MAILBOX_ERROR_MAX
#define MAX_NAMES 64

/* ---- Helpers ---- */

/* DATA/alice[/.FOLDER][/SUB] */
static void folder_dir(char *out, size_t cap, const struct sandbox *box, const char *folder,
                       const char *sub)
{
    snprintf(out, cap, "%s/%s%s%s%s%s", box->data_dir, ACCOUNT, folder ? "/." : "",
             folder ? folder : "", sub ? "/" : "", sub ? sub : "");
}

/* A/B, checked to fit */
static void join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    assert_true(n > 0 && (size_t)n < cap);
}

static void deliver(const struct sandbox *box, const char *text)
{
    char err[ERR_LEN] = "";
    const char *accounts[] = {ACCOUNT};
    struct iovec part = {(void *)text, strlen(text)};
    if (maildir_deliver(box->data_dir, accounts, 1, &part, 1, err, sizeof err) != 0)
        fail_msg("deliver: %s", err);
}

static void deliver_n(const struct sandbox *box, int n)
{
    for (int i = 0; i < n; i++) {
        char text[64];
        snprintf(text, sizeof text, "Subject: %d\r\n\r\nbody %d\r\n", i, i);
        deliver(box, text);
    }
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of a directory (without . and ..); returns how many. */
static size_t dir_names(const char *path, char **names, size_t cap)
{
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    size_t n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 && n < cap)
            names[n++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, compare_strings);
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

static size_t dir_count(const char *path)
{
    char *names[MAX_NAMES];
    size_t n = dir_names(path, names, MAX_NAMES);
    free_names(names, n);
    return n;
}

/* Entries of a directory of any size, without . and .. */
static size_t dir_count_all(const char *path)
{
    DIR *dir = opendir(path);
    assert_non_null(dir);
    size_t n = 0;
    for (struct dirent *entry; (entry = readdir(dir));)
        n += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    closedir(dir);
    return n;
}

static struct mailbox *open_box(const struct sandbox *box, const char *name, bool read_only)
{
    char err[ERR_LEN] = "";
    struct mailbox *mb = mailbox_open(box->data_dir, ACCOUNT, name, read_only, err, sizeof err);
    if (!mb)
        fail_msg("open %s: %s", name, err);
    return mb;
}

static void refresh(struct mailbox *mb, struct mailbox_changes *changes)
{
    char err[ERR_LEN] = "";
    if (mailbox_refresh(mb, changes, err, sizeof err) != 0)
        fail_msg("refresh: %s", err);
}

static void set_flags(struct mailbox *mb, size_t index, uint32_t flags)
{
    char err[ERR_LEN] = "";
    if (mailbox_set_flags(mb, index, flags, err, sizeof err) != 0)
        fail_msg("set flags: %s", err);
}

static void create(const struct sandbox *box, const char *name)
{
    char err[ERR_LEN] = "";
    if (mailbox_create(box->data_dir, ACCOUNT, name, err, sizeof err) != 0)
        fail_msg("create %s: %s", name, err);
}

static struct mailbox_status status_of(const struct sandbox *box, const char *name)
{
    char err[ERR_LEN] = "";
    struct mailbox_status st;
    if (mailbox_status(box->data_dir, ACCOUNT, name, &st, err, sizeof err) != 0)
        fail_msg("status %s: %s", name, err);
    return st;
}

static char *read_text(const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return NULL;
    char *data = calloc(1, 1 << 20);
    size_t n = fread(data, 1, (1 << 20) - 1, in);
    data[n] = '\0';
    fclose(in);
    return data;
}

static void write_text(const char *path, const char *text)
{
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    fputs(text, out);
    assert_int_equal(fclose(out), 0);
}

static void uidlist_path(char *out, size_t cap, const struct sandbox *box, const char *folder)
{
    char dir[512];
    folder_dir(dir, sizeof dir, box, folder, NULL);
    join(out, cap, dir, "postern-uidlist");
}

/* ---- Names ---- */

static void test_name_problems(void **state)
{
    (void)state;
    const char *good[] = {"INBOX", "Work", "Work.Projects", "a b", "&AOQ-bc", "A&-B", "x~y"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (mailbox_name_problem(good[i]))
            fail_msg("%s refused: %s", good[i], mailbox_name_problem(good[i]));
    }
    char long_name[MAILBOX_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *bad[] = {"", ".hidden", "a..b", "a.", "..", "a/b", "/etc", "tab\there",
                         "del\x7f", "caf\xc3\xa9", "wild*", "wild%", "&AOQ", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!mailbox_name_problem(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    }
    long_name[MAILBOX_NAME_MAX] = '\0';
    assert_null(mailbox_name_problem(long_name));
}

/* ---- Deliveries, UIDs, \Recent ---- */

static void test_open_creates_inbox(void **state)
{
    struct sandbox *box = *state;
    struct mailbox *mb = open_box(box, "inbox", false);
    assert_int_equal(mailbox_count(mb), 0);
    assert_int_equal(mailbox_uidnext(mb), 1);
    assert_true(mailbox_uidvalidity(mb) > 0);
    char path[512];
    folder_dir(path, sizeof path, box, NULL, "cur");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uidlist_path(path, sizeof path, box, NULL);
    char *text = read_text(path);
    assert_non_null(text);
    char expect[64];
    snprintf(expect, sizeof expect, "V%u N1 R0\n", mailbox_uidvalidity(mb));
    assert_string_equal(text, expect);
    free(text);
    mailbox_close(mb);
}

static void test_deliveries_get_uids(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 3);
    struct mailbox *mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_count(mb), 3);
    for (size_t i = 0; i < 3; i++) {
        const struct mailbox_message *m = mailbox_message(mb, i);
        assert_int_equal(m->uid, i + 1);
        assert_int_equal(m->flags, MAILBOX_RECENT);
        assert_true(m->size > 10);
        assert_true(m->internal_date > 0);
    }
    assert_int_equal(mailbox_recent_count(mb), 3);
    assert_int_equal(mailbox_uidnext(mb), 4);
    assert_null(mailbox_message(mb, 3));
    assert_int_equal(mailbox_find_uid(mb, 2), 1);
    assert_int_equal(mailbox_find_uid(mb, 9), -1);
    char path[512], *names[MAX_NAMES];
    folder_dir(path, sizeof path, box, NULL, "new");
    assert_int_equal(dir_count(path), 0);
    folder_dir(path, sizeof path, box, NULL, "cur");
    size_t n = dir_names(path, names, MAX_NAMES);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) { /* moved with the base name kept, ":2," appended */
        size_t len = strlen(names[i]);
        assert_string_equal(names[i] + len - 3, ":2,");
    }
    /* The uid list: header, then "uid base" in UID order, bases in file name order. */
    char list_path[512];
    uidlist_path(list_path, sizeof list_path, box, NULL);
    char *text = read_text(list_path), expect[2048];
    int off = snprintf(expect, sizeof expect, "V%u N4 R3\n", mailbox_uidvalidity(mb));
    for (size_t i = 0; i < n; i++)
        off += snprintf(expect + off, sizeof expect - (size_t)off, "%zu %.*s\n", i + 1,
                        (int)(strlen(names[i]) - 3), names[i]);
    assert_string_equal(text, expect);
    free(text);
    free_names(names, n);
    char *data, err[ERR_LEN];
    size_t len;
    assert_int_equal(mailbox_read(mb, 2, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, mailbox_message(mb, 2)->size);
    assert_non_null(strstr(data, "Subject: "));
    free(data);
    mailbox_close(mb);
}

static void test_uids_stable_across_reopen(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 2);
    struct mailbox *mb = open_box(box, "INBOX", false);
    uint32_t validity = mailbox_uidvalidity(mb);
    mailbox_close(mb);
    deliver_n(box, 2);
    mb = open_box(box, "INBOX", true);
    assert_int_equal(mailbox_uidvalidity(mb), validity);
    assert_int_equal(mailbox_count(mb), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(mailbox_message(mb, i)->uid, i + 1);
    mailbox_close(mb);
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_uidvalidity(mb), validity);
    assert_int_equal(mailbox_message(mb, 3)->uid, 4);
    mailbox_close(mb);
}

static void test_recent_exactly_once(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 2);
    struct mailbox *peek = open_box(box, "INBOX", true); /* EXAMINE sees, does not claim */
    assert_int_equal(mailbox_recent_count(peek), 2);
    struct mailbox *a = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_recent_count(a), 2);
    struct mailbox *b = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_recent_count(b), 0);
    deliver_n(box, 1);
    struct mailbox_changes changes;
    refresh(b, &changes); /* b sees the delivery first */
    assert_true(changes.exists_changed);
    assert_int_equal(changes.exists, 3);
    assert_int_equal(changes.recent, 1);
    assert_true(mailbox_message(b, 2)->flags & MAILBOX_RECENT);
    mailbox_changes_free(&changes);
    refresh(a, &changes);
    assert_int_equal(changes.exists, 3);
    assert_int_equal(changes.recent, 2); /* the first two, still recent to a */
    assert_false(mailbox_message(a, 2)->flags & MAILBOX_RECENT);
    mailbox_changes_free(&changes);
    struct mailbox_status st = status_of(box, "INBOX");
    assert_int_equal(st.recent, 0);
    assert_int_equal(st.messages, 3);
    mailbox_close(peek);
    mailbox_close(a);
    mailbox_close(b);
}

/* ---- Flags ---- */

static const char *cur_name_of(const struct sandbox *box, const char *folder, char *out,
                               size_t cap)
{
    char path[512], *names[MAX_NAMES];
    folder_dir(path, sizeof path, box, folder, "cur");
    size_t n = dir_names(path, names, MAX_NAMES);
    assert_int_equal(n, 1);
    snprintf(out, cap, "%s", names[0]);
    free_names(names, n);
    return strchr(out, ':');
}

static void test_flags_in_file_names(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 1);
    struct mailbox *mb = open_box(box, "INBOX", false);
    char name[512];
    set_flags(mb, 0, MAILBOX_SEEN | MAILBOX_FLAGGED | MAILBOX_RECENT);
    assert_string_equal(cur_name_of(box, NULL, name, sizeof name), ":2,FS");
    assert_int_equal(mailbox_message(mb, 0)->flags,
                     MAILBOX_SEEN | MAILBOX_FLAGGED | MAILBOX_RECENT); /* \Recent stays */
    set_flags(mb, 0,
              MAILBOX_SEEN | MAILBOX_FLAGGED | MAILBOX_DELETED | MAILBOX_DRAFT | MAILBOX_ANSWERED);
    assert_string_equal(cur_name_of(box, NULL, name, sizeof name), ":2,DFRST");
    set_flags(mb, 0, 0);
    assert_string_equal(cur_name_of(box, NULL, name, sizeof name), ":2,");
    /* Letters we do not know (Dovecot keywords) survive our renames, sorted ASCII. */
    char from[1024], to[1024], dir[512];
    folder_dir(dir, sizeof dir, box, NULL, "cur");
    cur_name_of(box, NULL, name, sizeof name);
    join(from, sizeof from, dir, name);
    char renamed[600];
    snprintf(renamed, sizeof renamed, "%sSa", name);
    join(to, sizeof to, dir, renamed);
    assert_int_equal(rename(from, to), 0);
    struct mailbox_changes changes;
    refresh(mb, &changes);
    assert_int_equal(changes.nflags_changed, 1);
    assert_int_equal(changes.flags_changed[0], 1);
    assert_int_equal(mailbox_message(mb, 0)->flags, MAILBOX_SEEN | MAILBOX_RECENT);
    mailbox_changes_free(&changes);
    set_flags(mb, 0, MAILBOX_SEEN | MAILBOX_FLAGGED);
    assert_string_equal(cur_name_of(box, NULL, name, sizeof name), ":2,FSa");
    mailbox_close(mb);
}

static void test_read_only_refuses_changes(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 1);
    struct mailbox *mb = open_box(box, "INBOX", true);
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_set_flags(mb, 0, MAILBOX_SEEN, err, sizeof err), -1);
    assert_non_null(strstr(err, "read-only"));
    struct mailbox_changes changes;
    assert_int_equal(mailbox_expunge(mb, NULL, 0, &changes, err, sizeof err), -1);
    assert_int_equal(mailbox_set_flags(mb, 5, MAILBOX_SEEN, err, sizeof err), -1);
    mailbox_close(mb);
}

/* ---- Two sessions ---- */

static void test_two_views_see_each_other(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 4);
    struct mailbox *a = open_box(box, "INBOX", false);
    struct mailbox *b = open_box(box, "INBOX", false);
    struct mailbox_changes changes;
    set_flags(a, 1, MAILBOX_SEEN);
    refresh(b, &changes);
    assert_int_equal(changes.nexpunged, 0);
    assert_int_equal(changes.nflags_changed, 1);
    assert_int_equal(changes.flags_changed[0], 2);
    assert_false(changes.exists_changed);
    assert_int_equal(mailbox_message(b, 1)->flags, MAILBOX_SEEN);
    mailbox_changes_free(&changes);
    /* a expunges 1 and 3; b hears about it highest first, then a flag change on the rest */
    set_flags(a, 0, MAILBOX_DELETED);
    set_flags(a, 2, MAILBOX_DELETED);
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_expunge(a, NULL, 0, &changes, err, sizeof err), 0);
    assert_int_equal(changes.nexpunged, 2);
    assert_int_equal(changes.expunged[0], 3);
    assert_int_equal(changes.expunged[1], 1);
    assert_int_equal(changes.exists, 2);
    mailbox_changes_free(&changes);
    set_flags(a, 1, MAILBOX_FLAGGED); /* was UID 4, sequence 4 in b */
    refresh(b, &changes);
    assert_int_equal(changes.nexpunged, 2);
    assert_int_equal(changes.expunged[0], 3);
    assert_int_equal(changes.expunged[1], 1);
    assert_int_equal(changes.nflags_changed, 1);
    assert_int_equal(changes.flags_changed[0], 2); /* numbered after the expunges */
    assert_int_equal(changes.exists, 2);
    assert_int_equal(mailbox_count(b), 2);
    assert_int_equal(mailbox_message(b, 0)->uid, 2);
    assert_int_equal(mailbox_message(b, 1)->uid, 4);
    assert_int_equal(mailbox_message(b, 1)->flags, MAILBOX_FLAGGED);
    mailbox_changes_free(&changes);
    refresh(a, &changes); /* a's own changes are not news to a */
    assert_int_equal(changes.nexpunged + changes.nflags_changed, 0);
    mailbox_changes_free(&changes);
    mailbox_close(a);
    mailbox_close(b);
}

static void test_stale_names_are_followed(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 2);
    struct mailbox *a = open_box(box, "INBOX", false);
    struct mailbox *b = open_box(box, "INBOX", false);
    set_flags(a, 0, MAILBOX_SEEN);
    /* b still knows the old file name: reading and flagging find the renamed file */
    char *data, err[ERR_LEN] = "";
    size_t len;
    assert_int_equal(mailbox_read(b, 0, &data, &len, err, sizeof err), 0);
    free(data);
    set_flags(b, 0, MAILBOX_FLAGGED | MAILBOX_SEEN);
    char path[512], *names[MAX_NAMES];
    folder_dir(path, sizeof path, box, NULL, "cur");
    size_t n = dir_names(path, names, MAX_NAMES);
    assert_int_equal(n, 2);
    int with_fs = 0;
    for (size_t i = 0; i < n; i++)
        with_fs += strstr(names[i], ":2,FS") != NULL;
    assert_int_equal(with_fs, 1);
    free_names(names, n);
    /* a message expunged by a: b cannot read or flag it, and hears of the expunge */
    set_flags(a, 1, MAILBOX_DELETED);
    struct mailbox_changes changes;
    assert_int_equal(mailbox_expunge(a, NULL, 0, &changes, err, sizeof err), 0);
    mailbox_changes_free(&changes);
    assert_int_equal(mailbox_read(b, 1, &data, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "expunged"));
    assert_int_equal(mailbox_set_flags(b, 1, MAILBOX_SEEN, err, sizeof err), -1);
    refresh(b, &changes);
    assert_int_equal(changes.nexpunged, 1);
    assert_int_equal(changes.expunged[0], 2);
    mailbox_changes_free(&changes);
    mailbox_close(a);
    mailbox_close(b);
}

/* ---- Expunge ---- */

static void test_expunge_order_and_uid_expunge(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 5);
    struct mailbox *mb = open_box(box, "INBOX", false);
    set_flags(mb, 1, MAILBOX_DELETED);
    set_flags(mb, 2, MAILBOX_DELETED | MAILBOX_SEEN);
    set_flags(mb, 4, MAILBOX_DELETED);
    struct mailbox_changes changes;
    char err[ERR_LEN] = "";
    const uint32_t uids[] = {5, 1, 3}; /* UID EXPUNGE 1,3,5: 1 is not \Deleted */
    assert_int_equal(mailbox_expunge(mb, uids, 3, &changes, err, sizeof err), 0);
    assert_int_equal(changes.nexpunged, 2);
    assert_int_equal(changes.expunged[0], 5);
    assert_int_equal(changes.expunged[1], 3);
    assert_int_equal(changes.exists, 3);
    mailbox_changes_free(&changes);
    assert_int_equal(mailbox_count(mb), 3);
    assert_int_equal(mailbox_message(mb, 1)->uid, 2);
    assert_int_equal(mailbox_expunge(mb, NULL, 0, &changes, err, sizeof err), 0);
    assert_int_equal(changes.nexpunged, 1);
    assert_int_equal(changes.expunged[0], 2);
    mailbox_changes_free(&changes);
    assert_int_equal(mailbox_count(mb), 2);
    mailbox_close(mb);
    /* the uid list forgot them; UIDs are never reused */
    char path[512];
    uidlist_path(path, sizeof path, box, NULL);
    char *text = read_text(path);
    assert_non_null(strstr(text, " N6 "));
    assert_non_null(strstr(text, "\n1 "));
    assert_non_null(strstr(text, "\n4 "));
    assert_null(strstr(text, "\n2 "));
    assert_null(strstr(text, "\n3 "));
    assert_null(strstr(text, "\n5 "));
    free(text);
    deliver_n(box, 1);
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_message(mb, 2)->uid, 6);
    mailbox_close(mb);
}

/* ---- COPY and APPEND ---- */

static void test_copy_returns_uidplus_data(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 2);
    create(box, "Archive");
    struct mailbox *mb = open_box(box, "INBOX", false);
    set_flags(mb, 1, MAILBOX_SEEN | MAILBOX_ANSWERED);
    uint32_t uid = 0, validity = 0;
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_copy(mb, 1, "Archive", &uid, &validity, err, sizeof err), 0);
    assert_int_equal(uid, 1);
    struct mailbox_status st = status_of(box, "Archive");
    assert_int_equal(validity, st.uidvalidity);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.uidnext, 2);
    assert_int_equal(st.unseen, 0);
    char name[512];
    assert_string_equal(cur_name_of(box, "Archive", name, sizeof name), ":2,RS");
    /* a hard link of the same file, under a new unique name */
    char src_dir[512], dst_path[1024];
    folder_dir(src_dir, sizeof src_dir, box, "Archive", "cur");
    join(dst_path, sizeof dst_path, src_dir, name);
    struct stat st_dst;
    assert_int_equal(stat(dst_path, &st_dst), 0);
    assert_int_equal(st_dst.st_nlink, 2);
    assert_int_equal(mailbox_copy(mb, 0, "Archive", &uid, &validity, err, sizeof err), 0);
    assert_int_equal(uid, 2);
    assert_int_equal(mailbox_copy(mb, 0, "Nowhere", &uid, &validity, err, sizeof err), -1);
    assert_false(mailbox_folder_exists(box->data_dir, ACCOUNT, "Nowhere"));
    assert_true(mailbox_folder_exists(box->data_dir, ACCOUNT, "Archive"));
    assert_true(mailbox_folder_exists(box->data_dir, ACCOUNT, "inbox"));
    mailbox_close(mb);
    struct mailbox *archive = open_box(box, "Archive", false);
    assert_int_equal(mailbox_count(archive), 2);
    assert_int_equal(mailbox_message(archive, 0)->flags,
                     MAILBOX_SEEN | MAILBOX_ANSWERED | MAILBOX_RECENT);
    mailbox_close(archive);
}

static void test_append_with_date_and_flags(void **state)
{
    struct sandbox *box = *state;
    create(box, "Drafts");
    static const char text[] = "Subject: draft\r\n\r\nhello\r\n";
    const time_t date = 1000000000;
    uint32_t uid = 0, validity = 0;
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_append(box->data_dir, ACCOUNT, "Drafts", text, strlen(text),
                                    MAILBOX_DRAFT | MAILBOX_SEEN | MAILBOX_RECENT, date, &uid,
                                    &validity, err, sizeof err),
                     0);
    assert_int_equal(uid, 1);
    assert_int_equal(validity, status_of(box, "Drafts").uidvalidity);
    char name[512], path[1024], dir[512];
    assert_string_equal(cur_name_of(box, "Drafts", name, sizeof name), ":2,DS");
    folder_dir(dir, sizeof dir, box, "Drafts", "cur");
    join(path, sizeof path, dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mtime, date);
    folder_dir(dir, sizeof dir, box, "Drafts", "tmp");
    assert_int_equal(dir_count(dir), 0);
    struct mailbox *mb = open_box(box, "Drafts", false);
    const struct mailbox_message *m = mailbox_message(mb, 0);
    assert_int_equal(m->uid, 1);
    assert_int_equal(m->internal_date, date);
    assert_int_equal(m->size, strlen(text));
    assert_int_equal(m->flags, MAILBOX_DRAFT | MAILBOX_SEEN | MAILBOX_RECENT);
    char *data;
    size_t len;
    assert_int_equal(mailbox_read(mb, 0, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(data, text, len);
    free(data);
    /* appended while selected: the next refresh shows it */
    assert_int_equal(mailbox_append(box->data_dir, ACCOUNT, "drafts", text, 3, 0, 0, &uid,
                                    &validity, err, sizeof err),
                     -1); /* folder names other than INBOX are case-sensitive */
    assert_int_equal(mailbox_append(box->data_dir, ACCOUNT, "Drafts", text, 3, 0, 0, &uid,
                                    &validity, err, sizeof err),
                     0);
    assert_int_equal(uid, 2);
    struct mailbox_changes changes;
    refresh(mb, &changes);
    assert_true(changes.exists_changed);
    assert_int_equal(changes.exists, 2);
    mailbox_changes_free(&changes);
    assert_true(mailbox_message(mb, 1)->internal_date >= time(NULL) - 60);
    mailbox_close(mb);
}

/* ---- STATUS ---- */

static void test_status_counts(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 3);
    struct mailbox_status st = status_of(box, "INBOX");
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.recent, 3);
    assert_int_equal(st.unseen, 3);
    assert_int_equal(st.uidnext, 4);
    struct mailbox *mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_recent_count(mb), 3); /* STATUS did not claim them */
    set_flags(mb, 0, MAILBOX_SEEN);
    mailbox_close(mb);
    st = status_of(box, "INBOX");
    assert_int_equal(st.recent, 0);
    assert_int_equal(st.unseen, 2);
    assert_int_equal(st.uidvalidity, status_of(box, "inbox").uidvalidity);
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_status(box->data_dir, ACCOUNT, "Missing", &st, err, sizeof err),
                     -1);
    assert_int_equal(mailbox_status(box->data_dir, "../x", "INBOX", &st, err, sizeof err), -1);
}

/* ---- Folders ---- */

static void expect_list(const struct sandbox *box, const char *const *expect, size_t n)
{
    char **names, err[ERR_LEN] = "";
    size_t count;
    if (mailbox_list(box->data_dir, ACCOUNT, &names, &count, err, sizeof err) != 0)
        fail_msg("list: %s", err);
    if (count != n)
        fail_msg("%zu folders, expected %zu", count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], expect[i]);
    mailbox_names_free(names, count);
}

static void test_folder_create_and_list(void **state)
{
    struct sandbox *box = *state;
    create(box, "Work");
    create(box, "Work.Projects");
    create(box, "&AOQ-bc");
    create(box, "inbox.Sub"); /* INBOX as first level is spelled INBOX */
    const char *expect[] = {"INBOX", "&AOQ-bc", "INBOX.Sub", "Work", "Work.Projects"};
    expect_list(box, expect, 5);
    char path[512];
    struct stat st;
    const char *parts[] = {"cur", "new", "tmp", "maildirfolder", "postern-uidlist"};
    for (size_t i = 0; i < 5; i++) {
        folder_dir(path, sizeof path, box, "Work.Projects", parts[i]);
        if (stat(path, &st) != 0)
            fail_msg("missing %s", path);
    }
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_create(box->data_dir, ACCOUNT, "Work", err, sizeof err), -1);
    assert_non_null(strstr(err, "exists"));
    assert_int_equal(mailbox_create(box->data_dir, ACCOUNT, "Inbox", err, sizeof err), -1);
    const char *bad[] = {"a/b", ".x", "a..b", "..", "", "x.", "tab\t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mailbox_create(box->data_dir, ACCOUNT, bad[i], err, sizeof err), -1);
    assert_int_equal(mailbox_create(box->data_dir, "../evil", "x", err, sizeof err), -1);
    /* stray entries in the account directory are not folders */
    folder_dir(path, sizeof path, box, "NotAFolder", NULL);
    write_text(path, "x");
    folder_dir(path, sizeof path, box, "NoCur", NULL);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_list(box, expect, 5);
    struct mailbox *mb = open_box(box, "Work", false);
    assert_int_equal(mailbox_count(mb), 0);
    mailbox_close(mb);
    assert_null(mailbox_open(box->data_dir, ACCOUNT, "work", false, err, sizeof err));
    assert_non_null(strstr(err, "does not exist"));
}

static void test_folder_delete(void **state)
{
    struct sandbox *box = *state;
    create(box, "Work");
    create(box, "Work.Projects");
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_delete(box->data_dir, ACCOUNT, "INBOX", err, sizeof err), -1);
    assert_int_equal(mailbox_delete(box->data_dir, ACCOUNT, "inbox", err, sizeof err), -1);
    assert_int_equal(mailbox_delete(box->data_dir, ACCOUNT, "Missing", err, sizeof err), -1);
    struct mailbox *mb = open_box(box, "Work", false);
    assert_int_equal(mailbox_delete(box->data_dir, ACCOUNT, "Work", err, sizeof err), 0);
    const char *expect[] = {"INBOX", "Work.Projects"}; /* children survive (RFC 3501) */
    expect_list(box, expect, 2);
    struct mailbox_changes changes;
    assert_int_equal(mailbox_refresh(mb, &changes, err, sizeof err), -1);
    mailbox_close(mb);
    char path[512], *names[MAX_NAMES];
    folder_dir(path, sizeof path, box, NULL, NULL);
    size_t n = dir_names(path, names, MAX_NAMES);
    for (size_t i = 0; i < n; i++) /* nothing left of the deleted folder */
        assert_null(strstr(names[i], "..postern"));
    free_names(names, n);
}

static void test_uidvalidity_grows_when_recreated(void **state)
{
    struct sandbox *box = *state;
    char err[ERR_LEN] = "";
    uint32_t last = 0;
    for (int i = 0; i < 3; i++) { /* all within one second */
        create(box, "Again");
        uint32_t now = status_of(box, "Again").uidvalidity;
        assert_true(now > last);
        last = now;
        assert_int_equal(mailbox_delete(box->data_dir, ACCOUNT, "Again", err, sizeof err), 0);
    }
}

static void test_folder_rename(void **state)
{
    struct sandbox *box = *state;
    create(box, "A");
    create(box, "A.B");
    create(box, "AB");
    uint32_t uid, validity;
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_append(box->data_dir, ACCOUNT, "A.B", "x", 1, MAILBOX_SEEN, 0, &uid,
                                    &validity, err, sizeof err),
                     0);
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "A", "C", err, sizeof err), 0);
    const char *expect[] = {"INBOX", "AB", "C", "C.B"}; /* "AB" is no child of "A" */
    expect_list(box, expect, 4);
    struct mailbox_status st = status_of(box, "C.B");
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.uidnext, 2);
    assert_true(st.uidvalidity > validity);
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "C", "AB", err, sizeof err), -1);
    assert_non_null(strstr(err, "exists"));
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "C", "C.D", err, sizeof err), -1);
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "Missing", "E", err, sizeof err),
                     -1);
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "C", "INBOX", err, sizeof err), -1);
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "C", "bad/name", err, sizeof err),
                     -1);
    expect_list(box, expect, 4);
}

static void test_rename_inbox_moves_messages(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 2);
    struct mailbox *mb = open_box(box, "INBOX", false);
    set_flags(mb, 1, MAILBOX_FLAGGED);
    uint32_t inbox_validity = mailbox_uidvalidity(mb);
    mailbox_close(mb);
    create(box, "INBOX.Child");
    deliver_n(box, 1); /* still in new/ */
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_rename(box->data_dir, ACCOUNT, "INBOX", "Old", err, sizeof err), 0);
    const char *expect[] = {"INBOX", "INBOX.Child", "Old"};
    expect_list(box, expect, 3);
    mb = open_box(box, "Old", false);
    assert_int_equal(mailbox_count(mb), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(mailbox_message(mb, i)->uid, i + 1);
    assert_int_equal(mailbox_message(mb, 1)->flags & ~MAILBOX_RECENT, MAILBOX_FLAGGED);
    assert_int_not_equal(mailbox_uidvalidity(mb), inbox_validity);
    mailbox_close(mb);
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_count(mb), 0);
    assert_int_equal(mailbox_uidvalidity(mb), inbox_validity);
    mailbox_close(mb);
    deliver_n(box, 1);
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_message(mb, 0)->uid, 4); /* UIDs of INBOX are never reused */
    mailbox_close(mb);
}

/* ---- Subscriptions ---- */

static void expect_subscriptions(const struct sandbox *box, const char *const *expect, size_t n)
{
    char **names, err[ERR_LEN] = "";
    size_t count;
    if (mailbox_subscriptions(box->data_dir, ACCOUNT, &names, &count, err, sizeof err) != 0)
        fail_msg("subscriptions: %s", err);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], expect[i]);
    mailbox_names_free(names, count);
}

static void test_subscriptions(void **state)
{
    struct sandbox *box = *state;
    char err[ERR_LEN] = "";
    expect_subscriptions(box, NULL, 0);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "Work", true, err, sizeof err), 0);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "inbox", true, err, sizeof err), 0);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "Work", true, err, sizeof err), 0);
    const char *both[] = {"INBOX", "Work"};
    expect_subscriptions(box, both, 2);
    char path[512];
    folder_dir(path, sizeof path, box, NULL, "subscriptions");
    char *text = read_text(path);
    assert_string_equal(text, "INBOX\nWork\n");
    free(text);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "Work", false, err, sizeof err), 0);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "Gone", false, err, sizeof err), 0);
    const char *one[] = {"INBOX"};
    expect_subscriptions(box, one, 1);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "a/b", true, err, sizeof err), -1);
    /* Dovecot 2.3's format is read: header, empty line, tab between levels; junk dropped */
    write_text(path, "V\t2\n\nWork\tProjects\nINBOX\n../bad\nWork\tProjects\n");
    const char *dovecot[] = {"INBOX", "Work.Projects"};
    expect_subscriptions(box, dovecot, 2);
    assert_int_equal(mailbox_subscribe(box->data_dir, ACCOUNT, "Z", true, err, sizeof err), 0);
    text = read_text(path);
    assert_string_equal(text, "INBOX\nWork.Projects\nZ\n");
    free(text);
}

/* ---- Concurrency ---- */

#define APPEND_THREADS 8
#define APPENDS_PER_THREAD 25

struct append_job {
    const struct sandbox *box;
    uint32_t uids[APPENDS_PER_THREAD];
    int failures;
};

static void *append_many(void *arg)
{
    struct append_job *job = arg;
    for (int i = 0; i < APPENDS_PER_THREAD; i++) {
        char err[ERR_LEN], text[64];
        uint32_t validity;
        snprintf(text, sizeof text, "Subject: %d\r\n\r\n", i);
        if (mailbox_append(job->box->data_dir, ACCOUNT, "INBOX", text, strlen(text), 0, 0,
                           &job->uids[i], &validity, err, sizeof err) != 0)
            job->failures++;
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 1); /* a delivery without a UID yet: the appends must not collide with it */
    struct append_job jobs[APPEND_THREADS];
    pthread_t threads[APPEND_THREADS];
    for (int t = 0; t < APPEND_THREADS; t++) {
        jobs[t] = (struct append_job){.box = box};
        assert_int_equal(pthread_create(&threads[t], NULL, append_many, &jobs[t]), 0);
    }
    const size_t total = APPEND_THREADS * APPENDS_PER_THREAD;
    bool seen[APPEND_THREADS * APPENDS_PER_THREAD + 2] = {false};
    for (int t = 0; t < APPEND_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
        for (int i = 0; i < APPENDS_PER_THREAD; i++) {
            uint32_t uid = jobs[t].uids[i];
            assert_true(uid >= 1 && uid <= total + 1);
            assert_false(seen[uid]);
            seen[uid] = true;
        }
    }
    struct mailbox *mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_count(mb), total + 1);
    for (size_t i = 0; i < total + 1; i++) /* dense: 1..total+1, the delivery included */
        assert_int_equal(mailbox_message(mb, i)->uid, i + 1);
    mailbox_close(mb);
}

#define SESSION_THREADS 4
#define SESSION_ROUNDS 120

/* What an IMAP client knows: UIDs by sequence number, kept up to date only from the changes
 * reported (EXPUNGE n in the order given, then EXISTS). cmocka's assertions belong to the main
 * thread, so the sessions only note the first thing that went wrong. */
struct client_model {
    uint32_t uids[SESSION_THREADS * SESSION_ROUNDS + 64];
    size_t count;
    const char *problem;
};

static void client_apply(struct client_model *c, const struct mailbox *mb,
                         const struct mailbox_changes *changes)
{
    for (size_t i = 0; i < changes->nexpunged; i++) {
        uint32_t seq = changes->expunged[i];
        if (seq < 1 || seq > c->count) {
            c->problem = "EXPUNGE of a sequence number the client does not have";
            return;
        }
        memmove(&c->uids[seq - 1], &c->uids[seq], (c->count - seq) * sizeof c->uids[0]);
        c->count--;
    }
    for (size_t i = c->count; i < changes->exists; i++)
        c->uids[c->count++] = mailbox_message(mb, i)->uid;
}

static void client_check(struct client_model *c, const struct mailbox *mb)
{
    bool same = c->count == mailbox_count(mb);
    for (size_t i = 0; same && i < c->count; i++)
        same = c->uids[i] == mailbox_message(mb, i)->uid;
    if (!same && !c->problem)
        c->problem = "the client's view differs from the session's";
}

static void session_round(const struct sandbox *box, struct mailbox *mb, struct client_model *c,
                          unsigned *seed)
{
    char err[ERR_LEN] = "";
    struct mailbox_changes changes;
    uint32_t uid, validity;
    size_t n = mailbox_count(mb);
    switch (rand_r(seed) % 4) {
    case 0:
        if (mailbox_append(box->data_dir, ACCOUNT, "INBOX", "x\r\n", 3, 0, 0, &uid, &validity,
                           err, sizeof err) != 0)
            c->problem = "append failed";
        break;
    case 1: /* a message expunged by another session meanwhile may refuse */
        if (n)
            mailbox_set_flags(mb, (size_t)rand_r(seed) % n, MAILBOX_SEEN, err, sizeof err);
        break;
    case 2:
        if (n)
            mailbox_set_flags(mb, (size_t)rand_r(seed) % n, MAILBOX_DELETED, err, sizeof err);
        if (mailbox_expunge(mb, NULL, 0, &changes, err, sizeof err) != 0)
            c->problem = "expunge failed";
        client_apply(c, mb, &changes);
        mailbox_changes_free(&changes);
        break;
    default:
        if (mailbox_refresh(mb, &changes, err, sizeof err) != 0)
            c->problem = "refresh failed";
        client_apply(c, mb, &changes);
        mailbox_changes_free(&changes);
    }
    client_check(c, mb);
}

struct session_job {
    const struct sandbox *box;
    unsigned seed;
    const char *problem;
};

static void *run_session(void *arg)
{
    struct session_job *job = arg;
    char err[ERR_LEN] = "";
    struct mailbox *mb = mailbox_open(job->box->data_dir, ACCOUNT, "INBOX", false, err,
                                      sizeof err);
    struct client_model *c = calloc(1, sizeof *c);
    if (!mb) {
        job->problem = "open failed";
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < mailbox_count(mb); i++)
        c->uids[c->count++] = mailbox_message(mb, i)->uid;
    for (int round = 0; round < SESSION_ROUNDS && !c->problem; round++)
        session_round(job->box, mb, c, &job->seed);
    job->problem = c->problem;
    free(c);
    mailbox_close(mb);
    return NULL;
}

/* Sessions in several threads append, flag, expunge and refresh at once; each one's client
 * model, fed only from reported changes, always matches its view, and afterwards two fresh
 * views agree with each other and with the files on disk. */
static void test_concurrent_sessions(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 5);
    pthread_t threads[SESSION_THREADS];
    struct session_job jobs[SESSION_THREADS];
    for (int t = 0; t < SESSION_THREADS; t++) {
        jobs[t] = (struct session_job){.box = box, .seed = (unsigned)t + 1};
        assert_int_equal(pthread_create(&threads[t], NULL, run_session, &jobs[t]), 0);
    }
    for (int t = 0; t < SESSION_THREADS; t++) {
        pthread_join(threads[t], NULL);
        if (jobs[t].problem)
            fail_msg("session %d: %s", t, jobs[t].problem);
    }
    struct mailbox *a = open_box(box, "INBOX", false);
    struct mailbox *b = open_box(box, "INBOX", true);
    assert_int_equal(mailbox_count(a), mailbox_count(b));
    char dir[512];
    folder_dir(dir, sizeof dir, box, NULL, "cur");
    assert_int_equal(dir_count_all(dir), mailbox_count(a));
    for (size_t i = 0; i < mailbox_count(a); i++) {
        assert_int_equal(mailbox_message(a, i)->uid, mailbox_message(b, i)->uid);
        assert_int_equal(mailbox_message(a, i)->flags & ~MAILBOX_RECENT,
                         mailbox_message(b, i)->flags & ~MAILBOX_RECENT);
    }
    mailbox_close(a);
    mailbox_close(b);
}

/* ---- Damage ---- */

static void test_garbage_lines_rebuilt(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 3);
    struct mailbox *mb = open_box(box, "INBOX", false);
    uint32_t validity = mailbox_uidvalidity(mb);
    mailbox_close(mb);
    char path[512];
    uidlist_path(path, sizeof path, box, NULL);
    char *text = read_text(path);
    char *second = strchr(strchr(text, '\n') + 1, '\n') + 1; /* the line of UID 2 */
    char damaged[4096];
    snprintf(damaged, sizeof damaged, "%.*sgarbage line\n99999999999 x\n0 y\n1 again\n%s%s",
             (int)(second - text), text, strchr(second, '\n') + 1, "7 bad/base\n5 :x\n");
    write_text(path, damaged);
    free(text);
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_uidvalidity(mb), validity);
    assert_int_equal(mailbox_count(mb), 3);
    assert_int_equal(mailbox_message(mb, 0)->uid, 1);
    assert_int_equal(mailbox_message(mb, 1)->uid, 3);
    assert_int_equal(mailbox_message(mb, 2)->uid, 4); /* lost its line: a new UID */
    mailbox_close(mb);
    text = read_text(path);
    assert_null(strstr(text, "garbage"));
    assert_null(strstr(text, "bad/base"));
    assert_non_null(strstr(text, " N5 "));
    free(text);
}

static void test_damaged_header_rebuilt(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 2);
    struct mailbox *mb = open_box(box, "INBOX", false);
    uint32_t validity = mailbox_uidvalidity(mb);
    char path[512];
    uidlist_path(path, sizeof path, box, NULL);
    write_text(path, "this is not a uid list\n1 whatever\n");
    struct mailbox_changes changes;
    refresh(mb, &changes);
    assert_true(changes.uidvalidity_changed);
    assert_int_equal(changes.nexpunged, 2);
    assert_int_equal(changes.expunged[0], 2);
    assert_int_equal(changes.exists, 2);
    assert_true(mailbox_uidvalidity(mb) > validity);
    assert_int_equal(mailbox_message(mb, 1)->uid, 2);
    mailbox_changes_free(&changes);
    mailbox_close(mb);
    write_text(path, ""); /* empty */
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_count(mb), 2);
    mailbox_close(mb);
    assert_int_equal(unlink(path), 0); /* missing */
    mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_count(mb), 2);
    mailbox_close(mb);
}

static void test_odd_files_skipped(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 1);
    char dir[512], path[1024];
    folder_dir(dir, sizeof dir, box, NULL, "cur");
    const char *odd[] = {".hidden", ":2,S", "line\nbreak:2,", "ctl\001:2,"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        join(path, sizeof path, dir, odd[i]);
        write_text(path, "x");
    }
    snprintf(path, sizeof path, "%s/subdir:2,", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/link:2,", dir);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof path, "%s/plain-no-info", dir); /* a plain name is a message */
    write_text(path, "Subject: plain\r\n\r\n");
    struct mailbox *mb = open_box(box, "INBOX", false);
    assert_int_equal(mailbox_count(mb), 2);
    set_flags(mb, 1, MAILBOX_SEEN);
    snprintf(path, sizeof path, "%s/plain-no-info:2,S", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    mailbox_close(mb);
}

/* ---- Cheap refresh and size ---- */

static void age(const char *path, time_t when)
{
    struct timespec times[2] = {{.tv_sec = when}, {.tv_sec = when}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void age_folder(const struct sandbox *box, time_t when)
{
    char path[512];
    folder_dir(path, sizeof path, box, NULL, "cur");
    age(path, when);
    folder_dir(path, sizeof path, box, NULL, "new");
    age(path, when);
    uidlist_path(path, sizeof path, box, NULL);
    age(path, when);
}

/* Unchanged (old) directory times mean no scan: a file slipped in with the times put back is
 * not seen until a directory really changes. */
static void test_refresh_skips_unchanged_folders(void **state)
{
    struct sandbox *box = *state;
    deliver_n(box, 1);
    struct mailbox *mb = open_box(box, "INBOX", false);
    mailbox_close(mb);
    const time_t past = time(NULL) - 3600;
    age_folder(box, past);
    mb = open_box(box, "INBOX", false);
    char path[1024], dir[512];
    folder_dir(dir, sizeof dir, box, NULL, "cur");
    snprintf(path, sizeof path, "%s/sneaked-in:2,", dir);
    write_text(path, "x");
    age(dir, past);
    struct mailbox_changes changes;
    refresh(mb, &changes);
    assert_false(changes.exists_changed);
    assert_int_equal(changes.exists, 1);
    mailbox_changes_free(&changes);
    deliver_n(box, 1); /* new/ changes */
    refresh(mb, &changes);
    assert_true(changes.exists_changed);
    assert_int_equal(changes.exists, 3);
    mailbox_changes_free(&changes);
    mailbox_close(mb);
}

#define BIG_FOLDER 10000

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void fill_big_folder(const struct sandbox *box)
{
    char err[ERR_LEN] = "", dir[512], path[1024];
    assert_int_equal(maildir_ensure(box->data_dir, ACCOUNT, err, sizeof err), 0);
    folder_dir(dir, sizeof dir, box, NULL, "cur");
    for (int i = 0; i < BIG_FOLDER; i++) {
        snprintf(path, sizeof path, "%s/1700000000.M%06dP1Q%d.host,S=20:2,%s", dir, i, i,
                 i % 3 ? "S" : "");
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "Subject: x\r\n\r\nbody\r\n", 20), 20);
        close(fd);
    }
}

static void test_big_folder(void **state)
{
    struct sandbox *box = *state;
    fill_big_folder(box);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct mailbox *mb = open_box(box, "INBOX", false); /* numbers all 10 000 */
    double first = seconds_since(&start);
    assert_int_equal(mailbox_count(mb), BIG_FOLDER);
    assert_int_equal(mailbox_message(mb, BIG_FOLDER - 1)->uid, BIG_FOLDER);
    assert_int_equal(mailbox_message(mb, 0)->size, 20);
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct mailbox *other = open_box(box, "INBOX", false);
    double second = seconds_since(&start);
    set_flags(other, 5000, MAILBOX_FLAGGED);
    set_flags(other, 9999, MAILBOX_DELETED);
    struct mailbox_changes changes;
    char err[ERR_LEN] = "";
    assert_int_equal(mailbox_expunge(other, NULL, 0, &changes, err, sizeof err), 0);
    mailbox_changes_free(&changes);
    deliver_n(box, 1);
    clock_gettime(CLOCK_MONOTONIC, &start);
    refresh(mb, &changes);
    double third = seconds_since(&start);
    assert_int_equal(changes.nexpunged, 1);
    assert_int_equal(changes.expunged[0], BIG_FOLDER);
    assert_int_equal(changes.nflags_changed, 1);
    assert_int_equal(changes.flags_changed[0], 5001);
    assert_int_equal(changes.exists, BIG_FOLDER);
    mailbox_changes_free(&changes);
    struct mailbox_status st = status_of(box, "INBOX");
    assert_int_equal(st.messages, BIG_FOLDER);
    /* every third unseen; 5001 lost \Seen, the delivery is unseen, expunged 10000 was too */
    assert_int_equal(st.unseen, (BIG_FOLDER + 2) / 3 + 1);
    print_message("big folder: first open %.3fs, second %.3fs, refresh %.3fs\n", first, second,
                  third);
    assert_true(first < 1.0);
    assert_true(second < 1.0);
    assert_true(third < 1.0);
    mailbox_close(other);
    mailbox_close(mb);
}

/* A session behind another's STORE on every message: its stale names are looked up again in
 * one scan, not one per message. */
static void test_stale_view_bulk_store(void **state)
{
    struct sandbox *box = *state;
    fill_big_folder(box);
    struct mailbox *a = open_box(box, "INBOX", false);
    struct mailbox *b = open_box(box, "INBOX", false);
    for (size_t i = 0; i < BIG_FOLDER; i++)
        set_flags(a, i, MAILBOX_SEEN | MAILBOX_ANSWERED);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < BIG_FOLDER; i++)
        set_flags(b, i, MAILBOX_FLAGGED);
    double took = seconds_since(&start);
    print_message("stale view, %d renames: %.3fs\n", BIG_FOLDER, took);
    assert_true(took < 5.0);
    struct mailbox_changes changes;
    refresh(a, &changes);
    assert_int_equal(changes.nflags_changed, BIG_FOLDER);
    assert_int_equal(mailbox_message(a, 1234)->flags, MAILBOX_FLAGGED | MAILBOX_RECENT);
    mailbox_changes_free(&changes);
    mailbox_close(a);
    mailbox_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_problems),
        cmocka_unit_test_setup_teardown(test_open_creates_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliveries_get_uids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uids_stable_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recent_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_in_file_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_refuses_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_views_see_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_names_are_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expunge_order_and_uid_expunge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_returns_uidplus_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_with_date_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_create_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uidvalidity_grows_when_recreated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_inbox_moves_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_lines_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_header_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_files_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_skips_unchanged_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_view_bulk_store, setup, teardown),
    };
    return cmocka_run_group_tests_name("mailbox", tests, NULL, NULL);
}
