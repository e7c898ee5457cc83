/*
 * consumer.c: the group consumer's settings and its rebalance callback.
 *
 * The fetch queue: with librdkafka's defaults a full fetch queue idles the
 * fetcher for a second (fetch.queue.backoff.ms), which cost 98k against
 * 156k msg/s at 5 us per message, with 2.12.0 as with 2.0.2
 * (docs/performance.md). A large queued.min.messages and a backoff of 10 ms
 * keep it fed; its size in bytes is consumer.queue_max_kbytes, since what
 * it holds counts in the process's memory. Offsets are never committed by the consumer: they travel in
 * the producer's transactions, so enable.auto.commit and
 * enable.auto.offset.store are off. The rebalance callback runs in the
 * consumer's poll, on the caller's thread.
 */
#include "kafka/consumer.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "kafka/client.h"

struct bl_consumer_s {
        rd_kafka_t *rk;
        bool closed;
        bool (*assigning)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque);
        void (*assigned)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque);
        void (*revoked)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque);
        void *opaque;
};

static const char *const fixed_properties[] = {
        "partition.assignment.strategy", "range", /* eager: co-partitioned inputs move together */
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "isolation.level", "read_committed",
        "auto.offset.reset", "earliest",
        "queued.min.messages", "1000000",
        "fetch.queue.backoff.ms", "10",
};

/* The fixed properties, the settings' own, then the caller's overrides, in one NULL-terminated list. */
static const char **consumer_properties(const bl_consumer_settings_t *settings, const char *queue_kbytes) {
        size_t fixed = sizeof(fixed_properties) / sizeof(fixed_properties[0]), extra = 0, n = 0;
        while (settings->overrides && settings->overrides[extra])
                extra++;
        const char **properties = calloc(fixed + extra + 11, sizeof(*properties));
        if (!properties)
                return NULL;
        for (size_t i = 0; i < fixed; i++)
                properties[n++] = fixed_properties[i];
        properties[n++] = "queued.max.messages.kbytes";
        properties[n++] = queue_kbytes;
        properties[n++] = "group.id";
        properties[n++] = settings->group_id;
        properties[n++] = "enable.partition.eof";
        properties[n++] = settings->partition_eof ? "true" : "false";
        if (settings->client_id) {
                properties[n++] = "client.id";
                properties[n++] = settings->client_id;
        }
        if (settings->group_instance_id) {
                properties[n++] = "group.instance.id";
                properties[n++] = settings->group_instance_id;
        }
        for (size_t i = 0; i < extra; i++)
                properties[n++] = settings->overrides[i];
        return properties;
}

/* Eager assignment: the caller is told, then the partitions are assigned or unassigned as a whole. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *partitions,
                         void *opaque) {
        bl_consumer_t *consumer = opaque;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (consumer->assigning && !consumer->assigning(rk, partitions, consumer->opaque))
                        return;
                rd_kafka_assign(rk, partitions);
                if (consumer->assigned)
                        consumer->assigned(rk, partitions, consumer->opaque);
                return;
        }
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                bl_log_warn("consumer", "rebalance: %s; the partitions are given up", rd_kafka_err2str(err));
        if (consumer->revoked)
                consumer->revoked(rk, partitions, consumer->opaque);
        rd_kafka_assign(rk, NULL);
}

bl_consumer_t *bl_consumer_new(const bl_config_t *config, const bl_consumer_settings_t *settings, char *errstr,
                               size_t errstr_size) {
        char queue_kbytes[24];
        snprintf(queue_kbytes, sizeof(queue_kbytes), "%lld", (long long)config->consumer_queue_max_kbytes);
        const char **properties = consumer_properties(settings, queue_kbytes);
        bl_consumer_t *consumer = calloc(1, sizeof(*consumer));
        rd_kafka_conf_t *conf = properties && consumer ? bl_kafka_conf_new(config, properties, errstr, errstr_size)
                                                       : NULL;
        free(properties);
        if (!conf) {
                if (!consumer || !properties)
                        bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                free(consumer);
                return NULL;
        }
        consumer->assigning = settings->assigning;
        consumer->assigned = settings->assigned;
        consumer->revoked = settings->revoked;
        consumer->opaque = settings->opaque;
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_opaque(conf, consumer);
        if (!(consumer->rk = bl_kafka_new_from_conf(RD_KAFKA_CONSUMER, conf, errstr, errstr_size))) {
                free(consumer);
                return NULL;
        }
        rd_kafka_poll_set_consumer(consumer->rk);
        return consumer;
}

rd_kafka_t *bl_consumer_handle(const bl_consumer_t *consumer) {
        return consumer->rk;
}

bl_err_t bl_consumer_subscribe(bl_consumer_t *consumer, const char *const *topics, size_t count, char *errstr,
                               size_t errstr_size) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)count);
        for (size_t i = 0; i < count; i++)
                rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer->rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        if (err)
                return bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "cannot subscribe: %s", rd_kafka_err2str(err));
        return BL_OK;
}

void bl_consumer_close(bl_consumer_t *consumer) {
        if (!consumer || consumer->closed)
                return;
        consumer->closed = true;
        rd_kafka_consumer_close(consumer->rk);
}

void bl_consumer_destroy(bl_consumer_t *consumer) {
        if (!consumer)
                return;
        bl_consumer_close(consumer);
        rd_kafka_destroy(consumer->rk);
        free(consumer);
}
