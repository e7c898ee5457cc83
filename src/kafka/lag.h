/*
 * lag.h: the Kafka half of lag-driven backpressure: the committed offsets
 * of each domain's worker group, fetched in the background of the run loop
 * and reported through a callback. The pipeline hands one that feeds the
 * credit ledger (core/credit.h), which this layer does not see.
 */
#ifndef BL_LAG_H
#define BL_LAG_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct bl_lag_s bl_lag_t;

/**
 * Called once for each partition of a watched topic whose offset the worker
 * group has committed: @p offset is the committed offset, -1 when the group
 * has committed none on @p partition. @p domain is the one given to
 * bl_lag_watch (borrowed for the call). On the thread of bl_lag_poll.
 */
typedef void(bl_lag_committed_cb)(const char *domain, int32_t partition, int64_t offset, void *opaque);

/**
 * A lag monitor asking through @p rk (borrowed: any handle can carry admin
 * requests) and reporting each answer to @p committed with @p opaque
 * (borrowed), one request in flight at a time, each domain refreshed every
 * @p interval_ms. NULL when out of memory.
 */
bl_lag_t *bl_lag_new(rd_kafka_t *rk, bl_lag_committed_cb *committed, void *opaque, int interval_ms,
                     int timeout_ms);
void bl_lag_destroy(bl_lag_t *lag);

/** Watches @p worker_group on @p topic (@p partition_count partitions) for @p domain. */
bool bl_lag_watch(bl_lag_t *lag, const char *domain, const char *topic, const char *worker_group,
                  int32_t partition_count);

/** Sends the next request when one is due and applies any answer; never blocks. */
void bl_lag_poll(bl_lag_t *lag, int64_t now_ms);

#endif
