/*
 * txn_producer.h: librdkafka's transactional producer the one way backlogd
 * uses it (SPEC §6): made and initialised from the config, records sent into
 * the open transaction (waiting for room, never dropping), the transaction
 * committed with the consumer's offsets on a thread of its own or in the
 * caller, or aborted. Every call ends in one bl_txn_result_t whose verdict
 * says what the caller may do next: call again, abort, or give the producer
 * up. `run`, `dlq redrive` and the benchmarks decide on that verdict alone.
 */
#ifndef BL_KAFKA_TXN_PRODUCER_H
#define BL_KAFKA_TXN_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops/config.h"

/** What a transactional call came to, and so what the caller may do next. */
typedef enum {
        BL_TXN_OK = 0,    /* it was done */
        BL_TXN_RETRIABLE, /* not done, nothing broken: the same call may be made again (a timeout, a moved coordinator) */
        BL_TXN_ABORTABLE, /* the open transaction can only be aborted; the producer goes on */
        BL_TXN_FATAL,     /* the producer can do nothing more; `fenced` says whether a new one with the same id may */
} bl_txn_verdict_t;

typedef struct bl_txn_result_s {
        bl_txn_verdict_t verdict;
        rd_kafka_resp_err_t code; /* librdkafka's error code; NO_ERROR with BL_TXN_OK */
        bool producer_fatal;      /* FATAL because librdkafka says so: this producer is done, a new one may go on */
        bool fenced;              /* ... and that because its epoch is gone (a stall, or another instance with its id) */
        bool refused;             /* a commit not tried: a delivery report said the broker refused a record */
        int64_t took_ms;          /* a commit's duration */
        char reason[512];         /* "commit_transaction: <librdkafka's text>"; "" with BL_TXN_OK */
} bl_txn_result_t;

/** How to make the producer. Only transactional_id is required. */
typedef struct bl_txn_settings_s {
        const char *transactional_id;
        const char *client_id;          /* NULL: librdkafka's */
        int64_t transaction_timeout_ms; /* 0: librdkafka's */
        int64_t message_max_bytes;      /* 0: librdkafka's */
        int init_timeout_ms;            /* the wait of init_transactions */
        const char *const *overrides;   /* more "name", "value" pairs, NULL-terminated; may be NULL */
        /* Called for each delivery report (from whichever thread polls or flushes); may be NULL. */
        void (*delivered)(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque);
        /* librdkafka's log lines; NULL: bl_kafka_log. */
        void (*log)(const rd_kafka_t *rk, int level, const char *facility, const char *message);
        void *opaque; /* of delivered, and rd_kafka_opaque() of the handle */
} bl_txn_settings_t;

typedef struct bl_txn_producer_s bl_txn_producer_t;

/**
 * Makes the producer and initialises its transactions (which fences an older producer with the same id and
 * aborts what it left open). NULL with @p result saying why: RETRIABLE when the cluster could not be reached
 * in time (try again later), FATAL otherwise (a bad property, the transactional id not authorised).
 */
bl_txn_producer_t *bl_txn_producer_new(const bl_config_t *config, const bl_txn_settings_t *settings,
                                       bl_txn_result_t *result);

/**
 * Waits (10 s at most) for what it still sends, serving the reports, and frees it; with @p drop_pending it
 * drops what it holds first (its transaction is over either way). NULL: no-op.
 */
void bl_txn_producer_destroy(bl_txn_producer_t *producer, bool drop_pending);

/** The librdkafka handle: topic handles, polls, the lag monitor's admin requests. */
rd_kafka_t *bl_txn_producer_handle(const bl_txn_producer_t *producer);

bl_txn_result_t bl_txn_producer_begin(bl_txn_producer_t *producer);

/** One record into the open transaction. Set every field: partition 0 is a partition. */
typedef struct bl_txn_message_s {
        rd_kafka_topic_t *rkt;      /* the topic's handle, or NULL and topic by name */
        const char *topic;
        int32_t partition;          /* RD_KAFKA_PARTITION_UA: the partitioner's */
        const void *key;
        size_t key_size;
        const void *value;          /* NULL: a tombstone */
        size_t value_size;
        int64_t timestamp_ms;       /* 0: now */
        rd_kafka_headers_t *headers; /* taken over, freed here when librdkafka refuses the record; may be NULL */
        void *opaque;               /* the delivery report's */
} bl_txn_message_t;

/**
 * Sends @p record (key and value copied), waiting for room in librdkafka's queue rather than dropping it.
 * NO_ERROR, or librdkafka's refusal of the record (its size, an unknown topic, the producer fatal).
 */
rd_kafka_resp_err_t bl_txn_producer_send(bl_txn_producer_t *producer, const bl_txn_message_t *message);

/**
 * Aborts the open transaction, waiting at most @p timeout_ms (-1: the transaction timeout). RETRIABLE on a
 * timeout: call again until it is done (librdkafka resumes the abort it began).
 */
bl_txn_result_t bl_txn_producer_abort(bl_txn_producer_t *producer, int timeout_ms);

/**
 * Commits the open transaction in the caller: flushes (stopping as soon as *@p refused is raised: the
 * transaction can only abort then), sends @p offsets with @p group when there are any (both borrowed; may be
 * NULL), commits, and tries a retriable commit again a few times. RETRIABLE after that means the outcome is
 * unknown. @p timeout_ms bounds each step; -1: the transaction timeout (the flush, until it is done).
 */
bl_txn_result_t bl_txn_producer_commit(bl_txn_producer_t *producer, const rd_kafka_topic_partition_list_t *offsets,
                                       const rd_kafka_consumer_group_metadata_t *group, const atomic_bool *refused,
                                       int timeout_ms);

/**
 * The same commit on a thread of its own (in the caller if none can start), so that the caller goes on
 * consuming and deciding meanwhile; until bl_txn_commit_done() it must not touch the producer. Takes over
 * @p offsets and @p group; yields @p wake (borrowed; may be NULL) when done. NULL when out of memory (both
 * freed).
 */
typedef struct bl_txn_commit_s bl_txn_commit_t;
bl_txn_commit_t *bl_txn_commit_start(bl_txn_producer_t *producer, rd_kafka_topic_partition_list_t *offsets,
                                     rd_kafka_consumer_group_metadata_t *group, rd_kafka_queue_t *wake,
                                     const atomic_bool *refused, int timeout_ms);

/** Whether the commit is over (one atomic load); bl_txn_commit_finish then does not wait. */
bool bl_txn_commit_done(const bl_txn_commit_t *commit);

/** Waits for the commit and frees it; the offsets it carried go back to the caller in *@p offsets. */
bl_txn_result_t bl_txn_commit_finish(bl_txn_commit_t *commit, rd_kafka_topic_partition_list_t **offsets);

/** The verdict on @p error from a call named @p what on @p rk, with librdkafka's text; frees @p error. */
bl_txn_result_t bl_txn_result_of(rd_kafka_t *rk, rd_kafka_error_t *error, const char *what);

#endif
