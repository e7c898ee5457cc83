/*
 * inputs.c: the assigned input partitions of `backlogd run` and what holds
 * them: where each one's batch ends and what was committed, a partition
 * paused and sought back to a record to retry it (its back-off doubling up
 * to ingest.retry_backoff_max_ms; a record whose schema is on its way waits
 * a short fixed time instead), every partition sought back to the last
 * commit after an abort, and the hold back that pauses them all after a
 * batch failed for the broker's fault. Pipeline thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/pipeline_int.h"

#define SEEK_TIMEOUT_MS 10000
#define SCHEMA_PENDING_WAIT_MS 50

/* ---- input partitions -------------------------------------------------------- */

bl_input_partition_t *bl_inputs_find(bl_pipeline_t *p, const char *topic, int32_t partition) {
        for (size_t i = 0; i < p->partition_count; i++)
                if (p->partitions[i].partition == partition && !strcmp(p->partitions[i].topic, topic))
                        return &p->partitions[i];
        return NULL;
}


bl_input_partition_t *bl_inputs_add(bl_pipeline_t *p, const char *topic, int32_t partition, int64_t committed) {
        bl_input_partition_t *entry = bl_inputs_find(p, topic, partition);
        if (!entry) {
                if (p->partition_count == p->partition_capacity) {
                        size_t capacity = p->partition_capacity ? p->partition_capacity * 2 : 16;
                        bl_input_partition_t *grown = realloc(p->partitions, capacity * sizeof(*grown));
                        if (!grown)
                                return NULL;
                        p->partitions = grown;
                        p->partition_capacity = capacity;
                }
                entry = &p->partitions[p->partition_count++];
                memset(entry, 0, sizeof(*entry));
                entry->topic = strdup(topic);
                entry->partition = partition;
        }
        entry->done_offset = -1;
        entry->committed_offset = committed;
        entry->paused = false;
        entry->backoff_ms = 0;
        return entry;
}


void bl_inputs_remove(bl_pipeline_t *p, const char *topic, int32_t partition) {
        bl_input_partition_t *entry = bl_inputs_find(p, topic, partition);
        if (!entry)
                return;
        free(entry->topic);
        *entry = p->partitions[--p->partition_count];
}


/*
 * Seeks @p list. librdkafka before 2.1.0 waits a thousandth of the timeout it is given
 * (its changelog, 2.1.0): 10 s became 10 ms, and under load a rewind then failed with
 * "Timed out waiting for 9 remaining partition seek(s)" and stopped the instance.
 */
static rd_kafka_error_t *seek_partitions(bl_pipeline_t *p, rd_kafka_topic_partition_list_t *list) {
        int timeout_ms = rd_kafka_version() < 0x020100ff ? SEEK_TIMEOUT_MS * 1000 : SEEK_TIMEOUT_MS;
        return rd_kafka_seek_partitions(p->consumer, list, timeout_ms);
}


void bl_inputs_rewind(bl_pipeline_t *p) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++) {
                bl_input_partition_t *entry = &p->partitions[i];
                rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset =
                        entry->committed_offset >= 0 ? entry->committed_offset : RD_KAFKA_OFFSET_BEGINNING;
                entry->done_offset = -1;
        }
        rd_kafka_error_t *error = list->cnt ? seek_partitions(p, list) : NULL;
        if (error) {
                bl_log_error("run", "rewind failed: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                p->fatal = true;
        }
        rd_kafka_topic_partition_list_destroy(list);
}


/*
 * @p schema_pending: the record's schema is being fetched (contract/fetcher.c logs the fetch): look again
 * after SCHEMA_PENDING_WAIT_MS, leaving the back-off as it is; a fetch that fails comes back as a plain
 * retry, and that one doubles it.
 */
void bl_inputs_pause_and_rewind(bl_pipeline_t *p, bl_input_partition_t *entry, int64_t offset, bool schema_pending,
                             const char *why) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset = offset;
        rd_kafka_pause_partitions(p->consumer, list);
        rd_kafka_error_t *error = seek_partitions(p, list);
        if (error) {
                bl_log_error("run", "%s [%d]: cannot seek back to %" PRId64 ": %s", entry->topic,
                             (int)entry->partition, offset, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                p->fatal = true;
        }
        rd_kafka_topic_partition_list_destroy(list);
        entry->paused = true;
        entry->schema_wait = schema_pending;
        if (schema_pending) {
                entry->retry_at_ms = bl_clock_monotonic_ms() + SCHEMA_PENDING_WAIT_MS;
                bl_log_debug("run", "%s [%d] waits at offset %" PRId64 ": %s", entry->topic, (int)entry->partition,
                             offset, why);
                return;
        }
        entry->backoff_ms = entry->backoff_ms ? entry->backoff_ms * 2 : p->config->ingest_retry_backoff_ms;
        if (entry->backoff_ms > p->config->ingest_retry_backoff_max_ms)
                entry->backoff_ms = p->config->ingest_retry_backoff_max_ms;
        entry->retry_at_ms = bl_clock_monotonic_ms() + entry->backoff_ms;
        bl_log_warn("run", "%s [%d] paused at offset %" PRId64 ", retry in %" PRId64 " ms: %s", entry->topic,
                    (int)entry->partition, offset, entry->backoff_ms, why);
}


/* ---- pause and retry ---------------------------------------------------------- */

void bl_inputs_resume_due(bl_pipeline_t *p) {
        int64_t now = bl_clock_monotonic_ms();
        if (p->held_back)
                return; /* everything resumes together (bl_inputs_release_held_back) */
        for (size_t i = 0; i < p->partition_count; i++) {
                bl_input_partition_t *entry = &p->partitions[i];
                if (!entry->paused || now < entry->retry_at_ms)
                        continue;
                entry->paused = false;
                if (p->input_paused && !strcmp(entry->topic, p->topic_events))
                        continue; /* input backpressure holds it until the backlog drains */
                rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition);
                rd_kafka_resume_partitions(p->consumer, list);
                rd_kafka_topic_partition_list_destroy(list);
                bl_log(entry->schema_wait ? BL_LOG_DEBUG : BL_LOG_INFO, "run", "%s [%d] resumed", entry->topic,
                       (int)entry->partition);
        }
}


/* Pauses (or resumes) every assigned input partition that no other reason keeps paused. */
void bl_inputs_pause_all(bl_pipeline_t *p, bool paused) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++) {
                const bl_input_partition_t *entry = &p->partitions[i];
                if (entry->paused || (!paused && p->input_paused && !strcmp(entry->topic, p->topic_events)))
                        continue;
                rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition);
        }
        if (paused)
                rd_kafka_pause_partitions(p->consumer, list);
        else
                rd_kafka_resume_partitions(p->consumer, list);
        rd_kafka_topic_partition_list_destroy(list);
}


/* ---- holding everything back after a failed batch ------------------------------- */

void bl_inputs_hold_back(bl_pipeline_t *p, const char *why) {
        int64_t first = p->config->ingest_retry_backoff_ms, most = p->config->ingest_retry_backoff_max_ms;
        p->held_back_backoff_ms = p->held_back_backoff_ms ? p->held_back_backoff_ms * 2 : first;
        if (p->held_back_backoff_ms > most)
                p->held_back_backoff_ms = most;
        p->held_back_until_ms = bl_clock_monotonic_ms() + p->held_back_backoff_ms;
        if (!p->held_back)
                bl_inputs_pause_all(p, true);
        p->held_back = true;
        bl_metric_inc(p->observe.held_back, 1);
        bl_log_warn("run", "input, timers and dispatch wait %" PRId64 " ms, then the batch runs again: %s",
                    p->held_back_backoff_ms, why);
}


void bl_inputs_release_held_back(bl_pipeline_t *p) {
        if (!p->held_back || bl_clock_monotonic_ms() < p->held_back_until_ms)
                return;
        p->held_back = false;
        bl_inputs_pause_all(p, false);
        bl_log_info("run", "input, timers and dispatch go on");
}

