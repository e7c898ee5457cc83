/*
 * test_wait.c: what a task waits for (core/wait.c). Items built by hand in
 * each state: a BLOCKED task's dependencies (each named), a not_before
 * ahead (and not once it has passed), an approval required and not given,
 * all three at once in their order; RETRY_WAIT's back-off and a worker's
 * lease with their ends; READY, terminal tasks and placeholders waiting for
 * nothing; a short output array still counting every wait; the reasons'
 * names both ways; the breaker known only from a context; an agent's hold
 * (its mark and its end as not_before) waiting for the agent, not for a
 * not_before, and nothing once over. Then a real
 * backlog (core/backlog.c): every BLOCKED it records has the reason that
 * bl_item_waits names first, and APPROVED and the dependency's completion
 * take the waits away.
 */
#include "check.h"
#include "core/backlog.h"
#include "core/wait.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NOW 1800000000000LL

static bl_item_t *item_in(bl_state_t state) {
        bl_item_t *item = bl_item_new("t-1", 0);
        item->state = state;
        return item;
}

/* ---- items built by hand ------------------------------------------------------ */

static void test_blocked_names_each_reason_in_order(void) {
        bl_item_t *item = item_in(BL_STATE_BLOCKED);
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        bl_wait_t waits[8];
        CHECK(bl_strvec_push(&cold->pending_deps, "dep-a") && bl_strvec_push(&cold->pending_deps, "dep-b"));
        item->not_before_ms = NOW + 60000;
        item->approval_required = true;
        CHECK_INT(bl_item_waits(item, NOW, waits, 8), 4);
        CHECK_INT(waits[0].reason, BL_WAIT_DEPENDENCY);
        CHECK_STR(waits[0].task_id, "dep-a");
        CHECK_INT(waits[0].until_ms, BL_NO_TIME);
        CHECK_INT(waits[1].reason, BL_WAIT_DEPENDENCY);
        CHECK_STR(waits[1].task_id, "dep-b");
        CHECK_INT(waits[2].reason, BL_WAIT_NOT_BEFORE);
        CHECK_INT(waits[2].until_ms, NOW + 60000);
        CHECK(waits[2].task_id == NULL);
        CHECK_INT(waits[3].reason, BL_WAIT_APPROVAL);
        CHECK_INT(waits[3].until_ms, BL_NO_TIME);
        CHECK(bl_item_waits_for(item, NOW, BL_WAIT_DEPENDENCY));
        CHECK(bl_item_waits_for(item, NOW, BL_WAIT_NOT_BEFORE));
        CHECK(bl_item_waits_for(item, NOW, BL_WAIT_APPROVAL));
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_RETRY));
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_WORKER));

        /* a short array gets the first waits, the count is still all of them */
        memset(waits, 0, sizeof(waits));
        CHECK_INT(bl_item_waits(item, NOW, waits, 3), 4);
        CHECK_STR(waits[1].task_id, "dep-b");
        CHECK_INT(waits[2].reason, BL_WAIT_NOT_BEFORE);
        CHECK_INT(waits[3].reason, 0); /* untouched */
        CHECK_INT(bl_item_waits(item, NOW, NULL, 0), 4);

        /* approved, and the not_before reached: only the dependencies are left */
        item->approved = true;
        CHECK_INT(bl_item_waits(item, NOW + 60000, waits, 8), 2);
        CHECK(!bl_item_waits_for(item, NOW + 60000, BL_WAIT_NOT_BEFORE));
        CHECK(bl_item_waits_for(item, NOW + 59999, BL_WAIT_NOT_BEFORE));
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_APPROVAL));
        bl_item_destroy(item);
}

static void test_retry_and_worker_wait_until_their_time(void) {
        bl_item_t *item = item_in(BL_STATE_RETRY_WAIT);
        bl_wait_t wait;
        item->retry_at_ms = NOW + 1500;
        item->lease_expires_at_ms = NOW + 90000; /* a lease left over is not a wait in RETRY_WAIT */
        CHECK_INT(bl_item_waits(item, NOW, &wait, 1), 1);
        CHECK_INT(wait.reason, BL_WAIT_RETRY);
        CHECK_INT(wait.until_ms, NOW + 1500);
        CHECK(bl_item_waits_for(item, NOW, BL_WAIT_RETRY));

        item->state = BL_STATE_DISPATCHED;
        CHECK_INT(bl_item_waits(item, NOW, &wait, 1), 1);
        CHECK_INT(wait.reason, BL_WAIT_WORKER);
        CHECK_INT(wait.until_ms, NOW + 90000);
        item->state = BL_STATE_RUNNING;
        CHECK(bl_item_waits_for(item, NOW, BL_WAIT_WORKER));
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_RETRY));
        bl_item_destroy(item);
}

static void test_ready_terminal_and_placeholders_wait_for_nothing(void) {
        bl_state_t nothing[] = {BL_STATE_QUEUED, BL_STATE_READY, BL_STATE_COMPLETED, BL_STATE_FAILED,
                                BL_STATE_DEAD, BL_STATE_CANCELLED, BL_STATE_EXPIRED};
        for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
                bl_item_t *item = item_in(nothing[i]);
                bl_item_cold_t *cold = bl_item_cold_for_write(item);
                /* leftovers of earlier states are not waits */
                CHECK(bl_strvec_push(&cold->pending_deps, "dep-a"));
                item->not_before_ms = NOW + 1000;
                item->approval_required = true;
                item->retry_at_ms = NOW + 1000;
                item->lease_expires_at_ms = NOW + 1000;
                CHECK_INT(bl_item_waits(item, NOW, NULL, 0), 0);
                for (int r = 0; r < BL_WAIT__COUNT; r++)
                        CHECK(!bl_item_waits_for(item, NOW, (bl_wait_reason_t)r));
                bl_item_destroy(item);
        }
        /* a placeholder was never submitted: whatever its fields, it waits for nothing */
        bl_item_t *placeholder = item_in(BL_STATE_BLOCKED);
        placeholder->placeholder = true;
        placeholder->approval_required = true;
        CHECK_INT(bl_item_waits(placeholder, NOW, NULL, 0), 0);
        bl_item_destroy(placeholder);
}

static void test_reason_names_and_absent_reasons(void) {
        const char *names[] = {"dependency", "not_before", "approval", "retry", "worker", "breaker", "agent"};
        CHECK_INT(sizeof(names) / sizeof(names[0]), BL_WAIT__COUNT);
        for (int r = 0; r < BL_WAIT__COUNT; r++) {
                CHECK_STR(bl_wait_reason_name((bl_wait_reason_t)r), names[r]);
                CHECK_INT(bl_wait_reason_parse(names[r]), r);
        }
        CHECK_INT(bl_wait_reason_parse("Approval"), -1);
        CHECK_INT(bl_wait_reason_parse(""), -1);
        CHECK_INT(bl_wait_reason_parse(NULL), -1);
        CHECK_STR(bl_wait_reason_name(BL_WAIT__COUNT), "unknown");
        for (int r = BL_WAIT_DEPENDENCY; r <= BL_WAIT_BREAKER; r++)
                CHECK(bl_wait_reason_absent((bl_wait_reason_t)r) == NULL);
        CHECK(bl_wait_reason_absent(BL_WAIT_AGENT) == NULL);

        /* without a hold mark nothing waits for the agent; without a context, nothing for a breaker */
        bl_item_t *item = item_in(BL_STATE_READY);
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_AGENT));
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_BREAKER));
        item->state = BL_STATE_BLOCKED;
        item->approval_required = true;
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_AGENT));
        bl_item_destroy(item);
}

/* The breakers the context names open (SPEC §14): evaluation's. */
static bool evaluation_held(void *opaque, const char *domain) {
        (void)opaque;
        return !strcmp(domain, "evaluation");
}

/* A READY task waits for its domain's breaker when the context says it holds the domain; nothing else does. */
static void test_breaker_from_the_context(void) {
        bl_wait_context_t context = {evaluation_held, NULL}, unknown = {NULL, NULL};
        bl_wait_t waits[2];
        bl_item_t *held = bl_item_new_of_kind("h", 0, "score", "evaluation", NULL, "standard");
        bl_item_t *other = bl_item_new_of_kind("o", 0, "score", "model_inference", NULL, "standard");
        CHECK(held && other);
        if (!held || !other) {
                bl_item_destroy(held);
                bl_item_destroy(other);
                return;
        }
        held->state = other->state = BL_STATE_READY;
        CHECK(!bl_item_waits_for(held, NOW, BL_WAIT_BREAKER)); /* without a context nothing is known */
        CHECK(!bl_item_waits_for_in(held, NOW, &unknown, BL_WAIT_BREAKER));
        CHECK(bl_item_waits_for_in(held, NOW, &context, BL_WAIT_BREAKER));
        CHECK(!bl_item_waits_for_in(other, NOW, &context, BL_WAIT_BREAKER));
        CHECK_INT(bl_item_waits_in(held, NOW, &context, waits, 2), 1);
        CHECK_INT(waits[0].reason, BL_WAIT_BREAKER);
        CHECK_INT(waits[0].until_ms, BL_NO_TIME);
        CHECK_INT(bl_item_waits(held, NOW, NULL, 0), 0);
        /* dispatched already: its worker, not the breaker */
        held->state = BL_STATE_DISPATCHED;
        held->lease_expires_at_ms = NOW + 1000;
        CHECK(!bl_item_waits_for_in(held, NOW, &context, BL_WAIT_BREAKER));
        CHECK(bl_item_waits_for_in(held, NOW, &context, BL_WAIT_WORKER));
        bl_item_destroy(held);
        bl_item_destroy(other);
}

static void test_agent_hold_waits_for_the_agent(void) {
        const char *keys[] = {"team", BL_AGENT_MARK_HOLD}, *values[] = {"ml", "ranker@2"};
        bl_item_t *item = item_in(BL_STATE_BLOCKED);
        bl_wait_t waits[2];
        item->not_before_ms = NOW + 3000; /* the hold's end */
        CHECK(bl_labels_set(&bl_item_cold_for_write(item)->labels, keys, values, 2));
        CHECK(bl_item_agent_mark(item, BL_AGENT_MARK_HOLD));
        CHECK(!bl_item_agent_mark(item, BL_AGENT_MARK_ESCALATION));
        CHECK_INT(bl_item_waits(item, NOW, waits, 2), 1);
        CHECK_INT(waits[0].reason, BL_WAIT_AGENT);
        CHECK_INT(waits[0].until_ms, NOW + 3000);
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_NOT_BEFORE));
        /* over: nothing, whatever the mark says */
        CHECK_INT(bl_item_waits(item, NOW + 3000, NULL, 0), 0);
        /* READY with a stale mark: nothing either */
        item->state = BL_STATE_READY;
        CHECK(!bl_item_waits_for(item, NOW, BL_WAIT_AGENT));
        /* an approval wait besides the hold: both, in the table's order */
        item->state = BL_STATE_BLOCKED;
        item->approval_required = true;
        CHECK_INT(bl_item_waits(item, NOW, waits, 2), 2);
        CHECK_INT(waits[0].reason, BL_WAIT_APPROVAL);
        CHECK_INT(waits[1].reason, BL_WAIT_AGENT);
        bl_item_destroy(item);
}

/* ---- against the backlog's own blocking ------------------------------------------- */

typedef struct watch_s {
        int blocked;    /* changes into BLOCKED seen */
        int agreed;     /* ... whose reason is the first wait's name */
        size_t last_waits;
} watch_t;

static void on_changed(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        watch_t *watch = opaque;
        bl_wait_t first;
        watch->last_waits = bl_item_waits(item, transition->at_ms, &first, 1);
        if (transition->to != BL_STATE_BLOCKED || (transition->has_from && transition->from == BL_STATE_BLOCKED))
                return; /* BLOCKED -> BLOCKED is a note (APPROVED recorded before the task moves on) */
        watch->blocked++;
        if (watch->last_waits && transition->reason && !strcmp(transition->reason, bl_wait_reason_name(first.reason)))
                watch->agreed++;
        else
                fprintf(stderr, "%s BLOCKED (cause %s) for %s, waits name %s\n", transition->task_id, transition->cause, transition->reason ? transition->reason : "(none)",
                        watch->last_waits ? bl_wait_reason_name(first.reason) : "nothing");
}

static void on_dispatched(void *opaque, const bl_dispatch_t *dispatch) {
        (void)opaque, (void)dispatch;
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

static void risky_needs_approval(void *opaque, const bl_item_t *item, bl_task_settings_t *settings) {
        (void)opaque;
        settings->approval_required = item->risk >= 0.8;
}

static bl_apply_result_t apply(bl_backlog_t *backlog, bl_task_event_t *event, const char *event_id, int64_t now_ms) {
        char detail[128];
        event->event_id = event_id;
        event->occurred_at_ms = now_ms;
        event->producer = "test";
        return bl_backlog_apply_event(backlog, event, 0, NULL, now_ms, detail, sizeof(detail));
}

static void test_blocked_reasons_agree_with_the_backlog(void) {
        watch_t watch = {0};
        bl_backlog_sink_t sink = {on_changed, on_dispatched, on_notice, on_dead_letter, on_purged, &watch};
        bl_backlog_options_t options = {.lease_ms = 60000, .retry_base_ms = 1000, .retry_cap_ms = 10000,
                                        .max_attempts = 3, .retention_ms = INT64_MAX, .dedup_window = 8, .seed = 7,
                                        .settings = risky_needs_approval};
        bl_backlog_t *backlog = bl_backlog_new(&options, &sink);
        const char *deps[] = {"t-up"};
        bl_task_event_t later = {.task_id = "t-later", .event_type = BL_EVENT_SUBMITTED, .task_type = "train",
                                 .domain = "evaluation", .has_not_before = true, .not_before_ms = NOW + 5000};
        bl_task_event_t risky = {.task_id = "t-risky", .event_type = BL_EVENT_SUBMITTED, .task_type = "train",
                                 .domain = "evaluation", .has_risk = true, .risk = 0.9};
        bl_task_event_t after = {.task_id = "t-after", .event_type = BL_EVENT_SUBMITTED, .task_type = "train",
                                 .domain = "evaluation", .depends_on = deps, .depends_on_count = 1};
        bl_task_event_t approved = {.task_id = "t-risky", .event_type = BL_EVENT_APPROVED};
        const bl_item_t *item;
        CHECK(backlog != NULL);
        CHECK_INT(apply(backlog, &later, "e-1", NOW), BL_APPLY_CHANGED);
        CHECK_INT(apply(backlog, &risky, "e-2", NOW), BL_APPLY_CHANGED);
        CHECK_INT(apply(backlog, &after, "e-3", NOW), BL_APPLY_CHANGED);
        CHECK_INT(watch.blocked, 3);
        CHECK_INT(watch.agreed, 3);

        item = bl_backlog_find(backlog, "t-after");
        CHECK(item && bl_item_waits_for(item, NOW, BL_WAIT_DEPENDENCY));
        item = bl_backlog_find(backlog, "t-later");
        CHECK(item && bl_item_waits_for(item, NOW, BL_WAIT_NOT_BEFORE));

        /* APPROVED: READY, and nothing left to wait for */
        CHECK_INT(apply(backlog, &approved, "e-4", NOW + 1), BL_APPLY_CHANGED);
        item = bl_backlog_find(backlog, "t-risky");
        CHECK(item && item->state == BL_STATE_READY);
        CHECK_INT(bl_item_waits(item, NOW + 1, NULL, 0), 0);

        /* not_before reached: the timer makes it READY, no wait left */
        bl_backlog_advance(backlog, NOW + 5000);
        item = bl_backlog_find(backlog, "t-later");
        CHECK(item && item->state == BL_STATE_READY);
        CHECK_INT(bl_item_waits(item, NOW + 5000, NULL, 0), 0);
        bl_backlog_destroy(backlog);
}

int main(void) {
        RUN(test_blocked_names_each_reason_in_order);
        RUN(test_retry_and_worker_wait_until_their_time);
        RUN(test_ready_terminal_and_placeholders_wait_for_nothing);
        RUN(test_reason_names_and_absent_reasons);
        RUN(test_breaker_from_the_context);
        RUN(test_agent_hold_waits_for_the_agent);
        RUN(test_blocked_reasons_agree_with_the_backlog);
        return check_exit_status();
}
