/*
 * records_encode.c: backlogd's own records, from C structs to
 * Confluent-framed Avro bytes, written directly (contract/avro_out.h).
 *
 * Each encoder names the contract's fields in the contract's order; the
 * writer checks every name and type against the compiled shape of the
 * schema as it writes, and a record ends only when every field of the
 * shape was written. A contract that has grown a field, lost one, changed a
 * type or moved a field is reported as BL_ERR_MISMATCH with the field's
 * name, never written as garbage. bl_records_new encodes one record of
 * each kind at start-up, so such a contract stops the process there.
 *
 * Why not avro-c's generic values: filling one by name and serialising it
 * cost 56 % of the pipeline thread's time in bench/e2e (a strcmp per schema
 * field for every field set, then a second walk to write). Here each field
 * costs one strcmp against the name expected next and the bytes themselves.
 *
 * Invariants: nothing is allocated per record once the buffer has grown to
 * the largest record; a failed encode leaves the buffer valid for the next.
 * Thread: the caller's; one bl_records_t per thread.
 */
#include "contract/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/avro_out.h"
#include "contract/wire.h"

/*
 * Where a snapshot's item lies in its buffer, recorded while it is encoded,
 * so that the transition of the same change copies those bytes instead of
 * encoding the item again (Avro writes a nested record as its fields alone).
 * Without the payload, the payload's bytes are replaced by its null branch.
 */
typedef struct item_bytes_s {
        const bl_item_t *item;
        const bl_avro_out_t *buffer;
        size_t body_start, payload_start, payload_end, body_end;
        int payload_null_branch; /* -1: the payload cannot be left out by splicing */
} item_bytes_t;

typedef struct writer_s {
        bl_avro_out_t *out;
        bl_avro_shape_t *shape;
        size_t next;                /* index of the field the schema has next */
        const char *path;           /* "BacklogItem", "Transition.item", ... for messages */
        item_bytes_t *marks;        /* a snapshot's: filled in as it is written, or NULL */
        const item_bytes_t *splice; /* a transition's: the item's bytes to copy, or NULL */
        bl_err_t *err;
        char *errstr;
        size_t errstr_size;
} writer_t;

static bool put_fail(writer_t *w, bl_err_t err, const char *field, const char *what) {
        *w->err = bl_err_set(w->errstr, w->errstr_size, err, "%s.%s: %s", w->path, field, what);
        return false;
}

/* A writer for a record nested in @p parent's (an embedded item, a criterion, an error). */
static writer_t nested(const writer_t *parent, bl_avro_shape_t *shape, const char *path) {
        writer_t w = {parent->out, shape, 0, path, NULL, NULL, parent->err, parent->errstr, parent->errstr_size};
        return w;
}

/* Why the schema's next field is not @p name. */
static bl_avro_field_t *out_of_step(writer_t *w, const char *name) {
        char what[160];
        int at = bl_avro_shape_index(w->shape, name);
        if (at < 0) {
                put_fail(w, BL_ERR_MISMATCH, name, "not in the schema");
        } else if ((size_t)at > w->next) {
                snprintf(what, sizeof(what), "the schema has %s before it, which this backlogd does not write",
                         w->shape->fields[w->next].name);
                put_fail(w, BL_ERR_MISMATCH, name, what);
        } else {
                put_fail(w, BL_ERR_MISMATCH, name, "earlier in the schema than this backlogd writes it");
        }
        return NULL;
}

/*
 * Starts field @p name, which must be the schema's next, of @p type: writes
 * its union branch, null or the value's. The caller writes the value unless
 * @p null. NULL on a mismatch.
 */
static bl_avro_field_t *begin(writer_t *w, const char *name, avro_type_t type, bool null) {
        bl_avro_field_t *field;
        if (w->next >= w->shape->count)
                return out_of_step(w, name);
        field = &w->shape->fields[w->next];
        if (field->matched_name != name) { /* the encoders pass literals: compared once per call site */
                if (strcmp(field->name, name))
                        return out_of_step(w, name);
                field->matched_name = name;
        }
        w->next++;
        if (field->type != type) {
                put_fail(w, BL_ERR_MISMATCH, name, "of another type in the schema than this backlogd writes");
                return NULL;
        }
        if (field->null_branch < 0) {
                if (null)
                        put_fail(w, BL_ERR_MISMATCH, name, "null, and the schema does not allow it");
                return null ? NULL : field;
        }
        bl_avro_out_long(w->out, null ? field->null_branch : field->value_branch);
        return field;
}

/* Every field of the record was written: the schema has nothing this code does not know. */
static bool complete(writer_t *w) {
        if (w->next < w->shape->count)
                return put_fail(w, BL_ERR_MISMATCH, w->shape->fields[w->next].name,
                                "in the schema, and this backlogd does not write it");
        return true;
}

/* The enum's index of @p symbol; the symbols are static strings (bl_state_name), so memoised by pointer. */
static bool put_symbol_value(writer_t *w, const char *name, bl_avro_field_t *field, const char *symbol) {
        int index = -1, slot = 0;
        bl_avro_symbol_memo_t *memo = field->symbols;
        for (; slot < BL_AVRO_SYMBOL_MEMO && memo->seen[slot]; slot++)
                if (memo->seen[slot] == symbol) {
                        bl_avro_out_long(w->out, memo->indexes[slot]);
                        return true;
                }
        if ((index = avro_schema_enum_get_by_name(field->enum_schema, symbol)) < 0)
                return put_fail(w, BL_ERR_MISMATCH, name, "the enum lacks the symbol");
        if (slot < BL_AVRO_SYMBOL_MEMO) {
                memo->seen[slot] = symbol;
                memo->indexes[slot] = index;
        }
        bl_avro_out_long(w->out, index);
        return true;
}

/* A required string; NULL is written as "". */
static bool put_string(writer_t *w, const char *name, const char *text) {
        if (!begin(w, name, AVRO_STRING, false))
                return false;
        bl_avro_out_string(w->out, text ? text : "");
        return true;
}

static bool put_opt_string(writer_t *w, const char *name, const char *text) {
        if (!begin(w, name, AVRO_STRING, text == NULL))
                return false;
        if (text)
                bl_avro_out_string(w->out, text);
        return true;
}

static bool put_long(writer_t *w, const char *name, int64_t number) {
        if (!begin(w, name, AVRO_INT64, false))
                return false;
        bl_avro_out_long(w->out, number);
        return true;
}

static bool put_opt_long(writer_t *w, const char *name, bool present, int64_t number) {
        if (!begin(w, name, AVRO_INT64, !present))
                return false;
        if (present)
                bl_avro_out_long(w->out, number);
        return true;
}

/* An optional timestamp: BL_NO_TIME is null. */
static bool put_opt_time(writer_t *w, const char *name, int64_t ms) {
        return put_opt_long(w, name, ms != BL_NO_TIME, ms);
}

static bool put_int(writer_t *w, const char *name, int32_t number) {
        if (!begin(w, name, AVRO_INT32, false))
                return false;
        bl_avro_out_long(w->out, number);
        return true;
}

static bool put_opt_int(writer_t *w, const char *name, bool present, int32_t number) {
        if (!begin(w, name, AVRO_INT32, !present))
                return false;
        if (present)
                bl_avro_out_long(w->out, number);
        return true;
}

static bool put_double(writer_t *w, const char *name, double number) {
        if (!begin(w, name, AVRO_DOUBLE, false))
                return false;
        bl_avro_out_double(w->out, number);
        return true;
}

static bool put_opt_double(writer_t *w, const char *name, bool present, double number) {
        if (!begin(w, name, AVRO_DOUBLE, !present))
                return false;
        if (present)
                bl_avro_out_double(w->out, number);
        return true;
}

static bool put_bool(writer_t *w, const char *name, bool flag) {
        if (!begin(w, name, AVRO_BOOLEAN, false))
                return false;
        bl_avro_out_boolean(w->out, flag);
        return true;
}

static bool put_symbol(writer_t *w, const char *name, const char *symbol) {
        bl_avro_field_t *field = begin(w, name, AVRO_ENUM, false);
        return field && put_symbol_value(w, name, field, symbol);
}

static bool put_opt_state(writer_t *w, const char *name, bool present, bl_state_t state) {
        bl_avro_field_t *field = begin(w, name, AVRO_ENUM, !present);
        return field && (!present || put_symbol_value(w, name, field, bl_state_name(state)));
}

static bool put_opt_bytes(writer_t *w, const char *name, bool present, const void *bytes, size_t size) {
        if (!begin(w, name, AVRO_BYTES, !present))
                return false;
        if (present)
                bl_avro_out_bytes(w->out, bytes ? bytes : "", size);
        return true;
}

/* An array or a map of @p element: its field, then the one block's count (none when empty). */
static bl_avro_field_t *begin_block(writer_t *w, const char *name, avro_type_t type, avro_type_t element,
                                          size_t count) {
        bl_avro_field_t *field = begin(w, name, type, false);
        if (field && field->element != element) {
                put_fail(w, BL_ERR_MISMATCH, name, "has elements of another type in the schema");
                return NULL;
        }
        if (field && count)
                bl_avro_out_long(w->out, (int64_t)count);
        return field;
}

static bool put_strvec(writer_t *w, const char *name, const bl_strvec_t *vec) {
        if (!begin_block(w, name, AVRO_ARRAY, AVRO_STRING, vec->count))
                return false;
        for (size_t i = 0; i < vec->count; i++)
                bl_avro_out_string(w->out, vec->items[i]);
        bl_avro_out_long(w->out, 0);
        return true;
}

static bool put_event_ids(writer_t *w, const char *name, const bl_item_t *item) {
        if (!begin_block(w, name, AVRO_ARRAY, AVRO_STRING, item->recent_event_count))
                return false;
        const char *id = item->recent_event_ids;
        for (uint16_t i = 0; i < item->recent_event_count; i++, id += strlen(id) + 1)
                bl_avro_out_string(w->out, id);
        bl_avro_out_long(w->out, 0);
        return true;
}

static bool put_labels(writer_t *w, const char *name, const bl_labels_t *labels) {
        const char *value;
        if (!begin_block(w, name, AVRO_MAP, AVRO_STRING, labels->count))
                return false;
        for (const char *key = bl_labels_next(labels, NULL, &value); key; key = bl_labels_next(labels, key, &value)) {
                bl_avro_out_string(w->out, key);
                bl_avro_out_string(w->out, value);
        }
        bl_avro_out_long(w->out, 0);
        return true;
}

static bool put_rationale(writer_t *w, const char *name, const bl_criterion_t *criteria, size_t count) {
        bl_avro_field_t *field = begin_block(w, name, AVRO_ARRAY, AVRO_RECORD, count);
        if (!field)
                return false;
        for (size_t i = 0; i < count; i++) {
                writer_t criterion = nested(w, field->record, "Criterion");
                if (!put_string(&criterion, "name", criteria[i].name) ||
                    !put_double(&criterion, "raw", criteria[i].raw) ||
                    !put_double(&criterion, "normalised", criteria[i].normalised) ||
                    !put_double(&criterion, "weight", criteria[i].weight) ||
                    !put_double(&criterion, "contribution", criteria[i].contribution) || !complete(&criterion))
                        return false;
        }
        bl_avro_out_long(w->out, 0);
        return true;
}

static bool put_last_error(writer_t *w, const bl_item_cold_t *cold) {
        bl_avro_field_t *field = begin(w, "last_error", AVRO_RECORD, !cold->has_last_error);
        writer_t error;
        if (!field)
                return false;
        if (!cold->has_last_error)
                return true;
        error = nested(w, field->record, "TaskError");
        return put_string(&error, "code", cold->error_code) && put_string(&error, "message", cold->error_message) &&
               put_bool(&error, "retryable", cold->error_retryable) && complete(&error);
}

/* ---- BacklogItem, in the contract's field order ----------------------------- */

static bool put_item_identity(writer_t *w, const bl_item_t *item) {
        return put_string(w, "task_id", item->task_id) && put_symbol(w, "state", bl_state_name(item->state)) &&
               put_long(w, "seq", item->seq) && put_int(w, "attempt", item->attempt) &&
               put_opt_int(w, "max_attempts", item->max_attempts != 0, item->max_attempts) &&
               put_string(w, "task_type", item->kind->task_type) && put_string(w, "domain", item->kind->domain) &&
               put_opt_string(w, "tenant", item->kind->tenant) &&
               put_string(w, "sla_class", item->kind->sla_class ? item->kind->sla_class : "standard") &&
               put_double(w, "business_value", item->business_value) && put_double(w, "risk", item->risk);
}

static bool put_item_times(writer_t *w, const bl_item_t *item) {
        return put_long(w, "submitted_at", item->submitted_at_ms) && put_opt_time(w, "deadline", item->deadline_ms) &&
               put_opt_time(w, "not_before", item->not_before_ms) &&
               put_opt_time(w, "data_ready_at", item->data_ready_at_ms) &&
               put_long(w, "state_since", item->state_since_ms) &&
               put_opt_time(w, "ready_since", item->ready_since_ms) &&
               put_opt_time(w, "lease_expires_at", item->lease_expires_at_ms) &&
               put_opt_time(w, "retry_at", item->retry_at_ms);
}

/* The payload, its place noted when a snapshot is recorded for splicing. */
static bool put_payload(writer_t *w, const bl_item_t *item, bool with_payload) {
        size_t start = w->out->size;
        if (!put_opt_bytes(w, "payload", with_payload && item->has_payload, item->payload, item->payload_size))
                return false;
        if (w->marks) {
                w->marks->payload_start = start;
                w->marks->payload_end = w->out->size;
                w->marks->payload_null_branch = w->shape->fields[w->next - 1].null_branch;
        }
        return true;
}

static bool put_item_relations(writer_t *w, const bl_item_t *item, bool with_payload) {
        const bl_item_cold_t *cold = bl_item_cold(item);
        return put_strvec(w, "depends_on", &cold->depends_on) && put_strvec(w, "pending_deps", &cold->pending_deps) &&
               put_strvec(w, "dependents", &cold->dependents) &&
               put_bool(w, "approval_required", item->approval_required) && put_bool(w, "approved", item->approved) &&
               put_labels(w, "labels", &cold->labels) && put_payload(w, item, with_payload) &&
               put_opt_string(w, "traceparent", cold->traceparent) && put_last_error(w, cold) &&
               put_event_ids(w, "recent_event_ids", item) && put_opt_time(w, "terminal_at", item->terminal_at_ms) &&
               put_bool(w, "placeholder", item->placeholder);
}

static bool put_item(writer_t *w, const bl_item_t *item, bool with_payload) {
        if (w->marks)
                w->marks->body_start = w->out->size;
        if (!put_item_identity(w, item) || !put_item_times(w, item) || !put_item_relations(w, item, with_payload) ||
            !complete(w))
                return false;
        if (w->marks) {
                w->marks->body_end = w->out->size;
                w->marks->item = item;
                w->marks->buffer = w->out;
        }
        return true;
}

/* ---- Transition, DispatchDecision, DependencyNotice ------------------------ */

/* Whether the snapshot's bytes of @p item serve, with or without the payload. */
static bool can_copy(const item_bytes_t *from, const bl_item_t *item, bool with_payload) {
        bool payload_null = from->payload_end - from->payload_start <= 1; /* just the null branch */
        return from->item == item && (with_payload || payload_null || from->payload_null_branch >= 0);
}

/* The snapshot's item bytes, with or without its payload. */
static void copy_item(writer_t *w, const item_bytes_t *from, bool with_payload) {
        const unsigned char *bytes = from->buffer->bytes;
        if (with_payload || from->payload_end - from->payload_start <= 1) { /* as written, or no payload anyway */
                bl_avro_out_raw(w->out, bytes + from->body_start, from->body_end - from->body_start);
                return;
        }
        bl_avro_out_raw(w->out, bytes + from->body_start, from->payload_start - from->body_start);
        bl_avro_out_long(w->out, from->payload_null_branch);
        bl_avro_out_raw(w->out, bytes + from->payload_end, from->body_end - from->payload_end);
}

static bool put_opt_item(writer_t *w, const char *name, const bl_item_t *item, bool with_payload) {
        bl_avro_field_t *field = begin(w, name, AVRO_RECORD, item == NULL);
        writer_t embedded;
        if (!field)
                return false;
        if (!item)
                return true;
        if (w->splice && can_copy(w->splice, item, with_payload)) {
                copy_item(w, w->splice, with_payload);
                return true;
        }
        embedded = nested(w, field->record, "Transition.item");
        return put_item(&embedded, item, with_payload);
}

static bool put_origin(writer_t *w, const bl_event_origin_t *origin) {
        return put_opt_string(w, "source_topic", origin ? origin->topic : NULL) &&
               put_opt_int(w, "source_partition", origin != NULL, origin ? origin->partition : 0) &&
               put_opt_long(w, "source_offset", origin != NULL, origin ? origin->offset : 0);
}

/* Who decided (Transition v2, DispatchDecision v2): every field null or false when @p p is NULL. */
static bool put_provenance(writer_t *w, const bl_provenance_t *p) {
        bl_provenance_t none = bl_provenance_none();
        if (!p)
                p = &none;
        return put_opt_string(w, "decided_by", p->decided_by) && put_opt_string(w, "fallback", p->fallback) &&
               put_opt_int(w, "agent_rank", p->agent_rank > 0, p->agent_rank) &&
               put_opt_string(w, "agent_reason", p->agent_reason) &&
               put_opt_string(w, "consultation_id", p->consultation_id) &&
               put_opt_long(w, "consultation_latency_ms", p->consultation_latency_ms >= 0,
                            p->consultation_latency_ms) &&
               put_bool(w, "late", p->late) && put_bool(w, "probe", p->probe);
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
               put_opt_item(w, "item", item_after, with_payload) && put_opt_string(w, "actor", t->actor) &&
               put_provenance(w, t->provenance) && complete(w);
}

static bool put_dispatch(writer_t *w, const bl_dispatch_t *d) {
        const bl_item_t *item = d->item;
        const bl_item_cold_t *cold = bl_item_cold(item);
        return put_string(w, "task_id", item->task_id) && put_int(w, "attempt", item->attempt) &&
               put_string(w, "dispatch_id", d->dispatch_id) && put_string(w, "domain", item->kind->domain) &&
               put_string(w, "task_type", item->kind->task_type) && put_opt_string(w, "tenant", item->kind->tenant) &&
               put_double(w, "score", d->score) && put_rationale(w, "rationale", d->rationale, d->rationale_count) &&
               put_string(w, "policy_name", d->policy_name) && put_string(w, "policy_version", d->policy_version) &&
               put_long(w, "decided_at", d->decided_at_ms) &&
               put_long(w, "lease_expires_at", item->lease_expires_at_ms) &&
               put_opt_time(w, "deadline", item->deadline_ms) && put_labels(w, "labels", &cold->labels) &&
               put_opt_bytes(w, "payload", item->has_payload, item->payload, item->payload_size) &&
               put_symbol(w, "kind", d->cancel ? "CANCEL" : "DISPATCH") && put_opt_string(w, "actor", d->actor) &&
               put_opt_string(w, "cancel_reason", d->cancel_reason) && put_provenance(w, d->provenance) &&
               complete(w);
}

static bool put_notice(writer_t *w, const bl_notice_t *n) {
        return put_symbol(w, "kind", n->is_outcome ? "OUTCOME" : "WAITING") &&
               put_string(w, "to_task_id", n->to_task_id) && put_string(w, "from_task_id", n->from_task_id) &&
               put_opt_state(w, "outcome", n->is_outcome, n->outcome) && put_long(w, "at", n->at_ms) && complete(w);
}

/* ---- framing ---------------------------------------------------------------- */

void bl_records_buffer_free(bl_records_buffer_t *buffer) {
        bl_avro_out_free(buffer);
}

typedef enum { ITEM, TRANSITION, DISPATCH, NOTICE } record_kind_t;

static const char *const record_names[] = {"BacklogItem", "Transition", "DispatchDecision", "DependencyNotice"};

/* What one encode writes: the kind picks the struct. */
typedef struct record_s {
        record_kind_t kind;
        const bl_item_t *item; /* the item, or a transition's item after */
        bool with_payload;
        const bl_transition_t *transition;
        const char *instance;
        const bl_dispatch_t *dispatch;
        const bl_notice_t *notice;
        item_bytes_t *marks;        /* an item's: note where its bytes lie */
        const item_bytes_t *splice; /* a transition's: the snapshot of its item, already encoded */
} record_t;

static bool put_record(writer_t *w, const record_t *r) {
        switch (r->kind) {
        case ITEM:
                return put_item(w, r->item, r->with_payload);
        case TRANSITION:
                return put_transition(w, r->transition, r->item, r->with_payload, r->instance);
        case DISPATCH:
                return put_dispatch(w, r->dispatch);
        default:
                return put_notice(w, r->notice);
        }
}

/* Header and body of @p r into @p out, along @p shape, which must be the record's. */
static bl_err_t encode(bl_avro_shape_t *shape, int32_t schema_id, const record_t *r, bl_avro_out_t *out,
                       char *errstr, size_t errstr_size) {
        const char *name = record_names[r->kind];
        bl_err_t err = BL_OK;
        writer_t w = {out, shape, 0, name, r->marks, r->splice, &err, errstr, errstr_size};
        if (shape->matched_name != name) { /* record_names[] are static: compared once per shape */
                if (strcmp(shape->name, name))
                        return bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH, "schema id %d is not a %s record",
                                          (int)schema_id, name);
                shape->matched_name = name;
        }
        bl_avro_out_reset(out);
        if (bl_avro_out_reserve(out, BL_WIRE_HEADER_SIZE)) {
                bl_wire_write_header(out->bytes, schema_id);
                out->size = BL_WIRE_HEADER_SIZE;
        }
        if (!put_record(&w, r))
                return err;
        if (out->out_of_memory)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        return BL_OK;
}

/* The same, along a shape compiled for this call from @p schema. */
static bl_err_t encode_with_schema(bl_schema_t *schema, int32_t schema_id, const record_t *r, bl_avro_out_t *out,
                                   char *errstr, size_t errstr_size) {
        char why[200];
        bl_avro_shape_t *shape = bl_avro_shape_new(schema->avro, why, sizeof(why));
        bl_err_t err;
        if (!shape)
                return bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH, "schema id %d is not a %s record: %s",
                                  (int)schema->id, record_names[r->kind], why);
        err = encode(shape, schema_id, r, out, errstr, errstr_size);
        bl_avro_shape_free(shape);
        return err;
}

bl_err_t bl_records_encode_item(bl_schema_t *schema, int32_t schema_id, const bl_item_t *item, bool with_payload,
                                bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        record_t r = {.kind = ITEM, .item = item, .with_payload = with_payload};
        return encode_with_schema(schema, schema_id, &r, out, errstr, errstr_size);
}

bl_err_t bl_records_encode_transition(bl_schema_t *schema, int32_t schema_id, const bl_transition_t *transition,
                                      const bl_item_t *item_after, bool with_payload, const char *instance,
                                      bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        record_t r = {.kind = TRANSITION, .item = item_after, .with_payload = with_payload,
                      .transition = transition, .instance = instance};
        return encode_with_schema(schema, schema_id, &r, out, errstr, errstr_size);
}

bl_err_t bl_records_encode_dispatch(bl_schema_t *schema, int32_t schema_id, const bl_dispatch_t *dispatch,
                                    bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        record_t r = {.kind = DISPATCH, .dispatch = dispatch};
        return encode_with_schema(schema, schema_id, &r, out, errstr, errstr_size);
}

bl_err_t bl_records_encode_notice(bl_schema_t *schema, int32_t schema_id, const bl_notice_t *notice,
                                  bl_records_buffer_t *out, char *errstr, size_t errstr_size) {
        record_t r = {.kind = NOTICE, .notice = notice};
        return encode_with_schema(schema, schema_id, &r, out, errstr, errstr_size);
}

/* ==== the pipeline's encoder =============================================== */

static const char *const contract_names[] = {"backlog_item", "transition", "dispatch_decision", "dependency_notice"};

struct bl_records_s {
        bl_schemas_t *schemas;
        bl_avro_shape_t *shapes[4]; /* by record_kind_t, of the newest catalog version */
        int32_t ids[4];
        bool splice_items;          /* Transition.item is the BacklogItem contract: its bytes can be reused */
        char *instance;
        bl_records_buffer_t buffer;
        bl_records_buffer_t snapshot; /* bl_records_change's snapshot, beside its transition in buffer */
        char last_error[256];
};

void bl_records_destroy(bl_records_t *records) {
        if (!records)
                return;
        for (int kind = ITEM; kind <= NOTICE; kind++)
                bl_avro_shape_free(records->shapes[kind]);
        bl_records_buffer_free(&records->buffer);
        bl_records_buffer_free(&records->snapshot);
        free(records->instance);
        free(records);
}

/* The shape of the newest catalog version of @p kind's contract, and the id it carries without a registry. */
static bool compile_contract(bl_records_t *records, record_kind_t kind, char *errstr, size_t errstr_size) {
        bl_schema_t *schema = bl_schemas_newest(records->schemas, contract_names[kind]);
        char why[200];
        if (!schema) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "the schemas have no usable %s contract",
                           contract_names[kind]);
                return false;
        }
        records->ids[kind] = schema->id;
        if (!(records->shapes[kind] = bl_avro_shape_new(schema->avro, why, sizeof(why))))
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "contract %s: %s", contract_names[kind], why);
        return records->shapes[kind] != NULL;
}

/* An item with every field set, so that every union takes its non-null branch once. */
static bl_item_t *sample_item(void) {
        bl_item_t *item = bl_item_new("records.self-check", 0);
        if (!item)
                return NULL;
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        item->max_attempts = 1;
        item->deadline_ms = item->not_before_ms = item->data_ready_at_ms = item->ready_since_ms = 1;
        item->lease_expires_at_ms = item->retry_at_ms = item->terminal_at_ms = 1;
        if (!cold || !bl_item_set_kind(item, "check", "check", "check", "check") ||
            !bl_item_replace_text(&cold->traceparent, "check") || !bl_item_replace_text(&cold->error_code, "check") ||
            !bl_item_replace_text(&cold->error_message, "check") || !bl_strvec_push(&cold->depends_on, "check") ||
            !bl_labels_set(&cold->labels, (const char *const[]){"check"}, (const char *const[]){"check"}, 1) ||
            !bl_item_remember_event(item, "check", 1)) {
                bl_item_destroy(item);
                return NULL;
        }
        cold->has_last_error = true;
        return item;
}

/* Encodes one record of each kind: the contracts and this code agree, or start-up stops here. */
static bl_err_t self_check(bl_records_t *records, char *errstr, size_t errstr_size) {
        bl_item_t *item = sample_item();
        bl_criterion_t criterion = {"check", 1, 1, 1, 1};
        bl_event_origin_t origin = {"check", 0, 0, NULL};
        bl_provenance_t provenance = {"check", "check", 1, "check", "check", 1, true, true};
        bl_transition_t transition = {.task_id = "check", .has_from = true, .cause = "check", .reason = "check",
                                      .event_id = "check", .occurred_at_ms = 1, .dispatch_id = "check",
                                      .policy = "check", .has_score = true, .rationale = &criterion,
                                      .rationale_count = 1, .origin = &origin, .actor = "check",
                                      .provenance = &provenance};
        bl_dispatch_t dispatch = {.item = item, .dispatch_id = "check", .rationale = &criterion,
                                  .rationale_count = 1, .policy_name = "check", .policy_version = "check",
                                  .provenance = &provenance, .cancel = true, .actor = "check",
                                  .cancel_reason = "check"};
        bl_notice_t notice = {.is_outcome = true, .to_task_id = "check", .from_task_id = "check",
                              .outcome = BL_STATE_COMPLETED};
        record_t samples[] = {
                {.kind = ITEM, .item = item, .with_payload = true},
                {.kind = TRANSITION, .item = item, .with_payload = true, .transition = &transition, .instance = "check"},
                {.kind = DISPATCH, .dispatch = &dispatch},
                {.kind = NOTICE, .notice = &notice},
        };
        bl_err_t err = BL_OK;
        if (!item)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]) && !err; i++)
                err = encode(records->shapes[samples[i].kind], records->ids[samples[i].kind], &samples[i],
                             &records->buffer, errstr, errstr_size);
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
        records->schemas = schemas;
        for (int kind = ITEM; kind <= NOTICE; kind++)
                if (!compile_contract(records, (record_kind_t)kind, errstr, errstr_size))
                        goto fail;
        if (ids) {
                records->ids[ITEM] = ids->item;
                records->ids[TRANSITION] = ids->transition;
                records->ids[DISPATCH] = ids->dispatch;
                records->ids[NOTICE] = ids->notice;
        }
        int item_field = bl_avro_shape_index(records->shapes[TRANSITION], "item");
        records->splice_items = item_field >= 0 &&
                                bl_avro_shape_equal(records->shapes[TRANSITION]->fields[item_field].record,
                                                    records->shapes[ITEM]);
        if (self_check(records, errstr, errstr_size) != BL_OK)
                goto fail;
        return records;
fail:
        bl_records_destroy(records);
        return NULL;
}

/* Encodes @p r with the encoder's shape and id; hands out the buffer on success, keeps the message otherwise. */
static bl_err_t encode_out(bl_records_t *records, const record_t *r, const void **value, size_t *size) {
        bl_err_t err = encode(records->shapes[r->kind], records->ids[r->kind], r, &records->buffer,
                              records->last_error, sizeof(records->last_error));
        if (err)
                return err;
        records->last_error[0] = '\0';
        *value = records->buffer.bytes;
        *size = records->buffer.size;
        return BL_OK;
}

bl_err_t bl_records_item(bl_records_t *records, const bl_item_t *item, bool with_payload, const void **value,
                         size_t *size) {
        record_t r = {.kind = ITEM, .item = item, .with_payload = with_payload};
        return encode_out(records, &r, value, size);
}

bl_err_t bl_records_transition(bl_records_t *records, const bl_transition_t *transition, const bl_item_t *item_after,
                               bool with_payload, const void **value, size_t *size) {
        record_t r = {.kind = TRANSITION, .item = item_after, .with_payload = with_payload,
                      .transition = transition, .instance = records->instance};
        return encode_out(records, &r, value, size);
}

bl_err_t bl_records_change(bl_records_t *records, const bl_transition_t *transition, const bl_item_t *item,
                           bool with_payload, const void **transition_value, size_t *transition_size,
                           const void **snapshot_value, size_t *snapshot_size) {
        item_bytes_t marks = {0};
        record_t snapshot = {.kind = ITEM, .item = item, .with_payload = true, .marks = &marks};
        record_t change = {.kind = TRANSITION, .item = item, .with_payload = with_payload, .transition = transition,
                           .instance = records->instance, .splice = records->splice_items ? &marks : NULL};
        bl_err_t err = encode(records->shapes[ITEM], records->ids[ITEM], &snapshot, &records->snapshot,
                              records->last_error, sizeof(records->last_error));
        if (err)
                return err;
        if ((err = encode_out(records, &change, transition_value, transition_size)))
                return err;
        *snapshot_value = records->snapshot.bytes;
        *snapshot_size = records->snapshot.size;
        return BL_OK;
}

bl_err_t bl_records_dispatch(bl_records_t *records, const bl_dispatch_t *dispatch, const void **value, size_t *size) {
        record_t r = {.kind = DISPATCH, .dispatch = dispatch};
        return encode_out(records, &r, value, size);
}

bl_err_t bl_records_notice(bl_records_t *records, const bl_notice_t *notice, const void **value, size_t *size) {
        record_t r = {.kind = NOTICE, .notice = notice};
        return encode_out(records, &r, value, size);
}

const char *bl_records_last_error(const bl_records_t *records) {
        return records->last_error;
}
