/*
 * lag.h: the Kafka half of lag-driven backpressure: the committed offsets
 * of each domain's worker group, fetched in the background of the run loop
 * and fed to the credit ledger (core/credit.h).
 */
#ifndef BL_LAG_H
#define BL_LAG_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "core/credit.h"

typedef struct bl_lag_s bl_lag_t;

/**
 * A lag monitor asking through @p rk (borrowed: any handle can carry admin
 * requests) and writing into @p credit (borrowed), one request in flight at
 * a time, each domain refreshed every @p interval_ms.
 */
bl_lag_t *bl_lag_new(rd_kafka_t *rk, bl_credit_t *credit, int interval_ms, int timeout_ms);
void bl_lag_destroy(bl_lag_t *lag);

/** Watches @p worker_group on @p topic (@p partition_count partitions) for @p domain. */
bool bl_lag_watch(bl_lag_t *lag, const char *domain, const char *topic, const char *worker_group,
                  int32_t partition_count);

/** Sends the next request when one is due and applies any answer; never blocks. */
void bl_lag_poll(bl_lag_t *lag, int64_t now_ms);

#endif
