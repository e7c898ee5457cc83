/*
 * batch.h: exactly-once batches (SPEC §6), as one opaque type.
 *
 * A batch opens with the first record produced after the last hand-off and
 * carries everything the stages produce into it, then the input offsets at
 * its commit; each batch is one transaction of the one transactional
 * producer. What the pipeline does about a batch's outcome (restore, retry,
 * bisect, hold back) is not the batch's business: it reports each commit,
 * abort and lost producer through the hooks it was given, and the caller
 * (recovery.c) decides. The batch uses nothing of the pipeline but the
 * isolate and gate bookkeeping it is handed.
 *
 * Pipeline thread, except bl_batch_on_delivery and bl_batch_producer_log,
 * which librdkafka calls from whichever thread polls or flushes.
 */
#ifndef BL_PIPELINE_BATCH_H
#define BL_PIPELINE_BATCH_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "contract/records.h"
#include "kafka/txn_producer.h"
#include "pipeline/gate.h"
#include "pipeline/isolate.h"

typedef struct bl_batch_s bl_batch_t;

/** One record for the open batch. */
typedef struct bl_batch_record_s {
        const char *topic;
        int32_t partition; /* or RD_KAFKA_PARTITION_UA: the key's partition */
        const void *key;   /* NULL: none */
        size_t key_size;
        const void *value; /* NULL: a tombstone */
        size_t value_size;
        const char *traceparent; /* NULL: no header */
        rd_kafka_headers_t *headers; /* taken over, whatever the outcome; NULL: none */
        int64_t timestamp_ms;    /* its CreateTime: when the change was made; 0: librdkafka's clock now */
        void *delivery_opaque;   /* a dispatch's domain, or NULL: it comes back through the delivered hook */
} bl_batch_record_t;

/** Why a batch did not commit, as the aborted hook hears it. */
typedef struct bl_batch_failure_s {
        bl_fault_t fault;     /* whose fault: a record's, an output's, the broker's */
        bool open;            /* the batch that failed was the open one (a produce refused), not the one handed off */
        bool aborted;         /* the abort itself went through; false: the run cannot go on */
        size_t dropped;       /* records of the next batch held meanwhile, dropped with it */
        const char *reason;   /* "stage: what failed" */
        const char *refused_topic; /* the output topic the broker refused; "" when none was named */
        bool gate_closed;     /* the batch failed writing to a topic the gate keeps closed */
} bl_batch_failure_t;

typedef struct bl_batch_hooks_s {
        /* The input offsets the commit of the batch handed off carries: a new list (the batch frees it). */
        rd_kafka_topic_partition_list_t *(*offsets)(void *opaque);
        /* The batch handed off committed with @p offsets, in @p took_ms on the committer's thread. */
        void (*committed)(void *opaque, const rd_kafka_topic_partition_list_t *offsets, int64_t took_ms);
        /* It did not: both batches are gone (aborted), and the world must go back to the last commit. */
        void (*aborted)(void *opaque, const bl_batch_failure_t *failure);
        /* A dispatch record's place, from its delivery report; on the pipeline thread, at the next tick. */
        void (*delivered)(void *opaque, const char *domain, int32_t partition, int64_t offset);
        /* The producer can go on no more (fatal, fenced): a new one must take over (bl_batch_set_producer). */
        void (*producer_lost)(void *opaque);
        /* Nothing safe is left to do (a commit neither retriable nor abortable, an abort that failed). */
        void (*stopped)(void *opaque);
        /* A long wait (an abort through a broker outage): keep the heartbeat and the gauges current. */
        void (*waiting)(void *opaque);
        /* The open batch is about to be handed off: the records it carries once, at its end (each changed
         * task's snapshot), go in now. May be NULL. */
        void (*closing)(void *opaque);
        void *opaque;
} bl_batch_hooks_t;

typedef struct bl_batch_settings_s {
        int64_t commit_interval_ms;  /* a batch is handed off this long after it opened */
        int64_t hold_max_bytes;      /* the next batch's records held during a commit; 0: every commit waited for */
        rd_kafka_t *consumer;        /* the group's: its metadata goes with the offsets, its queue is woken */
        bl_isolate_t *isolate;       /* borrowed: units per batch (the batch hands off when there is no room) */
        bl_gate_t *gate;             /* borrowed: refused output topics (records for them are refused here) */
        volatile sig_atomic_t *stop; /* set when the instance is told to stop: an abort is not waited out */
        int64_t abort_max_ms;        /* an abort not done by then: the producer is taken for lost (0: no bound) */
        bl_batch_hooks_t hooks;
} bl_batch_settings_t;

typedef struct bl_batch_stats_s {
        uint64_t held_records;    /* records held while the batch before theirs committed */
        uint64_t held_peak_bytes; /* the most held at once: keys and values */
        uint64_t commit_wait_ms;  /* time the pipeline thread waited for a commit */
        int64_t last_age_ms;      /* the batch last committed: from its first record to its commit's end */
        int64_t age_max_ms;       /* the longest of those */
} bl_batch_stats_t;

/** A batch over no producer yet (bl_batch_set_producer). NULL when out of resources. */
bl_batch_t *bl_batch_new(const bl_batch_settings_t *settings);
/** Frees what is left; after the producer is destroyed (its last flush still reports into the batch). */
void bl_batch_destroy(bl_batch_t *batch);

/** The producer the batches go through (borrowed; NULL: none now). Its delivered, log and opaque settings
 * must be bl_batch_on_delivery, bl_batch_producer_log and this batch. */
void bl_batch_set_producer(bl_batch_t *batch, bl_txn_producer_t *producer);
/** The producer's delivery reports (its dr_msg_cb); opaque: the batch. */
void bl_batch_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque);
/** The producer's log_cb: bl_kafka_log, and a partition the broker refused in the transaction, as a delivery. */
void bl_batch_producer_log(const rd_kafka_t *rk, int level, const char *facility, const char *message);

/** Opens a batch unless one is open; false when the producer is lost or stopped. */
bool bl_batch_ensure(bl_batch_t *batch);
/** Whether a batch is open, or a commit runs: work waits for a commit. */
bool bl_batch_pending(const bl_batch_t *batch);
/** Into the open batch (opened if need be); a refusal fails the batch. NO_ERROR or the refusal. */
rd_kafka_resp_err_t bl_batch_produce(bl_batch_t *batch, const bl_batch_record_t *record);
/** The DLQ's produce function (dlq.h): a topic the gate keeps closed is refused here, nothing produced. */
rd_kafka_resp_err_t bl_batch_produce_dead_letter(void *opaque, const char *topic, const void *key, size_t key_size,
                                                 const void *value, size_t value_size, rd_kafka_headers_t *headers);
/** The open batch cannot commit (@p fault's): it aborts at its hand-off. */
void bl_batch_fail(bl_batch_t *batch, bl_fault_t fault, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Whose fault a refusal of librdkafka's is: a record's (for good), an output's, or the broker's now. */
bl_fault_t bl_batch_fault_of(rd_kafka_resp_err_t err);

/** Each turn of the loop: collects a commit that ended, and hands the batch off when it is due. */
void bl_batch_tick(bl_batch_t *batch);
/** Commits everything done so far and waits for it (rebalance, shutdown); on failure the aborted hook. */
void bl_batch_commit(bl_batch_t *batch);
/** Forgets the open batch and a commit still running, without aborting: the producer is lost, a new one comes. */
void bl_batch_reset(bl_batch_t *batch);
/** Waits for a commit still running, drops what is held and aborts an open transaction; before the clients go. */
void bl_batch_close(bl_batch_t *batch);
/** Releases the topic handles made for the producer; before it is destroyed. */
void bl_batch_release_topics(bl_batch_t *batch);

const bl_batch_stats_t *bl_batch_stats(const bl_batch_t *batch);

#endif
