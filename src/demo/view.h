/*
 * view.h: what `backlogd demo` shows: a live view of the pipeline, read
 * from its metrics registry while it runs, and the summary at the end.
 */
#ifndef BL_DEMO_VIEW_H
#define BL_DEMO_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/reason.h"
#include "demo/agent.h"
#include "demo/scenario.h"
#include "demo/traffic.h"
#include "demo/workers.h"
#include "ops/config.h"
#include "ops/metrics.h"

typedef struct bl_view_s bl_view_t;

/** What the demo itself knows at a given moment, besides the pipeline's metrics. */
typedef struct bl_view_frame_s {
        double elapsed_s;
        double duration_s;
        uint64_t seed;
        double rate;
        int partitions;
        int slow_max_lag; /* the slow domain's max_lag in the policy */
        const char *bootstraps;
        bl_traffic_stats_t traffic;
        bl_workers_stats_t workers[BL_SCENARIO_DOMAINS];
        bl_demo_agent_stats_t agent; /* what the demo's agent served */
} bl_view_frame_t;

/** How the run ended, for the summary. */
typedef struct bl_view_outcome_s {
        int pipeline_status;            /* bl_pipeline_run_with's */
        bool interrupted;               /* SIGINT or SIGTERM before the duration was up */
        bool dlq_read_back;             /* dlq[] holds backlog.dlq read back by reason */
        uint64_t dlq[BL_REASON__COUNT]; /* with dlq_read_back */
} bl_view_outcome_t;

/**
 * A view of backlogd's series (@p metrics: the handles of the catalogue in
 * the registry the pipeline fills) for @p config's topics and the
 * scenario's domains, drawn on @p out: redrawn in place with ANSI escapes
 * when @p terminal, else one plain line a period. NULL when out of memory.
 */
bl_view_t *bl_view_new(const bl_metrics_backlogd_t *metrics, const bl_config_t *config, FILE *out, bool terminal);
void bl_view_destroy(bl_view_t *view);

/** Reads lag and throttling now: the maxima and the throttled time between two samples. Call often. */
void bl_view_sample(bl_view_t *view, int64_t now_ms);

/** Records of tasks.events and tasks.control (together), and of tasks.results, the pipeline has consumed so far. */
void bl_view_consumed(const bl_view_t *view, uint64_t *events, uint64_t *results);

/** Draws the live view (or prints the plain line) for @p frame. */
void bl_view_draw(bl_view_t *view, const bl_view_frame_t *frame);

/** Writes the summary to @p out: text, or one JSON object with @p as_json. */
void bl_view_summary(bl_view_t *view, const bl_view_frame_t *frame, const bl_view_outcome_t *outcome, FILE *out,
                     bool as_json);

#endif
