/*
 * test_pilot.c: the fold of `backlogd pilot report` (core/pilot.c) on
 * hand-built histories: dispatches go to the row of whoever decided them
 * (the agent's label, the pilot's policy fallbacks by reason, the control
 * group); waits are measured from READY and their p50/p90 are nearest
 * ranks; retries, first-attempt successes and deadline misses (EXPIRED,
 * completed late) land in the right row; holds and escalations are told
 * apart; a domain without decided_by is left out; the window counts only
 * what happened in it while following every task from its start; labels
 * for the metrics.
 */
#include "check.h"
#include "core/pilot.h"

#include <string.h>

#define T0 ((int64_t)1700000000000)

typedef struct history_s {
        bl_pilot_t *pilot;
        int64_t seq;
} history_t;

/* One transition of @p task in @p domain; @p decided_by/@p fallback set its provenance (NULL: none). */
static void fold(history_t *h, const char *task, const char *domain, bl_state_t from, bl_state_t to,
                 const char *cause, int32_t attempt, int64_t at_ms, const char *decided_by, const char *fallback,
                 int64_t deadline_ms, bool awaiting_approval) {
        bl_item_t *item = bl_item_new_of_kind(task, 0, "t", domain, NULL, "standard");
        bl_provenance_t provenance = bl_provenance_none();
        provenance.decided_by = decided_by;
        provenance.fallback = fallback;
        item->state = to;
        item->attempt = attempt;
        item->deadline_ms = deadline_ms;
        item->approval_required = awaiting_approval;
        bl_transition_t t = {.task_id = task,
                             .seq = ++h->seq,
                             .has_from = to != BL_STATE_QUEUED,
                             .from = from,
                             .to = to,
                             .cause = cause,
                             .attempt = attempt,
                             .at_ms = at_ms,
                             .provenance = decided_by ? &provenance : NULL};
        CHECK_INT(bl_pilot_fold(h->pilot, &t, item), BL_OK);
        bl_item_destroy(item);
}

/* READY at @p ready_ms, dispatched at @p dispatched_ms by @p decided_by, then ended @p end at @p end_ms. */
static void attempt(history_t *h, const char *task, const char *domain, int32_t number, int64_t ready_ms,
                    int64_t dispatched_ms, const char *decided_by, const char *fallback, bl_state_t end,
                    int64_t end_ms, int64_t deadline_ms) {
        fold(h, task, domain, number > 1 ? BL_STATE_RETRY_WAIT : BL_STATE_QUEUED, BL_STATE_READY, "x", number - 1,
             ready_ms, NULL, NULL, deadline_ms, false);
        fold(h, task, domain, BL_STATE_READY, BL_STATE_DISPATCHED, "dispatch", number, dispatched_ms, decided_by,
             fallback, deadline_ms, false);
        fold(h, task, domain, BL_STATE_DISPATCHED, end, "result", number, end_ms, NULL, NULL, deadline_ms, false);
}

static const bl_pilot_group_t *row(const bl_pilot_domain_t *domain, const char *label) {
        for (size_t g = 0; g < domain->group_count; g++)
                if (!strcmp(domain->groups[g].label, label))
                        return &domain->groups[g];
        return NULL;
}

static void test_rows_by_who_decided(void) {
        history_t h = {bl_pilot_new(BL_NO_TIME, BL_NO_TIME), 0};
        bl_pilot_report_t report;
        /* the agent: 10 tasks, waits 10..100 ms; 9 succeed, one fails and its retry is the agent's too */
        for (int i = 0; i < 10; i++) {
                char id[16];
                snprintf(id, sizeof(id), "a%d", i);
                attempt(&h, id, "ml", 1, T0, T0 + 10 * (i + 1), "triage@1.2", NULL,
                        i == 9 ? BL_STATE_FAILED : BL_STATE_COMPLETED, T0 + 1000, BL_NO_TIME);
        }
        attempt(&h, "a9", "ml", 2, T0 + 2000, T0 + 2005, "triage@1.2", NULL, BL_STATE_COMPLETED, T0 + 3000,
                BL_NO_TIME);
        /* the pilot's fallbacks: two timeouts, one breaker_open, one unknown reason */
        attempt(&h, "p1", "ml", 1, T0, T0 + 500, "policy", "timeout", BL_STATE_COMPLETED, T0 + 900, BL_NO_TIME);
        attempt(&h, "p2", "ml", 1, T0, T0 + 600, "policy", "timeout", BL_STATE_COMPLETED, T0 + 900, BL_NO_TIME);
        attempt(&h, "p3", "ml", 1, T0, T0 + 700, "policy", "breaker_open", BL_STATE_FAILED, T0 + 900, BL_NO_TIME);
        attempt(&h, "p4", "ml", 1, T0, T0 + 800, "policy", "something_new", BL_STATE_COMPLETED, T0 + 900,
                BL_NO_TIME);
        /* the control group: completed after its deadline */
        attempt(&h, "c1", "ml", 1, T0, T0 + 50, "policy", "control", BL_STATE_COMPLETED, T0 + 5000, T0 + 4000);
        /* a domain without an agent */
        attempt(&h, "x1", "etl", 1, T0, T0 + 50, NULL, NULL, BL_STATE_COMPLETED, T0 + 100, BL_NO_TIME);
        CHECK_INT(bl_pilot_report(h.pilot, &report), BL_OK);
        CHECK_INT(report.domain_count, 1);
        CHECK_STR(report.domains[0].domain, "ml");
        CHECK_INT(report.domains[0].group_count, 3);
        CHECK_STR(report.domains[0].groups[0].label, "triage@1.2"); /* agents, then policy, then control */
        CHECK_STR(report.domains[0].groups[1].label, "policy");
        CHECK_STR(report.domains[0].groups[2].label, "control");
        const bl_pilot_group_t *agent = row(&report.domains[0], "triage@1.2");
        CHECK_INT(agent->kind, BL_PILOT_AGENT);
        CHECK_INT(agent->tasks, 10);
        CHECK_INT(agent->dispatches, 11);
        CHECK_INT(agent->retries, 1);
        CHECK_INT(agent->first_attempts, 10);
        CHECK_INT(agent->first_attempt_successes, 9);
        CHECK_INT(agent->waits, 11); /* 5, 10, 20, ..., 100 */
        CHECK_INT(agent->wait_p50_ms, 50);
        CHECK_INT(agent->wait_p90_ms, 90);
        CHECK_INT(agent->deadline_misses, 0);
        const bl_pilot_group_t *policy = row(&report.domains[0], "policy");
        CHECK_INT(policy->kind, BL_PILOT_POLICY);
        CHECK_INT(policy->dispatches, 4);
        CHECK_INT(policy->fallbacks[BL_PILOT_FALLBACK_TIMEOUT], 2);
        CHECK_INT(policy->fallbacks[BL_PILOT_FALLBACK_BREAKER_OPEN], 1);
        CHECK_INT(policy->fallbacks[BL_PILOT_FALLBACK_OTHER], 1);
        CHECK_INT(policy->first_attempt_successes, 3);
        CHECK_INT(policy->wait_p50_ms, 600);
        const bl_pilot_group_t *control = row(&report.domains[0], "control");
        CHECK_INT(control->kind, BL_PILOT_CONTROL);
        CHECK_INT(control->deadline_misses, 1);
        CHECK_INT(control->completed_late, 1);
        CHECK_INT(control->first_attempt_successes, 1); /* late, but a success */
        CHECK_INT(report.transitions, 3 * 17);
        bl_pilot_report_free(&report);
        bl_pilot_destroy(h.pilot);
}

static void test_holds_escalations_and_expiries(void) {
        history_t h = {bl_pilot_new(BL_NO_TIME, BL_NO_TIME), 0};
        bl_pilot_report_t report;
        /* held by the agent, then expired before any dispatch: the agent's miss */
        fold(&h, "h1", "ml", BL_STATE_QUEUED, BL_STATE_READY, "SUBMITTED", 0, T0, NULL, NULL, T0 + 100, false);
        fold(&h, "h1", "ml", BL_STATE_READY, BL_STATE_BLOCKED, "agent", 0, T0 + 1, "triage@1.2", NULL, T0 + 100,
             false);
        fold(&h, "h1", "ml", BL_STATE_BLOCKED, BL_STATE_EXPIRED, "deadline", 0, T0 + 100, NULL, NULL, T0 + 100,
             false);
        /* escalated: awaiting approval */
        fold(&h, "e1", "ml", BL_STATE_QUEUED, BL_STATE_READY, "SUBMITTED", 0, T0, NULL, NULL, BL_NO_TIME, false);
        fold(&h, "e1", "ml", BL_STATE_READY, BL_STATE_BLOCKED, "agent", 0, T0 + 1, "triage@1.2", NULL, BL_NO_TIME,
             true);
        /* expired READY, nobody decided */
        fold(&h, "n1", "ml", BL_STATE_QUEUED, BL_STATE_READY, "SUBMITTED", 0, T0, NULL, NULL, T0 + 10, false);
        fold(&h, "n1", "ml", BL_STATE_READY, BL_STATE_EXPIRED, "deadline", 0, T0 + 10, NULL, NULL, T0 + 10, false);
        /* dispatched by the control group, failed, then expired waiting for its retry: control's miss */
        attempt(&h, "c1", "ml", 1, T0, T0 + 5, "policy", "control", BL_STATE_FAILED, T0 + 6, T0 + 50);
        fold(&h, "c1", "ml", BL_STATE_FAILED, BL_STATE_RETRY_WAIT, "retry", 1, T0 + 6, NULL, NULL, T0 + 50, false);
        fold(&h, "c1", "ml", BL_STATE_RETRY_WAIT, BL_STATE_EXPIRED, "deadline", 1, T0 + 50, NULL, NULL, T0 + 50,
             false);
        CHECK_INT(bl_pilot_report(h.pilot, &report), BL_OK);
        CHECK_INT(report.domain_count, 1);
        const bl_pilot_group_t *agent = row(&report.domains[0], "triage@1.2");
        CHECK_INT(agent->holds, 1);
        CHECK_INT(agent->escalations, 1);
        CHECK_INT(agent->dispatches, 0);
        CHECK_INT(agent->deadline_misses, 1);
        CHECK_INT(agent->expired, 1);
        CHECK_INT(agent->wait_p50_ms, -1);
        const bl_pilot_group_t *control = row(&report.domains[0], "control");
        CHECK_INT(control->deadline_misses, 1);
        CHECK_INT(control->expired, 1);
        CHECK_INT(control->first_attempts, 1);
        CHECK_INT(control->first_attempt_successes, 0);
        CHECK_INT(report.domains[0].expired_undecided, 1);
        bl_pilot_report_free(&report);
        bl_pilot_destroy(h.pilot);
}

static void test_window(void) {
        history_t h = {bl_pilot_new(T0 + 1000, T0 + 2000), 0};
        bl_pilot_report_t report;
        /* READY before the window, dispatched in it: the wait counts from the READY before */
        attempt(&h, "w1", "ml", 1, T0, T0 + 1500, "triage@1", NULL, BL_STATE_COMPLETED, T0 + 1600, BL_NO_TIME);
        /* dispatched before the window, completed in it: the outcome counts, the dispatch not */
        attempt(&h, "w2", "ml", 1, T0, T0 + 10, "triage@1", NULL, BL_STATE_COMPLETED, T0 + 1100, BL_NO_TIME);
        /* all after the window */
        attempt(&h, "w3", "ml", 1, T0 + 2000, T0 + 2001, "triage@1", NULL, BL_STATE_COMPLETED, T0 + 2002,
                BL_NO_TIME);
        CHECK_INT(bl_pilot_report(h.pilot, &report), BL_OK);
        const bl_pilot_group_t *agent = row(&report.domains[0], "triage@1");
        CHECK_INT(agent->dispatches, 1);
        CHECK_INT(agent->tasks, 1);
        CHECK_INT(agent->wait_p50_ms, 1500);
        CHECK_INT(agent->first_attempts, 2);
        CHECK_INT(agent->first_attempt_successes, 2);
        CHECK_INT(report.transitions, 9);
        CHECK_INT(report.in_window, 3);
        CHECK_INT(report.first_ms, T0 + 1100);
        CHECK_INT(report.last_ms, T0 + 1600);
        bl_pilot_report_free(&report);
        bl_pilot_destroy(h.pilot);
}

static void test_many_agent_versions_stay_bounded(void) {
        history_t h = {bl_pilot_new(BL_NO_TIME, BL_NO_TIME), 0};
        bl_pilot_report_t report;
        char id[32], label[32];
        for (int i = 0; i < 100; i++) {
                snprintf(id, sizeof(id), "v%d", i);
                snprintf(label, sizeof(label), "triage@%d", i);
                attempt(&h, id, "ml", 1, T0, T0 + 1, label, NULL, BL_STATE_COMPLETED, T0 + 2, BL_NO_TIME);
        }
        attempt(&h, "p", "ml", 1, T0, T0 + 1, "policy", "failed", BL_STATE_COMPLETED, T0 + 2, BL_NO_TIME);
        attempt(&h, "c", "ml", 1, T0, T0 + 1, "policy", "control", BL_STATE_COMPLETED, T0 + 2, BL_NO_TIME);
        CHECK_INT(bl_pilot_report(h.pilot, &report), BL_OK);
        CHECK_INT(report.domains[0].group_count, 64);
        const bl_pilot_group_t *overflow = row(&report.domains[0], "(other agent versions)");
        CHECK(overflow != NULL);
        CHECK_INT(overflow->dispatches, 100 - 61);
        CHECK_INT(overflow->tasks, 100 - 61);
        CHECK_INT(row(&report.domains[0], "control")->dispatches, 1);
        CHECK_INT(row(&report.domains[0], "policy")->dispatches, 1);
        bl_pilot_report_free(&report);
        bl_pilot_destroy(h.pilot);
}

/* The live fold hands out what each transition counted, and follows only the tasks it is told to. */
static void test_live_effects(void) {
        bl_pilot_t *live = bl_pilot_new_live();
        bl_pilot_effect_t effect;
        bl_provenance_t agent = bl_provenance_none();
        bl_item_t *item = bl_item_new_of_kind("t1", 0, "t", "ml", NULL, "standard");
        bl_transition_t ready = {.task_id = "t1", .seq = 1, .to = BL_STATE_READY, .cause = "SUBMITTED",
                                 .at_ms = T0};
        bl_transition_t dispatch = {.task_id = "t1", .seq = 2, .has_from = true, .from = BL_STATE_READY,
                                    .to = BL_STATE_DISPATCHED, .cause = "dispatch", .attempt = 1,
                                    .at_ms = T0 + 250, .provenance = &agent};
        bl_transition_t done = {.task_id = "t1", .seq = 3, .has_from = true, .from = BL_STATE_DISPATCHED,
                                .to = BL_STATE_COMPLETED, .cause = "COMPLETED", .attempt = 1, .at_ms = T0 + 900};
        agent.decided_by = "triage@2";
        item->deadline_ms = T0 + 500;
        /* not followed: a domain without an agent, nothing counted, nothing kept */
        CHECK_INT(bl_pilot_fold_effect(live, &ready, item, false, &effect), BL_OK);
        CHECK(effect.domain == NULL);
        CHECK_INT(bl_pilot_tracked(live), 0);
        /* followed */
        CHECK_INT(bl_pilot_fold_effect(live, &ready, item, true, &effect), BL_OK);
        CHECK_STR(effect.domain, "ml");
        CHECK(effect.dispatch_label == NULL && effect.attempt_label == NULL && effect.miss_label == NULL);
        CHECK_INT(bl_pilot_tracked(live), 1);
        CHECK_INT(bl_pilot_fold_effect(live, &dispatch, item, false, &effect), BL_OK);
        CHECK_STR(effect.dispatch_label, "triage@2");
        CHECK_INT(effect.wait_ms, 250);
        CHECK_INT(bl_pilot_fold_effect(live, &done, item, false, &effect), BL_OK);
        CHECK_STR(effect.attempt_label, "triage@2");
        CHECK(effect.attempt_succeeded);
        CHECK_STR(effect.miss_label, "triage@2"); /* completed after its deadline */
        CHECK_INT(bl_pilot_tracked(live), 0);     /* ended: forgotten */
        /* a dispatch naming decided_by is followed even when the caller did not know of the agent */
        dispatch.task_id = "t2";
        CHECK_INT(bl_pilot_fold_effect(live, &dispatch, item, false, &effect), BL_OK);
        CHECK_STR(effect.dispatch_label, "triage@2");
        CHECK_INT(effect.wait_ms, -1); /* its READY start was not seen */
        CHECK_INT(bl_pilot_tracked(live), 1);
        /* its partition revoked: forgotten, and only its partition's tasks */
        dispatch.task_id = "t3";
        item->partition = 2;
        CHECK_INT(bl_pilot_fold_effect(live, &dispatch, item, true, &effect), BL_OK);
        CHECK_INT(bl_pilot_tracked(live), 2);
        CHECK_INT(bl_pilot_forget_partition(live, 0), 1);
        CHECK_INT(bl_pilot_tracked(live), 1);
        CHECK_INT(bl_pilot_forget_partition(live, 0), 0);
        CHECK_INT(bl_pilot_forget_partition(live, 2), 1);
        CHECK_INT(bl_pilot_tracked(live), 0);
        bl_item_destroy(item);
        bl_pilot_destroy(live);
}

static void test_labels(void) {
        bl_provenance_t p = bl_provenance_none();
        CHECK(bl_pilot_decided_by_label(NULL) == NULL);
        CHECK(bl_pilot_decided_by_label(&p) == NULL);
        p.decided_by = "triage@1.2";
        CHECK_STR(bl_pilot_decided_by_label(&p), "triage@1.2");
        p.decided_by = "policy";
        p.fallback = "control";
        CHECK_STR(bl_pilot_decided_by_label(&p), "control");
        p.fallback = "timeout";
        CHECK_STR(bl_pilot_decided_by_label(&p), "policy");
        CHECK_STR(bl_pilot_fallback_name(BL_PILOT_FALLBACK_NOT_IN_ANSWER), "not_in_answer");
        CHECK_STR(bl_pilot_group_kind_name(BL_PILOT_POLICY), "fallback");
}

int main(void) {
        RUN(test_rows_by_who_decided);
        RUN(test_holds_escalations_and_expiries);
        RUN(test_window);
        RUN(test_many_agent_versions_stay_bounded);
        RUN(test_live_effects);
        RUN(test_labels);
        return check_exit_status();
}
