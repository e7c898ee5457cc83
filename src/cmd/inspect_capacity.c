/*
 * inspect_capacity.c: each domain's capacity estimate for `backlogd inspect`
 * (inspect_capacity.h), from the committed history in backlog.transitions.
 *
 * A Transition record says when a change happened, not since when the task
 * was in the state it left; the estimate needs that for pickups
 * (DISPATCHED -> RUNNING) and runtimes (RUNNING -> COMPLETED). So the tasks
 * now DISPATCHED or RUNNING are kept in a small chained hash table by
 * task_id with the time they entered that state, and dropped when they
 * leave it: the table holds the tasks in flight at the point read, not the
 * whole history. A task's transitions are all in its partition and in
 * order there; partitions are read one after the other, which the estimate
 * allows (core/capacity.c counts results in their own time's bucket).
 *
 * The estimate is taken at the time the read ended, with in flight and
 * READY as backlog.state holds them: the same numbers `run` would show, but
 * from committed records only. Main thread.
 */
#include "cmd/inspect_capacity.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "contract/records.h"
#include "core/capacity.h"

#define IN_FLIGHT_BUCKETS 4096
#define RANKS_SHOWN 3 /* the next READY task, the 10th, the 100th; then the last */

typedef struct in_flight_s {
        char *task_id;
        int64_t since_ms;
        struct in_flight_s *next;
} in_flight_t;

struct bl_inspect_capacity_s {
        bl_capacity_t *capacity;
        bl_cmd_scan_t *scan; /* while reading */
        char *topic;
        in_flight_t *buckets[IN_FLIGHT_BUCKETS];
        uint64_t unreadable;
        bool out_of_memory;
        bool interrupted;
};

static size_t bucket_of(const char *task_id) {
        uint64_t hash = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)task_id; *p; p++)
                hash = (hash ^ *p) * 1099511628211ULL;
        return (size_t)(hash % IN_FLIGHT_BUCKETS);
}

static in_flight_t **find_slot(bl_inspect_capacity_t *capacity, const char *task_id) {
        in_flight_t **slot = &capacity->buckets[bucket_of(task_id)];
        while (*slot && strcmp((*slot)->task_id, task_id))
                slot = &(*slot)->next;
        return slot;
}

bl_inspect_capacity_t *bl_inspect_capacity_new(const bl_config_t *config) {
        bl_inspect_capacity_t *capacity = calloc(1, sizeof(*capacity));
        bl_capacity_options_t options = {config->capacity_window_ms, (int32_t)config->capacity_min_samples};
        if (!capacity)
                return NULL;
        capacity->capacity = bl_capacity_new(&options);
        capacity->topic = bl_config_topic_name(config, "backlog.transitions");
        if (!capacity->capacity || !capacity->topic) {
                bl_inspect_capacity_destroy(capacity);
                return NULL;
        }
        return capacity;
}

void bl_inspect_capacity_destroy(bl_inspect_capacity_t *capacity) {
        if (!capacity)
                return;
        for (size_t b = 0; b < IN_FLIGHT_BUCKETS; b++)
                for (in_flight_t *entry = capacity->buckets[b], *next; entry; entry = next) {
                        next = entry->next;
                        free(entry->task_id);
                        free(entry);
                }
        bl_capacity_destroy(capacity->capacity);
        free(capacity->topic);
        free(capacity);
}

static bool is_out(bl_state_t state) {
        return state == BL_STATE_DISPATCHED || state == BL_STATE_RUNNING;
}

/* The time the task entered the state it leaves, as far as the table knows; the table follows the change. */
static int64_t follow(bl_inspect_capacity_t *capacity, const bl_transition_t *t) {
        in_flight_t **slot = find_slot(capacity, t->task_id), *entry = *slot;
        int64_t since_ms = entry ? entry->since_ms : BL_NO_TIME;
        if (entry && !is_out(t->to)) {
                *slot = entry->next;
                free(entry->task_id);
                free(entry);
        } else if (entry) {
                entry->since_ms = t->at_ms;
        } else if (is_out(t->to)) {
                if (!(entry = calloc(1, sizeof(*entry))) || !(entry->task_id = strdup(t->task_id))) {
                        free(entry);
                        capacity->out_of_memory = true;
                        return since_ms;
                }
                entry->since_ms = t->at_ms;
                *slot = entry;
        }
        return since_ms;
}

static bool read_transition(const rd_kafka_message_t *message, void *opaque) {
        bl_inspect_capacity_t *capacity = opaque;
        bl_record_error_t error;
        bl_transition_record_t *record;
        if (!message->payload)
                return true;
        record = bl_transition_reader_read(capacity->scan->transitions, message->key, message->key_len,
                                           message->payload, message->len, message->partition, message->offset, &error);
        if (!record && error.transient) {
                fprintf(stderr, "backlogd inspect: %s [%d] offset %" PRId64 ": %s\n", capacity->topic,
                        (int)message->partition, message->offset, error.detail);
                capacity->interrupted = true;
                return false;
        }
        if (!record) {
                capacity->unreadable++; /* the estimate leaves it out */
                return true;
        }
        const bl_transition_t *t = &record->transition;
        if (t->task_id && t->has_from && t->from != t->to && (is_out(t->from) || is_out(t->to)) && record->item) {
                int64_t since_ms = follow(capacity, t);
                bool by_worker = !t->cause || strcmp(t->cause, "lease_expired") != 0;
                if (!bl_capacity_observe(capacity->capacity, record->item->kind->domain, record->item->kind->task_type,
                                         t->from, since_ms, t->to, by_worker, t->at_ms))
                        capacity->out_of_memory = true;
        }
        bl_transition_record_destroy(record);
        return !capacity->out_of_memory;
}

bool bl_inspect_capacity_read(bl_inspect_capacity_t *capacity, bl_cmd_scan_t *scan) {
        capacity->scan = scan;
        bool read = bl_cmd_scan_topic(scan, capacity->topic, NULL, 0, read_transition, capacity);
        capacity->scan = NULL;
        if (capacity->out_of_memory)
                fprintf(stderr, "backlogd inspect: out of memory\n");
        if (read && capacity->unreadable)
                fprintf(stderr, "backlogd inspect: %" PRIu64 " transition%s could not be read: the capacity estimate "
                        "leaves %s out\n",
                        capacity->unreadable, capacity->unreadable == 1 ? "" : "s",
                        capacity->unreadable == 1 ? "it" : "them");
        return read && !capacity->interrupted && !capacity->out_of_memory;
}

void bl_inspect_capacity_load(bl_inspect_capacity_t *capacity, const char *domain, int64_t in_flight, int64_t ready,
                              int64_t now_ms) {
        if (!bl_capacity_set_load(capacity->capacity, domain, in_flight, ready, now_ms))
                capacity->out_of_memory = true;
}

/* The ranks whose predicted start is shown: 1, 10, 100 (the next is rank 0), those below @p ready. */
static const size_t ranks_shown[RANKS_SHOWN] = {0, 9, 99};

void bl_inspect_capacity_print(const bl_inspect_capacity_t *capacity, char *const *domains, const size_t *order,
                               size_t count, int64_t now_ms) {
        char pickup[32], runtime[32], drain[32], start[32];
        printf("\nCAPACITY (results over the last %s; a READY task's start by its rank)\n",
               bl_cmd_format_duration(bl_capacity_window_ms(capacity->capacity), drain, sizeof(drain)));
        for (size_t i = 0; i < count; i++) {
                bl_capacity_estimate_t e;
                const char *domain = domains[order[i]];
                bl_capacity_estimate(capacity->capacity, domain, now_ms, &e);
                if (!e.known) {
                        printf("%s: not known yet (%" PRId64 " results in the window, %" PRId64
                               " runtimes; in flight %" PRId64 ", READY %" PRId64 ")\n",
                               domain, e.results, e.runtime_samples, e.in_flight, e.ready);
                        continue;
                }
                printf("%s: %.2f results/s, pickup %s, runtime %s, in flight %" PRId64 ", READY %" PRId64
                       ", drains in %s\n",
                       domain, e.throughput_per_s, bl_cmd_format_duration((int64_t)e.pickup_ms, pickup, sizeof(pickup)),
                       bl_cmd_format_duration((int64_t)e.runtime_ms, runtime, sizeof(runtime)), e.in_flight, e.ready,
                       bl_cmd_format_duration(e.drain_ms, drain, sizeof(drain)));
                if (e.ready == 0)
                        continue;
                printf("  starts in:");
                for (size_t r = 0; r < RANKS_SHOWN && (int64_t)ranks_shown[r] < e.ready - 1; r++)
                        printf(" #%zu %s,", ranks_shown[r] + 1,
                               bl_cmd_format_duration(bl_capacity_predicted_start_ms(&e, now_ms, ranks_shown[r]) -
                                                              now_ms,
                                                      start, sizeof(start)));
                int64_t last_ms = bl_capacity_predicted_start_ms(&e, now_ms, (size_t)(e.ready - 1)) - now_ms;
                printf(" #%" PRId64 " (last) %s\n", e.ready, bl_cmd_format_duration(last_ms, start, sizeof(start)));
        }
}

static json_t *estimate_json(const bl_capacity_estimate_t *e, int64_t now_ms) {
        json_t *starts = json_array();
        for (size_t r = 0; e->known && r < RANKS_SHOWN && (int64_t)ranks_shown[r] < e->ready - 1; r++)
                json_array_append_new(starts, json_pack("{s:I, s:I}", "rank", (json_int_t)ranks_shown[r] + 1, "in_ms",
                                                        (json_int_t)(bl_capacity_predicted_start_ms(e, now_ms,
                                                                                                    ranks_shown[r]) -
                                                                     now_ms)));
        if (e->known && e->ready > 0)
                json_array_append_new(starts,
                                      json_pack("{s:I, s:I}", "rank", (json_int_t)e->ready, "in_ms",
                                                (json_int_t)(bl_capacity_predicted_start_ms(e, now_ms,
                                                                                            (size_t)(e->ready - 1)) -
                                                             now_ms)));
        return json_pack("{s:b, s:f, s:I, s:f, s:f, s:f, s:I, s:I, s:o, s:o}", "known", e->known, "throughput_per_s",
                         e->throughput_per_s, "results", (json_int_t)e->results, "pickup_ms", e->pickup_ms,
                         "runtime_ms", e->runtime_ms, "runtime_sd_ms", e->runtime_sd_ms, "in_flight",
                         (json_int_t)e->in_flight, "ready", (json_int_t)e->ready, "drain_ms",
                         e->known ? json_integer(e->drain_ms) : json_null(), "predicted_starts", starts);
}

json_t *bl_inspect_capacity_json(const bl_inspect_capacity_t *capacity, char *const *domains, const size_t *order,
                                 size_t count, int64_t now_ms) {
        json_t *by_domain = json_object();
        for (size_t i = 0; by_domain && i < count; i++) {
                bl_capacity_estimate_t e;
                bl_capacity_estimate(capacity->capacity, domains[order[i]], now_ms, &e);
                json_object_set_new(by_domain, domains[order[i]], estimate_json(&e, now_ms));
        }
        return by_domain;
}
