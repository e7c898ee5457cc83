/*
 * run.c: the run loop of `backlogd run`.
 *
 * Start-up refuses topics that SPEC §1 would not accept, loads the
 * contracts (registering backlogd's own output schemas when a registry is
 * configured), opens a transactional producer whose transactional.id is
 * <group_id>-<instance_id> (a restarted instance fences its predecessor and
 * aborts what it left open), and joins the group on tasks.events,
 * tasks.results and backlog.deps with the range assignor, read_committed.
 *
 * On assignment, every partition number p assigned is restored from
 * backlog.state before any input of p is read; /readyz reports `ready`
 * only then. On revocation the open batch is committed first.
 *
 * The loop, one message at a time: a paused or rewound partition then never
 * has fetched records of its own still waiting in a batch, and a batch would
 * save little (librdkafka 2.12.0, 6 partitions, 5 us of work per message:
 * 156k msg/s polled one by one, 167k in batches of 1000; this loop spends
 * about 10 us per event):
 *
 *   record of tasks.events/results -> ingest -> backlog | DLQ | retry later
 *   record of backlog.deps         -> the backlog's dependency bookkeeping
 *   every turn                     -> timers due, READY tasks dispatched
 *   every commit.interval_ms       -> commit the transaction with the offsets
 *
 * A transient fault in ingest pauses that partition, seeks it back to the
 * record and resumes it after a back-off that doubles up to a cap; a record
 * whose schema is being fetched (on the fetcher's thread, never this one)
 * pauses its partition for a short fixed wait. The others flow meanwhile. A
 * batch that fails for the broker's fault holds everything back with a
 * back-off that doubles too; one that fails for good is bisected (isolate.c,
 * recovery.c) until the record or the task it fails on is found: the record goes
 * to the DLQ as processing.failed, the task DEAD with that reason, and the
 * loop goes on. A producer fenced after a broker stall is made anew. SIGTERM
 * ends the loop: the batch is committed, the group left. Pipeline thread.
 */
#include "pipeline/run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "contract/subjects.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "kafka/topics.h"
#include "pipeline/pipeline_int.h"

#define STATS_INTERVAL_MS 10000
#define SEEK_TIMEOUT_MS 10000
#define ISOLATE_NORMAL_UNITS 4096 /* batches of this many units are normal again after a culprit is found */

static bool renew_producer(bl_pipeline_t *p, const char *why);

/* ---- the culprit of a failed batch, given up -------------------------------------------------- */

/* ---- the loop ------------------------------------------------------------------- */

/*
 * The end of a partition: its offset is past any transaction marker, which a record's offset + 1 never is.
 * Committing it (SPEC §6) lets Kafka's own tools and KEDA see lag 0 once everything is processed. Only
 * for a partition that is not waiting to read a record again: its records before this offset were all
 * handed to the loop, and it finished each of them.
 */
static void reached_end(bl_pipeline_t *p, const rd_kafka_message_t *message) {
        bl_input_partition_t *entry = bl_inputs_find(p, rd_kafka_topic_name(message->rkt),
                                                                 message->partition);
        int64_t finished;
        if (!entry || entry->paused || message->offset < 0)
                return;
        finished = entry->done_offset >= 0 ? entry->done_offset : entry->committed_offset;
        if (message->offset > finished && bl_batch_ensure(p->batch))
                entry->done_offset = message->offset;
}

static void handle_message(bl_pipeline_t *p, const rd_kafka_message_t *message) {
        char why[BL_RECORD_DETAIL_MAX];
        const char *topic;
        bl_input_partition_t *entry;
        bl_ingest_outcome_t outcome;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                reached_end(p, message);
                return;
        }
        if (message->err) {
                bl_log_warn("run", "consumer: %s", rd_kafka_message_errstr(message));
                return;
        }
        topic = rd_kafka_topic_name(message->rkt);
        bl_observe_event(p, topic);
        entry = bl_inputs_find(p, topic, message->partition);
        if (!entry || entry->paused || p->held_back || !bl_batch_ensure(p->batch))
                return; /* fetched before a pause or a rewind; the seek brings it back */
        if (bl_recovery_is_culprit_record(p, message, topic)) {
                bl_recovery_give_up_record(p, entry, message);
                return;
        }
        bl_isolate_unit(p->isolate, BL_UNIT_RECORD, topic, message->partition, message->offset);
        if (!strcmp(topic, p->topic_deps))
                outcome = bl_outputs_apply_notice_record(p, message, why, sizeof(why));
        else
                outcome = bl_ingest_record(p->ingest, message, why, sizeof(why));
        switch (outcome) {
        case BL_INGEST_HANDED_ON:
        case BL_INGEST_DEAD_LETTERED: entry->done_offset = message->offset + 1; break;
        case BL_INGEST_RETRY: bl_inputs_pause_and_rewind(p, entry, message->offset, false, why); break;
        case BL_INGEST_WAIT: bl_inputs_pause_and_rewind(p, entry, message->offset, true, why); break;
        }
}

static void log_stats(bl_pipeline_t *p, const char *what) {
        const bl_ingest_stats_t *stats = bl_ingest_stats(p->ingest);
        const bl_batch_stats_t *batch = bl_batch_stats(p->batch);
        char by_reason[512] = "";
        size_t used = 0, paused = 0;
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
                    " transitions=%" PRIu64 " dispatched=%" PRIu64 " notices=%" PRIu64 " duplicates=%" PRIu64
                    " stale=%" PRIu64 " illegal=%" PRIu64 " items=%zu transactions=%" PRIu64 " aborts=%" PRIu64
                    " restored=%" PRIu64 " held=%" PRIu64 " held_peak_bytes=%" PRIu64 " commit_ms=%" PRIu64
                    " commit_wait_ms=%" PRIu64 " batch_age_max_ms=%" PRId64 " given_up=%" PRIu64 " producer_renewals=%" PRIu64
                    " partitions=%zu paused=%zu%s",
                    what, stats->consumed, stats->handed_on, stats->dead_lettered, stats->retries, p->stats.transitions,
                    p->stats.dispatched, p->stats.notices, p->stats.duplicates, p->stats.stale_results,
                    p->stats.illegal, bl_backlog_size(p->backlog), p->stats.transactions, p->stats.aborts,
                    p->stats.restored_items, batch->held_records, batch->held_peak_bytes, p->stats.commit_ms,
                    batch->commit_wait_ms, batch->age_max_ms, p->stats.given_up, p->stats.producer_restarts, p->partition_count, paused,
                    by_reason);
        p->last_stats_ms = bl_clock_monotonic_ms();
}

/* Pauses or resumes every assigned tasks.events partition (transient pauses stay as they are). */
static void set_input_paused(bl_pipeline_t *p, bool paused) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)p->partition_count);
        for (size_t i = 0; i < p->partition_count; i++)
                if (!strcmp(p->partitions[i].topic, p->topic_events) && !p->partitions[i].paused)
                        rd_kafka_topic_partition_list_add(list, p->topic_events, p->partitions[i].partition);
        if (paused)
                rd_kafka_pause_partitions(p->consumer, list);
        else
                rd_kafka_resume_partitions(p->consumer, list);
        rd_kafka_topic_partition_list_destroy(list);
        p->input_paused = paused;
}

/*
 * Input backpressure (SPEC §5): at backlog.max_ready_items READY tasks, or
 * at backlog.max_memory_bytes of heap held by the tasks, new submissions
 * wait in Kafka, not in memory; results and dependency notices keep flowing,
 * since they are what empties the backlog. Input resumes when both are below
 * their low watermarks. The bytes are the backlog's own count
 * (bl_backlog_memory_bytes, kept on every change, so reading it each turn
 * costs nothing), not the allocator's: see docs/operations.md.
 */
static void input_backpressure(bl_pipeline_t *p) {
        const bl_config_t *config = p->config;
        size_t ready = bl_backlog_ready_count(p->backlog);
        size_t held = bl_backlog_memory_bytes(p->backlog);
        bool budget = config->backlog_max_memory_bytes > 0;
        bool ready_high = ready >= (size_t)config->backlog_max_ready_items;
        bool memory_high = budget && held >= (size_t)config->backlog_max_memory_bytes;
        bool ready_low = ready < (size_t)config->backlog_resume_ready_items;
        bool memory_low = !budget || held < (size_t)config->backlog_resume_memory_bytes;
        bl_metric_set(p->observe.memory_bytes, (double)held);
        if (p->held_back)
                return; /* the inputs are all paused; what to resume is decided when that ends */
        if (!p->input_paused && (ready_high || memory_high)) {
                set_input_paused(p, true);
                bl_log_warn("run",
                            "input paused: %zu READY tasks (backlog.max_ready_items %lld), %zu bytes held "
                            "(backlog.max_memory_bytes %lld); resumes below %lld READY tasks and %lld bytes",
                            ready, (long long)config->backlog_max_ready_items, held,
                            (long long)config->backlog_max_memory_bytes, (long long)config->backlog_resume_ready_items,
                            (long long)config->backlog_resume_memory_bytes);
        } else if (p->input_paused && ready_low && memory_low) {
                set_input_paused(p, false);
                bl_log_info("run",
                            "input resumed: %zu READY tasks (below backlog.resume_ready_items %lld), %zu bytes held "
                            "(below backlog.resume_memory_bytes %lld)",
                            ready, (long long)config->backlog_resume_ready_items, held,
                            (long long)config->backlog_resume_memory_bytes);
        }
}

static void run_loop(bl_pipeline_t *p, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload) {
        while (!*stop && !p->fatal) {
                if (p->renew_producer && !renew_producer(p, "fenced or failed"))
                        break;
                bl_inputs_release_held_back(p);
                bl_steer_tick(p, reload);
                rd_kafka_message_t *message = rd_kafka_consumer_poll(p->consumer, 50);
                if (message) {
                        handle_message(p, message);
                        rd_kafka_message_destroy(message);
                }
                bl_dispatch_advance(p);
                input_backpressure(p);
                bl_observe_tick(p);
                bl_inputs_resume_due(p);
                bl_batch_tick(p->batch);
                if (bl_clock_monotonic_ms() - p->last_stats_ms >= STATS_INTERVAL_MS)
                        log_stats(p, "progress");
        }
}

/* ---- rebalances ------------------------------------------------------------------- */

/* Before the partitions are assigned: where each one's committed offset is, and its tasks restored. */
static bool on_assigning(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque) {
        bl_pipeline_t *p = opaque;
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(partitions);
        if (rd_kafka_committed(rk, committed, SEEK_TIMEOUT_MS))
                for (int i = 0; i < committed->cnt; i++)
                        committed->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        for (int i = 0; i < committed->cnt; i++)
                bl_inputs_add(p, committed->elems[i].topic, committed->elems[i].partition, committed->elems[i].offset);
        rd_kafka_topic_partition_list_destroy(committed);
        bl_log_info("run", "assigned %d partitions; restoring from %s", partitions->cnt, p->topic_state);
        bl_observe_ready(p, false, "restoring the assigned partitions from backlog.state");
        if (!bl_restore_assigned(p)) {
                p->fatal = true;
                return false;
        }
        return true;
}

/* Assigned: ready, and what waits (input backpressure, a hold back) waits on the new partitions too. */
static void on_assigned(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque) {
        bl_pipeline_t *p = opaque;
        (void)rk, (void)partitions;
        bl_observe_ready(p, true, NULL);
        if (p->input_paused)
                set_input_paused(p, true); /* the new assignment starts unpaused */
        if (p->held_back)
                bl_inputs_pause_all(p, true);
}

/* Revoked, before they are unassigned: the open batch commits, and the partitions' tasks go. */
static void on_revoked(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque) {
        bl_pipeline_t *p = opaque;
        (void)rk;
        bl_batch_commit(p->batch); /* finish the batch: its offsets are ours only until the partitions go */
        bl_outputs_forget_snapshots(p); /* none left after a commit; after a failed one, none to write */
        if (bl_isolate_culprit(p->isolate, NULL))
                bl_isolate_culprit_forget(p->isolate); /* the new owner finds it again if it must */
        for (int i = 0; i < partitions->cnt; i++) {
                bl_backlog_drop_partition(p->backlog, partitions->elems[i].partition);
                bl_observe_partition_revoked(p, partitions->elems[i].partition);
                bl_inputs_remove(p, partitions->elems[i].topic, partitions->elems[i].partition);
        }
        p->ready = p->partition_count > 0 && p->ready;
        bl_log_info("run", "revoked %d partitions", partitions->cnt);
}

/* ---- start-up ----------------------------------------------------------------------- */

static void report_topic_problem(const bl_topic_spec_t *spec, bl_topic_severity_t severity, const char *what,
                                 void *opaque) {
        (void)opaque;
        if (severity == BL_TOPIC_MISMATCH)
                bl_log_error("run", "topic %s %s", spec->name, what);
}

/*
 * SPEC §1: refuse to start on missing, non-co-partitioned or uncompacted topics. @p dlq_max_bytes gets
 * backlog.dlq's max.message.bytes (0: not known).
 */
static bool verify_topics(const bl_config_t *config, int64_t *dlq_max_bytes) {
        char errstr[512];
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_topic_observed_t *observed = plan ? calloc(plan->count, sizeof(*observed)) : NULL;
        bl_admin_t *admin = observed ? bl_admin_new(config, errstr, sizeof(errstr)) : NULL;
        bool ok = admin && bl_admin_describe_topics(admin, plan, observed, errstr, sizeof(errstr)) == BL_OK;
        if (!ok)
                bl_log_error("run", "cannot check the topics: %s", admin || observed ? errstr : "out of memory");
        for (size_t i = 0; ok && i < plan->count; i++) {
                bool policy_topic = !strcmp(plan->topics[i].role, "backlog.policy");
                if (policy_topic && !config->policy_name[0])
                        memset(&observed[i], 0, sizeof(observed[i])); /* not followed: neither read nor checked */
                if (!observed[i].exists && !observed[i].denied[0] && !policy_topic) {
                        bl_log_error("run", "topic %s does not exist: run 'backlogd topics create'",
                                     plan->topics[i].name);
                        ok = false;
                }
        }
        if (ok && bl_topic_plan_check(plan, observed, report_topic_problem, NULL) > 0)
                ok = false;
        for (size_t i = 0; ok && i < plan->count; i++)
                if (!strcmp(plan->topics[i].role, "backlog.dlq"))
                        *dlq_max_bytes = observed[i].max_message_bytes;
        bl_admin_destroy(admin);
        free(observed);
        bl_topic_plan_destroy(plan);
        return ok;
}

typedef struct publish_ctx_s {
        bl_pipeline_t *p;
        volatile sig_atomic_t *stop;
        bl_records_ids_t ids;
        bool ok;
} publish_ctx_t;

/* Registers (or finds) @p schema under @p subject, waiting out a registry that does not answer yet. */
static bool publish_schema(publish_ctx_t *ctx, bl_schema_t *schema, const char *subject, int32_t *id) {
        int64_t backoff_ms = ctx->p->config->ingest_retry_backoff_ms;
        char errstr[512];
        bl_err_t err;
        while ((err = bl_schemas_publish(ctx->p->contracts.schemas, schema, subject, id, errstr, sizeof(errstr))) ==
                       BL_ERR_UNAVAILABLE &&
               !*ctx->stop) {
                bl_log_warn("run", "registering %s: %s; retry in %" PRId64 " ms", subject, errstr, backoff_ms);
                usleep((useconds_t)backoff_ms * 1000);
                backoff_ms = backoff_ms * 2 > ctx->p->config->ingest_retry_backoff_max_ms
                                     ? ctx->p->config->ingest_retry_backoff_max_ms
                                     : backoff_ms * 2;
        }
        if (err)
                bl_log_error("run", "registering %s v%d under %s: %s", schema->contract, schema->version, subject,
                             errstr);
        else if (ctx->p->contracts.registry)
                bl_log_info("run", "%s v%d registered under %s as id %d", schema->contract, schema->version, subject,
                            (int)*id);
        return err == BL_OK;
}

static void publish_subject(const char *contract, const char *subject, bool ours, void *opaque) {
        publish_ctx_t *ctx = opaque;
        bl_schema_t *schema = bl_schemas_newest(ctx->p->contracts.schemas, contract);
        int32_t id;
        if (!ctx->ok || (!ours && strstr(subject, "tasks.results")))
                return; /* tasks.results is the workers' to register */
        if (!schema) {
                bl_log_error("run", "the schemas have no %s contract", contract);
                ctx->ok = false;
                return;
        }
        if (!publish_schema(ctx, schema, subject, &id)) {
                ctx->ok = false;
                return;
        }
        if (!strcmp(contract, "task_event"))
                ctx->p->task_event_id = id;
        else if (!strcmp(contract, "transition"))
                ctx->ids.transition = id;
        else if (!strcmp(contract, "backlog_item"))
                ctx->ids.item = id;
        else if (!strcmp(contract, "dispatch_decision"))
                ctx->ids.dispatch = id; /* one schema, one id: the same under every domain's subject */
        else if (!strcmp(contract, "dependency_notice"))
                ctx->ids.notice = id;
}

static bool open_contracts(bl_pipeline_t *p, volatile sig_atomic_t *stop) {
        char errstr[512];
        publish_ctx_t ctx = {p, stop, {0}, true};
        if (!bl_contract_source_open(&p->contracts, p->config, errstr, sizeof(errstr)) ||
            !bl_contract_source_fetch_async(&p->contracts, p->config, errstr, sizeof(errstr)) ||
            !(p->decoder = bl_decoder_new_from_config(p->contracts.schemas, p->config, errstr, sizeof(errstr)))) {
                bl_log_error("run", "contracts: %s", errstr);
                return false;
        }
        bl_contract_each_subject(p->config, publish_subject, &ctx);
        if (!ctx.ok || *stop)
                return false;
        p->submission_schema = bl_schemas_private_copy(p->contracts.schemas, "task_event", 0);
        p->records = bl_records_new(p->contracts.schemas, &ctx.ids, p->instance, errstr, sizeof(errstr));
        if (!p->records || !p->submission_schema) {
                bl_log_error("run", "contracts: %s", p->records ? "no task_event contract" : errstr);
                return false;
        }
        return true;
}

/*
 * The transactional producer, its transactions initialised (which fences a predecessor with the same id
 * and aborts what it left open). On failure nothing is left behind; @p retriable says whether trying again
 * later may work (the broker not reachable yet).
 */
static bool open_producer(bl_pipeline_t *p, bool *retriable, char *errstr, size_t errstr_size) {
        char transactional_id[512];
        snprintf(transactional_id, sizeof(transactional_id), "%s-%s", p->config->group_id, p->instance);
        char linger_ms[32];
        snprintf(linger_ms, sizeof(linger_ms), "%lld", (long long)p->config->producer_linger_ms);
        const char *overrides[] = {"partitioner", "murmur2_random", "linger.ms", linger_ms, NULL};
        bl_txn_settings_t settings = {.transactional_id = transactional_id,
                                      .client_id = p->instance,
                                      .transaction_timeout_ms = p->config->transaction_timeout_ms,
                                      .message_max_bytes = bl_config_producer_max_bytes(p->config),
                                      .init_timeout_ms = (int)p->config->admin_timeout_ms,
                                      .overrides = overrides,
                                      .delivered = bl_batch_on_delivery,
                                      .log = bl_batch_producer_log, /* it alone names a partition the txn refused */
                                      .opaque = p->batch};
        bl_txn_result_t result;
        if (!(p->txn_producer = bl_txn_producer_new(p->config, &settings, &result))) {
                char cause[BL_KAFKA_TROUBLE_MAX] = "";
                bool troubled = bl_kafka_trouble(cause, sizeof(cause), NULL);
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "%s%s%s", result.reason,
                           troubled ? "; first cause: " : "", cause);
                *retriable = result.verdict == BL_TXN_RETRIABLE;
                return false;
        }
        p->producer = bl_txn_producer_handle(p->txn_producer);
        bl_batch_set_producer(p->batch, p->txn_producer);
        bl_log_info("run", "transactional producer %s ready", transactional_id);
        if (p->options && p->options->producer_ready)
                p->options->producer_ready(p->producer, p->options->producer_ready_opaque);
        return true;
}

/* Destroys the producer without waiting for what it still holds: its transaction is over either way. */
static void close_producer(bl_pipeline_t *p) {
        bl_batch_set_producer(p->batch, NULL);
        bl_batch_release_topics(p->batch);
        bl_txn_producer_destroy(p->txn_producer, true);
        p->txn_producer = NULL;
        p->producer = NULL;
}

/*
 * After a fencing (SPEC §6, PITFALLS.md: a broker stall longer than transaction.timeout_ms makes the
 * coordinator abort the transaction, and librdkafka then calls the producer fenced although no other
 * instance exists): a new producer with the same transactional id, a new reader for the restore (its
 * connections went through the stall too), and the world as of the last commit. A producer fenced again
 * within a minute after it had committed is taken for what that says: another live instance with this
 * instance_id, fencing and being fenced in turn; the run ends with that cause. Fenced again before any
 * commit, it is still the stall's doing (the coordinator catching up), and a new producer is made again.
 */
#define RENEW_MIN_INTERVAL_MS 60000

static bool renew_producer(bl_pipeline_t *p, const char *why) {
        char errstr[512];
        bool retriable = true;
        int64_t now = bl_clock_monotonic_ms();
        if (p->producer_restarted_ms && now - p->producer_restarted_ms < RENEW_MIN_INTERVAL_MS &&
            p->stats.transactions > p->transactions_at_renewal) {
                bl_log_error("run", "the producer was %s again within %d s of the last new one: another live "
                                    "instance probably uses instance_id %s in group %s; stopping",
                             why, RENEW_MIN_INTERVAL_MS / 1000, p->instance, p->config->group_id);
                p->fatal = true;
                return false;
        }
        bl_recovery_producer_lost(p);
        bl_steer_close_lag(p); /* its queue is the producer's */
        close_producer(p);
        while (!open_producer(p, &retriable, errstr, sizeof(errstr))) {
                if (!retriable || *p->stop) {
                        bl_log_error("run", "a new producer after it was %s: %s; stopping", why, errstr);
                        p->fatal = true;
                        return false;
                }
                bl_log_warn("run", "a new producer after it was %s: %s; trying again", why, errstr);
        }
        p->renew_producer = false;
        p->producer_restarted_ms = bl_clock_monotonic_ms();
        p->transactions_at_renewal = p->stats.transactions;
        bl_reader_destroy(p->reader);
        if (!(p->reader = bl_reader_new(p->config, errstr, sizeof(errstr)))) {
                bl_log_error("run", "a new reader after the producer was %s: %s; stopping", why, errstr);
                p->fatal = true;
                return false;
        }
        p->stats.producer_restarts++;
        bl_metric_inc(p->observe.producer_renewals, 1);
        if (!bl_steer_open_lag(p)) {
                p->fatal = true;
                return false;
        }
        bl_log_warn("run", "a new transactional producer took over (%s); rewinding the input and restoring %s", why,
                    p->topic_state);
        bl_inputs_rewind(p);
        if (!bl_restore_assigned(p))
                p->fatal = true;
        return !p->fatal;
}

static bool open_consumer(bl_pipeline_t *p, char *errstr, size_t errstr_size) {
        char receive_max[32];
        /* the largest record accepted can be read, or it would stop its partition (config check says so) */
        snprintf(receive_max, sizeof(receive_max), "%lld", (long long)bl_config_receive_max_bytes(p->config));
        const char *overrides[] = {"receive.message.max.bytes", receive_max, NULL};
        bl_consumer_settings_t settings = {
                .group_id = p->config->group_id,
                .client_id = p->instance,
                .group_instance_id = p->config->consumer_static_membership ? p->instance : NULL,
                .partition_eof = true, /* the offset an end-of-partition event reports is past transaction markers */
                .overrides = overrides,
                .assigning = on_assigning,
                .assigned = on_assigned,
                .revoked = on_revoked,
                .opaque = p};
        if (!(p->group_consumer = bl_consumer_new(p->config, &settings, errstr, errstr_size)))
                return false;
        p->consumer = bl_consumer_handle(p->group_consumer);
        return true;
}

static bool subscribe_inputs(bl_pipeline_t *p, char *errstr, size_t errstr_size) {
        const char *topics[] = {p->topic_events, p->topic_results, p->topic_control, p->topic_deps};
        if (bl_consumer_subscribe(p->group_consumer, topics, 4, errstr, errstr_size))
                return false;
        bl_log_info("run", "consuming %s, %s, %s and %s as group %s", p->topic_events, p->topic_results,
                    p->topic_control, p->topic_deps, p->config->group_id);
        return true;
}

static bool name_topics(bl_pipeline_t *p) {
        p->topic_events = bl_config_topic_name(p->config, "tasks.events");
        p->topic_results = bl_config_topic_name(p->config, "tasks.results");
        p->topic_deps = bl_config_topic_name(p->config, "backlog.deps");
        p->topic_control = bl_config_topic_name(p->config, "tasks.control");
        p->topic_state = bl_config_topic_name(p->config, "backlog.state");
        p->topic_transitions = bl_config_topic_name(p->config, "backlog.transitions");
        p->topic_dlq = bl_config_topic_name(p->config, "backlog.dlq");
        if (!(p->topic_dispatch = calloc(p->config->domains.count + 1, sizeof(*p->topic_dispatch))))
                return false;
        for (size_t d = 0; d < p->config->domains.count; d++) {
                char role[300];
                snprintf(role, sizeof(role), "dispatch.%s", p->config->domains.items[d]);
                if (!(p->topic_dispatch[d] = bl_config_topic_name(p->config, role)))
                        return false;
        }
        return p->topic_events && p->topic_results && p->topic_deps && p->topic_control && p->topic_state && p->topic_transitions &&
               p->topic_dlq;
}

/*
 * The batch's closing hook: the snapshots first (outputs.c holds the changed
 * tasks' pointers until they are written), then the tasks at rest frozen out
 * of the heap, and the spill file compacted when half of it is dead.
 */
static void write_snapshots_then_freeze(void *opaque) {
        bl_pipeline_t *p = opaque;
        bl_outputs_write_snapshots(p);
        if (!p->spill)
                return;
        bl_backlog_freeze_at_rest(p->backlog);
        bl_spill_glue_compact_if_due(p->spill, p->backlog, BL_SPILL_COMPACT_MIN_BYTES);
        bl_backlog_spill_stats_t frozen;
        bl_spill_stats_t store;
        bl_backlog_spill_stats(p->backlog, &frozen);
        bl_spill_glue_stats(p->spill, &store);
        bl_metric_set(p->observe.frozen_tasks, (double)frozen.frozen);
        bl_metric_set(p->observe.spill_file_bytes, (double)store.file_bytes);
        bl_metric_inc(p->observe.freeze_failures,
                      (double)(frozen.freeze_failures_total - p->observe.freeze_failures_counted));
        p->observe.freeze_failures_counted = frozen.freeze_failures_total;
}

static bool open_backlog(bl_pipeline_t *p) {
        bl_backlog_options_t options = {
                .lease_ms = p->config->backlog_lease_ms,
                .retry_base_ms = p->config->backlog_retry_base_ms,
                .retry_cap_ms = p->config->backlog_retry_cap_ms,
                .max_attempts = (int32_t)p->config->backlog_max_attempts,
                .id_max_bytes = (size_t)p->config->limits_id_max_bytes,
                .retention_ms = p->config->backlog_retention_ms,
                .dedup_window = (size_t)p->config->backlog_dedup_window,
                .seed = (uint64_t)bl_clock_wall_ms() ^ (uint64_t)getpid() << 32,
        };
        bl_backlog_sink_t backlog_sink;
        bl_ingest_sink_t ingest_sink;
        char errstr[512];
        if (bl_spill_glue_new(p->config, &p->spill, errstr, sizeof(errstr)) != BL_OK) {
                bl_log_error("run", "%s", errstr);
                return false;
        }
        options.spill = bl_spill_glue_ops(p->spill);
        bl_steer_backlog_options(p, &options);
        bl_outputs_backlog_sink(p, &backlog_sink);
        bl_outputs_ingest_sink(p, &ingest_sink);
        p->backlog = bl_backlog_new(&options, &backlog_sink);
        p->credit = bl_credit_new();
        if (!p->credit || !bl_estimate_open(p) || !bl_resilience_open(p) || !bl_steer_open(p) ||
            !bl_consult_open(p))
                return false;
        p->ingest = p->backlog ? bl_ingest_new(p->decoder, p->dlq, &ingest_sink, p->topic_control) : NULL;
        return p->ingest != NULL;
}

/* The batches over the consumer's queue, the isolate and gate bookkeeping, and recovery's hooks. */
static bool open_batches(bl_pipeline_t *p) {
        p->isolate = bl_isolate_new(ISOLATE_NORMAL_UNITS);
        p->gate = bl_gate_new(p->config->ingest_retry_backoff_ms, p->config->ingest_retry_backoff_max_ms);
        if (!p->isolate || !p->gate)
                return false;
        bl_batch_settings_t settings = {.commit_interval_ms = p->config->commit_interval_ms,
                                        .hold_max_bytes = p->config->commit_hold_max_bytes,
                                        .consumer = p->consumer,
                                        .isolate = p->isolate,
                                        .gate = p->gate,
                                        .stop = p->stop,
                                        /* by then the coordinator has aborted the transaction itself */
                                        .abort_max_ms = p->config->transaction_timeout_ms};
        bl_recovery_hooks(p, &settings.hooks);
        settings.hooks.closing = write_snapshots_then_freeze; /* one snapshot per changed task and batch */
        if (!bl_outputs_open(p))
                return false;
        if (!(p->batch = bl_batch_new(&settings))) {
                bl_log_error("run", "cannot set up the transactions: out of resources");
                return false;
        }
        return true;
}

static bool open_clients(bl_pipeline_t *p, int64_t dlq_topic_max_bytes) {
        char errstr[512], processor[512];
        bool retriable;
        int64_t letter_max = bl_config_producer_max_bytes(p->config);
        if (!open_consumer(p, errstr, sizeof(errstr)) || !open_batches(p) ||
            !open_producer(p, &retriable, errstr, sizeof(errstr)) ||
            !(p->reader = bl_reader_new(p->config, errstr, sizeof(errstr)))) {
                bl_log_error("run", "kafka: %s", errstr);
                return false;
        }
        snprintf(processor, sizeof(processor), "backlogd %s %s", BL_VERSION, p->instance);
        p->dlq = bl_dlq_new(bl_batch_produce_dead_letter, p->batch, p->topic_dlq, processor);
        if (p->dlq) /* a letter either topic or producer would refuse goes as record.too_large */
                bl_dlq_set_max_bytes(p->dlq, (size_t)(dlq_topic_max_bytes > 0 && dlq_topic_max_bytes < letter_max
                                                              ? dlq_topic_max_bytes
                                                              : letter_max));
        return p->dlq != NULL;
}

static void name_instance(bl_pipeline_t *p) {
        char hostname[200] = "backlogd";
        if (*p->config->instance_id) {
                snprintf(p->instance, sizeof(p->instance), "%s", p->config->instance_id);
                return;
        }
        gethostname(hostname, sizeof(hostname) - 1);
        snprintf(p->instance, sizeof(p->instance), "%s", hostname);
}

static void pipeline_close(bl_pipeline_t *p) {
        bl_consumer_close(p->group_consumer); /* revocation commits the open batch */
        if (p->batch)
                bl_batch_close(p->batch); /* holds the consumer's queue */
        bl_consumer_destroy(p->group_consumer);
        bl_lag_destroy(p->lag); /* its queue holds the producer: rd_kafka_destroy would wait for it */
        p->lag = NULL;
        if (p->txn_producer) {
                bl_batch_release_topics(p->batch);
                bl_txn_producer_destroy(p->txn_producer, false);
        }
        bl_batch_destroy(p->batch); /* after the producer: its last flush still reports into the batch */
        bl_reader_destroy(p->reader);
        for (size_t i = 0; i < p->partition_count; i++)
                free(p->partitions[i].topic);
        free(p->partitions);
        bl_consult_close(p); /* its client's thread cancels what is in flight */
        bl_ingest_destroy(p->ingest);
        bl_outputs_close(p);
        bl_isolate_destroy(p->isolate);
        bl_gate_destroy(p->gate);
        bl_steer_close(p);
        bl_resilience_close(p);
        bl_lag_destroy(p->lag);
        bl_credit_destroy(p->credit);
        bl_backlog_destroy(p->backlog);
        bl_spill_glue_destroy(p->spill); /* after the backlog, whose stubs point into it */
        bl_estimate_close(p);
        bl_observe_close(p);
        bl_dlq_destroy(p->dlq);
        bl_records_destroy(p->records);
        bl_schema_free(p->submission_schema);
        bl_decoder_destroy(p->decoder);
        bl_contract_source_close(&p->contracts);
        free(p->topic_events);
        free(p->topic_results);
        free(p->topic_deps);
        free(p->topic_control);
        free(p->topic_state);
        free(p->topic_transitions);
        free(p->topic_dlq);
        for (size_t d = 0; p->topic_dispatch && p->topic_dispatch[d]; d++)
                free(p->topic_dispatch[d]);
        free(p->topic_dispatch);
}

int bl_pipeline_run(const bl_config_t *config, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload) {
        return bl_pipeline_run_with(config, NULL, stop, reload);
}

int bl_pipeline_run_with(const bl_config_t *config, const bl_pipeline_options_t *options, volatile sig_atomic_t *stop,
                         volatile sig_atomic_t *reload) {
        bl_pipeline_t p = {.config = config, .options = options, .stop = stop};
        int64_t dlq_max_bytes = 0;
        bool skip_topic_check = options && options->skip_topic_check; /* the demo's mock cluster (run.h) */
        char errstr[512];
        int status = 1;
        name_instance(&p);
        p.total_input_partitions = (int32_t)config->topics_partitions;
        if (!name_topics(&p) || !bl_observe_open(&p) || (!skip_topic_check && !verify_topics(config, &dlq_max_bytes)) ||
            !open_contracts(&p, stop) || !open_clients(&p, dlq_max_bytes) || !open_backlog(&p))
                goto done;
        bl_observe_ready(&p, false, "joining the consumer group");
        if (!subscribe_inputs(&p, errstr, sizeof(errstr))) {
                bl_log_error("run", "%s", errstr);
                goto done;
        }
        p.last_stats_ms = bl_clock_monotonic_ms();
        run_loop(&p, stop, reload);
        bl_observe_ready(&p, false, "shutting down");
        bl_batch_commit(p.batch);
        status = p.fatal ? 1 : 0;
        log_stats(&p, status ? "stopped on a fatal error" : "stopped");
        if (options && options->report)
                *options->report =
                        (bl_pipeline_report_t){p.stats.transactions,
                                               p.stats.aborts,
                                               (double)p.stats.commit_ms / 1000.0,
                                               (double)bl_batch_stats(p.batch)->commit_wait_ms / 1000.0,
                                               bl_batch_stats(p.batch)->held_peak_bytes,
                                               p.stats.producer_restarts,
                                               p.stats.given_up,
                                               (double)bl_batch_stats(p.batch)->age_max_ms / 1000.0};
done:
        pipeline_close(&p);
        return status;
}
