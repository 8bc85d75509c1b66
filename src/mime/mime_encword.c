/*
 * RFC 2047 encoded-words in header text: =?charset?B|Q?encoded?= decoded to UTF-8 (via
 * mime_charset_to_utf8; an unknown charset leaves the decoded bytes as they are). Blanks
 * between two adjacent encoded-words are dropped (RFC 2047 6.2). Lenient: words are also
 * decoded where RFC 2047 does not allow them (inside quoted strings, next to other text), as
 * mail clients do; the RFC 2231 language suffix (charset*lang) is ignored. Each attempt stops
 * at the third '?' after its "=?", so scanning stays linear.
 */
#include "mime/mime_internal.h"

#include <string.h>

struct encoded_word {
    const uint8_t *charset, *text;
    size_t charset_len, text_len, total_len;
    bool base64;
};

/* Bytes up to the next '?', or SIZE_MAX when a blank or the end comes first. */
static size_t until_question_mark(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '?')
            return i;
        if (p[i] <= ' ')
            return SIZE_MAX;
    }
    return SIZE_MAX;
}

static bool parse_encoded_word(const uint8_t *p, size_t len, struct encoded_word *word)
{
    if (len < 8 || p[0] != '=' || p[1] != '?')
        return false;
    size_t at = 2;
    size_t charset_len = until_question_mark(p + at, len - at);
    if (charset_len == SIZE_MAX || charset_len == 0)
        return false;
    word->charset = p + at;
    word->charset_len = charset_len;
    at += charset_len + 1;
    if (at + 2 > len || p[at + 1] != '?')
        return false;
    uint8_t encoding = mime_lower(p[at]);
    if (encoding != 'b' && encoding != 'q')
        return false;
    word->base64 = encoding == 'b';
    at += 2;
    size_t text_len = until_question_mark(p + at, len - at);
    if (text_len == SIZE_MAX || at + text_len + 1 >= len || p[at + text_len + 1] != '=')
        return false;
    word->text = p + at;
    word->text_len = text_len;
    word->total_len = at + text_len + 2;
    const uint8_t *star = memchr(word->charset, '*', word->charset_len);
    if (star) /* RFC 2231 5: charset*language */
        word->charset_len = (size_t)(star - word->charset);
    return true;
}

static void append_decoded_word(const struct encoded_word *word, struct strbuf *out)
{
    struct strbuf bytes = {0};
    if (word->base64)
        mime_base64_decode(word->text, word->text_len, &bytes);
    else
        mime_qp_decode(word->text, word->text_len, true, &bytes);
    mime_charset_to_utf8((const char *)word->charset, word->charset_len,
                         bytes.data ? (const uint8_t *)bytes.data : (const uint8_t *)"",
                         bytes.len, out);
    strbuf_free(&bytes);
}

static bool only_blanks(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!mime_is_wsp(p[i]))
            return false;
    }
    return true;
}

static void decode_words(const uint8_t *text, size_t len, struct strbuf *out)
{
    size_t literal = 0; /* start of text not yet copied */
    bool after_word = false;
    for (size_t i = 0; i + 1 < len; i++) {
        struct encoded_word word;
        if (text[i] != '=' || text[i + 1] != '?' ||
            !parse_encoded_word(text + i, len - i, &word))
            continue;
        if (!after_word || !only_blanks(text + literal, i - literal))
            strbuf_append(out, text + literal, i - literal);
        append_decoded_word(&word, out);
        i += word.total_len - 1;
        literal = i + 1;
        after_word = true;
    }
    strbuf_append(out, text + literal, len - literal);
}

void mime_decode_header_text(const uint8_t *value, size_t len, struct strbuf *out)
{
    struct strbuf unfolded = {0};
    mime_unfold(value, len, &unfolded);
    if (unfolded.data)
        decode_words((const uint8_t *)unfolded.data, unfolded.len, out);
    strbuf_free(&unfolded);
}
