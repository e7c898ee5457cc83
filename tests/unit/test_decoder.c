/*
 * test_decoder.c: the ingest path of one record: wire format, schema
 * lookup, compatibility, bounds, Avro decode, projection of older and foreign
 * writer schemas onto the newest TaskEvent with its defaults, the key, and
 * the JSON encoder that `produce` and the tests use. The direct read of the
 * bytes and the generic path (avro-c's values) are held to the same results:
 * random records of five writers decode alike both ways, and the tests that
 * decode run again on the generic path alone.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "random.h"
#include "contract/avro_bounds.h"
#include "contract/decoder.h"
#include "contract/encode.h"
#include "contract/project.h"
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

/* An int's 5-byte varint holds 35 bits; past 32 avro-c refuses it, so the bounds walk does first. */
static void test_bounds_on_int_range(void) {
        avro_schema_t schema = avro_schema_int();
        bl_record_error_t error;
        unsigned char largest[] = {0xfe, 0xff, 0xff, 0xff, 0x0f};     /* 2^31 - 1 */
        unsigned char one_more[] = {0x80, 0x80, 0x80, 0x80, 0x10};    /* 2^31 */
        CHECK(bl_avro_bounds_check(schema, largest, sizeof(largest), &error));
        CHECK(!bl_avro_bounds_check(schema, one_more, sizeof(one_more), &error));
        CHECK_CONTAINS(error.detail, "int out of range");
        avro_schema_decref(schema);
}

/*
 * The decoder skips the bounds walk for a record the direct read gets to the
 * end of, so the direct read must refuse whatever the walk refuses. A writer
 * with, besides the required fields, an int, a boolean, an enum, an array of
 * nulls and a map in fields the reader does not bind, and each of the
 * walk's refusals written into one of them: the walk refuses, and the direct
 * read does not finish.
 */
static const char *const unbound_writer_json =
        "{\"type\": \"record\", \"name\": \"TaskEvent\", \"fields\": ["
        "{\"name\": \"event_id\", \"type\": \"string\"}, {\"name\": \"task_id\", \"type\": \"string\"},"
        "{\"name\": \"event_type\", \"type\": {\"type\": \"enum\", \"name\": \"EventType\", \"symbols\": "
        "[\"SUBMITTED\", \"UPDATED\", \"CANCELLED\", \"APPROVED\", \"STARTED\", \"HEARTBEAT\", \"COMPLETED\", "
        "\"FAILED\"]}},"
        "{\"name\": \"occurred_at\", \"type\": \"long\"}, {\"name\": \"producer\", \"type\": \"string\"},"
        "{\"name\": \"max_attempts\", \"type\": [\"null\", \"int\"]},"
        "{\"name\": \"x_count\", \"type\": \"int\"}, {\"name\": \"x_flag\", \"type\": \"boolean\"},"
        "{\"name\": \"x_kind\", \"type\": {\"type\": \"enum\", \"name\": \"Kind\", \"symbols\": [\"A\", \"B\"]}},"
        "{\"name\": \"x_nothing\", \"type\": {\"type\": \"array\", \"items\": \"null\"}},"
        "{\"name\": \"x_tags\", \"type\": {\"type\": \"map\", \"values\": \"string\"}}]}";

typedef struct {
        const char *what;
        size_t segment; /* which part of the record it replaces */
        unsigned char bytes[16];
        size_t size;
} variant_t;

static void test_direct_read_refuses_what_the_walk_refuses(void) {
        /* the valid record's parts, in field order; the last part is what follows the record (nothing) */
        static const struct {
                unsigned char bytes[16];
                size_t size;
        } parts[] = {
                {{2, 'e', 2, 't', 0, 2, 2, 'p'}, 8}, /* event_id, task_id, SUBMITTED, occurred_at 1, producer */
                {{2, 6}, 2},                         /* max_attempts: the int branch, 3 */
                {{6}, 1},                            /* x_count 3 */
                {{1}, 1},                            /* x_flag true */
                {{2}, 1},                            /* x_kind B */
                {{4, 0}, 2},                         /* x_nothing: two nulls */
                {{2, 2, 'k', 2, 'v', 0}, 6},         /* x_tags {k: v} */
                {{0}, 0},
        };
        static const variant_t variants[] = {
                {"a bound int in 6 bytes", 1, {2, 0x86, 0x80, 0x80, 0x80, 0x80, 0}, 7},
                {"an unbound int in 6 bytes", 2, {0x86, 0x80, 0x80, 0x80, 0x80, 0}, 6},
                {"an int past 32 bits", 2, {0x80, 0x80, 0x80, 0x80, 0x10}, 5},
                {"a boolean of 2", 3, {2}, 1},
                {"an enum index out of range", 4, {4}, 1},
                {"an enum index in 6 bytes", 4, {0x82, 0x80, 0x80, 0x80, 0x80, 0}, 6},
                {"2^31 nulls", 5, {0x80, 0x80, 0x80, 0x80, 0x10, 0}, 6},
                {"a block count of INT64_MIN", 5, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0}, 11},
                {"a negative block size", 5, {1, 1, 0}, 3},
                {"a map key with a NUL", 6, {2, 2, 0, 2, 'v', 0}, 6},
                {"a byte left over", 7, {0}, 1},
        };
        char errstr[256];
        bl_projection_limits_t limits = {8, 8};
        json_t *reader = json_load_file(BL_SCHEMAS_DIR "/task_event/v3.avsc", 0, NULL);
        bl_projector_t *projector = reader ? bl_projector_new(reader, &limits, errstr, sizeof(errstr)) : NULL;
        avro_schema_t writer = NULL;
        CHECK(projector != NULL);
        CHECK(!avro_schema_from_json_length(unbound_writer_json, strlen(unbound_writer_json), &writer));
        if (!projector || !writer)
                return;
        for (size_t v = 0; v <= sizeof(variants) / sizeof(variants[0]); v++) {
                const variant_t *variant = v ? &variants[v - 1] : NULL;
                unsigned char record[128];
                size_t size = 0;
                for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
                        bool replaced = variant && variant->segment == p;
                        memcpy(record + size, replaced ? variant->bytes : parts[p].bytes,
                               replaced ? variant->size : parts[p].size);
                        size += replaced ? variant->size : parts[p].size;
                }
                bl_task_event_t event;
                bl_record_error_t walk_error, read_error;
                bool walked = bl_avro_bounds_check(writer, record, size, &walk_error);
                bl_projection_result_t read = bl_projector_read(projector, writer, record, size, &event, &read_error);
                if (!variant) { /* the valid record: both accept it, and the direct read binds what it knows */
                        CHECK(walked && read == BL_PROJECTION_DONE);
                        CHECK_STR(event.task_id, "t");
                        CHECK(event.has_max_attempts && event.max_attempts == 3);
                        continue;
                }
                if (walked || read == BL_PROJECTION_DONE)
                        fprintf(stderr, "  %s: walk %s, direct read %d\n", variant->what,
                                walked ? "accepts" : "refuses", (int)read);
                CHECK(!walked);
                CHECK(read != BL_PROJECTION_DONE);
        }
        avro_schema_decref(writer);
        bl_projector_destroy(projector);
        json_decref(reader);
}

/* ---- the direct read and the generic path agree ------------------------------------------------ */


/* Mostly what validation accepts (a configured domain, short text), sometimes not. */
static json_t *random_string(void) {
        static const char *const words[] = {"evaluation", "model_inference", "a", "t-0", "naïve ✓", "", "x y"};
        return json_string(words[one_in(4) ? next_random() % 7 : next_random() % 4]);
}

static json_t *random_number(bool integer) {
        static const double values[] = {0, 1, -1, 0.5, 0.25, 1e9, 3};
        double value = values[next_random() % 7];
        return integer ? json_integer((json_int_t)value) : json_real(value);
}

static json_t *random_strings(bool nullable) {
        json_t *array = json_array();
        for (size_t i = 0, count = next_random() % (one_in(4) ? 6 : 3); i < count; i++) /* the limit is 3 */
                json_array_append_new(array, nullable && one_in(6) ? json_null() : random_string());
        return array;
}

static json_t *random_labels(bool nullable) {
        json_t *map = json_object();
        for (size_t i = 0, count = next_random() % (one_in(4) ? 8 : 4); i < count; i++) { /* the limit is 4 */
                char key[16];
                snprintf(key, sizeof(key), "k%zu", (size_t)(next_random() % 8));
                json_object_set_new(map, key, nullable && one_in(6) ? json_null() : random_string());
        }
        return map;
}

static json_t *random_error(bool shuffled) {
        json_t *error = json_object();
        json_object_set_new(error, "code", random_string());
        json_object_set_new(error, "message", random_string());
        json_object_set_new(error, "retryable", json_boolean(one_in(2)));
        if (shuffled)
                json_object_set_new(error, "detail", one_in(2) ? json_null() : random_string());
        return error;
}

/* A value for field @p name of writer @p id, as bl_encode_json takes it; NULL leaves the field out. */
static json_t *random_field(int32_t id, const char *name) {
        static const char *const types[] = {"SUBMITTED", "COMPLETED", "FAILED", "HEARTBEAT"};
        bool shuffled = id == 96;
        if (!strcmp(name, "task_id"))
                return json_string(one_in(20) ? "t-2" : "t-1");
        if (!strcmp(name, "event_type"))
                return json_string(types[one_in(3) ? next_random() % 4 : 0]);
        if (!strcmp(name, "domain"))
                return one_in(5) ? random_string() : json_string(domains[next_random() % 3]);
        if (!strcmp(name, "occurred_at") && id != 96) /* the shuffled writer's is an int: before 2000, refused */
                return json_integer(one_in(5) ? 5 : 1795900000000 + (json_int_t)(next_random() % 100000));
        if (!strcmp(name, "attempt") || !strcmp(name, "max_attempts"))
                return json_integer(one_in(5) ? 0 : 1 + (json_int_t)(next_random() % 5));
        if ((!strcmp(name, "business_value") || !strcmp(name, "risk")) && !one_in(5))
                return id == 98 && !strcmp(name, "risk") ? json_integer((json_int_t)(next_random() % 2))
                                                         : json_real((double)(next_random() % 5) / 4);
        if (!strcmp(name, "occurred_at") || !strcmp(name, "deadline") || !strcmp(name, "not_before") ||
            !strcmp(name, "data_ready_at") || !strcmp(name, "max_attempts") || !strcmp(name, "attempt") ||
            (!strcmp(name, "risk") && id == 98))
                return random_number(true);
        if (!strcmp(name, "business_value") || !strcmp(name, "risk") || !strcmp(name, "weight"))
                return random_number(false);
        if (!strcmp(name, "depends_on"))
                return random_strings(shuffled);
        if (!strcmp(name, "labels"))
                return random_labels(shuffled);
        if (!strcmp(name, "error"))
                return random_error(shuffled);
        if (!strcmp(name, "trace"))
                return json_pack("{s:f, s:[{s:i}, {}], s:b}", "span", 0.125, "tags", "a", 1, "sampled", 1);
        if (!strcmp(name, "any"))
                return one_in(2) ? json_integer(7) : json_pack("[f, f]", 1.5, 2.5);
        if (!strcmp(name, "state"))
                return json_string(one_in(2) ? "CALM" : "BUSY");
        return random_string();
}

static json_t *random_document(int32_t id) {
        char errstr[256];
        bl_schema_t *schema = NULL;
        json_t *document = json_object();
        CHECK(bl_schemas_get(schemas, id, &schema, errstr, sizeof(errstr)) == BL_OK);
        for (size_t i = 0; schema && i < avro_schema_record_size(schema->avro); i++) {
                const char *name = avro_schema_record_field_name(schema->avro, (int)i);
                bool nullable = avro_typeof(avro_schema_record_field_get_by_index(schema->avro, (int)i)) == AVRO_UNION;
                if (nullable && one_in(3)) {
                        if (one_in(2)) /* else absent: the schema's default */
                                json_object_set_new(document, name, json_null());
                        continue;
                }
                json_object_set_new(document, name, random_field(id, name));
        }
        return document;
}

static void check_same_text(const char *direct, const char *generic) {
        CHECK((direct == NULL) == (generic == NULL));
        if (direct && generic)
                CHECK_STR(direct, generic);
}

static void check_same_event(const bl_task_event_t *d, const bl_task_event_t *g) {
        check_same_text(d->event_id, g->event_id);
        check_same_text(d->task_id, g->task_id);
        CHECK_INT(d->event_type, g->event_type);
        CHECK_INT(d->occurred_at_ms, g->occurred_at_ms);
        check_same_text(d->producer, g->producer);
        check_same_text(d->tenant, g->tenant);
        check_same_text(d->sla_class, g->sla_class);
        check_same_text(d->task_type, g->task_type);
        check_same_text(d->domain, g->domain);
        CHECK(d->has_business_value == g->has_business_value && d->has_risk == g->has_risk);
        CHECK(!memcmp(&d->business_value, &g->business_value, sizeof(double)) &&
              !memcmp(&d->risk, &g->risk, sizeof(double)));
        CHECK(d->has_deadline == g->has_deadline && d->deadline_ms == g->deadline_ms);
        CHECK(d->has_not_before == g->has_not_before && d->not_before_ms == g->not_before_ms);
        CHECK(d->has_data_ready_at == g->has_data_ready_at && d->data_ready_at_ms == g->data_ready_at_ms);
        CHECK_INT(d->depends_on_count, g->depends_on_count);
        for (size_t i = 0; i < d->depends_on_count && i < g->depends_on_count; i++)
                CHECK_STR(d->depends_on[i], g->depends_on[i]);
        CHECK_INT(d->label_count, g->label_count);
        for (size_t i = 0; i < d->label_count && i < g->label_count; i++) {
                CHECK_STR(d->label_keys[i], g->label_keys[i]);
                CHECK_STR(d->label_values[i], g->label_values[i]);
        }
        CHECK(d->has_max_attempts == g->has_max_attempts && d->max_attempts == g->max_attempts);
        CHECK(d->has_payload == g->has_payload && d->payload_size == g->payload_size);
        CHECK(!d->has_payload || !d->payload_size || !memcmp(d->payload, g->payload, d->payload_size));
        CHECK(d->has_attempt == g->has_attempt && d->attempt == g->attempt);
        check_same_text(d->dispatch_id, g->dispatch_id);
        CHECK_INT(d->has_error, g->has_error);
        check_same_text(d->error_code, g->error_code);
        check_same_text(d->error_message, g->error_message);
        CHECK_INT(d->error_retryable, g->error_retryable);
}

/*
 * Random records of every writer (the contract's versions, and foreign ones
 * in other shapes), valid and not, decode the same both ways: the same
 * event, or the same reason and detail.
 */
static void test_direct_read_matches_the_generic_path(void) {
        static const int32_t writers[] = {1, 2, 96, 97, 98};
        char errstr[256];
        /* a cache of its own: a decode on the generic path fills the cache's value of the writer schema */
        bl_schemas_t *generic_schemas = bl_schemas_new(catalog, NULL, errstr, sizeof(errstr));
        bl_decoder_t *generic = bl_decoder_new(generic_schemas, &rules, 4096, errstr, sizeof(errstr));
        size_t decoded = 0, refused = 0;
        bl_decoder_set_generic_only(generic, true);
        for (int i = 0; i < 6000; i++) {
                int32_t id = writers[i % 5];
                json_t *document = random_document(id);
                bl_schema_t *schema = NULL;
                unsigned char *value = NULL;
                size_t size = 0;
                bl_task_event_t direct_event, generic_event;
                bl_record_error_t direct_error, generic_error;
                bl_schemas_get(schemas, id, &schema, errstr, sizeof(errstr));
                if (bl_encode_json(schema, id, document, &value, &size, errstr, sizeof(errstr)) != BL_OK) {
                        json_decref(document); /* a null where the writer has no null: not a record */
                        continue;
                }
                bool direct_ok = bl_decoder_decode(decoder, "t-1", 3, value, size, &direct_event, &direct_error);
                bool generic_ok = bl_decoder_decode(generic, "t-1", 3, value, size, &generic_event, &generic_error);
                CHECK_INT(direct_ok, generic_ok);
                if (direct_ok && generic_ok) {
                        check_same_event(&direct_event, &generic_event);
                        decoded++;
                } else if (!direct_ok && !generic_ok) {
                        CHECK_INT(direct_error.reason, generic_error.reason);
                        CHECK_STR(direct_error.detail, generic_error.detail);
                        refused++;
                }
                free(value);
                json_decref(document);
        }
        fprintf(stderr, "direct vs generic: %zu decoded, %zu refused alike\n", decoded, refused);
        CHECK(decoded > 500 && refused > 500); /* both outcomes were exercised */
        bl_decoder_destroy(generic);
        bl_schemas_destroy(generic_schemas);
}

/* The writer with unions, nullable elements, promotions and unknown fields of every kind takes the direct read. */
static void test_shuffled_writer_reads_directly(void) {
        unsigned char *value;
        size_t size = encode(96, "{\"trace\": {\"span\": 0.125, \"tags\": [{\"a\": 1}], \"sampled\": true},"
                                 " \"domain\": \"evaluation\", \"task_id\": \"t-1\", \"labels\": {\"team\": \"ml\"},"
                                 " \"event_type\": \"SUBMITTED\", \"any\": [1.5], \"event_id\": \"e-1\","
                                 " \"occurred_at\": 5, \"producer\": \"p\", \"depends_on\": [\"t-0\"],"
                                 " \"task_type\": \"x\", \"business_value\": 0.5, \"risk\": 1, \"weight\": 2.5,"
                                 " \"deadline\": 9, \"max_attempts\": null, \"payload\": \"hi\", \"error\": null,"
                                 " \"attempt\": null, \"state\": \"BUSY\"}",
                             &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(value && decode(value, size, &event, &error));
        if (!value || !decode(value, size, &event, &error)) {
                fprintf(stderr, "decode: %s\n", value ? error.detail : "not encoded");
                free(value);
                return;
        }
        CHECK_STR(event.domain, "evaluation");
        CHECK_STR(event.task_type, "x");
        CHECK(event.label_count == 1 && !strcmp(event.label_keys[0], "team") && !strcmp(event.label_values[0], "ml"));
        CHECK(event.depends_on_count == 1 && !strcmp(event.depends_on[0], "t-0"));
        CHECK(event.has_risk && event.risk == 1.0 && event.has_deadline && event.deadline_ms == 9);
        CHECK(event.has_payload && event.payload_size == 2 && !memcmp(event.payload, "hi", 2));
        CHECK(!event.has_max_attempts && !event.has_attempt && !event.has_error);
        free(value);
}

/* Duplicate map keys: the place of the first, the value of the last, as avro-c's generic maps keep them. */
static void test_duplicate_label_keys(void) {
        /* v2 (id 2) framed by hand would need every field: take a real record and splice a map into it instead */
        unsigned char *value;
        size_t size = encode(2, "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\","
                                " \"occurred_at\": 5, \"producer\": \"p\", \"task_type\": \"x\","
                                " \"domain\": \"evaluation\", \"business_value\": 0.5, \"risk\": 0.5,"
                                " \"labels\": {\"aa\": \"11\", \"bb\": \"22\"}}",
                            &value);
        unsigned char *at = value ? memmem(value, size, "\004aa\004" "11\004" "bb", 9) : NULL;
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(at != NULL);
        if (at) {
                memcpy(at + 7, "aa", 2); /* the second key becomes "aa" */
                CHECK(decode(value, size, &event, &error));
                if (!decode(value, size, &event, &error)) {
                        fprintf(stderr, "decode: %s\n", error.detail);
                        free(value);
                        return;
                }
                CHECK_INT(event.label_count, 1);
                CHECK(event.label_count == 1 && !strcmp(event.label_keys[0], "aa") &&
                      !strcmp(event.label_values[0], "22"));
        }
        free(value);
}

/* A map key with a NUL byte is refused by the bounds walk, before either path would read it as a shorter key. */
static void test_label_key_with_nul_is_refused(void) {
        unsigned char *value;
        size_t size = encode(2, "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\","
                                " \"occurred_at\": 5, \"producer\": \"p\", \"task_type\": \"x\","
                                " \"domain\": \"evaluation\", \"business_value\": 0.5, \"risk\": 0.5,"
                                " \"labels\": {\"ab\": \"11\"}}",
                            &value);
        unsigned char *at = value ? memmem(value, size, "\004ab\004" "11", 6) : NULL;
        CHECK(at != NULL);
        if (at) {
                at[2] = '\0';
                expect_failure(value, size, BL_REASON_DECODE_AVRO, "map key with a NUL byte");
        }
        free(value);
}

/* Over the labels limit the direct read leaves the record to the generic path, which refuses it with the record's id. */
static void test_too_many_labels_keep_the_schema_id(void) {
        unsigned char *value;
        size_t size = encode(2, "{\"event_id\": \"e\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\","
                                " \"occurred_at\": 5, \"producer\": \"p\", \"task_type\": \"x\","
                                " \"domain\": \"evaluation\", \"business_value\": 0.5, \"risk\": 0.5,"
                                " \"labels\": {\"a\": \"1\", \"b\": \"2\", \"c\": \"3\", \"d\": \"4\", \"e\": \"5\"}}",
                            &value);
        bl_task_event_t event;
        bl_record_error_t error;
        CHECK(value && !decode(value, size, &event, &error));
        CHECK_INT(error.reason, BL_REASON_CONTRACT_VIOLATION);
        CHECK_CONTAINS(error.detail, "labels: 5 entries, the limit is 4");
        CHECK_INT(error.schema_id, 2);
        free(value);
}

/* ---- every string from input must be UTF-8 (issue 12) ------------------------- */

/* Where a string sits in a TaskEvent: the top-level field, the JSON that puts MARKER there, the detail's path. */
typedef struct string_site_s {
        const char *field;
        const char *member_json; /* "name": value, with MARKER where the bad bytes go */
        const char *path;
} string_site_t;

static const string_site_t string_sites[] = {
        {"event_id", "\"event_id\": \"MARKER\"", "event_id"},
        {"task_id", "\"task_id\": \"MARKER\"", "task_id"},
        {"producer", "\"producer\": \"MARKER\"", "producer"},
        {"tenant", "\"tenant\": \"MARKER\"", "tenant"},
        {"sla_class", "\"sla_class\": \"MARKER\"", "sla_class"},
        {"actor", "\"actor\": \"MARKER\"", "actor"},
        {"reason", "\"reason\": \"MARKER\"", "reason"},
        {"task_type", "\"task_type\": \"MARKER\"", "task_type"},
        {"domain", "\"domain\": \"MARKER\"", "domain"},
        {"dispatch_id", "\"dispatch_id\": \"MARKER\"", "dispatch_id"},
        {"depends_on", "\"depends_on\": [\"t-0\", \"MARKER\"]", "depends_on[1]"},
        {"labels", "\"labels\": {\"team\": \"ml\", \"zone\": \"MARKER\"}", "labels.zone"},
        {"labels", "\"labels\": {\"team\": \"ml\", \"MARKER\": \"eu\"}", "labels{key 1}"},
        {"error", "\"error\": {\"code\": \"MARKER\", \"message\": \"m\", \"retryable\": false}", "error.code"},
        {"error", "\"error\": {\"code\": \"OOM\", \"message\": \"MARKER\", \"retryable\": false}", "error.message"},
};
#define STRING_SITE_COUNT (sizeof(string_sites) / sizeof(string_sites[0]))

/* A FAILED result that carries every field, each as @p site says for its own, the others plain. */
static json_t *event_with_site(const string_site_t *site, const json_t *writer_schema) {
        static const char *const plain =
                "{\"event_id\": \"e-1\", \"task_id\": \"t-1\", \"event_type\": \"FAILED\", \"occurred_at\": 5,"
                " \"producer\": \"p\", \"tenant\": \"acme\", \"sla_class\": \"gold\", \"task_type\": \"x\","
                " \"domain\": \"evaluation\", \"depends_on\": [\"t-0\"], \"labels\": {\"team\": \"ml\"},"
                " \"attempt\": 1, \"dispatch_id\": \"t-1/1\","
                " \"error\": {\"code\": \"OOM\", \"message\": \"m\", \"retryable\": false}}";
        char member[256];
        json_t *document = json_loads(plain, 0, NULL), *override;
        const json_t *fields = json_object_get(writer_schema, "fields");
        snprintf(member, sizeof(member), "{%s}", site->member_json);
        override = json_loads(member, 0, NULL);
        json_object_update(document, override);
        json_decref(override);
        /* only the fields this writer version has */
        json_t *kept = json_object();
        for (size_t i = 0; i < json_array_size(fields); i++) {
                const char *name = json_string_value(json_object_get(json_array_get(fields, i), "name"));
                if (json_object_get(document, name))
                        json_object_set(kept, name, json_object_get(document, name));
        }
        json_decref(document);
        return kept;
}

/* Whether an Avro type (JSON form) holds a string anywhere: a string, or a union, array, map or record with one. */
static bool type_holds_string(const json_t *type) {
        const char *name = json_string_value(type);
        if (name)
                return !strcmp(name, "string");
        if (json_is_array(type)) {
                for (size_t i = 0; i < json_array_size(type); i++)
                        if (type_holds_string(json_array_get(type, i)))
                                return true;
                return false;
        }
        name = json_string_value(json_object_get(type, "type"));
        if (name && !strcmp(name, "array"))
                return type_holds_string(json_object_get(type, "items"));
        if (name && !strcmp(name, "map"))
                return true; /* its keys */
        if (name && !strcmp(name, "record")) {
                const json_t *fields = json_object_get(type, "fields");
                for (size_t i = 0; i < json_array_size(fields); i++)
                        if (type_holds_string(json_object_get(json_array_get(fields, i), "type")))
                                return true;
                return false;
        }
        return type_holds_string(json_object_get(type, "type"));
}

static bool has_site(const char *field) {
        for (size_t i = 0; i < STRING_SITE_COUNT; i++)
                if (!strcmp(string_sites[i].field, field))
                        return true;
        return false;
}

/* One site in one writer version: MARKER becomes "MA\xffKER" in the bytes, and the record must be refused. */
static void check_site(int32_t schema_id, const json_t *writer_schema, const string_site_t *site) {
        json_t *document = event_with_site(site, writer_schema);
        char *json = json_dumps(document, 0), expected[128], key[16] = "t-1";
        unsigned char *value = NULL, *at;
        size_t size = encode(schema_id, json, &value);
        bl_task_event_t event;
        bl_record_error_t error;
        at = value ? memmem(value, size, "\x0cMARKER", 7) : NULL;
        CHECK(at != NULL);
        if (at) {
                at[3] = 0xff;
                if (!strcmp(site->field, "task_id"))
                        memcpy(key, "MA\xffKER", 7);
                snprintf(expected, sizeof(expected), "%s: not valid UTF-8 at byte 2", site->path);
                CHECK(!bl_decoder_decode(decoder, key, strlen(key), value, size, &event, &error));
                CHECK_INT(error.reason, BL_REASON_CONTRACT_VIOLATION);
                CHECK_STR(error.detail, expected);
                at[3] = 'R'; /* and with the byte made good again, the same record passes */
                if (!strcmp(site->field, "task_id"))
                        memcpy(key, "MARKER", 7);
                CHECK(bl_decoder_decode(decoder, key, strlen(key), value, size, &event, &error));
                if (error.detail[0])
                        fprintf(stderr, "  %s: %s\n", site->path, error.detail);
        }
        free(value);
        free(json);
        json_decref(document);
}

/* Regression (issue 12): a task_id that was not UTF-8 was accepted. Every string of every version, by path. */
static void test_every_string_of_every_version_must_be_utf8(void) {
        for (int version = 1;; version++) {
                bl_schema_t *writer = bl_schemas_version(schemas, "task_event", version);
                const json_t *fields;
                if (!writer)
                        break;
                fields = json_object_get(writer->json, "fields");
                for (size_t i = 0; i < json_array_size(fields); i++) {
                        const json_t *field = json_array_get(fields, i);
                        const char *name = json_string_value(json_object_get(field, "name"));
                        /* a field that can hold a string and has no site here is a string nobody tests */
                        if (type_holds_string(json_object_get(field, "type")) && !has_site(name)) {
                                CHECK(has_site(name));
                                fprintf(stderr, "  TaskEvent v%d field %s holds a string: add it to string_sites\n",
                                        version, name);
                        }
                }
                for (size_t i = 0; i < STRING_SITE_COUNT; i++) {
                        int index = avro_schema_record_field_get_index(writer->avro, string_sites[i].field);
                        if (index >= 0)
                                check_site(writer->id, writer->json, &string_sites[i]);
                }
        }
}

/* The tests that decode records: run on the direct read, then on the generic path alone. */
static void run_decoding_tests(void) {
        RUN(test_v2_round_trip);
        RUN(test_v1_projects_with_v2_defaults);
        RUN(test_foreign_writer_with_promotions);
        RUN(test_string_payload_is_read_as_bytes);
        RUN(test_truncated_and_trailing_avro);
        RUN(test_lengths_larger_than_data);
        RUN(test_oversized_fields);
        RUN(test_key_must_be_task_id);
        RUN(test_approved_payload_is_bounded);
        RUN(test_semantic_rule_after_decode);
        RUN(test_shuffled_writer_reads_directly);
        RUN(test_duplicate_label_keys);
        RUN(test_label_key_with_nul_is_refused);
        RUN(test_too_many_labels_keep_the_schema_id);
        RUN(test_every_string_of_every_version_must_be_utf8);
}

int main(void) {
        setup();
        run_decoding_tests();
        RUN(test_wire_format_errors);
        RUN(test_unknown_schema_id);
        RUN(test_incompatible_writer);
        RUN(test_encoder_errors);
        RUN(test_rfc3339);
        RUN(test_wire_header);
        RUN(test_bounds_on_nested_types);
        RUN(test_bounds_on_int_range);
        RUN(test_direct_read_refuses_what_the_walk_refuses);
        RUN(test_direct_read_matches_the_generic_path);
        bl_decoder_set_generic_only(decoder, true);
        run_decoding_tests();
        bl_decoder_destroy(decoder);
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
        return check_exit_status();
}
