/*
 * An account's mailboxes over Maildir++ (what Dovecot reads): INBOX is DATA_DIR/<account>
 * itself, other folders are DATA_DIR/<account>/.<name> with '.' as the hierarchy separator
 * (names as IMAP sends them, modified UTF-7). Flags live in file names (":2,DFRST": Draft,
 * Flagged, Replied=\Answered, Seen, Trashed=\Deleted). Each folder keeps "postern-uidlist"
 * (UIDVALIDITY, UIDNEXT, one "uid filename-base" line per message), rewritten atomically, and
 * every change to it happens under an flock on "postern-uidlist.lock", so sessions in several
 * threads and the SMTP delivery path can work on the same folder at once.
 *
 * A struct mailbox is one session's view of a folder: a snapshot ordered by UID whose indexes
 * are the IMAP sequence numbers minus one; mailbox_refresh() brings it up to date and says what
 * changed, so the session can send EXPUNGE/EXISTS/FETCH FLAGS in the order IMAP requires.
 */
#ifndef POSTERN_STORE_MAILBOX_H
#define POSTERN_STORE_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAILBOX_NAME_MAX 255
#define MAILBOX_ERROR_MAX 256
/* (addition) The largest message mailbox_read() returns and mailbox_append() stores. */
#define MAILBOX_READ_MAX ((size_t)256 << 20)

enum mailbox_flag {
    MAILBOX_SEEN = 1 << 0,
    MAILBOX_ANSWERED = 1 << 1,
    MAILBOX_FLAGGED = 1 << 2,
    MAILBOX_DELETED = 1 << 3,
    MAILBOX_DRAFT = 1 << 4,
    MAILBOX_RECENT = 1 << 5, /* session-level: new to this folder since the last session saw it */
};

struct mailbox_message {
    uint32_t uid;
    uint32_t flags;       /* enum mailbox_flag bits */
    uint64_t size;        /* RFC822.SIZE: bytes of the message file */
    time_t internal_date; /* the file's mtime (set from APPEND's date-time when given) */
};

/*
 * (addition) expunged is in descending order: each number is the message's sequence number in
 * the view before the call, and sending them highest first keeps every later number valid, so
 * the session writes "* N EXPUNGE" for each entry as it is. flags_changed is ascending.
 * uidvalidity_changed (a rebuilt uid list, rare): every old message is reported expunged and
 * every current one new; a session should end with BYE (RFC 3501 forbids a change mid-session).
 */
struct mailbox_changes {
    uint32_t *expunged;   /* sequence numbers to report, in the order to send them */
    size_t nexpunged;
    uint32_t *flags_changed; /* sequence numbers (after expunges) whose flags changed */
    size_t nflags_changed;
    uint32_t exists;      /* message count after the refresh */
    uint32_t recent;
    bool exists_changed;
    bool uidvalidity_changed; /* (addition) see above */
};
void mailbox_changes_free(struct mailbox_changes *changes);

/* ---- folders of an account ---- */

/* All folder names ("INBOX" first), sorted; caller frees with mailbox_names_free. */
int mailbox_list(const char *data_dir, const char *account, char ***names, size_t *count,
                 char *err, size_t errlen);
void mailbox_names_free(char **names, size_t count);
int mailbox_create(const char *data_dir, const char *account, const char *name, char *err,
                   size_t errlen);
int mailbox_delete(const char *data_dir, const char *account, const char *name, char *err,
                   size_t errlen);
int mailbox_rename(const char *data_dir, const char *account, const char *from, const char *to,
                   char *err, size_t errlen);
/* Subscriptions in DATA_DIR/<account>/subscriptions (Dovecot's format: one name per line). */
int mailbox_subscribe(const char *data_dir, const char *account, const char *name, bool on,
                      char *err, size_t errlen);
int mailbox_subscriptions(const char *data_dir, const char *account, char ***names,
                          size_t *count, char *err, size_t errlen);
/* A valid folder name? NULL, or why not ("..", "/", empty parts, too long). */
const char *mailbox_name_problem(const char *name);
/* (addition) Does the folder exist (INBOX always does)? For APPEND/COPY's [TRYCREATE]. */
bool mailbox_folder_exists(const char *data_dir, const char *account, const char *name);

/* ---- one folder ---- */

struct mailbox;

/* Opens a folder (INBOX is case-insensitive); NULL with err when it does not exist. */
struct mailbox *mailbox_open(const char *data_dir, const char *account, const char *name,
                             bool read_only, char *err, size_t errlen);
void mailbox_close(struct mailbox *mb);
size_t mailbox_count(const struct mailbox *mb);
const struct mailbox_message *mailbox_message(const struct mailbox *mb, size_t index);
uint32_t mailbox_uidvalidity(const struct mailbox *mb);
uint32_t mailbox_uidnext(const struct mailbox *mb);
/* Index of the message with this UID, or -1. */
long mailbox_find_uid(const struct mailbox *mb, uint32_t uid);
/* (addition) Messages \Recent in this view (the "* n RECENT" of SELECT/EXAMINE). */
uint32_t mailbox_recent_count(const struct mailbox *mb);

/* Picks up deliveries (new/ -> cur/, UIDs assigned), other sessions' flag changes and
 * expunges. */
int mailbox_refresh(struct mailbox *mb, struct mailbox_changes *changes, char *err,
                    size_t errlen);
/* The whole message, read into a malloc'd buffer. */
int mailbox_read(struct mailbox *mb, size_t index, char **data, size_t *len, char *err,
                 size_t errlen);
/* Replaces the flags (MAILBOX_RECENT is ignored): renames the file. */
int mailbox_set_flags(struct mailbox *mb, size_t index, uint32_t flags, char *err,
                      size_t errlen);
/* Removes messages flagged \Deleted (only those with a UID in uids when uids != NULL, for
 * UID EXPUNGE); reports the expunged sequence numbers. */
int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
                    struct mailbox_changes *changes, char *err, size_t errlen);
/* Copies a message into another folder of the same account (hard link when possible);
 * *dest_uid and *dest_uidvalidity for UIDPLUS. */
int mailbox_copy(struct mailbox *mb, size_t index, const char *dest_name, uint32_t *dest_uid,
                 uint32_t *dest_uidvalidity, char *err, size_t errlen);

/* APPEND: stores data durably (fsync) into a folder with flags and an internal date
 * (0: now). *uid and *uidvalidity for UIDPLUS. */
int mailbox_append(const char *data_dir, const char *account, const char *name,
                   const void *data, size_t len, uint32_t flags, time_t internal_date,
                   uint32_t *uid, uint32_t *uidvalidity, char *err, size_t errlen);

/* STATUS without opening a session view: counts (MESSAGES, RECENT, UNSEEN), UIDNEXT,
 * UIDVALIDITY. */
struct mailbox_status {
    uint32_t messages, recent, unseen, uidnext, uidvalidity;
};
int mailbox_status(const char *data_dir, const char *account, const char *name,
                   struct mailbox_status *status, char *err, size_t errlen);

#endif
