/* postern reload [--config FILE]: asks the running instance to re-read its configuration. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "config/config.h"
#include "net/server.h"

static void reload_usage(FILE *out)
{
    fprintf(out, "usage: postern reload [--config FILE]\n"
                 "Sends SIGHUP to the postern running with this configuration (found through\n"
                 "DATA_DIR/%s). It re-reads the file; if the file has errors the running\n"
                 "configuration stays and the errors are logged.\n",
            SERVER_PID_FILE);
}

static long read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 1)
        pid = -1;
    fclose(f);
    return pid;
}

int cmd_reload(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'h': reload_usage(stdout); return 0;
        default: reload_usage(stderr); return EXIT_USAGE;
        }
    }
    /* The file is checked here too, so the operator sees errors at once. */
    struct config *config = config_load_file(config_path, stderr);
    if (!config) {
        fprintf(stderr, "postern reload: the configuration has errors; not reloading\n");
        return 1;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", config->data_dir, SERVER_PID_FILE);
    config_free(config);
    long pid = read_pid(path);
    if (pid < 0) {
        fprintf(stderr, "postern reload: no running instance (cannot read %s)\n", path);
        return 1;
    }
    if (kill((pid_t)pid, SIGHUP) < 0) {
        fprintf(stderr, "postern reload: cannot signal pid %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    printf("postern reload: sent SIGHUP to pid %ld\n", pid);
    return 0;
}
