/*
 * project.h: read a decoded TaskEvent of any compatible writer schema into
 * the shape of the newest TaskEvent contract (core/task_event.h), by field
 * name, with the newest contract's defaults for what the writer lacks.
 *
 * This is the Avro specification's schema resolution, done in our code:
 * avro-c 1.11.1's own resolver cannot add reader fields and can crash
 * (PITFALLS.md), so records are decoded with their writer schema and
 * projected here.
 */
#ifndef BL_PROJECT_H
#define BL_PROJECT_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>

#include "core/reason.h"
#include "core/task_event.h"
#include "base/err.h"

typedef struct bl_projector_s bl_projector_t;

/** Count limits the projection enforces while it copies arrays and maps. */
typedef struct bl_projection_limits_s {
        size_t depends_on_max;
        size_t labels_max;
} bl_projection_limits_t;

/**
 * A projector onto @p reader_schema (the newest TaskEvent, as JSON). Fails
 * with errstr when the reader has a field backlogd does not know, or lacks
 * one it needs, or a default that does not fit: the contracts and the code
 * are out of step, which start-up must catch.
 */
bl_projector_t *bl_projector_new(const json_t *reader_schema, const bl_projection_limits_t *limits, char *errstr,
                                 size_t errstr_size);
void bl_projector_destroy(bl_projector_t *projector);

/**
 * Fills @p event from @p record (a generic value of the writer schema).
 * Strings and arrays in @p event point into @p record or into the
 * projector's scratch memory: valid until the next call. False with
 * contract.incompatible or contract.violation (too many items, a NUL inside a
 * string) in @p error.
 */
bool bl_projector_apply(bl_projector_t *projector, avro_value_t *record, bl_task_event_t *event,
                        bl_record_error_t *error);

typedef enum {
        BL_PROJECTION_DONE,    /* the event is filled */
        BL_PROJECTION_FAILED,  /* @p error says why */
        BL_PROJECTION_GENERIC, /* the writer schema has a shape only bl_projector_apply reads: nothing was read */
} bl_projection_result_t;

/**
 * Fills @p event straight from @p body, the Avro bytes of a record of
 * @p writer, without avro-c's generic values, for writer schemas whose
 * fields all have a shape it knows (the contracts' own, and compatible
 * versions of them). Same rules and errors as bl_projector_apply; strings
 * are copies in the projector's memory, the payload points into @p body:
 * valid until the next call, and no longer than @p body. @p writer must live
 * as long as the projector (the schema cache's do).
 *
 * The bytes need not have passed bl_avro_bounds_check: DONE means every byte
 * was read and none that the walk refuses was found. After FAILED or
 * GENERIC the caller runs the walk before anything else, and the walk's
 * error, when it has one, is the record's.
 */
bl_projection_result_t bl_projector_read(bl_projector_t *projector, avro_schema_t writer, const void *body,
                                         size_t size, bl_task_event_t *event, bl_record_error_t *error);

#endif
