/*
 * demo.c: `backlogd demo`: the whole pipeline on an embedded Kafka (SPEC §8).
 *
 * Everything runs in this process. librdkafka's mock cluster (demo/mock.c)
 * stands in for Kafka, with every topic of the plan made on it. The real
 * pipeline, bl_pipeline_run_with(), runs on a thread of its own, with a
 * config the demo builds: the mock's bootstrap servers, three partitions a
 * topic, a short session timeout (a rebalance on the mock takes
 * session.timeout.ms - 1 s), the HTTP endpoint on 127.0.0.1 (a free port
 * unless --http-port or BACKLOGD_HTTP_PORT says) so that the status page can
 * be watched while it runs, and config/policy.json's policy (demo/scenario.c) in a scratch
 * file. Two things differ from `backlogd run`, both in the options the
 * pipeline takes (pipeline/run.h): the start-up check of the topics is
 * skipped (the mock has no DescribeConfigs), and the metrics registry is the
 * demo's, so that the live view reads the same series /metrics would show.
 *
 * Around it: a thread of simulated workers per domain (demo/workers.c), a
 * thread of synthetic producers (demo/traffic.c) started once the pipeline
 * has its partitions (the rest of `--duration` counts from there), and on
 * the main thread the live view (demo/view.c), sampled four times a second
 * and drawn once a second. At the end, or on SIGINT/SIGTERM, the producers
 * stop, then the workers; once the pipeline has taken in their last results
 * and counted its backlog once more, it is stopped as on SIGTERM (the batch
 * committed, the group left). backlog.dlq is then read back by reason and
 * the summary goes to stdout. Before it all, model_inference's decision agent
 * (demo/agent.c) starts on loopback, and the policy names it with its port.
 * Signal handlers only set a flag.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "demo/agent.h"
#include "demo/mock.h"
#include "demo/scenario.h"
#include "demo/traffic.h"
#include "demo/view.h"
#include "demo/workers.h"
#include "kafka/reader.h"
#include "base/log.h"
#include "pipeline/run.h"

#define DEMO_PARTITIONS      3
#define SAMPLE_INTERVAL_MS   250
#define DRAW_INTERVAL_MS     1000
#define READ_BACK_TIMEOUT_MS 5000
#define START_TIMEOUT_MS     30000 /* joining the group takes about 3 s on the mock */
#define SETTLE_TIMEOUT_MS    3000  /* for the pipeline to take in the workers' last results */
#define CENSUS_WAIT_MS       1100  /* one more count of the backlog (the pipeline's gauges tick every second) */

static volatile sig_atomic_t interrupted;

typedef struct demo_opts_s {
        double duration_s;
        uint64_t seed;
        double rate;
        bool json;
        int http_port; /* the status page's; 0: a free one */
} demo_opts_t;

/* The pipeline's thread and what it shares with the main thread. */
typedef struct pipeline_thread_s {
        const bl_config_t *config;
        bl_pipeline_options_t options;
        volatile sig_atomic_t stop;
        int status;
        atomic_bool finished;
        pthread_t thread;
        bool started;
} pipeline_thread_t;

typedef struct demo_s {
        demo_opts_t opts;
        char scratch_dir[256];
        char policy_path[300];
        int slow_max_lag; /* model_inference's max_lag in the policy written */
        bl_demo_agent_t *agent; /* model_inference's decision agent, on loopback */
        bl_mock_t *mock;
        bl_config_t *config;
        bl_metrics_t *registry;
        bl_metrics_backlogd_t metrics;
        bl_view_t *view;
        bl_metric_series_t *restore_seconds; /* -1 until the pipeline has restored its first assignment */
        pipeline_thread_t pipeline;
        bl_workers_t *workers[BL_SCENARIO_DOMAINS];
        bl_traffic_t *traffic;
        int64_t started_ms;
        int64_t ended_ms; /* when the run ended (the duration, a signal, the pipeline); 0 while it runs */
} demo_t;

static void on_signal(int signo) {
        (void)signo;
        interrupted = 1;
}

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd demo [--duration SECONDS] [--seed N] [--rate EVENTS_PER_SECOND] [--json]\n"
                     "\n"
                     "Runs the whole pipeline in this process on librdkafka's mock cluster: synthetic\n"
                     "producers submit tasks to the four domains (with deadlines, dependencies,\n"
                     "failures and a few poison pills), simulated workers run them, and model_inference's\n"
                     "workers are too slow, so that domain is throttled while the others flow. A live\n"
                     "view on stderr (redrawn on a terminal, one line a second otherwise) shows the\n"
                     "backlog by state, lag and throttling per domain, the dispatch rate and the DLQ by\n"
                     "reason. A decision agent on loopback governs half of model_inference's tasks,\n"
                     "and is sometimes slow and sometimes wrong: the view shows its consultations, the\n"
                     "fallbacks to the policy, the parts of its answers refused and its breaker. A\n"
                     "summary goes to stdout at the end. Nothing outside the process is used.\n"
                     "SIGINT or SIGTERM: stop early, with the summary. While it runs, the status page\n"
                     "(http://127.0.0.1:PORT/, its address printed at the start) shows the same with plots\n"
                     "of the last minutes, beside /metrics, /healthz and /readyz. BACKLOGD_LOG_LEVEL\n"
                     "(default error) shows the pipeline's logs.\n"
                     "\n"
                     "Options:\n"
                     "  --duration SECONDS       how long the producers run (default 30)\n"
                     "  --seed N                 the generator's seed, for a repeatable run (default: from the clock)\n"
                     "  --rate EVENTS_PER_SECOND tasks submitted per second (default 200)\n"
                     "  --json                   the summary as one JSON object\n"
                     "  --http-port PORT         the status page's port on 127.0.0.1 (default: a free one;\n"
                     "                           BACKLOGD_HTTP_PORT and BACKLOGD_HTTP_ADDRESS win)\n"
                     "  -h, --help               this help\n");
}

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
        struct timespec pause = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&pause, NULL); /* a signal cuts it short: the loop looks at the flag */
}

/* ---- options --------------------------------------------------------------------- */

static bool parse_number(const char *text, double low, double high, double *out) {
        char *end;
        errno = 0;
        double value = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(value) || value < low || value > high)
                return false;
        *out = value;
        return true;
}

static int parse_options(int argc, char **argv, demo_opts_t *opts) {
        static const struct option options[] = {
                {"duration", required_argument, NULL, 'd'}, {"seed", required_argument, NULL, 's'},
                {"rate", required_argument, NULL, 'r'},     {"json", no_argument, NULL, 'j'},
                {"http-port", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        int opt;
        char *end;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        if (!parse_number(optarg, 1, 86400, &opts->duration_s))
                                return bl_cmd_usage_error("demo", "--duration takes seconds from 1 to 86400");
                        break;
                case 's':
                        errno = 0;
                        opts->seed = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end || *optarg == '-')
                                return bl_cmd_usage_error("demo", "--seed takes a non-negative integer");
                        break;
                case 'r':
                        if (!parse_number(optarg, 1, 10000, &opts->rate))
                                return bl_cmd_usage_error("demo", "--rate takes events a second from 1 to 10000");
                        break;
                case 'j': opts->json = true; break;
                case 'p': {
                        double port;
                        if (!parse_number(optarg, 1, 65535, &port) || port != floor(port))
                                return bl_cmd_usage_error("demo", "--http-port takes a TCP port from 1 to 65535");
                        opts->http_port = (int)port;
                        break;
                }
                case 'h': usage(stdout); return -1;
                default: return bl_cmd_usage_error("demo", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("demo", "unexpected argument '%s'", argv[optind]);
        return BL_EXIT_OK;
}

/* ---- set-up ----------------------------------------------------------------------- */

static bool write_policy(demo_t *demo) {
        char errstr[256];
        const char *tmp = getenv("TMPDIR");
        if (!(demo->agent = bl_demo_agent_start(demo->opts.seed, errstr, sizeof(errstr)))) {
                fprintf(stderr, "backlogd demo: %s\n", errstr);
                return false;
        }
        snprintf(demo->scratch_dir, sizeof(demo->scratch_dir), "%s/backlogd-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(demo->scratch_dir)) {
                fprintf(stderr, "backlogd demo: cannot make a scratch directory %s: %s\n", demo->scratch_dir,
                        strerror(errno));
                demo->scratch_dir[0] = '\0';
                return false;
        }
        snprintf(demo->policy_path, sizeof(demo->policy_path), "%s/policy.json", demo->scratch_dir);
        char *policy = bl_scenario_policy(demo->opts.rate, bl_demo_agent_port(demo->agent), &demo->slow_max_lag);
        FILE *file = policy ? fopen(demo->policy_path, "w") : NULL;
        bool ok = file && fputs(policy, file) >= 0;
        free(policy);
        if (file && fclose(file))
                ok = false;
        if (!ok)
                fprintf(stderr, "backlogd demo: cannot write %s: %s\n", demo->policy_path, strerror(errno));
        return ok;
}

static void print_problem(const char *key, const char *reason, bool fatal, void *opaque) {
        (void)opaque;
        fprintf(stderr, "backlogd demo: config %s: %s: %s\n", fatal ? "error" : "warning", key, reason);
}

/* A TCP port on 127.0.0.1 that no one listens on now (the kernel's pick); 0 when none can be had. */
static int free_local_port(void) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t length = sizeof(address);
        int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;
        if (probe < 0)
                return 0;
        if (!bind(probe, (struct sockaddr *)&address, sizeof(address)) &&
            !getsockname(probe, (struct sockaddr *)&address, &length))
                port = ntohs(address.sin_port);
        close(probe);
        return port;
}

/*
 * The demo's config: its own settings, then the few variables of the
 * caller's environment it honours (later entries win).
 */
static bl_config_t *build_config(demo_t *demo) {
        static const char *const honoured[] = {"BACKLOGD_HTTP_PORT=", "BACKLOGD_HTTP_ADDRESS=", "BACKLOGD_LOG_LEVEL=",
                                               "BACKLOGD_SCHEMAS_DIR=", "BACKLOGD_KAFKA_DEBUG="};
        extern char **environ;
        char settings[12][512];
        char *envp[sizeof(settings) / sizeof(settings[0]) + 64];
        size_t count = 0;
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=%s",
                 bl_mock_bootstraps(demo->mock));
        /* A rebalance on the mock takes session.timeout.ms - 1 s (PITFALLS.md), and a first join 3 s,
         * which a session shorter than that does not survive (a member then never gets in). */
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_KAFKA_SESSION_TIMEOUT_MS=4000");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_KAFKA_HEARTBEAT_INTERVAL_MS=1000");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_TOPICS_PARTITIONS=%d", DEMO_PARTITIONS);
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_GROUP_ID=backlogd-demo");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_INSTANCE_ID=demo");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_POLICY_FILE=%s", demo->policy_path);
        /* the status page: the port asked for, else a free one (BACKLOGD_HTTP_PORT, when set, wins) */
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_HTTP_ADDRESS=127.0.0.1");
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_HTTP_PORT=%d",
                 demo->opts.http_port ? demo->opts.http_port : free_local_port());
        snprintf(settings[count++], sizeof(settings[0]), "BACKLOGD_LOG_LEVEL=error");
        for (size_t i = 0; i < count; i++)
                envp[i] = settings[i];
        for (char **env = environ; env && *env && count < sizeof(envp) / sizeof(envp[0]) - 1; env++)
                for (size_t h = 0; h < sizeof(honoured) / sizeof(honoured[0]); h++)
                        if (!strncmp(*env, honoured[h], strlen(honoured[h])))
                                envp[count++] = *env;
        envp[count] = NULL;
        bl_config_t *config = bl_config_load(NULL, envp, print_problem, NULL);
        if (config)
                bl_log_set_level((bl_log_level_t)config->log_level);
        return config;
}

static void *run_pipeline(void *opaque) {
        pipeline_thread_t *pipeline = opaque;
        pipeline->status = bl_pipeline_run_with(pipeline->config, &pipeline->options, &pipeline->stop, NULL);
        atomic_store(&pipeline->finished, true);
        return NULL;
}

/*
 * The cluster, the config, the registry and view, the pipeline's thread and
 * the workers; the producers wait until the pipeline is ready.
 */
static bool start_all(demo_t *demo) {
        char errstr[512];
        pipeline_thread_t *pipeline = &demo->pipeline;
        if (!(demo->mock = bl_mock_new(1, errstr, sizeof(errstr))) || !(demo->config = build_config(demo)) ||
            bl_mock_create_topics(demo->mock, demo->config, errstr, sizeof(errstr))) {
                if (!demo->mock || demo->config)
                        fprintf(stderr, "backlogd demo: %s\n", errstr);
                return false;
        }
        demo->registry = bl_metrics_new();
        if (!demo->registry || bl_metrics_register_backlogd(demo->registry, &demo->metrics, errstr, sizeof(errstr))) {
                fprintf(stderr, "backlogd demo: metrics: %s\n", demo->registry ? errstr : "out of memory");
                return false;
        }
        demo->view = bl_view_new(&demo->metrics, demo->config, stderr, isatty(STDERR_FILENO));
        if (!demo->view) {
                fprintf(stderr, "backlogd demo: out of memory\n");
                return false;
        }
        /* The pipeline sets it after each restore, the first one included: the sign it has its partitions. */
        demo->restore_seconds = bl_metrics_series(demo->metrics.restore_seconds);
        bl_metric_set(demo->restore_seconds, -1);
        pipeline->config = demo->config;
        pipeline->options.skip_topic_check = true; /* the mock answers no DescribeConfigs; we made the topics */
        pipeline->options.registry = demo->registry;
        pipeline->options.metrics = &demo->metrics;
        atomic_init(&pipeline->finished, false);
        if (pthread_create(&pipeline->thread, NULL, run_pipeline, pipeline)) {
                fprintf(stderr, "backlogd demo: cannot start the pipeline's thread\n");
                return false;
        }
        pipeline->started = true;
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                demo->workers[d] = bl_workers_start(demo->config, &bl_scenario_domains[d], demo->opts.seed,
                                                    demo->opts.rate, errstr, sizeof(errstr));
                if (!demo->workers[d]) {
                        fprintf(stderr, "backlogd demo: %s workers: %s\n", bl_scenario_domains[d].name, errstr);
                        return false;
                }
        }
        return true;
}

/* Where the pipeline serves the status page, for whoever runs the demo. */
static void print_status_page_address(const demo_t *demo) {
        const char *address = demo->config->http_address;
        bool any = !strcmp(address, "0.0.0.0") || !strcmp(address, "::");
        bool v6 = strchr(address, ':') != NULL;
        if (demo->config->http_port == 0) {
                fprintf(stderr, "backlogd demo: no status page (BACKLOGD_HTTP_PORT=0)\n");
                return;
        }
        fprintf(stderr, "backlogd demo: status page on http://%s%s%s:%d/ (plots, backlog, approvals; /metrics too)\n",
                v6 && !any ? "[" : "", any ? "127.0.0.1" : address, v6 && !any ? "]" : "",
                (int)demo->config->http_port);
}

/*
 * Waits for the pipeline to join its group and restore, then says where its status page is; false when
 * it stopped, or a signal came, first.
 */
static bool wait_until_ready(demo_t *demo) {
        int64_t give_up = monotonic_ms() + START_TIMEOUT_MS;
        fprintf(stderr,
                "backlogd demo: starting the pipeline on librdkafka's mock cluster %s (joining its consumer "
                "group takes about 3 s)\n",
                bl_mock_bootstraps(demo->mock));
        while (bl_metric_value(demo->restore_seconds) < 0) {
                if (interrupted || atomic_load(&demo->pipeline.finished))
                        return false;
                if (monotonic_ms() >= give_up) {
                        fprintf(stderr, "backlogd demo: the pipeline got no partitions in %d s\n",
                                START_TIMEOUT_MS / 1000);
                        return false;
                }
                sleep_ms(50);
        }
        print_status_page_address(demo);
        return true;
}

static bool start_traffic(demo_t *demo) {
        char errstr[512];
        demo->traffic = bl_traffic_start(demo->config, demo->opts.seed, demo->opts.rate,
                                         (int64_t)(demo->opts.duration_s * 1000), errstr, sizeof(errstr));
        if (!demo->traffic) {
                fprintf(stderr, "backlogd demo: producers: %s\n", errstr);
                return false;
        }
        demo->started_ms = monotonic_ms();
        return true;
}

/* ---- running and stopping ---------------------------------------------------------------- */

static void fill_frame(const demo_t *demo, bl_view_frame_t *frame) {
        memset(frame, 0, sizeof(*frame));
        frame->elapsed_s = (double)((demo->ended_ms ? demo->ended_ms : monotonic_ms()) - demo->started_ms) / 1000.0;
        frame->duration_s = demo->opts.duration_s;
        frame->seed = demo->opts.seed;
        frame->rate = demo->opts.rate;
        frame->partitions = DEMO_PARTITIONS;
        frame->slow_max_lag = demo->slow_max_lag;
        frame->bootstraps = bl_mock_bootstraps(demo->mock);
        if (demo->traffic)
                bl_traffic_stats(demo->traffic, &frame->traffic);
        bl_demo_agent_stats(demo->agent, &frame->agent);
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++)
                if (demo->workers[d])
                        bl_workers_stats(demo->workers[d], &frame->workers[d]);
}

static void run_until_done(demo_t *demo) {
        int64_t deadline = demo->started_ms + (int64_t)(demo->opts.duration_s * 1000);
        int64_t next_draw = demo->started_ms + DRAW_INTERVAL_MS;
        bl_view_frame_t frame;
        while (!interrupted && !atomic_load(&demo->pipeline.finished)) {
                int64_t now = monotonic_ms();
                if (now >= deadline)
                        break;
                bl_view_sample(demo->view, now);
                if (now >= next_draw) {
                        fill_frame(demo, &frame);
                        bl_view_draw(demo->view, &frame);
                        next_draw += DRAW_INTERVAL_MS;
                }
                sleep_ms(deadline - now < SAMPLE_INTERVAL_MS ? deadline - now : SAMPLE_INTERVAL_MS);
        }
}

/*
 * Producers first (nothing new arrives), then the workers; once the pipeline
 * has taken in their last results and counted its backlog again, the
 * pipeline (it commits and leaves its group, as on SIGTERM). The summary's
 * backlog then agrees with what the workers did.
 */
static int stop_all(demo_t *demo) {
        int status = BL_EXIT_OK;
        bl_traffic_stats_t traffic = {0};
        bl_workers_stats_t workers;
        bl_traffic_stop(demo->traffic);
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++)
                bl_workers_stop(demo->workers[d]);
        if (demo->traffic && demo->pipeline.started && !atomic_load(&demo->pipeline.finished)) {
                uint64_t results_sent = 0, events_in, results_in;
                int64_t give_up = monotonic_ms() + SETTLE_TIMEOUT_MS;
                bl_traffic_stats(demo->traffic, &traffic);
                for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                        bl_workers_stats(demo->workers[d], &workers);
                        results_sent += workers.delivered;
                }
                do {
                        sleep_ms(50);
                        bl_view_consumed(demo->view, &events_in, &results_in);
                } while ((events_in < traffic.delivered || results_in < results_sent) && monotonic_ms() < give_up);
                sleep_ms(CENSUS_WAIT_MS);
        }
        if (demo->pipeline.started) {
                demo->pipeline.stop = 1;
                pthread_join(demo->pipeline.thread, NULL);
                demo->pipeline.started = false;
                status = demo->pipeline.status ? BL_EXIT_FAILURE : BL_EXIT_OK;
        }
        return status;
}

static bool count_dead_letter(const rd_kafka_message_t *message, void *opaque) {
        uint64_t *counts = opaque;
        rd_kafka_headers_t *headers = NULL;
        const void *value;
        size_t size;
        char name[64];
        if (rd_kafka_message_headers(message, &headers) || !headers ||
            rd_kafka_header_get_last(headers, "dlq.reason", &value, &size) || size >= sizeof(name))
                return true;
        memcpy(name, value, size);
        name[size] = '\0';
        counts[bl_reason_parse(name)]++;
        return true;
}

/* backlog.dlq read back by reason: what the DLQ holds, not what the pipeline counted. */
static bool read_back_dlq(const demo_t *demo, uint64_t counts[BL_REASON__COUNT]) {
        char errstr[512], *topic = bl_config_topic_name(demo->config, "backlog.dlq");
        bl_reader_t *reader = topic ? bl_reader_new(demo->config, errstr, sizeof(errstr)) : NULL;
        bl_err_t err = reader ? bl_reader_scan(reader, topic, NULL, 0, count_dead_letter, counts, READ_BACK_TIMEOUT_MS,
                                               errstr, sizeof(errstr))
                              : BL_ERR_NOMEM;
        if (err)
                bl_log_warn("demo", "reading backlog.dlq back: %s; the summary gives the pipeline's counts",
                            reader ? errstr : "out of memory");
        bl_reader_destroy(reader);
        free(topic);
        return err == BL_OK;
}

static void close_all(demo_t *demo) {
        bl_traffic_destroy(demo->traffic);
        if (demo->pipeline.started) {
                demo->pipeline.stop = 1;
                pthread_join(demo->pipeline.thread, NULL);
        }
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++)
                bl_workers_destroy(demo->workers[d]);
        bl_view_destroy(demo->view);
        bl_metrics_destroy(demo->registry); /* after the pipeline, which fills it */
        bl_config_destroy(demo->config);
        bl_mock_destroy(demo->mock); /* after every client of it */
        bl_demo_agent_stop(demo->agent); /* after the pipeline, which consults it */
        if (*demo->policy_path)
                unlink(demo->policy_path);
        if (*demo->scratch_dir)
                rmdir(demo->scratch_dir);
}

static void install_signal_handlers(void) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGINT, &action, NULL);
}

int bl_cmd_demo(int argc, char **argv) {
        demo_t demo;
        bl_view_frame_t frame;
        bl_view_outcome_t outcome;
        int status;
        memset(&demo, 0, sizeof(demo));
        demo.opts.duration_s = 30;
        demo.opts.rate = 200;
        demo.opts.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
        status = parse_options(argc, argv, &demo.opts);
        if (status)
                return status < 0 ? BL_EXIT_OK : status;
        install_signal_handlers();
        if (!write_policy(&demo) || !start_all(&demo) || !wait_until_ready(&demo) || !start_traffic(&demo)) {
                stop_all(&demo);
                close_all(&demo);
                if (interrupted)
                        fprintf(stderr, "backlogd demo: stopped before the producers started\n");
                return interrupted ? BL_EXIT_OK : BL_EXIT_FAILURE;
        }
        run_until_done(&demo);
        demo.ended_ms = monotonic_ms();
        bl_view_sample(demo.view, demo.ended_ms);
        memset(&outcome, 0, sizeof(outcome));
        outcome.interrupted = interrupted != 0;
        if (atomic_load(&demo.pipeline.finished))
                fprintf(stderr, "backlogd demo: the pipeline stopped on its own (see its log lines above)\n");
        status = stop_all(&demo);
        outcome.pipeline_status = demo.pipeline.status;
        fill_frame(&demo, &frame);
        bl_view_draw(demo.view, &frame);
        outcome.dlq_read_back = read_back_dlq(&demo, outcome.dlq);
        bl_view_summary(demo.view, &frame, &outcome, stdout, demo.opts.json);
        close_all(&demo);
        return status;
}
