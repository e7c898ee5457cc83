/*
 * scheduler.h: the READY tasks of each domain in the order of their scores
 * (SPEC §4). Pure C: no Kafka, no clock. The caller passes the time in, and
 * a score function (the policy) says what each task is worth at that time.
 *
 * Per domain, the best task comes first: the highest score; among equal
 * scores the one READY longest (ready_since_ms), then the smaller task_id,
 * so the order is the same on every replay.
 *
 * Scores that depend on time (aging, SLA urgency, data freshness) are kept
 * current at bounded cost. An item is scored when it is inserted. A domain
 * is re-scored as a whole (every item, then one heapify: O(n) each) by
 * bl_scheduler_rescore(), or by a peek or pop of that domain when its
 * scores are rescore_interval_ms old. Between two re-scores the order is
 * that of cached scores.
 *
 * Staleness bound: when a peek or pop returns, every cached score of that
 * domain was computed less than rescore_interval_ms (I) ago. If no item's
 * score changes faster than L per ms (for the policy of SPEC §4: |weight| /
 * horizon for aging and for SLA urgency, plus |weight| * ln 2 / half-life
 * for freshness), each cached score is within L * I of the item's score
 * now, and the item picked scores now at most 2 * L * I below the best one.
 * The cost is at most one O(n) re-score per domain per interval, paid by the
 * pick that finds it due.
 *
 * Each item keeps its position in its domain's heap in bl_item_t.sched_slot
 * (SIZE_MAX when it is in no scheduler), so removal is O(log n). Items are
 * borrowed: the scheduler never frees one. An item's domain must not change
 * while it is in the scheduler. Not thread-safe: the pipeline thread, or a
 * test.
 */
#ifndef BL_SCHEDULER_H
#define BL_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/item.h"

/**
 * What @p item is worth at @p now_ms; higher is dispatched first. Must not
 * change the item. A NaN is taken for -infinity (dispatched last).
 */
typedef double(bl_score_fn)(void *opaque, const bl_item_t *item, int64_t now_ms);

typedef struct bl_scheduler_options_s {
        /* > 0: a peek or pop re-scores its domain when the domain's scores are this old. 0: only
         * bl_scheduler_rescore() re-scores (the caller keeps its own cadence). */
        int64_t rescore_interval_ms;
        bl_score_fn *score;
        void *score_opaque;
} bl_scheduler_options_t;

typedef struct bl_scheduler_stats_s {
        uint64_t scores_total;   /* calls of the score function */
        uint64_t rescores_total; /* whole-domain re-scores, automatic or asked for */
} bl_scheduler_stats_t;

typedef struct bl_scheduler_s bl_scheduler_t;

/**
 * An empty scheduler. NULL when out of memory, when @p options has no score
 * function, or when rescore_interval_ms is negative.
 */
bl_scheduler_t *bl_scheduler_new(const bl_scheduler_options_t *options);

/** Frees the scheduler, not the items; it does not touch them (they may be freed already). */
void bl_scheduler_destroy(bl_scheduler_t *scheduler);

/**
 * Adds @p item (borrowed) to the domain item->domain, scored at @p now_ms,
 * READY since item->ready_since_ms (@p now_ms when unset). An item that is
 * in already is re-scored and moved: what a READY item needs after an
 * update. False, with nothing changed, when item->domain is NULL or memory
 * runs out.
 */
bool bl_scheduler_insert(bl_scheduler_t *scheduler, bl_item_t *item, int64_t now_ms);

/** Takes @p item out, O(log n); false when it was not in. */
bool bl_scheduler_remove(bl_scheduler_t *scheduler, bl_item_t *item);

/**
 * Takes out every item of @p partition at once, O(n) over all domains (one
 * pass and one heapify each), where removing them one by one would sift and
 * shrink the heap for each: what a revoked or restored partition needs. The
 * heaps keep their memory. Returns how many were taken out.
 */
size_t bl_scheduler_remove_partition(bl_scheduler_t *scheduler, int32_t partition);

bool bl_scheduler_contains(const bl_scheduler_t *scheduler, const bl_item_t *item);

/**
 * The best item of @p domain, left in; NULL when the domain has none. May
 * re-score the domain first (rescore_interval_ms).
 */
bl_item_t *bl_scheduler_peek(bl_scheduler_t *scheduler, const char *domain, int64_t now_ms);

/**
 * Takes the best item of @p domain out and returns it; NULL when the domain
 * has none. May re-score the domain first. @p score (may be NULL) gets the
 * cached score that ranked it, computed less than rescore_interval_ms ago.
 */
bl_item_t *bl_scheduler_pop(bl_scheduler_t *scheduler, const char *domain, int64_t now_ms, double *score);

/** Whether the walk of bl_scheduler_best takes @p item. Must not change the scheduler. */
typedef bool(bl_scheduler_accept_fn)(void *opaque, const bl_item_t *item);

/**
 * The best items of @p domain that @p accept takes (NULL: every item), in
 * the scheduler's order, left in: at most @p max into @p out, looking at
 * no more than @p max_visits items (best first), so that a filter that
 * takes few costs a bounded walk. May re-score the domain first, as a peek
 * does. Returns how many it wrote; 0 when out of memory.
 */
size_t bl_scheduler_best(bl_scheduler_t *scheduler, const char *domain, int64_t now_ms,
                         bl_scheduler_accept_fn *accept, void *opaque, bl_item_t **out, size_t max,
                         size_t max_visits);

/** Re-scores every item of every domain at @p now_ms: O(n). */
void bl_scheduler_rescore(bl_scheduler_t *scheduler, int64_t now_ms);

/** Items of @p domain (0 for a domain never seen). */
size_t bl_scheduler_count(const bl_scheduler_t *scheduler, const char *domain);

/** Items of every domain. */
size_t bl_scheduler_total(const bl_scheduler_t *scheduler);

/** The bytes of the scheduler's own arrays (its domains and their heaps of READY entries). */
size_t bl_scheduler_memory_bytes(const bl_scheduler_t *scheduler);

/** Domains seen so far, empty ones included, in the order they were first seen. */
size_t bl_scheduler_domain_count(const bl_scheduler_t *scheduler);

/** The name of domain @p index (< bl_scheduler_domain_count), or NULL. Valid while the scheduler lives. */
const char *bl_scheduler_domain_name(const bl_scheduler_t *scheduler, size_t index);

/**
 * The time since which every cached score of @p domain was computed (now
 * minus this is the staleness), or BL_NO_TIME for a domain never seen.
 */
int64_t bl_scheduler_scored_since(const bl_scheduler_t *scheduler, const char *domain);

void bl_scheduler_stats(const bl_scheduler_t *scheduler, bl_scheduler_stats_t *stats);

/**
 * Checks every invariant: heap order in each domain, each item's sched_slot
 * and domain, the counts. O(n); for tests. True when all hold.
 */
bool bl_scheduler_verify(const bl_scheduler_t *scheduler);

#endif
