/*
 * test_validate.c: every semantic rule of the TaskEvent contract fails with
 * contract.violation naming its field, and a good event of each type passes.
 */
#include "check.h"
#include "contract/submission.h"
#include "contract/validate.h"

static const char *const domains[] = {"model_inference", "evaluation"};
static const bl_contract_rules_t rules = {
        .id_max_bytes = 16,
        .text_max_bytes = 32,
        .depends_on_max = 2,
        .labels_max = 2,
        .label_max_bytes = 8,
        .payload_max_bytes = 4,
        .domains = domains,
        .domain_count = 2,
};

static bl_task_event_t submitted(void) {
        bl_task_event_t event = {0};
        event.event_id = "e-1";
        event.task_id = "t-1";
        event.event_type = BL_EVENT_SUBMITTED;
        event.occurred_at_ms = 1000;
        event.producer = "tests";
        event.sla_class = "standard";
        event.task_type = "infer";
        event.domain = "evaluation";
        event.has_business_value = event.has_risk = true;
        event.business_value = 0.5;
        event.risk = 1.0;
        return event;
}

static bl_task_event_t result(bl_event_type_t type) {
        bl_task_event_t event = {0};
        event.event_id = "e-2";
        event.task_id = "t-1";
        event.event_type = type;
        event.occurred_at_ms = 2000;
        event.producer = "worker";
        event.has_attempt = true;
        event.attempt = 1;
        event.dispatch_id = "t-1/1";
        return event;
}

/* The event must fail, naming @p field first in the detail. */
static void expect_violation(const bl_task_event_t *event, const char *field) {
        bl_record_error_t error;
        bl_record_error_clear(&error);
        CHECK(!bl_validate_task_event(event, &rules, &error));
        CHECK_INT(error.reason, BL_REASON_CONTRACT_VIOLATION);
        CHECK(!error.transient);
        CHECK(strncmp(error.detail, field, strlen(field)) == 0);
        if (strncmp(error.detail, field, strlen(field)))
                fprintf(stderr, "  detail was: %s (expected %s)\n", error.detail, field);
}

static void expect_valid(const bl_task_event_t *event) {
        bl_record_error_t error;
        bl_record_error_clear(&error);
        CHECK(bl_validate_task_event(event, &rules, &error));
        if (error.detail[0])
                fprintf(stderr, "  unexpected: %s\n", error.detail);
}

static void test_good_events_pass(void) {
        bl_task_event_t event = submitted();
        expect_valid(&event);
        event = result(BL_EVENT_STARTED);
        expect_valid(&event);
        event = result(BL_EVENT_FAILED);
        event.has_error = true;
        event.error_code = "OOM";
        event.error_message = "out of memory";
        expect_valid(&event);
        event = submitted();
        event.event_type = BL_EVENT_CANCELLED;
        event.domain = NULL;
        expect_valid(&event);
}

static void test_ids(void) {
        bl_task_event_t event = submitted();
        event.event_id = "";
        expect_violation(&event, "event_id");
        event = submitted();
        event.task_id = NULL;
        expect_violation(&event, "task_id");
        event = submitted();
        event.task_id = "a-very-long-task-id-indeed";
        expect_violation(&event, "task_id");
        event = submitted();
        event.task_id = "t\n1";
        expect_violation(&event, "task_id");
        event = submitted();
        event.producer = "";
        expect_violation(&event, "producer");
        event = submitted();
        event.tenant = "a-tenant-name-far-too-long";
        expect_violation(&event, "tenant");
}

static void test_submission_fields(void) {
        bl_task_event_t event = submitted();
        event.task_type = NULL;
        expect_violation(&event, "task_type");
        event = submitted();
        event.domain = "training";
        expect_violation(&event, "domain");
        event = submitted();
        event.has_business_value = false;
        expect_violation(&event, "business_value");
        event = submitted();
        event.business_value = 1.5;
        expect_violation(&event, "business_value");
        event = submitted();
        event.risk = -0.1;
        expect_violation(&event, "risk");
        event = submitted();
        event.risk = 0.0 / 0.0;
        expect_violation(&event, "risk");
        event = submitted();
        event.has_max_attempts = true;
        event.max_attempts = 0;
        expect_violation(&event, "max_attempts");
}

static void test_times(void) {
        bl_task_event_t event = submitted();
        event.has_deadline = true;
        event.deadline_ms = event.occurred_at_ms;
        expect_violation(&event, "deadline");
        event.deadline_ms = event.occurred_at_ms + 10;
        event.has_not_before = true;
        event.not_before_ms = event.deadline_ms;
        expect_violation(&event, "not_before");
        event = submitted();
        event.occurred_at_ms = -1;
        expect_violation(&event, "occurred_at");
}

static void test_bounded_sizes(void) {
        const char *three[] = {"a", "b", "c"}, *self[] = {"t-1"};
        const char *keys[] = {"k1", "k2", "k3"}, *values[] = {"v", "v", "v"}, *long_value[] = {"0123456789"};
        bl_task_event_t event = submitted();
        event.depends_on = three;
        event.depends_on_count = 3;
        expect_violation(&event, "depends_on");
        event = submitted();
        event.depends_on = self;
        event.depends_on_count = 1;
        expect_violation(&event, "depends_on[0]: a task cannot depend on itself");
        event = submitted();
        event.label_keys = keys;
        event.label_values = values;
        event.label_count = 3;
        expect_violation(&event, "labels");
        event.label_count = 1;
        event.label_values = long_value;
        expect_violation(&event, "labels.k1: 10 bytes, the limit is 8");
        event.label_keys = long_value;
        event.label_values = values;
        expect_violation(&event, "labels{key 0}: 10 bytes, the limit is 8");
        event.label_keys = (const char *const[]){"backlogd.agent.hold"};
        expect_violation(&event, "labels.backlogd.agent.hold: the prefix \"backlogd.\" is reserved");
        event = submitted();
        event.has_payload = true;
        event.payload = "12345";
        event.payload_size = 5;
        expect_violation(&event, "payload");
}

/* The detail must be exactly @p detail. */
static void expect_detail(const bl_task_event_t *event, const char *detail) {
        bl_record_error_t error;
        bl_record_error_clear(&error);
        CHECK(!bl_validate_task_event(event, &rules, &error));
        CHECK_INT(error.reason, BL_REASON_CONTRACT_VIOLATION);
        CHECK_STR(error.detail, detail);
}

/* Regression (issue 12): a string that is not UTF-8 was accepted, and its Avro copies were unreadable. */
static void test_every_string_must_be_utf8(void) {
        const char *deps[] = {"t-a", "t\xc3(c"}, *keys[] = {"team", "o\xffk"}, *values[] = {"ml", "v"};
        const char *bad_values[] = {"ml", "x\xe2\x82"}, *good_keys[] = {"team", "zone"};
        bl_task_event_t event = submitted();
        event.task_id = "abc\xff";
        expect_detail(&event, "task_id: not valid UTF-8 at byte 3");
        event = submitted();
        event.event_id = "\xc0\x80"; /* the overlong NUL */
        expect_detail(&event, "event_id: not valid UTF-8 at byte 0");
        event = submitted();
        event.producer = "p\xed\xa0\x80"; /* a surrogate */
        expect_detail(&event, "producer: not valid UTF-8 at byte 1");
        event = submitted();
        event.tenant = "\xf4\x90\x80\x80"; /* above U+10FFFF */
        expect_detail(&event, "tenant: not valid UTF-8 at byte 0");
        event = submitted();
        event.sla_class = "gold\x80";
        expect_detail(&event, "sla_class: not valid UTF-8 at byte 4");
        event = submitted();
        event.task_type = "\xfe";
        expect_detail(&event, "task_type: not valid UTF-8 at byte 0");
        event = submitted();
        event.domain = "eval\xe0\x80\xaf";
        expect_detail(&event, "domain: not valid UTF-8 at byte 4");
        event = submitted();
        event.depends_on = deps;
        event.depends_on_count = 2;
        expect_detail(&event, "depends_on[1]: not valid UTF-8 at byte 1");
        event = submitted();
        event.label_keys = keys;
        event.label_values = values;
        event.label_count = 2;
        expect_detail(&event, "labels{key 1}: not valid UTF-8 at byte 1");
        event.label_keys = good_keys;
        event.label_values = bad_values;
        expect_detail(&event, "labels.zone: not valid UTF-8 at byte 1");
        event = result(BL_EVENT_FAILED);
        event.has_error = true;
        event.error_code = "OOM";
        event.error_message = "killed \xf0\x9f\x92"; /* a 4-byte character cut short */
        expect_detail(&event, "error.message: not valid UTF-8 at byte 7");
        event.error_message = "killed \xf0\x9f\x92\x80"; /* the whole of it */
        expect_valid(&event);
        event.error_code = "O\xc1\x81";
        expect_detail(&event, "error.code: not valid UTF-8 at byte 1");
        event = result(BL_EVENT_STARTED);
        event.dispatch_id = "t-1/\xff";
        expect_detail(&event, "dispatch_id: not valid UTF-8 at byte 4");
}

static void test_results(void) {
        bl_task_event_t event = result(BL_EVENT_COMPLETED);
        event.has_attempt = false;
        expect_violation(&event, "attempt");
        event = result(BL_EVENT_HEARTBEAT);
        event.attempt = 0;
        expect_violation(&event, "attempt");
        event = result(BL_EVENT_STARTED);
        event.dispatch_id = NULL;
        expect_violation(&event, "dispatch_id");
        event = result(BL_EVENT_FAILED);
        expect_violation(&event, "error");
        event.has_error = true;
        event.error_code = "";
        expect_violation(&event, "error.code");
        event.error_code = "X";
        event.error_message = "a message that is longer than thirty-two bytes";
        expect_violation(&event, "error.message");
}

/*
 * The dispatch_id a worker echoes is made by backlogd from a task_id of up to id_max_bytes (16
 * here), '/' and the attempt: its bound is 12 bytes more, or the result of a task with the longest
 * id would be dead-lettered and the task retried until DEAD.
 */
static void test_dispatch_id_of_the_longest_task_id(void) {
        bl_task_event_t event = result(BL_EVENT_COMPLETED);
        event.task_id = "0123456789abcdef";             /* 16 bytes: the longest */
        event.dispatch_id = "0123456789abcdef/2147483647"; /* 27 = 16 + 11 */
        expect_valid(&event);
        event.dispatch_id = "0123456789abcdef/-2147483648"; /* 28 = 16 + 12 */
        expect_valid(&event);
        event.dispatch_id = "0123456789abcdef/-21474836480"; /* 29 */
        expect_violation(&event, "dispatch_id");
        event = submitted();
        event.dispatch_id = "0123456789abcdef/-21474836480";
        expect_violation(&event, "dispatch_id");
}

/* Regression (found by the fuzzer): every type's fields are bounded, not only SUBMITTED's. */
static void test_every_type_is_bounded(void) {
        const char *long_value[] = {"0123456789"}, *key[] = {"k"};
        bl_task_event_t event = submitted();
        event.event_type = BL_EVENT_CANCELLED;
        event.has_payload = true;
        event.payload = "12345";
        event.payload_size = 5;
        expect_violation(&event, "payload");
        event = result(BL_EVENT_COMPLETED);
        event.label_keys = key;
        event.label_values = long_value;
        event.label_count = 1;
        expect_violation(&event, "labels.k: 10 bytes");
        event = result(BL_EVENT_STARTED);
        event.domain = "a-domain-of-17-by";
        expect_violation(&event, "domain");
}

static void test_update_checks_what_it_carries(void) {
        bl_task_event_t event = submitted();
        event.event_type = BL_EVENT_UPDATED;
        event.task_type = NULL;
        event.domain = NULL;
        event.has_business_value = false;
        event.has_risk = true;
        event.risk = 0.3;
        expect_valid(&event);
        event.risk = 7;
        expect_violation(&event, "risk");
}

/* A submission rebuilt from an item (a dead letter, a remediation task) keeps the producer's labels only. */
static void test_submission_leaves_reserved_labels_out(void) {
        const char *keys[] = {"team", "backlogd.remediation.round", "remediation.of"};
        const char *values[] = {"ml", "1", "job"};
        bl_item_t *item = bl_item_new_of_kind("t-1", 0, "train", "evaluation", NULL, "standard");
        CHECK(item != NULL);
        if (!item)
                return;
        item->submitted_at_ms = 1700000000000;
        CHECK(bl_labels_set(&bl_item_cold_for_write(item)->labels, keys, values, 3));
        json_t *event = bl_submission_json(item);
        json_t *labels = json_object_get(event, "labels");
        CHECK_INT(json_object_size(labels), 2);
        CHECK_STR(json_string_value(json_object_get(labels, "team")), "ml");
        CHECK_STR(json_string_value(json_object_get(labels, "remediation.of")), "job");
        CHECK(json_object_get(labels, "backlogd.remediation.round") == NULL);
        json_decref(event);
        bl_item_destroy(item);
}

int main(void) {
        RUN(test_good_events_pass);
        RUN(test_submission_leaves_reserved_labels_out);
        RUN(test_ids);
        RUN(test_dispatch_id_of_the_longest_task_id);
        RUN(test_submission_fields);
        RUN(test_times);
        RUN(test_bounded_sizes);
        RUN(test_results);
        RUN(test_every_string_must_be_utf8);
        RUN(test_update_checks_what_it_carries);
        RUN(test_every_type_is_bounded);
        return check_exit_status();
}
