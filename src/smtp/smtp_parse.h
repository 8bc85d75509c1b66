/*
 * SMTP syntax, pure: command lines, MAIL/RCPT paths and parameters, BDAT sizes, EHLO names,
 * AUTH PLAIN/LOGIN payloads, and the DATA transparency decoder. No I/O, no allocation, no
 * global state. Text results are slices pointing into the caller's buffer; the caller owns
 * every buffer and limit. Inputs never include the line's CRLF.
 *
 * References: RFC 5321 4.1.2 (paths), 4.5.2 (transparency), 4.5.3.1 (sizes); RFC 6531
 * (SMTPUTF8); RFC 1870 (SIZE); RFC 6152 / RFC 3030 (BODY, BDAT); RFC 4954 / RFC 4616 (AUTH).
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1: sizes in octets. */
#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_LABEL_MAX 63         /* RFC 1035 2.3.4 */
#define SMTP_ADDRESS_MAX 254      /* a 256-octet path minus its angle brackets */
#define SMTP_TEXT_LINE_MAX 1000   /* a DATA line including its CRLF (4.5.3.1.6) */
#define SMTP_VERB_MAX 16          /* longer than any command word */
#define SMTP_SIZE_DIGITS_MAX 20   /* RFC 1870 size-value */
#define SMTP_PASSWORD_MAX 1024    /* longest password accepted in AUTH */
/* A PLAIN message: authzid NUL authcid NUL password, identities at most one address each. */
#define SMTP_AUTH_DECODED_MAX (2 * SMTP_ADDRESS_MAX + 2 + SMTP_PASSWORD_MAX)

/* One status per reject class, so replies and tests can name the exact rule. */
enum smtp_parse_status {
    SMTP_PARSE_OK = 0,
    SMTP_PARSE_EMPTY,            /* nothing but spaces */
    SMTP_PARSE_BAD_VERB,         /* not 1-16 ASCII letters followed by SP or the end */
    SMTP_PARSE_CONTROL_CHAR,     /* a control byte (NUL, CR, TAB, DEL, ...) in the line */
    SMTP_PARSE_SYNTAX,           /* "FROM:"/"TO:" missing, garbage after the path, bad number */
    SMTP_PARSE_PATH_SYNTAX,      /* not <mailbox>: brackets, @, dots, quotes, characters */
    SMTP_PARSE_NULL_PATH,        /* <> where a recipient is required */
    SMTP_PARSE_LOCAL_TOO_LONG,   /* local part over 64 octets */
    SMTP_PARSE_DOMAIN_TOO_LONG,  /* domain over 255 octets or a label over 63 */
    SMTP_PARSE_ADDRESS_TOO_LONG, /* mailbox over 254 octets */
    SMTP_PARSE_BAD_DOMAIN,       /* domain or address literal malformed */
    SMTP_PARSE_BAD_UTF8,         /* non-ASCII bytes that are not valid UTF-8 */
    SMTP_PARSE_PARAM_SYNTAX,     /* keyword[=value] malformed */
    SMTP_PARSE_PARAM_UNKNOWN,    /* a parameter this server does not offer */
    SMTP_PARSE_PARAM_DUPLICATE,  /* the same parameter twice */
    SMTP_PARSE_PARAM_VALUE,      /* SIZE not a number, BODY not a known type, SMTPUTF8=x */
    SMTP_PARSE_BASE64,           /* not canonical base64 */
    SMTP_PARSE_TOO_LONG,         /* a decoded payload larger than its buffer or limit */
    SMTP_PARSE_AUTH_FORMAT,      /* PLAIN without two NULs, or an empty identity/password */
};

/* A short phrase for replies and logs, e.g. "local part longer than 64 octets". */
const char *smtp_parse_status_text(enum smtp_parse_status status);

struct smtp_slice {
    const char *ptr;
    size_t len;
};

/* ---- command lines ---- */

struct smtp_command_line {
    struct smtp_slice verb; /* 1-16 letters, as written (case is the caller's business) */
    struct smtp_slice arg;  /* after the verb's SP, leading and trailing spaces removed */
};

/*
 * "VERB" or "VERB SP argument". Bytes >= 0x80 are allowed in the argument (SMTPUTF8 paths);
 * control bytes anywhere are not.
 */
enum smtp_parse_status smtp_parse_command(const char *line, size_t len,
                                          struct smtp_command_line *out);

/* ---- paths ---- */

struct smtp_path {
    struct smtp_slice address; /* "local@domain", source route removed; empty for <> */
    struct smtp_slice local;   /* as written, quotes included when quoted */
    struct smtp_slice domain;  /* a domain or an address literal with its brackets */
    bool null_path;            /* <> */
    bool quoted_local;         /* the local part is a quoted string */
    bool domain_literal;       /* [1.2.3.4], [IPv6:...], [tag:...] */
    bool utf8;                 /* non-ASCII (RFC 6531) bytes somewhere in the address */
    bool postmaster;           /* <Postmaster> without a domain (RFC 5321 4.5.1), RCPT only */
};

enum smtp_body {
    SMTP_BODY_UNSPECIFIED,
    SMTP_BODY_7BIT,
    SMTP_BODY_8BITMIME,
    SMTP_BODY_BINARYMIME,
};

struct smtp_mail_args {
    struct smtp_path path;
    bool has_size;
    uint64_t size;         /* SIZE=, RFC 1870 */
    enum smtp_body body;   /* BODY=, RFC 6152 / RFC 3030 */
    bool smtputf8;         /* SMTPUTF8, RFC 6531 */
    bool has_auth;         /* AUTH=, RFC 4954 5: accepted and ignored (no relaying) */
};

/* The argument of MAIL: "FROM:<path> [params]". A space after the colon is tolerated. */
enum smtp_parse_status smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *out);
/* The argument of RCPT: "TO:<path>"; no RCPT parameters are offered, so any is unknown. */
enum smtp_parse_status smtp_parse_rcpt(const char *arg, size_t len, struct smtp_path *out);

/* The argument of EHLO/HELO: a domain ('_' tolerated in labels) or an address literal. */
enum smtp_parse_status smtp_parse_helo_name(const char *arg, size_t len);

/* The argument of BDAT: "size" or "size LAST". */
enum smtp_parse_status smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, bool *last);

/* ---- AUTH ---- */

/*
 * Strict RFC 4648 base64 (padding required, no whitespace). "=" alone is the empty string
 * (RFC 4954 4). Writes at most cap bytes; SMTP_PARSE_TOO_LONG when more would be needed.
 */
enum smtp_parse_status smtp_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                          size_t *out_len);
/* Base64 of len bytes into out (4 * ceil(len / 3) + 1 bytes with the NUL). */
size_t smtp_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

struct smtp_plain {
    struct smtp_slice authzid; /* may be empty */
    struct smtp_slice authcid; /* the login name */
    struct smtp_slice password;
};

/* A decoded RFC 4616 PLAIN message: [authzid] NUL authcid NUL passwd. */
enum smtp_parse_status smtp_parse_plain(const uint8_t *msg, size_t len, struct smtp_plain *out);

/* ---- DATA transparency (RFC 5321 4.5.2) ---- */

enum smtp_dot_phase {
    SMTP_DOT_LINE_START, /* after CRLF (and at the start of DATA) */
    SMTP_DOT_IN_LINE,
    SMTP_DOT_CR,         /* a CR is held: CRLF or a bare CR */
    SMTP_DOT_DOT,        /* a dot at a line start was dropped */
    SMTP_DOT_DOT_CR,     /* ".\r" at a line start: the end, if LF follows */
};

struct smtp_dot_decoder {
    enum smtp_dot_phase phase;
    uint32_t line_len;  /* octets of the current line as sent, saturating */
    bool long_line;     /* a line longer than SMTP_TEXT_LINE_MAX with its CRLF */
    bool bare_newline;  /* a CR or LF that is not part of CRLF */
};

/* A decoder at the start of message text. */
void smtp_dot_init(struct smtp_dot_decoder *dec);

/*
 * Decodes message text: drops the transparency dot at line starts and stops after the
 * terminating CRLF "." CRLF, which is not part of the output (the CRLF before it is). Only
 * CRLF ends a line, so "\n.\n" or "\n.\r\n" never end the data (SMTP smuggling). Output bytes
 * go to out, which must hold len + 1 bytes (a held CR can be released); *out_len says how
 * many. Returns the bytes consumed: all of len, or fewer when the end was found (*done).
 */
size_t smtp_dot_decode(struct smtp_dot_decoder *dec, const uint8_t *in, size_t len,
                       uint8_t *out, size_t *out_len, bool *done);

#endif
