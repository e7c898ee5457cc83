/*
 * dlq.h: the one road to the dead-letter queue (SPEC §7).
 *
 * Every record backlogd gives up on goes through bl_dlq_send: the original
 * key, value and headers byte for byte, plus dlq.* headers that say why,
 * where it came from and who gave up. The function counts and logs each one.
 */
#ifndef BL_DLQ_H
#define BL_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "core/reason.h"
#include "base/err.h"

typedef struct bl_dlq_s bl_dlq_t;

/** The record as it arrived: every pointer is borrowed for the call. */
typedef struct bl_dlq_original_s {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms;            /* -1 when unknown */
        const void *key;
        size_t key_size;
        const void *value;
        size_t value_size;
        const rd_kafka_headers_t *headers; /* may be NULL */
} bl_dlq_original_t;

/** The original of a consumed message (pointers into it). */
void bl_dlq_original_from_message(const rd_kafka_message_t *message, bl_dlq_original_t *original);

/**
 * Where a writer's dead letters go: enqueues one record for @p topic, copying key and value, and takes over
 * @p headers whatever the outcome; returns librdkafka's error, if any. The pipeline's puts the record into
 * its open batch (batch.c), so a dead letter commits with the input offsets it accounts for.
 */
typedef rd_kafka_resp_err_t (*bl_dlq_produce_fn)(void *opaque, const char *topic, const void *key, size_t key_size,
                                                 const void *value, size_t value_size, rd_kafka_headers_t *headers);

/**
 * A DLQ writer producing to @p topic through @p produce, with @p opaque (borrowed: it must outlive the
 * writer). @p processor names the writer in dlq.processor ("backlogd 0.1.0 <instance>").
 */
bl_dlq_t *bl_dlq_new(bl_dlq_produce_fn produce, void *opaque, const char *topic, const char *processor);
void bl_dlq_destroy(bl_dlq_t *dlq);

/**
 * Enqueues the dead letter for @p original with @p failure's reason and
 * detail, found at @p stage ("ingest", "backlog", ...) after @p attempts
 * attempts. A full local queue is waited out by the produce function, never
 * dropped. BL_ERR_KAFKA with errstr when the record is refused.
 */
bl_err_t bl_dlq_send(bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                     const bl_record_error_t *failure, int attempts, char *errstr, size_t errstr_size);

/**
 * The largest letter the DLQ takes, in bytes: key, value and headers with their framing. A letter that
 * would be larger is sent as record.too_large instead (bl_dlq_send). 0: no bound known.
 */
void bl_dlq_set_max_bytes(bl_dlq_t *dlq, size_t max_bytes);

/**
 * A record.too_large letter for @p original: its coordinates and size, the first BL_DLQ_PREFIX_BYTES of
 * its value, its key when short, no original headers but traceparent; dlq.original.reason says what
 * @p failure it would have carried. Used when the copy would be refused, and as the last resort when a
 * letter could not be written.
 */
bl_err_t bl_dlq_send_too_large(bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                               const bl_record_error_t *failure, int attempts, char *errstr, size_t errstr_size);

/** Bytes of the original value a record.too_large letter keeps. */
#define BL_DLQ_PREFIX_BYTES 1024
/** Room the dlq.* headers take at most, beside the original record, for producer and topic limits. */
#define BL_DLQ_HEADER_ROOM 16384

/** Dead letters sent so far with @p reason. */
uint64_t bl_dlq_count(const bl_dlq_t *dlq, bl_reason_t reason);

#endif
