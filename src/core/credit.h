/*
 * credit.h: lag-driven backpressure per domain (SPEC §5), the accounting
 * half. Pure C: the Kafka half (kafka/lag.c) feeds it the offsets of the
 * dispatch records this instance wrote and the committed offsets of each
 * domain's worker group, and reads back how much each domain may receive.
 *
 * Outstanding work of a domain = this instance's own dispatch records at or
 * past the worker group's committed offset, partition by partition.
 * Transaction markers are never records of ours, so they never count; records
 * of an aborted transaction are forgotten at the abort.
 */
#ifndef BL_CREDIT_H
#define BL_CREDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bl_credit_s bl_credit_t;

bl_credit_t *bl_credit_new(void);
void bl_credit_destroy(bl_credit_t *credit);

/**
 * Declares (or updates) @p domain: its dispatch topic has @p partition_count
 * partitions; at @p max_lag outstanding records the domain is throttled, and
 * it opens again below @p resume_lag (resume_lag < max_lag). Returns false
 * when out of memory.
 */
bool bl_credit_set_domain(bl_credit_t *credit, const char *domain, int32_t partition_count, int64_t max_lag,
                          int64_t resume_lag);

/** A dispatch record of ours for @p domain is on its way (its offset not known yet): it counts at once. */
void bl_credit_sent(bl_credit_t *credit, const char *domain);

/**
 * A dispatch record of ours for @p domain landed at @p partition / @p offset
 * (in the open transaction); it stops counting as on its way.
 */
void bl_credit_record(bl_credit_t *credit, const char *domain, int32_t partition, int64_t offset);

/** The open transaction committed: its records stay counted until workers pass them. */
void bl_credit_transaction_committed(bl_credit_t *credit);
/** The open transaction aborted: its records will never be read, forget them. */
void bl_credit_transaction_aborted(bl_credit_t *credit);

/** The worker group of @p domain has committed @p offset on @p partition (-1: nothing committed yet). */
void bl_credit_committed(bl_credit_t *credit, const char *domain, int32_t partition, int64_t offset);

/** Own records of @p domain at or past the workers' committed offsets. */
int64_t bl_credit_outstanding(const bl_credit_t *credit, const char *domain);

/**
 * How many more records @p domain may receive now, given this instance's
 * @p share (0 to 1) of the partitions: its part of max_lag minus what is
 * outstanding; 0 while throttled. Throttling starts at the share of max_lag
 * and ends below the share of resume_lag (hysteresis); a change is reported
 * through *changed when not NULL. A domain never declared has no limit
 * (SIZE_MAX).
 */
size_t bl_credit_available(bl_credit_t *credit, const char *domain, double share, bool *changed);

bool bl_credit_throttled(const bl_credit_t *credit, const char *domain);

/**
 * What bl_credit_available() would say, changing nothing (for the status page): @p domain's limit at
 * @p share into *limit and what it may receive now into *room (0 while throttled). False, with nothing
 * written, when the domain was never declared: it has no limit.
 */
bool bl_credit_peek(const bl_credit_t *credit, const char *domain, double share, int64_t *limit, int64_t *room);

/** Calls @p fn for every declared domain. */
void bl_credit_foreach(const bl_credit_t *credit,
                       void (*fn)(const char *domain, int64_t outstanding, bool throttled, void *opaque), void *opaque);

#endif
