/*
 * Dropping root after the listening sockets are bound (server.run-as).
 *
 * privileges_drop() is called once, by the main thread, after the listeners are open and the
 * certificates loaded and before any worker thread starts. It always sets the umask to 077 (so
 * nothing postern creates is readable by group or others), then:
 *
 *  - not root: nothing else; if server.run-as names another user, an info line says postern
 *    stays the user it was started as.
 *  - root, run-as "root" (or a user whose uid is 0): stays root, with a warning.
 *  - root, run-as unset and no user "postern": stays root, with a warning naming the fix.
 *  - root otherwise: resolves the user (and group: the one given after ':', else the user's
 *    primary group), makes sure the data directory belongs to it (an empty root-owned one is
 *    handed over; a non-empty root-owned one is an error naming the chown to run), sets the
 *    supplementary groups (the user's own, or only the given group), the gid, then the uid
 *    (real, effective and saved), and checks that root cannot be regained. Any failure is an
 *    error: postern must not go on running as root when told to drop.
 *
 * Returns 0 on success, -1 with a message in err.
 */
#ifndef POSTERN_NET_PRIVILEGES_H
#define POSTERN_NET_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"

#define PRIVILEGES_DEFAULT_USER "postern"

int privileges_drop(const struct config *config, char *err, size_t errlen);
/* privileges_drop(), logging a failure as event=privileges_failed; false on failure. */
bool privileges_apply(const struct config *config);

/* ---- The steps, exposed for tests. ---- */

struct run_as {
    char user[CONFIG_RUN_AS_NAME_MAX + 1];
    char group[CONFIG_RUN_AS_NAME_MAX + 1]; /* "" when not given */
    bool explicit_user;                      /* server.run-as was set */
};

/* server.run-as, or the default user when it is empty. False when the text is invalid. */
bool privileges_parse(const char *run_as, struct run_as *out, char *err, size_t errlen);

/*
 * Resolves a user name, or a numeric uid, to its uid, primary gid and name (for initgroups;
 * "" for a numeric uid without a passwd entry, whose gid is then the uid). A group name or
 * numeric gid to its gid. 0 found, 1 no such user/group, -1 lookup error (errno set).
 */
int privileges_lookup_user(const char *name, uid_t *uid, gid_t *gid, char *canonical,
                           size_t canonical_len);
int privileges_lookup_group(const char *name, gid_t *gid);

/*
 * Makes the data directory usable by uid/gid once postern runs as them: owned by root and
 * empty, it is given to uid:gid (mode 0700); owned by root and not empty, it is an error (the
 * message names the chown to run); owned by anyone else, it is left alone (the caller checks
 * it is writable after the switch). Returns 0 or -1 with err set.
 */
int privileges_prepare_data_dir(const char *path, uid_t uid, gid_t gid, char *err,
                                size_t errlen);

#endif
