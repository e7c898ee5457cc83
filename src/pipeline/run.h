/*
 * run.h: the run loop of `backlogd run`: consume the input topics as one
 * consumer group, push each record through ingest, commit what is done.
 */
#ifndef BL_RUN_H
#define BL_RUN_H

#include <signal.h>

#include "ops/config.h"
#include "pipeline/ingest.h"

/**
 * Runs until *stop becomes non-zero (a signal handler sets it), then
 * finishes the batch, commits, leaves the group and returns 0. Returns 1 with
 * the reason logged when start-up fails (topics missing or not as SPEC §1
 * requires, schemas unusable, registry refusing our output schemas) or a
 * fatal Kafka error ends the run. Valid events go to @p sink.
 */
int bl_pipeline_run(const bl_config_t *config, const bl_ingest_sink_t *sink, volatile sig_atomic_t *stop);

#endif
