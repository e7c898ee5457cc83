/*
 * batch.c: exactly-once batches (SPEC §6).
 *
 * A batch opens with the first record after the last hand-off and carries
 * everything it causes: transitions, snapshots, dispatch decisions,
 * dependency notices, dead letters, and, at commit, the input offsets
 * (send_offsets_to_transaction with the consumer's group metadata, so a
 * zombie instance of an older generation is fenced).
 *
 * Commits overlap work. When a batch is due (commit.interval_ms) its commit
 * goes to a thread (kafka/txn_producer.c) and the next batch opens at once.
 * That batch's records cannot join a transaction yet: the producer has one
 * open at a time, and a second producer could land them in a partition
 * ahead of the first one's. So they are held here, copied, in the order they
 * came, and go into the next transaction, in that order, when the commit is
 * over. A batch is handed off only after the one before it committed, so
 * the input offsets commit in order too. Held records are bounded by
 * commit.hold_max_bytes; past that the pipeline thread waits for the commit.
 *
 * A produce that librdkafka refuses, at once or in a delivery report, marks
 * the batch failed; its hand-off then aborts it. After an abort, or a commit
 * that failed, the batch after it (held or begun) goes too, since it was
 * decided on top of the aborted one: the aborted hook hears whose fault it
 * was, and the caller puts the world back as of the last commit.
 */
#include "pipeline/batch.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "kafka/client.h"

#define TXN_TIMEOUT_MS 30000
#define ABORT_SLICE_MS 1000
#define CLOSE_TIMEOUT_MS 10000

/* A record of the batch after the one committing: its key and value wait in the held bytes. */
typedef struct held_record_s {
        rd_kafka_topic_t *rkt;
        rd_kafka_headers_t *headers; /* owned until produced */
        void *delivery_opaque;
        int64_t timestamp_ms;
        size_t bytes_at; /* the key, then the value */
        size_t key_size, value_size;
        int32_t partition;
        bool has_key, tombstone;
} held_record_t;

typedef struct held_s {
        held_record_t *records;
        size_t count, capacity;
        char *bytes; /* the records' keys and values, end to end */
        size_t used, bytes_capacity;
} held_t;

/* A dispatch record's place, from its delivery report. */
typedef struct delivery_s {
        const char *domain;
        int32_t partition;
        int64_t offset;
} delivery_t;

/* What librdkafka's threads report (delivery reports, the log), under a lock, for the pipeline thread. */
typedef struct reports_s {
        pthread_mutex_t lock;
        delivery_t *items;
        size_t count, capacity;
        bl_fault_t fault;    /* the worst refusal since the last commit's outcome */
        atomic_bool refused; /* raised with a record's refusal: the committer stops waiting and the batch aborts */
        char failure[BL_RECORD_DETAIL_MAX];
        char refused_topic[BL_UNIT_NAME_MAX]; /* the output topic an output fault named ("": none known) */
} reports_t;

typedef struct topic_handle_s {
        char *name;
        rd_kafka_topic_t *rkt;
} topic_handle_t;

struct bl_batch_s {
        bl_batch_settings_t settings;
        bl_txn_producer_t *producer; /* borrowed; NULL: none now */
        rd_kafka_queue_t *wake;      /* the consumer's queue, woken when a commit ends */
        bool lost;                   /* the producer can go on no more, or nothing safe is left to do */
        /* The open batch: from its first record to its hand-off. */
        bool open;
        bool begun;                  /* its transaction began: records go straight in; else they are held */
        bool failed;                 /* a produce into it failed: it must abort */
        bl_fault_t fault;            /* whose fault that was (bl_batch_fail) */
        char failure[BL_RECORD_DETAIL_MAX];
        char refused_topic[BL_UNIT_NAME_MAX];
        bool gate_closed;
        int64_t started_ms;
        bl_txn_commit_t *committing; /* the batch before, committing on its own thread; NULL: none */
        int64_t committing_started_ms; /* when that batch opened */
        held_t held;
        reports_t reports;
        topic_handle_t *topics;
        size_t topic_count;
        bl_batch_stats_t stats;
};

/* ---- set-up ------------------------------------------------------------------------------------------------ */

bl_batch_t *bl_batch_new(const bl_batch_settings_t *settings) {
        bl_batch_t *batch = calloc(1, sizeof(*batch));
        if (!batch)
                return NULL;
        batch->settings = *settings;
        if (pthread_mutex_init(&batch->reports.lock, NULL)) {
                free(batch);
                return NULL;
        }
        atomic_init(&batch->reports.refused, false);
        if (!(batch->wake = rd_kafka_queue_get_consumer(settings->consumer))) {
                bl_batch_destroy(batch);
                return NULL;
        }
        return batch;
}

void bl_batch_set_producer(bl_batch_t *batch, bl_txn_producer_t *producer) {
        batch->producer = producer;
        batch->lost = producer == NULL;
}

const bl_batch_stats_t *bl_batch_stats(const bl_batch_t *batch) {
        return &batch->stats;
}

/* ---- whose fault ------------------------------------------------------------------------------------------- */

bl_fault_t bl_batch_fault_of(rd_kafka_resp_err_t err) {
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

void bl_batch_fail(bl_batch_t *batch, bl_fault_t fault, const char *fmt, ...) {
        char failure[BL_RECORD_DETAIL_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failure, sizeof(failure), fmt, ap);
        va_end(ap);
        batch->failed = true;
        keep_failure(&batch->fault, batch->failure, sizeof(batch->failure),
                     fault == BL_FAULT_NONE ? BL_FAULT_TRANSIENT : fault, failure);
}

/* A refusal from librdkafka's threads: kept (the worst first), and the committer told to stop waiting. */
static void refused(bl_batch_t *batch, bl_fault_t fault, const char *failure, const char *topic) {
        reports_t *reports = &batch->reports;
        pthread_mutex_lock(&reports->lock);
        if (topic && !reports->refused_topic[0])
                snprintf(reports->refused_topic, sizeof(reports->refused_topic), "%s", topic);
        keep_failure(&reports->fault, reports->failure, sizeof(reports->failure), fault, failure);
        pthread_mutex_unlock(&reports->lock);
        atomic_store(&reports->refused, true);
}

static void delivery_failed(bl_batch_t *batch, const rd_kafka_message_t *message) {
        char failure[BL_RECORD_DETAIL_MAX];
        bl_fault_t fault = bl_batch_fault_of(message->err);
        if (fault == BL_FAULT_NONE)
                return;
        snprintf(failure, sizeof(failure), "outputs: %s refused a record of %zu bytes: %s",
                 rd_kafka_topic_name(message->rkt), message->len + message->key_len, rd_kafka_err2str(message->err));
        refused(batch, fault, failure, fault == BL_FAULT_OUTPUT ? rd_kafka_topic_name(message->rkt) : NULL);
}

/* Out of memory, a dispatch stays counted as on its way: its domain is throttled early, not flooded. */
static void delivered(bl_batch_t *batch, const char *domain, int32_t partition, int64_t offset) {
        reports_t *reports = &batch->reports;
        pthread_mutex_lock(&reports->lock);
        if (reports->count == reports->capacity) {
                size_t capacity = reports->capacity ? reports->capacity * 2 : 1024;
                delivery_t *grown = realloc(reports->items, capacity * sizeof(*grown));
                if (grown) {
                        reports->items = grown;
                        reports->capacity = capacity;
                }
        }
        if (reports->count < reports->capacity)
                reports->items[reports->count++] = (delivery_t){domain, partition, offset};
        pthread_mutex_unlock(&reports->lock);
}

void bl_batch_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        (void)rk;
        if (message->err)
                delivery_failed(opaque, message);
        else if (message->_private)
                delivered(opaque, message->_private, message->partition, message->offset);
}

void bl_batch_producer_log(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
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
static void take_refusal(bl_batch_t *batch, bl_fault_t *fault, char *failure, size_t failure_size) {
        reports_t *reports = &batch->reports;
        pthread_mutex_lock(&reports->lock);
        keep_failure(fault, failure, failure_size, reports->fault, reports->failure);
        if (reports->refused_topic[0] && !batch->refused_topic[0])
                snprintf(batch->refused_topic, sizeof(batch->refused_topic), "%s", reports->refused_topic);
        reports->refused_topic[0] = '\0';
        reports->fault = BL_FAULT_NONE;
        atomic_store(&reports->refused, false);
        pthread_mutex_unlock(&reports->lock);
}

/* The dispatch offsets reported since the last call, to the delivered hook (on the pipeline thread). */
static void take_deliveries(bl_batch_t *batch) {
        reports_t *reports = &batch->reports;
        const bl_batch_hooks_t *hooks = &batch->settings.hooks;
        pthread_mutex_lock(&reports->lock);
        for (size_t i = 0; i < reports->count; i++)
                hooks->delivered(hooks->opaque, reports->items[i].domain, reports->items[i].partition,
                                 reports->items[i].offset);
        reports->count = 0;
        pthread_mutex_unlock(&reports->lock);
}

/* ---- the producer's verdicts ------------------------------------------------------------------------------- */

/*
 * Logs a failed call's @p result; true when the producer can go on no more. Such a producer is made anew
 * (the producer_lost hook), whose init_transactions aborts what this one left open: a fencing after a
 * broker stall must not end the instance. What cannot be cured that way (the transactional id not
 * authorised, say) stops the run there, with the cause.
 */
static bool producer_lost(bl_batch_t *batch, const bl_txn_result_t *result) {
        bl_log(BL_LOG_WARN, "txn", "%s%s", result->reason,
               result->fenced ? " (the producer was fenced: the coordinator ended its transaction, after a broker stall "
                                "longer than transaction.timeout_ms, or a newer instance with this instance_id started; "
                                "a new producer takes over)"
               : result->producer_fatal ? " (fatal for this producer: a new one takes over)"
                                        : "");
        if (!result->producer_fatal)
                return false;
        batch->lost = true;
        batch->settings.hooks.producer_lost(batch->settings.hooks.opaque);
        return true;
}

static void stop(bl_batch_t *batch) {
        batch->lost = true;
        batch->settings.hooks.stopped(batch->settings.hooks.opaque);
}

static bool begin_transaction(bl_batch_t *batch) {
        bl_txn_result_t result = bl_txn_producer_begin(batch->producer);
        if (result.verdict != BL_TXN_OK) {
                if (!producer_lost(batch, &result))
                        stop(batch); /* begin fails only on a programming or fatal error */
                return false;
        }
        batch->begun = true;
        return true;
}

bool bl_batch_ensure(bl_batch_t *batch) {
        if (batch->open)
                return true;
        if (batch->lost || !batch->producer)
                return false;
        batch->open = true;
        batch->begun = false;
        batch->failed = false;
        batch->fault = BL_FAULT_NONE;
        batch->started_ms = bl_clock_monotonic_ms();
        return batch->committing || begin_transaction(batch); /* while a commit runs, the batch is held */
}

bool bl_batch_pending(const bl_batch_t *batch) {
        return batch->open || batch->committing;
}

/* ---- records ----------------------------------------------------------------------------------------------- */

/* The handle of @p topic, made at its first record; NULL when out of memory. */
static rd_kafka_topic_t *topic_handle(bl_batch_t *batch, const char *topic) {
        topic_handle_t *handles;
        for (size_t i = 0; i < batch->topic_count; i++)
                if (!strcmp(batch->topics[i].name, topic))
                        return batch->topics[i].rkt;
        handles = realloc(batch->topics, (batch->topic_count + 1) * sizeof(*handles));
        if (!handles)
                return NULL;
        batch->topics = handles;
        handles += batch->topic_count;
        if (!(handles->name = strdup(topic)))
                return NULL;
        if (!(handles->rkt = rd_kafka_topic_new(bl_txn_producer_handle(batch->producer), topic, NULL))) {
                free(handles->name);
                return NULL;
        }
        batch->topic_count++;
        return handles->rkt;
}

void bl_batch_release_topics(bl_batch_t *batch) {
        for (size_t i = 0; i < batch->topic_count; i++) {
                rd_kafka_topic_destroy(batch->topics[i].rkt);
                free(batch->topics[i].name);
        }
        free(batch->topics);
        batch->topics = NULL;
        batch->topic_count = 0;
}

/* The record's headers: its own (taken over), with its traceparent added; NULL when it has neither. */
static rd_kafka_headers_t *headers_of(const bl_batch_record_t *record) {
        rd_kafka_headers_t *headers = record->headers;
        if (record->traceparent) {
                if (!headers)
                        headers = rd_kafka_headers_new(1);
                rd_kafka_header_add(headers, "traceparent", -1, record->traceparent, -1);
        }
        return headers;
}

/*
 * Into the transaction that is open; librdkafka copies key and value and takes over @p headers (freed when
 * it refuses the record). The record's own timestamp spares librdkafka a clock reading per record (1.5 % of
 * the e2e loop), and gives the records of one event the time of their changes.
 */
static rd_kafka_resp_err_t produce_now(bl_batch_t *batch, rd_kafka_topic_t *rkt, const bl_batch_record_t *record,
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
        rd_kafka_resp_err_t err = bl_txn_producer_send(batch->producer, &message);
        if (err) {
                size_t bytes = record->key_size + record->value_size;
                if (!batch->failed) /* once a batch: every later record is refused the same way */
                        bl_log_error("txn", "cannot produce %zu bytes to %s: %s; the batch will be aborted", bytes,
                                     rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
                bl_batch_fail(batch, bl_batch_fault_of(err), "outputs: cannot produce %zu bytes to %s: %s", bytes,
                              rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
                if (bl_batch_fault_of(err) == BL_FAULT_OUTPUT && !batch->refused_topic[0])
                        snprintf(batch->refused_topic, sizeof(batch->refused_topic), "%s", rd_kafka_topic_name(rkt));
        }
        return err;
}

static bool grow_held(held_t *held, size_t bytes) {
        if (held->count == held->capacity) {
                size_t capacity = held->capacity ? held->capacity * 2 : 1024;
                held_record_t *grown = realloc(held->records, capacity * sizeof(*grown));
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
static bool hold(held_t *held, rd_kafka_topic_t *rkt, const bl_batch_record_t *record, rd_kafka_headers_t *headers) {
        if (!grow_held(held, record->key_size + record->value_size))
                return false;
        held->records[held->count++] = (held_record_t){
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
static void produce_held(bl_batch_t *batch) {
        held_t *held = &batch->held;
        for (size_t i = 0; i < held->count; i++) {
                held_record_t *entry = &held->records[i];
                const char *bytes = held->bytes + entry->bytes_at;
                bl_batch_record_t record = {.partition = entry->partition,
                                            .key = entry->has_key ? bytes : NULL,
                                            .key_size = entry->key_size,
                                            .value = entry->tombstone ? NULL : bytes + entry->key_size,
                                            .value_size = entry->value_size,
                                            .timestamp_ms = entry->timestamp_ms,
                                            .delivery_opaque = entry->delivery_opaque};
                produce_now(batch, entry->rkt, &record, entry->headers);
        }
        batch->stats.held_records += held->count;
        held->count = 0;
        held->used = 0;
}

static void drop_held(held_t *held) {
        for (size_t i = 0; i < held->count; i++)
                if (held->records[i].headers)
                        rd_kafka_headers_destroy(held->records[i].headers);
        held->count = 0;
        held->used = 0;
}

/* A write to a topic the gate keeps closed fails the batch: what needs it cannot wait alone (gate.h). */
static rd_kafka_resp_err_t refuse_closed(bl_batch_t *batch, const bl_batch_record_t *record) {
        if (record->headers)
                rd_kafka_headers_destroy(record->headers);
        bl_batch_fail(batch, BL_FAULT_OUTPUT, "outputs: %s refuses writes, waiting for its back-off", record->topic);
        snprintf(batch->refused_topic, sizeof(batch->refused_topic), "%s", record->topic);
        batch->gate_closed = true;
        return RD_KAFKA_RESP_ERR__STATE;
}

static rd_kafka_resp_err_t out_of_memory(bl_batch_t *batch, const char *topic, rd_kafka_headers_t *headers) {
        if (headers)
                rd_kafka_headers_destroy(headers);
        bl_log_error("txn", "cannot produce to %s: out of memory; the batch will be aborted", topic);
        bl_batch_fail(batch, BL_FAULT_TRANSIENT, "outputs: out of memory");
        return RD_KAFKA_RESP_ERR__FAIL;
}

rd_kafka_resp_err_t bl_batch_produce(bl_batch_t *batch, const bl_batch_record_t *record) {
        rd_kafka_headers_t *headers;
        rd_kafka_topic_t *rkt;
        if (!bl_batch_ensure(batch)) {
                if (record->headers)
                        rd_kafka_headers_destroy(record->headers);
                return RD_KAFKA_RESP_ERR__STATE;
        }
        if (!bl_gate_open(batch->settings.gate, record->topic, bl_clock_monotonic_ms()))
                return refuse_closed(batch, record);
        bl_gate_wrote(batch->settings.gate, record->topic);
        if (!(rkt = topic_handle(batch, record->topic)))
                return out_of_memory(batch, record->topic, record->headers);
        headers = headers_of(record);
        if (batch->begun)
                return produce_now(batch, rkt, record, headers);
        if (!hold(&batch->held, rkt, record, headers))
                return out_of_memory(batch, record->topic, headers);
        if (batch->held.used > batch->stats.held_peak_bytes)
                batch->stats.held_peak_bytes = batch->held.used;
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t bl_batch_produce_dead_letter(void *opaque, const char *topic, const void *key, size_t key_size,
                                                 const void *value, size_t value_size, rd_kafka_headers_t *headers) {
        bl_batch_t *batch = opaque;
        if (!bl_gate_open(batch->settings.gate, topic, bl_clock_monotonic_ms())) {
                /* refused now, nothing produced: the letter's record waits in its partition, the rest goes on */
                const char *cause = bl_gate_cause(batch->settings.gate, topic);
                if (headers)
                        rd_kafka_headers_destroy(headers);
                return cause && strstr(cause, "uthoriz") ? RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
                                                         : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        }
        bl_batch_record_t record = {.topic = topic,
                                    .partition = RD_KAFKA_PARTITION_UA,
                                    .key = key,
                                    .key_size = key_size,
                                    .value = value,
                                    .value_size = value_size,
                                    .headers = headers};
        return bl_batch_produce(batch, &record);
}

/* ---- abort and commit -------------------------------------------------------------------------------------- */

/*
 * An abort that has timed out for longer than the bound is not waited out: after an outage, librdkafka can
 * keep the coordinator's request queued for minutes after the coordinator is back (seen with 2.12.0: its
 * EndTxn stayed in the TxnCoordinator's out-queue for over two minutes while the broker answered everything
 * else). By then the coordinator has aborted the transaction itself (transaction.timeout_ms), and a new
 * producer's init_transactions aborts whatever is left: the producer is taken for lost, and the run makes a
 * new one, rewinds and restores, as after a fencing.
 */
static bool abort_hung(bl_batch_t *batch, int64_t started_ms) {
        int64_t waited_ms = bl_clock_monotonic_ms() - started_ms;
        if (batch->settings.abort_max_ms <= 0 || waited_ms < batch->settings.abort_max_ms)
                return false;
        bl_log_warn("txn",
                    "abort_transaction has not finished in %" PRId64 " ms: a new producer takes over, and its "
                    "init_transactions ends the transaction",
                    waited_ms);
        batch->lost = true;
        batch->settings.hooks.producer_lost(batch->settings.hooks.opaque);
        return true;
}

/*
 * Aborts the producer's transaction. A timeout (the broker slow or away) is resumed by calling again, as
 * librdkafka asks, until it is done or abort_max_ms has passed (abort_hung); false when the run cannot go
 * on with this producer. Each call waits a short slice, so that the waiting hook keeps the heartbeat, the
 * gauges and /healthz current through a broker outage; only the first timeout is logged.
 */
static bool abort_transaction(bl_batch_t *batch) {
        const bl_batch_hooks_t *hooks = &batch->settings.hooks;
        bl_txn_result_t result;
        int timeouts = 0;
        int64_t started_ms = bl_clock_monotonic_ms();
        while ((result = bl_txn_producer_abort(batch->producer, ABORT_SLICE_MS)).verdict != BL_TXN_OK) {
                bool retriable = result.verdict == BL_TXN_RETRIABLE;
                hooks->waiting(hooks->opaque);
                bool stopping = *batch->settings.stop;
                bool timed_out = retriable && !stopping && result.code == RD_KAFKA_RESP_ERR__TIMED_OUT;
                if (timed_out && abort_hung(batch, started_ms))
                        return false;
                if (timed_out && timeouts++ > 0)
                        continue;
                if (producer_lost(batch, &result))
                        return false;
                if (!retriable || stopping) {
                        bl_log_error("txn", "the transaction could not be aborted; the instance stops, and the "
                                            "next one's init_transactions aborts it");
                        stop(batch);
                        return false;
                }
        }
        return true;
}

/* Both batches are gone: the state of the open one is reset, and what was held dropped. */
static size_t forget_open(bl_batch_t *batch) {
        size_t dropped = batch->held.count;
        drop_held(&batch->held);
        batch->open = batch->begun = batch->failed = false;
        batch->fault = BL_FAULT_NONE;
        return dropped;
}

/*
 * Aborts the producer's transaction; the batch after it goes too, and the aborted hook puts the world back
 * as of the last commit. @p open: the batch that failed is the open one (a produce refused).
 */
static void abort_batch(bl_batch_t *batch, bl_fault_t fault, bool open, const char *why) {
        char failure[BL_RECORD_DETAIL_MAX], fatal[256];
        rd_kafka_t *rk = bl_txn_producer_handle(batch->producer);
        snprintf(failure, sizeof(failure), "%s", why && *why ? why : "the commit failed");
        if (rd_kafka_fatal_error(rk, fatal, sizeof(fatal))) {
                /* nothing it does counts any more, its abort included: a new producer aborts and restores */
                bl_log_warn("txn", "the producer is in a fatal state (%s): a new one takes over", fatal);
                batch->lost = true;
                batch->settings.hooks.producer_lost(batch->settings.hooks.opaque);
                return;
        }
        bool aborted = abort_transaction(batch);
        rd_kafka_poll(rk, 0); /* the delivery reports the abort left: the refusal that caused it */
        take_refusal(batch, &fault, failure, sizeof(failure));
        bl_batch_failure_t report = {.fault = fault,
                                     .open = open,
                                     .aborted = aborted,
                                     .dropped = forget_open(batch),
                                     .reason = failure,
                                     .refused_topic = batch->refused_topic,
                                     .gate_closed = batch->gate_closed};
        take_deliveries(batch);
        batch->settings.hooks.aborted(batch->settings.hooks.opaque, &report);
        batch->refused_topic[0] = '\0';
        batch->gate_closed = false;
}

/* The commit failed: abort, or a new producer, or (neither retriable nor abortable) the end of the run. */
static void commit_failed(bl_batch_t *batch, const bl_txn_result_t *result) {
        bool abortable = result->verdict == BL_TXN_ABORTABLE || result->verdict == BL_TXN_RETRIABLE;
        bl_fault_t fault = bl_batch_fault_of(result->code);
        char failure[BL_RECORD_DETAIL_MAX];
        snprintf(failure, sizeof(failure), "commit: %.240s", result->reason);
        if (fault == BL_FAULT_NONE)
                fault = BL_FAULT_TRANSIENT;
        take_refusal(batch, &fault, failure, sizeof(failure));
        if (producer_lost(batch, result))
                return;
        if (!abortable) {
                stop(batch); /* neither retriable nor abortable: nothing safe is left to do */
                return;
        }
        abort_batch(batch, fault, false, failure);
}

/* How long the batch just committed kept its first record from being visible: its part of the latency. */
static void note_age(bl_batch_t *batch) {
        batch->stats.last_age_ms = bl_clock_monotonic_ms() - batch->committing_started_ms;
        if (batch->stats.last_age_ms > batch->stats.age_max_ms)
                batch->stats.age_max_ms = batch->stats.last_age_ms;
}

/*
 * The outcome of the commit in flight, once it is over, or at once with @p wait. On success the batch held
 * meanwhile begins its transaction and its records go in.
 */
static void collect_commit(bl_batch_t *batch, bool wait) {
        rd_kafka_topic_partition_list_t *offsets;
        if (!batch->committing || (!wait && !bl_txn_commit_done(batch->committing)))
                return; /* every turn of the loop comes here: no clock read before this */
        int64_t waited_from = bl_clock_monotonic_ms();
        bl_txn_result_t result = bl_txn_commit_finish(batch->committing, &offsets);
        batch->committing = NULL;
        batch->stats.commit_wait_ms += (uint64_t)(bl_clock_monotonic_ms() - waited_from);
        take_deliveries(batch);
        if (result.verdict != BL_TXN_OK) {
                commit_failed(batch, &result);
        } else {
                bl_fault_t ignored = BL_FAULT_NONE;
                char failure[BL_RECORD_DETAIL_MAX];
                take_refusal(batch, &ignored, failure, sizeof(failure)); /* none, since it committed */
                note_age(batch);
                batch->settings.hooks.committed(batch->settings.hooks.opaque, offsets, result.took_ms);
        }
        rd_kafka_topic_partition_list_destroy(offsets);
        if (!batch->lost && batch->open && !batch->begun && begin_transaction(batch))
                produce_held(batch);
}

/* The open batch's commit, to the committer; the next batch opens with the next record. */
static void hand_off(bl_batch_t *batch) {
        if (!batch->begun && !begin_transaction(batch))
                return;
        if (!batch->failed && batch->settings.hooks.closing)
                batch->settings.hooks.closing(batch->settings.hooks.opaque);
        if (batch->failed) {
                abort_batch(batch, batch->fault, true, batch->failure);
                return;
        }
        bl_txn_commit_t *commit = bl_txn_commit_start(
                batch->producer, batch->settings.hooks.offsets(batch->settings.hooks.opaque),
                rd_kafka_consumer_group_metadata(batch->settings.consumer), batch->wake, &batch->reports.refused,
                TXN_TIMEOUT_MS);
        if (!commit)
                return; /* out of memory: the batch stays open, and is handed off at the next turn */
        batch->committing = commit;
        batch->committing_started_ms = batch->started_ms;
        batch->open = false;
        batch->begun = false;
        bl_isolate_handed_off(batch->settings.isolate);
        if (batch->settings.hold_max_bytes == 0 || bl_isolate_active(batch->settings.isolate))
                collect_commit(batch, true); /* no overlap wanted; or a culprit is sought, one batch at a time */
}

void bl_batch_tick(bl_batch_t *batch) {
        take_deliveries(batch);
        collect_commit(batch, batch->held.used >= (size_t)batch->settings.hold_max_bytes);
        if (batch->open && !batch->committing && !batch->lost &&
            (bl_isolate_room(batch->settings.isolate) == 0 || batch->failed ||
             bl_clock_monotonic_ms() - batch->started_ms >= batch->settings.commit_interval_ms))
                hand_off(batch);
}

void bl_batch_commit(bl_batch_t *batch) {
        collect_commit(batch, true);
        if (!batch->open || batch->lost)
                return;
        hand_off(batch);
        collect_commit(batch, true);
}

/* Waits for a commit still running and drops its outcome: the producer can no longer go on, whatever it is. */
static void forget_commit(bl_batch_t *batch) {
        rd_kafka_topic_partition_list_t *offsets;
        if (!batch->committing)
                return;
        bl_txn_commit_finish(batch->committing, &offsets);
        rd_kafka_topic_partition_list_destroy(offsets);
        batch->committing = NULL;
}

void bl_batch_reset(bl_batch_t *batch) {
        forget_commit(batch);
        forget_open(batch);
        batch->refused_topic[0] = '\0';
        batch->gate_closed = false;
        take_deliveries(batch);
}

void bl_batch_close(bl_batch_t *batch) {
        forget_commit(batch);
        drop_held(&batch->held);
        if (batch->begun && batch->producer)
                bl_txn_producer_abort(batch->producer, CLOSE_TIMEOUT_MS);
        batch->open = batch->begun = false;
        if (batch->wake)
                rd_kafka_queue_destroy(batch->wake);
        batch->wake = NULL;
}

void bl_batch_destroy(bl_batch_t *batch) {
        if (!batch)
                return;
        forget_commit(batch);
        drop_held(&batch->held);
        free(batch->held.records);
        free(batch->held.bytes);
        if (batch->wake)
                rd_kafka_queue_destroy(batch->wake);
        bl_batch_release_topics(batch);
        pthread_mutex_destroy(&batch->reports.lock);
        free(batch->reports.items);
        free(batch);
}
