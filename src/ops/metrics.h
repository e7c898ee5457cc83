/*
 * metrics.h: a small registry of counters, gauges and histograms rendered in
 * the Prometheus text exposition format, version 0.0.4, and the catalogue of
 * backlogd's own metrics (SPEC §8).
 *
 * A metric (bl_metric_t) has a name, a help line, a type and label names; it
 * holds one series (bl_metric_series_t) per tuple of label values. Callers
 * look a series up once and keep the handle: updating through it takes no
 * lock and allocates nothing, so the pipeline thread pays a few atomic
 * instructions per update.
 *
 *   bl_metric_series_t *dlq = bl_metrics_series(m.dlq_records, "contract.violation");
 *   ...
 *   bl_metric_inc(dlq, 1);
 *
 * Thread model: any thread may update any series at any time, and any
 * thread may render while others update (the HTTP thread does). Registering
 * a metric, creating a series and rendering take the registry's one mutex;
 * updates never do. A rendering shows each value as some update left it: a
 * histogram's buckets and _count always agree (the count is the sum of the
 * buckets read), its _sum may lag or lead them by the observations that race
 * with the rendering.
 */
#ifndef BL_METRICS_H
#define BL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

typedef struct bl_metrics_s bl_metrics_t;
typedef struct bl_metric_s bl_metric_t;
typedef struct bl_metric_series_s bl_metric_series_t;

typedef enum {
        BL_METRIC_COUNTER = 0,   /* only goes up (until the process restarts) */
        BL_METRIC_GAUGE = 1,     /* goes up and down */
        BL_METRIC_HISTOGRAM = 2, /* observations counted in fixed buckets, with their sum */
} bl_metric_type_t;

/** Most series one metric holds; past it bl_metrics_series() returns NULL (and logs once). */
#define BL_METRICS_SERIES_MAX 10000
/** Longest label value accepted, in bytes. */
#define BL_METRICS_LABEL_VALUE_MAX 1024
/** Most buckets of a histogram, besides the implicit +Inf. */
#define BL_METRICS_BUCKETS_MAX 64

/** What a metric is. The registry copies every string and the buckets. */
typedef struct bl_metric_desc_s {
        const char *name;      /* [a-zA-Z_:][a-zA-Z0-9_:]*, unique in the registry */
        bl_metric_type_t type;
        const char *help;      /* one line; a newline or backslash is escaped when rendered */
        const char *labels;    /* label names, comma-separated ("state,domain"); NULL or "" for none */
        const double *buckets; /* histograms: upper bounds, finite and strictly increasing; +Inf is implicit */
        size_t bucket_count;
} bl_metric_desc_t;

/** An empty registry; NULL only when out of memory. */
bl_metrics_t *bl_metrics_new(void);

/** Frees the registry, its metrics and their series: every handle into it becomes invalid. NULL: no-op. */
void bl_metrics_destroy(bl_metrics_t *registry);

/**
 * Adds a metric. A metric without labels gets its one series at once, so it
 * renders as 0 before its first update. Returns the metric, owned by the
 * registry, or NULL with errstr naming the metric and the fault (bad name,
 * label name or buckets; a name already taken; out of memory).
 */
bl_metric_t *bl_metrics_add(bl_metrics_t *registry, const bl_metric_desc_t *desc, char *errstr,
                            size_t errstr_size);

/**
 * The series of @p metric for one tuple of label values, created at the first
 * call and returned again after: call it once and keep the handle. Pass
 * exactly as many values as the metric has label names, in their order (none
 * for a metric without labels): bl_metrics_series(m, "READY", "evaluation").
 * The values are copied. Returns NULL, logged, when the count is wrong, a
 * value is NULL or longer than BL_METRICS_LABEL_VALUE_MAX, the metric already
 * holds BL_METRICS_SERIES_MAX series, or memory runs out; the update
 * functions accept NULL and do nothing, so a metric problem never stops the
 * pipeline. Takes the registry's mutex: not for the per-record path.
 */
#define bl_metrics_series(...) bl_metrics_series_list(__VA_ARGS__, (const char *)NULL)

/** bl_metrics_series() without the macro: the label values, then NULL. */
bl_metric_series_t *bl_metrics_series_list(bl_metric_t *metric, ...);

/** bl_metrics_series() with the values in an array of @p count. */
bl_metric_series_t *bl_metrics_series_array(bl_metric_t *metric, const char *const *values, size_t count);

/**
 * Adds @p n to a counter (n < 0 or NaN is ignored: counters never go down)
 * or to a gauge (any sign). Ignored for histograms and NULL.
 */
void bl_metric_inc(bl_metric_series_t *series, double n);

/**
 * Sets a gauge to @p v. Also sets a counter, for one that mirrors a count
 * kept elsewhere (it must never decrease). Ignored for histograms and NULL.
 */
void bl_metric_set(bl_metric_series_t *series, double v);

/** Counts @p v into a histogram's bucket and sum. NaN, other types and NULL are ignored. */
void bl_metric_observe(bl_metric_series_t *series, double v);

/** A counter's or gauge's value; a histogram's number of observations; 0 for NULL. */
double bl_metric_value(const bl_metric_series_t *series);

/** A histogram's sum of observations; 0 for other types and NULL. */
double bl_metric_sum(const bl_metric_series_t *series);

/**
 * The registry in the text exposition format 0.0.4: metrics in the order they
 * were added, series in the order they were created. Returns a NUL-terminated
 * string the caller frees, its length in *length (may be NULL), or NULL when
 * out of memory.
 */
char *bl_metrics_render_string(bl_metrics_t *registry, size_t *length);

/** bl_metrics_render_string() written to @p out. BL_ERR_NOMEM or BL_ERR_IO on failure. */
bl_err_t bl_metrics_render(bl_metrics_t *registry, FILE *out);

/** The text exposition format's Content-Type. */
#define BL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- backlogd's catalogue ------------------------------------------------ */

/**
 * backlogd's metrics (SPEC §8), one pointer each, filled by
 * bl_metrics_register_backlogd(). The comment gives the type and labels.
 */
typedef struct bl_metrics_backlogd_s {
        bl_metric_t *backlog_items;              /* gauge {state,domain}: tasks held */
        bl_metric_t *backlog_oldest_age_seconds; /* gauge {state}: age of the oldest task in the state */
        bl_metric_t *backlog_memory_bytes;       /* gauge: heap bytes the tasks held take (the memory budget's count) */
        bl_metric_t *ingest_events;              /* counter {topic}: input records consumed */
        bl_metric_t *ingest_invalid;             /* counter {reason}: input records refused */
        bl_metric_t *dispatch_decisions;         /* counter {domain,policy}: decisions produced */
        bl_metric_t *scheduler_decision_seconds; /* histogram: time to make one dispatch decision */
        bl_metric_t *backpressure_lag;           /* gauge {domain}: outstanding dispatched records */
        bl_metric_t *backpressure_throttled;     /* gauge {domain}: 1 while the domain is throttled */
        bl_metric_t *backpressure_input_paused;  /* gauge: 1 while input is paused (max_ready_items, max_memory_bytes) */
        bl_metric_t *dlq_records;                /* counter {reason}: records dead-lettered */
        bl_metric_t *txn_committed;              /* counter: transactions committed */
        bl_metric_t *txn_aborted;                /* counter: transactions aborted */
        bl_metric_t *txn_commit_seconds;         /* histogram: time to commit one transaction */
        bl_metric_t *txn_batch_age_seconds;      /* histogram: a batch's first record to its commit's end */
        bl_metric_t *txn_batch_records;          /* histogram: input offsets one transaction committed */
        bl_metric_t *restore_seconds;            /* gauge: duration of the last restore */
        bl_metric_t *restore_items;              /* counter: tasks read back from backlog.state */
        bl_metric_t *pipeline_last_commit_age_seconds; /* gauge: time since the last commit (or the start) */
        bl_metric_t *pipeline_stalled_seconds;   /* gauge: time work has waited without a commit; 0 while idle */
        bl_metric_t *pipeline_aborts_in_row;     /* gauge: batches aborted since the last commit */
        bl_metric_t *pipeline_given_up;          /* counter {kind}: culprits of failed batches given up */
        bl_metric_t *pipeline_held_back;         /* counter: batches that failed for no record's fault, waited out */
        bl_metric_t *txn_producer_renewals;      /* counter: transactional producers made anew after a fencing */
        bl_metric_t *output_blocked;             /* gauge {topic}: 1 while the broker refuses writes to it */
        bl_metric_t *output_refusals;            /* counter {topic}: writes to it the broker refused */
        bl_metric_t *domain_breaker_state;       /* gauge {domain}: 0 closed, 1 open, 2 half-open (SPEC §14) */
        bl_metric_t *domain_breaker_opened;      /* counter {domain}: times the domain's breaker opened */
        bl_metric_t *remediations;               /* counter {domain}: tasks a remediation rule took out of retries */
        bl_metric_t *task_outcomes;              /* counter {domain,policy,outcome}: completed, failed, dead */
        bl_metric_t *task_wait_seconds;          /* histogram {domain}: READY -> DISPATCHED */
        bl_metric_t *task_end_to_end_seconds;    /* histogram {domain}: SUBMITTED -> COMPLETED */
        bl_metric_t *capacity_known;             /* gauge {domain}: 1 once its capacity estimate has enough samples */
        bl_metric_t *capacity_throughput;        /* gauge {domain}: its workers' results per second, recently */
        bl_metric_t *capacity_pickup_seconds;    /* gauge {domain}: mean DISPATCHED -> STARTED */
        bl_metric_t *capacity_runtime_seconds;   /* gauge {domain}: mean STARTED -> COMPLETED */
        bl_metric_t *capacity_drain_seconds;     /* gauge {domain}: time to run what is in flight and READY */
        bl_metric_t *agent_consultations;        /* counter {domain,outcome}: consultations of the domain's agent */
        bl_metric_t *agent_consultation_seconds; /* histogram {domain}: time a consultation took, to its end */
        bl_metric_t *agent_breaker_state;        /* gauge {domain}: the agent's breaker, 0 closed, 1 open, 2 half-open */
        bl_metric_t *agent_refusals;             /* counter {domain,part,reason}: parts of answers refused */
        /* An agent's pilot against its control group (SPEC §13), decided_by: name@version, policy or control */
        bl_metric_t *pilot_wait_seconds;         /* histogram {domain,decided_by}: READY -> DISPATCHED */
        bl_metric_t *pilot_deadline_misses;      /* counter {domain,decided_by}: EXPIRED or completed late */
        bl_metric_t *pilot_first_attempts;       /* counter {domain,decided_by,outcome}: attempt 1 ended */
        /* The tasks at rest out of the heap (issue 18 item 6): stubs in the backlog, their bytes in the spill file */
        bl_metric_t *backlog_frozen_tasks;       /* gauge: tasks held as stubs */
        bl_metric_t *spill_file_bytes;           /* gauge: the spill file's size, dead bytes included */
        bl_metric_t *spill_freeze_failures;      /* counter: tasks kept whole because the file refused them */
} bl_metrics_backlogd_t;

/**
 * Adds every metric of the catalogue (one table in metrics.c) to @p registry
 * and fills @p metrics. BL_ERR_INVALID_ARG (a name already taken) or
 * BL_ERR_NOMEM with errstr filled on failure.
 */
bl_err_t bl_metrics_register_backlogd(bl_metrics_t *registry, bl_metrics_backlogd_t *metrics, char *errstr,
                                      size_t errstr_size);

/** One row of the catalogue: for docs and tests. */
typedef struct bl_metrics_catalogue_entry_s {
        bl_metric_desc_t desc;
        size_t offset; /* of its pointer in bl_metrics_backlogd_t */
} bl_metrics_catalogue_entry_t;

extern const bl_metrics_catalogue_entry_t bl_metrics_catalogue[];
extern const size_t bl_metrics_catalogue_count;

#endif
