/*
 * test_commit_overlap.c: the pipeline's overlapped commits (src/pipeline/txn.c,
 * commit.c) with a fault injected, on librdkafka's mock cluster in this process.
 *
 * The demo's synthetic producers feed tasks.events while `run` works. The
 * mock's broker answers one AddOffsetsToTxn after a second with an error that
 * makes the transaction abortable, so that commit fails on the committer's
 * thread while the loop holds the next batch's records. Shown: the abort
 * drops what was held, the run rewinds, restores and goes on committing, and
 * every task submitted is in backlog.state at the end, held or not.
 *
 * The mock ignores transactions (PITFALLS.md): aborted records stay visible
 * and offsets sent in a transaction are not committed, so exactly-once is not
 * what this shows; test_backlog.py does that against a real broker. What this
 * adds is the failed commit with records held behind it, which a real broker
 * does not produce on demand, under ASan and UBSan with the unit tests.
 *
 * The second test makes the producer fatal mid-run (rd_kafka_test_fatal_error,
 * as a fencing after a broker stall does, which a real broker produces only
 * by timing): the run makes a new producer, restores and goes on committing,
 * and exits 0; nothing submitted is missing from backlog.state.
 *
 * The fourth makes the abort hang: the coordinator answers the first EndTxn only after 30 s, as a
 * real one did after an outage (its request queued for minutes in librdkafka). The run does not wait
 * that out: past transaction.timeout_ms it makes a new producer, restores and goes on, and exits 0.
 *
 * The third runs with producer.linger_ms set: the producer lingers that long,
 * and the run reports how long its batches kept their first record waiting
 * (at least commit.interval_ms, and not the whole run).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"
#include "demo/mock.h"
#include "demo/traffic.h"
#include "kafka/reader.h"
#include "ops/config.h"
#include "base/log.h"
#include "pipeline/run.h"

#define FAILING_RTT_MS         1000
#define API_ADD_OFFSETS_TO_TXN 25 /* the Kafka protocol's ApiKeys; librdkafka (2.12.0 too) exports no names for them */
#define API_END_TXN            26
#define DRAIN_TIMEOUT_S        30    /* for the tasks submitted to reach backlog.state once the traffic stops */
#define HUNG_ABORT_RTT_MS      30000 /* far past the bound on an abort: transaction.timeout_ms, 3 s here */

typedef struct pipeline_thread_s {
        const bl_config_t *config;
        bl_pipeline_options_t options;
        bl_pipeline_report_t report;
        volatile sig_atomic_t stop;
        int status;
} pipeline_thread_t;

static void *run_pipeline(void *opaque) {
        pipeline_thread_t *pipeline = opaque;
        pipeline->status = bl_pipeline_run_with(pipeline->config, &pipeline->options, &pipeline->stop, NULL);
        return NULL;
}

static void print_problem(const char *key, const char *reason, bool fatal, void *opaque) {
        (void)opaque;
        fprintf(stderr, "config %s: %s: %s\n", fatal ? "error" : "warning", key, reason);
}

static bl_config_t *mock_config_with(bl_mock_t *mock, const char *extra) {
        char bootstrap[256], schemas[1024];
        const char *source_schemas = getenv("BACKLOGD_SCHEMAS_DIR");
        snprintf(bootstrap, sizeof(bootstrap), "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=%s", bl_mock_bootstraps(mock));
        snprintf(schemas, sizeof(schemas), "BACKLOGD_SCHEMAS_DIR=%s", source_schemas ? source_schemas : "schemas");
        char *envp[] = {bootstrap,
                        schemas,
                        "BACKLOGD_KAFKA_SESSION_TIMEOUT_MS=4000", /* the mock's rebalances: see cmd/demo.c */
                        "BACKLOGD_KAFKA_HEARTBEAT_INTERVAL_MS=1000",
                        "BACKLOGD_TOPICS_PARTITIONS=3",
                        "BACKLOGD_GROUP_ID=overlap-test",
                        "BACKLOGD_INSTANCE_ID=overlap-test",
                        "BACKLOGD_HTTP_PORT=0",
                        (char *)extra,
                        NULL};
        return bl_config_load(NULL, envp, print_problem, NULL);
}

/* ---- backlog.state read back: the distinct task_ids it holds -------------------------- */

typedef struct keys_s {
        char **items;
        size_t count, capacity;
} keys_t;

static bool collect_key(const rd_kafka_message_t *message, void *opaque) {
        keys_t *keys = opaque;
        if (keys->count == keys->capacity) {
                size_t capacity = keys->capacity ? keys->capacity * 2 : 1024;
                char **grown = realloc(keys->items, capacity * sizeof(*grown));
                if (!grown)
                        return false; /* the count then falls short, and the check says so */
                keys->items = grown;
                keys->capacity = capacity;
        }
        keys->items[keys->count] = strndup(message->key, message->key_len);
        return keys->items[keys->count++] != NULL;
}

static int compare_keys(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t distinct_keys(keys_t *keys) {
        size_t distinct = 0;
        qsort(keys->items, keys->count, sizeof(*keys->items), compare_keys);
        for (size_t i = 0; i < keys->count; i++)
                distinct += i == 0 || strcmp(keys->items[i], keys->items[i - 1]) != 0;
        return distinct;
}

static size_t tasks_in_state(const bl_config_t *config) {
        char errstr[512], *topic = bl_config_topic_name(config, "backlog.state");
        keys_t keys = {0};
        bl_reader_t *reader = bl_reader_new(config, errstr, sizeof(errstr));
        CHECK(reader != NULL);
        if (reader)
                CHECK_INT(bl_reader_scan(reader, topic, NULL, 0, collect_key, &keys, 10000, errstr, sizeof(errstr)),
                          BL_OK);
        size_t distinct = distinct_keys(&keys);
        for (size_t i = 0; i < keys.count; i++)
                free(keys.items[i]);
        free(keys.items);
        bl_reader_destroy(reader);
        free(topic);
        return distinct;
}

/*
 * Waits until backlog.state holds @p expected tasks or @p timeout_s has passed: how long the rest takes to
 * be taken in and committed depends on the machine (under ASan on a loaded one, more than a few seconds).
 */
static void wait_for_state(const bl_config_t *config, uint64_t expected, int timeout_s) {
        for (int waited = 0; waited < timeout_s; waited++) {
                sleep(1);
                if (tasks_in_state(config) >= expected)
                        return;
        }
}

/* The N of the first "batch aborted (why), with N records held" in @p log; -1 when there is none. */
static long held_at_first_abort(const char *log) {
        const char *at = strstr(log, "batch aborted (");
        at = at ? strstr(at, "), with ") : NULL;
        return at ? strtol(at + strlen("), with "), NULL, 10) : -1;
}

/*
 * One test's world: a mock cluster with the plan's topics, a config over it, the pipeline on a thread of
 * its own and the demo's traffic feeding tasks.events. fixture_open sets it up (false: the set-up failed,
 * and said why); the test sets the pipeline's options, then fixture_start, fixture_stop_traffic,
 * fixture_stop and fixture_close in turn.
 */
typedef struct fixture_s {
        bl_mock_t *mock;
        bl_config_t *config;
        pipeline_thread_t pipeline;
        pthread_t thread;
        bool started;
        bl_traffic_t *traffic;
        bl_traffic_stats_t traffic_stats;
} fixture_t;

static bool fixture_open(fixture_t *fixture, const char *extra_env) {
        char errstr[512] = "";
        memset(fixture, 0, sizeof(*fixture));
        fixture->mock = bl_mock_new(1, errstr, sizeof(errstr));
        fixture->config = fixture->mock ? mock_config_with(fixture->mock, extra_env) : NULL;
        fixture->pipeline.config = fixture->config;
        CHECK(fixture->mock && fixture->config);
        if (!fixture->mock || !fixture->config ||
            bl_mock_create_topics(fixture->mock, fixture->config, errstr, sizeof(errstr))) {
                fprintf(stderr, "set-up: %s\n", errstr);
                return false;
        }
        bl_log_set_level(BL_LOG_WARN);
        fixture->pipeline.options.skip_topic_check = true; /* the mock has no DescribeConfigs; the topics are the plan's */
        fixture->pipeline.options.report = &fixture->pipeline.report;
        return true;
}

/* The pipeline starts, and the traffic with @p seed (1,500 tasks/s for at most 3 s). */
static void fixture_start(fixture_t *fixture, uint64_t seed) {
        char errstr[512];
        fixture->started = pthread_create(&fixture->thread, NULL, run_pipeline, &fixture->pipeline) == 0;
        CHECK(fixture->started);
        fixture->traffic = bl_traffic_start(fixture->config, seed, 1500, 3000, errstr, sizeof(errstr));
        CHECK(fixture->traffic != NULL);
}

static void fixture_stop_traffic(fixture_t *fixture) {
        if (!fixture->traffic)
                return;
        bl_traffic_stop(fixture->traffic);
        bl_traffic_stats(fixture->traffic, &fixture->traffic_stats);
}

static void fixture_stop(fixture_t *fixture) {
        fixture->pipeline.stop = 1;
        if (fixture->started)
                pthread_join(fixture->thread, NULL);
        fixture->started = false;
        bl_traffic_destroy(fixture->traffic);
        fixture->traffic = NULL;
}

static void fixture_close(fixture_t *fixture) {
        fixture_stop(fixture);
        bl_log_set_level(BL_LOG_INFO);
        bl_config_destroy(fixture->config);
        bl_mock_destroy(fixture->mock);
}

/* The mock's broker answers the next AddOffsetsToTxn after a second with an error that makes the commit abortable
 * (librdkafka's txnmgr). */
static void refuse_the_next_offsets(fixture_t *fixture) {
        CHECK_INT(rd_kafka_mock_broker_push_request_error_rtts(bl_mock_cluster(fixture->mock), 1,
                                                               API_ADD_OFFSETS_TO_TXN, 1,
                                                               RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
                                                               FAILING_RTT_MS),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void test_a_failed_commit_drops_the_held_batch_and_the_run_goes_on(void) {
        char *log = NULL;
        size_t log_size = 0;
        FILE *log_stream = open_memstream(&log, &log_size);
        fixture_t fixture;
        CHECK(log_stream != NULL);
        if (!fixture_open(&fixture, NULL) || !log_stream)
                goto done;
        bl_log_set_output(log_stream);
        refuse_the_next_offsets(&fixture);
        fixture_start(&fixture, 7);
        sleep(4); /* the group's first join on the mock takes about 3 s; the traffic runs meanwhile */
        fixture_stop_traffic(&fixture);
        wait_for_state(fixture.config, fixture.traffic_stats.submitted, DRAIN_TIMEOUT_S); /* the rest committed */
        fixture_stop(&fixture);
        fflush(log_stream);
        bl_log_set_output(NULL);

        const bl_pipeline_report_t *report = &fixture.pipeline.report;
        size_t in_state = tasks_in_state(fixture.config);
        fprintf(stderr,
                "commit_overlap: %llu aborted, %llu committed, %ld records held at the first abort, "
                "%zu of %llu tasks in backlog.state\n",
                (unsigned long long)report->aborts, (unsigned long long)report->transactions,
                held_at_first_abort(log), in_state, (unsigned long long)fixture.traffic_stats.submitted);
        CHECK_INT(fixture.pipeline.status, 0);
        CHECK(report->aborts >= 1);
        CHECK(report->transactions >= 2);    /* it went on committing after the abort */
        CHECK(held_at_first_abort(log) > 0); /* the failed commit had the next batch held behind it */
        CHECK(fixture.traffic_stats.submitted > 1000);
        CHECK_INT(in_state, fixture.traffic_stats.submitted); /* the dropped held batch ran again */
        if (check_failures)
                fprintf(stderr, "the pipeline's log:\n%s\n", log ? log : "");
done:
        bl_log_set_output(NULL);
        fixture_close(&fixture);
        if (log_stream)
                fclose(log_stream);
        free(log);
}

/* The first producer the pipeline makes, for the test thread to make fatal once. */
typedef struct producers_s {
        _Atomic(rd_kafka_t *) first;
        atomic_int made;
} producers_t;

static void producer_ready(rd_kafka_t *producer, void *opaque) {
        producers_t *producers = opaque;
        rd_kafka_t *none = NULL;
        atomic_compare_exchange_strong(&producers->first, &none, producer);
        atomic_fetch_add(&producers->made, 1);
}

static void count_producers(fixture_t *fixture, producers_t *producers) {
        *producers = (producers_t){NULL, 0};
        fixture->pipeline.options.producer_ready = producer_ready;
        fixture->pipeline.options.producer_ready_opaque = producers;
}

/* What a test of a new producer prints and checks once the run is over. */
static void check_renewed_once(const char *what, fixture_t *fixture, producers_t *producers, const char *more) {
        const bl_pipeline_report_t *report = &fixture->pipeline.report;
        size_t in_state = tasks_in_state(fixture->config);
        fprintf(stderr, "%s: %llu renewals, %d producers, %llu aborts, %llu committed, %zu of %llu tasks in state%s\n",
                what, (unsigned long long)report->producer_renewals, atomic_load(&producers->made),
                (unsigned long long)report->aborts, (unsigned long long)report->transactions, in_state,
                (unsigned long long)fixture->traffic_stats.submitted, more);
        CHECK_INT(fixture->pipeline.status, 0); /* not the instance's end */
        CHECK_INT(report->producer_renewals, 1);
        CHECK_INT(atomic_load(&producers->made), 2);
        CHECK(report->transactions >= 2);
        CHECK(fixture->traffic_stats.submitted > 1000);
        CHECK_INT(in_state, fixture->traffic_stats.submitted);
}

static void test_a_fatal_producer_is_made_anew_and_the_run_goes_on(void) {
        fixture_t fixture;
        producers_t producers;
        if (!fixture_open(&fixture, NULL))
                goto done;
        count_producers(&fixture, &producers);
        fixture_start(&fixture, 11);
        sleep(4); /* joined, and committing */
        rd_kafka_t *first = atomic_load(&producers.first);
        CHECK(first != NULL);
        if (first) /* still the pipeline's: it is replaced only once it is fatal */
                CHECK_INT(rd_kafka_test_fatal_error(first, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, "injected by the test"),
                          RD_KAFKA_RESP_ERR_NO_ERROR);
        sleep(2);
        fixture_stop_traffic(&fixture);
        wait_for_state(fixture.config, fixture.traffic_stats.submitted, DRAIN_TIMEOUT_S);
        fixture_stop(&fixture);
        check_renewed_once("fatal producer", &fixture, &producers, "");
done:
        fixture_close(&fixture);
}

/* The linger.ms the pipeline's producer was made with. */
static void note_linger(rd_kafka_t *producer, void *opaque) {
        char *linger = opaque;
        size_t size = 32;
        if (rd_kafka_conf_get(rd_kafka_conf(producer), "linger.ms", linger, &size) != RD_KAFKA_CONF_OK)
                snprintf(linger, 32, "unknown");
}

static void test_the_producer_lingers_as_configured_and_batch_ages_are_reported(void) {
        char linger[32] = "";
        fixture_t fixture;
        if (!fixture_open(&fixture, "BACKLOGD_PRODUCER_LINGER_MS=40"))
                goto done;
        fixture.pipeline.options.producer_ready = note_linger;
        fixture.pipeline.options.producer_ready_opaque = linger;
        fixture_start(&fixture, 13);
        sleep(5); /* joined, and committing */
        fixture_stop_traffic(&fixture);
        sleep(1);
        fixture_stop(&fixture);
        const bl_pipeline_report_t *report = &fixture.pipeline.report;
        fprintf(stderr, "linger: %s ms, %llu committed, batches at most %.3f s old\n", linger,
                (unsigned long long)report->transactions, report->batch_age_max_seconds);
        CHECK_INT(fixture.pipeline.status, 0);
        CHECK_STR(linger, "40");
        CHECK(report->transactions >= 2);
        CHECK(report->batch_age_max_seconds >= (double)fixture.config->commit_interval_ms / 1000.0);
        CHECK(report->batch_age_max_seconds < 5.0); /* not the age of the run */
done:
        fixture_close(&fixture);
}

static void test_an_abort_that_hangs_is_given_up_for_a_new_producer(void) {
        char more[64];
        fixture_t fixture;
        producers_t producers;
        if (!fixture_open(&fixture, "BACKLOGD_TRANSACTION_TIMEOUT_MS=3000"))
                goto done;
        /* The first commit fails (abortable), and the abort's EndTxn is answered only after 30 s. */
        refuse_the_next_offsets(&fixture);
        CHECK_INT(rd_kafka_mock_broker_push_request_error_rtts(bl_mock_cluster(fixture.mock), 1, API_END_TXN, 1,
                                                               RD_KAFKA_RESP_ERR_NO_ERROR, HUNG_ABORT_RTT_MS),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
        count_producers(&fixture, &producers);
        int64_t started_ms = bl_clock_monotonic_ms();
        fixture_start(&fixture, 13);
        sleep(4);
        fixture_stop_traffic(&fixture);
        while (atomic_load(&producers.made) < 2 && bl_clock_monotonic_ms() - started_ms < HUNG_ABORT_RTT_MS)
                usleep(100 * 1000);
        int64_t took_ms = bl_clock_monotonic_ms() - started_ms; /* to the new producer */
        wait_for_state(fixture.config, fixture.traffic_stats.submitted, DRAIN_TIMEOUT_S); /* the rest committed */
        fixture_stop(&fixture);
        snprintf(more, sizeof(more), ", a new producer after %lld ms", (long long)took_ms);
        check_renewed_once("hung abort", &fixture, &producers, more);
        CHECK(took_ms < HUNG_ABORT_RTT_MS); /* the hung EndTxn was not waited out */
done:
        fixture_close(&fixture);
}

int main(void) {
        RUN(test_a_failed_commit_drops_the_held_batch_and_the_run_goes_on);
        RUN(test_a_fatal_producer_is_made_anew_and_the_run_goes_on);
        RUN(test_the_producer_lingers_as_configured_and_batch_ages_are_reported);
        RUN(test_an_abort_that_hangs_is_given_up_for_a_new_producer);
        return check_exit_status();
}
