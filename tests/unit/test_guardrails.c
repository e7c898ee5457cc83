/*
 * test_guardrails.c: what of an agent's answer applies (core/guardrails.c),
 * one guardrail at a time on hand-built answers and facts: only candidates
 * that were sent; a task named twice; gone and no longer READY; approval,
 * dependencies and not_before for the order; the round's credit and quota;
 * holds bounded by hold_max_ms, by the deadline minus the margin and by
 * max_held_share; escalations; the counts by reason; and everything that
 * breaks nothing applies, in the agent's order, with its ranks and reasons.
 */
#include "check.h"
#include "core/guardrails.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0     ((int64_t)1700000000000)
#define MINUTE ((int64_t)60000)

/* Facts for @p count candidates task-0..: known, READY, nothing pending, no times. */
static void ready_facts(bl_guardrail_fact_t *facts, char ids[][16], size_t count) {
        for (size_t i = 0; i < count; i++) {
                snprintf(ids[i], 16, "task-%u", (unsigned)(i % 1000));
                facts[i] = (bl_guardrail_fact_t){.task_id = ids[i], .known = true, .ready = true,
                                                 .not_before_ms = BL_NO_TIME, .deadline_ms = BL_NO_TIME};
        }
}

static bl_agent_policy_t agent_of(int64_t hold_max_ms, double max_held_share, int64_t margin_ms) {
        bl_agent_policy_t agent;
        bl_agent_policy_defaults(&agent);
        agent.hold_max_ms = hold_max_ms;
        agent.max_held_share = max_held_share;
        agent.deadline_margin_ms = margin_ms;
        return agent;
}

static bl_guardrail_round_t round_of(size_t credit, size_t quota) {
        return (bl_guardrail_round_t){.now_ms = T0 + 100, .sent_at_ms = T0, .credit = credit, .quota = quota};
}

/* An answer over string literals (its pointers are not freed: no bl_agent_answer_clear here). */
typedef struct answer_builder_s {
        bl_agent_pick_t order[16];
        bl_agent_hold_t holds[16];
        bl_agent_escalation_t escalations[16];
        bl_agent_answer_t answer;
} answer_builder_t;

static void builder_init(answer_builder_t *builder) {
        memset(builder, 0, sizeof(*builder));
        builder->answer.order = builder->order;
        builder->answer.holds = builder->holds;
        builder->answer.escalations = builder->escalations;
}

static void pick(answer_builder_t *builder, const char *task_id, const char *reason) {
        builder->order[builder->answer.order_count++] = (bl_agent_pick_t){(char *)task_id, (char *)reason};
}

static void hold(answer_builder_t *builder, const char *task_id, int64_t hold_ms) {
        builder->holds[builder->answer.hold_count++] = (bl_agent_hold_t){(char *)task_id, hold_ms, (char *)"stale"};
}

static void escalate(answer_builder_t *builder, const char *task_id, const char *reason) {
        builder->escalations[builder->answer.escalation_count++] =
                (bl_agent_escalation_t){(char *)task_id, (char *)reason};
}

static bool refused_for(const bl_guardrail_result_t *result, bl_agent_part_t part, const char *task_id,
                        bl_refusal_t reason) {
        for (size_t i = 0; i < result->refusal_count; i++)
                if (result->refusals[i].part == part && !strcmp(result->refusals[i].task_id, task_id) &&
                    result->refusals[i].reason == reason)
                        return true;
        return false;
}

static void test_everything_within_bounds_applies_in_the_agents_order(void) {
        bl_guardrail_fact_t facts[5];
        char ids[5][16];
        ready_facts(facts, ids, 5);
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 0.4, MINUTE);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        pick(&b, "task-3", "deadline in 4 minutes");
        pick(&b, "task-0", "");
        escalate(&b, "task-4", "risky remediation");
        hold(&b, "task-1", 5 * MINUTE);
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 5, &b.answer, &result));
        CHECK_INT(result.refusal_count, 0);
        CHECK_INT(result.order_count, 2);
        CHECK_INT(result.order[0].candidate, 3);
        CHECK_INT(result.order[0].rank, 1);
        CHECK_STR(result.order[0].reason, "deadline in 4 minutes");
        CHECK_INT(result.order[1].candidate, 0);
        CHECK_INT(result.order[1].rank, 2);
        CHECK_INT(result.hold_count, 1);
        CHECK_INT(result.holds[0].candidate, 1);
        CHECK_INT(result.holds[0].until_ms, T0 + 5 * MINUTE); /* from when the request was sent */
        CHECK_STR(result.holds[0].reason, "stale");
        CHECK_INT(result.escalation_count, 1);
        CHECK_INT(result.escalations[0].candidate, 4);
        CHECK_STR(result.escalations[0].reason, "risky remediation");
        bl_guardrail_result_clear(&result);
        CHECK(result.order == NULL && result.order_count == 0);
}

static void test_only_candidates_that_were_sent(void) {
        bl_guardrail_fact_t facts[2];
        char ids[2][16];
        ready_facts(facts, ids, 2);
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 1, 0);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        pick(&b, "task-9", "invented");
        pick(&b, "task-1", "");
        hold(&b, "other-task", 1000);
        escalate(&b, "task-", "prefix of a real id");
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 2, &b.answer, &result));
        CHECK_INT(result.order_count, 1);
        CHECK_INT(result.order[0].candidate, 1);
        CHECK_INT(result.order[0].rank, 2); /* the agent's rank, refused entries counted */
        CHECK_INT(result.refused[BL_REFUSAL_NOT_SENT], 3);
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-9", BL_REFUSAL_NOT_SENT));
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "other-task", BL_REFUSAL_NOT_SENT));
        CHECK(refused_for(&result, BL_AGENT_PART_ESCALATION, "task-", BL_REFUSAL_NOT_SENT));
        CHECK_INT(result.refusals[0].index, 0); /* escalations are judged first */
        bl_guardrail_result_clear(&result);
}

static void test_a_task_named_twice_is_a_duplicate(void) {
        bl_guardrail_fact_t facts[3];
        char ids[3][16];
        ready_facts(facts, ids, 3);
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 1, 0);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        escalate(&b, "task-0", "risky");
        hold(&b, "task-0", 1000); /* already escalated */
        hold(&b, "task-1", 9 * 60 * MINUTE); /* refused as too long, and still claims task-1 */
        pick(&b, "task-1", "");
        pick(&b, "task-2", "");
        pick(&b, "task-2", "again");
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 3, &b.answer, &result));
        CHECK_INT(result.escalation_count, 1);
        CHECK_INT(result.hold_count, 0);
        CHECK_INT(result.order_count, 1);
        CHECK_INT(result.order[0].candidate, 2);
        CHECK_INT(result.refused[BL_REFUSAL_DUPLICATE], 3);
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "task-0", BL_REFUSAL_DUPLICATE));
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "task-1", BL_REFUSAL_HOLD_TOO_LONG));
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-1", BL_REFUSAL_DUPLICATE));
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-2", BL_REFUSAL_DUPLICATE));
        bl_guardrail_result_clear(&result);
}

static void test_gone_and_no_longer_ready(void) {
        bl_guardrail_fact_t facts[4];
        char ids[4][16];
        ready_facts(facts, ids, 4);
        facts[0].known = false;
        facts[0].ready = false;
        facts[1].ready = false; /* dispatched by the policy while the agent thought */
        facts[2].ready = false;
        facts[3].ready = false;
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 1, 0);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        pick(&b, "task-0", "");
        pick(&b, "task-1", "");
        hold(&b, "task-2", 1000);
        escalate(&b, "task-3", "risky");
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 4, &b.answer, &result));
        CHECK_INT(result.order_count + result.hold_count + result.escalation_count, 0);
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-0", BL_REFUSAL_GONE));
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-1", BL_REFUSAL_NOT_READY));
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "task-2", BL_REFUSAL_NOT_READY));
        CHECK(refused_for(&result, BL_AGENT_PART_ESCALATION, "task-3", BL_REFUSAL_NOT_READY));
        CHECK_INT(result.refused[BL_REFUSAL_NOT_READY], 3);
        CHECK_INT(result.refused[BL_REFUSAL_GONE], 1);
        bl_guardrail_result_clear(&result);
}

static void test_order_never_past_approval_dependencies_or_not_before(void) {
        bl_guardrail_fact_t facts[4];
        char ids[4][16];
        ready_facts(facts, ids, 4);
        facts[0].needs_approval = true;
        facts[1].dependencies_pending = true;
        facts[2].not_before_ms = T0 + 101; /* the round is at T0 + 100 */
        facts[3].not_before_ms = T0 + 100; /* due now: fine */
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 1, 0);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        for (size_t i = 0; i < 4; i++)
                pick(&b, ids[i], "");
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 4, &b.answer, &result));
        CHECK_INT(result.order_count, 1);
        CHECK_INT(result.order[0].candidate, 3);
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-0", BL_REFUSAL_NEEDS_APPROVAL));
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-1", BL_REFUSAL_DEPENDENCIES));
        CHECK(refused_for(&result, BL_AGENT_PART_ORDER, "task-2", BL_REFUSAL_NOT_BEFORE));
        bl_guardrail_result_clear(&result);
}

static void test_order_never_past_credit_or_quota(void) {
        bl_guardrail_fact_t facts[5];
        char ids[5][16];
        ready_facts(facts, ids, 5);
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 1, 0);
        answer_builder_t b;
        builder_init(&b);
        for (size_t i = 0; i < 5; i++)
                pick(&b, ids[4 - i], "");
        bl_guardrail_result_t result;
        bl_guardrail_round_t round = round_of(2, SIZE_MAX); /* credit 2, no quota */
        CHECK(bl_guardrails_apply(&agent, &round, facts, 5, &b.answer, &result));
        CHECK_INT(result.order_count, 2);
        CHECK_INT(result.order[0].candidate, 4);
        CHECK_INT(result.order[1].candidate, 3);
        CHECK_INT(result.refused[BL_REFUSAL_PAST_CREDIT], 3);
        bl_guardrail_result_clear(&result);

        round = round_of(4, 1); /* the quota is the tighter */
        CHECK(bl_guardrails_apply(&agent, &round, facts, 5, &b.answer, &result));
        CHECK_INT(result.order_count, 1);
        CHECK_INT(result.refused[BL_REFUSAL_PAST_QUOTA], 4);
        CHECK_INT(result.refused[BL_REFUSAL_PAST_CREDIT], 0);
        bl_guardrail_result_clear(&result);

        round = round_of(0, SIZE_MAX); /* throttled: nothing goes */
        CHECK(bl_guardrails_apply(&agent, &round, facts, 5, &b.answer, &result));
        CHECK_INT(result.order_count, 0);
        CHECK_INT(result.refused[BL_REFUSAL_PAST_CREDIT], 5);
        bl_guardrail_result_clear(&result);
}

static void test_holds_bounded_by_hold_max_ms(void) {
        bl_guardrail_fact_t facts[2];
        char ids[2][16];
        ready_facts(facts, ids, 2);
        bl_agent_policy_t agent = agent_of(10 * MINUTE, 1, 0);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        hold(&b, "task-0", 10 * MINUTE);     /* at the bound: fine */
        hold(&b, "task-1", 10 * MINUTE + 1); /* past it */
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 2, &b.answer, &result));
        CHECK_INT(result.hold_count, 1);
        CHECK_INT(result.holds[0].candidate, 0);
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "task-1", BL_REFUSAL_HOLD_TOO_LONG));
        bl_guardrail_result_clear(&result);

        agent.hold_max_ms = 0; /* no holds at all */
        CHECK(bl_guardrails_apply(&agent, &round, facts, 2, &b.answer, &result));
        CHECK_INT(result.hold_count, 0);
        CHECK_INT(result.refused[BL_REFUSAL_HOLD_TOO_LONG], 2);
        bl_guardrail_result_clear(&result);
}

static void test_holds_never_past_the_deadline_minus_the_margin(void) {
        bl_guardrail_fact_t facts[3];
        char ids[3][16];
        ready_facts(facts, ids, 3);
        facts[0].deadline_ms = T0 + 10 * MINUTE;
        facts[1].deadline_ms = T0 + 10 * MINUTE;
        facts[2].deadline_ms = T0 - MINUTE; /* already past due: no hold at all */
        bl_agent_policy_t agent = agent_of(60 * MINUTE, 1, 2 * MINUTE);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        hold(&b, "task-0", 8 * MINUTE);     /* ends at deadline - margin: fine */
        hold(&b, "task-1", 8 * MINUTE + 1); /* a millisecond later */
        hold(&b, "task-2", 1);
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 3, &b.answer, &result));
        CHECK_INT(result.hold_count, 1);
        CHECK_INT(result.holds[0].candidate, 0);
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "task-1", BL_REFUSAL_HOLD_PAST_DEADLINE));
        CHECK(refused_for(&result, BL_AGENT_PART_HOLD, "task-2", BL_REFUSAL_HOLD_PAST_DEADLINE));
        bl_guardrail_result_clear(&result);
}

static void test_holds_bounded_by_max_held_share(void) {
        bl_guardrail_fact_t facts[10];
        char ids[10][16];
        ready_facts(facts, ids, 10);
        bl_agent_policy_t agent = agent_of(60 * MINUTE, 0.3, 0); /* 3 of the 10 sent */
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        for (size_t i = 0; i < 10; i++)
                hold(&b, ids[i], 1000);
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, 10, &b.answer, &result));
        CHECK_INT(result.hold_count, 3);
        CHECK_INT(result.holds[2].candidate, 2); /* the first three asked */
        CHECK_INT(result.refused[BL_REFUSAL_TOO_MANY_HELD], 7);
        bl_guardrail_result_clear(&result);

        agent.max_held_share = 0.29; /* floor(2.9) = 2 */
        CHECK(bl_guardrails_apply(&agent, &round, facts, 10, &b.answer, &result));
        CHECK_INT(result.hold_count, 2);
        bl_guardrail_result_clear(&result);

        agent.max_held_share = 0; /* holds refused, the rest of the answer still applies */
        pick(&b, "task-0", "");
        CHECK(bl_guardrails_apply(&agent, &round, facts, 10, &b.answer, &result));
        CHECK_INT(result.hold_count, 0);
        CHECK_INT(result.refused[BL_REFUSAL_TOO_MANY_HELD], 10);
        CHECK_INT(result.refused[BL_REFUSAL_DUPLICATE], 1); /* task-0 was named by a hold first */
        bl_guardrail_result_clear(&result);
}

static void test_empty_answer_and_no_candidates(void) {
        bl_agent_policy_t agent = agent_of(MINUTE, 0.5, 0);
        bl_guardrail_round_t round = round_of(10, SIZE_MAX);
        answer_builder_t b;
        builder_init(&b);
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, NULL, 0, &b.answer, &result));
        CHECK_INT(result.order_count + result.hold_count + result.escalation_count + result.refusal_count, 0);
        bl_guardrail_result_clear(&result);
        pick(&b, "task-0", "");
        CHECK(bl_guardrails_apply(&agent, &round, NULL, 0, &b.answer, &result));
        CHECK_INT(result.refused[BL_REFUSAL_NOT_SENT], 1);
        bl_guardrail_result_clear(&result);
        bl_guardrail_result_clear(NULL);
}

static void test_reason_names(void) {
        const char *expected[BL_REFUSAL__COUNT] = {
                "not_sent",   "duplicate",   "gone",       "not_ready",     "needs_approval",     "dependencies",
                "not_before", "past_credit", "past_quota", "hold_too_long", "hold_past_deadline", "too_many_held"};
        for (int i = 0; i < BL_REFUSAL__COUNT; i++)
                CHECK_STR(bl_refusal_name((bl_refusal_t)i), expected[i]);
        CHECK_STR(bl_refusal_name(BL_REFUSAL__COUNT), "?");
        CHECK_STR(bl_agent_part_name(BL_AGENT_PART_ORDER), "order");
        CHECK_STR(bl_agent_part_name(BL_AGENT_PART_HOLD), "hold");
        CHECK_STR(bl_agent_part_name(BL_AGENT_PART_ESCALATION), "escalation");
}

/* The index by task_id against a linear scan, over many candidates in an order unlike their ids'. */
static void test_many_candidates_are_found(void) {
        enum { N = 500 };
        static bl_guardrail_fact_t facts[N];
        static char ids[N][16];
        for (size_t i = 0; i < N; i++) {
                snprintf(ids[i], 16, "t%u", (unsigned)((i * 7919) % 1000));
                facts[i] = (bl_guardrail_fact_t){.task_id = ids[i], .known = true, .ready = true,
                                                 .not_before_ms = BL_NO_TIME, .deadline_ms = BL_NO_TIME};
        }
        bl_agent_policy_t agent = agent_of(MINUTE, 1, 0);
        bl_guardrail_round_t round = round_of(N, SIZE_MAX);
        bl_agent_pick_t order[N];
        for (size_t i = 0; i < N; i++)
                order[i] = (bl_agent_pick_t){ids[N - 1 - i], (char *)""};
        bl_agent_answer_t answer = {.order = order, .order_count = N};
        bl_guardrail_result_t result;
        CHECK(bl_guardrails_apply(&agent, &round, facts, N, &answer, &result));
        CHECK_INT(result.order_count, N);
        bool all_right = true;
        for (size_t i = 0; i < result.order_count; i++)
                all_right = all_right && result.order[i].candidate == N - 1 - i;
        CHECK(all_right);
        bl_guardrail_result_clear(&result);
}

/* What the pipeline hands over: a candidate and a fact made from a backlog item. */
static void test_candidates_and_facts_from_items(void) {
        bl_policy_t *policy = bl_policy_new(NULL);
        policy->name = strdup("p");
        policy->version = strdup("1");
        policy->weights[BL_CRITERION_BUSINESS_VALUE] = 2;
        CHECK(bl_policy_finish(policy));
        bl_item_t *item = bl_item_new_of_kind("task-7", 0, "retrain", "evaluation", "acme", NULL);
        CHECK(item != NULL);
        if (!item) {
                bl_policy_destroy(policy);
                return;
        }
        item->state = BL_STATE_READY;
        item->business_value = 0.25;
        item->risk = 0.5;
        item->attempt = 1;
        item->deadline_ms = T0 + MINUTE;
        item->ready_since_ms = T0;
        item->data_ready_at_ms = BL_NO_TIME;
        const char *keys[] = {"team"}, *values[] = {"ml"};
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        CHECK(cold && bl_labels_set(&cold->labels, keys, values, 1));

        bl_criterion_t rationale[BL_POLICY_CRITERIA];
        bl_agent_candidate_t candidate;
        bl_agent_candidate_of(policy, item, T0, NULL, rationale, &candidate);
        CHECK_STR(candidate.task_id, "task-7");
        CHECK_INT(candidate.attempt, 2);
        CHECK_INT(candidate.max_attempts, 3); /* the domain's (the built-in fallback) */
        CHECK_STR(candidate.task_type, "retrain");
        CHECK_STR(candidate.tenant, "acme");
        CHECK(candidate.score == 0.5);
        CHECK_STR(candidate.policy_label, "p@1");
        CHECK(candidate.rationale == rationale);
        CHECK_STR(rationale[BL_CRITERION_BUSINESS_VALUE].name, "business_value");
        CHECK(candidate.labels != NULL && candidate.labels->count == 1);
        CHECK(candidate.payload == NULL);

        bl_guardrail_fact_t fact = bl_guardrail_fact_of("task-7", item);
        CHECK(fact.known && fact.ready && !fact.needs_approval && !fact.dependencies_pending);
        CHECK_INT(fact.deadline_ms, T0 + MINUTE);
        item->approval_required = true;
        CHECK(bl_guardrail_fact_of("task-7", item).needs_approval);
        item->approved = true;
        CHECK(!bl_guardrail_fact_of("task-7", item).needs_approval);
        CHECK(bl_strvec_push(&cold->pending_deps, "task-6"));
        CHECK(bl_guardrail_fact_of("task-7", item).dependencies_pending);
        item->state = BL_STATE_DISPATCHED;
        CHECK(!bl_guardrail_fact_of("task-7", item).ready);
        fact = bl_guardrail_fact_of("task-8", NULL);
        CHECK(!fact.known && !fact.ready);
        CHECK_STR(fact.task_id, "task-8");
        bl_item_destroy(item);
        bl_policy_destroy(policy);
}

int main(void) {
        RUN(test_everything_within_bounds_applies_in_the_agents_order);
        RUN(test_only_candidates_that_were_sent);
        RUN(test_a_task_named_twice_is_a_duplicate);
        RUN(test_gone_and_no_longer_ready);
        RUN(test_order_never_past_approval_dependencies_or_not_before);
        RUN(test_order_never_past_credit_or_quota);
        RUN(test_holds_bounded_by_hold_max_ms);
        RUN(test_holds_never_past_the_deadline_minus_the_margin);
        RUN(test_holds_bounded_by_max_held_share);
        RUN(test_empty_answer_and_no_candidates);
        RUN(test_reason_names);
        RUN(test_many_candidates_are_found);
        RUN(test_candidates_and_facts_from_items);
        return check_exit_status();
}
