/*
 * history.h: rebuild tasks from their recorded transitions and compare them
 * with the snapshots of backlog.state (SPEC §9, `backlogd replay --verify`).
 * Pure C: the command reads the topics and hands every record in here, so
 * the same code runs in the unit tests on hand-built sequences.
 *
 * A history takes, per task and in the order of its partition's offsets,
 * each Transition with the item after it (bl_history_fold), checks that the
 * chain holds together, and keeps the item of the last one as the rebuilt
 * state, with the payload carried over from the transition that had it
 * (only a task's first transition carries it). Separately it takes what
 * backlog.state holds for each task, latest record winning, tombstones
 * included (bl_history_store). bl_history_verify then compares both, task
 * by task in task_id order, so that the same topics give the same report.
 *
 * Chain rules, each broken one reported with the task and seq:
 *   - the first transition has seq 1 and no from_state; each later one has
 *     seq + 1 of the previous and a from_state equal to its to_state;
 *   - every change from != to is legal by bl_state_transition_legal;
 *   - the item embedded in a transition is there, is that task, is in the
 *     transition's to_state, and has its seq and attempt;
 *   - all of a task's transitions are in one partition.
 * A seq 1 without from_state that follows a terminal (or placeholder) item
 * starts the task anew: it was purged and its task_id submitted again.
 *
 * Not thread-safe; one history per thread.
 */
#ifndef BL_HISTORY_H
#define BL_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backlog.h"
#include "core/item.h"
#include "base/err.h"

typedef struct bl_history_s bl_history_t;

/** An empty history. NULL when out of memory. */
bl_history_t *bl_history_new(void);
void bl_history_destroy(bl_history_t *history);

/**
 * Folds the next transition of its task, read at @p partition / @p offset
 * of backlog.transitions. Takes over @p item_after (NULL when the record had
 * none), also on failure. @p transition is only read. BL_ERR_NOMEM.
 */
bl_err_t bl_history_fold(bl_history_t *history, const bl_transition_t *transition, bl_item_t *item_after,
                         int32_t partition, int64_t offset);

/**
 * A record of backlog.transitions that could not be read: a chain error of
 * task @p task_id (the record's key; NULL or "" when it had none). BL_ERR_NOMEM.
 */
bl_err_t bl_history_fold_unreadable(bl_history_t *history, const char *task_id, int32_t partition, int64_t offset,
                                    const char *why);

/**
 * What backlog.state holds for @p task_id at @p partition: @p item, taken
 * over, or NULL for a tombstone. A later call for the same task replaces
 * the earlier one, as compaction would. BL_ERR_NOMEM.
 */
bl_err_t bl_history_store(bl_history_t *history, const char *task_id, bl_item_t *item, int32_t partition);

/** A snapshot that could not be read: the task's state is unknown until a later one replaces it. */
bl_err_t bl_history_store_unreadable(bl_history_t *history, const char *task_id, int32_t partition, int64_t offset,
                                     const char *why);

/** One broken rule of a task's chain. Borrowed for the callback. */
typedef struct bl_history_chain_error_s {
        const char *task_id; /* "" for a record without a key */
        int64_t seq;         /* of the transition at fault; -1 when unknown */
        int32_t partition;   /* where that transition is */
        int64_t offset;
        const char *what;    /* one sentence */
} bl_history_chain_error_t;

/** One field on which backlog.state and the rebuilt task disagree. Borrowed for the callback. */
typedef struct bl_history_difference_s {
        const char *task_id;
        const char *field;   /* the contract's field name, or "task" when one side has no such task */
        const char *stored;  /* the value in backlog.state, as text */
        const char *rebuilt; /* the value rebuilt from backlog.transitions, as text */
        const char *message; /* "task t-1: state is RUNNING in backlog.state, DISPATCHED rebuilt from ..." */
} bl_history_difference_t;

typedef struct bl_history_report_s {
        void (*chain_error)(void *opaque, const bl_history_chain_error_t *error);
        void (*difference)(void *opaque, const bl_history_difference_t *difference);
        void *opaque;
} bl_history_report_t;

typedef struct bl_history_totals_s {
        size_t tasks;        /* distinct task ids in either topic */
        size_t verified;     /* a clean chain, and backlog.state holds exactly the rebuilt task */
        size_t purged;       /* history ends terminal (or as a placeholder), backlog.state holds none */
        size_t differing;    /* tasks with a difference */
        size_t broken;       /* tasks with a chain error */
        size_t differences;  /* reported differences */
        size_t chain_errors; /* reported chain errors */
} bl_history_totals_t;

/**
 * Reports every chain error and every difference through @p report, task
 * by task in task_id order (chain errors of a task first, in the order
 * found), and fills @p totals. The history is not changed: verify may run
 * again. BL_ERR_NOMEM.
 */
bl_err_t bl_history_verify(const bl_history_t *history, const bl_history_report_t *report,
                           bl_history_totals_t *totals);

/** Tasks seen in either topic so far. */
size_t bl_history_task_count(const bl_history_t *history);

/** The rebuilt item of @p task_id (NULL when it has no history); borrowed. */
const bl_item_t *bl_history_rebuilt(const bl_history_t *history, const char *task_id);

/**
 * Compares two items field by field over every field of the BacklogItem
 * contract (task_id aside) and the partition; calls @p cb for each field
 * that differs, with both values as text. Lists of task ids and labels are
 * compared as sets. Returns the number of differing fields; -1 when out of
 * memory.
 */
typedef void(bl_history_field_cb)(const char *field, const char *stored, const char *rebuilt, void *opaque);
int bl_history_diff_items(const bl_item_t *stored, const bl_item_t *rebuilt, bl_history_field_cb *cb, void *opaque);

/** @p ms as RFC 3339 UTC with milliseconds ("2026-11-28T08:18:40.283Z"), or "none" for BL_NO_TIME. */
const char *bl_history_format_time(int64_t ms, char *out, size_t out_size);

#endif
