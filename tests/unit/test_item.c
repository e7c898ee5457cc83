/*
 * test_item.c: the item's compact parts. Shared kinds (one per distinct
 * task_type, domain, tenant and SLA class, freed with their last item, safe
 * from several threads), the packed recent event ids with their window, the
 * packed labels, the cold fields made only when one is set, and task_id kept in the item's own
 * allocation. A cold part packed in one allocation reads as an unpacked one, survives changes
 * in place and through bl_item_cold_for_write, and trims to its last error.
 */
#include "check.h"
#include "core/item.h"
#include "core/kind.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- kinds ------------------------------------------------------------------ */

static void test_equal_fields_share_one_kind(void) {
        size_t before = bl_kind_count();
        const bl_kind_t *a = bl_kind_intern("embed", "inference", "acme", "gold");
        const bl_kind_t *b = bl_kind_intern("embed", "inference", "acme", "gold");
        const bl_kind_t *no_tenant = bl_kind_intern("embed", "inference", NULL, "gold");
        const bl_kind_t *empty_tenant = bl_kind_intern("embed", "inference", "", "gold");
        const bl_kind_t *swapped = bl_kind_intern("inference", "embed", "acme", "gold");
        CHECK(a && a == b);
        CHECK(no_tenant && no_tenant != a && no_tenant->tenant == NULL);
        CHECK(empty_tenant && empty_tenant != no_tenant); /* absent is not "" */
        CHECK(swapped && swapped != a);
        CHECK_STR(a->task_type, "embed");
        CHECK_STR(a->domain, "inference");
        CHECK_STR(a->tenant, "acme");
        CHECK_STR(a->sla_class, "gold");
        CHECK_INT(bl_kind_count(), before + 4);
        bl_kind_release(b);
        CHECK_INT(bl_kind_count(), before + 4); /* a still holds it */
        CHECK_STR(a->domain, "inference");
        bl_kind_release(bl_kind_hold(a));
        bl_kind_release(a);
        bl_kind_release(no_tenant);
        bl_kind_release(empty_tenant);
        bl_kind_release(swapped);
        bl_kind_release(NULL);
        CHECK_INT(bl_kind_count(), before);
}

/* Enough distinct kinds to grow the table a few times; all gone with their last reference. */
static void test_many_kinds_come_and_go(void) {
        enum { KINDS = 5000 };
        static const bl_kind_t *kinds[KINDS];
        char tenant[32];
        for (int i = 0; i < KINDS; i++) {
                snprintf(tenant, sizeof(tenant), "tenant-%d", i);
                kinds[i] = bl_kind_intern("t", "d", tenant, "standard");
                CHECK(kinds[i] != NULL);
        }
        CHECK_INT(bl_kind_count(), KINDS);
        for (int i = 0; i < KINDS; i += 7) {
                snprintf(tenant, sizeof(tenant), "tenant-%d", i);
                const bl_kind_t *again = bl_kind_intern("t", "d", tenant, "standard");
                CHECK(again == kinds[i]);
                bl_kind_release(again);
        }
        for (int i = 0; i < KINDS; i++)
                bl_kind_release(kinds[i]);
        CHECK_INT(bl_kind_count(), 0);
}

typedef struct {
        int thread;
        bool ok;
} worker_t;

/* Each thread makes and frees items whose kinds the other thread makes and frees too. */
static void *churn(void *opaque) {
        worker_t *worker = opaque;
        char domain[16];
        worker->ok = true;
        for (int i = 0; i < 20000 && worker->ok; i++) {
                snprintf(domain, sizeof(domain), "d-%d", i % 37);
                bl_item_t *item = bl_item_new(worker->thread ? "t-b" : "t-a", 0);
                worker->ok = item && bl_item_set_kind(item, "t", domain, NULL, "standard") &&
                             !strcmp(item->kind->domain, domain);
                bl_item_destroy(item);
        }
        return NULL;
}

static void test_kinds_from_two_threads(void) {
        pthread_t threads[2];
        worker_t workers[2] = {{0, false}, {1, false}};
        for (int i = 0; i < 2; i++)
                CHECK(pthread_create(&threads[i], NULL, churn, &workers[i]) == 0);
        for (int i = 0; i < 2; i++) {
                pthread_join(threads[i], NULL);
                CHECK(workers[i].ok);
        }
        CHECK_INT(bl_kind_count(), 0);
}

/* ---- items ------------------------------------------------------------------ */

static void test_new_item_holds_its_task_id_and_default_kind(void) {
        char task_id[64];
        snprintf(task_id, sizeof(task_id), "task-%s", "0123456789abcdef");
        bl_item_t *item = bl_item_new(task_id, 4);
        task_id[0] = 'X'; /* the item keeps its own copy */
        CHECK_STR(item->task_id, "task-0123456789abcdef");
        CHECK(item->task_id == item->task_id_storage);
        CHECK_INT(item->partition, 4);
        CHECK_INT(item->state, BL_STATE_QUEUED);
        CHECK(item->kind->task_type == NULL && item->kind->domain == NULL && item->kind->tenant == NULL);
        CHECK_STR(item->kind->sla_class, "standard");
        CHECK(item->cold == NULL);
        CHECK_INT(item->timer_slot, BL_ITEM_NO_SLOT);
        CHECK_INT(item->sched_slot, BL_ITEM_NO_SLOT);
        CHECK(bl_item_set_kind(item, "embed", "inference", NULL, "gold"));
        CHECK_STR(item->kind->domain, "inference");
        bl_item_t *other = bl_item_new("t-2", 0);
        CHECK(bl_item_set_kind(other, "embed", "inference", NULL, "gold"));
        CHECK(other->kind == item->kind);
        bl_item_destroy(other);
        bl_item_t *made = bl_item_new_of_kind("t-3", 1, "embed", "inference", NULL, "gold");
        const bl_kind_t *before = made->kind;
        CHECK(before == item->kind);
        CHECK(bl_item_set_kind(made, "embed", "inference", NULL, "gold") && made->kind == before); /* unchanged */
        CHECK(bl_kind_is(made->kind, "embed", "inference", NULL, "gold"));
        CHECK(!bl_kind_is(made->kind, "embed", "inference", "", "gold"));
        bl_item_destroy(made);
        bl_item_destroy(item);
        bl_item_destroy(NULL);
        CHECK_INT(bl_kind_count(), 0);
}

static void check_events(const bl_item_t *item, const char *const *expected, size_t count) {
        size_t seen = 0;
        CHECK_INT(item->recent_event_count, count);
        for (const char *id = bl_item_event_next(item, NULL); id; id = bl_item_event_next(item, id), seen++)
                if (seen < count)
                        CHECK_STR(id, expected[seen]);
        CHECK_INT(seen, count);
}

static void test_event_ids_keep_a_window(void) {
        bl_item_t *item = bl_item_new("t", 0);
        CHECK(bl_item_event_next(item, NULL) == NULL);
        CHECK(!bl_item_event_seen(item, "e-1"));
        CHECK(bl_item_remember_event(item, "e-1", 3));
        CHECK(bl_item_remember_event(item, "a-much-longer-event-id-2", 3));
        CHECK(bl_item_remember_event(item, "e3", 3));
        check_events(item, (const char *const[]){"e-1", "a-much-longer-event-id-2", "e3"}, 3);
        CHECK(bl_item_event_seen(item, "e-1") && bl_item_event_seen(item, "e3"));
        CHECK(!bl_item_event_seen(item, "e-"));
        CHECK(bl_item_remember_event(item, "e-4", 3)); /* the oldest goes */
        check_events(item, (const char *const[]){"a-much-longer-event-id-2", "e3", "e-4"}, 3);
        CHECK(!bl_item_event_seen(item, "e-1"));
        CHECK(bl_item_remember_event(item, "a-yet-longer-event-id-number-5", 2)); /* a smaller window: two go */
        check_events(item, (const char *const[]){"e-4", "a-yet-longer-event-id-number-5"}, 2);
        CHECK(bl_item_remember_event(item, "", 2)); /* an empty id is still an id */
        check_events(item, (const char *const[]){"a-yet-longer-event-id-number-5", ""}, 2);
        CHECK(bl_item_event_seen(item, ""));
        CHECK(bl_item_remember_event(item, "ignored", 0)); /* no window: nothing kept */
        CHECK_INT(item->recent_event_count, 2);
        bl_item_destroy(item);
}

static void test_cold_fields_only_when_set(void) {
        bl_item_t *item = bl_item_new("t", 0);
        const bl_item_cold_t *none = bl_item_cold(item);
        CHECK(none->depends_on.count == 0 && none->traceparent == NULL && !none->has_last_error);
        CHECK(item->cold == NULL);

        bl_item_cold_t empty = {0};
        CHECK(bl_strvec_push(&empty.depends_on, "x") && bl_strvec_remove(&empty.depends_on, "x"));
        CHECK(bl_item_adopt_cold(item, &empty)); /* capacity but no content: nothing to hold */
        CHECK(item->cold == NULL && empty.depends_on.items == NULL);

        bl_item_cold_t read = {0};
        CHECK(bl_labels_set(&read.labels, (const char *const[]){"team"}, (const char *const[]){"ml"}, 1));
        CHECK(bl_item_adopt_cold(item, &read));
        CHECK(item->cold != NULL && read.labels.count == 0 && read.labels.pairs == NULL);
        const char *value = NULL;
        CHECK_STR(bl_labels_next(&bl_item_cold(item)->labels, NULL, &value), "team");
        CHECK_STR(value, "ml");

        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        CHECK(cold == item->cold);
        CHECK(bl_item_replace_text(&cold->traceparent, "00-abc-def-01"));
        CHECK(bl_item_replace_text(&cold->traceparent, NULL));
        CHECK(cold->traceparent == NULL);
        CHECK(bl_item_replace_text(&cold->error_code, "OOM"));
        bl_item_destroy(item);
}

/* A cold part with a bit of everything, its fields of their own. */
static void fill_cold(bl_item_cold_t *cold) {
        CHECK(bl_strvec_push(&cold->depends_on, "dep-a") && bl_strvec_push(&cold->depends_on, "dep-b"));
        CHECK(bl_strvec_push(&cold->pending_deps, "dep-b"));
        CHECK(bl_strvec_push(&cold->dependents, "after-1"));
        CHECK(bl_labels_set(&cold->labels, (const char *const[]){"team", "env"}, (const char *const[]){"ml", "prod"},
                            2));
        CHECK(bl_item_replace_text(&cold->traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        cold->has_last_error = true;
        cold->error_retryable = true;
        CHECK(bl_item_replace_text(&cold->error_code, "worker.oom"));
        CHECK(bl_item_replace_text(&cold->error_message, "killed"));
}

static void check_cold_filled(const bl_item_cold_t *cold) {
        const char *value = NULL;
        CHECK_INT(cold->depends_on.count, 2);
        CHECK(cold->depends_on.count == 2 && !strcmp(cold->depends_on.items[0], "dep-a") &&
              !strcmp(cold->depends_on.items[1], "dep-b"));
        CHECK(bl_strvec_contains(&cold->dependents, "after-1"));
        CHECK_STR(bl_labels_next(&cold->labels, NULL, &value), "team");
        CHECK_STR(value, "ml");
        CHECK_STR(cold->traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        CHECK(cold->has_last_error && cold->error_retryable);
        CHECK_STR(cold->error_code, "worker.oom");
        CHECK_STR(cold->error_message, "killed");
}

/* A packed cold part reads as the unpacked one, holds fewer bytes, and changes safely (unpacked first). */
static void test_packed_cold_part(void) {
        bl_item_cold_t own = {0};
        bl_item_t *packed = bl_item_new("t-packed", 0), *unpacked = bl_item_new("t-unpacked", 0);
        fill_cold(&own);
        CHECK(bl_item_set_cold_packed(packed, &own));
        CHECK(bl_item_adopt_cold(unpacked, &own));
        CHECK(packed->cold && packed->cold->packed_bytes > 0);
        check_cold_filled(bl_item_cold(packed));
        CHECK(bl_item_held_bytes(packed) < bl_item_held_bytes(unpacked));
        /* the backlog removes a pending dependency in place: the vector takes its strings for its own first */
        CHECK(bl_strvec_remove(&packed->cold->pending_deps, "dep-b"));
        CHECK_INT(packed->cold->pending_deps.count, 0);
        CHECK(!bl_strvec_remove(&packed->cold->pending_deps, "dep-b"));
        CHECK(bl_strvec_push(&packed->cold->dependents, "after-2"));
        CHECK(packed->cold->packed_bytes > 0); /* the rest stays packed */
        bl_item_cold_t *cold = bl_item_cold_for_write(packed);
        CHECK(cold != NULL && cold->packed_bytes == 0);
        if (cold) {
                check_cold_filled(cold);
                CHECK(bl_strvec_contains(&cold->dependents, "after-2"));
                CHECK(bl_item_replace_text(&cold->traceparent, NULL));
                CHECK(bl_labels_set(&cold->labels, (const char *const[]){"k"}, (const char *const[]){"v"}, 1));
        }
        bl_item_destroy(packed);
        bl_item_destroy(unpacked);

        bl_item_cold_t empty = {0};
        bl_item_t *bare = bl_item_new("t-bare", 0);
        CHECK(bl_item_set_cold_packed(bare, &empty) && bare->cold == NULL); /* nothing set: nothing held */
        bl_item_destroy(bare);
}

/* Trimming a packed cold part keeps the last error alone, as it does an unpacked one. */
static void test_packed_cold_part_trims(void) {
        bl_item_cold_t own = {0};
        bl_item_t *item = bl_item_new("t-trim", 0);
        fill_cold(&own);
        CHECK(bl_item_set_cold_packed(item, &own));
        CHECK(bl_item_trim(item) > 0);
        CHECK(item->cold != NULL);
        CHECK(bl_item_cold(item)->depends_on.count == 0 && bl_item_cold(item)->labels.count == 0 &&
              bl_item_cold(item)->traceparent == NULL);
        CHECK_STR(bl_item_cold(item)->error_code, "worker.oom");
        bl_item_destroy(item);
        own.has_last_error = false;
        CHECK(bl_item_replace_text(&own.error_code, NULL) && bl_item_replace_text(&own.error_message, NULL));
        item = bl_item_new("t-trim-all", 0);
        CHECK(bl_item_set_cold_packed(item, &own));
        CHECK(bl_item_trim(item) > 0 && item->cold == NULL);
        bl_item_destroy(item);
        item = bl_item_new("t-trim-changed", 0); /* a vector changed in place has allocations of its own */
        CHECK(bl_item_set_cold_packed(item, &own));
        size_t packed_bytes = bl_item_held_bytes(item);
        CHECK(bl_strvec_push(&item->cold->dependents, "after-2"));
        CHECK(bl_item_held_bytes(item) > packed_bytes);
        CHECK(bl_item_trim(item) > 0 && item->cold == NULL);
        bl_item_cold_clear(&own);
        bl_item_destroy(item);
}

static void test_labels_pack_their_pairs(void) {
        bl_labels_t labels = {0};
        const char *value = NULL;
        CHECK(bl_labels_next(&labels, NULL, &value) == NULL);
        CHECK(bl_labels_set(&labels, (const char *const[]){"team", "env", "empty"},
                            (const char *const[]){"ml-platform", "prod", ""}, 3));
        CHECK_INT(labels.count, 3);
        CHECK_INT(labels.size,
                  sizeof("team") + sizeof("ml-platform") + sizeof("env") + sizeof("prod") + sizeof("empty") + 1);
        const char *key = bl_labels_next(&labels, NULL, &value);
        CHECK_STR(key, "team");
        CHECK_STR(value, "ml-platform");
        CHECK_STR(key = bl_labels_next(&labels, key, &value), "env");
        CHECK_STR(value, "prod");
        CHECK_STR(key = bl_labels_next(&labels, key, &value), "empty");
        CHECK_STR(value, "");
        CHECK(bl_labels_next(&labels, key, &value) == NULL);
        CHECK(bl_labels_set(&labels, (const char *const[]){"k"}, (const char *const[]){"v"}, 1)); /* replaces */
        CHECK_INT(labels.count, 1);
        CHECK_STR(bl_labels_next(&labels, NULL, &value), "k");
        CHECK(bl_labels_set(&labels, NULL, NULL, 0));
        CHECK(labels.count == 0 && labels.pairs == NULL);
        bl_labels_clear(&labels);
}

int main(void) {
        RUN(test_equal_fields_share_one_kind);
        RUN(test_many_kinds_come_and_go);
        RUN(test_kinds_from_two_threads);
        RUN(test_new_item_holds_its_task_id_and_default_kind);
        RUN(test_event_ids_keep_a_window);
        RUN(test_cold_fields_only_when_set);
        RUN(test_labels_pack_their_pairs);
        RUN(test_packed_cold_part);
        RUN(test_packed_cold_part_trims);
        return check_exit_status();
}
