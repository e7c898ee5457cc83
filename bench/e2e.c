/*
 * bench/e2e.c: events per second through the whole pipeline on a real
 * broker (consume, decode and validate, the state machine, dispatch, the
 * transactional commit of outputs and input offsets), against plain
 * librdkafka consume-transform-produce loops that write as much or one
 * record per event, and against a Kafka Streams application doing the same
 * work; and, optionally, the decision latency under an open-loop load.
 *
 * Calibration first: a small pass of `backlogd run` over C events, whose
 * outputs are read back to count the records and bytes it writes per
 * SUBMITTED event, by topic (backlog.transitions, backlog.state,
 * dispatch.<domain>). The baseline writes that many records of those sizes.
 *
 * Each of R runs uses topics of its own (so that `run` starts with an empty
 * backlog.state and a fresh group): the topics of SPEC §1 for backlogd under
 * <prefix>r<k>., and the same set under <prefix>r<k>.base. for the
 * baseline's outputs. tasks.events is filled with N SUBMITTED events,
 * encoded as `backlogd produce` encodes them (bl_encode_json, the newest
 * TaskEvent, keyed by task_id on its murmur2 partition), then:
 *   (a) baseline: a consumer with run's settings (group, range assignor,
 *       read_committed, queued.min.messages=1000000, ...) and a
 *       transactional producer with run's settings; for each event it
 *       writes the calibrated records (key: the task_id; transitions and
 *       snapshots on the event's partition, the dispatch on the key's), and
 *       every commit.interval_ms it sends the consumed offsets with
 *       send_offsets_to_transaction and commits. Nothing is decoded.
 *   (b) `backlogd run` in-process: bl_pipeline_run on the main thread,
 *       with the config a deployment would have (no policy: FIFO, no lag
 *       bound), stopped once the group's committed offsets on tasks.events
 *       reach the end (watched every WATCH_INTERVAL_US by rd_kafka_committed).
 * Both are timed from before their first Kafka handle to the commit that
 * covers the last event, so start-up (init_transactions, the group join,
 * run's topic check and restore) is in both; the time to the first commit
 * is printed apart. Afterwards the outputs of both are read back
 * (read_committed) and must hold exactly the calibrated record counts.
 * Beside them, in the same run and on the same events:
 *   (a1) the same loop writing ONE record per event (of a dispatch's calibrated size, to
 *       dispatch.<domain>): the limit of an exactly-once dispatcher.
 *   (c) `backlogd run` as a child process (build/backlogd, --backlogd-path) with the same config in its
 *       environment, over a tasks.events of its own (filled the same way), timed as (b); its VmHWM and
 *       its CPU time (/proc/<pid>/status and stat) are read when its commits reach the end, and it is
 *       stopped with SIGTERM. --backlogd picks (b), (c) or both.
 *   (d) the Kafka Streams peer (bench/peers/kstreams, built into the cache by its build.sh before
 *       anything is timed), a JVM started by `build.sh run` over (a)'s input, mirroring the calibrated
 *       counts; timed the same way on its application.id's commits, VmHWM and CPU as for (c). On by
 *       default when java, javac and mvn are on PATH; --no-peer leaves it out.
 * Each contender's outputs are read back and must hold the expected records (the peer's snapshots are
 * its store's changelog).
 *
 * Printed per run and contender: events/s, the same from the first commit on, the time to the first
 * commit, the CPU per event (the loop's thread for (a), (a1) and (b); the whole process for (c) and (d)),
 * the peak RSS of a process and the MB written; then the medians, backlogd's ratios to the others, and
 * one JSON line. With --latency S, a last phase measures decision latency: `backlogd run` as a child over
 * topics of its own, an open-loop producer at half of backlogd's median steady events/s (or
 * --latency-rate) for S seconds, each event stamped with its due time, and a read_committed consumer of
 * every dispatch topic noting when each event's dispatch arrives: p50, p90, p99, p99.9 and max; and
 * backlogd's part, read from the child's /metrics at the end (an HTTP port of its own): its batches' age
 * from the first record to the commit's end and its commit times, p50 and p99 as bucket bounds.
 * Performance is measured, not asserted:
 * the bench fails only on wrong data. Topics are deleted at the end unless
 * --keep, also after a failure or ^C. The main thread drives everything and
 * runs the loops; a watcher thread stops (b) at the end.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH and FTW_PHYS */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_kafka.h"
#include "contract/encode.h"
#include "contract/source.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "kafka/consumer.h"
#include "kafka/reader.h"
#include "kafka/topics.h"
#include "ops/config.h"
#include "base/log.h"
#include "pipeline/run.h"

#define CALIBRATION_EVENTS    2000
#define WATCH_INTERVAL_US     10000
#define NO_PROGRESS_TIMEOUT_S 60.0
#define SCAN_TIMEOUT_MS       30000
#define PROBE_TIMEOUT_MS      10000
#define COMMITTED_TIMEOUT_MS  5000
#define TXN_TIMEOUT_MS        60000
#define CHILD_STOP_TIMEOUT_S  60.0
#define LATENCY_WARMUP_EVENTS 200
#define LATENCY_DRAIN_S       30.0
#define LATENCY_TARGET_MS     250.0 /* issue 18: p99 at most 250 ms with commit.interval_ms 100 */

/* What backlogd writes per event: records and value bytes, by kind. */
enum { KIND_TRANSITIONS, KIND_STATE, KIND_DISPATCH, KINDS };
static const char *const kind_names[KINDS] = {"backlog.transitions", "backlog.state", "dispatch.*"};

static volatile sig_atomic_t interrupted;

static void on_signal(int signo) {
        (void)signo;
        interrupted = 1;
}

/* ---- options ------------------------------------------------------------------ */

typedef bench_broker_options_t options_t;

/* How backlogd is run: in this process (as before), as a `backlogd run` child (RSS), or both. */
enum { BACKLOGD_INPROCESS = 1, BACKLOGD_PROCESS = 2, BACKLOGD_BOTH = 3 };
enum { OPT_PEER = 256, OPT_NO_PEER, OPT_BACKLOGD, OPT_BACKLOGD_PATH, OPT_PEER_SCRIPT, OPT_PEER_THREADS, OPT_LATENCY,
       OPT_LATENCY_RATE };

/* bench_e2e's own options, beside the common ones of bench_kafka.h. */
static struct {
        int peer; /* 1 on, 0 off, -1: on when the peer's build script finds Java and Maven */
        int backlogd;
        const char *backlogd_path;
        const char *peer_script;
        int peer_threads;
        double latency_seconds; /* 0: no latency phase */
        double latency_rate;    /* 0: half of backlogd's steady events/s measured in the runs */
} extra = {-1, BACKLOGD_BOTH, BENCH_BACKLOGD_PATH, BENCH_PEER_SCRIPT, 1, 0, 0};

static void usage(FILE *out) {
        fprintf(out, "Usage: bench_e2e [options]\n"
                     "\n"
                     "Fills tasks.events on a Kafka broker with SUBMITTED events and measures how fast\n"
                     "`backlogd run` takes them through the whole pipeline, against two plain transactional\n"
                     "consume-and-produce loops (one writes as many records and bytes as backlogd, one writes\n"
                     "one record per event: the limit of an exactly-once dispatcher) and a Kafka Streams\n"
                     "application doing backlogd's work (bench/peers/kstreams).\n"
                     "Start the test broker first: scripts/testenv.sh start kafka\n"
                     "\n"
                     "Options:\n"
                     "      --bootstrap HOST:PORT  broker (default 127.0.0.1:19092)\n"
                     "      --events N             SUBMITTED events per run (default 200000)\n"
                     "      --partitions P         partitions of every topic (default 6)\n"
                     "      --payload-bytes B      payload per event (default 200)\n"
                     "      --runs R               measured runs, each contender once per run (default 3)\n"
                     "      --keep                 leave the topics on the broker\n"
                     "      --topic-prefix PREFIX  (default bench-e2e-<pid>-)\n"
                     "      --backlogd MODE        inprocess: bl_pipeline_run in this process (its loop's CPU);\n"
                     "                             process: `backlogd run` as a child (its peak RSS and CPU);\n"
                     "                             both (default)\n"
                     "      --backlogd-path PATH   the backlogd executable (default %s)\n"
                     "      --peer                 run the Kafka Streams peer (default: when Java and Maven are\n"
                     "                             on PATH); --no-peer: do not\n"
                     "      --peer-script PATH     its build script (default %s)\n"
                     "      --peer-threads N       its num.stream.threads (default 1)\n"
                     "      --latency SECONDS      after the runs, decision latency: `backlogd run` as a child,\n"
                     "                             an open loop of events for SECONDS at half of backlogd's\n"
                     "                             steady events/s of the runs; p50, p99 and max from each\n"
                     "                             event's timestamp to its dispatch reaching a read_committed\n"
                     "                             consumer (default 0: none)\n"
                     "      --latency-rate R       events/s of that loop instead (R/2 is not taken: R is the rate)\n"
                     "  -h, --help                 this help\n"
                     "\n"
                     "BACKLOGD_COMMIT_INTERVAL_MS (every contender) and BACKLOGD_COMMIT_HOLD_MAX_BYTES\n"
                     "(backlogd; 0: every commit waited for) are taken from the environment;\n"
                     "BACKLOGD_PEER_JAVA_OPTS is the peer's JVM options (build.sh says the default).\n",
                BENCH_BACKLOGD_PATH, BENCH_PEER_SCRIPT);
}

static int take_option(int val, const char *arg, void *opaque) {
        unsigned long long number;
        (void)opaque;
        switch (val) {
        case OPT_PEER: extra.peer = 1; return 0;
        case OPT_NO_PEER: extra.peer = 0; return 0;
        case OPT_BACKLOGD:
                extra.backlogd = !strcmp(arg, "inprocess") ? BACKLOGD_INPROCESS
                                 : !strcmp(arg, "process") ? BACKLOGD_PROCESS
                                 : !strcmp(arg, "both")    ? BACKLOGD_BOTH
                                                           : 0;
                if (extra.backlogd)
                        return 0;
                fprintf(stderr, "bench_e2e: --backlogd: inprocess, process or both, not '%s'\n", arg);
                return 2;
        case OPT_BACKLOGD_PATH: extra.backlogd_path = arg; return 0;
        case OPT_PEER_SCRIPT: extra.peer_script = arg; return 0;
        case OPT_LATENCY:
        case OPT_LATENCY_RATE:
                if (parse_count(arg, 1, val == OPT_LATENCY ? 3600 : 10000000, &number)) {
                        *(val == OPT_LATENCY ? &extra.latency_seconds : &extra.latency_rate) = (double)number;
                        return 0;
                }
                fprintf(stderr, "bench_e2e: bad value '%s' for --%s\n", arg,
                        val == OPT_LATENCY ? "latency" : "latency-rate");
                return 2;
        default: /* OPT_PEER_THREADS */
                if (parse_count(arg, 1, 64, &number)) {
                        extra.peer_threads = (int)number;
                        return 0;
                }
                fprintf(stderr, "bench_e2e: bad value '%s' for --peer-threads (1 to 64)\n", arg);
                return 2;
        }
}

/* 0 when the options are usable, -1 after --help, 2 on a usage error. */
static int parse_options(int argc, char **argv, options_t *o) {
        static const struct option own[] = {
                {"peer", no_argument, NULL, OPT_PEER},
                {"no-peer", no_argument, NULL, OPT_NO_PEER},
                {"backlogd", required_argument, NULL, OPT_BACKLOGD},
                {"backlogd-path", required_argument, NULL, OPT_BACKLOGD_PATH},
                {"peer-script", required_argument, NULL, OPT_PEER_SCRIPT},
                {"peer-threads", required_argument, NULL, OPT_PEER_THREADS},
                {"latency", required_argument, NULL, OPT_LATENCY},
                {"latency-rate", required_argument, NULL, OPT_LATENCY_RATE},
                {NULL, 0, NULL, 0}};
        static const bench_broker_defaults_t defaults = {"bench_e2e", "events", 200000, "bench-e2e-", usage,
                                                         own,         take_option, NULL};
        return bench_parse_broker_options(argc, argv, &defaults, o);
}

/* Whether the peer can be built here: its script's check (java, javac and mvn on PATH). */
static bool peer_available(void) {
        char command[4200];
        snprintf(command, sizeof(command), "'%s' check", extra.peer_script);
        return strchr(extra.peer_script, '\'') == NULL && system(command) == 0;
}

/* Builds the peer into the cache before anything is timed (a no-op when it is up to date). */
static bool peer_build(void) {
        char command[4200];
        snprintf(command, sizeof(command), "'%s' build", extra.peer_script);
        return strchr(extra.peer_script, '\'') == NULL && system(command) == 0;
}

/* ---- clocks, statistics, synthetic events ------------------------------------- */


static int64_t wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}




static const char *const task_types[] = {"feature_build", "batch_score", "offline_eval", "label_fix"};
static const char *const teams[] = {"search", "ads", "fraud", "vision", "speech", "ranking"};
static const char *const models[] = {"resnet-50", "bert-base", "xgb-v7", "llama-8b", "clip-vit", "gbdt-2"};

/*
 * SUBMITTED event @p index as `backlogd produce` would take it: one of the
 * configured domains, value and risk uniform, a deadline hours ahead on 60 %,
 * a data time on 70 %, three labels, a payload of @p payload_bytes
 * printable bytes. No dependencies. A new reference.
 */
static json_t *make_event(uint64_t index, const bl_config_t *config, size_t payload_bytes, int64_t now_ms,
                          char *payload) {
        uint64_t r = splitmix64(index * 0x100000001B3ULL + 11);
        char task_id[40], event_id[40];
        size_t domain = (size_t)(r % config->domains.count);
        snprintf(task_id, sizeof(task_id), "task-%016" PRIx64, splitmix64(index ^ 0xE2E));
        snprintf(event_id, sizeof(event_id), "ev-%016" PRIx64 "-%08" PRIx64, splitmix64(index), index);
        for (size_t i = 0; i < payload_bytes; i++)
                payload[i] = (char)('a' + (splitmix64(r + i) % 26));
        payload[payload_bytes] = '\0';
        json_t *event = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:f, s:f, s:{s:s, s:s, s:s}, s:s}",
                                  "event_id", event_id, "task_id", task_id, "event_type", "SUBMITTED", "occurred_at",
                                  (json_int_t)now_ms, "producer", "bench_e2e", "sla_class", "standard", "task_type",
                                  task_types[domain % 4], "domain", config->domains.items[domain], "business_value",
                                  (double)(splitmix64(r + 1) >> 11) / 9007199254740992.0, "risk",
                                  (double)(splitmix64(r + 2) >> 11) / 9007199254740992.0, "labels", "team",
                                  teams[splitmix64(r + 3) % 6], "model", models[splitmix64(r + 4) % 6], "env", "prod",
                                  "payload", payload);
        if (event && splitmix64(r + 5) % 10 < 6)
                json_object_set_new(
                        event, "deadline",
                        json_integer((json_int_t)(now_ms + 3600000 + (int64_t)(splitmix64(r + 6) % (7 * 3600000ULL)))));
        if (event && splitmix64(r + 7) % 10 < 7)
                json_object_set_new(event, "data_ready_at",
                                    json_integer((json_int_t)(now_ms - (int64_t)(splitmix64(r + 8) % 21600000ULL))));
        return event;
}

/* ---- configs and topics --------------------------------------------------------- */

static void config_problem(const char *key, const char *reason, bool fatal, void *opaque) {
        (void)opaque;
        if (fatal)
                fprintf(stderr, "bench_e2e: config %s: %s\n", key, reason);
}

/*
 * The config of a deployment with @p prefix and @p group: defaults, no policy, no HTTP, warnings only.
 * BACKLOGD_COMMIT_INTERVAL_MS (every loop) and BACKLOGD_COMMIT_HOLD_MAX_BYTES (backlogd; 0 turns the commit
 * overlap off) are taken from the environment.
 */
/* The environment of a deployment's config, what config_for loads and `backlogd run` as a child is given. */
typedef struct config_env_s {
        char settings[7][512];
        char *envp[7 + 4];
} config_env_t;

static void config_env(const options_t *o, const char *prefix, const char *group, config_env_t *env) {
        static const char *const passed_on[] = {"BACKLOGD_COMMIT_INTERVAL_MS", "BACKLOGD_COMMIT_HOLD_MAX_BYTES",
                                                "BACKLOGD_PRODUCER_LINGER_MS"};
        size_t count = 0, size = sizeof(env->settings[0]);
        snprintf(env->settings[count++], size, "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=%s", o->bootstrap);
        snprintf(env->settings[count++], size, "BACKLOGD_TOPICS_PREFIX=%s", prefix);
        snprintf(env->settings[count++], size, "BACKLOGD_TOPICS_PARTITIONS=%d", (int)o->partitions);
        snprintf(env->settings[count++], size, "BACKLOGD_GROUP_ID=%s", group);
        for (size_t i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
                if (getenv(passed_on[i]))
                        snprintf(env->settings[count++], size, "%s=%s", passed_on[i], getenv(passed_on[i]));
        for (size_t i = 0; i < count; i++)
                env->envp[i] = env->settings[i];
        env->envp[count++] = "BACKLOGD_INSTANCE_ID=bench";
        env->envp[count++] = "BACKLOGD_HTTP_PORT=0";
        env->envp[count++] = "BACKLOGD_LOG_LEVEL=warn";
        env->envp[count] = NULL;
}

static bl_config_t *config_for(const options_t *o, const char *prefix, const char *group) {
        config_env_t env;
        config_env(o, prefix, group, &env);
        return bl_config_load(NULL, env.envp, config_problem, NULL);
}

/* One topic set of SPEC §1 under a prefix, and whether it was made. */
typedef struct topic_set_s {
        char prefix[200];
        char group[256];
        bl_config_t *config;
        bl_topic_plan_t *plan;
        bool created;
} topic_set_t;

static void set_free(topic_set_t *set) {
        bl_topic_plan_destroy(set->plan);
        bl_config_destroy(set->config);
        memset(set, 0, sizeof(*set));
}

static void create_result(const bl_topic_spec_t *spec, const char *error, void *opaque) {
        char *first = opaque;
        if (error && !*first)
                snprintf(first, 512, "%s: %s", spec->name, error);
}

static bool set_create(topic_set_t *set, const options_t *o, const char *prefix, char *errstr, size_t errstr_size) {
        char first[512] = "";
        bl_admin_t *admin = NULL;
        bool *create = NULL;
        snprintf(set->prefix, sizeof(set->prefix), "%s", prefix);
        snprintf(set->group, sizeof(set->group), "%sgroup", prefix);
        if (!(set->config = config_for(o, set->prefix, set->group)) || !(set->plan = bl_topic_plan_new(set->config)) ||
            !(create = malloc(set->plan->count * sizeof(*create)))) {
                snprintf(errstr, errstr_size, "config or out of memory for %s", prefix);
                return false;
        }
        for (size_t i = 0; i < set->plan->count; i++)
                create[i] = true;
        if (!(admin = bl_admin_new(set->config, errstr, errstr_size))) {
                free(create);
                return false;
        }
        set->created = true; /* whatever the outcome, delete what may exist */
        bl_err_t err = bl_admin_create_topics(admin, set->plan, create, create_result, first, errstr, errstr_size);
        if (err && *first)
                snprintf(errstr, errstr_size, "%s", first);
        bl_admin_destroy(admin);
        free(create);
        return err == BL_OK;
}

/* Deletes @p count topics; a failure is said on stderr, what the topics were is in @p what. */
static void delete_topics(rd_kafka_t *admin, const char *const *names, size_t count, const char *what) {
        char errstr[512] = "";
        rd_kafka_DeleteTopic_t **specs;
        if (!count || !(specs = calloc(count, sizeof(*specs))))
                return;
        for (size_t i = 0; i < count; i++)
                specs[i] = rd_kafka_DeleteTopic_new(names[i]);
        rd_kafka_queue_t *queue = rd_kafka_queue_new(admin);
        rd_kafka_DeleteTopics(admin, specs, count, NULL, queue);
        rd_kafka_event_t *event = rd_kafka_queue_poll(queue, SCAN_TIMEOUT_MS);
        if (!event)
                snprintf(errstr, sizeof(errstr), "no answer");
        else if (rd_kafka_event_error(event))
                snprintf(errstr, sizeof(errstr), "%s", rd_kafka_event_error_string(event));
        if (event)
                rd_kafka_event_destroy(event);
        rd_kafka_queue_destroy(queue);
        rd_kafka_DeleteTopic_destroy_array(specs, count);
        free(specs);
        if (*errstr)
                fprintf(stderr, "bench_e2e: deleting the topics %s: %s\n", what, errstr);
}

static void set_delete(rd_kafka_t *admin, const topic_set_t *set) {
        size_t count = set->plan ? set->plan->count : 0;
        const char **names;
        char what[256];
        if (!set->created || !count || !(names = calloc(count, sizeof(*names))))
                return;
        for (size_t i = 0; i < count; i++)
                names[i] = set->plan->topics[i].name;
        snprintf(what, sizeof(what), "%s*", set->prefix);
        delete_topics(admin, names, count, what);
        free(names);
}

/* The broker answers metadata requests; else a clear message. */
static bool probe_broker(rd_kafka_t *admin, const char *bootstrap) {
        double deadline = now_s() + PROBE_TIMEOUT_MS / 1000.0;
        rd_kafka_resp_err_t err;
        do {
                const struct rd_kafka_metadata *metadata = NULL;
                err = rd_kafka_metadata(admin, 0, NULL, &metadata, 1000);
                if (metadata)
                        rd_kafka_metadata_destroy(metadata);
        } while (err && !interrupted && now_s() < deadline);
        if (!err)
                return true;
        fprintf(stderr,
                "bench_e2e: cannot reach a Kafka broker at %s: %s\n"
                "bench_e2e: start the test broker with scripts/testenv.sh start kafka, or pass --bootstrap\n",
                bootstrap, rd_kafka_err2str(err));
        return false;
}

/* ---- fill ------------------------------------------------------------------------- */

static void fill_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        size_t *failures = opaque;
        (void)rk;
        if (message->err && (*failures)++ == 0)
                fprintf(stderr, "bench_e2e: delivery failed: %s\n", rd_kafka_err2str(message->err));
}

/*
 * Writes @p count SUBMITTED events to the set's tasks.events as `backlogd
 * produce` does, then reads back the end offset of each partition into
 * @p end_offsets. Average value bytes to @p value_bytes.
 */
static bool fill(const topic_set_t *set, bl_schemas_t *schemas, const options_t *o, size_t count, int64_t *end_offsets,
                 double *value_bytes, char *errstr, size_t errstr_size) {
        const char *overrides[] = {"partitioner", "murmur2_random", "enable.idempotence", "true", "linger.ms", "20",
                                   NULL};
        char *topic = bl_config_topic_name(set->config, "tasks.events"), subject[512];
        char *payload = malloc(o->payload_bytes + 1);
        bl_schema_t *schema = bl_schemas_version(schemas, "task_event", 0);
        rd_kafka_conf_t *conf = bl_kafka_conf_new(set->config, overrides, errstr, errstr_size);
        rd_kafka_t *producer = NULL;
        size_t failures = 0, bytes = 0;
        int64_t total = 0;
        int32_t schema_id;
        bool ok = false;
        int64_t now_ms = wall_ms();
        if (!topic || !payload || !schema || !conf) {
                if (!*errstr)
                        snprintf(errstr, errstr_size, "out of memory, or no TaskEvent contract");
                goto done;
        }
        snprintf(subject, sizeof(subject), "%s-value", topic);
        if (bl_schemas_publish(schemas, schema, subject, &schema_id, errstr, errstr_size))
                goto done;
        rd_kafka_conf_set_dr_msg_cb(conf, fill_delivery);
        rd_kafka_conf_set_opaque(conf, &failures);
        producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        conf = NULL;
        if (!producer)
                goto done;
        for (size_t i = 0; i < count && !interrupted; i++) {
                json_t *event = make_event(i, set->config, o->payload_bytes, now_ms, payload);
                unsigned char *value = NULL;
                size_t size;
                rd_kafka_resp_err_t err;
                if (!event || bl_encode_json(schema, schema_id, event, &value, &size, errstr, errstr_size)) {
                        json_decref(event);
                        goto done;
                }
                const char *task_id = json_string_value(json_object_get(event, "task_id"));
                while ((err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                                                RD_KAFKA_V_KEY(task_id, strlen(task_id)), RD_KAFKA_V_VALUE(value, size),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(producer, 10);
                json_decref(event);
                if (err) {
                        free(value);
                        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
                        goto done;
                }
                bytes += size;
                rd_kafka_poll(producer, 0);
        }
        if (rd_kafka_flush(producer, SCAN_TIMEOUT_MS) || failures || interrupted) {
                snprintf(errstr, errstr_size, interrupted ? "interrupted" : "%zu events were not delivered",
                         failures ? failures : count);
                goto done;
        }
        for (int32_t p = 0; p < o->partitions; p++) {
                int64_t low;
                if (rd_kafka_query_watermark_offsets(producer, topic, p, &low, &end_offsets[p], SCAN_TIMEOUT_MS)) {
                        snprintf(errstr, errstr_size, "watermarks of %s [%d]", topic, (int)p);
                        goto done;
                }
                total += end_offsets[p];
        }
        if ((size_t)total != count) {
                snprintf(errstr, errstr_size, "%s holds %" PRId64 " records, expected %zu", topic, total, count);
                goto done;
        }
        *value_bytes = (double)bytes / (double)count;
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

/* ---- what a pass wrote ------------------------------------------------------------ */

typedef struct output_count_s {
        size_t records[KINDS];
        size_t bytes[KINDS]; /* keys and values */
} output_count_t;

typedef struct count_ctx_s {
        output_count_t *count;
        int kind;
} count_ctx_t;

static bool count_record(const rd_kafka_message_t *message, void *opaque) {
        count_ctx_t *ctx = opaque;
        ctx->count->records[ctx->kind]++;
        ctx->count->bytes[ctx->kind] += message->len + message->key_len;
        return !interrupted;
}

/*
 * Reads the set's backlog.transitions, backlog.state (or @p state_topic, the peer's changelog, when not NULL)
 * and dispatch.<domain> to their read_committed end.
 */
static bool count_outputs(const topic_set_t *set, const char *state_topic, output_count_t *count, char *errstr,
                          size_t errstr_size) {
        bl_reader_t *reader = bl_reader_new(set->config, errstr, errstr_size);
        bool ok = reader != NULL;
        memset(count, 0, sizeof(*count));
        for (size_t i = 0; ok && i < set->plan->count; i++) {
                const char *role = set->plan->topics[i].role;
                count_ctx_t ctx = {count, !strcmp(role, "backlog.transitions") ? KIND_TRANSITIONS
                                          : !strcmp(role, "backlog.state")     ? KIND_STATE
                                          : !strncmp(role, "dispatch.", 9)     ? KIND_DISPATCH
                                                                               : -1};
                const char *name = ctx.kind == KIND_STATE && state_topic ? state_topic : set->plan->topics[i].name;
                if (ctx.kind >= 0)
                        ok = bl_reader_scan(reader, name, NULL, 0, count_record, &ctx, SCAN_TIMEOUT_MS, errstr,
                                            errstr_size) == BL_OK;
        }
        bl_reader_destroy(reader);
        return ok && !interrupted;
}

/* What backlogd writes per event, from a pass over @p events events. */
typedef struct record_mix_s {
        size_t per_event[KINDS];
        size_t value_bytes[KINDS]; /* average value of one record of the kind */
        size_t key_bytes;
} record_mix_t;

/* ---- watching a group ------------------------------------------------------------- */

/* A consumer in the group that never joins it: it only asks the coordinator for committed offsets. */
typedef struct watch_s {
        rd_kafka_t *consumer;
        rd_kafka_topic_partition_list_t *partitions;
} watch_t;

/* Watches @p group's commits on the set's tasks.events. */
static bool watch_open(watch_t *watch, const topic_set_t *set, const char *group, int32_t partitions, char *errstr,
                       size_t errstr_size) {
        const char *overrides[] = {"group.id", group, "enable.auto.commit", "false", NULL};
        char *topic = bl_config_topic_name(set->config, "tasks.events");
        memset(watch, 0, sizeof(*watch));
        if (!topic ||
            !(watch->consumer = bl_kafka_new(RD_KAFKA_CONSUMER, set->config, overrides, errstr, errstr_size))) {
                free(topic);
                return false;
        }
        watch->partitions = rd_kafka_topic_partition_list_new(partitions);
        for (int32_t p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(watch->partitions, topic, p);
        free(topic);
        return true;
}

static void watch_close(watch_t *watch) {
        if (watch->partitions)
                rd_kafka_topic_partition_list_destroy(watch->partitions);
        if (watch->consumer)
                rd_kafka_destroy(watch->consumer);
}

/* Events committed so far (the sum of committed offsets); -1 when the coordinator does not answer. */
static int64_t watch_committed(watch_t *watch, const int64_t *end_offsets, bool *at_end) {
        int64_t total = 0;
        if (rd_kafka_committed(watch->consumer, watch->partitions, COMMITTED_TIMEOUT_MS))
                return -1;
        *at_end = true;
        for (int i = 0; i < watch->partitions->cnt; i++) {
                int64_t offset = watch->partitions->elems[i].offset;
                total += offset > 0 ? offset : 0;
                *at_end = *at_end && offset >= end_offsets[i];
        }
        return total;
}

/* ---- a timed pass ------------------------------------------------------------------ */

typedef struct pass_s {
        double seconds;              /* start to the commit of the last event */
        double first_commit_seconds; /* start to the first commit seen */
        int64_t first_committed;     /* events that first commit covered */
        double thread_cpu_seconds;   /* of the thread that runs the loop, over the same time */
        size_t transactions;         /* committed */
        double commit_seconds;       /* the commits' own time */
        double commit_wait_seconds;  /* the part of it the loop's thread waited */
        uint64_t held_peak_bytes;    /* backlogd's: the next batch's records held at most */
        bool process;                /* a child process: the two below are its own */
        double process_cpu_seconds;  /* user and system time of the whole process, at the end */
        long peak_rss_kb;            /* its VmHWM at the end, before it is stopped */
} pass_t;

static double cpu_clock_s(clockid_t clock) {
        struct timespec ts;
        if (clock_gettime(clock, &ts))
                return 0;
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- (a) baseline: consume and produce, nothing decoded ------------------------------ */

static void baseline_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        size_t *failures = opaque;
        (void)rk;
        if (message->err && (*failures)++ == 0 && !interrupted)
                fprintf(stderr, "bench_e2e: baseline delivery failed: %s\n", rd_kafka_err2str(message->err));
}

/* Sends the offsets after each partition's last consumed event and commits. */
static bool baseline_commit(rd_kafka_t *consumer, bl_txn_producer_t *producer, const char *topic, const int64_t *next,
                            int64_t *committed, int32_t partitions, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_consumer_group_metadata_t *group = rd_kafka_consumer_group_metadata(consumer);
        for (int32_t p = 0; p < partitions; p++)
                if (next[p] > committed[p])
                        rd_kafka_topic_partition_list_add(offsets, topic, p)->offset = next[p];
        bool ok = bench_txn_done(bl_txn_producer_commit(producer, offsets, group, NULL, TXN_TIMEOUT_MS), errstr,
                                 errstr_size);
        rd_kafka_consumer_group_metadata_destroy(group);
        rd_kafka_topic_partition_list_destroy(offsets);
        if (ok)
                memcpy(committed, next, (size_t)partitions * sizeof(*committed));
        return ok;
}

/*
 * Reads the events of @p input's tasks.events as its group would and writes,
 * per event, @p mix's records into @p output's topics, committing every
 * commit.interval_ms as `run` does. Stops at the commit that covers
 * @p end_offsets.
 */
static bool run_baseline(const topic_set_t *input, const topic_set_t *output, const options_t *o,
                         const record_mix_t *mix, const int64_t *end_offsets, pass_t *pass, char *errstr,
                         size_t errstr_size) {
        char group[300], transactional_id[300];
        char *topic = bl_config_topic_name(input->config, "tasks.events");
        char *out_transitions = bl_config_topic_name(output->config, "backlog.transitions");
        char *out_state = bl_config_topic_name(output->config, "backlog.state");
        char **out_dispatch = calloc(output->config->domains.count, sizeof(*out_dispatch));
        size_t largest = 1, failures = 0, events = 0;
        int64_t *next = calloc((size_t)o->partitions, sizeof(*next));
        int64_t *committed = calloc((size_t)o->partitions, sizeof(*committed));
        unsigned char *filler = NULL;
        bl_consumer_t *group_consumer = NULL;
        rd_kafka_t *consumer = NULL;
        bl_txn_producer_t *producer = NULL;
        bl_txn_result_t result;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        bool ok = false, in_transaction = false, done = false;
        double started = now_s(), cpu_started = cpu_clock_s(CLOCK_THREAD_CPUTIME_ID), transaction_started = 0;
        double last_progress;
        for (int k = 0; k < KINDS; k++)
                largest = mix->value_bytes[k] > largest ? mix->value_bytes[k] : largest;
        if (!topic || !out_transitions || !out_state || !out_dispatch || !next || !committed ||
            !(filler = malloc(largest))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < largest; i++)
                filler[i] = (unsigned char)(splitmix64(i) & 0xff); /* as incompressible as Avro with payloads */
        for (size_t d = 0; d < output->config->domains.count; d++) {
                char role[300];
                snprintf(role, sizeof(role), "dispatch.%s", output->config->domains.items[d]);
                if (!(out_dispatch[d] = bl_config_topic_name(output->config, role))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
        }
        snprintf(group, sizeof(group), "%sbaseline", output->prefix);
        snprintf(transactional_id, sizeof(transactional_id), "%sbaseline", output->prefix);
        /* the settings of src/pipeline/run.c: open_consumer and open_producer, through the same kafka/ calls */
        char linger_ms[32];
        snprintf(linger_ms, sizeof(linger_ms), "%lld", (long long)input->config->producer_linger_ms);
        const char *producer_overrides[] = {"partitioner", "murmur2_random", "linger.ms", linger_ms, NULL};
        bl_txn_settings_t producer_settings = {.transactional_id = transactional_id,
                                               .client_id = "baseline",
                                               .transaction_timeout_ms = input->config->transaction_timeout_ms,
                                               .init_timeout_ms = TXN_TIMEOUT_MS,
                                               .overrides = producer_overrides,
                                               .delivered = baseline_delivery,
                                               .opaque = &failures};
        bl_consumer_settings_t consumer_settings = {.group_id = group, .client_id = "baseline"};
        const char *topics[] = {topic};
        if (!(producer = bl_txn_producer_new(input->config, &producer_settings, &result))) {
                snprintf(errstr, errstr_size, "%s", result.reason);
                goto done;
        }
        if (!(group_consumer = bl_consumer_new(input->config, &consumer_settings, errstr, errstr_size)) ||
            bl_consumer_subscribe(group_consumer, topics, 1, errstr, errstr_size))
                goto done;
        consumer = bl_consumer_handle(group_consumer);
        last_progress = now_s();
        while (!done && !interrupted) {
                rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 50);
                if (message && !message->err && message->partition < o->partitions) {
                        if (!in_transaction) {
                                if (!bench_txn_done(bl_txn_producer_begin(producer), errstr, errstr_size)) {
                                        rd_kafka_message_destroy(message);
                                        goto done;
                                }
                                in_transaction = true;
                                transaction_started = now_s();
                        }
                        size_t dispatch_topic = (size_t)message->offset % output->config->domains.count;
                        for (int k = 0; k < KINDS && !err; k++)
                                for (size_t n = 0; n < mix->per_event[k] && !err; n++) {
                                        const char *out = k == KIND_TRANSITIONS ? out_transitions
                                                          : k == KIND_STATE     ? out_state
                                                                                : out_dispatch[dispatch_topic];
                                        int32_t partition =
                                                k == KIND_DISPATCH ? RD_KAFKA_PARTITION_UA : message->partition;
                                        bl_txn_message_t record = {.topic = out,
                                                                   .partition = partition,
                                                                   .key = message->key,
                                                                   .key_size = message->key_len,
                                                                   .value = filler,
                                                                   .value_size = mix->value_bytes[k]};
                                        err = bl_txn_producer_send(producer, &record);
                                }
                        next[message->partition] = message->offset + 1;
                        events++;
                        last_progress = now_s();
                }
                if (message)
                        rd_kafka_message_destroy(message);
                if (err) {
                        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
                        goto done;
                }
                rd_kafka_poll(bl_txn_producer_handle(producer), 0);
                if (in_transaction &&
                    (now_s() - transaction_started) * 1000.0 >= (double)input->config->commit_interval_ms) {
                        double commit_started = now_s();
                        if (!baseline_commit(consumer, producer, topic, next, committed, o->partitions, errstr,
                                             errstr_size))
                                goto done;
                        pass->commit_seconds += now_s() - commit_started;
                        pass->commit_wait_seconds = pass->commit_seconds; /* the loop waits for every commit */
                        in_transaction = false;
                        if (pass->transactions++ == 0) {
                                pass->first_commit_seconds = now_s() - started;
                                for (int32_t p = 0; p < o->partitions; p++)
                                        pass->first_committed += committed[p];
                        }
                        done = true;
                        for (int32_t p = 0; p < o->partitions; p++)
                                done = done && committed[p] >= end_offsets[p];
                }
                if (now_s() - last_progress > NO_PROGRESS_TIMEOUT_S) {
                        snprintf(errstr, errstr_size, "no event for %.0f s after %zu", NO_PROGRESS_TIMEOUT_S, events);
                        goto done;
                }
        }
        pass->seconds = now_s() - started;
        pass->thread_cpu_seconds = cpu_clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu_started;
        if (interrupted)
                snprintf(errstr, errstr_size, "interrupted");
        else if (failures)
                snprintf(errstr, errstr_size, "%zu records were not delivered", failures);
        else
                ok = true;
done:
        bl_consumer_destroy(group_consumer);
        if (producer && in_transaction)
                bl_txn_producer_abort(producer, TXN_TIMEOUT_MS);
        bl_txn_producer_destroy(producer, !ok);
        for (size_t d = 0; out_dispatch && d < output->config->domains.count; d++)
                free(out_dispatch[d]);
        free(out_dispatch);
        free(out_transitions);
        free(out_state);
        free(topic);
        free(next);
        free(committed);
        free(filler);
        return ok;
}

/* ---- (b) backlogd run, in-process ------------------------------------------------------ */

/*
 * The pipeline runs on the main thread, as `backlogd run` runs it, and as
 * the baseline's loop runs: both allocate from glibc's main arena. (On a
 * thread of its own, every growth of its arena's heap was an mprotect and
 * every trim gave pages back to be faulted in again: 10 % of its time.) A
 * watcher thread stops it when its group's commits reach the end.
 */
typedef struct watcher_s {
        watch_t watch;
        const int64_t *end_offsets;
        size_t events;
        pthread_t pipeline_thread;
        double started;
        volatile sig_atomic_t stop, reload; /* the pipeline's */
        volatile sig_atomic_t pipeline_finished;
        bool at_end;
        pass_t *pass;
        char errstr[256];
} watcher_t;

static void *watcher_main(void *opaque) {
        watcher_t *w = opaque;
        clockid_t pipeline_clock;
        bool has_clock = pthread_getcpuclockid(w->pipeline_thread, &pipeline_clock) == 0, first = true;
        double cpu_started = has_clock ? cpu_clock_s(pipeline_clock) : 0, last_progress = now_s();
        int64_t last = 0;
        while (!w->at_end && !interrupted && !w->pipeline_finished) {
                usleep(WATCH_INTERVAL_US);
                int64_t committed = watch_committed(&w->watch, w->end_offsets, &w->at_end);
                if (committed > 0 && first) {
                        w->pass->first_commit_seconds = now_s() - w->started;
                        w->pass->first_committed = committed;
                        first = false;
                }
                if (committed > last) {
                        last = committed;
                        last_progress = now_s();
                } else if (now_s() - last_progress > NO_PROGRESS_TIMEOUT_S) {
                        snprintf(w->errstr, sizeof(w->errstr), "no commit for %.0f s after %" PRId64 " of %zu events",
                                 NO_PROGRESS_TIMEOUT_S, last, w->events);
                        break;
                }
        }
        w->pass->seconds = now_s() - w->started;
        w->pass->thread_cpu_seconds = has_clock ? cpu_clock_s(pipeline_clock) - cpu_started : 0;
        w->stop = 1;
        return NULL;
}

/* Runs the pipeline over the set's tasks.events until its group has committed @p end_offsets. */
static bool run_backlogd(const topic_set_t *set, const options_t *o, const int64_t *end_offsets, size_t events,
                         pass_t *pass, char *errstr, size_t errstr_size) {
        watcher_t watcher = {.end_offsets = end_offsets, .events = events, .pass = pass};
        pthread_t handle;
        int status;
        bool ok = false;
        if (!watch_open(&watcher.watch, set, set->group, o->partitions, errstr, errstr_size))
                return false;
        watcher.pipeline_thread = pthread_self();
        watcher.started = now_s();
        if (pthread_create(&handle, NULL, watcher_main, &watcher)) {
                snprintf(errstr, errstr_size, "cannot start the watcher thread");
                watch_close(&watcher.watch);
                return false;
        }
        bl_pipeline_report_t report = {0};
        bl_pipeline_options_t options = {.report = &report};
        status = bl_pipeline_run_with(set->config, &options, &watcher.stop, &watcher.reload);
        pass->transactions = report.transactions;
        pass->commit_seconds = report.commit_seconds;
        pass->commit_wait_seconds = report.commit_wait_seconds;
        pass->held_peak_bytes = report.held_peak_bytes;
        watcher.pipeline_finished = 1;
        pthread_join(handle, NULL);
        if (interrupted)
                snprintf(errstr, errstr_size, "interrupted");
        else if (watcher.errstr[0])
                snprintf(errstr, errstr_size, "%s", watcher.errstr);
        else if (watcher.at_end && status == 0)
                ok = true;
        else
                snprintf(errstr, errstr_size, "backlogd run ended with status %d before the end (see its log)",
                         status);
        watch_close(&watcher.watch);
        return ok;
}

/* ---- (c) `backlogd run` and (d) the Kafka Streams peer, as child processes --------------------- */

/* A field of /proc/<pid>/status in kB ("VmHWM"), or -1. */
static long proc_status_kb(pid_t pid, const char *field) {
        char path[64], line[256];
        long kb = -1;
        size_t length = strlen(field);
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *file = fopen(path, "r");
        if (!file)
                return -1;
        while (fgets(line, sizeof(line), file))
                if (!strncmp(line, field, length) && line[length] == ':') {
                        kb = strtol(line + length + 1, NULL, 10);
                        break;
                }
        fclose(file);
        return kb;
}

/* User and system CPU time of every thread of @p pid so far (/proc/<pid>/stat), or 0. */
static double proc_cpu_seconds(pid_t pid) {
        char path[64], text[2048];
        unsigned long long utime = 0, stime = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *file = fopen(path, "r");
        size_t size = file ? fread(text, 1, sizeof(text) - 1, file) : 0;
        if (file)
                fclose(file);
        text[size] = '\0';
        const char *after = strrchr(text, ')'); /* the command name may hold blanks */
        if (!after || sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return 0;
        return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Sends SIGTERM, waits up to CHILD_STOP_TIMEOUT_S, then SIGKILL. The child's wait status, or -1. */
static int stop_child(pid_t pid) {
        int status = -1;
        double deadline = now_s() + CHILD_STOP_TIMEOUT_S;
        kill(pid, SIGTERM);
        while (waitpid(pid, &status, WNOHANG) == 0) {
                if (now_s() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        break;
                }
                usleep(WATCH_INTERVAL_US);
        }
        return status;
}

/* What a child process is: its command line and environment (NULL: the bench's own). */
typedef struct child_spec_s {
        const char *who; /* "backlogd run", "the peer" */
        char *const *argv;
        char *const *envp;
} child_spec_t;

/*
 * Starts @p child and times it as (b) is timed: from before it starts to the commit of @p group that covers
 * @p end_offsets on the set's tasks.events. Then reads its VmHWM and CPU time and stops it with SIGTERM.
 */
static bool run_process(const child_spec_t *child, const topic_set_t *set, const char *group, const options_t *o,
                        const int64_t *end_offsets, size_t events, pass_t *pass, char *errstr, size_t errstr_size) {
        watch_t watch;
        bool at_end = false, first = true, ok = false;
        int status;
        int64_t last = 0;
        if (!watch_open(&watch, set, group, o->partitions, errstr, errstr_size))
                return false;
        fflush(stdout);
        fflush(stderr);
        double started = now_s(), last_progress = started;
        pid_t pid = fork();
        if (pid == 0) {
                if (child->envp)
                        execve(child->argv[0], child->argv, child->envp);
                else
                        execv(child->argv[0], child->argv);
                fprintf(stderr, "bench_e2e: cannot start %s: %s\n", child->argv[0], strerror(errno));
                _exit(127);
        }
        if (pid < 0) {
                snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
                watch_close(&watch);
                return false;
        }
        pass->process = true;
        while (!at_end && !interrupted) {
                usleep(WATCH_INTERVAL_US);
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        snprintf(errstr, errstr_size, "%s exited (status %d) after %" PRId64 " of %zu events",
                                 child->who, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), last,
                                 events);
                        watch_close(&watch);
                        return false;
                }
                int64_t committed = watch_committed(&watch, end_offsets, &at_end);
                if (committed > 0 && first) {
                        pass->first_commit_seconds = now_s() - started;
                        pass->first_committed = committed;
                        first = false;
                }
                if (committed > last) {
                        last = committed;
                        last_progress = now_s();
                } else if (now_s() - last_progress > NO_PROGRESS_TIMEOUT_S) {
                        snprintf(errstr, errstr_size, "%s: no commit for %.0f s after %" PRId64 " of %zu events",
                                 child->who, NO_PROGRESS_TIMEOUT_S, last, events);
                        break;
                }
        }
        pass->seconds = now_s() - started;
        pass->peak_rss_kb = proc_status_kb(pid, "VmHWM");
        pass->process_cpu_seconds = proc_cpu_seconds(pid);
        stop_child(pid);
        if (interrupted)
                snprintf(errstr, errstr_size, "interrupted");
        else if (at_end)
                ok = true;
        watch_close(&watch);
        return ok;
}

/* `backlogd run` as a deployment runs it, with the set's config in its environment. */
static bool run_backlogd_process(const topic_set_t *set, const options_t *o, const int64_t *end_offsets,
                                 size_t events, pass_t *pass, char *errstr, size_t errstr_size) {
        config_env_t env;
        char *argv[] = {(char *)extra.backlogd_path, "run", NULL};
        child_spec_t child = {"backlogd run", argv, env.envp};
        config_env(o, set->prefix, set->group, &env);
        return run_process(&child, set, set->group, o, end_offsets, events, pass, errstr, errstr_size);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)flag, (void)ftw;
        return remove(path);
}

/*
 * The Kafka Streams peer over @p input's tasks.events, writing to @p output's topics and to its store's
 * changelog @p changelog (what backlog.state is to backlogd); its application.id, so its group, is
 * @p application_id. It mirrors @p mix: as many transitions, snapshots and dispatches per event.
 */
static bool run_peer(const topic_set_t *input, const topic_set_t *output, const options_t *o, const record_mix_t *mix,
                     const char *application_id, const int64_t *end_offsets, pass_t *pass, char *errstr,
                     size_t errstr_size) {
        char state_dir[] = "/tmp/bench-e2e-peer-XXXXXX", dispatch_prefix[300], numbers[6][24];
        char *input_topic = bl_config_topic_name(input->config, "tasks.events");
        char *transitions = bl_config_topic_name(output->config, "backlog.transitions");
        bool ok = false;
        if (!input_topic || !transitions || !mkdtemp(state_dir)) {
                snprintf(errstr, errstr_size, "out of memory, or no state directory under /tmp");
                goto done;
        }
        snprintf(dispatch_prefix, sizeof(dispatch_prefix), "%sdispatch.", output->prefix);
        snprintf(numbers[0], sizeof(numbers[0]), "%d", (int)input->config->commit_interval_ms);
        snprintf(numbers[1], sizeof(numbers[1]), "%d", extra.peer_threads);
        snprintf(numbers[2], sizeof(numbers[2]), "%zu", mix->per_event[KIND_TRANSITIONS]);
        snprintf(numbers[3], sizeof(numbers[3]), "%zu", mix->per_event[KIND_STATE]);
        snprintf(numbers[4], sizeof(numbers[4]), "%zu", mix->per_event[KIND_DISPATCH]);
        char *argv[] = {(char *)extra.peer_script, "run", "--bootstrap", (char *)o->bootstrap, "--application-id",
                        (char *)application_id, "--input-topic", input_topic, "--transitions-topic", transitions,
                        "--dispatch-prefix", dispatch_prefix, "--schemas", (char *)bl_config_schemas_dir(input->config),
                        "--state-dir", state_dir, "--commit-interval-ms", numbers[0], "--threads", numbers[1],
                        "--transitions", numbers[2], "--snapshots", numbers[3], "--dispatches", numbers[4],
                        "--instance", "bench", NULL};
        child_spec_t child = {"the peer", argv, NULL};
        ok = run_process(&child, input, application_id, o, end_offsets, o->count, pass, errstr, errstr_size);
        nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
done:
        free(input_topic);
        free(transitions);
        return ok;
}

/* ---- (e) decision latency: an open loop at half the peak ------------------------------------ */

/* One latency phase: the encoded events, when each was due, and when its dispatch was seen. */
typedef struct latency_s {
        size_t count;           /* events: WARMUP_EVENTS first, then the measured ones */
        unsigned char **values; /* encoded TaskEvents */
        size_t *sizes;
        char (*keys)[24];       /* "lat-<16 hex digits>": the index, readable back from a dispatch's key */
        int64_t *due_us;        /* the open loop's time for each, CLOCK_REALTIME; the record's timestamp */
        int64_t *seen_us;       /* when its dispatch record reached the read_committed consumer; 0: not yet */
        volatile size_t seen;
        volatile sig_atomic_t stop;
        char *const *dispatch_topics;
        size_t dispatch_count;
        const topic_set_t *set;
        char errstr[600];
} latency_t;

static int64_t wall_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void latency_free(latency_t *lat) {
        for (size_t i = 0; lat->values && i < lat->count; i++)
                free(lat->values[i]);
        free(lat->values);
        free(lat->sizes);
        free(lat->keys);
        free(lat->due_us);
        free(lat->seen_us);
}

/* Encodes @p lat->count SUBMITTED events up front, so that the open loop only hands them to librdkafka. */
static bool latency_encode(latency_t *lat, bl_schemas_t *schemas, const options_t *o, char *errstr,
                           size_t errstr_size) {
        char *topic = bl_config_topic_name(lat->set->config, "tasks.events"), subject[512];
        char *payload = malloc(o->payload_bytes + 1);
        bl_schema_t *schema = bl_schemas_version(schemas, "task_event", 0);
        int32_t schema_id;
        bool ok = false;
        lat->values = calloc(lat->count, sizeof(*lat->values));
        lat->sizes = calloc(lat->count, sizeof(*lat->sizes));
        lat->keys = calloc(lat->count, sizeof(*lat->keys));
        lat->due_us = calloc(lat->count, sizeof(*lat->due_us));
        lat->seen_us = calloc(lat->count, sizeof(*lat->seen_us));
        if (!topic || !payload || !schema || !lat->values || !lat->sizes || !lat->keys || !lat->due_us ||
            !lat->seen_us) {
                snprintf(errstr, errstr_size, "out of memory, or no TaskEvent contract");
                goto done;
        }
        snprintf(subject, sizeof(subject), "%s-value", topic);
        if (bl_schemas_publish(schemas, schema, subject, &schema_id, errstr, errstr_size))
                goto done;
        for (size_t i = 0; i < lat->count; i++) {
                json_t *event = make_event(i, lat->set->config, o->payload_bytes, wall_ms(), payload);
                snprintf(lat->keys[i], sizeof(lat->keys[i]), "lat-%016zx", i);
                if (!event || json_object_set_new(event, "task_id", json_string(lat->keys[i])) ||
                    bl_encode_json(schema, schema_id, event, &lat->values[i], &lat->sizes[i], errstr, errstr_size)) {
                        json_decref(event);
                        goto done;
                }
                json_decref(event);
        }
        ok = true;
done:
        free(payload);
        free(topic);
        return ok;
}

/* The read_committed consumer: every partition of every dispatch topic, from the start; notes each key seen. */
static void *latency_consumer_main(void *opaque) {
        latency_t *lat = opaque;
        const char *overrides[] = {"group.id", "bench-e2e-latency", "enable.auto.commit", "false", "fetch.wait.max.ms",
                                   "5", NULL};
        char errstr[512];
        rd_kafka_t *consumer = bl_kafka_new(RD_KAFKA_CONSUMER, lat->set->config, overrides, errstr, sizeof(errstr));
        if (!consumer) {
                snprintf(lat->errstr, sizeof(lat->errstr), "latency consumer: %s", errstr);
                return NULL;
        }
        int32_t partitions = lat->set->config->topics_partitions;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)lat->dispatch_count * partitions);
        for (size_t t = 0; t < lat->dispatch_count; t++)
                for (int32_t p = 0; p < partitions; p++)
                        rd_kafka_topic_partition_list_add(list, lat->dispatch_topics[t], p)->offset =
                                RD_KAFKA_OFFSET_BEGINNING;
        if (rd_kafka_assign(consumer, list))
                snprintf(lat->errstr, sizeof(lat->errstr), "latency consumer: assign failed");
        rd_kafka_topic_partition_list_destroy(list);
        while (!lat->stop && !interrupted && !lat->errstr[0]) {
                rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 20);
                if (!message)
                        continue;
                int64_t now = wall_us();
                if (!message->err && message->key_len == 20 && !memcmp(message->key, "lat-", 4)) {
                        char hex[17];
                        memcpy(hex, (const char *)message->key + 4, 16);
                        hex[16] = '\0';
                        size_t index = (size_t)strtoull(hex, NULL, 16);
                        if (index < lat->count && !lat->seen_us[index]) {
                                lat->seen_us[index] = now;
                                __atomic_add_fetch(&lat->seen, 1, __ATOMIC_RELEASE);
                        }
                }
                rd_kafka_message_destroy(message);
        }
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
        return NULL;
}

/* Waits until the dispatches of the first @p count events are seen, or @p seconds pass. */
static bool latency_wait_seen(latency_t *lat, size_t count, double seconds) {
        double deadline = now_s() + seconds;
        while (__atomic_load_n(&lat->seen, __ATOMIC_ACQUIRE) < count && now_s() < deadline && !interrupted &&
               !lat->errstr[0])
                usleep(WATCH_INTERVAL_US);
        return __atomic_load_n(&lat->seen, __ATOMIC_ACQUIRE) >= count;
}

/*
 * Produces events [@p from, @p to) of @p lat on an open loop at @p rate per second: each is handed to
 * librdkafka at its due time (or at once when the loop is behind), with that time as its timestamp.
 * The largest delay behind the schedule goes to @p behind_ms.
 */
static bool latency_produce(rd_kafka_t *producer, const char *topic, latency_t *lat, size_t from, size_t to,
                            double rate, double *behind_ms, char *errstr, size_t errstr_size) {
        int64_t start = wall_us() + 1000;
        *behind_ms = 0;
        for (size_t i = from; i < to && !interrupted; i++) {
                int64_t due = start + (int64_t)((double)(i - from) * 1e6 / rate), now;
                while ((now = wall_us()) < due) {
                        rd_kafka_poll(producer, 0);
                        if (due - now > 200)
                                usleep((useconds_t)(due - now - 100));
                }
                if ((double)(now - due) / 1000.0 > *behind_ms)
                        *behind_ms = (double)(now - due) / 1000.0;
                lat->due_us[i] = due;
                rd_kafka_resp_err_t err;
                while ((err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(lat->keys[i], 20),
                                                RD_KAFKA_V_VALUE(lat->values[i], lat->sizes[i]),
                                                RD_KAFKA_V_TIMESTAMP(due / 1000), RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(producer, 1);
                if (err) {
                        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
                        return false;
                }
        }
        rd_kafka_flush(producer, SCAN_TIMEOUT_MS);
        return !interrupted;
}

static double percentile(const double *sorted, size_t count, double p) {
        size_t index = (size_t)(p * (double)(count - 1) + 0.5);
        return count ? sorted[index < count ? index : count - 1] : 0;
}

/* What the phase measured, printed and put into the JSON line. */
typedef struct latency_result_s {
        double rate, seconds, behind_ms;
        size_t measured, missing;
        double p50, p90, p99, p999, max;
        size_t over_target;          /* events later than LATENCY_TARGET_MS */
        char slow_seconds[256];      /* the seconds of the loop whose slowest event was over the target */
        /* backlogd's own histograms, from its /metrics at the end (0 when not read): bucket bounds, seconds */
        double transactions, age_p50, age_p99, commit_p50, commit_p99;
} latency_result_t;

/* ---- backlogd's part: its batch ages and commit times, from its /metrics ---------------------------- */

/* A free TCP port on 127.0.0.1 for the child's HTTP endpoint; 0 when none could be had. */
static int free_port(void) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t size = sizeof(address);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
        if (fd >= 0 && !bind(fd, (struct sockaddr *)&address, sizeof(address)) &&
            !getsockname(fd, (struct sockaddr *)&address, &size))
                port = ntohs(address.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

/* GET /metrics from 127.0.0.1:@p port, whole, into a string to free; NULL when it cannot be read. */
static char *fetch_metrics(int port) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        static const char request[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        size_t used = 0, capacity = 1 << 16;
        char *text = malloc(capacity);
        ssize_t got;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (!text || fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) ||
            write(fd, request, sizeof(request) - 1) != (ssize_t)(sizeof(request) - 1))
                goto fail;
        while ((got = read(fd, text + used, capacity - used - 1)) > 0) {
                used += (size_t)got;
                if (used + 1 == capacity) {
                        char *grown = realloc(text, capacity *= 2);
                        if (!grown)
                                goto fail;
                        text = grown;
                }
        }
        close(fd);
        text[used] = '\0';
        return text;
fail:
        if (fd >= 0)
                close(fd);
        free(text);
        return NULL;
}

/*
 * The bound of the first bucket of histogram @p name in @p text that holds a share @p q of its count (what
 * histogram_quantile would interpolate within); its count into @p count. 0 when the histogram is not there.
 */
static double bucket_quantile(const char *text, const char *name, double q, double *count) {
        char prefix[128], total_name[128];
        const char *at;
        double total = 0;
        snprintf(total_name, sizeof(total_name), "\n%s_count ", name);
        if (!(at = strstr(text, total_name)))
                return 0;
        total = strtod(at + strlen(total_name), NULL);
        *count = total;
        snprintf(prefix, sizeof(prefix), "\n%s_bucket{le=\"", name);
        for (at = strstr(text, prefix); at; at = strstr(at + 1, prefix)) {
                char *end;
                double bound = strtod(at + strlen(prefix), &end);
                const char *value = strstr(end, "} ");
                if (value && total > 0 && strtod(value + 2, NULL) >= q * total)
                        return strncmp(at + strlen(prefix), "+Inf", 4) ? bound : INFINITY;
        }
        return 0;
}

/* A bucket bound as JSON, in @p out: null above the last bucket (+Inf) and when not read (0). */
static const char *json_bound(double bound, char *out) {
        if (!isfinite(bound) || bound <= 0)
                return "null";
        snprintf(out, 32, "%g", bound);
        return out;
}

static void read_backlogd_part(int port, latency_result_t *result) {
        char *text = port ? fetch_metrics(port) : NULL;
        double commits = 0;
        if (!text)
                return;
        result->age_p50 = bucket_quantile(text, "backlogd_txn_batch_age_seconds", 0.50, &result->transactions);
        result->age_p99 = bucket_quantile(text, "backlogd_txn_batch_age_seconds", 0.99, &result->transactions);
        result->commit_p50 = bucket_quantile(text, "backlogd_txn_commit_seconds", 0.50, &commits);
        result->commit_p99 = bucket_quantile(text, "backlogd_txn_commit_seconds", 0.99, &commits);
        free(text);
}

/*
 * Where in the loop the slow events were: each second of the loop (from its first measured event) whose
 * slowest event took more than LATENCY_TARGET_MS, as "s:max_ms", so that a stall shows apart from a steady
 * excess.
 */
static void latency_slow_seconds(const latency_t *lat, latency_result_t *result) {
        size_t seconds = (size_t)result->seconds + 2, used = 0;
        double *worst = calloc(seconds, sizeof(*worst));
        int64_t start = lat->due_us[LATENCY_WARMUP_EVENTS];
        for (size_t i = LATENCY_WARMUP_EVENTS; worst && i < lat->count; i++) {
                size_t second = (size_t)((lat->due_us[i] - start) / 1000000);
                double ms = lat->seen_us[i] ? (double)(lat->seen_us[i] - lat->due_us[i]) / 1000.0 : 0;
                if (ms > LATENCY_TARGET_MS)
                        result->over_target++;
                if (second < seconds && ms > worst[second])
                        worst[second] = ms;
        }
        result->slow_seconds[0] = '\0';
        for (size_t t = 0; worst && t < seconds; t++)
                if (worst[t] > LATENCY_TARGET_MS && used + 16 < sizeof(result->slow_seconds))
                        used += (size_t)snprintf(result->slow_seconds + used, sizeof(result->slow_seconds) - used,
                                                 "%s%zu:%.0f", used ? " " : "", t, worst[t]);
        free(worst);
}

static void latency_summarise(const latency_t *lat, latency_result_t *result) {
        double *ms = malloc(lat->count * sizeof(*ms));
        size_t n = 0;
        for (size_t i = LATENCY_WARMUP_EVENTS; ms && i < lat->count; i++) {
                if (lat->seen_us[i])
                        ms[n++] = (double)(lat->seen_us[i] - lat->due_us[i]) / 1000.0;
                else
                        result->missing++;
        }
        latency_slow_seconds(lat, result);
        if (n)
                qsort(ms, n, sizeof(*ms), compare_double);
        result->measured = n;
        result->p50 = percentile(ms, n, 0.50);
        result->p90 = percentile(ms, n, 0.90);
        result->p99 = percentile(ms, n, 0.99);
        result->p999 = percentile(ms, n, 0.999);
        result->max = n ? ms[n - 1] : 0;
        free(ms);
}

/*
 * A fresh topic set and `backlogd run` as a child over it; a warm-up of LATENCY_WARMUP_EVENTS until their
 * dispatches are seen; then @p seconds of events at @p rate; each event's latency is the time from its due
 * time (its timestamp) to its dispatch reaching a read_committed consumer.
 */
static bool run_latency(rd_kafka_t *admin, bl_schemas_t *schemas, const options_t *o, double rate, double seconds,
                        latency_result_t *result, char *errstr, size_t errstr_size) {
        topic_set_t set = {0};
        latency_t lat = {0};
        char prefix[200], **dispatch = NULL;
        char *topic = NULL;
        rd_kafka_t *producer = NULL;
        pthread_t consumer;
        bool consumer_started = false, ok = false;
        pid_t pid = -1;
        config_env_t env;
        memset(result, 0, sizeof(*result));
        result->rate = rate;
        result->seconds = seconds;
        snprintf(prefix, sizeof(prefix), "%slat.", o->topic_prefix);
        lat.count = LATENCY_WARMUP_EVENTS + (size_t)(rate * seconds);
        lat.set = &set;
        if (!set_create(&set, o, prefix, errstr, errstr_size) ||
            !latency_encode(&lat, schemas, o, errstr, errstr_size))
                goto done;
        lat.dispatch_count = set.config->domains.count;
        if (!(dispatch = calloc(lat.dispatch_count, sizeof(*dispatch))) ||
            !(topic = bl_config_topic_name(set.config, "tasks.events"))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t d = 0; d < lat.dispatch_count; d++) {
                char role[300];
                snprintf(role, sizeof(role), "dispatch.%s", set.config->domains.items[d]);
                dispatch[d] = bl_config_topic_name(set.config, role);
        }
        lat.dispatch_topics = dispatch;
        const char *overrides[] = {"partitioner", "murmur2_random", "enable.idempotence", "true", "linger.ms", "5",
                                   NULL};
        if (!(producer = bl_kafka_new(RD_KAFKA_PRODUCER, set.config, overrides, errstr, errstr_size)))
                goto done;
        if (pthread_create(&consumer, NULL, latency_consumer_main, &lat)) {
                snprintf(errstr, errstr_size, "cannot start the latency consumer");
                goto done;
        }
        consumer_started = true;
        config_env(o, set.prefix, set.group, &env);
        char http_port[64];
        int port = free_port();
        for (size_t i = 0; port && env.envp[i]; i++)
                if (!strcmp(env.envp[i], "BACKLOGD_HTTP_PORT=0")) { /* its /metrics tells its part */
                        snprintf(http_port, sizeof(http_port), "BACKLOGD_HTTP_PORT=%d", port);
                        env.envp[i] = http_port;
                }
        char *argv[] = {(char *)extra.backlogd_path, "run", NULL};
        fflush(stdout);
        fflush(stderr);
        if ((pid = fork()) == 0) {
                execve(argv[0], argv, env.envp);
                _exit(127);
        }
        double warmup_behind;
        if (pid < 0 || !latency_produce(producer, topic, &lat, 0, LATENCY_WARMUP_EVENTS, 200, &warmup_behind, errstr,
                                        errstr_size))
                goto done;
        if (!latency_wait_seen(&lat, LATENCY_WARMUP_EVENTS, NO_PROGRESS_TIMEOUT_S)) {
                snprintf(errstr, errstr_size, "%s", lat.errstr[0] ? lat.errstr : "the warm-up's dispatches never came");
                goto done;
        }
        if (!latency_produce(producer, topic, &lat, LATENCY_WARMUP_EVENTS, lat.count, rate, &result->behind_ms, errstr,
                             errstr_size))
                goto done;
        latency_wait_seen(&lat, lat.count, LATENCY_DRAIN_S);
        latency_summarise(&lat, result);
        read_backlogd_part(port, result);
        ok = result->measured > 0 && !lat.errstr[0];
        if (!ok)
                snprintf(errstr, errstr_size, "%s", lat.errstr[0] ? lat.errstr : "no dispatch was seen");
done:
        if (pid > 0)
                stop_child(pid);
        lat.stop = 1;
        if (consumer_started)
                pthread_join(consumer, NULL);
        if (producer)
                rd_kafka_destroy(producer);
        for (size_t d = 0; dispatch && d < lat.dispatch_count; d++)
                free(dispatch[d]);
        free(dispatch);
        free(topic);
        latency_free(&lat);
        if (!o->keep)
                set_delete(admin, &set);
        set_free(&set);
        return ok;
}

/* ---- main ------------------------------------------------------------------------------- */

/*
 * Under each run's line: its commits, how long they took, and how much of that the loop's thread
 * waited. The baseline waits for all of it; backlogd goes on with the next batch meanwhile (txn.c).
 */
static void print_commits(const pass_t *a, const pass_t *b) {
        printf("     commits: (a) %zu taking %.2f s, waited %.2f s (%.0f %% of the run); "
               "(b) %zu taking %.2f s, waited %.2f s (%.0f %%), at most %.1f MB held\n",
               a->transactions, a->commit_seconds, a->commit_wait_seconds, 100.0 * a->commit_wait_seconds / a->seconds,
               b->transactions, b->commit_seconds, b->commit_wait_seconds, 100.0 * b->commit_wait_seconds / b->seconds,
               (double)b->held_peak_bytes / 1e6);
}

/* Events per second from the first commit on: the rate without the start-up. */
static double steady_rate(const pass_t *pass, size_t events) {
        double seconds = pass->seconds - pass->first_commit_seconds;
        /* 0 when the first commit covered every event: no steady part (printed as such, not a rate) */
        return seconds > 0 && pass->first_committed < (int64_t)events
                       ? (double)((int64_t)events - pass->first_committed) / seconds
                       : 0;
}

static bool check_counts(const char *who, const output_count_t *count, const record_mix_t *mix, size_t events,
                         char *errstr, size_t errstr_size) {
        for (int k = 0; k < KINDS; k++)
                if (count->records[k] != mix->per_event[k] * events) {
                        snprintf(errstr, errstr_size, "%s wrote %zu records to %s, expected %zu", who,
                                 count->records[k], kind_names[k], mix->per_event[k] * events);
                        return false;
                }
        return true;
}

static size_t written_bytes(const output_count_t *count) {
        return count->bytes[KIND_TRANSITIONS] + count->bytes[KIND_STATE] + count->bytes[KIND_DISPATCH];
}

/* A calibration pass of backlogd over a few events: what it writes per event, by kind. */
static bool calibrate(rd_kafka_t *admin, bl_schemas_t *schemas, const options_t *o, record_mix_t *mix, char *errstr,
                      size_t errstr_size) {
        char prefix[200];
        topic_set_t set = {0};
        int64_t *end_offsets = calloc((size_t)o->partitions, sizeof(*end_offsets));
        output_count_t count;
        pass_t pass = {0};
        double event_bytes;
        bool ok = false;
        snprintf(prefix, sizeof(prefix), "%scal.", o->topic_prefix);
        if (end_offsets && set_create(&set, o, prefix, errstr, errstr_size) &&
            fill(&set, schemas, o, CALIBRATION_EVENTS, end_offsets, &event_bytes, errstr, errstr_size) &&
            run_backlogd(&set, o, end_offsets, CALIBRATION_EVENTS, &pass, errstr, errstr_size) &&
            count_outputs(&set, NULL, &count, errstr, errstr_size)) {
                size_t keys = 0, records = 0;
                for (int k = 0; k < KINDS; k++) {
                        mix->per_event[k] = (count.records[k] + CALIBRATION_EVENTS / 2) / CALIBRATION_EVENTS;
                        records += count.records[k];
                }
                ok = check_counts("calibration", &count, mix, CALIBRATION_EVENTS, errstr, errstr_size);
                /* every key is a task_id of the same length */
                keys = strlen("task-0123456789abcdef");
                mix->key_bytes = keys;
                for (int k = 0; ok && k < KINDS; k++)
                        mix->value_bytes[k] =
                                count.records[k] ? (count.bytes[k] - count.records[k] * keys) / count.records[k] : 0;
                if (ok)
                        printf("calibration: %d events of %.0f bytes; backlogd wrote per event %zu records to "
                               "backlog.transitions (%zu bytes each), %zu to backlog.state (%zu), %zu to "
                               "dispatch.<domain> (%zu): %zu records, %.0f value bytes\n",
                               CALIBRATION_EVENTS, event_bytes, mix->per_event[KIND_TRANSITIONS],
                               mix->value_bytes[KIND_TRANSITIONS], mix->per_event[KIND_STATE],
                               mix->value_bytes[KIND_STATE], mix->per_event[KIND_DISPATCH],
                               mix->value_bytes[KIND_DISPATCH], records / CALIBRATION_EVENTS,
                               (double)(written_bytes(&count) - records * keys) / CALIBRATION_EVENTS);
        }
        if (!o->keep)
                set_delete(admin, &set);
        set_free(&set);
        free(end_offsets);
        return ok;
}

/* The contenders of a run, in the order they run. */
enum { C_BASELINE, C_ONE, C_INPROCESS, C_PROCESS, C_PEER, CONTENDERS };
static const char *const contender_names[CONTENDERS] = {
        "(a) baseline, as many records", "(a1) baseline, 1 record/event", "(b) backlogd, in-process",
        "(c) backlogd run, process", "(d) Kafka Streams peer"};
static const char *const contender_keys[CONTENDERS] = {"baseline", "one_record_baseline", "backlogd_inprocess",
                                                       "backlogd_process", "kstreams_peer"};

/* What the invocation keeps of each contender, run by run. */
typedef struct series_s {
        bool enabled;
        double rate[BENCH_MAX_RUNS], steady[BENCH_MAX_RUNS], first[BENCH_MAX_RUNS], cpu[BENCH_MAX_RUNS];
        double rss_mb[BENCH_MAX_RUNS], waited[BENCH_MAX_RUNS];
} series_t;

/* One run's topics: backlogd's input and outputs (one set per way backlogd runs), the others' outputs. */
typedef struct run_sets_s {
        topic_set_t inproc, proc, base, one, peer;
        char peer_application[300];
        char peer_changelog[400];
} run_sets_t;

static void run_sets_delete(rd_kafka_t *admin, run_sets_t *sets, bool keep) {
        topic_set_t *all[] = {&sets->inproc, &sets->proc, &sets->base, &sets->one, &sets->peer};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                if (!keep)
                        set_delete(admin, all[i]);
                set_free(all[i]);
        }
        const char *changelog[] = {sets->peer_changelog};
        if (!keep && sets->peer_changelog[0])
                delete_topics(admin, changelog, 1, sets->peer_changelog);
}

static void keep_pass(series_t *series, int r, const pass_t *pass, size_t events) {
        series->rate[r] = (double)events / pass->seconds;
        series->steady[r] = steady_rate(pass, events);
        series->first[r] = pass->first_commit_seconds;
        series->cpu[r] = (pass->process ? pass->process_cpu_seconds : pass->thread_cpu_seconds) * 1e6 / (double)events;
        series->rss_mb[r] = pass->peak_rss_kb > 0 ? (double)pass->peak_rss_kb / 1024.0 : 0;
        series->waited[r] = pass->seconds > 0 ? pass->commit_wait_seconds / pass->seconds : 0;
}

static void print_pass(int c, const series_t *series, int r, const pass_t *pass, const output_count_t *out) {
        char rss[32] = "-";
        if (series->rss_mb[r] > 0)
                snprintf(rss, sizeof(rss), "%.0f", series->rss_mb[r]);
        printf("     %-31s %9.0f %9.0f %6.2f %7.1f %-7s %8s %9.0f\n", contender_names[c], series->rate[r],
               series->steady[r], series->first[r], series->cpu[r], pass->process ? "process" : "thread", rss,
               (double)written_bytes(out) / 1e6);
}

/* The contender whose figures stand for backlogd in the ratios: the process when it ran. */
static int backlogd_contender(void) {
        return extra.backlogd & BACKLOGD_PROCESS ? C_PROCESS : C_INPROCESS;
}

static double median_ratio(const series_t *num, const series_t *den, const double *(*pick)(const series_t *),
                           int runs) {
        double ratios[BENCH_MAX_RUNS];
        for (int r = 0; r < runs; r++)
                ratios[r] = pick(den)[r] > 0 ? pick(num)[r] / pick(den)[r] : 0;
        return median(ratios, runs);
}

static const double *pick_rate(const series_t *s) {
        return s->rate;
}

static const double *pick_steady(const series_t *s) {
        return s->steady;
}

static const double *pick_rss(const series_t *s) {
        return s->rss_mb;
}

static void print_summary(const series_t *series, int runs) {
        int b = backlogd_contender();
        printf("\nmedians over %d runs; cpu: the loop's thread (in-process loops) or the whole process\n"
               "     %-31s %9s %9s %6s %7s %-7s %8s\n",
               runs, "contender", "ev/s", "steady", "1st s", "cpu us", "", "RSS MB");
        for (int c = 0; c < CONTENDERS; c++) {
                char rss[32] = "-";
                if (!series[c].enabled)
                        continue;
                if (median(series[c].rss_mb, runs) > 0)
                        snprintf(rss, sizeof(rss), "%.0f", median(series[c].rss_mb, runs));
                printf("     %-31s %9.0f %9.0f %6.2f %7.1f %-7s %8s\n", contender_names[c],
                       median(series[c].rate, runs), median(series[c].steady, runs), median(series[c].first, runs),
                       median(series[c].cpu, runs), c == C_PROCESS || c == C_PEER ? "process" : "thread", rss);
        }
        printf("ratios (median of the runs' ratios), backlogd = %s:\n", contender_names[b]);
        for (int c = 0; c < CONTENDERS; c++)
                if (series[c].enabled && c != b && c != C_INPROCESS && c != C_PROCESS)
                        printf("     backlogd / %-31s events/s %.3f, steady %.3f\n", contender_names[c],
                               median_ratio(&series[b], &series[c], pick_rate, runs),
                               median_ratio(&series[b], &series[c], pick_steady, runs));
        if (series[C_PEER].enabled && series[C_PROCESS].enabled)
                printf("     peak RSS, backlogd run / the peer: %.3f\n",
                       median_ratio(&series[C_PROCESS], &series[C_PEER], pick_rss, runs));
}

static void print_series_json(const char *key, const double *values, int runs, bool last) {
        printf("\"%s\":[", key);
        for (int r = 0; r < runs; r++)
                printf("%s%.1f", r ? "," : "", values[r]);
        printf("]%s", last ? "" : ",");
}

static void print_json(const options_t *o, const record_mix_t *mix, const series_t *series,
                       const latency_result_t *latency) {
        char bounds[4][32];
        int b = backlogd_contender();
        printf("{\"bench\":\"e2e\",\"events\":%zu,\"partitions\":%d,\"payload_bytes\":%zu,\"runs\":%d,"
               "\"records_per_event\":[%zu,%zu,%zu],\"value_bytes\":[%zu,%zu,%zu],\"contenders\":{",
               o->count, (int)o->partitions, o->payload_bytes, o->runs, mix->per_event[0], mix->per_event[1],
               mix->per_event[2], mix->value_bytes[0], mix->value_bytes[1], mix->value_bytes[2]);
        bool first = true;
        for (int c = 0; c < CONTENDERS; c++) {
                if (!series[c].enabled)
                        continue;
                printf("%s\"%s\":{", first ? "" : ",", contender_keys[c]);
                print_series_json("events_per_s", series[c].rate, o->runs, false);
                print_series_json("steady_events_per_s", series[c].steady, o->runs, false);
                print_series_json("peak_rss_mb", series[c].rss_mb, o->runs, false);
                printf("\"events_per_s_median\":%.0f,\"steady_events_per_s_median\":%.0f,\"first_commit_s_median\":%.3f,"
                       "\"cpu_us_per_event_median\":%.2f,\"peak_rss_mb_median\":%.1f,\"commit_wait_share_median\":%.3f}",
                       median(series[c].rate, o->runs), median(series[c].steady, o->runs),
                       median(series[c].first, o->runs), median(series[c].cpu, o->runs),
                       median(series[c].rss_mb, o->runs), median(series[c].waited, o->runs));
                first = false;
        }
        printf("},\"backlogd\":\"%s\",\"ratios\":{", contender_keys[b]);
        first = true;
        for (int c = 0; c < CONTENDERS; c++)
                if (series[c].enabled && c != b && c != C_INPROCESS && c != C_PROCESS) {
                        printf("%s\"%s\":%.4f", first ? "" : ",", contender_keys[c],
                               median_ratio(&series[b], &series[c], pick_rate, o->runs));
                        first = false;
                }
        printf("}");
        if (latency)
                printf(",\"latency\":{\"events_per_s\":%.0f,\"seconds\":%.0f,\"measured\":%zu,\"missing\":%zu,"
                       "\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"p999_ms\":%.1f,\"max_ms\":%.1f,"
                       "\"producer_behind_max_ms\":%.1f,\"over_250_ms\":%zu,\"backlogd_transactions\":%.0f,"
                       "\"batch_age_p50_s\":%s,\"batch_age_p99_s\":%s,\"commit_p50_s\":%s,\"commit_p99_s\":%s}",
                       latency->rate, latency->seconds, latency->measured, latency->missing, latency->p50,
                       latency->p90, latency->p99, latency->p999, latency->max, latency->behind_ms,
                       latency->over_target, latency->transactions, json_bound(latency->age_p50, bounds[0]),
                       json_bound(latency->age_p99, bounds[1]), json_bound(latency->commit_p50, bounds[2]),
                       json_bound(latency->commit_p99, bounds[3]));
        printf("}\n");
}

/* Makes the run's topic sets and fills the input of each way backlogd runs; the first is everyone's input. */
static const topic_set_t *run_prepare(const options_t *o, bl_schemas_t *schemas, int r, run_sets_t *sets,
                                      const series_t *series, int64_t *end_offsets, double *fill_seconds,
                                      char *errstr, size_t errstr_size) {
        struct {
                topic_set_t *set;
                const char *suffix;
                bool wanted;
        } plan[] = {{&sets->inproc, "", series[C_INPROCESS].enabled},
                    {&sets->proc, "proc.", series[C_PROCESS].enabled},
                    {&sets->base, "base.", series[C_BASELINE].enabled},
                    {&sets->one, "one.", series[C_ONE].enabled},
                    {&sets->peer, "peer.", series[C_PEER].enabled}};
        const topic_set_t *input = NULL;
        char prefix[200];
        double event_bytes, started = now_s();
        for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
                if (!plan[i].wanted)
                        continue;
                snprintf(prefix, sizeof(prefix), "%sr%d.%s", o->topic_prefix, r + 1, plan[i].suffix);
                if (!set_create(plan[i].set, o, prefix, errstr, errstr_size))
                        return NULL;
                if (i < 2) { /* each backlogd has its input of its own: a fresh backlog.state and group */
                        if (!fill(plan[i].set, schemas, o, o->count, end_offsets, &event_bytes, errstr, errstr_size))
                                return NULL;
                        if (!input)
                                input = plan[i].set;
                }
        }
        snprintf(sets->peer_application, sizeof(sets->peer_application), "%sr%d.peer.app", o->topic_prefix, r + 1);
        if (series[C_PEER].enabled)
                snprintf(sets->peer_changelog, sizeof(sets->peer_changelog), "%s-backlog.state-changelog",
                         sets->peer_application);
        *fill_seconds = now_s() - started;
        return input;
}

/* Runs one contender over @p input; its outputs are read back and must hold the expected records. */
static bool run_contender(int c, const options_t *o, const record_mix_t *mix, run_sets_t *sets,
                          const topic_set_t *input, const int64_t *end_offsets, pass_t *pass, output_count_t *out,
                          char *errstr, size_t errstr_size) {
        static const record_mix_t one_record_template = {{0, 0, 1}, {0}, 0};
        record_mix_t one = one_record_template;
        one.value_bytes[KIND_DISPATCH] = mix->value_bytes[KIND_DISPATCH];
        one.key_bytes = mix->key_bytes;
        switch (c) {
        case C_BASELINE:
                return run_baseline(input, &sets->base, o, mix, end_offsets, pass, errstr, errstr_size) &&
                       count_outputs(&sets->base, NULL, out, errstr, errstr_size) &&
                       check_counts("the baseline", out, mix, o->count, errstr, errstr_size);
        case C_ONE:
                return run_baseline(input, &sets->one, o, &one, end_offsets, pass, errstr, errstr_size) &&
                       count_outputs(&sets->one, NULL, out, errstr, errstr_size) &&
                       check_counts("the one-record baseline", out, &one, o->count, errstr, errstr_size);
        case C_INPROCESS:
                return run_backlogd(&sets->inproc, o, end_offsets, o->count, pass, errstr, errstr_size) &&
                       count_outputs(&sets->inproc, NULL, out, errstr, errstr_size) &&
                       check_counts("backlogd", out, mix, o->count, errstr, errstr_size);
        case C_PROCESS:
                return run_backlogd_process(&sets->proc, o, end_offsets, o->count, pass, errstr, errstr_size) &&
                       count_outputs(&sets->proc, NULL, out, errstr, errstr_size) &&
                       check_counts("backlogd run", out, mix, o->count, errstr, errstr_size);
        default: /* C_PEER */
                return run_peer(input, &sets->peer, o, mix, sets->peer_application, end_offsets, pass, errstr,
                                errstr_size) &&
                       count_outputs(&sets->peer, sets->peer_changelog, out, errstr, errstr_size) &&
                       check_counts("the peer", out, mix, o->count, errstr, errstr_size);
        }
}

int main(int argc, char **argv) {
        options_t o;
        char errstr[1024] = "";
        static series_t series[CONTENDERS];
        latency_result_t latency;
        bl_contract_source_t contracts = {0};
        bl_config_t *config = NULL;
        record_mix_t mix = {{0}, {0}, 0};
        rd_kafka_t *admin = NULL;
        int64_t *end_offsets = NULL;
        int status = 1, parsed = parse_options(argc, argv, &o);
        if (parsed)
                return parsed < 0 ? 0 : parsed;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        bl_log_set_level(BL_LOG_WARN);
        if (extra.peer < 0)
                extra.peer = peer_available();
        series[C_BASELINE].enabled = series[C_ONE].enabled = true;
        series[C_INPROCESS].enabled = extra.backlogd & BACKLOGD_INPROCESS;
        series[C_PROCESS].enabled = extra.backlogd & BACKLOGD_PROCESS;
        series[C_PEER].enabled = extra.peer;
        if ((series[C_PROCESS].enabled || extra.latency_seconds > 0) && access(extra.backlogd_path, X_OK)) {
                fprintf(stderr, "bench_e2e: %s is not an executable: build it, or pass --backlogd-path or --backlogd "
                                "inprocess\n", extra.backlogd_path);
                return 2;
        }
        if (!(config = config_for(&o, o.topic_prefix, "bench-e2e"))) {
                fprintf(stderr, "bench_e2e: --bootstrap %s or --topic-prefix %s: refused\n", o.bootstrap,
                        o.topic_prefix);
                return 2;
        }
        if (!bl_contract_source_open(&contracts, config, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_e2e: contracts in %s: %s\n", bl_config_schemas_dir(config), errstr);
                goto done;
        }
        if (!(admin = bl_kafka_new(RD_KAFKA_PRODUCER, config, NULL, errstr, sizeof(errstr))) ||
            !(end_offsets = calloc((size_t)o.partitions, sizeof(*end_offsets)))) {
                fprintf(stderr, "bench_e2e: %s\n", *errstr ? errstr : "out of memory");
                goto done;
        }
        if (!probe_broker(admin, o.bootstrap))
                goto done;
        if (extra.peer && !peer_build()) {
                fprintf(stderr, "bench_e2e: the peer did not build (%s build); --no-peer leaves it out\n",
                        extra.peer_script);
                goto done;
        }
        printf("e2e bench: %zu SUBMITTED events, %d partitions, %zu-byte payload, %d runs; topics %s* on %s\n"
               "contenders:",
               o.count, (int)o.partitions, o.payload_bytes, o.runs, o.topic_prefix, o.bootstrap);
        for (int c = 0; c < CONTENDERS; c++)
                if (series[c].enabled)
                        printf(" %s;", contender_names[c]);
        printf("%s\n", extra.peer ? "" : " (no Kafka Streams peer: --no-peer, or no java/javac/mvn on PATH)");
        fflush(stdout);
        if (!calibrate(admin, contracts.schemas, &o, &mix, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_e2e: calibration: %s\n", errstr);
                goto done;
        }
        printf("\nper run, each contender: events/s, from the first commit on (steady), time to the first commit,\n"
               "CPU per event (the loop's thread, or the whole process), peak RSS (VmHWM of a process), MB written\n"
               "     %-31s %9s %9s %6s %7s %-7s %8s %9s\n",
               "contender", "ev/s", "steady", "1st s", "cpu us", "", "RSS MB", "MB");
        fflush(stdout);
        for (int r = 0; r < o.runs; r++) {
                run_sets_t sets;
                pass_t passes[CONTENDERS];
                double fill_seconds = 0;
                bool ok = true;
                memset(&sets, 0, sizeof(sets));
                memset(passes, 0, sizeof(passes));
                const topic_set_t *input = run_prepare(&o, contracts.schemas, r, &sets, series, end_offsets,
                                                       &fill_seconds, errstr, sizeof(errstr));
                const char *stage = "set-up";
                if (!input)
                        ok = false;
                else
                        printf("run %d (fill %.1f s)\n", r + 1, fill_seconds);
                for (int c = 0; ok && c < CONTENDERS; c++) {
                        output_count_t out;
                        if (!series[c].enabled)
                                continue;
                        stage = contender_names[c];
                        ok = run_contender(c, &o, &mix, &sets, c == C_PROCESS ? &sets.proc : input, end_offsets,
                                           &passes[c], &out, errstr, sizeof(errstr));
                        if (ok) {
                                keep_pass(&series[c], r, &passes[c], o.count);
                                print_pass(c, &series[c], r, &passes[c], &out);
                                fflush(stdout);
                        }
                }
                run_sets_delete(admin, &sets, o.keep);
                if (!ok) {
                        fprintf(stderr, "bench_e2e: run %d, %s: %s\n", r + 1, stage, *errstr ? errstr : "failed");
                        goto done;
                }
                if (series[C_INPROCESS].enabled)
                        print_commits(&passes[C_BASELINE], &passes[C_INPROCESS]);
                fflush(stdout);
        }
        print_summary(series, o.runs);
        if (extra.latency_seconds > 0) {
                int b = backlogd_contender();
                double peak = median(series[b].steady, o.runs) > 0 ? median(series[b].steady, o.runs)
                                                                   : median(series[b].rate, o.runs);
                double rate = extra.latency_rate > 0 ? extra.latency_rate : peak / 2;
                printf("\ndecision latency: `backlogd run`, an open loop of %.0f events/s for %.0f s (%s), commit "
                       "interval %d ms\n",
                       rate, extra.latency_seconds,
                       extra.latency_rate > 0 ? "--latency-rate" : "half of backlogd's median steady events/s",
                       (int)config->commit_interval_ms);
                fflush(stdout);
                if (!run_latency(admin, contracts.schemas, &o, rate, extra.latency_seconds, &latency, errstr,
                                 sizeof(errstr))) {
                        fprintf(stderr, "bench_e2e: latency: %s\n", errstr);
                        goto done;
                }
                printf("     from each event's timestamp to its dispatch at a read_committed consumer, %zu events "
                       "(%zu missing):\n     p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms; "
                       "the open loop was at most %.1f ms behind its schedule\n",
                       latency.measured, latency.missing, latency.p50, latency.p90, latency.p99, latency.p999,
                       latency.max, latency.behind_ms);
                printf("     %zu events over %.0f ms; the seconds of the loop whose slowest event was (second:ms): %s\n",
                       latency.over_target, LATENCY_TARGET_MS, latency.slow_seconds[0] ? latency.slow_seconds : "none");
                if (latency.transactions > 0)
                        printf("     backlogd's part (its /metrics, warm-up included, bucket bounds): %.0f transactions; "
                               "a batch's first record to its commit's end p50 <= %.3f s, p99 <= %.3f s; "
                               "the commit p50 <= %.3f s, p99 <= %.3f s\n",
                               latency.transactions, latency.age_p50, latency.age_p99, latency.commit_p50,
                               latency.commit_p99);
        }
        print_json(&o, &mix, series, extra.latency_seconds > 0 ? &latency : NULL);
        status = 0;
done:
        fflush(stdout);
        if (admin)
                rd_kafka_destroy(admin);
        free(end_offsets);
        bl_contract_source_close(&contracts);
        bl_config_destroy(config);
        return status;
}
