/*
 * SMTP syntax (src/smtp/smtp_parse.c): command lines, MAIL/RCPT paths and parameters, EHLO
 * names, BDAT sizes, base64 and AUTH PLAIN, and the DATA transparency decoder. One table line
 * per case; every input is parsed where it ends at an inaccessible page, so a read past the
 * given length crashes; the DATA decoder is also fed every two-piece split and byte by byte.
 */
#include "proxy_test_util.h"

#include "smtp/smtp_parse.h"

#define OK SMTP_PARSE_OK
#define S(lit) (lit), sizeof(lit) - 1

static struct guard guard;

static int setup(void **state)
{
    (void)state;
    guard_init(&guard, 8192);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    guard_free(&guard);
    return 0;
}

/* The text placed to end at the guard page. */
static const char *at_guard(const char *text, size_t len)
{
    return (const char *)guard_place(&guard, text, len);
}

static void expect_slice(const struct smtp_slice *got, const char *want, const char *what,
                         const char *input)
{
    if (got->len != strlen(want) || memcmp(got->ptr, want, got->len) != 0)
        fail_msg("%s of \"%s\": got \"%.*s\", want \"%s\"", what, input, (int)got->len,
                 got->ptr, want);
}

/* ---- command lines ---- */

struct command_case {
    const char *line;
    size_t len;
    enum smtp_parse_status status;
    const char *verb, *arg;
};

static void test_command_lines(void **state)
{
    (void)state;
    static const struct command_case cases[] = {
        {S("NOOP"), OK, "NOOP", ""},
        {S("noop"), OK, "noop", ""},
        {S("EHLO client.test"), OK, "EHLO", "client.test"},
        {S("EHLO   client.test  "), OK, "EHLO", "client.test"},
        {S("MAIL FROM:<a@b.c> SIZE=10"), OK, "MAIL", "FROM:<a@b.c> SIZE=10"},
        {S("STARTTLS"), OK, "STARTTLS", ""},
        {S("QUIT "), OK, "QUIT", ""},
        {S("RCPT TO:<j\xc3\xbcrg@example.com>"), OK, "RCPT", "TO:<j\xc3\xbcrg@example.com>"},
        {S(""), SMTP_PARSE_EMPTY, NULL, NULL},
        {S("   "), SMTP_PARSE_EMPTY, NULL, NULL},
        {S(" NOOP"), SMTP_PARSE_BAD_VERB, NULL, NULL},
        {S("NO0P"), SMTP_PARSE_BAD_VERB, NULL, NULL},
        {S("MAIL:FROM"), SMTP_PARSE_BAD_VERB, NULL, NULL},
        {S("ABCDEFGHIJKLMNOPQ"), SMTP_PARSE_BAD_VERB, NULL, NULL}, /* 17 letters */
        {S("ABCDEFGHIJKLMNOP"), OK, "ABCDEFGHIJKLMNOP", ""},
        {S("\xc3\xa9HLO x"), SMTP_PARSE_BAD_VERB, NULL, NULL},
        {S("NOOP\r"), SMTP_PARSE_CONTROL_CHAR, NULL, NULL},
        {S("NOOP\rQUIT"), SMTP_PARSE_CONTROL_CHAR, NULL, NULL},
        {S("EHLO a\tb"), SMTP_PARSE_CONTROL_CHAR, NULL, NULL},
        {S("EHLO a\0b"), SMTP_PARSE_CONTROL_CHAR, NULL, NULL},
        {S("EHLO a\x7f"), SMTP_PARSE_CONTROL_CHAR, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct command_case *c = &cases[i];
        struct smtp_command_line out;
        enum smtp_parse_status st = smtp_parse_command(at_guard(c->line, c->len), c->len, &out);
        if (st != c->status)
            fail_msg("\"%s\": status %d, want %d", c->line, st, c->status);
        if (st == OK) {
            expect_slice(&out.verb, c->verb, "verb", c->line);
            expect_slice(&out.arg, c->arg, "argument", c->line);
        }
    }
}

/* ---- MAIL ---- */

struct mail_case {
    const char *arg;
    size_t len;
    enum smtp_parse_status status;
    const char *address;
    uint64_t size; /* NOSIZE: no SIZE parameter */
    enum smtp_body body;
    bool smtputf8, null_path, utf8;
};

#define NOSIZE 777777u /* no SIZE parameter (a value no case uses) */
#define LOCAL64 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"
#define LABEL63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
/* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 octets */
#define ADDR254 LOCAL64 "@" LABEL63 "." LABEL63 "." "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi"

static void test_mail(void **state)
{
    (void)state;
    static const struct mail_case cases[] = {
        {S("FROM:<alice@example.com>"), OK, "alice@example.com", NOSIZE, 0, false, false, false},
        {S("from:<alice@example.com>"), OK, "alice@example.com", NOSIZE, 0, false, false, false},
        {S("FROM: <alice@example.com>"), OK, "alice@example.com", NOSIZE, 0, false, false, false},
        {S("FROM:<>"), OK, "", NOSIZE, 0, false, true, false},
        {S("FROM:<> SIZE=0"), OK, "", 0, 0, false, true, false},
        {S("FROM:<a@b.c> SIZE=12345"), OK, "a@b.c", 12345, 0, false, false, false},
        {S("FROM:<a@b.c> SIZE=18446744073709551615"), OK, "a@b.c", UINT64_MAX, 0, false,
         false, false},
        {S("FROM:<a@b.c> BODY=8BITMIME"), OK, "a@b.c", NOSIZE, SMTP_BODY_8BITMIME, false, false,
         false},
        {S("FROM:<a@b.c> body=7bit"), OK, "a@b.c", NOSIZE, SMTP_BODY_7BIT, false, false, false},
        {S("FROM:<a@b.c> BODY=BINARYMIME SIZE=5  SMTPUTF8"), OK, "a@b.c", 5,
         SMTP_BODY_BINARYMIME, true, false, false},
        {S("FROM:<a@b.c> AUTH=<>"), OK, "a@b.c", NOSIZE, 0, false, false, false},
        {S("FROM:<j\xc3\xbcrg@b\xc3\xa4r.example> SMTPUTF8"), OK,
         "j\xc3\xbcrg@b\xc3\xa4r.example", NOSIZE, 0, true, false, true},
        {S("FROM:<\"john doe\"@example.com>"), OK, "\"john doe\"@example.com", NOSIZE, 0, false,
         false, false},
        {S("FROM:<\"a\\\"b\"@example.com>"), OK, "\"a\\\"b\"@example.com", NOSIZE, 0, false,
         false, false},
        {S("FROM:<@relay.example,@other.example:a@b.c>"), OK, "a@b.c", NOSIZE, 0, false, false,
         false},
        {S("FROM:<a@[192.0.2.1]>"), OK, "a@[192.0.2.1]", NOSIZE, 0, false, false, false},
        {S("FROM:<a@[IPv6:2001:db8::1]>"), OK, "a@[IPv6:2001:db8::1]", NOSIZE, 0, false, false,
         false},
        {S("FROM:<a@[x-tag:some.thing]>"), OK, "a@[x-tag:some.thing]", NOSIZE, 0, false, false,
         false},
        {S("FROM:<first.last+tag@sub.example-domain.com>"), OK,
         "first.last+tag@sub.example-domain.com", NOSIZE, 0, false, false, false},
        {S("FROM:<" LOCAL64 "@b.c>"), OK, LOCAL64 "@b.c", NOSIZE, 0, false, false, false},
        {S("FROM:<a@" LABEL63 ".c>"), OK, "a@" LABEL63 ".c", NOSIZE, 0, false, false, false},
        {S("FROM:<" ADDR254 ">"), OK, ADDR254, NOSIZE, 0, false, false, false},
        /* rejects */
        {S("FROM <a@b.c>"), SMTP_PARSE_SYNTAX, NULL, 0, 0, false, false, false},
        {S("TO:<a@b.c>"), SMTP_PARSE_SYNTAX, NULL, 0, 0, false, false, false},
        {S(""), SMTP_PARSE_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:a@b.c"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c>x"), SMTP_PARSE_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<ab.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<.a@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a.@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a..b@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a b@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a(b)@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<\"a@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b..c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c.>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@-b.c>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b-.c>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b_c.d>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@[192.0.2.256]>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@[IPv6:1.2.3.4]>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@[2001:db8::1]>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@[tag:]>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@[192.0.2.1>"), SMTP_PARSE_BAD_DOMAIN, NULL, 0, 0, false, false, false},
        {S("FROM:<@relay:a@b.c"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<@relay,a@b.c>"), SMTP_PARSE_PATH_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<" LOCAL64 "x@b.c>"), SMTP_PARSE_LOCAL_TOO_LONG, NULL, 0, 0, false, false,
         false},
        {S("FROM:<a@" LABEL63 "x.c>"), SMTP_PARSE_DOMAIN_TOO_LONG, NULL, 0, 0, false, false,
         false},
        {S("FROM:<" ADDR254 "x>"), SMTP_PARSE_ADDRESS_TOO_LONG, NULL, 0, 0, false, false,
         false},
        {S("FROM:<j\xfcrg@b.c>"), SMTP_PARSE_BAD_UTF8, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b\xc3.c>"), SMTP_PARSE_BAD_UTF8, NULL, 0, 0, false, false, false},
        {S("FROM:<\xed\xa0\x80@b.c>"), SMTP_PARSE_BAD_UTF8, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> FOO=1"), SMTP_PARSE_PARAM_UNKNOWN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> RET=HDRS"), SMTP_PARSE_PARAM_UNKNOWN, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> SIZE=1 SIZE=2"), SMTP_PARSE_PARAM_DUPLICATE, NULL, 0, 0, false, false,
         false},
        {S("FROM:<a@b.c> SIZE=x"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> SIZE=18446744073709551616"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0,
         false, false, false},
        {S("FROM:<a@b.c> SIZE=000000000000000000001"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0,
         false, false, false},
        {S("FROM:<a@b.c> SIZE"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> SIZE="), SMTP_PARSE_PARAM_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> BODY=9BIT"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> SMTPUTF8=yes"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0, false, false,
         false},
        {S("FROM:<a@b.c> AUTH"), SMTP_PARSE_PARAM_VALUE, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> -X=1"), SMTP_PARSE_PARAM_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> SIZE=1=2"), SMTP_PARSE_PARAM_SYNTAX, NULL, 0, 0, false, false, false},
        {S("FROM:<a@b.c> X=\xff"), SMTP_PARSE_BAD_UTF8, NULL, 0, 0, false, false, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct mail_case *c = &cases[i];
        struct smtp_mail_args out;
        enum smtp_parse_status st = smtp_parse_mail(at_guard(c->arg, c->len), c->len, &out);
        if (st != c->status)
            fail_msg("MAIL \"%s\": status %d (%s), want %d", c->arg, st,
                     smtp_parse_status_text(st), c->status);
        if (st != OK)
            continue;
        expect_slice(&out.path.address, c->address, "address", c->arg);
        assert_int_equal(out.has_size, c->size != NOSIZE);
        if (c->size != NOSIZE)
            assert_true(out.size == c->size);
        assert_int_equal(out.body, c->body);
        assert_int_equal(out.smtputf8, c->smtputf8);
        assert_int_equal(out.path.null_path, c->null_path);
        assert_int_equal(out.path.utf8, c->utf8);
    }
}

/* The local part and domain of a parsed path point into the input. */
static void test_path_parts(void **state)
{
    (void)state;
    struct smtp_mail_args out;
    const char *arg = at_guard(S("FROM:<@r.example:\"x y\"@[192.0.2.1]>"));
    assert_int_equal(smtp_parse_mail(arg, strlen("FROM:<@r.example:\"x y\"@[192.0.2.1]>"), &out),
                     OK);
    expect_slice(&out.path.local, "\"x y\"", "local part", arg);
    expect_slice(&out.path.domain, "[192.0.2.1]", "domain", arg);
    assert_true(out.path.quoted_local);
    assert_true(out.path.domain_literal);
}

/* ---- RCPT ---- */

struct rcpt_case {
    const char *arg;
    size_t len;
    enum smtp_parse_status status;
    const char *address;
    bool postmaster;
};

static void test_rcpt(void **state)
{
    (void)state;
    static const struct rcpt_case cases[] = {
        {S("TO:<bob@example.com>"), OK, "bob@example.com", false},
        {S("to: <bob@example.com>"), OK, "bob@example.com", false},
        {S("TO:<Postmaster>"), OK, "Postmaster", true},
        {S("TO:<postmaster>"), OK, "postmaster", true},
        {S("TO:<postmaster@example.com>"), OK, "postmaster@example.com", false},
        {S("TO:<@a.example,@b.example:bob@example.com>"), OK, "bob@example.com", false},
        {S("TO:<>"), SMTP_PARSE_NULL_PATH, NULL, false},
        {S("TO:<bob>"), SMTP_PARSE_PATH_SYNTAX, NULL, false},
        {S("TO:<postmasters>"), SMTP_PARSE_PATH_SYNTAX, NULL, false},
        {S("FROM:<bob@example.com>"), SMTP_PARSE_SYNTAX, NULL, false},
        {S("TO:<bob@example.com> NOTIFY=NEVER"), SMTP_PARSE_PARAM_UNKNOWN, NULL, false},
        {S("TO:<bob@example.com>>"), SMTP_PARSE_SYNTAX, NULL, false},
        {S("TO:<<bob@example.com>"), SMTP_PARSE_PATH_SYNTAX, NULL, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct rcpt_case *c = &cases[i];
        struct smtp_path out;
        enum smtp_parse_status st = smtp_parse_rcpt(at_guard(c->arg, c->len), c->len, &out);
        if (st != c->status)
            fail_msg("RCPT \"%s\": status %d (%s), want %d", c->arg, st,
                     smtp_parse_status_text(st), c->status);
        if (st != OK)
            continue;
        expect_slice(&out.address, c->address, "address", c->arg);
        assert_int_equal(out.postmaster, c->postmaster);
    }
}

/* ---- EHLO names, BDAT ---- */

struct simple_case {
    const char *arg;
    size_t len;
    enum smtp_parse_status status;
};

static void test_helo_names(void **state)
{
    (void)state;
    static const struct simple_case cases[] = {
        {S("client.test"), OK},
        {S("localhost"), OK},
        {S("host.example."), OK},
        {S("WIN_PC-01"), OK},
        {S("[192.0.2.1]"), OK},
        {S("[IPv6:::1]"), OK},
        {S(""), SMTP_PARSE_SYNTAX},
        {S("a b"), SMTP_PARSE_BAD_DOMAIN},
        {S("a..b"), SMTP_PARSE_BAD_DOMAIN},
        {S(".a"), SMTP_PARSE_BAD_DOMAIN},
        {S("-a"), SMTP_PARSE_BAD_DOMAIN},
        {S("a(b)"), SMTP_PARSE_BAD_DOMAIN},
        {S("[192.0.2.1]x"), SMTP_PARSE_BAD_DOMAIN},
        {S("[300.0.0.1]"), SMTP_PARSE_BAD_DOMAIN},
        {S("b\xc3\xa4r.example"), SMTP_PARSE_BAD_DOMAIN},
        {S("b\xff.example"), SMTP_PARSE_BAD_UTF8},
        {S("a;b"), SMTP_PARSE_BAD_DOMAIN},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct simple_case *c = &cases[i];
        enum smtp_parse_status st = smtp_parse_helo_name(at_guard(c->arg, c->len), c->len);
        if (st != c->status)
            fail_msg("EHLO \"%s\": status %d, want %d", c->arg, st, c->status);
    }
}

struct bdat_case {
    const char *arg;
    size_t len;
    enum smtp_parse_status status;
    uint64_t size;
    bool last;
};

static void test_bdat(void **state)
{
    (void)state;
    static const struct bdat_case cases[] = {
        {S("0"), OK, 0, false},
        {S("0 LAST"), OK, 0, true},
        {S("1000"), OK, 1000, false},
        {S("1000 last"), OK, 1000, true},
        {S("18446744073709551615 LAST"), OK, UINT64_MAX, true},
        {S(""), SMTP_PARSE_SYNTAX, 0, false},
        {S("LAST"), SMTP_PARSE_SYNTAX, 0, false},
        {S("-1"), SMTP_PARSE_SYNTAX, 0, false},
        {S("12LAST"), SMTP_PARSE_SYNTAX, 0, false},
        {S("12 LASTX"), SMTP_PARSE_SYNTAX, 0, false},
        {S("12 LAST x"), SMTP_PARSE_SYNTAX, 0, false},
        {S("18446744073709551616"), SMTP_PARSE_SYNTAX, 0, false},
        {S("1x"), SMTP_PARSE_SYNTAX, 0, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct bdat_case *c = &cases[i];
        uint64_t size = 7;
        bool last = false;
        enum smtp_parse_status st = smtp_parse_bdat(at_guard(c->arg, c->len), c->len, &size, &last);
        if (st != c->status)
            fail_msg("BDAT \"%s\": status %d, want %d", c->arg, st, c->status);
        if (st == OK) {
            assert_true(size == c->size);
            assert_int_equal(last, c->last);
        }
    }
}

/* ---- base64 and AUTH PLAIN ---- */

struct base64_case {
    const char *in;
    size_t in_len;
    enum smtp_parse_status status;
    const char *out;
    size_t out_len;
};

static void test_base64(void **state)
{
    (void)state;
    static const struct base64_case cases[] = {
        {S("="), OK, S("")},
        {S("Zg=="), OK, S("f")},
        {S("Zm8="), OK, S("fo")},
        {S("Zm9v"), OK, S("foo")},
        {S("Zm9vYmFy"), OK, S("foobar")},
        {S("AGFsaWNlAHNlY3JldA=="), OK, S("\0alice\0secret")},
        {S("+/+/"), OK, S("\xfb\xff\xbf")},
        {S(""), SMTP_PARSE_BASE64, S("")},
        {S("Zg="), SMTP_PARSE_BASE64, S("")},
        {S("Zg"), SMTP_PARSE_BASE64, S("")},
        {S("Zg==Zg=="), SMTP_PARSE_BASE64, S("")},
        {S("Z==="), SMTP_PARSE_BASE64, S("")},
        {S("Zm 9"), SMTP_PARSE_BASE64, S("")},
        {S("Zm9v\n"), SMTP_PARSE_BASE64, S("")},
        {S("Zm-_"), SMTP_PARSE_BASE64, S("")},
        {S("===="), SMTP_PARSE_BASE64, S("")},
        {S("Zg=a"), SMTP_PARSE_BASE64, S("")},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct base64_case *c = &cases[i];
        uint8_t out[64];
        size_t len = 99;
        enum smtp_parse_status st =
            smtp_base64_decode(at_guard(c->in, c->in_len), c->in_len, out, sizeof out, &len);
        if (st != c->status)
            fail_msg("base64 \"%s\": status %d, want %d", c->in, st, c->status);
        if (st == OK) {
            assert_int_equal(len, c->out_len);
            assert_memory_equal(out, c->out, len);
        }
    }
    uint8_t small[2];
    size_t len;
    assert_int_equal(smtp_base64_decode(S("Zm9v"), small, sizeof small, &len),
                     SMTP_PARSE_TOO_LONG);
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (size_t n = 0; n < 200; n++) {
        uint8_t raw[200], back[200];
        char text[300];
        rng_fill(&rng, raw, n);
        size_t tlen = smtp_base64_encode(raw, n, text, sizeof text);
        assert_int_equal(tlen, (n + 2) / 3 * 4);
        assert_int_equal(strlen(text), tlen);
        if (n == 0)
            continue; /* "" is not a response; "=" is */
        size_t blen = 0;
        assert_int_equal(smtp_base64_decode(at_guard(text, tlen), tlen, back, sizeof back, &blen),
                         OK);
        assert_int_equal(blen, n);
        assert_memory_equal(back, raw, n);
    }
    char tiny[4];
    assert_int_equal(smtp_base64_encode((const uint8_t *)"abc", 3, tiny, sizeof tiny), 0);
}

struct plain_case {
    const char *msg;
    size_t len;
    enum smtp_parse_status status;
    const char *authzid, *authcid, *password;
};

static void test_plain(void **state)
{
    (void)state;
    static const struct plain_case cases[] = {
        {S("\0alice\0secret"), OK, "", "alice", "secret"},
        {S("alice\0alice\0secret"), OK, "alice", "alice", "secret"},
        {S("\0alice@example.com\0p w"), OK, "", "alice@example.com", "p w"},
        {S("alice\0secret"), SMTP_PARSE_AUTH_FORMAT, NULL, NULL, NULL},
        {S("\0alice\0"), SMTP_PARSE_AUTH_FORMAT, NULL, NULL, NULL},
        {S("\0\0secret"), SMTP_PARSE_AUTH_FORMAT, NULL, NULL, NULL},
        {S("\0alice\0sec\0ret"), SMTP_PARSE_AUTH_FORMAT, NULL, NULL, NULL},
        {S(""), SMTP_PARSE_AUTH_FORMAT, NULL, NULL, NULL},
        {S("alice"), SMTP_PARSE_AUTH_FORMAT, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct plain_case *c = &cases[i];
        struct smtp_plain out;
        const uint8_t *msg = guard_place(&guard, c->msg, c->len);
        enum smtp_parse_status st = smtp_parse_plain(msg, c->len, &out);
        if (st != c->status)
            fail_msg("PLAIN case %zu: status %d, want %d", i, st, c->status);
        if (st == OK) {
            expect_slice(&out.authzid, c->authzid, "authzid", "PLAIN");
            expect_slice(&out.authcid, c->authcid, "authcid", "PLAIN");
            expect_slice(&out.password, c->password, "password", "PLAIN");
        }
    }
    /* A password over SMTP_PASSWORD_MAX is refused, not truncated. */
    static uint8_t big[SMTP_PASSWORD_MAX + 16];
    memcpy(big, "\0a\0", 3);
    memset(big + 3, 'p', sizeof big - 3);
    struct smtp_plain out;
    assert_int_equal(smtp_parse_plain(big, sizeof big, &out), SMTP_PARSE_TOO_LONG);
}

/* ---- DATA transparency ---- */

struct dot_case {
    const char *in;
    size_t in_len;
    bool done;
    size_t consumed; /* when done */
    const char *out;
    size_t out_len;
    bool long_line, bare;
};

/* Runs the decoder over in, fed in pieces of at most step bytes (0: one piece). */
static void run_dot(const struct dot_case *c, size_t step, size_t split, uint8_t *out,
                    size_t *out_len, size_t *consumed, bool *done, struct smtp_dot_decoder *dec)
{
    smtp_dot_init(dec);
    *out_len = *consumed = 0;
    *done = false;
    size_t pos = 0;
    while (pos < c->in_len && !*done) {
        size_t n = c->in_len - pos;
        if (step && n > step)
            n = step;
        if (split && pos < split && pos + n > split)
            n = split - pos;
        const uint8_t *piece = guard_place(&guard, c->in + pos, n);
        size_t produced = 0;
        uint8_t tmp[4096];
        size_t used = smtp_dot_decode(dec, piece, n, tmp, &produced, done);
        assert_true(used <= n);
        assert_true(produced <= n + 1);
        assert_true(used == n || *done);
        memcpy(out + *out_len, tmp, produced);
        *out_len += produced;
        pos += used;
    }
    *consumed = pos;
}

static void check_dot(const struct dot_case *c, size_t step, size_t split)
{
    uint8_t out[4096];
    size_t out_len, consumed;
    bool done;
    struct smtp_dot_decoder dec;
    run_dot(c, step, split, out, &out_len, &consumed, &done, &dec);
    char shown[256];
    if (done != c->done || (done && consumed != c->consumed))
        fail_msg("\"%s\" (step %zu split %zu): done %d consumed %zu, want %d %zu",
                 show_bytes((const uint8_t *)c->in, c->in_len, shown, sizeof shown), step,
                 split, done, consumed, c->done, c->consumed);
    if (c->done && (out_len != c->out_len || memcmp(out, c->out, out_len) != 0))
        fail_msg("\"%s\" (step %zu split %zu): output \"%s\"",
                 show_bytes((const uint8_t *)c->in, c->in_len, shown, sizeof shown), step,
                 split, show_bytes(out, out_len, shown + 128, 128));
    if (c->done) {
        assert_int_equal(dec.long_line, c->long_line);
        assert_int_equal(dec.bare_newline, c->bare);
    }
}

#define LINE998 \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"

static void test_dot_decoding(void **state)
{
    (void)state;
    static const struct dot_case cases[] = {
        {S(".\r\n"), true, 3, S(""), false, false},
        {S("a\r\n.\r\n"), true, 6, S("a\r\n"), false, false},
        {S("a\r\n.\r\nQUIT\r\n"), true, 6, S("a\r\n"), false, false},
        {S("..a\r\n.\r\n"), true, 8, S(".a\r\n"), false, false},
        {S("...\r\n.\r\n"), true, 8, S("..\r\n"), false, false},
        {S("..\r\n.\r\n"), true, 7, S(".\r\n"), false, false},
        {S("a.\r\n.\r\n"), true, 7, S("a.\r\n"), false, false},
        {S("a\r\n..\r\n.\r\n"), true, 10, S("a\r\n.\r\n"), false, false},
        {S("Subject: x\r\n\r\nbody\r\n.\r\n"), true, 23, S("Subject: x\r\n\r\nbody\r\n"),
         false, false},
        /* SMTP smuggling: only CRLF.CRLF ends the data */
        {S("a\n.\nb\r\n.\r\n"), true, 10, S("a\n.\nb\r\n"), false, true},
        {S("a\n.\r\nb\r\n.\r\n"), true, 11, S("a\n.\r\nb\r\n"), false, true},
        {S("a\r.\rb\r\n.\r\n"), true, 10, S("a\r.\rb\r\n"), false, true},
        {S("a\r\n.\nb\r\n.\r\n"), true, 11, S("a\r\n\nb\r\n"), false, true},
        {S("a\r\n.\rb\r\n.\r\n"), true, 11, S("a\r\n\rb\r\n"), false, true},
        {S("a\r\n.\r\rb\r\n.\r\n"), true, 12, S("a\r\n\r\rb\r\n"), false, true},
        {S("a\r\r\n.\r\n"), true, 7, S("a\r\r\n"), false, true},
        {S("\n.\r\n"), false, 0, S(""), false, false},
        {S("a\r\n."), false, 0, S(""), false, false},
        {S("a\r\n.\r"), false, 0, S(""), false, false},
        /* line length: 998 + CRLF is the limit */
        {S(LINE998 "\r\n.\r\n"), true, 1003, S(LINE998 "\r\n"), false, false},
        {S(LINE998 "x\r\n.\r\n"), true, 1004, S(LINE998 "x\r\n"), true, false},
        {S("." LINE998 "\r\n.\r\n"), true, 1004, S(LINE998 "\r\n"), true, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct dot_case *c = &cases[i];
        check_dot(c, 0, 0);
        check_dot(c, 1, 0);
        for (size_t split = 1; split < c->in_len; split++)
            check_dot(c, 0, split);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_lines),
        cmocka_unit_test(test_mail),
        cmocka_unit_test(test_path_parts),
        cmocka_unit_test(test_rcpt),
        cmocka_unit_test(test_helo_names),
        cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_dot_decoding),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
