/*
 * consult.c: the domains' decision agents in `backlogd run` (SPEC §13,
 * docs/agents.md): consultations out, answers in, and what of an answer
 * applies at the dispatch round.
 *
 * For a domain whose policy names an agent, each dispatch round
 * (dispatch.c hands every domain to bl_consult_round):
 *   1. an answer that came in since the last round applies first: the
 *      guardrails (core/guardrails.h) judge it against what the backlog says
 *      of each candidate now; accepted escalations go BLOCKED awaiting
 *      approval and accepted holds BLOCKED until their end at once; its
 *      accepted picks are dispatched in the agent's order at the first round
 *      with something to give (credit within the quota), each with its
 *      provenance (decided_by name@version, rank, reason, consultation id,
 *      latency); refusals are counted by part and reason;
 *   2. the policy dispatches the rest of the round's credit, each decision
 *      recorded as decided_by "policy" with its fallback (core/agent.h,
 *      bl_agent_fallback: control, refused, not_in_answer, breaker_open,
 *      timeout, failed, not_answered);
 *   3. then, when no consultation of the domain is in flight, no answer
 *      waits, the agent's breaker lets one out and READY pilot tasks are
 *      left, the best of them by policy score (up to max_candidates) go to
 *      the agent with the domain's context. The search for them is a bounded
 *      walk of the domain's scheduler (bl_backlog_best_ready); one that
 *      sends nothing is not tried again for QUIET_AFTER_NOTHING_MS, since
 *      the loop turns once per input record.
 * Outcomes are polled every turn of the loop (bl_consult_poll): the
 * breaker hears each, the metrics count it, an answer waits for the next
 * round. Nothing here waits: the agent client (agent/client.h) runs every
 * consultation on its own thread, made the first time one is needed.
 *
 * A consultation is not state. Nothing of it is written until its answer
 * applies, and then only as transitions and dispatch decisions of the open
 * batch, like any other; a crash, an aborted batch or a new policy loses at
 * most an answer not yet applied, and the policy decides instead. An answer
 * older than ANSWER_MAX_AGE_MS is dropped unapplied: its context is gone.
 * Pipeline thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/client.h"
#include "agent/request.h"
#include "base/log.h"
#include "core/breaker.h"
#include "core/guardrails.h"
#include "core/policy.h"
#include "pipeline/pipeline_int.h"

#define ANSWER_MAX_AGE_MS 10000   /* an answer not applied by then is dropped: the domain has moved on */
#define CANDIDATE_VISITS_MAX 200000 /* READY tasks one search for pilot candidates looks at, at most */
#define QUIET_AFTER_NOTHING_MS 100  /* after a round that sent nothing (no pilot task, breaker shut): no search */

typedef struct consult_domain_s {
        bool breaker_ready;          /* breaker initialised from the agent's settings */
        bl_breaker_t breaker;        /* the agent's, on the monotonic clock */
        char *in_flight;             /* the consultation id out now; NULL: none */
        bl_agent_outcome_t *answer;  /* ANSWERED, waiting for the next round; NULL: none */
        int64_t answer_at_ms;        /* when it came in (monotonic) */
        bool waits_applied;          /* its escalations and holds are applied already; its order waits for credit */
        bl_agent_last_t last;        /* how the latest consultation that finished ended */
        bl_strvec_t refused;         /* tasks of the last answer applied whose part a guardrail refused */
        uint32_t refused_reasons;    /* the refusal reasons (bits) last logged at info */
        int64_t quiet_until_ms;      /* no search for candidates before (monotonic): the loop turns per record */
} consult_domain_t;

struct bl_consult_s {
        bl_agent_client_t *client; /* made at the first consultation */
        bool client_failed;        /* it could not be made: logged once, the policy decides */
        consult_domain_t domains[BL_OBSERVE_DOMAINS];
        uint64_t next_id;
        int64_t started_ms;        /* the consultation ids' stem, with the instance: unique across restarts */
};

/* The round of one domain: what the policy's decisions record (bl_provenance_fn's opaque). */
typedef struct policy_round_s {
        const bl_agent_policy_t *agent;
        const bl_strvec_t *refused;
        bl_agent_round_state_t state;
        bl_provenance_t provenance; /* rewritten per task: the sink copies it within the call */
} policy_round_t;

static const bl_agent_policy_t *agent_of(const bl_pipeline_t *p, const char *domain) {
        const bl_domain_policy_t *settings = p->policy ? bl_policy_domain(p->policy, domain) : NULL;
        return settings && settings->agent && settings->agent->pilot_share > 0 ? settings->agent : NULL;
}

static int64_t consult_clock_ms(void) {
        return bl_clock_monotonic_ms();
}

/* The agent's breaker of @p domain, with its settings of now (a new policy may change them). */
static bl_breaker_t *breaker_of(bl_pipeline_t *p, consult_domain_t *domain, const char *domain_name,
                                const bl_agent_policy_t *agent) {
        if (domain->breaker_ready) {
                bl_breaker_configure(&domain->breaker, agent->breaker_failures, agent->breaker_cooldown_ms);
                return &domain->breaker;
        }
        bl_breaker_init(&domain->breaker, agent->breaker_failures, agent->breaker_cooldown_ms);
        domain->breaker_ready = true;
        bl_observe_agent_breaker(p, domain_name, domain->breaker.state); /* shown from the first consultation */
        return &domain->breaker;
}

static void drop_answer(consult_domain_t *domain) {
        bl_agent_outcome_destroy(domain->answer);
        domain->answer = NULL;
}

bool bl_consult_open(bl_pipeline_t *p) {
        p->consult = calloc(1, sizeof(*p->consult));
        if (!p->consult)
                return false;
        p->consult->started_ms = bl_clock_wall_ms();
        return true;
}

void bl_consult_close(bl_pipeline_t *p) {
        bl_consult_t *c = p->consult;
        if (!c)
                return;
        bl_agent_client_destroy(c->client); /* cancels what is in flight; returns within milliseconds */
        for (size_t d = 0; d < BL_OBSERVE_DOMAINS; d++) {
                free(c->domains[d].in_flight);
                drop_answer(&c->domains[d]);
                bl_strvec_clear(&c->domains[d].refused);
        }
        free(c);
        p->consult = NULL;
}

/* ---- outcomes in ---------------------------------------------------------------------------- */

static int domain_index(const bl_pipeline_t *p, const char *domain) {
        for (size_t d = 0; d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++)
                if (!strcmp(p->config->domains.items[d], domain))
                        return (int)d;
        return -1;
}

/* The breaker hears @p success; a change of state is logged and shown. */
static void breaker_hears(bl_pipeline_t *p, const char *domain_name, bl_breaker_t *breaker, bool success) {
        bl_breaker_state_t before = breaker->state;
        if (!bl_breaker_record(breaker, success, consult_clock_ms()))
                return;
        bl_log(breaker->state == BL_BREAKER_OPEN ? BL_LOG_WARN : BL_LOG_INFO, "agent",
               "domain %s: the agent's breaker %s -> %s%s", domain_name, bl_breaker_state_name(before),
               bl_breaker_state_name(breaker->state),
               breaker->state == BL_BREAKER_OPEN ? ": the policy alone decides until a trial succeeds" : "");
        bl_observe_agent_breaker(p, domain_name, breaker->state);
}

/* One finished consultation, taken over. */
static void take_outcome(bl_pipeline_t *p, bl_agent_outcome_t *outcome) {
        int d = domain_index(p, outcome->domain);
        consult_domain_t *domain = d >= 0 ? &p->consult->domains[d] : NULL;
        bl_observe_consultation(p, outcome->domain, bl_agent_result_name(outcome->result), outcome->latency_ms);
        if (!domain || !domain->in_flight || strcmp(domain->in_flight, outcome->consultation_id)) {
                bl_agent_outcome_destroy(outcome); /* not the one awaited: a policy change dropped it */
                return;
        }
        free(domain->in_flight);
        domain->in_flight = NULL;
        const bl_agent_policy_t *agent = agent_of(p, outcome->domain);
        if (outcome->result == BL_AGENT_CANCELLED || !agent) {
                if (domain->breaker_ready)
                        bl_breaker_forget(&domain->breaker);
                bl_agent_outcome_destroy(outcome);
                return;
        }
        bool answered = outcome->result == BL_AGENT_ANSWERED;
        breaker_hears(p, outcome->domain, breaker_of(p, domain, outcome->domain, agent), answered);
        domain->last = answered ? BL_AGENT_LAST_ANSWERED
                                : outcome->result == BL_AGENT_TIMEOUT ? BL_AGENT_LAST_TIMEOUT : BL_AGENT_LAST_FAILED;
        if (!answered) {
                bl_log_debug("agent", "domain %s: consultation %s %s after %" PRId64 " ms: %s; the policy decides",
                             outcome->domain, outcome->consultation_id, bl_agent_result_name(outcome->result),
                             outcome->latency_ms, outcome->reason);
                bl_agent_outcome_destroy(outcome);
                return;
        }
        drop_answer(domain);
        domain->answer = outcome;
        domain->answer_at_ms = consult_clock_ms();
        domain->waits_applied = false;
}

void bl_consult_poll(bl_pipeline_t *p) {
        bl_agent_outcome_t *outcome;
        if (!p->consult || !p->consult->client)
                return;
        while ((outcome = bl_agent_client_poll(p->consult->client)))
                take_outcome(p, outcome);
}

/* ---- an answer applied ---------------------------------------------------------------------- */

/* Adds the tasks whose part was refused to those of the answer's other parts (cleared for each answer). */
static void remember_refused(consult_domain_t *domain, const bl_guardrail_result_t *result) {
        for (size_t i = 0; i < result->refusal_count; i++)
                if (result->refusals[i].task_id && !bl_strvec_contains(&domain->refused, result->refusals[i].task_id))
                        bl_strvec_push(&domain->refused, result->refusals[i].task_id);
}

/* The provenance of what the answer decided for one task. */
static bl_provenance_t agent_provenance(const bl_agent_outcome_t *outcome, uint32_t rank, const char *reason) {
        bl_provenance_t provenance = bl_provenance_none();
        provenance.decided_by = outcome->answer.label;
        provenance.agent_rank = (int32_t)rank;
        provenance.agent_reason = reason && *reason ? reason : NULL;
        provenance.consultation_id = outcome->consultation_id;
        provenance.consultation_latency_ms = outcome->latency_ms;
        return provenance;
}

/* Escalations and holds accepted: transitions with cause agent. */
static void apply_waits(bl_pipeline_t *p, const bl_agent_outcome_t *outcome, const bl_guardrail_result_t *result,
                        int64_t now) {
        for (size_t i = 0; i < result->escalation_count; i++) {
                const bl_guardrail_escalation_t *escalation = &result->escalations[i];
                bl_provenance_t provenance = agent_provenance(outcome, 0, escalation->reason);
                bl_backlog_agent_escalate(p->backlog, outcome->candidate_ids[escalation->candidate], &provenance, now);
        }
        for (size_t i = 0; i < result->hold_count; i++) {
                const bl_guardrail_hold_t *hold = &result->holds[i];
                bl_provenance_t provenance = agent_provenance(outcome, 0, hold->reason);
                bl_backlog_agent_hold(p->backlog, outcome->candidate_ids[hold->candidate], hold->until_ms, &provenance,
                                      now);
        }
}

/* The accepted picks, in the agent's order; returns how many went out. */
static size_t apply_order(bl_pipeline_t *p, const bl_agent_outcome_t *outcome, const bl_guardrail_result_t *result,
                          size_t take, int64_t now) {
        size_t sent = 0;
        for (size_t i = 0; i < result->order_count && sent < take; i++) {
                const bl_guardrail_pick_t *pick = &result->order[i];
                bl_provenance_t provenance = agent_provenance(outcome, pick->rank, pick->reason);
                if (bl_backlog_dispatch_task(p->backlog, outcome->candidate_ids[pick->candidate], &provenance, now) ==
                    BL_DISPATCH_SENT)
                        sent++;
        }
        return sent;
}

/*
 * The refusals of one answer, logged: at info when the reasons differ from the last answer's (an agent
 * that keeps breaking the same guardrail is told once, and counted always), else at debug.
 */
static void log_refusals(consult_domain_t *domain, const char *domain_name, const bl_agent_outcome_t *outcome,
                         const bl_guardrail_result_t *result) {
        char summary[512];
        size_t at = 0;
        uint32_t reasons = 0;
        if (result->refusal_count == 0)
                return;
        summary[0] = '\0';
        for (int r = 0; r < BL_REFUSAL__COUNT && at < sizeof(summary); r++)
                if (result->refused[r]) {
                        reasons |= 1u << r;
                        at += (size_t)snprintf(summary + at, sizeof(summary) - at, "%s%s %" PRIu32, at ? ", " : "",
                                               bl_refusal_name((bl_refusal_t)r), result->refused[r]);
                }
        bool news = reasons != domain->refused_reasons;
        domain->refused_reasons = reasons;
        bl_log(news ? BL_LOG_INFO : BL_LOG_DEBUG, "agent",
               "domain %s: %s (consultation %s): %zu part%s of the answer refused (%s); the rest applies",
               domain_name, outcome->answer.label, outcome->consultation_id, result->refusal_count,
               result->refusal_count == 1 ? "" : "s", summary);
}

/*
 * Judges @p parts of the waiting answer of @p domain (a shallow copy of it with the other parts left out)
 * against the backlog now, applies what the guardrails accept, counts what they refuse. Returns the picks
 * dispatched; false in *judged when memory ran out (nothing applied).
 */
static size_t apply_parts(bl_pipeline_t *p, consult_domain_t *domain, const char *domain_name,
                          const bl_agent_policy_t *agent, const bl_agent_answer_t *parts, size_t want, size_t quota,
                          size_t take, int64_t now, bool *judged) {
        const bl_agent_outcome_t *outcome = domain->answer;
        bl_guardrail_fact_t *facts = calloc(outcome->candidate_count ? outcome->candidate_count : 1, sizeof(*facts));
        bl_guardrail_result_t result;
        size_t sent = 0;
        *judged = false;
        for (size_t i = 0; facts && i < outcome->candidate_count; i++)
                facts[i] = bl_guardrail_fact_of(outcome->candidate_ids[i],
                                                bl_backlog_find(p->backlog, outcome->candidate_ids[i]));
        bl_guardrail_round_t round = {.now_ms = now, .sent_at_ms = outcome->sent_at_ms, .credit = want, .quota = quota};
        if (facts && bl_guardrails_apply(agent, &round, facts, outcome->candidate_count, parts, &result)) {
                apply_waits(p, outcome, &result, now);
                sent = apply_order(p, outcome, &result, take, now);
                remember_refused(domain, &result);
                bl_observe_refusals(p, domain_name, &result);
                log_refusals(domain, domain_name, outcome, &result);
                bl_guardrail_result_clear(&result);
                *judged = true;
        }
        free(facts);
        return sent;
}

/*
 * The waiting answer of @p domain at this round. Its escalations and holds apply at once, whatever the
 * round's credit (a task the agent wants a human to see waits for nobody's credit); its order applies at
 * the first round with something to give, and then the answer is done. Returns the picks dispatched;
 * *applied tells whether its order was judged in this round.
 */
static size_t apply_answer(bl_pipeline_t *p, consult_domain_t *domain, const char *domain_name,
                           const bl_agent_policy_t *agent, size_t want, size_t quota, size_t take, int64_t now,
                           bool *applied) {
        const bl_agent_answer_t *answer = &domain->answer->answer;
        size_t sent = 0;
        bool judged = false;
        *applied = false;
        if (!domain->waits_applied) {
                bl_strvec_clear(&domain->refused);
                bl_agent_answer_t waits = *answer; /* borrowed: the outcome keeps owning every string */
                waits.order_count = 0;
                apply_parts(p, domain, domain_name, agent, &waits, want, quota, 0, now, &judged);
                domain->waits_applied = true;
        }
        if (take > 0) {
                bl_agent_answer_t order = *answer;
                order.hold_count = order.escalation_count = 0;
                sent = apply_parts(p, domain, domain_name, agent, &order, want, quota, take, now, applied);
                drop_answer(domain);
        }
        return sent;
}

/* ---- the policy's decisions ----------------------------------------------------------------- */

static const bl_provenance_t *policy_provenance(void *opaque, const bl_item_t *item) {
        policy_round_t *round = opaque;
        bool in_pilot = bl_policy_in_pilot(round->agent, item->task_id);
        bool refused = in_pilot && round->refused->count > 0 && bl_strvec_contains(round->refused, item->task_id);
        round->provenance = bl_provenance_none();
        round->provenance.decided_by = "policy";
        round->provenance.fallback = bl_agent_fallback(in_pilot, refused, &round->state);
        return &round->provenance;
}

/* ---- consultations out ---------------------------------------------------------------------- */

static bool in_pilot(void *opaque, const bl_item_t *item) {
        return bl_policy_in_pilot(opaque, item->task_id);
}

/* How many READY tasks a search for max_candidates pilot tasks may look at: twice what the share suggests. */
static size_t candidate_visits(const bl_agent_policy_t *agent) {
        double visits = 2.0 * (double)agent->max_candidates / agent->pilot_share;
        return visits > CANDIDATE_VISITS_MAX ? CANDIDATE_VISITS_MAX : (size_t)visits + 1;
}

static bl_agent_context_t context_of(const bl_pipeline_t *p, const char *domain_name, size_t credit, int64_t now) {
        bl_agent_context_t context = bl_agent_context_unknown();
        context.credit = credit == SIZE_MAX ? -1 : (int64_t)credit;
        context.lag = bl_credit_outstanding(p->credit, domain_name);
        context.throttled = bl_credit_throttled(p->credit, domain_name);
        context.ready = (int64_t)bl_backlog_ready_in(p->backlog, domain_name);
        bl_estimate_agent_context(p, domain_name, now, &context); /* throughput and drain time, once known */
        return context;
}

static bool client_ready(bl_pipeline_t *p) {
        char errstr[256];
        bl_consult_t *c = p->consult;
        if (c->client || c->client_failed)
                return c->client != NULL;
        c->client = bl_agent_client_new(0, errstr, sizeof(errstr));
        if (!c->client) {
                bl_log_error("agent", "cannot start the agents' client: %s; the policy alone decides", errstr);
                c->client_failed = true;
        }
        return c->client != NULL;
}

/* Sends @p count candidates (best first) of @p domain_name; false when the consultation could not go out. */
static bool send_consultation(bl_pipeline_t *p, consult_domain_t *domain, const char *domain_name,
                              const bl_agent_policy_t *agent, const bl_item_t **items, size_t count, size_t credit,
                              int64_t now) {
        char id[BL_AGENT_CONSULTATION_ID_MAX + 1], errstr[256];
        bl_agent_candidate_t *candidates = calloc(count, sizeof(*candidates));
        bl_criterion_t(*rationales)[BL_POLICY_CRITERIA] = calloc(count, sizeof(*rationales));
        bool sent = false;
        snprintf(id, sizeof(id), "%.80s-%" PRId64 "-%" PRIu64, p->instance, p->consult->started_ms,
                 ++p->consult->next_id);
        for (char *at = id; *at; at++)
                if (*at <= ' ' || *at > '~')
                        *at = '_'; /* a host name is printable already; the id must be */
        for (size_t i = 0; candidates && rationales && i < count; i++)
                bl_agent_candidate_of(p->policy, items[i], now, p->capacity, rationales[i], &candidates[i]);
        bl_agent_request_t request = {.domain = domain_name, .consultation_id = id, .now_ms = now,
                                      .candidates = candidates, .candidate_count = count,
                                      .context = context_of(p, domain_name, credit, now)};
        bl_err_t err = candidates && rationales
                               ? bl_agent_client_consult(p->consult->client, agent, &request, errstr, sizeof(errstr))
                               : BL_ERR_NOMEM;
        if (err == BL_OK) {
                domain->in_flight = strdup(id);
                sent = domain->in_flight != NULL;
                if (!sent) /* no copy of its id: its outcome is dropped when it comes, the breaker hears nothing */
                        bl_breaker_forget(&domain->breaker);
        } else {
                bl_observe_consultation(p, domain_name, "not_sent", 0);
                bl_log_debug("agent", "domain %s: consultation not sent: %s", domain_name,
                             err == BL_ERR_NOMEM ? "out of memory" : errstr);
        }
        free(candidates);
        free(rationales);
        if (err != BL_OK && err != BL_ERR_UNAVAILABLE) /* a bad token or request fails as the agent would */
                breaker_hears(p, domain_name, &domain->breaker, false);
        else if (err == BL_ERR_UNAVAILABLE)
                bl_breaker_forget(&domain->breaker);
        return sent;
}

/* A consultation of @p domain_name, when none is out, no answer waits and pilot tasks are READY. */
static void maybe_consult(bl_pipeline_t *p, consult_domain_t *domain, const char *domain_name,
                          const bl_agent_policy_t *agent, size_t credit, int64_t now) {
        size_t room = (size_t)agent->max_candidates < BL_AGENT_CANDIDATES_MAX ? (size_t)agent->max_candidates
                                                                               : BL_AGENT_CANDIDATES_MAX;
        if (domain->in_flight || domain->answer || bl_backlog_ready_in(p->backlog, domain_name) == 0 ||
            consult_clock_ms() < domain->quiet_until_ms)
                return;
        domain->quiet_until_ms = consult_clock_ms() + QUIET_AFTER_NOTHING_MS; /* unless one goes out below */
        const bl_item_t **items = calloc(room ? room : 1, sizeof(*items));
        size_t count = items ? bl_backlog_best_ready(p->backlog, domain_name, now, in_pilot, (void *)agent, items,
                                                     room, candidate_visits(agent))
                             : 0;
        bl_breaker_t *breaker = count > 0 ? breaker_of(p, domain, domain_name, agent) : NULL;
        bl_breaker_state_t before = breaker ? breaker->state : BL_BREAKER_CLOSED;
        if (breaker && bl_breaker_allow(breaker, consult_clock_ms())) {
                if (breaker->state != before) {
                        bl_log_info("agent", "domain %s: the agent's breaker %s -> %s: one trial consultation",
                                    domain_name, bl_breaker_state_name(before), bl_breaker_state_name(breaker->state));
                        bl_observe_agent_breaker(p, domain_name, breaker->state);
                }
                if (client_ready(p)) {
                        if (send_consultation(p, domain, domain_name, agent, items, count, credit, now))
                                domain->quiet_until_ms = 0;
                } else
                        bl_breaker_forget(&domain->breaker);
        }
        free(items);
}

/* ---- the round ---------------------------------------------------------------------------------- */

/* What the policy's decisions of this round record. */
static policy_round_t policy_round_of(consult_domain_t *domain, const bl_agent_policy_t *agent, bool applied) {
        policy_round_t round = {.agent = agent, .refused = &domain->refused};
        round.state.answer_applied = applied;
        round.state.last = domain->last;
        round.state.breaker_open =
                domain->breaker_ready && (domain->breaker.state == BL_BREAKER_OPEN ||
                                          (domain->breaker.state == BL_BREAKER_HALF_OPEN && !domain->in_flight));
        return round;
}

size_t bl_consult_round(bl_pipeline_t *p, size_t d, size_t take, size_t want, size_t quota, size_t credit,
                        int64_t now) {
        const char *domain_name = p->config->domains.items[d];
        const bl_agent_policy_t *agent = p->consult ? agent_of(p, domain_name) : NULL;
        if (!agent)
                return take > 0 ? bl_backlog_dispatch(p->backlog, domain_name, take, now) : 0;
        consult_domain_t *domain = &p->consult->domains[d];
        size_t sent = 0;
        bool applied = false;
        if (domain->answer && consult_clock_ms() - domain->answer_at_ms > ANSWER_MAX_AGE_MS)
                drop_answer(domain);
        if (domain->answer)
                sent = apply_answer(p, domain, domain_name, agent, want, quota, take, now, &applied);
        if (sent < take) {
                policy_round_t round = policy_round_of(domain, agent, applied);
                sent += bl_backlog_dispatch_with(p->backlog, domain_name, take - sent, now, policy_provenance, &round);
        }
        maybe_consult(p, domain, domain_name, agent, credit, now);
        return sent;
}
