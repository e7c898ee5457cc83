/*
 * resilience.h: what a domain's policy says about failures (SPEC §14), as
 * plain data: the longest a task may run (max_runtime_ms, per domain and per
 * task_type), the domain's circuit breaker on worker failures, and the
 * remediation rules that turn a task out of retries into a remediation task
 * instead of a dead letter. The JSON keys are read by src/policy/load.c
 * (docs/policy.md); the backlog (runtime, remediation) and the pipeline
 * (breaker) act on them.
 *
 * Pure C. A bl_resilience_policy_t belongs to one domain's settings
 * (bl_domain_policy_t.resilience) and is read-only once its policy is
 * finished; every string and array in it is owned (malloc'd).
 */
#ifndef BL_RESILIENCE_H
#define BL_RESILIENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/item.h"

/** A runtime bound for one task_type of a domain. */
typedef struct bl_runtime_bound_s {
        char *task_type;
        int64_t max_runtime_ms; /* >= 1 */
} bl_runtime_bound_t;

/** A domain's circuit breaker on worker failures (core/domain_breaker.h acts on it). */
typedef struct bl_breaker_policy_s {
        bool enabled;          /* false: the domain dispatches whatever its workers answer */
        double failure_share;  /* (0, 1]: FAILED / (FAILED + COMPLETED) over the window at or above it opens */
        int64_t window_ms;     /* the results of the last this long count */
        int32_t min_results;   /* no opening on fewer results than this in the window */
        int64_t cooldown_ms;   /* open this long, then probes go out (half-open) */
        int32_t probes;        /* tasks dispatched half-open; all succeeding closes it */
} bl_breaker_policy_t;

/** The breaker's defaults when a "breaker" object leaves a key out (docs/policy.md lists them). */
void bl_breaker_policy_defaults(bl_breaker_policy_t *breaker);

#define BL_BREAKER_PROBES_MAX 16

/**
 * A remediation rule: a task of the domain that ends out of retries
 * (reason retries.exhausted), of @p task_type and with the last error
 * @p error_code when they are set, becomes BLOCKED on a new remediation task
 * of remediation_task_type in remediation_domain instead of DEAD; when that
 * one completes it runs again with a new series of attempts, at most
 * max_rounds times.
 */
typedef struct bl_remediation_rule_s {
        char *task_type;             /* NULL: any */
        char *error_code;            /* NULL: any */
        char *remediation_domain;    /* default "remediation" */
        char *remediation_task_type; /* default "remediate" */
        int32_t max_rounds;          /* >= 1 */
} bl_remediation_rule_t;

#define BL_REMEDIATION_DEFAULT_DOMAIN "remediation"
#define BL_REMEDIATION_DEFAULT_TASK_TYPE "remediate"

typedef struct bl_resilience_policy_s {
        int64_t max_runtime_ms; /* RUNNING longer than this fails (runtime_exceeded); 0: no bound */
        bl_runtime_bound_t *runtime_by_task_type; /* overrides max_runtime_ms for their task_type */
        size_t runtime_by_task_type_count;
        bl_breaker_policy_t breaker;
        bl_remediation_rule_t *rules; /* the first that matches takes the task */
        size_t rule_count;
} bl_resilience_policy_t;

/** A new policy with nothing bounded, the breaker off (its other keys at their defaults), no rule. NULL: OOM. */
bl_resilience_policy_t *bl_resilience_policy_new(void);

/** A deep copy of @p from (NULL gives NULL); NULL also when out of memory (*@p oom then says so). */
bl_resilience_policy_t *bl_resilience_policy_copy(const bl_resilience_policy_t *from, bool *oom);

/** Frees @p resilience and everything it owns. NULL is a no-op. */
void bl_resilience_policy_destroy(bl_resilience_policy_t *resilience);

/** The runtime bound of @p task_type (NULL allowed) under @p resilience (NULL allowed); 0: none. */
int64_t bl_resilience_max_runtime_ms(const bl_resilience_policy_t *resilience, const char *task_type);

/** The first rule that takes @p item (its task_type and last error), or NULL. */
const bl_remediation_rule_t *bl_resilience_rule_for(const bl_resilience_policy_t *resilience, const bl_item_t *item);

#endif
