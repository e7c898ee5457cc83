/*
 * replay.c: `backlogd replay --verify`: rebuild every task from
 * backlog.transitions and compare it with backlog.state; `backlogd replay
 * --policy FILE`: re-score the recorded history under a candidate policy,
 * the offline canary (SPEC §9).
 *
 * This file is only the I/O: it reads backlog.transitions to its
 * read_committed end, all partitions at once, and hands each decoded
 * Transition with its item, in offset order per partition (all of a task's
 * transitions are in its one partition, so that is the task's order), to
 * the fold of core/history.c (--verify) or core/whatif.c (--policy).
 *
 * --verify then reads backlog.state the same way and hands over each
 * snapshot and tombstone. The fold checks the chains and compares; this
 * file prints what it reports, in task_id order, and sets the exit status:
 * 0 when every task verified (or was purged), 1 on any chain error or
 * difference, or when a topic could not be read.
 *
 * --policy loads the candidate before any Kafka handle exists, lets the
 * whatif replay each domain's recorded decisions with it, and prints the
 * comparison, domain by domain in name order. A record that cannot be
 * decoded is counted and left out (the report says how many); a registry
 * that does not answer stops the command, since the answer would be partial.
 *
 * Replay reads only what was recorded: the same topics give the same
 * answer every time. Main thread.
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
#include "policy/load.h"
#include "core/whatif.h"

typedef struct replay_s {
        bl_cmd_scan_t scan;
        bl_history_t *history; /* --verify */
        bl_whatif_t *whatif;   /* --policy */
        char *topic_transitions, *topic_state;
        uint64_t transitions, snapshots, tombstones;
        uint64_t unreadable; /* --policy: transitions left out */
        bool as_json;
        json_t *differences, *chain_errors; /* with --json */
        bool out_of_memory;
        bool interrupted; /* a record could not be decoded for now (registry): the answer would be wrong */
} replay_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd replay --verify [-c FILE] [--json]\n"
                     "       backlogd replay --policy CANDIDATE.json [-c FILE] [--json]\n"
                     "\n"
                     "--verify:\n"
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
                     "--policy (the offline canary):\n"
                     "Re-scores the history of backlog.transitions under the candidate policy and\n"
                     "reports, per domain, how dispatch order and waiting times would change. At each\n"
                     "recorded decision time the candidate picks the best of the tasks it would have\n"
                     "had READY then, by its score at that time: the same number of decisions at the\n"
                     "same times. Compared: the decisions that picked the same task, Kendall's tau of\n"
                     "the two dispatch orders, the waits READY -> dispatch (mean, mean weighted by\n"
                     "business_value, p50, p95, max), the tasks that would expire or still wait, and\n"
                     "the five tasks whose wait shrinks and grows most. Arrivals, cancellations and\n"
                     "updates are as recorded; a retry comes as long after the candidate's dispatch as\n"
                     "it did after the recorded one. docs/cli/replay.md says what else is left as is.\n"
                     "\n"
                     "Options:\n"
                     "      --verify       rebuild and compare with backlog.state\n"
                     "      --policy FILE  replay the recorded decisions under the candidate policy FILE\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --json         print the outcome as one JSON object on stdout\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 every task verified (--verify) or the comparison printed\n"
                     "(--policy); 1 a difference or a chain error, a topic that could not be read, or a\n"
                     "candidate refused; 2 usage.\n");
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
                record = bl_transition_reader_read(replay->scan.transitions, message->key, message->key_len,
                                                   message->payload, message->len, message->partition,
                                                   message->offset, &error);
        else
                bl_record_error_set(&error, BL_REASON_DECODE_WIRE_FORMAT, "a tombstone");
        if (!record && error.transient) {
                fprintf(stderr, "backlogd replay: %s [%d] offset %" PRId64 ": %s\n", replay->topic_transitions,
                        (int)message->partition, message->offset, error.detail);
                replay->interrupted = true;
                return false;
        }
        if (!record && replay->whatif) {
                replay->unreadable++; /* reported as a count: the comparison leaves it out */
                err = BL_OK;
        } else if (!record) {
                record_error_text(&error, why, sizeof(why));
                err = bl_history_fold_unreadable(replay->history, key, message->partition, message->offset, why);
        } else if (replay->whatif) {
                err = bl_whatif_fold(replay->whatif, &record->transition, record->item, message->partition,
                                     message->offset);
                bl_transition_record_destroy(record);
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

/* ---- --verify ---------------------------------------------------------------------- */

static void replay_close(replay_t *replay) {
        json_decref(replay->differences);
        json_decref(replay->chain_errors);
        bl_history_destroy(replay->history);
        bl_whatif_destroy(replay->whatif);
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

/* ---- --policy: the offline canary --------------------------------------------------- */

static void on_candidate_problem(const char *path, const char *reason, bool fatal, void *opaque) {
        const char *file = opaque;
        fprintf(stderr, "backlogd replay: %s: %s%s%s%s\n", file, fatal ? "" : "warning: ", path, *path ? ": " : "",
                reason);
}

/* The candidate as `run` would load it: the config's domains and retry defaults. NULL, said why, if refused. */
static bl_policy_t *load_candidate(const bl_config_t *config, const char *path) {
        bl_policy_fallback_t fallback = {config->backlog_retry_base_ms, config->backlog_retry_cap_ms,
                                         (int32_t)config->backlog_max_attempts};
        bl_policy_t *policy = bl_policy_load_file(path, (const char *const *)config->domains.items,
                                                  config->domains.count, &fallback, on_candidate_problem, (void *)path);
        if (!policy)
                fprintf(stderr, "backlogd replay: the candidate policy %s is refused (see above)\n", path);
        return policy;
}

static json_t *position_json(size_t position) {
        return position ? json_integer((json_int_t)position) : json_null();
}

static json_t *waits_json(const bl_whatif_waits_t *w) {
        return json_pack("{s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "dispatched", (json_int_t)w->dispatched,
                         "mean_wait_ms", w->mean_ms, "value_weighted_mean_wait_ms", w->value_weighted_mean_ms,
                         "p50_wait_ms", (json_int_t)w->p50_ms, "p95_wait_ms", (json_int_t)w->p95_ms, "max_wait_ms",
                         (json_int_t)w->max_ms, "expired", (json_int_t)w->expired, "left", (json_int_t)w->left,
                         "waiting", (json_int_t)w->waiting);
}

static json_t *moves_json(const bl_whatif_move_t *moves, size_t count) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < count; i++) {
                const bl_whatif_move_t *m = &moves[i];
                json_t *entry = json_pack(
                        "{s:s, s:i, s:f, s:{s:s, s:I, s:o}, s:{s:s, s:I, s:o}, s:I}", "task_id", m->task_id, "attempt",
                        (int)m->attempt, "business_value", m->business_value, "recorded", "outcome",
                        bl_whatif_outcome_name(m->recorded_outcome), "wait_ms", (json_int_t)m->recorded_wait_ms,
                        "position", position_json(m->recorded_position), "candidate", "outcome",
                        bl_whatif_outcome_name(m->candidate_outcome), "wait_ms", (json_int_t)m->candidate_wait_ms,
                        "position", position_json(m->candidate_position), "change_ms", (json_int_t)m->change_ms);
                if (!entry || json_array_append_new(list, entry)) {
                        json_decref(list);
                        return NULL;
                }
        }
        return list;
}

static json_t *domain_json(const bl_whatif_domain_t *d) {
        return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "domain", d->domain, "episodes",
                         (json_int_t)d->episodes, "decisions", (json_int_t)d->decisions, "candidate_decisions",
                         (json_int_t)d->candidate_decisions, "same_task", (json_int_t)d->same_task, "both_dispatched",
                         (json_int_t)d->both_dispatched, "kendall_tau",
                         d->has_tau ? json_real(d->kendall_tau) : json_null(), "recorded", waits_json(&d->recorded),
                         "candidate", waits_json(&d->candidate), "sooner", moves_json(d->sooner, d->sooner_count),
                         "later", moves_json(d->later, d->later_count));
}

static bool print_whatif_json(const replay_t *replay, const bl_policy_t *candidate, const char *path,
                              const bl_whatif_report_t *report) {
        char end[48];
        const bl_policy_t *canary = bl_policy_canary(candidate);
        json_t *policies = json_array(), *domains = json_array(), *out;
        bool ok = policies && domains;
        for (size_t i = 0; ok && i < report->recorded_policy_count; i++)
                ok = !json_array_append_new(policies,
                                            json_pack("{s:s, s:I}", "policy", report->recorded_policies[i].policy,
                                                      "decisions", (json_int_t)report->recorded_policies[i].decisions));
        for (size_t i = 0; ok && i < report->domain_count; i++)
                ok = !json_array_append_new(domains, domain_json(&report->domains[i]));
        if (!ok) {
                json_decref(policies);
                json_decref(domains);
                return false;
        }
        out = json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "candidate", bl_policy_label(candidate),
                        "candidate_file", path, "canary",
                        canary ? json_pack("{s:s, s:f}", "policy", bl_policy_label(canary), "fraction",
                                           bl_policy_canary_fraction(candidate))
                               : json_null(),
                        "transitions_topic", replay->topic_transitions, "transitions", (json_int_t)report->transitions,
                        "unreadable", (json_int_t)replay->unreadable, "decisions_skipped",
                        (json_int_t)report->decisions_skipped, "history_end",
                        report->history_end_ms == BL_NO_TIME
                                ? json_null()
                                : json_string(bl_history_format_time(report->history_end_ms, end, sizeof(end))),
                        "recorded_policies", policies, "domains", domains);
        if (!out)
                return false;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        putchar('\n');
        json_decref(out);
        return true;
}

/* "12.345 s" */
static const char *seconds(int64_t ms, char *out, size_t out_size) {
        snprintf(out, out_size, "%s%" PRId64 ".%03d s", ms < 0 ? "-" : "", (ms < 0 ? -ms : ms) / 1000,
                 (int)((ms < 0 ? -ms : ms) % 1000));
        return out;
}

static int64_t rounded(double ms) {
        return (int64_t)(ms + (ms < 0 ? -0.5 : 0.5));
}

static void print_waits_row(const char *who, const bl_whatif_waits_t *w) {
        char mean[32], weighted[32], p50[32], p95[32], max[32];
        printf("  %-10s %12s %12s %12s %12s %12s %10zu %8zu %5zu %11zu\n", who,
               seconds(rounded(w->mean_ms), mean, sizeof(mean)),
               seconds(rounded(w->value_weighted_mean_ms), weighted, sizeof(weighted)),
               seconds(w->p50_ms, p50, sizeof(p50)), seconds(w->p95_ms, p95, sizeof(p95)),
               seconds(w->max_ms, max, sizeof(max)), w->dispatched, w->expired, w->left, w->waiting);
}

/* One side of a move: "12.345 s (#3)", "1.500 s, expired", ">= 40.000 s, still READY". */
static const char *side(bl_whatif_outcome_t outcome, int64_t wait_ms, size_t position, char *out, size_t size) {
        char wait[32];
        seconds(wait_ms, wait, sizeof(wait));
        switch (outcome) {
        case BL_WHATIF_DISPATCHED: snprintf(out, size, "%s (#%zu)", wait, position); break;
        case BL_WHATIF_WAITING: snprintf(out, size, ">= %s, still READY", wait); break;
        default: snprintf(out, size, "%s, %s", wait, bl_whatif_outcome_name(outcome)); break;
        }
        return out;
}

static void print_moves(const char *title, const bl_whatif_move_t *moves, size_t count) {
        char id[300], was[80], would[80], change[32];
        if (!count)
                return;
        printf("  %s:\n", title);
        for (size_t i = 0; i < count; i++) {
                const bl_whatif_move_t *m = &moves[i];
                snprintf(id, sizeof(id), "%s/%d", m->task_id, (int)m->attempt);
                printf("    %-24s business_value %.2f   %s -> %s   (%s%s)\n", id, m->business_value,
                       side(m->recorded_outcome, m->recorded_wait_ms, m->recorded_position, was, sizeof(was)),
                       side(m->candidate_outcome, m->candidate_wait_ms, m->candidate_position, would, sizeof(would)),
                       m->change_ms > 0 ? "+" : "", seconds(m->change_ms, change, sizeof(change)));
        }
}

static void print_whatif_text(const replay_t *replay, const bl_policy_t *candidate, const char *path,
                              const bl_whatif_report_t *report) {
        char end[48];
        const bl_policy_t *canary = bl_policy_canary(candidate);
        printf("candidate %s (%s)", bl_policy_label(candidate), path);
        if (canary)
                printf(", its canary %s scoring %.1f %% of the tasks", bl_policy_label(canary),
                       100.0 * bl_policy_canary_fraction(candidate));
        printf("\nreplayed over %zu transitions of %s, up to %s\n", report->transitions, replay->topic_transitions,
               bl_history_format_time(report->history_end_ms, end, sizeof(end)));
        printf("recorded decisions:");
        for (size_t i = 0; i < report->recorded_policy_count; i++)
                printf("%s %zu by %s", i ? "," : "", report->recorded_policies[i].decisions,
                       report->recorded_policies[i].policy);
        printf("%s\n", report->recorded_policy_count ? "" : " none");
        if (replay->unreadable || report->decisions_skipped)
                printf("left out: %" PRIu64 " transition%s that could not be read, %zu dispatch%s whose READY start "
                       "is not in the history\n",
                       replay->unreadable, replay->unreadable == 1 ? "" : "s", report->decisions_skipped,
                       report->decisions_skipped == 1 ? "" : "es");
        for (size_t i = 0; i < report->domain_count; i++) {
                const bl_whatif_domain_t *d = &report->domains[i];
                printf("\ndomain %s: %zu READY episode%s, %zu recorded decision%s; the candidate made %zu at those "
                       "times\n",
                       d->domain, d->episodes, d->episodes == 1 ? "" : "s", d->decisions, d->decisions == 1 ? "" : "s",
                       d->candidate_decisions);
                printf("  same task picked at %zu of %zu decisions; ", d->same_task, d->decisions);
                if (d->has_tau)
                        printf("Kendall tau %.3f over the %zu tasks both dispatched\n", d->kendall_tau,
                               d->both_dispatched);
                else
                        printf("Kendall tau: fewer than 2 tasks dispatched by both\n");
                printf("  %-10s %12s %12s %12s %12s %12s %10s %8s %5s %11s\n", "wait", "mean", "by value", "p50", "p95",
                       "max", "dispatched", "expired", "left", "still READY");
                print_waits_row("recorded", &d->recorded);
                print_waits_row("candidate", &d->candidate);
                print_moves("sooner under the candidate (wait recorded -> candidate, place in the dispatch order)",
                            d->sooner, d->sooner_count);
                print_moves("later under the candidate", d->later, d->later_count);
        }
        if (!report->domain_count)
                printf("\nno task was READY in the history: nothing to compare\n");
}

static int replay_policy(const bl_config_t *config, const char *path, bool as_json) {
        replay_t replay = {.as_json = as_json};
        bl_whatif_report_t report = {0};
        bl_policy_t *candidate = load_candidate(config, path);
        int status = BL_EXIT_FAILURE;
        if (!candidate)
                return BL_EXIT_FAILURE;
        replay.whatif = bl_whatif_new();
        replay.topic_transitions = bl_config_topic_name(config, "backlog.transitions");
        if (!replay.whatif || !replay.topic_transitions) {
                fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        /* deadline_risk reads the capacity estimate `run` would have had: its window and minimum samples */
        bl_capacity_options_t capacity = {config->capacity_window_ms, (int32_t)config->capacity_min_samples};
        bl_whatif_set_capacity_options(replay.whatif, &capacity);
        if (!bl_cmd_scan_open(&replay.scan, "replay", config) ||
            !bl_cmd_scan_topic(&replay.scan, replay.topic_transitions, NULL, 0, read_transition, &replay) ||
            replay.interrupted || replay.out_of_memory) {
                if (replay.out_of_memory)
                        fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        if (bl_whatif_run(replay.whatif, candidate, &report) != BL_OK) {
                fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        if (as_json && !print_whatif_json(&replay, candidate, path, &report)) {
                fprintf(stderr, "backlogd replay: out of memory\n");
                goto done;
        }
        if (!as_json)
                print_whatif_text(&replay, candidate, path, &report);
        status = BL_EXIT_OK;
done:
        bl_whatif_report_free(&report);
        replay_close(&replay);
        bl_policy_destroy(candidate);
        return status;
}

/* ---- the command ----------------------------------------------------------------- */

int bl_cmd_replay(int argc, char **argv) {
        static const struct option options[] = {
                {"verify", no_argument, NULL, 'v'},
                {"policy", required_argument, NULL, 'p'},
                {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *path = NULL, *candidate = NULL;
        bool verify = false, as_json = false;
        bl_config_t *config;
        int opt, status;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'v': verify = true; break;
                case 'p':
                        if (!*optarg)
                                return bl_cmd_usage_error("replay", "--policy needs a file");
                        candidate = optarg;
                        break;
                case 'c': path = optarg; break;
                case 'j': as_json = true; break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("replay", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("replay", "unexpected argument '%s'", argv[optind]);
        if (verify == (candidate != NULL))
                return bl_cmd_usage_error("replay", verify ? "--verify and --policy are two replays: one at a time"
                                                           : "say what to replay: --verify rebuilds backlog.state "
                                                             "from backlog.transitions and compares; --policy FILE "
                                                             "re-scores the history under a candidate policy");
        if (!(config = bl_cmd_load_config(path)))
                return BL_EXIT_FAILURE;
        status = verify ? replay_verify(config, as_json) : replay_policy(config, candidate, as_json);
        bl_config_destroy(config);
        return status;
}
