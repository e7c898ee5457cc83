/*
 * avro_out.c: compiled record shapes, and the buffer the Avro binary
 * primitives (inline in avro_out.h) write into.
 *
 * Compiling resolves, once per schema, what avro-c's generic values would
 * look up for every record: field names to positions, named-type links to
 * their targets, a nullable union to its two branch indexes. Only the
 * shapes backlogd's contracts use are accepted; anything else is refused at
 * compile time with the field's path, so an encoder never meets it.
 *
 * The primitives follow the Avro 1.11 specification's binary encoding: int
 * and long as zig-zag varints, double as 8 little-endian bytes (written
 * byte by byte, whatever the host's order), boolean as one byte, bytes and
 * string as a long length and the bytes. Arrays and maps are written by the
 * caller as one block and the 0 that ends them.
 *
 * Invariants: a shape never changes after compiling; a buffer's size never
 * exceeds its capacity. Thread: any, one buffer and shape per thread.
 */
#include "contract/avro_out.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8
#define MIN_CAPACITY 512

/* ==== shapes ================================================================ */

avro_schema_t bl_avro_schema_resolved(avro_schema_t schema) {
        while (schema && is_avro_link(schema))
                schema = avro_schema_link_target(schema);
        return schema;
}

bool bl_avro_schema_nullable(avro_schema_t schema, avro_schema_t *value, int *null_branch) {
        schema = bl_avro_schema_resolved(schema);
        *value = schema;
        *null_branch = -1;
        if (avro_typeof(schema) != AVRO_UNION)
                return true;
        if (avro_schema_union_size(schema) != 2)
                return false;
        for (int i = 0; i < 2; i++) {
                avro_schema_t branch = bl_avro_schema_resolved(avro_schema_union_branch(schema, i));
                avro_schema_t other = bl_avro_schema_resolved(avro_schema_union_branch(schema, 1 - i));
                if (avro_typeof(branch) == AVRO_NULL && avro_typeof(other) != AVRO_NULL) {
                        *value = other;
                        *null_branch = i;
                        return true;
                }
        }
        return false;
}

static bl_avro_shape_t *compile(avro_schema_t record, int depth, char *errstr, size_t errstr_size);

/*
 * An array's union of records (Transition v3's changes): a shape named "union" whose fields are the
 * branches in union order, each named as its record and of that record's shape.
 */
static bl_avro_shape_t *compile_union(avro_schema_t union_schema, int depth, char *errstr, size_t errstr_size) {
        bl_avro_shape_t *shape = calloc(1, sizeof(*shape));
        if (!shape || !(shape->name = strdup("union")))
                goto nomem;
        shape->count = avro_schema_union_size(union_schema);
        if (shape->count && !(shape->fields = calloc(shape->count, sizeof(*shape->fields))))
                goto nomem;
        for (size_t i = 0; i < shape->count; i++) {
                avro_schema_t branch = bl_avro_schema_resolved(avro_schema_union_branch(union_schema, (int)i));
                bl_avro_field_t *field = &shape->fields[i];
                field->null_branch = field->value_branch = -1;
                field->type = AVRO_RECORD;
                if (avro_typeof(branch) != AVRO_RECORD) {
                        snprintf(errstr, errstr_size, "an array of a union whose branch %zu is not a record", i);
                        goto fail;
                }
                if (!(field->name = strdup(avro_schema_name(branch))))
                        goto nomem;
                if (!(field->record = compile(branch, depth + 1, errstr, errstr_size)))
                        goto fail;
        }
        return shape;
nomem:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        bl_avro_shape_free(shape);
        return NULL;
}

/* The element of an array or map: its type, and its enum or record (or union of records). */
static bool compile_element(avro_schema_t element, int depth, bl_avro_field_t *field, char *errstr,
                            size_t errstr_size) {
        field->element = avro_typeof(element);
        if (field->element == AVRO_UNION)
                return (field->record = compile_union(element, depth + 1, errstr, errstr_size)) != NULL;
        if (field->element == AVRO_ENUM && !(field->symbols = calloc(1, sizeof(*field->symbols)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return false;
        }
        if (field->element == AVRO_ENUM)
                field->enum_schema = element;
        if (field->element == AVRO_RECORD)
                return (field->record = compile(element, depth + 1, errstr, errstr_size)) != NULL;
        return true;
}

static bool compile_field(avro_schema_t record, int index, int depth, bl_avro_field_t *field, char *errstr,
                          size_t errstr_size) {
        avro_schema_t schema;
        const char *name = avro_schema_record_field_name(record, index);
        if (!(field->name = strdup(name))) {
                snprintf(errstr, errstr_size, "out of memory");
                return false;
        }
        if (!bl_avro_schema_nullable(avro_schema_record_field_get_by_index(record, index), &schema,
                                     &field->null_branch)) {
                snprintf(errstr, errstr_size, "%s.%s: a union other than [null, T]", avro_schema_name(record), name);
                return false;
        }
        field->value_branch = field->null_branch < 0 ? -1 : 1 - field->null_branch;
        field->type = avro_typeof(schema);
        switch (field->type) {
        case AVRO_ENUM:
                field->enum_schema = schema;
                if (!(field->symbols = calloc(1, sizeof(*field->symbols)))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return false;
                }
                return true;
        case AVRO_RECORD:
                return (field->record = compile(schema, depth + 1, errstr, errstr_size)) != NULL;
        case AVRO_ARRAY:
                return compile_element(bl_avro_schema_resolved(avro_schema_array_items(schema)), depth, field, errstr, errstr_size);
        case AVRO_MAP:
                return compile_element(bl_avro_schema_resolved(avro_schema_map_values(schema)), depth, field, errstr, errstr_size);
        default:
                return true;
        }
}

static bl_avro_shape_t *compile(avro_schema_t record, int depth, char *errstr, size_t errstr_size) {
        bl_avro_shape_t *shape;
        if (avro_typeof(record) != AVRO_RECORD) {
                snprintf(errstr, errstr_size, "not a record schema");
                return NULL;
        }
        if (depth > MAX_DEPTH) {
                snprintf(errstr, errstr_size, "%s: records nested deeper than %d", avro_schema_name(record), MAX_DEPTH);
                return NULL;
        }
        shape = calloc(1, sizeof(*shape));
        if (!shape || !(shape->name = strdup(avro_schema_name(record))))
                goto nomem;
        shape->count = avro_schema_record_size(record);
        if (shape->count && !(shape->fields = calloc(shape->count, sizeof(*shape->fields))))
                goto nomem;
        for (size_t i = 0; i < shape->count; i++)
                if (!compile_field(record, (int)i, depth, &shape->fields[i], errstr, errstr_size))
                        goto fail;
        return shape;
nomem:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        bl_avro_shape_free(shape);
        return NULL;
}

bl_avro_shape_t *bl_avro_shape_new(avro_schema_t record, char *errstr, size_t errstr_size) {
        return compile(bl_avro_schema_resolved(record), 0, errstr, errstr_size);
}

void bl_avro_shape_free(bl_avro_shape_t *shape) {
        if (!shape)
                return;
        for (size_t i = 0; shape->fields && i < shape->count; i++) {
                free((char *)shape->fields[i].name);
                free(shape->fields[i].symbols);
                bl_avro_shape_free(shape->fields[i].record);
        }
        free(shape->fields);
        free(shape->name);
        free(shape);
}

static bool enums_equal(avro_schema_t a, avro_schema_t b) {
        int count;
        if (!a || !b)
                return a == b;
        if ((count = avro_schema_enum_number_of_symbols(a)) != avro_schema_enum_number_of_symbols(b))
                return false;
        for (int i = 0; i < count; i++)
                if (strcmp(avro_schema_enum_get(a, i), avro_schema_enum_get(b, i)))
                        return false;
        return true;
}

bool bl_avro_field_equal(const bl_avro_field_t *x, const bl_avro_field_t *y) {
        return !strcmp(x->name, y->name) && x->type == y->type && x->null_branch == y->null_branch &&
               x->value_branch == y->value_branch && x->element == y->element &&
               enums_equal(x->enum_schema, y->enum_schema) && bl_avro_shape_equal(x->record, y->record);
}

bool bl_avro_shape_equal(const bl_avro_shape_t *a, const bl_avro_shape_t *b) {
        if (!a || !b)
                return a == b;
        if (strcmp(a->name, b->name) || a->count != b->count)
                return false;
        for (size_t i = 0; i < a->count; i++)
                if (!bl_avro_field_equal(&a->fields[i], &b->fields[i]))
                        return false;
        return true;
}

int bl_avro_shape_index(const bl_avro_shape_t *shape, const char *name) {
        for (size_t i = 0; i < shape->count; i++)
                if (!strcmp(shape->fields[i].name, name))
                        return (int)i;
        return -1;
}

/* ==== the buffer ============================================================ */

void bl_avro_out_reset(bl_avro_out_t *out) {
        out->size = 0;
        out->out_of_memory = false;
}

void bl_avro_out_free(bl_avro_out_t *out) {
        free(out->bytes);
        memset(out, 0, sizeof(*out));
}

bool bl_avro_out_grow(bl_avro_out_t *out, size_t more) {
        size_t capacity = out->capacity ? out->capacity : MIN_CAPACITY;
        unsigned char *bytes;
        if (out->out_of_memory)
                return false;
        if (more <= out->capacity - out->size)
                return true;
        if (more > SIZE_MAX / 2 - out->size) { /* no doubling would get there */
                out->out_of_memory = true;
                return false;
        }
        while (capacity - out->size < more)
                capacity *= 2;
        if (!(bytes = realloc(out->bytes, capacity))) {
                out->out_of_memory = true;
                return false;
        }
        out->bytes = bytes;
        out->capacity = capacity;
        return true;
}
