/* postern: entry point and subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "version.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("postern %s\n", POSTERN_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "run the server (the default without a command)"},
    {"reload", cmd_reload, "make the running instance re-read its configuration"},
    {"proxy", cmd_proxy, "decode or encode PROXY protocol headers"},
    {"check", cmd_check, "validate a configuration and show its listeners"},
    {"hash-password", cmd_hash_password, "print a password hash for [[directory.accounts]]"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show this help"},
};

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: postern [--config FILE] [--log-format logfmt|json]\n"
           "       postern COMMAND [ARGS...]\n\n"
           "Without a command postern starts the server.\n\n"
           "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argv[1][0] == '-' && strcmp(argv[1], "--help") != 0 &&
                     strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--version") != 0))
        return cmd_serve(argc, argv);
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0)
        name = "version";
    else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "postern: unknown command '%s' (see 'postern help')\n", argv[1]);
    return EXIT_USAGE;
}
