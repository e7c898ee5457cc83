/*
 * workers.c: a domain's simulated workers.
 *
 * The workers are one consumer in the domain's worker group (the group the
 * policy names, whose committed offsets drive backlogd's backpressure) and a
 * number of slots. A record is taken off dispatch.<domain> only when a slot
 * is free, so what the workers cannot run yet waits in Kafka as consumer
 * lag, which is what backlogd measures. Taking a record sends STARTED; when
 * the slot's work time is up the task ends COMPLETED or FAILED (retryable,
 * or not), as the seed and the (task, attempt) decide. Offsets are stored as
 * records are taken and committed every commit_interval_ms; the slow domain
 * commits once a second and has too few slots, so its lag climbs.
 *
 * Results are TaskEvents encoded like traffic.c's, with this thread's own
 * contract source (decoding a DispatchDecision uses the cache's values, so
 * no cache is shared between threads). Counters are atomics.
 */
#include "demo/workers.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contract/encode.h"
#include "contract/records.h"
#include "contract/source.h"
#include "kafka/client.h"
#include "base/log.h"

#define ID_MAX           256
#define IDLE_WAIT_MS     20
#define FLUSH_TIMEOUT_MS 3000

typedef enum { FATE_COMPLETED, FATE_FAILED_RETRYABLE, FATE_FAILED_PERMANENT } fate_t;

typedef struct slot_s {
        bool busy;
        char task_id[ID_MAX];
        char dispatch_id[ID_MAX];
        int32_t attempt;
        int64_t done_at_ms;
        fate_t fate;
} slot_t;

typedef struct counters_s {
        _Atomic uint64_t taken, retries_taken, completed, failed_retryable, failed_permanent, undecodable, delivered,
                delivery_failed, cancelled;
} counters_t;

struct bl_workers_s {
        const bl_scenario_domain_t *domain;
        bl_contract_source_t contracts;
        bl_schema_t *schema; /* the newest TaskEvent, in this thread's own cache */
        int32_t schema_id;
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        char *results_topic;
        char producer_name[128];
        uint64_t seed;
        int64_t started_ms; /* monotonic: the outage counts from here */
        bl_rng_t rng;
        slot_t *slots;
        int slot_count;
        pthread_t thread;
        bool started;
        atomic_bool stop;
        counters_t counters;
};

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        bl_workers_t *workers = opaque;
        (void)rk;
        atomic_fetch_add(message->err ? &workers->counters.delivery_failed : &workers->counters.delivered, 1);
}

/* ---- results ---------------------------------------------------------------------- */

static void send_result(bl_workers_t *workers, const slot_t *slot, const char *type) {
        char errstr[512], event_id[ID_MAX + 32];
        unsigned char *value = NULL;
        size_t value_size;
        json_t *event = json_object();
        snprintf(event_id, sizeof(event_id), "%s/%s", slot->dispatch_id, type);
        json_object_set_new(event, "event_id", json_string(event_id));
        json_object_set_new(event, "task_id", json_string(slot->task_id));
        json_object_set_new(event, "event_type", json_string(type));
        json_object_set_new(event, "occurred_at", json_integer(wall_ms()));
        json_object_set_new(event, "producer", json_string(workers->producer_name));
        json_object_set_new(event, "attempt", json_integer(slot->attempt));
        json_object_set_new(event, "dispatch_id", json_string(slot->dispatch_id));
        if (!strcmp(type, "FAILED")) {
                bool retryable = slot->fate == FATE_FAILED_RETRYABLE;
                json_object_set_new(event, "error",
                                    json_pack("{s:s, s:s, s:b}", "code", retryable ? "WORKER_LOST" : "BAD_INPUT",
                                              "message",
                                              retryable ? "the worker was preempted" : "the input cannot be read",
                                              "retryable", retryable));
        }
        bl_err_t err =
                bl_encode_json(workers->schema, workers->schema_id, event, &value, &value_size, errstr, sizeof(errstr));
        json_decref(event);
        if (err) {
                bl_log_error("demo", "encoding a %s result of %s: %s", type, slot->task_id, errstr);
                atomic_fetch_add(&workers->counters.delivery_failed, 1);
                return;
        }
        rd_kafka_resp_err_t kafka_err;
        while ((kafka_err = rd_kafka_producev(
                        workers->producer, RD_KAFKA_V_TOPIC(workers->results_topic),
                        RD_KAFKA_V_KEY(slot->task_id, strlen(slot->task_id)), RD_KAFKA_V_VALUE(value, value_size),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
               !atomic_load(&workers->stop))
                rd_kafka_poll(workers->producer, 10);
        if (kafka_err) {
                free(value);
                atomic_fetch_add(&workers->counters.delivery_failed, 1);
        }
}

/* Whether the outage domain's workers are in their outage at @p now (monotonic ms). */
static bool in_outage(const bl_workers_t *workers, int64_t now) {
        return !strcmp(workers->domain->name, BL_SCENARIO_OUTAGE_DOMAIN) &&
               now - workers->started_ms >= BL_SCENARIO_OUTAGE_FROM_MS &&
               now - workers->started_ms < BL_SCENARIO_OUTAGE_UNTIL_MS;
}

/*
 * The fate of an attempt: a function of the seed, the task and the attempt, not of timing; only the
 * outage, which depends on when the attempt is taken, fails most attempts of its domain.
 */
static fate_t fate_of(const bl_workers_t *workers, const char *task_id, int32_t attempt, int64_t now) {
        double draw = (double)(bl_scenario_hash(workers->seed, task_id, attempt) >> 11) / 9007199254740992.0;
        if (in_outage(workers, now) && draw < BL_SCENARIO_OUTAGE_FAIL)
                return FATE_FAILED_RETRYABLE;
        if (draw < BL_SCENARIO_FAIL_PERMANENT)
                return FATE_FAILED_PERMANENT;
        if (draw < BL_SCENARIO_FAIL_PERMANENT + BL_SCENARIO_FAIL_RETRYABLE)
                return FATE_FAILED_RETRYABLE;
        return FATE_COMPLETED;
}

/* A cancellation notice: the slot running @p dispatch_id stops and reports nothing (the task is CANCELLED). */
static void stop_cancelled(bl_workers_t *workers, const char *dispatch_id) {
        for (int i = 0; i < workers->slot_count; i++) {
                slot_t *slot = &workers->slots[i];
                if (slot->busy && !strcmp(slot->dispatch_id, dispatch_id)) {
                        slot->busy = false;
                        atomic_fetch_add(&workers->counters.cancelled, 1);
                        return;
                }
        }
}

/* A dispatch record into @p slot: decoded, STARTED sent; a cancellation notice stops its attempt instead. */
static void take(bl_workers_t *workers, slot_t *slot, const rd_kafka_message_t *message, int64_t now) {
        bl_record_error_t error;
        bl_dispatch_record_t *record =
                message->payload
                        ? bl_records_decode_dispatch(workers->contracts.schemas, message->payload, message->len, &error)
                        : NULL;
        if (!record) {
                atomic_fetch_add(&workers->counters.undecodable, 1);
                bl_log_warn("demo", "%s workers: a dispatch record at offset %lld did not decode: %s",
                            workers->domain->name, (long long)message->offset,
                            message->payload ? error.detail : "no value");
                return;
        }
        if (record->dispatch.cancel) { /* a cancellation notice (SPEC §15): stop that attempt, take nothing */
                stop_cancelled(workers, record->dispatch.dispatch_id);
                bl_dispatch_record_destroy(record);
                return;
        }
        snprintf(slot->task_id, sizeof(slot->task_id), "%s", record->item->task_id);
        snprintf(slot->dispatch_id, sizeof(slot->dispatch_id), "%s", record->dispatch.dispatch_id);
        slot->attempt = record->item->attempt;
        slot->fate = fate_of(workers, slot->task_id, slot->attempt, now);
        slot->done_at_ms =
                now + bl_rng_range(&workers->rng, workers->domain->work_ms_min, workers->domain->work_ms_max);
        slot->busy = true;
        bl_dispatch_record_destroy(record);
        atomic_fetch_add(&workers->counters.taken, 1);
        if (slot->attempt > 1)
                atomic_fetch_add(&workers->counters.retries_taken, 1);
        send_result(workers, slot, "STARTED");
}

static void finish(bl_workers_t *workers, slot_t *slot) {
        switch (slot->fate) {
        case FATE_COMPLETED:
                send_result(workers, slot, "COMPLETED");
                atomic_fetch_add(&workers->counters.completed, 1);
                break;
        case FATE_FAILED_RETRYABLE:
                send_result(workers, slot, "FAILED");
                atomic_fetch_add(&workers->counters.failed_retryable, 1);
                break;
        case FATE_FAILED_PERMANENT:
                send_result(workers, slot, "FAILED");
                atomic_fetch_add(&workers->counters.failed_permanent, 1);
                break;
        }
        slot->busy = false;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void *work(void *opaque) {
        bl_workers_t *workers = opaque;
        int64_t last_commit_ms = monotonic_ms();
        while (!atomic_load(&workers->stop)) {
                int64_t now = monotonic_ms(), wake = now + IDLE_WAIT_MS;
                slot_t *free_slot = NULL;
                for (int i = 0; i < workers->slot_count; i++) {
                        slot_t *slot = &workers->slots[i];
                        if (slot->busy && slot->done_at_ms <= now)
                                finish(workers, slot);
                        if (!slot->busy && !free_slot)
                                free_slot = slot;
                        if (slot->busy && slot->done_at_ms < wake)
                                wake = slot->done_at_ms;
                }
                if (now - last_commit_ms >= workers->domain->commit_interval_ms) {
                        rd_kafka_commit(workers->consumer, NULL, 1); /* the offsets of what was taken */
                        last_commit_ms = now;
                }
                rd_kafka_poll(workers->producer, 0);
                if (!free_slot) {
                        usleep((useconds_t)(wake > now ? wake - now : 1) * 1000);
                        continue;
                }
                /* Poll only with a slot free: what cannot be run yet stays in Kafka, as lag. */
                rd_kafka_message_t *message = rd_kafka_consumer_poll(workers->consumer, (int)(wake - now));
                if (!message)
                        continue;
                if (!message->err)
                        take(workers, free_slot, message, monotonic_ms());
                rd_kafka_message_destroy(message);
        }
        rd_kafka_commit(workers->consumer, NULL, 0);
        rd_kafka_consumer_close(workers->consumer);
        rd_kafka_flush(workers->producer, FLUSH_TIMEOUT_MS);
        return NULL;
}

static bool open_clients(bl_workers_t *workers, const bl_config_t *config, char *errstr, size_t errstr_size) {
        char topic[512];
        const char *consumer_overrides[] = {"client.id",
                                            workers->producer_name,
                                            "group.id",
                                            workers->domain->worker_group,
                                            "auto.offset.reset",
                                            "earliest",
                                            "enable.auto.commit",
                                            "false",
                                            "enable.auto.offset.store",
                                            "true",
                                            "isolation.level",
                                            "read_committed",
                                            NULL};
        const char *producer_overrides[] = {
                "client.id", workers->producer_name, "partitioner", "murmur2_random", "linger.ms", "5", NULL};
        rd_kafka_conf_t *conf = bl_kafka_conf_new(config, producer_overrides, errstr, errstr_size);
        if (!conf)
                return false;
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, workers);
        if (!(workers->producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)) ||
            !(workers->consumer = bl_kafka_new(RD_KAFKA_CONSUMER, config, consumer_overrides, errstr, errstr_size)))
                return false;
        rd_kafka_poll_set_consumer(workers->consumer);
        snprintf(topic, sizeof(topic), "%sdispatch.%s", config->topics_prefix, workers->domain->name);
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(workers->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "subscribing to %s: %s", topic, rd_kafka_err2str(err));
                return false;
        }
        return true;
}

bl_workers_t *bl_workers_start(const bl_config_t *config, const bl_scenario_domain_t *domain, uint64_t seed,
                               double rate, char *errstr, size_t errstr_size) {
        char subject[512];
        bl_workers_t *workers = calloc(1, sizeof(*workers));
        if (!workers) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        workers->domain = domain;
        workers->seed = seed;
        workers->started_ms = monotonic_ms();
        bl_rng_seed(&workers->rng, seed ^ bl_scenario_hash(seed, domain->name, 0));
        atomic_init(&workers->stop, false);
        snprintf(workers->producer_name, sizeof(workers->producer_name), "demo-%s-worker", domain->name);
        workers->slot_count = bl_scenario_slots(domain, rate);
        workers->slots = calloc((size_t)workers->slot_count, sizeof(*workers->slots));
        workers->results_topic = bl_config_topic_name(config, "tasks.results");
        if (!workers->slots || !workers->results_topic) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                goto fail;
        }
        if (!bl_contract_source_open(&workers->contracts, config, errstr, errstr_size))
                goto fail;
        workers->schema = bl_schemas_newest(workers->contracts.schemas, "task_event");
        if (!workers->schema) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "the contracts have no task_event");
                goto fail;
        }
        snprintf(subject, sizeof(subject), "%s-value", workers->results_topic);
        if (bl_schemas_publish(workers->contracts.schemas, workers->schema, subject, &workers->schema_id, errstr,
                               errstr_size) ||
            !open_clients(workers, config, errstr, errstr_size))
                goto fail;
        if (pthread_create(&workers->thread, NULL, work, workers)) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot start the %s workers' thread", domain->name);
                goto fail;
        }
        workers->started = true;
        return workers;
fail:
        bl_workers_destroy(workers);
        return NULL;
}

void bl_workers_stop(bl_workers_t *workers) {
        if (!workers || !workers->started)
                return;
        atomic_store(&workers->stop, true);
        pthread_join(workers->thread, NULL);
        workers->started = false;
}

void bl_workers_destroy(bl_workers_t *workers) {
        if (!workers)
                return;
        bl_workers_stop(workers);
        if (workers->consumer)
                rd_kafka_destroy(workers->consumer);
        if (workers->producer)
                rd_kafka_destroy(workers->producer);
        bl_contract_source_close(&workers->contracts);
        free(workers->results_topic);
        free(workers->slots);
        free(workers);
}

void bl_workers_stats(const bl_workers_t *workers, bl_workers_stats_t *stats) {
        counters_t *c = (counters_t *)&workers->counters;
        stats->slots = workers->slot_count;
        stats->taken = atomic_load(&c->taken);
        stats->retries_taken = atomic_load(&c->retries_taken);
        stats->completed = atomic_load(&c->completed);
        stats->failed_retryable = atomic_load(&c->failed_retryable);
        stats->failed_permanent = atomic_load(&c->failed_permanent);
        stats->undecodable = atomic_load(&c->undecodable);
        stats->delivered = atomic_load(&c->delivered);
        stats->delivery_failed = atomic_load(&c->delivery_failed);
        stats->cancelled = atomic_load(&c->cancelled);
}
