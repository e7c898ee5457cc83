/*
 * validate.h: the semantic rules of the TaskEvent data contract (SPEC §2),
 * beyond what the schema can say. Pure; a failure names the field.
 */
#ifndef BL_VALIDATE_H
#define BL_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/reason.h"
#include "core/task_event.h"

typedef struct bl_contract_rules_s {
        size_t id_max_bytes;      /* ids and short names */
        size_t text_max_bytes;    /* error code and message */
        size_t depends_on_max;
        size_t labels_max;
        size_t label_max_bytes;
        size_t payload_max_bytes;
        const char *const *domains; /* the known domains */
        size_t domain_count;
} bl_contract_rules_t;

/**
 * Checks @p event against @p rules. False with contract.violation and
 * "<field>: <what is wrong>" in @p error.
 */
bool bl_validate_task_event(const bl_task_event_t *event, const bl_contract_rules_t *rules,
                            bl_record_error_t *error);

#endif
