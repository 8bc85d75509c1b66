/*
 * IMAP syntax, pure (RFC 3501 section 9, RFC 7888 LITERAL+): command framing, the argument
 * parser, sequence sets, FETCH attributes, SEARCH keys, flags and dates. No I/O, no
 * allocation, no global state: the caller owns every buffer and passes every limit. Text
 * results point into the caller's buffer.
 *
 * A complete command is what the session collected: its lines joined by CRLF, each literal's
 * octets right after the CRLF that follows its "{n}" / "{n+}" marker, the final CRLF removed.
 * imap_parse_command() unescapes quoted strings in that buffer, in place (the result is never
 * longer), so the buffer must be writable.
 */
#ifndef POSTERN_IMAP_PARSE_H
#define POSTERN_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_TAG_MAX 64          /* longer tags are refused: no client needs more */
#define IMAP_COMMAND_NAME_MAX 32 /* longer than any command name */
#define IMAP_DEPTH_HARD_MAX 64   /* the deepest list nesting any caller may allow */
#define IMAP_SECTION_PARTS_MAX 32 /* "1.2.3..." numbers in a BODY[] section (MIME depth) */
#define IMAP_LITERAL_DIGITS_MAX 10 /* "{4294967295}": literals beyond 32 bits are refused */

/* One status per reject class, so replies and tests can name the rule. */
enum imap_parse_status {
    IMAP_PARSE_OK = 0,
    IMAP_PARSE_EMPTY,         /* an empty line: nothing to answer */
    IMAP_PARSE_BAD_TAG,       /* missing, too long, or with characters a tag cannot have */
    IMAP_PARSE_BAD_COMMAND,   /* the command name is missing or not letters */
    IMAP_PARSE_SYNTAX,        /* spaces, quotes, parentheses, literal markers malformed */
    IMAP_PARSE_BAD_CHAR,      /* NUL, a control byte, or 8-bit text outside a literal/quote */
    IMAP_PARSE_TOO_MANY_ARGS, /* more argument nodes than the caller's limit */
    IMAP_PARSE_TOO_DEEP,      /* lists nested deeper than the caller's limit */
    IMAP_PARSE_TOO_LARGE,     /* a literal over the caller's limit, a number over 32 bits */
    IMAP_PARSE_UNKNOWN,       /* a FETCH attribute, SEARCH key, flag or charset we lack */
};

/* A short phrase for BAD replies, e.g. "unbalanced parentheses". */
const char *imap_parse_status_text(enum imap_parse_status status);

/* ---- framing: what the session needs before a command is complete ---- */

enum imap_literal_kind {
    IMAP_LITERAL_NONE,    /* the line ends the command */
    IMAP_LITERAL_SYNC,    /* "{n}": the client waits for "+" before sending n octets */
    IMAP_LITERAL_NONSYNC, /* "{n+}" (LITERAL+): the octets follow at once */
    IMAP_LITERAL_BAD,     /* "{...}" that is not a valid marker (too many digits, ...) */
};

/* Does this line (without its CRLF) end with a literal marker? *size gets n. */
enum imap_literal_kind imap_line_literal(const char *line, size_t len, uint64_t *size);

/* The command name of a command's first line ("a1 APPEND ..." -> "APPEND"), so the session
 * can choose limits before the whole command arrived. False when there is none yet. */
bool imap_peek_command(const char *line, size_t len, const char **name, size_t *name_len);

/* ---- arguments ---- */

enum imap_arg_type {
    IMAP_ARG_ATOM,    /* also flags (\Seen), sequence sets, BODY[...]<...> (one atom) */
    IMAP_ARG_QUOTED,  /* unescaped */
    IMAP_ARG_LITERAL, /* raw octets, may contain anything */
    IMAP_ARG_NIL,     /* the atom NIL (callers wanting an astring may read it as "NIL") */
    IMAP_ARG_LIST,    /* "(...)": its nodes follow it */
};

/*
 * Nodes are stored flat, in document order: a list is followed by its `span` descendants, so
 * the next sibling of node a is a + 1 + a->span. ptr/len hold the text of non-lists.
 */
struct imap_arg {
    enum imap_arg_type type;
    uint32_t span;  /* lists: all nodes inside, at any depth */
    uint32_t count; /* lists: direct children */
    const char *ptr;
    size_t len;
};

struct imap_parse_limits {
    size_t max_args;      /* nodes (lists count too): the capacity of the args array */
    unsigned max_depth;   /* list nesting, at most IMAP_DEPTH_HARD_MAX */
    uint64_t max_literal; /* octets of any one literal */
};

struct imap_command {
    const char *tag;
    size_t tag_len;
    const char *name; /* as sent; compare case-insensitively */
    size_t name_len;
    struct imap_arg *args; /* the caller's array */
    size_t nargs;          /* top-level arguments */
    size_t nnodes;         /* nodes used in args */
};

/* Parses a complete command (see the top of this file). buf is modified (quoted strings are
 * unescaped in place). args has limits->max_args entries. */
enum imap_parse_status imap_parse_command(char *buf, size_t len,
                                          const struct imap_parse_limits *limits,
                                          struct imap_arg *args, struct imap_command *out);

/* The sibling after a node (lists are skipped whole). */
static inline const struct imap_arg *imap_arg_next(const struct imap_arg *arg)
{
    return arg + 1 + arg->span;
}

/* An astring (atom, quoted, literal, or the atom NIL read as text). */
static inline bool imap_arg_is_astring(const struct imap_arg *arg)
{
    return arg->type != IMAP_ARG_LIST;
}

/* A string (quoted or literal), or an astring atom. NIL is not a string. */
static inline bool imap_arg_is_string(const struct imap_arg *arg)
{
    return arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_QUOTED ||
           arg->type == IMAP_ARG_LITERAL;
}

/* Case-insensitive comparison of an atom with a word. */
bool imap_arg_atom_is(const struct imap_arg *arg, const char *word);

/* ---- sequence sets (RFC 3501 9: sequence-set) ---- */

/* A range; 0 stands for "*" until imap_seqset_resolve() replaces it. */
struct imap_range {
    uint32_t lo, hi;
};

/* Parses "1,3:5,7:*". ranges may be NULL (cap 0) to validate and count; *n gets the number
 * of ranges. IMAP_PARSE_TOO_MANY_ARGS when more than cap. "$" (SEARCHRES) is not offered. */
enum imap_parse_status imap_seqset_parse(const char *text, size_t len, struct imap_range *ranges,
                                         size_t cap, size_t *n);
/* Replaces "*" with star (the largest number in use) and orders each range low..high. */
void imap_seqset_resolve(struct imap_range *ranges, size_t n, uint32_t star);
bool imap_seqset_contains(const struct imap_range *ranges, size_t n, uint32_t value);

/* ---- flags (RFC 3501 2.3.2) ---- */

/* Bits are the store's enum mailbox_flag. */
struct imap_flags {
    uint32_t bits;
    bool keywords; /* keywords were named: they cannot be stored (PERMANENTFLAGS has no \*) */
    bool recent;   /* \Recent was named: not settable by clients */
};

/* A flag list "(\Seen \Draft kw)" or one flag atom. IMAP_PARSE_UNKNOWN for an unknown
 * system flag (\Foo); keywords are noted, not refused. */
enum imap_parse_status imap_parse_flags(const struct imap_arg *arg, struct imap_flags *out);
/* The name of one flag bit ("\\Seen"), NULL for none. */
const char *imap_flag_name(uint32_t bit);

/* ---- dates (RFC 3501 9: date, date-time) ---- */

/* "1-Feb-1994" (bare or quoted): days since 1970-01-01. */
enum imap_parse_status imap_parse_date(const char *text, size_t len, int64_t *days);
/* "17-Jul-1996 02:44:25 -0700" (APPEND): seconds since the epoch. */
enum imap_parse_status imap_parse_date_time(const char *text, size_t len, int64_t *epoch);
/* Days since the epoch of a civil date (proleptic Gregorian). */
int64_t imap_days_from_civil(int64_t year, unsigned month, unsigned day);

/* ---- FETCH attributes (RFC 3501 6.4.5) ---- */

enum imap_fetch_kind {
    IMAP_FETCH_UID,
    IMAP_FETCH_FLAGS,
    IMAP_FETCH_INTERNALDATE,
    IMAP_FETCH_RFC822_SIZE,
    IMAP_FETCH_ENVELOPE,
    IMAP_FETCH_BODYSTRUCTURE,
    IMAP_FETCH_BODY,          /* BODY without a section: the non-extensible structure */
    IMAP_FETCH_SECTION,       /* BODY[...] / BODY.PEEK[...] */
    IMAP_FETCH_RFC822,        /* = BODY[] */
    IMAP_FETCH_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
    IMAP_FETCH_RFC822_TEXT,   /* = BODY[TEXT] */
};

enum imap_section_text {
    IMAP_SECTION_ALL,        /* BODY[] or BODY[1.2] */
    IMAP_SECTION_HEADER,
    IMAP_SECTION_FIELDS,     /* HEADER.FIELDS (names) */
    IMAP_SECTION_FIELDS_NOT, /* HEADER.FIELDS.NOT (names) */
    IMAP_SECTION_TEXT,
    IMAP_SECTION_MIME,
};

struct imap_fetch_att {
    enum imap_fetch_kind kind;
    bool peek;                 /* BODY.PEEK: \Seen is not set */
    enum imap_section_text text;
    uint32_t parts[IMAP_SECTION_PARTS_MAX];
    size_t nparts;
    const char *fields;        /* FIELDS / FIELDS_NOT: the text inside the parentheses */
    size_t fields_len;
    const char *section;       /* the text between [ and ], as sent (for the response) */
    size_t section_len;
    bool partial;              /* <origin.count> */
    uint32_t origin, count;
};

/* The attribute list of FETCH: one attribute, a macro (ALL, FAST, FULL), or a list. At most
 * cap attributes; UID is not added here (UID FETCH does that). */
enum imap_parse_status imap_parse_fetch_atts(const struct imap_arg *arg,
                                             struct imap_fetch_att *out, size_t cap, size_t *n);

/* Iterates the header names of a HEADER.FIELDS list text ("From To \"X-A\""): each call
 * gives the next name; false at the end. *pos starts at 0. */
bool imap_header_names_next(const char *text, size_t len, size_t *pos, const char **name,
                            size_t *name_len);

/* ---- SEARCH keys (RFC 3501 6.4.4) ---- */

enum imap_search_kind {
    IMAP_SEARCH_ALL,
    IMAP_SEARCH_AND,        /* a parenthesised group (and the top level): `count` children */
    IMAP_SEARCH_OR,         /* two children */
    IMAP_SEARCH_NOT,        /* one child */
    IMAP_SEARCH_FLAG,       /* `flag` is set (or clear when !set): ANSWERED, UNSEEN, ... */
    IMAP_SEARCH_NEW,        /* \Recent and not \Seen */
    IMAP_SEARCH_OLD,        /* not \Recent */
    IMAP_SEARCH_KEYWORD,    /* never matches: keywords cannot be stored */
    IMAP_SEARCH_UNKEYWORD,  /* always matches */
    IMAP_SEARCH_HEADER,     /* field contains value (BCC, CC, FROM, SUBJECT, TO, HEADER) */
    IMAP_SEARCH_BODY,
    IMAP_SEARCH_TEXT,
    IMAP_SEARCH_LARGER,
    IMAP_SEARCH_SMALLER,
    IMAP_SEARCH_BEFORE,     /* internal date, by day */
    IMAP_SEARCH_ON,
    IMAP_SEARCH_SINCE,
    IMAP_SEARCH_SENTBEFORE, /* Date: header, by day */
    IMAP_SEARCH_SENTON,
    IMAP_SEARCH_SENTSINCE,
    IMAP_SEARCH_SEQSET,     /* message sequence numbers */
    IMAP_SEARCH_UIDSET,
};

/* Nodes are flat in document order like arguments: next sibling = node + 1 + span. */
struct imap_search_node {
    enum imap_search_kind kind;
    uint32_t span;
    uint32_t count;       /* AND: children */
    uint32_t flag;        /* FLAG: one enum mailbox_flag bit */
    bool set;             /* FLAG: wanted set (ANSWERED) or clear (UNANSWERED) */
    const char *field;    /* HEADER: the field name */
    size_t field_len;
    const char *value;    /* HEADER/BODY/TEXT: the string; SEQSET/UIDSET: the set text */
    size_t value_len;
    uint64_t number;      /* LARGER/SMALLER */
    int64_t day;          /* dates: days since the epoch */
};

struct imap_search {
    const char *charset;  /* CHARSET argument, or NULL */
    size_t charset_len;
    struct imap_search_node *nodes; /* nodes[0] is the top-level AND */
    size_t nnodes;
};

/* Parses SEARCH's arguments (args[0..nargs) top-level) into at most cap nodes; depth bounds
 * NOT/OR/group nesting. IMAP_PARSE_UNKNOWN for an unknown key or a charset other than
 * UTF-8/US-ASCII (the caller answers [BADCHARSET]: out->charset says which). */
enum imap_parse_status imap_parse_search(const struct imap_arg *args, size_t nargs,
                                         unsigned max_depth, struct imap_search_node *nodes,
                                         size_t cap, struct imap_search *out);

#endif
