/*
 * resilience.c: what `backlogd run` does about failing workers and what it
 * counts of outcomes (SPEC §14): one circuit breaker per configured domain
 * (core/domain_breaker.h), fed with the results the backlog records and
 * asked before each domain's dispatch; the probes of a half-open breaker go
 * out marked (provenance.probe); every change of a breaker is logged and
 * shown in backlogd_domain_breaker_state. Beside them the outcome series:
 * tasks completed, failed and dead by domain and policy version, the time
 * READY tasks waited for dispatch, and the time from submission to
 * completion, by domain.
 *
 * A breaker lives in this process only: it starts CLOSED at start-up and
 * judges the results of the partitions this instance owns. A batch that
 * aborts has fed it results that will be applied again: the share it judges
 * is the same, the count a little higher, for the one window. Pipeline
 * thread; bl_pipeline_domain_breaker is for the same thread (the status
 * page renders from it there).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/policy.h"
#include "pipeline/pipeline_int.h"

#define OUTCOMES 3 /* completed, failed, dead */
static const char *const outcome_names[OUTCOMES] = {"completed", "failed", "dead"};

/* One domain's breaker and series. */
typedef struct domain_resilience_s {
        bl_domain_breaker_t breaker;
        bl_metric_series_t *state, *opened, *remediations, *wait_seconds, *end_to_end_seconds;
        bl_metric_series_t *outcomes[OUTCOMES]; /* for the policy label below */
        char outcome_policy[OUTCOMES][128];
} domain_resilience_t;

struct bl_resilience_s {
        domain_resilience_t *domains; /* one per configured domain, in config order */
        size_t count;
};

static int domain_of(const bl_pipeline_t *p, const char *domain) {
        for (size_t d = 0; domain && d < p->resilience->count; d++)
                if (!strcmp(p->config->domains.items[d], domain))
                        return (int)d;
        return -1;
}

bool bl_resilience_open(bl_pipeline_t *p) {
        const bl_metrics_backlogd_t *m = &p->observe.metrics;
        bl_breaker_policy_t off;
        bl_breaker_policy_defaults(&off);
        if (!(p->resilience = calloc(1, sizeof(*p->resilience))))
                return false;
        p->resilience->count = p->config->domains.count;
        if (!(p->resilience->domains = calloc(p->resilience->count + 1, sizeof(domain_resilience_t))))
                return false;
        for (size_t d = 0; d < p->resilience->count; d++) {
                domain_resilience_t *entry = &p->resilience->domains[d];
                const char *domain = p->config->domains.items[d];
                bl_domain_breaker_init(&entry->breaker, &off);
                entry->state = bl_metrics_series(m->domain_breaker_state, domain);
                entry->opened = bl_metrics_series(m->domain_breaker_opened, domain);
                entry->remediations = bl_metrics_series(m->remediations, domain);
                entry->wait_seconds = bl_metrics_series(m->task_wait_seconds, domain);
                entry->end_to_end_seconds = bl_metrics_series(m->task_end_to_end_seconds, domain);
        }
        return true;
}

void bl_resilience_close(bl_pipeline_t *p) {
        if (!p->resilience)
                return;
        for (size_t d = 0; p->resilience->domains && d < p->resilience->count; d++)
                bl_domain_breaker_clear(&p->resilience->domains[d].breaker);
        free(p->resilience->domains);
        free(p->resilience);
        p->resilience = NULL;
}

static void log_change(const bl_pipeline_t *p, size_t d, bl_breaker_state_t from) {
        const bl_domain_breaker_t *breaker = &p->resilience->domains[d].breaker;
        bl_log(breaker->state == BL_BREAKER_OPEN ? BL_LOG_WARN : BL_LOG_INFO, "breaker",
               "domain %s breaker %s -> %s: %s%s", p->config->domains.items[d], bl_breaker_state_name(from),
               bl_breaker_state_name(breaker->state), breaker->last_change,
               breaker->state == BL_BREAKER_OPEN ? "; its READY tasks wait, no attempt is spent" : "");
        bl_metric_set(p->resilience->domains[d].state, (double)breaker->state);
        bl_metric_set(p->resilience->domains[d].opened, (double)breaker->opened_count);
}

void bl_resilience_configure(bl_pipeline_t *p) {
        bl_breaker_policy_t off;
        bl_breaker_policy_defaults(&off);
        for (size_t d = 0; p->resilience && d < p->resilience->count; d++) {
                const bl_domain_policy_t *settings =
                        p->policy ? bl_policy_domain(p->policy, p->config->domains.items[d]) : NULL;
                bl_domain_breaker_t *breaker = &p->resilience->domains[d].breaker;
                bl_breaker_state_t from = breaker->state;
                const bl_breaker_policy_t *wanted =
                        settings && settings->resilience ? &settings->resilience->breaker : &off;
                if (bl_domain_breaker_configure(breaker, wanted, bl_clock_wall_ms()))
                        log_change(p, d, from);
        }
}

size_t bl_resilience_allowance(bl_pipeline_t *p, const char *domain, size_t want, int64_t now_ms, bool *probes) {
        int d = domain_of(p, domain);
        bool changed;
        *probes = false;
        if (d < 0)
                return want;
        bl_domain_breaker_t *breaker = &p->resilience->domains[d].breaker;
        bl_breaker_state_t from = breaker->state;
        size_t allowed = bl_domain_breaker_allowance(breaker, now_ms, want, probes, &changed);
        if (changed)
                log_change(p, (size_t)d, from);
        return allowed;
}

/* The outcome series of domain @p d for the policy that governs @p task_id now. */
static void count_outcome(bl_pipeline_t *p, size_t d, int outcome, const char *task_id) {
        domain_resilience_t *entry = &p->resilience->domains[d];
        const char *label = p->policy ? bl_policy_label(bl_policy_for_task(p->policy, task_id)) : "fifo@1";
        if (!label)
                label = "unnamed";
        if (!entry->outcomes[outcome] || strcmp(entry->outcome_policy[outcome], label)) {
                snprintf(entry->outcome_policy[outcome], sizeof(entry->outcome_policy[outcome]), "%s", label);
                entry->outcomes[outcome] = bl_metrics_series(p->observe.metrics.task_outcomes, p->config->domains.items[d],
                                                             label, outcome_names[outcome]);
        }
        bl_metric_inc(entry->outcomes[outcome], 1);
}

/* A worker's result (or its absence: lease, runtime) for the breaker of domain @p d. */
static void judge_result(bl_pipeline_t *p, size_t d, const bl_transition_t *transition) {
        bl_domain_breaker_t *breaker = &p->resilience->domains[d].breaker;
        bl_breaker_state_t from = breaker->state;
        bool worker_result = transition->has_from &&
                             (transition->from == BL_STATE_DISPATCHED || transition->from == BL_STATE_RUNNING);
        if (worker_result && (transition->to == BL_STATE_COMPLETED || transition->to == BL_STATE_FAILED)) {
                if (bl_domain_breaker_result(breaker, transition->task_id, transition->to == BL_STATE_COMPLETED,
                                             transition->at_ms))
                        log_change(p, d, from);
        } else if (worker_result && transition->to != BL_STATE_RUNNING && transition->to != transition->from) {
                bl_domain_breaker_probe_lost(breaker, transition->task_id); /* cancelled or given up */
        }
}

void bl_resilience_changed(bl_pipeline_t *p, const bl_transition_t *transition, const bl_item_t *item) {
        int d = domain_of(p, item->kind->domain);
        if (d < 0 || transition->to == transition->from)
                return;
        judge_result(p, (size_t)d, transition);
        if (transition->to == BL_STATE_COMPLETED) {
                count_outcome(p, (size_t)d, 0, item->task_id);
                if (item->submitted_at_ms != BL_NO_TIME && transition->at_ms >= item->submitted_at_ms)
                        bl_metric_observe(p->resilience->domains[d].end_to_end_seconds,
                                          (double)(transition->at_ms - item->submitted_at_ms) / 1000.0);
        } else if (transition->to == BL_STATE_FAILED && transition->has_from &&
                   (transition->from == BL_STATE_DISPATCHED || transition->from == BL_STATE_RUNNING)) {
                count_outcome(p, (size_t)d, 1, item->task_id); /* an attempt; a dependency's failure is none */
        } else if (transition->to == BL_STATE_DEAD) {
                count_outcome(p, (size_t)d, 2, item->task_id);
        } else if (transition->cause && !strcmp(transition->cause, "remediation")) {
                bl_metric_inc(p->resilience->domains[d].remediations, 1);
        }
}

void bl_resilience_dispatched(bl_pipeline_t *p, const bl_dispatch_t *dispatch) {
        int d = domain_of(p, dispatch->item->kind->domain);
        if (d < 0 || dispatch->cancel)
                return;
        if (dispatch->ready_since_ms > 0 && dispatch->decided_at_ms >= dispatch->ready_since_ms)
                bl_metric_observe(p->resilience->domains[d].wait_seconds,
                                  (double)(dispatch->decided_at_ms - dispatch->ready_since_ms) / 1000.0);
        if (dispatch->provenance && dispatch->provenance->probe)
                bl_domain_breaker_probe_sent(&p->resilience->domains[d].breaker, dispatch->item->task_id);
}

bool bl_pipeline_domain_breaker(const bl_pipeline_t *p, const char *domain, bl_breaker_state_t *state,
                                int64_t *since_ms, uint64_t *opened_count) {
        int d = p->resilience ? domain_of(p, domain) : -1;
        if (d < 0)
                return false;
        const bl_domain_breaker_t *breaker = &p->resilience->domains[d].breaker;
        *state = breaker->settings.enabled ? breaker->state : BL_BREAKER_CLOSED;
        *since_ms = breaker->state_since_ms;
        *opened_count = breaker->opened_count;
        return breaker->settings.enabled;
}

void bl_resilience_breaker_text(const bl_pipeline_t *p, const char *domain, int64_t now_ms, char *out,
                                size_t out_size) {
        bl_breaker_state_t state;
        int64_t since_ms;
        uint64_t opened;
        if (!bl_pipeline_domain_breaker(p, domain, &state, &since_ms, &opened)) {
                snprintf(out, out_size, "%s", ""); /* the page says "none" */
                return;
        }
        int64_t for_s = now_ms > since_ms ? (now_ms - since_ms) / 1000 : 0;
        if (state == BL_BREAKER_CLOSED)
                snprintf(out, out_size, "closed (opened %llu times)", (unsigned long long)opened);
        else if (state == BL_BREAKER_OPEN)
                snprintf(out, out_size, "open for %lld s", (long long)for_s);
        else
                snprintf(out, out_size, "half-open: probing for %lld s", (long long)for_s);
}
