/*
 * client.h: consultations of the domains' decision agents (SPEC §13,
 * docs/agents.md) on a thread of their own, so that the pipeline thread
 * never waits for an agent.
 *
 * The pipeline thread (or any one thread that owns the client) calls:
 *
 *   bl_agent_client_consult   encodes the request and queues it; returns at
 *                             once (microseconds: measured by
 *                             tests/unit/test_agent_client.c)
 *   bl_agent_client_poll      hands over one finished consultation, or NULL;
 *                             never waits
 *
 * The client's thread runs every consultation at once on one curl multi
 * handle: POST of the request's JSON to the agent's url, the answer bounded
 * by the agent's timeout_ms and max_response_bytes, no redirect followed,
 * the server's certificate verified (ca_location, or the system's CAs), a
 * client certificate for mutual TLS, a bearer token read from the
 * environment variable the policy names. It decodes the answer there too
 * (agent/answer.h), so that the pipeline gets plain data. Every way a
 * consultation can end is an outcome with a result and a reason: nothing
 * crashes, nothing waits past timeout_ms.
 */
#ifndef BL_AGENT_CLIENT_H
#define BL_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/agent.h"

/** How a consultation ended. */
typedef enum {
        BL_AGENT_ANSWERED = 0, /* a 2xx answer, decoded and valid: outcome->answer holds it */
        BL_AGENT_TIMEOUT,      /* nothing whole within timeout_ms (connect included) */
        BL_AGENT_HTTP_ERROR,   /* HTTP 4xx or 5xx (or 1xx and other non-2xx, non-3xx) */
        BL_AGENT_REDIRECT,     /* HTTP 3xx: redirects are never followed */
        BL_AGENT_TLS,          /* the TLS handshake or the certificate check failed */
        BL_AGENT_UNREACHABLE,  /* no HTTP answer: DNS, connect refused, reset, empty reply */
        BL_AGENT_TOO_LARGE,    /* the body passed max_response_bytes (read no further) */
        BL_AGENT_MALFORMED,    /* a 2xx body that is not JSON */
        BL_AGENT_INVALID,      /* JSON that response-v1 does not allow, or another consultation's */
        BL_AGENT_CANCELLED,    /* the client was destroyed first */
        BL_AGENT_INTERNAL,     /* out of memory, or libcurl refused an option */
        BL_AGENT_RESULT__COUNT
} bl_agent_result_t;

/** "answered", "timeout", "http_error", "redirect", "tls", "unreachable", "too_large", "malformed", "invalid",
 *  "cancelled", "internal" (static): the outcome label of metrics and logs. */
const char *bl_agent_result_name(bl_agent_result_t result);

/** Whether @p result counts as a failure for the agent's breaker (everything but ANSWERED and CANCELLED). */
bool bl_agent_result_is_failure(bl_agent_result_t result);

/**
 * One finished consultation, the caller's once bl_agent_client_poll handed
 * it over: free it with bl_agent_outcome_destroy.
 */
typedef struct bl_agent_outcome_s {
        char *domain;
        char *consultation_id;
        bl_agent_result_t result;
        long http_status;       /* 0 when no HTTP answer came */
        int64_t sent_at_ms;     /* the request's now_ms: holds count from here */
        int64_t latency_ms;     /* from bl_agent_client_consult to the end, monotonic */
        char reason[256];       /* what happened, for logs; "" when ANSWERED */
        char **candidate_ids;   /* the task ids sent, in the request's order */
        size_t candidate_count;
        bl_agent_answer_t answer; /* with ANSWERED only; else empty */
} bl_agent_outcome_t;

void bl_agent_outcome_destroy(bl_agent_outcome_t *outcome);

typedef struct bl_agent_client_s bl_agent_client_t;

/** What the client has done; counters only grow. */
typedef struct bl_agent_client_stats_s {
        uint64_t consulted;                          /* queued by bl_agent_client_consult */
        uint64_t refused;                            /* refused by it (full, bad request, no token) */
        uint64_t results[BL_AGENT_RESULT__COUNT];    /* finished, by result */
} bl_agent_client_stats_t;

/**
 * A client and its thread. At most @p max_outstanding consultations (0:
 * 64) are queued, in flight or finished and not yet polled at any time.
 * NULL with errstr when libcurl or the thread cannot start.
 */
bl_agent_client_t *bl_agent_client_new(size_t max_outstanding, char *errstr, size_t errstr_size);

/**
 * Cancels what is in flight (each ends as CANCELLED and is freed with the
 * rest), stops and joins the thread: returns within milliseconds whatever
 * the agents do. NULL: no-op.
 */
void bl_agent_client_destroy(bl_agent_client_t *client);

/**
 * Queues the consultation @p request to the agent @p agent (the domain's,
 * from the running policy). What it needs is copied before it returns: the
 * request's JSON, the agent's url and TLS settings, the token; the policy
 * may be replaced at once. Never waits for the network:
 *   BL_OK               queued; its outcome comes from bl_agent_client_poll
 *   BL_ERR_UNAVAILABLE  max_outstanding reached: the policy decides this round
 *   BL_ERR_INVALID_ARG  a request that cannot go out (bl_agent_request_encode)
 *   BL_ERR_CONFIG       the agent's token_env names a variable that is not set
 *   BL_ERR_NOMEM
 * One thread at a time with bl_agent_client_poll (the pipeline's).
 */
bl_err_t bl_agent_client_consult(bl_agent_client_t *client, const bl_agent_policy_t *agent,
                                 const bl_agent_request_t *request, char *errstr, size_t errstr_size);

/** The next finished consultation (the caller's), or NULL when none has finished. Never waits. */
bl_agent_outcome_t *bl_agent_client_poll(bl_agent_client_t *client);

/** Consultations queued, in flight or finished and not yet polled. */
size_t bl_agent_client_outstanding(bl_agent_client_t *client);

/** A copy of the counters; any thread. */
bl_agent_client_stats_t bl_agent_client_stats(bl_agent_client_t *client);

#endif
