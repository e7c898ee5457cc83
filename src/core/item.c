/*
 * item.c: task items, their string vectors, state names, and the one static
 * table of legal state changes.
 *
 * An item is kept small, since the backlog holds millions: one allocation
 * with its task_id at the end; a shared kind (kind.c) in place of four
 * strings; its recent event ids packed end to end in one more allocation;
 * the fields few items set (dependencies, labels, trace context, last error)
 * in one more, made the first time one is set. A restored item's come packed:
 * the struct, the vectors' arrays and every string in that one allocation,
 * unpacked into allocations of their own the first time they are changed
 * (bl_item_cold_for_write). Readers that may meet an
 * item without them go through bl_item_cold, which answers an empty set.
 *
 * The table lists each change from != to that SPEC §3 allows. A record with
 * from == to (a "note": an update, a heartbeat, a stale result, a dependent
 * registered) changes no state and is always allowed; the backlog's one
 * change function decides which of the two it is making. Read-only tables;
 * any thread.
 */
#include "core/item.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[BL_STATE__COUNT] = {
        "QUEUED", "BLOCKED", "READY",  "DISPATCHED", "RUNNING", "RETRY_WAIT",
        "COMPLETED", "FAILED", "DEAD", "CANCELLED", "EXPIRED",
};

#define Q (1u << BL_STATE_QUEUED)
#define B (1u << BL_STATE_BLOCKED)
#define R (1u << BL_STATE_READY)
#define D (1u << BL_STATE_DISPATCHED)
#define U (1u << BL_STATE_RUNNING)
#define W (1u << BL_STATE_RETRY_WAIT)
#define C (1u << BL_STATE_COMPLETED)
#define F (1u << BL_STATE_FAILED)
#define X (1u << BL_STATE_DEAD)
#define N (1u << BL_STATE_CANCELLED)
#define E (1u << BL_STATE_EXPIRED)

/* legal[from] is the set of states `from` may change into. */
static const unsigned legal[BL_STATE__COUNT] = {
        /* X from every live state: a task whose own change cannot be written is given up (processing.failed) */
        [BL_STATE_QUEUED] = B | R | N | E | X,
        [BL_STATE_BLOCKED] = R | F | N | E | X, /* F: a dependency failed */
        [BL_STATE_READY] = D | B | N | E | X,   /* B: an update sets not_before */
        [BL_STATE_DISPATCHED] = U | C | F | N | X,
        [BL_STATE_RUNNING] = C | F | N | X,
        [BL_STATE_RETRY_WAIT] = R | B | N | E | X,
        [BL_STATE_FAILED] = W | B | X, /* B: a remediation rule took it (SPEC §14) */
        [BL_STATE_COMPLETED] = 0,
        [BL_STATE_DEAD] = 0,
        [BL_STATE_CANCELLED] = 0,
        [BL_STATE_EXPIRED] = 0,
};

const char *bl_state_name(bl_state_t state) {
        return (unsigned)state < BL_STATE__COUNT ? state_names[state] : "UNKNOWN";
}

int bl_state_parse(const char *name) {
        for (int i = 0; i < BL_STATE__COUNT; i++)
                if (!strcmp(state_names[i], name))
                        return i;
        return -1;
}

bool bl_state_is_terminal(bl_state_t state) {
        return state == BL_STATE_COMPLETED || state == BL_STATE_DEAD || state == BL_STATE_CANCELLED ||
               state == BL_STATE_EXPIRED;
}

bool bl_state_transition_legal(bl_state_t from, bl_state_t to) {
        if ((unsigned)from >= BL_STATE__COUNT || (unsigned)to >= BL_STATE__COUNT)
                return false;
        return from == to || (legal[from] & (1u << to)) != 0;
}

/* ---- string vectors ------------------------------------------------------ */

/* Borrowed: the array and strings are a packed cold part's (see bl_strvec_t). */
static bool borrowed(const bl_strvec_t *vec) {
        return vec->capacity == 0 && vec->items != NULL;
}

/* Makes a borrowed vector's array and strings its own; false when out of memory, the vector then as it was. */
static bool own_strings(bl_strvec_t *vec) {
        char **items = malloc(vec->count * sizeof(*items));
        if (!items)
                return false;
        for (size_t i = 0; i < vec->count; i++)
                if (!(items[i] = strdup(vec->items[i]))) {
                        while (i--)
                                free(items[i]);
                        free(items);
                        return false;
                }
        vec->items = items;
        vec->capacity = vec->count;
        return true;
}

bool bl_strvec_push(bl_strvec_t *vec, const char *text) {
        char *copy;
        if (borrowed(vec) && !own_strings(vec))
                return false;
        if (vec->count == vec->capacity) {
                size_t capacity = vec->capacity ? vec->capacity * 2 : 4;
                char **items = realloc(vec->items, capacity * sizeof(*items));
                if (!items)
                        return false;
                vec->items = items;
                vec->capacity = capacity;
        }
        copy = strdup(text);
        if (!copy)
                return false;
        vec->items[vec->count++] = copy;
        return true;
}

bool bl_strvec_contains(const bl_strvec_t *vec, const char *text) {
        for (size_t i = 0; i < vec->count; i++)
                if (!strcmp(vec->items[i], text))
                        return true;
        return false;
}

bool bl_strvec_remove(bl_strvec_t *vec, const char *text) {
        for (size_t i = 0; i < vec->count; i++) {
                if (strcmp(vec->items[i], text))
                        continue;
                if (borrowed(vec) && !own_strings(vec))
                        return false;
                free(vec->items[i]);
                memmove(&vec->items[i], &vec->items[i + 1], (vec->count - i - 1) * sizeof(*vec->items));
                vec->count--;
                return true;
        }
        return false;
}

void bl_strvec_clear(bl_strvec_t *vec) {
        if (!borrowed(vec)) {
                for (size_t i = 0; i < vec->count; i++)
                        free(vec->items[i]);
                free(vec->items);
        }
        memset(vec, 0, sizeof(*vec));
}

/* ---- labels: one allocation, the pairs end to end ------------------------- */

bool bl_labels_set(bl_labels_t *labels, const char *const *keys, const char *const *values, size_t count) {
        size_t size = 0;
        char *pairs = NULL, *at;
        if (count > UINT32_MAX)
                return false;
        for (size_t i = 0; i < count; i++)
                size += strlen(keys[i]) + 1 + strlen(values[i]) + 1;
        if (size > UINT32_MAX || (count && !(pairs = malloc(size))))
                return false;
        at = pairs;
        for (size_t i = 0; i < count; i++) {
                size_t key_size = strlen(keys[i]) + 1, value_size = strlen(values[i]) + 1;
                memcpy(at, keys[i], key_size);
                memcpy(at + key_size, values[i], value_size);
                at += key_size + value_size;
        }
        free(labels->pairs);
        labels->pairs = pairs;
        labels->count = (uint32_t)count;
        labels->size = (uint32_t)size;
        return true;
}

void bl_labels_clear(bl_labels_t *labels) {
        free(labels->pairs);
        memset(labels, 0, sizeof(*labels));
}

const char *bl_labels_next(const bl_labels_t *labels, const char *key, const char **value) {
        const char *next = labels->pairs;
        if (key) {
                const char *after_key = key + strlen(key) + 1;
                next = after_key + strlen(after_key) + 1;
        }
        if (!labels->count || next >= labels->pairs + labels->size)
                return NULL;
        *value = next + strlen(next) + 1;
        return next;
}

/* ---- items ---------------------------------------------------------------- */

bl_item_t *bl_item_new(const char *task_id, int32_t partition) {
        return bl_item_new_of_kind(task_id, partition, NULL, NULL, NULL, "standard");
}

bl_item_t *bl_item_new_with_kind(const char *task_id, size_t task_id_size, int32_t partition, const bl_kind_t *kind) {
        size_t size = offsetof(bl_item_t, task_id_storage) + task_id_size + 1;
        bl_item_t *item =
                calloc(1, size > sizeof(bl_item_t) ? size : sizeof(bl_item_t)); /* a struct copy stays inside */
        if (!item) {
                bl_kind_release(kind);
                return NULL;
        }
        memcpy(item->task_id_storage, task_id, task_id_size);
        item->task_id_storage[task_id_size] = '\0';
        item->task_id = item->task_id_storage;
        item->kind = kind;
        item->partition = partition;
        item->state = BL_STATE_QUEUED;
        item->submitted_at_ms = item->deadline_ms = item->not_before_ms = item->data_ready_at_ms = BL_NO_TIME;
        item->state_since_ms = item->ready_since_ms = item->lease_expires_at_ms = BL_NO_TIME;
        item->retry_at_ms = item->terminal_at_ms = BL_NO_TIME;
        item->timer_slot = BL_ITEM_NO_SLOT;
        item->sched_slot = BL_ITEM_NO_SLOT;
        item->touched_slot = BL_ITEM_NO_SLOT;
        item->timer_due_ms = BL_NO_TIME;
        return item;
}

bl_item_t *bl_item_new_of_kind(const char *task_id, int32_t partition, const char *task_type, const char *domain,
                               const char *tenant, const char *sla_class) {
        const bl_kind_t *kind = bl_kind_intern(task_type, domain, tenant, sla_class);
        return kind ? bl_item_new_with_kind(task_id, strlen(task_id), partition, kind) : NULL;
}

void bl_item_cold_clear(bl_item_cold_t *cold) {
        if (cold->packed_bytes) { /* all in the one allocation, the struct's own, but vectors changed since */
                bl_strvec_clear(&cold->depends_on);
                bl_strvec_clear(&cold->pending_deps);
                bl_strvec_clear(&cold->dependents);
                memset(cold, 0, sizeof(*cold));
                return;
        }
        bl_strvec_clear(&cold->depends_on);
        bl_strvec_clear(&cold->pending_deps);
        bl_strvec_clear(&cold->dependents);
        bl_labels_clear(&cold->labels);
        free(cold->traceparent);
        free(cold->error_code);
        free(cold->error_message);
        memset(cold, 0, sizeof(*cold));
}

static bool cold_is_empty(const bl_item_cold_t *cold) {
        return !cold->depends_on.count && !cold->pending_deps.count && !cold->dependents.count && !cold->labels.count &&
               !cold->traceparent && !cold->has_last_error && !cold->error_code && !cold->error_message;
}

bool bl_item_adopt_cold(bl_item_t *item, bl_item_cold_t *cold) {
        if (cold_is_empty(cold)) {
                bl_item_cold_clear(cold); /* capacity without content */
                return true;
        }
        if (!(item->cold = malloc(sizeof(*item->cold))))
                return false;
        *item->cold = *cold;
        memset(cold, 0, sizeof(*cold));
        return true;
}

/* ---- the packed cold part: one allocation ------------------------------------ */

static const bl_strvec_t *cold_vector(const bl_item_cold_t *cold, int which) {
        return which == 0 ? &cold->depends_on : which == 1 ? &cold->pending_deps : &cold->dependents;
}

/* Copies @p text to *@p at with its NUL and moves *@p at past it; NULL stays NULL. */
static char *pack_text(char **at, const char *text) {
        size_t size;
        char *copy = *at;
        if (!text)
                return NULL;
        size = strlen(text) + 1;
        memcpy(copy, text, size);
        *at += size;
        return copy;
}

bool bl_item_set_cold_packed(bl_item_t *item, const bl_item_cold_t *cold) {
        size_t pointers = 0, text = cold->labels.count ? cold->labels.size : 0, total;
        const char *const texts[] = {cold->traceparent, cold->error_code, cold->error_message};
        if (cold_is_empty(cold))
                return true;
        for (int v = 0; v < 3; v++) {
                const bl_strvec_t *vec = cold_vector(cold, v);
                pointers += vec->count;
                for (size_t i = 0; i < vec->count; i++)
                        text += strlen(vec->items[i]) + 1;
        }
        for (size_t i = 0; i < 3; i++)
                text += texts[i] ? strlen(texts[i]) + 1 : 0;
        total = sizeof(bl_item_cold_t) + pointers * sizeof(char *) + text;
        bl_item_cold_t *packed = total <= UINT32_MAX ? malloc(total) : NULL;
        if (!packed)
                return false;
        char **slot = (char **)(packed + 1), *at = (char *)(slot + pointers);
        *packed = (bl_item_cold_t){.has_last_error = cold->has_last_error, .error_retryable = cold->error_retryable,
                                   .packed_bytes = (uint32_t)total};
        for (int v = 0; v < 3; v++) {
                const bl_strvec_t *vec = cold_vector(cold, v);
                bl_strvec_t *target = (bl_strvec_t *)cold_vector(packed, v);
                if (!vec->count)
                        continue;
                target->items = slot; /* capacity 0: borrowed */
                target->count = vec->count;
                for (size_t i = 0; i < vec->count; i++)
                        *slot++ = pack_text(&at, vec->items[i]);
        }
        if (cold->labels.count) {
                packed->labels = (bl_labels_t){memcpy(at, cold->labels.pairs, cold->labels.size), cold->labels.count,
                                               cold->labels.size};
                at += cold->labels.size;
        }
        packed->traceparent = pack_text(&at, cold->traceparent);
        packed->error_code = pack_text(&at, cold->error_code);
        packed->error_message = pack_text(&at, cold->error_message);
        item->cold = packed;
        return true;
}

/* The packed cold part as fields of their own, in place of it; false when out of memory (it then stays). */
static bool unpack_cold(bl_item_t *item) {
        const bl_item_cold_t *packed = item->cold;
        bl_item_cold_t *own = calloc(1, sizeof(*own));
        bool ok = own != NULL;
        for (int v = 0; ok && v < 3; v++) {
                const bl_strvec_t *vec = cold_vector(packed, v);
                for (size_t i = 0; ok && i < vec->count; i++)
                        ok = bl_strvec_push((bl_strvec_t *)cold_vector(own, v), vec->items[i]);
        }
        if (ok && packed->labels.count && (ok = (own->labels.pairs = malloc(packed->labels.size)) != NULL)) {
                memcpy(own->labels.pairs, packed->labels.pairs, packed->labels.size);
                own->labels.count = packed->labels.count;
                own->labels.size = packed->labels.size;
        }
        ok = ok && bl_item_replace_text(&own->traceparent, packed->traceparent) &&
             bl_item_replace_text(&own->error_code, packed->error_code) &&
             bl_item_replace_text(&own->error_message, packed->error_message);
        if (!ok) {
                if (own)
                        bl_item_cold_clear(own);
                free(own);
                return false;
        }
        own->has_last_error = packed->has_last_error;
        own->error_retryable = packed->error_retryable;
        bl_item_cold_clear(item->cold); /* a vector changed in place has allocations of its own */
        free(item->cold);
        item->cold = own;
        return true;
}

void bl_item_destroy(bl_item_t *item) {
        if (!item)
                return;
        bl_kind_release(item->kind);
        free(item->payload);
        free(item->recent_event_ids);
        if (item->cold)
                bl_item_cold_clear(item->cold);
        free(item->cold);
        free(item);
}

bool bl_item_set_kind(bl_item_t *item, const char *task_type, const char *domain, const char *tenant,
                      const char *sla_class) {
        if (bl_kind_is(item->kind, task_type, domain, tenant, sla_class))
                return true;
        const bl_kind_t *kind = bl_kind_intern(task_type, domain, tenant, sla_class);
        if (!kind)
                return false;
        bl_kind_release(item->kind);
        item->kind = kind;
        return true;
}

const bl_item_cold_t *bl_item_cold(const bl_item_t *item) {
        static const bl_item_cold_t none;
        return item->cold ? item->cold : &none;
}

bl_item_cold_t *bl_item_cold_for_write(bl_item_t *item) {
        if (item->cold && item->cold->packed_bytes && !unpack_cold(item))
                return NULL;
        if (!item->cold)
                item->cold = calloc(1, sizeof(*item->cold));
        return item->cold;
}

bool bl_item_replace_text(char **field, const char *value) {
        char *copy = value ? strdup(value) : NULL;
        if (value && !copy)
                return false;
        free(*field);
        *field = copy;
        return true;
}

/* ---- recent event ids: one allocation, the ids end to end ----------------- */

/* The bytes the ids take, their NULs included. */
static size_t events_size(const bl_item_t *item) {
        const char *id = item->recent_event_ids;
        for (uint16_t i = 0; i < item->recent_event_count; i++)
                id += strlen(id) + 1;
        return (size_t)(id - item->recent_event_ids);
}

/* ---- memory held ----------------------------------------------------------- */

/* The chunk glibc's malloc (64-bit) takes for a request of @p size bytes; 0 for no allocation. */
static size_t chunk_bytes(size_t size) {
        size_t chunk = (size + 8 + 15) & ~(size_t)15;
        return chunk < 32 ? 32 : chunk;
}

static size_t text_bytes(const char *text) {
        return text ? chunk_bytes(strlen(text) + 1) : 0;
}

static size_t strvec_bytes(const bl_strvec_t *vec) {
        if (borrowed(vec))
                return 0; /* in its packed cold part's allocation */
        size_t bytes = vec->capacity ? chunk_bytes(vec->capacity * sizeof(*vec->items)) : 0;
        for (size_t i = 0; i < vec->count; i++)
                bytes += text_bytes(vec->items[i]);
        return bytes;
}

static size_t cold_bytes(const bl_item_cold_t *cold) {
        if (cold->packed_bytes)
                return chunk_bytes(cold->packed_bytes) + strvec_bytes(&cold->depends_on) +
                       strvec_bytes(&cold->pending_deps) + strvec_bytes(&cold->dependents);
        return chunk_bytes(sizeof(*cold)) + strvec_bytes(&cold->depends_on) + strvec_bytes(&cold->pending_deps) +
               strvec_bytes(&cold->dependents) + (cold->labels.count ? chunk_bytes(cold->labels.size) : 0) +
               text_bytes(cold->traceparent) + text_bytes(cold->error_code) + text_bytes(cold->error_message);
}

size_t bl_item_held_bytes(const bl_item_t *item) {
        size_t own = offsetof(bl_item_t, task_id_storage) + strlen(item->task_id) + 1;
        size_t bytes = chunk_bytes(own > sizeof(bl_item_t) ? own : sizeof(bl_item_t));
        if (item->payload)
                bytes += chunk_bytes(item->payload_size ? item->payload_size : 1);
        if (item->recent_event_ids)
                bytes += chunk_bytes(events_size(item));
        if (item->cold)
                bytes += cold_bytes(item->cold);
        return bytes < UINT32_MAX ? bytes : UINT32_MAX;
}

size_t bl_item_trim(bl_item_t *item) {
        size_t before = bl_item_held_bytes(item);
        free(item->payload);
        item->payload = NULL;
        item->payload_size = 0;
        item->has_payload = false;
        bl_item_cold_t *cold = item->cold;
        if (cold && cold->packed_bytes && !cold->has_last_error) { /* nothing in it stays */
                bl_item_cold_clear(cold);
                free(cold);
                item->cold = cold = NULL;
        }
        if (cold && cold->packed_bytes) { /* the last error stays, packed alone; whole when out of memory */
                bl_item_cold_t error = {.has_last_error = true, .error_retryable = cold->error_retryable,
                                        .error_code = cold->error_code, .error_message = cold->error_message};
                item->cold = NULL;
                if (bl_item_set_cold_packed(item, &error)) {
                        bl_item_cold_clear(cold);
                        free(cold);
                } else
                        item->cold = cold;
                cold = NULL;
        }
        if (cold) {
                bl_strvec_clear(&cold->depends_on);
                bl_strvec_clear(&cold->pending_deps);
                bl_strvec_clear(&cold->dependents);
                bl_labels_clear(&cold->labels);
                free(cold->traceparent);
                cold->traceparent = NULL;
                if (cold_is_empty(cold)) {
                        free(cold);
                        item->cold = NULL;
                }
        }
        return before - bl_item_held_bytes(item);
}

/* An empty id is an id, so the end is found by size, not by an empty string. */
const char *bl_item_event_next(const bl_item_t *item, const char *previous) {
        if (!item->recent_event_count)
                return NULL;
        if (!previous)
                return item->recent_event_ids;
        const char *next = previous + strlen(previous) + 1;
        return next < item->recent_event_ids + events_size(item) ? next : NULL;
}

bool bl_item_event_seen(const bl_item_t *item, const char *event_id) {
        const char *id = item->recent_event_ids;
        for (uint16_t i = 0; i < item->recent_event_count; i++, id += strlen(id) + 1)
                if (!strcmp(id, event_id))
                        return true;
        return false;
}

bool bl_item_remember_event(bl_item_t *item, const char *event_id, size_t window) {
        if (window == 0)
                return true;
        if (window > UINT16_MAX)
                window = UINT16_MAX;
        size_t size = events_size(item), id_size = strlen(event_id) + 1, dropped = 0;
        uint16_t drop_count = 0;
        for (const char *oldest = item->recent_event_ids; (size_t)(item->recent_event_count - drop_count) >= window;
             drop_count++, oldest = item->recent_event_ids + dropped)
                dropped += strlen(oldest) + 1;
        size_t kept = size - dropped;
        if (kept + id_size > size) {
                char *grown = realloc(item->recent_event_ids, kept + id_size);
                if (!grown)
                        return false;
                item->recent_event_ids = grown;
        }
        memmove(item->recent_event_ids, item->recent_event_ids + dropped, kept);
        memcpy(item->recent_event_ids + kept, event_id, id_size);
        item->recent_event_count = (uint16_t)(item->recent_event_count - drop_count + 1);
        return true;
}
