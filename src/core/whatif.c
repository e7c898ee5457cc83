/*
 * whatif.c: the offline canary behind `backlogd replay --policy`: READY
 * episodes cut from the recorded transitions, then each domain replayed
 * with a candidate policy deciding at the recorded decision times.
 *
 * The fold keeps one entry per task id (a chained hash table, FNV-1a,
 * power-of-two buckets grown at load 1) with the episode READY now and the
 * last one that ended in a dispatch (a READY episode after it is that
 * dispatch's retry). Episodes hold only what scoring and reporting need: the
 * arrival, the versions of the scored fields (business_value, risk,
 * deadline, data_ready_at, max_attempts) with their times, and how the
 * episode ended: about 300 bytes with its share of the task's entry. While
 * the candidate has an episode READY, and only then, it has a bl_item_t of
 * its own for the scheduler to hold and the policy to score; that item
 * borrows its task_id and domain from the whatif and is freed, never given
 * to bl_item_destroy, when the episode leaves.
 *
 * Every transition's partition and offset are kept with what it started,
 * changed or ended, so that events of one millisecond can be put in the
 * order the pipeline made them.
 *
 * The run works on one domain at a time: its recorded decisions in the
 * order they were made (time, then partition and offset), a min-heap of the
 * events that change the candidate's READY set (arrivals, updates,
 * departures; a retry is pushed when the candidate dispatches the attempt
 * before it), and a core/scheduler.c instance with no automatic re-score
 * that is re-scored at each decision time, so every pick is by the
 * candidate's score at that time, exactly, at O(n) per distinct decision
 * time. The events of a decision's own millisecond wait aside and are
 * applied decision by decision, those that happened before each. Nothing of
 * the run is kept in the fold but the per-episode scratch fields, which
 * each run resets. Single-threaded.
 */
#include "core/whatif.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/capacity.h"
#include "core/duration.h"
#include "core/scheduler.h"

/* ---- the folded history ----------------------------------------------------- */

/* The fields a score reads that an UPDATED event can change, from @p at_ms on. */
typedef struct version_s {
        int64_t at_ms;
        int64_t offset; /* of its transition in the task's partition */
        double business_value;
        double risk;
        int64_t deadline_ms;
        int64_t data_ready_at_ms;
        int32_t max_attempts;
} version_t;

typedef enum { END_OPEN, END_DISPATCHED, END_LEFT } end_t;

/* Where an episode is in the candidate's world during a run. */
typedef enum { SIM_PENDING, SIM_READY, SIM_DONE } sim_state_t;

struct episode_s;

/* What the scheduler holds for an episode the candidate has READY. */
typedef struct ready_item_s {
        struct episode_s *episode;
        bl_item_t item; /* last: it ends in a flexible array (unused here) */
} ready_item_t;

typedef struct episode_s {
        char *task_id;        /* the task entry's */
        size_t domain;        /* index into whatif->domains */
        int32_t attempt;      /* of its dispatch, recorded or would-be */
        int32_t partition;    /* of the task's transitions */
        int64_t ready_at_ms;  /* recorded arrival */
        int64_t ready_offset; /* of the transition into READY */
        version_t *versions;  /* [0] at arrival, then one per change while READY */
        size_t version_count, version_capacity;
        end_t end;
        int64_t end_at_ms;
        int64_t end_offset;         /* of the transition out of READY */
        bl_state_t left_to;         /* with END_LEFT */
        struct episode_s *follower; /* the retry that came after its dispatch */
        bool is_follower;

        /* the run's scratch, reset by each run */
        sim_state_t sim;
        bool departed; /* left the recorded READY set before the candidate had it */
        size_t version_now;
        int64_t candidate_ready_at_ms;
        int64_t candidate_end_at_ms;
        bl_whatif_outcome_t candidate_outcome;
        size_t recorded_position, candidate_position;
        size_t pool_slot;
        ready_item_t *ready_item; /* while SIM_READY */
} episode_t;

typedef struct task_s {
        char *task_id;
        int64_t state_since_ms; /* when its last change of state was recorded: the next one's from_since */
        struct task_s *bucket_next;
        episode_t *open;       /* READY now */
        episode_t *dispatched; /* the last episode, ended by a dispatch, with none READY since */
} task_t;

typedef struct label_s {
        char *text;
        size_t count;
} label_t;

/*
 * A recorded change into or out of DISPATCHED or RUNNING: what the capacity
 * estimate learns from (results, pickups, runtimes) and the domain's tasks
 * in flight, replayed in time order with the decisions (deadline_risk).
 */
typedef struct capacity_sample_s {
        int64_t at_ms;
        int64_t from_since_ms;
        size_t domain;
        bl_state_t from, to;
        bool by_worker; /* not a lease that expired */
} capacity_sample_t;

struct bl_whatif_s {
        capacity_sample_t *samples; /* in the order folded */
        size_t sample_count, sample_capacity;
        bl_capacity_options_t capacity_options;
        task_t **buckets;
        size_t bucket_count; /* a power of two */
        task_t **tasks;
        size_t task_count, task_capacity;
        episode_t **episodes; /* in the order they started */
        size_t episode_count, episode_capacity;
        char **domains; /* interned, in the order first seen */
        size_t domain_count;
        label_t *policies; /* recorded decisions by label, in the order first seen */
        size_t policy_count;
        size_t transitions;
        size_t decisions_skipped;
        int64_t history_end_ms;
};

static const char *const outcome_names[BL_WHATIF__OUTCOMES] = {"dispatched", "expired", "left", "waiting", "not_ready"};

const char *bl_whatif_outcome_name(bl_whatif_outcome_t outcome) {
        return outcome < BL_WHATIF__OUTCOMES ? outcome_names[outcome] : "unknown";
}

static uint64_t hash_id(const char *text) {
        uint64_t hash = 1469598103934665603ULL;
        for (; *text; text++)
                hash = (hash ^ (unsigned char)*text) * 1099511628211ULL;
        return hash;
}

/* Grows @p *array of @p size-byte elements to hold one more; false when out of memory. */
static bool reserve_one(void **array, size_t count, size_t *capacity, size_t size) {
        if (count < *capacity)
                return true;
        size_t grown = *capacity ? *capacity * 2 : 16;
        void *bigger = realloc(*array, grown * size);
        if (!bigger)
                return false;
        *array = bigger;
        *capacity = grown;
        return true;
}

bl_whatif_t *bl_whatif_new(void) {
        bl_whatif_t *whatif = calloc(1, sizeof(*whatif));
        if (!whatif)
                return NULL;
        whatif->history_end_ms = BL_NO_TIME;
        whatif->capacity_options = (bl_capacity_options_t){.window_ms = 60000, .min_samples = 20};
        whatif->bucket_count = 64;
        if (!(whatif->buckets = calloc(whatif->bucket_count, sizeof(*whatif->buckets)))) {
                bl_whatif_destroy(whatif);
                return NULL;
        }
        return whatif;
}

void bl_whatif_destroy(bl_whatif_t *whatif) {
        if (!whatif)
                return;
        for (size_t i = 0; i < whatif->episode_count; i++) {
                free(whatif->episodes[i]->versions);
                free(whatif->episodes[i]);
        }
        for (size_t i = 0; i < whatif->task_count; i++) {
                free(whatif->tasks[i]->task_id);
                free(whatif->tasks[i]);
        }
        for (size_t i = 0; i < whatif->domain_count; i++)
                free(whatif->domains[i]);
        for (size_t i = 0; i < whatif->policy_count; i++)
                free(whatif->policies[i].text);
        free(whatif->samples);
        free(whatif->episodes);
        free(whatif->tasks);
        free(whatif->buckets);
        free(whatif->domains);
        free(whatif->policies);
        free(whatif);
}

static bool grow_buckets(bl_whatif_t *whatif) {
        size_t count = whatif->bucket_count * 2;
        task_t **buckets = calloc(count, sizeof(*buckets));
        if (!buckets)
                return false;
        for (size_t i = 0; i < whatif->task_count; i++) {
                task_t *task = whatif->tasks[i];
                size_t slot = hash_id(task->task_id) & (count - 1);
                task->bucket_next = buckets[slot];
                buckets[slot] = task;
        }
        free(whatif->buckets);
        whatif->buckets = buckets;
        whatif->bucket_count = count;
        return true;
}

/* The entry of @p task_id, made when new; NULL when out of memory. */
static task_t *find_or_add(bl_whatif_t *whatif, const char *task_id) {
        task_t *task = whatif->buckets[hash_id(task_id) & (whatif->bucket_count - 1)];
        while (task && strcmp(task->task_id, task_id))
                task = task->bucket_next;
        if (task)
                return task;
        if (!reserve_one((void **)&whatif->tasks, whatif->task_count, &whatif->task_capacity, sizeof(task_t *)) ||
            (whatif->task_count >= whatif->bucket_count && !grow_buckets(whatif)))
                return NULL;
        if (!(task = calloc(1, sizeof(*task))) || !(task->task_id = strdup(task_id))) {
                free(task);
                return NULL;
        }
        size_t slot = hash_id(task_id) & (whatif->bucket_count - 1);
        task->bucket_next = whatif->buckets[slot];
        whatif->buckets[slot] = task;
        whatif->tasks[whatif->task_count++] = task;
        return task;
}

/* The index of @p domain among the interned names, added when new; SIZE_MAX when out of memory. */
static size_t intern_domain(bl_whatif_t *whatif, const char *domain) {
        for (size_t i = 0; i < whatif->domain_count; i++)
                if (!strcmp(whatif->domains[i], domain))
                        return i;
        char **grown = realloc(whatif->domains, (whatif->domain_count + 1) * sizeof(*grown));
        if (!grown)
                return SIZE_MAX;
        whatif->domains = grown;
        if (!(whatif->domains[whatif->domain_count] = strdup(domain)))
                return SIZE_MAX;
        return whatif->domain_count++;
}

static bool count_policy(bl_whatif_t *whatif, const char *label) {
        for (size_t i = 0; i < whatif->policy_count; i++)
                if (!strcmp(whatif->policies[i].text, label)) {
                        whatif->policies[i].count++;
                        return true;
                }
        label_t *grown = realloc(whatif->policies, (whatif->policy_count + 1) * sizeof(*grown));
        if (!grown)
                return false;
        whatif->policies = grown;
        if (!(grown[whatif->policy_count].text = strdup(label)))
                return false;
        grown[whatif->policy_count++].count = 1;
        return true;
}

static version_t version_of(const bl_item_t *item, int64_t at_ms, int64_t offset) {
        version_t version = {at_ms,
                             offset,
                             item->business_value,
                             item->risk,
                             item->deadline_ms,
                             item->data_ready_at_ms,
                             item->max_attempts};
        return version;
}

static bool same_fields(const version_t *a, const version_t *b) {
        return a->business_value == b->business_value && a->risk == b->risk && a->deadline_ms == b->deadline_ms &&
               a->data_ready_at_ms == b->data_ready_at_ms && a->max_attempts == b->max_attempts;
}

/* Most episodes never change while READY: their array holds the one version, no more. */
static bool add_version(episode_t *episode, const version_t *version) {
        if (episode->version_count == episode->version_capacity) {
                size_t capacity = episode->version_capacity ? episode->version_capacity * 2 : 1;
                version_t *versions = realloc(episode->versions, capacity * sizeof(*versions));
                if (!versions)
                        return false;
                episode->versions = versions;
                episode->version_capacity = capacity;
        }
        episode->versions[episode->version_count++] = *version;
        return true;
}

/* A READY episode of @p task starting with @p item (in READY) at @p at_ms, @p partition / @p offset. */
static bl_err_t start_episode(bl_whatif_t *whatif, task_t *task, const bl_item_t *item, int64_t at_ms,
                              int32_t partition, int64_t offset) {
        size_t domain = intern_domain(whatif, item->kind->domain ? item->kind->domain : "");
        episode_t *episode;
        if (domain == SIZE_MAX ||
            !reserve_one((void **)&whatif->episodes, whatif->episode_count, &whatif->episode_capacity,
                         sizeof(episode_t *)) ||
            !(episode = calloc(1, sizeof(*episode))))
                return BL_ERR_NOMEM;
        episode->task_id = task->task_id;
        episode->domain = domain;
        episode->attempt = item->attempt + 1;
        episode->partition = partition;
        episode->ready_at_ms = item->ready_since_ms != BL_NO_TIME ? item->ready_since_ms : at_ms;
        episode->ready_offset = offset;
        episode->end = END_OPEN;
        episode->end_at_ms = BL_NO_TIME;
        episode->end_offset = -1;
        version_t first = version_of(item, episode->ready_at_ms, offset);
        if (!add_version(episode, &first)) {
                free(episode);
                return BL_ERR_NOMEM;
        }
        if (task->dispatched) { /* READY again after a dispatch: its retry */
                task->dispatched->follower = episode;
                episode->is_follower = true;
        }
        task->dispatched = NULL;
        task->open = episode;
        whatif->episodes[whatif->episode_count++] = episode;
        return BL_OK;
}

/* @p episode leaves READY other than by dispatch, to @p to, by the transition at @p at_ms / @p offset. */
static void leave(episode_t *episode, bl_state_t to, int64_t at_ms, int64_t offset) {
        episode->end = END_LEFT;
        episode->end_at_ms = at_ms;
        episode->end_offset = offset;
        episode->left_to = to;
}

bool bl_whatif_set_capacity_options(bl_whatif_t *whatif, const bl_capacity_options_t *options) {
        bl_capacity_t *check = bl_capacity_new(options);
        if (!check)
                return false;
        bl_capacity_destroy(check);
        whatif->capacity_options = *options;
        return true;
}

static bool is_out(bl_state_t state) {
        return state == BL_STATE_DISPATCHED || state == BL_STATE_RUNNING;
}

/* Keeps @p t as a capacity sample when it moves a task into or out of DISPATCHED / RUNNING. */
static bool keep_sample(bl_whatif_t *whatif, const task_t *task, const bl_transition_t *t, const bl_item_t *item) {
        if (!t->has_from || t->from == t->to || !(is_out(t->from) || is_out(t->to)) || !item)
                return true;
        size_t domain = intern_domain(whatif, item->kind->domain ? item->kind->domain : "");
        if (domain == SIZE_MAX ||
            !reserve_one((void **)&whatif->samples, whatif->sample_count, &whatif->sample_capacity,
                         sizeof(capacity_sample_t)))
                return false;
        whatif->samples[whatif->sample_count++] =
                (capacity_sample_t){t->at_ms, task->state_since_ms, domain, t->from, t->to,
                                    !t->cause || strcmp(t->cause, "lease_expired") != 0};
        return true;
}

bl_err_t bl_whatif_fold(bl_whatif_t *whatif, const bl_transition_t *t, const bl_item_t *item_after, int32_t partition,
                        int64_t offset) {
        task_t *task = find_or_add(whatif, t->task_id ? t->task_id : "");
        if (!task)
                return BL_ERR_NOMEM;
        if (!t->has_from)
                task->state_since_ms = BL_NO_TIME;
        if (!keep_sample(whatif, task, t, item_after))
                return BL_ERR_NOMEM;
        if (!t->has_from || t->from != t->to)
                task->state_since_ms = t->at_ms;
        whatif->transitions++;
        if (whatif->history_end_ms == BL_NO_TIME || t->at_ms > whatif->history_end_ms)
                whatif->history_end_ms = t->at_ms;
        if (!t->has_from) { /* the task's first transition, or a purged task_id submitted anew */
                if (task->open)
                        leave(task->open, t->to, t->at_ms, offset);
                task->open = NULL;
                task->dispatched = NULL;
        }
        if (t->to == BL_STATE_DISPATCHED) {
                episode_t *episode = task->open;
                if (!count_policy(whatif, t->policy ? t->policy : ""))
                        return BL_ERR_NOMEM;
                if (!episode) { /* its READY start is before the history we have */
                        whatif->decisions_skipped++;
                        return BL_OK;
                }
                episode->end = END_DISPATCHED;
                episode->end_at_ms = t->at_ms;
                episode->end_offset = offset;
                episode->attempt = t->attempt;
                task->open = NULL;
                task->dispatched = episode;
                return BL_OK;
        }
        if (t->to == BL_STATE_READY) {
                if (!item_after)
                        return BL_OK; /* nothing to score: the episode (or its change) cannot be replayed */
                if (!task->open)
                        return start_episode(whatif, task, item_after, t->at_ms, partition, offset);
                version_t version = version_of(item_after, t->at_ms, offset);
                if (same_fields(&task->open->versions[task->open->version_count - 1], &version))
                        return BL_OK; /* a note that changes nothing scored (a dependent registered, ...) */
                return add_version(task->open, &version) ? BL_OK : BL_ERR_NOMEM;
        }
        if (task->open) {
                leave(task->open, t->to, t->at_ms, offset);
                task->open = NULL;
        }
        return BL_OK;
}

/* ---- the run: one domain ------------------------------------------------------- */

typedef enum { EVENT_ARRIVE, EVENT_UPDATE, EVENT_DEPART } event_kind_t; /* the order at equal times */

typedef struct event_s {
        int64_t at_ms;
        event_kind_t kind;
        episode_t *episode;
        size_t version; /* with EVENT_UPDATE */
        int64_t offset; /* of its transition in the episode's partition; -1 for a retry's moved arrival */
        bool applied;   /* in sim_t.now: taken into account already */
} event_t;

typedef struct sim_s {
        const bl_policy_t *candidate;
        bl_capacity_t *capacity;            /* the domain's estimate as of the decision time (deadline_risk) */
        const capacity_sample_t **samples;  /* the domain's, by time */
        size_t sample_count, samples_fed;
        int64_t in_flight;                  /* DISPATCHED or RUNNING as recorded, as of the samples fed */
        bl_scheduler_t *scheduler;
        char *domain;    /* the whatif's */
        bl_kind_t kind;  /* only the domain: lent to the items, not interned */
        event_t *events; /* a binary min-heap */
        size_t event_count, event_capacity;
        event_t *now; /* the events at the time of the decisions being made, in heap order */
        size_t now_count, now_capacity;
        episode_t **ready; /* the candidate's READY set, unordered (the scheduler orders it) */
        size_t ready_count, ready_capacity;
        bool out_of_memory;
} sim_t;

static bool event_before(const event_t *a, const event_t *b) {
        if (a->at_ms != b->at_ms)
                return a->at_ms < b->at_ms;
        if (a->kind != b->kind)
                return a->kind < b->kind;
        int order = strcmp(a->episode->task_id, b->episode->task_id);
        if (order)
                return order < 0;
        if (a->episode->attempt != b->episode->attempt)
                return a->episode->attempt < b->episode->attempt;
        return a->version < b->version;
}

static void push_event(sim_t *sim, int64_t at_ms, event_kind_t kind, episode_t *episode, size_t version,
                       int64_t offset) {
        if (!reserve_one((void **)&sim->events, sim->event_count, &sim->event_capacity, sizeof(event_t))) {
                sim->out_of_memory = true;
                return;
        }
        event_t event = {at_ms, kind, episode, version, offset, false};
        size_t slot = sim->event_count++;
        while (slot > 0 && event_before(&event, &sim->events[(slot - 1) / 2])) {
                sim->events[slot] = sim->events[(slot - 1) / 2];
                slot = (slot - 1) / 2;
        }
        sim->events[slot] = event;
}

static event_t pop_event(sim_t *sim) {
        event_t top = sim->events[0], last = sim->events[--sim->event_count];
        size_t slot = 0;
        for (;;) {
                size_t child = 2 * slot + 1;
                if (child >= sim->event_count)
                        break;
                if (child + 1 < sim->event_count && event_before(&sim->events[child + 1], &sim->events[child]))
                        child++;
                if (!event_before(&sim->events[child], &last))
                        break;
                sim->events[slot] = sim->events[child];
                slot = child;
        }
        if (sim->event_count > 0)
                sim->events[slot] = last;
        return top;
}

static double score_candidate(void *opaque, const bl_item_t *item, int64_t now_ms) {
        const sim_t *sim = opaque;
        return bl_policy_score_task_with(sim->candidate, item, now_ms, sim->capacity, NULL, NULL);
}

/*
 * The capacity estimate as `run` had it at @p now_ms: every sample up to
 * then learnt, the tasks in flight as recorded, READY as the candidate has
 * them (its own READY set).
 */
static void feed_capacity(sim_t *sim, int64_t now_ms) {
        for (; sim->samples_fed < sim->sample_count && sim->samples[sim->samples_fed]->at_ms <= now_ms;
             sim->samples_fed++) {
                const capacity_sample_t *sample = sim->samples[sim->samples_fed];
                bl_capacity_observe(sim->capacity, sim->domain, NULL, sample->from, sample->from_since_ms, sample->to,
                                    sample->by_worker, sample->at_ms);
                sim->in_flight += (int64_t)is_out(sample->to) - (int64_t)is_out(sample->from);
        }
        bl_capacity_set_load(sim->capacity, sim->domain, sim->in_flight, (int64_t)sim->ready_count, now_ms);
}

static episode_t *episode_of(bl_item_t *item) {
        const char *ready_item = (const char *)item - offsetof(ready_item_t, item);
        return ((const ready_item_t *)(const void *)ready_item)->episode;
}

static void apply_version(episode_t *episode) {
        const version_t *version = &episode->versions[episode->version_now];
        bl_item_t *item = &episode->ready_item->item;
        item->business_value = version->business_value;
        item->risk = version->risk;
        item->deadline_ms = version->deadline_ms;
        item->data_ready_at_ms = version->data_ready_at_ms;
        item->max_attempts = version->max_attempts;
}

/*
 * The episode's own item, READY since the candidate had it: what the
 * scheduler holds and the policy scores. False when out of memory.
 */
static bool prepare_item(episode_t *episode, const bl_kind_t *kind) {
        if (!(episode->ready_item = calloc(1, sizeof(*episode->ready_item))))
                return false;
        episode->ready_item->episode = episode;
        bl_item_t *item = &episode->ready_item->item;
        item->task_id = episode->task_id;
        item->kind = kind;
        item->partition = -1;
        item->state = BL_STATE_READY;
        item->attempt = episode->attempt - 1;
        item->submitted_at_ms = item->not_before_ms = item->lease_expires_at_ms = item->retry_at_ms =
                item->terminal_at_ms = item->timer_due_ms = BL_NO_TIME;
        item->state_since_ms = item->ready_since_ms = episode->candidate_ready_at_ms;
        item->timer_slot = item->sched_slot = BL_ITEM_NO_SLOT;
        apply_version(episode);
        return true;
}

static void ready_add(sim_t *sim, episode_t *episode) {
        if (!prepare_item(episode, &sim->kind) ||
            !reserve_one((void **)&sim->ready, sim->ready_count, &sim->ready_capacity, sizeof(episode_t *)) ||
            !bl_scheduler_insert(sim->scheduler, &episode->ready_item->item, episode->candidate_ready_at_ms)) {
                free(episode->ready_item);
                episode->ready_item = NULL;
                sim->out_of_memory = true;
                return;
        }
        episode->pool_slot = sim->ready_count;
        sim->ready[sim->ready_count++] = episode;
        episode->sim = SIM_READY;
}

/*
 * Takes @p episode out of the candidate's READY set with @p outcome at @p
 * at_ms; out of the scheduler too, unless a pop took it out already.
 */
static void ready_remove(sim_t *sim, episode_t *episode, bl_whatif_outcome_t outcome, int64_t at_ms) {
        bl_scheduler_remove(sim->scheduler, &episode->ready_item->item);
        free(episode->ready_item);
        episode->ready_item = NULL;
        episode_t *last = sim->ready[--sim->ready_count];
        sim->ready[episode->pool_slot] = last;
        last->pool_slot = episode->pool_slot;
        episode->sim = SIM_DONE;
        episode->candidate_outcome = outcome;
        episode->candidate_end_at_ms = at_ms;
}

static void apply_event(sim_t *sim, const event_t *event) {
        episode_t *episode = event->episode;
        switch (event->kind) {
        case EVENT_ARRIVE:
                if (episode->sim != SIM_PENDING)
                        return;
                if (episode->departed) { /* a retry that would come after its task left READY for good */
                        episode->sim = SIM_DONE;
                        return;
                }
                episode->candidate_ready_at_ms = event->at_ms;
                ready_add(sim, episode);
                return;
        case EVENT_UPDATE:
                episode->version_now = event->version; /* a waiting episode's versions come in time order */
                if (episode->sim == SIM_READY) {
                        apply_version(episode);
                        if (!bl_scheduler_insert(sim->scheduler, &episode->ready_item->item,
                                                 event->at_ms)) /* re-scored */
                                sim->out_of_memory = true;
                }
                return;
        case EVENT_DEPART:
                if (episode->sim == SIM_READY)
                        ready_remove(sim, episode, BL_WHATIF_LEFT, event->at_ms);
                else if (episode->sim == SIM_PENDING)
                        episode->departed = true;
                return;
        }
}

/* Every READY episode whose deadline is at or before @p now_ms expires, at its deadline. */
static void expire(sim_t *sim, int64_t now_ms) {
        for (size_t i = 0; i < sim->ready_count;) {
                episode_t *episode = sim->ready[i];
                int64_t deadline = episode->ready_item->item.deadline_ms;
                if (deadline != BL_NO_TIME && deadline <= now_ms)
                        ready_remove(sim, episode, BL_WHATIF_EXPIRED,
                                     deadline > episode->candidate_ready_at_ms ? deadline
                                                                               : episode->candidate_ready_at_ms);
                else
                        i++;
        }
}

/* Applies every event before @p before_ms (or up to and including it, with @p inclusive). */
static void drain(sim_t *sim, int64_t before_ms, bool inclusive) {
        while (sim->event_count > 0 && !sim->out_of_memory &&
               (sim->events[0].at_ms < before_ms || (inclusive && sim->events[0].at_ms == before_ms))) {
                event_t event = pop_event(sim);
                apply_event(sim, &event);
        }
}

/*
 * Whether an event at the decision's own millisecond happened before it:
 * in the same partition, offsets say; across partitions nothing does, and
 * it is taken as before.
 */
static bool happened_before(const event_t *event, const episode_t *decision) {
        return event->episode->partition != decision->partition || event->offset < 0 ||
               event->offset < decision->end_offset;
}

/* Recorded decisions in the order they were made: time, then offset in the partition (across partitions, fixed). */
static int compare_decisions(const void *a, const void *b) {
        const episode_t *x = *(episode_t *const *)a, *y = *(episode_t *const *)b;
        if (x->end_at_ms != y->end_at_ms)
                return x->end_at_ms < y->end_at_ms ? -1 : 1;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        if (x->end_offset != y->end_offset)
                return x->end_offset < y->end_offset ? -1 : 1;
        int order = strcmp(x->task_id, y->task_id);
        return order ? order : (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

/*
 * The candidate's picks at the recorded decisions [first, first + count),
 * all at one millisecond. Events of that millisecond are applied decision
 * by decision, those that happened before each; the rest after the last.
 */
static void decide(sim_t *sim, episode_t **decisions, size_t first, size_t count, size_t *made,
                   bl_whatif_domain_t *out) {
        int64_t now_ms = decisions[first]->end_at_ms;
        drain(sim, now_ms, false);
        sim->now_count = 0;
        while (sim->event_count > 0 && sim->events[0].at_ms == now_ms) {
                if (!reserve_one((void **)&sim->now, sim->now_count, &sim->now_capacity, sizeof(event_t))) {
                        sim->out_of_memory = true;
                        return;
                }
                sim->now[sim->now_count++] = pop_event(sim);
        }
        expire(sim, now_ms);
        feed_capacity(sim, now_ms);
        bl_scheduler_rescore(sim->scheduler, now_ms);
        for (size_t i = first; i < first + count && !sim->out_of_memory; i++) {
                bool changed = false;
                for (size_t e = 0; e < sim->now_count; e++)
                        if (!sim->now[e].applied && happened_before(&sim->now[e], decisions[i])) {
                                apply_event(sim, &sim->now[e]);
                                sim->now[e].applied = changed = true;
                        }
                if (changed)
                        expire(sim, now_ms);
                bl_item_t *item = bl_scheduler_pop(sim->scheduler, sim->domain, now_ms, NULL);
                if (!item)
                        continue; /* nothing READY for the candidate: this decision is not made */
                episode_t *episode = episode_of(item);
                ready_remove(sim, episode, BL_WHATIF_DISPATCHED, now_ms);
                episode->candidate_position = ++*made;
                out->same_task += episode == decisions[i];
                if (episode->follower)
                        push_event(sim,
                                   bl_duration_after(episode->follower->ready_at_ms,
                                                     bl_duration_between(episode->end_at_ms, now_ms)),
                                   EVENT_ARRIVE,
                                   episode->follower, 0, -1);
        }
        for (size_t e = 0; e < sim->now_count; e++)
                if (!sim->now[e].applied)
                        apply_event(sim, &sim->now[e]);
}

/* ---- the run: figures --------------------------------------------------------- */

static int compare_int64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least @p percent % of the @p count values at or below it. */
static int64_t percentile(const int64_t *sorted, size_t count, size_t percent) {
        size_t rank = (percent * count + 99) / 100;
        return sorted[(rank < 1 ? 1 : rank) - 1];
}

/* The figures of @p count waits (sorted here), and @p weighted / @p weights for the value-weighted mean. */
static void fill_waits(bl_whatif_waits_t *waits, int64_t *values, size_t count, double weighted, double weights) {
        double sum = 0;
        waits->dispatched = count;
        waits->value_weighted_mean_ms = weights > 0 ? weighted / weights : 0;
        if (count == 0)
                return;
        qsort(values, count, sizeof(*values), compare_int64);
        for (size_t i = 0; i < count; i++)
                sum += (double)values[i];
        waits->mean_ms = sum / (double)count;
        waits->p50_ms = percentile(values, count, 50);
        waits->p95_ms = percentile(values, count, 95);
        waits->max_ms = values[count - 1];
}

static bl_whatif_outcome_t recorded_outcome(const episode_t *episode) {
        switch (episode->end) {
        case END_DISPATCHED: return BL_WHATIF_DISPATCHED;
        case END_LEFT: return episode->left_to == BL_STATE_EXPIRED ? BL_WHATIF_EXPIRED : BL_WHATIF_LEFT;
        case END_OPEN: break;
        }
        return BL_WHATIF_WAITING;
}

static int64_t recorded_wait(const episode_t *episode, int64_t end_ms) {
        return bl_duration_between(episode->ready_at_ms, episode->end == END_OPEN ? end_ms : episode->end_at_ms);
}

static int64_t candidate_wait(const episode_t *episode, int64_t end_ms) {
        return bl_duration_between(episode->candidate_ready_at_ms, episode->candidate_outcome == BL_WHATIF_WAITING
                                                                           ? end_ms
                                                                           : episode->candidate_end_at_ms);
}

/* Discordant pairs of @p values (the candidate's positions in recorded order): merge sort, O(n log n). */
static uint64_t inversions(size_t *values, size_t *scratch, size_t count) {
        if (count < 2)
                return 0;
        size_t half = count / 2;
        uint64_t found = inversions(values, scratch, half) + inversions(values + half, scratch, count - half);
        size_t left = 0, right = half, out = 0;
        while (left < half && right < count) {
                if (values[right] < values[left]) {
                        found += half - left;
                        scratch[out++] = values[right++];
                } else {
                        scratch[out++] = values[left++];
                }
        }
        while (left < half)
                scratch[out++] = values[left++];
        while (right < count)
                scratch[out++] = values[right++];
        memcpy(values, scratch, count * sizeof(*values));
        return found;
}

static bool kendall_tau(episode_t **decisions, size_t decision_count, bl_whatif_domain_t *out) {
        size_t *positions = malloc((decision_count ? decision_count : 1) * sizeof(*positions));
        size_t *scratch = malloc((decision_count ? decision_count : 1) * sizeof(*scratch));
        size_t count = 0;
        if (!positions || !scratch) {
                free(positions);
                free(scratch);
                return false;
        }
        for (size_t i = 0; i < decision_count; i++) /* recorded order */
                if (decisions[i]->candidate_position > 0)
                        positions[count++] = decisions[i]->candidate_position;
        out->both_dispatched = count;
        out->has_tau = count >= 2;
        if (out->has_tau) {
                double pairs = (double)count * (double)(count - 1) / 2.0;
                out->kendall_tau = 1.0 - 2.0 * (double)inversions(positions, scratch, count) / pairs;
        }
        free(positions);
        free(scratch);
        return true;
}

static int compare_moves_sooner(const void *a, const void *b) {
        const bl_whatif_move_t *x = a, *y = b;
        if (x->change_ms != y->change_ms)
                return x->change_ms < y->change_ms ? -1 : 1;
        int order = strcmp(x->task_id, y->task_id);
        return order ? order : (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

static int compare_moves_later(const void *a, const void *b) {
        const bl_whatif_move_t *x = a, *y = b;
        if (x->change_ms != y->change_ms)
                return x->change_ms > y->change_ms ? -1 : 1;
        int order = strcmp(x->task_id, y->task_id);
        return order ? order : (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

/* The BL_WHATIF_MOVES smallest of @p moves by @p compare into @p out. */
static size_t keep_top(bl_whatif_move_t *moves, size_t count, int (*compare)(const void *, const void *),
                       bl_whatif_move_t *out) {
        qsort(moves, count, sizeof(*moves), compare);
        count = count < BL_WHATIF_MOVES ? count : BL_WHATIF_MOVES;
        memcpy(out, moves, count * sizeof(*out));
        return count;
}

static bool summarise(episode_t **episodes, size_t count, episode_t **decisions, size_t decision_count, int64_t end_ms,
                      bl_whatif_domain_t *out) {
        int64_t *recorded = malloc((count ? count : 1) * sizeof(*recorded));
        int64_t *candidate = malloc((count ? count : 1) * sizeof(*candidate));
        bl_whatif_move_t *sooner = malloc((count ? count : 1) * sizeof(*sooner));
        bl_whatif_move_t *later = malloc((count ? count : 1) * sizeof(*later));
        size_t recorded_count = 0, candidate_count = 0, sooner_count = 0, later_count = 0;
        double recorded_weighted = 0, recorded_weights = 0, candidate_weighted = 0, candidate_weights = 0;
        bool ok = recorded && candidate && sooner && later;
        for (size_t i = 0; ok && i < count; i++) {
                const episode_t *e = episodes[i];
                bl_whatif_outcome_t was = recorded_outcome(e), would = e->candidate_outcome;
                double value = e->versions[0].business_value;
                switch (was) {
                case BL_WHATIF_DISPATCHED:
                        recorded[recorded_count++] = recorded_wait(e, end_ms);
                        recorded_weighted += value * (double)recorded_wait(e, end_ms);
                        recorded_weights += value;
                        break;
                case BL_WHATIF_EXPIRED: out->recorded.expired++; break;
                case BL_WHATIF_LEFT: out->recorded.left++; break;
                default: out->recorded.waiting++; break;
                }
                switch (would) {
                case BL_WHATIF_DISPATCHED:
                        candidate[candidate_count++] = candidate_wait(e, end_ms);
                        candidate_weighted += value * (double)candidate_wait(e, end_ms);
                        candidate_weights += value;
                        break;
                case BL_WHATIF_EXPIRED: out->candidate.expired++; break;
                case BL_WHATIF_LEFT: out->candidate.left++; break;
                case BL_WHATIF_WAITING: out->candidate.waiting++; break;
                default: break;
                }
                if (would == BL_WHATIF_NOT_READY || (was != BL_WHATIF_DISPATCHED && would != BL_WHATIF_DISPATCHED))
                        continue;
                bl_whatif_move_t move = {e->task_id,
                                         e->attempt,
                                         e->versions[0].business_value,
                                         was,
                                         would,
                                         recorded_wait(e, end_ms),
                                         candidate_wait(e, end_ms),
                                         0,
                                         e->recorded_position,
                                         e->candidate_position};
                move.change_ms = move.candidate_wait_ms - move.recorded_wait_ms;
                if (move.change_ms < 0)
                        sooner[sooner_count++] = move;
                else if (move.change_ms > 0)
                        later[later_count++] = move;
        }
        if (ok) {
                fill_waits(&out->recorded, recorded, recorded_count, recorded_weighted, recorded_weights);
                fill_waits(&out->candidate, candidate, candidate_count, candidate_weighted, candidate_weights);
                out->sooner_count = keep_top(sooner, sooner_count, compare_moves_sooner, out->sooner);
                out->later_count = keep_top(later, later_count, compare_moves_later, out->later);
                ok = kendall_tau(decisions, decision_count, out);
        }
        free(recorded);
        free(candidate);
        free(sooner);
        free(later);
        return ok;
}

/* By time; at the same millisecond in the order folded (a task's own changes stay in order). */
static int compare_samples(const void *a, const void *b) {
        const capacity_sample_t *x = *(const capacity_sample_t *const *)a, *y = *(const capacity_sample_t *const *)b;
        if (x->at_ms != y->at_ms)
                return x->at_ms < y->at_ms ? -1 : 1;
        return x < y ? -1 : x > y;
}

/* The samples of @p domain, by time, into @p sim; false when out of memory. */
static bool domain_samples(const bl_whatif_t *whatif, size_t domain, sim_t *sim) {
        sim->samples = malloc((whatif->sample_count ? whatif->sample_count : 1) * sizeof(*sim->samples));
        if (!sim->samples)
                return false;
        for (size_t i = 0; i < whatif->sample_count; i++)
                if (whatif->samples[i].domain == domain)
                        sim->samples[sim->sample_count++] = &whatif->samples[i];
        qsort(sim->samples, sim->sample_count, sizeof(*sim->samples), compare_samples);
        return true;
}

static bl_err_t run_domain(bl_whatif_t *whatif, const bl_policy_t *candidate, size_t domain, episode_t **episodes,
                           size_t count, bl_whatif_domain_t *out) {
        sim_t sim = {.candidate = candidate, .domain = whatif->domains[domain], .kind.domain = whatif->domains[domain]};
        bl_scheduler_options_t options = {0, score_candidate, &sim}; /* re-scored at each decision time instead */
        episode_t **decisions = malloc((count ? count : 1) * sizeof(*decisions));
        size_t decision_count = 0, made = 0;
        bl_err_t err = BL_ERR_NOMEM;
        out->domain = whatif->domains[domain];
        out->episodes = count;
        if (!decisions || !(sim.scheduler = bl_scheduler_new(&options)) ||
            !(sim.capacity = bl_capacity_new(&whatif->capacity_options)) || !domain_samples(whatif, domain, &sim))
                goto done;
        for (size_t i = 0; i < count; i++) {
                episode_t *e = episodes[i];
                e->sim = SIM_PENDING;
                e->departed = false;
                e->version_now = 0;
                e->candidate_ready_at_ms = e->candidate_end_at_ms = BL_NO_TIME;
                e->candidate_outcome = BL_WHATIF_NOT_READY;
                e->recorded_position = e->candidate_position = 0;
                if (e->end == END_DISPATCHED)
                        decisions[decision_count++] = e;
                if (!e->is_follower)
                        push_event(&sim, e->ready_at_ms, EVENT_ARRIVE, e, 0, e->ready_offset);
                for (size_t v = 1; v < e->version_count; v++)
                        push_event(&sim, e->versions[v].at_ms, EVENT_UPDATE, e, v, e->versions[v].offset);
                if (e->end == END_LEFT)
                        push_event(&sim, e->end_at_ms, EVENT_DEPART, e, 0, e->end_offset);
        }
        qsort(decisions, decision_count, sizeof(*decisions), compare_decisions);
        for (size_t i = 0; i < decision_count; i++)
                decisions[i]->recorded_position = i + 1;
        out->decisions = decision_count;
        for (size_t first = 0; first < decision_count && !sim.out_of_memory;) {
                size_t group = 1;
                while (first + group < decision_count &&
                       decisions[first + group]->end_at_ms == decisions[first]->end_at_ms)
                        group++;
                decide(&sim, decisions, first, group, &made, out);
                first += group;
        }
        if (whatif->history_end_ms != BL_NO_TIME) {
                drain(&sim, whatif->history_end_ms, true);
                expire(&sim, whatif->history_end_ms);
        }
        while (sim.ready_count > 0) /* still READY when the history ends */
                ready_remove(&sim, sim.ready[sim.ready_count - 1], BL_WHATIF_WAITING, whatif->history_end_ms);
        out->candidate_decisions = made;
        if (!sim.out_of_memory && summarise(episodes, count, decisions, decision_count, whatif->history_end_ms, out))
                err = BL_OK;
done:
        bl_scheduler_destroy(sim.scheduler);
        bl_capacity_destroy(sim.capacity);
        free(sim.samples);
        free(sim.events);
        free(sim.now);
        free(sim.ready);
        free(decisions);
        return err;
}

/* ---- the run ---------------------------------------------------------------------- */

/* Episodes in a fixed order whatever the order of the partitions: arrival, task_id, attempt. */
static int compare_episodes(const void *a, const void *b) {
        const episode_t *x = *(episode_t *const *)a, *y = *(episode_t *const *)b;
        if (x->ready_at_ms != y->ready_at_ms)
                return x->ready_at_ms < y->ready_at_ms ? -1 : 1;
        int order = strcmp(x->task_id, y->task_id);
        return order ? order : (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

/* The domains' indexes in name order: an insertion sort, for the handful of domains there are. */
static void sort_domains(const bl_whatif_t *whatif, size_t *order) {
        for (size_t i = 0; i < whatif->domain_count; i++) {
                size_t j = i;
                for (; j > 0 && strcmp(whatif->domains[order[j - 1]], whatif->domains[i]) > 0; j--)
                        order[j] = order[j - 1];
                order[j] = i;
        }
}

static int compare_policy_counts(const void *a, const void *b) {
        return strcmp(((const bl_whatif_policy_count_t *)a)->policy, ((const bl_whatif_policy_count_t *)b)->policy);
}

void bl_whatif_report_free(bl_whatif_report_t *report) {
        free(report->domains);
        free(report->recorded_policies);
        memset(report, 0, sizeof(*report));
}

bl_err_t bl_whatif_run(bl_whatif_t *whatif, const bl_policy_t *candidate, bl_whatif_report_t *report) {
        size_t domains = whatif->domain_count;
        size_t *order = malloc((domains ? domains : 1) * sizeof(*order));
        size_t *starts = calloc(domains + 1, sizeof(*starts));
        episode_t **by_domain = malloc((whatif->episode_count ? whatif->episode_count : 1) * sizeof(*by_domain));
        bl_err_t err = BL_ERR_NOMEM;
        memset(report, 0, sizeof(*report));
        report->transitions = whatif->transitions;
        report->decisions_skipped = whatif->decisions_skipped;
        report->history_end_ms = whatif->history_end_ms;
        report->domains = calloc(domains ? domains : 1, sizeof(*report->domains));
        report->recorded_policies =
                calloc(whatif->policy_count ? whatif->policy_count : 1, sizeof(*report->recorded_policies));
        if (!order || !starts || !by_domain || !report->domains || !report->recorded_policies)
                goto done;

        /* the episodes grouped by domain (a counting sort), each group in a fixed order */
        for (size_t i = 0; i < whatif->episode_count; i++)
                starts[whatif->episodes[i]->domain + 1]++;
        for (size_t d = 0; d < domains; d++)
                starts[d + 1] += starts[d];
        for (size_t i = 0; i < whatif->episode_count; i++)
                by_domain[starts[whatif->episodes[i]->domain]++] = whatif->episodes[i];
        for (size_t d = domains; d > 0; d--) /* placing moved each start onto the next one's: move them back */
                starts[d] = starts[d - 1];
        starts[0] = 0;
        for (size_t d = 0; d < domains; d++)
                qsort(by_domain + starts[d], starts[d + 1] - starts[d], sizeof(*by_domain), compare_episodes);
        sort_domains(whatif, order);

        err = BL_OK;
        for (size_t i = 0; i < domains && !err; i++) {
                size_t d = order[i];
                if (starts[d + 1] == starts[d])
                        continue;
                err = run_domain(whatif, candidate, d, by_domain + starts[d], starts[d + 1] - starts[d],
                                 &report->domains[report->domain_count++]);
        }
        for (size_t i = 0; i < whatif->policy_count; i++) {
                report->recorded_policies[i].policy = whatif->policies[i].text;
                report->recorded_policies[i].decisions = whatif->policies[i].count;
        }
        report->recorded_policy_count = whatif->policy_count;
        qsort(report->recorded_policies, report->recorded_policy_count, sizeof(*report->recorded_policies),
              compare_policy_counts);
done:
        free(order);
        free(starts);
        free(by_domain);
        if (err)
                bl_whatif_report_free(report);
        return err;
}
