/*
 * traffic.h: the demo's synthetic producers: TaskEvents for the four
 * domains at a steady rate, with deadlines, dependencies, approvals and a few
 * poison pills, on one thread of their own.
 */
#ifndef BL_DEMO_TRAFFIC_H
#define BL_DEMO_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>

#include "ops/config.h"

typedef struct bl_traffic_s bl_traffic_t;

/** The kinds of poison pill, each with the DLQ reason it must earn. */
typedef enum {
        BL_PILL_WIRE_FORMAT = 0, /* magic byte 1: decode.wire_format */
        BL_PILL_UNKNOWN_DOMAIN,  /* a SUBMITTED for a domain nobody configured: contract.violation */
        BL_PILL_SCHEMA_UNKNOWN,  /* a schema id no registry knows: decode.schema_unknown */
        BL_PILL__COUNT
} bl_pill_t;

/** "decode.wire_format", "contract.violation", "decode.schema_unknown". */
const char *bl_pill_reason(bl_pill_t pill);

/** What the producers have done so far; any thread may ask at any time. */
typedef struct bl_traffic_stats_s {
        uint64_t produced;       /* records handed to the producer: all of the below */
        uint64_t submitted;      /* SUBMITTED tasks */
        uint64_t approvals;      /* APPROVED events for risky remediation tasks */
        uint64_t with_deadline;  /* submitted with a deadline */
        uint64_t short_deadline; /* of those, deadlines a few seconds ahead in the slow domain */
        uint64_t with_deps;      /* submitted with depends_on */
        uint64_t pills[BL_PILL__COUNT];
        uint64_t delivered;
        uint64_t delivery_failed;
} bl_traffic_stats_t;

/**
 * Opens the contracts and a producer to @p config's tasks.events (on the
 * calling thread), then starts producing @p rate events a second from a
 * generator seeded with @p seed. The poison pills are spread over the first
 * 70% of @p duration_ms. @p config is borrowed until bl_traffic_destroy.
 * NULL with errstr on failure.
 */
bl_traffic_t *bl_traffic_start(const bl_config_t *config, uint64_t seed, double rate, int64_t duration_ms, char *errstr,
                               size_t errstr_size);

/** Stops producing, waits for the deliveries (a few seconds at most) and joins the thread. Idempotent. */
void bl_traffic_stop(bl_traffic_t *traffic);

/** Stops if needed and frees everything. NULL: no-op. */
void bl_traffic_destroy(bl_traffic_t *traffic);

void bl_traffic_stats(const bl_traffic_t *traffic, bl_traffic_stats_t *stats);

#endif
