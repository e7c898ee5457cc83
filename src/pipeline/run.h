/*
 * run.h: the run loop of `backlogd run`: consume the input topics as one
 * consumer group, validate, apply to the backlog, dispatch, and commit each
 * batch's outputs with its input offsets in one transaction.
 */
#ifndef BL_RUN_H
#define BL_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops/config.h"
#include "ops/metrics.h"

/**
 * Runs until *stop becomes non-zero (a signal handler sets it), then
 * finishes the batch, commits, leaves the group and returns 0. Returns 1 with
 * the reason logged when start-up fails (topics missing or not as SPEC §1
 * requires, schemas unusable, registry refusing our output schemas) or a
 * fatal Kafka error (fenced by a newer instance) ends the run. When *reload
 * becomes non-zero (SIGHUP) the policy file is read again and the flag reset.
 */
int bl_pipeline_run(const bl_config_t *config, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/** What a run did, for a caller that embeds it (bench/e2e): filled in when the run returns. */
typedef struct bl_pipeline_report_s {
        uint64_t transactions; /* committed */
        uint64_t aborts;
        double commit_seconds;      /* the commits' own time: offsets sent, records flushed, commit acknowledged */
        double commit_wait_seconds; /* the part of it the pipeline thread spent waiting instead of working */
        uint64_t held_peak_bytes;   /* the most held at once for the next transaction (keys and values) */
        uint64_t producer_renewals; /* transactional producers made anew after a fatal state (fenced, ...) */
        uint64_t given_up;          /* culprits of failed batches given up (processing.failed) */
        double batch_age_max_seconds; /* the longest from a batch's first record to its commit's end */
} bl_pipeline_report_t;

/**
 * What a caller that embeds the pipeline changes in it: `backlogd demo`,
 * which runs it on librdkafka's mock cluster (cmd/demo.c), and bench/e2e,
 * which wants its report. `backlogd run` passes none. Everything else about the run stays as it is.
 */
typedef struct bl_pipeline_options_s {
        /* Skip the start-up check of the topics against SPEC §1: the mock cluster
         * has no DescribeConfigs. Only for a cluster whose topics the caller
         * made itself from the plan (kafka/topics.h); never for a real one. */
        bool skip_topic_check;
        /* The registry to fill instead of one of the pipeline's own, with the
         * catalogue already registered into it and its handles in @c metrics
         * (bl_metrics_register_backlogd), so that the caller reads the series
         * while the pipeline runs. Borrowed: it must outlive the run. NULL:
         * the pipeline makes (and frees) its own. */
        bl_metrics_t *registry;
        const bl_metrics_backlogd_t *metrics;
        bl_pipeline_report_t *report; /* NULL: none wanted */

        /* Called on the pipeline thread each time a transactional producer is ready (at start-up and after
         * each renewal), for fault injection in tests (rd_kafka_test_fatal_error). The producer is borrowed
         * until the next call. NULL: none. */
        void (*producer_ready)(rd_kafka_t *producer, void *opaque);
        void *producer_ready_opaque;
} bl_pipeline_options_t;

/** bl_pipeline_run() with @p options (NULL: none). */
int bl_pipeline_run_with(const bl_config_t *config, const bl_pipeline_options_t *options, volatile sig_atomic_t *stop,
                         volatile sig_atomic_t *reload);

#endif
