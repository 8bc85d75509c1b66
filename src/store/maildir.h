/*
 * Maildir delivery, durable and Dovecot-compatible: one folder per account under the data
 * directory (DATA_DIR/<account>/{tmp,new,cur}), unique names "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>",
 * flags in ":2,<flags>" suffixes.
 */
#ifndef POSTERN_STORE_MAILDIR_H
#define POSTERN_STORE_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

/* Longest host name text in a file name, after escaping; longer names are cut. */
#define MAILDIR_HOST_TEXT_MAX 128
/* Longest unique name: "<sec>.M<usec>P<pid>Q<n>." host ",S=<size>", NUL included. */
#define MAILDIR_NAME_MAX (MAILDIR_HOST_TEXT_MAX + 96)

/* Creates DATA_DIR/<account>/{tmp,new,cur} (mode 0700) when missing. 0, or -1 with err. */
int maildir_ensure(const char *data_dir, const char *account, char *err, size_t errlen);

/*
 * Delivers one message (the concatenation of parts) to every account: written once into the
 * first account's tmp/, fsynced, hard-linked into each account's new/, each new/ fsynced, the
 * tmp/ name removed. Only after it returns 0 is the message safe to acknowledge. On -1 no
 * account's new/ holds a partial copy and err says what failed.
 */
int maildir_deliver(const char *data_dir, const char *const *accounts, size_t naccounts,
                    const struct iovec *parts, size_t nparts, char *err, size_t errlen);

/* ---- Additions ---- */

/* NULL when account can name a folder under the data directory, otherwise why not. */
const char *maildir_account_problem(const char *account);

/*
 * host as Dovecot writes it in file names: '/' becomes "\057" and ':' becomes "\072", cut
 * (never inside an escape) to fit MAILDIR_HOST_TEXT_MAX bytes with the NUL. Returns the length.
 */
size_t maildir_escape_hostname(const char *host, char out[MAILDIR_HOST_TEXT_MAX]);

/* A new unique name for a message of size bytes, as maildir_deliver() uses. Unique across
 * threads (an atomic counter) and processes (the pid, and the time to the microsecond). */
void maildir_unique_name(uint64_t size, char out[MAILDIR_NAME_MAX]);

/*
 * Creates path (with extra open flags such as O_EXCL or O_TRUNC), writes the parts, dates it
 * (mtime, unless 0: IMAP's internal date), fsyncs and closes it; on any failure removes it and
 * returns -1 with "step path: reason" in err. The one durable-write routine of the store, shared
 * with the mailbox layer.
 */
int maildir_write_file(const char *path, int open_flags, unsigned mode, time_t mtime,
                       const struct iovec *parts, size_t nparts, char *err, size_t errlen);

#endif
