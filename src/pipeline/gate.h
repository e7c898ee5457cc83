/*
 * gate.h: the output topics the broker refuses now (SPEC §6, §12).
 *
 * When the broker refuses an output topic for a reason that time or an
 * operator fixes (its ACL missing, the topic deleted), re-running the batch
 * at once fails the same way. The gate remembers each refused topic with its
 * cause and a back-off that doubles (first to most, as ingest's retries):
 * until the back-off is over the pipeline does not write to it and holds
 * back only what needs it (a domain's dispatch, the records that go to the
 * DLQ); once over, the next write is a probe. A batch that committed with a
 * write to a refused topic opens it again.
 *
 * Pure bookkeeping, no Kafka: the pipeline thread reports refusals, writes
 * and commits, and asks whether a topic may be written. A NULL gate (not
 * made yet) refuses nothing and holds nothing.
 */
#ifndef BL_GATE_H
#define BL_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BL_GATE_MAX 64          /* refused topics kept at once; past it the oldest refusal is replaced */
#define BL_GATE_CAUSE_MAX 256

typedef struct bl_gate_s bl_gate_t;

/** One refused topic, as bl_gate_foreach() shows it. */
typedef struct bl_gate_entry_s {
        const char *topic;
        const char *cause;     /* the broker's refusal, e.g. "Broker: Topic authorization failed" */
        int64_t since_ms;      /* first refused (monotonic ms) */
        int64_t retry_at_ms;   /* the next write is a probe from then on */
        int64_t backoff_ms;
        uint64_t refusals;     /* refusals since it was first refused */
} bl_gate_entry_t;

/** Back-offs from @p first_backoff_ms doubling up to @p max_backoff_ms. NULL when out of memory. */
bl_gate_t *bl_gate_new(int64_t first_backoff_ms, int64_t max_backoff_ms);
void bl_gate_destroy(bl_gate_t *gate);

/**
 * The broker refused @p topic for @p cause at @p now_ms: it is closed until its back-off (doubled at each
 * refusal) is over. True when it was open before (a new refusal, to be told); the back-off in *backoff_ms.
 */
bool bl_gate_refused(bl_gate_t *gate, const char *topic, const char *cause, int64_t now_ms, int64_t *backoff_ms);

/** Whether @p topic may be written at @p now_ms: never refused, or its back-off is over (a probe). */
bool bl_gate_open(const bl_gate_t *gate, const char *topic, int64_t now_ms);

/** The broker's reason @p topic is refused; NULL when it is not. */
const char *bl_gate_cause(const bl_gate_t *gate, const char *topic);

/** A record for @p topic went into the open batch (cheap when nothing is refused). */
void bl_gate_wrote(bl_gate_t *gate, const char *topic);

/** Called by bl_gate_committed() for each topic it opens again; @p entry is valid during the call. */
typedef void(bl_gate_reopened_cb)(const bl_gate_entry_t *entry, void *opaque);

/** The open batch committed: each refused topic written in it is open again. */
void bl_gate_committed(bl_gate_t *gate, bl_gate_reopened_cb *reopened, void *opaque);

/** The open batch aborted: its writes do not count. */
void bl_gate_aborted(bl_gate_t *gate);

/** How many topics are refused now. */
size_t bl_gate_count(const bl_gate_t *gate);

/** Each refused topic, oldest refusal first. */
void bl_gate_foreach(const bl_gate_t *gate, void (*cb)(const bl_gate_entry_t *entry, void *opaque), void *opaque);

#endif
