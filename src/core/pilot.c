/*
 * pilot.c: the fold behind `backlogd pilot report` (pilot.h says what it
 * counts). It keeps two things:
 *
 *   - per domain, its rows (groups): counters and the list of waits, found
 *     by label with a linear search (a domain has a handful: one per agent
 *     version, "policy", "control"); at most MAX_GROUPS rows, the rest of a
 *     domain's agent labels share the row OVERFLOW_LABEL;
 *   - per task not yet ended, in a hash table of power-of-two buckets grown
 *     at load 1: its domain and partition, since when it is READY, the rows of its first
 *     and of its last dispatch, of its last hold or escalation, and which
 *     rows have counted it among their tasks (a bit per row).
 *
 * A task is forgotten at its terminal transition, so the table holds the
 * tasks alive at the end of the history, not every task ever seen.
 *
 * The live fold (bl_pilot_new_live, for the metrics of `run`) is the same
 * code with two differences: it keeps no list of waits (each one leaves in
 * the effect of its transition), and its caller follows only the tasks of
 * domains with an agent (bl_pilot_fold_effect's track), so that its memory
 * is those tasks alive and a few counters per row; the tasks of a revoked
 * partition are forgotten (bl_pilot_forget_partition). The metrics and the
 * report count alike because they are one fold. Not thread-safe.
 */
#include "core/pilot.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 64 /* bits of task_t.counted */
#define OVERFLOW_LABEL "(other agent versions)"
#define NO_GROUP (-1)

typedef struct group_s {
        bl_pilot_group_t row; /* the counters; wait percentiles filled by the report */
        int64_t *waits_ms;
        size_t wait_capacity;
} group_t;

typedef struct domain_s {
        char *name;
        group_t *groups;
        size_t group_count, group_capacity;
        size_t expired_undecided;
} domain_t;

typedef struct task_s {
        struct task_s *next; /* in its bucket */
        int domain;          /* index, NO_GROUP until an item named it */
        int32_t partition;   /* of its last item; -1 before one */
        int64_t ready_at_ms; /* BL_NO_TIME while not READY */
        int64_t deadline_ms;
        int first_group;     /* of its attempt-1 dispatch, while that attempt runs */
        int last_group;      /* of its last dispatch */
        int agent_group;     /* of its last hold or escalation */
        bool first_attempt_out; /* attempt 1 dispatched and not ended */
        uint64_t counted;    /* rows that counted it among their tasks */
        char task_id[];
} task_t;

struct bl_pilot_s {
        int64_t since_ms, until_ms;
        bool live;          /* bl_pilot_new_live: waits handed out, not kept */
        domain_t *domains;
        size_t domain_count, domain_capacity;
        task_t **buckets;
        size_t bucket_count, task_count;
        size_t transitions, in_window;
        int64_t first_ms, last_ms;
};

static const char *const fallback_names[BL_PILOT_FALLBACK__COUNT] = {
        "timeout", "breaker_open", "failed", "not_answered", "not_in_answer", "refused", "other",
};

const char *bl_pilot_fallback_name(bl_pilot_fallback_t fallback) {
        return (unsigned)fallback < BL_PILOT_FALLBACK__COUNT ? fallback_names[fallback] : "other";
}

const char *bl_pilot_group_kind_name(bl_pilot_group_kind_t kind) {
        switch (kind) {
        case BL_PILOT_AGENT: return "pilot";
        case BL_PILOT_POLICY: return "fallback";
        default: return "control";
        }
}

static bl_pilot_fallback_t fallback_of(const char *name) {
        for (int f = 0; name && f < BL_PILOT_FALLBACK_OTHER; f++)
                if (!strcmp(name, fallback_names[f]))
                        return (bl_pilot_fallback_t)f;
        return BL_PILOT_FALLBACK_OTHER;
}

static bool is_control(const bl_provenance_t *provenance) {
        return provenance->fallback && !strcmp(provenance->fallback, "control");
}

const char *bl_pilot_decided_by_label(const bl_provenance_t *provenance) {
        if (!provenance || !provenance->decided_by || !*provenance->decided_by)
                return NULL;
        if (strcmp(provenance->decided_by, "policy"))
                return provenance->decided_by;
        return is_control(provenance) ? "control" : "policy";
}

static bl_pilot_group_kind_t kind_of_label(const char *label) {
        if (!strcmp(label, "control"))
                return BL_PILOT_CONTROL;
        return strcmp(label, "policy") ? BL_PILOT_AGENT : BL_PILOT_POLICY;
}

/* ---- the fold's memory -------------------------------------------------------------- */

bl_pilot_t *bl_pilot_new(int64_t since_ms, int64_t until_ms) {
        bl_pilot_t *pilot = calloc(1, sizeof(*pilot));
        if (!pilot)
                return NULL;
        pilot->since_ms = since_ms;
        pilot->until_ms = until_ms;
        pilot->first_ms = pilot->last_ms = BL_NO_TIME;
        pilot->bucket_count = 64;
        if (!(pilot->buckets = calloc(pilot->bucket_count, sizeof(*pilot->buckets)))) {
                bl_pilot_destroy(pilot);
                return NULL;
        }
        return pilot;
}

bl_pilot_t *bl_pilot_new_live(void) {
        bl_pilot_t *pilot = bl_pilot_new(BL_NO_TIME, BL_NO_TIME);
        if (pilot)
                pilot->live = true;
        return pilot;
}

size_t bl_pilot_tracked(const bl_pilot_t *pilot) {
        return pilot->task_count;
}

void bl_pilot_destroy(bl_pilot_t *pilot) {
        if (!pilot)
                return;
        for (size_t b = 0; pilot->buckets && b < pilot->bucket_count; b++)
                for (task_t *task = pilot->buckets[b], *next; task; task = next) {
                        next = task->next;
                        free(task);
                }
        free(pilot->buckets);
        for (size_t d = 0; d < pilot->domain_count; d++) {
                for (size_t g = 0; g < pilot->domains[d].group_count; g++) {
                        free(pilot->domains[d].groups[g].row.label);
                        free(pilot->domains[d].groups[g].waits_ms);
                }
                free(pilot->domains[d].groups);
                free(pilot->domains[d].name);
        }
        free(pilot->domains);
        free(pilot);
}

static uint64_t hash_id(const char *text) {
        uint64_t hash = 1469598103934665603ull; /* FNV-1a */
        for (; *text; text++)
                hash = (hash ^ (unsigned char)*text) * 1099511628211ull;
        return hash;
}

static task_t **task_slot(const bl_pilot_t *pilot, const char *task_id) {
        task_t **slot = &pilot->buckets[hash_id(task_id) & (pilot->bucket_count - 1)];
        while (*slot && strcmp((*slot)->task_id, task_id))
                slot = &(*slot)->next;
        return slot;
}

static bool grow_tasks(bl_pilot_t *pilot) {
        size_t count = pilot->bucket_count * 2;
        task_t **buckets = calloc(count, sizeof(*buckets));
        if (!buckets)
                return false;
        for (size_t b = 0; b < pilot->bucket_count; b++)
                for (task_t *task = pilot->buckets[b], *next; task; task = next) {
                        next = task->next;
                        task_t **head = &buckets[hash_id(task->task_id) & (count - 1)];
                        task->next = *head;
                        *head = task;
                }
        free(pilot->buckets);
        pilot->buckets = buckets;
        pilot->bucket_count = count;
        return true;
}

/* The task's entry, made when first seen; NULL when out of memory. */
static task_t *task_of(bl_pilot_t *pilot, const char *task_id) {
        task_t **slot = task_slot(pilot, task_id), *task;
        size_t length = strlen(task_id);
        if (*slot)
                return *slot;
        if (pilot->task_count >= pilot->bucket_count && grow_tasks(pilot))
                slot = task_slot(pilot, task_id);
        if (!(task = calloc(1, sizeof(*task) + length + 1)))
                return NULL;
        memcpy(task->task_id, task_id, length + 1);
        task->domain = task->first_group = task->last_group = task->agent_group = NO_GROUP;
        task->partition = -1;
        task->ready_at_ms = task->deadline_ms = BL_NO_TIME;
        *slot = task;
        pilot->task_count++;
        return task;
}

static task_t *find_task(const bl_pilot_t *pilot, const char *task_id) {
        return *task_slot(pilot, task_id);
}

size_t bl_pilot_forget_partition(bl_pilot_t *pilot, int32_t partition) {
        size_t forgotten = 0;
        for (size_t b = 0; b < pilot->bucket_count; b++)
                for (task_t **slot = &pilot->buckets[b]; *slot;) {
                        task_t *task = *slot;
                        if (task->partition != partition) {
                                slot = &task->next;
                                continue;
                        }
                        *slot = task->next;
                        free(task);
                        pilot->task_count--;
                        forgotten++;
                }
        return forgotten;
}

static void forget_task(bl_pilot_t *pilot, const char *task_id) {
        task_t **slot = task_slot(pilot, task_id), *task = *slot;
        if (!task)
                return;
        *slot = task->next;
        free(task);
        pilot->task_count--;
}

/* The domain's index, added when new; -1 when out of memory. */
static int domain_of(bl_pilot_t *pilot, const char *name) {
        for (size_t d = 0; d < pilot->domain_count; d++)
                if (!strcmp(pilot->domains[d].name, name))
                        return (int)d;
        if (pilot->domain_count == pilot->domain_capacity) {
                size_t capacity = pilot->domain_capacity ? pilot->domain_capacity * 2 : 8;
                domain_t *domains = realloc(pilot->domains, capacity * sizeof(*domains));
                if (!domains)
                        return -1;
                pilot->domains = domains;
                pilot->domain_capacity = capacity;
        }
        domain_t *domain = &pilot->domains[pilot->domain_count];
        memset(domain, 0, sizeof(*domain));
        if (!(domain->name = strdup(name)))
                return -1;
        return (int)pilot->domain_count++;
}

/* The row @p label of @p domain, added when new; NO_GROUP when out of memory. */
static int group_of(domain_t *domain, const char *label) {
        for (size_t g = 0; g < domain->group_count; g++)
                if (!strcmp(domain->groups[g].row.label, label))
                        return (int)g;
        /* rows for every agent label but the last 3 of MAX_GROUPS: the overflow's, "policy" and "control" */
        if (domain->group_count >= MAX_GROUPS - 3 && kind_of_label(label) == BL_PILOT_AGENT &&
            strcmp(label, OVERFLOW_LABEL))
                return group_of(domain, OVERFLOW_LABEL);
        if (domain->group_count == domain->group_capacity) {
                size_t capacity = domain->group_capacity ? domain->group_capacity * 2 : 4;
                group_t *groups = realloc(domain->groups, capacity * sizeof(*groups));
                if (!groups)
                        return NO_GROUP;
                domain->groups = groups;
                domain->group_capacity = capacity;
        }
        group_t *group = &domain->groups[domain->group_count];
        memset(group, 0, sizeof(*group));
        if (!(group->row.label = strdup(label)))
                return NO_GROUP;
        group->row.kind = kind_of_label(label);
        return (int)domain->group_count++;
}

static bool add_wait(group_t *group, int64_t wait_ms) {
        if (group->row.waits == group->wait_capacity) {
                size_t capacity = group->wait_capacity ? group->wait_capacity * 2 : 64;
                int64_t *waits = realloc(group->waits_ms, capacity * sizeof(*waits));
                if (!waits)
                        return false;
                group->waits_ms = waits;
                group->wait_capacity = capacity;
        }
        group->waits_ms[group->row.waits++] = wait_ms < 0 ? 0 : wait_ms;
        return true;
}

/* ---- the fold ---------------------------------------------------------------------------- */

static bool in_window(const bl_pilot_t *pilot, int64_t at_ms) {
        return (pilot->since_ms == BL_NO_TIME || at_ms >= pilot->since_ms) &&
               (pilot->until_ms == BL_NO_TIME || at_ms < pilot->until_ms);
}

/* READY -> DISPATCHED: the row of whoever decided, its wait, retries and fallbacks. */
static bl_err_t fold_dispatch(bl_pilot_t *pilot, task_t *task, const bl_transition_t *t, const bl_item_t *item,
                              bool counted, bl_pilot_effect_t *effect) {
        const char *label = bl_pilot_decided_by_label(t->provenance);
        int64_t ready_at = task->ready_at_ms != BL_NO_TIME ? task->ready_at_ms
                                                           : item ? item->ready_since_ms : BL_NO_TIME;
        task->last_group = NO_GROUP;
        task->first_group = NO_GROUP;
        task->first_attempt_out = false;
        if (!label || task->domain < 0)
                return BL_OK; /* the policy alone, in a domain without an agent (then) */
        domain_t *domain = &pilot->domains[task->domain];
        int g = group_of(domain, label);
        if (g == NO_GROUP)
                return BL_ERR_NOMEM;
        task->last_group = g;
        if (t->attempt <= 1) {
                task->first_group = g;
                task->first_attempt_out = true;
        }
        if (!counted)
                return BL_OK;
        group_t *group = &domain->groups[g];
        group->row.dispatches++;
        if (!(task->counted & (UINT64_C(1) << g))) {
                task->counted |= UINT64_C(1) << g;
                group->row.tasks++;
        }
        if (t->attempt > 1)
                group->row.retries++;
        if (group->row.kind == BL_PILOT_POLICY)
                group->row.fallbacks[fallback_of(t->provenance->fallback)]++;
        effect->dispatch_label = group->row.label;
        if (ready_at == BL_NO_TIME)
                return BL_OK;
        effect->wait_ms = t->at_ms > ready_at ? t->at_ms - ready_at : 0;
        if (pilot->live) {
                group->row.waits++;
                return BL_OK;
        }
        return add_wait(group, effect->wait_ms) ? BL_OK : BL_ERR_NOMEM;
}

/* A transition with cause "agent": a hold, or an escalation when it leaves the task awaiting approval. */
static bl_err_t fold_agent_action(bl_pilot_t *pilot, task_t *task, const bl_transition_t *t, const bl_item_t *item,
                                  bool counted) {
        const char *label = bl_pilot_decided_by_label(t->provenance);
        if (task->domain < 0)
                return BL_OK;
        domain_t *domain = &pilot->domains[task->domain];
        int g = group_of(domain, label && kind_of_label(label) == BL_PILOT_AGENT ? label : "agent");
        if (g == NO_GROUP)
                return BL_ERR_NOMEM;
        task->agent_group = g;
        if (!counted)
                return BL_OK;
        if (t->reason ? !strcmp(t->reason, "escalation") : item && item->approval_required && !item->approved)
                domain->groups[g].row.escalations++;
        else
                domain->groups[g].row.holds++;
        return BL_OK;
}

/* The end of attempt 1 (it leaves DISPATCHED or RUNNING), and a terminal state's deadline verdict. */
static void fold_outcome(bl_pilot_t *pilot, task_t *task, const bl_transition_t *t, bool counted,
                         bl_pilot_effect_t *effect) {
        bool leaves_attempt = t->has_from && (t->from == BL_STATE_DISPATCHED || t->from == BL_STATE_RUNNING) &&
                              t->to != BL_STATE_RUNNING;
        if (task->domain < 0)
                return;
        domain_t *domain = &pilot->domains[task->domain];
        if (leaves_attempt && task->first_attempt_out) {
                task->first_attempt_out = false;
                if (counted && task->first_group != NO_GROUP) {
                        bl_pilot_group_t *row = &domain->groups[task->first_group].row;
                        row->first_attempts++;
                        if (t->to == BL_STATE_COMPLETED)
                                row->first_attempt_successes++;
                        effect->attempt_label = row->label;
                        effect->attempt_succeeded = t->to == BL_STATE_COMPLETED;
                }
        }
        if (!counted)
                return;
        bool late = t->to == BL_STATE_COMPLETED && task->deadline_ms != BL_NO_TIME && t->at_ms > task->deadline_ms;
        if (t->to != BL_STATE_EXPIRED && !late)
                return;
        int g = task->last_group != NO_GROUP ? task->last_group : task->agent_group;
        if (g == NO_GROUP) {
                if (t->to == BL_STATE_EXPIRED)
                        domain->expired_undecided++;
                effect->expired_undecided = t->to == BL_STATE_EXPIRED;
                return;
        }
        effect->miss_label = domain->groups[g].row.label;
        domain->groups[g].row.deadline_misses++;
        if (late)
                domain->groups[g].row.completed_late++;
        else
                domain->groups[g].row.expired++;
}

/* What the item after the change tells of the task: its domain and deadline. */
static bl_err_t note_item(bl_pilot_t *pilot, task_t *task, const bl_item_t *item) {
        if (!item || !item->kind || !item->kind->domain || !*item->kind->domain)
                return BL_OK;
        if (task->domain < 0 || strcmp(pilot->domains[task->domain].name, item->kind->domain)) {
                int d = domain_of(pilot, item->kind->domain);
                if (d < 0)
                        return BL_ERR_NOMEM;
                task->domain = d;
        }
        task->deadline_ms = item->deadline_ms;
        task->partition = item->partition;
        return BL_OK;
}

/* Whether a transition speaks of an agent's pilot itself: followed even in a domain not known to have one. */
static bool names_the_pilot(const bl_transition_t *t) {
        return bl_pilot_decided_by_label(t->provenance) || (t->cause && !strcmp(t->cause, "agent"));
}

bl_err_t bl_pilot_fold(bl_pilot_t *pilot, const bl_transition_t *t, const bl_item_t *item_after) {
        bl_pilot_effect_t effect;
        return bl_pilot_fold_effect(pilot, t, item_after, true, &effect);
}

bl_err_t bl_pilot_fold_effect(bl_pilot_t *pilot, const bl_transition_t *t, const bl_item_t *item_after, bool track,
                              bl_pilot_effect_t *effect) {
        bool counted = in_window(pilot, t->at_ms);
        task_t *task;
        bl_err_t err = BL_OK;
        *effect = (bl_pilot_effect_t){.wait_ms = -1};
        if (!t->task_id)
                return BL_OK;
        if (!track && !names_the_pilot(t) && !(task = find_task(pilot, t->task_id)))
                return BL_OK;
        if (!(task = task_of(pilot, t->task_id)))
                return BL_ERR_NOMEM;
        pilot->transitions++;
        if (counted) {
                pilot->in_window++;
                if (pilot->first_ms == BL_NO_TIME || t->at_ms < pilot->first_ms)
                        pilot->first_ms = t->at_ms;
                if (pilot->last_ms == BL_NO_TIME || t->at_ms > pilot->last_ms)
                        pilot->last_ms = t->at_ms;
        }
        if ((err = note_item(pilot, task, item_after)) != BL_OK)
                return err;
        if (task->domain >= 0)
                effect->domain = pilot->domains[task->domain].name;
        if (t->to == BL_STATE_DISPATCHED)
                err = fold_dispatch(pilot, task, t, item_after, counted, effect);
        else if (t->cause && !strcmp(t->cause, "agent"))
                err = fold_agent_action(pilot, task, t, item_after, counted);
        fold_outcome(pilot, task, t, counted, effect);
        if (t->to == BL_STATE_READY && (!t->has_from || t->from != BL_STATE_READY))
                task->ready_at_ms = t->at_ms;
        else if (t->to != BL_STATE_READY)
                task->ready_at_ms = BL_NO_TIME;
        if (bl_state_is_terminal(t->to))
                forget_task(pilot, t->task_id);
        return err;
}

/* ---- the report ------------------------------------------------------------------------- */

static int compare_ms(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest wait with at least @p percent of the waits at or below it. */
static int64_t percentile(const int64_t *sorted, size_t count, int percent) {
        size_t rank = (count * (size_t)percent + 99) / 100;
        return count ? sorted[rank ? rank - 1 : 0] : -1;
}

static int row_order(const void *a, const void *b) {
        const bl_pilot_group_t *x = a, *y = b;
        if (x->kind != y->kind)
                return (int)x->kind - (int)y->kind;
        return strcmp(x->label, y->label);
}

static int domain_order(const void *a, const void *b) {
        return strcmp(((const bl_pilot_domain_t *)a)->domain, ((const bl_pilot_domain_t *)b)->domain);
}

static bool report_domain(const domain_t *domain, bl_pilot_domain_t *out) {
        out->domain = strdup(domain->name);
        out->groups = calloc(domain->group_count, sizeof(*out->groups));
        out->expired_undecided = domain->expired_undecided;
        if (!out->domain || !out->groups)
                return false;
        for (size_t g = 0; g < domain->group_count; g++) {
                const group_t *group = &domain->groups[g];
                bl_pilot_group_t *row = &out->groups[out->group_count];
                *row = group->row;
                if (!(row->label = strdup(group->row.label)))
                        return false;
                out->group_count++;
                if (group->row.waits > 1)
                        qsort(group->waits_ms, group->row.waits, sizeof(*group->waits_ms), compare_ms);
                row->wait_p50_ms = percentile(group->waits_ms, group->row.waits, 50);
                row->wait_p90_ms = percentile(group->waits_ms, group->row.waits, 90);
        }
        if (out->group_count > 1)
                qsort(out->groups, out->group_count, sizeof(*out->groups), row_order);
        return true;
}

bl_err_t bl_pilot_report(const bl_pilot_t *pilot, bl_pilot_report_t *report) {
        memset(report, 0, sizeof(*report));
        report->transitions = pilot->transitions;
        report->in_window = pilot->in_window;
        report->first_ms = pilot->first_ms;
        report->last_ms = pilot->last_ms;
        if (pilot->domain_count && !(report->domains = calloc(pilot->domain_count, sizeof(*report->domains))))
                return BL_ERR_NOMEM;
        for (size_t d = 0; d < pilot->domain_count; d++) {
                if (!pilot->domains[d].group_count)
                        continue; /* no decision ever named decided_by: a domain without an agent */
                if (!report_domain(&pilot->domains[d], &report->domains[report->domain_count++])) {
                        bl_pilot_report_free(report);
                        return BL_ERR_NOMEM;
                }
        }
        if (report->domain_count > 1)
                qsort(report->domains, report->domain_count, sizeof(*report->domains), domain_order);
        return BL_OK;
}

void bl_pilot_report_free(bl_pilot_report_t *report) {
        for (size_t d = 0; report && d < report->domain_count; d++) {
                for (size_t g = 0; g < report->domains[d].group_count; g++)
                        free(report->domains[d].groups[g].label);
                free(report->domains[d].groups);
                free(report->domains[d].domain);
        }
        if (report) {
                free(report->domains);
                memset(report, 0, sizeof(*report));
        }
}
