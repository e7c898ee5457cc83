/*
 * bench_backlog.h: what the benches that drive a backlog without a broker
 * share: a sink that drops everything the backlog emits. The spill
 * operations over a store of their own are bl_spill_ops_over's
 * (pipeline/spill_glue.h), as backlogd run's.
 */
#ifndef BENCH_BACKLOG_H
#define BENCH_BACKLOG_H

#include "core/backlog.h"

static void bench_drop_change(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        (void)opaque, (void)transition, (void)item;
}
static void bench_drop_dispatch(void *opaque, const bl_dispatch_t *dispatch) {
        (void)opaque, (void)dispatch;
}
static void bench_drop_notice(void *opaque, const bl_notice_t *notice) {
        (void)opaque, (void)notice;
}
static void bench_drop_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        (void)opaque, (void)item, (void)reason, (void)detail;
}
static void bench_drop_purge(void *opaque, const char *task_id, int32_t partition) {
        (void)opaque, (void)task_id, (void)partition;
}

/* A sink that drops every record, notice and letter. */
static inline bl_backlog_sink_t bench_null_sink(void) {
        return (bl_backlog_sink_t){bench_drop_change, bench_drop_dispatch, bench_drop_notice, bench_drop_letter,
                                   bench_drop_purge, NULL};
}

#endif
