/*
 * The SMTP service's private interface: the session ledger shared by smtp_session.c (state,
 * input dispatch), smtp_commands.c (the command table), smtp_auth.c (AUTH exchanges) and
 * smtp_data.c (DATA/BDAT, the Received header, delivery).
 */
#ifndef POSTERN_SMTP_INTERNAL_H
#define POSTERN_SMTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/directory.h"
#include "net/conn.h"
#include "smtp/smtp_parse.h"

struct config;

/* Command line limits (CRLF included). RFC 5321 4.5.3.1.4: 512, "extensions may increase". */
#define SMTP_COMMAND_LINE_MAX 512
/* MAIL with every parameter we offer at its longest: SIZE (RFC 1870: +26), AUTH= (RFC 4954:
 * +500), BODY=BINARYMIME, SMTPUTF8. UTF-8 addresses need no more: path limits are octets. */
#define SMTP_MAIL_LINE_MAX (SMTP_COMMAND_LINE_MAX + 26 + 500 + 17 + 9)
/* AUTH lines: RFC 4954 allows 12288, but our credentials are bounded (SMTP_AUTH_DECODED_MAX)
 * and a line must fit the core's CONN_INPUT_CAPACITY input buffer. */
#define SMTP_AUTH_LINE_MAX 2560
/* The longest line of any kind: past this without LF, the line is discarded up to its LF. */
#define SMTP_LINE_WAIT_MAX SMTP_AUTH_LINE_MAX
/* The first allocation of a message buffer; it doubles up to the size limit. */
#define SMTP_MESSAGE_INITIAL 16384
#define SMTP_QUEUE_ID_MAX 24

/*
 * Protocol states. Every change goes through smtp_set_state(), which traces old -> new at
 * debug level. The "command" states read command lines; the others own the input.
 */
enum smtp_state {
    SMTP_CONNECTED,   /* greeted, no HELO/EHLO yet (again after STARTTLS) */
    SMTP_READY,       /* HELO/EHLO done, no transaction */
    SMTP_MAIL,        /* MAIL accepted, no recipient yet */
    SMTP_RCPT,        /* at least one recipient accepted */
    SMTP_BDAT_MORE,   /* between BDAT chunks of one message */
    SMTP_DATA,        /* reading DATA text up to CRLF.CRLF */
    SMTP_BDAT,        /* reading a BDAT chunk's exact octets */
    SMTP_AUTH_PLAIN,  /* 334 sent, waiting for the PLAIN response */
    SMTP_AUTH_LOGIN_USER, /* 334 Username: sent */
    SMTP_AUTH_LOGIN_PASS, /* 334 Password: sent */
    SMTP_STARTTLS,    /* 220 sent, the core runs the handshake */
    SMTP_CLOSING,     /* QUIT or a farewell: nothing more is read */
    SMTP_STATE_COUNT,
};

#define SMTP_STATE_BIT(s) (1u << (s))
#define SMTP_COMMAND_STATES                                                                   \
    (SMTP_STATE_BIT(SMTP_CONNECTED) | SMTP_STATE_BIT(SMTP_READY) | SMTP_STATE_BIT(SMTP_MAIL) | \
     SMTP_STATE_BIT(SMTP_RCPT) | SMTP_STATE_BIT(SMTP_BDAT_MORE))

/* Why the session must end after the current reply (acted upon by the input loop). */
enum smtp_ending {
    SMTP_END_NONE,
    SMTP_END_BANNED,        /* conn_report_failure() started a ban */
    SMTP_END_ERRORS,        /* more than session.max-errors */
    SMTP_END_COMMANDS,      /* more than session.max-commands-before-mail */
};

/* One mail transaction: from MAIL to the end of its message (or RSET). */
struct smtp_txn {
    char *from;                        /* reverse-path address ("" for <>), NUL-terminated */
    enum smtp_body body;
    bool smtputf8;
    bool used_bdat;                    /* BDAT and DATA must not mix (RFC 3030 2) */
    bool too_large;                    /* over max_message_size: drained, never stored */
    bool out_of_memory;
    uint32_t nrcpt;                    /* accepted RCPTs, duplicates included */
    const struct account **accounts;   /* distinct accounts to deliver to */
    uint32_t naccounts;
    size_t accounts_cap;
    uint8_t *msg;                      /* message text as received, CRLF line ends */
    size_t msg_len, msg_cap;
    uint64_t received;                 /* octets of message text seen, stored or not */
    struct smtp_dot_decoder dot;       /* DATA transparency across reads */
};

/* The session ledger: small while idle (the transaction is allocated by MAIL). */
struct smtp_session {
    const struct config *config;
    enum smtp_state state;
    enum smtp_ending ending;
    bool extended;                     /* EHLO (not HELO) */
    bool discarding;                   /* an over-long line is being skipped to its LF */
    uint32_t errors;                   /* error replies so far */
    uint32_t commands_without_mail;    /* commands since connect or the last MAIL */
    char *helo;                        /* the HELO/EHLO name */
    const struct account *account;     /* the authenticated account, or NULL */
    char *auth_login;                  /* AUTH LOGIN: the name between the two steps */
    struct smtp_txn *txn;
    uint64_t chunk_left;               /* BDAT: octets of the current chunk still to read */
    bool chunk_last;                   /* BDAT ... LAST */
    const char *chunk_error;           /* BDAT: reply after draining a refused chunk */
    enum smtp_state chunk_return;      /* state after a refused chunk */
    char *delayed_reply;               /* an error reply waiting for the session timer */
    bool awaiting_job;                 /* a delivery or password check runs: input waits */
    char *auth_pending_login;          /* while the password hash runs */
    const char *auth_pending_mechanism;
};

/* ---- smtp_session.c ---- */
void smtp_set_state(struct smtp_session *s, const struct conn *conn, enum smtp_state next);
/* A reply line ("250 2.0.0 OK"); CRLF is added. */
void smtp_reply(struct conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error reply the client caused: counts towards session.max-errors. */
void smtp_reply_error(struct smtp_session *s, struct conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * An error reply sent after a random delay (SMTP_FAILURE_DELAY_*), with further input held
 * back until then: password guessing gets slow without a thread ever sleeping.
 */
void smtp_reply_error_later(struct smtp_session *s, struct conn *conn, const char *text);
#define SMTP_FAILURE_DELAY_MIN_MS 250
#define SMTP_FAILURE_DELAY_SPREAD_MS 500

/* Drops the transaction (RSET, HELO/EHLO, after delivery); back to READY when in one. */
void smtp_reset_transaction(struct smtp_session *s, const struct conn *conn);
/* A relay attempt or other abuse: counted against the real client; may end the session. */
void smtp_report_abuse(struct smtp_session *s, struct conn *conn);
bool smtp_is_secure(const struct conn *conn);

/* ---- smtp_commands.c ---- */
/* One complete command line (without CRLF) in a command state. */
void smtp_command(struct smtp_session *s, struct conn *conn, const char *line, size_t len);

/* ---- smtp_auth.c ---- */
/* AUTH <mechanism> [initial-response] */
void smtp_auth_start(struct smtp_session *s, struct conn *conn, const struct smtp_slice *arg);
/* A response line in one of the AUTH states. */
void smtp_auth_response(struct smtp_session *s, struct conn *conn, const char *line, size_t len);
/* Forgets a half-finished exchange (the login name kept between AUTH LOGIN steps). */
void smtp_auth_clear(struct smtp_session *s);

/* ---- smtp_data.c ---- */
/* DATA was accepted: 354 and read text. */
void smtp_data_start(struct smtp_session *s, struct conn *conn);
/* BDAT size [LAST]; error is NULL to accept the chunk, else the reply after draining it. */
void smtp_bdat_start(struct smtp_session *s, struct conn *conn, uint64_t size, bool last,
                     const char *error);
/* Input in SMTP_DATA / SMTP_BDAT: returns the bytes consumed. */
size_t smtp_data_input(struct smtp_session *s, struct conn *conn, const uint8_t *data,
                       size_t len);
size_t smtp_bdat_input(struct smtp_session *s, struct conn *conn, const uint8_t *data,
                       size_t len);
void smtp_txn_free(struct smtp_txn *txn);

#endif
