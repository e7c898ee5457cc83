/*
 * txn_producer.c: the transactional producer, its calls and their verdicts.
 *
 * librdkafka tells what an error of its transactional API allows through
 * three flags (fatal, requires abort, retriable); bl_txn_result_of reads
 * them once, here, into one verdict, and also tells a fencing (the epoch is
 * gone: a new producer with the same id can go on) from other fatal errors.
 *
 * The commit: rd_kafka_commit_transaction first flushes, waiting until every
 * record of the transaction is acknowledged, and only then asks the
 * coordinator to commit. In a loop that consumes, decides and produces, that
 * wait was half the time (docs/performance.md, end to end), and the loop
 * needs the producer for none of it, so bl_txn_commit_start runs it on a
 * short-lived thread per transaction. While it runs, that thread is the only
 * caller of the producer's transactional API and of its queue (the delivery
 * reports the flush serves run there); its end is published with a release
 * store, and the caller's queue is woken so that its poll returns at once.
 * The flush goes in short slices: once a delivery report says the broker
 * refused a record (the flag the caller's delivery callback raises), the
 * transaction can only abort, and waiting for the rest to time out
 * (message.timeout.ms, 10 s and more) would only delay the abort.
 */
#include "kafka/txn_producer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "kafka/client.h"

#define COMMIT_RETRIES 5
#define FLUSH_SLICE_MS 50
#define DESTROY_FLUSH_MS 10000

struct bl_txn_producer_s {
        rd_kafka_t *rk;
};

struct bl_txn_commit_s {
        pthread_t thread;
        bool threaded;                             /* false: it ran in the caller (no thread could start) */
        bl_txn_producer_t *producer;               /* borrowed */
        rd_kafka_queue_t *wake;                    /* borrowed; NULL: wake nobody */
        rd_kafka_topic_partition_list_t *offsets;  /* owned: the input offsets the transaction carries */
        rd_kafka_consumer_group_metadata_t *group; /* owned */
        const atomic_bool *refused;                /* borrowed; NULL: none */
        int timeout_ms;
        bl_txn_result_t result;
        atomic_bool done;
};

static bl_txn_result_t ok_result(void) {
        return (bl_txn_result_t){.verdict = BL_TXN_OK};
}

static bool is_fencing(rd_kafka_resp_err_t code) {
        return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
               code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

bl_txn_result_t bl_txn_result_of(rd_kafka_t *rk, rd_kafka_error_t *error, const char *what) {
        bl_txn_result_t result = ok_result();
        if (!error)
                return result;
        result.code = rd_kafka_error_code(error);
        snprintf(result.reason, sizeof(result.reason), "%s: %s", what, rd_kafka_error_string(error));
        if (rd_kafka_error_is_fatal(error)) {
                char reason[256];
                result.verdict = BL_TXN_FATAL;
                result.producer_fatal = true;
                result.fenced = is_fencing(rk ? rd_kafka_fatal_error(rk, reason, sizeof(reason)) : result.code);
        } else if (rd_kafka_error_txn_requires_abort(error)) {
                result.verdict = BL_TXN_ABORTABLE;
        } else if (rd_kafka_error_is_retriable(error) || result.code == RD_KAFKA_RESP_ERR__TIMED_OUT) {
                result.verdict = BL_TXN_RETRIABLE;
        } else {
                result.verdict = BL_TXN_FATAL; /* neither retriable nor abortable: nothing safe is left to do */
        }
        rd_kafka_error_destroy(error);
        return result;
}

/* The settings' fixed properties, then the caller's overrides, in one NULL-terminated list. */
static const char **producer_properties(const bl_txn_settings_t *settings, char *timeout, size_t timeout_size,
                                        char *max_bytes, size_t max_bytes_size) {
        size_t extra = 0;
        while (settings->overrides && settings->overrides[extra])
                extra++;
        const char **properties = calloc(extra + 13, sizeof(*properties));
        size_t n = 0;
        if (!properties)
                return NULL;
        properties[n++] = "transactional.id";
        properties[n++] = settings->transactional_id;
        properties[n++] = "enable.idempotence";
        properties[n++] = "true";
        if (settings->client_id) {
                properties[n++] = "client.id";
                properties[n++] = settings->client_id;
        }
        if (settings->transaction_timeout_ms > 0) {
                snprintf(timeout, timeout_size, "%lld", (long long)settings->transaction_timeout_ms);
                properties[n++] = "transaction.timeout.ms";
                properties[n++] = timeout;
        }
        if (settings->message_max_bytes > 0) {
                snprintf(max_bytes, max_bytes_size, "%lld", (long long)settings->message_max_bytes);
                properties[n++] = "message.max.bytes";
                properties[n++] = max_bytes;
        }
        for (size_t i = 0; i < extra; i++)
                properties[n++] = settings->overrides[i];
        return properties;
}

static rd_kafka_t *make_handle(const bl_config_t *config, const bl_txn_settings_t *settings, bl_txn_result_t *result) {
        char timeout[32], max_bytes[32];
        const char **properties = producer_properties(settings, timeout, sizeof(timeout), max_bytes, sizeof(max_bytes));
        rd_kafka_conf_t *conf = properties ? bl_kafka_conf_new(config, properties, result->reason, sizeof(result->reason))
                                           : NULL;
        free(properties);
        if (!conf)
                return NULL;
        if (settings->delivered)
                rd_kafka_conf_set_dr_msg_cb(conf, settings->delivered);
        if (settings->log)
                rd_kafka_conf_set_log_cb(conf, settings->log);
        rd_kafka_conf_set_opaque(conf, settings->opaque);
        return bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, result->reason, sizeof(result->reason));
}

bl_txn_producer_t *bl_txn_producer_new(const bl_config_t *config, const bl_txn_settings_t *settings,
                                       bl_txn_result_t *result) {
        bl_txn_producer_t *producer = calloc(1, sizeof(*producer));
        *result = ok_result();
        result->verdict = BL_TXN_FATAL;
        if (!producer) {
                snprintf(result->reason, sizeof(result->reason), "out of memory");
                return NULL;
        }
        if (!(producer->rk = make_handle(config, settings, result))) {
                free(producer);
                return NULL;
        }
        rd_kafka_error_t *error = rd_kafka_init_transactions(producer->rk, settings->init_timeout_ms);
        if (error) {
                char what[600];
                snprintf(what, sizeof(what), "init_transactions as %s", settings->transactional_id);
                *result = bl_txn_result_of(producer->rk, error, what);
                if (result->verdict != BL_TXN_RETRIABLE)
                        result->verdict = BL_TXN_FATAL; /* a producer that could not start is of no use */
                rd_kafka_destroy(producer->rk);
                free(producer);
                return NULL;
        }
        *result = ok_result();
        return producer;
}

void bl_txn_producer_destroy(bl_txn_producer_t *producer, bool drop_pending) {
        if (!producer)
                return;
        if (drop_pending)
                rd_kafka_purge(producer->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(producer->rk, DESTROY_FLUSH_MS); /* serves the (purged) records' reports */
        rd_kafka_destroy(producer->rk);
        free(producer);
}

rd_kafka_t *bl_txn_producer_handle(const bl_txn_producer_t *producer) {
        return producer->rk;
}

bl_txn_result_t bl_txn_producer_begin(bl_txn_producer_t *producer) {
        return bl_txn_result_of(producer->rk, rd_kafka_begin_transaction(producer->rk), "begin_transaction");
}

rd_kafka_resp_err_t bl_txn_producer_send(bl_txn_producer_t *producer, const bl_txn_message_t *record) {
        rd_kafka_resp_err_t err;
        rd_kafka_vu_t fields[] = {
                record->rkt ? (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_RKT, .u.rkt = record->rkt}
                            : (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = record->topic},
                {.vtype = RD_KAFKA_VTYPE_PARTITION, .u.i32 = record->partition},
                {.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {(void *)record->key, record->key_size}},
                {.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {(void *)record->value, record->value_size}},
                {.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i32 = RD_KAFKA_MSG_F_COPY},
                {.vtype = RD_KAFKA_VTYPE_TIMESTAMP, .u.i64 = record->timestamp_ms > 0 ? record->timestamp_ms : 0},
                {.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = record->opaque},
                {.vtype = RD_KAFKA_VTYPE_HEADERS, .u.headers = record->headers},
        };
        size_t count = sizeof(fields) / sizeof(fields[0]) - (record->headers ? 0 : 1);
        rd_kafka_error_t *error;
        while ((error = rd_kafka_produceva(producer->rk, fields, count)) &&
               rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_error_destroy(error);
                rd_kafka_poll(producer->rk, 50); /* wait for room; never drop */
        }
        err = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (error) {
                rd_kafka_error_destroy(error);
                if (record->headers)
                        rd_kafka_headers_destroy(record->headers); /* taken over only on success */
        }
        return err;
}

bl_txn_result_t bl_txn_producer_abort(bl_txn_producer_t *producer, int timeout_ms) {
        return bl_txn_result_of(producer->rk, rd_kafka_abort_transaction(producer->rk, timeout_ms),
                                "abort_transaction");
}

/* Flushes in slices; false as soon as a refusal is reported (the transaction must abort). */
static bool flush_unless_refused(rd_kafka_t *rk, const atomic_bool *refused, int timeout_ms) {
        int64_t until = timeout_ms < 0 ? INT64_MAX : bl_clock_monotonic_ms() + timeout_ms;
        while (rd_kafka_outq_len(rk) > 0 && bl_clock_monotonic_ms() < until) {
                rd_kafka_flush(rk, FLUSH_SLICE_MS);
                if (refused && atomic_load(refused))
                        return false;
        }
        return !(refused && atomic_load(refused));
}

bl_txn_result_t bl_txn_producer_commit(bl_txn_producer_t *producer, const rd_kafka_topic_partition_list_t *offsets,
                                       const rd_kafka_consumer_group_metadata_t *group, const atomic_bool *refused,
                                       int timeout_ms) {
        int64_t started = bl_clock_monotonic_ms();
        bl_txn_result_t result = ok_result();
        if (!flush_unless_refused(producer->rk, refused, timeout_ms)) {
                result.verdict = BL_TXN_ABORTABLE;
                result.code = RD_KAFKA_RESP_ERR__STATE;
                result.refused = true;
                snprintf(result.reason, sizeof(result.reason), "the broker refused a record of the transaction");
        } else if (offsets && group && offsets->cnt > 0) {
                result = bl_txn_result_of(producer->rk,
                                          rd_kafka_send_offsets_to_transaction(producer->rk, offsets, group, timeout_ms),
                                          "send_offsets_to_transaction");
        }
        for (int attempt = 1; result.verdict == BL_TXN_OK; attempt++) {
                result = bl_txn_result_of(producer->rk, rd_kafka_commit_transaction(producer->rk, timeout_ms),
                                          "commit_transaction");
                if (result.verdict != BL_TXN_RETRIABLE || attempt == COMMIT_RETRIES)
                        break;
                bl_log_warn("txn", "%s; retrying", result.reason);
                result = ok_result();
        }
        result.took_ms = bl_clock_monotonic_ms() - started;
        return result;
}

static void *commit_main(void *arg) {
        bl_txn_commit_t *commit = arg;
        commit->result = bl_txn_producer_commit(commit->producer, commit->offsets, commit->group, commit->refused,
                                                commit->timeout_ms);
        atomic_store_explicit(&commit->done, true, memory_order_release);
        if (commit->wake)
                rd_kafka_queue_yield(commit->wake);
        return NULL;
}

bl_txn_commit_t *bl_txn_commit_start(bl_txn_producer_t *producer, rd_kafka_topic_partition_list_t *offsets,
                                     rd_kafka_consumer_group_metadata_t *group, rd_kafka_queue_t *wake,
                                     const atomic_bool *refused, int timeout_ms) {
        bl_txn_commit_t *commit = calloc(1, sizeof(*commit));
        if (!commit) {
                rd_kafka_topic_partition_list_destroy(offsets);
                rd_kafka_consumer_group_metadata_destroy(group);
                return NULL;
        }
        commit->producer = producer;
        commit->offsets = offsets;
        commit->group = group;
        commit->wake = wake;
        commit->refused = refused;
        commit->timeout_ms = timeout_ms;
        atomic_init(&commit->done, false);
        commit->threaded = pthread_create(&commit->thread, NULL, commit_main, commit) == 0;
        if (!commit->threaded) {
                bl_log_warn("txn", "no thread for the commit; committing on the caller's thread");
                commit_main(commit);
        }
        return commit;
}

bool bl_txn_commit_done(const bl_txn_commit_t *commit) {
        return atomic_load_explicit(&commit->done, memory_order_acquire);
}

bl_txn_result_t bl_txn_commit_finish(bl_txn_commit_t *commit, rd_kafka_topic_partition_list_t **offsets) {
        if (commit->threaded)
                pthread_join(commit->thread, NULL);
        bl_txn_result_t result = commit->result;
        *offsets = commit->offsets;
        rd_kafka_consumer_group_metadata_destroy(commit->group);
        free(commit);
        return result;
}
