/*
 * A password check off the event loop: hashing (yescrypt costs tens of milliseconds by
 * design) runs on an I/O thread; the answer comes back in the session's loop.
 */
#ifndef POSTERN_AUTH_PASSWORD_CHECK_H
#define POSTERN_AUTH_PASSWORD_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/directory.h"

struct conn;

/* Called in the session's loop; conn may have closed meanwhile (check conn->stage). account is
 * the one given to password_check_start(), ok only when it exists and the password matches. */
typedef void (*password_checked_fn)(void *ctx, struct conn *conn, const struct account *account,
                                    bool ok);

/* Checks password (copied, wiped after use) against account (NULL: an unknown login, which
 * still costs a hash). Returns false (nothing started) when the password is over PASSWORD_MAX
 * or memory runs out: treat as a failed login. */
bool password_check_start(struct conn *conn, const struct account *account, const char *password,
                          size_t len, password_checked_fn done, void *ctx);

#endif
