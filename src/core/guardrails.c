/*
 * guardrails.c: which parts of an agent's answer apply (guardrails.h).
 *
 * The candidates sent are indexed by task_id once (sorted indices, binary
 * search), so that an answer of a thousand entries over five hundred
 * candidates costs about 10^4 comparisons, not 5 × 10^5. Each candidate has
 * one "named" mark: the first part of the answer that names a task claims
 * it, whatever the verdict, and any later mention is a duplicate, so that an
 * agent that says "hold X" and "X first" gets neither read as the other.
 *
 * Escalations are judged first, then holds, then the order: the cautious
 * parts before the one that dispatches. Accepted picks stop at the round's
 * credit within its quota; the rest of the order is refused as past_credit
 * or past_quota (the policy's order takes them up again later).
 *
 * Pure C, no allocation beyond the result and one index; any thread.
 */
#include "core/guardrails.h"

#include <stdlib.h>
#include <string.h>


static const char *const refusal_names[BL_REFUSAL__COUNT] = {
        "not_sent",       "duplicate",    "gone",         "not_ready",          "needs_approval", "dependencies",
        "not_before",     "past_credit",  "past_quota",   "hold_too_long",      "hold_past_deadline",
        "too_many_held",
};

static const char *const part_names[] = {"order", "hold", "escalation"};

const char *bl_refusal_name(bl_refusal_t reason) {
        return (unsigned)reason < BL_REFUSAL__COUNT ? refusal_names[reason] : "?";
}

const char *bl_agent_part_name(bl_agent_part_t part) {
        return (unsigned)part < sizeof(part_names) / sizeof(part_names[0]) ? part_names[part] : "?";
}

void bl_guardrail_result_clear(bl_guardrail_result_t *result) {
        if (!result)
                return;
        free(result->order);
        free(result->holds);
        free(result->escalations);
        free(result->refusals);
        memset(result, 0, sizeof(*result));
}

bl_guardrail_fact_t bl_guardrail_fact_of(const char *task_id, const bl_item_t *item) {
        if (!item)
                return (bl_guardrail_fact_t){.task_id = task_id, .not_before_ms = BL_NO_TIME, .deadline_ms = BL_NO_TIME};
        return (bl_guardrail_fact_t){
                .task_id = task_id,
                .known = !item->placeholder,
                .ready = item->state == BL_STATE_READY,
                .needs_approval = item->approval_required && !item->approved,
                .dependencies_pending = bl_item_cold(item)->pending_deps.count > 0,
                .not_before_ms = item->not_before_ms,
                .deadline_ms = item->deadline_ms,
        };
}

/* ---- the candidates by task_id ----------------------------------------------------------- */

/* One candidate in the index: its task_id and where it is among the facts. */
typedef struct indexed_s {
        const char *task_id;
        size_t candidate;
} indexed_t;

typedef struct judge_s {
        const bl_agent_policy_t *agent;
        const bl_guardrail_round_t *round;
        const bl_guardrail_fact_t *facts;
        size_t fact_count;
        indexed_t *by_id; /* the candidates sorted by task_id */
        bool *named;    /* per candidate: a part of the answer named it already */
        size_t holds_allowed;
        size_t picks_allowed;
        bl_guardrail_result_t *out;
} judge_t;

static int by_task_id(const void *a, const void *b) {
        return strcmp(((const indexed_t *)a)->task_id, ((const indexed_t *)b)->task_id);
}

/* The index of the candidate named @p task_id, or SIZE_MAX when none was sent with it. */
static size_t find_candidate(const judge_t *judge, const char *task_id) {
        size_t low = 0, high = judge->fact_count;
        while (low < high) {
                size_t middle = low + (high - low) / 2;
                int order = strcmp(judge->by_id[middle].task_id, task_id);
                if (order == 0)
                        return judge->by_id[middle].candidate;
                if (order < 0)
                        low = middle + 1;
                else
                        high = middle;
        }
        return SIZE_MAX;
}

/* ---- verdicts ------------------------------------------------------------------------------ */

/* What every part must pass: sent, named once, still known and READY. BL_REFUSAL__COUNT: passed. */
static bl_refusal_t common_refusal(judge_t *judge, const char *task_id, size_t *candidate) {
        *candidate = find_candidate(judge, task_id);
        if (*candidate == SIZE_MAX)
                return BL_REFUSAL_NOT_SENT;
        if (judge->named[*candidate])
                return BL_REFUSAL_DUPLICATE;
        judge->named[*candidate] = true;
        const bl_guardrail_fact_t *fact = &judge->facts[*candidate];
        if (!fact->known)
                return BL_REFUSAL_GONE;
        if (!fact->ready)
                return BL_REFUSAL_NOT_READY;
        return BL_REFUSAL__COUNT;
}

static bl_refusal_t hold_refusal(const judge_t *judge, const bl_guardrail_fact_t *fact, int64_t hold_ms,
                                 int64_t until_ms) {
        if (hold_ms > judge->agent->hold_max_ms)
                return BL_REFUSAL_HOLD_TOO_LONG;
        if (fact->deadline_ms != BL_NO_TIME && until_ms > fact->deadline_ms - judge->agent->deadline_margin_ms)
                return BL_REFUSAL_HOLD_PAST_DEADLINE;
        if (judge->out->hold_count >= judge->holds_allowed)
                return BL_REFUSAL_TOO_MANY_HELD;
        return BL_REFUSAL__COUNT;
}

static bl_refusal_t pick_refusal(const judge_t *judge, const bl_guardrail_fact_t *fact) {
        if (fact->needs_approval)
                return BL_REFUSAL_NEEDS_APPROVAL;
        if (fact->dependencies_pending)
                return BL_REFUSAL_DEPENDENCIES;
        if (fact->not_before_ms != BL_NO_TIME && fact->not_before_ms > judge->round->now_ms)
                return BL_REFUSAL_NOT_BEFORE;
        if (judge->out->order_count >= judge->picks_allowed)
                return judge->round->quota < judge->round->credit ? BL_REFUSAL_PAST_QUOTA : BL_REFUSAL_PAST_CREDIT;
        return BL_REFUSAL__COUNT;
}

static void refuse(judge_t *judge, bl_agent_part_t part, size_t index, const char *task_id, bl_refusal_t reason) {
        judge->out->refusals[judge->out->refusal_count++] =
                (bl_guardrail_refusal_t){.part = part, .index = index, .task_id = task_id, .reason = reason};
        judge->out->refused[reason]++;
}

static void judge_escalations(judge_t *judge, const bl_agent_answer_t *answer) {
        for (size_t i = 0; i < answer->escalation_count; i++) {
                const bl_agent_escalation_t *escalation = &answer->escalations[i];
                size_t candidate;
                bl_refusal_t reason = common_refusal(judge, escalation->task_id, &candidate);
                if (reason != BL_REFUSAL__COUNT)
                        refuse(judge, BL_AGENT_PART_ESCALATION, i, escalation->task_id, reason);
                else
                        judge->out->escalations[judge->out->escalation_count++] =
                                (bl_guardrail_escalation_t){.candidate = candidate, .reason = escalation->reason};
        }
}

static void judge_holds(judge_t *judge, const bl_agent_answer_t *answer) {
        for (size_t i = 0; i < answer->hold_count; i++) {
                const bl_agent_hold_t *hold = &answer->holds[i];
                int64_t until_ms = judge->round->sent_at_ms + hold->hold_ms;
                size_t candidate;
                bl_refusal_t reason = common_refusal(judge, hold->task_id, &candidate);
                if (reason == BL_REFUSAL__COUNT)
                        reason = hold_refusal(judge, &judge->facts[candidate], hold->hold_ms, until_ms);
                if (reason != BL_REFUSAL__COUNT)
                        refuse(judge, BL_AGENT_PART_HOLD, i, hold->task_id, reason);
                else
                        judge->out->holds[judge->out->hold_count++] = (bl_guardrail_hold_t){
                                .candidate = candidate, .until_ms = until_ms, .reason = hold->reason};
        }
}

static void judge_order(judge_t *judge, const bl_agent_answer_t *answer) {
        for (size_t i = 0; i < answer->order_count; i++) {
                const bl_agent_pick_t *pick = &answer->order[i];
                size_t candidate;
                bl_refusal_t reason = common_refusal(judge, pick->task_id, &candidate);
                if (reason == BL_REFUSAL__COUNT)
                        reason = pick_refusal(judge, &judge->facts[candidate]);
                if (reason != BL_REFUSAL__COUNT)
                        refuse(judge, BL_AGENT_PART_ORDER, i, pick->task_id, reason);
                else
                        judge->out->order[judge->out->order_count++] = (bl_guardrail_pick_t){
                                .candidate = candidate, .rank = (uint32_t)(i + 1), .reason = pick->reason};
        }
}

/* ---- the whole answer ---------------------------------------------------------------------- */

static bool allocate_result(bl_guardrail_result_t *out, const bl_agent_answer_t *answer) {
        size_t parts = answer->order_count + answer->hold_count + answer->escalation_count;
        out->order = calloc(answer->order_count ? answer->order_count : 1, sizeof(*out->order));
        out->holds = calloc(answer->hold_count ? answer->hold_count : 1, sizeof(*out->holds));
        out->escalations = calloc(answer->escalation_count ? answer->escalation_count : 1, sizeof(*out->escalations));
        out->refusals = calloc(parts ? parts : 1, sizeof(*out->refusals));
        return out->order && out->holds && out->escalations && out->refusals;
}

bool bl_guardrails_apply(const bl_agent_policy_t *agent, const bl_guardrail_round_t *round,
                         const bl_guardrail_fact_t *facts, size_t fact_count, const bl_agent_answer_t *answer,
                         bl_guardrail_result_t *out) {
        judge_t judge = {.agent = agent, .round = round, .facts = facts, .fact_count = fact_count, .out = out};
        memset(out, 0, sizeof(*out));
        judge.by_id = malloc((fact_count ? fact_count : 1) * sizeof(*judge.by_id));
        judge.named = calloc(fact_count ? fact_count : 1, sizeof(*judge.named));
        if (!judge.by_id || !judge.named || !allocate_result(out, answer)) {
                free(judge.by_id);
                free(judge.named);
                bl_guardrail_result_clear(out);
                return false;
        }
        for (size_t i = 0; i < fact_count; i++)
                judge.by_id[i] = (indexed_t){.task_id = facts[i].task_id, .candidate = i};
        qsort(judge.by_id, fact_count, sizeof(*judge.by_id), by_task_id);
        judge.holds_allowed = (size_t)(agent->max_held_share * (double)fact_count + 1e-9);
        judge.picks_allowed = round->credit < round->quota ? round->credit : round->quota;

        judge_escalations(&judge, answer);
        judge_holds(&judge, answer);
        judge_order(&judge, answer);
        free(judge.by_id);
        free(judge.named);
        return true;
}
