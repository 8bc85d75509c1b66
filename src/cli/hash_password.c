/* postern hash-password: prints a crypt(3) hash of a password for [[directory.accounts]]. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/directory.h"
#include "cli/commands.h"

enum { EXIT_HASHED = 0, EXIT_FAILED = 1 };

#define STRINGIFY(x) #x
#define TEXT_OF(x) STRINGIFY(x)
#define PASSWORD_MAX_TEXT TEXT_OF(PASSWORD_MAX)

static void usage(FILE *out)
{
    fprintf(out, "usage: postern hash-password [--scheme yescrypt|sha512|bcrypt] "
                 "[--password-stdin]\n"
                 "Reads one line (the password) from stdin and prints its crypt(3) hash, for\n"
                 "the secret of a [[directory.accounts]] table. The default scheme is yescrypt.\n"
                 "On a terminal the password is asked for without echo.\n"
                 "Exit status: 0 printed, 1 error, 64 usage.\n");
}

/* Reads the first line of stdin into buf; false when there is none or it is too long. */
static bool read_password(char *buf, size_t cap, const char **why)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios saved, quiet;
    bool echo_off = tty && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (echo_off) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    if (tty)
        fputs("Password: ", stderr);
    bool got = fgets(buf, (int)cap, stdin) != NULL;
    if (echo_off) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (!got) {
        *why = "no password on stdin";
        return false;
    }
    size_t len = strlen(buf);
    if (len == cap - 1 && buf[len - 1] != '\n' && !feof(stdin)) {
        *why = "the password is longer than " PASSWORD_MAX_TEXT " bytes";
        return false;
    }
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (buf[0] == '\0') {
        *why = "the password is empty";
        return false;
    }
    return true;
}

static int parse_options(int argc, char **argv, enum password_scheme *scheme)
{
    static const struct option options[] = {
        {"scheme", required_argument, NULL, 's'},
        {"password-stdin", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return EXIT_HASHED;
        }
        if (opt == 's' && !password_scheme_parse(optarg, scheme)) {
            fprintf(stderr, "postern hash-password: unknown scheme '%s' (yescrypt, sha512 or "
                            "bcrypt)\n", optarg);
            return EXIT_USAGE;
        }
        if (opt != 's' && opt != 'p') {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "postern hash-password: unexpected argument '%s' (the password is "
                        "read from stdin, never from the command line)\n", argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

int cmd_hash_password(int argc, char **argv)
{
    enum password_scheme scheme = PASSWORD_YESCRYPT;
    int status = parse_options(argc, argv, &scheme);
    if (status >= 0)
        return status;
    char password[PASSWORD_MAX + 2]; /* the line, its newline, the NUL */
    char hash[PASSWORD_HASH_MAX];
    const char *why = NULL;
    if (!read_password(password, sizeof password, &why)) {
        fprintf(stderr, "postern hash-password: %s\n", why);
        status = EXIT_FAILED;
    } else if (!directory_hash_password_with(scheme, password, hash, sizeof hash)) {
        fprintf(stderr, "postern hash-password: hashing failed (libcrypt)\n");
        status = EXIT_FAILED;
    } else {
        if (scheme == PASSWORD_BCRYPT && strlen(password) > PASSWORD_BCRYPT_MAX)
            fprintf(stderr, "postern hash-password: warning: bcrypt uses only the first %d "
                            "bytes of the password\n", PASSWORD_BCRYPT_MAX);
        printf("%s\n", hash);
        status = EXIT_HASHED;
    }
    explicit_bzero(password, sizeof password);
    return status;
}
