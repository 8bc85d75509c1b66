/*
 * sd_notify without libsystemd: datagrams reach a socket named by a path or in the abstract
 * namespace ("@name"), carry what systemd expects, and nothing happens without NOTIFY_SOCKET.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/sd_notify.h"

/* A datagram socket bound to name (a path, or "@abstract"). */
static int listen_at(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    assert_int_equal(bind(fd, (struct sockaddr *)&addr,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
    return fd;
}

static void receive(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
}

static void test_path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/postern-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/notify", dir);
    int fd = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    char buf[256], expected[128];
    assert_true(sd_notify_ready());
    receive(fd, buf, sizeof buf);
    snprintf(expected, sizeof expected, "READY=1\nMAINPID=%ld\nSTATUS=accepting connections",
             (long)getpid());
    assert_string_equal(buf, expected);
    assert_true(sd_notify_reloading());
    receive(fd, buf, sizeof buf);
    assert_true(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    assert_true(strtoull(buf + 27, NULL, 10) > 0);
    assert_true(sd_notify_stopping());
    receive(fd, buf, sizeof buf);
    assert_string_equal(buf, "STOPPING=1\nSTATUS=finishing sessions");
    close(fd);
    unlink(path);
    rmdir(dir);
    /* the socket is gone: a failure, not a crash */
    assert_false(sd_notify_send("READY=1"));
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@postern-test-notify-%ld", (long)getpid());
    int fd = listen_at(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_true(sd_notify_send("READY=1"));
    char buf[64];
    receive(fd, buf, sizeof buf);
    assert_string_equal(buf, "READY=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_without_systemd(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_false(sd_notify_ready());
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_false(sd_notify_send("READY=1"));
    setenv("NOTIFY_SOCKET", "@", 1);
    assert_false(sd_notify_send("READY=1"));
    char too_long[200];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[0] = '/';
    too_long[sizeof too_long - 1] = '\0';
    setenv("NOTIFY_SOCKET", too_long, 1);
    assert_false(sd_notify_send("READY=1"));
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_without_systemd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
