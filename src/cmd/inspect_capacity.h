/*
 * inspect_capacity.h: the capacity part of `backlogd inspect` (SPEC §14):
 * each domain's capacity estimate (core/capacity.h) rebuilt from the
 * committed backlog.transitions, as `run` builds it from the same changes,
 * with the in-flight and READY counts of backlog.state, and the predicted
 * start of READY tasks by rank.
 */
#ifndef BL_CMD_INSPECT_CAPACITY_H
#define BL_CMD_INSPECT_CAPACITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmd/scan.h"

typedef struct bl_inspect_capacity_s bl_inspect_capacity_t;

/** An estimator with the config's capacity.window_ms and capacity.min_samples; NULL when out of memory. */
bl_inspect_capacity_t *bl_inspect_capacity_new(const bl_config_t *config);
void bl_inspect_capacity_destroy(bl_inspect_capacity_t *capacity);

/**
 * Reads backlog.transitions to its committed end through @p scan and learns
 * from every change into or out of DISPATCHED and RUNNING. False, with the
 * reason on stderr, when the topic cannot be read or memory runs out; a
 * transition that cannot be decoded is skipped and counted.
 */
bool bl_inspect_capacity_read(bl_inspect_capacity_t *capacity, bl_cmd_scan_t *scan);

/** @p domain has @p in_flight tasks DISPATCHED or RUNNING and @p ready READY at @p now_ms (from backlog.state). */
void bl_inspect_capacity_load(bl_inspect_capacity_t *capacity, const char *domain, int64_t in_flight, int64_t ready,
                              int64_t now_ms);

/** The text section: one line per domain of @p domains (@p count, in that order), as of @p now_ms. */
void bl_inspect_capacity_print(const bl_inspect_capacity_t *capacity, char *const *domains, const size_t *order,
                               size_t count, int64_t now_ms);

/** The same as a JSON object by domain; NULL when out of memory. */
json_t *bl_inspect_capacity_json(const bl_inspect_capacity_t *capacity, char *const *domains, const size_t *order,
                                 size_t count, int64_t now_ms);

#endif
