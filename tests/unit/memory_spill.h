/*
 * memory_spill.h: a spill store in memory behind bl_spill_ops_t (core/frozen.h),
 * whose appends and reads can be made to fail, for the tests of frozen tasks
 * and of the backlog that freezes them.
 */
#ifndef BL_TEST_MEMORY_SPILL_H
#define BL_TEST_MEMORY_SPILL_H

#include "core/frozen.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A spill store in memory: bytes appended end to end, released ones counted. */
typedef struct memory_store_s {
        unsigned char *bytes;
        size_t size, capacity;
        size_t live_bytes;
        bool refuse_appends;
        bool fail_reads;
        const unsigned char *old_bytes; /* a compaction's source, while it copies */
} memory_store_t;

static bl_err_t memory_append(void *opaque, const void *bytes, size_t len, uint64_t *offset, char *errstr,
                              size_t errstr_size) {
        memory_store_t *store = opaque;
        if (store->refuse_appends)
                return bl_err_set(errstr, errstr_size, BL_ERR_IO, "memory store: refused");
        if (store->size + len > store->capacity) {
                store->capacity = (store->size + len) * 2;
                store->bytes = realloc(store->bytes, store->capacity);
        }
        memcpy(store->bytes + store->size, bytes, len);
        *offset = store->size;
        store->size += len;
        store->live_bytes += len;
        return BL_OK;
}

static bl_err_t memory_read(void *opaque, uint64_t offset, uint32_t len, void *out, char *errstr,
                            size_t errstr_size) {
        memory_store_t *store = opaque;
        if (store->fail_reads || offset + len > store->size)
                return bl_err_set(errstr, errstr_size, BL_ERR_IO, "memory store: cannot read");
        memcpy(out, store->bytes + offset, len);
        return BL_OK;
}

static void memory_release(void *opaque, uint64_t offset, uint32_t len) {
        memory_store_t *store = opaque;
        (void)offset;
        store->live_bytes -= len;
}

static inline bl_spill_ops_t memory_spill_ops(memory_store_t *store) {
        return (bl_spill_ops_t){store, memory_append, memory_read, memory_release};
}

#endif
