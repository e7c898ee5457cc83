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
#include "contract/records_memo.h"
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

/*
 * The BacklogItem's fields, one by one: the snapshot writes them all in turn; Transition v3 writes
 * each field that changed alone, as the one field of its change record (changes_plan_t below).
 */
typedef enum {
        F_TASK_ID, F_STATE, F_SEQ, F_ATTEMPT, F_MAX_ATTEMPTS, F_TASK_TYPE, F_DOMAIN, F_TENANT, F_SLA_CLASS,
        F_BUSINESS_VALUE, F_RISK, F_SUBMITTED_AT, F_DEADLINE, F_NOT_BEFORE, F_DATA_READY_AT, F_STATE_SINCE,
        F_READY_SINCE, F_LEASE_EXPIRES_AT, F_RETRY_AT, F_DEPENDS_ON, F_PENDING_DEPS, F_DEPENDENTS,
        F_APPROVAL_REQUIRED, F_APPROVED, F_LABELS, F_PAYLOAD, F_TRACEPARENT, F_LAST_ERROR, F_RECENT_EVENT_IDS,
        F_TERMINAL_AT, F_PLACEHOLDER, ITEM_FIELD_COUNT
} item_field_t;

static const char *const item_field_names[ITEM_FIELD_COUNT] = {
        "task_id", "state", "seq", "attempt", "max_attempts", "task_type", "domain", "tenant", "sla_class",
        "business_value", "risk", "submitted_at", "deadline", "not_before", "data_ready_at", "state_since",
        "ready_since", "lease_expires_at", "retry_at", "depends_on", "pending_deps", "dependents",
        "approval_required", "approved", "labels", "payload", "traceparent", "last_error", "recent_event_ids",
        "terminal_at", "placeholder"};

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

/* Field @p f of @p item (the names are literals, so begin() compares them by pointer after the first). */
static bool put_item_field(writer_t *w, item_field_t f, const bl_item_t *item, bool with_payload) {
        const bl_item_cold_t *cold = bl_item_cold(item);
        switch (f) {
        case F_TASK_ID: return put_string(w, "task_id", item->task_id);
        case F_STATE: return put_symbol(w, "state", bl_state_name(item->state));
        case F_SEQ: return put_long(w, "seq", item->seq);
        case F_ATTEMPT: return put_int(w, "attempt", item->attempt);
        case F_MAX_ATTEMPTS: return put_opt_int(w, "max_attempts", item->max_attempts != 0, item->max_attempts);
        case F_TASK_TYPE: return put_string(w, "task_type", item->kind->task_type);
        case F_DOMAIN: return put_string(w, "domain", item->kind->domain);
        case F_TENANT: return put_opt_string(w, "tenant", item->kind->tenant);
        case F_SLA_CLASS: return put_string(w, "sla_class", item->kind->sla_class ? item->kind->sla_class : "standard");
        case F_BUSINESS_VALUE: return put_double(w, "business_value", item->business_value);
        case F_RISK: return put_double(w, "risk", item->risk);
        case F_SUBMITTED_AT: return put_long(w, "submitted_at", item->submitted_at_ms);
        case F_DEADLINE: return put_opt_time(w, "deadline", item->deadline_ms);
        case F_NOT_BEFORE: return put_opt_time(w, "not_before", item->not_before_ms);
        case F_DATA_READY_AT: return put_opt_time(w, "data_ready_at", item->data_ready_at_ms);
        case F_STATE_SINCE: return put_long(w, "state_since", item->state_since_ms);
        case F_READY_SINCE: return put_opt_time(w, "ready_since", item->ready_since_ms);
        case F_LEASE_EXPIRES_AT: return put_opt_time(w, "lease_expires_at", item->lease_expires_at_ms);
        case F_RETRY_AT: return put_opt_time(w, "retry_at", item->retry_at_ms);
        case F_DEPENDS_ON: return put_strvec(w, "depends_on", &cold->depends_on);
        case F_PENDING_DEPS: return put_strvec(w, "pending_deps", &cold->pending_deps);
        case F_DEPENDENTS: return put_strvec(w, "dependents", &cold->dependents);
        case F_APPROVAL_REQUIRED: return put_bool(w, "approval_required", item->approval_required);
        case F_APPROVED: return put_bool(w, "approved", item->approved);
        case F_LABELS: return put_labels(w, "labels", &cold->labels);
        case F_PAYLOAD: return put_payload(w, item, with_payload);
        case F_TRACEPARENT: return put_opt_string(w, "traceparent", cold->traceparent);
        case F_LAST_ERROR: return put_last_error(w, cold);
        case F_RECENT_EVENT_IDS: return put_event_ids(w, "recent_event_ids", item);
        case F_TERMINAL_AT: return put_opt_time(w, "terminal_at", item->terminal_at_ms);
        case F_PLACEHOLDER: return put_bool(w, "placeholder", item->placeholder);
        default: return put_fail(w, BL_ERR_MISMATCH, "?", "not a BacklogItem field");
        }
}

static bool put_item(writer_t *w, const bl_item_t *item, bool with_payload) {
        if (w->marks)
                w->marks->body_start = w->out->size;
        for (int f = 0; f < ITEM_FIELD_COUNT; f++)
                if (!put_item_field(w, (item_field_t)f, item, with_payload))
                        return false;
        if (!complete(w))
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

/* ---- Transition v3: the item after the change told as changes ---------------- *
 *
 * The contract's `changes` is an array of a union of one-field records, one
 * per BacklogItem field (but task_id, state, seq and attempt, which are the
 * transition's). The plan maps each branch to the item field it carries. A
 * change is found by bytes: each branch's field of the item after is
 * encoded alone, and compared with the same field of the base (a fresh
 * item, or what this task's transition before told in the same
 * transaction, kept in the memo); the ones that differ are written, their
 * bytes as they are. The base's derived fields (state_since, the NEW
 * base's recent_event_ids, the payload) follow the rules the contract's
 * `base` documents, which the readers apply the same way.
 */

#define CHANGE_BRANCHES_MAX 48

typedef struct changes_plan_s {
        bl_avro_shape_t *branches;           /* the union's shape, borrowed from the transition's shape */
        size_t count;
        item_field_t field_of[CHANGE_BRANCHES_MAX];
        int branch_of[ITEM_FIELD_COUNT];     /* -1: the transition's own (task_id, state, seq, attempt) */
        bl_avro_out_t fresh;                 /* each branch's field of a fresh item, end to end */
        size_t fresh_starts[CHANGE_BRANCHES_MAX + 1];
} changes_plan_t;

/* What one v3 transition tells, computed before it is written. */
typedef struct told_s {
        const char *base;            /* "NONE", "NEW" or "BEFORE": static strings, memoised by pointer */
        bool as_before;              /* cause, event_id, occurred_at and source_* as the transition before */
        bool instance_as_before;
        size_t count;
        int changed[CHANGE_BRANCHES_MAX]; /* branches, in order */
        bl_avro_out_t values;        /* each branch's field of the item after, end to end */
        size_t starts[CHANGE_BRANCHES_MAX + 1];
        bl_avro_out_t derived;       /* the base's derived fields, and the cause's bytes */
} told_t;

static const char BASE_NONE[] = "NONE", BASE_NEW[] = "NEW", BASE_BEFORE[] = "BEFORE";

static bool is_transition_field(item_field_t f) {
        return f == F_TASK_ID || f == F_STATE || f == F_SEQ || f == F_ATTEMPT;
}

static void changes_plan_free(changes_plan_t *plan) {
        bl_avro_out_free(&plan->fresh);
}

/* Field @p f of @p item alone, as branch @p b's record writes it, appended to @p out. */
static bool put_branch_value(const changes_plan_t *plan, int b, item_field_t f, const bl_item_t *item,
                             bool with_payload, bl_avro_out_t *out, writer_t *parent) {
        writer_t w = {out, plan->branches->fields[b].record, 0, plan->branches->fields[b].name, NULL, NULL,
                      parent->err, parent->errstr, parent->errstr_size};
        return put_item_field(&w, f, item, with_payload) && complete(&w);
}

/* Every branch's field of @p item into @p out, branch b's bytes at [starts[b], starts[b + 1]). */
static bool put_branch_values(const changes_plan_t *plan, const bl_item_t *item, bool with_payload,
                              bl_avro_out_t *out, size_t *starts, writer_t *parent) {
        bl_avro_out_reset(out);
        for (size_t b = 0; b < plan->count; b++) {
                starts[b] = out->size;
                if (!put_branch_value(plan, (int)b, plan->field_of[b], item, with_payload, out, parent))
                        return false;
        }
        starts[plan->count] = out->size;
        return !out->out_of_memory;
}

/* The plan of @p transition's shape: NULL (a v1 or v2 shape, with the whole item) or filled in. */
static bool changes_plan_compile(bl_avro_shape_t *transition, changes_plan_t *plan, bool *has_changes, char *errstr,
                                 size_t errstr_size) {
        int at = bl_avro_shape_index(transition, "changes");
        bl_err_t err = BL_OK;
        writer_t check = {NULL, transition, 0, "Transition.changes", NULL, NULL, &err, errstr, errstr_size};
        bl_item_t *fresh;
        bool ok;
        memset(plan, 0, sizeof(*plan));
        *has_changes = at >= 0;
        if (at < 0)
                return true;
        plan->branches = transition->fields[at].record;
        if (transition->fields[at].type != AVRO_ARRAY || transition->fields[at].element != AVRO_UNION ||
            plan->branches->count > CHANGE_BRANCHES_MAX)
                return put_fail(&check, BL_ERR_MISMATCH, "changes", "not an array of a union of at most 48 records");
        plan->count = plan->branches->count;
        for (int f = 0; f < ITEM_FIELD_COUNT; f++)
                plan->branch_of[f] = -1;
        for (size_t b = 0; b < plan->count; b++) {
                const bl_avro_shape_t *branch = plan->branches->fields[b].record;
                int f = 0;
                while (f < ITEM_FIELD_COUNT &&
                       (branch->count != 1 || strcmp(branch->fields[0].name, item_field_names[f])))
                        f++;
                if (f == ITEM_FIELD_COUNT || is_transition_field((item_field_t)f) || plan->branch_of[f] >= 0)
                        return put_fail(&check, BL_ERR_MISMATCH, plan->branches->fields[b].name,
                                        "not one field of the BacklogItem that a change can carry, once");
                plan->field_of[b] = (item_field_t)f;
                plan->branch_of[f] = (int)b;
        }
        for (int f = 0; f < ITEM_FIELD_COUNT; f++)
                if (plan->branch_of[f] < 0 && !is_transition_field((item_field_t)f))
                        return put_fail(&check, BL_ERR_MISMATCH, item_field_names[f], "no change record carries it");
        if (!(fresh = bl_item_new("", 0)))
                return put_fail(&check, BL_ERR_NOMEM, "changes", "out of memory");
        fresh->submitted_at_ms = fresh->state_since_ms = 0; /* the contract's NEW base: required times 0 */
        ok = put_branch_values(plan, fresh, false, &plan->fresh, plan->fresh_starts, &check);
        bl_item_destroy(fresh);
        if (!ok && !err)
                put_fail(&check, BL_ERR_NOMEM, "changes", "out of memory");
        return ok;
}

/* The memo's bytes of a task: uint32 starts (count + 1, relative), the values, then the cause's bytes. */
static size_t memo_header_size(const changes_plan_t *plan) {
        return (plan->count + 1) * sizeof(uint32_t) + sizeof(uint32_t);
}

/* The cause, event and origin of @p t, as bytes to compare with the transition before's. */
static void put_cause_bytes(bl_avro_out_t *out, const bl_transition_t *t) {
        const char *texts[] = {t->cause, t->event_id, t->origin ? t->origin->topic : NULL};
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                bl_avro_out_long(out, texts[i] ? (int64_t)strlen(texts[i]) : -1);
                if (texts[i])
                        bl_avro_out_raw(out, texts[i], strlen(texts[i]));
        }
        bl_avro_out_long(out, t->occurred_at_ms);
        bl_avro_out_long(out, t->origin ? t->origin->partition : -1);
        bl_avro_out_long(out, t->origin ? t->origin->offset : -1);
}

/* Keeps what @p told said of @p item for the task's next transition in the transaction. */
static bool remember_told(bl_records_memo_t *memo, const changes_plan_t *plan, const bl_transition_t *t,
                          told_t *told, size_t cause_size) {
        size_t header = memo_header_size(plan), values = told->starts[plan->count];
        size_t size = header + values + cause_size;
        unsigned char stack[2048], *bytes = size <= sizeof(stack) ? stack : malloc(size);
        uint32_t number;
        bool ok;
        if (!bytes || values > UINT32_MAX || cause_size > UINT32_MAX) {
                if (bytes != stack)
                        free(bytes);
                return false;
        }
        for (size_t b = 0; b <= plan->count; b++) {
                number = (uint32_t)told->starts[b];
                memcpy(bytes + b * sizeof(number), &number, sizeof(number));
        }
        number = (uint32_t)cause_size;
        memcpy(bytes + (plan->count + 1) * sizeof(number), &number, sizeof(number));
        memcpy(bytes + header, told->values.bytes, values);
        memcpy(bytes + header + values, told->derived.bytes, cause_size);
        ok = bl_records_memo_put(memo, t->task_id, t->seq, bytes, size);
        if (bytes != stack)
                free(bytes);
        return ok;
}

/* A base value: @p bytes of @p size. */
typedef struct span_s {
        const unsigned char *bytes;
        size_t size;
} span_t;

/* Branch @p b's value in a memo's bytes. */
static span_t memo_value(const changes_plan_t *plan, const unsigned char *kept, int b) {
        uint32_t start, end;
        memcpy(&start, kept + (size_t)b * sizeof(start), sizeof(start));
        memcpy(&end, kept + (size_t)(b + 1) * sizeof(end), sizeof(end));
        return (span_t){kept + memo_header_size(plan) + start, end - start};
}

/* The base's derived value of field @p f, written into told->derived; false when @p f has none here. */
static bool derived_value(const changes_plan_t *plan, told_t *told, item_field_t f, const bl_transition_t *t,
                          bool fresh, span_t *value, writer_t *parent) {
        size_t at = told->derived.size;
        int b = plan->branch_of[f];
        writer_t w = {&told->derived, plan->branches->fields[b].record, 0, plan->branches->fields[b].name, NULL,
                      NULL, parent->err, parent->errstr, parent->errstr_size};
        bool ok;
        if (f == F_STATE_SINCE && (fresh || !t->has_from || t->from != t->to))
                ok = put_long(&w, "state_since", t->at_ms);
        else if (f == F_PAYLOAD)
                ok = put_opt_bytes(&w, "payload", false, NULL, 0);
        else if (f == F_RECENT_EVENT_IDS && fresh && t->event_id)
                ok = begin_block(&w, "recent_event_ids", AVRO_ARRAY, AVRO_STRING, 1) != NULL;
        else
                return false;
        if (ok && f == F_RECENT_EVENT_IDS) {
                bl_avro_out_string(&told->derived, t->event_id);
                bl_avro_out_long(&told->derived, 0);
        }
        ok = ok && complete(&w);
        /* told->derived may move as it grows: the span is taken once the value is written */
        *value = (span_t){told->derived.bytes + at, ok ? told->derived.size - at : 0};
        return ok;
}

/*
 * What the v3 transition @p t with @p item after it tells: its base, its changes and its markers, against
 * the task's transition before in @p memo (NULL: no memory, every item told whole against NEW), which
 * then keeps this one. False with the error in @p parent when the item cannot be encoded.
 */
static bool tell_changes(const changes_plan_t *plan, bl_records_memo_t *memo, const bl_transition_t *t,
                         const bl_item_t *item, bool with_payload, told_t *told, writer_t *parent) {
        const unsigned char *kept = NULL;
        size_t kept_size = 0, cause_size;
        int64_t kept_seq = 0;
        told->count = 0;
        told->as_before = told->instance_as_before = false;
        bl_avro_out_reset(&told->derived);
        if (!item) {
                told->base = BASE_NONE;
                return true;
        }
        if (item->state != t->to || item->seq != t->seq || item->attempt != t->attempt)
                return put_fail(parent, BL_ERR_MISMATCH, "changes",
                                "the item's state, seq and attempt are not the transition's, as v3 has them");
        if (!put_branch_values(plan, item, with_payload, &told->values, told->starts, parent))
                return *parent->err || put_fail(parent, BL_ERR_NOMEM, "changes", "out of memory");
        if (memo && (kept = bl_records_memo_find(memo, t->task_id, &kept_seq, &kept_size)) && kept_seq != t->seq - 1)
                kept = NULL;
        told->base = kept ? BASE_BEFORE : BASE_NEW;
        /* the cause's bytes go first into derived: the derived values after them are spans read at once */
        put_cause_bytes(&told->derived, t);
        cause_size = told->derived.size;
        if (kept) {
                uint32_t kept_cause;
                memcpy(&kept_cause, kept + (plan->count + 1) * sizeof(uint32_t), sizeof(kept_cause));
                told->as_before = t->cause && kept_cause == cause_size &&
                                  !memcmp(kept + kept_size - kept_cause, told->derived.bytes, cause_size);
                told->instance_as_before = true;
        }
        for (size_t b = 0; b < plan->count; b++) {
                span_t base, now = {told->values.bytes + told->starts[b], told->starts[b + 1] - told->starts[b]};
                if (!derived_value(plan, told, plan->field_of[b], t, kept == NULL, &base, parent)) {
                        if (*parent->err)
                                return false;
                        base = kept ? memo_value(plan, kept, (int)b)
                                    : (span_t){plan->fresh.bytes + plan->fresh_starts[b],
                                               plan->fresh_starts[b + 1] - plan->fresh_starts[b]};
                }
                if (base.size != now.size || memcmp(base.bytes, now.bytes, now.size))
                        told->changed[told->count++] = (int)b;
        }
        if (told->derived.out_of_memory)
                return put_fail(parent, BL_ERR_NOMEM, "changes", "out of memory");
        if (memo && !remember_told(memo, plan, t, told, cause_size))
                return put_fail(parent, BL_ERR_NOMEM, "changes", "out of memory");
        return true;
}

/* "" for task_id/attempt, the id backlogd gives its dispatches; the id itself otherwise. */
static const char *dispatch_id_told(const bl_transition_t *t) {
        size_t length = strlen(t->task_id);
        char attempt[16];
        if (!t->dispatch_id || strncmp(t->dispatch_id, t->task_id, length) || t->dispatch_id[length] != '/')
                return t->dispatch_id;
        snprintf(attempt, sizeof(attempt), "%d", (int)t->attempt);
        return strcmp(t->dispatch_id + length + 1, attempt) ? t->dispatch_id : "";
}

static bool put_changes(writer_t *w, const told_t *told) {
        if (!begin_block(w, "changes", AVRO_ARRAY, AVRO_UNION, told->count))
                return false;
        for (size_t i = 0; i < told->count; i++) {
                int b = told->changed[i];
                bl_avro_out_long(w->out, b);
                bl_avro_out_raw(w->out, told->values.bytes + told->starts[b], told->starts[b + 1] - told->starts[b]);
        }
        bl_avro_out_long(w->out, 0);
        return true;
}

static bool put_transition_v3(writer_t *w, const bl_transition_t *t, const char *instance, const told_t *told) {
        bool again = told->as_before;
        return put_string(w, "task_id", t->task_id) && put_long(w, "seq", t->seq) &&
               put_opt_state(w, "from_state", t->has_from, t->from) &&
               put_symbol(w, "to_state", bl_state_name(t->to)) &&
               put_opt_string(w, "cause", again ? NULL : t->cause ? t->cause : "") &&
               put_opt_string(w, "reason", t->reason) && put_opt_string(w, "event_id", again ? NULL : t->event_id) &&
               put_int(w, "attempt", t->attempt) && put_long(w, "at", t->at_ms) &&
               put_opt_time(w, "occurred_at", again ? BL_NO_TIME : t->occurred_at_ms) &&
               put_opt_string(w, "dispatch_id", dispatch_id_told(t)) && put_opt_string(w, "policy", t->policy) &&
               put_opt_double(w, "score", t->has_score, t->score) && put_origin(w, again ? NULL : t->origin) &&
               put_opt_string(w, "instance", told->instance_as_before ? NULL : instance) &&
               put_rationale(w, "rationale", t->rationale, t->rationale_count) &&
               put_opt_string(w, "actor", t->actor) && put_provenance(w, t->provenance) &&
               put_symbol(w, "base", told->base) && put_changes(w, told) && complete(w);
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
        const told_t *told;         /* a v3 transition's: its item told as changes (tell_changes) */
} record_t;

static bool put_record(writer_t *w, const record_t *r) {
        switch (r->kind) {
        case ITEM:
                return put_item(w, r->item, r->with_payload);
        case TRANSITION:
                if (r->told)
                        return put_transition_v3(w, r->transition, r->instance, r->told);
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

/*
 * A transition along @p shape: as v1 and v2 write it (the whole item), or as v3 tells it when the shape
 * has changes, against @p memo (NULL: every item told whole).
 */
static bl_err_t encode_transition(bl_avro_shape_t *shape, const changes_plan_t *plan, bl_records_memo_t *memo,
                                  told_t *told, int32_t schema_id, record_t *r, bl_avro_out_t *out, char *errstr,
                                  size_t errstr_size) {
        bl_err_t err = BL_OK;
        writer_t parent = {out, shape, 0, "Transition", NULL, NULL, &err, errstr, errstr_size};
        if (!plan)
                return encode(shape, schema_id, r, out, errstr, errstr_size);
        if (!tell_changes(plan, memo, r->transition, r->item, r->with_payload, told, &parent))
                return err;
        r->told = told;
        return encode(shape, schema_id, r, out, errstr, errstr_size);
}

/* The same, along a shape compiled for this call from @p schema; a v3 transition is told whole. */
static bl_err_t encode_with_schema(bl_schema_t *schema, int32_t schema_id, record_t *r, bl_avro_out_t *out,
                                   char *errstr, size_t errstr_size) {
        char why[200];
        bl_avro_shape_t *shape = bl_avro_shape_new(schema->avro, why, sizeof(why));
        changes_plan_t plan;
        told_t told = {0};
        bool has_changes = false;
        bl_err_t err;
        if (!shape)
                return bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH, "schema id %d is not a %s record: %s",
                                  (int)schema->id, record_names[r->kind], why);
        if (r->kind != TRANSITION || strcmp(shape->name, "Transition")) {
                err = encode(shape, schema_id, r, out, errstr, errstr_size);
        } else if (!changes_plan_compile(shape, &plan, &has_changes, errstr, errstr_size)) {
                err = BL_ERR_MISMATCH;
        } else {
                err = encode_transition(shape, has_changes ? &plan : NULL, NULL, &told, schema_id, r, out, errstr,
                                        errstr_size);
        }
        if (has_changes)
                changes_plan_free(&plan);
        bl_avro_out_free(&told.values);
        bl_avro_out_free(&told.derived);
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
        bool has_changes;             /* the Transition contract tells the item as changes (v3) */
        changes_plan_t plan;
        bl_records_memo_t *memo;      /* what each task's last transition told in the open transaction */
        told_t told;
        char last_error[256];
};

void bl_records_destroy(bl_records_t *records) {
        if (!records)
                return;
        for (int kind = ITEM; kind <= NOTICE; kind++)
                bl_avro_shape_free(records->shapes[kind]);
        bl_records_buffer_free(&records->buffer);
        bl_records_buffer_free(&records->snapshot);
        changes_plan_free(&records->plan);
        bl_records_memo_destroy(records->memo);
        bl_avro_out_free(&records->told.values);
        bl_avro_out_free(&records->told.derived);
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
                err = samples[i].kind == TRANSITION
                              ? encode_transition(records->shapes[TRANSITION],
                                                  records->has_changes ? &records->plan : NULL, NULL, &records->told,
                                                  records->ids[TRANSITION], &samples[i], &records->buffer, errstr,
                                                  errstr_size)
                              : encode(records->shapes[samples[i].kind], records->ids[samples[i].kind], &samples[i],
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
        if (!changes_plan_compile(records->shapes[TRANSITION], &records->plan, &records->has_changes, errstr,
                                  errstr_size) ||
            !(records->memo = bl_records_memo_new())) {
                if (!records->memo)
                        bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                goto fail;
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

/* A transition into the buffer, told against the memo when the contract is v3. */
static bl_err_t encode_transition_out(bl_records_t *records, record_t *r, const void **value, size_t *size) {
        bl_err_t err = encode_transition(records->shapes[TRANSITION], records->has_changes ? &records->plan : NULL,
                                         records->memo, &records->told, records->ids[TRANSITION], r, &records->buffer,
                                         records->last_error, sizeof(records->last_error));
        if (err)
                return err;
        records->last_error[0] = '\0';
        *value = records->buffer.bytes;
        *size = records->buffer.size;
        return BL_OK;
}

bl_err_t bl_records_transition(bl_records_t *records, const bl_transition_t *transition, const bl_item_t *item_after,
                               bool with_payload, const void **value, size_t *size) {
        record_t r = {.kind = TRANSITION, .item = item_after, .with_payload = with_payload,
                      .transition = transition, .instance = records->instance};
        return encode_transition_out(records, &r, value, size);
}

void bl_records_forget_changes(bl_records_t *records) {
        bl_records_memo_clear(records->memo);
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
        if ((err = encode_transition_out(records, &change, transition_value, transition_size)))
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
