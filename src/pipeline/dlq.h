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
#include "ops/err.h"

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
 * A DLQ writer producing to @p topic through @p producer (borrowed: it must
 * outlive the writer; with transactions, the record joins the producer's
 * open transaction). @p processor names the writer in dlq.processor
 * ("backlogd 0.1.0 <instance>").
 */
bl_dlq_t *bl_dlq_new(rd_kafka_t *producer, const char *topic, const char *processor);
void bl_dlq_destroy(bl_dlq_t *dlq);

/**
 * Enqueues the dead letter for @p original with @p failure's reason and
 * detail, found at @p stage ("ingest", "backlog", ...) after @p attempts
 * attempts. A full local queue is waited out (the producer is polled), never
 * dropped. BL_ERR_KAFKA with errstr when librdkafka refuses the record;
 * delivery is reported through the producer's delivery callback as usual.
 */
bl_err_t bl_dlq_send(bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                     const bl_record_error_t *failure, int attempts, char *errstr, size_t errstr_size);

/** Dead letters sent so far with @p reason. */
uint64_t bl_dlq_count(const bl_dlq_t *dlq, bl_reason_t reason);

#endif
