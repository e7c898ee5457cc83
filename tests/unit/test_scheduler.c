/*
 * test_scheduler.c: the scheduler (core/scheduler.c) through its public API.
 *
 * Items are made with bl_item_new and only the fields a score function reads
 * are set. Score functions are local: a fixed business value, and a value
 * plus an aging term, counting their calls so the tests can see when the
 * scheduler re-scores. Time is a number the tests advance by hand.
 *
 * bl_scheduler_best's walk is checked against the pop order, filtered and
 * bounded. The random test runs thousands of inserts, updates, removals, peeks, pops
 * and re-scores against a naive model (a flat array searched linearly for
 * the best entry), with scores quantised so that ties of score and of READY
 * time are frequent, and checks every invariant after every step.
 */
#include "check.h"
#include "core/scheduler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((int64_t)1700000000000)

/* ---- items and score functions ------------------------------------------------------------ */

static bl_item_t *make_item(const char *task_id, const char *domain, double value, int64_t ready_since_ms) {
        bl_item_t *item = bl_item_new(task_id, 0);
        if (!item)
                abort();
        if (domain && !bl_item_set_kind(item, NULL, domain, NULL, "standard"))
                abort();
        item->state = BL_STATE_READY;
        item->business_value = value;
        item->ready_since_ms = ready_since_ms;
        return item;
}

typedef struct score_ctx_s {
        double aging_per_ms; /* 0: the business value alone */
        uint64_t calls;
} score_ctx_t;

static double value_and_aging(void *opaque, const bl_item_t *item, int64_t now_ms) {
        score_ctx_t *ctx = opaque;
        ctx->calls++;
        double age_ms = item->ready_since_ms == BL_NO_TIME ? 0 : (double)(now_ms - item->ready_since_ms);
        return item->business_value + ctx->aging_per_ms * age_ms;
}

static bl_scheduler_t *new_scheduler(score_ctx_t *ctx, int64_t interval_ms) {
        bl_scheduler_options_t options = {interval_ms, value_and_aging, ctx};
        bl_scheduler_t *scheduler = bl_scheduler_new(&options);
        if (!scheduler)
                abort();
        return scheduler;
}

/* ---- order ---------------------------------------------------------------------------------- */

static void test_orders_by_score(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        const double values[] = {0.3, 0.9, 0.1, 0.7, 0.5, 1.0, 0.0};
        bl_item_t *items[7];
        for (int i = 0; i < 7; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%d", i);
                items[i] = make_item(id, "infer", values[i], T0 + i);
                CHECK(bl_scheduler_insert(s, items[i], T0 + 10));
        }
        CHECK_INT(bl_scheduler_total(s), 7);
        CHECK(bl_scheduler_peek(s, "infer", T0 + 10) == items[5]);
        const int order[] = {5, 1, 3, 4, 0, 2, 6};
        for (int i = 0; i < 7; i++) {
                double score = -1;
                bl_item_t *best = bl_scheduler_pop(s, "infer", T0 + 10, &score);
                CHECK(best == items[order[i]]);
                CHECK(score == values[order[i]]);
                CHECK(best->sched_slot == BL_ITEM_NO_SLOT);
                CHECK(bl_scheduler_verify(s));
        }
        CHECK(bl_scheduler_pop(s, "infer", T0 + 10, NULL) == NULL);
        CHECK(bl_scheduler_peek(s, "infer", T0 + 10) == NULL);
        CHECK_INT(bl_scheduler_total(s), 0);
        bl_scheduler_destroy(s);
        for (int i = 0; i < 7; i++)
                bl_item_destroy(items[i]);
}

static void test_fifo_among_equal_scores(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        /* inserted in scrambled order; READY times decide, then task_ids (c < d at the same time) */
        bl_item_t *d = make_item("d", "prep", 0.5, T0 + 20);
        bl_item_t *late = make_item("a", "prep", 0.5, T0 + 30);
        bl_item_t *first = make_item("z", "prep", 0.5, T0 + 10);
        bl_item_t *c = make_item("c", "prep", 0.5, T0 + 20);
        bl_item_t *unset = make_item("b", "prep", 0.5, BL_NO_TIME); /* READY "now": T0 + 25 */
        CHECK(bl_scheduler_insert(s, d, T0 + 40));
        CHECK(bl_scheduler_insert(s, late, T0 + 40));
        CHECK(bl_scheduler_insert(s, first, T0 + 40));
        CHECK(bl_scheduler_insert(s, c, T0 + 40));
        CHECK(bl_scheduler_insert(s, unset, T0 + 25));
        bl_item_t *expected[] = {first, c, d, unset, late};
        for (int i = 0; i < 5; i++)
                CHECK(bl_scheduler_pop(s, "prep", T0 + 50, NULL) == expected[i]);

        /* a higher score still beats an older READY time */
        CHECK(bl_scheduler_insert(s, first, T0 + 60));
        late->business_value = 0.6;
        CHECK(bl_scheduler_insert(s, late, T0 + 60));
        CHECK(bl_scheduler_pop(s, "prep", T0 + 60, NULL) == late);
        CHECK(bl_scheduler_pop(s, "prep", T0 + 60, NULL) == first);
        bl_scheduler_destroy(s);
        bl_item_t *all[] = {d, late, first, c, unset};
        for (int i = 0; i < 5; i++)
                bl_item_destroy(all[i]);
}

static double nan_for_minus_one(void *opaque, const bl_item_t *item, int64_t now_ms) {
        (void)opaque;
        (void)now_ms;
        return item->business_value == -1 ? NAN : item->business_value;
}

static void test_nan_score_goes_last(void) {
        bl_scheduler_options_t options = {0, nan_for_minus_one, NULL};
        bl_scheduler_t *s = bl_scheduler_new(&options);
        bl_item_t *broken = make_item("broken", "eval", -1, T0);
        bl_item_t *low = make_item("low", "eval", -1e300, T0 + 1);
        CHECK(bl_scheduler_insert(s, broken, T0));
        CHECK(bl_scheduler_insert(s, low, T0));
        CHECK(bl_scheduler_verify(s));
        double score = 0;
        CHECK(bl_scheduler_pop(s, "eval", T0, &score) == low);
        CHECK(bl_scheduler_pop(s, "eval", T0, &score) == broken);
        CHECK(isinf(score) && score < 0);
        bl_scheduler_destroy(s);
        bl_item_destroy(broken);
        bl_item_destroy(low);
}

/* An overdue task (the backlog scores it +infinity: late, or past its decision deadline) goes first, oldest first. */
static double overdue_first(void *opaque, const bl_item_t *item, int64_t now_ms) {
        (void)opaque;
        (void)now_ms;
        return item->overdue ? INFINITY : item->business_value;
}

static void test_overdue_first_oldest_first(void) {
        bl_scheduler_options_t options = {1000, overdue_first, NULL};
        bl_scheduler_t *s = bl_scheduler_new(&options);
        bl_item_t *best = make_item("best", "eval", 1e300, T0);
        bl_item_t *late_new = make_item("late-new", "eval", 0.1, T0 + 20);
        bl_item_t *late_old = make_item("late-old", "eval", 0.0, T0 + 10);
        CHECK(bl_scheduler_insert(s, best, T0 + 30));
        CHECK(bl_scheduler_insert(s, late_new, T0 + 30));
        CHECK(bl_scheduler_insert(s, late_old, T0 + 30));
        CHECK(bl_scheduler_peek(s, "eval", T0 + 30) == best);
        late_new->overdue = late_old->overdue = true;
        CHECK(bl_scheduler_insert(s, late_new, T0 + 40)); /* in already: re-scored, as the backlog does */
        CHECK(bl_scheduler_insert(s, late_old, T0 + 40));
        CHECK(bl_scheduler_verify(s));
        double score = 0;
        CHECK(bl_scheduler_pop(s, "eval", T0 + 40, &score) == late_old); /* equal scores: READY longer first */
        CHECK(isinf(score) && score > 0);
        CHECK(bl_scheduler_pop(s, "eval", T0 + 40, &score) == late_new);
        CHECK(bl_scheduler_pop(s, "eval", T0 + 40, &score) == best);
        bl_scheduler_destroy(s);
        bl_item_destroy(best);
        bl_item_destroy(late_new);
        bl_item_destroy(late_old);
}

/* ---- membership, domains, counts ----------------------------------------------------------- */

static void test_remove_and_update(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        bl_item_t *items[20];
        for (int i = 0; i < 20; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%02d", i);
                items[i] = make_item(id, "infer", (double)((i * 7) % 20) / 20.0, T0 + i);
                CHECK(bl_scheduler_insert(s, items[i], T0 + 100));
        }
        /* removal from the middle, and of items that are not in */
        for (int i = 3; i < 20; i += 4) {
                CHECK(bl_scheduler_contains(s, items[i]));
                CHECK(bl_scheduler_remove(s, items[i]));
                CHECK(!bl_scheduler_contains(s, items[i]));
                CHECK(items[i]->sched_slot == BL_ITEM_NO_SLOT);
                CHECK(!bl_scheduler_remove(s, items[i]));
                CHECK(bl_scheduler_verify(s));
        }
        bl_item_t *stranger = make_item("stranger", "infer", 1, T0);
        CHECK(!bl_scheduler_remove(s, stranger));
        stranger->sched_slot = 0; /* claims slot 0, which holds another item */
        CHECK(!bl_scheduler_contains(s, stranger));
        CHECK(!bl_scheduler_remove(s, stranger));
        CHECK_INT(bl_scheduler_total(s), 15);

        /* an update moves an item in place: up to the top, then down to the bottom */
        items[0]->business_value = 5;
        CHECK(bl_scheduler_insert(s, items[0], T0 + 200));
        CHECK_INT(bl_scheduler_total(s), 15);
        CHECK(bl_scheduler_verify(s));
        CHECK(bl_scheduler_peek(s, "infer", T0 + 200) == items[0]);
        items[0]->business_value = -5;
        CHECK(bl_scheduler_insert(s, items[0], T0 + 200));
        CHECK(bl_scheduler_verify(s));
        bl_item_t *last = NULL;
        size_t popped = 0;
        for (bl_item_t *item; (item = bl_scheduler_pop(s, "infer", T0 + 200, NULL)); popped++)
                last = item;
        CHECK(last == items[0]);
        CHECK_INT(popped, 15);

        /* no domain: refused */
        bl_item_t *homeless = make_item("homeless", NULL, 1, T0);
        CHECK(!bl_scheduler_insert(s, homeless, T0));
        CHECK(homeless->sched_slot == BL_ITEM_NO_SLOT);
        CHECK_INT(bl_scheduler_total(s), 0);
        bl_scheduler_destroy(s);
        for (int i = 0; i < 20; i++)
                bl_item_destroy(items[i]);
        bl_item_destroy(stranger);
        bl_item_destroy(homeless);
}

static void test_domains_independent(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        bl_item_t *a1 = make_item("a1", "alpha", 0.9, T0);
        bl_item_t *a2 = make_item("a2", "alpha", 0.1, T0);
        bl_item_t *b1 = make_item("b1", "beta", 0.2, T0);
        bl_item_t *b2 = make_item("b2", "beta", 0.8, T0);
        bl_item_t *g1 = make_item("g1", "gamma", 0.5, T0);
        bl_item_t *all[] = {a1, a2, b1, b2, g1};
        for (int i = 0; i < 5; i++)
                CHECK(bl_scheduler_insert(s, all[i], T0));
        CHECK_INT(bl_scheduler_domain_count(s), 3);
        CHECK_STR(bl_scheduler_domain_name(s, 0), "alpha");
        CHECK_STR(bl_scheduler_domain_name(s, 1), "beta");
        CHECK_STR(bl_scheduler_domain_name(s, 2), "gamma");
        CHECK(bl_scheduler_domain_name(s, 3) == NULL);
        CHECK_INT(bl_scheduler_count(s, "alpha"), 2);
        CHECK_INT(bl_scheduler_count(s, "beta"), 2);
        CHECK_INT(bl_scheduler_count(s, "gamma"), 1);

        /* b2 outranks a2 but lives elsewhere: alpha's order is its own */
        CHECK(bl_scheduler_pop(s, "alpha", T0, NULL) == a1);
        CHECK(bl_scheduler_pop(s, "alpha", T0, NULL) == a2);
        CHECK(bl_scheduler_pop(s, "alpha", T0, NULL) == NULL);
        CHECK_INT(bl_scheduler_count(s, "alpha"), 0);
        CHECK_INT(bl_scheduler_count(s, "beta"), 2);
        CHECK(bl_scheduler_peek(s, "beta", T0) == b2);
        CHECK(bl_scheduler_remove(s, g1));
        CHECK_INT(bl_scheduler_count(s, "gamma"), 0);
        CHECK_INT(bl_scheduler_total(s), 2);
        CHECK_INT(bl_scheduler_domain_count(s), 3); /* drained domains keep their place */
        CHECK(bl_scheduler_verify(s));
        bl_scheduler_destroy(s);
        for (int i = 0; i < 5; i++)
                bl_item_destroy(all[i]);
}

static void test_empty_and_unknown(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 1000);
        CHECK(bl_scheduler_pop(s, "none", T0, NULL) == NULL);
        CHECK(bl_scheduler_peek(s, "none", T0) == NULL);
        CHECK_INT(bl_scheduler_count(s, "none"), 0);
        CHECK_INT(bl_scheduler_total(s), 0);
        CHECK_INT(bl_scheduler_domain_count(s), 0);
        CHECK(bl_scheduler_domain_name(s, 0) == NULL);
        CHECK(bl_scheduler_scored_since(s, "none") == BL_NO_TIME);
        bl_scheduler_rescore(s, T0); /* nothing to do */
        CHECK(bl_scheduler_verify(s));
        CHECK_INT(ctx.calls, 0);
        bl_scheduler_destroy(s);
        bl_scheduler_destroy(NULL);

        bl_scheduler_options_t no_score = {1000, NULL, NULL};
        CHECK(bl_scheduler_new(&no_score) == NULL);
        bl_scheduler_options_t negative = {-1, value_and_aging, &ctx};
        CHECK(bl_scheduler_new(&negative) == NULL);
}

/* Grows past a few doublings and drains again (the arrays halve on the way down). */
static void test_grow_and_drain(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        enum { N = 5000 };
        bl_item_t **items = calloc(N, sizeof(*items));
        for (int i = 0; i < N; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%05d", i);
                items[i] = make_item(id, i % 2 ? "odd" : "even", (double)((i * 7919) % N) / N, T0 + i % 17);
                CHECK(bl_scheduler_insert(s, items[i], T0 + 100));
        }
        CHECK(bl_scheduler_verify(s));
        CHECK_INT(bl_scheduler_total(s), N);
        double previous = INFINITY;
        size_t popped = 0, out_of_order = 0;
        for (double score; bl_scheduler_pop(s, "even", T0 + 100, &score); popped++) {
                out_of_order += score > previous;
                previous = score;
        }
        CHECK_INT(popped, N / 2);
        CHECK_INT(out_of_order, 0);
        for (int i = 1; i < N; i += 2)
                CHECK(bl_scheduler_remove(s, items[i]));
        CHECK_INT(bl_scheduler_total(s), 0);
        CHECK(bl_scheduler_verify(s));
        bl_scheduler_destroy(s);
        for (int i = 0; i < N; i++)
                bl_item_destroy(items[i]);
        free(items);
}

/* A partition's items leave all domains at once; the rest keep a valid heap and their order. */
static void test_remove_partition(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        enum { N = 3000 };
        bl_item_t **items = calloc(N, sizeof(*items));
        size_t in_partition_1 = 0;
        for (int i = 0; i < N; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%05d", i);
                items[i] = make_item(id, i % 3 ? "odd" : "even", (double)((i * 7919) % N) / N, T0 + i % 17);
                items[i]->partition = i % 4;
                in_partition_1 += items[i]->partition == 1;
                CHECK(bl_scheduler_insert(s, items[i], T0 + 100));
        }
        CHECK_INT(bl_scheduler_remove_partition(s, 1), in_partition_1);
        CHECK_INT(bl_scheduler_total(s), N - in_partition_1);
        CHECK(bl_scheduler_verify(s));
        for (int i = 0; i < N; i++)
                CHECK_INT(bl_scheduler_contains(s, items[i]), items[i]->partition != 1);
        CHECK_INT(bl_scheduler_remove_partition(s, 1), 0);
        double previous = INFINITY;
        size_t popped = 0, out_of_order = 0;
        for (double score; bl_scheduler_pop(s, "odd", T0 + 100, &score); popped++) {
                out_of_order += score > previous;
                previous = score;
        }
        CHECK_INT(out_of_order, 0);
        CHECK_INT(popped + bl_scheduler_count(s, "even"), N - in_partition_1);
        bl_scheduler_destroy(s);
        for (int i = 0; i < N; i++)
                bl_item_destroy(items[i]);
        free(items);
}

/* ---- time: re-scoring ------------------------------------------------------------------------ */

static void test_rescore_cadence(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 1000);
        bl_item_t *items[15];
        for (int i = 0; i < 15; i++) {
                char id[16];
                snprintf(id, sizeof(id), "t%02d", i);
                items[i] = make_item(id, i < 10 ? "a" : "b", 0.5, T0);
                CHECK(bl_scheduler_insert(s, items[i], T0));
        }
        bl_scheduler_stats_t stats;
        CHECK_INT(ctx.calls, 15); /* one score per insert */
        CHECK(bl_scheduler_scored_since(s, "a") == T0);

        /* younger than the interval: no re-score */
        CHECK(bl_scheduler_pop(s, "a", T0 + 999, NULL) != NULL);
        CHECK(bl_scheduler_peek(s, "a", T0 + 999) != NULL);
        CHECK_INT(ctx.calls, 15);

        /* due: a pick of "a" re-scores "a" (9 items left) and only "a" */
        CHECK(bl_scheduler_peek(s, "a", T0 + 1000) != NULL);
        CHECK_INT(ctx.calls, 15 + 9);
        CHECK(bl_scheduler_scored_since(s, "a") == T0 + 1000);
        CHECK(bl_scheduler_scored_since(s, "b") == T0);
        bl_scheduler_stats(s, &stats);
        CHECK_INT(stats.rescores_total, 1);
        CHECK_INT(stats.scores_total, 24);
        CHECK(bl_scheduler_pop(s, "a", T0 + 1999, NULL) != NULL);
        CHECK_INT(ctx.calls, 24);

        /* the caller's own cadence: every domain, at once */
        bl_scheduler_rescore(s, T0 + 1500);
        CHECK_INT(ctx.calls, 24 + 8 + 5);
        CHECK(bl_scheduler_scored_since(s, "a") == T0 + 1500);
        CHECK(bl_scheduler_scored_since(s, "b") == T0 + 1500);
        CHECK(bl_scheduler_pop(s, "b", T0 + 2499, NULL) != NULL);
        CHECK_INT(ctx.calls, 37);
        CHECK(bl_scheduler_pop(s, "b", T0 + 2500, NULL) != NULL);
        CHECK_INT(ctx.calls, 37 + 4);

        /* an update re-scores one item, not the domain */
        CHECK(bl_scheduler_insert(s, items[14], T0 + 2600));
        CHECK_INT(ctx.calls, 42);

        /* a drained domain: its next item is scored at insert, so nothing older is left in it */
        while (bl_scheduler_pop(s, "a", T0 + 2600, NULL))
                ;
        CHECK_INT(ctx.calls, 42 + 8); /* the drain's first pick found "a" due */
        CHECK(bl_scheduler_insert(s, items[0], T0 + 9000));
        CHECK(bl_scheduler_scored_since(s, "a") == T0 + 9000);
        CHECK(bl_scheduler_peek(s, "a", T0 + 9999) == items[0]);
        CHECK_INT(ctx.calls, 51);
        CHECK(bl_scheduler_verify(s));
        bl_scheduler_destroy(s);

        /* interval 0: never on its own, however old */
        ctx.calls = 0;
        s = new_scheduler(&ctx, 0);
        for (int i = 0; i < 15; i++)
                items[i]->sched_slot = BL_ITEM_NO_SLOT; /* the scheduler they were in is gone */
        for (int i = 0; i < 5; i++)
                CHECK(bl_scheduler_insert(s, items[i], T0));
        CHECK(bl_scheduler_pop(s, "a", T0 + 86400000, NULL) != NULL);
        CHECK_INT(ctx.calls, 5);
        bl_scheduler_rescore(s, T0 + 86400000);
        CHECK_INT(ctx.calls, 9);
        bl_scheduler_destroy(s);
        for (int i = 0; i < 15; i++)
                bl_item_destroy(items[i]);
}

/*
 * Aging in action. A low-value item goes in first; then, every STEP_MS, a
 * fresh high-value item arrives and one item is dispatched: a constant
 * high-value load that keeps a queue of QUEUED_HIGH items. Scores age at
 * AGING_PER_MS, so the low item's score rises until it beats the oldest
 * high one. A naive reference scores everything at every step (no
 * staleness) and finds the crossing step; the scheduler, re-scoring every
 * INTERVAL_MS, must dispatch the low item no earlier (stale scores never
 * favour it: newer arrivals are scored later) and at most INTERVAL_MS /
 * STEP_MS + 1 steps later. Each pick also meets the staleness bound: its
 * score now is at most 2 * AGING_PER_MS * INTERVAL_MS below the best. Without
 * re-scoring the low item starves.
 */
#define STEP_MS 100
#define QUEUED_HIGH 50
#define AGING_PER_MS 1e-4
#define INTERVAL_MS 1000
#define HORIZON_STEPS 2000

typedef struct crossing_s {
        int dispatched_step; /* when the low item was dispatched; -1: never within the horizon */
        int stale_picks;     /* picks below the bound */
        int fifo_violations; /* high items dispatched out of their FIFO order (all score alike when new) */
} crossing_t;

static crossing_t run_constant_load(int64_t interval_ms, bool reference) {
        score_ctx_t ctx = {AGING_PER_MS, 0};
        bl_scheduler_t *s = new_scheduler(&ctx, interval_ms);
        bl_item_t *low = make_item("low", "infer", 0.1, T0);
        bl_item_t **highs = calloc(HORIZON_STEPS + QUEUED_HIGH, sizeof(*highs));
        size_t high_count = 0, oldest_high = 0;
        int64_t now = T0;
        crossing_t result = {-1, 0, 0};
        CHECK(bl_scheduler_insert(s, low, now));
        for (int i = 0; i < QUEUED_HIGH; i++) {
                char id[16];
                snprintf(id, sizeof(id), "h%05zu", high_count);
                now += 1;
                highs[high_count] = make_item(id, "infer", 0.9, now);
                CHECK(bl_scheduler_insert(s, highs[high_count++], now));
        }
        for (int step = 0; step < HORIZON_STEPS && result.dispatched_step < 0; step++) {
                char id[16];
                now += STEP_MS;
                snprintf(id, sizeof(id), "h%05zu", high_count);
                highs[high_count] = make_item(id, "infer", 0.9, now);
                CHECK(bl_scheduler_insert(s, highs[high_count++], now));
                /* the best now, exactly: the low item or the oldest high one (highs leave in FIFO order) */
                double low_now = value_and_aging(&ctx, low, now);
                double high_now = value_and_aging(&ctx, highs[oldest_high], now);
                bool low_is_best = low_now >= high_now; /* a tie goes to the older: low */
                if (reference) {
                        if (low_is_best)
                                result.dispatched_step = step;
                        else
                                oldest_high++;
                        continue;
                }
                bl_item_t *picked = bl_scheduler_pop(s, "infer", now, NULL);
                double picked_now = value_and_aging(&ctx, picked, now);
                double best_now = low_is_best ? low_now : high_now;
                if (interval_ms > 0 && picked_now < best_now - 2 * AGING_PER_MS * (double)interval_ms)
                        result.stale_picks++;
                if (picked == low)
                        result.dispatched_step = step;
                else if (picked == highs[oldest_high])
                        oldest_high++;
                else
                        result.fifo_violations++;
        }
        bl_scheduler_destroy(s);
        bl_item_destroy(low);
        for (size_t i = 0; i < high_count; i++)
                bl_item_destroy(highs[i]);
        free(highs);
        return result;
}

static void test_aging_outranks_fresh_high_value(void) {
        crossing_t exact = run_constant_load(0, true);
        crossing_t rescored = run_constant_load(INTERVAL_MS, false);
        crossing_t never = run_constant_load(0, false);
        /* 0.8 of value to make up at 1e-4 per ms, over the ~5 s the oldest high item has waited */
        CHECK(exact.dispatched_step > 0.8 / AGING_PER_MS / STEP_MS);
        CHECK(exact.dispatched_step < HORIZON_STEPS / 2);
        CHECK(rescored.dispatched_step >= exact.dispatched_step);
        CHECK(rescored.dispatched_step <= exact.dispatched_step + INTERVAL_MS / STEP_MS + 1);
        CHECK_INT(rescored.stale_picks, 0);
        CHECK_INT(rescored.fifo_violations, 0);
        CHECK_INT(never.dispatched_step, -1); /* without re-scoring it starves */
        fprintf(stderr, "  crossing: exact step %d, re-scored every %d ms: step %d, never re-scored: %s\n",
                exact.dispatched_step, INTERVAL_MS, rescored.dispatched_step,
                never.dispatched_step < 0 ? "starved" : "dispatched");
}

/* ---- random operations against a naive model -------------------------------------------------- */

#define MODEL_ITEMS 300
#define MODEL_DOMAINS 3
#define MODEL_STEPS 30000
#define MODEL_INTERVAL_MS 3000

static const char *const model_domains[MODEL_DOMAINS] = {"prep", "infer", "eval"};

/* Quantised so that ties of score happen all the time: value in quarters, plus a quarter per 2 s READY. */
static double quantised(void *opaque, const bl_item_t *item, int64_t now_ms) {
        score_ctx_t *ctx = opaque;
        ctx->calls++;
        return floor(item->business_value * 4) / 4 + 0.25 * (double)((now_ms - item->ready_since_ms) / 2000);
}

typedef struct model_entry_s {
        bl_item_t *item;
        bool in;
        double cached;
        int64_t ready_since_ms;
} model_entry_t;

typedef struct model_s {
        model_entry_t entries[MODEL_ITEMS];
        bool seen[MODEL_DOMAINS];
        int64_t scored_since_ms[MODEL_DOMAINS];
        size_t count[MODEL_DOMAINS];
        score_ctx_t ctx;
} model_t;

static int domain_index(const char *name) {
        for (int d = 0; d < MODEL_DOMAINS; d++)
                if (!strcmp(model_domains[d], name))
                        return d;
        return -1;
}

static bool model_better(const model_entry_t *a, const model_entry_t *b) {
        if (a->cached != b->cached)
                return a->cached > b->cached;
        if (a->ready_since_ms != b->ready_since_ms)
                return a->ready_since_ms < b->ready_since_ms;
        return strcmp(a->item->task_id, b->item->task_id) < 0;
}

static void model_rescore(model_t *model, int d, int64_t now) {
        for (int i = 0; i < MODEL_ITEMS; i++)
                if (model->entries[i].in && domain_index(model->entries[i].item->kind->domain) == d)
                        model->entries[i].cached = quantised(&model->ctx, model->entries[i].item, now);
        model->scored_since_ms[d] = now;
}

/* The model's best of domain @p d after the re-score a pick would make; -1 when empty. */
static int model_pick(model_t *model, int d, int64_t now) {
        if (model->count[d] == 0)
                return -1;
        if (now - model->scored_since_ms[d] >= MODEL_INTERVAL_MS)
                model_rescore(model, d, now);
        int best = -1;
        for (int i = 0; i < MODEL_ITEMS; i++)
                if (model->entries[i].in && domain_index(model->entries[i].item->kind->domain) == d &&
                    (best < 0 || model_better(&model->entries[i], &model->entries[best])))
                        best = i;
        return best;
}

static void test_random_against_model(void) {
        static model_t model;
        memset(&model, 0, sizeof(model));
        score_ctx_t ctx = {0};
        bl_scheduler_options_t options = {MODEL_INTERVAL_MS, quantised, &ctx};
        bl_scheduler_t *s = bl_scheduler_new(&options);
        uint64_t rng = 0x2545F4914F6CDD1DULL;
#define NEXT(bound) ((rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17), (int)(rng % (uint64_t)(bound)))
        for (int i = 0; i < MODEL_ITEMS; i++) {
                char id[16];
                snprintf(id, sizeof(id), "task-%03d", i * 7 % MODEL_ITEMS); /* ids in another order than i */
                model.entries[i].item = make_item(id, model_domains[i % MODEL_DOMAINS], 0, BL_NO_TIME);
        }
        int64_t now = T0;
        int mismatches = 0, verify_failures = 0, pops = 0, updates = 0, removals = 0;
        for (int step = 0; step < MODEL_STEPS; step++) {
                now += NEXT(4) == 0 ? NEXT(700) : 0; /* time often stands still: equal READY times */
                int i = NEXT(MODEL_ITEMS), op = NEXT(100);
                model_entry_t *entry = &model.entries[i];
                int d = domain_index(entry->item->kind->domain);
                if (op < 40) { /* insert, or update one that is in */
                        entry->item->business_value = NEXT(8) / 8.0;
                        if (!entry->in)
                                entry->item->ready_since_ms = now - NEXT(3) * 1000;
                        else
                                updates++;
                        if (!model.seen[d] || model.count[d] == 0)
                                model.scored_since_ms[d] = now;
                        model.seen[d] = true;
                        model.count[d] += !entry->in;
                        entry->in = true;
                        entry->cached = quantised(&model.ctx, entry->item, now);
                        entry->ready_since_ms = entry->item->ready_since_ms;
                        mismatches += !bl_scheduler_insert(s, entry->item, now);
                } else if (op < 60) { /* removal, often of an item that is not in */
                        mismatches += bl_scheduler_remove(s, entry->item) != entry->in;
                        removals += entry->in;
                        model.count[d] -= entry->in;
                        entry->in = false;
                } else if (op < 85) { /* pop */
                        int best = model_pick(&model, d, now);
                        double score = 0;
                        bl_item_t *popped = bl_scheduler_pop(s, model_domains[d], now, &score);
                        if (best < 0) {
                                mismatches += popped != NULL;
                        } else {
                                mismatches += popped != model.entries[best].item || score != model.entries[best].cached;
                                model.entries[best].in = false;
                                model.count[d]--;
                                pops++;
                        }
                } else if (op < 97) { /* peek */
                        int best = model_pick(&model, d, now);
                        bl_item_t *peeked = bl_scheduler_peek(s, model_domains[d], now);
                        mismatches += best < 0 ? peeked != NULL : peeked != model.entries[best].item;
                } else { /* the caller's re-score */
                        for (int m = 0; m < MODEL_DOMAINS; m++)
                                if (model.seen[m])
                                        model_rescore(&model, m, now);
                        bl_scheduler_rescore(s, now);
                }
                size_t total = 0;
                for (int m = 0; m < MODEL_DOMAINS; m++) {
                        mismatches += bl_scheduler_count(s, model_domains[m]) != model.count[m];
                        total += model.count[m];
                }
                mismatches += bl_scheduler_total(s) != total;
                verify_failures += !bl_scheduler_verify(s);
                if (mismatches || verify_failures) {
                        fprintf(stderr, "  first disagreement at step %d (op %d, item %d)\n", step, op, i);
                        break;
                }
        }
#undef NEXT
        CHECK_INT(mismatches, 0);
        CHECK_INT(verify_failures, 0);
        CHECK(ctx.calls == model.ctx.calls); /* the same scores computed, no more */
        CHECK(pops > 1000 && updates > 1000 && removals > 1000);
        bl_scheduler_destroy(s);
        for (int i = 0; i < MODEL_ITEMS; i++)
                bl_item_destroy(model.entries[i].item);
}

/* ---- the best few, filtered (bl_scheduler_best) ------------------------------------------------ */

static bool odd_value_tenths(void *opaque, const bl_item_t *item) {
        (void)opaque;
        return (int)lround(item->business_value * 100) % 2 == 1;
}

static void test_best_walks_in_order_with_a_filter(void) {
        score_ctx_t ctx = {0};
        bl_scheduler_t *s = new_scheduler(&ctx, 0);
        bl_item_t *items[200], *out[200];
        /* values 0.00 .. 1.99 shuffled in: the heap's layout is not the order */
        for (int i = 0; i < 200; i++) {
                char id[16];
                int v = (i * 73) % 200;
                snprintf(id, sizeof(id), "t%03d", v);
                items[i] = make_item(id, "infer", v / 100.0, T0);
                CHECK(bl_scheduler_insert(s, items[i], T0));
        }
        /* unfiltered: the same order as pops would give */
        size_t found = bl_scheduler_best(s, "infer", T0, NULL, NULL, out, 5, 1000);
        CHECK_INT(found, 5);
        for (size_t i = 0; i < found; i++)
                CHECK_INT(lround(out[i]->business_value * 100), 199 - (long)i);
        /* filtered: the best odd values, best first, nothing taken out */
        found = bl_scheduler_best(s, "infer", T0, odd_value_tenths, NULL, out, 10, 1000);
        CHECK_INT(found, 10);
        for (size_t i = 0; i < found; i++)
                CHECK_INT(lround(out[i]->business_value * 100), 199 - 2 * (long)i);
        CHECK_INT(bl_scheduler_total(s), 200);
        CHECK(bl_scheduler_verify(s));
        /* the walk looks at no more than max_visits items: 6 visits see 3 odd ones */
        CHECK_INT(bl_scheduler_best(s, "infer", T0, odd_value_tenths, NULL, out, 10, 6), 3);
        /* more wanted than there are: all of them */
        CHECK_INT(bl_scheduler_best(s, "infer", T0, odd_value_tenths, NULL, out, 200, 100000), 100);
        /* nothing asked, an unknown domain */
        CHECK_INT(bl_scheduler_best(s, "infer", T0, NULL, NULL, out, 0, 10), 0);
        CHECK_INT(bl_scheduler_best(s, "train", T0, NULL, NULL, out, 5, 10), 0);
        for (int i = 0; i < 200; i++) {
                bl_scheduler_remove(s, items[i]);
                bl_item_destroy(items[i]);
        }
        bl_scheduler_destroy(s);
}

int main(void) {
        RUN(test_orders_by_score);
        RUN(test_best_walks_in_order_with_a_filter);
        RUN(test_fifo_among_equal_scores);
        RUN(test_nan_score_goes_last);
        RUN(test_overdue_first_oldest_first);
        RUN(test_remove_and_update);
        RUN(test_domains_independent);
        RUN(test_empty_and_unknown);
        RUN(test_grow_and_drain);
        RUN(test_remove_partition);
        RUN(test_rescore_cadence);
        RUN(test_aging_outranks_fresh_high_value);
        RUN(test_random_against_model);
        return check_exit_status();
}
