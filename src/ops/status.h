/*
 * status.h: what the status page at `/` shows (SPEC §15), as plain data,
 * and the board that hands it from the pipeline thread to the HTTP thread.
 *
 * The pipeline fills a bl_status_snapshot_t about once a second from what
 * it holds (pipeline/status.c) and publishes it: bl_status_board_publish()
 * copies it under the board's mutex and appends one sample per domain to
 * the ring the plots are drawn from (READY, in flight, dispatch rate, lag).
 * The HTTP thread renders the page from the board under the same mutex
 * (bl_status_board_render); it never reads the backlog. The snapshot holds
 * no pointers, so a copy is a memcpy and nothing in it can dangle.
 *
 * Per-domain state that other parts of backlogd may own (a circuit breaker,
 * an agent) has a text field each, "" while nothing fills it: the page then
 * says so rather than leaving a gap.
 */
#ifndef BL_STATUS_H
#define BL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BL_STATUS_DOMAINS_MAX 64
#define BL_STATUS_STATES_MAX 16
#define BL_STATUS_REASONS_MAX 32
#define BL_STATUS_APPROVALS_MAX 25 /* the longest-waiting shown; all are counted */
#define BL_STATUS_NAME_MAX 128     /* a domain, a state, a reason; longer names are cut */
#define BL_STATUS_ID_MAX 256       /* a task id as shown; longer ids are cut */

/* The plots: one series per domain of each of these, in this order. */
typedef enum {
        BL_STATUS_PLOT_READY = 0,
        BL_STATUS_PLOT_IN_FLIGHT,
        BL_STATUS_PLOT_DISPATCH_RATE,
        BL_STATUS_PLOT_LAG,
        BL_STATUS_PLOT__COUNT
} bl_status_plot_t;

/** One domain, as the pipeline saw it when the snapshot was taken. */
typedef struct bl_status_domain_s {
        char name[BL_STATUS_NAME_MAX];
        uint64_t by_state[BL_STATUS_STATES_MAX]; /* indexed as the snapshot's state_names */
        uint64_t ready, in_flight;               /* READY; DISPATCHED + RUNNING */
        double dispatch_rate;                    /* dispatches per second since the last snapshot */
        int64_t oldest_ready_ms;                 /* age of its oldest READY task; -1: none READY */
        int64_t lag;                             /* its own dispatch records its workers have not passed */
        bool limited;                            /* a max_lag applies (the policy names a worker group) */
        int64_t lag_limit;                       /* with limited: this instance's share of max_lag */
        int64_t credit;                          /* with limited: what it may still receive now */
        bool throttled;                          /* backpressure holds it (lag at its limit) */
        bool topic_refused;                      /* its dispatch topic refuses writes now (gate) */
        char breaker[BL_STATUS_NAME_MAX];        /* its circuit breaker's state; "": none in this pipeline */
        char agent[BL_STATUS_NAME_MAX];          /* its agent's state; "": no agent consulted */
} bl_status_domain_t;

/** A task waiting for an approval. */
typedef struct bl_status_waiting_s {
        char task_id[BL_STATUS_ID_MAX];
        char domain[BL_STATUS_NAME_MAX];
        int64_t waiting_ms; /* since it went BLOCKED */
} bl_status_waiting_t;

/** A count of dead letters of one reason. */
typedef struct bl_status_reason_count_s {
        char reason[BL_STATUS_NAME_MAX];
        uint64_t count;
} bl_status_reason_count_t;

/** Everything the page shows, as of taken_at_ms. Plain data: copy it with memcpy. */
typedef struct bl_status_snapshot_s {
        int64_t taken_at_ms; /* wall clock */
        int64_t started_at_ms;
        char instance[BL_STATUS_ID_MAX];
        char policy[BL_STATUS_ID_MAX];        /* name@version in force; "" none (FIFO) */
        bool ready;                           /* every assigned partition restored */
        bool input_paused;                    /* input backpressure */
        uint64_t tasks_held;                  /* items in the backlog */
        uint64_t memory_bytes;
        uint64_t transactions, aborts, cancel_notices;
        size_t state_count;
        char state_names[BL_STATUS_STATES_MAX][BL_STATUS_NAME_MAX];
        size_t domain_count;
        bl_status_domain_t domains[BL_STATUS_DOMAINS_MAX];
        size_t reason_count;
        bl_status_reason_count_t dead_letters[BL_STATUS_REASONS_MAX]; /* written by this instance since start */
        uint64_t approvals_waiting;           /* all of them */
        size_t approval_count;                /* those listed, longest-waiting first */
        bl_status_waiting_t approvals[BL_STATUS_APPROVALS_MAX];
} bl_status_snapshot_t;

/**
 * Adds @p waiting to @p snapshot's list if it waits longer than one listed (the list stays sorted,
 * longest first, and bounded); counts it in approvals_waiting either way.
 */
void bl_status_note_approval(bl_status_snapshot_t *snapshot, const char *task_id, const char *domain,
                             int64_t waiting_ms);

/** Copies @p text into @p out of @p size bytes, cut at a UTF-8 character boundary when too long. */
void bl_status_copy_text(char *out, size_t size, const char *text);

typedef struct bl_status_board_s bl_status_board_t;

#define BL_STATUS_WINDOW_MS (15 * 60 * 1000) /* the plots' span */
#define BL_STATUS_SAMPLE_MS 1000             /* one sample per snapshot, about once a second */

/** A board with an empty page and a ring of BL_STATUS_WINDOW_MS / BL_STATUS_SAMPLE_MS samples. NULL: out of memory. */
bl_status_board_t *bl_status_board_new(void);
void bl_status_board_destroy(bl_status_board_t *board);

/**
 * The pipeline thread: @p snapshot becomes what the page shows (copied), and its per-domain numbers a
 * sample of the plots. When the domains differ from the last snapshot's, the plots start again.
 */
void bl_status_board_publish(bl_status_board_t *board, const bl_status_snapshot_t *snapshot);

/**
 * Any thread: the page as of the last publish, as a NUL-terminated HTML document (malloc'd, the
 * caller frees it) with its length in *length. It refreshes itself every @p refresh_s seconds.
 * NULL when out of memory.
 */
char *bl_status_board_render(bl_status_board_t *board, int refresh_s, size_t *length);

#endif
