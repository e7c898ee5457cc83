/*
 * agent.c: the plain data of a consultation (core/agent.h): an unknown
 * context, and freeing a decoded answer. Pure C; any thread.
 */
#include "core/agent.h"

#include <stdlib.h>
#include <string.h>

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
