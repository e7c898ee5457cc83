/*
 * ingest.h: one input record in, one outcome out: handed on to the next
 * stage, dead-lettered with its reason, or to be retried later.
 */
#ifndef BL_INGEST_H
#define BL_INGEST_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "contract/decoder.h"
#include "core/task_event.h"
#include "pipeline/dlq.h"

/** Where a valid event came from: its position and headers (borrowed for the call). */
typedef struct bl_input_ref_s {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms;
        const rd_kafka_headers_t *headers;
} bl_input_ref_t;

/**
 * The next stage, as ingest sees it: one call per valid event. BL_OK: the
 * stage has taken it (its offset may be committed with the stage's output).
 * BL_ERR_UNAVAILABLE: it cannot now; the partition waits and the event comes
 * again. BL_ERR_REFUSED: it never will (an illegal transition): @p refusal
 * says why, and ingest dead-letters the record. The event is borrowed.
 */
typedef struct bl_ingest_sink_s {
        bl_err_t (*accept)(void *opaque, const bl_task_event_t *event, const bl_input_ref_t *source,
                           bl_record_error_t *refusal);
        void *opaque;
} bl_ingest_sink_t;

typedef enum {
        BL_INGEST_HANDED_ON = 0,
        BL_INGEST_DEAD_LETTERED,
        BL_INGEST_RETRY, /* transient: nothing happened; process the record again later */
        BL_INGEST_WAIT,  /* transient: its schema is being fetched; process the record again shortly */
} bl_ingest_outcome_t;

typedef struct bl_ingest_stats_s {
        uint64_t consumed;
        uint64_t handed_on;
        uint64_t dead_lettered;
        uint64_t retries;
        uint64_t refused_by_topic; /* APPROVED/REJECTED outside tasks.control, or a non-operator event on it */
} bl_ingest_stats_t;

typedef struct bl_ingest_s bl_ingest_t;

/**
 * Ingest over @p decoder and @p dlq (both borrowed) into @p sink (copied).
 * @p control_topic (copied) is tasks.control's name: the one topic whose
 * APPROVED and REJECTED are honoured (SPEC §12).
 */
bl_ingest_t *bl_ingest_new(bl_decoder_t *decoder, bl_dlq_t *dlq, const bl_ingest_sink_t *sink,
                           const char *control_topic);
void bl_ingest_destroy(bl_ingest_t *ingest);

/**
 * Decodes, validates and routes @p message. On BL_INGEST_RETRY and
 * BL_INGEST_WAIT, @p why says what was transient.
 */
bl_ingest_outcome_t bl_ingest_record(bl_ingest_t *ingest, const rd_kafka_message_t *message, char *why,
                                     size_t why_size);

const bl_ingest_stats_t *bl_ingest_stats(const bl_ingest_t *ingest);

#endif
