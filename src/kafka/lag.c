/*
 * lag.c: ListConsumerGroupOffsets for each domain's worker group.
 *
 * librdkafka 2.0 takes one group per request and, with an explicit partition
 * list, answers for every partition (PITFALLS.md: the "all partitions" form
 * returned nothing on the mock). The monitor keeps one request in flight on
 * a private queue, polls that queue without blocking from the run loop, and
 * moves round-robin over the domains, each at most every interval. An error
 * or a timeout reports nothing, so the last known offsets stay in place:
 * the credit ledger the pipeline feeds from the callback then only
 * over-counts, which throttles early rather than floods the workers.
 * Pipeline thread.
 */
#include "kafka/lag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

typedef struct watched_s {
        char *domain;
        char *topic;
        char *group;
        int32_t partition_count;
        int64_t last_asked_ms;
} watched_t;

struct bl_lag_s {
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        bl_lag_committed_cb *committed;
        void *opaque;
        watched_t *watched;
        size_t watched_count;
        size_t next;          /* round-robin position */
        ssize_t in_flight;    /* index of the domain asked, or -1 */
        int64_t sent_ms;
        int interval_ms, timeout_ms;
};

bl_lag_t *bl_lag_new(rd_kafka_t *rk, bl_lag_committed_cb *committed, void *opaque, int interval_ms,
                     int timeout_ms) {
        bl_lag_t *lag = calloc(1, sizeof(*lag));
        if (!lag)
                return NULL;
        lag->rk = rk;
        lag->committed = committed;
        lag->opaque = opaque;
        lag->queue = rd_kafka_queue_new(rk);
        lag->interval_ms = interval_ms;
        lag->timeout_ms = timeout_ms;
        lag->in_flight = -1;
        return lag;
}

void bl_lag_destroy(bl_lag_t *lag) {
        if (!lag)
                return;
        for (size_t i = 0; i < lag->watched_count; i++) {
                free(lag->watched[i].domain);
                free(lag->watched[i].topic);
                free(lag->watched[i].group);
        }
        free(lag->watched);
        if (lag->queue)
                rd_kafka_queue_destroy(lag->queue);
        free(lag);
}

bool bl_lag_watch(bl_lag_t *lag, const char *domain, const char *topic, const char *worker_group,
                  int32_t partition_count) {
        watched_t *grown = realloc(lag->watched, (lag->watched_count + 1) * sizeof(*grown));
        if (!grown)
                return false;
        lag->watched = grown;
        watched_t *entry = &lag->watched[lag->watched_count];
        entry->domain = strdup(domain);
        entry->topic = strdup(topic);
        entry->group = strdup(worker_group);
        entry->partition_count = partition_count;
        entry->last_asked_ms = 0;
        if (!entry->domain || !entry->topic || !entry->group) {
                free(entry->domain);
                free(entry->topic);
                free(entry->group);
                return false;
        }
        lag->watched_count++;
        return true;
}

static void send_request(bl_lag_t *lag, size_t index, int64_t now_ms) {
        watched_t *entry = &lag->watched[index];
        char errstr[256];
        rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(entry->partition_count);
        for (int32_t p = 0; p < entry->partition_count; p++)
                rd_kafka_topic_partition_list_add(partitions, entry->topic, p);
        rd_kafka_ListConsumerGroupOffsets_t *request = rd_kafka_ListConsumerGroupOffsets_new(entry->group, partitions);
        rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(lag->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_AdminOptions_set_request_timeout(options, lag->timeout_ms, errstr, sizeof(errstr));
        rd_kafka_AdminOptions_set_opaque(options, (void *)(intptr_t)(index + 1)); /* tells late answers apart */
        rd_kafka_ListConsumerGroupOffsets(lag->rk, &request, 1, options, lag->queue);
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_ListConsumerGroupOffsets_destroy(request);
        rd_kafka_topic_partition_list_destroy(partitions);
        entry->last_asked_ms = now_ms;
        lag->in_flight = (ssize_t)index;
        lag->sent_ms = now_ms;
}

static void apply_result(bl_lag_t *lag, rd_kafka_event_t *event) {
        watched_t *entry = &lag->watched[lag->in_flight];
        const rd_kafka_ListConsumerGroupOffsets_result_t *result = rd_kafka_event_ListConsumerGroupOffsets_result(event);
        size_t group_count = 0;
        const rd_kafka_group_result_t **groups =
                result ? rd_kafka_ListConsumerGroupOffsets_result_groups(result, &group_count) : NULL;
        if (rd_kafka_event_error(event) || group_count != 1 || rd_kafka_group_result_error(groups[0])) {
                bl_log_warn("lag", "offsets of worker group %s: %s", entry->group,
                            rd_kafka_event_error(event) ? rd_kafka_event_error_string(event) : "no answer for the group");
                return;
        }
        const rd_kafka_topic_partition_list_t *partitions = rd_kafka_group_result_partitions(groups[0]);
        for (int i = 0; partitions && i < partitions->cnt; i++) {
                const rd_kafka_topic_partition_t *partition = &partitions->elems[i];
                if (!partition->err)
                        lag->committed(entry->domain, partition->partition,
                                       partition->offset >= 0 ? partition->offset : -1, lag->opaque);
        }
}

void bl_lag_poll(bl_lag_t *lag, int64_t now_ms) {
        if (lag->in_flight >= 0) {
                rd_kafka_event_t *event = rd_kafka_queue_poll(lag->queue, 0);
                if (event && (intptr_t)rd_kafka_event_opaque(event) != lag->in_flight + 1) {
                        rd_kafka_event_destroy(event); /* the late answer to a request given up on */
                } else if (event) {
                        apply_result(lag, event);
                        rd_kafka_event_destroy(event);
                        lag->in_flight = -1;
                } else if (now_ms - lag->sent_ms > lag->timeout_ms * 2) {
                        lag->in_flight = -1; /* given up; a late answer is recognised and dropped */
                }
                return;
        }
        for (size_t tried = 0; tried < lag->watched_count; tried++) {
                size_t index = (lag->next + tried) % lag->watched_count;
                if (now_ms - lag->watched[index].last_asked_ms >= lag->interval_ms) {
                        send_request(lag, index, now_ms);
                        lag->next = index + 1;
                        return;
                }
        }
}
