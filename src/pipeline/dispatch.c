/*
 * dispatch.c: the dispatch stage of `backlogd run` (SPEC §4, §5): the work
 * that needs no input, each turn of the loop. A culprit task found by the
 * bisection is given up first (recovery.c); then the timers due fire
 * (leases, retries, deadlines); then each domain gets at most its credit of
 * READY tasks, best score first (the backlog's scheduler decides which),
 * within its quota of the round and as far as its circuit breaker lets
 * (resilience.c). A domain whose workers lag (its credit is spent) or whose
 * dispatch topic the broker refuses (gate.h) gets nothing while the others
 * flow. A domain whose policy names an agent gets the agent's accepted
 * order first (consult.c), except the probes of a half-open breaker, which
 * the policy picks. While a culprit is sought, timers and dispatches are
 * units of the batch like input records (isolate.h), and only as many as
 * the batch may take go. Pipeline thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "pipeline/pipeline_int.h"

/* Partitions of tasks.events this instance owns: its share of the work and of max_lag. */
static size_t owned_input_partitions(const bl_pipeline_t *p) {
        size_t owned = 0;
        for (size_t i = 0; i < p->partition_count; i++)
                owned += !strcmp(p->partitions[i].topic, p->topic_events);
        return owned;
}


static const bl_provenance_t *probe_provenance(void *opaque, const bl_item_t *item) {
        (void)item;
        return opaque;
}

/*
 * Up to @p take READY tasks of domain @p d, as many as its circuit breaker lets out (SPEC §14): all while
 * it is closed (through the domain's agent, if it has one), none while open, its free probe slots while
 * half-open, each then marked probe and picked by the policy.
 */
static size_t dispatch_behind_breaker(bl_pipeline_t *p, size_t d, size_t take, size_t want, size_t quota,
                                      size_t credit, int64_t now) {
        const char *domain = p->config->domains.items[d];
        bool probes = false;
        size_t allowed = take > 0 ? bl_resilience_allowance(p, domain, take, now, &probes) : 0;
        bl_provenance_t probe = bl_provenance_none();
        probe.probe = true;
        if (probes)
                return allowed > 0 ? bl_backlog_dispatch_with(p->backlog, domain, allowed, now, probe_provenance,
                                                              &probe)
                                   : 0;
        return bl_consult_round(p, d, allowed, want, quota, credit, now);
}

/*
 * Dispatch (SPEC §4, §5): each domain gets at most its credit, this
 * instance's share of max_lag minus its own records the workers have not
 * passed yet; a throttled domain gets nothing while the others flow.
 */
static size_t dispatch_with_credit(bl_pipeline_t *p, int64_t now) {
        double share = p->total_input_partitions > 0
                               ? (double)owned_input_partitions(p) / (double)p->total_input_partitions
                               : 1.0;
        size_t want[BL_OBSERVE_DOMAINS] = {0}, credits[BL_OBSERVE_DOMAINS] = {0}, round_total = 0, sent = 0;
        size_t domains = p->config->domains.count < BL_OBSERVE_DOMAINS ? p->config->domains.count : BL_OBSERVE_DOMAINS;
        int64_t monotonic = bl_clock_monotonic_ms();
        for (size_t d = 0; d < domains; d++) {
                const char *domain = p->config->domains.items[d];
                bool changed;
                if (!bl_gate_open(p->gate, p->topic_dispatch[d], monotonic))
                        continue; /* its topic refuses writes now: its tasks wait READY (gate.h) */
                size_t credit = credits[d] = bl_credit_available(p->credit, domain, share, &changed);
                size_t ready = bl_backlog_ready_in(p->backlog, domain);
                if (changed)
                        bl_log(bl_credit_throttled(p->credit, domain) ? BL_LOG_WARN : BL_LOG_INFO, "backpressure",
                               "domain %s %s: %" PRId64 " dispatched records not yet read by its workers", domain,
                               bl_credit_throttled(p->credit, domain) ? "throttled" : "open again",
                               bl_credit_outstanding(p->credit, domain));
                want[d] = ready < credit ? ready : credit;
                if (want[d] > bl_isolate_room(p->isolate) - round_total)
                        want[d] = bl_isolate_room(p->isolate) - round_total; /* a culprit is sought */
                round_total += want[d];
        }
        /* Quotas (a guardrail): each domain takes at most its share of this round; a domain's agent
           decides its pilot's share of it (consult.c). */
        for (size_t d = 0; d < domains; d++) {
                size_t quota = bl_steer_quota(p, p->config->domains.items[d], round_total);
                size_t take = want[d] < quota ? want[d] : quota;
                sent += dispatch_behind_breaker(p, d, take, want[d], quota, credits[d], now);
        }
        return sent;
}


/* The timers due, each a unit of the batch (isolate.h); while a culprit is sought, only as many as it may take. */
static void fire_timers(bl_pipeline_t *p, int64_t now) {
        char task_id[BL_UNIT_NAME_MAX];
        size_t room = bl_isolate_room(p->isolate);
        size_t fired = bl_backlog_advance_max(p->backlog, now, room, task_id, sizeof(task_id));
        if (fired == 0)
                return;
        for (size_t i = 1; i < fired; i++)
                bl_isolate_unit(p->isolate, BL_UNIT_TIMER, "", -1, -1); /* counted; only the last is named */
        bl_isolate_unit(p->isolate, BL_UNIT_TIMER, task_id, -1, -1);
}


/* Timers and dispatch: the work that needs no input. A culprit task is given up first. */
void bl_dispatch_advance(bl_pipeline_t *p) {
        int64_t now = bl_clock_wall_ms();
        int64_t due = bl_backlog_next_due(p->backlog);
        int failures = 0;
        const bl_unit_t *culprit = bl_isolate_culprit(p->isolate, &failures);
        bl_consult_poll(p); /* every turn: the agents' outcomes in, their breakers told */
        if (!p->ready || p->held_back)
                return;
        if (culprit && culprit->kind != BL_UNIT_RECORD && !p->giving_up)
                bl_recovery_give_up_task(p, culprit, failures, now);
        if (bl_isolate_room(p->isolate) == 0)
                return;
        if (due != BL_NO_TIME && due <= now && bl_batch_ensure(p->batch))
                fire_timers(p, now);
        if (bl_isolate_room(p->isolate) == 0)
                return;
        if (bl_backlog_ready_count(p->backlog) > 0 && bl_batch_ensure(p->batch)) {
                int64_t started = bl_clock_monotonic_ms();
                size_t decisions = dispatch_with_credit(p, now);
                if (decisions > 0)
                        bl_metric_observe(p->observe.decision_seconds,
                                          (double)(bl_clock_monotonic_ms() - started) / 1000.0 / (double)decisions);
        }
}

