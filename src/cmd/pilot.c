/*
 * pilot.c: `backlogd pilot report`: how a decision agent's pilot fared
 * against its control group, per domain with an agent (SPEC §13), from
 * what backlog.transitions recorded.
 *
 * This file is only the I/O, as replay's: it reads backlog.transitions to
 * its read_committed end, all partitions at once, and hands each decoded
 * Transition with its item, in offset order per partition (a task's order),
 * to the fold of core/pilot.c, which counts per domain and per who decided
 * (the agent's name@version, the pilot's policy fallbacks, the control
 * group). It prints the rows as `replay --policy` prints its comparison:
 * one block per domain in name order, a table of the groups, then what
 * else there is to know (fallbacks by reason, expiries nobody decided).
 *
 * --since and --until bound the window of what is counted (RFC 3339, ms
 * since 1970, or a duration before now: 90s, 15m, 2h, 7d); the history
 * before it is still read, so that a wait or an outcome knows how it began.
 * A record that cannot be decoded is counted and left out; a registry that
 * does not answer stops the command, since the answer would be partial.
 * The same topic gives the same answer every time. Main thread.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/scan.h"
#include "contract/encode.h"
#include "contract/records.h"
#include "core/history.h"
#include "core/pilot.h"

typedef struct pilot_opts_s {
        const char *config_path;
        const char *domain; /* NULL: every domain with an agent */
        int64_t since_ms, until_ms;
        bool as_json;
} pilot_opts_t;

typedef struct pilot_scan_s {
        bl_cmd_scan_t scan;
        bl_pilot_t *pilot;
        char *topic_transitions;
        uint64_t unreadable;
        bool out_of_memory;
        bool interrupted; /* a record could not be decoded for now (registry) */
} pilot_scan_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd pilot report [-c FILE] [--json] [--domain NAME] [--since T] [--until T]\n"
                     "\n"
                     "Reads backlog.transitions and prints, for each domain with a decision agent,\n"
                     "its pilot against its control group: one row per agent name@version (the\n"
                     "dispatches the agent's order decided), one for the pilot tasks the policy\n"
                     "decided instead (fallbacks: timeout, breaker_open, failed, not_answered,\n"
                     "not_in_answer, refused) and one for the control group (tasks outside the\n"
                     "pilot share). Each row: tasks, dispatches, the wait READY -> DISPATCHED (p50,\n"
                     "p90), deadline misses (EXPIRED, or COMPLETED after the deadline, in the row of\n"
                     "the task's last dispatch), the first-attempt success rate, retries, and the\n"
                     "agent's escalations and holds (transitions with cause agent).\n"
                     "docs/cli/pilot.md says how each number is counted.\n"
                     "\n"
                     "Options:\n"
                     "      --domain NAME  only this domain\n"
                     "      --since T      count only what happened at or after T\n"
                     "      --until T      count only what happened before T\n"
                     "                     T: RFC 3339 (2026-12-07T17:00:00Z), ms since 1970, or a\n"
                     "                     duration before now (90s, 15m, 2h, 7d)\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --json         print the report as one JSON object on stdout\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 the report printed (also when no domain has an agent); 1 the\n"
                     "topic could not be read or the config is refused; 2 usage.\n");
}

/* ---- options -------------------------------------------------------------------- */

/* "15m" before @p now_ms: a count and one of s, m, h, d; false when it is not that. */
static bool parse_ago(const char *text, int64_t now_ms, int64_t *out) {
        static const struct {
                char unit;
                int64_t ms;
        } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
        char *end;
        long long count = strtoll(text, &end, 10);
        if (end == text || count < 0 || !*end || end[1])
                return false;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (*end == units[i].unit && count <= INT64_MAX / units[i].ms) {
                        *out = now_ms - count * units[i].ms;
                        return true;
                }
        return false;
}

/* A time of --since/--until: RFC 3339, ms since 1970, or a duration before now. */
static bool parse_time(const char *text, int64_t now_ms, int64_t *out) {
        char *end;
        long long number = strtoll(text, &end, 10);
        if (*text && !*end && number >= 0) {
                *out = number;
                return true;
        }
        return parse_ago(text, now_ms, out) || bl_encode_parse_rfc3339(text, out);
}

static int parse_options(int argc, char **argv, pilot_opts_t *opts) {
        static const struct option options[] = {
                {"domain", required_argument, NULL, 'd'}, {"since", required_argument, NULL, 's'},
                {"until", required_argument, NULL, 'u'},  {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        int64_t now_ms = bl_cmd_now_ms();
        int opt;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        if (!*optarg)
                                return bl_cmd_usage_error("pilot", "--domain needs a name");
                        opts->domain = optarg;
                        break;
                case 's':
                case 'u':
                        if (!parse_time(optarg, now_ms, opt == 's' ? &opts->since_ms : &opts->until_ms))
                                return bl_cmd_usage_error("pilot",
                                                          "--%s '%s': expected RFC 3339 (2026-12-07T17:00:00Z), "
                                                          "ms since 1970, or a duration before now (90s, 15m, 2h, "
                                                          "7d)",
                                                          opt == 's' ? "since" : "until", optarg);
                        break;
                case 'c': opts->config_path = optarg; break;
                case 'j': opts->as_json = true; break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("pilot", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("pilot", "unexpected argument '%s'", argv[optind]);
        if (opts->since_ms != BL_NO_TIME && opts->until_ms != BL_NO_TIME && opts->until_ms <= opts->since_ms)
                return bl_cmd_usage_error("pilot", "--until must be later than --since");
        return -1;
}

/* ---- reading -------------------------------------------------------------------- */

static bool read_transition(const rd_kafka_message_t *message, void *opaque) {
        pilot_scan_t *scan = opaque;
        bl_record_error_t error;
        bl_transition_record_t *record = NULL;
        bl_err_t err;
        if (message->payload)
                record = bl_transition_reader_read(scan->scan.transitions, message->key, message->key_len,
                                                   message->payload, message->len, message->partition,
                                                   message->offset, &error);
        else
                bl_record_error_set(&error, BL_REASON_DECODE_WIRE_FORMAT, "a tombstone");
        if (!record && error.transient) {
                fprintf(stderr, "backlogd pilot: %s [%d] offset %" PRId64 ": %s\n", scan->topic_transitions,
                        (int)message->partition, message->offset, error.detail);
                scan->interrupted = true;
                return false;
        }
        if (!record) {
                scan->unreadable++; /* reported as a count: the report leaves it out */
                return true;
        }
        err = bl_pilot_fold(scan->pilot, &record->transition, record->item);
        bl_transition_record_destroy(record);
        scan->out_of_memory = err != BL_OK;
        return err == BL_OK;
}

/* ---- printing ------------------------------------------------------------------- */

static json_t *optional_ms(int64_t ms) {
        return ms < 0 ? json_null() : json_integer((json_int_t)ms);
}

static json_t *optional_time(int64_t ms) {
        char text[48];
        return ms == BL_NO_TIME ? json_null() : json_string(bl_history_format_time(ms, text, sizeof(text)));
}

static json_t *fallbacks_json(const bl_pilot_group_t *g) {
        json_t *fallbacks = json_object();
        for (int f = 0; fallbacks && g->kind == BL_PILOT_POLICY && f < BL_PILOT_FALLBACK__COUNT; f++)
                if (json_object_set_new(fallbacks, bl_pilot_fallback_name((bl_pilot_fallback_t)f),
                                        json_integer((json_int_t)g->fallbacks[f]))) {
                        json_decref(fallbacks);
                        return NULL;
                }
        return fallbacks;
}

static json_t *group_json(const bl_pilot_group_t *g) {
        return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:o}",
                         "decided_by", g->label, "group", bl_pilot_group_kind_name(g->kind), "tasks",
                         (json_int_t)g->tasks, "dispatches", (json_int_t)g->dispatches, "wait_p50_ms",
                         optional_ms(g->wait_p50_ms), "wait_p90_ms", optional_ms(g->wait_p90_ms), "deadline_misses",
                         (json_int_t)g->deadline_misses, "expired", (json_int_t)g->expired, "completed_late",
                         (json_int_t)g->completed_late, "first_attempts", (json_int_t)g->first_attempts,
                         "first_attempt_successes", (json_int_t)g->first_attempt_successes,
                         "first_attempt_success_rate",
                         g->first_attempts ? json_real((double)g->first_attempt_successes / (double)g->first_attempts)
                                           : json_null(),
                         "retries", (json_int_t)g->retries, "escalations", (json_int_t)g->escalations, "holds",
                         (json_int_t)g->holds, "fallbacks", fallbacks_json(g));
}

static json_t *domain_json(const bl_pilot_domain_t *d) {
        json_t *groups = json_array();
        for (size_t g = 0; groups && g < d->group_count; g++)
                if (json_array_append_new(groups, group_json(&d->groups[g]))) {
                        json_decref(groups);
                        return NULL;
                }
        return json_pack("{s:s, s:o, s:I}", "domain", d->domain, "groups", groups, "expired_undecided",
                         (json_int_t)d->expired_undecided);
}

static bool chosen(const pilot_opts_t *opts, const bl_pilot_domain_t *d) {
        return !opts->domain || !strcmp(opts->domain, d->domain);
}

static bool print_json(const pilot_scan_t *scan, const pilot_opts_t *opts, const bl_pilot_report_t *report) {
        json_t *domains = json_array(), *out;
        for (size_t i = 0; domains && i < report->domain_count; i++)
                if (chosen(opts, &report->domains[i]) &&
                    json_array_append_new(domains, domain_json(&report->domains[i]))) {
                        json_decref(domains);
                        return false;
                }
        out = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "transitions_topic",
                        scan->topic_transitions, "transitions", (json_int_t)report->transitions, "in_window",
                        (json_int_t)report->in_window, "unreadable", (json_int_t)scan->unreadable, "since",
                        optional_time(opts->since_ms), "until", optional_time(opts->until_ms), "first",
                        optional_time(report->first_ms), "last", optional_time(report->last_ms), "domain",
                        opts->domain ? json_string(opts->domain) : json_null(), "domains", domains);
        if (!out)
                return false;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        putchar('\n');
        json_decref(out);
        return true;
}

/* "12.345 s", or "-" without a value. */
static const char *seconds(int64_t ms, char *out, size_t out_size) {
        if (ms < 0)
                snprintf(out, out_size, "-");
        else
                snprintf(out, out_size, "%" PRId64 ".%03d s", ms / 1000, (int)(ms % 1000));
        return out;
}

static void print_row(const bl_pilot_group_t *g) {
        char p50[32], p90[32], misses[48], first[48];
        snprintf(misses, sizeof(misses), "%zu", g->deadline_misses);
        if (g->completed_late)
                snprintf(misses, sizeof(misses), "%zu (%zu late)", g->deadline_misses, g->completed_late);
        if (g->first_attempts)
                snprintf(first, sizeof(first), "%zu/%zu %5.1f %%", g->first_attempt_successes, g->first_attempts,
                         100.0 * (double)g->first_attempt_successes / (double)g->first_attempts);
        else
                snprintf(first, sizeof(first), "-");
        printf("  %-24s %-8s %7zu %10zu %10s %10s %15s %18s %7zu %11zu %6zu\n", g->label,
               bl_pilot_group_kind_name(g->kind), g->tasks, g->dispatches, seconds(g->wait_p50_ms, p50, sizeof(p50)),
               seconds(g->wait_p90_ms, p90, sizeof(p90)), misses, first, g->retries, g->escalations, g->holds);
}

static void print_fallbacks(const bl_pilot_domain_t *d) {
        for (size_t i = 0; i < d->group_count; i++) {
                const bl_pilot_group_t *g = &d->groups[i];
                bool any = false;
                if (g->kind != BL_PILOT_POLICY)
                        continue;
                printf("  fallbacks of the pilot to the policy: %zu (", g->dispatches);
                for (int f = 0; f < BL_PILOT_FALLBACK__COUNT; f++)
                        if (g->fallbacks[f]) {
                                printf("%s%s %zu", any ? ", " : "", bl_pilot_fallback_name((bl_pilot_fallback_t)f),
                                       g->fallbacks[f]);
                                any = true;
                        }
                printf("%s)\n", any ? "" : "none");
        }
}

static void print_domain(const bl_pilot_domain_t *d) {
        bool any_agent = false;
        printf("\ndomain %s: the pilot decided by", d->domain);
        for (size_t i = 0; i < d->group_count; i++)
                if (d->groups[i].kind == BL_PILOT_AGENT) {
                        printf("%s %s", any_agent ? "," : "", d->groups[i].label);
                        any_agent = true;
                }
        printf("%s against its control group\n", any_agent ? "" : " no agent yet");
        printf("  %-24s %-8s %7s %10s %10s %10s %15s %18s %7s %11s %6s\n", "decided_by", "group", "tasks",
               "dispatches", "wait p50", "wait p90", "deadline misses", "first attempt ok", "retries", "escalations",
               "holds");
        for (size_t i = 0; i < d->group_count; i++)
                print_row(&d->groups[i]);
        print_fallbacks(d);
        if (d->expired_undecided)
                printf("  expired with no decision of any group: %zu\n", d->expired_undecided);
}

static void print_text(const pilot_scan_t *scan, const pilot_opts_t *opts, const bl_pilot_report_t *report) {
        char first[48], last[48];
        size_t shown = 0;
        printf("pilot report over %zu transitions of %s", report->transitions, scan->topic_transitions);
        if (report->in_window)
                printf(", %zu in the window from %s to %s", report->in_window,
                       bl_history_format_time(report->first_ms, first, sizeof(first)),
                       bl_history_format_time(report->last_ms, last, sizeof(last)));
        else
                printf(", none in the window");
        printf("\n");
        if (scan->unreadable)
                printf("left out: %" PRIu64 " transition%s that could not be read\n", scan->unreadable,
                       scan->unreadable == 1 ? "" : "s");
        for (size_t i = 0; i < report->domain_count; i++)
                if (chosen(opts, &report->domains[i])) {
                        print_domain(&report->domains[i]);
                        shown++;
                }
        if (!shown && opts->domain)
                printf("\ndomain %s: no decision recorded decided_by: it has no agent, or none decided yet\n",
                       opts->domain);
        else if (!shown)
                printf("\nno domain has an agent's decisions in the history: nothing to compare\n");
}

/* ---- the command ---------------------------------------------------------------- */

static int pilot_report(const bl_config_t *config, const pilot_opts_t *opts) {
        pilot_scan_t scan = {0};
        bl_pilot_report_t report = {0};
        int status = BL_EXIT_FAILURE;
        scan.pilot = bl_pilot_new(opts->since_ms, opts->until_ms);
        scan.topic_transitions = bl_config_topic_name(config, "backlog.transitions");
        if (!scan.pilot || !scan.topic_transitions) {
                fprintf(stderr, "backlogd pilot: out of memory\n");
                goto done;
        }
        if (!bl_cmd_scan_open(&scan.scan, "pilot", config) ||
            !bl_cmd_scan_topic(&scan.scan, scan.topic_transitions, NULL, 0, read_transition, &scan) ||
            scan.interrupted || scan.out_of_memory) {
                if (scan.out_of_memory)
                        fprintf(stderr, "backlogd pilot: out of memory\n");
                goto done;
        }
        if (bl_pilot_report(scan.pilot, &report) != BL_OK ||
            (opts->as_json && !print_json(&scan, opts, &report))) {
                fprintf(stderr, "backlogd pilot: out of memory\n");
                goto done;
        }
        if (!opts->as_json)
                print_text(&scan, opts, &report);
        status = BL_EXIT_OK;
done:
        bl_pilot_report_free(&report);
        bl_pilot_destroy(scan.pilot);
        free(scan.topic_transitions);
        bl_cmd_scan_close(&scan.scan);
        return status;
}

int bl_cmd_pilot(int argc, char **argv) {
        pilot_opts_t opts = {.since_ms = BL_NO_TIME, .until_ms = BL_NO_TIME};
        bl_config_t *config;
        int early, status;
        if (argc < 2)
                return bl_cmd_usage_error("pilot", "missing action: report");
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (strcmp(argv[1], "report"))
                return bl_cmd_usage_error("pilot", "unknown action '%s': expected report", argv[1]);
        if ((early = parse_options(argc - 1, argv + 1, &opts)) >= 0)
                return early;
        if (!(config = bl_cmd_load_config(opts.config_path)))
                return BL_EXIT_FAILURE;
        status = pilot_report(config, &opts);
        bl_config_destroy(config);
        return status;
}
