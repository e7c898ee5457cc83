/*
 * backlog.c: the tasks an instance owns and every change made to them.
 *
 * Three indexes hold the items: a hash table by task_id (open addressing,
 * linear probing, each slot 32 bits of the task_id's hash and the item, doubled past
 * three quarters full, deletion by backward shift so that no tombstones
 * pile up), a binary min-heap of the one timer each item may have (the
 * earliest of its lease, retry, not_before, deadline and purge times, kept
 * by reschedule() after every change), and the scheduler (core/scheduler.c)
 * of the READY items.
 *
 * With a spill store (options.spill), a task at rest is held frozen: its
 * index and timer heap entries point at a small stub (core/frozen.h), the
 * task itself lies encoded in the store, and whatever reaches it by task_id
 * or by its timer thaws it back in place first (see "frozen tasks" below).
 * Past the lookups, every function here sees whole items only. Restore
 * reads each snapshot in place (bl_backlog_restore_view): a task at rest
 * goes from those bytes to its stub and the store without being made whole,
 * and the timers restore adds are ordered once at its end (heap_settle).
 *
 * Every change goes through record_change(): it checks the static table
 * (core/item.c), bumps the item's seq, stamps state_since, reschedules its
 * timer, keeps the READY lists right, and hands the transition with the new
 * snapshot to the sink. Nothing else writes item->state.
 *
 * A domain's agent (SPEC §13) acts through the same function: a pick is a
 * dispatch out of the scheduler's order, a hold or an escalation a change
 * to BLOCKED with cause "agent", each with the provenance the caller gives.
 * A hold's end is the task's not_before and both are marked among its
 * labels (core/wait.h), so that the snapshot alone says whose wait it is;
 * the marks go when the task leaves BLOCKED.
 *
 * Time is whatever the caller says it is (now_ms): the backlog reads no
 * clock, so tests and replay drive it deterministically. The retry jitter
 * comes from a xorshift generator seeded by the options; the chosen retry_at
 * is part of the snapshot, so history never depends on it being reproduced.
 * Single-threaded: the pipeline thread, or a test.
 */
#include "core/backlog.h"

#include "core/duration.h"
#include "core/scheduler.h"
#include "core/wait.h"

#include "base/log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * An entry of the index and the timer heap: a whole item, or a frozen task's
 * stub (core/frozen.h) with its lowest bit set (both come from malloc, so
 * that bit is free). The helpers below read either.
 */
typedef void entry_t;


struct bl_backlog_s {
        bl_backlog_options_t options;
        bl_backlog_sink_t sink;
        /*
         * The index's slots as two arrays, 12 bytes a slot: each entry (NULL: the slot is free) and the low
         * 32 bits of its task_id's hash, which a probe compares before the string and a grow places it by.
         */
        entry_t **slot_entry;
        uint32_t *slot_hash;
        size_t slot_count; /* a power of two, at most 2^32 */
        size_t item_count;
        entry_t **heap;
        size_t heap_count, heap_capacity;
        bool heap_unordered;       /* restore appended timers in any order: heap_settle() orders them */
        bl_scheduler_t *scheduler; /* the READY tasks of each domain, best first */
        uint64_t random_state;
        size_t item_bytes;         /* sum of every item's held_bytes and every stub's bytes */
        int64_t forgotten_through_ms; /* the forget horizon: see refused_as_forgotten(); BL_NO_TIME: none */
        bl_item_t **touched;       /* whole tasks changed or thawed since the last freeze (item->touched_slot) */
        size_t touched_count, touched_capacity;
        bl_item_bytes_t scratch;   /* freeze's and thaw's bytes */
        bl_frozen_arena_t *stubs;  /* where frozen tasks' stubs live; NULL without options.spill */
        bl_backlog_spill_stats_t spill_stats;
};

/* What caused a change: passed down from the event, notice or timer. */
typedef struct cause_s {
        const char *cause;
        const char *reason;
        const char *event_id;
        const char *actor; /* an operator's event: who asked (SPEC §15) */
        int64_t occurred_at_ms;
        const bl_event_origin_t *origin;
        int64_t now_ms;
        const char *dispatch_id;
        const char *policy;
        bool has_score;
        double score;
        const bl_criterion_t *rationale;
        size_t rationale_count;
        bool submission;
        const bl_provenance_t *provenance; /* who decided, beyond the policy's usual order; NULL: none */
} cause_t;

static void reschedule(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms);
static void drop_agent_marks(bl_item_t *item);
static int64_t runtime_ends_at(const bl_backlog_t *backlog, const bl_item_t *item);
static void notify_worker_of_cancel(bl_backlog_t *backlog, bl_item_t *item, const cause_t *cause);

/* ---- provenance --------------------------------------------------------------- */

bl_provenance_t bl_provenance_none(void) {
        return (bl_provenance_t){.consultation_latency_ms = -1};
}

bool bl_provenance_is_set(const bl_provenance_t *d) {
        return d && (d->decided_by || d->fallback || d->agent_rank > 0 || d->agent_reason || d->consultation_id ||
                     d->consultation_latency_ms >= 0 || d->late || d->probe);
}

/* ---- entries: whole items and frozen stubs ------------------------------------------ */

#define FROZEN_BIT ((uintptr_t)1)

static bool entry_is_frozen(const entry_t *entry) {
        return ((uintptr_t)entry & FROZEN_BIT) != 0;
}

static bl_frozen_t *entry_frozen(const entry_t *entry) {
        return (bl_frozen_t *)((uintptr_t)entry & ~FROZEN_BIT);
}

static entry_t *frozen_entry(bl_frozen_t *frozen) {
        return (entry_t *)((uintptr_t)frozen | FROZEN_BIT);
}

static const char *entry_task_id(const entry_t *entry) {
        return entry_is_frozen(entry) ? entry_frozen(entry)->task_id : ((const bl_item_t *)entry)->task_id;
}

static int64_t entry_due(const entry_t *entry) {
        return entry_is_frozen(entry) ? entry_frozen(entry)->timer_due_ms : ((const bl_item_t *)entry)->timer_due_ms;
}

static uint32_t entry_timer_slot(const entry_t *entry) {
        return entry_is_frozen(entry) ? entry_frozen(entry)->timer_slot : ((const bl_item_t *)entry)->timer_slot;
}

static void entry_set_timer_slot(entry_t *entry, uint32_t slot) {
        if (entry_is_frozen(entry))
                entry_frozen(entry)->timer_slot = slot;
        else
                ((bl_item_t *)entry)->timer_slot = slot;
}

/* ---- the hash index -------------------------------------------------------- */

static uint64_t hash_id(const char *text) {
        uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
                hash = (hash ^ *p) * 1099511628211ULL;
        return hash;
}

static size_t slot_mask(const bl_backlog_t *backlog) {
        return backlog->slot_count - 1;
}

#define NO_INDEX_SLOT SIZE_MAX

/* The index slot of @p task_id, whose hash_id is @p hash, or NO_INDEX_SLOT. */
static size_t index_slot_hashed(const bl_backlog_t *backlog, const char *task_id, uint64_t hash) {
        for (size_t i = hash & slot_mask(backlog); backlog->slot_entry[i]; i = (i + 1) & slot_mask(backlog))
                if (backlog->slot_hash[i] == (uint32_t)hash && !strcmp(entry_task_id(backlog->slot_entry[i]), task_id))
                        return i;
        return NO_INDEX_SLOT;
}

/* The index slot of @p task_id, or NO_INDEX_SLOT. */
static size_t index_slot_of(const bl_backlog_t *backlog, const char *task_id) {
        return index_slot_hashed(backlog, task_id, hash_id(task_id));
}

static bl_item_t *thaw_slot(bl_backlog_t *backlog, size_t slot);

/* The whole item of @p task_id (thawed when frozen), or NULL. */
static bl_item_t *index_find(bl_backlog_t *backlog, const char *task_id) {
        size_t slot = index_slot_of(backlog, task_id);
        if (slot == NO_INDEX_SLOT)
                return NULL;
        return entry_is_frozen(backlog->slot_entry[slot]) ? thaw_slot(backlog, slot) : backlog->slot_entry[slot];
}

/* Into the first free slot of @p hash's run; there always is one (the table is never full). */
static void index_place(entry_t **entries, uint32_t *hashes, size_t mask, uint64_t hash, entry_t *entry) {
        size_t i = hash & mask;
        while (entries[i])
                i = (i + 1) & mask;
        hashes[i] = (uint32_t)hash;
        entries[i] = entry;
}

static bool index_grow(bl_backlog_t *backlog) {
        size_t count = backlog->slot_count * 2;
        if (count > (size_t)UINT32_MAX + 1) /* the 32 bits of hash kept must place every slot */
                return false;
        entry_t **entries = calloc(count, sizeof(*entries));
        uint32_t *hashes = calloc(count, sizeof(*hashes));
        if (!entries || !hashes) {
                free(entries);
                free(hashes);
                return false;
        }
        for (size_t i = 0; i < backlog->slot_count; i++)
                if (backlog->slot_entry[i])
                        index_place(entries, hashes, count - 1, backlog->slot_hash[i], backlog->slot_entry[i]);
        free(backlog->slot_entry);
        free(backlog->slot_hash);
        backlog->slot_entry = entries;
        backlog->slot_hash = hashes;
        backlog->slot_count = count;
        return true;
}

static void mark_touched(bl_backlog_t *backlog, bl_item_t *item);

/* Room for one more entry: at most three quarters full, for short runs and always a free slot to end a probe. */
static bool index_room(bl_backlog_t *backlog) {
        return 4 * (backlog->item_count + 1) <= 3 * backlog->slot_count || index_grow(backlog);
}

static bool index_add(bl_backlog_t *backlog, bl_item_t *item) {
        if (!index_room(backlog))
                return false;
        index_place(backlog->slot_entry, backlog->slot_hash, slot_mask(backlog), hash_id(item->task_id), item);
        backlog->item_count++;
        mark_touched(backlog, item);
        return true;
}

/*
 * Frees slot @p hole and closes the gap: each later entry of the run whose
 * home is not between the hole and itself moves back into it.
 */
static void index_clear_slot(bl_backlog_t *backlog, size_t hole) {
        size_t mask = slot_mask(backlog);
        for (size_t next = (hole + 1) & mask; backlog->slot_entry[next]; next = (next + 1) & mask) {
                size_t home = backlog->slot_hash[next] & mask;
                bool home_after_hole = ((home - hole) & mask) <= ((next - hole) & mask) && home != hole;
                if (home_after_hole)
                        continue; /* it may stay: the hole is not on its way from home */
                backlog->slot_entry[hole] = backlog->slot_entry[next];
                backlog->slot_hash[hole] = backlog->slot_hash[next];
                hole = next;
        }
        backlog->slot_entry[hole] = NULL;
        backlog->slot_hash[hole] = 0;
        backlog->item_count--;
}

/* The index slot that holds @p entry itself, or NO_INDEX_SLOT. */
static size_t index_slot_holding(const bl_backlog_t *backlog, const entry_t *entry) {
        uint64_t hash = hash_id(entry_task_id(entry));
        for (size_t i = hash & slot_mask(backlog); backlog->slot_entry[i]; i = (i + 1) & slot_mask(backlog))
                if (backlog->slot_entry[i] == entry)
                        return i;
        return NO_INDEX_SLOT;
}

static void index_remove(bl_backlog_t *backlog, const bl_item_t *item) {
        size_t slot = index_slot_holding(backlog, item);
        if (slot != NO_INDEX_SLOT)
                index_clear_slot(backlog, slot);
}

/* ---- memory held -------------------------------------------------------------- */

/* Counts @p item's bytes again after a change (or for the first time: held_bytes starts at 0). */
static void account(bl_backlog_t *backlog, bl_item_t *item) {
        size_t bytes = bl_item_held_bytes(item);
        backlog->item_bytes = backlog->item_bytes - item->held_bytes + bytes;
        item->held_bytes = (uint32_t)bytes;
}

/* @p item leaves the backlog: its bytes no longer count. */
static void unaccount(bl_backlog_t *backlog, bl_item_t *item) {
        backlog->item_bytes -= item->held_bytes;
        item->held_bytes = 0;
}

/* ---- the timer heap --------------------------------------------------------- */

static void heap_place(bl_backlog_t *backlog, size_t slot, entry_t *entry) {
        backlog->heap[slot] = entry;
        entry_set_timer_slot(entry, (uint32_t)slot);
}

static void heap_up(bl_backlog_t *backlog, size_t slot) {
        entry_t *entry = backlog->heap[slot];
        while (slot > 0) {
                size_t parent = (slot - 1) / 2;
                if (entry_due(backlog->heap[parent]) <= entry_due(entry))
                        break;
                heap_place(backlog, slot, backlog->heap[parent]);
                slot = parent;
        }
        heap_place(backlog, slot, entry);
}

static void heap_down(bl_backlog_t *backlog, size_t slot) {
        entry_t *entry = backlog->heap[slot];
        for (;;) {
                size_t child = slot * 2 + 1;
                if (child >= backlog->heap_count)
                        break;
                if (child + 1 < backlog->heap_count &&
                    entry_due(backlog->heap[child + 1]) < entry_due(backlog->heap[child]))
                        child++;
                if (entry_due(entry) <= entry_due(backlog->heap[child]))
                        break;
                heap_place(backlog, slot, backlog->heap[child]);
                slot = child;
        }
        heap_place(backlog, slot, entry);
}

static void heap_remove_entry(bl_backlog_t *backlog, entry_t *entry) {
        size_t slot = entry_timer_slot(entry);
        if (slot == BL_ITEM_NO_SLOT)
                return;
        entry_set_timer_slot(entry, BL_ITEM_NO_SLOT);
        entry_t *last = backlog->heap[--backlog->heap_count];
        if (slot == backlog->heap_count)
                return;
        heap_place(backlog, slot, last);
        if (backlog->heap_unordered)
                return; /* heap_settle orders it with the rest */
        heap_up(backlog, slot);
        heap_down(backlog, entry_timer_slot(last));
}

static void heap_remove(bl_backlog_t *backlog, bl_item_t *item) {
        heap_remove_entry(backlog, item);
}

/* Room for one more timer. */
static bool heap_room(bl_backlog_t *backlog) {
        if (backlog->heap_count < backlog->heap_capacity)
                return true;
        size_t capacity = backlog->heap_capacity ? backlog->heap_capacity * 2 : 64;
        entry_t **heap = realloc(backlog->heap, capacity * sizeof(*heap));
        if (!heap)
                return false;
        backlog->heap = heap;
        backlog->heap_capacity = capacity;
        return true;
}

/*
 * Restore appends its timers without ordering them (heap_append): one
 * heapify when it is over, which costs less than ordering each of millions
 * as it comes. Whatever else uses the heap orders it first.
 */
static void heap_settle(bl_backlog_t *backlog) {
        if (!backlog->heap_unordered)
                return;
        backlog->heap_unordered = false;
        for (size_t slot = backlog->heap_count / 2; slot-- > 0;)
                heap_down(backlog, slot);
}

static bool heap_insert(bl_backlog_t *backlog, entry_t *entry) {
        if (!heap_room(backlog))
                return false;
        heap_settle(backlog);
        heap_place(backlog, backlog->heap_count++, entry);
        heap_up(backlog, entry_timer_slot(entry));
        return true;
}

/* Restore's: @p entry at the end, in no order yet (heap_settle). */
static bool heap_append(bl_backlog_t *backlog, entry_t *entry) {
        if (!heap_room(backlog))
                return false;
        heap_place(backlog, backlog->heap_count++, entry);
        backlog->heap_unordered = backlog->heap_count > 1;
        return true;
}

/* ---- frozen tasks ------------------------------------------------------------ */

/*
 * A task at rest is frozen (bl_backlog_freeze_at_rest) into a stub in its
 * index slot and timer heap slot; anything that reaches it by task_id, or
 * its timer firing, thaws it back in place first (index_find), so that
 * every function below the lookups sees whole items only. The tasks changed
 * or thawed since the last freeze are listed in touched (each knows its
 * place there, so a task is listed once and leaves the list at once when it
 * is destroyed, however long the list).
 */
static void mark_touched(bl_backlog_t *backlog, bl_item_t *item) {
        if (!backlog->options.spill || item->touched_slot != BL_ITEM_NO_SLOT)
                return;
        if (backlog->touched_count == backlog->touched_capacity) {
                size_t capacity = backlog->touched_capacity ? backlog->touched_capacity * 2 : 1024;
                bl_item_t **touched = realloc(backlog->touched, capacity * sizeof(*touched));
                if (!touched)
                        return; /* it stays whole: nothing lost */
                backlog->touched = touched;
                backlog->touched_capacity = capacity;
        }
        item->touched_slot = (uint32_t)backlog->touched_count;
        backlog->touched[backlog->touched_count++] = item;
}

/* Frees @p item, which has left the index, first taking it off the touched list. */
static void destroy_item(bl_backlog_t *backlog, bl_item_t *item) {
        if (item && item->touched_slot != BL_ITEM_NO_SLOT) {
                bl_item_t *last = backlog->touched[--backlog->touched_count];
                backlog->touched[item->touched_slot] = last;
                last->touched_slot = item->touched_slot;
        }
        bl_item_destroy(item);
}

/* A stub's bytes in the store could not be read back: the task is lost, and no decision about it is sound. */
static void thaw_failed(const char *errstr) {
        bl_log_error("backlog", "a frozen task could not be read back from the spill store, stopping: %s", errstr);
        abort();
}

static bl_item_t *thaw_slot(bl_backlog_t *backlog, size_t slot) {
        bl_frozen_t *frozen = entry_frozen(backlog->slot_entry[slot]);
        char errstr[512];
        bl_err_t err;
        bl_item_t *item = bl_frozen_thaw(frozen, backlog->options.spill, &backlog->scratch, &err, errstr, sizeof(errstr));
        if (!item)
                thaw_failed(errstr);
        backlog->slot_entry[slot] = item;
        if (item->timer_slot != BL_ITEM_NO_SLOT)
                backlog->heap[item->timer_slot] = item;
        backlog->item_bytes -= bl_frozen_held_bytes(frozen, backlog->stubs);
        bl_frozen_release(frozen, backlog->options.spill, backlog->stubs);
        account(backlog, item);
        backlog->spill_stats.frozen--;
        backlog->spill_stats.thaws_total++;
        mark_touched(backlog, item);
        return item;
}

/* Frees what index slot @p slot holds, which leaves the index, the heap and the scheduler; emits nothing. */
static void drop_slot(bl_backlog_t *backlog, size_t slot) {
        entry_t *entry = backlog->slot_entry[slot];
        index_clear_slot(backlog, slot);
        heap_remove_entry(backlog, entry);
        if (entry_is_frozen(entry)) {
                bl_frozen_t *frozen = entry_frozen(entry);
                backlog->item_bytes -= bl_frozen_held_bytes(frozen, backlog->stubs);
                backlog->spill_stats.frozen--;
                bl_frozen_release(frozen, backlog->options.spill, backlog->stubs);
                return;
        }
        bl_item_t *item = entry;
        unaccount(backlog, item);
        bl_scheduler_remove(backlog->scheduler, item);
        destroy_item(backlog, item);
}

/* Puts a stub of @p item, whole in the index, in its place; false (the item stays) when the store refused it. */
static bool freeze_item(bl_backlog_t *backlog, bl_item_t *item, char *errstr, size_t errstr_size) {
        bl_err_t err;
        size_t slot = index_slot_holding(backlog, item);
        if (slot == NO_INDEX_SLOT || !bl_frozen_may_freeze(item))
                return false;
        bl_frozen_t *frozen = bl_frozen_freeze(item, backlog->options.spill, backlog->stubs, &backlog->scratch, &err,
                                               errstr, errstr_size);
        if (!frozen) {
                backlog->spill_stats.freeze_failures_total++;
                return false;
        }
        backlog->slot_entry[slot] = frozen_entry(frozen);
        if (frozen->timer_slot != BL_ITEM_NO_SLOT)
                backlog->heap[frozen->timer_slot] = frozen_entry(frozen);
        unaccount(backlog, item);
        backlog->item_bytes += bl_frozen_held_bytes(frozen, backlog->stubs);
        destroy_item(backlog, item);
        backlog->spill_stats.frozen++;
        backlog->spill_stats.freezes_total++;
        return true;
}

size_t bl_backlog_freeze_at_rest(bl_backlog_t *backlog) {
        size_t frozen = 0, failed = 0;
        char errstr[512] = "";
        for (size_t i = 0; i < backlog->touched_count; i++) {
                bl_item_t *item = backlog->touched[i];
                item->touched_slot = BL_ITEM_NO_SLOT; /* off the list already: destroy_item need not take it off */
                if (!bl_frozen_may_freeze(item))
                        continue;
                if (freeze_item(backlog, item, errstr, sizeof(errstr)))
                        frozen++;
                else
                        failed++;
        }
        backlog->touched_count = 0;
        if (failed)
                bl_log_warn("backlog", "%zu task(s) at rest stay whole in memory, the spill store refused them: %s",
                            failed, errstr);
        return frozen;
}

void bl_backlog_spill_stats(const bl_backlog_t *backlog, bl_backlog_spill_stats_t *out) {
        *out = backlog->spill_stats;
}

void bl_backlog_foreach_frozen(bl_backlog_t *backlog, void (*fn)(bl_frozen_t *frozen, void *opaque), void *opaque) {
        for (size_t i = 0; i < backlog->slot_count; i++)
                if (backlog->slot_entry[i] && entry_is_frozen(backlog->slot_entry[i]))
                        fn(entry_frozen(backlog->slot_entry[i]), opaque);
}

/* ---- READY tasks ------------------------------------------------------------ */

/* The scheduler holds exactly the READY tasks that are not placeholders. */
static void ready_update(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        if (item->state == BL_STATE_READY && !item->placeholder)
                bl_scheduler_insert(backlog->scheduler, item, now_ms);
        else
                bl_scheduler_remove(backlog->scheduler, item);
}

/* ---- the one change function ------------------------------------------------- */

/*
 * Moves @p item to @p to (to == from records a note) and tells the sink.
 * False, with nothing changed, when the table forbids it: a bug in the
 * caller, which the unit tests hunt for.
 */
static bool record_change(bl_backlog_t *backlog, bl_item_t *item, bl_state_t to, bool first, const cause_t *cause) {
        bl_state_t from = item->state;
        int64_t from_since_ms = first ? BL_NO_TIME : item->state_since_ms;
        if (!first && !bl_state_transition_legal(from, to))
                return false;
        item->seq++;
        if (first || from != to) {
                item->state = to;
                item->state_since_ms = cause->now_ms;
        }
        if (to == BL_STATE_READY && item->ready_since_ms == BL_NO_TIME)
                item->ready_since_ms = cause->now_ms;
        if (to != BL_STATE_READY) {
                item->ready_since_ms = BL_NO_TIME;
                item->overdue = false;
        }
        if (bl_state_is_terminal(to) && item->terminal_at_ms == BL_NO_TIME)
                item->terminal_at_ms = cause->now_ms;
        if (from != to || first || to == BL_STATE_READY)
                ready_update(backlog, item, cause->now_ms); /* a note on a READY task re-scores it */
        if (!first && from == BL_STATE_BLOCKED && to != BL_STATE_BLOCKED)
                drop_agent_marks(item); /* the agent's hold or escalation is over with the wait */
        reschedule(backlog, item, cause->now_ms);
        account(backlog, item);
        mark_touched(backlog, item); /* frozen at the batch's end if it is then at rest */

        bl_transition_t transition = {
                .task_id = item->task_id,
                .seq = item->seq,
                .has_from = !first,
                .from = from,
                .to = to,
                .cause = cause->cause,
                .reason = cause->reason,
                .event_id = cause->event_id,
                .attempt = item->attempt,
                .at_ms = cause->now_ms,
                .from_since_ms = from_since_ms,
                .occurred_at_ms = cause->occurred_at_ms,
                .dispatch_id = cause->dispatch_id,
                .policy = cause->policy,
                .has_score = cause->has_score,
                .score = cause->score,
                .rationale = cause->rationale,
                .rationale_count = cause->rationale_count,
                .origin = cause->origin,
                .submission = cause->submission,
                .provenance = cause->provenance,
                .actor = cause->actor,
        };
        backlog->sink.changed(backlog->sink.opaque, &transition, item);
        return true;
}

/* ---- timers -------------------------------------------------------------------- */

static int64_t earliest(int64_t a, int64_t b) {
        if (a == BL_NO_TIME)
                return b;
        if (b == BL_NO_TIME)
                return a;
        return a < b ? a : b;
}

/*
 * When the retention of a terminal task (or a placeholder) starts: its end,
 * or its submission's occurred_at when that is later (a producer's clock
 * ahead of ours). So a purged task's own SUBMITTED always lies at or before
 * the time it was purged minus the retention: refused_as_forgotten() relies
 * on it. BL_NO_TIME when neither is known.
 */
static int64_t remembered_from(const bl_item_t *item) {
        int64_t since = item->terminal_at_ms != BL_NO_TIME ? item->terminal_at_ms : item->state_since_ms;
        if (!item->placeholder && item->submitted_at_ms != BL_NO_TIME && item->submitted_at_ms > since)
                since = item->submitted_at_ms;
        return since;
}

/* ---- deadlines (SPEC §14: on_deadline, decision_deadline_ms) --------------------------------- */

static bl_task_settings_t settings_of(const bl_backlog_t *backlog, const bl_item_t *item);

/*
 * Whether the deadline of @p item, passed, needs nothing more from its
 * timer: the policy sends it out late (dispatch_late), or escalated it
 * already (escalate: awaiting approval, or approved and so sent out late).
 * Expire always needs the timer. Asks the policy only for a passed deadline.
 */
static bool deadline_settled(const bl_backlog_t *backlog, const bl_item_t *item) {
        bl_on_deadline_t on_deadline = settings_of(backlog, item).on_deadline;
        return on_deadline == BL_ON_DEADLINE_DISPATCH_LATE ||
               (on_deadline == BL_ON_DEADLINE_ESCALATE && item->approval_required);
}

/* The deadline as a timer: none once it passed and deadline_settled() (@p now_ms BL_NO_TIME: restore, keep it). */
static int64_t deadline_due(const bl_backlog_t *backlog, const bl_item_t *item, int64_t now_ms) {
        if (item->deadline_ms == BL_NO_TIME || now_ms == BL_NO_TIME || item->deadline_ms > now_ms)
                return item->deadline_ms;
        return deadline_settled(backlog, item) ? BL_NO_TIME : item->deadline_ms;
}

/*
 * A READY task's timer: its deadline, and its decision deadline (READY
 * since + decision_deadline_ms), which marks it overdue when it fires. An
 * overdue task waits for no timer but an expiring deadline.
 */
static int64_t ready_due(const bl_backlog_t *backlog, const bl_item_t *item, int64_t now_ms) {
        if (item->overdue)
                return deadline_due(backlog, item, now_ms);
        int64_t decision_deadline_ms = settings_of(backlog, item).decision_deadline_ms;
        int64_t decision_due = decision_deadline_ms > 0 && item->ready_since_ms != BL_NO_TIME
                                       ? bl_duration_after(item->ready_since_ms, decision_deadline_ms)
                                       : BL_NO_TIME;
        return earliest(item->deadline_ms, decision_due);
}

/*
 * The one time at which @p item needs attention, given its state. A
 * not_before that has passed no longer wakes a BLOCKED task (something else
 * holds it); @p now_ms is BL_NO_TIME on restore, when every time counts.
 */
static int64_t next_due(const bl_backlog_t *backlog, const bl_item_t *item, int64_t now_ms) {
        if (bl_state_is_terminal(item->state) || item->placeholder)
                return bl_duration_after(remembered_from(item), backlog->options.retention_ms);
        switch (item->state) {
        case BL_STATE_DISPATCHED: return item->lease_expires_at_ms;
        case BL_STATE_RUNNING: return earliest(item->lease_expires_at_ms, runtime_ends_at(backlog, item));
        case BL_STATE_RETRY_WAIT: return earliest(item->retry_at_ms, deadline_due(backlog, item, now_ms));
        case BL_STATE_BLOCKED:
                return earliest(now_ms == BL_NO_TIME || item->not_before_ms > now_ms ? item->not_before_ms : BL_NO_TIME,
                                deadline_due(backlog, item, now_ms));
        case BL_STATE_QUEUED: return item->deadline_ms; /* submitted late: fire() moves it on, whatever the policy */
        case BL_STATE_READY: return ready_due(backlog, item, now_ms);
        default: return BL_NO_TIME;
        }
}

static void reschedule(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        int64_t due = next_due(backlog, item, now_ms);
        if (due == item->timer_due_ms && (due == BL_NO_TIME) == (item->timer_slot == BL_ITEM_NO_SLOT))
                return;
        heap_remove(backlog, item);
        item->timer_due_ms = due;
        if (due != BL_NO_TIME)
                heap_insert(backlog, item);
}

static uint64_t next_random(bl_backlog_t *backlog) {
        uint64_t x = backlog->random_state; /* xorshift64* */
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        backlog->random_state = x;
        return x * 0x2545F4914F6CDD1DULL;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt - 1))], base and cap as the policy says. */
static int64_t retry_delay(bl_backlog_t *backlog, const bl_task_settings_t *settings, int32_t attempt) {
        int64_t ceiling = bl_duration_backoff(settings->retry_base_ms, settings->retry_cap_ms, attempt);
        if (ceiling <= 0)
                return 0;
        uint64_t span = (uint64_t)ceiling + 1; /* at most 2^63: no overflow in uint64_t */
        return (int64_t)(next_random(backlog) % span);
}

/* ---- helpers on items ------------------------------------------------------------ */

/* The options' defaults, then whatever the policy says for this task. */
static bl_task_settings_t settings_of(const bl_backlog_t *backlog, const bl_item_t *item) {
        bl_task_settings_t settings = {.lease_ms = backlog->options.lease_ms,
                                       .retry_base_ms = backlog->options.retry_base_ms,
                                       .retry_cap_ms = backlog->options.retry_cap_ms,
                                       .max_attempts = backlog->options.max_attempts};
        if (backlog->options.settings)
                backlog->options.settings(backlog->options.policy_opaque, item, &settings);
        return settings;
}

/* A label of @p item as a number, or 0 when it has none. */
static int64_t label_number(const bl_item_t *item, const char *name) {
        const char *value;
        for (const char *key = bl_labels_next(&bl_item_cold(item)->labels, NULL, &value); key;
             key = bl_labels_next(&bl_item_cold(item)->labels, key, &value))
                if (!strcmp(key, name))
                        return strtoll(value, NULL, 10);
        return 0;
}

/* The attempts of the task's current series end at this one: after a remediation a new series starts. */
static int32_t max_attempts_of(const bl_backlog_t *backlog, const bl_item_t *item) {
        int32_t per_series = item->max_attempts > 0 ? item->max_attempts : settings_of(backlog, item).max_attempts;
        return (int32_t)label_number(item, BL_LABEL_ATTEMPT_BASE) + per_series;
}

/* When a RUNNING @p item passes its max_runtime_ms (counted from its STARTED), or BL_NO_TIME: no bound. */
static int64_t runtime_ends_at(const bl_backlog_t *backlog, const bl_item_t *item) {
        int64_t bound = settings_of(backlog, item).max_runtime_ms;
        return bound > 0 ? bl_duration_after(item->state_since_ms, bound) : BL_NO_TIME;
}

static int64_t lease_of(const bl_backlog_t *backlog, const bl_item_t *item) {
        return settings_of(backlog, item).lease_ms;
}

static void remember_event(bl_backlog_t *backlog, bl_item_t *item, const char *event_id) {
        if (!event_id || backlog->options.dedup_window == 0)
                return;
        bl_item_remember_event(item, event_id, backlog->options.dedup_window);
}

static void set_error(bl_item_t *item, const char *code, const char *message, bool retryable) {
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        if (!cold)
                return;
        cold->has_last_error = true;
        bl_item_replace_text(&cold->error_code, code);
        bl_item_replace_text(&cold->error_message, message ? message : "");
        cold->error_retryable = retryable;
}

static void notify_dependents(bl_backlog_t *backlog, const bl_item_t *item, int64_t now_ms) {
        const bl_strvec_t *dependents = &bl_item_cold(item)->dependents;
        for (size_t i = 0; i < dependents->count; i++) {
                bl_notice_t notice = {true, dependents->items[i], item->task_id, item->state, now_ms};
                backlog->sink.notice(backlog->sink.opaque, &notice);
        }
}

/*
 * Enters a terminal state, tells whoever waits for this task, sends its
 * submission to the DLQ when @p letter says why (BL_REASON_NONE: no letter),
 * and then lets go of what the task no longer needs (bl_item_trim): its
 * full snapshot has been handed to the sink, and the letter built, already.
 */
static void finish(bl_backlog_t *backlog, bl_item_t *item, bl_state_t to, const cause_t *cause, bl_reason_t letter,
                   const char *detail) {
        if (!record_change(backlog, item, to, false, cause))
                return;
        notify_dependents(backlog, item, cause->now_ms);
        if (letter != BL_REASON_NONE)
                backlog->sink.dead_letter(backlog->sink.opaque, item, letter, detail);
        bl_item_trim(item);
        account(backlog, item);
}

/* Whether the task must wait, and for what (NULL: it may be READY). */
static const char *blocked_by(const bl_item_t *item, int64_t now_ms) {
        if (bl_item_cold(item)->pending_deps.count > 0)
                return "dependency";
        if (item->not_before_ms != BL_NO_TIME && item->not_before_ms > now_ms)
                return "not_before";
        if (item->approval_required && !item->approved)
                return "approval";
        return NULL;
}

/* QUEUED, BLOCKED, READY or RETRY_WAIT (due): to READY or BLOCKED as the task's waits say. */
static void settle(bl_backlog_t *backlog, bl_item_t *item, cause_t cause) {
        const char *wait = blocked_by(item, cause.now_ms);
        bl_state_t to = wait ? BL_STATE_BLOCKED : BL_STATE_READY;
        if (item->placeholder || item->state == to)
                return;
        if (!cause.reason)
                cause.reason = wait;
        record_change(backlog, item, to, false, &cause);
}

static bool remediate(bl_backlog_t *backlog, bl_item_t *item, const cause_t *cause, char *refused,
                      size_t refused_size);

/* After FAILED: another attempt after a back-off, a remediation, or DEAD with the submission in the DLQ. */
static void retry_or_die(bl_backlog_t *backlog, bl_item_t *item, const cause_t *cause) {
        int32_t limit = max_attempts_of(backlog, item);
        cause_t next = *cause;
        const bl_item_cold_t *cold = bl_item_cold(item);
        if (cold->error_retryable && item->attempt < limit) {
                bl_task_settings_t settings = settings_of(backlog, item);
                item->retry_at_ms = bl_duration_after(cause->now_ms, retry_delay(backlog, &settings, item->attempt));
                next.reason = "retry";
                record_change(backlog, item, BL_STATE_RETRY_WAIT, false, &next);
                return;
        }
        char detail[BL_RECORD_DETAIL_MAX], refused[160] = "";
        if (remediate(backlog, item, cause, refused, sizeof(refused)))
                return;
        cold = bl_item_cold(item); /* a remediation that failed half-way may have unpacked it */
        snprintf(detail, sizeof(detail), "%s after attempt %d of %d%s%s: %s: %s",
                 cold->error_retryable ? "retries exhausted" : "not retryable", (int)item->attempt, (int)limit,
                 *refused ? ", " : "", refused, cold->error_code ? cold->error_code : "?",
                 cold->error_message ? cold->error_message : "");
        next.reason = cold->error_retryable ? "retries_exhausted" : "not_retryable";
        finish(backlog, item, BL_STATE_DEAD, &next, BL_REASON_RETRIES_EXHAUSTED, detail);
}

static void fail_attempt(bl_backlog_t *backlog, bl_item_t *item, const cause_t *cause) {
        item->lease_expires_at_ms = BL_NO_TIME;
        if (record_change(backlog, item, BL_STATE_FAILED, false, cause))
                retry_or_die(backlog, item, cause);
}

/* ---- remediation (SPEC §14) ------------------------------------------------------ */

/*
 * Gives @p item's labels the @p count pairs of @p keys and @p values,
 * replacing a label of the same key and keeping the others in their order.
 * False when out of memory (the labels then stay).
 */
static bool put_labels(bl_item_t *item, const char *const *keys, const char *const *values, size_t count) {
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        if (!cold)
                return false;
        size_t total = cold->labels.count + count, used = 0;
        const char **all_keys = calloc(total ? total : 1, sizeof(*all_keys));
        const char **all_values = calloc(total ? total : 1, sizeof(*all_values));
        bool ok = all_keys && all_values;
        const char *value;
        for (const char *key = bl_labels_next(&cold->labels, NULL, &value); ok && key;
             key = bl_labels_next(&cold->labels, key, &value)) {
                bool replaced = false;
                for (size_t i = 0; i < count; i++)
                        replaced = replaced || !strcmp(key, keys[i]);
                if (!replaced) {
                        all_keys[used] = key;
                        all_values[used++] = value;
                }
        }
        for (size_t i = 0; ok && i < count; i++) {
                all_keys[used] = keys[i];
                all_values[used++] = values[i];
        }
        bl_labels_t labels = {0};
        ok = ok && bl_labels_set(&labels, all_keys, all_values, used);
        free(all_keys);
        free(all_values);
        if (!ok)
                return false;
        bl_labels_clear(&cold->labels);
        cold->labels = labels;
        return true;
}

#define REMEDIATION_ID_INFIX ":remediation:"
#define REMEDIATION_EVENT_SUFFIX ":submitted"

/*
 * The id of @p item's remediation task of @p round into @p out, or false
 * with @p refused saying why there is none: the id, and its SUBMITTED's
 * event id, must pass the contract's limits.id_max_bytes as any producer's
 * would, or that SUBMITTED would be dead-lettered and the task would wait
 * for it for ever.
 */
static bool remediation_id(const bl_backlog_t *backlog, const bl_item_t *item, int64_t round,
                           char out[BL_ID_MAX_BYTES + 1], char *refused, size_t refused_size) {
        size_t limit = backlog->options.id_max_bytes ? backlog->options.id_max_bytes : BL_ID_MAX_BYTES;
        int size = snprintf(out, BL_ID_MAX_BYTES + 1, "%s" REMEDIATION_ID_INFIX "%" PRId64, item->task_id, round);
        size_t event_id_size = (size_t)size + strlen(REMEDIATION_EVENT_SUFFIX);
        if (size > 0 && event_id_size <= limit)
                return true;
        snprintf(refused, refused_size,
                 "no remediation: its task's event id would be %zu bytes, over limits.id_max_bytes (%zu)",
                 event_id_size, limit);
        return false;
}

/*
 * Whether @p item is a remediation task itself, "<of>:remediation:<round>"
 * with its label remediation.of saying <of>. It is not remediated in turn:
 * a rule that matched every task type would otherwise start a chain without
 * end, each link's id longer than the last.
 */
static bool is_remediation_task(const bl_item_t *item) {
        const char *of = NULL, *value;
        const bl_labels_t *labels = &bl_item_cold(item)->labels;
        for (const char *key = bl_labels_next(labels, NULL, &value); key; key = bl_labels_next(labels, key, &value))
                if (!strcmp(key, BL_LABEL_REMEDIATES))
                        of = value;
        size_t of_size = of ? strlen(of) : 0;
        return of && !strncmp(item->task_id, of, of_size) &&
               !strncmp(item->task_id + of_size, REMEDIATION_ID_INFIX, strlen(REMEDIATION_ID_INFIX));
}

/* The remediation task of @p item's round @p round (a temporary item to hand to the sink), or NULL. */
static bl_item_t *remediation_task(const bl_item_t *item, const bl_remediation_plan_t *plan, const char *task_id,
                                   int64_t round, int64_t now_ms) {
        bl_item_t *task = bl_item_new_of_kind(task_id, -1, plan->task_type, plan->domain, item->kind->tenant,
                                              item->kind->sla_class);
        const bl_item_cold_t *failed = bl_item_cold(item);
        char round_text[24], event_id[BL_ID_MAX_BYTES + sizeof(REMEDIATION_EVENT_SUFFIX)];
        snprintf(round_text, sizeof(round_text), "%" PRId64, round);
        snprintf(event_id, sizeof(event_id), "%s" REMEDIATION_EVENT_SUFFIX, task_id);
        const char *keys[] = {BL_LABEL_REMEDIATES, BL_LABEL_REMEDIATES_ROUND, BL_LABEL_REMEDIATES_TYPE,
                              BL_LABEL_FAILED_ERROR};
        const char *values[] = {item->task_id, round_text, item->kind->task_type ? item->kind->task_type : "",
                                failed->has_last_error && failed->error_code ? failed->error_code : ""};
        if (!task || !put_labels(task, keys, values, 4) || !bl_item_remember_event(task, event_id, 1)) {
                bl_item_destroy(task);
                return NULL;
        }
        task->submitted_at_ms = now_ms;
        task->business_value = item->business_value;
        task->risk = item->risk;
        return task;
}

/*
 * A task out of retries that a remediation rule takes: instead of DEAD, it
 * goes BLOCKED on a new remediation task, submitted in the same transaction
 * (the sink's submitted), and registers as its dependent through
 * backlog.deps like any dependency, wherever that task's owner is. When it
 * COMPLETED the task goes READY with a new series of attempts (the attempt
 * numbers go on: a dispatch id is never reused); when it ends otherwise, the
 * task fails with dependency_failed as any dependent would. At most
 * max_rounds times. False when no rule takes it (or out of memory): DEAD.
 */
static bool remediate(bl_backlog_t *backlog, bl_item_t *item, const cause_t *cause, char *refused,
                      size_t refused_size) {
        bl_remediation_plan_t plan = {0};
        if (!backlog->options.remediation || !backlog->sink.submitted || item->placeholder ||
            is_remediation_task(item) || !backlog->options.remediation(backlog->options.policy_opaque, item, &plan))
                return false;
        int64_t round = label_number(item, BL_LABEL_REMEDIATION_ROUND) + 1;
        char task_id[BL_ID_MAX_BYTES + 1], round_text[24], attempt_text[24], reason[2 * BL_ID_MAX_BYTES + 160];
        if (round > plan.max_rounds || !remediation_id(backlog, item, round, task_id, refused, refused_size))
                return false;
        snprintf(round_text, sizeof(round_text), "%" PRId64, round);
        snprintf(attempt_text, sizeof(attempt_text), "%d", (int)item->attempt);
        const char *keys[] = {BL_LABEL_REMEDIATION_TASK, BL_LABEL_REMEDIATION_ROUND, BL_LABEL_ATTEMPT_BASE};
        const char *values[] = {task_id, round_text, attempt_text};
        bl_item_t *task = remediation_task(item, &plan, task_id, round, cause->now_ms);
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        if (!task || !cold || bl_strvec_contains(&cold->depends_on, task_id) || !put_labels(item, keys, values, 3) ||
            !bl_strvec_push(&cold->depends_on, task_id) || !bl_strvec_push(&cold->pending_deps, task_id)) {
                bl_item_destroy(task);
                return false;
        }
        snprintf(reason, sizeof(reason), "%s: waits on remediation %s (round %" PRId64 " of %d) in %s",
                 cold->error_retryable ? "retries_exhausted" : "not_retryable", task_id, round, (int)plan.max_rounds,
                 plan.domain);
        cause_t next = *cause;
        next.cause = "remediation";
        next.reason = reason;
        if (!record_change(backlog, item, BL_STATE_BLOCKED, false, &next)) {
                bl_item_destroy(task);
                return false;
        }
        backlog->sink.submitted(backlog->sink.opaque, task);
        bl_notice_t notice = {false, task_id, item->task_id, BL_STATE_QUEUED, cause->now_ms};
        backlog->sink.notice(backlog->sink.opaque, &notice);
        bl_item_destroy(task);
        return true;
}

/* Whether @p from_task_id is the remediation task @p item waits on. */
static bool remediated_by(const bl_item_t *item, const char *from_task_id) {
        const char *value;
        for (const char *key = bl_labels_next(&bl_item_cold(item)->labels, NULL, &value); key;
             key = bl_labels_next(&bl_item_cold(item)->labels, key, &value))
                if (!strcmp(key, BL_LABEL_REMEDIATION_TASK))
                        return !strcmp(value, from_task_id);
        return false;
}

/* ---- events from producers ------------------------------------------------------- */

static const char *sla_class_of(const bl_task_event_t *event) {
        return event->sla_class ? event->sla_class : "standard";
}

/* The submission's fields into the item (its kind is already the submission's when the item is new). */
static bool copy_submission(bl_item_t *item, const bl_task_event_t *event) {
        bool ok = bl_item_set_kind(item, event->task_type, event->domain, event->tenant, sla_class_of(event));
        item->business_value = event->business_value;
        item->risk = event->risk;
        item->submitted_at_ms = event->occurred_at_ms;
        item->deadline_ms = event->has_deadline ? event->deadline_ms : BL_NO_TIME;
        item->not_before_ms = event->has_not_before ? event->not_before_ms : BL_NO_TIME;
        item->data_ready_at_ms = event->has_data_ready_at ? event->data_ready_at_ms : BL_NO_TIME;
        item->max_attempts = event->has_max_attempts ? event->max_attempts : 0;
        bl_item_cold_t *cold = NULL;
        if (ok && (event->depends_on_count || event->label_count))
                ok = (cold = bl_item_cold_for_write(item)) != NULL;
        for (size_t i = 0; ok && i < event->depends_on_count; i++)
                if (!bl_strvec_contains(&cold->depends_on, event->depends_on[i]))
                        ok = bl_strvec_push(&cold->depends_on, event->depends_on[i]) &&
                             bl_strvec_push(&cold->pending_deps, event->depends_on[i]);
        if (ok && event->label_count)
                ok = bl_labels_set(&cold->labels, event->label_keys, event->label_values, event->label_count);
        if (ok && event->has_payload) {
                item->payload = malloc(event->payload_size ? event->payload_size : 1);
                ok = item->payload != NULL;
                if (ok) {
                        memcpy(item->payload, event->payload, event->payload_size);
                        item->payload_size = (uint32_t)event->payload_size;
                        item->has_payload = true;
                }
        }
        return ok;
}

static bl_apply_result_t submit(bl_backlog_t *backlog, bl_item_t *item, const bl_task_event_t *event,
                                int32_t partition, const cause_t *cause) {
        bool placeholder = item != NULL;
        if (!item && (!(item = bl_item_new_of_kind(event->task_id, partition, event->task_type, event->domain,
                                                   event->tenant, sla_class_of(event))) ||
                      !index_add(backlog, item))) {
                bl_item_destroy(item);
                return BL_APPLY_ILLEGAL;
        }
        item->placeholder = false;
        if (!copy_submission(item, event))
                return BL_APPLY_ILLEGAL;
        item->approval_required = settings_of(backlog, item).approval_required;
        bl_item_cold_t *cold;
        if (cause->origin && cause->origin->traceparent && (cold = bl_item_cold_for_write(item)))
                bl_item_replace_text(&cold->traceparent, cause->origin->traceparent);
        remember_event(backlog, item, event->event_id);
        cause_t taken = *cause;
        taken.submission = true;
        record_change(backlog, item, BL_STATE_QUEUED, !placeholder, &taken);
        const bl_strvec_t *depends_on = &bl_item_cold(item)->depends_on;
        for (size_t i = 0; i < depends_on->count; i++) {
                bl_notice_t notice = {false, depends_on->items[i], item->task_id, BL_STATE_QUEUED, cause->now_ms};
                backlog->sink.notice(backlog->sink.opaque, &notice);
        }
        if (item->deadline_ms != BL_NO_TIME && item->deadline_ms <= cause->now_ms)
                return BL_APPLY_CHANGED; /* too late already: QUEUED until the next advance expires it */
        settle(backlog, item, *cause);
        return BL_APPLY_CHANGED;
}

/*
 * Asks the policy again whether @p item needs approval (its risk, or the
 * policy, changed). An approval given before stays valid unless the risk
 * rose past what was approved: then the task waits for a new one.
 */
static void reevaluate_approval(bl_backlog_t *backlog, bl_item_t *item, bool risk_rose, int64_t now_ms) {
        bl_task_settings_t settings = settings_of(backlog, item);
        /*
         * An escalation asks for an approval whatever the policy says: an agent's (SPEC §13), and one of
         * on_deadline escalate while its deadline stays passed (SPEC §14; a deadline moved ahead ends it).
         */
        bool escalated = item->approval_required && settings.on_deadline == BL_ON_DEADLINE_ESCALATE &&
                         item->deadline_ms != BL_NO_TIME && item->deadline_ms <= now_ms;
        bool required = settings.approval_required || escalated ||
                        bl_item_agent_mark(item, BL_AGENT_MARK_ESCALATION);
        if (required && risk_rose)
                item->approved = false;
        item->approval_required = required;
}

static void apply_update(bl_backlog_t *backlog, bl_item_t *item, const bl_task_event_t *event, const cause_t *cause) {
        bool risk_rose = event->has_risk && event->risk > item->risk;
        if (event->has_business_value)
                item->business_value = event->business_value;
        if (event->has_risk)
                item->risk = event->risk;
        if (event->has_deadline)
                item->deadline_ms = event->deadline_ms;
        if (event->has_not_before)
                item->not_before_ms = event->not_before_ms;
        if (event->has_data_ready_at)
                item->data_ready_at_ms = event->data_ready_at_ms;
        if (event->has_max_attempts)
                item->max_attempts = event->max_attempts;
        if (event->has_risk && !bl_state_is_terminal(item->state))
                reevaluate_approval(backlog, item, risk_rose, cause->now_ms);
        record_change(backlog, item, item->state, false, cause);
        /* QUEUED: submitted past its deadline; a deadline moved ahead lets it go on. */
        bool rescued = item->state == BL_STATE_QUEUED &&
                       (item->deadline_ms == BL_NO_TIME || item->deadline_ms > cause->now_ms);
        cause_t waits = *cause;
        waits.reason = NULL; /* the change that follows says what it waits for, the note above who asked */
        if (item->state == BL_STATE_READY || item->state == BL_STATE_BLOCKED || rescued)
                settle(backlog, item, waits);
}

static bl_apply_result_t illegal(const bl_task_event_t *event, const bl_item_t *item, char *detail,
                                 size_t detail_size) {
        if (item && !item->placeholder)
                snprintf(detail, detail_size, "%s for task %s in %s", bl_event_type_name(event->event_type),
                         event->task_id, bl_state_name(item->state));
        else
                snprintf(detail, detail_size, "%s for unknown task %s", bl_event_type_name(event->event_type),
                         event->task_id);
        return BL_APPLY_ILLEGAL;
}

/*
 * Whether a SUBMITTED for a task the backlog does not hold (or holds as a
 * placeholder) may be a task that ran and was purged: its occurred_at lies at
 * or before the forget horizon. Every purged task's own SUBMITTED does (see
 * remembered_from), so a producer's retry of it is refused here, not
 * dispatched again as attempt 1; a submission stamped after the horizon is a
 * new task. The caller dead-letters a refused one (transition.illegal).
 */
static bool refused_as_forgotten(const bl_backlog_t *backlog, const bl_task_event_t *event, char *detail,
                                 size_t detail_size) {
        int64_t horizon = backlog->forgotten_through_ms;
        if (horizon == BL_NO_TIME || event->occurred_at_ms > horizon)
                return false;
        snprintf(detail, detail_size,
                 "SUBMITTED for task %s occurred at %" PRId64 ", not after %" PRId64
                 ", up to which ended tasks have been forgotten (backlog.retention_ms %" PRId64
                 "): it may be a task that ran already; a new task needs a new occurred_at",
                 event->task_id, event->occurred_at_ms, horizon, backlog->options.retention_ms);
        return true;
}

static bl_apply_result_t apply_producer_event(bl_backlog_t *backlog, bl_item_t *item, const bl_task_event_t *event,
                                              int32_t partition, const cause_t *cause, char *detail,
                                              size_t detail_size) {
        if (event->event_type == BL_EVENT_SUBMITTED && item && !item->placeholder)
                return illegal(event, item, detail, detail_size);
        if (event->event_type == BL_EVENT_SUBMITTED)
                return refused_as_forgotten(backlog, event, detail, detail_size)
                               ? BL_APPLY_ILLEGAL
                               : submit(backlog, item, event, partition, cause);
        if (!item || item->placeholder || bl_state_is_terminal(item->state))
                return illegal(event, item, detail, detail_size);
        remember_event(backlog, item, event->event_id);
        switch (event->event_type) {
        case BL_EVENT_UPDATED: apply_update(backlog, item, event, cause); break;
        case BL_EVENT_CANCELLED:
        case BL_EVENT_REJECTED: /* a rejection ends the task as a cancellation would, with its cause and reason */
                notify_worker_of_cancel(backlog, item, cause);
                finish(backlog, item, BL_STATE_CANCELLED, cause, BL_REASON_NONE, NULL);
                break;
        default: /* APPROVED */
                item->approved = true;
                record_change(backlog, item, item->state, false, cause);
                if (item->state == BL_STATE_BLOCKED)
                        settle(backlog, item, *cause);
        }
        return BL_APPLY_CHANGED;
}

/* ---- results from workers ------------------------------------------------------------ */

static bl_apply_result_t stale(bl_backlog_t *backlog, bl_item_t *item, const bl_task_event_t *event, cause_t cause) {
        cause.reason = "stale_attempt";
        remember_event(backlog, item, event->event_id);
        record_change(backlog, item, item->state, false, &cause);
        return BL_APPLY_STALE;
}

static bl_apply_result_t apply_result(bl_backlog_t *backlog, bl_item_t *item, const bl_task_event_t *event,
                                      const cause_t *cause, char *detail, size_t detail_size) {
        if (!item || item->placeholder)
                return illegal(event, item, detail, detail_size);
        bool current = event->attempt == item->attempt &&
                       (item->state == BL_STATE_DISPATCHED || item->state == BL_STATE_RUNNING);
        if (!current)
                return stale(backlog, item, event, *cause);
        remember_event(backlog, item, event->event_id);
        switch (event->event_type) {
        case BL_EVENT_STARTED:
        case BL_EVENT_HEARTBEAT:
                item->lease_expires_at_ms = bl_duration_after(cause->now_ms, lease_of(backlog, item));
                record_change(backlog, item, BL_STATE_RUNNING, false, cause);
                break;
        case BL_EVENT_COMPLETED:
                item->lease_expires_at_ms = BL_NO_TIME;
                finish(backlog, item, BL_STATE_COMPLETED, cause, BL_REASON_NONE, NULL);
                break;
        default: /* FAILED */
                set_error(item, event->error_code, event->error_message, event->error_retryable);
                fail_attempt(backlog, item, cause);
        }
        return BL_APPLY_CHANGED;
}

bl_apply_result_t bl_backlog_apply_event(bl_backlog_t *backlog, const bl_task_event_t *event, int32_t partition,
                                         const bl_event_origin_t *origin, int64_t now_ms, char *detail,
                                         size_t detail_size) {
        bl_item_t *item = index_find(backlog, event->task_id);
        cause_t cause = {.cause = bl_event_type_name(event->event_type),
                         .reason = event->reason, /* an operator's event (v3) says why, and who in actor */
                         .event_id = event->event_id,
                         .actor = event->actor,
                         .occurred_at_ms = event->occurred_at_ms,
                         .origin = origin,
                         .now_ms = now_ms};
        if (item && bl_item_event_seen(item, event->event_id))
                return BL_APPLY_DUPLICATE;
        if (bl_event_type_is_result(event->event_type))
                return apply_result(backlog, item, event, &cause, detail, detail_size);
        return apply_producer_event(backlog, item, event, partition, &cause, detail, detail_size);
}

/* ---- dependency notices ----------------------------------------------------------------- */

/* A task waits on @p item: answer at once if it has ended, else remember the dependent. */
static void register_dependent(bl_backlog_t *backlog, bl_item_t *item, const bl_notice_t *notice, int32_t partition,
                               int64_t now_ms) {
        cause_t cause = {.cause = "dependent_registered", .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms};
        bool created = false;
        if (!item) {
                if (!(item = bl_item_new(notice->to_task_id, partition)) || !index_add(backlog, item)) {
                        bl_item_destroy(item);
                        return;
                }
                item->placeholder = created = true;
                cause.reason = "placeholder";
        }
        if (bl_state_is_terminal(item->state) && !item->placeholder) {
                bl_notice_t answer = {true, notice->from_task_id, item->task_id, item->state, now_ms};
                backlog->sink.notice(backlog->sink.opaque, &answer);
                return;
        }
        if (!created && bl_strvec_contains(&bl_item_cold(item)->dependents, notice->from_task_id))
                return;
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        if (cold)
                bl_strvec_push(&cold->dependents, notice->from_task_id);
        record_change(backlog, item, created ? BL_STATE_QUEUED : item->state, created, &cause);
}

/* A dependency of @p item ended: wait on, go READY, or fail. */
static void dependency_ended(bl_backlog_t *backlog, bl_item_t *item, const bl_notice_t *notice, int64_t now_ms) {
        cause_t cause = {.cause = "dependency_resolved", .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms};
        char message[BL_RECORD_DETAIL_MAX];
        if (!item || item->placeholder || bl_state_is_terminal(item->state) || !item->cold ||
            !bl_strvec_remove(&item->cold->pending_deps, notice->from_task_id))
                return;
        if (notice->outcome == BL_STATE_COMPLETED) {
                if (remediated_by(item, notice->from_task_id)) {
                        cause.cause = "remediated";
                        cause.reason = notice->from_task_id; /* a new series of attempts starts */
                }
                record_change(backlog, item, item->state, false, &cause);
                if (item->state == BL_STATE_BLOCKED || item->state == BL_STATE_QUEUED)
                        settle(backlog, item, cause);
                return;
        }
        snprintf(message, sizeof(message), "dependency %s ended %s", notice->from_task_id,
                 bl_state_name(notice->outcome));
        set_error(item, "dependency_failed", message, false);
        cause.cause = "dependency_failed";
        cause.reason = "dependency_failed";
        /* A pending dependency keeps its dependent BLOCKED, so FAILED is always legal here. */
        if (!record_change(backlog, item, BL_STATE_FAILED, false, &cause))
                return;
        finish(backlog, item, BL_STATE_DEAD, &cause, BL_REASON_DEPENDENCY_FAILED, message);
}

void bl_backlog_apply_notice(bl_backlog_t *backlog, const bl_notice_t *notice, int32_t partition, int64_t now_ms) {
        bl_item_t *item = index_find(backlog, notice->to_task_id);
        if (notice->is_outcome)
                dependency_ended(backlog, item, notice, now_ms);
        else
                register_dependent(backlog, item, notice, partition, now_ms);
}

/* ---- timers firing ----------------------------------------------------------------------- */

/* Raises the forget horizon to @p time_ms (BL_NO_TIME: leaves it). */
static void forget_through(bl_backlog_t *backlog, int64_t time_ms) {
        if (time_ms != BL_NO_TIME &&
            (backlog->forgotten_through_ms == BL_NO_TIME || time_ms > backlog->forgotten_through_ms))
                backlog->forgotten_through_ms = time_ms;
}

static void purge(bl_backlog_t *backlog, bl_item_t *item) {
        /* A placeholder never ran: forgetting it forgets no dispatch. A live task removed as a culprit
         * (bl_backlog_give_up) must not move the horizon up to now, which would refuse every new submission. */
        if (!item->placeholder && bl_state_is_terminal(item->state))
                forget_through(backlog, remembered_from(item));
        unaccount(backlog, item);
        heap_remove(backlog, item);
        bl_scheduler_remove(backlog->scheduler, item);
        index_remove(backlog, item);
        backlog->sink.purged(backlog->sink.opaque, item->task_id, item->partition);
        destroy_item(backlog, item);
}

static void expire(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        cause_t cause = {.cause = "deadline", .reason = "deadline_passed", .occurred_at_ms = BL_NO_TIME,
                         .now_ms = now_ms};
        char detail[BL_RECORD_DETAIL_MAX];
        snprintf(detail, sizeof(detail), "deadline %" PRId64 " passed in %s before dispatch", item->deadline_ms,
                 bl_state_name(item->state));
        finish(backlog, item, BL_STATE_EXPIRED, &cause, BL_REASON_DEADLINE_EXPIRED, detail);
}

/* RUNNING past its max_runtime_ms: FAILED (runtime_exceeded, retryable), heartbeats or not (SPEC §14). */
static void runtime_exceeded(bl_backlog_t *backlog, bl_item_t *item, cause_t *cause) {
        char message[BL_RECORD_DETAIL_MAX];
        snprintf(message, sizeof(message), "RUNNING since %" PRId64 " past max_runtime_ms %" PRId64,
                 item->state_since_ms, settings_of(backlog, item).max_runtime_ms);
        set_error(item, "runtime_exceeded", message, true);
        cause->cause = "runtime_exceeded";
        cause->reason = "runtime_exceeded";
        fail_attempt(backlog, item, cause);
}

/*
 * on_deadline escalate: BLOCKED awaiting approval, the transition the
 * escalation record (cause deadline, reason "escalated: ..."). Once APPROVED
 * it goes READY and out first, marked late, like dispatch_late.
 */
static void escalate(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        char reason[BL_RECORD_DETAIL_MAX];
        snprintf(reason, sizeof(reason),
                 "escalated: deadline %" PRId64 " passed in %s before dispatch; awaiting approval", item->deadline_ms,
                 bl_state_name(item->state));
        cause_t cause = {.cause = "deadline", .reason = reason, .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms};
        item->approval_required = true;
        item->approved = false;
        item->retry_at_ms = BL_NO_TIME;
        record_change(backlog, item, BL_STATE_BLOCKED, false, &cause);
}

/* A deadline passed before dispatch and not settled yet: expire or escalate, as the policy says. */
static void miss_deadline(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        if (settings_of(backlog, item).on_deadline == BL_ON_DEADLINE_ESCALATE)
                escalate(backlog, item, now_ms);
        else
                expire(backlog, item, now_ms);
}

/* Whether READY @p item goes out before any task of a better score: late, or past its decision deadline. */
static bool overdue_now(const bl_backlog_t *backlog, const bl_item_t *item, int64_t now_ms) {
        if (item->deadline_ms != BL_NO_TIME && item->deadline_ms <= now_ms)
                return true; /* fire() expires or escalates it first unless deadline_settled() */
        int64_t decision_deadline_ms = settings_of(backlog, item).decision_deadline_ms;
        return decision_deadline_ms > 0 && item->ready_since_ms != BL_NO_TIME &&
               bl_duration_after(item->ready_since_ms, decision_deadline_ms) <= now_ms;
}

/* Marks READY @p item overdue and re-scores it: the scheduler puts it first (backlog_score). No transition. */
static void make_overdue(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        item->overdue = true;
        bl_scheduler_insert(backlog->scheduler, item, now_ms);
        reschedule(backlog, item, now_ms);
}

/* Acts on the due timer of @p item; false when there was nothing to do (a stale timer). */
static bool fire(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        cause_t cause = {.occurred_at_ms = BL_NO_TIME, .now_ms = now_ms};
        int64_t seq = item->seq;
        bool expirable = item->state == BL_STATE_QUEUED || item->state == BL_STATE_BLOCKED ||
                         item->state == BL_STATE_READY || item->state == BL_STATE_RETRY_WAIT;
        bool deadline_passed = item->deadline_ms != BL_NO_TIME && item->deadline_ms <= now_ms;
        if (bl_state_is_terminal(item->state) || item->placeholder) {
                purge(backlog, item);
                return true;
        } else if (expirable && deadline_passed && !deadline_settled(backlog, item)) {
                miss_deadline(backlog, item, now_ms);
        } else if (item->state == BL_STATE_READY && !item->overdue && overdue_now(backlog, item, now_ms)) {
                make_overdue(backlog, item, now_ms);
        } else if (item->state == BL_STATE_QUEUED && deadline_passed) {
                cause.cause = "deadline";
                cause.reason = "late";
                settle(backlog, item, cause); /* submitted past its deadline, sent out late all the same */
        } else if (item->state == BL_STATE_RUNNING && runtime_ends_at(backlog, item) != BL_NO_TIME &&
                   runtime_ends_at(backlog, item) <= now_ms) {
                runtime_exceeded(backlog, item, &cause);
        } else if ((item->state == BL_STATE_DISPATCHED || item->state == BL_STATE_RUNNING) &&
                   item->lease_expires_at_ms <= now_ms) {
                set_error(item, "lease_expired", "no STARTED or HEARTBEAT within the lease", true);
                cause.cause = "lease_expired";
                cause.reason = "lease_expired";
                fail_attempt(backlog, item, &cause);
        } else if (item->state == BL_STATE_RETRY_WAIT && item->retry_at_ms <= now_ms) {
                cause.cause = "retry_due";
                item->retry_at_ms = BL_NO_TIME;
                settle(backlog, item, cause);
        } else if (item->state == BL_STATE_BLOCKED) {
                bool hold_over = bl_item_agent_mark(item, BL_AGENT_MARK_HOLD) && item->not_before_ms <= now_ms;
                cause.cause = hold_over ? "hold_ended" : "not_before";
                cause.reason = hold_over ? "agent" : NULL;
                if (hold_over)
                        drop_agent_marks(item); /* over even if something else keeps the task BLOCKED */
                settle(backlog, item, cause);
                reschedule(backlog, item, now_ms);
        } else {
                reschedule(backlog, item, now_ms); /* nothing due after all: a stale timer */
        }
        return item->seq != seq;
}

size_t bl_backlog_advance(bl_backlog_t *backlog, int64_t now_ms) {
        return bl_backlog_advance_max(backlog, now_ms, SIZE_MAX, NULL, 0);
}

size_t bl_backlog_advance_max(bl_backlog_t *backlog, int64_t now_ms, size_t max, char *last_task_id, size_t size) {
        size_t fired = 0;
        heap_settle(backlog);
        while (fired < max && backlog->heap_count > 0 && entry_due(backlog->heap[0]) <= now_ms) {
                bl_item_t *item = backlog->heap[0];
                if (entry_is_frozen(item))
                        item = index_find(backlog, entry_frozen(item)->task_id); /* thawed into heap[0] */
                int64_t due = item->timer_due_ms;
                if (last_task_id)
                        snprintf(last_task_id, size, "%s", item->task_id);
                bool moved = fire(backlog, item, now_ms); /* a purge frees the item */
                fired++;
                /*
                 * An item whose timer fired but did not move would fire forever: push it past now. One
                 * that moved may be due again at once (a retry without back-off, no retention): fire again.
                 */
                if (!moved && backlog->heap_count > 0 && backlog->heap[0] == item && item->timer_due_ms == due) {
                        heap_remove(backlog, item);
                        item->timer_due_ms = BL_NO_TIME;
                }
        }
        return fired;
}

/*
 * Whether @p item ended and is still within its retention. backlog.state holds its end, and purging it
 * early would break what a restart assumes (bl_backlog_restore_finish: whatever was purged, was purged at
 * the end of its retention, so now minus the retention is a sound forget horizon): a SUBMITTED of it sent
 * again after a restart would run it twice.
 */
static bool ended_within_retention(const bl_backlog_t *backlog, const bl_item_t *item, int64_t now_ms) {
        return bl_state_is_terminal(item->state) && !item->placeholder && now_ms != BL_NO_TIME &&
               now_ms < bl_duration_after(remembered_from(item), backlog->options.retention_ms);
}

bool bl_backlog_give_up(bl_backlog_t *backlog, const char *task_id, const char *detail, bool remove, int64_t now_ms) {
        bl_item_t *item = index_find(backlog, task_id);
        cause_t cause = {.cause = "processing_failed", .reason = "processing_failed", .occurred_at_ms = BL_NO_TIME,
                         .now_ms = now_ms};
        if (!item || ended_within_retention(backlog, item, now_ms))
                return false;
        if (remove || bl_state_is_terminal(item->state) || item->placeholder) {
                purge(backlog, item);
                return true;
        }
        set_error(item, "processing_failed", detail, false);
        item->lease_expires_at_ms = BL_NO_TIME;
        finish(backlog, item, BL_STATE_DEAD, &cause, BL_REASON_PROCESSING_FAILED, detail);
        return true;
}

int64_t bl_backlog_next_due(const bl_backlog_t *backlog) {
        heap_settle((bl_backlog_t *)backlog); /* the order of the timers, not what they are */
        return backlog->heap_count > 0 ? entry_due(backlog->heap[0]) : BL_NO_TIME;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/*
 * "<a><separator><b>" into @p out, cut to fit: the dispatch id and the policy
 * label of every decision (snprintf's format parsing was 2 % of the e2e loop).
 */
static void join_text(char *out, size_t out_size, const char *a, char separator, const char *b) {
        size_t a_size = strlen(a), b_size = strlen(b);
        if (a_size > out_size - 1)
                a_size = out_size - 1;
        memcpy(out, a, a_size);
        size_t at = a_size;
        if (at < out_size - 1)
                out[at++] = separator;
        if (b_size > out_size - 1 - at)
                b_size = out_size - 1 - at;
        memcpy(out + at, b, b_size);
        out[at + b_size] = '\0';
}

/* The decimal digits of @p number (an attempt: never negative in practice) into @p out of 12 bytes. */
static const char *decimal(int32_t number, char out[12]) {
        char *at = out + 11;
        uint32_t rest = number < 0 ? 0u - (uint32_t)number : (uint32_t)number;
        *at = '\0';
        do
                *--at = (char)('0' + rest % 10);
        while (rest /= 10);
        if (number < 0)
                *--at = '-';
        return at;
}

/*
 * A task cancelled (or rejected) while a worker holds it, DISPATCHED or
 * RUNNING: a cancellation notice to its domain's dispatch topic (SPEC §15),
 * with the task_id, attempt and dispatch_id of the dispatch it cancels, so
 * that its worker can stop and compensate, and a worker that does not read
 * the kind drops it as a duplicate dispatch_id. No policy chose it: its
 * policy is "operator" at the operator's event type, its score 0.
 */
static void notify_worker_of_cancel(bl_backlog_t *backlog, bl_item_t *item, const cause_t *cause) {
        char dispatch_id[BL_DISPATCH_ID_SIZE], attempt[12];
        if (item->state != BL_STATE_DISPATCHED && item->state != BL_STATE_RUNNING)
                return;
        join_text(dispatch_id, sizeof(dispatch_id), item->task_id, '/', decimal(item->attempt, attempt));
        bl_dispatch_t notice = {.item = item,
                                .dispatch_id = dispatch_id,
                                .policy_name = "operator",
                                .policy_version = cause->cause,
                                .decided_at_ms = cause->now_ms,
                                .cancel = true,
                                .actor = cause->actor,
                                .cancel_reason = cause->reason};
        backlog->sink.dispatched(backlog->sink.opaque, &notice);
}

/* Why a dispatch skipped the order of scores: "late" (past its deadline), "decision_deadline", or NULL. */
static const char *overdue_reason(const bl_item_t *item, bool late) {
        if (late)
                return "late";
        return item->overdue ? "decision_deadline" : NULL;
}

static void dispatch_one(bl_backlog_t *backlog, bl_item_t *item, const bl_task_settings_t *settings,
                         const bl_provenance_t *provenance, int64_t now_ms) {
        char dispatch_id[BL_DISPATCH_ID_SIZE];
        bl_criterion_t criteria[BL_BACKLOG_MAX_CRITERIA];
        bl_decision_t decision = {"fifo", "1", 0, criteria, 0};
        if (backlog->options.decide)
                backlog->options.decide(backlog->options.policy_opaque, item, now_ms, &decision);
        char policy[256], attempt[12];
        join_text(policy, sizeof(policy), decision.policy_name, '@', decision.policy_version);
        int64_t ready_since_ms = item->ready_since_ms; /* cleared by the change */
        item->attempt++;
        join_text(dispatch_id, sizeof(dispatch_id), item->task_id, '/', decimal(item->attempt, attempt));
        item->lease_expires_at_ms = bl_duration_after(now_ms, settings->lease_ms);
        bl_provenance_t decided = provenance ? *provenance : bl_provenance_none();
        decided.late = item->deadline_ms != BL_NO_TIME && item->deadline_ms <= now_ms;
        cause_t cause = {.cause = "dispatch", .reason = overdue_reason(item, decided.late),
                         .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms, .dispatch_id = dispatch_id, .policy = policy,
                         .has_score = true, .score = decision.score, .rationale = decision.criteria,
                         .rationale_count = decision.criteria_count,
                         .provenance = bl_provenance_is_set(&decided) ? &decided : NULL};
        record_change(backlog, item, BL_STATE_DISPATCHED, false, &cause);
        bl_dispatch_t dispatch = {item,           dispatch_id,          decision.score,
                                  decision.criteria, decision.criteria_count, decision.policy_name,
                                  decision.policy_version, now_ms, cause.provenance};
        dispatch.ready_since_ms = ready_since_ms;
        backlog->sink.dispatched(backlog->sink.opaque, &dispatch);
}

/*
 * The last check before a READY task leaves: the policy in force asks for an
 * approval the task lacks (whatever re-evaluation missed: a batch rolled
 * back, a restart). Then it goes BLOCKED until APPROVED and true is returned.
 */
static bool blocked_for_approval(bl_backlog_t *backlog, bl_item_t *item, const bl_task_settings_t *settings,
                                 int64_t now_ms) {
        if (!settings->approval_required || item->approved)
                return false;
        cause_t cause = {.cause = "policy", .reason = "approval", .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms};
        item->approval_required = true;
        record_change(backlog, item, BL_STATE_BLOCKED, false, &cause);
        return true;
}

static size_t dispatch_domain(bl_backlog_t *backlog, const char *domain, size_t max, int64_t now_ms,
                              bl_provenance_fn *provenance_of, void *opaque) {
        size_t sent = 0;
        bl_item_t *item;
        while (sent < max && (item = bl_scheduler_peek(backlog->scheduler, domain, now_ms))) {
                bl_task_settings_t settings = settings_of(backlog, item);
                if (blocked_for_approval(backlog, item, &settings, now_ms)) {
                        if (bl_scheduler_contains(backlog->scheduler, item))
                                break; /* the change was refused: a bug, but never a spin */
                        continue;
                }
                const bl_provenance_t *provenance = provenance_of ? provenance_of(opaque, item) : NULL;
                dispatch_one(backlog, item, &settings, provenance, now_ms); /* DISPATCHED: out of the scheduler */
                if (bl_scheduler_contains(backlog->scheduler, item))
                        break; /* the change was refused: a bug, but never a spin */
                sent++;
        }
        return sent;
}

size_t bl_backlog_dispatch(bl_backlog_t *backlog, const char *domain, size_t max, int64_t now_ms) {
        size_t sent = 0;
        if (domain)
                return dispatch_domain(backlog, domain, max, now_ms, NULL, NULL);
        for (size_t i = 0; i < bl_scheduler_domain_count(backlog->scheduler); i++)
                sent += dispatch_domain(backlog, bl_scheduler_domain_name(backlog->scheduler, i), max, now_ms, NULL,
                                        NULL);
        return sent;
}

size_t bl_backlog_dispatch_with(bl_backlog_t *backlog, const char *domain, size_t max, int64_t now_ms,
                                bl_provenance_fn *provenance_of, void *opaque) {
        return dispatch_domain(backlog, domain, max, now_ms, provenance_of, opaque);
}

/* ---- what a domain's agent decides (SPEC §13) --------------------------------------------- */

/* The READY task @p task_id, or NULL (unknown, a placeholder, or in another state). */
static bl_item_t *ready_task(const bl_backlog_t *backlog, const char *task_id) {
        size_t slot = index_slot_of(backlog, task_id);
        bl_item_t *item = slot == NO_INDEX_SLOT || entry_is_frozen(backlog->slot_entry[slot])
                                  ? NULL /* a frozen task is never READY */
                                  : backlog->slot_entry[slot];
        return item && !item->placeholder && item->state == BL_STATE_READY ? item : NULL;
}

bl_dispatch_outcome_t bl_backlog_dispatch_task(bl_backlog_t *backlog, const char *task_id,
                                               const bl_provenance_t *provenance, int64_t now_ms) {
        bl_item_t *item = ready_task(backlog, task_id);
        if (!item || !bl_scheduler_contains(backlog->scheduler, item))
                return BL_DISPATCH_NOT_READY;
        bl_task_settings_t settings = settings_of(backlog, item);
        if (blocked_for_approval(backlog, item, &settings, now_ms))
                return BL_DISPATCH_BLOCKED;
        dispatch_one(backlog, item, &settings, provenance, now_ms);
        return item->state == BL_STATE_DISPATCHED ? BL_DISPATCH_SENT : BL_DISPATCH_NOT_READY;
}

/*
 * The item's labels again, without the mark @p drop (NULL: none) and with
 * @p key = @p value added (NULL: none). False when out of memory (the
 * labels then stay as they were).
 */
static bool relabel(bl_item_t *item, const char *drop, const char *key, const char *value) {
        bl_item_cold_t *cold = bl_item_cold_for_write(item);
        if (!cold)
                return false;
        size_t count = 0, room = cold->labels.count + 1;
        const char **keys = malloc(room * sizeof(*keys)), **values = malloc(room * sizeof(*values));
        const char *at = NULL, *text;
        bool ok = keys && values;
        while (ok && (at = bl_labels_next(&cold->labels, at, &text)))
                if ((!drop || strcmp(at, drop)) && (!key || strcmp(at, key))) {
                        keys[count] = at;
                        values[count++] = text;
                }
        if (ok && key) {
                keys[count] = key;
                values[count++] = value;
        }
        bl_labels_t labels = {0};
        ok = ok && bl_labels_set(&labels, keys, values, count);
        if (ok) {
                bl_labels_clear(&cold->labels);
                cold->labels = labels;
        }
        free(keys);
        free(values);
        return ok;
}

static void drop_agent_marks(bl_item_t *item) {
        if (bl_item_agent_mark(item, BL_AGENT_MARK_HOLD))
                relabel(item, BL_AGENT_MARK_HOLD, NULL, NULL);
        if (bl_item_agent_mark(item, BL_AGENT_MARK_ESCALATION))
                relabel(item, BL_AGENT_MARK_ESCALATION, NULL, NULL);
}

/* The agent's name@version, the value of its marks: whoever reads the snapshot sees whose wait it is. */
static const char *agent_of(const bl_provenance_t *provenance) {
        return provenance && provenance->decided_by ? provenance->decided_by : "agent";
}

bool bl_backlog_agent_hold(bl_backlog_t *backlog, const char *task_id, int64_t until_ms,
                           const bl_provenance_t *provenance, int64_t now_ms) {
        bl_item_t *item = ready_task(backlog, task_id);
        if (!item || until_ms <= now_ms || !relabel(item, NULL, BL_AGENT_MARK_HOLD, agent_of(provenance)))
                return false;
        int64_t not_before = item->not_before_ms;
        item->not_before_ms = until_ms; /* what the snapshot keeps of the hold: its end (wait.h) */
        cause_t cause = {.cause = "agent", .reason = "hold", .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms,
                         .provenance = provenance};
        if (record_change(backlog, item, BL_STATE_BLOCKED, false, &cause))
                return true;
        item->not_before_ms = not_before;
        relabel(item, BL_AGENT_MARK_HOLD, NULL, NULL);
        return false;
}

bool bl_backlog_agent_escalate(bl_backlog_t *backlog, const char *task_id, const bl_provenance_t *provenance,
                               int64_t now_ms) {
        bl_item_t *item = ready_task(backlog, task_id);
        if (!item || !relabel(item, NULL, BL_AGENT_MARK_ESCALATION, agent_of(provenance)))
                return false;
        bool required = item->approval_required, approved = item->approved;
        item->approval_required = true;
        item->approved = false; /* an approval given before was for the policy's reasons, not the agent's */
        cause_t cause = {.cause = "agent", .reason = "escalation", .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms,
                         .provenance = provenance};
        if (record_change(backlog, item, BL_STATE_BLOCKED, false, &cause))
                return true;
        item->approval_required = required;
        item->approved = approved;
        relabel(item, BL_AGENT_MARK_ESCALATION, NULL, NULL);
        return false;
}

size_t bl_backlog_best_ready(bl_backlog_t *backlog, const char *domain, int64_t now_ms,
                             bool (*accept)(void *opaque, const bl_item_t *item), void *opaque,
                             const bl_item_t **out, size_t max, size_t max_visits) {
        return bl_scheduler_best(backlog->scheduler, domain, now_ms, accept, opaque, (bl_item_t **)out, max,
                                 max_visits);
}

/* ---- restore, lookup, life cycle ---------------------------------------------------------- */

void bl_backlog_restore(bl_backlog_t *backlog, bl_item_t *item) {
        size_t existing = index_slot_of(backlog, item->task_id);
        if (existing != NO_INDEX_SLOT)
                drop_slot(backlog, existing);
        item->timer_slot = BL_ITEM_NO_SLOT;
        item->timer_due_ms = BL_NO_TIME;
        item->sched_slot = BL_ITEM_NO_SLOT;
        item->held_bytes = 0;
        item->touched_slot = BL_ITEM_NO_SLOT; /* whatever a copy of an item said: this backlog's list has not got it */
        item->overdue = false; /* the timers find it again */
        if (!index_add(backlog, item)) {
                bl_item_destroy(item);
                return;
        }
        if (item->touched_slot != BL_ITEM_NO_SLOT) { /* the list's last: restore freezes it below, or leaves it */
                backlog->touched_count--;
                item->touched_slot = BL_ITEM_NO_SLOT;
        }
        if (bl_state_is_terminal(item->state))
                bl_item_trim(item); /* the snapshot comes back whole; a terminal task keeps what finish() keeps */
        account(backlog, item);
        ready_update(backlog, item, item->ready_since_ms != BL_NO_TIME ? item->ready_since_ms : 0);
        item->timer_due_ms = next_due(backlog, item, BL_NO_TIME); /* as reschedule would, its heap ordered later */
        if (item->timer_due_ms != BL_NO_TIME && !heap_append(backlog, item))
                item->timer_due_ms = BL_NO_TIME;
        char errstr[512];
        if (backlog->options.spill && bl_frozen_may_freeze(item) && !freeze_item(backlog, item, errstr, sizeof(errstr))) {
                bl_log_warn("backlog", "restored task %s stays whole in memory: %s", item->task_id, errstr);
                mark_touched(backlog, item); /* tried again at the next freeze */
        }
}

/*
 * What bl_item_trim leaves of a terminal task, as a view: no payload, and of
 * the cold fields only the last error, which @p kept holds when there is one.
 */
static void trim_view(bl_item_t *view, bl_item_cold_t *kept) {
        const bl_item_cold_t *cold = view->cold;
        view->payload = NULL;
        view->payload_size = 0;
        view->has_payload = false;
        view->cold = NULL;
        if (!cold || !cold->has_last_error)
                return;
        *kept = (bl_item_cold_t){.has_last_error = true,
                                 .error_retryable = cold->error_retryable,
                                 .error_code = cold->error_code,
                                 .error_message = cold->error_message};
        view->cold = kept;
}

/*
 * The stub of @p view, at rest, straight into the index and the timer heap
 * as bl_backlog_restore followed by freeze_item would leave it. False, with
 * nothing changed but the task's old entry dropped (which bl_backlog_restore
 * would drop too), when there was no room or the store refused the bytes
 * (@p errstr says why).
 */
static bool restore_frozen(bl_backlog_t *backlog, bl_item_t *view, char *errstr, size_t errstr_size) {
        uint64_t hash = hash_id(view->task_id);
        size_t existing = index_slot_hashed(backlog, view->task_id, hash);
        bl_err_t err;
        if (existing != NO_INDEX_SLOT)
                drop_slot(backlog, existing);
        if (!index_room(backlog) || !heap_room(backlog)) {
                snprintf(errstr, errstr_size, "out of memory");
                return false;
        }
        view->timer_due_ms = next_due(backlog, view, BL_NO_TIME);
        bl_frozen_t *frozen = bl_frozen_freeze(view, backlog->options.spill, backlog->stubs, &backlog->scratch, &err,
                                               errstr, errstr_size);
        if (!frozen) {
                backlog->spill_stats.freeze_failures_total++;
                return false;
        }
        index_place(backlog->slot_entry, backlog->slot_hash, slot_mask(backlog), hash, frozen_entry(frozen));
        backlog->item_count++;
        if (frozen->timer_due_ms != BL_NO_TIME)
                heap_append(backlog, frozen_entry(frozen)); /* room was made above */
        backlog->item_bytes += bl_frozen_held_bytes(frozen, backlog->stubs);
        backlog->spill_stats.frozen++;
        backlog->spill_stats.freezes_total++;
        return true;
}

bool bl_backlog_restore_view(bl_backlog_t *backlog, const bl_item_t *snapshot) {
        bl_item_t view = *snapshot; /* its fields the backlog's to set; what they point to stays the caller's */
        bl_item_cold_t kept;
        char errstr[512] = "";
        view.timer_slot = view.sched_slot = view.touched_slot = BL_ITEM_NO_SLOT;
        view.timer_due_ms = BL_NO_TIME;
        view.held_bytes = 0;
        view.overdue = false; /* the timers find it again */
        if (bl_state_is_terminal(view.state))
                trim_view(&view, &kept);
        if (!backlog->options.spill || !bl_frozen_may_freeze(&view))
                return false;
        if (restore_frozen(backlog, &view, errstr, sizeof(errstr)))
                return true;
        bl_log_warn("backlog", "restored task %s is taken whole: %s", view.task_id, errstr);
        return false;
}

void bl_backlog_restore_finish(bl_backlog_t *backlog, int64_t now_ms) {
        /*
         * Whatever was purged before this restore (by this instance before a restart, or by the partition's
         * previous owner) was purged by now, so its retention started at or before now - retention.
         */
        heap_settle(backlog);
        if (now_ms != BL_NO_TIME && now_ms >= backlog->options.retention_ms)
                forget_through(backlog, now_ms - backlog->options.retention_ms);
        bl_scheduler_rescore(backlog->scheduler, now_ms); /* restored tasks were scored as of no time in particular */
}

size_t bl_backlog_drop_partition(bl_backlog_t *backlog, int32_t partition) {
        size_t dropped = 0;
        bl_scheduler_remove_partition(backlog->scheduler, partition); /* at once: the loop's removals find none */
        for (size_t i = 0; i < backlog->touched_count;) { /* at once too: one pass, not one per task dropped */
                bl_item_t *item = backlog->touched[i];
                if (item->partition != partition) {
                        i++;
                        continue;
                }
                item->touched_slot = BL_ITEM_NO_SLOT;
                backlog->touched[i] = backlog->touched[--backlog->touched_count];
                if (i < backlog->touched_count)
                        backlog->touched[i]->touched_slot = (uint32_t)i;
        }
        for (size_t i = 0; i < backlog->slot_count;) {
                entry_t *entry = backlog->slot_entry[i];
                int32_t of = !entry ? -1
                             : entry_is_frozen(entry) ? entry_frozen(entry)->partition
                                                      : ((bl_item_t *)entry)->partition;
                if (!entry || of != partition) {
                        i++;
                        continue;
                }
                drop_slot(backlog, i); /* a later entry may move into slot i: look at it again */
                dropped++;
        }
        return dropped;
}

size_t bl_backlog_ready_count(const bl_backlog_t *backlog) {
        return bl_scheduler_total(backlog->scheduler);
}

size_t bl_backlog_ready_in(const bl_backlog_t *backlog, const char *domain) {
        return bl_scheduler_count(backlog->scheduler, domain);
}

bool bl_backlog_is_ready_queued(const bl_backlog_t *backlog, const bl_item_t *item) {
        return bl_scheduler_contains(backlog->scheduler, item);
}

/*
 * One item of bl_backlog_reevaluate_approvals: READY -> BLOCKED when it
 * needs an approval it lacks now; BLOCKED -> READY when the approval was all
 * it waited for and the policy no longer asks for it. True when it went BLOCKED.
 */
static bool reevaluate_one(bl_backlog_t *backlog, bl_item_t *item, int64_t now_ms) {
        if (item->placeholder || bl_state_is_terminal(item->state) || item->state == BL_STATE_DISPATCHED ||
            item->state == BL_STATE_RUNNING || item->state == BL_STATE_FAILED)
                return false;
        reevaluate_approval(backlog, item, false, now_ms);
        if (item->state != BL_STATE_READY && item->state != BL_STATE_BLOCKED)
                return false; /* QUEUED or RETRY_WAIT: settled with the new answer when they move on */
        bl_state_t before = item->state;
        cause_t cause = {.cause = "policy", .occurred_at_ms = BL_NO_TIME, .now_ms = now_ms};
        settle(backlog, item, cause);
        return before == BL_STATE_READY && item->state == BL_STATE_BLOCKED;
}

size_t bl_backlog_reevaluate_approvals(bl_backlog_t *backlog, int64_t now_ms) {
        size_t blocked = 0;
        /* record_change moves items between the scheduler's lists, never in the index: the walk stays valid */
        for (size_t i = 0; i < backlog->slot_count; i++) {
                entry_t *entry = backlog->slot_entry[i];
                if (!entry)
                        continue;
                if (entry_is_frozen(entry)) { /* only a task that may wait for an approval is thawed */
                        bl_state_t state = (bl_state_t)entry_frozen(entry)->state;
                        if (state != BL_STATE_QUEUED && state != BL_STATE_BLOCKED && state != BL_STATE_RETRY_WAIT)
                                continue;
                        entry = thaw_slot(backlog, i);
                }
                if (reevaluate_one(backlog, entry, now_ms))
                        blocked++;
        }
        return blocked;
}

void bl_backlog_rescore(bl_backlog_t *backlog, int64_t now_ms) {
        bl_scheduler_rescore(backlog->scheduler, now_ms);
}

bool bl_backlog_forget(bl_backlog_t *backlog, const char *task_id) {
        size_t slot = index_slot_of(backlog, task_id);
        if (slot == NO_INDEX_SLOT)
                return false;
        drop_slot(backlog, slot);
        return true;
}

const bl_item_t *bl_backlog_find(const bl_backlog_t *backlog, const char *task_id) {
        return index_find((bl_backlog_t *)backlog, task_id); /* a thaw changes how, not what, the backlog holds */
}

size_t bl_backlog_size(const bl_backlog_t *backlog) {
        return backlog->item_count;
}

size_t bl_backlog_memory_bytes(const bl_backlog_t *backlog) {
        return backlog->item_bytes + backlog->slot_count * (sizeof(*backlog->slot_entry) + sizeof(*backlog->slot_hash)) +
               backlog->heap_capacity * sizeof(*backlog->heap) + bl_scheduler_memory_bytes(backlog->scheduler);
}

int64_t bl_backlog_forgotten_through(const bl_backlog_t *backlog) {
        return backlog->forgotten_through_ms;
}

/* What bl_backlog_foreach hands for a frozen task: its stub's fields, every other one unset. */
static void view_of(const bl_frozen_t *frozen, bl_item_t *view) {
        *view = (bl_item_t){
                .task_id = frozen->task_id,
                .kind = frozen->kind,
                .submitted_at_ms = BL_NO_TIME,
                .deadline_ms = BL_NO_TIME,
                .not_before_ms = BL_NO_TIME,
                .data_ready_at_ms = BL_NO_TIME,
                .state_since_ms = frozen->state_since_ms,
                .ready_since_ms = BL_NO_TIME, /* as bl_frozen_may_freeze requires */
                .lease_expires_at_ms = BL_NO_TIME,
                .retry_at_ms = BL_NO_TIME,
                .terminal_at_ms = BL_NO_TIME,
                .timer_due_ms = frozen->timer_due_ms,
                .partition = frozen->partition,
                .timer_slot = frozen->timer_slot,
                .sched_slot = BL_ITEM_NO_SLOT,
                .state = (bl_state_t)frozen->state,
                .approval_required = frozen->approval_required,
                .approved = frozen->approved,
                .overdue = frozen->overdue,
        };
}

void bl_backlog_foreach(const bl_backlog_t *backlog, void (*fn)(const bl_item_t *item, void *opaque), void *opaque) {
        bl_item_t view;
        for (size_t i = 0; i < backlog->slot_count; i++) {
                entry_t *entry = backlog->slot_entry[i];
                if (!entry)
                        continue;
                if (entry_is_frozen(entry)) {
                        view_of(entry_frozen(entry), &view);
                        entry = &view;
                }
                fn(entry, opaque);
        }
}

/*
 * The scheduler's score: an overdue task (late, or past its decision
 * deadline) before any other, FIFO among them (the scheduler's tie-break);
 * the others as the policy scores them, or all alike without one (FIFO).
 */
static double backlog_score(void *opaque, const bl_item_t *item, int64_t now_ms) {
        const bl_backlog_t *backlog = opaque;
        if (item->overdue)
                return INFINITY;
        return backlog->options.score ? backlog->options.score(backlog->options.policy_opaque, item, now_ms) : 0;
}

const char *bl_on_deadline_name(bl_on_deadline_t on_deadline) {
        static const char *const names[BL_ON_DEADLINE__COUNT] = {"expire", "dispatch_late", "escalate"};
        return (unsigned)on_deadline < BL_ON_DEADLINE__COUNT ? names[on_deadline] : "?";
}

bl_backlog_t *bl_backlog_new(const bl_backlog_options_t *options, const bl_backlog_sink_t *sink) {
        bl_backlog_t *backlog = calloc(1, sizeof(*backlog));
        if (!backlog)
                return NULL;
        backlog->options = *options;
        backlog->sink = *sink;
        backlog->random_state = options->seed ? options->seed : 0x9E3779B97F4A7C15ULL;
        backlog->forgotten_through_ms = BL_NO_TIME;
        backlog->slot_count = 1024;
        backlog->slot_entry = calloc(backlog->slot_count, sizeof(*backlog->slot_entry));
        backlog->slot_hash = calloc(backlog->slot_count, sizeof(*backlog->slot_hash));
        bl_scheduler_options_t scheduler_options = {options->rescore_interval_ms, backlog_score, backlog};
        backlog->scheduler = bl_scheduler_new(&scheduler_options);
        backlog->stubs = options->spill ? bl_frozen_arena_new() : NULL;
        if (!backlog->slot_entry || !backlog->slot_hash || !backlog->scheduler || (options->spill && !backlog->stubs)) {
                bl_backlog_destroy(backlog);
                return NULL;
        }
        return backlog;
}

void bl_backlog_destroy(bl_backlog_t *backlog) {
        if (!backlog)
                return;
        for (size_t i = 0; backlog->slot_entry && i < backlog->slot_count; i++) {
                entry_t *entry = backlog->slot_entry[i];
                if (entry && entry_is_frozen(entry))
                        bl_frozen_destroy(entry_frozen(entry), backlog->stubs); /* its bytes go with the store */
                else
                        bl_item_destroy(entry);
        }
        free(backlog->touched);
        bl_frozen_arena_destroy(backlog->stubs);
        bl_item_bytes_free(&backlog->scratch);
        bl_scheduler_destroy(backlog->scheduler);
        free(backlog->slot_entry);
        free(backlog->slot_hash);
        free(backlog->heap);
        free(backlog);
}
