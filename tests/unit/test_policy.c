/*
 * test_policy.c: the scheduling policy, read from its documents
 * (policy/load.c) and scored by core (core/policy.c): parsing and every
 * problem it reports, each criterion's raw and normalised value at its
 * boundaries, the score as the sum of its rationale, aging lifting a
 * low-value task above fresh high-value ones (and when it cannot), the
 * approval guardrail, quota arithmetic, and the canary split.
 *
 * Fixtures live in tests/fixtures/policy; the example policy is
 * config/policy.json. Items are built on the stack with every time unset,
 * and the clock is a number, so every test is deterministic.
 */
#include "check.h"
#include "policy/load.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0      ((int64_t)1700000000000)
#define EPSILON 1e-12

/* bl_policy_canary_point of three ids, computed independently (docs/policy.md gives the Python). */
#define CANARY_POINT_0     0.17297943972153629 /* "task-000000" */
#define CANARY_POINT_1     0.90665581608303358 /* "task-000001" */
#define CANARY_POINT_EMPTY 0.95767342524205612 /* "" */

static const char *const DOMAINS[] = {"data_preparation", "model_inference", "evaluation", "remediation"};
#define DOMAIN_COUNT 4

/* ---- helpers ------------------------------------------------------------------------------- */

typedef struct problem_s {
        char path[128];
        char reason[512];
        bool fatal;
} problem_t;

typedef struct problems_s {
        problem_t items[64];
        size_t count, fatal;
} problems_t;

static void collect(const char *path, const char *reason, bool fatal, void *opaque) {
        problems_t *problems = opaque;
        if (problems->count < sizeof(problems->items) / sizeof(problems->items[0])) {
                problem_t *p = &problems->items[problems->count++];
                snprintf(p->path, sizeof(p->path), "%s", path);
                snprintf(p->reason, sizeof(p->reason), "%s", reason);
                p->fatal = fatal;
        }
        problems->fatal += fatal;
}

static const char *fixture(const char *name) {
        static char path[1024];
        const char *dir = getenv("BACKLOGD_FIXTURES");
        snprintf(path, sizeof(path), "%s/policy/%s", dir ? dir : "tests/fixtures", name);
        return path;
}

static const char *example_path(void) {
        static char path[1024];
        const char *dir = getenv("BACKLOGD_FIXTURES");
        snprintf(path, sizeof(path), "%s/../../config/policy.json", dir ? dir : "tests/fixtures");
        return path;
}

static bl_policy_t *load(const char *path, problems_t *problems) {
        memset(problems, 0, sizeof(*problems));
        return bl_policy_load_file(path, DOMAINS, DOMAIN_COUNT, NULL, collect, problems);
}

static bl_policy_t *parse_text(const char *text, problems_t *problems) {
        memset(problems, 0, sizeof(*problems));
        return bl_policy_parse(text, strlen(text), DOMAINS, DOMAIN_COUNT, collect, problems);
}

/* Whether a problem at exactly @p path with @p reason in its text, of that severity, was reported. */
static bool reported(const problems_t *problems, const char *path, const char *reason, bool fatal) {
        for (size_t i = 0; i < problems->count; i++)
                if (!strcmp(problems->items[i].path, path) && strstr(problems->items[i].reason, reason) &&
                    problems->items[i].fatal == fatal)
                        return true;
        return false;
}

static void print_problems(const char *what, const problems_t *problems) {
        for (size_t i = 0; i < problems->count; i++)
                fprintf(stderr, "  %s: %s %s: %s\n", what, problems->items[i].fatal ? "error" : "warning",
                        problems->items[i].path, problems->items[i].reason);
}

/* A kind with only @p domain set, for the items made on the stack here; one per domain name, kept for the run. */
static const bl_kind_t *kind_of(const char *domain) {
        static bl_kind_t kinds[16];
        static size_t kind_count;
        for (size_t i = 0; i < kind_count; i++)
                if (!strcmp(kinds[i].domain, domain))
                        return &kinds[i];
        if (kind_count == sizeof(kinds) / sizeof(kinds[0]))
                abort();
        kinds[kind_count].domain = domain;
        return &kinds[kind_count++];
}

/* An item of @p domain with nothing set but its value and risk: no deadline, no data time, not READY. */
static bl_item_t item_of(const char *task_id, const char *domain, double value, double risk) {
        bl_item_t item;
        memset(&item, 0, sizeof(item));
        item.task_id = (char *)task_id;
        item.kind = kind_of(domain);
        item.state = BL_STATE_READY;
        item.business_value = value;
        item.risk = risk;
        item.submitted_at_ms = item.deadline_ms = item.not_before_ms = item.data_ready_at_ms = BL_NO_TIME;
        item.state_since_ms = item.ready_since_ms = item.lease_expires_at_ms = item.retry_at_ms = BL_NO_TIME;
        item.terminal_at_ms = BL_NO_TIME;
        return item;
}

static bool near(double a, double b) {
        return fabs(a - b) <= EPSILON * (1 + fabs(b));
}

/* A policy of the given weights (bv, risk, urgency, freshness, aging, retry), 1 h horizons, 1 h half-life. */
static bl_policy_t *weighted(double bv, double risk, double urgency, double freshness, double aging, double retry) {
        char text[1024];
        problems_t problems;
        snprintf(text, sizeof(text),
                 "{\"name\": \"t\", \"version\": \"1\", \"weights\": {\"business_value\": %g, \"risk\": %g, "
                 "\"sla_urgency\": %g, \"freshness\": %g, \"aging\": %g, \"retry_penalty\": %g}, "
                 "\"criteria\": {\"urgency_horizon_ms\": 3600000, \"freshness_half_life_ms\": 3600000, "
                 "\"aging_horizon_ms\": 3600000}, \"defaults\": {\"max_attempts\": 4}}",
                 bv, risk, urgency, freshness, aging, retry);
        bl_policy_t *policy = parse_text(text, &problems);
        CHECK(policy != NULL);
        if (!policy)
                print_problems("weighted", &problems);
        return policy;
}

/* The rationale entry @p criterion of @p item at @p now. */
static bl_criterion_t criterion_of(const bl_policy_t *policy, const bl_item_t *item, int64_t now,
                                   bl_criterion_id_t criterion) {
        bl_criterion_t out[BL_POLICY_CRITERIA];
        bl_policy_score(policy, item, now, out);
        return out[criterion];
}

/* ---- the documents ------------------------------------------------------------------------- */

static void test_example_policy(void) {
        problems_t problems;
        bl_policy_t *policy = load(example_path(), &problems);
        CHECK(policy != NULL);
        CHECK_INT(problems.count, 0); /* no error, not even a warning */
        print_problems("example", &problems);
        if (!policy)
                return;
        CHECK_STR(bl_policy_name(policy), "platform");
        CHECK_STR(bl_policy_version(policy), "3");
        CHECK_STR(bl_policy_label(policy), "platform@3");
        CHECK(near(bl_policy_weight(policy, BL_CRITERION_AGING), 7.0));
        CHECK(near(bl_policy_weight(policy, BL_CRITERION_RISK), -0.5));
        CHECK_INT(bl_policy_urgency_horizon_ms(policy), 3600000);
        CHECK_INT(bl_policy_freshness_half_life_ms(policy), 21600000);
        CHECK_INT(bl_policy_aging_horizon_ms(policy), 3600000);
        CHECK_INT(bl_policy_domain_count(policy), 4);
        for (size_t i = 0; i < DOMAIN_COUNT; i++)
                CHECK_STR(bl_policy_domain_at(policy, i)->domain, DOMAINS[i]);
        CHECK(bl_policy_domain_at(policy, 4) == NULL);

        const bl_domain_policy_t *prep = bl_policy_domain(policy, "data_preparation");
        CHECK_STR(prep->worker_group, "data-prep-workers");
        CHECK_INT(prep->max_lag, 5000);
        CHECK_INT(prep->resume_lag, 2500);
        CHECK(prep->has_quota && near(prep->quota_share, 0.3));
        const bl_domain_policy_t *inference = bl_policy_domain(policy, "model_inference");
        CHECK_STR(inference->worker_group, "model_inference-workers"); /* the defaults' template */
        CHECK_INT(inference->retry_base_ms, 500);
        CHECK_INT(inference->retry_cap_ms, 60000);
        CHECK_INT(inference->max_attempts, 5);
        const bl_domain_policy_t *remediation = bl_policy_domain(policy, "remediation");
        CHECK(!remediation->has_quota);
        CHECK(remediation->has_approval && near(remediation->approval_risk_threshold, 0.7));
        CHECK_INT(remediation->max_lag, 1000); /* from defaults */
        const bl_domain_policy_t *unknown = bl_policy_domain(policy, "training");
        CHECK(unknown == bl_policy_defaults(policy));
        CHECK_STR(unknown->domain, "*");
        CHECK_STR(unknown->worker_group, "{domain}-workers");
        CHECK(bl_policy_domain(policy, NULL) == bl_policy_defaults(policy));

        const bl_policy_t *canary = bl_policy_canary(policy);
        CHECK(canary != NULL);
        CHECK(near(bl_policy_canary_fraction(policy), 0.1));
        if (canary) {
                CHECK_STR(bl_policy_label(canary), "platform@4-rc1");
                CHECK(bl_policy_canary(canary) == NULL);
                CHECK_INT(bl_policy_urgency_horizon_ms(canary), 7200000);
                /* Domain-level settings are the main policy's; per-task ones its own. */
                const bl_domain_policy_t *canary_inference = bl_policy_domain(canary, "model_inference");
                CHECK_INT(canary_inference->max_lag, 200);
                CHECK_INT(canary_inference->resume_lag, 100);
                CHECK_STR(canary_inference->worker_group, "model_inference-workers");
                CHECK(canary_inference->has_quota && near(canary_inference->quota_share, 0.4));
                CHECK_INT(canary_inference->max_attempts, 5);
                CHECK_STR(bl_policy_domain(canary, "data_preparation")->worker_group, "data-prep-workers");
        }
        bl_policy_destroy(policy);
}

static void test_minimal_policy_and_defaults(void) {
        problems_t problems;
        bl_policy_t *policy = load(fixture("minimal.json"), &problems);
        CHECK(policy != NULL);
        if (!policy)
                return;
        /* The only problem is the starvation warning: aging weighs 0. */
        CHECK_INT(problems.fatal, 0);
        CHECK_INT(problems.count, 1);
        CHECK(reported(&problems, "weights.aging", "can wait forever", false));
        CHECK_STR(bl_policy_label(policy), "minimal@1"); /* an integer version */
        CHECK_STR(bl_policy_description(policy), "");
        CHECK(bl_policy_canary(policy) == NULL);
        CHECK(near(bl_policy_canary_fraction(policy), 0));
        CHECK(near(bl_policy_weight(policy, BL_CRITERION_BUSINESS_VALUE), 1));
        CHECK(near(bl_policy_weight(policy, BL_CRITERION_RISK), 0));
        CHECK_INT(bl_policy_urgency_horizon_ms(policy), 3600000);
        CHECK_INT(bl_policy_freshness_half_life_ms(policy), 21600000);
        CHECK_INT(bl_policy_aging_horizon_ms(policy), 3600000);
        const bl_domain_policy_t *evaluation = bl_policy_domain(policy, "evaluation");
        CHECK_STR(evaluation->worker_group, "evaluation-workers");
        CHECK_INT(evaluation->max_lag, 1000);
        CHECK_INT(evaluation->resume_lag, 500);
        CHECK_INT(evaluation->retry_base_ms, bl_policy_builtin_fallback.retry_base_ms);
        CHECK_INT(evaluation->retry_cap_ms, bl_policy_builtin_fallback.retry_cap_ms);
        CHECK_INT(evaluation->max_attempts, bl_policy_builtin_fallback.max_attempts);
        CHECK(!evaluation->has_quota && !evaluation->has_approval);
        CHECK(bl_policy_for_task(policy, "any") == policy);
        bl_policy_destroy(policy);
}

static void test_retry_settings_fall_back_to_the_config(void) {
        static const char text[] = "{\"name\": \"r\", \"version\": \"1\", \"weights\": {\"aging\": 1},"
                                   " \"domains\": {\"evaluation\": {\"max_attempts\": 9}}}";
        const bl_policy_fallback_t config = {2000, 90000, 7};
        bl_policy_t *policy = bl_policy_parse_with(text, strlen(text), DOMAINS, DOMAIN_COUNT, &config, NULL, NULL);
        CHECK(policy != NULL);
        if (!policy)
                return;
        CHECK_INT(bl_policy_defaults(policy)->retry_base_ms, 2000);
        CHECK_INT(bl_policy_domain(policy, "remediation")->retry_cap_ms, 90000);
        CHECK_INT(bl_policy_domain(policy, "remediation")->max_attempts, 7);
        CHECK_INT(bl_policy_domain(policy, "evaluation")->max_attempts, 9);
        bl_policy_destroy(policy);
}

static void test_domains_named_by_the_document(void) {
        static const char text[] = "{\"name\": \"d\", \"version\": \"1\", \"weights\": {\"aging\": 1},"
                                   " \"domains\": {\"training\": {\"max_lag\": 7, \"resume_lag\": 3}, \"serving\": {}},"
                                   " \"canary\": {\"fraction\": 0.5, \"policy\": {\"name\": \"d\", \"version\": \"2\","
                                   " \"weights\": {\"aging\": 1}, \"domains\": {\"serving\": {\"max_attempts\": 2}}}}}";
        bl_policy_t *policy = bl_policy_parse(text, strlen(text), NULL, 0, NULL, NULL);
        CHECK(policy != NULL);
        if (!policy)
                return;
        CHECK_INT(bl_policy_domain_count(policy), 2);
        CHECK_STR(bl_policy_domain_at(policy, 0)->domain, "training");
        CHECK_INT(bl_policy_domain(policy, "training")->max_lag, 7);
        CHECK_STR(bl_policy_domain(policy, "serving")->worker_group, "serving-workers");
        const bl_policy_t *canary = bl_policy_canary(policy);
        CHECK(canary && bl_policy_domain_count(canary) == 2);
        if (canary) {
                CHECK_INT(bl_policy_domain(canary, "training")->max_lag, 7);
                CHECK_INT(bl_policy_domain(canary, "serving")->max_attempts, 2);
        }
        bl_policy_destroy(policy);
}

static void test_parse_reads_only_len_bytes(void) {
        static const char text[] = "{\"name\": \"n\", \"version\": \"1\", \"weights\": {\"aging\": 1}}GARBAGE";
        bl_policy_t *policy =
                bl_policy_parse(text, strlen(text) - strlen("GARBAGE"), DOMAINS, DOMAIN_COUNT, NULL, NULL);
        CHECK(policy != NULL);
        bl_policy_destroy(policy);
        CHECK(bl_policy_parse(text, strlen(text), DOMAINS, DOMAIN_COUNT, NULL, NULL) == NULL);
        bl_policy_destroy(NULL);
}

static void test_describe_parses_back_to_the_same_policy(void) {
        problems_t problems;
        bl_policy_t *policy = load(example_path(), &problems);
        CHECK(policy != NULL);
        if (!policy)
                return;
        json_t *described = bl_policy_describe(policy);
        char *text = json_dumps(described, JSON_COMPACT);
        bl_policy_t *again = parse_text(text, &problems);
        CHECK(again != NULL);
        CHECK_INT(problems.count, 0);
        print_problems("describe", &problems);
        if (again) {
                json_t *described_again = bl_policy_describe(again);
                CHECK(json_equal(described, described_again));
                json_decref(described_again);
        }
        CHECK(json_is_null(
                json_object_get(json_object_get(json_object_get(described, "domains"), "remediation"), "quota_share")));
        bl_policy_destroy(again);
        free(text);
        json_decref(described);
        bl_policy_destroy(policy);
}

/* ---- every problem ------------------------------------------------------------------------- */

typedef struct expected_s {
        const char *path;
        const char *reason;
} expected_t;

/* @p file must be refused with exactly these fatal problems (and any number of warnings). */
static void expect_errors(const char *file, const expected_t *expected, size_t count) {
        problems_t problems;
        bl_policy_t *policy = load(fixture(file), &problems);
        CHECK(policy == NULL);
        bl_policy_destroy(policy);
        if (problems.fatal != count) {
                fprintf(stderr, "%s: %zu errors, expected %zu\n", file, problems.fatal, count);
                print_problems(file, &problems);
        }
        CHECK_INT(problems.fatal, count);
        for (size_t i = 0; i < count; i++) {
                bool found = reported(&problems, expected[i].path, expected[i].reason, true);
                if (!found)
                        fprintf(stderr, "%s: no error at '%s' with '%s'\n", file, expected[i].path, expected[i].reason);
                CHECK(found);
        }
}

#define EXPECT_ERRORS(file, ...)                                                                                       \
        do {                                                                                                           \
                static const expected_t expected_[] = {__VA_ARGS__};                                                   \
                expect_errors(file, expected_, sizeof(expected_) / sizeof(expected_[0]));                              \
        } while (0)

static void test_document_errors(void) {
        EXPECT_ERRORS("not_json.json", {"", "line 3, column 18"});
        EXPECT_ERRORS("not_object.json", {"", "a policy is one JSON object, this is an array"});
        EXPECT_ERRORS("duplicate_key.json", {"", "duplicate object key"});
        EXPECT_ERRORS("missing_everything.json", {"name", "missing: a policy needs a name"},
                      {"version", "missing: a policy needs a version"},
                      {"weights", "missing: a policy must weigh at least one criterion"});

        problems_t problems;
        CHECK(load(fixture("no_such_file.json"), &problems) == NULL);
        CHECK_INT(problems.fatal, 1);
        CHECK(reported(&problems, "", "cannot open", true));
}

static void test_name_version_description_errors(void) {
        EXPECT_ERRORS("bad_labels.json", {"name", "\"my policy\" may hold only letters, digits"},
                      {"version", "expected a string or an integer, got a number with a fraction"},
                      {"description", "expected a string, got an integer"});
        EXPECT_ERRORS("bad_labels2.json", {"name", "must not be empty"}, {"version", "must not be negative"});
}

static void test_unknown_keys_with_suggestions(void) {
        EXPECT_ERRORS("unknown_keys.json", {"wieghts", "unknown key (did you mean weights?)"},
                      {"max_lag", "unknown key here: it belongs in \"defaults\" or \"domains\""},
                      {"frobnicate", "unknown key"}, {"weights.agin", "unknown key (did you mean aging?)"},
                      {"criteria.aging_horizon", "unknown key (did you mean aging_horizon_ms?)"},
                      {"defaults.max_lgs", "unknown key (did you mean max_lag?)"},
                      {"domains.evaluation.quota", "unknown key (did you mean quota_share?)"},
                      {"canary.fractoin", "unknown key (did you mean fraction?)"});
}

static void test_weight_and_criteria_errors(void) {
        EXPECT_ERRORS("bad_weights.json", {"weights.business_value", "11 is out of range [-10, 10]"},
                      {"weights.risk", "expected a number, got a string"},
                      {"weights.aging", "-10.5 is out of range [-10, 10]"});
        EXPECT_ERRORS("zero_weights.json", {"weights", "every weight is 0"});
        EXPECT_ERRORS("weights_not_object.json", {"weights", "expected an object of criterion weights, got an array"},
                      {"criteria", "expected an object of horizons, got an integer"});
        EXPECT_ERRORS("bad_criteria.json", {"criteria.urgency_horizon_ms", "10 is out of range [1000, 2592000000]"},
                      {"criteria.freshness_half_life_ms", "expected an integer, got a number with a fraction"},
                      {"criteria.aging_horizon_ms", "2592000001 is out of range"});
}

static void test_domain_errors(void) {
        EXPECT_ERRORS("unknown_domain.json",
                      {"domains.model_inferance", "unknown domain (did you mean model_inference?)"},
                      {"domains.training", "unknown domain: the configured domains are data_preparation, "
                                           "model_inference, evaluation, remediation"},
                      {"domains.evaluation", "expected an object of domain settings, got an integer"});
        EXPECT_ERRORS("sections_not_objects.json", {"defaults", "expected an object of domain settings, got an array"},
                      {"domains", "expected an object with one member per domain, got a string"});
        EXPECT_ERRORS("lag.json", {"defaults.resume_lag", "resume_lag 500 must be below max_lag 500"},
                      {"domains.model_inference.max_lag", "resume_lag 500 (from defaults) must be below max_lag 400"},
                      {"domains.evaluation.resume_lag", "resume_lag 300 must be below max_lag 200"},
                      {"domains.remediation.max_lag", "0 is out of range [1, 1000000000]"},
                      {"domains.remediation.resume_lag", "expected an integer"});
        EXPECT_ERRORS("retry.json",
                      {"defaults.retry_cap_ms", "retry_base_ms 1000 (from the config's backlog settings) exceeds "
                                                "retry_cap_ms 500"},
                      {"domains.model_inference.max_attempts", "0 is out of range [1, 1000]"},
                      {"domains.evaluation.retry_cap_ms", "retry_base_ms 5000 exceeds retry_cap_ms 1000"},
                      {"domains.remediation.retry_base_ms", "86400001 is out of range [0, 86400000]"});
        EXPECT_ERRORS("bad_worker_group.json", {"defaults.worker_group", "may not hold spaces"},
                      {"domains.evaluation.worker_group", "expected a string, got an integer"},
                      {"domains.remediation.worker_group", "must not be empty"});
}

static void test_guardrail_errors(void) {
        EXPECT_ERRORS("quota.json", {"domains", "quota shares sum to 1.2 (data_preparation 0.5, model_inference 0.4, "
                                                "evaluation 0.3): they must sum to at most 1"});
        EXPECT_ERRORS("quota_defaults.json", {"defaults.quota_share", "quota shares sum to 1.2"});
        EXPECT_ERRORS("bad_guardrails.json", {"defaults.quota_share", "1.5 is out of range [0, 1]"},
                      {"defaults.approval_risk_threshold", "-0.1 is out of range [0, 1]"},
                      {"domains.remediation.quota_share", "expected a number in [0, 1] or null, got a string"},
                      {"domains.remediation.approval_risk_threshold", "or null, got a boolean"});
}

static void test_canary_errors(void) {
        EXPECT_ERRORS("canary_errors.json", {"canary.fraction", "1.5 is out of range [0, 1]"},
                      {"canary.policy.weights.aging", "20 is out of range [-10, 10]"},
                      {"canary.policy.domains.training", "unknown domain"},
                      {"canary.policy.canary", "a canary cannot carry a canary of its own"},
                      {"canary.policy.version", "the canary is main@1 like the main policy"});
        EXPECT_ERRORS("canary_missing.json", {"canary.fraction", "missing"}, {"canary.policy", "missing"});
        EXPECT_ERRORS("canary_not_object.json", {"canary.fraction", "expected a number, got a string"},
                      {"canary.policy", "expected a policy document (an object), got a string"});
        problems_t problems;
        CHECK(parse_text("{\"name\": \"n\", \"version\": \"1\", \"weights\": {\"aging\": 1}, \"canary\": []}",
                         &problems) == NULL);
        CHECK(reported(&problems, "canary", "expected an object", true));
}

static void test_warnings_do_not_stop_a_policy(void) {
        problems_t problems;
        bl_policy_t *policy = load(fixture("warnings.json"), &problems);
        CHECK(policy != NULL);
        CHECK_INT(problems.fatal, 0);
        CHECK_INT(problems.count, 6);
        CHECK(reported(&problems, "weights.aging", "1 does not exceed 3", false));
        CHECK(reported(&problems, "canary.fraction", "the canary scores no task", false));
        CHECK(reported(&problems, "canary.policy.defaults.max_lag", "ignored", false));
        CHECK(reported(&problems, "canary.policy.domains.evaluation.quota_share", "ignored", false));
        CHECK(reported(&problems, "canary.policy.defaults.approval_risk_threshold", "weaker than the main policy's 0.8",
                       false));
        CHECK(reported(&problems, "canary.policy.domains.evaluation.approval_risk_threshold", "weaker", false));
        if (policy) {
                const bl_policy_t *canary = bl_policy_canary(policy);
                /* Ignored: the canary keeps the main policy's lag bounds and (absent) quota. */
                CHECK_INT(bl_policy_domain(canary, "evaluation")->max_lag, 1000);
                CHECK(!bl_policy_domain(canary, "evaluation")->has_quota);
                /* Fraction 0: no task is the canary's. */
                CHECK(bl_policy_for_task(policy, "task-1") == policy);
        }
        bl_policy_destroy(policy);
}

/* ---- each criterion ------------------------------------------------------------------------ */

static void test_business_value_and_risk(void) {
        bl_policy_t *policy = weighted(2, -3, 0, 0, 0, 0);
        if (!policy)
                return;
        bl_item_t item = item_of("t", "evaluation", 0.37, 0.8);
        bl_criterion_t value = criterion_of(policy, &item, T0, BL_CRITERION_BUSINESS_VALUE);
        CHECK_STR(value.name, "business_value");
        CHECK(near(value.raw, 0.37) && near(value.normalised, 0.37));
        CHECK(near(value.weight, 2) && near(value.contribution, 0.74));
        bl_criterion_t risk = criterion_of(policy, &item, T0, BL_CRITERION_RISK);
        CHECK_STR(risk.name, "risk");
        CHECK(near(risk.raw, 0.8) && near(risk.normalised, 0.8));
        CHECK(near(risk.contribution, -2.4)); /* a negative weight: a penalty */
        item.business_value = 0;
        item.risk = 1;
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_BUSINESS_VALUE).normalised, 0));
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_RISK).normalised, 1));
        item.business_value = 1.5; /* outside the contract: clamped, the raw value kept */
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_BUSINESS_VALUE).normalised, 1));
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_BUSINESS_VALUE).raw, 1.5));
        bl_policy_destroy(policy);
}

static void test_sla_urgency(void) {
        const int64_t hour = 3600000;
        bl_policy_t *policy = weighted(0, 0, 1, 0, 0, 0);
        if (!policy)
                return;
        bl_item_t item = item_of("t", "evaluation", 0.5, 0.5);
        bl_criterion_t c = criterion_of(policy, &item, T0, BL_CRITERION_SLA_URGENCY);
        CHECK_STR(c.name, "sla_urgency");
        CHECK(near(c.raw, 0) && near(c.normalised, 0)); /* no deadline */
        item.deadline_ms = T0 + 2 * hour;               /* beyond the horizon */
        c = criterion_of(policy, &item, T0, BL_CRITERION_SLA_URGENCY);
        CHECK(near(c.raw, 2.0 * hour) && near(c.normalised, 0));
        item.deadline_ms = T0 + hour; /* exactly at the horizon */
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_SLA_URGENCY).normalised, 0));
        item.deadline_ms = T0 + hour / 4; /* a quarter of the horizon left */
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_SLA_URGENCY).normalised, 0.75));
        item.deadline_ms = T0; /* due now */
        c = criterion_of(policy, &item, T0, BL_CRITERION_SLA_URGENCY);
        CHECK(near(c.raw, 0) && near(c.normalised, 1));
        item.deadline_ms = T0 - 5000; /* past due */
        c = criterion_of(policy, &item, T0, BL_CRITERION_SLA_URGENCY);
        CHECK(near(c.raw, -5000) && near(c.normalised, 1));
        bl_policy_destroy(policy);
}

static void test_freshness(void) {
        const int64_t half_life = 3600000;
        bl_policy_t *policy = weighted(0, 0, 0, 1, 0, 0);
        if (!policy)
                return;
        bl_item_t item = item_of("t", "evaluation", 0.5, 0.5);
        bl_criterion_t c = criterion_of(policy, &item, T0, BL_CRITERION_FRESHNESS);
        CHECK_STR(c.name, "freshness");
        CHECK(near(c.raw, 0) && near(c.normalised, 0)); /* no data_ready_at */
        item.data_ready_at_ms = T0;                     /* fresh */
        c = criterion_of(policy, &item, T0, BL_CRITERION_FRESHNESS);
        CHECK(near(c.raw, 0) && near(c.normalised, 1));
        item.data_ready_at_ms = T0 - half_life;
        c = criterion_of(policy, &item, T0, BL_CRITERION_FRESHNESS);
        CHECK(near(c.raw, (double)half_life) && near(c.normalised, 0.5));
        item.data_ready_at_ms = T0 - 2 * half_life;
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_FRESHNESS).normalised, 0.25));
        item.data_ready_at_ms = T0 - 40 * half_life; /* stale: close to 0, never below */
        c = criterion_of(policy, &item, T0, BL_CRITERION_FRESHNESS);
        CHECK(c.normalised > 0 && c.normalised < 1e-11);
        item.data_ready_at_ms = T0 + 60000; /* announced for later: counts as just ready */
        c = criterion_of(policy, &item, T0, BL_CRITERION_FRESHNESS);
        CHECK(near(c.raw, 0) && near(c.normalised, 1));
        bl_policy_destroy(policy);
}

static void test_aging(void) {
        const int64_t horizon = 3600000;
        bl_policy_t *policy = weighted(0, 0, 0, 0, 1, 0);
        if (!policy)
                return;
        bl_item_t item = item_of("t", "evaluation", 0.5, 0.5);
        bl_criterion_t c = criterion_of(policy, &item, T0, BL_CRITERION_AGING);
        CHECK_STR(c.name, "aging");
        CHECK(near(c.raw, 0) && near(c.normalised, 0)); /* not READY */
        item.ready_since_ms = T0;
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_AGING).normalised, 0));
        c = criterion_of(policy, &item, T0 + horizon / 2, BL_CRITERION_AGING);
        CHECK(near(c.raw, horizon / 2.0) && near(c.normalised, 0.5));
        CHECK(near(criterion_of(policy, &item, T0 + horizon, BL_CRITERION_AGING).normalised, 1));
        c = criterion_of(policy, &item, T0 + 5 * horizon, BL_CRITERION_AGING);
        CHECK(near(c.raw, 5.0 * horizon) && near(c.normalised, 1));
        bl_policy_destroy(policy);
}

static void test_retry_penalty(void) {
        bl_policy_t *policy = weighted(0, 0, 0, 0, 0, -2); /* defaults.max_attempts = 4 */
        if (!policy)
                return;
        bl_item_t item = item_of("t", "evaluation", 0.5, 0.5);
        bl_criterion_t c = criterion_of(policy, &item, T0, BL_CRITERION_RETRY_PENALTY);
        CHECK_STR(c.name, "retry_penalty");
        CHECK(near(c.raw, 0) && near(c.normalised, 0)); /* zero attempts */
        item.attempt = 1;
        c = criterion_of(policy, &item, T0, BL_CRITERION_RETRY_PENALTY);
        CHECK(near(c.raw, 1) && near(c.normalised, 0.25) && near(c.contribution, -0.5)); /* the domain's 4 */
        item.max_attempts = 2;                                                           /* the task's own limit wins */
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_RETRY_PENALTY).normalised, 0.5));
        item.attempt = 2; /* max attempts */
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_RETRY_PENALTY).normalised, 1));
        item.attempt = 7;
        CHECK(near(criterion_of(policy, &item, T0, BL_CRITERION_RETRY_PENALTY).normalised, 1));
        bl_policy_destroy(policy);
}

/* ---- the score ----------------------------------------------------------------------------- */

static void test_score_is_the_sum_of_its_rationale(void) {
        problems_t problems;
        bl_policy_t *policy = load(example_path(), &problems);
        CHECK(policy != NULL);
        if (!policy)
                return;
        static const char *const names[] = {"business_value", "risk",          "sla_urgency",  "freshness",
                                            "aging",          "retry_penalty", "deadline_risk"};
        bl_item_t item = item_of("t-1", "model_inference", 0.8, 0.3);
        item.deadline_ms = T0 + 1800000;
        item.data_ready_at_ms = T0 - 7200000;
        item.ready_since_ms = T0 - 900000;
        item.attempt = 2;
        bl_criterion_t out[BL_POLICY_CRITERIA];
        double score = bl_policy_score(policy, &item, T0, out);
        double sum = 0;
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++) {
                CHECK_STR(out[i].name, names[i]);
                CHECK_STR(bl_policy_criterion_name((bl_criterion_id_t)i), names[i]);
                CHECK(out[i].weight == bl_policy_weight(policy, (bl_criterion_id_t)i));
                CHECK(out[i].contribution == out[i].weight * out[i].normalised);
                CHECK(out[i].normalised >= 0 && out[i].normalised <= 1);
                sum += out[i].contribution;
        }
        CHECK(score == sum); /* exactly: summed in the same order */
        /* 2*0.8 - 0.5*0.3 + 2.5*0.5 + 1*2^(-1/3) + 7*0.25 - 0.5*(2/5) */
        CHECK(near(score, 1.6 - 0.15 + 1.25 + exp2(-1.0 / 3) + 1.75 - 0.2));
        CHECK(bl_policy_score(policy, &item, T0, NULL) == score);
        CHECK(bl_policy_score_in(policy, bl_policy_domain(policy, "model_inference"), &item, T0, NULL) == score);
        CHECK_STR(bl_policy_criterion_name(BL_POLICY_CRITERIA), "?");
        bl_policy_destroy(policy);
}

/*
 * A low-value task READY since T0 against a high-value one that has just
 * become READY, every other criterion equal. With weights w_v (value) and
 * w_a (aging) and aging horizon H, the old task scores
 *   w_v v_low + w_a min(t / H, 1)   and the fresh one   w_v v_high,
 * so it overtakes every fresh arrival from
 *   t* = H w_v (v_high - v_low) / w_a,
 * which exists (t* <= H) only when w_a > w_v (v_high - v_low). Here H = 1 h,
 * w_v = 5, w_a = 6, v_low = 0.1, v_high = 0.9: t* = 1 h * 4 / 6 = 40 min.
 */
static void test_aging_lets_a_low_value_task_through(void) {
        const int64_t hour = 3600000;
        bl_policy_t *policy = weighted(5, 0, 0, 0, 6, 0);
        if (!policy)
                return;
        const double crossing_ms = (double)hour * 5 * (0.9 - 0.1) / 6;
        CHECK(near(crossing_ms, 2400000));
        bl_item_t low = item_of("low", "evaluation", 0.1, 0);
        low.ready_since_ms = T0;
        /* A steady stream: a fresh high-value task every minute; the best of the two is picked. */
        int64_t picked_at = -1;
        for (int64_t now = T0; now <= T0 + 2 * hour && picked_at < 0; now += 60000) {
                bl_item_t high = item_of("high", "evaluation", 0.9, 0);
                high.ready_since_ms = now;
                if (bl_policy_score(policy, &low, now, NULL) > bl_policy_score(policy, &high, now, NULL))
                        picked_at = now;
        }
        CHECK_INT(picked_at, T0 + 2400000 + 60000); /* the first minute after t* (at t* they tie) */
        bl_item_t high = item_of("high", "evaluation", 0.9, 0);
        high.ready_since_ms = T0 + (int64_t)crossing_ms - 1;
        CHECK(bl_policy_score(policy, &low, T0 + (int64_t)crossing_ms - 1, NULL) <
              bl_policy_score(policy, &high, T0 + (int64_t)crossing_ms - 1, NULL));
        high.ready_since_ms = T0 + (int64_t)crossing_ms + 1;
        CHECK(bl_policy_score(policy, &low, T0 + (int64_t)crossing_ms + 1, NULL) >
              bl_policy_score(policy, &high, T0 + (int64_t)crossing_ms + 1, NULL));
        bl_policy_destroy(policy);

        /* w_a = 3 <= w_v (v_high - v_low) = 4: aging saturates first, and the low task waits forever. */
        policy = weighted(5, 0, 0, 0, 3, 0);
        if (!policy)
                return;
        high.ready_since_ms = T0 + 100 * hour;
        CHECK(bl_policy_score(policy, &low, T0 + 100 * hour, NULL) <
              bl_policy_score(policy, &high, T0 + 100 * hour, NULL));
        bl_policy_destroy(policy);
}

/* ---- guardrails ---------------------------------------------------------------------------- */

static void test_approval_threshold(void) {
        problems_t problems;
        bl_policy_t *policy = load(example_path(), &problems);
        if (!policy)
                return;
        bl_item_t item = item_of("t", "remediation", 0.5, 0.69);
        CHECK(!bl_policy_requires_approval(policy, &item));
        item.risk = 0.7; /* at the threshold: approval */
        CHECK(bl_policy_requires_approval(policy, &item));
        item.kind = kind_of("evaluation"); /* the defaults' 0.9 */
        CHECK(!bl_policy_requires_approval(policy, &item));
        item.risk = 0.95;
        CHECK(bl_policy_requires_approval(policy, &item));
        item.kind = kind_of("training"); /* unknown: the defaults */
        CHECK(bl_policy_requires_approval(policy, &item));
        bl_policy_destroy(policy);

        policy = load(fixture("minimal.json"), &problems); /* no threshold at all */
        if (!policy)
                return;
        item.risk = 1.0;
        CHECK(!bl_policy_requires_approval(policy, &item));
        bl_policy_destroy(policy);
}

static void test_quota_arithmetic(void) {
        problems_t problems;
        bl_policy_t *policy = load(example_path(), &problems);
        if (!policy)
                return;
        /* data_preparation 0.3, model_inference 0.4, evaluation 0.2, remediation none */
        CHECK_INT(bl_policy_quota(policy, "data_preparation", 100), 30);
        CHECK_INT(bl_policy_quota(policy, "data_preparation", 10), 3); /* 0.3 x 10 is 3, not 2 */
        CHECK_INT(bl_policy_quota(policy, "data_preparation", 7), 2);  /* floor(2.1) */
        CHECK_INT(bl_policy_quota(policy, "data_preparation", 1), 1);  /* at least one: never starved */
        CHECK_INT(bl_policy_quota(policy, "data_preparation", 0), 0);
        CHECK_INT(bl_policy_quota(policy, "model_inference", 9), 3); /* floor(3.6) */
        CHECK_INT(bl_policy_quota(policy, "evaluation", 5), 1);
        CHECK_INT(bl_policy_quota(policy, "remediation", 5), 5); /* no quota: the whole round */
        CHECK_INT(bl_policy_quota(policy, "training", 5), 5);    /* unknown: the defaults, no quota */
        /* The canary shares the main policy's quotas. */
        CHECK_INT(bl_policy_quota(bl_policy_canary(policy), "model_inference", 100), 40);
        /* Shares below 1 in all never hand out more than the round, for rounds of at least 1/share. */
        for (size_t round = 10; round < 1000; round += 7) {
                size_t sum = 0;
                for (size_t i = 0; i < DOMAIN_COUNT; i++)
                        if (bl_policy_domain(policy, DOMAINS[i])->has_quota)
                                sum += bl_policy_quota(policy, DOMAINS[i], round);
                CHECK(sum <= round);
        }
        bl_policy_destroy(policy);

        policy = parse_text(
                "{\"name\": \"q\", \"version\": \"1\", \"weights\": {\"aging\": 1},"
                " \"domains\": {\"evaluation\": {\"quota_share\": 0}, \"remediation\": {\"quota_share\": 1}}}",
                &problems);
        CHECK(policy != NULL);
        if (!policy)
                return;
        CHECK_INT(bl_policy_quota(policy, "evaluation", 50), 0); /* share 0 holds the domain */
        CHECK_INT(bl_policy_quota(policy, "remediation", 50), 50);
        bl_policy_destroy(policy);
}

/* ---- canary -------------------------------------------------------------------------------- */

static void test_canary_split_is_stable(void) {
        problems_t problems;
        bl_policy_t *first = load(example_path(), &problems);
        bl_policy_t *second = load(example_path(), &problems);
        CHECK(first && second);
        if (!first || !second) {
                bl_policy_destroy(first);
                bl_policy_destroy(second);
                return;
        }
        const bl_policy_t *canary_first = bl_policy_canary(first), *canary_second = bl_policy_canary(second);
        char task_id[32];
        size_t in_canary = 0, total = 100000;
        for (size_t i = 0; i < total; i++) {
                snprintf(task_id, sizeof(task_id), "task-%06zu", i);
                const bl_policy_t *chosen = bl_policy_for_task(first, task_id);
                CHECK(chosen == first || chosen == canary_first);
                bool is_canary = chosen == canary_first;
                in_canary += is_canary;
                /* Across two parses (two instances, two runs): the same choice. */
                if ((bl_policy_for_task(second, task_id) == canary_second) != is_canary)
                        CHECK(!"the second parse chose another policy");
                /* Every call: the same choice. */
                if (i % 1000 == 0)
                        for (int again = 0; again < 100; again++)
                                CHECK(bl_policy_for_task(first, task_id) == chosen);
                /* The canary takes exactly the tasks whose point is below the fraction. */
                if ((bl_policy_canary_point(task_id) < 0.1) != is_canary)
                        CHECK(!"the canary point and the choice disagree");
        }
        double share = (double)in_canary / (double)total;
        fprintf(stderr, "  canary share over %zu ids: %.4f (fraction 0.1)\n", total, share);
        CHECK(fabs(share - 0.1) < 0.01);

        /* The decision names the policy that made it. */
        bl_item_t item = item_of("", "evaluation", 0.5, 0.5);
        for (size_t i = 0; i < 200; i++) {
                snprintf(task_id, sizeof(task_id), "task-%06zu", i);
                item.task_id = task_id;
                const bl_policy_t *chosen = NULL;
                double score = bl_policy_score_task(first, &item, T0, NULL, &chosen);
                CHECK(chosen == bl_policy_for_task(first, task_id));
                CHECK(score == bl_policy_score(chosen, &item, T0, NULL));
        }
        bl_policy_destroy(first);
        bl_policy_destroy(second);
}

static void test_canary_points_are_pinned(void) {
        /* FNV-1a 64 + murmur3 fmix64, top 53 bits: these values must never change, or a rollout
         * would move tasks between policies on upgrade. */
        CHECK(near(bl_policy_canary_point("task-000000"), CANARY_POINT_0));
        CHECK(near(bl_policy_canary_point("task-000001"), CANARY_POINT_1));
        CHECK(near(bl_policy_canary_point(""), CANARY_POINT_EMPTY));
        for (size_t i = 0; i < 1000; i++) {
                char task_id[32];
                snprintf(task_id, sizeof(task_id), "t%zu", i);
                double point = bl_policy_canary_point(task_id);
                CHECK(point >= 0 && point < 1);
        }
}

static void test_canary_fractions(void) {
        static const double fractions[] = {0.01, 0.25, 0.5, 0.9};
        char text[512], task_id[32];
        bool previous[20000] = {false};
        for (size_t f = 0; f < sizeof(fractions) / sizeof(fractions[0]); f++) {
                problems_t problems;
                snprintf(
                        text, sizeof(text),
                        "{\"name\": \"m\", \"version\": \"1\", \"weights\": {\"aging\": 1}, \"canary\": {\"fraction\": "
                        "%g, \"policy\": {\"name\": \"m\", \"version\": \"2\", \"weights\": {\"aging\": 1}}}}",
                        fractions[f]);
                bl_policy_t *policy = parse_text(text, &problems);
                CHECK(policy != NULL);
                if (!policy)
                        continue;
                size_t in_canary = 0, total = sizeof(previous) / sizeof(previous[0]);
                for (size_t i = 0; i < total; i++) {
                        snprintf(task_id, sizeof(task_id), "%zu-%zx", i * 7919, i);
                        bool is_canary = bl_policy_for_task(policy, task_id) != policy;
                        /* Raising the fraction only moves tasks into the canary. */
                        if (previous[i] && !is_canary)
                                CHECK(!"a task left the canary when the fraction grew");
                        previous[i] = is_canary;
                        in_canary += is_canary;
                }
                CHECK(fabs((double)in_canary / (double)total - fractions[f]) < 0.01);
                bl_policy_destroy(policy);
        }
}


/* ---- agents (SPEC §13, docs/agents.md) ------------------------------------------------------ */

static void test_agent_settings_are_read(void) {
        problems_t problems;
        setenv("AGENT_TEST_TOKEN", "s3cret-token", 1);
        bl_policy_t *policy = load(fixture("agent.json"), &problems);
        CHECK(policy != NULL);
        /* Only that the TLS files are not on this machine (the policy may be checked elsewhere). */
        CHECK_INT(problems.fatal, 0);
        CHECK_INT(problems.count, 3);
        CHECK(reported(&problems, "domains.remediation.agent.key_location", "cannot read /etc/backlogd/agent-client.key",
                       false));
        if (!policy)
                return;
        const bl_agent_policy_t *agent = bl_policy_domain(policy, "remediation")->agent;
        CHECK(agent != NULL);
        if (agent) {
                CHECK_STR(agent->url, "https://agent.example:8443/v1/decide");
                CHECK_STR(agent->ca_location, "/etc/backlogd/agent-ca.pem");
                CHECK_STR(agent->certificate_location, "/etc/backlogd/agent-client.pem");
                CHECK_STR(agent->key_location, "/etc/backlogd/agent-client.key");
                CHECK_STR(agent->token_env, "AGENT_TEST_TOKEN");
                CHECK_INT(agent->timeout_ms, 250);
                CHECK(agent->pilot_share == 0.2);
                CHECK_INT(agent->max_candidates, 50);
                CHECK_INT(agent->hold_max_ms, 600000);
                CHECK(agent->max_held_share == 0.25);
                CHECK_INT(agent->deadline_margin_ms, 120000);
                CHECK(agent->send_payload);
                CHECK_INT(agent->max_response_bytes, 262144);
                CHECK_INT(agent->breaker_failures, 3);
                CHECK_INT(agent->breaker_cooldown_ms, 10000);
        }
        /* Every default but url and pilot_share. */
        const bl_agent_policy_t *plain = bl_policy_domain(policy, "evaluation")->agent;
        CHECK(plain != NULL);
        if (plain) {
                CHECK(plain->ca_location == NULL && plain->certificate_location == NULL && plain->token_env == NULL);
                CHECK_INT(plain->timeout_ms, 500);
                CHECK_INT(plain->max_candidates, 20);
                CHECK_INT(plain->hold_max_ms, 300000);
                CHECK(plain->max_held_share == 0.5);
                CHECK_INT(plain->deadline_margin_ms, 60000);
                CHECK(!plain->send_payload);
                CHECK_INT(plain->max_response_bytes, 1 << 20);
                CHECK_INT(plain->breaker_failures, 5);
                CHECK_INT(plain->breaker_cooldown_ms, 30000);
        }
        CHECK(bl_policy_domain(policy, "model_inference")->agent == NULL);
        CHECK(bl_policy_defaults(policy)->agent == NULL);

        /* Written back: the variable's name, never the token; and it parses again to the same policy. */
        json_t *described = bl_policy_describe(policy);
        char *text = json_dumps(described, JSON_COMPACT);
        CHECK(strstr(text, "s3cret-token") == NULL);
        CHECK_CONTAINS(text, "\"token_env\":\"AGENT_TEST_TOKEN\"");
        bl_policy_t *again = parse_text(text, &problems);
        CHECK(again != NULL);
        CHECK_INT(problems.fatal, 0);
        if (again) {
                json_t *described_again = bl_policy_describe(again);
                CHECK(json_equal(described, described_again));
                json_decref(described_again);
        }
        bl_policy_destroy(again);
        free(text);
        json_decref(described);
        bl_policy_destroy(policy);
        unsetenv("AGENT_TEST_TOKEN");
}

static void test_agent_errors(void) {
        EXPECT_ERRORS("agent_errors.json", {"defaults.agent", "an agent belongs to one domain"},
                      {"domains.remediation.agent.url", "must not carry credentials (user:password@)"},
                      {"domains.remediation.agent.token", "a token never goes in the policy"},
                      {"domains.remediation.agent.token_env", "must be the name of an environment variable"},
                      {"domains.remediation.agent.timeout_ms", "5 is out of range [10, 60000]"},
                      {"domains.remediation.agent.pilot_share", "1.5 is out of range [0, 1]"},
                      {"domains.remediation.agent.max_candidates", "0 is out of range [1, 500]"},
                      {"domains.remediation.agent.hold_max_ms", "-1 is out of range [0, 86400000]"},
                      {"domains.remediation.agent.max_held_share", "expected a number, got a string"},
                      {"domains.remediation.agent.send_payload", "expected true or false, got a string"},
                      {"domains.remediation.agent.max_response_bytes", "100000000 is out of range [1024, 16777216]"},
                      {"domains.remediation.agent.breaker_failures", "0 is out of range [1, 1000]"},
                      {"domains.remediation.agent.breaker_cooldown_ms", "50 is out of range [100, 3600000]"},
                      {"domains.remediation.agent.timout_ms", "unknown key (did you mean timeout_ms?)"},
                      {"domains.evaluation.agent.url", "must start with http:// or https://"},
                      {"domains.evaluation.agent.pilot_share", "missing"},
                      {"domains.evaluation.agent.key_location", "is set without certificate_location"},
                      {"domains.data_preparation.agent.url", "must not have a query"},
                      {"domains.model_inference.agent", "expected an object of agent settings"});
        /* An error never quotes the URL (it may hold a password) nor the token. */
        problems_t problems;
        CHECK(load(fixture("agent_errors.json"), &problems) == NULL);
        for (size_t i = 0; i < problems.count; i++) {
                CHECK(strstr(problems.items[i].reason, "secret") == NULL);
                CHECK(strstr(problems.items[i].reason, "abc") == NULL);
        }
        /* A key of the agent put in a domain's section says where it belongs. */
        CHECK(parse_text("{\"name\": \"n\", \"version\": \"1\", \"weights\": {\"aging\": 1}, "
                         "\"domains\": {\"evaluation\": {\"pilot_share\": 0.1}}}",
                         &problems) == NULL);
        CHECK(reported(&problems, "domains.evaluation.pilot_share", "it belongs in \"domains\": {\"<domain>\": "
                                                                     "{\"agent\"",
                       true));
}

static void test_agent_warnings(void) {
        problems_t problems;
        unsetenv("AGENT_TEST_TOKEN_UNSET");
        bl_policy_t *policy = load(fixture("agent_warnings.json"), &problems);
        CHECK(policy != NULL);
        CHECK_INT(problems.fatal, 0);
        print_problems("agent_warnings.json", &problems);
        CHECK(reported(&problems, "domains.remediation.agent.url", "the token travels unencrypted", false));
        CHECK(reported(&problems, "domains.remediation.agent.token_env",
                       "AGENT_TEST_TOKEN_UNSET is not set in this environment", false));
        CHECK(reported(&problems, "domains.remediation.agent.pilot_share", "the agent governs no task", false));
        CHECK(reported(&problems, "domains.remediation.agent.ca_location", "cannot read /nonexistent/agent-ca.pem",
                       false));
        CHECK(reported(&problems, "canary.policy.domains.remediation.agent", "ignored", false));
        if (policy) {
                /* The canary has no agent: the main policy's domain settings hold it. */
                CHECK(bl_policy_domain(bl_policy_canary(policy), "remediation")->agent == NULL);
                CHECK(bl_policy_domain(policy, "remediation")->agent != NULL);
                CHECK(!bl_policy_in_pilot(bl_policy_domain(policy, "remediation")->agent, "task-000001"));
        }
        bl_policy_destroy(policy);
}

/* ---- SPEC §14: runtime bounds, breakers, remediation rules -------------------------------- */

static void test_resilience_settings_are_read(void) {
        problems_t problems;
        bl_policy_t *policy = load(fixture("resilience.json"), &problems);
        CHECK(policy != NULL);
        print_problems("resilience", &problems);
        if (!policy)
                return;
        const bl_resilience_policy_t *evaluation = bl_policy_domain(policy, "evaluation")->resilience;
        const bl_resilience_policy_t *preparation = bl_policy_domain(policy, "data_preparation")->resilience;
        const bl_resilience_policy_t *inference = bl_policy_domain(policy, "model_inference")->resilience;
        CHECK(evaluation && preparation && inference);
        if (!evaluation || !preparation || !inference) {
                bl_policy_destroy(policy);
                return;
        }
        /* runtime: the task_type's own bound, else the domain's (from the defaults), 0 turned off */
        CHECK_INT(bl_resilience_max_runtime_ms(evaluation, "train"), 3600000);
        CHECK_INT(bl_resilience_max_runtime_ms(evaluation, "score"), 60000);
        CHECK_INT(bl_resilience_max_runtime_ms(evaluation, NULL), 60000);
        CHECK_INT(bl_resilience_max_runtime_ms(preparation, "train"), 0);
        CHECK_INT(bl_resilience_max_runtime_ms(NULL, "train"), 0);
        /* breaker: the defaults' object turns it on everywhere, a domain adds to it or turns it off */
        CHECK(inference->breaker.enabled);
        CHECK(inference->breaker.failure_share == 0.6);
        CHECK_INT(inference->breaker.min_results, 5);
        CHECK_INT(inference->breaker.cooldown_ms, 30000);
        CHECK(evaluation->breaker.enabled);
        CHECK_INT(evaluation->breaker.cooldown_ms, 1000);
        CHECK_INT(evaluation->breaker.min_results, 5);
        CHECK(!preparation->breaker.enabled);
        /* remediation: the first rule that matches takes the task */
        CHECK_INT(evaluation->rule_count, 2);
        CHECK_INT(inference->rule_count, 0);
        bl_item_t *item = bl_item_new_of_kind("t", 0, "train", "evaluation", NULL, "standard");
        CHECK(item != NULL);
        if (item) {
                const bl_remediation_rule_t *rule = bl_resilience_rule_for(evaluation, item);
                CHECK(rule == &evaluation->rules[1]); /* no error yet: the catch-all */
                bl_item_cold_t *cold = bl_item_cold_for_write(item);
                cold->has_last_error = true;
                bl_item_replace_text(&cold->error_code, "OOM");
                rule = bl_resilience_rule_for(evaluation, item);
                CHECK(rule == &evaluation->rules[0]);
                if (rule) {
                        CHECK_STR(rule->remediation_task_type, "resize");
                        CHECK_STR(rule->remediation_domain, "remediation");
                        CHECK_INT(rule->max_rounds, 2);
                }
                CHECK_STR(evaluation->rules[1].remediation_task_type, "remediate");
                CHECK_INT(evaluation->rules[1].max_rounds, 1);
                CHECK(bl_resilience_rule_for(inference, item) == NULL);
                bl_item_destroy(item);
        }
        /* described and read back, the same policy */
        json_t *described = bl_policy_describe(policy);
        char *text = json_dumps(described, JSON_COMPACT);
        bl_policy_t *again = parse_text(text, &problems);
        CHECK(again != NULL);
        if (again) {
                json_t *described_again = bl_policy_describe(again);
                CHECK(json_equal(described, described_again));
                json_decref(described_again);
        }
        bl_policy_destroy(again);
        free(text);
        json_decref(described);
        bl_policy_destroy(policy);
}

static void test_resilience_errors(void) {
        EXPECT_ERRORS("resilience_errors.json",
                      {"domains.evaluation.max_runtime_ms", "-1 is out of range [0, 2592000000]"},
                      {"domains.evaluation.max_runtime_ms_by_task_type.a", "0 is out of range [1, 2592000000]"},
                      {"domains.evaluation.breaker.failure_shar", "unknown key (did you mean failure_share?)"},
                      {"domains.evaluation.breaker.probes", "40 is out of range [1, 16]"},
                      {"domains.evaluation.breaker.failure_share", "must be above 0"},
                      {"domains.model_inference.breaker", "expected an object of breaker settings or null"},
                      {"domains.model_inference.remediation.0.reason", "only \"retries.exhausted\" can be remediated"},
                      {"domains.model_inference.remediation.0", "remediation domain fixers is not a configured domain"},
                      {"domains.model_inference.remediation.1.max_rounds", "0 is out of range [1, 100]"},
                      {"domains.model_inference.remediation.2", "expected a rule object"});
}

int main(void) {
        RUN(test_resilience_settings_are_read);
        RUN(test_resilience_errors);
        RUN(test_example_policy);
        RUN(test_minimal_policy_and_defaults);
        RUN(test_retry_settings_fall_back_to_the_config);
        RUN(test_domains_named_by_the_document);
        RUN(test_parse_reads_only_len_bytes);
        RUN(test_describe_parses_back_to_the_same_policy);
        RUN(test_document_errors);
        RUN(test_name_version_description_errors);
        RUN(test_unknown_keys_with_suggestions);
        RUN(test_weight_and_criteria_errors);
        RUN(test_domain_errors);
        RUN(test_guardrail_errors);
        RUN(test_canary_errors);
        RUN(test_warnings_do_not_stop_a_policy);
        RUN(test_business_value_and_risk);
        RUN(test_sla_urgency);
        RUN(test_freshness);
        RUN(test_aging);
        RUN(test_retry_penalty);
        RUN(test_score_is_the_sum_of_its_rationale);
        RUN(test_aging_lets_a_low_value_task_through);
        RUN(test_approval_threshold);
        RUN(test_quota_arithmetic);
        RUN(test_canary_split_is_stable);
        RUN(test_canary_points_are_pinned);
        RUN(test_canary_fractions);
        RUN(test_agent_settings_are_read);
        RUN(test_agent_errors);
        RUN(test_agent_warnings);
        return check_exit_status();
}
