/*
 * bench/restore.c: how fast an instance restores its backlog from
 * backlog.state on a real broker, in items per second.
 *
 * Set-up: a compacted topic <prefix>backlog.state with P partitions, filled
 * with N BacklogItem snapshots that look like a working backlog (every
 * state that lasts, labels, dependencies, event ids for de-duplication, a
 * payload of B bytes), encoded with the pipeline's encoder (bl_records_item,
 * file registry), keyed by task_id on the partition murmur2 gives the key,
 * produced in transactions of FILL_TXN_RECORDS as `backlogd run` does. The
 * runs start once the last commit markers are on every partition, so that
 * read_committed readers see every record.
 *
 * Measured, R runs, each run both ways on the same topic one after the
 * other, so that the noise of a shared machine hits both alike:
 *   (a) baseline: a plain consumer with the reader's settings
 *       (read_committed, queued.min.messages=1000000, ...) reading every
 *       partition to its end in batches of 1,000 as the reader does and
 *       touching each key and value byte, nothing decoded: what the broker
 *       and librdkafka cost;
 *   (b) restore as src/pipeline/restore.c does it: bl_reader_scan over all
 *       partitions, bl_records_decode_item, bl_backlog_restore into a fresh
 *       backlog, then bl_backlog_restore_finish.
 * Printed per run and as the median: items/s of both, the ratio (b)/(a),
 * the time of restore_finish alone, the memory the restored backlog holds
 * per item, the time to drop every partition again (what an abort or a
 * revocation costs before the re-restore), and the CPU time per item of (a)
 * and (b) (the process's, librdkafka's threads included, and for (b) the
 * restoring thread's alone: steadier than items/s on a shared machine).
 * Memory is the VmRSS growth
 * across (b) and the bytes in use of the main malloc arena (where the backlog is
 * built) and of malloc's mapped chunks (0 under a sanitizer's allocator), both after malloc_trim so that
 * the fetch buffers librdkafka freed do not count. Then one JSON line.
 *
 * --offline needs no broker: the same snapshots encoded in memory, then
 * decoded and restored into a fresh backlog three ways, avro-c's generic read
 * and the direct one (bl_records_decode_item_generic, bl_records_decode_item)
 * into whole items, and the direct one into frozen stubs over a spill file
 * in $TMPDIR ("spill"), R runs each: items/s, the thread's CPU per item, the
 * heap per item and the time to drop the 6 partitions afterwards.
 *
 * Each run restores twice after its baseline: into whole items, then into
 * frozen stubs over a spill file in $TMPDIR (core/frozen.h, store/spill.h:
 * what `backlogd run` does with backlog.spill_enabled), a "spill" line each.
 *
 * Performance is measured, not asserted: nothing here fails on a slow
 * figure, only on wrong data (a count that is not N, a record that does not
 * decode). The topic is deleted at the end unless --keep, also after a
 * failure or ^C. Main thread only (librdkafka's threads aside).
 */
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_backlog.h"
#include "pipeline/spill_glue.h"
#include "bench_kafka.h"
#include "contract/records.h"
#include "contract/source.h"
#include "core/backlog.h"
#include "core/frozen.h"
#include "store/spill.h"
#include "kafka/client.h"
#include "kafka/reader.h"
#include "ops/config.h"
#include "base/log.h"

#define FILL_TXN_RECORDS 10000 /* records per fill transaction */
#define TXN_TIMEOUT_MS 60000
#define PROBE_TIMEOUT_MS 10000
#define TOPIC_READY_TIMEOUT_MS 30000
#define SCAN_TIMEOUT_MS 30000
#define BASELINE_BATCH 1000 /* records per consume call, as src/kafka/reader.c takes them */
#define BASE_TIME_MS INT64_C(1767225600000) /* 2026-01-01: the snapshots' "now" */

static volatile sig_atomic_t interrupted;

static void on_signal(int signo) {
        (void)signo;
        interrupted = 1;
}

/* ---- options ------------------------------------------------------------------ */

typedef bench_broker_options_t options_t;

static void usage(FILE *out) {
        fprintf(out,
                "Usage: bench_restore [options]\n"
                "\n"
                "Fills <prefix>backlog.state on a Kafka broker with BacklogItem snapshots and\n"
                "measures how fast they are restored, against a plain consumer reading the same\n"
                "topic. Start the test broker first: scripts/testenv.sh start kafka\n"
                "\n"
                "Options:\n"
                "      --bootstrap HOST:PORT  broker (default 127.0.0.1:19092)\n"
                "      --items N              snapshots to write and restore (default 1000000)\n"
                "      --partitions P         partitions of the topic (default 6)\n"
                "      --payload-bytes B      payload per item (default 200)\n"
                "      --runs R               measured runs, baseline and restore each (default 3)\n"
                "      --keep                 leave the topic on the broker\n"
                "      --topic-prefix PREFIX  (default bench-<pid>-)\n"
                "      --offline              no broker: the same snapshots encoded in memory, decoded and\n"
                "                             restored three ways (avro-c's generic read, the direct one, the\n"
                "                             direct one into frozen stubs over a spill file)\n"
                "      --way WAY              with --offline, only that way: generic, direct or spill\n"
                "  -h, --help                 this help\n");
}

/* The ways --offline restores: avro-c's generic read, the direct one, the direct one into frozen stubs. */
enum { WAY_GENERIC, WAY_DIRECT, WAY_SPILL, WAY__COUNT };
static const char *const way_names[WAY__COUNT] = {"generic", "direct", "spill"};

static bool offline;         /* --offline */
static int only_way = -1;    /* --way: the one way --offline runs (for a profile); -1: all */

static int take_option(int val, const char *arg, void *opaque) {
        (void)opaque;
        if (val == 256)
                offline = true;
        if (val == 257) {
                for (int w = 0; w < WAY__COUNT; w++)
                        if (!strcmp(arg, way_names[w]))
                                only_way = w;
                if (only_way < 0) {
                        fprintf(stderr, "bench_restore: --way takes generic, direct or spill, not %s\n", arg);
                        return 2;
                }
        }
        return 0;
}

/* 0 when the options are usable, -1 after --help, 2 on a usage error. */
static int parse_options(int argc, char **argv, options_t *o) {
        static const struct option extra[] = {{"offline", no_argument, NULL, 256},
                                              {"way", required_argument, NULL, 257},
                                              {NULL, 0, NULL, 0}};
        static const bench_broker_defaults_t defaults = {"bench_restore", "items", 1000000, "bench-", usage,
                                                         extra, take_option, NULL};
        return bench_parse_broker_options(argc, argv, &defaults, o);
}

/* ---- clocks, memory, statistics ---------------------------------------------- */

/* CPU seconds, user and system, of every thread of the process so far (librdkafka's included). */
static double process_cpu_s(void) {
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
               (double)usage.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the calling thread so far. */
static double thread_cpu_s(void) {
        struct timespec now;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/*
 * Bytes in use in the main malloc arena, where the main thread, so the backlog, allocates, and in the chunks
 * malloc mapped on their own (the index's arrays, the stubs' blocks: left out before issue 18's stub arena).
 */
static size_t heap_in_use(void) {
        struct mallinfo2 info = mallinfo2();
        return info.uordblks + info.hblkhd;
}

/* ---- synthetic snapshots --------------------------------------------------------- */

static bool rng_chance(rng_t *rng, unsigned per_mille) {
        return rng_below(rng, 1000) < per_mille;
}

/* Task ids are unique (splitmix64 is a bijection) and look like hashes, as real ids do. */
static void task_id_of(uint64_t index, char *out, size_t out_size) {
        snprintf(out, out_size, "task-%016" PRIx64, splitmix64(index ^ 0x5EED));
}

static const char *const domains[] = {"data_prep", "inference", "evaluation", "remediation"};
static const char *const task_types[][3] = {{"feature_build", "dedupe", "tokenize"},
                                            {"batch_score", "embed", "rerank"},
                                            {"offline_eval", "drift_check", "bias_audit"},
                                            {"retrain", "rollback", "label_fix"}};
static const char *const sla_classes[] = {"standard", "standard", "gold", "bronze"};
static const char *const teams[] = {"search", "ads", "fraud", "vision", "speech", "ranking"};
static const char *const models[] = {"resnet-50", "bert-base", "xgb-v7", "llama-8b", "clip-vit", "gbdt-2"};
static const char *const error_codes[] = {"worker.oom", "worker.timeout", "upstream.5xx"};

/* States with their share in per mille: a backlog in steady state. FAILED is transient, never at rest. */
static const struct {
        bl_state_t state;
        unsigned per_mille;
} state_mix[] = {
        {BL_STATE_QUEUED, 30},     {BL_STATE_BLOCKED, 150},  {BL_STATE_READY, 400},
        {BL_STATE_DISPATCHED, 80}, {BL_STATE_RUNNING, 120},  {BL_STATE_RETRY_WAIT, 50},
        {BL_STATE_COMPLETED, 120}, {BL_STATE_DEAD, 20},      {BL_STATE_CANCELLED, 20},
        {BL_STATE_EXPIRED, 10},
};

static bl_state_t pick_state(rng_t *rng) {
        uint64_t roll = rng_below(rng, 1000);
        for (size_t i = 0; i < sizeof(state_mix) / sizeof(state_mix[0]); i++) {
                if (roll < state_mix[i].per_mille)
                        return state_mix[i].state;
                roll -= state_mix[i].per_mille;
        }
        return BL_STATE_READY;
}

static bool push_event_ids(bl_item_t *item, rng_t *rng, size_t count) {
        char id[64];
        for (size_t i = 0; i < count; i++) {
                uint64_t a = rng_next(rng), b = rng_next(rng);
                snprintf(id, sizeof(id), "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
                         (uint32_t)a, (uint32_t)(a >> 32) & 0xffff, (uint32_t)(a >> 48) & 0xfff,
                         (uint32_t)b & 0xffff, b >> 16);
                if (!bl_item_remember_event(item, id, count))
                        return false;
        }
        return true;
}

/* Event ids a task in @p state has applied: its submission, then starts, heartbeats, results. */
static size_t event_count(bl_state_t state, rng_t *rng) {
        switch (state) {
        case BL_STATE_QUEUED:
        case BL_STATE_BLOCKED:
        case BL_STATE_READY:
        case BL_STATE_DISPATCHED: return 1 + rng_below(rng, 2);
        case BL_STATE_RUNNING: return 2 + rng_below(rng, 11);
        case BL_STATE_RETRY_WAIT: return 3 + rng_below(rng, 6);
        default: return 3 + rng_below(rng, 14);
        }
}

/* The snapshot of task @p index of @p total: the same for the same index on every run. */
static bl_item_t *make_item(uint64_t index, uint64_t total, size_t payload_bytes) {
        rng_t rng = {splitmix64(index * 0x100000001B3ULL + 7)};
        char task_id[32], text[160];
        bl_state_t state = pick_state(&rng);
        size_t domain = (size_t)rng_below(&rng, 4);
        bool terminal = bl_state_is_terminal(state);
        bool placeholder = state == BL_STATE_QUEUED && rng_chance(&rng, 150); /* 0.45% of items */
        const char *tenant = NULL;
        bl_item_t *item;
        bl_item_cold_t *cold; /* every item here has labels or dependents */
        bool ok = true;

        task_id_of(index, task_id, sizeof(task_id));
        if (!(item = bl_item_new(task_id, -1)))
                return NULL;
        if (!(cold = bl_item_cold_for_write(item))) {
                bl_item_destroy(item);
                return NULL;
        }
        item->state = state;
        item->placeholder = placeholder;
        item->seq = 1 + (int64_t)rng_below(&rng, terminal ? 30 : 8);
        item->submitted_at_ms = BASE_TIME_MS - (int64_t)rng_below(&rng, 7 * 86400000ULL);
        item->state_since_ms = item->submitted_at_ms + (int64_t)rng_below(&rng, 3600000);
        if (placeholder) {
                item->seq = 1;
                for (size_t i = 0, n = 1 + (size_t)rng_below(&rng, 3); i < n && ok; i++) {
                        task_id_of(rng_below(&rng, total), text, sizeof(text));
                        ok = bl_strvec_push(&cold->dependents, text);
                }
                if (ok)
                        return item;
                bl_item_destroy(item);
                return NULL;
        }
        const char *task_type = task_types[domain][rng_below(&rng, 3)];
        const char *sla_class = sla_classes[rng_below(&rng, 4)];
        if (rng_chance(&rng, 800)) {
                snprintf(text, sizeof(text), "tenant-%03u", (unsigned)rng_below(&rng, 200));
                tenant = text;
        }
        ok = bl_item_set_kind(item, task_type, domains[domain], tenant, sla_class);
        item->business_value = rng_unit(&rng);
        item->risk = rng_unit(&rng);
        if (rng_chance(&rng, 300))
                item->max_attempts = 3 + (int32_t)rng_below(&rng, 3);
        switch (state) {
        case BL_STATE_QUEUED:
        case BL_STATE_BLOCKED: item->attempt = 0; break;
        case BL_STATE_READY: item->attempt = rng_chance(&rng, 100) ? 1 + (int32_t)rng_below(&rng, 2) : 0; break;
        default: item->attempt = 1 + (int32_t)rng_below(&rng, 3); break;
        }
        if (rng_chance(&rng, 600))
                item->deadline_ms = item->submitted_at_ms + 3600000 + (int64_t)rng_below(&rng, 2 * 86400000ULL);
        if (rng_chance(&rng, 500))
                item->data_ready_at_ms = item->submitted_at_ms - (int64_t)rng_below(&rng, 86400000ULL);
        if (state == BL_STATE_BLOCKED && rng_chance(&rng, 300))
                item->not_before_ms = BASE_TIME_MS + (int64_t)rng_below(&rng, 86400000ULL);
        if (state == BL_STATE_READY) /* record_change clears it as a task leaves READY */
                item->ready_since_ms = item->state_since_ms - (int64_t)rng_below(&rng, 600000);
        if (state == BL_STATE_DISPATCHED || state == BL_STATE_RUNNING)
                item->lease_expires_at_ms = item->state_since_ms + 300000;
        if (state == BL_STATE_RETRY_WAIT)
                item->retry_at_ms = item->state_since_ms + 1000 * (int64_t)(1 + rng_below(&rng, 120));
        if (terminal)
                item->terminal_at_ms = item->state_since_ms;

        /* dependencies: most tasks have none, some wait on one to three others */
        uint64_t roll = rng_below(&rng, 100);
        size_t deps = roll < 60 ? 0 : roll < 85 ? 1 : 2 + (size_t)rng_below(&rng, 2);
        for (size_t i = 0; i < deps && ok; i++) {
                task_id_of(rng_below(&rng, total), text, sizeof(text));
                ok = bl_strvec_push(&cold->depends_on, text) &&
                     (state != BL_STATE_BLOCKED || bl_strvec_push(&cold->pending_deps, text));
        }
        if (ok && rng_chance(&rng, 100))
                for (size_t i = 0, n = 1 + (size_t)rng_below(&rng, 2); i < n && ok; i++) {
                        task_id_of(rng_below(&rng, total), text, sizeof(text));
                        ok = bl_strvec_push(&cold->dependents, text);
                }
        if (rng_chance(&rng, 50)) {
                item->approval_required = true;
                item->approved = state != BL_STATE_QUEUED && state != BL_STATE_BLOCKED;
        }

        /* labels: two to four */
        size_t labels = 2 + (size_t)rng_below(&rng, 3);
        static const char *const label_keys[] = {"team", "model", "env", "priority"};
        char label_texts[4][32];
        const char *label_values[4];
        for (size_t i = 0; i < labels; i++) {
                switch (i) {
                case 0: snprintf(label_texts[i], sizeof(label_texts[i]), "%s", teams[rng_below(&rng, 6)]); break;
                case 1: snprintf(label_texts[i], sizeof(label_texts[i]), "%s", models[rng_below(&rng, 6)]); break;
                case 2:
                        snprintf(label_texts[i], sizeof(label_texts[i]), "%s",
                                 rng_chance(&rng, 900) ? "prod" : "staging");
                        break;
                default: snprintf(label_texts[i], sizeof(label_texts[i]), "p%u", (unsigned)rng_below(&rng, 4)); break;
                }
                label_values[i] = label_texts[i];
        }
        ok = ok && bl_labels_set(&cold->labels, label_keys, label_values, labels);

        /* the payload handed to the worker: opaque bytes */
        if (ok) {
                item->has_payload = true;
                item->payload_size = (uint32_t)payload_bytes;
                ok = (item->payload = malloc(payload_bytes ? payload_bytes : 1)) != NULL;
                for (size_t i = 0; ok && i < payload_bytes; i += 8) {
                        uint64_t word = rng_next(&rng);
                        size_t chunk_bytes = payload_bytes - i < 8 ? payload_bytes - i : 8;
                        memcpy((unsigned char *)item->payload + i, &word, chunk_bytes);
                }
        }
        if (ok && rng_chance(&rng, 800)) {
                snprintf(text, sizeof(text), "00-%016" PRIx64 "%016" PRIx64 "-%016" PRIx64 "-01", rng_next(&rng),
                         rng_next(&rng), rng_next(&rng));
                ok = bl_item_replace_text(&cold->traceparent, text);
        }
        if (ok && (state == BL_STATE_RETRY_WAIT || state == BL_STATE_DEAD || item->attempt > 1)) {
                size_t code = (size_t)rng_below(&rng, 3);
                cold->has_last_error = true;
                cold->error_retryable = state != BL_STATE_DEAD;
                ok = bl_item_replace_text(&cold->error_code, error_codes[code]) &&
                     bl_item_replace_text(&cold->error_message,
                                          code == 0   ? "container killed: memory limit 8Gi exceeded"
                                          : code == 1 ? "no heartbeat for 300 s"
                                                      : "model server answered 503 Service Unavailable");
        }
        ok = ok && push_event_ids(item, &rng, event_count(state, &rng));
        if (ok)
                return item;
        bl_item_destroy(item);
        return NULL;
}

/* ---- Kafka plumbing ---------------------------------------------------------------- */

typedef struct quiet_s {
        char last_error[512];
        bool all_brokers_down;
} quiet_t;

/* For the probe handle: librdkafka's complaints are kept for one clear message instead of logged. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
        (void)rk, (void)level, (void)facility, (void)message;
}

static void quiet_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        quiet_t *quiet = opaque;
        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                quiet->all_brokers_down = true;
        else
                snprintf(quiet->last_error, sizeof(quiet->last_error), "%s", reason);
}

/* A handle for admin requests and the reachability probe, which logs nothing itself. */
static rd_kafka_t *admin_new(const bl_config_t *config, quiet_t *quiet, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = bl_kafka_conf_new(config, NULL, errstr, errstr_size);
        if (!conf)
                return NULL;
        rd_kafka_conf_set_log_cb(conf, quiet_log);
        rd_kafka_conf_set_error_cb(conf, quiet_error);
        rd_kafka_conf_set_opaque(conf, quiet);
        return bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
}

/* The broker answers metadata requests; else a clear message, as soon as librdkafka gives up on it. */
static bool probe_broker(rd_kafka_t *admin, const char *bootstrap, quiet_t *quiet) {
        double deadline = now_s() + PROBE_TIMEOUT_MS / 1000.0;
        rd_kafka_resp_err_t err;
        do {
                const struct rd_kafka_metadata *metadata = NULL;
                err = rd_kafka_metadata(admin, 0, NULL, &metadata, 1000);
                if (metadata)
                        rd_kafka_metadata_destroy(metadata);
                rd_kafka_poll(admin, 0); /* serves error_cb */
        } while (err && !quiet->all_brokers_down && !interrupted && now_s() < deadline);
        if (!err)
                return true;
        fprintf(stderr,
                "bench_restore: cannot reach a Kafka broker at %s: %s%s%s\n"
                "bench_restore: start the test broker with scripts/testenv.sh start kafka, or pass --bootstrap\n",
                bootstrap, rd_kafka_err2str(err), *quiet->last_error ? "; " : "", quiet->last_error);
        return false;
}

/* Waits for the admin result event of type @p expected; NULL with errstr. */
static rd_kafka_event_t *admin_result(rd_kafka_queue_t *queue, rd_kafka_event_type_t expected, char *errstr,
                                      size_t errstr_size) {
        rd_kafka_event_t *event = rd_kafka_queue_poll(queue, TOPIC_READY_TIMEOUT_MS + 5000);
        if (!event) {
                snprintf(errstr, errstr_size, "no answer from the broker");
                return NULL;
        }
        if (rd_kafka_event_type(event) != expected || rd_kafka_event_error(event)) {
                snprintf(errstr, errstr_size, "%s",
                         rd_kafka_event_error(event) ? rd_kafka_event_error_string(event) : "unexpected event");
                rd_kafka_event_destroy(event);
                return NULL;
        }
        return event;
}

static bool create_topic(rd_kafka_t *admin, const char *topic, int32_t partitions, char *errstr, size_t errstr_size) {
        rd_kafka_NewTopic_t *spec = rd_kafka_NewTopic_new(topic, partitions, -1, errstr, errstr_size);
        rd_kafka_queue_t *queue = rd_kafka_queue_new(admin);
        rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_event_t *event = NULL;
        bool ok = false;
        if (spec && rd_kafka_NewTopic_set_config(spec, "cleanup.policy", "compact") == RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_AdminOptions_set_operation_timeout(options, TOPIC_READY_TIMEOUT_MS, NULL, 0);
                rd_kafka_CreateTopics(admin, &spec, 1, options, queue);
                event = admin_result(queue, RD_KAFKA_EVENT_CREATETOPICS_RESULT, errstr, errstr_size);
        }
        if (event) {
                size_t count;
                const rd_kafka_topic_result_t **results =
                        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
                rd_kafka_resp_err_t err =
                        count == 1 ? rd_kafka_topic_result_error(results[0]) : RD_KAFKA_RESP_ERR__FAIL;
                ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
                if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                        snprintf(errstr, errstr_size,
                                 "topic %s already exists (left by a --keep run?): delete it or pass another "
                                 "--topic-prefix", topic);
                else if (!ok)
                        snprintf(errstr, errstr_size, "creating %s: %s", topic,
                                 count == 1 && rd_kafka_topic_result_error_string(results[0])
                                         ? rd_kafka_topic_result_error_string(results[0])
                                         : rd_kafka_err2str(err));
                rd_kafka_event_destroy(event);
        }
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_queue_destroy(queue);
        if (spec)
                rd_kafka_NewTopic_destroy(spec);
        return ok;
}

/* Metadata shows @p topic with @p partitions partitions, each with a leader. */
static bool await_topic(rd_kafka_t *admin, const char *topic, int32_t partitions) {
        double deadline = now_s() + TOPIC_READY_TIMEOUT_MS / 1000.0;
        rd_kafka_topic_t *handle = rd_kafka_topic_new(admin, topic, NULL);
        bool ready = false;
        while (!ready && !interrupted && now_s() < deadline) {
                const struct rd_kafka_metadata *metadata = NULL;
                if (!rd_kafka_metadata(admin, 0, handle, &metadata, 5000) && metadata->topic_cnt == 1 &&
                    !metadata->topics[0].err && metadata->topics[0].partition_cnt == partitions) {
                        ready = true;
                        for (int i = 0; i < partitions; i++)
                                ready = ready && metadata->topics[0].partitions[i].leader >= 0;
                }
                if (metadata)
                        rd_kafka_metadata_destroy(metadata);
                if (!ready)
                        usleep(100000);
        }
        rd_kafka_topic_destroy(handle);
        return ready;
}

static void delete_topic(rd_kafka_t *admin, const char *topic) {
        char errstr[512];
        rd_kafka_DeleteTopic_t *spec = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_queue_t *queue = rd_kafka_queue_new(admin);
        rd_kafka_event_t *event;
        rd_kafka_DeleteTopics(admin, &spec, 1, NULL, queue);
        event = admin_result(queue, RD_KAFKA_EVENT_DELETETOPICS_RESULT, errstr, sizeof(errstr));
        if (event) {
                size_t count;
                const rd_kafka_topic_result_t **results =
                        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count);
                if (count == 1 && rd_kafka_topic_result_error(results[0]))
                        snprintf(errstr, sizeof(errstr), "%s",
                                 rd_kafka_err2str(rd_kafka_topic_result_error(results[0])));
                else
                        errstr[0] = '\0';
                rd_kafka_event_destroy(event);
        }
        if (*errstr)
                fprintf(stderr, "bench_restore: could not delete %s: %s\n", topic, errstr);
        else
                fprintf(stderr, "bench_restore: deleted %s\n", topic);
        rd_kafka_DeleteTopic_destroy(spec);
        rd_kafka_queue_destroy(queue);
}

/* ---- fill ---------------------------------------------------------------------------- */

typedef struct fill_stats_s {
        double seconds;
        size_t value_bytes;
        size_t transactions;
        size_t states[BL_STATE__COUNT];
        int64_t *end_offsets;  /* per partition: records written plus one commit marker per transaction */
        bool *in_transaction;  /* per partition: written to in the open transaction */
} fill_stats_t;

static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        size_t *failures = opaque;
        (void)rk;
        if (message->err && (*failures)++ == 0 && !interrupted) /* an interrupted fill aborts: purged, not failed */
                fprintf(stderr, "bench_restore: delivery failed: %s\n", rd_kafka_err2str(message->err));
}

/*
 * Writes the N snapshots as `backlogd run` writes them: encoded by the
 * pipeline's encoder, copied into the producer, on the murmur2 partition of
 * the key, FILL_TXN_RECORDS per transaction.
 */
static bool fill(const bl_config_t *config, bl_records_t *records, const options_t *o, const char *topic,
                 fill_stats_t *stats, char *errstr, size_t errstr_size) {
        char transactional_id[64];
        size_t failures = 0;
        snprintf(transactional_id, sizeof(transactional_id), "bench-restore-%d", (int)getpid());
        const char *overrides[] = {"partitioner", "murmur2_random", "linger.ms", "5", NULL};
        bl_txn_settings_t settings = {.transactional_id = transactional_id,
                                      .init_timeout_ms = TXN_TIMEOUT_MS,
                                      .overrides = overrides,
                                      .delivered = delivery_report,
                                      .opaque = &failures};
        bl_txn_result_t result;
        bl_txn_producer_t *producer = bl_txn_producer_new(config, &settings, &result);
        bool ok = true, in_transaction = false;
        double started = now_s();
        if (!producer) {
                snprintf(errstr, errstr_size, "%s", result.reason);
                return false;
        }
        for (size_t i = 0; ok && i < o->count; i++) {
                bl_item_t *item = make_item(i, o->count, o->payload_bytes);
                const void *value;
                size_t size;
                rd_kafka_resp_err_t err;
                if (interrupted) {
                        snprintf(errstr, errstr_size, "interrupted");
                        ok = false;
                        break;
                }
                if (!item) {
                        snprintf(errstr, errstr_size, "out of memory");
                        ok = false;
                        break;
                }
                if (bl_records_item(records, item, true, &value, &size) != BL_OK) {
                        snprintf(errstr, errstr_size, "encoding %s: %s", item->task_id,
                                 bl_records_last_error(records));
                        bl_item_destroy(item);
                        ok = false;
                        break;
                }
                if (!in_transaction) {
                        ok = bench_txn_done(bl_txn_producer_begin(producer), errstr, errstr_size);
                        in_transaction = ok;
                }
                int32_t partition = bl_reader_partition_for_key(item->task_id, o->partitions);
                stats->end_offsets[partition]++;
                stats->in_transaction[partition] = true;
                bl_txn_message_t message = {.topic = topic,
                                            .partition = partition,
                                            .key = item->task_id,
                                            .key_size = strlen(item->task_id),
                                            .value = value,
                                            .value_size = size};
                if (ok && (err = bl_txn_producer_send(producer, &message))) {
                        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
                        ok = false;
                }
                stats->value_bytes += size;
                stats->states[item->state]++;
                bl_item_destroy(item);
                rd_kafka_poll(bl_txn_producer_handle(producer), 0);
                if (ok && ((i + 1) % FILL_TXN_RECORDS == 0 || i + 1 == o->count)) {
                        ok = bench_txn_done(bl_txn_producer_commit(producer, NULL, NULL, NULL, TXN_TIMEOUT_MS), errstr,
                                            errstr_size);
                        in_transaction = false;
                        stats->transactions++;
                        for (int32_t p = 0; p < o->partitions; p++) {
                                stats->end_offsets[p] += stats->in_transaction[p]; /* the commit marker */
                                stats->in_transaction[p] = false;
                        }
                        if (ok && isatty(STDERR_FILENO))
                                fprintf(stderr, "\rfill: %zu / %zu", i + 1, o->count);
                }
        }
        if (isatty(STDERR_FILENO))
                fprintf(stderr, "\n");
        if (in_transaction)
                bl_txn_producer_abort(producer, TXN_TIMEOUT_MS);
        if (ok && failures) {
                snprintf(errstr, errstr_size, "%zu records were not delivered", failures);
                ok = false;
        }
        stats->seconds = now_s() - started;
        bl_txn_producer_destroy(producer, !ok);
        return ok;
}

/*
 * Waits until every partition's end offset counts the commit marker of the
 * last transaction; seconds waited, or < 0 on timeout. commit_transaction
 * returns before the coordinator has written the markers: until then a
 * read_committed reader ends a partition at its last stable offset, before
 * the last transaction's records (seen here as whole partitions missing for
 * 40 to 60 ms after the commit).
 */
static double await_markers(rd_kafka_t *admin, const char *topic, int32_t partitions, const int64_t *end_offsets) {
        double started = now_s();
        for (int32_t p = 0; p < partitions && !interrupted; p++) {
                int64_t low, high = -1;
                while (!interrupted && (rd_kafka_query_watermark_offsets(admin, topic, p, &low, &high, 5000) ||
                                        high < end_offsets[p])) {
                        if (now_s() - started > TOPIC_READY_TIMEOUT_MS / 1000.0)
                                return -1;
                        usleep(5000);
                }
        }
        return now_s() - started;
}

/* ---- (a) baseline: a plain consumer, nothing decoded ------------------------------- */

typedef struct baseline_s {
        size_t records;
        double cpu_seconds; /* the process's, over the read */
        uint64_t checksum; /* of every key and value byte: they are read, as decoding would */
} baseline_t;

static void touch(baseline_t *base, const rd_kafka_message_t *message) {
        const unsigned char *key = message->key, *value = message->payload;
        uint64_t sum = 0;
        for (size_t i = 0; i < message->key_len; i++)
                sum += key[i];
        for (size_t i = 0; i < message->len; i++)
                sum += value[i];
        base->checksum += sum;
        base->records++;
}

/* Reads every partition to its read_committed end with the reader's settings; seconds, or < 0 with errstr. */
static double run_baseline(const bl_config_t *config, const char *topic, int32_t partitions, baseline_t *base,
                           char *errstr, size_t errstr_size) {
        char group[64];
        snprintf(group, sizeof(group), "bench-restore-baseline-%d", (int)getpid());
        /* the same properties as src/kafka/reader.c */
        const char *overrides[] = {"group.id", group,
                                   "enable.partition.eof", "true",
                                   "fetch.wait.max.ms", "10",
                                   "enable.auto.commit", "false",
                                   "isolation.level", "read_committed",
                                   "queued.min.messages", "1000000",
                                   "queued.max.messages.kbytes", "131072",
                                   NULL};
        rd_kafka_t *consumer = bl_kafka_new(RD_KAFKA_CONSUMER, config, overrides, errstr, errstr_size);
        rd_kafka_topic_partition_list_t *list;
        int32_t at_end = 0;
        int idle_ms = 0;
        double started, seconds = -1;
        if (!consumer)
                return -1;
        list = rd_kafka_topic_partition_list_new(partitions);
        for (int32_t p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        memset(base, 0, sizeof(*base));
        started = now_s();
        double cpu_started = process_cpu_s();
        /* As bl_reader_scan starts: metadata of the topic. Without it, a fresh consumer's first
         * fetch waits half a second for its own metadata refresh. */
        rd_kafka_topic_t *handle = rd_kafka_topic_new(consumer, topic, NULL);
        const struct rd_kafka_metadata *metadata = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(consumer, 0, handle, &metadata, SCAN_TIMEOUT_MS);
        if (metadata)
                rd_kafka_metadata_destroy(metadata);
        rd_kafka_topic_destroy(handle);
        if (err)
                snprintf(errstr, errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
        else if ((err = rd_kafka_assign(consumer, list)))
                snprintf(errstr, errstr_size, "assigning %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);
        rd_kafka_message_t *batch[BASELINE_BATCH];
        while (!err && at_end < partitions && !interrupted) { /* in batches, as bl_reader_scan reads */
                ssize_t count = rd_kafka_consume_batch_queue(queue, 100, batch, BASELINE_BATCH);
                if (count <= 0) {
                        if ((idle_ms += 100) >= SCAN_TIMEOUT_MS) {
                                snprintf(errstr, errstr_size, "reading %s: no progress for %d ms", topic,
                                         SCAN_TIMEOUT_MS);
                                err = RD_KAFKA_RESP_ERR__TIMED_OUT;
                        }
                        continue;
                }
                idle_ms = 0;
                for (ssize_t i = 0; i < count; i++) {
                        rd_kafka_message_t *message = batch[i];
                        if (err) {
                                /* the rest of the batch is let go */
                        } else if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                at_end++;
                        } else if (message->err) {
                                snprintf(errstr, errstr_size, "reading %s: %s", topic,
                                         rd_kafka_message_errstr(message));
                                err = message->err;
                        } else {
                                touch(base, message);
                        }
                        rd_kafka_message_destroy(message);
                }
        }
        rd_kafka_queue_destroy(queue);
        if (!err && !interrupted) {
                seconds = now_s() - started;
                base->cpu_seconds = process_cpu_s() - cpu_started;
        }
        else if (interrupted)
                snprintf(errstr, errstr_size, "interrupted");
        rd_kafka_assign(consumer, NULL);
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy(consumer);
        return seconds;
}

/* ---- (b) restore as the pipeline does it ------------------------------------------- */

typedef struct restore_ctx_s {
        bl_schemas_t *schemas;
        bl_backlog_t *backlog;
        size_t items, tombstones, unreadable;
        char first_error[BL_RECORD_DETAIL_MAX + 64];
        bl_records_item_view_t view; /* as restore.c reads each snapshot: in place */
} restore_ctx_t;

/* As restore_record in src/pipeline/restore.c. */
static bool restore_record(const rd_kafka_message_t *message, void *opaque) {
        restore_ctx_t *ctx = opaque;
        bl_record_error_t error;
        char task_id[1024];
        if (interrupted)
                return false;
        if (!message->key)
                return true;
        if (!message->payload) {
                snprintf(task_id, sizeof(task_id), "%.*s", (int)message->key_len, (const char *)message->key);
                bl_backlog_forget(ctx->backlog, task_id);
                ctx->tombstones++;
                return true;
        }
        bool borrowed;
        bl_item_t *item = bl_records_decode_item_view(ctx->schemas, message->payload, message->len,
                                                      message->partition, &ctx->view, &borrowed, &error);
        if (!item) {
                if (ctx->unreadable++ == 0)
                        snprintf(ctx->first_error, sizeof(ctx->first_error), "[%d] offset %" PRId64 ": %s: %s",
                                 (int)message->partition, message->offset, bl_reason_name(error.reason),
                                 error.detail);
                return true;
        }
        if (borrowed && bl_backlog_restore_view(ctx->backlog, item)) { /* at rest: a stub, never made whole */
                ctx->items++;
                return true;
        }
        if (borrowed && !(item = bl_records_item_view_whole(&ctx->view))) {
                snprintf(ctx->first_error, sizeof(ctx->first_error), "out of memory");
                ctx->unreadable++;
                return true;
        }
        bl_backlog_restore(ctx->backlog, item);
        ctx->items++;
        return true;
}

typedef struct restore_run_s {
        double seconds;        /* scan, decode, restore and restore_finish */
        double finish_seconds; /* restore_finish alone */
        double rss_per_item;
        double heap_per_item;
        double drop_seconds;   /* bl_backlog_drop_partition of every partition afterwards */
        double cpu_seconds;    /* the process's over the restore, librdkafka's threads included */
        double thread_cpu_seconds; /* the restoring thread's alone */
} restore_run_t;

/*
 * A fresh backlog with the config's settings and a sink that drops everything (restore emits nothing);
 * with @p spill, its tasks at rest frozen into that store.
 */
static bl_backlog_t *backlog_new(const bl_config_t *config, const bl_spill_ops_t *spill) {
        bl_backlog_sink_t sink = bench_null_sink();
        bl_backlog_options_t options = {
                .lease_ms = config->backlog_lease_ms,
                .retry_base_ms = config->backlog_retry_base_ms,
                .retry_cap_ms = config->backlog_retry_cap_ms,
                .max_attempts = (int32_t)config->backlog_max_attempts,
                .retention_ms = config->backlog_retention_ms,
                .dedup_window = (size_t)config->backlog_dedup_window,
                .seed = 1,
                .spill = spill,
        };
        return bl_backlog_new(&options, &sink);
}

static bool run_restore(const bl_config_t *config, bl_schemas_t *schemas, const char *topic, int32_t partitions,
                        size_t expected, bool frozen, restore_run_t *run, char *errstr, size_t errstr_size) {
        restore_ctx_t ctx = {.schemas = schemas};
        bl_spill_t *store = NULL;
        bl_spill_ops_t spill = bl_spill_ops_over(NULL);
        bl_reader_t *reader = bl_reader_new(config, errstr, errstr_size);
        bool ok = false;
        if (!reader)
                return false;
        if (frozen && bl_spill_new(NULL, &store, errstr, errstr_size) != BL_OK)
                goto done;
        spill.opaque = store;
        if (!(ctx.backlog = backlog_new(config, frozen ? &spill : NULL))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        malloc_trim(0);
        size_t rss_before = rss_bytes(), heap_before = heap_in_use();
        double started = now_s(), cpu_started = process_cpu_s(), thread_cpu_started = thread_cpu_s();
        bl_err_t err = bl_reader_scan(reader, topic, NULL, 0, restore_record, &ctx, SCAN_TIMEOUT_MS, errstr,
                                      errstr_size);
        double finish_started = now_s();
        if (err)
                goto done;
        bl_backlog_restore_finish(ctx.backlog, 0);
        run->finish_seconds = now_s() - finish_started;
        run->seconds = now_s() - started;
        run->cpu_seconds = process_cpu_s() - cpu_started;
        run->thread_cpu_seconds = thread_cpu_s() - thread_cpu_started;
        malloc_trim(0); /* the fetch buffers librdkafka freed are not the backlog's */
        run->rss_per_item = ((double)rss_bytes() - (double)rss_before) / (double)expected;
        run->heap_per_item = ((double)heap_in_use() - (double)heap_before) / (double)expected;
        if (interrupted)
                snprintf(errstr, errstr_size, "interrupted");
        else if (ctx.unreadable)
                snprintf(errstr, errstr_size, "%zu records did not decode; the first: %s", ctx.unreadable,
                         ctx.first_error);
        else if (ctx.items != expected || bl_backlog_size(ctx.backlog) != expected)
                snprintf(errstr, errstr_size, "restored %zu snapshots into %zu items, expected %zu", ctx.items,
                         bl_backlog_size(ctx.backlog), expected);
        else
                ok = true;
        if (ok) { /* what an abort or a revocation costs before anything is read again */
                double drop_started = now_s();
                for (int32_t p = 0; p < partitions; p++)
                        bl_backlog_drop_partition(ctx.backlog, p);
                run->drop_seconds = now_s() - drop_started;
        }
done:
        bl_records_item_view_free(&ctx.view);
        bl_backlog_destroy(ctx.backlog);
        bl_spill_destroy(store);
        bl_reader_destroy(reader);
        return ok;
}

/* ---- --offline: the pipeline thread's work alone, from memory ------------------------------ */

typedef struct encoded_s {
        unsigned char *bytes;
        size_t *offsets; /* count + 1 */
        size_t count;
} encoded_t;

static bool encode_all(bl_records_t *records, const options_t *o, encoded_t *out) {
        size_t capacity = o->count * (o->payload_bytes + 512), used = 0;
        out->count = o->count;
        out->bytes = malloc(capacity);
        out->offsets = malloc((o->count + 1) * sizeof(*out->offsets));
        if (!out->bytes || !out->offsets)
                return false;
        for (size_t i = 0; i < o->count; i++) {
                bl_item_t *item = make_item(i, o->count, o->payload_bytes);
                const void *value;
                size_t size;
                if (!item || bl_records_item(records, item, true, &value, &size) != BL_OK) {
                        bl_item_destroy(item);
                        return false;
                }
                if (used + size > capacity) {
                        unsigned char *grown = realloc(out->bytes, capacity *= 2);
                        if (!grown) {
                                bl_item_destroy(item);
                                return false;
                        }
                        out->bytes = grown;
                }
                out->offsets[i] = used;
                memcpy(out->bytes + used, value, size);
                used += size;
                bl_item_destroy(item);
        }
        out->offsets[o->count] = used;
        return true;
}

typedef struct offline_run_s {
        double seconds, thread_cpu_seconds, heap_per_item;
        double drop_seconds; /* bl_backlog_drop_partition of the 6 partitions afterwards */
} offline_run_t;

/*
 * Decodes every record (@p generic: avro-c's way) and restores it into a fresh backlog, with @p frozen its tasks
 * at rest frozen into a spill store of its own in $TMPDIR; false on a bad record.
 */
static bool restore_from_memory(const bl_config_t *config, bl_schemas_t *schemas, const encoded_t *encoded,
                                bool generic, bool frozen, offline_run_t *run) {
        bl_spill_t *store = NULL;
        bl_spill_ops_t spill = bl_spill_ops_over(NULL);
        char errstr[256];
        if (frozen && bl_spill_new(NULL, &store, errstr, sizeof(errstr)) != BL_OK) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                return false;
        }
        spill.opaque = store;
        bl_backlog_t *backlog = backlog_new(config, frozen ? &spill : NULL);
        bl_records_item_view_t view = {0};
        bl_record_error_t error;
        bool ok = backlog != NULL;
        malloc_trim(0);
        size_t heap_before = heap_in_use();
        double started = now_s(), cpu_started = thread_cpu_s();
        for (size_t i = 0; ok && i < encoded->count; i++) {
                const unsigned char *value = encoded->bytes + encoded->offsets[i];
                size_t size = encoded->offsets[i + 1] - encoded->offsets[i];
                int32_t partition = (int32_t)(i % 6);
                bool borrowed = false;
                bl_item_t *item = generic ? bl_records_decode_item_generic(schemas, value, size, partition, &error)
                                          : bl_records_decode_item_view(schemas, value, size, partition, &view,
                                                                        &borrowed, &error);
                if (!(ok = item != NULL))
                        fprintf(stderr, "bench_restore: record %zu: %s\n", i, error.detail);
                else if (!borrowed || !bl_backlog_restore_view(backlog, item))
                        ok = (item = borrowed ? bl_records_item_view_whole(&view) : item) != NULL &&
                             (bl_backlog_restore(backlog, item), true);
        }
        if (ok)
                bl_backlog_restore_finish(backlog, 0);
        run->seconds = now_s() - started;
        run->thread_cpu_seconds = thread_cpu_s() - cpu_started;
        run->heap_per_item = ((double)heap_in_use() - (double)heap_before) / (double)encoded->count;
        double drop_started = now_s();
        for (int32_t p = 0; ok && p < 6; p++)
                bl_backlog_drop_partition(backlog, p);
        run->drop_seconds = now_s() - drop_started;
        bl_records_item_view_free(&view);
        bl_backlog_destroy(backlog);
        bl_spill_destroy(store);
        return ok;
}

/* Each way's figures over the runs. */
typedef struct way_figures_s {
        double rate[BENCH_MAX_RUNS], cpu[BENCH_MAX_RUNS], heap[BENCH_MAX_RUNS], drop[BENCH_MAX_RUNS];
} way_figures_t;

static void print_offline_row(const char *label, const double *figures) {
        printf("%-4s", label);
        for (int w = 0; w < WAY__COUNT; w++)
                printf(" %15.0f %10.2f %10.0f %10.1f", figures[4 * w], figures[4 * w + 1], figures[4 * w + 2],
                       figures[4 * w + 3]);
        printf("\n");
}

/* Every way, R runs, alternating; prints a table and a JSON line. */
static int run_offline(const bl_config_t *config, bl_schemas_t *schemas, bl_records_t *records, const options_t *o) {
        encoded_t encoded = {0};
        way_figures_t ways[WAY__COUNT];
        double row[4 * WAY__COUNT];
        int status = 1;
        if (!encode_all(records, o, &encoded)) {
                fprintf(stderr, "bench_restore: out of memory\n");
                goto done;
        }
        printf("restore bench, offline: %zu items, %zu-byte payload, %d runs; %.0f bytes a record\n\n", o->count,
               o->payload_bytes, o->runs, (double)encoded.offsets[encoded.count] / (double)encoded.count);
        printf("%-4s", "run");
        for (int w = 0; w < WAY__COUNT; w++)
                printf(" %7s items/s %10s %10s %10s", way_names[w], "cpu us", "heap B", "drop ms");
        printf("\n");
        for (int r = 0; r < o->runs && !interrupted; r++) {
                for (int w = 0; w < WAY__COUNT; w++) {
                        offline_run_t run = {INFINITY, 0, 0, 0}; /* a way not run: all 0 */
                        if ((only_way < 0 || w == only_way) &&
                            !restore_from_memory(config, schemas, &encoded, w == WAY_GENERIC, w == WAY_SPILL, &run))
                                goto done;
                        ways[w].rate[r] = row[4 * w] = (double)o->count / run.seconds;
                        ways[w].cpu[r] = row[4 * w + 1] = run.thread_cpu_seconds * 1e6 / (double)o->count;
                        ways[w].heap[r] = row[4 * w + 2] = run.heap_per_item;
                        ways[w].drop[r] = row[4 * w + 3] = run.drop_seconds * 1e3;
                }
                char label[16];
                snprintf(label, sizeof(label), "%d", r + 1);
                print_offline_row(label, row);
                fflush(stdout);
        }
        for (int w = 0; w < WAY__COUNT; w++) {
                row[4 * w] = median(ways[w].rate, o->runs);
                row[4 * w + 1] = median(ways[w].cpu, o->runs);
                row[4 * w + 2] = median(ways[w].heap, o->runs);
                row[4 * w + 3] = median(ways[w].drop, o->runs);
        }
        print_offline_row("med", row);
        printf("{\"bench\":\"restore_offline\",\"items\":%zu,\"payload_bytes\":%zu,\"runs\":%d", o->count,
               o->payload_bytes, o->runs);
        for (int w = 0; w < WAY__COUNT; w++)
                printf(",\"%s_items_per_s_median\":%.0f,\"%s_cpu_us_per_item_median\":%.2f,"
                       "\"%s_heap_bytes_per_item_median\":%.1f,\"%s_drop_ms_median\":%.1f",
                       way_names[w], row[4 * w], way_names[w], row[4 * w + 1], way_names[w], row[4 * w + 2],
                       way_names[w], row[4 * w + 3]);
        printf("}\n");
        status = 0;
done:
        free(encoded.bytes);
        free(encoded.offsets);
        return status;
}

/* ---- main ------------------------------------------------------------------------------ */

static bl_config_t *load_config(const options_t *o) {
        char bootstrap[512];
        snprintf(bootstrap, sizeof(bootstrap), "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=%s", o->bootstrap);
        char *envp[] = {bootstrap, NULL};
        return bl_config_load(NULL, envp, NULL, NULL);
}

int main(int argc, char **argv) {
        options_t o;
        char errstr[1024] = "", topic[256];
        quiet_t quiet = {"", false};
        fill_stats_t filled = {0};
        double baseline_rate[BENCH_MAX_RUNS], restore_rate[BENCH_MAX_RUNS], ratio[BENCH_MAX_RUNS], finish_ms[BENCH_MAX_RUNS];
        double rss_item[BENCH_MAX_RUNS], heap_item[BENCH_MAX_RUNS], drop_ms[BENCH_MAX_RUNS];
        double base_cpu_us[BENCH_MAX_RUNS], restore_cpu_us[BENCH_MAX_RUNS], thread_cpu_us[BENCH_MAX_RUNS];
        double spill_rate[BENCH_MAX_RUNS], spill_ratio[BENCH_MAX_RUNS], spill_rss[BENCH_MAX_RUNS];
        double spill_heap[BENCH_MAX_RUNS], spill_drop[BENCH_MAX_RUNS], spill_thread_cpu_us[BENCH_MAX_RUNS];
        bl_contract_source_t contracts = {0};
        bl_records_t *records = NULL;
        bl_config_t *config = NULL;
        rd_kafka_t *admin = NULL;
        bool created = false;
        int status = 1, parsed = parse_options(argc, argv, &o);
        if (parsed)
                return parsed < 0 ? 0 : parsed;
        snprintf(topic, sizeof(topic), "%sbacklog.state", o.topic_prefix);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        bl_log_set_level(BL_LOG_WARN);

        if (!(config = load_config(&o))) {
                fprintf(stderr, "bench_restore: --bootstrap %s: librdkafka refuses it\n", o.bootstrap);
                return 2;
        }
        if (!bl_contract_source_open(&contracts, config, errstr, sizeof(errstr)) ||
            !(records = bl_records_new(contracts.schemas, NULL, "bench_restore", errstr, sizeof(errstr)))) {
                fprintf(stderr, "bench_restore: contracts in %s: %s\n", bl_config_schemas_dir(config), errstr);
                goto done;
        }
        if (offline) {
                status = run_offline(config, contracts.schemas, records, &o);
                goto done;
        }
        if (!(admin = admin_new(config, &quiet, errstr, sizeof(errstr)))) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                goto done;
        }
        if (!probe_broker(admin, o.bootstrap, &quiet))
                goto done;
        if (!create_topic(admin, topic, o.partitions, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                goto done;
        }
        created = true;
        if (!await_topic(admin, topic, o.partitions)) {
                fprintf(stderr, "bench_restore: %s: no leader for all %d partitions within %d s\n", topic,
                        (int)o.partitions, TOPIC_READY_TIMEOUT_MS / 1000);
                goto done;
        }

        printf("restore bench: %zu items, %d partitions, %zu-byte payload, %d runs; %s on %s\n", o.count,
               (int)o.partitions, o.payload_bytes, o.runs, topic, o.bootstrap);
        fflush(stdout);
        filled.end_offsets = calloc((size_t)o.partitions, sizeof(*filled.end_offsets));
        filled.in_transaction = calloc((size_t)o.partitions, sizeof(*filled.in_transaction));
        if (!filled.end_offsets || !filled.in_transaction) {
                fprintf(stderr, "bench_restore: out of memory\n");
                goto done;
        }
        if (!fill(config, records, &o, topic, &filled, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_restore: fill: %s\n", errstr);
                goto done;
        }
        double markers_seconds = await_markers(admin, topic, o.partitions, filled.end_offsets);
        if (markers_seconds < 0) {
                fprintf(stderr, "bench_restore: %s: the last transaction's commit markers did not appear within %d s\n",
                        topic, TOPIC_READY_TIMEOUT_MS / 1000);
                goto done;
        }
        printf("fill: %zu snapshots, %.0f bytes each on average, %zu transactions, %.1f s: %.0f items/s, "
               "%.1f MB/s; last commit markers seen after %.0f ms more\n",
               o.count, (double)filled.value_bytes / (double)o.count, filled.transactions, filled.seconds,
               (double)o.count / filled.seconds, (double)filled.value_bytes / filled.seconds / 1e6,
               markers_seconds * 1e3);
        printf("states:");
        for (int s = 0; s < BL_STATE__COUNT; s++)
                if (filled.states[s])
                        printf(" %s %.1f%%", bl_state_name((bl_state_t)s),
                               100.0 * (double)filled.states[s] / (double)o.count);
        printf("\n\n%-4s %17s %17s %7s %18s %11s %12s %9s %13s %13s %13s\n", "run", "baseline items/s",
               "restore items/s", "ratio", "restore_finish ms", "rss B/item", "heap B/item", "drop ms",
               "base cpu us", "restore cpu us", "thread cpu us");
        fflush(stdout);

        for (int r = 0; r < o.runs; r++) {
                baseline_t base;
                restore_run_t run = {0};
                double seconds = run_baseline(config, topic, o.partitions, &base, errstr, sizeof(errstr));
                if (seconds < 0) {
                        fprintf(stderr, "bench_restore: baseline: %s\n", errstr);
                        goto done;
                }
                if (base.records != o.count) {
                        fprintf(stderr, "bench_restore: baseline read %zu records, expected %zu\n", base.records,
                                o.count);
                        goto done;
                }
                baseline_rate[r] = (double)o.count / seconds;
                if (!run_restore(config, contracts.schemas, topic, o.partitions, o.count, false, &run, errstr,
                                 sizeof(errstr))) {
                        fprintf(stderr, "bench_restore: restore: %s\n", errstr);
                        goto done;
                }
                restore_rate[r] = (double)o.count / run.seconds;
                ratio[r] = restore_rate[r] / baseline_rate[r];
                finish_ms[r] = run.finish_seconds * 1e3;
                rss_item[r] = run.rss_per_item;
                heap_item[r] = run.heap_per_item;
                drop_ms[r] = run.drop_seconds * 1e3;
                base_cpu_us[r] = base.cpu_seconds * 1e6 / (double)o.count;
                restore_cpu_us[r] = run.cpu_seconds * 1e6 / (double)o.count;
                thread_cpu_us[r] = run.thread_cpu_seconds * 1e6 / (double)o.count;
                printf("%-4d %17.0f %17.0f %7.3f %18.1f %11.0f %12.0f %9.1f %13.2f %13.2f %13.2f\n", r + 1,
                       baseline_rate[r], restore_rate[r], ratio[r], finish_ms[r], rss_item[r], heap_item[r],
                       drop_ms[r], base_cpu_us[r], restore_cpu_us[r], thread_cpu_us[r]);
                fflush(stdout);
                restore_run_t frozen = {0};
                if (!run_restore(config, contracts.schemas, topic, o.partitions, o.count, true, &frozen, errstr,
                                 sizeof(errstr))) {
                        fprintf(stderr, "bench_restore: restore into frozen stubs: %s\n", errstr);
                        goto done;
                }
                spill_rate[r] = (double)o.count / frozen.seconds;
                spill_ratio[r] = spill_rate[r] / baseline_rate[r];
                spill_rss[r] = frozen.rss_per_item;
                spill_heap[r] = frozen.heap_per_item;
                spill_drop[r] = frozen.drop_seconds * 1e3;
                spill_thread_cpu_us[r] = frozen.thread_cpu_seconds * 1e6 / (double)o.count;
                printf("%-4s %17s %17.0f %7.3f %18.1f %11.0f %12.0f %9.1f %13s %13.2f %13.2f\n", "spill", "",
                       spill_rate[r], spill_ratio[r], frozen.finish_seconds * 1e3, spill_rss[r], spill_heap[r],
                       spill_drop[r], "", frozen.cpu_seconds * 1e6 / (double)o.count, spill_thread_cpu_us[r]);
                fflush(stdout);
        }
        printf("%-4s %17.0f %17.0f %7.3f %18.1f %11.0f %12.0f %9.1f %13.2f %13.2f %13.2f\n", "med",
               median(baseline_rate, o.runs), median(restore_rate, o.runs), median(ratio, o.runs),
               median(finish_ms, o.runs), median(rss_item, o.runs), median(heap_item, o.runs), median(drop_ms, o.runs),
               median(base_cpu_us, o.runs), median(restore_cpu_us, o.runs), median(thread_cpu_us, o.runs));
        printf("{\"bench\":\"restore\",\"items\":%zu,\"partitions\":%d,\"payload_bytes\":%zu,\"runs\":%d,"
               "\"record_bytes_avg\":%.1f,\"fill_items_per_s\":%.0f,\"baseline_items_per_s\":[",
               o.count, (int)o.partitions, o.payload_bytes, o.runs, (double)filled.value_bytes / (double)o.count,
               (double)o.count / filled.seconds);
        for (int r = 0; r < o.runs; r++)
                printf("%s%.0f", r ? "," : "", baseline_rate[r]);
        printf("],\"restore_items_per_s\":[");
        for (int r = 0; r < o.runs; r++)
                printf("%s%.0f", r ? "," : "", restore_rate[r]);
        printf("],\"baseline_items_per_s_median\":%.0f,\"restore_items_per_s_median\":%.0f,\"ratio_median\":%.4f,"
               "\"restore_finish_ms_median\":%.2f,\"rss_bytes_per_item_median\":%.1f,"
               "\"heap_bytes_per_item_median\":%.1f,\"drop_ms_median\":%.1f,\"baseline_cpu_us_per_item_median\":%.2f,"
               "\"restore_cpu_us_per_item_median\":%.2f,\"restore_thread_cpu_us_per_item_median\":%.2f,"
               "\"spill_restore_items_per_s_median\":%.0f,\"spill_ratio_median\":%.4f,"
               "\"spill_rss_bytes_per_item_median\":%.1f,\"spill_heap_bytes_per_item_median\":%.1f,"
               "\"spill_drop_ms_median\":%.1f,\"spill_thread_cpu_us_per_item_median\":%.2f}\n",
               median(baseline_rate, o.runs), median(restore_rate, o.runs), median(ratio, o.runs),
               median(finish_ms, o.runs), median(rss_item, o.runs), median(heap_item, o.runs),
               median(drop_ms, o.runs), median(base_cpu_us, o.runs), median(restore_cpu_us, o.runs),
               median(thread_cpu_us, o.runs), median(spill_rate, o.runs), median(spill_ratio, o.runs),
               median(spill_rss, o.runs), median(spill_heap, o.runs), median(spill_drop, o.runs),
               median(spill_thread_cpu_us, o.runs));
        status = 0;
done:
        fflush(stdout);
        if (created && !o.keep)
                delete_topic(admin, topic);
        else if (created)
                fprintf(stderr, "bench_restore: kept %s\n", topic);
        if (admin)
                rd_kafka_destroy(admin);
        free(filled.end_offsets);
        free(filled.in_transaction);
        bl_records_destroy(records);
        bl_contract_source_close(&contracts);
        bl_config_destroy(config);
        return status;
}
