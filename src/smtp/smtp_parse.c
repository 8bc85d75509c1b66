/*
 * SMTP syntax: every function here is pure (see smtp_parse.h). The grammar is RFC 5321 4.1.2
 * with RFC 6531's UTF-8 additions; where real clients deviate harmlessly (a space after
 * "FROM:", trailing spaces, a source route) the parser tolerates it, and it says so.
 */
#include "smtp/smtp_parse.h"

#include <string.h>
#include <strings.h>

#include "postern/proxy.h"
#include "util/json.h"
#include "util/base64.h"

const char *smtp_parse_status_text(enum smtp_parse_status status)
{
    static const char *const texts[] = {
        [SMTP_PARSE_OK] = "ok",
        [SMTP_PARSE_EMPTY] = "empty command",
        [SMTP_PARSE_BAD_VERB] = "malformed command word",
        [SMTP_PARSE_CONTROL_CHAR] = "control character in command",
        [SMTP_PARSE_SYNTAX] = "syntax error in arguments",
        [SMTP_PARSE_PATH_SYNTAX] = "malformed address",
        [SMTP_PARSE_NULL_PATH] = "empty address not allowed here",
        [SMTP_PARSE_LOCAL_TOO_LONG] = "local part longer than 64 octets",
        [SMTP_PARSE_DOMAIN_TOO_LONG] = "domain or domain label too long",
        [SMTP_PARSE_ADDRESS_TOO_LONG] = "address longer than 254 octets",
        [SMTP_PARSE_BAD_DOMAIN] = "malformed domain",
        [SMTP_PARSE_BAD_UTF8] = "invalid UTF-8",
        [SMTP_PARSE_PARAM_SYNTAX] = "malformed parameter",
        [SMTP_PARSE_PARAM_UNKNOWN] = "unsupported parameter",
        [SMTP_PARSE_PARAM_DUPLICATE] = "duplicate parameter",
        [SMTP_PARSE_PARAM_VALUE] = "invalid parameter value",
        [SMTP_PARSE_BASE64] = "invalid base64",
        [SMTP_PARSE_TOO_LONG] = "too long",
        [SMTP_PARSE_AUTH_FORMAT] = "malformed credentials",
    };
    if ((size_t)status < sizeof texts / sizeof texts[0] && texts[status])
        return texts[status];
    return "error";
}

/* ---- character classes ---- */

static bool is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

/* RFC 5322 atext. */
static bool is_atext(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Length of a valid UTF-8 sequence of two or more bytes at p, or 0. */
static size_t utf8_non_ascii(const char *p, size_t avail)
{
    if ((unsigned char)p[0] < 0x80)
        return 0;
    return utf8_sequence_length((const uint8_t *)p, avail);
}

static bool slice_equals(const char *p, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len == n && strncasecmp(p, word, n) == 0;
}

/* ---- command lines ---- */

enum smtp_parse_status smtp_parse_command(const char *line, size_t len,
                                          struct smtp_command_line *out)
{
    for (size_t i = 0; i < len; i++) {
        if (is_control((unsigned char)line[i]))
            return SMTP_PARSE_CONTROL_CHAR;
    }
    while (len > 0 && line[len - 1] == ' ') /* trailing spaces: harmless, and common */
        len--;
    if (len == 0)
        return SMTP_PARSE_EMPTY;
    size_t v = 0;
    while (v < len && is_alpha((unsigned char)line[v]))
        v++;
    if (v == 0 || v > SMTP_VERB_MAX || (v < len && line[v] != ' '))
        return SMTP_PARSE_BAD_VERB;
    out->verb = (struct smtp_slice){line, v};
    size_t a = v;
    while (a < len && line[a] == ' ')
        a++;
    out->arg = (struct smtp_slice){line + a, len - a};
    return SMTP_PARSE_OK;
}

/* ---- domains and address literals ---- */

/* A DNS label: letter/digit, then letters/digits/hyphens, not ending in a hyphen; U-labels
 * (UTF-8) allowed. relaxed adds '_' (HELO names of Windows hosts). Returns its length. */
static size_t scan_label(const char *p, size_t len, bool relaxed, bool *utf8, bool *bad_utf8)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)p[i];
        if (is_alpha(c) || is_digit(c) || (i > 0 && c == '-') || (relaxed && c == '_')) {
            i++;
        } else if (c >= 0x80) {
            size_t n = utf8_non_ascii(p + i, len - i);
            if (n == 0) {
                *bad_utf8 = true;
                return 0;
            }
            *utf8 = true;
            i += n;
        } else {
            break;
        }
    }
    if (i > 0 && p[i - 1] == '-' && !relaxed)
        return 0;
    return i;
}

/* A domain at p; returns its length (0 when there is none) and reports what went wrong. */
static enum smtp_parse_status scan_domain(const char *p, size_t len, bool relaxed,
                                          size_t *used, bool *utf8)
{
    size_t i = 0;
    bool bad_utf8 = false;
    for (;;) {
        size_t n = scan_label(p + i, len - i, relaxed, utf8, &bad_utf8);
        if (bad_utf8)
            return SMTP_PARSE_BAD_UTF8;
        if (n == 0)
            return SMTP_PARSE_BAD_DOMAIN;
        if (n > SMTP_LABEL_MAX)
            return SMTP_PARSE_DOMAIN_TOO_LONG;
        i += n;
        if (i < len && p[i] == '.' && i + 1 < len && p[i + 1] != '.') {
            i++;
            continue;
        }
        break;
    }
    if (i > SMTP_DOMAIN_MAX)
        return SMTP_PARSE_DOMAIN_TOO_LONG;
    *used = i;
    return SMTP_PARSE_OK;
}

static bool literal_ip(const char *p, size_t len, bool v6)
{
    struct proxy_ip ip;
    if (!proxy_ip_parse(p, len, &ip))
        return false;
    return v6 ? ip.family == PROXY_FAM_INET6 : ip.family == PROXY_FAM_INET;
}

/* "[" content "]" per RFC 5321 4.1.3; *used includes both brackets. */
static enum smtp_parse_status scan_literal(const char *p, size_t len, size_t *used)
{
    const char *end = memchr(p, ']', len);
    if (len == 0 || p[0] != '[' || !end)
        return SMTP_PARSE_BAD_DOMAIN;
    const char *in = p + 1;
    size_t n = (size_t)(end - in);
    *used = n + 2;
    if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0)
        return literal_ip(in + 5, n - 5, true) ? SMTP_PARSE_OK : SMTP_PARSE_BAD_DOMAIN;
    if (n > 0 && is_digit((unsigned char)in[0]))
        return literal_ip(in, n, false) ? SMTP_PARSE_OK : SMTP_PARSE_BAD_DOMAIN;
    /* General-address-literal: Ldh-str ":" 1*dcontent. */
    const char *colon = memchr(in, ':', n);
    if (!colon || colon == in || colon[-1] == '-' || colon + 1 == end)
        return SMTP_PARSE_BAD_DOMAIN;
    for (const char *c = in; c < colon; c++) {
        if (!is_alpha((unsigned char)*c) && !is_digit((unsigned char)*c) && *c != '-')
            return SMTP_PARSE_BAD_DOMAIN;
    }
    for (const char *c = colon + 1; c < end; c++) {
        unsigned char d = (unsigned char)*c;
        if (d < 33 || d > 126 || d == '[' || d == '\\')
            return SMTP_PARSE_BAD_DOMAIN;
    }
    return SMTP_PARSE_OK;
}

enum smtp_parse_status smtp_parse_helo_name(const char *arg, size_t len)
{
    size_t used = 0;
    bool utf8 = false;
    enum smtp_parse_status st;
    if (len == 0)
        return SMTP_PARSE_SYNTAX;
    if (arg[0] == '[')
        st = scan_literal(arg, len, &used);
    else
        st = scan_domain(arg, len, true, &used, &utf8);
    if (st != SMTP_PARSE_OK)
        return st;
    if (used < len && arg[used] == '.' && used + 1 == len && arg[0] != '[')
        used++; /* a fully qualified "host.example." */
    if (utf8)
        return SMTP_PARSE_BAD_DOMAIN; /* the name goes into headers: ASCII (A-labels) only */
    return used == len ? SMTP_PARSE_OK : SMTP_PARSE_BAD_DOMAIN;
}

/* ---- local parts ---- */

static enum smtp_parse_status scan_dot_string(const char *p, size_t len, size_t *used,
                                              bool *utf8)
{
    size_t i = 0;
    bool need_atom = true;
    while (i < len) {
        unsigned char c = (unsigned char)p[i];
        if (is_atext(c)) {
            i++;
            need_atom = false;
        } else if (c >= 0x80) {
            size_t n = utf8_non_ascii(p + i, len - i);
            if (n == 0)
                return SMTP_PARSE_BAD_UTF8;
            *utf8 = true;
            i += n;
            need_atom = false;
        } else if (c == '.' && !need_atom) {
            i++;
            need_atom = true;
        } else {
            break;
        }
    }
    if (need_atom)
        return SMTP_PARSE_PATH_SYNTAX; /* empty, leading, trailing or double dot */
    *used = i;
    return SMTP_PARSE_OK;
}

static enum smtp_parse_status scan_quoted_string(const char *p, size_t len, size_t *used,
                                                 bool *utf8)
{
    size_t i = 1; /* the opening quote */
    while (i < len && p[i] != '"') {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') {
            if (i + 1 >= len || p[i + 1] < 32 || p[i + 1] > 126)
                return SMTP_PARSE_PATH_SYNTAX;
            i += 2;
        } else if (c >= 32 && c <= 126) {
            i++;
        } else if (c >= 0x80) {
            size_t n = utf8_non_ascii(p + i, len - i);
            if (n == 0)
                return SMTP_PARSE_BAD_UTF8;
            *utf8 = true;
            i += n;
        } else {
            return SMTP_PARSE_PATH_SYNTAX;
        }
    }
    if (i >= len)
        return SMTP_PARSE_PATH_SYNTAX;
    *used = i + 1;
    return SMTP_PARSE_OK;
}

/* ---- paths ---- */

/* Skips "@a,@b:" (RFC 5321 C: a source route, accepted and ignored). */
static enum smtp_parse_status skip_source_route(const char *p, size_t len, size_t *used)
{
    size_t i = 0;
    if (len == 0 || p[0] != '@')
        return (*used = 0), SMTP_PARSE_OK;
    for (;;) {
        size_t n = 0;
        bool utf8 = false;
        if (i >= len || p[i] != '@')
            return SMTP_PARSE_PATH_SYNTAX;
        enum smtp_parse_status st = scan_domain(p + i + 1, len - i - 1, false, &n, &utf8);
        if (st != SMTP_PARSE_OK)
            return st;
        i += 1 + n;
        if (i < len && p[i] == ',') {
            i++;
            continue;
        }
        if (i < len && p[i] == ':')
            return (*used = i + 1), SMTP_PARSE_OK;
        return SMTP_PARSE_PATH_SYNTAX;
    }
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), at p, up to len bytes. */
static enum smtp_parse_status scan_mailbox(const char *p, size_t len, struct smtp_path *out,
                                           size_t *used)
{
    size_t local = 0, dom = 0;
    enum smtp_parse_status st;
    out->quoted_local = len > 0 && p[0] == '"';
    if (out->quoted_local)
        st = scan_quoted_string(p, len, &local, &out->utf8);
    else
        st = scan_dot_string(p, len, &local, &out->utf8);
    if (st != SMTP_PARSE_OK)
        return st;
    if (local > SMTP_LOCAL_PART_MAX)
        return SMTP_PARSE_LOCAL_TOO_LONG;
    if (local >= len || p[local] != '@')
        return SMTP_PARSE_PATH_SYNTAX;
    const char *d = p + local + 1;
    size_t avail = len - local - 1;
    out->domain_literal = avail > 0 && d[0] == '[';
    if (out->domain_literal)
        st = scan_literal(d, avail, &dom);
    else
        st = scan_domain(d, avail, false, &dom, &out->utf8);
    if (st != SMTP_PARSE_OK)
        return st;
    out->local = (struct smtp_slice){p, local};
    out->domain = (struct smtp_slice){d, dom};
    out->address = (struct smtp_slice){p, local + 1 + dom};
    if (out->address.len > SMTP_ADDRESS_MAX)
        return SMTP_PARSE_ADDRESS_TOO_LONG;
    *used = local + 1 + dom;
    return SMTP_PARSE_OK;
}

/*
 * "<" [route ":"] mailbox ">" or "<>" (when allow_null), or "<Postmaster>" (when
 * allow_postmaster). *used counts through the ">".
 */
static enum smtp_parse_status scan_path(const char *p, size_t len, bool allow_null,
                                        bool allow_postmaster, struct smtp_path *out,
                                        size_t *used)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || p[0] != '<')
        return SMTP_PARSE_PATH_SYNTAX;
    if (len >= 2 && p[1] == '>') {
        if (!allow_null)
            return SMTP_PARSE_NULL_PATH;
        out->null_path = true;
        out->address = (struct smtp_slice){p + 1, 0};
        *used = 2;
        return SMTP_PARSE_OK;
    }
    if (allow_postmaster && len >= 12 && strncasecmp(p, "<postmaster>", 12) == 0) {
        out->postmaster = true;
        out->address = out->local = (struct smtp_slice){p + 1, 10};
        *used = 12;
        return SMTP_PARSE_OK;
    }
    size_t route = 0, box = 0;
    enum smtp_parse_status st = skip_source_route(p + 1, len - 1, &route);
    if (st != SMTP_PARSE_OK)
        return st;
    st = scan_mailbox(p + 1 + route, len - 1 - route, out, &box);
    if (st != SMTP_PARSE_OK)
        return st;
    size_t close = 1 + route + box;
    if (close >= len || p[close] != '>')
        return SMTP_PARSE_PATH_SYNTAX;
    *used = close + 1;
    return SMTP_PARSE_OK;
}

/* "FROM:" / "TO:" then, tolerated, spaces before the path. Returns the path's offset or 0. */
static size_t skip_keyword(const char *arg, size_t len, const char *keyword)
{
    size_t n = strlen(keyword);
    if (len < n || strncasecmp(arg, keyword, n) != 0)
        return 0;
    while (n < len && arg[n] == ' ')
        n++;
    return n;
}

/* ---- ESMTP parameters ---- */

struct param {
    struct smtp_slice key, value;
    bool has_value;
};

/* esmtp-keyword ["=" esmtp-value]; the value may hold UTF-8 (RFC 6531 3.3). */
static enum smtp_parse_status scan_param(const char *p, size_t len, struct param *out,
                                         size_t *used)
{
    size_t i = 0;
    while (i < len && (is_alpha((unsigned char)p[i]) || is_digit((unsigned char)p[i]) ||
                       (i > 0 && p[i] == '-')))
        i++;
    if (i == 0)
        return SMTP_PARSE_PARAM_SYNTAX;
    out->key = (struct smtp_slice){p, i};
    out->has_value = i < len && p[i] == '=';
    if (!out->has_value) {
        *used = i;
        return i == len || p[i] == ' ' ? SMTP_PARSE_OK : SMTP_PARSE_PARAM_SYNTAX;
    }
    size_t v = ++i;
    while (i < len && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        size_t n = c >= 0x80 ? utf8_non_ascii(p + i, len - i) : (c > 32 && c < 127 && c != '=');
        if (n == 0)
            return c >= 0x80 ? SMTP_PARSE_BAD_UTF8 : SMTP_PARSE_PARAM_SYNTAX;
        i += n;
    }
    if (i == v)
        return SMTP_PARSE_PARAM_SYNTAX;
    out->value = (struct smtp_slice){p + v, i - v};
    *used = i;
    return SMTP_PARSE_OK;
}

static enum smtp_parse_status parse_number(const char *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > SMTP_SIZE_DIGITS_MAX)
        return SMTP_PARSE_PARAM_VALUE;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(p[i] - '0');
        if (!is_digit((unsigned char)p[i]) || v > (UINT64_MAX - digit) / 10)
            return SMTP_PARSE_PARAM_VALUE;
        v = v * 10 + digit;
    }
    *out = v;
    return SMTP_PARSE_OK;
}

enum mail_param_kind { PARAM_SIZE, PARAM_BODY, PARAM_SMTPUTF8, PARAM_AUTH, PARAM_KINDS };

static enum smtp_parse_status apply_body(const struct param *p, struct smtp_mail_args *out)
{
    static const struct {
        const char *name;
        enum smtp_body body;
    } bodies[] = {
        {"7BIT", SMTP_BODY_7BIT},
        {"8BITMIME", SMTP_BODY_8BITMIME},
        {"BINARYMIME", SMTP_BODY_BINARYMIME},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        if (slice_equals(p->value.ptr, p->value.len, bodies[i].name)) {
            out->body = bodies[i].body;
            return SMTP_PARSE_OK;
        }
    }
    return SMTP_PARSE_PARAM_VALUE;
}

static enum smtp_parse_status apply_mail_param(const struct param *p, struct smtp_mail_args *out,
                                               unsigned *seen)
{
    static const char *const names[PARAM_KINDS] = {"SIZE", "BODY", "SMTPUTF8", "AUTH"};
    unsigned kind = 0;
    while (kind < PARAM_KINDS && !slice_equals(p->key.ptr, p->key.len, names[kind]))
        kind++;
    if (kind == PARAM_KINDS)
        return SMTP_PARSE_PARAM_UNKNOWN;
    if (*seen & (1u << kind))
        return SMTP_PARSE_PARAM_DUPLICATE;
    *seen |= 1u << kind;
    if (p->has_value == (kind == PARAM_SMTPUTF8))
        return SMTP_PARSE_PARAM_VALUE; /* SMTPUTF8 takes no value, the others need one */
    switch ((enum mail_param_kind)kind) {
    case PARAM_SIZE:
        out->has_size = true;
        return parse_number(p->value.ptr, p->value.len, &out->size);
    case PARAM_BODY:
        return apply_body(p, out);
    case PARAM_SMTPUTF8:
        out->smtputf8 = true;
        return SMTP_PARSE_OK;
    default:
        out->has_auth = true;
        return SMTP_PARSE_OK;
    }
}

/* Parameters after a path: each preceded by at least one space. */
static enum smtp_parse_status parse_params(const char *p, size_t len, struct smtp_mail_args *mail)
{
    unsigned seen = 0;
    size_t i = 0;
    while (i < len) {
        if (p[i] != ' ')
            return SMTP_PARSE_SYNTAX; /* garbage right after the ">" */
        while (i < len && p[i] == ' ')
            i++;
        if (i == len)
            break;
        struct param param = {0};
        size_t used = 0;
        enum smtp_parse_status st = scan_param(p + i, len - i, &param, &used);
        if (st != SMTP_PARSE_OK)
            return st;
        st = mail ? apply_mail_param(&param, mail, &seen) : SMTP_PARSE_PARAM_UNKNOWN;
        if (st != SMTP_PARSE_OK)
            return st;
        i += used;
    }
    return SMTP_PARSE_OK;
}

enum smtp_parse_status smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *out)
{
    memset(out, 0, sizeof *out);
    size_t at = skip_keyword(arg, len, "FROM:");
    if (at == 0)
        return SMTP_PARSE_SYNTAX;
    size_t used = 0;
    enum smtp_parse_status st = scan_path(arg + at, len - at, true, false, &out->path, &used);
    if (st != SMTP_PARSE_OK)
        return st;
    return parse_params(arg + at + used, len - at - used, out);
}

enum smtp_parse_status smtp_parse_rcpt(const char *arg, size_t len, struct smtp_path *out)
{
    memset(out, 0, sizeof *out);
    size_t at = skip_keyword(arg, len, "TO:");
    if (at == 0)
        return SMTP_PARSE_SYNTAX;
    size_t used = 0;
    enum smtp_parse_status st = scan_path(arg + at, len - at, false, true, out, &used);
    if (st != SMTP_PARSE_OK)
        return st;
    return parse_params(arg + at + used, len - at - used, NULL);
}

enum smtp_parse_status smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, bool *last)
{
    size_t digits = 0;
    while (digits < len && is_digit((unsigned char)arg[digits]))
        digits++;
    if (digits == 0 || digits > SMTP_SIZE_DIGITS_MAX || parse_number(arg, digits, size))
        return SMTP_PARSE_SYNTAX;
    size_t i = digits;
    while (i < len && arg[i] == ' ')
        i++;
    if (i == digits && i < len)
        return SMTP_PARSE_SYNTAX; /* "12LAST" */
    *last = i < len;
    if (*last && !slice_equals(arg + i, len - i, "LAST"))
        return SMTP_PARSE_SYNTAX;
    return SMTP_PARSE_OK;
}

/* ---- AUTH payloads ---- */

/* One 4-character group; pad is how many '=' end it (only allowed in the last group). */
static bool decode_group(const char *in, bool last, uint8_t bytes[3], size_t *n)
{
    int v[4];
    size_t pad = 0;
    if (last && in[3] == '=')
        pad = in[2] == '=' ? 2 : 1;
    for (size_t i = 0; i < 4 - pad; i++) {
        v[i] = base64_value((unsigned char)in[i]);
        if (v[i] < 0)
            return false;
    }
    for (size_t i = 4 - pad; i < 4; i++)
        v[i] = 0;
    uint32_t word = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                    (uint32_t)v[3];
    bytes[0] = (uint8_t)(word >> 16);
    bytes[1] = (uint8_t)(word >> 8);
    bytes[2] = (uint8_t)word;
    *n = 3 - pad;
    return true;
}

enum smtp_parse_status smtp_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                          size_t *out_len)
{
    *out_len = 0;
    if (len == 1 && in[0] == '=')
        return SMTP_PARSE_OK; /* RFC 4954 4: an empty initial response */
    if (len == 0 || len % 4 != 0)
        return SMTP_PARSE_BASE64;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint8_t bytes[3];
        size_t n = 0;
        if (!decode_group(in + i, i + 4 == len, bytes, &n))
            return SMTP_PARSE_BASE64;
        if (o + n > cap)
            return SMTP_PARSE_TOO_LONG;
        memcpy(out + o, bytes, n);
        o += n;
    }
    *out_len = o;
    return SMTP_PARSE_OK;
}

size_t smtp_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = (len + 2) / 3 * 4;
    if (cap == 0 || need + 1 > cap) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t word = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            word |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            word |= in[i + 2];
        out[o++] = alphabet[word >> 18 & 63];
        out[o++] = alphabet[word >> 12 & 63];
        out[o++] = i + 1 < len ? alphabet[word >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[word & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

enum smtp_parse_status smtp_parse_plain(const uint8_t *msg, size_t len, struct smtp_plain *out)
{
    const uint8_t *nul1 = memchr(msg, '\0', len);
    if (!nul1)
        return SMTP_PARSE_AUTH_FORMAT;
    size_t rest = len - (size_t)(nul1 - msg) - 1;
    const uint8_t *nul2 = memchr(nul1 + 1, '\0', rest);
    if (!nul2)
        return SMTP_PARSE_AUTH_FORMAT;
    const uint8_t *pw = nul2 + 1;
    size_t pw_len = len - (size_t)(pw - msg);
    if (memchr(pw, '\0', pw_len))
        return SMTP_PARSE_AUTH_FORMAT; /* a third NUL */
    out->authzid = (struct smtp_slice){(const char *)msg, (size_t)(nul1 - msg)};
    out->authcid = (struct smtp_slice){(const char *)nul1 + 1, (size_t)(nul2 - nul1 - 1)};
    out->password = (struct smtp_slice){(const char *)pw, pw_len};
    if (out->authcid.len == 0 || out->password.len == 0)
        return SMTP_PARSE_AUTH_FORMAT;
    if (out->authcid.len > SMTP_ADDRESS_MAX || out->authzid.len > SMTP_ADDRESS_MAX ||
        out->password.len > SMTP_PASSWORD_MAX)
        return SMTP_PARSE_TOO_LONG;
    return SMTP_PARSE_OK;
}

/* ---- DATA transparency ---- */

void smtp_dot_init(struct smtp_dot_decoder *dec)
{
    memset(dec, 0, sizeof *dec);
    dec->phase = SMTP_DOT_LINE_START;
}

/* Counts one octet of the current line (saturating: only "over the limit" matters). */
static void count_octet(struct smtp_dot_decoder *dec)
{
    if (dec->line_len <= SMTP_TEXT_LINE_MAX)
        dec->line_len++;
}

/* A CRLF ended the line that is being counted. */
static void end_line(struct smtp_dot_decoder *dec)
{
    if (dec->line_len > SMTP_TEXT_LINE_MAX)
        dec->long_line = true;
    dec->line_len = 0;
    dec->phase = SMTP_DOT_LINE_START;
}

/* An octet inside a line (not a held CR): output as is. */
static void in_line(struct smtp_dot_decoder *dec, uint8_t c, uint8_t *out, size_t *o)
{
    if (c == '\r') {
        dec->phase = SMTP_DOT_CR; /* held until we know whether LF follows */
        return;
    }
    if (c == '\n')
        dec->bare_newline = true;
    out[(*o)++] = c;
    dec->phase = SMTP_DOT_IN_LINE;
}

size_t smtp_dot_decode(struct smtp_dot_decoder *dec, const uint8_t *in, size_t len,
                       uint8_t *out, size_t *out_len, bool *done)
{
    size_t o = 0;
    *done = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        count_octet(dec);
        switch (dec->phase) {
        case SMTP_DOT_LINE_START:
            if (c == '.')
                dec->phase = SMTP_DOT_DOT; /* dropped: transparency, or the end */
            else
                in_line(dec, c, out, &o);
            break;
        case SMTP_DOT_DOT:
            if (c == '\r')
                dec->phase = SMTP_DOT_DOT_CR;
            else
                in_line(dec, c, out, &o);
            break;
        case SMTP_DOT_DOT_CR:
            if (c == '\n') {
                *done = true;
                *out_len = o;
                return i + 1;
            }
            /* ".\r" then something else: the dot was stuffing, the CR is bare. */
            /* fall through */
        case SMTP_DOT_CR:
            if (c == '\n') {
                out[o++] = '\r';
                out[o++] = '\n';
                end_line(dec);
                break;
            }
            dec->bare_newline = true;
            out[o++] = '\r';
            in_line(dec, c, out, &o);
            break;
        case SMTP_DOT_IN_LINE:
            in_line(dec, c, out, &o);
            break;
        }
    }
    *out_len = o;
    return len;
}
