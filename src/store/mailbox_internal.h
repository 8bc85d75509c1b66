/*
 * Shared by the src/store/mailbox_*.c files, not part of the contract in mailbox.h: where a
 * folder lives, locks and durable files, message file names, the uid list, and the scan that
 * turns a folder's directories into a snapshot ordered by UID.
 *
 * Lock order (never taken the other way round, so no deadlock): the account lock
 * (create/delete/rename/subscribe), then folder locks (postern-uidlist.lock; two at once only
 * when RENAME INBOX holds INBOX and the new folder), then the UIDVALIDITY counter's lock.
 */
#ifndef POSTERN_STORE_MAILBOX_INTERNAL_H
#define POSTERN_STORE_MAILBOX_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "store/mailbox.h"
#include "util/error_text.h"

#define UIDLIST_FILE "postern-uidlist"
#define UIDLIST_LOCK_FILE "postern-uidlist.lock"
#define UIDVALIDITY_FILE "postern-uidvalidity"
#define ACCOUNT_LOCK_FILE "postern-account.lock"
#define SUBSCRIPTIONS_FILE "subscriptions"
#define FOLDER_MARKER_FILE "maildirfolder"
#define MAILBOX_DIR_MODE 0700
#define MAILBOX_FILE_MODE 0600
/* Longest message file name handled (NAME_MAX); longer ones are skipped as odd. */
#define MESSAGE_NAME_MAX 255
/* Buffer for a message file name plus room to build a new flag suffix. */
#define MESSAGE_NAME_BUF 512

/* ---- Files (mailbox_files.c) ---- */

/* DIR[/SUB[/NAME]]; false when it does not fit PATH_MAX. */
bool mbox_path(char out[PATH_MAX], const char *dir, const char *sub, const char *name);
/* An exclusive flock on DIR/FILE (created if missing), through a descriptor of its own so
 * threads of one process exclude each other too. The descriptor, or -1 with err. */
int mbox_lock(const char *dir, const char *file, char *err, size_t errlen);
void mbox_unlock(int fd);
/* DIR/NAME replaced by data: written to NAME.tmp, fsynced, renamed, DIR fsynced. The caller
 * holds the lock that serialises writers of NAME. */
int mbox_write_atomically(const char *dir, const char *name, const void *data, size_t len,
                          char *err, size_t errlen);
/* The whole file (NUL-terminated); -1 with errno (EFBIG when larger than max). */
int mbox_read_file(const char *path, size_t max, char **data, size_t *len);
/* A name for a scratch directory in the account directory; starts with "..", which no folder
 * name can, so listings never show it. */
void mbox_scratch_name(char out[64], const char *purpose);

/* A growing array of strings; freed with mailbox_names_free(items, count). */
struct name_list {
    char **items;
    size_t count, cap;
};
int mbox_name_list_add(struct name_list *list, const char *name);

/* ---- Names (mailbox_names.c) ---- */

struct folder {
    char account_dir[PATH_MAX];      /* DATA_DIR/<account>: INBOX, and home of the account files */
    char path[PATH_MAX];             /* the folder's Maildir */
    char name[MAILBOX_NAME_MAX + 1]; /* canonical: a leading "inbox" component is "INBOX" */
    bool inbox;
};

/* Validates account and name and fills f; creates the account's INBOX on first use. */
int mbox_folder_locate(struct folder *f, const char *data_dir, const char *account,
                       const char *name, char *err, size_t errlen);
/* The same without touching the disk, for a folder of the account at account_dir. */
int mbox_folder_locate_in(struct folder *f, const char *account_dir, const char *name, char *err,
                          size_t errlen);
/* Like mbox_folder_locate, then fails unless the folder exists. */
int mbox_folder_open(struct folder *f, const char *data_dir, const char *account, const char *name,
                     char *err, size_t errlen);
bool mbox_folder_exists(const struct folder *f);
/* Another existing folder of the same account as of. */
int mbox_folder_sibling(struct folder *f, const struct folder *of, const char *name, char *err,
                        size_t errlen);
/* The folder's directory for a canonical name: ACCOUNT_DIR or ACCOUNT_DIR/.NAME */
bool mbox_folder_path(char out[PATH_MAX], const char *account_dir, const char *name);
void mbox_canonical_name(const char *name, char out[MAILBOX_NAME_MAX + 1]);

/* A file name we can track: no leading '.', no control bytes, not empty before ':'. */
bool msgfile_acceptable(const char *name);
/* Length of the part before the ":2,..." info (the base that identifies the message). */
size_t msgfile_base_length(const char *name);
uint32_t msgfile_flags(const char *name, size_t base_len);
/* BASE ":2," flags, sorted ASCII; letters we do not know (Dovecot keywords) are kept. */
int msgfile_with_flags(char out[MESSAGE_NAME_BUF], const char *name, size_t base_len,
                       uint32_t flags);
/* FOLDER/cur/NAME or FOLDER/new/NAME */
void msgfile_path(char out[PATH_MAX], const struct folder *f, const char *name, bool in_new);

/* ---- The uid list (mailbox_uidlist.c) ---- */

struct uid_entry {
    uint32_t uid;
    bool gone; /* marked while matching: its file is not on disk */
    char *base;
};

struct uidlist {
    uint32_t uidvalidity, uidnext;
    uint32_t recent_uid;       /* highest UID a session has already seen as \Recent */
    struct uid_entry *entries; /* ascending UIDs */
    size_t count, cap;
    bool dirty;   /* differs from the file: save it */
    bool rebuilt; /* the file was missing or unreadable: a fresh UIDVALIDITY */
};

/* Under the folder lock. A missing or unparsable list becomes a fresh one (new UIDVALIDITY);
 * bad lines are dropped (their messages get new UIDs) and the list is marked dirty. */
int uidlist_load(const struct folder *f, struct uidlist *list, char *err, size_t errlen);
int uidlist_save(const struct folder *f, const struct uidlist *list, char *err, size_t errlen);
void uidlist_free(struct uidlist *list);
/* The UID of base, a new one (uidnext) when it has none yet. */
int uidlist_assign(struct uidlist *list, const char *base, size_t base_len, uint32_t *uid,
                   char *err, size_t errlen);
/* Adds an entry above all others (uid larger than the last); -1 when out of memory. */
int uidlist_append(struct uidlist *list, uint32_t uid, const char *base, size_t len);
/* A new UID for base, which the caller knows has none. */
int uidlist_add_new(struct uidlist *list, const char *base, size_t base_len, uint32_t *uid,
                    char *err, size_t errlen);
/* Removes entries marked gone. */
void uidlist_drop_gone(struct uidlist *list);
/* A UIDVALIDITY for a new list: max(now, last given in this account + 1). */
int mbox_uidvalidity_next(const char *account_dir, uint32_t *value, char *err, size_t errlen);

/* ---- Scanning (mailbox_sync.c) ---- */

struct found {
    char *name; /* file name in cur/ (or new/ when in_new) */
    uint32_t uid, flags;
    uint16_t base_len;
    bool in_new; /* could not be moved to cur/ */
};

/* What the directories looked like; a view whose stamp still matches skips the scan. */
struct folder_stamp {
    struct timespec cur, new, list;
    ino_t list_ino;
    off_t list_size;
    bool usable; /* all stats worked and every mtime is old enough to trust */
};

struct snapshot {
    struct found *msgs; /* ascending UIDs */
    size_t count;
    uint32_t uidvalidity, uidnext;
    uint32_t recent_floor; /* UIDs above it are \Recent to the session that synced */
    struct folder_stamp stamp;
};

enum recency { RECENCY_CLAIM, RECENCY_PEEK };

/* Under the folder lock: moves new/ to cur/, gives UIDs to files without one, forgets UIDs
 * whose files are gone, claims recency (RECENCY_CLAIM), saves the list when it changed. */
int mbox_folder_sync(const struct folder *f, enum recency recency, struct snapshot *snap, char *err,
                     size_t errlen);
void mbox_snapshot_free(struct snapshot *snap);
void mbox_stamp_take(const struct folder *f, struct folder_stamp *stamp);
bool mbox_stamp_same(const struct folder_stamp *a, const struct folder_stamp *b);
/* cur/ and new/ as they are (nothing moved), sorted by base, one file per base. */
int mbox_list_messages(const struct folder *f, struct found **msgs, size_t *count, char *err,
                       size_t errlen);
void mbox_found_free(struct found *msgs, size_t count);
/* memcmp order of two bases, the shorter first on a tie */
int msgfile_compare_bases(const char *a, size_t a_len, const char *b, size_t b_len);

/* ---- A session's view (mailbox.c) ---- */

struct view_msg {
    struct mailbox_message msg; /* first: mailbox_message() hands out its address */
    char *name;
    uint16_t base_len;
    bool in_new;
    bool missing; /* its base was not on disk when names were last looked up again */
};

struct mailbox {
    struct folder folder;
    bool read_only;
    struct view_msg *msgs; /* ascending UIDs; index = sequence number - 1 */
    size_t count;
    uint32_t uidvalidity, uidnext, recent;
    struct folder_stamp stamp;
};

#endif
