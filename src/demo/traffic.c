/*
 * traffic.c: the demo's synthetic producers.
 *
 * One thread paces SUBMITTED tasks at the requested rate across the four
 * domains by their shares (demo/scenario.c), keyed by task_id and
 * partitioned with murmur2 as every producer of tasks.events must be. Each
 * task gets a business value and a risk spread over [0, 1) and [0, 0.85);
 * a quarter carry a deadline a minute or two ahead, and a few of the slow
 * domain's a deadline only seconds ahead, which they will miss while the
 * domain is throttled (EXPIRED, deadline.expired in the DLQ). Some depend on
 * one or two of the tasks submitted just before them, in any domain, so
 * dependencies cross partitions through backlog.deps. Remediation tasks at
 * the policy's approval threshold are followed, half a second later, by an
 * APPROVED on tasks.control with its actor and reason, as an approver would
 * send it (on tasks.events it would be refused: SPEC §12). Poison pills, one kind after another, go out at even intervals
 * over the first 70% of the run.
 *
 * Events are built as JSON and encoded with the newest TaskEvent of the
 * catalog (contract/encode.h), framed with its catalog id: this thread owns
 * its own contract source, so no schema value is shared with another
 * thread. The counters are atomics the live view reads.
 */
#include "demo/traffic.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract/encode.h"
#include "contract/source.h"
#include "demo/scenario.h"
#include "kafka/client.h"
#include "base/log.h"

#define RECENT_TASKS      64
#define TASK_ID_MAX       32
#define TICK_MS           10
#define FLUSH_TIMEOUT_MS  5000
#define PILLS             6
#define UNKNOWN_SCHEMA_ID 9999
#define PENDING_APPROVALS 256
#define APPROVAL_DELAY_MS 500 /* another topic: an approval sent at once could overtake its submission */

typedef struct counters_s {
        _Atomic uint64_t produced, submitted, approvals, with_deadline, short_deadline, with_deps, delivered,
                delivery_failed;
        _Atomic uint64_t pills[BL_PILL__COUNT];
} counters_t;

struct bl_traffic_s {
        const bl_config_t *config;
        bl_contract_source_t contracts;
        bl_schema_t *schema; /* the newest TaskEvent, in this thread's own cache */
        int32_t schema_id;
        rd_kafka_t *producer;
        char *topic;
        char *control_topic;   /* tasks.control: the approvals, as an approver would send them */
        int32_t control_schema_id;
        struct {
                char task_id[TASK_ID_MAX];
                int64_t due_ms;
        } approvals[PENDING_APPROVALS]; /* a ring, oldest first: sent APPROVAL_DELAY_MS after the submission */
        size_t approvals_head, approvals_count;
        bl_rng_t rng;
        double rate;
        int64_t duration_ms;
        uint64_t sequence;
        char recent[RECENT_TASKS][TASK_ID_MAX]; /* the last tasks submitted, for depends_on */
        size_t recent_count;                    /* filled from recent[0] on, then a ring */
        size_t recent_next;
        pthread_t thread;
        bool started;
        atomic_bool stop;
        counters_t counters;
};

static const char *const task_types[BL_SCENARIO_DOMAINS][2] = {
        {"feature_extraction", "deduplication"},
        {"batch_inference", "embedding"},
        {"offline_evaluation", "regression_suite"},
        {"rollback", "reindex"},
};
static const char *const id_prefixes[BL_SCENARIO_DOMAINS] = {"prep", "infer", "eval", "fix"};
static const char *const tenants[] = {"search", "ads", "fraud", "platform"};
static const char *const pill_reasons[BL_PILL__COUNT] = {"decode.wire_format", "contract.violation",
                                                         "decode.schema_unknown"};

const char *bl_pill_reason(bl_pill_t pill) {
        return (unsigned)pill < BL_PILL__COUNT ? pill_reasons[pill] : "unknown";
}

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
        bl_traffic_t *traffic = opaque;
        (void)rk;
        atomic_fetch_add(message->err ? &traffic->counters.delivery_failed : &traffic->counters.delivered, 1);
}

/* ---- records -------------------------------------------------------------------- */

/* Hands @p value (malloc'd; librdkafka frees it) to the producer, waiting out a full queue. */
static void send_record(bl_traffic_t *traffic, const char *topic, const char *key, unsigned char *value,
                        size_t value_size) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(traffic->producer, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, value_size),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL &&
               !atomic_load(&traffic->stop))
                rd_kafka_poll(traffic->producer, 10);
        if (err) {
                free(value);
                atomic_fetch_add(&traffic->counters.delivery_failed, 1);
                return;
        }
        atomic_fetch_add(&traffic->counters.produced, 1);
}

/* Encodes @p event (taken over) and sends it to @p topic; with @p pill, spoils the bytes first. */
static void send_event_to(bl_traffic_t *traffic, const char *topic, int32_t schema_id, const char *task_id,
                          json_t *event, int pill) {
        char errstr[512];
        unsigned char *value = NULL;
        size_t value_size = 0;
        bl_err_t err = bl_encode_json(traffic->schema, schema_id, event, &value, &value_size, errstr, sizeof(errstr));
        json_decref(event);
        if (err) {
                bl_log_error("demo", "encoding %s: %s", task_id, errstr);
                return;
        }
        if (pill == BL_PILL_WIRE_FORMAT) {
                value[0] = 1; /* the Confluent magic byte is 0 */
        } else if (pill == BL_PILL_SCHEMA_UNKNOWN) {
                value[1] = 0;
                value[2] = 0;
                value[3] = (unsigned char)(UNKNOWN_SCHEMA_ID >> 8);
                value[4] = (unsigned char)(UNKNOWN_SCHEMA_ID & 0xFF);
        }
        send_record(traffic, topic, task_id, value, value_size);
}

static void send_event(bl_traffic_t *traffic, const char *task_id, json_t *event, int pill) {
        send_event_to(traffic, traffic->topic, traffic->schema_id, task_id, event, pill);
}

static json_t *new_event(const char *task_id, const char *event_id, const char *type) {
        json_t *event = json_object();
        json_object_set_new(event, "event_id", json_string(event_id));
        json_object_set_new(event, "task_id", json_string(task_id));
        json_object_set_new(event, "event_type", json_string(type));
        json_object_set_new(event, "occurred_at", json_integer(wall_ms()));
        json_object_set_new(event, "producer", json_string("demo-producer"));
        return event;
}

static int pick_domain(bl_traffic_t *traffic) {
        double draw = bl_rng_unit(&traffic->rng), sum = 0;
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                sum += bl_scenario_domains[d].share;
                if (draw < sum)
                        return d;
        }
        return BL_SCENARIO_DOMAINS - 1;
}

static void remember(bl_traffic_t *traffic, const char *task_id) {
        snprintf(traffic->recent[traffic->recent_next], TASK_ID_MAX, "%s", task_id);
        traffic->recent_next = (traffic->recent_next + 1) % RECENT_TASKS;
        if (traffic->recent_count < RECENT_TASKS)
                traffic->recent_count++;
}

/* depends_on: one or two distinct tasks among the recent ones. */
static json_t *pick_dependencies(bl_traffic_t *traffic) {
        json_t *deps = json_array();
        int64_t wanted = bl_rng_range(&traffic->rng, 1, 2);
        for (int64_t i = 0; i < wanted; i++) {
                const char *dep = traffic->recent[bl_rng_next(&traffic->rng) % traffic->recent_count];
                bool seen = false;
                for (size_t j = 0; j < json_array_size(deps); j++)
                        seen |= !strcmp(json_string_value(json_array_get(deps, j)), dep);
                if (!seen)
                        json_array_append_new(deps, json_string(dep));
        }
        return deps;
}

/* The approver's APPROVED on tasks.control, with who and why (TaskEvent v3). */
static void approve(bl_traffic_t *traffic, const char *task_id) {
        char event_id[TASK_ID_MAX + 16];
        snprintf(event_id, sizeof(event_id), "%s/approved", task_id);
        json_t *event = new_event(task_id, event_id, "APPROVED");
        json_object_set_new(event, "actor", json_string("demo-approver"));
        json_object_set_new(event, "reason", json_string("risk reviewed"));
        send_event_to(traffic, traffic->control_topic, traffic->control_schema_id, task_id, event, -1);
        atomic_fetch_add(&traffic->counters.approvals, 1);
}

static void queue_approval(bl_traffic_t *traffic, const char *task_id) {
        if (traffic->approvals_count == PENDING_APPROVALS) { /* a flood of risky tasks: approve the oldest now */
                approve(traffic, traffic->approvals[traffic->approvals_head].task_id);
                traffic->approvals_head = (traffic->approvals_head + 1) % PENDING_APPROVALS;
                traffic->approvals_count--;
        }
        size_t slot = (traffic->approvals_head + traffic->approvals_count) % PENDING_APPROVALS;
        snprintf(traffic->approvals[slot].task_id, TASK_ID_MAX, "%s", task_id);
        traffic->approvals[slot].due_ms = monotonic_ms() + APPROVAL_DELAY_MS;
        traffic->approvals_count++;
}

/* Sends the approvals due at @p at_ms (all of them with @p at_ms INT64_MAX: the end). */
static void send_due_approvals(bl_traffic_t *traffic, int64_t at_ms) {
        while (traffic->approvals_count && traffic->approvals[traffic->approvals_head].due_ms <= at_ms) {
                approve(traffic, traffic->approvals[traffic->approvals_head].task_id);
                traffic->approvals_head = (traffic->approvals_head + 1) % PENDING_APPROVALS;
                traffic->approvals_count--;
        }
}

static void submit_task(bl_traffic_t *traffic) {
        char task_id[TASK_ID_MAX], event_id[64], payload[96];
        int d = pick_domain(traffic);
        const bl_scenario_domain_t *domain = &bl_scenario_domains[d];
        bl_rng_t *rng = &traffic->rng;
        int64_t now = wall_ms();
        double risk = bl_rng_unit(rng) * 0.85;
        const char *tenant = tenants[bl_rng_next(rng) % (sizeof(tenants) / sizeof(tenants[0]))];
        traffic->sequence++;
        snprintf(task_id, sizeof(task_id), "%s-%06llu", id_prefixes[d], (unsigned long long)traffic->sequence);
        snprintf(event_id, sizeof(event_id), "%s/submitted", task_id);
        snprintf(payload, sizeof(payload), "{\"input\":\"s3://demo/%s/%s\"}", tenant, task_id);

        json_t *event = new_event(task_id, event_id, "SUBMITTED");
        json_object_set_new(event, "task_type", json_string(task_types[d][bl_rng_next(rng) % 2]));
        json_object_set_new(event, "domain", json_string(domain->name));
        json_object_set_new(event, "tenant", json_string(tenant));
        json_object_set_new(event, "sla_class", json_string(bl_rng_unit(rng) < 0.2 ? "premium" : "standard"));
        json_object_set_new(event, "business_value", json_real(bl_rng_unit(rng)));
        json_object_set_new(event, "risk", json_real(risk));
        json_object_set_new(event, "labels", json_pack("{s:s}", "team", tenant));
        json_object_set_new(event, "payload", json_string(payload));
        if (domain->slow && bl_rng_unit(rng) < 0.08) {
                json_object_set_new(event, "deadline", json_integer(now + bl_rng_range(rng, 1000, 3000)));
                atomic_fetch_add(&traffic->counters.short_deadline, 1);
                atomic_fetch_add(&traffic->counters.with_deadline, 1);
        } else if (bl_rng_unit(rng) < 0.25) {
                json_object_set_new(event, "deadline", json_integer(now + bl_rng_range(rng, 60000, 600000)));
                atomic_fetch_add(&traffic->counters.with_deadline, 1);
        }
        if (bl_rng_unit(rng) < 0.5)
                json_object_set_new(event, "data_ready_at", json_integer(now - bl_rng_range(rng, 0, 6 * 3600000)));
        if (traffic->recent_count > 0 && bl_rng_unit(rng) < 0.15) {
                json_object_set_new(event, "depends_on", pick_dependencies(traffic));
                atomic_fetch_add(&traffic->counters.with_deps, 1);
        }
        send_event(traffic, task_id, event, -1);
        atomic_fetch_add(&traffic->counters.submitted, 1);
        remember(traffic, task_id);

        if (!strcmp(domain->name, "remediation") && risk >= BL_SCENARIO_APPROVAL_RISK)
                queue_approval(traffic, task_id);
}

static void send_pill(bl_traffic_t *traffic, int number) {
        char task_id[TASK_ID_MAX], event_id[64];
        bl_pill_t pill = (bl_pill_t)(number % BL_PILL__COUNT);
        snprintf(task_id, sizeof(task_id), "poison-%d", number + 1);
        snprintf(event_id, sizeof(event_id), "%s/submitted", task_id);
        json_t *event = new_event(task_id, event_id, "SUBMITTED");
        json_object_set_new(event, "task_type", json_string("batch_inference"));
        json_object_set_new(event, "domain",
                            json_string(pill == BL_PILL_UNKNOWN_DOMAIN ? "quantum_chemistry" : "model_inference"));
        json_object_set_new(event, "business_value", json_real(0.5));
        json_object_set_new(event, "risk", json_real(0.1));
        send_event(traffic, task_id, event, pill == BL_PILL_UNKNOWN_DOMAIN ? -1 : (int)pill);
        atomic_fetch_add(&traffic->counters.pills[pill], 1);
}

/* ---- the thread ------------------------------------------------------------------- */

static void *produce(void *opaque) {
        bl_traffic_t *traffic = opaque;
        int64_t started = monotonic_ms();
        int64_t pill_interval_ms = traffic->duration_ms * 7 / 10 / PILLS;
        uint64_t tasks_due;
        int pills_sent = 0;
        while (!atomic_load(&traffic->stop)) {
                int64_t elapsed_ms = monotonic_ms() - started;
                tasks_due = (uint64_t)(traffic->rate * (double)elapsed_ms / 1000.0);
                while (atomic_load(&traffic->counters.submitted) < tasks_due && !atomic_load(&traffic->stop))
                        submit_task(traffic);
                if (pills_sent < PILLS && elapsed_ms >= (pills_sent + 1) * pill_interval_ms)
                        send_pill(traffic, pills_sent++);
                send_due_approvals(traffic, monotonic_ms());
                rd_kafka_poll(traffic->producer, TICK_MS);
        }
        send_due_approvals(traffic, INT64_MAX);
        rd_kafka_flush(traffic->producer, FLUSH_TIMEOUT_MS);
        return NULL;
}

bl_traffic_t *bl_traffic_start(const bl_config_t *config, uint64_t seed, double rate, int64_t duration_ms, char *errstr,
                               size_t errstr_size) {
        char subject[512];
        const char *overrides[] = {"client.id", "demo-producer", "partitioner", "murmur2_random", "linger.ms", "5",
                                   NULL};
        bl_traffic_t *traffic = calloc(1, sizeof(*traffic));
        rd_kafka_conf_t *conf;
        if (!traffic) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        traffic->config = config;
        traffic->rate = rate;
        traffic->duration_ms = duration_ms;
        bl_rng_seed(&traffic->rng, seed);
        atomic_init(&traffic->stop, false);
        traffic->topic = bl_config_topic_name(config, "tasks.events");
        traffic->control_topic = bl_config_topic_name(config, "tasks.control");
        if (!traffic->topic || !traffic->control_topic || !bl_contract_source_open(&traffic->contracts, config, errstr, errstr_size))
                goto fail;
        snprintf(subject, sizeof(subject), "%s-value", traffic->topic);
        traffic->schema = bl_schemas_newest(traffic->contracts.schemas, "task_event");
        if (!traffic->schema) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "the contracts have no task_event");
                goto fail;
        }
        if (bl_schemas_publish(traffic->contracts.schemas, traffic->schema, subject, &traffic->schema_id, errstr,
                               errstr_size))
                goto fail;
        snprintf(subject, sizeof(subject), "%s-value", traffic->control_topic);
        if (bl_schemas_publish(traffic->contracts.schemas, traffic->schema, subject, &traffic->control_schema_id,
                               errstr, errstr_size))
                goto fail;
        if (!(conf = bl_kafka_conf_new(config, overrides, errstr, errstr_size)))
                goto fail;
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, traffic);
        if (!(traffic->producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)))
                goto fail;
        if (pthread_create(&traffic->thread, NULL, produce, traffic)) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot start the producer thread");
                goto fail;
        }
        traffic->started = true;
        return traffic;
fail:
        bl_traffic_destroy(traffic);
        return NULL;
}

void bl_traffic_stop(bl_traffic_t *traffic) {
        if (!traffic || !traffic->started)
                return;
        atomic_store(&traffic->stop, true);
        pthread_join(traffic->thread, NULL);
        traffic->started = false;
}

void bl_traffic_destroy(bl_traffic_t *traffic) {
        if (!traffic)
                return;
        bl_traffic_stop(traffic);
        if (traffic->producer)
                rd_kafka_destroy(traffic->producer);
        bl_contract_source_close(&traffic->contracts);
        free(traffic->topic);
        free(traffic->control_topic);
        free(traffic);
}

void bl_traffic_stats(const bl_traffic_t *traffic, bl_traffic_stats_t *stats) {
        counters_t *c = (counters_t *)&traffic->counters;
        stats->produced = atomic_load(&c->produced);
        stats->submitted = atomic_load(&c->submitted);
        stats->approvals = atomic_load(&c->approvals);
        stats->with_deadline = atomic_load(&c->with_deadline);
        stats->short_deadline = atomic_load(&c->short_deadline);
        stats->with_deps = atomic_load(&c->with_deps);
        stats->delivered = atomic_load(&c->delivered);
        stats->delivery_failed = atomic_load(&c->delivery_failed);
        for (int i = 0; i < BL_PILL__COUNT; i++)
                stats->pills[i] = atomic_load(&c->pills[i]);
}
