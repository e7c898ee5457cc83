/*
 * test_records.c: backlogd's own records over the real contracts in
 * schemas/: items, transitions, dispatch decisions and dependency notices
 * round-trip field by field, fully populated and sparse; older and newer
 * writer versions decode by field name with defaults; truncated, garbage
 * and foreign bytes fail cleanly with the field or reason named. Snapshots
 * read straight from their bytes (contract/records_item.c) are held to the
 * generic read, random, damaged and cut ones alike.
 *
 * BACKLOGD_RECORDS_MEASURE=1 also prints encode and decode throughput of a
 * typical item (not part of the suite: it takes seconds).
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "random.h"
#include "contract/encode.h"
#include "contract/records.h"
#include "contract/transitions.h"
#include "contract/wire.h"

static bl_catalog_t *catalog;
static bl_schemas_t *schemas;
static bl_records_t *records;

static void setup(void) {
        char errstr[512];
        catalog = bl_catalog_load(BL_SCHEMAS_DIR, errstr, sizeof(errstr));
        if (!catalog) {
                fprintf(stderr, "catalog: %s\n", errstr);
                exit(1);
        }
        schemas = bl_schemas_new(catalog, NULL, errstr, sizeof(errstr));
        records = schemas ? bl_records_new(schemas, NULL, "backlogd-test-0", errstr, sizeof(errstr)) : NULL;
        if (!records) {
                fprintf(stderr, "records: %s\n", errstr);
                exit(1);
        }
}

static bl_records_item_view_t view; /* the reads in place, reused from read to read as restore does */

static void teardown(void) {
        bl_records_item_view_free(&view);
        bl_records_destroy(records);
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
}

/* ---- fixtures --------------------------------------------------------------- */

static void push_all(bl_strvec_t *vec, const char *const *texts, size_t count) {
        for (size_t i = 0; i < count; i++)
                CHECK(bl_strvec_push(vec, texts[i]));
}

static void set_payload(bl_item_t *item, size_t size) {
        unsigned char *payload = malloc(size);
        for (size_t i = 0; i < size; i++)
                payload[i] = (unsigned char)(i % 7 == 0 ? 0 : i * 31); /* NUL bytes throughout */
        free(item->payload);
        item->payload = payload;
        item->payload_size = size;
        item->has_payload = true;
}

/* An item with every field set, each to a value no other field has. */
static bl_item_t *full_item(size_t payload_size) {
        static const char *const depends_on[] = {"t-dep-1", "t-dep-2"};
        static const char *const dependents[] = {"t-child-1", "t-child-2", "t-child-3"};
        static const char *const keys[] = {"team", "model"};
        static const char *const values[] = {"ml-platform", "resnet-50"};
        static const char *const events[] = {"e-1", "e-2", "e-3"};
        bl_item_t *item = bl_item_new("t-full", 3);
        item->state = BL_STATE_RUNNING;
        item->seq = 42;
        item->attempt = 2;
        item->max_attempts = 5;
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        bl_item_set_kind(item, "inference", "model_inference", "acme", "gold");
        item->business_value = 0.75;
        item->risk = 0.125;
        item->submitted_at_ms = 1795900000001;
        item->deadline_ms = 1795900000002;
        item->not_before_ms = 1795900000003;
        item->data_ready_at_ms = 1795900000004;
        item->state_since_ms = 1795900000005;
        item->ready_since_ms = 1795900000006;
        item->lease_expires_at_ms = 1795900000007;
        item->retry_at_ms = 1795900000008;
        item->terminal_at_ms = 1795900000009;
        push_all(&cold->depends_on, depends_on, 2);
        push_all(&cold->pending_deps, depends_on + 1, 1);
        push_all(&cold->dependents, dependents, 3);
        item->approval_required = true;
        item->approved = true;
        bl_labels_set(&cold->labels, keys, values, 2);
        set_payload(item, payload_size);
        cold->traceparent = strdup("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        cold->has_last_error = true;
        cold->error_code = strdup("OOM");
        cold->error_message = strdup("worker ran out of GPU memory");
        cold->error_retryable = true;
        for (size_t i = 0; i < 3; i++)
                bl_item_remember_event(item, events[i], 32);
        item->placeholder = false;
        return item;
}

/* ---- comparisons -------------------------------------------------------------- */

static void check_optional_str(const char *actual, const char *expected) {
        if (!expected)
                CHECK(actual == NULL);
        else
                CHECK_STR(actual, expected);
}

static void check_event_ids(const bl_item_t *actual, const bl_item_t *expected) {
        CHECK_INT(actual->recent_event_count, expected->recent_event_count);
        for (const char *a = bl_item_event_next(actual, NULL), *e = bl_item_event_next(expected, NULL); a && e;
             a = bl_item_event_next(actual, a), e = bl_item_event_next(expected, e))
                CHECK_STR(a, e);
}

static void check_strvec(const bl_strvec_t *actual, const bl_strvec_t *expected) {
        CHECK_INT(actual->count, expected->count);
        for (size_t i = 0; i < actual->count && i < expected->count; i++)
                CHECK_STR(actual->items[i], expected->items[i]);
}

/* Labels compare as a set: a map's order is not a contract. */
static void check_labels(const bl_item_t *actual_item, const bl_item_t *expected_item) {
        const bl_item_cold_t *actual = bl_item_cold(actual_item), *expected = bl_item_cold(expected_item);
        const char *expected_value, *actual_value;
        CHECK_INT(actual->labels.count, expected->labels.count);
        for (const char *key = bl_labels_next(&expected->labels, NULL, &expected_value); key;
             key = bl_labels_next(&expected->labels, key, &expected_value)) {
                bool found = false;
                for (const char *other = bl_labels_next(&actual->labels, NULL, &actual_value); other;
                     other = bl_labels_next(&actual->labels, other, &actual_value))
                        if (!strcmp(other, key)) {
                                CHECK_STR(actual_value, expected_value);
                                found = true;
                        }
                CHECK(found);
        }
}

static void check_payload(const bl_item_t *actual, const bl_item_t *expected, bool with_payload) {
        CHECK_INT(actual->has_payload, expected->has_payload && with_payload);
        if (!actual->has_payload || !expected->has_payload)
                return;
        CHECK_INT(actual->payload_size, expected->payload_size);
        CHECK(actual->payload_size == expected->payload_size &&
              !memcmp(actual->payload, expected->payload, expected->payload_size));
}

static void check_items_equal(const bl_item_t *actual, const bl_item_t *expected, bool with_payload) {
        CHECK(actual != NULL);
        if (!actual)
                return;
        CHECK_STR(actual->task_id, expected->task_id);
        CHECK_INT(actual->partition, expected->partition);
        CHECK_INT(actual->state, expected->state);
        CHECK_INT(actual->seq, expected->seq);
        CHECK_INT(actual->attempt, expected->attempt);
        CHECK_INT(actual->max_attempts, expected->max_attempts);
        check_optional_str(actual->kind->task_type, expected->kind->task_type);
        check_optional_str(actual->kind->domain, expected->kind->domain);
        check_optional_str(actual->kind->tenant, expected->kind->tenant);
        CHECK_STR(actual->kind->sla_class, expected->kind->sla_class);
        CHECK(actual->kind == expected->kind); /* interned: one kind for equal fields */
        CHECK(actual->business_value == expected->business_value);
        CHECK(actual->risk == expected->risk);
        CHECK_INT(actual->submitted_at_ms, expected->submitted_at_ms);
        CHECK_INT(actual->deadline_ms, expected->deadline_ms);
        CHECK_INT(actual->not_before_ms, expected->not_before_ms);
        CHECK_INT(actual->data_ready_at_ms, expected->data_ready_at_ms);
        CHECK_INT(actual->state_since_ms, expected->state_since_ms);
        CHECK_INT(actual->ready_since_ms, expected->ready_since_ms);
        CHECK_INT(actual->lease_expires_at_ms, expected->lease_expires_at_ms);
        CHECK_INT(actual->retry_at_ms, expected->retry_at_ms);
        CHECK_INT(actual->terminal_at_ms, expected->terminal_at_ms);
        check_strvec(&bl_item_cold(actual)->depends_on, &bl_item_cold(expected)->depends_on);
        check_strvec(&bl_item_cold(actual)->pending_deps, &bl_item_cold(expected)->pending_deps);
        check_strvec(&bl_item_cold(actual)->dependents, &bl_item_cold(expected)->dependents);
        CHECK_INT(actual->approval_required, expected->approval_required);
        CHECK_INT(actual->approved, expected->approved);
        check_labels(actual, expected);
        check_payload(actual, expected, with_payload);
        check_optional_str(bl_item_cold(actual)->traceparent, bl_item_cold(expected)->traceparent);
        CHECK_INT(bl_item_cold(actual)->has_last_error, bl_item_cold(expected)->has_last_error);
        check_optional_str(bl_item_cold(actual)->error_code, bl_item_cold(expected)->error_code);
        check_optional_str(bl_item_cold(actual)->error_message, bl_item_cold(expected)->error_message);
        CHECK_INT(bl_item_cold(actual)->error_retryable, bl_item_cold(expected)->error_retryable);
        check_event_ids(actual, expected);
        CHECK_INT(actual->placeholder, expected->placeholder);
}

static void check_header(const void *value, size_t size, int32_t schema_id) {
        const unsigned char *body;
        size_t body_size;
        int32_t id;
        bl_record_error_t error;
        CHECK(bl_wire_parse(value, size, &id, &body, &body_size, &error));
        CHECK_INT(id, schema_id);
        CHECK(body_size > 0);
}

/* ---- items -------------------------------------------------------------------- */

static bl_item_t *round_trip_item(const bl_item_t *item, bool with_payload) {
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_item_t *decoded;
        CHECK_INT(bl_records_item(records, item, with_payload, &value, &size), BL_OK);
        check_header(value, size, 4);
        decoded = bl_records_decode_item(schemas, value, size, item->partition, &error);
        if (!decoded)
                fprintf(stderr, "decode: %s\n", error.detail);
        return decoded;
}

static void test_full_item_round_trips(void) {
        bl_item_t *item = full_item(200);
        bl_item_t *decoded = round_trip_item(item, true);
        check_items_equal(decoded, item, true);
        bl_item_destroy(decoded);
        decoded = round_trip_item(item, false);
        check_items_equal(decoded, item, false);
        bl_item_destroy(decoded);
        bl_item_destroy(item);
}

static void test_sparse_item_round_trips(void) {
        bl_item_t *item = bl_item_new("t-sparse", 0); /* a placeholder: every optional field unset */
        bl_item_t *decoded;
        item->placeholder = true;
        decoded = round_trip_item(item, true);
        check_items_equal(decoded, item, true);
        CHECK(decoded && decoded->kind->task_type == NULL && decoded->kind->domain == NULL);
        CHECK(decoded && decoded->payload == NULL && decoded->kind->tenant == NULL &&
              decoded->deadline_ms == BL_NO_TIME);
        bl_item_destroy(decoded);
        bl_item_destroy(item);
}

static void test_empty_payload_is_present(void) {
        bl_item_t *item = full_item(0);
        bl_item_t *decoded = round_trip_item(item, true);
        CHECK(decoded && decoded->has_payload && decoded->payload_size == 0 && decoded->payload != NULL);
        bl_item_destroy(decoded);
        bl_item_destroy(item);
}

/* A caller's buffer grows past its first size (a 64 KiB payload) and is reused for smaller records. */
static void test_buffer_grows_and_is_reused(void) {
        char errstr[256];
        bl_records_buffer_t buffer = {0};
        bl_schema_t *schema = bl_schemas_newest(schemas, "backlog_item");
        bl_item_t *big = full_item(65536), *small = full_item(10), *decoded;
        bl_record_error_t error;
        unsigned char *grown;
        CHECK_INT(bl_records_encode_item(schema, 77, big, true, &buffer, errstr, sizeof(errstr)), BL_OK);
        CHECK(buffer.size > 65536 && buffer.capacity >= buffer.size);
        CHECK_INT(buffer.bytes[4], 77);
        grown = buffer.bytes;
        CHECK_INT(bl_records_encode_item(schema, 4, big, true, &buffer, errstr, sizeof(errstr)), BL_OK);
        decoded = bl_records_decode_item(schemas, buffer.bytes, buffer.size, 3, &error);
        check_items_equal(decoded, big, true);
        bl_item_destroy(decoded);
        CHECK_INT(bl_records_encode_item(schema, 4, small, true, &buffer, errstr, sizeof(errstr)), BL_OK);
        CHECK(buffer.bytes == grown);
        decoded = bl_records_decode_item(schemas, buffer.bytes, buffer.size, 3, &error);
        check_items_equal(decoded, small, true);
        bl_item_destroy(decoded);
        bl_records_buffer_free(&buffer);
        bl_item_destroy(big);
        bl_item_destroy(small);
}

/* ---- transitions --------------------------------------------------------------- */

static const bl_criterion_t criteria[] = {
        {"business_value", 0.75, 0.75, 0.5, 0.375},
        {"urgency", 3600000, 0.25, 0.3, 0.075},
        {"risk", 0.125, 0.875, 0.2, 0.175},
};

static bl_transition_record_t *round_trip_transition(const bl_transition_t *t, const bl_item_t *item,
                                                     bool with_payload) {
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_transition_record_t *record;
        bl_records_forget_changes(records); /* a transaction of its own: the item is told whole */
        CHECK_INT(bl_records_transition(records, t, item, with_payload, &value, &size), BL_OK);
        check_header(value, size, 10);
        record = bl_records_decode_transition(schemas, value, size, 3, &error);
        if (!record)
                fprintf(stderr, "decode: %s\n", error.detail);
        return record;
}

static void check_criteria(const bl_criterion_t *actual, size_t actual_count, const bl_criterion_t *expected,
                           size_t expected_count) {
        CHECK_INT(actual_count, expected_count);
        for (size_t i = 0; i < actual_count && i < expected_count; i++) {
                CHECK_STR(actual[i].name, expected[i].name);
                CHECK(actual[i].raw == expected[i].raw && actual[i].normalised == expected[i].normalised);
                CHECK(actual[i].weight == expected[i].weight && actual[i].contribution == expected[i].contribution);
        }
}

static void test_dispatch_transition_round_trips(void) {
        bl_item_t *item = full_item(200);
        item->state = BL_STATE_DISPATCHED; /* v3: the item's state, seq and attempt are the transition's */
        bl_event_origin_t origin = {"tasks.events", 7, 123456789012, "00-ignored-01"};
        bl_transition_t t = {.task_id = "t-full", .seq = 42, .has_from = true, .from = BL_STATE_READY,
                             .to = BL_STATE_DISPATCHED, .cause = "dispatch", .reason = "scheduled",
                             .event_id = "e-3", .attempt = 2, .at_ms = 1795900000100,
                             .occurred_at_ms = 1795900000050, .dispatch_id = "t-full/2",
                             .policy = "balanced@3", .has_score = true, .score = 0.625, .rationale = criteria,
                             .rationale_count = 3, .origin = &origin};
        for (int with_payload = 0; with_payload <= 1; with_payload++) {
                bl_transition_record_t *record = round_trip_transition(&t, item, with_payload);
                const bl_transition_t *d;
                CHECK(record != NULL);
                if (!record)
                        continue;
                d = &record->transition;
                CHECK_STR(d->task_id, "t-full");
                CHECK_INT(d->seq, 42);
                CHECK(d->has_from && d->from == BL_STATE_READY && d->to == BL_STATE_DISPATCHED);
                CHECK_STR(d->cause, "dispatch");
                CHECK_STR(d->reason, "scheduled");
                CHECK_STR(d->event_id, "e-3");
                CHECK_INT(d->attempt, 2);
                CHECK_INT(d->at_ms, 1795900000100);
                CHECK_INT(d->occurred_at_ms, 1795900000050);
                CHECK_STR(d->dispatch_id, "t-full/2");
                CHECK_STR(d->policy, "balanced@3");
                CHECK(d->has_score && d->score == 0.625);
                check_criteria(d->rationale, d->rationale_count, criteria, 3);
                CHECK(d->origin == &record->origin);
                CHECK_STR(record->origin.topic, "tasks.events");
                CHECK_INT(record->origin.partition, 7);
                CHECK_INT(record->origin.offset, 123456789012);
                CHECK(record->origin.traceparent == NULL); /* the Transition has no such field */
                CHECK_STR(record->instance, "backlogd-test-0");
                check_items_equal(record->item, item, with_payload);
                CHECK(d->actor == NULL && d->provenance == NULL); /* the policy decided as usual */
                bl_transition_record_destroy(record);
        }
        bl_item_destroy(item);
}

static void test_first_transition_round_trips(void) {
        bl_transition_t t = {.task_id = "t-1", .seq = 1, .to = BL_STATE_QUEUED, .cause = "SUBMITTED",
                             .at_ms = 1795900000000, .occurred_at_ms = BL_NO_TIME};
        bl_transition_record_t *record = round_trip_transition(&t, NULL, true);
        CHECK(record != NULL);
        if (!record)
                return;
        CHECK(!record->transition.has_from && record->transition.to == BL_STATE_QUEUED);
        CHECK(record->transition.reason == NULL && record->transition.event_id == NULL);
        CHECK(record->transition.dispatch_id == NULL && record->transition.policy == NULL);
        CHECK(!record->transition.has_score && record->transition.rationale_count == 0);
        CHECK(record->transition.origin == NULL && record->item == NULL);
        CHECK_INT(record->transition.occurred_at_ms, BL_NO_TIME);
        bl_transition_record_destroy(record);
}

/* Who decided: Transition v2's actor and provenance read back as written. */
static void test_transition_provenance_round_trips(void) {
        bl_provenance_t agent = {"triage-agent@1.4.2", NULL, 3, "stale input data", "c-17", 42, false, false};
        bl_provenance_t fallback = {"policy", "timeout", 0, NULL, "c-18", 250, true, true};
        bl_transition_t t = {.task_id = "t-1", .seq = 4, .has_from = true, .from = BL_STATE_READY,
                             .to = BL_STATE_BLOCKED, .cause = "agent", .reason = "escalated",
                             .at_ms = 1795900000000, .occurred_at_ms = BL_NO_TIME, .actor = "alice",
                             .provenance = &agent};
        bl_transition_record_t *record = round_trip_transition(&t, NULL, false);
        CHECK(record != NULL);
        if (record) {
                const bl_provenance_t *p = record->transition.provenance;
                CHECK_STR(record->transition.actor, "alice");
                CHECK(p == &record->provenance);
                CHECK_STR(p->decided_by, "triage-agent@1.4.2");
                CHECK(p->fallback == NULL);
                CHECK_INT(p->agent_rank, 3);
                CHECK_STR(p->agent_reason, "stale input data");
                CHECK_STR(p->consultation_id, "c-17");
                CHECK_INT(p->consultation_latency_ms, 42);
                CHECK(!p->late && !p->probe);
        }
        bl_transition_record_destroy(record);
        t.provenance = &fallback;
        t.actor = NULL;
        record = round_trip_transition(&t, NULL, false);
        CHECK(record != NULL);
        if (record) {
                const bl_provenance_t *p = record->transition.provenance;
                CHECK(record->transition.actor == NULL && p != NULL);
                CHECK_STR(p->decided_by, "policy");
                CHECK_STR(p->fallback, "timeout");
                CHECK_INT(p->agent_rank, 0);
                CHECK(p->agent_reason == NULL);
                CHECK(p->late && p->probe);
        }
        bl_transition_record_destroy(record);
}

/* ---- dispatch decisions and notices ------------------------------------------------ */

/* DispatchDecision v2: a cancellation notice with its actor and reason, and who decided. */
static void test_cancellation_notice_round_trips(void) {
        bl_item_t *item = full_item(0);
        bl_provenance_t late = bl_provenance_none();
        bl_dispatch_t dispatch = {.item = item, .dispatch_id = "t-full/2", .score = 0.5, .policy_name = "balanced",
                                  .policy_version = "3", .decided_at_ms = 1795900000100, .cancel = true,
                                  .actor = "bob", .cancel_reason = "duplicate job", .provenance = &late};
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_dispatch_record_t *record;
        late.late = true;
        CHECK_INT(bl_records_dispatch(records, &dispatch, &value, &size), BL_OK);
        record = bl_records_decode_dispatch(schemas, value, size, &error);
        CHECK(record != NULL);
        if (record) {
                CHECK(record->dispatch.cancel);
                CHECK_STR(record->dispatch.actor, "bob");
                CHECK_STR(record->dispatch.cancel_reason, "duplicate job");
                CHECK(record->dispatch.provenance == &record->provenance && record->provenance.late);
                CHECK(record->provenance.decided_by == NULL && record->provenance.consultation_latency_ms == -1);
        }
        bl_dispatch_record_destroy(record);
        dispatch.cancel = false;
        dispatch.actor = dispatch.cancel_reason = NULL;
        dispatch.provenance = NULL;
        CHECK_INT(bl_records_dispatch(records, &dispatch, &value, &size), BL_OK);
        record = bl_records_decode_dispatch(schemas, value, size, &error);
        CHECK(record != NULL);
        if (record)
                CHECK(!record->dispatch.cancel && record->dispatch.actor == NULL && !record->dispatch.provenance);
        bl_dispatch_record_destroy(record);
        bl_item_destroy(item);
}


static void test_dispatch_decision_round_trips(void) {
        bl_item_t *item = full_item(200);
        bl_dispatch_t dispatch = {.item = item, .dispatch_id = "t-full/2", .score = 0.625, .rationale = criteria,
                                  .rationale_count = 3, .policy_name = "balanced", .policy_version = "3",
                                  .decided_at_ms = 1795900000100};
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_dispatch_record_t *record;
        CHECK_INT(bl_records_dispatch(records, &dispatch, &value, &size), BL_OK);
        check_header(value, size, 9);
        record = bl_records_decode_dispatch(schemas, value, size, &error);
        CHECK(record != NULL);
        if (record) {
                const bl_dispatch_t *d = &record->dispatch;
                CHECK(d->item == record->item);
                CHECK_STR(d->item->task_id, "t-full");
                CHECK_INT(d->item->attempt, 2);
                CHECK_STR(d->dispatch_id, "t-full/2");
                CHECK_STR(d->item->kind->domain, "model_inference");
                CHECK_STR(d->item->kind->task_type, "inference");
                CHECK_STR(d->item->kind->tenant, "acme");
                CHECK(d->score == 0.625);
                check_criteria(d->rationale, d->rationale_count, criteria, 3);
                CHECK_STR(d->policy_name, "balanced");
                CHECK_STR(d->policy_version, "3");
                CHECK_INT(d->decided_at_ms, 1795900000100);
                CHECK_INT(d->item->lease_expires_at_ms, item->lease_expires_at_ms);
                CHECK_INT(d->item->deadline_ms, item->deadline_ms);
                check_labels(d->item, item);
                check_payload(d->item, item, true);
        }
        bl_dispatch_record_destroy(record);
        bl_item_destroy(item);
}

static void check_notice_round_trip(const bl_notice_t *notice) {
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_notice_record_t *record;
        CHECK_INT(bl_records_notice(records, notice, &value, &size), BL_OK);
        check_header(value, size, 6);
        record = bl_records_decode_notice(schemas, value, size, &error);
        CHECK(record != NULL);
        if (!record)
                return;
        CHECK_INT(record->notice.is_outcome, notice->is_outcome);
        CHECK_STR(record->notice.to_task_id, notice->to_task_id);
        CHECK_STR(record->notice.from_task_id, notice->from_task_id);
        if (notice->is_outcome)
                CHECK_INT(record->notice.outcome, notice->outcome);
        CHECK_INT(record->notice.at_ms, notice->at_ms);
        bl_notice_record_destroy(record);
}

static void test_notices_round_trip(void) {
        bl_notice_t waiting = {.is_outcome = false, .to_task_id = "t-parent", .from_task_id = "t-child",
                               .at_ms = 1795900000200};
        bl_notice_t outcome = {.is_outcome = true, .to_task_id = "t-child", .from_task_id = "t-parent",
                               .outcome = BL_STATE_CANCELLED, .at_ms = 1795900000300};
        check_notice_round_trip(&waiting);
        check_notice_round_trip(&outcome);
}

/* Decoded strings are copies: encoding with the same cached schema afterwards leaves them alone. */
static void test_decoded_notice_survives_the_next_encode(void) {
        bl_notice_t first = {.to_task_id = "t-a", .from_task_id = "t-b", .at_ms = 1};
        bl_notice_t second = {.to_task_id = "t-zzzz", .from_task_id = "t-yyyy", .at_ms = 2};
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_notice_record_t *record;
        CHECK_INT(bl_records_notice(records, &first, &value, &size), BL_OK);
        record = bl_records_decode_notice(schemas, value, size, &error);
        CHECK(record != NULL);
        CHECK_INT(bl_records_notice(records, &second, &value, &size), BL_OK);
        if (record) {
                CHECK_STR(record->notice.to_task_id, "t-a");
                CHECK_STR(record->notice.from_task_id, "t-b");
        }
        bl_notice_record_destroy(record);
}

/* Regression (issue 12): our own records read back must not admit strings that are not UTF-8. */
static void test_strings_read_back_must_be_utf8(void) {
        static const char *const keys[] = {"team", "z\xffone"}, *const values[] = {"ml", "eu"};
        bl_notice_t notice = {.to_task_id = "t-a", .from_task_id = "t-\xc3", .at_ms = 1};
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_item_t *item, *decoded;
        CHECK_INT(bl_records_notice(records, &notice, &value, &size), BL_OK);
        CHECK(bl_records_decode_notice(schemas, value, size, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_CONTRACT_VIOLATION);
        CHECK_CONTAINS(error.detail, "from_task_id: not valid UTF-8 at byte 2");
        item = bl_item_new("t-\xed\xa0\x80", 0);
        CHECK_INT(bl_records_item(records, item, false, &value, &size), BL_OK);
        CHECK(bl_records_decode_item(schemas, value, size, 0, &error) == NULL);
        CHECK_CONTAINS(error.detail, "task_id: not valid UTF-8 at byte 2");
        bl_item_destroy(item);
        item = bl_item_new("t-ok", 0);
        bl_labels_set(&bl_item_cold_for_write(item)->labels, keys, values, 2);
        CHECK_INT(bl_records_item(records, item, false, &value, &size), BL_OK);
        decoded = bl_records_decode_item(schemas, value, size, 0, &error);
        CHECK(decoded == NULL);
        CHECK_CONTAINS(error.detail, "labels: not valid UTF-8 at byte 1");
        bl_item_destroy(decoded);
        bl_item_destroy(item);
}

/* An OUTCOME without its outcome cannot be acted on. */
static void test_outcome_notice_needs_its_outcome(void) {
        char errstr[256];
        bl_schema_t *schema = bl_schemas_newest(schemas, "dependency_notice");
        json_t *document = json_loads("{\"kind\": \"OUTCOME\", \"to_task_id\": \"a\", \"from_task_id\": \"b\","
                                      " \"outcome\": null, \"at\": 1}", 0, NULL);
        unsigned char *value = NULL;
        size_t size = 0;
        bl_record_error_t error;
        CHECK_INT(bl_encode_json(schema, schema->id, document, &value, &size, errstr, sizeof(errstr)), BL_OK);
        CHECK(bl_records_decode_notice(schemas, value, size, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_CONTRACT_INCOMPATIBLE);
        CHECK_CONTAINS(error.detail, "DependencyNotice.outcome: required for an OUTCOME notice");
        json_decref(document);
        free(value);
}

/* ---- failures ------------------------------------------------------------------------ */

static unsigned char *encoded_full_item(size_t *size) {
        const void *value;
        unsigned char *copy;
        bl_item_t *item = full_item(200);
        CHECK_INT(bl_records_item(records, item, true, &value, size), BL_OK);
        copy = malloc(*size);
        memcpy(copy, value, *size);
        bl_item_destroy(item);
        return copy;
}

static void test_every_truncation_fails_cleanly(void) {
        size_t size;
        unsigned char *value = encoded_full_item(&size);
        size_t failures = 0;
        for (size_t cut = 0; cut < size; cut++) {
                bl_record_error_t error;
                bl_item_t *item = bl_records_decode_item(schemas, value, cut, 0, &error);
                if (!item && !error.transient && error.detail[0] &&
                    (error.reason == BL_REASON_DECODE_WIRE_FORMAT || error.reason == BL_REASON_DECODE_AVRO))
                        failures++;
                bl_item_destroy(item);
        }
        CHECK_INT(failures, size);
        free(value);
}

static void test_garbage_fails_cleanly(void) {
        size_t size, failures = 0, rounds = 2000;
        unsigned char *value = encoded_full_item(&size);
        unsigned char *noisy = malloc(size + 1);
        bl_record_error_t error;
        bl_item_t *item;
        srand(7);
        for (size_t round = 0; round < rounds; round++) { /* random bytes after a valid header */
                memcpy(noisy, value, BL_WIRE_HEADER_SIZE);
                for (size_t i = BL_WIRE_HEADER_SIZE; i < size; i++)
                        noisy[i] = (unsigned char)rand();
                item = bl_records_decode_item(schemas, noisy, size, 0, &error);
                failures += item == NULL;
                CHECK(item != NULL || (!error.transient && error.detail[0]));
                bl_item_destroy(item);
        }
        CHECK(failures > rounds * 9 / 10);
        memcpy(noisy, value, size); /* one byte too many */
        noisy[size] = 0;
        item = bl_records_decode_item(schemas, noisy, size + 1, 0, &error);
        CHECK(item == NULL && error.reason == BL_REASON_DECODE_AVRO);
        CHECK_CONTAINS(error.detail, "left over");
        bl_item_destroy(item);
        memcpy(noisy, value, size); /* a magic byte that is not 0 */
        noisy[0] = 1;
        CHECK(bl_records_decode_item(schemas, noisy, size, 0, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_DECODE_WIRE_FORMAT);
        CHECK(bl_records_decode_item(schemas, NULL, 0, 0, &error) == NULL); /* a tombstone is no item */
        CHECK_INT(error.reason, BL_REASON_DECODE_WIRE_FORMAT);
        free(noisy);
        free(value);
}

static void test_unknown_schema_id_fails(void) {
        size_t size;
        unsigned char *value = encoded_full_item(&size);
        bl_record_error_t error;
        bl_wire_write_header(value, 999);
        CHECK(bl_records_decode_item(schemas, value, size, 0, &error) == NULL);
        CHECK(!error.transient);
        CHECK_INT(error.reason, BL_REASON_DECODE_SCHEMA_UNKNOWN);
        CHECK_INT(error.schema_id, 999);
        CHECK_CONTAINS(error.detail, "999");
        free(value);
}

/* A notice is not an item, and a TaskEvent is not a transition. */
static void test_another_contract_fails(void) {
        bl_notice_t notice = {.to_task_id = "t-a", .from_task_id = "t-b", .at_ms = 1};
        const void *value;
        size_t size;
        bl_record_error_t error;
        CHECK_INT(bl_records_notice(records, &notice, &value, &size), BL_OK);
        CHECK(bl_records_decode_item(schemas, value, size, 0, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_CONTRACT_INCOMPATIBLE);
        CHECK_CONTAINS(error.detail, "not a BacklogItem");
        CHECK(bl_records_decode_transition(schemas, value, size, 0, &error) == NULL);
        CHECK_CONTAINS(error.detail, "not a Transition");
        CHECK(bl_records_decode_dispatch(schemas, value, size, &error) == NULL);
        CHECK_CONTAINS(error.detail, "not a DispatchDecision");
}

/* ---- other writer versions --------------------------------------------------------------- */

/* An older BacklogItem: the required fields, some with narrower types, and a payload that was a string. */
static const char *const minimal_item_schema =
        "{\"type\": \"record\", \"name\": \"BacklogItem\", \"namespace\": \"io.backlogd\", \"fields\": ["
        "{\"name\": \"task_id\", \"type\": \"string\"},"
        "{\"name\": \"state\", \"type\": {\"type\": \"enum\", \"name\": \"TaskState\", \"symbols\": [\"QUEUED\","
        " \"BLOCKED\", \"READY\", \"DISPATCHED\", \"RUNNING\", \"RETRY_WAIT\", \"COMPLETED\", \"FAILED\", \"DEAD\","
        " \"CANCELLED\", \"EXPIRED\"]}},"
        "{\"name\": \"seq\", \"type\": \"int\"},"
        "{\"name\": \"attempt\", \"type\": \"int\"},"
        "{\"name\": \"task_type\", \"type\": \"string\"},"
        "{\"name\": \"domain\", \"type\": \"string\"},"
        "{\"name\": \"business_value\", \"type\": \"float\"},"
        "{\"name\": \"risk\", \"type\": \"int\"},"
        "{\"name\": \"submitted_at\", \"type\": \"long\"},"
        "{\"name\": \"state_since\", \"type\": \"long\"},"
        "{\"name\": \"payload\", \"type\": [\"null\", \"string\"], \"default\": null}]}";

/* A newer one: a field this backlogd does not know, and the symbols in another order. */
static const char *const future_item_schema =
        "{\"type\": \"record\", \"name\": \"BacklogItem\", \"namespace\": \"io.backlogd\", \"fields\": ["
        "{\"name\": \"priority_class\", \"type\": [\"null\", \"string\"], \"default\": null},"
        "{\"name\": \"task_id\", \"type\": \"string\"},"
        "{\"name\": \"state\", \"type\": {\"type\": \"enum\", \"name\": \"TaskState\", \"symbols\": [\"EXPIRED\","
        " \"QUEUED\", \"BLOCKED\", \"READY\", \"DISPATCHED\", \"RUNNING\", \"RETRY_WAIT\", \"COMPLETED\", \"FAILED\","
        " \"DEAD\", \"CANCELLED\", \"PAUSED\"]}},"
        "{\"name\": \"seq\", \"type\": \"long\"},"
        "{\"name\": \"attempt\", \"type\": \"int\"},"
        "{\"name\": \"task_type\", \"type\": \"string\"},"
        "{\"name\": \"domain\", \"type\": \"string\"},"
        "{\"name\": \"business_value\", \"type\": \"double\"},"
        "{\"name\": \"risk\", \"type\": \"double\"},"
        "{\"name\": \"submitted_at\", \"type\": \"long\"},"
        "{\"name\": \"state_since\", \"type\": \"long\"},"
        "{\"name\": \"labels\", \"type\": {\"type\": \"map\", \"values\": \"string\"}, \"default\": {}}]}";

/* Lacks risk, which has no default. */
static const char *const broken_item_schema =
        "{\"type\": \"record\", \"name\": \"BacklogItem\", \"namespace\": \"io.backlogd\", \"fields\": ["
        "{\"name\": \"task_id\", \"type\": \"string\"},"
        "{\"name\": \"state\", \"type\": {\"type\": \"enum\", \"name\": \"TaskState\", \"symbols\": [\"QUEUED\"]}},"
        "{\"name\": \"seq\", \"type\": \"long\"},"
        "{\"name\": \"attempt\", \"type\": \"int\"},"
        "{\"name\": \"task_type\", \"type\": \"string\"},"
        "{\"name\": \"domain\", \"type\": \"string\"},"
        "{\"name\": \"business_value\", \"type\": \"double\"},"
        "{\"name\": \"submitted_at\", \"type\": \"long\"},"
        "{\"name\": \"state_since\", \"type\": \"long\"}]}";

static void write_file(const char *dir, const char *name, const char *text) {
        char path[1024];
        FILE *file;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        file = fopen(path, "w");
        CHECK(file != NULL);
        if (file) {
                fputs(text, file);
                fclose(file);
        }
}

static void remove_file(const char *dir, const char *name) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        unlink(path);
}

/* The real BacklogItem contract with one more field, as a newer contract version would have it. */
static char *grown_item_schema(void) {
        const bl_catalog_entry_t *real = bl_catalog_find(catalog, "backlog_item", 0);
        json_t *schema = json_deep_copy(real->schema);
        char *text;
        json_array_append_new(json_object_get(schema, "fields"),
                              json_pack("{s:s, s:[s,s], s:n}", "name", "escalation", "type", "null", "string",
                                        "default"));
        text = json_dumps(schema, JSON_COMPACT);
        json_decref(schema);
        return text;
}

/* A catalog of foreign BacklogItem versions in a temporary directory. */
static bl_catalog_t *foreign_catalog(char *dir) {
        char errstr[512];
        char *grown = grown_item_schema();
        bl_catalog_t *foreign;
        CHECK(mkdtemp(dir) != NULL);
        write_file(dir, "ids.json",
                   "{\"schemas\": [{\"id\": 40, \"contract\": \"backlog_item\", \"version\": 1, \"file\": \"v1.avsc\"},"
                   " {\"id\": 41, \"contract\": \"backlog_item\", \"version\": 2, \"file\": \"v2.avsc\"},"
                   " {\"id\": 43, \"contract\": \"backlog_item\", \"version\": 3, \"file\": \"v3.avsc\"},"
                   " {\"id\": 42, \"contract\": \"broken_item\", \"version\": 1, \"file\": \"broken.avsc\"}]}");
        write_file(dir, "v1.avsc", minimal_item_schema);
        write_file(dir, "v2.avsc", future_item_schema);
        write_file(dir, "v3.avsc", grown);
        write_file(dir, "broken.avsc", broken_item_schema);
        free(grown);
        foreign = bl_catalog_load(dir, errstr, sizeof(errstr));
        if (!foreign)
                fprintf(stderr, "foreign catalog: %s\n", errstr);
        return foreign;
}

static void remove_foreign_catalog(const char *dir) {
        remove_file(dir, "ids.json");
        remove_file(dir, "v1.avsc");
        remove_file(dir, "v2.avsc");
        remove_file(dir, "v3.avsc");
        remove_file(dir, "broken.avsc");
        rmdir(dir);
}

/* Encodes an item as JSON with schema @p id of @p cache: the required fields, @p state, then @p extra. */
static size_t encode_json(bl_schemas_t *cache, int32_t id, const char *state, const char *extra,
                          unsigned char **value) {
        char errstr[256], json[1024];
        size_t size = 0;
        bl_schema_t *schema;
        json_t *document;
        snprintf(json, sizeof(json),
                 "{\"task_id\": \"t-old\", \"state\": \"%s\", \"seq\": 3, \"attempt\": 1, \"task_type\": \"infer\","
                 " \"domain\": \"evaluation\", \"business_value\": 0.5, \"submitted_at\": 10, \"state_since\": 20%s}",
                 state, extra);
        document = json_loads(json, 0, NULL);
        *value = NULL;
        CHECK(document != NULL);
        CHECK(bl_schemas_get(cache, id, &schema, errstr, sizeof(errstr)) == BL_OK);
        if (bl_encode_json(schema, id, document, value, &size, errstr, sizeof(errstr)) != BL_OK)
                fprintf(stderr, "encode: %s\n", errstr);
        json_decref(document);
        return size;
}

/* Older: promotions (int -> long, float -> double, int -> double, string -> bytes), and every default. */
static void check_older_writer(bl_schemas_t *cache) {
        unsigned char *value;
        size_t size = encode_json(cache, 40, "READY", ", \"risk\": 1, \"payload\": \"hi\"", &value);
        bl_record_error_t error;
        bl_item_t *item = bl_records_decode_item(cache, value, size, 2, &error);
        CHECK(item != NULL);
        if (item) {
                CHECK_STR(item->task_id, "t-old");
                CHECK_INT(item->partition, 2);
                CHECK_INT(item->state, BL_STATE_READY);
                CHECK_INT(item->seq, 3);
                CHECK(item->business_value == 0.5 && item->risk == 1.0);
                CHECK_STR(item->kind->sla_class, "standard");
                CHECK(item->has_payload && item->payload_size == 2 && !memcmp(item->payload, "hi", 2));
                CHECK(item->kind->tenant == NULL && bl_item_cold(item)->traceparent == NULL &&
                      !bl_item_cold(item)->has_last_error);
                CHECK(item->max_attempts == 0 && item->deadline_ms == BL_NO_TIME && item->terminal_at_ms == BL_NO_TIME);
                CHECK(bl_item_cold(item)->depends_on.count == 0 && bl_item_cold(item)->labels.count == 0 &&
                      !item->placeholder);
        }
        bl_item_destroy(item);
        free(value);
}

/* Newer: an unknown field is skipped, the enum is read by symbol (its indexes moved), a new symbol fails. */
static void check_newer_writer(bl_schemas_t *cache) {
        unsigned char *value;
        size_t size = encode_json(cache, 41, "READY", ", \"priority_class\": \"p1\", \"risk\": 0.25,"
                                  " \"labels\": {\"a\": \"b\"}", &value);
        bl_record_error_t error;
        bl_item_t *item = bl_records_decode_item(cache, value, size, 2, &error);
        CHECK(item != NULL && item->state == BL_STATE_READY && item->risk == 0.25 &&
              bl_item_cold(item)->labels.count == 1);
        bl_item_destroy(item);
        free(value);
        size = encode_json(cache, 41, "PAUSED", ", \"risk\": 0.25", &value);
        CHECK(bl_records_decode_item(cache, value, size, 2, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_CONTRACT_INCOMPATIBLE);
        CHECK_CONTAINS(error.detail, "BacklogItem.state");
        free(value);
}

static void check_required_field_missing(bl_schemas_t *cache) {
        unsigned char *value;
        size_t size = encode_json(cache, 42, "QUEUED", "", &value);
        bl_record_error_t error;
        CHECK(bl_records_decode_item(cache, value, size, 2, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_CONTRACT_INCOMPATIBLE);
        CHECK_CONTAINS(error.detail, "BacklogItem.risk: required");
        free(value);
}

/* Encoding with a contract that differs from the code stops with the field at fault. */
static void check_encoding_with_other_contracts(bl_schemas_t *cache) {
        char errstr[256];
        bl_records_buffer_t buffer = {0};
        bl_schema_t *future = bl_schemas_version(cache, "backlog_item", 2);
        bl_schema_t *grown = bl_schemas_version(cache, "backlog_item", 3);
        bl_item_t *item = full_item(10);
        CHECK(future != NULL && grown != NULL);
        if (future && grown) {
                CHECK_INT(bl_records_encode_item(future, 41, item, true, &buffer, errstr, sizeof(errstr)),
                          BL_ERR_MISMATCH);
                CHECK_CONTAINS(errstr, "BacklogItem.task_id: the schema has priority_class before it, which this "
                                       "backlogd does not write");
                CHECK_INT(bl_records_encode_item(grown, 43, item, true, &buffer, errstr, sizeof(errstr)),
                          BL_ERR_MISMATCH);
                CHECK_CONTAINS(errstr, "BacklogItem.escalation: in the schema, and this backlogd does not write it");
        }
        bl_item_destroy(item);
        bl_records_buffer_free(&buffer);
}

static void test_other_writer_versions(void) {
        char dir[] = "/tmp/test_records.XXXXXX", errstr[256];
        bl_catalog_t *foreign = foreign_catalog(dir);
        bl_schemas_t *cache = foreign ? bl_schemas_new(foreign, NULL, errstr, sizeof(errstr)) : NULL;
        CHECK(cache != NULL);
        if (cache) {
                check_older_writer(cache);
                check_newer_writer(cache);
                check_required_field_missing(cache);
                check_encoding_with_other_contracts(cache);
        }
        bl_schemas_destroy(cache);
        bl_catalog_destroy(foreign);
        remove_foreign_catalog(dir);
}

/* The code writes every field the contract has, and no other. */
static void test_encoders_refuse_other_records(void) {
        char errstr[256];
        bl_records_buffer_t buffer = {0};
        bl_notice_t notice = {.to_task_id = "a", .from_task_id = "b"};
        bl_item_t *item = full_item(1);
        bl_schema_t *item_schema = bl_schemas_newest(schemas, "backlog_item");
        CHECK_INT(bl_records_encode_notice(item_schema, 4, &notice, &buffer, errstr, sizeof(errstr)),
                  BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "not a DependencyNotice");
        item->state = BL_STATE__COUNT;
        CHECK_INT(bl_records_item(records, item, true, &(const void *){NULL}, &(size_t){0}), BL_ERR_MISMATCH);
        CHECK_CONTAINS(bl_records_last_error(records), "BacklogItem.state");
        bl_item_destroy(item);
        bl_records_buffer_free(&buffer);
}

static void test_transition_schema_parses_with_its_embedded_item(void) {
        bl_schema_t *transition = bl_schemas_version(schemas, "transition", 2);
        avro_schema_t item_union;
        int index;
        CHECK(transition != NULL);
        if (!transition)
                return;
        index = avro_schema_record_field_get_index(transition->avro, "item");
        CHECK(index >= 0);
        item_union = avro_schema_record_field_get_by_index(transition->avro, index);
        CHECK(avro_typeof(item_union) == AVRO_UNION);
        CHECK_STR(avro_schema_name(avro_schema_union_branch(item_union, 1)), "BacklogItem");
        {       /* the same record as the snapshot's contract, so a change encodes its item once */
                char errstr[200];
                bl_avro_shape_t *embedding = bl_avro_shape_new(transition->avro, errstr, sizeof(errstr));
                bl_avro_shape_t *item = bl_avro_shape_new(bl_schemas_newest(schemas, "backlog_item")->avro, errstr,
                                                          sizeof(errstr));
                CHECK(embedding && item && bl_avro_shape_equal(embedding->fields[index].record, item));
                bl_avro_shape_free(embedding);
                bl_avro_shape_free(item);
        }
}

/* ---- the encoder against the schema, field by field ------------------------------------------- */

/* @p json as a schema of id 99, parsed here: only the encoder reads it. */
static bl_err_t encode_notice_with(const char *fields, char *errstr, size_t errstr_size, bl_records_buffer_t *out) {
        char json[1024];
        bl_notice_t notice = {.is_outcome = true, .to_task_id = "to", .from_task_id = "from",
                              .outcome = BL_STATE_FAILED, .at_ms = 7};
        bl_schema_t schema = {.id = 99};
        bl_err_t err;
        snprintf(json, sizeof(json), "{\"type\": \"record\", \"name\": \"DependencyNotice\", \"fields\": [%s]}", fields);
        CHECK_INT(avro_schema_from_json_length(json, strlen(json), &schema.avro), 0);
        err = bl_records_encode_notice(&schema, 99, &notice, out, errstr, errstr_size);
        avro_schema_decref(schema.avro);
        return err;
}

#define NOTICE_KIND "{\"name\": \"kind\", \"type\": {\"type\": \"enum\", \"name\": \"K\", \"symbols\": [\"WAITING\", \"OUTCOME\"]}}"
#define NOTICE_STATE "{\"type\": \"enum\", \"name\": \"S\", \"symbols\": [\"COMPLETED\", \"FAILED\"]}"

/* A type changed, a field moved, one lost, one added, a symbol missing: each named. */
static void test_encoder_checks_each_field_against_the_schema(void) {
        static const struct {
                const char *fields;
                const char *error;
        } cases[] = {
                {NOTICE_KIND ", {\"name\": \"to_task_id\", \"type\": \"string\"}, {\"name\": \"from_task_id\", \"type\": \"string\"},"
                 " {\"name\": \"outcome\", \"type\": [\"null\", " NOTICE_STATE "]}, {\"name\": \"at\", \"type\": \"int\"}",
                 "DependencyNotice.at: of another type in the schema"},
                {NOTICE_KIND ", {\"name\": \"from_task_id\", \"type\": \"string\"}, {\"name\": \"to_task_id\", \"type\": \"string\"},"
                 " {\"name\": \"outcome\", \"type\": [\"null\", " NOTICE_STATE "]}, {\"name\": \"at\", \"type\": \"long\"}",
                 "DependencyNotice.to_task_id: the schema has from_task_id before it"},
                {NOTICE_KIND ", {\"name\": \"to_task_id\", \"type\": \"string\"}, {\"name\": \"from_task_id\", \"type\": \"string\"},"
                 " {\"name\": \"at\", \"type\": \"long\"}",
                 "DependencyNotice.outcome: not in the schema"},
                {NOTICE_KIND ", {\"name\": \"to_task_id\", \"type\": \"string\"}, {\"name\": \"from_task_id\", \"type\": \"string\"},"
                 " {\"name\": \"outcome\", \"type\": [\"null\", " NOTICE_STATE "]}, {\"name\": \"at\", \"type\": \"long\"},"
                 " {\"name\": \"hops\", \"type\": \"int\", \"default\": 0}",
                 "DependencyNotice.hops: in the schema, and this backlogd does not write it"},
                {NOTICE_KIND ", {\"name\": \"to_task_id\", \"type\": [\"null\", \"string\"]}, {\"name\": \"from_task_id\", \"type\": \"string\"},"
                 " {\"name\": \"outcome\", \"type\": [\"null\", {\"type\": \"enum\", \"name\": \"S\", \"symbols\": [\"COMPLETED\"]}]},"
                 " {\"name\": \"at\", \"type\": \"long\"}",
                 "DependencyNotice.outcome: the enum lacks the symbol"},
                {NOTICE_KIND ", {\"name\": \"to_task_id\", \"type\": \"string\"}, {\"name\": \"from_task_id\", \"type\": \"string\"},"
                 " {\"name\": \"outcome\", \"type\": " NOTICE_STATE "}, {\"name\": \"at\", \"type\": \"long\"}",
                 NULL}, /* an outcome notice fits a non-null outcome */
        };
        char errstr[256];
        bl_records_buffer_t buffer = {0};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bl_err_t err = encode_notice_with(cases[i].fields, errstr, sizeof(errstr), &buffer);
                if (!cases[i].error) {
                        CHECK_INT(err, BL_OK);
                        continue;
                }
                CHECK_INT(err, BL_ERR_MISMATCH);
                CHECK_CONTAINS(errstr, cases[i].error);
        }
        bl_records_buffer_free(&buffer);
}

/* A union written as [T, null] takes branch 0 for the value: read back by avro-c with that schema. */
static void test_encoder_follows_the_schemas_union_order(void) {
        static const char *const fields =
                NOTICE_KIND ", {\"name\": \"to_task_id\", \"type\": \"string\"}, {\"name\": \"from_task_id\", \"type\": \"string\"},"
                " {\"name\": \"outcome\", \"type\": [" NOTICE_STATE ", \"null\"]}, {\"name\": \"at\", \"type\": \"long\"}";
        char errstr[256], json[1024];
        bl_records_buffer_t buffer = {0};
        avro_schema_t schema = NULL;
        avro_value_iface_t *iface;
        avro_value_t value, field, branch;
        avro_reader_t reader;
        int64_t at = 0;
        int symbol = -1;
        CHECK_INT(encode_notice_with(fields, errstr, sizeof(errstr), &buffer), BL_OK);
        snprintf(json, sizeof(json), "{\"type\": \"record\", \"name\": \"DependencyNotice\", \"fields\": [%s]}", fields);
        avro_schema_from_json_length(json, strlen(json), &schema);
        iface = avro_generic_class_from_schema(schema);
        avro_generic_value_new(iface, &value);
        reader = avro_reader_memory((const char *)buffer.bytes + BL_WIRE_HEADER_SIZE,
                                    (int64_t)(buffer.size - BL_WIRE_HEADER_SIZE));
        CHECK_INT(avro_value_read(reader, &value), 0);
        CHECK(avro_value_get_by_name(&value, "outcome", &field, NULL) == 0 &&
              avro_value_get_current_branch(&field, &branch) == 0 && avro_value_get_enum(&branch, &symbol) == 0);
        CHECK_INT(symbol, 1); /* FAILED */
        CHECK(avro_value_get_by_name(&value, "at", &field, NULL) == 0 && avro_value_get_long(&field, &at) == 0);
        CHECK_INT(at, 7);
        avro_reader_free(reader);
        avro_value_decref(&value);
        avro_value_iface_decref(iface);
        avro_schema_decref(schema);
        bl_records_buffer_free(&buffer);
}

/* ---- random items ------------------------------------------------------------------------------- */


/* 0 to 299 bytes of printable ASCII and UTF-8, never NUL; sometimes empty. */
static char *random_text(void) {
        static const char *const pieces[] = {"a", "Z", "-", " ", "é", "✓", "_", "7", "\"", "\\"};
        size_t pieces_count = one_in(8) ? 0 : next_random() % 100;
        char *text = malloc(pieces_count * 3 + 1);
        text[0] = '\0';
        for (size_t i = 0; i < pieces_count; i++)
                strcat(text, pieces[next_random() % 10]);
        return text;
}

static char *random_text_after(const char *prefix) {
        char *text = random_text(), *joined = malloc(strlen(prefix) + strlen(text) + 1);
        strcpy(joined, prefix);
        strcat(joined, text);
        free(text);
        return joined;
}

static void push_random(bl_strvec_t *vec, size_t count) {
        for (size_t i = 0; i < count; i++) {
                char *text = random_text();
                CHECK(bl_strvec_push(vec, text));
                free(text);
        }
}

static int64_t random_time(void) {
        static const int64_t edges[] = {0, 1, INT64_MAX, INT64_MIN, -2, 1795900000000};
        if (one_in(3))
                return BL_NO_TIME;
        return one_in(4) ? edges[next_random() % 6] : (int64_t)(next_random() >> 1);
}

static double random_double(void) {
        static const double edges[] = {0.0, -0.0, 1.0, -1e308, 4.9e-324, 1e-9};
        uint64_t bits = next_random();
        double number;
        if (one_in(3))
                return edges[next_random() % 6];
        memcpy(&number, &bits, sizeof(number));
        return number == number ? number : 0.5; /* NaN never equals itself, so the comparison could not check it */
}

static bl_item_t *random_item(void) {
        char *task_id = random_text();
        bl_item_t *item = bl_item_new(task_id, (int32_t)(next_random() % 64));
        free(task_id);
        item->state = (bl_state_t)(next_random() % BL_STATE__COUNT);
        item->seq = (int64_t)next_random();
        item->attempt = (int32_t)next_random();
        item->max_attempts = one_in(2) ? 0 : (int32_t)next_random();
        item->placeholder = one_in(5);
        char *task_type = NULL, *domain = NULL, *tenant = one_in(2) ? random_text() : NULL;
        char *sla_class = random_text();
        if (!item->placeholder) { /* "" would read back as NULL, a placeholder's missing type and domain */
                task_type = random_text_after("type-");
                domain = random_text_after("domain-");
        }
        CHECK(bl_item_set_kind(item, task_type, domain, tenant, sla_class));
        free(task_type);
        free(domain);
        free(tenant);
        free(sla_class);
        item->business_value = random_double();
        item->risk = random_double();
        item->submitted_at_ms = random_time();
        item->state_since_ms = random_time();
        item->deadline_ms = random_time();
        item->not_before_ms = random_time();
        item->data_ready_at_ms = random_time();
        item->ready_since_ms = random_time();
        item->lease_expires_at_ms = random_time();
        item->retry_at_ms = random_time();
        item->terminal_at_ms = random_time();
        bl_item_cold_t cold = {0}; /* often left empty: the item then has none */
        if (one_in(2)) {
                push_random(&cold.depends_on, next_random() % 4);
                push_random(&cold.pending_deps, next_random() % 3);
                push_random(&cold.dependents, next_random() % 70); /* sometimes more than one byte of count */
        }
        item->approval_required = one_in(2);
        item->approved = one_in(2);
        char label_keys[6][32], *label_values[6];
        const char *keys[6];
        size_t labels = next_random() % 6;
        for (size_t i = 0; i < labels; i++) {
                snprintf(label_keys[i], sizeof(label_keys[i]), "key-%zu", i); /* map keys are unique */
                keys[i] = label_keys[i];
                label_values[i] = random_text();
        }
        CHECK(bl_labels_set(&cold.labels, keys, (const char *const *)label_values, labels));
        for (size_t i = 0; i < labels; i++)
                free(label_values[i]);
        if (!one_in(4))
                set_payload(item, next_random() % 3000);
        cold.traceparent = one_in(2) ? random_text() : NULL;
        if ((cold.has_last_error = one_in(3))) {
                cold.error_code = random_text();
                cold.error_message = random_text();
                cold.error_retryable = one_in(2);
        }
        CHECK(bl_item_adopt_cold(item, &cold));
        for (size_t i = 0, events = next_random() % 10; i < events; i++) {
                char *event_id = random_text();
                CHECK(bl_item_remember_event(item, event_id, 32));
                free(event_id);
        }
        return item;
}

/* Whatever the item holds, the bytes decode (by avro-c, with the contract) to the same item. */
static void test_random_items_round_trip(void) {
        for (int i = 0; i < 3000; i++) {
                bl_item_t *item = random_item();
                bool with_payload = !one_in(3);
                bl_item_t *decoded = round_trip_item(item, with_payload);
                check_items_equal(decoded, item, with_payload);
                bl_item_destroy(decoded);
                bl_item_destroy(item);
        }
}

/* ---- the direct read of snapshots against the generic one ------------------------------------- */

/*
 * The read in place of @p value agrees with @p direct, the direct read of
 * it: the same item (a view, or one of its own when the direct reader
 * declined), or the same refusal.
 */
static void check_view_agrees(const void *value, size_t size, int32_t partition, const bl_item_t *direct,
                              const bl_record_error_t *direct_error) {
        bl_record_error_t error;
        bool borrowed = true;
        bl_item_t *item = bl_records_decode_item_view(schemas, value, size, partition, &view, &borrowed, &error);
        CHECK((item == NULL) == (direct == NULL));
        if (item && direct)
                check_items_equal(item, direct, true);
        if (!item && !direct) {
                CHECK_INT(error.reason, direct_error->reason);
                CHECK_STR(error.detail, direct_error->detail);
        }
        CHECK(!item || borrowed == (item == view.item));
        if (!borrowed)
                bl_item_destroy(item);
}

/* Both reads of @p value: the same item, or the same refusal (reason, detail, schema id, transient). */
static void check_reads_agree(const void *value, size_t size, int32_t partition, bl_item_t **direct_out) {
        bl_record_error_t direct_error, generic_error;
        bl_item_t *direct = bl_records_decode_item(schemas, value, size, partition, &direct_error);
        bl_item_t *generic = bl_records_decode_item_generic(schemas, value, size, partition, &generic_error);
        CHECK((direct == NULL) == (generic == NULL));
        check_view_agrees(value, size, partition, direct, &direct_error);
        if (direct && generic)
                check_items_equal(direct, generic, true);
        if (!direct && !generic) {
                CHECK_INT(direct_error.reason, generic_error.reason);
                CHECK_STR(direct_error.detail, generic_error.detail);
                CHECK_INT(direct_error.schema_id, generic_error.schema_id);
                CHECK_INT(direct_error.transient, generic_error.transient);
        }
        bl_item_destroy(generic);
        if (direct_out)
                *direct_out = direct;
        else
                bl_item_destroy(direct);
}

/* The task_id the schema cache's generic value of BacklogItem holds now: the last record avro-c read. */
static const char *generic_value_task_id(void) {
        char errstr[256];
        bl_schema_t *writer = NULL;
        avro_value_t field;
        const char *task_id = NULL;
        size_t size;
        CHECK_INT(bl_schemas_get(schemas, 4, &writer, errstr, sizeof(errstr)), BL_OK);
        if (writer && !avro_value_get_by_name(&writer->value, "task_id", &field, NULL))
                avro_value_get_string(&field, &task_id, &size);
        return task_id ? task_id : "";
}

/* Random items decode to the same item both ways. */
static void test_direct_read_matches_the_generic_one(void) {
        for (int i = 0; i < 3000; i++) {
                const void *value;
                size_t size;
                bl_item_t *item = random_item(), *decoded = NULL;
                bool with_payload = !one_in(3);
                CHECK_INT(bl_records_item(records, item, with_payload, &value, &size), BL_OK);
                check_reads_agree(value, size, item->partition, &decoded);
                check_items_equal(decoded, item, with_payload);
                bl_item_destroy(decoded);
                bl_item_destroy(item);
        }
}

/* The snapshots backlogd writes are read straight from their bytes: avro-c's value is not touched. */
static void test_direct_read_is_the_one_taken(void) {
        const void *value;
        size_t size;
        bl_record_error_t error;
        bl_item_t *item = bl_item_new("t-read-by-avro-c", 0);
        CHECK_INT(bl_records_item(records, item, false, &value, &size), BL_OK);
        bl_item_destroy(bl_records_decode_item_generic(schemas, value, size, 0, &error));
        bl_item_destroy(item);
        for (int i = 0; i < 100; i++) {
                item = random_item();
                CHECK_INT(bl_records_item(records, item, true, &value, &size), BL_OK);
                bl_item_destroy(bl_records_decode_item(schemas, value, size, 0, &error));
                bl_item_destroy(item);
        }
        item = full_item(200);
        CHECK_INT(bl_records_item(records, item, true, &value, &size), BL_OK);
        bl_item_destroy(bl_records_decode_item(schemas, value, size, 0, &error));
        bl_item_destroy(item);
        CHECK_STR(generic_value_task_id(), "t-read-by-avro-c");
}

/*
 * Valid snapshots with one to four bytes changed: whatever the direct read
 * makes of them, the generic one makes too: the same item or the same error.
 * Every cut of one agrees too.
 */
static void test_direct_read_agrees_on_damaged_bytes(void) {
        size_t accepted = 0, rounds = 6000;
        for (size_t round = 0; round < rounds; round++) {
                bl_item_t *item = random_item(), *decoded = NULL;
                const void *value;
                size_t size;
                unsigned char *copy;
                CHECK_INT(bl_records_item(records, item, one_in(2), &value, &size), BL_OK);
                copy = malloc(size);
                memcpy(copy, value, size);
                for (size_t changes = 1 + next_random() % 4; changes > 0; changes--) {
                        size_t at = BL_WIRE_HEADER_SIZE + next_random() % (size - BL_WIRE_HEADER_SIZE);
                        copy[at] = one_in(2) ? (unsigned char)next_random() : (unsigned char)(copy[at] ^ 1);
                }
                check_reads_agree(copy, size, 1, &decoded);
                accepted += decoded != NULL;
                bl_item_destroy(decoded);
                if (round % 20 == 0)
                        for (size_t cut = 0; cut < size; cut += 1 + size / 64)
                                check_reads_agree(copy, cut, 1, NULL);
                free(copy);
                bl_item_destroy(item);
        }
        CHECK(accepted > 0 && accepted < rounds); /* both outcomes were seen */
}

/* Bytes the direct read declines (a map key twice, a NUL, an unknown symbol) get the generic verdict. */
static void test_direct_read_declines_to_the_generic_one(void) {
        static const char *const keys[] = {"ka", "kb"}, *const values[] = {"first", "other"};
        const void *value;
        size_t size;
        unsigned char *copy, *key;
        bl_item_t *item = full_item(10), *decoded = NULL;
        CHECK(bl_labels_set(&bl_item_cold_for_write(item)->labels, keys, values, 2));
        CHECK_INT(bl_records_item(records, item, true, &value, &size), BL_OK);
        copy = malloc(size);
        memcpy(copy, value, size);
        key = memmem(copy, size, "kb", 2);
        CHECK(key != NULL);
        if (key) {
                key[1] = 'a'; /* the map holds "ka" twice: avro-c keeps the first place and the last value */
                check_reads_agree(copy, size, 0, &decoded);
                CHECK(decoded && bl_item_cold(decoded)->labels.count == 1);
                bl_item_destroy(decoded);
                key[1] = '\0'; /* a NUL in a map key: refused */
                check_reads_agree(copy, size, 0, NULL);
        }
        memcpy(copy, value, size);
        copy[BL_WIRE_HEADER_SIZE + 1 + strlen(item->task_id)] = 2 * 11; /* state index 11: past TaskState's symbols */
        check_reads_agree(copy, size, 0, NULL);
        free(copy);
        bl_item_destroy(item);
}

/*
 * Regression (found by fuzz_records): an array's block count that is no
 * varint (ten bytes with the continuation bit) was taken for the end of the
 * array whenever the uninitialised count happened to be 0, and the direct
 * read accepted what the walk refuses.
 */
static void test_direct_read_refuses_a_block_count_that_is_no_number(void) {
        static const unsigned char value[] = {
                0x00, 0x00, 0x00, 0x00, 0x04, 0x1a, 0x70, 0x2d, 0x6c, 0x74, 0x61, 0x63, 0x65, 0x0b, 0x01, 0x6c,
                0x64, 0x65, 0x72, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                0x01, 0x86, 0x93, 0x03, 0x00, 0x31, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xd8, 0xd8, 0xd8, 0xd8, 0xd8, 0xd8, 0xd8, 0xd8,
                0xd8, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
        bl_record_error_t error;
        CHECK(bl_records_decode_item(schemas, value, sizeof(value), 0, &error) == NULL);
        CHECK_INT(error.reason, BL_REASON_DECODE_AVRO);
        CHECK_CONTAINS(error.detail, "number longer than its type allows");
        check_reads_agree(value, sizeof(value), 0, NULL);
}

/* A NUL or a byte that is not UTF-8 past the first eight bytes of a string (the words read at once) is still seen. */
static void test_direct_read_checks_every_byte_of_a_string(void) {
        static const char *const bad[] = {"abcdefgh\xffjklmnop", "abcdefghijklmno\xc3", "abcdefghijklmnopqrstuvw\x80"};
        const void *value;
        size_t size;
        bl_record_error_t error;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bl_item_t *item = bl_item_new(bad[i], 0);
                CHECK_INT(bl_records_item(records, item, false, &value, &size), BL_OK);
                CHECK(bl_records_decode_item(schemas, value, size, 0, &error) == NULL);
                CHECK_CONTAINS(error.detail, "task_id: not valid UTF-8");
                check_reads_agree(value, size, 0, NULL);
                bl_item_destroy(item);
        }
        for (size_t at = 0; at < 20; at++) { /* a NUL at every place of a 20-byte task_id */
                bl_item_t *item = bl_item_new("abcdefghijklmnopqrst", 0);
                unsigned char *copy;
                CHECK_INT(bl_records_item(records, item, false, &value, &size), BL_OK);
                copy = malloc(size);
                memcpy(copy, value, size);
                copy[BL_WIRE_HEADER_SIZE + 1 + at] = '\0';
                CHECK(bl_records_decode_item(schemas, copy, size, 0, &error) == NULL);
                CHECK_CONTAINS(error.detail, "task_id: contains a NUL byte");
                check_reads_agree(copy, size, 0, NULL);
                free(copy);
                bl_item_destroy(item);
        }
}

/* A change's transition, with the snapshot's item bytes spliced in, is byte for byte the transition encoded alone. */
static void test_change_is_the_transition_and_snapshot_encoded_alone(void) {
        bl_criterion_t criterion = {"aging", 0.5, 0.25, 0.2, 0.05};
        for (int i = 0; i < 1000; i++) {
                bl_item_t *item = random_item();
                bool with_payload = one_in(2);
                bl_transition_t transition = {.task_id = item->task_id, .seq = item->seq, .has_from = one_in(2),
                                              .to = item->state, .cause = "SUBMITTED", .attempt = item->attempt,
                                              .at_ms = 5, .occurred_at_ms = BL_NO_TIME, .rationale = &criterion,
                                              .rationale_count = (size_t)(next_random() % 2)};
                const void *change_value, *snapshot_value, *alone;
                size_t change_size, snapshot_size, alone_size;
                unsigned char *change_copy, *snapshot_copy;
                bl_records_forget_changes(records);
                CHECK_INT(bl_records_change(records, &transition, item, with_payload, &change_value, &change_size,
                                            &snapshot_value, &snapshot_size),
                          BL_OK);
                change_copy = malloc(change_size);
                snapshot_copy = malloc(snapshot_size);
                memcpy(change_copy, change_value, change_size);
                memcpy(snapshot_copy, snapshot_value, snapshot_size);
                bl_records_forget_changes(records);
                CHECK_INT(bl_records_transition(records, &transition, item, with_payload, &alone, &alone_size), BL_OK);
                CHECK(alone_size == change_size && !memcmp(alone, change_copy, change_size));
                CHECK_INT(bl_records_item(records, item, true, &alone, &alone_size), BL_OK);
                CHECK(alone_size == snapshot_size && !memcmp(alone, snapshot_copy, snapshot_size));
                free(change_copy);
                free(snapshot_copy);
                bl_item_destroy(item);
        }
}

/* ---- Transition v3: the item told as changes, and read back with the transition reader ------------- */

/* Gives @p to field @p field of @p from (the order of Transition v3's change records); 27 fields. */
#define CHANGE_FIELDS 27
static void take_field(bl_item_t *to, const bl_item_t *from, int field) {
        const bl_kind_t *k = to->kind, *f = from->kind;
        bl_item_cold_t *cold = bl_item_cold_for_write(to);
        const bl_item_cold_t *other = bl_item_cold(from);
        const char *keys[8], *values[8];
        size_t labels = 0;
        switch (field) {
        case 0: to->max_attempts = to->max_attempts == 7 ? 8 : 7; break;
        case 1: CHECK(bl_item_set_kind(to, f->task_type ? f->task_type : "t2", k->domain, k->tenant, k->sla_class)); break;
        case 2: CHECK(bl_item_set_kind(to, k->task_type, f->domain ? f->domain : "d2", k->tenant, k->sla_class)); break;
        case 3: CHECK(bl_item_set_kind(to, k->task_type, k->domain, k->tenant ? NULL : "acme", k->sla_class)); break;
        case 4: CHECK(bl_item_set_kind(to, k->task_type, k->domain, k->tenant, "platinum")); break;
        case 5: to->business_value += 1.5; break;
        case 6: to->risk -= 0.25; break;
        case 7: to->submitted_at_ms = to->submitted_at_ms == 1795900000130 ? 1795900000131 : 1795900000130; break;
        case 8: to->deadline_ms = to->deadline_ms == BL_NO_TIME ? 1795900000123 : BL_NO_TIME; break;
        case 9: to->not_before_ms = to->not_before_ms == BL_NO_TIME ? 1795900000124 : BL_NO_TIME; break;
        case 10: to->data_ready_at_ms = to->data_ready_at_ms == BL_NO_TIME ? 1795900000125 : BL_NO_TIME; break;
        case 11: to->state_since_ms = to->state_since_ms == 1795900000132 ? 1795900000133 : 1795900000132; break;
        case 12: to->ready_since_ms = to->ready_since_ms == BL_NO_TIME ? 1795900000126 : BL_NO_TIME; break;
        case 13: to->lease_expires_at_ms = to->lease_expires_at_ms == BL_NO_TIME ? 1795900000127 : BL_NO_TIME; break;
        case 14: to->retry_at_ms = to->retry_at_ms == BL_NO_TIME ? 1795900000128 : BL_NO_TIME; break;
        case 15: bl_strvec_clear(&cold->depends_on); push_random(&cold->depends_on, 1 + next_random() % 3); break;
        case 16: bl_strvec_clear(&cold->pending_deps); push_random(&cold->pending_deps, 1 + next_random() % 3); break;
        case 17: bl_strvec_clear(&cold->dependents); push_random(&cold->dependents, 1 + next_random() % 3); break;
        case 18: to->approval_required = !to->approval_required; break;
        case 19: to->approved = !to->approved; break;
        case 20:
                for (const char *key = bl_labels_next(&other->labels, NULL, &values[0]); key && labels < 8;
                     key = bl_labels_next(&other->labels, key, &values[labels]))
                        keys[labels++] = key;
                CHECK(bl_labels_set(&cold->labels, keys, values, labels ? labels - 1 : 0));
                if (!labels || labels == 1)
                        CHECK(bl_labels_set(&cold->labels, (const char *const[]){"new"}, (const char *const[]){"v"}, 1));
                break;
        case 21: set_payload(to, 10 + next_random() % 50); break;
        case 22: CHECK(bl_item_replace_text(&cold->traceparent, cold->traceparent ? NULL : "00-ab-cd-01")); break;
        case 23:
                cold->has_last_error = !cold->has_last_error;
                cold->error_retryable = cold->has_last_error && !cold->error_retryable;
                CHECK(bl_item_replace_text(&cold->error_code, cold->has_last_error ? "E" : NULL));
                CHECK(bl_item_replace_text(&cold->error_message, cold->has_last_error ? "went wrong" : NULL));
                break;
        case 24: CHECK(bl_item_remember_event(to, "e-new", 32)); break;
        case 25: to->terminal_at_ms = to->terminal_at_ms == BL_NO_TIME ? 1795900000129 : BL_NO_TIME; break;
        default: to->placeholder = !to->placeholder; break;
        }
}

/* One transition of @p item (its state, seq and attempt), caused as @p cause says, encoded and copied. */
static unsigned char *told_transition(bl_transition_t *t, const bl_item_t *item, bool with_payload, size_t *size) {
        const void *value;
        unsigned char *copy;
        t->task_id = item->task_id;
        t->to = item->state;
        t->seq = item->seq;
        t->attempt = item->attempt;
        CHECK_INT(bl_records_transition(records, t, item, with_payload, &value, size), BL_OK);
        copy = malloc(*size);
        memcpy(copy, value, *size);
        return copy;
}

/* Reads @p value of @p item's task at @p offset of the item's partition through @p reader. */
static bl_transition_record_t *read_told(bl_transition_reader_t *reader, const bl_item_t *item, const void *value,
                                         size_t size, int64_t offset) {
        bl_record_error_t error;
        bl_transition_record_t *record = bl_transition_reader_read(reader, item->task_id, strlen(item->task_id), value,
                                                                   size, item->partition, offset, &error);
        if (!record)
                fprintf(stderr, "decode: %s\n", error.detail);
        CHECK(record != NULL);
        return record;
}

/* A task's next transition: seq + 1, into a state the random item may not have had. */
static void next_change(bl_transition_t *t, bl_item_t *item) {
        t->has_from = true;
        t->from = item->state;
        item->state = (bl_state_t)(next_random() % BL_STATE__COUNT);
        item->seq++;
        if (one_in(3))
                item->attempt++;
}

/* Each field changed alone, in the same transaction: the later record is a change, read back whole. */
static void test_every_field_change_round_trips(void) {
        for (int field = 0; field < CHANGE_FIELDS; field++) {
                bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 0);
                bl_item_t *item = random_item(), *other = random_item();
                bl_transition_t t = {.cause = "SUBMITTED", .event_id = "e-1", .at_ms = 1795900000000,
                                     .occurred_at_ms = BL_NO_TIME};
                size_t first_size, later_size;
                unsigned char *first, *later;
                bl_transition_record_t *record, *alone;
                bl_record_error_t error;
                item->seq = 1;
                bl_records_forget_changes(records);
                first = told_transition(&t, item, true, &first_size);
                next_change(&t, item);
                t.at_ms += 5;
                take_field(item, other, field);
                later = told_transition(&t, item, field == 21, &later_size);
                bl_transition_record_destroy(read_told(reader, item, first, first_size, 100));
                record = read_told(reader, item, later, later_size, 101);
                if (record)
                        check_items_equal(record->item, item, field == 21);
                alone = bl_records_decode_transition(schemas, later, later_size, 3, &error);
                CHECK(alone && alone->unknown_before && !alone->item); /* it was told against the one before */
                CHECK(later_size < first_size || field == 21);
                bl_transition_record_destroy(alone);
                bl_transition_record_destroy(record);
                free(first);
                free(later);
                bl_item_destroy(item);
                bl_item_destroy(other);
                bl_transition_reader_destroy(reader);
        }
}

/* Random items through random chains of changes, some in one transaction, some across: each read back whole. */
static void test_random_change_chains_round_trip(void) {
        bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 0);
        int64_t offset = 0;
        for (int i = 0; i < 300; i++) {
                bl_item_t *item = random_item(), *other = random_item();
                bl_transition_t t = {.cause = "SUBMITTED", .event_id = one_in(2) ? "e-1" : NULL,
                                     .at_ms = 1795900000000, .occurred_at_ms = BL_NO_TIME};
                item->seq = 1 + (int64_t)(next_random() % 1000);
                bl_records_forget_changes(records);
                for (int step = 0; step < 6; step++) {
                        bool with_payload = one_in(3);
                        size_t size;
                        unsigned char *value;
                        bl_transition_record_t *record;
                        if (step) {
                                next_change(&t, item);
                                for (int k = (int)(next_random() % 4); k > 0; k--)
                                        take_field(item, other, (int)(next_random() % CHANGE_FIELDS));
                                t.cause = one_in(2) ? t.cause : "dispatch";
                                t.at_ms += (int64_t)(next_random() % 3);
                        }
                        if (one_in(4)) { /* the transaction ends: a commit marker takes an offset */
                                bl_records_forget_changes(records);
                                offset++;
                        }
                        value = told_transition(&t, item, with_payload, &size);
                        record = read_told(reader, item, value, size, offset++);
                        if (record) {
                                check_items_equal(record->item, item, with_payload);
                                CHECK_STR(record->transition.cause, t.cause);
                                check_optional_str(record->transition.event_id, t.event_id);
                                CHECK_STR(record->instance, "backlogd-test-0");
                                CHECK(!record->unknown_before);
                        }
                        bl_transition_record_destroy(record);
                        free(value);
                }
                bl_item_destroy(item);
                bl_item_destroy(other);
        }
        bl_transition_reader_destroy(reader);
}

/* What a later transition says is as before (cause, event, origin, instance) and dispatch_id task_id/attempt. */
static void test_markers_read_back_as_before(void) {
        bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 0);
        bl_item_t *item = full_item(20);
        bl_event_origin_t origin = {"tasks.events", 4, 99, NULL};
        bl_transition_t t = {.cause = "SUBMITTED", .event_id = "e-3", .at_ms = 1795900000000,
                             .occurred_at_ms = 1795899999000, .origin = &origin};
        size_t sizes[3];
        unsigned char *values[3];
        bl_transition_record_t *record;
        item->seq = 1;
        item->state = BL_STATE_QUEUED;
        bl_records_forget_changes(records);
        values[0] = told_transition(&t, item, true, &sizes[0]);
        next_change(&t, item);
        item->state = BL_STATE_READY;
        values[1] = told_transition(&t, item, false, &sizes[1]); /* the same event: as before */
        next_change(&t, item);
        item->state = BL_STATE_DISPATCHED;
        t.cause = "dispatch";
        t.event_id = NULL;
        t.origin = NULL;
        t.occurred_at_ms = BL_NO_TIME;
        t.dispatch_id = "t-full/3";
        item->attempt = 3;
        values[2] = told_transition(&t, item, false, &sizes[2]);
        for (int i = 0; i < 3; i++) {
                record = read_told(reader, item, values[i], sizes[i], 7 + i);
                if (!record)
                        continue;
                CHECK_STR(record->transition.cause, i < 2 ? "SUBMITTED" : "dispatch");
                check_optional_str(record->transition.event_id, i < 2 ? "e-3" : NULL);
                CHECK_INT(record->transition.occurred_at_ms, i < 2 ? 1795899999000 : BL_NO_TIME);
                CHECK(i < 2 ? record->transition.origin && record->origin.offset == 99 : !record->transition.origin);
                check_optional_str(record->transition.dispatch_id, i < 2 ? NULL : "t-full/3");
                CHECK_STR(record->instance, "backlogd-test-0");
                CHECK(record->item && record->item->state == (i == 0   ? BL_STATE_QUEUED
                                                              : i == 1 ? BL_STATE_READY
                                                                       : BL_STATE_DISPATCHED));
                bl_transition_record_destroy(record);
        }
        CHECK(sizes[1] < 120 && sizes[2] < 120); /* told against the one before, nothing fixed repeated */
        for (int i = 0; i < 3; i++)
                free(values[i]);
        bl_item_destroy(item);
        bl_transition_reader_destroy(reader);
}

/*
 * A reader that starts mid-transaction, or after a gap in the offsets, does not know what a change is told
 * against: no item, cause and instance "unknown", never a wrong item; the task's next transaction is whole.
 */
static void test_unknown_base_gives_no_item(void) {
        bl_item_t *item = full_item(0);
        bl_transition_t t = {.cause = "SUBMITTED", .event_id = "e-3", .at_ms = 1795900000000,
                             .occurred_at_ms = BL_NO_TIME};
        size_t sizes[4];
        unsigned char *values[4];
        item->seq = 1;
        bl_records_forget_changes(records);
        values[0] = told_transition(&t, item, true, &sizes[0]);
        for (int i = 1; i < 3; i++) {
                next_change(&t, item);
                values[i] = told_transition(&t, item, false, &sizes[i]);
        }
        bl_records_forget_changes(records); /* the transaction is over */
        next_change(&t, item);
        values[3] = told_transition(&t, item, false, &sizes[3]);
        {       /* started at the second record */
                bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 0);
                for (int i = 1; i < 4; i++) {
                        bl_transition_record_t *record = read_told(reader, item, values[i], sizes[i], 10 + i);
                        if (!record)
                                continue;
                        CHECK_INT(record->unknown_before, i < 3);
                        CHECK_INT(record->item == NULL, i < 3);
                        CHECK_STR(record->instance, i < 3 ? "unknown" : "backlogd-test-0");
                        CHECK_STR(record->transition.cause, i < 3 ? "unknown" : "SUBMITTED");
                        if (i == 3)
                                check_items_equal(record->item, item, false);
                        bl_transition_record_destroy(record);
                }
                bl_transition_reader_destroy(reader);
        }
        {       /* every record, but a gap in the offsets before the second: the transaction looks over */
                bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 0);
                bl_transition_record_destroy(read_told(reader, item, values[0], sizes[0], 20));
                CHECK_INT(bl_transition_reader_kept(reader), 1);
                bl_transition_record_t *record = read_told(reader, item, values[1], sizes[1], 22);
                CHECK(record && record->unknown_before && !record->item);
                CHECK_INT(bl_transition_reader_kept(reader), 0);
                bl_transition_record_destroy(record);
                bl_transition_reader_destroy(reader);
        }
        for (int i = 0; i < 4; i++)
                free(values[i]);
        bl_item_destroy(item);
}

/* Records of Transition v2 (the whole item in each) still read, through the reader too. */
static void test_v2_records_still_read(void) {
        bl_schema_t *v2 = bl_schemas_version(schemas, "transition", 2);
        bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 0);
        bl_records_buffer_t buffer = {0};
        bl_item_t *item = full_item(30);
        bl_transition_t t = {.task_id = "t-full", .seq = 42, .has_from = true, .from = BL_STATE_READY,
                             .to = BL_STATE_RUNNING, .cause = "STARTED", .event_id = "e-3", .attempt = 2,
                             .at_ms = 1795900000100, .occurred_at_ms = BL_NO_TIME};
        char errstr[256];
        bl_record_error_t error;
        CHECK(v2 != NULL);
        if (v2) {
                CHECK_INT(bl_records_encode_transition(v2, 8, &t, item, true, "backlogd-old", &buffer, errstr,
                                                       sizeof(errstr)),
                          BL_OK);
                check_header(buffer.bytes, buffer.size, 8);
                bl_transition_record_t *record = bl_transition_reader_read(reader, "t-full", 6, buffer.bytes,
                                                                           buffer.size, 3, 0, &error);
                CHECK(record != NULL);
                if (record) {
                        check_items_equal(record->item, item, true);
                        CHECK_STR(record->instance, "backlogd-old");
                        CHECK_STR(record->transition.cause, "STARTED");
                        CHECK(!record->unknown_before);
                }
                bl_transition_record_destroy(record);
        }
        bl_records_buffer_free(&buffer);
        bl_item_destroy(item);
        bl_transition_reader_destroy(reader);
}

/* Without offsets, the reader keeps at most max_tasks, then starts over. */
static void test_reader_keeps_at_most_max_tasks(void) {
        bl_transition_reader_t *reader = bl_transition_reader_new(schemas, 3);
        for (int i = 0; i < 10; i++) {
                bl_item_t *item = random_item();
                bl_transition_t t = {.cause = "SUBMITTED", .at_ms = 1, .occurred_at_ms = BL_NO_TIME};
                size_t size;
                unsigned char *value;
                item->seq = 1;
                value = told_transition(&t, item, false, &size);
                bl_transition_record_destroy(read_told(reader, item, value, size, -1));
                CHECK(bl_transition_reader_kept(reader) <= 3);
                free(value);
                bl_item_destroy(item);
        }
        bl_transition_reader_destroy(reader);
}

/* The writer refuses an item whose state, seq or attempt are not the transition's: v3 would lose them. */
static void test_item_must_agree_with_its_transition(void) {
        bl_item_t *item = full_item(0);
        bl_transition_t t = {.task_id = "t-full", .seq = item->seq, .to = BL_STATE_READY, .cause = "x",
                             .attempt = item->attempt, .occurred_at_ms = BL_NO_TIME};
        const void *value;
        size_t size;
        CHECK_INT(bl_records_transition(records, &t, item, false, &value, &size), BL_ERR_MISMATCH);
        CHECK_CONTAINS(bl_records_last_error(records), "state, seq and attempt");
        bl_item_destroy(item);
}

/* ---- throughput (on request) --------------------------------------------------------------- */

static double seconds_now(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A typical item: 200-byte payload, two labels, one dependency, a few event ids. */
static bl_item_t *typical_item(void) {
        bl_item_t *item = full_item(200);
        bl_strvec_clear(&bl_item_cold_for_write(item)->dependents);
        bl_strvec_clear(&bl_item_cold_for_write(item)->pending_deps);
        bl_item_cold_for_write(item)->has_last_error = false;
        return item;
}

static void measure_throughput(void) {
        const int count = 1000000;
        bl_item_t *item = typical_item();
        const void *value;
        size_t size = 0;
        unsigned char *copy;
        bl_record_error_t error;
        double started = seconds_now(), encode_s, decode_s, generic_s;
        for (int i = 0; i < count; i++) {
                item->seq = i;
                bl_records_item(records, item, true, &value, &size);
        }
        encode_s = seconds_now() - started;
        copy = malloc(size);
        memcpy(copy, value, size);
        started = seconds_now();
        for (int i = 0; i < count; i++)
                bl_item_destroy(bl_records_decode_item(schemas, copy, size, 0, &error));
        decode_s = seconds_now() - started;
        started = seconds_now();
        for (int i = 0; i < count; i++)
                bl_item_destroy(bl_records_decode_item_generic(schemas, copy, size, 0, &error));
        generic_s = seconds_now() - started;
        fprintf(stderr,
                "typical item (%zu bytes framed): encode %.0f items/s, decode %.0f items/s (generic path: %.0f)\n",
                size, count / encode_s, count / decode_s, count / generic_s);
        free(copy);
        bl_item_destroy(item);
}

int main(void) {
        setup();
        RUN(test_full_item_round_trips);
        RUN(test_sparse_item_round_trips);
        RUN(test_empty_payload_is_present);
        RUN(test_buffer_grows_and_is_reused);
        RUN(test_dispatch_transition_round_trips);
        RUN(test_first_transition_round_trips);
        RUN(test_transition_provenance_round_trips);
        RUN(test_dispatch_decision_round_trips);
        RUN(test_cancellation_notice_round_trips);
        RUN(test_notices_round_trip);
        RUN(test_decoded_notice_survives_the_next_encode);
        RUN(test_outcome_notice_needs_its_outcome);
        RUN(test_strings_read_back_must_be_utf8);
        RUN(test_every_truncation_fails_cleanly);
        RUN(test_garbage_fails_cleanly);
        RUN(test_unknown_schema_id_fails);
        RUN(test_another_contract_fails);
        RUN(test_other_writer_versions);
        RUN(test_encoders_refuse_other_records);
        RUN(test_transition_schema_parses_with_its_embedded_item);
        RUN(test_encoder_checks_each_field_against_the_schema);
        RUN(test_encoder_follows_the_schemas_union_order);
        RUN(test_random_items_round_trip);
        RUN(test_direct_read_matches_the_generic_one);
        RUN(test_direct_read_is_the_one_taken);
        RUN(test_direct_read_agrees_on_damaged_bytes);
        RUN(test_direct_read_declines_to_the_generic_one);
        RUN(test_direct_read_checks_every_byte_of_a_string);
        RUN(test_direct_read_refuses_a_block_count_that_is_no_number);
        RUN(test_change_is_the_transition_and_snapshot_encoded_alone);
        RUN(test_every_field_change_round_trips);
        RUN(test_random_change_chains_round_trip);
        RUN(test_markers_read_back_as_before);
        RUN(test_unknown_base_gives_no_item);
        RUN(test_v2_records_still_read);
        RUN(test_reader_keeps_at_most_max_tasks);
        RUN(test_item_must_agree_with_its_transition);
        if (getenv("BACKLOGD_RECORDS_MEASURE"))
                measure_throughput();
        teardown();
        return check_exit_status();
}
