/*
 * main.c: the backlogd binary: one table of subcommands and the dispatch.
 *
 * Every subcommand of SPEC §8 is listed here, in the order a new user meets
 * them. A subcommand whose implementation has not landed yet has no function:
 * it is listed by --help as not yet available, and calling it says so on
 * stderr and exits 2, so a script never mistakes it for a working command.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

typedef struct command_s {
        const char *name;
        const char *synopsis;
        int (*run)(int argc, char **argv);
        const char *summary;
} command_t;

static const command_t commands[] = {
        {"run", "run", bl_cmd_run, "consume, validate, schedule and dispatch tasks (the daemon)"},
        {"demo", "demo", bl_cmd_demo, "the whole pipeline on an embedded Kafka, with a live view"},
        {"produce", "produce", bl_cmd_produce, "publish TaskEvents read as JSON lines to tasks.events"},
        {"topics", "topics create", bl_cmd_topics, "create the topics, check the existing ones"},
        {"contracts", "contracts check", bl_cmd_contracts, "prove every contract version backward compatible"},
        {"inspect", "inspect", bl_cmd_inspect, "backlog counts by state and domain, oldest age per state"},
        {"audit", "audit TASK_ID", bl_cmd_audit, "one task's history, each step with its cause"},
        {"replay", "replay --verify", bl_cmd_replay, "rebuild state from backlog.transitions; compare"},
        {"dlq", "dlq list|redrive", bl_cmd_dlq, "show the dead-letter queue; republish chosen records"},
        {"policy", "policy check|publish", bl_cmd_policy, "validate a scheduling policy; publish it"},
        {"config", "config check|reference", bl_cmd_config, "validate a config file; print the reference"},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd <command> [options]\n"
                     "\n"
                     "backlogd governs the backlog of an AI/ML platform on Kafka: it validates task\n"
                     "events against Avro data contracts, keeps each task's state event-sourced,\n"
                     "scores ready tasks with a policy and dispatches them per domain, holding back\n"
                     "domains whose workers lag.\n"
                     "\n"
                     "Commands:\n");
        for (size_t i = 0; i < COMMAND_COUNT; i++)
                fprintf(out, "  %-24s %s%s\n", commands[i].synopsis, commands[i].summary,
                        commands[i].run ? "" : " (not in this build yet)");
        fprintf(out, "\n"
                     "Options:\n"
                     "  -h, --help     this help; 'backlogd <command> --help' for a command's own\n"
                     "  -V, --version  print the version and the libraries it runs on (librdkafka, ...)\n"
                     "\n"
                     "Configuration: --config FILE or $BACKLOGD_CONFIG, overridden by BACKLOGD_...\n"
                     "variables; see 'backlogd config reference'.\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                usage(stderr);
                return BL_EXIT_USAGE;
        }
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
                bl_cmd_print_version(stdout);
                return BL_EXIT_OK;
        }
        for (size_t i = 0; i < COMMAND_COUNT; i++) {
                if (strcmp(argv[1], commands[i].name))
                        continue;
                if (!commands[i].run) {
                        fprintf(stderr, "backlogd: '%s' is not in this build yet\n", commands[i].name);
                        return BL_EXIT_USAGE;
                }
                return commands[i].run(argc - 1, argv + 1);
        }
        fprintf(stderr, "backlogd: unknown command '%s'\nTry 'backlogd --help'.\n", argv[1]);
        return BL_EXIT_USAGE;
}
