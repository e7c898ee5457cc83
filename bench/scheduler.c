/*
 * bench/scheduler.c: what the scheduler (core/scheduler.c) costs at a
 * million READY items: time per dispatch decision, time of a full re-score,
 * bytes per item; against the FIFO lists that src/core/backlog.c dispatches
 * from today, in the same invocation.
 *
 * Set-up: N READY items (bl_item_new, no payload, no labels) spread evenly
 * over D domains, with the fields a policy reads spread as in a working
 * backlog: business_value and risk uniform in [0, 1]; a deadline on 60 %,
 * 5 min to 8 h ahead; data_ready_at on 70 %, up to 6 h old; READY for up to
 * 2 h; a retry (attempt 1 or 2) on 10 %. The score function is a local copy
 * of the six criteria of SPEC §4 (business value, risk, SLA urgency,
 * freshness 0.5^(age / half-life), aging, retry penalty), so that the bench
 * does not depend on the policy module; see docs/performance.md.
 *
 * Every item goes into both structures at once (they use different fields
 * of bl_item_t): the scheduler, and one FIFO list per domain linked through
 * a plain FIFO ring in READY order, as backlog.c kept them before the
 * restore_finish. Then R runs, each of:
 *   (a) K decisions from the FIFO lists, round-robin over the domains, each
 *       timed alone (clock_gettime before and after);
 *   (b) the same with the scheduler (bl_scheduler_pop);
 *   (c), (d) the same two in batches of B decisions, one clock reading per
 *       batch;
 *   (e) a full re-score (bl_scheduler_rescore) of all N items, one interval
 *       later;
 *   (f) a pick that finds its domain due and re-scores it first: the pause
 *       the automatic re-score puts into one decision.
 * Simulated time runs at 10 decisions per ms. A domain due for a re-score
 * is re-scored before a batch, outside the timing, so that (a)-(d) time the
 * decision alone; (e) and (f) time the re-score. After each batch, untimed,
 * as many new arrivals (READY now, new value, deadline and data time) come
 * in as it took out: the FIFO's go back to the tail of their lists; the
 * scheduler's come from a reserve of N / 4 items that have been out of it
 * for a while, cold in the caches, so N stays N in both.
 * Printed per run and as the median of the runs, then one JSON line.
 *
 * Memory: the main malloc arena's bytes in use (mallinfo2) across making
 * the items, across giving each a 36-character event id (what a submitted
 * item holds besides: its submission's), and across inserting them into the
 * scheduler; 0 under a sanitizer's allocator. Measured, not asserted: the bench fails only when
 * the scheduler breaks its own rules (verify, counts, a decision that
 * called the score function). Main thread only.
 */
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "core/item.h"
#include "core/scheduler.h"

#define MAX_RUNS 50
#define MAX_DOMAINS 16
#define DECISIONS_PER_MS 10
#define BASE_TIME_MS INT64_C(1767225600000) /* 2026-01-01 */
#define MINUTE_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)

/* ---- options --------------------------------------------------------------------------- */

typedef struct options_s {
        size_t items;
        size_t domains;
        size_t decisions;
        size_t batch;
        int runs;
        int64_t interval_ms;
} options_t;

static void usage(FILE *out) {
        fprintf(out,
                "Usage: bench_scheduler [options]\n"
                "\n"
                "Measures the scheduler's dispatch decisions, full re-scores and memory at N READY\n"
                "items, against a plain FIFO (how the backlog dispatched before the scheduler). No broker.\n"
                "\n"
                "Options:\n"
                "      --items N          READY items (default 1000000)\n"
                "      --domains D        domains they are spread over (default 4, at most 16)\n"
                "      --decisions K      decisions per run and way of timing (default 100000)\n"
                "      --batch B          decisions per timed batch (default 1000)\n"
                "      --runs R           runs (default 5)\n"
                "      --interval-ms I    rescore_interval_ms (default 1000)\n"
                "  -h, --help             this help\n");
}


/* 0 when the options are usable, -1 after --help, 2 on a usage error. */
static int parse_options(int argc, char **argv, options_t *o) {
        static const struct option longopts[] = {
                {"items", required_argument, NULL, 'n'}, {"domains", required_argument, NULL, 'd'},
                {"decisions", required_argument, NULL, 'k'}, {"batch", required_argument, NULL, 'b'},
                {"runs", required_argument, NULL, 'r'}, {"interval-ms", required_argument, NULL, 'i'},
                {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
        unsigned long long number;
        int c, option_index = 0;
        *o = (options_t){1000000, 4, 100000, 1000, 5, 1000};
        while ((c = getopt_long(argc, argv, "h", longopts, &option_index)) != -1) {
                switch (c) {
                case 'n':
                        if (!parse_count(optarg, 1, 100000000, &number))
                                goto bad;
                        o->items = (size_t)number;
                        break;
                case 'd':
                        if (!parse_count(optarg, 1, MAX_DOMAINS, &number))
                                goto bad;
                        o->domains = (size_t)number;
                        break;
                case 'k':
                        if (!parse_count(optarg, 1, 100000000, &number))
                                goto bad;
                        o->decisions = (size_t)number;
                        break;
                case 'b':
                        if (!parse_count(optarg, 1, 1000000, &number))
                                goto bad;
                        o->batch = (size_t)number;
                        break;
                case 'r':
                        if (!parse_count(optarg, 1, MAX_RUNS, &number))
                                goto bad;
                        o->runs = (int)number;
                        break;
                case 'i':
                        if (!parse_count(optarg, 1, 86400000, &number))
                                goto bad;
                        o->interval_ms = (int64_t)number;
                        break;
                case 'h': usage(stdout); return -1;
                default: fprintf(stderr, "bench_scheduler: see --help\n"); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "bench_scheduler: unexpected argument '%s' (see --help)\n", argv[optind]);
                return 2;
        }
        if (o->batch > o->decisions || o->batch > o->items / o->domains) {
                fprintf(stderr, "bench_scheduler: need --batch <= --decisions and --batch <= --items / --domains\n");
                return 2;
        }
        return 0;
bad:
        fprintf(stderr, "bench_scheduler: bad value '%s' for --%s (see --help)\n", optarg, longopts[option_index].name);
        return 2;
}

/* ---- clocks, memory, statistics ---------------------------------------------------------- */

static inline int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Bytes malloc has handed out: the arena's in use, and the large blocks it mmapped (a heap array). */
static size_t heap_in_use(void) {
        struct mallinfo2 info = mallinfo2();
        return info.uordblks + info.hblkhd;
}


/* Sorts @p values in place and returns the value at @p quantile (nearest rank). */
static double quantile(double *values, size_t count, double q) {
        qsort(values, count, sizeof(*values), compare_double);
        size_t rank = (size_t)ceil(q * (double)count);
        return values[rank ? rank - 1 : 0];
}


/* ---- synthetic READY items ----------------------------------------------------------------- */




/* Uniform in [0, bound) for signed bounds. */
static int64_t rng_below_signed(rng_t *rng, int64_t bound) {
        return bound > 0 ? (int64_t)rng_below(rng, (uint64_t)bound) : 0;
}


static const char *const domain_names[MAX_DOMAINS] = {
        "data_prep", "inference", "evaluation", "remediation", "d4",  "d5",  "d6",  "d7",
        "d8",        "d9",        "d10",        "d11",         "d12", "d13", "d14", "d15"};
static const char *const task_types[] = {"feature_build", "batch_score", "offline_eval", "retrain",
                                         "embed",         "drift_check", "rerank",       "rollback"};
static const char *const sla_classes[] = {"standard", "standard", "gold", "bronze"};

static bl_item_t *make_item(uint64_t index, size_t domains, rng_t *rng, int64_t now_ms) {
        char task_id[32], tenant[16];
        snprintf(task_id, sizeof(task_id), "task-%016" PRIx64, splitmix64(index ^ 0x5EED));
        bl_item_t *item = bl_item_new(task_id, (int32_t)(index % 6));
        if (!item)
                return NULL;
        snprintf(tenant, sizeof(tenant), "tenant-%03u", (unsigned)rng_below_signed(rng, 200));
        const char *task_type = task_types[rng_below_signed(rng, 8)];
        if (!bl_item_set_kind(item, task_type, domain_names[index % domains], tenant,
                              sla_classes[rng_below_signed(rng, 4)])) {
                bl_item_destroy(item);
                return NULL;
        }
        item->state = BL_STATE_READY;
        item->business_value = rng_unit(rng);
        item->risk = rng_unit(rng);
        item->ready_since_ms = now_ms - rng_below_signed(rng, 2 * HOUR_MS);
        item->state_since_ms = item->ready_since_ms;
        item->submitted_at_ms = item->ready_since_ms - rng_below_signed(rng, 10 * MINUTE_MS);
        if (rng_below_signed(rng, 100) < 60)
                item->deadline_ms = now_ms + 5 * MINUTE_MS + rng_below_signed(rng, 8 * HOUR_MS);
        if (rng_below_signed(rng, 100) < 70)
                item->data_ready_at_ms = item->submitted_at_ms - rng_below_signed(rng, 6 * HOUR_MS);
        if (rng_below_signed(rng, 100) < 10)
                item->attempt = 1 + (int32_t)rng_below_signed(rng, 2);
        return item;
}

/* ---- the score: a local copy of SPEC §4's six criteria ------------------------------------------ */

typedef struct policy_s {
        double w_value, w_risk, w_urgency, w_freshness, w_aging, w_retry;
        double urgency_horizon_ms, freshness_half_life_ms, aging_horizon_ms;
        int32_t max_attempts;
} policy_t;

static const policy_t bench_policy = {
        .w_value = 0.35, .w_risk = -0.10, .w_urgency = 0.25, .w_freshness = 0.10, .w_aging = 0.20,
        .w_retry = -0.10, .urgency_horizon_ms = 4.0 * HOUR_MS, .freshness_half_life_ms = 1.0 * HOUR_MS,
        .aging_horizon_ms = 2.0 * HOUR_MS, .max_attempts = 3};

static double clamp01(double x) {
        return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Σ weight × criterion, each criterion in [0, 1]. One exp2 at most. */
static double six_criteria(void *opaque, const bl_item_t *item, int64_t now_ms) {
        const policy_t *p = opaque;
        double value = clamp01(item->business_value);
        double risk = clamp01(item->risk);
        double urgency = item->deadline_ms == BL_NO_TIME
                                 ? 0
                                 : clamp01(1 - (double)(item->deadline_ms - now_ms) / p->urgency_horizon_ms);
        double freshness = item->data_ready_at_ms == BL_NO_TIME
                                   ? 0
                                   : exp2(-(double)(now_ms - item->data_ready_at_ms) / p->freshness_half_life_ms);
        double aging = item->ready_since_ms == BL_NO_TIME
                               ? 0
                               : clamp01((double)(now_ms - item->ready_since_ms) / p->aging_horizon_ms);
        int32_t max_attempts = item->max_attempts > 0 ? item->max_attempts : p->max_attempts;
        double retry = clamp01((double)item->attempt / (double)max_attempts);
        return p->w_value * value + p->w_risk * risk + p->w_urgency * urgency + p->w_freshness * freshness +
               p->w_aging * aging + p->w_retry * retry;
}

/* ---- the baseline: a plain FIFO of READY items (what backlog.c did before the scheduler) -------- */

typedef struct fifo_s {
        bl_item_t **items; /* a ring */
        size_t head, count, capacity;
} fifo_t;

static void fifo_append(fifo_t *fifo, bl_item_t *item) {
        if (fifo->count == fifo->capacity) {
                size_t capacity = fifo->capacity ? fifo->capacity * 2 : 1024;
                bl_item_t **grown = malloc(capacity * sizeof(*grown));
                if (!grown)
                        abort();
                for (size_t i = 0; i < fifo->count; i++)
                        grown[i] = fifo->items[(fifo->head + i) % fifo->capacity];
                free(fifo->items);
                fifo->items = grown;
                fifo->head = 0;
                fifo->capacity = capacity;
        }
        fifo->items[(fifo->head + fifo->count++) % fifo->capacity] = item;
}

/* One decision of the FIFO: take the oldest. */
static bl_item_t *fifo_pop(fifo_t *fifo) {
        if (fifo->count == 0)
                return NULL;
        bl_item_t *item = fifo->items[fifo->head];
        fifo->head = (fifo->head + 1) % fifo->capacity;
        fifo->count--;
        return item;
}

static int compare_ready_since(const void *a, const void *b) {
        const bl_item_t *x = *(bl_item_t *const *)a, *y = *(bl_item_t *const *)b;
        if (x->ready_since_ms != y->ready_since_ms)
                return x->ready_since_ms < y->ready_since_ms ? -1 : 1;
        return strcmp(x->task_id, y->task_id);
}

/* ---- the runs ------------------------------------------------------------------------------------ */

typedef struct world_s {
        const options_t *o;
        bl_item_t **items;
        bl_scheduler_t *scheduler;
        fifo_t fifos[MAX_DOMAINS];
        bl_item_t **taken;  /* one batch's items */
        size_t *taken_domain;
        bl_item_t **reserve; /* items out of the scheduler, a ring: the next arrivals */
        size_t reserve_count, reserve_head;
        double *samples;    /* per decision or per batch, ns */
        int64_t now_ms;
        int64_t decision_clock; /* decisions made: the simulated time's ticks */
        rng_t rng;
        bool broken;
} world_t;

typedef struct timing_s {
        double median_ns, p99_ns, p999_ns, max_ns;
} timing_t;

static void tick(world_t *w) {
        if (++w->decision_clock % DECISIONS_PER_MS == 0)
                w->now_ms++;
}

/* Re-scores, untimed, every domain that would fall due during the next @p decisions. */
static void rescore_due(world_t *w, size_t decisions) {
        int64_t end_ms = w->now_ms + (int64_t)(decisions / DECISIONS_PER_MS) + 1;
        for (size_t d = 0; d < w->o->domains; d++)
                if (end_ms - bl_scheduler_scored_since(w->scheduler, domain_names[d]) >= w->o->interval_ms) {
                        bl_scheduler_rescore(w->scheduler, w->now_ms);
                        return;
                }
}

static uint64_t scores_so_far(const world_t *w) {
        bl_scheduler_stats_t stats;
        bl_scheduler_stats(w->scheduler, &stats);
        return stats.scores_total;
}

/*
 * New arrivals for the items one batch took: each taken item goes to the
 * tail of the reserve and the item at its head, out of the scheduler for a
 * while (cold in the caches, as a task decoded long ago would be), comes in
 * READY from now with new fields. So the scheduler keeps N items, and what
 * it dispatches is not what it has just touched.
 */
static void put_back(world_t *w, size_t count) {
        for (size_t i = 0; i < count; i++) {
                bl_item_t *arrival = w->reserve[w->reserve_head];
                w->reserve[w->reserve_head] = w->taken[i];
                w->reserve_head = (w->reserve_head + 1) % w->reserve_count;
                arrival->business_value = rng_unit(&w->rng);
                arrival->risk = rng_unit(&w->rng);
                arrival->ready_since_ms = arrival->state_since_ms = arrival->submitted_at_ms = w->now_ms;
                if (arrival->deadline_ms != BL_NO_TIME)
                        arrival->deadline_ms = w->now_ms + 5 * MINUTE_MS + rng_below_signed(&w->rng, 8 * HOUR_MS);
                if (arrival->data_ready_at_ms != BL_NO_TIME)
                        arrival->data_ready_at_ms = w->now_ms - rng_below_signed(&w->rng, 6 * HOUR_MS);
                if (!bl_scheduler_insert(w->scheduler, arrival, w->now_ms))
                        w->broken = true;
        }
}

/* One decision: the best (or oldest) READY item of domain @p d. */
static inline bl_item_t *decide(world_t *w, bool scheduler, size_t d) {
        if (scheduler)
                return bl_scheduler_pop(w->scheduler, domain_names[d], w->now_ms, NULL);
        return fifo_pop(&w->fifos[d]);
}

/*
 * K decisions, round-robin over the domains; @p per_decision: a clock
 * reading around each, else one per batch. Fills @p timing with ns per
 * decision.
 */
static void run_decisions(world_t *w, bool scheduler, bool per_decision, timing_t *timing) {
        const options_t *o = w->o;
        size_t samples = 0, domain = 0;
        for (size_t done = 0; done < o->decisions; done += o->batch) {
                size_t batch = o->batch < o->decisions - done ? o->batch : o->decisions - done;
                if (scheduler)
                        rescore_due(w, batch);
                uint64_t scores_before = scheduler ? scores_so_far(w) : 0;
                int64_t batch_start = per_decision ? 0 : now_ns();
                for (size_t i = 0; i < batch; i++) {
                        size_t d = domain;
                        domain = (domain + 1) % o->domains;
                        w->taken_domain[i] = d;
                        if (per_decision) {
                                int64_t start = now_ns();
                                w->taken[i] = decide(w, scheduler, d);
                                w->samples[samples++] = (double)(now_ns() - start);
                        } else {
                                w->taken[i] = decide(w, scheduler, d);
                        }
                        tick(w);
                }
                if (!per_decision)
                        w->samples[samples++] = (double)(now_ns() - batch_start) / (double)batch;
                if (scheduler && scores_so_far(w) != scores_before)
                        w->broken = true; /* a re-score inside the timing: rescore_due missed one */
                for (size_t i = 0; i < batch; i++) {
                        if (!w->taken[i]) {
                                w->broken = true;
                                return;
                        }
                        if (!scheduler) /* back to the tail of its list */
                                fifo_append(&w->fifos[w->taken_domain[i]], w->taken[i]);
                }
                if (scheduler)
                        put_back(w, batch);
        }
        timing->max_ns = quantile(w->samples, samples, 1.0);
        timing->p999_ns = quantile(w->samples, samples, 0.999);
        timing->p99_ns = quantile(w->samples, samples, 0.99);
        timing->median_ns = quantile(w->samples, samples, 0.5);
}

/* The median cost of two clock readings back to back: what a per-decision timing adds. */
static double clock_overhead_ns(void) {
        double samples[10001];
        for (int i = 0; i < 10001; i++) {
                int64_t start = now_ns();
                samples[i] = (double)(now_ns() - start);
        }
        return quantile(samples, 10001, 0.5);
}

/* The score function alone over every item, in allocation order: its cost without the heap's order. */
static double score_only_ms(world_t *w) {
        volatile double sink = 0;
        int64_t start = now_ns();
        double sum = 0;
        for (size_t i = 0; i < w->o->items; i++)
                sum += six_criteria((void *)&bench_policy, w->items[i], w->now_ms);
        sink = sum;
        (void)sink;
        return (double)(now_ns() - start) / 1e6;
}

/* A memory target's verdict: n/a under a sanitizer's allocator, which mallinfo2 does not see. */
static const char *verdict(bool known, bool met) {
        return !known ? "n/a" : met ? "met" : "MISSED";
}

int main(int argc, char **argv) {
        options_t o;
        int parsed = parse_options(argc, argv, &o);
        if (parsed)
                return parsed < 0 ? 0 : parsed;

        int status = 1;
        world_t w = {.o = &o, .now_ms = BASE_TIME_MS, .rng = {0x5CEDULL}};
        double fifo_dec_med[MAX_RUNS], fifo_dec_p99[MAX_RUNS], sched_dec_med[MAX_RUNS], sched_dec_p99[MAX_RUNS];
        double sched_dec_p999[MAX_RUNS], sched_dec_max[MAX_RUNS], fifo_batch_med[MAX_RUNS], fifo_batch_p99[MAX_RUNS];
        double sched_batch_med[MAX_RUNS], sched_batch_p99[MAX_RUNS], ratio[MAX_RUNS], rescore_ms[MAX_RUNS];
        double due_pick_ms[MAX_RUNS], score_only[MAX_RUNS];
        size_t samples_needed = o.decisions > o.decisions / o.batch + 1 ? o.decisions : o.decisions / o.batch + 1;
        size_t made = o.items + (o.items / 4 ? o.items / 4 : 1); /* N in the structures, N / 4 in reserve */
        w.reserve_count = made - o.items;
        w.items = calloc(made, sizeof(*w.items));
        w.taken = calloc(o.batch, sizeof(*w.taken));
        w.taken_domain = calloc(o.batch, sizeof(*w.taken_domain));
        w.samples = calloc(samples_needed, sizeof(*w.samples));
        if (!w.items || !w.taken || !w.taken_domain || !w.samples) {
                fprintf(stderr, "bench_scheduler: out of memory\n");
                goto done;
        }

        /* the items: what a minimal READY bl_item_t holds without payload, labels or dependencies */
        malloc_trim(0);
        size_t heap_before = heap_in_use();
        for (size_t i = 0; i < made; i++)
                if (!(w.items[i] = make_item(i, o.domains, &w.rng, w.now_ms))) {
                        fprintf(stderr, "bench_scheduler: out of memory at item %zu\n", i);
                        goto done;
                }
        double item_bytes = (double)(heap_in_use() - heap_before) / (double)made;

        /* what a submitted item holds besides: its submission's event id, here a 36-character UUID */
        heap_before = heap_in_use();
        for (size_t i = 0; i < made; i++) {
                char event_id[40];
                uint64_t a = splitmix64(i ^ 0xE7E7), b = splitmix64(a);
                snprintf(event_id, sizeof(event_id),
                         "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64 "-%012" PRIx64, a >> 32,
                         (a >> 16) & 0xffff, a & 0xfff, b >> 48, b & UINT64_C(0xffffffffffff));
                if (!bl_item_remember_event(w.items[i], event_id, 32)) {
                        fprintf(stderr, "bench_scheduler: out of memory at item %zu\n", i);
                        goto done;
                }
        }
        double event_id_bytes = (double)(heap_in_use() - heap_before) / (double)made;
        if (!(w.reserve = malloc(w.reserve_count * sizeof(*w.reserve)))) {
                fprintf(stderr, "bench_scheduler: out of memory\n");
                goto done;
        }
        memcpy(w.reserve, w.items + o.items, w.reserve_count * sizeof(*w.reserve));

        /* the scheduler: every item scored and inserted */
        bl_scheduler_options_t options = {o.interval_ms, six_criteria, (void *)&bench_policy};
        heap_before = heap_in_use();
        int64_t start = now_ns();
        if (!(w.scheduler = bl_scheduler_new(&options))) {
                fprintf(stderr, "bench_scheduler: out of memory\n");
                goto done;
        }
        for (size_t i = 0; i < o.items; i++)
                if (!bl_scheduler_insert(w.scheduler, w.items[i], w.now_ms)) {
                        fprintf(stderr, "bench_scheduler: insert failed at item %zu\n", i);
                        goto done;
                }
        double insert_ns = (double)(now_ns() - start) / (double)o.items;
        double scheduler_bytes = (double)(heap_in_use() - heap_before) / (double)o.items;

        /* the baseline's lists, in READY order as after bl_backlog_restore_finish */
        bl_item_t **by_ready = malloc(o.items * sizeof(*by_ready));
        if (!by_ready) {
                fprintf(stderr, "bench_scheduler: out of memory\n");
                goto done;
        }
        memcpy(by_ready, w.items, o.items * sizeof(*by_ready));
        qsort(by_ready, o.items, sizeof(*by_ready), compare_ready_since);
        for (size_t i = 0; i < o.items; i++)
                for (size_t d = 0; d < o.domains; d++)
                        if (!strcmp(by_ready[i]->kind->domain, domain_names[d]))
                                fifo_append(&w.fifos[d], by_ready[i]);
        free(by_ready);
        if (!bl_scheduler_verify(w.scheduler) || bl_scheduler_total(w.scheduler) != o.items) {
                fprintf(stderr, "bench_scheduler: the scheduler does not verify after the inserts\n");
                goto done;
        }

        double overhead_ns = clock_overhead_ns();
        printf("scheduler bench: %zu READY items over %zu domains, %zu decisions per run and way, batches of %zu, "
               "%d runs, rescore_interval_ms %" PRId64 "\n",
               o.items, o.domains, o.decisions, o.batch, o.runs, o.interval_ms);
        printf("memory: bl_item_t %zu B (sizeof); item as made here %.0f B/item, and its submission's event id "
               "%.0f B more; scheduler %.1f B/item (entries of %zu B); insert %.0f ns/item; clock_gettime pair "
               "%.0f ns\n\n",
               sizeof(bl_item_t), item_bytes, event_id_bytes, scheduler_bytes, (size_t)24, insert_ns, overhead_ns);
        printf("%-4s | %-39s | %-19s | %-5s | %s\n", "", "ns per decision, timed alone",
               "ns/decision, batches", "sched", "ms");
        printf("%-4s | %9s %9s %9s %9s | %9s %9s | %5s | %8s %9s %10s\n", "run", "fifo med", "fifo p99",
               "sched med", "sched p99", "fifo med", "sched med", "/fifo", "rescore", "due pick", "score only");
        fflush(stdout);

        for (int r = 0; r < o.runs && !w.broken; r++) {
                timing_t fifo_dec, sched_dec, fifo_batch, sched_batch;
                run_decisions(&w, false, true, &fifo_dec);
                run_decisions(&w, true, true, &sched_dec);
                run_decisions(&w, false, false, &fifo_batch);
                run_decisions(&w, true, false, &sched_batch);

                /* (e) a full re-score, one interval on */
                w.now_ms += o.interval_ms;
                start = now_ns();
                bl_scheduler_rescore(w.scheduler, w.now_ms);
                rescore_ms[r] = (double)(now_ns() - start) / 1e6;

                /* (f) a pick that finds its domain due */
                w.now_ms += o.interval_ms;
                start = now_ns();
                w.taken[0] = bl_scheduler_pop(w.scheduler, domain_names[0], w.now_ms, NULL);
                due_pick_ms[r] = (double)(now_ns() - start) / 1e6;
                if (!w.taken[0])
                        w.broken = true;
                else
                        put_back(&w, 1);
                bl_scheduler_rescore(w.scheduler, w.now_ms); /* the other domains, untimed */
                score_only[r] = score_only_ms(&w);

                fifo_dec_med[r] = fifo_dec.median_ns;
                fifo_dec_p99[r] = fifo_dec.p99_ns;
                sched_dec_med[r] = sched_dec.median_ns;
                sched_dec_p99[r] = sched_dec.p99_ns;
                sched_dec_p999[r] = sched_dec.p999_ns;
                sched_dec_max[r] = sched_dec.max_ns;
                fifo_batch_med[r] = fifo_batch.median_ns;
                fifo_batch_p99[r] = fifo_batch.p99_ns;
                sched_batch_med[r] = sched_batch.median_ns;
                sched_batch_p99[r] = sched_batch.p99_ns;
                ratio[r] = sched_batch.median_ns / fifo_batch.median_ns;
                printf("%-4d | %9.0f %9.0f %9.0f %9.0f | %9.1f %9.1f | %5.1f | %8.1f %9.2f %10.1f\n", r + 1,
                       fifo_dec_med[r], fifo_dec_p99[r], sched_dec_med[r], sched_dec_p99[r], fifo_batch_med[r],
                       sched_batch_med[r], ratio[r], rescore_ms[r], due_pick_ms[r], score_only[r]);
                fflush(stdout);
        }
        if (w.broken || !bl_scheduler_verify(w.scheduler) || bl_scheduler_total(w.scheduler) != o.items) {
                fprintf(stderr, "bench_scheduler: the scheduler broke its rules (a lost item, a re-score inside a "
                                "timed decision, or a failed verify)\n");
                goto done;
        }
        int n = o.runs;
        printf("%-4s | %9.0f %9.0f %9.0f %9.0f | %9.1f %9.1f | %5.1f | %8.1f %9.2f %10.1f\n", "med",
               median(fifo_dec_med, n), median(fifo_dec_p99, n), median(sched_dec_med, n), median(sched_dec_p99, n),
               median(fifo_batch_med, n), median(sched_batch_med, n), median(ratio, n), median(rescore_ms, n),
               median(due_pick_ms, n), median(score_only, n));
        printf("\nscheduler per decision: p99.9 %.0f ns, max %.0f ns (medians of the runs); per batch p99: fifo %.1f "
               "ns, sched %.1f ns\n",
               median(sched_dec_p999, n), median(sched_dec_max, n), median(fifo_batch_p99, n),
               median(sched_batch_p99, n));
        printf("re-score cost at this interval: %.1f %% of one core (full re-score / rescore_interval_ms)\n",
               100.0 * median(rescore_ms, n) / (double)o.interval_ms);
        bool memory_known = item_bytes > 0; /* not under a sanitizer's allocator */
        printf("targets: decision median <= 2000 ns: %s; full re-score <= 100 ms: %s; scheduler <= 256 B/item: %s; "
               "scheduler + item <= 256 B/item: %s (%.0f B; %.0f B with the event id)\n",
               median(sched_batch_med, n) <= 2000 && median(sched_dec_med, n) <= 2000 ? "met" : "MISSED",
               median(rescore_ms, n) <= 100 ? "met" : "MISSED",
               verdict(memory_known, scheduler_bytes <= 256),
               verdict(memory_known, scheduler_bytes + item_bytes <= 256),
               scheduler_bytes + item_bytes, scheduler_bytes + item_bytes + event_id_bytes);
        printf("{\"bench\":\"scheduler\",\"items\":%zu,\"domains\":%zu,\"decisions\":%zu,\"batch\":%zu,\"runs\":%d,"
               "\"rescore_interval_ms\":%" PRId64
               ",\"item_struct_bytes\":%zu,\"item_bytes\":%.1f,\"event_id_bytes\":%.1f,"
               "\"scheduler_bytes_per_item\":%.1f,\"insert_ns\":%.1f,\"clock_pair_ns\":%.1f,"
               "\"fifo_decision_ns_median\":%.1f,\"fifo_decision_ns_p99\":%.1f,"
               "\"sched_decision_ns_median\":%.1f,\"sched_decision_ns_p99\":%.1f,\"sched_decision_ns_p999\":%.1f,"
               "\"sched_decision_ns_max\":%.1f,\"fifo_batch_ns_median\":%.1f,\"sched_batch_ns_median\":%.1f,"
               "\"fifo_batch_ns_p99\":%.1f,\"sched_batch_ns_p99\":%.1f,\"ratio_median\":%.2f,"
               "\"rescore_ms_median\":%.2f,\"due_pick_ms_median\":%.2f,\"score_only_ms_median\":%.2f,"
               "\"rescore_ms\":[",
               o.items, o.domains, o.decisions, o.batch, o.runs, o.interval_ms, sizeof(bl_item_t), item_bytes,
               event_id_bytes, scheduler_bytes, insert_ns, overhead_ns, median(fifo_dec_med, n),
               median(fifo_dec_p99, n), median(sched_dec_med, n), median(sched_dec_p99, n), median(sched_dec_p999, n),
               median(sched_dec_max, n), median(fifo_batch_med, n), median(sched_batch_med, n),
               median(fifo_batch_p99, n), median(sched_batch_p99, n), median(ratio, n), median(rescore_ms, n),
               median(due_pick_ms, n), median(score_only, n));
        for (int r = 0; r < n; r++)
                printf("%s%.2f", r ? "," : "", rescore_ms[r]);
        printf("],\"sched_batch_ns\":[");
        for (int r = 0; r < n; r++)
                printf("%s%.1f", r ? "," : "", sched_batch_med[r]);
        printf("],\"fifo_batch_ns\":[");
        for (int r = 0; r < n; r++)
                printf("%s%.1f", r ? "," : "", fifo_batch_med[r]);
        printf("]}\n");
        status = 0;
done:
        fflush(stdout);
        bl_scheduler_destroy(w.scheduler);
        for (size_t i = 0; w.items && i < made; i++)
                bl_item_destroy(w.items[i]);
        free(w.items);
        free(w.taken);
        free(w.taken_domain);
        free(w.reserve);
        free(w.samples);
        return status;
}
