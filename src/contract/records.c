/*
 * records.c: backlogd's own records read back: Confluent-framed bytes ->
 * Avro generic values -> C structs. (Writing them is
 * contract/records_encode.c.)
 *
 * Decoding: wire header -> writer schema by id -> the expected record name
 * -> bounds walk (no allocation) -> avro_value_read into the writer schema's
 * reusable value -> fields read by name into owned C structs. A union is
 * unwrapped (null is absent), int/long/float/double promote as Avro's
 * resolution rules allow, enums are matched by symbol. A field the writer
 * lacks keeps the default the C struct starts with (bl_item_new's, or
 * zero), which matches the contract's default; a required one is an error.
 *
 * Invariants: nothing decoded points into the cache's values or the input.
 * Every string read, map keys included, is well-formed UTF-8: these records
 * are ours, but a snapshot or a notice that is not would carry its bytes on
 * into the next records we write (contract.violation with the field path).
 * Thread: the caller's; not thread-safe (one schema cache for decoding per
 * thread).
 */
#include "contract/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/avro_bounds.h"
#include "base/text.h"
#include "contract/records_int.h"
#include "contract/records_item.h"
#include "contract/wire.h"

/* ==== decoding ============================================================= */

typedef struct reader_s {
        avro_value_t record;
        const char *path; /* "BacklogItem", "Transition.item", ... for messages */
        bl_record_error_t *error;
} reader_t;

typedef enum { OPTIONAL, REQUIRED } need_t;
typedef enum { FOUND, ABSENT, FAILED } lookup_t;

static bool incompatible(reader_t *r, const char *field, const char *what) {
        return bl_record_error_set(r->error, BL_REASON_CONTRACT_INCOMPATIBLE, "%s.%s: %s", r->path, field, what);
}

static bool out_of_memory(reader_t *r) {
        return bl_record_error_transient(r->error, "out of memory");
}

/* The record owns the strings bl_transition_t, bl_dispatch_t and bl_notice_t declare const. */
static char **owned(const char **slot) {
        return (char **)slot;
}

static void free_owned(const void *pointer) {
        free((void *)pointer);
}

/* Resolves a union to its branch; false when the value is null (absent). */
static bool unwrap(avro_value_t *value) {
        if (avro_value_get_type(value) == AVRO_UNION) {
                avro_value_t branch_value;
                if (avro_value_get_current_branch(value, &branch_value))
                        return false;
                *value = branch_value;
        }
        return avro_value_get_type(value) != AVRO_NULL;
}

/* Field @p name's value, union unwrapped. ABSENT when the writer lacks it or wrote null: FAILED if REQUIRED. */
static lookup_t find(reader_t *r, const char *name, need_t need, avro_value_t *value, bool *present) {
        bool found = avro_value_get_by_name(&r->record, name, value, NULL) == 0 && unwrap(value);
        if (present)
                *present = found;
        if (found)
                return FOUND;
        if (need == REQUIRED) {
                incompatible(r, name, "required, and the writer has no value");
                return FAILED;
        }
        return ABSENT;
}

/* ---- conversions of one found value ----------------------------------------- */

static bool utf8(reader_t *r, const char *name, const char *text, size_t size) {
        size_t bad_offset;
        if (bl_text_utf8_valid(text, size, &bad_offset))
                return true;
        return bl_record_error_set(r->error, BL_REASON_CONTRACT_VIOLATION, "%s.%s: not valid UTF-8 at byte %zu",
                                   r->path, name, bad_offset);
}

/* A UTF-8 string without NUL inside, borrowed from the value. */
static bool as_string(reader_t *r, const char *name, avro_value_t *value, const char **text) {
        size_t size = 0;
        if (avro_value_get_type(value) != AVRO_STRING)
                return incompatible(r, name, "expected a string");
        avro_value_get_string(value, text, &size); /* size counts the terminating NUL */
        if (size > 0 && memchr(*text, 0, size - 1))
                return incompatible(r, name, "contains a NUL byte");
        return utf8(r, name, *text, size > 0 ? size - 1 : 0);
}

/* Replaces *slot with an owned copy of the string. */
static bool as_text(reader_t *r, const char *name, avro_value_t *value, char **slot) {
        const char *text = NULL;
        char *copy;
        if (!as_string(r, name, value, &text))
                return false;
        if (!(copy = strdup(text)))
                return out_of_memory(r);
        free(*slot);
        *slot = copy;
        return true;
}

static bool as_long(reader_t *r, const char *name, avro_value_t *value, int64_t *out) {
        int32_t small = 0;
        switch (avro_value_get_type(value)) {
        case AVRO_INT32: avro_value_get_int(value, &small); *out = small; return true;
        case AVRO_INT64: avro_value_get_long(value, out); return true;
        default: return incompatible(r, name, "expected an int or a long");
        }
}

static bool as_int(reader_t *r, const char *name, avro_value_t *value, int32_t *out) {
        if (avro_value_get_type(value) != AVRO_INT32)
                return incompatible(r, name, "expected an int");
        avro_value_get_int(value, out);
        return true;
}

static bool as_double(reader_t *r, const char *name, avro_value_t *value, double *out) {
        float single = 0;
        int64_t whole;
        switch (avro_value_get_type(value)) {
        case AVRO_DOUBLE: avro_value_get_double(value, out); return true;
        case AVRO_FLOAT: avro_value_get_float(value, &single); *out = single; return true;
        default:
                if (!as_long(r, name, value, &whole))
                        return false;
                *out = (double)whole;
                return true;
        }
}

static bool as_bool(reader_t *r, const char *name, avro_value_t *value, bool *out) {
        int flag = 0;
        if (avro_value_get_type(value) != AVRO_BOOLEAN)
                return incompatible(r, name, "expected a boolean");
        avro_value_get_boolean(value, &flag);
        *out = flag != 0;
        return true;
}

static bool as_symbol(reader_t *r, const char *name, avro_value_t *value, const char **symbol) {
        int index = 0;
        if (avro_value_get_type(value) != AVRO_ENUM)
                return incompatible(r, name, "expected an enum");
        avro_value_get_enum(value, &index);
        *symbol = avro_schema_enum_get(avro_value_get_schema(value), index);
        return *symbol != NULL || incompatible(r, name, "enum index out of range");
}

static bool as_state(reader_t *r, const char *name, avro_value_t *value, bl_state_t *out) {
        const char *symbol;
        int state;
        if (!as_symbol(r, name, value, &symbol))
                return false;
        if ((state = bl_state_parse(symbol)) < 0)
                return incompatible(r, name, "a TaskState symbol this backlogd does not know");
        *out = (bl_state_t)state;
        return true;
}

/* Copies the payload; a 0-byte payload is still one allocated byte, so that present means non-NULL. */
static bool as_bytes(reader_t *r, const char *name, avro_value_t *value, void **out, size_t *out_size) {
        const void *bytes;
        const char *text = NULL;
        size_t size = 0;
        void *copy;
        switch (avro_value_get_type(value)) {
        case AVRO_BYTES: avro_value_get_bytes(value, &bytes, &size); break;
        case AVRO_STRING: /* string -> bytes promotion; avro_value_get_bytes refuses a string */
                avro_value_get_string(value, &text, &size);
                bytes = text;
                size = size ? size - 1 : 0;
                break;
        default: return incompatible(r, name, "expected bytes");
        }
        if (!(copy = malloc(size ? size : 1)))
                return out_of_memory(r);
        memcpy(copy, bytes, size);
        free(*out);
        *out = copy;
        *out_size = size;
        return true;
}

/* An array of strings, each handed to @p take (false: out of memory); the strings are the record's. */
static bool as_strings(reader_t *r, const char *name, avro_value_t *value, bool (*take)(void *, const char *),
                       void *target) {
        size_t count = 0;
        if (avro_value_get_type(value) != AVRO_ARRAY)
                return incompatible(r, name, "expected an array");
        avro_value_get_size(value, &count);
        for (size_t i = 0; i < count; i++) {
                avro_value_t element;
                const char *text = NULL;
                avro_value_get_by_index(value, i, &element, NULL);
                if (!unwrap(&element))
                        return incompatible(r, name, "null entry");
                if (!as_string(r, name, &element, &text))
                        return false;
                if (!take(target, text))
                        return out_of_memory(r);
        }
        return true;
}

static bool push_to_strvec(void *vec, const char *text) {
        return bl_strvec_push(vec, text);
}

static bool remember_event_id(void *item, const char *event_id) {
        return bl_item_remember_event(item, event_id, UINT16_MAX);
}

static bool as_strvec(reader_t *r, const char *name, avro_value_t *value, bl_strvec_t *vec) {
        return as_strings(r, name, value, push_to_strvec, vec);
}

/* A map of strings into @p labels; the strings are the record's until bl_labels_set copies them. */
static bool as_labels(reader_t *r, const char *name, avro_value_t *value, bl_labels_t *labels) {
        size_t count = 0;
        const char **texts;
        bool ok = true;
        if (avro_value_get_type(value) != AVRO_MAP)
                return incompatible(r, name, "expected a map");
        avro_value_get_size(value, &count);
        if (!count)
                return true;
        if (!(texts = malloc(2 * count * sizeof(*texts)))) /* the keys, then the values */
                return out_of_memory(r);
        for (size_t i = 0; ok && i < count; i++) {
                avro_value_t element;
                avro_value_get_by_index(value, i, &element, &texts[i]);
                ok = utf8(r, name, texts[i], strlen(texts[i])) &&
                     (unwrap(&element) ? as_string(r, name, &element, &texts[count + i])
                                       : incompatible(r, name, "null value"));
        }
        if (ok && !bl_labels_set(labels, texts, texts + count, count))
                ok = out_of_memory(r);
        free(texts);
        return ok;
}

static bool as_event_ids(reader_t *r, const char *name, avro_value_t *value, bl_item_t *item) {
        return as_strings(r, name, value, remember_event_id, item);
}

/* ---- fields: absent keeps the caller's default ------------------------------ */

/* The string itself, valid while the record is: for the fields that are interned, not copied. */
static bool read_string(reader_t *r, const char *name, need_t need, const char **text) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, NULL);
        return found == FOUND ? as_string(r, name, &value, text) : found == ABSENT;
}

static bool read_text(reader_t *r, const char *name, need_t need, char **slot) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, NULL);
        return found == FOUND ? as_text(r, name, &value, slot) : found == ABSENT;
}

static bool read_long(reader_t *r, const char *name, need_t need, int64_t *out, bool *present) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, present);
        return found == FOUND ? as_long(r, name, &value, out) : found == ABSENT;
}

static bool read_int(reader_t *r, const char *name, need_t need, int32_t *out, bool *present) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, present);
        return found == FOUND ? as_int(r, name, &value, out) : found == ABSENT;
}

static bool read_double(reader_t *r, const char *name, need_t need, double *out, bool *present) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, present);
        return found == FOUND ? as_double(r, name, &value, out) : found == ABSENT;
}

static bool read_bool(reader_t *r, const char *name, bool *out) {
        avro_value_t value;
        lookup_t found = find(r, name, OPTIONAL, &value, NULL);
        return found == FOUND ? as_bool(r, name, &value, out) : found == ABSENT;
}

static bool read_state(reader_t *r, const char *name, need_t need, bl_state_t *out, bool *present) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, present);
        return found == FOUND ? as_state(r, name, &value, out) : found == ABSENT;
}

/* DispatchDecision v2's kind: CANCEL sets *cancel; absent (v1) or DISPATCH leaves it false. */
static bool read_dispatch_kind(reader_t *r, const char *name, bool *cancel) {
        avro_value_t value;
        const char *symbol;
        lookup_t found = find(r, name, OPTIONAL, &value, NULL);
        if (found != FOUND)
                return found == ABSENT;
        if (!as_symbol(r, name, &value, &symbol))
                return false;
        if (strcmp(symbol, "DISPATCH") && strcmp(symbol, "CANCEL"))
                return incompatible(r, name, "a DispatchKind symbol this backlogd does not know");
        *cancel = !strcmp(symbol, "CANCEL");
        return true;
}

static bool read_bytes(reader_t *r, const char *name, void **out, size_t *size, bool *present) {
        avro_value_t value;
        lookup_t found = find(r, name, OPTIONAL, &value, present);
        return found == FOUND ? as_bytes(r, name, &value, out, size) : found == ABSENT;
}

static bool read_strvec(reader_t *r, const char *name, bl_strvec_t *vec) {
        avro_value_t value;
        lookup_t found = find(r, name, OPTIONAL, &value, NULL);
        return found == FOUND ? as_strvec(r, name, &value, vec) : found == ABSENT;
}

static bool read_labels(reader_t *r, const char *name, bl_labels_t *labels) {
        avro_value_t value;
        lookup_t found = find(r, name, OPTIONAL, &value, NULL);
        return found == FOUND ? as_labels(r, name, &value, labels) : found == ABSENT;
}

static bool read_event_ids(reader_t *r, const char *name, bl_item_t *item) {
        avro_value_t value;
        lookup_t found = find(r, name, OPTIONAL, &value, NULL);
        return found == FOUND ? as_event_ids(r, name, &value, item) : found == ABSENT;
}

static bool read_payload(reader_t *r, bl_item_t *item) {
        size_t size = item->payload_size;
        if (!read_bytes(r, "payload", &item->payload, &size, &item->has_payload))
                return false;
        if (size > UINT32_MAX)
                return incompatible(r, "payload", "larger than 4 GiB");
        item->payload_size = (uint32_t)size;
        return true;
}

/* task_type, domain, tenant and sla_class, as far as the record has them, into the item's kind. */
static bool read_item_kind(reader_t *r, bl_item_t *item) {
        const char *task_type = item->kind->task_type, *domain = item->kind->domain;
        const char *tenant = item->kind->tenant, *sla_class = item->kind->sla_class;
        if (!read_string(r, "task_type", REQUIRED, &task_type) || !read_string(r, "domain", REQUIRED, &domain) ||
            !read_string(r, "tenant", OPTIONAL, &tenant) || !read_string(r, "sla_class", OPTIONAL, &sla_class))
                return false;
        /* task_type and domain are "" in a placeholder's snapshot */
        if (!bl_item_set_kind(item, task_type && *task_type ? task_type : NULL, domain && *domain ? domain : NULL,
                              tenant, sla_class))
                return out_of_memory(r);
        return true;
}

/* Gives the item the cold fields read into @p cold, or frees them when the read failed. */
static bool adopt_cold(reader_t *r, bl_item_t *item, bl_item_cold_t *cold, bool read_ok) {
        if (read_ok && !bl_item_adopt_cold(item, cold))
                read_ok = out_of_memory(r);
        if (!read_ok)
                bl_item_cold_clear(cold);
        return read_ok;
}

/* A nested record: the reader for it, or ABSENT/FAILED. */
static lookup_t find_record(reader_t *r, const char *name, need_t need, const char *path, reader_t *nested_reader) {
        avro_value_t value;
        lookup_t found = find(r, name, need, &value, NULL);
        if (found != FOUND)
                return found;
        if (avro_value_get_type(&value) != AVRO_RECORD) {
                incompatible(r, name, "expected a record");
                return FAILED;
        }
        nested_reader->record = value;
        nested_reader->path = path;
        nested_reader->error = r->error;
        return FOUND;
}

static bool read_rationale(reader_t *r, const char *name, const bl_criterion_t **out, size_t *out_count) {
        avro_value_t array;
        size_t count = 0;
        bl_criterion_t *criteria;
        lookup_t found = find(r, name, OPTIONAL, &array, NULL);
        if (found != FOUND)
                return found == ABSENT;
        if (avro_value_get_type(&array) != AVRO_ARRAY)
                return incompatible(r, name, "expected an array");
        avro_value_get_size(&array, &count);
        if (count == 0)
                return true;
        if (!(criteria = calloc(count, sizeof(*criteria))))
                return out_of_memory(r);
        *out = criteria;
        *out_count = count; /* from here on the caller's record frees what is filled */
        for (size_t i = 0; i < count; i++) {
                reader_t criterion = {.path = "Criterion", .error = r->error};
                avro_value_get_by_index(&array, i, &criterion.record, NULL);
                if (!read_text(&criterion, "name", REQUIRED, owned(&criteria[i].name)) ||
                    !read_double(&criterion, "raw", REQUIRED, &criteria[i].raw, NULL) ||
                    !read_double(&criterion, "normalised", REQUIRED, &criteria[i].normalised, NULL) ||
                    !read_double(&criterion, "weight", REQUIRED, &criteria[i].weight, NULL) ||
                    !read_double(&criterion, "contribution", REQUIRED, &criteria[i].contribution, NULL))
                        return false;
        }
        return true;
}

static void free_rationale(const bl_criterion_t *criteria, size_t count) {
        for (size_t i = 0; criteria && i < count; i++)
                free_owned(criteria[i].name);
        free_owned(criteria);
}

/* ---- BacklogItem ------------------------------------------------------------- */

static bool read_last_error(reader_t *r, bl_item_cold_t *cold) {
        reader_t error;
        lookup_t found = find_record(r, "last_error", OPTIONAL, "TaskError", &error);
        if (found != FOUND)
                return found == ABSENT;
        cold->has_last_error = true;
        return read_text(&error, "code", REQUIRED, &cold->error_code) &&
               read_text(&error, "message", REQUIRED, &cold->error_message) &&
               read_bool(&error, "retryable", &cold->error_retryable);
}

static bool read_item_identity(reader_t *r, bl_item_t *item) {
        bool ok = read_state(r, "state", REQUIRED, &item->state, NULL) &&
                  read_long(r, "seq", REQUIRED, &item->seq, NULL) &&
                  read_int(r, "attempt", REQUIRED, &item->attempt, NULL) &&
                  read_int(r, "max_attempts", OPTIONAL, &item->max_attempts, NULL) && read_item_kind(r, item) &&
                  read_double(r, "business_value", REQUIRED, &item->business_value, NULL) &&
                  read_double(r, "risk", REQUIRED, &item->risk, NULL) &&
                  read_bool(r, "placeholder", &item->placeholder);
        return ok;
}

static bool read_item_times(reader_t *r, bl_item_t *item) {
        return read_long(r, "submitted_at", REQUIRED, &item->submitted_at_ms, NULL) &&
               read_long(r, "deadline", OPTIONAL, &item->deadline_ms, NULL) &&
               read_long(r, "not_before", OPTIONAL, &item->not_before_ms, NULL) &&
               read_long(r, "data_ready_at", OPTIONAL, &item->data_ready_at_ms, NULL) &&
               read_long(r, "state_since", REQUIRED, &item->state_since_ms, NULL) &&
               read_long(r, "ready_since", OPTIONAL, &item->ready_since_ms, NULL) &&
               read_long(r, "lease_expires_at", OPTIONAL, &item->lease_expires_at_ms, NULL) &&
               read_long(r, "retry_at", OPTIONAL, &item->retry_at_ms, NULL) &&
               read_long(r, "terminal_at", OPTIONAL, &item->terminal_at_ms, NULL);
}

static bool read_item_relations(reader_t *r, bl_item_t *item) {
        bl_item_cold_t cold = {0};
        bool ok = read_strvec(r, "depends_on", &cold.depends_on) &&
                  read_strvec(r, "pending_deps", &cold.pending_deps) &&
                  read_strvec(r, "dependents", &cold.dependents) &&
                  read_bool(r, "approval_required", &item->approval_required) &&
                  read_bool(r, "approved", &item->approved) && read_labels(r, "labels", &cold.labels) &&
                  read_payload(r, item) && read_text(r, "traceparent", OPTIONAL, &cold.traceparent) &&
                  read_last_error(r, &cold) && read_event_ids(r, "recent_event_ids", item);
        return adopt_cold(r, item, &cold, ok);
}

static bl_item_t *read_item(reader_t *r, int32_t partition) {
        avro_value_t value;
        const char *task_id;
        bl_item_t *item;
        if (find(r, "task_id", REQUIRED, &value, NULL) != FOUND || !as_string(r, "task_id", &value, &task_id))
                return NULL;
        if (!(item = bl_item_new(task_id, partition))) {
                out_of_memory(r);
                return NULL;
        }
        if (read_item_identity(r, item) && read_item_times(r, item) && read_item_relations(r, item))
                return item;
        bl_item_destroy(item);
        return NULL;
}

/* ---- the way in ---------------------------------------------------------------- */

/* The writer schema of the record: known, and the record @p name. */
static bool writer_schema(bl_schemas_t *schemas, int32_t schema_id, const char *name, bl_schema_t **writer,
                          bl_record_error_t *error) {
        char errstr[BL_RECORD_DETAIL_MAX];
        bl_err_t err = bl_schemas_get(schemas, schema_id, writer, errstr, sizeof(errstr));
        if (err == BL_ERR_PENDING) { /* being fetched: transient, and the wait is short */
                bl_record_error_transient(error, "%s", errstr);
                error->pending = true;
                return false;
        }
        if (err == BL_ERR_UNAVAILABLE)
                return bl_record_error_transient(error, "%s", errstr);
        if (err == BL_ERR_NOT_FOUND)
                return bl_record_error_set(error, BL_REASON_DECODE_SCHEMA_UNKNOWN, "%s", errstr);
        if (err)
                return bl_record_error_set(error, BL_REASON_CONTRACT_INCOMPATIBLE, "%s", errstr);
        if (avro_typeof((*writer)->avro) != AVRO_RECORD || strcmp(avro_schema_name((*writer)->avro), name))
                return bl_record_error_set(error, BL_REASON_CONTRACT_INCOMPATIBLE, "schema id %d is not a %s record",
                                           (int)schema_id, name);
        return true;
}

static bool read_avro(bl_schema_t *writer, const unsigned char *body, size_t body_size, bl_record_error_t *error) {
        avro_reader_t reader = avro_reader_memory((const char *)body, (int64_t)body_size);
        int rc;
        if (!reader)
                return bl_record_error_transient(error, "out of memory");
        avro_value_reset(&writer->value);
        rc = avro_value_read(reader, &writer->value);
        avro_reader_free(reader);
        return rc == 0 || bl_record_error_set(error, BL_REASON_DECODE_AVRO, "%s", avro_strerror());
}

/* The body and writer schema of @p value, which must be the record @p name. */
static bool unframe(bl_schemas_t *schemas, const void *value, size_t size, const char *name, bl_schema_t **writer,
                    const unsigned char **body, size_t *body_size, bl_record_error_t *error) {
        int32_t schema_id;
        bl_record_error_clear(error);
        return bl_wire_parse(value, size, &schema_id, body, body_size, error) &&
               writer_schema(schemas, schema_id, name, writer, error);
}

/* The generic read of a body: bounds walk, then avro-c into the writer's value, which @p r is set to read. */
static bool read_generic(bl_schema_t *writer, const unsigned char *body, size_t body_size, const char *name,
                         reader_t *r, bl_record_error_t *error) {
        if (!bl_avro_bounds_check(writer->avro, body, body_size, error) || !read_avro(writer, body, body_size, error))
                return false;
        r->record = writer->value;
        r->path = name;
        r->error = error;
        return true;
}

/* Decodes @p value into its writer schema's value, which must be the record @p name; @p r reads it. */
static bool decode_value(bl_schemas_t *schemas, const void *value, size_t size, const char *name, reader_t *r,
                         bl_record_error_t *error) {
        const unsigned char *body;
        size_t body_size;
        bl_schema_t *writer;
        return unframe(schemas, value, size, name, &writer, &body, &body_size, error) &&
               read_generic(writer, body, body_size, name, r, error);
}

/*
 * A snapshot straight from its bytes (records_item.c) unless that reader
 * declines it or @p generic_only; then, or for the verdict on bytes it
 * declined, the generic way.
 */
static bl_item_t *decode_item(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                              bool generic_only, bl_record_error_t *error) {
        const unsigned char *body;
        size_t body_size;
        bl_schema_t *writer;
        bl_item_t *item;
        bool declined = true;
        reader_t r;
        if (!unframe(schemas, value, size, "BacklogItem", &writer, &body, &body_size, error))
                return NULL;
        if (!generic_only &&
            ((item = bl_records_item_read(writer, body, body_size, partition, &declined, error)) || !declined))
                return item;
        return read_generic(writer, body, body_size, "BacklogItem", &r, error) ? read_item(&r, partition) : NULL;
}

bl_item_t *bl_records_decode_item(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                  bl_record_error_t *error) {
        return decode_item(schemas, value, size, partition, false, error);
}

bl_item_t *bl_records_decode_item_view(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                       bl_records_item_view_t *view, bool *borrowed, bl_record_error_t *error) {
        const unsigned char *body;
        size_t body_size;
        bl_schema_t *writer;
        bool declined = true;
        reader_t r;
        *borrowed = false;
        if (!unframe(schemas, value, size, "BacklogItem", &writer, &body, &body_size, error))
                return NULL;
        if (bl_records_item_read_view(writer, body, body_size, partition, view, &declined, error)) {
                *borrowed = true;
                return view->item;
        }
        if (!declined)
                return NULL;
        return read_generic(writer, body, body_size, "BacklogItem", &r, error) ? read_item(&r, partition) : NULL;
}

bl_item_t *bl_records_decode_item_generic(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                          bl_record_error_t *error) {
        return decode_item(schemas, value, size, partition, true, error);
}

/* ---- Transition ------------------------------------------------------------------ */

/* ---- who decided (Transition v2, DispatchDecision v2) ------------------------- */

static void free_provenance(bl_provenance_t *p) {
        free_owned(p->decided_by);
        free_owned(p->fallback);
        free_owned(p->agent_reason);
        free_owned(p->consultation_id);
}

/* The fields into @p p; *@p slot points at it when any is set (a v1 record has none). */
static bool read_provenance(reader_t *r, bl_provenance_t *p, const bl_provenance_t **slot) {
        *p = bl_provenance_none();
        if (!read_text(r, "decided_by", OPTIONAL, owned(&p->decided_by)) ||
            !read_text(r, "fallback", OPTIONAL, owned(&p->fallback)) ||
            !read_int(r, "agent_rank", OPTIONAL, &p->agent_rank, NULL) ||
            !read_text(r, "agent_reason", OPTIONAL, owned(&p->agent_reason)) ||
            !read_text(r, "consultation_id", OPTIONAL, owned(&p->consultation_id)) ||
            !read_long(r, "consultation_latency_ms", OPTIONAL, &p->consultation_latency_ms, NULL) ||
            !read_bool(r, "late", &p->late) || !read_bool(r, "probe", &p->probe))
                return false;
        *slot = bl_provenance_is_set(p) ? p : NULL;
        return true;
}

void bl_transition_record_destroy(bl_transition_record_t *record) {
        bl_transition_t *t;
        if (!record)
                return;
        t = &record->transition;
        free_owned(t->task_id);
        free_owned(t->cause);
        free_owned(t->reason);
        free_owned(t->event_id);
        free_owned(t->dispatch_id);
        free_owned(t->policy);
        free_rationale(t->rationale, t->rationale_count);
        free_owned(t->actor);
        free_provenance(&record->provenance);
        free_owned(record->origin.topic);
        free(record->instance);
        bl_item_destroy(record->item);
        free(record);
}

/* source_topic, source_partition, source_offset: the origin when the topic is there. */
static bool read_origin(reader_t *r, bl_transition_record_t *record) {
        record->origin.partition = -1;
        record->origin.offset = -1;
        if (!read_text(r, "source_topic", OPTIONAL, owned(&record->origin.topic)) ||
            !read_int(r, "source_partition", OPTIONAL, &record->origin.partition, NULL) ||
            !read_long(r, "source_offset", OPTIONAL, &record->origin.offset, NULL))
                return false;
        record->transition.origin = record->origin.topic ? &record->origin : NULL;
        return true;
}

static bool read_item_after(reader_t *r, bl_transition_record_t *record, int32_t partition) {
        reader_t embedded;
        lookup_t found = find_record(r, "item", OPTIONAL, "Transition.item", &embedded);
        if (found != FOUND)
                return found == ABSENT;
        record->item = read_item(&embedded, partition);
        return record->item != NULL;
}

/* ---- Transition v3: the item told as changes ------------------------------------ */

typedef enum { BASE_NONE, BASE_NEW, BASE_BEFORE } base_t;

/* The contract's NEW base: a fresh item, its required times 0 (bl_item_new leaves them unset). */
static bl_item_t *fresh_item(reader_t *r, const char *task_id, int32_t partition) {
        bl_item_t *item = bl_item_new(task_id, partition);
        if (!item) {
                out_of_memory(r);
                return NULL;
        }
        item->submitted_at_ms = item->state_since_ms = 0;
        return item;
}

bl_item_t *bl_records_item_copy_without_payload(const bl_item_t *item, int32_t partition) {
        const bl_kind_t *kind = item->kind;
        bl_item_t *copy = bl_item_new_of_kind(item->task_id, partition, kind->task_type, kind->domain, kind->tenant,
                                              kind->sla_class);
        bool ok = copy != NULL;
        if (ok) {
                copy->seq = item->seq;
                copy->business_value = item->business_value;
                copy->risk = item->risk;
                copy->submitted_at_ms = item->submitted_at_ms;
                copy->deadline_ms = item->deadline_ms;
                copy->not_before_ms = item->not_before_ms;
                copy->data_ready_at_ms = item->data_ready_at_ms;
                copy->state_since_ms = item->state_since_ms;
                copy->ready_since_ms = item->ready_since_ms;
                copy->lease_expires_at_ms = item->lease_expires_at_ms;
                copy->retry_at_ms = item->retry_at_ms;
                copy->terminal_at_ms = item->terminal_at_ms;
                copy->attempt = item->attempt;
                copy->max_attempts = item->max_attempts;
                copy->state = item->state;
                copy->approval_required = item->approval_required;
                copy->approved = item->approved;
                copy->placeholder = item->placeholder;
        }
        for (const char *id = NULL; ok && (id = bl_item_event_next(item, id));)
                ok = bl_item_remember_event(copy, id, UINT16_MAX);
        if (ok && item->cold)
                ok = bl_item_set_cold_packed(copy, bl_item_cold(item));
        if (!ok) {
                bl_item_destroy(copy);
                return NULL;
        }
        return copy;
}

static bool clear_event_ids(bl_item_t *item) {
        free(item->recent_event_ids);
        item->recent_event_ids = NULL;
        item->recent_event_count = 0;
        return true;
}

/* One of task_type, domain, tenant, sla_class changed: the item's kind with it. */
static bool apply_kind_change(reader_t *r, const char *name, bl_item_t *item) {
        const bl_kind_t *kind = item->kind;
        const char *fields[4] = {kind->task_type, kind->domain, kind->tenant, kind->sla_class};
        static const char *const names[4] = {"task_type", "domain", "tenant", "sla_class"};
        int which = 0;
        while (strcmp(names[which], name))
                which++;
        fields[which] = NULL;
        if (!read_string(r, name, which == 1 || which == 0 ? REQUIRED : OPTIONAL, &fields[which]))
                return false;
        if (which < 2 && fields[which] && !*fields[which])
                fields[which] = NULL; /* "" in a placeholder's */
        if (which == 3 && !fields[3])
                fields[3] = "standard";
        return bl_item_set_kind(item, fields[0], fields[1], fields[2], fields[3]) || out_of_memory(r);
}

/* The optional time @p name of @p item (null unsets it), or NULL when @p name is not one. */
static int64_t *optional_time(bl_item_t *item, const char *name) {
        static const char *const names[] = {"deadline",         "not_before", "data_ready_at", "ready_since",
                                            "lease_expires_at", "retry_at",   "terminal_at"};
        int64_t *const slots[] = {&item->deadline_ms,         &item->not_before_ms, &item->data_ready_at_ms,
                                  &item->ready_since_ms,      &item->lease_expires_at_ms, &item->retry_at_ms,
                                  &item->terminal_at_ms};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (!strcmp(names[i], name))
                        return slots[i];
        return NULL;
}

/* The cold fields a change replaces: emptied first, then read. */
static bool apply_cold_change(reader_t *r, const char *name, bl_item_t *item) {
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        if (!cold)
                return out_of_memory(r);
        if (!strcmp(name, "depends_on") || !strcmp(name, "pending_deps") || !strcmp(name, "dependents")) {
                bl_strvec_t *vec = !strcmp(name, "depends_on")     ? &cold->depends_on
                                   : !strcmp(name, "pending_deps") ? &cold->pending_deps
                                                                   : &cold->dependents;
                bl_strvec_clear(vec);
                return read_strvec(r, name, vec);
        }
        if (!strcmp(name, "labels")) {
                bl_labels_clear(&cold->labels);
                return read_labels(r, name, &cold->labels);
        }
        if (!strcmp(name, "traceparent")) {
                free(cold->traceparent);
                cold->traceparent = NULL;
                return read_text(r, name, OPTIONAL, &cold->traceparent);
        }
        free(cold->error_code);
        free(cold->error_message);
        cold->error_code = cold->error_message = NULL;
        cold->has_last_error = cold->error_retryable = false;
        return read_last_error(r, cold);
}

/* One change record, whose one field is the BacklogItem's field of the same name, onto @p item. */
static bool apply_change(reader_t *r, bl_item_t *item) {
        const char *name = avro_schema_record_field_name(avro_value_get_schema(&r->record), 0);
        int64_t *time;
        if (!name)
                return incompatible(r, "changes", "an empty change record");
        if (!strcmp(name, "max_attempts")) {
                item->max_attempts = 0;
                return read_int(r, name, OPTIONAL, &item->max_attempts, NULL);
        }
        if (!strcmp(name, "task_type") || !strcmp(name, "domain") || !strcmp(name, "tenant") ||
            !strcmp(name, "sla_class"))
                return apply_kind_change(r, name, item);
        if (!strcmp(name, "business_value"))
                return read_double(r, name, REQUIRED, &item->business_value, NULL);
        if (!strcmp(name, "risk"))
                return read_double(r, name, REQUIRED, &item->risk, NULL);
        if (!strcmp(name, "submitted_at"))
                return read_long(r, name, REQUIRED, &item->submitted_at_ms, NULL);
        if (!strcmp(name, "state_since"))
                return read_long(r, name, REQUIRED, &item->state_since_ms, NULL);
        if ((time = optional_time(item, name))) {
                *time = BL_NO_TIME;
                return read_long(r, name, OPTIONAL, time, NULL);
        }
        if (!strcmp(name, "approval_required"))
                return read_bool(r, name, &item->approval_required);
        if (!strcmp(name, "approved"))
                return read_bool(r, name, &item->approved);
        if (!strcmp(name, "placeholder"))
                return read_bool(r, name, &item->placeholder);
        if (!strcmp(name, "payload")) {
                free(item->payload);
                item->payload = NULL;
                item->payload_size = 0;
                item->has_payload = false;
                return read_payload(r, item);
        }
        if (!strcmp(name, "recent_event_ids"))
                return clear_event_ids(item) && read_event_ids(r, name, item);
        if (!strcmp(name, "depends_on") || !strcmp(name, "pending_deps") || !strcmp(name, "dependents") ||
            !strcmp(name, "labels") || !strcmp(name, "traceparent") || !strcmp(name, "last_error"))
                return apply_cold_change(r, name, item);
        return incompatible(r, name, "a change of a field this backlogd does not know");
}

static bool apply_changes(reader_t *r, bl_item_t *item) {
        avro_value_t array;
        size_t count = 0;
        lookup_t found = find(r, "changes", OPTIONAL, &array, NULL);
        if (found != FOUND)
                return found == ABSENT;
        if (avro_value_get_type(&array) != AVRO_ARRAY)
                return incompatible(r, "changes", "expected an array");
        avro_value_get_size(&array, &count);
        for (size_t i = 0; i < count; i++) {
                reader_t change = {.path = "Transition.changes", .error = r->error};
                avro_value_get_by_index(&array, i, &change.record, NULL);
                if (!unwrap(&change.record) || avro_value_get_type(&change.record) != AVRO_RECORD)
                        return incompatible(r, "changes", "expected a change record");
                if (!apply_change(&change, item))
                        return false;
        }
        return true;
}

static bool read_base(reader_t *r, base_t *base) {
        avro_value_t value;
        const char *symbol;
        lookup_t found = find(r, "base", OPTIONAL, &value, NULL);
        if (found != FOUND)
                return found == ABSENT;
        if (!as_symbol(r, "base", &value, &symbol))
                return false;
        if (!strcmp(symbol, "NONE"))
                *base = BASE_NONE;
        else if (!strcmp(symbol, "NEW"))
                *base = BASE_NEW;
        else if (!strcmp(symbol, "BEFORE"))
                *base = BASE_BEFORE;
        else
                return incompatible(r, "base", "an ItemBase symbol this backlogd does not know");
        return true;
}

/* Whether @p before is the task's transition right before @p t, as a BEFORE base needs. */
static bool is_before(const bl_transition_record_t *before, const bl_transition_t *t) {
        return before && before->transition.seq == t->seq - 1 && before->transition.task_id &&
               !strcmp(before->transition.task_id, t->task_id);
}

/* The state_since, recent_event_ids and identity rules of the base (schemas/transition/v3.avsc). */
static bool derive(reader_t *r, bl_item_t *item, const bl_transition_t *t, base_t base) {
        if (base == BASE_NEW || !t->has_from || t->from != t->to)
                item->state_since_ms = t->at_ms;
        if (base == BASE_NEW && t->event_id && !bl_item_remember_event(item, t->event_id, UINT16_MAX))
                return out_of_memory(r);
        item->state = t->to;
        item->seq = t->seq;
        item->attempt = t->attempt;
        return true;
}

/* The item after a v3 change: NULL (and no error) for base NONE, or BEFORE without the transition before. */
static bool read_item_told(reader_t *r, bl_transition_record_t *record, base_t base,
                           const bl_transition_record_t *before, int32_t partition) {
        const bl_transition_t *t = &record->transition;
        bl_item_t *item = NULL;
        if (base == BASE_NONE || record->unknown_before)
                return true; /* markers told against a transition not read: the record leans on it, no item */
        if (base == BASE_BEFORE && (!is_before(before, t) || !before->item)) {
                record->unknown_before = true;
                return true;
        }
        if (base == BASE_NEW)
                item = fresh_item(r, t->task_id, partition);
        else if (!(item = bl_records_item_copy_without_payload(before->item, partition)))
                out_of_memory(r);
        if (!item || !derive(r, item, t, base) || !apply_changes(r, item)) {
                bl_item_destroy(item);
                return false;
        }
        record->item = item;
        return true;
}

/* v3's markers: cause null (as before), instance null (as before), dispatch_id "" (task_id/attempt). */
static bool resolve_markers(reader_t *r, bl_transition_record_t *record, const bl_transition_record_t *before) {
        bl_transition_t *t = &record->transition;
        bool known = is_before(before, t);
        if (!t->cause) {
                const bl_transition_t *b = known ? &before->transition : NULL;
                record->unknown_before |= !known;
                if (!(t->cause = strdup(known ? b->cause : "unknown")) ||
                    (known && b->event_id && !(t->event_id = strdup(b->event_id))) ||
                    (known && before->origin.topic && !(record->origin.topic = strdup(before->origin.topic))))
                        return out_of_memory(r);
                if (known) {
                        t->occurred_at_ms = b->occurred_at_ms;
                        record->origin.partition = before->origin.partition;
                        record->origin.offset = before->origin.offset;
                        t->origin = record->origin.topic ? &record->origin : NULL;
                }
        }
        if (!record->instance) {
                record->unknown_before |= !known;
                if (!(record->instance = strdup(known ? before->instance : "unknown")))
                        return out_of_memory(r);
        }
        if (t->dispatch_id && !*t->dispatch_id) {
                size_t size = strlen(t->task_id) + 16;
                char *id = malloc(size);
                if (!id)
                        return out_of_memory(r);
                snprintf(id, size, "%s/%d", t->task_id, (int)t->attempt);
                free_owned(t->dispatch_id);
                t->dispatch_id = id;
        }
        return true;
}

/*
 * A Transition of any version; a v3 one (it has `base`) told against @p before, the task's transition
 * before as this reader decoded it, or NULL.
 */
static bool read_transition(reader_t *r, bl_transition_record_t *record, int32_t partition,
                            const bl_transition_record_t *before) {
        bl_transition_t *t = &record->transition;
        base_t base = BASE_NONE;
        bool told = false;
        avro_value_t probe;
        t->occurred_at_ms = BL_NO_TIME;
        told = avro_value_get_by_name(&r->record, "base", &probe, NULL) == 0;
        return read_text(r, "task_id", REQUIRED, owned(&t->task_id)) && read_long(r, "seq", REQUIRED, &t->seq, NULL) &&
               read_state(r, "from_state", OPTIONAL, &t->from, &t->has_from) &&
               read_state(r, "to_state", REQUIRED, &t->to, NULL) &&
               read_text(r, "cause", told ? OPTIONAL : REQUIRED, owned(&t->cause)) &&
               read_text(r, "reason", OPTIONAL, owned(&t->reason)) &&
               read_text(r, "event_id", OPTIONAL, owned(&t->event_id)) &&
               read_int(r, "attempt", REQUIRED, &t->attempt, NULL) && read_long(r, "at", REQUIRED, &t->at_ms, NULL) &&
               read_long(r, "occurred_at", OPTIONAL, &t->occurred_at_ms, NULL) &&
               read_text(r, "dispatch_id", OPTIONAL, owned(&t->dispatch_id)) &&
               read_text(r, "policy", OPTIONAL, owned(&t->policy)) &&
               read_double(r, "score", OPTIONAL, &t->score, &t->has_score) && read_origin(r, record) &&
               read_text(r, "instance", told ? OPTIONAL : REQUIRED, &record->instance) &&
               read_rationale(r, "rationale", &t->rationale, &t->rationale_count) &&
               read_item_after(r, record, partition) && read_text(r, "actor", OPTIONAL, owned(&t->actor)) &&
               read_provenance(r, &record->provenance, &t->provenance) &&
               (!told || (read_base(r, &base) && resolve_markers(r, record, before) &&
                          read_item_told(r, record, base, before, partition)));
}

bl_transition_record_t *bl_records_decode_transition_after(bl_schemas_t *schemas, const void *value, size_t size,
                                                           int32_t partition, const bl_transition_record_t *before,
                                                           bl_record_error_t *error) {
        reader_t r;
        bl_transition_record_t *record;
        if (!decode_value(schemas, value, size, "Transition", &r, error))
                return NULL;
        if (!(record = calloc(1, sizeof(*record)))) {
                out_of_memory(&r);
                return NULL;
        }
        if (read_transition(&r, record, partition, before))
                return record;
        bl_transition_record_destroy(record);
        return NULL;
}

bl_transition_record_t *bl_records_decode_transition(bl_schemas_t *schemas, const void *value, size_t size,
                                                     int32_t partition, bl_record_error_t *error) {
        return bl_records_decode_transition_after(schemas, value, size, partition, NULL, error);
}

/* ---- DispatchDecision ----------------------------------------------------------- */

void bl_dispatch_record_destroy(bl_dispatch_record_t *record) {
        if (!record)
                return;
        free_owned(record->dispatch.dispatch_id);
        free_owned(record->dispatch.policy_name);
        free_owned(record->dispatch.policy_version);
        free_rationale(record->dispatch.rationale, record->dispatch.rationale_count);
        free_owned(record->dispatch.actor);
        free_owned(record->dispatch.cancel_reason);
        free_provenance(&record->provenance);
        bl_item_destroy(record->item);
        free(record);
}

static bool read_dispatch(reader_t *r, bl_dispatch_record_t *record) {
        bl_dispatch_t *d = &record->dispatch;
        bl_item_t *item = record->item;
        bl_item_cold_t cold = {0};
        bool ok = read_int(r, "attempt", REQUIRED, &item->attempt, NULL) &&
                  read_text(r, "dispatch_id", REQUIRED, owned(&d->dispatch_id)) && read_item_kind(r, item) &&
                  read_double(r, "score", REQUIRED, &d->score, NULL) &&
                  read_rationale(r, "rationale", &d->rationale, &d->rationale_count) &&
                  read_text(r, "policy_name", REQUIRED, owned(&d->policy_name)) &&
                  read_text(r, "policy_version", REQUIRED, owned(&d->policy_version)) &&
                  read_long(r, "decided_at", REQUIRED, &d->decided_at_ms, NULL) &&
                  read_long(r, "lease_expires_at", REQUIRED, &item->lease_expires_at_ms, NULL) &&
                  read_long(r, "deadline", OPTIONAL, &item->deadline_ms, NULL) &&
                  read_labels(r, "labels", &cold.labels) && read_payload(r, item) &&
                  read_dispatch_kind(r, "kind", &d->cancel) && read_text(r, "actor", OPTIONAL, owned(&d->actor)) &&
                  read_text(r, "cancel_reason", OPTIONAL, owned(&d->cancel_reason)) &&
                  read_provenance(r, &record->provenance, &d->provenance);
        return adopt_cold(r, item, &cold, ok);
}

bl_dispatch_record_t *bl_records_decode_dispatch(bl_schemas_t *schemas, const void *value, size_t size,
                                                 bl_record_error_t *error) {
        reader_t r;
        avro_value_t task_id_value;
        const char *task_id;
        bl_dispatch_record_t *record;
        if (!decode_value(schemas, value, size, "DispatchDecision", &r, error) ||
            find(&r, "task_id", REQUIRED, &task_id_value, NULL) != FOUND ||
            !as_string(&r, "task_id", &task_id_value, &task_id))
                return NULL;
        record = calloc(1, sizeof(*record));
        if (!record || !(record->item = bl_item_new(task_id, -1))) {
                free(record);
                out_of_memory(&r);
                return NULL;
        }
        record->dispatch.item = record->item;
        if (read_dispatch(&r, record))
                return record;
        bl_dispatch_record_destroy(record);
        return NULL;
}

/* ---- DependencyNotice ------------------------------------------------------------- */

void bl_notice_record_destroy(bl_notice_record_t *record) {
        if (!record)
                return;
        free_owned(record->notice.to_task_id);
        free_owned(record->notice.from_task_id);
        free(record);
}

static bool read_kind(reader_t *r, bool *is_outcome) {
        avro_value_t value;
        const char *symbol;
        if (find(r, "kind", REQUIRED, &value, NULL) != FOUND || !as_symbol(r, "kind", &value, &symbol))
                return false;
        if (strcmp(symbol, "WAITING") && strcmp(symbol, "OUTCOME"))
                return incompatible(r, "kind", "a NoticeKind symbol this backlogd does not know");
        *is_outcome = !strcmp(symbol, "OUTCOME");
        return true;
}

static bool read_notice(reader_t *r, bl_notice_t *notice) {
        bool has_outcome = false;
        if (!read_kind(r, &notice->is_outcome) || !read_text(r, "to_task_id", REQUIRED, owned(&notice->to_task_id)) ||
            !read_text(r, "from_task_id", REQUIRED, owned(&notice->from_task_id)) ||
            !read_state(r, "outcome", OPTIONAL, &notice->outcome, &has_outcome) ||
            !read_long(r, "at", REQUIRED, &notice->at_ms, NULL))
                return false;
        return !notice->is_outcome || has_outcome || incompatible(r, "outcome", "required for an OUTCOME notice");
}

bl_notice_record_t *bl_records_decode_notice(bl_schemas_t *schemas, const void *value, size_t size,
                                             bl_record_error_t *error) {
        reader_t r;
        bl_notice_record_t *record;
        if (!decode_value(schemas, value, size, "DependencyNotice", &r, error))
                return NULL;
        if (!(record = calloc(1, sizeof(*record)))) {
                out_of_memory(&r);
                return NULL;
        }
        if (read_notice(&r, &record->notice))
                return record;
        bl_notice_record_destroy(record);
        return NULL;
}
