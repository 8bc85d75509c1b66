/*
 * FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2). Message bytes are read only when an attribute
 * needs them, and parsed into MIME structure only when a section or structure is asked for.
 * BODY[...] without .PEEK, RFC822 and RFC822.TEXT set \Seen (in a read-write mailbox), and the
 * new FLAGS are then part of the response (RFC 3501 6.4.5).
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_internal.h"
#include "mime/mime.h"

/* One message being answered. */
struct fetch_msg {
    struct imap_session *s;
    size_t index;
    const struct mailbox_message *m;
    char *data;               /* the whole message, when an attribute needs it */
    size_t len;
    struct mime_message *mime; /* parsed on first use */
    bool failed;              /* the message could not be read (expunged meanwhile) */
};

static bool needs_data(enum imap_fetch_kind kind)
{
    return kind == IMAP_FETCH_ENVELOPE || kind == IMAP_FETCH_BODYSTRUCTURE ||
           kind == IMAP_FETCH_BODY || kind == IMAP_FETCH_SECTION || kind == IMAP_FETCH_RFC822 ||
           kind == IMAP_FETCH_RFC822_HEADER || kind == IMAP_FETCH_RFC822_TEXT;
}

static bool sets_seen(const struct imap_fetch_att *att)
{
    return (att->kind == IMAP_FETCH_SECTION && !att->peek) || att->kind == IMAP_FETCH_RFC822 ||
           att->kind == IMAP_FETCH_RFC822_TEXT;
}

static struct mime_message *mime_of(struct fetch_msg *f)
{
    if (!f->mime)
        f->mime = mime_parse((const uint8_t *)f->data, f->len);
    return f->mime;
}

/* ---- sections ---- */

static enum mime_section_kind mime_kind(enum imap_section_text text)
{
    switch (text) {
    case IMAP_SECTION_TEXT:
        return MIME_SECTION_TEXT;
    case IMAP_SECTION_MIME:
        return MIME_SECTION_MIME;
    case IMAP_SECTION_ALL:
        return MIME_SECTION_ALL;
    default:
        return MIME_SECTION_HEADER;
    }
}

/* HEADER.FIELDS[.NOT] (names): the matching fields of the part's header into out. */
static void header_fields(struct fetch_msg *f, const struct imap_fetch_att *att,
                          struct strbuf *out)
{
    const uint8_t *header = NULL;
    size_t hlen = 0;
    struct mime_message *mime = mime_of(f);
    if (!mime || !mime_section(mime, att->parts, att->nparts, MIME_SECTION_HEADER, &header,
                               &hlen))
        return;
    const char *names[IMAP_HEADER_FIELDS_MAX];
    char *copies[IMAP_HEADER_FIELDS_MAX];
    size_t n = 0, pos = 0, len;
    const char *name;
    while (n < sizeof names / sizeof names[0] &&
           imap_header_names_next(att->fields, att->fields_len, &pos, &name, &len)) {
        copies[n] = strndup(name, len);
        if (!copies[n])
            break;
        names[n] = copies[n];
        n++;
    }
    mime_header_fields(header, hlen, names, n, att->text == IMAP_SECTION_FIELDS_NOT, out);
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
}

/* The bytes a section names: a slice of the message, or text built into tmp. */
static void section_bytes(struct fetch_msg *f, const struct imap_fetch_att *att,
                          struct strbuf *tmp, const uint8_t **ptr, size_t *len)
{
    *ptr = NULL;
    *len = 0;
    if (att->text == IMAP_SECTION_FIELDS || att->text == IMAP_SECTION_FIELDS_NOT) {
        header_fields(f, att, tmp);
        *ptr = (const uint8_t *)tmp->data;
        *len = tmp->len;
    } else if (att->nparts == 0 && att->text == IMAP_SECTION_ALL) {
        *ptr = (const uint8_t *)f->data;
        *len = f->len;
    } else if (mime_of(f)) {
        mime_section(f->mime, att->parts, att->nparts, mime_kind(att->text), ptr, len);
    }
}

/* "BODY[<section>]<origin>" and the literal, cut to the partial range. */
static void write_section(struct fetch_msg *f, const struct imap_fetch_att *att,
                          struct strbuf *out)
{
    struct strbuf tmp = {0};
    const uint8_t *ptr;
    size_t len;
    section_bytes(f, att, &tmp, &ptr, &len);
    strbuf_append_str(out, "BODY[");
    /* Echoed as sent, upper-cased (names are case-insensitive): clients match on it. */
    size_t start = out->len;
    strbuf_append(out, att->section, att->section_len);
    for (size_t i = start; !out->failed && i < out->len; i++)
        if (out->data[i] >= 'a' && out->data[i] <= 'z')
            out->data[i] = (char)(out->data[i] - 32);
    strbuf_append_str(out, "]");
    if (att->partial) {
        strbuf_printf(out, "<%u>", att->origin);
        size_t from = att->origin < len ? att->origin : len;
        size_t count = len - from < att->count ? len - from : att->count;
        ptr = ptr ? ptr + from : ptr;
        len = count;
    }
    strbuf_append_str(out, " ");
    imap_write_literal(out, ptr ? (const char *)ptr : "", ptr ? len : 0);
    strbuf_free(&tmp);
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: the old names of BODY[], BODY.PEEK[HEADER], BODY[TEXT]. */
static void write_rfc822(struct fetch_msg *f, const struct imap_fetch_att *att,
                         struct strbuf *out)
{
    const uint8_t *ptr = (const uint8_t *)f->data;
    size_t len = f->len;
    const char *label = "RFC822";
    if (att->kind != IMAP_FETCH_RFC822) {
        bool header = att->kind == IMAP_FETCH_RFC822_HEADER;
        label = header ? "RFC822.HEADER" : "RFC822.TEXT";
        ptr = NULL;
        len = 0;
        if (mime_of(f))
            mime_section(f->mime, NULL, 0, header ? MIME_SECTION_HEADER : MIME_SECTION_TEXT,
                         &ptr, &len);
    }
    strbuf_printf(out, "%s ", label);
    imap_write_literal(out, ptr ? (const char *)ptr : "", ptr ? len : 0);
}

/* ---- one attribute ---- */

static void write_att(struct fetch_msg *f, const struct imap_fetch_att *att, struct strbuf *out)
{
    const struct mailbox_message *m = f->m;
    switch (att->kind) {
    case IMAP_FETCH_UID:
        strbuf_printf(out, "UID %u", m->uid);
        break;
    case IMAP_FETCH_FLAGS:
        strbuf_append_str(out, "FLAGS ");
        imap_write_flags(out, m->flags);
        break;
    case IMAP_FETCH_INTERNALDATE:
        strbuf_append_str(out, "INTERNALDATE ");
        imap_write_date_time(out, m->internal_date);
        break;
    case IMAP_FETCH_RFC822_SIZE:
        strbuf_printf(out, "RFC822.SIZE %llu", (unsigned long long)m->size);
        break;
    case IMAP_FETCH_ENVELOPE:
        strbuf_append_str(out, "ENVELOPE ");
        if (mime_of(f))
            mime_write_envelope(f->mime, out);
        else
            strbuf_append_str(out, "NIL");
        break;
    case IMAP_FETCH_BODYSTRUCTURE:
    case IMAP_FETCH_BODY:
        strbuf_append_str(out, att->kind == IMAP_FETCH_BODY ? "BODY " : "BODYSTRUCTURE ");
        if (mime_of(f))
            mime_write_bodystructure(f->mime, att->kind == IMAP_FETCH_BODYSTRUCTURE, out);
        else
            strbuf_append_str(out, "NIL");
        break;
    case IMAP_FETCH_SECTION:
        write_section(f, att, out);
        break;
    default:
        write_rfc822(f, att, out);
        break;
    }
}

/* ---- one message ---- */

static bool load(struct fetch_msg *f)
{
    char err[MAILBOX_ERROR_MAX];
    if (mailbox_read(f->s->mailbox, f->index, &f->data, &f->len, err, sizeof err) == 0)
        return true;
    f->failed = true;
    return false;
}

/* Sets \Seen when an attribute reads the text; true when the flags changed. */
static bool mark_seen(struct fetch_msg *f)
{
    uint32_t flags = f->m->flags;
    if (f->s->read_only || (flags & MAILBOX_SEEN))
        return false;
    char err[MAILBOX_ERROR_MAX];
    if (mailbox_set_flags(f->s->mailbox, f->index, flags | MAILBOX_SEEN, err, sizeof err) < 0)
        return false;
    f->m = mailbox_message(f->s->mailbox, f->index); /* the snapshot entry was updated */
    return true;
}

static void fetch_one(struct imap_session *s, size_t index, const struct imap_fetch_att *atts,
                      size_t n, bool *missing)
{
    struct fetch_msg f = {.s = s, .index = index, .m = mailbox_message(s->mailbox, index)};
    bool data = false, seen = false, has_flags = false;
    for (size_t i = 0; i < n; i++) {
        data |= needs_data(atts[i].kind);
        seen |= sets_seen(&atts[i]);
        has_flags |= atts[i].kind == IMAP_FETCH_FLAGS;
    }
    if (data && !load(&f)) {
        *missing = true;
        return;
    }
    bool flags_changed = seen && mark_seen(&f);
    strbuf_printf(&s->out, "* %zu FETCH (", index + 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strbuf_append_str(&s->out, " ");
        write_att(&f, &atts[i], &s->out);
    }
    if (flags_changed && !has_flags) {
        strbuf_append_str(&s->out, " FLAGS ");
        imap_write_flags(&s->out, f.m->flags);
    }
    strbuf_append_str(&s->out, ")\r\n");
    mime_free(f.mime);
    free(f.data);
    imap_flush_if_large(s);
}

/* UID FETCH always reports the UID (RFC 3501 6.4.8). */
static void add_uid(struct imap_fetch_att *atts, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        if (atts[i].kind == IMAP_FETCH_UID)
            return;
    memmove(atts + 1, atts, *n * sizeof *atts);
    atts[0] = (struct imap_fetch_att){.kind = IMAP_FETCH_UID};
    (*n)++;
}

void imap_cmd_fetch(struct imap_session *s, struct imap_cmd *cmd)
{
    struct imap_fetch_att atts[IMAP_FETCH_ATTS_MAX + 1];
    size_t natts = 0, nidx = 0;
    bool bad = true;
    enum imap_parse_status st = IMAP_PARSE_SYNTAX;
    if (cmd->nargs == 2)
        st = imap_parse_fetch_atts(imap_arg_next(cmd->args), atts, IMAP_FETCH_ATTS_MAX, &natts);
    size_t *idx = st == IMAP_PARSE_OK ? imap_resolve_set(s, cmd->args, cmd->uid, &nidx, &bad)
                                      : NULL;
    if (st != IMAP_PARSE_OK || bad) {
        imap_result(s, cmd, IMAP_BAD, "%s", st != IMAP_PARSE_OK ? imap_parse_status_text(st)
                                                                : "invalid sequence set");
        free(idx);
        return;
    }
    if (cmd->uid)
        add_uid(atts, &natts);
    bool missing = false;
    for (size_t i = 0; i < nidx; i++)
        fetch_one(s, idx[i], atts, natts, &missing);
    free(idx);
    if (missing)
        imap_result(s, cmd, IMAP_NO, "[EXPUNGEISSUED] some messages were expunged meanwhile");
    else
        imap_result(s, cmd, IMAP_OK, "%sFETCH completed", cmd->uid ? "UID " : "");
}
