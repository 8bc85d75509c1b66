/*
 * Accounts: who receives mail and who may log in, from the configuration's [[directory.accounts]]
 * tables. Immutable once loaded; lookups are safe from every worker thread.
 *
 *   [[directory.accounts]]
 *   name = "alice"                      # login name, also the Maildir folder under data-dir
 *   secret = "$6$..."                   # crypt(3) hash: $y$ (yescrypt), $6$ (SHA512), $2b$
 *   email = ["alice@example.com"]       # addresses delivered to this account (string or list)
 */
#ifndef POSTERN_AUTH_DIRECTORY_H
#define POSTERN_AUTH_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#define ACCOUNT_NAME_MAX 64       /* [A-Za-z0-9._-], not starting with '.' */
#define ACCOUNT_SECRET_MAX 256
#define ADDRESS_MAX 254           /* RFC 5321 path limit */
/* Additions: */
#define ADDRESS_LOCAL_MAX 64          /* RFC 5321 4.5.3.1.1 */
#define ACCOUNT_ADDRESSES_MAX 1024    /* addresses of one account */
#define DIRECTORY_ACCOUNTS_MAX 100000 /* more belong in a database, not a configuration file */
/* Longest password checked or hashed: libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE less the NUL. */
#define PASSWORD_MAX 511
/* bcrypt ignores every byte after the 72nd. */
#define PASSWORD_BCRYPT_MAX 72

struct account {
    char name[ACCOUNT_NAME_MAX + 1];
    char secret[ACCOUNT_SECRET_MAX + 1];
    char (*addresses)[ADDRESS_MAX + 1]; /* lower-cased */
    size_t naddresses;
};

struct directory;

/* An empty directory (no accounts); NULL when out of memory. */
struct directory *directory_new(void);
void directory_free(struct directory *dir);
/* Adds an account; false with a message (naming the account) on a bad name, secret or address. */
bool directory_add(struct directory *dir, const struct account *account, char *err, size_t errlen);
size_t directory_count(const struct directory *dir);
/* Accounts returned by this and the lookups stay valid until the next directory_add(). */
const struct account *directory_account(const struct directory *dir, size_t index);

/* The account an address is delivered to (case-insensitive), or NULL. */
const struct account *directory_find_address(const struct directory *dir, const char *address,
                                             size_t len);
const struct account *directory_find_login(const struct directory *dir, const char *name,
                                           size_t len);
/* True when some account has an address in this domain (case-insensitive). */
bool directory_is_local_domain(const struct directory *dir, const char *domain, size_t len);

/*
 * Checks a password against the account's crypt(3) hash with libcrypt, comparing the result in
 * constant time. A NULL account still spends the time of a hash, so timing does not reveal
 * which login names exist.
 */
bool directory_check_password(const struct account *account, const char *password, size_t len);

/* A new crypt(3) hash of password (yescrypt by default) for the configuration; false on error. */
bool directory_hash_password(const char *password, char *out, size_t outlen);

/* ---- Additions ---- */

enum password_scheme {
    PASSWORD_YESCRYPT, /* $y$, libxcrypt's default cost */
    PASSWORD_SHA512,   /* $6$, rounds=PASSWORD_SHA512_ROUNDS */
    PASSWORD_BCRYPT,   /* $2b$, cost PASSWORD_BCRYPT_COST */
};
#define PASSWORD_SHA512_ROUNDS 100000 /* libxcrypt's default (5000) is too cheap today */
#define PASSWORD_BCRYPT_COST 10       /* libxcrypt's default (5) is too cheap today */
/* Room for any hash directory_hash_password*() writes (CRYPT_OUTPUT_SIZE). */
#define PASSWORD_HASH_MAX 384

/* As directory_hash_password, with a chosen scheme. out needs PASSWORD_HASH_MAX bytes. */
bool directory_hash_password_with(enum password_scheme scheme, const char *password, char *out,
                                  size_t outlen);
/* The scheme's name for --scheme ("yescrypt", "sha512", "bcrypt"), and the reverse (false for an
 * unknown name). */
const char *password_scheme_name(enum password_scheme scheme);
bool password_scheme_parse(const char *name, enum password_scheme *out);

/* The scheme of an accepted secret ("yescrypt", "sha512", "bcrypt"), or NULL. */
const char *directory_secret_scheme(const char *secret);

/* Validation used by directory_add() and by the configuration loader (for messages naming the
 * key and line): NULL when acceptable, otherwise why not, in the operator's terms. */
const char *directory_name_problem(const char *name, size_t len);
const char *directory_secret_problem(const char *secret);
const char *directory_address_problem(const char *address, size_t len);

#endif
