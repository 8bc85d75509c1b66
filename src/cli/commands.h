/* Subcommands of the postern program. Each returns the process exit status. */
#ifndef POSTERN_CLI_COMMANDS_H
#define POSTERN_CLI_COMMANDS_H

#define EXIT_USAGE 64 /* sysexits.h EX_USAGE */

int cmd_serve(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_hash_password(int argc, char **argv);
int cmd_proxy_decode(int argc, char **argv);
int cmd_proxy_encode(int argc, char **argv);

/* Reads a whole stream into buf (at most cap bytes); returns the length or -1 on error. */
long read_stream(const char *path, unsigned char *buf, size_t cap);
/* Decodes hex text, ignoring white space; returns the byte count or -1 on a bad character. */
long hex_decode(const char *text, size_t len, unsigned char *out, size_t cap);

#endif
