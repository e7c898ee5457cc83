/*
 * txn.c: exactly-once batches (SPEC §6).
 *
 * A transaction opens with the first output or input of a batch and
 * carries everything the batch causes: transitions, snapshots, dispatch
 * decisions, dependency notices, dead letters, and, at commit, the input
 * offsets (send_offsets_to_transaction with the consumer's group metadata,
 * so a zombie instance of an older generation is fenced). A produce that
 * librdkafka refuses marks the transaction failed; the commit then aborts it.
 *
 * After an abort the world is as of the last commit: the consumer is sought
 * back to the committed offsets and the backlog is restored from
 * backlog.state, so the batch runs again and nothing it did survives twice.
 * A fatal error (fenced, or the producer's own fatal state) ends the run;
 * the orchestrator restarts the instance, which restores and resumes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/log.h"
#include "pipeline/pipeline_int.h"

#define TXN_TIMEOUT_MS 30000
#define COMMIT_RETRIES 5

int64_t bl_pipeline_monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t bl_pipeline_wall_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Logs @p error, marks the run fatal when it is, and frees it; true when it was fatal. */
static bool check_fatal(bl_pipeline_t *p, rd_kafka_error_t *error, const char *what) {
        bool fatal = rd_kafka_error_is_fatal(error);
        bl_log(fatal ? BL_LOG_ERROR : BL_LOG_WARN, "txn", "%s: %s%s", what, rd_kafka_error_string(error),
               fatal ? " (fatal: the instance stops)" : "");
        if (fatal)
                p->fatal = true;
        rd_kafka_error_destroy(error);
        return fatal;
}

bool bl_txn_ensure(bl_pipeline_t *p) {
        rd_kafka_error_t *error;
        if (p->in_transaction)
                return true;
        if (p->fatal)
                return false;
        error = rd_kafka_begin_transaction(p->producer);
        if (error) {
                check_fatal(p, error, "begin transaction");
                p->fatal = true; /* begin fails only on a programming or fatal error */
                return false;
        }
        p->in_transaction = true;
        p->transaction_failed = false;
        p->transaction_started_ms = bl_pipeline_monotonic_ms();
        return true;
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

/*
 * The record's own timestamp spares librdkafka a clock reading per record (1.5 % of
 * the e2e loop), and gives the 7 records of one event the time of their changes.
 */
void bl_txn_produce(bl_pipeline_t *p, const bl_txn_record_t *record) {
        rd_kafka_headers_t *headers = NULL;
        rd_kafka_resp_err_t err;
        rd_kafka_topic_t *rkt;
        if (!bl_txn_ensure(p))
                return;
        if (!(rkt = topic_handle(p, record->topic))) {
                bl_log_error("txn", "cannot produce to %s: out of memory; the batch will be aborted", record->topic);
                p->transaction_failed = true;
                return;
        }
        if (record->traceparent) {
                headers = rd_kafka_headers_new(1);
                rd_kafka_header_add(headers, "traceparent", -1, record->traceparent, -1);
        }
        while ((err = rd_kafka_producev(p->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(record->partition),
                                        RD_KAFKA_V_KEY(record->key, strlen(record->key)),
                                        RD_KAFKA_V_VALUE((void *)record->value, record->value_size),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_TIMESTAMP(record->timestamp_ms > 0 ? record->timestamp_ms : 0),
                                        RD_KAFKA_V_OPAQUE(record->delivery_opaque), RD_KAFKA_V_HEADERS(headers),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p->producer, 50);
        if (err) {
                if (headers)
                        rd_kafka_headers_destroy(headers);
                bl_log_error("txn", "cannot produce to %s: %s; the batch will be aborted", record->topic,
                             rd_kafka_err2str(err));
                p->transaction_failed = true;
        }
}

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

static void abort_and_recover(bl_pipeline_t *p) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(p->producer, TXN_TIMEOUT_MS);
        p->in_transaction = false;
        p->stats.aborts++;
        bl_metric_inc(p->observe.aborted, 1);
        bl_credit_transaction_aborted(p->credit);
        if (error && check_fatal(p, error, "abort transaction"))
                return;
        bl_log_warn("txn", "batch aborted: rewinding the input and restoring the backlog from %s",
                    p->topic_state);
        bl_pipeline_rewind(p);
        if (!bl_restore_assigned(p))
                p->fatal = true;
}

/* Sends the offsets and commits; false when the transaction must be aborted. */
static bool commit_with_offsets(bl_pipeline_t *p, rd_kafka_topic_partition_list_t *offsets) {
        rd_kafka_error_t *error = NULL;
        if (offsets->cnt > 0) {
                rd_kafka_consumer_group_metadata_t *group = rd_kafka_consumer_group_metadata(p->consumer);
                error = rd_kafka_send_offsets_to_transaction(p->producer, offsets, group, TXN_TIMEOUT_MS);
                rd_kafka_consumer_group_metadata_destroy(group);
        }
        for (int attempt = 0; !error && attempt < COMMIT_RETRIES; attempt++) {
                error = rd_kafka_commit_transaction(p->producer, TXN_TIMEOUT_MS);
                if (!error)
                        return true;
                if (!rd_kafka_error_is_retriable(error))
                        break;
                bl_log_warn("txn", "commit: %s; retrying", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                error = NULL;
        }
        if (!error)
                return false; /* retries ran out */
        bool abortable = rd_kafka_error_txn_requires_abort(error);
        if (!check_fatal(p, error, "commit transaction") && !abortable)
                p->fatal = true; /* neither retriable nor abortable: nothing safe is left to do */
        return false;
}

void bl_txn_commit(bl_pipeline_t *p) {
        rd_kafka_topic_partition_list_t *offsets;
        if (!p->in_transaction || p->fatal)
                return;
        if (p->transaction_failed) {
                abort_and_recover(p);
                return;
        }
        offsets = done_offsets(p);
        int64_t started = bl_pipeline_monotonic_ms();
        if (commit_with_offsets(p, offsets)) {
                bl_metric_observe(p->observe.commit_seconds, (double)(bl_pipeline_monotonic_ms() - started) / 1000.0);
                bl_metric_inc(p->observe.committed, 1);
                bl_credit_transaction_committed(p->credit);
                p->in_transaction = false;
                p->stats.transactions++;
                for (int i = 0; i < offsets->cnt; i++) {
                        bl_input_partition_t *entry =
                                bl_pipeline_find_partition(p, offsets->elems[i].topic, offsets->elems[i].partition);
                        if (entry)
                                entry->committed_offset = offsets->elems[i].offset;
                }
        } else if (!p->fatal) {
                abort_and_recover(p);
        }
        rd_kafka_topic_partition_list_destroy(offsets);
}
