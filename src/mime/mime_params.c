/*
 * Content-Type and Content-Disposition values: "type/subtype" or a disposition token, then
 * ";"-separated parameters (RFC 2045 5.1, RFC 2183) with RFC 2231 continuations joined:
 * name*0, name*1, ... become one "name" parameter, or "name*" when any section is
 * extended (charset'language'%XX), in which case plain sections are %-encoded so the joined
 * value stays a valid extended value. Extended values are not decoded: IMAP clients receive
 * them as Dovecot sends them ("filename*" "UTF-8''%E2%82%AC.txt").
 *
 * Lenient like real senders need: unquoted values may contain any byte but blanks, ';', '"'
 * and '(' (boundary=----=_Part_1 is common), parameters without '=' or without a name are
 * dropped, comments are skipped anywhere.
 */
#include "mime/mime_internal.h"

#include <stdlib.h>
#include <string.h>

#define TSPECIALS "()<>@,;:\\\"/[]?="
#define MAX_SECTION 999999

struct raw_param {
    const uint8_t *name;
    size_t name_len;
    size_t value_off, value_len; /* into the scratch buffer */
    size_t base_len;             /* name without its RFC 2231 suffix */
    long section;                /* -1: not a continuation */
    bool extended;               /* ends with '*' */
};

struct raw_params {
    struct strbuf values;
    struct raw_param items[MIME_MAX_PARAMS];
    size_t count;
};

void mime_params_init(struct mime_params *params)
{
    params->text = (struct strbuf){0};
    params->count = 0;
}

void mime_params_free(struct mime_params *params)
{
    strbuf_free(&params->text);
    params->count = 0;
}

/* ---- RFC 2231 names: name*, name*N, name*N* ---- */

static void classify_name(struct raw_param *param)
{
    const uint8_t *star = memchr(param->name, '*', param->name_len);
    param->base_len = param->name_len;
    param->section = -1;
    param->extended = false;
    if (!star)
        return;
    size_t base_len = (size_t)(star - param->name);
    size_t i = base_len + 1;
    if (i == param->name_len) { /* name*: one extended value, kept as it is */
        param->extended = true;
        return;
    }
    long section = 0;
    size_t digits_start = i;
    for (; i < param->name_len && param->name[i] >= '0' && param->name[i] <= '9'; i++)
        section = section < MAX_SECTION ? section * 10 + (param->name[i] - '0') : section;
    bool trailing_star = i + 1 == param->name_len && param->name[i] == '*';
    if (i == digits_start || (i != param->name_len && !trailing_star))
        return; /* not RFC 2231: keep the name as written */
    param->base_len = base_len;
    param->section = section;
    param->extended = trailing_star;
}

/* ---- Reading "; name=value" pairs ---- */

static void read_unquoted_value(struct mime_lex *lx, struct strbuf *out)
{
    const uint8_t *start = lx->pos;
    while (lx->pos < lx->end && *lx->pos > ' ' && *lx->pos != 0x7f && *lx->pos != ';' &&
           *lx->pos != '"' && *lx->pos != '(')
        lx->pos++;
    strbuf_append(out, start, (size_t)(lx->pos - start));
}

/* Skips what cannot start a parameter: a stray quoted string or special byte. */
static void skip_junk(struct mime_lex *lx)
{
    if (*lx->pos == '"')
        mime_lex_quoted(lx, NULL);
    else
        lx->pos++;
}

static void read_params(struct mime_lex *lx, struct raw_params *raw)
{
    while (lx->pos < lx->end && raw->count < MIME_MAX_PARAMS) {
        mime_lex_skip_cfws(lx, NULL);
        if (lx->pos >= lx->end)
            break;
        const uint8_t *name = lx->pos;
        size_t name_len = mime_lex_atom(lx, TSPECIALS);
        if (name_len == 0) {
            skip_junk(lx);
            continue;
        }
        mime_lex_skip_cfws(lx, NULL);
        if (!mime_lex_at(lx, '='))
            continue; /* a name without a value */
        lx->pos++;
        mime_lex_skip_cfws(lx, NULL);
        struct raw_param *param = &raw->items[raw->count++];
        param->name = name;
        param->name_len = name_len;
        param->value_off = raw->values.len;
        if (mime_lex_at(lx, '"'))
            mime_lex_quoted(lx, &raw->values);
        else
            read_unquoted_value(lx, &raw->values);
        param->value_len = raw->values.len - param->value_off;
        classify_name(param);
    }
}

/* ---- Joining continuations ---- */

static bool is_attribute_char(uint8_t c)
{
    return c > ' ' && c < 0x7f && c != '*' && c != '\'' && c != '%' && !strchr(TSPECIALS, c);
}

static void append_percent_encoded(struct strbuf *out, const uint8_t *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (is_attribute_char(text[i]))
            strbuf_append(out, &text[i], 1);
        else
            strbuf_printf(out, "%%%02X", text[i]);
    }
}

static bool same_base(const struct raw_param *a, const struct raw_param *b)
{
    if (a->base_len != b->base_len)
        return false;
    for (size_t i = 0; i < a->base_len; i++) {
        if (mime_lower(a->name[i]) != mime_lower(b->name[i]))
            return false;
    }
    return true;
}

/* The sections of raw->items[first]'s name in ascending order, one per number. */
static size_t collect_sections(const struct raw_params *raw, size_t first, size_t *order)
{
    size_t count = 0;
    for (size_t i = first; i < raw->count; i++) {
        const struct raw_param *p = &raw->items[i];
        if (p->section < 0 || !same_base(p, &raw->items[first]))
            continue;
        size_t at = count;
        while (at > 0 && raw->items[order[at - 1]].section > p->section)
            at--;
        if (at > 0 && raw->items[order[at - 1]].section == p->section)
            continue; /* a repeated section: the first one counts */
        memmove(order + at + 1, order + at, (count - at) * sizeof *order);
        order[at] = i;
        count++;
    }
    return count;
}

static bool base_seen_before(const struct raw_params *raw, size_t index)
{
    for (size_t i = 0; i < index; i++) {
        if (raw->items[i].section >= 0 && same_base(&raw->items[i], &raw->items[index]))
            return true;
    }
    return false;
}

static void add_param(struct mime_params *params, const uint8_t *name, size_t name_len,
                      bool star, const uint8_t *value, size_t value_len)
{
    struct mime_param *param = &params->items[params->count++];
    param->name_off = params->text.len;
    param->name_len = name_len + star;
    strbuf_append(&params->text, name, name_len);
    strbuf_append(&params->text, "*", star);
    strbuf_append(&params->text, "", 1);
    param->value_off = params->text.len;
    param->value_len = value_len;
    strbuf_append(&params->text, value, value_len);
    strbuf_append(&params->text, "", 1);
}

static void join_sections(const struct raw_params *raw, size_t first,
                          struct mime_params *params)
{
    size_t order[MIME_MAX_PARAMS];
    size_t count = collect_sections(raw, first, order);
    bool extended = false;
    for (size_t i = 0; i < count; i++)
        extended |= raw->items[order[i]].extended;
    struct strbuf value = {0};
    for (size_t i = 0; i < count; i++) {
        const struct raw_param *p = &raw->items[order[i]];
        const uint8_t *text = (const uint8_t *)raw->values.data + p->value_off;
        if (!extended || p->extended) {
            strbuf_append(&value, text, p->value_len);
        } else {
            if (i == 0) /* no charset'language' given */
                strbuf_append_str(&value, "''");
            append_percent_encoded(&value, text, p->value_len);
        }
    }
    add_param(params, raw->items[first].name, raw->items[first].base_len, extended,
              (const uint8_t *)value.data, value.len);
    strbuf_free(&value);
}

static void join_params(const struct raw_params *raw, struct mime_params *params)
{
    for (size_t i = 0; i < raw->count; i++) {
        const struct raw_param *p = &raw->items[i];
        if (p->section < 0)
            add_param(params, p->name, p->name_len, false,
                      (const uint8_t *)raw->values.data + p->value_off, p->value_len);
        else if (!base_seen_before(raw, i))
            join_sections(raw, i, params);
    }
    if (params->text.failed)
        params->count = 0;
}

static void parse_params(struct mime_lex *lx, struct mime_params *params)
{
    struct raw_params *raw = calloc(1, sizeof *raw);
    if (!raw)
        return;
    read_params(lx, raw);
    if (!raw->values.failed)
        join_params(raw, params);
    strbuf_free(&raw->values);
    free(raw);
}

/* ---- The two fields ---- */

/* Moves to the next ';': what sits before it is not a parameter. */
static void skip_to_params(struct mime_lex *lx)
{
    while (lx->pos < lx->end && *lx->pos != ';') {
        mime_lex_skip_cfws(lx, NULL);
        if (lx->pos < lx->end && *lx->pos != ';')
            skip_junk(lx);
    }
}

bool mime_parse_content_type(const uint8_t *value, size_t len, const uint8_t **type,
                             size_t *type_len, const uint8_t **subtype, size_t *subtype_len,
                             struct mime_params *params)
{
    struct mime_lex lx = {value, value + len};
    mime_lex_skip_cfws(&lx, NULL);
    *type = lx.pos;
    *type_len = mime_lex_atom(&lx, TSPECIALS);
    mime_lex_skip_cfws(&lx, NULL);
    *subtype = lx.pos;
    *subtype_len = 0;
    if (mime_lex_at(&lx, '/')) {
        lx.pos++;
        mime_lex_skip_cfws(&lx, NULL);
        *subtype = lx.pos;
        *subtype_len = mime_lex_atom(&lx, TSPECIALS);
    }
    if (*type_len == 0 || *subtype_len == 0)
        return false;
    if (params) {
        skip_to_params(&lx);
        parse_params(&lx, params);
    }
    return true;
}

void mime_parse_disposition(const uint8_t *value, size_t len, const uint8_t **token,
                            size_t *token_len, struct mime_params *params)
{
    struct mime_lex lx = {value, value + len};
    mime_lex_skip_cfws(&lx, NULL);
    *token = lx.pos;
    *token_len = mime_lex_atom(&lx, TSPECIALS);
    skip_to_params(&lx);
    parse_params(&lx, params);
}

const struct mime_param *mime_params_find(const struct mime_params *params, const char *name)
{
    for (size_t i = 0; i < params->count; i++) {
        const struct mime_param *param = &params->items[i];
        if (mime_equals_ci((const uint8_t *)mime_param_name(params, param), param->name_len,
                           name))
            return param;
    }
    return NULL;
}
