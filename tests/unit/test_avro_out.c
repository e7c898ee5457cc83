/*
 * test_avro_out.c: the direct Avro writer. Each primitive's bytes against
 * the Avro specification's examples and against avro-c reading them back;
 * shapes compiled from schemas with links, nullable unions in either order,
 * nested records in arrays; what a shape refuses; a buffer that cannot grow
 * stays failed until reset.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "contract/avro_out.h"

static void check_bytes(const bl_avro_out_t *out, const unsigned char *expected, size_t size) {
        CHECK_INT(out->size, size);
        CHECK(out->size == size && !memcmp(out->bytes, expected, size));
}

/* The examples of the specification's "Binary Encoding" section. */
static void test_longs_are_zigzag_varints(void) {
        static const struct {
                int64_t number;
                unsigned char bytes[10];
                size_t size;
        } cases[] = {
                {0, {0x00}, 1},
                {-1, {0x01}, 1},
                {1, {0x02}, 1},
                {-2, {0x03}, 1},
                {2, {0x04}, 1},
                {-64, {0x7f}, 1},
                {64, {0x80, 0x01}, 2},
                {INT64_MAX, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
                {INT64_MIN, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
        };
        bl_avro_out_t out = {0};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bl_avro_out_reset(&out);
                bl_avro_out_long(&out, cases[i].number);
                check_bytes(&out, cases[i].bytes, cases[i].size);
        }
        bl_avro_out_free(&out);
}

static void test_strings_doubles_and_booleans(void) {
        static const unsigned char foo[] = {0x06, 'f', 'o', 'o'};
        static const unsigned char one[] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f}; /* 1.0, little-endian */
        static const unsigned char flags[] = {1, 0};
        bl_avro_out_t out = {0};
        bl_avro_out_string(&out, "foo");
        check_bytes(&out, foo, sizeof(foo));
        bl_avro_out_reset(&out);
        bl_avro_out_double(&out, 1.0);
        check_bytes(&out, one, sizeof(one));
        bl_avro_out_reset(&out);
        bl_avro_out_boolean(&out, true);
        bl_avro_out_boolean(&out, false);
        check_bytes(&out, flags, sizeof(flags));
        bl_avro_out_reset(&out);
        bl_avro_out_bytes(&out, "", 0);
        CHECK_INT(out.size, 1);
        CHECK_INT(out.bytes[0], 0);
        bl_avro_out_free(&out);
}

/* Reads @p out with avro-c as an array of @p item_type into a fresh generic value. */
static bool read_array(const bl_avro_out_t *out, const char *item_type, avro_schema_t *schema, avro_value_iface_t **iface,
                       avro_value_t *value) {
        char json[100];
        avro_reader_t reader = avro_reader_memory((const char *)out->bytes, (int64_t)out->size);
        int rc;
        snprintf(json, sizeof(json), "{\"type\": \"array\", \"items\": \"%s\"}", item_type);
        avro_schema_from_json_length(json, strlen(json), schema);
        *iface = avro_generic_class_from_schema(*schema);
        avro_generic_value_new(*iface, value);
        rc = avro_value_read(reader, value);
        avro_reader_free(reader);
        return rc == 0;
}

static void release_array(avro_schema_t schema, avro_value_iface_t *iface, avro_value_t *value) {
        avro_value_decref(value);
        avro_value_iface_decref(iface);
        avro_schema_decref(schema);
}

/* What avro-c reads back from bytes written here, for values at the edges. */
static void test_avro_c_reads_what_is_written(void) {
        static const int64_t longs[] = {0, 1, -1, 127, 128, -129, 1795900000001, INT64_MAX, INT64_MIN};
        static const double doubles[] = {0.0, -0.0, 0.1, -1e308, DBL_MIN, 4.9e-324, 1e300};
        static const char *const strings[] = {"", "naïve ✓",
                                              ("a longer string of more than sixty-three bytes, "
                                               "so that its length takes two bytes")};
        const size_t long_count = sizeof(longs) / sizeof(longs[0]), double_count = sizeof(doubles) / sizeof(doubles[0]);
        bl_avro_out_t out = {0};
        avro_schema_t schema;
        avro_value_iface_t *iface;
        avro_value_t array, element;
        size_t size;

        bl_avro_out_long(&out, (int64_t)long_count);
        for (size_t i = 0; i < long_count; i++)
                bl_avro_out_long(&out, longs[i]);
        bl_avro_out_long(&out, 0);
        CHECK(read_array(&out, "long", &schema, &iface, &array));
        CHECK(avro_value_get_size(&array, &size) == 0 && size == long_count);
        for (size_t i = 0; i < long_count; i++) {
                int64_t number = 42;
                CHECK(avro_value_get_by_index(&array, i, &element, NULL) == 0 &&
                      avro_value_get_long(&element, &number) == 0 && number == longs[i]);
        }
        release_array(schema, iface, &array);

        bl_avro_out_reset(&out);
        bl_avro_out_long(&out, (int64_t)double_count);
        for (size_t i = 0; i < double_count; i++)
                bl_avro_out_double(&out, doubles[i]);
        bl_avro_out_long(&out, 0);
        CHECK(read_array(&out, "double", &schema, &iface, &array));
        for (size_t i = 0; i < double_count; i++) {
                double number = 42;
                CHECK(avro_value_get_by_index(&array, i, &element, NULL) == 0 &&
                      avro_value_get_double(&element, &number) == 0 && !memcmp(&number, &doubles[i], sizeof(number)));
        }
        release_array(schema, iface, &array);

        bl_avro_out_reset(&out);
        bl_avro_out_long(&out, 3);
        for (size_t i = 0; i < 3; i++)
                bl_avro_out_string(&out, strings[i]);
        bl_avro_out_long(&out, 0);
        CHECK(read_array(&out, "string", &schema, &iface, &array));
        for (size_t i = 0; i < 3; i++) {
                const char *text = NULL;
                CHECK(avro_value_get_by_index(&array, i, &element, NULL) == 0 &&
                      avro_value_get_string(&element, &text, NULL) == 0);
                CHECK_STR(text, strings[i]);
        }
        release_array(schema, iface, &array);
        bl_avro_out_free(&out);
}

/* A buffer grows from empty to far past its first capacity without losing a byte. */
static void test_buffer_grows(void) {
        bl_avro_out_t out = {0};
        for (int i = 0; i < 100000; i++)
                bl_avro_out_raw(&out, "0123456789", 10);
        CHECK_INT(out.size, 1000000);
        CHECK(out.capacity >= out.size && !out.out_of_memory);
        CHECK(!memcmp(out.bytes + 999990, "0123456789", 10));
        bl_avro_out_free(&out);
}

/* Once out of memory, writes do nothing until the next reset. */
static void test_failed_buffer_stays_failed(void) {
        bl_avro_out_t out = {0};
        bl_avro_out_raw(&out, "ab", 2);
        CHECK(!bl_avro_out_reserve(&out, SIZE_MAX - 1));
        CHECK(out.out_of_memory);
        bl_avro_out_long(&out, 5);
        CHECK_INT(out.size, 2);
        bl_avro_out_reset(&out);
        CHECK(!out.out_of_memory && out.size == 0);
        bl_avro_out_long(&out, 5);
        CHECK_INT(out.size, 1);
        bl_avro_out_free(&out);
}

static avro_schema_t parse(const char *json) {
        avro_schema_t schema = NULL;
        CHECK_INT(avro_schema_from_json_length(json, strlen(json), &schema), 0);
        return schema;
}

static const char *const shaped_schema =
        "{\"type\": \"record\", \"name\": \"Outer\", \"namespace\": \"t\", \"fields\": ["
        "{\"name\": \"state\", \"type\": {\"type\": \"enum\", \"name\": \"State\", \"symbols\": [\"A\", \"B\"]}},"
        "{\"name\": \"previous\", \"type\": [\"null\", \"State\"]},"
        "{\"name\": \"note\", \"type\": [\"string\", \"null\"]},"
        "{\"name\": \"parts\", \"type\": {\"type\": \"array\", \"items\": {\"type\": \"record\", \"name\": \"Part\","
        " \"fields\": [{\"name\": \"weight\", \"type\": \"double\"}]}}},"
        "{\"name\": \"first\", \"type\": [\"null\", \"Part\"]},"
        "{\"name\": \"labels\", \"type\": {\"type\": \"map\", \"values\": \"string\"}},"
        "{\"name\": \"at\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}}]}";

/* Links resolve to their targets; either order of a nullable union; nested records compile once each. */
static void test_shape_resolves_what_encoders_need(void) {
        char errstr[200];
        avro_schema_t schema = parse(shaped_schema);
        bl_avro_shape_t *shape = bl_avro_shape_new(schema, errstr, sizeof(errstr));
        CHECK(shape != NULL);
        if (shape) {
                CHECK_STR(shape->name, "Outer");
                CHECK_INT(shape->count, 7);
                CHECK(shape->fields[0].type == AVRO_ENUM && shape->fields[0].null_branch == -1);
                CHECK(shape->fields[1].type == AVRO_ENUM && shape->fields[1].enum_schema != NULL);
                CHECK(shape->fields[1].null_branch == 0 && shape->fields[1].value_branch == 1);
                CHECK(shape->fields[2].type == AVRO_STRING);
                CHECK(shape->fields[2].null_branch == 1 && shape->fields[2].value_branch == 0);
                CHECK(shape->fields[3].type == AVRO_ARRAY && shape->fields[3].element == AVRO_RECORD);
                CHECK(shape->fields[3].record && shape->fields[3].record->count == 1);
                CHECK(shape->fields[4].type == AVRO_RECORD && shape->fields[4].record != NULL);
                CHECK(shape->fields[5].type == AVRO_MAP && shape->fields[5].element == AVRO_STRING);
                CHECK(shape->fields[6].type == AVRO_INT64);
                CHECK_INT(bl_avro_shape_index(shape, "labels"), 5);
                CHECK_INT(bl_avro_shape_index(shape, "missing"), -1);
        }
        bl_avro_shape_free(shape);
        avro_schema_decref(schema);
}

static void check_refused(const char *json, const char *reason) {
        char errstr[200] = "";
        avro_schema_t schema = parse(json);
        CHECK(bl_avro_shape_new(schema, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, reason);
        avro_schema_decref(schema);
}

static void test_shape_refuses_what_encoders_never_write(void) {
        check_refused("{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"either\","
                      " \"type\": [\"string\", \"long\"]}]}",
                      "R.either: a union other than [null, T]");
        check_refused("{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"three\","
                      " \"type\": [\"null\", \"string\", \"long\"]}]}",
                      "R.three: a union other than [null, T]");
        check_refused("\"string\"", "not a record schema");
}

/* Equal when they write the same bytes: a changed symbol order or union order is not. */
static void test_shape_equality(void) {
        char errstr[200];
        char *swapped_union = strdup(shaped_schema), *swapped_symbols = strdup(shaped_schema);
        char *at = strstr(swapped_union, "[\"string\", \"null\"]");
        memcpy(at, "[\"null\", \"string\"]", strlen("[\"null\", \"string\"]"));
        at = strstr(swapped_symbols, "[\"A\", \"B\"]");
        memcpy(at, "[\"B\", \"A\"]", strlen("[\"B\", \"A\"]"));
        avro_schema_t schemas[4] = {parse(shaped_schema), parse(shaped_schema), parse(swapped_union),
                                    parse(swapped_symbols)};
        bl_avro_shape_t *shapes[4];
        for (int i = 0; i < 4; i++)
                shapes[i] = bl_avro_shape_new(schemas[i], errstr, sizeof(errstr));
        CHECK(bl_avro_shape_equal(shapes[0], shapes[1]));
        CHECK(!bl_avro_shape_equal(shapes[0], shapes[2]));
        CHECK(!bl_avro_shape_equal(shapes[0], shapes[3]));
        CHECK(!bl_avro_shape_equal(shapes[0], shapes[0]->fields[3].record));
        for (int i = 0; i < 4; i++) {
                bl_avro_shape_free(shapes[i]);
                avro_schema_decref(schemas[i]);
        }
        free(swapped_union);
        free(swapped_symbols);
}

int main(void) {
        RUN(test_longs_are_zigzag_varints);
        RUN(test_strings_doubles_and_booleans);
        RUN(test_avro_c_reads_what_is_written);
        RUN(test_buffer_grows);
        RUN(test_failed_buffer_stays_failed);
        RUN(test_shape_resolves_what_encoders_need);
        RUN(test_shape_refuses_what_encoders_never_write);
        RUN(test_shape_equality);
        return check_exit_status();
}
