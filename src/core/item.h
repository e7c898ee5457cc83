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

#include "core/kind.h"

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

/**
 * A growable array of owned strings. capacity 0 with items set: the array
 * and strings are borrowed from a packed cold part (bl_item_set_cold_packed);
 * push and remove first make them the vector's own, clear lets them be.
 */
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
 * Labels: @p count key/value pairs packed in one allocation, each pair as
 * "key\0value\0", in the order they were given. An item's labels are set
 * once, with its submission, so they never grow in place.
 */
typedef struct bl_labels_s {
        char *pairs;
        uint32_t count;
        uint32_t size; /* bytes of pairs */
} bl_labels_t;

/** Replaces @p labels by copies of the @p count pairs. False when out of memory; @p labels then stay. */
bool bl_labels_set(bl_labels_t *labels, const char *const *keys, const char *const *values, size_t count);
void bl_labels_clear(bl_labels_t *labels);
/** The key of the pair after the one of @p key (NULL: the first), with *@p value its value; NULL after the last. */
const char *bl_labels_next(const bl_labels_t *labels, const char *key, const char **value);

/**
 * The fields most items never set: dependencies, labels, the trace context
 * and the last error. An item holds them behind one pointer, made the first
 * time one is set (bl_item_cold_for_write).
 *
 * Packed (packed_bytes > 0): the struct and everything it points to are one
 * allocation of packed_bytes, as restore reads a snapshot's
 * (bl_item_set_cold_packed): about a third of the bytes and one allocation
 * instead of five or more. Read it as any other; change it only through
 * bl_item_cold_for_write, which unpacks it first (its vectors also survive a
 * direct bl_strvec_push or bl_strvec_remove, see bl_strvec_t).
 */
typedef struct bl_item_cold_s {
        bl_strvec_t depends_on;
        bl_strvec_t pending_deps;
        bl_strvec_t dependents;
        bl_labels_t labels;
        char *traceparent; /* NULL when absent */
        bool has_last_error;
        bool error_retryable;
        uint32_t packed_bytes; /* 0: each field its own allocation */
        char *error_code;
        char *error_message;
} bl_item_cold_t;

#define BL_ITEM_NO_SLOT UINT32_MAX

/**
 * One task: the fields of the BacklogItem contract. Times are milliseconds
 * since 1970, BL_NO_TIME when unset. The payload, the event ids and the cold
 * fields are owned by the item; its kind is shared (core/kind.h). The fields
 * marked "backlog's own" are not part of the snapshot: the backlog keeps them
 * to index the item.
 *
 * Laid out for size, since the backlog holds millions: the fields widest
 * first, so that no padding comes before task_id's bytes. A READY item
 * without payload, labels or dependencies is one allocation of about 200
 * bytes, its task_id included (bench/scheduler.c measures it).
 */
typedef struct bl_item_s {
        const char *task_id;   /* bl_item_new's: in the item's own allocation */
        const bl_kind_t *kind; /* task_type, domain, tenant, sla_class; never NULL in bl_item_new's */
        int64_t seq;
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
        void *payload;
        char *recent_event_ids; /* recent_event_count ids end to end, each with its NUL, oldest first */
        bl_item_cold_t *cold;   /* NULL while every cold field is unset; read it through bl_item_cold */
        int64_t timer_due_ms;   /* backlog's own: when the item's timer is due, or BL_NO_TIME */
        int32_t partition;
        int32_t attempt;
        int32_t max_attempts; /* 0: the backlog's default */
        uint32_t payload_size;
        uint32_t timer_slot; /* backlog's own: position in the timer heap, or BL_ITEM_NO_SLOT */
        uint32_t sched_slot; /* backlog's own: position in its domain's scheduler heap, or BL_ITEM_NO_SLOT */
        uint32_t held_bytes; /* backlog's own: bl_item_held_bytes when it last counted the item */
        uint32_t touched_slot; /* backlog's own: position in its list of tasks to freeze at the batch's end, or BL_ITEM_NO_SLOT */
        bl_state_t state;
        uint16_t recent_event_count; /* at most the dedup window */
        bool approval_required;
        bool approved;
        bool has_payload;
        bool placeholder;       /* not submitted yet; exists to hold dependents that wait for it */
        bool overdue;           /* backlog's own: READY past its decision deadline, or late: dispatched first */
        char task_id_storage[]; /* where bl_item_new keeps task_id */
} bl_item_t;

/**
 * A new item with @p task_id, no state yet (QUEUED, seq 0), every time unset,
 * of the kind with only sla_class "standard". NULL when out of memory.
 */
bl_item_t *bl_item_new(const char *task_id, int32_t partition);
/** The same, of the kind with these fields (each may be NULL): one lookup in the kinds' table, not two. */
bl_item_t *bl_item_new_of_kind(const char *task_id, int32_t partition, const char *task_type, const char *domain,
                               const char *tenant, const char *sla_class);
/**
 * The same, with the @p task_id_size bytes at @p task_id (no NUL needed) and
 * @p kind, whose reference the item takes over (the caller's bl_kind_hold or
 * bl_kind_intern). NULL when out of memory; the reference is then given back.
 */
bl_item_t *bl_item_new_with_kind(const char *task_id, size_t task_id_size, int32_t partition, const bl_kind_t *kind);
/** Frees the item, its payload, event ids and cold fields, and gives back its kind. NULL is a no-op. */
void bl_item_destroy(bl_item_t *item);

/**
 * Gives the item the kind with these fields (each may be NULL) in place of
 * its own; nothing to do, and no lock taken, when they are its kind's
 * already. False when out of memory.
 */
bool bl_item_set_kind(bl_item_t *item, const char *task_type, const char *domain, const char *tenant,
                      const char *sla_class);

/** The item's cold fields; every one unset (one shared, empty set) when it has none. */
const bl_item_cold_t *bl_item_cold(const bl_item_t *item);
/** The item's cold fields to change, made empty the first time. NULL when out of memory. */
bl_item_cold_t *bl_item_cold_for_write(bl_item_t *item);
/** Moves @p cold's fields into the item's (which must have none yet) unless every one is unset. False when out of
 * memory; @p cold then stays. */
bool bl_item_adopt_cold(bl_item_t *item, bl_item_cold_t *cold);
/**
 * Gives the item (which must have no cold part yet) a packed copy of
 * @p cold's fields, whose strings may be anywhere, unless every one is unset.
 * False when out of memory (or more than 4 GiB); the item then has none.
 */
bool bl_item_set_cold_packed(bl_item_t *item, const bl_item_cold_t *cold);
/** Frees what @p cold holds and unsets every field (a packed one holds nothing apart from itself). */
void bl_item_cold_clear(bl_item_cold_t *cold);
/** Replaces *@p field by a copy of @p value (NULL clears it). False when out of memory; *@p field then stays. */
bool bl_item_replace_text(char **field, const char *value);

/**
 * The heap bytes the item holds: its own allocation, payload, event ids and
 * cold fields, each counted as the chunk glibc's malloc gives for it (the
 * request plus its 8-byte header, rounded up to 16, at least 32). Its kind
 * is shared and not counted. At most UINT32_MAX.
 */
size_t bl_item_held_bytes(const bl_item_t *item);

/**
 * Frees what a terminal task no longer needs once its last snapshot with
 * them is written: payload, labels, depends_on, pending_deps, dependents
 * and traceparent. What de-duplication and the snapshot's identity need
 * stays: task_id, kind, state, seq, attempt, times, recent event ids and
 * the last error. Returns the bytes freed (as bl_item_held_bytes counts).
 */
size_t bl_item_trim(bl_item_t *item);

/** Whether @p event_id is among the item's recent event ids. */
bool bl_item_event_seen(const bl_item_t *item, const char *event_id);
/**
 * Appends @p event_id to the recent event ids, first dropping the oldest when
 * @p window are already held. False when out of memory; the ids then stay.
 */
bool bl_item_remember_event(bl_item_t *item, const char *event_id, size_t window);
/** The recent event id after @p previous (NULL: the oldest), or NULL after the last. */
const char *bl_item_event_next(const bl_item_t *item, const char *previous);

#endif
