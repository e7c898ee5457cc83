/*
 * test_history.c: the fold of `backlogd replay --verify` on hand-built
 * transition sequences: a clean chain rebuilds the task with the payload of
 * its first transition; a gap, a wrong from_state, an illegal jump, an item
 * that disagrees with its transition, a task split across partitions and
 * unreadable records are each reported with the task and seq; snapshots are
 * compared field by field, sets without regard to order; purged tasks are
 * told apart from missing ones; reports come in task_id order.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/history.h"

/* ---- fixtures --------------------------------------------------------------- */

static bl_item_t *item_in(const char *task_id, bl_state_t state, int64_t seq, int32_t attempt) {
        bl_item_t *item = bl_item_new(task_id, 1);
        item->state = state;
        item->seq = seq;
        item->attempt = attempt;
        bl_item_set_kind(item, "batch_inference", "model_inference", NULL, "standard");
        item->business_value = 0.5;
        item->risk = 0.25;
        item->submitted_at_ms = 1795849200000;
        item->state_since_ms = 1795849200000 + seq;
        return item;
}

static void give_payload(bl_item_t *item, const char *bytes) {
        item->payload = strdup(bytes);
        item->payload_size = strlen(bytes);
        item->has_payload = true;
}

/* A transition to @p to (from @p from, or none when @p from is -1) with a matching item. */
static bl_err_t fold(bl_history_t *history, const char *task_id, int64_t seq, int from, bl_state_t to,
                     int32_t attempt) {
        bl_transition_t t = {.task_id = task_id,
                             .seq = seq,
                             .has_from = from >= 0,
                             .from = from >= 0 ? (bl_state_t)from : BL_STATE_QUEUED,
                             .to = to,
                             .cause = "test",
                             .attempt = attempt,
                             .at_ms = 1795849200000 + seq};
        bl_item_t *item = item_in(task_id, to, seq, attempt);
        if (seq == 1)
                give_payload(item, "payload-bytes");
        return bl_history_fold(history, &t, item, 1, seq * 10);
}

/* A clean chain: submitted, ready, dispatched, started, a heartbeat, completed. */
static void fold_clean(bl_history_t *history, const char *task_id) {
        CHECK_INT(fold(history, task_id, 1, -1, BL_STATE_QUEUED, 0), BL_OK);
        CHECK_INT(fold(history, task_id, 2, BL_STATE_QUEUED, BL_STATE_READY, 0), BL_OK);
        CHECK_INT(fold(history, task_id, 3, BL_STATE_READY, BL_STATE_DISPATCHED, 1), BL_OK);
        CHECK_INT(fold(history, task_id, 4, BL_STATE_DISPATCHED, BL_STATE_RUNNING, 1), BL_OK);
        CHECK_INT(fold(history, task_id, 5, BL_STATE_RUNNING, BL_STATE_RUNNING, 1), BL_OK);
        CHECK_INT(fold(history, task_id, 6, BL_STATE_RUNNING, BL_STATE_COMPLETED, 1), BL_OK);
}

/* What a report said, for the checks. */
typedef struct recorded_s {
        char chain[16][512];
        int64_t chain_seq[16];
        char chain_task[16][64];
        size_t chain_count;
        char message[16][1024];
        char field[16][64];
        char task[16][64];
        size_t difference_count;
} recorded_t;

static void on_chain_error(void *opaque, const bl_history_chain_error_t *error) {
        recorded_t *r = opaque;
        if (r->chain_count < 16) {
                snprintf(r->chain[r->chain_count], sizeof(r->chain[0]), "%s", error->what);
                snprintf(r->chain_task[r->chain_count], sizeof(r->chain_task[0]), "%s", error->task_id);
                r->chain_seq[r->chain_count] = error->seq;
        }
        r->chain_count++;
}

static void on_difference(void *opaque, const bl_history_difference_t *difference) {
        recorded_t *r = opaque;
        if (r->difference_count < 16) {
                snprintf(r->message[r->difference_count], sizeof(r->message[0]), "%s", difference->message);
                snprintf(r->field[r->difference_count], sizeof(r->field[0]), "%s", difference->field);
                snprintf(r->task[r->difference_count], sizeof(r->task[0]), "%s", difference->task_id);
        }
        r->difference_count++;
}

static bl_history_totals_t verify(const bl_history_t *history, recorded_t *recorded) {
        bl_history_report_t report = {on_chain_error, on_difference, recorded};
        bl_history_totals_t totals;
        memset(recorded, 0, sizeof(*recorded));
        CHECK_INT(bl_history_verify(history, &report, &totals), BL_OK);
        return totals;
}

/* The snapshot backlog.state would hold after a clean chain: the last item with the payload. */
static bl_item_t *snapshot_of_clean(const char *task_id) {
        bl_item_t *item = item_in(task_id, BL_STATE_COMPLETED, 6, 1);
        give_payload(item, "payload-bytes");
        return item;
}

/* ---- the chain ---------------------------------------------------------------- */

static void test_clean_chain_rebuilds_the_snapshot(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold_clean(history, "t-1");
        const bl_item_t *rebuilt = bl_history_rebuilt(history, "t-1");
        CHECK(rebuilt != NULL);
        CHECK_INT(rebuilt->state, BL_STATE_COMPLETED);
        CHECK_INT(rebuilt->seq, 6);
        CHECK(rebuilt->has_payload);
        CHECK_INT(rebuilt->payload_size, strlen("payload-bytes"));
        CHECK(!memcmp(rebuilt->payload, "payload-bytes", rebuilt->payload_size));
        CHECK_INT(bl_history_store(history, "t-1", snapshot_of_clean("t-1"), 1), BL_OK);
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 0);
        CHECK_INT(recorded.difference_count, 0);
        CHECK_INT(totals.tasks, 1);
        CHECK_INT(totals.verified, 1);
        CHECK_INT(totals.purged, 0);
        CHECK_INT(bl_history_task_count(history), 1);
        bl_history_destroy(history);
}

static void test_gap_is_reported(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-gap", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-gap", 2, BL_STATE_QUEUED, BL_STATE_READY, 0);
        fold(history, "t-gap", 4, BL_STATE_READY, BL_STATE_DISPATCHED, 1);
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 1);
        CHECK_STR(recorded.chain[0], "seq 4 follows seq 2: 1 missing");
        CHECK_INT(recorded.chain_seq[0], 4);
        CHECK_STR(recorded.chain_task[0], "t-gap");
        CHECK_INT(totals.broken, 1);
        CHECK_INT(totals.verified, 0);
        /* no snapshot, not terminal: also a difference */
        CHECK_INT(recorded.difference_count, 1);
        CHECK_STR(recorded.field[0], "task");
        bl_history_destroy(history);
}

static void test_history_must_start_at_seq_1(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-late", 3, BL_STATE_READY, BL_STATE_DISPATCHED, 1);
        fold(history, "t-late", 3, BL_STATE_READY, BL_STATE_DISPATCHED, 1);
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 4);
        CHECK_STR(recorded.chain[0], "history starts at seq 3, not 1");
        CHECK_STR(recorded.chain[1], "seq 3 is the first transition but has from_state READY");
        CHECK_STR(recorded.chain[2], "seq 3 follows seq 3: repeated or out of order");
        CHECK_STR(recorded.chain[3], "seq 3 has from_state READY, but the transition before it went to DISPATCHED");
        bl_history_destroy(history);
}

static void test_wrong_from_state_is_reported(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-from", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-from", 2, BL_STATE_QUEUED, BL_STATE_READY, 0);
        fold(history, "t-from", 3, BL_STATE_QUEUED, BL_STATE_BLOCKED, 0); /* legal, but not from READY */
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 1);
        CHECK_STR(recorded.chain[0], "seq 3 has from_state QUEUED, but the transition before it went to READY");
        CHECK_INT(recorded.chain_seq[0], 3);
        bl_history_destroy(history);
}

static void test_missing_from_state_is_reported(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-nofrom", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-nofrom", 2, -1, BL_STATE_READY, 0);
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 1);
        CHECK_STR(recorded.chain[0], "seq 2 has no from_state");
        bl_history_destroy(history);
}

static void test_illegal_jump_is_reported(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-jump", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-jump", 2, BL_STATE_QUEUED, BL_STATE_RUNNING, 0);
        fold(history, "t-jump", 3, BL_STATE_RUNNING, BL_STATE_COMPLETED, 0);
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 1);
        CHECK_STR(recorded.chain[0], "seq 2: QUEUED -> RUNNING is not a legal transition");
        bl_history_destroy(history);
}

static void test_terminal_states_are_final(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-final", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-final", 2, BL_STATE_QUEUED, BL_STATE_CANCELLED, 0);
        fold(history, "t-final", 3, BL_STATE_CANCELLED, BL_STATE_CANCELLED, 0); /* a note: allowed */
        fold(history, "t-final", 4, BL_STATE_CANCELLED, BL_STATE_READY, 0);
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 1);
        CHECK_STR(recorded.chain[0], "seq 4: CANCELLED -> READY is not a legal transition");
        bl_history_destroy(history);
}

static void test_item_that_disagrees_with_its_transition(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        bl_transition_t t = {.task_id = "t-item", .seq = 2, .has_from = true, .from = BL_STATE_QUEUED,
                             .to = BL_STATE_READY, .cause = "SUBMITTED", .attempt = 0};
        fold(history, "t-item", 1, -1, BL_STATE_QUEUED, 0);
        CHECK_INT(bl_history_fold(history, &t, item_in("t-item", BL_STATE_BLOCKED, 7, 2), 1, 20), BL_OK);
        t.seq = 3;
        t.from = BL_STATE_READY;
        t.to = BL_STATE_DISPATCHED;
        CHECK_INT(bl_history_fold(history, &t, NULL, 1, 30), BL_OK);
        t.seq = 4;
        t.from = BL_STATE_DISPATCHED;
        t.to = BL_STATE_RUNNING;
        CHECK_INT(bl_history_fold(history, &t, item_in("t-other", BL_STATE_RUNNING, 4, 0), 1, 40), BL_OK);
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 5);
        CHECK_STR(recorded.chain[0], "seq 2 goes to READY, but its item is in BLOCKED");
        CHECK_STR(recorded.chain[1], "seq 2 carries an item with seq 7");
        CHECK_STR(recorded.chain[2], "seq 2 has attempt 0, but its item has attempt 2");
        CHECK_STR(recorded.chain[3], "seq 3 carries no item");
        CHECK_STR(recorded.chain[4], "seq 4 carries the item of t-other");
        bl_history_destroy(history);
}

static void test_task_split_across_partitions(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        bl_transition_t t = {.task_id = "t-split", .seq = 2, .has_from = true, .from = BL_STATE_QUEUED,
                             .to = BL_STATE_READY, .cause = "SUBMITTED"};
        fold(history, "t-split", 1, -1, BL_STATE_QUEUED, 0);
        bl_history_fold(history, &t, item_in("t-split", BL_STATE_READY, 2, 0), 2, 5);
        verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 1);
        CHECK_STR(recorded.chain[0], "seq 2 is in partition 2, the transitions before it in 1");
        bl_history_destroy(history);
}

static void test_purged_task_submitted_again_starts_anew(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold_clean(history, "t-again");
        fold(history, "t-again", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-again", 2, BL_STATE_QUEUED, BL_STATE_READY, 0);
        bl_item_t *snapshot = item_in("t-again", BL_STATE_READY, 2, 0);
        give_payload(snapshot, "payload-bytes");
        bl_history_store(history, "t-again", snapshot, 1);
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 0);
        CHECK_INT(recorded.difference_count, 0);
        CHECK_INT(totals.verified, 1);
        bl_history_destroy(history);
}

static void test_unreadable_records(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold_clean(history, "t-bad");
        CHECK_INT(bl_history_fold_unreadable(history, "t-bad", 1, 70, "decode.avro: truncated"), BL_OK);
        CHECK_INT(bl_history_fold_unreadable(history, NULL, 0, 3, "decode.wire_format: magic byte 7"), BL_OK);
        CHECK_INT(bl_history_store_unreadable(history, "t-bad", 1, 9, "decode.schema_unknown: id 99"), BL_OK);
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 2);
        CHECK_STR(recorded.chain_task[0], "");
        CHECK_CONTAINS(recorded.chain[0], "magic byte 7");
        CHECK_STR(recorded.chain[1], "a transition cannot be read: decode.avro: truncated");
        CHECK_INT(recorded.difference_count, 1);
        CHECK_STR(recorded.field[0], "snapshot");
        CHECK_CONTAINS(recorded.message[0], "partition 1 offset 9");
        CHECK_INT(totals.tasks, 1);
        CHECK_INT(totals.chain_errors, 2);
        bl_history_destroy(history);
}

/* ---- comparing with backlog.state ---------------------------------------------- */

static void test_state_difference_is_named(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold(history, "t-1", 1, -1, BL_STATE_QUEUED, 0);
        fold(history, "t-1", 2, BL_STATE_QUEUED, BL_STATE_READY, 0);
        fold(history, "t-1", 3, BL_STATE_READY, BL_STATE_DISPATCHED, 1);
        bl_item_t *snapshot = item_in("t-1", BL_STATE_RUNNING, 3, 1);
        give_payload(snapshot, "payload-bytes");
        snapshot->state_since_ms = 1795849200000 + 3;
        bl_history_store(history, "t-1", snapshot, 1);
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.difference_count, 1);
        CHECK_STR(recorded.message[0],
                  "task t-1: state is RUNNING in backlog.state, DISPATCHED rebuilt from backlog.transitions");
        CHECK_STR(recorded.field[0], "state");
        CHECK_INT(totals.differing, 1);
        CHECK_INT(totals.differences, 1);
        CHECK_INT(totals.verified, 0);
        bl_history_destroy(history);
}

static void record_field(const char *field, const char *stored, const char *rebuilt, void *opaque) {
        recorded_t *r = opaque;
        if (r->difference_count < 16) {
                snprintf(r->field[r->difference_count], sizeof(r->field[0]), "%s", field);
                snprintf(r->message[r->difference_count], sizeof(r->message[0]), "%s | %s", stored, rebuilt);
        }
        r->difference_count++;
}

static void test_every_field_is_compared(void) {
        bl_item_t *a = item_in("t-f", BL_STATE_BLOCKED, 4, 1), *b = item_in("t-f", BL_STATE_BLOCKED, 4, 1);
        recorded_t recorded = {0};
        bl_strvec_push(&bl_item_cold_for_write(a)->pending_deps, "d-1");
        bl_strvec_push(&bl_item_cold_for_write(a)->pending_deps, "d-2");
        bl_strvec_push(&bl_item_cold_for_write(b)->pending_deps, "d-2");
        bl_strvec_push(&bl_item_cold_for_write(b)->pending_deps, "d-1"); /* same set, other order */
        bl_labels_set(&bl_item_cold_for_write(a)->labels, (const char *const[]){"team", "model"},
                      (const char *const[]){"ml", "r50"}, 2);
        bl_labels_set(&bl_item_cold_for_write(b)->labels, (const char *const[]){"model", "team"},
                      (const char *const[]){"r50", "ml"}, 2); /* the same map, in another order */
        CHECK_INT(bl_history_diff_items(a, b, record_field, &recorded), 0);

        bl_strvec_push(&bl_item_cold_for_write(b)->dependents, "c-1");
        b->lease_expires_at_ms = 1795849260000;
        b->retry_at_ms = 1795849200500;
        b->terminal_at_ms = 1795849200001;
        b->deadline_ms = 1795849300000;
        b->not_before_ms = 1795849100000;
        b->ready_since_ms = 1795849200002;
        b->max_attempts = 5;
        b->approved = true;
        bl_item_cold_for_write(b)->has_last_error = true;
        bl_item_cold_for_write(b)->error_code = strdup("oom");
        bl_item_cold_for_write(b)->error_message = strdup("out of memory");
        bl_item_cold_for_write(b)->error_retryable = true;
        give_payload(b, "abc");
        bl_labels_set(&bl_item_cold_for_write(b)->labels, (const char *const[]){"model", "team"},
                      (const char *const[]){"r101", "ml"}, 2);
        int count = bl_history_diff_items(a, b, record_field, &recorded);
        CHECK_INT(count, 12);
        const char *expected[] = {"max_attempts", "deadline", "not_before", "ready_since", "lease_expires_at",
                                  "retry_at", "terminal_at", "dependents", "approved", "labels", "payload",
                                  "last_error"};
        for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
                bool found = false;
                for (size_t j = 0; j < recorded.difference_count && j < 16; j++)
                        found |= !strcmp(recorded.field[j], expected[i]);
                CHECK(found);
        }
        /* and the two that are about the item, not its history */
        bool state_since = false, lease = false;
        for (size_t j = 0; j < recorded.difference_count && j < 16; j++) {
                if (!strcmp(recorded.field[j], "lease_expires_at")) {
                        CHECK_STR(recorded.message[j], "none | 2026-11-28T07:01:00.000Z");
                        lease = true;
                }
                if (!strcmp(recorded.field[j], "labels"))
                        CHECK_STR(recorded.message[j], "{model=r50, team=ml} | {model=r101, team=ml}");
                if (!strcmp(recorded.field[j], "payload"))
                        CHECK_CONTAINS(recorded.message[j], "none | 3 bytes (fnv1a ");
                if (!strcmp(recorded.field[j], "last_error"))
                        CHECK_STR(recorded.message[j], "none | oom: out of memory (retryable)");
                state_since |= !strcmp(recorded.field[j], "state_since");
        }
        CHECK(lease);
        CHECK(!state_since);

        /* the same payload size with other bytes still differs */
        bl_item_t *c = item_in("t-f", BL_STATE_BLOCKED, 4, 1), *d = item_in("t-f", BL_STATE_BLOCKED, 4, 1);
        give_payload(c, "abc");
        give_payload(d, "abd");
        memset(&recorded, 0, sizeof(recorded));
        CHECK_INT(bl_history_diff_items(c, d, record_field, &recorded), 1);
        CHECK_STR(recorded.field[0], "payload");
        d->partition = 2;
        memset(&recorded, 0, sizeof(recorded));
        CHECK_INT(bl_history_diff_items(c, d, record_field, &recorded), 2);
        CHECK_STR(recorded.field[0], "partition");
        bl_item_destroy(a);
        bl_item_destroy(b);
        bl_item_destroy(c);
        bl_item_destroy(d);
}

static void test_purged_and_missing_tasks(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold_clean(history, "t-done");             /* COMPLETED, no snapshot: purged */
        fold_clean(history, "t-tomb");             /* COMPLETED, tombstone: purged */
        bl_history_store(history, "t-tomb", NULL, 1);
        fold(history, "t-live", 1, -1, BL_STATE_QUEUED, 0); /* QUEUED, tombstone: wrong */
        bl_history_store(history, "t-live", NULL, 1);
        fold(history, "t-lost", 1, -1, BL_STATE_QUEUED, 0); /* QUEUED, nothing: wrong */
        bl_history_store(history, "t-orphan", item_in("t-orphan", BL_STATE_READY, 2, 0), 1);
        bl_history_store(history, "t-gone", NULL, 1); /* a tombstone whose history expired */
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.chain_count, 0);
        CHECK_INT(totals.tasks, 6);
        CHECK_INT(totals.purged, 3);
        CHECK_INT(totals.verified, 0);
        CHECK_INT(totals.differing, 3);
        CHECK_INT(recorded.difference_count, 3);
        CHECK_STR(recorded.task[0], "t-live");
        CHECK_STR(recorded.message[0], "task t-live: a tombstone in backlog.state, QUEUED rebuilt from "
                                       "backlog.transitions (only a terminal task is purged)");
        CHECK_STR(recorded.task[1], "t-lost");
        CHECK_CONTAINS(recorded.message[1], "no snapshot in backlog.state, QUEUED rebuilt");
        CHECK_STR(recorded.task[2], "t-orphan");
        CHECK_STR(recorded.message[2], "task t-orphan: READY in backlog.state, no history in backlog.transitions");
        bl_history_destroy(history);
}

static void test_placeholder_may_be_purged(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        bl_transition_t t = {.task_id = "t-ph", .seq = 1, .to = BL_STATE_QUEUED, .cause = "dependent_registered"};
        bl_item_t *item = item_in("t-ph", BL_STATE_QUEUED, 1, 0);
        item->placeholder = true;
        bl_history_fold(history, &t, item, 1, 0);
        bl_history_store(history, "t-ph", NULL, 1);
        bl_history_totals_t totals = verify(history, &recorded);
        CHECK_INT(recorded.difference_count, 0);
        CHECK_INT(totals.purged, 1);
        bl_history_destroy(history);
}

static void test_latest_snapshot_wins_and_order_is_by_task(void) {
        bl_history_t *history = bl_history_new();
        recorded_t recorded;
        fold_clean(history, "t-b");
        fold_clean(history, "t-a");
        bl_history_store(history, "t-b", item_in("t-b", BL_STATE_RUNNING, 4, 1), 1);
        bl_history_store(history, "t-b", snapshot_of_clean("t-b"), 1); /* replaces the older one */
        bl_history_store(history, "t-a", snapshot_of_clean("t-a"), 1);
        bl_history_store(history, "t-a", item_in("t-a", BL_STATE_RUNNING, 4, 1), 1); /* a stale write after */
        verify(history, &recorded);
        CHECK(recorded.difference_count >= 2);
        for (size_t i = 0; i < recorded.difference_count && i < 16; i++)
                CHECK_STR(recorded.task[i], "t-a");
        CHECK_STR(recorded.field[0], "state");
        CHECK_STR(recorded.field[1], "seq");
        bl_history_destroy(history);
}

static void test_format_time(void) {
        char out[48];
        CHECK_STR(bl_history_format_time(1795849200000, out, sizeof(out)), "2026-11-28T07:00:00.000Z");
        CHECK_STR(bl_history_format_time(1795849200283, out, sizeof(out)), "2026-11-28T07:00:00.283Z");
        CHECK_STR(bl_history_format_time(BL_NO_TIME, out, sizeof(out)), "none");
        CHECK_STR(bl_history_format_time(0, out, sizeof(out)), "1970-01-01T00:00:00.000Z");
}

int main(void) {
        RUN(test_clean_chain_rebuilds_the_snapshot);
        RUN(test_gap_is_reported);
        RUN(test_history_must_start_at_seq_1);
        RUN(test_wrong_from_state_is_reported);
        RUN(test_missing_from_state_is_reported);
        RUN(test_illegal_jump_is_reported);
        RUN(test_terminal_states_are_final);
        RUN(test_item_that_disagrees_with_its_transition);
        RUN(test_task_split_across_partitions);
        RUN(test_purged_task_submitted_again_starts_anew);
        RUN(test_unreadable_records);
        RUN(test_state_difference_is_named);
        RUN(test_every_field_is_compared);
        RUN(test_purged_and_missing_tasks);
        RUN(test_placeholder_may_be_purged);
        RUN(test_latest_snapshot_wins_and_order_is_by_task);
        RUN(test_format_time);
        return check_exit_status();
}
