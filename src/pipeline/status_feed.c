/*
 * status_feed.c: what the status page at `/` shows (SPEC §15), gathered on
 * the pipeline thread and handed to the HTTP thread through the status
 * board (ops/status.h), which copies it under its lock. The HTTP thread
 * never reads the backlog, the credit ledger or the stats: only the board.
 *
 * About once a second (bl_status_feed_tick, from the observe tick) one walk
 * over the items counts them by domain and state, finds each domain's
 * oldest READY task and the tasks awaiting an approval (the longest-waiting
 * kept, all counted); the rest is read from what the pipeline keeps
 * anyway: the credit ledger (lag, limit, room, throttle), the gate (a
 * dispatch topic the broker refuses), the DLQ's counts, the stats, and the
 * dispatches per domain that outputs.c counts into status.dispatched. Like
 * the census of observe.c, the walk is spaced by its own cost: the next
 * comes DUTY_FACTOR times its CPU time later, at the soonest a second, so
 * it never takes more than about 1 % of the thread.
 *
 * Each domain's circuit breaker comes from resilience.c, its agent's state
 * (the agent's breaker, how and when the last consultation ended) from what
 * consult.c reported to observe.c; a domain without either shows "none".
 *
 * The board exists only with the HTTP endpoint (http.port not 0), which
 * serves it; `backlogd demo` turns the endpoint on. Pipeline thread.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "core/breaker.h"
#include "core/wait.h"
#include "pipeline/pipeline_int.h"
#include "policy/load.h"

#define FEED_TICK_MS 1000
#define DUTY_FACTOR 100

bool bl_status_feed_open(bl_pipeline_t *p) {
        bl_status_feed_t *feed = &p->status;
        feed->started_at_ms = bl_clock_wall_ms();
        if (!p->observe.http)
                return true; /* no HTTP endpoint: no page, nothing gathered */
        if (!(feed->board = bl_status_board_new()) || !(feed->snapshot = calloc(1, sizeof(*feed->snapshot)))) {
                bl_log_error("status", "out of memory for the status page");
                return false;
        }
        bl_http_set_status_board(p->observe.http, feed->board);
        return true;
}

void bl_status_feed_close(bl_pipeline_t *p) {
        bl_status_feed_t *feed = &p->status;
        bl_status_board_destroy(feed->board); /* the HTTP server that rendered it has stopped (observe.c) */
        free(feed->snapshot);
        memset(feed, 0, sizeof(*feed));
}

static int domain_of(const bl_pipeline_t *p, const char *domain) {
        for (size_t d = 0; domain && d < p->status.snapshot->domain_count; d++)
                if (!strcmp(p->config->domains.items[d], domain))
                        return (int)d;
        return -1;
}

typedef struct walk_s {
        const bl_pipeline_t *p;
        bl_status_snapshot_t *snapshot;
        int64_t now_ms;
        int64_t oldest_ready_since[BL_STATUS_DOMAINS_MAX];
} walk_t;

static void count_item(const bl_item_t *item, void *opaque) {
        walk_t *walk = opaque;
        if (item->placeholder)
                return;
        int d = domain_of(walk->p, item->kind->domain);
        if (d >= 0 && (size_t)item->state < BL_STATUS_STATES_MAX)
                walk->snapshot->domains[d].by_state[item->state]++;
        if (d >= 0 && item->state == BL_STATE_READY && item->ready_since_ms != BL_NO_TIME &&
            (walk->oldest_ready_since[d] == BL_NO_TIME || item->ready_since_ms < walk->oldest_ready_since[d]))
                walk->oldest_ready_since[d] = item->ready_since_ms;
        if (!bl_state_is_terminal(item->state) && bl_item_waits_for(item, walk->now_ms, BL_WAIT_APPROVAL))
                bl_status_note_approval(walk->snapshot, item->task_id, item->kind->domain,
                                        walk->now_ms - item->state_since_ms);
}

/* Domain @p d's agent: "breaker closed, last answered 2 s ago"; "" when it has none or was never consulted. */
static void agent_text(const bl_pipeline_t *p, size_t d, char *out, size_t size) {
        const bl_agent_view_t *view = &p->observe.agents[d];
        const char *name = p->config->domains.items[d];
        const bl_domain_policy_t *settings = p->policy ? bl_policy_domain(p->policy, name) : NULL;
        if (!view->known || !settings || !settings->agent) {
                snprintf(out, size, "%s", "");
                return;
        }
        if (!view->last)
                snprintf(out, size, "breaker %s, none finished yet", bl_breaker_state_name(view->breaker));
        else
                snprintf(out, size, "breaker %s, last %s %" PRId64 " s ago", bl_breaker_state_name(view->breaker),
                         view->last, (bl_clock_monotonic_ms() - view->last_at_ms) / 1000);
}

/* This instance's share of the input partitions, as dispatch.c computes it for the credit. */
static double input_share(const bl_pipeline_t *p) {
        size_t owned = 0;
        for (size_t i = 0; i < p->partition_count; i++)
                owned += !strcmp(p->partitions[i].topic, p->topic_events);
        return p->total_input_partitions > 0 ? (double)owned / (double)p->total_input_partitions : 1.0;
}

static void fill_domain(bl_pipeline_t *p, size_t d, double share, double elapsed_s, int64_t oldest_ready_since,
                        int64_t now_ms) {
        bl_status_domain_t *domain = &p->status.snapshot->domains[d];
        const char *name = p->config->domains.items[d];
        bl_status_copy_text(domain->name, sizeof(domain->name), name);
        domain->ready = domain->by_state[BL_STATE_READY];
        domain->in_flight = domain->by_state[BL_STATE_DISPATCHED] + domain->by_state[BL_STATE_RUNNING];
        domain->oldest_ready_ms = oldest_ready_since == BL_NO_TIME ? -1 : now_ms - oldest_ready_since;
        domain->lag = bl_credit_outstanding(p->credit, name);
        domain->limited = bl_credit_peek(p->credit, name, share, &domain->lag_limit, &domain->credit);
        domain->throttled = bl_credit_throttled(p->credit, name);
        domain->topic_refused = !bl_gate_open(p->gate, p->topic_dispatch[d], bl_clock_monotonic_ms());
        uint64_t dispatched = p->status.dispatched[d] - p->status.dispatched_at_last[d];
        domain->dispatch_rate = elapsed_s > 0 ? (double)dispatched / elapsed_s : 0;
        p->status.dispatched_at_last[d] = p->status.dispatched[d];
        bl_resilience_breaker_text(p, name, now_ms, domain->breaker, sizeof(domain->breaker)); /* SPEC §14 */
        agent_text(p, d, domain->agent, sizeof(domain->agent)); /* SPEC §13 */
}

static void fill_instance(bl_pipeline_t *p, bl_status_snapshot_t *s, int64_t now_ms) {
        s->taken_at_ms = now_ms;
        s->started_at_ms = p->status.started_at_ms;
        bl_status_copy_text(s->instance, sizeof(s->instance), p->instance);
        bl_status_copy_text(s->policy, sizeof(s->policy), p->policy ? bl_policy_label(p->policy) : "");
        s->ready = p->ready;
        s->input_paused = p->input_paused;
        s->tasks_held = bl_backlog_size(p->backlog);
        s->memory_bytes = bl_backlog_memory_bytes(p->backlog);
        s->transactions = p->stats.transactions;
        s->aborts = p->stats.aborts;
        s->cancel_notices = p->stats.cancel_notices;
        s->state_count = BL_STATE__COUNT < BL_STATUS_STATES_MAX ? BL_STATE__COUNT : BL_STATUS_STATES_MAX;
        for (size_t i = 0; i < s->state_count; i++)
                bl_status_copy_text(s->state_names[i], BL_STATUS_NAME_MAX, bl_state_name((bl_state_t)i));
        for (int r = 1; r < BL_REASON__COUNT && s->reason_count < BL_STATUS_REASONS_MAX; r++) {
                bl_status_reason_count_t *entry = &s->dead_letters[s->reason_count++];
                bl_status_copy_text(entry->reason, sizeof(entry->reason), bl_reason_name((bl_reason_t)r));
                entry->count = bl_dlq_count(p->dlq, (bl_reason_t)r);
        }
}

/* One snapshot, published to the board. */
static void publish(bl_pipeline_t *p, int64_t now_ms, double elapsed_s) {
        bl_status_snapshot_t *s = p->status.snapshot;
        walk_t walk = {.p = p, .snapshot = s, .now_ms = now_ms};
        memset(s, 0, sizeof(*s));
        s->domain_count = p->config->domains.count < BL_STATUS_DOMAINS_MAX ? p->config->domains.count
                                                                           : BL_STATUS_DOMAINS_MAX;
        if (s->domain_count > BL_OBSERVE_DOMAINS)
                s->domain_count = BL_OBSERVE_DOMAINS;
        for (size_t d = 0; d < BL_STATUS_DOMAINS_MAX; d++)
                walk.oldest_ready_since[d] = BL_NO_TIME;
        fill_instance(p, s, now_ms);
        bl_backlog_foreach(p->backlog, count_item, &walk);
        double share = input_share(p);
        for (size_t d = 0; d < s->domain_count; d++)
                fill_domain(p, d, share, elapsed_s, walk.oldest_ready_since[d], now_ms);
        bl_status_board_publish(p->status.board, s);
}

static double thread_cpu_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

void bl_status_feed_tick(bl_pipeline_t *p) {
        bl_status_feed_t *feed = &p->status;
        int64_t now = bl_clock_monotonic_ms();
        if (!feed->board || (feed->last_ms && now - feed->last_ms < feed->interval_ms))
                return;
        double elapsed_s = feed->last_ms ? (double)(now - feed->last_ms) / 1000.0 : 0;
        double started = thread_cpu_ms();
        publish(p, bl_clock_wall_ms(), elapsed_s);
        int64_t took_ms = (int64_t)(thread_cpu_ms() - started);
        feed->last_ms = now;
        feed->interval_ms = took_ms * DUTY_FACTOR > FEED_TICK_MS ? took_ms * DUTY_FACTOR : FEED_TICK_MS;
}

void bl_status_feed_dispatched(bl_pipeline_t *p, int domain) {
        if (domain >= 0 && domain < BL_OBSERVE_DOMAINS)
                p->status.dispatched[domain]++;
}
