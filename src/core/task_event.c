/*
 * task_event.c: names of event types. The order matches the EventType enum
 * of schemas/task_event/ (a unit test compares them).
 */
#include "core/task_event.h"

#include <string.h>

static const char *const event_type_names[BL_EVENT__COUNT] = {
        "SUBMITTED", "UPDATED", "CANCELLED", "APPROVED", "STARTED", "HEARTBEAT", "COMPLETED", "FAILED", "REJECTED",
};

const char *bl_event_type_name(bl_event_type_t type) {
        return (unsigned)type < BL_EVENT__COUNT ? event_type_names[type] : "UNKNOWN";
}

int bl_event_type_parse(const char *name) {
        for (int i = 0; i < BL_EVENT__COUNT; i++)
                if (!strcmp(event_type_names[i], name))
                        return i;
        return -1;
}

bool bl_event_type_is_result(bl_event_type_t type) {
        return type == BL_EVENT_STARTED || type == BL_EVENT_HEARTBEAT || type == BL_EVENT_COMPLETED ||
               type == BL_EVENT_FAILED;
}

bool bl_event_type_is_control_only(bl_event_type_t type) {
        return type == BL_EVENT_APPROVED || type == BL_EVENT_REJECTED;
}
