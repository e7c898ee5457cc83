/*
 * bench/frozen.c: what a task at rest costs held whole and held frozen (a
 * core/frozen.h stub in the backlog, its encoding in a store/spill.c file),
 * through the backlog's own freezing (bl_backlog_freeze_at_rest), as
 * `backlogd run` does with backlog.spill_enabled (issue 18 item 6). No broker.
 *
 * N tasks (default 1,000,000) are submitted to a backlog as the e2e bench's
 * events make them (a payload of B bytes, default 200; two labels; a
 * traceparent; a UUID-like task_id and event ids) and dispatched in waves
 * of 1,000: every one DISPATCHED, as in the 1M figure. Twice, in
 * one process: a backlog without a spill store (whole), then one with it,
 * frozen after every wave as the pipeline freezes after every batch.
 * Figures after malloc_trim: the VmRSS and heap growth over the empty
 * process with each backlog alive (index, timer heap and all), the spill
 * file's size, the rate of the second run's submissions and freezes, and
 * the thaw rate of N/10 tasks picked at random (bl_backlog_find, which
 * thaws, then a freeze of them again). Then one JSON line.
 *
 * Usage: bench_frozen [TASKS] [PAYLOAD_BYTES] [SPILL_DIR]. Main thread only.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_backlog.h"
#include "pipeline/spill_glue.h"
#include "bench_util.h"

#define T0 ((int64_t)1765100000000)

typedef struct point_s {
        size_t rss, heap;
} point_t;

static point_t measure(void) {
        malloc_trim(0);
        return (point_t){rss_bytes(), mallinfo2().uordblks};
}

static void task_id_of(unsigned long long i, char out[48]) {
        snprintf(out, 48, "%08llx-8d6a-4e57-9a41-%012llx", i * 2654435761ULL % 0xffffffffULL, i);
}

static bl_backlog_t *dispatched_tasks(unsigned long long tasks, unsigned long long payload_bytes,
                                     const bl_spill_ops_t *spill) {
        bl_backlog_options_t options = {.lease_ms = 300000, .retry_base_ms = 1000, .retry_cap_ms = 300000,
                                        .max_attempts = 3, .retention_ms = 604800000, .dedup_window = 32,
                                        .seed = 1, .spill = spill};
        bl_backlog_sink_t sink = bench_null_sink();
        bl_backlog_t *backlog = bl_backlog_new(&options, &sink);
        char *payload = calloc(1, payload_bytes + 1);
        const char *keys[] = {"team", "pipeline"}, *values[] = {"ml-platform", "nightly-eval"};
        bl_event_origin_t origin = {"tasks.events", 0, 0, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
        char task_id[48], event_id[48], detail[256];
        for (unsigned long long i = 0; backlog && payload && i < tasks; i++) {
                task_id_of(i, task_id);
                snprintf(event_id, sizeof(event_id), "e0c2a1f4-0b5e-4f0a-8a83-%012llx", i);
                bl_task_event_t event = {.task_id = task_id, .event_id = event_id, .event_type = BL_EVENT_SUBMITTED,
                                         .producer = "bench", .task_type = "infer", .domain = "model_inference",
                                         .sla_class = "standard", .business_value = 0.5, .risk = 0.1,
                                         .has_payload = true, .payload = payload, .payload_size = payload_bytes,
                                         .label_keys = keys, .label_values = values, .label_count = 2,
                                         .occurred_at_ms = T0};
                bl_backlog_apply_event(backlog, &event, (int32_t)(i % 6), &origin, T0, detail, sizeof(detail));
                if (i % 1000 == 999 || i + 1 == tasks) {
                        bl_backlog_dispatch(backlog, NULL, tasks, T0);
                        bl_backlog_freeze_at_rest(backlog);
                }
        }
        free(payload);
        return backlog;
}

/* Thaws @p count tasks picked at random (a find), freezing them again every 1,000; how many came back whole. */
static size_t thaw_some(bl_backlog_t *backlog, unsigned long long tasks, size_t count) {
        char task_id[48];
        size_t whole = 0;
        rng_t rng = {.state = 42};
        for (size_t i = 0; i < count; i++) {
                task_id_of(rng_below(&rng, tasks), task_id);
                const bl_item_t *item = bl_backlog_find(backlog, task_id);
                whole += item && !strcmp(item->task_id, task_id) && item->state == BL_STATE_DISPATCHED;
                if (i % 1000 == 999)
                        bl_backlog_freeze_at_rest(backlog);
        }
        bl_backlog_freeze_at_rest(backlog);
        return whole;
}

int main(int argc, char **argv) {
        unsigned long long tasks = 1000000, payload_bytes = 200;
        if ((argc > 1 && !parse_count(argv[1], 1, 100000000, &tasks)) ||
            (argc > 2 && !parse_count(argv[2], 0, 1048576, &payload_bytes)) || argc > 4) {
                fprintf(stderr, "usage: bench_frozen [TASKS (1000000)] [PAYLOAD_BYTES (200)] [SPILL_DIR]\n");
                return 2;
        }
        char errstr[256];
        bl_spill_t *store = NULL;
        if (bl_spill_new(argc > 3 ? argv[3] : NULL, &store, errstr, sizeof(errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        bl_spill_ops_t spill = bl_spill_ops_over(store);
        point_t empty = measure();
        bl_backlog_t *backlog = dispatched_tasks(tasks, payload_bytes, NULL);
        if (!backlog)
                return 1;
        point_t whole = measure();
        bl_backlog_destroy(backlog);
        point_t emptied = measure();
        double started = now_s();
        backlog = dispatched_tasks(tasks, payload_bytes, &spill);
        if (!backlog)
                return 1;
        bl_spill_flush(store, errstr, sizeof(errstr));
        double freeze_s = now_s() - started;
        point_t frozen = measure();
        bl_backlog_spill_stats_t backlog_stats;
        bl_backlog_spill_stats(backlog, &backlog_stats);
        size_t thaws = tasks / 10 ? (size_t)(tasks / 10) : (size_t)tasks;
        started = now_s();
        size_t thawed = thaw_some(backlog, tasks, thaws);
        double thaw_s = now_s() - started;
        bl_spill_stats_t stats;
        bl_spill_stats(store, &stats);
        size_t frozen_count = backlog_stats.frozen;
        bl_backlog_destroy(backlog);

        double n = (double)tasks;
        printf("%llu DISPATCHED tasks, payload %llu bytes, 2 labels, a traceparent, UUID ids\n", tasks, payload_bytes);
        printf("whole   rss +%8.1f MiB %6.0f B/task   heap +%8.1f MiB %6.0f B/task\n",
               (double)(whole.rss - empty.rss) / 1048576.0, (double)(whole.rss - empty.rss) / n,
               (double)(whole.heap - empty.heap) / 1048576.0, (double)(whole.heap - empty.heap) / n);
        printf("frozen  rss +%8.1f MiB %6.0f B/task   heap +%8.1f MiB %6.0f B/task   spill file %.1f MiB %.0f B/task\n",
               (double)(frozen.rss - emptied.rss) / 1048576.0, (double)(frozen.rss - emptied.rss) / n,
               (double)(frozen.heap - emptied.heap) / 1048576.0, (double)(frozen.heap - emptied.heap) / n,
               (double)stats.file_bytes / 1048576.0, (double)stats.file_bytes / n);
        printf("submitted, dispatched and frozen %.0f tasks/s; thaw (a find, random, page cache warm) %.0f tasks/s, "
               "%zu of %zu whole\n",
               (double)tasks / freeze_s, (double)thaws / thaw_s, thawed, thaws);
        printf("{\"tasks\":%llu,\"payload_bytes\":%llu,\"whole_rss_bytes\":%zu,\"frozen_rss_bytes\":%zu,"
               "\"whole_heap_bytes\":%zu,\"frozen_heap_bytes\":%zu,\"spill_file_bytes\":%" PRIu64
               ",\"submit_dispatch_freeze_per_s\":%.0f,\"thaw_per_s\":%.0f,\"freeze_failed\":%zu}\n",
               tasks, payload_bytes, whole.rss - empty.rss, frozen.rss - emptied.rss, whole.heap - empty.heap,
               frozen.heap - emptied.heap, stats.file_bytes, (double)tasks / freeze_s, (double)thaws / thaw_s,
               (size_t)backlog_stats.freeze_failures_total);
        bl_spill_destroy(store);
        bool ok = frozen_count == tasks && thawed == thaws;
        if (!ok)
                fprintf(stderr, "frozen %zu of %llu tasks, %zu of %zu thawed whole\n", frozen_count, tasks, thawed,
                        thaws);
        return ok ? 0 : 1;
}
