/*
 * mock.h: the embedded Kafka of `backlogd demo`: librdkafka's mock cluster,
 * in this process, with every topic of the plan (kafka/topics.h) made on it.
 */
#ifndef BL_DEMO_MOCK_H
#define BL_DEMO_MOCK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, as it asks */
#include <stddef.h>

#include "ops/config.h"
#include "base/err.h"

typedef struct bl_mock_s bl_mock_t;

/**
 * A mock cluster of @p brokers brokers listening on 127.0.0.1, on a scratch
 * producer handle of its own. NULL with errstr when librdkafka refuses.
 */
bl_mock_t *bl_mock_new(int brokers, char *errstr, size_t errstr_size);

/** Tears the cluster down: every client of it should be destroyed first. NULL: no-op. */
void bl_mock_destroy(bl_mock_t *mock);

/** The cluster's bootstrap.servers ("127.0.0.1:port,..."), valid while it lives. */
const char *bl_mock_bootstraps(const bl_mock_t *mock);

/** The cluster itself, for a test that injects faults (rd_kafka_mock_push_request_errors and the like). */
rd_kafka_mock_cluster_t *bl_mock_cluster(bl_mock_t *mock);

/**
 * Creates every topic of @p config's plan with its partition count
 * (rd_kafka_mock_topic_create: the mock answers no CreateTopics and keeps no
 * topic configs, so cleanup policies and retention are not applied).
 * BL_ERR_KAFKA or BL_ERR_NOMEM with errstr on failure.
 */
bl_err_t bl_mock_create_topics(bl_mock_t *mock, const bl_config_t *config, char *errstr, size_t errstr_size);

#endif
