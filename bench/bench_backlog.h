/*
 * bench_backlog.h: what the benches that drive a backlog without a broker
 * share: a sink that drops everything the backlog emits, and the backlog's
 * spill operations over a store of src/store/spill.h, filled as
 * src/pipeline/spill_glue.c fills them.
 */
#ifndef BENCH_BACKLOG_H
#define BENCH_BACKLOG_H

#include "core/backlog.h"
#include "core/frozen.h"
#include "store/spill.h"

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

static bl_err_t bench_spill_append(void *opaque, const void *bytes, size_t len, uint64_t *offset, char *errstr,
                                   size_t errstr_size) {
        bl_spill_ref_t ref;
        bl_err_t err = bl_spill_append(opaque, bytes, len, &ref, errstr, errstr_size);
        *offset = ref.offset;
        return err;
}
static bl_err_t bench_spill_read(void *opaque, uint64_t offset, uint32_t len, void *out, char *errstr,
                                 size_t errstr_size) {
        return bl_spill_read(opaque, (bl_spill_ref_t){offset, len}, out, errstr, errstr_size);
}
static void bench_spill_release(void *opaque, uint64_t offset, uint32_t len) {
        bl_spill_release(opaque, (bl_spill_ref_t){offset, len});
}

/* The backlog's spill operations over @p store (NULL: to be set later). */
static inline bl_spill_ops_t bench_spill_ops(bl_spill_t *store) {
        return (bl_spill_ops_t){store, bench_spill_append, bench_spill_read, bench_spill_release};
}

#endif
