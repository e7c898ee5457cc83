/*
 * test_backlog_agent.c: what a domain's agent may make the backlog do
 * (core/backlog.c, SPEC §13), and the fallback its policy decisions record
 * (core/agent.c): a pick dispatched out of the policy's order with its
 * provenance, and the last approval check on it; the policy's dispatches
 * each with the provenance its callback gives; a hold (BLOCKED with cause
 * agent, marked in the snapshot, waiting for the agent, back READY by its
 * timer with cause hold_ended); an escalation (BLOCKED awaiting approval,
 * kept by a policy re-evaluation, released by APPROVED); the best READY
 * tasks under a filter; and bl_agent_fallback's order of reasons. A
 * recording sink keeps what each transition and dispatch said of who
 * decided; the clock is a number.
 */
#include "check.h"
#include "core/agent.h"
#include "core/backlog.h"
#include "core/wait.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NOW ((int64_t)1700000000000)
#define MAX_SEEN 64

typedef struct seen_s {
        char task_id[32];
        bl_state_t from, to;
        char cause[32], reason[32];
        char decided_by[64], fallback[32], agent_reason[64], consultation_id[64];
        int32_t rank;
        int64_t latency_ms;
        bool has_provenance;
        bool marked_hold, marked_escalation; /* the snapshot handed over carried the mark */
} seen_t;

typedef struct recorder_s {
        seen_t changes[MAX_SEEN];
        size_t change_count;
        seen_t dispatches[MAX_SEEN];
        size_t dispatch_count;
} recorder_t;

static bool approval_above = false; /* the policy asks for approval of risk >= 0.8 when set */

static void copy(char *to, size_t size, const char *from) {
        snprintf(to, size, "%s", from ? from : "");
}

static void copy_provenance(seen_t *seen, const bl_provenance_t *provenance) {
        seen->has_provenance = provenance != NULL;
        if (!provenance)
                return;
        copy(seen->decided_by, sizeof(seen->decided_by), provenance->decided_by);
        copy(seen->fallback, sizeof(seen->fallback), provenance->fallback);
        copy(seen->agent_reason, sizeof(seen->agent_reason), provenance->agent_reason);
        copy(seen->consultation_id, sizeof(seen->consultation_id), provenance->consultation_id);
        seen->rank = provenance->agent_rank;
        seen->latency_ms = provenance->consultation_latency_ms;
}

static void on_changed(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        recorder_t *rec = opaque;
        if (rec->change_count == MAX_SEEN)
                return;
        seen_t *seen = &rec->changes[rec->change_count++];
        copy(seen->task_id, sizeof(seen->task_id), transition->task_id);
        seen->from = transition->from;
        seen->to = transition->to;
        copy(seen->cause, sizeof(seen->cause), transition->cause);
        copy(seen->reason, sizeof(seen->reason), transition->reason);
        copy_provenance(seen, transition->provenance);
        seen->marked_hold = bl_item_agent_mark(item, BL_AGENT_MARK_HOLD);
        seen->marked_escalation = bl_item_agent_mark(item, BL_AGENT_MARK_ESCALATION);
}

static void on_dispatched(void *opaque, const bl_dispatch_t *dispatch) {
        recorder_t *rec = opaque;
        if (rec->dispatch_count == MAX_SEEN)
                return;
        seen_t *seen = &rec->dispatches[rec->dispatch_count++];
        copy(seen->task_id, sizeof(seen->task_id), dispatch->item->task_id);
        copy_provenance(seen, dispatch->provenance);
}

static void on_notice(void *opaque, const bl_notice_t *notice) {
        (void)opaque, (void)notice;
}
static void on_dead_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        (void)opaque, (void)item, (void)reason, (void)detail;
}
static void on_purged(void *opaque, const char *task_id, int32_t partition) {
        (void)opaque, (void)task_id, (void)partition;
}

/* The business value is the score: the tests choose the policy's order. */
static double value_score(void *opaque, const bl_item_t *item, int64_t now_ms) {
        (void)opaque, (void)now_ms;
        return item->business_value;
}

static void settings(void *opaque, const bl_item_t *item, bl_task_settings_t *out) {
        (void)opaque;
        out->approval_required = approval_above && item->risk >= 0.8;
}

static bl_backlog_t *new_backlog(recorder_t *rec) {
        bl_backlog_sink_t sink = {on_changed, on_dispatched, on_notice, on_dead_letter, on_purged, rec};
        bl_backlog_options_t options = {.lease_ms = 60000, .retry_base_ms = 1000, .retry_cap_ms = 10000,
                                        .max_attempts = 3, .retention_ms = INT64_MAX, .dedup_window = 8,
                                        .seed = 7, .score = value_score, .settings = settings};
        memset(rec, 0, sizeof(*rec));
        approval_above = false;
        bl_backlog_t *backlog = bl_backlog_new(&options, &sink);
        CHECK(backlog != NULL);
        return backlog;
}

static void submit(bl_backlog_t *backlog, const char *task_id, double value, double risk, int64_t deadline_ms) {
        char detail[128], event_id[64];
        snprintf(event_id, sizeof(event_id), "submit-%s", task_id);
        bl_task_event_t event = {.task_id = task_id, .event_id = event_id, .event_type = BL_EVENT_SUBMITTED,
                                 .occurred_at_ms = NOW, .producer = "test", .task_type = "train",
                                 .domain = "evaluation", .business_value = value, .has_risk = true, .risk = risk,
                                 .has_deadline = deadline_ms != BL_NO_TIME, .deadline_ms = deadline_ms};
        CHECK_INT(bl_backlog_apply_event(backlog, &event, 0, NULL, NOW, detail, sizeof(detail)), BL_APPLY_CHANGED);
}

static void approve(bl_backlog_t *backlog, const char *task_id, int64_t now_ms) {
        char detail[128];
        bl_task_event_t event = {.task_id = task_id, .event_id = "approve-1", .event_type = BL_EVENT_APPROVED,
                                 .occurred_at_ms = now_ms, .producer = "test"};
        CHECK_INT(bl_backlog_apply_event(backlog, &event, 0, NULL, now_ms, detail, sizeof(detail)), BL_APPLY_CHANGED);
}

static bl_provenance_t agent_said(int32_t rank, const char *reason) {
        bl_provenance_t provenance = bl_provenance_none();
        provenance.decided_by = "ranker@2.1";
        provenance.agent_rank = rank;
        provenance.agent_reason = reason;
        provenance.consultation_id = "c-17";
        provenance.consultation_latency_ms = 42;
        return provenance;
}

static const seen_t *last_change(const recorder_t *rec) {
        static const seen_t nothing;
        CHECK(rec->change_count > 0);
        return rec->change_count > 0 ? &rec->changes[rec->change_count - 1] : &nothing;
}

static bl_state_t state_of(const bl_backlog_t *backlog, const char *task_id) {
        const bl_item_t *item = bl_backlog_find(backlog, task_id);
        return item ? item->state : BL_STATE__COUNT;
}

/* ---- picks --------------------------------------------------------------------------------- */

static void test_pick_goes_out_of_order_with_its_provenance(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        submit(backlog, "best", 0.9, 0.1, BL_NO_TIME);
        submit(backlog, "worst", 0.1, 0.1, BL_NO_TIME);
        bl_provenance_t provenance = agent_said(1, "input refreshed");
        CHECK_INT(bl_backlog_dispatch_task(backlog, "worst", &provenance, NOW + 10), BL_DISPATCH_SENT);
        CHECK_INT(state_of(backlog, "worst"), BL_STATE_DISPATCHED);
        CHECK_INT(state_of(backlog, "best"), BL_STATE_READY);
        const seen_t *change = last_change(&rec);
        CHECK_STR(change->task_id, "worst");
        CHECK_STR(change->cause, "dispatch");
        CHECK(change->has_provenance);
        CHECK_STR(change->decided_by, "ranker@2.1");
        CHECK_INT(change->rank, 1);
        CHECK_STR(change->agent_reason, "input refreshed");
        CHECK_STR(change->consultation_id, "c-17");
        CHECK_INT(change->latency_ms, 42);
        CHECK_INT(rec.dispatch_count, 1);
        CHECK_STR(rec.dispatches[0].task_id, "worst");
        CHECK_STR(rec.dispatches[0].decided_by, "ranker@2.1");
        CHECK_INT(rec.dispatches[0].rank, 1);
        /* twice, unknown: nothing */
        CHECK_INT(bl_backlog_dispatch_task(backlog, "worst", &provenance, NOW + 11), BL_DISPATCH_NOT_READY);
        CHECK_INT(bl_backlog_dispatch_task(backlog, "nobody", &provenance, NOW + 11), BL_DISPATCH_NOT_READY);
        CHECK_INT(rec.dispatch_count, 1);
        /* an unset provenance is none at all */
        bl_provenance_t none = bl_provenance_none();
        CHECK_INT(bl_backlog_dispatch_task(backlog, "best", &none, NOW + 12), BL_DISPATCH_SENT);
        CHECK(!rec.dispatches[1].has_provenance);
        CHECK(!last_change(&rec)->has_provenance);
        bl_backlog_destroy(backlog);
}

static void test_pick_still_meets_the_approval_check(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        submit(backlog, "risky", 0.5, 0.9, BL_NO_TIME);
        approval_above = true; /* a new policy the re-evaluation has not reached */
        bl_provenance_t provenance = agent_said(1, NULL);
        CHECK_INT(bl_backlog_dispatch_task(backlog, "risky", &provenance, NOW + 10), BL_DISPATCH_BLOCKED);
        CHECK_INT(state_of(backlog, "risky"), BL_STATE_BLOCKED);
        CHECK_STR(last_change(&rec)->cause, "policy");
        CHECK_STR(last_change(&rec)->reason, "approval");
        CHECK_INT(rec.dispatch_count, 0);
        bl_backlog_destroy(backlog);
}

/* ---- the policy's decisions, each with its provenance ------------------------------------- */

static const bl_provenance_t *fallback_by_value(void *opaque, const bl_item_t *item) {
        bl_provenance_t *provenances = opaque;
        return item->business_value >= 0.5 ? &provenances[0] : &provenances[1];
}

static void test_policy_dispatches_carry_their_provenance(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        bl_provenance_t provenances[2] = {bl_provenance_none(), bl_provenance_none()};
        provenances[0].decided_by = provenances[1].decided_by = "policy";
        provenances[0].fallback = "control";
        provenances[1].fallback = "timeout";
        submit(backlog, "a", 0.9, 0.1, BL_NO_TIME);
        submit(backlog, "b", 0.2, 0.1, BL_NO_TIME);
        submit(backlog, "c", 0.1, 0.1, BL_NO_TIME);
        CHECK_INT(bl_backlog_dispatch_with(backlog, "evaluation", 2, NOW + 1, fallback_by_value, provenances), 2);
        CHECK_INT(rec.dispatch_count, 2);
        CHECK_STR(rec.dispatches[0].task_id, "a");
        CHECK_STR(rec.dispatches[0].fallback, "control");
        CHECK_STR(rec.dispatches[1].task_id, "b");
        CHECK_STR(rec.dispatches[1].decided_by, "policy");
        CHECK_STR(rec.dispatches[1].fallback, "timeout");
        CHECK_STR(last_change(&rec)->fallback, "timeout");
        /* the plain dispatch records none */
        CHECK_INT(bl_backlog_dispatch(backlog, "evaluation", 5, NOW + 2), 1);
        CHECK(!rec.dispatches[2].has_provenance);
        bl_backlog_destroy(backlog);
}

/* ---- holds ---------------------------------------------------------------------------------- */

static void test_hold_blocks_until_its_end_then_ready(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        submit(backlog, "held", 0.9, 0.1, BL_NO_TIME);
        submit(backlog, "other", 0.1, 0.1, BL_NO_TIME);
        bl_provenance_t provenance = agent_said(0, "input data stale");
        CHECK(bl_backlog_agent_hold(backlog, "held", NOW + 5000, &provenance, NOW));
        const seen_t *change = last_change(&rec);
        CHECK_INT(change->from, BL_STATE_READY);
        CHECK_INT(change->to, BL_STATE_BLOCKED);
        CHECK_STR(change->cause, "agent");
        CHECK_STR(change->reason, "hold");
        CHECK_STR(change->decided_by, "ranker@2.1");
        CHECK_STR(change->agent_reason, "input data stale");
        CHECK(change->marked_hold);
        const bl_item_t *item = bl_backlog_find(backlog, "held");
        CHECK(bl_item_waits_for(item, NOW + 1, BL_WAIT_AGENT));
        CHECK(!bl_item_waits_for(item, NOW + 1, BL_WAIT_NOT_BEFORE));
        bl_wait_t wait;
        CHECK_INT(bl_item_waits(item, NOW + 1, &wait, 1), 1);
        CHECK_INT(wait.reason, BL_WAIT_AGENT);
        CHECK_INT(wait.until_ms, NOW + 5000);
        /* the policy passes it over while it is held */
        CHECK_INT(bl_backlog_dispatch(backlog, "evaluation", 5, NOW + 10), 1);
        CHECK_STR(rec.dispatches[0].task_id, "other");
        bl_backlog_advance(backlog, NOW + 4999);
        CHECK_INT(state_of(backlog, "held"), BL_STATE_BLOCKED);
        /* its end: READY again by the timer, the mark gone */
        bl_backlog_advance(backlog, NOW + 5000);
        CHECK_INT(state_of(backlog, "held"), BL_STATE_READY);
        change = last_change(&rec);
        CHECK_STR(change->cause, "hold_ended");
        CHECK_STR(change->reason, "agent");
        CHECK(!change->marked_hold);
        CHECK(!change->has_provenance);
        CHECK_INT(bl_item_waits(bl_backlog_find(backlog, "held"), NOW + 5000, NULL, 0), 0);
        bl_backlog_destroy(backlog);
}

static void test_hold_refused_when_not_ready_or_already_over(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        submit(backlog, "a", 0.9, 0.1, BL_NO_TIME);
        bl_provenance_t provenance = agent_said(0, "stale");
        size_t changes = rec.change_count;
        CHECK(!bl_backlog_agent_hold(backlog, "a", NOW, &provenance, NOW));     /* ends now: no hold */
        CHECK(!bl_backlog_agent_hold(backlog, "nobody", NOW + 10, &provenance, NOW));
        CHECK_INT(rec.change_count, changes);
        CHECK_INT(bl_backlog_dispatch(backlog, "evaluation", 1, NOW), 1);
        CHECK(!bl_backlog_agent_hold(backlog, "a", NOW + 10, &provenance, NOW)); /* DISPATCHED */
        CHECK(!bl_backlog_agent_escalate(backlog, "a", &provenance, NOW));
        CHECK_INT(state_of(backlog, "a"), BL_STATE_DISPATCHED);
        bl_backlog_destroy(backlog);
}

static void test_hold_then_cancel_drops_the_mark(void) {
        recorder_t rec;
        char detail[128];
        bl_backlog_t *backlog = new_backlog(&rec);
        submit(backlog, "a", 0.9, 0.1, BL_NO_TIME);
        bl_provenance_t provenance = agent_said(0, "stale");
        CHECK(bl_backlog_agent_hold(backlog, "a", NOW + 5000, &provenance, NOW));
        bl_task_event_t cancel = {.task_id = "a", .event_id = "cancel-1", .event_type = BL_EVENT_CANCELLED,
                                  .occurred_at_ms = NOW + 1, .producer = "test"};
        CHECK_INT(bl_backlog_apply_event(backlog, &cancel, 0, NULL, NOW + 1, detail, sizeof(detail)),
                  BL_APPLY_CHANGED);
        CHECK_INT(state_of(backlog, "a"), BL_STATE_CANCELLED);
        CHECK(!last_change(&rec)->marked_hold);
        bl_backlog_destroy(backlog);
}

/* ---- escalations ---------------------------------------------------------------------------- */

static void test_escalation_waits_for_approval(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        submit(backlog, "remedy", 0.9, 0.3, BL_NO_TIME);
        bl_provenance_t provenance = agent_said(0, "touches production data");
        CHECK(bl_backlog_agent_escalate(backlog, "remedy", &provenance, NOW + 1));
        const seen_t *change = last_change(&rec);
        CHECK_INT(change->to, BL_STATE_BLOCKED);
        CHECK_STR(change->cause, "agent");
        CHECK_STR(change->reason, "escalation");
        CHECK_STR(change->agent_reason, "touches production data");
        CHECK(change->marked_escalation);
        const bl_item_t *item = bl_backlog_find(backlog, "remedy");
        CHECK(bl_item_waits_for(item, NOW + 2, BL_WAIT_APPROVAL));
        /* a policy that asks no approval for its risk does not let it go */
        CHECK_INT(bl_backlog_reevaluate_approvals(backlog, NOW + 3), 0);
        CHECK_INT(state_of(backlog, "remedy"), BL_STATE_BLOCKED);
        CHECK_INT(bl_backlog_dispatch(backlog, "evaluation", 5, NOW + 4), 0);
        /* APPROVED does, as for any approval; the mark goes with the wait */
        approve(backlog, "remedy", NOW + 5);
        CHECK_INT(state_of(backlog, "remedy"), BL_STATE_READY);
        CHECK(!last_change(&rec)->marked_escalation);
        CHECK_INT(bl_backlog_dispatch(backlog, "evaluation", 5, NOW + 6), 1);
        bl_backlog_destroy(backlog);
}

static void test_escalation_asks_again_when_approved_before(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        approval_above = true;
        submit(backlog, "risky", 0.9, 0.9, BL_NO_TIME);
        approve(backlog, "risky", NOW + 1);
        CHECK_INT(state_of(backlog, "risky"), BL_STATE_READY);
        bl_provenance_t provenance = agent_said(0, "a second look");
        CHECK(bl_backlog_agent_escalate(backlog, "risky", &provenance, NOW + 2));
        CHECK_INT(state_of(backlog, "risky"), BL_STATE_BLOCKED);
        CHECK(!bl_backlog_find(backlog, "risky")->approved);
        bl_backlog_destroy(backlog);
}

/* ---- candidates ----------------------------------------------------------------------------- */

static bool even_named(void *opaque, const bl_item_t *item) {
        (void)opaque;
        size_t length = strlen(item->task_id);
        return (item->task_id[length - 1] - '0') % 2 == 0;
}

static void test_best_ready_filters_in_the_policy_order(void) {
        recorder_t rec;
        bl_backlog_t *backlog = new_backlog(&rec);
        const bl_item_t *out[4];
        for (int i = 0; i < 10; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%d", i);
                submit(backlog, id, i / 10.0, 0.1, BL_NO_TIME);
        }
        CHECK_INT(bl_backlog_best_ready(backlog, "evaluation", NOW, even_named, NULL, out, 3, 100), 3);
        CHECK_STR(out[0]->task_id, "t8");
        CHECK_STR(out[1]->task_id, "t6");
        CHECK_STR(out[2]->task_id, "t4");
        CHECK_INT(bl_backlog_ready_in(backlog, "evaluation"), 10);
        CHECK_INT(bl_backlog_best_ready(backlog, "evaluation", NOW, NULL, NULL, out, 4, 100), 4);
        CHECK_STR(out[0]->task_id, "t9");
        CHECK_INT(bl_backlog_best_ready(backlog, "nowhere", NOW, NULL, NULL, out, 4, 100), 0);
        bl_backlog_destroy(backlog);
}

/* ---- the fallback of the policy's decisions ------------------------------------------------- */

static void test_fallback_order_of_reasons(void) {
        bl_agent_round_state_t state = {0};
        CHECK_STR(bl_agent_fallback(false, true, &state), "control");
        CHECK_STR(bl_agent_fallback(true, false, &state), "not_answered");
        state.last = BL_AGENT_LAST_ANSWERED;
        CHECK_STR(bl_agent_fallback(true, false, &state), "not_answered");
        state.last = BL_AGENT_LAST_TIMEOUT;
        CHECK_STR(bl_agent_fallback(true, false, &state), "timeout");
        state.last = BL_AGENT_LAST_FAILED;
        CHECK_STR(bl_agent_fallback(true, false, &state), "failed");
        state.breaker_open = true;
        CHECK_STR(bl_agent_fallback(true, false, &state), "breaker_open");
        state.answer_applied = true;
        CHECK_STR(bl_agent_fallback(true, false, &state), "not_in_answer");
        CHECK_STR(bl_agent_fallback(true, true, &state), "refused");
        CHECK_STR(bl_agent_fallback(false, false, &state), "control");
}

int main(void) {
        RUN(test_pick_goes_out_of_order_with_its_provenance);
        RUN(test_pick_still_meets_the_approval_check);
        RUN(test_policy_dispatches_carry_their_provenance);
        RUN(test_hold_blocks_until_its_end_then_ready);
        RUN(test_hold_refused_when_not_ready_or_already_over);
        RUN(test_hold_then_cancel_drops_the_mark);
        RUN(test_escalation_waits_for_approval);
        RUN(test_escalation_asks_again_when_approved_before);
        RUN(test_best_ready_filters_in_the_policy_order);
        RUN(test_fallback_order_of_reasons);
        return check_exit_status();
}
