/*
 * inspect.c: `backlogd inspect`: what the backlog holds now, as committed
 * to backlog.state: items by state, by domain and state, and the oldest age
 * in each state.
 *
 * backlog.state is read to its read_committed end across every partition.
 * Each record becomes a small summary (task, partition, offset, state,
 * domain, state_since; tombstones and placeholders marked), not a whole
 * item. The summaries are sorted by task, partition and offset and the last
 * one of each task is its current snapshot, so the result is what
 * compaction would leave, whatever the order in which partitions arrived.
 * A tombstone removes its task; a placeholder (a task that dependents wait
 * for but that nobody submitted yet) is counted apart, not as an item.
 *
 * Only committed records are read, never the open transaction of a running
 * instance, so inspect gives the same counts before and after a restart of
 * `run`. The ages are measured against the wall clock when the read ended
 * (read_at).
 *
 * Then backlog.transitions is read for each domain's capacity estimate
 * (inspect_capacity.c): throughput, pickup, runtime, drain time and the
 * predicted start of READY tasks by rank, with in flight and READY as
 * counted here. When that topic cannot be read the counts are still
 * printed, without the estimate. Main thread.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/inspect_capacity.h"
#include "cmd/scan.h"
#include "contract/records.h"
#include "core/history.h"

typedef struct summary_s {
        char *task_id;
        int32_t partition;
        int64_t offset;
        bool tombstone;
        bool unreadable;
        bool placeholder;
        bl_state_t state;
        int domain;           /* index into the domain names; -1 for none */
        int64_t state_since_ms;
} summary_t;

typedef struct inspect_s {
        bl_cmd_scan_t scan;
        char *topic;
        summary_t *summaries;
        size_t count, capacity;
        char **domains;       /* distinct domain names, in the order met */
        size_t domain_count;
        bool out_of_memory;
        bool interrupted;     /* a snapshot could not be decoded for now (registry): the counts would be wrong */

        /* the counts */
        uint64_t items, placeholders, unreadable;
        uint64_t by_state[BL_STATE__COUNT];
        uint64_t *by_domain;  /* domain_count x BL_STATE__COUNT */
        int64_t oldest_since_ms[BL_STATE__COUNT]; /* BL_NO_TIME: no item in that state */
        int64_t read_at_ms;
        bl_inspect_capacity_t *estimate; /* the capacity estimate; NULL: backlog.transitions could not be read */
} inspect_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd inspect [-c FILE] [--json]\n"
                     "\n"
                     "Reads backlog.state to its committed end and prints how many tasks the\n"
                     "backlog holds in each state, a table of domain by state, and for each state\n"
                     "the age of its oldest task (now minus the time it entered that state).\n"
                     "Then reads backlog.transitions for each domain's capacity estimate: its\n"
                     "workers' results per second over capacity.window_ms, pickup delay, runtime,\n"
                     "drain time, and when the next, 10th, 100th and last READY task would start.\n"
                     "Purged tasks (tombstones) are left out; placeholders (tasks that others wait\n"
                     "for but that nobody submitted yet) are counted apart. Reads only committed\n"
                     "records, so the answer does not change when `backlogd run` restarts.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --json         print the counts as one JSON object on stdout\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 read, 1 the topic could not be read (or a snapshot could not be\n"
                     "decoded: the counts leave it out), 2 usage.\n");
}

/* ---- reading ---------------------------------------------------------------- */

static int domain_index(inspect_t *inspect, const char *domain) {
        char **domains, *copy;
        if (!domain)
                return -1;
        for (size_t i = 0; i < inspect->domain_count; i++)
                if (!strcmp(inspect->domains[i], domain))
                        return (int)i;
        domains = realloc(inspect->domains, (inspect->domain_count + 1) * sizeof(*domains));
        if (!domains || !(copy = strdup(domain))) {
                if (domains)
                        inspect->domains = domains;
                inspect->out_of_memory = true;
                return -1;
        }
        inspect->domains = domains;
        inspect->domains[inspect->domain_count] = copy;
        return (int)inspect->domain_count++;
}

static summary_t *next_summary(inspect_t *inspect, const rd_kafka_message_t *message) {
        summary_t *summary;
        if (inspect->count == inspect->capacity) {
                size_t capacity = inspect->capacity ? inspect->capacity * 2 : 256;
                summary_t *summaries = realloc(inspect->summaries, capacity * sizeof(*summaries));
                if (!summaries)
                        return NULL;
                inspect->summaries = summaries;
                inspect->capacity = capacity;
        }
        summary = &inspect->summaries[inspect->count];
        memset(summary, 0, sizeof(*summary));
        if (!(summary->task_id = strndup(message->key, message->key_len)))
                return NULL;
        summary->partition = message->partition;
        summary->offset = message->offset;
        summary->domain = -1;
        inspect->count++;
        return summary;
}

static bool read_snapshot(const rd_kafka_message_t *message, void *opaque) {
        inspect_t *inspect = opaque;
        bl_record_error_t error;
        summary_t *summary;
        bl_item_t *item;
        if (!message->key)
                return true; /* run always keys by task_id; nothing to attribute it to */
        if (!(summary = next_summary(inspect, message))) {
                inspect->out_of_memory = true;
                return false;
        }
        if (!message->payload) {
                summary->tombstone = true;
                return true;
        }
        item = bl_records_decode_item(inspect->scan.contracts.schemas, message->payload, message->len,
                                      message->partition, &error);
        if (!item) {
                summary->unreadable = true;
                fprintf(stderr, "backlogd inspect: %s [%d] offset %" PRId64 " (%s): %s%s%s\n", inspect->topic,
                        (int)message->partition, message->offset, summary->task_id,
                        error.transient ? "" : bl_reason_name(error.reason), error.transient ? "" : ": ",
                        error.detail);
                inspect->interrupted = error.transient;
                return !error.transient;
        }
        summary->placeholder = item->placeholder;
        summary->state = item->state;
        summary->state_since_ms = item->state_since_ms;
        summary->domain = domain_index(inspect, item->kind->domain);
        bl_item_destroy(item);
        return !inspect->out_of_memory;
}

/* ---- counting ------------------------------------------------------------------ */

static int compare_summaries(const void *a, const void *b) {
        const summary_t *x = a, *y = b;
        int order = strcmp(x->task_id, y->task_id);
        if (order)
                return order;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The last summary of each task is what backlog.state holds for it. */
static bool count(inspect_t *inspect) {
        if (inspect->domain_count &&
            !(inspect->by_domain = calloc(inspect->domain_count * BL_STATE__COUNT, sizeof(*inspect->by_domain))))
                return false;
        for (int s = 0; s < BL_STATE__COUNT; s++)
                inspect->oldest_since_ms[s] = BL_NO_TIME;
        if (inspect->count)
                qsort(inspect->summaries, inspect->count, sizeof(*inspect->summaries), compare_summaries);
        for (size_t i = 0; i < inspect->count; i++) {
                const summary_t *s = &inspect->summaries[i];
                if (i + 1 < inspect->count && !strcmp(s->task_id, inspect->summaries[i + 1].task_id))
                        continue;
                if (s->tombstone)
                        continue;
                if (s->unreadable) {
                        inspect->unreadable++;
                        continue;
                }
                if (s->placeholder) {
                        inspect->placeholders++;
                        continue;
                }
                inspect->items++;
                inspect->by_state[s->state]++;
                if (s->domain >= 0)
                        inspect->by_domain[(size_t)s->domain * BL_STATE__COUNT + s->state]++;
                if (s->state_since_ms != BL_NO_TIME && (inspect->oldest_since_ms[s->state] == BL_NO_TIME ||
                                                        s->state_since_ms < inspect->oldest_since_ms[s->state]))
                        inspect->oldest_since_ms[s->state] = s->state_since_ms;
        }
        return true;
}

/* ---- output -------------------------------------------------------------------- */

static int compare_names(const void *a, const void *b) {
        return strcmp(**(char **const *)a, **(char **const *)b);
}

/* Domain indexes in name order. */
static size_t *domains_by_name(const inspect_t *inspect) {
        char ***pointers = malloc((inspect->domain_count ? inspect->domain_count : 1) * sizeof(*pointers));
        size_t *order = malloc((inspect->domain_count ? inspect->domain_count : 1) * sizeof(*order));
        if (!pointers || !order) {
                free(pointers);
                free(order);
                return NULL;
        }
        for (size_t i = 0; i < inspect->domain_count; i++)
                pointers[i] = &inspect->domains[i];
        qsort(pointers, inspect->domain_count, sizeof(*pointers), compare_names);
        for (size_t i = 0; i < inspect->domain_count; i++)
                order[i] = (size_t)(pointers[i] - inspect->domains);
        free(pointers);
        return order;
}

static uint64_t domain_total(const inspect_t *inspect, size_t d) {
        uint64_t total = 0;
        for (int s = 0; s < BL_STATE__COUNT; s++)
                total += inspect->by_domain[d * BL_STATE__COUNT + s];
        return total;
}

static void print_text(const inspect_t *inspect, const size_t *order) {
        char when[48], age[32];
        int name_width = 6;
        printf("%s read at %s: %" PRIu64 " item%s, %" PRIu64 " placeholder%s\n\n", inspect->topic,
               bl_history_format_time(inspect->read_at_ms, when, sizeof(when)), inspect->items,
               inspect->items == 1 ? "" : "s", inspect->placeholders, inspect->placeholders == 1 ? "" : "s");
        printf("%-12s %8s  %s\n", "STATE", "ITEMS", "OLDEST");
        for (int s = 0; s < BL_STATE__COUNT; s++)
                printf("%-12s %8" PRIu64 "  %s\n", bl_state_name((bl_state_t)s), inspect->by_state[s],
                       inspect->by_state[s] ? bl_cmd_format_duration(inspect->read_at_ms -
                                                                             inspect->oldest_since_ms[s],
                                                                     age, sizeof(age))
                                            : "-");
        printf("%-12s %8" PRIu64 "\n", "total", inspect->items);
        if (inspect->items == 0)
                return;

        /* domain x state, with a column for each state that holds something */
        for (size_t i = 0; i < inspect->domain_count; i++)
                if ((int)strlen(inspect->domains[i]) > name_width)
                        name_width = (int)strlen(inspect->domains[i]);
        printf("\n%-*s", name_width, "DOMAIN");
        for (int s = 0; s < BL_STATE__COUNT; s++)
                if (inspect->by_state[s])
                        printf("  %*s", (int)strlen(bl_state_name((bl_state_t)s)), bl_state_name((bl_state_t)s));
        printf("  %5s\n", "TOTAL");
        for (size_t i = 0; i < inspect->domain_count; i++) {
                size_t d = order[i];
                uint64_t total = domain_total(inspect, d);
                if (!total)
                        continue;
                printf("%-*s", name_width, inspect->domains[d]);
                for (int s = 0; s < BL_STATE__COUNT; s++)
                        if (inspect->by_state[s])
                                printf("  %*" PRIu64, (int)strlen(bl_state_name((bl_state_t)s)),
                                       inspect->by_domain[d * BL_STATE__COUNT + s]);
                printf("  %5" PRIu64 "\n", total);
        }
        if (inspect->estimate)
                bl_inspect_capacity_print(inspect->estimate, inspect->domains, order, inspect->domain_count,
                                          inspect->read_at_ms);
}

static json_t *counts_json(const inspect_t *inspect, const size_t *order) {
        json_t *by_state = json_object(), *by_domain = json_object(), *oldest = json_object();
        for (int s = 0; s < BL_STATE__COUNT; s++) {
                const char *name = bl_state_name((bl_state_t)s);
                json_object_set_new(by_state, name, json_integer((json_int_t)inspect->by_state[s]));
                if (inspect->by_state[s])
                        json_object_set_new(oldest, name,
                                            json_integer(inspect->read_at_ms - inspect->oldest_since_ms[s]));
        }
        for (size_t i = 0; i < inspect->domain_count; i++) {
                size_t d = order[i];
                json_t *states;
                if (!domain_total(inspect, d))
                        continue;
                states = json_object();
                for (int s = 0; s < BL_STATE__COUNT; s++) {
                        uint64_t in_state = inspect->by_domain[d * BL_STATE__COUNT + s];
                        if (in_state)
                                json_object_set_new(states, bl_state_name((bl_state_t)s),
                                                    json_integer((json_int_t)in_state));
                }
                json_object_set_new(by_domain, inspect->domains[d], states);
        }
        json_t *capacity = inspect->estimate ? bl_inspect_capacity_json(inspect->estimate, inspect->domains, order,
                                                                        inspect->domain_count, inspect->read_at_ms)
                                             : json_null();
        return json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:I, s:I, s:o}", "topic", inspect->topic, "items",
                         (json_int_t)inspect->items, "placeholders", (json_int_t)inspect->placeholders, "by_state",
                         by_state, "by_domain", by_domain, "oldest_age_ms", oldest, "read_at",
                         (json_int_t)inspect->read_at_ms, "unreadable", (json_int_t)inspect->unreadable, "capacity",
                         capacity);
}

static bool report(const inspect_t *inspect, bool as_json) {
        size_t *order = domains_by_name(inspect);
        json_t *out;
        if (!order)
                return false;
        if (!as_json) {
                print_text(inspect, order);
                free(order);
                return true;
        }
        out = counts_json(inspect, order);
        free(order);
        if (!out)
                return false;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
        return true;
}

/* ---- the command ----------------------------------------------------------------- */

/* The capacity estimate, from backlog.transitions; left out (NULL) when that cannot be read. */
static void read_capacity(inspect_t *inspect, const bl_config_t *config) {
        if (!(inspect->estimate = bl_inspect_capacity_new(config))) {
                inspect->out_of_memory = true;
                return;
        }
        if (!bl_inspect_capacity_read(inspect->estimate, &inspect->scan)) {
                fprintf(stderr, "backlogd inspect: the capacity estimate is left out\n");
                bl_inspect_capacity_destroy(inspect->estimate);
                inspect->estimate = NULL;
                return;
        }
        for (size_t d = 0; d < inspect->domain_count; d++) {
                const uint64_t *states = &inspect->by_domain[d * BL_STATE__COUNT];
                bl_inspect_capacity_load(inspect->estimate, inspect->domains[d],
                                         (int64_t)(states[BL_STATE_DISPATCHED] + states[BL_STATE_RUNNING]),
                                         (int64_t)states[BL_STATE_READY], inspect->read_at_ms);
        }
}

static void inspect_close(inspect_t *inspect) {
        for (size_t i = 0; i < inspect->count; i++)
                free(inspect->summaries[i].task_id);
        free(inspect->summaries);
        for (size_t i = 0; i < inspect->domain_count; i++)
                free(inspect->domains[i]);
        free(inspect->domains);
        free(inspect->by_domain);
        free(inspect->topic);
        bl_inspect_capacity_destroy(inspect->estimate);
        bl_cmd_scan_close(&inspect->scan);
}

static int inspect_run(const bl_config_t *config, bool as_json) {
        inspect_t inspect = {0};
        int status = BL_EXIT_FAILURE;
        if (!(inspect.topic = bl_config_topic_name(config, "backlog.state"))) {
                fprintf(stderr, "backlogd inspect: out of memory\n");
                goto done;
        }
        if (!bl_cmd_scan_open(&inspect.scan, "inspect", config) ||
            !bl_cmd_scan_topic(&inspect.scan, inspect.topic, NULL, 0, read_snapshot, &inspect) ||
            inspect.interrupted)
                goto done;
        inspect.read_at_ms = bl_cmd_now_ms();
        if (!inspect.out_of_memory && !count(&inspect))
                inspect.out_of_memory = true;
        if (!inspect.out_of_memory)
                read_capacity(&inspect, config);
        if (inspect.out_of_memory || !report(&inspect, as_json)) {
                fprintf(stderr, "backlogd inspect: out of memory\n");
                goto done;
        }
        if (inspect.unreadable)
                fprintf(stderr, "backlogd inspect: %" PRIu64 " snapshot%s could not be read and %s left out\n",
                        inspect.unreadable, inspect.unreadable == 1 ? "" : "s",
                        inspect.unreadable == 1 ? "is" : "are");
        status = inspect.unreadable ? BL_EXIT_FAILURE : BL_EXIT_OK;
done:
        inspect_close(&inspect);
        return status;
}

int bl_cmd_inspect(int argc, char **argv) {
        const char *path;
        bool as_json;
        bl_config_t *config;
        int early, status;
        if ((early = bl_cmd_parse_options("inspect", argc, argv, usage, &path, &as_json, NULL)) >= 0)
                return early;
        if (optind < argc)
                return bl_cmd_usage_error("inspect", "unexpected argument '%s'", argv[optind]);
        if (!(config = bl_cmd_load_config(path)))
                return BL_EXIT_FAILURE;
        status = inspect_run(config, as_json);
        bl_config_destroy(config);
        return status;
}
