/*
 * agent.h: what backlogd and a domain's decision agent exchange (SPEC §13,
 * docs/agents.md), as plain data: the candidates and the domain's context
 * that a consultation sends, and the answer that comes back, decoded. The
 * JSON of both (schemas/agent/request-v1.json, response-v1.json) is the
 * agent layer's (src/agent/); core sees no JSON and no network. What of an
 * answer applies is decided by core/guardrails.h.
 *
 * A request borrows everything it points at (the caller's items, for the
 * length of the call that encodes it); an answer owns its strings.
 */
#ifndef BL_AGENT_H
#define BL_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backlog.h" /* bl_criterion_t */
#include "core/policy.h"

/**
 * One READY pilot task sent to the agent: the fields SPEC §13 lists.
 * Times are ms since 1970, BL_NO_TIME when unset. Borrowed: every pointer
 * must stay valid while the request is encoded (bl_agent_client_consult
 * copies what it sends before it returns).
 */
typedef struct bl_agent_candidate_s {
        const char *task_id;
        int32_t attempt;      /* the attempt a dispatch now would be (1 for the first) */
        int32_t max_attempts; /* the task's own, else its domain's */
        const char *task_type;
        const char *tenant; /* NULL when the task has none */
        double business_value;
        double risk;
        int64_t deadline_ms;
        int64_t data_ready_at_ms;
        int64_t ready_since_ms;
        const bl_labels_t *labels; /* NULL: none */
        double score;                                /* by the policy that scores the task */
        const bl_criterion_t *rationale;             /* BL_POLICY_CRITERIA entries, or NULL */
        const char *policy_label;                    /* name@version of that policy */
        const void *payload;                         /* sent only with the agent's send_payload; NULL: none */
        size_t payload_size;
} bl_agent_candidate_t;

/**
 * @p item as a candidate, scored now by the policy that scores it
 * (bl_policy_score_task_with: the canary for its share; @p capacity, which
 * deadline_risk reads, may be NULL): every field borrowed
 * from the item, its kind and @p rationale (BL_POLICY_CRITERIA entries the
 * caller provides and keeps while the candidate is used), the attempt a
 * dispatch now would be (item->attempt + 1), max_attempts the task's own or
 * its domain's. The payload is always pointed at; the encoder sends it only
 * with send_payload.
 */
void bl_agent_candidate_of(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                           const bl_capacity_t *capacity, bl_criterion_t rationale[BL_POLICY_CRITERIA],
                           bl_agent_candidate_t *out);

/** What the domain looks like when the consultation starts. A negative number: unknown, not sent. */
typedef struct bl_agent_context_s {
        int64_t credit;              /* dispatches the domain may still make (SPEC §5) */
        int64_t lag;                 /* of its worker group on dispatch.<domain> */
        bool throttled;              /* at or above max_lag */
        const char *breaker;         /* the domain's worker breaker ("closed", "open", ...), NULL: none */
        int64_t ready;               /* READY tasks of the domain */
        int64_t in_flight;           /* DISPATCHED or RUNNING */
        double throughput_per_s;     /* results per second, recently */
        int64_t drain_ms;            /* the capacity estimate: time to run what is READY */
        double recent_failure_rate;  /* of the domain's attempts, recently, in [0, 1] */
} bl_agent_context_t;

/** A context with every field unknown (negative) and nothing throttled. */
bl_agent_context_t bl_agent_context_unknown(void);

/** One consultation: what bl_agent_client_consult encodes and sends. Borrowed, like its candidates. */
typedef struct bl_agent_request_s {
        const char *domain;
        const char *consultation_id; /* the caller's; 1 to 128 printable characters; the answer must repeat it */
        int64_t now_ms;              /* when it is sent: holds count from here */
        const bl_agent_candidate_t *candidates; /* best first, at most the agent's max_candidates */
        size_t candidate_count;
        bl_agent_context_t context;
} bl_agent_request_t;

/* The bounds of an answer (schemas/agent/response-v1.json says the same). */
#define BL_AGENT_TASK_ID_MAX      1024 /* characters of a task_id in an answer */
#define BL_AGENT_REASON_MAX       1000 /* characters of a reason */
#define BL_AGENT_NAME_MAX         100  /* of agent.name */
#define BL_AGENT_VERSION_MAX      64   /* of agent.version */
#define BL_AGENT_ENTRIES_MAX      1000 /* entries of order, holds, escalations, each */
#define BL_AGENT_HOLD_MS_MAX      ((int64_t)86400000)

/** One place in the agent's order: ranks are positions, 1 first. */
typedef struct bl_agent_pick_s {
        char *task_id;
        char *reason; /* "" when the agent gave none */
} bl_agent_pick_t;

/** A task the agent asks to keep back for hold_ms from the request's now_ms. */
typedef struct bl_agent_hold_s {
        char *task_id;
        int64_t hold_ms;
        char *reason;
} bl_agent_hold_t;

/** A task the agent wants a human to approve first. */
typedef struct bl_agent_escalation_s {
        char *task_id;
        char *reason;
} bl_agent_escalation_t;

/** An answer, decoded and checked against the response schema; owns every string and array. */
typedef struct bl_agent_answer_s {
        char *agent_name;
        char *agent_version;
        char *label; /* agent_name@agent_version: what decided_by records */
        bl_agent_pick_t *order;
        size_t order_count;
        bl_agent_hold_t *holds;
        size_t hold_count;
        bl_agent_escalation_t *escalations;
        size_t escalation_count;
} bl_agent_answer_t;

/** Frees what @p answer holds and zeroes it. NULL is a no-op. */
void bl_agent_answer_clear(bl_agent_answer_t *answer);

/** How the latest finished consultation of a domain ended, for the fallback of the policy's decisions. */
typedef enum {
        BL_AGENT_LAST_NONE = 0, /* none has finished yet */
        BL_AGENT_LAST_ANSWERED, /* a valid answer */
        BL_AGENT_LAST_TIMEOUT,  /* no answer within timeout_ms */
        BL_AGENT_LAST_FAILED,   /* any other failure (HTTP, TLS, malformed, too large, ...) */
} bl_agent_last_t;

/** What a dispatch round of a domain with an agent knows of its agent. */
typedef struct bl_agent_round_state_s {
        bool breaker_open;     /* the agent's breaker lets no consultation out (open, or half-open on trial) */
        bool answer_applied;   /* an answer was applied in this round */
        bl_agent_last_t last;  /* the latest consultation that finished */
} bl_agent_round_state_t;

/**
 * Why the policy, not the agent, decided a task of a domain with an agent
 * (the provenance's fallback, SPEC §13): "control" when the task is not in
 * the pilot; else "refused" when a guardrail refused the agent's part for
 * it (@p refused); else "not_in_answer" when an answer applied in this
 * round left it out; else "breaker_open", "timeout" or "failed" after the
 * breaker or the latest consultation; else "not_answered" (none in yet, or
 * the latest answer was applied in a round before). Static strings.
 */
const char *bl_agent_fallback(bool in_pilot, bool refused, const bl_agent_round_state_t *state);

#endif
