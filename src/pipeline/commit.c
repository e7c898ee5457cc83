/*
 * commit.c: one transaction's commit, on a thread of its own (SPEC §6).
 *
 * rd_kafka_commit_transaction first flushes: it waits until every record of
 * the transaction is acknowledged, and only then asks the coordinator to
 * commit and waits for that too. In a loop that consumes, decides and
 * produces, that wait was half the time (docs/performance.md, end to end),
 * and the loop needs the producer for none of it: txn.c keeps the next
 * batch's records back until this commit is over. So sending the input
 * offsets and committing run here, on a short-lived thread per transaction,
 * while the pipeline thread goes on consuming and deciding.
 *
 * Invariants: while a commit runs, this thread is the only caller of the
 * producer's transactional API and of its queue (the delivery reports the
 * flush serves run here, see bl_txn_delivered); the pipeline thread reads
 * nothing of the request until bl_commit_done() says it is over. Its end is
 * published with a release store, and the consumer's queue is woken so that
 * the loop's poll returns at once instead of at its timeout.
 *
 * The flush is done here in short slices before the commit: once a delivery
 * report says the broker refused a record (the flag the pipeline's delivery
 * callback raises), the transaction can only abort, and waiting for the
 * rest to time out (librdkafka holds them until message.timeout.ms, 10 s
 * and more) would only delay the abort and the bisection behind it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/pipeline_int.h"

#define COMMIT_RETRIES 5
#define FLUSH_SLICE_MS 50

struct bl_commit_s {
        pthread_t thread;
        bool threaded;                             /* false: it ran in the caller (no thread could start) */
        rd_kafka_t *producer;                      /* borrowed */
        rd_kafka_queue_t *wake;                    /* borrowed; NULL: wake nobody */
        rd_kafka_topic_partition_list_t *offsets;  /* owned: the input offsets the transaction carries */
        rd_kafka_consumer_group_metadata_t *group; /* owned */
        int timeout_ms;
        const atomic_bool *refused; /* borrowed: raised by a delivery report with a refusal; NULL: none */
        bool was_refused;           /* the commit was not tried: a record was refused */
        rd_kafka_error_t *error; /* the outcome; NULL: committed */
        int64_t took_ms;
        atomic_bool done;
};

/* Flushes in slices; false as soon as a refusal is reported (the transaction must abort). */
static bool flush_unless_refused(bl_commit_t *commit) {
        int64_t until = bl_clock_monotonic_ms() + commit->timeout_ms;
        while (rd_kafka_outq_len(commit->producer) > 0 && bl_clock_monotonic_ms() < until) {
                rd_kafka_flush(commit->producer, FLUSH_SLICE_MS);
                if (commit->refused && atomic_load(commit->refused))
                        return false;
        }
        return !(commit->refused && atomic_load(commit->refused));
}

/* Sends the offsets and commits, retrying what librdkafka calls retriable; the last error or NULL. */
static rd_kafka_error_t *send_offsets_and_commit(bl_commit_t *commit) {
        rd_kafka_error_t *error;
        if (!flush_unless_refused(commit)) {
                commit->was_refused = true;
                return rd_kafka_error_new(RD_KAFKA_RESP_ERR__STATE, "the broker refused a record of the transaction");
        }
        if (commit->offsets->cnt > 0 && (error = rd_kafka_send_offsets_to_transaction(
                                                 commit->producer, commit->offsets, commit->group, commit->timeout_ms)))
                return error;
        for (int attempt = 1;; attempt++) {
                error = rd_kafka_commit_transaction(commit->producer, commit->timeout_ms);
                if (!error || !rd_kafka_error_is_retriable(error) || attempt == COMMIT_RETRIES)
                        return error;
                bl_log_warn("txn", "commit: %s; retrying", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
}

static void *commit_main(void *arg) {
        bl_commit_t *commit = arg;
        int64_t started = bl_clock_monotonic_ms();
        commit->error = send_offsets_and_commit(commit);
        commit->took_ms = bl_clock_monotonic_ms() - started;
        atomic_store_explicit(&commit->done, true, memory_order_release);
        if (commit->wake)
                rd_kafka_queue_yield(commit->wake);
        return NULL;
}

bl_commit_t *bl_commit_start(rd_kafka_t *producer, rd_kafka_topic_partition_list_t *offsets,
                             rd_kafka_consumer_group_metadata_t *group, rd_kafka_queue_t *wake,
                             const atomic_bool *refused, int timeout_ms) {
        bl_commit_t *commit = calloc(1, sizeof(*commit));
        if (!commit) {
                rd_kafka_topic_partition_list_destroy(offsets);
                rd_kafka_consumer_group_metadata_destroy(group);
                return NULL;
        }
        commit->producer = producer;
        commit->offsets = offsets;
        commit->group = group;
        commit->wake = wake;
        commit->timeout_ms = timeout_ms;
        commit->refused = refused;
        atomic_init(&commit->done, false);
        commit->threaded = pthread_create(&commit->thread, NULL, commit_main, commit) == 0;
        if (!commit->threaded) {
                bl_log_warn("txn", "no thread for the commit; committing on the pipeline thread");
                commit_main(commit);
        }
        return commit;
}

bool bl_commit_done(const bl_commit_t *commit) {
        return atomic_load_explicit(&commit->done, memory_order_acquire);
}

rd_kafka_error_t *bl_commit_finish(bl_commit_t *commit, rd_kafka_topic_partition_list_t **offsets, int64_t *took_ms,
                                   bool *refused) {
        rd_kafka_error_t *error;
        if (commit->threaded)
                pthread_join(commit->thread, NULL);
        error = commit->error;
        *offsets = commit->offsets;
        *took_ms = commit->took_ms;
        if (refused)
                *refused = commit->was_refused;
        rd_kafka_consumer_group_metadata_destroy(commit->group);
        free(commit);
        return error;
}
