/*
 * Names: which folder names IMAP may use and where they live on disk, and message file names
 * with their Maildir flag suffix.
 */
#include "store/mailbox_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "store/maildir.h"

#define INBOX_NAME "INBOX"
#define INBOX_LEN 5
/* Room a folder path must leave for "/cur/" and the longest message name. */
#define MESSAGE_PATH_ROOM (MESSAGE_NAME_BUF + 8)

/* ---- Folder names ---- */

static bool mutf7_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == ',';
}

/* Modified UTF-7 (RFC 3501 5.1.3): "&-" is '&', otherwise '&' opens base64 that '-' closes.
 * Only the shape is checked; the UTF-16 inside is the client's business. */
static const char *mutf7_problem(const char *name)
{
    for (const char *p = name; *p; p++) {
        if (*p != '&')
            continue;
        p++;
        while (mutf7_base64_char(*p))
            p++;
        if (*p != '-')
            return "mailbox name is not valid modified UTF-7 (unterminated '&')";
    }
    return NULL;
}

static const char *byte_problem(unsigned char c)
{
    if (c == '/')
        return "mailbox name contains '/'";
    if (c < 0x20 || c == 0x7f)
        return "mailbox name contains a control character";
    if (c >= 0x80)
        return "mailbox name contains 8-bit characters (use modified UTF-7)";
    if (c == '*' || c == '%')
        return "mailbox name contains a LIST wildcard ('*' or '%')";
    return NULL;
}

const char *mailbox_name_problem(const char *name)
{
    if (!name || !*name)
        return "empty mailbox name";
    size_t len = strlen(name);
    if (len > MAILBOX_NAME_MAX)
        return "mailbox name too long";
    if (name[0] == '.')
        return "mailbox name starts with '.'";
    if (name[len - 1] == '.' || strstr(name, ".."))
        return "mailbox name has an empty hierarchy level";
    for (const char *p = name; *p; p++) {
        const char *why = byte_problem((unsigned char)*p);
        if (why)
            return why;
    }
    return mutf7_problem(name);
}

/* INBOX is case-insensitive (RFC 3501 5.1), also as the first level of a longer name. */
void mbox_canonical_name(const char *name, char out[MAILBOX_NAME_MAX + 1])
{
    snprintf(out, MAILBOX_NAME_MAX + 1, "%s", name);
    if (strncasecmp(out, INBOX_NAME, INBOX_LEN) == 0 &&
        (out[INBOX_LEN] == '\0' || out[INBOX_LEN] == '.'))
        memcpy(out, INBOX_NAME, INBOX_LEN);
}

bool mbox_folder_path(char out[PATH_MAX], const char *account_dir, const char *name)
{
    int n = strcmp(name, INBOX_NAME) == 0
                ? snprintf(out, PATH_MAX, "%s", account_dir)
                : snprintf(out, PATH_MAX, "%s/.%s", account_dir, name);
    return n > 0 && (size_t)n + MESSAGE_PATH_ROOM < PATH_MAX;
}

int mbox_folder_locate_in(struct folder *f, const char *account_dir, const char *name, char *err,
                          size_t errlen)
{
    const char *why = mailbox_name_problem(name);
    if (why)
        return error_text(err, errlen, "%s", why);
    mbox_canonical_name(name, f->name);
    f->inbox = strcmp(f->name, INBOX_NAME) == 0;
    if (snprintf(f->account_dir, sizeof f->account_dir, "%s", account_dir) >= PATH_MAX ||
        !mbox_folder_path(f->path, f->account_dir, f->name))
        return error_text(err, errlen, "path too long for mailbox %s", f->name);
    return 0;
}

int mbox_folder_locate(struct folder *f, const char *data_dir, const char *account,
                       const char *name, char *err, size_t errlen)
{
    char account_dir[PATH_MAX];
    const char *why = maildir_account_problem(account);
    if (why)
        return error_text(err, errlen, "%s: \"%s\"", why, account);
    if (!mbox_path(account_dir, data_dir, account, NULL))
        return error_text(err, errlen, "path too long for account %s", account);
    if (mbox_folder_locate_in(f, account_dir, name, err, errlen) != 0)
        return -1;
    /* INBOX exists from the first use on, whoever comes first (IMAP or SMTP delivery). */
    return maildir_ensure(data_dir, account, err, errlen);
}

bool mbox_folder_exists(const struct folder *f)
{
    char cur[PATH_MAX];
    struct stat st;
    return mbox_path(cur, f->path, "cur", NULL) && stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
}

int mbox_folder_open(struct folder *f, const char *data_dir, const char *account, const char *name,
                     char *err, size_t errlen)
{
    if (mbox_folder_locate(f, data_dir, account, name, err, errlen) != 0)
        return -1;
    if (!mbox_folder_exists(f))
        return error_text(err, errlen, "mailbox %s does not exist", f->name);
    return 0;
}

int mbox_folder_sibling(struct folder *f, const struct folder *of, const char *name, char *err,
                        size_t errlen)
{
    if (mbox_folder_locate_in(f, of->account_dir, name, err, errlen) != 0)
        return -1;
    if (!mbox_folder_exists(f))
        return error_text(err, errlen, "mailbox %s does not exist", f->name);
    return 0;
}

bool mailbox_folder_exists(const char *data_dir, const char *account, const char *name)
{
    struct folder f;
    return mbox_folder_locate(&f, data_dir, account, name, NULL, 0) == 0 && mbox_folder_exists(&f);
}

/* ---- Message file names ---- */

/* Maildir info letters and our flags; the letters are in ASCII order. */
static const struct {
    char letter;
    uint32_t flag;
} flag_letters[] = {
    {'D', MAILBOX_DRAFT}, {'F', MAILBOX_FLAGGED}, {'R', MAILBOX_ANSWERED},
    {'S', MAILBOX_SEEN},  {'T', MAILBOX_DELETED},
};
#define FLAG_LETTERS (sizeof flag_letters / sizeof flag_letters[0])
#define INFO_PREFIX ":2,"
#define INFO_PREFIX_LEN 3

bool msgfile_acceptable(const char *name)
{
    if (name[0] == '.' || name[0] == ':' || name[0] == '\0')
        return false;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++, len++) {
        if (*p < 0x20 || *p == 0x7f || len >= MESSAGE_NAME_MAX)
            return false;
    }
    return true;
}

size_t msgfile_base_length(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? (size_t)(colon - name) : strlen(name);
}

static uint32_t flag_of_letter(char c)
{
    for (size_t i = 0; i < FLAG_LETTERS; i++) {
        if (flag_letters[i].letter == c)
            return flag_letters[i].flag;
    }
    return 0;
}

uint32_t msgfile_flags(const char *name, size_t base_len)
{
    const char *info = name + base_len;
    if (strncmp(info, INFO_PREFIX, INFO_PREFIX_LEN) != 0)
        return 0;
    uint32_t flags = 0;
    for (const char *p = info + INFO_PREFIX_LEN; *p; p++)
        flags |= flag_of_letter(*p);
    return flags;
}

int msgfile_with_flags(char out[MESSAGE_NAME_BUF], const char *name, size_t base_len,
                       uint32_t flags)
{
    bool letters[128] = {false};
    const char *info = name + base_len;
    if (strncmp(info, INFO_PREFIX, INFO_PREFIX_LEN) == 0) {
        for (const unsigned char *p = (const unsigned char *)info + INFO_PREFIX_LEN; *p; p++) {
            if (*p > 0x20 && *p < 0x7f && *p != ',' && !flag_of_letter((char)*p))
                letters[*p] = true;
        }
    }
    for (size_t i = 0; i < FLAG_LETTERS; i++) {
        if (flags & flag_letters[i].flag)
            letters[(unsigned char)flag_letters[i].letter] = true;
    }
    if (base_len > MESSAGE_NAME_MAX)
        return -1;
    size_t n = base_len;
    memcpy(out, name, base_len);
    memcpy(out + n, INFO_PREFIX, INFO_PREFIX_LEN);
    n += INFO_PREFIX_LEN;
    for (int c = 0; c < 128; c++) {
        if (letters[c])
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return n > MESSAGE_NAME_MAX ? -1 : 0;
}

void msgfile_path(char out[PATH_MAX], const struct folder *f, const char *name, bool in_new)
{
    /* mbox_folder_locate left room for any message name (MESSAGE_PATH_ROOM) */
    mbox_path(out, f->path, in_new ? "new" : "cur", name);
}
