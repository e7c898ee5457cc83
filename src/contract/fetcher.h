/*
 * fetcher.h: writer schemas fetched from the Schema Registry on a thread of
 * their own, so that the thread that asks never waits for the network.
 *
 * The pipeline thread asks for an id its cache lacks: the first ask queues
 * it and answers BL_ERR_PENDING at once; the worker thread fetches it with
 * its own registry handle; a later ask collects the answer. The pipeline
 * then pauses only the partition whose record needs that schema, and the
 * others flow (SPEC §6).
 */
#ifndef BL_FETCHER_H
#define BL_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/registry.h"
#include "base/err.h"

typedef struct bl_fetcher_s bl_fetcher_t;

/** What the fetcher has done so far; counters only grow. */
typedef struct bl_fetcher_stats_s {
        uint64_t fetched;   /* answered with a schema */
        uint64_t not_found; /* answered "no such id" */
        uint64_t failed;    /* no usable answer: unreachable, timeout, 5xx, refused */
} bl_fetcher_stats_t;

/**
 * A fetcher over @p registry, which it takes over (the caller NULLs its
 * pointer; the fetcher destroys it, also when it fails), and starts its
 * thread. NULL with errstr when the thread cannot start.
 */
bl_fetcher_t *bl_fetcher_new(bl_registry_t *registry, char *errstr, size_t errstr_size);

/**
 * Stops and joins the thread. A request in progress is cancelled: this
 * returns within about a second, however long registry.timeout_ms is and
 * whether or not the registry answers. NULL: no-op.
 */
void bl_fetcher_destroy(bl_fetcher_t *fetcher);

/**
 * The schema text of @p id, without waiting:
 *   BL_OK              *schema_json is the text (malloc'd, the caller's);
 *                      the fetcher forgets it: the caller caches it
 *   BL_ERR_PENDING     asked of the registry (queued by the first ask), no answer yet
 *   BL_ERR_NOT_FOUND   the registry has no such id (kept for a while: a burst
 *                      of records with the same unknown id costs one request)
 *   BL_ERR_UNAVAILABLE, BL_ERR_REFUSED, BL_ERR_NOMEM
 *                      the fetch failed, errstr says how; said once: the
 *                      next ask fetches again
 * Any thread; only a short lock, never the network.
 */
bl_err_t bl_fetcher_get(bl_fetcher_t *fetcher, int32_t id, char **schema_json, char *errstr, size_t errstr_size);

/**
 * Waits until the answer for @p id is in (or it was never asked), at most
 * @p timeout_ms. True when the answer is in: bl_fetcher_get then answers
 * something other than BL_ERR_PENDING. For callers that must wait anyway
 * (restore), so they wait on the same request as everyone else.
 */
bool bl_fetcher_wait(bl_fetcher_t *fetcher, int32_t id, int timeout_ms);

/** A copy of the counters. */
bl_fetcher_stats_t bl_fetcher_stats(bl_fetcher_t *fetcher);

#endif
