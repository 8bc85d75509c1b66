/*
 * [[directory.accounts]]: each table is read into a draft with the generic walk, then checked
 * against the accounts before it (duplicate names and addresses, named with both lines) and
 * added to config->directory.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

struct account_draft {
    char name[ACCOUNT_NAME_MAX + 1];
    char secret[ACCOUNT_SECRET_MAX + 1];
    struct text_list email;
};

#define DRAFT_FIELD(field) .offset = offsetof(struct account_draft, field)
#define DRAFT_TEXT(field) DRAFT_FIELD(field), .size = sizeof(((struct account_draft *)0)->field)

static const char *check_name(const char *text)
{
    return directory_name_problem(text, strlen(text));
}

static const char *check_address(const char *text)
{
    return directory_address_problem(text, strlen(text));
}

static const struct key_spec account_keys[] = {
    /* the login name and the Maildir folder under server.data-dir */
    {"name", KEY_TEXT, DRAFT_TEXT(name), .required = true, .check = check_name},
    /* a crypt(3) hash from `postern hash-password`; never echoed in messages */
    {"secret", KEY_TEXT, DRAFT_TEXT(secret), .required = true, .secret = true,
     .check = directory_secret_problem},
    /* the addresses delivered to this account */
    {"email", KEY_TEXT_LIST, DRAFT_FIELD(email), .size = ADDRESS_MAX + 1,
     .max = ACCOUNT_ADDRESSES_MAX, .check = check_address},
};
_Static_assert(sizeof account_keys / sizeof account_keys[0] <= 64, "seen mask");

/* The line a key of the element was written on, or the element's own line. */
static size_t key_line(const struct toml_value *table, const char *key)
{
    size_t line = toml_position(toml_table_get(table, key)).line;
    return line ? line : toml_position(table).line;
}

static void key_of(const struct key_path *element, const char *key, struct key_path *out)
{
    *out = *element;
    key_path_push(out, key, strlen(key));
}

static size_t account_line(const struct loader *ld, const struct account *account)
{
    size_t index = (size_t)(account - directory_account(ld->config->directory, 0));
    return index < ld->account_capacity ? ld->account_lines[index] : 0;
}

static bool name_is_new(struct loader *ld, const struct account_draft *draft,
                        const struct toml_value *table, const struct key_path *path)
{
    const struct account *other =
        directory_find_login(ld->config->directory, draft->name, strlen(draft->name));
    if (!other)
        return true;
    struct key_path key;
    key_of(path, "name", &key);
    config_error(ld, key_line(table, "name"), key.text,
                 "account \"%s\" is already defined (line %zu); names are case-insensitive",
                 draft->name, account_line(ld, other));
    return false;
}

/* Same-account repeats and addresses of earlier accounts; each reported at its own line. */
static bool addresses_are_new(struct loader *ld, const struct account_draft *draft,
                              const struct key_path *path)
{
    struct key_path key;
    key_of(path, "email", &key);
    bool fine = true;
    const struct text_list *email = &draft->email;
    for (size_t i = 0; i < email->count; i++) {
        const char *address = email->items[i];
        const struct account *owner =
            directory_find_address(ld->config->directory, address, strlen(address));
        size_t j = 0;
        while (j < i && strcasecmp(email->items[j], address) != 0)
            j++;
        if (owner) {
            config_error(ld, email->lines[i], key.text, "\"%s\" already belongs to account "
                         "\"%s\" (line %zu)", address, owner->name, account_line(ld, owner));
            fine = false;
        } else if (j < i) {
            config_error(ld, email->lines[i], key.text, "\"%s\" is listed twice (line %zu)",
                         address, email->lines[j]);
            fine = false;
        }
    }
    return fine;
}

static bool remember_line(struct loader *ld, size_t index, size_t line)
{
    if (index >= ld->account_capacity) {
        size_t capacity = ld->account_capacity ? ld->account_capacity * 2 : 16;
        size_t *lines = realloc(ld->account_lines, capacity * sizeof *lines);
        if (!lines)
            return false;
        ld->account_lines = lines;
        ld->account_capacity = capacity;
    }
    ld->account_lines[index] = line;
    return true;
}

static void add_account(struct loader *ld, const struct account_draft *draft,
                        const struct toml_value *table, const struct key_path *path)
{
    struct account account = {.naddresses = draft->email.count};
    memcpy(account.name, draft->name, sizeof account.name);
    memcpy(account.secret, draft->secret, sizeof account.secret);
    if (account.naddresses &&
        !(account.addresses = calloc(account.naddresses, sizeof *account.addresses))) {
        config_error(ld, toml_position(table).line, path->text, "out of memory");
        return;
    }
    for (size_t i = 0; i < account.naddresses; i++)
        memcpy(account.addresses[i], draft->email.items[i], strlen(draft->email.items[i]) + 1);
    char why[CONFIG_MESSAGE_MAX];
    struct directory *dir = ld->config->directory;
    size_t index = directory_count(dir);
    if (!remember_line(ld, index, toml_position(table).line))
        config_error(ld, toml_position(table).line, path->text, "out of memory");
    else if (!directory_add(dir, &account, why, sizeof why))
        config_error(ld, toml_position(table).line, path->text, "%s", why);
    explicit_bzero(account.secret, sizeof account.secret);
    free(account.addresses);
}

static void finish_account(struct loader *ld, void *item, const struct toml_value *table,
                           const struct key_path *path, bool clean)
{
    const struct account_draft *draft = item;
    if (!clean || !ld->config->directory)
        return; /* its errors are reported; checking duplicates now would only add noise */
    bool fine = name_is_new(ld, draft, table, path);
    fine = addresses_are_new(ld, draft, path) && fine;
    if (fine)
        add_account(ld, draft, table, path);
}

static void release_account(void *item)
{
    struct account_draft *draft = item;
    explicit_bzero(draft->secret, sizeof draft->secret);
    text_list_free(&draft->email);
}

const struct table_array config_account_tables = {
    .keys = account_keys,
    .nkeys = sizeof account_keys / sizeof account_keys[0],
    .item_size = sizeof(struct account_draft),
    .finish = finish_account,
    .release = release_account,
};
