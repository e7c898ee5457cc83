/*
 * observe.c: what `backlogd run` shows of itself: the Prometheus series of
 * SPEC §8 and the /healthz and /readyz answers.
 *
 * Series handles are created once, at start-up, for every state, domain,
 * input topic and DLQ reason, so the hot path only does atomic updates.
 * Gauges that summarise the backlog (items by state and domain, oldest age
 * per state) are recomputed by one walk over the items, on the pipeline
 * thread, every second, or less often when the walk is long: the next one
 * comes GAUGE_DUTY_FACTOR times the last walk's CPU time later, so the
 * census never takes more than about 1 % of the thread (a walk over a
 * million items takes 100 to 200 ms). The other gauges (lag, throttled,
 * input paused, dead letters) are cheap and set every 100 ms: a domain's
 * lag peaks at its max_lag only until its workers' next commit is seen. The
 * HTTP thread only renders. Counters that other modules
 * already keep (the DLQ's per reason, the ingest stats) are mirrored at the
 * same tick rather than counted twice.
 *
 * Health (/healthz beyond the heartbeat): recovery.c tells of each commit and
 * abort (bl_observe_committed, bl_observe_aborted), and every gauge tick
 * asks whether work waits for a commit: input consumed and not committed,
 * a partition paused for retry, a batch open or committing, a timer due, or
 * a batch aborted since the last commit. The pipeline thread keeps that
 * state in observe.health and copies it to the HTTP server, which judges it
 * at each request (bl_http_health_failing); a change of verdict is logged
 * here, once.
 *
 * The pilot of a domain's decision agent (SPEC §13) against its control
 * group: every transition written passes through the live fold of
 * core/pilot.c (bl_observe_transition), the same fold as `backlogd pilot
 * report`, which follows the tasks of domains with an agent and says what
 * each transition counted: a wait, the end of a first attempt, a deadline
 * miss, each in the row of who decided (decided_by: the agent's
 * name@version, policy, control). The series of (domain, decided_by) are
 * looked up once and kept; the fold bounds the rows per domain, so the
 * labels are bounded too (never a task id).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "core/guardrails.h"
#include "core/pilot.h"
#include "core/policy.h"
#include "pipeline/pipeline_int.h"

#define GAUGE_TICK_MS 100     /* the gauges other modules count for: lag and throttling change fast */
#define CENSUS_TICK_MS 1000   /* the walk over every item, at the shortest */
#define GAUGE_DUTY_FACTOR 100

static bool is_invalid_reason(bl_reason_t reason) {
        return reason == BL_REASON_DECODE_WIRE_FORMAT || reason == BL_REASON_DECODE_SCHEMA_UNKNOWN ||
               reason == BL_REASON_DECODE_AVRO || reason == BL_REASON_CONTRACT_INCOMPATIBLE ||
               reason == BL_REASON_CONTRACT_VIOLATION || reason == BL_REASON_TRANSITION_ILLEGAL;
}

static void make_series(bl_pipeline_t *p) {
        bl_observe_t *o = &p->observe;
        const bl_metrics_backlogd_t *m = &o->metrics;
        const bl_strlist_t *domains = &p->config->domains;
        const char *topics[] = {p->topic_events, p->topic_results, p->topic_control, p->topic_deps};
        for (int s = 0; s < BL_STATE__COUNT; s++) {
                o->oldest[s] = bl_metrics_series(m->backlog_oldest_age_seconds, bl_state_name((bl_state_t)s));
                for (size_t d = 0; d < domains->count && d < BL_OBSERVE_DOMAINS; d++)
                        o->items[s][d] = bl_metrics_series(m->backlog_items, bl_state_name((bl_state_t)s),
                                                           domains->items[d]);
        }
        for (int t = 0; t < 4; t++)
                o->events[t] = bl_metrics_series(m->ingest_events, topics[t]);
        for (int r = 1; r < BL_REASON__COUNT; r++) {
                o->dlq[r] = bl_metrics_series(m->dlq_records, bl_reason_name((bl_reason_t)r));
                o->invalid[r] = is_invalid_reason((bl_reason_t)r)
                                        ? bl_metrics_series(m->ingest_invalid, bl_reason_name((bl_reason_t)r))
                                        : NULL;
        }
        for (size_t d = 0; d < domains->count && d < BL_OBSERVE_DOMAINS; d++) {
                o->lag[d] = bl_metrics_series(m->backpressure_lag, domains->items[d]);
                o->throttled[d] = bl_metrics_series(m->backpressure_throttled, domains->items[d]);
        }
        o->input_paused = bl_metrics_series(m->backpressure_input_paused);
        o->memory_bytes = bl_metrics_series(m->backlog_memory_bytes);
        o->frozen_tasks = bl_metrics_series(m->backlog_frozen_tasks);
        o->spill_file_bytes = bl_metrics_series(m->spill_file_bytes);
        o->freeze_failures = bl_metrics_series(m->spill_freeze_failures);
        o->decision_seconds = bl_metrics_series(m->scheduler_decision_seconds);
        o->commit_seconds = bl_metrics_series(m->txn_commit_seconds);
        o->batch_age_seconds = bl_metrics_series(m->txn_batch_age_seconds);
        o->batch_records = bl_metrics_series(m->txn_batch_records);
        o->committed = bl_metrics_series(m->txn_committed);
        o->aborted = bl_metrics_series(m->txn_aborted);
        o->given_up[BL_UNIT_RECORD] = bl_metrics_series(m->pipeline_given_up, "record");
        o->given_up[BL_UNIT_TIMER] = bl_metrics_series(m->pipeline_given_up, "timer");
        o->given_up[BL_UNIT_DISPATCH] = bl_metrics_series(m->pipeline_given_up, "dispatch");
        o->held_back = bl_metrics_series(m->pipeline_held_back);
        o->producer_renewals = bl_metrics_series(m->txn_producer_renewals);
        o->restore_seconds = bl_metrics_series(m->restore_seconds);
        o->restore_items = bl_metrics_series(m->restore_items);
        o->last_commit_age = bl_metrics_series(m->pipeline_last_commit_age_seconds);
        o->stalled = bl_metrics_series(m->pipeline_stalled_seconds);
        o->aborts_in_row = bl_metrics_series(m->pipeline_aborts_in_row);
}

/* ---- an agent's pilot against its control group (SPEC §13) -------------------------- */

/* The series of one (domain, decided_by). */
typedef struct pilot_series_s {
        char *domain, *decided_by;
        bl_metric_series_t *wait, *misses, *completed, *failed;
} pilot_series_t;

struct bl_observe_pilot_s {
        pilot_series_t *entries;
        size_t count, capacity;
        bool out_of_memory_logged;
};

static void close_pilot(bl_observe_t *o) {
        for (size_t i = 0; o->pilot_series && i < o->pilot_series->count; i++) {
                free(o->pilot_series->entries[i].domain);
                free(o->pilot_series->entries[i].decided_by);
        }
        if (o->pilot_series)
                free(o->pilot_series->entries);
        free(o->pilot_series);
        bl_pilot_destroy(o->pilot);
        o->pilot_series = NULL;
        o->pilot = NULL;
}

static bool open_pilot(bl_observe_t *o) {
        o->pilot = bl_pilot_new_live();
        o->pilot_series = calloc(1, sizeof(*o->pilot_series));
        return o->pilot && o->pilot_series;
}

/* The series of (@p domain, @p decided_by), made at its first use; NULL when out of memory. */
static pilot_series_t *pilot_series(bl_observe_t *o, const char *domain, const char *decided_by) {
        struct bl_observe_pilot_s *all = o->pilot_series;
        const bl_metrics_backlogd_t *m = &o->metrics;
        for (size_t i = 0; i < all->count; i++)
                if (!strcmp(all->entries[i].decided_by, decided_by) && !strcmp(all->entries[i].domain, domain))
                        return &all->entries[i];
        if (all->count == all->capacity) {
                size_t capacity = all->capacity ? all->capacity * 2 : 8;
                pilot_series_t *entries = realloc(all->entries, capacity * sizeof(*entries));
                if (!entries)
                        return NULL;
                all->entries = entries;
                all->capacity = capacity;
        }
        pilot_series_t *entry = &all->entries[all->count];
        if (!(entry->domain = strdup(domain)) || !(entry->decided_by = strdup(decided_by))) {
                free(entry->domain);
                return NULL;
        }
        entry->wait = bl_metrics_series(m->pilot_wait_seconds, domain, decided_by);
        entry->misses = bl_metrics_series(m->pilot_deadline_misses, domain, decided_by);
        entry->completed = bl_metrics_series(m->pilot_first_attempts, domain, decided_by, "completed");
        entry->failed = bl_metrics_series(m->pilot_first_attempts, domain, decided_by, "failed");
        all->count++;
        return entry;
}

/* The domain's agent in the running policy; NULL: none (or no policy). */
static const bl_agent_policy_t *agent_of(const bl_pipeline_t *p, const char *domain) {
        return p->policy && domain ? bl_policy_domain(p->policy, domain)->agent : NULL;
}

/* An EXPIRED task no row decided: the control group's when it is not a pilot task, else the policy's. */
static const char *undecided_label(const bl_pipeline_t *p, const char *domain, const char *task_id) {
        const bl_agent_policy_t *agent = agent_of(p, domain);
        return agent && bl_policy_in_pilot(agent, task_id) ? "policy" : "control";
}

static void count_pilot_effect(bl_pipeline_t *p, const bl_pilot_effect_t *effect, const char *task_id) {
        bl_observe_t *o = &p->observe;
        pilot_series_t *series;
        if (effect->dispatch_label && effect->wait_ms >= 0 &&
            (series = pilot_series(o, effect->domain, effect->dispatch_label)))
                bl_metric_observe(series->wait, (double)effect->wait_ms / 1000.0);
        if (effect->attempt_label && (series = pilot_series(o, effect->domain, effect->attempt_label)))
                bl_metric_inc(effect->attempt_succeeded ? series->completed : series->failed, 1);
        if (effect->miss_label && (series = pilot_series(o, effect->domain, effect->miss_label)))
                bl_metric_inc(series->misses, 1);
        if (effect->expired_undecided &&
            (series = pilot_series(o, effect->domain, undecided_label(p, effect->domain, task_id))))
                bl_metric_inc(series->misses, 1);
}

void bl_observe_transition(bl_pipeline_t *p, const bl_transition_t *transition, const bl_item_t *item) {
        bl_observe_t *o = &p->observe;
        bl_pilot_effect_t effect;
        bool track = item && item->kind && agent_of(p, item->kind->domain);
        if (!o->pilot || !o->pilot_series)
                return;
        if (bl_pilot_fold_effect(o->pilot, transition, item, track, &effect) != BL_OK) {
                if (!o->pilot_series->out_of_memory_logged)
                        bl_log_error("observe", "the pilot's metrics: out of memory; some transitions not counted");
                o->pilot_series->out_of_memory_logged = true;
                return;
        }
        if (effect.domain)
                count_pilot_effect(p, &effect, transition->task_id);
}

void bl_observe_partition_revoked(bl_pipeline_t *p, int32_t partition) {
        if (p->observe.pilot)
                bl_pilot_forget_partition(p->observe.pilot, partition);
}

bool bl_observe_open(bl_pipeline_t *p) {
        char errstr[512];
        bl_http_options_t options;
        if (p->options && p->options->registry) { /* the caller's, the catalogue in it (run.h) */
                p->observe.registry = p->options->registry;
                p->observe.metrics = *p->options->metrics;
        } else if (!(p->observe.registry = bl_metrics_new()) ||
                   bl_metrics_register_backlogd(p->observe.registry, &p->observe.metrics, errstr, sizeof(errstr))) {
                bl_log_error("observe", "metrics: %s", p->observe.registry ? errstr : "out of memory");
                return false;
        }
        make_series(p);
        if (!open_pilot(&p->observe))
                bl_log_error("observe", "the pilot's metrics: out of memory; they stay at 0");
        p->observe.health = (bl_http_health_t){.last_commit_ms = bl_clock_monotonic_ms()};
        if (!bl_http_options_from_config(p->config, &options))
                return true; /* http.port 0: no endpoint, no status page */
        p->observe.http = bl_http_start(&options, p->observe.registry, errstr, sizeof(errstr));
        if (!p->observe.http) {
                bl_log_error("observe", "http: %s", errstr);
                return false;
        }
        if (!bl_status_feed_open(p))
                return false;
        bl_log_info("observe", "serving the status page /, /metrics, /healthz and /readyz on %s:%d", options.address,
                    bl_http_port(p->observe.http));
        return true;
}

void bl_observe_close(bl_pipeline_t *p) {
        bl_http_stop(p->observe.http); /* before the registry and the status board it renders */
        bl_status_feed_close(p);
        close_pilot(&p->observe);
        if (!(p->options && p->options->registry))
                bl_metrics_destroy(p->observe.registry);
        p->observe.http = NULL;
        p->observe.registry = NULL;
}

void bl_observe_ready(bl_pipeline_t *p, bool ready, const char *reason) {
        bl_http_set_ready(p->observe.http, ready, reason);
}

void bl_observe_event(bl_pipeline_t *p, const char *topic) {
        const char *topics[] = {p->topic_events, p->topic_results, p->topic_control, p->topic_deps};
        for (int t = 0; t < 4; t++)
                if (!strcmp(topics[t], topic))
                        bl_metric_inc(p->observe.events[t], 1);
}

static int domain_index(const bl_pipeline_t *p, const char *domain) {
        for (size_t d = 0; domain && d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++)
                if (!strcmp(p->config->domains.items[d], domain))
                        return (int)d;
        return -1;
}

/* Whether @p label is "name@version". */
static bool is_policy_label(const char *label, const char *name, const char *version) {
        size_t length = strlen(name);
        return !strncmp(label, name, length) && label[length] == '@' && !strcmp(label + length + 1, version);
}

/* Per decision: the series of (domain, policy) is looked up (a lock) only when the policy changes. */
void bl_observe_dispatch(bl_pipeline_t *p, const char *domain, const char *policy_name, const char *policy_version) {
        bl_observe_t *o = &p->observe;
        char policy[sizeof(o->dispatched_policy[0])];
        int d = domain_index(p, domain);
        if (d >= 0 && o->dispatched[d] && is_policy_label(o->dispatched_policy[d], policy_name, policy_version)) {
                bl_metric_inc(o->dispatched[d], 1);
                return;
        }
        snprintf(policy, sizeof(policy), "%s@%s", policy_name, policy_version);
        if (d < 0) {
                bl_metric_inc(bl_metrics_series(o->metrics.dispatch_decisions, domain, policy), 1);
                return;
        }
        o->dispatched[d] = bl_metrics_series(o->metrics.dispatch_decisions, domain, policy);
        snprintf(o->dispatched_policy[d], sizeof(o->dispatched_policy[d]), "%s", policy);
        bl_metric_inc(o->dispatched[d], 1);
}

void bl_observe_consultation(bl_pipeline_t *p, const char *domain, const char *outcome, int64_t latency_ms) {
        const bl_metrics_backlogd_t *m = &p->observe.metrics;
        int d = domain_index(p, domain);
        if (d >= 0 && strcmp(outcome, "not_sent")) { /* for the status page */
                p->observe.agents[d].known = true;
                p->observe.agents[d].last = outcome;
                p->observe.agents[d].last_at_ms = bl_clock_monotonic_ms();
        }
        bl_metric_inc(bl_metrics_series(m->agent_consultations, domain, outcome), 1);
        if (strcmp(outcome, "not_sent") && strcmp(outcome, "cancelled"))
                bl_metric_observe(bl_metrics_series(m->agent_consultation_seconds, domain),
                                  (double)latency_ms / 1000.0);
}

void bl_observe_agent_breaker(bl_pipeline_t *p, const char *domain, int state) {
        int d = domain_index(p, domain);
        bl_metric_set(bl_metrics_series(p->observe.metrics.agent_breaker_state, domain), (double)state);
        if (d >= 0) {
                p->observe.agents[d].known = true;
                p->observe.agents[d].breaker = state;
        }
}

void bl_observe_refusals(bl_pipeline_t *p, const char *domain, const bl_guardrail_result_t *result) {
        const bl_metrics_backlogd_t *m = &p->observe.metrics;
        for (size_t i = 0; i < result->refusal_count; i++)
                bl_metric_inc(bl_metrics_series(m->agent_refusals, domain,
                                                bl_agent_part_name(result->refusals[i].part),
                                                bl_refusal_name(result->refusals[i].reason)),
                              1);
}

typedef struct census_s {
        const bl_pipeline_t *p;
        uint64_t counts[BL_STATE__COUNT][BL_OBSERVE_DOMAINS];
        int64_t oldest_since[BL_STATE__COUNT];
} census_t;

static void count_item(const bl_item_t *item, void *opaque) {
        census_t *census = opaque;
        int d = domain_index(census->p, item->kind->domain);
        if (item->placeholder)
                return;
        if (d >= 0)
                census->counts[item->state][d]++;
        if (item->state_since_ms != BL_NO_TIME &&
            (census->oldest_since[item->state] == BL_NO_TIME || item->state_since_ms < census->oldest_since[item->state]))
                census->oldest_since[item->state] = item->state_since_ms;
}

/* Items by state and domain, and the oldest per state: one walk over every item. */
static void take_census(bl_pipeline_t *p) {
        bl_observe_t *o = &p->observe;
        census_t census = {.p = p};
        int64_t now = bl_clock_wall_ms();
        for (int s = 0; s < BL_STATE__COUNT; s++)
                census.oldest_since[s] = BL_NO_TIME;
        bl_backlog_foreach(p->backlog, count_item, &census);
        for (int s = 0; s < BL_STATE__COUNT; s++) {
                for (size_t d = 0; d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++)
                        bl_metric_set(o->items[s][d], (double)census.counts[s][d]);
                bl_metric_set(o->oldest[s],
                              census.oldest_since[s] == BL_NO_TIME ? 0 : (double)(now - census.oldest_since[s]) / 1000.0);
        }
        for (size_t d = 0; d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++)
                bl_estimate_in_flight(p, d,
                                      (int64_t)(census.counts[BL_STATE_DISPATCHED][d] +
                                                census.counts[BL_STATE_RUNNING][d]));
}

/* The gauges other modules keep counts for: cheap, every tick. */
static void update_gauges(bl_pipeline_t *p) {
        bl_observe_t *o = &p->observe;
        for (int r = 1; r < BL_REASON__COUNT; r++) {
                double count = (double)bl_dlq_count(p->dlq, (bl_reason_t)r);
                bl_metric_set(o->dlq[r], count);
                bl_metric_set(o->invalid[r], count);
        }
        for (size_t d = 0; d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++) {
                bl_metric_set(o->lag[d], (double)bl_credit_outstanding(p->credit, p->config->domains.items[d]));
                bl_metric_set(o->throttled[d], bl_credit_throttled(p->credit, p->config->domains.items[d]) ? 1 : 0);
        }
        bl_metric_set(o->input_paused, p->input_paused ? 1 : 0);
        bl_estimate_tick(p);
}

/* Whether anything waits for a commit; cheap: a few flags, the assigned partitions and the next timer. */
static bool work_pending(const bl_pipeline_t *p) {
        if (p->observe.health.aborts_in_row > 0 || bl_batch_pending(p->batch))
                return true;
        for (size_t i = 0; i < p->partition_count; i++) {
                const bl_input_partition_t *entry = &p->partitions[i];
                if (entry->paused || (entry->done_offset >= 0 && entry->done_offset != entry->committed_offset))
                        return true;
        }
        if (!p->ready)
                return false; /* timers run once the partitions are restored */
        int64_t due = bl_backlog_next_due(p->backlog);
        return due != BL_NO_TIME && due <= bl_clock_wall_ms();
}

/* The health gauges, and the verdict of /healthz logged when it changes. */
static void judge_health(bl_pipeline_t *p, int64_t now) {
        bl_observe_t *o = &p->observe;
        char reason[256];
        bl_metric_set(o->last_commit_age, (double)(now - o->health.last_commit_ms) / 1000.0);
        bl_metric_set(o->stalled, (double)bl_http_health_stalled_ms(&o->health, now) / 1000.0);
        bl_metric_set(o->aborts_in_row, (double)o->health.aborts_in_row);
        bool failing = bl_http_health_failing(&o->health, bl_config_health_max_commit_age_ms(p->config),
                                              (uint64_t)p->config->health_max_aborts_in_row, now, reason,
                                              sizeof(reason));
        if (failing && !o->health_failing)
                bl_log_error("observe", "/healthz fails: %s", reason);
        else if (!failing && o->health_failing)
                bl_log_info("observe", "/healthz passes again");
        o->health_failing = failing;
}

typedef struct refusal_text_s {
        char *out;
        size_t size;
        int64_t now;
        size_t seen;
} refusal_text_t;

static void describe_refusal(const bl_gate_entry_t *entry, void *opaque) {
        refusal_text_t *text = opaque;
        if (text->seen++ > 0)
                return;
        snprintf(text->out, text->size, "topic %.60s refuses writes since %" PRId64 " s (%.60s); next try in %" PRId64
                 " s",
                 entry->topic, (text->now - entry->since_ms) / 1000, entry->cause,
                 entry->retry_at_ms > text->now ? (entry->retry_at_ms - text->now + 999) / 1000 : 0);
}

/* What /healthz says the instance waits for: the first output the broker refuses, and how many more. */
static void describe_refusals(const bl_pipeline_t *p, int64_t now, char *out, size_t out_size) {
        refusal_text_t text = {out, out_size, now, 0};
        out[0] = '\0';
        bl_gate_foreach(p->gate, describe_refusal, &text);
        if (text.seen > 1) {
                size_t used = strlen(out);
                snprintf(out + used, out_size - used, " (and %zu more)", text.seen - 1);
        }
}

static void update_health(bl_pipeline_t *p, int64_t now) {
        bl_http_health_t *health = &p->observe.health;
        bool pending = work_pending(p);
        describe_refusals(p, now, health->waiting_on, sizeof(health->waiting_on));
        if (pending && !health->work_pending)
                health->work_since_ms = now;
        health->work_pending = pending;
        bl_http_set_health(p->observe.http, health);
        judge_health(p, now);
}

void bl_observe_committed(bl_pipeline_t *p) {
        bl_http_health_t *health = &p->observe.health;
        health->last_commit_ms = bl_clock_monotonic_ms();
        health->aborts_in_row = 0;
        bl_http_set_health(p->observe.http, health);
}

void bl_observe_aborted(bl_pipeline_t *p) {
        bl_http_health_t *health = &p->observe.health;
        int64_t now = bl_clock_monotonic_ms();
        health->aborts_in_row++;
        if (!health->work_pending)
                health->work_since_ms = now;
        health->work_pending = true; /* what the batch held runs again */
        bl_http_set_health(p->observe.http, health);
        judge_health(p, now);
}

static double thread_cpu_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

void bl_observe_tick(bl_pipeline_t *p) {
        int64_t now = bl_clock_monotonic_ms();
        bl_http_heartbeat(p->observe.http);
        bl_status_feed_tick(p);
        if (now - p->observe.last_gauges_ms < GAUGE_TICK_MS)
                return;
        p->observe.last_gauges_ms = now;
        update_gauges(p);
        update_health(p, now);
        if (now - p->observe.last_census_ms < p->observe.census_interval_ms)
                return;
        double started = thread_cpu_ms(); /* the walk's own CPU: a preempted walk must not stretch the interval */
        take_census(p);
        int64_t took_ms = (int64_t)(thread_cpu_ms() - started);
        p->observe.last_census_ms = now;
        p->observe.census_interval_ms =
                took_ms * GAUGE_DUTY_FACTOR > CENSUS_TICK_MS ? took_ms * GAUGE_DUTY_FACTOR : CENSUS_TICK_MS;
}
