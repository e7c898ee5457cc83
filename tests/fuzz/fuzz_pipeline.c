/*
 * fuzz_pipeline.c: a libFuzzer target for the whole path a record takes
 * inside `backlogd run`, without Kafka: decode and validate (the decoder
 * fuzz_decode builds, over the fixtures' file registry), the backlog with its
 * policy, timers and dispatch, and every output encoded as
 * src/pipeline/outputs.c encodes it (transitions and snapshots, dispatch
 * decisions, dependency notices, dead letters through the real DLQ letter
 * building of src/pipeline/dlq.c, tombstones), handed to a fake producer
 * that checks each record and releases it.
 *
 * An input is a sequence of steps separated by the four bytes SEPARATOR.
 * Each step, like one turn of run.c's loop:
 *   byte 0   how far the clock moves first: (b & 63) << 5 * (b >> 6) ms
 *            (up to 63 ms, 2 s, 64 s or 34 min), so retention, leases,
 *            back-offs and deadlines all come due;
 *   byte 1   bits 0-2: how many READY tasks of each domain are dispatched
 *            after the record; bit 3: the record is on tasks.results, not
 *            tasks.events; bit 4: no record: the task named by the key is
 *            given up (processing.failed, as failure isolation does);
 *            bit 5: the record carries a traceparent header; bit 6: the
 *            notices of this step wait for the next one (they are records
 *            of backlog.deps, read later); bit 7: the instance restarts
 *            first: a new backlog restored from the snapshots produced so
 *            far (backlog.state as compaction keeps it: the last snapshot
 *            of each task not tombstoned), as restore.c restores it;
 *   byte 2   the key as in fuzz_decode: 0xFF no key, else its length (mod
 *            64, capped by what follows), then the key's bytes, then the
 *            value, to the end of the step.
 * A step of one or two bytes moves the clock (and dispatches) only. The
 * task's partition is a hash of its key, for events and notices alike, as
 * Kafka's partitioner keeps a key on one partition.
 *
 * After the record: the dependency notices produced so far are read back
 * (decoded as bl_outputs_apply_notice_record does) and applied, then the
 * timers due fire (bl_backlog_advance), READY tasks are dispatched
 * (bl_backlog_dispatch) and the notices are applied again; last, the tasks
 * at rest are frozen into a spill store (bl_backlog_freeze_at_rest, as the
 * pipeline does once a batch's snapshots are written), so that every later
 * step thaws what it touches, and a restart restores into frozen tasks. One backlog per
 * input, with a fixed seed: the same input always runs the same way. The
 * decoders, the encoder and the policy are built once and reused, as a
 * running instance reuses them.
 *
 * Invariants, checked with abort() so libFuzzer reports a crash:
 *  - every output of a validated event encodes (the contracts can carry what
 *    validation let in), and every record produced decodes back with the
 *    records module: a snapshot to an item whose task_id is its key and whose
 *    state is the item's, a transition to the same change, a decision to
 *    the same (task_id, attempt) in a configured domain, a notice to the same
 *    notice keyed by its addressee;
 *  - every string in every Avro record produced, walked with avro-c's
 *    generic values and the writer schema, is valid UTF-8, and so are the
 *    record keys;
 *  - no record is larger than limits.message_max_bytes +
 *    BL_CONFIG_LETTER_ROOM_BYTES, and no dead letter larger than the DLQ
 *    takes;
 *  - a dead letter carries every dlq.* header, all of them (dlq.detail too)
 *    valid UTF-8, with a known reason; a letter of the backlog's own (a task
 *    given up) holds a SUBMITTED that the decoder accepts again (a redrive
 *    works), keyed by its task_id;
 *  - the state machine takes only legal transitions: each from the state the
 *    sink last saw for the task, with seq one higher, across restarts too
 *    (a restored task goes on from its snapshot); the same (task_id, attempt) of one submission is
 *    never dispatched twice, restarts included (a cancellation notice only
 *    follows its dispatch), and a task submitted again
 *    after its purge is dispatched only when its submission is newer than
 *    the forgotten one;
 *  - every log line is one JSON object, whatever bytes the input held;
 *  - nothing crashes or leaks (ASan, LSan at exit, the backlog destroyed
 *    after each input), and each input runs in bounded time: every notice
 *    exchange ends (at most NOTICE_ROUNDS_MAX notices per step).
 * Single-threaded, as libFuzzer runs it.
 */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/catalog.h"
#include "contract/decoder.h"
#include "contract/encode.h"
#include "contract/records.h"
#include "contract/submission.h"
#include "contract/transitions.h"
#include "contract/schemas.h"
#include "contract/wire.h"
#include "core/backlog.h"
#include "policy/load.h"
#include "base/text.h"
#include "ops/config.h"
#include "base/log.h"
#include "pipeline/dlq.h"
#include "pipeline/spill_glue.h"
#include "store/spill.h"

#ifndef BL_FUZZ_FIXTURES_DIR
#define BL_FUZZ_FIXTURES_DIR "tests/fixtures"
#endif

#define SEPARATOR "\xFE\xFF\xB1\x0C"
#define SEPARATOR_SIZE 4
#define KEY_ABSENT 0xFF
#define MESSAGE_MAX_BYTES 4096
/* The largest record any output may be: what the producer's message.max.bytes is set to. */
#define RECORD_MAX_BYTES (MESSAGE_MAX_BYTES + BL_CONFIG_LETTER_ROOM_BYTES)
/* backlog.dlq's max.message.bytes, below the producer's: the largest records go as record.too_large. */
#define DLQ_TOPIC_MAX_BYTES 3072
#define PARTITIONS 4
#define CLOCK_START_MS 1795900000000 /* 2026-11-28T07:06:40Z, where the seeds' times are */
#define NOTICE_ROUNDS_MAX 100000

#define CONTROL_DISPATCH_MASK 0x07
#define CONTROL_RESULTS 0x08
#define CONTROL_GIVE_UP 0x10
#define CONTROL_TRACEPARENT 0x20
#define CONTROL_HOLD_NOTICES 0x40
#define CONTROL_RESTART 0x80

#define TOPIC_EVENTS "tasks.events"
#define TOPIC_RESULTS "tasks.results"
#define TOPIC_DLQ "backlog.dlq"
#define TRACEPARENT "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_options(void);

/* avro-c's generic values keep pointers at unaligned addresses: see fuzz_decode.c. */
const char *__lsan_default_options(void) {
        return "use_unaligned=1";
}

static const char *const domains[] = {"model_inference", "evaluation", "data_preparation"};
#define DOMAIN_COUNT 3

static const bl_contract_rules_t rules = {
        .id_max_bytes = 64,
        .text_max_bytes = 256,
        .depends_on_max = 3,
        .labels_max = 4,
        .label_max_bytes = 32,
        .payload_max_bytes = 64,
        .domains = domains,
        .domain_count = DOMAIN_COUNT,
};

/*
 * A policy that reaches every callback: approval above a risk threshold
 * (lower in evaluation), fewer attempts in evaluation, and a canary that
 * scores half of the tasks under another name, so decisions carry either.
 */
static const char policy_json[] =
        "{\"name\": \"fuzz\", \"version\": \"1\","
        " \"weights\": {\"business_value\": 2, \"risk\": -0.5, \"sla_urgency\": 2.5, \"freshness\": 1,"
        " \"aging\": 7, \"retry_penalty\": -0.5},"
        " \"criteria\": {\"urgency_horizon_ms\": 60000, \"freshness_half_life_ms\": 60000,"
        " \"aging_horizon_ms\": 60000},"
        " \"defaults\": {\"worker_group\": \"{domain}-workers\", \"max_lag\": 1000, \"resume_lag\": 500,"
        " \"retry_base_ms\": 100, \"retry_cap_ms\": 1000, \"max_attempts\": 3, \"approval_risk_threshold\": 0.9},"
        " \"domains\": {\"evaluation\": {\"max_attempts\": 2, \"approval_risk_threshold\": 0.5}},"
        " \"canary\": {\"fraction\": 0.5, \"policy\": {\"name\": \"fuzz\", \"version\": \"2-rc\","
        " \"weights\": {\"business_value\": 1, \"sla_urgency\": 3.5, \"aging\": 7},"
        " \"defaults\": {\"retry_base_ms\": 100, \"retry_cap_ms\": 1000, \"max_attempts\": 3,"
        " \"approval_risk_threshold\": 0.9},"
        " \"domains\": {\"evaluation\": {\"max_attempts\": 2, \"approval_risk_threshold\": 0.5}}}}}";

/* ---- what is built once ------------------------------------------------------------- */

static struct {
        bl_catalog_t *input_catalog;   /* tests/fixtures/schemas: TaskEvent and foreign writers */
        bl_schemas_t *input_schemas;
        bl_decoder_t *decoder;         /* ingest's */
        bl_schemas_t *redrive_schemas; /* a cache of its own: a letter is decoded while an event is borrowed */
        bl_decoder_t *redrive;         /* what a redriven letter meets */
        bl_catalog_t *catalog;         /* schemas/: the contracts of backlogd's own records */
        bl_schemas_t *schemas;         /* the encoder's */
        bl_records_t *records;
        bl_schema_t *submission_schema; /* a dead letter's TaskEvent, as run.c keeps it */
        int32_t task_event_id;
        bl_schemas_t *readback;         /* decodes every record produced, and walks it */
        bl_transition_reader_t *transitions; /* reads the transitions back, each item carried forward (v3) */
        bl_policy_t *policy;
} once;

/* ---- the state of one input --------------------------------------------------------- */

/* A dispatch the fake producer saw: the attempt of the submission made at submitted_at_ms. */
typedef struct dispatch_seen_s {
        int32_t attempt;
        int64_t submitted_at_ms;
} dispatch_seen_t;

/* What the sink has seen of one task id over the input, across its purges. */
typedef struct task_seen_s {
        struct task_seen_s *next;
        char *task_id;
        bool live;       /* a change was seen since the last tombstone */
        bl_state_t state;
        int64_t seq;
        dispatch_seen_t *dispatches;
        size_t dispatch_count;
        unsigned char *snapshot; /* its last snapshot in backlog.state; NULL after a tombstone */
        size_t snapshot_size;
        int32_t partition;
} task_seen_t;

#define TASK_BUCKETS 256

typedef struct pending_notice_s {
        bl_notice_record_t *record;
        int32_t partition;
} pending_notice_t;

static struct {
        bl_backlog_t *backlog;
        bl_spill_t *spill;         /* the tasks at rest, frozen at the end of every step */
        bl_spill_ops_t spill_ops;
        bl_dlq_t *dlq;
        int64_t now_ms;
        int64_t step;
        task_seen_t *tasks[TASK_BUCKETS];
        pending_notice_t *notices;
        size_t notice_count, notice_capacity;
        FILE *log;
        char *log_text;
        size_t log_size;
} run;

/* BACKLOGD_FUZZ_TRACE=1: one line per output on stderr, to see what an input does. */
static bool tracing;

static void trace(const char *what, const char *task_id, const char *detail) {
        if (tracing)
                fprintf(stderr, "fuzz_pipeline: step %lld at +%lld ms: %s %s%s%s\n", (long long)run.step,
                        (long long)(run.now_ms - CLOCK_START_MS), what, task_id, detail ? ": " : "",
                        detail ? detail : "");
}

static void violated(const char *invariant, const char *detail) {
        fprintf(stderr, "fuzz_pipeline: invariant violated at step %lld: %s%s%s\n", (long long)run.step, invariant,
                detail ? ": " : "", detail ? detail : "");
        abort();
}

static uint32_t hash_of(const void *bytes, size_t size) {
        const unsigned char *at = bytes;
        uint32_t hash = 2166136261u;
        for (size_t i = 0; i < size; i++)
                hash = (hash ^ at[i]) * 16777619u;
        return hash;
}

static int32_t partition_of(const void *key, size_t key_size) {
        return (int32_t)(hash_of(key, key_size) % PARTITIONS);
}

static task_seen_t *task_seen(const char *task_id) {
        task_seen_t **bucket = &run.tasks[hash_of(task_id, strlen(task_id)) % TASK_BUCKETS];
        for (task_seen_t *task = *bucket; task; task = task->next)
                if (!strcmp(task->task_id, task_id))
                        return task;
        task_seen_t *task = calloc(1, sizeof(*task));
        if (!task || !(task->task_id = strdup(task_id)))
                violated("out of memory", NULL);
        task->next = *bucket;
        *bucket = task;
        return task;
}

static void forget_tasks(void) {
        for (size_t b = 0; b < TASK_BUCKETS; b++) {
                for (task_seen_t *task = run.tasks[b], *next; task; task = next) {
                        next = task->next;
                        free(task->task_id);
                        free(task->dispatches);
                        free(task->snapshot);
                        free(task);
                }
                run.tasks[b] = NULL;
        }
}

/* ---- checks of the records produced ------------------------------------------------- */

static void check_utf8(const void *text, size_t size, const char *what) {
        size_t bad;
        if (!bl_text_utf8_valid(text, size, &bad)) {
                char detail[128];
                snprintf(detail, sizeof(detail), "%s, byte %zu of %zu", what, bad, size);
                violated("a string produced is not valid UTF-8", detail);
        }
}

/* Every string of @p value (and every map key), recursively. */
static void walk_strings(avro_value_t *value, const char *path) {
        const char *text = NULL, *name;
        size_t size = 0, count = 0;
        avro_value_t child;
        switch (avro_value_get_type(value)) {
        case AVRO_STRING:
                if (avro_value_get_string(value, &text, &size) || size == 0)
                        violated("an Avro string cannot be read back", path);
                check_utf8(text, size - 1, path); /* avro-c counts the NUL */
                break;
        case AVRO_RECORD:
        case AVRO_ARRAY:
        case AVRO_MAP:
                if (avro_value_get_size(value, &count))
                        violated("an Avro record, array or map cannot be read back", path);
                for (size_t i = 0; i < count; i++) {
                        name = NULL;
                        if (avro_value_get_by_index(value, i, &child, &name))
                                violated("an Avro field or item cannot be read back", path);
                        if (name && avro_value_get_type(value) == AVRO_MAP)
                                check_utf8(name, strlen(name), path);
                        walk_strings(&child, name ? name : path);
                }
                break;
        case AVRO_UNION:
                if (avro_value_get_current_branch(value, &child))
                        violated("an Avro union cannot be read back", path);
                walk_strings(&child, path);
                break;
        default: break;
        }
}

/* Reads @p value with its writer schema into generic values and walks every string. */
static void check_avro_strings(const void *value, size_t size, const char *what) {
        char errstr[256];
        int32_t schema_id;
        const unsigned char *body;
        size_t body_size;
        bl_schema_t *schema;
        bl_record_error_t error;
        if (!bl_wire_parse(value, size, &schema_id, &body, &body_size, &error))
                violated("a record produced has no wire header", error.detail);
        if (bl_schemas_get(once.readback, schema_id, &schema, errstr, sizeof(errstr)))
                violated("a record produced names a schema id the catalog lacks", errstr);
        avro_reader_t reader = avro_reader_memory((const char *)body, (int64_t)body_size);
        if (!reader)
                violated("out of memory", NULL);
        avro_value_reset(&schema->value);
        if (avro_value_read(reader, &schema->value))
                violated("a record produced does not read with its writer schema", what);
        avro_reader_free(reader);
        walk_strings(&schema->value, what);
}

/* The fake producer: the checks every record gets, whatever its topic. */
static void produce(const char *topic, const char *key, size_t key_size, const void *value, size_t value_size) {
        if (key_size + value_size > RECORD_MAX_BYTES)
                violated("a record larger than limits.message_max_bytes + the letter room", topic);
        if (key)
                check_utf8(key, key_size, "a record key");
        if (value)
                check_avro_strings(value, value_size, topic);
}

static void check_item_back(const bl_item_t *back, const bl_item_t *item, const char *what) {
        if (!back)
                violated("an item produced does not decode back", what);
        if (strcmp(back->task_id, item->task_id) || back->state != item->state || back->attempt != item->attempt ||
            back->seq != item->seq)
                violated("an item decodes back to another task, state, attempt or seq", what);
}

/* ---- the sink: the backlog's outputs, encoded as outputs.c encodes them -------------- */

static void check_change(const bl_transition_t *transition, const bl_item_t *item) {
        task_seen_t *task = task_seen(item->task_id);
        char detail[128];
        if (strcmp(transition->task_id, item->task_id) || transition->to != item->state ||
            transition->seq != item->seq)
                violated("a transition does not describe its item", item->task_id);
        snprintf(detail, sizeof(detail), "%s -> %s", transition->has_from ? bl_state_name(transition->from) : "(none)",
                 bl_state_name(transition->to));
        if (transition->has_from && !bl_state_transition_legal(transition->from, transition->to))
                violated("an illegal transition", detail);
        if (task->live && (!transition->has_from || transition->from != task->state || transition->seq != task->seq + 1))
                violated("a transition that does not follow the task's last one", detail);
        trace("transition", item->task_id, detail);
        task->live = true;
        task->state = transition->to;
        task->seq = transition->seq;
}

/* backlog.state as compaction keeps it: the last snapshot of each task, for a restart. */
static void keep_snapshot(const bl_item_t *item, const void *value, size_t size) {
        task_seen_t *task = task_seen(item->task_id);
        unsigned char *copy = malloc(size);
        if (!copy)
                violated("out of memory", NULL);
        memcpy(copy, value, size);
        free(task->snapshot);
        task->snapshot = copy;
        task->snapshot_size = size;
        task->partition = item->partition;
}

static void on_changed(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        const void *transition_value, *snapshot_value;
        size_t transition_size, snapshot_size;
        bl_record_error_t error;
        (void)opaque;
        check_change(transition, item);
        if (bl_records_change(once.records, transition, item, transition->submission, &transition_value,
                              &transition_size, &snapshot_value, &snapshot_size))
                violated("a transition and its snapshot cannot be encoded", bl_records_last_error(once.records));
        produce("backlog.transitions", item->task_id, strlen(item->task_id), transition_value, transition_size);
        bl_transition_record_t *back = bl_transition_reader_read(once.transitions, item->task_id,
                                                                 strlen(item->task_id), transition_value,
                                                                 transition_size, item->partition, -1, &error);
        if (!back)
                violated("a transition does not decode back", error.detail);
        if (strcmp(back->transition.task_id, item->task_id) || back->transition.to != transition->to ||
            back->transition.has_from != transition->has_from || back->transition.seq != transition->seq)
                violated("a transition decodes back to another change", item->task_id);
        check_item_back(back->item, item, "the item of a transition");
        bl_transition_record_destroy(back);

        produce("backlog.state", item->task_id, strlen(item->task_id), snapshot_value, snapshot_size);
        bl_item_t *snapshot = bl_records_decode_item(once.readback, snapshot_value, snapshot_size, item->partition,
                                                     &error);
        check_item_back(snapshot, item, error.detail);
        bl_item_destroy(snapshot);
        keep_snapshot(item, snapshot_value, snapshot_size);
}

static bool configured_domain(const char *domain) {
        for (size_t d = 0; domain && d < DOMAIN_COUNT; d++)
                if (!strcmp(domains[d], domain))
                        return true;
        return false;
}

/* The same (task_id, attempt) of one submission is dispatched once; a purged task's only to a newer submission. */
static void check_dispatch_once(const bl_item_t *item) {
        task_seen_t *task = task_seen(item->task_id);
        for (size_t i = 0; i < task->dispatch_count; i++)
                if (task->dispatches[i].attempt == item->attempt &&
                    task->dispatches[i].submitted_at_ms >= item->submitted_at_ms) {
                        char detail[160];
                        snprintf(detail, sizeof(detail), "%.64s attempt %d, submitted at %lld, was dispatched for "
                                 "a submission at %lld", item->task_id, (int)item->attempt,
                                 (long long)item->submitted_at_ms, (long long)task->dispatches[i].submitted_at_ms);
                        violated("a task attempt dispatched twice", detail);
                }
        dispatch_seen_t *grown = realloc(task->dispatches, (task->dispatch_count + 1) * sizeof(*grown));
        if (!grown)
                violated("out of memory", NULL);
        task->dispatches = grown;
        task->dispatches[task->dispatch_count++] = (dispatch_seen_t){item->attempt, item->submitted_at_ms};
}

/* A cancellation notice names an attempt of this submission that was dispatched (SPEC §15). */
static void check_cancel_follows_dispatch(const bl_item_t *item) {
        task_seen_t *task = task_seen(item->task_id);
        for (size_t i = 0; i < task->dispatch_count; i++)
                if (task->dispatches[i].attempt == item->attempt &&
                    task->dispatches[i].submitted_at_ms >= item->submitted_at_ms)
                        return;
        violated("a cancellation notice of an attempt never dispatched", item->task_id);
}

static void on_dispatched(void *opaque, const bl_dispatch_t *dispatch) {
        const bl_item_t *item = dispatch->item;
        const void *value;
        size_t size;
        bl_record_error_t error;
        (void)opaque;
        if (!configured_domain(item->kind->domain))
                violated("a dispatch to a domain that is not configured", item->kind->domain);
        if (dispatch->cancel)
                check_cancel_follows_dispatch(item);
        else
                check_dispatch_once(item);
        trace(dispatch->cancel ? "cancel" : "dispatch", dispatch->dispatch_id, dispatch->policy_version);
        if (bl_records_dispatch(once.records, dispatch, &value, &size))
                violated("a dispatch decision cannot be encoded", bl_records_last_error(once.records));
        produce("dispatch.<domain>", item->task_id, strlen(item->task_id), value, size);
        bl_dispatch_record_t *back = bl_records_decode_dispatch(once.readback, value, size, &error);
        if (!back)
                violated("a dispatch decision does not decode back", error.detail);
        if (strcmp(back->item->task_id, item->task_id) || back->item->attempt != item->attempt ||
            !back->dispatch.dispatch_id || strcmp(back->dispatch.dispatch_id, dispatch->dispatch_id) ||
            !back->item->kind->domain || strcmp(back->item->kind->domain, item->kind->domain) ||
            back->dispatch.cancel != dispatch->cancel)
                violated("a dispatch decision decodes back to another task, attempt or domain", item->task_id);
        bl_dispatch_record_destroy(back);
}

static void queue_notice(bl_notice_record_t *record) {
        if (run.notice_count == run.notice_capacity) {
                size_t capacity = run.notice_capacity ? 2 * run.notice_capacity : 16;
                pending_notice_t *grown = realloc(run.notices, capacity * sizeof(*grown));
                if (!grown)
                        violated("out of memory", NULL);
                run.notices = grown;
                run.notice_capacity = capacity;
        }
        const char *to = record->notice.to_task_id;
        run.notices[run.notice_count++] = (pending_notice_t){record, partition_of(to, strlen(to))};
}

static void on_notice(void *opaque, const bl_notice_t *notice) {
        const void *value;
        size_t size;
        bl_record_error_t error;
        (void)opaque;
        trace(notice->is_outcome ? "notice OUTCOME to" : "notice WAITING to", notice->to_task_id,
              notice->from_task_id);
        if (bl_records_notice(once.records, notice, &value, &size))
                violated("a dependency notice cannot be encoded", bl_records_last_error(once.records));
        produce("backlog.deps", notice->to_task_id, strlen(notice->to_task_id), value, size);
        bl_notice_record_t *back = bl_records_decode_notice(once.readback, value, size, &error);
        if (!back)
                violated("a dependency notice does not decode back", error.detail);
        if (strcmp(back->notice.to_task_id, notice->to_task_id) ||
            strcmp(back->notice.from_task_id, notice->from_task_id) || back->notice.is_outcome != notice->is_outcome ||
            (notice->is_outcome && back->notice.outcome != notice->outcome))
                violated("a dependency notice decodes back to another notice", notice->to_task_id);
        queue_notice(back); /* read back by the owner of to_task_id: this instance */
}

/* ---- dead letters: the submission document (contract/submission.c), dlq.c's letter ---- */

static const char *const letter_headers[] = {
        "dlq.reason", "dlq.detail", "dlq.stage", "dlq.original.topic", "dlq.original.partition",
        "dlq.original.offset", "dlq.original.timestamp", "dlq.attempts", "dlq.failed_at", "dlq.processor",
};

static void header_text(const rd_kafka_headers_t *headers, const char *name, char *out, size_t out_size) {
        const void *value;
        size_t size;
        if (rd_kafka_header_get_last(headers, name, &value, &size) || !value)
                violated("a dead letter without a header", name);
        if (size >= out_size)
                violated("a dead letter header too long to be one", name);
        memcpy(out, value, size);
        out[size] = '\0';
}

static bl_reason_t letter_reason(const rd_kafka_headers_t *headers, const char *name) {
        char text[64];
        header_text(headers, name, text, sizeof(text));
        bl_reason_t reason = bl_reason_parse(text);
        if (reason == BL_REASON_NONE || reason >= BL_REASON__COUNT || strcmp(bl_reason_name(reason), text))
                violated("a dead letter with an unknown reason", text);
        return reason;
}

/* The letter's size as the broker counts it: dlq.c's letter_bytes, from the record's side. */
static size_t letter_bytes(size_t key_size, size_t value_size, const rd_kafka_headers_t *headers) {
        size_t bytes = 61 + 32 + key_size + value_size;
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(headers, i, &name, &value, &size); i++)
                bytes += strlen(name) + size + 10;
        return bytes;
}

/* A letter of the backlog's own holds the task's submission: it must pass ingest again when redriven. */
static void check_redrivable(const void *key, size_t key_size, const void *value, size_t value_size) {
        bl_task_event_t event;
        bl_record_error_t error;
        if (!bl_decoder_decode(once.redrive, key, key_size, value, value_size, &event, &error))
                violated("a given-up task's letter would not pass ingest again", error.detail);
        if (event.event_type != BL_EVENT_SUBMITTED)
                violated("a given-up task's letter is not its SUBMITTED", event.task_id);
}

static bool backlog_reason(bl_reason_t reason) {
        return reason == BL_REASON_RETRIES_EXHAUSTED || reason == BL_REASON_DEADLINE_EXPIRED ||
               reason == BL_REASON_DEPENDENCY_FAILED || reason == BL_REASON_PROCESSING_FAILED;
}

/* bl_dlq_produce_fn: the fake producer of backlog.dlq. Takes over @p headers. */
static rd_kafka_resp_err_t produce_letter(void *opaque, const char *topic, const void *key, size_t key_size,
                                          const void *value, size_t value_size, rd_kafka_headers_t *headers) {
        const char *name;
        const void *header_value;
        size_t size;
        char stage[32];
        (void)opaque;
        if (strcmp(topic, TOPIC_DLQ))
                violated("a dead letter to another topic", topic);
        if (!headers)
                violated("a dead letter without headers", NULL);
        if (letter_bytes(key_size, value_size, headers) > DLQ_TOPIC_MAX_BYTES ||
            key_size + value_size > RECORD_MAX_BYTES)
                violated("a dead letter larger than the DLQ takes", NULL);
        for (size_t i = 0; i < sizeof(letter_headers) / sizeof(letter_headers[0]); i++)
                if (rd_kafka_header_get_last(headers, letter_headers[i], &header_value, &size) || !header_value)
                        violated("a dead letter without a header", letter_headers[i]);
        for (size_t i = 0; !rd_kafka_header_get_all(headers, i, &name, &header_value, &size); i++) {
                check_utf8(name, strlen(name), "a dead letter's header name");
                if (header_value)
                        check_utf8(header_value, size, name);
        }
        bl_reason_t reason = letter_reason(headers, "dlq.reason");
        header_text(headers, "dlq.stage", stage, sizeof(stage));
        if (tracing) {
                char detail[4 * BL_RECORD_DETAIL_MAX];
                header_text(headers, "dlq.detail", detail, sizeof(detail));
                trace("dead letter", bl_reason_name(reason), detail);
        }
        if (reason == BL_REASON_RECORD_TOO_LARGE)
                letter_reason(headers, "dlq.original.reason");
        else if (backlog_reason(reason))
                check_redrivable(key, key_size, value, value_size);
        if (backlog_reason(reason) && strcmp(stage, "backlog"))
                violated("a given-up task's letter not from the backlog stage", stage);
        rd_kafka_headers_destroy(headers);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void on_dead_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        char errstr[512];
        unsigned char *value = NULL;
        size_t size = 0;
        json_t *event = bl_submission_json(item);
        (void)opaque;
        if (!event)
                violated("a given-up task's submission does not make a JSON document", item->task_id);
        if (bl_encode_json(once.submission_schema, once.task_event_id, event, &value, &size, errstr, sizeof(errstr)))
                violated("a given-up task's submission cannot be encoded", errstr);
        bl_record_error_t failure = {false, reason, "", once.task_event_id, false};
        rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
        const char *traceparent = bl_item_cold(item)->traceparent;
        if (traceparent)
                rd_kafka_header_add(headers, "traceparent", -1, traceparent, -1);
        bl_dlq_original_t original = {TOPIC_EVENTS, item->partition, -1, item->submitted_at_ms,
                                      item->task_id, strlen(item->task_id), value, size, headers};
        snprintf(failure.detail, sizeof(failure.detail), "%s", detail);
        if (bl_dlq_send(run.dlq, &original, "backlog", &failure, item->attempt, errstr, sizeof(errstr)))
                violated("a given-up task's letter was refused", errstr);
        rd_kafka_headers_destroy(headers);
        free(value);
        json_decref(event);
}

static void on_purged(void *opaque, const char *task_id, int32_t partition) {
        (void)opaque, (void)partition;
        trace("tombstone", task_id, NULL);
        produce("backlog.state", task_id, strlen(task_id), NULL, 0); /* a tombstone */
        task_seen_t *task = task_seen(task_id);
        task->live = false;
        free(task->snapshot);
        task->snapshot = NULL;
}

/* ---- ingest and the loop ----------------------------------------------------------- */

static void build_once(void) {
        char errstr[512], dir[1024];
        const char *fixtures = getenv("BACKLOGD_FIXTURES");
        snprintf(dir, sizeof(dir), "%s/schemas", fixtures && *fixtures ? fixtures : BL_FUZZ_FIXTURES_DIR);
        if (!(once.input_catalog = bl_catalog_load(dir, errstr, sizeof(errstr))) ||
            !(once.input_schemas = bl_schemas_new(once.input_catalog, NULL, errstr, sizeof(errstr))) ||
            !(once.decoder = bl_decoder_new(once.input_schemas, &rules, MESSAGE_MAX_BYTES, errstr, sizeof(errstr))) ||
            !(once.redrive_schemas = bl_schemas_new(once.input_catalog, NULL, errstr, sizeof(errstr))) ||
            !(once.redrive = bl_decoder_new(once.redrive_schemas, &rules, MESSAGE_MAX_BYTES, errstr,
                                            sizeof(errstr))) ||
            !(once.catalog = bl_catalog_load(BL_SCHEMAS_DIR, errstr, sizeof(errstr))) ||
            !(once.schemas = bl_schemas_new(once.catalog, NULL, errstr, sizeof(errstr))) ||
            !(once.records = bl_records_new(once.schemas, NULL, "backlogd-fuzz-0", errstr, sizeof(errstr))) ||
            !(once.readback = bl_schemas_new(once.catalog, NULL, errstr, sizeof(errstr))) ||
            !(once.transitions = bl_transition_reader_new(once.readback, 0))) {
                fprintf(stderr, "fuzz_pipeline: contracts: %s\n", errstr);
                exit(2);
        }
        once.submission_schema = bl_schemas_private_copy(once.schemas, "task_event", 0);
        const bl_catalog_entry_t *task_event = bl_catalog_find(once.catalog, "task_event", 0);
        once.policy = bl_policy_parse(policy_json, strlen(policy_json), domains, DOMAIN_COUNT, NULL, NULL);
        if (!once.submission_schema || !task_event || !once.policy) {
                fprintf(stderr, "fuzz_pipeline: %s\n", once.policy ? "no task_event contract" : "the policy");
                exit(2);
        }
        once.task_event_id = task_event->id;
        tracing = getenv("BACKLOGD_FUZZ_TRACE") && !strcmp(getenv("BACKLOGD_FUZZ_TRACE"), "1");
}

/* At exit, so that whatever LeakSanitizer still finds was lost by the code under test. */
static void destroy_once(void) {
        bl_policy_destroy(once.policy);
        bl_schema_free(once.submission_schema);
        bl_transition_reader_destroy(once.transitions);
        bl_schemas_destroy(once.readback);
        bl_records_destroy(once.records);
        bl_schemas_destroy(once.schemas);
        bl_catalog_destroy(once.catalog);
        bl_decoder_destroy(once.redrive);
        bl_schemas_destroy(once.redrive_schemas);
        bl_decoder_destroy(once.decoder);
        bl_schemas_destroy(once.input_schemas);
        bl_catalog_destroy(once.input_catalog);
        memset(&once, 0, sizeof(once));
}

/* steer.c's three callbacks, over the one policy. */
static double score_task(void *opaque, const bl_item_t *item, int64_t now_ms) {
        (void)opaque;
        return bl_policy_score_task(once.policy, item, now_ms, NULL, NULL);
}

static void decide(void *opaque, const bl_item_t *item, int64_t now_ms, bl_decision_t *decision) {
        const bl_policy_t *chosen = NULL;
        (void)opaque;
        decision->score = bl_policy_score_task(once.policy, item, now_ms, decision->criteria, &chosen);
        decision->criteria_count = BL_POLICY_CRITERIA;
        decision->policy_name = bl_policy_name(chosen);
        decision->policy_version = bl_policy_version(chosen);
}

static void task_settings(void *opaque, const bl_item_t *item, bl_task_settings_t *settings) {
        (void)opaque;
        const bl_policy_t *chosen = bl_policy_for_task(once.policy, item->task_id);
        const bl_domain_policy_t *domain = bl_policy_domain(chosen, item->kind->domain ? item->kind->domain : "");
        if (domain) {
                settings->retry_base_ms = domain->retry_base_ms;
                settings->retry_cap_ms = domain->retry_cap_ms;
                settings->max_attempts = domain->max_attempts;
        }
        settings->approval_required = bl_policy_requires_approval(chosen, item);
}

static bl_backlog_t *new_backlog(void) {
        static bl_backlog_options_t options = {
                .lease_ms = 1000,
                .retry_base_ms = 100,
                .retry_cap_ms = 1000,
                .max_attempts = 3,
                .retention_ms = 60000, /* the config's minimum */
                .dedup_window = 4,
                .seed = 42,
                .rescore_interval_ms = 500,
                .score = score_task,
                .decide = decide,
                .settings = task_settings,
        };
        static const bl_backlog_sink_t sink = {on_changed, on_dispatched, on_notice, on_dead_letter, on_purged, NULL};
        options.spill = &run.spill_ops;
        return bl_backlog_new(&options, &sink);
}

/*
 * A restart: a new backlog restored from backlog.state, as restore.c does it (every snapshot
 * read in place, a task at rest frozen straight from it, the others taken over whole, then scored as of now), while the notices in flight stay in backlog.deps.
 */
static void restart(void) {
        bl_record_error_t error;
        bl_records_item_view_t view = {0};
        bl_backlog_destroy(run.backlog);
        if (!(run.backlog = new_backlog()))
                violated("out of memory", NULL);
        for (size_t b = 0; b < TASK_BUCKETS; b++)
                for (task_seen_t *task = run.tasks[b]; task; task = task->next) {
                        bool borrowed;
                        if (!task->snapshot)
                                continue;
                        bl_item_t *item = bl_records_decode_item_view(once.readback, task->snapshot,
                                                                      task->snapshot_size, task->partition, &view,
                                                                      &borrowed, &error);
                        if (!item)
                                violated("a snapshot does not decode on restore", error.detail);
                        if (borrowed && bl_backlog_restore_view(run.backlog, item))
                                continue; /* at rest: a stub straight from the bytes */
                        if (borrowed && !(item = bl_records_item_view_whole(&view)))
                                violated("out of memory", NULL);
                        bl_backlog_restore(run.backlog, item);
                }
        bl_records_item_view_free(&view);
        bl_backlog_restore_finish(run.backlog, run.now_ms);
        trace("restart", "", NULL);
}

static void start_input(void) {
        char errstr[256];
        if (bl_spill_new(NULL, &run.spill, errstr, sizeof(errstr)))
                violated("no spill store", errstr);
        run.spill_ops = bl_spill_ops_over(run.spill);
        run.backlog = new_backlog();
        run.dlq = bl_dlq_new(produce_letter, NULL, TOPIC_DLQ, "backlogd fuzz backlogd-fuzz-0");
        run.log = open_memstream(&run.log_text, &run.log_size);
        if (!run.backlog || !run.dlq || !run.log)
                violated("out of memory", NULL);
        bl_dlq_set_max_bytes(run.dlq, DLQ_TOPIC_MAX_BYTES);
        bl_log_set_output(run.log);
        run.now_ms = CLOCK_START_MS;
        run.step = 0;
}

/* Every log line of the input is one JSON object (jansson refuses text that is not UTF-8). */
static void check_log_lines(void) {
        char *line = run.log_text, *end;
        for (; line && *line; line = end + 1) {
                json_error_t error;
                end = strchr(line, '\n');
                if (!end)
                        violated("a log line without its newline", NULL);
                json_t *document = json_loadb(line, (size_t)(end - line), 0, &error);
                if (!json_is_object(document))
                        violated("a log line that is not a JSON object", error.text);
                json_decref(document);
        }
}

static void finish_input(void) {
        for (size_t i = 0; i < run.notice_count; i++)
                bl_notice_record_destroy(run.notices[i].record);
        free(run.notices);
        bl_backlog_destroy(run.backlog);
        bl_spill_destroy(run.spill);
        bl_dlq_destroy(run.dlq);
        bl_log_set_output(stderr);
        fclose(run.log);
        check_log_lines();
        free(run.log_text);
        forget_tasks();
        memset(&run, 0, sizeof(run));
}

/* Applies the notices read back so far, and those they cause, in order: bounded, or it never ends. */
static void apply_notices(void) {
        size_t applied = 0;
        for (size_t next = 0; next < run.notice_count; next++) {
                pending_notice_t notice = run.notices[next];
                run.notices[next].record = NULL;
                if (++applied > NOTICE_ROUNDS_MAX)
                        violated("dependency notices that never end", NULL);
                bl_backlog_apply_notice(run.backlog, &notice.record->notice, notice.partition, run.now_ms);
                bl_notice_record_destroy(notice.record);
        }
        run.notice_count = 0;
}

static void dead_letter_input(const bl_dlq_original_t *original, const bl_record_error_t *failure) {
        char errstr[256];
        const char *stage = failure->reason == BL_REASON_TRANSITION_ILLEGAL ? "backlog" : "ingest";
        if (failure->transient)
                violated("a transient failure with the file registry", failure->detail);
        if (bl_dlq_send(run.dlq, original, stage, failure, 1, errstr, sizeof(errstr)))
                violated("an input record's letter was refused", errstr);
}

/* ingest.c's bl_ingest_record and outputs.c's accept_event, on a record without a Kafka message. */
static void ingest(const bl_dlq_original_t *original, const char *traceparent) {
        bl_task_event_t event;
        bl_record_error_t failure;
        char detail[BL_RECORD_DETAIL_MAX];
        if (!bl_decoder_decode(once.decoder, original->key, original->key_size, original->value,
                               original->value_size, &event, &failure)) {
                dead_letter_input(original, &failure);
                return;
        }
        bl_event_origin_t origin = {original->topic, original->partition, original->offset, traceparent};
        if (bl_backlog_apply_event(run.backlog, &event, original->partition, &origin, run.now_ms, detail,
                                   sizeof(detail)) == BL_APPLY_ILLEGAL) {
                bl_record_error_clear(&failure);
                failure.schema_id = -1;
                bl_record_error_set(&failure, BL_REASON_TRANSITION_ILLEGAL, "%s", detail);
                dead_letter_input(original, &failure);
        }
}

/* Isolation found this task at fault (run.c's give_up_task): it goes DEAD, or a terminal one is purged. */
static void give_up(const uint8_t *key, size_t key_size) {
        char task_id[128];
        if (!key || key_size >= sizeof(task_id) || memchr(key, '\0', key_size))
                return;
        memcpy(task_id, key, key_size);
        task_id[key_size] = '\0';
        bl_backlog_give_up(run.backlog, task_id, "fuzz: its own change cannot be written", false, run.now_ms);
}

static int64_t clock_step_ms(uint8_t byte) {
        return (int64_t)(byte & 0x3F) << (5 * (byte >> 6));
}

static void run_step(const uint8_t *step, size_t size) {
        uint8_t control = size > 1 ? step[1] : 0;
        run.now_ms += size > 0 ? clock_step_ms(step[0]) : 0;
        if (control & CONTROL_RESTART)
                restart();
        if (size > 2) {
                const uint8_t *key = NULL;
                size_t key_size = 0;
                if (step[2] != KEY_ABSENT) {
                        key_size = step[2] % 64;
                        if (key_size > size - 3)
                                key_size = size - 3;
                        key = step + 3;
                }
                size_t value_size = size - 3 - key_size;
                rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
                if (control & CONTROL_TRACEPARENT)
                        rd_kafka_header_add(headers, "traceparent", -1, TRACEPARENT, -1);
                bl_dlq_original_t original = {control & CONTROL_RESULTS ? TOPIC_RESULTS : TOPIC_EVENTS,
                                              partition_of(key, key_size), run.step, run.now_ms, key, key_size,
                                              value_size ? step + 3 + key_size : NULL, value_size, headers};
                if (control & CONTROL_GIVE_UP)
                        give_up(key, key_size);
                else
                        ingest(&original, control & CONTROL_TRACEPARENT ? TRACEPARENT : NULL);
                rd_kafka_headers_destroy(headers);
        }
        if (!(control & CONTROL_HOLD_NOTICES))
                apply_notices();
        bl_backlog_advance(run.backlog, run.now_ms);
        bl_backlog_dispatch(run.backlog, NULL, control & CONTROL_DISPATCH_MASK, run.now_ms);
        if (!(control & CONTROL_HOLD_NOTICES))
                apply_notices();
        bl_backlog_freeze_at_rest(run.backlog); /* as run.c does once a batch's snapshots are written */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!once.decoder) {
                build_once();
                atexit(destroy_once);
        }
        bl_records_forget_changes(once.records); /* each input its own transaction, read from its start */
        bl_transition_reader_destroy(once.transitions);
        if (!(once.transitions = bl_transition_reader_new(once.readback, 0)))
                violated("out of memory", "the transition reader");
        start_input();
        for (const uint8_t *step = data, *end = data + size; step && step <= end; run.step++) {
                const uint8_t *next = memmem(step, (size_t)(end - step), SEPARATOR, SEPARATOR_SIZE);
                run_step(step, next ? (size_t)(next - step) : (size_t)(end - step));
                step = next ? next + SEPARATOR_SIZE : NULL;
        }
        apply_notices(); /* the notices still held are read at last */
        finish_input();
        return 0;
}
