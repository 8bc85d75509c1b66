/*
 * Accounts from the configuration. Three hash indexes (login names, addresses, address domains)
 * make every lookup O(1) on average; keys are compared ASCII case-insensitively, and stored keys
 * refer to the accounts by position, so growing the account array never invalidates them.
 */
#include "auth/directory.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PASSWORD_MAX + 1 == CRYPT_MAX_PASSPHRASE_SIZE, "libxcrypt's passphrase limit");
_Static_assert(PASSWORD_HASH_MAX == CRYPT_OUTPUT_SIZE, "libxcrypt's output size");

/* An index slot: which account, and which of its addresses (unused for login names). */
struct slot {
    uint64_t hash;
    uint32_t account; /* position + 1; 0: empty slot */
    uint32_t item;
};

enum index_kind {
    INDEX_LOGIN,   /* key: the account's name */
    INDEX_ADDRESS, /* key: one of its addresses */
    INDEX_DOMAIN,  /* key: the domain of one of its addresses */
};

struct index {
    enum index_kind kind;
    struct slot *slots;
    size_t capacity; /* a power of two, or 0 */
    size_t used;
};

struct directory {
    struct account *accounts;
    size_t count;
    size_t capacity;
    struct index logins;
    struct index addresses;
    struct index domains;
};

/* ---- Keys ---- */

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the folded bytes. The indexes only hold keys from the configuration, so clients
 * cannot fill a chain; a keyed hash would buy nothing here. */
static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= fold((unsigned char)key[i]);
        h *= 0x100000001b3u;
    }
    return h;
}

static bool same_key(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return false;
    }
    return true;
}

static const char *domain_of(const char *address, size_t len, size_t *domain_len)
{
    const char *at = memrchr(address, '@', len);
    const char *domain = at ? at + 1 : address + len;
    *domain_len = (size_t)(address + len - domain);
    return domain;
}

static const char *slot_key(const struct directory *dir, const struct index *index,
                            const struct slot *slot, size_t *len)
{
    const struct account *account = &dir->accounts[slot->account - 1];
    if (index->kind == INDEX_LOGIN) {
        *len = strlen(account->name);
        return account->name;
    }
    const char *address = account->addresses[slot->item];
    if (index->kind == INDEX_ADDRESS) {
        *len = strlen(address);
        return address;
    }
    return domain_of(address, strlen(address), len);
}

/* ---- Open-addressing index, linear probing, at most half full ---- */

static const struct slot *index_find(const struct directory *dir, const struct index *index,
                                     const char *key, size_t len)
{
    if (index->capacity == 0)
        return NULL;
    uint64_t hash = hash_key(key, len);
    size_t mask = index->capacity - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        const struct slot *slot = &index->slots[i];
        if (slot->account == 0)
            return NULL;
        size_t slot_len;
        const char *slot_text = slot_key(dir, index, slot, &slot_len);
        if (slot->hash == hash && same_key(slot_text, slot_len, key, len))
            return slot;
    }
}

static void index_place(struct index *index, struct slot slot)
{
    size_t mask = index->capacity - 1;
    size_t i = (size_t)slot.hash & mask;
    while (index->slots[i].account != 0)
        i = (i + 1) & mask;
    index->slots[i] = slot;
}

static bool index_reserve(struct index *index, size_t more)
{
    size_t need = index->used + more;
    if (need * 2 <= index->capacity)
        return true;
    size_t capacity = index->capacity ? index->capacity : 16;
    while (capacity < need * 2)
        capacity *= 2;
    struct slot *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return false;
    struct index grown = {index->kind, slots, capacity, index->used};
    for (size_t i = 0; i < index->capacity; i++) {
        if (index->slots[i].account != 0)
            index_place(&grown, index->slots[i]);
    }
    free(index->slots);
    *index = grown;
    return true;
}

/* The caller reserved room and checked that the key is new. */
static void index_insert(struct index *index, const char *key, size_t len, size_t account,
                         size_t item)
{
    struct slot slot = {hash_key(key, len), (uint32_t)(account + 1), (uint32_t)item};
    index_place(index, slot);
    index->used++;
}

/* ---- Validation ---- */

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
/* RFC 5322 atext without the letters and digits, plus '.' (checked separately). */
#define LOCAL_SPECIALS "!#$%&'*+-/=?^_`{|}~."
#define DOMAIN_LABEL_MAX 63
#define DOMAIN_MAX 253

const char *directory_name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "must not be empty";
    if (len > ACCOUNT_NAME_MAX)
        return "is longer than 64 bytes";
    if (memchr(name, '\0', len) || strspn(name, NAME_CHARS) < len)
        return "may only contain letters, digits, '.', '_' and '-'";
    if (name[0] == '.')
        return "must not start with '.' (it names a folder under the data directory)";
    return NULL;
}

/* checksum_len: the characters after the last '$', which crypt_checksalt() does not count. */
static const struct scheme_info {
    const char *prefix;
    const char *name;
    enum password_scheme scheme;
    size_t checksum_len;
} schemes[] = {
    {"$y$", "yescrypt", PASSWORD_YESCRYPT, 43},
    {"$6$", "sha512", PASSWORD_SHA512, 86},
    {"$2b$", "bcrypt", PASSWORD_BCRYPT, 53}, /* 22 of salt, then 31 of hash */
};
#define CRYPT64_CHARS "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define SCHEME_COUNT (sizeof schemes / sizeof schemes[0])

static const struct scheme_info *scheme_of_secret(const char *secret)
{
    for (size_t i = 0; i < SCHEME_COUNT; i++) {
        if (strncmp(secret, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
            return &schemes[i];
    }
    return NULL;
}

const char *directory_secret_problem(const char *secret)
{
    if (secret[0] != '$')
        return "is not a password hash: secrets are stored as crypt(3) hashes; run "
               "`postern hash-password` and use its output";
    if (strlen(secret) > ACCOUNT_SECRET_MAX)
        return "is longer than any supported hash";
    if (!scheme_of_secret(secret))
        return "uses an unsupported hash scheme (postern accepts $y$ yescrypt, $6$ SHA-512 "
               "and $2b$ bcrypt); run `postern hash-password` for a new hash";
    /* A truncated hash would never match: refuse it now rather than at every login. */
    const char *checksum = strrchr(secret, '$') + 1;
    if (crypt_checksalt(secret) != CRYPT_SALT_OK ||
        strlen(checksum) != scheme_of_secret(secret)->checksum_len ||
        strspn(checksum, CRYPT64_CHARS) != strlen(checksum))
        return "is not a valid hash of its scheme (cut short or altered?); run "
               "`postern hash-password` for a new one";
    return NULL;
}

const char *directory_secret_scheme(const char *secret)
{
    const struct scheme_info *info = scheme_of_secret(secret);
    return info ? info->name : NULL;
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Dot-atom local part; UTF-8 bytes are allowed (SMTPUTF8), quoted strings are not. */
static const char *local_part_problem(const char *local, size_t len)
{
    if (len == 0)
        return "has nothing before the '@'";
    if (len > ADDRESS_LOCAL_MAX)
        return "has a local part longer than 64 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)local[i];
        if (!is_alnum(c) && c < 0x80 && !strchr(LOCAL_SPECIALS, c))
            return "has a character that needs quoting before the '@' (quoted local parts "
                   "are not supported)";
    }
    if (local[0] == '.' || local[len - 1] == '.' || memmem(local, len, "..", 2))
        return "has a misplaced '.' before the '@'";
    return NULL;
}

static const char *label_problem(const char *label, size_t len)
{
    if (len == 0)
        return "has an empty label in its domain";
    if (len > DOMAIN_LABEL_MAX)
        return "has a domain label longer than 63 bytes";
    if (label[0] == '-' || label[len - 1] == '-')
        return "has a domain label starting or ending with '-'";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)label[i];
        if (!is_alnum(c) && c != '-' && c < 0x80)
            return "has a character that is not allowed in a domain name";
    }
    return NULL;
}

static const char *domain_problem(const char *domain, size_t len)
{
    if (len == 0)
        return "has no domain after the '@'";
    if (len > DOMAIN_MAX)
        return "has a domain longer than 253 bytes";
    if (domain[0] == '[')
        return "has an address literal as domain (not supported)";
    for (size_t start = 0; start <= len;) {
        const char *dot = memchr(domain + start, '.', len - start);
        size_t end = dot ? (size_t)(dot - domain) : len;
        const char *why = label_problem(domain + start, end - start);
        if (why)
            return why;
        start = end + 1;
    }
    return NULL;
}

const char *directory_address_problem(const char *address, size_t len)
{
    if (len > ADDRESS_MAX)
        return "is longer than 254 bytes";
    if (memchr(address, '\0', len))
        return "contains a NUL character";
    const char *at = memrchr(address, '@', len);
    if (!at)
        return "has no '@' (expected local@domain)";
    size_t local_len = (size_t)(at - address);
    const char *why = local_part_problem(address, local_len);
    return why ? why : domain_problem(at + 1, len - local_len - 1);
}

/* ---- The directory ---- */

struct directory *directory_new(void)
{
    struct directory *dir = calloc(1, sizeof *dir);
    if (!dir)
        return NULL;
    dir->logins.kind = INDEX_LOGIN;
    dir->addresses.kind = INDEX_ADDRESS;
    dir->domains.kind = INDEX_DOMAIN;
    return dir;
}

void directory_free(struct directory *dir)
{
    if (!dir)
        return;
    for (size_t i = 0; i < dir->count; i++) {
        explicit_bzero(dir->accounts[i].secret, sizeof dir->accounts[i].secret);
        free(dir->accounts[i].addresses);
    }
    free(dir->accounts);
    free(dir->logins.slots);
    free(dir->addresses.slots);
    free(dir->domains.slots);
    free(dir);
}

size_t directory_count(const struct directory *dir)
{
    return dir ? dir->count : 0;
}

const struct account *directory_account(const struct directory *dir, size_t index)
{
    return dir && index < dir->count ? &dir->accounts[index] : NULL;
}

const struct account *directory_find_address(const struct directory *dir, const char *address,
                                             size_t len)
{
    const struct slot *slot = dir ? index_find(dir, &dir->addresses, address, len) : NULL;
    return slot ? &dir->accounts[slot->account - 1] : NULL;
}

const struct account *directory_find_login(const struct directory *dir, const char *name,
                                           size_t len)
{
    const struct slot *slot = dir ? index_find(dir, &dir->logins, name, len) : NULL;
    return slot ? &dir->accounts[slot->account - 1] : NULL;
}

bool directory_is_local_domain(const struct directory *dir, const char *domain, size_t len)
{
    return dir && index_find(dir, &dir->domains, domain, len) != NULL;
}

__attribute__((format(printf, 3, 4)))
static bool refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, args);
    va_end(args);
    return false;
}

static bool account_acceptable(const struct directory *dir, const struct account *account,
                               char *err, size_t errlen)
{
    size_t name_len = strnlen(account->name, sizeof account->name);
    const char *why = directory_name_problem(account->name, name_len);
    if (why)
        return refuse(err, errlen, "account name \"%.*s\" %s", (int)name_len, account->name,
                      why);
    if (directory_find_login(dir, account->name, name_len))
        return refuse(err, errlen, "account \"%s\" is defined twice (names are "
                      "case-insensitive)", account->name);
    if (memchr(account->secret, '\0', sizeof account->secret) == NULL)
        return refuse(err, errlen, "account \"%s\": secret is too long", account->name);
    if ((why = directory_secret_problem(account->secret)))
        return refuse(err, errlen, "account \"%s\": secret %s", account->name, why);
    if (account->naddresses > ACCOUNT_ADDRESSES_MAX)
        return refuse(err, errlen, "account \"%s\": more than %d addresses", account->name,
                      ACCOUNT_ADDRESSES_MAX);
    return true;
}

static bool address_acceptable(const struct directory *dir, const struct account *account,
                               size_t i, char *err, size_t errlen)
{
    const char *address = account->addresses[i];
    size_t len = strnlen(address, ADDRESS_MAX + 1);
    const char *why = directory_address_problem(address, len);
    if (why)
        return refuse(err, errlen, "account \"%s\": address \"%.*s\" %s", account->name,
                      (int)len, address, why);
    const struct account *owner = directory_find_address(dir, address, len);
    if (owner)
        return refuse(err, errlen, "account \"%s\": address \"%s\" already belongs to account "
                      "\"%s\"", account->name, address, owner->name);
    for (size_t j = 0; j < i; j++) {
        if (same_key(account->addresses[j], strlen(account->addresses[j]), address, len))
            return refuse(err, errlen, "account \"%s\": address \"%s\" is listed twice",
                          account->name, address);
    }
    return true;
}

static bool reserve_accounts(struct directory *dir)
{
    if (dir->count < dir->capacity)
        return true;
    size_t capacity = dir->capacity ? dir->capacity * 2 : 16;
    struct account *grown = realloc(dir->accounts, capacity * sizeof *grown);
    if (!grown)
        return false;
    dir->accounts = grown;
    dir->capacity = capacity;
    return true;
}

/* A private, lower-cased copy of the account's addresses. */
static bool copy_addresses(const struct account *from, struct account *to)
{
    to->addresses = NULL;
    to->naddresses = 0;
    if (from->naddresses == 0)
        return true;
    to->addresses = calloc(from->naddresses, sizeof *to->addresses);
    if (!to->addresses)
        return false;
    for (size_t i = 0; i < from->naddresses; i++) {
        size_t len = strlen(from->addresses[i]);
        for (size_t k = 0; k < len; k++)
            to->addresses[i][k] = (char)fold((unsigned char)from->addresses[i][k]);
    }
    to->naddresses = from->naddresses;
    return true;
}

static void index_account(struct directory *dir, size_t position)
{
    const struct account *account = &dir->accounts[position];
    index_insert(&dir->logins, account->name, strlen(account->name), position, 0);
    for (size_t i = 0; i < account->naddresses; i++) {
        const char *address = account->addresses[i];
        index_insert(&dir->addresses, address, strlen(address), position, i);
        size_t domain_len;
        const char *domain = domain_of(address, strlen(address), &domain_len);
        if (!index_find(dir, &dir->domains, domain, domain_len))
            index_insert(&dir->domains, domain, domain_len, position, i);
    }
}

bool directory_add(struct directory *dir, const struct account *account, char *err, size_t errlen)
{
    if (!account_acceptable(dir, account, err, errlen))
        return false;
    for (size_t i = 0; i < account->naddresses; i++) {
        if (!address_acceptable(dir, account, i, err, errlen))
            return false;
    }
    if (dir->count >= DIRECTORY_ACCOUNTS_MAX)
        return refuse(err, errlen, "account \"%s\": more than %d accounts", account->name,
                      DIRECTORY_ACCOUNTS_MAX);
    if (!reserve_accounts(dir) || !index_reserve(&dir->logins, 1) ||
        !index_reserve(&dir->addresses, account->naddresses) ||
        !index_reserve(&dir->domains, account->naddresses))
        return refuse(err, errlen, "account \"%s\": out of memory", account->name);
    struct account *stored = &dir->accounts[dir->count];
    memcpy(stored->name, account->name, sizeof stored->name);
    memcpy(stored->secret, account->secret, sizeof stored->secret);
    if (!copy_addresses(account, stored))
        return refuse(err, errlen, "account \"%s\": out of memory", account->name);
    index_account(dir, dir->count++);
    return true;
}

/* ---- Passwords ---- */

/*
 * Checked instead of a real hash when the login name is unknown, so that an unknown name costs
 * as much as a wrong password. Its password is random and was never kept, and a match would not
 * count anyway. Default yescrypt cost, the scheme `postern hash-password` writes by default.
 */
static const char dummy_hash[] =
    "$y$j9T$VW4ZSOHcLpViLoRjw0WzJ.$jX.VJCg.Lh/5WEh84VUZvdBB7RxD9DHOgW0ZCQ9INu7";

bool directory_check_password(const struct account *account, const char *password, size_t len)
{
    const char *setting = account ? account->secret : dummy_hash;
    /* Unusable input still pays for a hash: refusing early would be measurably faster. */
    bool usable = account && len <= PASSWORD_MAX && !memchr(password, '\0', len);
    char phrase[PASSWORD_MAX + 1];
    size_t used = len < PASSWORD_MAX ? len : PASSWORD_MAX;
    memcpy(phrase, password, used);
    phrase[used] = '\0';
    struct crypt_data *data = calloc(1, sizeof *data);
    const char *out = data ? crypt_rn(phrase, setting, data, sizeof *data) : NULL;
    size_t stored_len = strlen(setting);
    bool match = out && usable && strlen(out) == stored_len &&
                 CRYPTO_memcmp(out, setting, stored_len) == 0;
    explicit_bzero(phrase, sizeof phrase);
    if (data) {
        explicit_bzero(data, sizeof *data);
        free(data);
    }
    return match;
}

static const struct scheme_info *scheme_info(enum password_scheme scheme)
{
    for (size_t i = 0; i < SCHEME_COUNT; i++) {
        if (schemes[i].scheme == scheme)
            return &schemes[i];
    }
    return NULL;
}

const char *password_scheme_name(enum password_scheme scheme)
{
    const struct scheme_info *info = scheme_info(scheme);
    return info ? info->name : "unknown";
}

bool password_scheme_parse(const char *name, enum password_scheme *out)
{
    for (size_t i = 0; i < SCHEME_COUNT; i++) {
        if (strcmp(name, schemes[i].name) == 0) {
            *out = schemes[i].scheme;
            return true;
        }
    }
    return false;
}

/* The cost argument of crypt_gensalt for each scheme; 0 is libxcrypt's default. */
static unsigned long scheme_cost(enum password_scheme scheme)
{
    switch (scheme) {
    case PASSWORD_SHA512:
        return PASSWORD_SHA512_ROUNDS;
    case PASSWORD_BCRYPT:
        return PASSWORD_BCRYPT_COST;
    case PASSWORD_YESCRYPT:
        break;
    }
    return 0;
}

bool directory_hash_password_with(enum password_scheme scheme, const char *password, char *out,
                                  size_t outlen)
{
    const struct scheme_info *info = scheme_info(scheme);
    size_t len = strlen(password);
    if (!info || len == 0 || len > PASSWORD_MAX)
        return false;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    /* NULL random bytes: libxcrypt draws the salt from the kernel. */
    if (!crypt_gensalt_rn(info->prefix, scheme_cost(scheme), NULL, 0, setting, sizeof setting))
        return false;
    struct crypt_data *data = calloc(1, sizeof *data);
    if (!data)
        return false;
    const char *hash = crypt_rn(password, setting, data, sizeof *data);
    bool ok = hash && hash[0] == '$' && strlen(hash) < outlen;
    if (ok)
        memcpy(out, hash, strlen(hash) + 1);
    explicit_bzero(data, sizeof *data);
    free(data);
    return ok;
}

bool directory_hash_password(const char *password, char *out, size_t outlen)
{
    return directory_hash_password_with(PASSWORD_YESCRYPT, password, out, outlen);
}
