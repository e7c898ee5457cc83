/*
 * pipeline_int.h: the state of one `backlogd run`, shared by the files of
 * src/pipeline/ and nothing else. The stages, and who calls whom (no file
 * calls back into one that calls it):
 *
 *   run.c       start-up, the loop, rebalances, a lost producer made anew, shutdown
 *     ingest.c    a record of tasks.events/results: decoded, validated, to the backlog or the DLQ
 *     dispatch.c  timers due and READY tasks dispatched within credit, quotas and the gate
 *     outputs.c   what the backlog and ingest decide, turned into records of the batch
 *     steer.c     the policy (file or backlog.policy) and the workers' lag, for the credit ledger
 *     resilience.c  each domain's circuit breaker on worker failures, and the outcome series (SPEC §14)
 *     observe.c   metrics, /healthz and /readyz
 *       estimate.c  each domain's capacity estimate, from the transitions (SPEC §14)
 *     consult.c   the domains' agents: consultations out, answers applied at the dispatch round
 *     status_feed.c  the status page's data, handed to the HTTP thread once a second
 *     recovery.c  a batch's outcome: offsets moved, or the world back to the last commit and the culprit given up
 *       inputs.c    the assigned partitions: pauses, retries, rewinds, the hold back
 *       restore.c   partitions read back from backlog.state
 *     batch.c     exactly-once batches, one transaction each, behind an opaque type with hooks
 *       isolate.c   the bisection that finds the record or timer a batch fails on (pure)
 *       gate.c      the output topics the broker refuses now (pure)
 *   dlq.c       dead letters, written through the batch (a produce function it is handed)
 *
 * Everything runs on the one pipeline thread, except a commit (kafka/txn_producer.c) and the delivery
 * reports its flush serves (batch.c).
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
#include "core/domain_breaker.h"
#include "kafka/lag.h"
#include "ops/http.h"
#include "ops/metrics.h"
#include "ops/status.h"
#include "contract/records.h"
#include "contract/source.h"
#include "core/agent.h"
#include "core/backlog.h"
#include "core/capacity.h"
#include "kafka/consumer.h"
#include "kafka/reader.h"
#include "kafka/txn_producer.h"
#include "ops/config.h"
#include "pipeline/batch.h"
#include "pipeline/dlq.h"
#include "pipeline/gate.h"
#include "pipeline/ingest.h"
#include "pipeline/isolate.h"
#include "pipeline/run.h"
#include "pipeline/spill_glue.h"

/** One assigned input partition (tasks.events, tasks.results, tasks.control or backlog.deps). */
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
        uint64_t cancel_notices; /* cancellation notices to dispatch.<domain> (SPEC §15) */
        uint64_t notices;
        uint64_t restored_items;
        uint64_t duplicates;
        uint64_t stale_results;
        uint64_t illegal;
        uint64_t commit_ms;      /* time the commits took, on the committer's thread */
        uint64_t given_up;       /* culprits given up: records and tasks a batch failed on for good */
        uint64_t producer_restarts; /* the transactional producer made anew after it was fenced */
} bl_pipeline_stats_t;



#define BL_OBSERVE_DOMAINS 64 /* as many as the domains key allows */

/** A domain's agent as the status page shows it: what consult.c last reported to observe.c. */
typedef struct bl_agent_view_s {
        bool known;         /* consult.c reported on it at least once */
        int breaker;        /* the agent's breaker (core/breaker.h's state) */
        const char *last;   /* the outcome of the last consultation that finished (static); NULL: none yet */
        int64_t last_at_ms; /* when it finished, monotonic */
} bl_agent_view_t;

/** The series `run` updates, created once (observe.c). */
typedef struct bl_observe_s {
        bl_metrics_t *registry;
        bl_metrics_backlogd_t metrics;
        bl_http_t *http; /* NULL when http.port is 0 */
        bl_metric_series_t *items[BL_STATE__COUNT][BL_OBSERVE_DOMAINS];
        bl_metric_series_t *oldest[BL_STATE__COUNT];
        bl_metric_series_t *events[4]; /* tasks.events, tasks.results, tasks.control, backlog.deps */
        bl_metric_series_t *dlq[BL_REASON__COUNT];
        bl_metric_series_t *invalid[BL_REASON__COUNT];
        bl_metric_series_t *lag[BL_OBSERVE_DOMAINS];
        bl_metric_series_t *throttled[BL_OBSERVE_DOMAINS];
        bl_metric_series_t *input_paused, *decision_seconds, *commit_seconds, *committed, *aborted;
        bl_metric_series_t *batch_age_seconds, *batch_records;
        bl_metric_series_t *memory_bytes; /* set by input backpressure (run.c), on every loop turn */
        bl_metric_series_t *restore_seconds, *restore_items;
        bl_metric_series_t *frozen_tasks, *spill_file_bytes, *freeze_failures; /* after each batch's freeze */
        uint64_t freeze_failures_counted;
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
        struct bl_pilot_s *pilot;    /* the live fold behind the pilot's metrics; NULL: out of memory (observe.c) */
        struct bl_observe_pilot_s *pilot_series; /* their series, by domain and decided_by (observe.c) */
        bl_agent_view_t agents[BL_OBSERVE_DOMAINS]; /* by domain index, for the status page */
} bl_observe_t;

/** The capacity gauges of one domain (estimate.c). */
typedef struct bl_estimate_series_s {
        bl_metric_series_t *known, *throughput, *pickup, *runtime, *drain;
} bl_estimate_series_t;
/** What the status page shows, gathered on the pipeline thread (status_feed.c). */
typedef struct bl_status_feed_s {
        bl_status_board_t *board;       /* the page's, served by observe.http; NULL: no HTTP endpoint */
        bl_status_snapshot_t *snapshot; /* filled at each publish (about 55 KB: not on the stack) */
        int64_t started_at_ms;          /* wall clock */
        int64_t last_ms, interval_ms;   /* monotonic: the last publish, and the wait before the next */
        uint64_t dispatched[BL_OBSERVE_DOMAINS];         /* dispatches per configured domain (outputs.c) */
        uint64_t dispatched_at_last[BL_OBSERVE_DOMAINS]; /* as of the last publish: the rate */
} bl_status_feed_t;

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
        bl_spill_glue_t *spill; /* the tasks at rest; NULL with backlog.spill_enabled false */
        struct bl_policy_s *policy; /* NULL: FIFO (steer.c) */
        int64_t policy_checked_ms;
        bool lag_watched[BL_OBSERVE_DOMAINS];
        bl_credit_t *credit;      /* own dispatches against the workers' progress */
        struct bl_resilience_s *resilience; /* the domains' breakers and outcome series (resilience.c) */
        bl_lag_t *lag;            /* NULL while no domain names a worker group */
        bl_observe_t observe;
        bl_capacity_t *capacity;  /* each domain's capacity estimate (estimate.c) */
        bl_estimate_series_t capacity_series[BL_OBSERVE_DOMAINS];
        int64_t capacity_in_flight[BL_OBSERVE_DOMAINS]; /* DISPATCHED or RUNNING, as the last census counted */
        struct bl_consult_s *consult; /* the domains' agents (consult.c) */
        bl_status_feed_t status;

        char *topic_events, *topic_results, *topic_control, *topic_deps, *topic_state, *topic_transitions, *topic_dlq;
        char **topic_dispatch;    /* dispatch.<domain> of each configured domain, in config order */
        int32_t task_event_id; /* the id of the newest TaskEvent, for dead-lettered submissions */
        bl_schema_t *submission_schema; /* a private copy of it to encode them with */

        int32_t total_input_partitions; /* of tasks.events, for this instance's share */
        bl_input_partition_t *partitions;
        size_t partition_count, partition_capacity;

        bl_batch_t *batch;        /* the exactly-once batches: one transaction each (batch.h) */
        struct bl_snapshots_s *snapshots; /* the tasks changed in the open batch (outputs.c) */
        bl_isolate_t *isolate;    /* units per batch, and the culprit of a batch that fails for good */
        bl_gate_t *gate;          /* the output topics the broker refuses now (gate.h) */
        char culprit_detail[BL_RECORD_DETAIL_MAX]; /* why the culprit is given up */
        bool giving_up;           /* the open batch gives the culprit up */
        bool held_back;           /* a batch failed for a broker or output fault: input paused until ... */
        int64_t held_back_until_ms;
        int64_t held_back_backoff_ms; /* doubles from ingest.retry_backoff_ms to its max; 0 after a commit */
        int64_t producer_restarted_ms; /* the last time the producer was made anew after being fenced */
        uint64_t transactions_at_renewal; /* stats.transactions then: a commit since tells a rival from a stall */
        int64_t last_stats_ms;
        bool fatal;
        bool renew_producer;      /* the producer was fenced: the loop makes a new one (run.c) */
        bool ready;               /* every assigned partition restored */
        bool input_paused;        /* tasks.events paused: too many READY tasks, or too many bytes held */
        bl_pipeline_stats_t stats;
        char instance[256];
} bl_pipeline_t;

typedef struct bl_snapshots_s bl_snapshots_t;
typedef struct bl_consult_s bl_consult_t;

/* recovery.c */
/** The hooks through which the batch reports its commits, aborts and lost producers to this pipeline. */
void bl_recovery_hooks(bl_pipeline_t *p, bl_batch_hooks_t *hooks);
/** The producer is lost: both batches are gone, the world goes back to the last commit with a new one. */
void bl_recovery_producer_lost(bl_pipeline_t *p);
/** Whether @p message is the record the failed batches were found to fail on. */
bool bl_recovery_is_culprit_record(const bl_pipeline_t *p, const rd_kafka_message_t *message, const char *topic);
/** The culprit record, to the DLQ as processing.failed (or bare as record.too_large); its offset is done. */
void bl_recovery_give_up_record(bl_pipeline_t *p, bl_input_partition_t *entry, const rd_kafka_message_t *message);
/** The culprit task: DEAD with processing.failed (or removed); right after the restore, before any other unit. */
void bl_recovery_give_up_task(bl_pipeline_t *p, const bl_unit_t *culprit, int failures, int64_t now);

/* outputs.c */
/** The set of tasks changed in the open batch, whose snapshots it writes at its end. False: out of memory. */
bool bl_outputs_open(bl_pipeline_t *p);
void bl_outputs_close(bl_pipeline_t *p);
/** The batch's closing hook: one snapshot of each task changed in it, into it, as the task is now. */
void bl_outputs_write_snapshots(void *opaque);
/** The batch is gone (aborted, or its producer lost): the tasks it changed are restored, not snapshotted. */
void bl_outputs_forget_snapshots(bl_pipeline_t *p);
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
/** Every transition written, for the metrics of an agent's pilot against its control group (SPEC §13). */
void bl_observe_transition(bl_pipeline_t *p, const bl_transition_t *transition, const bl_item_t *item);
/** @p partition was revoked: the pilot's metrics stop following its tasks. */
void bl_observe_partition_revoked(bl_pipeline_t *p, int32_t partition);
/** A transaction committed (recovery.c): the commit age restarts, the aborts in a row are over. */
void bl_observe_committed(bl_pipeline_t *p);
/** A batch aborted (recovery.c): one more in a row; its work waits until a commit. */
void bl_observe_aborted(bl_pipeline_t *p);
/** Heartbeat every turn; the cheap gauges and the health every 100 ms; the summary gauges once a second. */
void bl_observe_tick(bl_pipeline_t *p);

/* resilience.c */
bool bl_resilience_open(bl_pipeline_t *p);
void bl_resilience_close(bl_pipeline_t *p);
/** The running policy's breaker settings to each domain's breaker (a policy adopted). */
void bl_resilience_configure(bl_pipeline_t *p);
/**
 * How many of @p want READY tasks of @p domain its breaker lets out now; *@p probes: they go as probes
 * (dispatch.c marks them provenance.probe).
 */
size_t bl_resilience_allowance(bl_pipeline_t *p, const char *domain, size_t want, int64_t now_ms, bool *probes);
/** A transition the backlog recorded (outputs.c): results for the breakers, outcomes for the series. */
void bl_resilience_changed(bl_pipeline_t *p, const bl_transition_t *transition, const bl_item_t *item);
/** A dispatch decision (outputs.c): the wait for the series, a probe for its breaker. */
void bl_resilience_dispatched(bl_pipeline_t *p, const bl_dispatch_t *dispatch);
/**
 * The breaker of @p domain as this instance sees it, for the status page: its state (CLOSED while the
 * policy has none), since when, and how often it opened. False when the domain has no breaker enabled
 * (or is not configured); the outputs are then still set when the domain is configured.
 */
bool bl_pipeline_domain_breaker(const bl_pipeline_t *p, const char *domain, bl_breaker_state_t *state,
                                int64_t *since_ms, uint64_t *opened_count);
/**
 * The same in words for the status page's breaker column, into @p out: "" (no breaker), "closed
 * (opened 2 times)", "open for 12 s", "half-open: probing for 3 s".
 */
void bl_resilience_breaker_text(const bl_pipeline_t *p, const char *domain, int64_t now_ms, char *out,
                                size_t out_size);

/* estimate.c */
/** The capacity estimate and its gauges (after bl_observe_open); false: out of memory. */
bool bl_estimate_open(bl_pipeline_t *p);
void bl_estimate_close(bl_pipeline_t *p);
/** What a transition teaches the estimate: a result, a pickup delay, a runtime (outputs.c's sink). */
void bl_estimate_transition(bl_pipeline_t *p, const bl_transition_t *transition, const bl_item_t *item);
/** The configured domain @p domain_index has @p in_flight tasks DISPATCHED or RUNNING (the census counted). */
void bl_estimate_in_flight(bl_pipeline_t *p, size_t domain_index, int64_t in_flight);
/** Each domain's load now (READY from the backlog), its estimate taken for deadline_risk, and the gauges. */
void bl_estimate_tick(bl_pipeline_t *p);
/**
 * An agent's consultation context gets @p domain's estimate: throughput_per_s and drain_ms, left as
 * they are (negative: unknown, not sent) while the estimate is not known.
 */
void bl_estimate_agent_context(const bl_pipeline_t *p, const char *domain, int64_t now_ms,
                               bl_agent_context_t *context);
/** A consultation ended: counted by @p outcome (an agent result's name, or "not_sent"), its latency observed. */
void bl_observe_consultation(bl_pipeline_t *p, const char *domain, const char *outcome, int64_t latency_ms);
/** The agent's breaker of @p domain is now in @p state (0 closed, 1 open, 2 half-open on the gauge). */
void bl_observe_agent_breaker(bl_pipeline_t *p, const char *domain, int state);
struct bl_guardrail_result_s;
/** The refusals of one answer, counted by part and reason. */
void bl_observe_refusals(bl_pipeline_t *p, const char *domain, const struct bl_guardrail_result_s *result);

/* consult.c */
bool bl_consult_open(bl_pipeline_t *p);
/** Cancels what is in flight and stops the agents' client: returns within milliseconds. */
void bl_consult_close(bl_pipeline_t *p);
/** Every turn of the loop: the consultations that ended, taken in (never waits). */
void bl_consult_poll(bl_pipeline_t *p);
/**
 * The dispatch round of configured domain @p d: @p take dispatches (its credit within the quota), @p want
 * of them before the quota, the round's @p quota and the domain's @p credit. Without an agent, the
 * policy's order; with one, the answer in first, the policy for the rest, and the next consultation.
 * Returns the dispatches made.
 */
size_t bl_consult_round(bl_pipeline_t *p, size_t d, size_t take, size_t want, size_t quota, size_t credit,
                        int64_t now);
/* status_feed.c */
/** With the HTTP endpoint: the status page's board, served at /; false: out of memory. */
bool bl_status_feed_open(bl_pipeline_t *p);
/** After the HTTP server stopped: frees the board. */
void bl_status_feed_close(bl_pipeline_t *p);
/** About once a second: a snapshot of the backlog and the domains, published to the board. */
void bl_status_feed_tick(bl_pipeline_t *p);
/** A dispatch of configured domain @p domain (its index; -1: unlisted), for the dispatch rate. */
void bl_status_feed_dispatched(bl_pipeline_t *p, int domain);

/* dispatch.c */
/** Timers and dispatch, each turn of the loop: a culprit task is given up first; nothing while held back. */
void bl_dispatch_advance(bl_pipeline_t *p);

/* inputs.c */
bl_input_partition_t *bl_inputs_find(bl_pipeline_t *p, const char *topic, int32_t partition);
/** A partition assigned, its committed offset (RD_KAFKA_OFFSET_INVALID: none); NULL when out of memory. */
bl_input_partition_t *bl_inputs_add(bl_pipeline_t *p, const char *topic, int32_t partition, int64_t committed);
void bl_inputs_remove(bl_pipeline_t *p, const char *topic, int32_t partition);
/** Seeks every input partition back to its committed offset (after an abort). */
void bl_inputs_rewind(bl_pipeline_t *p);
/** Pauses @p entry and seeks it back to @p offset, to retry after its back-off (or a short wait for a schema). */
void bl_inputs_pause_and_rewind(bl_pipeline_t *p, bl_input_partition_t *entry, int64_t offset, bool schema_pending,
                                const char *why);
/** Resumes the partitions whose retry time has come (not while everything is held back). */
void bl_inputs_resume_due(bl_pipeline_t *p);
/** Pauses (or resumes) every assigned input partition that no other reason keeps paused. */
void bl_inputs_pause_all(bl_pipeline_t *p, bool paused);
/** A batch failed for no record's fault: input, timers and dispatch wait a back-off that doubles. */
void bl_inputs_hold_back(bl_pipeline_t *p, const char *why);
/** The hold back is over once its back-off has passed: everything goes on. */
void bl_inputs_release_held_back(bl_pipeline_t *p);

#endif
