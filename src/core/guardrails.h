/*
 * guardrails.h: what of an agent's answer applies (SPEC §13). backlogd
 * never trusts the agent: given the candidates it sent, what the backlog
 * says of each of them now, and the round's credit and quota, this decides
 * which parts of the answer apply and refuses the rest, each refusal with
 * its reason, counted. Pure: no clock but the caller's, no I/O.
 *
 * The pipeline calls it at the dispatch round after the answer came in:
 *   - escalations: each accepted one sends the task to BLOCKED awaiting
 *     approval, with the agent's reason;
 *   - holds: each accepted one keeps the task back until until_ms;
 *   - order: the accepted picks go out first, in this order (at most the
 *     round's credit within the quota); the domain's remaining credit goes to
 *     the policy's order, which also decides every task the answer leaves out.
 */
#ifndef BL_GUARDRAILS_H
#define BL_GUARDRAILS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/agent.h"
#include "core/item.h"

/** Why a part of an answer was refused. */
typedef enum {
        BL_REFUSAL_NOT_SENT = 0,       /* an id that was not a candidate of this consultation */
        BL_REFUSAL_DUPLICATE,          /* a task the answer already named (in any part) */
        BL_REFUSAL_GONE,               /* sent, but the backlog no longer holds it */
        BL_REFUSAL_NOT_READY,          /* no longer READY (dispatched, cancelled, blocked since) */
        BL_REFUSAL_NEEDS_APPROVAL,     /* waits for an APPROVED event */
        BL_REFUSAL_DEPENDENCIES,       /* a dependency has not completed */
        BL_REFUSAL_NOT_BEFORE,         /* its not_before is still ahead */
        BL_REFUSAL_PAST_CREDIT,        /* ordered beyond the domain's credit of the round */
        BL_REFUSAL_PAST_QUOTA,         /* ordered beyond the domain's quota of the round */
        BL_REFUSAL_HOLD_TOO_LONG,      /* hold_ms above the agent's hold_max_ms */
        BL_REFUSAL_HOLD_PAST_DEADLINE, /* the hold would end after the deadline minus deadline_margin_ms */
        BL_REFUSAL_TOO_MANY_HELD,      /* more holds than max_held_share of the candidates sent */
        BL_REFUSAL__COUNT
} bl_refusal_t;

/** "not_sent", "duplicate", "gone", ... (static): the reason label of the metrics and logs. */
const char *bl_refusal_name(bl_refusal_t reason);

/** The three parts of an answer. */
typedef enum { BL_AGENT_PART_ORDER = 0, BL_AGENT_PART_HOLD, BL_AGENT_PART_ESCALATION } bl_agent_part_t;

/** "order", "hold", "escalation" (static). */
const char *bl_agent_part_name(bl_agent_part_t part);

/**
 * What the backlog says of one candidate sent, at the round the answer is
 * applied. The caller fills one per candidate, in the order they were sent.
 */
typedef struct bl_guardrail_fact_s {
        const char *task_id;       /* borrowed */
        bool known;                /* the backlog still holds the task */
        bool ready;                /* it is READY */
        bool needs_approval;       /* it waits for APPROVED */
        bool dependencies_pending; /* a task it depends on has not completed */
        int64_t not_before_ms;     /* BL_NO_TIME when unset */
        int64_t deadline_ms;       /* BL_NO_TIME when unset */
} bl_guardrail_fact_t;

/**
 * The fact of the candidate @p task_id from @p item, the backlog's item of
 * that id now (NULL: the backlog no longer holds it). Borrows @p task_id.
 */
bl_guardrail_fact_t bl_guardrail_fact_of(const char *task_id, const bl_item_t *item);

/** The round the answer applies to. */
typedef struct bl_guardrail_round_s {
        int64_t now_ms;       /* holds count from the consultation's now_ms (below), deadlines from this */
        int64_t sent_at_ms;   /* the request's now_ms */
        size_t credit;        /* dispatches the domain may make in this round */
        size_t quota;         /* the domain's quota of the round (bl_policy_quota); SIZE_MAX: none */
} bl_guardrail_round_t;

/** An accepted pick: candidate index (into the facts), the agent's rank (1 first) and reason (borrowed). */
typedef struct bl_guardrail_pick_s {
        size_t candidate;
        uint32_t rank;
        const char *reason;
} bl_guardrail_pick_t;

/** An accepted hold: keep the candidate back until until_ms. */
typedef struct bl_guardrail_hold_s {
        size_t candidate;
        int64_t until_ms;
        const char *reason;
} bl_guardrail_hold_t;

/** An accepted escalation: the candidate goes to BLOCKED awaiting approval with this reason. */
typedef struct bl_guardrail_escalation_s {
        size_t candidate;
        const char *reason;
} bl_guardrail_escalation_t;

/** A refused part: which, its position in that part of the answer, the task it named (borrowed), why. */
typedef struct bl_guardrail_refusal_s {
        bl_agent_part_t part;
        size_t index;
        const char *task_id;
        bl_refusal_t reason;
} bl_guardrail_refusal_t;

/**
 * What applies of one answer. Strings are borrowed from the answer: the
 * result must not outlive it. Free with bl_guardrail_result_clear.
 */
typedef struct bl_guardrail_result_s {
        bl_guardrail_pick_t *order;
        size_t order_count;
        bl_guardrail_hold_t *holds;
        size_t hold_count;
        bl_guardrail_escalation_t *escalations;
        size_t escalation_count;
        bl_guardrail_refusal_t *refusals;
        size_t refusal_count;
        uint32_t refused[BL_REFUSAL__COUNT]; /* refusal_count by reason */
} bl_guardrail_result_t;

/**
 * Applies the guardrails of @p agent (hold_max_ms, max_held_share,
 * deadline_margin_ms) and of the round to @p answer, whose consultation sent
 * the @p fact_count candidates described by @p facts. Each task may be named
 * once: escalations are judged first, then holds, then the order, and a task
 * named again is a duplicate. A part is refused for the first of these that
 * holds: not sent, duplicate, gone, not READY; then for an escalation
 * nothing more; for a hold: longer than hold_max_ms, ending past the
 * deadline minus deadline_margin_ms, more holds than floor(max_held_share ×
 * candidates sent); for a pick: waiting for approval, dependencies, before
 * not_before, beyond the quota, beyond the credit. Fills @p out (zeroed
 * first). False only when out of memory (@p out is then empty).
 */
bool bl_guardrails_apply(const bl_agent_policy_t *agent, const bl_guardrail_round_t *round,
                         const bl_guardrail_fact_t *facts, size_t fact_count, const bl_agent_answer_t *answer,
                         bl_guardrail_result_t *out);

/** Frees what @p result holds and zeroes it. NULL is a no-op. */
void bl_guardrail_result_clear(bl_guardrail_result_t *result);

#endif
