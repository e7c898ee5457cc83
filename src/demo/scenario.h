/*
 * scenario.h: what the demo simulates, in one place: the four domains, how
 * much of the traffic each gets, how its workers behave, and the policy the
 * pipeline follows (config/policy.json's, without the comments).
 */
#ifndef BL_DEMO_SCENARIO_H
#define BL_DEMO_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One domain: its share of the submissions and its simulated workers. */
typedef struct bl_scenario_domain_s {
        const char *name;         /* a domain of the default config */
        const char *worker_group; /* as the policy names it */
        double share;             /* of the SUBMITTED tasks */
        int slots;                /* tasks its workers run at least at once (bl_scenario_slots) */
        int work_ms_min, work_ms_max;
        int commit_interval_ms; /* how often the workers commit their consumer offsets */
        bool slow;              /* the one domain whose workers cannot keep up */
} bl_scenario_domain_t;

#define BL_SCENARIO_DOMAINS 4
extern const bl_scenario_domain_t bl_scenario_domains[BL_SCENARIO_DOMAINS];

/** Of every attempt a worker runs: the chance it fails and may be retried, and the chance it fails for good. */
#define BL_SCENARIO_FAIL_RETRYABLE 0.08
#define BL_SCENARIO_FAIL_PERMANENT 0.02

/**
 * The outage (SPEC §14): between these times after its workers start, the workers of
 * BL_SCENARIO_OUTAGE_DOMAIN fail this share of their attempts (retryable), so that its circuit breaker
 * opens, holds the domain's tasks READY through the outage, and closes on its probes once it is over.
 */
#define BL_SCENARIO_OUTAGE_DOMAIN "evaluation"
#define BL_SCENARIO_OUTAGE_FROM_MS 2000
#define BL_SCENARIO_OUTAGE_UNTIL_MS 7000
#define BL_SCENARIO_OUTAGE_FAIL 0.9

/** The slow domain's workers manage this fraction of what it is sent. */
#define BL_SCENARIO_SLOW_CAPACITY 0.25

/** model_inference's max_lag in config/policy.json. */
#define BL_SCENARIO_SLOW_MAX_LAG 200

/** The domain the demo's decision agent governs a pilot share of (SPEC §13), and its settings. */
#define BL_SCENARIO_AGENT_DOMAIN "model_inference"
#define BL_SCENARIO_PILOT_SHARE 0.5
#define BL_SCENARIO_AGENT_TIMEOUT_MS 100
#define BL_SCENARIO_AGENT_BREAKER_FAILURES 3
#define BL_SCENARIO_AGENT_BREAKER_COOLDOWN_MS 2000

/**
 * The policy the pipeline follows at @p rate submissions a second, as JSON
 * (malloc'd; the caller frees it; NULL when out of memory), with the demo's
 * agent at @p agent_port on 127.0.0.1 for BL_SCENARIO_AGENT_DOMAIN (0: no
 * agent), and the slow domain's max_lag in it through @p slow_max_lag (may
 * be NULL).
 */
char *bl_scenario_policy(double rate, int agent_port, int *slow_max_lag);

/** The name@version labels of the policy's decisions. */
#define BL_SCENARIO_POLICY_LABEL "platform@3"
#define BL_SCENARIO_CANARY_LABEL "platform@4-rc1"
/** Remediation tasks at or above this risk wait for an APPROVED (the policy's guardrail). */
#define BL_SCENARIO_APPROVAL_RISK 0.7

/**
 * The slots of @p domain's workers at @p rate submissions a second: room for
 * twice the work arriving (at least its slots), or for the slow domain
 * BL_SCENARIO_SLOW_CAPACITY of it.
 */
int bl_scenario_slots(const bl_scenario_domain_t *domain, double rate);

/** The index of @p name in bl_scenario_domains, or -1. */
int bl_scenario_domain_index(const char *name);

/* ---- a seeded generator, one per thread ----------------------------------- */

typedef struct bl_rng_s {
        uint64_t state;
} bl_rng_t;

void bl_rng_seed(bl_rng_t *rng, uint64_t seed);
uint64_t bl_rng_next(bl_rng_t *rng);
/** Uniform in [0, 1). */
double bl_rng_unit(bl_rng_t *rng);
/** Uniform in [low, high]. */
int64_t bl_rng_range(bl_rng_t *rng, int64_t low, int64_t high);

/** A 64-bit hash of @p text mixed with @p seed: fates that depend on a task, not on thread timing. */
uint64_t bl_scenario_hash(uint64_t seed, const char *text, int64_t number);

#endif
