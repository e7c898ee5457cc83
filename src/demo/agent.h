/*
 * agent.h: the demo's decision agent (SPEC §13, docs/agents.md), served in
 * this process on loopback, so that `backlogd demo` shows a pilot governed
 * by an agent that is sometimes slow and sometimes wrong, and what backlogd
 * does about it: consultations by outcome, fallbacks to the policy,
 * refused parts of answers, the agent's breaker.
 */
#ifndef BL_DEMO_AGENT_H
#define BL_DEMO_AGENT_H

#include <stddef.h>
#include <stdint.h>

/** The agent's name and version in its answers, and the decided_by label they make. */
#define BL_DEMO_AGENT_NAME "demo-agent"
#define BL_DEMO_AGENT_VERSION "1"
#define BL_DEMO_AGENT_LABEL "demo-agent@1"

/** What the agent did with the consultations it received; counters only grow. */
typedef struct bl_demo_agent_stats_s {
        uint64_t requests;   /* POSTs received */
        uint64_t answered;   /* a valid answer in time (maybe with parts backlogd refuses) */
        uint64_t slow;       /* a valid answer past the request's timeout_ms (counted when it starts) */
        uint64_t failed;     /* HTTP 500 */
        uint64_t garbage;    /* HTTP 200 with a body that is not JSON */
        uint64_t bad_request; /* a request it could not read (400) */
        uint64_t ordered;    /* tasks put in an order */
        uint64_t holds;      /* holds asked for, within hold_max_ms */
        uint64_t baits;      /* parts meant to be refused: a hold past hold_max_ms, a task not sent */
} bl_demo_agent_stats_t;

typedef struct bl_demo_agent_s bl_demo_agent_t;

/**
 * Serves POST /decide on 127.0.0.1 at a port of the system's choosing, a
 * thread per connection (a slow answer holds only its own). Each
 * consultation's fate comes from @p seed and its consultation_id, so a run
 * is repeatable up to timing:
 *   - spells of failure: 6 consultations in a row every 97 (counted by the
 *     number that ends consultation_id), the first from the 5th to the 7th
 *     by the seed, answer HTTP 500: enough to open a breaker of a few
 *     failures, soon after the start;
 *   - otherwise 8 % answer past the request's timeout_ms, 4 % HTTP 500, 3 %
 *     a body that is not JSON;
 *   - the rest: an order of the candidates by deadline (nearest first, then
 *     by the policy's score), holds of 300 ms for candidates whose input
 *     data is over 5 hours old (at most the share limits allow), and in 1
 *     answer of 10 a part backlogd must refuse (a hold past hold_max_ms, or
 *     a task it did not send).
 * NULL with errstr when libmicrohttpd cannot start.
 */
bl_demo_agent_t *bl_demo_agent_start(uint64_t seed, char *errstr, size_t errstr_size);

/**
 * The same agent without its faults, for bench/agent.c: every consultation
 * answered (deadlines first, stale input held) after @p delay_ms, nothing
 * to refuse. NULL with errstr when libmicrohttpd cannot start.
 */
bl_demo_agent_t *bl_demo_agent_start_steady(int delay_ms, char *errstr, size_t errstr_size);

/** Stops serving (waits for answers in progress: at most a slow one's delay) and frees it. NULL: no-op. */
void bl_demo_agent_stop(bl_demo_agent_t *agent);

/** The port it listens on. */
int bl_demo_agent_port(const bl_demo_agent_t *agent);

/** A copy of its counters; any thread. Zeroes for NULL. */
void bl_demo_agent_stats(const bl_demo_agent_t *agent, bl_demo_agent_stats_t *stats);

#endif
