/*
 * test_topics.c: the topic plan follows SPEC §1 and the config, and the
 * check finds every mismatch an existing cluster can have.
 */
#include <stdlib.h>

#include "check.h"
#include "kafka/topics.h"

typedef struct found_s {
        int mismatches;
        int notes;
        char last[512];
} found_t;

static void collect(const bl_topic_spec_t *spec, bl_topic_severity_t severity, const char *what, void *opaque) {
        found_t *found = opaque;
        if (severity == BL_TOPIC_MISMATCH)
                found->mismatches++;
        else
                found->notes++;
        snprintf(found->last, sizeof(found->last), "%s %s", spec->name, what);
}

static const bl_topic_spec_t *find(const bl_topic_plan_t *plan, const char *name) {
        for (size_t i = 0; i < plan->count; i++)
                if (!strcmp(plan->topics[i].name, name))
                        return &plan->topics[i];
        return NULL;
}

static bl_config_t *config_with(char **envp) {
        bl_config_t *config = bl_config_load(NULL, envp, NULL, NULL);
        CHECK(config != NULL);
        return config;
}

static void test_plan_follows_spec(void) {
        char *envp[] = {"BACKLOGD_TOPICS_PREFIX=t1.", "BACKLOGD_TOPICS_PARTITIONS=8", NULL};
        bl_config_t *config = config_with(envp);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        const char *copartitioned[] = {"t1.tasks.events", "t1.tasks.results", "t1.tasks.control",
                                       "t1.backlog.transitions", "t1.backlog.state", "t1.backlog.deps"};
        CHECK_INT(plan->count, 8 + 4);
        for (size_t i = 0; i < 6; i++) {
                const bl_topic_spec_t *spec = find(plan, copartitioned[i]);
                CHECK(spec && spec->copartitioned && spec->partitions == 8);
        }
        CHECK_STR(find(plan, "t1.backlog.state")->cleanup_policy, "compact");
        CHECK_STR(find(plan, "t1.backlog.policy")->cleanup_policy, "compact");
        CHECK_INT(find(plan, "t1.backlog.policy")->partitions, 1);
        CHECK_STR(find(plan, "t1.tasks.events")->cleanup_policy, "delete");
        CHECK_STR(find(plan, "t1.tasks.control")->cleanup_policy, "delete");
        CHECK_STR(find(plan, "t1.backlog.dlq")->cleanup_policy, "delete");
        CHECK(!find(plan, "t1.backlog.dlq")->copartitioned);
        CHECK_INT(find(plan, "t1.backlog.transitions")->retention_ms, 7776000000LL);
        CHECK_INT(find(plan, "t1.tasks.events")->retention_ms, 0);
        CHECK(find(plan, "t1.dispatch.model_inference") != NULL);
        CHECK_STR(find(plan, "t1.dispatch.remediation")->role, "dispatch.remediation");
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

/* What a cluster that matches the plan exactly would report. */
static bl_topic_observed_t *observed_as_planned(const bl_topic_plan_t *plan) {
        bl_topic_observed_t *observed = calloc(plan->count, sizeof(*observed));
        for (size_t i = 0; i < plan->count; i++) {
                observed[i].exists = true;
                observed[i].partitions = plan->topics[i].partitions;
                observed[i].replication_factor = 1;
                snprintf(observed[i].cleanup_policy, sizeof(observed[i].cleanup_policy), "%s",
                         plan->topics[i].cleanup_policy);
                observed[i].has_retention = true;
                observed[i].retention_ms = plan->topics[i].retention_ms ? plan->topics[i].retention_ms : 604800000;
        }
        return observed;
}

static size_t index_of(const bl_topic_plan_t *plan, const char *name) {
        return (size_t)(find(plan, name) - plan->topics);
}

static void test_check_matching_and_missing(void) {
        bl_config_t *config = config_with(NULL);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = observed_as_planned(plan);
        found_t found = {0};
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 0);
        CHECK_INT(found.mismatches + found.notes, 0);
        /* Missing topics are for creating, not mismatches. */
        observed[index_of(plan, "tasks.results")].exists = false;
        observed[index_of(plan, "backlog.state")].exists = false;
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 0);
        free(observed);
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

static void test_check_not_compacted(void) {
        bl_config_t *config = config_with(NULL);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = observed_as_planned(plan);
        found_t found = {0};
        snprintf(observed[index_of(plan, "backlog.state")].cleanup_policy, BL_TOPIC_CLEANUP_MAX, "compact,delete");
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 1);
        CHECK_CONTAINS(found.last, "backlog.state has cleanup.policy=compact,delete, needs compact");
        free(observed);
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

static void test_check_not_copartitioned(void) {
        bl_config_t *config = config_with(NULL);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = observed_as_planned(plan);
        found_t found = {0};
        observed[index_of(plan, "backlog.deps")].partitions = 3;
        /* Its own count differs from the config, and it breaks co-partitioning. */
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 2);
        CHECK_CONTAINS(found.last, "backlog.deps is not co-partitioned with tasks.events: 3 partitions against 6");
        free(observed);
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

/* All inputs agree among themselves but not with the config: each is reported, co-partitioning holds. */
static void test_check_all_differ_from_config(void) {
        bl_config_t *config = config_with(NULL);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = observed_as_planned(plan);
        found_t found = {0};
        for (size_t i = 0; i < plan->count; i++)
                if (plan->topics[i].copartitioned)
                        observed[i].partitions = 12;
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 6);
        CHECK(strstr(found.last, "co-partitioned") == NULL);
        free(observed);
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

static void test_check_notes_are_not_mismatches(void) {
        char *envp[] = {"BACKLOGD_TOPICS_REPLICATION_FACTOR=3", NULL};
        bl_config_t *config = config_with(envp);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = observed_as_planned(plan);
        found_t found = {0};
        observed[index_of(plan, "backlog.dlq")].retention_ms = 1000;
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 0);
        CHECK_INT(found.notes, (int)plan->count + 1); /* every topic has 1 replica, not 3; one retention */
        free(observed);
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

/* A refused DescribeConfigs is named as a refusal, never read as an empty cleanup.policy (issue 13). */
static void test_check_denied_is_named(void) {
        bl_config_t *config = config_with(NULL);
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = observed_as_planned(plan);
        bl_topic_observed_t *state = &observed[index_of(plan, "backlog.state")];
        found_t found = {0};
        state->cleanup_policy[0] = '\0';
        snprintf(state->denied, sizeof(state->denied), "DescribeConfigs");
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 1);
        CHECK_CONTAINS(found.last, "backlog.state cannot be checked: the broker denies this principal "
                                   "DescribeConfigs on it (grant DescribeConfigs on topic backlog.state");
        CHECK(strstr(found.last, "cleanup.policy") == NULL);
        /* A topic the principal may not Describe is not absent either, nor compared for co-partitioning. */
        bl_topic_observed_t *deps = &observed[index_of(plan, "backlog.deps")];
        memset(deps, 0, sizeof(*deps));
        snprintf(deps->denied, sizeof(deps->denied), "Describe");
        found = (found_t){0};
        CHECK_INT(bl_topic_plan_check(plan, observed, collect, &found), 2);
        CHECK_CONTAINS(found.last, "backlog.deps cannot be checked: the broker denies this principal Describe");
        free(observed);
        bl_topic_plan_destroy(plan);
        bl_config_destroy(config);
}

int main(void) {
        RUN(test_plan_follows_spec);
        RUN(test_check_matching_and_missing);
        RUN(test_check_not_compacted);
        RUN(test_check_not_copartitioned);
        RUN(test_check_all_differ_from_config);
        RUN(test_check_notes_are_not_mismatches);
        RUN(test_check_denied_is_named);
        return check_exit_status();
}
