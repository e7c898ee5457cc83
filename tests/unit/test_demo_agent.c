/*
 * test_demo_agent.c: the demo's decision agent (src/demo/agent.c), consulted
 * through backlogd's own agent client (src/agent/client.c), which checks
 * every answer against response-v1 as it would in `run`: a hundred
 * consultations end answered, timed out (slow past timeout_ms), HTTP 500
 * (a spell of them in a row, enough to open a breaker, then one now and
 * then) or malformed, exactly as often as the agent says it did, and never
 * invalid; every answer puts deadlines first and holds stale input; the
 * parts meant to be refused are there as often as counted; the same seed
 * gives the same fates. In its steady mode (bench/agent.c's) every
 * consultation is answered after the delay, with nothing to refuse.
 */
#include "check.h"
#include "agent/client.h"
#include "demo/agent.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define T0 ((int64_t)1700000000000)
#define CONSULTATIONS 100
#define TIMEOUT_MS 1000 /* slow answers come 150 ms after it; valgrind's pace stays well within it */

static const bl_agent_candidate_t candidates[] = {
        {.task_id = "t-a", .attempt = 1, .max_attempts = 3, .deadline_ms = BL_NO_TIME, .data_ready_at_ms = BL_NO_TIME,
         .ready_since_ms = T0, .score = 1.0},
        {.task_id = "t-b", .attempt = 1, .max_attempts = 3, .deadline_ms = T0 + 60000,
         .data_ready_at_ms = BL_NO_TIME, .ready_since_ms = T0, .score = 0.5},
        {.task_id = "t-c", .attempt = 1, .max_attempts = 3, .deadline_ms = T0 + 30000,
         .data_ready_at_ms = T0 - 60000, .ready_since_ms = T0, .score = 0.2},
        {.task_id = "t-d", .attempt = 1, .max_attempts = 3, .deadline_ms = BL_NO_TIME,
         .data_ready_at_ms = T0 - 6 * 3600000, .ready_since_ms = T0, .score = 0.0}, /* stale input */
};

static void sleep_ms(long ms) {
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
}

static bl_agent_outcome_t *consult(bl_agent_client_t *client, const bl_agent_policy_t *agent, const char *id) {
        char errstr[256];
        bl_agent_request_t request = {.domain = "evaluation", .consultation_id = id, .now_ms = T0,
                                      .candidates = candidates, .candidate_count = 4,
                                      .context = bl_agent_context_unknown()};
        CHECK_INT(bl_agent_client_consult(client, agent, &request, errstr, sizeof(errstr)), BL_OK);
        for (int i = 0; i < 3000; i++) {
                bl_agent_outcome_t *outcome = bl_agent_client_poll(client);
                if (outcome)
                        return outcome;
                sleep_ms(2);
        }
        return NULL;
}

/* Whether @p answer carries a part backlogd must refuse: a task not sent, or a hold past hold_max_ms. */
static bool has_bait(const bl_agent_answer_t *answer, int64_t hold_max_ms) {
        for (size_t i = 0; i < answer->order_count; i++)
                if (!strcmp(answer->order[i].task_id, "demo-never-sent"))
                        return true;
        for (size_t i = 0; i < answer->hold_count; i++)
                if (answer->holds[i].hold_ms > hold_max_ms)
                        return true;
        return false;
}

static void check_answer(const bl_agent_answer_t *answer, int64_t hold_max_ms) {
        CHECK_STR(answer->label, BL_DEMO_AGENT_LABEL);
        CHECK(answer->order_count >= 3);
        CHECK_STR(answer->order[0].task_id, "t-c"); /* the nearest deadline */
        CHECK_STR(answer->order[1].task_id, "t-b");
        CHECK_STR(answer->order[2].task_id, "t-a"); /* no deadline: by score */
        CHECK_INT(answer->hold_count, 1);
        CHECK_STR(answer->holds[0].task_id, "t-d"); /* stale input, held (or the bait's too long hold) */
        if (answer->holds[0].hold_ms <= hold_max_ms)
                CHECK_INT(answer->holds[0].hold_ms, 300);
        CHECK_INT(answer->escalation_count, 0);
}

/* The outcomes of CONSULTATIONS consultations of a demo agent of @p seed, by result; its stats. */
static void run(uint64_t seed, bl_agent_result_t results[CONSULTATIONS], bl_demo_agent_stats_t *stats) {
        char errstr[256], url[128];
        uint64_t by_result[BL_AGENT_RESULT__COUNT] = {0}, baits = 0;
        bl_demo_agent_t *demo = bl_demo_agent_start(seed, errstr, sizeof(errstr));
        bl_agent_client_t *client = bl_agent_client_new(0, errstr, sizeof(errstr));
        bl_agent_policy_t agent;
        CHECK(demo != NULL && client != NULL);
        bl_agent_policy_defaults(&agent);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/decide", bl_demo_agent_port(demo));
        agent.url = url;
        agent.pilot_share = 1;
        agent.timeout_ms = TIMEOUT_MS;
        agent.hold_max_ms = 2000;
        agent.deadline_margin_ms = 1000;
        for (int n = 0; n < CONSULTATIONS; n++) {
                char id[64];
                snprintf(id, sizeof(id), "backlogd-0-%d", n);
                bl_agent_outcome_t *outcome = consult(client, &agent, id);
                CHECK(outcome != NULL);
                if (!outcome)
                        continue;
                results[n] = outcome->result;
                by_result[outcome->result]++;
                if (outcome->result == BL_AGENT_ANSWERED) {
                        check_answer(&outcome->answer, agent.hold_max_ms);
                        baits += has_bait(&outcome->answer, agent.hold_max_ms);
                }
                bl_agent_outcome_destroy(outcome);
        }
        bl_agent_client_destroy(client);
        bl_demo_agent_stats(demo, stats);
        bl_demo_agent_stop(demo);
        CHECK_INT(stats->requests, CONSULTATIONS);
        CHECK_INT(by_result[BL_AGENT_INVALID], 0);
        CHECK_INT(by_result[BL_AGENT_HTTP_ERROR], stats->failed);
        CHECK_INT(by_result[BL_AGENT_MALFORMED], stats->garbage);
        CHECK_INT(by_result[BL_AGENT_TIMEOUT], stats->slow);
        CHECK_INT(by_result[BL_AGENT_ANSWERED], stats->answered);
        CHECK(baits > 0 && baits <= stats->baits); /* the late answers' baits are counted, never read */
        CHECK(by_result[BL_AGENT_ANSWERED] > CONSULTATIONS / 2);
        CHECK(stats->slow > 0 && stats->failed >= 6);
}

static void test_fates_and_answers(void) {
        bl_agent_result_t first[CONSULTATIONS], again[CONSULTATIONS];
        bl_demo_agent_stats_t stats, stats_again;
        run(7, first, &stats);
        /* the spell: with seed 7, consultations 6 to 11 fail in a row (and 103 to 108), enough to open a breaker */
        for (int n = 6; n < 12; n++)
                CHECK_INT(first[n], BL_AGENT_HTTP_ERROR);
        run(7, again, &stats_again);
        CHECK(!memcmp(first, again, sizeof(first)));
        CHECK_INT(stats_again.baits, stats.baits);
}

/* The steady mode of bench/agent.c: every consultation answered, after its delay, nothing to refuse. */
static void test_steady(void) {
        char errstr[256], url[128];
        bl_demo_agent_stats_t stats;
        bl_demo_agent_t *demo = bl_demo_agent_start_steady(5, errstr, sizeof(errstr));
        bl_agent_client_t *client = bl_agent_client_new(0, errstr, sizeof(errstr));
        bl_agent_policy_t agent;
        CHECK(demo != NULL && client != NULL);
        bl_agent_policy_defaults(&agent);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/decide", bl_demo_agent_port(demo));
        agent.url = url;
        agent.pilot_share = 1;
        agent.timeout_ms = TIMEOUT_MS;
        agent.hold_max_ms = 2000;
        agent.deadline_margin_ms = 1000;
        for (int n = 0; n < 20; n++) { /* the failing spell's numbers included */
                char id[64];
                snprintf(id, sizeof(id), "backlogd-0-%d", n);
                bl_agent_outcome_t *outcome = consult(client, &agent, id);
                CHECK(outcome != NULL);
                if (!outcome)
                        continue;
                CHECK_INT(outcome->result, BL_AGENT_ANSWERED);
                CHECK(outcome->latency_ms >= 5);
                if (outcome->result == BL_AGENT_ANSWERED) {
                        check_answer(&outcome->answer, agent.hold_max_ms);
                        CHECK(!has_bait(&outcome->answer, agent.hold_max_ms));
                }
                bl_agent_outcome_destroy(outcome);
        }
        bl_agent_client_destroy(client);
        bl_demo_agent_stats(demo, &stats);
        bl_demo_agent_stop(demo);
        CHECK_INT(stats.answered, 20);
        CHECK_INT(stats.failed + stats.slow + stats.garbage + stats.baits, 0);
}

int main(void) {
        RUN(test_fates_and_answers);
        RUN(test_steady);
        return check_exit_status();
}
