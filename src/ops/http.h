/*
 * http.h: the read-only HTTP endpoint of `backlogd run` (SPEC §8, §12):
 *
 *   GET /metrics  200, the metrics registry in the Prometheus text format 0.0.4
 *   GET /healthz  200 "ok" while the pipeline makes progress (liveness); 503
 *                 with one line saying why when
 *                   - the last bl_http_heartbeat() (every turn of the run
 *                     loop) is older than healthz_stale_ms: the loop is stuck;
 *                   - max_aborts_in_row batches aborted since the last commit;
 *                   - work has waited (bl_http_set_health) longer than
 *                     max_commit_age_ms without a transaction committed.
 *                 An idle instance, with nothing to commit, stays healthy, and
 *                 so does one whose work waits for an output the broker
 *                 refuses (waiting_on): 200 "ok, waiting: <why>", since a
 *                 restart would not make the topic writable.
 *   GET /readyz   200 "ok" once the pipeline said bl_http_set_ready(true);
 *                 503 with its reason before (readiness), e.g. "restoring 3 partitions"
 *   GET /         the status page (SPEC §15, ops/status.h): HTML with inline SVG
 *                 plots, no scripts and no external assets (a Content-Security-
 *                 Policy forbids both), reloading itself every 5 s; 404 until
 *                 bl_http_set_status_board() gave it a board
 *   HEAD          the same status and headers as GET, without the body
 *   other paths   404; any other method 405 (with Allow: GET, HEAD)
 *
 * A slow client cannot hold the port: each connection lives at most
 * connection_max_ms in all (then it is shut down, whatever it is doing),
 * one address holds at most max_connections_per_address of the
 * max_connections, and the warnings all this causes are logged at most once
 * per 10 s with the count of those left out.
 *
 * Nothing else is served: no configuration, no secrets (the status page shows
 * counts, domain names, the policy's name and the ids of tasks awaiting approval). libmicrohttpd
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
#include "ops/status.h"

typedef struct bl_http_s bl_http_t;

/* Limits of the options left 0 (bl_http_start() applies them). */
#define BL_HTTP_DEFAULT_CONNECTION_MAX_MS 5000
#define BL_HTTP_DEFAULT_MAX_CONNECTIONS 64
#define BL_HTTP_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS 8
#define BL_HTTP_DEFAULT_MAX_COMMIT_AGE_MS 60000
#define BL_HTTP_DEFAULT_MAX_ABORTS_IN_ROW 20

typedef struct bl_http_options_s {
        const char *address;      /* numeric IPv4 or IPv6 address to listen on, e.g. "0.0.0.0", "::1" */
        int port;                 /* TCP port; 0 takes a free one (bl_http_port() tells which) */
        int64_t healthz_stale_ms; /* /healthz answers 503 when the last heartbeat is older than this */
        /* Each of the following: 0 takes the BL_HTTP_DEFAULT_ above. */
        int64_t connection_max_ms;            /* a connection is shut down after this long in all */
        unsigned int max_connections;         /* open at once; more wait in the listen queue */
        unsigned int max_connections_per_address; /* open at once from one client address; more are refused */
        int64_t max_commit_age_ms;  /* /healthz 503 when work has waited this long without a commit */
        uint64_t max_aborts_in_row; /* /healthz 503 after this many batches aborted since the last commit */
} bl_http_options_t;

/**
 * The pipeline's progress as /healthz judges it. Times are CLOCK_MONOTONIC
 * milliseconds.
 */
typedef struct bl_http_health_s {
        int64_t last_commit_ms;   /* the last transaction committed (the start, before the first) */
        bool work_pending;        /* input consumed or paused for retry, a batch open or committing, a
                                   * timer due, or a batch aborted: something waits for a commit */
        int64_t work_since_ms;    /* when work_pending last turned true */
        uint64_t aborts_in_row;   /* batches aborted since the last commit */
        char waiting_on[200];     /* "": nothing; else an output the broker refuses, which a restart cannot
                                   * fix: /healthz stays 200 and says so, whatever waits behind it */
} bl_http_health_t;

/**
 * The rules of /healthz over @p health at @p now_ms: false (healthy), or true
 * with @p reason filled, e.g. "stalled: work has waited 61000 ms without a
 * transaction committed (limit 60000 ms)" or "aborting: 20 batches aborted in
 * a row without a commit (limit 20)". Work waits from the later of
 * last_commit_ms and work_since_ms; nothing waits while !work_pending.
 */
/** The body of a healthy /healthz: "ok\n", or "ok, waiting: <waiting_on>\n". */
void bl_http_health_text(const bl_http_health_t *health, char *out, size_t out_size);

bool bl_http_health_failing(const bl_http_health_t *health, int64_t max_commit_age_ms, uint64_t max_aborts_in_row,
                            int64_t now_ms, char *reason, size_t reason_size);

/** How long work has waited for a commit at @p now_ms (bl_http_health_failing's measure); 0 while idle. */
int64_t bl_http_health_stalled_ms(const bl_http_health_t *health, int64_t now_ms);

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

/** The libmicrohttpd this binary runs on, e.g. "0.9.75", for --version. */
const char *bl_http_library_version(void);

/** The port listened on: options->port, or the one picked for port 0. */
int bl_http_port(const bl_http_t *http);

/**
 * The pipeline is alive: call once per turn of the run loop (and during long
 * work such as a restore). One atomic store; NULL: no-op.
 */
void bl_http_heartbeat(bl_http_t *http);

/**
 * Serves the status page at / from @p board (borrowed: it must outlive the server, or be set back to
 * NULL first). NULL @p http: no-op; NULL @p board: / answers 404.
 */
void bl_http_set_status_board(bl_http_t *http, bl_status_board_t *board);

/**
 * Sets the progress /healthz judges (copied under the server's lock): call
 * it when it changes (a commit, an abort) and now and then (the work flag).
 * Until the first call nothing waits. NULL @p http: no-op.
 */
void bl_http_set_health(bl_http_t *http, const bl_http_health_t *health);

/**
 * Sets what /readyz answers: 200 when @p ready, else 503 with @p reason (copied,
 * cut at 200 bytes; NULL or "" reads "not ready"). Write only what may be
 * shown to anyone who can reach the port. NULL @p http: no-op.
 */
void bl_http_set_ready(bl_http_t *http, bool ready, const char *reason);

#endif
