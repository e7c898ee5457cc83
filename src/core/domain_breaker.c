/*
 * domain_breaker.c: a domain's circuit breaker on worker failures
 * (domain_breaker.h). The window is BL_DOMAIN_BREAKER_BUCKETS buckets of
 * window_ms / BL_DOMAIN_BREAKER_BUCKETS each, in a ring: a bucket is reset
 * when time comes round to it again, so counting costs O(1) per result and
 * the share is summed over the live buckets. One setter changes the state,
 * against a static table, and resets what the new state starts without.
 *
 * Invariants: probe slots are only held in HALF_OPEN; the window is empty
 * whenever CLOSED has just been entered; state_since_ms is the time of the
 * last change. Pure; the owner's thread.
 */
#include "core/domain_breaker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* legal[from][to]; staying is not a transition. */
static const bool legal[BL_BREAKER__COUNT][BL_BREAKER__COUNT] = {
        [BL_BREAKER_CLOSED] = {[BL_BREAKER_OPEN] = true},
        [BL_BREAKER_OPEN] = {[BL_BREAKER_HALF_OPEN] = true, [BL_BREAKER_CLOSED] = true},
        [BL_BREAKER_HALF_OPEN] = {[BL_BREAKER_CLOSED] = true, [BL_BREAKER_OPEN] = true},
};

static void free_probes(bl_domain_breaker_t *breaker) {
        for (size_t i = 0; i < BL_BREAKER_PROBES_MAX; i++) {
                free(breaker->probe_task_ids[i]);
                breaker->probe_task_ids[i] = NULL;
        }
        breaker->probes_succeeded = 0;
}

static void clear_window(bl_domain_breaker_t *breaker) {
        memset(breaker->bucket_epoch, 0xff, sizeof(breaker->bucket_epoch)); /* -1: never used */
        memset(breaker->bucket_failed, 0, sizeof(breaker->bucket_failed));
        memset(breaker->bucket_total, 0, sizeof(breaker->bucket_total));
}

/* The one setter: the move must be in the table; false and no change otherwise. */
static bool set_state(bl_domain_breaker_t *breaker, bl_breaker_state_t to, int64_t now_ms) {
        if (!legal[breaker->state][to])
                return false;
        breaker->state = to;
        breaker->state_since_ms = now_ms;
        free_probes(breaker);
        clear_window(breaker);
        if (to == BL_BREAKER_OPEN)
                breaker->opened_count++;
        return true;
}

void bl_domain_breaker_init(bl_domain_breaker_t *breaker, const bl_breaker_policy_t *settings) {
        *breaker = (bl_domain_breaker_t){.state = BL_BREAKER_CLOSED, .settings = *settings};
        clear_window(breaker);
}

void bl_domain_breaker_clear(bl_domain_breaker_t *breaker) {
        free_probes(breaker);
}

bool bl_domain_breaker_configure(bl_domain_breaker_t *breaker, const bl_breaker_policy_t *settings, int64_t now_ms) {
        breaker->settings = *settings;
        if (settings->enabled || breaker->state == BL_BREAKER_CLOSED)
                return false;
        snprintf(breaker->last_change, sizeof(breaker->last_change), "the policy turned the breaker off");
        return set_state(breaker, BL_BREAKER_CLOSED, now_ms);
}

static int64_t bucket_width(const bl_domain_breaker_t *breaker) {
        int64_t width = breaker->settings.window_ms / BL_DOMAIN_BREAKER_BUCKETS;
        return width > 0 ? width : 1;
}

void bl_domain_breaker_window(const bl_domain_breaker_t *breaker, int64_t now_ms, uint32_t *failed, uint32_t *total) {
        int64_t epoch = now_ms / bucket_width(breaker);
        *failed = *total = 0;
        for (size_t i = 0; i < BL_DOMAIN_BREAKER_BUCKETS; i++) {
                if (breaker->bucket_epoch[i] < 0 || breaker->bucket_epoch[i] <= epoch - BL_DOMAIN_BREAKER_BUCKETS ||
                    breaker->bucket_epoch[i] > epoch)
                        continue;
                *failed += breaker->bucket_failed[i];
                *total += breaker->bucket_total[i];
        }
}

/* Counts one result in the current bucket, resetting it when time has come round to it again. */
static void count(bl_domain_breaker_t *breaker, bool success, int64_t now_ms) {
        int64_t epoch = now_ms / bucket_width(breaker);
        size_t i = (size_t)(epoch % BL_DOMAIN_BREAKER_BUCKETS);
        if (breaker->bucket_epoch[i] != epoch) {
                breaker->bucket_epoch[i] = epoch;
                breaker->bucket_failed[i] = breaker->bucket_total[i] = 0;
        }
        breaker->bucket_total[i]++;
        breaker->bucket_failed[i] += !success;
}

size_t bl_domain_breaker_allowance(bl_domain_breaker_t *breaker, int64_t now_ms, size_t want, bool *probes,
                                   bool *changed) {
        *probes = false;
        *changed = false;
        if (!breaker->settings.enabled || breaker->state == BL_BREAKER_CLOSED)
                return want;
        if (breaker->state == BL_BREAKER_OPEN) {
                if (now_ms - breaker->state_since_ms < breaker->settings.cooldown_ms)
                        return 0;
                snprintf(breaker->last_change, sizeof(breaker->last_change),
                         "cool-down of %lld ms passed: up to %d probe tasks go out",
                         (long long)breaker->settings.cooldown_ms, (int)breaker->settings.probes);
                *changed = set_state(breaker, BL_BREAKER_HALF_OPEN, now_ms);
        }
        size_t free_slots = 0;
        int32_t limit = breaker->settings.probes < BL_BREAKER_PROBES_MAX ? breaker->settings.probes
                                                                          : BL_BREAKER_PROBES_MAX;
        for (int32_t i = 0; i < limit; i++)
                free_slots += breaker->probe_task_ids[i] == NULL;
        if (breaker->probes_succeeded >= limit)
                free_slots = 0;
        else if (free_slots > (size_t)(limit - breaker->probes_succeeded))
                free_slots = (size_t)(limit - breaker->probes_succeeded);
        *probes = true;
        return want < free_slots ? want : free_slots;
}

static int probe_slot(const bl_domain_breaker_t *breaker, const char *task_id) {
        for (int i = 0; i < BL_BREAKER_PROBES_MAX; i++)
                if (breaker->probe_task_ids[i] && !strcmp(breaker->probe_task_ids[i], task_id))
                        return i;
        return -1;
}

bool bl_domain_breaker_probe_sent(bl_domain_breaker_t *breaker, const char *task_id) {
        if (breaker->state != BL_BREAKER_HALF_OPEN || probe_slot(breaker, task_id) >= 0)
                return false;
        for (int i = 0; i < breaker->settings.probes && i < BL_BREAKER_PROBES_MAX; i++)
                if (!breaker->probe_task_ids[i])
                        return (breaker->probe_task_ids[i] = strdup(task_id)) != NULL;
        return false;
}

bool bl_domain_breaker_is_probe(const bl_domain_breaker_t *breaker, const char *task_id) {
        return probe_slot(breaker, task_id) >= 0;
}

void bl_domain_breaker_probe_lost(bl_domain_breaker_t *breaker, const char *task_id) {
        int slot = probe_slot(breaker, task_id);
        if (slot < 0)
                return;
        free(breaker->probe_task_ids[slot]);
        breaker->probe_task_ids[slot] = NULL;
}

/* HALF_OPEN: a probe's result closes the breaker when it is the last success needed, or opens it again. */
static bool probe_result(bl_domain_breaker_t *breaker, int slot, bool success, int64_t now_ms) {
        const char *task_id = breaker->probe_task_ids[slot];
        if (!success) {
                snprintf(breaker->last_change, sizeof(breaker->last_change), "probe %.100s failed", task_id);
                return set_state(breaker, BL_BREAKER_OPEN, now_ms);
        }
        breaker->probes_succeeded++;
        if (breaker->probes_succeeded < breaker->settings.probes) {
                /* the slot stays taken: a success is counted once, and the remaining probes decide */
                return false;
        }
        snprintf(breaker->last_change, sizeof(breaker->last_change), "%d probes completed",
                 (int)breaker->probes_succeeded);
        return set_state(breaker, BL_BREAKER_CLOSED, now_ms);
}

bool bl_domain_breaker_result(bl_domain_breaker_t *breaker, const char *task_id, bool success, int64_t now_ms) {
        if (!breaker->settings.enabled)
                return false;
        if (breaker->state == BL_BREAKER_HALF_OPEN) {
                int slot = probe_slot(breaker, task_id);
                return slot >= 0 && probe_result(breaker, slot, success, now_ms);
        }
        if (breaker->state == BL_BREAKER_OPEN)
                return false; /* a task dispatched before the opening: it judges nothing now */
        count(breaker, success, now_ms);
        uint32_t failed, total;
        bl_domain_breaker_window(breaker, now_ms, &failed, &total);
        if (total < (uint32_t)breaker->settings.min_results ||
            (double)failed < breaker->settings.failure_share * (double)total)
                return false;
        snprintf(breaker->last_change, sizeof(breaker->last_change),
                 "%u of %u results in the last %lld ms FAILED (threshold %g, at least %d results)", failed, total,
                 (long long)breaker->settings.window_ms, breaker->settings.failure_share,
                 (int)breaker->settings.min_results);
        return set_state(breaker, BL_BREAKER_OPEN, now_ms);
}
