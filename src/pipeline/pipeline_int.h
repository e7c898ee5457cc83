/*
 * pipeline_int.h: the state of one `backlogd run`, shared by the files of
 * src/pipeline/ and nothing else:
 *
 *   run.c      start-up, the loop, rebalances, shutdown
 *   txn.c      the transaction of a batch: open, produce into, commit, abort and recover
 *   commit.c   a batch's commit, on a thread of its own while the next batch fills
 *   outputs.c  what the backlog and ingest decide, turned into records
 *   restore.c  partitions read back from backlog.state on assignment
 *   isolate.c  the bisection that finds the record or timer a batch fails on
 *
 * Everything runs on the one pipeline thread, except a commit (commit.c)
 * and the delivery reports its flush serves (txn.c).
 */
#ifndef BL_PIPELINE_INT_H
#define BL_PIPELINE_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"
#include "contract/decoder.h"
#include "core/credit.h"
#include "kafka/lag.h"
#include "ops/http.h"
#include "ops/metrics.h"
#include "contract/records.h"
#include "contract/source.h"
#include "core/backlog.h"
#include "kafka/consumer.h"
#include "kafka/reader.h"
#include "kafka/txn_producer.h"
#include "ops/config.h"
#include "pipeline/dlq.h"
#include "pipeline/gate.h"
#include "pipeline/ingest.h"
#include "pipeline/isolate.h"
#include "pipeline/run.h"

/** One assigned input partition (tasks.events, tasks.results or backlog.deps). */
typedef struct bl_input_partition_s {
        char *topic;
        int32_t partition;
        int64_t done_offset;      /* one past the last record finished in this batch; -1: none */
        int64_t committed_offset; /* committed with the last transaction; RD_KAFKA_OFFSET_INVALID: none */
        bool paused;
        bool schema_wait;         /* paused only while its record's schema is fetched: a short, quiet wait */
        int64_t retry_at_ms;
        int64_t backoff_ms;
} bl_input_partition_t;

typedef struct bl_pipeline_stats_s {
        uint64_t transactions;
        uint64_t aborts;
        uint64_t transitions;
        uint64_t dispatched;
        uint64_t notices;
        uint64_t restored_items;
        uint64_t duplicates;
        uint64_t stale_results;
        uint64_t illegal;
        uint64_t held_records;   /* records held while the batch before theirs committed (txn.c) */
        uint64_t held_peak_bytes; /* the most held at once: keys and values */
        uint64_t commit_ms;      /* time the commits took, on the committer's thread */
        uint64_t commit_wait_ms; /* time the pipeline thread waited for a commit */
        uint64_t given_up;       /* culprits given up: records and tasks a batch failed on for good */
        uint64_t producer_restarts; /* the transactional producer made anew after it was fenced */
} bl_pipeline_stats_t;

/** The next batch's records, held while the batch before it commits (txn.c). */
typedef struct bl_held_s {
        struct bl_held_record_s *records;
        size_t count, capacity;
        char *bytes; /* the records' keys and values, end to end */
        size_t used, bytes_capacity;
} bl_held_t;

/** A dispatch record's place, from its delivery report. */
typedef struct bl_delivery_s {
        const char *domain;
        int32_t partition;
        int64_t offset;
} bl_delivery_t;

/** Dispatch offsets from the delivery reports, for the credit ledger (any thread adds, txn.c). */
typedef struct bl_deliveries_s {
        pthread_mutex_t lock;
        bool ready; /* the lock is initialised */
        bl_delivery_t *items;
        size_t count, capacity;
        bl_fault_t fault; /* the worst refusal among the delivery reports since the last commit's outcome */
        atomic_bool refused; /* raised with a record's refusal: the committer stops waiting and the batch aborts */
        char failure[BL_RECORD_DETAIL_MAX];
        char refused_topic[BL_UNIT_NAME_MAX]; /* the output topic an output fault named ("": none known) */
} bl_deliveries_t;

#define BL_OBSERVE_DOMAINS 64 /* as many as the domains key allows */

/** The series `run` updates, created once (observe.c). */
typedef struct bl_observe_s {
        bl_metrics_t *registry;
        bl_metrics_backlogd_t metrics;
        bl_http_t *http; /* NULL when http.port is 0 */
        bl_metric_series_t *items[BL_STATE__COUNT][BL_OBSERVE_DOMAINS];
        bl_metric_series_t *oldest[BL_STATE__COUNT];
        bl_metric_series_t *events[3]; /* tasks.events, tasks.results, backlog.deps */
        bl_metric_series_t *dlq[BL_REASON__COUNT];
        bl_metric_series_t *invalid[BL_REASON__COUNT];
        bl_metric_series_t *lag[BL_OBSERVE_DOMAINS];
        bl_metric_series_t *throttled[BL_OBSERVE_DOMAINS];
        bl_metric_series_t *input_paused, *decision_seconds, *commit_seconds, *committed, *aborted;
        bl_metric_series_t *memory_bytes; /* set by input backpressure (run.c), on every loop turn */
        bl_metric_series_t *restore_seconds, *restore_items;
        bl_metric_series_t *given_up[3]; /* by the culprit's kind: record, timer, dispatch */
        bl_metric_series_t *held_back, *producer_renewals;
        bl_metric_series_t *last_commit_age, *stalled, *aborts_in_row;
        bl_http_health_t health; /* what /healthz judges, kept here and copied to the server (observe.c) */
        bool health_failing;     /* as last logged */
        bl_metric_series_t *dispatched[BL_OBSERVE_DOMAINS]; /* for the policy label below */
        char dispatched_policy[BL_OBSERVE_DOMAINS][128];
        int64_t last_gauges_ms;
        int64_t last_census_ms;
        int64_t census_interval_ms;  /* 0 at first; then GAUGE_TICK_MS, or longer while a walk takes long (observe.c) */
} bl_observe_t;

typedef struct bl_pipeline_s {
        const bl_config_t *config;
        const bl_pipeline_options_t *options; /* NULL for `backlogd run` (run.h) */
        volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */
        bl_consumer_t *group_consumer;
        rd_kafka_t *consumer;     /* its handle */
        bl_txn_producer_t *txn_producer;
        rd_kafka_t *producer;     /* its handle */
        bl_reader_t *reader;
        bl_contract_source_t contracts;
        bl_decoder_t *decoder;
        bl_records_t *records;
        bl_dlq_t *dlq;
        bl_ingest_t *ingest;
        bl_backlog_t *backlog;
        struct bl_policy_s *policy; /* NULL: FIFO (steer.c) */
        int64_t policy_checked_ms;
        bool lag_watched[BL_OBSERVE_DOMAINS];
        bl_credit_t *credit;      /* own dispatches against the workers' progress */
        bl_lag_t *lag;            /* NULL while no domain names a worker group */
        bl_observe_t observe;

        char *topic_events, *topic_results, *topic_deps, *topic_state, *topic_transitions, *topic_dlq;
        char **topic_dispatch;    /* dispatch.<domain> of each configured domain, in config order */
        /* The producer's handles of the topics written, by name (txn.c): a produce by name would look the
         * topic up in librdkafka's list under its lock, and take and drop a reference, every record. */
        struct bl_topic_handle_s *topic_handles;
        size_t topic_handle_count;
        int32_t task_event_id; /* the id of the newest TaskEvent, for dead-lettered submissions */
        bl_schema_t *submission_schema; /* a private copy of it to encode them with */

        int32_t total_input_partitions; /* of tasks.events, for this instance's share */
        bl_input_partition_t *partitions;
        size_t partition_count, partition_capacity;

        /* The batch (txn.c): from its first input or output to its hand-off to the committer. */
        bool batch_open;
        bool batch_begun;         /* its transaction began: records go straight in; else they are held */
        bool transaction_failed;  /* a produce into it failed: it must abort */
        bl_fault_t batch_fault;   /* whose fault that was (bl_txn_fail) */
        char batch_failure[BL_RECORD_DETAIL_MAX]; /* "stage: what failed", for the log and a culprit's letter */
        bl_isolate_t *isolate;    /* units per batch, and the culprit of a batch that fails for good */
        bl_gate_t *gate;          /* the output topics the broker refuses now (gate.h) */
        char batch_refused_topic[BL_UNIT_NAME_MAX]; /* the output topic the batch's own failure named */
        bool batch_gate_closed;   /* the batch failed on a topic the gate keeps closed: hold everything back */
        char culprit_detail[BL_RECORD_DETAIL_MAX]; /* why the culprit is given up */
        bool giving_up;           /* the open batch gives the culprit up */
        bool held_back;           /* a batch failed for a broker or output fault: input paused until ... */
        int64_t held_back_until_ms;
        int64_t held_back_backoff_ms; /* doubles from ingest.retry_backoff_ms to its max; 0 after a commit */
        int64_t producer_restarted_ms; /* the last time the producer was made anew after being fenced */
        uint64_t transactions_at_renewal; /* stats.transactions then: a commit since tells a rival from a stall */
        int64_t batch_started_ms;
        bl_txn_commit_t *committing; /* the batch before, committing on its own thread; NULL: none */
        bl_held_t held;
        bl_deliveries_t deliveries;
        rd_kafka_queue_t *wake; /* the consumer's queue, woken when a commit ends */
        int64_t last_stats_ms;
        bool fatal;
        bool renew_producer;      /* the producer was fenced: the loop makes a new one (run.c) */
        bool ready;               /* every assigned partition restored */
        bool input_paused;        /* tasks.events paused: too many READY tasks, or too many bytes held */
        bl_pipeline_stats_t stats;
        char instance[256];
} bl_pipeline_t;

/* txn.c */
/** Sets up the delivery ledger and the wake-up; after the consumer is made. False when out of resources. */
bool bl_txn_open(bl_pipeline_t *p);
/** Opens a batch unless one is open; false only once the run is fatal. */
bool bl_txn_ensure(bl_pipeline_t *p);
/** One record for the open batch; key and value are copied (by librdkafka, or into the held bytes). */
typedef struct bl_txn_record_s {
        const char *topic;
        int32_t partition; /* or RD_KAFKA_PARTITION_UA: the key's partition */
        const void *key;   /* NULL: none */
        size_t key_size;
        const void *value; /* NULL: a tombstone */
        size_t value_size;
        const char *traceparent; /* NULL: no header */
        rd_kafka_headers_t *headers; /* taken over, whatever the outcome; NULL: none */
        int64_t timestamp_ms;    /* its CreateTime: when the change was made; 0: librdkafka's clock now */
        void *delivery_opaque;   /* a dispatch's domain, or NULL: it comes back in the delivery report */
} bl_txn_record_t;

/** Whose fault a refusal of librdkafka's is: a record's (for good), an output's, or the broker's now. */
bl_fault_t bl_txn_fault_of(rd_kafka_resp_err_t err);
/**
 * Marks the open batch to abort with @p fault and "stage: what" (@p fmt) as its failure; the worst fault
 * of a batch, and the first failure of that fault, are kept.
 */
void bl_txn_fail(bl_pipeline_t *p, bl_fault_t fault, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** A delivery report with an error, from any thread: kept for the commit's outcome. */
void bl_txn_delivery_failed(bl_pipeline_t *p, const rd_kafka_message_t *message);
/** The producer's log_cb: bl_kafka_log, and a partition the broker refused in the transaction, as a delivery. */
void bl_txn_producer_log(const rd_kafka_t *rk, int level, const char *facility, const char *message);

/**
 * Produces @p record into the open batch, straight into its transaction or held until the commit before it
 * is over; a failure (returned) marks the batch to abort.
 */
rd_kafka_resp_err_t bl_txn_produce(bl_pipeline_t *p, const bl_txn_record_t *record);
/** bl_txn_produce() for the DLQ writer (dlq.h's bl_dlq_produce_fn; @p opaque is the pipeline). */
rd_kafka_resp_err_t bl_txn_produce_dead_letter(void *opaque, const char *topic, const void *key, size_t key_size,
                                               const void *value, size_t value_size, rd_kafka_headers_t *headers);
/** A dispatch record of @p domain was delivered at @p partition / @p offset; from any thread. */
void bl_txn_delivered(bl_pipeline_t *p, const char *domain, int32_t partition, int64_t offset);
/** Releases the topic handles bl_txn_produce made; before the producer is destroyed. */
void bl_txn_release_topics(bl_pipeline_t *p);
/** Each turn of the loop: collects a commit that ended, and hands the batch off when it is due. */
void bl_txn_tick(bl_pipeline_t *p);
/** Commits everything done so far and waits for it (rebalance, shutdown); on failure aborts and recovers. */
void bl_txn_commit(bl_pipeline_t *p);
/** Forgets the open batch and a commit still running, without aborting: the producer is fenced, a new one comes. */
void bl_txn_reset(bl_pipeline_t *p);
/** Waits for a commit still running, drops what is held and aborts an open transaction; before the clients go. */
void bl_txn_close(bl_pipeline_t *p);
/** Frees the delivery ledger; after the producer is destroyed (its last flush still reports into it). */
void bl_txn_destroy(bl_pipeline_t *p);

/* outputs.c */
void bl_outputs_backlog_sink(bl_pipeline_t *p, bl_backlog_sink_t *sink);
void bl_outputs_ingest_sink(bl_pipeline_t *p, bl_ingest_sink_t *sink);
/**
 * A record of backlog.deps: decode and apply (HANDED_ON), dead-letter it (DEAD_LETTERED), or wait for its schema
 * (WAIT, RETRY; @p why says why). A dead letter that cannot be written fails the batch and is a RETRY.
 */
bl_ingest_outcome_t bl_outputs_apply_notice_record(bl_pipeline_t *p, const rd_kafka_message_t *message, char *why,
                                                   size_t why_size);

/* restore.c */
/** Reads the @p count partitions listed of backlog.state into the backlog, replacing what it held of them. */
bl_err_t bl_restore_partitions(bl_pipeline_t *p, const int32_t *partitions, size_t count, char *errstr,
                               size_t errstr_size);
/** Drops and restores every partition now assigned: after an abort, the backlog is back at the last commit. */
bool bl_restore_assigned(bl_pipeline_t *p);

/* steer.c */
void bl_steer_backlog_options(bl_pipeline_t *p, bl_backlog_options_t *options);
/** Loads the policy (policy.file or backlog.policy) and starts the lag monitor; false: refuse to start. */
bool bl_steer_open(bl_pipeline_t *p);
/** SIGHUP reloads, backlog.policy follow-ups, lag polls. */
void bl_steer_tick(bl_pipeline_t *p, volatile sig_atomic_t *reload);
void bl_steer_close(bl_pipeline_t *p);
/** The lag monitor, on the producer's handle: made again with a new producer. */
bool bl_steer_open_lag(bl_pipeline_t *p);
void bl_steer_close_lag(bl_pipeline_t *p);
/** The share of @p round_total dispatches @p domain may take (its quota; all of it without one). */
size_t bl_steer_quota(const bl_pipeline_t *p, const char *domain, size_t round_total);

/* observe.c */
bool bl_observe_open(bl_pipeline_t *p);
void bl_observe_close(bl_pipeline_t *p);
void bl_observe_ready(bl_pipeline_t *p, bool ready, const char *reason);
void bl_observe_event(bl_pipeline_t *p, const char *topic);
void bl_observe_dispatch(bl_pipeline_t *p, const char *domain, const char *policy_name, const char *policy_version);
/** A transaction committed (txn.c): the commit age restarts, the aborts in a row are over. */
void bl_observe_committed(bl_pipeline_t *p);
/** A batch aborted (txn.c): one more in a row; its work waits until a commit. */
void bl_observe_aborted(bl_pipeline_t *p);
/** Heartbeat every turn; the cheap gauges and the health every 100 ms; the summary gauges once a second. */
void bl_observe_tick(bl_pipeline_t *p);

/* run.c */
bl_input_partition_t *bl_pipeline_find_partition(bl_pipeline_t *p, const char *topic, int32_t partition);
/** A batch failed for no record's fault: input, timers and dispatch wait a back-off that doubles. */
void bl_pipeline_hold_back(bl_pipeline_t *p, const char *why);
/** The producer was fenced: make it anew and restore; false when the run must end (fenced too often). */
bool bl_pipeline_renew_producer(bl_pipeline_t *p, const char *why);
/** Seeks every input partition back to its committed offset (after an abort). */
void bl_pipeline_rewind(bl_pipeline_t *p);

#endif
