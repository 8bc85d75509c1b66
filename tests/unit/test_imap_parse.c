/*
 * IMAP syntax (src/imap/imap_parse.h): command framing, the argument parser (atoms, quoted
 * strings, literals and LITERAL+, NIL, nested lists, bracketed FETCH atoms), sequence sets,
 * flags, dates, FETCH attributes, SEARCH keys, and every limit. One table line per case; each
 * input is parsed where it ends at an inaccessible page, so a read past the given length
 * crashes, and every prefix of every command is parsed too (it must fail or succeed cleanly).
 * Parse trees are compared as compact text renderings.
 */
#include "proxy_test_util.h"

#include "imap/imap_internal.h"
#include "imap/imap_parse.h"
#include "store/mailbox.h"

#define S(lit) (lit), sizeof(lit) - 1
#define OK IMAP_PARSE_OK

static struct guard guard;

static int setup(void **state)
{
    (void)state;
    guard_init(&guard, 1 << 17);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    guard_free(&guard);
    return 0;
}

/* A writable copy ending at the guard page (the parser unescapes in place). */
static char *at_guard(const char *text, size_t len)
{
    return (char *)guard_place(&guard, text, len);
}

static const struct imap_parse_limits default_limits = {
    .max_args = 64, .max_depth = 8, .max_literal = 1000};

/* ---- rendering ---- */

/* a:atom q:quoted l:literal nil (children) */
static void render_args(const struct imap_arg *a, const struct imap_arg *end, char *out,
                        size_t cap, size_t *o)
{
    for (bool first = true; a < end; a = imap_arg_next(a), first = false) {
        if (!first)
            *o += (size_t)snprintf(out + *o, cap - *o, " ");
        switch (a->type) {
        case IMAP_ARG_ATOM:
            *o += (size_t)snprintf(out + *o, cap - *o, "a:%.*s", (int)a->len, a->ptr);
            break;
        case IMAP_ARG_QUOTED:
            *o += (size_t)snprintf(out + *o, cap - *o, "q:%.*s", (int)a->len, a->ptr);
            break;
        case IMAP_ARG_LITERAL:
            *o += (size_t)snprintf(out + *o, cap - *o, "l:%.*s", (int)a->len, a->ptr);
            break;
        case IMAP_ARG_NIL:
            *o += (size_t)snprintf(out + *o, cap - *o, "nil");
            break;
        case IMAP_ARG_LIST:
            *o += (size_t)snprintf(out + *o, cap - *o, "(");
            render_args(a + 1, imap_arg_next(a), out, cap, o);
            *o += (size_t)snprintf(out + *o, cap - *o, ")");
            break;
        }
        if (*o >= cap)
            *o = cap - 1;
    }
}

static const char *render_command(const struct imap_command *cmd, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    const struct imap_arg *end = cmd->args;
    for (size_t i = 0; i < cmd->nargs; i++)
        end = imap_arg_next(end);
    render_args(cmd->args, end, out, cap, &o);
    return out;
}

/* ---- commands ---- */

struct command_case {
    const char *line;
    size_t len;
    enum imap_parse_status status;
    const char *tag, *name, *args;
};

static void check_command(const struct command_case *c, const struct imap_parse_limits *lim)
{
    struct imap_arg args[64];
    struct imap_command cmd;
    char shown[512], got[2048];
    enum imap_parse_status st = imap_parse_command(at_guard(c->line, c->len), c->len, lim,
                                                   args, &cmd);
    if (st != c->status)
        fail_msg("\"%s\": status %s, want %s", show_bytes((const uint8_t *)c->line, c->len,
                                                          shown, sizeof shown),
                 imap_parse_status_text(st), imap_parse_status_text(c->status));
    if (st != OK)
        return;
    if (cmd.tag_len != strlen(c->tag) || memcmp(cmd.tag, c->tag, cmd.tag_len) != 0 ||
        cmd.name_len != strlen(c->name) || memcmp(cmd.name, c->name, cmd.name_len) != 0)
        fail_msg("\"%s\": tag/name \"%.*s\" \"%.*s\"", c->line, (int)cmd.tag_len, cmd.tag,
                 (int)cmd.name_len, cmd.name);
    render_command(&cmd, got, sizeof got);
    if (strcmp(got, c->args) != 0)
        fail_msg("\"%s\": args \"%s\", want \"%s\"", show_bytes((const uint8_t *)c->line,
                                                                c->len, shown, sizeof shown),
                 got, c->args);
}

/* Every prefix parses without reading past its end (the guard page catches it). */
static void check_prefixes(const char *line, size_t len)
{
    struct imap_arg args[64];
    struct imap_command cmd;
    for (size_t k = 0; k <= len; k++)
        imap_parse_command(at_guard(line, k), k, &default_limits, args, &cmd);
}

#define TAG64 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"

static void test_commands(void **state)
{
    (void)state;
    static const struct command_case cases[] = {
        {S("a1 NOOP"), OK, "a1", "NOOP", ""},
        {S("a1 noop"), OK, "a1", "noop", ""},
        {S("A.1] CAPABILITY"), OK, "A.1]", "CAPABILITY", ""},
        {S(TAG64 " NOOP"), OK, TAG64, "NOOP", ""},
        {S(TAG64 "x NOOP"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S("a1 LOGIN alice \"pa ss\""), OK, "a1", "LOGIN", "a:alice q:pa ss"},
        {S("a1 LOGIN \"a\\\"b\\\\c\" \"\""), OK, "a1", "LOGIN", "q:a\"b\\c q:"},
        {S("a1 LOGIN \"a\\nb\" x"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 LOGIN \"abc"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 LOGIN {5}\r\nalice {3+}\r\npwd"), OK, "a1", "LOGIN", "l:alice l:pwd"},
        {S("a1 X {0}\r\n"), OK, "a1", "X", "l:"},
        {S("a1 X {3}\r\na\0b"), OK, "a1", "X", "l:a"},
        {S("a1 X {3}\r\nab"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X {3}abc"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X {}\r\n"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X {3}\r\nabcdef"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X {12345678901}\r\n"), IMAP_PARSE_TOO_LARGE, NULL, NULL, NULL},
        {S("a1 X {1001}\r\n"), IMAP_PARSE_TOO_LARGE, NULL, NULL, NULL},
        {S("a1 FETCH 1:* (FLAGS (a (b)) NIL nil)"), OK, "a1", "FETCH",
         "a:1:* (a:FLAGS (a:a (a:b)) nil nil)"},
        {S("a1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.10> UID)"), OK, "a1", "FETCH",
         "a:1 (a:BODY.PEEK[HEADER.FIELDS (From To)]<0.10> a:UID)"},
        {S("a1 FETCH 1 BODY[HEADER.FIELDS (\"X-]\")]"), OK, "a1", "FETCH",
         "a:1 a:BODY[HEADER.FIELDS (\"X-]\")]"},
        {S("a1 LIST \"\" *"), OK, "a1", "LIST", "q: a:*"},
        {S("a1 LIST \"\" %.foo"), OK, "a1", "LIST", "q: a:%.foo"},
        {S("a1 STORE 1 +FLAGS (\\Seen \\Deleted)"), OK, "a1", "STORE",
         "a:1 a:+FLAGS (a:\\Seen a:\\Deleted)"},
        {S("a1 NOOP  x "), OK, "a1", "NOOP", "a:x"},
        {S("a1 X ( a )"), OK, "a1", "X", "(a:a)"},
        {S("a1 X ()"), OK, "a1", "X", "()"},
        {S("a1 X (a"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X a)"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X \"x\"y"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X (a)b"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 X a{5}"), IMAP_PARSE_SYNTAX, NULL, NULL, NULL},
        {S("a1 SEARCH \"caf\xc3\xa9\""), OK, "a1", "SEARCH", "q:caf\xc3\xa9"},
        {S("a1 SELECT in\xc3\xa9"), IMAP_PARSE_BAD_CHAR, NULL, NULL, NULL},
        {S("a1 SELECT \xc3\xa9"), IMAP_PARSE_BAD_CHAR, NULL, NULL, NULL},
        {S("a1 NOOP \x01"), IMAP_PARSE_BAD_CHAR, NULL, NULL, NULL},
        {S("a1 NOOP a\rb"), IMAP_PARSE_BAD_CHAR, NULL, NULL, NULL},
        {S("a1 X \"a\0b\""), IMAP_PARSE_BAD_CHAR, NULL, NULL, NULL},
        {S("a1 X \"a\rb\""), IMAP_PARSE_BAD_CHAR, NULL, NULL, NULL},
        {S(""), IMAP_PARSE_EMPTY, NULL, NULL, NULL},
        {S("   "), IMAP_PARSE_EMPTY, NULL, NULL, NULL},
        {S("a1"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S("* NOOP"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S("+ NOOP"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S("a+b NOOP"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S("a\"b NOOP"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S(" a NOOP"), IMAP_PARSE_BAD_TAG, NULL, NULL, NULL},
        {S("a1 "), IMAP_PARSE_BAD_COMMAND, NULL, NULL, NULL},
        {S("a1 1NOOP"), IMAP_PARSE_BAD_COMMAND, NULL, NULL, NULL},
        {S("a1 NO(OP"), IMAP_PARSE_BAD_COMMAND, NULL, NULL, NULL},
        {S("a1 X-Y1 z"), OK, "a1", "X-Y1", "a:z"},
        {S("a1 ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG"), IMAP_PARSE_BAD_COMMAND, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        check_command(&cases[i], &default_limits);
        check_prefixes(cases[i].line, cases[i].len);
    }
}

/* Each limit: just inside, then one past. */
static void test_limits(void **state)
{
    (void)state;
    struct imap_parse_limits lim = default_limits;
    lim.max_args = 3;
    check_command(&(struct command_case){S("a X 1 2 3"), OK, "a", "X", "a:1 a:2 a:3"}, &lim);
    check_command(&(struct command_case){S("a X 1 2 3 4"), IMAP_PARSE_TOO_MANY_ARGS, 0, 0, 0},
                  &lim);
    check_command(&(struct command_case){S("a X (1 2)"), OK, "a", "X", "(a:1 a:2)"}, &lim);
    check_command(&(struct command_case){S("a X (1 (2))"), IMAP_PARSE_TOO_MANY_ARGS, 0, 0, 0},
                  &lim);
    lim = default_limits;
    lim.max_depth = 3;
    check_command(&(struct command_case){S("a X (((x)))"), OK, "a", "X", "(((a:x)))"}, &lim);
    check_command(&(struct command_case){S("a X ((((x))))"), IMAP_PARSE_TOO_DEEP, 0, 0, 0},
                  &lim);
    lim.max_depth = 1000; /* capped at IMAP_DEPTH_HARD_MAX whatever the caller asks */
    char deep[2 * IMAP_DEPTH_HARD_MAX + 16];
    size_t n = (size_t)snprintf(deep, sizeof deep, "a X ");
    for (int i = 0; i <= IMAP_DEPTH_HARD_MAX; i++)
        deep[n++] = '(';
    struct imap_arg args[128];
    struct imap_command cmd;
    lim.max_args = 128;
    assert_int_equal(imap_parse_command(at_guard(deep, n), n, &lim, args, &cmd),
                     IMAP_PARSE_TOO_DEEP);
    lim = default_limits;
    lim.max_literal = 4;
    check_command(&(struct command_case){S("a X {4}\r\nabcd"), OK, "a", "X", "l:abcd"}, &lim);
    check_command(&(struct command_case){S("a X {5}\r\nabcde"), IMAP_PARSE_TOO_LARGE, 0, 0, 0},
                  &lim);
    check_command(&(struct command_case){S("a X {5+}\r\nabcde"), IMAP_PARSE_TOO_LARGE, 0, 0, 0},
                  &lim);
}

/* ---- framing ---- */

static void test_line_literal(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        size_t len;
        enum imap_literal_kind kind;
        uint64_t size;
    } cases[] = {
        {S("a LOGIN {5}"), IMAP_LITERAL_SYNC, 5},
        {S("a APPEND x {123+}"), IMAP_LITERAL_NONSYNC, 123},
        {S("{0}"), IMAP_LITERAL_SYNC, 0},
        {S("a X {4294967295}"), IMAP_LITERAL_SYNC, 4294967295u},
        {S("a X {4294967296}"), IMAP_LITERAL_BAD, 0},
        {S("a X {12345678901}"), IMAP_LITERAL_BAD, 0},
        {S("a X {}"), IMAP_LITERAL_BAD, 0},
        {S("a X {+}"), IMAP_LITERAL_BAD, 0},
        {S("a X 5}"), IMAP_LITERAL_NONE, 0},
        {S("a X {5a}"), IMAP_LITERAL_NONE, 0},
        {S("a X \"{5}\""), IMAP_LITERAL_NONE, 0},
        {S("a NOOP"), IMAP_LITERAL_NONE, 0},
        {S("}"), IMAP_LITERAL_NONE, 0},
        {S(""), IMAP_LITERAL_NONE, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint64_t size = 0;
        enum imap_literal_kind kind =
            imap_line_literal(at_guard(cases[i].line, cases[i].len), cases[i].len, &size);
        if (kind != cases[i].kind || (kind != IMAP_LITERAL_BAD && kind != IMAP_LITERAL_NONE &&
                                      size != cases[i].size))
            fail_msg("\"%s\": kind %d size %llu", cases[i].line, kind,
                     (unsigned long long)size);
    }
}

static bool peek(const char *line, const char **name, size_t *len)
{
    return imap_peek_command(at_guard(line, strlen(line)), strlen(line), name, len);
}

static void test_peek_command(void **state)
{
    (void)state;
    const char *name;
    size_t len;
    assert_true(peek("a1 APPEND x {5}", &name, &len));
    assert_int_equal(len, 6);
    assert_memory_equal(name, "APPEND", 6);
    assert_true(peek("a1 append", &name, &len));
    assert_int_equal(len, 6);
    assert_false(peek("a1", &name, &len));
    assert_false(peek("a1 ", &name, &len));
    assert_false(peek("a1 (", &name, &len));
}

/* ---- sequence sets ---- */

static void test_seqsets(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        enum imap_parse_status status;
        const char *ranges; /* "lo:hi,..." with 0 for '*' */
    } cases[] = {
        {S("1"), OK, "1:1"},
        {S("1,3:5,7:*"), OK, "1:1,3:5,7:0"},
        {S("*"), OK, "0:0"},
        {S("*:4"), OK, "0:4"},
        {S("4294967295"), OK, "4294967295:4294967295"},
        {S("4294967296"), IMAP_PARSE_TOO_LARGE, NULL},
        {S("0"), IMAP_PARSE_SYNTAX, NULL},
        {S("01"), IMAP_PARSE_SYNTAX, NULL},
        {S("1:"), IMAP_PARSE_SYNTAX, NULL},
        {S(":1"), IMAP_PARSE_SYNTAX, NULL},
        {S("1,"), IMAP_PARSE_SYNTAX, NULL},
        {S(",1"), IMAP_PARSE_SYNTAX, NULL},
        {S("1::2"), IMAP_PARSE_SYNTAX, NULL},
        {S("1:2:3"), IMAP_PARSE_SYNTAX, NULL},
        {S("$"), IMAP_PARSE_SYNTAX, NULL},
        {S("1 2"), IMAP_PARSE_SYNTAX, NULL},
        {S(""), IMAP_PARSE_SYNTAX, NULL},
        {S("a"), IMAP_PARSE_SYNTAX, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct imap_range r[8];
        size_t n = 99, counted = 99;
        const char *text = at_guard(cases[i].text, cases[i].len);
        enum imap_parse_status st = imap_seqset_parse(text, cases[i].len, r, 8, &n);
        if (st != cases[i].status)
            fail_msg("\"%s\": %s", cases[i].text, imap_parse_status_text(st));
        assert_int_equal(imap_seqset_parse(text, cases[i].len, NULL, 0, &counted), st);
        if (st != OK)
            continue;
        assert_int_equal(counted, n);
        char got[128];
        size_t o = 0;
        for (size_t k = 0; k < n; k++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%u:%u", k ? "," : "", r[k].lo,
                                  r[k].hi);
        if (strcmp(got, cases[i].ranges) != 0)
            fail_msg("\"%s\": %s, want %s", cases[i].text, got, cases[i].ranges);
    }
    /* Capacity is a limit: one range too many. */
    struct imap_range r[2];
    size_t n;
    assert_int_equal(imap_seqset_parse(S("1,2,3"), r, 2, &n), IMAP_PARSE_TOO_MANY_ARGS);
    assert_int_equal(imap_seqset_parse(S("1,2"), r, 2, &n), OK);
}

static void test_seqset_resolve(void **state)
{
    (void)state;
    struct imap_range r[4];
    size_t n;
    assert_int_equal(imap_seqset_parse(S("7:*,*,5:2,9"), r, 4, &n), OK);
    imap_seqset_resolve(r, n, 5);
    /* 7:* with * = 5 is 5:7 (RFC 3501 9: order does not matter) */
    assert_int_equal(r[0].lo, 5);
    assert_int_equal(r[0].hi, 7);
    assert_int_equal(r[1].lo, 5);
    assert_int_equal(r[1].hi, 5);
    assert_int_equal(r[2].lo, 2);
    assert_int_equal(r[2].hi, 5);
    assert_true(imap_seqset_contains(r, n, 2));
    assert_true(imap_seqset_contains(r, n, 9));
    assert_false(imap_seqset_contains(r, n, 1));
    assert_false(imap_seqset_contains(r, n, 8));
}

/* ---- flags ---- */

static void parse_one_arg(const char *text, size_t len, struct imap_arg *args,
                          struct imap_command *cmd)
{
    struct imap_parse_limits lim = default_limits;
    enum imap_parse_status st = imap_parse_command(at_guard(text, len), len, &lim, args, cmd);
    if (st != OK)
        fail_msg("\"%s\": %s", text, imap_parse_status_text(st));
}

static void test_flags(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        size_t len;
        enum imap_parse_status status;
        uint32_t bits;
        bool keywords, recent;
    } cases[] = {
        {S("a X (\\Seen \\Deleted)"), OK, MAILBOX_SEEN | MAILBOX_DELETED, false, false},
        {S("a X (\\seen \\ANSWERED \\Flagged \\Draft)"), OK,
         MAILBOX_SEEN | MAILBOX_ANSWERED | MAILBOX_FLAGGED | MAILBOX_DRAFT, false, false},
        {S("a X \\Seen"), OK, MAILBOX_SEEN, false, false},
        {S("a X ()"), OK, 0, false, false},
        {S("a X ($Junk \\Seen)"), OK, MAILBOX_SEEN, true, false},
        {S("a X (\\Recent)"), OK, 0, false, true},
        {S("a X (\\Bogus)"), IMAP_PARSE_UNKNOWN, 0, false, false},
        {S("a X (\\*)"), IMAP_PARSE_UNKNOWN, 0, false, false},
        {S("a X (\"Seen\")"), IMAP_PARSE_SYNTAX, 0, false, false},
        {S("a X ((\\Seen))"), IMAP_PARSE_SYNTAX, 0, false, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct imap_arg args[16];
        struct imap_command cmd;
        struct imap_flags f;
        parse_one_arg(cases[i].line, cases[i].len, args, &cmd);
        enum imap_parse_status st = imap_parse_flags(&args[0], &f);
        if (st != cases[i].status || (st == OK && (f.bits != cases[i].bits ||
                                                   f.keywords != cases[i].keywords ||
                                                   f.recent != cases[i].recent)))
            fail_msg("\"%s\": %s bits %x", cases[i].line, imap_parse_status_text(st), f.bits);
    }
    assert_string_equal(imap_flag_name(MAILBOX_SEEN), "\\Seen");
    assert_null(imap_flag_name(1u << 20));
}

/* ---- dates ---- */

static void test_dates(void **state)
{
    (void)state;
    assert_int_equal(imap_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(imap_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(imap_days_from_civil(1969, 12, 31), -1);
    static const struct {
        const char *text;
        size_t len;
        enum imap_parse_status status;
        int64_t days;
    } dates[] = {
        {S("1-Feb-1994"), OK, 8797},
        {S("01-feb-1994"), OK, 8797},
        {S("29-Feb-2000"), OK, 11016},
        {S("29-Feb-1900"), IMAP_PARSE_SYNTAX, 0},
        {S("31-Apr-2020"), IMAP_PARSE_SYNTAX, 0},
        {S("0-Jan-2020"), IMAP_PARSE_SYNTAX, 0},
        {S("1-Foo-2020"), IMAP_PARSE_SYNTAX, 0},
        {S("1-Jan-20"), IMAP_PARSE_SYNTAX, 0},
        {S("1-Jan-2020x"), IMAP_PARSE_SYNTAX, 0},
        {S("123-Jan-2020"), IMAP_PARSE_SYNTAX, 0},
        {S(""), IMAP_PARSE_SYNTAX, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(dates); i++) {
        int64_t days = -1;
        enum imap_parse_status st = imap_parse_date(at_guard(dates[i].text, dates[i].len),
                                                    dates[i].len, &days);
        if (st != dates[i].status || (st == OK && days != dates[i].days))
            fail_msg("\"%s\": %s %lld", dates[i].text, imap_parse_status_text(st),
                     (long long)days);
    }
    static const struct {
        const char *text;
        size_t len;
        enum imap_parse_status status;
        int64_t epoch;
    } times[] = {
        {S("17-Jul-1996 02:44:25 -0700"), OK, 837596665},
        {S(" 7-Jul-1996 02:44:25 +0000"), OK, 836707465},
        {S("01-Jan-1970 00:00:00 +0100"), OK, -3600},
        {S("17-Jul-1996 24:00:00 +0000"), IMAP_PARSE_SYNTAX, 0},
        {S("17-Jul-1996 02:44:25 0700"), IMAP_PARSE_SYNTAX, 0},
        {S("17-Jul-1996 02:44:25 +07"), IMAP_PARSE_SYNTAX, 0},
        {S("17-Jul-1996 02:44 +0700"), IMAP_PARSE_SYNTAX, 0},
        {S("17-Jul-1996 02:44:25 +0760"), IMAP_PARSE_SYNTAX, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(times); i++) {
        int64_t epoch = 0;
        enum imap_parse_status st = imap_parse_date_time(at_guard(times[i].text, times[i].len),
                                                         times[i].len, &epoch);
        if (st != times[i].status || (st == OK && epoch != times[i].epoch))
            fail_msg("\"%s\": %s %lld", times[i].text, imap_parse_status_text(st),
                     (long long)epoch);
    }
}

/* ---- FETCH attributes ---- */

static const char *render_att(const struct imap_fetch_att *a, char *out, size_t cap)
{
    static const char *const kinds[] = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                        "ENVELOPE", "BODYSTRUCTURE", "BODY", "SECTION",
                                        "RFC822", "RFC822.HEADER", "RFC822.TEXT"};
    static const char *const texts[] = {"ALL", "HEADER", "FIELDS", "FIELDS.NOT", "TEXT", "MIME"};
    size_t o = (size_t)snprintf(out, cap, "%s", kinds[a->kind]);
    if (a->kind != IMAP_FETCH_SECTION)
        return out;
    o += (size_t)snprintf(out + o, cap - o, "%s[", a->peek ? ".PEEK" : "");
    for (size_t i = 0; i < a->nparts; i++)
        o += (size_t)snprintf(out + o, cap - o, "%u.", a->parts[i]);
    o += (size_t)snprintf(out + o, cap - o, "%s", texts[a->text]);
    if (a->fields)
        o += (size_t)snprintf(out + o, cap - o, " (%.*s)", (int)a->fields_len, a->fields);
    o += (size_t)snprintf(out + o, cap - o, "]");
    if (a->partial)
        snprintf(out + o, cap - o, "<%u.%u>", a->origin, a->count);
    return out;
}

static void test_fetch_atts(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        size_t len;
        enum imap_parse_status status;
        const char *atts;
    } cases[] = {
        {S("a FETCH 1 FLAGS"), OK, "FLAGS"},
        {S("a FETCH 1 ALL"), OK, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE"},
        {S("a FETCH 1 fast"), OK, "FLAGS INTERNALDATE RFC822.SIZE"},
        {S("a FETCH 1 FULL"), OK, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY"},
        {S("a FETCH 1 (ALL)"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a FETCH 1 (UID RFC822.SIZE BODYSTRUCTURE body rfc822 RFC822.HEADER RFC822.TEXT)"),
         OK, "UID RFC822.SIZE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT"},
        {S("a FETCH 1 BODY[]"), OK, "SECTION[ALL]"},
        {S("a FETCH 1 BODY.PEEK[]<0.100>"), OK, "SECTION.PEEK[ALL]<0.100>"},
        {S("a FETCH 1 BODY[1.2.3]"), OK, "SECTION[1.2.3.ALL]"},
        {S("a FETCH 1 BODY[1.MIME]"), OK, "SECTION[1.MIME]"},
        {S("a FETCH 1 BODY[MIME]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[header]"), OK, "SECTION[HEADER]"},
        {S("a FETCH 1 BODY[2.TEXT]"), OK, "SECTION[2.TEXT]"},
        {S("a FETCH 1 BODY.PEEK[HEADER.FIELDS (From To)]"), OK,
         "SECTION.PEEK[FIELDS (From To)]"},
        {S("a FETCH 1 BODY[1.HEADER.FIELDS.NOT (\"X-A\" Received)]<5.6>"), OK,
         "SECTION[1.FIELDS.NOT (\"X-A\" Received)]<5.6>"},
        {S("a FETCH 1 BODY[HEADER.FIELDS ()]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[HEADER.FIELDS]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[HEADER.FIELDS (a:b)]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[0]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[1.]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[1..2]"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[TEXT]<1>"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[TEXT]<1.0>"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[TEXT]<1.2>x"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[TEXT]<4294967296.1>"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 BODY[FOO]"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a FETCH 1 BINARY[1]"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a FETCH 1 BODY.PEEK"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a FETCH 1 X-GM-MSGID"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a FETCH 1 ()"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 (FLAGS (UID))"), IMAP_PARSE_SYNTAX, NULL},
        {S("a FETCH 1 \"FLAGS\""), IMAP_PARSE_SYNTAX, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct imap_arg args[32];
        struct imap_command cmd;
        struct imap_fetch_att atts[8];
        size_t n = 0;
        parse_one_arg(cases[i].line, cases[i].len, args, &cmd);
        enum imap_parse_status st = imap_parse_fetch_atts(imap_arg_next(&args[0]), atts, 8, &n);
        if (st != cases[i].status)
            fail_msg("\"%s\": %s", cases[i].line, imap_parse_status_text(st));
        if (st != OK)
            continue;
        char got[512], one[256];
        size_t o = 0;
        for (size_t k = 0; k < n; k++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%s", k ? " " : "",
                                  render_att(&atts[k], one, sizeof one));
        if (strcmp(got, cases[i].atts) != 0)
            fail_msg("\"%s\": %s, want %s", cases[i].line, got, cases[i].atts);
    }
    /* The attribute count is a limit. */
    struct imap_arg args[32];
    struct imap_command cmd;
    struct imap_fetch_att atts[3];
    size_t n;
    parse_one_arg(S("a FETCH 1 (UID FLAGS ENVELOPE)"), args, &cmd);
    assert_int_equal(imap_parse_fetch_atts(&args[1], atts, 3, &n), OK);
    assert_int_equal(imap_parse_fetch_atts(&args[1], atts, 2, &n), IMAP_PARSE_TOO_MANY_ARGS);
    parse_one_arg(S("a FETCH 1 ALL"), args, &cmd);
    assert_int_equal(imap_parse_fetch_atts(&args[1], atts, 3, &n), IMAP_PARSE_TOO_MANY_ARGS);
}

static void test_header_names(void **state)
{
    (void)state;
    const char *text = at_guard("From  \"X-Y\" Subject", strlen("From  \"X-Y\" Subject"));
    size_t pos = 0, len;
    const char *name;
    const char *want[] = {"From", "X-Y", "Subject"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(imap_header_names_next(text, strlen("From  \"X-Y\" Subject"), &pos, &name,
                                           &len));
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(name, want[i], len);
    }
    assert_false(imap_header_names_next(text, strlen("From  \"X-Y\" Subject"), &pos, &name,
                                        &len));
}

/* ---- SEARCH ---- */

static size_t render_node(const struct imap_search_node *nodes, size_t at, char *out, size_t cap,
                          size_t *o);

static size_t render_children(const struct imap_search_node *nodes, size_t at, uint32_t count,
                              char *out, size_t cap, size_t *o)
{
    size_t child = at + 1;
    for (uint32_t i = 0; i < count; i++) {
        if (i)
            *o += (size_t)snprintf(out + *o, cap - *o, " ");
        child = render_node(nodes, child, out, cap, o);
    }
    return child;
}

/* Renders one node and returns the index after it. */
static size_t render_node(const struct imap_search_node *nodes, size_t at, char *out, size_t cap,
                          size_t *o)
{
    static const char *const names[] = {
        "ALL", "AND", "OR", "NOT", "FLAG", "NEW", "OLD", "KEYWORD", "UNKEYWORD", "HEADER",
        "BODY", "TEXT", "LARGER", "SMALLER", "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON",
        "SENTSINCE", "SEQ", "UID"};
    const struct imap_search_node *n = &nodes[at];
    *o += (size_t)snprintf(out + *o, cap - *o, "%s", names[n->kind]);
    switch (n->kind) {
    case IMAP_SEARCH_AND:
        *o += (size_t)snprintf(out + *o, cap - *o, "(");
        render_children(nodes, at, n->count, out, cap, o);
        *o += (size_t)snprintf(out + *o, cap - *o, ")");
        break;
    case IMAP_SEARCH_OR:
    case IMAP_SEARCH_NOT:
        *o += (size_t)snprintf(out + *o, cap - *o, "(");
        render_children(nodes, at, n->kind == IMAP_SEARCH_OR ? 2 : 1, out, cap, o);
        *o += (size_t)snprintf(out + *o, cap - *o, ")");
        break;
    case IMAP_SEARCH_FLAG:
        *o += (size_t)snprintf(out + *o, cap - *o, "(%s%s)", n->set ? "+" : "-",
                               imap_flag_name(n->flag));
        break;
    case IMAP_SEARCH_HEADER:
        *o += (size_t)snprintf(out + *o, cap - *o, "(%.*s:%.*s)", (int)n->field_len, n->field,
                               (int)n->value_len, n->value);
        break;
    case IMAP_SEARCH_BODY:
    case IMAP_SEARCH_TEXT:
    case IMAP_SEARCH_SEQSET:
    case IMAP_SEARCH_UIDSET:
        *o += (size_t)snprintf(out + *o, cap - *o, "(%.*s)", (int)n->value_len, n->value);
        break;
    case IMAP_SEARCH_LARGER:
    case IMAP_SEARCH_SMALLER:
        *o += (size_t)snprintf(out + *o, cap - *o, "(%llu)", (unsigned long long)n->number);
        break;
    case IMAP_SEARCH_BEFORE:
    case IMAP_SEARCH_ON:
    case IMAP_SEARCH_SINCE:
    case IMAP_SEARCH_SENTBEFORE:
    case IMAP_SEARCH_SENTON:
    case IMAP_SEARCH_SENTSINCE:
        *o += (size_t)snprintf(out + *o, cap - *o, "(%lld)", (long long)n->day);
        break;
    default:
        break;
    }
    return at + 1 + n->span;
}

struct search_case {
    const char *line;
    size_t len;
    enum imap_parse_status status;
    const char *tree;
};

static void check_search(const struct search_case *c, unsigned depth, size_t cap)
{
    struct imap_arg args[64];
    struct imap_command cmd;
    struct imap_search_node nodes[64];
    struct imap_search q;
    parse_one_arg(c->line, c->len, args, &cmd);
    enum imap_parse_status st = imap_parse_search(args, cmd.nargs, depth, nodes, cap, &q);
    if (st != c->status)
        fail_msg("\"%s\": %s", c->line, imap_parse_status_text(st));
    if (st != OK)
        return;
    char got[1024];
    size_t o = 0;
    size_t end = render_node(nodes, 0, got, sizeof got, &o);
    assert_int_equal(end, q.nnodes);
    if (strcmp(got, c->tree) != 0)
        fail_msg("\"%s\": %s, want %s", c->line, got, c->tree);
}

static void test_search(void **state)
{
    (void)state;
    static const struct search_case cases[] = {
        {S("a SEARCH ALL"), OK, "AND(ALL)"},
        {S("a SEARCH seen unseen"), OK, "AND(FLAG(+\\Seen) FLAG(-\\Seen))"},
        {S("a SEARCH ANSWERED DELETED DRAFT FLAGGED RECENT UNANSWERED UNDELETED UNDRAFT "
           "UNFLAGGED"),
         OK,
         "AND(FLAG(+\\Answered) FLAG(+\\Deleted) FLAG(+\\Draft) FLAG(+\\Flagged) "
         "FLAG(+\\Recent) FLAG(-\\Answered) FLAG(-\\Deleted) FLAG(-\\Draft) FLAG(-\\Flagged))"},
        {S("a SEARCH NEW OLD KEYWORD $x UNKEYWORD $y"), OK,
         "AND(NEW OLD KEYWORD UNKEYWORD)"},
        {S("a SEARCH FROM bob TO \"a b\" CC c BCC d SUBJECT {2}\r\nhi"), OK,
         "AND(HEADER(From:bob) HEADER(To:a b) HEADER(Cc:c) HEADER(Bcc:d) "
         "HEADER(Subject:hi))"},
        {S("a SEARCH HEADER X-Spam yes HEADER List-Id \"\""), OK,
         "AND(HEADER(X-Spam:yes) HEADER(List-Id:))"},
        {S("a SEARCH BODY x TEXT y"), OK, "AND(BODY(x) TEXT(y))"},
        {S("a SEARCH LARGER 100 SMALLER 18446744073709551615"), OK,
         "AND(LARGER(100) SMALLER(18446744073709551615))"},
        {S("a SEARCH BEFORE 1-Feb-1994 ON \"1-Feb-1994\" SINCE 2-Feb-1994"), OK,
         "AND(BEFORE(8797) ON(8797) SINCE(8798))"},
        {S("a SEARCH SENTBEFORE 1-Jan-1970 SENTON 2-Jan-1970 SENTSINCE 3-Jan-1970"), OK,
         "AND(SENTBEFORE(0) SENTON(1) SENTSINCE(2))"},
        {S("a SEARCH 1:* UID 2,4:*"), OK, "AND(SEQ(1:*) UID(2,4:*))"},
        {S("a SEARCH NOT SEEN"), OK, "AND(NOT(FLAG(+\\Seen)))"},
        {S("a SEARCH OR SEEN (FROM a TO b) DELETED"), OK,
         "AND(OR(FLAG(+\\Seen) AND(HEADER(From:a) HEADER(To:b))) FLAG(+\\Deleted))"},
        {S("a SEARCH OR OR SEEN DRAFT NOT (1 2)"), OK,
         "AND(OR(OR(FLAG(+\\Seen) FLAG(+\\Draft)) NOT(AND(SEQ(1) SEQ(2)))))"},
        {S("a SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\""), OK,
         "AND(HEADER(Subject:caf\xc3\xa9))"},
        {S("a SEARCH CHARSET \"us-ascii\" ALL"), OK, "AND(ALL)"},
        {S("a SEARCH CHARSET KOI8-R ALL"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a SEARCH CHARSET"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH ()"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH FOO"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a SEARCH FROM"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH FROM (a)"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH HEADER \"\" x"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH OR SEEN"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH NOT"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH LARGER x"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH LARGER 18446744073709551616"), IMAP_PARSE_TOO_LARGE, NULL},
        {S("a SEARCH BEFORE 32-Jan-2000"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH UID x"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH 1:0"), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH $"), IMAP_PARSE_UNKNOWN, NULL},
        {S("a SEARCH KEYWORD \"x\""), IMAP_PARSE_SYNTAX, NULL},
        {S("a SEARCH \"ALL\""), IMAP_PARSE_SYNTAX, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        check_search(&cases[i], 8, 64);
}

static void test_search_limits(void **state)
{
    (void)state;
    /* Depth counts every key level: NOT NOT SEEN is three deep. */
    check_search(&(struct search_case){S("a SEARCH NOT NOT SEEN"), OK,
                                       "AND(NOT(NOT(FLAG(+\\Seen))))"},
                 3, 64);
    check_search(&(struct search_case){S("a SEARCH NOT NOT NOT SEEN"), IMAP_PARSE_TOO_DEEP,
                                       NULL},
                 3, 64);
    /* Node capacity: AND + three keys. */
    check_search(&(struct search_case){S("a SEARCH SEEN DRAFT NEW"), OK,
                                       "AND(FLAG(+\\Seen) FLAG(+\\Draft) NEW)"},
                 8, 4);
    check_search(&(struct search_case){S("a SEARCH SEEN DRAFT NEW OLD"),
                                       IMAP_PARSE_TOO_MANY_ARGS, NULL},
                 8, 4);
}

/* The session sizes the search node array from the argument count; that must suffice. */
static void test_search_nodes_fit_args(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "a SEARCH ((((SEEN))))", "a SEARCH OR (SEEN) (NOT DRAFT)", "a SEARCH HEADER a b",
        "a SEARCH NOT (1:2 UID 3)",
    };
    for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
        struct imap_arg args[64];
        struct imap_command cmd;
        struct imap_search_node nodes[64];
        struct imap_search q;
        parse_one_arg(lines[i], strlen(lines[i]), args, &cmd);
        assert_int_equal(imap_parse_search(args, cmd.nargs, 16, nodes, cmd.nnodes + 1, &q), OK);
    }
}

/* ---- the command table ---- */

static void test_command_table(void **state)
{
    (void)state;
    assert_true(imap_command_table_sorted());
    assert_non_null(imap_find_command("fetch", 5, NULL, 0));
    assert_non_null(imap_find_command("UID", 3, "fetch", 5));
    assert_null(imap_find_command("UID", 3, NULL, 0));
    assert_null(imap_find_command("UID", 3, "LOGIN", 5));
    assert_null(imap_find_command("FETCHX", 6, NULL, 0));
    /* RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE, SEARCH; the UID forms allow it. */
    assert_true(imap_find_command("FETCH", 5, NULL, 0)->no_expunge);
    assert_true(imap_find_command("STORE", 5, NULL, 0)->no_expunge);
    assert_true(imap_find_command("SEARCH", 6, NULL, 0)->no_expunge);
    assert_false(imap_find_command("UID", 3, "FETCH", 5)->no_expunge);
    assert_false(imap_find_command("NOOP", 4, NULL, 0)->no_expunge);
    char longname[80];
    memset(longname, 'A', sizeof longname);
    assert_null(imap_find_command(longname, sizeof longname, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_line_literal),
        cmocka_unit_test(test_peek_command),
        cmocka_unit_test(test_seqsets),
        cmocka_unit_test(test_seqset_resolve),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_fetch_atts),
        cmocka_unit_test(test_header_names),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_search_limits),
        cmocka_unit_test(test_search_nodes_fit_args),
        cmocka_unit_test(test_command_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
