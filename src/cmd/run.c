/*
 * run.c: `backlogd run`, the daemon.
 *
 * Validates options and config before any Kafka handle exists, installs
 * SIGTERM/SIGINT handlers that only set a flag, and hands over to the
 * pipeline (pipeline/run.c). Until the backlog lands, valid events end at a
 * sink that counts them by type: the ingest stage (decode, validate,
 * dead-letter, commit) runs for real, and the counts in the final log line
 * say what it handed on.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "ops/log.h"
#include "pipeline/run.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo) {
        (void)signo;
        stop_requested = 1;
}

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd run [-c FILE]\n"
                     "\n"
                     "Joins the consumer group (group_id) on tasks.events and tasks.results,\n"
                     "decodes each record with its writer schema, projects it onto the newest\n"
                     "TaskEvent contract and checks the contract's rules; a record that fails\n"
                     "goes to backlog.dlq with the reason, a registry that does not answer\n"
                     "pauses the partition until it does. Offsets are committed once the\n"
                     "batch's dead letters are acknowledged. Refuses to start when the topics\n"
                     "are missing or not as 'backlogd topics create' makes them.\n"
                     "SIGTERM or SIGINT: finish the batch, commit, leave the group, exit 0.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "  -h, --help         this help\n");
}

typedef struct event_counts_s {
        unsigned long long by_type[BL_EVENT__COUNT];
} event_counts_t;

static bl_err_t count_event(void *opaque, const bl_task_event_t *event, const bl_input_ref_t *source) {
        event_counts_t *counts = opaque;
        (void)source;
        counts->by_type[event->event_type]++;
        return BL_OK;
}

static void log_counts(const event_counts_t *counts) {
        char line[512];
        size_t used = 0;
        for (int type = 0; type < BL_EVENT__COUNT && used < sizeof(line); type++)
                used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s=%llu", type ? " " : "",
                                         bl_event_type_name((bl_event_type_t)type), counts->by_type[type]);
        bl_log_info("run", "valid events by type: %s", line);
}

static void install_signal_handlers(void) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGINT, &action, NULL);
}

int bl_cmd_run(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *path = NULL;
        event_counts_t counts = {{0}};
        bl_ingest_sink_t sink = {count_event, &counts};
        bl_config_t *config;
        int opt, status;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'c': path = optarg; break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("run", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("run", "unexpected argument '%s'", argv[optind]);
        config = bl_cmd_load_config(path);
        if (!config)
                return BL_EXIT_FAILURE;
        install_signal_handlers();
        status = bl_pipeline_run(config, &sink, &stop_requested);
        log_counts(&counts);
        bl_config_destroy(config);
        return status;
}
