/*
 * tasks.c: `backlogd tasks list` and `backlogd tasks show TASK_ID`: the
 * operator's questions about single tasks (SPEC §15): which tasks are in a
 * state, of a domain or tenant, waiting for what; and for one task its
 * state, what it waits for, what it scores now and its last transitions.
 *
 * list reads backlog.state to its read_committed end across every
 * partition with the scan the other reading commands use (cmd/scan.c: a
 * reader outside any group, progress on stderr when it is a terminal).
 * Each record is kept as an entry (task, partition, offset) with its
 * decoded item only when the item passes the filters that need no clock
 * (state, domain, tenant), its payload freed at once; the entries are
 * sorted like inspect's and the last one of each task is its snapshot, so a
 * superseded snapshot that matched never shows. What a task waits for
 * (core/wait.h) is judged at read_at, when the read ended; the matches are
 * listed oldest in their state first, up to --limit.
 *
 * show reads only the partition of backlog.state that holds TASK_ID (the
 * murmur2 partition of SPEC §1), then the partitions of the tasks it waits
 * on (to say what state each is in), and the partition of
 * backlog.transitions that holds it, keeping its last transitions. Its score
 * is core's (bl_policy_score_task, the function the scheduler and `replay
 * --policy` use) under the policy `run` would follow: policy.file, else
 * the newest record of policy.name in backlog.policy, else none (FIFO).
 *
 * Options are checked before any Kafka handle exists. Main thread.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/scan.h"
#include "contract/records.h"
#include "core/history.h"
#include "core/wait.h"
#include "ops/scrape.h"
#include "policy/load.h"

#define SHOW_TRANSITIONS_DEFAULT 10
#define SHOW_WAITS_MAX 64 /* more than the contract's bound on depends_on */
#define METRICS_URLS_MAX 64 /* instances asked with --metrics */
#define HELD_DOMAINS_MAX 64 /* as many as the domains key allows */
#define SCRAPE_TIMEOUT_MS 5000

/* The domains whose circuit breaker holds their tasks on some instance asked (--metrics, SPEC §14). */
typedef struct held_domains_s {
        char names[HELD_DOMAINS_MAX][128];
        size_t count;
} held_domains_t;

typedef struct tasks_opts_s {
        const char *config_path;
        bool as_json;
        int state;        /* -1: any */
        const char *domain;
        const char *tenant;
        int waiting_for;  /* -1: any */
        size_t limit;     /* 0: every match */
        size_t transitions;
        const char *task_id;
        const char *metrics_urls[METRICS_URLS_MAX]; /* list: instances' /metrics, for their breakers */
        size_t metrics_count;
} tasks_opts_t;

static void usage(FILE *out) {
        fprintf(out,
                "Usage: backlogd tasks list [--state S] [--domain D] [--tenant T] [--waiting-for W] [--limit N]\n"
                "                           [--metrics URL]... [-c FILE] [--json]\n"
                "       backlogd tasks show TASK_ID [--transitions N] [-c FILE] [--json]\n"
                "\n"
                "list  the tasks of backlog.state (its committed end) that match every filter given,\n"
                "      oldest in its state first: state, domain, tenant, time in the state and what\n"
                "      each waits for. Placeholders and purged tasks are left out.\n"
                "show  one task: its state, what it waits for (each dependency named, with its\n"
                "      state; not_before and back-offs with their end), its score now under the\n"
                "      policy `run` follows, with the rationale, and its last transitions.\n"
                "\n"
                "What a task waits for (--waiting-for):\n"
                "  dependency  BLOCKED until a task it depends on COMPLETED\n"
                "  not_before  BLOCKED until its not_before\n"
                "  approval    BLOCKED until APPROVED (its risk is at or above the threshold)\n"
                "  retry       RETRY_WAIT: the back-off before its next attempt\n"
                "  worker      DISPATCHED or RUNNING: its worker, until its lease ends\n"
                "  breaker     READY behind its domain's open circuit breaker (SPEC 14; needs --metrics)\n"
                "  agent       BLOCKED: held by its domain's agent until the hold's end (SPEC 13)\n"
                "\n"
                "Options:\n"
                "      --state S        QUEUED, BLOCKED, READY, DISPATCHED, RUNNING, RETRY_WAIT,\n"
                "                       COMPLETED, FAILED, DEAD, CANCELLED or EXPIRED\n"
                "      --domain D       tasks of domain D\n"
                "      --tenant T       tasks of tenant T\n"
                "      --waiting-for W  tasks that wait for W (above)\n"
                "      --limit N        at most N tasks (the oldest in their state); the total is still told\n"
                "      --metrics URL    list: a running instance's /metrics (repeat for each): its circuit\n"
                "                       breakers say which READY tasks wait for one (backlog.state cannot)\n"
                "      --transitions N  show: the last N transitions (default %d; 0: none)\n"
                "  -c, --config FILE    configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                "      --json           one JSON object on stdout\n"
                "  -h, --help           this help\n"
                "\n"
                "Exit status: 0 listed or shown; 1 the task is not in backlog.state, a topic could\n"
                "not be read, a snapshot could not be decoded, or the policy was refused; 2 usage.\n",
                SHOW_TRANSITIONS_DEFAULT);
}

/* ---- options --------------------------------------------------------------------- */

static bool parse_count(const char *text, size_t *out) {
        char *end;
        unsigned long long value;
        if (!text || !isdigit((unsigned char)*text))
                return false;
        errno = 0;
        value = strtoull(text, &end, 10);
        if (errno || *end || value > 1000000000ULL)
                return false;
        *out = (size_t)value;
        return true;
}

static int parse_state(const char *text) {
        char upper[32];
        size_t i;
        for (i = 0; text[i] && i + 1 < sizeof(upper); i++)
                upper[i] = (char)toupper((unsigned char)text[i]);
        upper[i] = '\0';
        return text[i] ? -1 : bl_state_parse(upper);
}

static const char *long_name(const struct option *options, int opt) {
        for (; options->name; options++)
                if (options->val == opt)
                        return options->name;
        return "?";
}

/* Fills @p opts from argv (argv[0] the action); -1 to go on, else the exit status. */
static int parse_options(const char *action, int argc, char **argv, tasks_opts_t *opts) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},   {"json", no_argument, NULL, 'j'},
                {"state", required_argument, NULL, 's'},    {"domain", required_argument, NULL, 'd'},
                {"tenant", required_argument, NULL, 't'},   {"waiting-for", required_argument, NULL, 'w'},
                {"limit", required_argument, NULL, 'l'},    {"transitions", required_argument, NULL, 'n'},
                {"metrics", required_argument, NULL, 'm'},
                {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
        };
        bool listing = !strcmp(action, "list");
        int opt;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                if (listing ? opt == 'n' : strchr("sdtwlm", opt) != NULL)
                        return bl_cmd_usage_error("tasks", "--%s is not an option of 'tasks %s'",
                                                  long_name(options, opt), action);
                switch (opt) {
                case 'c': opts->config_path = optarg; break;
                case 'j': opts->as_json = true; break;
                case 's':
                        if ((opts->state = parse_state(optarg)) < 0)
                                return bl_cmd_usage_error("tasks", "--state %s: no such state (QUEUED, BLOCKED, "
                                                                   "READY, DISPATCHED, RUNNING, RETRY_WAIT, COMPLETED, "
                                                                   "FAILED, DEAD, CANCELLED, EXPIRED)",
                                                          optarg);
                        break;
                case 'd': opts->domain = optarg; break;
                case 't': opts->tenant = optarg; break;
                case 'w':
                        if ((opts->waiting_for = bl_wait_reason_parse(optarg)) < 0)
                                return bl_cmd_usage_error("tasks", "--waiting-for %s: not a reason to wait (dependency, "
                                                                   "not_before, approval, retry, worker, breaker, agent)",
                                                          optarg);
                        break;
                case 'l':
                        if (!parse_count(optarg, &opts->limit) || opts->limit == 0)
                                return bl_cmd_usage_error("tasks", "--limit %s: a whole number of tasks, at least 1",
                                                          optarg);
                        break;
                case 'n':
                        if (!parse_count(optarg, &opts->transitions))
                                return bl_cmd_usage_error("tasks", "--transitions %s: a whole number, 0 or more",
                                                          optarg);
                        break;
                case 'm':
                        if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                                return bl_cmd_usage_error("tasks", "--metrics %s: an http:// or https:// URL of an "
                                                                   "instance's /metrics",
                                                          optarg);
                        if (opts->metrics_count == METRICS_URLS_MAX)
                                return bl_cmd_usage_error("tasks", "--metrics: at most %d instances",
                                                          METRICS_URLS_MAX);
                        opts->metrics_urls[opts->metrics_count++] = optarg;
                        break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("tasks", "bad option");
                }
        }
        if (listing) {
                if (optind < argc)
                        return bl_cmd_usage_error("tasks", "unexpected argument '%s': list takes options only",
                                                  argv[optind]);
                return -1;
        }
        if (optind >= argc)
                return bl_cmd_usage_error("tasks", "show: missing TASK_ID");
        if (!*argv[optind])
                return bl_cmd_usage_error("tasks", "show: TASK_ID is empty");
        if (optind + 1 < argc)
                return bl_cmd_usage_error("tasks", "unexpected argument '%s': one TASK_ID at a time",
                                          argv[optind + 1]);
        opts->task_id = argv[optind];
        return -1;
}

/* ---- what a task waits for, as text and JSON ----------------------------------------- */

/* "in 59m 50s" or "3s ago", from @p now_ms to @p until_ms. */
static const char *relative_text(int64_t until_ms, int64_t now_ms, char *out, size_t out_size) {
        char span[32];
        if (until_ms >= now_ms)
                snprintf(out, out_size, "in %s", bl_cmd_format_duration(until_ms - now_ms, span, sizeof(span)));
        else
                snprintf(out, out_size, "%s ago", bl_cmd_format_duration(now_ms - until_ms, span, sizeof(span)));
        return out;
}

/* One wait in words: "dependency t-a", "not_before until <time> (in 59m 50s)", ... */
static const char *wait_text(const bl_wait_t *wait, int64_t now_ms, char *out, size_t out_size) {
        char at[48], relative[48];
        if (wait->until_ms != BL_NO_TIME) {
                bl_history_format_time(wait->until_ms, at, sizeof(at));
                relative_text(wait->until_ms, now_ms, relative, sizeof(relative));
        }
        switch (wait->reason) {
        case BL_WAIT_DEPENDENCY: snprintf(out, out_size, "dependency %s", wait->task_id); break;
        case BL_WAIT_NOT_BEFORE: snprintf(out, out_size, "not_before until %s (%s)", at, relative); break;
        case BL_WAIT_APPROVAL: snprintf(out, out_size, "approval (an APPROVED event)"); break;
        case BL_WAIT_RETRY:
                if (wait->until_ms == BL_NO_TIME)
                        snprintf(out, out_size, "retry back-off");
                else
                        snprintf(out, out_size, "retry back-off until %s (%s)", at, relative);
                break;
        case BL_WAIT_WORKER:
                if (wait->until_ms == BL_NO_TIME)
                        snprintf(out, out_size, "worker");
                else
                        snprintf(out, out_size, "worker, its lease until %s (%s)", at, relative);
                break;
        default: snprintf(out, out_size, "%s", bl_wait_reason_name(wait->reason)); break;
        }
        return out;
}

/* The short form for list's column: "dependency t-a", "not_before in 59m 50s", "approval". */
static const char *wait_brief(const bl_wait_t *wait, int64_t now_ms, char *out, size_t out_size) {
        char relative[48];
        if (wait->reason == BL_WAIT_DEPENDENCY)
                snprintf(out, out_size, "dependency %s", wait->task_id);
        else if (wait->until_ms != BL_NO_TIME)
                snprintf(out, out_size, "%s %s", bl_wait_reason_name(wait->reason),
                         relative_text(wait->until_ms, now_ms, relative, sizeof(relative)));
        else
                snprintf(out, out_size, "%s", bl_wait_reason_name(wait->reason));
        return out;
}

static json_t *wait_json(const bl_wait_t *wait) {
        char at[48];
        json_t *out = json_pack("{s:s}", "reason", bl_wait_reason_name(wait->reason));
        if (wait->task_id)
                json_object_set_new(out, "task_id", json_string(wait->task_id));
        if (wait->until_ms != BL_NO_TIME) {
                json_object_set_new(out, "until", json_string(bl_history_format_time(wait->until_ms, at, sizeof(at))));
                json_object_set_new(out, "until_ms", json_integer(wait->until_ms));
        }
        return out;
}

static json_t *opt_time(int64_t ms) {
        char at[48];
        return ms == BL_NO_TIME ? json_null() : json_string(bl_history_format_time(ms, at, sizeof(at)));
}

static json_t *opt_string(const char *text) {
        return text ? json_string(text) : json_null();
}

/* What list and show both say of a task. */
static json_t *item_json(const bl_item_t *item, int64_t now_ms) {
        return json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:o, s:I, s:i, s:i, s:f, s:f, s:o, s:o}", "task_id",
                         item->task_id, "state", bl_state_name(item->state), "domain", opt_string(item->kind->domain),
                         "task_type", opt_string(item->kind->task_type), "tenant", opt_string(item->kind->tenant),
                         "partition", (int)item->partition, "state_since", opt_time(item->state_since_ms),
                         "age_ms",
                         (json_int_t)(item->state_since_ms == BL_NO_TIME ? 0 : now_ms - item->state_since_ms),
                         "attempt", (int)item->attempt, "max_attempts", (int)item->max_attempts, "business_value",
                         item->business_value, "risk", item->risk, "deadline", opt_time(item->deadline_ms),
                         "not_before", opt_time(item->not_before_ms));
}

/* ---- list ---------------------------------------------------------------------------- */

typedef struct entry_s {
        char *task_id;
        int32_t partition;
        int64_t offset;
        bl_item_t *item; /* NULL: tombstone, unreadable, or not of the state, domain or tenant asked for */
        bool unreadable;
} entry_t;

typedef struct listing_s {
        bl_cmd_scan_t scan;
        const tasks_opts_t *opts;
        char *topic;
        entry_t *entries;
        size_t count, capacity;
        const bl_item_t **matches; /* the snapshots that match, oldest in their state first */
        size_t match_count;
        uint64_t unreadable;
        bool out_of_memory;
        bool interrupted;
        int64_t read_at_ms;
        bl_wait_context_t context; /* the breakers the instances asked hold (--metrics); empty: none known */
} listing_t;

static bool passes_static_filters(const tasks_opts_t *opts, const bl_item_t *item) {
        if (item->placeholder)
                return false;
        if (opts->state >= 0 && item->state != (bl_state_t)opts->state)
                return false;
        if (opts->domain && (!item->kind->domain || strcmp(item->kind->domain, opts->domain)))
                return false;
        if (opts->tenant && (!item->kind->tenant || strcmp(item->kind->tenant, opts->tenant)))
                return false;
        return true;
}

static entry_t *next_entry(listing_t *listing, const rd_kafka_message_t *message) {
        entry_t *entry;
        if (listing->count == listing->capacity) {
                size_t capacity = listing->capacity ? listing->capacity * 2 : 1024;
                entry_t *entries = realloc(listing->entries, capacity * sizeof(*entries));
                if (!entries)
                        return NULL;
                listing->entries = entries;
                listing->capacity = capacity;
        }
        entry = &listing->entries[listing->count];
        memset(entry, 0, sizeof(*entry));
        if (!(entry->task_id = strndup(message->key, message->key_len)))
                return NULL;
        entry->partition = message->partition;
        entry->offset = message->offset;
        listing->count++;
        return entry;
}

/* The payload is the worker's, never listed: freed at once, for a backlog of many tasks. */
static void drop_payload(bl_item_t *item) {
        free(item->payload);
        item->payload = NULL;
        item->payload_size = 0;
        item->has_payload = false;
}

static bool read_listed(const rd_kafka_message_t *message, void *opaque) {
        listing_t *listing = opaque;
        bl_record_error_t error;
        entry_t *entry;
        bl_item_t *item;
        if (!message->key)
                return true;
        if (!(entry = next_entry(listing, message))) {
                listing->out_of_memory = true;
                return false;
        }
        if (!message->payload)
                return true; /* a tombstone: the task was purged */
        item = bl_records_decode_item(listing->scan.contracts.schemas, message->payload, message->len,
                                      message->partition, &error);
        if (!item) {
                entry->unreadable = true;
                fprintf(stderr, "backlogd tasks: %s [%d] offset %" PRId64 " (%s): %s%s%s\n", listing->topic,
                        (int)message->partition, message->offset, entry->task_id,
                        error.transient ? "" : bl_reason_name(error.reason), error.transient ? "" : ": ",
                        error.detail);
                listing->interrupted = error.transient;
                return !error.transient;
        }
        if (passes_static_filters(listing->opts, item)) {
                drop_payload(item);
                entry->item = item;
        } else {
                bl_item_destroy(item);
        }
        return true;
}

static int compare_entries(const void *a, const void *b) {
        const entry_t *x = a, *y = b;
        int order = strcmp(x->task_id, y->task_id);
        if (order)
                return order;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int compare_matches(const void *a, const void *b) {
        const bl_item_t *x = *(const bl_item_t *const *)a, *y = *(const bl_item_t *const *)b;
        if (x->state_since_ms != y->state_since_ms)
                return x->state_since_ms < y->state_since_ms ? -1 : 1;
        return strcmp(x->task_id, y->task_id);
}

/* The last entry of each task is its snapshot; the ones that match, oldest in their state first. */
static bool collect_matches(listing_t *listing) {
        if (listing->count)
                qsort(listing->entries, listing->count, sizeof(*listing->entries), compare_entries);
        if (!(listing->matches = malloc((listing->count ? listing->count : 1) * sizeof(*listing->matches))))
                return false;
        for (size_t i = 0; i < listing->count; i++) {
                const entry_t *entry = &listing->entries[i];
                if (i + 1 < listing->count && !strcmp(entry->task_id, listing->entries[i + 1].task_id))
                        continue;
                if (entry->unreadable)
                        listing->unreadable++;
                if (!entry->item)
                        continue;
                if (listing->opts->waiting_for >= 0 &&
                    !bl_item_waits_for_in(entry->item, listing->read_at_ms, &listing->context,
                                          (bl_wait_reason_t)listing->opts->waiting_for))
                        continue;
                listing->matches[listing->match_count++] = entry->item;
        }
        if (listing->match_count)
                qsort(listing->matches, listing->match_count, sizeof(*listing->matches), compare_matches);
        return true;
}

static size_t shown_count(const listing_t *listing) {
        size_t limit = listing->opts->limit;
        return limit && limit < listing->match_count ? limit : listing->match_count;
}

/* The filters in words, for the heading: "state BLOCKED, waiting for approval". */
static void describe_filters(const tasks_opts_t *opts, char *out, size_t out_size) {
        size_t used = 0;
        out[0] = '\0';
#define APPEND(...)                                                                                      \
        do {                                                                                             \
                int n_ = snprintf(out + used, out_size - used, "%s", used ? ", " : " (");                \
                used += n_ > 0 && (size_t)n_ < out_size - used ? (size_t)n_ : 0;                         \
                n_ = snprintf(out + used, out_size - used, __VA_ARGS__);                                 \
                used += n_ > 0 && (size_t)n_ < out_size - used ? (size_t)n_ : 0;                         \
        } while (0)
        if (opts->state >= 0)
                APPEND("state %s", bl_state_name((bl_state_t)opts->state));
        if (opts->domain)
                APPEND("domain %s", opts->domain);
        if (opts->tenant)
                APPEND("tenant %s", opts->tenant);
        if (opts->waiting_for >= 0)
                APPEND("waiting for %s", bl_wait_reason_name((bl_wait_reason_t)opts->waiting_for));
#undef APPEND
        if (used && used + 1 < out_size)
                strcat(out, ")");
}

static void print_list_text(const listing_t *listing) {
        char when[48], filters[256], age[32], text[160];
        size_t shown = shown_count(listing);
        int id_width = 7, domain_width = 6, tenant_width = 6;
        describe_filters(listing->opts, filters, sizeof(filters));
        printf("%s read at %s: %zu task%s match%s%s", listing->topic,
               bl_history_format_time(listing->read_at_ms, when, sizeof(when)), listing->match_count,
               listing->match_count == 1 ? "" : "s", listing->match_count == 1 ? "es" : "", filters);
        if (shown < listing->match_count)
                printf(", the %zu oldest shown", shown);
        printf("\n");
        if (!shown)
                return;
        for (size_t i = 0; i < shown; i++) {
                const bl_item_t *item = listing->matches[i];
                int id = (int)strlen(item->task_id);
                int domain = item->kind->domain ? (int)strlen(item->kind->domain) : 1;
                int tenant = item->kind->tenant ? (int)strlen(item->kind->tenant) : 1;
                id_width = id > id_width ? id : id_width;
                domain_width = domain > domain_width ? domain : domain_width;
                tenant_width = tenant > tenant_width ? tenant : tenant_width;
        }
        printf("\n%-*s  %-10s  %-*s  %-*s  %8s  %s\n", id_width, "TASK_ID", "STATE", domain_width, "DOMAIN",
               tenant_width, "TENANT", "IN STATE", "WAITING FOR");
        for (size_t i = 0; i < shown; i++) {
                const bl_item_t *item = listing->matches[i];
                bl_wait_t waits[4];
                size_t count = bl_item_waits_in(item, listing->read_at_ms, &listing->context, waits, 4);
                printf("%-*s  %-10s  %-*s  %-*s  %8s  ", id_width, item->task_id, bl_state_name(item->state),
                       domain_width, item->kind->domain ? item->kind->domain : "-", tenant_width,
                       item->kind->tenant ? item->kind->tenant : "-",
                       item->state_since_ms == BL_NO_TIME
                               ? "-"
                               : bl_cmd_format_duration(listing->read_at_ms - item->state_since_ms, age, sizeof(age)));
                if (!count)
                        printf("-");
                for (size_t w = 0; w < count && w < 4; w++)
                        printf("%s%s", w ? "; " : "", wait_brief(&waits[w], listing->read_at_ms, text, sizeof(text)));
                if (count > 4)
                        printf("; %zu more", count - 4);
                printf("\n");
        }
}

static json_t *task_row_json(const bl_item_t *item, int64_t now_ms, const bl_wait_context_t *context) {
        json_t *row = item_json(item, now_ms), *waits = json_array();
        size_t count = bl_item_waits_in(item, now_ms, context, NULL, 0);
        bl_wait_t *all = malloc((count ? count : 1) * sizeof(*all));
        if (!row || !waits || !all) {
                json_decref(row);
                json_decref(waits);
                free(all);
                return NULL;
        }
        bl_item_waits_in(item, now_ms, context, all, count);
        for (size_t w = 0; w < count; w++)
                json_array_append_new(waits, wait_json(&all[w]));
        free(all);
        json_object_set_new(row, "waiting_for", waits);
        return row;
}

static json_t *filters_json(const tasks_opts_t *opts) {
        return json_pack("{s:o, s:o, s:o, s:o, s:o}", "state",
                         opts->state >= 0 ? json_string(bl_state_name((bl_state_t)opts->state)) : json_null(),
                         "domain", opt_string(opts->domain), "tenant", opt_string(opts->tenant), "waiting_for",
                         opts->waiting_for >= 0 ? json_string(bl_wait_reason_name((bl_wait_reason_t)opts->waiting_for))
                                                : json_null(),
                         "limit", opts->limit ? json_integer((json_int_t)opts->limit) : json_null());
}

static bool print_list_json(const listing_t *listing) {
        size_t shown = shown_count(listing);
        json_t *tasks = json_array(), *out;
        for (size_t i = 0; i < shown; i++) {
                json_t *row = task_row_json(listing->matches[i], listing->read_at_ms, &listing->context);
                if (!row || json_array_append_new(tasks, row)) {
                        json_decref(tasks);
                        return false;
                }
        }
        out = json_pack("{s:s, s:I, s:o, s:I, s:I, s:I, s:o}", "topic", listing->topic, "read_at",
                        (json_int_t)listing->read_at_ms, "filters", filters_json(listing->opts), "matched",
                        (json_int_t)listing->match_count, "shown", (json_int_t)shown, "unreadable",
                        (json_int_t)listing->unreadable, "tasks", tasks);
        if (!out)
                return false;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
        return true;
}

static void listing_close(listing_t *listing) {
        for (size_t i = 0; i < listing->count; i++) {
                free(listing->entries[i].task_id);
                bl_item_destroy(listing->entries[i].item);
        }
        free(listing->entries);
        free(listing->matches);
        free(listing->topic);
        bl_cmd_scan_close(&listing->scan);
}

static void note_breaker(void *opaque, const char *domain, double state) {
        held_domains_t *held = opaque;
        if (state < 0.5 || !*domain || held->count == HELD_DOMAINS_MAX)
                return; /* closed */
        for (size_t i = 0; i < held->count; i++)
                if (!strcmp(held->names[i], domain))
                        return;
        snprintf(held->names[held->count++], sizeof(held->names[0]), "%s", domain);
}

/*
 * The domains whose breaker is open or half-open on any instance named by --metrics. Each instance
 * judges the tasks it owns; with several, a domain held on one is taken as held for all its READY tasks
 * (backlog.state does not say which instance owns which). False, said on stderr, when one cannot be asked.
 */
static bool ask_breakers(const tasks_opts_t *opts, held_domains_t *held) {
        char errstr[512];
        for (size_t i = 0; i < opts->metrics_count; i++)
                if (bl_scrape_metric(opts->metrics_urls[i], "backlogd_domain_breaker_state", "domain",
                                     SCRAPE_TIMEOUT_MS, note_breaker, held, errstr, sizeof(errstr))) {
                        fprintf(stderr, "backlogd tasks: --metrics: %s\n", errstr);
                        return false;
                }
        return true;
}

static bool breaker_holds(void *opaque, const char *domain) {
        const held_domains_t *held = opaque;
        for (size_t i = 0; i < held->count; i++)
                if (!strcmp(held->names[i], domain))
                        return true;
        return false;
}

static int tasks_list(const bl_config_t *config, const tasks_opts_t *opts) {
        listing_t listing = {.opts = opts};
        const char *absent = opts->waiting_for >= 0 ? bl_wait_reason_absent((bl_wait_reason_t)opts->waiting_for)
                                                    : NULL;
        int status = BL_EXIT_FAILURE;
        held_domains_t held = {.count = 0};
        if (absent)
                fprintf(stderr, "backlogd tasks: --waiting-for %s: %s\n",
                        bl_wait_reason_name((bl_wait_reason_t)opts->waiting_for), absent);
        if (opts->waiting_for == BL_WAIT_BREAKER && !opts->metrics_count)
                fprintf(stderr, "backlogd tasks: --waiting-for breaker: backlog.state does not say which breakers "
                                "are open (the running instances keep them): name their /metrics with --metrics "
                                "URL; without it no task is found waiting for one\n");
        if (opts->metrics_count) {
                if (!ask_breakers(opts, &held))
                        goto done;
                listing.context = (bl_wait_context_t){breaker_holds, &held};
        }
        if (!(listing.topic = bl_config_topic_name(config, "backlog.state"))) {
                fprintf(stderr, "backlogd tasks: out of memory\n");
                goto done;
        }
        if (!bl_cmd_scan_open(&listing.scan, "tasks", config) ||
            !bl_cmd_scan_topic(&listing.scan, listing.topic, NULL, 0, read_listed, &listing) || listing.interrupted)
                goto done;
        listing.read_at_ms = bl_cmd_now_ms();
        if (listing.out_of_memory || !collect_matches(&listing) ||
            !(opts->as_json ? print_list_json(&listing) : (print_list_text(&listing), true))) {
                fprintf(stderr, "backlogd tasks: out of memory\n");
                goto done;
        }
        if (listing.unreadable)
                fprintf(stderr, "backlogd tasks: %" PRIu64 " snapshot%s could not be read and %s left out\n",
                        listing.unreadable, listing.unreadable == 1 ? "" : "s",
                        listing.unreadable == 1 ? "is" : "are");
        status = listing.unreadable ? BL_EXIT_FAILURE : BL_EXIT_OK;
done:
        listing_close(&listing);
        return status;
}

/* ---- show: reading ---------------------------------------------------------------------- */

/* The latest snapshot of one task id in backlog.state. */
typedef struct latest_s {
        const char *task_id;
        bool seen;          /* a record with the key was read */
        bool tombstone;     /* the last one was a tombstone */
        bool unreadable;
        bl_item_t *item;    /* the last one decoded; NULL for a tombstone */
} latest_t;

typedef struct showing_s {
        bl_cmd_scan_t scan;
        const tasks_opts_t *opts;
        char *state_topic;
        char *transitions_topic;
        int32_t state_partitions;
        latest_t task;
        latest_t *deps;     /* one per pending dependency, in its order */
        size_t dep_count;
        bl_transition_record_t **ring; /* the last opts->transitions transitions, in the order written */
        size_t ring_next, transitions_seen;
        uint64_t unreadable;
        bool interrupted;
        bool out_of_memory;
        bl_policy_t *policy;
        bool policy_refused;
        const char *policy_source; /* policy.file's path, "backlog.policy", or NULL: none configured */
        int64_t read_at_ms;
} showing_t;

static void keep_latest(showing_t *showing, latest_t *latest, const rd_kafka_message_t *message) {
        bl_record_error_t error;
        bl_item_t *item = NULL;
        latest->seen = true;
        latest->tombstone = !message->payload;
        latest->unreadable = false;
        if (message->payload) {
                item = bl_records_decode_item(showing->scan.contracts.schemas, message->payload, message->len,
                                              message->partition, &error);
                if (!item) {
                        latest->unreadable = true;
                        showing->interrupted = error.transient;
                        fprintf(stderr, "backlogd tasks: %s [%d] offset %" PRId64 " (%s): %s%s%s\n",
                                showing->state_topic, (int)message->partition, message->offset, latest->task_id,
                                error.transient ? "" : bl_reason_name(error.reason), error.transient ? "" : ": ",
                                error.detail);
                }
        }
        bl_item_destroy(latest->item);
        latest->item = item;
}

static bool key_is(const rd_kafka_message_t *message, const char *task_id) {
        return message->key && message->key_len == strlen(task_id) && !memcmp(message->key, task_id, message->key_len);
}

static bool read_task_snapshot(const rd_kafka_message_t *message, void *opaque) {
        showing_t *showing = opaque;
        if (key_is(message, showing->task.task_id))
                keep_latest(showing, &showing->task, message);
        return !showing->interrupted;
}

static bool read_dep_snapshots(const rd_kafka_message_t *message, void *opaque) {
        showing_t *showing = opaque;
        for (size_t i = 0; i < showing->dep_count; i++)
                if (key_is(message, showing->deps[i].task_id))
                        keep_latest(showing, &showing->deps[i], message);
        return !showing->interrupted;
}

static bool read_task_transition(const rd_kafka_message_t *message, void *opaque) {
        showing_t *showing = opaque;
        bl_record_error_t error;
        bl_transition_record_t *record;
        size_t keep = showing->opts->transitions;
        if (!key_is(message, showing->task.task_id) || !message->payload)
                return true;
        showing->transitions_seen++;
        if (!keep)
                return true;
        record = bl_transition_reader_read(showing->scan.transitions, message->key, message->key_len, message->payload,
                                           message->len, message->partition, -1, &error);
        if (!record) {
                showing->unreadable++;
                showing->interrupted = error.transient;
                fprintf(stderr, "backlogd tasks: %s [%d] offset %" PRId64 ": %s%s%s\n", showing->transitions_topic,
                        (int)message->partition, message->offset, error.transient ? "" : bl_reason_name(error.reason),
                        error.transient ? "" : ": ", error.detail);
                return !error.transient;
        }
        bl_transition_record_destroy(showing->ring[showing->ring_next]);
        showing->ring[showing->ring_next] = record;
        showing->ring_next = (showing->ring_next + 1) % keep;
        return true;
}

/* Reads @p topic's partitions holding the keys of @p latest (count of them). */
static bool read_partitions_of(showing_t *showing, const char *topic, int32_t partition_count, const latest_t *latest,
                               size_t count, bl_reader_cb *cb) {
        int32_t *partitions = malloc((count ? count : 1) * sizeof(*partitions));
        size_t unique = 0;
        bool ok;
        if (!partitions) {
                showing->out_of_memory = true;
                return false;
        }
        for (size_t i = 0; i < count; i++) {
                int32_t p = bl_reader_partition_for_key(latest[i].task_id, partition_count);
                size_t j = 0;
                while (j < unique && partitions[j] != p)
                        j++;
                if (j == unique)
                        partitions[unique++] = p;
        }
        ok = bl_cmd_scan_topic(&showing->scan, topic, partitions, unique, cb, showing) && !showing->interrupted;
        free(partitions);
        return ok;
}

/* The tasks it waits on: what state each is in. */
static bool read_dependencies(showing_t *showing) {
        const bl_strvec_t *pending = &bl_item_cold(showing->task.item)->pending_deps;
        if (!pending->count || showing->task.item->state != BL_STATE_BLOCKED)
                return true;
        if (!(showing->deps = calloc(pending->count, sizeof(*showing->deps)))) {
                showing->out_of_memory = true;
                return false;
        }
        showing->dep_count = pending->count;
        for (size_t i = 0; i < pending->count; i++)
                showing->deps[i].task_id = pending->items[i];
        return read_partitions_of(showing, showing->state_topic, showing->state_partitions, showing->deps,
                                  showing->dep_count, read_dep_snapshots);
}

static bool read_transitions(showing_t *showing) {
        int32_t partitions = bl_cmd_scan_partition_count(&showing->scan, showing->transitions_topic);
        if (partitions < 0)
                return false;
        if (showing->opts->transitions &&
            !(showing->ring = calloc(showing->opts->transitions, sizeof(*showing->ring)))) {
                showing->out_of_memory = true;
                return false;
        }
        return read_partitions_of(showing, showing->transitions_topic, partitions, &showing->task, 1,
                                  read_task_transition);
}

/* ---- show: the policy `run` would follow ----------------------------------------------- */

static void on_policy_problem(const char *path, const char *reason, bool fatal, void *opaque) {
        const char *source = opaque;
        fprintf(stderr, "backlogd tasks: %s: %s%s%s%s\n", source, fatal ? "" : "warning: ", path, *path ? ": " : "",
                reason);
}

typedef struct newest_policy_s {
        const char *name;
        char *text;
        size_t size;
} newest_policy_t;

static bool keep_newest_policy(const rd_kafka_message_t *message, void *opaque) {
        newest_policy_t *newest = opaque;
        if (!key_is(message, newest->name))
                return true;
        free(newest->text);
        newest->text = NULL;
        newest->size = 0;
        if (message->payload) {
                if (!(newest->text = malloc(message->len + 1)))
                        return false;
                memcpy(newest->text, message->payload, message->len);
                newest->text[message->len] = '\0';
                newest->size = message->len;
        }
        return true;
}

/* policy.file, else policy.name's newest record in backlog.policy, as steer.c loads them for `run`. */
static void load_policy(showing_t *showing, const bl_config_t *config) {
        bl_policy_fallback_t fallback = {config->backlog_retry_base_ms, config->backlog_retry_cap_ms,
                                         (int32_t)config->backlog_max_attempts};
        const char *const *domains = (const char *const *)config->domains.items;
        if (*config->policy_file) {
                showing->policy_source = config->policy_file;
                showing->policy = bl_policy_load_file(config->policy_file, domains, config->domains.count, &fallback,
                                                      on_policy_problem, (void *)config->policy_file);
        } else if (*config->policy_name) {
                newest_policy_t newest = {config->policy_name, NULL, 0};
                char *topic = bl_config_topic_name(config, "backlog.policy");
                showing->policy_source = "backlog.policy";
                if (topic && bl_cmd_scan_topic(&showing->scan, topic, NULL, 0, keep_newest_policy, &newest)) {
                        if (!newest.text)
                                fprintf(stderr, "backlogd tasks: %s has no policy named %s\n", topic,
                                        config->policy_name);
                        else
                                showing->policy = bl_policy_parse_with(newest.text, newest.size, domains,
                                                                       config->domains.count, &fallback,
                                                                       on_policy_problem, "backlog.policy");
                }
                free(newest.text);
                free(topic);
        } else {
                return; /* none configured: FIFO, no score */
        }
        showing->policy_refused = showing->policy == NULL;
}

/* ---- show: output ---------------------------------------------------------------------- */

/* What the dependency's latest snapshot says: its state, "not submitted yet", "purged" or "unknown". */
static const char *dependency_state(const showing_t *showing, const char *task_id) {
        for (size_t i = 0; i < showing->dep_count; i++) {
                const latest_t *dep = &showing->deps[i];
                if (strcmp(dep->task_id, task_id))
                        continue;
                if (!dep->seen || dep->unreadable)
                        return "unknown";
                if (dep->tombstone)
                        return "purged";
                return dep->item->placeholder ? "not submitted yet" : bl_state_name(dep->item->state);
        }
        return "unknown";
}

static const bl_transition_record_t *ring_at(const showing_t *showing, size_t index) {
        size_t keep = showing->opts->transitions;
        size_t held = showing->transitions_seen < keep ? showing->transitions_seen : keep;
        size_t start = showing->transitions_seen < keep ? 0 : showing->ring_next;
        return index < held ? showing->ring[(start + index) % keep] : NULL;
}

static size_t ring_count(const showing_t *showing) {
        size_t keep = showing->opts->transitions;
        return showing->transitions_seen < keep ? showing->transitions_seen : keep;
}

typedef struct score_s {
        bool has;                 /* a policy scored it */
        double value;
        const bl_policy_t *chosen;
        bl_criterion_t criteria[BL_POLICY_CRITERIA];
        bool approval_required;   /* the chosen policy's guardrail, now */
} score_t;

static score_t score_now(const showing_t *showing) {
        score_t score = {0};
        const bl_item_t *item = showing->task.item;
        if (!showing->policy || item->placeholder || bl_state_is_terminal(item->state))
                return score;
        score.value = bl_policy_score_task(showing->policy, item, showing->read_at_ms, score.criteria, &score.chosen);
        score.approval_required = bl_policy_requires_approval(score.chosen, item);
        score.has = true;
        return score;
}

static void print_waits_text(const showing_t *showing) {
        const bl_item_t *item = showing->task.item;
        bl_wait_t waits[SHOW_WAITS_MAX];
        char text[256];
        size_t count = bl_item_waits(item, showing->read_at_ms, waits, SHOW_WAITS_MAX);
        if (!count) {
                if (item->placeholder)
                        printf("waits for   nothing: it was never submitted; tasks wait for it\n");
                else if (bl_state_is_terminal(item->state))
                        printf("waits for   nothing: it has ended\n");
                else if (item->state == BL_STATE_READY)
                        printf("waits for   its turn: the best score of its domain while the domain has credit\n");
                else
                        printf("waits for   nothing recorded: the next pass of run's timers moves it on\n");
                return;
        }
        for (size_t i = 0; i < count && i < SHOW_WAITS_MAX; i++) {
                printf("%s%s", i ? "            " : "waits for   ", wait_text(&waits[i], showing->read_at_ms, text,
                                                                            sizeof(text)));
                if (waits[i].reason == BL_WAIT_DEPENDENCY)
                        printf(" (%s)", dependency_state(showing, waits[i].task_id));
                printf("\n");
        }
        if (count > SHOW_WAITS_MAX)
                printf("            and %zu more\n", count - SHOW_WAITS_MAX);
}

static void print_score_text(const showing_t *showing, const score_t *score) {
        const bl_item_t *item = showing->task.item;
        if (item->placeholder || bl_state_is_terminal(item->state))
                return;
        if (showing->policy_refused) {
                printf("score       unknown: the policy from %s is refused (see above)\n", showing->policy_source);
                return;
        }
        if (!score->has) {
                printf("score       none: no policy.file or policy.name, READY tasks go FIFO (fifo@1)\n");
                return;
        }
        printf("score       %.6g under %s%s\n", score->value, bl_policy_label(score->chosen),
               item->state == BL_STATE_READY ? "" : " (if it were READY now)");
        printf("            %-16s %12s %12s %10s %12s\n", "criterion", "raw", "normalised", "weight", "contribution");
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++) {
                const bl_criterion_t *c = &score->criteria[i];
                printf("            %-16s %12.6g %12.6g %10.6g %12.6g\n", c->name, c->raw, c->normalised, c->weight,
                       c->contribution);
        }
        if (score->approval_required)
                printf("guardrail   %s requires approval at risk %.6g\n", bl_policy_label(score->chosen), item->risk);
}

static void print_transitions_text(const showing_t *showing) {
        size_t held = ring_count(showing);
        char at[48];
        if (!showing->opts->transitions)
                return;
        printf("\nlast %zu of %zu transition%s in %s (`backlogd audit %s` shows them all)\n", held,
               showing->transitions_seen, showing->transitions_seen == 1 ? "" : "s", showing->transitions_topic,
               showing->task.task_id);
        for (size_t i = 0; i < held; i++) {
                const bl_transition_t *t = &ring_at(showing, i)->transition;
                printf("%6" PRId64 "  %s  %s -> %s  cause %s", t->seq, bl_history_format_time(t->at_ms, at, sizeof(at)),
                       t->has_from ? bl_state_name(t->from) : "(new)", bl_state_name(t->to), t->cause);
                if (t->actor)
                        printf(", by %s", t->actor);
                if (t->reason)
                        printf(", reason %s", t->reason);
                if (t->attempt)
                        printf(", attempt %d", (int)t->attempt);
                if (t->has_score)
                        printf(", score %.6g by %s", t->score, t->policy ? t->policy : "-");
                printf("\n");
        }
}

static void print_show_text(const showing_t *showing, const score_t *score) {
        const bl_item_t *item = showing->task.item;
        char since[48], age[32], deadline[48];
        printf("task        %s\n", item->task_id);
        printf("kind        domain %s, type %s, tenant %s\n", item->kind->domain ? item->kind->domain : "-",
               item->kind->task_type ? item->kind->task_type : "-", item->kind->tenant ? item->kind->tenant : "-");
        if (item->placeholder)
                printf("state       not submitted yet (a placeholder: tasks that depend on it wait for it)\n");
        else
                printf("state       %s since %s (%s)\n", bl_state_name(item->state),
                       bl_history_format_time(item->state_since_ms, since, sizeof(since)),
                       bl_cmd_format_duration(showing->read_at_ms - item->state_since_ms, age, sizeof(age)));
        if (!item->placeholder) {
                printf("attempt     %d", (int)item->attempt);
                if (item->max_attempts)
                        printf(" of %d", (int)item->max_attempts);
                printf(", business_value %.6g, risk %.6g, deadline %s\n", item->business_value, item->risk,
                       bl_history_format_time(item->deadline_ms, deadline, sizeof(deadline)));
                if (item->approval_required)
                        printf("approval    required, %s\n", item->approved ? "given" : "not given yet");
        }
        printf("snapshot    %s [%d], read at %s\n", showing->state_topic, (int)item->partition,
               bl_history_format_time(showing->read_at_ms, since, sizeof(since)));
        print_waits_text(showing);
        print_score_text(showing, score);
        print_transitions_text(showing);
}

static json_t *score_json(const showing_t *showing, const score_t *score) {
        json_t *rationale;
        if (!score->has)
                return json_null();
        rationale = json_array();
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++) {
                const bl_criterion_t *c = &score->criteria[i];
                json_array_append_new(rationale, json_pack("{s:s, s:f, s:f, s:f, s:f}", "name", c->name, "raw", c->raw,
                                                           "normalised", c->normalised, "weight", c->weight,
                                                           "contribution", c->contribution));
        }
        return json_pack("{s:s, s:s, s:f, s:b, s:b, s:o}", "policy", bl_policy_label(score->chosen), "source",
                         showing->policy_source, "value", score->value, "if_ready",
                         showing->task.item->state != BL_STATE_READY, "approval_required",
                         score->approval_required, "rationale", rationale);
}

static json_t *transitions_json(const showing_t *showing) {
        json_t *out = json_array();
        char at[48];
        for (size_t i = 0; i < ring_count(showing); i++) {
                const bl_transition_t *t = &ring_at(showing, i)->transition;
                json_array_append_new(
                        out, json_pack("{s:I, s:s, s:I, s:o, s:s, s:s, s:o, s:o, s:i, s:o, s:o, s:o}", "seq",
                                       (json_int_t)t->seq, "at", bl_history_format_time(t->at_ms, at, sizeof(at)),
                                       "at_ms", (json_int_t)t->at_ms, "from",
                                       t->has_from ? json_string(bl_state_name(t->from)) : json_null(), "to",
                                       bl_state_name(t->to), "cause", t->cause, "reason", opt_string(t->reason),
                                       "actor", opt_string(t->actor), "attempt", (int)t->attempt, "dispatch_id",
                                       opt_string(t->dispatch_id),
                                       "policy", opt_string(t->policy),
                                       "score", t->has_score ? json_real(t->score) : json_null()));
        }
        return out;
}

static bool print_show_json(const showing_t *showing, const score_t *score) {
        const bl_item_t *item = showing->task.item;
        bl_wait_t waits[SHOW_WAITS_MAX];
        size_t count = bl_item_waits(item, showing->read_at_ms, waits, SHOW_WAITS_MAX);
        json_t *out = item_json(item, showing->read_at_ms), *wait_list = json_array();
        if (!out || !wait_list) {
                json_decref(out);
                json_decref(wait_list);
                return false;
        }
        for (size_t i = 0; i < count && i < SHOW_WAITS_MAX; i++) {
                json_t *wait = wait_json(&waits[i]);
                if (waits[i].reason == BL_WAIT_DEPENDENCY)
                        json_object_set_new(wait, "state", json_string(dependency_state(showing, waits[i].task_id)));
                json_array_append_new(wait_list, wait);
        }
        json_object_set_new(out, "placeholder", json_boolean(item->placeholder));
        json_object_set_new(out, "approval",
                            json_pack("{s:b, s:b}", "required", item->approval_required, "approved", item->approved));
        json_object_set_new(out, "waiting_for", wait_list);
        json_object_set_new(out, "policy_refused", json_boolean(showing->policy_refused));
        json_object_set_new(out, "score", score_json(showing, score));
        json_object_set_new(out, "transitions_total", json_integer((json_int_t)showing->transitions_seen));
        json_object_set_new(out, "transitions", transitions_json(showing));
        json_object_set_new(out, "read_at", json_integer(showing->read_at_ms));
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
        return true;
}

/* ---- show: the command ------------------------------------------------------------------ */

static void showing_close(showing_t *showing) {
        bl_item_destroy(showing->task.item);
        for (size_t i = 0; i < showing->dep_count; i++)
                bl_item_destroy(showing->deps[i].item);
        free(showing->deps);
        for (size_t i = 0; showing->ring && i < showing->opts->transitions; i++)
                bl_transition_record_destroy(showing->ring[i]);
        free(showing->ring);
        bl_policy_destroy(showing->policy);
        free(showing->state_topic);
        free(showing->transitions_topic);
        bl_cmd_scan_close(&showing->scan);
}

/* Reads what show needs; false, said why on stderr, when the task cannot be shown. */
static bool read_task(showing_t *showing, const bl_config_t *config) {
        const char *task_id = showing->opts->task_id;
        if (!bl_cmd_scan_open(&showing->scan, "tasks", config) ||
            (showing->state_partitions = bl_cmd_scan_partition_count(&showing->scan, showing->state_topic)) < 0 ||
            !read_partitions_of(showing, showing->state_topic, showing->state_partitions, &showing->task, 1,
                                read_task_snapshot))
                return false;
        if (!showing->task.item) {
                int32_t p = bl_reader_partition_for_key(task_id, showing->state_partitions);
                if (showing->task.unreadable)
                        fprintf(stderr, "backlogd tasks: the snapshot of %s could not be read (see above)\n", task_id);
                else
                        fprintf(stderr,
                                "backlogd tasks: task %s is not in %s (partition %d of %d): %s; `backlogd audit %s` "
                                "shows its history\n",
                                task_id, showing->state_topic, (int)p, (int)showing->state_partitions,
                                showing->task.tombstone ? "purged after backlog.retention_ms"
                                                        : "never submitted, or purged and compacted away",
                                task_id);
                return false;
        }
        return read_dependencies(showing) && read_transitions(showing);
}

static int tasks_show(const bl_config_t *config, const tasks_opts_t *opts) {
        showing_t showing = {.opts = opts, .task = {.task_id = opts->task_id}};
        score_t score;
        int status = BL_EXIT_FAILURE;
        if (!(showing.state_topic = bl_config_topic_name(config, "backlog.state")) ||
            !(showing.transitions_topic = bl_config_topic_name(config, "backlog.transitions"))) {
                fprintf(stderr, "backlogd tasks: out of memory\n");
                goto done;
        }
        if (!read_task(&showing, config)) {
                if (showing.out_of_memory)
                        fprintf(stderr, "backlogd tasks: out of memory\n");
                goto done;
        }
        load_policy(&showing, config);
        showing.read_at_ms = bl_cmd_now_ms();
        score = score_now(&showing);
        if (opts->as_json ? !print_show_json(&showing, &score) : (print_show_text(&showing, &score), false)) {
                fprintf(stderr, "backlogd tasks: out of memory\n");
                goto done;
        }
        if (showing.unreadable)
                fprintf(stderr, "backlogd tasks: %" PRIu64 " transition%s of %s could not be read\n",
                        showing.unreadable, showing.unreadable == 1 ? "" : "s", opts->task_id);
        status = showing.unreadable || showing.policy_refused ? BL_EXIT_FAILURE : BL_EXIT_OK;
done:
        showing_close(&showing);
        return status;
}

int bl_cmd_tasks(int argc, char **argv) {
        tasks_opts_t opts = {.state = -1, .waiting_for = -1, .transitions = SHOW_TRANSITIONS_DEFAULT};
        const char *action;
        bl_config_t *config;
        int early, status;
        if (argc < 2)
                return bl_cmd_usage_error("tasks", "missing action: list or show");
        action = argv[1];
        if (!strcmp(action, "-h") || !strcmp(action, "--help")) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (strcmp(action, "list") && strcmp(action, "show"))
                return bl_cmd_usage_error("tasks", "unknown action '%s': expected list or show", action);
        if ((early = parse_options(action, argc - 1, argv + 1, &opts)) >= 0)
                return early;
        if (!(config = bl_cmd_load_config(opts.config_path)))
                return BL_EXIT_FAILURE;
        status = !strcmp(action, "list") ? tasks_list(config, &opts) : tasks_show(config, &opts);
        bl_config_destroy(config);
        return status;
}
