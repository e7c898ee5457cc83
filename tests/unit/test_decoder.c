/*
 * test_decoder.c: the ingest path of one record: wire format, schema
 * lookup, compatibility, bounds, Avro decode, projection of older and foreign
 * writer schemas onto the newest TaskEvent with its defaults, the key, and
 * the JSON encoder that `produce` and the tests use.
 */
#include <stdlib.h>

#include "check.h"
#include "contract/avro_bounds.h"
#include "contract/decoder.h"
#include "contract/encode.h"
#include "contract/wire.h"

static const char *const domains[] = {"model_inference", "evaluation", "data_preparation"};

static bl_contract_rules_t rules = {
        .id_max_bytes = 64,
        .text_max_bytes = 256,
        .depends_on_max = 3,
        .labels_max = 4,
        .label_max_bytes = 32,
        .payload_max_bytes = 64,
        .domains = domains,
        .domain_count = 3,
};

static bl_catalog_t *catalog;
static bl_schemas_t *schemas;
static bl_decoder_t *decoder;

static void setup(void) {
        char errstr[512], dir[1024];
        const char *fixtures = getenv("BACKLOGD_FIXTURES");
        snprintf(dir, sizeof(dir), "%s/schemas", fixtures ? fixtures : "tests/fixtures");
        catalog = bl_catalog_load(dir, errstr, sizeof(errstr));
        if (!catalog) {
                fprintf(stderr, "catalog: %s\n", errstr);
                exit(1);
        }
        schemas = bl_schemas_new(catalog, NULL, errstr, sizeof(errstr));
        decoder = bl_decoder_new(schemas, &rules, 4096, errstr, sizeof(errstr));
        if (!decoder) {
                fprintf(stderr, "decoder: %s\n", errstr);
                exit(1);
        }
}

static const char *const submitted_json =
        "{\"event_id\": \"e-1\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\","
        " \"occurred_at\": \"2026-11-28T07:00:00.250Z\", \"producer\": \"tests\", \"task_type\": \"infer\","
        " \"domain\": \"evaluation\", \"business_value\": 0.75, \"risk\": 0.25, \"deadline\": 1795900000000,"
        " \"depends_on\": [\"t-0\"], \"labels\": {\"team\": \"ml\"}, \"payload\": {\"base64\": \"AAEC/w==\"}}";

/* Encodes a JSON document with catalog schema @p id; the caller frees *out. */
static size_t encode(int32_t id, const char *json, unsigned char **out) {
        char errstr[256];
        size_t size = 0;
        bl_schema_t *schema;
        json_t *document = json_loads(json, 0, NULL);
        CHECK(document != NULL);
        CHECK(bl_schemas_get(schemas, id, &schema, errstr, sizeof(errstr)) == BL_OK);
        if (bl_encode_json(schema, id, document, out, &size, errstr, sizeof(errstr)) != BL_OK) {
                fprintf(stderr, "encode: %s\n", errstr);
                *out = NULL;
        }
        json_decref(document);
        return size;
}

static bool decode(const unsigned char *value, size_t size, bl_task_event_t *event, bl_record_error_t *error) {
        return bl_decoder_decode(decoder, "t-1", 3, value, size, event, error);
}

/* Decoding must fail with @p reason and a detail that contains @p detail. */
static void expect_failure(const unsigned char *value, size_t size, bl_reason_t reason, const char *detail) {
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(!decode(value, size, &event, &error));
        CHECK(!error.transient);
        CHECK_STR(bl_reason_name(error.reason), bl_reason_name(reason));
        CHECK_CONTAINS(error.detail, detail);
}

static void test_v2_round_trip(void) {
        unsigned char *value;
        size_t size = encode(2, submitted_json, &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(decode(value, size, &event, &error));
        CHECK_STR(event.task_id, "t-1");
        CHECK_INT(event.event_type, BL_EVENT_SUBMITTED);
        CHECK_INT(event.occurred_at_ms, 1795849200250LL);
        CHECK(event.has_deadline && event.deadline_ms == 1795900000000LL);
        CHECK(!event.has_not_before);
        CHECK(event.business_value == 0.75 && event.risk == 0.25);
        CHECK_INT(event.depends_on_count, 1);
        CHECK_STR(event.depends_on[0], "t-0");
        CHECK_INT(event.label_count, 1);
        CHECK_STR(event.label_keys[0], "team");
        CHECK_STR(event.label_values[0], "ml");
        CHECK(event.has_payload && event.payload_size == 4 && !memcmp(event.payload, "\x00\x01\x02\xff", 4));
        CHECK_STR(event.sla_class, "standard");
        CHECK(event.tenant == NULL);
        CHECK_INT(error.schema_id, 2);
        free(value);
}

static void test_v1_projects_with_v2_defaults(void) {
        unsigned char *value;
        size_t size = encode(1, submitted_json, &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(value[4] == 1); /* framed with v1's id */
        CHECK(decode(value, size, &event, &error));
        CHECK_STR(event.sla_class, "standard"); /* v2's default: v1 has no such field */
        CHECK(event.tenant == NULL);
        CHECK_STR(event.domain, "evaluation");
        CHECK_INT(error.schema_id, 1);
        free(value);
        /* v1 has no tenant: the encoder must refuse it rather than drop it. */
        char errstr[256];
        bl_schema_t *v1;
        json_t *document = json_loads("{\"tenant\": \"acme\"}", 0, NULL);
        bl_schemas_get(schemas, 1, &v1, errstr, sizeof(errstr));
        CHECK(bl_encode_json(v1, 1, document, &value, &size, errstr, sizeof(errstr)) == BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "unknown field \"tenant\"");
        json_decref(document);
}

static void test_foreign_writer_with_promotions(void) {
        unsigned char *value;
        size_t size = encode(98, "{\"task_id\": \"t-1\", \"event_id\": \"e-9\", \"extra\": \"ignored\","
                                 " \"producer\": \"a-team\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 5,"
                                 " \"task_type\": \"x\", \"domain\": \"model_inference\", \"business_value\": 0.5,"
                                 " \"risk\": 1}",
                             &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(decode(value, size, &event, &error));
        CHECK_STR(event.producer, "a-team");   /* bytes read as string */
        CHECK(event.business_value == 0.5);    /* float read as double */
        CHECK(event.has_risk && event.risk == 1.0); /* int read as double */
        CHECK_INT(event.depends_on_count, 0);  /* absent in the writer: the reader's [] */
        free(value);
}

/* Regression: a string payload (string -> bytes promotion) arrives as its bytes, not as NULL. */
static void test_string_payload_is_read_as_bytes(void) {
        unsigned char *value;
        size_t size = encode(97, "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\","
                                 " \"occurred_at\": 5, \"producer\": \"p\", \"task_type\": \"x\","
                                 " \"domain\": \"evaluation\", \"business_value\": 0.5, \"risk\": 0.5,"
                                 " \"payload\": \"hello\"}",
                             &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(decode(value, size, &event, &error));
        CHECK(event.has_payload && event.payload && event.payload_size == 5 && !memcmp(event.payload, "hello", 5));
        free(value);
}

static void test_wire_format_errors(void) {
        const unsigned char short_value[] = {0, 0, 0};
        const unsigned char wrong_magic[] = {1, 0, 0, 0, 2, 0};
        expect_failure(short_value, 0, BL_REASON_DECODE_WIRE_FORMAT, "shorter than the 5-byte header");
        expect_failure(short_value, sizeof(short_value), BL_REASON_DECODE_WIRE_FORMAT, "3 bytes");
        expect_failure(NULL, 0, BL_REASON_DECODE_WIRE_FORMAT, "shorter");
        expect_failure(wrong_magic, sizeof(wrong_magic), BL_REASON_DECODE_WIRE_FORMAT, "magic byte is 0x01");
}

static void test_unknown_schema_id(void) {
        unsigned char value[] = {0, 0, 0, 3, 0xE7, 2, 'x'};
        bl_task_event_t event;
        bl_record_error_t error;
        expect_failure(value, sizeof(value), BL_REASON_DECODE_SCHEMA_UNKNOWN, "schema id 999");
        decode(value, sizeof(value), &event, &error);
        CHECK_INT(error.schema_id, 999);
}

static void test_incompatible_writer(void) {
        unsigned char value[] = {0, 0, 0, 0, 99, 2, 'e', 2, 0, 0, 2, 'p'};
        expect_failure(value, sizeof(value), BL_REASON_CONTRACT_INCOMPATIBLE, "schema id 99");
        expect_failure(value, sizeof(value), BL_REASON_CONTRACT_INCOMPATIBLE, "task_id"); /* cached verdict */
}

static void test_truncated_and_trailing_avro(void) {
        unsigned char *value;
        size_t size = encode(2, submitted_json, &value);
        for (size_t cut = 6; cut < size; cut += 7)
                expect_failure(value, cut, BL_REASON_DECODE_AVRO, "at byte");
        unsigned char *longer = malloc(size + 2);
        memcpy(longer, value, size);
        longer[size] = longer[size + 1] = 0;
        expect_failure(longer, size + 2, BL_REASON_DECODE_AVRO, "2 bytes left over");
        free(longer);
        free(value);
}

static void test_lengths_larger_than_data(void) {
        /* event_id claims 2^40 bytes: rejected before avro-c would allocate it. */
        unsigned char huge_string[] = {0, 0, 0, 0, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'x'};
        expect_failure(huge_string, sizeof(huge_string), BL_REASON_DECODE_AVRO, "length longer than the data");
        unsigned char long_varint[16] = {0, 0, 0, 0, 2};
        memset(long_varint + 5, 0xFF, sizeof(long_varint) - 5);
        expect_failure(long_varint, sizeof(long_varint), BL_REASON_DECODE_AVRO, "number");
}

static void test_oversized_fields(void) {
        unsigned char *value;
        size_t size = encode(2,
                             "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
                             " \"producer\": \"p\", \"task_type\": \"x\", \"domain\": \"evaluation\", \"business_value\": 0,"
                             " \"risk\": 0, \"depends_on\": [\"a\", \"b\", \"c\", \"d\"]}",
                             &value);
        expect_failure(value, size, BL_REASON_CONTRACT_VIOLATION, "depends_on: 4 entries, the limit is 3");
        free(value);
        size = encode(2,
                      "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
                      " \"producer\": \"p\", \"task_type\": \"x\", \"domain\": \"evaluation\", \"business_value\": 0,"
                      " \"risk\": 0, \"payload\": \"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
                      &value);
        expect_failure(value, size, BL_REASON_CONTRACT_VIOLATION, "payload: 70 bytes");
        free(value);
        unsigned char big[5000] = {0};
        expect_failure(big, sizeof(big), BL_REASON_CONTRACT_VIOLATION, "value: 5000 bytes, the limit is 4096");
}

/* Regression (found by the fuzzer): an APPROVED may not smuggle a payload over the bound. */
static void test_approved_payload_is_bounded(void) {
        char payload[80];
        memset(payload, 'p', 65);
        payload[65] = '\0';
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"APPROVED\", \"occurred_at\": 1,"
                 " \"producer\": \"p\", \"payload\": \"%s\"}",
                 payload);
        unsigned char *value;
        size_t size = encode(2, json, &value);
        expect_failure(value, size, BL_REASON_CONTRACT_VIOLATION, "payload: 65 bytes, the limit is 64");
        free(value);
}

static void test_key_must_be_task_id(void) {
        unsigned char *value;
        size_t size = encode(2, submitted_json, &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(!bl_decoder_decode(decoder, "t-2", 3, value, size, &event, &error));
        CHECK_CONTAINS(error.detail, "key: does not match task_id");
        CHECK(!bl_decoder_decode(decoder, NULL, 0, value, size, &event, &error));
        CHECK_CONTAINS(error.detail, "key: missing");
        free(value);
}

static void test_semantic_rule_after_decode(void) {
        unsigned char *value;
        size_t size = encode(2,
                             "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
                             " \"producer\": \"p\", \"task_type\": \"x\", \"domain\": \"training\", \"business_value\": 0,"
                             " \"risk\": 0}",
                             &value);
        expect_failure(value, size, BL_REASON_CONTRACT_VIOLATION, "domain: is not one of the configured domains");
        free(value);
}

static void test_encoder_errors(void) {
        char errstr[256];
        unsigned char *value = NULL;
        size_t size;
        bl_schema_t *v2;
        bl_schemas_get(schemas, 2, &v2, errstr, sizeof(errstr));
        const char *cases[][2] = {
                {"{\"task_id\": \"t\"}", "field \"event_id\" is required"},
                {"{\"event_id\": \"e\", \"task_id\": 7}", "task_id: expected a string"},
                {"{\"event_id\": \"e\", \"task_id\": \"t\", \"event_type\": \"PAUSED\"}", "event_type: not a symbol"},
                {"{\"event_id\": \"e\", \"task_id\": \"t\", \"event_type\": \"SUBMITTED\", \"occurred_at\": \"yesterday\"}",
                 "occurred_at: expected milliseconds or an RFC 3339 timestamp"},
                {"{\"event_id\": \"e\", \"task_id\": \"t\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
                 " \"producer\": \"p\", \"labels\": {\"a\": 1}}",
                 "labels.a: expected a string"},
                {"{\"event_id\": \"e\", \"task_id\": \"t\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
                 " \"producer\": \"p\", \"tenant\": 5}",
                 "tenant: fits no branch of the union"},
                {"{\"event_id\": \"e\", \"task_id\": \"t\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
                 " \"producer\": \"p\", \"error\": {\"code\": \"X\"}}",
                 "field \"message\" is required"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *document = json_loads(cases[i][0], 0, NULL);
                CHECK(bl_encode_json(v2, 2, document, &value, &size, errstr, sizeof(errstr)) == BL_ERR_INVALID_ARG);
                CHECK_CONTAINS(errstr, cases[i][1]);
                json_decref(document);
        }
}

static void test_rfc3339(void) {
        int64_t ms;
        CHECK(bl_encode_parse_rfc3339("1970-01-01T00:00:00Z", &ms) && ms == 0);
        CHECK(bl_encode_parse_rfc3339("2026-11-28T07:00:00.5Z", &ms) && ms == 1795849200500LL);
        CHECK(bl_encode_parse_rfc3339("2026-11-28T09:00:00+02:00", &ms) && ms == 1795849200000LL);
        CHECK(bl_encode_parse_rfc3339("2026-11-28T06:30:00-00:30", &ms) && ms == 1795849200000LL);
        CHECK(!bl_encode_parse_rfc3339("2026-11-28", &ms));
        CHECK(!bl_encode_parse_rfc3339("2026-11-28T07:00:00", &ms));
        CHECK(!bl_encode_parse_rfc3339("2026-13-28T07:00:00Z", &ms));
}

static void test_wire_header(void) {
        unsigned char header[BL_WIRE_HEADER_SIZE];
        const unsigned char *body;
        size_t body_size;
        int32_t id;
        bl_record_error_t error;
        bl_wire_write_header(header, 0x01020304);
        CHECK(header[0] == 0 && header[1] == 1 && header[4] == 4);
        CHECK(bl_wire_parse(header, sizeof(header), &id, &body, &body_size, &error));
        CHECK_INT(id, 0x01020304);
        CHECK_INT(body_size, 0);
}

static void test_bounds_on_nested_types(void) {
        avro_schema_t schema;
        bl_record_error_t error;
        const char *json = "{\"type\": \"array\", \"items\": \"null\"}";
        avro_schema_from_json_length(json, strlen(json), &schema);
        unsigned char many_nulls[] = {0x80, 0x80, 0x80, 0x80, 0x10, 0}; /* 2^31 items of nothing */
        CHECK(!bl_avro_bounds_check(schema, many_nulls, sizeof(many_nulls), &error));
        CHECK_CONTAINS(error.detail, "block count larger than the data");
        unsigned char two_nulls[] = {4, 0};
        CHECK(bl_avro_bounds_check(schema, two_nulls, sizeof(two_nulls), &error));
        avro_schema_decref(schema);
}

int main(void) {
        setup();
        RUN(test_v2_round_trip);
        RUN(test_v1_projects_with_v2_defaults);
        RUN(test_foreign_writer_with_promotions);
        RUN(test_string_payload_is_read_as_bytes);
        RUN(test_wire_format_errors);
        RUN(test_unknown_schema_id);
        RUN(test_incompatible_writer);
        RUN(test_truncated_and_trailing_avro);
        RUN(test_lengths_larger_than_data);
        RUN(test_oversized_fields);
        RUN(test_key_must_be_task_id);
        RUN(test_approved_payload_is_bounded);
        RUN(test_semantic_rule_after_decode);
        RUN(test_encoder_errors);
        RUN(test_rfc3339);
        RUN(test_wire_header);
        RUN(test_bounds_on_nested_types);
        bl_decoder_destroy(decoder);
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
        return check_exit_status();
}
