/* Unit tests of the TOML parser's C API: the tree, lookups, positions, limits and errors. The
 * grammar itself is covered by the toml-test suite (tests/toml/run_toml_suite.py). */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config/toml.h"

static struct toml_value *parse_ok(const char *text)
{
    char err[TOML_ERROR_MAX];
    struct toml_value *root = toml_parse(text, strlen(text), "test.toml", err, sizeof(err));
    if (!root)
        fail_msg("unexpected parse error: %s", err);
    return root;
}

/* Parses text, which must fail, and checks the whole "file:line:column: message" text. */
static void expect_error(const char *text, const char *expected)
{
    char err[TOML_ERROR_MAX];
    struct toml_value *root = toml_parse(text, strlen(text), "test.toml", err, sizeof(err));
    if (root) {
        toml_free(root);
        fail_msg("accepted: %s", text);
    }
    assert_string_equal(err, expected);
}

static void test_scalars_and_kinds(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("s = 'text'\n"
                                       "i = 0x7FFF_ffff_FFFF_ffff\n"
                                       "n = -9_223_372_036_854_775_808\n"
                                       "f = 6.25e-1\n"
                                       "b = true\n");
    size_t len;
    int64_t i;
    double f;
    bool b;
    assert_string_equal(toml_as_string(toml_table_get(root, "s"), &len), "text");
    assert_int_equal(len, 4);
    assert_true(toml_as_integer(toml_table_get(root, "n"), &i));
    assert_true(i == INT64_MIN);
    assert_true(toml_as_integer(toml_table_get(root, "i"), &i));
    assert_true(i == INT64_MAX);
    assert_true(toml_as_float(toml_table_get(root, "f"), &f));
    assert_true(f == 0.625);
    assert_true(toml_as_bool(toml_table_get(root, "b"), &b));
    assert_true(b);
    /* No conversions between kinds. */
    assert_false(toml_as_float(toml_table_get(root, "i"), &f));
    assert_null(toml_as_string(toml_table_get(root, "i"), NULL));
    assert_false(toml_as_bool(toml_table_get(root, "s"), &b));
    assert_null(toml_as_datetime(toml_table_get(root, "s")));
    assert_int_equal(toml_kind_of(root), TOML_TABLE);
    assert_int_equal(toml_kind_of(toml_table_get(root, "i")), TOML_INTEGER);
    toml_free(root);
}

static void test_special_floats(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("a = -0.0\nb = +inf\nc = -nan\nd = 5e-324\n");
    double d;
    assert_true(toml_as_float(toml_table_get(root, "a"), &d));
    assert_true(d == 0 && signbit(d));
    assert_true(toml_as_float(toml_table_get(root, "b"), &d));
    assert_true(isinf(d) && d > 0);
    assert_true(toml_as_float(toml_table_get(root, "c"), &d));
    assert_true(isnan(d));
    assert_true(toml_as_float(toml_table_get(root, "d"), &d));
    assert_true(d > 0);
    toml_free(root);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(toml_kind_name(TOML_NONE), "nothing");
    assert_string_equal(toml_kind_name(TOML_STRING), "string");
    assert_string_equal(toml_kind_name(TOML_INTEGER), "integer");
    assert_string_equal(toml_kind_name(TOML_FLOAT), "float");
    assert_string_equal(toml_kind_name(TOML_BOOL), "boolean");
    assert_string_equal(toml_kind_name(TOML_OFFSET_DATETIME), "offset date-time");
    assert_string_equal(toml_kind_name(TOML_LOCAL_DATETIME), "local date-time");
    assert_string_equal(toml_kind_name(TOML_LOCAL_DATE), "local date");
    assert_string_equal(toml_kind_name(TOML_LOCAL_TIME), "local time");
    assert_string_equal(toml_kind_name(TOML_ARRAY), "array");
    assert_string_equal(toml_kind_name(TOML_TABLE), "table");
}

static void test_strings_with_nul_and_unicode(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("\"k\\u0000ey\" = \"a\\u0000b\\U0001F600\"\n"
                                       "ml = \"\"\"\r\nline1\r\nline2 \\\r\n   cont\"\"\"\n");
    size_t len;
    const char *s = toml_as_string(toml_table_getn(root, "k\0ey", 4), &len);
    assert_non_null(s);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "a\0b\xF0\x9F\x98\x80", 7);
    assert_int_equal(s[len], '\0');
    /* "k" alone is a different key. */
    assert_null(toml_table_get(root, "k"));
    /* CRLF becomes LF; a line-ending backslash eats the break and the indentation. */
    assert_string_equal(toml_as_string(toml_table_get(root, "ml"), NULL), "line1\nline2 cont");
    toml_free(root);
}

static void test_lookup_helpers(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("[server.proxy]\n"
                                       "trusted-networks = ['10.0.0.0/8']\n"
                                       "[server.listener.smtp]\n"
                                       "bind = ':25'\n"
                                       "\"with.dot\" = 1\n");
    const struct toml_value *nets = toml_get_path(root, "server.proxy.trusted-networks");
    assert_int_equal(toml_kind_of(nets), TOML_ARRAY);
    assert_int_equal(toml_array_size(nets), 1);
    assert_string_equal(toml_as_string(toml_array_get(nets, 0), NULL), "10.0.0.0/8");
    assert_null(toml_array_get(nets, 1));
    assert_string_equal(toml_as_string(toml_get_path(root, "server.listener.smtp.bind"), NULL),
                        ":25");
    assert_null(toml_get_path(root, "server.nope.bind"));
    assert_null(toml_get_path(root, "server.listener.smtp.bind.deeper"));
    assert_null(toml_get_path(root, ""));
    assert_null(toml_get_path(root, NULL));
    const struct toml_value *smtp = toml_get_path(root, "server.listener.smtp");
    assert_non_null(toml_table_get(smtp, "with.dot"));
    assert_null(toml_get_path(smtp, "with.dot"));
    /* Everything tolerates NULL and wrong kinds, so lookups chain. */
    assert_null(toml_table_get(NULL, "x"));
    assert_null(toml_table_get(root, NULL));
    assert_null(toml_table_get(nets, "x"));
    assert_int_equal(toml_table_size(nets), 0);
    assert_int_equal(toml_array_size(root), 0);
    assert_int_equal(toml_kind_of(NULL), TOML_NONE);
    assert_null(toml_as_string(NULL, NULL));
    struct toml_pos none = toml_position(NULL);
    assert_int_equal(none.line, 0);
    toml_free(root);
    toml_free(NULL);
}

static void test_insertion_order_and_foreach(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("zeta = 1\nalpha = 2\n[mid]\n[[list]]\nx = 1\n[[list]]\n"
                                       "x = 2\n[beta]\n");
    static const char *const order[] = {"zeta", "alpha", "mid", "list", "beta"};
    struct toml_entry e;
    size_t n = 0;
    TOML_TABLE_FOREACH(e, root) {
        assert_true(n < 5);
        assert_string_equal(e.key, order[n]);
        assert_int_equal(e.key_len, strlen(order[n]));
        n++;
    }
    assert_int_equal(n, 5);
    assert_false(toml_table_entry(root, 5, &e));

    const struct toml_value *item;
    int64_t expected = 1, x;
    TOML_ARRAY_FOREACH(item, toml_table_get(root, "list")) {
        assert_true(toml_as_integer(toml_table_get(item, "x"), &x));
        assert_true(x == expected);
        expected++;
    }
    assert_true(expected == 3);
    /* Wrong kinds and NULL give empty loops. */
    TOML_ARRAY_FOREACH(item, root)
        fail();
    TOML_TABLE_FOREACH(e, NULL)
        fail();
    toml_free(root);
}

static void test_positions(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("# comment\n"
                                       "[a.b]\n"
                                       "  \"é\" = \"x\"\n"
                                       "[a]\n"
                                       "list = [\n  1,\n  2 ]\n");
    const struct toml_value *b = toml_get_path(root, "a.b");
    struct toml_pos pos = toml_position(b);
    assert_int_equal(pos.line, 2);
    assert_int_equal(pos.column, 4);
    /* Columns count characters, not bytes. */
    struct toml_entry e;
    assert_true(toml_table_entry(b, 0, &e));
    assert_int_equal(e.key_pos.line, 3);
    assert_int_equal(e.key_pos.column, 3);
    pos = toml_position(e.value);
    assert_int_equal(pos.line, 3);
    assert_int_equal(pos.column, 9);
    /* An implicit table takes the position of its own header once it gets one. */
    pos = toml_position(toml_table_get(root, "a"));
    assert_int_equal(pos.line, 4);
    assert_int_equal(pos.column, 2);
    const struct toml_value *list = toml_get_path(root, "a.list");
    pos = toml_position(toml_array_get(list, 1));
    assert_int_equal(pos.line, 7);
    assert_int_equal(pos.column, 3);
    pos = toml_position(root);
    assert_int_equal(pos.line, 1);
    assert_int_equal(pos.column, 1);
    toml_free(root);
}

static void test_datetimes(void **state)
{
    (void)state;
    struct toml_value *root = parse_ok("odt = 1979-05-27 07:32:00.123456789123-08:30\n"
                                       "ldt = 1979-05-27t00:32:00\n"
                                       "ld = 2000-02-29\n"
                                       "lt = 23:59:60.5\n"
                                       "z = 0001-01-01T00:00:00z\n");
    char text[TOML_DATETIME_TEXT_MAX];
    const struct toml_value *odt = toml_table_get(root, "odt");
    assert_int_equal(toml_kind_of(odt), TOML_OFFSET_DATETIME);
    const struct toml_datetime *dt = toml_as_datetime(odt);
    assert_int_equal(dt->year, 1979);
    assert_int_equal(dt->nanosecond, 123456789);
    assert_int_equal(dt->fraction_digits, 9);
    assert_int_equal(dt->offset_minutes, -510);
    assert_int_equal(toml_datetime_format(odt, text, sizeof(text)), 35);
    assert_string_equal(text, "1979-05-27T07:32:00.123456789-08:30");

    toml_datetime_format(toml_table_get(root, "ldt"), text, sizeof(text));
    assert_string_equal(text, "1979-05-27T00:32:00");
    toml_datetime_format(toml_table_get(root, "ld"), text, sizeof(text));
    assert_string_equal(text, "2000-02-29");
    toml_datetime_format(toml_table_get(root, "lt"), text, sizeof(text));
    assert_string_equal(text, "23:59:60.5");
    assert_int_equal(toml_as_datetime(toml_table_get(root, "lt"))->nanosecond, 500000000);
    toml_datetime_format(toml_table_get(root, "z"), text, sizeof(text));
    assert_string_equal(text, "0001-01-01T00:00:00Z");

    assert_int_equal(toml_datetime_format(odt, text, TOML_DATETIME_TEXT_MAX - 1), 0);
    assert_int_equal(toml_datetime_format(toml_table_get(root, "nope"), text, sizeof(text)), 0);
    toml_free(root);
}

/* The parse must not depend on the process locale (a German locale writes 1,5). */
static void test_locale_independent_floats(void **state)
{
    (void)state;
    const char *saved = setlocale(LC_NUMERIC, NULL);
    char *restore = saved ? strdup(saved) : NULL;
    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        free(restore);
        skip();
    }
    struct toml_value *root = parse_ok("f = 1.5\n");
    double d = 0;
    assert_true(toml_as_float(toml_table_get(root, "f"), &d));
    toml_free(root);
    setlocale(LC_NUMERIC, restore ? restore : "C");
    free(restore);
    assert_true(d == 1.5);
}

static void test_errors_syntax(void **state)
{
    (void)state;
    expect_error("a = 1\nbind = 2\nbind = 3\n", "test.toml:3:1: duplicate key 'bind'");
    expect_error("key 1", "test.toml:1:5: expected '=' after key, found '1'");
    expect_error("s = \"bad \\x41\"", "test.toml:1:10: invalid escape \\x");
    expect_error("n = 0123", "test.toml:1:5: leading zeros are not allowed");
    expect_error("n = 1__0", "test.toml:1:6: '_' in a number must be between digits");
    expect_error("n = 9223372036854775808",
                 "test.toml:1:5: integer 9223372036854775808 does not fit in 64 bits");
    expect_error("n = -9223372036854775809",
                 "test.toml:1:5: integer -9223372036854775809 does not fit in 64 bits");
    expect_error("n = 0x8000000000000000",
                 "test.toml:1:5: integer 0x8000000000000000 does not fit in 64 bits");
    expect_error("f = 1e999", "test.toml:1:5: float 1e999 is too large for 64 bits");
    expect_error("n = +0x10", "test.toml:1:5: hexadecimal, octal and binary integers cannot "
                              "have a sign");
    expect_error("s = hello", "test.toml:1:5: invalid value 'hello' (strings need quotes)");
    expect_error("s = \"open\nx = 1", "test.toml:1:5: unterminated string");
    expect_error("s = '''open\n", "test.toml:1:5: unterminated multi-line string");
    expect_error("\"\"\"k\"\"\" = 1", "test.toml:1:1: a multi-line string cannot be a key");
    expect_error("a = 1 b = 2", "test.toml:1:7: expected end of line after the value, found 'b'");
    expect_error("[t] x = 1", "test.toml:1:5: expected end of line after the table header, "
                              "found 'x'");
    expect_error("[t\n", "test.toml:1:3: expected ']' to close the table header, found end of line");
    expect_error("a = [1 2]", "test.toml:1:8: expected ',' or ']' in array, found '2'");
    expect_error("a = {b = 1,}", "test.toml:1:12: trailing comma in inline table");
    expect_error("a = {b = 1\n}", "test.toml:1:11: an inline table must be on one line");
    expect_error("a = ", "test.toml:1:5: expected a value, found end of input");
    expect_error("= 1", "test.toml:1:1: expected a key, found '='");
}

static void test_errors_values(void **state)
{
    (void)state;
    expect_error("d = 2023-02-29", "test.toml:1:13: day 29 does not exist in 2023-02");
    expect_error("d = 2023-13-01", "test.toml:1:10: month 13 does not exist");
    expect_error("t = 24:00:00", "test.toml:1:5: hour 24 is out of range");
    expect_error("t = 12:00", "test.toml:1:10: incomplete time (expected HH:MM:SS)");
    expect_error("t = 12:00:00Z", "test.toml:1:13: invalid character 'Z' in local time");
    expect_error("d = 2023-01-01T00:00:00+24:00",
                 "test.toml:1:24: time offset +24:00 is out of range");
    expect_error("s = \"\\uD800\"", "test.toml:1:6: escape \\uD800 is not a Unicode scalar value");
    expect_error("s = \"tab\tok\x01\"",
                 "test.toml:1:12: control character U+0001 is not allowed in a string");
    expect_error("# bad \x7F\n", "test.toml:1:7: control character U+007F is not allowed in a "
                                  "comment");
    expect_error("a = 1\r\n\rb = 2", "test.toml:2:1: expected a key, found U+000D");
}

static void test_errors_tables(void **state)
{
    (void)state;
    expect_error("[a]\nx = 1\n[a]\n", "test.toml:3:2: table [a] is defined twice (first at line 1)");
    expect_error("[a]\nb.c = 1\n[a.b]\n",
                 "test.toml:3:4: table [a.b] was already created by dotted keys");
    expect_error("[a.b]\n[a]\nb.c = 1\n",
                 "test.toml:3:1: table 'b' has a [header]; add its keys there, not with dotted "
                 "keys");
    expect_error("a = {b = 1}\na.c = 2\n", "test.toml:2:1: cannot extend inline table 'a'");
    expect_error("a = [{b = 1}]\n[a.c]\n", "test.toml:2:2: cannot extend array 'a': only arrays "
                                            "of tables made with [[a]] can be");
    expect_error("a = [1]\n[[a]]\n", "test.toml:2:3: cannot define [[a]]: 'a' is already an array");
    expect_error("a = 1\na.b = 2\n", "test.toml:2:1: key 'a' is already an integer, not a table");
    expect_error("[[a]]\n[a]\n", "test.toml:2:2: cannot define [a]: 'a' is already an array of "
                                 "tables");
}

static void test_error_encoding_and_position(void **state)
{
    (void)state;
    /* Columns count characters: "é" is one column, so the bad byte is at column 8. */
    expect_error("k = \"é\"\nk2 = \"\xC3\x28\"", "test.toml:2:7: invalid UTF-8 (byte 0xC3)");
    expect_error("a = \"\xED\xA0\x80\"", "test.toml:1:6: invalid UTF-8 (byte 0xED)");
    expect_error("a = \"\xC0\xAF\"", "test.toml:1:6: invalid UTF-8 (byte 0xC0)");
    expect_error("a = 'é' b", "test.toml:1:9: expected end of line after the value, found 'b'");
    /* A BOM at the very start is skipped and does not count as a column. */
    expect_error("\xEF\xBB\xBF" "a b", "test.toml:1:3: expected '=' after key, found 'b'");
}

/* Key names in messages are cleaned of control characters and cut when long. */
static void test_error_key_names(void **state)
{
    (void)state;
    expect_error("\"a\\tb\" = 1\n'a\tb' = 2\n", "test.toml:2:1: duplicate key 'a?b'");
    char doc[1024], expected[256];
    char *w = doc;
    for (int i = 0; i < 2; i++) {
        w += sprintf(w, "x.");
        for (int k = 0; k < 200; k++)
            *w++ = 'k';
        w += sprintf(w, " = 1\n");
    }
    *w = '\0';
    snprintf(expected, sizeof(expected), "test.toml:2:3: duplicate key 'x.%.122s...'",
             doc + 2);
    expect_error(doc, expected);
    /* A multi-byte character is never cut in half. */
    char key[256];
    w = key;
    for (int k = 0; k < 100; k++)
        w += sprintf(w, "\xC3\xA9");
    snprintf(doc, sizeof(doc), "\"%s\" = 1\n\"%s\" = 2\n", key, key);
    char *msg = expected + sprintf(expected, "test.toml:2:1: duplicate key '");
    for (int k = 0; k < 61; k++)
        msg += sprintf(msg, "\xC3\xA9");
    strcpy(msg, "...'");
    expect_error(doc, expected);
}

static void test_error_buffer_handling(void **state)
{
    (void)state;
    const char *bad = "a = 1\na = 2\n";
    /* No error buffer at all. */
    assert_null(toml_parse(bad, strlen(bad), NULL, NULL, 0));
    /* A NULL filename is reported as <input>. */
    char err[TOML_ERROR_MAX];
    assert_null(toml_parse(bad, strlen(bad), NULL, err, sizeof(err)));
    assert_string_equal(err, "<input>:2:1: duplicate key 'a'");
    /* A short buffer truncates without overflowing. */
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    assert_null(toml_parse(bad, strlen(bad), "file.toml", tiny, sizeof(tiny)));
    assert_string_equal(tiny, "file.to");
    /* The error is cleared on success; an empty document is an empty table. */
    struct toml_value *root = toml_parse("", 0, "x", err, sizeof(err));
    assert_non_null(root);
    assert_string_equal(err, "");
    assert_int_equal(toml_table_size(root), 0);
    toml_free(root);
    root = toml_parse(NULL, 0, NULL, err, sizeof(err));
    assert_non_null(root);
    toml_free(root);
    /* Text is not required to be NUL-terminated; len decides. */
    root = toml_parse("a = 12345", 6, NULL, err, sizeof(err));
    int64_t i;
    assert_true(toml_as_integer(toml_table_get(root, "a"), &i));
    assert_true(i == 12);
    toml_free(root);
}

/* Builds a document of `prefix` repeated n times, then `middle`, then `suffix` repeated n times. */
static char *repeat(const char *prefix, size_t n, const char *middle, const char *suffix)
{
    size_t len = n * (strlen(prefix) + strlen(suffix)) + strlen(middle) + 1;
    char *s = malloc(len), *w = s;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        w = stpcpy(w, prefix);
    w = stpcpy(w, middle);
    for (size_t i = 0; i < n; i++)
        w = stpcpy(w, suffix);
    return s;
}

static bool parses(const char *text, char *err, size_t errlen)
{
    struct toml_value *root = toml_parse(text, strlen(text), "deep", err, errlen);
    toml_free(root);
    return root != NULL;
}

static void test_depth_limit_arrays(void **state)
{
    (void)state;
    char err[TOML_ERROR_MAX];
    char *ok = repeat("[", TOML_MAX_DEPTH, "1", "]");
    char *doc = malloc(strlen(ok) + 8);
    sprintf(doc, "a = %s", ok);
    assert_true(parses(doc, err, sizeof(err)));
    free(doc);
    free(ok);

    char *deep = repeat("[", TOML_MAX_DEPTH + 1, "1", "]");
    doc = malloc(strlen(deep) + 8);
    sprintf(doc, "a = %s", deep);
    assert_false(parses(doc, err, sizeof(err)));
    assert_string_equal(err, "deep:1:133: arrays and tables nest deeper than 128 levels");
    free(doc);
    free(deep);

    /* Far deeper than any stack would survive without the limit. */
    char *hostile = repeat("[{a=", 200000, "1", "}]");
    doc = malloc(strlen(hostile) + 8);
    sprintf(doc, "a = %s", hostile);
    assert_false(parses(doc, err, sizeof(err)));
    assert_non_null(strstr(err, "nest deeper than 128 levels"));
    free(doc);
    free(hostile);
}

static void test_depth_limit_tables(void **state)
{
    (void)state;
    char err[TOML_ERROR_MAX];
    /* [a.a.....a] with 128 parts is as deep as allowed. */
    char *path = repeat("a.", TOML_MAX_DEPTH - 1, "a", "");
    char *doc = malloc(strlen(path) + 16);
    sprintf(doc, "[%s]\nx = 1\n", path);
    assert_true(parses(doc, err, sizeof(err)));
    /* One more level through a dotted key below it. */
    sprintf(doc, "[%s]\nx.y = 1\n", path);
    assert_false(parses(doc, err, sizeof(err)));
    assert_string_equal(err, "deep:2:1: tables nest deeper than 128 levels");
    /* An array of tables adds a level for the array. */
    sprintf(doc, "[[%s]]\n", path);
    assert_false(parses(doc, err, sizeof(err)));
    assert_non_null(strstr(err, "tables nest deeper than 128 levels"));
    free(doc);
    free(path);

    char *long_key = repeat("a.", 100000, "a", "");
    doc = malloc(strlen(long_key) + 16);
    sprintf(doc, "%s = 1\n", long_key);
    assert_false(parses(doc, err, sizeof(err)));
    assert_string_equal(err, "deep:1:257: key has more than 128 parts");
    free(doc);
    free(long_key);

    /* Inline tables count too. */
    char *inl = repeat("{a=", TOML_MAX_DEPTH, "1", "}");
    doc = malloc(strlen(inl) + 16);
    sprintf(doc, "a = %s\n", inl);
    assert_true(parses(doc, err, sizeof(err)));
    free(doc);
    free(inl);
    inl = repeat("{a=", TOML_MAX_DEPTH + 1, "1", "}");
    doc = malloc(strlen(inl) + 16);
    sprintf(doc, "a = %s\n", inl);
    assert_false(parses(doc, err, sizeof(err)));
    assert_non_null(strstr(err, "nest deeper than 128 levels"));
    free(doc);
    free(inl);
}

/* Wide documents must stay linear: 100k keys in one table, 100k items in one array. */
static void test_large_documents(void **state)
{
    (void)state;
    enum { N = 100000 };
    char *doc = malloc((size_t)N * 32), *w = doc;
    assert_non_null(doc);
    for (int i = 0; i < N; i++)
        w += sprintf(w, "key%d = %d\n", i, i);
    clock_t start = clock();
    struct toml_value *root = parse_ok(doc);
    assert_int_equal(toml_table_size(root), N);
    char key[32];
    int64_t v;
    for (int i = 0; i < N; i += 997) {
        snprintf(key, sizeof(key), "key%d", i);
        assert_true(toml_as_integer(toml_table_get(root, key), &v));
        assert_true(v == i);
    }
    struct toml_entry e;
    assert_true(toml_table_entry(root, N - 1, &e));
    assert_string_equal(e.key, "key99999");
    toml_free(root);

    w = doc + sprintf(doc, "a = [");
    for (int i = 0; i < N; i++)
        w += sprintf(w, "%d,", i);
    strcpy(w, "]\n");
    root = parse_ok(doc);
    assert_int_equal(toml_array_size(toml_table_get(root, "a")), N);
    toml_free(root);
    free(doc);
    /* Generous: a quadratic table takes minutes here, even unsanitized. */
    assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 20.0);
}

static void test_tables_semantics(void **state)
{
    (void)state;
    /* Implicit tables can be defined later; dotted keys may go through implicit ones. */
    struct toml_value *root = parse_ok("[x.y.z]\n[x]\ny.w = 1\n[x.y.z.v]\n"
                                       "[fruit]\napple.color = 'red'\n[fruit.apple.texture]\n"
                                       "smooth = true\n");
    int64_t i;
    bool b;
    assert_true(toml_as_integer(toml_get_path(root, "x.y.w"), &i));
    assert_non_null(toml_get_path(root, "x.y.z.v"));
    assert_true(toml_as_bool(toml_get_path(root, "fruit.apple.texture.smooth"), &b));
    toml_free(root);

    /* [[a]] elements each get their own sub-tables. */
    root = parse_ok("[[a]]\n[a.b]\nn = 1\n[[a]]\n[a.b]\nn = 2\n");
    const struct toml_value *a = toml_table_get(root, "a");
    assert_int_equal(toml_array_size(a), 2);
    assert_true(toml_as_integer(toml_get_path(toml_array_get(a, 1), "b.n"), &i));
    assert_true(i == 2);
    toml_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_kinds),
        cmocka_unit_test(test_special_floats),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_strings_with_nul_and_unicode),
        cmocka_unit_test(test_lookup_helpers),
        cmocka_unit_test(test_insertion_order_and_foreach),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_datetimes),
        cmocka_unit_test(test_locale_independent_floats),
        cmocka_unit_test(test_errors_syntax),
        cmocka_unit_test(test_errors_values),
        cmocka_unit_test(test_errors_tables),
        cmocka_unit_test(test_error_encoding_and_position),
        cmocka_unit_test(test_error_key_names),
        cmocka_unit_test(test_error_buffer_handling),
        cmocka_unit_test(test_depth_limit_arrays),
        cmocka_unit_test(test_depth_limit_tables),
        cmocka_unit_test(test_large_documents),
        cmocka_unit_test(test_tables_semantics),
    };
    return cmocka_run_group_tests_name("toml", tests, NULL, NULL);
}
