/*
 * bench/agent.c: a domain's dispatch rate when a decision agent governs its
 * tasks (SPEC §13), against the same domain without one, on a real broker,
 * in the same invocation.
 *
 * Each of R runs makes two passes, in alternating order (run 1: no agent
 * first; run 2: the agent first; ...) so that neither always meets a warmer
 * broker. A pass has topics of its own under <prefix>r<k>.<none|agent>., so
 * that `run` starts with an empty backlog.state and a fresh group:
 *   1. tasks.events is filled with N SUBMITTED events of domain evaluation
 *      (encoded as `backlogd produce` encodes them, keyed by task_id), each
 *      with a business value and, on 60 %, a deadline hours ahead;
 *   2. the pipeline runs in this process (bl_pipeline_run_with on a thread
 *      of its own) with a policy that bounds evaluation's lag at --max-lag
 *      (the domain is credit-bound, so that the order matters and each round
 *      leaves READY tasks to consult about) and, for the agent pass, names
 *      an agent on loopback for --pilot-share of the tasks: the demo's agent
 *      (src/demo/agent.c) in its steady mode, which answers every
 *      consultation after --agent-delay-ms with an order of the candidates;
 *   3. a worker thread in the domain's worker group reads dispatch.evaluation
 *      (read_committed) and commits its position every few milliseconds,
 *      which gives the domain its credit back;
 *   4. the pass ends when the worker has read N dispatches (or after a
 *      timeout, which fails the bench).
 * The rate is N - 1 over the time from the worker's first dispatch read to
 * its last: the domain's dispatch rate with its workers keeping up, start-up
 * left out. The pipeline's metrics (its registry is the bench's) say who
 * decided each dispatch (backlogd_pilot_wait_seconds by decided_by) and how
 * the consultations ended (backlogd_agent_consultations_total), to show the
 * agent's path was taken. Printed: each pass, the medians, the ratio of the
 * agent's median to none's, one JSON line. Performance is measured, not
 * asserted: the bench fails only when a pass does not complete. Topics are
 * deleted at the end unless --keep. Main thread, plus the pipeline's and
 * the worker's.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bench_kafka.h"
#include "base/log.h"
#include "contract/encode.h"
#include "contract/source.h"
#include "demo/agent.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "kafka/topics.h"
#include "ops/config.h"
#include "ops/metrics.h"
#include "pipeline/run.h"

#define DOMAIN "evaluation"
#define PASS_TIMEOUT_S 300
#define WORKER_COMMIT_MS 5
#define SCAN_TIMEOUT_MS 30000

static volatile sig_atomic_t interrupted;

static void on_signal(int signo) {
        (void)signo;
        interrupted = 1;
}

typedef struct extra_s {
        int agent_delay_ms;
        int64_t max_lag;
        double pilot_share;
        int timeout_ms;
        int max_candidates;
} extra_t;

static extra_t extra = {.agent_delay_ms = 5, .max_lag = 500, .pilot_share = 1.0, .timeout_ms = 100,
                        .max_candidates = 500};

static void usage(FILE *out) {
        fprintf(out,
                "Usage: bench_agent [--bootstrap HOST:PORT] [--tasks N] [--runs R] [--partitions P]\n"
                "                   [--agent-delay-ms MS] [--max-lag N] [--pilot-share S] [--timeout-ms MS]\n"
                "                   [--max-candidates N]\n"
                "                   [--payload-bytes B] [--topic-prefix P] [--keep]\n"
                "\n"
                "A domain's dispatch rate with a decision agent answering every consultation in\n"
                "--agent-delay-ms (default 5) against the same domain without an agent: R runs (default 3)\n"
                "of two passes each over N tasks (default 5000), `backlogd run` in this process on a\n"
                "real broker (default 127.0.0.1:19092), evaluation's lag bounded at --max-lag (default 500),\n"
                "the agent governing --pilot-share of the tasks (default 1.0) with timeout_ms --timeout-ms\n"
                "(default 100), sent up to --max-candidates a consultation (default 500). Prints each\n"
                "pass, the medians and their ratio. docs/performance.md.\n");
}

static int take_option(int val, const char *arg, void *opaque) {
        unsigned long long number;
        char *end;
        (void)opaque;
        switch (val) {
        case 256:
                if (!parse_count(arg, 0, 10000, &number))
                        break;
                extra.agent_delay_ms = (int)number;
                return 0;
        case 257:
                if (!parse_count(arg, 1, 1000000, &number))
                        break;
                extra.max_lag = (int64_t)number;
                return 0;
        case 258:
                extra.pilot_share = strtod(arg, &end);
                if (*end || end == arg || !(extra.pilot_share >= 0 && extra.pilot_share <= 1))
                        break;
                return 0;
        case 259:
                if (!parse_count(arg, 10, 60000, &number))
                        break;
                extra.timeout_ms = (int)number;
                return 0;
        case 260:
                if (!parse_count(arg, 1, 500, &number))
                        break;
                extra.max_candidates = (int)number;
                return 0;
        }
        fprintf(stderr, "bench_agent: bad value '%s' (see --help)\n", arg);
        return 2;
}

/* ---- a pass's config, topics and input ------------------------------------------------------------- */

typedef struct pass_s {
        bool with_agent;
        char prefix[200];
        char policy_path[300];
        bl_config_t *config;
        bl_topic_plan_t *plan;
        bool created;
        /* results */
        double rate;           /* dispatches/s */
        double seconds;        /* first to last dispatch read */
        uint64_t by_agent, by_policy, control, answered, other_outcomes;
} pass_t;

static void config_problem(const char *key, const char *reason, bool fatal, void *opaque) {
        (void)opaque;
        if (fatal)
                fprintf(stderr, "bench_agent: config %s: %s\n", key, reason);
}

/* The policy: evaluation bounded at max_lag, by business value; with @p agent_port, its agent. */
static bool write_policy(pass_t *pass, int agent_port) {
        FILE *file;
        char agent[512] = "";
        snprintf(pass->policy_path, sizeof(pass->policy_path), "%s/bench-agent-%d-%s.json",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), pass->with_agent ? "agent" : "none");
        if (pass->with_agent)
                snprintf(agent, sizeof(agent),
                         ", \"agent\": {\"url\": \"http://127.0.0.1:%d/decide\", \"pilot_share\": %g, "
                         "\"timeout_ms\": %d, \"max_candidates\": %d}",
                         agent_port, extra.pilot_share, extra.timeout_ms, extra.max_candidates);
        if (!(file = fopen(pass->policy_path, "w")))
                return false;
        fprintf(file,
                "{\"name\": \"bench\", \"version\": \"1\", \"weights\": {\"business_value\": 1.0},\n"
                " \"defaults\": {\"worker_group\": \"%s{domain}-workers\", \"max_lag\": 1000000, "
                "\"resume_lag\": 500000},\n"
                " \"domains\": {\"" DOMAIN "\": {\"max_lag\": %" PRId64 ", \"resume_lag\": %" PRId64 "%s}}}\n",
                pass->prefix, extra.max_lag, extra.max_lag / 2, agent);
        return fclose(file) == 0;
}

static bool pass_config(pass_t *pass, const bench_broker_options_t *o) {
        char settings[8][512];
        char *envp[10];
        size_t count = 0;
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=%s", o->bootstrap);
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_TOPICS_PREFIX=%s", pass->prefix);
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_TOPICS_PARTITIONS=%d", (int)o->partitions);
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_GROUP_ID=%sgroup", pass->prefix);
        if (*pass->policy_path)
                snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_POLICY_FILE=%s", pass->policy_path);
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_INSTANCE_ID=bench");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_HTTP_PORT=0");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_LOG_LEVEL=error");
        for (size_t i = 0; i < count; i++)
                envp[i] = settings[i];
        envp[count] = NULL;
        pass->config = bl_config_load(NULL, envp, config_problem, NULL);
        if (pass->config)
                bl_log_set_level((bl_log_level_t)pass->config->log_level);
        return pass->config != NULL;
}

static void create_result(const bl_topic_spec_t *spec, const char *error, void *opaque) {
        char *first = opaque;
        if (error && !*first)
                snprintf(first, 512, "%s: %s", spec->name, error);
}

static bool create_topics(pass_t *pass, char *errstr, size_t errstr_size) {
        char first[512] = "";
        bool *create;
        bl_admin_t *admin;
        if (!(pass->plan = bl_topic_plan_new(pass->config)) ||
            !(create = malloc(pass->plan->count * sizeof(*create)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return false;
        }
        for (size_t i = 0; i < pass->plan->count; i++)
                create[i] = true;
        if (!(admin = bl_admin_new(pass->config, errstr, errstr_size))) {
                free(create);
                return false;
        }
        pass->created = true;
        bl_err_t err = bl_admin_create_topics(admin, pass->plan, create, create_result, first, errstr, errstr_size);
        if (err && *first)
                snprintf(errstr, errstr_size, "%s", first);
        bl_admin_destroy(admin);
        free(create);
        return err == BL_OK;
}

static void delete_topics(pass_t *pass) {
        char errstr[512];
        rd_kafka_t *admin;
        rd_kafka_DeleteTopic_t **specs;
        if (!pass->created || !pass->plan || !(specs = calloc(pass->plan->count, sizeof(*specs))))
                return;
        if ((admin = bl_kafka_new(RD_KAFKA_PRODUCER, pass->config, NULL, errstr, sizeof(errstr)))) {
                for (size_t i = 0; i < pass->plan->count; i++)
                        specs[i] = rd_kafka_DeleteTopic_new(pass->plan->topics[i].name);
                rd_kafka_queue_t *queue = rd_kafka_queue_new(admin);
                rd_kafka_DeleteTopics(admin, specs, pass->plan->count, NULL, queue);
                rd_kafka_event_t *event = rd_kafka_queue_poll(queue, SCAN_TIMEOUT_MS);
                if (!event || rd_kafka_event_error(event))
                        fprintf(stderr, "bench_agent: deleting %s*: %s\n", pass->prefix,
                                event ? rd_kafka_event_error_string(event) : "no answer");
                if (event)
                        rd_kafka_event_destroy(event);
                rd_kafka_queue_destroy(queue);
                rd_kafka_DeleteTopic_destroy_array(specs, pass->plan->count);
                rd_kafka_destroy(admin);
        }
        free(specs);
}

static void pass_free(pass_t *pass) {
        bl_topic_plan_destroy(pass->plan);
        bl_config_destroy(pass->config);
        if (*pass->policy_path)
                remove(pass->policy_path);
        pass->plan = NULL;
        pass->config = NULL;
}

static int64_t wall_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* N SUBMITTED events of DOMAIN into tasks.events, as `backlogd produce` encodes them. */
static bool fill(const pass_t *pass, bl_schemas_t *schemas, const bench_broker_options_t *o, char *errstr,
                 size_t errstr_size) {
        const char *overrides[] = {"partitioner", "murmur2_random", "linger.ms", "20", NULL};
        char *topic = bl_config_topic_name(pass->config, "tasks.events"), subject[512], task_id[48], event_id[64];
        char *payload = malloc(o->payload_bytes + 1);
        bl_schema_t *schema = bl_schemas_version(schemas, "task_event", 0);
        rd_kafka_conf_t *conf = bl_kafka_conf_new(pass->config, overrides, errstr, errstr_size);
        rd_kafka_t *producer = NULL;
        int32_t schema_id;
        int64_t now = wall_ms();
        bool ok = false;
        if (!topic || !payload || !schema || !conf) {
                if (!*errstr)
                        snprintf(errstr, errstr_size, "out of memory, or no TaskEvent contract");
                goto done;
        }
        memset(payload, 'p', o->payload_bytes);
        payload[o->payload_bytes] = '\0';
        snprintf(subject, sizeof(subject), "%s-value", topic);
        if (bl_schemas_publish(schemas, schema, subject, &schema_id, errstr, errstr_size) ||
            !(producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)))
                goto done;
        conf = NULL;
        for (size_t i = 0; i < o->count && !interrupted; i++) {
                uint64_t r = splitmix64(i + 1);
                unsigned char *value = NULL;
                size_t size;
                snprintf(task_id, sizeof(task_id), "bench-%016" PRIx64, splitmix64(i ^ 0xA6E7));
                snprintf(event_id, sizeof(event_id), "ev-%016" PRIx64, r);
                json_t *event = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:f, s:f, s:s}", "event_id", event_id,
                                          "task_id", task_id, "event_type", "SUBMITTED", "occurred_at",
                                          (json_int_t)now, "producer", "bench_agent", "task_type", "offline_eval",
                                          "domain", DOMAIN, "business_value", (double)(r >> 11) / 9007199254740992.0,
                                          "risk", 0.1, "payload", payload);
                if (event && r % 10 < 6)
                        json_object_set_new(event, "deadline",
                                            json_integer((json_int_t)(now + 3600000 + (int64_t)(r % 7200000))));
                if (!event || bl_encode_json(schema, schema_id, event, &value, &size, errstr, errstr_size)) {
                        json_decref(event);
                        goto done;
                }
                while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(task_id, strlen(task_id)),
                                         RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(producer, 10);
                json_decref(event);
        }
        if (rd_kafka_flush(producer, SCAN_TIMEOUT_MS) || interrupted) {
                snprintf(errstr, errstr_size, interrupted ? "interrupted" : "events not delivered");
                goto done;
        }
        ok = true;
done:
        if (producer)
                rd_kafka_destroy(producer);
        if (conf)
                rd_kafka_conf_destroy(conf);
        free(payload);
        free(topic);
        return ok;
}

/* ---- the worker and the pipeline --------------------------------------------------------------------- */

typedef struct worker_s {
        rd_kafka_t *consumer;
        size_t expected;
        atomic_size_t seen;
        double first_s, last_s;
        atomic_bool stop;
        pthread_t thread;
} worker_t;

static void *worker_main(void *opaque) {
        worker_t *worker = opaque;
        double last_commit = now_s();
        while (!atomic_load(&worker->stop) && atomic_load(&worker->seen) < worker->expected) {
                rd_kafka_message_t *message = rd_kafka_consumer_poll(worker->consumer, 5);
                if (message && !message->err) {
                        double now = now_s();
                        if (atomic_load(&worker->seen) == 0)
                                worker->first_s = now;
                        worker->last_s = now;
                        atomic_fetch_add(&worker->seen, 1);
                }
                if (message)
                        rd_kafka_message_destroy(message);
                if (now_s() - last_commit >= WORKER_COMMIT_MS / 1000.0) {
                        rd_kafka_commit(worker->consumer, NULL, 1); /* the position: the domain's credit comes back */
                        last_commit = now_s();
                }
        }
        rd_kafka_commit(worker->consumer, NULL, 0);
        return NULL;
}

static bool worker_start(worker_t *worker, const pass_t *pass, size_t expected, char *errstr, size_t errstr_size) {
        char group[300];
        const char *overrides[] = {"group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", "false",
                                   "isolation.level", "read_committed", NULL};
        char *topic = bl_config_topic_name(pass->config, "dispatch." DOMAIN);
        snprintf(group, sizeof(group), "%s" DOMAIN "-workers", pass->prefix);
        rd_kafka_conf_t *conf = topic ? bl_kafka_conf_new(pass->config, overrides, errstr, errstr_size) : NULL;
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
        memset(worker, 0, sizeof(*worker));
        worker->expected = expected;
        if (conf && (worker->consumer = bl_kafka_new_from_conf(RD_KAFKA_CONSUMER, conf, errstr, errstr_size))) {
                rd_kafka_poll_set_consumer(worker->consumer);
                rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
                rd_kafka_subscribe(worker->consumer, topics);
        }
        rd_kafka_topic_partition_list_destroy(topics);
        free(topic);
        return worker->consumer && !pthread_create(&worker->thread, NULL, worker_main, worker);
}

static void worker_stop(worker_t *worker) {
        atomic_store(&worker->stop, true);
        pthread_join(worker->thread, NULL);
        rd_kafka_consumer_close(worker->consumer);
        rd_kafka_destroy(worker->consumer);
}

typedef struct pipeline_s {
        const bl_config_t *config;
        bl_pipeline_options_t options;
        volatile sig_atomic_t stop;
        int status;
        pthread_t thread;
} pipeline_t;

static void *pipeline_main(void *opaque) {
        pipeline_t *pipeline = opaque;
        pipeline->status = bl_pipeline_run_with(pipeline->config, &pipeline->options, &pipeline->stop, NULL);
        return NULL;
}

static uint64_t value_of1(bl_metric_t *metric, const char *a) {
        return (uint64_t)(bl_metric_value(bl_metrics_series(metric, DOMAIN, a)) + 0.5);
}

/* Who decided the pass's dispatches, and how its consultations ended, from the pipeline's metrics. */
static void read_metrics(pass_t *pass, const bl_metrics_backlogd_t *m) {
        pass->by_agent = value_of1(m->pilot_wait_seconds, BL_DEMO_AGENT_LABEL);
        pass->by_policy = value_of1(m->pilot_wait_seconds, "policy");
        pass->control = value_of1(m->pilot_wait_seconds, "control");
        pass->answered = value_of1(m->agent_consultations, "answered");
        for (const char *const *o = (const char *const[]){"timeout", "http_error", "malformed", "invalid",
                                                           "unreachable", "not_sent", NULL};
             *o; o++)
                pass->other_outcomes += value_of1(m->agent_consultations, *o);
}

/* One pass: topics, input, the pipeline and the worker until N dispatches are read. */
static bool run_pass(pass_t *pass, const bench_broker_options_t *o, bl_schemas_t *schemas, int agent_port,
                     char *errstr, size_t errstr_size) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metrics_backlogd_t metrics;
        pipeline_t pipeline = {0};
        worker_t worker;
        bool ok = false, worker_started = false;
        if (!registry || bl_metrics_register_backlogd(registry, &metrics, errstr, errstr_size) ||
            !write_policy(pass, agent_port) || !pass_config(pass, o) || !create_topics(pass, errstr, errstr_size) ||
            !fill(pass, schemas, o, errstr, errstr_size))
                goto done;
        if (!(worker_started = worker_start(&worker, pass, o->count, errstr, errstr_size)))
                goto done;
        pipeline.config = pass->config;
        pipeline.options.registry = registry;
        pipeline.options.metrics = &metrics;
        if (pthread_create(&pipeline.thread, NULL, pipeline_main, &pipeline)) {
                snprintf(errstr, errstr_size, "cannot start the pipeline's thread");
                goto done;
        }
        double give_up = now_s() + PASS_TIMEOUT_S;
        while (atomic_load(&worker.seen) < o->count && !interrupted && now_s() < give_up)
                usleep(10000);
        pipeline.stop = 1;
        pthread_join(pipeline.thread, NULL);
        if (atomic_load(&worker.seen) < o->count) {
                snprintf(errstr, errstr_size, "%zu of %zu dispatches read in %d s", atomic_load(&worker.seen),
                         o->count, PASS_TIMEOUT_S);
                goto done;
        }
        pass->seconds = worker.last_s - worker.first_s;
        pass->rate = pass->seconds > 0 ? (double)(o->count - 1) / pass->seconds : 0;
        read_metrics(pass, &metrics);
        ok = pipeline.status == 0;
        if (!ok)
                snprintf(errstr, errstr_size, "the pipeline stopped with status %d", pipeline.status);
done:
        if (worker_started)
                worker_stop(&worker);
        bl_metrics_destroy(registry);
        return ok;
}

static void print_pass(int run, const pass_t *pass) {
        printf("run %d  %-5s  %9.1f dispatches/s  (%6.2f s)  decided by agent %6" PRIu64 ", policy %6" PRIu64
               ", control %6" PRIu64 ";  consultations answered %5" PRIu64 ", other %4" PRIu64 "\n",
               run, pass->with_agent ? "agent" : "none", pass->rate, pass->seconds, pass->by_agent, pass->by_policy,
               pass->control, pass->answered, pass->other_outcomes);
        fflush(stdout);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"agent-delay-ms", required_argument, NULL, 256}, {"max-lag", required_argument, NULL, 257},
                {"pilot-share", required_argument, NULL, 258},    {"timeout-ms", required_argument, NULL, 259},
                {"max-candidates", required_argument, NULL, 260}, {NULL, 0, NULL, 0}};
        bench_broker_defaults_t defaults = {"bench_agent", "tasks", 5000, "bench-agent-", usage, options,
                                            take_option, NULL};
        bench_broker_options_t o;
        double rates[2][BENCH_MAX_RUNS];
        char errstr[512] = "";
        bl_contract_source_t contracts = {0};
        bl_demo_agent_t *agent = NULL;
        pass_t probe = {0};
        int status = bench_parse_broker_options(argc, argv, &defaults, &o);
        if (status)
                return status < 0 ? 0 : status;
        o.partitions = o.partitions == 6 ? 3 : o.partitions;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        snprintf(probe.prefix, sizeof(probe.prefix), "%sprobe.", o.topic_prefix);
        if (!pass_config(&probe, &o) || !bl_contract_source_open(&contracts, probe.config, errstr, sizeof(errstr)) ||
            !(agent = bl_demo_agent_start_steady(extra.agent_delay_ms, errstr, sizeof(errstr)))) {
                fprintf(stderr, "bench_agent: %s\n", *errstr ? errstr : "config refused");
                status = 1;
                goto done;
        }
        printf("bench_agent: %zu tasks of %s a pass, %d partitions, max_lag %" PRId64 ", agent answering in %d ms "
               "for %.0f %% of the tasks (timeout_ms %d, max_candidates %d), %d runs, broker %s\n",
               o.count, DOMAIN, (int)o.partitions, extra.max_lag, extra.agent_delay_ms, 100 * extra.pilot_share,
               extra.timeout_ms, extra.max_candidates, o.runs, o.bootstrap);
        for (int r = 0; r < o.runs && !status; r++) {
                for (int i = 0; i < 2 && !status; i++) {
                        pass_t pass = {.with_agent = (r + i) % 2 == 1};
                        snprintf(pass.prefix, sizeof(pass.prefix), "%sr%d.%s.", o.topic_prefix, r + 1,
                                 pass.with_agent ? "agent" : "none");
                        if (!run_pass(&pass, &o, contracts.schemas, bl_demo_agent_port(agent), errstr,
                                      sizeof(errstr))) {
                                fprintf(stderr, "bench_agent: run %d, %s: %s\n", r + 1,
                                        pass.with_agent ? "agent" : "none", errstr);
                                status = 1;
                        } else {
                                rates[pass.with_agent][r] = pass.rate;
                                print_pass(r + 1, &pass);
                        }
                        if (!o.keep)
                                delete_topics(&pass);
                        pass_free(&pass);
                }
        }
        if (!status) {
                double none = median(rates[0], o.runs), with_agent = median(rates[1], o.runs);
                printf("median: none %.1f dispatches/s, agent %.1f dispatches/s: the agent's rate is %.1f %% of none's\n",
                       none, with_agent, none > 0 ? 100 * with_agent / none : 0);
                printf("{\"bench\": \"agent\", \"tasks\": %zu, \"runs\": %d, \"max_lag\": %" PRId64
                       ", \"agent_delay_ms\": %d, \"pilot_share\": %g, \"none_per_s\": %.1f, \"agent_per_s\": %.1f, "
                       "\"ratio\": %.4f}\n",
                       o.count, o.runs, extra.max_lag, extra.agent_delay_ms, extra.pilot_share, none, with_agent,
                       none > 0 ? with_agent / none : 0);
        }
done:
        bl_demo_agent_stop(agent);
        bl_contract_source_close(&contracts);
        pass_free(&probe);
        return status;
}
