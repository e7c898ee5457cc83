/*
 * client.h: librdkafka handles made the one way backlogd makes them: from the
 * config's kafka object, with librdkafka's logs and errors routed into
 * backlogd's JSON log lines.
 */
#ifndef BL_KAFKA_CLIENT_H
#define BL_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>

#include "ops/config.h"

/**
 * A conf with the config's kafka properties, then each "name", "value" pair
 * of @p overrides (NULL-terminated; may be NULL), and the log and error
 * bridges. For callers that set callbacks of their own before
 * bl_kafka_new_from_conf. NULL with errstr when librdkafka refuses a property.
 */
rd_kafka_conf_t *bl_kafka_conf_new(const bl_config_t *config, const char *const *overrides, char *errstr,
                                   size_t errstr_size);

/** librdkafka's log_cb that every handle made here has: its lines into bl_log, module "rdkafka". */
void bl_kafka_log(const rd_kafka_t *rk, int level, const char *facility, const char *message);

/**
 * Whether a librdkafka log line says the broker refused a partition of the open transaction: the topic
 * into @p topic and the broker's reason at *@p cause (inside @p message). Only librdkafka's log names it.
 */
bool bl_kafka_refused_partition(const char *facility, const char *message, char *topic, size_t topic_size,
                                const char **cause);

#define BL_KAFKA_TROUBLE_MAX 512

/**
 * The first cause of connection trouble seen by any handle since the last bl_kafka_trouble_clear(): a TLS
 * handshake refused (with OpenSSL's reason, the certificate's subject and the host expected), credentials
 * refused, a name that does not resolve, a connection refused. @p permanent: a certificate or credentials,
 * which retrying will not fix. False when nothing went wrong.
 */
bool bl_kafka_trouble(char *cause, size_t cause_size, bool *permanent);
void bl_kafka_trouble_clear(void);

/** rd_kafka_new that always takes @p conf over (destroys it on failure too). */
rd_kafka_t *bl_kafka_new_from_conf(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * A new handle of @p type with the config's kafka properties, then each
 * "name", "value" pair of @p overrides (NULL-terminated; may be NULL).
 * NULL with errstr filled when librdkafka refuses.
 */
rd_kafka_t *bl_kafka_new(rd_kafka_type_t type, const bl_config_t *config, const char *const *overrides,
                         char *errstr, size_t errstr_size);

/** The bootstrap servers the config names, for messages. */
const char *bl_kafka_bootstrap(const bl_config_t *config);

/**
 * The librdkafka this binary runs on, for --version: "2.12.0 (features: gzip,snappy,
 * ssl,...)" into @p out (rd_kafka_version_str() and builtin.features).
 */
void bl_kafka_library_describe(char *out, size_t out_size);

#endif
