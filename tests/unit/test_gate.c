/*
 * test_gate.c: the refused output topics (src/pipeline/gate.c): closed with a back-off that doubles to its
 * bound, a probe once it is over, open again only when a batch that wrote to the topic commits.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "pipeline/gate.h"

static int reopened_count;
static char reopened_topic[128];

static void on_reopened(const bl_gate_entry_t *entry, void *opaque) {
        (void)opaque;
        reopened_count++;
        snprintf(reopened_topic, sizeof(reopened_topic), "%s", entry->topic);
}

static void test_open_until_refused(void) {
        bl_gate_t *gate = bl_gate_new(200, 30000);
        int64_t backoff = 0;
        CHECK(bl_gate_open(gate, "backlog.dlq", 0));
        CHECK(bl_gate_refused(gate, "backlog.dlq", "Broker: Topic authorization failed", 1000, &backoff));
        CHECK_INT(backoff, 200);
        CHECK(!bl_gate_open(gate, "backlog.dlq", 1000));
        CHECK(!bl_gate_open(gate, "backlog.dlq", 1199));
        CHECK(bl_gate_open(gate, "backlog.dlq", 1200)); /* the probe */
        CHECK(bl_gate_open(gate, "dispatch.evaluation", 1000)); /* the others are not touched */
        CHECK_INT(bl_gate_count(gate), 1);
        bl_gate_destroy(gate);
}

static void test_backoff_doubles_to_bound(void) {
        bl_gate_t *gate = bl_gate_new(200, 1000);
        int64_t backoff = 0, now = 0;
        int64_t expected[] = {200, 400, 800, 1000, 1000};
        for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
                bool first = bl_gate_refused(gate, "dispatch.x", "refused", now, &backoff);
                CHECK(first == (i == 0)); /* told once, not at every probe */
                CHECK_INT(backoff, expected[i]);
                now += backoff;
        }
        bl_gate_destroy(gate);
}

static void test_reopened_only_by_a_committed_write(void) {
        bl_gate_t *gate = bl_gate_new(100, 1000);
        int64_t backoff;
        reopened_count = 0;
        bl_gate_refused(gate, "backlog.dlq", "refused", 0, &backoff);
        bl_gate_committed(gate, on_reopened, NULL); /* a batch without a write to it proves nothing */
        CHECK_INT(reopened_count, 0);
        CHECK_INT(bl_gate_count(gate), 1);
        bl_gate_wrote(gate, "backlog.dlq");
        bl_gate_aborted(gate); /* the probe failed with its batch */
        bl_gate_committed(gate, on_reopened, NULL);
        CHECK_INT(reopened_count, 0);
        bl_gate_wrote(gate, "tasks.other");
        bl_gate_wrote(gate, "backlog.dlq");
        bl_gate_committed(gate, on_reopened, NULL);
        CHECK_INT(reopened_count, 1);
        CHECK_STR(reopened_topic, "backlog.dlq");
        CHECK_INT(bl_gate_count(gate), 0);
        CHECK(bl_gate_open(gate, "backlog.dlq", 0));
        bl_gate_destroy(gate);
}

static void count_entry(const bl_gate_entry_t *entry, void *opaque) {
        (void)entry;
        (*(int *)opaque)++;
}

/* More refused topics than slots: the oldest refusal makes room, nothing overflows. */
static void test_bounded(void) {
        bl_gate_t *gate = bl_gate_new(100, 1000);
        int64_t backoff;
        char topic[32];
        for (int i = 0; i < BL_GATE_MAX + 10; i++) {
                snprintf(topic, sizeof(topic), "dispatch.d%d", i);
                bl_gate_refused(gate, topic, "refused", i, &backoff);
        }
        CHECK_INT(bl_gate_count(gate), BL_GATE_MAX);
        CHECK(bl_gate_open(gate, "dispatch.d0", 0));
        CHECK(!bl_gate_open(gate, topic, BL_GATE_MAX + 10));
        int seen = 0;
        bl_gate_foreach(gate, count_entry, &seen);
        CHECK_INT(seen, BL_GATE_MAX);
        bl_gate_destroy(gate);
}

int main(void) {
        RUN(test_open_until_refused);
        RUN(test_backoff_doubles_to_bound);
        RUN(test_reopened_only_by_a_committed_write);
        RUN(test_bounded);
        return check_exit_status();
}
