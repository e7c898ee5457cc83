/*
 * task_event.h: a TaskEvent as the pipeline sees it, in the shape of the
 * newest contract version (schemas/task_event/), whatever version wrote it.
 *
 * Pure data, no Kafka and no Avro: contract/ fills it from a record, the
 * backlog consumes it, tests build it by hand. Strings and arrays are
 * borrowed: they point into the decoder's memory and stay valid until the
 * next record is decoded with the same decoder; whoever keeps a value copies
 * it. Absent optional values are NULL strings or has_... = false.
 */
#ifndef BL_TASK_EVENT_H
#define BL_TASK_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
        BL_EVENT_SUBMITTED = 0,
        BL_EVENT_UPDATED,
        BL_EVENT_CANCELLED,
        BL_EVENT_APPROVED,
        BL_EVENT_STARTED,
        BL_EVENT_HEARTBEAT,
        BL_EVENT_COMPLETED,
        BL_EVENT_FAILED,
        BL_EVENT_REJECTED, /* v3 */
        BL_EVENT__COUNT
} bl_event_type_t;

/* An operator's actor and reason, at most (a transition carries each in a field of its own). */
#define BL_ACTOR_MAX_BYTES 128
#define BL_REASON_MAX_BYTES 512

typedef struct bl_task_event_s {
        const char *event_id;
        const char *task_id;
        bl_event_type_t event_type;
        int64_t occurred_at_ms;
        const char *producer;
        const char *tenant;    /* v2; NULL when absent */
        const char *sla_class; /* v2; "standard" by default */
        const char *actor;     /* v3: who decided an operator's event; NULL when absent */
        const char *reason;    /* v3: why; NULL when absent */

        /* SUBMITTED (and UPDATED, for what it changes) */
        const char *task_type;
        const char *domain;
        bool has_business_value;
        double business_value;
        bool has_risk;
        double risk;
        bool has_deadline;
        int64_t deadline_ms;
        bool has_not_before;
        int64_t not_before_ms;
        bool has_data_ready_at;
        int64_t data_ready_at_ms;
        const char *const *depends_on;
        size_t depends_on_count;
        const char *const *label_keys;
        const char *const *label_values;
        size_t label_count;
        bool has_max_attempts;
        int32_t max_attempts;
        bool has_payload;
        const void *payload;
        size_t payload_size;

        /* results: STARTED, HEARTBEAT, COMPLETED, FAILED */
        bool has_attempt;
        int32_t attempt;
        const char *dispatch_id;
        bool has_error;
        const char *error_code;
        const char *error_message;
        bool error_retryable;
} bl_task_event_t;

/** "SUBMITTED", ... as in the contract's EventType enum. */
const char *bl_event_type_name(bl_event_type_t type);

/** The type named @p name, or -1. */
int bl_event_type_parse(const char *name);

/** True for the event types workers write to tasks.results. */
bool bl_event_type_is_result(bl_event_type_t type);

/** True for the event types honoured only from tasks.control (SPEC §12): APPROVED and REJECTED. */
bool bl_event_type_is_control_only(bl_event_type_t type);

#endif
