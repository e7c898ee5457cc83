/*
 * topics.h: the topics of SPEC §1 as a plan, and the check of a cluster's
 * topics against it. Pure: no Kafka handle here; kafka/admin.c observes the
 * cluster and the callers compare.
 */
#ifndef BL_TOPICS_H
#define BL_TOPICS_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/config.h"

#define BL_TOPIC_CLEANUP_MAX 64

/** One topic as backlogd wants it. */
typedef struct bl_topic_spec_s {
        char *name;                 /* full name, prefix included */
        char *role;                 /* unprefixed: "tasks.events", "dispatch.evaluation" */
        int partitions;
        int replication_factor;     /* -1: the broker's default */
        bool copartitioned;         /* one of the inputs that share partition p */
        const char *cleanup_policy; /* "delete" or "compact" */
        int64_t retention_ms;       /* 0: the broker's default; -1: forever */
        int64_t max_message_bytes;  /* 0: the broker's default */
} bl_topic_spec_t;

typedef struct bl_topic_plan_s {
        bl_topic_spec_t *topics;
        size_t count;
} bl_topic_plan_t;

/** What the cluster holds for one topic. */
typedef struct bl_topic_observed_s {
        bool exists;
        int partitions;
        int replication_factor;
        char cleanup_policy[BL_TOPIC_CLEANUP_MAX];
        bool has_retention;
        int64_t retention_ms;
        int64_t max_message_bytes; /* 0: not known (DescribeConfigs did not say) */
        char denied[32];           /* the operation the broker refused this principal ("Describe",
                                    * "DescribeConfigs"); "" when nothing was refused */
} bl_topic_observed_t;

/** How one difference weighs: a mismatch stops `topics create` and `run`. */
typedef enum { BL_TOPIC_NOTE = 0, BL_TOPIC_MISMATCH = 1 } bl_topic_severity_t;

typedef void(bl_topic_problem_cb)(const bl_topic_spec_t *spec, bl_topic_severity_t severity, const char *what,
                                  void *opaque);

/** Every topic of SPEC §1 for @p config. NULL only when out of memory. */
bl_topic_plan_t *bl_topic_plan_new(const bl_config_t *config);
void bl_topic_plan_destroy(bl_topic_plan_t *plan);

/**
 * Compares @p observed (one entry per plan topic, same order) with the plan.
 * Topics that do not exist are not problems here (they are to be created).
 * Reports each difference to @p problem_cb and returns the number of
 * mismatches: a topic the principal may not describe (named with the
 * operation refused), partition counts, cleanup policies, and co-partitioning
 * of the input topics among themselves. Replication and retention differences are
 * notes: backlogd never alters an existing topic.
 */
int bl_topic_plan_check(const bl_topic_plan_t *plan, const bl_topic_observed_t *observed,
                        bl_topic_problem_cb *problem_cb, void *opaque);

#endif
