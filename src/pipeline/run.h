/*
 * run.h: the run loop of `backlogd run`: consume the input topics as one
 * consumer group, validate, apply to the backlog, dispatch, and commit each
 * batch's outputs with its input offsets in one transaction.
 */
#ifndef BL_RUN_H
#define BL_RUN_H

#include <signal.h>

#include "ops/config.h"

/**
 * Runs until *stop becomes non-zero (a signal handler sets it), then
 * finishes the batch, commits, leaves the group and returns 0. Returns 1 with
 * the reason logged when start-up fails (topics missing or not as SPEC §1
 * requires, schemas unusable, registry refusing our output schemas) or a
 * fatal Kafka error (fenced by a newer instance) ends the run. When *reload
 * becomes non-zero (SIGHUP) the policy file is read again and the flag reset.
 */
int bl_pipeline_run(const bl_config_t *config, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
