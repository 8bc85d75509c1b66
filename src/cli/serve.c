/* postern [--config FILE] [--log-format logfmt|json] [--log-level LEVEL]: runs the server. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "config/config.h"
#include "log/log.h"
#include "net/server.h"

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: postern [--config FILE] [--log-format logfmt|json] "
                 "[--log-level debug|info|warn|error] [--log-file FILE]\n"
                 "Starts the server; without --config it runs the embedded default\n"
                 "configuration (see 'postern check' to print it).\n");
}

static bool parse_level(const char *name, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-format", required_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-file", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = NULL, *log_file = NULL;
    enum log_format format = LOG_FORMAT_LOGFMT;
    enum log_level level = LOG_INFO;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'f':
            if (!log_format_parse(optarg, &format)) {
                fprintf(stderr, "postern: unknown log format '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'l':
            if (!parse_level(optarg, &level)) {
                fprintf(stderr, "postern: unknown log level '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'o': log_file = optarg; break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        serve_usage(stderr);
        return EXIT_USAGE;
    }
    log_setup(format, level, 2);
    if (log_file && !log_open_file(log_file)) {
        fprintf(stderr, "postern: cannot open log file %s\n", log_file);
        return 1;
    }
    struct config *config = config_load_file(config_path, stderr);
    if (!config) {
        fprintf(stderr, "postern: not starting: the configuration has errors\n");
        return 1;
    }
    return server_run(config);
}
