/*
 * pipeline_int.h: the state of one `backlogd run`, shared by the files of
 * src/pipeline/ and nothing else:
 *
 *   run.c      start-up, the loop, rebalances, shutdown
 *   txn.c      the transaction of a batch: open, produce into, commit, abort and recover
 *   outputs.c  what the backlog and ingest decide, turned into records
 *   restore.c  partitions read back from backlog.state on assignment
 *
 * Everything runs on the one pipeline thread.
 */
#ifndef BL_PIPELINE_INT_H
#define BL_PIPELINE_INT_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "contract/decoder.h"
#include "core/credit.h"
#include "kafka/lag.h"
#include "ops/http.h"
#include "ops/metrics.h"
#include "contract/records.h"
#include "contract/source.h"
#include "core/backlog.h"
#include "kafka/reader.h"
#include "ops/config.h"
#include "pipeline/dlq.h"
#include "pipeline/ingest.h"
#include "pipeline/run.h"

/** One assigned input partition (tasks.events, tasks.results or backlog.deps). */
typedef struct bl_input_partition_s {
        char *topic;
        int32_t partition;
        int64_t done_offset;      /* one past the last record finished in this batch; -1: none */
        int64_t committed_offset; /* committed with the last transaction; RD_KAFKA_OFFSET_INVALID: none */
        bool paused;
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
} bl_pipeline_stats_t;

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
        bl_metric_series_t *restore_seconds, *restore_items;
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
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
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

        char *topic_events, *topic_results, *topic_deps, *topic_state, *topic_transitions;
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

        bool in_transaction;
        bool transaction_failed;  /* a produce into it failed: it must abort */
        int64_t transaction_started_ms;
        int64_t last_stats_ms;
        bool fatal;
        bool ready;               /* every assigned partition restored */
        bool input_paused;        /* tasks.events paused: too many READY tasks */
        bl_pipeline_stats_t stats;
        char instance[256];
} bl_pipeline_t;

/* time.c-free helpers shared by the files */
int64_t bl_pipeline_monotonic_ms(void);
int64_t bl_pipeline_wall_ms(void);

/* txn.c */
bool bl_txn_ensure(bl_pipeline_t *p);
/** One record for the open transaction; librdkafka copies what it needs. */
typedef struct bl_txn_record_s {
        const char *topic;
        int32_t partition; /* or RD_KAFKA_PARTITION_UA: the key's partition */
        const char *key;
        const void *value; /* NULL: a tombstone */
        size_t value_size;
        const char *traceparent; /* NULL: no header */
        int64_t timestamp_ms;    /* its CreateTime: when the change was made; 0: librdkafka's clock now */
        void *delivery_opaque;   /* a dispatch's domain, or NULL: it comes back in the delivery report */
} bl_txn_record_t;

/** Produces @p record into the open transaction; a failure marks the transaction to abort. */
void bl_txn_produce(bl_pipeline_t *p, const bl_txn_record_t *record);
/** Releases the topic handles bl_txn_produce made; before the producer is destroyed. */
void bl_txn_release_topics(bl_pipeline_t *p);
/** Commits the open transaction with the done input offsets; on failure aborts and recovers. */
void bl_txn_commit(bl_pipeline_t *p);

/* outputs.c */
void bl_outputs_backlog_sink(bl_pipeline_t *p, bl_backlog_sink_t *sink);
void bl_outputs_ingest_sink(bl_pipeline_t *p, bl_ingest_sink_t *sink);
/** A record of backlog.deps: decode and apply; false when it had to be dead-lettered and that failed. */
bool bl_outputs_apply_notice_record(bl_pipeline_t *p, const rd_kafka_message_t *message);

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
/** The share of @p round_total dispatches @p domain may take (its quota; all of it without one). */
size_t bl_steer_quota(const bl_pipeline_t *p, const char *domain, size_t round_total);

/* observe.c */
bool bl_observe_open(bl_pipeline_t *p);
void bl_observe_close(bl_pipeline_t *p);
void bl_observe_ready(bl_pipeline_t *p, bool ready, const char *reason);
void bl_observe_event(bl_pipeline_t *p, const char *topic);
void bl_observe_dispatch(bl_pipeline_t *p, const char *domain, const char *policy_name, const char *policy_version);
/** Heartbeat every turn; the summary gauges once a second. */
void bl_observe_tick(bl_pipeline_t *p);

/* run.c */
bl_input_partition_t *bl_pipeline_find_partition(bl_pipeline_t *p, const char *topic, int32_t partition);
/** Seeks every input partition back to its committed offset (after an abort). */
void bl_pipeline_rewind(bl_pipeline_t *p);

#endif
