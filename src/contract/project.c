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

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

/* The position of each binding's field in one writer schema: -1 when it lacks it. */
typedef struct writer_layout_s {
        avro_schema_t writer;            /* the schema cache's, which lives as long as the process */
        int field_index[BINDING_COUNT];
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
        if (!projector->depends_on || !projector->label_keys || !projector->label_values) {
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

/* The layout of @p record's schema: looked up, or made once per schema (LAYOUT_SLOTS kept, oldest replaced). */
static const writer_layout_t *layout_of(bl_projector_t *projector, avro_value_t *record) {
        avro_schema_t writer = avro_value_get_schema(record);
        writer_layout_t *layout;
        for (size_t i = 0; i < LAYOUT_SLOTS; i++)
                if (projector->layouts[i].writer == writer)
                        return &projector->layouts[i];
        layout = &projector->layouts[projector->next_layout++ % LAYOUT_SLOTS];
        layout->writer = writer;
        for (size_t i = 0; i < BINDING_COUNT; i++)
                layout->field_index[i] = avro_schema_record_field_get_index(writer, bindings[i].name);
        return layout;
}

bool bl_projector_apply(bl_projector_t *projector, avro_value_t *record, bl_task_event_t *event,
                        bl_record_error_t *error) {
        read_ctx_t ctx = {projector, NULL, error};
        const writer_layout_t *layout = layout_of(projector, record);
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
