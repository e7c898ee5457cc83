/*
 * policy.h: the scheduling policy of SPEC §4 as plain data: a name and a
 * version, weights that turn seven criteria into one score (deadline_risk
 * reads the domains' capacity estimate, core/capacity.h), each domain's
 * worker group, lag bounds, retries, what a passed deadline does
 * (on_deadline, decision_deadline_ms) and guardrails (quota share, approval
 * above a risk threshold), and maybe a canary policy that scores a stable
 * fraction of the tasks; a domain may name a decision agent (SPEC §13) that
 * governs a pilot share of its tasks. Here: scoring, guardrails and the
 * canary and pilot splits.
 * The JSON document that describes a policy (docs/policy.md) is read and
 * written by src/policy/load.h, a layer above: core sees no JSON.
 *
 * Pure C, no Kafka, no JSON. A finished policy is immutable: any thread may
 * read it; replacing the running policy is the caller's swap of one
 * pointer for another.
 */
#ifndef BL_POLICY_H
#define BL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backlog.h" /* bl_criterion_t, bl_on_deadline_t */
#include "core/capacity.h"
#include "core/item.h"
#include "core/resilience.h"

/** The criteria, in the order of every rationale. */
typedef enum {
        BL_CRITERION_BUSINESS_VALUE = 0,
        BL_CRITERION_RISK,
        BL_CRITERION_SLA_URGENCY,
        BL_CRITERION_FRESHNESS,
        BL_CRITERION_AGING,
        BL_CRITERION_RETRY_PENALTY,
        BL_CRITERION_DEADLINE_RISK, /* needs a capacity estimate (core/capacity.h); 0 without one */
        BL_POLICY_CRITERIA /* how many */
} bl_criterion_id_t;

/** "business_value", "risk", "sla_urgency", "freshness", "aging", "retry_penalty", "deadline_risk" (static). */
const char *bl_policy_criterion_name(bl_criterion_id_t criterion);

#define BL_POLICY_WEIGHT_MIN (-10.0)
#define BL_POLICY_WEIGHT_MAX 10.0

/**
 * A domain's decision agent (SPEC §13, docs/agents.md): where it answers,
 * how it is reached, the share of tasks it governs and the bounds backlogd
 * holds it to. Plain data; every string is owned (malloc'd), "" never: an
 * unset optional string is NULL. The bearer token is not here: the policy
 * is published to backlog.policy and printed by `policy check`, so it only
 * names the environment variable that holds the token (token_env), which
 * the agent client reads when it is made.
 */
typedef struct bl_agent_policy_s {
        char *url;                  /* http:// or https://, no user:password@, no query or fragment */
        char *ca_location;          /* CA bundle (PEM) that verifies the agent's certificate; NULL: the system's */
        char *certificate_location; /* client certificate (PEM) for mutual TLS; NULL: none */
        char *key_location;         /* its private key (PEM); NULL: in the certificate file, or none */
        char *token_env;            /* name of the environment variable holding the bearer token; NULL: none */
        int64_t timeout_ms;         /* the time-to-decision bound of one consultation, connect included */
        double pilot_share;         /* [0, 1]: tasks whose pilot point is below it are the agent's */
        int32_t max_candidates;     /* READY pilot tasks sent per consultation, best score first */
        int64_t hold_max_ms;        /* the longest hold the agent may ask for */
        double max_held_share;      /* [0, 1] of the candidates sent that one answer may hold */
        int64_t deadline_margin_ms; /* a hold never ends later than the task's deadline minus this */
        bool send_payload;          /* the tasks' payloads go in the request (base64) */
        int64_t max_response_bytes; /* a longer answer is a failure, read no further */
        int32_t breaker_failures;   /* consecutive failures or timeouts that open the breaker */
        int64_t breaker_cooldown_ms; /* open this long, then one consultation tries it (half-open) */
} bl_agent_policy_t;

/** The defaults of every agent setting but url (docs/agents.md lists them). */
void bl_agent_policy_defaults(bl_agent_policy_t *agent);

/** Frees @p agent and its strings. NULL is a no-op. */
void bl_agent_policy_destroy(bl_agent_policy_t *agent);

/**
 * One domain's settings, with the policy's "defaults" filled in where the
 * domain's own section is silent. Owned by the policy; read-only.
 */
typedef struct bl_domain_policy_s {
        const char *domain;       /* "*" for the defaults themselves */
        const char *worker_group; /* the consumer group of the domain's workers ("{domain}" already replaced) */
        int64_t max_lag;          /* at or above: the domain is throttled (SPEC §5) */
        int64_t resume_lag;       /* below: it opens again; always < max_lag */
        int64_t retry_base_ms;    /* back-off before attempt n+1: uniform in [0, min(cap, base * 2^(n-1))] */
        int64_t retry_cap_ms;
        int32_t max_attempts;           /* unless the task sets its own */
        bool has_quota;                 /* false: no quota (the whole round) */
        double quota_share;             /* [0, 1] of one scheduling round's dispatches, with has_quota */
        bool has_approval;              /* false: no task of the domain needs approval */
        double approval_risk_threshold; /* [0, 1]: risk >= this needs APPROVED first, with has_approval */
        bl_on_deadline_t on_deadline;   /* what a deadline passed before dispatch does (SPEC §14) */
        int64_t decision_deadline_ms;   /* READY this long: dispatched first, whatever its score; 0: never */
        bl_agent_policy_t *agent;       /* the domain's agent, owned; NULL: the policy alone decides. Always
                                           NULL in the defaults and in a canary: an agent belongs to a domain */
        bl_resilience_policy_t *resilience; /* runtime bounds, breaker, remediation rules (SPEC §14), owned;
                                               NULL: none of them. A canary has the main policy's */
} bl_domain_policy_t;

/**
 * What a policy's "defaults" fall back to when they leave a retry setting
 * out: the config's backlog.retry_base_ms, backlog.retry_cap_ms and
 * backlog.max_attempts, so that a policy changes retries only where it says so.
 */
typedef struct bl_policy_fallback_s {
        int64_t retry_base_ms;
        int64_t retry_cap_ms;
        int32_t max_attempts;
} bl_policy_fallback_t;

/** The config's defaults: 1000 ms, 300000 ms, 3 attempts. */
extern const bl_policy_fallback_t bl_policy_builtin_fallback;

/** The horizons of the criteria that change with time, in the order of bl_policy_t's horizons_ms. */
typedef enum {
        BL_HORIZON_URGENCY = 0, /* sla_urgency rises from 0 this long before the deadline */
        BL_HORIZON_FRESHNESS,   /* freshness halves every this long */
        BL_HORIZON_AGING,       /* aging reaches 1 this long after the task became READY */
        BL_POLICY_HORIZONS      /* how many */
} bl_horizon_id_t;

/**
 * A policy: plain data, filled by whoever builds it (the JSON loader in
 * src/policy/, or a test) and then read-only. bl_policy_new gives one with
 * every default set; its builder fills the fields, calls bl_policy_finish,
 * and may attach a canary. After that nothing changes it, and any thread may
 * read it. Every string and array is owned by the policy (malloc'd) and
 * freed by bl_policy_destroy.
 */
typedef struct bl_policy_s bl_policy_t;
struct bl_policy_s {
        char *name;        /* NULL until set */
        char *version;     /* NULL until set */
        char *description; /* "" when the document has none */
        double weights[BL_POLICY_CRITERIA];     /* bl_criterion_id_t order */
        int64_t horizons_ms[BL_POLICY_HORIZONS]; /* bl_horizon_id_t order, each >= 1 */
        bl_domain_policy_t defaults;            /* domain "*"; worker_group the "{domain}" template */
        bl_domain_policy_t *domains;            /* domain_count of them, each with its own strings */
        size_t domain_count;
        bool is_canary; /* the domain-level settings are the main policy's (bl_policy_attach_canary) */
        /* set by bl_policy_attach_canary */
        bl_policy_t *canary;
        double canary_fraction;
        uint64_t canary_below; /* a task is the canary's when its 53-bit point is below this */
        /* derived by bl_policy_finish, for the accessors and the hot path */
        char *label; /* name@version, NULL without both */
        double per_urgency_ms, per_half_life_ms, per_aging_ms;
};

/**
 * A policy with every default and nothing else: no name, no weight, no
 * domain; horizons 1 h (urgency), 6 h (freshness half-life), 1 h (aging);
 * defaults worker_group "{domain}-workers", max_lag 1000, resume_lag 500,
 * the retry settings of @p fallback (NULL: bl_policy_builtin_fallback), no
 * quota, no approval. docs/policy.md lists the same defaults. NULL when out
 * of memory.
 */
bl_policy_t *bl_policy_new(const bl_policy_fallback_t *fallback);

/**
 * Derives what the accessors and scoring read from the fields: the label
 * name@version (when both are set) and the reciprocals of the horizons.
 * Call it once the fields are set, before anything scores with the policy.
 * False when out of memory (the policy is then still whole, to destroy).
 */
bool bl_policy_finish(bl_policy_t *policy);

/**
 * Gives @p policy the canary @p canary (taken over, even on failure) for
 * @p fraction in [0, 1] of the tasks. The canary takes the main policy's
 * domain-level settings — worker group, lag bounds, quota share — for its
 * defaults and for each of its domains: they belong to a domain, so they
 * cannot be split by task. What it keeps of its own applies per task:
 * weights, horizons, retries, approval. False when out of memory.
 */
bool bl_policy_attach_canary(bl_policy_t *policy, bl_policy_t *canary, double fraction);

/**
 * Whether the approval guardrail of @p canary lets through a task that the
 * one of @p main_settings holds for approval: the main settings require
 * approval and the canary's do not, or only at a higher risk.
 */
bool bl_policy_approval_weaker(const bl_domain_policy_t *canary, const bl_domain_policy_t *main_settings);

/** Frees @p policy and its canary. NULL is a no-op. */
void bl_policy_destroy(bl_policy_t *policy);

const char *bl_policy_name(const bl_policy_t *policy);
const char *bl_policy_version(const bl_policy_t *policy);
/** "name@version": what decisions and metrics carry. */
const char *bl_policy_label(const bl_policy_t *policy);
/** The description, "" when the document has none. */
const char *bl_policy_description(const bl_policy_t *policy);

double bl_policy_weight(const bl_policy_t *policy, bl_criterion_id_t criterion);
int64_t bl_policy_urgency_horizon_ms(const bl_policy_t *policy);
int64_t bl_policy_freshness_half_life_ms(const bl_policy_t *policy);
int64_t bl_policy_aging_horizon_ms(const bl_policy_t *policy);

/**
 * A domain's settings; a domain the policy does not know (not configured
 * when it was parsed) gets the defaults, whose worker_group is still the
 * "{domain}" template. Never NULL.
 */
const bl_domain_policy_t *bl_policy_domain(const bl_policy_t *policy, const char *domain);
/** The configured domains, in the order given to the parser. */
size_t bl_policy_domain_count(const bl_policy_t *policy);
const bl_domain_policy_t *bl_policy_domain_at(const bl_policy_t *policy, size_t index);
/** The "defaults" section, resolved (domain "*"). */
const bl_domain_policy_t *bl_policy_defaults(const bl_policy_t *policy);

/**
 * The score of @p item at @p now_ms: Σ weight_i × criterion_i over the seven
 * criteria, each normalised to [0, 1] (docs/policy.md gives the formulas);
 * deadline_risk is 0 here, without a capacity estimate (bl_policy_score_with).
 * When @p out is not NULL it receives the rationale, one entry per
 * criterion in bl_criterion_id_t order, names static; the contributions add
 * up to the score exactly (summed in that order). No allocation, no lookup
 * beyond the item's domain, selects instead of branches, one exp2: about
 * 16 ns of arithmetic per item (docs/policy.md).
 */
double bl_policy_score(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                       bl_criterion_t out[BL_POLICY_CRITERIA]);

/**
 * bl_policy_score with the item's domain settings already looked up
 * (bl_policy_domain(policy, item->domain)): for a scheduler that re-scores
 * a domain's items in a loop.
 */
double bl_policy_score_in(const bl_policy_t *policy, const bl_domain_policy_t *domain, const bl_item_t *item,
                          int64_t now_ms, bl_criterion_t out[BL_POLICY_CRITERIA]);

/**
 * bl_policy_score_in with the domains' capacity estimate, which the
 * deadline_risk criterion reads (docs/policy.md gives its model): the
 * probability that @p item misses its deadline if it waits behind the READY
 * tasks of its domain, less the probability that it misses it even if it
 * starts now. @p capacity NULL, a task without a deadline, a domain whose
 * estimate is not known yet or a weight of 0: deadline_risk is 0 and costs
 * nothing. @p capacity is only read.
 */
double bl_policy_score_with(const bl_policy_t *policy, const bl_domain_policy_t *domain, const bl_item_t *item,
                            int64_t now_ms, const bl_capacity_t *capacity, bl_criterion_t out[BL_POLICY_CRITERIA]);

/**
 * The score of @p item by the policy that bl_policy_for_task picks for it
 * (the canary for its fraction of tasks, else @p policy), which goes to
 * @p chosen (may be NULL) so that the decision can name it
 * (bl_policy_label). @p out as for bl_policy_score.
 */
double bl_policy_score_task(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                            bl_criterion_t out[BL_POLICY_CRITERIA], const bl_policy_t **chosen);

/** bl_policy_score_task with the capacity estimate that deadline_risk reads (bl_policy_score_with). */
double bl_policy_score_task_with(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                                 const bl_capacity_t *capacity, bl_criterion_t out[BL_POLICY_CRITERIA],
                                 const bl_policy_t **chosen);

/**
 * The deadline_risk of a task whose deadline is @p left_ms from now, given
 * @p expectation (bl_capacity_expect): P(miss | starts at the back of the
 * queue) - P(miss | starts now), each P(wait + runtime > left) with the
 * wait and runtime normal. In [0, 1]; 0 when the expectation is not known.
 */
double bl_policy_deadline_risk(double left_ms, const bl_capacity_expectation_t *expectation);

/**
 * Whether @p item must wait BLOCKED for an APPROVED event: its domain has
 * an approval_risk_threshold and item->risk >= it. Pass the policy that
 * bl_policy_for_task chose for the item.
 */
bool bl_policy_requires_approval(const bl_policy_t *policy, const bl_item_t *item);

/**
 * The most dispatches @p domain may take out of a scheduling round of @p
 * round_total dispatches across all domains: floor(quota_share ×
 * round_total), but at least 1 when the share and the round are not 0, so
 * that a small share slows a domain and never starves it; @p round_total
 * itself when the domain has no quota. docs/policy.md says how the
 * scheduler applies it. Quotas are the main policy's (a canary shares them).
 */
size_t bl_policy_quota(const bl_policy_t *policy, const char *domain, size_t round_total);

/** The canary the document carries, or NULL. */
const bl_policy_t *bl_policy_canary(const bl_policy_t *policy);
/** The canary's fraction of tasks, 0 without a canary. */
double bl_policy_canary_fraction(const bl_policy_t *policy);

/**
 * Where @p task_id falls in [0, 1): FNV-1a 64 of its bytes, mixed by the
 * splitmix64 finaliser, top 53 bits as a fraction. The same on every run,
 * instance and machine, and independent of the murmur2 partitioner (so the
 * canary's tasks spread over every partition).
 */
double bl_policy_canary_point(const char *task_id);

/**
 * The policy that scores @p task_id: the canary when the task's canary
 * point is below the canary fraction, else @p policy itself. Stable: the
 * same task always gets the same policy, and raising the fraction only
 * moves tasks into the canary.
 */
const bl_policy_t *bl_policy_for_task(const bl_policy_t *policy, const char *task_id);

/**
 * Where @p task_id falls in [0, 1) for the agents' pilot split: the
 * canary's hash with another seed (docs/agents.md gives it in Python), so
 * that the pilot and the canary are independent: a pilot of 10 % takes 10 %
 * of the canary's tasks and 10 % of the others. Stable like the canary point.
 */
double bl_policy_pilot_point(const char *task_id);

/**
 * Whether @p task_id is governed by @p agent (its pilot point is below the
 * pilot share); false when @p agent is NULL. The rest of the domain's tasks
 * are the control group.
 */
bool bl_policy_in_pilot(const bl_agent_policy_t *agent, const char *task_id);

#endif
