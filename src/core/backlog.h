/*
 * backlog.h: every task an instance owns, the state machine of SPEC §3, and
 * the timers that move tasks without input. Pure C: no Kafka handle. Input
 * arrives as TaskEvents and dependency notices; what the backlog decides
 * leaves through a sink of callbacks (transitions with snapshots, dispatch
 * decisions, notices, dead letters, purges), which the pipeline turns into
 * records of one transaction and the tests simply record.
 *
 *   SUBMITTED -> QUEUED -> READY | BLOCKED (dependency, not_before, approval)
 *   BLOCKED -> READY                     when the last reason to wait goes
 *   READY -> DISPATCHED -> RUNNING -> COMPLETED | FAILED
 *   DISPATCHED | RUNNING -> FAILED       lease expired (no STARTED/HEARTBEAT in time)
 *   FAILED -> RETRY_WAIT -> READY        back-off with full jitter
 *   FAILED -> DEAD                       last attempt, or not retryable (DLQ retries.exhausted)
 *   FAILED -> BLOCKED                    ... unless a remediation rule takes it: it waits on a new
 *                                        remediation task, and runs again (a new series of attempts)
 *                                        when that one COMPLETED (SPEC §14)
 *   RUNNING -> FAILED                    running past its max_runtime_ms (runtime_exceeded), heartbeats or not
 *   QUEUED | BLOCKED | READY | RETRY_WAIT -> EXPIRED   deadline passed (DLQ deadline.expired)
 *   any non-terminal -> CANCELLED
 *   any non-terminal -> DEAD             given up: its own change cannot be written (DLQ processing.failed)
 *   terminal: COMPLETED, DEAD, CANCELLED, EXPIRED; purged after the retention period
 *
 * A terminal task keeps only what de-duplication needs (bl_item_trim) once
 * its full snapshot has gone to the sink. A task id is remembered for
 * retention_ms after its end (or its submission's occurred_at, if later);
 * then it is purged, and a SUBMITTED for it stamped at or before the forget
 * horizon is refused: the same (task_id, attempt) is never dispatched twice,
 * across restarts too (bl_backlog_forgotten_through).
 */
#ifndef BL_BACKLOG_H
#define BL_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frozen.h"
#include "core/item.h"
#include "core/reason.h"
#include "core/task_event.h"

/** One criterion of a score, for the rationale of a dispatch. */
typedef struct bl_criterion_s {
        const char *name;
        double raw;
        double normalised;
        double weight;
        double contribution;
} bl_criterion_t;

/** Where an input event came from (for the Transition's source fields). */
typedef struct bl_event_origin_s {
        const char *topic;
        int32_t partition;
        int64_t offset;
        const char *traceparent; /* NULL when the record had none */
} bl_event_origin_t;

/**
 * Who decided a change beyond the policy's usual order, for the audit
 * (SPEC §13, §14): Transition v2 and DispatchDecision v2 carry these
 * fields, each null when unset.
 */
typedef struct bl_provenance_s {
        const char *decided_by;          /* agent name@version, or "policy"; NULL: not a pilot decision */
        const char *fallback;            /* decided_by "policy" for a pilot task: why not the agent (timeout, ...) */
        int32_t agent_rank;              /* in the agent's order, 1 first; 0: none */
        const char *agent_reason;        /* the agent's reason for this task; NULL: none */
        const char *consultation_id;     /* the consultation the decision came from; NULL: none */
        int64_t consultation_latency_ms; /* of that consultation; -1: none */
        bool late;                       /* dispatched past its deadline (on_deadline dispatch_late) */
        bool probe;                      /* a probe of its domain's half-open breaker (SPEC §14) */
} bl_provenance_t;

/** A provenance with nothing set: every string NULL, no rank, latency -1. */
bl_provenance_t bl_provenance_none(void);

/** Whether @p provenance (NULL allowed) sets any field. */
bool bl_provenance_is_set(const bl_provenance_t *decision);

/** A state change, as recorded in backlog.transitions. Borrowed for the sink call. */
typedef struct bl_transition_s {
        const char *task_id;
        int64_t seq;
        bool has_from;
        bl_state_t from;
        bl_state_t to;
        const char *cause;    /* event type, or dispatch, lease_expired, retry_due, deadline, ... */
        const char *reason;   /* NULL, or why when the cause alone does not say */
        const char *event_id; /* NULL when no input event caused it */
        int32_t attempt;
        int64_t at_ms;
        int64_t from_since_ms; /* when the task entered @p from (its state_since before the change); BL_NO_TIME: none */
        int64_t occurred_at_ms;
        const char *dispatch_id;
        const char *policy;   /* name@version, for dispatches */
        bool has_score;
        double score;
        const bl_criterion_t *rationale;
        size_t rationale_count;
        const bl_event_origin_t *origin; /* NULL when no input event caused it */
        bool submission;      /* the change that took the task's submission (its payload goes with it) */
        const char *actor;    /* who asked for it (an operator's event, SPEC §15); NULL: none */
        const bl_provenance_t *provenance; /* NULL: the policy decided as usual, or nothing was decided */
} bl_transition_t;

/** A dispatch decision for dispatch.<domain>. Borrowed for the sink call. */
typedef struct bl_dispatch_s {
        const bl_item_t *item;
        const char *dispatch_id;
        double score;
        const bl_criterion_t *rationale;
        size_t rationale_count;
        const char *policy_name;
        const char *policy_version;
        int64_t decided_at_ms;
        const bl_provenance_t *provenance; /* NULL: the policy decided as usual */
        bool cancel;                   /* a cancellation notice of this dispatch (SPEC §15), not a dispatch */
        const char *actor;             /* with cancel: who cancelled it; NULL: none */
        const char *cancel_reason;     /* with cancel: why; NULL: none */
        int64_t ready_since_ms;        /* when the task became READY (the wait ends at decided_at_ms); 0 or
                                          BL_NO_TIME: not known (a notice, a dispatch not from READY) */
} bl_dispatch_t;

/** A message between the owners of two tasks (backlog.deps, keyed by to_task_id). */
typedef struct bl_notice_s {
        bool is_outcome;      /* false: WAITING (from waits on to); true: OUTCOME (to's dependency from ended) */
        const char *to_task_id;
        const char *from_task_id;
        bl_state_t outcome;   /* with is_outcome */
        int64_t at_ms;
} bl_notice_t;

/** Where the backlog's decisions go. Every callback but submitted must be set; none may fail. */
typedef struct bl_backlog_sink_s {
        /* A change of @p item (already applied): append the transition, write the snapshot. */
        void (*changed)(void *opaque, const bl_transition_t *transition, const bl_item_t *item);
        /* A dispatch decision; with dispatch->cancel, the cancellation notice of the task's last dispatch. */
        void (*dispatched)(void *opaque, const bl_dispatch_t *dispatch);
        void (*notice)(void *opaque, const bl_notice_t *notice);
        /* A task given up (retries.exhausted, deadline.expired, dependency_failed): its submission to the DLQ. */
        void (*dead_letter)(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail);
        /* A terminal task past its retention: tombstone it in backlog.state. */
        void (*purged)(void *opaque, const char *task_id, int32_t partition);
        void *opaque;
        /*
         * Optional (NULL: no remediation): a new task the backlog submits, a remediation task (SPEC §14), as
         * a SUBMITTED TaskEvent to tasks.events keyed by its id, in the same transaction as the change that
         * made it. @p task is a temporary item (partition -1), borrowed for the call.
         */
        void (*submitted)(void *opaque, const bl_item_t *task);
} bl_backlog_sink_t;

#define BL_BACKLOG_MAX_CRITERIA 8

/** Why a task was chosen: filled by the policy for each dispatch. */
typedef struct bl_decision_s {
        const char *policy_name;    /* static or owned by the policy, valid until the next decision */
        const char *policy_version;
        double score;
        bl_criterion_t *criteria;   /* room for BL_BACKLOG_MAX_CRITERIA */
        size_t criteria_count;
} bl_decision_t;

/** What a task's deadline passing before its dispatch does (SPEC §14, the policy's on_deadline). */
typedef enum {
        BL_ON_DEADLINE_EXPIRE = 0,    /* EXPIRED, its submission to the DLQ (deadline.expired) */
        BL_ON_DEADLINE_DISPATCH_LATE, /* dispatched anyway, first of its domain, the decision marked late */
        BL_ON_DEADLINE_ESCALATE,      /* BLOCKED awaiting approval (cause deadline); once APPROVED, as late */
        BL_ON_DEADLINE__COUNT
} bl_on_deadline_t;

/** "expire", "dispatch_late", "escalate" (static); "?" for anything else. */
const char *bl_on_deadline_name(bl_on_deadline_t on_deadline);

/** What the policy says about one task; starts from the options' defaults. */
typedef struct bl_task_settings_s {
        int64_t lease_ms;
        int64_t retry_base_ms;
        int64_t retry_cap_ms;
        int32_t max_attempts;       /* unless the task sets its own */
        bool approval_required;     /* BLOCKED until APPROVED (decided once, at submission) */
        bl_on_deadline_t on_deadline;  /* default expire */
        int64_t decision_deadline_ms;  /* READY this long: dispatched before any task of a better score; 0: never */
        int64_t max_runtime_ms;     /* RUNNING longer than this fails (runtime_exceeded); 0: no bound */
} bl_task_settings_t;

/** Where a task out of retries goes instead of the DLQ (a remediation rule, SPEC §14). */
typedef struct bl_remediation_plan_s {
        const char *domain;    /* of the remediation task; borrowed from the policy */
        const char *task_type; /* of the remediation task */
        int32_t max_rounds;    /* remediations of one task at most; past them it goes DEAD as usual */
} bl_remediation_plan_t;

/*
 * The labels a remediation sets (docs/policy.md). On the failed task, by the backlog itself (the
 * reserved prefix "backlogd.", which no producer may send and no resubmission carries) ...
 */
#define BL_LABEL_REMEDIATION_TASK "backlogd.remediation.task"   /* the remediation task it waits on */
#define BL_LABEL_REMEDIATION_ROUND "backlogd.remediation.round" /* how many remediations it had */
#define BL_LABEL_ATTEMPT_BASE "backlogd.remediation.attempt_base" /* attempts before its current series */
/* ... and in the remediation task's SUBMITTED, for its workers */
#define BL_LABEL_REMEDIATES "remediation.of"                    /* the failed task */
#define BL_LABEL_REMEDIATES_ROUND "remediation.round"           /* which of its remediations */
#define BL_LABEL_REMEDIATES_TYPE "remediation.task_type"        /* its task_type */
#define BL_LABEL_FAILED_ERROR "remediation.error_code"          /* its last error code */

/*
 * The longest id (task_id, event_id, ...) any configuration admits: the
 * maximum of limits.id_max_bytes. A dispatch_id is a task_id, '/' and an
 * attempt number, so it takes up to 12 bytes more.
 */
#define BL_ID_MAX_BYTES 4096
#define BL_DISPATCH_ID_SIZE (BL_ID_MAX_BYTES + 13)

typedef struct bl_backlog_options_s {
        int64_t lease_ms;        /* DISPATCHED/RUNNING without STARTED/HEARTBEAT this long: FAILED */
        int64_t retry_base_ms;   /* back-off before attempt n+1: uniform in [0, min(cap, base * 2^(n-1))] */
        int64_t retry_cap_ms;
        int32_t max_attempts;    /* unless the task says otherwise */
        size_t id_max_bytes;     /* the longest task_id the contract admits (limits.id_max_bytes); 0: BL_ID_MAX_BYTES */
        int64_t retention_ms;    /* terminal tasks stay this long, then are purged; INT64_MAX: never */
        size_t dedup_window;     /* event ids remembered per task */
        uint64_t seed;           /* for the jitter; fixed in tests */

        /* The policy, all optional: without it READY tasks go FIFO under "fifo@1". */
        int64_t rescore_interval_ms; /* full re-score of the READY tasks at most this often (aging, urgency) */
        double (*score)(void *opaque, const bl_item_t *item, int64_t now_ms);
        void (*decide)(void *opaque, const bl_item_t *item, int64_t now_ms, bl_decision_t *decision);
        void (*settings)(void *opaque, const bl_item_t *item, bl_task_settings_t *settings);
        /* Optional: whether a rule remediates @p item, out of retries, instead of the DLQ; fills @p plan. */
        bool (*remediation)(void *opaque, const bl_item_t *item, bl_remediation_plan_t *plan);
        void *policy_opaque;

        /*
         * Optional: where tasks at rest go (core/frozen.h), borrowed for the backlog's life. NULL: every
         * task stays whole in the heap. See bl_backlog_freeze_at_rest.
         */
        const bl_spill_ops_t *spill;
} bl_backlog_options_t;

typedef struct bl_backlog_s bl_backlog_t;

/** A backlog writing to @p sink (copied). NULL when out of memory. */
bl_backlog_t *bl_backlog_new(const bl_backlog_options_t *options, const bl_backlog_sink_t *sink);
void bl_backlog_destroy(bl_backlog_t *backlog);

typedef enum {
        BL_APPLY_CHANGED = 0, /* the event moved or updated its task */
        BL_APPLY_DUPLICATE,   /* its event_id was applied to the task already: nothing changed */
        BL_APPLY_STALE,       /* a result for another attempt: recorded, otherwise ignored */
        BL_APPLY_ILLEGAL,     /* not allowed in the task's state: the caller dead-letters the record */
} bl_apply_result_t;

/**
 * Applies a validated event of partition @p partition at @p now_ms. On
 * BL_APPLY_ILLEGAL, @p detail says why ("STARTED in QUEUED").
 */
bl_apply_result_t bl_backlog_apply_event(bl_backlog_t *backlog, const bl_task_event_t *event, int32_t partition,
                                         const bl_event_origin_t *origin, int64_t now_ms, char *detail,
                                         size_t detail_size);

/** Applies a dependency notice that arrived on partition @p partition. */
void bl_backlog_apply_notice(bl_backlog_t *backlog, const bl_notice_t *notice, int32_t partition, int64_t now_ms);

/** Fires every timer due at @p now_ms (leases, retries, deadlines, not_before, purges); returns how many. */
size_t bl_backlog_advance(bl_backlog_t *backlog, int64_t now_ms);

/**
 * Fires at most @p max of the timers due at @p now_ms, earliest first; returns how many. When
 * @p last_task_id is not NULL it gets the task id of the last one fired (cut to @p size).
 */
size_t bl_backlog_advance_max(bl_backlog_t *backlog, int64_t now_ms, size_t max, char *last_task_id, size_t size);

/**
 * Gives up @p task_id for good because its own change cannot be written (SPEC §6): a live task goes
 * DEAD (cause processing_failed, @p detail as its error) and its submission to the DLQ with reason
 * processing.failed; its dependents hear it failed. A terminal task is purged (tombstoned) at once once
 * its retention is up (its purge timer is the only unit of it that can fail then).
 * With @p remove, the task is only forgotten and tombstoned, nothing else emitted: the last resort
 * when even the DEAD change could not be written. False when the task is unknown, or ended and still
 * within its retention: backlog.state holds its end, so there is nothing to give up, and forgetting it
 * early would let a SUBMITTED sent again after a restart run it twice.
 */
bool bl_backlog_give_up(bl_backlog_t *backlog, const char *task_id, const char *detail, bool remove, int64_t now_ms);

/**
 * Dispatches up to @p max READY tasks of @p domain, or of each domain when
 * @p domain is NULL, best score first (FIFO among equal scores, and
 * altogether without a policy). Returns how many in all.
 */
size_t bl_backlog_dispatch(bl_backlog_t *backlog, const char *domain, size_t max, int64_t now_ms);

/** The provenance of a policy dispatch of @p item: NULL for none. Must not change the backlog. */
typedef const bl_provenance_t *(bl_provenance_fn)(void *opaque, const bl_item_t *item);

/**
 * bl_backlog_dispatch for one domain, each dispatch (transition and
 * decision) with the provenance @p provenance_of gives for its task (NULL:
 * none): the policy's order in a domain whose agent governs a pilot share
 * (SPEC §13), recorded as decided by the policy and why.
 */
size_t bl_backlog_dispatch_with(bl_backlog_t *backlog, const char *domain, size_t max, int64_t now_ms,
                                bl_provenance_fn *provenance_of, void *opaque);

typedef enum {
        BL_DISPATCH_SENT = 0,  /* DISPATCHED, its decision to the sink */
        BL_DISPATCH_NOT_READY, /* unknown, or not READY */
        BL_DISPATCH_BLOCKED,   /* the policy in force wants an approval it lacks: BLOCKED now (cause policy) */
} bl_dispatch_outcome_t;

/**
 * Dispatches the READY task @p task_id now, out of the policy's order, with
 * @p provenance (borrowed for the call; NULL: none) on its transition and
 * decision: an agent's pick that the guardrails accepted (core/guardrails.h).
 * The last approval check of every dispatch applies.
 */
bl_dispatch_outcome_t bl_backlog_dispatch_task(bl_backlog_t *backlog, const char *task_id,
                                               const bl_provenance_t *provenance, int64_t now_ms);

/**
 * The agent's hold (SPEC §13): the READY task @p task_id goes BLOCKED
 * (cause "agent", reason "hold", @p provenance) until @p until_ms, kept as
 * its not_before and marked as the agent's (core/wait.h); the timer brings
 * it back READY then (cause "hold_ended"). The guardrails bound @p until_ms
 * before. False, with nothing changed, when the task is not READY, the
 * hold ends at or before @p now_ms, or memory runs out.
 */
bool bl_backlog_agent_hold(bl_backlog_t *backlog, const char *task_id, int64_t until_ms,
                           const bl_provenance_t *provenance, int64_t now_ms);

/**
 * The agent's escalation (SPEC §13): the READY task @p task_id goes BLOCKED
 * awaiting approval (cause "agent", reason "escalation", @p provenance),
 * marked as the agent's so that no policy re-evaluation lets it go; an
 * APPROVED event releases it as any approval does. False, with nothing
 * changed, when the task is not READY or memory runs out.
 */
bool bl_backlog_agent_escalate(bl_backlog_t *backlog, const char *task_id, const bl_provenance_t *provenance,
                               int64_t now_ms);

/**
 * The best READY tasks of @p domain that @p accept takes (NULL: all), best
 * first, at most @p max into @p out, looking at no more than @p max_visits
 * (bl_scheduler_best): the candidates of a consultation. Borrowed: valid
 * until the backlog changes.
 */
size_t bl_backlog_best_ready(bl_backlog_t *backlog, const char *domain, int64_t now_ms,
                             bool (*accept)(void *opaque, const bl_item_t *item), void *opaque,
                             const bl_item_t **out, size_t max, size_t max_visits);

/**
 * A new policy: asks it again whether each task not yet dispatched needs
 * approval. A READY task that now needs one it lacks goes BLOCKED (cause
 * "policy", reason "approval") until APPROVED; a BLOCKED one keeps waiting
 * for the approval with whatever else it waits for. Returns how many went
 * BLOCKED. O(tasks held): call it when the policy changes, not per batch.
 */
size_t bl_backlog_reevaluate_approvals(bl_backlog_t *backlog, int64_t now_ms);

/** Scores every READY task again (the policy changed, or its inputs did). */
void bl_backlog_rescore(bl_backlog_t *backlog, int64_t now_ms);

/** Whether @p item is among the READY tasks waiting for dispatch. */
bool bl_backlog_is_ready_queued(const bl_backlog_t *backlog, const bl_item_t *item);

/**
 * Takes over @p item, read back from backlog.state, without emitting
 * anything: restore. Replaces an item with the same task_id.
 */
void bl_backlog_restore(bl_backlog_t *backlog, bl_item_t *item);

/**
 * The same for a task at rest read as @p view, an item whose pointers are
 * borrowed (restore reads each snapshot in place: contract/records.h,
 * bl_records_decode_item_view), which the backlog reads and never changes
 * or frees: with a spill store, it goes there straight from the view and
 * only its stub is made, as bl_backlog_restore and a freeze would leave it.
 * False, with nothing taken over, for a task that is not frozen (no store,
 * not at rest) or that the store refused: the caller then hands the whole
 * item to bl_backlog_restore.
 */
bool bl_backlog_restore_view(bl_backlog_t *backlog, const bl_item_t *view);

/** After a run of bl_backlog_restore: scores the restored READY tasks as of @p now_ms. */
void bl_backlog_restore_finish(bl_backlog_t *backlog, int64_t now_ms);

/** Forgets one item without emitting anything (a tombstone read on restore); false if unknown. */
bool bl_backlog_forget(bl_backlog_t *backlog, const char *task_id);

/** Forgets every item of @p partition (revoked, or to restore it again). */
size_t bl_backlog_drop_partition(bl_backlog_t *backlog, int32_t partition);

/** READY tasks of every domain. */
size_t bl_backlog_ready_count(const bl_backlog_t *backlog);

/** READY tasks of @p domain. */
size_t bl_backlog_ready_in(const bl_backlog_t *backlog, const char *domain);

/**
 * The task @p task_id, or NULL. A frozen task is thawed first (read back
 * from the spill store: the backlog changes, though its contents do not),
 * and stays whole until the next bl_backlog_freeze_at_rest.
 */
const bl_item_t *bl_backlog_find(const bl_backlog_t *backlog, const char *task_id);
size_t bl_backlog_size(const bl_backlog_t *backlog);

/**
 * The heap bytes the backlog holds: every item as bl_item_held_bytes counts
 * it (kept up to date on every add, change and removal, so this is O(1)),
 * plus its index, timer heap and scheduler arrays. Input backpressure
 * compares it with backlog.max_memory_bytes.
 */
size_t bl_backlog_memory_bytes(const bl_backlog_t *backlog);

/**
 * The forget horizon: a SUBMITTED for a task the backlog does not hold,
 * whose occurred_at is at or before it, is refused (it may be a task
 * purged already). The latest retention start of any task purged, raised
 * to now - retention_ms by every restore; BL_NO_TIME before either.
 */
int64_t bl_backlog_forgotten_through(const bl_backlog_t *backlog);

/**
 * Calls @p fn for every item, in no particular order; it must not change the
 * backlog. A frozen task is handed as a view of its stub, thawing nothing:
 * its task_id, kind, partition, state, state_since_ms, ready_since_ms
 * (always BL_NO_TIME), timer_due_ms, approval_required, approved and overdue
 * are the task's;
 * every other field is unset (no payload, no event ids, no cold part, the
 * other times BL_NO_TIME, seq and attempts 0). The per-second walks read
 * no more than that; bl_backlog_find gives the whole task.
 */
void bl_backlog_foreach(const bl_backlog_t *backlog, void (*fn)(const bl_item_t *item, void *opaque), void *opaque);

/** The next time a timer is due, or BL_NO_TIME. */
int64_t bl_backlog_next_due(const bl_backlog_t *backlog);

/**
 * Freezes the tasks changed or thawed since the last call that are at rest
 * (bl_frozen_may_freeze): each becomes a stub in the heap and its encoding
 * in the spill store. The caller must hold no pointer to any task across
 * the call: the pipeline calls it once a batch's snapshots are written. A
 * task the store refuses stays whole (counted in freeze_failures, logged
 * once a call) and is tried again when it next changes. Nothing without
 * options.spill. Returns the tasks frozen.
 */
size_t bl_backlog_freeze_at_rest(bl_backlog_t *backlog);

/** The frozen tasks and what freezing has done, for metrics. */
typedef struct bl_backlog_spill_stats_s {
        size_t frozen;             /* tasks held as stubs now */
        uint64_t freezes_total;    /* tasks frozen */
        uint64_t thaws_total;      /* tasks thawed */
        uint64_t freeze_failures_total; /* tasks the store refused, left whole */
} bl_backlog_spill_stats_t;

void bl_backlog_spill_stats(const bl_backlog_t *backlog, bl_backlog_spill_stats_t *out);

/**
 * Calls @p fn with each frozen task's stub, whose bytes' place in the spill
 * store (bl_frozen_spill_offset, bl_frozen_spill_len) a compaction may move
 * (bl_frozen_move). The stubs stay where they are until the backlog next
 * freezes or thaws, so a compaction may gather them in one walk and move
 * them after its copy.
 */
void bl_backlog_foreach_frozen(bl_backlog_t *backlog, void (*fn)(bl_frozen_t *frozen, void *opaque), void *opaque);

#endif
