/*
 * decoder.c: the ingest path of one record, in the order that fails cheapest
 * first:
 *
 *   size bound -> wire format -> schema by id (cached; the registry on a
 *   miss) -> compatibility of the writer with the reader (once per id) ->
 *   bounds walk (no allocation) -> avro-c decode with the writer schema into
 *   that schema's reused value -> projection onto the newest TaskEvent ->
 *   key == task_id -> semantic rules.
 *
 * Only a registry that cannot answer is transient, and a schema still being
 * fetched (error->pending: the registry has not answered yet, contract/
 * fetcher.c); everything else about a record is permanent and carries its
 * DLQ reason. Not thread-safe: one
 * decoder per ingest thread, over that thread's schema cache.
 */
#include "contract/decoder.h"

#include <stdlib.h>
#include <string.h>

#include "contract/avro_bounds.h"
#include "contract/compat.h"
#include "contract/project.h"
#include "contract/wire.h"

struct bl_decoder_s {
        bl_schemas_t *schemas;
        bl_schema_t *reader;
        bl_projector_t *projector;
        bl_contract_rules_t rules;
        size_t message_max_bytes;
        avro_reader_t avro_reader;
        bool generic_only;  /* never the direct read: tests compare the two */
};

void bl_decoder_set_generic_only(bl_decoder_t *decoder, bool generic_only) {
        decoder->generic_only = generic_only;
}

void bl_decoder_rules_from_config(const bl_config_t *config, bl_contract_rules_t *rules) {
        rules->id_max_bytes = (size_t)config->limits_id_max_bytes;
        rules->text_max_bytes = (size_t)config->limits_text_max_bytes;
        rules->depends_on_max = (size_t)config->limits_depends_on_max;
        rules->labels_max = (size_t)config->limits_labels_max;
        rules->label_max_bytes = (size_t)config->limits_label_max_bytes;
        rules->payload_max_bytes = (size_t)config->limits_payload_max_bytes;
        rules->domains = (const char *const *)config->domains.items;
        rules->domain_count = config->domains.count;
}

void bl_decoder_destroy(bl_decoder_t *decoder) {
        if (!decoder)
                return;
        bl_projector_destroy(decoder->projector);
        if (decoder->avro_reader)
                avro_reader_free(decoder->avro_reader);
        free(decoder);
}

bl_decoder_t *bl_decoder_new(bl_schemas_t *schemas, const bl_contract_rules_t *rules, size_t message_max_bytes,
                             char *errstr, size_t errstr_size) {
        bl_decoder_t *decoder = calloc(1, sizeof(*decoder));
        bl_projection_limits_t limits = {rules->depends_on_max, rules->labels_max};
        if (!decoder) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        decoder->schemas = schemas;
        decoder->rules = *rules;
        decoder->message_max_bytes = message_max_bytes;
        decoder->reader = bl_schemas_newest(schemas, "task_event");
        if (!decoder->reader) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "the schemas have no task_event contract");
                goto fail;
        }
        decoder->projector = bl_projector_new(decoder->reader->json, &limits, errstr, errstr_size);
        decoder->avro_reader = avro_reader_memory("", 0);
        if (!decoder->projector || !decoder->avro_reader)
                goto fail;
        return decoder;
fail:
        bl_decoder_destroy(decoder);
        return NULL;
}

bl_decoder_t *bl_decoder_new_from_config(bl_schemas_t *schemas, const bl_config_t *config, char *errstr,
                                         size_t errstr_size) {
        bl_contract_rules_t rules;
        bl_decoder_rules_from_config(config, &rules);
        return bl_decoder_new(schemas, &rules, (size_t)config->limits_message_max_bytes, errstr, errstr_size);
}

/* The writer schema of the record, checked for compatibility once per id. */
static bool writer_schema(bl_decoder_t *decoder, int32_t schema_id, bl_schema_t **writer, bl_record_error_t *error) {
        char errstr[BL_RECORD_DETAIL_MAX];
        bl_err_t err = bl_schemas_get(decoder->schemas, schema_id, writer, errstr, sizeof(errstr));
        if (err == BL_ERR_PENDING) { /* being fetched: transient, and the wait is short */
                bl_record_error_transient(error, "%s", errstr);
                error->pending = true;
                return false;
        }
        if (err == BL_ERR_UNAVAILABLE)
                return bl_record_error_transient(error, "%s", errstr);
        if (err == BL_ERR_NOT_FOUND)
                return bl_record_error_set(error, BL_REASON_DECODE_SCHEMA_UNKNOWN, "%s", errstr);
        if (err)
                return bl_record_error_set(error, BL_REASON_CONTRACT_INCOMPATIBLE, "%s", errstr);
        if (!(*writer)->compat_checked) {
                (*writer)->compat_ok = bl_compat_can_read(decoder->reader->json, (*writer)->json,
                                                          (*writer)->compat_reason,
                                                          sizeof((*writer)->compat_reason)) == BL_OK;
                (*writer)->compat_checked = true;
        }
        if (!(*writer)->compat_ok)
                return bl_record_error_set(error, BL_REASON_CONTRACT_INCOMPATIBLE,
                                           "schema id %d cannot be read as TaskEvent v%d: %s", (int)schema_id,
                                           decoder->reader->version, (*writer)->compat_reason);
        return true;
}

static bool decode_avro(bl_decoder_t *decoder, bl_schema_t *writer, const unsigned char *body, size_t body_size,
                        bl_record_error_t *error) {
        avro_value_reset(&writer->value);
        avro_reader_memory_set_source(decoder->avro_reader, (const char *)body, (int64_t)body_size);
        if (avro_value_read(decoder->avro_reader, &writer->value))
                return bl_record_error_set(error, BL_REASON_DECODE_AVRO, "%s", avro_strerror());
        return true;
}

/*
 * The direct read of the bytes; when it does not get to their end, the
 * bounds walk, whose verdict comes first, then the direct read's own error
 * or avro-c's generic value and the projection of it. A direct read that
 * gets to the end has made every check of the walk (contract/project.c), so
 * the walk is skipped for it: one pass over the bytes instead of two.
 */
static bool project(bl_decoder_t *decoder, bl_schema_t *writer, const unsigned char *body, size_t body_size,
                    bl_task_event_t *event, bl_record_error_t *error) {
        bl_projection_result_t direct = BL_PROJECTION_GENERIC;
        if (!decoder->generic_only && (direct = bl_projector_read(decoder->projector, writer->avro, body, body_size,
                                                                  event, error)) == BL_PROJECTION_DONE)
                return true;
        if (!bl_avro_bounds_check(writer->avro, body, body_size, error))
                return false;
        if (direct == BL_PROJECTION_FAILED)
                return false; /* sound bytes: the direct read's error stands */
        return decode_avro(decoder, writer, body, body_size, error) &&
               bl_projector_apply(decoder->projector, &writer->value, event, error);
}

static bool check_key(const void *key, size_t key_size, const bl_task_event_t *event, bl_record_error_t *error) {
        if (!key)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION,
                                           "key: missing (records are keyed by task_id)");
        if (key_size != strlen(event->task_id) || memcmp(key, event->task_id, key_size))
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "key: does not match task_id");
        return true;
}

bool bl_decoder_decode(bl_decoder_t *decoder, const void *key, size_t key_size, const void *value, size_t value_size,
                       bl_task_event_t *event, bl_record_error_t *error) {
        const unsigned char *body;
        size_t body_size;
        int32_t schema_id;
        bl_schema_t *writer;
        bl_record_error_clear(error);
        if (value_size > decoder->message_max_bytes)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "value: %zu bytes, the limit is %zu",
                                           value_size, decoder->message_max_bytes);
        return bl_wire_parse(value, value_size, &schema_id, &body, &body_size, error) &&
               writer_schema(decoder, schema_id, &writer, error) &&
               project(decoder, writer, body, body_size, event, error) && check_key(key, key_size, event, error) &&
               bl_validate_task_event(event, &decoder->rules, error);
}
