/*
 * bench/deadlines.c: how many deadlines a policy misses when the workers can
 * run only about half of the deadline-bound tasks in time, with and without
 * the deadline_risk criterion (SPEC §14, docs/policy.md).
 *
 * A simulation on the real core: the backlog (core/backlog.c, its
 * scheduler and timers), the policy's scoring (core/policy.c) and the
 * capacity estimate (core/capacity.c), fed from the backlog's transitions
 * as `run` feeds them. Only the workers and the clock are simulated: W
 * workers of one domain, each taking a dispatch when free, STARTED after a
 * pickup delay, COMPLETED after a runtime drawn from its task_type (normal,
 * "quick" 1 s +- 0.25 s, "slow" 4 s +- 1 s; half of each). Tasks arrive as a
 * Poisson stream for the first ARRIVAL_S seconds at twice the rate the
 * workers can serve (the mean runtime plus pickup divided by W), each with
 * a deadline uniform in [5 s, 60 s] after its arrival and a business value
 * uniform in [0, 1]. The clock steps 10 ms; at each step the workers
 * report, the backlog's timers fire (a READY task past its deadline
 * expires: on_deadline expire), and each free worker gets the best READY
 * task.
 *
 * Two policies, the same arrivals (same seed) for both: the baseline
 * weights business_value 1, sla_urgency 2 (horizon 60 s), aging 1 (horizon
 * 60 s); the other adds deadline_risk 4. A deadline is met when the task
 * COMPLETED by it; missed when it expired or completed late. Prints the
 * counts per seed and in total, then one JSON line. Main thread only.
 *
 *   build/bench_deadlines [--seeds N] [--workers W] [--arrival-s S]
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/backlog.h"
#include "core/capacity.h"
#include "core/policy.h"

#define STEP_MS 10
#define PICKUP_MS 50
#define MAX_WORKERS 64
#define T0 ((int64_t)1700000000000)
#define DOMAIN "inference"

typedef struct task_type_s {
        const char *name;
        double runtime_ms, runtime_sd_ms;
} task_type_t;

static const task_type_t task_types[] = {{"quick", 1000, 250}, {"slow", 4000, 1000}};

typedef struct arrival_s {
        char task_id[32];
        int64_t at_ms;
        int64_t deadline_ms;
        double business_value;
        size_t type;
} arrival_t;

typedef struct worker_s {
        bool busy, started;
        char task_id[32];
        int32_t attempt;
        int64_t start_at_ms, done_at_ms, deadline_ms;
} worker_t;

typedef struct outcome_s {
        uint64_t met, late, expired, total;
} outcome_t;

typedef struct sim_s {
        const bl_policy_t *policy;
        bl_capacity_t *capacity;
        bl_backlog_t *backlog;
        worker_t workers[MAX_WORKERS];
        int worker_count;
        rng_t rng;
        outcome_t outcome;
        unsigned event_serial;
} sim_t;

static double normal_draw(rng_t *rng, double mean, double sd) {
        double u = rng_unit(rng), v = rng_unit(rng);
        double x = mean + sd * sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
        return x >= 1.0 ? x : 1.0;
}

static size_t type_of(const char *name) {
        return name && !strcmp(name, task_types[1].name) ? 1 : 0;
}

/* ---- the policy, as steer.c hands it to the backlog ------------------------------------------ */

static double score(void *opaque, const bl_item_t *item, int64_t now_ms) {
        sim_t *sim = opaque;
        return bl_policy_score_task_with(sim->policy, item, now_ms, sim->capacity, NULL, NULL);
}

static void decide(void *opaque, const bl_item_t *item, int64_t now_ms, bl_decision_t *decision) {
        sim_t *sim = opaque;
        const bl_policy_t *chosen = NULL;
        decision->score =
                bl_policy_score_task_with(sim->policy, item, now_ms, sim->capacity, decision->criteria, &chosen);
        decision->criteria_count = BL_POLICY_CRITERIA;
        decision->policy_name = bl_policy_name(chosen);
        decision->policy_version = bl_policy_version(chosen);
}

/* ---- the sink: the capacity estimate learns, dispatches go to free workers ------------------ */

static void on_changed(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        sim_t *sim = opaque;
        if (transition->has_from && transition->from != transition->to)
                bl_capacity_observe(sim->capacity, item->kind->domain, item->kind->task_type, transition->from,
                                    transition->from_since_ms, transition->to, true, transition->at_ms);
        if (transition->to == BL_STATE_EXPIRED)
                sim->outcome.expired++;
}

static void on_dispatched(void *opaque, const bl_dispatch_t *dispatch) {
        sim_t *sim = opaque;
        for (int w = 0; w < sim->worker_count; w++) {
                worker_t *worker = &sim->workers[w];
                if (worker->busy)
                        continue;
                const task_type_t *type = &task_types[type_of(dispatch->item->kind->task_type)];
                *worker = (worker_t){.busy = true, .attempt = dispatch->item->attempt};
                snprintf(worker->task_id, sizeof(worker->task_id), "%s", dispatch->item->task_id);
                worker->start_at_ms = dispatch->decided_at_ms + PICKUP_MS;
                worker->done_at_ms =
                        worker->start_at_ms + (int64_t)normal_draw(&sim->rng, type->runtime_ms, type->runtime_sd_ms);
                worker->deadline_ms = dispatch->item->deadline_ms;
                return;
        }
        fprintf(stderr, "bench_deadlines: a dispatch with no free worker\n");
        exit(1);
}

static void on_notice(void *opaque, const bl_notice_t *notice) {
        (void)opaque;
        (void)notice;
}

static void on_dead_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        (void)opaque;
        (void)item;
        (void)reason;
        (void)detail;
}

static void on_purged(void *opaque, const char *task_id, int32_t partition) {
        (void)opaque;
        (void)task_id;
        (void)partition;
}

/* ---- events ------------------------------------------------------------------------------- */

static void apply(sim_t *sim, bl_task_event_t *event, int64_t now_ms) {
        char event_id[32], detail[256];
        snprintf(event_id, sizeof(event_id), "e-%u", ++sim->event_serial);
        event->event_id = event_id;
        event->occurred_at_ms = now_ms;
        if (bl_backlog_apply_event(sim->backlog, event, 0, NULL, now_ms, detail, sizeof(detail)) ==
            BL_APPLY_ILLEGAL) {
                fprintf(stderr, "bench_deadlines: %s refused: %s\n", event->task_id, detail);
                exit(1);
        }
}

static void arrive(sim_t *sim, const arrival_t *arrival) {
        bl_task_event_t event = {.task_id = arrival->task_id, .event_type = BL_EVENT_SUBMITTED, .producer = "bench",
                                 .sla_class = "standard", .task_type = task_types[arrival->type].name,
                                 .domain = DOMAIN, .has_business_value = true,
                                 .business_value = arrival->business_value, .has_risk = true, .has_deadline = true,
                                 .deadline_ms = arrival->deadline_ms};
        apply(sim, &event, arrival->at_ms);
        sim->outcome.total++;
}

static void report(sim_t *sim, worker_t *worker, bl_event_type_t type, int64_t now_ms) {
        bl_task_event_t event = {.task_id = worker->task_id, .event_type = type, .producer = "worker",
                                 .has_attempt = true, .attempt = worker->attempt};
        apply(sim, &event, now_ms);
}

static void step_workers(sim_t *sim, int64_t now_ms) {
        int in_flight = 0;
        for (int w = 0; w < sim->worker_count; w++) {
                worker_t *worker = &sim->workers[w];
                if (worker->busy && !worker->started && worker->start_at_ms <= now_ms) {
                        worker->started = true;
                        report(sim, worker, BL_EVENT_STARTED, now_ms);
                }
                if (worker->busy && worker->done_at_ms <= now_ms) {
                        report(sim, worker, BL_EVENT_COMPLETED, now_ms);
                        if (now_ms <= worker->deadline_ms)
                                sim->outcome.met++;
                        else
                                sim->outcome.late++;
                        worker->busy = false;
                }
                in_flight += worker->busy;
        }
        bl_capacity_set_load(sim->capacity, DOMAIN, in_flight, (int64_t)bl_backlog_ready_in(sim->backlog, DOMAIN),
                             now_ms);
}

static size_t free_workers(const sim_t *sim) {
        size_t count = 0;
        for (int w = 0; w < sim->worker_count; w++)
                count += !sim->workers[w].busy;
        return count;
}

/* ---- one run --------------------------------------------------------------------------------- */

static arrival_t *make_arrivals(uint64_t seed, int workers, double arrival_s, size_t *count) {
        rng_t rng = {splitmix64(seed)};
        double mean_service_ms = PICKUP_MS + (task_types[0].runtime_ms + task_types[1].runtime_ms) / 2;
        double rate_per_ms = 2.0 * workers / mean_service_ms; /* twice what the workers serve */
        size_t capacity = (size_t)(arrival_s * 1000 * rate_per_ms * 2) + 16, used = 0;
        arrival_t *arrivals = calloc(capacity, sizeof(*arrivals));
        double at = 0;
        while (arrivals && used < capacity) {
                at += -log(1.0 - rng_unit(&rng)) / rate_per_ms;
                if (at > arrival_s * 1000)
                        break;
                arrival_t *a = &arrivals[used];
                snprintf(a->task_id, sizeof(a->task_id), "t-%06zu", used);
                a->at_ms = T0 + (int64_t)at;
                a->deadline_ms = a->at_ms + 5000 + (int64_t)(rng_unit(&rng) * 55000);
                a->business_value = rng_unit(&rng);
                a->type = rng_below(&rng, 2);
                used++;
        }
        *count = used;
        return arrivals;
}

static outcome_t run(const bl_policy_t *policy, const arrival_t *arrivals, size_t arrival_count, int workers,
                     uint64_t seed) {
        sim_t sim = {.policy = policy, .worker_count = workers, .rng = {splitmix64(seed ^ 0x5eed)}};
        bl_capacity_options_t capacity_options = {.window_ms = 30000, .min_samples = 20};
        sim.capacity = bl_capacity_new(&capacity_options);
        bl_backlog_options_t options = {.lease_ms = 600000, .retry_base_ms = 1000, .retry_cap_ms = 10000,
                                        .max_attempts = 3, .retention_ms = 1000, .dedup_window = 4, .seed = seed,
                                        .rescore_interval_ms = 1000, .score = score, .decide = decide,
                                        .policy_opaque = &sim};
        bl_backlog_sink_t sink = {on_changed, on_dispatched, on_notice, on_dead_letter, on_purged, &sim};
        sim.backlog = bl_backlog_new(&options, &sink);
        if (!sim.capacity || !sim.backlog) {
                fprintf(stderr, "bench_deadlines: out of memory\n");
                exit(1);
        }
        size_t next = 0;
        int64_t end_ms = arrival_count ? arrivals[arrival_count - 1].deadline_ms + 120000 : T0;
        for (int64_t now = T0; now <= end_ms; now += STEP_MS) {
                while (next < arrival_count && arrivals[next].at_ms <= now)
                        arrive(&sim, &arrivals[next++]);
                step_workers(&sim, now);
                bl_backlog_advance(sim.backlog, now);
                size_t idle = free_workers(&sim);
                if (idle > 0)
                        bl_backlog_dispatch(sim.backlog, DOMAIN, idle, now);
                if (next == arrival_count && bl_backlog_ready_count(sim.backlog) == 0 && free_workers(&sim) ==
                                                                                             (size_t)workers)
                        break;
        }
        bl_backlog_destroy(sim.backlog);
        bl_capacity_destroy(sim.capacity);
        return sim.outcome;
}

static bl_policy_t *policy_of(const char *version, double deadline_risk_weight) {
        bl_policy_t *policy = bl_policy_new(NULL);
        if (!policy)
                return NULL;
        policy->name = strdup("bench");
        policy->version = strdup(version);
        policy->weights[BL_CRITERION_BUSINESS_VALUE] = 1.0;
        policy->weights[BL_CRITERION_SLA_URGENCY] = 2.0;
        policy->weights[BL_CRITERION_AGING] = 1.0;
        policy->weights[BL_CRITERION_DEADLINE_RISK] = deadline_risk_weight;
        policy->horizons_ms[BL_HORIZON_URGENCY] = 60000;
        policy->horizons_ms[BL_HORIZON_AGING] = 60000;
        if (!policy->name || !policy->version || !bl_policy_finish(policy)) {
                bl_policy_destroy(policy);
                return NULL;
        }
        return policy;
}

static void usage(void) {
        fprintf(stderr, "usage: bench_deadlines [--seeds N] [--workers W] [--arrival-s S]\n");
}

static uint64_t misses(const outcome_t *o) {
        return o->late + o->expired;
}

int main(int argc, char **argv) {
        unsigned long long seeds = 5, workers = 8, arrival_s = 300;
        static const struct option options[] = {{"seeds", required_argument, NULL, 's'},
                                                {"workers", required_argument, NULL, 'w'},
                                                {"arrival-s", required_argument, NULL, 'a'},
                                                {NULL, 0, NULL, 0}};
        int option;
        while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
                bool ok = (option == 's' && parse_count(optarg, 1, 100, &seeds)) ||
                          (option == 'w' && parse_count(optarg, 1, MAX_WORKERS, &workers)) ||
                          (option == 'a' && parse_count(optarg, 10, 3600, &arrival_s));
                if (!ok) {
                        usage();
                        return 2;
                }
        }
        bl_policy_t *baseline = policy_of("baseline", 0.0), *with_risk = policy_of("deadline_risk", 4.0);
        if (!baseline || !with_risk)
                return 1;
        outcome_t totals[2] = {{0}};
        printf("%d workers, arrivals for %llu s at twice their capacity, deadlines 5-60 s after arrival\n",
               (int)workers, arrival_s);
        printf("%6s %8s | %-29s | %-29s\n", "seed", "tasks", "baseline: met late expired",
               "+deadline_risk: met late expired");
        for (uint64_t seed = 1; seed <= seeds; seed++) {
                size_t count;
                arrival_t *arrivals = make_arrivals(seed, (int)workers, (double)arrival_s, &count);
                if (!arrivals)
                        return 1;
                outcome_t a = run(baseline, arrivals, count, (int)workers, seed);
                outcome_t b = run(with_risk, arrivals, count, (int)workers, seed);
                printf("%6" PRIu64 " %8zu | %9" PRIu64 " %6" PRIu64 " %7" PRIu64 "     | %9" PRIu64 " %6" PRIu64
                       " %7" PRIu64 "\n",
                       seed, count, a.met, a.late, a.expired, b.met, b.late, b.expired);
                const outcome_t *runs[2] = {&a, &b};
                for (int i = 0; i < 2; i++) {
                        totals[i].met += runs[i]->met;
                        totals[i].late += runs[i]->late;
                        totals[i].expired += runs[i]->expired;
                        totals[i].total += runs[i]->total;
                }
                free(arrivals);
        }
        printf("%6s %8" PRIu64 " | %9" PRIu64 " %6" PRIu64 " %7" PRIu64 "     | %9" PRIu64 " %6" PRIu64 " %7" PRIu64
               "\n",
               "total", totals[0].total, totals[0].met, totals[0].late, totals[0].expired, totals[1].met,
               totals[1].late, totals[1].expired);
        printf("missed deadlines: baseline %" PRIu64 ", with deadline_risk %" PRIu64 " (%.1f %% fewer)\n",
               misses(&totals[0]), misses(&totals[1]),
               misses(&totals[0]) ? 100.0 * ((double)misses(&totals[0]) - (double)misses(&totals[1])) /
                                            (double)misses(&totals[0])
                                  : 0.0);
        printf("{\"bench\":\"deadlines\",\"workers\":%d,\"arrival_s\":%llu,\"seeds\":%llu,\"tasks\":%" PRIu64
               ",\"baseline\":{\"met\":%" PRIu64 ",\"late\":%" PRIu64 ",\"expired\":%" PRIu64
               "},\"deadline_risk\":{\"met\":%" PRIu64 ",\"late\":%" PRIu64 ",\"expired\":%" PRIu64 "}}\n",
               (int)workers, arrival_s, seeds, totals[0].total, totals[0].met, totals[0].late, totals[0].expired,
               totals[1].met, totals[1].late, totals[1].expired);
        bl_policy_destroy(baseline);
        bl_policy_destroy(with_risk);
        return 0;
}
