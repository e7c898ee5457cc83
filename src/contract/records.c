/*
 * records.c: backlogd's own records: C structs <-> Avro generic values <->
 * Confluent-framed bytes.
 *
 * Encoding sets every field of the contract by name on the schema's
 * reusable value, after avro_value_reset (arrays and maps empty again; a
 * union keeps its branch through a reset, so every union is set explicitly,
 * branch found by type, not position). A bit per field index records what
 * was set: a schema field left unset means the contract has grown beyond
 * this code, reported as BL_ERR_MISMATCH with its name rather than written
 * as garbage. The value is then written straight into the output buffer;
 * when the buffer is too small (avro-c's memory writer says ENOSPC) it grows
 * to at least avro_value_sizeof and the write is repeated, so the common case
 * walks the value once and allocates nothing for the output.
 *
 * Decoding: wire header -> writer schema by id -> the expected record name
 * -> bounds walk (no allocation) -> avro_value_read into the writer schema's
 * reusable value -> fields read by name into owned C structs. A union is
 * unwrapped (null is absent), int/long/float/double promote as Avro's
 * resolution rules allow, enums are matched by symbol. A field the writer
 * lacks keeps the default the C struct starts with (bl_item_new's, or
 * zero), which matches the contract's default; a required one is an error.
 *
 * The pipeline's encoder (bl_records_t) fills private copies of its four
 * schemas, so an encode never overwrites a value that a decode with the
 * cache has filled, and the other way round.
 *
 * Invariants: nothing decoded points into the cache's values or the input;
 * every encode leaves the buffer's memory valid. Thread: the caller's; not
 * thread-safe (one encoder, and one schema cache for decoding, per thread).
 */
#include "contract/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "contract/avro_bounds.h"
#include "contract/wire.h"

#define BUFFER_MIN_BYTES 512
#define TRACKED_FIELDS 64 /* fields beyond this index are not checked for being set */

/* ==== encoding ============================================================ */

typedef struct writer_s {
        avro_value_t record;
        const char *path;     /* "BacklogItem", "Transition.item", ... for messages */
        uint64_t fields_set;  /* bit i: field i of the record was set */
        bl_err_t *err;
        char *errstr;
        size_t errstr_size;
} writer_t;

static bool put_fail(writer_t *w, bl_err_t err, const char *field, const char *what) {
        *w->err = bl_err_set(w->errstr, w->errstr_size, err, "%s.%s: %s", w->path, field, what);
        return false;
}

static bool set_ok(writer_t *w, const char *field, int rc) {
        return rc == 0 || put_fail(w, rc == ENOMEM ? BL_ERR_NOMEM : BL_ERR_MISMATCH, field, avro_strerror());
}

/* A writer for a record nested in @p parent's (an embedded item, a criterion, an error). */
static writer_t nested(const writer_t *parent, avro_value_t *record, const char *path) {
        writer_t w = {*record, path, 0, parent->err, parent->errstr, parent->errstr_size};
        return w;
}

/* Field @p name of the record, marked as set. */
static bool field(writer_t *w, const char *name, avro_value_t *child) {
        size_t index;
        if (avro_value_get_by_name(&w->record, name, child, &index))
                return put_fail(w, BL_ERR_MISMATCH, name, "not in the schema");
        if (index < TRACKED_FIELDS)
                w->fields_set |= UINT64_C(1) << index;
        return true;
}

/* Union field @p name on its null branch, or on its other branch. */
static bool branch(writer_t *w, const char *name, bool null, avro_value_t *child) {
        avro_value_t value;
        avro_schema_t schema;
        if (!field(w, name, &value))
                return false;
        if (avro_value_get_type(&value) != AVRO_UNION) {
                *child = value;
                return !null || put_fail(w, BL_ERR_MISMATCH, name, "null, and the schema does not allow it");
        }
        schema = avro_value_get_schema(&value);
        for (size_t i = 0; i < avro_schema_union_size(schema); i++)
                if ((avro_typeof(avro_schema_union_branch(schema, (int)i)) == AVRO_NULL) == null)
                        return set_ok(w, name, avro_value_set_branch(&value, (int)i, child));
        return put_fail(w, BL_ERR_MISMATCH, name, null ? "the union has no null branch" : "the union is only null");
}

/* Every field of the record was set: the schema has nothing this code does not know. */
static bool complete(writer_t *w) {
        avro_schema_t schema = avro_value_get_schema(&w->record);
        size_t count = avro_schema_record_size(schema);
        for (size_t i = 0; i < count && i < TRACKED_FIELDS; i++)
                if (!(w->fields_set & UINT64_C(1) << i))
                        return put_fail(w, BL_ERR_MISMATCH, avro_schema_record_field_name(schema, (int)i),
                                        "in the schema, and this backlogd does not write it");
        return true;
}

static bool set_string(writer_t *w, const char *name, avro_value_t *value, const char *text) {
        return set_ok(w, name, avro_value_set_string(value, (char *)(text ? text : "")));
}

static bool set_symbol(writer_t *w, const char *name, avro_value_t *value, const char *symbol) {
        int index = 0;
        if (avro_value_get_type(value) != AVRO_ENUM)
                return put_fail(w, BL_ERR_MISMATCH, name, "not an enum in the schema");
        index = avro_schema_enum_get_by_name(avro_value_get_schema(value), symbol);
        if (index < 0)
                return put_fail(w, BL_ERR_MISMATCH, name, "the enum lacks the symbol");
        return set_ok(w, name, avro_value_set_enum(value, index));
}

/* A required string; NULL is written as "". */
static bool put_string(writer_t *w, const char *name, const char *text) {
        avro_value_t value;
        return field(w, name, &value) && set_string(w, name, &value, text);
}

static bool put_opt_string(writer_t *w, const char *name, const char *text) {
        avro_value_t value;
        return branch(w, name, text == NULL, &value) && (!text || set_string(w, name, &value, text));
}

static bool put_long(writer_t *w, const char *name, int64_t number) {
        avro_value_t value;
        return field(w, name, &value) && set_ok(w, name, avro_value_set_long(&value, number));
}

static bool put_opt_long(writer_t *w, const char *name, bool present, int64_t number) {
        avro_value_t value;
        return branch(w, name, !present, &value) && (!present || set_ok(w, name, avro_value_set_long(&value, number)));
}

/* An optional timestamp: BL_NO_TIME is null. */
static bool put_opt_time(writer_t *w, const char *name, int64_t ms) {
        return put_opt_long(w, name, ms != BL_NO_TIME, ms);
}

static bool put_int(writer_t *w, const char *name, int32_t number) {
        avro_value_t value;
        return field(w, name, &value) && set_ok(w, name, avro_value_set_int(&value, number));
}

static bool put_opt_int(writer_t *w, const char *name, bool present, int32_t number) {
        avro_value_t value;
        return branch(w, name, !present, &value) && (!present || set_ok(w, name, avro_value_set_int(&value, number)));
}

static bool put_double(writer_t *w, const char *name, double number) {
        avro_value_t value;
        return field(w, name, &value) && set_ok(w, name, avro_value_set_double(&value, number));
}

static bool put_opt_double(writer_t *w, const char *name, bool present, double number) {
        avro_value_t value;
        return branch(w, name, !present, &value) &&
               (!present || set_ok(w, name, avro_value_set_double(&value, number)));
}

static bool put_bool(writer_t *w, const char *name, bool flag) {
        avro_value_t value;
        return field(w, name, &value) && set_ok(w, name, avro_value_set_boolean(&value, flag));
}

static bool put_symbol(writer_t *w, const char *name, const char *symbol) {
        avro_value_t value;
        return field(w, name, &value) && set_symbol(w, name, &value, symbol);
}

static bool put_opt_state(writer_t *w, const char *name, bool present, bl_state_t state) {
        avro_value_t value;
        return branch(w, name, !present, &value) && (!present || set_symbol(w, name, &value, bl_state_name(state)));
}

static bool put_opt_bytes(writer_t *w, const char *name, bool present, const void *bytes, size_t size) {
        avro_value_t value;
        return branch(w, name, !present, &value) &&
               (!present || set_ok(w, name, avro_value_set_bytes(&value, (void *)(bytes ? bytes : ""), size)));
}

static bool put_strvec(writer_t *w, const char *name, const bl_strvec_t *vec) {
        avro_value_t array, element;
        if (!field(w, name, &array))
                return false;
        for (size_t i = 0; i < vec->count; i++)
                if (!set_ok(w, name, avro_value_append(&array, &element, NULL)) ||
                    !set_string(w, name, &element, vec->items[i]))
                        return false;
        return true;
}

static bool put_labels(writer_t *w, const char *name, const bl_strvec_t *keys, const bl_strvec_t *values) {
        avro_value_t map, element;
        if (keys->count != values->count)
                return put_fail(w, BL_ERR_INVALID_ARG, name, "as many keys as values expected");
        if (!field(w, name, &map))
                return false;
        for (size_t i = 0; i < keys->count; i++)
                if (!set_ok(w, name, avro_value_add(&map, keys->items[i], &element, NULL, NULL)) ||
                    !set_string(w, name, &element, values->items[i]))
                        return false;
        return true;
}

static bool put_rationale(writer_t *w, const char *name, const bl_criterion_t *criteria, size_t count) {
        avro_value_t array, element;
        if (!field(w, name, &array))
                return false;
        for (size_t i = 0; i < count; i++) {
                writer_t criterion;
                if (!set_ok(w, name, avro_value_append(&array, &element, NULL)))
                        return false;
                criterion = nested(w, &element, "Criterion");
                if (!put_string(&criterion, "name", criteria[i].name) ||
                    !put_double(&criterion, "raw", criteria[i].raw) ||
                    !put_double(&criterion, "normalised", criteria[i].normalised) ||
                    !put_double(&criterion, "weight", criteria[i].weight) ||
                    !put_double(&criterion, "contribution", criteria[i].contribution) || !complete(&criterion))
                        return false;
        }
        return true;
}

static bool put_last_error(writer_t *w, const bl_item_t *item) {
        avro_value_t value;
        writer_t error;
        if (!branch(w, "last_error", !item->has_last_error, &value))
                return false;
        if (!item->has_last_error)
                return true;
        error = nested(w, &value, "TaskError");
        return put_string(&error, "code", item->error_code) && put_string(&error, "message", item->error_message) &&
               put_bool(&error, "retryable", item->error_retryable) && complete(&error);
}

/* ---- BacklogItem ---------------------------------------------------------- */

static bool put_item_identity(writer_t *w, const bl_item_t *item) {
        return put_string(w, "task_id", item->task_id) && put_symbol(w, "state", bl_state_name(item->state)) &&
               put_long(w, "seq", item->seq) && put_int(w, "attempt", item->attempt) &&
               put_opt_int(w, "max_attempts", item->max_attempts != 0, item->max_attempts) &&
               put_string(w, "task_type", item->task_type) && put_string(w, "domain", item->domain) &&
               put_opt_string(w, "tenant", item->tenant) &&
               put_string(w, "sla_class", item->sla_class ? item->sla_class : "standard") &&
               put_double(w, "business_value", item->business_value) && put_double(w, "risk", item->risk) &&
               put_bool(w, "placeholder", item->placeholder);
}

static bool put_item_times(writer_t *w, const bl_item_t *item) {
        return put_long(w, "submitted_at", item->submitted_at_ms) && put_opt_time(w, "deadline", item->deadline_ms) &&
               put_opt_time(w, "not_before", item->not_before_ms) &&
               put_opt_time(w, "data_ready_at", item->data_ready_at_ms) &&
               put_long(w, "state_since", item->state_since_ms) &&
               put_opt_time(w, "ready_since", item->ready_since_ms) &&
               put_opt_time(w, "lease_expires_at", item->lease_expires_at_ms) &&
               put_opt_time(w, "retry_at", item->retry_at_ms) && put_opt_time(w, "terminal_at", item->terminal_at_ms);
}

static bool put_item_relations(writer_t *w, const bl_item_t *item, bool with_payload) {
        return put_strvec(w, "depends_on", &item->depends_on) && put_strvec(w, "pending_deps", &item->pending_deps) &&
               put_strvec(w, "dependents", &item->dependents) &&
               put_bool(w, "approval_required", item->approval_required) && put_bool(w, "approved", item->approved) &&
               put_labels(w, "labels", &item->label_keys, &item->label_values) &&
               put_opt_bytes(w, "payload", with_payload && item->has_payload, item->payload, item->payload_size) &&
               put_opt_string(w, "traceparent", item->traceparent) && put_last_error(w, item) &&
               put_strvec(w, "recent_event_ids", &item->recent_event_ids);
}

static bool put_item(writer_t *w, const bl_item_t *item, bool with_payload) {
        return put_item_identity(w, item) && put_item_times(w, item) && put_item_relations(w, item, with_payload) &&
               complete(w);
}

/* ---- Transition, DispatchDecision, DependencyNotice ------------------------ */

static bool put_opt_item(writer_t *w, const char *name, const bl_item_t *item, bool with_payload) {
        avro_value_t value;
        writer_t embedded;
        if (!branch(w, name, item == NULL, &value))
                return false;
        if (!item)
                return true;
        embedded = nested(w, &value, "Transition.item");
        return put_item(&embedded, item, with_payload);
}

static bool put_origin(writer_t *w, const bl_event_origin_t *origin) {
        return put_opt_string(w, "source_topic", origin ? origin->topic : NULL) &&
               put_opt_int(w, "source_partition", origin != NULL, origin ? origin->partition : 0) &&
               put_opt_long(w, "source_offset", origin != NULL, origin ? origin->offset : 0);
}

static bool put_transition(writer_t *w, const bl_transition_t *t, const bl_item_t *item_after, bool with_payload,
                           const char *instance) {
        return put_string(w, "task_id", t->task_id) && put_long(w, "seq", t->seq) &&
               put_opt_state(w, "from_state", t->has_from, t->from) &&
               put_symbol(w, "to_state", bl_state_name(t->to)) && put_string(w, "cause", t->cause) &&
               put_opt_string(w, "reason", t->reason) && put_opt_string(w, "event_id", t->event_id) &&
               put_int(w, "attempt", t->attempt) && put_long(w, "at", t->at_ms) &&
               put_opt_time(w, "occurred_at", t->occurred_at_ms) && put_opt_string(w, "dispatch_id", t->dispatch_id) &&
               put_opt_string(w, "policy", t->policy) && put_opt_double(w, "score", t->has_score, t->score) &&
               put_origin(w, t->origin) && put_string(w, "instance", instance) &&
               put_rationale(w, "rationale", t->rationale, t->rationale_count) &&
               put_opt_item(w, "item", item_after, with_payload) && complete(w);
}

static bool put_dispatch(writer_t *w, const bl_dispatch_t *d) {
        const bl_item_t *item = d->item;
        return put_string(w, "task_id", item->task_id) && put_int(w, "attempt", item->attempt) &&
               put_string(w, "dispatch_id", d->dispatch_id) && put_string(w, "domain", item->domain) &&
               put_string(w, "task_type", item->task_type) && put_opt_string(w, "tenant", item->tenant) &&
               put_double(w, "score", d->score) && put_rationale(w, "rationale", d->rationale, d->rationale_count) &&
               put_string(w, "policy_name", d->policy_name) && put_string(w, "policy_version", d->policy_version) &&
               put_long(w, "decided_at", d->decided_at_ms) && put_long(w, "lease_expires_at", item->lease_expires_at_ms) &&
               put_opt_time(w, "deadline", item->deadline_ms) &&
               put_labels(w, "labels", &item->label_keys, &item->label_values) &&
               put_opt_bytes(w, "payload", item->has_payload, item->payload, item->payload_size) && complete(w);
}

static bool put_notice(writer_t *w, const bl_notice_t *n) {
        return put_symbol(w, "kind", n->is_outcome ? "OUTCOME" : "WAITING") &&
               put_string(w, "to_task_id", n->to_task_id) && put_string(w, "from_task_id", n->from_task_id) &&
               put_opt_state(w, "outcome", n->is_outcome, n->outcome) && put_long(w, "at", n->at_ms) && complete(w);
}

/* ---- framing ---------------------------------------------------------------- */

void bl_records_buffer_free(bl_records_buffer_t *buffer) {
        if (buffer->writer)
                avro_writer_free(buffer->writer);
        free(buffer->bytes);
        memset(buffer, 0, sizeof(*buffer));
}

static bool buffer_reserve(bl_records_buffer_t *out, size_t capacity) {
        unsigned char *bytes;
        if (capacity <= out->capacity)
                return true;
        if (capacity < out->capacity * 2)
                capacity = out->capacity * 2;
        bytes = realloc(out->bytes, capacity);
        if (!bytes)
                return false;
        out->bytes = bytes;
        out->capacity = capacity;
        return true;
}

static int write_body(bl_records_buffer_t *out, avro_value_t *value) {
        avro_writer_memory_set_dest(out->writer, (const char *)out->bytes + BL_WIRE_HEADER_SIZE,
                                    (int64_t)(out->capacity - BL_WIRE_HEADER_SIZE));
        return avro_value_write(out->writer, value);
}

/* Writes @p value after the header: in one pass when the buffer is big enough, else again after growing it. */
static bl_err_t write_framed(avro_value_t *value, int32_t schema_id, bl_records_buffer_t *out, char *errstr,
                             size_t errstr_size) {
        size_t body_size;
        int rc;
        if (!buffer_reserve(out, BUFFER_MIN_BYTES) ||
            (!out->writer && !(out->writer = avro_writer_memory((const char *)out->bytes, 0))))
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        rc = write_body(out, value);
        if (rc == ENOSPC) {
                if (avro_value_sizeof(value, &body_size))
                        return bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH, "%s", avro_strerror());
                if (!buffer_reserve(out, BL_WIRE_HEADER_SIZE + body_size))
                        return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                rc = write_body(out, value);
        }
        if (rc)
                return bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH, "%s", avro_strerror());
        bl_wire_write_header(out->bytes, schema_id);
        out->size = BL_WIRE_HEADER_SIZE + (size_t)avro_writer_tell(out->writer);
        return BL_OK;
}

/* A writer over @p schema's reset value, which must be the record @p name. */
static bool start(writer_t *w, bl_schema_t *schema, const char *name, bl_err_t *err, char *errstr,
                  size_t errstr_size) {
        writer_t fresh = {schema->value, name, 0, err, errstr, errstr_size};
        *w = fresh;
        *err = BL_OK;
        if (avro_typeof(schema->avro) != AVRO_RECORD || strcmp(avro_schema_name(schema->avro), name)) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH, "schema id %d is not a %s record",
                                  (int)schema->id, name);
                return false;
        }
        avro_value_reset(&schema->value);
        return true;
}

bl_err_t bl_records_encode_item(bl_schema_t *schema, int32_t schema_id, const bl_item_t *item, bool with_payload,
                                bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        writer_t w;
        bl_err_t err;
        if (!start(&w, schema, "BacklogItem", &err, errstr, errstr_size) || !put_item(&w, item, with_payload))
                return err;
        return write_framed(&schema->value, schema_id, out, errstr, errstr_size);
}

bl_err_t bl_records_encode_transition(bl_schema_t *schema, int32_t schema_id, const bl_transition_t *transition,
                                      const bl_item_t *item_after, bool with_payload, const char *instance,
                                      bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        writer_t w;
        bl_err_t err;
        if (!start(&w, schema, "Transition", &err, errstr, errstr_size) ||
            !put_transition(&w, transition, item_after, with_payload, instance))
                return err;
        return write_framed(&schema->value, schema_id, out, errstr, errstr_size);
}

bl_err_t bl_records_encode_dispatch(bl_schema_t *schema, int32_t schema_id, const bl_dispatch_t *dispatch,
                                    bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        writer_t w;
        bl_err_t err;
        if (!start(&w, schema, "DispatchDecision", &err, errstr, errstr_size) || !put_dispatch(&w, dispatch))
                return err;
        return write_framed(&schema->value, schema_id, out, errstr, errstr_size);
}

bl_err_t bl_records_encode_notice(bl_schema_t *schema, int32_t schema_id, const bl_notice_t *notice,
                                  bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        writer_t w;
        bl_err_t err;
        if (!start(&w, schema, "DependencyNotice", &err, errstr, errstr_size) || !put_notice(&w, notice))
                return err;
        return write_framed(&schema->value, schema_id, out, errstr, errstr_size);
}

/* ==== the pipeline's encoder =============================================== */

struct bl_records_s {
        bl_schema_t *item_schema;
        bl_schema_t *transition_schema;
        bl_schema_t *dispatch_schema;
        bl_schema_t *notice_schema;
        bl_records_ids_t ids;
        char *instance;
        bl_records_buffer_t buffer;
        char last_error[256];
};

void bl_records_destroy(bl_records_t *records) {
        if (!records)
                return;
        bl_schema_free(records->item_schema);
        bl_schema_free(records->transition_schema);
        bl_schema_free(records->dispatch_schema);
        bl_schema_free(records->notice_schema);
        bl_records_buffer_free(&records->buffer);
        free(records->instance);
        free(records);
}

/* A copy of the newest catalog version of @p contract with a value of its own, untouched by decoding. */
static bl_schema_t *newest(bl_schemas_t *schemas, const char *contract, char *errstr, size_t errstr_size) {
        bl_schema_t *schema = bl_schemas_private_copy(schemas, contract, 0);
        if (!schema)
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "the schemas have no usable %s contract", contract);
        return schema;
}

/* An item with every field set, so that every union takes its non-null branch once. */
static bl_item_t *sample_item(void) {
        bl_item_t *item = bl_item_new("records.self-check", 0);
        if (!item)
                return NULL;
        item->task_type = strdup("check");
        item->domain = strdup("check");
        item->tenant = strdup("check");
        item->traceparent = strdup("check");
        item->error_code = strdup("check");
        item->error_message = strdup("check");
        item->has_last_error = true;
        item->max_attempts = 1;
        item->deadline_ms = item->not_before_ms = item->data_ready_at_ms = item->ready_since_ms = 1;
        item->lease_expires_at_ms = item->retry_at_ms = item->terminal_at_ms = 1;
        if (!item->task_type || !item->domain || !item->tenant || !item->traceparent || !item->error_code ||
            !item->error_message || !bl_strvec_push(&item->depends_on, "check") ||
            !bl_strvec_push(&item->label_keys, "check") || !bl_strvec_push(&item->label_values, "check")) {
                bl_item_destroy(item);
                return NULL;
        }
        return item;
}

/* Encodes one record of each kind: the contracts and this code agree, or start-up stops here. */
static bl_err_t self_check(bl_records_t *records, char *errstr, size_t errstr_size) {
        bl_item_t *item = sample_item();
        bl_criterion_t criterion = {"check", 1, 1, 1, 1};
        bl_event_origin_t origin = {"check", 0, 0, NULL};
        bl_transition_t transition = {.task_id = "check", .has_from = true, .cause = "check", .reason = "check",
                                      .event_id = "check", .occurred_at_ms = 1, .dispatch_id = "check",
                                      .policy = "check", .has_score = true, .rationale = &criterion,
                                      .rationale_count = 1, .origin = &origin};
        bl_dispatch_t dispatch = {.item = item, .dispatch_id = "check", .rationale = &criterion,
                                  .rationale_count = 1, .policy_name = "check", .policy_version = "check"};
        bl_notice_t notice = {.is_outcome = true, .to_task_id = "check", .from_task_id = "check",
                              .outcome = BL_STATE_COMPLETED};
        bl_records_buffer_t *out = &records->buffer;
        bl_err_t err;
        if (!item)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        err = bl_records_encode_item(records->item_schema, records->ids.item, item, true, out, errstr, errstr_size);
        if (!err)
                err = bl_records_encode_transition(records->transition_schema, records->ids.transition, &transition,
                                                   item, true, "check", out, errstr, errstr_size);
        if (!err)
                err = bl_records_encode_dispatch(records->dispatch_schema, records->ids.dispatch, &dispatch, out,
                                                 errstr, errstr_size);
        if (!err)
                err = bl_records_encode_notice(records->notice_schema, records->ids.notice, &notice, out, errstr,
                                               errstr_size);
        bl_item_destroy(item);
        return err;
}

bl_records_t *bl_records_new(bl_schemas_t *schemas, const bl_records_ids_t *ids, const char *instance, char *errstr,
                             size_t errstr_size) {
        bl_records_t *records = calloc(1, sizeof(*records));
        if (!records || !(records->instance = strdup(instance))) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                goto fail;
        }
        if (!(records->item_schema = newest(schemas, "backlog_item", errstr, errstr_size)) ||
            !(records->transition_schema = newest(schemas, "transition", errstr, errstr_size)) ||
            !(records->dispatch_schema = newest(schemas, "dispatch_decision", errstr, errstr_size)) ||
            !(records->notice_schema = newest(schemas, "dependency_notice", errstr, errstr_size)))
                goto fail;
        if (ids) {
                records->ids = *ids;
        } else {
                records->ids.item = records->item_schema->id;
                records->ids.transition = records->transition_schema->id;
                records->ids.dispatch = records->dispatch_schema->id;
                records->ids.notice = records->notice_schema->id;
        }
        if (self_check(records, errstr, errstr_size) != BL_OK)
                goto fail;
        return records;
fail:
        bl_records_destroy(records);
        return NULL;
}

/* Hands out the buffer on success; keeps the message otherwise. */
static bl_err_t handed_out(bl_records_t *records, bl_err_t err, const void **value, size_t *size) {
        if (err)
                return err;
        records->last_error[0] = '\0';
        *value = records->buffer.bytes;
        *size = records->buffer.size;
        return BL_OK;
}

bl_err_t bl_records_item(bl_records_t *records, const bl_item_t *item, bool with_payload, const void **value,
                         size_t *size) {
        bl_err_t err = bl_records_encode_item(records->item_schema, records->ids.item, item, with_payload,
                                              &records->buffer, records->last_error, sizeof(records->last_error));
        return handed_out(records, err, value, size);
}

bl_err_t bl_records_transition(bl_records_t *records, const bl_transition_t *transition, const bl_item_t *item_after,
                               bool with_payload, const void **value, size_t *size) {
        bl_err_t err = bl_records_encode_transition(records->transition_schema, records->ids.transition, transition,
                                                    item_after, with_payload, records->instance, &records->buffer,
                                                    records->last_error, sizeof(records->last_error));
        return handed_out(records, err, value, size);
}

bl_err_t bl_records_dispatch(bl_records_t *records, const bl_dispatch_t *dispatch, const void **value, size_t *size) {
        bl_err_t err = bl_records_encode_dispatch(records->dispatch_schema, records->ids.dispatch, dispatch,
                                                  &records->buffer, records->last_error, sizeof(records->last_error));
        return handed_out(records, err, value, size);
}

bl_err_t bl_records_notice(bl_records_t *records, const bl_notice_t *notice, const void **value, size_t *size) {
        bl_err_t err = bl_records_encode_notice(records->notice_schema, records->ids.notice, notice, &records->buffer,
                                                records->last_error, sizeof(records->last_error));
        return handed_out(records, err, value, size);
}

const char *bl_records_last_error(const bl_records_t *records) {
        return records->last_error;
}

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

/* A string without NUL inside, borrowed from the value. */
static bool as_string(reader_t *r, const char *name, avro_value_t *value, const char **text) {
        size_t size = 0;
        if (avro_value_get_type(value) != AVRO_STRING)
                return incompatible(r, name, "expected a string");
        avro_value_get_string(value, text, &size); /* size counts the terminating NUL */
        if (size > 0 && memchr(*text, 0, size - 1))
                return incompatible(r, name, "contains a NUL byte");
        return true;
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

static bool as_strvec(reader_t *r, const char *name, avro_value_t *value, bl_strvec_t *vec) {
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
                if (!bl_strvec_push(vec, text))
                        return out_of_memory(r);
        }
        return true;
}

static bool as_labels(reader_t *r, const char *name, avro_value_t *value, bl_strvec_t *keys, bl_strvec_t *values) {
        size_t count = 0;
        if (avro_value_get_type(value) != AVRO_MAP)
                return incompatible(r, name, "expected a map");
        avro_value_get_size(value, &count);
        for (size_t i = 0; i < count; i++) {
                avro_value_t element;
                const char *key, *text;
                avro_value_get_by_index(value, i, &element, &key);
                if (!unwrap(&element))
                        return incompatible(r, name, "null value");
                if (!as_string(r, name, &element, &text))
                        return false;
                if (!bl_strvec_push(keys, key) || !bl_strvec_push(values, text))
                        return out_of_memory(r);
        }
        return true;
}

/* ---- fields: absent keeps the caller's default ------------------------------ */

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

static bool read_labels(reader_t *r, const char *name, bl_strvec_t *keys, bl_strvec_t *values) {
        avro_value_t value;
        lookup_t found = find(r, name, OPTIONAL, &value, NULL);
        return found == FOUND ? as_labels(r, name, &value, keys, values) : found == ABSENT;
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

/* task_type and domain are "" in a placeholder's snapshot. */
static void empty_to_null(char **slot) {
        if (*slot && !**slot) {
                free(*slot);
                *slot = NULL;
        }
}

static bool read_last_error(reader_t *r, bl_item_t *item) {
        reader_t error;
        lookup_t found = find_record(r, "last_error", OPTIONAL, "TaskError", &error);
        if (found != FOUND)
                return found == ABSENT;
        item->has_last_error = true;
        return read_text(&error, "code", REQUIRED, &item->error_code) &&
               read_text(&error, "message", REQUIRED, &item->error_message) &&
               read_bool(&error, "retryable", &item->error_retryable);
}

static bool read_item_identity(reader_t *r, bl_item_t *item) {
        bool ok = read_state(r, "state", REQUIRED, &item->state, NULL) &&
                  read_long(r, "seq", REQUIRED, &item->seq, NULL) &&
                  read_int(r, "attempt", REQUIRED, &item->attempt, NULL) &&
                  read_int(r, "max_attempts", OPTIONAL, &item->max_attempts, NULL) &&
                  read_text(r, "task_type", REQUIRED, &item->task_type) &&
                  read_text(r, "domain", REQUIRED, &item->domain) && read_text(r, "tenant", OPTIONAL, &item->tenant) &&
                  read_text(r, "sla_class", OPTIONAL, &item->sla_class) &&
                  read_double(r, "business_value", REQUIRED, &item->business_value, NULL) &&
                  read_double(r, "risk", REQUIRED, &item->risk, NULL) &&
                  read_bool(r, "placeholder", &item->placeholder);
        empty_to_null(&item->task_type);
        empty_to_null(&item->domain);
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
        return read_strvec(r, "depends_on", &item->depends_on) &&
               read_strvec(r, "pending_deps", &item->pending_deps) &&
               read_strvec(r, "dependents", &item->dependents) &&
               read_bool(r, "approval_required", &item->approval_required) &&
               read_bool(r, "approved", &item->approved) &&
               read_labels(r, "labels", &item->label_keys, &item->label_values) &&
               read_bytes(r, "payload", &item->payload, &item->payload_size, &item->has_payload) &&
               read_text(r, "traceparent", OPTIONAL, &item->traceparent) && read_last_error(r, item) &&
               read_strvec(r, "recent_event_ids", &item->recent_event_ids);
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

/* Decodes @p value into its writer schema's value, which must be the record @p name; @p r reads it. */
static bool decode_value(bl_schemas_t *schemas, const void *value, size_t size, const char *name, reader_t *r,
                         bl_record_error_t *error) {
        const unsigned char *body;
        size_t body_size;
        int32_t schema_id;
        bl_schema_t *writer;
        bl_record_error_clear(error);
        if (!bl_wire_parse(value, size, &schema_id, &body, &body_size, error) ||
            !writer_schema(schemas, schema_id, name, &writer, error) ||
            !bl_avro_bounds_check(writer->avro, body, body_size, error) ||
            !read_avro(writer, body, body_size, error))
                return false;
        r->record = writer->value;
        r->path = name;
        r->error = error;
        return true;
}

bl_item_t *bl_records_decode_item(bl_schemas_t *schemas, const void *value, size_t size, int32_t partition,
                                  bl_record_error_t *error) {
        reader_t r;
        return decode_value(schemas, value, size, "BacklogItem", &r, error) ? read_item(&r, partition) : NULL;
}

/* ---- Transition ------------------------------------------------------------------ */

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

static bool read_transition(reader_t *r, bl_transition_record_t *record, int32_t partition) {
        bl_transition_t *t = &record->transition;
        t->occurred_at_ms = BL_NO_TIME;
        return read_text(r, "task_id", REQUIRED, owned(&t->task_id)) && read_long(r, "seq", REQUIRED, &t->seq, NULL) &&
               read_state(r, "from_state", OPTIONAL, &t->from, &t->has_from) &&
               read_state(r, "to_state", REQUIRED, &t->to, NULL) && read_text(r, "cause", REQUIRED, owned(&t->cause)) &&
               read_text(r, "reason", OPTIONAL, owned(&t->reason)) &&
               read_text(r, "event_id", OPTIONAL, owned(&t->event_id)) &&
               read_int(r, "attempt", REQUIRED, &t->attempt, NULL) && read_long(r, "at", REQUIRED, &t->at_ms, NULL) &&
               read_long(r, "occurred_at", OPTIONAL, &t->occurred_at_ms, NULL) &&
               read_text(r, "dispatch_id", OPTIONAL, owned(&t->dispatch_id)) &&
               read_text(r, "policy", OPTIONAL, owned(&t->policy)) &&
               read_double(r, "score", OPTIONAL, &t->score, &t->has_score) && read_origin(r, record) &&
               read_text(r, "instance", REQUIRED, &record->instance) &&
               read_rationale(r, "rationale", &t->rationale, &t->rationale_count) &&
               read_item_after(r, record, partition);
}

bl_transition_record_t *bl_records_decode_transition(bl_schemas_t *schemas, const void *value, size_t size,
                                                     int32_t partition, bl_record_error_t *error) {
        reader_t r;
        bl_transition_record_t *record;
        if (!decode_value(schemas, value, size, "Transition", &r, error))
                return NULL;
        if (!(record = calloc(1, sizeof(*record)))) {
                out_of_memory(&r);
                return NULL;
        }
        if (read_transition(&r, record, partition))
                return record;
        bl_transition_record_destroy(record);
        return NULL;
}

/* ---- DispatchDecision ----------------------------------------------------------- */

void bl_dispatch_record_destroy(bl_dispatch_record_t *record) {
        if (!record)
                return;
        free_owned(record->dispatch.dispatch_id);
        free_owned(record->dispatch.policy_name);
        free_owned(record->dispatch.policy_version);
        free_rationale(record->dispatch.rationale, record->dispatch.rationale_count);
        bl_item_destroy(record->item);
        free(record);
}

static bool read_dispatch(reader_t *r, bl_dispatch_record_t *record) {
        bl_dispatch_t *d = &record->dispatch;
        bl_item_t *item = record->item;
        return read_int(r, "attempt", REQUIRED, &item->attempt, NULL) &&
               read_text(r, "dispatch_id", REQUIRED, owned(&d->dispatch_id)) &&
               read_text(r, "domain", REQUIRED, &item->domain) && read_text(r, "task_type", REQUIRED, &item->task_type) &&
               read_text(r, "tenant", OPTIONAL, &item->tenant) && read_double(r, "score", REQUIRED, &d->score, NULL) &&
               read_rationale(r, "rationale", &d->rationale, &d->rationale_count) &&
               read_text(r, "policy_name", REQUIRED, owned(&d->policy_name)) &&
               read_text(r, "policy_version", REQUIRED, owned(&d->policy_version)) &&
               read_long(r, "decided_at", REQUIRED, &d->decided_at_ms, NULL) &&
               read_long(r, "lease_expires_at", REQUIRED, &item->lease_expires_at_ms, NULL) &&
               read_long(r, "deadline", OPTIONAL, &item->deadline_ms, NULL) &&
               read_labels(r, "labels", &item->label_keys, &item->label_values) &&
               read_bytes(r, "payload", &item->payload, &item->payload_size, &item->has_payload);
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
