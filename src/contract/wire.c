/*
 * wire.c: frame and unframe Confluent wire-format values. No allocation;
 * any thread.
 */
#include "contract/wire.h"

bool bl_wire_parse(const void *value, size_t size, int32_t *schema_id, const unsigned char **body,
                   size_t *body_size, bl_record_error_t *error) {
        const unsigned char *bytes = value;
        if (!bytes || size < BL_WIRE_HEADER_SIZE)
                return bl_record_error_set(error, BL_REASON_DECODE_WIRE_FORMAT,
                                           "value is %zu bytes, shorter than the 5-byte header", bytes ? size : 0);
        if (bytes[0] != BL_WIRE_MAGIC)
                return bl_record_error_set(error, BL_REASON_DECODE_WIRE_FORMAT, "magic byte is 0x%02x, not 0x00",
                                           bytes[0]);
        *schema_id = (int32_t)((uint32_t)bytes[1] << 24 | (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 8 |
                               (uint32_t)bytes[4]);
        error->schema_id = *schema_id;
        *body = bytes + BL_WIRE_HEADER_SIZE;
        *body_size = size - BL_WIRE_HEADER_SIZE;
        return true;
}

void bl_wire_write_header(unsigned char out[BL_WIRE_HEADER_SIZE], int32_t schema_id) {
        uint32_t id = (uint32_t)schema_id;
        out[0] = BL_WIRE_MAGIC;
        out[1] = (unsigned char)(id >> 24);
        out[2] = (unsigned char)(id >> 16);
        out[3] = (unsigned char)(id >> 8);
        out[4] = (unsigned char)id;
}
