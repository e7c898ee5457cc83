/*
 * replay.c: `backlogd replay --verify`: rebuild every task from
 * backlog.transitions and compare it with backlog.state (SPEC §9).
 *
 * This file is only the I/O: it reads backlog.transitions to its
 * read_committed end, all partitions at once, and hands each decoded
 * Transition with its item to the fold of core/history.c, in offset order
 * per partition (all of a task's transitions are in its one partition, so
 * that is the task's order). Then it reads backlog.state the same way and
 * hands over each snapshot and tombstone. The fold checks the chains and
 * compares; this file prints what it reports, in task_id order, and sets
 * the exit status: 0 when every task verified (or was purged), 1 on any
 * chain error or difference, or when a topic could not be read.
 *
 * Replay reads only what was recorded: the same topics give the same
 * answer every time. `--policy` (re-scoring the history under another
 * policy) arrives with the policy issue; until then it is a usage error.
 * Main thread.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/scan.h"
#include "contract/records.h"
#include "core/history.h"

typedef struct replay_s {
        bl_cmd_scan_t scan;
        bl_history_t *history;
        char *topic_transitions, *topic_state;
        uint64_t transitions, snapshots, tombstones;
        bool as_json;
        json_t *differences, *chain_errors; /* with --json */
        bool out_of_memory;
        bool interrupted; /* a record could not be decoded for now (registry): the answer would be wrong */
} replay_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd replay --verify [-c FILE] [--json]\n"
                     "\n"
                     "Rebuilds every task's state from backlog.transitions and compares it with\n"
                     "backlog.state. Each task's chain is checked: seq starts at 1 and grows by 1,\n"
                     "each from_state is the previous to_state, every change is legal, and the item\n"
                     "a transition carries is in its to_state with its seq. The item of the last\n"
                     "transition (with the payload of the first) is the rebuilt state; it must equal\n"
                     "the snapshot in backlog.state field by field: state, seq, attempt, times,\n"
                     "dependencies, dependents, last error, approval, payload, labels and the rest.\n"
                     "A task that backlog.state no longer holds (tombstone) is fine when its\n"
                     "history ends in a terminal state: it was purged. Every difference and chain\n"
                     "error is reported; reading the same topics again gives the same answer.\n"
                     "\n"
                     "Options:\n"
                     "      --verify       rebuild and compare (required for now: --policy FILE, to\n"
                     "                     re-score the history under another policy, arrives with\n"
                     "                     the policy issue)\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --json         print the outcome as one JSON object on stdout\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 every task verified, 1 a difference or a chain error (or a topic\n"
                     "could not be read), 2 usage.\n");
}

/* ---- reading ---------------------------------------------------------------- */

static void record_error_text(const bl_record_error_t *error, char *out, size_t out_size) {
        if (error->transient)
                snprintf(out, out_size, "%s", error->detail);
        else
                snprintf(out, out_size, "%s: %s", bl_reason_name(error->reason), error->detail);
}

static bool read_transition(const rd_kafka_message_t *message, void *opaque) {
        replay_t *replay = opaque;
        char key[1024] = "", why[BL_RECORD_DETAIL_MAX + 64];
        bl_record_error_t error;
        bl_transition_record_t *record = NULL;
        bl_err_t err;
        replay->transitions++;
        if (message->key)
                snprintf(key, sizeof(key), "%.*s", (int)message->key_len, (const char *)message->key);
        if (message->payload)
                record = bl_records_decode_transition(replay->scan.contracts.schemas, message->payload, message->len,
                                                      message->partition, &error);
        else
                bl_record_error_set(&error, BL_REASON_DECODE_WIRE_FORMAT, "a tombstone");
        if (!record && error.transient) {
                fprintf(stderr, "backlogd replay: %s [%d] offset %" PRId64 ": %s\n", replay->topic_transitions,
                        (int)message->partition, message->offset, error.detail);
                replay->interrupted = true;
                return false;
        }
        if (!record) {
                record_error_text(&error, why, sizeof(why));
                err = bl_history_fold_unreadable(replay->history, key, message->partition, message->offset, why);
        } else {
                err = bl_history_fold(replay->history, &record->transition, record->item, message->partition,
                                      message->offset);
                record->item = NULL; /* the history took it */
                bl_transition_record_destroy(record);
        }
        replay->out_of_memory = err != BL_OK;
        return err == BL_OK;
}

static bool read_snapshot(const rd_kafka_message_t *message, void *opaque) {
        replay_t *replay = opaque;
        char key[1024], why[BL_RECORD_DETAIL_MAX + 64];
        bl_record_error_t error;
        bl_item_t *item;
        bl_err_t err;
        if (!message->key)
                return true; /* nothing to compare it with */
        snprintf(key, sizeof(key), "%.*s", (int)message->key_len, (const char *)message->key);
        if (!message->payload) {
                replay->tombstones++;
                err = bl_history_store(replay->history, key, NULL, message->partition);
        } else {
                replay->snapshots++;
                item = bl_records_decode_item(replay->scan.contracts.schemas, message->payload, message->len,
                                              message->partition, &error);
                if (!item && error.transient) {
                        fprintf(stderr, "backlogd replay: %s [%d] offset %" PRId64 ": %s\n", replay->topic_state,
                                (int)message->partition, message->offset, error.detail);
                        replay->interrupted = true;
                        return false;
                }
                if (item) {
                        err = bl_history_store(replay->history, key, item, message->partition);
                } else {
                        record_error_text(&error, why, sizeof(why));
                        err = bl_history_store_unreadable(replay->history, key, message->partition, message->offset,
                                                          why);
                }
        }
        replay->out_of_memory = err != BL_OK;
        return err == BL_OK;
}

/* ---- reporting ------------------------------------------------------------------ */

static void on_chain_error(void *opaque, const bl_history_chain_error_t *error) {
        replay_t *replay = opaque;
        if (replay->as_json) {
                json_t *entry = json_pack("{s:s, s:o, s:i, s:I, s:s}", "task_id", error->task_id, "seq",
                                          error->seq >= 0 ? json_integer(error->seq) : json_null(), "partition",
                                          (int)error->partition, "offset", (json_int_t)error->offset, "error",
                                          error->what);
                if (!entry || json_array_append_new(replay->chain_errors, entry))
                        replay->out_of_memory = true;
                return;
        }
        printf("chain error: task %s", *error->task_id ? error->task_id : "(no key)");
        if (error->seq >= 0)
                printf(" seq %" PRId64, error->seq);
        printf(" (partition %d offset %" PRId64 "): %s\n", (int)error->partition, error->offset, error->what);
}

static void on_difference(void *opaque, const bl_history_difference_t *difference) {
        replay_t *replay = opaque;
        if (replay->as_json) {
                json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s}", "task_id", difference->task_id, "field",
                                          difference->field, "state", difference->stored, "rebuilt",
                                          difference->rebuilt, "message", difference->message);
                if (!entry || json_array_append_new(replay->differences, entry))
                        replay->out_of_memory = true;
                return;
        }
        printf("difference: %s\n", difference->message);
}

static void print_summary(const replay_t *replay, const bl_history_totals_t *totals, bool ok) {
        if (replay->as_json) {
                json_t *out = json_pack("{s:I, s:I, s:O, s:O, s:I, s:b, s:I, s:I, s:I, s:s, s:s}", "tasks",
                                        (json_int_t)totals->tasks, "verified", (json_int_t)totals->verified,
                                        "differences", replay->differences, "chain_errors", replay->chain_errors,
                                        "purged", (json_int_t)totals->purged, "ok", ok, "transitions",
                                        (json_int_t)replay->transitions, "snapshots", (json_int_t)replay->snapshots,
                                        "tombstones", (json_int_t)replay->tombstones, "transitions_topic",
                                        replay->topic_transitions, "state_topic", replay->topic_state);
                json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(out);
                return;
        }
        printf("%s%" PRIu64 " transitions in %s, %" PRIu64 " snapshots and %" PRIu64 " tombstones in %s\n",
               totals->differences || totals->chain_errors ? "\n" : "", replay->transitions, replay->topic_transitions,
               replay->snapshots, replay->tombstones, replay->topic_state);
        printf("%zu task%s: %zu verified, %zu purged, %zu with differences (%zu difference%s), %zu with chain errors "
               "(%zu error%s)\n",
               totals->tasks, totals->tasks == 1 ? "" : "s", totals->verified, totals->purged, totals->differing,
               totals->differences, totals->differences == 1 ? "" : "s", totals->broken, totals->chain_errors,
               totals->chain_errors == 1 ? "" : "s");
        printf("%s\n", ok ? "OK: backlog.state is what backlog.transitions rebuild"
                          : "FAILED: backlog.state and backlog.transitions disagree");
}

/* ---- the command ----------------------------------------------------------------- */

static void replay_close(replay_t *replay) {
        json_decref(replay->differences);
        json_decref(replay->chain_errors);
        bl_history_destroy(replay->history);
        free(replay->topic_transitions);
        free(replay->topic_state);
        bl_cmd_scan_close(&replay->scan);
}

static int replay_verify(const bl_config_t *config, bool as_json) {
        replay_t replay = {.as_json = as_json};
        bl_history_report_t report = {on_chain_error, on_difference, &replay};
        bl_history_totals_t totals;
        int status = BL_EXIT_FAILURE;
        bool ok;
        replay.history = bl_history_new();
        replay.topic_transitions = bl_config_topic_name(config, "backlog.transitions");
        replay.topic_state = bl_config_topic_name(config, "backlog.state");
        replay.differences = json_array();
        replay.chain_errors = json_array();
        if (!replay.history || !replay.topic_transitions || !replay.topic_state || !replay.differences ||
            !replay.chain_errors) {
                fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        if (!bl_cmd_scan_open(&replay.scan, "replay", config) ||
            !bl_cmd_scan_topic(&replay.scan, replay.topic_transitions, NULL, 0, read_transition, &replay) ||
            replay.interrupted || replay.out_of_memory ||
            !bl_cmd_scan_topic(&replay.scan, replay.topic_state, NULL, 0, read_snapshot, &replay) ||
            replay.interrupted || replay.out_of_memory) {
                if (replay.out_of_memory)
                        fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        if (bl_history_verify(replay.history, &report, &totals) != BL_OK || replay.out_of_memory) {
                fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        ok = totals.differences == 0 && totals.chain_errors == 0;
        print_summary(&replay, &totals, ok);
        if (!ok)
                fprintf(stderr, "backlogd replay: %zu difference%s, %zu chain error%s\n", totals.differences,
                        totals.differences == 1 ? "" : "s", totals.chain_errors, totals.chain_errors == 1 ? "" : "s");
        status = ok ? BL_EXIT_OK : BL_EXIT_FAILURE;
done:
        replay_close(&replay);
        return status;
}

int bl_cmd_replay(int argc, char **argv) {
        static const struct option options[] = {
                {"verify", no_argument, NULL, 'v'},
                {"policy", required_argument, NULL, 'p'},
                {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *path = NULL;
        bool verify = false, as_json = false;
        bl_config_t *config;
        int opt, status;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'v': verify = true; break;
                case 'p':
                        return bl_cmd_usage_error("replay", "--policy is not in this build yet: it arrives with the "
                                                            "policy issue; use --verify");
                case 'c': path = optarg; break;
                case 'j': as_json = true; break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("replay", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("replay", "unexpected argument '%s'", argv[optind]);
        if (!verify)
                return bl_cmd_usage_error("replay", "say what to replay: --verify rebuilds backlog.state from "
                                                    "backlog.transitions and compares (--policy FILE arrives with "
                                                    "the policy issue)");
        if (!(config = bl_cmd_load_config(path)))
                return BL_EXIT_FAILURE;
        status = replay_verify(config, as_json);
        bl_config_destroy(config);
        return status;
}
