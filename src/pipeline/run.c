/*
 * run.c: the run loop.
 *
 * Start-up refuses to run on topics that SPEC §1 would not accept (missing,
 * not co-partitioned, backlog.state not compacted), loads the contracts,
 * registers backlogd's own output schemas when a registry is configured,
 * and joins the group with the range assignor, read_committed, and manual
 * offsets. Then, one message at a time (batch consume is unsafe with
 * pause/resume in librdkafka 2.0, PITFALLS.md):
 *
 *   record -> ingest -> handed on | dead-lettered   : the partition's done offset moves
 *                    -> retry (transient)           : pause the partition, seek back to
 *                                                     the record, resume after a back-off
 *                                                     that doubles up to a cap
 *
 * Every commit.interval_ms the producer is flushed (the DLQ records of the
 * batch are acknowledged) and only then are the done offsets committed, so no
 * offset passes a record that was neither handed on nor dead-lettered. If a
 * DLQ write failed, the batch is rewound to the committed offsets and done
 * again instead. On revocation the batch is committed before the partitions
 * go; on SIGTERM the loop ends, commits and leaves the group.
 *
 * Everything here runs on the one pipeline thread: librdkafka's callbacks
 * (rebalance, delivery reports) are served from the poll calls of this loop.
 */
#include "pipeline/run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contract/source.h"
#include "contract/subjects.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "kafka/topics.h"
#include "ops/log.h"

#define STATS_INTERVAL_MS 10000
#define FLUSH_TIMEOUT_MS 10000
#define COMMITTED_TIMEOUT_MS 10000

typedef struct partition_s {
        char *topic;
        int32_t partition;
        int64_t done_offset;      /* one past the last record finished; -1: none yet */
        int64_t committed_offset; /* the group's committed offset; RD_KAFKA_OFFSET_INVALID if none */
        bool paused;
        int64_t retry_at_ms;
        int64_t backoff_ms;
} partition_t;

typedef struct pipeline_s {
        const bl_config_t *config;
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        bl_contract_source_t contracts;
        bl_decoder_t *decoder;
        bl_dlq_t *dlq;
        bl_ingest_t *ingest;
        partition_t *partitions;
        size_t partition_count;
        size_t partition_capacity;
        uint64_t delivery_failures; /* since the last commit */
        int64_t last_commit_ms;
        int64_t last_stats_ms;
        bool fatal;
        char instance[256];
} pipeline_t;

static int64_t now_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- partitions --------------------------------------------------------- */

static partition_t *find_partition(pipeline_t *p, const char *topic, int32_t partition) {
        for (size_t i = 0; i < p->partition_count; i++)
                if (p->partitions[i].partition == partition && !strcmp(p->partitions[i].topic, topic))
                        return &p->partitions[i];
        return NULL;
}

static partition_t *add_partition(pipeline_t *p, const char *topic, int32_t partition, int64_t committed) {
        partition_t *entry = find_partition(p, topic, partition);
        if (!entry) {
                if (p->partition_count == p->partition_capacity) {
                        size_t capacity = p->partition_capacity ? p->partition_capacity * 2 : 16;
                        partition_t *grown = realloc(p->partitions, capacity * sizeof(*grown));
                        if (!grown)
                                return NULL;
                        p->partitions = grown;
                        p->partition_capacity = capacity;
                }
                entry = &p->partitions[p->partition_count++];
                memset(entry, 0, sizeof(*entry));
                entry->topic = strdup(topic);
                entry->partition = partition;
        }
        entry->done_offset = -1;
        entry->committed_offset = committed;
        entry->paused = false;
        entry->backoff_ms = 0;
        return entry;
}

static void remove_partition(pipeline_t *p, const char *topic, int32_t partition) {
        partition_t *entry = find_partition(p, topic, partition);
        if (!entry)
                return;
        free(entry->topic);
        *entry = p->partitions[--p->partition_count];
}

/* ---- commits ------------------------------------------------------------ */

/* Seeks every partition with uncommitted work back to its committed offset. */
static void rewind_uncommitted(pipeline_t *p) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++) {
                partition_t *entry = &p->partitions[i];
                if (entry->done_offset < 0)
                        continue;
                rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset =
                        entry->committed_offset >= 0 ? entry->committed_offset : RD_KAFKA_OFFSET_BEGINNING;
                entry->done_offset = -1;
        }
        rd_kafka_error_t *error = list->cnt ? rd_kafka_seek_partitions(p->consumer, list, COMMITTED_TIMEOUT_MS) : NULL;
        if (error) {
                bl_log_error("run", "rewind failed: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                p->fatal = true;
        }
        rd_kafka_topic_partition_list_destroy(list);
}

static rd_kafka_topic_partition_list_t *done_offsets(const pipeline_t *p) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++) {
                const partition_t *entry = &p->partitions[i];
                if (entry->done_offset >= 0 && entry->done_offset != entry->committed_offset)
                        rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset =
                                entry->done_offset;
        }
        return list;
}

/*
 * Commits the done offsets once every output of the batch is acknowledged.
 * A flush that times out postpones the commit (the broker may be away: a
 * transient fault); a failed delivery rewinds the batch.
 */
static void commit_done(pipeline_t *p) {
        rd_kafka_topic_partition_list_t *list = done_offsets(p);
        rd_kafka_resp_err_t err;
        p->last_commit_ms = now_ms();
        if (list->cnt == 0)
                goto done;
        err = rd_kafka_flush(p->producer, FLUSH_TIMEOUT_MS);
        if (err) {
                bl_log_warn("run", "outputs not acknowledged yet (%s); commit postponed", rd_kafka_err2str(err));
                goto done;
        }
        if (p->delivery_failures > 0) {
                bl_log_warn("run", "%" PRIu64 " output records were not delivered; the batch is processed again",
                            p->delivery_failures);
                p->delivery_failures = 0;
                rewind_uncommitted(p);
                goto done;
        }
        err = rd_kafka_commit(p->consumer, list, 0);
        if (err) {
                bl_log_warn("run", "offset commit failed (%s); retried with the next batch", rd_kafka_err2str(err));
                goto done;
        }
        for (int i = 0; i < list->cnt; i++)
                find_partition(p, list->elems[i].topic, list->elems[i].partition)->committed_offset =
                        list->elems[i].offset;
done:
        rd_kafka_topic_partition_list_destroy(list);
}

/* ---- pause and retry ---------------------------------------------------- */

static void pause_and_rewind(pipeline_t *p, partition_t *entry, int64_t offset, const char *why) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)->offset = offset;
        rd_kafka_pause_partitions(p->consumer, list);
        rd_kafka_error_t *error = rd_kafka_seek_partitions(p->consumer, list, COMMITTED_TIMEOUT_MS);
        if (error) {
                bl_log_error("run", "%s [%d]: cannot seek back to %" PRId64 ": %s", entry->topic,
                             (int)entry->partition, offset, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                p->fatal = true;
        }
        rd_kafka_topic_partition_list_destroy(list);
        entry->backoff_ms = entry->backoff_ms ? entry->backoff_ms * 2 : p->config->ingest_retry_backoff_ms;
        if (entry->backoff_ms > p->config->ingest_retry_backoff_max_ms)
                entry->backoff_ms = p->config->ingest_retry_backoff_max_ms;
        entry->paused = true;
        entry->retry_at_ms = now_ms() + entry->backoff_ms;
        bl_log_warn("run", "%s [%d] paused at offset %" PRId64 ", retry in %" PRId64 " ms: %s", entry->topic,
                    (int)entry->partition, offset, entry->backoff_ms, why);
}

static void resume_due_partitions(pipeline_t *p) {
        int64_t now = now_ms();
        for (size_t i = 0; i < p->partition_count; i++) {
                partition_t *entry = &p->partitions[i];
                if (!entry->paused || now < entry->retry_at_ms)
                        continue;
                rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition);
                rd_kafka_resume_partitions(p->consumer, list);
                rd_kafka_topic_partition_list_destroy(list);
                entry->paused = false;
                bl_log_info("run", "%s [%d] resumed", entry->topic, (int)entry->partition);
        }
}

/* ---- the loop ----------------------------------------------------------- */

static void handle_message(pipeline_t *p, const rd_kafka_message_t *message) {
        char why[BL_RECORD_DETAIL_MAX];
        partition_t *entry;
        if (message->err) {
                if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        bl_log_warn("run", "consumer: %s", rd_kafka_message_errstr(message));
                return;
        }
        entry = find_partition(p, rd_kafka_topic_name(message->rkt), message->partition);
        if (!entry || entry->paused)
                return; /* fetched before the pause; the seek brings it back */
        switch (bl_ingest_record(p->ingest, message, why, sizeof(why))) {
        case BL_INGEST_HANDED_ON:
        case BL_INGEST_DEAD_LETTERED:
                entry->done_offset = message->offset + 1;
                entry->backoff_ms = 0;
                break;
        case BL_INGEST_RETRY: pause_and_rewind(p, entry, message->offset, why); break;
        }
}

static void log_stats(pipeline_t *p, const char *what) {
        const bl_ingest_stats_t *stats = bl_ingest_stats(p->ingest);
        size_t paused = 0;
        char by_reason[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < p->partition_count; i++)
                paused += p->partitions[i].paused;
        for (int reason = 1; reason < BL_REASON__COUNT; reason++) {
                uint64_t count = bl_dlq_count(p->dlq, (bl_reason_t)reason);
                if (count && used < sizeof(by_reason))
                        used += (size_t)snprintf(by_reason + used, sizeof(by_reason) - used, " dlq.%s=%" PRIu64,
                                                 bl_reason_name((bl_reason_t)reason), count);
        }
        bl_log_info("run",
                    "%s: consumed=%" PRIu64 " handed_on=%" PRIu64 " dead_lettered=%" PRIu64 " retries=%" PRIu64
                    " partitions=%zu paused=%zu%s",
                    what, stats->consumed, stats->handed_on, stats->dead_lettered, stats->retries,
                    p->partition_count, paused, by_reason);
        p->last_stats_ms = now_ms();
}

static void run_loop(pipeline_t *p, volatile sig_atomic_t *stop) {
        while (!*stop && !p->fatal) {
                rd_kafka_message_t *message = rd_kafka_consumer_poll(p->consumer, 100);
                if (message) {
                        handle_message(p, message);
                        rd_kafka_message_destroy(message);
                }
                rd_kafka_poll(p->producer, 0);
                resume_due_partitions(p);
                if (now_ms() - p->last_commit_ms >= p->config->commit_interval_ms)
                        commit_done(p);
                if (now_ms() - p->last_stats_ms >= STATS_INTERVAL_MS)
                        log_stats(p, "progress");
        }
}

/* ---- librdkafka callbacks ----------------------------------------------- */

static void on_assign(pipeline_t *p, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions) {
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(partitions);
        if (rd_kafka_committed(rk, committed, COMMITTED_TIMEOUT_MS))
                for (int i = 0; i < committed->cnt; i++)
                        committed->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        for (int i = 0; i < committed->cnt; i++)
                add_partition(p, committed->elems[i].topic, committed->elems[i].partition, committed->elems[i].offset);
        rd_kafka_topic_partition_list_destroy(committed);
        rd_kafka_assign(rk, partitions);
        bl_log_info("run", "assigned %d partitions", partitions->cnt);
}

static void on_revoke(pipeline_t *p, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions) {
        commit_done(p);
        for (int i = 0; i < partitions->cnt; i++)
                remove_partition(p, partitions->elems[i].topic, partitions->elems[i].partition);
        rd_kafka_assign(rk, NULL);
        bl_log_info("run", "revoked %d partitions", partitions->cnt);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *partitions,
                         void *opaque) {
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                on_assign(opaque, rk, partitions);
        else
                on_revoke(opaque, rk, partitions);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        pipeline_t *p = opaque;
        (void)rk;
        if (!message->err)
                return;
        p->delivery_failures++;
        bl_log_error("run", "delivery to %s failed: %s", rd_kafka_topic_name(message->rkt),
                     rd_kafka_err2str(message->err));
}

/* ---- start-up ----------------------------------------------------------- */

static void report_topic_problem(const bl_topic_spec_t *spec, bl_topic_severity_t severity, const char *what,
                                 void *opaque) {
        (void)opaque;
        if (severity == BL_TOPIC_MISMATCH)
                bl_log_error("run", "topic %s %s", spec->name, what);
}

/* SPEC §1: refuse to start on missing, non-co-partitioned or uncompacted topics. */
static bool verify_topics(const bl_config_t *config) {
        char errstr[512];
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = plan ? calloc(plan->count, sizeof(*observed)) : NULL;
        bl_admin_t *admin = observed ? bl_admin_new(config, errstr, sizeof(errstr)) : NULL;
        bool ok = admin && bl_admin_describe_topics(admin, plan, observed, errstr, sizeof(errstr)) == BL_OK;
        if (!ok)
                bl_log_error("run", "cannot check the topics: %s", admin || observed ? errstr : "out of memory");
        for (size_t i = 0; ok && i < plan->count; i++) {
                if (!observed[i].exists && strcmp(plan->topics[i].role, "backlog.policy")) {
                        bl_log_error("run", "topic %s does not exist: run 'backlogd topics create'",
                                     plan->topics[i].name);
                        ok = false;
                }
        }
        if (ok && bl_topic_plan_check(plan, observed, report_topic_problem, NULL) > 0)
                ok = false;
        bl_admin_destroy(admin);
        free(observed);
        bl_topic_plan_destroy(plan);
        return ok;
}

typedef struct publish_ctx_s {
        pipeline_t *p;
        volatile sig_atomic_t *stop;
        bool ok;
} publish_ctx_t;

/* Registers one output schema, waiting out a registry that does not answer yet. */
static void publish_subject(const char *contract, const char *subject, bool ours, void *opaque) {
        publish_ctx_t *ctx = opaque;
        bl_schema_t *schema = bl_schemas_newest(ctx->p->contracts.schemas, contract);
        int64_t backoff_ms = ctx->p->config->ingest_retry_backoff_ms;
        char errstr[512];
        int32_t id;
        bl_err_t err;
        if (!ours || !ctx->ok)
                return;
        if (!schema) {
                bl_log_error("run", "the schemas have no %s contract", contract);
                ctx->ok = false;
                return;
        }
        while ((err = bl_schemas_publish(ctx->p->contracts.schemas, schema, subject, &id, errstr, sizeof(errstr))) ==
                       BL_ERR_UNAVAILABLE &&
               !*ctx->stop) {
                bl_log_warn("run", "registering %s: %s; retry in %" PRId64 " ms", subject, errstr, backoff_ms);
                usleep((useconds_t)backoff_ms * 1000);
                backoff_ms = backoff_ms * 2 > ctx->p->config->ingest_retry_backoff_max_ms
                                     ? ctx->p->config->ingest_retry_backoff_max_ms
                                     : backoff_ms * 2;
        }
        if (err) {
                bl_log_error("run", "registering %s v%d under %s: %s", contract, schema->version, subject, errstr);
                ctx->ok = false;
                return;
        }
        bl_log_info("run", "%s v%d registered under %s as id %d", contract, schema->version, subject, (int)id);
}

static bool open_contracts(pipeline_t *p, volatile sig_atomic_t *stop) {
        char errstr[512];
        if (!bl_contract_source_open(&p->contracts, p->config, errstr, sizeof(errstr)) ||
            !(p->decoder = bl_decoder_new_from_config(p->contracts.schemas, p->config, errstr, sizeof(errstr)))) {
                bl_log_error("run", "contracts: %s", errstr);
                return false;
        }
        publish_ctx_t ctx = {p, stop, true};
        if (p->contracts.registry)
                bl_contract_each_subject(p->config, publish_subject, &ctx);
        return ctx.ok && !*stop;
}

static bool open_producer(pipeline_t *p, char *errstr, size_t errstr_size) {
        const char *overrides[] = {"client.id", p->instance, "enable.idempotence", "true",
                                   "partitioner", "murmur2_random", "linger.ms", "5", NULL};
        rd_kafka_conf_t *conf = bl_kafka_conf_new(p->config, overrides, errstr, errstr_size);
        if (!conf)
                return false;
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, p);
        p->producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        return p->producer != NULL;
}

static bool open_consumer(pipeline_t *p, char *errstr, size_t errstr_size) {
        const char *overrides[] = {"client.id", p->instance,
                                   "group.id", p->config->group_id,
                                   "partition.assignment.strategy", "range",
                                   "enable.auto.commit", "false",
                                   "enable.auto.offset.store", "false",
                                   "isolation.level", "read_committed",
                                   "auto.offset.reset", "earliest",
                                   /* PITFALLS.md: with the default, the consumer idles a second at a time */
                                   "queued.min.messages", "1000000",
                                   "queued.max.messages.kbytes", "131072",
                                   NULL};
        rd_kafka_conf_t *conf = bl_kafka_conf_new(p->config, overrides, errstr, errstr_size);
        if (!conf)
                return false;
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_opaque(conf, p);
        p->consumer = bl_kafka_new_from_conf(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
        if (!p->consumer)
                return false;
        rd_kafka_poll_set_consumer(p->consumer);
        return true;
}

static bool subscribe_inputs(pipeline_t *p, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
        char *events = bl_config_topic_name(p->config, "tasks.events");
        char *results = bl_config_topic_name(p->config, "tasks.results");
        rd_kafka_topic_partition_list_add(topics, events, RD_KAFKA_PARTITION_UA);
        rd_kafka_topic_partition_list_add(topics, results, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(p->consumer, topics);
        if (err)
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "cannot subscribe to %s and %s: %s", events, results,
                           rd_kafka_err2str(err));
        else
                bl_log_info("run", "consuming %s and %s as group %s", events, results, p->config->group_id);
        rd_kafka_topic_partition_list_destroy(topics);
        free(events);
        free(results);
        return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static bool open_clients(pipeline_t *p) {
        char errstr[512], hostname[128] = "backlogd", processor[512], *dlq_topic;
        gethostname(hostname, sizeof(hostname) - 1);
        snprintf(p->instance, sizeof(p->instance), "%s-%d", hostname, (int)getpid());
        if (!open_producer(p, errstr, sizeof(errstr)) || !open_consumer(p, errstr, sizeof(errstr))) {
                bl_log_error("run", "kafka: %s", errstr);
                return false;
        }
        snprintf(processor, sizeof(processor), "backlogd %s %s", BL_VERSION, p->instance);
        dlq_topic = bl_config_topic_name(p->config, "backlog.dlq");
        p->dlq = dlq_topic ? bl_dlq_new(p->producer, dlq_topic, processor) : NULL;
        free(dlq_topic);
        return p->dlq != NULL;
}

static void pipeline_close(pipeline_t *p) {
        if (p->consumer) {
                rd_kafka_consumer_close(p->consumer); /* leaves the group; revocation commits */
                rd_kafka_destroy(p->consumer);
        }
        if (p->producer) {
                rd_kafka_flush(p->producer, FLUSH_TIMEOUT_MS);
                rd_kafka_destroy(p->producer);
        }
        for (size_t i = 0; i < p->partition_count; i++)
                free(p->partitions[i].topic);
        free(p->partitions);
        bl_ingest_destroy(p->ingest);
        bl_dlq_destroy(p->dlq);
        bl_decoder_destroy(p->decoder);
        bl_contract_source_close(&p->contracts);
}

int bl_pipeline_run(const bl_config_t *config, const bl_ingest_sink_t *sink, volatile sig_atomic_t *stop) {
        pipeline_t p = {.config = config};
        char errstr[512];
        int status = 1;
        if (!verify_topics(config) || !open_contracts(&p, stop) || !open_clients(&p))
                goto done;
        p.ingest = bl_ingest_new(p.decoder, p.dlq, sink);
        if (!p.ingest || !subscribe_inputs(&p, errstr, sizeof(errstr))) {
                bl_log_error("run", "%s", p.ingest ? errstr : "out of memory");
                goto done;
        }
        p.last_commit_ms = p.last_stats_ms = now_ms();
        run_loop(&p, stop);
        commit_done(&p);
        status = p.fatal ? 1 : 0;
        log_stats(&p, status ? "stopped on a fatal error" : "stopped");
done:
        pipeline_close(&p);
        return status;
}
