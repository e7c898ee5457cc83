/*
 * run.c: `backlogd run`, the daemon.
 *
 * Validates options and config before any Kafka handle exists, installs
 * SIGTERM/SIGINT handlers that only set a flag, and hands over to the
 * pipeline (pipeline/run.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "base/log.h"
#include "pipeline/run.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static unsigned grace_seconds = 25;

/* The grace period ran out: the shutdown is stuck (a broker that does not answer). */
static void on_alarm(int signo) {
        static const char message[] = "{\"level\":\"error\",\"module\":\"run\",\"msg\":\"shutdown.grace_ms "
                                      "passed before the shutdown finished; exiting\"}\n";
        (void)signo;
        if (write(STDERR_FILENO, message, sizeof(message) - 1) < 0)
                _exit(1);
        _exit(1);
}

static void on_signal(int signo) {
        if (signo == SIGHUP) {
                reload_requested = 1;
                return;
        }
        if (!stop_requested)
                alarm(grace_seconds); /* the first stop signal starts the grace period */
        stop_requested = 1;
}

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd run [-c FILE]\n"
                     "\n"
                     "Joins the consumer group (group_id) on tasks.events, tasks.results and\n"
                     "backlog.deps, restores its partitions from backlog.state, validates each\n"
                     "event against its contract (failures go to backlog.dlq with the reason),\n"
                     "moves tasks through the state machine, dispatches READY tasks to\n"
                     "dispatch.<domain>, and commits each batch's outputs with its input\n"
                     "offsets in one transaction. Refuses to start when the topics are\n"
                     "missing or not as 'backlogd topics create' makes them.\n"
                     "SIGTERM or SIGINT: finish the batch, commit, leave the group, exit 0.\n"
                     "SIGHUP: read policy.file again (a bad policy is refused, the running one stays).\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "  -h, --help         this help\n");
}

static void install_signal_handlers(void) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGINT, &action, NULL);
        sigaction(SIGHUP, &action, NULL);
        action.sa_handler = on_alarm;
        sigaction(SIGALRM, &action, NULL);
}

int bl_cmd_run(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *path = NULL;
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
        grace_seconds = (unsigned)((config->shutdown_grace_ms + 999) / 1000);
        install_signal_handlers();
        status = bl_pipeline_run(config, &stop_requested, &reload_requested);
        bl_config_destroy(config);
        return status;
}
