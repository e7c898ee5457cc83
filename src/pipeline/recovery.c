/*
 * recovery.c: what `backlogd run` does with a batch's outcome (SPEC §6),
 * through the hooks it gives the batch (batch.h).
 *
 * A commit moves each input partition's committed offset, counts, and ends
 * the giving up of a culprit. A failed batch is aborted by the batch; here
 * the world goes back to the last commit (the input rewound, the backlog
 * restored from backlog.state), and whose fault it was decides the rest:
 * the broker's or an output's holds input, timers and dispatch back with a
 * back-off that doubles (or, for a refused dispatch topic or DLQ, only what
 * needs it: gate.h); a record's bisects the batches (isolate.c) until the
 * one unit they fail on is found, which is then given up here: a record to
 * the DLQ as processing.failed, a task DEAD with that reason. No input can
 * stop the instance. Pipeline thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/pipeline_int.h"

static const char *const unit_kinds[] = {"record", "timer of task", "dispatch of task", "giving up of"};

/* ---- commit and abort ------------------------------------------------------------------ */

static rd_kafka_topic_partition_list_t *done_offsets(void *opaque) {
        const bl_pipeline_t *p = opaque;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++) {
                const bl_input_partition_t *entry = &p->partitions[i];
                if (entry->done_offset >= 0 && entry->done_offset != entry->committed_offset)
                        rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset =
                                entry->done_offset;
        }
        return list;
}


/* What the pipeline does after a failed batch, once the world is back as of the last commit. */
static void after_failure(bl_pipeline_t *p, bl_isolate_action_t action, const char *failure) {
        int failures = 0;
        const bl_unit_t *culprit = bl_isolate_culprit(p->isolate, &failures);
        switch (action) {
        case BL_ISOLATE_WAIT: bl_inputs_hold_back(p, failure); break;
        case BL_ISOLATE_BISECT:
                bl_log_warn("txn", "a batch failed for good (%s): running smaller batches, at most %zu units, to "
                                   "find the record or timer it fails on",
                            failure, bl_isolate_room(p->isolate));
                break;
        case BL_ISOLATE_CULPRIT:
                if (failures == 0)
                        snprintf(p->culprit_detail, sizeof(p->culprit_detail), "%s", failure);
                else if (failures >= 2) /* not even the bare letter or the removal: an output's fault, wait */
                        bl_inputs_hold_back(p, "the culprit could not be given up, not even bare");
                if (culprit->kind == BL_UNIT_RECORD)
                        bl_log_warn("txn", "found what the batches fail on: the record %s [%d] offset %" PRId64
                                           " (%s); it goes to the DLQ as processing.failed",
                                    culprit->name, (int)culprit->partition, culprit->offset, p->culprit_detail);
                else
                        bl_log_warn("txn", "found what the batches fail on: the %s %s (%s)%s",
                                    unit_kinds[culprit->kind], culprit->name, p->culprit_detail,
                                    failures ? "; it could not even be given up: it is removed" : "; it is given up");
                break;
        }
}


/* The domain whose dispatch topic @p topic is, or NULL. */
static const char *dispatch_domain(const bl_pipeline_t *p, const char *topic) {
        for (size_t d = 0; p->topic_dispatch && p->topic_dispatch[d]; d++)
                if (!strcmp(p->topic_dispatch[d], topic))
                        return p->config->domains.items[d];
        return NULL;
}


/*
 * The broker refused output @p topic (SPEC §12): the gate keeps it closed for a back-off. True when what
 * needs it can wait alone: a domain's dispatch, or the records whose letters go to the DLQ (they wait in
 * their partitions); the other outputs take a part in every change, so everything waits (hold back).
 */
static bool refuse_output(bl_pipeline_t *p, const char *topic, const char *failure, bool closed_here) {
        const char *domain = dispatch_domain(p, topic);
        bool alone = domain || !strcmp(topic, p->topic_dlq);
        const char *cause = strrchr(failure, ':');
        int64_t backoff_ms;
        if (closed_here)
                return false; /* something that cannot wait alone needed it meanwhile */
        bool first = bl_gate_refused(p->gate, topic, cause ? cause + 2 : failure, bl_clock_monotonic_ms(),
                                     &backoff_ms);
        bl_metric_set(bl_metrics_series(p->observe.metrics.output_blocked, topic), 1);
        bl_metric_inc(bl_metrics_series(p->observe.metrics.output_refusals, topic), 1);
        bl_log(first ? BL_LOG_ERROR : BL_LOG_WARN, "txn",
               "cannot write to topic %s (%s): this principal needs Write on it (docs/security.md), or the topic "
               "is gone; %s%s%s, retried in %" PRId64 " ms%s",
               topic, cause ? cause + 2 : failure, domain ? "dispatch to domain " : "",
               domain ? domain : alone ? "the records that go to the DLQ wait in their partitions"
                                       : "input, timers and dispatch wait",
               domain ? " waits" : "", backoff_ms, alone ? "; everything else goes on" : "");
        return alone;
}


/* A batch that wrote to a refused topic committed: it is open again. */
static void output_reopened(const bl_gate_entry_t *entry, void *opaque) {
        bl_pipeline_t *p = opaque;
        bl_metric_set(bl_metrics_series(p->observe.metrics.output_blocked, entry->topic), 0);
        bl_log_info("txn", "topic %s is written again after %" PRId64 " s and %" PRIu64 " refusals; what waited for it "
                           "goes on",
                    entry->topic, (bl_clock_monotonic_ms() - entry->since_ms) / 1000, entry->refusals);
}


/* The culprit's giving up committed: it is over, and counted. */
static void culprit_given_up(bl_pipeline_t *p) {
        const bl_unit_t *culprit = bl_isolate_culprit(p->isolate, NULL);
        if (culprit) {
                bl_log_info("txn", "the %s %s is given up; batches grow back to normal", unit_kinds[culprit->kind],
                            culprit->name);
                if (culprit->kind <= BL_UNIT_DISPATCH)
                        bl_metric_inc(p->observe.given_up[culprit->kind], 1);
        }
        bl_isolate_culprit_done(p->isolate);
        p->stats.given_up++;
        p->giving_up = false;
}


static void on_committed(void *opaque, const rd_kafka_topic_partition_list_t *offsets, int64_t took_ms) {
        bl_pipeline_t *p = opaque;
        int64_t inputs = 0;
        bl_metric_observe(p->observe.commit_seconds, (double)took_ms / 1000.0);
        bl_metric_observe(p->observe.batch_age_seconds, (double)bl_batch_stats(p->batch)->last_age_ms / 1000.0);
        bl_metric_inc(p->observe.committed, 1);
        bl_observe_committed(p);
        bl_credit_transaction_committed(p->credit);
        p->stats.transactions++;
        p->stats.commit_ms += (uint64_t)took_ms;
        p->held_back_backoff_ms = 0;
        if (p->giving_up)
                culprit_given_up(p);
        bl_gate_committed(p->gate, output_reopened, p);
        bl_isolate_committed(p->isolate);
        for (int i = 0; i < offsets->cnt; i++) {
                bl_input_partition_t *entry =
                        bl_inputs_find(p, offsets->elems[i].topic, offsets->elems[i].partition);
                if (entry) {
                        if (entry->committed_offset >= 0 && offsets->elems[i].offset > entry->committed_offset)
                                inputs += offsets->elems[i].offset - entry->committed_offset;
                        entry->committed_offset = offsets->elems[i].offset;
                        entry->backoff_ms = 0; /* it moved: a later pause starts from the first back-off */
                }
        }
        bl_metric_observe(p->observe.batch_records, (double)inputs);
}


/* ---- the culprit of a failed batch, given up ------------------------------------------------------------ */

/* The stage a failure names before its first ':' ("outputs: cannot produce ..."). */
static void failure_stage(const char *failure, char *stage, size_t stage_size) {
        const char *colon = strchr(failure, ':');
        size_t length = colon ? (size_t)(colon - failure) : 0;
        if (!length || length >= stage_size)
                snprintf(stage, stage_size, "pipeline");
        else
                snprintf(stage, stage_size, "%.*s", (int)length, failure);
}


/* Whether @p message is the record the failed batches were found to fail on. */
bool bl_recovery_is_culprit_record(const bl_pipeline_t *p, const rd_kafka_message_t *message, const char *topic) {
        const bl_unit_t *culprit = bl_isolate_culprit(p->isolate, NULL);
        return culprit && culprit->kind == BL_UNIT_RECORD && culprit->offset == message->offset &&
               culprit->partition == message->partition && !strcmp(culprit->name, topic);
}


/*
 * The culprit record, to the DLQ as processing.failed with the failure as its detail; when even that letter
 * could not be written, as a bare record.too_large letter (coordinates, size, a prefix). Its offset is done.
 */
void bl_recovery_give_up_record(bl_pipeline_t *p, bl_input_partition_t *entry, const rd_kafka_message_t *message) {
        int failures = 0;
        char stage[32], errstr[256];
        bl_dlq_original_t original;
        bl_record_error_t failure = {false, BL_REASON_PROCESSING_FAILED, "", -1};
        bl_isolate_culprit(p->isolate, &failures);
        failure_stage(p->culprit_detail, stage, sizeof(stage));
        snprintf(failure.detail, sizeof(failure.detail), "%s", p->culprit_detail);
        bl_dlq_original_from_message(message, &original);
        bl_isolate_unit(p->isolate, BL_UNIT_GIVE_UP, rd_kafka_topic_name(message->rkt), message->partition,
                        message->offset);
        p->giving_up = true;
        if ((failures ? bl_dlq_send_too_large : bl_dlq_send)(p->dlq, &original, stage, &failure, 1, errstr,
                                                             sizeof(errstr)) == BL_OK)
                entry->done_offset = message->offset + 1;
}


/*
 * The culprit task: DEAD with processing.failed and its submission to the DLQ; when even that could not be
 * written, removed (a tombstone in backlog.state, its history stays in backlog.transitions) with a bare
 * letter that says so. Right after the restore, before any other unit.
 */
void bl_recovery_give_up_task(bl_pipeline_t *p, const bl_unit_t *culprit, int failures, int64_t now) {
        char errstr[256], detail[BL_RECORD_DETAIL_MAX];
        if (p->held_back || !bl_batch_ensure(p->batch))
                return;
        bl_isolate_unit(p->isolate, BL_UNIT_GIVE_UP, culprit->name, -1, -1);
        p->giving_up = true;
        snprintf(detail, sizeof(detail), "%.190s%s", p->culprit_detail,
                 failures ? "; its DEAD change could not be written either: removed" : "");
        if (!bl_backlog_give_up(p->backlog, culprit->name, detail, failures > 0, now)) {
                bl_isolate_culprit_forget(p->isolate); /* not this instance's any more */
                p->giving_up = false;
                return;
        }
        if (failures > 0) {
                bl_record_error_t failure = {false, BL_REASON_PROCESSING_FAILED, "", -1};
                bl_dlq_original_t original = {p->topic_events, -1, -1, -1, culprit->name, strlen(culprit->name),
                                              NULL, 0, NULL};
                snprintf(failure.detail, sizeof(failure.detail), "%s", detail);
                bl_dlq_send_too_large(p->dlq, &original, "pipeline", &failure, 1, errstr, sizeof(errstr));
        }
}


/*
 * The batch handed off did not commit; both batches are gone. Whose fault decides what comes next
 * (isolate.h): the broker's or an output's waits (only what needs a refused topic, when that is all), a
 * record's bisects; either way the input goes back to the last commit and the backlog is restored.
 */
static void on_aborted(void *opaque, const bl_batch_failure_t *failure) {
        bl_pipeline_t *p = opaque;
        bl_isolate_action_t action = bl_isolate_failed(p->isolate, failure->fault, failure->open);
        bl_outputs_forget_snapshots(p); /* the tasks they name are restored, not snapshotted */
        bool alone = failure->fault == BL_FAULT_OUTPUT && failure->refused_topic[0] &&
                     refuse_output(p, failure->refused_topic, failure->reason, failure->gate_closed);
        bl_gate_aborted(p->gate);
        p->giving_up = false;
        p->stats.aborts++;
        bl_metric_inc(p->observe.aborted, 1);
        /* Aborts in a row tell /healthz that nothing can advance. A bisection's aborts are bounded (about
         * log2 of the batch) and each narrows the search: counting them could restart a pod mid-search. */
        if (action == BL_ISOLATE_WAIT)
                bl_observe_aborted(p);
        bl_credit_transaction_aborted(p->credit);
        if (!failure->aborted)
                return;
        bl_log_warn("txn",
                    "batch aborted (%s), with %zu records held for the next one: rewinding the input and "
                    "restoring the backlog from %s",
                    failure->reason, failure->dropped, p->topic_state);
        bl_inputs_rewind(p);
        if (!bl_restore_assigned(p)) {
                p->fatal = true;
                return;
        }
        if (!alone)
                after_failure(p, action, failure->reason);
}

static void on_delivered(void *opaque, const char *domain, int32_t partition, int64_t offset) {
        bl_pipeline_t *p = opaque;
        bl_credit_record(p->credit, domain, partition, offset);
}

static void on_producer_lost(void *opaque) {
        bl_pipeline_t *p = opaque;
        p->renew_producer = true;
}

static void on_stopped(void *opaque) {
        bl_pipeline_t *p = opaque;
        p->fatal = true;
}

static void on_waiting(void *opaque) {
        bl_observe_tick(opaque);
}

void bl_recovery_hooks(bl_pipeline_t *p, bl_batch_hooks_t *hooks) {
        *hooks = (bl_batch_hooks_t){.offsets = done_offsets,
                                    .committed = on_committed,
                                    .aborted = on_aborted,
                                    .delivered = on_delivered,
                                    .producer_lost = on_producer_lost,
                                    .stopped = on_stopped,
                                    .waiting = on_waiting,
                                    .opaque = p};
}

/* The producer was lost: what the batches held is gone without an abort (the new producer's
 * init_transactions aborts it), and the world goes back to the last commit with the new producer. */
void bl_recovery_producer_lost(bl_pipeline_t *p) {
        bl_batch_reset(p->batch);
        bl_outputs_forget_snapshots(p);
        bl_gate_aborted(p->gate);
        p->giving_up = false;
        bl_isolate_failed(p->isolate, BL_FAULT_TRANSIENT, false); /* both batches are gone */
        p->stats.aborts++;
        bl_metric_inc(p->observe.aborted, 1);
        bl_observe_aborted(p);
        bl_credit_transaction_aborted(p->credit);
}
