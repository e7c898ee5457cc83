/*
 * restore.c: read the partitions an instance is assigned back from
 * backlog.state before it processes their input (SPEC §3, §6).
 *
 * backlog.state is compacted and keyed by task_id, and every snapshot of
 * partition p of the inputs was written to partition p of it, so restoring
 * p is reading that one partition to its read_committed end: the latest
 * snapshot of each task wins, a tombstone removes it. Restore emits nothing:
 * the backlog takes the items back as they were committed. A snapshot whose
 * schema is being fetched waits for the fetch (contract/fetcher.c); one that
 * cannot be read now (its schema's registry does not answer) makes the whole
 * restore wait and start again: a partition is never half restored. With a
 * spill store, each snapshot is read in place where it can be
 * (bl_records_decode_item_view), so that a task at rest goes to the store
 * as a stub without ever being made whole; without one, each is made
 * whole. Time spent and items read are logged. Pipeline thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "pipeline/pipeline_int.h"

#define SCHEMA_WAIT_SLICE_MS 1000 /* how often a wait for a schema looks at the stop flag */

typedef struct restore_ctx_s {
        bl_pipeline_t *p;
        uint64_t items, tombstones, unreadable;
        bool transient;              /* a snapshot could not be read now: restore again later */
        char why[BL_RECORD_DETAIL_MAX];
        bl_records_item_view_t view; /* each snapshot read in place, for the backlog to copy what it keeps */
} restore_ctx_t;

/*
 * A snapshot whose schema is being fetched is waited for here, on the
 * fetcher the ingest path asks too: restore holds the pipeline by design, and
 * the fetch is bounded by registry.timeout_ms. What the fetch fails with is
 * a plain transient error, and the whole restore starts again after a back-off.
 */
static bl_item_t *decode_snapshot(restore_ctx_t *ctx, const rd_kafka_message_t *message, bool *borrowed,
                                  bl_record_error_t *error) {
        bl_schemas_t *schemas = ctx->p->contracts.schemas;
        bl_item_t *item;
        *borrowed = false;
        while (!(item = ctx->p->spill ? bl_records_decode_item_view(schemas, message->payload, message->len,
                                                                    message->partition, &ctx->view, borrowed, error)
                                      : bl_records_decode_item(schemas, message->payload, message->len,
                                                               message->partition, error)) &&
               error->pending && !*ctx->p->stop) {
                bl_schemas_wait(ctx->p->contracts.schemas, error->schema_id, SCHEMA_WAIT_SLICE_MS);
                bl_http_heartbeat(ctx->p->observe.http); /* waiting on a bounded fetch is not hanging */
        }
        return item;
}

/*
 * Hands the backlog the snapshot just read: a view of a task at rest as a stub, never whole; anything else
 * whole (@p item itself, or the view's item made whole). False when out of memory.
 */
static bool take_over(restore_ctx_t *ctx, bl_item_t *item, bool borrowed) {
        if (borrowed && bl_backlog_restore_view(ctx->p->backlog, item))
                return true;
        if (borrowed && !(item = bl_records_item_view_whole(&ctx->view)))
                return false;
        bl_backlog_restore(ctx->p->backlog, item);
        return true;
}

static bool restore_record(const rd_kafka_message_t *message, void *opaque) {
        restore_ctx_t *ctx = opaque;
        bl_record_error_t error;
        char task_id[BL_ID_MAX_BYTES + 1];
        if (!message->key)
                return true;
        if (!message->payload && message->key_len > BL_ID_MAX_BYTES) /* no task has so long an id */
                return true;
        if (!message->payload) { /* a tombstone: the task was purged */
                snprintf(task_id, sizeof(task_id), "%.*s", (int)message->key_len, (const char *)message->key);
                bl_backlog_forget(ctx->p->backlog, task_id);
                ctx->tombstones++;
                return true;
        }
        bool borrowed;
        bl_item_t *item = decode_snapshot(ctx, message, &borrowed, &error);
        if (!item && error.transient) {
                snprintf(ctx->why, sizeof(ctx->why), "%s", error.detail);
                ctx->transient = true;
                return false; /* never skip a snapshot for a passing fault */
        }
        if (!item) {
                ctx->unreadable++;
                bl_log_error("restore", "%s [%d] offset %" PRId64 ": %s: %s", ctx->p->topic_state,
                             (int)message->partition, message->offset, bl_reason_name(error.reason), error.detail);
                return true;
        }
        if (!take_over(ctx, item, borrowed)) {
                snprintf(ctx->why, sizeof(ctx->why), "out of memory taking task snapshots over");
                ctx->transient = true;
                return false; /* restored again from the start, as for a passing fault */
        }
        if (++ctx->items % 10000 == 0)
                bl_http_heartbeat(ctx->p->observe.http); /* a long restore is alive, not hung */
        return true;
}

bl_err_t bl_restore_partitions(bl_pipeline_t *p, const int32_t *partitions, size_t count, char *errstr,
                               size_t errstr_size) {
        restore_ctx_t ctx = {.p = p};
        int64_t started = bl_clock_monotonic_ms();
        bl_err_t err;
        for (size_t i = 0; i < count; i++)
                bl_backlog_drop_partition(p->backlog, partitions[i]);
        err = bl_reader_scan(p->reader, p->topic_state, partitions, count, restore_record, &ctx,
                             (int)p->config->admin_timeout_ms, errstr, errstr_size);
        bl_records_item_view_free(&ctx.view);
        if (!err && ctx.transient)
                err = bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s", ctx.why);
        if (err)
                return err;
        bl_backlog_restore_finish(p->backlog, bl_clock_wall_ms());
        p->stats.restored_items += ctx.items;
        bl_metric_set(p->observe.restore_seconds, (double)(bl_clock_monotonic_ms() - started) / 1000.0);
        bl_metric_inc(p->observe.restore_items, (double)ctx.items);
        bl_log_info("restore", "%s, %zu partitions: %" PRIu64 " snapshots, %" PRIu64 " tombstones, %" PRIu64
                               " unreadable in %" PRId64 " ms",
                    p->topic_state, count, ctx.items, ctx.tombstones, ctx.unreadable,
                    bl_clock_monotonic_ms() - started);
        return BL_OK;
}

/* The distinct partition numbers of the inputs now assigned. */
static size_t assigned_partitions(const bl_pipeline_t *p, int32_t *out, size_t max) {
        size_t count = 0;
        for (size_t i = 0; i < p->partition_count; i++) {
                bool seen = false;
                for (size_t j = 0; j < count && !seen; j++)
                        seen = out[j] == p->partitions[i].partition;
                if (!seen && count < max)
                        out[count++] = p->partitions[i].partition;
        }
        return count;
}

bool bl_restore_assigned(bl_pipeline_t *p) {
        int32_t partitions[4096];
        char errstr[512];
        int64_t backoff_ms = p->config->ingest_retry_backoff_ms;
        size_t count = assigned_partitions(p, partitions, sizeof(partitions) / sizeof(partitions[0]));
        bl_err_t err = BL_OK;
        p->ready = false;
        while (count > 0 && (err = bl_restore_partitions(p, partitions, count, errstr, sizeof(errstr))) != BL_OK) {
                if (err != BL_ERR_UNAVAILABLE && err != BL_ERR_TIMEOUT) {
                        bl_log_error("restore", "%s", errstr);
                        return false;
                }
                if (*p->stop)
                        return false;
                bl_log_warn("restore", "%s; restoring again in %" PRId64 " ms", errstr, backoff_ms);
                usleep((useconds_t)backoff_ms * 1000);
                backoff_ms = backoff_ms * 2 > p->config->ingest_retry_backoff_max_ms
                                     ? p->config->ingest_retry_backoff_max_ms
                                     : backoff_ms * 2;
        }
        p->ready = true;
        return true;
}
