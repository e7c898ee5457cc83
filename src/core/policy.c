/*
 * policy.c: a scheduling policy as plain data: its defaults, scoring a task
 * with it, its guardrails and its canary split (SPEC §4, docs/policy.md).
 *
 * Reading the JSON document is not here but in src/policy/load.c, a layer
 * above: this file builds no policy from text and checks no document; it
 * gives the builder a policy with every default (bl_policy_new), derives
 * what scoring needs once the fields are set (bl_policy_finish), and joins a
 * canary to its main policy (bl_policy_attach_canary).
 *
 * A canary is a policy of its own that takes the main policy's domain-level
 * settings (worker group, lag bounds, quota share): those belong to a
 * domain, not to a task, so they cannot be split by task. What it keeps of
 * its own is what applies per task: weights, horizons, retry settings,
 * approval threshold.
 *
 * Scoring is the hot path: the scheduler re-scores every READY item as time
 * passes (aging, urgency). bl_policy_score_in does no allocation, reads the
 * reciprocals of the horizons computed by bl_policy_finish, keeps its
 * branches to selects, and calls exp2 once.
 *
 * A finished policy is never changed: any thread may read it.
 */
#include "core/policy.h"

#include "core/duration.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DOMAIN_TEMPLATE "{domain}"

const bl_policy_fallback_t bl_policy_builtin_fallback = {1000, 300000, 3};

static const char *const criterion_names[BL_POLICY_CRITERIA] = {
        "business_value", "risk", "sla_urgency", "freshness", "aging", "retry_penalty", "deadline_risk",
};

/* The horizons of a policy that names none (bl_horizon_id_t order). */
static const int64_t default_horizons_ms[BL_POLICY_HORIZONS] = {
        3600000,  /* urgency: 1 h */
        21600000, /* freshness half-life: 6 h */
        3600000,  /* aging: 1 h */
};

/* ---- building it ------------------------------------------------------------------------- */

void bl_agent_policy_defaults(bl_agent_policy_t *agent) {
        *agent = (bl_agent_policy_t){
                .timeout_ms = 500,
                .pilot_share = 0.0,
                .max_candidates = 20,
                .hold_max_ms = 300000,
                .max_held_share = 0.5,
                .deadline_margin_ms = 60000,
                .send_payload = false,
                .max_response_bytes = 1 << 20,
                .breaker_failures = 5,
                .breaker_cooldown_ms = 30000,
        };
}

void bl_agent_policy_destroy(bl_agent_policy_t *agent) {
        if (!agent)
                return;
        free(agent->url);
        free(agent->ca_location);
        free(agent->certificate_location);
        free(agent->key_location);
        free(agent->token_env);
        free(agent);
}

static void free_settings(bl_domain_policy_t *settings) {
        free((char *)settings->domain);
        free((char *)settings->worker_group);
        bl_agent_policy_destroy(settings->agent);
        bl_resilience_policy_destroy(settings->resilience);
}

void bl_policy_destroy(bl_policy_t *policy) {
        if (!policy)
                return;
        bl_policy_destroy(policy->canary);
        for (size_t i = 0; i < policy->domain_count; i++)
                free_settings(&policy->domains[i]);
        free(policy->domains);
        free_settings(&policy->defaults);
        free(policy->name);
        free(policy->version);
        free(policy->label);
        free(policy->description);
        free(policy);
}

bl_policy_t *bl_policy_new(const bl_policy_fallback_t *fallback) {
        bl_policy_t *policy = calloc(1, sizeof(*policy));
        if (!policy)
                return NULL;
        if (!fallback)
                fallback = &bl_policy_builtin_fallback;
        for (size_t i = 0; i < BL_POLICY_HORIZONS; i++)
                policy->horizons_ms[i] = default_horizons_ms[i];
        policy->defaults.max_lag = 1000;
        policy->defaults.resume_lag = 500;
        policy->defaults.retry_base_ms = fallback->retry_base_ms;
        policy->defaults.retry_cap_ms = fallback->retry_cap_ms;
        policy->defaults.max_attempts = fallback->max_attempts > 0 ? fallback->max_attempts : 1;
        policy->defaults.domain = strdup("*");
        policy->defaults.worker_group = strdup(DOMAIN_TEMPLATE "-workers");
        policy->description = strdup("");
        if (!policy->defaults.domain || !policy->defaults.worker_group || !policy->description) {
                bl_policy_destroy(policy);
                return NULL;
        }
        return policy;
}

bool bl_policy_finish(bl_policy_t *policy) {
        free(policy->label);
        policy->label = NULL;
        if (policy->name && policy->version) {
                size_t size = strlen(policy->name) + strlen(policy->version) + 2;
                if (!(policy->label = malloc(size)))
                        return false;
                snprintf(policy->label, size, "%s@%s", policy->name, policy->version);
        }
        policy->per_urgency_ms = 1.0 / (double)policy->horizons_ms[BL_HORIZON_URGENCY];
        policy->per_half_life_ms = 1.0 / (double)policy->horizons_ms[BL_HORIZON_FRESHNESS];
        policy->per_aging_ms = 1.0 / (double)policy->horizons_ms[BL_HORIZON_AGING];
        return true;
}

/* A canary takes over the main policy's domain-level settings (they cannot be split by task). */
static bool adopt_domain_settings(bl_domain_policy_t *to, const bl_domain_policy_t *from) {
        char *group = strdup(from->worker_group);
        bool oom;
        bl_resilience_policy_t *resilience = bl_resilience_policy_copy(from->resilience, &oom);
        if (!group || oom) {
                free(group);
                return false;
        }
        bl_resilience_policy_destroy(to->resilience);
        to->resilience = resilience;
        free((char *)to->worker_group);
        to->worker_group = group;
        to->max_lag = from->max_lag;
        to->resume_lag = from->resume_lag;
        to->has_quota = from->has_quota;
        to->quota_share = from->quota_share;
        return true;
}

bool bl_policy_attach_canary(bl_policy_t *policy, bl_policy_t *canary, double fraction) {
        bl_policy_destroy(policy->canary);
        policy->canary = canary;
        policy->canary_fraction = fraction;
        policy->canary_below = (uint64_t)ldexp(fraction, 53);
        canary->is_canary = true;
        if (!adopt_domain_settings(&canary->defaults, &policy->defaults))
                return false;
        for (size_t i = 0; i < canary->domain_count; i++)
                if (!adopt_domain_settings(&canary->domains[i], bl_policy_domain(policy, canary->domains[i].domain)))
                        return false;
        return true;
}

/* ---- reading it -------------------------------------------------------------------------- */

const char *bl_policy_criterion_name(bl_criterion_id_t criterion) {
        return (unsigned)criterion < BL_POLICY_CRITERIA ? criterion_names[criterion] : "?";
}

const char *bl_policy_name(const bl_policy_t *policy) {
        return policy->name;
}

const char *bl_policy_version(const bl_policy_t *policy) {
        return policy->version;
}

const char *bl_policy_label(const bl_policy_t *policy) {
        return policy->label;
}

const char *bl_policy_description(const bl_policy_t *policy) {
        return policy->description;
}

double bl_policy_weight(const bl_policy_t *policy, bl_criterion_id_t criterion) {
        return (unsigned)criterion < BL_POLICY_CRITERIA ? policy->weights[criterion] : 0;
}

int64_t bl_policy_urgency_horizon_ms(const bl_policy_t *policy) {
        return policy->horizons_ms[BL_HORIZON_URGENCY];
}

int64_t bl_policy_freshness_half_life_ms(const bl_policy_t *policy) {
        return policy->horizons_ms[BL_HORIZON_FRESHNESS];
}

int64_t bl_policy_aging_horizon_ms(const bl_policy_t *policy) {
        return policy->horizons_ms[BL_HORIZON_AGING];
}

const bl_domain_policy_t *bl_policy_domain(const bl_policy_t *policy, const char *domain) {
        if (domain)
                for (size_t i = 0; i < policy->domain_count; i++)
                        if (!strcmp(policy->domains[i].domain, domain))
                                return &policy->domains[i];
        return &policy->defaults;
}

size_t bl_policy_domain_count(const bl_policy_t *policy) {
        return policy->domain_count;
}

const bl_domain_policy_t *bl_policy_domain_at(const bl_policy_t *policy, size_t index) {
        return index < policy->domain_count ? &policy->domains[index] : NULL;
}

const bl_domain_policy_t *bl_policy_defaults(const bl_policy_t *policy) {
        return &policy->defaults;
}

/* ---- scoring ----------------------------------------------------------------------------- */

/*
 * Branch-free helpers: the hot loop sees items whose deadlines, data times
 * and ages vary at random, so a branch per criterion would mispredict
 * often. Compilers keep "a > b ? a : b" on doubles as a jump (signed zeros),
 * hence SSE2's min/max where it exists (every x86-64).
 */
#if defined(__SSE2__)
static inline double clamp01(double x) {
        __m128d v = _mm_max_sd(_mm_set_sd(x), _mm_setzero_pd());
        return _mm_cvtsd_f64(_mm_min_sd(v, _mm_set_sd(1.0)));
}
#else
static inline double clamp01(double x) {
        x = x > 0.0 ? x : 0.0;
        return x < 1.0 ? x : 1.0;
}
#endif

/* @p value when @p keep, else +0.0 (never -0.0, which would print as "-0" in a rationale). */
static inline double keep_if(bool keep, double value) {
        return value * (double)keep + 0.0;
}

/* Freshness decays no further than 2^-1000: a normal double, so exp2 never underflows into its slow path. */
#define FRESHNESS_HALF_LIVES_MAX 1000.0

/* P(X > @p margin_ms) for X normal with mean 0 and @p sd_ms; a step at 0 without spread. */
static double exceeds(double margin_ms, double sd_ms) {
        if (!(sd_ms > 0))
                return margin_ms < 0 ? 1.0 : 0.0;
        return 0.5 * erfc(margin_ms / (sd_ms * 1.4142135623730951));
}

double bl_policy_deadline_risk(double left_ms, const bl_capacity_expectation_t *e) {
        if (!e->known)
                return 0.0;
        double runtime_variance = e->runtime_sd_ms * e->runtime_sd_ms;
        double miss_waiting = exceeds(left_ms - e->wait_ms - e->runtime_ms,
                                      sqrt(runtime_variance + e->wait_sd_ms * e->wait_sd_ms));
        double miss_now = exceeds(left_ms - e->start_now_ms - e->runtime_ms, e->runtime_sd_ms);
        return clamp01(miss_waiting - miss_now);
}

/*
 * deadline_risk, off the hot path: only with a weight, a deadline and an
 * estimate. Raw: the slack left if the task waits its turn (ms; negative:
 * it would finish late), 0 without an estimate.
 */
static void deadline_risk_of(const bl_item_t *item, int64_t now_ms, const bl_capacity_t *capacity, double *raw,
                             double *normalised) {
        bl_capacity_expectation_t expectation;
        *raw = 0.0;
        *normalised = 0.0;
        if (!capacity || item->deadline_ms == BL_NO_TIME)
                return;
        bl_capacity_expect(capacity, item->kind, &expectation);
        if (!expectation.known)
                return;
        double left_ms = (double)bl_duration_between(now_ms, item->deadline_ms);
        *raw = left_ms - expectation.wait_ms - expectation.runtime_ms + 0.0;
        *normalised = bl_policy_deadline_risk(left_ms, &expectation);
}

double bl_policy_score_in(const bl_policy_t *policy, const bl_domain_policy_t *domain, const bl_item_t *item,
                          int64_t now_ms, bl_criterion_t out[BL_POLICY_CRITERIA]) {
        return bl_policy_score_with(policy, domain, item, now_ms, NULL, out);
}

double bl_policy_score_with(const bl_policy_t *policy, const bl_domain_policy_t *domain, const bl_item_t *item,
                            int64_t now_ms, const bl_capacity_t *capacity, bl_criterion_t out[BL_POLICY_CRITERIA]) {
        double raw[BL_POLICY_CRITERIA], normalised[BL_POLICY_CRITERIA], contribution[BL_POLICY_CRITERIA];
        bool has_deadline = item->deadline_ms != BL_NO_TIME;
        bool has_data = item->data_ready_at_ms != BL_NO_TIME;
        bool is_ready = item->ready_since_ms != BL_NO_TIME;
        /* Unset times are -1: the differences below are then meaningless but finite, and masked. */
        double left_ms = (double)bl_duration_between(now_ms, item->deadline_ms);
        int64_t data_age_ms = bl_duration_between(item->data_ready_at_ms, now_ms);
        int64_t ready_ms = bl_duration_between(item->ready_since_ms, now_ms);
        int32_t max_attempts = item->max_attempts > 0 ? item->max_attempts : domain->max_attempts;
        data_age_ms = data_age_ms > 0 ? data_age_ms : 0; /* data announced for later counts as just ready */
        ready_ms = ready_ms > 0 ? ready_ms : 0;
        max_attempts = max_attempts > 0 ? max_attempts : 1;

        raw[BL_CRITERION_BUSINESS_VALUE] = item->business_value;
        normalised[BL_CRITERION_BUSINESS_VALUE] = clamp01(item->business_value);

        raw[BL_CRITERION_RISK] = item->risk;
        normalised[BL_CRITERION_RISK] = clamp01(item->risk);

        /* Rises from 0 a horizon before the deadline to 1 at it, stays 1 past it; 0 without one. */
        raw[BL_CRITERION_SLA_URGENCY] = keep_if(has_deadline, left_ms);
        normalised[BL_CRITERION_SLA_URGENCY] = keep_if(has_deadline, 1.0 - clamp01(left_ms * policy->per_urgency_ms));

        /* Halves every half-life; 0 without a data time. */
        double half_lives = keep_if(has_data, (double)data_age_ms * policy->per_half_life_ms);
        half_lives = half_lives < FRESHNESS_HALF_LIVES_MAX ? half_lives : FRESHNESS_HALF_LIVES_MAX;
        raw[BL_CRITERION_FRESHNESS] = keep_if(has_data, (double)data_age_ms);
        normalised[BL_CRITERION_FRESHNESS] = keep_if(has_data, exp2(-half_lives));

        /* Rises from 0 when the task became READY to 1 a horizon later. */
        raw[BL_CRITERION_AGING] = keep_if(is_ready, (double)ready_ms);
        normalised[BL_CRITERION_AGING] = keep_if(is_ready, clamp01((double)ready_ms * policy->per_aging_ms));

        raw[BL_CRITERION_RETRY_PENALTY] = (double)item->attempt;
        normalised[BL_CRITERION_RETRY_PENALTY] = clamp01((double)item->attempt / (double)max_attempts);

        raw[BL_CRITERION_DEADLINE_RISK] = 0.0;
        normalised[BL_CRITERION_DEADLINE_RISK] = 0.0;
        if (policy->weights[BL_CRITERION_DEADLINE_RISK] != 0.0)
                deadline_risk_of(item, now_ms, capacity, &raw[BL_CRITERION_DEADLINE_RISK],
                                 &normalised[BL_CRITERION_DEADLINE_RISK]);

        double score = 0.0;
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++) {
                contribution[i] = policy->weights[i] * normalised[i];
                score += contribution[i];
        }
        if (out) {
                for (size_t i = 0; i < BL_POLICY_CRITERIA; i++) {
                        out[i].name = criterion_names[i];
                        out[i].raw = raw[i];
                        out[i].normalised = normalised[i];
                        out[i].weight = policy->weights[i];
                        out[i].contribution = contribution[i];
                }
        }
        return score;
}

double bl_policy_score(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                       bl_criterion_t out[BL_POLICY_CRITERIA]) {
        return bl_policy_score_in(policy, bl_policy_domain(policy, item->kind->domain), item, now_ms, out);
}

double bl_policy_score_task(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                            bl_criterion_t out[BL_POLICY_CRITERIA], const bl_policy_t **chosen) {
        return bl_policy_score_task_with(policy, item, now_ms, NULL, out, chosen);
}

double bl_policy_score_task_with(const bl_policy_t *policy, const bl_item_t *item, int64_t now_ms,
                                 const bl_capacity_t *capacity, bl_criterion_t out[BL_POLICY_CRITERIA],
                                 const bl_policy_t **chosen) {
        const bl_policy_t *scorer = bl_policy_for_task(policy, item->task_id);
        if (chosen)
                *chosen = scorer;
        return bl_policy_score_with(scorer, bl_policy_domain(scorer, item->kind->domain), item, now_ms, capacity,
                                    out);
}

/* ---- guardrails -------------------------------------------------------------------------- */

bool bl_policy_requires_approval(const bl_policy_t *policy, const bl_item_t *item) {
        const bl_domain_policy_t *domain = bl_policy_domain(policy, item->kind->domain);
        return domain->has_approval && item->risk >= domain->approval_risk_threshold;
}

size_t bl_policy_quota(const bl_policy_t *policy, const char *domain, size_t round_total) {
        const bl_domain_policy_t *settings = bl_policy_domain(policy, domain);
        if (!settings->has_quota || settings->quota_share >= 1.0)
                return round_total;
        if (settings->quota_share <= 0.0 || round_total == 0)
                return 0;
        /* The small epsilon keeps 0.3 x 10 at 3 although 0.3 is a little under 3/10 in binary. */
        size_t quota = (size_t)floor(settings->quota_share * (double)round_total + 1e-9);
        if (quota > round_total)
                quota = round_total;
        return quota > 0 ? quota : 1;
}

bool bl_policy_approval_weaker(const bl_domain_policy_t *canary, const bl_domain_policy_t *main_settings) {
        return main_settings->has_approval &&
               (!canary->has_approval || canary->approval_risk_threshold > main_settings->approval_risk_threshold);
}

/* ---- canary ------------------------------------------------------------------------------ */

/*
 * FNV-1a 64, then the splitmix64 finaliser so that the top bits depend on
 * every byte: FNV-1a alone barely moves them when the last characters of
 * sequential ids change ("task-000001", "task-000002"). murmur3's fmix64 in
 * its place measured a 0.6% excess at fraction 0.5 over 100k sequential
 * ids; this one stays within sampling noise.
 */
static uint64_t seeded_task_hash(const char *task_id, uint64_t seed) {
        uint64_t hash = 0xcbf29ce484222325ULL;
        for (const unsigned char *p = (const unsigned char *)task_id; *p; p++) {
                hash ^= *p;
                hash *= 0x100000001b3ULL;
        }
        hash ^= seed;
        hash ^= hash >> 30;
        hash *= 0xbf58476d1ce4e5b9ULL;
        hash ^= hash >> 27;
        hash *= 0x94d049bb133111ebULL;
        hash ^= hash >> 31;
        return hash;
}

/* The canary's split: seed 0, so the finaliser sees FNV-1a itself. */
static uint64_t task_hash(const char *task_id) {
        return seeded_task_hash(task_id, 0);
}

/*
 * The pilot's split: the same FNV-1a, XORed with this constant (the golden
 * ratio's 64 bits) before the finaliser, which is a bijection: the two
 * points are as unrelated as two hashes, so the pilot is not the canary.
 */
#define PILOT_SEED 0x9e3779b97f4a7c15ULL

double bl_policy_canary_point(const char *task_id) {
        return ldexp((double)(task_hash(task_id) >> 11), -53);
}

const bl_policy_t *bl_policy_canary(const bl_policy_t *policy) {
        return policy->canary;
}

double bl_policy_canary_fraction(const bl_policy_t *policy) {
        return policy->canary ? policy->canary_fraction : 0.0;
}

const bl_policy_t *bl_policy_for_task(const bl_policy_t *policy, const char *task_id) {
        if (!policy->canary || !task_id)
                return policy;
        return (task_hash(task_id) >> 11) < policy->canary_below ? policy->canary : policy;
}

double bl_policy_pilot_point(const char *task_id) {
        return ldexp((double)(seeded_task_hash(task_id, PILOT_SEED) >> 11), -53);
}

bool bl_policy_in_pilot(const bl_agent_policy_t *agent, const char *task_id) {
        if (!agent || !task_id)
                return false;
        return (seeded_task_hash(task_id, PILOT_SEED) >> 11) < (uint64_t)ldexp(agent->pilot_share, 53);
}
