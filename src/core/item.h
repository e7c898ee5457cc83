/*
 * item.h: one task as the backlog holds it (the BacklogItem contract), the
 * states it can be in, and the static table of legal transitions between
 * them (SPEC §3). Pure C.
 */
#ifndef BL_ITEM_H
#define BL_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BL_NO_TIME ((int64_t)-1)

typedef enum {
        BL_STATE_QUEUED = 0,
        BL_STATE_BLOCKED,
        BL_STATE_READY,
        BL_STATE_DISPATCHED,
        BL_STATE_RUNNING,
        BL_STATE_RETRY_WAIT,
        BL_STATE_COMPLETED,
        BL_STATE_FAILED,
        BL_STATE_DEAD,
        BL_STATE_CANCELLED,
        BL_STATE_EXPIRED,
        BL_STATE__COUNT
} bl_state_t;

/** "QUEUED", ... as in the contracts' TaskState enum. */
const char *bl_state_name(bl_state_t state);
/** The state named @p name, or -1. */
int bl_state_parse(const char *name);
bool bl_state_is_terminal(bl_state_t state);
/** Whether the static table allows @p from -> @p to; from == to (a note: no state change) always is. */
bool bl_state_transition_legal(bl_state_t from, bl_state_t to);

/** A growable array of owned strings. */
typedef struct bl_strvec_s {
        char **items;
        size_t count;
        size_t capacity;
} bl_strvec_t;

bool bl_strvec_push(bl_strvec_t *vec, const char *text);
bool bl_strvec_contains(const bl_strvec_t *vec, const char *text);
bool bl_strvec_remove(bl_strvec_t *vec, const char *text);
void bl_strvec_clear(bl_strvec_t *vec);

/**
 * One task: the fields of the BacklogItem contract. Strings and the payload
 * are owned by the item. Times are milliseconds since 1970, BL_NO_TIME when
 * unset. Fields after the comment "backlog's own" are not part of the
 * snapshot: the backlog keeps them to index the item.
 */
typedef struct bl_item_s {
        char *task_id;
        int32_t partition;
        bl_state_t state;
        int64_t seq;
        int32_t attempt;
        int32_t max_attempts; /* 0: the backlog's default */
        char *task_type;
        char *domain;
        char *tenant;         /* NULL when absent */
        char *sla_class;
        double business_value;
        double risk;
        int64_t submitted_at_ms;
        int64_t deadline_ms;
        int64_t not_before_ms;
        int64_t data_ready_at_ms;
        int64_t state_since_ms;
        int64_t ready_since_ms;
        int64_t lease_expires_at_ms;
        int64_t retry_at_ms;
        int64_t terminal_at_ms;
        bl_strvec_t depends_on;
        bl_strvec_t pending_deps;
        bl_strvec_t dependents;
        bool approval_required;
        bool approved;
        bl_strvec_t label_keys;
        bl_strvec_t label_values;
        bool has_payload;
        void *payload;
        size_t payload_size;
        char *traceparent;   /* NULL when absent */
        bool has_last_error;
        char *error_code;
        char *error_message;
        bool error_retryable;
        bl_strvec_t recent_event_ids; /* oldest first, at most the dedup window */
        bool placeholder;    /* not submitted yet; exists to hold dependents that wait for it */

        /* backlog's own */
        size_t timer_slot;   /* position in the timer heap, or SIZE_MAX */
        size_t sched_slot;   /* position in its domain's scheduler heap (core/scheduler.c), or SIZE_MAX */
        int64_t timer_due_ms;
} bl_item_t;

/** A new item with @p task_id, no state yet (QUEUED, seq 0), every time unset. NULL when out of memory. */
bl_item_t *bl_item_new(const char *task_id, int32_t partition);
void bl_item_destroy(bl_item_t *item);

#endif
