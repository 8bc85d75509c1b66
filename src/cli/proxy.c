/* postern proxy: the codec's command-line face, and the input helpers its commands share. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

int cmd_proxy(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "decode") == 0)
        return cmd_proxy_decode(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "encode") == 0)
        return cmd_proxy_encode(argc - 1, argv + 1);
    fprintf(argc >= 2 ? stderr : stdout,
            "usage: postern proxy decode [--hex] [FILE]   show a header as JSON\n"
            "       postern proxy encode [OPTIONS]        write a header (see --help)\n");
    return argc >= 2 ? EXIT_USAGE : 0;
}

long read_stream(const char *path, unsigned char *buf, size_t cap)
{
    FILE *in = path && strcmp(path, "-") != 0 ? fopen(path, "rb") : stdin;
    if (!in)
        return -1;
    size_t len = fread(buf, 1, cap, in);
    bool failed = ferror(in);
    if (in != stdin)
        fclose(in);
    return failed ? -1 : (long)len;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long hex_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int high = -1;
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)text[i]))
            continue;
        int v = hex_value((unsigned char)text[i]);
        if (v < 0)
            return -1;
        if (high < 0) {
            high = v;
            continue;
        }
        if (n == cap)
            return -1;
        out[n++] = (unsigned char)(high << 4 | v);
        high = -1;
    }
    return high < 0 ? (long)n : -1;
}
