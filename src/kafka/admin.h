/*
 * admin.h: what backlogd asks of the cluster's admin API: describe the
 * planned topics, create the missing ones.
 */
#ifndef BL_ADMIN_H
#define BL_ADMIN_H

#include "kafka/topics.h"
#include "ops/config.h"
#include "base/err.h"

typedef struct bl_admin_s bl_admin_t;

/** A handle for admin requests, each bounded by admin.timeout_ms. NULL with errstr on failure. */
bl_admin_t *bl_admin_new(const bl_config_t *config, char *errstr, size_t errstr_size);
void bl_admin_destroy(bl_admin_t *admin);

/**
 * Fills observed[i] for each topic of @p plan: whether it exists, its
 * partition and replica counts (metadata) and its cleanup.policy and
 * retention.ms (DescribeConfigs). BL_ERR_KAFKA or BL_ERR_TIMEOUT with errstr
 * when the cluster cannot answer.
 */
bl_err_t bl_admin_describe_topics(bl_admin_t *admin, const bl_topic_plan_t *plan, bl_topic_observed_t *observed,
                                  char *errstr, size_t errstr_size);

/** Called once per topic of a create request: @p error is NULL on success. */
typedef void(bl_admin_create_cb)(const bl_topic_spec_t *spec, const char *error, void *opaque);

/**
 * Creates the topics of @p plan whose create[i] is true, with their partition
 * count, replication factor, cleanup.policy and retention.ms, in one request.
 * A topic that another client created meanwhile counts as an error here: the
 * caller describes again and checks. BL_OK only when every topic was created.
 */
bl_err_t bl_admin_create_topics(bl_admin_t *admin, const bl_topic_plan_t *plan, const bool *create,
                                bl_admin_create_cb *result_cb, void *opaque, char *errstr, size_t errstr_size);

#endif
