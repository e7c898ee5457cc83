/*
 * scenario.c: the demo's domains, their workers and their policy.
 *
 * Three domains have workers with room to spare; model_inference (GPUs are
 * scarce) has workers that manage only BL_SCENARIO_SLOW_CAPACITY of what it
 * is sent and commit once a second, so its lag climbs to the policy's
 * max_lag (200) and the domain is throttled while the others flow, opens
 * again below resume_lag (100) as its workers catch up, and fills again.
 *
 * evaluation has an outage (BL_SCENARIO_OUTAGE_*): its workers fail nearly
 * everything for a few seconds, its circuit breaker opens (the policy gives it
 * one), its tasks wait READY, and probes close it once the outage is over.
 *
 * The policy is config/policy.json's (weights, criteria, worker groups, lag
 * bounds, retries, quotas, approval guardrail, the canary on 10% of the
 * tasks) without its comments, so that the demo shows the example policy at
 * work; only below 200 tasks a second is model_inference's max_lag lowered to
 * the rate (resume_lag half of it), so that a slower demo still shows the
 * throttle within seconds, and evaluation's breaker counts over 4 s and
 * cools down for 1.5 s (a minute and 30 s in config/policy.json), so that a
 * demo of seconds shows it open and close. model_inference also names the
 * demo's decision agent (demo/agent.c, on loopback at the port given) for
 * half its tasks: backlogd consults it about the READY tasks a round leaves,
 * and the slow domain always has some, with deadlines it may miss; a short
 * timeout and a breaker that opens after 3 failures in a row for 2 s make a
 * 30-second demo show fallbacks and the breaker. The generator is splitmix64: small, seedable, good enough for a
 * simulation. Pure; any thread (each with its own generator).
 */
#include "demo/scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const bl_scenario_domain_t bl_scenario_domains[BL_SCENARIO_DOMAINS] = {
        {"data_preparation", "data-prep-workers", 0.30, 32, 50, 250, 200, false},
        {"model_inference", "model_inference-workers", 0.30, 0, 400, 800, 1000, true},
        {"evaluation", "evaluation-workers", 0.25, 32, 30, 150, 200, false},
        {"remediation", "remediation-workers", 0.15, 16, 100, 300, 200, false},
};

/* Left open: model_inference's max_lag, resume_lag and agent (bl_scenario_policy). */
static const char policy_template[] =
        "{\n"
        "  \"name\": \"platform\",\n"
        "  \"version\": \"3\",\n"
        "  \"description\": \"config/policy.json, as backlogd demo runs it\",\n"
        "  \"weights\": {\"business_value\": 2.0, \"risk\": -0.5, \"sla_urgency\": 2.5, \"freshness\": 1.0,\n"
        "              \"aging\": 7.0, \"retry_penalty\": -0.5},\n"
        "  \"criteria\": {\"urgency_horizon_ms\": 3600000, \"freshness_half_life_ms\": 21600000,\n"
        "               \"aging_horizon_ms\": 3600000},\n"
        "  \"defaults\": {\"worker_group\": \"{domain}-workers\", \"max_lag\": 1000, \"resume_lag\": 500,\n"
        "               \"retry_base_ms\": 1000, \"retry_cap_ms\": 300000, \"max_attempts\": 3,\n"
        "               \"quota_share\": null, \"approval_risk_threshold\": 0.9},\n"
        "  \"domains\": {\n"
        "    \"data_preparation\": {\"worker_group\": \"data-prep-workers\", \"max_lag\": 5000, \"resume_lag\": 2500,\n"
        "                         \"quota_share\": 0.3},\n"
        "    \"model_inference\": {\"max_lag\": %d, \"resume_lag\": %d, \"retry_base_ms\": 500,\n"
        "                        \"retry_cap_ms\": 60000, \"max_attempts\": 5, \"quota_share\": 0.4%s},\n"
        "    \"evaluation\": {\"quota_share\": 0.2, \"max_runtime_ms\": 7200000,\n"
        "                   \"breaker\": {\"failure_share\": 0.5, \"window_ms\": 4000, \"min_results\": 10,\n"
        "                               \"cooldown_ms\": 1500, \"probes\": 3}},\n"
        "    \"remediation\": {\"max_attempts\": 2, \"approval_risk_threshold\": 0.7}\n"
        "  },\n"
        "  \"canary\": {\n"
        "    \"fraction\": 0.1,\n"
        "    \"policy\": {\n"
        "      \"name\": \"platform\", \"version\": \"4-rc1\", \"description\": \"More weight on deadlines.\",\n"
        "      \"weights\": {\"business_value\": 1.5, \"risk\": -0.5, \"sla_urgency\": 3.5, \"freshness\": 0.5,\n"
        "                  \"aging\": 7.0, \"retry_penalty\": -0.5},\n"
        "      \"criteria\": {\"urgency_horizon_ms\": 7200000},\n"
        "      \"defaults\": {\"retry_base_ms\": 1000, \"retry_cap_ms\": 300000, \"max_attempts\": 3,\n"
        "                   \"approval_risk_threshold\": 0.9},\n"
        "      \"domains\": {\n"
        "        \"model_inference\": {\"retry_base_ms\": 500, \"retry_cap_ms\": 60000, \"max_attempts\": 5},\n"
        "        \"remediation\": {\"max_attempts\": 2, \"approval_risk_threshold\": 0.7}\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n";

/* The agent of BL_SCENARIO_AGENT_DOMAIN at @p port on loopback, as members of its domain's section. */
static void agent_section(int port, char *out, size_t out_size) {
        if (port <= 0) {
                out[0] = '\0';
                return;
        }
        snprintf(out, out_size,
                 ",\n                   \"agent\": {\"url\": \"http://127.0.0.1:%d/decide\", \"pilot_share\": %.2f,\n"
                 "                             \"timeout_ms\": %d, \"max_candidates\": 100, \"hold_max_ms\": 2000,\n"
                 "                             \"deadline_margin_ms\": 1000, \"breaker_failures\": %d,\n"
                 "                             \"breaker_cooldown_ms\": %d}",
                 port, BL_SCENARIO_PILOT_SHARE, BL_SCENARIO_AGENT_TIMEOUT_MS, BL_SCENARIO_AGENT_BREAKER_FAILURES,
                 BL_SCENARIO_AGENT_BREAKER_COOLDOWN_MS);
}

char *bl_scenario_policy(double rate, int agent_port, int *slow_max_lag) {
        int max_lag = rate >= BL_SCENARIO_SLOW_MAX_LAG ? BL_SCENARIO_SLOW_MAX_LAG : rate < 10 ? 10 : (int)rate;
        char agent[512];
        agent_section(agent_port, agent, sizeof(agent));
        int size = snprintf(NULL, 0, policy_template, max_lag, max_lag / 2, agent);
        char *text = size > 0 ? malloc((size_t)size + 1) : NULL;
        if (text)
                snprintf(text, (size_t)size + 1, policy_template, max_lag, max_lag / 2, agent);
        if (slow_max_lag)
                *slow_max_lag = max_lag;
        return text;
}

int bl_scenario_slots(const bl_scenario_domain_t *domain, double rate) {
        double mean_work_s = (domain->work_ms_min + domain->work_ms_max) / 2000.0;
        double arriving_work = rate * domain->share * mean_work_s; /* slots busy to keep up exactly */
        double slots = domain->slow ? arriving_work * BL_SCENARIO_SLOW_CAPACITY : arriving_work * 2;
        if (!domain->slow && slots < domain->slots)
                slots = domain->slots;
        return slots < 1 ? 1 : (int)ceil(slots);
}

int bl_scenario_domain_index(const char *name) {
        for (int i = 0; name && i < BL_SCENARIO_DOMAINS; i++)
                if (!strcmp(bl_scenario_domains[i].name, name))
                        return i;
        return -1;
}

void bl_rng_seed(bl_rng_t *rng, uint64_t seed) {
        rng->state = seed;
}

uint64_t bl_rng_next(bl_rng_t *rng) {
        uint64_t z = (rng->state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
}

double bl_rng_unit(bl_rng_t *rng) {
        return (double)(bl_rng_next(rng) >> 11) / 9007199254740992.0; /* 2^53 */
}

int64_t bl_rng_range(bl_rng_t *rng, int64_t low, int64_t high) {
        if (high <= low)
                return low;
        return low + (int64_t)(bl_rng_next(rng) % (uint64_t)(high - low + 1));
}

uint64_t bl_scenario_hash(uint64_t seed, const char *text, int64_t number) {
        uint64_t hash = 0xCBF29CE484222325ULL ^ seed; /* FNV-1a, then one splitmix round */
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
                hash = (hash ^ *p) * 0x100000001B3ULL;
        bl_rng_t rng = {hash ^ (uint64_t)number};
        return bl_rng_next(&rng);
}
