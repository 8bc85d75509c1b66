#include "net/privileges.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"

#define LOOKUP_BUFFER_MAX (1u << 20)

static bool all_digits(const char *text)
{
    return text[0] != '\0' && strspn(text, "0123456789") == strlen(text) && strlen(text) <= 9;
}

bool privileges_parse(const char *run_as, struct run_as *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->explicit_user = run_as && run_as[0] != '\0';
    const char *text = out->explicit_user ? run_as : PRIVILEGES_DEFAULT_USER;
    const char *why = config_parse_run_as(text, out->user, out->group);
    if (why) {
        snprintf(err, errlen, "server.run-as: \"%s\" %s", text, why);
        return false;
    }
    return true;
}

/* getpwnam_r and friends want a buffer of unknown size: grow it until it is enough. */
static char *lookup_buffer(size_t *size)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    *size = hint > 0 && hint < (long)LOOKUP_BUFFER_MAX ? (size_t)hint : 16384;
    return malloc(*size);
}

static bool grow(char **buf, size_t *size)
{
    if (*size >= LOOKUP_BUFFER_MAX)
        return false;
    char *bigger = realloc(*buf, *size * 2);
    if (!bigger)
        return false;
    *buf = bigger;
    *size *= 2;
    return true;
}

int privileges_lookup_user(const char *name, uid_t *uid, gid_t *gid, char *canonical,
                           size_t canonical_len)
{
    size_t size;
    char *buf = lookup_buffer(&size);
    struct passwd pw, *found = NULL;
    int rc = ENOMEM;
    while (buf && (rc = getpwnam_r(name, &pw, buf, size, &found)) == ERANGE && grow(&buf, &size))
        ;
    if (rc == 0 && !found && all_digits(name)) {
        uid_t id = (uid_t)strtoul(name, NULL, 10);
        while ((rc = getpwuid_r(id, &pw, buf, size, &found)) == ERANGE && grow(&buf, &size))
            ;
        if (rc == 0 && !found) { /* a bare numeric id (containers): valid without an entry */
            *uid = id;
            *gid = (gid_t)id;
            canonical[0] = '\0';
            free(buf);
            return 0;
        }
    }
    if (rc == 0 && found) {
        *uid = found->pw_uid;
        *gid = found->pw_gid;
        snprintf(canonical, canonical_len, "%s", found->pw_name);
    }
    free(buf);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return found ? 0 : 1;
}

int privileges_lookup_group(const char *name, gid_t *gid)
{
    size_t size;
    char *buf = lookup_buffer(&size);
    struct group gr, *found = NULL;
    int rc = ENOMEM;
    while (buf && (rc = getgrnam_r(name, &gr, buf, size, &found)) == ERANGE && grow(&buf, &size))
        ;
    if (rc == 0 && found)
        *gid = found->gr_gid;
    free(buf);
    if (rc == 0 && !found && all_digits(name)) {
        *gid = (gid_t)strtoul(name, NULL, 10);
        return 0;
    }
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return found ? 0 : 1;
}

/* True when the directory has nothing but "." and "..". */
static int dir_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int empty = 1;
    struct dirent *entry;
    while (empty && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            empty = 0;
    }
    closedir(dir);
    return empty;
}

int privileges_prepare_data_dir(const char *path, uid_t uid, gid_t gid, char *err,
                                size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "data directory %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "data directory %s is not a directory", path);
        return -1;
    }
    if (st.st_uid != 0 || uid == 0)
        return 0; /* someone's already: checked for access once postern runs as uid */
    int empty = dir_is_empty(path);
    if (empty < 0) {
        snprintf(err, errlen, "data directory %s: %s", path, strerror(errno));
        return -1;
    }
    if (!empty) {
        snprintf(err, errlen, "data directory %s belongs to root and is not empty; give it to "
                 "the run-as user first: chown -R %" PRIuMAX ":%" PRIuMAX " %s", path,
                 (uintmax_t)uid, (uintmax_t)gid, path);
        return -1;
    }
    if (chown(path, uid, gid) != 0 || chmod(path, 0700) != 0) {
        snprintf(err, errlen, "cannot give data directory %s to uid %" PRIuMAX ": %s "
                 "(chown it to the run-as user, or allow CAP_CHOWN)", path, (uintmax_t)uid,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* CapPrm and CapEff from /proc/self/status: both must be 0 after the switch. */
static bool has_capabilities(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return false; /* no procfs: the setuid(0) check below still runs */
    char line[256];
    bool any = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "CapPrm:", 7) == 0 || strncmp(line, "CapEff:", 7) == 0)
            any |= strtoull(line + 7, NULL, 16) != 0;
    }
    fclose(f);
    return any;
}

static int switch_ids(const struct run_as *who, const char *name, uid_t uid, gid_t gid,
                      char *err, size_t errlen)
{
    /* Supplementary groups first (they need root), then the gid, then the uid. */
    int rc = who->group[0] || name[0] == '\0' ? setgroups(1, &gid) : initgroups(name, gid);
    if (rc != 0) {
        snprintf(err, errlen, "setgroups for %s: %s", who->user, strerror(errno));
        return -1;
    }
    if (setresgid(gid, gid, gid) != 0) {
        snprintf(err, errlen, "setresgid(%" PRIuMAX "): %s", (uintmax_t)gid, strerror(errno));
        return -1;
    }
    if (setresuid(uid, uid, uid) != 0) {
        snprintf(err, errlen, "setresuid(%" PRIuMAX "): %s", (uintmax_t)uid, strerror(errno));
        return -1;
    }
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 ||
        ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
        snprintf(err, errlen, "the user and group ids did not all change");
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0 || has_capabilities()) {
        snprintf(err, errlen, "root privileges could be regained after switching to %s",
                 who->user);
        return -1;
    }
    /* postern never executes anything; make sure nothing executed could gain privileges. */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return 0;
}

static void log_staying(enum log_level level, const char *msg, const struct run_as *who)
{
    struct log_line line;
    log_begin(&line, level, "privileges");
    log_uint(&line, "uid", (uint64_t)geteuid());
    if (who->explicit_user)
        log_str(&line, "run_as", who->user);
    log_str(&line, "msg", msg);
    log_end(&line);
}

static int drop_root(const struct config *config, const struct run_as *who, char *err,
                     size_t errlen)
{
    uid_t uid;
    gid_t gid;
    char name[256];
    int found = privileges_lookup_user(who->user, &uid, &gid, name, sizeof name);
    if (found < 0) {
        snprintf(err, errlen, "server.run-as: looking up user %s: %s", who->user,
                 strerror(errno));
        return -1;
    }
    if (found > 0 && !who->explicit_user) {
        log_staying(LOG_WARN, "started as root and there is no user \"postern\": still running "
                    "as root; create it (useradd --system --home-dir /var/lib/postern --shell "
                    "/usr/sbin/nologin postern) or set server.run-as", who);
        return 0;
    }
    if (found > 0) {
        snprintf(err, errlen, "server.run-as: no user \"%s\"", who->user);
        return -1;
    }
    if (who->group[0]) {
        int group_found = privileges_lookup_group(who->group, &gid);
        if (group_found != 0) {
            snprintf(err, errlen, "server.run-as: %s group \"%s\"%s%s",
                     group_found < 0 ? "looking up" : "no", who->group,
                     group_found < 0 ? ": " : "", group_found < 0 ? strerror(errno) : "");
            return -1;
        }
    }
    if (uid == 0) {
        log_staying(LOG_WARN, "server.run-as names a user with uid 0: running as root", who);
        return 0;
    }
    if (privileges_prepare_data_dir(config->data_dir, uid, gid, err, errlen) != 0 ||
        switch_ids(who, name, uid, gid, err, errlen) != 0)
        return -1;
    if (access(config->data_dir, R_OK | W_OK | X_OK) != 0) {
        snprintf(err, errlen, "data directory %s is not writable by %s (uid %" PRIuMAX "): %s; "
                 "chown -R %s %s", config->data_dir, who->user, (uintmax_t)uid,
                 strerror(errno), who->user, config->data_dir);
        return -1;
    }
    struct log_line line;
    log_begin(&line, LOG_INFO, "privileges_dropped");
    log_str(&line, "user", who->user);
    if (who->group[0])
        log_str(&line, "group", who->group);
    log_uint(&line, "uid", (uint64_t)uid);
    log_uint(&line, "gid", (uint64_t)gid);
    log_end(&line);
    return 0;
}

int privileges_drop(const struct config *config, char *err, size_t errlen)
{
    umask(077);
    struct run_as who;
    if (!privileges_parse(config->run_as, &who, err, errlen))
        return -1;
    if (geteuid() != 0) {
        uid_t uid;
        gid_t gid;
        char name[256];
        if (who.explicit_user &&
            (privileges_lookup_user(who.user, &uid, &gid, name, sizeof name) != 0 ||
             uid != geteuid()))
            log_staying(LOG_INFO, "not started as root: server.run-as does not apply, staying "
                        "the current user", &who);
        return 0;
    }
    if (who.explicit_user && strcmp(who.user, "root") == 0 &&
        (!who.group[0] || strcmp(who.group, "root") == 0)) {
        log_staying(LOG_WARN, "running as root, as server.run-as = \"root\" says; any flaw in "
                    "postern then has the whole machine", &who);
        return 0;
    }
    return drop_root(config, &who, err, errlen);
}

bool privileges_apply(const struct config *config)
{
    char err[512];
    if (privileges_drop(config, err, sizeof err) == 0)
        return true;
    log_message(LOG_ERROR, "privileges_failed", err);
    return false;
}
