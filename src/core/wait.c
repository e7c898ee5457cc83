/*
 * wait.c: what a task waits for (wait.h), as one table of reasons, each
 * with the probe that finds it in an item.
 *
 * A probe looks at the item's state and fields at a given time, writes at
 * most `room` waits and returns how many it found, so that counting (room
 * 0) and listing share one code path. BLOCKED's three reasons are the ones
 * the backlog itself blocks a task for (core/backlog.c, blocked_by): a
 * pending dependency, a not_before after now, an approval required and not
 * given; a BLOCKED task can wait for several at once, and each is named.
 * A task held by its domain's agent (SPEC §13) is BLOCKED with the hold's
 * end as its not_before and the mark BL_AGENT_MARK_HOLD among its labels:
 * it waits for the agent, not for a not_before. A reason without a probe is
 * one backlogd has no state for yet: its entry says why, and it never
 * matches. Pure C, any thread: no state.
 */
#include "core/wait.h"

#include <string.h>

typedef size_t(probe_fn)(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context, bl_wait_t *out,
                         size_t room);

typedef struct reason_entry_s {
        const char *name;
        probe_fn *probe;    /* NULL: backlogd has no such wait yet */
        const char *absent; /* with a NULL probe: why, for the CLI and the docs */
} reason_entry_t;

static bool live(const bl_item_t *item) {
        return !item->placeholder && !bl_state_is_terminal(item->state);
}

/* Writes one wait when there is room; returns 1, the wait found. */
static size_t found(bl_wait_t *out, size_t room, bl_wait_reason_t reason, int64_t until_ms, const char *task_id) {
        if (room > 0) {
                out->reason = reason;
                out->until_ms = until_ms;
                out->task_id = task_id;
        }
        return 1;
}

static size_t probe_dependency(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                               bl_wait_t *out, size_t room) {
        const bl_strvec_t *pending = &bl_item_cold(item)->pending_deps;
        (void)now_ms;
        (void)context;
        if (!live(item) || item->state != BL_STATE_BLOCKED)
                return 0;
        for (size_t i = 0; i < pending->count && i < room; i++)
                found(&out[i], 1, BL_WAIT_DEPENDENCY, BL_NO_TIME, pending->items[i]);
        return pending->count;
}

bool bl_item_agent_mark(const bl_item_t *item, const char *key) {
        const char *value, *at = NULL;
        if (!item->cold || item->cold->labels.count == 0)
                return false;
        while ((at = bl_labels_next(&item->cold->labels, at, &value)))
                if (!strcmp(at, key))
                        return true;
        return false;
}

/* BLOCKED until a time: its not_before, or the end of its agent's hold (which the snapshot keeps there). */
static bool blocked_until_later(const bl_item_t *item, int64_t now_ms) {
        return live(item) && item->state == BL_STATE_BLOCKED && item->not_before_ms != BL_NO_TIME &&
               item->not_before_ms > now_ms;
}

static size_t probe_not_before(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                               bl_wait_t *out, size_t room) {
        (void)context;
        if (!blocked_until_later(item, now_ms) || bl_item_agent_mark(item, BL_AGENT_MARK_HOLD))
                return 0;
        return found(out, room, BL_WAIT_NOT_BEFORE, item->not_before_ms, NULL);
}

static size_t probe_agent(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context, bl_wait_t *out,
                          size_t room) {
        (void)context;
        if (!blocked_until_later(item, now_ms) || !bl_item_agent_mark(item, BL_AGENT_MARK_HOLD))
                return 0;
        return found(out, room, BL_WAIT_AGENT, item->not_before_ms, NULL);
}

static size_t probe_approval(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                             bl_wait_t *out, size_t room) {
        (void)now_ms;
        (void)context;
        if (!live(item) || item->state != BL_STATE_BLOCKED || !item->approval_required || item->approved)
                return 0;
        return found(out, room, BL_WAIT_APPROVAL, BL_NO_TIME, NULL);
}

static size_t probe_retry(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context, bl_wait_t *out,
                          size_t room) {
        (void)now_ms;
        (void)context;
        if (!live(item) || item->state != BL_STATE_RETRY_WAIT)
                return 0;
        return found(out, room, BL_WAIT_RETRY, item->retry_at_ms, NULL);
}

static size_t probe_worker(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                           bl_wait_t *out, size_t room) {
        (void)now_ms;
        (void)context;
        if (!live(item) || (item->state != BL_STATE_DISPATCHED && item->state != BL_STATE_RUNNING))
                return 0;
        return found(out, room, BL_WAIT_WORKER, item->lease_expires_at_ms, NULL);
}

/* READY while the running instances hold its domain back (SPEC §14): only the caller's context knows. */
static size_t probe_breaker(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                            bl_wait_t *out, size_t room) {
        (void)now_ms;
        if (!live(item) || item->state != BL_STATE_READY || !context || !context->breaker_holds ||
            !item->kind->domain || !context->breaker_holds(context->opaque, item->kind->domain))
                return 0;
        return found(out, room, BL_WAIT_BREAKER, BL_NO_TIME, NULL);
}

static const reason_entry_t reasons[BL_WAIT__COUNT] = {
        [BL_WAIT_DEPENDENCY] = {"dependency", probe_dependency, NULL},
        [BL_WAIT_NOT_BEFORE] = {"not_before", probe_not_before, NULL},
        [BL_WAIT_APPROVAL] = {"approval", probe_approval, NULL},
        [BL_WAIT_RETRY] = {"retry", probe_retry, NULL},
        [BL_WAIT_WORKER] = {"worker", probe_worker, NULL},
        [BL_WAIT_BREAKER] = {"breaker", probe_breaker, NULL},
        [BL_WAIT_AGENT] = {"agent", probe_agent, NULL},
};

const char *bl_wait_reason_name(bl_wait_reason_t reason) {
        return (unsigned)reason < BL_WAIT__COUNT ? reasons[reason].name : "unknown";
}

int bl_wait_reason_parse(const char *name) {
        for (int i = 0; name && i < BL_WAIT__COUNT; i++)
                if (!strcmp(reasons[i].name, name))
                        return i;
        return -1;
}

const char *bl_wait_reason_absent(bl_wait_reason_t reason) {
        return (unsigned)reason < BL_WAIT__COUNT ? reasons[reason].absent : NULL;
}

size_t bl_item_waits_in(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context, bl_wait_t *out,
                        size_t max) {
        size_t total = 0;
        for (int i = 0; i < BL_WAIT__COUNT; i++) {
                size_t room = total < max ? max - total : 0;
                if (reasons[i].probe)
                        total += reasons[i].probe(item, now_ms, context, room ? out + total : NULL, room);
        }
        return total;
}

size_t bl_item_waits(const bl_item_t *item, int64_t now_ms, bl_wait_t *out, size_t max) {
        return bl_item_waits_in(item, now_ms, NULL, out, max);
}

bool bl_item_waits_for_in(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context,
                          bl_wait_reason_t reason) {
        if ((unsigned)reason >= BL_WAIT__COUNT || !reasons[reason].probe)
                return false;
        return reasons[reason].probe(item, now_ms, context, NULL, 0) > 0;
}

bool bl_item_waits_for(const bl_item_t *item, int64_t now_ms, bl_wait_reason_t reason) {
        return bl_item_waits_for_in(item, now_ms, NULL, reason);
}
