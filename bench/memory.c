/*
 * bench/memory.c: the memory an instance holds for the tasks it keeps,
 * and what the terminal tasks held for de-duplication cost (issue #12
 * item 12). No broker: the backlog alone, with a sink that drops what it
 * is handed, driven as the pipeline drives it.
 *
 * N tasks (default 200,000) are submitted as a producer would send them:
 * a payload of B bytes (default 256), two labels, a traceparent, an event
 * id per event. They flow through in waves of WAVE, as a steady stream
 * does: each wave is submitted, dispatched, STARTED and COMPLETED before
 * the next comes, so that what a terminal task lets go of is reused by the
 * next wave. Figures are taken after malloc_trim, empty and once every task
 * is COMPLETED (held for de-duplication until its retention ends): the
 * VmRSS growth over the empty backlog, the bytes in use in the main malloc
 * arena (mallinfo2), and the backlog's own count (bl_backlog_memory_bytes, what backlog.max_memory_bytes
 * bounds), in MiB and per task, so that the count can be checked against
 * what the allocator says. Then one JSON line.
 *
 * Measured, not asserted: it fails only when the backlog does not hold N
 * tasks. Main thread only.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_backlog.h"
#include "bench_util.h"

#define T0 ((int64_t)1700000000000)
#define WAVE 1000 /* tasks in flight at once, as a steady stream keeps them */

typedef struct point_s {
        const char *name;
        size_t rss, heap, counted;
} point_t;

static point_t measure(const char *name, const bl_backlog_t *backlog) {
        malloc_trim(0);
        point_t point = {name, rss_bytes(), mallinfo2().uordblks, backlog ? bl_backlog_memory_bytes(backlog) : 0};
        return point;
}

static void print_point(const point_t *point, const point_t *empty, unsigned long long tasks) {
        double rss = (double)point->rss - (double)empty->rss, heap = (double)point->heap - (double)empty->heap;
        printf("%-10s  rss +%8.1f MiB %7.0f B/task   heap +%8.1f MiB %7.0f B/task   counted %8.1f MiB %7.0f B/task\n",
               point->name, rss / 1048576.0, rss / (double)tasks, heap / 1048576.0, heap / (double)tasks,
               (double)point->counted / 1048576.0, (double)point->counted / (double)tasks);
}

static bl_apply_result_t apply(bl_backlog_t *backlog, bl_task_event_t *event, const char *kind, unsigned long long i,
                               const bl_event_origin_t *origin, int64_t now_ms) {
        char event_id[64], detail[256];
        snprintf(event_id, sizeof(event_id), "%s-%08llu-5f0c6a2e-9d1b-4c3a", kind, i);
        event->event_id = event_id;
        event->occurred_at_ms = now_ms;
        return bl_backlog_apply_event(backlog, event, (int32_t)(i % 6), origin, now_ms, detail, sizeof(detail));
}

int main(int argc, char **argv) {
        unsigned long long tasks = 200000, payload_bytes = 256;
        if ((argc > 1 && !parse_count(argv[1], 1, 100000000, &tasks)) ||
            (argc > 2 && !parse_count(argv[2], 0, 1048576, &payload_bytes)) || argc > 3) {
                fprintf(stderr, "usage: bench_memory [TASKS (200000)] [PAYLOAD_BYTES (256)]\n");
                return 2;
        }
        bl_backlog_options_t options = {.lease_ms = 300000, .retry_base_ms = 1000, .retry_cap_ms = 300000,
                                        .max_attempts = 3, .retention_ms = 604800000, .dedup_window = 32,
                                        .seed = 1};
        bl_backlog_sink_t sink = bench_null_sink();
        char *payload = malloc(payload_bytes + 1);
        if (!payload)
                return 1;
        memset(payload, 'p', payload_bytes);
        point_t empty = measure("empty", NULL);
        bl_backlog_t *backlog = bl_backlog_new(&options, &sink);
        if (!backlog)
                return 1;
        const char *keys[] = {"team", "pipeline"}, *values[] = {"ml-platform", "nightly-eval"};
        bl_event_origin_t origin = {"tasks.events", 0, 0, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
        int64_t now = T0;
        char task_id[64];
        for (unsigned long long first = 0; first < tasks; first += WAVE) {
                unsigned long long end = first + WAVE < tasks ? first + WAVE : tasks;
                for (unsigned long long i = first; i < end; i++) {
                        snprintf(task_id, sizeof(task_id), "task-%08llu-7d3e", i);
                        bl_task_event_t event = {.task_id = task_id, .event_type = BL_EVENT_SUBMITTED,
                                                 .producer = "bench", .task_type = "infer",
                                                 .domain = "model_inference", .sla_class = "standard",
                                                 .business_value = 0.5, .risk = 0.1, .has_payload = true,
                                                 .payload = payload, .payload_size = payload_bytes,
                                                 .label_keys = keys, .label_values = values, .label_count = 2};
                        apply(backlog, &event, "submit", i, &origin, now);
                }
                bl_backlog_dispatch(backlog, NULL, tasks, now);
                for (unsigned long long i = first; i < end; i++) {
                        snprintf(task_id, sizeof(task_id), "task-%08llu-7d3e", i);
                        bl_task_event_t started = {.task_id = task_id, .event_type = BL_EVENT_STARTED,
                                                   .producer = "worker", .has_attempt = true, .attempt = 1};
                        apply(backlog, &started, "start", i, &origin, now);
                }
                for (unsigned long long i = first; i < end; i++) {
                        snprintf(task_id, sizeof(task_id), "task-%08llu-7d3e", i);
                        bl_task_event_t completed = {.task_id = task_id, .event_type = BL_EVENT_COMPLETED,
                                                     .producer = "worker", .has_attempt = true, .attempt = 1};
                        apply(backlog, &completed, "done", i, &origin, now);
                }
                now += 10;
        }
        point_t completed = measure("completed", backlog);
        size_t held = bl_backlog_size(backlog);
        printf("%llu tasks through in waves of %d, payload %llu bytes, 2 labels, traceparent, 3 event ids each\n",
               tasks, WAVE, payload_bytes);
        print_point(&completed, &empty, tasks);
        printf("{\"tasks\":%llu,\"payload_bytes\":%llu,\"completed_rss_bytes\":%zu,\"completed_heap_bytes\":%zu,"
               "\"completed_counted_bytes\":%zu}\n",
               tasks, payload_bytes, completed.rss - empty.rss, completed.heap - empty.heap, completed.counted);
        bl_backlog_destroy(backlog);
        free(payload);
        if (held != tasks) {
                fprintf(stderr, "the backlog holds %zu tasks, not %llu\n", held, tasks);
                return 1;
        }
        return 0;
}
