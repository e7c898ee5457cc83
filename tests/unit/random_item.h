/*
 * random_item.h: random items with every field set some of the time, and a
 * field-by-field comparison of two items, for the tests of the item codec and
 * of frozen items (test_item_codec.c, test_frozen.c).
 */
#ifndef BL_TEST_RANDOM_ITEM_H
#define BL_TEST_RANDOM_ITEM_H

#include "check.h"
#include "core/item.h"
#include "random.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_text(const char *a, const char *b) {
        return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_strvec(const bl_strvec_t *a, const bl_strvec_t *b) {
        if (a->count != b->count)
                return false;
        for (size_t i = 0; i < a->count; i++)
                if (strcmp(a->items[i], b->items[i]))
                        return false;
        return true;
}

static void check_same_cold(const bl_item_cold_t *a, const bl_item_cold_t *b) {
        CHECK(same_strvec(&a->depends_on, &b->depends_on));
        CHECK(same_strvec(&a->pending_deps, &b->pending_deps));
        CHECK(same_strvec(&a->dependents, &b->dependents));
        CHECK_INT(a->labels.count, b->labels.count);
        CHECK_INT(a->labels.size, b->labels.size);
        CHECK(a->labels.size == b->labels.size &&
              (!a->labels.size || !memcmp(a->labels.pairs, b->labels.pairs, a->labels.size)));
        CHECK(same_text(a->traceparent, b->traceparent));
        CHECK_INT(a->has_last_error, b->has_last_error);
        CHECK_INT(a->error_retryable, b->error_retryable);
        CHECK(same_text(a->error_code, b->error_code));
        CHECK(same_text(a->error_message, b->error_message));
}

/* Every field the codec carries, compared; the doubles bit for bit. */
static void check_same_item(const bl_item_t *a, const bl_item_t *b) {
        CHECK_STR(a->task_id, b->task_id);
        CHECK(a->kind == b->kind); /* the same interned kind */
        CHECK_INT(a->partition, b->partition);
        CHECK_INT(a->seq, b->seq);
        CHECK(!memcmp(&a->business_value, &b->business_value, sizeof(double)));
        CHECK(!memcmp(&a->risk, &b->risk, sizeof(double)));
        CHECK_INT(a->submitted_at_ms, b->submitted_at_ms);
        CHECK_INT(a->deadline_ms, b->deadline_ms);
        CHECK_INT(a->not_before_ms, b->not_before_ms);
        CHECK_INT(a->data_ready_at_ms, b->data_ready_at_ms);
        CHECK_INT(a->state_since_ms, b->state_since_ms);
        CHECK_INT(a->ready_since_ms, b->ready_since_ms);
        CHECK_INT(a->lease_expires_at_ms, b->lease_expires_at_ms);
        CHECK_INT(a->retry_at_ms, b->retry_at_ms);
        CHECK_INT(a->terminal_at_ms, b->terminal_at_ms);
        CHECK_INT(a->timer_due_ms, b->timer_due_ms);
        CHECK_INT(a->attempt, b->attempt);
        CHECK_INT(a->max_attempts, b->max_attempts);
        CHECK_INT(a->payload_size, b->payload_size);
        CHECK_INT(a->payload != NULL, b->payload != NULL);
        CHECK(!a->payload || !b->payload || !memcmp(a->payload, b->payload, a->payload_size));
        CHECK_INT(a->state, b->state);
        CHECK_INT(a->recent_event_count, b->recent_event_count);
        const char *id_a = bl_item_event_next(a, NULL), *id_b = bl_item_event_next(b, NULL);
        for (; id_a && id_b; id_a = bl_item_event_next(a, id_a), id_b = bl_item_event_next(b, id_b))
                CHECK_STR(id_a, id_b);
        CHECK(!id_a && !id_b);
        CHECK_INT(a->approval_required, b->approval_required);
        CHECK_INT(a->approved, b->approved);
        CHECK_INT(a->has_payload, b->has_payload);
        CHECK_INT(a->placeholder, b->placeholder);
        CHECK_INT(a->overdue, b->overdue);
        check_same_cold(bl_item_cold(a), bl_item_cold(b));
        CHECK_INT(b->sched_slot, BL_ITEM_NO_SLOT);
}

static int64_t random_time(int64_t base_ms) {
        switch (next_random() % 5) {
        case 0:
                return BL_NO_TIME;
        case 1:
                return base_ms + (int64_t)(next_random() % 100000);
        case 2:
                return base_ms - (int64_t)(next_random() % 100000);
        case 3:
                return (int64_t)next_random(); /* any 64 bits, far from base */
        default:
                return one_in(2) ? INT64_MAX : INT64_MIN;
        }
}

static void random_text(char *out, size_t max) {
        size_t size = next_random() % max;
        for (size_t i = 0; i < size; i++)
                out[i] = (char)(1 + next_random() % 255); /* any byte but NUL */
        out[size] = '\0';
}

static void random_cold(bl_item_t *item) {
        char text[300], key[40], value[40];
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        for (int i = (int)(next_random() % 4); i > 0; i--) {
                random_text(text, 60);
                bl_strvec_push(&cold->depends_on, text);
                if (one_in(2))
                        bl_strvec_push(&cold->pending_deps, text);
        }
        for (int i = (int)(next_random() % 3); i > 0; i--) {
                random_text(text, 60);
                bl_strvec_push(&cold->dependents, text);
        }
        if (one_in(2)) {
                random_text(key, 30);
                random_text(value, 30);
                const char *keys[] = {key, "team"}, *values[] = {value, ""};
                bl_labels_set(&cold->labels, keys, values, 1 + next_random() % 2);
        }
        if (one_in(2)) {
                random_text(text, 60);
                bl_item_replace_text(&cold->traceparent, text);
        }
        if (one_in(2)) {
                cold->has_last_error = true;
                cold->error_retryable = one_in(2);
                random_text(text, 40);
                bl_item_replace_text(&cold->error_code, text);
                random_text(text, 290);
                bl_item_replace_text(&cold->error_message, one_in(4) ? NULL : text);
        }
}

static void random_scalars(bl_item_t *item) {
        item->seq = (int64_t)next_random();
        uint64_t bits = next_random();
        memcpy(&item->business_value, &bits, sizeof(bits)); /* NaNs and infinities too */
        item->risk = one_in(2) ? (double)(next_random() % 1000) / 1000.0 : -0.0;
        item->submitted_at_ms = one_in(8) ? BL_NO_TIME : 1700000000000 + (int64_t)(next_random() % 100000000);
        int64_t base = item->submitted_at_ms;
        int64_t *times[] = {&item->deadline_ms,         &item->not_before_ms, &item->data_ready_at_ms,
                            &item->state_since_ms,      &item->ready_since_ms, &item->lease_expires_at_ms,
                            &item->retry_at_ms,         &item->terminal_at_ms, &item->timer_due_ms};
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
                *times[i] = random_time(base);
        item->attempt = (int32_t)(next_random() % 20) - 1;
        item->max_attempts = one_in(10) ? INT32_MAX : (int32_t)(next_random() % 10);
        item->state = (bl_state_t)(next_random() % BL_STATE__COUNT);
        item->approval_required = one_in(3);
        item->approved = one_in(3);
        item->placeholder = one_in(10);
        item->overdue = one_in(5);
}

static bl_item_t *random_item(unsigned index) {
        char task_id[200], domain[20];
        random_text(task_id, sizeof(task_id) - 20);
        snprintf(task_id + strlen(task_id), 20, "#%u", index);
        snprintf(domain, sizeof(domain), "domain-%u", (unsigned)(next_random() % 5));
        bl_item_t *item = bl_item_new_of_kind(task_id, (int32_t)(next_random() % 64), one_in(4) ? NULL : "embed",
                                              domain, one_in(2) ? NULL : "acme", one_in(3) ? "gold" : "standard");
        random_scalars(item);
        if (one_in(2)) {
                item->payload_size = one_in(5) ? 0 : (uint32_t)(next_random() % 3000);
                item->payload = malloc(item->payload_size ? item->payload_size : 1);
                for (uint32_t i = 0; i < item->payload_size; i++)
                        ((unsigned char *)item->payload)[i] = (unsigned char)next_random();
                item->has_payload = true;
        }
        char event_id[80];
        for (int i = (int)(next_random() % 12); i > 0; i--) {
                random_text(event_id, sizeof(event_id));
                bl_item_remember_event(item, event_id, 8);
        }
        if (one_in(2))
                random_cold(item);
        return item;
}

#endif
