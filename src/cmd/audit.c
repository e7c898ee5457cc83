/*
 * audit.c: `backlogd audit TASK_ID`: one task's whole history from
 * backlog.transitions, each step with its cause and, for a dispatch, the
 * policy and the rationale (SPEC §9), and who decided when the record says
 * (decided_by, fallback, the agent's rank and reason, the consultation and
 * its latency: SPEC §13).
 *
 * Every transition of a task is keyed by its task_id and written to the
 * task's partition, which is where Java's murmur2 partitioner puts the key
 * (the co-partitioning of SPEC §1). So audit asks for the partition count
 * of backlog.transitions, reads only the one partition that holds TASK_ID,
 * to its read_committed end, and decodes only the records with that key.
 * The steps are printed in seq order (offset order breaks ties, which only
 * a broken history has: `replay --verify` is the tool that judges it); a
 * task id purged and submitted again has one history after the other. A
 * record with the key that cannot be decoded is reported on stderr and
 * makes the exit status 1, the other steps are still shown. Main thread.
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

typedef struct step_s {
        bl_transition_record_t *record;
        int64_t offset;
        int life; /* 0, then +1 each time the purged task_id was submitted again */
} step_t;

typedef struct audit_s {
        bl_cmd_scan_t scan;
        const char *task_id;
        size_t task_id_len;
        char *topic;
        int32_t partition;
        step_t *steps;
        size_t count, capacity;
        uint64_t unreadable;
        bool out_of_memory;
        bool interrupted;
} audit_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd audit [-c FILE] [--json] TASK_ID\n"
                     "\n"
                     "Prints the whole history of one task from backlog.transitions, in seq order:\n"
                     "for each state change its time, from -> to, cause, who asked (an operator's\n"
                     "actor) and the reason, the input event and where it was read (topic,\n"
                     "partition, offset), the attempt, the instance that made the change and the\n"
                     "error a failure recorded; for a dispatch also the dispatch id, the policy,\n"
                     "the score and each criterion of the rationale (raw, normalised, weight,\n"
                     "contribution). Reads only the partition that holds TASK_ID.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --json         print the steps as a JSON array on stdout\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 history printed, 1 the task has no history (or a record of it\n"
                     "could not be read, or the topic could not be read), 2 usage.\n");
}

/* ---- reading ---------------------------------------------------------------- */

static bool add_step(audit_t *audit, bl_transition_record_t *record, int64_t offset) {
        if (audit->count == audit->capacity) {
                size_t capacity = audit->capacity ? audit->capacity * 2 : 32;
                step_t *steps = realloc(audit->steps, capacity * sizeof(*steps));
                if (!steps)
                        return false;
                audit->steps = steps;
                audit->capacity = capacity;
        }
        audit->steps[audit->count].record = record;
        audit->steps[audit->count].offset = offset;
        audit->steps[audit->count].life = 0;
        audit->count++;
        return true;
}

static bool read_transition(const rd_kafka_message_t *message, void *opaque) {
        audit_t *audit = opaque;
        bl_record_error_t error;
        bl_transition_record_t *record;
        if (message->key_len != audit->task_id_len || memcmp(message->key, audit->task_id, audit->task_id_len))
                return true;
        if (!message->payload) {
                audit->unreadable++;
                fprintf(stderr, "backlogd audit: %s [%d] offset %" PRId64 ": a tombstone in the history\n",
                        audit->topic, (int)message->partition, message->offset);
                return true;
        }
        record = bl_transition_reader_read(audit->scan.transitions, message->key, message->key_len, message->payload,
                                           message->len, message->partition, -1, &error);
        if (!record) {
                audit->unreadable++;
                audit->interrupted = error.transient;
                fprintf(stderr, "backlogd audit: %s [%d] offset %" PRId64 ": %s%s%s\n", audit->topic,
                        (int)message->partition, message->offset, error.transient ? "" : bl_reason_name(error.reason),
                        error.transient ? "" : ": ", error.detail);
                return !error.transient;
        }
        if (!add_step(audit, record, message->offset)) {
                bl_transition_record_destroy(record);
                audit->out_of_memory = true;
                return false;
        }
        return true;
}

/*
 * In offset order (as read): a seq 1 without from_state after the first
 * step begins a new life of the task id (it was purged and submitted
 * again), whose seqs start over.
 */
static void number_lives(audit_t *audit) {
        for (size_t i = 1; i < audit->count; i++) {
                const bl_transition_t *t = &audit->steps[i].record->transition;
                audit->steps[i].life = audit->steps[i - 1].life + (t->seq == 1 && !t->has_from);
        }
}

static int compare_steps(const void *a, const void *b) {
        const step_t *x = a, *y = b;
        if (x->life != y->life)
                return x->life < y->life ? -1 : 1;
        if (x->record->transition.seq != y->record->transition.seq)
                return x->record->transition.seq < y->record->transition.seq ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* ---- output -------------------------------------------------------------------- */

static json_t *opt_string(const char *text) {
        return text ? json_string(text) : json_null();
}

/* The error a step into FAILED or DEAD records in its item (a worker's, lease_expired, dependency_failed). */
static const bl_item_cold_t *failure_of(const step_t *step) {
        const bl_transition_t *t = &step->record->transition;
        const bl_item_t *item = step->record->item;
        if ((t->to != BL_STATE_FAILED && t->to != BL_STATE_DEAD) || !item || !bl_item_cold(item)->has_last_error)
                return NULL;
        return bl_item_cold(item);
}

static json_t *error_json(const step_t *step) {
        const bl_item_cold_t *failure = failure_of(step);
        if (!failure)
                return json_null();
        return json_pack("{s:s, s:s, s:b}", "code", failure->error_code ? failure->error_code : "", "message",
                         failure->error_message ? failure->error_message : "", "retryable", failure->error_retryable);
}

/* Who decided (SPEC §13, §14): the provenance fields set, or null when none is. */
static json_t *provenance_json(const bl_provenance_t *d) {
        if (!bl_provenance_is_set(d))
                return json_null();
        json_t *out = json_object();
        json_object_set_new(out, "decided_by", opt_string(d->decided_by));
        json_object_set_new(out, "fallback", opt_string(d->fallback));
        json_object_set_new(out, "agent_rank", d->agent_rank > 0 ? json_integer(d->agent_rank) : json_null());
        json_object_set_new(out, "agent_reason", opt_string(d->agent_reason));
        json_object_set_new(out, "consultation_id", opt_string(d->consultation_id));
        json_object_set_new(out, "consultation_latency_ms",
                            d->consultation_latency_ms >= 0 ? json_integer(d->consultation_latency_ms) : json_null());
        json_object_set_new(out, "late", json_boolean(d->late));
        json_object_set_new(out, "probe", json_boolean(d->probe));
        return out;
}

static json_t *step_json(const audit_t *audit, const step_t *step) {
        const bl_transition_t *t = &step->record->transition;
        char at[48], occurred[48];
        json_t *rationale = json_array(), *source = json_null();
        for (size_t i = 0; i < t->rationale_count; i++) {
                const bl_criterion_t *c = &t->rationale[i];
                json_array_append_new(rationale, json_pack("{s:s, s:f, s:f, s:f, s:f}", "name", c->name, "raw", c->raw,
                                                           "normalised", c->normalised, "weight", c->weight,
                                                           "contribution", c->contribution));
        }
        if (t->origin) {
                json_decref(source);
                source = json_pack("{s:s, s:i, s:I}", "topic", t->origin->topic, "partition", (int)t->origin->partition,
                                   "offset", (json_int_t)t->origin->offset);
        }
        return json_pack("{s:I, s:s, s:I, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:i, s:o, s:s, s:o, s:o, s:o, s:o, s:o, "
                         "s:o, s:i, s:I}",
                         "seq", (json_int_t)t->seq, "at", bl_history_format_time(t->at_ms, at, sizeof(at)), "at_ms",
                         (json_int_t)t->at_ms, "from", t->has_from ? json_string(bl_state_name(t->from)) : json_null(),
                         "to", bl_state_name(t->to), "cause", t->cause, "reason", opt_string(t->reason), "actor",
                         opt_string(t->actor), "event_id",
                         opt_string(t->event_id), "occurred_at",
                         t->occurred_at_ms != BL_NO_TIME
                                 ? json_string(bl_history_format_time(t->occurred_at_ms, occurred, sizeof(occurred)))
                                 : json_null(),
                         "attempt", (int)t->attempt, "source", source, "instance", step->record->instance,
                         "dispatch_id", opt_string(t->dispatch_id), "policy", opt_string(t->policy), "score",
                         t->has_score ? json_real(t->score) : json_null(), "rationale", rationale, "error",
                         error_json(step), "provenance", provenance_json(t->provenance), "partition",
                         (int)audit->partition, "offset", (json_int_t)step->offset);
}

/* "decided by ranker@2 (rank 1: why), consultation c-1 in 12 ms", or "decided by policy (fallback timeout)". */
static void print_provenance(const bl_provenance_t *d) {
        if (!bl_provenance_is_set(d))
                return;
        printf("      decided by %s", d->decided_by ? d->decided_by : "-");
        if (d->fallback)
                printf(" (fallback %s)", d->fallback);
        if (d->agent_rank > 0)
                printf(", rank %d", (int)d->agent_rank);
        if (d->agent_reason)
                printf(", reason \"%s\"", d->agent_reason);
        if (d->consultation_id)
                printf(", consultation %s", d->consultation_id);
        if (d->consultation_latency_ms >= 0)
                printf(" in %" PRId64 " ms", d->consultation_latency_ms);
        if (d->late)
                printf(", late");
        if (d->probe)
                printf(", probe");
        printf("\n");
}

static void print_rationale(const bl_transition_t *t) {
        if (t->rationale_count == 0) {
                printf("      rationale: none recorded (the policy scored no criteria)\n");
                return;
        }
        printf("      %-24s %12s %12s %12s %12s\n", "criterion", "raw", "normalised", "weight", "contribution");
        for (size_t i = 0; i < t->rationale_count; i++) {
                const bl_criterion_t *c = &t->rationale[i];
                printf("      %-24s %12.6g %12.6g %12.6g %12.6g\n", c->name, c->raw, c->normalised, c->weight,
                       c->contribution);
        }
}

static void print_step(const step_t *step) {
        const bl_transition_t *t = &step->record->transition;
        const bl_item_cold_t *failed = failure_of(step);
        char at[48], occurred[48];
        printf("%4" PRId64 "  %s  %s -> %s  cause %s", t->seq, bl_history_format_time(t->at_ms, at, sizeof(at)),
               t->has_from ? bl_state_name(t->from) : "(new)", bl_state_name(t->to), t->cause);
        if (t->actor)
                printf(", by %s", t->actor);
        if (t->reason)
                printf(", reason %s", t->reason);
        printf("\n      attempt %d, instance %s\n", (int)t->attempt, step->record->instance);
        if (t->event_id) {
                printf("      event %s", t->event_id);
                if (t->occurred_at_ms != BL_NO_TIME)
                        printf(", occurred %s",
                               bl_history_format_time(t->occurred_at_ms, occurred, sizeof(occurred)));
                printf("\n");
        }
        if (t->origin)
                printf("      source %s [%d] offset %" PRId64 "\n", t->origin->topic, (int)t->origin->partition,
                       t->origin->offset);
        if (failed)
                printf("      error %s: %s (%s)\n", failed->error_code ? failed->error_code : "",
                       failed->error_message ? failed->error_message : "",
                       failed->error_retryable ? "retryable" : "not retryable");
        print_provenance(t->provenance);
        if (t->dispatch_id || t->policy) {
                printf("      dispatch %s, policy %s", t->dispatch_id ? t->dispatch_id : "-",
                       t->policy ? t->policy : "-");
                if (t->has_score)
                        printf(", score %.6g", t->score);
                printf("\n");
                print_rationale(t);
        }
}

static bool report(const audit_t *audit, bool as_json) {
        if (as_json) {
                json_t *steps = json_array();
                for (size_t i = 0; i < audit->count; i++) {
                        json_t *step = step_json(audit, &audit->steps[i]);
                        if (!step || json_array_append_new(steps, step)) {
                                json_decref(steps);
                                return false;
                        }
                }
                json_dumpf(steps, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(steps);
                return true;
        }
        printf("task %s: %zu transition%s in %s [%d]\n\n", audit->task_id, audit->count, audit->count == 1 ? "" : "s",
               audit->topic, (int)audit->partition);
        for (size_t i = 0; i < audit->count; i++) {
                int64_t seq = audit->steps[i].record->transition.seq;
                int64_t expected = i ? audit->steps[i - 1].record->transition.seq + 1 : 1;
                if (i && audit->steps[i].life != audit->steps[i - 1].life)
                        printf("      (purged; the task_id was submitted again, and a new history begins)\n");
                else if (seq == expected + 1)
                        printf("      (seq %" PRId64 " is not in the history)\n", expected);
                else if (seq > expected)
                        printf("      (seq %" PRId64 " to %" PRId64 " are not in the history)\n", expected, seq - 1);
                print_step(&audit->steps[i]);
        }
        return true;
}

/* ---- the command ----------------------------------------------------------------- */

static void audit_close(audit_t *audit) {
        for (size_t i = 0; i < audit->count; i++)
                bl_transition_record_destroy(audit->steps[i].record);
        free(audit->steps);
        free(audit->topic);
        bl_cmd_scan_close(&audit->scan);
}

static int audit_run(const bl_config_t *config, const char *task_id, bool as_json) {
        audit_t audit = {.task_id = task_id, .task_id_len = strlen(task_id)};
        int32_t partitions;
        int status = BL_EXIT_FAILURE;
        if (!(audit.topic = bl_config_topic_name(config, "backlog.transitions"))) {
                fprintf(stderr, "backlogd audit: out of memory\n");
                goto done;
        }
        if (!bl_cmd_scan_open(&audit.scan, "audit", config))
                goto done;
        if ((partitions = bl_cmd_scan_partition_count(&audit.scan, audit.topic)) < 0)
                goto done;
        audit.partition = bl_reader_partition_for_key(task_id, partitions);
        if (!bl_cmd_scan_topic(&audit.scan, audit.topic, &audit.partition, 1, read_transition, &audit) ||
            audit.interrupted)
                goto done;
        if (audit.out_of_memory) {
                fprintf(stderr, "backlogd audit: out of memory\n");
                goto done;
        }
        if (audit.count == 0) {
                fprintf(stderr, "backlogd audit: task %s has no history in %s (partition %d of %d)\n", task_id,
                        audit.topic, (int)audit.partition, (int)partitions);
                goto done;
        }
        number_lives(&audit);
        qsort(audit.steps, audit.count, sizeof(*audit.steps), compare_steps);
        if (!report(&audit, as_json)) {
                fprintf(stderr, "backlogd audit: out of memory\n");
                goto done;
        }
        if (audit.unreadable)
                fprintf(stderr, "backlogd audit: %" PRIu64 " record%s of task %s could not be read\n", audit.unreadable,
                        audit.unreadable == 1 ? "" : "s", task_id);
        status = audit.unreadable ? BL_EXIT_FAILURE : BL_EXIT_OK;
done:
        audit_close(&audit);
        return status;
}

int bl_cmd_audit(int argc, char **argv) {
        const char *path;
        bool as_json;
        bl_config_t *config;
        int early, status;
        if ((early = bl_cmd_parse_options("audit", argc, argv, usage, &path, &as_json, NULL)) >= 0)
                return early;
        if (optind >= argc)
                return bl_cmd_usage_error("audit", "missing TASK_ID");
        if (!*argv[optind])
                return bl_cmd_usage_error("audit", "TASK_ID is empty");
        if (optind + 1 < argc)
                return bl_cmd_usage_error("audit", "unexpected argument '%s': one TASK_ID at a time",
                                          argv[optind + 1]);
        if (!(config = bl_cmd_load_config(path)))
                return BL_EXIT_FAILURE;
        status = audit_run(config, argv[optind], as_json);
        bl_config_destroy(config);
        return status;
}
