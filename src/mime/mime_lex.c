/*
 * A small lexer for structured field values (RFC 5322 3.2, RFC 2045 5.1): blanks, folds and
 * comments, quoted strings, atoms/tokens. Lenient where mail is sloppy: control bytes count as
 * blanks, 8-bit bytes belong to atoms, unterminated comments and quoted strings end at the end
 * of the value. Every function moves forward, so callers cannot loop on odd input.
 */
#include "mime/mime_internal.h"

#include <string.h>

static bool is_blank_or_control(uint8_t c)
{
    return c <= ' ' || c == 0x7f;
}

/* At '(': moves past the comment and its nested comments, appending the outer comment's text
 * (quoted-pairs resolved, line breaks removed) to text. */
static void skip_comment(struct mime_lex *lx, struct strbuf *text)
{
    int depth = 0;
    while (lx->pos < lx->end) {
        uint8_t c = *lx->pos++;
        if (c == '\\' && lx->pos < lx->end)
            c = *lx->pos++;
        else if (c == '(' && depth++ == 0)
            continue;
        else if (c == ')' && --depth == 0)
            return;
        if (text && c != '\r' && c != '\n')
            strbuf_append(text, &c, 1);
    }
}

void mime_lex_skip_cfws(struct mime_lex *lx, struct strbuf *comment)
{
    while (lx->pos < lx->end) {
        if (*lx->pos == '(') {
            if (comment)
                strbuf_reset(comment);
            skip_comment(lx, comment);
        } else if (is_blank_or_control(*lx->pos)) {
            lx->pos++;
        } else {
            return;
        }
    }
}

void mime_lex_quoted(struct mime_lex *lx, struct strbuf *out)
{
    lx->pos++; /* the opening quote */
    const uint8_t *run = lx->pos;
    while (lx->pos < lx->end && *lx->pos != '"') {
        uint8_t c = *lx->pos;
        if (c != '\\' && c != '\r' && c != '\n') {
            lx->pos++;
            continue;
        }
        if (out)
            strbuf_append(out, run, (size_t)(lx->pos - run));
        lx->pos++;
        run = lx->pos;
        /* an escaped byte starts the next run; a fold's line break is dropped, the blank
         * after it stays */
        if (c == '\\' && lx->pos < lx->end)
            lx->pos++;
    }
    if (out)
        strbuf_append(out, run, (size_t)(lx->pos - run));
    if (lx->pos < lx->end)
        lx->pos++; /* the closing quote */
}

size_t mime_lex_atom(struct mime_lex *lx, const char *specials)
{
    const uint8_t *start = lx->pos;
    while (lx->pos < lx->end && !is_blank_or_control(*lx->pos) && *lx->pos != '"' &&
           *lx->pos != '(' && !strchr(specials, *lx->pos))
        lx->pos++;
    return (size_t)(lx->pos - start);
}
