/*
 * test_credit.c: lag-driven backpressure accounting: own records against
 * the workers' committed offsets, aborted transactions forgotten, throttling
 * with hysteresis, credit shared by partition share.
 */
#include "check.h"
#include "core/credit.h"

static void record_committed(bl_credit_t *credit, const char *domain, int32_t partition, int64_t from, int64_t to) {
        for (int64_t offset = from; offset < to; offset++)
                bl_credit_record(credit, domain, partition, offset);
        bl_credit_transaction_committed(credit);
}

static void test_outstanding_follows_workers(void) {
        bl_credit_t *credit = bl_credit_new();
        CHECK(bl_credit_set_domain(credit, "eval", 2, 100, 50));
        record_committed(credit, "eval", 0, 0, 10);
        record_committed(credit, "eval", 1, 0, 5);
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 15);
        bl_credit_committed(credit, "eval", 0, 4); /* workers read offsets 0..3 */
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 11);
        bl_credit_committed(credit, "eval", 1, 5);
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 6);
        CHECK_INT(bl_credit_outstanding(credit, "unknown"), 0);
        bl_credit_destroy(credit);
}

/* Offsets other producers wrote, and transaction markers, are not ours: they never count. */
static void test_markers_and_foreign_records_do_not_count(void) {
        bl_credit_t *credit = bl_credit_new();
        bl_credit_set_domain(credit, "eval", 1, 100, 50);
        bl_credit_record(credit, "eval", 0, 10);
        bl_credit_record(credit, "eval", 0, 12); /* 11 was a commit marker */
        bl_credit_transaction_committed(credit);
        bl_credit_committed(credit, "eval", 0, 11);
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 1);
        bl_credit_committed(credit, "eval", 0, 14); /* past our last record and its marker */
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 0);
        bl_credit_destroy(credit);
}

static void test_aborted_records_are_forgotten(void) {
        bl_credit_t *credit = bl_credit_new();
        bl_credit_set_domain(credit, "eval", 1, 100, 50);
        record_committed(credit, "eval", 0, 0, 3);
        bl_credit_record(credit, "eval", 0, 3);
        bl_credit_record(credit, "eval", 0, 4);
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 5);
        bl_credit_transaction_aborted(credit);
        CHECK_INT(bl_credit_outstanding(credit, "eval"), 3);
        bl_credit_destroy(credit);
}

static void test_throttle_with_hysteresis(void) {
        bool changed;
        bl_credit_t *credit = bl_credit_new();
        bl_credit_set_domain(credit, "eval", 1, 10, 4);
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, &changed), 10);
        record_committed(credit, "eval", 0, 0, 10);
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, &changed), 0);
        CHECK(changed && bl_credit_throttled(credit, "eval"));
        bl_credit_committed(credit, "eval", 0, 5); /* 5 outstanding: below max, not below resume */
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, &changed), 0);
        CHECK(!changed && bl_credit_throttled(credit, "eval"));
        bl_credit_committed(credit, "eval", 0, 7); /* 3 outstanding: open again */
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, &changed), 7);
        CHECK(changed && !bl_credit_throttled(credit, "eval"));
        bl_credit_destroy(credit);
}

static void test_share_splits_the_budget(void) {
        bl_credit_t *credit = bl_credit_new();
        bl_credit_set_domain(credit, "eval", 4, 100, 50);
        CHECK_INT(bl_credit_available(credit, "eval", 0.5, NULL), 50);
        CHECK_INT(bl_credit_available(credit, "eval", 0.25, NULL), 25);
        record_committed(credit, "eval", 2, 0, 25);
        CHECK_INT(bl_credit_available(credit, "eval", 0.25, NULL), 0);
        CHECK_INT(bl_credit_available(credit, "other", 0.25, NULL), (long long)SIZE_MAX);
        /* A share so small that resume rounds to nothing still opens when its work is done. */
        bl_credit_set_domain(credit, "tiny", 1, 2, 1);
        record_committed(credit, "tiny", 0, 0, 1);
        CHECK_INT(bl_credit_available(credit, "tiny", 0.1, NULL), 0);
        bl_credit_committed(credit, "tiny", 0, 1);
        CHECK_INT(bl_credit_available(credit, "tiny", 0.1, NULL), 1);
        bl_credit_destroy(credit);
}

/* The status page's view: what available would say, without moving the throttle either way. */
static void test_peek_changes_nothing(void) {
        int64_t limit = -1, room = -1;
        bl_credit_t *credit = bl_credit_new();
        CHECK(!bl_credit_peek(credit, "eval", 1.0, &limit, &room));
        CHECK_INT(limit, -1);
        bl_credit_set_domain(credit, "eval", 1, 10, 4);
        CHECK(bl_credit_peek(credit, "eval", 0.5, &limit, &room));
        CHECK_INT(limit, 5);
        CHECK_INT(room, 5);
        record_committed(credit, "eval", 0, 0, 10); /* 10 outstanding: available would throttle it */
        CHECK(bl_credit_peek(credit, "eval", 1.0, &limit, &room));
        CHECK_INT(room, 0);
        CHECK(!bl_credit_throttled(credit, "eval"));
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, NULL), 0);
        CHECK(bl_credit_throttled(credit, "eval"));
        bl_credit_committed(credit, "eval", 0, 5); /* 5 outstanding: still throttled (resume 4) */
        CHECK(bl_credit_peek(credit, "eval", 1.0, &limit, &room));
        CHECK_INT(room, 0);
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, NULL), 0);
        bl_credit_committed(credit, "eval", 0, 7);
        CHECK(bl_credit_peek(credit, "eval", 1.0, &limit, &room));
        CHECK_INT(room, 0); /* the throttle is lifted by the dispatcher's next look, not by a peek */
        CHECK(bl_credit_throttled(credit, "eval"));
        CHECK_INT(bl_credit_available(credit, "eval", 1.0, NULL), 7);
        CHECK(bl_credit_peek(credit, "eval", 1.0, &limit, &room));
        CHECK_INT(room, 7);
        bl_credit_destroy(credit);
}

int main(void) {
        RUN(test_outstanding_follows_workers);
        RUN(test_markers_and_foreign_records_do_not_count);
        RUN(test_aborted_records_are_forgotten);
        RUN(test_throttle_with_hysteresis);
        RUN(test_share_splits_the_budget);
        RUN(test_peek_changes_nothing);
        return check_exit_status();
}
