/*
 * test_agent_request.c: a consultation encoded as the request schema's JSON
 * (agent/request.c). The output of three requests (every field, the least
 * there is, payloads) must equal the documents in
 * tests/fixtures/agent/request, which tests/cli/test_agent_schemas.py
 * validates against schemas/agent/request-v1.json: so what the client sends
 * is what the schema allows. Then what the encoder refuses.
 */
#include "check.h"
#include "agent/request.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((int64_t)1700000000000)

static const bl_criterion_t rationale[BL_POLICY_CRITERIA] = {
        {"business_value", 0.8, 0.8, 2, 1.6},    {"risk", 0.3, 0.3, -1, -0.3},
        {"sla_urgency", 240000, 0.9333, 2.5, 2.33325}, {"freshness", 10800000, 0.7071, 1, 0.7071},
        {"aging", 60000, 0.0167, 5, 0.0833},     {"retry_penalty", 1, 0.3333, -1, -0.3333},
        {"deadline_risk", -1500, 0.25, 2, 0.5},
};

static const char *const label_keys[] = {"team", "dataset"};
static const char *const label_values[] = {"ml-platform", "clicks-2024"};
static bl_labels_t labels; /* set by main */

static bl_agent_policy_t agent_of(bool send_payload) {
        bl_agent_policy_t agent;
        bl_agent_policy_defaults(&agent);
        agent.pilot_share = 0.2;
        agent.send_payload = send_payload;
        return agent;
}

static bl_agent_candidate_t full_candidate(void) {
        return (bl_agent_candidate_t){
                .task_id = "task-000042",
                .attempt = 2,
                .max_attempts = 3,
                .task_type = "retrain",
                .tenant = "acme",
                .business_value = 0.8,
                .risk = 0.3,
                .deadline_ms = T0 + 240000,
                .data_ready_at_ms = T0 - 10800000,
                .ready_since_ms = T0 - 60000,
                .labels = &labels,
                .score = 4.08725,
                .rationale = rationale,
                .policy_label = "platform@3",
                .payload = "{\"model\": \"m1\"}",
                .payload_size = 15,
        };
}

static bl_agent_candidate_t bare_candidate(void) {
        return (bl_agent_candidate_t){
                .task_id = "task-000043",
                .attempt = 1,
                .max_attempts = 3,
                .deadline_ms = BL_NO_TIME,
                .data_ready_at_ms = BL_NO_TIME,
                .ready_since_ms = T0,
        };
}

/* The encoded request equals the fixture @p name as JSON (member order aside). */
static void check_against_fixture(const char *name, const char *body) {
        char path[1024];
        const char *dir = getenv("BACKLOGD_FIXTURES");
        json_error_t error;
        snprintf(path, sizeof(path), "%s/agent/request/%s", dir ? dir : "tests/fixtures", name);
        json_t *expected = json_load_file(path, 0, &error);
        json_t *actual = json_loads(body, 0, &error);
        CHECK(expected != NULL && actual != NULL);
        bool equal = expected && actual && json_equal(expected, actual);
        if (!equal)
                fprintf(stderr, "  %s differs from what the encoder wrote:\n%s\n", name, body);
        CHECK(equal);
        json_decref(expected);
        json_decref(actual);
}

static void test_every_field(void) {
        bl_agent_candidate_t candidates[] = {full_candidate(), bare_candidate()};
        bl_agent_policy_t agent = agent_of(false);
        bl_agent_request_t request = {
                .domain = "remediation",
                .consultation_id = "backlogd-0-17",
                .now_ms = T0,
                .candidates = candidates,
                .candidate_count = 2,
                .context = {.credit = 12, .lag = 188, .throttled = false, .breaker = "closed", .ready = 340,
                            .in_flight = 25, .throughput_per_s = 4.5, .drain_ms = 75000, .recent_failure_rate = 0.05},
        };
        char *body = NULL, errstr[256];
        size_t length = 0;
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_OK);
        CHECK(body && length == strlen(body));
        if (body) {
                check_against_fixture("full.json", body);
                CHECK(strstr(body, "payload") == NULL); /* send_payload is off */
        }
        free(body);
}

static void test_the_least_there_is(void) {
        bl_agent_policy_t agent = agent_of(false);
        bl_agent_request_t request = {
                .domain = "evaluation",
                .consultation_id = "c-1",
                .now_ms = T0,
                .context = bl_agent_context_unknown(),
        };
        char *body = NULL, errstr[256];
        size_t length = 0;
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_OK);
        if (body)
                check_against_fixture("minimal.json", body);
        free(body);
}

static void test_payloads_go_base64_when_asked(void) {
        bl_agent_candidate_t candidates[] = {full_candidate(), bare_candidate()};
        candidates[1].payload = "\x00\xff\x10";
        candidates[1].payload_size = 3;
        bl_agent_policy_t agent = agent_of(true);
        bl_agent_request_t request = {
                .domain = "remediation",
                .consultation_id = "c-2",
                .now_ms = T0,
                .candidates = candidates,
                .candidate_count = 2,
                .context = bl_agent_context_unknown(),
        };
        char *body = NULL, errstr[256];
        size_t length = 0;
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_OK);
        if (body) {
                check_against_fixture("payload.json", body);
                CHECK_CONTAINS(body, "\"payload_base64\":\"eyJtb2RlbCI6ICJtMSJ9\"");
                CHECK_CONTAINS(body, "\"payload_base64\":\"AP8Q\"");
        }
        free(body);
}

static void test_what_cannot_go_out(void) {
        bl_agent_candidate_t candidates[3] = {bare_candidate(), bare_candidate(), bare_candidate()};
        bl_agent_policy_t agent = agent_of(false);
        bl_agent_request_t request = {.domain = "evaluation", .consultation_id = "c 1", .now_ms = T0,
                                      .candidates = candidates, .candidate_count = 1,
                                      .context = bl_agent_context_unknown()};
        char *body = NULL, errstr[256];
        size_t length = 0;
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "printable ASCII");
        CHECK(body == NULL);
        CHECK(!bl_agent_consultation_id_ok(""));
        CHECK(!bl_agent_consultation_id_ok(NULL));
        char long_id[130];
        memset(long_id, 'c', 129);
        long_id[129] = '\0';
        CHECK(!bl_agent_consultation_id_ok(long_id));
        long_id[128] = '\0';
        CHECK(bl_agent_consultation_id_ok(long_id));

        request.consultation_id = "c-1";
        request.candidate_count = 3;
        agent.max_candidates = 2;
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "3 candidates: the agent takes at most 2");

        agent.max_candidates = 20;
        candidates[2].task_id = "";
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "candidate 2 has no task_id");

        request.domain = NULL;
        CHECK_INT(bl_agent_request_encode(&request, &agent, &body, &length, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK(body == NULL);
}

int main(void) {
        if (!bl_labels_set(&labels, label_keys, label_values, 2))
                return 1;
        RUN(test_every_field);
        RUN(test_the_least_there_is);
        RUN(test_payloads_go_base64_when_asked);
        RUN(test_what_cannot_go_out);
        bl_labels_clear(&labels);
        return check_exit_status();
}
