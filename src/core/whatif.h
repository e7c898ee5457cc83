/*
 * whatif.h: the offline canary of SPEC §9, `backlogd replay --policy`: the
 * recorded history re-scored under a candidate policy, and how dispatch
 * order and waiting times would have changed. Pure C: the command reads
 * backlog.transitions and hands every transition in here, so the unit tests
 * run the same code on hand-built histories.
 *
 * The fold (bl_whatif_fold) cuts each task's history into READY episodes:
 * an episode starts with a transition into READY (its ready_since is the
 * arrival), takes a new version of the fields a score reads at every
 * READY -> READY note (an UPDATED event), and ends with READY -> DISPATCHED
 * (a recorded decision, with its time, score and policy), with READY -> any
 * other state (it left: cancelled, expired), or not at all (still READY
 * when the history ends). An episode is named by the attempt its dispatch
 * has or would have: "task/attempt", as dispatch ids are.
 *
 * The run (bl_whatif_run) replays each domain on its own. The recorded
 * decisions, in time order, are the clock: at each decision time t the
 * candidate picks the best episode of its own READY set by
 * bl_policy_score_task_with at t (deadline_risk reading a capacity estimate
 * rebuilt from the history: bl_whatif_set_capacity_options), through the
 * scheduler that `run` uses
 * (core/scheduler.c: same tie-breaks), re-scored at t, so the counterfactual
 * has the same number of decisions at the same times. Several decisions at
 * the same millisecond are taken one after the other from scores at t.
 *
 * Within one millisecond, offsets tell what came first: a decision and an
 * arrival (an update, a departure) at the same time in the same partition
 * are in the order of their transitions' offsets, as the pipeline made
 * them; in different partitions the order is unknown and the arrival is
 * taken as the earlier. Recorded decisions are ordered by time, then
 * partition and offset: within a partition as made, across partitions at
 * the same millisecond in partition order.
 *
 * The candidate's READY set is what arrived and it has not dispatched yet:
 *   - an episode that follows no dispatch arrives when it did;
 *   - a retry (an episode after a dispatch of the same task) exists only
 *     because that dispatch happened: it arrives as long after the
 *     candidate's dispatch as it did after the recorded one, or never when
 *     the candidate never dispatched the attempt before it;
 *   - an episode leaves when it left the recorded READY set other than by
 *     dispatch (a cancellation, at its recorded time), and when its
 *     deadline passes before the candidate picks it (it would expire, as
 *     the backlog expires a READY task);
 *   - an UPDATED note changes the fields of a waiting episode at its
 *     recorded time; the update is re-scored, as the backlog re-scores it.
 * What this leaves out: dependents unblocked by a completion, credit and
 * quotas, approval, and the scheduler's re-score interval are as recorded;
 * only the order within each domain is re-decided.
 *
 * Results are independent of the order in which partitions were read:
 * everything is ordered by time, then partition and offset, or task_id and
 * attempt.
 *
 * Not thread-safe; one whatif per thread.
 */
#ifndef BL_WHATIF_H
#define BL_WHATIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backlog.h"
#include "core/capacity.h"
#include "core/item.h"
#include "core/policy.h"
#include "base/err.h"

typedef struct bl_whatif_s bl_whatif_t;

/** An empty whatif. NULL when out of memory. */
bl_whatif_t *bl_whatif_new(void);
void bl_whatif_destroy(bl_whatif_t *whatif);

/**
 * Folds the next transition of its task, read at @p partition / @p offset
 * of backlog.transitions; a task's transitions must come in their order
 * (seq), tasks may interleave. @p item_after (the item the transition
 * carries, NULL when it had none) and @p transition are only read: what the
 * run needs is copied. BL_ERR_NOMEM.
 */
bl_err_t bl_whatif_fold(bl_whatif_t *whatif, const bl_transition_t *transition, const bl_item_t *item_after,
                        int32_t partition, int64_t offset);

/** How a READY episode ended in one of the two worlds. */
typedef enum {
        BL_WHATIF_DISPATCHED = 0, /* picked: its wait is READY -> dispatch */
        BL_WHATIF_EXPIRED,        /* its deadline passed first */
        BL_WHATIF_LEFT,           /* left READY otherwise (cancelled, ...) at its recorded time */
        BL_WHATIF_WAITING,        /* still READY when the history ends: its wait is a lower bound */
        BL_WHATIF_NOT_READY,      /* candidate only: a retry of an attempt the candidate never dispatched */
        BL_WHATIF__OUTCOMES
} bl_whatif_outcome_t;

/** "dispatched", "expired", "left", "waiting", "not_ready" (static). */
const char *bl_whatif_outcome_name(bl_whatif_outcome_t outcome);

/** Waiting times READY -> dispatch of the dispatched episodes of one world, in ms. */
typedef struct bl_whatif_waits_s {
        size_t dispatched;              /* episodes dispatched: the count the figures are over */
        double mean_ms;                 /* 0 when none */
        double value_weighted_mean_ms;  /* each wait weighted by the task's business_value; 0 when none */
        int64_t p50_ms, p95_ms, max_ms; /* nearest rank; 0 when none */
        size_t expired;                 /* episodes whose deadline passed in READY */
        size_t left;                    /* episodes that left READY otherwise */
        size_t waiting;                 /* episodes still READY at the end of the history */
} bl_whatif_waits_t;

/** One episode whose wait changed, for the lists of the most changed. Strings borrowed from the whatif. */
typedef struct bl_whatif_move_s {
        const char *task_id;
        int32_t attempt;       /* of its dispatch, recorded or would-be */
        double business_value; /* when it became READY, for the reader */
        bl_whatif_outcome_t recorded_outcome, candidate_outcome;
        /* READY until its outcome (until the end of the history when WAITING: a lower bound). */
        int64_t recorded_wait_ms, candidate_wait_ms;
        int64_t change_ms;        /* candidate - recorded */
        size_t recorded_position; /* 1-based place among the domain's dispatches; 0 when not dispatched */
        size_t candidate_position;
} bl_whatif_move_t;

#define BL_WHATIF_MOVES 5

typedef struct bl_whatif_domain_s {
        const char *domain;         /* borrowed from the whatif */
        size_t episodes;            /* READY episodes recorded */
        size_t decisions;           /* recorded decisions: the times the candidate decides at */
        size_t candidate_decisions; /* decisions the candidate made: fewer when its READY set was empty */
        size_t same_task;           /* decisions at which both picked the same episode */
        size_t both_dispatched;     /* episodes dispatched in both worlds: what tau compares */
        bool has_tau;               /* false with fewer than 2 episodes dispatched by both */
        double kendall_tau;         /* of the two dispatch orders over those episodes: 1 same order, -1 reversed */
        bl_whatif_waits_t recorded, candidate;
        bl_whatif_move_t sooner[BL_WHATIF_MOVES]; /* waits that shrank most, most first */
        size_t sooner_count;
        bl_whatif_move_t later[BL_WHATIF_MOVES]; /* waits that grew most, most first */
        size_t later_count;
} bl_whatif_domain_t;

/** How many recorded decisions one policy label made. */
typedef struct bl_whatif_policy_count_s {
        const char *policy; /* name@version as recorded; borrowed */
        size_t decisions;
} bl_whatif_policy_count_t;

typedef struct bl_whatif_report_s {
        bl_whatif_domain_t *domains; /* by domain name; those with a READY episode */
        size_t domain_count;
        bl_whatif_policy_count_t *recorded_policies; /* by label */
        size_t recorded_policy_count;
        size_t transitions;       /* folded */
        size_t decisions_skipped; /* recorded dispatches whose READY start is not in the history */
        int64_t history_end_ms;   /* the latest transition time, BL_NO_TIME when none */
} bl_whatif_report_t;

/**
 * Replays the folded history under @p candidate (borrowed; its canary, if
 * any, scores its fraction of the tasks as in `run`) and fills @p report,
 * whose strings are borrowed from @p whatif: free it with
 * bl_whatif_report_free before the whatif is destroyed. The folded history
 * is not changed; run may be called again, with another candidate.
 * BL_ERR_NOMEM (the report is then empty).
 */
bl_err_t bl_whatif_run(bl_whatif_t *whatif, const bl_policy_t *candidate, bl_whatif_report_t *report);

/**
 * The capacity estimate the candidate's deadline_risk reads (core/capacity.h):
 * window and minimum samples, as `run` has them in its config (default 60 s,
 * 20). The estimate is rebuilt for each domain from the recorded changes into
 * and out of DISPATCHED and RUNNING, learnt up to each decision time, with the
 * candidate's own READY set as the READY load; runtimes by domain, not by
 * task_type (the episodes keep no task_type). False (nothing changed) when
 * @p options are invalid.
 */
bool bl_whatif_set_capacity_options(bl_whatif_t *whatif, const bl_capacity_options_t *options);

void bl_whatif_report_free(bl_whatif_report_t *report);

#endif
