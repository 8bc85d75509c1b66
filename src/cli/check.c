/* postern check: validates a configuration and shows what postern would listen on. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "config/config.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1 };

static void usage(FILE *out)
{
    fprintf(out, "usage: postern check [--config FILE]\n"
                 "Validates FILE (without --config, the embedded default) and prints the\n"
                 "effective listeners and settings. Warnings and errors go to stderr.\n"
                 "Exit status: 0 valid, 1 invalid, 64 usage.\n");
}

int cmd_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return EXIT_VALID;
        }
        if (opt != 'c') {
            usage(stderr);
            return EXIT_USAGE;
        }
        path = optarg;
    }
    if (optind != argc) {
        fprintf(stderr, "postern check: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    struct config *config = config_load_file(path, stderr);
    if (!config) {
        fprintf(stderr, "postern check: %s: configuration is not valid\n",
                path ? path : "<embedded default>");
        return EXIT_INVALID;
    }
    config_describe(config, stdout);
    config_free(config);
    return EXIT_VALID;
}
