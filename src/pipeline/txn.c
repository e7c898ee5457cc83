/*
 * txn.c: exactly-once batches (SPEC §6).
 *
 * A batch opens with the first input or output after the last hand-off and
 * carries everything it causes: transitions, snapshots, dispatch decisions,
 * dependency notices, dead letters, and, at commit, the input offsets
 * (send_offsets_to_transaction with the consumer's group metadata, so a
 * zombie instance of an older generation is fenced). Each batch is one
 * transaction of the one transactional producer.
 *
 * Commits overlap work. When a batch is due (commit.interval_ms) its commit
 * goes to a thread (commit.c) and the next batch opens at once. That batch's
 * records cannot join a transaction yet: the producer has one open at a
 * time, and a second producer could land them in a partition ahead of the
 * first one's. So they are held here, copied, in the order they came, and
 * go into the next transaction, in that order, when the commit is over. A
 * batch is handed off only after the one before it committed, so the input
 * offsets commit in order too. Held records are bounded by
 * commit.hold_max_bytes; past that the pipeline thread waits for the commit.
 *
 * A produce that librdkafka refuses marks the batch failed; its commit then
 * aborts it. After an abort, or a commit that failed, the world is as of the
 * last commit: the batch after it, held or begun, goes too, since it was
 * decided on top of the aborted one; the consumer is sought back to the
 * committed offsets and the backlog is restored from backlog.state, so both
 * run again and nothing they did survives twice.
 *
 * What happens next depends on whose fault the failure was (bl_txn_fault_of):
 * the broker's or an output's (unreachable, not authorised) holds the whole
 * pipeline back for a back-off that doubles, then the batch runs again; a
 * record's (refused for good, or an output that cannot be encoded) bisects
 * the batches (isolate.c) until the one unit they fail on is found and given
 * up (run.c): no input can stop the instance. A producer fenced because its
 * transaction timed out on the coordinator (a broker stall longer than
 * transaction.timeout_ms) is made anew; any other fatal error ends the run
 * with its cause, and the orchestrator restarts the instance.
 *
 * Pipeline thread, except bl_txn_delivered: the delivery reports are served
 * by whichever thread flushes, the committer's most of the time.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kafka/client.h"
#include "pipeline/pipeline_int.h"

#define TXN_TIMEOUT_MS 30000
#define ABORT_SLICE_MS 1000
#define CLOSE_TIMEOUT_MS 10000

/* A record of the batch after the one committing: its key and value wait in the held bytes. */
struct bl_held_record_s {
        rd_kafka_topic_t *rkt;
        rd_kafka_headers_t *headers; /* owned until produced */
        void *delivery_opaque;
        int64_t timestamp_ms;
        size_t bytes_at; /* the key, then the value */
        size_t key_size, value_size;
        int32_t partition;
        bool has_key, tombstone;
};

/*
 * Logs a failed call's @p result; true when the producer can go on no more. Such a producer is made anew by
 * the loop (bl_pipeline_renew_producer), whose init_transactions aborts what this one left open: a fencing
 * after a broker stall, or the INVALID_TXN_STATE librdkafka 2.0.2 turns an abort into after one, must not
 * end the instance. What cannot be cured that way (the transactional id not authorised, say) stops the run
 * there, with the cause.
 */
static bool check_fatal(bl_pipeline_t *p, const bl_txn_result_t *result) {
        bool fatal = result->producer_fatal;
        bool fenced = result->fenced;
        bl_log(BL_LOG_WARN, "txn", "%s%s", result->reason,
               fenced  ? " (the producer was fenced: the coordinator ended its transaction, after a broker stall "
                         "longer than transaction.timeout_ms, or a newer instance with this instance_id started; "
                         "a new producer takes over)"
               : fatal ? " (fatal for this producer: a new one takes over)"
                       : "");
        if (fatal)
                p->renew_producer = true;
        return fatal;
}

/* ---- whose fault ------------------------------------------------------------------------ */

bl_fault_t bl_txn_fault_of(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE: /* what an abort purged: its cause is reported apart */
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        case RD_KAFKA_RESP_ERR__STATE: /* "the transaction must be aborted": a consequence, its cause comes apart */
                return BL_FAULT_NONE;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR__BAD_MSG: return BL_FAULT_RECORD;
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: return BL_FAULT_OUTPUT;
        default: return BL_FAULT_TRANSIENT;
        }
}

static void keep_failure(bl_fault_t *kept, char *text, size_t text_size, bl_fault_t fault, const char *failure) {
        if (fault <= *kept)
                return; /* the worst fault, and its first failure, say the most */
        *kept = fault;
        snprintf(text, text_size, "%s", failure);
}

void bl_txn_fail(bl_pipeline_t *p, bl_fault_t fault, const char *fmt, ...) {
        char failure[BL_RECORD_DETAIL_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure, sizeof(failure), fmt, ap);
        va_end(ap);
        p->transaction_failed = true;
        keep_failure(&p->batch_fault, p->batch_failure, sizeof(p->batch_failure),
                     fault == BL_FAULT_NONE ? BL_FAULT_TRANSIENT : fault, failure);
}

/* A refusal from librdkafka's threads: kept (the worst first), and the committer told to stop waiting. */
static void refused(bl_pipeline_t *p, bl_fault_t fault, const char *failure, const char *topic) {
        pthread_mutex_lock(&p->deliveries.lock);
        if (topic && !p->deliveries.refused_topic[0])
                snprintf(p->deliveries.refused_topic, sizeof(p->deliveries.refused_topic), "%s", topic);
        keep_failure(&p->deliveries.fault, p->deliveries.failure, sizeof(p->deliveries.failure), fault, failure);
        pthread_mutex_unlock(&p->deliveries.lock);
        atomic_store(&p->deliveries.refused, true);
}

void bl_txn_delivery_failed(bl_pipeline_t *p, const rd_kafka_message_t *message) {
        char failure[BL_RECORD_DETAIL_MAX];
        bl_fault_t fault = bl_txn_fault_of(message->err);
        if (fault == BL_FAULT_NONE)
                return;
        snprintf(failure, sizeof(failure), "outputs: %s refused a record of %zu bytes: %s",
                 rd_kafka_topic_name(message->rkt), message->len + message->key_len, rd_kafka_err2str(message->err));
        refused(p, fault, failure, fault == BL_FAULT_OUTPUT ? rd_kafka_topic_name(message->rkt) : NULL);
}

void bl_txn_producer_log(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
        char topic[BL_UNIT_NAME_MAX], failure[BL_RECORD_DETAIL_MAX];
        const char *cause;
        bl_kafka_log(rk, level, facility, message);
        if (!bl_kafka_refused_partition(facility, message, topic, sizeof(topic), &cause))
                return;
        snprintf(failure, sizeof(failure), "outputs: the broker refused topic %.120s in the transaction: %.80s", topic,
                 cause);
        refused(rd_kafka_opaque(rk), BL_FAULT_OUTPUT, failure, topic);
}

/* The worst refusal reported since the last call, into @p fault and @p failure (left as they are if none). */
static void take_delivery_failure(bl_pipeline_t *p, bl_fault_t *fault, char *failure, size_t failure_size) {
        pthread_mutex_lock(&p->deliveries.lock);
        keep_failure(fault, failure, failure_size, p->deliveries.fault, p->deliveries.failure);
        if (p->deliveries.refused_topic[0] && !p->batch_refused_topic[0])
                snprintf(p->batch_refused_topic, sizeof(p->batch_refused_topic), "%s", p->deliveries.refused_topic);
        p->deliveries.refused_topic[0] = '\0';
        p->deliveries.fault = BL_FAULT_NONE;
        atomic_store(&p->deliveries.refused, false);
        pthread_mutex_unlock(&p->deliveries.lock);
}

bool bl_txn_open(bl_pipeline_t *p) {
        if (pthread_mutex_init(&p->deliveries.lock, NULL))
                return false;
        p->deliveries.ready = true;
        p->wake = rd_kafka_queue_get_consumer(p->consumer);
        return p->wake != NULL;
}

static bool begin_transaction(bl_pipeline_t *p) {
        bl_txn_result_t result = bl_txn_producer_begin(p->txn_producer);
        if (result.verdict != BL_TXN_OK) {
                if (!check_fatal(p, &result))
                        p->fatal = true; /* begin fails only on a programming or fatal error */
                return false;
        }
        p->batch_begun = true;
        return true;
}

bool bl_txn_ensure(bl_pipeline_t *p) {
        if (p->batch_open)
                return true;
        if (p->fatal || p->renew_producer)
                return false;
        p->batch_open = true;
        p->batch_begun = false;
        p->transaction_failed = false;
        p->batch_fault = BL_FAULT_NONE;
        p->batch_started_ms = bl_clock_monotonic_ms();
        return p->committing || begin_transaction(p); /* while a commit runs, the batch is held */
}

struct bl_topic_handle_s {
        char *name;
        rd_kafka_topic_t *rkt;
};

/* The handle of @p topic, made at its first record; NULL when out of memory. */
static rd_kafka_topic_t *topic_handle(bl_pipeline_t *p, const char *topic) {
        struct bl_topic_handle_s *handles;
        for (size_t i = 0; i < p->topic_handle_count; i++)
                if (!strcmp(p->topic_handles[i].name, topic))
                        return p->topic_handles[i].rkt;
        handles = realloc(p->topic_handles, (p->topic_handle_count + 1) * sizeof(*handles));
        if (!handles)
                return NULL;
        p->topic_handles = handles;
        handles += p->topic_handle_count;
        if (!(handles->name = strdup(topic)))
                return NULL;
        if (!(handles->rkt = rd_kafka_topic_new(p->producer, topic, NULL))) {
                free(handles->name);
                return NULL;
        }
        p->topic_handle_count++;
        return handles->rkt;
}

void bl_txn_release_topics(bl_pipeline_t *p) {
        for (size_t i = 0; i < p->topic_handle_count; i++) {
                rd_kafka_topic_destroy(p->topic_handles[i].rkt);
                free(p->topic_handles[i].name);
        }
        free(p->topic_handles);
        p->topic_handles = NULL;
        p->topic_handle_count = 0;
}

/* The record's headers: its own (taken over), with its traceparent added; NULL when it has neither. */
static rd_kafka_headers_t *headers_of(const bl_txn_record_t *record) {
        rd_kafka_headers_t *headers = record->headers;
        if (record->traceparent) {
                if (!headers)
                        headers = rd_kafka_headers_new(1);
                rd_kafka_header_add(headers, "traceparent", -1, record->traceparent, -1);
        }
        return headers;
}

/*
 * Into the transaction that is open; librdkafka copies key and value and takes over @p headers (freed here
 * when it refuses the record). The record's own timestamp spares librdkafka a clock reading per record
 * (1.5 % of the e2e loop), and gives the 7 records of one event the time of their changes.
 */
static rd_kafka_resp_err_t produce_now(bl_pipeline_t *p, rd_kafka_topic_t *rkt, const bl_txn_record_t *record,
                                       rd_kafka_headers_t *headers) {
        bl_txn_message_t message = {.rkt = rkt,
                                    .partition = record->partition,
                                    .key = record->key,
                                    .key_size = record->key_size,
                                    .value = record->value,
                                    .value_size = record->value_size,
                                    .timestamp_ms = record->timestamp_ms,
                                    .headers = headers,
                                    .opaque = record->delivery_opaque};
        rd_kafka_resp_err_t err = bl_txn_producer_send(p->txn_producer, &message);
        if (err) {
                if (!p->transaction_failed) /* once a batch: every later record is refused the same way */
                        bl_log_error("txn", "cannot produce %zu bytes to %s: %s; the batch will be aborted",
                                     record->key_size + record->value_size, rd_kafka_topic_name(rkt),
                                     rd_kafka_err2str(err));
                bl_txn_fail(p, bl_txn_fault_of(err), "outputs: cannot produce %zu bytes to %s: %s",
                            record->key_size + record->value_size, rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
                if (bl_txn_fault_of(err) == BL_FAULT_OUTPUT && !p->batch_refused_topic[0])
                        snprintf(p->batch_refused_topic, sizeof(p->batch_refused_topic), "%s", rd_kafka_topic_name(rkt));
        }
        return err;
}

static bool grow_held(bl_held_t *held, size_t bytes) {
        if (held->count == held->capacity) {
                size_t capacity = held->capacity ? held->capacity * 2 : 1024;
                struct bl_held_record_s *grown = realloc(held->records, capacity * sizeof(*grown));
                if (!grown)
                        return false;
                held->records = grown;
                held->capacity = capacity;
        }
        if (held->used + bytes > held->bytes_capacity) {
                size_t capacity = held->bytes_capacity ? held->bytes_capacity : (size_t)1 << 20;
                while (capacity < held->used + bytes)
                        capacity *= 2;
                char *grown = realloc(held->bytes, capacity);
                if (!grown)
                        return false;
                held->bytes = grown;
                held->bytes_capacity = capacity;
        }
        return true;
}

/* Keeps a copy of @p record, and takes over @p headers, until the commit before it is over. */
static bool hold(bl_held_t *held, rd_kafka_topic_t *rkt, const bl_txn_record_t *record, rd_kafka_headers_t *headers) {
        if (!grow_held(held, record->key_size + record->value_size))
                return false;
        held->records[held->count++] = (struct bl_held_record_s){
                .rkt = rkt,
                .headers = headers,
                .delivery_opaque = record->delivery_opaque,
                .timestamp_ms = record->timestamp_ms,
                .bytes_at = held->used,
                .key_size = record->key_size,
                .value_size = record->value_size,
                .partition = record->partition,
                .has_key = record->key != NULL,
                .tombstone = record->value == NULL,
        };
        if (record->key_size)
                memcpy(held->bytes + held->used, record->key, record->key_size);
        if (record->value_size)
                memcpy(held->bytes + held->used + record->key_size, record->value, record->value_size);
        held->used += record->key_size + record->value_size;
        return true;
}

/* The held records, in the order they came, into the transaction just begun. */
static void produce_held(bl_pipeline_t *p) {
        bl_held_t *held = &p->held;
        for (size_t i = 0; i < held->count; i++) {
                struct bl_held_record_s *entry = &held->records[i];
                const char *bytes = held->bytes + entry->bytes_at;
                bl_txn_record_t record = {.partition = entry->partition,
                                          .key = entry->has_key ? bytes : NULL,
                                          .key_size = entry->key_size,
                                          .value = entry->tombstone ? NULL : bytes + entry->key_size,
                                          .value_size = entry->value_size,
                                          .timestamp_ms = entry->timestamp_ms,
                                          .delivery_opaque = entry->delivery_opaque};
                produce_now(p, entry->rkt, &record, entry->headers);
        }
        p->stats.held_records += held->count;
        held->count = 0;
        held->used = 0;
}

static void drop_held(bl_held_t *held) {
        for (size_t i = 0; i < held->count; i++)
                if (held->records[i].headers)
                        rd_kafka_headers_destroy(held->records[i].headers);
        held->count = 0;
        held->used = 0;
}

/* A write to a topic the gate keeps closed fails the batch: what needs it cannot wait alone (gate.h). */
static rd_kafka_resp_err_t refuse_closed(bl_pipeline_t *p, const bl_txn_record_t *record) {
        if (record->headers)
                rd_kafka_headers_destroy(record->headers);
        bl_txn_fail(p, BL_FAULT_OUTPUT, "outputs: %s refuses writes, waiting for its back-off", record->topic);
        snprintf(p->batch_refused_topic, sizeof(p->batch_refused_topic), "%s", record->topic);
        p->batch_gate_closed = true;
        return RD_KAFKA_RESP_ERR__STATE;
}

rd_kafka_resp_err_t bl_txn_produce(bl_pipeline_t *p, const bl_txn_record_t *record) {
        rd_kafka_headers_t *headers;
        rd_kafka_topic_t *rkt;
        if (!bl_txn_ensure(p)) {
                if (record->headers)
                        rd_kafka_headers_destroy(record->headers);
                return RD_KAFKA_RESP_ERR__STATE;
        }
        if (!bl_gate_open(p->gate, record->topic, bl_clock_monotonic_ms()))
                return refuse_closed(p, record);
        bl_gate_wrote(p->gate, record->topic);
        if (!(rkt = topic_handle(p, record->topic))) {
                if (record->headers)
                        rd_kafka_headers_destroy(record->headers);
                bl_log_error("txn", "cannot produce to %s: out of memory; the batch will be aborted", record->topic);
                bl_txn_fail(p, BL_FAULT_TRANSIENT, "outputs: out of memory");
                return RD_KAFKA_RESP_ERR__FAIL;
        }
        headers = headers_of(record);
        if (p->batch_begun)
                return produce_now(p, rkt, record, headers);
        if (hold(&p->held, rkt, record, headers)) {
                if (p->held.used > p->stats.held_peak_bytes)
                        p->stats.held_peak_bytes = p->held.used;
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        if (headers)
                rd_kafka_headers_destroy(headers);
        bl_log_error("txn", "cannot hold a record for %s: out of memory; the batch will be aborted", record->topic);
        bl_txn_fail(p, BL_FAULT_TRANSIENT, "outputs: out of memory");
        return RD_KAFKA_RESP_ERR__FAIL;
}

rd_kafka_resp_err_t bl_txn_produce_dead_letter(void *opaque, const char *topic, const void *key, size_t key_size,
                                               const void *value, size_t value_size, rd_kafka_headers_t *headers) {
        bl_pipeline_t *p = opaque;
        if (!bl_gate_open(p->gate, topic, bl_clock_monotonic_ms())) {
                /* refused now, nothing produced: the letter's record waits in its partition, the rest goes on */
                const char *cause = bl_gate_cause(p->gate, topic);
                if (headers)
                        rd_kafka_headers_destroy(headers);
                return cause && strstr(cause, "uthoriz") ? RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
                                                         : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        }
        bl_txn_record_t record = {.topic = topic,
                                  .partition = RD_KAFKA_PARTITION_UA,
                                  .key = key,
                                  .key_size = key_size,
                                  .value = value,
                                  .value_size = value_size,
                                  .headers = headers};
        return bl_txn_produce(opaque, &record);
}

/* ---- delivery reports: dispatch offsets for the credit ledger -------------------------- */

void bl_txn_delivered(bl_pipeline_t *p, const char *domain, int32_t partition, int64_t offset) {
        bl_deliveries_t *deliveries = &p->deliveries;
        pthread_mutex_lock(&deliveries->lock);
        if (deliveries->count == deliveries->capacity) {
                size_t capacity = deliveries->capacity ? deliveries->capacity * 2 : 1024;
                bl_delivery_t *grown = realloc(deliveries->items, capacity * sizeof(*grown));
                if (grown) {
                        deliveries->items = grown;
                        deliveries->capacity = capacity;
                }
        }
        /* Out of memory, the record stays counted as on its way: its domain is throttled early, not flooded. */
        if (deliveries->count < deliveries->capacity)
                deliveries->items[deliveries->count++] = (bl_delivery_t){domain, partition, offset};
        pthread_mutex_unlock(&deliveries->lock);
}

/* The dispatch offsets reported since the last call, into the credit ledger (which is the pipeline thread's). */
static void take_deliveries(bl_pipeline_t *p) {
        bl_deliveries_t *deliveries = &p->deliveries;
        pthread_mutex_lock(&deliveries->lock);
        for (size_t i = 0; i < deliveries->count; i++)
                bl_credit_record(p->credit, deliveries->items[i].domain, deliveries->items[i].partition,
                                 deliveries->items[i].offset);
        deliveries->count = 0;
        pthread_mutex_unlock(&deliveries->lock);
}

/* ---- commit and abort ------------------------------------------------------------------ */

static rd_kafka_topic_partition_list_t *done_offsets(const bl_pipeline_t *p) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++) {
                const bl_input_partition_t *entry = &p->partitions[i];
                if (entry->done_offset >= 0 && entry->done_offset != entry->committed_offset)
                        rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset =
                                entry->done_offset;
        }
        return list;
}

/*
 * Aborts the producer's transaction. A timeout (the broker slow or away) is resumed by calling again, as
 * librdkafka asks, until it is done or the instance is told to stop; false when the run cannot go on.
 * Each call waits a short slice, so that the heartbeat, the gauges and /healthz stay current through a
 * broker outage (the loop itself cannot turn meanwhile); only the first timeout is logged.
 */
static bool abort_transaction(bl_pipeline_t *p) {
        bl_txn_result_t result;
        int timeouts = 0;
        while ((result = bl_txn_producer_abort(p->txn_producer, ABORT_SLICE_MS)).verdict != BL_TXN_OK) {
                bool retriable = result.verdict == BL_TXN_RETRIABLE;
                bl_observe_tick(p);
                if (retriable && !*p->stop && result.code == RD_KAFKA_RESP_ERR__TIMED_OUT && timeouts++ > 0)
                        continue;
                if (check_fatal(p, &result))
                        return false;
                if (!retriable || *p->stop) {
                        bl_log_error("txn", "the transaction could not be aborted; the instance stops, and the "
                                            "next one's init_transactions aborts it");
                        p->fatal = true;
                        return false;
                }
        }
        return true;
}

static const char *const unit_kinds[] = {"record", "timer of task", "dispatch of task", "giving up of"};

/* What the pipeline does after a failed batch, once the world is back as of the last commit. */
static void after_failure(bl_pipeline_t *p, bl_isolate_action_t action, const char *failure) {
        int failures = 0;
        const bl_unit_t *culprit = bl_isolate_culprit(p->isolate, &failures);
        switch (action) {
        case BL_ISOLATE_WAIT: bl_pipeline_hold_back(p, failure); break;
        case BL_ISOLATE_BISECT:
                bl_log_warn("txn", "a batch failed for good (%s): running smaller batches, at most %zu units, to "
                                   "find the record or timer it fails on",
                            failure, bl_isolate_room(p->isolate));
                break;
        case BL_ISOLATE_CULPRIT:
                if (failures == 0)
                        snprintf(p->culprit_detail, sizeof(p->culprit_detail), "%s", failure);
                else if (failures >= 2) /* not even the bare letter or the removal: an output's fault, wait */
                        bl_pipeline_hold_back(p, "the culprit could not be given up, not even bare");
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

/*
 * Aborts the producer's transaction; the batch after it goes too, and the world is put back as of the last
 * commit. @p open: the batch that failed is the open one (a produce refused), not the one handed off.
 */
static void abort_and_recover(bl_pipeline_t *p, bl_fault_t fault, bool open, const char *why) {
        char failure[BL_RECORD_DETAIL_MAX], fatal[256];
        bl_isolate_action_t action;
        snprintf(failure, sizeof(failure), "%s", why && *why ? why : "the commit failed");
        if (rd_kafka_fatal_error(p->producer, fatal, sizeof(fatal))) {
                /* nothing it does counts any more, its abort included: a new producer aborts and restores */
                bl_log_warn("txn", "the producer is in a fatal state (%s): a new one takes over", fatal);
                p->renew_producer = true;
                return;
        }
        bool aborted = abort_transaction(p);
        rd_kafka_poll(p->producer, 0); /* the delivery reports the abort left: the refusal that caused it */
        take_delivery_failure(p, &fault, failure, sizeof(failure));
        action = bl_isolate_failed(p->isolate, fault, open);
        bool alone = fault == BL_FAULT_OUTPUT && p->batch_refused_topic[0] &&
                     refuse_output(p, p->batch_refused_topic, failure, p->batch_gate_closed);
        bl_gate_aborted(p->gate);
        p->batch_refused_topic[0] = '\0';
        p->batch_gate_closed = false;
        size_t dropped = p->held.count;
        drop_held(&p->held);
        p->batch_open = false;
        p->batch_begun = false;
        p->transaction_failed = false;
        p->batch_fault = BL_FAULT_NONE;
        p->giving_up = false;
        p->stats.aborts++;
        bl_metric_inc(p->observe.aborted, 1);
        /* Aborts in a row tell /healthz that nothing can advance. A bisection's aborts are bounded (about
         * log2 of the batch) and each narrows the search: counting them could restart a pod mid-search. */
        if (action == BL_ISOLATE_WAIT)
                bl_observe_aborted(p);
        take_deliveries(p);
        bl_credit_transaction_aborted(p->credit);
        if (!aborted)
                return;
        bl_log_warn("txn",
                    "batch aborted (%s), with %zu records held for the next one: rewinding the input and "
                    "restoring the backlog from %s",
                    failure, dropped, p->topic_state);
        bl_pipeline_rewind(p);
        if (!bl_restore_assigned(p)) {
                p->fatal = true;
                return;
        }
        if (!alone)
                after_failure(p, action, failure);
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

static void committed(bl_pipeline_t *p, const rd_kafka_topic_partition_list_t *offsets, int64_t took_ms) {
        bl_metric_observe(p->observe.commit_seconds, (double)took_ms / 1000.0);
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
                        bl_pipeline_find_partition(p, offsets->elems[i].topic, offsets->elems[i].partition);
                if (entry) {
                        entry->committed_offset = offsets->elems[i].offset;
                        entry->backoff_ms = 0; /* it moved: a later pause starts from the first back-off */
                }
        }
}

/* The commit failed: abort, or a new producer, or (neither retriable nor abortable) the end of the run. */
static void commit_failed(bl_pipeline_t *p, const bl_txn_result_t *result) {
        bool abortable = result->verdict == BL_TXN_ABORTABLE || result->verdict == BL_TXN_RETRIABLE;
        bl_fault_t fault = bl_txn_fault_of(result->code);
        char failure[BL_RECORD_DETAIL_MAX];
        snprintf(failure, sizeof(failure), "commit: %.240s", result->reason);
        if (fault == BL_FAULT_NONE)
                fault = BL_FAULT_TRANSIENT;
        take_delivery_failure(p, &fault, failure, sizeof(failure));
        if (check_fatal(p, result))
                return;
        if (!abortable) {
                p->fatal = true; /* neither retriable nor abortable: nothing safe is left to do */
                return;
        }
        abort_and_recover(p, fault, false, failure);
}

/*
 * The outcome of the commit in flight, once it is over, or at once with @p wait. On success the batch held
 * meanwhile begins its transaction and its records go in.
 */
static void collect_commit(bl_pipeline_t *p, bool wait) {
        rd_kafka_topic_partition_list_t *offsets;
        int64_t waited_from;
        if (!p->committing || (!wait && !bl_txn_commit_done(p->committing)))
                return; /* every turn of the loop comes here: no clock read before this */
        waited_from = bl_clock_monotonic_ms();
        bl_txn_result_t result = bl_txn_commit_finish(p->committing, &offsets);
        p->committing = NULL;
        p->stats.commit_wait_ms += (uint64_t)(bl_clock_monotonic_ms() - waited_from);
        take_deliveries(p);
        if (result.verdict != BL_TXN_OK) {
                commit_failed(p, &result);
        } else {
                bl_fault_t ignored = BL_FAULT_NONE;
                char failure[BL_RECORD_DETAIL_MAX];
                take_delivery_failure(p, &ignored, failure, sizeof(failure)); /* none, since it committed */
                committed(p, offsets, result.took_ms);
        }
        rd_kafka_topic_partition_list_destroy(offsets);
        if (!p->fatal && p->batch_open && !p->batch_begun && begin_transaction(p))
                produce_held(p);
}

/* The open batch's commit, to the committer; the next batch opens with the next record. */
static void hand_off(bl_pipeline_t *p) {
        if (!p->batch_begun && !begin_transaction(p))
                return;
        if (p->transaction_failed) {
                abort_and_recover(p, p->batch_fault, true, p->batch_failure);
                return;
        }
        bl_txn_commit_t *commit = bl_txn_commit_start(p->txn_producer, done_offsets(p),
                                                      rd_kafka_consumer_group_metadata(p->consumer), p->wake,
                                                      &p->deliveries.refused, TXN_TIMEOUT_MS);
        if (!commit)
                return; /* out of memory: the batch stays open, and is handed off at the next turn */
        p->committing = commit;
        p->batch_open = false;
        p->batch_begun = false;
        bl_isolate_handed_off(p->isolate);
        if (p->config->commit_hold_max_bytes == 0 || bl_isolate_active(p->isolate))
                collect_commit(p, true); /* no overlap wanted; or a culprit is sought, one batch at a time */
}

void bl_txn_tick(bl_pipeline_t *p) {
        take_deliveries(p);
        collect_commit(p, p->held.used >= (size_t)p->config->commit_hold_max_bytes);
        if (p->batch_open && !p->committing && !p->fatal && !p->renew_producer &&
            (bl_isolate_room(p->isolate) == 0 || p->transaction_failed ||
             bl_clock_monotonic_ms() - p->batch_started_ms >= p->config->commit_interval_ms))
                hand_off(p);
}

void bl_txn_commit(bl_pipeline_t *p) {
        collect_commit(p, true);
        if (!p->batch_open || p->fatal)
                return;
        hand_off(p);
        collect_commit(p, true);
}

/* Waits for a commit still running and drops its outcome: the producer can no longer go on, whatever it is. */
static void forget_commit(bl_pipeline_t *p) {
        rd_kafka_topic_partition_list_t *offsets;
        if (!p->committing)
                return;
        bl_txn_commit_finish(p->committing, &offsets);
        rd_kafka_topic_partition_list_destroy(offsets);
        p->committing = NULL;
}

void bl_txn_reset(bl_pipeline_t *p) {
        forget_commit(p);
        drop_held(&p->held);
        p->batch_open = p->batch_begun = p->transaction_failed = p->giving_up = false;
        p->batch_fault = BL_FAULT_NONE;
        bl_isolate_failed(p->isolate, BL_FAULT_TRANSIENT, false); /* both batches are gone */
        p->stats.aborts++;
        bl_metric_inc(p->observe.aborted, 1);
        bl_observe_aborted(p);
        take_deliveries(p);
        bl_credit_transaction_aborted(p->credit);
}

void bl_txn_close(bl_pipeline_t *p) {
        forget_commit(p);
        drop_held(&p->held);
        free(p->held.records);
        free(p->held.bytes);
        memset(&p->held, 0, sizeof(p->held));
        if (p->batch_begun)
                bl_txn_producer_abort(p->txn_producer, CLOSE_TIMEOUT_MS);
        p->batch_open = p->batch_begun = false;
        if (p->wake)
                rd_kafka_queue_destroy(p->wake);
        p->wake = NULL;
}

void bl_txn_destroy(bl_pipeline_t *p) {
        if (p->deliveries.ready)
                pthread_mutex_destroy(&p->deliveries.lock);
        free(p->deliveries.items);
        memset(&p->deliveries, 0, sizeof(p->deliveries));
}
