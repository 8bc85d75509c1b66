/*
 * Response formatting shared by the commands: strings (quoted when possible, else literal),
 * flags, dates, compressed sequence sets; and resolving a client's sequence set against the
 * selected mailbox.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_internal.h"

/* Quoted strings carry 7-bit text without CR/LF/NUL; longer strings go as literals so one
 * odd byte never breaks a response. */
#define QUOTED_MAX 1024

static bool quotable(const char *text, size_t len)
{
    if (len > QUOTED_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
            return false;
    }
    return true;
}

void imap_write_literal(struct strbuf *out, const void *data, size_t len)
{
    strbuf_printf(out, "{%zu}\r\n", len);
    strbuf_append(out, data, len);
}

void imap_write_string(struct strbuf *out, const char *text, size_t len)
{
    if (!quotable(text, len)) {
        imap_write_literal(out, text, len);
        return;
    }
    strbuf_append(out, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"' || text[i] == '\\') {
            strbuf_append(out, text + start, i - start);
            strbuf_append(out, "\\", 1);
            start = i;
        }
    }
    strbuf_append(out, text + start, len - start);
    strbuf_append(out, "\"", 1);
}

void imap_write_astring(struct strbuf *out, const char *text, size_t len)
{
    bool atom = len > 0 && !(len == 3 && strncasecmp(text, "NIL", 3) == 0);
    for (size_t i = 0; atom && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        atom = c > 0x20 && c < 0x7f && !strchr("(){%*\"\\]", c);
    }
    if (atom)
        strbuf_append(out, text, len);
    else
        imap_write_string(out, text, len);
}

void imap_write_flags(struct strbuf *out, uint32_t flags)
{
    static const uint32_t order[] = {MAILBOX_ANSWERED, MAILBOX_FLAGGED, MAILBOX_DELETED,
                                     MAILBOX_SEEN, MAILBOX_DRAFT, MAILBOX_RECENT};
    strbuf_append(out, "(", 1);
    bool first = true;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(flags & order[i]))
            continue;
        if (!first)
            strbuf_append(out, " ", 1);
        strbuf_append_str(out, imap_flag_name(order[i]));
        first = false;
    }
    strbuf_append(out, ")", 1);
}

/* In UTC: the internal date is an instant, and +0000 says so exactly. */
void imap_write_date_time(struct strbuf *out, time_t when)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    if (!gmtime_r(&when, &tm))
        memset(&tm, 0, sizeof tm);
    strbuf_printf(out, "\"%02d-%.3s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
                  months + 3 * (tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0),
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void imap_write_set(struct strbuf *out, const uint32_t *numbers, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && numbers[j + 1] == numbers[j] + 1)
            j++;
        if (i > 0)
            strbuf_append(out, ",", 1);
        if (j == i)
            strbuf_printf(out, "%u", numbers[i]);
        else
            strbuf_printf(out, "%u:%u", numbers[i], numbers[j]);
        i = j + 1;
    }
}

char *imap_arg_strdup(const struct imap_arg *arg)
{
    if (!imap_arg_is_astring(arg) || memchr(arg->ptr, '\0', arg->len))
        return NULL;
    return strndup(arg->ptr, arg->len);
}

/* ---- sequence sets against the selected mailbox ---- */

/* The first index whose UID is at least uid (UIDs ascend with the index). */
static size_t lower_bound_uid(const struct mailbox *mb, size_t count, uint32_t uid)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mailbox_message(mb, mid)->uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Marks the messages a resolved range names; false for a sequence number past the end. */
static bool mark_range(const struct mailbox *mb, size_t count, const struct imap_range *r,
                       bool uid, bool *mark)
{
    if (uid) {
        for (size_t i = lower_bound_uid(mb, count, r->lo);
             i < count && mailbox_message(mb, i)->uid <= r->hi; i++)
            mark[i] = true;
        return true;
    }
    if (r->hi > count || r->lo == 0)
        return false;
    for (size_t i = r->lo - 1; i < r->hi; i++)
        mark[i] = true;
    return true;
}

size_t *imap_resolve_set(struct imap_session *s, const struct imap_arg *arg, bool uid,
                         size_t *n, bool *bad)
{
    *n = 0;
    *bad = true;
    size_t nr;
    if (arg->type != IMAP_ARG_ATOM ||
        imap_seqset_parse(arg->ptr, arg->len, NULL, 0, &nr) != IMAP_PARSE_OK)
        return NULL;
    size_t count = mailbox_count(s->mailbox);
    struct imap_range *r = malloc(nr * sizeof *r);
    bool *mark = calloc(count + 1, sizeof *mark);
    size_t *out = malloc((count + 1) * sizeof *out);
    bool ok = r && mark && out &&
              imap_seqset_parse(arg->ptr, arg->len, r, nr, &nr) == IMAP_PARSE_OK;
    if (ok) {
        /* "*" in an empty mailbox names nothing (UID) or is past the end (sequence). */
        uint32_t star = count == 0 ? 0
                        : uid      ? mailbox_message(s->mailbox, count - 1)->uid
                                   : (uint32_t)count;
        imap_seqset_resolve(r, nr, star);
        /* An empty mailbox: "1:*" is what clients send right after SELECT; nothing matches. */
        for (size_t i = 0; i < nr && ok && count > 0; i++)
            ok = mark_range(s->mailbox, count, &r[i], uid, mark);
    }
    for (size_t i = 0; ok && i < count; i++)
        if (mark[i])
            out[(*n)++] = i;
    free(r);
    free(mark);
    if (!ok) {
        free(out);
        *n = 0;
        return NULL;
    }
    *bad = false;
    return out;
}
