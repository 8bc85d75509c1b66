/* Event log lines (log/log.h): fields in logfmt and JSON, quoting only where logfmt needs it,
 * escapes that keep user data from forging a field or breaking a line, the timestamp's shape,
 * numbers, and lines cut (never overflowed) at LOG_LINE_MAX. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log/log.h"

static int log_fd = -1;
static char written[2 * LOG_LINE_MAX];

static int open_capture(void **state)
{
    (void)state;
    log_fd = memfd_create("test_log", 0);
    return log_fd < 0 ? -1 : 0;
}

static int close_capture(void **state)
{
    (void)state;
    close(log_fd);
    return 0;
}

/* Everything logged since the last call, as text. */
static const char *captured(void)
{
    off_t end = lseek(log_fd, 0, SEEK_CUR);
    ssize_t n = pread(log_fd, written, sizeof written - 1, 0);
    written[n < 0 ? 0 : n] = '\0';
    assert_int_equal(ftruncate(log_fd, 0), 0);
    assert_int_equal(lseek(log_fd, 0, SEEK_SET), 0);
    assert_int_equal(n, end);
    return written;
}

/* The line without its timestamp, which changes from run to run. */
static const char *after_timestamp(const char *line, const char *stamp_key)
{
    const char *p = strstr(line, stamp_key);
    assert_non_null(p);
    p += strlen(stamp_key);
    /* 2026-11-21T10:00:00.123Z */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            assert_true(p[i] >= '0' && p[i] <= '9');
        else
            assert_int_equal(p[i], shape[i]);
    }
    return p + sizeof shape - 1;
}

static void log_one_value(const char *key, const void *value, size_t len)
{
    struct log_line line;
    log_begin(&line, LOG_INFO, "test");
    log_strn(&line, key, value, len);
    log_end(&line);
}

static void expect_logfmt(const void *value, size_t len, const char *expected)
{
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, log_fd);
    log_one_value("v", value, len);
    assert_string_equal(after_timestamp(captured(), "ts="), expected);
}

static void expect_json(const void *value, size_t len, const char *expected)
{
    log_setup(LOG_FORMAT_JSON, LOG_INFO, log_fd);
    log_one_value("v", value, len);
    assert_string_equal(after_timestamp(captured(), "{\"ts\":\""), expected);
}

#define TEXT(s) s, sizeof s - 1

static void test_logfmt_quotes_only_what_needs_it(void **state)
{
    (void)state;
    expect_logfmt(TEXT("192.0.2.1:25"), " level=info event=test v=192.0.2.1:25\n");
    expect_logfmt(TEXT("two words"), " level=info event=test v=\"two words\"\n");
    expect_logfmt(TEXT("a=b"), " level=info event=test v=\"a=b\"\n");
    expect_logfmt(TEXT(""), " level=info event=test v=\"\"\n");
    expect_logfmt(TEXT("caf\xc3\xa9"), " level=info event=test v=\"caf\xc3\xa9\"\n");
}

static void test_escapes_keep_user_data_inside_its_field(void **state)
{
    (void)state;
    expect_logfmt(TEXT("x\" forged=1"), " level=info event=test v=\"x\\\" forged=1\"\n");
    expect_logfmt(TEXT("back\\slash"), " level=info event=test v=\"back\\\\slash\"\n");
    expect_logfmt(TEXT("line\nnext=1"), " level=info event=test v=\"line\\nnext=1\"\n");
    expect_logfmt(TEXT("bell\a del\x7f"), " level=info event=test v=\"bell\\u0007 del\\u007f\"\n");
    expect_logfmt(TEXT("nul\0end"), " level=info event=test v=\"nul\\u0000end\"\n");
    /* Bytes that are not UTF-8, and a sequence cut short, become escapes one byte at a time. */
    expect_logfmt(TEXT("\xff\xfe ok"), " level=info event=test v=\"\\u00ff\\u00fe ok\"\n");
    expect_logfmt(TEXT("cut \xc3"), " level=info event=test v=\"cut \\u00c3\"\n");
    expect_logfmt(TEXT("\xed\xa0\x80"), " level=info event=test v=\"\\u00ed\\u00a0\\u0080\"\n");
}

static void test_json_lines_are_objects_with_escaped_strings(void **state)
{
    (void)state;
    expect_json(TEXT("192.0.2.1:25"),
                "\",\"level\":\"info\",\"event\":\"test\",\"v\":\"192.0.2.1:25\"}\n");
    expect_json(TEXT("say \"hi\"\n\x01"),
                "\",\"level\":\"info\",\"event\":\"test\",\"v\":\"say \\\"hi\\\"\\n\\u0001\"}\n");
}

static void test_numbers_and_booleans(void **state)
{
    (void)state;
    log_setup(LOG_FORMAT_LOGFMT, LOG_INFO, log_fd);
    struct log_line line;
    log_begin(&line, LOG_WARN, "numbers");
    log_uint(&line, "zero", 0);
    log_uint(&line, "port", 65535);
    log_uint(&line, "max", UINT64_MAX);
    log_bool(&line, "yes", true);
    log_bool(&line, "no", false);
    log_end(&line);
    assert_string_equal(after_timestamp(captured(), "ts="),
                        " level=warn event=numbers zero=0 port=65535 max=18446744073709551615"
                        " yes=true no=false\n");
}

static void test_lines_below_the_level_are_not_written(void **state)
{
    (void)state;
    log_setup(LOG_FORMAT_LOGFMT, LOG_WARN, log_fd);
    log_one_value("v", TEXT("quiet"));
    log_message(LOG_ERROR, "loud", "written");
    assert_string_equal(after_timestamp(captured(), "ts="),
                        " level=error event=loud msg=written\n");
}

static void test_a_line_too_long_is_cut_and_still_ends(void **state)
{
    (void)state;
    static char big[3 * LOG_LINE_MAX];
    memset(big, 'a', sizeof big);
    for (int format = LOG_FORMAT_LOGFMT; format <= LOG_FORMAT_JSON; format++) {
        log_setup(format, LOG_INFO, log_fd);
        log_one_value("v", big, sizeof big);
        const char *text = captured();
        size_t len = strlen(text);
        assert_true(len <= LOG_LINE_MAX);
        assert_int_equal(text[len - 1], '\n');
        assert_null(memchr(text, '\n', len - 1));
        if (format == LOG_FORMAT_JSON)
            assert_int_equal(text[len - 2], '}');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_quotes_only_what_needs_it),
        cmocka_unit_test(test_escapes_keep_user_data_inside_its_field),
        cmocka_unit_test(test_json_lines_are_objects_with_escaped_strings),
        cmocka_unit_test(test_numbers_and_booleans),
        cmocka_unit_test(test_lines_below_the_level_are_not_written),
        cmocka_unit_test(test_a_line_too_long_is_cut_and_still_ends),
    };
    return cmocka_run_group_tests_name("log", tests, open_capture, close_capture);
}
