/*
 * encode.h: JSON documents to Avro records in the Confluent wire format, by
 * schema: how `backlogd produce` turns JSON lines into TaskEvents, and how
 * tests build records of any version.
 */
#ifndef BL_ENCODE_H
#define BL_ENCODE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/schemas.h"
#include "base/err.h"

/**
 * Encodes @p document as a datum of @p schema and frames it with
 * @p schema_id (the id records carry: the registry's, or the catalog's).
 * JSON maps onto Avro plainly: a union takes the first branch the JSON value
 * fits (null, boolean, number, string, object, array), bytes are a UTF-8
 * string or {"base64": "..."}, a timestamp-millis long may be an RFC 3339
 * string ("2026-11-28T07:31:47Z", fractions and offsets allowed), a field the
 * document lacks takes the schema's default, and a member the schema does
 * not have is an error (a typo must not vanish silently).
 *
 * On BL_OK *out is malloc'd (the caller frees it) and *out_size its length.
 * BL_ERR_INVALID_ARG with "<field path>: <reason>" in errstr otherwise.
 */
bl_err_t bl_encode_json(bl_schema_t *schema, int32_t schema_id, const json_t *document, unsigned char **out,
                        size_t *out_size, char *errstr, size_t errstr_size);

/** Parses an RFC 3339 timestamp into milliseconds since 1970; false if it is not one. */
bool bl_encode_parse_rfc3339(const char *text, int64_t *ms);

#endif
