/*
 * wire.h: Confluent's wire format: byte 0 is the magic 0, bytes 1-4 the
 * big-endian schema id, then the Avro binary body.
 */
#ifndef BL_WIRE_H
#define BL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reason.h"

#define BL_WIRE_MAGIC 0
#define BL_WIRE_HEADER_SIZE 5

/**
 * Splits @p value into its schema id and Avro body (pointing into @p value).
 * False with decode.wire_format in @p error when the value is shorter than
 * the header or the magic byte is not 0.
 */
bool bl_wire_parse(const void *value, size_t size, int32_t *schema_id, const unsigned char **body,
                   size_t *body_size, bl_record_error_t *error);

/** Writes the 5-byte header for @p schema_id into @p out. */
void bl_wire_write_header(unsigned char out[BL_WIRE_HEADER_SIZE], int32_t schema_id);

#endif
