/*
 * status_ring.h: the last minutes of a few numbers, for the plots of the
 * status page (SPEC §15). A ring of samples, each a time and one value per
 * series, of a fixed capacity: the newest sample pushes out the oldest, so
 * memory is series_count * capacity doubles whatever the uptime.
 *
 * Pure data: no clock, no lock. The status board (status.h) owns one and
 * guards it with its mutex.
 */
#ifndef BL_STATUS_RING_H
#define BL_STATUS_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct bl_status_ring_s bl_status_ring_t;

/** A ring of @p capacity samples of @p series_count values each (both at least 1). NULL: out of memory or 0. */
bl_status_ring_t *bl_status_ring_new(size_t series_count, size_t capacity);
void bl_status_ring_destroy(bl_status_ring_t *ring);

/**
 * Appends a sample taken at @p at_ms with @p values (series_count of them, copied). A sample older
 * than the newest one held is dropped (the wall clock went back): times only grow.
 */
void bl_status_ring_push(bl_status_ring_t *ring, int64_t at_ms, const double *values);

/** Samples held: at most the capacity. */
size_t bl_status_ring_count(const bl_status_ring_t *ring);
size_t bl_status_ring_series_count(const bl_status_ring_t *ring);
size_t bl_status_ring_capacity(const bl_status_ring_t *ring);

/** The time of sample @p index, 0 the oldest held; -1 past the end. */
int64_t bl_status_ring_time(const bl_status_ring_t *ring, size_t index);

/** Value @p series of sample @p index, 0 the oldest held; 0 past the end. */
double bl_status_ring_value(const bl_status_ring_t *ring, size_t index, size_t series);

/** A copy of @p ring, samples and all (for a reader that must not hold its owner's lock). NULL: out of memory. */
bl_status_ring_t *bl_status_ring_clone(const bl_status_ring_t *ring);

/** Forgets every sample (the series changed meaning). */
void bl_status_ring_clear(bl_status_ring_t *ring);

#endif
