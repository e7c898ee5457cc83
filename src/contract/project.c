/*
 * project.c: writer value -> bl_task_event_t, by field name.
 *
 * One static table binds each field of the TaskEvent contract to a member of
 * bl_task_event_t and says how to read it. At start-up the projector checks
 * the table against the newest reader schema in both directions (every
 * reader field bound, every binding present in the reader) and turns the
 * reader's defaults into a template event. Projecting a record then starts
 * from that template and overwrites each field the writer has, applying the
 * Avro resolution rules a compatible writer can need: union branches
 * (a null branch is "absent"), int -> long -> double promotions, bytes read
 * as string, enum symbols matched by name.
 *
 * Whether a writer schema is compatible at all is decided before, once per
 * schema id, by contract/compat.c; the checks here are the last line of
 * defence and report contract.incompatible. Not thread-safe: one projector
 * per decoder.
 */
#include "contract/project.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contract/avro_bounds.h"
#include "contract/avro_out.h"

typedef enum {
        K_STRING,        /* "string" */
        K_OPT_STRING,    /* ["null", "string"] or "string" */
        K_TIMESTAMP,     /* long */
        K_OPT_TIMESTAMP, /* ["null", long] */
        K_OPT_INT,       /* ["null", "int"] */
        K_OPT_DOUBLE,    /* ["null", "double"] */
        K_EVENT_TYPE,    /* enum EventType */
        K_DEPENDS_ON,    /* array of string */
        K_LABELS,        /* map of string */
        K_OPT_BYTES,     /* ["null", "bytes"] */
        K_OPT_ERROR,     /* ["null", TaskError] */
} kind_t;

#define NO_FLAG ((size_t)-1)
#define MEMBER(name) offsetof(bl_task_event_t, name)

typedef struct binding_s {
        const char *name;
        kind_t kind;
        size_t offset;      /* of the value in bl_task_event_t */
        size_t has_offset;  /* of its has_ flag, or NO_FLAG */
} binding_t;

static const binding_t bindings[] = {
        {"event_id", K_STRING, MEMBER(event_id), NO_FLAG},
        {"task_id", K_STRING, MEMBER(task_id), NO_FLAG},
        {"event_type", K_EVENT_TYPE, MEMBER(event_type), NO_FLAG},
        {"occurred_at", K_TIMESTAMP, MEMBER(occurred_at_ms), NO_FLAG},
        {"producer", K_STRING, MEMBER(producer), NO_FLAG},
        {"actor", K_OPT_STRING, MEMBER(actor), NO_FLAG},
        {"reason", K_OPT_STRING, MEMBER(reason), NO_FLAG},
        {"tenant", K_OPT_STRING, MEMBER(tenant), NO_FLAG},
        {"sla_class", K_OPT_STRING, MEMBER(sla_class), NO_FLAG},
        {"task_type", K_OPT_STRING, MEMBER(task_type), NO_FLAG},
        {"domain", K_OPT_STRING, MEMBER(domain), NO_FLAG},
        {"business_value", K_OPT_DOUBLE, MEMBER(business_value), MEMBER(has_business_value)},
        {"risk", K_OPT_DOUBLE, MEMBER(risk), MEMBER(has_risk)},
        {"deadline", K_OPT_TIMESTAMP, MEMBER(deadline_ms), MEMBER(has_deadline)},
        {"not_before", K_OPT_TIMESTAMP, MEMBER(not_before_ms), MEMBER(has_not_before)},
        {"data_ready_at", K_OPT_TIMESTAMP, MEMBER(data_ready_at_ms), MEMBER(has_data_ready_at)},
        {"depends_on", K_DEPENDS_ON, MEMBER(depends_on), NO_FLAG},
        {"max_attempts", K_OPT_INT, MEMBER(max_attempts), MEMBER(has_max_attempts)},
        {"labels", K_LABELS, MEMBER(label_keys), NO_FLAG},
        {"payload", K_OPT_BYTES, MEMBER(payload), MEMBER(has_payload)},
        {"attempt", K_OPT_INT, MEMBER(attempt), MEMBER(has_attempt)},
        {"dispatch_id", K_OPT_STRING, MEMBER(dispatch_id), NO_FLAG},
        {"error", K_OPT_ERROR, MEMBER(error_code), MEMBER(has_error)},
};
#define BINDING_COUNT (sizeof(bindings) / sizeof(bindings[0]))

#define LAYOUT_SLOTS 8

/* A string in a record's bytes. */
typedef struct bl_key_ref_s {
        const unsigned char *bytes;
        size_t size;
} bl_key_ref_t;

/* One writer field as the direct reader takes it (see "reading bytes" below). */
typedef struct direct_field_s {
        int binding;              /* index into bindings, or -1: skipped */
        avro_schema_t schema;     /* the value's schema, a union unwrapped; for a skipped field, the field's */
        int null_branch;          /* union index of null, -1 when the field is not a union */
        int error_fields[3];      /* K_OPT_ERROR: positions of code, message and retryable in TaskError */
} direct_field_t;

/* The position of each binding's field in one writer schema: -1 when it lacks it. */
typedef struct writer_layout_s {
        avro_schema_t writer;            /* the schema cache's, which lives as long as the process */
        int field_index[BINDING_COUNT];
        int missing_required;            /* a required binding the writer lacks, or -1 */
        bool direct;                     /* every field has a shape the direct reader knows */
        direct_field_t *fields;          /* the writer's, in its order, when direct */
        size_t field_count;
} writer_layout_t;

struct bl_projector_s {
        bl_projection_limits_t limits;
        bl_task_event_t defaults;        /* the reader's defaults; strings owned below */
        char *default_strings[BINDING_COUNT];
        bool required[BINDING_COUNT];    /* no default: the writer must have it */

        /* Scratch for the current record. */
        const char **depends_on;
        const char **label_keys;
        const char **label_values;
        char **copies;                   /* strings read from bytes, freed per record */
        size_t copy_count, copy_capacity;
        bl_key_ref_t *key_refs;          /* the direct reader's: a map's keys in the bytes (labels_max of them) */
        char *text;                      /* the direct reader's: NUL-terminated copies of a record's strings */
        size_t text_size, text_capacity;

        /* Where each binding's field is in the writer schemas seen last, so
         * that a record's fields are found by index, not by a name search. */
        writer_layout_t layouts[LAYOUT_SLOTS];
        size_t next_layout;              /* the slot a new writer schema takes */
};

/* ---- start-up: check the table against the reader ----------------------- */

static const json_t *reader_field(const json_t *reader_schema, const char *name) {
        const json_t *fields = json_object_get(reader_schema, "fields");
        for (size_t i = 0; i < json_array_size(fields); i++) {
                const json_t *field = json_array_get(fields, i);
                if (!strcmp(json_string_value(json_object_get(field, "name")) ?: "", name))
                        return field;
        }
        return NULL;
}

static const binding_t *binding_named(const char *name) {
        for (size_t i = 0; i < BINDING_COUNT; i++)
                if (!strcmp(bindings[i].name, name))
                        return &bindings[i];
        return NULL;
}

/* A reader default, turned into the template's value for binding @p b. */
static bool set_default(bl_projector_t *projector, size_t index, const json_t *value, char *errstr,
                        size_t errstr_size) {
        const binding_t *b = &bindings[index];
        char *member = (char *)&projector->defaults + b->offset;
        if (json_is_null(value))
                return true; /* absent: NULL pointers and false flags, as calloc left them */
        if ((b->kind == K_STRING || b->kind == K_OPT_STRING) && json_is_string(value)) {
                projector->default_strings[index] = strdup(json_string_value(value));
                *(const char **)member = projector->default_strings[index];
                return projector->default_strings[index] != NULL;
        }
        if ((b->kind == K_DEPENDS_ON && json_is_array(value) && json_array_size(value) == 0) ||
            (b->kind == K_LABELS && json_is_object(value) && json_object_size(value) == 0))
                return true;
        bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                   "TaskEvent field %s: backlogd supports only null, empty or string defaults here", b->name);
        return false;
}

static bool check_reader(bl_projector_t *projector, const json_t *reader_schema, char *errstr, size_t errstr_size) {
        const json_t *fields = json_object_get(reader_schema, "fields");
        if (!json_is_array(fields)) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "the TaskEvent reader schema is not a record");
                return false;
        }
        for (size_t i = 0; i < json_array_size(fields); i++) {
                const char *name = json_string_value(json_object_get(json_array_get(fields, i), "name"));
                if (!name || !binding_named(name)) {
                        bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                   "the newest TaskEvent contract has field %s, which this backlogd does not know",
                                   name ? name : "(unnamed)");
                        return false;
                }
        }
        for (size_t i = 0; i < BINDING_COUNT; i++) {
                const json_t *field = reader_field(reader_schema, bindings[i].name);
                const json_t *default_value;
                if (!field) {
                        bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                   "the newest TaskEvent contract lacks field %s, which backlogd needs",
                                   bindings[i].name);
                        return false;
                }
                default_value = json_object_get(field, "default");
                projector->required[i] = default_value == NULL;
                if (default_value && !set_default(projector, i, default_value, errstr, errstr_size))
                        return false;
        }
        return true;
}

void bl_projector_destroy(bl_projector_t *projector) {
        if (!projector)
                return;
        for (size_t i = 0; i < BINDING_COUNT; i++)
                free(projector->default_strings[i]);
        for (size_t i = 0; i < projector->copy_count; i++)
                free(projector->copies[i]);
        free(projector->copies);
        free(projector->text);
        free(projector->key_refs);
        for (size_t i = 0; i < LAYOUT_SLOTS; i++)
                free(projector->layouts[i].fields);
        free(projector->depends_on);
        free(projector->label_keys);
        free(projector->label_values);
        free(projector);
}

bl_projector_t *bl_projector_new(const json_t *reader_schema, const bl_projection_limits_t *limits, char *errstr,
                                 size_t errstr_size) {
        bl_projector_t *projector = calloc(1, sizeof(*projector));
        if (!projector)
                return NULL;
        projector->limits = *limits;
        projector->depends_on = calloc(limits->depends_on_max + 1, sizeof(char *));
        projector->label_keys = calloc(limits->labels_max + 1, sizeof(char *));
        projector->label_values = calloc(limits->labels_max + 1, sizeof(char *));
        projector->key_refs = calloc(limits->labels_max + 1, sizeof(*projector->key_refs));
        if (!projector->depends_on || !projector->label_keys || !projector->label_values || !projector->key_refs) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                goto fail;
        }
        if (!check_reader(projector, reader_schema, errstr, errstr_size))
                goto fail;
        return projector;
fail:
        bl_projector_destroy(projector);
        return NULL;
}

/* ---- reading writer values ---------------------------------------------- */

typedef struct read_ctx_s {
        bl_projector_t *projector;
        const char *field; /* for messages */
        bl_record_error_t *error;
} read_ctx_t;

static bool incompatible(read_ctx_t *ctx, const char *what) {
        return bl_record_error_set(ctx->error, BL_REASON_CONTRACT_INCOMPATIBLE, "%s: %s", ctx->field, what);
}

/* Resolves a union to its branch; false when the value is null (absent). */
static bool unwrap(avro_value_t *value) {
        if (avro_value_get_type(value) == AVRO_UNION) {
                avro_value_t branch = {0};
                avro_value_get_current_branch(value, &branch);
                *value = branch;
        }
        return avro_value_get_type(value) != AVRO_NULL;
}

static bool keep_copy(bl_projector_t *projector, char *copy) {
        if (projector->copy_count == projector->copy_capacity) {
                size_t capacity = projector->copy_capacity ? projector->copy_capacity * 2 : 4;
                char **copies = realloc(projector->copies, capacity * sizeof(*copies));
                if (!copies)
                        return false;
                projector->copies = copies;
                projector->copy_capacity = capacity;
        }
        projector->copies[projector->copy_count++] = copy;
        return true;
}

static bool read_string(read_ctx_t *ctx, avro_value_t *value, const char **out) {
        const char *text = NULL;
        size_t size = 0;
        if (avro_value_get_type(value) == AVRO_BYTES) { /* bytes -> string promotion */
                const void *bytes = NULL;
                char *copy;
                avro_value_get_bytes(value, &bytes, &size);
                if (memchr(bytes, 0, size))
                        return bl_record_error_set(ctx->error, BL_REASON_CONTRACT_VIOLATION,
                                                   "%s: contains a NUL byte", ctx->field);
                copy = malloc(size + 1);
                if (!copy || !keep_copy(ctx->projector, copy)) {
                        free(copy);
                        return bl_record_error_transient(ctx->error, "out of memory");
                }
                memcpy(copy, bytes, size);
                copy[size] = '\0';
                *out = copy;
                return true;
        }
        if (avro_value_get_type(value) != AVRO_STRING)
                return incompatible(ctx, "expected a string");
        avro_value_get_string(value, &text, &size);
        if (size > 0 && memchr(text, 0, size - 1))
                return bl_record_error_set(ctx->error, BL_REASON_CONTRACT_VIOLATION, "%s: contains a NUL byte",
                                           ctx->field);
        *out = text;
        return true;
}

static bool read_long(read_ctx_t *ctx, avro_value_t *value, int64_t *out) {
        int32_t small = 0;
        switch (avro_value_get_type(value)) {
        case AVRO_INT32: avro_value_get_int(value, &small); *out = small; return true;
        case AVRO_INT64: avro_value_get_long(value, out); return true;
        default: return incompatible(ctx, "expected an int or a long");
        }
}

static bool read_double(read_ctx_t *ctx, avro_value_t *value, double *out) {
        int64_t whole;
        float single = 0;
        switch (avro_value_get_type(value)) {
        case AVRO_DOUBLE: avro_value_get_double(value, out); return true;
        case AVRO_FLOAT: avro_value_get_float(value, &single); *out = single; return true;
        default:
                if (!read_long(ctx, value, &whole))
                        return false;
                *out = (double)whole;
                return true;
        }
}

static bool read_event_type(read_ctx_t *ctx, avro_value_t *value, bl_event_type_t *out) {
        int index = 0, type;
        const char *symbol;
        if (avro_value_get_type(value) != AVRO_ENUM)
                return incompatible(ctx, "expected the EventType enum");
        avro_value_get_enum(value, &index);
        symbol = avro_schema_enum_get(avro_value_get_schema(value), index);
        type = symbol ? bl_event_type_parse(symbol) : -1;
        if (type < 0)
                return incompatible(ctx, "symbol unknown to the reader");
        *out = (bl_event_type_t)type;
        return true;
}

static bool read_depends_on(read_ctx_t *ctx, avro_value_t *value, bl_task_event_t *event) {
        size_t count = 0;
        if (avro_value_get_type(value) != AVRO_ARRAY)
                return incompatible(ctx, "expected an array");
        avro_value_get_size(value, &count);
        if (count > ctx->projector->limits.depends_on_max)
                return bl_record_error_set(ctx->error, BL_REASON_CONTRACT_VIOLATION,
                                           "depends_on: %zu entries, the limit is %zu", count,
                                           ctx->projector->limits.depends_on_max);
        for (size_t i = 0; i < count; i++) {
                avro_value_t item;
                avro_value_get_by_index(value, i, &item, NULL);
                if (!unwrap(&item) || !read_string(ctx, &item, &ctx->projector->depends_on[i]))
                        return ctx->error->reason ? false : incompatible(ctx, "null entry");
        }
        event->depends_on = ctx->projector->depends_on;
        event->depends_on_count = count;
        return true;
}

static bool read_labels(read_ctx_t *ctx, avro_value_t *value, bl_task_event_t *event) {
        size_t count = 0;
        if (avro_value_get_type(value) != AVRO_MAP)
                return incompatible(ctx, "expected a map");
        avro_value_get_size(value, &count);
        if (count > ctx->projector->limits.labels_max)
                return bl_record_error_set(ctx->error, BL_REASON_CONTRACT_VIOLATION,
                                           "labels: %zu entries, the limit is %zu", count,
                                           ctx->projector->limits.labels_max);
        for (size_t i = 0; i < count; i++) {
                avro_value_t item;
                avro_value_get_by_index(value, i, &item, &ctx->projector->label_keys[i]);
                if (!unwrap(&item) || !read_string(ctx, &item, &ctx->projector->label_values[i]))
                        return ctx->error->reason ? false : incompatible(ctx, "null value");
        }
        event->label_keys = ctx->projector->label_keys;
        event->label_values = ctx->projector->label_values;
        event->label_count = count;
        return true;
}

static bool read_error(read_ctx_t *ctx, avro_value_t *value, bl_task_event_t *event) {
        avro_value_t code, message, retryable;
        int flag = 0;
        if (avro_value_get_type(value) != AVRO_RECORD || avro_value_get_by_name(value, "code", &code, NULL) ||
            avro_value_get_by_name(value, "message", &message, NULL) ||
            avro_value_get_by_name(value, "retryable", &retryable, NULL) ||
            avro_value_get_type(&retryable) != AVRO_BOOLEAN)
                return incompatible(ctx, "expected the TaskError record");
        ctx->field = "error.code";
        if (!read_string(ctx, &code, &event->error_code))
                return false;
        ctx->field = "error.message";
        if (!read_string(ctx, &message, &event->error_message))
                return false;
        avro_value_get_boolean(&retryable, &flag);
        event->error_retryable = flag != 0;
        return true;
}

/* Bytes, or a string read as bytes (string -> bytes promotion): its text without the NUL. */
static bool read_bytes(read_ctx_t *ctx, avro_value_t *value, bl_task_event_t *event) {
        const char *text;
        size_t size;
        if (avro_value_get_type(value) == AVRO_STRING) {
                if (avro_value_get_string(value, &text, &size) || !text)
                        return incompatible(ctx, "unreadable string");
                event->payload = text;
                event->payload_size = size > 0 ? size - 1 : 0;
                return true;
        }
        if (avro_value_get_type(value) != AVRO_BYTES ||
            avro_value_get_bytes(value, &event->payload, &event->payload_size))
                return incompatible(ctx, "expected bytes");
        return true;
}

/* Reads one present, non-null writer value into the event per its binding. */
static bool read_bound(read_ctx_t *ctx, const binding_t *b, avro_value_t *value, bl_task_event_t *event) {
        char *member = (char *)event + b->offset;
        int64_t number;
        switch (b->kind) {
        case K_STRING:
        case K_OPT_STRING: return read_string(ctx, value, (const char **)member);
        case K_TIMESTAMP:
        case K_OPT_TIMESTAMP: return read_long(ctx, value, (int64_t *)member);
        case K_OPT_INT:
                if (!read_long(ctx, value, &number))
                        return false;
                if (number < INT32_MIN || number > INT32_MAX)
                        return incompatible(ctx, "value does not fit an int");
                *(int32_t *)member = (int32_t)number;
                return true;
        case K_OPT_DOUBLE: return read_double(ctx, value, (double *)member);
        case K_EVENT_TYPE: return read_event_type(ctx, value, (bl_event_type_t *)member);
        case K_DEPENDS_ON: return read_depends_on(ctx, value, event);
        case K_LABELS: return read_labels(ctx, value, event);
        case K_OPT_BYTES: return read_bytes(ctx, value, event);
        case K_OPT_ERROR: return read_error(ctx, value, event);
        }
        return incompatible(ctx, "unsupported field");
}

static bool plan_direct(writer_layout_t *layout);

/* The layout of @p record's schema: looked up, or made once per schema (LAYOUT_SLOTS kept, oldest replaced). */
static const writer_layout_t *layout_for(bl_projector_t *projector, avro_schema_t writer) {
        writer_layout_t *layout;
        for (size_t i = 0; i < LAYOUT_SLOTS; i++)
                if (projector->layouts[i].writer == writer)
                        return &projector->layouts[i];
        layout = &projector->layouts[projector->next_layout++ % LAYOUT_SLOTS];
        free(layout->fields);
        memset(layout, 0, sizeof(*layout));
        layout->writer = writer;
        layout->missing_required = -1;
        for (size_t i = 0; i < BINDING_COUNT; i++) {
                layout->field_index[i] = avro_schema_record_field_get_index(writer, bindings[i].name);
                if (layout->field_index[i] < 0 && projector->required[i] && layout->missing_required < 0)
                        layout->missing_required = (int)i;
        }
        plan_direct(layout);
        return layout;
}

bool bl_projector_apply(bl_projector_t *projector, avro_value_t *record, bl_task_event_t *event,
                        bl_record_error_t *error) {
        read_ctx_t ctx = {projector, NULL, error};
        const writer_layout_t *layout = layout_for(projector, avro_value_get_schema(record));
        for (size_t i = 0; i < projector->copy_count; i++)
                free(projector->copies[i]);
        projector->copy_count = 0;
        *event = projector->defaults;
        for (size_t i = 0; i < BINDING_COUNT; i++) {
                const binding_t *b = &bindings[i];
                avro_value_t value;
                ctx.field = b->name;
                if (layout->field_index[i] < 0 ||
                    avro_value_get_by_index(record, (size_t)layout->field_index[i], &value, NULL)) {
                        if (projector->required[i])
                                return incompatible(&ctx, "required, and the writer has no such field");
                        continue;
                }
                if (!unwrap(&value)) {
                        if (projector->required[i])
                                return incompatible(&ctx, "required, and the writer wrote null");
                        continue;
                }
                if (!read_bound(&ctx, b, &value, event))
                        return false;
                if (b->has_offset != NO_FLAG)
                        *(bool *)((char *)event + b->has_offset) = true;
        }
        return true;
}

/* ---- reading bytes: the direct path ----------------------------------------- *
 *
 * When every field of a writer schema has a shape it knows, a record is read
 * straight from its Avro bytes into the event: no generic value is built, and
 * a record's strings are copied into one buffer, NUL-terminated. It keeps the
 * generic path's rules and messages (a differential test in test_decoder holds
 * it to them); a writer schema with any other shape, or a bound field of a
 * type the generic path would refuse, goes the generic way, which says why.
 *
 * The read comes before the bounds walk (contract/avro_bounds.c) and makes
 * every check the walk makes: varints no longer than their type (ints and
 * enum indexes 5 bytes), booleans 0 or 1, enum and union indexes in range,
 * block counts capped by the datum's size, no NUL in a map key, no byte left
 * over; the planner leaves to the walk the writers it could nest deeper than
 * BL_AVRO_MAX_DEPTH (recursive ones included). So a record it reads to the
 * end is one the walk accepts, and the decoder skips the walk. On anything
 * else the decoder walks the bytes, and the walk's verdict comes first, as
 * when it ran first.
 */

static bool is_text(avro_schema_t schema) {
        return avro_typeof(schema) == AVRO_STRING || avro_typeof(schema) == AVRO_BYTES;
}

static bool is_number(avro_schema_t schema) {
        return avro_typeof(schema) == AVRO_INT32 || avro_typeof(schema) == AVRO_INT64;
}

/* Strings or bytes, or a nullable union of them (array items, map values). */
static bool is_text_element(avro_schema_t schema) {
        avro_schema_t value;
        int null_branch;
        return bl_avro_schema_nullable(schema, &value, &null_branch) && is_text(value);
}

/* TaskError with code and message as strings or bytes and retryable a boolean: where each is. */
static bool plan_error(avro_schema_t record, direct_field_t *field) {
        static const char *const names[] = {"code", "message", "retryable"};
        for (int i = 0; i < 3; i++) {
                avro_schema_t value;
                field->error_fields[i] = avro_schema_record_field_get_index(record, names[i]);
                if (field->error_fields[i] < 0)
                        return false;
                value = bl_avro_schema_resolved(avro_schema_record_field_get_by_index(record, field->error_fields[i]));
                if (i < 2 ? !is_text(value) : avro_typeof(value) != AVRO_BOOLEAN)
                        return false;
        }
        return true;
}

/* Whether the direct reader reads binding @p kind from @p value exactly as the generic path would. */
static bool plan_value(kind_t kind, avro_schema_t value, direct_field_t *field) {
        switch (kind) {
        case K_STRING:
        case K_OPT_STRING:
        case K_OPT_BYTES: return is_text(value);
        case K_TIMESTAMP:
        case K_OPT_TIMESTAMP:
        case K_OPT_INT: return is_number(value);
        case K_OPT_DOUBLE:
                return is_number(value) || avro_typeof(value) == AVRO_DOUBLE || avro_typeof(value) == AVRO_FLOAT;
        case K_EVENT_TYPE: return avro_typeof(value) == AVRO_ENUM;
        case K_DEPENDS_ON:
                return avro_typeof(value) == AVRO_ARRAY && is_text_element(avro_schema_array_items(value));
        case K_LABELS: return avro_typeof(value) == AVRO_MAP && is_text_element(avro_schema_map_values(value));
        case K_OPT_ERROR: return avro_typeof(value) == AVRO_RECORD && plan_error(value, field);
        }
        return false;
}

/* Plans the direct read of @p layout's writer; layout->direct says whether it can be. */
/*
 * How deep the bounds walk goes in @p schema at most, counted as it counts
 * (a record's fields, a union's branch, an array's or map's items and a
 * named-type link are each one deeper); INT_MAX for a recursive schema.
 */
static int walk_depth(avro_schema_t schema, int depth) {
        int deepest = depth;
        if (depth > BL_AVRO_MAX_DEPTH)
                return depth;
        switch (avro_typeof(schema)) {
        case AVRO_LINK: return INT_MAX; /* a named type used again inside itself, or elsewhere: left to the walk */
        case AVRO_RECORD:
                for (size_t i = 0; i < avro_schema_record_size(schema); i++) {
                        int field = walk_depth(avro_schema_record_field_get_by_index(schema, (int)i), depth + 1);
                        deepest = field > deepest ? field : deepest;
                }
                return deepest;
        case AVRO_UNION:
                for (size_t i = 0; i < avro_schema_union_size(schema); i++) {
                        int branch = walk_depth(avro_schema_union_branch(schema, (int)i), depth + 1);
                        deepest = branch > deepest ? branch : deepest;
                }
                return deepest;
        case AVRO_ARRAY: return walk_depth(avro_schema_array_items(schema), depth + 1);
        case AVRO_MAP: return walk_depth(avro_schema_map_values(schema), depth + 1);
        default: return depth;
        }
}

static bool plan_direct(writer_layout_t *layout) {
        size_t count = avro_schema_record_size(layout->writer);
        if (avro_typeof(layout->writer) != AVRO_RECORD || walk_depth(layout->writer, 0) > BL_AVRO_MAX_DEPTH ||
            !(layout->fields = calloc(count + 1, sizeof(direct_field_t))))
                return false;
        layout->field_count = count;
        for (size_t i = 0; i < count; i++) {
                direct_field_t *field = &layout->fields[i];
                const binding_t *b = binding_named(avro_schema_record_field_name(layout->writer, (int)i));
                avro_schema_t schema = avro_schema_record_field_get_by_index(layout->writer, (int)i);
                field->binding = b ? (int)(b - bindings) : -1;
                field->schema = bl_avro_schema_resolved(schema);
                field->null_branch = -1;
                if (b && (!bl_avro_schema_nullable(schema, &field->schema, &field->null_branch) ||
                          !plan_value(b->kind, field->schema, field)))
                        return false;
        }
        return layout->direct = true;
}

typedef struct cursor_s {
        const unsigned char *at, *end;
        size_t datum_size; /* the whole record's: caps the items of an array or map, as the walk caps them */
        bl_projector_t *projector;
        const char *field;   /* for messages */
        bl_record_error_t *error;
        bool generic;        /* leave this record to the generic path (see get_entries) */
} cursor_t;

static bool malformed(cursor_t *c) {
        bl_record_error_set(c->error, BL_REASON_DECODE_AVRO, "%s: malformed or truncated value", c->field);
        return false; /* here, so that the compiler sees it */
}

static bool direct_incompatible(cursor_t *c, const char *what) {
        return bl_record_error_set(c->error, BL_REASON_CONTRACT_INCOMPATIBLE, "%s: %s", c->field, what);
}

/* A zig-zag varint of at most @p max_bytes: 10 for a long, 5 for an int or an enum index, as the walk allows. */
static bool get_varint(cursor_t *c, int max_bytes, int64_t *out) {
        uint64_t value = 0;
        for (int i = 0, shift = 0; i < max_bytes; i++, shift += 7) {
                if (c->at >= c->end)
                        return malformed(c);
                value |= (uint64_t)(*c->at & 0x7f) << shift;
                if (!(*c->at++ & 0x80)) {
                        *out = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
                        return true;
                }
        }
        return malformed(c);
}

static bool get_long(cursor_t *c, int64_t *out) {
        return get_varint(c, 10, out);
}

/* An int or a long as @p schema says: an int's varint must fit 32 bits, as avro-c insists. */
static bool get_number(cursor_t *c, avro_schema_t schema, int64_t *out) {
        if (!get_varint(c, avro_typeof(schema) == AVRO_INT32 ? 5 : 10, out))
                return false;
        if (avro_typeof(schema) == AVRO_INT32 && (*out < INT32_MIN || *out > INT32_MAX))
                return bl_record_error_set(c->error, BL_REASON_DECODE_AVRO, "%s: varint out of range for an int",
                                           c->field);
        return true;
}

static bool get_raw(cursor_t *c, size_t size, const unsigned char **bytes) {
        if ((size_t)(c->end - c->at) < size)
                return malformed(c);
        *bytes = c->at;
        c->at += size;
        return true;
}

static bool get_boolean(cursor_t *c, bool *out) {
        const unsigned char *byte;
        if (!get_raw(c, 1, &byte))
                return false;
        if (*byte > 1)
                return malformed(c);
        *out = *byte != 0;
        return true;
}

/* An enum's index, in range for @p schema. */
static bool get_enum_index(cursor_t *c, avro_schema_t schema, int64_t *index) {
        if (!get_varint(c, 5, index))
                return false;
        if (*index < 0 || *index >= avro_schema_enum_number_of_symbols(schema))
                return malformed(c);
        return true;
}

static bool get_bytes(cursor_t *c, const unsigned char **bytes, size_t *size) {
        int64_t length;
        if (!get_long(c, &length))
                return false;
        if (length < 0)
                return malformed(c);
        *size = (size_t)length;
        return get_raw(c, *size, bytes);
}

/* A string or bytes as a NUL-terminated copy in the record's text buffer (room made for all of them at the start). */
static bool get_text(cursor_t *c, const char **out) {
        bl_projector_t *projector = c->projector;
        const unsigned char *bytes;
        size_t size;
        if (!get_bytes(c, &bytes, &size))
                return false;
        if (memchr(bytes, 0, size))
                return bl_record_error_set(c->error, BL_REASON_CONTRACT_VIOLATION, "%s: contains a NUL byte",
                                           c->field);
        if (projector->text_capacity - projector->text_size < size + 1)
                return malformed(c); /* cannot happen: a string takes at least its length byte in the record */
        memcpy(projector->text + projector->text_size, bytes, size);
        projector->text[projector->text_size + size] = '\0';
        *out = projector->text + projector->text_size;
        projector->text_size += size + 1;
        return true;
}

static bool get_double(cursor_t *c, avro_schema_t schema, double *out) {
        const unsigned char *bytes = NULL;
        uint64_t bits = 0;
        int64_t whole;
        if (is_number(schema)) {
                if (!get_number(c, schema, &whole))
                        return false;
                *out = (double)whole;
                return true;
        }
        if (avro_typeof(schema) == AVRO_FLOAT) {
                uint32_t single_bits = 0;
                float single;
                if (!get_raw(c, 4, &bytes))
                        return false;
                for (int i = 0; i < 4; i++)
                        single_bits |= (uint32_t)bytes[i] << (8 * i);
                memcpy(&single, &single_bits, sizeof(single));
                *out = single;
                return true;
        }
        if (!get_raw(c, 8, &bytes))
                return false;
        for (int i = 0; i < 8; i++)
                bits |= (uint64_t)bytes[i] << (8 * i);
        memcpy(out, &bits, sizeof(*out));
        return true;
}

static bool skip(cursor_t *c, avro_schema_t schema, int depth);

/* Array or map blocks: each item through @p each (or skipped), a map's key first; the count in *total. */
typedef bool (*element_fn)(cursor_t *c, avro_schema_t element, const char *key, size_t index);

static bool walk_blocks(cursor_t *c, avro_schema_t element, bool map, element_fn each, size_t *total, int depth) {
        int64_t count, block_bytes;
        const unsigned char *key_bytes;
        const char *key = NULL;
        *total = 0;
        for (;;) {
                if (!get_long(c, &count))
                        return false;
                if (count == 0)
                        return true;
                if (count < 0) { /* the block's byte size follows; items are read one by one all the same,
                                    as avro-c and the bounds walk read them */
                        if (count == INT64_MIN)
                                return malformed(c);
                        count = -count;
                        if (!get_long(c, &block_bytes) || block_bytes < 0)
                                return malformed(c);
                }
                if ((uint64_t)count > c->datum_size - *total) /* items of no bytes (null) cannot spin */
                        return malformed(c);
                for (int64_t i = 0; i < count; i++, (*total)++) {
                        size_t key_size;
                        if (map && !(each ? get_text(c, &key) : get_bytes(c, &key_bytes, &key_size)))
                                return false;
                        if (map && !each && memchr(key_bytes, 0, key_size))
                                return malformed(c); /* the walk refuses a NUL in any map key */
                        if (each ? !each(c, element, key, *total) : !skip(c, element, depth + 1))
                                return false;
                }
        }
}

static bool skip(cursor_t *c, avro_schema_t schema, int depth) {
        const unsigned char *ignored;
        int64_t number;
        size_t size;
        bool flag;
        schema = bl_avro_schema_resolved(schema);
        if (depth > 32)
                return malformed(c);
        switch (avro_typeof(schema)) {
        case AVRO_NULL: return true;
        case AVRO_BOOLEAN: return get_boolean(c, &flag);
        case AVRO_INT32:
        case AVRO_INT64: return get_number(c, schema, &number);
        case AVRO_ENUM: return get_enum_index(c, schema, &number);
        case AVRO_FLOAT: return get_raw(c, 4, &ignored);
        case AVRO_DOUBLE: return get_raw(c, 8, &ignored);
        case AVRO_STRING:
        case AVRO_BYTES: return get_bytes(c, &ignored, &size);
        case AVRO_FIXED: return get_raw(c, (size_t)avro_schema_fixed_size(schema), &ignored);
        case AVRO_UNION:
                if (!get_long(c, &number))
                        return false;
                if (number < 0 || (size_t)number >= avro_schema_union_size(schema))
                        return malformed(c);
                return skip(c, avro_schema_union_branch(schema, (int)number), depth + 1);
        case AVRO_RECORD:
                for (size_t i = 0; i < avro_schema_record_size(schema); i++)
                        if (!skip(c, avro_schema_record_field_get_by_index(schema, (int)i), depth + 1))
                                return false;
                return true;
        case AVRO_ARRAY: return walk_blocks(c, avro_schema_array_items(schema), false, NULL, &size, depth);
        case AVRO_MAP: return walk_blocks(c, avro_schema_map_values(schema), true, NULL, &size, depth);
        default: return malformed(c);
        }
}

/* A union's branch: true with *present when it holds a value, false on bad bytes. */
static bool get_branch(cursor_t *c, int null_branch, bool *present) {
        int64_t branch;
        *present = true;
        if (null_branch < 0)
                return true;
        if (!get_long(c, &branch))
                return false;
        if (branch != 0 && branch != 1)
                return malformed(c);
        *present = branch != null_branch;
        return true;
}

/* An array item or map value: a string or bytes, maybe nullable. */
static bool get_element_text(cursor_t *c, avro_schema_t element, const char **out, const char *null_message) {
        avro_schema_t value;
        int null_branch;
        bool present;
        bl_avro_schema_nullable(element, &value, &null_branch);
        if (!get_branch(c, null_branch, &present))
                return false;
        return present ? get_text(c, out) : direct_incompatible(c, null_message);
}

static bool depends_on_item(cursor_t *c, avro_schema_t element, const char *key, size_t index) {
        (void)key;
        return get_element_text(c, element, &c->projector->depends_on[index], "null entry");
}

static bool label_entry(cursor_t *c, avro_schema_t element, const char *key, size_t index) {
        c->projector->label_keys[index] = key;
        return get_element_text(c, element, &c->projector->label_values[index], "null value");
}

/*
 * Whether a map must go the generic way, in one pass over its keys: more than
 * @p limit entries (the limit is on distinct keys, which avro-c counts), or a
 * key that repeats (avro-c keeps its first place and last value, so an
 * earlier value that would be refused, a NUL or a null, may never be seen).
 * The keys are compared in the bytes. The scan is a copy of the cursor; a
 * malformed map is left to the read that follows, which reports it.
 */
static bool map_needs_generic(cursor_t scan, avro_schema_t element, size_t limit) {
        bl_key_ref_t *keys = scan.projector->key_refs; /* room for limit + 1 */
        size_t seen = 0;
        int64_t block, block_bytes;
        while (get_long(&scan, &block) && block != 0) {
                if (block < 0) { /* a negative count is followed by the block's size in bytes */
                        if (block == INT64_MIN)
                                return false;
                        block = -block;
                        if (!get_long(&scan, &block_bytes))
                                return false;
                }
                for (int64_t i = 0; i < block; i++, seen++) {
                        if (seen == limit)
                                return true;
                        if (!get_bytes(&scan, &keys[seen].bytes, &keys[seen].size) || !skip(&scan, element, 1))
                                return false;
                        for (size_t j = 0; j < seen; j++)
                                if (keys[j].size == keys[seen].size &&
                                    !memcmp(keys[j].bytes, keys[seen].bytes, keys[seen].size))
                                        return true;
                }
        }
        return false;
}

/* The entries of an array or map. An array is counted first: its limit is on the whole, and says how many. */
static bool get_entries(cursor_t *c, avro_schema_t schema, bool map, size_t limit, element_fn each, size_t *count) {
        avro_schema_t element = map ? avro_schema_map_values(schema) : avro_schema_array_items(schema);
        cursor_t scan = *c;
        if (map && map_needs_generic(scan, element, limit)) {
                c->generic = true;
                return false;
        }
        if (!map) {
                if (!walk_blocks(&scan, element, false, NULL, count, 0))
                        return false;
                if (*count > limit)
                        return bl_record_error_set(c->error, BL_REASON_CONTRACT_VIOLATION,
                                                   "%s: %zu entries, the limit is %zu", c->field, *count, limit);
        }
        return walk_blocks(c, element, map, each, count, 0);
}

static bool get_error(cursor_t *c, const direct_field_t *field, bl_task_event_t *event) {
        for (size_t i = 0; i < avro_schema_record_size(field->schema); i++) {
                avro_schema_t schema = avro_schema_record_field_get_by_index(field->schema, (int)i);
                bool ok;
                if ((int)i == field->error_fields[0]) {
                        c->field = "error.code";
                        ok = get_text(c, &event->error_code);
                } else if ((int)i == field->error_fields[1]) {
                        c->field = "error.message";
                        ok = get_text(c, &event->error_message);
                } else if ((int)i == field->error_fields[2]) {
                        ok = get_boolean(c, &event->error_retryable);
                } else {
                        ok = skip(c, schema, 1);
                }
                if (!ok)
                        return false;
        }
        return true;
}

static bool get_event_type(cursor_t *c, avro_schema_t schema, bl_event_type_t *out) {
        int64_t index;
        const char *symbol;
        int type;
        if (!get_enum_index(c, schema, &index))
                return false;
        if (!(symbol = avro_schema_enum_get(schema, (int)index)))
                return malformed(c);
        if ((type = bl_event_type_parse(symbol)) < 0)
                return direct_incompatible(c, "symbol unknown to the reader");
        *out = (bl_event_type_t)type;
        return true;
}

static bool get_bound(cursor_t *c, const direct_field_t *field, bl_task_event_t *event) {
        const binding_t *b = &bindings[field->binding];
        char *member = (char *)event + b->offset;
        int64_t number;
        switch (b->kind) {
        case K_STRING:
        case K_OPT_STRING: return get_text(c, (const char **)member);
        case K_TIMESTAMP:
        case K_OPT_TIMESTAMP: return get_number(c, field->schema, (int64_t *)member);
        case K_OPT_INT:
                if (!get_number(c, field->schema, &number))
                        return false;
                if (number < INT32_MIN || number > INT32_MAX)
                        return direct_incompatible(c, "value does not fit an int");
                *(int32_t *)member = (int32_t)number;
                return true;
        case K_OPT_DOUBLE: return get_double(c, field->schema, (double *)member);
        case K_EVENT_TYPE: return get_event_type(c, field->schema, (bl_event_type_t *)member);
        case K_DEPENDS_ON:
                event->depends_on = c->projector->depends_on;
                return get_entries(c, field->schema, false, c->projector->limits.depends_on_max, depends_on_item,
                                   &event->depends_on_count);
        case K_LABELS:
                event->label_keys = c->projector->label_keys;
                event->label_values = c->projector->label_values;
                return get_entries(c, field->schema, true, c->projector->limits.labels_max, label_entry,
                                   &event->label_count);
        case K_OPT_BYTES: {
                const unsigned char *bytes;
                if (!get_bytes(c, &bytes, &event->payload_size))
                        return false;
                event->payload = bytes; /* into the record: the event lives no longer than it */
                return true;
        }
        case K_OPT_ERROR: return get_error(c, field, event);
        }
        return direct_incompatible(c, "unsupported field");
}

/* Makes room for every string of a record of @p size bytes: each takes at least one byte there, plus its NUL. */
static bool reserve_text(bl_projector_t *projector, size_t size) {
        size_t needed = 2 * size + 1;
        projector->text_size = 0;
        if (needed <= projector->text_capacity)
                return true;
        char *text = realloc(projector->text, needed);
        if (!text)
                return false;
        projector->text = text;
        projector->text_capacity = needed;
        return true;
}

bl_projection_result_t bl_projector_read(bl_projector_t *projector, avro_schema_t writer, const void *body,
                                         size_t size, bl_task_event_t *event, bl_record_error_t *error) {
        const writer_layout_t *layout = layout_for(projector, writer);
        cursor_t c = {body, (const unsigned char *)body + size, size, projector, NULL, error};
        if (!layout->direct)
                return BL_PROJECTION_GENERIC;
        if (!reserve_text(projector, size)) {
                bl_record_error_transient(error, "out of memory");
                return BL_PROJECTION_FAILED;
        }
        *event = projector->defaults;
        if (layout->missing_required >= 0) {
                c.field = bindings[layout->missing_required].name;
                direct_incompatible(&c, "required, and the writer has no such field");
                return BL_PROJECTION_FAILED;
        }
        for (size_t i = 0; i < layout->field_count; i++) {
                const direct_field_t *field = &layout->fields[i];
                bool present;
                if (field->binding < 0) {
                        c.field = avro_schema_record_field_name(writer, (int)i);
                        if (!skip(&c, field->schema, 1))
                                return BL_PROJECTION_FAILED;
                        continue;
                }
                c.field = bindings[field->binding].name;
                if (!get_branch(&c, field->null_branch, &present))
                        return BL_PROJECTION_FAILED;
                if (!present) {
                        if (projector->required[field->binding]) {
                                direct_incompatible(&c, "required, and the writer wrote null");
                                return BL_PROJECTION_FAILED;
                        }
                        continue;
                }
                if (!get_bound(&c, field, event)) {
                        if (!c.generic)
                                return BL_PROJECTION_FAILED;
                        int32_t schema_id = error->schema_id; /* the record's, for its DLQ headers */
                        bl_record_error_clear(error);
                        error->schema_id = schema_id;
                        return BL_PROJECTION_GENERIC;
                }
                if (bindings[field->binding].has_offset != NO_FLAG)
                        *(bool *)((char *)event + bindings[field->binding].has_offset) = true;
        }
        if (c.at != c.end) {
                c.field = avro_schema_name(writer);
                malformed(&c); /* bytes left over: the walk, which the decoder runs now, says how many */
                return BL_PROJECTION_FAILED;
        }
        return BL_PROJECTION_DONE;
}
