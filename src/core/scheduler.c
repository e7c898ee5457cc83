/*
 * scheduler.c: per domain, the READY items in a heap ordered by score
 * (SPEC §4); see scheduler.h for the order and the staleness bound.
 *
 * Each domain is one 4-ary max-heap in an array of 24-byte entries: the
 * cached score, the READY time and the item pointer. The comparison reads
 * only the entry, except on a tie of both score and READY time, when it
 * reads the items' task_ids; so a pop walks one array and touches the items
 * only to write the sched_slot of the entries it moves. Four children per
 * node halve the depth of a binary heap, and with it the cache lines a pop
 * touches at a million items; the four sit side by side in memory.
 *
 * Invariants, checked by bl_scheduler_verify():
 *   - in each domain, no entry is better than its parent;
 *   - entries[i].item->sched_slot == i, and the item's domain is the heap's;
 *   - total is the sum of the domains' counts;
 *   - every cached score of a domain was computed at or after the domain's
 *     scored_since_ms: set by a whole re-score, and by an insert into an
 *     empty domain.
 *
 * A re-score rewrites the scores in place and heapifies (Floyd, O(n)); an
 * entry that does not move is not written again, so when time shifts all
 * scores alike (aging) the heapify mostly compares. Arrays double as they
 * fill and halve below a quarter, never below MIN_CAPACITY. Domains are few
 * (the configured ones): a linear search by name finds them. Single-threaded.
 */
#include "core/scheduler.h"

#include "core/duration.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ARITY 4
#define MIN_CAPACITY 64
#define RESCORE_PREFETCH_AHEAD 8 /* items whose fields a re-score asks the cache for ahead of scoring them */
/* The span of bl_item_t a policy reads (attempt ... ready_since_ms, 104 bytes): up to three cache lines. */
#define SCORED_FIELDS_FIRST offsetof(bl_item_t, attempt)
#define SCORED_FIELDS_LAST (offsetof(bl_item_t, ready_since_ms) + sizeof(int64_t) - 1)

typedef struct entry_s {
        double score;
        int64_t ready_since_ms;
        bl_item_t *item;
} entry_t;

typedef struct domain_s {
        char *name;
        entry_t *entries;
        size_t count, capacity;
        int64_t scored_since_ms;
} domain_t;

struct bl_scheduler_s {
        bl_scheduler_options_t options;
        domain_t *domains;
        size_t domain_count;
        size_t total;
        bl_scheduler_stats_t stats;
};

/* ---- order ------------------------------------------------------------------------------ */

/* Whether @p a goes before @p b: higher score, then READY longer, then the smaller task_id. */
static inline bool better(const entry_t *a, const entry_t *b) {
        if (a->score != b->score)
                return a->score > b->score;
        if (a->ready_since_ms != b->ready_since_ms)
                return a->ready_since_ms < b->ready_since_ms;
        return strcmp(a->item->task_id, b->item->task_id) < 0;
}

static double score_of(bl_scheduler_t *scheduler, const bl_item_t *item, int64_t now_ms) {
        double score = scheduler->options.score(scheduler->options.score_opaque, item, now_ms);
        scheduler->stats.scores_total++;
        return isnan(score) ? -INFINITY : score; /* a NaN would break the order: dispatched last */
}

/* ---- the heap of one domain --------------------------------------------------------------- */

static inline void place(domain_t *domain, size_t slot, const entry_t *entry) {
        domain->entries[slot] = *entry;
        entry->item->sched_slot = slot;
}

/* Moves the entry at @p slot towards the root while it is better than its parent. */
static void sift_up(domain_t *domain, size_t slot) {
        entry_t moving = domain->entries[slot];
        size_t start = slot;
        while (slot > 0) {
                size_t parent = (slot - 1) / ARITY;
                if (!better(&moving, &domain->entries[parent]))
                        break;
                place(domain, slot, &domain->entries[parent]);
                slot = parent;
        }
        if (slot != start)
                place(domain, slot, &moving);
}

/* Moves the entry at @p slot towards the leaves while a child is better; writes nothing if it stays. */
static void sift_down(domain_t *domain, size_t slot) {
        entry_t moving = domain->entries[slot];
        size_t start = slot;
        for (;;) {
                size_t first = slot * ARITY + 1;
                if (first >= domain->count)
                        break;
                size_t end = first + ARITY < domain->count ? first + ARITY : domain->count;
                size_t best = first;
                for (size_t child = first + 1; child < end; child++)
                        if (better(&domain->entries[child], &domain->entries[best]))
                                best = child;
                if (!better(&domain->entries[best], &moving))
                        break;
                place(domain, slot, &domain->entries[best]);
                slot = best;
        }
        if (slot != start)
                place(domain, slot, &moving);
}

/* Puts the entry at @p slot, whose key changed, where it belongs. */
static void reposition(domain_t *domain, size_t slot) {
        if (slot > 0 && better(&domain->entries[slot], &domain->entries[(slot - 1) / ARITY]))
                sift_up(domain, slot);
        else
                sift_down(domain, slot);
}

static void heapify(domain_t *domain) {
        if (domain->count < 2)
                return;
        for (size_t slot = (domain->count - 2) / ARITY + 1; slot-- > 0;)
                sift_down(domain, slot);
}

static bool reserve(domain_t *domain, size_t count) {
        if (count <= domain->capacity)
                return true;
        size_t capacity = domain->capacity ? domain->capacity : MIN_CAPACITY;
        while (capacity < count)
                capacity *= 2;
        entry_t *entries = realloc(domain->entries, capacity * sizeof(*entries));
        if (!entries)
                return false;
        domain->entries = entries;
        domain->capacity = capacity;
        return true;
}

/* Gives memory back when a domain drains: halve below a quarter full. A failed realloc keeps it all. */
static void shrink(domain_t *domain) {
        if (domain->capacity <= MIN_CAPACITY || domain->count >= domain->capacity / 4)
                return;
        entry_t *entries = realloc(domain->entries, domain->capacity / 2 * sizeof(*entries));
        if (!entries)
                return;
        domain->entries = entries;
        domain->capacity /= 2;
}

static void remove_slot(bl_scheduler_t *scheduler, domain_t *domain, size_t slot) {
        domain->entries[slot].item->sched_slot = BL_ITEM_NO_SLOT;
        domain->count--;
        scheduler->total--;
        if (slot < domain->count) {
                place(domain, slot, &domain->entries[domain->count]);
                reposition(domain, slot);
        }
        shrink(domain);
}

static void rescore_domain(bl_scheduler_t *scheduler, domain_t *domain, int64_t now_ms) {
        entry_t *entries = domain->entries;
        for (size_t slot = 0; slot < domain->count; slot++) {
                /*
                 * Heap order is not memory order: every item is a cache miss. Ask for the
                 * fields of one further on while this one is scored.
                 */
                if (slot + RESCORE_PREFETCH_AHEAD < domain->count) {
                        const char *ahead = (const char *)entries[slot + RESCORE_PREFETCH_AHEAD].item;
                        __builtin_prefetch(ahead + SCORED_FIELDS_FIRST);
                        __builtin_prefetch(ahead + SCORED_FIELDS_FIRST + 64);
                        __builtin_prefetch(ahead + SCORED_FIELDS_LAST);
                }
                entries[slot].score = score_of(scheduler, entries[slot].item, now_ms);
        }
        heapify(domain);
        domain->scored_since_ms = now_ms;
        scheduler->stats.rescores_total++;
}

/* Re-scores @p domain when the interval says its scores are too old. */
static void refresh(bl_scheduler_t *scheduler, domain_t *domain, int64_t now_ms) {
        int64_t interval_ms = scheduler->options.rescore_interval_ms;
        if (interval_ms > 0 && domain->count > 0 &&
            bl_duration_between(domain->scored_since_ms, now_ms) >= interval_ms)
                rescore_domain(scheduler, domain, now_ms);
}

/* ---- domains -------------------------------------------------------------------------------- */

static domain_t *domain_find(const bl_scheduler_t *scheduler, const char *name) {
        for (size_t i = 0; i < scheduler->domain_count; i++)
                if (!strcmp(scheduler->domains[i].name, name))
                        return &scheduler->domains[i];
        return NULL;
}

static domain_t *domain_add(bl_scheduler_t *scheduler, const char *name, int64_t now_ms) {
        char *copy = strdup(name);
        domain_t *grown = copy ? realloc(scheduler->domains, (scheduler->domain_count + 1) * sizeof(*grown)) : NULL;
        if (!grown) {
                free(copy);
                return NULL;
        }
        scheduler->domains = grown;
        domain_t *domain = &scheduler->domains[scheduler->domain_count++];
        memset(domain, 0, sizeof(*domain));
        domain->name = copy;
        domain->scored_since_ms = now_ms;
        return domain;
}

/* The domain that holds @p item, or NULL when it is in none of this scheduler's heaps. */
static domain_t *holder_of(const bl_scheduler_t *scheduler, const bl_item_t *item) {
        if (item->sched_slot == BL_ITEM_NO_SLOT || !item->kind->domain)
                return NULL;
        domain_t *domain = domain_find(scheduler, item->kind->domain);
        if (!domain || item->sched_slot >= domain->count || domain->entries[item->sched_slot].item != item)
                return NULL;
        return domain;
}

/* ---- the API -------------------------------------------------------------------------------- */

bool bl_scheduler_insert(bl_scheduler_t *scheduler, bl_item_t *item, int64_t now_ms) {
        if (!item->kind->domain)
                return false;
        domain_t *domain = holder_of(scheduler, item);
        if (domain) {
                entry_t *entry = &domain->entries[item->sched_slot];
                entry->score = score_of(scheduler, item, now_ms);
                entry->ready_since_ms = item->ready_since_ms != BL_NO_TIME ? item->ready_since_ms : now_ms;
                reposition(domain, item->sched_slot);
                return true;
        }
        domain = domain_find(scheduler, item->kind->domain);
        if (!domain && !(domain = domain_add(scheduler, item->kind->domain, now_ms)))
                return false;
        if (!reserve(domain, domain->count + 1))
                return false;
        if (domain->count == 0)
                domain->scored_since_ms = now_ms; /* nothing older left in it */
        entry_t entry = {score_of(scheduler, item, now_ms),
                         item->ready_since_ms != BL_NO_TIME ? item->ready_since_ms : now_ms, item};
        place(domain, domain->count++, &entry);
        scheduler->total++;
        sift_up(domain, domain->count - 1);
        return true;
}

bool bl_scheduler_remove(bl_scheduler_t *scheduler, bl_item_t *item) {
        domain_t *domain = holder_of(scheduler, item);
        if (!domain)
                return false;
        remove_slot(scheduler, domain, item->sched_slot);
        return true;
}

size_t bl_scheduler_remove_partition(bl_scheduler_t *scheduler, int32_t partition) {
        size_t removed = 0;
        for (size_t d = 0; d < scheduler->domain_count; d++) {
                domain_t *domain = &scheduler->domains[d];
                size_t kept = 0;
                for (size_t slot = 0; slot < domain->count; slot++) {
                        entry_t entry = domain->entries[slot];
                        if (entry.item->partition == partition)
                                entry.item->sched_slot = BL_ITEM_NO_SLOT;
                        else
                                place(domain, kept++, &entry);
                }
                removed += domain->count - kept;
                domain->count = kept;
                heapify(domain); /* the memory stays: a restore after an abort fills it again */
        }
        scheduler->total -= removed;
        return removed;
}

bool bl_scheduler_contains(const bl_scheduler_t *scheduler, const bl_item_t *item) {
        return holder_of(scheduler, item) != NULL;
}

bl_item_t *bl_scheduler_peek(bl_scheduler_t *scheduler, const char *domain_name, int64_t now_ms) {
        domain_t *domain = domain_find(scheduler, domain_name);
        if (!domain || domain->count == 0)
                return NULL;
        refresh(scheduler, domain, now_ms);
        return domain->entries[0].item;
}

bl_item_t *bl_scheduler_pop(bl_scheduler_t *scheduler, const char *domain_name, int64_t now_ms, double *score) {
        domain_t *domain = domain_find(scheduler, domain_name);
        if (!domain || domain->count == 0)
                return NULL;
        refresh(scheduler, domain, now_ms);
        bl_item_t *best = domain->entries[0].item;
        if (score)
                *score = domain->entries[0].score;
        remove_slot(scheduler, domain, 0);
        return best;
}

/*
 * The frontier of bl_scheduler_best: slots of the domain's heap not yet
 * visited whose parent was, as a binary max-heap by better(). The best of
 * the frontier is the best entry of the domain not yet visited, so the walk
 * visits entries in the scheduler's order, touching O(visits) of them.
 */
typedef struct frontier_s {
        const domain_t *domain;
        size_t *slots;
        size_t count;
} frontier_t;

static bool frontier_better(const frontier_t *f, size_t a, size_t b) {
        return better(&f->domain->entries[f->slots[a]], &f->domain->entries[f->slots[b]]);
}

static void frontier_swap(frontier_t *f, size_t a, size_t b) {
        size_t slot = f->slots[a];
        f->slots[a] = f->slots[b];
        f->slots[b] = slot;
}

static void frontier_push(frontier_t *f, size_t slot) {
        size_t at = f->count++;
        f->slots[at] = slot;
        while (at > 0 && frontier_better(f, at, (at - 1) / 2)) {
                frontier_swap(f, at, (at - 1) / 2);
                at = (at - 1) / 2;
        }
}

static size_t frontier_pop(frontier_t *f) {
        size_t best = f->slots[0], at = 0;
        f->slots[0] = f->slots[--f->count];
        for (;;) {
                size_t left = 2 * at + 1, right = left + 1, top = at;
                if (left < f->count && frontier_better(f, left, top))
                        top = left;
                if (right < f->count && frontier_better(f, right, top))
                        top = right;
                if (top == at)
                        return best;
                frontier_swap(f, at, top);
                at = top;
        }
}

size_t bl_scheduler_best(bl_scheduler_t *scheduler, const char *domain_name, int64_t now_ms,
                         bl_scheduler_accept_fn *accept, void *opaque, bl_item_t **out, size_t max,
                         size_t max_visits) {
        domain_t *domain = domain_find(scheduler, domain_name);
        if (!domain || domain->count == 0 || max == 0 || max_visits == 0)
                return 0;
        refresh(scheduler, domain, now_ms);
        if (max_visits > domain->count)
                max_visits = domain->count;
        frontier_t frontier = {domain, malloc((max_visits * ARITY + 1) * sizeof(size_t)), 0};
        if (!frontier.slots)
                return 0;
        size_t found = 0;
        frontier_push(&frontier, 0);
        for (size_t visits = 0; found < max && visits < max_visits && frontier.count > 0; visits++) {
                size_t slot = frontier_pop(&frontier);
                bl_item_t *item = domain->entries[slot].item;
                if (!accept || accept(opaque, item))
                        out[found++] = item;
                for (size_t child = slot * ARITY + 1; child <= slot * ARITY + ARITY && child < domain->count; child++)
                        frontier_push(&frontier, child);
        }
        free(frontier.slots);
        return found;
}

void bl_scheduler_rescore(bl_scheduler_t *scheduler, int64_t now_ms) {
        for (size_t i = 0; i < scheduler->domain_count; i++)
                rescore_domain(scheduler, &scheduler->domains[i], now_ms);
}

size_t bl_scheduler_count(const bl_scheduler_t *scheduler, const char *domain_name) {
        const domain_t *domain = domain_find(scheduler, domain_name);
        return domain ? domain->count : 0;
}

size_t bl_scheduler_total(const bl_scheduler_t *scheduler) {
        return scheduler->total;
}

size_t bl_scheduler_memory_bytes(const bl_scheduler_t *scheduler) {
        size_t bytes = scheduler->domain_count * sizeof(*scheduler->domains);
        for (size_t i = 0; i < scheduler->domain_count; i++)
                bytes += scheduler->domains[i].capacity * sizeof(entry_t);
        return bytes;
}

size_t bl_scheduler_domain_count(const bl_scheduler_t *scheduler) {
        return scheduler->domain_count;
}

const char *bl_scheduler_domain_name(const bl_scheduler_t *scheduler, size_t index) {
        return index < scheduler->domain_count ? scheduler->domains[index].name : NULL;
}

int64_t bl_scheduler_scored_since(const bl_scheduler_t *scheduler, const char *domain_name) {
        const domain_t *domain = domain_find(scheduler, domain_name);
        return domain ? domain->scored_since_ms : BL_NO_TIME;
}

void bl_scheduler_stats(const bl_scheduler_t *scheduler, bl_scheduler_stats_t *stats) {
        *stats = scheduler->stats;
}

bool bl_scheduler_verify(const bl_scheduler_t *scheduler) {
        size_t total = 0;
        for (size_t d = 0; d < scheduler->domain_count; d++) {
                const domain_t *domain = &scheduler->domains[d];
                if (domain->count > domain->capacity)
                        return false;
                for (size_t slot = 0; slot < domain->count; slot++) {
                        const entry_t *entry = &domain->entries[slot];
                        if (entry->item->sched_slot != slot || !entry->item->kind->domain ||
                            strcmp(entry->item->kind->domain, domain->name) || isnan(entry->score))
                                return false;
                        if (slot > 0 && better(entry, &domain->entries[(slot - 1) / ARITY]))
                                return false;
                }
                total += domain->count;
        }
        return total == scheduler->total;
}

bl_scheduler_t *bl_scheduler_new(const bl_scheduler_options_t *options) {
        if (!options->score || options->rescore_interval_ms < 0)
                return NULL;
        bl_scheduler_t *scheduler = calloc(1, sizeof(*scheduler));
        if (!scheduler)
                return NULL;
        scheduler->options = *options;
        return scheduler;
}

void bl_scheduler_destroy(bl_scheduler_t *scheduler) {
        if (!scheduler)
                return;
        for (size_t d = 0; d < scheduler->domain_count; d++) {
                free(scheduler->domains[d].name);
                free(scheduler->domains[d].entries);
        }
        free(scheduler->domains);
        free(scheduler);
}
