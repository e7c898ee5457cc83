/*
 * test_backlog.c: the backlog (core/backlog.c) and its static table of legal
 * state changes (core/item.c), driven through the public API only.
 *
 * A recording sink copies everything the backlog emits (each transition
 * with a summary of the snapshot that went with it, dispatches, notices,
 * dead letters, purges) and the clock is a number the tests advance by
 * hand, so every test is deterministic. Dependency notices are routed back
 * by the test, which lets one backlog stand in for the owners of both
 * tasks. The last test throws thousands of random events at the backlog and
 * checks the invariants of SPEC §3 after every step.
 *
 * A few checks read the fields the backlog keeps in bl_item_t to index an
 * item (timer_slot/timer_due_ms) and the scheduler's view (bl_backlog_is_ready_queued): the timers and
 * the timer heap have no other window.
 */
#include "check.h"
#include "memory_spill.h"
#include "core/wait.h"
#include "core/backlog.h"
#include "base/log.h"

#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((int64_t)1700000000000)
#define ID_MAX 64
#define TEXT_MAX 128

/* ---- the recording sink ------------------------------------------------------------------ */

typedef struct rec_change_s {
        char task_id[ID_MAX];
        int64_t seq;
        bool has_from;
        bl_state_t from, to;
        char cause[TEXT_MAX];
        bool has_reason;
        char reason[TEXT_MAX];
        bool has_actor;
        char actor[ID_MAX];
        char event_id[ID_MAX];
        char dispatch_id[ID_MAX];
        int32_t attempt;
        int64_t at_ms;
        int64_t origin_offset; /* -1 without an origin */
        /* the snapshot that went with it */
        bl_state_t state;
        int64_t item_seq;
        int32_t item_attempt;
        bool placeholder;
        int64_t deadline_ms, lease_expires_at_ms, retry_at_ms, terminal_at_ms, ready_since_ms, state_since_ms;
        size_t dependents, pending_deps;
        bool has_payload;        /* the snapshot handed over carried these: what backlog.state gets */
        size_t labels, depends_on;
        bool has_traceparent;
        int64_t from_since_ms;
        bool late;               /* its provenance says dispatched past the deadline */
} rec_change_t;

typedef struct rec_dispatch_s {
        char task_id[ID_MAX];
        char dispatch_id[ID_MAX];
        size_t dispatch_id_size; /* whole, however long */
        char dispatch_id_tail[8]; /* its last 7 bytes */
        char domain[ID_MAX];
        char policy[ID_MAX];
        int32_t attempt;
        int64_t decided_at_ms;
        bool late;
        bool cancel;
        char actor[ID_MAX];
        char cancel_reason[TEXT_MAX];
        char policy_version[ID_MAX];
} rec_dispatch_t;

typedef struct rec_notice_s {
        bool is_outcome;
        char to[ID_MAX];
        char from[ID_MAX];
        bl_state_t outcome;
} rec_notice_t;

typedef struct rec_dead_s {
        char task_id[ID_MAX];
        bl_reason_t reason;
        char detail[BL_RECORD_DETAIL_MAX];
        bl_state_t state;
        int32_t attempt;
        bool has_payload; /* the submission the letter is built from still had it */
        size_t labels;
} rec_dead_t;

typedef struct rec_purge_s {
        char task_id[ID_MAX];
        int32_t partition;
} rec_purge_t;

typedef struct rec_submitted_s {
        char task_id[ID_MAX];
        char domain[ID_MAX];
        char task_type[ID_MAX];
        char remediates[ID_MAX]; /* its backlogd.remediates label */
        int64_t submitted_at_ms;
} rec_submitted_t;

typedef struct recorder_s {
        rec_submitted_t *submitted;
        size_t submitted_count, submitted_capacity;
        rec_change_t *changes;
        size_t change_count, change_capacity;
        rec_dispatch_t *dispatches;
        size_t dispatch_count, dispatch_capacity;
        rec_notice_t *notices;
        size_t notice_count, notice_capacity;
        rec_dead_t *dead;
        size_t dead_count, dead_capacity;
        rec_purge_t *purges;
        size_t purge_count, purge_capacity;
        size_t notices_routed;
} recorder_t;

/* Every change from != to that the sink has seen, for the coverage test. */
static bool reached[BL_STATE__COUNT][BL_STATE__COUNT];
/* Changes from != to that the table forbids, seen by any sink: must stay 0. */
static int illegal_emitted;

static void *grow(void *array, size_t count, size_t *capacity, size_t size) {
        if (count < *capacity)
                return array;
        size_t bigger = *capacity ? *capacity * 2 : 16;
        void *grown = realloc(array, bigger * size);
        if (!grown) {
                fprintf(stderr, "out of memory\n");
                exit(2);
        }
        *capacity = bigger;
        return grown;
}

/* A new zeroed element at the end of @p array. */
#define APPEND(array, count, capacity)                                                     \
        ((array) = grow((array), (count), &(capacity), sizeof(*(array))),                   \
         memset(&(array)[(count)], 0, sizeof(*(array))), &(array)[(count)++])

static void copy_text(char *to, size_t size, const char *from) {
        snprintf(to, size, "%s", from ? from : "");
}

static void on_changed(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        recorder_t *rec = opaque;
        rec_change_t *change = APPEND(rec->changes, rec->change_count, rec->change_capacity);
        copy_text(change->task_id, sizeof(change->task_id), transition->task_id);
        change->seq = transition->seq;
        change->has_from = transition->has_from;
        change->from = transition->from;
        change->to = transition->to;
        copy_text(change->cause, sizeof(change->cause), transition->cause);
        change->has_reason = transition->reason != NULL;
        copy_text(change->reason, sizeof(change->reason), transition->reason);
        change->has_actor = transition->actor != NULL;
        copy_text(change->actor, sizeof(change->actor), transition->actor);
        copy_text(change->event_id, sizeof(change->event_id), transition->event_id);
        copy_text(change->dispatch_id, sizeof(change->dispatch_id), transition->dispatch_id);
        change->attempt = transition->attempt;
        change->at_ms = transition->at_ms;
        change->origin_offset = transition->origin ? transition->origin->offset : -1;
        change->state = item->state;
        change->item_seq = item->seq;
        change->item_attempt = item->attempt;
        change->placeholder = item->placeholder;
        change->deadline_ms = item->deadline_ms;
        change->lease_expires_at_ms = item->lease_expires_at_ms;
        change->retry_at_ms = item->retry_at_ms;
        change->terminal_at_ms = item->terminal_at_ms;
        change->ready_since_ms = item->ready_since_ms;
        change->state_since_ms = item->state_since_ms;
        change->dependents = bl_item_cold(item)->dependents.count;
        change->pending_deps = bl_item_cold(item)->pending_deps.count;
        change->has_payload = item->has_payload;
        change->labels = bl_item_cold(item)->labels.count;
        change->depends_on = bl_item_cold(item)->depends_on.count;
        change->has_traceparent = bl_item_cold(item)->traceparent != NULL;
        change->from_since_ms = transition->from_since_ms;
        change->late = transition->provenance && transition->provenance->late;
        if (transition->has_from && transition->from != transition->to) {
                reached[transition->from][transition->to] = true;
                if (!bl_state_transition_legal(transition->from, transition->to))
                        illegal_emitted++;
        }
}

static void on_dispatched(void *opaque, const bl_dispatch_t *dispatch) {
        recorder_t *rec = opaque;
        rec_dispatch_t *record = APPEND(rec->dispatches, rec->dispatch_count, rec->dispatch_capacity);
        copy_text(record->task_id, sizeof(record->task_id), dispatch->item->task_id);
        copy_text(record->dispatch_id, sizeof(record->dispatch_id), dispatch->dispatch_id);
        record->dispatch_id_size = strlen(dispatch->dispatch_id);
        copy_text(record->dispatch_id_tail, sizeof(record->dispatch_id_tail),
                  dispatch->dispatch_id + (record->dispatch_id_size > 7 ? record->dispatch_id_size - 7 : 0));
        copy_text(record->domain, sizeof(record->domain), dispatch->item->kind->domain);
        copy_text(record->policy, sizeof(record->policy), dispatch->policy_name);
        record->attempt = dispatch->item->attempt;
        record->decided_at_ms = dispatch->decided_at_ms;
        record->late = dispatch->provenance && dispatch->provenance->late;
        record->cancel = dispatch->cancel;
        copy_text(record->actor, sizeof(record->actor), dispatch->actor);
        copy_text(record->cancel_reason, sizeof(record->cancel_reason), dispatch->cancel_reason);
        copy_text(record->policy_version, sizeof(record->policy_version), dispatch->policy_version);
}

static void on_notice(void *opaque, const bl_notice_t *notice) {
        recorder_t *rec = opaque;
        rec_notice_t *record = APPEND(rec->notices, rec->notice_count, rec->notice_capacity);
        record->is_outcome = notice->is_outcome;
        copy_text(record->to, sizeof(record->to), notice->to_task_id);
        copy_text(record->from, sizeof(record->from), notice->from_task_id);
        record->outcome = notice->outcome;
}

static void on_dead_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        recorder_t *rec = opaque;
        rec_dead_t *record = APPEND(rec->dead, rec->dead_count, rec->dead_capacity);
        copy_text(record->task_id, sizeof(record->task_id), item->task_id);
        record->reason = reason;
        copy_text(record->detail, sizeof(record->detail), detail);
        record->state = item->state;
        record->attempt = item->attempt;
        record->has_payload = item->has_payload;
        record->labels = bl_item_cold(item)->labels.count;
}

static void on_purged(void *opaque, const char *task_id, int32_t partition) {
        recorder_t *rec = opaque;
        rec_purge_t *record = APPEND(rec->purges, rec->purge_count, rec->purge_capacity);
        copy_text(record->task_id, sizeof(record->task_id), task_id);
        record->partition = partition;
}

static void on_submitted(void *opaque, const bl_item_t *task) {
        recorder_t *rec = opaque;
        rec_submitted_t *record = APPEND(rec->submitted, rec->submitted_count, rec->submitted_capacity);
        const char *value;
        copy_text(record->task_id, sizeof(record->task_id), task->task_id);
        copy_text(record->domain, sizeof(record->domain), task->kind->domain);
        copy_text(record->task_type, sizeof(record->task_type), task->kind->task_type);
        record->submitted_at_ms = task->submitted_at_ms;
        for (const char *key = bl_labels_next(&bl_item_cold(task)->labels, NULL, &value); key;
             key = bl_labels_next(&bl_item_cold(task)->labels, key, &value))
                if (!strcmp(key, BL_LABEL_REMEDIATES))
                        copy_text(record->remediates, sizeof(record->remediates), value);
}

static void recorder_free(recorder_t *rec) {
        free(rec->submitted);
        free(rec->changes);
        free(rec->dispatches);
        free(rec->notices);
        free(rec->dead);
        free(rec->purges);
        memset(rec, 0, sizeof(*rec));
}

/* ---- the fixture: a backlog, its recorder, and a clock ---------------------------------- */

typedef struct fixture_s {
        recorder_t rec;
        bl_backlog_t *backlog;
        int64_t now;
        int32_t partition; /* of the events and notices the helpers apply */
        unsigned event_serial;
        char detail[256];
} fixture_t;

static bl_backlog_options_t default_options(void) {
        bl_backlog_options_t options = {
                .lease_ms = 1000,
                .retry_base_ms = 100,
                .retry_cap_ms = 1000,
                .max_attempts = 3,
                .retention_ms = 60000,
                .dedup_window = 8,
                .seed = 42,
        };
        return options;
}

static void fixture_init(fixture_t *fx, const bl_backlog_options_t *options) {
        bl_backlog_options_t defaults = default_options();
        memset(fx, 0, sizeof(*fx));
        bl_backlog_sink_t sink = {on_changed, on_dispatched, on_notice, on_dead_letter, on_purged, &fx->rec,
                                  on_submitted};
        fx->backlog = bl_backlog_new(options ? options : &defaults, &sink);
        if (!fx->backlog) {
                fprintf(stderr, "bl_backlog_new failed\n");
                exit(2);
        }
        fx->now = T0;
}

static void fixture_done(fixture_t *fx) {
        bl_backlog_destroy(fx->backlog);
        recorder_free(&fx->rec);
}

typedef struct mark_s {
        size_t changes, dispatches, notices, dead, purges;
} mark_t;

static mark_t mark(const fixture_t *fx) {
        mark_t m = {fx->rec.change_count, fx->rec.dispatch_count, fx->rec.notice_count, fx->rec.dead_count,
                    fx->rec.purge_count};
        return m;
}

/* How many records of any kind the sink received since @p m. */
static size_t emitted_since(const fixture_t *fx, mark_t m) {
        return (fx->rec.change_count - m.changes) + (fx->rec.dispatch_count - m.dispatches) +
               (fx->rec.notice_count - m.notices) + (fx->rec.dead_count - m.dead) +
               (fx->rec.purge_count - m.purges);
}

/* The states @p task_id entered since @p m, space separated; a note (from == to) reads "=STATE". */
static const char *path_since(const fixture_t *fx, mark_t m, const char *task_id) {
        static char path[1024];
        size_t used = 0;
        path[0] = '\0';
        for (size_t i = m.changes; i < fx->rec.change_count && used < sizeof(path); i++) {
                const rec_change_t *change = &fx->rec.changes[i];
                if (strcmp(change->task_id, task_id))
                        continue;
                bool note = change->has_from && change->from == change->to;
                used += (size_t)snprintf(path + used, sizeof(path) - used, "%s%s%s", used ? " " : "",
                                         note ? "=" : "", bl_state_name(change->to));
        }
        return path;
}

/* A blank record, and a failed check, in place of one that is missing: tests go on to report the rest. */
static const void *missing_record(const char *what, const char *task_id) {
        static union {
                rec_change_t change;
                rec_dead_t dead;
                rec_dispatch_t dispatch;
                rec_notice_t notice;
                rec_purge_t purge;
        } blank;
        check_count++;
        check_failures++;
        fprintf(stderr, "  CHECK failed: no %s for %s\n", what, task_id);
        memset(&blank, 0, sizeof(blank));
        return &blank;
}

static const rec_change_t *last_change(const fixture_t *fx, const char *task_id) {
        for (size_t i = fx->rec.change_count; i-- > 0;)
                if (!strcmp(fx->rec.changes[i].task_id, task_id))
                        return &fx->rec.changes[i];
        return missing_record("change", task_id);
}

/* The @p nth (0-based) change of @p task_id since @p m. */
static const rec_change_t *change_since(const fixture_t *fx, mark_t m, const char *task_id, size_t nth) {
        for (size_t i = m.changes; i < fx->rec.change_count; i++)
                if (!strcmp(fx->rec.changes[i].task_id, task_id) && nth-- == 0)
                        return &fx->rec.changes[i];
        return missing_record("such change", task_id);
}

/* The @p index-th dispatch, notice or purge recorded; a blank one, and a failed check, past the end. */
static const rec_dispatch_t *dispatch_at(const fixture_t *fx, size_t index) {
        return index < fx->rec.dispatch_count ? &fx->rec.dispatches[index] : missing_record("dispatch", "that index");
}

static const rec_notice_t *notice_at(const fixture_t *fx, size_t index) {
        return index < fx->rec.notice_count ? &fx->rec.notices[index] : missing_record("notice", "that index");
}

static const rec_purge_t *purge_at(const fixture_t *fx, size_t index) {
        return index < fx->rec.purge_count ? &fx->rec.purges[index] : missing_record("purge", "that index");
}

static size_t dead_letters_of(const fixture_t *fx, mark_t m, const char *task_id) {
        size_t count = 0;
        for (size_t i = m.dead; i < fx->rec.dead_count; i++)
                count += !strcmp(fx->rec.dead[i].task_id, task_id);
        return count;
}

static const rec_dead_t *last_dead_letter(const fixture_t *fx, const char *task_id) {
        for (size_t i = fx->rec.dead_count; i-- > 0;)
                if (!strcmp(fx->rec.dead[i].task_id, task_id))
                        return &fx->rec.dead[i];
        return missing_record("dead letter", task_id);
}

static const bl_item_t *find(const fixture_t *fx, const char *task_id) {
        return bl_backlog_find(fx->backlog, task_id);
}

/* The item @p task_id, which must exist: a blank stand-in, and a failed check, when it does not. */
static const bl_item_t *get(const fixture_t *fx, const char *task_id) {
        static bl_item_t missing;
        const bl_item_t *item = find(fx, task_id);
        CHECK(item != NULL);
        if (item)
                return item;
        fprintf(stderr, "  no task %s\n", task_id);
        memset(&missing, 0, sizeof(missing));
        return &missing;
}

static const char *state_of(const fixture_t *fx, const char *task_id) {
        const bl_item_t *item = find(fx, task_id);
        return item ? bl_state_name(item->state) : "(absent)";
}

#define CHECK_STATE(fx, task_id, state) CHECK_STR(state_of((fx), (task_id)), bl_state_name(state))

/* Applies every notice not routed yet, and those that causes, to the same backlog. */
static size_t route(fixture_t *fx) {
        size_t routed = 0;
        while (fx->rec.notices_routed < fx->rec.notice_count) {
                rec_notice_t copy = fx->rec.notices[fx->rec.notices_routed++];
                bl_notice_t notice = {copy.is_outcome, copy.to, copy.from, copy.outcome, fx->now};
                bl_backlog_apply_notice(fx->backlog, &notice, fx->partition, fx->now);
                routed++;
        }
        return routed;
}

/* ---- events ------------------------------------------------------------------------------- */

static bl_task_event_t submission(const char *task_id, const char *domain) {
        bl_task_event_t event;
        memset(&event, 0, sizeof(event));
        event.task_id = task_id;
        event.event_type = BL_EVENT_SUBMITTED;
        event.producer = "tests";
        event.sla_class = "standard";
        event.task_type = "infer";
        event.domain = domain;
        event.has_business_value = event.has_risk = true;
        event.business_value = 0.5;
        event.risk = 0.1;
        return event;
}

static bl_task_event_t producer_event(const char *task_id, bl_event_type_t type) {
        bl_task_event_t event;
        memset(&event, 0, sizeof(event));
        event.task_id = task_id;
        event.event_type = type;
        event.producer = "tests";
        return event;
}

static bl_task_event_t result_event(const char *task_id, bl_event_type_t type, int32_t attempt) {
        bl_task_event_t event;
        memset(&event, 0, sizeof(event));
        event.task_id = task_id;
        event.event_type = type;
        event.producer = "worker";
        event.has_attempt = true;
        event.attempt = attempt;
        if (type == BL_EVENT_FAILED) {
                event.has_error = true;
                event.error_code = "OOM";
                event.error_message = "out of memory";
                event.error_retryable = true;
        }
        return event;
}

/* Applies @p event at the fixture's clock, with a fresh event id unless it has one. */
static bl_apply_result_t apply_from(fixture_t *fx, bl_task_event_t event, const bl_event_origin_t *origin) {
        char generated[32];
        if (!event.event_id) {
                snprintf(generated, sizeof(generated), "e-%u", ++fx->event_serial);
                event.event_id = generated;
        }
        if (!event.occurred_at_ms)
                event.occurred_at_ms = fx->now;
        fx->detail[0] = '\0';
        return bl_backlog_apply_event(fx->backlog, &event, fx->partition, origin, fx->now, fx->detail,
                                      sizeof(fx->detail));
}

static bl_apply_result_t apply(fixture_t *fx, bl_task_event_t event) {
        return apply_from(fx, event, NULL);
}

static bl_apply_result_t submit(fixture_t *fx, const char *task_id, const char *domain) {
        return apply(fx, submission(task_id, domain));
}

/* Submits @p task_id depending on @p dependency. */
static bl_apply_result_t submit_after(fixture_t *fx, const char *task_id, const char *domain,
                                      const char *dependency) {
        const char *deps[] = {dependency};
        bl_task_event_t event = submission(task_id, domain);
        event.depends_on = deps;
        event.depends_on_count = 1;
        return apply(fx, event);
}

static bl_apply_result_t send(fixture_t *fx, const char *task_id, bl_event_type_t type) {
        return apply(fx, producer_event(task_id, type));
}

static bl_apply_result_t report(fixture_t *fx, const char *task_id, bl_event_type_t type, int32_t attempt) {
        return apply(fx, result_event(task_id, type, attempt));
}

static bl_apply_result_t report_failure(fixture_t *fx, const char *task_id, int32_t attempt, bool retryable) {
        bl_task_event_t event = result_event(task_id, BL_EVENT_FAILED, attempt);
        event.error_retryable = retryable;
        return apply(fx, event);
}

static size_t advance_to(fixture_t *fx, int64_t at_ms) {
        fx->now = at_ms;
        return bl_backlog_advance(fx->backlog, fx->now);
}

static size_t advance_by(fixture_t *fx, int64_t ms) {
        return advance_to(fx, fx->now + ms);
}

static size_t dispatch(fixture_t *fx, const char *domain, size_t max) {
        return bl_backlog_dispatch(fx->backlog, domain, max, fx->now);
}

/* Puts a new task @p task_id (domain: its own id) in @p state; false if it could not. */
static bool make_in_state(fixture_t *fx, const char *task_id, bl_state_t state) {
        bl_task_event_t event = submission(task_id, task_id);
        if (state == BL_STATE_QUEUED) { /* only a task submitted past its deadline stays QUEUED */
                event.has_deadline = true;
                event.deadline_ms = fx->now;
        } else if (state == BL_STATE_BLOCKED) {
                event.has_not_before = true;
                event.not_before_ms = fx->now + 10000000;
        }
        apply(fx, event);
        if (state == BL_STATE_DISPATCHED || state == BL_STATE_RUNNING || state == BL_STATE_RETRY_WAIT)
                dispatch(fx, task_id, 1);
        if (state == BL_STATE_RUNNING)
                report(fx, task_id, BL_EVENT_STARTED, 1);
        if (state == BL_STATE_RETRY_WAIT)
                report_failure(fx, task_id, 1, true);
        const bl_item_t *item = find(fx, task_id);
        return item && item->state == state;
}

/* ---- the policy's answers for SPEC §14: a runtime bound, a remediation rule ---------------- */

static void runtime_bound_settings(void *opaque, const bl_item_t *item, bl_task_settings_t *settings) {
        (void)opaque;
        settings->max_runtime_ms = item->kind->task_type && !strcmp(item->kind->task_type, "long") ? 0 : 5000;
}

static bool remediate_once(void *opaque, const bl_item_t *item, bl_remediation_plan_t *plan) {
        (void)opaque;
        if (item->kind->domain && !strcmp(item->kind->domain, "remediation"))
                return false; /* a remediation task that fails is not remediated in turn */
        *plan = (bl_remediation_plan_t){"remediation", "fix", 1};
        return true;
}

/* A rule that takes every task, in every domain, its own remediation tasks' included. */
static bool remediate_every_task(void *opaque, const bl_item_t *item, bl_remediation_plan_t *plan) {
        (void)opaque;
        (void)item;
        *plan = (bl_remediation_plan_t){"remediation", "fix", 3};
        return true;
}

static bl_backlog_options_t remediating_options(void) {
        bl_backlog_options_t options = default_options();
        options.max_attempts = 2;
        options.remediation = remediate_once;
        return options;
}

/* ---- 1. the static table ----------------------------------------------------------------- */

/* SPEC §3, written out: expected[from][to]; the diagonal is a note (no change), always allowed. */
static const unsigned char expected_legal[BL_STATE__COUNT][BL_STATE__COUNT] = {
        /*                           Q  B  R  D  U  W  C  F  X  N  E    X: given up (processing.failed) */
        [BL_STATE_QUEUED] = /*    */ {1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1},
        [BL_STATE_BLOCKED] = /*   */ {0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1},
        [BL_STATE_READY] = /*     */ {0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},
        [BL_STATE_DISPATCHED] = /**/ {0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0},
        [BL_STATE_RUNNING] = /*   */ {0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0},
        [BL_STATE_RETRY_WAIT] = /**/ {0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1},
        [BL_STATE_COMPLETED] = /* */ {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
        [BL_STATE_FAILED] = /*    */ {0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0}, /* B: a remediation rule took it */
        [BL_STATE_DEAD] = /*      */ {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0},
        [BL_STATE_CANCELLED] = /* */ {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
        [BL_STATE_EXPIRED] = /*   */ {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
};

static void test_table_matches_spec(void) {
        for (int from = 0; from < BL_STATE__COUNT; from++) {
                for (int to = 0; to < BL_STATE__COUNT; to++) {
                        bool legal = bl_state_transition_legal((bl_state_t)from, (bl_state_t)to);
                        CHECK(legal == (expected_legal[from][to] != 0));
                        if (legal != (expected_legal[from][to] != 0))
                                fprintf(stderr, "  %s -> %s: table says %d\n", bl_state_name((bl_state_t)from),
                                        bl_state_name((bl_state_t)to), legal);
                }
                CHECK(!bl_state_transition_legal((bl_state_t)from, BL_STATE__COUNT));
                CHECK(!bl_state_transition_legal(BL_STATE__COUNT, (bl_state_t)from));
                CHECK_INT(bl_state_parse(bl_state_name((bl_state_t)from)), from);
                bool terminal = from == BL_STATE_COMPLETED || from == BL_STATE_DEAD || from == BL_STATE_CANCELLED ||
                                from == BL_STATE_EXPIRED;
                CHECK(bl_state_is_terminal((bl_state_t)from) == terminal);
        }
        CHECK_INT(bl_state_parse("RUNNABLE"), -1);
        CHECK_STR(bl_state_name(BL_STATE__COUNT), "UNKNOWN");
}

/* Every change the table allows happens through the public API, and only those. */
static void test_every_legal_change_reached(void) {
        fixture_t fx;
        memset(reached, 0, sizeof(reached));
        illegal_emitted = 0;
        fixture_init(&fx, NULL);

        /* QUEUED -> READY -> DISPATCHED -> RUNNING -> COMPLETED */
        CHECK(make_in_state(&fx, "life", BL_STATE_RUNNING));
        report(&fx, "life", BL_EVENT_COMPLETED, 1);
        /* QUEUED -> BLOCKED -> READY, and DISPATCHED -> COMPLETED */
        submit_after(&fx, "after", "after", "before");
        route(&fx);
        CHECK(make_in_state(&fx, "before", BL_STATE_DISPATCHED));
        report(&fx, "before", BL_EVENT_COMPLETED, 1);
        route(&fx);
        CHECK_STATE(&fx, "after", BL_STATE_READY);
        /* DISPATCHED -> FAILED -> RETRY_WAIT -> READY */
        CHECK(make_in_state(&fx, "flaky", BL_STATE_RETRY_WAIT));
        advance_by(&fx, 1000);
        CHECK_STATE(&fx, "flaky", BL_STATE_READY);
        /* RUNNING -> FAILED -> DEAD */
        CHECK(make_in_state(&fx, "doomed", BL_STATE_RUNNING));
        report_failure(&fx, "doomed", 1, false);
        CHECK_STATE(&fx, "doomed", BL_STATE_DEAD);
        /* -> CANCELLED from QUEUED, BLOCKED, READY, DISPATCHED, RUNNING */
        const bl_state_t cancellable[] = {BL_STATE_QUEUED, BL_STATE_BLOCKED, BL_STATE_READY, BL_STATE_DISPATCHED,
                                          BL_STATE_RUNNING};
        for (size_t i = 0; i < sizeof(cancellable) / sizeof(cancellable[0]); i++) {
                char task_id[32];
                snprintf(task_id, sizeof(task_id), "cancel-%s", bl_state_name(cancellable[i]));
                CHECK(make_in_state(&fx, task_id, cancellable[i]));
                send(&fx, task_id, BL_EVENT_CANCELLED);
                CHECK_STATE(&fx, task_id, BL_STATE_CANCELLED);
        }
        /* READY -> BLOCKED: an update sets not_before ahead */
        submit(&fx, "postponed", "postponed");
        bl_task_event_t update = producer_event("postponed", BL_EVENT_UPDATED);
        update.has_not_before = true;
        update.not_before_ms = fx.now + 100000;
        apply(&fx, update);
        CHECK_STATE(&fx, "postponed", BL_STATE_BLOCKED);
        /* -> EXPIRED from QUEUED, BLOCKED, READY */
        CHECK(make_in_state(&fx, "late-queued", BL_STATE_QUEUED));
        bl_task_event_t event = submission("late-blocked", "late-blocked");
        event.has_not_before = event.has_deadline = true;
        event.not_before_ms = fx.now + 100000;
        event.deadline_ms = fx.now + 500;
        apply(&fx, event);
        event = submission("late-ready", "late-ready");
        event.has_deadline = true;
        event.deadline_ms = fx.now + 500;
        apply(&fx, event);
        advance_by(&fx, 500);
        CHECK_STATE(&fx, "late-queued", BL_STATE_EXPIRED);
        CHECK_STATE(&fx, "late-blocked", BL_STATE_EXPIRED);
        CHECK_STATE(&fx, "late-ready", BL_STATE_EXPIRED);
        /* BLOCKED -> FAILED -> DEAD: a dependency is cancelled */
        submit_after(&fx, "orphan", "orphan", "abandoned");
        route(&fx);
        submit(&fx, "abandoned", "abandoned");
        send(&fx, "abandoned", BL_EVENT_CANCELLED);
        route(&fx);
        CHECK_STATE(&fx, "orphan", BL_STATE_DEAD);
        fixture_done(&fx);

        /* RETRY_WAIT -> CANCELLED | EXPIRED | BLOCKED, with back-off long enough to act in between */
        bl_backlog_options_t options = default_options();
        options.retry_base_ms = options.retry_cap_ms = 1000000;
        fixture_init(&fx, &options);
        CHECK(make_in_state(&fx, "wait-cancel", BL_STATE_RETRY_WAIT));
        send(&fx, "wait-cancel", BL_EVENT_CANCELLED);
        CHECK_STATE(&fx, "wait-cancel", BL_STATE_CANCELLED);
        event = submission("wait-expire", "wait-expire");
        event.has_deadline = true;
        event.deadline_ms = fx.now + 500;
        apply(&fx, event);
        dispatch(&fx, "wait-expire", 1);
        report_failure(&fx, "wait-expire", 1, true);
        CHECK(get(&fx, "wait-expire")->retry_at_ms > fx.now + 500);
        advance_by(&fx, 500);
        CHECK_STATE(&fx, "wait-expire", BL_STATE_EXPIRED);
        CHECK(make_in_state(&fx, "wait-block", BL_STATE_RETRY_WAIT));
        int64_t retry_at = get(&fx, "wait-block")->retry_at_ms;
        CHECK(retry_at > fx.now);
        update = producer_event("wait-block", BL_EVENT_UPDATED);
        update.has_not_before = true;
        update.not_before_ms = retry_at + 1000;
        apply(&fx, update);
        CHECK_STATE(&fx, "wait-block", BL_STATE_RETRY_WAIT);
        advance_to(&fx, retry_at);
        CHECK_STATE(&fx, "wait-block", BL_STATE_BLOCKED);
        advance_to(&fx, retry_at + 1000);
        CHECK_STATE(&fx, "wait-block", BL_STATE_READY);
        /* -> DEAD from every live state: given up, its own change unwritable (processing.failed) */
        const bl_state_t live[] = {BL_STATE_QUEUED,  BL_STATE_BLOCKED, BL_STATE_READY,
                                   BL_STATE_DISPATCHED, BL_STATE_RUNNING, BL_STATE_RETRY_WAIT};
        for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
                char task_id[32];
                snprintf(task_id, sizeof(task_id), "given-up-%s", bl_state_name(live[i]));
                CHECK(make_in_state(&fx, task_id, live[i]));
                CHECK(bl_backlog_give_up(fx.backlog, task_id, "outputs: refused", false, fx.now));
                CHECK_STATE(&fx, task_id, BL_STATE_DEAD);
        }
        CHECK(!bl_backlog_give_up(fx.backlog, "nobody", "outputs: refused", false, fx.now));
        /* An ended task is not given up (purged early) within its retention: a restart would forget it too soon,
         * and its SUBMITTED sent again would run it twice (found by fuzz_pipeline). Its purge, once due, is. */
        CHECK(make_in_state(&fx, "ended", BL_STATE_RUNNING));
        report(&fx, "ended", BL_EVENT_COMPLETED, 1);
        CHECK_STATE(&fx, "ended", BL_STATE_COMPLETED);
        CHECK(!bl_backlog_give_up(fx.backlog, "ended", "outputs: refused", false, fx.now));
        CHECK(!bl_backlog_give_up(fx.backlog, "ended", "outputs: refused", true, fx.now));
        CHECK_STATE(&fx, "ended", BL_STATE_COMPLETED);
        CHECK(bl_backlog_give_up(fx.backlog, "ended", "outputs: refused", false, fx.now + 60000));
        CHECK(find(&fx, "ended") == NULL);
        fixture_done(&fx);

        /* FAILED -> BLOCKED: out of retries, a remediation rule takes it */
        options = remediating_options();
        fixture_init(&fx, &options);
        CHECK(make_in_state(&fx, "remedied", BL_STATE_RUNNING));
        report_failure(&fx, "remedied", 1, false);
        CHECK_STATE(&fx, "remedied", BL_STATE_BLOCKED);
        fixture_done(&fx);

        int legal_changes = 0;
        for (int from = 0; from < BL_STATE__COUNT; from++) {
                for (int to = 0; to < BL_STATE__COUNT; to++) {
                        if (from == to || !expected_legal[from][to])
                                continue;
                        legal_changes++;
                        CHECK(reached[from][to]);
                        if (!reached[from][to])
                                fprintf(stderr, "  never reached: %s -> %s\n", bl_state_name((bl_state_t)from),
                                        bl_state_name((bl_state_t)to));
                }
        }
        CHECK_INT(legal_changes, 32);
        CHECK_INT(illegal_emitted, 0);
}

/* Events the state of their task does not allow: BL_APPLY_ILLEGAL with a detail, and nothing emitted. */
static void test_illegal_events_rejected(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        CHECK(make_in_state(&fx, "done", BL_STATE_RUNNING));
        report(&fx, "done", BL_EVENT_COMPLETED, 1);
        CHECK(make_in_state(&fx, "dead", BL_STATE_DISPATCHED));
        report_failure(&fx, "dead", 1, false);
        CHECK(make_in_state(&fx, "gone", BL_STATE_READY));
        send(&fx, "gone", BL_EVENT_CANCELLED);
        CHECK(make_in_state(&fx, "late", BL_STATE_QUEUED));
        advance_by(&fx, 1);
        CHECK(make_in_state(&fx, "live", BL_STATE_READY));
        submit_after(&fx, "waiter", "waiter", "awaited"); /* awaited: a placeholder, not submitted */
        route(&fx);
        CHECK(find(&fx, "awaited") && get(&fx, "awaited")->placeholder);
        CHECK_STATE(&fx, "done", BL_STATE_COMPLETED);
        CHECK_STATE(&fx, "dead", BL_STATE_DEAD);
        CHECK_STATE(&fx, "gone", BL_STATE_CANCELLED);
        CHECK_STATE(&fx, "late", BL_STATE_EXPIRED);

        static const struct {
                const char *task_id;
                bl_event_type_t type;
                const char *detail;
        } cases[] = {
                {"ghost", BL_EVENT_STARTED, "STARTED for unknown task ghost"},
                {"ghost", BL_EVENT_HEARTBEAT, "HEARTBEAT for unknown task ghost"},
                {"ghost", BL_EVENT_COMPLETED, "COMPLETED for unknown task ghost"},
                {"ghost", BL_EVENT_FAILED, "FAILED for unknown task ghost"},
                {"ghost", BL_EVENT_UPDATED, "UPDATED for unknown task ghost"},
                {"ghost", BL_EVENT_CANCELLED, "CANCELLED for unknown task ghost"},
                {"ghost", BL_EVENT_APPROVED, "APPROVED for unknown task ghost"},
                {"awaited", BL_EVENT_STARTED, "STARTED for unknown task awaited"},
                {"awaited", BL_EVENT_CANCELLED, "CANCELLED for unknown task awaited"},
                {"awaited", BL_EVENT_UPDATED, "UPDATED for unknown task awaited"},
                {"live", BL_EVENT_SUBMITTED, "SUBMITTED for task live in READY"},
                {"done", BL_EVENT_SUBMITTED, "SUBMITTED for task done in COMPLETED"},
                {"done", BL_EVENT_UPDATED, "UPDATED for task done in COMPLETED"},
                {"done", BL_EVENT_CANCELLED, "CANCELLED for task done in COMPLETED"},
                {"done", BL_EVENT_APPROVED, "APPROVED for task done in COMPLETED"},
                {"dead", BL_EVENT_UPDATED, "UPDATED for task dead in DEAD"},
                {"dead", BL_EVENT_CANCELLED, "CANCELLED for task dead in DEAD"},
                {"dead", BL_EVENT_APPROVED, "APPROVED for task dead in DEAD"},
                {"gone", BL_EVENT_UPDATED, "UPDATED for task gone in CANCELLED"},
                {"gone", BL_EVENT_CANCELLED, "CANCELLED for task gone in CANCELLED"},
                {"gone", BL_EVENT_APPROVED, "APPROVED for task gone in CANCELLED"},
                {"late", BL_EVENT_UPDATED, "UPDATED for task late in EXPIRED"},
                {"late", BL_EVENT_CANCELLED, "CANCELLED for task late in EXPIRED"},
                {"late", BL_EVENT_APPROVED, "APPROVED for task late in EXPIRED"},
        };
        int64_t seq_before[4];
        const char *const terminal_ids[] = {"done", "dead", "gone", "late"};
        for (size_t i = 0; i < 4; i++)
                seq_before[i] = get(&fx, terminal_ids[i])->seq;
        mark_t m = mark(&fx);
        size_t size_before = bl_backlog_size(fx.backlog);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bl_task_event_t event = cases[i].type == BL_EVENT_SUBMITTED ? submission(cases[i].task_id, "x")
                                        : bl_event_type_is_result(cases[i].type)
                                                ? result_event(cases[i].task_id, cases[i].type, 1)
                                                : producer_event(cases[i].task_id, cases[i].type);
                CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL);
                CHECK_STR(fx.detail, cases[i].detail);
        }
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(bl_backlog_size(fx.backlog), size_before);
        CHECK(find(&fx, "ghost") == NULL);
        for (size_t i = 0; i < 4; i++)
                CHECK_INT(get(&fx, terminal_ids[i])->seq, seq_before[i]);
        /* An illegal event's id is not remembered: the same id is judged again, not a duplicate. */
        bl_task_event_t again = producer_event("done", BL_EVENT_CANCELLED);
        again.event_id = "e-illegal";
        CHECK_INT(apply(&fx, again), BL_APPLY_ILLEGAL);
        CHECK_INT(apply(&fx, again), BL_APPLY_ILLEGAL);
        fixture_done(&fx);
}

/* ---- 2. the life cycle ------------------------------------------------------------------- */

static void test_lifecycle(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        bl_event_origin_t origin = {"tasks.events", 0, 42, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
        bl_task_event_t event = submission("t", "inference");
        event.event_id = "submit-1";
        event.occurred_at_ms = T0 - 50;
        mark_t m = mark(&fx);
        CHECK_INT(apply_from(&fx, event, &origin), BL_APPLY_CHANGED);
        CHECK_STR(path_since(&fx, m, "t"), "QUEUED READY");
        const rec_change_t *first = change_since(&fx, m, "t", 0), *second = change_since(&fx, m, "t", 1);
        CHECK(!first->has_from && first->seq == 1 && first->to == BL_STATE_QUEUED);
        CHECK(second->has_from && second->seq == 2 && second->from == BL_STATE_QUEUED);
        CHECK_STR(first->cause, "SUBMITTED");
        CHECK_STR(first->event_id, "submit-1");
        CHECK_INT(first->origin_offset, 42);
        CHECK_INT(first->attempt, 0);
        CHECK_INT(second->state, BL_STATE_READY);
        CHECK_INT(second->ready_since_ms, T0);
        const bl_item_t *item = find(&fx, "t");
        CHECK(item != NULL);
        if (!item) {
                fixture_done(&fx);
                return;
        }
        CHECK_INT(item->submitted_at_ms, T0 - 50);
        CHECK_STR(item->kind->domain, "inference");
        CHECK_STR(bl_item_cold(item)->traceparent, origin.traceparent);
        CHECK_INT(fx.rec.notice_count, 0);

        advance_by(&fx, 10);
        m = mark(&fx);
        CHECK_INT(dispatch(&fx, "inference", 10), 1);
        CHECK_STR(path_since(&fx, m, "t"), "DISPATCHED");
        const rec_change_t *change = last_change(&fx, "t");
        CHECK_INT(change->seq, 3);
        CHECK_STR(change->cause, "dispatch");
        CHECK_STR(change->dispatch_id, "t/1");
        CHECK_INT(change->attempt, 1);
        CHECK_INT(change->lease_expires_at_ms, fx.now + 1000);
        CHECK_INT(change->ready_since_ms, BL_NO_TIME);
        CHECK_INT(fx.rec.dispatch_count - m.dispatches, 1);
        CHECK_STR(dispatch_at(&fx, m.dispatches)->task_id, "t");
        CHECK_STR(dispatch_at(&fx, m.dispatches)->dispatch_id, "t/1");
        CHECK_STR(dispatch_at(&fx, m.dispatches)->domain, "inference");
        CHECK_STR(dispatch_at(&fx, m.dispatches)->policy, "fifo");
        CHECK_INT(dispatch_at(&fx, m.dispatches)->attempt, 1);
        CHECK_INT(dispatch_at(&fx, m.dispatches)->decided_at_ms, fx.now);
        CHECK_INT(item->attempt, 1);
        CHECK_INT(bl_backlog_next_due(fx.backlog), fx.now + 1000);
        CHECK_INT(dispatch(&fx, "inference", 10), 0); /* nothing READY left */

        advance_by(&fx, 100);
        CHECK_INT(report(&fx, "t", BL_EVENT_STARTED, 1), BL_APPLY_CHANGED);
        change = last_change(&fx, "t");
        CHECK(change->from == BL_STATE_DISPATCHED && change->to == BL_STATE_RUNNING && change->seq == 4);
        int64_t started_lease = fx.now + 1000;
        CHECK_INT(item->lease_expires_at_ms, started_lease);

        advance_by(&fx, 500);
        CHECK_INT(report(&fx, "t", BL_EVENT_HEARTBEAT, 1), BL_APPLY_CHANGED);
        change = last_change(&fx, "t");
        CHECK(change->has_from && change->from == BL_STATE_RUNNING && change->to == BL_STATE_RUNNING);
        CHECK_INT(change->seq, 5);
        CHECK_STR(change->cause, "HEARTBEAT");
        CHECK_INT(item->lease_expires_at_ms, fx.now + 1000);
        CHECK_INT(bl_backlog_next_due(fx.backlog), fx.now + 1000);
        CHECK_INT(advance_to(&fx, started_lease + 100), 0); /* past the first lease: renewed */
        CHECK_STATE(&fx, "t", BL_STATE_RUNNING);

        m = mark(&fx);
        CHECK_INT(report(&fx, "t", BL_EVENT_COMPLETED, 1), BL_APPLY_CHANGED);
        CHECK_STR(path_since(&fx, m, "t"), "COMPLETED");
        change = last_change(&fx, "t");
        CHECK_INT(change->seq, 6);
        CHECK_INT(change->terminal_at_ms, fx.now);
        CHECK_INT(item->terminal_at_ms, fx.now);
        CHECK_INT(item->lease_expires_at_ms, BL_NO_TIME);
        CHECK_INT(fx.rec.dead_count, 0);
        CHECK_INT(fx.rec.notice_count, 0);
        CHECK_INT(bl_backlog_next_due(fx.backlog), fx.now + 60000); /* retention */
        fixture_done(&fx);
}

/* ---- 3. retries -------------------------------------------------------------------------- */

static int64_t backoff_ceiling(const bl_backlog_options_t *options, int32_t attempt) {
        int64_t ceiling = options->retry_base_ms;
        for (int32_t i = 1; i < attempt && ceiling < options->retry_cap_ms; i++)
                ceiling *= 2;
        return ceiling < options->retry_cap_ms ? ceiling : options->retry_cap_ms;
}

/* Dispatches @p task_id (its domain is its id) and fails each attempt until it is DEAD; the attempts made. */
static int32_t fail_until_dead(fixture_t *fx, const char *task_id, int32_t limit) {
        int32_t attempts = 0;
        while (attempts < limit) {
                if (dispatch(fx, task_id, 1) != 1)
                        break;
                attempts++;
                report_failure(fx, task_id, attempts, true);
                const bl_item_t *item = find(fx, task_id);
                if (!item || item->state != BL_STATE_RETRY_WAIT)
                        break;
                advance_to(fx, item->retry_at_ms);
        }
        return attempts;
}

static void test_retry_with_backoff(void) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        fixture_init(&fx, &options);
        submit(&fx, "t", "t");
        for (int32_t attempt = 1; attempt <= 2; attempt++) {
                CHECK_INT(dispatch(&fx, "t", 1), 1);
                CHECK_STR(last_change(&fx, "t")->dispatch_id, attempt == 1 ? "t/1" : "t/2");
                advance_by(&fx, 30);
                mark_t m = mark(&fx);
                CHECK_INT(report_failure(&fx, "t", attempt, true), BL_APPLY_CHANGED);
                CHECK_STR(path_since(&fx, m, "t"), "FAILED RETRY_WAIT");
                const rec_change_t *failed = change_since(&fx, m, "t", 0);
                const rec_change_t *waiting = change_since(&fx, m, "t", 1);
                CHECK_STR(failed->cause, "FAILED");
                CHECK_STR(waiting->reason, "retry");
                CHECK_INT(waiting->attempt, attempt);
                const bl_item_t *item = get(&fx, "t");
                CHECK(bl_item_cold(item)->has_last_error && bl_item_cold(item)->error_retryable);
                CHECK_STR(bl_item_cold(item)->error_code, "OOM");
                CHECK(item->retry_at_ms >= fx.now);
                CHECK(item->retry_at_ms <= fx.now + backoff_ceiling(&options, attempt));
                CHECK_INT(waiting->retry_at_ms, item->retry_at_ms);
                int64_t retry_at = item->retry_at_ms;
                CHECK_INT(bl_backlog_next_due(fx.backlog), retry_at);
                if (retry_at > fx.now) {
                        CHECK_INT(advance_to(&fx, retry_at - 1), 0);
                        CHECK_STATE(&fx, "t", BL_STATE_RETRY_WAIT);
                }
                m = mark(&fx);
                CHECK_INT(advance_to(&fx, retry_at), 1);
                CHECK_STR(path_since(&fx, m, "t"), "READY");
                CHECK_STR(last_change(&fx, "t")->cause, "retry_due");
                CHECK_INT(get(&fx, "t")->ready_since_ms, retry_at);
        }
        CHECK_INT(fx.rec.dead_count, 0);
        fixture_done(&fx);
}

static void test_retries_exhausted(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);

        /* the backlog's max_attempts (3) */
        submit(&fx, "t3", "t3");
        mark_t m = mark(&fx);
        CHECK_INT(fail_until_dead(&fx, "t3", 10), 3);
        CHECK_STATE(&fx, "t3", BL_STATE_DEAD);
        CHECK_INT(get(&fx, "t3")->attempt, 3);
        CHECK_STR(last_change(&fx, "t3")->reason, "retries_exhausted");
        CHECK(last_change(&fx, "t3")->from == BL_STATE_FAILED);
        CHECK_INT(dead_letters_of(&fx, m, "t3"), 1);
        CHECK_INT(last_dead_letter(&fx, "t3")->reason, BL_REASON_RETRIES_EXHAUSTED);
        CHECK_CONTAINS(last_dead_letter(&fx, "t3")->detail, "retries exhausted after attempt 3 of 3");
        CHECK_INT(last_dead_letter(&fx, "t3")->state, BL_STATE_DEAD);
        CHECK_STR(bl_reason_name(BL_REASON_RETRIES_EXHAUSTED), "retries.exhausted");

        /* the task's own max_attempts, below and above the backlog's */
        bl_task_event_t event = submission("t1", "t1");
        event.has_max_attempts = true;
        event.max_attempts = 1;
        apply(&fx, event);
        m = mark(&fx);
        CHECK_INT(fail_until_dead(&fx, "t1", 10), 1);
        CHECK_STR(path_since(&fx, m, "t1"), "DISPATCHED FAILED DEAD");
        CHECK_INT(dead_letters_of(&fx, m, "t1"), 1);
        CHECK_CONTAINS(last_dead_letter(&fx, "t1")->detail, "after attempt 1 of 1");

        event = submission("t5", "t5");
        event.has_max_attempts = true;
        event.max_attempts = 5;
        apply(&fx, event);
        m = mark(&fx);
        CHECK_INT(fail_until_dead(&fx, "t5", 10), 5);
        CHECK_STATE(&fx, "t5", BL_STATE_DEAD);
        CHECK_INT(dead_letters_of(&fx, m, "t5"), 1);
        CHECK_CONTAINS(last_dead_letter(&fx, "t5")->detail, "after attempt 5 of 5");

        /* an UPDATED max_attempts counts from then on */
        submit(&fx, "tu", "tu");
        dispatch(&fx, "tu", 1);
        report_failure(&fx, "tu", 1, true);
        bl_task_event_t update = producer_event("tu", BL_EVENT_UPDATED);
        update.has_max_attempts = true;
        update.max_attempts = 2;
        apply(&fx, update);
        advance_to(&fx, get(&fx, "tu")->retry_at_ms);
        dispatch(&fx, "tu", 1);
        report_failure(&fx, "tu", 2, true);
        CHECK_STATE(&fx, "tu", BL_STATE_DEAD);

        /* not retryable: DEAD at once, whatever attempts are left */
        submit(&fx, "fatal", "fatal");
        dispatch(&fx, "fatal", 1);
        m = mark(&fx);
        CHECK_INT(report_failure(&fx, "fatal", 1, false), BL_APPLY_CHANGED);
        CHECK_STR(path_since(&fx, m, "fatal"), "FAILED DEAD");
        CHECK_STR(last_change(&fx, "fatal")->reason, "not_retryable");
        CHECK_INT(dead_letters_of(&fx, m, "fatal"), 1);
        CHECK_INT(last_dead_letter(&fx, "fatal")->reason, BL_REASON_RETRIES_EXHAUSTED);
        CHECK_CONTAINS(last_dead_letter(&fx, "fatal")->detail,
                       "not retryable after attempt 1 of 3: OOM: out of memory");
        CHECK(!bl_item_cold(get(&fx, "fatal"))->error_retryable);
        fixture_done(&fx);
}

/*
 * Full jitter with an exponential ceiling: over many seeds, the largest delay
 * seen before attempt n + 1 grows with n up to the cap and never passes
 * min(cap, base * 2^(n-1)).
 */
static void test_backoff_grows_with_attempts(void) {
        enum { SEEDS = 200, ATTEMPTS = 7 };
        int64_t largest[ATTEMPTS + 1] = {0};
        int64_t first_delays[SEEDS];
        bool in_bounds = true;
        bl_backlog_options_t options = default_options();
        options.max_attempts = ATTEMPTS + 1;
        for (uint64_t seed = 1; seed <= SEEDS; seed++) {
                fixture_t fx;
                options.seed = seed;
                fixture_init(&fx, &options);
                submit(&fx, "t", "t");
                for (int32_t attempt = 1; attempt <= ATTEMPTS; attempt++) {
                        dispatch(&fx, "t", 1);
                        report_failure(&fx, "t", attempt, true);
                        const bl_item_t *item = get(&fx, "t");
                        int64_t delay = item->retry_at_ms - fx.now;
                        if (delay < 0 || delay > backoff_ceiling(&options, attempt))
                                in_bounds = false;
                        if (delay > largest[attempt])
                                largest[attempt] = delay;
                        if (attempt == 1)
                                first_delays[seed - 1] = delay;
                        advance_to(&fx, item->retry_at_ms);
                }
                CHECK_INT(get(&fx, "t")->attempt, ATTEMPTS);
                fixture_done(&fx);
        }
        CHECK(in_bounds);
        for (int32_t attempt = 1; attempt <= ATTEMPTS; attempt++) {
                int64_t ceiling = backoff_ceiling(&options, attempt);
                CHECK(largest[attempt] <= ceiling);
                CHECK(largest[attempt] > ceiling * 9 / 10); /* 200 draws: a miss has odds below 1e-9 */
                if (attempt > 1 && ceiling > backoff_ceiling(&options, attempt - 1))
                        CHECK(largest[attempt] > largest[attempt - 1]);
        }
        CHECK_INT(backoff_ceiling(&options, 5), options.retry_cap_ms);
        CHECK(largest[ATTEMPTS] <= options.retry_cap_ms);
        /* the jitter is real: the seeds disagree */
        int distinct = 0;
        for (int i = 0; i < SEEDS; i++) {
                bool seen = false;
                for (int j = 0; j < i && !seen; j++)
                        seen = first_delays[j] == first_delays[i];
                distinct += !seen;
        }
        CHECK(distinct > 50);
}

/* ---- 4. leases --------------------------------------------------------------------------- */

static void test_lease_expiry(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);

        /* DISPATCHED and never STARTED */
        submit(&fx, "silent", "silent");
        dispatch(&fx, "silent", 1);
        CHECK_INT(advance_by(&fx, 999), 0);
        CHECK_STATE(&fx, "silent", BL_STATE_DISPATCHED);
        mark_t m = mark(&fx);
        CHECK(advance_by(&fx, 1) >= 1);
        CHECK_CONTAINS(path_since(&fx, m, "silent"), "FAILED RETRY_WAIT");
        const rec_change_t *failed = change_since(&fx, m, "silent", 0);
        CHECK_STR(failed->cause, "lease_expired");
        CHECK_STR(failed->reason, "lease_expired");
        CHECK_INT(failed->lease_expires_at_ms, BL_NO_TIME);
        const bl_item_t *item = get(&fx, "silent");
        CHECK_STR(bl_item_cold(item)->error_code, "lease_expired");
        CHECK(bl_item_cold(item)->error_retryable);
        CHECK_INT(item->attempt, 1);

        /* RUNNING and the heartbeats stop */
        submit(&fx, "quiet", "quiet");
        dispatch(&fx, "quiet", 1);
        advance_by(&fx, 200);
        report(&fx, "quiet", BL_EVENT_STARTED, 1);
        int64_t lease = get(&fx, "quiet")->lease_expires_at_ms;
        CHECK_INT(lease, fx.now + 1000);
        advance_to(&fx, lease - 1);
        CHECK_STATE(&fx, "quiet", BL_STATE_RUNNING);
        m = mark(&fx);
        advance_to(&fx, lease);
        CHECK_STR(path_since(&fx, m, "quiet"), "FAILED RETRY_WAIT");
        CHECK_STR(change_since(&fx, m, "quiet", 0)->reason, "lease_expired");
        CHECK_INT(change_since(&fx, m, "quiet", 0)->from, BL_STATE_RUNNING);

        /* the lost attempt is retried */
        advance_to(&fx, get(&fx, "quiet")->retry_at_ms);
        CHECK_INT(dispatch(&fx, "quiet", 1), 1);
        CHECK_STR(last_change(&fx, "quiet")->dispatch_id, "quiet/2");
        fixture_done(&fx);
}

/*
 * Regression: a timer that fires at exactly its due time and leaves the item
 * with a new timer due at that same instant (a retry with zero back-off
 * after a lease expiry) must not be dropped as "stale".
 */
static void test_timer_due_again_at_once(void) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        options.retry_base_ms = 0; /* no back-off: retry_at = now */
        fixture_init(&fx, &options);
        submit(&fx, "t", "t");
        dispatch(&fx, "t", 1);
        mark_t m = mark(&fx);
        advance_to(&fx, get(&fx, "t")->lease_expires_at_ms);
        advance_by(&fx, 1);
        CHECK_STR(path_since(&fx, m, "t"), "FAILED RETRY_WAIT READY");
        CHECK_STATE(&fx, "t", BL_STATE_READY);
        fixture_done(&fx);

        /* and with no retention: a task that expires exactly at its deadline is still purged */
        options = default_options();
        options.retention_ms = 0;
        fixture_init(&fx, &options);
        bl_task_event_t event = submission("e", "e");
        event.has_deadline = true;
        event.deadline_ms = fx.now + 100;
        apply(&fx, event);
        advance_by(&fx, 100);
        advance_by(&fx, 1);
        CHECK_INT(fx.rec.purge_count, 1);
        CHECK(find(&fx, "e") == NULL);
        fixture_done(&fx);
}

/* ---- 5. deadlines ------------------------------------------------------------------------- */

static void submit_with_deadline(fixture_t *fx, const char *task_id, int64_t deadline_ms, int64_t not_before_ms,
                                 const char *dependency) {
        const char *deps[] = {dependency};
        bl_task_event_t event = submission(task_id, task_id);
        event.has_deadline = true;
        event.deadline_ms = deadline_ms;
        if (not_before_ms != BL_NO_TIME) {
                event.has_not_before = true;
                event.not_before_ms = not_before_ms;
        }
        if (dependency) {
                event.depends_on = deps;
                event.depends_on_count = 1;
        }
        apply(fx, event);
}

static void expect_expired(fixture_t *fx, mark_t m, const char *task_id, const char *path, const char *in_state) {
        CHECK_STR(path_since(fx, m, task_id), path);
        const rec_change_t *change = last_change(fx, task_id);
        CHECK_STR(change->cause, "deadline");
        CHECK_STR(change->reason, "deadline_passed");
        CHECK_INT(dead_letters_of(fx, m, task_id), 1);
        const rec_dead_t *dead = last_dead_letter(fx, task_id);
        CHECK_INT(dead->reason, BL_REASON_DEADLINE_EXPIRED);
        CHECK_CONTAINS(dead->detail, in_state);
        CHECK_INT(dead->state, BL_STATE_EXPIRED);
}

static void test_deadlines(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        int64_t deadline = fx.now + 500;
        submit_with_deadline(&fx, "ready", deadline, BL_NO_TIME, NULL);
        submit_with_deadline(&fx, "not-yet", deadline, fx.now + 100000, NULL);
        submit_with_deadline(&fx, "waiting", deadline, BL_NO_TIME, "never");
        route(&fx);
        submit_with_deadline(&fx, "dispatched", deadline, BL_NO_TIME, NULL);
        dispatch(&fx, "dispatched", 1);
        CHECK_STATE(&fx, "ready", BL_STATE_READY);
        CHECK_STATE(&fx, "not-yet", BL_STATE_BLOCKED);
        CHECK_STATE(&fx, "waiting", BL_STATE_BLOCKED);
        CHECK_INT(bl_backlog_next_due(fx.backlog), deadline);
        CHECK_INT(advance_to(&fx, deadline - 1), 0);
        mark_t m = mark(&fx);
        advance_to(&fx, deadline);
        expect_expired(&fx, m, "ready", "EXPIRED", "passed in READY");
        expect_expired(&fx, m, "not-yet", "EXPIRED", "passed in BLOCKED");
        expect_expired(&fx, m, "waiting", "EXPIRED", "passed in BLOCKED");
        CHECK_STR(bl_reason_name(BL_REASON_DEADLINE_EXPIRED), "deadline.expired");
        /* dispatched before its deadline: not expired, it runs to the end */
        CHECK_STATE(&fx, "dispatched", BL_STATE_DISPATCHED);
        CHECK_INT(report(&fx, "dispatched", BL_EVENT_STARTED, 1), BL_APPLY_CHANGED);
        CHECK_INT(report(&fx, "dispatched", BL_EVENT_COMPLETED, 1), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "dispatched", BL_STATE_COMPLETED);

        /* dispatched, then lost past its deadline: the retry would come too late, so it expires */
        submit_with_deadline(&fx, "lost", fx.now + 500, BL_NO_TIME, NULL);
        dispatch(&fx, "lost", 1);
        m = mark(&fx);
        advance_by(&fx, 1000);
        expect_expired(&fx, m, "lost", "FAILED RETRY_WAIT EXPIRED", "passed in RETRY_WAIT");

        /* submitted when its deadline had passed already: QUEUED, and EXPIRED at the next advance */
        bl_task_event_t event = submission("stale-on-arrival", "stale-on-arrival");
        event.occurred_at_ms = fx.now - 5000;
        event.has_deadline = true;
        event.deadline_ms = fx.now - 1000;
        m = mark(&fx);
        CHECK_INT(apply(&fx, event), BL_APPLY_CHANGED);
        CHECK_STR(path_since(&fx, m, "stale-on-arrival"), "QUEUED");
        CHECK_INT(dispatch(&fx, "stale-on-arrival", 1), 0);
        advance_by(&fx, 0);
        expect_expired(&fx, m, "stale-on-arrival", "QUEUED EXPIRED", "passed in QUEUED");
        fixture_done(&fx);

        /* RETRY_WAIT past the deadline */
        bl_backlog_options_t options = default_options();
        options.retry_base_ms = options.retry_cap_ms = 1000000;
        fixture_init(&fx, &options);
        submit_with_deadline(&fx, "retrying", fx.now + 500, BL_NO_TIME, NULL);
        dispatch(&fx, "retrying", 1);
        report_failure(&fx, "retrying", 1, true);
        CHECK(get(&fx, "retrying")->retry_at_ms > fx.now + 500);
        m = mark(&fx);
        advance_by(&fx, 500);
        expect_expired(&fx, m, "retrying", "EXPIRED", "passed in RETRY_WAIT");
        fixture_done(&fx);
}

/*
 * Regression: a task submitted after its deadline waits QUEUED to expire; an
 * UPDATED that moves the deadline ahead lets it go on instead of leaving it
 * QUEUED (never dispatched) until the new deadline expires it.
 */
static void test_update_rescues_late_submission(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        bl_task_event_t event = submission("late", "late");
        event.has_deadline = true;
        event.deadline_ms = fx.now - 1;
        apply(&fx, event);
        CHECK_STATE(&fx, "late", BL_STATE_QUEUED);
        bl_task_event_t update = producer_event("late", BL_EVENT_UPDATED);
        update.has_deadline = true;
        update.deadline_ms = fx.now + 100000;
        CHECK_INT(apply(&fx, update), BL_APPLY_CHANGED);
        advance_by(&fx, 10);
        CHECK_STATE(&fx, "late", BL_STATE_READY);
        CHECK_INT(dispatch(&fx, "late", 1), 1);
        fixture_done(&fx);
}

/* ---- 6. not_before ------------------------------------------------------------------------ */

static void test_not_before(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        bl_task_event_t event = submission("later", "later");
        event.has_not_before = true;
        event.not_before_ms = fx.now + 300;
        mark_t m = mark(&fx);
        apply(&fx, event);
        CHECK_STR(path_since(&fx, m, "later"), "QUEUED BLOCKED");
        CHECK_STR(last_change(&fx, "later")->reason, "not_before");
        CHECK_INT(bl_backlog_next_due(fx.backlog), fx.now + 300);
        CHECK_INT(dispatch(&fx, "later", 1), 0);
        CHECK_INT(advance_by(&fx, 299), 0);
        CHECK_STATE(&fx, "later", BL_STATE_BLOCKED);
        CHECK_INT(advance_by(&fx, 1), 1);
        CHECK_STATE(&fx, "later", BL_STATE_READY);
        CHECK_STR(last_change(&fx, "later")->cause, "not_before");
        CHECK_INT(bl_backlog_next_due(fx.backlog), BL_NO_TIME);

        /* a not_before already past on arrival does not hold the task */
        event = submission("past", "past");
        event.has_not_before = true;
        event.not_before_ms = fx.now - 10;
        m = mark(&fx);
        apply(&fx, event);
        CHECK_STR(path_since(&fx, m, "past"), "QUEUED READY");
        fixture_done(&fx);
}

static void test_not_before_with_dependency(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        int64_t start = fx.now;
        /* not_before passes while the dependency is pending: still BLOCKED, and the deadline still fires */
        submit_with_deadline(&fx, "both", start + 1000, start + 300, "dep");
        route(&fx);
        CHECK_STATE(&fx, "both", BL_STATE_BLOCKED);
        CHECK_STR(last_change(&fx, "both")->reason, "dependency");
        advance_to(&fx, start + 300);
        CHECK_STATE(&fx, "both", BL_STATE_BLOCKED);
        CHECK_INT(bl_backlog_next_due(fx.backlog), start + 1000);
        mark_t m = mark(&fx);
        advance_to(&fx, start + 1000);
        expect_expired(&fx, m, "both", "EXPIRED", "passed in BLOCKED");
        fixture_done(&fx);

        /* the dependency completes after not_before: READY at once */
        fixture_init(&fx, NULL);
        start = fx.now;
        submit_with_deadline(&fx, "a", start + 100000, start + 300, "b");
        route(&fx);
        submit(&fx, "b", "b");
        advance_to(&fx, start + 500);
        CHECK_STATE(&fx, "a", BL_STATE_BLOCKED);
        dispatch(&fx, "b", 1);
        report(&fx, "b", BL_EVENT_COMPLETED, 1);
        m = mark(&fx);
        route(&fx);
        CHECK_STR(path_since(&fx, m, "a"), "=BLOCKED READY");
        fixture_done(&fx);

        /* the dependency completes before not_before: BLOCKED until not_before */
        fixture_init(&fx, NULL);
        start = fx.now;
        submit_with_deadline(&fx, "a", start + 100000, start + 300, "b");
        route(&fx);
        submit(&fx, "b", "b");
        dispatch(&fx, "b", 1);
        report(&fx, "b", BL_EVENT_COMPLETED, 1);
        route(&fx);
        CHECK_STATE(&fx, "a", BL_STATE_BLOCKED);
        CHECK_INT(bl_backlog_next_due(fx.backlog), start + 300);
        advance_to(&fx, start + 300);
        CHECK_STATE(&fx, "a", BL_STATE_READY);
        fixture_done(&fx);
}

/* ---- 7. duplicates ------------------------------------------------------------------------ */

static void test_duplicates(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        bl_task_event_t event = submission("t", "t");
        event.event_id = "s-1";
        CHECK_INT(apply(&fx, event), BL_APPLY_CHANGED);
        mark_t m = mark(&fx);
        int64_t seq = get(&fx, "t")->seq;
        CHECK_INT(apply(&fx, event), BL_APPLY_DUPLICATE);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(get(&fx, "t")->seq, seq);
        dispatch(&fx, "t", 1);
        m = mark(&fx);
        bl_task_event_t started = result_event("t", BL_EVENT_STARTED, 1);
        started.event_id = "r-1";
        CHECK_INT(apply(&fx, started), BL_APPLY_CHANGED);
        CHECK_INT(apply(&fx, started), BL_APPLY_DUPLICATE);
        CHECK_INT(apply(&fx, event), BL_APPLY_DUPLICATE);
        bl_task_event_t completed = result_event("t", BL_EVENT_COMPLETED, 1);
        completed.event_id = "r-2";
        CHECK_INT(apply(&fx, completed), BL_APPLY_CHANGED);
        CHECK_INT(emitted_since(&fx, m), 2);
        m = mark(&fx);
        seq = get(&fx, "t")->seq;
        CHECK_INT(apply(&fx, completed), BL_APPLY_DUPLICATE); /* terminal: still a duplicate, not stale */
        CHECK_INT(apply(&fx, started), BL_APPLY_DUPLICATE);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(get(&fx, "t")->seq, seq);
        /* the same event id on another task is another event */
        bl_task_event_t other = submission("u", "u");
        other.event_id = "s-1";
        CHECK_INT(apply(&fx, other), BL_APPLY_CHANGED);
        fixture_done(&fx);
}

static void test_dedup_window(void) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        options.dedup_window = 3;
        fixture_init(&fx, &options);
        bl_task_event_t event = submission("t", "t");
        event.event_id = "u-0";
        apply(&fx, event);
        char ids[5][8];
        for (int i = 1; i <= 4; i++) {
                snprintf(ids[i], sizeof(ids[i]), "u-%d", i);
                bl_task_event_t update = producer_event("t", BL_EVENT_UPDATED);
                update.event_id = ids[i];
                CHECK_INT(apply(&fx, update), BL_APPLY_CHANGED);
        }
        const bl_item_t *item = get(&fx, "t");
        CHECK_INT(item->recent_event_count, 3);
        const char *oldest = bl_item_event_next(item, NULL);
        const char *newest = bl_item_event_next(item, bl_item_event_next(item, oldest));
        CHECK_STR(oldest, "u-2");
        CHECK_STR(newest, "u-4");
        CHECK(bl_item_event_next(item, newest) == NULL);
        bl_task_event_t update = producer_event("t", BL_EVENT_UPDATED);
        update.event_id = "u-2";
        CHECK_INT(apply(&fx, update), BL_APPLY_DUPLICATE); /* still in the window */
        update.event_id = "u-1";
        CHECK_INT(apply(&fx, update), BL_APPLY_CHANGED); /* forgotten: applied again */
        event.event_id = "u-0";
        CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL); /* forgotten: judged as a new SUBMITTED */
        CHECK_STR(fx.detail, "SUBMITTED for task t in READY");
        fixture_done(&fx);
}

/* ---- 8. stale results --------------------------------------------------------------------- */

static void expect_stale(fixture_t *fx, const char *task_id, bl_event_type_t type, int32_t attempt) {
        const bl_item_t *item = get(fx, task_id);
        bl_state_t state = item->state;
        int32_t current = item->attempt;
        static unsigned serial;
        char event_id[32];
        snprintf(event_id, sizeof(event_id), "stale-%u", ++serial);
        mark_t m = mark(fx);
        bl_task_event_t event = result_event(task_id, type, attempt);
        event.event_id = event_id;
        CHECK_INT(apply(fx, event), BL_APPLY_STALE);
        CHECK_INT(emitted_since(fx, m), 1);
        const rec_change_t *note = last_change(fx, task_id);
        CHECK(note->has_from && note->from == state && note->to == state);
        CHECK_STR(note->reason, "stale_attempt");
        CHECK_STR(note->cause, bl_event_type_name(type));
        CHECK_STR(note->event_id, event_id);
        CHECK_INT(item->state, state);
        CHECK_INT(item->attempt, current);
        CHECK_INT(apply(fx, event), BL_APPLY_DUPLICATE); /* recorded: its id is remembered */
}

static void test_stale_results(void) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        options.retry_base_ms = options.retry_cap_ms = 1000000;
        fixture_init(&fx, &options);
        submit(&fx, "t", "t");
        dispatch(&fx, "t", 1);
        report_failure(&fx, "t", 1, true);
        advance_to(&fx, get(&fx, "t")->retry_at_ms);
        dispatch(&fx, "t", 1);
        CHECK_INT(get(&fx, "t")->attempt, 2);
        expect_stale(&fx, "t", BL_EVENT_COMPLETED, 1);
        expect_stale(&fx, "t", BL_EVENT_FAILED, 1);
        expect_stale(&fx, "t", BL_EVENT_STARTED, 3);
        expect_stale(&fx, "t", BL_EVENT_HEARTBEAT, 0);
        CHECK_STATE(&fx, "t", BL_STATE_DISPATCHED);
        int64_t lease = get(&fx, "t")->lease_expires_at_ms;
        CHECK_INT(bl_backlog_next_due(fx.backlog), lease); /* a stale HEARTBEAT renews nothing */
        CHECK_INT(report(&fx, "t", BL_EVENT_STARTED, 2), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_RUNNING);

        /* a late STARTED after the lease expired */
        submit(&fx, "slow", "slow");
        dispatch(&fx, "slow", 1);
        advance_to(&fx, get(&fx, "slow")->lease_expires_at_ms);
        CHECK_STATE(&fx, "slow", BL_STATE_RETRY_WAIT);
        expect_stale(&fx, "slow", BL_EVENT_STARTED, 1);
        expect_stale(&fx, "slow", BL_EVENT_COMPLETED, 1);
        CHECK_STATE(&fx, "slow", BL_STATE_RETRY_WAIT);

        /* results for tasks that are not dispatched, or are over */
        submit(&fx, "idle", "idle");
        expect_stale(&fx, "idle", BL_EVENT_STARTED, 0);
        expect_stale(&fx, "idle", BL_EVENT_COMPLETED, 1);
        submit(&fx, "over", "over");
        dispatch(&fx, "over", 1);
        report(&fx, "over", BL_EVENT_COMPLETED, 1);
        expect_stale(&fx, "over", BL_EVENT_COMPLETED, 1);
        expect_stale(&fx, "over", BL_EVENT_FAILED, 1);
        CHECK_STATE(&fx, "over", BL_STATE_COMPLETED);
        CHECK_INT(fx.rec.dead_count, 0);
        fixture_done(&fx);
}

/* ---- 9. dependencies ---------------------------------------------------------------------- */

static void test_dependency_completes(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        submit(&fx, "b", "b");
        mark_t m = mark(&fx);
        CHECK_INT(submit_after(&fx, "a", "a", "b"), BL_APPLY_CHANGED);
        CHECK_STR(path_since(&fx, m, "a"), "QUEUED BLOCKED");
        CHECK_STR(last_change(&fx, "a")->reason, "dependency");
        CHECK_INT(fx.rec.notice_count - m.notices, 1);
        const rec_notice_t *waiting = notice_at(&fx, m.notices);
        CHECK(!waiting->is_outcome);
        CHECK_STR(waiting->to, "b");
        CHECK_STR(waiting->from, "a");
        const bl_item_t *a = find(&fx, "a");
        CHECK_INT(bl_item_cold(a)->pending_deps.count, 1);
        CHECK(bl_strvec_contains(&bl_item_cold(a)->depends_on, "b"));

        m = mark(&fx);
        CHECK_INT(route(&fx), 1);
        CHECK_STR(path_since(&fx, m, "b"), "=READY");
        CHECK_STR(last_change(&fx, "b")->cause, "dependent_registered");
        CHECK(bl_strvec_contains(&bl_item_cold(get(&fx, "b"))->dependents, "a"));
        CHECK_INT(fx.rec.notice_count - m.notices, 0);
        /* a second WAITING (redelivered) registers nothing twice */
        bl_notice_t again = {false, "b", "a", BL_STATE_QUEUED, fx.now};
        m = mark(&fx);
        bl_backlog_apply_notice(fx.backlog, &again, 0, fx.now);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(bl_item_cold(get(&fx, "b"))->dependents.count, 1);

        dispatch(&fx, "b", 1);
        m = mark(&fx);
        report(&fx, "b", BL_EVENT_COMPLETED, 1);
        CHECK_INT(fx.rec.notice_count - m.notices, 1);
        const rec_notice_t *outcome = notice_at(&fx, m.notices);
        CHECK(outcome->is_outcome);
        CHECK_STR(outcome->to, "a");
        CHECK_STR(outcome->from, "b");
        CHECK_INT(outcome->outcome, BL_STATE_COMPLETED);
        CHECK_STATE(&fx, "a", BL_STATE_BLOCKED); /* until the notice arrives */
        route(&fx);
        CHECK_STR(path_since(&fx, m, "a"), "=BLOCKED READY");
        CHECK_STR(change_since(&fx, m, "a", 0)->cause, "dependency_resolved");
        CHECK_INT(bl_item_cold(a)->pending_deps.count, 0);
        CHECK_INT(bl_item_cold(a)->depends_on.count, 1);
        /* the same OUTCOME again changes nothing */
        bl_notice_t done = {true, "a", "b", BL_STATE_COMPLETED, fx.now};
        m = mark(&fx);
        bl_backlog_apply_notice(fx.backlog, &done, 0, fx.now);
        CHECK_INT(emitted_since(&fx, m), 0);
        fixture_done(&fx);
}

static void test_dependency_on_unknown_task(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        const char *deps[] = {"b", "c"};
        bl_task_event_t event = submission("a", "a");
        event.depends_on = deps;
        event.depends_on_count = 2;
        apply(&fx, event);
        mark_t m = mark(&fx);
        CHECK_INT(route(&fx), 2);
        const bl_item_t *b = find(&fx, "b");
        CHECK(b != NULL);
        if (!b) {
                fixture_done(&fx);
                return;
        }
        CHECK(b->placeholder);
        CHECK(bl_strvec_contains(&bl_item_cold(b)->dependents, "a"));
        const rec_change_t *created = change_since(&fx, m, "b", 0);
        CHECK(!created->has_from && created->seq == 1 && created->placeholder);
        CHECK_STR(created->reason, "placeholder");
        CHECK_INT(dispatch(&fx, NULL, 100), 0); /* a placeholder is never READY */
        CHECK_INT(report(&fx, "b", BL_EVENT_STARTED, 1), BL_APPLY_ILLEGAL);

        /* the real SUBMITTED keeps the dependents */
        m = mark(&fx);
        CHECK_INT(submit(&fx, "b", "b"), BL_APPLY_CHANGED);
        b = get(&fx, "b");
        CHECK(!b->placeholder);
        CHECK(bl_strvec_contains(&bl_item_cold(b)->dependents, "a"));
        CHECK_STR(path_since(&fx, m, "b"), "=QUEUED READY");
        CHECK_INT(change_since(&fx, m, "b", 0)->seq, 2);
        dispatch(&fx, "b", 1);
        report(&fx, "b", BL_EVENT_COMPLETED, 1);
        route(&fx);
        CHECK_STATE(&fx, "a", BL_STATE_BLOCKED); /* c is still pending */
        CHECK_INT(bl_item_cold(get(&fx, "a"))->pending_deps.count, 1);
        submit(&fx, "c", "c");
        dispatch(&fx, "c", 1);
        report(&fx, "c", BL_EVENT_COMPLETED, 1);
        route(&fx);
        CHECK_STATE(&fx, "a", BL_STATE_READY);
        fixture_done(&fx);
}

/* b ends in @p how: a, which waits on it, fails, and so does c, which waits on a. */
static void check_dependency_failure(bl_state_t how) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        options.max_attempts = 1;
        fixture_init(&fx, &options);
        bl_task_event_t event = submission("b", "b");
        if (how == BL_STATE_EXPIRED) {
                event.has_deadline = true;
                event.deadline_ms = fx.now + 100;
                event.has_not_before = true;
                event.not_before_ms = fx.now + 1000;
        }
        apply(&fx, event);
        submit_after(&fx, "a", "a", "b");
        submit_after(&fx, "c", "c", "a");
        route(&fx);
        CHECK(bl_strvec_contains(&bl_item_cold(get(&fx, "a"))->dependents, "c"));
        mark_t m = mark(&fx);
        if (how == BL_STATE_DEAD) {
                dispatch(&fx, "b", 1);
                report_failure(&fx, "b", 1, true);
        } else if (how == BL_STATE_CANCELLED) {
                send(&fx, "b", BL_EVENT_CANCELLED);
        } else {
                advance_by(&fx, 100);
        }
        CHECK_STATE(&fx, "b", how);
        route(&fx);
        CHECK_STR(path_since(&fx, m, "a"), "FAILED DEAD");
        CHECK_STR(path_since(&fx, m, "c"), "FAILED DEAD");
        const rec_change_t *failed = change_since(&fx, m, "a", 0);
        CHECK_STR(failed->cause, "dependency_failed");
        CHECK_STR(failed->reason, "dependency_failed");
        CHECK_INT(dead_letters_of(&fx, m, "a"), 1);
        CHECK_INT(dead_letters_of(&fx, m, "c"), 1);
        char detail[64];
        snprintf(detail, sizeof(detail), "dependency b ended %s", bl_state_name(how));
        CHECK_INT(last_dead_letter(&fx, "a")->reason, BL_REASON_DEPENDENCY_FAILED);
        CHECK_STR(last_dead_letter(&fx, "a")->detail, detail);
        CHECK_STR(last_dead_letter(&fx, "c")->detail, "dependency a ended DEAD");
        CHECK_STR(bl_item_cold(get(&fx, "a"))->error_code, "dependency_failed");
        CHECK(!bl_item_cold(get(&fx, "a"))->error_retryable);
        /* a's dependents were told */
        bool told = false;
        for (size_t i = m.notices; i < fx.rec.notice_count; i++)
                told |= notice_at(&fx, i)->is_outcome && !strcmp(notice_at(&fx, i)->to, "c") &&
                        !strcmp(notice_at(&fx, i)->from, "a") && notice_at(&fx, i)->outcome == BL_STATE_DEAD;
        CHECK(told);
        CHECK_STR(bl_reason_name(BL_REASON_DEPENDENCY_FAILED), "dependency_failed");
        fixture_done(&fx);
}

static void test_dependency_fails(void) {
        check_dependency_failure(BL_STATE_DEAD);
        check_dependency_failure(BL_STATE_CANCELLED);
        check_dependency_failure(BL_STATE_EXPIRED);
}

static void test_dependency_already_over(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        submit(&fx, "b", "b");
        dispatch(&fx, "b", 1);
        report(&fx, "b", BL_EVENT_COMPLETED, 1);
        int64_t b_seq = get(&fx, "b")->seq;
        submit(&fx, "gone", "gone");
        send(&fx, "gone", BL_EVENT_CANCELLED);

        submit_after(&fx, "a", "a", "b");
        mark_t m = mark(&fx);
        const rec_notice_t *sent = notice_at(&fx, fx.rec.notice_count - 1);
        CHECK(!sent->is_outcome && !strcmp(sent->to, "b"));
        bl_notice_t waiting = {false, "b", "a", BL_STATE_QUEUED, fx.now};
        fx.rec.notices_routed = fx.rec.notice_count;
        bl_backlog_apply_notice(fx.backlog, &waiting, 0, fx.now);
        /* answered at once, and b is not touched */
        CHECK_INT(fx.rec.notice_count - m.notices, 1);
        CHECK(notice_at(&fx, m.notices)->is_outcome);
        CHECK_STR(notice_at(&fx, m.notices)->to, "a");
        CHECK_INT(notice_at(&fx, m.notices)->outcome, BL_STATE_COMPLETED);
        CHECK_INT(get(&fx, "b")->seq, b_seq);
        CHECK_INT(bl_item_cold(get(&fx, "b"))->dependents.count, 0);
        route(&fx);
        CHECK_STATE(&fx, "a", BL_STATE_READY);

        submit_after(&fx, "orphan", "orphan", "gone");
        route(&fx);
        CHECK_STATE(&fx, "orphan", BL_STATE_DEAD);
        CHECK_INT(last_dead_letter(&fx, "orphan")->reason, BL_REASON_DEPENDENCY_FAILED);
        fixture_done(&fx);
}

/*
 * A task submitted past its deadline (QUEUED until the next advance) whose
 * dependency has failed: whichever reason wins, it ends terminal with
 * exactly one dead letter, never stuck.
 */
static void test_dependency_fails_for_late_submission(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        submit(&fx, "gone", "gone");
        send(&fx, "gone", BL_EVENT_CANCELLED);
        mark_t m = mark(&fx);
        submit_with_deadline(&fx, "late", fx.now - 1, BL_NO_TIME, "gone");
        route(&fx);
        advance_by(&fx, 1);
        const bl_item_t *item = find(&fx, "late");
        CHECK(item && bl_state_is_terminal(item->state));
        CHECK_INT(dead_letters_of(&fx, m, "late"), 1);
        fixture_done(&fx);
}

/* ---- 10. cancellation --------------------------------------------------------------------- */

static void test_cancel_from_each_state(void) {
        const bl_state_t states[] = {BL_STATE_QUEUED,  BL_STATE_BLOCKED, BL_STATE_READY,
                                     BL_STATE_DISPATCHED, BL_STATE_RUNNING, BL_STATE_RETRY_WAIT};
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                fixture_t fx;
                bl_backlog_options_t options = default_options();
                options.retry_base_ms = options.retry_cap_ms = 1000000;
                fixture_init(&fx, &options);
                CHECK(make_in_state(&fx, "t", states[i]));
                submit_after(&fx, "dependent", "dependent", "t");
                route(&fx);
                mark_t m = mark(&fx);
                CHECK_INT(send(&fx, "t", BL_EVENT_CANCELLED), BL_APPLY_CHANGED);
                CHECK_STR(path_since(&fx, m, "t"), "CANCELLED");
                const rec_change_t *change = last_change(&fx, "t");
                CHECK_INT(change->from, states[i]);
                CHECK_STR(change->cause, "CANCELLED");
                CHECK_INT(change->terminal_at_ms, fx.now);
                CHECK_INT(dead_letters_of(&fx, m, "t"), 0);
                CHECK_INT(fx.rec.notice_count - m.notices, 1);
                CHECK(notice_at(&fx, m.notices)->is_outcome);
                CHECK_STR(notice_at(&fx, m.notices)->to, "dependent");
                CHECK_INT(notice_at(&fx, m.notices)->outcome, BL_STATE_CANCELLED);
                route(&fx);
                CHECK_STATE(&fx, "dependent", BL_STATE_DEAD);
                CHECK_INT(dispatch(&fx, "t", 10), 0);
                /* its timers are gone: only retention remains */
                m = mark(&fx);
                advance_by(&fx, 59999);
                CHECK_INT(emitted_since(&fx, m), 0);
                CHECK_STATE(&fx, "t", BL_STATE_CANCELLED);
                if (states[i] == BL_STATE_DISPATCHED || states[i] == BL_STATE_RUNNING)
                        CHECK_INT(report(&fx, "t", BL_EVENT_COMPLETED, 1), BL_APPLY_STALE);
                CHECK_INT(send(&fx, "t", BL_EVENT_CANCELLED), BL_APPLY_ILLEGAL);
                fixture_done(&fx);
        }
}

/* ---- 10b. operators: approval, rejection, re-evaluation (SPEC §15) ------------------------ */

static double approval_threshold = 0.7; /* risk at or above it needs APPROVED; raised past 1 to ask for none */

static void approval_settings(void *opaque, const bl_item_t *item, bl_task_settings_t *settings) {
        (void)opaque;
        settings->approval_required = item->risk >= approval_threshold;
}

static void fixture_with_approval(fixture_t *fx) {
        bl_backlog_options_t options = default_options();
        options.settings = approval_settings;
        approval_threshold = 0.7;
        fixture_init(fx, &options);
}

static bl_task_event_t operator_event(const char *task_id, bl_event_type_t type, const char *actor,
                                      const char *reason) {
        bl_task_event_t event = producer_event(task_id, type);
        event.actor = actor;
        event.reason = reason;
        return event;
}

static bl_apply_result_t update_risk(fixture_t *fx, const char *task_id, double risk) {
        bl_task_event_t event = producer_event(task_id, BL_EVENT_UPDATED);
        event.has_risk = true;
        event.risk = risk;
        return apply(fx, event);
}

static void test_approval_carries_actor_and_reason(void) {
        fixture_t fx;
        fixture_with_approval(&fx);
        bl_task_event_t risky = submission("t", "d");
        risky.risk = 0.9;
        CHECK_INT(apply(&fx, risky), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_BLOCKED);
        CHECK_STR(last_change(&fx, "t")->reason, "approval");
        mark_t m = mark(&fx);
        CHECK_INT(apply(&fx, operator_event("t", BL_EVENT_APPROVED, "alice", "risk reviewed")), BL_APPLY_CHANGED);
        CHECK_STR(path_since(&fx, m, "t"), "=BLOCKED READY");
        const rec_change_t *note = change_since(&fx, m, "t", 0), *ready = change_since(&fx, m, "t", 1);
        CHECK_STR(note->cause, "APPROVED");
        CHECK_STR(note->reason, "risk reviewed");
        CHECK_STR(note->actor, "alice");
        CHECK_STR(ready->reason, "risk reviewed");
        CHECK_STR(ready->actor, "alice");
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        fixture_done(&fx);
}

/* ---- on_deadline and decision_deadline_ms (SPEC §14) --------------------------------------------- */

static bl_on_deadline_t deadline_policy = BL_ON_DEADLINE_EXPIRE;
static int64_t decision_deadline_ms;

/* The policy of these tests: on_deadline and decision deadline as set, approval above 0.7 risk. */
static void deadline_settings(void *opaque, const bl_item_t *item, bl_task_settings_t *settings) {
        (void)opaque;
        settings->on_deadline = deadline_policy;
        settings->decision_deadline_ms = decision_deadline_ms;
        settings->approval_required = item->risk >= 0.7;
}

/* A task's business value is its score: the tests choose the order. */
static double value_score(void *opaque, const bl_item_t *item, int64_t now_ms) {
        (void)opaque;
        (void)now_ms;
        return item->business_value;
}

static void fixture_with_deadlines(fixture_t *fx, bl_on_deadline_t on_deadline, int64_t decision_ms) {
        bl_backlog_options_t options = default_options();
        options.settings = deadline_settings;
        options.score = value_score;
        options.retry_base_ms = options.retry_cap_ms = 0;
        deadline_policy = on_deadline;
        decision_deadline_ms = decision_ms;
        fixture_init(fx, &options);
}

/* The worker of @p task_id starts and completes @p attempt at once. */
static void run_to_completion(fixture_t *fx, const char *task_id, int32_t attempt) {
        report(fx, task_id, BL_EVENT_STARTED, attempt);
        report(fx, task_id, BL_EVENT_COMPLETED, attempt);
        CHECK_STATE(fx, task_id, BL_STATE_COMPLETED);
}

static void submit_valued(fixture_t *fx, const char *task_id, double value, int64_t deadline_ms) {
        bl_task_event_t event = submission(task_id, "d");
        event.business_value = value;
        if (deadline_ms != BL_NO_TIME) {
                event.has_deadline = true;
                event.deadline_ms = deadline_ms;
        }
        apply(fx, event);
}

static void test_on_deadline_dispatch_late(void) {
        fixture_t fx;
        fixture_with_deadlines(&fx, BL_ON_DEADLINE_DISPATCH_LATE, 0);
        CHECK_STR(bl_on_deadline_name(BL_ON_DEADLINE_DISPATCH_LATE), "dispatch_late");
        CHECK_STR(bl_on_deadline_name(BL_ON_DEADLINE__COUNT), "?");
        submit_valued(&fx, "valuable", 0.9, BL_NO_TIME);
        submit_valued(&fx, "due", 0.1, fx.now + 500);
        CHECK_INT(bl_backlog_next_due(fx.backlog), fx.now + 500);
        mark_t m = mark(&fx);
        advance_by(&fx, 500);
        /* Not expired, no letter, no transition: READY still, and first of its domain now. */
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_STATE(&fx, "due", BL_STATE_READY);
        CHECK_INT(bl_backlog_next_due(fx.backlog), BL_NO_TIME); /* its timer is done */
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 0)->task_id, "due");
        CHECK(dispatch_at(&fx, 0)->late);
        const rec_change_t *out = last_change(&fx, "due");
        CHECK_STR(out->cause, "dispatch");
        CHECK_STR(out->reason, "late");
        CHECK(out->late);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 1)->task_id, "valuable");
        CHECK(!dispatch_at(&fx, 1)->late && !last_change(&fx, "valuable")->late);
        CHECK(!last_change(&fx, "valuable")->has_reason);
        run_to_completion(&fx, "valuable", 1);

        /* A failed attempt past the deadline is retried (late), not expired. */
        report_failure(&fx, "due", 1, true);
        advance_by(&fx, 0);
        CHECK_STATE(&fx, "due", BL_STATE_READY);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK(dispatch_at(&fx, 2)->late);
        run_to_completion(&fx, "due", 2);

        /* Submitted past its deadline: QUEUED, then READY at the next advance, and out late. */
        bl_task_event_t stale = submission("stale", "d");
        stale.occurred_at_ms = fx.now - 5000;
        stale.has_deadline = true;
        stale.deadline_ms = fx.now - 1000;
        m = mark(&fx);
        apply(&fx, stale);
        submit_valued(&fx, "better", 0.9, BL_NO_TIME);
        advance_by(&fx, 0);
        CHECK_STR(path_since(&fx, m, "stale"), "QUEUED READY");
        CHECK_STR(last_change(&fx, "stale")->cause, "deadline");
        CHECK_INT(dead_letters_of(&fx, m, "stale"), 0);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 3)->task_id, "stale");
        CHECK(dispatch_at(&fx, 3)->late);
        run_to_completion(&fx, "stale", 1);

        /* BLOCKED by not_before past the deadline: READY when not_before comes, then out late. */
        bl_task_event_t later = submission("later", "d");
        later.has_deadline = true;
        later.deadline_ms = fx.now + 100;
        later.has_not_before = true;
        later.not_before_ms = fx.now + 1000;
        apply(&fx, later);
        advance_by(&fx, 100);
        CHECK_STATE(&fx, "later", BL_STATE_BLOCKED);
        advance_by(&fx, 900);
        CHECK_STATE(&fx, "later", BL_STATE_READY);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 4)->task_id, "later");
        CHECK(dispatch_at(&fx, 4)->late);
        fixture_done(&fx);
}

static void test_on_deadline_escalate(void) {
        fixture_t fx;
        fixture_with_deadlines(&fx, BL_ON_DEADLINE_ESCALATE, 0);
        submit_valued(&fx, "valuable", 0.9, BL_NO_TIME);
        submit_valued(&fx, "due", 0.1, fx.now + 500);
        mark_t m = mark(&fx);
        advance_by(&fx, 500);
        /* The escalation record: BLOCKED, cause deadline, reason "escalated: ...", no letter. */
        CHECK_STR(path_since(&fx, m, "due"), "BLOCKED");
        const rec_change_t *escalation = last_change(&fx, "due");
        CHECK_STR(escalation->cause, "deadline");
        CHECK(!strncmp(escalation->reason, "escalated: ", 11));
        CHECK_CONTAINS(escalation->reason, "passed in READY");
        CHECK_CONTAINS(escalation->reason, "awaiting approval");
        CHECK_INT(dead_letters_of(&fx, m, "due"), 0);
        CHECK(get(&fx, "due")->approval_required && !get(&fx, "due")->approved);
        /* It waits: not dispatched, no timer that would escalate it again. */
        CHECK_INT(bl_backlog_next_due(fx.backlog), BL_NO_TIME);
        m = mark(&fx);
        advance_by(&fx, 10000);
        CHECK_INT(emitted_since(&fx, m), 0);
        /* Approved: READY, and out first, marked late. */
        submit_valued(&fx, "better", 1.0, BL_NO_TIME);
        CHECK_INT(apply(&fx, operator_event("due", BL_EVENT_APPROVED, "alice", "run it late")), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "due", BL_STATE_READY);
        advance_by(&fx, 0);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 0)->task_id, "due");
        CHECK(dispatch_at(&fx, 0)->late);
        CHECK_STR(last_change(&fx, "due")->reason, "late");

        /*
         * Regression: an escalated task keeps waiting for its approval when the policy is asked again
         * (a new policy, an UPDATED risk), though its risk alone needs none.
         */
        submit_valued(&fx, "escalated", 0.1, fx.now + 100);
        advance_by(&fx, 100);
        CHECK_STATE(&fx, "escalated", BL_STATE_BLOCKED);
        CHECK_INT(bl_backlog_reevaluate_approvals(fx.backlog, fx.now), 0);
        update_risk(&fx, "escalated", 0.2);
        CHECK_STATE(&fx, "escalated", BL_STATE_BLOCKED);
        CHECK(get(&fx, "escalated")->approval_required);
        /* A deadline moved ahead ends the escalation: nothing to approve any more. */
        bl_task_event_t later = producer_event("escalated", BL_EVENT_UPDATED);
        later.has_deadline = true;
        later.deadline_ms = fx.now + 60000;
        later.has_risk = true;
        later.risk = 0.2;
        apply(&fx, later);
        CHECK_STATE(&fx, "escalated", BL_STATE_READY);

        /* A task awaiting approval for its risk already is not escalated again: it keeps waiting. */
        bl_task_event_t risky = submission("risky", "d");
        risky.risk = 0.9;
        risky.has_deadline = true;
        risky.deadline_ms = fx.now + 100;
        apply(&fx, risky);
        CHECK_STATE(&fx, "risky", BL_STATE_BLOCKED);
        m = mark(&fx);
        advance_by(&fx, 200);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_STATE(&fx, "risky", BL_STATE_BLOCKED);

        /* A RETRY_WAIT past its deadline is escalated from there. */
        fixture_done(&fx);
        fixture_with_deadlines(&fx, BL_ON_DEADLINE_ESCALATE, 0);
        submit_valued(&fx, "retrying", 0.5, fx.now + 500);
        dispatch(&fx, "d", 1);
        report_failure(&fx, "retrying", 1, true);
        m = mark(&fx);
        advance_by(&fx, 500);
        CHECK_STR(path_since(&fx, m, "retrying"), "BLOCKED"); /* the deadline first, the retry after approval */
        CHECK_STR(last_change(&fx, "retrying")->cause, "deadline");
        CHECK_CONTAINS(last_change(&fx, "retrying")->reason, "passed in RETRY_WAIT");
        fixture_done(&fx);
}

static void test_decision_deadline(void) {
        fixture_t fx;
        fixture_with_deadlines(&fx, BL_ON_DEADLINE_EXPIRE, 1000);
        submit_valued(&fx, "low", 0.1, BL_NO_TIME);
        CHECK_INT(bl_backlog_next_due(fx.backlog), fx.now + 1000);
        /* Better tasks keep coming: by score, "low" would wait for ever. */
        for (int i = 0; i < 5; i++) {
                char id[16];
                snprintf(id, sizeof(id), "high-%d", i);
                submit_valued(&fx, id, 0.9, BL_NO_TIME);
                advance_by(&fx, 150);
                CHECK_INT(dispatch(&fx, "d", 1), 1);
                CHECK(!strncmp(dispatch_at(&fx, (size_t)i)->task_id, "high-", 5));
        }
        submit_valued(&fx, "high-5", 0.9, BL_NO_TIME);
        advance_to(&fx, T0 + 1000);
        /* READY 1000 ms: dispatched before any better task, one within the credit given. */
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 5)->task_id, "low");
        CHECK(!dispatch_at(&fx, 5)->late);
        CHECK_STR(last_change(&fx, "low")->reason, "decision_deadline");
        CHECK_STATE(&fx, "high-5", BL_STATE_READY);
        /* The overdue mark goes with the READY state: back from a failure, it waits its turn again. */
        report_failure(&fx, "low", 1, true);
        advance_by(&fx, 0);
        CHECK_STATE(&fx, "low", BL_STATE_READY);
        CHECK(!get(&fx, "low")->overdue);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_STR(dispatch_at(&fx, 6)->task_id, "high-5");
        fixture_done(&fx);
}

/* Each transition says since when the task was in the state it leaves: the capacity estimate's input. */
static void test_transition_says_since_when(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        submit(&fx, "t", "d");
        CHECK_INT(last_change(&fx, "t")->from_since_ms, T0); /* QUEUED -> READY at once */
        advance_by(&fx, 100);
        dispatch(&fx, "d", 1);
        CHECK_INT(last_change(&fx, "t")->from_since_ms, T0); /* READY since T0 */
        advance_by(&fx, 40);
        report(&fx, "t", BL_EVENT_STARTED, 1);
        CHECK_INT(last_change(&fx, "t")->from_since_ms, T0 + 100); /* the pickup: 40 ms */
        advance_by(&fx, 200);
        report(&fx, "t", BL_EVENT_HEARTBEAT, 1);
        advance_by(&fx, 300);
        report(&fx, "t", BL_EVENT_COMPLETED, 1);
        CHECK_INT(last_change(&fx, "t")->from_since_ms, T0 + 140); /* the runtime: 500 ms, heartbeats apart */
        fixture_done(&fx);
}

static void test_rejection_cancels_with_the_reason(void) {
        const bl_state_t states[] = {BL_STATE_BLOCKED, BL_STATE_READY, BL_STATE_DISPATCHED};
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                fixture_t fx;
                fixture_init(&fx, NULL);
                CHECK(make_in_state(&fx, "t", states[i]));
                mark_t m = mark(&fx);
                CHECK_INT(apply(&fx, operator_event("t", BL_EVENT_REJECTED, "bob", "too risky")), BL_APPLY_CHANGED);
                CHECK_STR(path_since(&fx, m, "t"), "CANCELLED");
                const rec_change_t *change = last_change(&fx, "t");
                CHECK_INT(change->from, states[i]);
                CHECK_STR(change->cause, "REJECTED");
                CHECK_STR(change->reason, "too risky");
                CHECK_STR(change->actor, "bob");
                CHECK_INT(dead_letters_of(&fx, m, "t"), 0);
                CHECK_INT(apply(&fx, operator_event("t", BL_EVENT_REJECTED, "bob", "again")), BL_APPLY_ILLEGAL);
                CHECK_STR(fx.detail, "REJECTED for task t in CANCELLED");
                fixture_done(&fx);
        }
        fixture_t fx;
        fixture_init(&fx, NULL);
        CHECK_INT(apply(&fx, operator_event("nobody", BL_EVENT_REJECTED, "bob", "x")), BL_APPLY_ILLEGAL);
        fixture_done(&fx);
}

static void test_cancel_says_who_and_why(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        CHECK(make_in_state(&fx, "t", BL_STATE_RUNNING));
        CHECK_INT(apply(&fx, operator_event("t", BL_EVENT_CANCELLED, "carol", NULL)), BL_APPLY_CHANGED);
        CHECK(!last_change(&fx, "t")->has_reason);
        CHECK_STR(last_change(&fx, "t")->actor, "carol");
        CHECK(make_in_state(&fx, "u", BL_STATE_READY));
        CHECK_INT(apply(&fx, operator_event("u", BL_EVENT_CANCELLED, NULL, "superseded")), BL_APPLY_CHANGED);
        CHECK_STR(last_change(&fx, "u")->reason, "superseded");
        CHECK(!last_change(&fx, "u")->has_actor);
        CHECK(make_in_state(&fx, "v", BL_STATE_READY));
        CHECK_INT(send(&fx, "v", BL_EVENT_CANCELLED), BL_APPLY_CHANGED);
        CHECK(!last_change(&fx, "v")->has_reason);
        CHECK(!last_change(&fx, "v")->has_actor);
        fixture_done(&fx);
}

/* SPEC §15: a task cancelled while a worker holds it tells that worker, on its dispatch topic; no other does. */
static void test_cancel_of_held_task_notifies_its_worker(void) {
        const bl_state_t held[] = {BL_STATE_DISPATCHED, BL_STATE_RUNNING};
        const bl_event_type_t how[] = {BL_EVENT_CANCELLED, BL_EVENT_REJECTED};
        for (size_t i = 0; i < 2; i++) {
                fixture_t fx;
                fixture_init(&fx, NULL);
                CHECK(make_in_state(&fx, "t", held[i]));
                const rec_dispatch_t *sent = dispatch_at(&fx, fx.rec.dispatch_count - 1);
                char sent_id[ID_MAX];
                int32_t sent_attempt = sent->attempt;
                copy_text(sent_id, sizeof(sent_id), sent->dispatch_id);
                mark_t m = mark(&fx);
                CHECK_INT(apply(&fx, operator_event("t", how[i], "carol", "superseded")), BL_APPLY_CHANGED);
                CHECK_INT(fx.rec.dispatch_count - m.dispatches, 1);
                const rec_dispatch_t *notice = dispatch_at(&fx, m.dispatches);
                CHECK(notice->cancel);
                CHECK_STR(notice->task_id, "t");
                CHECK_STR(notice->dispatch_id, sent_id);
                CHECK_INT(notice->attempt, sent_attempt);
                CHECK_STR(notice->domain, "t");
                CHECK_STR(notice->actor, "carol");
                CHECK_STR(notice->cancel_reason, "superseded");
                CHECK_STR(notice->policy, "operator");
                CHECK_STR(notice->policy_version, bl_event_type_name(how[i]));
                CHECK_INT(notice->decided_at_ms, fx.now);
                CHECK_STATE(&fx, "t", BL_STATE_CANCELLED);
                fixture_done(&fx);
        }
        const bl_state_t not_held[] = {BL_STATE_BLOCKED, BL_STATE_READY, BL_STATE_RETRY_WAIT};
        for (size_t i = 0; i < 3; i++) {
                fixture_t fx;
                fixture_init(&fx, NULL);
                CHECK(make_in_state(&fx, "t", not_held[i]));
                mark_t m = mark(&fx);
                CHECK_INT(apply(&fx, operator_event("t", BL_EVENT_CANCELLED, "carol", NULL)), BL_APPLY_CHANGED);
                CHECK_INT(fx.rec.dispatch_count - m.dispatches, 0);
                CHECK_STATE(&fx, "t", BL_STATE_CANCELLED);
                fixture_done(&fx);
        }
}

static void test_update_raising_risk_asks_for_approval(void) {
        fixture_t fx;
        fixture_with_approval(&fx);
        CHECK_INT(submit(&fx, "t", "d"), BL_APPLY_CHANGED); /* risk 0.1 */
        CHECK_STATE(&fx, "t", BL_STATE_READY);
        mark_t m = mark(&fx);
        CHECK_INT(update_risk(&fx, "t", 0.5), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_READY); /* below the threshold: a note, nothing more */
        CHECK_INT(update_risk(&fx, "t", 0.7), BL_APPLY_CHANGED); /* at it: BLOCKED awaiting approval */
        CHECK_STR(path_since(&fx, m, "t"), "=READY =READY BLOCKED");
        CHECK_STR(last_change(&fx, "t")->cause, "UPDATED");
        CHECK_STR(last_change(&fx, "t")->reason, "approval");
        CHECK(!bl_backlog_is_ready_queued(fx.backlog, get(&fx, "t")));
        CHECK_INT(dispatch(&fx, "d", 10), 0);
        CHECK_INT(send(&fx, "t", BL_EVENT_APPROVED), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_READY);
        /* approved at 0.7: a rise to 0.95 voids that approval, a fall keeps it */
        CHECK_INT(update_risk(&fx, "t", 0.95), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_BLOCKED);
        CHECK_INT(send(&fx, "t", BL_EVENT_APPROVED), BL_APPLY_CHANGED);
        CHECK_INT(update_risk(&fx, "t", 0.8), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_READY);
        CHECK_INT(dispatch(&fx, "d", 10), 1);
        /* a DISPATCHED task's risk rises: it is past the gate, nothing moves */
        CHECK_INT(update_risk(&fx, "t", 1.0), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_DISPATCHED);
        fixture_done(&fx);
}

static void test_new_policy_reevaluates_approval(void) {
        fixture_t fx;
        fixture_with_approval(&fx);
        bl_task_event_t medium = submission("ready", "d");
        medium.risk = 0.5;
        CHECK_INT(apply(&fx, medium), BL_APPLY_CHANGED);
        medium.task_id = "approved";
        CHECK_INT(apply(&fx, medium), BL_APPLY_CHANGED);
        CHECK_INT(send(&fx, "approved", BL_EVENT_APPROVED), BL_APPLY_CHANGED); /* approved before it was asked */
        CHECK_INT(submit(&fx, "low", "d"), BL_APPLY_CHANGED);                /* risk 0.1 */
        CHECK(make_in_state(&fx, "running", BL_STATE_RUNNING));
        approval_threshold = 0.5; /* the new policy */
        mark_t m = mark(&fx);
        CHECK_INT(bl_backlog_reevaluate_approvals(fx.backlog, fx.now), 1);
        CHECK_STR(path_since(&fx, m, "ready"), "BLOCKED");
        CHECK_STR(last_change(&fx, "ready")->cause, "policy");
        CHECK_STR(last_change(&fx, "ready")->reason, "approval");
        CHECK_STATE(&fx, "approved", BL_STATE_READY);
        CHECK_STATE(&fx, "low", BL_STATE_READY);
        CHECK_STATE(&fx, "running", BL_STATE_RUNNING);
        CHECK_INT(emitted_since(&fx, m), 1);
        CHECK_INT(bl_backlog_reevaluate_approvals(fx.backlog, fx.now), 0); /* the same policy again: nothing */
        approval_threshold = 2.0; /* a policy that asks for none lets the waiting one go */
        CHECK_INT(bl_backlog_reevaluate_approvals(fx.backlog, fx.now), 0);
        CHECK_STATE(&fx, "ready", BL_STATE_READY);
        fixture_done(&fx);
}

static void test_dispatch_checks_approval_under_the_policy_in_force(void) {
        fixture_t fx;
        fixture_with_approval(&fx);
        bl_task_event_t medium = submission("t", "d");
        medium.risk = 0.5;
        CHECK_INT(apply(&fx, medium), BL_APPLY_CHANGED);
        CHECK_INT(submit(&fx, "low", "d"), BL_APPLY_CHANGED);
        approval_threshold = 0.5; /* a new policy nobody re-evaluated the backlog for (a batch rolled back) */
        mark_t m = mark(&fx);
        CHECK_INT(dispatch(&fx, "d", 10), 1);
        CHECK_STR(path_since(&fx, m, "t"), "BLOCKED");
        CHECK_STR(last_change(&fx, "t")->cause, "policy");
        CHECK_STATE(&fx, "low", BL_STATE_DISPATCHED);
        CHECK_INT(send(&fx, "t", BL_EVENT_APPROVED), BL_APPLY_CHANGED);
        CHECK_INT(dispatch(&fx, "d", 10), 1);
        CHECK_STATE(&fx, "t", BL_STATE_DISPATCHED);
        fixture_done(&fx);
}

/* ---- 11. retention ------------------------------------------------------------------------ */

static void test_retention(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        fx.partition = 7;
        submit(&fx, "done", "done");
        dispatch(&fx, "done", 1);
        report(&fx, "done", BL_EVENT_COMPLETED, 1);
        int64_t ended = fx.now;
        submit_with_deadline(&fx, "expired", fx.now + 10, BL_NO_TIME, NULL);
        advance_by(&fx, 10);
        CHECK_STATE(&fx, "expired", BL_STATE_EXPIRED);
        submit(&fx, "live", "live");
        CHECK_INT(bl_backlog_size(fx.backlog), 3);

        /* a stale result on a terminal task does not extend its stay */
        advance_to(&fx, ended + 30000);
        report(&fx, "done", BL_EVENT_COMPLETED, 1);
        CHECK_INT(advance_to(&fx, ended + 59999), 0);
        CHECK(find(&fx, "done") != NULL);
        CHECK_INT(fx.rec.purge_count, 0);
        advance_to(&fx, ended + 60000);
        CHECK_INT(fx.rec.purge_count, 1);
        CHECK_STR(purge_at(&fx, 0)->task_id, "done");
        CHECK_INT(purge_at(&fx, 0)->partition, 7);
        CHECK(find(&fx, "done") == NULL);
        CHECK(find(&fx, "expired") != NULL);
        advance_to(&fx, ended + 60010);
        CHECK_INT(fx.rec.purge_count, 2);
        CHECK(find(&fx, "expired") == NULL);
        CHECK(find(&fx, "live") != NULL); /* never purged while not terminal */
        CHECK_INT(bl_backlog_size(fx.backlog), 1);
        /* once purged, the id is unknown */
        CHECK_INT(report(&fx, "done", BL_EVENT_STARTED, 1), BL_APPLY_ILLEGAL);
        CHECK_STR(fx.detail, "STARTED for unknown task done");
        fixture_done(&fx);
}


/* ---- 11b. durations at their extremes, forgotten tasks, memory held ------------------------- */

/* The sum of every item's bytes, for bl_backlog_memory_bytes to agree with. */
static void add_item_bytes(const bl_item_t *item, void *opaque) {
        size_t *sum = opaque;
        *sum += bl_item_held_bytes(item);
        CHECK_INT(item->held_bytes, bl_item_held_bytes(item)); /* counted again after its every change */
}

static size_t items_bytes(const fixture_t *fx) {
        size_t sum = 0;
        bl_backlog_foreach(fx->backlog, add_item_bytes, &sum);
        return sum;
}

/* What the backlog holds besides its items: index, heap, scheduler arrays. */
static size_t overhead_bytes(const fixture_t *fx) {
        return bl_backlog_memory_bytes(fx->backlog) - items_bytes(fx);
}

/*
 * Issue #12 item 5: retention_ms = INT64_MAX overflowed terminal_at + retention
 * into the past, so a task was purged at once and a producer's retry of its
 * SUBMITTED was dispatched again as attempt 1. At its maximum a terminal task
 * is never purged.
 */
static void test_retention_at_its_maximum_never_purges(void) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        options.retention_ms = INT64_MAX;
        fixture_init(&fx, &options);
        bl_task_event_t event = submission("t", "t");
        event.event_id = "submit-t";
        CHECK_INT(apply(&fx, event), BL_APPLY_CHANGED);
        dispatch(&fx, "t", 1);
        report(&fx, "t", BL_EVENT_COMPLETED, 1);
        CHECK_INT(bl_backlog_next_due(fx.backlog), INT64_MAX);
        CHECK_INT(advance_by(&fx, 1), 0);
        CHECK_INT(advance_to(&fx, INT64_MAX - 1), 0);
        CHECK_INT(fx.rec.purge_count, 0);
        CHECK_STATE(&fx, "t", BL_STATE_COMPLETED);
        /* the producer's retry: the same event is a duplicate, a new event for the same id illegal */
        mark_t m = mark(&fx);
        event.occurred_at_ms = T0;
        CHECK_INT(apply(&fx, event), BL_APPLY_DUPLICATE);
        event.event_id = "submit-t-again";
        CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL);
        CHECK_INT(dispatch(&fx, NULL, 10), 0);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(fx.rec.dispatch_count, 1);
        fixture_done(&fx);
}

/*
 * Retention 0: a terminal task is purged at the next timer turn, and its
 * SUBMITTED coming again is refused (the forget horizon), not dispatched
 * again as attempt 1; a submission stamped after the horizon is a new task.
 */
static void test_retention_zero_purges_at_once_and_refuses_the_old_submission(void) {
        fixture_t fx;
        bl_backlog_options_t options = default_options();
        options.retention_ms = 0;
        fixture_init(&fx, &options);
        bl_task_event_t event = submission("t", "t");
        event.event_id = "submit-t";
        event.occurred_at_ms = fx.now;
        apply(&fx, event);
        advance_by(&fx, 5);
        dispatch(&fx, "t", 1);
        advance_by(&fx, 5);
        report(&fx, "t", BL_EVENT_COMPLETED, 1);
        int64_t ended = fx.now;
        CHECK_INT(bl_backlog_next_due(fx.backlog), ended);
        CHECK_INT(bl_backlog_forgotten_through(fx.backlog), BL_NO_TIME);
        advance_by(&fx, 0);
        CHECK_INT(fx.rec.purge_count, 1);
        CHECK(find(&fx, "t") == NULL);
        CHECK_INT(bl_backlog_forgotten_through(fx.backlog), ended);

        advance_by(&fx, 1000);
        mark_t m = mark(&fx);
        CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL);
        CHECK_STR(fx.detail, "SUBMITTED for task t occurred at 1700000000000, not after 1700000000010, up to "
                             "which ended tasks have been forgotten (backlog.retention_ms 0): it may be a task "
                             "that ran already; a new task needs a new occurred_at");
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK(find(&fx, "t") == NULL);
        /* stamped at the horizon itself: refused too; after it: a new task */
        event.event_id = "submit-t-at-end";
        event.occurred_at_ms = ended;
        CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL);
        event.event_id = "submit-t-new";
        event.occurred_at_ms = ended + 1;
        CHECK_INT(apply(&fx, event), BL_APPLY_CHANGED);
        CHECK_STATE(&fx, "t", BL_STATE_READY);
        fixture_done(&fx);
}

/*
 * The rule holds across a restart: the backlog that restores backlog.state
 * (where purged tasks are tombstones, so gone) puts its horizon at now -
 * retention, past every task purged before.
 */
static void test_forgotten_tasks_stay_refused_after_a_restart(void) {
        fixture_t fx;
        fixture_init(&fx, NULL); /* retention 60 s */
        bl_task_event_t event = submission("t", "t");
        event.event_id = "submit-t";
        event.occurred_at_ms = fx.now;
        apply(&fx, event);
        dispatch(&fx, "t", 1);
        report(&fx, "t", BL_EVENT_COMPLETED, 1);
        advance_by(&fx, 60000);
        CHECK_INT(fx.rec.purge_count, 1);
        int64_t later = fx.now + 5000;
        fixture_done(&fx);

        fixture_init(&fx, NULL); /* the restarted instance: nothing of t left */
        fx.now = later;
        CHECK_INT(bl_backlog_forgotten_through(fx.backlog), BL_NO_TIME);
        bl_backlog_restore_finish(fx.backlog, fx.now);
        CHECK_INT(bl_backlog_forgotten_through(fx.backlog), later - 60000);
        CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL);
        CHECK_CONTAINS(fx.detail, "SUBMITTED for task t occurred at 1700000000000");
        CHECK_INT(fx.rec.dispatch_count, 0);
        /* a submission within the window is a new task */
        event.event_id = "submit-u";
        event.task_id = "u";
        event.occurred_at_ms = later - 59999;
        CHECK_INT(apply(&fx, event), BL_APPLY_CHANGED);
        fixture_done(&fx);

        /* at its maximum the retention reaches back before 1970: a restore forgets nothing */
        bl_backlog_options_t options = default_options();
        options.retention_ms = INT64_MAX;
        fixture_init(&fx, &options);
        bl_backlog_restore_finish(fx.backlog, fx.now);
        CHECK_INT(bl_backlog_forgotten_through(fx.backlog), BL_NO_TIME);
        fixture_done(&fx);
}

/*
 * A producer whose clock runs ahead: the task ends (by our clock) before its
 * own occurred_at. Its retention counts from the later of the two, so the
 * redelivered SUBMITTED is still refused after the purge.
 */
static void test_retention_counts_from_a_submission_stamped_ahead(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        bl_task_event_t event = submission("t", "t");
        event.event_id = "submit-t";
        event.occurred_at_ms = fx.now + 30000; /* 30 s ahead of us */
        apply(&fx, event);
        dispatch(&fx, "t", 1);
        report(&fx, "t", BL_EVENT_COMPLETED, 1);
        CHECK_INT(bl_backlog_next_due(fx.backlog), T0 + 30000 + 60000);
        CHECK_INT(advance_by(&fx, 60000), 0);
        CHECK_INT(advance_to(&fx, T0 + 90000), 1);
        CHECK_INT(fx.rec.purge_count, 1);
        CHECK_INT(apply(&fx, event), BL_APPLY_ILLEGAL);
        CHECK_INT(fx.rec.dispatch_count, 1);
        fixture_done(&fx);
}

/* A lease at its maximum never expires; at backlog.lease_ms's documented bounds it expires on time. */
static void test_lease_at_its_extremes(void) {
        static const int64_t leases[] = {1000, 86400000, INT64_MAX};
        for (size_t i = 0; i < sizeof(leases) / sizeof(leases[0]); i++) {
                fixture_t fx;
                bl_backlog_options_t options = default_options();
                options.lease_ms = leases[i];
                fixture_init(&fx, &options);
                submit(&fx, "t", "t");
                dispatch(&fx, "t", 1);
                int64_t due = get(&fx, "t")->lease_expires_at_ms;
                CHECK_INT(due, leases[i] == INT64_MAX ? INT64_MAX : T0 + leases[i]);
                report(&fx, "t", BL_EVENT_HEARTBEAT, 1); /* renewed at the same instant: the same sum */
                CHECK_INT(get(&fx, "t")->lease_expires_at_ms, due);
                advance_to(&fx, due - 1);
                CHECK_STATE(&fx, "t", BL_STATE_RUNNING);
                if (leases[i] != INT64_MAX) {
                        advance_to(&fx, due);
                        CHECK_STATE(&fx, "t", BL_STATE_RETRY_WAIT);
                }
                fixture_done(&fx);
        }
}

/* Retry back-off with base and cap at 0, at their documented maximum, and at INT64_MAX: no overflow. */
static void test_retry_backoff_at_its_extremes(void) {
        static const int64_t bounds[] = {0, 86400000, INT64_MAX};
        for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
                fixture_t fx;
                bl_backlog_options_t options = default_options();
                options.retry_base_ms = options.retry_cap_ms = bounds[i];
                options.max_attempts = 1000;
                fixture_init(&fx, &options);
                submit(&fx, "t", "t");
                for (int32_t attempt = 1; attempt <= 70; attempt++) {
                        dispatch(&fx, "t", 1);
                        CHECK_INT(get(&fx, "t")->attempt, attempt);
                        report_failure(&fx, "t", attempt, true);
                        int64_t retry_at = get(&fx, "t")->retry_at_ms;
                        CHECK(retry_at >= fx.now);
                        CHECK(bounds[i] == INT64_MAX || retry_at <= fx.now + bounds[i]);
                        if (retry_at == INT64_MAX) {
                                CHECK_INT(bl_backlog_next_due(fx.backlog), INT64_MAX);
                                break; /* waits for ever, as asked */
                        }
                        advance_to(&fx, retry_at);
                        CHECK_STATE(&fx, "t", BL_STATE_READY);
                }
                fixture_done(&fx);
        }
}

/* A rescore interval of 0 (only on READY) and at INT64_MAX: time far ahead does not overflow the check. */
static void test_rescore_interval_at_its_extremes(void) {
        static const int64_t intervals[] = {0, 3600000, INT64_MAX};
        for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
                fixture_t fx;
                bl_backlog_options_t options = default_options();
                options.rescore_interval_ms = intervals[i];
                fixture_init(&fx, &options);
                submit(&fx, "a", "d");
                submit(&fx, "b", "d");
                advance_to(&fx, INT64_MAX - 1);
                CHECK_INT(dispatch(&fx, "d", 1), 1);
                CHECK_STR(dispatch_at(&fx, 0)->task_id, "a"); /* FIFO still */
                fixture_done(&fx);
        }
}

/*
 * Issue #12 item 12: a terminal task keeps only what de-duplication needs.
 * The snapshot handed over at the end and the dead letter still carry the
 * whole task; afterwards the item holds no payload, labels, dependencies or
 * trace context, and a repeated event is still a duplicate.
 */
static void test_terminal_tasks_keep_only_what_dedup_needs(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        static const char payload[] = "{\"input\": \"s3://bucket/key\"}";
        const char *keys[] = {"team", "env"}, *values[] = {"ml", "prod"};
        bl_event_origin_t origin = {"tasks.events", 0, 1,
                                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
        bl_task_event_t event = submission("done", "d");
        event.has_payload = true;
        event.payload = payload;
        event.payload_size = sizeof(payload) - 1;
        event.label_keys = keys;
        event.label_values = values;
        event.label_count = 2;
        apply_from(&fx, event, &origin);
        advance_by(&fx, 1); /* READY first: dispatched first */
        submit(&fx, "dep", "d");
        const char *deps[] = {"dep"};
        bl_task_event_t dependent = event;
        dependent.task_id = "dies";
        dependent.depends_on = deps;
        dependent.depends_on_count = 1;
        apply_from(&fx, dependent, &origin);
        size_t baseline = items_bytes(&fx);
        CHECK_INT(bl_backlog_memory_bytes(fx.backlog), baseline + overhead_bytes(&fx));

        dispatch(&fx, "d", 1); /* done */
        bl_task_event_t completed = result_event("done", BL_EVENT_COMPLETED, 1);
        completed.event_id = "done-completed";
        size_t before = bl_item_held_bytes(get(&fx, "done"));
        CHECK_INT(apply(&fx, completed), BL_APPLY_CHANGED);
        const rec_change_t *end = last_change(&fx, "done");
        CHECK_INT(end->to, BL_STATE_COMPLETED);
        CHECK(end->has_payload && end->labels == 2 && end->has_traceparent); /* the snapshot written whole */
        const bl_item_t *item = get(&fx, "done");
        CHECK(!item->has_payload && item->payload == NULL);
        CHECK_INT(bl_item_cold(item)->labels.count, 0);
        CHECK(bl_item_cold(item)->traceparent == NULL);
        CHECK(item->cold == NULL); /* nothing cold left: the allocation went too */
        CHECK(bl_item_held_bytes(item) < before);
        CHECK(bl_item_event_seen(item, "done-completed"));
        CHECK_INT(apply(&fx, completed), BL_APPLY_DUPLICATE);

        /* DEAD through its dependency: the letter is built from the whole task, then it is trimmed */
        send(&fx, "dep", BL_EVENT_CANCELLED);
        bl_notice_t outcome = {true, "dies", "dep", BL_STATE_CANCELLED, fx.now};
        bl_backlog_apply_notice(fx.backlog, &outcome, 0, fx.now);
        CHECK_STATE(&fx, "dies", BL_STATE_DEAD);
        const rec_dead_t *letter = last_dead_letter(&fx, "dies");
        CHECK(letter->has_payload);
        CHECK_INT(letter->labels, 2);
        CHECK(last_change(&fx, "dies")->depends_on == 1);
        item = get(&fx, "dies");
        CHECK(!item->has_payload && bl_item_cold(item)->depends_on.count == 0);
        CHECK_STR(bl_item_cold(item)->error_code, "dependency_failed"); /* why it died stays */

        /* a stale result on the trimmed task is still recorded, its snapshot now without payload */
        CHECK_INT(report(&fx, "done", BL_EVENT_HEARTBEAT, 7), BL_APPLY_STALE);
        CHECK(!last_change(&fx, "done")->has_payload);

        /* the accounting follows every change, and returns to nothing when everything is purged */
        CHECK(items_bytes(&fx) < baseline);
        CHECK_INT(bl_backlog_memory_bytes(fx.backlog), items_bytes(&fx) + overhead_bytes(&fx));
        advance_by(&fx, 60000);
        CHECK_INT(bl_backlog_size(fx.backlog), 0);
        CHECK_INT(items_bytes(&fx), 0);
        CHECK_INT(bl_backlog_memory_bytes(fx.backlog), overhead_bytes(&fx));
        CHECK(overhead_bytes(&fx) > 0); /* the index, at least */
        fixture_done(&fx);
}

/* A terminal snapshot read back whole on restore is trimmed too; the accounting counts it and its removal. */
static void test_restore_trims_terminal_tasks(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        size_t empty = bl_backlog_memory_bytes(fx.backlog);
        bl_item_t *item = bl_item_new_of_kind("old", 0, "infer", "d", NULL, "standard");
        item->payload = malloc(64);
        memset(item->payload, 'x', 64);
        item->payload_size = 64;
        item->has_payload = true;
        bl_strvec_push(&bl_item_cold_for_write(item)->depends_on, "x");
        bl_item_replace_text(&bl_item_cold_for_write(item)->traceparent, "00-aa-bb-01");
        bl_item_remember_event(item, "e1", 8);
        item->state = BL_STATE_COMPLETED;
        item->terminal_at_ms = item->state_since_ms = fx.now;
        item->submitted_at_ms = fx.now - 10;
        bl_item_t *live = bl_item_new_of_kind("live", 0, "infer", "d", NULL, "standard");
        live->payload = malloc(64);
        live->payload_size = 64;
        live->has_payload = true;
        live->state = BL_STATE_READY;
        live->ready_since_ms = live->state_since_ms = fx.now;
        bl_backlog_restore(fx.backlog, item);
        bl_backlog_restore(fx.backlog, live);
        bl_backlog_restore_finish(fx.backlog, fx.now);
        const bl_item_t *old = get(&fx, "old");
        CHECK(!old->has_payload && old->cold == NULL);
        CHECK(bl_item_event_seen(old, "e1"));
        CHECK(get(&fx, "live")->has_payload); /* only terminal tasks are trimmed */
        CHECK_INT(bl_backlog_memory_bytes(fx.backlog), items_bytes(&fx) + overhead_bytes(&fx));
        CHECK(bl_backlog_memory_bytes(fx.backlog) > empty);
        bl_backlog_forget(fx.backlog, "old");
        bl_backlog_drop_partition(fx.backlog, 0);
        CHECK_INT(items_bytes(&fx), 0);
        CHECK_INT(bl_backlog_memory_bytes(fx.backlog), overhead_bytes(&fx));
        fixture_done(&fx);
}

/* ---- 12. restore -------------------------------------------------------------------------- */

static char *dup_text(const char *text) {
        return text ? strdup(text) : NULL;
}

static void copy_vec(bl_strvec_t *to, const bl_strvec_t *from) {
        memset(to, 0, sizeof(*to));
        for (size_t i = 0; i < from->count; i++)
                bl_strvec_push(to, from->items[i]);
}

/* A deep copy of a snapshot, as restore would read it back from backlog.state. */
static bl_item_t *copy_item(const bl_item_t *from) {
        bl_item_t *copy = bl_item_new(from->task_id, from->partition);
        if (!copy)
                exit(2);
        bl_kind_release(copy->kind);
        *copy = *from;
        copy->task_id = strcpy(copy->task_id_storage, from->task_id);
        copy->kind = bl_kind_hold(from->kind);
        copy->payload = NULL;
        if (from->has_payload) {
                copy->payload = malloc(from->payload_size ? from->payload_size : 1);
                if (!copy->payload)
                        exit(2);
                memcpy(copy->payload, from->payload, from->payload_size);
        }
        copy->recent_event_ids = NULL;
        copy->recent_event_count = 0;
        for (const char *id = bl_item_event_next(from, NULL); id; id = bl_item_event_next(from, id))
                bl_item_remember_event(copy, id, UINT16_MAX);
        copy->cold = NULL;
        if (from->cold) {
                bl_item_cold_t *cold = bl_item_cold_for_write(copy);
                cold->traceparent = dup_text(from->cold->traceparent);
                cold->has_last_error = from->cold->has_last_error;
                cold->error_code = dup_text(from->cold->error_code);
                cold->error_message = dup_text(from->cold->error_message);
                cold->error_retryable = from->cold->error_retryable;
                copy_vec(&cold->depends_on, &from->cold->depends_on);
                copy_vec(&cold->pending_deps, &from->cold->pending_deps);
                copy_vec(&cold->dependents, &from->cold->dependents);
                const char *keys[8], *values[8];
                size_t labels = 0;
                for (const char *key = bl_labels_next(&from->cold->labels, NULL, &values[0]); key && labels < 8;
                     key = bl_labels_next(&from->cold->labels, key, &values[labels]))
                        keys[labels++] = key;
                bl_labels_set(&cold->labels, keys, values, labels);
        }
        copy->timer_slot = BL_ITEM_NO_SLOT;
        copy->timer_due_ms = BL_NO_TIME;
        copy->sched_slot = BL_ITEM_NO_SLOT;
        return copy;
}

/* What bl_backlog_foreach showed of one task: the fields the per-second walks read. */
typedef struct walked_s {
        char task_id[ID_MAX];
        const char *domain;
        bl_state_t state;
        int64_t state_since_ms, ready_since_ms;
        bool placeholder, waits_for_approval;
} walked_t;

typedef struct walk_s {
        walked_t items[32];
        size_t count;
} walk_t;

static void walk_one(const bl_item_t *item, void *opaque) {
        walk_t *walk = opaque;
        if (walk->count == 32)
                return;
        walked_t *w = &walk->items[walk->count++];
        copy_text(w->task_id, sizeof(w->task_id), item->task_id);
        w->domain = item->kind->domain;
        w->state = item->state;
        w->state_since_ms = item->state_since_ms;
        w->ready_since_ms = item->ready_since_ms;
        w->placeholder = item->placeholder;
        w->waits_for_approval = bl_item_waits_for(item, T0, BL_WAIT_APPROVAL);
}

/* The walk shows each task (a frozen one too) as the task found whole shows it. */
static void check_walk_matches_find(fixture_t *fx) {
        walk_t walk = {0};
        bl_backlog_foreach(fx->backlog, walk_one, &walk);
        CHECK_INT(walk.count, bl_backlog_size(fx->backlog));
        for (size_t i = 0; i < walk.count; i++) {
                const walked_t *w = &walk.items[i];
                const bl_item_t *item = find(fx, w->task_id);
                CHECK(item != NULL);
                if (item)
                        CHECK(item->kind->domain == w->domain && item->state == w->state &&
                              item->state_since_ms == w->state_since_ms && item->ready_since_ms == w->ready_since_ms &&
                              item->placeholder == w->placeholder &&
                              bl_item_waits_for(item, T0, BL_WAIT_APPROVAL) == w->waits_for_approval);
        }
}

/* Restores @p item, the caller's: taken over whole, or (@p as_view) read as a view and then destroyed. */
static void restore_one(bl_backlog_t *backlog, bl_item_t *item, bool as_view) {
        if (!as_view) {
                bl_backlog_restore(backlog, item);
                return;
        }
        if (bl_backlog_restore_view(backlog, item))
                bl_item_destroy(item); /* the backlog kept copies of what it needed */
        else
                bl_backlog_restore(backlog, item); /* not one to freeze: taken whole, as restore.c does */
}

/*
 * Restore, with tasks at rest held whole (@p spill NULL) or frozen as they are restored, each snapshot
 * taken over whole or (@p as_view) read from a view, as restore reads them in place.
 */
static void restore_with(const bl_spill_ops_t *spill, bool as_view) {
        fixture_t source, fx;
        fixture_init(&source, NULL);
        const int64_t start = source.now;
        submit(&source, "r1", "d");
        source.now = start + 10;
        submit(&source, "r2", "d");
        source.now = start + 20;
        submit(&source, "r3", "d");
        source.now = start + 30;
        submit(&source, "w1", "w");
        dispatch(&source, "w", 1);
        bl_task_event_t event = submission("b1", "d");
        event.has_not_before = true;
        event.not_before_ms = start + 2000;
        apply(&source, event);
        event = submission("b2", "d"); /* its not_before passes before the restore */
        event.has_not_before = true;
        event.not_before_ms = start + 35;
        apply(&source, event);
        event = submission("pl", "d"); /* a payload and labels survive */
        const char *keys[] = {"team"}, *values[] = {"vision"};
        event.label_keys = keys;
        event.label_values = values;
        event.label_count = 1;
        event.has_payload = true;
        event.payload = "\x01\x02";
        event.payload_size = 2;
        event.has_not_before = true;
        event.not_before_ms = start + 100000;
        apply(&source, event);
        source.now = start + 40;
        submit(&source, "c1", "c");
        dispatch(&source, "c", 1);
        report(&source, "c1", BL_EVENT_COMPLETED, 1);
        const char *const restored_ids[] = {"r3", "c1", "b2", "r1", "pl", "b1", "w1", "r2"};
        enum { RESTORED = sizeof(restored_ids) / sizeof(restored_ids[0]) };
        bl_item_t *copies[RESTORED];
        for (size_t i = 0; i < RESTORED; i++)
                copies[i] = copy_item(find(&source, restored_ids[i]));
        fixture_done(&source);

        bl_backlog_options_t options = default_options();
        options.spill = spill;
        fixture_init(&fx, &options);
        fx.now = start + 15; /* a live READY task of another partition, between r2 and r3 */
        fx.partition = 1;
        submit(&fx, "live", "d");
        /* a hand-built snapshot: DISPATCHED on attempt 2 with a lease */
        bl_item_t *built = bl_item_new("h1", 3);
        built->state = BL_STATE_DISPATCHED;
        built->seq = 9;
        built->attempt = 2;
        CHECK(bl_item_set_kind(built, "infer", "h", NULL, "standard"));
        built->state_since_ms = start;
        built->lease_expires_at_ms = start + 500;
        built->submitted_at_ms = start - 1000;
        fx.now = start + 45;
        mark_t m = mark(&fx);
        /* a stale copy first, replaced by the newer one */
        bl_item_t *older = copy_item(copies[RESTORED - 1]);
        older->seq = 1;
        older->state = BL_STATE_QUEUED;
        restore_one(fx.backlog, older, as_view);
        for (size_t i = 0; i < RESTORED; i++)
                restore_one(fx.backlog, copies[i], as_view);
        restore_one(fx.backlog, built, as_view);
        bl_backlog_restore_finish(fx.backlog, fx.now);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(bl_backlog_size(fx.backlog), RESTORED + 2);
        bl_backlog_spill_stats_t stats;
        bl_backlog_spill_stats(fx.backlog, &stats);
        CHECK_INT(stats.frozen, spill ? 6 : 0); /* b1, b2, pl (BLOCKED), w1, h1 (DISPATCHED), c1 (COMPLETED) */
        check_walk_matches_find(&fx);
        CHECK_INT(get(&fx, "r2")->seq, 2);
        CHECK_STATE(&fx, "r2", BL_STATE_READY);
        const bl_item_t *pl = find(&fx, "pl");
        CHECK(pl->has_payload && pl->payload_size == 2 && !memcmp(pl->payload, "\x01\x02", 2));
        const char *value = NULL;
        CHECK(bl_labels_next(&bl_item_cold(pl)->labels, NULL, &value) != NULL);
        CHECK_STR(value, "vision");

        /* the lease of the hand-built item still expires */
        CHECK_INT(bl_backlog_next_due(fx.backlog), start + 35); /* b2's not_before, past: due at once */
        advance_by(&fx, 0);
        CHECK_STATE(&fx, "b2", BL_STATE_READY);
        m = mark(&fx);
        advance_to(&fx, start + 500);
        CHECK_STR(path_since(&fx, m, "h1"), "FAILED RETRY_WAIT");
        CHECK_INT(change_since(&fx, m, "h1", 0)->seq, 10);
        CHECK_STR(change_since(&fx, m, "h1", 0)->reason, "lease_expired");
        /* and so does the copied one */
        m = mark(&fx);
        advance_to(&fx, start + 1030);
        CHECK_STR(path_since(&fx, m, "w1"), "FAILED RETRY_WAIT");
        /* READY order is ready_since order, the live task merged in */
        m = mark(&fx);
        CHECK_INT(dispatch(&fx, "d", 10), 5);
        const char *const order[] = {"r1", "r2", "live", "r3", "b2"};
        for (size_t i = 0; i < 5; i++)
                CHECK_STR(dispatch_at(&fx, m.dispatches + i)->task_id, order[i]);
        CHECK_STR(dispatch_at(&fx, m.dispatches)->dispatch_id, "r1/1");
        CHECK_STATE(&fx, "h1", BL_STATE_READY); /* its retry came due meanwhile */
        CHECK_INT(dispatch(&fx, "h", 1), 1);
        advance_to(&fx, start + 2000);
        CHECK_STATE(&fx, "b1", BL_STATE_READY);
        CHECK_STR(last_change(&fx, "h1")->dispatch_id, "h1/3");
        /* the restored terminal task keeps its retention */
        CHECK_STATE(&fx, "c1", BL_STATE_COMPLETED);
        advance_to(&fx, start + 40 + 60000);
        CHECK(find(&fx, "c1") == NULL);
        fixture_done(&fx);
}

static void test_restore(void) {
        restore_with(NULL, false);
        restore_with(NULL, true);
}

/* Tasks at rest are frozen as they are restored, and thawed by whatever touches them: the same story. */
static void test_restore_into_frozen_tasks(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill = memory_spill_ops(&store);
        restore_with(&spill, false);
        free(store.bytes);
        store = (memory_store_t){0};
        restore_with(&spill, true); /* straight from the views into stubs */
        free(store.bytes);
}

static void fixture_init_frozen(fixture_t *fx, memory_store_t *store, bl_spill_ops_t *spill);

/* A snapshot of every kind: @p state, with payload, labels, dependencies, an error and event ids. */
static bl_item_t *rich_snapshot(const char *task_id, bl_state_t state, int64_t now) {
        bl_item_t *item = bl_item_new_of_kind(task_id, 2, "infer", "d", "acme", "gold");
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        const char *keys[] = {"team", "priority"}, *values[] = {"vision", "3"};
        if (!item || !cold)
                exit(2);
        item->state = state;
        item->seq = 7;
        item->attempt = 1;
        item->business_value = 0.25;
        item->risk = 0.5;
        item->submitted_at_ms = now - 5000;
        item->state_since_ms = now - 100;
        item->deadline_ms = now + 60000;
        item->ready_since_ms = state == BL_STATE_READY ? now - 200 : BL_NO_TIME;
        item->lease_expires_at_ms = state == BL_STATE_DISPATCHED ? now + 3000 : BL_NO_TIME;
        item->terminal_at_ms = bl_state_is_terminal(state) ? now - 100 : BL_NO_TIME;
        item->payload = malloc(3);
        memcpy(item->payload, "abc", 3);
        item->payload_size = 3;
        item->has_payload = true;
        bl_item_remember_event(item, "e1", 8);
        bl_item_remember_event(item, "e2", 8);
        bl_strvec_push(&cold->depends_on, "dep1");
        bl_strvec_push(&cold->dependents, "child1");
        bl_labels_set(&cold->labels, keys, values, 2);
        cold->traceparent = strdup("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        cold->has_last_error = true;
        cold->error_code = strdup("E42");
        cold->error_message = strdup("it broke");
        cold->error_retryable = true;
        return item;
}

/*
 * A snapshot restored from a view holds what the same snapshot restored
 * whole holds, field for field (their encodings are equal): at rest as a
 * stub, READY whole, terminal trimmed.
 */
static void test_restore_from_a_view_holds_the_same(void) {
        const bl_state_t states[] = {BL_STATE_QUEUED, BL_STATE_BLOCKED,  BL_STATE_READY,   BL_STATE_DISPATCHED,
                                     BL_STATE_RUNNING, BL_STATE_RETRY_WAIT, BL_STATE_COMPLETED, BL_STATE_DEAD};
        enum { COUNT = sizeof(states) / sizeof(states[0]) };
        memory_store_t stores[2] = {{0}, {0}};
        bl_spill_ops_t spills[2];
        fixture_t fxs[2];
        char task_id[16];
        for (int way = 0; way < 2; way++) /* 0: whole, 1: from views */
                fixture_init_frozen(&fxs[way], &stores[way], &spills[way]);
        for (size_t i = 0; i < COUNT; i++) {
                snprintf(task_id, sizeof(task_id), "t%zu", i);
                for (int way = 0; way < 2; way++)
                        restore_one(fxs[way].backlog, rich_snapshot(task_id, states[i], fxs[way].now), way == 1);
        }
        bl_backlog_spill_stats_t stats[2];
        for (int way = 0; way < 2; way++) {
                bl_backlog_restore_finish(fxs[way].backlog, fxs[way].now);
                bl_backlog_spill_stats(fxs[way].backlog, &stats[way]);
        }
        CHECK_INT(stats[1].frozen, COUNT - 1); /* every one but the READY task */
        CHECK_INT(stats[0].frozen, stats[1].frozen);
        CHECK_INT(bl_backlog_next_due(fxs[0].backlog), bl_backlog_next_due(fxs[1].backlog));
        bl_item_bytes_t bytes[2] = {{0}, {0}};
        for (size_t i = 0; i < COUNT; i++) {
                snprintf(task_id, sizeof(task_id), "t%zu", i);
                for (int way = 0; way < 2; way++) {
                        const bl_item_t *item = find(&fxs[way], task_id);
                        CHECK(item != NULL && bl_item_encode(item, &bytes[way]));
                }
                CHECK(bytes[0].size == bytes[1].size && !memcmp(bytes[0].bytes, bytes[1].bytes, bytes[0].size));
        }
        const bl_item_t *done = find(&fxs[1], "t6"); /* COMPLETED: only what dedup needs, the error kept */
        CHECK(!done->has_payload && bl_item_cold(done)->labels.count == 0 && bl_item_cold(done)->has_last_error);
        CHECK_STR(bl_item_cold(done)->error_code, "E42");
        for (int way = 0; way < 2; way++) {
                bl_item_bytes_free(&bytes[way]);
                fixture_done(&fxs[way]);
                free(stores[way].bytes);
        }
}

/* A store that refuses the bytes leaves the tasks whole, counted, and tries them again when they next change. */
static void test_a_refused_freeze_keeps_tasks_whole(void) {
        memory_store_t store = {.refuse_appends = true};
        bl_spill_ops_t spill = memory_spill_ops(&store);
        bl_backlog_options_t options = default_options();
        options.spill = &spill;
        fixture_t fx;
        fixture_init(&fx, &options);
        submit(&fx, "a", "d");
        submit(&fx, "b", "d");
        CHECK_INT(dispatch(&fx, "d", 2), 2);
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), 0);
        bl_backlog_spill_stats_t stats;
        bl_backlog_spill_stats(fx.backlog, &stats);
        CHECK_INT(stats.freeze_failures_total, 2);
        CHECK_INT(stats.frozen, 0);
        CHECK_STATE(&fx, "a", BL_STATE_DISPATCHED);
        store.refuse_appends = false;
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), 0); /* unchanged since: not tried again yet */
        report(&fx, "a", BL_EVENT_STARTED, 1);
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), 1);
        bl_backlog_spill_stats(fx.backlog, &stats);
        CHECK_INT(stats.frozen, 1);
        CHECK_STATE(&fx, "a", BL_STATE_RUNNING); /* thawed by the look */
        fixture_done(&fx);
        free(store.bytes);
}

/* A fixture whose backlog freezes its tasks at rest into @p store (through @p spill, which it points at). */
static void fixture_init_frozen(fixture_t *fx, memory_store_t *store, bl_spill_ops_t *spill) {
        *spill = memory_spill_ops(store);
        bl_backlog_options_t options = default_options();
        options.spill = spill;
        fixture_init(fx, &options);
}

/* @p count tasks "<prefix><i>" of domain "d", task i on partition i % @p partitions, all dispatched. */
static void dispatch_over_partitions(fixture_t *fx, const char *prefix, int count, int32_t partitions) {
        char task_id[32];
        for (int i = 0; i < count; i++) {
                fx->partition = i % partitions;
                snprintf(task_id, sizeof(task_id), "%s%d", prefix, i);
                submit(fx, task_id, "d");
        }
        CHECK_INT(dispatch(fx, "d", (size_t)count), count);
}

/* Dropping a partition (a revoke, an aborted batch) takes its tasks changed since the last freeze off the list
 * to freeze, in one pass: the next freeze meets only the other partitions' tasks. */
static void test_drop_partition_before_the_freeze(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill;
        fixture_t fx;
        fixture_init_frozen(&fx, &store, &spill);
        dispatch_over_partitions(&fx, "t", 3000, 3);
        CHECK_INT(bl_backlog_drop_partition(fx.backlog, 1), 1000);
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), 2000);
        CHECK_INT(bl_backlog_drop_partition(fx.backlog, 0), 1000); /* frozen ones: no thaw */
        bl_backlog_spill_stats_t stats;
        bl_backlog_spill_stats(fx.backlog, &stats);
        CHECK_INT(stats.frozen, 1000);
        CHECK_INT(stats.thaws_total, 0);
        CHECK_INT(bl_backlog_size(fx.backlog), 1000);
        CHECK_STATE(&fx, "t2", BL_STATE_DISPATCHED);
        fixture_done(&fx);
        free(store.bytes);
}

/*
 * The list of tasks to freeze at the batch's end loses tasks in any order: each knows its place in
 * it (a task destroyed used to be looked for through the whole list, so a batch that changed many
 * tasks and purged many took time in their product). What stays is frozen, once, and nothing else.
 */
static void test_touched_list_loses_tasks_in_any_order(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill;
        fixture_t fx;
        fixture_init_frozen(&fx, &store, &spill);
        char id[32];
        dispatch_over_partitions(&fx, "task-", 300, 2); /* every one changed in this batch: 300 on the list */
        size_t forgotten = 0;
        for (int i = 299; i >= 0; i -= 3) { /* from the end, then the middle: every place in the list */
                snprintf(id, sizeof(id), "task-%d", i);
                forgotten += bl_backlog_forget(fx.backlog, id);
        }
        for (int i = 1; i < 300; i += 7) {
                snprintf(id, sizeof(id), "task-%d", i);
                forgotten += bl_backlog_forget(fx.backlog, id);
        }
        size_t in_partition_1 = 0;
        for (int i = 1; i < 300; i += 2) {
                snprintf(id, sizeof(id), "task-%d", i);
                in_partition_1 += bl_backlog_find(fx.backlog, id) != NULL;
        }
        CHECK_INT(bl_backlog_drop_partition(fx.backlog, 1), in_partition_1);
        size_t left = bl_backlog_size(fx.backlog);
        CHECK_INT(left, 300 - forgotten - in_partition_1);
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), left);
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), 0);
        bl_backlog_spill_stats_t stats;
        bl_backlog_spill_stats(fx.backlog, &stats);
        CHECK_INT(stats.frozen, left);
        fixture_done(&fx);
        free(store.bytes);
}

/*
 * Regression: restore took an item's touched mark as it came, so a copy of a task touched in another
 * backlog made restore read before the start of an empty list to freeze (a crash), or a READY one was
 * never frozen once it came to rest.
 */
static void test_restore_ignores_a_copied_touched_mark(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill;
        fixture_t fx;
        fixture_init_frozen(&fx, &store, &spill);
        bl_item_t *resting = bl_item_new_of_kind("resting", 0, "t", "d", NULL, "standard");
        bl_item_t *ready = bl_item_new_of_kind("ready", 0, "t", "d", NULL, "standard");
        resting->state = BL_STATE_DISPATCHED;
        resting->lease_expires_at_ms = fx.now + 1000;
        ready->state = BL_STATE_READY;
        ready->ready_since_ms = ready->state_since_ms = fx.now;
        resting->touched_slot = ready->touched_slot = 0;
        bl_backlog_restore(fx.backlog, resting);
        bl_backlog_restore(fx.backlog, ready);
        bl_backlog_restore_finish(fx.backlog, fx.now);
        bl_backlog_spill_stats_t stats;
        bl_backlog_spill_stats(fx.backlog, &stats);
        CHECK_INT(stats.frozen, 1);
        CHECK_INT(dispatch(&fx, "d", 1), 1);
        CHECK_INT(bl_backlog_freeze_at_rest(fx.backlog), 1); /* the READY one, now DISPATCHED, comes to rest */
        fixture_done(&fx);
        free(store.bytes);
}

/* A frozen task whose bytes cannot be read back stops the instance, saying which task and why. */
static void test_a_lost_frozen_task_stops_the_instance(void) {
        FILE *log = tmpfile();
        fflush(stderr);
        pid_t child = fork();
        if (child == 0) {
                memory_store_t store = {0};
                bl_spill_ops_t spill = memory_spill_ops(&store);
                bl_backlog_options_t options = default_options();
                options.spill = &spill;
                fixture_t fx;
                fixture_init(&fx, &options);
                submit(&fx, "lost", "d");
                dispatch(&fx, "d", 1);
                bl_backlog_freeze_at_rest(fx.backlog);
                store.fail_reads = true;
                bl_log_set_output(log);
                find(&fx, "lost"); /* does not return */
                _exit(0);
        }
        int status = 0;
        CHECK(child > 0 && waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        char line[512] = "";
        rewind(log);
        CHECK(fgets(line, sizeof(line), log) != NULL);
        CHECK_CONTAINS(line, "a frozen task could not be read back from the spill store, stopping");
        CHECK_CONTAINS(line, "thawing task lost: memory store: cannot read");
        fclose(log);
}

static void test_drop_partition(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        const char *const ids[] = {"p0-a", "p0-b", "p1-ready", "p1-dispatched", "p1-blocked", "p1-done", "p2-a"};
        const bl_state_t states[] = {BL_STATE_READY, BL_STATE_READY,   BL_STATE_READY, BL_STATE_DISPATCHED,
                                     BL_STATE_BLOCKED, BL_STATE_RUNNING, BL_STATE_READY};
        const int32_t partitions[] = {0, 0, 1, 1, 1, 1, 2};
        enum { TASKS = sizeof(ids) / sizeof(ids[0]) };
        for (size_t i = 0; i < TASKS; i++) {
                fx.partition = partitions[i];
                CHECK(make_in_state(&fx, ids[i], states[i]));
                fx.now += 1;
        }
        report(&fx, "p1-done", BL_EVENT_COMPLETED, 1);
        bl_item_t *saved[4];
        for (size_t i = 2; i < 6; i++)
                saved[i - 2] = copy_item(find(&fx, ids[i]));
        mark_t m = mark(&fx);
        CHECK_INT(bl_backlog_drop_partition(fx.backlog, 1), 4);
        CHECK_INT(bl_backlog_drop_partition(fx.backlog, 1), 0);
        CHECK_INT(emitted_since(&fx, m), 0);
        CHECK_INT(bl_backlog_size(fx.backlog), 3);
        for (size_t i = 0; i < TASKS; i++)
                CHECK((find(&fx, ids[i]) == NULL) == (partitions[i] == 1));
        /* nothing of partition 1 is dispatched, fails, expires or is purged any more */
        m = mark(&fx);
        CHECK_INT(dispatch(&fx, NULL, 100), 3); /* p0-a, p0-b, p2-a */
        CHECK_INT(dispatch(&fx, "p1-ready", 100), 0);
        advance_by(&fx, 1000000);
        for (size_t i = m.changes; i < fx.rec.change_count; i++)
                CHECK(strncmp(fx.rec.changes[i].task_id, "p1-", 3) != 0);
        for (size_t i = 0; i < fx.rec.purge_count; i++)
                CHECK(strncmp(fx.rec.purges[i].task_id, "p1-", 3) != 0);
        /* and it can be restored again */
        for (size_t i = 0; i < 4; i++)
                bl_backlog_restore(fx.backlog, saved[i]);
        bl_backlog_restore_finish(fx.backlog, fx.now);
        CHECK_INT(bl_backlog_size(fx.backlog), 7);
        CHECK_STATE(&fx, "p1-dispatched", BL_STATE_DISPATCHED);
        CHECK_STATE(&fx, "p1-blocked", BL_STATE_BLOCKED);
        CHECK_STATE(&fx, "p1-done", BL_STATE_COMPLETED);
        CHECK_INT(dispatch(&fx, "p1-ready", 100), 1);
        m = mark(&fx);
        advance_by(&fx, 0);
        CHECK_CONTAINS(path_since(&fx, m, "p1-dispatched"), "FAILED RETRY_WAIT"); /* its lease ran out meanwhile */
        CHECK(find(&fx, "p1-done") == NULL);                    /* and so did the retention */
        fixture_done(&fx);
}

/* ---- 13. FIFO dispatch -------------------------------------------------------------------- */

static void test_fifo_dispatch(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        const char *const a_ids[] = {"a1", "a2", "a3", "a4"};
        for (int i = 0; i < 4; i++) {
                submit(&fx, a_ids[i], "alpha");
                fx.now += 10;
                if (i < 2) {
                        submit(&fx, i == 0 ? "b1" : "b2", "beta");
                        fx.now += 10;
                }
        }
        mark_t m = mark(&fx);
        CHECK_INT(dispatch(&fx, "alpha", 2), 2);
        CHECK_INT(dispatch(&fx, "beta", 1), 1);
        CHECK_INT(dispatch(&fx, "gamma", 5), 0); /* unknown domain */
        CHECK_INT(dispatch(&fx, "alpha", 0), 0);
        CHECK_INT(fx.rec.dispatch_count - m.dispatches, 3);
        CHECK_STR(dispatch_at(&fx, m.dispatches + 0)->task_id, "a1");
        CHECK_STR(dispatch_at(&fx, m.dispatches + 1)->task_id, "a2");
        CHECK_STR(dispatch_at(&fx, m.dispatches + 2)->task_id, "b1");
        /* a retried task goes to the back: it is READY since its retry */
        report_failure(&fx, "a1", 1, true);
        advance_to(&fx, get(&fx, "a1")->retry_at_ms + 1);
        CHECK_STATE(&fx, "a1", BL_STATE_READY);
        /* a task postponed and released goes to the back too; an UPDATED that changes nothing keeps its place */
        bl_task_event_t update = producer_event("a4", BL_EVENT_UPDATED);
        update.has_not_before = true;
        update.not_before_ms = fx.now + 50;
        apply(&fx, update);
        CHECK_STATE(&fx, "a4", BL_STATE_BLOCKED);
        update = producer_event("a3", BL_EVENT_UPDATED);
        update.has_business_value = true;
        update.business_value = 0.9;
        apply(&fx, update);
        advance_by(&fx, 50);
        CHECK_STATE(&fx, "a4", BL_STATE_READY);
        m = mark(&fx);
        CHECK_INT(dispatch(&fx, "alpha", 10), 3);
        CHECK_STR(dispatch_at(&fx, m.dispatches + 0)->task_id, "a3");
        CHECK_STR(dispatch_at(&fx, m.dispatches + 1)->task_id, "a1");
        CHECK_STR(dispatch_at(&fx, m.dispatches + 1)->dispatch_id, "a1/2");
        CHECK_STR(dispatch_at(&fx, m.dispatches + 2)->task_id, "a4");
        CHECK_INT(dispatch(&fx, "alpha", 10), 0);
        /* every domain at once */
        submit(&fx, "a5", "alpha");
        CHECK_INT(dispatch(&fx, NULL, 10), 2); /* b2 and a5 */
        CHECK_STATE(&fx, "b2", BL_STATE_DISPATCHED);
        CHECK_STATE(&fx, "a5", BL_STATE_DISPATCHED);
        fixture_done(&fx);
}

/* Thousands of timers: fired in due order, whatever moved or left the heap meanwhile. */
static void test_many_timers(void) {
        enum { TASKS = 3000 };
        fixture_t fx;
        fixture_init(&fx, NULL);
        uint64_t random_state = 7;
        char task_id[32];
        size_t cancelled = 0;
        for (int i = 0; i < TASKS; i++) {
                random_state ^= random_state << 13;
                random_state ^= random_state >> 7;
                random_state ^= random_state << 17;
                snprintf(task_id, sizeof(task_id), "m%d", i);
                submit_with_deadline(&fx, task_id, fx.now + 1000 + (int64_t)(random_state % 100000), BL_NO_TIME,
                                     NULL);
        }
        for (int i = 0; i < TASKS; i += 5) {
                snprintf(task_id, sizeof(task_id), "m%d", i);
                bl_task_event_t update = producer_event(task_id, BL_EVENT_UPDATED);
                update.has_deadline = true;
                update.deadline_ms = fx.now + 500 + (i * 37) % 100000;
                apply(&fx, update);
        }
        for (int i = 3; i < TASKS; i += 7, cancelled++) {
                snprintf(task_id, sizeof(task_id), "m%d", i);
                send(&fx, task_id, BL_EVENT_CANCELLED);
        }
        CHECK_INT(bl_backlog_size(fx.backlog), TASKS);
        bool all_found = true;
        for (int i = 0; i < TASKS; i++) {
                snprintf(task_id, sizeof(task_id), "m%d", i);
                all_found &= find(&fx, task_id) != NULL;
        }
        CHECK(all_found);
        mark_t m = mark(&fx);
        advance_by(&fx, 200000);
        size_t expired = 0;
        int64_t last_deadline = 0;
        bool in_order = true;
        for (size_t i = m.changes; i < fx.rec.change_count; i++) {
                const rec_change_t *change = &fx.rec.changes[i];
                if (change->to != BL_STATE_EXPIRED)
                        continue;
                expired++;
                in_order &= change->deadline_ms >= last_deadline;
                last_deadline = change->deadline_ms;
        }
        CHECK_INT(expired, TASKS - cancelled);
        CHECK(in_order);
        CHECK_INT(fx.rec.purge_count, cancelled); /* cancelled at the start, past retention now */
        CHECK_INT(fx.rec.dead_count, TASKS - cancelled);
        advance_by(&fx, 60000);
        CHECK_INT(bl_backlog_size(fx.backlog), 0);
        CHECK_INT(bl_backlog_next_due(fx.backlog), BL_NO_TIME);
        fixture_done(&fx);
}

/* ---- 14. randomized sequences ------------------------------------------------------------- */

#define RANDOM_TASKS 50
#define RANDOM_DOMAINS 3
#define RANDOM_RING 64
#define RANDOM_ATTEMPTS 16

typedef struct model_task_s {
        bool exists;
        bool placeholder;
        bl_state_t state;
        int64_t seq;
        int32_t attempt;
        bool completed_ever;
        bool failed_ever; /* DEAD, CANCELLED or EXPIRED at some point */
        bool dispatched[RANDOM_ATTEMPTS];
        int depends_on[2]; /* as submitted: a terminal task no longer holds them (bl_item_trim) */
        size_t depends_on_count;
} model_task_t;

typedef struct past_event_s {
        char event_id[ID_MAX];
        int task;
        bl_event_type_t type;
        int32_t attempt;
} past_event_t;

typedef struct random_run_s {
        fixture_t fx;
        bl_backlog_options_t options;
        uint64_t seed, random_state;
        int step;
        model_task_t model[RANDOM_TASKS];
        char ids[RANDOM_TASKS][8];
        past_event_t past[RANDOM_RING];
        size_t past_count;
        unsigned serial;
} random_run_t;

static const char *const random_domains[RANDOM_DOMAINS] = {"d0", "d1", "d2"};
static int invariant_messages;

#define INVARIANT(run, cond, ...)                                                                          \
        do {                                                                                               \
                check_count++;                                                                             \
                if (!(cond)) {                                                                             \
                        check_failures++;                                                                  \
                        if (invariant_messages++ < 40) {                                                   \
                                fprintf(stderr, "%s:%d: seed %" PRIu64 " step %d: %s: ", __FILE__, __LINE__, \
                                        (run)->seed, (run)->step, #cond);                                  \
                                fprintf(stderr, __VA_ARGS__);                                              \
                                fputc('\n', stderr);                                                       \
                        }                                                                                  \
                }                                                                                          \
        } while (0)

static uint32_t pick(random_run_t *run, uint32_t bound) {
        uint64_t x = run->random_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        run->random_state = x;
        return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32) % bound;
}

/* Whether @p task is in @p state (DISPATCHED: or RUNNING; BL_STATE__COUNT: any open state; -1: unknown). */
static bool task_matches(const random_run_t *run, int task, int state) {
        const bl_item_t *item = bl_backlog_find(run->fx.backlog, run->ids[task]);
        if (state == -1)
                return !item || item->placeholder;
        if (!item || item->placeholder)
                return false;
        if (state == BL_STATE__COUNT)
                return !bl_state_is_terminal(item->state);
        return item->state == (bl_state_t)state || (state == BL_STATE_DISPATCHED && item->state == BL_STATE_RUNNING);
}

/* A task, chosen among those in @p state (see task_matches) @p percent of the time, else among all. */
static int pick_task(random_run_t *run, int state, uint32_t percent) {
        int candidates[RANDOM_TASKS], count = 0;
        if (pick(run, 100) < percent)
                for (int i = 0; i < RANDOM_TASKS; i++)
                        if (task_matches(run, i, state))
                                candidates[count++] = i;
        return count ? candidates[pick(run, (uint32_t)count)] : (int)pick(run, RANDOM_TASKS);
}

static int task_index(const char *task_id) {
        return atoi(task_id + 1);
}

static int32_t partition_of(int task) {
        return task % 4;
}

/* Applies @p event of task @p task; an event the backlog rejects or knows emits nothing. */
static bl_apply_result_t random_apply(random_run_t *run, bl_task_event_t event, int task) {
        char event_id[ID_MAX];
        if (!event.event_id) {
                snprintf(event_id, sizeof(event_id), "x-%u", ++run->serial);
                event.event_id = event_id;
        }
        event.occurred_at_ms = run->fx.now;
        mark_t m = mark(&run->fx);
        bl_apply_result_t result = bl_backlog_apply_event(run->fx.backlog, &event, partition_of(task), NULL,
                                                          run->fx.now, run->fx.detail, sizeof(run->fx.detail));
        if (result == BL_APPLY_DUPLICATE || result == BL_APPLY_ILLEGAL)
                INVARIANT(run, emitted_since(&run->fx, m) == 0, "%s emitted %zu records for result %d",
                          event.task_id, emitted_since(&run->fx, m), (int)result);
        if (result == BL_APPLY_STALE)
                INVARIANT(run,
                          emitted_since(&run->fx, m) == 1 && run->fx.rec.change_count == m.changes + 1 &&
                                  run->fx.rec.changes[m.changes].from == run->fx.rec.changes[m.changes].to,
                          "stale %s emitted more than a note", event.task_id);
        if (result == BL_APPLY_CHANGED || result == BL_APPLY_STALE) {
                past_event_t *past = &run->past[run->past_count++ % RANDOM_RING];
                copy_text(past->event_id, sizeof(past->event_id), event.event_id);
                past->task = task;
                past->type = event.event_type;
                past->attempt = event.attempt;
        }
        return result;
}

static void random_submit(random_run_t *run) {
        int task = pick_task(run, -1, 85);
        const char *deps[2];
        size_t dep_count = 0;
        for (uint32_t n = pick(run, 3); n > 0; n--) {
                int other = (int)pick(run, RANDOM_TASKS);
                if (other != task)
                        deps[dep_count++] = run->ids[other];
        }
        bl_task_event_t event = submission(run->ids[task], random_domains[pick(run, RANDOM_DOMAINS)]);
        event.depends_on = deps;
        event.depends_on_count = dep_count;
        if (pick(run, 100) < 40) {
                event.has_deadline = true;
                event.deadline_ms = run->fx.now + (int64_t)pick(run, 6300) - 300;
        }
        if (pick(run, 100) < 25) {
                event.has_not_before = true;
                event.not_before_ms = run->fx.now + (int64_t)pick(run, 2500);
        }
        if (pick(run, 100) < 25) {
                event.has_max_attempts = true;
                event.max_attempts = 1 + (int32_t)pick(run, 4);
        }
        const bl_item_t *item = find(&run->fx, run->ids[task]);
        bool known = item && !item->placeholder;
        /* occurred_at is now: at or before the forget horizon only with no retention, in the ms of a purge */
        int64_t horizon = bl_backlog_forgotten_through(run->fx.backlog);
        bool forgotten = horizon != BL_NO_TIME && run->fx.now <= horizon;
        model_task_t *model = &run->model[task];
        bl_apply_result_t result = random_apply(run, event, task);
        INVARIANT(run, result == (known || forgotten ? BL_APPLY_ILLEGAL : BL_APPLY_CHANGED), "SUBMITTED %s: %d",
                  run->ids[task], (int)result);
        if (result == BL_APPLY_CHANGED) {
                model->depends_on_count = 0;
                for (size_t d = 0; d < dep_count; d++)
                        model->depends_on[model->depends_on_count++] = task_index(deps[d]);
        }
}

static void random_result(random_run_t *run) {
        static const bl_event_type_t types[] = {BL_EVENT_STARTED, BL_EVENT_HEARTBEAT, BL_EVENT_COMPLETED,
                                                BL_EVENT_FAILED};
        int task = pick_task(run, BL_STATE_DISPATCHED, 75);
        const bl_item_t *item = find(&run->fx, run->ids[task]);
        bool known = item && !item->placeholder;
        bl_state_t state = item ? item->state : BL_STATE_QUEUED;
        int32_t current = item ? item->attempt : 0;
        int32_t attempt = item && pick(run, 100) < 70 ? current : (int32_t)pick(run, (uint32_t)current + 2);
        bl_task_event_t event = result_event(run->ids[task], types[pick(run, 4)], attempt);
        event.error_retryable = pick(run, 100) < 75;
        bool live = known && attempt == current && (state == BL_STATE_DISPATCHED || state == BL_STATE_RUNNING);
        bl_apply_result_t result = random_apply(run, event, task);
        if (!known) {
                INVARIANT(run, result == BL_APPLY_ILLEGAL, "result for unknown %s: %d", run->ids[task], (int)result);
        } else if (!live) {
                INVARIANT(run, result == BL_APPLY_STALE, "result attempt %d for %s at %d in %s: %d", (int)attempt,
                          run->ids[task], (int)current, bl_state_name(state), (int)result);
                item = find(&run->fx, run->ids[task]);
                INVARIANT(run, item && item->state == state && item->attempt == current,
                          "stale result moved %s from %s", run->ids[task], bl_state_name(state));
        } else {
                INVARIANT(run, result == BL_APPLY_CHANGED, "live result for %s: %d", run->ids[task], (int)result);
        }
}

static void random_producer_event(random_run_t *run, bl_event_type_t type) {
        int task = pick_task(run, BL_STATE__COUNT, 75);
        const bl_item_t *item = find(&run->fx, run->ids[task]);
        bool open = item && !item->placeholder && !bl_state_is_terminal(item->state);
        bl_task_event_t event = producer_event(run->ids[task], type);
        if (type == BL_EVENT_UPDATED) {
                if (pick(run, 2)) {
                        event.has_deadline = true;
                        event.deadline_ms = run->fx.now + (int64_t)pick(run, 6000) - 300;
                }
                if (pick(run, 2)) {
                        event.has_not_before = true;
                        event.not_before_ms = run->fx.now + (int64_t)pick(run, 2500);
                }
                if (pick(run, 4) == 0) {
                        event.has_max_attempts = true;
                        event.max_attempts = 1 + (int32_t)pick(run, 4);
                }
        }
        bl_apply_result_t result = random_apply(run, event, task);
        INVARIANT(run, result == (open ? BL_APPLY_CHANGED : BL_APPLY_ILLEGAL), "%s for %s: %d",
                  bl_event_type_name(type), run->ids[task], (int)result);
        if (type == BL_EVENT_CANCELLED && open)
                INVARIANT(run, find(&run->fx, run->ids[task]) &&
                                       find(&run->fx, run->ids[task])->state == BL_STATE_CANCELLED,
                          "%s not cancelled",
                          run->ids[task]);
}

static void random_replay(random_run_t *run) {
        if (run->past_count == 0)
                return;
        size_t available = run->past_count < RANDOM_RING ? run->past_count : RANDOM_RING;
        past_event_t past = run->past[pick(run, (uint32_t)available)];
        const char *task_id = run->ids[past.task];
        bl_task_event_t event = past.type == BL_EVENT_SUBMITTED ? submission(task_id, random_domains[0])
                                : bl_event_type_is_result(past.type) ? result_event(task_id, past.type, past.attempt)
                                                                     : producer_event(task_id, past.type);
        event.event_id = past.event_id;
        const bl_item_t *item = find(&run->fx, task_id);
        bool remembered = item && bl_item_event_seen(item, past.event_id);
        bl_apply_result_t result = random_apply(run, event, past.task);
        INVARIANT(run, (result == BL_APPLY_DUPLICATE) == remembered, "replay %s on %s: %d, remembered %d",
                  past.event_id, task_id, (int)result, remembered);
}

static void random_route(random_run_t *run) {
        recorder_t *rec = &run->fx.rec;
        for (uint32_t n = 1 + pick(run, 8); n > 0 && rec->notices_routed < rec->notice_count; n--) {
                size_t index = rec->notices_routed;
                if (pick(run, 100) >= 5) /* now and then a notice comes twice */
                        rec->notices_routed++;
                rec_notice_t copy = rec->notices[index];
                int to = task_index(copy.to);
                const bl_item_t *target = find(&run->fx, copy.to);
                bool answered = target && !target->placeholder && bl_state_is_terminal(target->state);
                bl_state_t target_state = target ? target->state : BL_STATE_QUEUED;
                mark_t m = mark(&run->fx);
                bl_notice_t notice = {copy.is_outcome, copy.to, copy.from, copy.outcome, run->fx.now};
                bl_backlog_apply_notice(run->fx.backlog, &notice, partition_of(to), run->fx.now);
                target = find(&run->fx, copy.to);
                if (copy.is_outcome) {
                        bool open = target && !target->placeholder && !bl_state_is_terminal(target->state);
                        INVARIANT(run, !open || !bl_strvec_contains(&bl_item_cold(target)->pending_deps, copy.from),
                                  "%s still waits on %s in %s", copy.to, copy.from, bl_state_name(target->state));
                } else if (answered) {
                        INVARIANT(run,
                                  rec->notice_count == m.notices + 1 && rec->notices[m.notices].is_outcome &&
                                          !strcmp(rec->notices[m.notices].to, copy.from) &&
                                          rec->notices[m.notices].outcome == target_state,
                                  "WAITING %s -> %s (%s) not answered", copy.from, copy.to,
                                  bl_state_name(target_state));
                } else {
                        INVARIANT(run, target && bl_strvec_contains(&bl_item_cold(target)->dependents, copy.from),
                                  "%s not registered with %s", copy.from, copy.to);
                }
        }
}

/* Orders READY tasks as the scheduler must without a policy: READY longest first, then task_id. */
static const random_run_t *sort_run;
static int compare_ready(const void *a, const void *b) {
        const bl_item_t *x = find((fixture_t *)&sort_run->fx, sort_run->ids[*(const int *)a]);
        const bl_item_t *y = find((fixture_t *)&sort_run->fx, sort_run->ids[*(const int *)b]);
        if (x->ready_since_ms != y->ready_since_ms)
                return x->ready_since_ms < y->ready_since_ms ? -1 : 1;
        return strcmp(x->task_id, y->task_id);
}

/* The READY tasks of @p domain in the order they must be dispatched; false when the scheduler disagrees. */
static bool ready_list(random_run_t *run, const char *domain, int *tasks, size_t *count) {
        *count = 0;
        for (int i = 0; i < RANDOM_TASKS; i++) {
                const bl_item_t *item = find(&run->fx, run->ids[i]);
                if (!item || item->state != BL_STATE_READY || item->placeholder || strcmp(item->kind->domain, domain))
                        continue;
                if (!bl_backlog_is_ready_queued(run->fx.backlog, item))
                        return false;
                tasks[(*count)++] = i;
        }
        sort_run = run;
        qsort(tasks, *count, sizeof(*tasks), compare_ready);
        return true;
}

static void random_dispatch(random_run_t *run) {
        const char *domain = pick(run, 4) == 0 ? NULL : random_domains[pick(run, RANDOM_DOMAINS)];
        size_t max = pick(run, 5) == 0 ? SIZE_MAX : pick(run, 4);
        int lists[RANDOM_DOMAINS][RANDOM_TASKS];
        size_t lengths[RANDOM_DOMAINS];
        for (int d = 0; d < RANDOM_DOMAINS; d++)
                ready_list(run, random_domains[d], lists[d], &lengths[d]);
        mark_t m = mark(&run->fx);
        size_t sent = dispatch(&run->fx, domain, max);
        INVARIANT(run, sent == run->fx.rec.dispatch_count - m.dispatches, "%zu dispatched, %zu records", sent,
                  run->fx.rec.dispatch_count - m.dispatches);
        for (int d = 0; d < RANDOM_DOMAINS; d++) {
                size_t taken = 0;
                for (size_t i = m.dispatches; i < run->fx.rec.dispatch_count; i++) {
                        const rec_dispatch_t *record = &run->fx.rec.dispatches[i];
                        if (strcmp(record->domain, random_domains[d]))
                                continue;
                        INVARIANT(run, taken < lengths[d] && lists[d][taken] == task_index(record->task_id),
                                  "%s dispatched out of FIFO order in %s", record->task_id, random_domains[d]);
                        taken++;
                }
                bool asked = !domain || !strcmp(domain, random_domains[d]);
                size_t expected = !asked ? 0 : max < lengths[d] ? max : lengths[d];
                if (domain || !asked)
                        INVARIANT(run, taken == expected, "%zu of %zu READY dispatched in %s (max %zu)", taken,
                                  lengths[d], random_domains[d], max);
                else
                        INVARIANT(run, taken <= lengths[d], "%zu dispatched in %s", taken, random_domains[d]);
        }
}

/* After an advance to now: nothing is overdue. */
static void check_nothing_overdue(random_run_t *run) {
        int64_t now = run->fx.now;
        int64_t retention = run->options.retention_ms;
        for (int i = 0; i < RANDOM_TASKS; i++) {
                const bl_item_t *item = find(&run->fx, run->ids[i]);
                if (!item)
                        continue;
                const char *id = item->task_id;
                if (item->placeholder) {
                        INVARIANT(run, item->state_since_ms + retention > now, "placeholder %s not purged", id);
                        continue;
                }
                switch (item->state) {
                case BL_STATE_COMPLETED:
                case BL_STATE_DEAD:
                case BL_STATE_CANCELLED:
                case BL_STATE_EXPIRED:
                        INVARIANT(run, item->terminal_at_ms + retention > now, "%s not purged", id);
                        break;
                case BL_STATE_DISPATCHED:
                case BL_STATE_RUNNING:
                        INVARIANT(run, item->lease_expires_at_ms > now, "%s lease overdue in %s", id,
                                  bl_state_name(item->state));
                        break;
                case BL_STATE_RETRY_WAIT:
                        INVARIANT(run, item->retry_at_ms > now, "%s retry overdue", id);
                        INVARIANT(run, item->deadline_ms == BL_NO_TIME || item->deadline_ms > now,
                                  "%s past deadline in RETRY_WAIT", id);
                        break;
                case BL_STATE_BLOCKED:
                        INVARIANT(run, item->deadline_ms == BL_NO_TIME || item->deadline_ms > now,
                                  "%s past deadline in BLOCKED", id);
                        INVARIANT(run,
                                  bl_item_cold(item)->pending_deps.count > 0 || item->not_before_ms > now ||
                                          (item->approval_required && !item->approved),
                                  "%s BLOCKED for nothing", id);
                        break;
                case BL_STATE_READY:
                        INVARIANT(run, item->deadline_ms == BL_NO_TIME || item->deadline_ms > now,
                                  "%s past deadline in READY", id);
                        break;
                default:
                        INVARIANT(run, false, "%s in %s after an advance", id, bl_state_name(item->state));
                }
        }
}

static int64_t earliest_time(int64_t a, int64_t b) {
        if (a == BL_NO_TIME)
                return b;
        if (b == BL_NO_TIME)
                return a;
        return a < b ? a : b;
}

/* The latest time by which @p item needs its timer to fire, or BL_NO_TIME. */
static int64_t required_due(const random_run_t *run, const bl_item_t *item) {
        int64_t retention = run->options.retention_ms;
        if (item->placeholder)
                return item->state_since_ms + retention;
        switch (item->state) {
        case BL_STATE_COMPLETED:
        case BL_STATE_DEAD:
        case BL_STATE_CANCELLED:
        case BL_STATE_EXPIRED: return item->terminal_at_ms + retention;
        case BL_STATE_DISPATCHED:
        case BL_STATE_RUNNING: return item->lease_expires_at_ms;
        case BL_STATE_RETRY_WAIT: return earliest_time(item->retry_at_ms, item->deadline_ms);
        case BL_STATE_BLOCKED:
                return earliest_time(item->not_before_ms > run->fx.now ? item->not_before_ms : BL_NO_TIME,
                                     item->deadline_ms);
        default: return item->deadline_ms;
        }
}

/* Records since @p m against the model, then the backlog against the model. */
static void check_step(random_run_t *run, mark_t m) {
        recorder_t *rec = &run->fx.rec;
        size_t into_dlq = 0;
        for (size_t i = m.changes; i < rec->change_count; i++) {
                const rec_change_t *change = &rec->changes[i];
                model_task_t *task = &run->model[task_index(change->task_id)];
                const char *id = change->task_id;
                if (!change->has_from) {
                        INVARIANT(run, !task->exists, "%s created twice", id);
                        INVARIANT(run, change->seq == 1, "%s starts at seq %" PRId64, id, change->seq);
                } else {
                        INVARIANT(run, task->exists, "%s changed before it exists", id);
                        INVARIANT(run, change->from == task->state, "%s from %s, but it was %s", id,
                                  bl_state_name(change->from), bl_state_name(task->state));
                        INVARIANT(run, change->seq == task->seq + 1, "%s seq %" PRId64 " after %" PRId64, id,
                                  change->seq, task->seq);
                        if (change->from != change->to)
                                INVARIANT(run, bl_state_transition_legal(change->from, change->to), "%s: %s -> %s",
                                          id, bl_state_name(change->from), bl_state_name(change->to));
                        if (task->exists && bl_state_is_terminal(task->state))
                                INVARIANT(run, change->to == task->state, "%s left terminal %s for %s", id,
                                          bl_state_name(task->state), bl_state_name(change->to));
                }
                INVARIANT(run, change->attempt >= task->attempt, "%s attempt %d after %d", id, (int)change->attempt,
                          (int)task->attempt);
                INVARIANT(run, change->state == change->to && change->item_seq == change->seq &&
                                       change->item_attempt == change->attempt,
                          "%s snapshot disagrees with its transition", id);
                task->exists = true;
                task->placeholder = change->placeholder;
                task->state = change->to;
                task->seq = change->seq;
                task->attempt = change->attempt;
                if (change->to == BL_STATE_COMPLETED)
                        task->completed_ever = true;
                if (change->to == BL_STATE_DEAD || change->to == BL_STATE_CANCELLED || change->to == BL_STATE_EXPIRED)
                        task->failed_ever = true;
                if (change->has_from && change->from != change->to &&
                    (change->to == BL_STATE_DEAD || change->to == BL_STATE_EXPIRED))
                        into_dlq++;
                if (change->has_from && change->to == BL_STATE_READY &&
                    (change->from == BL_STATE_BLOCKED || change->from == BL_STATE_QUEUED)) {
                        const bl_item_t *item = find(&run->fx, id);
                        for (size_t d = 0; item && d < bl_item_cold(item)->depends_on.count; d++)
                                INVARIANT(
                                        run,
                                        run->model[task_index(bl_item_cold(item)->depends_on.items[d])].completed_ever,
                                        "%s READY before %s completed", id, bl_item_cold(item)->depends_on.items[d]);
                }
        }
        for (size_t i = m.dispatches; i < rec->dispatch_count; i++) {
                const rec_dispatch_t *record = &rec->dispatches[i];
                model_task_t *task = &run->model[task_index(record->task_id)];
                char dispatch_id[ID_MAX + 16];
                snprintf(dispatch_id, sizeof(dispatch_id), "%s/%d", record->task_id, (int)record->attempt);
                INVARIANT(run, !strcmp(record->dispatch_id, dispatch_id), "dispatch id %s", record->dispatch_id);
                INVARIANT(run, record->attempt >= 1 && record->attempt < RANDOM_ATTEMPTS, "attempt %d",
                          (int)record->attempt);
                if (record->cancel) { /* the notice of a dispatch made before, of a task ended CANCELLED */
                        const bl_item_t *item = find(&run->fx, record->task_id);
                        INVARIANT(run, record->attempt >= 1 && record->attempt < RANDOM_ATTEMPTS &&
                                               task->dispatched[record->attempt],
                                  "cancellation notice of %s, never dispatched", record->dispatch_id);
                        INVARIANT(run, item && item->state == BL_STATE_CANCELLED && item->attempt == record->attempt,
                                  "cancellation notice of %s for a task not cancelled", record->dispatch_id);
                        continue;
                }
                if (record->attempt >= 1 && record->attempt < RANDOM_ATTEMPTS) {
                        INVARIANT(run, !task->dispatched[record->attempt], "%s dispatched twice",
                                  record->dispatch_id);
                        task->dispatched[record->attempt] = true;
                }
        }
        INVARIANT(run, rec->dead_count - m.dead == into_dlq, "%zu dead letters for %zu tasks given up",
                  rec->dead_count - m.dead, into_dlq);
        for (size_t i = m.dead; i < rec->dead_count; i++) {
                const rec_dead_t *dead = &rec->dead[i];
                if (dead->reason == BL_REASON_DEADLINE_EXPIRED) {
                        INVARIANT(run, dead->state == BL_STATE_EXPIRED, "%s deadline.expired in %s", dead->task_id,
                                  bl_state_name(dead->state));
                } else {
                        INVARIANT(run,
                                  dead->state == BL_STATE_DEAD && (dead->reason == BL_REASON_RETRIES_EXHAUSTED ||
                                                                   dead->reason == BL_REASON_DEPENDENCY_FAILED),
                                  "%s dead letter %s in %s", dead->task_id, bl_reason_name(dead->reason),
                                  bl_state_name(dead->state));
                }
                if (dead->reason == BL_REASON_DEPENDENCY_FAILED) {
                        const model_task_t *model = &run->model[task_index(dead->task_id)];
                        bool cause = false;
                        for (size_t d = 0; d < model->depends_on_count; d++)
                                cause |= run->model[model->depends_on[d]].failed_ever;
                        INVARIANT(run, cause, "%s dependency_failed with no failed dependency", dead->task_id);
                }
        }
        for (size_t i = m.notices; i < rec->notice_count; i++)
                if (rec->notices[i].is_outcome)
                        INVARIANT(run, bl_state_is_terminal(rec->notices[i].outcome), "outcome %s",
                                  bl_state_name(rec->notices[i].outcome));
        for (size_t i = m.purges; i < rec->purge_count; i++) {
                int index = task_index(rec->purges[i].task_id);
                model_task_t *task = &run->model[index];
                INVARIANT(run, task->exists && (task->placeholder || bl_state_is_terminal(task->state)),
                          "%s purged in %s", rec->purges[i].task_id, bl_state_name(task->state));
                INVARIANT(run, rec->purges[i].partition == partition_of(index), "%s purged from partition %d",
                          rec->purges[i].task_id, (int)rec->purges[i].partition);
                /* gone for good: a later SUBMITTED of the same id starts a new task */
                bool completed = task->completed_ever, failed = task->failed_ever;
                memset(task, 0, sizeof(*task));
                task->completed_ever = completed;
                task->failed_ever = failed;
        }

        /* the backlog against the model */
        size_t existing = 0;
        int64_t earliest_timer = BL_NO_TIME;
        for (int i = 0; i < RANDOM_TASKS; i++) {
                const bl_item_t *item = find(&run->fx, run->ids[i]);
                const model_task_t *task = &run->model[i];
                INVARIANT(run, (item != NULL) == task->exists, "%s: backlog %d, model %d", run->ids[i], item != NULL,
                          task->exists);
                if (!item)
                        continue;
                existing++;
                INVARIANT(run,
                          item->state == task->state && item->seq == task->seq && item->attempt == task->attempt &&
                                  item->placeholder == task->placeholder,
                          "%s is %s seq %" PRId64 " attempt %d; last snapshot %s seq %" PRId64 " attempt %d",
                          run->ids[i], bl_state_name(item->state), item->seq, (int)item->attempt,
                          bl_state_name(task->state), task->seq, (int)task->attempt);
                INVARIANT(run, item->partition == partition_of(i), "%s on partition %d", run->ids[i],
                          (int)item->partition);
                if (item->state != BL_STATE_READY || item->placeholder)
                        INVARIANT(run, !bl_backlog_is_ready_queued(run->fx.backlog, item),
                                  "%s waits for dispatch in %s", run->ids[i], bl_state_name(item->state));
                int64_t required = required_due(run, item);
                if (required != BL_NO_TIME)
                        INVARIANT(run,
                                  item->timer_slot != BL_ITEM_NO_SLOT && item->timer_due_ms != BL_NO_TIME &&
                                          item->timer_due_ms <= required,
                                  "%s in %s needs a timer by %" PRId64 ", has %" PRId64, run->ids[i],
                                  bl_state_name(item->state), required, item->timer_due_ms);
                if (item->timer_slot != BL_ITEM_NO_SLOT)
                        earliest_timer = earliest_time(earliest_timer, item->timer_due_ms);
        }
        INVARIANT(run, bl_backlog_size(run->fx.backlog) == existing, "size %zu, %zu found",
                  bl_backlog_size(run->fx.backlog), existing);
        INVARIANT(run, bl_backlog_next_due(run->fx.backlog) == earliest_timer,
                  "next due %" PRId64 ", earliest %" PRId64, bl_backlog_next_due(run->fx.backlog), earliest_timer);
        for (int d = 0; d < RANDOM_DOMAINS; d++) {
                int tasks[RANDOM_TASKS];
                size_t count;
                INVARIANT(run, ready_list(run, random_domains[d], tasks, &count), "READY list of %s broken",
                          random_domains[d]);
        }
}

/*
 * One random run; with @p spill, every task at rest is frozen after every step (bl_backlog_freeze_at_rest),
 * as often as the pipeline could: the run must emit the very records it emits without.
 */
static random_run_t *random_run_with(uint64_t seed, int steps, const bl_spill_ops_t *spill) {
        random_run_t *run = calloc(1, sizeof(*run));
        if (!run)
                exit(2);
        run->seed = seed;
        run->random_state = seed * 0x9E3779B97F4A7C15ULL + 1;
        run->options = default_options();
        run->options.seed = seed;
        run->options.lease_ms = 1000;
        run->options.retry_base_ms = 50;
        run->options.retry_cap_ms = 400;
        run->options.retention_ms = 3000;
        run->options.dedup_window = 4;
        switch (seed % 3) {
        case 1: /* immediate retries, no retention */
                run->options.retry_base_ms = 0;
                run->options.retention_ms = 0;
                break;
        case 2: /* short leases, a one-event dedup window */
                run->options.lease_ms = 300;
                run->options.dedup_window = 1;
                run->options.retention_ms = 1500;
                break;
        default: break;
        }
        run->options.spill = spill;
        fixture_init(&run->fx, &run->options);
        for (int i = 0; i < RANDOM_TASKS; i++)
                snprintf(run->ids[i], sizeof(run->ids[i]), "r%d", i);
        for (run->step = 0; run->step < steps; run->step++) {
                mark_t m = mark(&run->fx);
                uint32_t action = pick(run, 100);
                bool advanced = false;
                if (action < 16) {
                        random_submit(run);
                } else if (action < 40) {
                        random_result(run);
                } else if (action < 44) {
                        random_producer_event(run, BL_EVENT_CANCELLED);
                } else if (action < 50) {
                        random_producer_event(run, BL_EVENT_UPDATED);
                } else if (action < 52) {
                        random_producer_event(run, BL_EVENT_APPROVED);
                } else if (action < 58) {
                        random_replay(run);
                } else if (action < 72) {
                        random_route(run);
                } else if (action < 86) {
                        int64_t due = bl_backlog_next_due(run->fx.backlog);
                        uint32_t how = pick(run, 10);
                        int64_t to = how < 3 && due != BL_NO_TIME ? (due > run->fx.now ? due : run->fx.now)
                                     : how < 8                    ? run->fx.now + (int64_t)pick(run, 600)
                                                                  : run->fx.now + (int64_t)pick(run, 2500);
                        advance_to(&run->fx, to);
                        advanced = true;
                } else {
                        random_dispatch(run);
                }
                check_step(run, m);
                if (advanced)
                        check_nothing_overdue(run);
                if (spill)
                        bl_backlog_freeze_at_rest(run->fx.backlog);
        }
        return run;
}

static void run_random(uint64_t seed, int steps) {
        random_run_t *run = random_run_with(seed, steps, NULL);
        fixture_done(&run->fx);
        free(run);
}

static void test_random_sequences(void) {
        invariant_messages = 0;
        illegal_emitted = 0;
        for (uint64_t seed = 1; seed <= 6; seed++)
                run_random(seed, 4000);
        CHECK_INT(illegal_emitted, 0);
}

/* Whether two runs' records are the same, change by change and dispatch by dispatch. */
static void check_same_records(const recorder_t *a, const recorder_t *b, uint64_t seed) {
        CHECK_INT(b->change_count, a->change_count);
        CHECK_INT(b->dispatch_count, a->dispatch_count);
        CHECK_INT(b->notice_count, a->notice_count);
        CHECK_INT(b->dead_count, a->dead_count);
        CHECK_INT(b->purge_count, a->purge_count);
        size_t count = a->change_count < b->change_count ? a->change_count : b->change_count;
        for (size_t i = 0; i < count; i++) {
                const rec_change_t *x = &a->changes[i], *y = &b->changes[i];
                bool same = !strcmp(x->task_id, y->task_id) && x->seq == y->seq && x->from == y->from &&
                            x->to == y->to && !strcmp(x->cause, y->cause) && !strcmp(x->reason, y->reason) &&
                            !strcmp(x->dispatch_id, y->dispatch_id) && x->attempt == y->attempt &&
                            x->at_ms == y->at_ms && x->state == y->state && x->item_seq == y->item_seq &&
                            x->item_attempt == y->item_attempt && x->placeholder == y->placeholder &&
                            x->deadline_ms == y->deadline_ms && x->lease_expires_at_ms == y->lease_expires_at_ms &&
                            x->retry_at_ms == y->retry_at_ms && x->terminal_at_ms == y->terminal_at_ms &&
                            x->ready_since_ms == y->ready_since_ms && x->state_since_ms == y->state_since_ms &&
                            x->dependents == y->dependents && x->pending_deps == y->pending_deps &&
                            x->has_payload == y->has_payload && x->labels == y->labels &&
                            x->depends_on == y->depends_on && x->has_traceparent == y->has_traceparent &&
                            x->from_since_ms == y->from_since_ms && x->late == y->late;
                CHECK(same);
                if (!same) {
                        fprintf(stderr, "seed %" PRIu64 ": change %zu differs (%s seq %" PRId64 ")\n", seed, i,
                                x->task_id, x->seq);
                        return;
                }
        }
        count = a->dispatch_count < b->dispatch_count ? a->dispatch_count : b->dispatch_count;
        for (size_t i = 0; i < count; i++)
                CHECK(!strcmp(a->dispatches[i].dispatch_id, b->dispatches[i].dispatch_id) &&
                      a->dispatches[i].decided_at_ms == b->dispatches[i].decided_at_ms &&
                      a->dispatches[i].late == b->dispatches[i].late);
}

/* What a compaction does: the frozen tasks' bytes copied, in walk order, into a new store; the old one freed. */
static void move_blob(bl_frozen_t *frozen, void *opaque) {
        memory_store_t *moved = opaque;
        uint32_t len = bl_frozen_spill_len(frozen);
        moved->bytes = realloc(moved->bytes, moved->size + len);
        memcpy(moved->bytes + moved->size, moved->old_bytes + bl_frozen_spill_offset(frozen), len);
        bl_frozen_move(frozen, moved->size);
        moved->size += len;
        moved->live_bytes += len;
}

static void compact_memory_store(bl_backlog_t *backlog, memory_store_t *store) {
        memory_store_t moved = {.old_bytes = store->bytes};
        bl_backlog_foreach_frozen(backlog, move_blob, &moved);
        CHECK_INT(moved.live_bytes, store->live_bytes);
        free(store->bytes);
        moved.old_bytes = NULL;
        moved.capacity = moved.size;
        *store = moved;
}

/* Every task of the run found whole, after its bytes moved: thawed from their new place. */
static void check_frozen_tasks_thaw(random_run_t *run) {
        for (int i = 0; i < RANDOM_TASKS; i++) {
                const bl_item_t *item = bl_backlog_find(run->fx.backlog, run->ids[i]);
                CHECK(!item || !strcmp(item->task_id, run->ids[i]));
        }
}

/*
 * Tasks frozen after every step and thawed by whatever touches them next (an event, a notice, a timer, a
 * dispatch's dependents, a find) behave as tasks held whole: the same random runs emit the same records.
 */
static void test_frozen_tasks_change_nothing(void) {
        invariant_messages = 0;
        illegal_emitted = 0;
        for (uint64_t seed = 1; seed <= 6; seed++) {
                memory_store_t store = {0};
                bl_spill_ops_t spill = memory_spill_ops(&store);
                random_run_t *whole = random_run_with(seed, 4000, NULL);
                random_run_t *frozen = random_run_with(seed, 4000, &spill);
                check_same_records(&whole->fx.rec, &frozen->fx.rec, seed);
                bl_backlog_spill_stats_t stats;
                bl_backlog_spill_stats(frozen->fx.backlog, &stats);
                CHECK(stats.freezes_total > 100);
                CHECK(stats.thaws_total > 10);
                CHECK_INT(stats.freeze_failures_total, 0);
                CHECK_INT(bl_backlog_size(frozen->fx.backlog), bl_backlog_size(whole->fx.backlog));
                /* Every task, found whole, as the whole run holds it. */
                for (int i = 0; i < RANDOM_TASKS; i++) {
                        const bl_item_t *a = bl_backlog_find(whole->fx.backlog, whole->ids[i]);
                        const bl_item_t *b = bl_backlog_find(frozen->fx.backlog, frozen->ids[i]);
                        CHECK_INT(a != NULL, b != NULL);
                        if (a && b)
                                CHECK(a->seq == b->seq && a->state == b->state && a->attempt == b->attempt &&
                                      a->timer_due_ms == b->timer_due_ms && a->overdue == b->overdue &&
                                      a->recent_event_count == b->recent_event_count);
                }
                fixture_done(&whole->fx);
                free(whole);
                bl_backlog_freeze_at_rest(frozen->fx.backlog);
                compact_memory_store(frozen->fx.backlog, &store);
                check_frozen_tasks_thaw(frozen);
                for (int p = 0; p < 4; p++) /* dropping partitions lets go of every stub's bytes */
                        bl_backlog_drop_partition(frozen->fx.backlog, p);
                bl_backlog_spill_stats(frozen->fx.backlog, &stats);
                CHECK_INT(stats.frozen, 0);
                CHECK_INT(store.live_bytes, 0);
                fixture_done(&frozen->fx);
                free(frozen);
                free(store.bytes);
        }
        CHECK_INT(illegal_emitted, 0);
}

/*
 * The last resort for a culprit whose DEAD change cannot be written either: it is removed (a tombstone, no
 * transition) and its dependents are not told; the forget horizon does not move to now, which would refuse
 * every submission stamped before it.
 */
static void test_give_up_removes_without_moving_the_horizon(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        submit(&fx, "stuck", "stuck");
        submit(&fx, "other", "other");
        int64_t horizon = bl_backlog_forgotten_through(fx.backlog);
        size_t transitions = fx.rec.change_count, purges = fx.rec.purge_count;
        CHECK(bl_backlog_give_up(fx.backlog, "stuck", "outputs: refused; its DEAD change too", true, fx.now));
        CHECK(find(&fx, "stuck") == NULL);
        CHECK_INT(fx.rec.change_count, transitions);
        CHECK_INT(fx.rec.purge_count, purges + 1);
        CHECK_STR(fx.rec.purges[purges].task_id, "stuck");
        CHECK_INT(bl_backlog_forgotten_through(fx.backlog), horizon);
        CHECK_STATE(&fx, "other", BL_STATE_READY);
        fixture_done(&fx);
}

/* ---- SPEC §14: runtime bound and remediation ------------------------------------------------ */

/* A RUNNING task past max_runtime_ms fails (runtime_exceeded) although it heartbeats; it is retried as any failure. */
static void test_runtime_bound(void) {
        bl_backlog_options_t options = default_options();
        options.settings = runtime_bound_settings;
        fixture_t fx;
        fixture_init(&fx, &options);
        submit(&fx, "slow", "slow");
        bl_task_event_t event = submission("unbounded", "slow");
        event.task_type = "long"; /* its task_type has no bound */
        apply(&fx, event);
        CHECK_INT(dispatch(&fx, "slow", 2), 2);
        advance_by(&fx, 300);
        int64_t started = fx.now;
        report(&fx, "slow", BL_EVENT_STARTED, 1);
        report(&fx, "unbounded", BL_EVENT_STARTED, 1);
        mark_t before = mark(&fx);
        for (int beat = 0; beat < 9; beat++) { /* a heartbeat every 500 ms keeps the 1 s lease alive */
                advance_by(&fx, 500);
                report(&fx, "slow", BL_EVENT_HEARTBEAT, 1);
                report(&fx, "unbounded", BL_EVENT_HEARTBEAT, 1);
        }
        CHECK_STATE(&fx, "slow", BL_STATE_RUNNING);
        CHECK_INT(get(&fx, "slow")->state_since_ms, started); /* heartbeats are notes: RUNNING since STARTED */
        CHECK_INT(get(&fx, "slow")->timer_due_ms, started + 5000);
        advance_to(&fx, started + 5000);
        CHECK_STR(path_since(&fx, before, "slow"), "=RUNNING =RUNNING =RUNNING =RUNNING =RUNNING =RUNNING =RUNNING "
                                                   "=RUNNING =RUNNING FAILED RETRY_WAIT");
        const rec_change_t *failed = change_since(&fx, before, "slow", 9);
        CHECK_STR(failed->cause, "runtime_exceeded");
        CHECK_STR(failed->reason, "runtime_exceeded");
        CHECK_STR(bl_item_cold(get(&fx, "slow"))->error_code, "runtime_exceeded");
        CHECK(bl_item_cold(get(&fx, "slow"))->error_retryable);
        CHECK_STATE(&fx, "unbounded", BL_STATE_RUNNING);
        /* its last attempt past the bound: DEAD with the letter, as any failure */
        advance_to(&fx, get(&fx, "slow")->retry_at_ms);
        dispatch(&fx, "slow", 1);
        report(&fx, "slow", BL_EVENT_STARTED, 2);
        advance_by(&fx, 5000);
        CHECK_STATE(&fx, "slow", BL_STATE_RETRY_WAIT);
        advance_to(&fx, get(&fx, "slow")->retry_at_ms);
        dispatch(&fx, "slow", 1);
        report(&fx, "slow", BL_EVENT_STARTED, 3);
        started = fx.now;
        for (int beat = 0; beat < 9; beat++) {
                advance_by(&fx, 500);
                report(&fx, "slow", BL_EVENT_HEARTBEAT, 3);
        }
        advance_to(&fx, started + 4999);
        CHECK_STATE(&fx, "slow", BL_STATE_RUNNING);
        advance_to(&fx, started + 5000);
        CHECK_STATE(&fx, "slow", BL_STATE_DEAD);
        CHECK_INT(last_dead_letter(&fx, "slow")->reason, BL_REASON_RETRIES_EXHAUSTED);
        CHECK_CONTAINS(last_dead_letter(&fx, "slow")->detail, "runtime_exceeded");
        fixture_done(&fx);
}

/* The remediation task's SUBMITTED as the pipeline writes it to tasks.events, applied back. */
static void submit_remediation(fixture_t *fx, const rec_submitted_t *task) {
        const char *keys[] = {BL_LABEL_REMEDIATES};
        const char *values[] = {task->remediates};
        bl_task_event_t event = submission(task->task_id, task->domain);
        event.task_type = task->task_type;
        event.label_keys = keys;
        event.label_values = values;
        event.label_count = 1;
        event.occurred_at_ms = task->submitted_at_ms;
        apply(fx, event);
}

/* Fails every attempt of @p task_id's series from @p first to @p last, waiting out each back-off. */
static void fail_series(fixture_t *fx, const char *task_id, int32_t first, int32_t last) {
        for (int32_t attempt = first; attempt <= last; attempt++) {
                if (get(fx, task_id)->state == BL_STATE_RETRY_WAIT)
                        advance_to(fx, get(fx, task_id)->retry_at_ms);
                CHECK_INT(dispatch(fx, get(fx, task_id)->kind->domain, 1), 1);
                report_failure(fx, task_id, attempt, true);
        }
}

/*
 * A task out of retries that a rule takes waits BLOCKED on a new remediation task instead of the DLQ;
 * when that COMPLETED it runs again with a new series of attempts; past max_rounds it is DEAD as usual.
 */
static void test_remediation_loop(void) {
        bl_backlog_options_t options = remediating_options();
        fixture_t fx;
        fixture_init(&fx, &options);
        submit(&fx, "job", "etl");
        mark_t before = mark(&fx);
        fail_series(&fx, "job", 1, 2);
        CHECK_STR(path_since(&fx, before, "job"), "DISPATCHED FAILED RETRY_WAIT READY DISPATCHED FAILED BLOCKED");
        CHECK_INT(dead_letters_of(&fx, before, "job"), 0);
        const rec_change_t *blocked = last_change(&fx, "job");
        CHECK_STR(blocked->cause, "remediation");
        CHECK_CONTAINS(blocked->reason, "waits on remediation job:remediation:1 (round 1 of 1)");
        CHECK_INT(blocked->pending_deps, 1);
        /* the remediation task, submitted with the change, and the failed task waiting on it */
        CHECK_INT(fx.rec.submitted_count, 1);
        rec_submitted_t task = fx.rec.submitted[0];
        CHECK_STR(task.task_id, "job:remediation:1");
        CHECK_STR(task.domain, "remediation");
        CHECK_STR(task.task_type, "fix");
        CHECK_STR(task.remediates, "job");
        const rec_notice_t *waiting = notice_at(&fx, fx.rec.notice_count - 1);
        CHECK(!waiting->is_outcome);
        CHECK_STR(waiting->to, "job:remediation:1");
        CHECK_STR(waiting->from, "job");
        route(&fx); /* ahead of the submission: a placeholder holds the dependent */
        submit_remediation(&fx, &task);
        CHECK_STATE(&fx, "job:remediation:1", BL_STATE_READY);
        CHECK_INT(dispatch(&fx, "remediation", 1), 1);
        report(&fx, "job:remediation:1", BL_EVENT_COMPLETED, 1);
        route(&fx);
        CHECK_STATE(&fx, "job", BL_STATE_READY);
        const rec_change_t *resolved = change_since(&fx, before, "job", 7);
        CHECK_STR(resolved->cause, "remediated");
        CHECK_STR(resolved->reason, "job:remediation:1");
        /* a new series of two attempts, numbered on: 3 and 4; then no round is left */
        before = mark(&fx);
        fail_series(&fx, "job", 3, 4);
        CHECK_STR(path_since(&fx, before, "job"), "DISPATCHED FAILED RETRY_WAIT READY DISPATCHED FAILED DEAD");
        CHECK_STR(dispatch_at(&fx, fx.rec.dispatch_count - 1)->dispatch_id, "job/4");
        CHECK_INT(dead_letters_of(&fx, before, "job"), 1);
        CHECK_CONTAINS(last_dead_letter(&fx, "job")->detail, "retries exhausted after attempt 4 of 4");
        CHECK_INT(fx.rec.submitted_count, 1);
        fixture_done(&fx);
}

/* "job" out of retries, and the remediation task a rule made for it submitted: job waits on it. */
static void job_waiting_on_its_remediation(fixture_t *fx) {
        submit(fx, "job", "etl");
        fail_series(fx, "job", 1, 2);
        CHECK_INT(fx->rec.submitted_count, 1);
        route(fx);
        submit_remediation(fx, &fx->rec.submitted[0]);
}

/* A remediation task that does not complete fails the task it was for (dependency_failed), to the DLQ. */
static void test_remediation_that_fails(void) {
        bl_backlog_options_t options = remediating_options();
        fixture_t fx;
        fixture_init(&fx, &options);
        job_waiting_on_its_remediation(&fx);
        send(&fx, "job:remediation:1", BL_EVENT_CANCELLED);
        route(&fx);
        CHECK_STATE(&fx, "job", BL_STATE_DEAD);
        CHECK_INT(last_dead_letter(&fx, "job")->reason, BL_REASON_DEPENDENCY_FAILED);
        fixture_done(&fx);
}

/*
 * A remediation task that runs out of retries is DEAD even when a rule would take it: a rule for
 * every task type must not start a chain without end (job:remediation:1:remediation:1, ...).
 */
static void test_remediation_task_not_remediated_in_turn(void) {
        bl_backlog_options_t options = remediating_options();
        options.remediation = remediate_every_task;
        fixture_t fx;
        fixture_init(&fx, &options);
        job_waiting_on_its_remediation(&fx);
        mark_t before = mark(&fx);
        fail_series(&fx, "job:remediation:1", 1, 2);
        CHECK_STR(path_since(&fx, before, "job:remediation:1"),
                  "DISPATCHED FAILED RETRY_WAIT READY DISPATCHED FAILED DEAD");
        CHECK_INT(fx.rec.submitted_count, 1);
        route(&fx);
        CHECK_STATE(&fx, "job", BL_STATE_DEAD);
        CHECK_INT(last_dead_letter(&fx, "job")->reason, BL_REASON_DEPENDENCY_FAILED);
        /* a producer's task whose id merely looks like one is remediated as any other */
        bl_task_event_t lookalike = submission("other:remediation:1", "etl");
        const char *keys[] = {BL_LABEL_REMEDIATES};
        const char *values[] = {"someone-else"};
        lookalike.label_keys = keys;
        lookalike.label_values = values;
        lookalike.label_count = 1;
        apply(&fx, lookalike);
        fail_series(&fx, "other:remediation:1", 1, 2);
        CHECK_STATE(&fx, "other:remediation:1", BL_STATE_BLOCKED);
        CHECK_INT(fx.rec.submitted_count, 2);
        fixture_done(&fx);
}

/*
 * A remediation task's id is the failed task's and ":remediation:<round>", its SUBMITTED's event id
 * that and ":submitted": when they would not pass limits.id_max_bytes, the SUBMITTED would be
 * dead-lettered and the task would wait for it for ever. It goes DEAD instead, and the letter says why.
 */
static void test_remediation_id_within_the_id_limit(void) {
        bl_backlog_options_t options = remediating_options();
        options.id_max_bytes = 40;
        fixture_t fx;
        fixture_init(&fx, &options);
        submit(&fx, "twenty-five-bytes-task-id", "etl"); /* 25 + 13 + 1 + 10 = 49 bytes of event id */
        submit(&fx, "sixteen-byte-job", "load");         /* 16 + 13 + 1 + 10 = 40: just fits */
        fail_series(&fx, "twenty-five-bytes-task-id", 1, 2);
        CHECK_STATE(&fx, "twenty-five-bytes-task-id", BL_STATE_DEAD);
        CHECK_INT(last_dead_letter(&fx, "twenty-five-bytes-task-id")->reason, BL_REASON_RETRIES_EXHAUSTED);
        CHECK_CONTAINS(last_dead_letter(&fx, "twenty-five-bytes-task-id")->detail,
                       "retries exhausted after attempt 2 of 2, no remediation: its task's event id would be 49 "
                       "bytes, over limits.id_max_bytes (40)");
        CHECK_INT(fx.rec.submitted_count, 0);
        fail_series(&fx, "sixteen-byte-job", 1, 2);
        CHECK_STATE(&fx, "sixteen-byte-job", BL_STATE_BLOCKED);
        CHECK_INT(fx.rec.submitted_count, 1);
        CHECK_STR(fx.rec.submitted[0].task_id, "sixteen-byte-job:remediation:1");
        fixture_done(&fx);
}

/* A task_id as long as any configuration admits keeps its whole dispatch_id: no two tasks share one. */
static void test_dispatch_id_of_the_longest_task_id(void) {
        fixture_t fx;
        fixture_init(&fx, NULL);
        static char ids[2][BL_ID_MAX_BYTES + 1];
        for (int i = 0; i < 2; i++) {
                memset(ids[i], 'a', BL_ID_MAX_BYTES);
                ids[i][BL_ID_MAX_BYTES - 1] = (char)('0' + i);
                submit(&fx, ids[i], "etl");
        }
        CHECK_INT(dispatch(&fx, "etl", 2), 2);
        for (int i = 0; i < 2; i++) {
                const rec_dispatch_t *sent = dispatch_at(&fx, fx.rec.dispatch_count - 2 + (size_t)i);
                CHECK_INT(sent->dispatch_id_size, BL_ID_MAX_BYTES + 2);
                CHECK_STR(sent->dispatch_id_tail, i == 0 ? "aaaa0/1" : "aaaa1/1");
        }
        fixture_done(&fx);
}

int main(void) {
        RUN(test_table_matches_spec);
        RUN(test_remediation_task_not_remediated_in_turn);
        RUN(test_remediation_id_within_the_id_limit);
        RUN(test_dispatch_id_of_the_longest_task_id);
        RUN(test_runtime_bound);
        RUN(test_remediation_loop);
        RUN(test_remediation_that_fails);
        RUN(test_give_up_removes_without_moving_the_horizon);
        RUN(test_every_legal_change_reached);
        RUN(test_illegal_events_rejected);
        RUN(test_lifecycle);
        RUN(test_retry_with_backoff);
        RUN(test_retries_exhausted);
        RUN(test_backoff_grows_with_attempts);
        RUN(test_lease_expiry);
        RUN(test_timer_due_again_at_once);
        RUN(test_deadlines);
        RUN(test_update_rescues_late_submission);
        RUN(test_not_before);
        RUN(test_not_before_with_dependency);
        RUN(test_duplicates);
        RUN(test_dedup_window);
        RUN(test_stale_results);
        RUN(test_dependency_completes);
        RUN(test_dependency_on_unknown_task);
        RUN(test_dependency_fails);
        RUN(test_dependency_already_over);
        RUN(test_dependency_fails_for_late_submission);
        RUN(test_cancel_from_each_state);
        RUN(test_approval_carries_actor_and_reason);
        RUN(test_rejection_cancels_with_the_reason);
        RUN(test_cancel_says_who_and_why);
        RUN(test_cancel_of_held_task_notifies_its_worker);
        RUN(test_update_raising_risk_asks_for_approval);
        RUN(test_on_deadline_dispatch_late);
        RUN(test_on_deadline_escalate);
        RUN(test_decision_deadline);
        RUN(test_transition_says_since_when);
        RUN(test_new_policy_reevaluates_approval);
        RUN(test_dispatch_checks_approval_under_the_policy_in_force);
        RUN(test_retention);
        RUN(test_retention_at_its_maximum_never_purges);
        RUN(test_retention_zero_purges_at_once_and_refuses_the_old_submission);
        RUN(test_forgotten_tasks_stay_refused_after_a_restart);
        RUN(test_retention_counts_from_a_submission_stamped_ahead);
        RUN(test_lease_at_its_extremes);
        RUN(test_retry_backoff_at_its_extremes);
        RUN(test_rescore_interval_at_its_extremes);
        RUN(test_terminal_tasks_keep_only_what_dedup_needs);
        RUN(test_restore_trims_terminal_tasks);
        RUN(test_restore);
        RUN(test_restore_into_frozen_tasks);
        RUN(test_restore_from_a_view_holds_the_same);
        RUN(test_a_refused_freeze_keeps_tasks_whole);
        RUN(test_a_lost_frozen_task_stops_the_instance);
        RUN(test_drop_partition_before_the_freeze);
        RUN(test_restore_ignores_a_copied_touched_mark);
        RUN(test_touched_list_loses_tasks_in_any_order);
        RUN(test_drop_partition);
        RUN(test_fifo_dispatch);
        RUN(test_many_timers);
        RUN(test_random_sequences);
        RUN(test_frozen_tasks_change_nothing);
        return check_exit_status();
}
