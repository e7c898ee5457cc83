/*
 * cmd.h: the subcommands of the backlogd binary and what they share.
 *
 * Each subcommand is bl_cmd_<name>(argc, argv) with argv[0] its own name.
 * Exit statuses: 0 success, 1 the work failed (a mismatch, a cluster that
 * does not answer, a bad config), 2 a usage error found before any Kafka
 * handle exists.
 */
#ifndef BL_CMD_H
#define BL_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "ops/config.h"

#define BL_EXIT_OK 0
#define BL_EXIT_FAILURE 1
#define BL_EXIT_USAGE 2

int bl_cmd_config(int argc, char **argv);
int bl_cmd_demo(int argc, char **argv);
int bl_cmd_produce(int argc, char **argv);
int bl_cmd_run(int argc, char **argv);
int bl_cmd_topics(int argc, char **argv);
int bl_cmd_contracts(int argc, char **argv);
int bl_cmd_inspect(int argc, char **argv);
int bl_cmd_audit(int argc, char **argv);
int bl_cmd_tasks(int argc, char **argv);
int bl_cmd_approve(int argc, char **argv);
int bl_cmd_reject(int argc, char **argv);
int bl_cmd_cancel(int argc, char **argv);
int bl_cmd_prioritize(int argc, char **argv);
int bl_cmd_replay(int argc, char **argv);
int bl_cmd_pilot(int argc, char **argv);
int bl_cmd_policy(int argc, char **argv);
int bl_cmd_dlq(int argc, char **argv);

/**
 * Loads the config from @p path, else from $BACKLOGD_CONFIG, else the
 * defaults; the environment overrides. Problems go to stderr, one line each
 * with the key and the reason. Applies log.level. NULL when fatal problems
 * were found.
 */
bl_config_t *bl_cmd_load_config(const char *path);

/** The config path an invocation means: @p path, else $BACKLOGD_CONFIG, else NULL. */
const char *bl_cmd_config_path(const char *path);

/**
 * The options of the commands that take only --config FILE, --json, --help
 * and, where @p dry_run is not NULL, --dry-run (audit, inspect, config check,
 * policy): parses them into *path, *as_json and *dry_run, leaving optind at
 * the first operand. Returns -1 to go on, or the exit status to return now:
 * BL_EXIT_OK after printing @p usage for --help, BL_EXIT_USAGE for a bad
 * option.
 */
int bl_cmd_parse_options(const char *command, int argc, char **argv, void (*usage)(FILE *out), const char **path,
                         bool *as_json, bool *dry_run);

/**
 * --version: "backlogd <version>", then one line per library it runs on
 * ("librdkafka 2.12.0 (features: ...)", avro-c, jansson, libcurl, libmicrohttpd).
 */
void bl_cmd_print_version(FILE *out);

/** "backlogd <command>: <message>" on stderr; returns BL_EXIT_USAGE. */
int bl_cmd_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
