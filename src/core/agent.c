/*
 * agent.c: the plain data of a consultation (core/agent.h): a candidate
 * made from a backlog item, an unknown context, freeing a decoded
 * answer, and the fallback a policy decision records in a domain with an
 * agent. Pure C; any thread (an item only while its owner does not change
 * it).
 */
#include "core/agent.h"

#include <stdlib.h>
#include <string.h>

void bl_agent_candidate_of(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                           const bl_capacity_t *capacity, bl_criterion_t rationale[BL_POLICY_CRITERIA],
                           bl_agent_candidate_t *out) {
        const bl_policy_t *chosen = NULL;
        const bl_item_cold_t *cold = bl_item_cold(item);
        int32_t max_attempts = item->max_attempts;
        if (max_attempts <= 0)
                max_attempts = bl_policy_domain(policy, item->kind ? item->kind->domain : NULL)->max_attempts;
        *out = (bl_agent_candidate_t){
                .task_id = item->task_id,
                .attempt = item->attempt + 1,
                .max_attempts = max_attempts,
                .task_type = item->kind ? item->kind->task_type : NULL,
                .tenant = item->kind ? item->kind->tenant : NULL,
                .business_value = item->business_value,
                .risk = item->risk,
                .deadline_ms = item->deadline_ms,
                .data_ready_at_ms = item->data_ready_at_ms,
                .ready_since_ms = item->ready_since_ms,
                .labels = cold->labels.count ? &cold->labels : NULL,
                .rationale = rationale,
                .payload = item->has_payload ? item->payload : NULL,
                .payload_size = item->has_payload ? item->payload_size : 0,
        };
        out->score = bl_policy_score_task_with(policy, item, now_ms, capacity, rationale, &chosen);
        out->policy_label = chosen ? bl_policy_label(chosen) : NULL;
}

bl_agent_context_t bl_agent_context_unknown(void) {
        return (bl_agent_context_t){
                .credit = -1,
                .lag = -1,
                .throttled = false,
                .breaker = NULL,
                .ready = -1,
                .in_flight = -1,
                .throughput_per_s = -1,
                .drain_ms = -1,
                .recent_failure_rate = -1,
        };
}

void bl_agent_answer_clear(bl_agent_answer_t *answer) {
        if (!answer)
                return;
        for (size_t i = 0; i < answer->order_count; i++) {
                free(answer->order[i].task_id);
                free(answer->order[i].reason);
        }
        for (size_t i = 0; i < answer->hold_count; i++) {
                free(answer->holds[i].task_id);
                free(answer->holds[i].reason);
        }
        for (size_t i = 0; i < answer->escalation_count; i++) {
                free(answer->escalations[i].task_id);
                free(answer->escalations[i].reason);
        }
        free(answer->order);
        free(answer->holds);
        free(answer->escalations);
        free(answer->agent_name);
        free(answer->agent_version);
        free(answer->label);
        memset(answer, 0, sizeof(*answer));
}

const char *bl_agent_fallback(bool in_pilot, bool refused, const bl_agent_round_state_t *state) {
        if (!in_pilot)
                return "control";
        if (refused)
                return "refused";
        if (state->answer_applied)
                return "not_in_answer";
        if (state->breaker_open)
                return "breaker_open";
        if (state->last == BL_AGENT_LAST_TIMEOUT)
                return "timeout";
        if (state->last == BL_AGENT_LAST_FAILED)
                return "failed";
        return "not_answered";
}
