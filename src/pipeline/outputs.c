/*
 * outputs.c: what the backlog decides, as records of the open transaction,
 * and the glue from ingest to the backlog.
 *
 *   changed      -> backlog.transitions (the Transition, with the item after
 *                   it; the payload only where the submission was taken), on the
 *                   task's own partition; the task is noted as changed. A
 *                   task's later change in the same transaction tells only
 *                   what changed since its change before (Transition v3):
 *                   the records' memory of it is forgotten wherever the
 *                   snapshots are, at the batch's end, on an abort and on a
 *                   lost producer, so that a batch redone from the last
 *                   commit tells each task's first change whole again
 *   (batch end)  -> backlog.state: one snapshot of each task changed in the
 *                   batch, as it is at the hand-off (SPEC §3: compaction keeps
 *                   only the last one anyway, and restore reads only that); a
 *                   change into a terminal state writes its snapshot at once,
 *                   since the backlog trims the task right after it
 *   dispatched   -> dispatch.<domain>, keyed by task_id, with traceparent; a
 *                   cancellation notice (kind CANCEL) goes the same way but is
 *                   no dispatch: not counted as one, only in the credit
 *   notice       -> backlog.deps, keyed by the task it is addressed to, so it
 *                   reaches that task's owner whichever instance it is
 *   dead_letter  -> backlog.dlq: the task's submission as a TaskEvent
 *                   (SUBMITTED, newest version), through the one DLQ function
 *   purged       -> a tombstone in backlog.state
 *   submitted    -> tasks.events: a remediation task's SUBMITTED, keyed by its id
 *
 * Record buffers belong to bl_records_t and are copied (batch.c). An output
 * that cannot be encoded fails the batch as a record's fault: the batches
 * are then bisected (isolate.c) until the one task or record it comes from
 * is found and given up. Each dispatch is a unit of the batch for that
 * bisection. Pipeline thread.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/encode.h"
#include "contract/submission.h"
#include "base/log.h"
#include "pipeline/pipeline_int.h"

static void encoding_failed(bl_pipeline_t *p, const char *what) {
        bl_log_error("outputs", "cannot encode %s of a task: %s; the batch will be aborted", what,
                     bl_records_last_error(p->records));
        bl_batch_fail(p->batch, BL_FAULT_RECORD, "outputs: cannot encode %s: %s", what, bl_records_last_error(p->records));
}

/* ---- the snapshots of the tasks changed in the open batch -------------------------------------------------- */

#define SNAPSHOT_GONE ((const bl_item_t *)1) /* a slot whose task was purged: probing goes past it */

typedef struct pending_snapshot_s {
        const bl_item_t *item; /* NULL: a free slot */
        int64_t at_ms;         /* the task's last change in the batch: the snapshot's timestamp */
} pending_snapshot_t;

struct bl_snapshots_s {
        pending_snapshot_t *slots; /* open addressing by task_id, linear probing */
        size_t capacity, used;     /* used: live and gone slots, for the load factor */
};

static size_t slot_of(const char *task_id, size_t capacity) {
        uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
        for (const unsigned char *c = (const unsigned char *)task_id; *c; c++)
                hash = (hash ^ *c) * 1099511628211ULL;
        return (size_t)(hash & (capacity - 1));
}

/* The slot of @p task_id, or the free slot where it would go. */
static pending_snapshot_t *find_snapshot(bl_snapshots_t *pending, const char *task_id) {
        size_t i = slot_of(task_id, pending->capacity);
        while (pending->slots[i].item &&
               (pending->slots[i].item == SNAPSHOT_GONE || strcmp(pending->slots[i].item->task_id, task_id)))
                i = (i + 1) & (pending->capacity - 1);
        return &pending->slots[i];
}

static bool grow_snapshots(bl_snapshots_t *pending) {
        bl_snapshots_t grown = {calloc(pending->capacity ? pending->capacity * 2 : 1024, sizeof(pending_snapshot_t)),
                                pending->capacity ? pending->capacity * 2 : 1024, 0};
        if (!grown.slots)
                return false;
        for (size_t i = 0; i < pending->capacity; i++) {
                if (!pending->slots[i].item || pending->slots[i].item == SNAPSHOT_GONE)
                        continue;
                *find_snapshot(&grown, pending->slots[i].item->task_id) = pending->slots[i];
                grown.used++;
        }
        free(pending->slots);
        *pending = grown;
        return true;
}

/* @p item changed at @p at_ms: its snapshot goes into the batch at its end. False when out of memory. */
static bool note_snapshot(bl_pipeline_t *p, const bl_item_t *item, int64_t at_ms) {
        bl_snapshots_t *pending = p->snapshots;
        if ((pending->used + 1) * 2 > pending->capacity && !grow_snapshots(pending))
                return false;
        pending_snapshot_t *slot = find_snapshot(pending, item->task_id);
        if (!slot->item)
                pending->used++;
        *slot = (pending_snapshot_t){item, at_ms};
        return true;
}

/* A purged task takes no snapshot: its tombstone is the last word. */
static void forget_snapshot(bl_pipeline_t *p, const char *task_id) {
        if (!p->snapshots->used)
                return;
        pending_snapshot_t *slot = find_snapshot(p->snapshots, task_id);
        if (slot->item)
                slot->item = SNAPSHOT_GONE;
}

bool bl_outputs_open(bl_pipeline_t *p) {
        return (p->snapshots = calloc(1, sizeof(*p->snapshots))) != NULL && grow_snapshots(p->snapshots);
}

void bl_outputs_close(bl_pipeline_t *p) {
        if (p->snapshots)
                free(p->snapshots->slots);
        free(p->snapshots);
        p->snapshots = NULL;
}

void bl_outputs_forget_snapshots(bl_pipeline_t *p) {
        if (p->records)
                bl_records_forget_changes(p->records); /* the transaction is over: its first change is told whole */
        if (!p->snapshots || !p->snapshots->used)
                return;
        memset(p->snapshots->slots, 0, p->snapshots->capacity * sizeof(*p->snapshots->slots));
        p->snapshots->used = 0;
}

/* @p item's snapshot, with its payload, into the batch; false when it cannot be encoded (the batch fails). */
static bool write_snapshot(bl_pipeline_t *p, const bl_item_t *item, int64_t at_ms) {
        const void *value;
        size_t size;
        if (bl_records_item(p->records, item, true, &value, &size)) {
                encoding_failed(p, "a snapshot");
                return false;
        }
        bl_batch_record_t record = {.topic = p->topic_state,
                                    .partition = item->partition,
                                    .key = item->task_id,
                                    .key_size = strlen(item->task_id),
                                    .value = value,
                                    .value_size = size,
                                    .timestamp_ms = at_ms};
        bl_batch_produce(p->batch, &record);
        return true;
}

void bl_outputs_write_snapshots(void *opaque) {
        bl_pipeline_t *p = opaque;
        bl_snapshots_t *pending = p->snapshots;
        for (size_t i = 0; i < pending->capacity && pending->used; i++) {
                const bl_item_t *item = pending->slots[i].item;
                if (item && item != SNAPSHOT_GONE && !write_snapshot(p, item, pending->slots[i].at_ms))
                        break;
        }
        bl_outputs_forget_snapshots(p);
}

/* ---- the backlog's sink ------------------------------------------------------------------------------------ */

static void on_changed(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        bl_pipeline_t *p = opaque;
        const void *transition_value;
        size_t transition_size;
        if (bl_records_transition(p->records, transition, item, transition->submission, &transition_value,
                                  &transition_size)) {
                encoding_failed(p, "a transition");
                return;
        }
        bl_batch_record_t record = {.topic = p->topic_transitions,
                                  .partition = item->partition,
                                  .key = item->task_id,
                                  .key_size = strlen(item->task_id),
                                  .value = transition_value,
                                  .value_size = transition_size,
                                  .traceparent = bl_item_cold(item)->traceparent,
                                  .timestamp_ms = transition->at_ms};
        bl_batch_produce(p->batch, &record); /* before the next encoding reuses the records' buffer */
        p->stats.transitions++;
        bl_resilience_changed(p, transition, item);
        bl_observe_transition(p, transition, item);
        bl_estimate_transition(p, transition, item);
        if (bl_state_is_terminal(transition->to)) {
                /* the backlog lets go of the payload, labels and dependencies right after: the full snapshot now */
                forget_snapshot(p, item->task_id);
                write_snapshot(p, item, transition->at_ms);
        } else if (!note_snapshot(p, item, transition->at_ms)) {
                bl_batch_fail(p->batch, BL_FAULT_TRANSIENT, "outputs: out of memory");
        }
}

/* The domain's place in the config, whose copy of the name outlives every delivery report; -1 if not there. */
static int dispatch_domain(const bl_pipeline_t *p, const char *domain) {
        for (size_t d = 0; domain && d < p->config->domains.count; d++)
                if (!strcmp(p->config->domains.items[d], domain))
                        return (int)d;
        return -1;
}

static void on_dispatched(void *opaque, const bl_dispatch_t *dispatch) {
        bl_pipeline_t *p = opaque;
        char unlisted_topic[512];
        const char *topic = unlisted_topic, *domain = NULL;
        const void *value;
        size_t size;
        int d = dispatch_domain(p, dispatch->item->kind->domain);
        if (!dispatch->cancel) /* a cancellation notice belongs to the operator's event: that record is the unit */
                bl_isolate_unit(p->isolate, BL_UNIT_DISPATCH, dispatch->item->task_id, dispatch->item->partition, -1);
        if (bl_records_dispatch(p->records, dispatch, &value, &size)) {
                encoding_failed(p, "a dispatch decision");
                return;
        }
        if (d >= 0) {
                topic = p->topic_dispatch[d];
                domain = p->config->domains.items[d];
        } else { /* validation admits only configured domains: a restored item from an older config */
                snprintf(unlisted_topic, sizeof(unlisted_topic), "%sdispatch.%s", p->config->topics_prefix,
                         dispatch->item->kind->domain);
        }
        bl_batch_record_t record = {.topic = topic,
                                  .partition = RD_KAFKA_PARTITION_UA,
                                  .key = dispatch->item->task_id,
                                  .key_size = strlen(dispatch->item->task_id),
                                  .value = value,
                                  .value_size = size,
                                  .traceparent = bl_item_cold(dispatch->item)->traceparent,
                                  .timestamp_ms = dispatch->decided_at_ms,
                                  .delivery_opaque = (void *)domain};
        bl_batch_produce(p->batch, &record);
        if (domain)
                bl_credit_sent(p->credit, domain); /* a notice too is a record the workers must read past */
        if (dispatch->cancel) {
                p->stats.cancel_notices++;
                return;
        }
        p->stats.dispatched++;
        bl_resilience_dispatched(p, dispatch);
        bl_status_feed_dispatched(p, d);
        bl_observe_dispatch(p, dispatch->item->kind->domain, dispatch->policy_name, dispatch->policy_version);
}

static void on_notice(void *opaque, const bl_notice_t *notice) {
        bl_pipeline_t *p = opaque;
        const void *value;
        size_t size;
        if (bl_records_notice(p->records, notice, &value, &size)) {
                encoding_failed(p, "a dependency notice");
                return;
        }
        bl_batch_record_t record = {.topic = p->topic_deps,
                                  .partition = RD_KAFKA_PARTITION_UA,
                                  .key = notice->to_task_id,
                                  .key_size = strlen(notice->to_task_id),
                                  .value = value,
                                  .value_size = size,
                                  .timestamp_ms = notice->at_ms};
        bl_batch_produce(p->batch, &record);
        p->stats.notices++;
}

static void on_dead_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        bl_pipeline_t *p = opaque;
        char errstr[512];
        unsigned char *value = NULL;
        size_t size = 0;
        json_t *event = bl_submission_json(item);
        if (!event || bl_encode_json(p->submission_schema, p->task_event_id, event, &value, &size, errstr,
                                     sizeof(errstr))) {
                if (!event)
                        snprintf(errstr, sizeof(errstr), "its fields do not make a JSON document");
                bl_log_error("outputs", "cannot encode a given-up task's submission for the DLQ: %s; the batch will "
                                        "be aborted",
                             errstr);
                bl_batch_fail(p->batch, BL_FAULT_RECORD, "dlq: cannot encode the task's submission: %s", errstr);
        } else if (bl_batch_ensure(p->batch)) {
                bl_record_error_t failure = {false, reason, "", -1};
                rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
                const char *traceparent = bl_item_cold(item)->traceparent;
                if (traceparent)
                        rd_kafka_header_add(headers, "traceparent", -1, traceparent, -1);
                bl_dlq_original_t original = {p->topic_events, item->partition, -1, item->submitted_at_ms,
                                              item->task_id, strlen(item->task_id), value, size, headers};
                snprintf(failure.detail, sizeof(failure.detail), "%s", detail);
                failure.schema_id = p->task_event_id;
                if (bl_dlq_send(p->dlq, &original, "backlog", &failure, item->attempt, errstr, sizeof(errstr)))
                        bl_batch_fail(p->batch, BL_FAULT_TRANSIENT, "dlq: %s", errstr); /* the produce said whose fault */
                rd_kafka_headers_destroy(headers);
        }
        free(value);
        json_decref(event);
}

/*
 * A task the backlog submits (a remediation task, SPEC §14): its SUBMITTED TaskEvent (newest version) to
 * tasks.events, keyed by its id so that its partition's owner takes it, in the open transaction with the
 * change that made it: both or neither.
 */
static void on_submitted(void *opaque, const bl_item_t *task) {
        bl_pipeline_t *p = opaque;
        char errstr[512];
        unsigned char *value = NULL;
        size_t size = 0;
        json_t *event = bl_submission_json(task);
        if (!event || bl_encode_json(p->submission_schema, p->task_event_id, event, &value, &size, errstr,
                                     sizeof(errstr))) {
                if (!event)
                        snprintf(errstr, sizeof(errstr), "its fields do not make a JSON document");
                bl_log_error("outputs", "cannot encode remediation task %s: %s; the batch will be aborted",
                             task->task_id, errstr);
                bl_batch_fail(p->batch, BL_FAULT_RECORD, "outputs: cannot encode a remediation task: %s", errstr);
        } else {
                bl_batch_record_t record = {.topic = p->topic_events,
                                            .partition = RD_KAFKA_PARTITION_UA,
                                            .key = task->task_id,
                                            .key_size = strlen(task->task_id),
                                            .value = value,
                                            .value_size = size,
                                            .timestamp_ms = task->submitted_at_ms};
                bl_batch_produce(p->batch, &record); /* copied */
                bl_log_info("outputs", "remediation task %s submitted to %s", task->task_id, p->topic_events);
        }
        free(value);
        json_decref(event);
}

static void on_purged(void *opaque, const char *task_id, int32_t partition) {
        bl_pipeline_t *p = opaque;
        forget_snapshot(p, task_id);
        bl_batch_record_t tombstone = {
                .topic = p->topic_state, .partition = partition, .key = task_id, .key_size = strlen(task_id)};
        bl_batch_produce(p->batch, &tombstone);
}

void bl_outputs_backlog_sink(bl_pipeline_t *p, bl_backlog_sink_t *sink) {
        sink->changed = on_changed;
        sink->dispatched = on_dispatched;
        sink->notice = on_notice;
        sink->dead_letter = on_dead_letter;
        sink->purged = on_purged;
        sink->submitted = on_submitted;
        sink->opaque = p;
}

/* ---- ingest -> backlog --------------------------------------------------------- */

/* Whether @p text of @p size is a W3C trace context traceparent: version-traceid-parentid-flags in hex. */
static bool is_traceparent(const char *text, size_t size) {
        static const size_t dashes[] = {2, 35, 52};
        if (size < 55 || (size > 55 && text[55] != '-'))
                return false; /* a later version may append fields after a dash */
        for (size_t i = 0, d = 0; i < 55; i++) {
                if (d < 3 && i == dashes[d]) {
                        if (text[i] != '-')
                                return false;
                        d++;
                } else if (!isxdigit((unsigned char)text[i])) {
                        return false;
                }
        }
        for (size_t i = 55; i < size; i++)
                if (!isgraph((unsigned char)text[i]))
                        return false;
        return true;
}

/*
 * The record's traceparent header, when it is one: it goes into snapshots and decisions as an Avro string,
 * so anything else (bytes that are not UTF-8 among them) is left out rather than carried on.
 */
static const char *traceparent_of(const rd_kafka_headers_t *headers, char *out, size_t out_size) {
        const void *value;
        size_t size;
        if (!headers || rd_kafka_header_get_last(headers, "traceparent", &value, &size) || !value || size >= out_size ||
            !is_traceparent(value, size))
                return NULL;
        memcpy(out, value, size);
        out[size] = '\0';
        return out;
}

static bl_err_t accept_event(void *opaque, const bl_task_event_t *event, const bl_input_ref_t *source,
                             bl_record_error_t *refusal) {
        bl_pipeline_t *p = opaque;
        char traceparent[128], detail[BL_RECORD_DETAIL_MAX];
        bl_event_origin_t origin = {source->topic, source->partition, source->offset,
                                    traceparent_of(source->headers, traceparent, sizeof(traceparent))};
        if (!bl_batch_ensure(p->batch))
                return BL_ERR_UNAVAILABLE;
        switch (bl_backlog_apply_event(p->backlog, event, source->partition, &origin, bl_clock_wall_ms(), detail,
                                       sizeof(detail))) {
        case BL_APPLY_ILLEGAL:
                p->stats.illegal++;
                bl_record_error_set(refusal, BL_REASON_TRANSITION_ILLEGAL, "%s", detail);
                return BL_ERR_REFUSED;
        case BL_APPLY_DUPLICATE: p->stats.duplicates++; return BL_OK;
        case BL_APPLY_STALE: p->stats.stale_results++; return BL_OK;
        default: return BL_OK;
        }
}

void bl_outputs_ingest_sink(bl_pipeline_t *p, bl_ingest_sink_t *sink) {
        sink->accept = accept_event;
        sink->opaque = p;
}

bl_ingest_outcome_t bl_outputs_apply_notice_record(bl_pipeline_t *p, const rd_kafka_message_t *message, char *why,
                                                   size_t why_size) {
        bl_record_error_t error;
        bl_notice_record_t *record;
        bl_dlq_original_t original;
        char errstr[256];
        if (!bl_batch_ensure(p->batch)) {
                snprintf(why, why_size, "no transaction to apply it in");
                return BL_INGEST_RETRY;
        }
        record = bl_records_decode_notice(p->contracts.schemas, message->payload, message->len, &error);
        if (!record && error.transient) { /* the registry's fault, never the notice's: it waits */
                snprintf(why, why_size, "%s", error.detail);
                return error.pending ? BL_INGEST_WAIT : BL_INGEST_RETRY;
        }
        if (!record) {
                bl_dlq_original_from_message(message, &original);
                if (bl_dlq_send(p->dlq, &original, "backlog", &error, 1, errstr, sizeof(errstr)) == BL_OK)
                        return BL_INGEST_DEAD_LETTERED;
                bl_batch_fail(p->batch, BL_FAULT_TRANSIENT, "dlq: %s", errstr); /* the produce said whose fault */
                snprintf(why, why_size, "%s", errstr);
                return BL_INGEST_RETRY;
        }
        bl_backlog_apply_notice(p->backlog, &record->notice, message->partition, bl_clock_wall_ms());
        bl_notice_record_destroy(record);
        return BL_INGEST_HANDED_ON;
}
