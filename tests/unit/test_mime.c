/*
 * MIME module (src/mime): a table of messages with their expected ENVELOPE, BODYSTRUCTURE and
 * BODY; a table of section bytes (BODY[], [HEADER], [TEXT], [1.2], [1.MIME], [2.HEADER] ...);
 * then HEADER.FIELDS, the SEARCH helpers (RFC 2047 words, decoded text, dates, charsets), the
 * depth and part limits, 20 MB messages, and every prefix of every message parsed where it
 * ends at an inaccessible page (a read past the end crashes, with or without ASan) with its
 * output checked for balanced lists and exact literal lengths.
 *
 * Expectations flagged DOVECOT_* (and sections flagged true) are byte for byte what Dovecot
 * 2.3.19 (Debian 12's dovecot-imapd, run from a scratch directory, CRLF messages) answered for
 * the same message. The rest differ from Dovecot on purpose:
 *  - strings with '"' or '\' are quoted with escapes where Dovecot sends literals, and a folded
 *    value is quoted once unfolded (Dovecot: literal);
 *  - an invalid Content-Type means text/plain (RFC 2045 5.2; Dovecot: "" "" or "text" "");
 *  - RFC 2231 sections are joined where the first one stands, plain sections %-encoded, and
 *    a parameter without a name is dropped (Dovecot: a "" name);
 *  - addresses Dovecot gives up on are read further (missing commas, obsolete local parts),
 *    and quoted display names keep their blanks;
 *  - BODY writes the types as BODYSTRUCTURE does (Dovecot lowercases a text/plain us-ascii);
 *  - a bare CR stays a CR (in a literal); an empty Date is "" (Dovecot keeps one blank);
 *  - a part ends before the line break preceding the next delimiter even after a nested close
 *    delimiter (RFC 2046; Dovecot includes it there), and a leaf has no part "1" below it;
 *  - sections of the bare-LF message are its own bytes (Dovecot serves them with CRLF), and
 *    BODY[MIME] without a part number does not exist (Dovecot: BAD).
 */
#include "proxy_test_util.h"

#include <time.h>

#include "mime/mime.h"

#define MSG(message) .name = #message, .data = message, .len = sizeof(message) - 1
#define ABSENT NULL
#define DOVECOT_ENVELOPE 1
#define DOVECOT_BODYSTRUCTURE 2
#define DOVECOT_BODY 4

static struct guard guard;

static int setup(void **state)
{
    (void)state;
    guard_init(&guard, 64 * 1024);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    guard_free(&guard);
    return 0;
}

static struct mime_message *parse_at_guard(const void *data, size_t len)
{
    struct mime_message *msg = mime_parse(guard_place(&guard, data, len), len);
    assert_non_null(msg);
    return msg;
}

static void expect_same_bytes(const char *what, const char *name, const void *got, size_t got_len,
                         const char *want, size_t want_len)
{
    if (got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0))
        return;
    static char shown_got[8192], shown_want[8192];
    fail_msg("%s of %s:\n  got: \"%s\"\n want: \"%s\"", what, name,
             show_bytes(got, got_len, shown_got, sizeof shown_got),
             show_bytes((const uint8_t *)want, want_len, shown_want, sizeof shown_want));
}

static void expect_strbuf(const char *what, const char *name, const struct strbuf *got,
                          const char *want)
{
    assert_false(got->failed);
    expect_same_bytes(what, name, got->data, got->len, want, strlen(want));
}

/* Lists balanced outside quoted strings and literals; literals complete; quoted strings
 * without CR, LF, NUL or 8-bit bytes and with only \" and \\ escapes. */
static void expect_well_formed(const struct strbuf *out, const char *what)
{
    const char *p = out->data ? out->data : "", *end = p + out->len;
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (--depth < 0)
                fail_msg("%s: unbalanced ')'", what);
        } else if (c == '"') {
            while (p < end && *p != '"') {
                if ((unsigned char)*p >= 0x80 || *p == '\r' || *p == '\n' || *p == '\0')
                    fail_msg("%s: byte 0x%02x in a quoted string", what, (unsigned char)*p);
                if (*p == '\\' && (p + 1 >= end || (p[1] != '"' && p[1] != '\\')))
                    fail_msg("%s: bad escape in a quoted string", what);
                p += *p == '\\' ? 2 : 1;
            }
            if (p >= end)
                fail_msg("%s: unterminated quoted string", what);
            p++;
        } else if (c == '{') {
            char *close;
            unsigned long n = strtoul(p, &close, 10);
            if (*close != '}' || close[1] != '\r' || close[2] != '\n' ||
                (size_t)(end - (close + 3)) < n)
                fail_msg("%s: bad literal", what);
            p = close + 3 + n;
            if (p < end && *p != ' ' && *p != ')')
                fail_msg("%s: literal length does not end at a separator", what);
        }
    }
    if (depth != 0)
        fail_msg("%s: %d unclosed '('", what, depth);
}

/* "2.1.MIME" -> parts {2, 1}, MIME; "" -> the whole message. */
static size_t parse_section(const char *text, uint32_t *parts, size_t max,
                            enum mime_section_kind *kind)
{
    size_t n = 0;
    *kind = MIME_SECTION_ALL;
    while (*text >= '0' && *text <= '9') {
        char *next;
        assert_true(n < max);
        parts[n++] = (uint32_t)strtoul(text, &next, 10);
        text = *next == '.' ? next + 1 : next;
    }
    if (strcmp(text, "HEADER") == 0)
        *kind = MIME_SECTION_HEADER;
    else if (strcmp(text, "TEXT") == 0)
        *kind = MIME_SECTION_TEXT;
    else if (strcmp(text, "MIME") == 0)
        *kind = MIME_SECTION_MIME;
    else
        assert_string_equal(text, "");
    return n;
}

/* ---- The messages (also the fuzz seeds in tests/fuzz/corpus/mime/) ---- */

static const char msg_simple[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: afternoon meeting\r\n"
    "To: mooch@owatagu.siam.edu.example\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
static const char msg_no_content_type[] =
    "Subject: none\r\n"
    "\r\n"
    "line1\r\n"
    "line2\r\n";
static const char msg_alternative_lf[] =
    "Subject: lf\n"
    "Content-Type: multipart/alternative; boundary=b\n"
    "\n"
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain\n"
    "--b\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>x</p>\n"
    "--b--\n";
static const char msg_mixed_attachment[] =
    "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
    "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n"
    "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n"
    "Subject: =?UTF-8?B?SGVsbG8gd29ybGQ=?= test\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "Message-ID: <1234@local.machine.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XXXX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XXXX\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Hello =C3=A9\r\n"
    "second line\r\n"
    "--XXXX\r\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename*0*=UTF-8''%E2%82%AC%20rates; "
    "filename*1=\".txt\"\r\n"
    "Content-ID: <part2@x>\r\n"
    "Content-Description: some data\r\n"
    "Content-Language: en, de\r\n"
    "Content-Location: http://x/y\r\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
    "\r\n"
    "AAECAwQ=\r\n"
    "--XXXX--\r\n"
    "epilogue\r\n";
static const char msg_nested[] =
    "Content-Type: multipart/mixed; boundary=a\r\n"
    "\r\n"
    "--a\r\n"
    "Content-Type: multipart/related; boundary=b; type=\"text/html\"\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<img>\r\n"
    "--b\r\n"
    "Content-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: inline\r\n"
    "\r\n"
    "iVBO\r\n"
    "--b--\r\n"
    "--a\r\n"
    "Content-Type: TEXT/Plain; CHARSET=ISO-8859-1; Format=flowed\r\n"
    "\r\n"
    "x\r\n"
    "--a--\r\n";
static const char msg_rfc822_attachment[] =
    "From: a@b.test\r\n"
    "Subject: fwd\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "see attached\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Disposition: inline\r\n"
    "\r\n"
    "From: inner@x.test\r\n"
    "Subject: inner\r\n"
    "Date: 2 Jan 2000 00:00 GMT\r\n"
    "Content-Type: multipart/alternative; boundary=in\r\n"
    "\r\n"
    "--in\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "caf\351\r\n"
    "--in\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<b>x</b>\r\n"
    "--in--\r\n"
    "\r\n"
    "--outer--\r\n";
static const char msg_groups[] =
    "From: Pete <pete@silly.test>\r\n"
    "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
    "Cc: Undisclosed recipients:;\r\n"
    "Bcc: (comment only) bob@x.test (Bob Comment), <@r1.test,@r2.test:rt@x.test>, nodomain, "
    "\"quoted\\\\back\" <qb@x.test>\r\n"
    "Reply-To: \"\" <empty@x.test>\r\n"
    "Sender: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n"
    "In-Reply-To: <a@b> <c@d>\r\n"
    "Subject: multi\r\n"
    " line\r\n"
    "\r\n"
    "x\r\n";
static const char msg_odd_addresses[] =
    "From: \"quoted local\"@h.test\r\n"
    "To: \"a\\\\b\"@x, a.b. c@d (x (nested) y)\r\n"
    "Cc: u@[1.2.3.4], John Doe jdoe@x.test\r\n"
    "Bcc: <@route:u@h>, <>, g: ;\r\n"
    "Sender: x@y (comm\\)ent)\r\n"
    "Reply-To: (only a comment)\r\n"
    "\r\n";
static const char msg_names[] =
    "From: \"  spaced   name  \" <a@b>, Mr.  Smith\t Jr <s@b>, =?utf-8?q?x?= <e@w>\r\n"
    "\r\n";
static const char msg_eight_bit[] =
    "Subject: caf\351 \r\n"
    "From: \"J\366rg\" <j@x.test>\r\n"
    "Content-Type: text/plain; name=\"t\344st\"\r\n"
    "\r\n"
    "x\r\n";
static const char msg_bare_cr[] =
    "Subject: a\rb\r\n"
    "X: y\r\n"
    "\r\n"
    "x\r\n";
static const char msg_missing_final_boundary[] =
    "Content-Type: multipart/mixed; boundary=zz\r\n"
    "\r\n"
    "--zz\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "A\r\n"
    "--zz\r\n"
    "\r\n"
    "B\r\n"
    "more";
static const char msg_no_boundary[] =
    "Content-Type: multipart/mixed\r\n"
    "\r\n"
    "--zz\r\n"
    "\r\n"
    "A\r\n";
static const char msg_no_parts[] =
    "Content-Type: multipart/mixed; boundary=q\r\n"
    "\r\n"
    "no parts here\r\n";
static const char msg_digest[] =
    "Content-Type: multipart/digest; boundary=d\r\n"
    "\r\n"
    "--d\r\n"
    "\r\n"
    "Subject: one\r\n"
    "\r\n"
    "body1\r\n"
    "--d\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "plain\r\n"
    "--d--\r\n";
static const char msg_top_level_rfc822[] =
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>\r\n";
static const char msg_rfc822_base64_params[] =
    "Content-Type: message/rfc822; foo=bar\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "Subject: x\r\n"
    "\r\n"
    "y";
static const char msg_header_only[] =
    "Subject: x\r\n"
    "From: y@z";
static const char msg_empty[] =
    "";
static const char msg_body_only[] =
    "\r\n"
    "just a body\r\n";
static const char msg_invalid_content_type[] =
    "Content-Type: ;charset=x\r\n"
    "\r\n"
    "x\r\n";
static const char msg_type_without_subtype[] =
    "Content-Type: text\r\n"
    "\r\n"
    "x\r\n";
static const char msg_rfc2231[] =
    "Content-Type: application/x-stuff;\r\n"
    " title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
    " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
    " title*2=\"isn't it!\"; a*=utf-8''%41; b*1=two; b*0=one; c*0=x\r\n"
    "\r\n";
static const char msg_odd_parameters[] =
    "Content-Type: text/plain; charset=\"us\\\"ascii\"; foo=bar (comment); empty=\"\"; =novalue; "
    "x\r\n"
    "Content-Disposition: attachment\r\n"
    "Content-Transfer-Encoding: X-Custom\r\n"
    "Content-ID: \r\n"
    "\r\n"
    "x\r\n";
static const char msg_prefix_boundaries[] =
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "A\r\n"
    "--bxyz\r\n"
    "\r\n"
    "B\r\n"
    "--b  \r\n"
    "\r\n"
    "C\r\n"
    "--b--junk\r\n"
    "epi\r\n";
static const char msg_empty_fields[] =
    "Subject:\r\n"
    "From:\r\n"
    "To: \r\n"
    "Date:   \r\n"
    "Message-ID:\r\n"
    "\r\n"
    "x";
static const char msg_nul_bytes[] =
    "Subject: a\000b\r\n"
    "From: \"x\000y\" <a@b>\r\n"
    "Content-Type: text/plain; name=\"n\000m\"\r\n"
    "\r\n"
    "body\000\r\n";
static const char msg_extension_fields[] =
    "Content-Type: text/plain\r\n"
    "Content-Language: en\r\n"
    "Content-Disposition: inline; filename=x.txt; size=3\r\n"
    "Content-Location: (c) foo\r\n"
    "\r\n"
    "x\r\n";
static const char msg_headers_cut_by_delimiter[] =
    "Content-Type: multipart/mixed; boundary=a\r\n"
    "\r\n"
    "--a\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "--a\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "\r\n"
    "--a\r\n"
    "X: y\r\n"
    "--a--\r\n";
static const char msg_inner_boundary_extends_outer[] =
    "Content-Type: multipart/mixed; boundary=a\r\n"
    "\r\n"
    "--a\r\n"
    "Content-Type: multipart/alternative; boundary=ab\r\n"
    "\r\n"
    "--ab\r\n"
    "\r\n"
    "inner\r\n"
    "--ab--\r\n"
    "--a--\r\n";
static const char msg_unterminated_inner[] =
    "Content-Type: multipart/mixed; boundary=o\r\n"
    "\r\n"
    "--o\r\n"
    "Content-Type: multipart/alternative; boundary=i\r\n"
    "\r\n"
    "--i\r\n"
    "\r\n"
    "one\r\n"
    "--o\r\n"
    "\r\n"
    "two\r\n"
    "--o--\r\n";
static const char msg_duplicate_content_type[] =
    "Content-Type: text/html\r\n"
    "Content-Type: image/gif\r\n"
    "\r\n"
    "x";


/* ---- ENVELOPE, BODYSTRUCTURE, BODY ---- */

struct structure_case {
    const char *name, *data;
    size_t len;
    const char *envelope, *bodystructure, *body;
    int dovecot; /* which of the three are Dovecot's reply, byte for byte */
};

static const struct structure_case structure_cases[] = {
    {MSG(msg_simple),
     "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" ((\"Fred Foobar\" NIL "
     "\"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" "
     "\"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL "
     "NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL "
     "\"<B27397-0100000@Blurdybloop.example>\")",
     "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1 NIL NIL NIL NIL)",
     "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE},
    {MSG(msg_no_content_type),
     "(NIL \"none\" NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_alternative_lf),
     "(NIL \"lf\" NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)"
     "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL NIL NIL NIL) "
     "\"alternative\" (\"boundary\" \"b\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"html\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0) \"alternative\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_mixed_attachment),
     "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"=?UTF-8?B?SGVsbG8gd29ybGQ=?= test\" ((\"Joe Q. "
     "Public\" NIL \"john.q.public\" \"example.com\")) ((\"Joe Q. Public\" NIL \"john.q.public\" "
     "\"example.com\")) ((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) ((\"Mary "
     "Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL \"one\" "
     "\"y.test\")) ((NIL NIL \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL "
     "\"sysservices\" \"example.net\")) NIL NIL \"<1234@local.machine.example>\")",
     "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 25 1 NIL NIL NIL "
     "NIL)(\"application\" \"octet-stream\" (\"name\" \"a.bin\") \"<part2@x>\" \"some data\" "
     "\"base64\" 8 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename*\" "
     "\"UTF-8''%E2%82%AC%20rates.txt\")) (\"en\" \"de\") \"http://x/y\") \"mixed\" (\"boundary\" "
     "\"XXXX\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 25 1)"
     "(\"application\" \"octet-stream\" (\"name\" \"a.bin\") \"<part2@x>\" \"some data\" "
     "\"base64\" 8) \"mixed\")",
     DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_nested),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)"
     "(\"image\" \"png\" NIL NIL NIL \"base64\" 4 NIL (\"inline\" NIL) NIL NIL) \"related\" "
     "(\"boundary\" \"b\" \"type\" \"text/html\") NIL NIL NIL)(\"TEXT\" \"Plain\" (\"CHARSET\" "
     "\"ISO-8859-1\" \"Format\" \"flowed\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"mixed\" "
     "(\"boundary\" \"a\") NIL NIL NIL)",
     "(((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"image\" \"png\" "
     "NIL NIL NIL \"base64\" 4) \"related\")(\"TEXT\" \"Plain\" (\"CHARSET\" \"ISO-8859-1\" "
     "\"Format\" \"flowed\") NIL NIL \"7bit\" 1 0) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_rfc822_attachment),
     "(NIL \"fwd\" ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" "
     "\"b.test\")) NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL)"
     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 260 (\"2 Jan 2000 00:00 GMT\" \"inner\" ((NIL "
     "NIL \"inner\" \"x.test\")) ((NIL NIL \"inner\" \"x.test\")) ((NIL NIL \"inner\" \"x.test\")"
     ") NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"8bit\" "
     "4 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL "
     "NIL NIL NIL) \"alternative\" (\"boundary\" \"in\") NIL NIL NIL) 15 NIL (\"inline\" NIL) "
     "NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0)(\"message\" "
     "\"rfc822\" NIL NIL NIL \"7bit\" 260 (\"2 Jan 2000 00:00 GMT\" \"inner\" ((NIL NIL "
     "\"inner\" \"x.test\")) ((NIL NIL \"inner\" \"x.test\")) ((NIL NIL \"inner\" \"x.test\")) "
     "NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"8bit\" 4 "
     "0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0) \"alternative\") 15) "
     "\"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_groups),
     "(NIL \"multi line\" ((\"Pete\" NIL \"pete\" \"silly.test\")) ((\"=?ISO-8859-1?Q?Andr=E9?= "
     "Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) ((NIL NIL \"empty\" \"x.test\")) ((NIL NIL \"A "
     "Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")(\"John\" "
     "NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)) ((NIL NIL \"Undisclosed recipients\" NIL)(NIL "
     "NIL NIL NIL)) ((\"Bob Comment\" NIL \"bob\" \"x.test\")(NIL \"@r1.test,@r2.test\" \"rt\" "
     "\"x.test\")(NIL NIL \"nodomain\" \"MISSING_DOMAIN\")(\"quoted\\\\back\" NIL \"qb\" "
     "\"x.test\")) \"<a@b> <c@d>\" NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
     DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_odd_addresses),
     "(NIL NIL ((NIL NIL \"quoted local\" \"h.test\")) ((\"comm)ent\" NIL \"x\" \"y\")) ((NIL "
     "NIL \"quoted local\" \"h.test\")) ((NIL NIL \"a\\\\b\" \"x\")(\"x (nested) y\" NIL "
     "\"a.b.c\" \"d\")) ((NIL NIL \"u\" \"[1.2.3.4]\")(\"John Doe\" NIL \"jdoe\" \"x.test\")) "
     "((NIL \"@route\" \"u\" \"h\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL "
     "\"g\" NIL)(NIL NIL NIL NIL)) NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
     DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_names),
     "(NIL NIL ((\"  spaced   name  \" NIL \"a\" \"b\")(\"Mr. Smith Jr\" NIL \"s\" \"b\")"
     "(\"=?utf-8?q?x?=\" NIL \"e\" \"w\")) ((\"  spaced   name  \" NIL \"a\" \"b\")(\"Mr. Smith "
     "Jr\" NIL \"s\" \"b\")(\"=?utf-8?q?x?=\" NIL \"e\" \"w\")) ((\"  spaced   name  \" NIL "
     "\"a\" \"b\")(\"Mr. Smith Jr\" NIL \"s\" \"b\")(\"=?utf-8?q?x?=\" NIL \"e\" \"w\")) NIL NIL "
     "NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
     DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_eight_bit),
     "(NIL {4}\r\ncaf\351 (({4}\r\nJ\366rg NIL \"j\" \"x.test\")) (({4}\r\nJ\366rg NIL \"j\" "
     "\"x.test\")) (({4}\r\nJ\366rg NIL \"j\" \"x.test\")) NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"name\" {4}\r\nt\344st \"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 "
     "1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"name\" {4}\r\nt\344st \"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 "
     "1)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_bare_cr),
     "(NIL {3}\r\na\rb NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
     DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_missing_final_boundary),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)"
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"zz\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)(\"text\" \"plain\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_no_boundary),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) "
     "\"mixed\" NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_no_parts),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"q\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_digest),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL "
     "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) "
     "2 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL "
     "NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
     "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL "
     "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) 2)(\"text\" "
     "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"digest\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_top_level_rfc822),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 48 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL "
     "NIL) (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL) 4 "
     "NIL NIL NIL NIL)",
     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 48 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL "
     "NIL) (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) 4)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_rfc822_base64_params),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"message\" \"rfc822\" (\"foo\" \"bar\") NIL NIL \"base64\" 15 (NIL \"x\" NIL NIL NIL NIL "
     "NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL "
     "NIL NIL NIL) 2 NIL NIL NIL NIL)",
     "(\"message\" \"rfc822\" (\"foo\" \"bar\") NIL NIL \"base64\" 15 (NIL \"x\" NIL NIL NIL NIL "
     "NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) 2)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_header_only),
     "(NIL \"x\" ((NIL NIL \"y\" \"z\")) ((NIL NIL \"y\" \"z\")) ((NIL NIL \"y\" \"z\")) NIL NIL "
     "NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_empty),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_body_only),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_invalid_content_type),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
     DOVECOT_ENVELOPE},
    {MSG(msg_type_without_subtype),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
     DOVECOT_ENVELOPE},
    {MSG(msg_rfc2231),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"application\" \"x-stuff\" (\"title*\" "
     "\"us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!\" \"a*\" "
     "\"utf-8''%41\" \"b\" \"onetwo\" \"c\" \"x\") NIL NIL \"7bit\" 0 NIL NIL NIL NIL)",
     "(\"application\" \"x-stuff\" (\"title*\" "
     "\"us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!\" \"a*\" "
     "\"utf-8''%41\" \"b\" \"onetwo\" \"c\" \"x\") NIL NIL \"7bit\" 0)",
     DOVECOT_ENVELOPE},
    {MSG(msg_odd_parameters),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us\\\"ascii\" \"foo\" \"bar\" \"empty\" \"\") \"\" NIL "
     "\"X-Custom\" 3 1 NIL (\"attachment\" NIL) NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us\\\"ascii\" \"foo\" \"bar\" \"empty\" \"\") \"\" NIL "
     "\"X-Custom\" 3 1)",
     DOVECOT_ENVELOPE},
    {MSG(msg_prefix_boundaries),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)"
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)"
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)(\"text\" \"plain\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 1 0) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_empty_fields),
     "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL \"\")",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)",
     DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_nul_bytes),
     "(NIL {5}\r\na\357\277\275b (({5}\r\nx\357\277\275y NIL \"a\" \"b\")) "
     "(({5}\r\nx\357\277\275y NIL \"a\" \"b\")) (({5}\r\nx\357\277\275y NIL \"a\" \"b\")) NIL "
     "NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"name\" {5}\r\nn\357\277\275m \"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 7 1 NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"name\" {5}\r\nn\357\277\275m \"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 7 1)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_extension_fields),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL (\"inline\" "
     "(\"filename\" \"x.txt\" \"size\" \"3\")) (\"en\") \"(c) foo\")",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_headers_cut_by_delimiter),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
     "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) "
     "\"mixed\" (\"boundary\" \"a\") NIL NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)(\"text\" \"html\" "
     "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_inner_boundary_extends_outer),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) "
     "\"alternative\" (\"boundary\" \"ab\") NIL NIL NIL) \"mixed\" (\"boundary\" \"a\") NIL NIL "
     "NIL)",
     "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"alternative\") "
     "\"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_unterminated_inner),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) "
     "\"alternative\" (\"boundary\" \"i\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"o\") NIL NIL "
     "NIL)",
     "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"alternative\")"
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"mixed\")",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},
    {MSG(msg_duplicate_content_type),
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
     "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)",
     DOVECOT_ENVELOPE | DOVECOT_BODYSTRUCTURE | DOVECOT_BODY},

};

static void test_structure_table(void **state)
{
    (void)state;
    int same_as_dovecot = 0;
    for (size_t i = 0; i < ARRAY_LEN(structure_cases); i++) {
        const struct structure_case *c = &structure_cases[i];
        struct mime_message *msg = parse_at_guard(c->data, c->len);
        struct strbuf out = {0};
        mime_write_envelope(msg, &out);
        expect_strbuf("ENVELOPE", c->name, &out, c->envelope);
        strbuf_reset(&out);
        mime_write_bodystructure(msg, true, &out);
        expect_strbuf("BODYSTRUCTURE", c->name, &out, c->bodystructure);
        strbuf_reset(&out);
        mime_write_bodystructure(msg, false, &out);
        expect_strbuf("BODY", c->name, &out, c->body);
        strbuf_free(&out);
        mime_free(msg);
        same_as_dovecot += (c->dovecot & 1) + (c->dovecot >> 1 & 1) + (c->dovecot >> 2 & 1);
    }
    print_message("# %d of %zu expectations are Dovecot's reply byte for byte\n",
                  same_as_dovecot, 3 * ARRAY_LEN(structure_cases));
}

/* ---- Section bytes ---- */

struct section_case {
    const char *name, *data;
    size_t len;
    const char *section;
    bool dovecot; /* Dovecot answered the same bytes (absent: an empty string) */
    const char *want; /* ABSENT: mime_section says there is no such section */
};

static const struct section_case section_cases[] = {
    {MSG(msg_simple), "", true, "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
      "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
      "Subject: afternoon meeting\r\n"
      "To: mooch@owatagu.siam.edu.example\r\n"
      "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
      "\r\n"
      "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"},
    {MSG(msg_simple), "HEADER", true, "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
      "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
      "Subject: afternoon meeting\r\n"
      "To: mooch@owatagu.siam.edu.example\r\n"
      "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
      "\r\n"},
    {MSG(msg_simple), "TEXT", true, "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"},
    {MSG(msg_simple), "1", true, "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"},
    {MSG(msg_simple), "1.MIME", true, "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
      "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
      "Subject: afternoon meeting\r\n"
      "To: mooch@owatagu.siam.edu.example\r\n"
      "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
      "\r\n"},
    {MSG(msg_simple), "2", true, ABSENT},
    {MSG(msg_simple), "1.1", true, ABSENT},
    {MSG(msg_simple), "MIME", false, ABSENT},
    {MSG(msg_simple), "1.HEADER", true, ABSENT},
    {MSG(msg_alternative_lf), "HEADER", false, "Subject: lf\n"
      "Content-Type: multipart/alternative; boundary=b\n"
      "\n"},
    {MSG(msg_alternative_lf), "1", false, "plain"},
    {MSG(msg_alternative_lf), "2", false, "<p>x</p>"},
    {MSG(msg_alternative_lf), "1.MIME", false, "Content-Type: text/plain\n"
      "\n"},
    {MSG(msg_alternative_lf), "2.MIME", false, "Content-Type: text/html\n"
      "\n"},
    {MSG(msg_mixed_attachment), "1", true, "Hello =C3=A9\r\n"
      "second line"},
    {MSG(msg_mixed_attachment), "2", true, "AAECAwQ="},
    {MSG(msg_mixed_attachment), "1.MIME", true, "Content-Type: text/plain; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"},
    {MSG(msg_mixed_attachment), "2.MIME", true,
     "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename*0*=UTF-8''%E2%82%AC%20rates; "
      "filename*1=\".txt\"\r\n"
      "Content-ID: <part2@x>\r\n"
      "Content-Description: some data\r\n"
      "Content-Language: en, de\r\n"
      "Content-Location: http://x/y\r\n"
      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
      "\r\n"},
    {MSG(msg_mixed_attachment), "3", true, ABSENT},
    {MSG(msg_mixed_attachment), "TEXT", true, "preamble\r\n"
      "--XXXX\r\n"
      "Content-Type: text/plain; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "Hello =C3=A9\r\n"
      "second line\r\n"
      "--XXXX\r\n"
      "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename*0*=UTF-8''%E2%82%AC%20rates; "
      "filename*1=\".txt\"\r\n"
      "Content-ID: <part2@x>\r\n"
      "Content-Description: some data\r\n"
      "Content-Language: en, de\r\n"
      "Content-Location: http://x/y\r\n"
      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
      "\r\n"
      "AAECAwQ=\r\n"
      "--XXXX--\r\n"
      "epilogue\r\n"},
    {MSG(msg_nested), "1", false, "--b\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<img>\r\n"
      "--b\r\n"
      "Content-Type: image/png\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: inline\r\n"
      "\r\n"
      "iVBO\r\n"
      "--b--"},
    {MSG(msg_nested), "1.1", true, "<img>"},
    {MSG(msg_nested), "1.2", true, "iVBO"},
    {MSG(msg_nested), "1.2.MIME", true, "Content-Type: image/png\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: inline\r\n"
      "\r\n"},
    {MSG(msg_nested), "2", true, "x"},
    {MSG(msg_nested), "1.HEADER", true, ABSENT},
    {MSG(msg_nested), "1.3", true, ABSENT},
    {MSG(msg_nested), "2.1", false, ABSENT},
    {MSG(msg_rfc822_attachment), "2", true, "From: inner@x.test\r\n"
      "Subject: inner\r\n"
      "Date: 2 Jan 2000 00:00 GMT\r\n"
      "Content-Type: multipart/alternative; boundary=in\r\n"
      "\r\n"
      "--in\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "caf\351\r\n"
      "--in\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<b>x</b>\r\n"
      "--in--\r\n"},
    {MSG(msg_rfc822_attachment), "2.MIME", true, "Content-Type: message/rfc822\r\n"
      "Content-Disposition: inline\r\n"
      "\r\n"},
    {MSG(msg_rfc822_attachment), "2.HEADER", true, "From: inner@x.test\r\n"
      "Subject: inner\r\n"
      "Date: 2 Jan 2000 00:00 GMT\r\n"
      "Content-Type: multipart/alternative; boundary=in\r\n"
      "\r\n"},
    {MSG(msg_rfc822_attachment), "2.TEXT", true, "--in\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "caf\351\r\n"
      "--in\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<b>x</b>\r\n"
      "--in--\r\n"},
    {MSG(msg_rfc822_attachment), "2.1", true, "caf\351"},
    {MSG(msg_rfc822_attachment), "2.2", true, "<b>x</b>"},
    {MSG(msg_rfc822_attachment), "2.1.MIME", true,
     "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"},
    {MSG(msg_rfc822_attachment), "2.3", true, ABSENT},
    {MSG(msg_rfc822_attachment), "1.HEADER", true, ABSENT},
    {MSG(msg_missing_final_boundary), "1", true, "A"},
    {MSG(msg_missing_final_boundary), "2", true, "B\r\n"
      "more"},
    {MSG(msg_missing_final_boundary), "2.MIME", true, "\r\n"},
    {MSG(msg_no_parts), "1", true, ""},
    {MSG(msg_no_parts), "1.MIME", true, ""},
    {MSG(msg_no_parts), "2", true, ABSENT},
    {MSG(msg_no_parts), "1.1", true, ABSENT},
    {MSG(msg_digest), "1", true, "Subject: one\r\n"
      "\r\n"
      "body1"},
    {MSG(msg_digest), "1.HEADER", true, "Subject: one\r\n"
      "\r\n"},
    {MSG(msg_digest), "1.TEXT", true, "body1"},
    {MSG(msg_digest), "1.1", true, "body1"},
    {MSG(msg_digest), "2", true, "plain"},
    {MSG(msg_digest), "2.HEADER", true, ABSENT},
    {MSG(msg_top_level_rfc822), "1", true, "Subject: inner\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<p>\r\n"},
    {MSG(msg_top_level_rfc822), "1.HEADER", true, "Subject: inner\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"},
    {MSG(msg_top_level_rfc822), "1.TEXT", true, "<p>\r\n"},
    {MSG(msg_top_level_rfc822), "1.1", true, "<p>\r\n"},
    {MSG(msg_top_level_rfc822), "1.MIME", true, "Content-Type: message/rfc822\r\n"
      "\r\n"},
    {MSG(msg_top_level_rfc822), "1.1.MIME", true, "Subject: inner\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"},
    {MSG(msg_top_level_rfc822), "1.2", true, ABSENT},
    {MSG(msg_rfc822_base64_params), "1", true, "Subject: x\r\n"
      "\r\n"
      "y"},
    {MSG(msg_rfc822_base64_params), "1.HEADER", true, "Subject: x\r\n"
      "\r\n"},
    {MSG(msg_rfc822_base64_params), "1.TEXT", true, "y"},
    {MSG(msg_rfc822_base64_params), "1.1", true, "y"},
    {MSG(msg_header_only), "HEADER", true, "Subject: x\r\n"
      "From: y@z"},
    {MSG(msg_header_only), "TEXT", true, ""},
    {MSG(msg_header_only), "1", true, ""},
    {MSG(msg_header_only), "1.MIME", true, "Subject: x\r\n"
      "From: y@z"},
    {MSG(msg_empty), "", true, ""},
    {MSG(msg_empty), "HEADER", true, ""},
    {MSG(msg_empty), "TEXT", true, ""},
    {MSG(msg_empty), "1", true, ""},
    {MSG(msg_headers_cut_by_delimiter), "1.MIME", true, "Content-Type: text/plain\r\n"},
    {MSG(msg_headers_cut_by_delimiter), "1", true, ""},
    {MSG(msg_headers_cut_by_delimiter), "2.MIME", true, "Content-Type: text/html\r\n"
      "\r\n"},
    {MSG(msg_headers_cut_by_delimiter), "2", true, ""},
    {MSG(msg_headers_cut_by_delimiter), "3.MIME", true, "X: y"},
    {MSG(msg_headers_cut_by_delimiter), "3", true, ""},
};

static void test_section_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(section_cases); i++) {
        const struct section_case *c = &section_cases[i];
        struct mime_message *msg = parse_at_guard(c->data, c->len);
        uint32_t parts[8];
        enum mime_section_kind kind;
        size_t nparts = parse_section(c->section, parts, ARRAY_LEN(parts), &kind);
        const uint8_t *ptr = NULL;
        size_t len = 0;
        bool found = mime_section(msg, parts, nparts, kind, &ptr, &len);
        char what[64];
        snprintf(what, sizeof what, "BODY[%s]", c->section);
        if (found != (c->want != ABSENT))
            fail_msg("%s of %s: %s", what, c->name, found ? "found, want absent" : "absent");
        if (found)
            expect_same_bytes(what, c->name, ptr, len, c->want, strlen(c->want));
        mime_free(msg);
    }
}

/* Sections whose bytes are easier to state as positions: the top level always splits into
 * HEADER + TEXT, and BODY[] is the whole buffer. */
static void test_top_level_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(structure_cases); i++) {
        const struct structure_case *c = &structure_cases[i];
        const uint8_t *at = guard_place(&guard, c->data, c->len);
        struct mime_message *msg = mime_parse(at, c->len);
        const uint8_t *all, *header, *text;
        size_t all_len, header_len, text_len;
        assert_true(mime_section(msg, NULL, 0, MIME_SECTION_ALL, &all, &all_len));
        assert_true(mime_section(msg, NULL, 0, MIME_SECTION_HEADER, &header, &header_len));
        assert_true(mime_section(msg, NULL, 0, MIME_SECTION_TEXT, &text, &text_len));
        assert_ptr_equal(all, at);
        assert_int_equal(all_len, c->len);
        assert_ptr_equal(header, at);
        assert_ptr_equal(text, at + header_len);
        assert_int_equal(header_len + text_len, c->len);
        assert_false(mime_section(msg, NULL, 0, MIME_SECTION_MIME, &all, &all_len));
        mime_free(msg);
    }
}

/* ---- HEADER.FIELDS ---- */

struct fields_case {
    const char *header;
    const char *names[3];
    bool exclude;
    const char *want;
};

static const struct fields_case fields_cases[] = {
    /* Dovecot: BODY[HEADER.FIELDS (SUBJECT TO NONEXIST)] of the "groups" message */
    {"From: Pete <pete@silly.test>\r\n"
     "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
     "Subject: multi\r\n line\r\n\r\n",
     {"SUBJECT", "TO", "NONEXIST"}, false,
     "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
     "Subject: multi\r\n line\r\n\r\n"},
    /* Dovecot: HEADER.FIELDS.NOT keeps the rest in order */
    {"From: a@b\r\nTo: c@d\r\nsubject: x\r\nX-A: 1\r\n\r\nbody\r\n", {"Subject", "to", NULL}, true,
     "From: a@b\r\nX-A: 1\r\n\r\n"},
    /* every occurrence, case-insensitive, folded lines kept */
    {"Received: a\r\n\tb\r\nX: 1\r\nRECEIVED: c\r\n\r\n", {"received", NULL, NULL}, false,
     "Received: a\r\n\tb\r\nRECEIVED: c\r\n\r\n"},
    /* an unterminated last field gets a line break (Dovecot too) */
    {"Subject: x\r\nFrom: y@z", {"FROM", NULL, NULL}, false, "From: y@z\r\n\r\n"},
    /* a bare-LF header gets bare-LF additions */
    {"Subject: x\nFrom: y@z\n\n", {"from", NULL, NULL}, false, "From: y@z\n\n"},
    {"Subject: x\nFrom: y@z", {"from", NULL, NULL}, false, "From: y@z\n\n"},
    /* nothing matches: just the blank line */
    {"Subject: x\r\n\r\n", {"To", NULL, NULL}, false, "\r\n"},
    {"", {"To", NULL, NULL}, false, "\r\n"},
    /* obsolete blanks before the colon; a line without a colon is never a field */
    {"Subject : x\r\nnot a field\r\nTo: y\r\n\r\n", {"subject", NULL, NULL}, false,
     "Subject : x\r\n\r\n"},
    {"Subject : x\r\nnot a field\r\nTo: y\r\n\r\n", {"subject", NULL, NULL}, true,
     "To: y\r\n\r\n"},
    /* a name is matched whole */
    {"Subject-X: a\r\nSubject: b\r\n\r\n", {"Subject", NULL, NULL}, false, "Subject: b\r\n\r\n"},
};

static void test_header_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(fields_cases); i++) {
        const struct fields_case *c = &fields_cases[i];
        size_t nnames = 0;
        while (nnames < 3 && c->names[nnames])
            nnames++;
        size_t len = strlen(c->header);
        struct strbuf out = {0};
        mime_header_fields(guard_place(&guard, c->header, len), len, c->names, nnames,
                           c->exclude, &out);
        expect_strbuf("HEADER.FIELDS", c->header, &out, c->want);
        strbuf_free(&out);
    }
}

/* ---- SEARCH helpers ---- */

struct value_case {
    const char *value; /* of "X-Test:" */
    const char *want;
};

static const struct value_case value_cases[] = {
    {"=?UTF-8?B?SGVsbG8gd29ybGQ=?= test", "Hello world test"},
    {"=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard"},
    {"=?utf-8?q?a_b?=\r\n =?utf-8?q?c?=", "a bc"},
    /* RFC 2047 section 8 */
    {"(=?ISO-8859-1?Q?a?=)", "(a)"},
    {"(=?ISO-8859-1?Q?a?= b)", "(a b)"},
    {"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"},
    {"(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"},
    {"(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"},
    {"(=?ISO-8859-1?Q?a_b?=)", "(a b)"},
    {"(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"},
    /* RFC 2231 5: a language after the charset */
    {"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
    /* Windows-1252, and ISO-8859-1 read as it */
    {"=?windows-1252?Q?=80_=93x=94?=", "\xe2\x82\xac \xe2\x80\x9cx\xe2\x80\x9d"},
    {"=?iso-8859-1?b?6Q==?=", "\xc3\xa9"},
    /* an unknown charset: the decoded bytes as they are */
    {"=?koi8-r?B?8NLJ18XU?=", "\xf0\xd2\xc9\xd7\xc5\xd4"},
    /* not encoded-words: kept */
    {"=?utf-8?x?abc?= =?utf-8?q?a b?= =?? =?utf-8?q?x",
     "=?utf-8?x?abc?= =?utf-8?q?a b?= =?? =?utf-8?q?x"},
    {"a=?utf-8?q?b?=c", "abc"}, /* lenient: inside a word */
    {"  folded\r\n\tvalue  ", "folded\tvalue"},
    {"raw \xc3\xa9 stays", "raw \xc3\xa9 stays"},
    {"", ""},
};

static void test_header_value(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(value_cases); i++) {
        char message[512];
        int n = snprintf(message, sizeof message, "Subject: s\r\nX-Test:%s%s\r\n\r\nbody\r\n",
                         value_cases[i].value[0] ? " " : "", value_cases[i].value);
        struct mime_message *msg = parse_at_guard(message, (size_t)n);
        struct strbuf out = {0};
        assert_true(mime_header_value(msg, "x-test", &out));
        expect_strbuf("header value", value_cases[i].value, &out, value_cases[i].want);
        strbuf_reset(&out);
        assert_false(mime_header_value(msg, "X-Absent", &out));
        assert_int_equal(out.len, 0);
        strbuf_free(&out);
        mime_free(msg);
    }
}

static const char body_text_message[] =
    "Subject: text\r\n"
    "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
    "--x\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "caf=C3=A9 soft=\r\n"
    "break =3D ok\r\n"
    "--x\r\n"
    "Content-Type: text/html; charset=\"ISO-8859-1\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "PHA+Y2Fm6TwvcD4=\r\n"
    "--x\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "c2VjcmV0\r\n"
    "--x\r\n"
    "Content-Type: message/rfc822\r\n\r\n"
    "Subject: =?utf-8?q?inn=C3=A9r?=\r\n\r\n"
    "inner body\r\n"
    "--x--\r\n";

static void test_body_text(void **state)
{
    (void)state;
    struct mime_message *msg = parse_at_guard(body_text_message, sizeof body_text_message - 1);
    struct strbuf out = {0};
    mime_body_text(msg, &out);
    expect_strbuf("body text", "body_text_message", &out,
                  "caf\xc3\xa9 softbreak = ok\n"
                  "<p>caf\xc3\xa9</p>\n"
                  "Subject: inn\xc3\xa9r\n"
                  "inner body");
    strbuf_free(&out);
    mime_free(msg);

    static const char no_type[] = "Subject: x\r\n\r\nplain \xe9 text\r\n";
    msg = parse_at_guard(no_type, sizeof no_type - 1);
    mime_body_text(msg, &out);
    expect_strbuf("body text", "no Content-Type", &out, "plain \xe9 text\r\n");
    strbuf_free(&out);
    mime_free(msg);
}

struct date_case {
    const char *date; /* NULL: no Date field */
    bool valid;
    int64_t epoch;
    int offset; /* minutes east of UTC */
};

static const struct date_case date_cases[] = {
    {"Mon, 7 Feb 1994 21:52:25 -0800 (PST)", true, 760686745, -480},
    {"2 Jan 2000 00:00 GMT", true, 946771200, 0},
    {"Tue, 1 Jul 2003 10:52:37 +0200", true, 1057049557, 120},
    /* RFC 5322 obsolete forms: two-digit years, comments, named zones, a missing comma */
    {"Fri, 21 Nov 97 09:55:06 -0600", true, 880127706, -360},
    {"Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               "
     "-0330 (Newfoundland Time)",
     true, -27723480, -210},
    {"Thu 1 Jan 2004 00:00:00 EST", true, 1072933200, -300},
    {"1-Jan-2004 00:00:00 EST", true, 1072933200, -300},
    {"(comment) Sun, 01 Jan 50 00:00:00 +0000", true, -631152000, 0},
    {"31 Dec 49 23:59:59 UT", true, 2524607999, 0},
    {"1 Jan 2004 05:00:00", true, 1072933200, 0},     /* no zone: +0000 */
    {"1 Jan 2004 05:00:00 Z", true, 1072933200, 0},   /* military */
    {"1 Jan 2004 05:00:00 XYZ", true, 1072933200, 0}, /* unknown name */
    {"1 january 2004 05:00:00 +0000", true, 1072933200, 0},
    {"yesterday", false, 0, 0},
    {"32 Jan 2000 00:00 GMT", false, 0, 0},
    {"1 Foo 2000 00:00 GMT", false, 0, 0},
    {"1 Jan 2000 24:00 GMT", false, 0, 0},
    {"1 Jan 2000", false, 0, 0},
    {"", false, 0, 0},
    {NULL, false, 0, 0},
};

static void test_date(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(date_cases); i++) {
        const struct date_case *c = &date_cases[i];
        char message[512];
        int n = c->date ? snprintf(message, sizeof message, "Date: %s\r\n\r\nx", c->date)
                        : snprintf(message, sizeof message, "Subject: x\r\n\r\nx");
        struct mime_message *msg = parse_at_guard(message, (size_t)n);
        int64_t epoch = 12345, zoned_epoch = 12345;
        int offset = 12345;
        bool valid = mime_date(msg, &epoch);
        if (valid != c->valid || (valid && epoch != c->epoch))
            fail_msg("Date \"%s\": got %s %lld, want %s %lld", c->date ? c->date : "(none)",
                     valid ? "valid" : "invalid", (long long)epoch,
                     c->valid ? "valid" : "invalid", (long long)c->epoch);
        assert_int_equal(mime_date_zone(msg, &zoned_epoch, &offset), valid);
        if (valid) {
            assert_int_equal(zoned_epoch, epoch);
            assert_int_equal(offset, c->offset);
        }
        mime_free(msg);
    }
}

static void test_charset(void **state)
{
    (void)state;
    static const struct {
        const char *charset, *in, *want;
        bool known;
    } cases[] = {
        {"UTF-8", "caf\xc3\xa9", "caf\xc3\xa9", true},
        {"us-ascii", "plain", "plain", true},
        {"ISO-8859-1", "\xe9\x80\xff", "\xc3\xa9\xe2\x82\xac\xc3\xbf", true},
        {"latin1", "\xa0", "\xc2\xa0", true},
        {"Windows-1252", "\x81\x8d\x9f", "\xc2\x81\xc2\x8d\xc5\xb8", true},
        {"cp1252", "\x99", "\xe2\x84\xa2", true},
        {"koi8-r", "\xf0\xd2", "\xf0\xd2", false},
        {"", "x", "x", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct strbuf out = {0};
        bool known = mime_charset_to_utf8(cases[i].charset, strlen(cases[i].charset),
                                          (const uint8_t *)cases[i].in, strlen(cases[i].in),
                                          &out);
        assert_int_equal(known, cases[i].known);
        expect_strbuf("charset", cases[i].charset, &out, cases[i].want);
        strbuf_free(&out);
    }
}

/* ---- Limits and robustness ---- */

static void append_repeated(struct strbuf *sb, const char *text, size_t times)
{
    for (size_t i = 0; i < times; i++)
        strbuf_append_str(sb, text);
}

/* A plain loop: ASan's memmem checks the whole rest of the haystack on every call. */
static size_t count_occurrences(const struct strbuf *sb, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (size_t i = 0; i + len <= sb->len; i++) {
        if (sb->data[i] == needle[0] && memcmp(sb->data + i, needle, len) == 0) {
            n++;
            i += len - 1;
        }
    }
    return n;
}

static bool section_exists(const struct mime_message *msg, size_t ones, uint32_t last)
{
    uint32_t parts[64];
    for (size_t i = 0; i < ones; i++)
        parts[i] = 1;
    parts[ones] = last;
    const uint8_t *ptr;
    size_t len;
    return mime_section(msg, parts, ones + 1, MIME_SECTION_ALL, &ptr, &len);
}

/* Multiparts nested 40 deep: the first MIME_MAX_DEPTH levels are parsed; the next one is
 * shown with one empty part and its bytes stay in its body. */
static void test_depth_limit(void **state)
{
    (void)state;
    struct strbuf message = {0};
    for (int level = 0; level < 40; level++) /* "b1." is no prefix of "b10." */
        strbuf_printf(&message, "Content-Type: multipart/mixed; boundary=b%d.\r\n\r\n--b%d.\r\n",
                      level, level);
    strbuf_append_str(&message, "\r\ninnermost\r\n");
    struct mime_message *msg = mime_parse((const uint8_t *)message.data, message.len);
    assert_non_null(msg);
    struct strbuf out = {0};
    mime_write_bodystructure(msg, true, &out);
    expect_well_formed(&out, "deep BODYSTRUCTURE");
    assert_int_equal(count_occurrences(&out, "\"mixed\""), MIME_MAX_DEPTH + 1);
    assert_int_equal(count_occurrences(&out, "(\"text\" \"plain\""), 1);
    assert_true(section_exists(msg, MIME_MAX_DEPTH - 1, 1)); /* the unparsed multipart */
    assert_true(section_exists(msg, MIME_MAX_DEPTH, 1));     /* its empty part */
    assert_false(section_exists(msg, MIME_MAX_DEPTH + 1, 1));
    strbuf_free(&out);
    mime_free(msg);
    strbuf_free(&message);

    /* message/rfc822 nested 40 deep: same limit, the last one has an all-NIL envelope */
    for (int level = 0; level < 40; level++)
        strbuf_printf(&message, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", level);
    strbuf_append_str(&message, "Subject: innermost\r\n\r\nbody\r\n");
    msg = mime_parse((const uint8_t *)message.data, message.len);
    mime_write_bodystructure(msg, false, &out);
    expect_well_formed(&out, "deep message/rfc822");
    assert_int_equal(count_occurrences(&out, "\"rfc822\""), MIME_MAX_DEPTH + 1);
    assert_int_equal(count_occurrences(&out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"), 1);
    strbuf_free(&out);
    mime_free(msg);
    strbuf_free(&message);
}

/* 3000 parts: MIME_MAX_PARTS nodes exist (the message and 1023 parts); the rest stay in the
 * multipart's body, and its close delimiter is still found. */
static void test_part_limit(void **state)
{
    (void)state;
    struct strbuf message = {0};
    strbuf_append_str(&message, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    append_repeated(&message, "--p\r\n\r\nx\r\n", 3000);
    strbuf_append_str(&message, "--p--\r\nepilogue\r\n");
    struct mime_message *msg = mime_parse((const uint8_t *)message.data, message.len);
    struct strbuf out = {0};
    mime_write_bodystructure(msg, true, &out);
    expect_well_formed(&out, "many parts");
    assert_int_equal(count_occurrences(&out, "(\"text\" \"plain\""), MIME_MAX_PARTS - 1);
    assert_true(section_exists(msg, 0, MIME_MAX_PARTS - 1));
    assert_false(section_exists(msg, 0, MIME_MAX_PARTS));
    const uint8_t *ptr;
    size_t len;
    assert_true(mime_section(msg, (const uint32_t[]){MIME_MAX_PARTS - 1}, 1, MIME_SECTION_ALL,
                             &ptr, &len));
    expect_same_bytes("last part", "many parts", ptr, len, "x", 1);
    strbuf_free(&out);
    mime_free(msg);
    strbuf_free(&message);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* 20 MB messages of the shapes that would expose quadratic work: a million delimiters, a
 * million lines that start like one of 33 nested boundaries, a million addresses, a million
 * encoded-words. They must simply finish (the suite's timeout is the bound; timings are
 * printed, not asserted). */
static void test_large_messages(void **state)
{
    (void)state;
    static const char *const shapes[] = {"delimiters", "near-boundaries", "addresses",
                                         "encoded-words"};
    for (size_t shape = 0; shape < ARRAY_LEN(shapes); shape++) {
        struct strbuf message = {0};
        if (shape == 0) {
            strbuf_append_str(&message, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
            append_repeated(&message, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n", 600000);
        } else if (shape == 1) {
            for (int level = 0; level < 33; level++)
                strbuf_printf(&message, "Content-Type: multipart/mixed; boundary=%d\r\n\r\n"
                                        "--%d\r\n", level, level);
            append_repeated(&message, "--1x\r\n--2x\r\n--32x\r\n", 1100000);
        } else if (shape == 2) {
            strbuf_append_str(&message, "To: ");
            append_repeated(&message, "a@b, ", 4000000);
            strbuf_append_str(&message, "\r\n\r\n");
        } else {
            strbuf_append_str(&message, "Subject: ");
            append_repeated(&message, "=?utf-8?q?a?= ", 1500000);
            strbuf_append_str(&message, "\r\n\r\n");
        }
        assert_false(message.failed);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        struct mime_message *msg = mime_parse((const uint8_t *)message.data, message.len);
        struct strbuf out = {0};
        mime_write_envelope(msg, &out);
        mime_write_bodystructure(msg, true, &out);
        mime_header_value(msg, "Subject", &out);
        mime_body_text(msg, &out);
        assert_false(out.failed);
        print_message("# %s: %zu bytes in %.2f s\n", shapes[shape], message.len,
                      seconds_since(&start));
        if (shape == 2)
            assert_true(count_occurrences(&out, "(NIL NIL \"a\" \"b\")") == 4000000);
        strbuf_free(&out);
        mime_free(msg);
        strbuf_free(&message);
    }
}

/* A 1 MB header line, NUL bytes everywhere, a message of only line breaks. */
static void test_odd_bytes(void **state)
{
    (void)state;
    struct strbuf message = {0};
    strbuf_append_str(&message, "Subject: ");
    append_repeated(&message, "x", 1 << 20);
    strbuf_append_str(&message, "\r\n\r\nbody");
    struct mime_message *msg = mime_parse((const uint8_t *)message.data, message.len);
    struct strbuf out = {0};
    mime_write_envelope(msg, &out);
    assert_int_equal(out.len, (1u << 20) + strlen("(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)"));
    strbuf_free(&out);
    mime_free(msg);
    strbuf_free(&message);

    /* NUL separates like a blank outside quotes; inside them it is kept and shown as U+FFFD */
    static const char nuls[] = "Content-Type: multipart/mixed; bound\0ary=a; boundary=\"a\0b\"\r\n"
                               "\r\n--a\0b\r\nSubject\0: x\r\n\r\n\0\0\r\n--a\0b--\r\n";
    msg = parse_at_guard(nuls, sizeof nuls - 1);
    mime_write_bodystructure(msg, true, &out);
    expect_strbuf("BODYSTRUCTURE", "NUL bytes", &out,
                  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0 NIL NIL "
                  "NIL NIL) \"mixed\" (\"ary\" \"a\" \"boundary\" {5}\r\n"
                  "a\xef\xbf\xbd" "b) NIL NIL NIL)");
    strbuf_free(&out);
    mime_free(msg);

    static const char breaks[] = "\n\n\r\n\r\r\n\n";
    msg = parse_at_guard(breaks, sizeof breaks - 1);
    mime_write_bodystructure(msg, false, &out);
    expect_strbuf("BODY", "line breaks", &out,
                  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 4)");
    strbuf_free(&out);
    mime_free(msg);

    msg = mime_parse(NULL, 0);
    assert_non_null(msg);
    mime_write_envelope(msg, &out);
    expect_strbuf("ENVELOPE", "NULL", &out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    strbuf_free(&out);
    mime_free(msg);
}

/* Every prefix of every table message (truncated mail is common) parsed at the guard page,
 * through every writer and helper, with well-formed output. */
static void test_every_prefix(void **state)
{
    (void)state;
    static const char *const names[] = {"Subject", "Content-Type"};
    for (size_t i = 0; i < ARRAY_LEN(structure_cases); i++) {
        const struct structure_case *c = &structure_cases[i];
        for (size_t len = 0; len <= c->len; len++) {
            struct mime_message *msg = parse_at_guard(c->data, len);
            struct strbuf out = {0};
            mime_write_envelope(msg, &out);
            expect_well_formed(&out, c->name);
            strbuf_reset(&out);
            mime_write_bodystructure(msg, true, &out);
            expect_well_formed(&out, c->name);
            strbuf_reset(&out);
            mime_write_bodystructure(msg, false, &out);
            expect_well_formed(&out, c->name);
            for (uint32_t a = 0; a <= 3; a++) {
                for (uint32_t b = 0; b <= 3; b++) {
                    for (int kind = MIME_SECTION_ALL; kind <= MIME_SECTION_MIME; kind++) {
                        const uint8_t *ptr;
                        size_t n;
                        if (mime_section(msg, (const uint32_t[]){a, b}, b ? 2 : 1, kind, &ptr,
                                         &n))
                            assert_true(ptr >= guard_end(&guard) - len &&
                                        ptr + n <= guard_end(&guard));
                    }
                }
            }
            const uint8_t *header;
            size_t header_len;
            assert_true(mime_section(msg, NULL, 0, MIME_SECTION_HEADER, &header, &header_len));
            mime_header_fields(header, header_len, names, 2, len % 2, &out);
            mime_header_value(msg, "subject", &out);
            mime_body_text(msg, &out);
            int64_t epoch;
            mime_date(msg, &epoch);
            strbuf_free(&out);
            mime_free(msg);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_table),
        cmocka_unit_test(test_section_table),
        cmocka_unit_test(test_top_level_split),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_header_value),
        cmocka_unit_test(test_body_text),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_charset),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_part_limit),
        cmocka_unit_test(test_large_messages),
        cmocka_unit_test(test_odd_bytes),
        cmocka_unit_test(test_every_prefix),
    };
    return cmocka_run_group_tests_name("mime", tests, setup, teardown);
}
