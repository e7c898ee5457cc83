/*
 * config.c: `backlogd config check [FILE]` and `backlogd config reference`.
 *
 * check loads the file the way `run` would (defaults, file, environment) and
 * prints either the effective configuration with the source of every value,
 * secrets masked, or every problem found; reference prints the configuration
 * reference generated from the key table (docs/configuration.md is its
 * output, compared by a test).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd config check [FILE] [--json]\n"
                     "       backlogd config reference\n"
                     "\n"
                     "check      load FILE (else $BACKLOGD_CONFIG, else the defaults) with the\n"
                     "           BACKLOGD_... environment overrides, and print the effective\n"
                     "           configuration with each value's source, secrets masked; or\n"
                     "           print every problem (key and reason) and exit 1\n"
                     "reference  print the configuration reference (Markdown)\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  the file to check (same as the FILE argument)\n"
                     "      --json         print the effective configuration as JSON\n"
                     "  -h, --help         this help\n");
}

static int config_check(int argc, char **argv) {
        const char *path;
        bool as_json;
        bl_config_t *config;
        int early;
        if ((early = bl_cmd_parse_options("config", argc, argv, usage, &path, &as_json, NULL)) >= 0)
                return early;
        if (optind < argc)
                path = argv[optind++];
        if (optind < argc)
                return bl_cmd_usage_error("config", "unexpected argument '%s'", argv[optind]);

        config = bl_cmd_load_config(path);
        if (!config) {
                fprintf(stderr, "backlogd: config %s is not usable (see the errors above)\n",
                        bl_cmd_config_path(path) ? bl_cmd_config_path(path) : "(defaults)");
                return BL_EXIT_FAILURE;
        }
        bl_config_print(config, stdout, as_json);
        bl_config_destroy(config);
        return BL_EXIT_OK;
}

int bl_cmd_config(int argc, char **argv) {
        if (argc < 2)
                return bl_cmd_usage_error("config", "missing action: check or reference");
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (!strcmp(argv[1], "check"))
                return config_check(argc - 1, argv + 1);
        if (!strcmp(argv[1], "reference")) {
                if (argc > 2)
                        return bl_cmd_usage_error("config", "unexpected argument '%s'", argv[2]);
                bl_config_write_reference(stdout);
                return BL_EXIT_OK;
        }
        return bl_cmd_usage_error("config", "unknown action '%s': expected check or reference", argv[1]);
}
