/*
 * client.c: make librdkafka handles and bridge their logs.
 *
 * librdkafka logs from its own threads through log_cb; bl_log writes each
 * line with one stdio call, so that is safe. Its syslog levels map onto ours
 * (0-3 error, 4 warn, 5-6 info, 7 debug), under module "rdkafka". error_cb
 * reports connection trouble as warnings: librdkafka retries by itself, and
 * the caller's timeout decides when to give up.
 *
 * backlogd builds on a librdkafka of at least 2.6.1 (scripts/librdkafka.sh
 * builds 2.12.0): older ones send a SCRAM proof that Kafka 4 rejects
 * (librdkafka bug #4895), so a build against Debian 12's 2.0.2 fails here.
 */
#include "kafka/client.h"

#include <stdio.h>

#include "base/log.h"

#if RD_KAFKA_VERSION < 0x020601ff
#error "librdkafka >= 2.6.1 is needed (SCRAM against Kafka 4): build it with scripts/librdkafka.sh"
#endif

static void log_bridge(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
        bl_log_level_t ours = level <= 3 ? BL_LOG_ERROR : level == 4 ? BL_LOG_WARN
                              : level <= 6 ? BL_LOG_INFO : BL_LOG_DEBUG;
        bl_log(ours, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), facility, message);
}

static void error_bridge(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)opaque;
        bl_log(rd_kafka_fatal_error(rk, NULL, 0) ? BL_LOG_ERROR : BL_LOG_WARN, "rdkafka", "%s: %s: %s",
               rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

rd_kafka_conf_t *bl_kafka_conf_new(const bl_config_t *config, const char *const *overrides, char *errstr,
                                   size_t errstr_size) {
        rd_kafka_conf_t *conf = bl_config_kafka_conf_new(config, errstr, errstr_size);
        if (!conf)
                return NULL;
        for (; overrides && overrides[0]; overrides += 2) {
                if (rd_kafka_conf_set(conf, overrides[0], overrides[1], errstr, errstr_size) != RD_KAFKA_CONF_OK) {
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        }
        rd_kafka_conf_set_log_cb(conf, log_bridge);
        rd_kafka_conf_set_error_cb(conf, error_bridge);
        return conf;
}

rd_kafka_t *bl_kafka_new_from_conf(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size) {
        rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf over only on success */
        return rk;
}

rd_kafka_t *bl_kafka_new(rd_kafka_type_t type, const bl_config_t *config, const char *const *overrides,
                         char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = bl_kafka_conf_new(config, overrides, errstr, errstr_size);
        return conf ? bl_kafka_new_from_conf(type, conf, errstr, errstr_size) : NULL;
}

void bl_kafka_library_describe(char *out, size_t out_size) {
        char features[512] = "";
        size_t features_size = sizeof(features);
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_get(conf, "builtin.features", features, &features_size) != RD_KAFKA_CONF_OK)
                snprintf(features, sizeof(features), "unknown");
        rd_kafka_conf_destroy(conf);
        snprintf(out, out_size, "%s (features: %s)", rd_kafka_version_str(), features);
}

const char *bl_kafka_bootstrap(const bl_config_t *config) {
        const char *servers = json_string_value(json_object_get(config->kafka, "bootstrap.servers"));
        return servers ? servers : "(no bootstrap.servers)";
}
