/*
 * Maildir delivery into a temporary data directory: file names, contents, modes, hard links
 * shared by several accounts, unique names across threads and processes, and failures that
 * must leave no message (partial or whole) in any new/: a read-only new/, a write cut short,
 * an unusable account name, a new/ that is not a directory. Also a second file system
 * (link gives EXDEV) when /dev/shm is one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/maildir.h"
#include "sandbox_test_util.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define UNPRIVILEGED_UID 65534 /* nobody */

static const char message[] = "Received: from a\nSubject: hi\n\nbody\n";

/* ---- Helpers ---- */

static void path_of(char *out, size_t cap, const struct sandbox *box, const char *account,
                    const char *sub, const char *name)
{
    snprintf(out, cap, "%s/%s%s%s%s%s", box->data_dir, account, sub ? "/" : "", sub ? sub : "",
             name ? "/" : "", name ? name : "");
}

/* The entries of DATA/ACCOUNT/SUB (without . and ..); returns how many, first name in first. */
static size_t list(const struct sandbox *box, const char *account, const char *sub,
                   char *first, size_t cap)
{
    char path[512];
    path_of(path, sizeof path, box, account, sub, NULL);
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    size_t n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (n++ == 0 && first)
            snprintf(first, cap, "%s", entry->d_name);
    }
    closedir(dir);
    return n;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    char *data = malloc(1 << 20);
    *len = fread(data, 1, 1 << 20, in);
    fclose(in);
    return data;
}

static int deliver(const struct sandbox *box, const char *const *accounts, size_t n,
                   const char *text, char *err, size_t errlen)
{
    struct iovec part = {(void *)text, strlen(text)};
    return maildir_deliver(box->data_dir, accounts, n, &part, 1, err, errlen);
}

/* Nothing of a failed delivery: new/ and tmp/ of every account are empty. */
static void expect_no_message(const struct sandbox *box, const char *const *accounts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[256] = "";
        if (list(box, accounts[i], "new", name, sizeof name) != 0)
            fail_msg("%s/new holds %s after a failed delivery", accounts[i], name);
        if (list(box, accounts[i], "tmp", name, sizeof name) != 0)
            fail_msg("%s/tmp holds %s after a failed delivery", accounts[i], name);
    }
}

/*
 * Runs fn in a child process without root's powers (root ignores permission bits), the
 * sandbox owned by that user. The child's exit status is fn's result.
 */
static int run_unprivileged(const struct sandbox *box, int (*fn)(const struct sandbox *))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0) {
            char command[256];
            snprintf(command, sizeof command, "chown -R %d:%d '%s'", UNPRIVILEGED_UID,
                     UNPRIVILEGED_UID, box->root);
            if (system(command) != 0 || setgid(UNPRIVILEGED_UID) != 0 ||
                setuid(UNPRIVILEGED_UID) != 0)
                _exit(99);
        }
        _exit(fn(box));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* ---- Names ---- */

static void test_unique_name_format(void **state)
{
    (void)state;
    char name[MAILDIR_NAME_MAX], host[MAILDIR_HOST_TEXT_MAX], raw[256] = "";
    gethostname(raw, sizeof raw - 1);
    maildir_escape_hostname(raw, host);
    maildir_unique_name(1234, name);
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]+\\.M[0-9]{1,6}P[0-9]+Q[0-9]+\\.(.+),S=1234$",
                             REG_EXTENDED), 0);
    regmatch_t match[2];
    if (regexec(&re, name, 2, match, 0) != 0)
        fail_msg("unexpected name %s", name);
    regfree(&re);
    assert_memory_equal(name + match[1].rm_so, host, strlen(host));
    char pid[32];
    snprintf(pid, sizeof pid, "P%ldQ", (long)getpid());
    assert_non_null(strstr(name, pid));
    assert_true(strlen(name) < 256); /* NAME_MAX */
}

static void test_escape_hostname(void **state)
{
    (void)state;
    char out[MAILDIR_HOST_TEXT_MAX];
    assert_int_equal(maildir_escape_hostname("mx.example.org", out), 14);
    assert_string_equal(out, "mx.example.org");
    maildir_escape_hostname("a/b:c", out);
    assert_string_equal(out, "a\\057b\\072c");
    /* A long name is cut, never in the middle of an escape. */
    char slashes[200];
    memset(slashes, '/', sizeof slashes - 1);
    slashes[sizeof slashes - 1] = '\0';
    size_t len = maildir_escape_hostname(slashes, out);
    assert_true(len < MAILDIR_HOST_TEXT_MAX);
    assert_int_equal(len % 4, 0);
    assert_int_equal(strlen(out), len);
    assert_string_equal(out + len - 4, "\\057");
}

#define NAME_THREADS 4
#define NAMES_PER_THREAD 500

static void *make_names(void *arg)
{
    char (*names)[MAILDIR_NAME_MAX] = arg;
    for (int i = 0; i < NAMES_PER_THREAD; i++)
        maildir_unique_name(10, names[i]);
    return NULL;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_names_unique_across_threads_and_processes(void **state)
{
    (void)state;
    enum { TOTAL = NAME_THREADS * NAMES_PER_THREAD + 1 };
    char (*names)[MAILDIR_NAME_MAX] = calloc(TOTAL, MAILDIR_NAME_MAX);
    pthread_t threads[NAME_THREADS];
    for (int t = 0; t < NAME_THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, make_names,
                                        names + t * NAMES_PER_THREAD), 0);
    for (int t = 0; t < NAME_THREADS; t++)
        pthread_join(threads[t], NULL);
    /* A child process continues from the same counter value: its pid tells it apart. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char name[MAILDIR_NAME_MAX];
        maildir_unique_name(10, name);
        ssize_t w = write(pipefd[1], name, sizeof name);
        _exit(w == (ssize_t)sizeof name ? 0 : 1);
    }
    assert_int_equal(read(pipefd[0], names[TOTAL - 1], MAILDIR_NAME_MAX), MAILDIR_NAME_MAX);
    waitpid(pid, NULL, 0);
    close(pipefd[0]);
    close(pipefd[1]);
    qsort(names, TOTAL, MAILDIR_NAME_MAX, compare_names);
    for (int i = 1; i < TOTAL; i++) {
        if (strcmp(names[i - 1], names[i]) == 0)
            fail_msg("duplicate name %s", names[i]);
    }
    free(names);
}

/* ---- Delivery ---- */

static void test_deliver_one(void **state)
{
    struct sandbox *box = *state;
    const char *accounts[] = {"alice"};
    char err[256] = "";
    assert_int_equal(deliver(box, accounts, 1, message, err, sizeof err), 0);
    char name[256], path[512];
    assert_int_equal(list(box, "alice", "new", name, sizeof name), 1);
    assert_int_equal(list(box, "alice", "tmp", NULL, 0), 0);
    assert_int_equal(list(box, "alice", "cur", NULL, 0), 0);
    char size[32];
    snprintf(size, sizeof size, ",S=%zu", strlen(message));
    assert_string_equal(name + strlen(name) - strlen(size), size);
    assert_null(strchr(name, ':')); /* no info part in new/ */
    path_of(path, sizeof path, box, "alice", "new", name);
    size_t len;
    char *data = read_all(path, &len);
    assert_int_equal(len, strlen(message));
    assert_memory_equal(data, message, len);
    free(data);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_nlink, 1);
    static const char *const dirs[] = {NULL, "tmp", "new", "cur"};
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        path_of(path, sizeof path, box, "alice", dirs[i], NULL);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
    }
    /* A second message gets a name of its own. */
    assert_int_equal(deliver(box, accounts, 1, "x\n", err, sizeof err), 0);
    assert_int_equal(list(box, "alice", "new", NULL, 0), 2);
}

static void test_deliver_many_accounts(void **state)
{
    struct sandbox *box = *state;
    /* "bob" twice: one copy each, not a failure. */
    const char *accounts[] = {"alice", "bob", "carol", "bob"};
    char err[256] = "";
    assert_int_equal(deliver(box, accounts, ARRAY_LEN(accounts), message, err, sizeof err), 0);
    char first[256], name[256], path[512];
    struct stat st;
    ino_t inode = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(list(box, accounts[i], "new", name, sizeof name), 1);
        assert_int_equal(list(box, accounts[i], "tmp", NULL, 0), 0);
        if (i == 0)
            snprintf(first, sizeof first, "%s", name);
        assert_string_equal(name, first);
        path_of(path, sizeof path, box, accounts[i], "new", name);
        assert_int_equal(stat(path, &st), 0);
        if (i == 0)
            inode = st.st_ino;
        assert_int_equal(st.st_ino, inode); /* one file, hard-linked */
        assert_int_equal(st.st_nlink, 3);   /* its tmp/ name is gone */
    }
}

/* Many pieces (more than one writev takes), some empty: written in order, byte for byte. */
static void test_deliver_parts(void **state)
{
    struct sandbox *box = *state;
    enum { NPARTS = 300 };
    struct iovec parts[NPARTS];
    char *expected = malloc(NPARTS * 8);
    char text[NPARTS][8];
    size_t total = 0;
    for (int i = 0; i < NPARTS; i++) {
        int n = i % 7 == 0 ? 0 : snprintf(text[i], sizeof text[i], "%d,", i);
        parts[i].iov_base = text[i];
        parts[i].iov_len = (size_t)n;
        memcpy(expected + total, text[i], (size_t)n);
        total += (size_t)n;
    }
    const char *accounts[] = {"alice"};
    char err[256] = "";
    assert_int_equal(maildir_deliver(box->data_dir, accounts, 1, parts, NPARTS, err, sizeof err),
                     0);
    char name[256], path[512];
    list(box, "alice", "new", name, sizeof name);
    path_of(path, sizeof path, box, "alice", "new", name);
    size_t len;
    char *data = read_all(path, &len);
    assert_int_equal(len, total);
    assert_memory_equal(data, expected, total);
    free(data);
    free(expected);
    /* An empty message is still a message. */
    assert_int_equal(maildir_deliver(box->data_dir, accounts, 1, NULL, 0, err, sizeof err), 0);
    assert_int_equal(list(box, "alice", "new", NULL, 0), 2);
}

static void test_ensure(void **state)
{
    struct sandbox *box = *state;
    char err[256] = "";
    assert_int_equal(maildir_ensure(box->data_dir, "alice", err, sizeof err), 0);
    assert_int_equal(maildir_ensure(box->data_dir, "alice", err, sizeof err), 0); /* again */
    char path[512];
    struct stat st;
    path_of(path, sizeof path, box, "alice", "cur", NULL);
    assert_int_equal(stat(path, &st), 0);
    /* A data directory whose parent is missing is an error, not a crash. */
    char deep[256];
    snprintf(deep, sizeof deep, "%s/missing/data", box->root);
    assert_int_equal(maildir_ensure(deep, "alice", err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file or directory"));
}

static void test_bad_account_names(void **state)
{
    struct sandbox *box = *state;
    static const char *const bad[] = {"", "..", ".hidden", "a/b", "../escape"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        const char *accounts[] = {"alice", bad[i]};
        char err[256] = "";
        assert_int_equal(deliver(box, accounts, 2, message, err, sizeof err), -1);
        assert_non_null(strstr(err, "account name"));
        assert_non_null(maildir_account_problem(bad[i]));
    }
    /* Refused before anything was written. */
    const char *alice[] = {"alice"};
    expect_no_message(box, alice, 1);
    char err[256] = "";
    assert_int_equal(maildir_deliver(box->data_dir, NULL, 0, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "no accounts"));
    assert_null(maildir_account_problem("alice.smith-2"));
}

static void test_new_is_not_a_directory(void **state)
{
    struct sandbox *box = *state;
    char err[256] = "", path[512];
    assert_int_equal(maildir_ensure(box->data_dir, "bob", err, sizeof err), 0);
    path_of(path, sizeof path, box, "bob", "new", NULL);
    assert_int_equal(rmdir(path), 0);
    FILE *f = fopen(path, "w");
    fclose(f);
    const char *accounts[] = {"alice", "bob"};
    assert_int_equal(deliver(box, accounts, 2, message, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a directory"));
    const char *alice[] = {"alice"};
    expect_no_message(box, alice, 1);
}

/* alice's delivery is linked, then bob's new/ refuses the link: alice's copy must go again. */
static int deliver_into_read_only_new(const struct sandbox *box)
{
    const char *accounts[] = {"alice", "bob", "carol"};
    char err[256] = "", path[512];
    for (size_t i = 0; i < ARRAY_LEN(accounts); i++) {
        if (maildir_ensure(box->data_dir, accounts[i], err, sizeof err) != 0)
            return 10;
    }
    path_of(path, sizeof path, box, "bob", "new", NULL);
    if (chmod(path, 0500) != 0)
        return 11;
    if (deliver(box, accounts, 3, message, err, sizeof err) != -1)
        return 12;
    if (!strstr(err, "link") || !strstr(err, "Permission denied"))
        return 13;
    for (size_t i = 0; i < ARRAY_LEN(accounts); i++) {
        if (list(box, accounts[i], "new", NULL, 0) != 0 || list(box, accounts[i], "tmp", NULL, 0))
            return 14;
    }
    chmod(path, 0700);
    return deliver(box, accounts, 3, message, err, sizeof err) == 0 ? 0 : 15;
}

static void test_read_only_new_leaves_nothing(void **state)
{
    assert_int_equal(run_unprivileged(*state, deliver_into_read_only_new), 0);
}

/* tmp/ cannot be written at all. */
static int deliver_into_read_only_tmp(const struct sandbox *box)
{
    const char *accounts[] = {"alice"};
    char err[256] = "", path[512];
    if (maildir_ensure(box->data_dir, "alice", err, sizeof err) != 0)
        return 10;
    path_of(path, sizeof path, box, "alice", "tmp", NULL);
    if (chmod(path, 0500) != 0)
        return 11;
    if (deliver(box, accounts, 1, message, err, sizeof err) != -1 || !strstr(err, "create"))
        return 12;
    return list(box, "alice", "new", NULL, 0) == 0 ? 0 : 13;
}

static void test_read_only_tmp(void **state)
{
    assert_int_equal(run_unprivileged(*state, deliver_into_read_only_tmp), 0);
}

/* The file size limit cuts the write short (EFBIG after a partial write), as a full disk
 * would: the partial tmp/ file must be removed and nothing linked. */
static int deliver_with_small_file_limit(const struct sandbox *box)
{
    const char *accounts[] = {"alice", "bob"};
    char err[256] = "";
    for (size_t i = 0; i < ARRAY_LEN(accounts); i++) {
        if (maildir_ensure(box->data_dir, accounts[i], err, sizeof err) != 0)
            return 10;
    }
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {100, 100};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0)
        return 11;
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    if (deliver(box, accounts, 2, big, err, sizeof err) != -1)
        return 12;
    if (!strstr(err, "write") || !strstr(err, "File too large"))
        return 13;
    for (size_t i = 0; i < ARRAY_LEN(accounts); i++) {
        if (list(box, accounts[i], "new", NULL, 0) != 0 || list(box, accounts[i], "tmp", NULL, 0))
            return 14;
    }
    return deliver(box, accounts, 2, "small\n", err, sizeof err) == 0 ? 0 : 15;
}

static void test_short_write_leaves_nothing(void **state)
{
    struct sandbox *box = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(deliver_with_small_file_limit(box));
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* bob's folder on another file system: link() says EXDEV, so bob gets his own copy. */
static void test_other_file_system(void **state)
{
    struct sandbox *box = *state;
    struct stat here, shm;
    if (stat("/tmp", &here) != 0 || stat("/dev/shm", &shm) != 0 || here.st_dev == shm.st_dev)
        skip();
    char elsewhere[] = "/dev/shm/postern-maildir-XXXXXX", link_path[512], err[256] = "";
    assert_non_null(mkdtemp(elsewhere));
    assert_int_equal(mkdir(box->data_dir, 0700), 0);
    path_of(link_path, sizeof link_path, box, "bob", NULL, NULL);
    assert_int_equal(symlink(elsewhere, link_path), 0);
    const char *accounts[] = {"alice", "bob"};
    int rc = deliver(box, accounts, 2, message, err, sizeof err);
    size_t alice_new = list(box, "alice", "new", NULL, 0);
    size_t bob_new = list(box, "bob", "new", NULL, 0);
    size_t bob_tmp = list(box, "bob", "tmp", NULL, 0);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", elsewhere);
    assert_int_equal(system(command), 0);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(alice_new, 1);
    assert_int_equal(bob_new, 1);
    assert_int_equal(bob_tmp, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_name_format),
        cmocka_unit_test(test_escape_hostname),
        cmocka_unit_test(test_names_unique_across_threads_and_processes),
        cmocka_unit_test_setup_teardown(test_deliver_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_many_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliver_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ensure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_account_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_is_not_a_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_new_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_write_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_file_system, setup, teardown),
    };
    return cmocka_run_group_tests_name("maildir", tests, NULL, NULL);
}
