/*
 * test_item_codec.c: an item encoded and decoded is the same item, field by
 * field: random items with and without payload (empty ones too), event ids,
 * labels, dependencies, trace context and last error, extreme numbers and
 * times (a time 2^63 ms from the submission too), every state; a plain item at rest encodes small; bytes cut short,
 * changed or followed by more are an error, never a read past the end.
 */
#include "check.h"
#include "core/item_codec.h"
#include "core/kind.h"
#include "random.h"
#include "random_item.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_random_items_round_trip(void) {
        char errstr[256];
        bl_item_bytes_t bytes = {0};
        for (unsigned i = 0; i < 3000; i++) {
                bl_item_t *item = random_item(i), *decoded = NULL;
                CHECK(bl_item_encode(item, &bytes));
                CHECK_INT(bl_item_decode(bytes.bytes, bytes.size, &decoded, errstr, sizeof(errstr)), BL_OK);
                if (decoded) {
                        check_same_item(item, decoded);
                        CHECK_INT(decoded->timer_slot, BL_ITEM_NO_SLOT);
                        /* The decoded item encodes to the same bytes, and changes like any other. */
                        bl_item_bytes_t again = {0};
                        CHECK(bl_item_encode(decoded, &again));
                        CHECK(again.size == bytes.size && !memcmp(again.bytes, bytes.bytes, bytes.size));
                        bl_item_bytes_free(&again);
                        CHECK(bl_strvec_push(&bl_item_cold_for_write(decoded)->dependents, "later"));
                        CHECK(bl_item_remember_event(decoded, "one-more", 8));
                }
                bl_item_destroy(decoded);
                bl_item_destroy(item);
        }
        bl_item_bytes_free(&bytes);
        bl_item_bytes_free(&bytes); /* twice: a no-op */
}

/* Regression: a time 2^63 from submitted_at_ms (INT64_MAX after an unset submission) came back unset, its
 * distance zigzagged plus one wrapping to the 0 that means "unset". */
static void test_times_far_from_the_submission_round_trip(void) {
        char errstr[256];
        const int64_t far[] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 0, -2};
        const int64_t bases[] = {BL_NO_TIME, INT64_MIN, INT64_MAX, 0, 1765100000000};
        bl_item_bytes_t bytes = {0};
        for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
                for (size_t f = 0; f < sizeof(far) / sizeof(far[0]); f++) {
                        bl_item_t *item = bl_item_new("far", 0), *decoded = NULL;
                        item->submitted_at_ms = bases[b];
                        item->deadline_ms = item->timer_due_ms = far[f];
                        CHECK(bl_item_encode(item, &bytes));
                        CHECK_INT(bl_item_decode(bytes.bytes, bytes.size, &decoded, errstr, sizeof(errstr)), BL_OK);
                        if (decoded) {
                                CHECK_INT(decoded->deadline_ms, far[f]);
                                CHECK_INT(decoded->timer_due_ms, far[f]);
                                CHECK_INT(decoded->submitted_at_ms, bases[b]);
                                CHECK_INT(decoded->not_before_ms, BL_NO_TIME);
                        }
                        bl_item_destroy(decoded);
                        bl_item_destroy(item);
                }
        bl_item_bytes_free(&bytes);
}

/* A DISPATCHED task at rest with a UUID task_id and two event ids: what a million of them cost on disk. */
static void test_a_task_at_rest_encodes_small(void) {
        bl_item_t *item = bl_item_new_of_kind("4b0c6f3e-8d6a-4e57-9a41-0f3c2d9e7b15", 3, "embed", "inference", NULL,
                                              "standard");
        item->submitted_at_ms = 1765100000000;
        item->state_since_ms = item->ready_since_ms = item->submitted_at_ms + 40;
        item->lease_expires_at_ms = item->timer_due_ms = item->submitted_at_ms + 300040;
        item->state = BL_STATE_DISPATCHED;
        item->seq = 3;
        item->attempt = 1;
        item->business_value = 1.0;
        bl_item_remember_event(item, "e0c2a1f4-0b5e-4f0a-8a83-2d1f6b7c9e01", 8);
        bl_item_remember_event(item, "e0c2a1f4-0b5e-4f0a-8a83-2d1f6b7c9e02", 8);
        bl_item_bytes_t bytes = {0};
        CHECK(bl_item_encode(item, &bytes));
        size_t texts = 37 + 6 + 10 + 9 + 2 * 37;
        CHECK(bytes.size < texts + 50);
        fprintf(stderr, "a DISPATCHED task at rest: %zu bytes (%zu of them texts)\n", bytes.size, texts);
        bl_item_bytes_free(&bytes);
        bl_item_destroy(item);
}

static void test_bad_bytes_are_an_error(void) {
        char errstr[256];
        bl_item_bytes_t bytes = {0}, changed = {0};
        bl_item_t *decoded = NULL;
        for (unsigned i = 0; i < 200; i++) {
                bl_item_t *item = random_item(i);
                CHECK(bl_item_encode(item, &bytes));
                for (size_t cut = 0; cut < bytes.size; cut += 1 + cut / 8) {
                        CHECK_INT(bl_item_decode(bytes.bytes, cut, &decoded, errstr, sizeof(errstr)),
                                  BL_ERR_MISMATCH);
                        CHECK(decoded == NULL);
                }
                changed.size = 0;
                changed.bytes = realloc(changed.bytes, bytes.size + 1);
                memcpy(changed.bytes, bytes.bytes, bytes.size);
                changed.bytes[bytes.size] = 0;
                CHECK_INT(bl_item_decode(changed.bytes, bytes.size + 1, &decoded, errstr, sizeof(errstr)),
                          BL_ERR_MISMATCH);
                CHECK_CONTAINS(errstr, "bytes left over");
                for (int flips = 0; flips < 50; flips++) { /* any answer but a crash or a leak */
                        memcpy(changed.bytes, bytes.bytes, bytes.size);
                        changed.bytes[next_random() % bytes.size] ^= (unsigned char)(1 + next_random() % 255);
                        if (bl_item_decode(changed.bytes, bytes.size, &decoded, errstr, sizeof(errstr)) == BL_OK)
                                bl_item_destroy(decoded);
                }
                bl_item_destroy(item);
        }
        unsigned char version_two[] = {2, 2, 'x', 0};
        CHECK_INT(bl_item_decode(version_two, sizeof(version_two), &decoded, errstr, sizeof(errstr)),
                  BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "unknown version");
        bl_item_bytes_free(&bytes);
        free(changed.bytes);
}

int main(void) {
        RUN(test_random_items_round_trip);
        RUN(test_times_far_from_the_submission_round_trip);
        RUN(test_a_task_at_rest_encodes_small);
        RUN(test_bad_bytes_are_an_error);
        CHECK_INT(bl_kind_count(), 0);
        return check_exit_status();
}
