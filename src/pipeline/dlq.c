/*
 * dlq.c: build and send dead letters.
 *
 * The record keeps the original key and value (copied by the writer's
 * produce function) and a copy of the original headers, then gets the
 * dlq.* headers of SPEC §7, all string values: reason, detail, stage,
 * original topic/partition/offset/timestamp, schema id when known, attempts,
 * the time of failure (RFC 3339, UTC) and the processor. It is keyed by the
 * original key, so the DLQ keeps a task's letters in one partition.
 * The detail never holds configuration or secrets: it is the field path or
 * the decoder's message. It may quote input (a label key in a field path),
 * so it is written as valid UTF-8 without control characters: a stray byte
 * or a control character becomes the text \xNN (core/text.c), and the
 * header stays readable by every UTF-8 string deserializer and JSON tool.
 * Runs on the pipeline thread.
 */
#include "pipeline/dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/text.h"
#include "ops/log.h"

struct bl_dlq_s {
        bl_dlq_produce_fn produce;
        void *produce_opaque;
        char *topic;
        char *processor;
        uint64_t counts[BL_REASON__COUNT];
};

void bl_dlq_original_from_message(const rd_kafka_message_t *message, bl_dlq_original_t *original) {
        rd_kafka_headers_t *headers = NULL;
        rd_kafka_timestamp_type_t timestamp_type;
        original->topic = rd_kafka_topic_name(message->rkt);
        original->partition = message->partition;
        original->offset = message->offset;
        original->timestamp_ms = rd_kafka_message_timestamp(message, &timestamp_type);
        original->key = message->key;
        original->key_size = message->key_len;
        original->value = message->payload;
        original->value_size = message->len;
        original->headers = rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR ? headers : NULL;
}

bl_dlq_t *bl_dlq_new(bl_dlq_produce_fn produce, void *opaque, const char *topic, const char *processor) {
        bl_dlq_t *dlq = calloc(1, sizeof(*dlq));
        if (!dlq)
                return NULL;
        dlq->produce = produce;
        dlq->produce_opaque = opaque;
        dlq->topic = strdup(topic);
        dlq->processor = strdup(processor);
        if (!dlq->topic || !dlq->processor) {
                bl_dlq_destroy(dlq);
                return NULL;
        }
        return dlq;
}

void bl_dlq_destroy(bl_dlq_t *dlq) {
        if (!dlq)
                return;
        free(dlq->topic);
        free(dlq->processor);
        free(dlq);
}

static void add_header(rd_kafka_headers_t *headers, const char *name, const char *value) {
        rd_kafka_header_add(headers, name, -1, value, -1);
}

static void add_number_header(rd_kafka_headers_t *headers, const char *name, int64_t value) {
        char text[32];
        snprintf(text, sizeof(text), "%" PRId64, value);
        add_header(headers, name, text);
}

static void format_now(char *out, size_t out_size) {
        struct timespec now;
        struct tm utc;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &utc);
        size_t len = strftime(out, out_size, "%Y-%m-%dT%H:%M:%S", &utc);
        snprintf(out + len, out_size - len, ".%03ldZ", now.tv_nsec / 1000000L);
}

static rd_kafka_headers_t *dlq_headers(const bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                                       const bl_record_error_t *failure, int attempts) {
        rd_kafka_headers_t *headers = original->headers ? rd_kafka_headers_copy(original->headers)
                                                        : rd_kafka_headers_new(12);
        char failed_at[40], detail[4 * BL_RECORD_DETAIL_MAX];
        bl_text_escape_bytes(detail, sizeof(detail), failure->detail, strnlen(failure->detail, BL_RECORD_DETAIL_MAX));
        add_header(headers, "dlq.reason", bl_reason_name(failure->reason));
        add_header(headers, "dlq.detail", detail);
        add_header(headers, "dlq.stage", stage);
        add_header(headers, "dlq.original.topic", original->topic);
        add_number_header(headers, "dlq.original.partition", original->partition);
        add_number_header(headers, "dlq.original.offset", original->offset);
        add_number_header(headers, "dlq.original.timestamp", original->timestamp_ms);
        if (failure->schema_id >= 0)
                add_number_header(headers, "dlq.schema.id", failure->schema_id);
        add_number_header(headers, "dlq.attempts", attempts);
        format_now(failed_at, sizeof(failed_at));
        add_header(headers, "dlq.failed_at", failed_at);
        add_header(headers, "dlq.processor", dlq->processor);
        return headers;
}

bl_err_t bl_dlq_send(bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                     const bl_record_error_t *failure, int attempts, char *errstr, size_t errstr_size) {
        rd_kafka_headers_t *headers = dlq_headers(dlq, original, stage, failure, attempts);
        rd_kafka_resp_err_t err = dlq->produce(dlq->produce_opaque, dlq->topic, original->key, original->key_size,
                                               original->value, original->value_size, headers);
        if (err)
                return bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "cannot produce to %s: %s", dlq->topic,
                                  rd_kafka_err2str(err));
        dlq->counts[failure->reason]++;
        bl_log_warn("dlq", "%s [%" PRId32 "] offset %" PRId64 " -> %s: %s: %s", original->topic, original->partition,
                    original->offset, dlq->topic, bl_reason_name(failure->reason), failure->detail);
        return BL_OK;
}

uint64_t bl_dlq_count(const bl_dlq_t *dlq, bl_reason_t reason) {
        return (unsigned)reason < BL_REASON__COUNT ? dlq->counts[reason] : 0;
}
