/*
 * test_policy_plain.c: the policy as core's plain data, without its JSON
 * document: the defaults bl_policy_new sets, what bl_policy_finish derives
 * (the label, the horizons scoring reads), a canary joined by
 * bl_policy_attach_canary taking the main policy's domain-level settings and
 * keeping its own per-task ones, the approval comparison the loader warns
 * with, and the guardrails and the canary split on a hand-built policy.
 * Linked with core and base alone: this is what core offers to any builder.
 */
#include "check.h"
#include "core/policy.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((int64_t)1700000000000)

static bl_kind_t evaluation_kind = {.domain = "evaluation"};
static bl_kind_t remediation_kind = {.domain = "remediation"};

static bl_item_t item_of(const char *task_id, bl_kind_t *kind, double value, double risk) {
        bl_item_t item;
        memset(&item, 0, sizeof(item));
        item.task_id = (char *)task_id;
        item.kind = kind;
        item.state = BL_STATE_READY;
        item.business_value = value;
        item.risk = risk;
        item.submitted_at_ms = item.deadline_ms = item.not_before_ms = item.data_ready_at_ms = BL_NO_TIME;
        item.state_since_ms = item.ready_since_ms = item.lease_expires_at_ms = item.retry_at_ms = BL_NO_TIME;
        item.terminal_at_ms = BL_NO_TIME;
        return item;
}

/* One domain section over the policy's defaults, as a loader would resolve it. */
static void add_domain(bl_policy_t *policy, const char *domain, const char *worker_group) {
        bl_domain_policy_t *grown = realloc(policy->domains, (policy->domain_count + 1) * sizeof(*grown));
        CHECK(grown != NULL);
        if (!grown)
                return;
        policy->domains = grown;
        bl_domain_policy_t *settings = &policy->domains[policy->domain_count++];
        *settings = policy->defaults;
        settings->domain = strdup(domain);
        settings->worker_group = strdup(worker_group);
        CHECK(settings->domain && settings->worker_group);
}

static bl_policy_t *named(const char *name, const char *version, const bl_policy_fallback_t *fallback) {
        bl_policy_t *policy = bl_policy_new(fallback);
        CHECK(policy != NULL);
        policy->name = strdup(name);
        policy->version = strdup(version);
        return policy;
}

static void test_new_sets_every_default(void) {
        bl_policy_t *policy = bl_policy_new(NULL);
        CHECK(policy->name == NULL && policy->version == NULL);
        CHECK_STR(policy->description, "");
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++)
                CHECK(policy->weights[i] == 0);
        CHECK_INT(policy->horizons_ms[BL_HORIZON_URGENCY], 3600000);
        CHECK_INT(policy->horizons_ms[BL_HORIZON_FRESHNESS], 21600000);
        CHECK_INT(policy->horizons_ms[BL_HORIZON_AGING], 3600000);
        CHECK_STR(policy->defaults.domain, "*");
        CHECK_STR(policy->defaults.worker_group, "{domain}-workers");
        CHECK_INT(policy->defaults.max_lag, 1000);
        CHECK_INT(policy->defaults.resume_lag, 500);
        CHECK_INT(policy->defaults.retry_base_ms, bl_policy_builtin_fallback.retry_base_ms);
        CHECK_INT(policy->defaults.retry_cap_ms, bl_policy_builtin_fallback.retry_cap_ms);
        CHECK_INT(policy->defaults.max_attempts, bl_policy_builtin_fallback.max_attempts);
        CHECK(!policy->defaults.has_quota && !policy->defaults.has_approval);
        CHECK_INT(bl_policy_domain_count(policy), 0);
        CHECK(bl_policy_canary(policy) == NULL);
        bl_policy_destroy(policy);

        const bl_policy_fallback_t config = {2000, 90000, 0}; /* no attempt at all is one */
        policy = bl_policy_new(&config);
        CHECK_INT(policy->defaults.retry_base_ms, 2000);
        CHECK_INT(policy->defaults.retry_cap_ms, 90000);
        CHECK_INT(policy->defaults.max_attempts, 1);
        bl_policy_destroy(policy);
        bl_policy_destroy(NULL);
}

static void test_finish_derives_the_label_and_the_horizons(void) {
        bl_policy_t *policy = bl_policy_new(NULL);
        CHECK(bl_policy_finish(policy));
        CHECK(bl_policy_label(policy) == NULL); /* neither name nor version */
        policy->name = strdup("aging-only");
        policy->version = strdup("7");
        policy->weights[BL_CRITERION_AGING] = 2;
        policy->horizons_ms[BL_HORIZON_AGING] = 1000;
        CHECK(bl_policy_finish(policy));
        CHECK_STR(bl_policy_label(policy), "aging-only@7");
        CHECK_INT(bl_policy_aging_horizon_ms(policy), 1000);

        bl_item_t item = item_of("t", &evaluation_kind, 0, 0);
        item.ready_since_ms = T0;
        bl_criterion_t rationale[BL_POLICY_CRITERIA];
        /* Half the 1 s horizon: aging 0.5, weighed 2. */
        CHECK(fabs(bl_policy_score(policy, &item, T0 + 500, rationale) - 1.0) < 1e-12);
        CHECK_STR(rationale[BL_CRITERION_AGING].name, "aging");
        CHECK(fabs(rationale[BL_CRITERION_AGING].normalised - 0.5) < 1e-12);
        bl_policy_destroy(policy);
}

static void test_canary_takes_the_domain_settings_and_keeps_its_own(void) {
        bl_policy_t *policy = named("main", "1", NULL);
        policy->weights[BL_CRITERION_BUSINESS_VALUE] = 1;
        policy->defaults.has_approval = true;
        policy->defaults.approval_risk_threshold = 0.5;
        policy->defaults.max_lag = 40;
        policy->defaults.resume_lag = 20;
        add_domain(policy, "evaluation", "eval-workers");
        policy->domains[0].has_quota = true;
        policy->domains[0].quota_share = 0.25;
        CHECK(bl_policy_finish(policy));

        bl_policy_t *canary = named("main", "2", NULL);
        canary->weights[BL_CRITERION_RISK] = 1;
        canary->defaults.retry_base_ms = 5;
        canary->defaults.max_lag = 9999; /* the domain's, not the canary's to set */
        add_domain(canary, "evaluation", "canary-workers");
        CHECK(bl_policy_finish(canary));
        CHECK(bl_policy_attach_canary(policy, canary, 0.5));

        CHECK(bl_policy_canary(policy) == canary && canary->is_canary);
        CHECK(bl_policy_canary_fraction(policy) == 0.5);
        CHECK_INT(canary->defaults.max_lag, 40);
        CHECK_INT(canary->defaults.resume_lag, 20);
        CHECK_INT(canary->defaults.retry_base_ms, 5); /* per task: its own */
        CHECK(!canary->defaults.has_approval);
        const bl_domain_policy_t *evaluation = bl_policy_domain(canary, "evaluation");
        CHECK_STR(evaluation->worker_group, "eval-workers");
        CHECK(evaluation->has_quota && evaluation->quota_share == 0.25);
        CHECK(bl_policy_approval_weaker(&canary->defaults, &policy->defaults));
        CHECK(!bl_policy_approval_weaker(&policy->defaults, &canary->defaults));

        /* The split: a task's point below the fraction goes to the canary, and scores by its weights. */
        const char *ids[] = {"task-000000", "task-000001"};
        for (size_t i = 0; i < 2; i++) {
                bl_item_t item = item_of(ids[i], &evaluation_kind, 0.2, 0.9);
                const bl_policy_t *chosen = NULL;
                double score = bl_policy_score_task(policy, &item, T0, NULL, &chosen);
                bool in_canary = bl_policy_canary_point(ids[i]) < 0.5;
                CHECK(chosen == (in_canary ? canary : policy));
                CHECK(fabs(score - (in_canary ? 0.9 : 0.2)) < 1e-12);
        }
        bl_policy_destroy(policy); /* and its canary */
}

static void test_guardrails_on_a_built_policy(void) {
        bl_policy_t *policy = named("guarded", "1", NULL);
        policy->weights[BL_CRITERION_BUSINESS_VALUE] = 1;
        add_domain(policy, "remediation", "remediation-workers");
        policy->domains[0].has_approval = true;
        policy->domains[0].approval_risk_threshold = 0.7;
        policy->domains[0].has_quota = true;
        policy->domains[0].quota_share = 0.3;
        CHECK(bl_policy_finish(policy));

        bl_item_t item = item_of("t", &remediation_kind, 0.5, 0.69);
        CHECK(!bl_policy_requires_approval(policy, &item));
        item.risk = 0.7;
        CHECK(bl_policy_requires_approval(policy, &item));
        item.kind = &evaluation_kind; /* not a domain of the policy: the defaults, no approval */
        CHECK(!bl_policy_requires_approval(policy, &item));

        CHECK_INT(bl_policy_quota(policy, "remediation", 10), 3);
        CHECK_INT(bl_policy_quota(policy, "remediation", 1), 1); /* slowed, never starved */
        CHECK_INT(bl_policy_quota(policy, "evaluation", 10), 10);
        bl_policy_destroy(policy);
}

/* An agent on a domain of a built policy: owned by the domain, freed with the policy; its pilot split. */
static void test_agent_of_a_domain(void) {
        bl_policy_t *policy = named("piloted", "1", NULL);
        policy->weights[BL_CRITERION_AGING] = 1;
        add_domain(policy, "remediation", "remediation-workers");
        bl_agent_policy_t *agent = calloc(1, sizeof(*agent));
        CHECK(agent != NULL);
        if (!agent) {
                bl_policy_destroy(policy);
                return;
        }
        bl_agent_policy_defaults(agent);
        CHECK_INT(agent->timeout_ms, 500);
        CHECK_INT(agent->max_candidates, 20);
        CHECK_INT(agent->max_response_bytes, 1 << 20);
        CHECK(!agent->send_payload && agent->url == NULL && agent->token_env == NULL);
        agent->url = strdup("http://127.0.0.1:1/");
        agent->pilot_share = 0.5;
        policy->domains[0].agent = agent;
        CHECK(bl_policy_finish(policy));

        /* Points pinned by the Python of docs/agents.md (canary_point with the seed). */
        CHECK(fabs(bl_policy_pilot_point("task-000000") - 0.9088068000015977) < 1e-15);
        CHECK(fabs(bl_policy_pilot_point("task-000001") - 0.018183769706415664) < 1e-15);
        CHECK(fabs(bl_policy_pilot_point("") - 0.9133781998930551) < 1e-15);
        CHECK(!bl_policy_in_pilot(agent, "task-000000"));
        CHECK(bl_policy_in_pilot(agent, "task-000001"));
        CHECK(!bl_policy_in_pilot(NULL, "task-000001"));
        agent->pilot_share = 0;
        CHECK(!bl_policy_in_pilot(agent, "task-000001"));
        agent->pilot_share = 1;
        CHECK(bl_policy_in_pilot(agent, "task-000000"));

        /* The share holds over many ids, and the pilot is independent of the canary: a pilot of 0.2 takes about
         * 0.2 of the canary's tasks (0.3 of them) too. */
        agent->pilot_share = 0.2;
        size_t in_pilot = 0, in_canary = 0, in_both = 0, total = 100000;
        for (size_t i = 0; i < total; i++) {
                char id[32];
                snprintf(id, sizeof(id), "task-%06zu", i);
                bool pilot = bl_policy_in_pilot(agent, id), canary = bl_policy_canary_point(id) < 0.3;
                in_pilot += pilot;
                in_canary += canary;
                in_both += pilot && canary;
        }
        double pilot_share = (double)in_pilot / (double)total, within_canary = (double)in_both / (double)in_canary;
        fprintf(stderr, "  pilot share %.4f, of the canary's tasks %.4f (0.2 each)\n", pilot_share, within_canary);
        CHECK(fabs(pilot_share - 0.2) < 0.005);
        CHECK(fabs(within_canary - 0.2) < 0.01);
        bl_policy_destroy(policy); /* and the agent */
}

int main(void) {
        RUN(test_new_sets_every_default);
        RUN(test_finish_derives_the_label_and_the_horizons);
        RUN(test_canary_takes_the_domain_settings_and_keeps_its_own);
        RUN(test_guardrails_on_a_built_policy);
        RUN(test_agent_of_a_domain);
        return check_exit_status();
}
