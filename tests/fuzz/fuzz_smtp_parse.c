/*
 * Fuzzes the SMTP syntax layer (src/smtp/smtp_parse.c). Every input line goes through every
 * parser; the whole input also goes through the DATA decoder. Properties (violations trap):
 *  - command lines: the verb is 1-16 letters at the start, the argument lies inside the line,
 *    and an accepted line has no control bytes;
 *  - MAIL/RCPT: an accepted address lies inside the input, respects the 64/255/254 limits,
 *    is local "@" domain, and parses again to itself when written as "<address>";
 *  - base64: what decodes, re-encodes to text that decodes to the same bytes;
 *  - AUTH PLAIN: the three parts lie inside the message and contain no NUL;
 *  - DATA: the result does not depend on how the input is split across reads (two splits
 *    steered by the input), output never exceeds input + 1 per call, and a decoded message
 *    without bare CR/LF, dot-stuffed again and terminated, decodes back to itself.
 * Every parse runs on an exact-size heap copy, so ASan sees any read past the given length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_parse.h"
#include "fuzz_util.h"

static bool inside(const struct smtp_slice *s, const char *base, size_t len)
{
    return s->ptr >= base && s->len <= len && s->ptr + s->len <= base + len;
}

static void check_command(const char *line, size_t len)
{
    struct smtp_command_line cmd;
    if (smtp_parse_command(line, len, &cmd) != SMTP_PARSE_OK)
        return;
    CHECK(cmd.verb.ptr == line && cmd.verb.len >= 1 && cmd.verb.len <= SMTP_VERB_MAX);
    CHECK(inside(&cmd.arg, line, len));
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)line[i] >= 0x20 && line[i] != 0x7F);
}

static void check_path(const struct smtp_path *p, const char *base, size_t len)
{
    CHECK(inside(&p->address, base, len));
    if (p->null_path || p->postmaster)
        return;
    CHECK(p->address.len <= SMTP_ADDRESS_MAX && p->local.len <= SMTP_LOCAL_PART_MAX);
    CHECK(p->domain.len <= SMTP_DOMAIN_MAX && p->local.len > 0 && p->domain.len > 0);
    CHECK(p->local.ptr == p->address.ptr && p->local.ptr[p->local.len] == '@');
    CHECK(p->domain.ptr == p->local.ptr + p->local.len + 1);
    CHECK(p->address.len == p->local.len + 1 + p->domain.len);
}

/* "<address>" parses back to the same address and flags. */
static void check_reparse(const struct smtp_path *p, bool rcpt)
{
    char text[SMTP_ADDRESS_MAX + 8];
    size_t n = (size_t)(rcpt ? 3 : 5);
    memcpy(text, rcpt ? "TO:" : "FROM:", n);
    text[n++] = '<';
    memcpy(text + n, p->address.ptr, p->address.len);
    n += p->address.len;
    text[n++] = '>';
    char *copy = exact_copy(text, n);
    struct smtp_path again;
    struct smtp_mail_args mail;
    enum smtp_parse_status st;
    if (rcpt) {
        st = smtp_parse_rcpt(copy, n, &again);
    } else {
        st = smtp_parse_mail(copy, n, &mail);
        again = mail.path;
    }
    CHECK(st == SMTP_PARSE_OK);
    CHECK(again.address.len == p->address.len);
    CHECK(memcmp(again.address.ptr, p->address.ptr, p->address.len) == 0);
    CHECK(again.utf8 == p->utf8 && again.null_path == p->null_path);
    free(copy);
}

static void check_paths(const char *line, size_t len)
{
    struct smtp_mail_args mail;
    struct smtp_path rcpt;
    if (smtp_parse_mail(line, len, &mail) == SMTP_PARSE_OK) {
        check_path(&mail.path, line, len);
        check_reparse(&mail.path, false);
    }
    if (smtp_parse_rcpt(line, len, &rcpt) == SMTP_PARSE_OK) {
        check_path(&rcpt, line, len);
        check_reparse(&rcpt, true);
    }
    uint64_t size;
    bool last;
    smtp_parse_bdat(line, len, &size, &last);
    smtp_parse_helo_name(line, len);
}

static void check_auth(const char *line, size_t len)
{
    uint8_t decoded[SMTP_AUTH_DECODED_MAX], again[SMTP_AUTH_DECODED_MAX];
    char text[4 * (SMTP_AUTH_DECODED_MAX / 3 + 1) + 1];
    size_t n = 0, m = 0;
    if (smtp_base64_decode(line, len, decoded, sizeof decoded, &n) != SMTP_PARSE_OK)
        return;
    CHECK(n <= len);
    size_t tlen = smtp_base64_encode(decoded, n, text, sizeof text);
    if (n > 0) {
        char *copy = exact_copy(text, tlen);
        CHECK(smtp_base64_decode(copy, tlen, again, sizeof again, &m) == SMTP_PARSE_OK);
        CHECK(m == n && memcmp(again, decoded, n) == 0);
        free(copy);
    }
    uint8_t *msg = (uint8_t *)exact_copy(decoded, n);
    struct smtp_plain plain;
    if (smtp_parse_plain(msg, n, &plain) == SMTP_PARSE_OK) {
        const struct smtp_slice *parts[] = {&plain.authzid, &plain.authcid, &plain.password};
        for (size_t i = 0; i < 3; i++) {
            CHECK(inside(parts[i], (const char *)msg, n));
            CHECK(memchr(parts[i]->ptr, '\0', parts[i]->len) == NULL);
        }
        CHECK(plain.authcid.len > 0 && plain.password.len <= SMTP_PASSWORD_MAX);
    }
    free(msg);
}

struct decoded {
    uint8_t *out;
    size_t out_len, consumed;
    bool done;
    struct smtp_dot_decoder dec;
};

/* Decodes in pieces that break at a and b (0: no break there). Caller frees r->out. */
static void decode_split(const uint8_t *data, size_t size, size_t a, size_t b, struct decoded *r)
{
    r->out = malloc(size + 8);
    CHECK(r->out != NULL);
    r->out_len = r->consumed = 0;
    r->done = false;
    smtp_dot_init(&r->dec);
    size_t cuts[3] = {a < b ? a : b, a < b ? b : a, size};
    size_t pos = 0;
    for (size_t i = 0; i < 3 && !r->done; i++) {
        if (cuts[i] <= pos || cuts[i] > size)
            continue;
        size_t n = cuts[i] - pos;
        uint8_t *piece = (uint8_t *)exact_copy(data + pos, n);
        uint8_t *tmp = malloc(n + 1);
        CHECK(tmp != NULL);
        size_t produced = 0;
        size_t used = smtp_dot_decode(&r->dec, piece, n, tmp, &produced, &r->done);
        CHECK(used <= n && produced <= n + 1 && (used == n || r->done));
        memcpy(r->out + r->out_len, tmp, produced);
        r->out_len += produced;
        pos += used;
        free(piece);
        free(tmp);
    }
    r->consumed = pos;
}

/* Dot-stuffs text (lines starting with '.' get another) and appends ".\r\n". */
static uint8_t *stuff(const uint8_t *text, size_t len, size_t *out_len)
{
    uint8_t *out = malloc(2 * len + 3);
    CHECK(out != NULL);
    size_t o = 0;
    bool line_start = true;
    for (size_t i = 0; i < len; i++) {
        if (line_start && text[i] == '.')
            out[o++] = '.';
        out[o++] = text[i];
        line_start = text[i] == '\n';
    }
    memcpy(out + o, ".\r\n", 3);
    *out_len = o + 3;
    return out;
}

static void check_data(const uint8_t *data, size_t size)
{
    struct decoded whole, split;
    size_t a = size ? data[0] % (size + 1) : 0;
    size_t b = size > 1 ? (size_t)data[1] * 7 % (size + 1) : 0;
    decode_split(data, size, 0, 0, &whole);
    decode_split(data, size, a, b, &split);
    CHECK(whole.done == split.done && whole.consumed == split.consumed);
    CHECK(whole.out_len == split.out_len && memcmp(whole.out, split.out, whole.out_len) == 0);
    if (whole.done) {
        CHECK(whole.dec.long_line == split.dec.long_line);
        CHECK(whole.dec.bare_newline == split.dec.bare_newline);
    }
    bool clean_end = whole.out_len == 0 ||
                     (whole.out_len >= 2 && whole.out[whole.out_len - 1] == '\n');
    if (whole.done && !whole.dec.bare_newline && clean_end) {
        size_t slen;
        uint8_t *stuffed = stuff(whole.out, whole.out_len, &slen);
        struct decoded back;
        decode_split(stuffed, slen, 0, 0, &back);
        CHECK(back.done && back.consumed == slen && back.out_len == whole.out_len);
        CHECK(memcmp(back.out, whole.out, whole.out_len) == 0);
        free(back.out);
        free(stuffed);
    }
    free(whole.out);
    free(split.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
        size_t len = lf ? (size_t)(lf - p) : (size_t)(end - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        char *line = exact_copy(p, len);
        check_command(line, len);
        struct smtp_command_line cmd;
        if (smtp_parse_command(line, len, &cmd) == SMTP_PARSE_OK && cmd.arg.len > 0) {
            char *arg = exact_copy(cmd.arg.ptr, cmd.arg.len);
            check_paths(arg, cmd.arg.len);
            free(arg);
        }
        check_paths(line, len);
        check_auth(line, len);
        free(line);
        p = lf ? lf + 1 : end;
    }
    check_data(data, size);
    return 0;
}
