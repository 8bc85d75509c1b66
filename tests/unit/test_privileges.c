/*
 * Privileges: server.run-as syntax (in the schema and in `postern check`), user and group
 * lookups (names and numeric ids), handing over the data directory, and privileges_drop()
 * itself in forked children: dropping to nobody (all ids changed, root not regainable, no
 * capabilities, umask 077, files created 0600), refusing an unknown user, staying root only
 * when told to, and staying the current user when not started as root. The parts that need
 * root are skipped when the tests do not run as root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "log/log.h"
#include "net/privileges.h"

#define NOBODY 65534u

static bool is_root(void)
{
    return geteuid() == 0;
}

/* ---- run-as syntax ---- */

static void test_parse(void **state)
{
    (void)state;
    struct run_as who;
    char err[256];
    assert_true(privileges_parse("", &who, err, sizeof err));
    assert_string_equal(who.user, PRIVILEGES_DEFAULT_USER);
    assert_string_equal(who.group, "");
    assert_false(who.explicit_user);
    assert_true(privileges_parse(NULL, &who, err, sizeof err));
    assert_false(who.explicit_user);
    assert_true(privileges_parse("mail", &who, err, sizeof err));
    assert_string_equal(who.user, "mail");
    assert_true(who.explicit_user);
    assert_true(privileges_parse("_postern.svc-1:ssl-cert", &who, err, sizeof err));
    assert_string_equal(who.user, "_postern.svc-1");
    assert_string_equal(who.group, "ssl-cert");
    assert_true(privileges_parse("1000:1000", &who, err, sizeof err));
    assert_string_equal(who.user, "1000");
    assert_string_equal(who.group, "1000");
    static const char *const bad[] = {
        "-x", "a:", ":b", "a b", "a:b:c", "a/b", "user\n", "x:-g",
        "abcdefghijklmnopqrstuvwxyz0123456", /* 33 characters */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (privileges_parse(bad[i], &who, err, sizeof err))
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(strstr(err, "server.run-as"));
    }
    assert_true(privileges_parse("abcdefghijklmnopqrstuvwxyz012345", &who, err, sizeof err));
}

static char *load_and_describe(const char *text, char **diag_out)
{
    char *diag = NULL, *out = NULL;
    size_t diag_len = 0, out_len = 0;
    FILE *diag_f = open_memstream(&diag, &diag_len);
    struct config *config = config_load(text, strlen(text), "postern.toml", diag_f);
    fclose(diag_f);
    *diag_out = diag;
    if (!config)
        return NULL;
    FILE *out_f = open_memstream(&out, &out_len);
    config_describe(config, out_f);
    fclose(out_f);
    config_free(config);
    return out;
}

#define LISTENER "[server.listener.smtp]\nbind = \"127.0.0.1:2525\"\nprotocol = \"smtp\"\n"

static void test_config_key(void **state)
{
    (void)state;
    char *diag;
    char *out = load_and_describe("[server]\nrun-as = \"mail:adm\"\n" LISTENER, &diag);
    assert_non_null(out);
    assert_string_equal(diag, "");
    assert_non_null(strstr(out, "\nprivileges: run-as mail:adm (when started as root)\n"));
    free(out);
    free(diag);
    out = load_and_describe(LISTENER, &diag);
    assert_non_null(strstr(out, "\nprivileges: run-as postern (default: when started as root "
                                "and the user exists)\n"));
    free(out);
    free(diag);
    out = load_and_describe("[server]\nrun-as = \"mail:\"\n" LISTENER, &diag);
    assert_null(out);
    assert_non_null(strstr(diag, "error: postern.toml:2: server.run-as: \"mail:\" has no valid "
                                 "group name after ':'"));
    free(diag);
    out = load_and_describe("[server]\nrun-as = 1000\n" LISTENER, &diag);
    assert_null(out);
    assert_non_null(strstr(diag, "server.run-as: expected a string"));
    free(diag);
}

/* ---- lookups ---- */

static void test_lookups(void **state)
{
    (void)state;
    uid_t uid = 1;
    gid_t gid = 1;
    char name[64];
    assert_int_equal(privileges_lookup_user("root", &uid, &gid, name, sizeof name), 0);
    assert_int_equal(uid, 0);
    assert_int_equal(gid, 0);
    assert_string_equal(name, "root");
    assert_int_equal(privileges_lookup_user("0", &uid, &gid, name, sizeof name), 0);
    assert_string_equal(name, "root");
    assert_int_equal(privileges_lookup_user("nobody", &uid, &gid, name, sizeof name), 0);
    assert_int_equal(uid, NOBODY);
    assert_int_equal(privileges_lookup_user("no-such-user-postern", &uid, &gid, name,
                                            sizeof name), 1);
    /* a numeric id without a passwd entry (containers) */
    assert_int_equal(privileges_lookup_user("4000123", &uid, &gid, name, sizeof name), 0);
    assert_int_equal(uid, 4000123);
    assert_int_equal(gid, 4000123);
    assert_string_equal(name, "");
    assert_int_equal(privileges_lookup_group("root", &gid), 0);
    assert_int_equal(gid, 0);
    assert_int_equal(privileges_lookup_group("nogroup", &gid), 0);
    assert_int_equal(gid, NOBODY);
    assert_int_equal(privileges_lookup_group("no-such-group-postern", &gid), 1);
    assert_int_equal(privileges_lookup_group("4000124", &gid), 0);
    assert_int_equal(gid, 4000124);
}

/* ---- the data directory ---- */

static char *temp_dir(void)
{
    char *path = strdup("/tmp/postern-priv-XXXXXX");
    assert_non_null(mkdtemp(path));
    return path;
}

static void remove_tree(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void test_data_dir(void **state)
{
    (void)state;
    if (!is_root())
        skip();
    char err[512];
    char *dir = temp_dir();
    struct stat st;
    /* root-owned and empty: handed over, 0700 */
    assert_int_equal(privileges_prepare_data_dir(dir, 12345, 23456, err, sizeof err), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_uid, 12345);
    assert_int_equal(st.st_gid, 23456);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* someone else's: left alone */
    assert_int_equal(privileges_prepare_data_dir(dir, 777, 777, err, sizeof err), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_uid, 12345);
    /* root-owned and not empty: an error naming the fix */
    assert_int_equal(chown(dir, 0, 0), 0);
    char file[512];
    snprintf(file, sizeof file, "%s/alice", dir);
    assert_int_equal(mkdir(file, 0700), 0);
    assert_int_equal(privileges_prepare_data_dir(dir, 12345, 23456, err, sizeof err), -1);
    assert_non_null(strstr(err, "belongs to root and is not empty"));
    assert_non_null(strstr(err, "chown -R 12345:23456 "));
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_uid, 0);
    /* staying root: nothing to do */
    assert_int_equal(privileges_prepare_data_dir(dir, 0, 0, err, sizeof err), 0);
    /* not a directory, or missing */
    assert_int_equal(rmdir(file), 0);
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(privileges_prepare_data_dir(file, 1, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a directory"));
    snprintf(file, sizeof file, "%s/missing", dir);
    assert_int_equal(privileges_prepare_data_dir(file, 1, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file or directory"));
    remove_tree(dir);
    free(dir);
}

/* ---- privileges_drop() in a child ---- */

enum {
    CHILD_DROP_FAILED = 1 << 0,
    CHILD_WRONG_IDS = 1 << 1,
    CHILD_ROOT_BACK = 1 << 2,
    CHILD_CAPS = 1 << 3,
    CHILD_UMASK = 1 << 4,
    CHILD_FILE_MODE = 1 << 5,
    CHILD_DROP_SUCCEEDED = 1 << 6,
    CHILD_GROUPS = 1 << 7,
};

static bool capabilities_left(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    bool any = false;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "CapPrm:", 7) == 0 || strncmp(line, "CapEff:", 7) == 0 ||
            strncmp(line, "CapAmb:", 7) == 0)
            any |= strtoull(line + 7, NULL, 16) != 0;
    }
    if (f)
        fclose(f);
    return any;
}

struct drop_case {
    const char *run_as;
    bool expect_ok;
    uid_t expect_uid;
    gid_t expect_gid;
    const char *expect_err; /* when !expect_ok */
    bool start_as_nobody;    /* drop to nobody by hand first (the "not root" case) */
};

/* Runs privileges_drop() in a child and returns the CHILD_* bits it reports. */
static int run_drop(const struct drop_case *c, const char *data_dir)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        log_setup(LOG_FORMAT_LOGFMT, LOG_ERROR, 2);
        int bits = 0;
        if (c->start_as_nobody && (setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
                                   setresuid(NOBODY, NOBODY, NOBODY) != 0))
            _exit(100);
        struct config *config = calloc(1, sizeof *config);
        snprintf(config->run_as, sizeof config->run_as, "%s", c->run_as);
        snprintf(config->data_dir, sizeof config->data_dir, "%s", data_dir);
        char err[512] = "";
        if (privileges_drop(config, err, sizeof err) != 0) {
            bits |= CHILD_DROP_FAILED;
            if (write(pipefd[1], err, strlen(err)) < 0)
                _exit(101);
        } else {
            bits |= CHILD_DROP_SUCCEEDED;
        }
        uid_t r, e, s;
        gid_t rg, eg, sg;
        getresuid(&r, &e, &s);
        getresgid(&rg, &eg, &sg);
        if (r != c->expect_uid || e != c->expect_uid || s != c->expect_uid ||
            rg != c->expect_gid || eg != c->expect_gid || sg != c->expect_gid)
            bits |= CHILD_WRONG_IDS;
        if (c->expect_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
            bits |= CHILD_ROOT_BACK;
        if (c->expect_uid != 0 && capabilities_left())
            bits |= CHILD_CAPS;
        gid_t groups[64];
        int ngroups = getgroups(64, groups);
        for (int i = 0; c->expect_uid != 0 && i < ngroups; i++)
            bits |= groups[i] == 0 ? CHILD_GROUPS : 0;
        mode_t old = umask(0);
        if (old != 077 && !(bits & CHILD_DROP_FAILED))
            bits |= CHILD_UMASK;
        umask(old);
        if (c->expect_ok) {
            char path[600];
            snprintf(path, sizeof path, "%s/created-%d", data_dir, (int)getpid());
            int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0666);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0 || (st.st_mode & 0777) != 0600 ||
                st.st_uid != c->expect_uid)
                bits |= CHILD_FILE_MODE;
            if (fd >= 0)
                close(fd);
        }
        free(config);
        _exit(bits);
    }
    close(pipefd[1]);
    char err[512] = "";
    ssize_t n = read(pipefd[0], err, sizeof err - 1);
    err[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int bits = WEXITSTATUS(status);
    if (c->expect_ok && bits != CHILD_DROP_SUCCEEDED)
        fail_msg("run-as \"%s\": child reported 0x%x (%s)", c->run_as, (unsigned)bits, err);
    if (!c->expect_ok) {
        if (!(bits & CHILD_DROP_FAILED))
            fail_msg("run-as \"%s\": expected a failure, child reported 0x%x", c->run_as,
                     (unsigned)bits);
        if (!strstr(err, c->expect_err))
            fail_msg("run-as \"%s\": expected \"%s\" in \"%s\"", c->run_as, c->expect_err, err);
    }
    return bits;
}

static void test_drop_to_nobody(void **state)
{
    (void)state;
    if (!is_root())
        skip();
    char *dir = temp_dir(); /* root-owned and empty: handed to nobody */
    struct drop_case c = {"nobody", true, NOBODY, NOBODY, NULL, false};
    run_drop(&c, dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_uid, NOBODY);
    remove_tree(dir);
    free(dir);
    /* an explicit group */
    dir = temp_dir();
    struct drop_case with_group = {"nobody:daemon", true, NOBODY, 1, NULL, false};
    run_drop(&with_group, dir);
    remove_tree(dir);
    free(dir);
}

static void test_drop_refusals(void **state)
{
    (void)state;
    if (!is_root())
        skip();
    char *dir = temp_dir();
    struct drop_case unknown = {"no-such-user-postern", false, 0, 0, "no user", false};
    run_drop(&unknown, dir);
    struct drop_case bad_group = {"nobody:no-such-group-postern", false, 0, 0, "no group",
                                  false};
    run_drop(&bad_group, dir);
    /* a root-owned, non-empty data directory is not silently taken over */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/alice", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    struct drop_case busy = {"nobody", false, 0, 0, "chown -R 65534:65534", false};
    run_drop(&busy, dir);
    remove_tree(dir);
    free(dir);
}

static void test_staying_root(void **state)
{
    (void)state;
    if (!is_root())
        skip();
    char *dir = temp_dir();
    struct drop_case root = {"root", true, 0, 0, NULL, false};
    run_drop(&root, dir);
    uid_t uid;
    gid_t gid;
    char name[64];
    /* the default without a "postern" user: stays root (with a warning) */
    if (privileges_lookup_user(PRIVILEGES_DEFAULT_USER, &uid, &gid, name, sizeof name) == 1) {
        struct drop_case unset = {"", true, 0, 0, NULL, false};
        run_drop(&unset, dir);
    }
    remove_tree(dir);
    free(dir);
}

static void test_not_root(void **state)
{
    (void)state;
    if (!is_root())
        skip();
    char *dir = temp_dir();
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    /* started as nobody: run-as names another user, postern stays nobody, no error */
    struct drop_case other = {"root", true, NOBODY, NOBODY, NULL, true};
    run_drop(&other, dir);
    struct drop_case same = {"nobody", true, NOBODY, NOBODY, NULL, true};
    run_drop(&same, dir);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_config_key),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_drop_to_nobody),
        cmocka_unit_test(test_drop_refusals),
        cmocka_unit_test(test_staying_root),
        cmocka_unit_test(test_not_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
