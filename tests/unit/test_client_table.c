/*
 * Per-client table: connection limits, bans from failures within a window (explicit times),
 * expiry, keys by address only (ports ignored, IPv4-mapped IPv6 is IPv4), dropping entries that
 * hold nothing, the entry cap with oldest-first eviction, and concurrent use from threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "access/client_table.h"

#define MINUTE 60000u

/* "192.0.2.1" or "2001:db8::1", with a port that must not matter. */
static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
    } else {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) != 1)
            fail_msg("test bug: %s", ip);
    }
    return ss;
}

static struct sockaddr_storage numbered(unsigned n)
{
    char text[64];
    snprintf(text, sizeof text, "2001:db8::%x:%x", n >> 16, n & 0xffff);
    return addr(text, 1);
}

static const struct client_table_policy default_policy = {
    .auth = {5, 10 * MINUTE},
    .abuse = {20, 10 * MINUTE},
    .ban_ms = 60 * MINUTE,
    .max_per_client = 3,
};

static struct client_table *table_with(struct client_table_policy policy)
{
    struct client_table *table = client_table_new(&policy);
    assert_non_null(table);
    return table;
}

/* ---- Connections ---- */

static void test_connection_limit(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage a = addr("192.0.2.1", 1000), b = addr("192.0.2.2", 1000);
    for (int i = 0; i < 3; i++) {
        struct sockaddr_storage port = addr("192.0.2.1", (uint16_t)(2000 + i));
        assert_true(client_table_enter(table, &port)); /* another port, the same client */
    }
    assert_false(client_table_enter(table, &a));
    assert_int_equal(client_table_connections(table, &a), 3);
    assert_true(client_table_enter(table, &b)); /* other clients are not affected */
    client_table_leave(table, &a);
    assert_true(client_table_enter(table, &a));
    assert_false(client_table_enter(table, &a));
    /* Leaving more often than entering does not go below zero nor create anything. */
    for (int i = 0; i < 5; i++)
        client_table_leave(table, &a);
    assert_int_equal(client_table_connections(table, &a), 0);
    client_table_leave(table, &b);
    assert_int_equal(client_table_size(table), 0); /* nothing left to remember */
    struct sockaddr_storage never = addr("192.0.2.99", 1);
    client_table_leave(table, &never);
    assert_int_equal(client_table_size(table), 0);
    client_table_free(table);
}

/* Enough failed logins at now_ms to ban client under default_policy's rule. */
static void ban(struct client_table *table, const struct sockaddr_storage *client, uint64_t now_ms)
{
    for (uint32_t i = 0; i < default_policy.auth.count; i++)
        client_table_failure(table, client, FAILURE_AUTH, now_ms);
}

/* The session-start path: ban check and count in one lookup. */
static void test_admit(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage a = addr("192.0.2.1", 1), banned = addr("192.0.2.66", 1);
    bool counted;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(client_table_admit(table, &a, 1000, &counted), CLIENT_ADMITTED);
        assert_true(counted);
    }
    assert_int_equal(client_table_admit(table, &a, 1000, &counted), CLIENT_OVER_LIMIT);
    assert_false(counted);
    assert_int_equal(client_table_connections(table, &a), 3);
    ban(table, &banned, 1000);
    assert_int_equal(client_table_admit(table, &banned, 2000, &counted), CLIENT_BANNED);
    assert_false(counted);
    assert_int_equal(client_table_connections(table, &banned), 0);
    assert_int_equal(client_table_admit(table, &banned, 2000 + 61 * MINUTE, &counted),
                     CLIENT_ADMITTED);
    client_table_free(table);
}

/* Without a per-client limit nothing is counted, so no entry is made for a passing client. */
static void test_admit_without_a_limit_keeps_nothing(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.max_per_client = 0;
    struct client_table *table = table_with(policy);
    bool counted = true;
    for (unsigned i = 0; i < 100; i++) {
        struct sockaddr_storage client = numbered(i);
        assert_int_equal(client_table_admit(table, &client, 1000, &counted), CLIENT_ADMITTED);
        assert_false(counted);
    }
    assert_int_equal(client_table_size(table), 0);
    struct sockaddr_storage banned = addr("192.0.2.66", 1);
    ban(table, &banned, 1000);
    assert_int_equal(client_table_admit(table, &banned, 2000, &counted), CLIENT_BANNED);
    /* A reload that sets a limit counts the connections admitted after it. */
    client_table_set_limits(table, 1, policy.ban_ms);
    struct sockaddr_storage a = addr("192.0.2.1", 1);
    assert_int_equal(client_table_admit(table, &a, 3000, &counted), CLIENT_ADMITTED);
    assert_true(counted);
    assert_int_equal(client_table_admit(table, &a, 3000, &counted), CLIENT_OVER_LIMIT);
    client_table_free(table);
}

static void test_no_connection_limit(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.max_per_client = 0;
    struct client_table *table = table_with(policy);
    struct sockaddr_storage a = addr("192.0.2.1", 1);
    for (int i = 0; i < 1000; i++)
        assert_true(client_table_enter(table, &a));
    assert_int_equal(client_table_connections(table, &a), 1000);
    client_table_free(table); /* with open connections: freed all the same */
}

/* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: the same client. */
static void test_mapped_ipv4_is_ipv4(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage v4 = addr("192.0.2.7", 25), mapped = addr("::ffff:192.0.2.7", 26);
    struct sockaddr_storage other = addr("::192.0.2.7", 25); /* not mapped: another address */
    assert_true(client_table_enter(table, &v4));
    assert_true(client_table_enter(table, &mapped));
    assert_true(client_table_enter(table, &v4));
    assert_false(client_table_enter(table, &mapped));
    assert_true(client_table_enter(table, &other));
    for (int i = 0; i < 5; i++)
        client_table_failure(table, &mapped, FAILURE_AUTH, 1000);
    assert_true(client_table_banned(table, &v4, 2000));
    assert_false(client_table_banned(table, &other, 2000));
    client_table_free(table);
}

/* A client that is not an IP address (a Unix socket) is not tracked. */
static void test_non_ip_client(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage unix_client = {.ss_family = AF_UNIX};
    for (int i = 0; i < 10; i++) {
        assert_true(client_table_enter(table, &unix_client));
        assert_false(client_table_failure(table, &unix_client, FAILURE_AUTH, 1));
    }
    assert_false(client_table_banned(table, &unix_client, 2));
    client_table_leave(table, &unix_client);
    assert_int_equal(client_table_size(table), 0);
    client_table_free(table);
}

/* ---- Bans ---- */

static void test_ban_after_failures(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage a = addr("192.0.2.3", 1), b = addr("192.0.2.2", 1);
    uint64_t t = 1000000;
    for (int i = 0; i < 4; i++)
        assert_false(client_table_failure(table, &a, FAILURE_AUTH, t + (uint64_t)i * MINUTE));
    assert_false(client_table_banned(table, &a, t + 4 * MINUTE));
    /* The fifth within 10 minutes starts the ban; only that call says so. */
    assert_true(client_table_failure(table, &a, FAILURE_AUTH, t + 4 * MINUTE));
    assert_true(client_table_banned(table, &a, t + 4 * MINUTE));
    assert_false(client_table_banned(table, &b, t + 4 * MINUTE));
    assert_int_equal(client_table_active_bans(table, t + 5 * MINUTE), 1);
    for (int i = 0; i < 4; i++)
        assert_false(client_table_failure(table, &a, FAILURE_AUTH, t + 5 * MINUTE));
    /* The ban lasts ban_ms from the failure that started it, then ends by itself. */
    assert_true(client_table_banned(table, &a, t + 64 * MINUTE - 1));
    assert_false(client_table_banned(table, &a, t + 64 * MINUTE));
    assert_int_equal(client_table_active_bans(table, t + 64 * MINUTE), 0);
    /* Counting starts afresh after a ban: four failures, then one more. */
    for (int i = 0; i < 4; i++)
        assert_false(client_table_failure(table, &a, FAILURE_AUTH, t + 70 * MINUTE));
    assert_true(client_table_failure(table, &a, FAILURE_AUTH, t + 70 * MINUTE));
    client_table_free(table);
}

static void test_failures_expire_with_the_window(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage a = addr("2001:db8::3", 1);
    /* One failure every 3 minutes: never five within 10 minutes. */
    for (uint64_t i = 0; i < 50; i++)
        assert_false(client_table_failure(table, &a, FAILURE_AUTH, i * 3 * MINUTE));
    assert_false(client_table_banned(table, &a, 150 * MINUTE));
    /* The window's edge: failures exactly 10 minutes old no longer count. */
    struct sockaddr_storage b = addr("2001:db8::4", 1), c = addr("2001:db8::5", 1);
    uint64_t t = 1000 * MINUTE;
    for (int i = 0; i < 4; i++) {
        assert_false(client_table_failure(table, &b, FAILURE_AUTH, t));
        assert_false(client_table_failure(table, &c, FAILURE_AUTH, t));
    }
    assert_true(client_table_failure(table, &b, FAILURE_AUTH, t + 10 * MINUTE - 1));
    assert_false(client_table_failure(table, &c, FAILURE_AUTH, t + 10 * MINUTE));
    client_table_free(table);
}

/* Auth and abuse are counted separately, each against its own rule. */
static void test_kinds_are_separate(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.abuse = (struct ban_rule){3, MINUTE};
    struct client_table *table = table_with(policy);
    struct sockaddr_storage a = addr("192.0.2.4", 1);
    for (int i = 0; i < 4; i++)
        assert_false(client_table_failure(table, &a, FAILURE_AUTH, 100));
    assert_false(client_table_failure(table, &a, FAILURE_ABUSE, 100));
    assert_false(client_table_failure(table, &a, FAILURE_ABUSE, 200));
    assert_false(client_table_banned(table, &a, 300));
    assert_true(client_table_failure(table, &a, FAILURE_ABUSE, 300));
    assert_true(client_table_banned(table, &a, 400));
    client_table_free(table);
}

/* A zero count turns the rule off: nothing is recorded. */
static void test_disabled_rule(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.auth.count = 0;
    struct client_table *table = table_with(policy);
    struct sockaddr_storage a = addr("192.0.2.5", 1);
    for (int i = 0; i < 100; i++)
        assert_false(client_table_failure(table, &a, FAILURE_AUTH, (uint64_t)i));
    assert_false(client_table_banned(table, &a, 100));
    assert_int_equal(client_table_size(table), 0);
    client_table_free(table);
    /* Rules larger than the table can hold are refused. */
    policy.auth.count = CLIENT_BAN_COUNT_MAX + 1;
    assert_null(client_table_new(&policy));
}

/* ---- Memory ---- */

static void test_stale_entries_are_dropped(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    struct sockaddr_storage other = addr("192.0.2.200", 1);
    for (unsigned i = 0; i < 100; i++) {
        struct sockaddr_storage a = numbered(i);
        client_table_failure(table, &a, FAILURE_ABUSE, 1000);
    }
    assert_int_equal(client_table_size(table), 100);
    /* Long after the window, operations drop the stale ones. */
    for (int i = 0; i < 60; i++)
        client_table_banned(table, &other, 1000 + 11 * MINUTE);
    assert_int_equal(client_table_size(table), 0);

    /* A banned client stays until its ban is over... */
    struct sockaddr_storage banned = addr("192.0.2.6", 1);
    uint64_t t = 100 * MINUTE;
    for (int i = 0; i < 5; i++)
        client_table_failure(table, &banned, FAILURE_AUTH, t);
    /* ...and entries behind it at the old end still go, within a minute. */
    for (unsigned i = 0; i < 100; i++) {
        struct sockaddr_storage a = numbered(i);
        client_table_failure(table, &a, FAILURE_ABUSE, t);
    }
    assert_int_equal(client_table_size(table), 101);
    for (int i = 0; i < 10; i++)
        client_table_banned(table, &other, t + 11 * MINUTE);
    assert_int_equal(client_table_size(table), 1);
    assert_true(client_table_banned(table, &banned, t + 30 * MINUTE));
    assert_false(client_table_banned(table, &banned, t + 60 * MINUTE));
    assert_int_equal(client_table_size(table), 0);
    client_table_free(table);
}

/* A flood of addresses cannot grow the table past its cap; the oldest idle entries go. */
static void test_entry_cap(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.max_entries = 100;
    policy.auth.count = 1; /* every failure bans */
    struct client_table *table = table_with(policy);
    for (unsigned i = 0; i < 1000; i++) {
        struct sockaddr_storage a = numbered(i);
        assert_true(client_table_failure(table, &a, FAILURE_AUTH, 1000 + i));
        assert_true(client_table_size(table) <= 100);
    }
    struct sockaddr_storage first = numbered(0), last = numbered(999), recent = numbered(900);
    assert_false(client_table_banned(table, &first, 5000)); /* evicted */
    assert_true(client_table_banned(table, &last, 5000));
    assert_true(client_table_banned(table, &recent, 5000));
    assert_int_equal(client_table_active_bans(table, 5000), 100);
    client_table_free(table);
}

/* The default cap is CLIENT_TABLE_MAX_ENTRIES. */
static void test_default_cap(void **state)
{
    (void)state;
    struct client_table *table = table_with(default_policy);
    for (unsigned i = 0; i < CLIENT_TABLE_MAX_ENTRIES + 500; i++) {
        struct sockaddr_storage a = numbered(i);
        client_table_failure(table, &a, FAILURE_ABUSE, 1000);
    }
    assert_int_equal(client_table_size(table), CLIENT_TABLE_MAX_ENTRIES);
    client_table_free(table);
}

/* Entries with open connections are never evicted: at the cap, a new client is refused. */
static void test_cap_with_connections(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.max_entries = 10;
    struct client_table *table = table_with(policy);
    for (unsigned i = 0; i < 10; i++) {
        struct sockaddr_storage a = numbered(i);
        assert_true(client_table_enter(table, &a));
    }
    struct sockaddr_storage extra = numbered(10), first = numbered(0);
    assert_false(client_table_enter(table, &extra));
    assert_false(client_table_failure(table, &extra, FAILURE_AUTH, 1)); /* nowhere to record */
    assert_int_equal(client_table_connections(table, &first), 1);
    client_table_leave(table, &first);
    assert_true(client_table_enter(table, &extra));
    assert_int_equal(client_table_size(table), 10);
    client_table_free(table);
}

/* ---- Threads ---- */

#define THREADS 4
#define ROUNDS 20000

struct shared {
    struct client_table *table;
    atomic_int inside; /* connections of the limited client admitted and not yet left */
    atomic_int worst;
    atomic_int bans_started;
};

static void *hammer(void *arg)
{
    struct shared *shared = arg;
    struct sockaddr_storage limited = addr("192.0.2.10", 1), banned = addr("192.0.2.11", 1);
    for (unsigned i = 0; i < ROUNDS; i++) {
        if (client_table_enter(shared->table, &limited)) {
            int now = atomic_fetch_add(&shared->inside, 1) + 1;
            int worst = atomic_load(&shared->worst);
            while (now > worst && !atomic_compare_exchange_weak(&shared->worst, &worst, now))
                ;
            atomic_fetch_sub(&shared->inside, 1);
            client_table_leave(shared->table, &limited);
        }
        struct sockaddr_storage churn = numbered(i % 5000);
        client_table_enter(shared->table, &churn);
        client_table_failure(shared->table, &churn, FAILURE_ABUSE, i);
        client_table_leave(shared->table, &churn);
        if (client_table_failure(shared->table, &banned, FAILURE_AUTH, 1000))
            atomic_fetch_add(&shared->bans_started, 1);
        client_table_banned(shared->table, &banned, 1000);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct client_table_policy policy = default_policy;
    policy.max_entries = 1000;
    struct shared shared = {.table = table_with(policy)};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &shared), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_true(atomic_load(&shared.worst) <= 3);
    assert_int_equal(atomic_load(&shared.bans_started), 1); /* exactly one caller starts it */
    struct sockaddr_storage limited = addr("192.0.2.10", 1), banned = addr("192.0.2.11", 1);
    assert_int_equal(client_table_connections(shared.table, &limited), 0);
    assert_true(client_table_banned(shared.table, &banned, 2000));
    assert_true(client_table_size(shared.table) <= 1000);
    client_table_free(shared.table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_no_connection_limit),
        cmocka_unit_test(test_admit),
        cmocka_unit_test(test_admit_without_a_limit_keeps_nothing),
        cmocka_unit_test(test_mapped_ipv4_is_ipv4),
        cmocka_unit_test(test_non_ip_client),
        cmocka_unit_test(test_ban_after_failures),
        cmocka_unit_test(test_failures_expire_with_the_window),
        cmocka_unit_test(test_kinds_are_separate),
        cmocka_unit_test(test_disabled_rule),
        cmocka_unit_test(test_stale_entries_are_dropped),
        cmocka_unit_test(test_entry_cap),
        cmocka_unit_test(test_default_cap),
        cmocka_unit_test(test_cap_with_connections),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("client_table", tests, NULL, NULL);
}
