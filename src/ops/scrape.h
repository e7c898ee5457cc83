/*
 * scrape.h: reads one metric of a running instance's /metrics page (the
 * Prometheus text format that ops/metrics.h renders), for a command that
 * needs what only the running instances know: `backlogd tasks list
 * --waiting-for breaker` asks them for backlogd_domain_breaker_state.
 */
#ifndef BL_OPS_SCRAPE_H
#define BL_OPS_SCRAPE_H

#include <stddef.h>

#include "base/err.h"

/** One sample: the value of the label asked for ("" when the sample lacks it), and the sample's value. */
typedef void(bl_scrape_sample_fn)(void *opaque, const char *label_value, double value);

/**
 * Fetches @p url (http or https, at most 16 MiB, within @p timeout_ms) and calls @p fn for each sample
 * of @p metric on it, with the value of its label @p label. BL_ERR_UNAVAILABLE with errstr when the page
 * cannot be fetched or answers other than 200; BL_ERR_NOMEM.
 */
bl_err_t bl_scrape_metric(const char *url, const char *metric, const char *label, long timeout_ms,
                          bl_scrape_sample_fn *fn, void *opaque, char *errstr, size_t errstr_size);

/** The samples of @p metric in the page @p text of @p size bytes (no fetch): the parser of bl_scrape_metric. */
void bl_scrape_parse(const char *text, size_t size, const char *metric, const char *label, bl_scrape_sample_fn *fn,
                     void *opaque);

#endif
