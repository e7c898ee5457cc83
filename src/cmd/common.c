/*
 * common.c: what every subcommand does the same way: find and load the
 * config, print its problems, report usage errors.
 *
 * Main thread, before any Kafka handle exists.
 */
#include "cmd/cmd.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"

extern char **environ;

static void print_problem(const char *key, const char *reason, bool fatal, void *opaque) {
        (void)opaque;
        fprintf(stderr, "backlogd: config %s: %s: %s\n", fatal ? "error" : "warning", key, reason);
}

const char *bl_cmd_config_path(const char *path) {
        const char *from_env = getenv("BACKLOGD_CONFIG");
        if (path)
                return path;
        return from_env && *from_env ? from_env : NULL;
}

bl_config_t *bl_cmd_load_config(const char *path) {
        bl_config_t *config = bl_config_load(bl_cmd_config_path(path), environ, print_problem, NULL);
        if (config)
                bl_log_set_level((bl_log_level_t)config->log_level);
        return config;
}

int bl_cmd_parse_options(const char *command, int argc, char **argv, void (*usage)(FILE *out), const char **path,
                         bool *as_json, bool *dry_run) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"dry-run", no_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        int opt;
        *path = NULL;
        *as_json = false;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'c': *path = optarg; break;
                case 'j': *as_json = true; break;
                case 'n':
                        if (!dry_run)
                                return bl_cmd_usage_error(command, "--dry-run is not an option of this command");
                        *dry_run = true;
                        break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error(command, "bad option");
                }
        }
        return -1;
}

int bl_cmd_usage_error(const char *command, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "backlogd %s: ", command);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'backlogd %s --help'.\n", command);
        return BL_EXIT_USAGE;
}
