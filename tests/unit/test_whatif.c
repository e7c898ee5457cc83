/*
 * test_whatif.c: the offline canary of `backlogd replay --policy` on
 * hand-built histories. Over a FIFO history, a policy that weighs
 * business_value picks another order, and every figure is checked exactly:
 * picks, same-task count, Kendall tau, waits (mean, p50, p95), the lists of
 * the most changed. A policy that only weighs aging reproduces FIFO. A
 * retry arrives as long after the candidate's dispatch as it did after the
 * recorded one; a deadline passing in the candidate's READY set expires the
 * task (the decision is then not made); a cancellation leaves it; an
 * UPDATED note re-scores a waiting task; a dispatch without its READY start
 * is skipped; within one millisecond the offsets of a partition say whether
 * a task was READY before a decision; and the report does not depend on the
 * order in which partitions were read.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/whatif.h"

#define T0 INT64_C(1795849200000)

/* A candidate policy that weighs one criterion, built as core's plain struct (no JSON in core's tests). */
typedef struct candidate_s {
        const char *name, *version;
        bl_criterion_id_t criterion;
} candidate_t;

static const candidate_t VALUE_FIRST = {"value-first", "2", BL_CRITERION_BUSINESS_VALUE};
static const candidate_t OLDEST_FIRST = {"oldest-first", "1", BL_CRITERION_AGING};
static const candidate_t AT_RISK_FIRST = {"at-risk-first", "1", BL_CRITERION_DEADLINE_RISK};

static bl_policy_t *policy_of(const candidate_t *candidate) {
        bl_policy_t *policy = bl_policy_new(NULL);
        CHECK(policy != NULL);
        policy->name = strdup(candidate->name);
        policy->version = strdup(candidate->version);
        policy->weights[candidate->criterion] = 1;
        CHECK(policy->name && policy->version && bl_policy_finish(policy));
        char label[64];
        snprintf(label, sizeof(label), "%s@%s", candidate->name, candidate->version);
        CHECK_STR(bl_policy_label(policy), label);
        return policy;
}

/* ---- a task's history, step by step -------------------------------------------- */

#define PARTITIONS 2

/* The whatif and the next offset of each partition of backlog.transitions. */
typedef struct topic_fx_s {
        bl_whatif_t *whatif;
        int64_t next_offset[PARTITIONS];
} topic_fx_t;

typedef struct task_fx_s {
        topic_fx_t *topic;
        int32_t partition;
        const char *task_id;
        const char *domain;
        int64_t seq;
        bl_state_t state;
        int32_t attempt;
        double business_value;
        int64_t deadline_ms;
        int64_t ready_since_ms;
} task_fx_t;

static task_fx_t task_fx(topic_fx_t *topic, const char *task_id, double business_value) {
        task_fx_t fx = {topic, 0, task_id, "evaluation", 0, BL_STATE_QUEUED, 0, business_value, BL_NO_TIME, BL_NO_TIME};
        return fx;
}

/*
 * The task moves to @p to at T0 + @p at; the transition carries the item
 * after it, as backlogd writes it, at the next offset of its partition.
 */
static void go(task_fx_t *fx, bl_state_t to, int64_t at) {
        int64_t at_ms = T0 + at;
        bool first = fx->seq == 0;
        if (to == BL_STATE_READY && fx->state != BL_STATE_READY)
                fx->ready_since_ms = at_ms;
        if (to != BL_STATE_READY)
                fx->ready_since_ms = BL_NO_TIME;
        if (to == BL_STATE_DISPATCHED)
                fx->attempt++;
        bl_item_t *item = bl_item_new(fx->task_id, 0);
        CHECK(item != NULL);
        item->state = to;
        item->seq = ++fx->seq;
        item->attempt = fx->attempt;
        CHECK(bl_item_set_kind(item, "offline_eval", fx->domain, NULL, "standard"));
        item->business_value = fx->business_value;
        item->risk = 0.1;
        item->deadline_ms = fx->deadline_ms;
        item->ready_since_ms = fx->ready_since_ms;
        item->state_since_ms = at_ms;
        bl_transition_t t = {.task_id = fx->task_id,
                             .seq = fx->seq,
                             .has_from = !first,
                             .from = fx->state,
                             .to = to,
                             .cause = "test",
                             .attempt = fx->attempt,
                             .at_ms = at_ms,
                             .policy = to == BL_STATE_DISPATCHED ? "fifo@1" : NULL,
                             .has_score = to == BL_STATE_DISPATCHED};
        CHECK_INT(bl_whatif_fold(fx->topic->whatif, &t, item, fx->partition, fx->topic->next_offset[fx->partition]++),
                  BL_OK);
        bl_item_destroy(item);
        fx->state = to;
}

/* Submitted and READY at T0 + @p at. */
static void ready_at(task_fx_t *fx, int64_t at) {
        go(fx, BL_STATE_QUEUED, at);
        go(fx, BL_STATE_READY, at);
}

static void dispatched_then_started(task_fx_t *fx, int64_t at) {
        go(fx, BL_STATE_DISPATCHED, at);
        go(fx, BL_STATE_RUNNING, at + 100);
}

static const bl_whatif_domain_t *run(topic_fx_t *topic, const candidate_t *candidate, bl_whatif_report_t *report) {
        bl_policy_t *policy = policy_of(candidate);
        CHECK_INT(bl_whatif_run(topic->whatif, policy, report), BL_OK);
        bl_policy_destroy(policy);
        CHECK_INT(report->domain_count, 1);
        CHECK_STR(report->domains[0].domain, "evaluation");
        return &report->domains[0];
}

/*
 * Four tasks READY at 0, 1, 2 and 3 s with values 0.1, 0.9, 0.5, 0.7;
 * recorded FIFO decisions at 10 s, 20 s and two at 30 s: a, b, c, d. a and
 * b are in partition 0, c and d in partition 1, read in time order or
 * partition 1 first.
 */
static void fold_four(topic_fx_t *topic, bool partition_one_first) {
        static const char *const ids[] = {"a", "b", "c", "d"};
        static const double values[] = {0.1, 0.9, 0.5, 0.7};
        static const int64_t dispatched_at[] = {10000, 20000, 30000, 30000};
        static const int order[2][4] = {{0, 1, 2, 3}, {2, 3, 0, 1}};
        for (int n = 0; n < 4; n++) {
                int i = order[partition_one_first][n];
                task_fx_t task = task_fx(topic, ids[i], values[i]);
                task.partition = i / 2;
                ready_at(&task, 1000 * i);
                dispatched_then_started(&task, dispatched_at[i]);
                go(&task, BL_STATE_COMPLETED, dispatched_at[i] + 500);
        }
}

/* ---- the tests ------------------------------------------------------------------ */

static void test_value_first_reorders_a_fifo_history_with_exact_waits(void) {
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_whatif_report_t report;
        fold_four(&topic, false);
        const bl_whatif_domain_t *d = run(&topic, &VALUE_FIRST, &report);

        CHECK_INT(report.transitions, 20);
        CHECK_INT(report.decisions_skipped, 0);
        CHECK_INT(report.history_end_ms, T0 + 30500);
        CHECK_INT(report.recorded_policy_count, 1);
        CHECK_STR(report.recorded_policies[0].policy, "fifo@1");
        CHECK_INT(report.recorded_policies[0].decisions, 4);

        /* candidate: b at 10 s (0.9 of a, b, c, d), d at 20 s, then c and a at 30 s */
        CHECK_INT(d->episodes, 4);
        CHECK_INT(d->decisions, 4);
        CHECK_INT(d->candidate_decisions, 4);
        CHECK_INT(d->same_task, 1); /* the third decision: c both times */
        CHECK_INT(d->both_dispatched, 4);
        CHECK(d->has_tau);
        CHECK(fabs(d->kendall_tau - (1.0 - 2.0 * 4 / 6)) < 1e-12); /* [4, 1, 3, 2]: 4 of 6 pairs discordant */

        /* recorded waits 10, 19, 28, 27 s; candidate 30 (a), 9 (b), 28 (c), 17 (d) s */
        CHECK_INT(d->recorded.dispatched, 4);
        CHECK(d->recorded.mean_ms == 21000.0);
        CHECK_INT(d->recorded.p50_ms, 19000);
        CHECK_INT(d->recorded.p95_ms, 28000);
        CHECK_INT(d->recorded.max_ms, 28000);
        CHECK_INT(d->candidate.dispatched, 4);
        CHECK(d->candidate.mean_ms == 21000.0); /* the same decision times and arrivals: the same sum */
        /* weighted by value, the candidate's waits are shorter: (0.1 * 10 + 0.9 * 19 + ...) / 2.2 s */
        CHECK(fabs(d->recorded.value_weighted_mean_ms - 51000.0 / 2.2) < 1e-6);
        CHECK(fabs(d->candidate.value_weighted_mean_ms - 37000.0 / 2.2) < 1e-6);
        CHECK_INT(d->candidate.p50_ms, 17000);
        CHECK_INT(d->candidate.p95_ms, 30000);
        CHECK_INT(d->recorded.expired + d->recorded.left + d->recorded.waiting, 0);
        CHECK_INT(d->candidate.expired + d->candidate.left + d->candidate.waiting, 0);

        CHECK_INT(d->sooner_count, 2);
        CHECK_STR(d->sooner[0].task_id, "b"); /* b and d both 10 s sooner: by task_id */
        CHECK_INT(d->sooner[0].change_ms, -10000);
        CHECK_INT(d->sooner[0].recorded_wait_ms, 19000);
        CHECK_INT(d->sooner[0].candidate_wait_ms, 9000);
        CHECK_INT(d->sooner[0].recorded_position, 2);
        CHECK_INT(d->sooner[0].candidate_position, 1);
        CHECK_INT(d->sooner[0].attempt, 1);
        CHECK(d->sooner[0].business_value == 0.9);
        CHECK_INT(d->sooner[0].recorded_outcome, BL_WHATIF_DISPATCHED);
        CHECK_INT(d->sooner[0].candidate_outcome, BL_WHATIF_DISPATCHED);
        CHECK_STR(d->sooner[1].task_id, "d");
        CHECK_INT(d->sooner[1].change_ms, -10000);
        CHECK_INT(d->later_count, 1);
        CHECK_STR(d->later[0].task_id, "a");
        CHECK_INT(d->later[0].change_ms, 20000);
        CHECK_INT(d->later[0].candidate_position, 4);
        bl_whatif_report_free(&report);

        /* run again with another candidate: the folded history is unchanged */
        d = run(&topic, &OLDEST_FIRST, &report);
        CHECK_INT(d->same_task, 4);
        CHECK(d->has_tau && d->kendall_tau == 1.0);
        CHECK_INT(d->candidate.p50_ms, 19000);
        CHECK(d->candidate.value_weighted_mean_ms == d->recorded.value_weighted_mean_ms);
        CHECK_INT(d->sooner_count + d->later_count, 0);
        bl_whatif_report_free(&report);
        bl_whatif_destroy(topic.whatif);
}

static void test_the_order_tasks_were_read_in_does_not_matter(void) {
        topic_fx_t forward = {bl_whatif_new(), {0}}, backward = {bl_whatif_new(), {0}};
        bl_whatif_report_t a, b;
        fold_four(&forward, false);
        fold_four(&backward, true);
        const bl_whatif_domain_t *x = run(&forward, &VALUE_FIRST, &a), *y = run(&backward, &VALUE_FIRST, &b);
        CHECK_INT(x->same_task, y->same_task);
        CHECK(x->kendall_tau == y->kendall_tau);
        CHECK(x->candidate.mean_ms == y->candidate.mean_ms);
        CHECK_INT(x->candidate.p50_ms, y->candidate.p50_ms);
        CHECK_INT(x->sooner_count, y->sooner_count);
        for (size_t i = 0; i < x->sooner_count && i < y->sooner_count; i++) {
                CHECK_STR(x->sooner[i].task_id, y->sooner[i].task_id);
                CHECK_INT(x->sooner[i].candidate_position, y->sooner[i].candidate_position);
        }
        bl_whatif_report_free(&a);
        bl_whatif_report_free(&b);
        bl_whatif_destroy(forward.whatif);
        bl_whatif_destroy(backward.whatif);
}

/*
 * r (0.2) READY at 0, s (0.8) at 0.5 s. Recorded: r/1 at 1 s, fails, its
 * retry r/2 is READY at 3 s; s at 2 s; r/2 at 4 s. The candidate takes s at
 * 1 s and r/1 at 2 s, a second later than recorded: r/2 arrives at 4 s.
 */
static void test_a_retry_arrives_as_long_after_the_candidates_dispatch(void) {
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_whatif_report_t report;
        task_fx_t r = task_fx(&topic, "r", 0.2), s = task_fx(&topic, "s", 0.8);
        ready_at(&r, 0);
        ready_at(&s, 500);
        go(&r, BL_STATE_DISPATCHED, 1000);
        go(&r, BL_STATE_FAILED, 1500);
        go(&r, BL_STATE_RETRY_WAIT, 1500);
        go(&r, BL_STATE_READY, 3000);
        go(&s, BL_STATE_DISPATCHED, 2000);
        go(&r, BL_STATE_DISPATCHED, 4000);
        const bl_whatif_domain_t *d = run(&topic, &VALUE_FIRST, &report);
        CHECK_INT(d->episodes, 3);
        CHECK_INT(d->decisions, 3);
        CHECK_INT(d->candidate_decisions, 3);
        CHECK_INT(d->same_task, 1); /* r/2 at 4 s */
        /* recorded waits: r/1 1000, s 1500, r/2 1000; candidate: s 500, r/1 2000, r/2 0 */
        CHECK(d->recorded.mean_ms == 3500.0 / 3);
        CHECK(d->candidate.mean_ms == 2500.0 / 3);
        CHECK_INT(d->candidate.p50_ms, 500);
        CHECK_INT(d->candidate.max_ms, 2000);
        CHECK_INT(d->sooner_count, 2); /* both a second sooner: by task_id */
        CHECK_STR(d->sooner[0].task_id, "r");
        CHECK_INT(d->sooner[0].attempt, 2);
        CHECK_INT(d->sooner[0].change_ms, -1000);
        CHECK_INT(d->sooner[0].candidate_wait_ms, 0);
        CHECK_STR(d->sooner[1].task_id, "s");
        CHECK_INT(d->sooner[1].change_ms, -1000);
        CHECK_INT(d->later_count, 1);
        CHECK_STR(d->later[0].task_id, "r");
        CHECK_INT(d->later[0].attempt, 1);
        CHECK_INT(d->later[0].change_ms, 1000);
        bl_whatif_report_free(&report);

        /* the retry never comes when the candidate never dispatches the attempt before it */
        topic_fx_t starved = {bl_whatif_new(), {0}};
        task_fx_t low = task_fx(&starved, "low", 0.1), high1 = task_fx(&starved, "high1", 0.9),
                  high2 = task_fx(&starved, "high2", 0.9);
        ready_at(&low, 0);
        ready_at(&high1, 0);
        ready_at(&high2, 0);
        go(&low, BL_STATE_DISPATCHED, 1000); /* recorded: low first, its retry next */
        go(&low, BL_STATE_FAILED, 1100);
        go(&low, BL_STATE_RETRY_WAIT, 1100);
        go(&low, BL_STATE_READY, 1500);
        go(&low, BL_STATE_DISPATCHED, 2000);
        go(&high1, BL_STATE_DISPATCHED, 3000);
        d = run(&starved, &VALUE_FIRST, &report);
        /* candidate: high1 at 1 s, high2 at 2 s, low/1 at 3 s; low/2 would arrive at 3.5 s, after the history */
        CHECK_INT(d->episodes, 4);
        CHECK_INT(d->decisions, 3);
        CHECK_INT(d->candidate_decisions, 3);
        CHECK_INT(d->same_task, 0);
        CHECK_INT(d->recorded.waiting, 1);  /* high2 */
        CHECK_INT(d->candidate.waiting, 0); /* low/2 never READY for the candidate */
        CHECK_INT(d->candidate.dispatched, 3);
        bl_whatif_report_free(&report);
        bl_whatif_destroy(starved.whatif);
        bl_whatif_destroy(topic.whatif);
}

/*
 * x (0.1, deadline 1.5 s) and y (0.9) READY at 0, z (0.05) at 0 and
 * cancelled at 1.2 s. Recorded: x at 1 s, y at 2 s. The candidate takes y at
 * 1 s; x's deadline passes while it waits, so at 2 s it has nothing to pick.
 */
static void test_deadlines_and_cancellations_in_the_candidates_ready_set(void) {
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_whatif_report_t report;
        task_fx_t x = task_fx(&topic, "x", 0.1), y = task_fx(&topic, "y", 0.9), z = task_fx(&topic, "z", 0.05);
        x.deadline_ms = T0 + 1500;
        ready_at(&x, 0);
        ready_at(&y, 0);
        ready_at(&z, 0);
        go(&x, BL_STATE_DISPATCHED, 1000);
        go(&z, BL_STATE_CANCELLED, 1200);
        go(&y, BL_STATE_DISPATCHED, 2000);
        const bl_whatif_domain_t *d = run(&topic, &VALUE_FIRST, &report);
        CHECK_INT(d->decisions, 2);
        CHECK_INT(d->candidate_decisions, 1);
        CHECK_INT(d->recorded.left, 1);
        CHECK_INT(d->candidate.left, 1);
        CHECK_INT(d->recorded.expired, 0);
        CHECK_INT(d->candidate.expired, 1);
        CHECK_INT(d->candidate.dispatched, 1);
        CHECK_INT(d->candidate.p50_ms, 1000);
        CHECK(!d->has_tau); /* only y is dispatched by both */
        CHECK_INT(d->both_dispatched, 1);
        CHECK_INT(d->later_count, 1);
        CHECK_STR(d->later[0].task_id, "x");
        CHECK_INT(d->later[0].candidate_outcome, BL_WHATIF_EXPIRED);
        CHECK_INT(d->later[0].candidate_wait_ms, 1500); /* READY until its deadline */
        CHECK_INT(d->later[0].candidate_position, 0);
        CHECK_STR(bl_whatif_outcome_name(d->later[0].candidate_outcome), "expired");
        bl_whatif_report_free(&report);
        bl_whatif_destroy(topic.whatif);
}

/* An UPDATED note lowers p's value while it waits: the candidate re-scores it and takes q first. */
static void test_an_update_while_ready_is_rescored(void) {
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_whatif_report_t report;
        task_fx_t p = task_fx(&topic, "p", 0.9), q = task_fx(&topic, "q", 0.5);
        ready_at(&p, 0);
        ready_at(&q, 0);
        go(&p, BL_STATE_READY, 300); /* a note that changes nothing scored */
        p.business_value = 0.1;
        go(&p, BL_STATE_READY, 500);
        go(&p, BL_STATE_DISPATCHED, 1000);
        go(&q, BL_STATE_DISPATCHED, 2000);
        const bl_whatif_domain_t *d = run(&topic, &VALUE_FIRST, &report);
        CHECK_INT(d->same_task, 0);
        CHECK_INT(d->sooner_count, 1);
        CHECK_STR(d->sooner[0].task_id, "q");
        CHECK(d->sooner[0].business_value == 0.5);
        CHECK_STR(d->later[0].task_id, "p");
        CHECK(d->later[0].business_value == 0.9); /* as it became READY */
        bl_whatif_report_free(&report);
        bl_whatif_destroy(topic.whatif);
}

/* A dispatch whose READY start is older than the history read, and domains reported by name. */
static void test_a_dispatch_without_its_ready_start_is_skipped(void) {
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_whatif_report_t report;
        bl_item_t *item = bl_item_new("old", 0);
        CHECK(bl_item_set_kind(item, NULL, "evaluation", NULL, "standard"));
        item->state = BL_STATE_DISPATCHED;
        item->seq = 7;
        item->attempt = 1;
        bl_transition_t t = {.task_id = "old",
                             .seq = 7,
                             .has_from = true,
                             .from = BL_STATE_READY,
                             .to = BL_STATE_DISPATCHED,
                             .attempt = 1,
                             .at_ms = T0,
                             .policy = "platform@3"};
        CHECK_INT(bl_whatif_fold(topic.whatif, &t, item, 0, topic.next_offset[0]++), BL_OK);
        bl_item_destroy(item);
        task_fx_t m = task_fx(&topic, "m", 0.5), e = task_fx(&topic, "e", 0.5);
        m.domain = "model_inference";
        ready_at(&m, 0);
        ready_at(&e, 0);
        bl_policy_t *policy = policy_of(&VALUE_FIRST);
        CHECK_INT(bl_whatif_run(topic.whatif, policy, &report), BL_OK);
        CHECK_INT(report.decisions_skipped, 1);
        CHECK_INT(report.recorded_policy_count, 1);
        CHECK_STR(report.recorded_policies[0].policy, "platform@3");
        CHECK_INT(report.domain_count, 2);
        CHECK_STR(report.domains[0].domain, "evaluation");
        CHECK_STR(report.domains[1].domain, "model_inference");
        CHECK_INT(report.domains[0].decisions, 0);
        CHECK_INT(report.domains[0].recorded.waiting, 1);
        CHECK_INT(report.domains[0].candidate.waiting, 1);
        CHECK(!report.domains[0].has_tau);
        bl_whatif_report_free(&report);
        bl_policy_destroy(policy);
        bl_whatif_destroy(topic.whatif);
}

/*
 * a (0.1) READY at 0; at 1 s a is dispatched and b (0.9) becomes READY in
 * the same millisecond, after it in the partition: b was not there for that
 * decision. In another partition the order is unknown, and b counts as
 * there first.
 */
static void test_offsets_order_one_millisecond(void) {
        for (int32_t b_partition = 0; b_partition < 2; b_partition++) {
                topic_fx_t topic = {bl_whatif_new(), {0}};
                bl_whatif_report_t report;
                task_fx_t a = task_fx(&topic, "a", 0.1), b = task_fx(&topic, "b", 0.9);
                b.partition = b_partition;
                ready_at(&a, 0);
                go(&b, BL_STATE_QUEUED, 1000);
                go(&a, BL_STATE_DISPATCHED, 1000);
                go(&b, BL_STATE_READY, 1000);
                go(&b, BL_STATE_DISPATCHED, 2000);
                const bl_whatif_domain_t *d = run(&topic, &VALUE_FIRST, &report);
                CHECK_INT(d->candidate_decisions, 2);
                if (b_partition == 0) {
                        CHECK_INT(d->same_task, 2);
                        CHECK_INT(d->sooner_count + d->later_count, 0);
                } else {
                        CHECK_INT(d->same_task, 0);
                        CHECK_INT(d->sooner_count, 1);
                        CHECK_STR(d->sooner[0].task_id, "b");
                        CHECK_INT(d->sooner[0].candidate_wait_ms, 0);
                }
                bl_whatif_report_free(&report);
                bl_whatif_destroy(topic.whatif);
        }
}

static void test_empty_history(void) {
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_whatif_report_t report;
        bl_policy_t *policy = policy_of(&VALUE_FIRST);
        CHECK_INT(bl_whatif_run(topic.whatif, policy, &report), BL_OK);
        CHECK_INT(report.domain_count, 0);
        CHECK_INT(report.transitions, 0);
        CHECK_INT(report.history_end_ms, BL_NO_TIME);
        bl_whatif_report_free(&report);
        bl_policy_destroy(policy);
        bl_whatif_destroy(topic.whatif);
        bl_whatif_destroy(NULL);
}

/*
 * deadline_risk in the replay: 30 tasks each run 1 s by one worker (results,
 * pickups and runtimes recorded), then five READY at once and one recorded
 * decision, FIFO: "roomy" (deadline in an hour). "tight" (deadline 3 s
 * ahead) makes it only if it goes now, not behind the other four: a
 * candidate weighing deadline_risk picks it; with too few samples for an
 * estimate deadline_risk is 0 and the candidate picks as FIFO did.
 */
static void recorded_worker_then_a_queue(topic_fx_t *topic) {
        for (int i = 0; i < 30; i++) {
                char id[16];
                snprintf(id, sizeof(id), "w-%02d", i);
                task_fx_t warm = task_fx(topic, id, 0.5);
                ready_at(&warm, i * 1000);
                dispatched_then_started(&warm, i * 1000 + 10);
                go(&warm, BL_STATE_COMPLETED, i * 1000 + 1110);
        }
        task_fx_t roomy = task_fx(topic, "roomy", 0.5), tight = task_fx(topic, "tight", 0.5);
        roomy.deadline_ms = T0 + 3600000;
        tight.deadline_ms = T0 + 34500;
        ready_at(&roomy, 30900);
        for (int i = 0; i < 3; i++) {
                char id[16];
                snprintf(id, sizeof(id), "q-%d", i);
                task_fx_t queued = task_fx(topic, id, 0.5);
                ready_at(&queued, 31000);
        }
        ready_at(&tight, 31500);
        go(&roomy, BL_STATE_DISPATCHED, 32000);
}

static void test_deadline_risk_reads_the_recorded_capacity(void) {
        bl_whatif_report_t report = {0};
        topic_fx_t topic = {bl_whatif_new(), {0}};
        bl_capacity_options_t options = {.window_ms = 60000, .min_samples = 10};
        CHECK(bl_whatif_set_capacity_options(topic.whatif, &options));
        recorded_worker_then_a_queue(&topic);
        const bl_whatif_domain_t *domain = run(&topic, &AT_RISK_FIRST, &report);
        CHECK_INT(domain->decisions, 31);
        CHECK_INT(domain->same_task, 30); /* the warm-up had one task READY each time; the last differs */
        bl_whatif_report_free(&report);
        domain = run(&topic, &OLDEST_FIRST, &report);
        CHECK_INT(domain->same_task, 31);
        bl_whatif_report_free(&report);
        options.min_samples = 1000; /* never known: deadline_risk is 0 for every task, FIFO decides */
        CHECK(bl_whatif_set_capacity_options(topic.whatif, &options));
        domain = run(&topic, &AT_RISK_FIRST, &report);
        CHECK_INT(domain->same_task, 31);
        bl_whatif_report_free(&report);
        options.window_ms = 0;
        CHECK(!bl_whatif_set_capacity_options(topic.whatif, &options));
        bl_whatif_destroy(topic.whatif);
}

int main(void) {
        RUN(test_value_first_reorders_a_fifo_history_with_exact_waits);
        RUN(test_the_order_tasks_were_read_in_does_not_matter);
        RUN(test_a_retry_arrives_as_long_after_the_candidates_dispatch);
        RUN(test_deadlines_and_cancellations_in_the_candidates_ready_set);
        RUN(test_an_update_while_ready_is_rescored);
        RUN(test_a_dispatch_without_its_ready_start_is_skipped);
        RUN(test_offsets_order_one_millisecond);
        RUN(test_empty_history);
        RUN(test_deadline_risk_reads_the_recorded_capacity);
        return check_exit_status();
}
