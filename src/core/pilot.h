/*
 * pilot.h: the pilot report of SPEC §13 (`backlogd pilot report`): how the
 * tasks a decision agent governed fared against the domain's control
 * group, from what backlog.transitions recorded. Pure C: the command reads
 * the topic and hands every transition in here, so the unit tests run the
 * same code on hand-built histories.
 *
 * Groups. Every dispatch of a domain with an agent records who decided it
 * (bl_provenance_t): decided_by "<agent>@<version>" (the pilot, as the agent
 * ordered), "policy" with fallback "control" (the control group: not a
 * pilot task), or "policy" with another fallback (a pilot task the policy
 * decided: timeout, breaker_open, failed, not_answered, not_in_answer,
 * refused). Those are the rows of a domain: one per agent label, "policy"
 * (the pilot's fallbacks, counted by reason) and "control". A domain is in
 * the report when at least one of its transitions names decided_by.
 *
 * What a row counts, for transitions whose time is in the window:
 *   dispatches     READY -> DISPATCHED decided by the group
 *   tasks          distinct tasks with such a dispatch
 *   wait           of each dispatch, since the task became READY (p50, p90)
 *   retries        dispatches of attempt 2 or later
 *   first attempts attempt 1 ended (left DISPATCHED or RUNNING), decided by
 *                  the group; successes: it ended COMPLETED
 *   deadline misses tasks that ended EXPIRED, or COMPLETED after their
 *                  deadline, counted in the group of their last dispatch (or
 *                  of the agent that last held or escalated them); an
 *                  EXPIRED task that nobody decided for is counted apart
 *   holds, escalations  transitions with cause "agent", in the row of the
 *                  agent named by their decided_by: reason "escalation" or
 *                  "hold" (without a reason: an escalation leaves the task
 *                  awaiting approval, a hold does not)
 * Each task's history is followed from its first transition read, inside the
 * window or not, so that a wait or an outcome in the window knows how it
 * began. A task is forgotten once it ends (a terminal state).
 *
 * The result is independent of the order partitions are read in: every task
 * lives in one partition, and its transitions come in its order.
 *
 * Not thread-safe; one per thread.
 */
#ifndef BL_PILOT_H
#define BL_PILOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/backlog.h"
#include "core/item.h"

/** Why the policy decided a pilot task (the fallback values of COMMON provenance). */
typedef enum {
        BL_PILOT_FALLBACK_TIMEOUT = 0,
        BL_PILOT_FALLBACK_BREAKER_OPEN,
        BL_PILOT_FALLBACK_FAILED,
        BL_PILOT_FALLBACK_NOT_ANSWERED,
        BL_PILOT_FALLBACK_NOT_IN_ANSWER,
        BL_PILOT_FALLBACK_REFUSED,
        BL_PILOT_FALLBACK_OTHER, /* a value this version does not know, or none */
        BL_PILOT_FALLBACK__COUNT
} bl_pilot_fallback_t;

/** "timeout", "breaker_open", "failed", "not_answered", "not_in_answer", "refused", "other" (static). */
const char *bl_pilot_fallback_name(bl_pilot_fallback_t fallback);

/** What a row stands for. */
typedef enum {
        BL_PILOT_AGENT = 0, /* decided_by an agent: the pilot */
        BL_PILOT_POLICY,    /* decided_by "policy" for a pilot task: the pilot's fallbacks */
        BL_PILOT_CONTROL,   /* decided_by "policy", fallback "control": not a pilot task */
} bl_pilot_group_kind_t;

/** "pilot", "fallback", "control" (static). */
const char *bl_pilot_group_kind_name(bl_pilot_group_kind_t kind);

/**
 * The metric label of a decision (SPEC §13, docs/operations.md): the agent's
 * name@version, "control" for the control group, "policy" for the pilot's
 * fallbacks; NULL when @p provenance names no decided_by. Borrowed from it.
 */
const char *bl_pilot_decided_by_label(const bl_provenance_t *provenance);

/** One row of a domain. */
typedef struct bl_pilot_group_s {
        char *label; /* the agent's name@version, "policy" or "control" */
        bl_pilot_group_kind_t kind;
        size_t tasks;
        size_t dispatches;
        size_t waits;        /* dispatches whose READY start is known */
        int64_t wait_p50_ms; /* nearest rank; -1 without waits */
        int64_t wait_p90_ms;
        size_t deadline_misses;
        size_t expired;        /* of the misses: EXPIRED */
        size_t completed_late; /* of the misses: COMPLETED after the deadline */
        size_t first_attempts;
        size_t first_attempt_successes;
        size_t retries;
        size_t holds;
        size_t escalations;
        size_t fallbacks[BL_PILOT_FALLBACK__COUNT]; /* the policy row's dispatches, by why */
} bl_pilot_group_t;

typedef struct bl_pilot_domain_s {
        char *domain;
        bl_pilot_group_t *groups; /* agents by label, then "policy", then "control": only rows that exist */
        size_t group_count;
        size_t expired_undecided; /* EXPIRED without a decision of any group */
} bl_pilot_domain_t;

typedef struct bl_pilot_report_s {
        bl_pilot_domain_t *domains; /* by name; only domains with an agent */
        size_t domain_count;
        size_t transitions; /* folded */
        size_t in_window;   /* of those, in the window */
        int64_t first_ms;   /* of the transitions in the window; BL_NO_TIME when none */
        int64_t last_ms;
} bl_pilot_report_t;

void bl_pilot_report_free(bl_pilot_report_t *report);

typedef struct bl_pilot_s bl_pilot_t;

/**
 * A fold counting transitions at or after @p since_ms and before
 * @p until_ms (BL_NO_TIME: no bound). NULL when out of memory.
 */
bl_pilot_t *bl_pilot_new(int64_t since_ms, int64_t until_ms);
void bl_pilot_destroy(bl_pilot_t *pilot);

/**
 * A fold for the live metrics (pipeline/observe.c): no window, and no list
 * of waits kept (each wait is handed out in the effect instead), so that
 * its memory is the tasks it follows and a few counters per row. NULL when
 * out of memory.
 */
bl_pilot_t *bl_pilot_new_live(void);

/**
 * One transition with the item after it (NULL when the record has none:
 * the domain and the deadline are then the task's last known), in its
 * task's order. BL_ERR_NOMEM when out of memory.
 */
bl_err_t bl_pilot_fold(bl_pilot_t *pilot, const bl_transition_t *transition, const bl_item_t *item_after);

/** What one transition counted, for the caller's metrics. Labels are the rows' (the fold's, until destroyed). */
typedef struct bl_pilot_effect_s {
        const char *domain;          /* the task's domain; NULL: nothing counted */
        const char *dispatch_label;  /* a dispatch decided by this row; NULL: none */
        int64_t wait_ms;             /* its wait since READY; -1: unknown */
        const char *attempt_label;   /* attempt 1 ended, decided by this row; NULL: none */
        bool attempt_succeeded;      /* it ended COMPLETED */
        const char *miss_label;      /* a deadline miss counted in this row; NULL: none */
        bool expired_undecided;      /* an EXPIRED task no row decided */
} bl_pilot_effect_t;

/**
 * bl_pilot_fold, saying in @p effect what it counted. With @p track false
 * a task the fold does not follow yet is left alone (no entry made): the
 * live metrics follow only the tasks of domains with an agent; a
 * transition naming decided_by, or with cause "agent", is followed anyway.
 */
bl_err_t bl_pilot_fold_effect(bl_pilot_t *pilot, const bl_transition_t *transition, const bl_item_t *item_after,
                              bool track, bl_pilot_effect_t *effect);

/**
 * Forgets every task whose last item was in @p partition (its partition
 * was revoked: another instance follows them now); returns how many.
 * O(tasks followed).
 */
size_t bl_pilot_forget_partition(bl_pilot_t *pilot, int32_t partition);

/** How many tasks the fold follows now (those not ended). */
size_t bl_pilot_tracked(const bl_pilot_t *pilot);

/** The report of what was folded; free it with bl_pilot_report_free. BL_ERR_NOMEM. */
bl_err_t bl_pilot_report(const bl_pilot_t *pilot, bl_pilot_report_t *report);

#endif
