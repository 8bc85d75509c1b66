#include "auth/password_check.h"

#include <stdlib.h>
#include <string.h>

#include "net/offload.h"

struct password_job {
    struct offload_job job;
    const struct account *account;
    password_checked_fn done;
    void *ctx;
    bool ok;
    size_t len;
    char password[PASSWORD_MAX + 1];
};

static void check_work(struct offload_job *job)
{
    struct password_job *p = (struct password_job *)job;
    p->ok = directory_check_password(p->account, p->password, p->len) && p->account;
    explicit_bzero(p->password, sizeof p->password);
}

static void check_done(struct offload_job *job, struct conn *conn)
{
    struct password_job *p = (struct password_job *)job;
    p->done(p->ctx, conn, p->account, p->ok);
    free(p);
}

bool password_check_start(struct conn *conn, const struct account *account, const char *password,
                          size_t len, password_checked_fn done, void *ctx)
{
    struct password_job *p = len <= PASSWORD_MAX ? calloc(1, sizeof *p) : NULL;
    if (!p)
        return false;
    memcpy(p->password, password, len);
    p->len = len;
    p->account = account;
    p->done = done;
    p->ctx = ctx;
    p->job.work = check_work;
    p->job.done = check_done;
    conn_offload(conn, &p->job);
    return true;
}
