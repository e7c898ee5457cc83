/*
 * fuzz_records.c: a libFuzzer target for the way restore reads a BacklogItem
 * snapshot: bl_records_decode_item, which reads the bytes directly
 * (contract/records_item.c) and leaves what it declines to the generic path.
 *
 * An input is a whole record value: the Confluent header (magic byte, schema
 * id) and the Avro body, against the contracts in schemas/ (BacklogItem is
 * id 4; any other id is refused as the cache says). The schema cache is made
 * on the first input and reused, as restore reuses it, so the writer's plan
 * and its kinds are exercised across inputs.
 *
 * Each input is decoded both ways, directly and on the generic path alone
 * (bl_records_decode_item_generic). Invariants, checked with abort() so
 * libFuzzer reports a crash: the two accept and refuse the same inputs; a
 * refusal is the same reason and detail both ways, never transient (there is
 * no registry to be unavailable), with a non-empty detail; an item is the
 * same field by field both ways, its strings readable to their NUL and
 * its payload and event ids to their sizes.
 *
 * Each input is also read as a Transition by one bl_transition_reader_t
 * kept across inputs, under the key "t", so that a v3 record (id 10) is
 * told against what an earlier input left: a record read has its cause and
 * instance; a v3 item has the transition's state, seq and attempt; a
 * record told against one not read has no item; a refusal has its reason. Single-threaded, as libFuzzer runs it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/catalog.h"
#include "contract/records.h"
#include "contract/schemas.h"
#include "contract/transitions.h"

#ifndef BL_FUZZ_SCHEMAS_DIR
#define BL_FUZZ_SCHEMAS_DIR "schemas"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_options(void);

/* avro-c's generic values hold unaligned pointers: see fuzz_decode.c. */
const char *__lsan_default_options(void) {
        return "use_unaligned=1";
}

static bl_catalog_t *catalog;
static bl_schemas_t *schemas;
static bl_transition_reader_t *transitions;

static void setup(void) {
        char errstr[512];
        if (!(catalog = bl_catalog_load(BL_FUZZ_SCHEMAS_DIR, errstr, sizeof(errstr))) ||
            !(schemas = bl_schemas_new(catalog, NULL, errstr, sizeof(errstr))) ||
            !(transitions = bl_transition_reader_new(schemas, 64))) {
                fprintf(stderr, "fuzz_records: %s\n", errstr);
                abort();
        }
}

static void expect(bool condition, const char *what) {
        if (!condition) {
                fprintf(stderr, "fuzz_records: %s\n", what);
                abort();
        }
}

static bool same_text(const char *a, const char *b) {
        return a == b || (a && b && !strcmp(a, b));
}

static bool same_vector(const bl_strvec_t *a, const bl_strvec_t *b) {
        if (a->count != b->count)
                return false;
        for (size_t i = 0; i < a->count; i++)
                if (strcmp(a->items[i], b->items[i]))
                        return false;
        return true;
}

static bool same_bytes(const void *a, size_t a_size, const void *b, size_t b_size) {
        return a_size == b_size && (!a_size || !memcmp(a, b, a_size));
}

/* The bytes of the item's recent event ids, end to end with their NULs. */
static size_t event_ids_size(const bl_item_t *item) {
        size_t size = 0;
        for (const char *id = bl_item_event_next(item, NULL); id; id = bl_item_event_next(item, id))
                size += strlen(id) + 1;
        return size;
}

static void check_same_cold(const bl_item_cold_t *a, const bl_item_cold_t *b) {
        expect(same_vector(&a->depends_on, &b->depends_on) && same_vector(&a->pending_deps, &b->pending_deps) &&
                       same_vector(&a->dependents, &b->dependents),
               "the string vectors differ");
        expect(a->labels.count == b->labels.count &&
                       same_bytes(a->labels.pairs, a->labels.size, b->labels.pairs, b->labels.size),
               "the labels differ");
        expect(same_text(a->traceparent, b->traceparent), "traceparent differs");
        expect(a->has_last_error == b->has_last_error && a->error_retryable == b->error_retryable &&
                       same_text(a->error_code, b->error_code) && same_text(a->error_message, b->error_message),
               "the last error differs");
}

static void check_same_item(const bl_item_t *a, const bl_item_t *b) {
        expect(!strcmp(a->task_id, b->task_id) && a->partition == b->partition, "task_id differs");
        expect(a->kind == b->kind, "the kind differs"); /* interned: equal fields, one kind */
        expect(a->state == b->state && a->seq == b->seq && a->attempt == b->attempt &&
                       a->max_attempts == b->max_attempts,
               "state, seq or attempts differ");
        expect(!memcmp(&a->business_value, &b->business_value, sizeof(double)) &&
                       !memcmp(&a->risk, &b->risk, sizeof(double)),
               "value or risk differs");
        expect(a->submitted_at_ms == b->submitted_at_ms && a->deadline_ms == b->deadline_ms &&
                       a->not_before_ms == b->not_before_ms && a->data_ready_at_ms == b->data_ready_at_ms &&
                       a->state_since_ms == b->state_since_ms && a->ready_since_ms == b->ready_since_ms &&
                       a->lease_expires_at_ms == b->lease_expires_at_ms && a->retry_at_ms == b->retry_at_ms &&
                       a->terminal_at_ms == b->terminal_at_ms,
               "a time differs");
        expect(a->approval_required == b->approval_required && a->approved == b->approved &&
                       a->placeholder == b->placeholder,
               "a flag differs");
        expect(a->has_payload == b->has_payload &&
                       same_bytes(a->payload, a->payload_size, b->payload, b->payload_size) &&
                       (!a->has_payload || a->payload != NULL),
               "the payload differs");
        expect(a->recent_event_count == b->recent_event_count &&
                       same_bytes(a->recent_event_ids, event_ids_size(a), b->recent_event_ids, event_ids_size(b)),
               "the recent event ids differ");
        check_same_cold(bl_item_cold(a), bl_item_cold(b));
}

/* The input as the next record of task "t" in backlog.transitions, its item carried forward (v3). */
static void read_transition(const unsigned char *value, size_t size) {
        bl_record_error_t error;
        bl_transition_record_t *record = bl_transition_reader_read(transitions, "t", 1, value, size, 0, -1, &error);
        if (!record) {
                expect(!error.transient && error.detail[0], "a transition refused without its reason");
                return;
        }
        const bl_transition_t *t = &record->transition;
        expect(t->task_id && t->cause && record->instance, "a transition without its task, cause or instance");
        expect(!record->unknown_before || !record->item, "an item told against a transition not read");
        if (record->item && size >= 5 && !value[1] && !value[2] && !value[3] && value[4] == 10) /* v3 */
                expect(record->item->state == t->to && record->item->seq == t->seq &&
                               record->item->attempt == t->attempt,
                       "a v3 item whose state, seq or attempt is not the transition's");
        bl_transition_record_destroy(record);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        bl_record_error_t direct_error, generic_error;
        unsigned char *value = size ? malloc(size) : NULL; /* exactly its size: ASan sees a read past it */
        if (!schemas)
                setup();
        if (size)
                memcpy(value, data, size);
        bl_item_t *direct = bl_records_decode_item(schemas, value, size, 3, &direct_error);
        bl_item_t *generic = bl_records_decode_item_generic(schemas, value, size, 3, &generic_error);
        expect((direct == NULL) == (generic == NULL), "one way accepts what the other refuses");
        if (direct) {
                check_same_item(direct, generic);
        } else {
                expect(!direct_error.transient && direct_error.detail[0], "a refusal without its reason");
                expect(direct_error.reason == generic_error.reason && !strcmp(direct_error.detail, generic_error.detail),
                       "the two ways refuse for different reasons");
        }
        bl_item_destroy(direct);
        bl_item_destroy(generic);
        read_transition(value, size);
        free(value);
        return 0;
}
