/*
 * avro_bounds.c: a bounds-checking walk over Avro binary data.
 *
 * The walk follows the Avro specification's binary encoding: zig-zag
 * varints for int and long (at most 5 and 10 bytes), length-prefixed bytes
 * and strings, blocks of items for arrays and maps (a negative count is
 * followed by the block's byte size), a varint branch index for unions.
 * Counts of items are capped by the size of the whole datum, so a schema
 * whose items take no bytes (an array of null) cannot make it spin. A map
 * key with a NUL byte is refused: every reader takes keys as C strings.
 * No allocation, no recursion deeper than BL_AVRO_MAX_DEPTH; any thread.
 */
#include "contract/avro_bounds.h"

#include <stdint.h>
#include <string.h>

typedef struct cursor_s {
        const unsigned char *bytes;
        size_t size;
        size_t offset;
        bl_record_error_t *error;
} cursor_t;

static bool fail(cursor_t *cursor, const char *what) {
        return bl_record_error_set(cursor->error, BL_REASON_DECODE_AVRO, "%s at byte %zu", what, cursor->offset);
}

static bool read_varint(cursor_t *cursor, int max_bytes, int64_t *value) {
        uint64_t raw = 0;
        for (int shift = 0, i = 0; i < max_bytes; i++, shift += 7) {
                if (cursor->offset >= cursor->size)
                        return fail(cursor, "truncated number");
                unsigned char byte = cursor->bytes[cursor->offset++];
                raw |= (uint64_t)(byte & 0x7F) << shift;
                if (!(byte & 0x80)) {
                        *value = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
                        return true;
                }
        }
        return fail(cursor, "number longer than its type allows");
}

static bool skip(cursor_t *cursor, int64_t count, const char *what) {
        if (count < 0 || (uint64_t)count > cursor->size - cursor->offset)
                return fail(cursor, what);
        cursor->offset += (size_t)count;
        return true;
}

static bool walk(cursor_t *cursor, avro_schema_t schema, int depth);

/* Array and map blocks; map items are a string key then the value. */
static bool walk_blocks(cursor_t *cursor, avro_schema_t item_schema, bool is_map, int depth) {
        size_t items_seen = 0;
        for (;;) {
                int64_t count, block_size;
                if (!read_varint(cursor, 10, &count))
                        return false;
                if (count == 0)
                        return true;
                if (count < 0) {
                        if (count == INT64_MIN)
                                return fail(cursor, "invalid block count");
                        count = -count;
                        if (!read_varint(cursor, 10, &block_size) || block_size < 0)
                                return fail(cursor, "invalid block size");
                }
                if ((uint64_t)count > cursor->size - items_seen)
                        return fail(cursor, "block count larger than the data");
                items_seen += (size_t)count;
                for (int64_t i = 0; i < count; i++) {
                        int64_t key_size;
                        if (is_map && (!read_varint(cursor, 10, &key_size) ||
                                       !skip(cursor, key_size, "map key longer than the data")))
                                return false;
                        /* a key is a C string to every reader of the map: a NUL would cut it short unseen */
                        if (is_map && memchr(cursor->bytes + cursor->offset - key_size, 0, (size_t)key_size))
                                return fail(cursor, "map key with a NUL byte");
                        if (!walk(cursor, item_schema, depth + 1))
                                return false;
                }
        }
}

static bool walk_record(cursor_t *cursor, avro_schema_t schema, int depth) {
        size_t field_count = avro_schema_record_size(schema);
        for (size_t i = 0; i < field_count; i++)
                if (!walk(cursor, avro_schema_record_field_get_by_index(schema, (int)i), depth + 1))
                        return false;
        return true;
}

static bool walk_union(cursor_t *cursor, avro_schema_t schema, int depth) {
        int64_t branch;
        if (!read_varint(cursor, 10, &branch))
                return false;
        if (branch < 0 || (uint64_t)branch >= avro_schema_union_size(schema))
                return fail(cursor, "union branch out of range");
        return walk(cursor, avro_schema_union_branch(schema, (int)branch), depth + 1);
}

static bool walk_scalar(cursor_t *cursor, avro_schema_t schema) {
        int64_t value;
        switch (avro_typeof(schema)) {
        case AVRO_NULL: return true;
        case AVRO_BOOLEAN:
                if (cursor->offset >= cursor->size)
                        return fail(cursor, "truncated boolean");
                if (cursor->bytes[cursor->offset] > 1)
                        return fail(cursor, "boolean that is neither 0 nor 1");
                cursor->offset++;
                return true;
        case AVRO_INT32:
                if (!read_varint(cursor, 5, &value))
                        return false;
                if (value < INT32_MIN || value > INT32_MAX) /* 5 bytes hold 35 bits: avro-c refuses the rest */
                        return fail(cursor, "int out of range");
                return true;
        case AVRO_INT64: return read_varint(cursor, 10, &value);
        case AVRO_FLOAT: return skip(cursor, 4, "truncated float");
        case AVRO_DOUBLE: return skip(cursor, 8, "truncated double");
        case AVRO_STRING:
        case AVRO_BYTES:
                return read_varint(cursor, 10, &value) && skip(cursor, value, "length longer than the data");
        case AVRO_FIXED: return skip(cursor, avro_schema_fixed_size(schema), "truncated fixed");
        case AVRO_ENUM:
                if (!read_varint(cursor, 5, &value))
                        return false;
                if (value < 0 || value >= avro_schema_enum_number_of_symbols(schema))
                        return fail(cursor, "enum index out of range");
                return true;
        default: return fail(cursor, "unsupported schema type");
        }
}

static bool walk(cursor_t *cursor, avro_schema_t schema, int depth) {
        if (depth > BL_AVRO_MAX_DEPTH)
                return fail(cursor, "nesting deeper than allowed");
        switch (avro_typeof(schema)) {
        case AVRO_RECORD: return walk_record(cursor, schema, depth);
        case AVRO_UNION: return walk_union(cursor, schema, depth);
        case AVRO_ARRAY: return walk_blocks(cursor, avro_schema_array_items(schema), false, depth);
        case AVRO_MAP: return walk_blocks(cursor, avro_schema_map_values(schema), true, depth);
        case AVRO_LINK: return walk(cursor, avro_schema_link_target(schema), depth + 1);
        default: return walk_scalar(cursor, schema);
        }
}

bool bl_avro_bounds_check(avro_schema_t schema, const void *body, size_t size, bl_record_error_t *error) {
        cursor_t cursor = {body, size, 0, error};
        if (!walk(&cursor, schema, 0))
                return false;
        if (cursor.offset != size)
                return bl_record_error_set(error, BL_REASON_DECODE_AVRO, "%zu bytes left over after the record",
                                           size - cursor.offset);
        return true;
}
