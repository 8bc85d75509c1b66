/*
 * MIME structure of a message (RFC 2045/2046/5322) for IMAP: ENVELOPE, BODYSTRUCTURE, section
 * bytes for BODY[...], header-field filtering, and decoded text for SEARCH. Pure: parses the
 * caller's bytes, keeps offsets into them (the buffer must outlive the result), never fails on
 * malformed input (best effort, like real clients expect) and bounds depth and part count.
 */
#ifndef POSTERN_MIME_MIME_H
#define POSTERN_MIME_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define MIME_MAX_DEPTH 32   /* nested multiparts / message/rfc822 */
#define MIME_MAX_PARTS 1024 /* parts in one message; more are treated as opaque body */

struct mime_message;

/* Parses data[0..len); NULL only when out of memory. */
struct mime_message *mime_parse(const uint8_t *data, size_t len);
void mime_free(struct mime_message *msg);

/* RFC 3501 7.4.2 ENVELOPE, written as an IMAP parenthesised list. */
void mime_write_envelope(const struct mime_message *msg, struct strbuf *out);
/* BODYSTRUCTURE (extended = true) or BODY (false), RFC 3501 7.4.2. */
void mime_write_bodystructure(const struct mime_message *msg, bool extended,
                              struct strbuf *out);

/* What part of a section: BODY[<part>], BODY[<part>.HEADER], .TEXT, .MIME. */
enum mime_section_kind {
    MIME_SECTION_ALL,    /* BODY[] or BODY[1.2] (a part's content; for message/rfc822 the whole
                            embedded message) */
    MIME_SECTION_HEADER, /* BODY[HEADER], BODY[1.HEADER]: header block incl. the blank line */
    MIME_SECTION_TEXT,   /* BODY[TEXT], BODY[1.TEXT] */
    MIME_SECTION_MIME,   /* BODY[1.MIME]: the part's own MIME header block */
};

/* The bytes of a section: parts = {1, 2} for "1.2" (nparts 0 for the top level). False when
 * the section does not exist (IMAP then returns an empty string). */
bool mime_section(const struct mime_message *msg, const uint32_t *parts, size_t nparts,
                  enum mime_section_kind kind, const uint8_t **ptr, size_t *len);

/* HEADER.FIELDS (names) or HEADER.FIELDS.NOT: the matching fields of a header block, in
 * order, folded lines kept, followed by the blank line. Names are case-insensitive. */
void mime_header_fields(const uint8_t *header, size_t len, const char *const *names,
                        size_t nnames, bool exclude, struct strbuf *out);

/* SEARCH helpers: the first header field's value, unfolded and decoded from RFC 2047
 * encoded-words to UTF-8 (false when absent); the message's text parts decoded (base64,
 * quoted-printable) for BODY/TEXT searches. */
bool mime_header_value(const struct mime_message *msg, const char *name, struct strbuf *out);
void mime_body_text(const struct mime_message *msg, struct strbuf *out);
/* The Date: header as seconds since the epoch (false when absent or unparseable). */
bool mime_date(const struct mime_message *msg, int64_t *epoch);

/* Added by the MIME module: converts text in a charset to UTF-8, appending to out. Known:
 * UTF-8, US-ASCII, ISO-8859-1 (read as its superset Windows-1252, as browsers and mail clients
 * do) and Windows-1252, with their usual aliases, case-insensitive. For any other charset the
 * bytes are appended unchanged and the result is false. */
bool mime_charset_to_utf8(const char *charset, size_t charset_len, const uint8_t *text,
                          size_t len, struct strbuf *out);
/* Added by the MIME module: mime_date plus the field's zone as minutes east of UTC, for
 * SENTON/SENTBEFORE/SENTSINCE, which compare the date as written (RFC 3501 6.4.4: time and
 * zone disregarded): the day as written is floor((epoch + offset * 60) / 86400) days after
 * 1970-01-01. */
bool mime_date_zone(const struct mime_message *msg, int64_t *epoch, int *offset_minutes);

#endif
