/*
 * ingest.c: the ingest stage of `backlogd run`.
 *
 * For each record of tasks.events and tasks.results: the decoder says valid
 * (hand the event to the sink), transient (retry: nothing is written and the
 * offset does not move; wait, when only its schema is still being fetched),
 * or permanent (the DLQ gets the original bytes and
 * the reason). A DLQ write that librdkafka refuses is itself transient: the
 * record is retried rather than lost.
 *
 * Separation of duties (SPEC §12, §15): APPROVED and REJECTED grant or
 * refuse, and are honoured only from tasks.control, whose write ACL is the
 * approvers' alone; the same events on tasks.events or tasks.results are
 * contract.violation letters. tasks.control carries operators' events only
 * (APPROVED, REJECTED, CANCELLED, UPDATED): a submission or a result there is
 * refused too. Pipeline thread only.
 */
#include "pipeline/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct bl_ingest_s {
        bl_decoder_t *decoder;
        bl_dlq_t *dlq;
        bl_ingest_sink_t sink;
        bl_ingest_stats_t stats;
        char *control_topic;
};

bl_ingest_t *bl_ingest_new(bl_decoder_t *decoder, bl_dlq_t *dlq, const bl_ingest_sink_t *sink,
                           const char *control_topic) {
        bl_ingest_t *ingest = calloc(1, sizeof(*ingest));
        if (!ingest || !(ingest->control_topic = strdup(control_topic))) {
                bl_ingest_destroy(ingest);
                return NULL;
        }
        ingest->decoder = decoder;
        ingest->dlq = dlq;
        ingest->sink = *sink;
        return ingest;
}

void bl_ingest_destroy(bl_ingest_t *ingest) {
        if (!ingest)
                return;
        free(ingest->control_topic);
        free(ingest);
}

static bool operator_event(bl_event_type_t type) {
        return type == BL_EVENT_APPROVED || type == BL_EVENT_REJECTED || type == BL_EVENT_CANCELLED ||
               type == BL_EVENT_UPDATED;
}

/* Whether @p event may come from @p topic (separation of duties); false with @p failure saying why. */
static bool honoured_from(const bl_ingest_t *ingest, const bl_task_event_t *event, const char *topic,
                          bl_record_error_t *failure) {
        bool from_control = !strcmp(topic, ingest->control_topic);
        if (from_control ? operator_event(event->event_type) : !bl_event_type_is_control_only(event->event_type))
                return true;
        if (from_control)
                return bl_record_error_set(failure, BL_REASON_CONTRACT_VIOLATION,
                                           "event_type: %s does not belong on %s, which carries operators' events "
                                           "(APPROVED, REJECTED, CANCELLED, UPDATED)",
                                           bl_event_type_name(event->event_type), topic);
        return bl_record_error_set(failure, BL_REASON_CONTRACT_VIOLATION,
                                   "event_type: %s is honoured only from %s, not from %s",
                                   bl_event_type_name(event->event_type), ingest->control_topic, topic);
}

static bl_ingest_outcome_t retry(bl_ingest_t *ingest, char *why, size_t why_size, const char *detail) {
        snprintf(why, why_size, "%s", detail);
        ingest->stats.retries++;
        return BL_INGEST_RETRY;
}

/* Its schema is on its way (contract/fetcher.c): not a failure, a short wait. */
static bl_ingest_outcome_t wait_for_schema(bl_ingest_t *ingest, char *why, size_t why_size, const char *detail) {
        retry(ingest, why, why_size, detail);
        return BL_INGEST_WAIT;
}

static bl_ingest_outcome_t dead_letter(bl_ingest_t *ingest, const rd_kafka_message_t *message,
                                       const bl_record_error_t *failure, char *why, size_t why_size) {
        bl_dlq_original_t original;
        char errstr[256];
        const char *stage = failure->reason == BL_REASON_TRANSITION_ILLEGAL ? "backlog" : "ingest";
        bl_dlq_original_from_message(message, &original);
        if (bl_dlq_send(ingest->dlq, &original, stage, failure, 1, errstr, sizeof(errstr)) != BL_OK)
                return retry(ingest, why, why_size, errstr);
        ingest->stats.dead_lettered++;
        return BL_INGEST_DEAD_LETTERED;
}

bl_ingest_outcome_t bl_ingest_record(bl_ingest_t *ingest, const rd_kafka_message_t *message, char *why,
                                     size_t why_size) {
        bl_task_event_t event;
        bl_record_error_t failure;
        ingest->stats.consumed++;
        if (!bl_decoder_decode(ingest->decoder, message->key, message->key_len, message->payload, message->len, &event,
                               &failure)) {
                ingest->stats.consumed -= failure.transient; /* it will be consumed again */
                if (failure.pending)
                        return wait_for_schema(ingest, why, why_size, failure.detail);
                return failure.transient ? retry(ingest, why, why_size, failure.detail)
                                         : dead_letter(ingest, message, &failure, why, why_size);
        }
        bl_dlq_original_t original;
        bl_dlq_original_from_message(message, &original);
        bl_record_error_clear(&failure);
        failure.schema_id = -1;
        if (!honoured_from(ingest, &event, original.topic, &failure)) {
                ingest->stats.refused_by_topic++;
                return dead_letter(ingest, message, &failure, why, why_size);
        }
        bl_input_ref_t source = {original.topic, original.partition, original.offset, original.timestamp_ms,
                                 original.headers};
        bl_record_error_clear(&failure);
        failure.schema_id = -1;
        switch (ingest->sink.accept(ingest->sink.opaque, &event, &source, &failure)) {
        case BL_ERR_UNAVAILABLE:
                ingest->stats.consumed--;
                return retry(ingest, why, why_size, "the next stage cannot take the event now");
        case BL_ERR_REFUSED: return dead_letter(ingest, message, &failure, why, why_size);
        default: break;
        }
        ingest->stats.handed_on++;
        if (bl_log_enabled(BL_LOG_DEBUG))
                bl_log_debug("ingest", "%s [%d] offset %lld: %s %s handed on", source.topic, (int)source.partition,
                             (long long)source.offset, bl_event_type_name(event.event_type), event.task_id);
        return BL_INGEST_HANDED_ON;
}

const bl_ingest_stats_t *bl_ingest_stats(const bl_ingest_t *ingest) {
        return &ingest->stats;
}
