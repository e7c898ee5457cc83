/*
 * test_isolate.c: the bisection that finds a batch's culprit (src/pipeline/isolate.c), driven by a model
 * of a pipeline: a stream of units in which one, at a chosen position, fails every batch it is in.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "pipeline/isolate.h"

/* Units 0..total-1 come in order; a batch holds what room allows (at most @p normal_batch when normal). */
typedef struct stream_s {
        size_t next;  /* the first unit not yet committed */
        size_t total;
        size_t poison; /* SIZE_MAX: none */
        size_t normal_batch;
        int aborts, commits;
        char culprit[BL_UNIT_NAME_MAX];
} stream_t;

static void run_batch(bl_isolate_t *isolate, stream_t *stream) {
        size_t room = bl_isolate_room(isolate), taken = 0;
        bool fails = false;
        char name[32];
        if (room > stream->normal_batch)
                room = stream->normal_batch;
        for (size_t unit = stream->next; unit < stream->total && taken < room; unit++, taken++) {
                snprintf(name, sizeof(name), "task-%zu", unit);
                bl_isolate_unit(isolate, BL_UNIT_DISPATCH, name, -1, -1);
                fails |= unit == stream->poison;
        }
        bl_isolate_handed_off(isolate);
        if (!fails) {
                bl_isolate_committed(isolate);
                stream->next += taken;
                stream->commits++;
                return;
        }
        stream->aborts++;
        if (bl_isolate_failed(isolate, BL_FAULT_RECORD, false) == BL_ISOLATE_CULPRIT) {
                const bl_unit_t *culprit = bl_isolate_culprit(isolate, NULL);
                snprintf(stream->culprit, sizeof(stream->culprit), "%s", culprit->name);
                /* given up in a batch of its own */
                bl_isolate_unit(isolate, BL_UNIT_GIVE_UP, culprit->name, -1, -1);
                bl_isolate_handed_off(isolate);
                bl_isolate_committed(isolate);
                bl_isolate_culprit_done(isolate);
                stream->poison = SIZE_MAX;
                stream->next++;
        }
}

static void check_found(size_t total, size_t poison, size_t normal_batch) {
        bl_isolate_t *isolate = bl_isolate_new(4096);
        stream_t stream = {0, total, poison, normal_batch, 0, 0, ""};
        char expected[64];
        int rounds = 0;
        while (stream.next < stream.total && rounds++ < 100000)
                run_batch(isolate, &stream);
        snprintf(expected, sizeof(expected), "task-%zu", poison);
        CHECK_STR(stream.culprit, expected);
        CHECK_INT(bl_isolate_found(isolate), 1);
        /* a binary search: about log2(batch) + 1 aborts, never a loop */
        int bound = 2;
        for (size_t n = normal_batch; n > 1; n /= 2)
                bound++;
        if (stream.aborts > bound)
                fprintf(stderr, "total %zu poison %zu batch %zu: %d aborts, bound %d\n", total, poison, normal_batch,
                        stream.aborts, bound);
        CHECK(stream.aborts <= bound);
        /* batches grow back to normal afterwards */
        CHECK(!bl_isolate_active(isolate) || stream.next >= stream.total);
        bl_isolate_destroy(isolate);
}

static void test_the_culprit_is_found_in_log_aborts(void) {
        check_found(10000, 0, 5000);
        check_found(10000, 4999, 5000);
        check_found(10000, 5000, 5000);
        check_found(10000, 7777, 5000);
        check_found(10000, 9999, 5000);
        check_found(100, 37, 1000);
        check_found(1, 0, 1);
}

static void test_a_batch_of_one_names_its_unit(void) {
        bl_isolate_t *isolate = bl_isolate_new(4096);
        bl_isolate_unit(isolate, BL_UNIT_RECORD, "tasks.events", 2, 41);
        CHECK_INT(bl_isolate_failed(isolate, BL_FAULT_RECORD, true), BL_ISOLATE_CULPRIT);
        const bl_unit_t *culprit = bl_isolate_culprit(isolate, NULL);
        CHECK(culprit && culprit->kind == BL_UNIT_RECORD && culprit->partition == 2 && culprit->offset == 41);
        CHECK_STR(culprit->name, "tasks.events");
        CHECK_INT(bl_isolate_room(isolate), 1);
        bl_isolate_destroy(isolate);
}

static void test_broker_faults_never_bisect(void) {
        bl_isolate_t *isolate = bl_isolate_new(4096);
        for (int i = 0; i < 100; i++)
                bl_isolate_unit(isolate, BL_UNIT_RECORD, "tasks.events", 0, i);
        bl_isolate_handed_off(isolate);
        CHECK_INT(bl_isolate_failed(isolate, BL_FAULT_TRANSIENT, false), BL_ISOLATE_WAIT);
        CHECK(!bl_isolate_active(isolate));
        CHECK_INT(bl_isolate_room(isolate), (long long)SIZE_MAX);
        bl_isolate_unit(isolate, BL_UNIT_TIMER, "t1", -1, -1);
        CHECK_INT(bl_isolate_failed(isolate, BL_FAULT_OUTPUT, true), BL_ISOLATE_WAIT);
        CHECK(bl_isolate_culprit(isolate, NULL) == NULL);
        bl_isolate_destroy(isolate);
}

static void test_a_give_up_that_fails_escalates(void) {
        bl_isolate_t *isolate = bl_isolate_new(4096);
        int failures = -1;
        bl_isolate_unit(isolate, BL_UNIT_TIMER, "task-9", -1, -1);
        CHECK_INT(bl_isolate_failed(isolate, BL_FAULT_RECORD, true), BL_ISOLATE_CULPRIT);
        /* another unit fails alone while the culprit waits: a new culprit, not an escalation */
        bl_isolate_unit(isolate, BL_UNIT_DISPATCH, "task-3", -1, -1);
        CHECK_INT(bl_isolate_failed(isolate, BL_FAULT_RECORD, true), BL_ISOLATE_CULPRIT);
        CHECK_STR(bl_isolate_culprit(isolate, &failures)->name, "task-3");
        CHECK_INT(failures, 0);
        /* its giving up fails: harder next time */
        bl_isolate_unit(isolate, BL_UNIT_GIVE_UP, "task-3", -1, -1);
        CHECK_INT(bl_isolate_failed(isolate, BL_FAULT_RECORD, true), BL_ISOLATE_CULPRIT);
        CHECK_STR(bl_isolate_culprit(isolate, &failures)->name, "task-3");
        CHECK_INT(failures, 1);
        bl_isolate_culprit_forget(isolate);
        CHECK(bl_isolate_culprit(isolate, NULL) == NULL);
        CHECK_INT(bl_isolate_found(isolate), 0);
        bl_isolate_destroy(isolate);
}

int main(void) {
        RUN(test_the_culprit_is_found_in_log_aborts);
        RUN(test_a_batch_of_one_names_its_unit);
        RUN(test_broker_faults_never_bisect);
        RUN(test_a_give_up_that_fails_escalates);
        return check_exit_status();
}
