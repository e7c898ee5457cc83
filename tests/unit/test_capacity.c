/*
 * test_capacity.c: the capacity estimate (core/capacity.c) against models
 * whose answers are known, and the deadline_risk criterion (core/policy.c)
 * against a brute-force simulation of the queue.
 *
 * A synthetic domain of c workers, each taking the next task as soon as it
 * is done with one (saturated, so the results seen are the capacity), with
 * a known pickup delay and runtime: the estimate's throughput, pickup,
 * runtime and drain time converge on the model's within 10 %; it is not
 * known before min_samples; the window forgets a rate that changed; only
 * workers' results count; each task_type keeps its own runtime. Then the
 * deadline_risk of candidate tasks behind a queue is compared with the
 * share of simulated runs (random runtimes, the same workers) in which the
 * task misses its deadline at the back of the queue but not when started at
 * once: pairs the simulation separates clearly are ordered alike
 * (SHOW_RISK=1 in the environment prints both for every candidate).
 */
#include "check.h"
#include "core/agent.h"
#include "core/capacity.h"
#include "core/policy.h"
#include "random.h"

#include <math.h>
#include <stdlib.h>

#define T0 ((int64_t)1700000000000)

static double uniform01(void) {
        return (double)(next_random() >> 11) * 0x1.0p-53;
}

/* Normal with @p mean and @p sd (Box-Muller), at least 1 ms. */
static double normal(double mean, double sd) {
        double u = uniform01(), v = uniform01();
        double z = sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
        double x = mean + sd * z;
        return x >= 1.0 ? x : 1.0;
}

static bool near_relative(double actual, double expected, double tolerance) {
        return fabs(actual - expected) <= tolerance * fabs(expected);
}

typedef struct worker_model_s {
        int workers;
        double pickup_ms;
        double runtime_ms, runtime_sd_ms;
} worker_model_t;

/*
 * Runs @p model saturated from @p from_ms to @p until_ms and feeds every
 * pickup, runtime and result to @p capacity as the backlog's transitions
 * would: each worker is dispatched a task, starts it pickup_ms later, runs
 * it, completes it, and is dispatched the next at once.
 */
static void run_workers(bl_capacity_t *capacity, const char *task_type, const worker_model_t *model, int64_t from_ms,
                        int64_t until_ms) {
        int64_t *free_at = calloc((size_t)model->workers, sizeof(*free_at));
        for (int w = 0; w < model->workers; w++)
                free_at[w] = from_ms + (int64_t)(uniform01() * model->runtime_ms); /* staggered */
        for (;;) {
                int next = 0;
                for (int w = 1; w < model->workers; w++)
                        if (free_at[w] < free_at[next])
                                next = w;
                int64_t dispatched_ms = free_at[next];
                int64_t started_ms = dispatched_ms + (int64_t)llround(model->pickup_ms);
                int64_t completed_ms = started_ms + (int64_t)llround(normal(model->runtime_ms, model->runtime_sd_ms));
                if (completed_ms > until_ms)
                        break;
                CHECK(bl_capacity_observe(capacity, "inference", task_type, BL_STATE_DISPATCHED, dispatched_ms,
                                          BL_STATE_RUNNING, true, started_ms));
                CHECK(bl_capacity_observe(capacity, "inference", task_type, BL_STATE_RUNNING, started_ms,
                                          BL_STATE_COMPLETED, true, completed_ms));
                free_at[next] = completed_ms;
        }
        free(free_at);
}

static double model_rate_per_s(const worker_model_t *model) {
        return model->workers * 1000.0 / (model->pickup_ms + model->runtime_ms);
}

static void test_converges_on_a_worker_of_known_rate(void) {
        bl_capacity_options_t options = {.window_ms = 30000, .min_samples = 20};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        worker_model_t model = {.workers = 4, .pickup_ms = 50, .runtime_ms = 200, .runtime_sd_ms = 40};
        run_workers(capacity, "embed", &model, T0, T0 + 60000);
        CHECK(bl_capacity_set_load(capacity, "inference", 4, 160, T0 + 60000));
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", T0 + 60000, &estimate);
        CHECK(estimate.known);
        double rate = model_rate_per_s(&model); /* 16 per second */
        CHECK(near_relative(estimate.throughput_per_s, rate, 0.10));
        CHECK(near_relative(estimate.pickup_ms, model.pickup_ms, 0.10));
        CHECK(near_relative(estimate.runtime_ms, model.runtime_ms, 0.10));
        CHECK(near_relative(estimate.runtime_sd_ms, model.runtime_sd_ms, 0.25));
        CHECK(near_relative(estimate.concurrency, model.workers, 0.10));
        CHECK(near_relative((double)estimate.drain_ms, 164 * 1000.0 / rate, 0.10));
        CHECK_INT(estimate.in_flight, 4);
        CHECK_INT(estimate.ready, 160);
        /* The 81st READY task waits for about 81 results, then its pickup. */
        int64_t start = bl_capacity_predicted_start_ms(&estimate, T0 + 60000, 80);
        CHECK(near_relative((double)(start - (T0 + 60000)), 81 * 1000.0 / rate + model.pickup_ms, 0.10));
        bl_capacity_destroy(capacity);
}

static void test_not_known_before_min_samples(void) {
        bl_capacity_options_t options = {.window_ms = 10000, .min_samples = 50};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", T0, &estimate);
        CHECK(!estimate.known && estimate.drain_ms == -1 && estimate.throughput_per_s == 0);
        CHECK(bl_capacity_predicted_start_ms(&estimate, T0, 0) == BL_NO_TIME);
        worker_model_t model = {.workers = 1, .pickup_ms = 10, .runtime_ms = 90, .runtime_sd_ms = 0};
        run_workers(capacity, "embed", &model, T0, T0 + 4000); /* about 40 results: too few */
        bl_capacity_estimate(capacity, "inference", T0 + 4000, &estimate);
        CHECK(!estimate.known && estimate.results > 30 && estimate.results < 50);
        bl_capacity_expectation_t expectation;
        bl_kind_t kind = {.domain = "inference", .task_type = "embed"};
        bl_capacity_expect(capacity, &kind, &expectation);
        CHECK(!expectation.known); /* no load set yet */
        CHECK(bl_capacity_set_load(capacity, "inference", 1, 0, T0 + 4000));
        bl_capacity_expect(capacity, &kind, &expectation);
        CHECK(!expectation.known); /* too few samples */
        CHECK(bl_policy_deadline_risk(1000, &expectation) == 0);
        run_workers(capacity, "embed", &model, T0 + 4000, T0 + 8000);
        bl_capacity_estimate(capacity, "inference", T0 + 8000, &estimate);
        CHECK(estimate.known);
        bl_capacity_destroy(capacity);
}

static void test_window_forgets_an_old_rate(void) {
        bl_capacity_options_t options = {.window_ms = 20000, .min_samples = 10};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        worker_model_t fast = {.workers = 8, .pickup_ms = 20, .runtime_ms = 80, .runtime_sd_ms = 10};
        worker_model_t slow = {.workers = 2, .pickup_ms = 20, .runtime_ms = 80, .runtime_sd_ms = 10};
        run_workers(capacity, "embed", &fast, T0, T0 + 60000);
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", T0 + 60000, &estimate);
        CHECK(near_relative(estimate.throughput_per_s, model_rate_per_s(&fast), 0.10));
        run_workers(capacity, "embed", &slow, T0 + 60000, T0 + 90000); /* a window and a half later */
        bl_capacity_estimate(capacity, "inference", T0 + 90000, &estimate);
        CHECK(near_relative(estimate.throughput_per_s, model_rate_per_s(&slow), 0.10));
        /* Nothing for two windows: no results in it, not known, the runtimes kept. */
        bl_capacity_estimate(capacity, "inference", T0 + 130000, &estimate);
        CHECK(estimate.results == 0 && !estimate.known && estimate.runtime_samples > 0);
        /* A window of another length counts afresh. */
        options.window_ms = 5000;
        CHECK(bl_capacity_configure(capacity, &options));
        bl_capacity_estimate(capacity, "inference", T0 + 90000, &estimate);
        CHECK_INT(estimate.results, 0);
        options.window_ms = 0;
        CHECK(!bl_capacity_configure(capacity, &options));
        bl_capacity_destroy(capacity);
}

static void test_only_workers_results_count(void) {
        bl_capacity_options_t options = {.window_ms = 10000, .min_samples = 1};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        /* A lease that expired, a cancellation, a dispatch, a note: no result, no runtime. */
        CHECK(bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING, T0, BL_STATE_FAILED, false,
                                  T0 + 100));
        CHECK(bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING, T0, BL_STATE_CANCELLED, true,
                                  T0 + 100));
        CHECK(bl_capacity_observe(capacity, "inference", "embed", BL_STATE_READY, T0, BL_STATE_DISPATCHED, true,
                                  T0 + 100));
        CHECK(bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING, T0, BL_STATE_RUNNING, true,
                                  T0 + 100));
        CHECK(bl_capacity_observe(capacity, NULL, "embed", BL_STATE_RUNNING, T0, BL_STATE_COMPLETED, true, T0 + 100));
        CHECK_INT(bl_capacity_domain_count(capacity), 0);
        /* A worker's FAILED is a result without a runtime; COMPLETED is both. */
        CHECK(bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING, T0, BL_STATE_FAILED, true,
                                  T0 + 100));
        CHECK(bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING, T0, BL_STATE_COMPLETED, true,
                                  T0 + 300));
        CHECK_INT(bl_capacity_domain_count(capacity), 1);
        CHECK_STR(bl_capacity_domain_name(capacity, 0), "inference");
        CHECK(bl_capacity_domain_name(capacity, 1) == NULL);
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", T0 + 1000, &estimate);
        CHECK_INT(estimate.results, 2);
        CHECK_INT(estimate.runtime_samples, 1);
        CHECK(estimate.runtime_ms == 300);
        bl_capacity_destroy(capacity);
        options.min_samples = 0;
        CHECK(bl_capacity_new(&options) == NULL);
        bl_capacity_destroy(NULL);
}

/* Partitions read one after the other: results out of time order count all the same, within the window. */
static void test_results_out_of_order(void) {
        bl_capacity_options_t options = {.window_ms = 10000, .min_samples = 1};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        for (int partition = 0; partition < 2; partition++)
                for (int i = 0; i < 100; i++) /* 0.5 s apart in each: 4 results per second together */
                        bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING,
                                            T0 + partition * 250 + i * 500 - 100, BL_STATE_COMPLETED, true,
                                            T0 + partition * 250 + i * 500);
        bl_capacity_observe(capacity, "inference", "embed", BL_STATE_RUNNING, T0, BL_STATE_COMPLETED, true,
                            T0 + 100); /* long before the window: not counted, and no count lost */
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", T0 + 50000, &estimate);
        CHECK(estimate.results >= 38 && estimate.results <= 42);
        CHECK(near_relative(estimate.throughput_per_s, 4.0, 0.10));
        bl_capacity_destroy(capacity);
}

static void test_runtime_per_task_type(void) {
        bl_capacity_options_t options = {.window_ms = 30000, .min_samples = 20};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        worker_model_t quick = {.workers = 2, .pickup_ms = 30, .runtime_ms = 100, .runtime_sd_ms = 10};
        worker_model_t long_running = {.workers = 2, .pickup_ms = 30, .runtime_ms = 900, .runtime_sd_ms = 50};
        run_workers(capacity, "embed", &quick, T0, T0 + 20000);
        run_workers(capacity, "train", &long_running, T0, T0 + 20000);
        CHECK(bl_capacity_observe(capacity, "inference", "rare", BL_STATE_RUNNING, T0, BL_STATE_COMPLETED, true,
                                  T0 + 5000)); /* one sample: too few of its own */
        bl_kind_t embed = {.domain = "inference", .task_type = "embed"};
        bl_kind_t train = {.domain = "inference", .task_type = "train"};
        bl_kind_t rare = {.domain = "inference", .task_type = "rare"};
        bl_capacity_expectation_t e_embed, e_train, e_rare;
        CHECK(bl_capacity_set_load(capacity, "inference", 4, 10, T0 + 20000));
        bl_capacity_expect(capacity, &embed, &e_embed);
        bl_capacity_expect(capacity, &train, &e_train);
        bl_capacity_expect(capacity, &rare, &e_rare);
        CHECK(e_embed.known && e_train.known && e_rare.known);
        CHECK(near_relative(e_embed.runtime_ms, 100, 0.10));
        CHECK(near_relative(e_train.runtime_ms, 900, 0.10));
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", T0 + 20000, &estimate);
        CHECK(e_rare.runtime_ms == estimate.runtime_ms); /* the domain's */
        /* Nothing READY and workers to spare: a task starts after its pickup delay. */
        CHECK(bl_capacity_set_load(capacity, "inference", 0, 0, T0 + 20000));
        bl_capacity_expect(capacity, &embed, &e_embed);
        CHECK(near_relative(e_embed.wait_ms, 30, 0.10) && e_embed.wait_sd_ms == 0);
        bl_capacity_destroy(capacity);
}

/* ---- deadline_risk against a brute-force simulation of the queue ------------------------------- */

#define SIM_WORKERS 3
#define SIM_QUEUE 30
#define SIM_RUNS 3000
#define SIM_PICKUP_MS 40.0

typedef struct sim_type_s {
        const char *name;
        double runtime_ms, runtime_sd_ms;
} sim_type_t;

static const sim_type_t sim_types[] = {{"quick", 150, 40}, {"slow", 600, 150}};

static double sim_runtime(size_t type) {
        return normal(sim_types[type].runtime_ms, sim_types[type].runtime_sd_ms);
}

/*
 * One run of the queue: SIM_WORKERS busy with tasks in flight (each done
 * after a uniform share of a runtime), SIM_QUEUE tasks READY ahead (types
 * alternating), each worker taking the next one when free, then the
 * candidate. Returns 1 when the candidate misses its deadline at the back
 * of the queue but would not have when started at once, -1 for the
 * opposite, 0 when both or neither miss.
 */
static int sim_run(size_t type, double left_ms) {
        double free_at[SIM_WORKERS];
        for (int w = 0; w < SIM_WORKERS; w++)
                free_at[w] = uniform01() * sim_runtime(w % 2);
        for (int k = 0; k <= SIM_QUEUE; k++) {
                int next = 0;
                for (int w = 1; w < SIM_WORKERS; w++)
                        if (free_at[w] < free_at[next])
                                next = w;
                if (k == SIM_QUEUE) {
                        double runtime = sim_runtime(type);
                        bool miss_waiting = free_at[next] + SIM_PICKUP_MS + runtime > left_ms;
                        bool miss_now = SIM_PICKUP_MS + sim_runtime(type) > left_ms;
                        return (int)miss_waiting - (int)miss_now;
                }
                free_at[next] += SIM_PICKUP_MS + sim_runtime((size_t)k % 2);
        }
        return 0;
}

/* The capacity estimate of the same workers, learnt from a saturated run of both types. */
static bl_capacity_t *learn_sim_workers(int64_t *end_ms) {
        bl_capacity_options_t options = {.window_ms = 60000, .min_samples = 30};
        bl_capacity_t *capacity = bl_capacity_new(&options);
        double free_at[SIM_WORKERS] = {0};
        for (int k = 0; k < 2000; k++) {
                int next = 0;
                for (int w = 1; w < SIM_WORKERS; w++)
                        if (free_at[w] < free_at[next])
                                next = w;
                int64_t dispatched = T0 + (int64_t)free_at[next];
                int64_t started = dispatched + (int64_t)SIM_PICKUP_MS;
                int64_t done = started + (int64_t)sim_runtime((size_t)k % 2);
                bl_capacity_observe(capacity, "inference", sim_types[k % 2].name, BL_STATE_DISPATCHED, dispatched,
                                    BL_STATE_RUNNING, true, started);
                bl_capacity_observe(capacity, "inference", sim_types[k % 2].name, BL_STATE_RUNNING, started,
                                    BL_STATE_COMPLETED, true, done);
                free_at[next] = (double)(done - T0);
                *end_ms = done > *end_ms ? done : *end_ms;
        }
        bl_capacity_set_load(capacity, "inference", SIM_WORKERS, SIM_QUEUE, *end_ms);
        return capacity;
}

static void test_deadline_risk_orders_as_a_simulation(void) {
        int64_t last_ms = T0;
        bl_capacity_t *capacity = learn_sim_workers(&last_ms);
        bl_capacity_estimate_t estimate;
        bl_capacity_estimate(capacity, "inference", last_ms, &estimate);
        CHECK(estimate.known);
        enum { CANDIDATES = 2 * 16 };
        double analytic[CANDIDATES], simulated[CANDIDATES];
        for (size_t c = 0; c < CANDIDATES; c++) {
                size_t type = c % 2;
                double left_ms = 200.0 + 400.0 * (double)(c / 2); /* 0.2 s to 6.2 s */
                bl_kind_t kind = {.domain = "inference", .task_type = sim_types[type].name};
                bl_capacity_expectation_t expectation;
                bl_capacity_expect(capacity, &kind, &expectation);
                analytic[c] = bl_policy_deadline_risk(left_ms, &expectation);
                int net = 0;
                for (int run = 0; run < SIM_RUNS; run++)
                        net += sim_run(type, left_ms);
                simulated[c] = (double)net / SIM_RUNS;
                CHECK(analytic[c] >= 0 && analytic[c] <= 1);
                if (getenv("SHOW_RISK"))
                        fprintf(stderr, "%s left %.0f: analytic %.3f simulated %.3f\n", sim_types[type].name,
                                left_ms, analytic[c], simulated[c]);
        }
        /* Every pair the simulation tells apart by more than its noise is ordered alike. */
        int compared = 0, agreed = 0;
        for (size_t a = 0; a < CANDIDATES; a++)
                for (size_t b = a + 1; b < CANDIDATES; b++) {
                        if (fabs(simulated[a] - simulated[b]) <= 0.1)
                                continue;
                        compared++;
                        agreed += (simulated[a] > simulated[b]) == (analytic[a] > analytic[b]);
                }
        if (getenv("SHOW_RISK") || agreed != compared)
                fprintf(stderr, "deadline_risk: %d of %d pairs ordered as the simulation\n", agreed, compared);
        CHECK(compared > CANDIDATES * 4);
        CHECK_INT(agreed, compared);
        bl_capacity_destroy(capacity);
}

/* The score: deadline_risk weighed like the others, only with an estimate, and its raw value the slack. */
static void test_deadline_risk_in_the_score(void) {
        int64_t now = T0;
        bl_capacity_t *capacity = learn_sim_workers(&now);
        bl_policy_t *policy = bl_policy_new(NULL);
        policy->weights[BL_CRITERION_DEADLINE_RISK] = 2.0;
        CHECK(bl_policy_finish(policy));
        CHECK_STR(bl_policy_criterion_name(BL_CRITERION_DEADLINE_RISK), "deadline_risk");
        bl_kind_t kind = {.domain = "inference", .task_type = "quick"};
        bl_item_t item = {.task_id = "t-1", .kind = &kind, .state = BL_STATE_READY};
        item.deadline_ms = item.data_ready_at_ms = item.ready_since_ms = BL_NO_TIME;
        bl_criterion_t out[BL_POLICY_CRITERIA];
        CHECK(bl_policy_score_task_with(policy, &item, now, capacity, out, NULL) == 0); /* no deadline */
        item.deadline_ms = now + 2000; /* feasible now, not behind the queue */
        double score = bl_policy_score_task_with(policy, &item, now, capacity, out, NULL);
        CHECK_STR(out[BL_CRITERION_DEADLINE_RISK].name, "deadline_risk");
        CHECK(out[BL_CRITERION_DEADLINE_RISK].normalised > 0.9);
        CHECK(out[BL_CRITERION_DEADLINE_RISK].raw < 0);
        CHECK(score == out[BL_CRITERION_DEADLINE_RISK].contribution);
        CHECK(bl_policy_score_task(policy, &item, now, out, NULL) == 0); /* without the estimate */
        bl_agent_candidate_t candidate; /* an agent is sent the score the pipeline dispatches by */
        bl_agent_candidate_of(policy, &item, now, capacity, out, &candidate);
        CHECK(candidate.score == score && out[BL_CRITERION_DEADLINE_RISK].normalised > 0.9);
        item.deadline_ms = now + 100; /* lost even if started now: nothing to gain */
        bl_policy_score_task_with(policy, &item, now, capacity, out, NULL);
        CHECK(out[BL_CRITERION_DEADLINE_RISK].normalised < 0.05);
        item.deadline_ms = now + 60000; /* room to wait */
        bl_policy_score_task_with(policy, &item, now, capacity, out, NULL);
        CHECK(out[BL_CRITERION_DEADLINE_RISK].normalised < 0.01 && out[BL_CRITERION_DEADLINE_RISK].raw > 0);
        bl_policy_destroy(policy);
        bl_capacity_destroy(capacity);
}

int main(void) {
        RUN(test_converges_on_a_worker_of_known_rate);
        RUN(test_not_known_before_min_samples);
        RUN(test_window_forgets_an_old_rate);
        RUN(test_only_workers_results_count);
        RUN(test_results_out_of_order);
        RUN(test_runtime_per_task_type);
        RUN(test_deadline_risk_orders_as_a_simulation);
        RUN(test_deadline_risk_in_the_score);
        return check_exit_status();
}
