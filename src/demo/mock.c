/*
 * mock.c: librdkafka's mock cluster as the demo's Kafka.
 *
 * The mock cluster lives on a librdkafka handle (its threads and sockets are
 * the handle's), so a scratch producer that never produces carries it; every
 * client of the demo, the pipeline's included, connects to it through
 * ordinary bootstrap servers. The mock answers no CreateTopics, so the topics
 * of the plan are made through its own API with the partition counts the
 * plan gives; it keeps no topic configs, which is why the pipeline's start-up
 * check is skipped in the demo (pipeline/run.h). Main thread only.
 */
#include "demo/mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

#include "kafka/topics.h"
#include "base/log.h"

struct bl_mock_s {
        rd_kafka_t *carrier; /* the handle the cluster lives on */
        rd_kafka_mock_cluster_t *cluster;
};

static void log_bridge(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
        bl_log(level <= 3   ? BL_LOG_ERROR
               : level == 4 ? BL_LOG_WARN
                            : BL_LOG_DEBUG,
               "demo", "%s: %s: %s", rd_kafka_name(rk), facility, message);
}

bl_mock_t *bl_mock_new(int brokers, char *errstr, size_t errstr_size) {
        bl_mock_t *mock = calloc(1, sizeof(*mock));
        rd_kafka_conf_t *conf = mock ? rd_kafka_conf_new() : NULL;
        if (!conf) {
                free(mock);
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        rd_kafka_conf_set_log_cb(conf, log_bridge);
        if (rd_kafka_conf_set(conf, "client.id", "demo-mock-cluster", errstr, errstr_size) != RD_KAFKA_CONF_OK ||
            !(mock->carrier = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size))) {
                rd_kafka_conf_destroy(conf);
                bl_mock_destroy(mock);
                return NULL;
        }
        mock->cluster = rd_kafka_mock_cluster_new(mock->carrier, brokers);
        if (!mock->cluster) {
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "librdkafka could not start a mock cluster");
                bl_mock_destroy(mock);
                return NULL;
        }
        return mock;
}

void bl_mock_destroy(bl_mock_t *mock) {
        if (!mock)
                return;
        if (mock->cluster)
                rd_kafka_mock_cluster_destroy(mock->cluster);
        if (mock->carrier)
                rd_kafka_destroy(mock->carrier);
        free(mock);
}

const char *bl_mock_bootstraps(const bl_mock_t *mock) {
        return rd_kafka_mock_cluster_bootstraps(mock->cluster);
}

rd_kafka_mock_cluster_t *bl_mock_cluster(bl_mock_t *mock) {
        return mock->cluster;
}

bl_err_t bl_mock_create_topics(bl_mock_t *mock, const bl_config_t *config, char *errstr, size_t errstr_size) {
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_err_t err = BL_OK;
        if (!plan)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < plan->count && !err; i++) {
                rd_kafka_resp_err_t kafka_err =
                        rd_kafka_mock_topic_create(mock->cluster, plan->topics[i].name, plan->topics[i].partitions, 1);
                if (kafka_err)
                        err = bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "mock topic %s: %s", plan->topics[i].name,
                                         rd_kafka_err2str(kafka_err));
        }
        bl_topic_plan_destroy(plan);
        return err;
}
