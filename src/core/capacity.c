/*
 * capacity.c: the capacity estimate of each domain (SPEC §14; capacity.h
 * says what is estimated and from what).
 *
 * Results are counted in BUCKETS buckets of window_ms / BUCKETS each, a
 * ring indexed by the bucket's epoch (now / bucket_ms): the throughput is
 * the results of the buckets inside the window over the time they cover,
 * which starts at the window's first bucket or at the first result ever
 * seen, whichever is later (so a domain that just started is not diluted
 * by time before its first result). Counting costs O(1); an estimate sums
 * BUCKETS counters. Results may arrive out of time order (a reader of
 * several partitions): each is counted in its own bucket.
 *
 * Pickup delays and runtimes are running means and variances (West's
 * update with weight alpha): alpha is 1/n for the first RUNTIME_MEMORY
 * samples (the plain mean and variance), then 1/RUNTIME_MEMORY, so the
 * estimate follows workers that speed up or slow down. Runtimes are kept
 * per task_type and for the domain as a whole; a type with fewer than
 * min_samples runtimes borrows the domain's.
 *
 * Waiting model (capacity.h, docs/policy.md): the domain has about
 * c = throughput x (pickup + runtime) workers busy (Little's law). A READY
 * task of rank k starts right away (after the pickup delay) when k is
 * below the free workers max(0, floor(c) - in_flight); otherwise when the
 * (k + 1 - free)-th result from now frees a worker. Those results come one
 * every 1/throughput on average, and their spread is that of k + 1 - free
 * runtimes shared by c workers: sqrt(k + 1 - free) x runtime_sd / c.
 *
 * Domains and task types are few (the configured ones): linear searches
 * by name. Not thread-safe: the pipeline thread.
 */
#include "core/capacity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 20
#define RUNTIME_MEMORY 100

typedef struct running_s {
        int64_t count;
        double mean;
        double variance;
} running_t;

typedef struct bucket_s {
        int64_t epoch;
        int64_t results;
} bucket_t;

typedef struct task_type_s {
        char *name;
        running_t runtime;
} task_type_t;

typedef struct domain_s {
        char *name;
        bucket_t buckets[BUCKETS];
        int64_t first_result_ms; /* BL_NO_TIME before any */
        running_t pickup;
        running_t runtime;
        task_type_t *types;
        size_t type_count;
        int64_t in_flight;
        int64_t ready;
        bl_capacity_estimate_t at_load; /* taken by the last set_load: what expect reads */
} domain_t;

struct bl_capacity_s {
        bl_capacity_options_t options;
        int64_t bucket_ms;
        domain_t *domains;
        size_t domain_count;
};

/* ---- life cycle ------------------------------------------------------------------------ */

static bool options_valid(const bl_capacity_options_t *options) {
        return options && options->window_ms >= 1 && options->min_samples >= 1;
}

bool bl_capacity_configure(bl_capacity_t *capacity, const bl_capacity_options_t *options) {
        if (!options_valid(options))
                return false;
        int64_t bucket_ms = (options->window_ms + BUCKETS - 1) / BUCKETS;
        if (bucket_ms != capacity->bucket_ms) /* the epochs mean other times now: count afresh */
                for (size_t d = 0; d < capacity->domain_count; d++)
                        memset(capacity->domains[d].buckets, 0, sizeof(capacity->domains[d].buckets));
        capacity->options = *options;
        capacity->bucket_ms = bucket_ms;
        return true;
}

bl_capacity_t *bl_capacity_new(const bl_capacity_options_t *options) {
        if (!options_valid(options))
                return NULL;
        bl_capacity_t *capacity = calloc(1, sizeof(*capacity));
        if (capacity)
                bl_capacity_configure(capacity, options);
        return capacity;
}

void bl_capacity_destroy(bl_capacity_t *capacity) {
        if (!capacity)
                return;
        for (size_t d = 0; d < capacity->domain_count; d++) {
                domain_t *domain = &capacity->domains[d];
                for (size_t t = 0; t < domain->type_count; t++)
                        free(domain->types[t].name);
                free(domain->types);
                free(domain->name);
        }
        free(capacity->domains);
        free(capacity);
}

/* ---- lookups ---------------------------------------------------------------------------- */

static domain_t *find_domain(const bl_capacity_t *capacity, const char *name) {
        for (size_t d = 0; name && d < capacity->domain_count; d++)
                if (!strcmp(capacity->domains[d].name, name))
                        return &capacity->domains[d];
        return NULL;
}

static domain_t *domain_for_write(bl_capacity_t *capacity, const char *name) {
        domain_t *domain = find_domain(capacity, name);
        if (domain || !name)
                return domain;
        domain_t *grown = realloc(capacity->domains, (capacity->domain_count + 1) * sizeof(*grown));
        if (!grown)
                return NULL;
        capacity->domains = grown;
        domain = &grown[capacity->domain_count];
        *domain = (domain_t){.name = strdup(name), .first_result_ms = BL_NO_TIME};
        if (!domain->name)
                return NULL;
        capacity->domain_count++;
        return domain;
}

static task_type_t *find_type(const domain_t *domain, const char *name) {
        for (size_t t = 0; name && t < domain->type_count; t++)
                if (!strcmp(domain->types[t].name, name))
                        return &domain->types[t];
        return NULL;
}

static task_type_t *type_for_write(domain_t *domain, const char *name) {
        task_type_t *type = find_type(domain, name);
        if (type || !name)
                return type;
        task_type_t *grown = realloc(domain->types, (domain->type_count + 1) * sizeof(*grown));
        if (!grown)
                return NULL;
        domain->types = grown;
        type = &grown[domain->type_count];
        *type = (task_type_t){.name = strdup(name)};
        if (!type->name)
                return NULL;
        domain->type_count++;
        return type;
}

/* ---- learning ---------------------------------------------------------------------------- */

static void running_add(running_t *running, double sample) {
        running->count++;
        double alpha = running->count < RUNTIME_MEMORY ? 1.0 / (double)running->count : 1.0 / RUNTIME_MEMORY;
        double delta = sample - running->mean;
        running->mean += alpha * delta;
        running->variance = (1.0 - alpha) * (running->variance + alpha * delta * delta);
}

/*
 * Results may come out of time order (inspect and replay read partitions one
 * after the other): one whose bucket holds a later epoch is a window or more
 * older than what is counted there, and outside the window: dropped.
 */
static void count_result(const bl_capacity_t *capacity, domain_t *domain, int64_t now_ms) {
        int64_t epoch = now_ms / capacity->bucket_ms;
        bucket_t *bucket = &domain->buckets[epoch % BUCKETS];
        if (bucket->epoch > epoch)
                return;
        if (bucket->epoch != epoch)
                *bucket = (bucket_t){.epoch = epoch};
        bucket->results++;
        if (domain->first_result_ms == BL_NO_TIME || now_ms < domain->first_result_ms)
                domain->first_result_ms = now_ms;
}

bool bl_capacity_observe(bl_capacity_t *capacity, const char *domain_name, const char *task_type, bl_state_t from,
                         int64_t from_since_ms, bl_state_t to, bool by_worker, int64_t now_ms) {
        bool was_out = from == BL_STATE_DISPATCHED || from == BL_STATE_RUNNING;
        bool result = by_worker && was_out && (to == BL_STATE_COMPLETED || to == BL_STATE_FAILED);
        bool pickup = from == BL_STATE_DISPATCHED && to == BL_STATE_RUNNING;
        bool runtime = from == BL_STATE_RUNNING && to == BL_STATE_COMPLETED;
        if (!domain_name || !(result || pickup || runtime))
                return true;
        domain_t *domain = domain_for_write(capacity, domain_name);
        if (!domain)
                return false;
        if (result)
                count_result(capacity, domain, now_ms);
        double elapsed_ms = from_since_ms != BL_NO_TIME && now_ms >= from_since_ms ? (double)(now_ms - from_since_ms)
                                                                                  : -1.0;
        if (elapsed_ms < 0)
                return true; /* no time to learn from */
        if (pickup)
                running_add(&domain->pickup, elapsed_ms);
        if (runtime) {
                running_add(&domain->runtime, elapsed_ms);
                task_type_t *type = type_for_write(domain, task_type);
                if (task_type && !type)
                        return false;
                if (type)
                        running_add(&type->runtime, elapsed_ms);
        }
        return true;
}

bool bl_capacity_set_load(bl_capacity_t *capacity, const char *domain_name, int64_t in_flight, int64_t ready,
                          int64_t now_ms) {
        domain_t *domain = domain_for_write(capacity, domain_name);
        if (!domain)
                return false;
        domain->in_flight = in_flight > 0 ? in_flight : 0;
        domain->ready = ready > 0 ? ready : 0;
        bl_capacity_estimate(capacity, domain_name, now_ms, &domain->at_load);
        return true;
}

/* ---- estimating -------------------------------------------------------------------------- */

static void throughput_of(const bl_capacity_t *capacity, const domain_t *domain, int64_t now_ms,
                          bl_capacity_estimate_t *out) {
        int64_t epoch = now_ms / capacity->bucket_ms;
        int64_t results = 0;
        for (size_t b = 0; b < BUCKETS; b++)
                if (domain->buckets[b].epoch > epoch - BUCKETS && domain->buckets[b].epoch <= epoch)
                        results += domain->buckets[b].results;
        int64_t window_start_ms = (epoch - BUCKETS + 1) * capacity->bucket_ms;
        int64_t start_ms = domain->first_result_ms > window_start_ms ? domain->first_result_ms : window_start_ms;
        int64_t span_ms = now_ms - start_ms;
        out->results = results;
        out->throughput_per_s = results > 0 && span_ms > 0 ? (double)results * 1000.0 / (double)span_ms : 0.0;
}

void bl_capacity_estimate(const bl_capacity_t *capacity, const char *domain_name, int64_t now_ms,
                          bl_capacity_estimate_t *out) {
        *out = (bl_capacity_estimate_t){.drain_ms = -1};
        const domain_t *domain = find_domain(capacity, domain_name);
        if (!domain)
                return;
        throughput_of(capacity, domain, now_ms, out);
        out->pickup_ms = domain->pickup.mean;
        out->runtime_ms = domain->runtime.mean;
        out->runtime_sd_ms = sqrt(domain->runtime.variance);
        out->runtime_samples = domain->runtime.count;
        out->in_flight = domain->in_flight;
        out->ready = domain->ready;
        out->known = out->results >= capacity->options.min_samples &&
                     domain->runtime.count >= capacity->options.min_samples && out->throughput_per_s > 0;
        if (!out->known)
                return;
        out->concurrency = out->throughput_per_s * (out->pickup_ms + out->runtime_ms) / 1000.0;
        out->drain_ms = (int64_t)llround((double)(out->in_flight + out->ready) * 1000.0 / out->throughput_per_s);
}

/* Results to wait for before the READY task of @p rank gets a worker: 0 when a worker is free for it. */
static double results_ahead(const bl_capacity_estimate_t *estimate, size_t rank) {
        double free_workers = floor(estimate->concurrency) - (double)estimate->in_flight;
        free_workers = free_workers > 0 ? free_workers : 0;
        double ahead = (double)rank + 1.0 - free_workers;
        return ahead > 0 ? ahead : 0;
}

int64_t bl_capacity_predicted_start_ms(const bl_capacity_estimate_t *estimate, int64_t now_ms, size_t rank) {
        if (!estimate->known)
                return BL_NO_TIME;
        double wait_ms = results_ahead(estimate, rank) * 1000.0 / estimate->throughput_per_s + estimate->pickup_ms;
        return now_ms + (int64_t)llround(wait_ms);
}

void bl_capacity_expect(const bl_capacity_t *capacity, const bl_kind_t *kind, bl_capacity_expectation_t *out) {
        *out = (bl_capacity_expectation_t){0};
        const domain_t *domain = find_domain(capacity, kind->domain);
        if (!domain || !domain->at_load.known)
                return;
        const bl_capacity_estimate_t *estimate = &domain->at_load;
        const task_type_t *type = find_type(domain, kind->task_type);
        bool own = type && type->runtime.count >= capacity->options.min_samples;
        double ahead = results_ahead(estimate, (size_t)estimate->ready);
        double workers = estimate->concurrency > 1.0 ? estimate->concurrency : 1.0;
        out->known = true;
        out->start_now_ms = estimate->pickup_ms;
        out->wait_ms = ahead * 1000.0 / estimate->throughput_per_s + estimate->pickup_ms;
        out->wait_sd_ms = sqrt(ahead) * estimate->runtime_sd_ms / workers;
        out->runtime_ms = own ? type->runtime.mean : estimate->runtime_ms;
        out->runtime_sd_ms = own ? sqrt(type->runtime.variance) : estimate->runtime_sd_ms;
}

int64_t bl_capacity_window_ms(const bl_capacity_t *capacity) {
        return capacity->options.window_ms;
}

size_t bl_capacity_domain_count(const bl_capacity_t *capacity) {
        return capacity->domain_count;
}

const char *bl_capacity_domain_name(const bl_capacity_t *capacity, size_t index) {
        return index < capacity->domain_count ? capacity->domains[index].name : NULL;
}
