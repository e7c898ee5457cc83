/*
 * status_ring.c: a fixed ring of samples for the status page's plots.
 *
 * One array of capacity * (1 + series_count) doubles, the time first in
 * each row (milliseconds fit a double exactly up to 2^53). `next` is the row
 * the next push writes; `count` how many rows hold samples. Index 0 is the
 * oldest held: row (next - count + index) mod capacity. No allocation after
 * _new. Single-threaded: its owner locks.
 */
#include "ops/status_ring.h"

#include <stdlib.h>
#include <string.h>

struct bl_status_ring_s {
        size_t series_count;
        size_t capacity;
        size_t next;  /* the row the next sample goes to */
        size_t count; /* rows held, at most capacity */
        double *rows; /* capacity rows of (time, value...) */
};

bl_status_ring_t *bl_status_ring_new(size_t series_count, size_t capacity) {
        if (series_count == 0 || capacity == 0 || series_count > SIZE_MAX / sizeof(double) / capacity - 1)
                return NULL;
        bl_status_ring_t *ring = calloc(1, sizeof(*ring));
        if (!ring)
                return NULL;
        ring->series_count = series_count;
        ring->capacity = capacity;
        ring->rows = calloc(capacity * (series_count + 1), sizeof(double));
        if (!ring->rows) {
                bl_status_ring_destroy(ring);
                return NULL;
        }
        return ring;
}

void bl_status_ring_destroy(bl_status_ring_t *ring) {
        if (!ring)
                return;
        free(ring->rows);
        free(ring);
}

static double *row(const bl_status_ring_t *ring, size_t index) {
        size_t at = (ring->next + ring->capacity - ring->count + index) % ring->capacity;
        return ring->rows + at * (ring->series_count + 1);
}

void bl_status_ring_push(bl_status_ring_t *ring, int64_t at_ms, const double *values) {
        if (ring->count > 0 && at_ms < bl_status_ring_time(ring, ring->count - 1))
                return;
        double *slot = ring->rows + ring->next * (ring->series_count + 1);
        slot[0] = (double)at_ms;
        memcpy(slot + 1, values, ring->series_count * sizeof(double));
        ring->next = (ring->next + 1) % ring->capacity;
        if (ring->count < ring->capacity)
                ring->count++;
}

size_t bl_status_ring_count(const bl_status_ring_t *ring) {
        return ring->count;
}

size_t bl_status_ring_series_count(const bl_status_ring_t *ring) {
        return ring->series_count;
}

size_t bl_status_ring_capacity(const bl_status_ring_t *ring) {
        return ring->capacity;
}

int64_t bl_status_ring_time(const bl_status_ring_t *ring, size_t index) {
        return index < ring->count ? (int64_t)row(ring, index)[0] : -1;
}

double bl_status_ring_value(const bl_status_ring_t *ring, size_t index, size_t series) {
        if (index >= ring->count || series >= ring->series_count)
                return 0;
        return row(ring, index)[1 + series];
}

bl_status_ring_t *bl_status_ring_clone(const bl_status_ring_t *ring) {
        bl_status_ring_t *copy = bl_status_ring_new(ring->series_count, ring->capacity);
        if (!copy)
                return NULL;
        copy->next = ring->next;
        copy->count = ring->count;
        memcpy(copy->rows, ring->rows, ring->capacity * (ring->series_count + 1) * sizeof(double));
        return copy;
}

void bl_status_ring_clear(bl_status_ring_t *ring) {
        ring->next = 0;
        ring->count = 0;
}
