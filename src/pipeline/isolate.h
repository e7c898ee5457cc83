/*
 * isolate.h: finding the one record or timer that makes every batch fail
 * (SPEC §6: no input can stop an instance).
 *
 * A batch is a run of units: an input record handled, a timer fired, a task
 * dispatched. When a batch aborts because something in it cannot be written
 * (a record the broker refuses for good, an output that cannot be encoded),
 * running it again whole would fail the same way for ever. Instead the next
 * batches take at most half as many units as the one that failed, halving
 * again at each failure: a batch of one unit that fails names its culprit,
 * which the pipeline then gives up (dead letter, or the task DEAD) before it
 * goes on. Each success doubles the allowance until batches are back to
 * normal. A deterministic failure in a batch of n units so costs about
 * log2(n) + 1 aborted transactions. Faults of the broker or of an output
 * that cannot be written now are no one record's: they never bisect, the
 * pipeline waits and runs the batch again.
 *
 * Pure bookkeeping, no Kafka: the pipeline thread reports units, commits
 * and failures, and asks how many units the open batch may still take.
 */
#ifndef BL_ISOLATE_H
#define BL_ISOLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Whose fault a failed batch was. */
typedef enum {
        BL_FAULT_NONE = 0,
        BL_FAULT_TRANSIENT, /* the broker (or registry) now: wait and run the batch again */
        BL_FAULT_OUTPUT,    /* an output topic cannot be written now (authorization, unknown topic): wait */
        BL_FAULT_RECORD,    /* something in the batch can never be written: find it and give it up */
} bl_fault_t;

typedef enum {
        BL_UNIT_RECORD = 0, /* an input record: topic, partition, offset */
        BL_UNIT_TIMER,      /* a task's timer fired: task_id */
        BL_UNIT_DISPATCH,   /* a task dispatched: task_id */
        BL_UNIT_GIVE_UP,    /* a culprit given up: what failed may be the giving up itself */
} bl_unit_kind_t;

#define BL_UNIT_NAME_MAX 4200 /* a topic name or a task id (limits.id_max_bytes is at most 4096) */

typedef struct bl_unit_s {
        bl_unit_kind_t kind;
        char name[BL_UNIT_NAME_MAX]; /* the record's topic, or the task id */
        int32_t partition;           /* a record's */
        int64_t offset;              /* a record's */
} bl_unit_t;

/** What the pipeline does after a failed batch. */
typedef enum {
        BL_ISOLATE_WAIT = 0, /* not a record's fault: back off, run it again */
        BL_ISOLATE_BISECT,   /* smaller batches from here */
        BL_ISOLATE_CULPRIT,  /* the batch was one unit: bl_isolate_culprit() names it */
} bl_isolate_action_t;

typedef struct bl_isolate_s bl_isolate_t;

/** Back to normal batching once the allowance reaches @p normal_units. NULL when out of memory. */
bl_isolate_t *bl_isolate_new(size_t normal_units);
void bl_isolate_destroy(bl_isolate_t *isolate);

/** A unit joins the open batch: @p name (a record's topic, or a task id) is copied, cut to BL_UNIT_NAME_MAX. */
void bl_isolate_unit(bl_isolate_t *isolate, bl_unit_kind_t kind, const char *name, int32_t partition, int64_t offset);
/** How many more units the open batch may take: SIZE_MAX when batching is normal. */
size_t bl_isolate_room(const bl_isolate_t *isolate);
/** True while batches are cut short to find a culprit. */
bool bl_isolate_active(const bl_isolate_t *isolate);

/** The open batch goes to be committed: its units are counted apart from the next batch's. */
void bl_isolate_handed_off(bl_isolate_t *isolate);
/** The batch handed off committed: the allowance doubles, up to normal. */
void bl_isolate_committed(bl_isolate_t *isolate);
/**
 * The batch handed off (or the open one, with @p open) failed with @p fault: what to do. With
 * BL_ISOLATE_CULPRIT the culprit is kept until bl_isolate_culprit_done().
 */
bl_isolate_action_t bl_isolate_failed(bl_isolate_t *isolate, bl_fault_t fault, bool open);

/** The culprit named by the last failure, and how many times giving it up has failed already; NULL: none. */
const bl_unit_t *bl_isolate_culprit(const bl_isolate_t *isolate, int *give_up_failures);
/** The culprit was given up (committed). */
void bl_isolate_culprit_done(bl_isolate_t *isolate);
/** The culprit is no longer this instance's to give up (its partition was revoked): forget it, uncounted. */
void bl_isolate_culprit_forget(bl_isolate_t *isolate);

/** Culprits found so far. */
uint64_t bl_isolate_found(const bl_isolate_t *isolate);

#endif
