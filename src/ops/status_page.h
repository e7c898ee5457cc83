/*
 * status_page.h: the status page at `/` (SPEC §15) as HTML with inline SVG
 * plots, drawn from plain data: a snapshot and the ring of samples
 * (status.h, status_ring.h). No scripts, no external assets: one document
 * that a browser without JavaScript, or curl, reads whole, and that asks to
 * be loaded again every few seconds (meta refresh).
 */
#ifndef BL_STATUS_PAGE_H
#define BL_STATUS_PAGE_H

#include <stddef.h>

#include "ops/status.h"
#include "ops/status_ring.h"

/**
 * The page for @p snapshot, with plots of @p ring (NULL: none yet) whose series are domain d's plot p at
 * d * BL_STATUS_PLOT__COUNT + p, over the BL_STATUS_WINDOW_MS before snapshot->taken_at_ms. Every text
 * from the snapshot is HTML-escaped. Returns a malloc'd NUL-terminated document and its length in
 * *length; NULL when out of memory.
 */
char *bl_status_page_render(const bl_status_snapshot_t *snapshot, const bl_status_ring_t *ring, int refresh_s,
                            size_t *length);

/** "3 s", "4 min 05 s", "2 h 07 min", "3 d 04 h" for @p ms (negative: "-") into @p out. */
const char *bl_status_page_duration(int64_t ms, char *out, size_t out_size);

/** The top of a plot's y axis for values up to @p max: 1, 2 or 5 times a power of ten, at least 1. */
double bl_status_page_axis_top(double max);

#endif
