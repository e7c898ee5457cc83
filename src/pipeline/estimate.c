/*
 * estimate.c: the capacity estimate of `backlogd run` (SPEC §14,
 * core/capacity.h): fed from the backlog's transitions as the sink hands
 * them to outputs.c, given each domain's load (in flight from the census,
 * which walks every item once a second or less often, READY from the
 * scheduler, which counts it) every gauge tick (100 ms), and shown as gauges. The policy
 * reads it through steer.c for the deadline_risk criterion, and an agent's
 * consultation through bl_estimate_agent_context.
 *
 * A batch that aborts is restored and run again: the results of its
 * transitions are then seen twice. That inflates the throughput of one
 * window by the share of aborted work, which is small and passes with it.
 * Pipeline thread.
 */
#include "base/clock.h"
#include "base/log.h"
#include "pipeline/pipeline_int.h"

#include <string.h>

bool bl_estimate_open(bl_pipeline_t *p) {
        bl_capacity_options_t options = {.window_ms = p->config->capacity_window_ms,
                                         .min_samples = (int32_t)p->config->capacity_min_samples};
        p->capacity = bl_capacity_new(&options);
        if (!p->capacity) {
                bl_log_error("capacity", "capacity estimate: out of memory");
                return false;
        }
        const bl_metrics_backlogd_t *m = &p->observe.metrics;
        for (size_t d = 0; d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++) {
                const char *domain = p->config->domains.items[d];
                bl_estimate_series_t *series = &p->capacity_series[d];
                series->known = bl_metrics_series(m->capacity_known, domain);
                series->throughput = bl_metrics_series(m->capacity_throughput, domain);
                series->pickup = bl_metrics_series(m->capacity_pickup_seconds, domain);
                series->runtime = bl_metrics_series(m->capacity_runtime_seconds, domain);
                series->drain = bl_metrics_series(m->capacity_drain_seconds, domain);
        }
        return true;
}

void bl_estimate_close(bl_pipeline_t *p) {
        bl_capacity_destroy(p->capacity);
        p->capacity = NULL;
}

void bl_estimate_transition(bl_pipeline_t *p, const bl_transition_t *transition, const bl_item_t *item) {
        if (!p->capacity || !transition->has_from || transition->from == transition->to)
                return;
        bool by_worker = !transition->cause || strcmp(transition->cause, "lease_expired") != 0;
        bl_capacity_observe(p->capacity, item->kind->domain, item->kind->task_type, transition->from,
                            transition->from_since_ms, transition->to, by_worker, transition->at_ms);
}

void bl_estimate_in_flight(bl_pipeline_t *p, size_t domain_index, int64_t in_flight) {
        if (domain_index < BL_OBSERVE_DOMAINS)
                p->capacity_in_flight[domain_index] = in_flight;
}

void bl_estimate_tick(bl_pipeline_t *p) {
        int64_t now = bl_clock_wall_ms();
        for (size_t d = 0; p->capacity && d < p->config->domains.count && d < BL_OBSERVE_DOMAINS; d++) {
                const char *domain = p->config->domains.items[d];
                bl_capacity_estimate_t estimate;
                const bl_estimate_series_t *series = &p->capacity_series[d];
                bl_capacity_set_load(p->capacity, domain, p->capacity_in_flight[d],
                                     (int64_t)bl_backlog_ready_in(p->backlog, domain), now);
                bl_capacity_estimate(p->capacity, domain, now, &estimate);
                bl_metric_set(series->known, estimate.known ? 1 : 0);
                bl_metric_set(series->throughput, estimate.throughput_per_s);
                bl_metric_set(series->pickup, estimate.pickup_ms / 1000.0);
                bl_metric_set(series->runtime, estimate.runtime_ms / 1000.0);
                bl_metric_set(series->drain, estimate.known ? (double)estimate.drain_ms / 1000.0 : 0.0);
        }
}

void bl_estimate_agent_context(const bl_pipeline_t *p, const char *domain, int64_t now_ms,
                               bl_agent_context_t *context) {
        bl_capacity_estimate_t estimate;
        if (!p->capacity)
                return;
        bl_capacity_estimate(p->capacity, domain, now_ms, &estimate);
        if (!estimate.known)
                return; /* unknown: the fields stay negative and are not sent */
        context->throughput_per_s = estimate.throughput_per_s;
        context->drain_ms = estimate.drain_ms;
}
