/*
 * main.c: the backlogd binary: one table of subcommands and the dispatch.
 *
 * The table holds every subcommand this binary has, in the order a new user
 * meets them: each runs bl_cmd_<name>() of src/cmd/, has its page
 * docs/cli/<name>.md and answers --help (tests/cli/test_cli.py checks the
 * page, the help and that the listing names every form of the command,
 * `replay --policy` as well as `--verify`). Any other name is a usage error:
 * "unknown command" on stderr, exit 2.
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
        {"tasks", "tasks list|show", bl_cmd_tasks, "tasks by state, domain, tenant, what they wait for; one in full"},
        {"approve", "approve TASK_ID...", bl_cmd_approve, "approve tasks waiting for approval (tasks.control)"},
        {"reject", "reject TASK_ID...", bl_cmd_reject, "reject tasks: they end CANCELLED with the reason"},
        {"cancel", "cancel TASK_ID...", bl_cmd_cancel, "cancel tasks, with who and why"},
        {"prioritize", "prioritize TASK_ID", bl_cmd_prioritize, "change a task's business value or deadline"},
        {"replay", "replay --verify|--policy", bl_cmd_replay,
         "check state against its history; re-score it under a policy"},
        {"pilot", "pilot report", bl_cmd_pilot, "an agent's pilot against its control group, per domain"},
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
                fprintf(out, "  %-24s %s\n", commands[i].synopsis, commands[i].summary);
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
                if (!strcmp(argv[1], commands[i].name))
                        return commands[i].run(argc - 1, argv + 1);
        }
        fprintf(stderr, "backlogd: unknown command '%s'\nTry 'backlogd --help'.\n", argv[1]);
        return BL_EXIT_USAGE;
}
