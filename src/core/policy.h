/*
 * policy.h: the scheduling policy of SPEC §4: a JSON document with a name and
 * a version that weighs six criteria into one score, sets each domain's
 * worker group, lag bounds, retries and guardrails (quota share, approval
 * above a risk threshold), and may carry a canary policy that scores a
 * stable fraction of the tasks. docs/policy.md describes the format.
 *
 * Pure C (jansson for parsing, no Kafka). A parsed policy is immutable: any
 * thread may read it; replacing the running policy is the caller's swap of
 * one pointer for another.
 */
#ifndef BL_POLICY_H
#define BL_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backlog.h" /* bl_criterion_t */
#include "core/item.h"

/** The criteria, in the order of every rationale. */
typedef enum {
        BL_CRITERION_BUSINESS_VALUE = 0,
        BL_CRITERION_RISK,
        BL_CRITERION_SLA_URGENCY,
        BL_CRITERION_FRESHNESS,
        BL_CRITERION_AGING,
        BL_CRITERION_RETRY_PENALTY,
        BL_POLICY_CRITERIA /* how many */
} bl_criterion_id_t;

/** "business_value", "risk", "sla_urgency", "freshness", "aging", "retry_penalty" (static). */
const char *bl_policy_criterion_name(bl_criterion_id_t criterion);

#define BL_POLICY_WEIGHT_MIN (-10.0)
#define BL_POLICY_WEIGHT_MAX 10.0

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

typedef struct bl_policy_s bl_policy_t;

/**
 * Called once for every problem found while parsing. @p path is the JSON
 * path of the member at fault ("domains.evaluation.max_lag",
 * "canary.policy.weights.aging"), "" for the document as a whole; @p reason
 * says what is wrong. @p fatal is false for warnings, which do not stop the
 * policy (an aging weight too small to rule out starvation).
 */
typedef void(bl_policy_problem_cb)(const char *path, const char *reason, bool fatal, void *opaque);

/**
 * Parses and checks a policy document of @p len bytes. @p domains (@p
 * domain_count of them) are the configured domains: a section for any other
 * domain is an error, and every one of them gets settings (its own section
 * over the defaults). With @p domains NULL, any domain name is accepted and
 * the domains are those the document names. Retry settings the defaults
 * leave out come from @p fallback (NULL: bl_policy_builtin_fallback).
 * Every problem goes to @p cb (may be NULL), not only the first. Returns the
 * policy, or NULL when anything fatal was found (or on out of memory, which
 * is reported too).
 */
bl_policy_t *bl_policy_parse_with(const char *text, size_t len, const char *const *domains, size_t domain_count,
                                  const bl_policy_fallback_t *fallback, bl_policy_problem_cb *cb, void *opaque);

/** bl_policy_parse_with and the built-in fallback. */
bl_policy_t *bl_policy_parse(const char *text, size_t len, const char *const *domains, size_t domain_count,
                             bl_policy_problem_cb *cb, void *opaque);

/**
 * Reads the file at @p path and parses it like bl_policy_parse_with. A file
 * that cannot be read is reported with path "" (the file as a whole) and
 * the reason ("cannot open: No such file or directory"). For the SIGHUP
 * path: on NULL the caller keeps its running policy.
 */
bl_policy_t *bl_policy_load_file(const char *path, const char *const *domains, size_t domain_count,
                                 const bl_policy_fallback_t *fallback, bl_policy_problem_cb *cb, void *opaque);

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
 * The score of @p item at @p now_ms: Σ weight_i × criterion_i over the six
 * criteria, each normalised to [0, 1] (docs/policy.md gives the formulas).
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
 * The score of @p item by the policy that bl_policy_for_task picks for it
 * (the canary for its fraction of tasks, else @p policy), which goes to
 * @p chosen (may be NULL) so that the decision can name it
 * (bl_policy_label). @p out as for bl_policy_score.
 */
double bl_policy_score_task(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                            bl_criterion_t out[BL_POLICY_CRITERIA], const bl_policy_t **chosen);

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
 * The effective policy as a JSON document of the same format (a new
 * reference): every weight, horizon and domain setting resolved, the
 * canary included. It parses again to the same policy.
 */
json_t *bl_policy_describe(const bl_policy_t *policy);

#endif
