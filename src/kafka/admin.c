/*
 * admin.c: topic metadata, DescribeConfigs and CreateTopics through
 * librdkafka's Admin API.
 *
 * Each request goes out on a private queue and is awaited with the
 * configured admin timeout (plus a second for the reply to travel), so a
 * cluster that does not answer gives BL_ERR_TIMEOUT with the bootstrap
 * servers named, never a hang. Partition and replica counts come from
 * DescribeTopics, by name; cleanup.policy and retention.ms come from
 * DescribeConfigs, which reports the effective value whether it was set on
 * the topic or inherited from the broker. A topic whose Describe or
 * DescribeConfigs the broker refuses this principal is marked as denied,
 * never read as absent or as empty settings. Main thread only.
 */
#include "kafka/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/client.h"
#include "base/log.h"

#define AWAIT_SLICE_MS 200 /* how often a wait looks for a refused certificate or login */

struct bl_admin_s {
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        int timeout_ms;
        char bootstrap[512];
};

void bl_admin_destroy(bl_admin_t *admin) {
        if (!admin)
                return;
        if (admin->queue)
                rd_kafka_queue_destroy(admin->queue);
        if (admin->rk)
                rd_kafka_destroy(admin->rk);
        free(admin);
}

bl_admin_t *bl_admin_new(const bl_config_t *config, char *errstr, size_t errstr_size) {
        bl_admin_t *admin = calloc(1, sizeof(*admin));
        if (!admin) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        admin->timeout_ms = (int)config->admin_timeout_ms;
        bl_kafka_trouble_clear(); /* its waits report the trouble of its own connections */
        snprintf(admin->bootstrap, sizeof(admin->bootstrap), "%s", bl_kafka_bootstrap(config));
        admin->rk = bl_kafka_new(RD_KAFKA_PRODUCER, config, NULL, errstr, errstr_size);
        if (!admin->rk) {
                bl_admin_destroy(admin);
                return NULL;
        }
        admin->queue = rd_kafka_queue_new(admin->rk);
        return admin;
}

static rd_kafka_AdminOptions_t *admin_options(bl_admin_t *admin, rd_kafka_admin_op_t op) {
        char errstr[256];
        rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(admin->rk, op);
        rd_kafka_AdminOptions_set_request_timeout(options, admin->timeout_ms, errstr, sizeof(errstr));
        if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
                rd_kafka_AdminOptions_set_operation_timeout(options, admin->timeout_ms, errstr, sizeof(errstr));
        return options;
}

/* Waits for the result of the request in flight; NULL with errstr on timeout or request error. */
/*
 * Waits for the result of the request in flight; NULL with errstr on timeout or request error. A refused
 * certificate or credentials end the wait at once (librdkafka would retry them until the timeout), and a
 * timeout names the first connection trouble seen, not only the silence.
 */
static rd_kafka_event_t *await_result(bl_admin_t *admin, rd_kafka_event_type_t expected, const char *what,
                                      char *errstr, size_t errstr_size) {
        int64_t waited_ms = 0, limit_ms = (int64_t)admin->timeout_ms + 1000;
        char cause[BL_KAFKA_TROUBLE_MAX];
        bool permanent = false, troubled = false;
        rd_kafka_event_t *event = NULL;
        while (!event && waited_ms < limit_ms && !permanent) {
                event = rd_kafka_queue_poll(admin->queue, AWAIT_SLICE_MS);
                waited_ms += AWAIT_SLICE_MS;
                rd_kafka_poll(admin->rk, 0); /* serves error_cb, which notes connection trouble */
                troubled = bl_kafka_trouble(cause, sizeof(cause), &permanent);
        }
        if (!event && troubled) {
                bl_err_set(errstr, errstr_size, permanent ? BL_ERR_REFUSED : BL_ERR_TIMEOUT,
                           "%s: cannot talk to %s: %s%s", what, admin->bootstrap, cause,
                           permanent ? "" : " (and no answer since)");
                return NULL;
        }
        if (!event) {
                bl_err_set(errstr, errstr_size, BL_ERR_TIMEOUT, "%s: no answer from %s within %d ms", what,
                           admin->bootstrap, admin->timeout_ms);
                return NULL;
        }
        if (rd_kafka_event_type(event) != expected || rd_kafka_event_error(event)) {
                bool timed_out = rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR__TIMED_OUT;
                if (timed_out && troubled) /* librdkafka's own timeout: the trouble behind it says more */
                        bl_err_set(errstr, errstr_size, BL_ERR_TIMEOUT, "%s: cannot talk to %s: %s (and no answer "
                                   "within %d ms)", what, admin->bootstrap, cause, admin->timeout_ms);
                else
                        bl_err_set(errstr, errstr_size, timed_out ? BL_ERR_TIMEOUT : BL_ERR_KAFKA, "%s at %s: %s",
                                   what, admin->bootstrap,
                                   rd_kafka_event_error(event) ? rd_kafka_event_error_string(event)
                                                               : "unexpected event");
                rd_kafka_event_destroy(event);
                return NULL;
        }
        return event;
}

/* Whether @p code is the broker refusing the principal an operation (an ACL), not a failure. */
static bool is_denial(rd_kafka_resp_err_t code) {
        return code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
               code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED;
}

/* Partition and replica counts of one described topic; a denial or absence as such, other errors fail. */
static bl_err_t read_topic_description(bl_admin_t *admin, const rd_kafka_TopicDescription_t *description,
                                       bl_topic_observed_t *seen, char *errstr, size_t errstr_size) {
        const rd_kafka_error_t *error = rd_kafka_TopicDescription_error(description);
        rd_kafka_resp_err_t code = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
        size_t partition_count = 0, replica_count = 0;
        if (code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                return BL_OK;
        if (is_denial(code)) {
                snprintf(seen->denied, sizeof(seen->denied), "Describe");
                return BL_OK;
        }
        if (code)
                return bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "describing topic %s at %s: %s",
                                  rd_kafka_TopicDescription_name(description), admin->bootstrap,
                                  rd_kafka_error_string(error));
        const rd_kafka_TopicPartitionInfo_t **partitions =
                rd_kafka_TopicDescription_partitions(description, &partition_count);
        seen->exists = true;
        seen->partitions = (int)partition_count;
        if (partition_count > 0)
                rd_kafka_TopicPartitionInfo_replicas(partitions[0], &replica_count);
        seen->replication_factor = (int)replica_count;
        return BL_OK;
}

/*
 * DescribeTopics names each topic: a topic that does not exist and one the
 * principal may not Describe are told apart (a full metadata request would
 * silently leave both out), and no broker auto-creates a topic for it.
 */
static bl_err_t describe_partitions(bl_admin_t *admin, const bl_topic_plan_t *plan, bl_topic_observed_t *observed,
                                    char *errstr, size_t errstr_size) {
        const char **names = calloc(plan->count ? plan->count : 1, sizeof(*names));
        size_t result_count = 0;
        bl_err_t err = BL_OK;
        if (!names)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < plan->count; i++) {
                memset(&observed[i], 0, sizeof(observed[i]));
                names[i] = plan->topics[i].name;
        }
        rd_kafka_TopicCollection_t *collection = rd_kafka_TopicCollection_of_topic_names(names, plan->count);
        rd_kafka_AdminOptions_t *options = admin_options(admin, RD_KAFKA_ADMIN_OP_DESCRIBETOPICS);
        rd_kafka_DescribeTopics(admin->rk, collection, options, admin->queue);
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_TopicCollection_destroy(collection);
        free(names);
        rd_kafka_event_t *event =
                await_result(admin, RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT, "describing topics", errstr, errstr_size);
        if (!event)
                return BL_ERR_KAFKA;
        const rd_kafka_TopicDescription_t **results =
                rd_kafka_DescribeTopics_result_topics(rd_kafka_event_DescribeTopics_result(event), &result_count);
        for (size_t r = 0; r < result_count && !err; r++)
                for (size_t i = 0; i < plan->count && !err; i++)
                        if (!strcmp(rd_kafka_TopicDescription_name(results[r]), plan->topics[i].name))
                                err = read_topic_description(admin, results[r], &observed[i], errstr, errstr_size);
        rd_kafka_event_destroy(event);
        return err;
}

/* The configs of one topic; a denial is kept as such (never read as empty values), other errors fail. */
static bl_err_t read_topic_configs(bl_admin_t *admin, const rd_kafka_ConfigResource_t *resource,
                                   bl_topic_observed_t *seen, char *errstr, size_t errstr_size) {
        rd_kafka_resp_err_t code = rd_kafka_ConfigResource_error(resource);
        size_t entry_count;
        if (is_denial(code)) {
                snprintf(seen->denied, sizeof(seen->denied), "DescribeConfigs");
                return BL_OK;
        }
        if (code)
                return bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "describing the configs of topic %s at %s: %s",
                                  rd_kafka_ConfigResource_name(resource), admin->bootstrap,
                                  rd_kafka_ConfigResource_error_string(resource));
        const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(resource, &entry_count);
        for (size_t e = 0; e < entry_count; e++) {
                const char *name = rd_kafka_ConfigEntry_name(entries[e]);
                const char *value = rd_kafka_ConfigEntry_value(entries[e]);
                if (!value)
                        continue;
                if (!strcmp(name, "cleanup.policy")) {
                        snprintf(seen->cleanup_policy, sizeof(seen->cleanup_policy), "%s", value);
                } else if (!strcmp(name, "retention.ms")) {
                        seen->has_retention = true;
                        seen->retention_ms = strtoll(value, NULL, 10);
                } else if (!strcmp(name, "max.message.bytes")) {
                        seen->max_message_bytes = strtoll(value, NULL, 10);
                }
        }
        return BL_OK;
}

static bl_err_t describe_configs(bl_admin_t *admin, const bl_topic_plan_t *plan, bl_topic_observed_t *observed,
                                 char *errstr, size_t errstr_size) {
        rd_kafka_ConfigResource_t **resources = calloc(plan->count, sizeof(*resources));
        size_t count = 0, result_count;
        rd_kafka_event_t *event;
        bl_err_t err = BL_OK;
        if (!resources)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < plan->count; i++)
                if (observed[i].exists)
                        resources[count++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, plan->topics[i].name);
        if (count > 0) {
                rd_kafka_AdminOptions_t *options = admin_options(admin, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
                rd_kafka_DescribeConfigs(admin->rk, resources, count, options, admin->queue);
                rd_kafka_AdminOptions_destroy(options);
                event = await_result(admin, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "describing topic configs",
                                     errstr, errstr_size);
                if (!event) {
                        err = BL_ERR_KAFKA;
                } else {
                        const rd_kafka_ConfigResource_t **results = rd_kafka_DescribeConfigs_result_resources(
                                rd_kafka_event_DescribeConfigs_result(event), &result_count);
                        for (size_t r = 0; r < result_count && !err; r++)
                                for (size_t i = 0; i < plan->count && !err; i++)
                                        if (observed[i].exists &&
                                            !strcmp(rd_kafka_ConfigResource_name(results[r]), plan->topics[i].name))
                                                err = read_topic_configs(admin, results[r], &observed[i], errstr,
                                                                         errstr_size);
                        rd_kafka_event_destroy(event);
                }
        }
        for (size_t i = 0; i < count; i++)
                rd_kafka_ConfigResource_destroy(resources[i]);
        free(resources);
        return err;
}

bl_err_t bl_admin_describe_topics(bl_admin_t *admin, const bl_topic_plan_t *plan, bl_topic_observed_t *observed,
                                  char *errstr, size_t errstr_size) {
        bl_err_t err = describe_partitions(admin, plan, observed, errstr, errstr_size);
        if (err)
                return err;
        return describe_configs(admin, plan, observed, errstr, errstr_size);
}

static rd_kafka_NewTopic_t *new_topic(const bl_topic_spec_t *spec, char *errstr, size_t errstr_size) {
        rd_kafka_NewTopic_t *topic =
                rd_kafka_NewTopic_new(spec->name, spec->partitions, spec->replication_factor, errstr, errstr_size);
        char retention[32];
        if (!topic)
                return NULL;
        rd_kafka_NewTopic_set_config(topic, "cleanup.policy", spec->cleanup_policy);
        if (spec->retention_ms != 0) {
                snprintf(retention, sizeof(retention), "%lld", (long long)spec->retention_ms);
                rd_kafka_NewTopic_set_config(topic, "retention.ms", retention);
        }
        if (spec->max_message_bytes > 0) {
                char max_bytes[32];
                snprintf(max_bytes, sizeof(max_bytes), "%lld", (long long)spec->max_message_bytes);
                rd_kafka_NewTopic_set_config(topic, "max.message.bytes", max_bytes);
        }
        return topic;
}

static bl_err_t report_create_results(rd_kafka_event_t *event, const bl_topic_plan_t *plan,
                                      bl_admin_create_cb *result_cb, void *opaque) {
        size_t result_count;
        const rd_kafka_topic_result_t **results =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &result_count);
        bl_err_t err = BL_OK;
        for (size_t r = 0; r < result_count; r++) {
                const char *name = rd_kafka_topic_result_name(results[r]);
                rd_kafka_resp_err_t topic_err = rd_kafka_topic_result_error(results[r]);
                for (size_t i = 0; i < plan->count; i++) {
                        if (strcmp(plan->topics[i].name, name))
                                continue;
                        result_cb(&plan->topics[i], topic_err ? rd_kafka_topic_result_error_string(results[r]) : NULL,
                                  opaque);
                }
                if (topic_err)
                        err = BL_ERR_KAFKA;
        }
        return err;
}

bl_err_t bl_admin_create_topics(bl_admin_t *admin, const bl_topic_plan_t *plan, const bool *create,
                                bl_admin_create_cb *result_cb, void *opaque, char *errstr, size_t errstr_size) {
        rd_kafka_NewTopic_t **topics = calloc(plan->count, sizeof(*topics));
        size_t count = 0;
        bl_err_t err = BL_OK;
        if (!topics)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < plan->count && !err; i++) {
                if (!create[i])
                        continue;
                topics[count] = new_topic(&plan->topics[i], errstr, errstr_size);
                if (!topics[count])
                        err = BL_ERR_INVALID_ARG;
                else
                        count++;
        }
        if (!err && count > 0) {
                rd_kafka_AdminOptions_t *options = admin_options(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS);
                rd_kafka_CreateTopics(admin->rk, topics, count, options, admin->queue);
                rd_kafka_AdminOptions_destroy(options);
                rd_kafka_event_t *event =
                        await_result(admin, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "creating topics", errstr, errstr_size);
                if (!event) {
                        err = BL_ERR_KAFKA;
                } else {
                        err = report_create_results(event, plan, result_cb, opaque);
                        if (err)
                                bl_err_set(errstr, errstr_size, err, "some topics could not be created");
                        rd_kafka_event_destroy(event);
                }
        }
        rd_kafka_NewTopic_destroy_array(topics, count);
        free(topics);
        return err;
}
