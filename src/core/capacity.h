/*
 * capacity.h: what a domain's workers can do, estimated from what the
 * backlog sees of them (SPEC §14): results per second over a window, the
 * pickup delay (DISPATCHED -> STARTED), the runtime of each task_type
 * (STARTED -> COMPLETED), and how much is in flight and READY. From these:
 * the domain's throughput, its drain time, the predicted start of the READY
 * task of each rank, and what the deadline_risk criterion of the policy
 * needs of a task (core/policy.h, docs/policy.md).
 *
 * The throughput is the rate of results seen, which is the workers'
 * capacity while the domain is saturated (tasks wait READY) and only the
 * arrival rate otherwise: an idle domain's drain time is then an upper
 * bound. Runtimes and pickup delays are exponentially weighted means and
 * variances: the first RUNTIME_MEMORY samples count equally, later ones
 * with weight 1/RUNTIME_MEMORY (capacity.c).
 *
 * Pure C: no clock (every call takes now_ms), no Kafka. Not thread-safe:
 * the pipeline thread feeds it and reads it; other threads get copies.
 */
#ifndef BL_CAPACITY_H
#define BL_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/item.h"

typedef struct bl_capacity_options_s {
        int64_t window_ms;   /* throughput counts the results of this long, >= 1 */
        int32_t min_samples; /* fewer results in the window, or runtimes seen: the estimate is not known, >= 1 */
} bl_capacity_options_t;

/** One domain's estimate at a time: plain data, a copy. */
typedef struct bl_capacity_estimate_s {
        bool known;               /* min_samples results in the window and min_samples runtimes: the rest holds */
        double throughput_per_s;  /* results per second over the window (or since the first result, if later) */
        int64_t results;          /* in the window */
        double pickup_ms;         /* mean DISPATCHED -> STARTED; 0 before any */
        double runtime_ms;        /* mean STARTED -> COMPLETED of the domain's tasks, every type; 0 before any */
        double runtime_sd_ms;     /* its standard deviation */
        int64_t runtime_samples;  /* runtimes seen */
        int64_t in_flight;        /* DISPATCHED or RUNNING, as last set */
        int64_t ready;            /* READY, as last set */
        double concurrency;       /* workers busy at once, by Little's law: throughput x (pickup + runtime) */
        int64_t drain_ms;         /* (in_flight + ready) / throughput: -1 unless known */
} bl_capacity_estimate_t;

/**
 * What deadline_risk needs of one task: when it would start if it waited
 * behind every READY task of its domain, and its expected runtime. Times
 * in ms; known false when the domain's estimate is not.
 */
typedef struct bl_capacity_expectation_s {
        bool known;
        double wait_ms;        /* from now to its start at the back of the queue, pickup included */
        double wait_sd_ms;     /* the spread of that wait: the runtimes of the tasks ahead vary */
        double start_now_ms;   /* from now to its start if dispatched now: the pickup delay */
        double runtime_ms;     /* its task_type's mean runtime (the domain's with too few samples of the type) */
        double runtime_sd_ms;
} bl_capacity_expectation_t;

typedef struct bl_capacity_s bl_capacity_t;

/** An estimator with no samples. NULL when out of memory or when an option is below its minimum. */
bl_capacity_t *bl_capacity_new(const bl_capacity_options_t *options);

/** Frees it. NULL is a no-op. */
void bl_capacity_destroy(bl_capacity_t *capacity);

/** New options (a config or policy reloaded): the samples stay. False (nothing changed) when invalid. */
bool bl_capacity_configure(bl_capacity_t *capacity, const bl_capacity_options_t *options);

/**
 * One change of a task of @p domain / @p task_type (each may be NULL: then
 * nothing is learnt) from @p from, entered at @p from_since_ms, to @p to at
 * @p now_ms. Learns: a result (COMPLETED or FAILED from DISPATCHED or
 * RUNNING, unless @p by_worker is false: a lease that expired is no result
 * of a worker), a pickup delay (DISPATCHED -> RUNNING), a runtime (RUNNING
 * -> COMPLETED). Other changes teach nothing. False only when out of memory
 * for a new domain or task type (that sample is then lost).
 */
bool bl_capacity_observe(bl_capacity_t *capacity, const char *domain, const char *task_type, bl_state_t from,
                         int64_t from_since_ms, bl_state_t to, bool by_worker, int64_t now_ms);

/**
 * What is in flight and READY in @p domain at @p now_ms (the pipeline sets it
 * once a second), and the domain's estimate taken then: what
 * bl_capacity_expect reads until the next call, so that scoring a million
 * READY tasks does not estimate a million times. False when out of memory.
 */
bool bl_capacity_set_load(bl_capacity_t *capacity, const char *domain, int64_t in_flight, int64_t ready,
                          int64_t now_ms);

/** The estimate of @p domain at @p now_ms; a domain never seen gets one with nothing known. */
void bl_capacity_estimate(const bl_capacity_t *capacity, const char *domain, int64_t now_ms,
                          bl_capacity_estimate_t *out);

/**
 * When the READY task of @p rank (0: the next to go) is predicted to start,
 * by @p estimate made at @p now_ms: the (rank + 1)-th result from now frees
 * its worker, then the pickup delay. BL_NO_TIME unless the estimate is known.
 */
int64_t bl_capacity_predicted_start_ms(const bl_capacity_estimate_t *estimate, int64_t now_ms, size_t rank);

/**
 * What deadline_risk needs of a task of @p kind (see bl_capacity_expectation_t),
 * by the domain's estimate as of its last bl_capacity_set_load (not known
 * before one). Two lookups by name and a few multiplications.
 */
void bl_capacity_expect(const bl_capacity_t *capacity, const bl_kind_t *kind, bl_capacity_expectation_t *out);

/** The window the throughput counts, as configured. */
int64_t bl_capacity_window_ms(const bl_capacity_t *capacity);

/** Domains seen so far, in the order first seen, and the name of each. */
size_t bl_capacity_domain_count(const bl_capacity_t *capacity);
const char *bl_capacity_domain_name(const bl_capacity_t *capacity, size_t index);

#endif
