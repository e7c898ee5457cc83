/*
 * test_frozen.c: a task frozen into a stub and thawed back is the task it
 * was, every field (random tasks, compared with the unfrozen); the stub
 * holds what the backlog's walks read and is small; a store that refuses
 * the bytes leaves the task whole and the store unchanged; bytes that cannot
 * be read back, or are another task's, are an error naming the task.
 * The store is an array in memory behind bl_spill_ops_t.
 */
#include "check.h"
#include "core/frozen.h"
#include "core/kind.h"
#include "random.h"
#include "random_item.h"
#include "memory_spill.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_stub_of(const bl_frozen_t *frozen, const bl_item_t *item) {
        CHECK_STR(frozen->task_id, item->task_id);
        CHECK(frozen->kind == item->kind);
        CHECK_INT(frozen->partition, item->partition);
        CHECK_INT(frozen->state, item->state);
        CHECK_INT(frozen->state_since_ms, item->state_since_ms);
        CHECK_INT(frozen->timer_due_ms, item->timer_due_ms);
        CHECK_INT(frozen->timer_slot, item->timer_slot);
        CHECK_INT(frozen->approval_required, item->approval_required);
        CHECK_INT(frozen->approved, item->approved);
        CHECK_INT(frozen->overdue, item->overdue);
}

static void test_random_tasks_freeze_and_thaw_whole(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill = {&store, memory_append, memory_read, memory_release};
        bl_item_bytes_t scratch = {0};
        char errstr[256];
        bl_err_t err;
        enum { TASKS = 2000 };
        static bl_item_t *items[TASKS];
        static bl_frozen_t *stubs[TASKS];
        bl_frozen_arena_t *arena = bl_frozen_arena_new();
        for (unsigned i = 0; i < TASKS; i++) {
                items[i] = random_item(i);
                items[i]->timer_slot = i % 7 ? i : BL_ITEM_NO_SLOT;
                stubs[i] = bl_frozen_freeze(items[i], &spill, i % 2 ? arena : NULL, &scratch, &err, errstr,
                                            sizeof(errstr));
                CHECK(stubs[i] != NULL);
                if (stubs[i])
                        check_stub_of(stubs[i], items[i]);
        }
        /* Thawed in another order than frozen, each the task it was. */
        for (unsigned k = 0; k < TASKS; k++) {
                unsigned i = (k * 7919) % TASKS;
                if (!stubs[i])
                        continue;
                bl_item_t *thawed = bl_frozen_thaw(stubs[i], &spill, &scratch, &err, errstr, sizeof(errstr));
                CHECK_INT(err, BL_OK);
                if (thawed) {
                        check_same_item(items[i], thawed);
                        CHECK_INT(thawed->timer_slot, items[i]->timer_slot);
                }
                bl_frozen_release(stubs[i], &spill, i % 2 ? arena : NULL);
                bl_item_destroy(thawed);
                bl_item_destroy(items[i]);
        }
        CHECK_INT(store.live_bytes, 0);
        bl_item_bytes_free(&scratch);
        free(store.bytes);
        bl_frozen_release(NULL, &spill, arena);
        bl_frozen_destroy(NULL, arena);
        bl_frozen_arena_destroy(arena);
        bl_frozen_arena_destroy(NULL);
}

/* What the backlog may freeze: tasks at rest only. */
static void test_only_tasks_at_rest_freeze(void) {
        bl_item_t *item = bl_item_new("rest", 0);
        item->state = BL_STATE_DISPATCHED;
        CHECK(bl_frozen_may_freeze(item));
        item->state = BL_STATE_READY;
        CHECK(!bl_frozen_may_freeze(item));
        item->state = BL_STATE_BLOCKED;
        item->approval_required = true;
        CHECK(!bl_frozen_may_freeze(item));
        item->approved = true;
        CHECK(bl_frozen_may_freeze(item));
        item->placeholder = true;
        CHECK(!bl_frozen_may_freeze(item));
        item->placeholder = false;
        item->sched_slot = 3;
        CHECK(!bl_frozen_may_freeze(item));
        item->sched_slot = BL_ITEM_NO_SLOT;
        CHECK(bl_frozen_may_freeze(item));
        item->ready_since_ms = 1765100000000; /* a snapshot's odd ready_since stays whole */
        CHECK(!bl_frozen_may_freeze(item));
        bl_item_destroy(item);
}

/*
 * A DISPATCHED task with a UUID task_id: its stub is one chunk of 96 bytes
 * on its own, 80 in an arena, against the item's 224 and more.
 */
static void test_a_stub_is_small(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill = {&store, memory_append, memory_read, memory_release};
        bl_item_bytes_t scratch = {0};
        char errstr[256];
        bl_err_t err;
        bl_item_t *item = bl_item_new_of_kind("4b0c6f3e-8d6a-4e57-9a41-0f3c2d9e7b15", 3, "embed", "inference", NULL,
                                              "standard");
        item->state = BL_STATE_DISPATCHED;
        bl_item_remember_event(item, "e0c2a1f4-0b5e-4f0a-8a83-2d1f6b7c9e01", 8);
        bl_frozen_t *frozen = bl_frozen_freeze(item, &spill, NULL, &scratch, &err, errstr, sizeof(errstr));
        CHECK_INT(sizeof(bl_frozen_t), 48);
        CHECK_INT(bl_frozen_held_bytes(frozen, NULL), 96);
        CHECK(bl_item_held_bytes(item) >= 224 + 48);
        bl_frozen_release(frozen, &spill, NULL);
        bl_frozen_arena_t *arena = bl_frozen_arena_new();
        frozen = bl_frozen_freeze(item, &spill, arena, &scratch, &err, errstr, sizeof(errstr));
        CHECK_INT(bl_frozen_held_bytes(frozen, arena), 80);
        bl_frozen_release(frozen, &spill, arena);
        bl_frozen_arena_destroy(arena);
        bl_item_destroy(item);
        bl_item_bytes_free(&scratch);
        free(store.bytes);
}

/*
 * The arena hands a freed stub's room to the next stub of its size, carves
 * the others from its blocks end to end, and leaves a stub too large for it
 * to malloc; whatever it holds reads back right.
 */
static void test_the_arena_reuses_freed_stubs(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill = {&store, memory_append, memory_read, memory_release};
        bl_item_bytes_t scratch = {0};
        bl_frozen_arena_t *arena = bl_frozen_arena_new();
        char errstr[256], long_id[600];
        bl_err_t err;
        bl_item_t *a = bl_item_new("task-a", 0), *b = bl_item_new("task-b", 0);
        bl_item_t *c = bl_item_new("task-c-with-a-longer-id", 1);
        bl_frozen_t *fa = bl_frozen_freeze(a, &spill, arena, &scratch, &err, errstr, sizeof(errstr));
        bl_frozen_t *fb = bl_frozen_freeze(b, &spill, arena, &scratch, &err, errstr, sizeof(errstr));
        CHECK((char *)fb == (char *)fa + bl_frozen_held_bytes(fa, arena)); /* end to end, no header between */
        CHECK_INT(bl_frozen_arena_bytes(arena), BL_FROZEN_ARENA_BLOCK);
        bl_frozen_release(fa, &spill, arena);
        bl_frozen_t *fc = bl_frozen_freeze(c, &spill, arena, &scratch, &err, errstr, sizeof(errstr));
        CHECK(fc != fa); /* another size: not a's room */
        bl_frozen_t *again = bl_frozen_freeze(a, &spill, arena, &scratch, &err, errstr, sizeof(errstr));
        CHECK(again == fa); /* a's size: its room again */
        memset(long_id, 'x', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        bl_item_t *big = bl_item_new(long_id, 2);
        bl_frozen_t *fbig = bl_frozen_freeze(big, &spill, arena, &scratch, &err, errstr, sizeof(errstr));
        CHECK_INT(bl_frozen_held_bytes(fbig, arena) % 16, 0); /* malloc's chunk: not the arena's */
        bl_item_t *items[] = {a, b, c, big};
        bl_frozen_t *stubs[] = {again, fb, fc, fbig};
        for (size_t i = 0; i < 4; i++) {
                bl_item_t *thawed = bl_frozen_thaw(stubs[i], &spill, &scratch, &err, errstr, sizeof(errstr));
                CHECK(thawed != NULL);
                if (thawed)
                        check_same_item(items[i], thawed);
                bl_item_destroy(thawed);
                bl_frozen_release(stubs[i], &spill, arena);
                bl_item_destroy(items[i]);
        }
        CHECK_INT(store.live_bytes, 0);
        bl_frozen_arena_destroy(arena);
        bl_item_bytes_free(&scratch);
        free(store.bytes);
}

/* A task whose bytes pass what a stub can point at (16 MiB) is not frozen: the task stays whole, the store untouched. */
static void test_a_task_too_large_for_a_stub_stays_whole(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill = {&store, memory_append, memory_read, memory_release};
        bl_item_bytes_t scratch = {0};
        char errstr[256];
        bl_err_t err;
        bl_item_t *item = bl_item_new("huge", 0);
        item->payload_size = (uint32_t)BL_FROZEN_MAX_LEN + 1;
        item->payload = calloc(1, item->payload_size);
        item->has_payload = true;
        CHECK(bl_frozen_freeze(item, &spill, NULL, &scratch, &err, errstr, sizeof(errstr)) == NULL);
        CHECK_INT(err, BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "freezing task huge");
        CHECK_INT(store.size, 0);
        bl_item_destroy(item);
        bl_item_bytes_free(&scratch);
}

static void test_a_refused_append_keeps_the_task_whole(void) {
        memory_store_t store = {.refuse_appends = true};
        bl_spill_ops_t spill = {&store, memory_append, memory_read, memory_release};
        bl_item_bytes_t scratch = {0};
        char errstr[256];
        bl_err_t err;
        bl_item_t *item = random_item(1);
        CHECK(bl_frozen_freeze(item, &spill, NULL, &scratch, &err, errstr, sizeof(errstr)) == NULL);
        CHECK_INT(err, BL_ERR_IO);
        CHECK_CONTAINS(errstr, "refused");
        CHECK_INT(store.size, 0);
        CHECK_INT(store.live_bytes, 0);
        bl_item_destroy(item);
        bl_item_bytes_free(&scratch);
}

static void test_lost_bytes_are_an_error_naming_the_task(void) {
        memory_store_t store = {0};
        bl_spill_ops_t spill = {&store, memory_append, memory_read, memory_release};
        bl_item_bytes_t scratch = {0};
        char errstr[256];
        bl_err_t err;
        bl_item_t *first = bl_item_new("first", 0), *second = bl_item_new("second-task", 0);
        bl_frozen_t *a = bl_frozen_freeze(first, &spill, NULL, &scratch, &err, errstr, sizeof(errstr));
        bl_frozen_t *b = bl_frozen_freeze(second, &spill, NULL, &scratch, &err, errstr, sizeof(errstr));
        store.fail_reads = true;
        CHECK(bl_frozen_thaw(a, &spill, &scratch, &err, errstr, sizeof(errstr)) == NULL);
        CHECK_INT(err, BL_ERR_IO);
        CHECK_CONTAINS(errstr, "thawing task first: memory store: cannot read");
        store.fail_reads = false;
        /* Another task's bytes where the stub points. */
        uint64_t place = a->spill_place;
        a->spill_place = b->spill_place;
        CHECK(bl_frozen_thaw(a, &spill, &scratch, &err, errstr, sizeof(errstr)) == NULL);
        CHECK_INT(err, BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "another task's");
        /* Bytes cut short. */
        a->spill_place = place - 1; /* its length one less */
        CHECK(bl_frozen_thaw(a, &spill, &scratch, &err, errstr, sizeof(errstr)) == NULL);
        CHECK_INT(err, BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "thawing task first: item codec");
        a->spill_place = place;
        bl_frozen_release(a, &spill, NULL);
        bl_frozen_release(b, &spill, NULL);
        CHECK_INT(store.live_bytes, 0);
        bl_item_destroy(first);
        bl_item_destroy(second);
        bl_item_bytes_free(&scratch);
        free(store.bytes);
}

int main(void) {
        RUN(test_random_tasks_freeze_and_thaw_whole);
        RUN(test_only_tasks_at_rest_freeze);
        RUN(test_a_stub_is_small);
        RUN(test_the_arena_reuses_freed_stubs);
        RUN(test_a_task_too_large_for_a_stub_stays_whole);
        RUN(test_a_refused_append_keeps_the_task_whole);
        RUN(test_lost_bytes_are_an_error_naming_the_task);
        CHECK_INT(bl_kind_count(), 0);
        return check_exit_status();
}
