/*
 * avro_out.h: Avro binary written straight from C values into a growable
 * buffer, field by field in the order a compiled record shape says.
 *
 * A shape is an Avro record schema compiled once: for each field, in schema
 * order, its name, the type of its value, the union branches of a
 * nullable field ([null, T] or [T, null]) and the shape of a nested record.
 * The encoders also memoise, in the shape, the name and symbol pointers
 * they matched, so a shape belongs to one thread.
 * The encoders of contract/records_encode.c walk it to check each field they
 * write against the schema, without avro-c's generic values: the value is
 * never built, only its bytes.
 */
#ifndef BL_AVRO_OUT_H
#define BL_AVRO_OUT_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct bl_avro_shape_s bl_avro_shape_t;

#define BL_AVRO_SYMBOL_MEMO 16

/** The encoders' memo of an enum's symbols: pointers looked up (they are static strings) and their indexes. */
typedef struct bl_avro_symbol_memo_s {
        const char *seen[BL_AVRO_SYMBOL_MEMO];
        int indexes[BL_AVRO_SYMBOL_MEMO];
} bl_avro_symbol_memo_t;

/**
 * One field of a record shape. Kept to one cache line: the encoders read
 * the fields of a record in turn for every record they write.
 */
typedef struct bl_avro_field_s {
        const char *name;              /* owned by the shape */
        avro_type_t type;              /* of the value, unions unwrapped; links resolved */
        int null_branch;               /* union index of null, -1 when the field is not a union */
        int value_branch;              /* union index of the value, -1 when not a union */
        avro_type_t element;           /* the items of an array, the values of a map */
        avro_schema_t enum_schema;     /* the enum of the value or of the elements (borrowed from the schema) */
        bl_avro_shape_t *record;       /* the nested record of the value or of the elements, owned */
        /* The encoders' own memo, so that a field costs a pointer compare after its first record: */
        const char *matched_name;      /* a name pointer (a literal) that was found equal to name */
        bl_avro_symbol_memo_t *symbols; /* with enum_schema only, owned */
} bl_avro_field_t;

struct bl_avro_shape_s {
        char *name;                    /* the record's name, without namespace */
        const char *matched_name;      /* the encoders' memo: a name pointer found equal to name */
        size_t count;
        bl_avro_field_t *fields;       /* in schema order */
};

/**
 * Compiles record schema @p record (borrowed; it must outlive the shape for
 * the enums). NULL with errstr naming the field when the schema is not a
 * record or uses what the encoders never write: a union other than a
 * nullable type (except the items of an array, which may be a union of
 * records: element AVRO_UNION, and record a shape whose fields are the
 * branches), or nesting deeper than 8 records. Out of memory likewise.
 */
bl_avro_shape_t *bl_avro_shape_new(avro_schema_t record, char *errstr, size_t errstr_size);
void bl_avro_shape_free(bl_avro_shape_t *shape);

/** @p schema with named-type links followed to their definition. */
avro_schema_t bl_avro_schema_resolved(avro_schema_t schema);

/**
 * A nullable union, [null, T] or [T, null], as *value = T (resolved) and
 * *null_branch = the index of null; any other non-union schema as itself and
 * -1. False for any other union. The direct reader (contract/project.c)
 * takes writer schemas apart with it too.
 */
bool bl_avro_schema_nullable(avro_schema_t schema, avro_schema_t *value, int *null_branch);

/** Whether @p a and @p b write the same bytes for the same values: names, types, branches, nesting. */
bool bl_avro_shape_equal(const bl_avro_shape_t *a, const bl_avro_shape_t *b);

/** Whether fields @p a and @p b have the same name and write the same bytes for the same values. */
bool bl_avro_field_equal(const bl_avro_field_t *a, const bl_avro_field_t *b);

/** Index of field @p name in @p shape, or -1. */
int bl_avro_shape_index(const bl_avro_shape_t *shape, const char *name);

/**
 * An output buffer: size bytes written so far. Start from all zeroes; it
 * grows by doubling and keeps its memory from record to record
 * (bl_avro_out_reset). After a failed allocation out_of_memory stays set,
 * and later writes do nothing, until the next reset.
 */
typedef struct bl_avro_out_s {
        unsigned char *bytes;
        size_t size;
        size_t capacity;
        bool out_of_memory;
} bl_avro_out_t;

void bl_avro_out_reset(bl_avro_out_t *out);
void bl_avro_out_free(bl_avro_out_t *out);

/** Grows the buffer for @p more bytes after size; false (and out_of_memory) when it cannot. */
bool bl_avro_out_grow(bl_avro_out_t *out, size_t more);

/*
 * The primitives are inline: an encoder calls them for every field of every
 * record, and a call into another file cost more than the bytes they write.
 */

/** Room for @p more bytes after size; false (and out_of_memory) when it cannot grow. */
static inline bool bl_avro_out_reserve(bl_avro_out_t *out, size_t more) {
        return (!out->out_of_memory && more <= out->capacity - out->size) || bl_avro_out_grow(out, more);
}

static inline void bl_avro_out_raw(bl_avro_out_t *out, const void *bytes, size_t size) {
        if (!bl_avro_out_reserve(out, size))
                return;
        if (size)
                memcpy(out->bytes + out->size, bytes, size);
        out->size += size;
}

/** A long or an int: zig-zag, then a base-128 varint. */
static inline void bl_avro_out_long(bl_avro_out_t *out, int64_t number) {
        uint64_t zigzag = ((uint64_t)number << 1) ^ (uint64_t)(number >> 63);
        unsigned char *at;
        if (!bl_avro_out_reserve(out, 10))
                return;
        at = out->bytes + out->size;
        while (zigzag > 0x7f) {
                *at++ = (unsigned char)(zigzag | 0x80);
                zigzag >>= 7;
        }
        *at++ = (unsigned char)zigzag;
        out->size = (size_t)(at - out->bytes);
}

/** 8 bytes, little-endian IEEE 754, whatever the host's order. */
static inline void bl_avro_out_double(bl_avro_out_t *out, double number) {
        uint64_t bits;
        if (!bl_avro_out_reserve(out, 8))
                return;
        memcpy(&bits, &number, sizeof(bits));
        for (int i = 0; i < 8; i++)
                out->bytes[out->size++] = (unsigned char)(bits >> (8 * i));
}

static inline void bl_avro_out_boolean(bl_avro_out_t *out, bool flag) {
        if (bl_avro_out_reserve(out, 1))
                out->bytes[out->size++] = flag ? 1 : 0;
}

/** Bytes or a string: the length, then the bytes. */
static inline void bl_avro_out_bytes(bl_avro_out_t *out, const void *bytes, size_t size) {
        bl_avro_out_long(out, (int64_t)size);
        bl_avro_out_raw(out, bytes, size);
}

static inline void bl_avro_out_string(bl_avro_out_t *out, const char *text) {
        bl_avro_out_bytes(out, text, strlen(text));
}

#endif
