/*
 * test_metrics.c: the registry renders the Prometheus text format 0.0.4 to
 * the byte (labels, escaping, histograms, numbers); series handles are
 * found again, refused when misused, and updated from many threads while
 * another renders without losing a count; backlogd's catalogue follows
 * STYLE.md rule 13.
 *
 * That the update path never allocates is by construction (metrics.c: a
 * series is one allocation made when it is created; inc, set and observe
 * touch only its atomics), not measured here.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "base/log.h"
#include "ops/metrics.h"
#include "ops/scrape.h"

static bl_metric_t *add(bl_metrics_t *registry, const char *name, bl_metric_type_t type, const char *help,
                        const char *labels) {
        char errstr[256] = "";
        bl_metric_desc_t desc = {name, type, help, labels, NULL, 0};
        bl_metric_t *metric = bl_metrics_add(registry, &desc, errstr, sizeof(errstr));
        if (!metric)
                fprintf(stderr, "bl_metrics_add(%s): %s\n", name, errstr);
        return metric;
}

static bl_metric_t *add_histogram(bl_metrics_t *registry, const char *name, const char *labels,
                                  const double *buckets, size_t bucket_count) {
        char errstr[256] = "";
        bl_metric_desc_t desc = {name, BL_METRIC_HISTOGRAM, "Latency.", labels, buckets, bucket_count};
        bl_metric_t *metric = bl_metrics_add(registry, &desc, errstr, sizeof(errstr));
        if (!metric)
                fprintf(stderr, "bl_metrics_add(%s): %s\n", name, errstr);
        return metric;
}

/* The registry rendered must be exactly @p expected. */
static void check_render(bl_metrics_t *registry, const char *expected) {
        size_t length = 0;
        char *text = bl_metrics_render_string(registry, &length);
        CHECK_STR(text, expected);
        CHECK_INT(length, strlen(expected));
        free(text);
}

static void test_counters_and_gauges(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metric_t *events = add(registry, "test_ingest_events_total", BL_METRIC_COUNTER, "Records consumed.",
                                  "topic,partition");
        bl_metric_t *paused = add(registry, "test_paused", BL_METRIC_GAUGE, "1 while paused.", NULL);
        bl_metric_t *empty = add(registry, "test_nothing_yet_total", BL_METRIC_COUNTER, "No series yet.", "reason");
        CHECK(events && paused && empty);

        bl_metric_series_t *a = bl_metrics_series(events, "tasks.events", "0");
        bl_metric_series_t *b = bl_metrics_series(events, "tasks.results", "3");
        bl_metric_inc(a, 1);
        bl_metric_inc(a, 2);
        bl_metric_inc(b, 0.5);
        bl_metric_set(bl_metrics_series(paused), 1);
        check_render(registry, "# HELP test_ingest_events_total Records consumed.\n"
                               "# TYPE test_ingest_events_total counter\n"
                               "test_ingest_events_total{topic=\"tasks.events\",partition=\"0\"} 3\n"
                               "test_ingest_events_total{topic=\"tasks.results\",partition=\"3\"} 0.5\n"
                               "# HELP test_paused 1 while paused.\n"
                               "# TYPE test_paused gauge\n"
                               "test_paused 1\n"
                               "# HELP test_nothing_yet_total No series yet.\n"
                               "# TYPE test_nothing_yet_total counter\n");

        /* Gauges go both ways; counters refuse to go down. */
        bl_metric_series_t *gauge = bl_metrics_series(paused);
        bl_metric_inc(gauge, -3);
        CHECK(bl_metric_value(gauge) == -2);
        bl_metric_inc(a, -1);
        bl_metric_inc(a, NAN);
        CHECK(bl_metric_value(a) == 3);
        /* A counter that mirrors a count kept elsewhere may be set. */
        bl_metric_set(a, 42);
        CHECK(bl_metric_value(a) == 42);
        bl_metrics_destroy(registry);
}

static void test_escaping(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metric_t *metric =
                add(registry, "test_escape", BL_METRIC_GAUGE, "Help with a \\ backslash\nand a \"quote\".", "value");
        bl_metric_set(bl_metrics_series(metric, "back\\slash \"quoted\"\nnext line"), 7);
        bl_metric_set(bl_metrics_series(metric, "naïve ✓"), 8);
        /* In HELP only backslash and newline are escaped; in label values the quote too. */
        check_render(registry, "# HELP test_escape Help with a \\\\ backslash\\nand a \"quote\".\n"
                               "# TYPE test_escape gauge\n"
                               "test_escape{value=\"back\\\\slash \\\"quoted\\\"\\nnext line\"} 7\n"
                               "test_escape{value=\"naïve ✓\"} 8\n");
        bl_metrics_destroy(registry);
}

static void test_histograms(void) {
        static const double buckets[] = {0.1, 0.5, 1};
        bl_metrics_t *registry = bl_metrics_new();
        bl_metric_t *plain = add_histogram(registry, "test_commit_seconds", NULL, buckets, 3);
        bl_metric_t *labelled = add_histogram(registry, "test_decision_seconds", "domain", buckets, 3);
        CHECK(plain && labelled);

        bl_metric_series_t *series = bl_metrics_series(plain);
        bl_metric_observe(series, 0.05);
        bl_metric_observe(series, 0.1); /* on a bound: counted in it (le) */
        bl_metric_observe(series, 0.25);
        bl_metric_observe(series, 2);   /* past every bound: +Inf only */
        bl_metric_observe(series, NAN); /* ignored */
        bl_metric_series_t *evaluation = bl_metrics_series(labelled, "evaluation");
        bl_metric_observe(evaluation, 1);
        bl_metrics_series(labelled, "remediation"); /* created, never observed */
        check_render(registry, "# HELP test_commit_seconds Latency.\n"
                               "# TYPE test_commit_seconds histogram\n"
                               "test_commit_seconds_bucket{le=\"0.1\"} 2\n"
                               "test_commit_seconds_bucket{le=\"0.5\"} 3\n"
                               "test_commit_seconds_bucket{le=\"1\"} 3\n"
                               "test_commit_seconds_bucket{le=\"+Inf\"} 4\n"
                               "test_commit_seconds_sum 2.4\n"
                               "test_commit_seconds_count 4\n"
                               "# HELP test_decision_seconds Latency.\n"
                               "# TYPE test_decision_seconds histogram\n"
                               "test_decision_seconds_bucket{domain=\"evaluation\",le=\"0.1\"} 0\n"
                               "test_decision_seconds_bucket{domain=\"evaluation\",le=\"0.5\"} 0\n"
                               "test_decision_seconds_bucket{domain=\"evaluation\",le=\"1\"} 1\n"
                               "test_decision_seconds_bucket{domain=\"evaluation\",le=\"+Inf\"} 1\n"
                               "test_decision_seconds_sum{domain=\"evaluation\"} 1\n"
                               "test_decision_seconds_count{domain=\"evaluation\"} 1\n"
                               "test_decision_seconds_bucket{domain=\"remediation\",le=\"0.1\"} 0\n"
                               "test_decision_seconds_bucket{domain=\"remediation\",le=\"0.5\"} 0\n"
                               "test_decision_seconds_bucket{domain=\"remediation\",le=\"1\"} 0\n"
                               "test_decision_seconds_bucket{domain=\"remediation\",le=\"+Inf\"} 0\n"
                               "test_decision_seconds_sum{domain=\"remediation\"} 0\n"
                               "test_decision_seconds_count{domain=\"remediation\"} 0\n");
        CHECK(bl_metric_value(series) == 4);
        CHECK(fabs(bl_metric_sum(series) - 2.4) < 1e-12);
        /* inc and set do nothing to a histogram, observe nothing to a gauge. */
        bl_metric_inc(series, 5);
        bl_metric_set(series, 5);
        CHECK(bl_metric_value(series) == 4);
        bl_metrics_destroy(registry);
}

static void test_numbers(void) {
        static const double buckets[] = {0.000025, 0.25, 2.5, 1000000};
        bl_metrics_t *registry = bl_metrics_new();
        bl_metric_t *gauge = add(registry, "test_number", BL_METRIC_GAUGE, "Numbers.", "case");
        add_histogram(registry, "test_bounds", NULL, buckets, 4);
        bl_metric_set(bl_metrics_series(gauge, "tenth"), 0.1);
        bl_metric_set(bl_metrics_series(gauge, "third"), 1.0 / 3);
        bl_metric_set(bl_metrics_series(gauge, "big"), 1e20);
        bl_metric_set(bl_metrics_series(gauge, "integer"), 9007199254740992.0);
        bl_metric_set(bl_metrics_series(gauge, "negative"), -12.5);
        bl_metric_set(bl_metrics_series(gauge, "nan"), NAN);
        bl_metric_set(bl_metrics_series(gauge, "inf"), INFINITY);
        bl_metric_set(bl_metrics_series(gauge, "-inf"), -INFINITY);
        check_render(registry, "# HELP test_number Numbers.\n"
                               "# TYPE test_number gauge\n"
                               "test_number{case=\"tenth\"} 0.1\n"
                               "test_number{case=\"third\"} 0.33333333333333331\n"
                               "test_number{case=\"big\"} 1e+20\n"
                               "test_number{case=\"integer\"} 9007199254740992\n"
                               "test_number{case=\"negative\"} -12.5\n"
                               "test_number{case=\"nan\"} NaN\n"
                               "test_number{case=\"inf\"} +Inf\n"
                               "test_number{case=\"-inf\"} -Inf\n"
                               "# HELP test_bounds Latency.\n"
                               "# TYPE test_bounds histogram\n"
                               "test_bounds_bucket{le=\"2.5e-05\"} 0\n"
                               "test_bounds_bucket{le=\"0.25\"} 0\n"
                               "test_bounds_bucket{le=\"2.5\"} 0\n"
                               "test_bounds_bucket{le=\"1000000\"} 0\n"
                               "test_bounds_bucket{le=\"+Inf\"} 0\n"
                               "test_bounds_sum 0\n"
                               "test_bounds_count 0\n");
        bl_metrics_destroy(registry);
}

static void test_series_handles(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metric_t *items = add(registry, "test_items", BL_METRIC_GAUGE, "Items.", "state,domain");
        bl_metric_t *single = add(registry, "test_single_total", BL_METRIC_COUNTER, "One series.", NULL);

        bl_metric_series_t *ready = bl_metrics_series(items, "READY", "evaluation");
        CHECK(ready != NULL);
        CHECK(bl_metrics_series(items, "READY", "evaluation") == ready);
        CHECK(bl_metrics_series(items, "READY", "remediation") != ready);
        const char *values[] = {"READY", "evaluation"};
        CHECK(bl_metrics_series_array(items, values, 2) == ready);
        CHECK(bl_metrics_series(single) == bl_metrics_series(single));
        CHECK(bl_metrics_series(single) != NULL);

        /* Misuse gives NULL, and NULL is a series that ignores updates. */
        CHECK(bl_metrics_series(items, "READY") == NULL);
        CHECK(bl_metrics_series(items, "READY", "evaluation", "extra") == NULL);
        CHECK(bl_metrics_series(single, "unexpected") == NULL);
        CHECK(bl_metrics_series_array(items, (const char *[]){"READY", NULL}, 2) == NULL);
        char long_value[BL_METRICS_LABEL_VALUE_MAX + 2];
        memset(long_value, 'x', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        CHECK(bl_metrics_series(items, long_value, "evaluation") == NULL);
        CHECK(bl_metrics_series(NULL, "READY") == NULL);
        bl_metric_inc(NULL, 1);
        bl_metric_set(NULL, 1);
        bl_metric_observe(NULL, 1);
        CHECK(bl_metric_value(NULL) == 0);

        /* Past BL_METRICS_SERIES_MAX, new tuples are refused and old ones still work. */
        bl_metric_t *wide = add(registry, "test_wide_total", BL_METRIC_COUNTER, "Many.", "id");
        int created = 0;
        for (int i = 0; i < BL_METRICS_SERIES_MAX + 5; i++) {
                char id[16];
                snprintf(id, sizeof(id), "%d", i);
                created += bl_metrics_series(wide, id) != NULL;
        }
        CHECK_INT(created, BL_METRICS_SERIES_MAX);
        CHECK(bl_metrics_series(wide, "0") != NULL);
        bl_metrics_destroy(registry);
}

static void expect_refused(bl_metrics_t *registry, bl_metric_desc_t desc, const char *reason) {
        char errstr[256] = "";
        CHECK(bl_metrics_add(registry, &desc, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, reason);
}

static void test_add_refuses(void) {
        static const double buckets[] = {1, 2};
        static const double unordered[] = {2, 1};
        static const double infinite[] = {1, INFINITY};
        bl_metrics_t *registry = bl_metrics_new();
        CHECK(add(registry, "test_taken_total", BL_METRIC_COUNTER, "Taken.", NULL) != NULL);
        expect_refused(registry, (bl_metric_desc_t){"test_taken_total", BL_METRIC_COUNTER, "Again.", NULL, NULL, 0},
                       "already registered");
        expect_refused(registry, (bl_metric_desc_t){"9starts_with_digit", BL_METRIC_GAUGE, "x", NULL, NULL, 0},
                       "is not [a-zA-Z_:]");
        expect_refused(registry, (bl_metric_desc_t){"has-dash", BL_METRIC_GAUGE, "x", NULL, NULL, 0}, "has-dash");
        expect_refused(registry, (bl_metric_desc_t){"", BL_METRIC_GAUGE, "x", NULL, NULL, 0}, "metric name");
        expect_refused(registry, (bl_metric_desc_t){"test_a", BL_METRIC_GAUGE, "x", "ok,bad-name", NULL, 0},
                       "label name \"bad-name\"");
        expect_refused(registry, (bl_metric_desc_t){"test_b", BL_METRIC_GAUGE, "x", "__reserved", NULL, 0},
                       "starts with __");
        expect_refused(registry, (bl_metric_desc_t){"test_c", BL_METRIC_GAUGE, "x", "a,,b", NULL, 0},
                       "label name \"\"");
        expect_refused(registry, (bl_metric_desc_t){"test_d", BL_METRIC_GAUGE, "x", "a,a", NULL, 0},
                       "named twice");
        expect_refused(registry, (bl_metric_desc_t){"test_e", BL_METRIC_HISTOGRAM, "x", "le", buckets, 2},
                       "label named le");
        expect_refused(registry, (bl_metric_desc_t){"test_f", BL_METRIC_HISTOGRAM, "x", NULL, NULL, 0},
                       "needs 1 to");
        expect_refused(registry, (bl_metric_desc_t){"test_g", BL_METRIC_HISTOGRAM, "x", NULL, unordered, 2},
                       "bucket 1");
        expect_refused(registry, (bl_metric_desc_t){"test_h", BL_METRIC_HISTOGRAM, "x", NULL, infinite, 2},
                       "+Inf is implicit");
        expect_refused(registry, (bl_metric_desc_t){"test_i", BL_METRIC_GAUGE, "x", NULL, buckets, 2},
                       "only histograms");
        /* Nothing refused was half-registered. */
        check_render(registry, "# HELP test_taken_total Taken.\n# TYPE test_taken_total counter\ntest_taken_total 0\n");
        bl_metrics_destroy(registry);
        bl_metrics_destroy(NULL);
}

/* ---- many writers, one reader ------------------------------------------- */

#define WRITERS 8
#define UPDATES 20000

typedef struct shared_s {
        bl_metric_t *counter;  /* {writer}: one series per writer, and a shared one */
        bl_metric_t *gauge;
        bl_metric_t *histogram;
        bl_metric_series_t *shared;
        int index;
} shared_t;

static void *writer(void *opaque) {
        shared_t *shared = opaque;
        char name[16];
        snprintf(name, sizeof(name), "w%d", shared->index);
        /* Series created while others update and the reader renders. */
        bl_metric_series_t *own = bl_metrics_series(shared->counter, name);
        bl_metric_series_t *gauge = bl_metrics_series(shared->gauge);
        bl_metric_series_t *histogram = bl_metrics_series(shared->histogram);
        for (int i = 0; i < UPDATES; i++) {
                bl_metric_inc(own, 1);
                bl_metric_inc(shared->shared, 1);
                bl_metric_inc(gauge, 1);
                bl_metric_inc(gauge, -1);
                bl_metric_observe(histogram, (i % 4) * 0.5); /* 0, 0.5, 1, 1.5 */
        }
        return NULL;
}

/* The number after "<prefix> " at the start of a line of @p text, or -1. */
static double sample(const char *text, const char *prefix) {
        size_t length = strlen(prefix);
        for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (!strncmp(line, prefix, length) && line[length] == ' ')
                        return strtod(line + length + 1, NULL);
        return -1;
}

static void test_concurrent_updates(void) {
        static const double buckets[] = {0.25, 1};
        bl_metrics_t *registry = bl_metrics_new();
        shared_t shared[WRITERS];
        bl_metric_t *counter = add(registry, "test_updates_total", BL_METRIC_COUNTER, "Updates.", "writer");
        bl_metric_t *gauge = add(registry, "test_balance", BL_METRIC_GAUGE, "Up and down.", NULL);
        bl_metric_t *histogram = add_histogram(registry, "test_observed", NULL, buckets, 2);
        bl_metric_series_t *all = bl_metrics_series(counter, "all");
        pthread_t threads[WRITERS];
        for (int i = 0; i < WRITERS; i++) {
                shared[i] = (shared_t){counter, gauge, histogram, all, i};
                pthread_create(&threads[i], NULL, writer, &shared[i]);
        }
        /* Render while they write: every rendering is well-formed, +Inf always equals _count. */
        int renderings = 0;
        bool consistent = true;
        double last_all = 0;
        for (; renderings < 200; renderings++) {
                char *text = bl_metrics_render_string(registry, NULL);
                CHECK(text != NULL);
                if (!text)
                        break;
                double infinity = sample(text, "test_observed_bucket{le=\"+Inf\"}");
                double count = sample(text, "test_observed_count");
                double all_now = sample(text, "test_updates_total{writer=\"all\"}");
                consistent = consistent && infinity == count && all_now >= last_all;
                last_all = all_now;
                free(text);
        }
        for (int i = 0; i < WRITERS; i++)
                pthread_join(threads[i], NULL);
        CHECK(consistent);

        char *text = bl_metrics_render_string(registry, NULL);
        CHECK(sample(text, "test_updates_total{writer=\"all\"}") == WRITERS * UPDATES);
        for (int i = 0; i < WRITERS; i++) {
                char prefix[64];
                snprintf(prefix, sizeof(prefix), "test_updates_total{writer=\"w%d\"}", i);
                CHECK(sample(text, prefix) == UPDATES);
        }
        CHECK(sample(text, "test_balance") == 0);
        CHECK(sample(text, "test_observed_bucket{le=\"0.25\"}") == WRITERS * UPDATES / 4);
        CHECK(sample(text, "test_observed_bucket{le=\"1\"}") == WRITERS * UPDATES * 3 / 4);
        CHECK(sample(text, "test_observed_count") == WRITERS * UPDATES);
        CHECK(sample(text, "test_observed_sum") == WRITERS * (UPDATES / 4) * 3.0);
        free(text);
        bl_metrics_destroy(registry);
}

/* ---- the catalogue and the FILE form ------------------------------------ */

static bool ends_with(const char *text, const char *suffix) {
        size_t length = strlen(text), suffix_length = strlen(suffix);
        return length >= suffix_length && !strcmp(text + length - suffix_length, suffix);
}

static void test_catalogue(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metrics_backlogd_t metrics;
        char errstr[256] = "";
        CHECK_INT(bl_metrics_register_backlogd(registry, &metrics, errstr, sizeof(errstr)), BL_OK);
        bl_metric_t **slots = (bl_metric_t **)&metrics;
        CHECK_INT(sizeof(metrics) / sizeof(slots[0]), bl_metrics_catalogue_count);
        for (size_t i = 0; i < bl_metrics_catalogue_count; i++) {
                const bl_metric_desc_t *desc = &bl_metrics_catalogue[i].desc;
                CHECK(slots[i] != NULL);
                /* STYLE.md rule 13: backlogd_<module>_<thing>, counters end in _total. */
                CHECK(!strncmp(desc->name, "backlogd_", 9));
                CHECK(ends_with(desc->name, "_total") == (desc->type == BL_METRIC_COUNTER));
                CHECK(strlen(desc->help) > 10);
        }
        bl_metric_inc(bl_metrics_series(metrics.dlq_records, "contract.violation"), 2);
        bl_metric_set(bl_metrics_series(metrics.backlog_items, "READY", "evaluation"), 5);
        bl_metric_observe(bl_metrics_series(metrics.txn_commit_seconds), 0.02);
        bl_metric_set(bl_metrics_series(metrics.backpressure_throttled, "evaluation"), 1);
        bl_metric_set(bl_metrics_series(metrics.pipeline_aborts_in_row), 3);
        char *text = bl_metrics_render_string(registry, NULL);
        CHECK_CONTAINS(text, "# TYPE backlogd_backlog_items gauge\n"
                             "backlogd_backlog_items{state=\"READY\",domain=\"evaluation\"} 5\n");
        CHECK_CONTAINS(text, "backlogd_dlq_records_total{reason=\"contract.violation\"} 2\n");
        CHECK_CONTAINS(text, "# TYPE backlogd_scheduler_decision_seconds histogram\n");
        CHECK_CONTAINS(text, "backlogd_txn_commit_seconds_bucket{le=\"0.025\"} 1\n");
        CHECK_CONTAINS(text, "backlogd_txn_commit_seconds_count 1\n");
        CHECK_CONTAINS(text, "backlogd_txn_committed_total 0\n");
        CHECK_CONTAINS(text, "backlogd_backpressure_input_paused 0\n");
        CHECK_CONTAINS(text, "backlogd_backpressure_throttled{domain=\"evaluation\"} 1\n");
        /* The health gauges of /healthz (issue #12): no labels, so they render before their first update. */
        CHECK_CONTAINS(text, "# TYPE backlogd_pipeline_last_commit_age_seconds gauge\n"
                             "backlogd_pipeline_last_commit_age_seconds 0\n");
        CHECK_CONTAINS(text, "# TYPE backlogd_pipeline_stalled_seconds gauge\n");
        CHECK_CONTAINS(text, "backlogd_pipeline_aborts_in_row 3\n");

        /* bl_metrics_render() writes the same bytes to a FILE. */
        char *written = NULL;
        size_t written_size = 0;
        FILE *memory = open_memstream(&written, &written_size);
        CHECK_INT(bl_metrics_render(registry, memory), BL_OK);
        fclose(memory);
        CHECK_STR(written, text);
        free(written);
        free(text);

        /* The catalogue registers once per registry. */
        bl_metrics_backlogd_t again;
        CHECK_INT(bl_metrics_register_backlogd(registry, &again, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "backlogd_backlog_items is already registered");
        bl_metrics_destroy(registry);
}

static void test_empty_registry(void) {
        bl_metrics_t *registry = bl_metrics_new();
        check_render(registry, "");
        bl_metrics_destroy(registry);
        char *text = bl_metrics_render_string(NULL, NULL);
        CHECK_STR(text, "");
        free(text);
}

/* ---- reading a page back (ops/scrape.c) ------------------------------------------------ */

typedef struct samples_s {
        char labels[8][64];
        double values[8];
        int count;
} samples_t;

static void keep_sample(void *opaque, const char *label_value, double value) {
        samples_t *samples = opaque;
        if (samples->count < 8) {
                snprintf(samples->labels[samples->count], sizeof(samples->labels[0]), "%s", label_value);
                samples->values[samples->count++] = value;
        }
}

/* What the registry renders, read back by the scraper: the one metric asked for, by its label, escapes undone. */
static void test_scrape_reads_what_is_rendered(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metrics_backlogd_t m;
        char errstr[256];
        CHECK(registry && bl_metrics_register_backlogd(registry, &m, errstr, sizeof(errstr)) == BL_OK);
        bl_metric_set(bl_metrics_series(m.domain_breaker_state, "evaluation"), 1);
        bl_metric_set(bl_metrics_series(m.domain_breaker_state, "model_inference"), 0);
        bl_metric_set(bl_metrics_series(m.domain_breaker_state, "odd \"name\"\\x"), 2);
        bl_metric_set(bl_metrics_series(m.domain_breaker_opened, "evaluation"), 7);
        size_t length;
        char *page = bl_metrics_render_string(registry, &length);
        CHECK(page != NULL);
        samples_t samples = {.count = 0};
        if (page)
                bl_scrape_parse(page, length, "backlogd_domain_breaker_state", "domain", keep_sample, &samples);
        CHECK_INT(samples.count, 3);
        CHECK_STR(samples.labels[0], "evaluation");
        CHECK(samples.values[0] == 1);
        CHECK_STR(samples.labels[1], "model_inference");
        CHECK(samples.values[1] == 0);
        CHECK_STR(samples.labels[2], "odd \"name\"\\x");
        CHECK(samples.values[2] == 2);
        /* a metric without labels, another label, a name that only starts like the metric */
        const char text[] = "# HELP x_total a\nx_total 5\nx_total_more 9\nx{a=\"1\",b=\"two\"} 3.5\n";
        samples.count = 0;
        bl_scrape_parse(text, sizeof(text) - 1, "x_total", "domain", keep_sample, &samples);
        bl_scrape_parse(text, sizeof(text) - 1, "x", "b", keep_sample, &samples);
        CHECK_INT(samples.count, 2);
        CHECK_STR(samples.labels[0], "");
        CHECK(samples.values[0] == 5);
        CHECK_STR(samples.labels[1], "two");
        CHECK(samples.values[1] == 3.5);
        /* a page that cannot be fetched is an error, said */
        CHECK_INT(bl_scrape_metric("http://127.0.0.1:1/metrics", "x", "a", 2000, keep_sample, &samples, errstr,
                                   sizeof(errstr)),
                  BL_ERR_UNAVAILABLE);
        CHECK_CONTAINS(errstr, "http://127.0.0.1:1/metrics");
        free(page);
        bl_metrics_destroy(registry);
}

int main(void) {
        bl_log_set_level(BL_LOG_ERROR); /* the refusals tested are logged as warnings */
        RUN(test_counters_and_gauges);
        RUN(test_scrape_reads_what_is_rendered);
        RUN(test_escaping);
        RUN(test_histograms);
        RUN(test_numbers);
        RUN(test_series_handles);
        RUN(test_add_refuses);
        RUN(test_concurrent_updates);
        RUN(test_catalogue);
        RUN(test_empty_registry);
        return check_exit_status();
}
