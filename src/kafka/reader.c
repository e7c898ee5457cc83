/*
 * reader.c: scan a topic to its end with a consumer that belongs to no group.
 *
 * The consumer is assigned the partitions at their earliest offset and reads
 * read_committed with partition EOF events on. librdkafka raises EOF when a
 * read_committed fetch reaches the last stable offset; a partition counts as
 * read only when that EOF has reached its high watermark, so a transaction
 * still open (or committed an instant ago, its markers not yet written) is
 * waited for rather than silently left out.
 * It never commits and never joins a group, so a scan leaves nothing behind
 * on the broker. One thread at a time per reader.
 */
#include "kafka/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka/client.h"

#define SCAN_BATCH 1000 /* records taken from the consumer's queue at once */

struct bl_reader_s {
        rd_kafka_t *consumer;
        rd_kafka_t *probe; /* read_uncommitted, for the true high watermark (read_committed ones give the LSO) */
};

bl_reader_t *bl_reader_new(const bl_config_t *config, char *errstr, size_t errstr_size) {
        char group[128];
        /* librdkafka (2.12.0 as 2.0.2) refuses assign() without a group.id ("Local: Unknown group");
         * this one never joins or commits. The queue settings are run's (src/pipeline/run.c). */
        snprintf(group, sizeof(group), "backlogd-reader-%d", (int)getpid());
        const char *overrides[] = {"group.id", group,
                                   "enable.partition.eof", "true",
                                   "fetch.wait.max.ms", "10", /* the end shows at once */
                                   "enable.auto.commit", "false",
                                   "isolation.level", "read_committed",
                                   "queued.min.messages", "1000000",
                                   "queued.max.messages.kbytes", "131072",
                                   NULL};
        bl_reader_t *reader = calloc(1, sizeof(*reader));
        if (!reader) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        const char *probe_overrides[] = {"group.id", group, "isolation.level", "read_uncommitted", NULL};
        reader->consumer = bl_kafka_new(RD_KAFKA_CONSUMER, config, overrides, errstr, errstr_size);
        reader->probe = reader->consumer ? bl_kafka_new(RD_KAFKA_CONSUMER, config, probe_overrides, errstr, errstr_size)
                                         : NULL;
        if (!reader->probe) {
                bl_reader_destroy(reader);
                return NULL;
        }
        return reader;
}

void bl_reader_destroy(bl_reader_t *reader) {
        if (!reader)
                return;
        if (reader->probe)
                rd_kafka_destroy(reader->probe);
        if (reader->consumer)
                rd_kafka_destroy(reader->consumer);
        free(reader);
}

int32_t bl_reader_partition_count(bl_reader_t *reader, const char *topic, int timeout_ms, char *errstr,
                                  size_t errstr_size) {
        rd_kafka_topic_t *handle = rd_kafka_topic_new(reader->consumer, topic, NULL);
        const struct rd_kafka_metadata *metadata = NULL;
        int32_t count = -1;
        rd_kafka_resp_err_t err = rd_kafka_metadata(reader->consumer, 0, handle, &metadata, timeout_ms);
        if (err)
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "metadata of %s: %s", topic, rd_kafka_err2str(err));
        else if (metadata->topic_cnt != 1 || metadata->topics[0].err || metadata->topics[0].partition_cnt == 0)
                bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "topic %s does not exist", topic);
        else
                count = metadata->topics[0].partition_cnt;
        if (metadata)
                rd_kafka_metadata_destroy(metadata);
        rd_kafka_topic_destroy(handle);
        return count;
}

int32_t bl_reader_partition_for_key(const char *key, int32_t partition_count) {
        return rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), partition_count, NULL, NULL);
}

/*
 * Whether partition @p p is read to its end: the EOF offset has reached the
 * high watermark. A read_committed EOF short of it means records that are not
 * decided yet, or decided a moment ago with the markers still on their way
 * (commit_transaction returns before they land): either way, wait for them.
 */
static bool at_high_watermark(bl_reader_t *reader, const char *topic, int32_t p, int64_t eof_offset) {
        int64_t low, high;
        if (rd_kafka_query_watermark_offsets(reader->probe, topic, p, &low, &high, 5000))
                return false;
        return eof_offset >= high;
}

/* A partition's EOF: it counts as read once the EOF has reached the high watermark. */
static void note_eof(bl_reader_t *reader, const rd_kafka_topic_partition_list_t *list, bool *done, int32_t *at_end,
                     const rd_kafka_message_t *message) {
        for (int i = 0; i < list->cnt; i++)
                if (list->elems[i].partition == message->partition && !done[i] &&
                    at_high_watermark(reader, list->elems[0].topic, message->partition, message->offset)) {
                        done[i] = true;
                        (*at_end)++;
                }
}

/*
 * Consumes until every assigned partition reached its high watermark; BL_OK,
 * or a timeout without progress. Records come in batches of up to
 * SCAN_BATCH from the consumer's queue: one lock and wake-up per batch, not
 * per record (a scan never pauses or seeks, so the batch calls' trouble with
 * those in librdkafka 2.0 does not arise).
 */
static bl_err_t consume_to_end(bl_reader_t *reader, const rd_kafka_topic_partition_list_t *list, bl_reader_cb *cb,
                               void *opaque, int timeout_ms, char *errstr, size_t errstr_size) {
        const char *topic = list->elems[0].topic;
        bool *done = calloc((size_t)list->cnt, sizeof(*done));
        rd_kafka_message_t **batch = malloc(SCAN_BATCH * sizeof(*batch));
        rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(reader->consumer);
        int32_t at_end = 0;
        int idle_ms = 0;
        bl_err_t err = BL_OK;
        if (!done || !batch || !queue)
                err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        while (at_end < list->cnt && !err) {
                ssize_t count = rd_kafka_consume_batch_queue(queue, 100, batch, SCAN_BATCH);
                if (count <= 0) {
                        if ((idle_ms += 100) >= timeout_ms)
                                err = bl_err_set(errstr, errstr_size, BL_ERR_TIMEOUT,
                                                 "reading %s: no progress for %d ms", topic, timeout_ms);
                        continue;
                }
                idle_ms = 0;
                for (ssize_t i = 0; i < count; i++) {
                        rd_kafka_message_t *message = batch[i];
                        if (err || at_end == list->cnt) {
                                /* an error, or the caller has seen enough: the rest of the batch is let go */
                        } else if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                note_eof(reader, list, done, &at_end, message);
                        } else if (message->err) {
                                err = bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "reading %s: %s", topic,
                                                 rd_kafka_message_errstr(message));
                        } else if (!cb(message, opaque)) {
                                at_end = list->cnt;
                        }
                        rd_kafka_message_destroy(message);
                }
        }
        if (queue)
                rd_kafka_queue_destroy(queue);
        free(batch);
        free(done);
        return err;
}

/* Adds partition @p p at its beginning unless it holds nothing; false when it does not exist. */
static bool add_if_not_empty(bl_reader_t *reader, rd_kafka_topic_partition_list_t *list, const char *topic,
                             int32_t p, int timeout_ms) {
        int64_t low, high;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(reader->probe, topic, p, &low, &high, timeout_ms);
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                return false;
        if (err || high > low) /* when in doubt, read it */
                rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        return true;
}

bl_err_t bl_reader_scan(bl_reader_t *reader, const char *topic, const int32_t *partitions, size_t count,
                        bl_reader_cb *cb, void *opaque, int timeout_ms, char *errstr, size_t errstr_size) {
        int32_t total = bl_reader_partition_count(reader, topic, timeout_ms, errstr, errstr_size);
        rd_kafka_topic_partition_list_t *list;
        bl_err_t err = BL_OK;
        if (total < 0)
                return strstr(errstr, "does not exist") ? BL_ERR_NOT_FOUND : BL_ERR_KAFKA;
        list = rd_kafka_topic_partition_list_new(count ? (int)count : total);
        for (size_t i = 0; i < (count ? count : (size_t)total) && !err; i++) {
                int32_t p = count ? partitions[i] : (int32_t)i;
                if (p < 0 || p >= total || !add_if_not_empty(reader, list, topic, p, timeout_ms))
                        err = bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "%s has no partition %d", topic, (int)p);
        }
        if (!err && list->cnt > 0) {
                rd_kafka_resp_err_t assign_err = rd_kafka_assign(reader->consumer, list);
                if (assign_err)
                        err = bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "assigning %s: %s", topic,
                                         rd_kafka_err2str(assign_err));
                else
                        err = consume_to_end(reader, list, cb, opaque, timeout_ms, errstr, errstr_size);
                rd_kafka_assign(reader->consumer, NULL);
        }
        rd_kafka_topic_partition_list_destroy(list);
        return err;
}
