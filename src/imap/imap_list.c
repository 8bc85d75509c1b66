/*
 * LIST and LSUB (RFC 3501 6.3.8-9, CHILDREN RFC 3348). The hierarchy separator is '.'; a
 * folder "a.b" whose parent "a" does not exist makes "a" appear as \Noselect \HasChildren,
 * so clients can walk the tree with '%'. Patterns are matched with a dynamic programme over
 * the name (linear memory, no backtracking), so no pattern can take exponential time.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_internal.h"
#include "util/array.h"

#define LIST_PATTERN_MAX 1024 /* reference + pattern; real clients send a few bytes */

struct candidate {
    char *name;
    bool exists;   /* a real folder (LSUB: a subscription) */
    bool children; /* some other candidate is below it */
};

struct candidates {
    struct candidate *items;
    size_t n, cap;
    bool failed;
};

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* ---- pattern matching: '*' matches anything, '%' anything but the separator ---- */

static bool wild_match(const char *pat, size_t plen, const char *name, size_t nlen, bool fold)
{
    bool *cur = calloc(nlen + 1, sizeof *cur), *next = calloc(nlen + 1, sizeof *next);
    if (!cur || !next) {
        free(cur);
        free(next);
        return false;
    }
    cur[0] = true; /* cur[j]: the pattern so far matches name[0..j) */
    for (size_t i = 0; i < plen; i++) {
        char p = pat[i];
        if (p == '*' || p == '%') {
            bool any = false;
            for (size_t j = 0; j <= nlen; j++) {
                if (p == '%' && j > 0 && name[j - 1] == '.')
                    any = false; /* '%' cannot reach back across a separator */
                any = any || cur[j];
                next[j] = any;
            }
        } else {
            next[0] = false;
            for (size_t j = 0; j < nlen; j++) {
                char c = name[j];
                next[j + 1] = cur[j] && (c == p || (fold && lower(c) == lower(p)));
            }
        }
        bool *t = cur;
        cur = next;
        next = t;
    }
    bool ok = cur[nlen];
    free(cur);
    free(next);
    return ok;
}

/* ---- candidates ---- */

static void add_candidate(struct candidates *c, const char *name, size_t len, bool exists)
{
    struct candidate *items = array_make_room(c->items, c->n, &c->cap, sizeof *items, 32);
    if (!items) {
        c->failed = true;
        return;
    }
    c->items = items;
    char *copy = strndup(name, len);
    if (!copy) {
        c->failed = true;
        return;
    }
    c->items[c->n++] = (struct candidate){.name = copy, .exists = exists};
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct candidate *)a)->name, ((const struct candidate *)b)->name);
}

static struct candidate *find(struct candidates *c, const char *name, size_t len)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strncmp(name, c->items[mid].name, len);
        if (cmp == 0 && c->items[mid].name[len] != '\0')
            cmp = -1;
        if (cmp == 0)
            return &c->items[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Sorts, merges duplicates (a real folder wins over an implied parent), marks parents. */
static void settle(struct candidates *c)
{
    qsort(c->items, c->n, sizeof *c->items, by_name);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (w > 0 && strcmp(c->items[w - 1].name, c->items[i].name) == 0) {
            c->items[w - 1].exists |= c->items[i].exists;
            free(c->items[i].name);
            continue;
        }
        c->items[w++] = c->items[i];
    }
    c->n = w;
    for (size_t i = 0; i < c->n; i++) {
        const char *dot = strrchr(c->items[i].name, '.');
        struct candidate *parent = dot ? find(c, c->items[i].name,
                                              (size_t)(dot - c->items[i].name)) : NULL;
        if (parent)
            parent->children = true;
    }
}

static void free_candidates(struct candidates *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].name);
    free(c->items);
}

/* Every folder, and every parent implied by a dotted name. */
static void gather(struct candidates *c, char **names, size_t count, bool parents)
{
    for (size_t i = 0; i < count; i++) {
        add_candidate(c, names[i], strlen(names[i]), true);
        for (const char *p = names[i]; parents && (p = strchr(p, '.')) != NULL; p++)
            if (p > names[i])
                add_candidate(c, names[i], (size_t)(p - names[i]), false);
    }
    settle(c);
}

/* ---- the commands ---- */

static void write_entry(struct imap_session *s, bool lsub, const struct candidate *item)
{
    strbuf_printf(&s->out, "* %s (", lsub ? "LSUB" : "LIST");
    if (!lsub && !item->exists)
        strbuf_append_str(&s->out, "\\Noselect ");
    if (!lsub)
        strbuf_append_str(&s->out, item->children ? "\\HasChildren" : "\\HasNoChildren");
    strbuf_append_str(&s->out, ") \".\" ");
    imap_write_astring(&s->out, item->name, strlen(item->name));
    strbuf_append_str(&s->out, "\r\n");
    imap_flush_if_large(s);
}

static int load_names(struct imap_session *s, bool lsub, char ***names, size_t *count,
                      char *err, size_t errlen)
{
    if (lsub)
        return mailbox_subscriptions(imap_data_dir(s), s->account->name, names, count, err,
                                     errlen);
    return mailbox_list(imap_data_dir(s), s->account->name, names, count, err, errlen);
}

static void list_matching(struct imap_session *s, struct imap_cmd *cmd, bool lsub,
                          const char *pattern, size_t plen)
{
    char **names = NULL;
    size_t count = 0;
    char err[MAILBOX_ERROR_MAX] = "";
    if (load_names(s, lsub, &names, &count, err, sizeof err) < 0) {
        imap_result(s, cmd, IMAP_NO, "[SERVERBUG] cannot list mailboxes");
        return;
    }
    struct candidates c = {0};
    gather(&c, names, count, !lsub);
    mailbox_names_free(names, count);
    for (size_t i = 0; i < c.n && !c.failed; i++) {
        const char *name = c.items[i].name;
        if (wild_match(pattern, plen, name, strlen(name), strcmp(name, "INBOX") == 0))
            write_entry(s, lsub, &c.items[i]);
    }
    if (c.failed)
        imap_result(s, cmd, IMAP_NO, "[SERVERBUG] out of memory");
    else
        imap_result(s, cmd, IMAP_OK, "%s completed", lsub ? "LSUB" : "LIST");
    free_candidates(&c);
}

static void list_or_lsub(struct imap_session *s, struct imap_cmd *cmd, bool lsub)
{
    const struct imap_arg *ref = cmd->args, *pat = cmd->nargs == 2 ? imap_arg_next(ref) : NULL;
    if (!pat || !imap_arg_is_astring(ref) || !imap_arg_is_astring(pat) ||
        ref->len + pat->len > LIST_PATTERN_MAX) {
        imap_result(s, cmd, IMAP_BAD, "syntax: %s reference pattern", lsub ? "LSUB" : "LIST");
        return;
    }
    if (pat->len == 0 && !lsub) {
        /* RFC 3501 6.3.8: an empty pattern asks for the separator and root. */
        strbuf_append_str(&s->out, "* LIST (\\Noselect) \".\" \"\"\r\n");
        imap_result(s, cmd, IMAP_OK, "LIST completed");
        return;
    }
    char pattern[LIST_PATTERN_MAX];
    memcpy(pattern, ref->ptr, ref->len);
    memcpy(pattern + ref->len, pat->ptr, pat->len);
    list_matching(s, cmd, lsub, pattern, ref->len + pat->len);
}

void imap_cmd_list(struct imap_session *s, struct imap_cmd *cmd)
{
    list_or_lsub(s, cmd, false);
}

void imap_cmd_lsub(struct imap_session *s, struct imap_cmd *cmd)
{
    list_or_lsub(s, cmd, true);
}
