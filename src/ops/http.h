/*
 * http.h: the read-only HTTP endpoint of `backlogd run` (SPEC §8, §12):
 *
 *   GET /metrics  200, the metrics registry in the Prometheus text format 0.0.4
 *   GET /healthz  200 "ok" while the run loop turns: the pipeline calls
 *                 bl_http_heartbeat() every turn, and once the last heartbeat
 *                 is older than healthz_stale_ms the answer is 503 (liveness)
 *   GET /readyz   200 "ok" once the pipeline said bl_http_set_ready(true);
 *                 503 with its reason before (readiness), e.g. "restoring 3 partitions"
 *   other paths   404; any other method 405 (with Allow: GET)
 *
 * Nothing else is served: no configuration, no secrets. libmicrohttpd
 * answers on a thread of its own; every function here may be called from
 * any thread.
 */
#ifndef BL_HTTP_H
#define BL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/config.h"
#include "ops/metrics.h"

typedef struct bl_http_s bl_http_t;

typedef struct bl_http_options_s {
        const char *address;      /* numeric IPv4 or IPv6 address to listen on, e.g. "0.0.0.0", "::1" */
        int port;                 /* TCP port; 0 takes a free one (bl_http_port() tells which) */
        int64_t healthz_stale_ms; /* /healthz answers 503 when the last heartbeat is older than this */
} bl_http_options_t;

/**
 * The options from the config's http.* keys. Returns false when http.port is
 * 0: the endpoint is turned off and nothing is to be started. The address
 * is borrowed from @p config.
 */
bool bl_http_options_from_config(const bl_config_t *config, bl_http_options_t *options);

/**
 * Listens on options->address:port and serves from a thread of libmicrohttpd.
 * /healthz is healthy from now until healthz_stale_ms passes without a
 * heartbeat; /readyz is 503 "starting" until bl_http_set_ready(). @p registry
 * is borrowed: it must outlive the server (stop the server first).
 * Returns NULL with errstr filled when the address is not numeric, the
 * address and port cannot be bound ("cannot listen on 0.0.0.0:9464: Address
 * already in use") or the server does not start.
 */
bl_http_t *bl_http_start(const bl_http_options_t *options, bl_metrics_t *registry, char *errstr,
                         size_t errstr_size);

/** Stops serving (waits for requests in flight) and frees @p http. NULL: no-op. */
void bl_http_stop(bl_http_t *http);

/** The port listened on: options->port, or the one picked for port 0. */
int bl_http_port(const bl_http_t *http);

/**
 * The pipeline is alive: call once per turn of the run loop (and during long
 * work such as a restore). One atomic store; NULL: no-op.
 */
void bl_http_heartbeat(bl_http_t *http);

/**
 * Sets what /readyz answers: 200 when @p ready, else 503 with @p reason (copied,
 * cut at 200 bytes; NULL or "" reads "not ready"). Write only what may be
 * shown to anyone who can reach the port. NULL @p http: no-op.
 */
void bl_http_set_ready(bl_http_t *http, bool ready, const char *reason);

#endif
