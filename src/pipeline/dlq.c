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
 * or a control character becomes the text \xNN (base/text.c), and the
 * header stays readable by every UTF-8 string deserializer and JSON tool.
 *
 * The DLQ never refuses a letter for its size: a letter larger than the
 * DLQ topic takes (its max.message.bytes, read at start-up) or than the
 * record bounds admit (limits.message_max_bytes) is written as
 * record.too_large: the original's coordinates, size and a bounded prefix
 * of its value, with the reason it would have carried in
 * dlq.original.reason. Runs on the pipeline thread.
 */
#include "pipeline/dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/text.h"
#include "base/log.h"

struct bl_dlq_s {
        bl_dlq_produce_fn produce;
        void *produce_opaque;
        char *topic;
        char *processor;
        size_t max_bytes; /* the largest letter the DLQ topic takes; 0: unknown */
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

void bl_dlq_set_max_bytes(bl_dlq_t *dlq, size_t max_bytes) {
        dlq->max_bytes = max_bytes;
}

/* What a record takes in a record batch: its framing (at most 21 bytes of varints and attributes), key, value. */
#define RECORD_FRAMING_BYTES 32
#define BATCH_FRAMING_BYTES 61

/* The size of a letter as the broker counts it against max.message.bytes (one record in its batch). */
static size_t letter_bytes(size_t key_size, size_t value_size, const rd_kafka_headers_t *headers) {
        size_t bytes = BATCH_FRAMING_BYTES + RECORD_FRAMING_BYTES + key_size + value_size;
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0; headers && !rd_kafka_header_get_all(headers, i, &name, &value, &size); i++)
                bytes += strlen(name) + size + 10; /* two varint lengths */
        return bytes;
}

static bl_err_t produce_letter(bl_dlq_t *dlq, const bl_dlq_original_t *original, const void *key, size_t key_size,
                               const void *value, size_t value_size, rd_kafka_headers_t *headers, bl_reason_t reason,
                               const char *detail, char *errstr, size_t errstr_size) {
        rd_kafka_resp_err_t err =
                dlq->produce(dlq->produce_opaque, dlq->topic, key, key_size, value, value_size, headers);
        if (err)
                return bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "cannot produce to %s: %s", dlq->topic,
                                  rd_kafka_err2str(err));
        dlq->counts[reason]++;
        bl_log_warn("dlq", "%s [%" PRId32 "] offset %" PRId64 " -> %s: %s: %s", original->topic, original->partition,
                    original->offset, dlq->topic, bl_reason_name(reason), detail);
        return BL_OK;
}

bl_err_t bl_dlq_send_too_large(bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                               const bl_record_error_t *failure, int attempts, char *errstr, size_t errstr_size) {
        bl_dlq_original_t bare = *original;
        bl_record_error_t too_large = *failure;
        const void *traceparent;
        size_t traceparent_size;
        bare.headers = NULL;
        too_large.reason = BL_REASON_RECORD_TOO_LARGE;
        snprintf(too_large.detail, sizeof(too_large.detail), "%zu bytes (key %zu, value %zu): %.180s",
                 original->key_size + original->value_size, original->key_size, original->value_size,
                 failure->detail);
        rd_kafka_headers_t *headers = dlq_headers(dlq, &bare, stage, &too_large, attempts);
        if (original->headers && !rd_kafka_header_get_last(original->headers, "traceparent", &traceparent,
                                                           &traceparent_size) && traceparent)
                rd_kafka_header_add(headers, "traceparent", -1, traceparent, (ssize_t)traceparent_size);
        add_header(headers, "dlq.original.reason", bl_reason_name(failure->reason));
        add_number_header(headers, "dlq.original.size", (int64_t)original->value_size);
        add_number_header(headers, "dlq.original.key_size", (int64_t)original->key_size);
        size_t key_size = original->key_size <= BL_DLQ_PREFIX_BYTES ? original->key_size : 0;
        size_t prefix = original->value_size < BL_DLQ_PREFIX_BYTES ? original->value_size : BL_DLQ_PREFIX_BYTES;
        return produce_letter(dlq, original, key_size ? original->key : NULL, key_size,
                              original->value ? original->value : "", prefix, headers,
                              BL_REASON_RECORD_TOO_LARGE, too_large.detail, errstr, errstr_size);
}

bl_err_t bl_dlq_send(bl_dlq_t *dlq, const bl_dlq_original_t *original, const char *stage,
                     const bl_record_error_t *failure, int attempts, char *errstr, size_t errstr_size) {
        rd_kafka_headers_t *headers = dlq_headers(dlq, original, stage, failure, attempts);
        if (dlq->max_bytes && letter_bytes(original->key_size, original->value_size, headers) > dlq->max_bytes) {
                rd_kafka_headers_destroy(headers);
                return bl_dlq_send_too_large(dlq, original, stage, failure, attempts, errstr, errstr_size);
        }
        return produce_letter(dlq, original, original->key, original->key_size, original->value, original->value_size,
                              headers, failure->reason, failure->detail, errstr, errstr_size);
}

uint64_t bl_dlq_count(const bl_dlq_t *dlq, bl_reason_t reason) {
        return (unsigned)reason < BL_REASON__COUNT ? dlq->counts[reason] : 0;
}
