/*
 * avro_bounds.h: check that bytes hold exactly one Avro datum of a schema
 * before avro-c decodes them.
 */
#ifndef BL_AVRO_BOUNDS_H
#define BL_AVRO_BOUNDS_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/reason.h"

#define BL_AVRO_MAX_DEPTH 32

/**
 * Walks @p body as a datum of @p schema without allocating: every varint
 * ends within its size, every length and block count fits in the bytes that
 * remain, enum and union indexes are in range, booleans are 0 or 1, nesting
 * stays under BL_AVRO_MAX_DEPTH, and no byte is left over. False with
 * decode.avro and the byte offset in @p error otherwise.
 *
 * avro-c trusts lengths: a string claiming a gigabyte is malloc'd before the
 * read fails. This walk is what keeps a poison pill from costing memory.
 */
bool bl_avro_bounds_check(avro_schema_t schema, const void *body, size_t size, bl_record_error_t *error);

#endif
