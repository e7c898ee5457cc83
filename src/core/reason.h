/*
 * reason.h: why a record cannot be processed (SPEC §7), and whether that is
 * for good or for now.
 *
 * A record failure is either transient (a registry that does not answer, a
 * broker error: the partition waits and retries, the record is never
 * dead-lettered) or permanent with one of the DLQ reasons below. The flag,
 * never a string match, decides which.
 */
#ifndef BL_REASON_H
#define BL_REASON_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
        BL_REASON_NONE = 0,
        BL_REASON_DECODE_WIRE_FORMAT,
        BL_REASON_DECODE_SCHEMA_UNKNOWN,
        BL_REASON_DECODE_AVRO,
        BL_REASON_CONTRACT_INCOMPATIBLE,
        BL_REASON_CONTRACT_VIOLATION,
        BL_REASON_TRANSITION_ILLEGAL,
        BL_REASON_RETRIES_EXHAUSTED,
        BL_REASON_DEADLINE_EXPIRED,
        BL_REASON_DEPENDENCY_FAILED,
        BL_REASON_PROCESSING_FAILED, /* a record or timer whose own outputs cannot be written (SPEC §6) */
        BL_REASON_RECORD_TOO_LARGE,  /* its copy would be refused: the letter carries coordinates and a prefix */
        BL_REASON__COUNT
} bl_reason_t;

#define BL_RECORD_DETAIL_MAX 256

/** What went wrong with one record. */
typedef struct bl_record_error_s {
        bool transient;                     /* wait and retry; never a DLQ reason */
        bl_reason_t reason;                 /* when permanent */
        char detail[BL_RECORD_DETAIL_MAX];  /* the field path or the message */
        int32_t schema_id;                  /* -1 when unknown */
        bool pending;                       /* transient, only because its schema is being fetched: look again soon */
} bl_record_error_t;

/** "decode.wire_format", ... as written in the dlq.reason header. */
const char *bl_reason_name(bl_reason_t reason);

/** The reason named @p name, or BL_REASON_NONE. */
bl_reason_t bl_reason_parse(const char *name);

/** Clears @p error to "no error, schema unknown". */
void bl_record_error_clear(bl_record_error_t *error);

/** Marks @p error permanent with @p reason and a formatted detail; returns false for `return fail(...)`. */
bool bl_record_error_set(bl_record_error_t *error, bl_reason_t reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/** Marks @p error transient with a formatted detail; returns false. */
bool bl_record_error_transient(bl_record_error_t *error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
