/*
 * Accounts: lookups (case-insensitive, many accounts), validation messages for names, secrets
 * and addresses, duplicates, password checks for every scheme, hashing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/directory.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* "correct horse" in each scheme (libxcrypt defaults, cheap for tests). */
#define HASH_YESCRYPT "$y$j9T$1UaT9oY/Sy2ziozRYWzFE/$NRZXlF17KPXvLqw0e3x8cOdgTzO.kStF.6Cj9hM8X99"
#define HASH_SHA512                                                                           \
    "$6$2ZDWHeh.JZCmm2wo$x5YTCdH485jY.WznSUePh5Awe7cqcvBDnRZHOHDKgNwkATHx3pWkxBX2bdbomNaUTBBG" \
    "C7MjxyqgcplEwRuIh0"
#define HASH_BCRYPT "$2b$05$KgSnuQnD7CvbrJqEoRf4yuI6O2y5rto1XrLFm564U/O03vfXBqla2"
#define PASSWORD "correct horse"

static void expect_text(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected to find\n  %s\nin\n  %s", needle, haystack);
}

/* An account with up to four addresses, for directory_add(). */
struct test_account {
    struct account account;
    char addresses[4][ADDRESS_MAX + 1];
};

static struct account *make(struct test_account *t, const char *name, const char *secret,
                            const char *const *addresses, size_t n)
{
    memset(t, 0, sizeof *t);
    snprintf(t->account.name, sizeof t->account.name, "%s", name);
    snprintf(t->account.secret, sizeof t->account.secret, "%s", secret);
    for (size_t i = 0; i < n; i++)
        snprintf(t->addresses[i], sizeof t->addresses[i], "%s", addresses[i]);
    t->account.addresses = t->addresses;
    t->account.naddresses = n;
    return &t->account;
}

#define MAKE(t, name, secret, ...)                                                            \
    make((t), (name), (secret), (const char *const[]){__VA_ARGS__},                           \
         ARRAY_LEN(((const char *const[]){__VA_ARGS__})))

static bool add(struct directory *dir, const struct account *account, char *err)
{
    return directory_add(dir, account, err, 256);
}

static const struct account *by_address(const struct directory *dir, const char *address)
{
    return directory_find_address(dir, address, strlen(address));
}

static const struct account *by_login(const struct directory *dir, const char *name)
{
    return directory_find_login(dir, name, strlen(name));
}

static bool local(const struct directory *dir, const char *domain)
{
    return directory_is_local_domain(dir, domain, strlen(domain));
}

/* ---- Lookups ---- */

static void test_empty(void **state)
{
    (void)state;
    struct directory *dir = directory_new();
    assert_non_null(dir);
    assert_int_equal(directory_count(dir), 0);
    assert_null(directory_account(dir, 0));
    assert_null(by_address(dir, "a@b.c"));
    assert_null(by_login(dir, "a"));
    assert_false(local(dir, "b.c"));
    directory_free(dir);
    directory_free(NULL);
}

static void test_lookups_are_case_insensitive(void **state)
{
    (void)state;
    struct directory *dir = directory_new();
    struct test_account a, b;
    char err[256];
    assert_true(add(dir, MAKE(&a, "Alice", HASH_YESCRYPT, "Alice@Example.ORG",
                              "postmaster@example.org"), err));
    assert_true(add(dir, MAKE(&b, "bob", HASH_SHA512, "bob@mail.example.net"), err));
    assert_int_equal(directory_count(dir), 2);
    const struct account *alice = directory_account(dir, 0);
    assert_string_equal(alice->name, "Alice"); /* the folder name, as written */
    assert_int_equal(alice->naddresses, 2);
    assert_string_equal(alice->addresses[0], "alice@example.org"); /* stored lower-cased */
    assert_ptr_equal(by_address(dir, "alice@example.org"), alice);
    assert_ptr_equal(by_address(dir, "ALICE@EXAMPLE.ORG"), alice);
    assert_ptr_equal(by_address(dir, "PostMaster@example.org"), alice);
    assert_ptr_equal(by_address(dir, "bob@MAIL.example.net"), directory_account(dir, 1));
    assert_null(by_address(dir, "alice@example.net"));
    assert_null(by_address(dir, "alice@example.or"));
    assert_null(by_address(dir, "alice"));
    assert_ptr_equal(by_login(dir, "alice"), alice);
    assert_ptr_equal(by_login(dir, "ALICE"), alice);
    assert_null(by_login(dir, "alic"));
    /* Lengths are explicit: the prefix of a longer buffer is looked up. */
    assert_ptr_equal(directory_find_login(dir, "bobby", 3), directory_account(dir, 1));
    assert_true(local(dir, "example.org"));
    assert_true(local(dir, "EXAMPLE.org"));
    assert_true(local(dir, "mail.example.net"));
    assert_false(local(dir, "example.net"));
    assert_false(local(dir, "org"));
    directory_free(dir);
}

/* Thousands of accounts: every index grows and every key is still found. */
static void test_many_accounts(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct directory *dir = directory_new();
    char err[256];
    for (int i = 0; i < N; i++) {
        struct test_account t;
        char name[32], first[64], second[64];
        snprintf(name, sizeof name, "user%d", i);
        snprintf(first, sizeof first, "user%d@d%d.example", i, i % 50);
        snprintf(second, sizeof second, "alias%d@example.com", i);
        if (!add(dir, MAKE(&t, name, HASH_BCRYPT, first, second), err))
            fail_msg("%s", err);
    }
    assert_int_equal(directory_count(dir), N);
    for (int i = 0; i < N; i++) {
        char name[32], address[64];
        snprintf(name, sizeof name, "USER%d", i);
        snprintf(address, sizeof address, "Alias%d@example.com", i);
        const struct account *account = by_login(dir, name);
        assert_non_null(account);
        assert_ptr_equal(by_address(dir, address), account);
        assert_ptr_equal(account, directory_account(dir, (size_t)i));
    }
    assert_true(local(dir, "d49.example"));
    assert_false(local(dir, "d50.example"));
    directory_free(dir);
}

/* ---- Validation ---- */

static void test_bad_names(void **state)
{
    (void)state;
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"", "must not be empty"},
        {".hidden", "must not start with '.'"},
        {"a/b", "may only contain"},
        {"al ice", "may only contain"},
        {"..", "must not start with '.'"},
        {"x12345678901234567890123456789012345678901234567890123456789012345", "longer than 64"},
    };
    struct directory *dir = directory_new();
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *why = directory_name_problem(cases[i].name, strlen(cases[i].name));
        assert_non_null(why);
        expect_text(why, cases[i].why);
        struct test_account t;
        char err[256];
        if (strlen(cases[i].name) <= ACCOUNT_NAME_MAX) {
            assert_false(add(dir, MAKE(&t, cases[i].name, HASH_SHA512, "a@b.c"), err));
            expect_text(err, cases[i].why);
        }
    }
    assert_null(directory_name_problem("a.b_c-D9", 8));
    assert_int_equal(directory_count(dir), 0);
    directory_free(dir);
}

static void test_secrets(void **state)
{
    (void)state;
    assert_null(directory_secret_problem(HASH_YESCRYPT));
    assert_null(directory_secret_problem(HASH_SHA512));
    assert_null(directory_secret_problem(HASH_BCRYPT));
    assert_string_equal(directory_secret_scheme(HASH_YESCRYPT), "yescrypt");
    assert_string_equal(directory_secret_scheme(HASH_SHA512), "sha512");
    assert_string_equal(directory_secret_scheme(HASH_BCRYPT), "bcrypt");
    assert_null(directory_secret_scheme("hunter2"));

    const char *why = directory_secret_problem("hunter2");
    expect_text(why, "is not a password hash");
    expect_text(why, "postern hash-password");
    expect_text(directory_secret_problem(""), "postern hash-password");
    why = directory_secret_problem("$1$abcdefgh$0123456789012345678901");
    expect_text(why, "unsupported hash scheme");
    expect_text(why, "postern hash-password");
    expect_text(directory_secret_problem("$5$abc$def"), "unsupported");
    expect_text(directory_secret_problem("$2y$05$KgSnuQnD7CvbrJqEoRf4yu"), "unsupported");
    /* Cut short or altered hashes of a supported scheme. */
    char cut[] = HASH_SHA512;
    cut[40] = '\0';
    expect_text(directory_secret_problem(cut), "not a valid hash");
    char altered[] = HASH_YESCRYPT;
    altered[sizeof altered - 3] = '!';
    expect_text(directory_secret_problem(altered), "not a valid hash");

    struct directory *dir = directory_new();
    struct test_account t;
    char err[256];
    assert_false(add(dir, MAKE(&t, "alice", "correct horse", "a@b.c"), err));
    expect_text(err, "account \"alice\": secret is not a password hash");
    assert_null(strstr(err, "correct horse")); /* a plain password is never repeated */
    directory_free(dir);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    char long_local[80], long_label[80], long_domain[300];
    snprintf(long_local, sizeof long_local, "%065d@example.org", 0);
    snprintf(long_label, sizeof long_label, "a@%064d.org", 0);
    memset(long_domain, 'a', sizeof long_domain);
    memcpy(long_domain, "x@", 2);
    for (size_t i = 60; i < 290; i += 60)
        long_domain[i] = '.';
    long_domain[sizeof long_domain - 1] = '\0';
    static const struct {
        const char *address, *why;
    } fixed[] = {
        {"alice", "has no '@'"},
        {"@example.org", "nothing before the '@'"},
        {"alice@", "no domain"},
        {".alice@example.org", "misplaced '.'"},
        {"al..ice@example.org", "misplaced '.'"},
        {"alice.@example.org", "misplaced '.'"},
        {"al ice@example.org", "needs quoting"},
        {"\"al ice\"@example.org", "needs quoting"},
        {"alice@example..org", "empty label"},
        {"alice@example.org.", "empty label"},
        {"alice@-example.org", "starting or ending with '-'"},
        {"alice@exa_mple.org", "not allowed in a domain"},
        {"alice@[192.0.2.1]", "address literal"},
    };
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        const char *why = directory_address_problem(fixed[i].address, strlen(fixed[i].address));
        if (!why)
            fail_msg("\"%s\" accepted", fixed[i].address);
        expect_text(why, fixed[i].why);
    }
    expect_text(directory_address_problem(long_local, strlen(long_local)), "longer than 64");
    expect_text(directory_address_problem(long_label, strlen(long_label)), "longer than 63");
    expect_text(directory_address_problem(long_domain, strlen(long_domain)), "longer than 254");
    expect_text(directory_address_problem("a\0b@c.d", 7), "NUL");
    static const char *const fine[] = {
        "a@b", "first.last+tag@sub.example.org", "o'brien@example.ie", "x_y=z@a-b.example",
        "\303\251l\303\250ve@\303\251cole.example", /* SMTPUTF8 */
    };
    for (size_t i = 0; i < ARRAY_LEN(fine); i++) {
        const char *why = directory_address_problem(fine[i], strlen(fine[i]));
        if (why)
            fail_msg("\"%s\" refused: %s", fine[i], why);
    }
}

static void test_duplicates(void **state)
{
    (void)state;
    struct directory *dir = directory_new();
    struct test_account t;
    char err[256];
    assert_true(add(dir, MAKE(&t, "alice", HASH_SHA512, "alice@example.org"), err));
    assert_false(add(dir, MAKE(&t, "ALICE", HASH_SHA512, "other@example.org"), err));
    expect_text(err, "account \"ALICE\" is defined twice (names are case-insensitive)");
    assert_false(add(dir, MAKE(&t, "bob", HASH_SHA512, "Alice@example.org"), err));
    expect_text(err, "account \"bob\": address \"Alice@example.org\" already belongs to "
                     "account \"alice\"");
    assert_false(add(dir, MAKE(&t, "bob", HASH_SHA512, "bob@example.org", "BOB@example.org"),
                     err));
    expect_text(err, "account \"bob\": address \"BOB@example.org\" is listed twice");
    assert_false(add(dir, MAKE(&t, "carol", HASH_SHA512, "carol@example.org", "not an address"),
                     err));
    expect_text(err, "account \"carol\": address \"not an address\" has no '@'");
    /* Refusals change nothing. */
    assert_int_equal(directory_count(dir), 1);
    assert_null(by_login(dir, "carol"));
    assert_null(by_address(dir, "carol@example.org"));
    assert_null(by_login(dir, "bob"));
    /* An account may have no address at all: it logs in but receives nothing. */
    struct account none = {.name = "relay-only"};
    snprintf(none.secret, sizeof none.secret, "%s", HASH_BCRYPT);
    assert_true(add(dir, &none, err));
    assert_int_equal(directory_account(dir, 1)->naddresses, 0);
    directory_free(dir);
}

/* ---- Passwords ---- */

static void test_check_password(void **state)
{
    (void)state;
    static const char *const hashes[] = {HASH_YESCRYPT, HASH_SHA512, HASH_BCRYPT};
    for (size_t i = 0; i < ARRAY_LEN(hashes); i++) {
        struct account account = {.name = "alice"};
        snprintf(account.secret, sizeof account.secret, "%s", hashes[i]);
        assert_true(directory_check_password(&account, PASSWORD, strlen(PASSWORD)));
        assert_false(directory_check_password(&account, "correct horsE", strlen(PASSWORD)));
        assert_false(directory_check_password(&account, PASSWORD, strlen(PASSWORD) - 1));
        assert_false(directory_check_password(&account, "", 0));
        /* An embedded NUL must not let "correct horse\0anything" through. */
        assert_false(directory_check_password(&account, "correct horse\0x", 15));
        /* Unknown login: no match, whatever the password. */
        assert_false(directory_check_password(NULL, PASSWORD, strlen(PASSWORD)));
    }
    char huge[PASSWORD_MAX + 10];
    memset(huge, 'a', sizeof huge);
    struct account account = {.name = "alice"};
    snprintf(account.secret, sizeof account.secret, "%s", HASH_SHA512);
    assert_false(directory_check_password(&account, huge, sizeof huge));
    assert_false(directory_check_password(NULL, huge, sizeof huge));
    /* A hash that libcrypt refuses never matches. */
    snprintf(account.secret, sizeof account.secret, "$6$broken");
    assert_false(directory_check_password(&account, PASSWORD, strlen(PASSWORD)));
}

static void test_hash_password(void **state)
{
    (void)state;
    static const struct {
        enum password_scheme scheme;
        const char *prefix, *name;
    } cases[] = {
        {PASSWORD_YESCRYPT, "$y$", "yescrypt"},
        {PASSWORD_SHA512, "$6$rounds=100000$", "sha512"},
        {PASSWORD_BCRYPT, "$2b$10$", "bcrypt"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char hash[PASSWORD_HASH_MAX], again[PASSWORD_HASH_MAX];
        assert_true(directory_hash_password_with(cases[i].scheme, "s3cret pw", hash,
                                                 sizeof hash));
        assert_true(strncmp(hash, cases[i].prefix, strlen(cases[i].prefix)) == 0);
        assert_null(directory_secret_problem(hash));
        assert_string_equal(password_scheme_name(cases[i].scheme), cases[i].name);
        enum password_scheme parsed;
        assert_true(password_scheme_parse(cases[i].name, &parsed));
        assert_int_equal(parsed, cases[i].scheme);
        struct account account = {.name = "a"};
        snprintf(account.secret, sizeof account.secret, "%.*s", ACCOUNT_SECRET_MAX, hash);
        assert_true(directory_check_password(&account, "s3cret pw", 9));
        assert_false(directory_check_password(&account, "s3cret pW", 9));
        /* A fresh salt every time. */
        assert_true(directory_hash_password_with(cases[i].scheme, "s3cret pw", again,
                                                 sizeof again));
        assert_string_not_equal(hash, again);
    }
    char hash[PASSWORD_HASH_MAX];
    assert_true(directory_hash_password("pw", hash, sizeof hash));
    assert_true(strncmp(hash, "$y$", 3) == 0);
    assert_false(directory_hash_password("", hash, sizeof hash));
    assert_false(directory_hash_password("pw", hash, 10)); /* does not fit */
    char huge[PASSWORD_MAX + 2];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_false(directory_hash_password(huge, hash, sizeof hash));
    enum password_scheme parsed;
    assert_false(password_scheme_parse("md5", &parsed));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_lookups_are_case_insensitive),
        cmocka_unit_test(test_many_accounts),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_check_password),
        cmocka_unit_test(test_hash_password),
    };
    return cmocka_run_group_tests_name("directory", tests, NULL, NULL);
}
