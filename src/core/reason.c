/*
 * reason.c: the DLQ reason names of SPEC §7 and the record-error helpers.
 * Read-only tables; any thread.
 */
#include "core/reason.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_names[BL_REASON__COUNT] = {
        [BL_REASON_NONE] = "none",
        [BL_REASON_DECODE_WIRE_FORMAT] = "decode.wire_format",
        [BL_REASON_DECODE_SCHEMA_UNKNOWN] = "decode.schema_unknown",
        [BL_REASON_DECODE_AVRO] = "decode.avro",
        [BL_REASON_CONTRACT_INCOMPATIBLE] = "contract.incompatible",
        [BL_REASON_CONTRACT_VIOLATION] = "contract.violation",
        [BL_REASON_TRANSITION_ILLEGAL] = "transition.illegal",
        [BL_REASON_RETRIES_EXHAUSTED] = "retries.exhausted",
        [BL_REASON_DEADLINE_EXPIRED] = "deadline.expired",
        [BL_REASON_DEPENDENCY_FAILED] = "dependency_failed",
        [BL_REASON_PROCESSING_FAILED] = "processing.failed",
        [BL_REASON_RECORD_TOO_LARGE] = "record.too_large",
};

const char *bl_reason_name(bl_reason_t reason) {
        return (unsigned)reason < BL_REASON__COUNT ? reason_names[reason] : "unknown";
}

bl_reason_t bl_reason_parse(const char *name) {
        for (int i = 1; i < BL_REASON__COUNT; i++)
                if (!strcmp(reason_names[i], name))
                        return (bl_reason_t)i;
        return BL_REASON_NONE;
}

void bl_record_error_clear(bl_record_error_t *error) {
        error->transient = false;
        error->pending = false;
        error->reason = BL_REASON_NONE;
        error->detail[0] = '\0';
        error->schema_id = -1;
}

bool bl_record_error_set(bl_record_error_t *error, bl_reason_t reason, const char *fmt, ...) {
        va_list ap;
        error->transient = false;
        error->pending = false;
        error->reason = reason;
        va_start(ap, fmt);
        vsnprintf(error->detail, sizeof(error->detail), fmt, ap);
        va_end(ap);
        return false;
}

bool bl_record_error_transient(bl_record_error_t *error, const char *fmt, ...) {
        va_list ap;
        error->transient = true;
        error->pending = false;
        error->reason = BL_REASON_NONE;
        va_start(ap, fmt);
        vsnprintf(error->detail, sizeof(error->detail), fmt, ap);
        va_end(ap);
        return false;
}
