/*
 * topics.c: which topics backlogd needs (SPEC §1) and whether a cluster's
 * topics will do.
 *
 * The plan is derived from the configuration alone: the six co-partitioned
 * topics keyed by task_id (tasks.events, tasks.results, tasks.control, backlog.transitions,
 * backlog.state, backlog.deps), one dispatch.<domain> per configured domain,
 * the DLQ, and the policy topic. backlog.state and backlog.policy are
 * compacted; everything else deletes by time. backlog.policy has a single
 * partition because it holds one record per policy name and is read whole.
 *
 * The check never proposes to change an existing topic: adding partitions
 * would move keys to other partitions and break the task_id -> partition
 * mapping that restore relies on, so a mismatch is reported for a human to
 * resolve. Pure C, no Kafka handle; any thread.
 */
#include "kafka/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct topic_template_s {
        const char *role;
        bool copartitioned;
        const char *cleanup_policy;
} topic_template_t;

static const topic_template_t fixed_topics[] = {
        {"tasks.events", true, "delete"},         {"tasks.results", true, "delete"},
        {"tasks.control", true, "delete"},
        {"backlog.transitions", true, "delete"},  {"backlog.state", true, "compact"},
        {"backlog.deps", true, "delete"},         {"backlog.dlq", false, "delete"},
        {"backlog.policy", false, "compact"},
};

static int64_t retention_for(const bl_config_t *config, const char *role) {
        if (!strcmp(role, "backlog.transitions"))
                return config->topics_transitions_retention_ms;
        if (!strcmp(role, "backlog.dlq"))
                return config->topics_dlq_retention_ms;
        return 0;
}

static bool add_topic(bl_topic_plan_t *plan, const bl_config_t *config, const char *role, bool copartitioned,
                      const char *cleanup_policy) {
        bl_topic_spec_t *spec = &plan->topics[plan->count];
        spec->role = strdup(role);
        spec->name = bl_config_topic_name(config, role);
        if (!spec->role || !spec->name) {
                free(spec->role);
                free(spec->name);
                return false;
        }
        spec->partitions = !strcmp(role, "backlog.policy") ? 1 : (int)config->topics_partitions;
        spec->replication_factor = (int)config->topics_replication_factor;
        spec->copartitioned = copartitioned;
        spec->cleanup_policy = cleanup_policy;
        spec->retention_ms = retention_for(config, role);
        /* the DLQ takes a letter of the largest record accepted, with its dlq.* headers */
        spec->max_message_bytes = !strcmp(role, "backlog.dlq") ? bl_config_letter_max_bytes(config) : 0;
        plan->count++;
        return true;
}

bl_topic_plan_t *bl_topic_plan_new(const bl_config_t *config) {
        size_t fixed_count = sizeof(fixed_topics) / sizeof(fixed_topics[0]);
        bl_topic_plan_t *plan = calloc(1, sizeof(*plan));
        if (!plan)
                return NULL;
        plan->topics = calloc(fixed_count + config->domains.count, sizeof(*plan->topics));
        if (!plan->topics)
                goto fail;
        for (size_t i = 0; i < fixed_count; i++)
                if (!add_topic(plan, config, fixed_topics[i].role, fixed_topics[i].copartitioned,
                               fixed_topics[i].cleanup_policy))
                        goto fail;
        for (size_t i = 0; i < config->domains.count; i++) {
                char role[160];
                snprintf(role, sizeof(role), "dispatch.%s", config->domains.items[i]);
                if (!add_topic(plan, config, role, false, "delete"))
                        goto fail;
        }
        return plan;

fail:
        bl_topic_plan_destroy(plan);
        return NULL;
}

void bl_topic_plan_destroy(bl_topic_plan_t *plan) {
        if (!plan)
                return;
        for (size_t i = 0; i < plan->count; i++) {
                free(plan->topics[i].name);
                free(plan->topics[i].role);
        }
        free(plan->topics);
        free(plan);
}

static int check_one(const bl_topic_spec_t *spec, const bl_topic_observed_t *seen, bl_topic_problem_cb *problem_cb,
                     void *opaque) {
        char what[256];
        int mismatches = 0;
        if (seen->partitions != spec->partitions) {
                snprintf(what, sizeof(what), "has %d partitions, configured %d", seen->partitions,
                         spec->partitions);
                problem_cb(spec, BL_TOPIC_MISMATCH, what, opaque);
                mismatches++;
        }
        if (strcmp(seen->cleanup_policy, spec->cleanup_policy)) {
                snprintf(what, sizeof(what), "has cleanup.policy=%s, needs %s", seen->cleanup_policy,
                         spec->cleanup_policy);
                problem_cb(spec, BL_TOPIC_MISMATCH, what, opaque);
                mismatches++;
        }
        if (spec->replication_factor > 0 && seen->replication_factor != spec->replication_factor) {
                snprintf(what, sizeof(what), "has replication factor %d, configured %d (left as it is)",
                         seen->replication_factor, spec->replication_factor);
                problem_cb(spec, BL_TOPIC_NOTE, what, opaque);
        }
        if (spec->retention_ms != 0 && seen->has_retention && seen->retention_ms != spec->retention_ms) {
                snprintf(what, sizeof(what), "has retention.ms=%lld, configured %lld (left as it is)",
                         (long long)seen->retention_ms, (long long)spec->retention_ms);
                problem_cb(spec, BL_TOPIC_NOTE, what, opaque);
        }
        if (spec->max_message_bytes > 0 && seen->max_message_bytes > 0 &&
            seen->max_message_bytes < spec->max_message_bytes) {
                snprintf(what, sizeof(what),
                         "has max.message.bytes=%lld, below the largest letter (%lld): larger letters are written "
                         "as record.too_large, with a prefix of the record (left as it is)",
                         (long long)seen->max_message_bytes, (long long)spec->max_message_bytes);
                problem_cb(spec, BL_TOPIC_NOTE, what, opaque);
        }
        return mismatches;
}

/* The co-partitioned inputs must agree among themselves, whatever the config says. */
static int check_copartitioning(const bl_topic_plan_t *plan, const bl_topic_observed_t *observed,
                                bl_topic_problem_cb *problem_cb, void *opaque) {
        const bl_topic_spec_t *first = NULL;
        int first_partitions = 0;
        int mismatches = 0;
        for (size_t i = 0; i < plan->count; i++) {
                char what[512];
                if (!plan->topics[i].copartitioned || !observed[i].exists || observed[i].denied[0])
                        continue;
                if (!first) {
                        first = &plan->topics[i];
                        first_partitions = observed[i].partitions;
                        continue;
                }
                if (observed[i].partitions == first_partitions)
                        continue;
                snprintf(what, sizeof(what), "is not co-partitioned with %s: %d partitions against %d",
                         first->name, observed[i].partitions, first_partitions);
                problem_cb(&plan->topics[i], BL_TOPIC_MISMATCH, what, opaque);
                mismatches++;
        }
        return mismatches;
}

/* A refusal is a mismatch of its own: the topic's settings are not known, so they are not compared. */
static void report_denied(const bl_topic_spec_t *spec, const bl_topic_observed_t *seen,
                          bl_topic_problem_cb *problem_cb, void *opaque) {
        char what[256];
        snprintf(what, sizeof(what),
                 "cannot be checked: the broker denies this principal %s on it (grant %s on topic %s; "
                 "docs/security.md lists what each command needs)",
                 seen->denied, seen->denied, spec->name);
        problem_cb(spec, BL_TOPIC_MISMATCH, what, opaque);
}

int bl_topic_plan_check(const bl_topic_plan_t *plan, const bl_topic_observed_t *observed,
                        bl_topic_problem_cb *problem_cb, void *opaque) {
        int mismatches = 0;
        for (size_t i = 0; i < plan->count; i++) {
                if (observed[i].denied[0]) {
                        report_denied(&plan->topics[i], &observed[i], problem_cb, opaque);
                        mismatches++;
                } else if (observed[i].exists) {
                        mismatches += check_one(&plan->topics[i], &observed[i], problem_cb, opaque);
                }
        }
        return mismatches + check_copartitioning(plan, observed, problem_cb, opaque);
}
