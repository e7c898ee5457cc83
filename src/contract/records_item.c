/*
 * records_item.c: a BacklogItem snapshot read straight from its Avro bytes
 * into a bl_item_t, the way restore reads millions of them.
 *
 * The generic path (contract/records.c) walks the bytes for bounds, has
 * avro-c build the writer schema's generic value (dozens of allocations per
 * record), then looks each field up by name and copies it out. This one
 * plans each writer schema once: for each writer field, which item field it
 * is and the shape it has (a value or a [null, T] union, its Avro type).
 * A writer with a field this reader does not know, or a shape other than the
 * ones the generic path reads the same way, is not planned: its records go
 * the generic way, whole.
 *
 * A record is then read in two passes over its bytes. The first checks
 * everything and notes where each field is (strings as pointers into the
 * bytes, arrays and maps as where their blocks start); the second makes the
 * item with one allocation per part: the item with its task_id, payload,
 * recent event ids end to end, and the cold part packed in one allocation
 * with its vectors, labels and strings (bl_item_set_cold_packed), as long as
 * nothing changes it.
 *
 * It accepts only bytes that the generic path accepts and reads the same way,
 * and declines everything else, which the caller then reads the generic way
 * for the verdict: varints no longer than their type allows (ints and enum
 * indexes 5 bytes, an int in range), booleans 0 or 1, union branches 0 or 1,
 * enum symbols this backlogd knows, lengths within the bytes, strings
 * without NUL and valid UTF-8 (map keys too), positive block counts only, no
 * map key twice (avro-c keeps the first place and the last value), no
 * required field null, at most UINT16_MAX recent event ids (the generic path
 * keeps the last ones), no byte left over. tests/unit/test_records.c holds
 * the two paths to the same items, random and truncated ones included.
 *
 * Not thread-safe: the plan lives in the schema cache, which is one thread's.
 */
#include "contract/records_item.h"

#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "contract/avro_out.h"

typedef enum {
        F_TASK_ID,
        F_STATE,
        F_SEQ,
        F_ATTEMPT,
        F_MAX_ATTEMPTS,
        F_TASK_TYPE,
        F_DOMAIN,
        F_TENANT,
        F_SLA_CLASS,
        F_BUSINESS_VALUE,
        F_RISK,
        F_SUBMITTED_AT,
        F_DEADLINE,
        F_NOT_BEFORE,
        F_DATA_READY_AT,
        F_STATE_SINCE,
        F_READY_SINCE,
        F_LEASE_EXPIRES_AT,
        F_RETRY_AT,
        F_TERMINAL_AT,
        F_DEPENDS_ON,
        F_PENDING_DEPS,
        F_DEPENDENTS,
        F_APPROVAL_REQUIRED,
        F_APPROVED,
        F_PLACEHOLDER,
        F_LABELS,
        F_PAYLOAD,
        F_TRACEPARENT,
        F_LAST_ERROR,
        F_RECENT_EVENT_IDS,
        F__COUNT
} field_id_t;

typedef enum {
        S_STRING,  /* string */
        S_LONG,    /* int or long */
        S_INT,     /* int */
        S_DOUBLE,  /* double, float, int or long */
        S_BOOLEAN, /* boolean */
        S_STATE,   /* enum TaskState, by symbol */
        S_STRINGS, /* array of string */
        S_LABELS,  /* map of string */
        S_BYTES,   /* bytes or string */
        S_ERROR,   /* record TaskError */
} shape_t;

/* What the generic path (records.c read_item) reads for each field, and whether it must have a value. */
static const struct {
        const char *name;
        shape_t shape;
        bool required;
} known[F__COUNT] = {
        [F_TASK_ID] = {"task_id", S_STRING, true},
        [F_STATE] = {"state", S_STATE, true},
        [F_SEQ] = {"seq", S_LONG, true},
        [F_ATTEMPT] = {"attempt", S_INT, true},
        [F_MAX_ATTEMPTS] = {"max_attempts", S_INT, false},
        [F_TASK_TYPE] = {"task_type", S_STRING, true},
        [F_DOMAIN] = {"domain", S_STRING, true},
        [F_TENANT] = {"tenant", S_STRING, false},
        [F_SLA_CLASS] = {"sla_class", S_STRING, false},
        [F_BUSINESS_VALUE] = {"business_value", S_DOUBLE, true},
        [F_RISK] = {"risk", S_DOUBLE, true},
        [F_SUBMITTED_AT] = {"submitted_at", S_LONG, true},
        [F_DEADLINE] = {"deadline", S_LONG, false},
        [F_NOT_BEFORE] = {"not_before", S_LONG, false},
        [F_DATA_READY_AT] = {"data_ready_at", S_LONG, false},
        [F_STATE_SINCE] = {"state_since", S_LONG, true},
        [F_READY_SINCE] = {"ready_since", S_LONG, false},
        [F_LEASE_EXPIRES_AT] = {"lease_expires_at", S_LONG, false},
        [F_RETRY_AT] = {"retry_at", S_LONG, false},
        [F_TERMINAL_AT] = {"terminal_at", S_LONG, false},
        [F_DEPENDS_ON] = {"depends_on", S_STRINGS, false},
        [F_PENDING_DEPS] = {"pending_deps", S_STRINGS, false},
        [F_DEPENDENTS] = {"dependents", S_STRINGS, false},
        [F_APPROVAL_REQUIRED] = {"approval_required", S_BOOLEAN, false},
        [F_APPROVED] = {"approved", S_BOOLEAN, false},
        [F_PLACEHOLDER] = {"placeholder", S_BOOLEAN, false},
        [F_LABELS] = {"labels", S_LABELS, false},
        [F_PAYLOAD] = {"payload", S_BYTES, false},
        [F_TRACEPARENT] = {"traceparent", S_STRING, false},
        [F_LAST_ERROR] = {"last_error", S_ERROR, false},
        [F_RECENT_EVENT_IDS] = {"recent_event_ids", S_STRINGS, false},
};

/* TaskError's fields, as read_last_error reads them. */
enum { E_CODE, E_MESSAGE, E_RETRYABLE, E__COUNT };
static const char *const error_names[E__COUNT] = {"code", "message", "retryable"};

#define PLAN_MAX_FIELDS 64
#define PLAN_MAX_SYMBOLS 64
#define MAP_MAX_KEYS 16 /* a larger map goes the generic way: its keys are checked for repeats pairwise */
#define KIND_SLOTS 16384 /* the kinds met last, by a hash of their fields (the restore bench has 7,000) */

typedef struct plan_field_s {
        int8_t id;            /* field_id_t, or which TaskError field (E_*) */
        int8_t null_branch;   /* of the field's union, -1 without one */
        int8_t element_null;  /* of an array item's or map value's union, -1 without one */
        uint8_t type;         /* the value's avro_type_t */
} plan_field_t;

typedef enum { PLAN_DIRECT = 1, PLAN_GENERIC } plan_verdict_t;

typedef struct plan_s {
        plan_verdict_t verdict;
        size_t field_count, error_field_count, symbol_count;
        int8_t states[PLAN_MAX_SYMBOLS]; /* the writer's TaskState index -> bl_state_t, -1 unknown */
        plan_field_t fields[PLAN_MAX_FIELDS];
        plan_field_t error_fields[E__COUNT];
        int8_t field_at[F__COUNT];       /* each known field's place among the writer's, -1 when it lacks it */
        const bl_kind_t *kinds[KIND_SLOTS]; /* a reference held on each, given back by bl_records_item_plan_free */
} plan_t;

void bl_records_item_plan_free(void *opaque) {
        plan_t *plan = opaque;
        if (!plan)
                return;
        for (size_t i = 0; i < KIND_SLOTS; i++)
                bl_kind_release(plan->kinds[i]);
        free(plan);
}

/* ---- planning a writer ----------------------------------------------------------- */

static int known_field(const char *name) {
        for (int i = 0; i < F__COUNT; i++)
                if (!strcmp(known[i].name, name))
                        return i;
        return -1;
}

/* Whether a value of @p type is read by the generic path for @p shape, as the direct read reads it. */
static bool shape_fits(shape_t shape, avro_type_t type) {
        switch (shape) {
        case S_STRING: return type == AVRO_STRING;
        case S_LONG: return type == AVRO_INT32 || type == AVRO_INT64;
        case S_INT: return type == AVRO_INT32;
        case S_DOUBLE: return type == AVRO_DOUBLE || type == AVRO_FLOAT || type == AVRO_INT32 || type == AVRO_INT64;
        case S_BOOLEAN: return type == AVRO_BOOLEAN;
        case S_STATE: return type == AVRO_ENUM;
        case S_STRINGS: return type == AVRO_ARRAY;
        case S_LABELS: return type == AVRO_MAP;
        case S_BYTES: return type == AVRO_BYTES || type == AVRO_STRING;
        case S_ERROR: return type == AVRO_RECORD;
        }
        return false;
}

/* An array's items or a map's values: strings, maybe in a [null, string] union. */
static bool plan_elements(avro_schema_t element, plan_field_t *field) {
        avro_schema_t value;
        int null_branch;
        if (!bl_avro_schema_nullable(element, &value, &null_branch) || avro_typeof(value) != AVRO_STRING)
                return false;
        field->element_null = (int8_t)null_branch;
        return true;
}

static bool plan_states(plan_t *plan, avro_schema_t symbols) {
        plan->symbol_count = (size_t)avro_schema_enum_number_of_symbols(symbols);
        if (plan->symbol_count > PLAN_MAX_SYMBOLS)
                return false;
        for (size_t i = 0; i < plan->symbol_count; i++)
                plan->states[i] = (int8_t)bl_state_parse(avro_schema_enum_get(symbols, (int)i));
        return true;
}

/* TaskError with exactly code and message (strings) and retryable (a boolean), each maybe nullable. */
static bool plan_error(plan_t *plan, avro_schema_t record) {
        bool seen[E__COUNT] = {false};
        plan->error_field_count = avro_schema_record_size(record);
        if (plan->error_field_count > E__COUNT)
                return false;
        for (size_t i = 0; i < plan->error_field_count; i++) {
                const char *name = avro_schema_record_field_name(record, (int)i);
                plan_field_t *field = &plan->error_fields[i];
                avro_schema_t value;
                int which = -1, null_branch;
                for (int e = 0; e < E__COUNT; e++)
                        which = !strcmp(error_names[e], name) ? e : which;
                if (which < 0 || seen[which] ||
                    !bl_avro_schema_nullable(avro_schema_record_field_get_by_index(record, (int)i), &value,
                                             &null_branch) ||
                    avro_typeof(value) != (which == E_RETRYABLE ? AVRO_BOOLEAN : AVRO_STRING))
                        return false;
                seen[which] = true;
                *field = (plan_field_t){(int8_t)which, (int8_t)null_branch, -1, (uint8_t)avro_typeof(value)};
        }
        return seen[E_CODE] && seen[E_MESSAGE]; /* required by the generic path */
}

static bool plan_field(plan_t *plan, avro_schema_t writer, size_t index, bool *seen) {
        plan_field_t *field = &plan->fields[index];
        int id = known_field(avro_schema_record_field_name(writer, (int)index));
        avro_schema_t value;
        int null_branch;
        if (id < 0 || seen[id] ||
            !bl_avro_schema_nullable(avro_schema_record_field_get_by_index(writer, (int)index), &value, &null_branch) ||
            !shape_fits(known[id].shape, avro_typeof(value)))
                return false;
        seen[id] = true;
        plan->field_at[id] = (int8_t)index;
        *field = (plan_field_t){(int8_t)id, (int8_t)null_branch, -1, (uint8_t)avro_typeof(value)};
        switch (known[id].shape) {
        case S_STRINGS: return plan_elements(avro_schema_array_items(value), field);
        case S_LABELS: return plan_elements(avro_schema_map_values(value), field);
        case S_STATE: return plan_states(plan, value);
        case S_ERROR: return plan_error(plan, value);
        default: return true;
        }
}

static plan_verdict_t plan_writer(plan_t *plan, avro_schema_t writer) {
        bool seen[F__COUNT] = {false};
        memset(plan->field_at, -1, sizeof(plan->field_at));
        plan->field_count = avro_schema_record_size(writer);
        if (plan->field_count > PLAN_MAX_FIELDS)
                return PLAN_GENERIC;
        for (size_t i = 0; i < plan->field_count; i++)
                if (!plan_field(plan, writer, i, seen))
                        return PLAN_GENERIC;
        for (int id = 0; id < F__COUNT; id++)
                if (known[id].required && !seen[id])
                        return PLAN_GENERIC; /* the generic path names it */
        return PLAN_DIRECT;
}

/* The writer's plan, made on its first record; NULL when out of memory. */
static plan_t *plan_of(bl_schema_t *writer) {
        plan_t *plan = writer->item_plan;
        if (plan)
                return plan;
        if (!(plan = calloc(1, sizeof(*plan))))
                return NULL;
        plan->verdict = plan_writer(plan, writer->avro);
        writer->item_plan = plan;
        return plan;
}

/* ---- the first pass: check and locate ---------------------------------------------- */

typedef struct cursor_s {
        const unsigned char *at, *end;
} cursor_t;

typedef struct span_s {
        const unsigned char *bytes;
        size_t size;
} span_t;

/* An array or map as the first pass found it: where its blocks start, its entries and their bytes. */
typedef struct list_s {
        const unsigned char *start, *end; /* end: the record's */
        size_t count;
        size_t text_bytes; /* the entries' strings with a NUL each: an array's items, a map's keys and values */
} list_t;

typedef struct staged_s {
        bool present[F__COUNT];
        int64_t number[F__COUNT]; /* S_LONG, S_INT, S_STATE (as bl_state_t), S_BOOLEAN */
        double real[F__COUNT];    /* S_DOUBLE */
        span_t text[F__COUNT];    /* S_STRING, S_BYTES */
        list_t list[F__COUNT];    /* S_STRINGS, S_LABELS */
        span_t error_text[2];     /* code and message */
        bool error_retryable;
} staged_t;

static bool get_varint(cursor_t *c, int max_bytes, int64_t *out) {
        uint64_t value = 0;
        for (int i = 0, shift = 0; i < max_bytes && c->at < c->end; i++, shift += 7) {
                unsigned char byte = *c->at++;
                value |= (uint64_t)(byte & 0x7f) << shift;
                if (!(byte & 0x80)) {
                        *out = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
                        return true;
                }
        }
        return false;
}

/* An int or a long as its type says: an int in 5 bytes and in range, as the walk and avro-c want. */
static bool get_number(cursor_t *c, uint8_t type, int64_t *out) {
        if (type != AVRO_INT32)
                return get_varint(c, 10, out);
        return get_varint(c, 5, out) && *out >= INT32_MIN && *out <= INT32_MAX;
}

static bool get_span(cursor_t *c, span_t *span) {
        int64_t length;
        if (!get_varint(c, 10, &length) || length < 0 || (uint64_t)length > (uint64_t)(c->end - c->at))
                return false;
        span->bytes = c->at;
        span->size = (size_t)length;
        c->at += length;
        return true;
}

/*
 * Whether @p size bytes are text as the generic path takes it: no NUL, valid
 * UTF-8. Eight bytes at a time while they are ASCII without a NUL (almost
 * every id, label and trace context), then the general checks for the rest.
 */
static bool text_ok(const unsigned char *bytes, size_t size) {
        const uint64_t low = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        size_t at = 0;
        for (; at + 8 <= size; at += 8) {
                uint64_t word;
                memcpy(&word, bytes + at, sizeof(word));
                if ((word & high) || ((word - low) & ~word & high)) /* a byte >= 0x80, or a zero byte */
                        break;
        }
        return !memchr(bytes + at, 0, size - at) && bl_text_utf8_valid(bytes + at, size - at, NULL);
}

/* A string as the generic path takes it: no NUL inside, valid UTF-8. */
static bool get_text(cursor_t *c, span_t *span) {
        return get_span(c, span) && text_ok(span->bytes, span->size);
}

static bool get_boolean(cursor_t *c, bool *out) {
        if (c->at >= c->end || *c->at > 1)
                return false;
        *out = *c->at++ != 0;
        return true;
}

/* A union's branch: *present false for null. Indexes other than 0 and 1 are out of a 2-branch union's range. */
static bool get_branch(cursor_t *c, int null_branch, bool *present) {
        int64_t branch;
        *present = true;
        if (null_branch < 0)
                return true;
        if (!get_varint(c, 10, &branch) || (branch != 0 && branch != 1))
                return false;
        *present = branch != null_branch;
        return true;
}

/* An array item or map value: a string, never null (the generic path refuses a null entry). */
static bool get_element(cursor_t *c, int null_branch, span_t *span) {
        bool present;
        return get_branch(c, null_branch, &present) && present && get_text(c, span);
}

static bool get_double(cursor_t *c, uint8_t type, double *out) {
        uint64_t bits = 0;
        int64_t whole;
        if (type == AVRO_INT32 || type == AVRO_INT64) {
                if (!get_number(c, type, &whole))
                        return false;
                *out = (double)whole;
                return true;
        }
        size_t width = type == AVRO_FLOAT ? 4 : 8;
        if ((size_t)(c->end - c->at) < width)
                return false;
        for (size_t i = 0; i < width; i++)
                bits |= (uint64_t)c->at[i] << (8 * i);
        c->at += width;
        if (type == AVRO_FLOAT) {
                uint32_t single_bits = (uint32_t)bits;
                float single;
                memcpy(&single, &single_bits, sizeof(single));
                *out = single;
        } else {
                memcpy(out, &bits, sizeof(*out));
        }
        return true;
}

/* Whether @p key is among the @p count keys before it. */
static bool key_repeats(const span_t *keys, size_t count, const span_t *key) {
        for (size_t i = 0; i < count; i++)
                if (keys[i].size == key->size && !memcmp(keys[i].bytes, key->bytes, key->size))
                        return true;
        return false;
}

/* An array of strings or a map of strings: positive blocks, checked entry by entry, located in @p list. */
static bool get_list(cursor_t *c, const plan_field_t *field, bool map, list_t *list) {
        span_t keys[MAP_MAX_KEYS];
        int64_t block;
        list->start = c->at;
        list->end = c->end;
        list->count = list->text_bytes = 0;
        for (;;) {
                if (!get_varint(c, 10, &block))
                        return false;
                if (block == 0)
                        break;
                if (block < 0 || (uint64_t)block > (uint64_t)(c->end - c->at))
                        return false; /* sized blocks, or more entries than bytes: the generic way */
                for (int64_t i = 0; i < block; i++, list->count++) {
                        span_t key, value;
                        if (map && (list->count == MAP_MAX_KEYS || !get_text(c, &key) ||
                                    key_repeats(keys, list->count, &key)))
                                return false;
                        if (!get_element(c, field->element_null, &value))
                                return false;
                        if (map) {
                                keys[list->count] = key;
                                list->text_bytes += key.size + 1;
                        }
                        list->text_bytes += value.size + 1;
                }
        }
        return list->count <= (map ? UINT32_MAX : UINT16_MAX);
}

static bool get_error(cursor_t *c, const plan_t *plan, staged_t *staged) {
        for (size_t i = 0; i < plan->error_field_count; i++) {
                const plan_field_t *field = &plan->error_fields[i];
                bool present;
                if (!get_branch(c, field->null_branch, &present))
                        return false;
                if (field->id == E_RETRYABLE) {
                        if (present && !get_boolean(c, &staged->error_retryable))
                                return false;
                } else if (!present || !get_text(c, &staged->error_text[field->id])) {
                        return false; /* code and message are required */
                }
        }
        return true;
}

static bool get_field(cursor_t *c, const plan_t *plan, const plan_field_t *field, staged_t *staged) {
        int id = field->id;
        bool flag;
        switch (known[id].shape) {
        case S_STRING: return get_text(c, &staged->text[id]);
        case S_BYTES: /* a payload over 4 GiB is the generic path's to refuse */
                return get_span(c, &staged->text[id]) && staged->text[id].size <= UINT32_MAX;
        case S_LONG:
        case S_INT: return get_number(c, field->type, &staged->number[id]);
        case S_DOUBLE: return get_double(c, field->type, &staged->real[id]);
        case S_BOOLEAN:
                if (!get_boolean(c, &flag))
                        return false;
                staged->number[id] = flag;
                return true;
        case S_STATE:
                if (!get_varint(c, 5, &staged->number[id]) || staged->number[id] < 0 ||
                    (uint64_t)staged->number[id] >= plan->symbol_count)
                        return false;
                staged->number[id] = plan->states[staged->number[id]];
                return staged->number[id] >= 0;
        case S_STRINGS: return get_list(c, field, false, &staged->list[id]);
        case S_LABELS: return get_list(c, field, true, &staged->list[id]);
        case S_ERROR: return get_error(c, plan, staged);
        }
        return false;
}

/* The first pass: every field checked and located; false to decline the record. */
static bool stage(const plan_t *plan, const unsigned char *body, size_t size, staged_t *staged) {
        cursor_t c = {body, body + size};
        memset(staged->present, 0, sizeof(staged->present));
        staged->error_retryable = false; /* retryable absent or null: false, as read_bool leaves it */
        for (size_t i = 0; i < plan->field_count; i++) {
                const plan_field_t *field = &plan->fields[i];
                bool present;
                if (!get_branch(&c, field->null_branch, &present))
                        return false;
                if (!present) {
                        if (known[field->id].required)
                                return false;
                        continue;
                }
                if (!get_field(&c, plan, field, staged))
                        return false;
                staged->present[field->id] = true;
        }
        return c.at == c.end;
}

/* ---- the second pass: the item -------------------------------------------------------- */

/* Copies @p span with a NUL after it to @p at; returns where the next copy goes. */
static char *put_text(char *at, const span_t *span) {
        memcpy(at, span->bytes, span->size);
        at[span->size] = '\0';
        return at + span->size + 1;
}

/* Re-reads an entry of a list the first pass checked: a map's key (when @p key), then the string. */
static void next_entry(cursor_t *c, const plan_field_t *field, bool map, span_t *key, span_t *value) {
        bool present;
        if (map)
                get_span(c, key);
        get_branch(c, field->element_null, &present);
        get_span(c, value);
}

/* Walks a checked list, calling @p each on every entry. */
typedef void (*entry_fn)(void *target, size_t index, const span_t *key, const span_t *value);

static void each_entry(const list_t *list, const plan_field_t *field, bool map, entry_fn each, void *target) {
        cursor_t c = {list->start, list->end};
        size_t index = 0;
        int64_t block;
        while (index < list->count && get_varint(&c, 10, &block))
                for (int64_t i = 0; i < block; i++, index++) {
                        span_t key = {0}, value = {0};
                        next_entry(&c, field, map, &key, &value);
                        each(target, index, &key, &value);
                }
}

/* Packs strings end to end, each with its NUL; a vector's entries each get their slot. */
typedef struct packer_s {
        char *at;
        char **slots; /* NULL for a map */
} packer_t;

static void pack_entry(void *target, size_t index, const span_t *key, const span_t *value) {
        packer_t *packer = target;
        if (key->bytes)
                packer->at = put_text(packer->at, key);
        if (packer->slots)
                packer->slots[index] = packer->at;
        packer->at = put_text(packer->at, value);
}

static const int vectors[3] = {F_DEPENDS_ON, F_PENDING_DEPS, F_DEPENDENTS};

/* The plan of a field the record has (staged->present). */
static const plan_field_t *field_of(const plan_t *plan, int id) {
        return &plan->fields[plan->field_at[id]];
}

/* The bytes a view of the cold fields takes: each vector's slots, then every string with its NUL. */
static size_t cold_view_bytes(const staged_t *staged) {
        size_t bytes = 0;
        for (size_t i = 0; i < 3; i++)
                if (staged->present[vectors[i]])
                        bytes += staged->list[vectors[i]].count * sizeof(char *) + staged->list[vectors[i]].text_bytes;
        if (staged->present[F_LABELS])
                bytes += staged->list[F_LABELS].text_bytes;
        if (staged->present[F_TRACEPARENT])
                bytes += staged->text[F_TRACEPARENT].size + 1;
        if (staged->present[F_LAST_ERROR])
                bytes += staged->error_text[E_CODE].size + staged->error_text[E_MESSAGE].size + 2;
        return bytes;
}

/* A view of the record's cold fields in @p scratch (cold_view_bytes of it, pointer-aligned): slots, then text. */
static void cold_view(const plan_t *plan, const staged_t *staged, char *scratch, bl_item_cold_t *view) {
        bl_strvec_t *targets[3] = {&view->depends_on, &view->pending_deps, &view->dependents};
        char **slots = (char **)scratch;
        size_t slot_count = 0;
        for (size_t i = 0; i < 3; i++)
                slot_count += staged->present[vectors[i]] ? staged->list[vectors[i]].count : 0;
        packer_t packer = {(char *)(slots + slot_count), NULL};
        for (size_t i = 0; i < 3; i++) {
                const list_t *list = &staged->list[vectors[i]];
                if (!staged->present[vectors[i]] || !list->count)
                        continue;
                packer.slots = targets[i]->items = slots;
                targets[i]->count = targets[i]->capacity = list->count;
                slots += list->count;
                each_entry(list, field_of(plan, vectors[i]), false, pack_entry, &packer);
        }
        packer.slots = NULL;
        if (staged->present[F_LABELS] && staged->list[F_LABELS].count) {
                view->labels = (bl_labels_t){packer.at, (uint32_t)staged->list[F_LABELS].count,
                                             (uint32_t)staged->list[F_LABELS].text_bytes};
                each_entry(&staged->list[F_LABELS], field_of(plan, F_LABELS), true, pack_entry, &packer);
        }
        if (staged->present[F_TRACEPARENT]) {
                view->traceparent = packer.at;
                packer.at = put_text(packer.at, &staged->text[F_TRACEPARENT]);
        }
        if (staged->present[F_LAST_ERROR]) {
                view->has_last_error = true;
                view->error_retryable = staged->error_retryable;
                view->error_code = packer.at;
                packer.at = put_text(packer.at, &staged->error_text[E_CODE]);
                view->error_message = packer.at;
                packer.at = put_text(packer.at, &staged->error_text[E_MESSAGE]);
        }
}

/* The cold fields, packed in one allocation (bl_item_set_cold_packed); none when the record has none. */
static bool make_cold(const plan_t *plan, const staged_t *staged, bl_item_t *item) {
        _Alignas(sizeof(char *)) char small[1024];
        size_t bytes = cold_view_bytes(staged);
        char *scratch = bytes <= sizeof(small) ? small : malloc(bytes);
        bl_item_cold_t view = {0};
        bool ok;
        if (!scratch)
                return false;
        cold_view(plan, staged, scratch, &view);
        ok = bl_item_set_cold_packed(item, &view);
        if (scratch != small)
                free(scratch);
        return ok;
}

static bool make_payload(const staged_t *staged, bl_item_t *item) {
        const span_t *payload = &staged->text[F_PAYLOAD];
        if (!staged->present[F_PAYLOAD])
                return true;
        if (!(item->payload = malloc(payload->size ? payload->size : 1)))
                return false;
        memcpy(item->payload, payload->bytes, payload->size);
        item->payload_size = (uint32_t)payload->size;
        item->has_payload = true;
        return true;
}

static bool make_event_ids(const plan_t *plan, const staged_t *staged, bl_item_t *item) {
        const list_t *list = &staged->list[F_RECENT_EVENT_IDS];
        packer_t packer = {NULL};
        if (!staged->present[F_RECENT_EVENT_IDS] || !list->count)
                return true;
        if (!(item->recent_event_ids = packer.at = malloc(list->text_bytes)))
                return false;
        each_entry(list, field_of(plan, F_RECENT_EVENT_IDS), false, pack_entry, &packer);
        item->recent_event_count = (uint16_t)list->count;
        return true;
}

static int64_t number_or(const staged_t *staged, int id, int64_t absent) {
        return staged->present[id] ? staged->number[id] : absent;
}

static void set_scalars(const staged_t *staged, bl_item_t *item) {
        item->state = (bl_state_t)staged->number[F_STATE];
        item->seq = staged->number[F_SEQ];
        item->attempt = (int32_t)staged->number[F_ATTEMPT];
        item->max_attempts = (int32_t)number_or(staged, F_MAX_ATTEMPTS, 0);
        item->business_value = staged->real[F_BUSINESS_VALUE];
        item->risk = staged->real[F_RISK];
        item->submitted_at_ms = staged->number[F_SUBMITTED_AT];
        item->deadline_ms = number_or(staged, F_DEADLINE, BL_NO_TIME);
        item->not_before_ms = number_or(staged, F_NOT_BEFORE, BL_NO_TIME);
        item->data_ready_at_ms = number_or(staged, F_DATA_READY_AT, BL_NO_TIME);
        item->state_since_ms = staged->number[F_STATE_SINCE];
        item->ready_since_ms = number_or(staged, F_READY_SINCE, BL_NO_TIME);
        item->lease_expires_at_ms = number_or(staged, F_LEASE_EXPIRES_AT, BL_NO_TIME);
        item->retry_at_ms = number_or(staged, F_RETRY_AT, BL_NO_TIME);
        item->terminal_at_ms = number_or(staged, F_TERMINAL_AT, BL_NO_TIME);
        item->approval_required = number_or(staged, F_APPROVAL_REQUIRED, 0) != 0;
        item->approved = number_or(staged, F_APPROVED, 0) != 0;
        item->placeholder = number_or(staged, F_PLACEHOLDER, 0) != 0;
}

/* ---- the kind, from the kinds met last ----------------------------------------------------- */

static const span_t standard = {(const unsigned char *)"standard", 8};

/* Whether a kind's field @p text is what the record's field reads as: @p span, or NULL for none. */
static bool text_is(const char *text, const span_t *span) {
        if (!span)
                return text == NULL;
        return text && strlen(text) == span->size && !memcmp(text, span->bytes, span->size);
}

static uint64_t hash_spans(const span_t *const fields[4]) {
        uint64_t hash = 0xcbf29ce484222325ULL;
        for (int i = 0; i < 4; i++) {
                for (size_t j = 0; fields[i] && j < fields[i]->size; j++)
                        hash = (hash ^ fields[i]->bytes[j]) * 0x100000001b3ULL;
                hash = (hash ^ (fields[i] ? 0x01u : 0x02u)) * 0x100000001b3ULL;
        }
        return hash;
}

/* The kind interned from the fields, each copied NUL-terminated; NULL when out of memory. */
static const bl_kind_t *intern(const span_t *const fields[4]) {
        char small[256], *scratch = small, *at;
        const char *texts[4];
        size_t size = 4;
        for (int i = 0; i < 4; i++)
                size += fields[i] ? fields[i]->size : 0;
        if (size > sizeof(small) && !(scratch = malloc(size)))
                return NULL;
        at = scratch;
        for (int i = 0; i < 4; i++) {
                texts[i] = fields[i] ? at : NULL;
                at = fields[i] ? put_text(at, fields[i]) : at;
        }
        const bl_kind_t *kind = bl_kind_intern(texts[0], texts[1], texts[2], texts[3]);
        if (scratch != small)
                free(scratch);
        return kind;
}

/*
 * A reference to the record's kind: task_type and domain "" are a
 * placeholder's NULL, tenant null is NULL and sla_class null is "standard",
 * as records.c reads them. A kind met lately is taken from the plan's slots
 * without hashing the table's way or comparing under its lock.
 */
static const bl_kind_t *kind_of(plan_t *plan, const staged_t *staged) {
        const span_t *type = &staged->text[F_TASK_TYPE], *domain = &staged->text[F_DOMAIN];
        const span_t *fields[4] = {type->size ? type : NULL, domain->size ? domain : NULL,
                                   staged->present[F_TENANT] ? &staged->text[F_TENANT] : NULL,
                                   staged->present[F_SLA_CLASS] ? &staged->text[F_SLA_CLASS] : &standard};
        const bl_kind_t **slot = &plan->kinds[hash_spans(fields) % KIND_SLOTS], *kind = *slot;
        if (kind && text_is(kind->task_type, fields[0]) && text_is(kind->domain, fields[1]) &&
            text_is(kind->tenant, fields[2]) && text_is(kind->sla_class, fields[3]))
                return bl_kind_hold(kind);
        if (!(kind = intern(fields)))
                return NULL;
        bl_kind_release(*slot);
        *slot = bl_kind_hold(kind);
        return kind;
}

/* The item of a staged record, of @p kind (a reference it takes over; NULL: out of memory). */
static bl_item_t *build(plan_t *plan, const staged_t *staged, int32_t partition, const bl_kind_t *kind) {
        const span_t *task_id = &staged->text[F_TASK_ID];
        bl_item_t *item = kind ? bl_item_new_with_kind((const char *)task_id->bytes, task_id->size, partition, kind)
                               : NULL;
        if (!item)
                return NULL;
        set_scalars(staged, item);
        if (make_payload(staged, item) && make_event_ids(plan, staged, item) && make_cold(plan, staged, item))
                return item;
        bl_item_destroy(item);
        return NULL;
}

/* ---- the item in place: a view for restore ------------------------------------------- */

/* What a view keeps of its record (view->record), to build the whole item if asked. */
typedef struct view_record_s {
        plan_t *plan;
        staged_t staged; /* its spans point into the record's bytes */
        int32_t partition;
} view_record_t;

/* The record's cold fields set at all: what bl_item_set_cold_packed would keep. */
static bool cold_present(const staged_t *staged) {
        for (size_t i = 0; i < 3; i++)
                if (staged->present[vectors[i]] && staged->list[vectors[i]].count)
                        return true;
        return (staged->present[F_LABELS] && staged->list[F_LABELS].count) || staged->present[F_TRACEPARENT] ||
               staged->present[F_LAST_ERROR];
}

static bool view_fit(bl_records_item_view_t *view, size_t size) {
        if (size <= view->scratch_capacity)
                return true;
        size_t capacity = view->scratch_capacity ? view->scratch_capacity : 1024;
        while (capacity < size)
                capacity *= 2;
        char *grown = malloc(capacity); /* nothing in it is kept from one record to the next */
        if (!grown)
                return false;
        free(view->scratch);
        view->scratch = grown;
        view->scratch_capacity = capacity;
        return true;
}

/*
 * The view's item from a staged record: the cold view first (its slots want
 * the scratch's alignment), then the event ids and the task_id; the payload
 * stays in the record's bytes.
 */
static bool fill_view(plan_t *plan, const staged_t *staged, int32_t partition, bl_records_item_view_t *view) {
        const list_t *ids = &staged->list[F_RECENT_EVENT_IDS];
        bool has_ids = staged->present[F_RECENT_EVENT_IDS] && ids->count;
        size_t cold_bytes = (cold_view_bytes(staged) + sizeof(char *) - 1) & ~(sizeof(char *) - 1);
        const span_t *task_id = &staged->text[F_TASK_ID];
        const bl_kind_t *kind;
        if (!view_fit(view, cold_bytes + (has_ids ? ids->text_bytes : 0) + task_id->size + 1) ||
            (!view->item && !(view->item = calloc(1, sizeof(bl_item_t)))) || !(kind = kind_of(plan, staged)))
                return false;
        bl_kind_release(view->item->kind);
        *view->item = (bl_item_t){.kind = kind,
                                  .partition = partition,
                                  .timer_due_ms = BL_NO_TIME,
                                  .timer_slot = BL_ITEM_NO_SLOT,
                                  .sched_slot = BL_ITEM_NO_SLOT,
                                  .touched_slot = BL_ITEM_NO_SLOT};
        bl_item_t *item = view->item;
        set_scalars(staged, item);
        char *at = view->scratch + cold_bytes;
        view->cold = (bl_item_cold_t){0};
        if (cold_present(staged)) {
                cold_view(plan, staged, view->scratch, &view->cold);
                item->cold = &view->cold;
        }
        if (has_ids) {
                packer_t packer = {at, NULL};
                each_entry(ids, field_of(plan, F_RECENT_EVENT_IDS), false, pack_entry, &packer);
                item->recent_event_ids = at;
                item->recent_event_count = (uint16_t)ids->count;
                at = packer.at;
        }
        item->task_id = at;
        put_text(at, task_id);
        if (staged->present[F_PAYLOAD]) {
                item->payload = (void *)staged->text[F_PAYLOAD].bytes; /* never written through: the view is const */
                item->payload_size = (uint32_t)staged->text[F_PAYLOAD].size;
                item->has_payload = true;
        }
        return true;
}

bool bl_records_item_read_view(bl_schema_t *writer, const unsigned char *body, size_t size, int32_t partition,
                               bl_records_item_view_t *view, bool *declined, bl_record_error_t *error) {
        plan_t *plan = plan_of(writer);
        view_record_t *record = view->record;
        *declined = false;
        if (!plan || (!record && !(view->record = record = malloc(sizeof(*record))))) {
                bl_record_error_transient(error, "out of memory");
                return false;
        }
        if (plan->verdict != PLAN_DIRECT || !stage(plan, body, size, &record->staged)) {
                *declined = true;
                return false;
        }
        record->plan = plan;
        record->partition = partition;
        if (!fill_view(plan, &record->staged, partition, view)) {
                bl_record_error_transient(error, "out of memory");
                return false;
        }
        return true;
}

bl_item_t *bl_records_item_view_whole(const bl_records_item_view_t *view) {
        const view_record_t *record = view->record;
        return build(record->plan, &record->staged, record->partition, bl_kind_hold(view->item->kind));
}

void bl_records_item_view_free(bl_records_item_view_t *view) {
        if (view->item)
                bl_kind_release(view->item->kind);
        free(view->item);
        free(view->scratch);
        free(view->record);
        *view = (bl_records_item_view_t){0};
}

bl_item_t *bl_records_item_read(bl_schema_t *writer, const unsigned char *body, size_t size, int32_t partition,
                                bool *declined, bl_record_error_t *error) {
        plan_t *plan = plan_of(writer);
        staged_t staged;
        bl_item_t *item;
        *declined = false;
        if (!plan) {
                bl_record_error_transient(error, "out of memory");
                return NULL;
        }
        if (plan->verdict != PLAN_DIRECT || !stage(plan, body, size, &staged)) {
                *declined = true;
                return NULL;
        }
        if (!(item = build(plan, &staged, partition, kind_of(plan, &staged))))
                bl_record_error_transient(error, "out of memory");
        return item;
}
