/*
 * item.c: task items, their string vectors, state names, and the one static
 * table of legal state changes.
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
        [BL_STATE_QUEUED] = B | R | N | E,
        [BL_STATE_BLOCKED] = R | F | N | E,     /* F: a dependency failed */
        [BL_STATE_READY] = D | B | N | E,       /* B: an update sets not_before */
        [BL_STATE_DISPATCHED] = U | C | F | N,
        [BL_STATE_RUNNING] = C | F | N,
        [BL_STATE_RETRY_WAIT] = R | B | N | E,
        [BL_STATE_FAILED] = W | X,
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

bool bl_strvec_push(bl_strvec_t *vec, const char *text) {
        char *copy;
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
                free(vec->items[i]);
                memmove(&vec->items[i], &vec->items[i + 1], (vec->count - i - 1) * sizeof(*vec->items));
                vec->count--;
                return true;
        }
        return false;
}

void bl_strvec_clear(bl_strvec_t *vec) {
        for (size_t i = 0; i < vec->count; i++)
                free(vec->items[i]);
        free(vec->items);
        memset(vec, 0, sizeof(*vec));
}

/* ---- items ---------------------------------------------------------------- */

bl_item_t *bl_item_new(const char *task_id, int32_t partition) {
        bl_item_t *item = calloc(1, sizeof(*item));
        if (!item)
                return NULL;
        item->task_id = strdup(task_id);
        item->sla_class = strdup("standard");
        if (!item->task_id || !item->sla_class) {
                bl_item_destroy(item);
                return NULL;
        }
        item->partition = partition;
        item->state = BL_STATE_QUEUED;
        item->submitted_at_ms = item->deadline_ms = item->not_before_ms = item->data_ready_at_ms = BL_NO_TIME;
        item->state_since_ms = item->ready_since_ms = item->lease_expires_at_ms = BL_NO_TIME;
        item->retry_at_ms = item->terminal_at_ms = BL_NO_TIME;
        item->timer_slot = SIZE_MAX;
        item->sched_slot = SIZE_MAX;
        item->timer_due_ms = BL_NO_TIME;
        return item;
}

void bl_item_destroy(bl_item_t *item) {
        if (!item)
                return;
        free(item->task_id);
        free(item->task_type);
        free(item->domain);
        free(item->tenant);
        free(item->sla_class);
        free(item->payload);
        free(item->traceparent);
        free(item->error_code);
        free(item->error_message);
        bl_strvec_clear(&item->depends_on);
        bl_strvec_clear(&item->pending_deps);
        bl_strvec_clear(&item->dependents);
        bl_strvec_clear(&item->label_keys);
        bl_strvec_clear(&item->label_values);
        bl_strvec_clear(&item->recent_event_ids);
        free(item);
}
