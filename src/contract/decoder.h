/*
 * decoder.h: from the bytes of an input record to a valid TaskEvent, or the
 * reason why not: wire format, schema lookup, compatibility, bounds, Avro
 * decode, projection onto the newest contract, semantic rules.
 */
#ifndef BL_DECODER_H
#define BL_DECODER_H

#include <stdbool.h>
#include <stddef.h>

#include "contract/schemas.h"
#include "contract/validate.h"
#include "core/reason.h"
#include "core/task_event.h"
#include "ops/config.h"

typedef struct bl_decoder_s bl_decoder_t;

/** The contract's rules and bounds as the config sets them; @p config must outlive @p rules. */
void bl_decoder_rules_from_config(const bl_config_t *config, bl_contract_rules_t *rules);

/**
 * A decoder over @p schemas (borrowed; it must outlive the decoder), reading
 * into the newest task_event contract of the catalog. NULL with errstr when
 * the catalog and the code disagree about TaskEvent.
 */
bl_decoder_t *bl_decoder_new(bl_schemas_t *schemas, const bl_contract_rules_t *rules, size_t message_max_bytes,
                             char *errstr, size_t errstr_size);
void bl_decoder_destroy(bl_decoder_t *decoder);

/** A decoder with the rules and limits of @p config (which must outlive it). */
bl_decoder_t *bl_decoder_new_from_config(bl_schemas_t *schemas, const bl_config_t *config, char *errstr,
                                         size_t errstr_size);

/**
 * Decodes one record. True with @p event filled (borrowed until the next
 * call). False with @p error: transient (the registry cannot answer: retry
 * later, never dead-letter; error->pending when its schema is still being
 * fetched: retry soon) or permanent with its DLQ reason and detail.
 * The record's key must be its task_id.
 */
bool bl_decoder_decode(bl_decoder_t *decoder, const void *key, size_t key_size, const void *value, size_t value_size,
                       bl_task_event_t *event, bl_record_error_t *error);

/**
 * Reads every record through avro-c's generic values and the projection,
 * never straight from the bytes (bl_projector_read). For tests that hold
 * the two paths to the same results.
 */
void bl_decoder_set_generic_only(bl_decoder_t *decoder, bool generic_only);

#endif
