/*
 * wait.h: what a task waits for, from its snapshot and the time alone
 * (SPEC §15): the one answer that `backlogd tasks list --waiting-for` and
 * `tasks show` give, and that later reasons plug into. Pure C.
 *
 * A task waits for something when its state keeps it from going on by
 * itself: BLOCKED on a dependency (each named), on a not_before still ahead
 * or on an approval; RETRY_WAIT on its back-off; DISPATCHED or RUNNING on
 * its worker, within its lease. A READY task waits for nothing of its own
 * (its turn comes with its score and its domain's credit); terminal tasks
 * and placeholders wait for nothing.
 *
 * The reasons are one table in wait.c, each with a probe that reads the
 * item. The domain's circuit breaker (SPEC §14) is state of the running
 * instances, not of the task: a READY task waits for it when its domain's
 * breaker is open, which only a caller that knows the breakers can say
 * (bl_wait_context_t; `tasks list --metrics` asks the instances).
 *
 * An agent's hold or escalation (SPEC §13) is marked in the task's snapshot
 * itself, so that `tasks list`, a restore and replay see it: a label
 * BL_AGENT_MARK_HOLD (the hold: BLOCKED, its end kept as not_before) or
 * BL_AGENT_MARK_ESCALATION (BLOCKED awaiting approval because the agent
 * asked), valued with the agent's name@version, set by core/backlog.c and
 * dropped when the task leaves BLOCKED. The BacklogItem contract has no field
 * of its own for it yet; the labels carry it meanwhile.
 */
#ifndef BL_WAIT_H
#define BL_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/item.h"

/** The reasons, in the order bl_item_waits reports them. */
typedef enum {
        BL_WAIT_DEPENDENCY = 0, /* BLOCKED: a task it depends on has not COMPLETED (one wait per task) */
        BL_WAIT_NOT_BEFORE,     /* BLOCKED: its not_before lies ahead */
        BL_WAIT_APPROVAL,       /* BLOCKED: its risk needs an APPROVED event that has not come */
        BL_WAIT_RETRY,          /* RETRY_WAIT: the back-off before its next attempt */
        BL_WAIT_WORKER,         /* DISPATCHED or RUNNING: its worker's STARTED, HEARTBEAT or result */
        BL_WAIT_BREAKER,        /* READY behind its domain's open (or half-open) circuit breaker (SPEC §14) */
        BL_WAIT_AGENT,          /* BLOCKED: held by its domain's agent (SPEC §13) until the hold's end */
        BL_WAIT__COUNT
} bl_wait_reason_t;

/** One thing a task waits for. */
typedef struct bl_wait_s {
        bl_wait_reason_t reason;
        int64_t until_ms;     /* when the wait ends by itself (not_before, retry_at, lease end); BL_NO_TIME:
                                 only an event ends it */
        const char *task_id;  /* BL_WAIT_DEPENDENCY: the task waited for, borrowed from the item; else NULL */
} bl_wait_t;

/** The labels that mark an agent's hold and escalation in a task's snapshot (above). */
#define BL_AGENT_MARK_HOLD "backlogd.agent.hold"
#define BL_AGENT_MARK_ESCALATION "backlogd.agent.escalation"

/** Whether @p item carries the mark @p key (BL_AGENT_MARK_HOLD or BL_AGENT_MARK_ESCALATION). */
bool bl_item_agent_mark(const bl_item_t *item, const char *key);

/** "dependency", "not_before", "approval", "retry", "worker", "breaker", "agent" (static). */
const char *bl_wait_reason_name(bl_wait_reason_t reason);

/** The reason named @p name (as bl_wait_reason_name spells it), or -1. */
int bl_wait_reason_parse(const char *name);

/**
 * NULL when backlogd can find tasks waiting for @p reason; else why it
 * cannot yet, a sentence for the docs and the CLI ("none until ..."): no
 * task is ever reported waiting for it.
 */
const char *bl_wait_reason_absent(bl_wait_reason_t reason);

/**
 * What @p item waits for at @p now_ms: writes the first @p max waits to
 * @p out (may be NULL when @p max is 0) in bl_wait_reason_t order, a
 * dependency's in the order of the item's pending dependencies, and returns
 * how many there are in all (more than @p max when @p out was too small).
 * The waits borrow from the item: valid while it lives and is unchanged.
 */
size_t bl_item_waits(const bl_item_t *item, int64_t now_ms, bl_wait_t *out, size_t max);

/** Whether @p item waits for @p reason at @p now_ms (one probe, nothing written). */
bool bl_item_waits_for(const bl_item_t *item, int64_t now_ms, bl_wait_reason_t reason);

/** What the items do not hold: the domains whose circuit breaker holds their READY tasks now. */
typedef struct bl_wait_context_s {
        bool (*breaker_holds)(void *opaque, const char *domain); /* NULL: no breaker known */
        void *opaque;
} bl_wait_context_t;

/** bl_item_waits with @p context (NULL: none, as bl_item_waits): a READY task may wait for its breaker. */
size_t bl_item_waits_in(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context, bl_wait_t *out,
                        size_t max);

/** bl_item_waits_for with @p context (NULL: none). */
bool bl_item_waits_for_in(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                          bl_wait_reason_t reason);

#endif
