/*
 * topics.c: `backlogd topics create`: make the cluster hold every topic of
 * SPEC §1 as configured, or say precisely why it cannot.
 *
 * Steps: plan the topics from the config, describe what the cluster has,
 * check the existing ones against the plan. Any mismatch (partition count,
 * cleanup.policy, co-partitioning) is reported topic by topic and nothing is
 * created: a half-made set of topics helps nobody. Otherwise the missing
 * topics are created in one request, and the cluster is described and
 * checked once more, so that what is printed is what the cluster holds, and
 * a topic that another instance created meanwhile counts when it matches.
 * A second run finds everything in place and says that nothing changed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "kafka/admin.h"
#include "kafka/topics.h"
#include "base/log.h"

#define METADATA_ATTEMPTS 50
#define METADATA_RETRY_MS 100

typedef enum { ACTION_UNCHANGED, ACTION_CREATED, ACTION_FAILED } topic_action_t;

typedef struct topics_run_s {
        const bl_topic_plan_t *plan;
        bl_topic_observed_t *observed;
        topic_action_t *actions;
        json_t **problems;      /* per topic: array of {severity, what} */
        char **create_errors;   /* per topic: CreateTopics' error, or NULL */
        int mismatches;
} topics_run_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd topics create [-c FILE] [--dry-run] [--json]\n"
                     "\n"
                     "Creates every topic backlogd uses (tasks.events, tasks.results,\n"
                     "backlog.transitions, backlog.state, backlog.deps, dispatch.<domain>,\n"
                     "backlog.dlq, backlog.policy) with the configured partitions and\n"
                     "replication; backlog.state and backlog.policy compacted. Existing topics\n"
                     "are checked, never altered: when one has another partition count or\n"
                     "cleanup.policy, or the input topics are not co-partitioned, each mismatch\n"
                     "is reported, nothing is created, and the exit status is 1.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --dry-run      check and report what would be created; change nothing\n"
                     "      --json         print the outcome as one JSON object on stdout\n"
                     "  -h, --help         this help\n");
}

static void record_problem(const bl_topic_spec_t *spec, bl_topic_severity_t severity, const char *what,
                           void *opaque) {
        topics_run_t *run = opaque;
        size_t index = (size_t)(spec - run->plan->topics);
        json_array_append_new(run->problems[index],
                              json_pack("{s:s, s:s}", "severity",
                                        severity == BL_TOPIC_MISMATCH ? "mismatch" : "note", "what", what));
}

static void record_create_result(const bl_topic_spec_t *spec, const char *error, void *opaque) {
        topics_run_t *run = opaque;
        size_t index = (size_t)(spec - run->plan->topics);
        if (error)
                run->create_errors[index] = strdup(error);
}

static void clear_problems(topics_run_t *run) {
        for (size_t i = 0; i < run->plan->count; i++)
                json_array_clear(run->problems[i]);
}

/* Describes the cluster and checks it; BL_OK with run->mismatches set, or a cluster error. */
static bl_err_t observe(bl_admin_t *admin, topics_run_t *run, char *errstr, size_t errstr_size) {
        bl_err_t err = bl_admin_describe_topics(admin, run->plan, run->observed, errstr, errstr_size);
        if (err)
                return err;
        clear_problems(run);
        run->mismatches = bl_topic_plan_check(run->plan, run->observed, record_problem, run);
        return BL_OK;
}

static size_t count_missing(const topics_run_t *run, bool *missing) {
        size_t count = 0;
        for (size_t i = 0; i < run->plan->count; i++) {
                missing[i] = !run->observed[i].exists && !run->observed[i].denied[0];
                count += missing[i];
        }
        return count;
}

/* True when every topic created without an error shows in the metadata. */
static bool created_topics_visible(const topics_run_t *run, const bool *missing) {
        for (size_t i = 0; i < run->plan->count; i++)
                if (missing[i] && !run->create_errors[i] && !run->observed[i].exists)
                        return false;
        return true;
}

/*
 * Describes the cluster after a create. The broker answers CreateTopics once
 * the controller has the topics; its own metadata catches up a moment later,
 * so a topic just created may not show at once: look again a few times.
 */
static bl_err_t observe_created(bl_admin_t *admin, topics_run_t *run, const bool *missing, char *errstr,
                                size_t errstr_size) {
        for (int attempt = 0; attempt < METADATA_ATTEMPTS; attempt++) {
                bl_err_t err = observe(admin, run, errstr, errstr_size);
                if (err || created_topics_visible(run, missing))
                        return err;
                usleep(METADATA_RETRY_MS * 1000);
        }
        return BL_OK;
}

/* Creates what is missing, then looks again; the second look decides the outcome. */
static bl_err_t create_missing(bl_admin_t *admin, topics_run_t *run, const bool *missing, char *errstr,
                               size_t errstr_size) {
        char create_errstr[512] = "";
        bl_err_t err = bl_admin_create_topics(admin, run->plan, missing, record_create_result, run, create_errstr,
                                              sizeof(create_errstr));
        if (err && err != BL_ERR_KAFKA)
                return bl_err_set(errstr, errstr_size, err, "%s", create_errstr);
        if (err)
                bl_log_warn("topics", "create request: %s", create_errstr);
        err = observe_created(admin, run, missing, errstr, errstr_size);
        if (err)
                return err;
        for (size_t i = 0; i < run->plan->count; i++) {
                if (!missing[i])
                        continue;
                run->actions[i] = run->observed[i].exists && !run->create_errors[i] ? ACTION_CREATED
                                  : run->observed[i].exists                      ? ACTION_UNCHANGED
                                                                                 : ACTION_FAILED;
        }
        return BL_OK;
}

static bool has_mismatch(const topics_run_t *run, size_t i) {
        for (size_t p = 0; p < json_array_size(run->problems[i]); p++)
                if (!strcmp(json_string_value(json_object_get(json_array_get(run->problems[i], p), "severity")),
                            "mismatch"))
                        return true;
        return false;
}

/* What happened to topic i, as printed: one word, the same in text and JSON. */
static const char *action_label(const topics_run_t *run, size_t i, bool dry_run) {
        if (run->observed[i].exists)
                return has_mismatch(run, i)                     ? "mismatch"
                       : run->actions[i] == ACTION_CREATED ? "created"
                                                            : "unchanged";
        if (dry_run)
                return "would_create";
        return run->actions[i] == ACTION_FAILED ? "failed" : "missing";
}

static json_t *topic_json(const topics_run_t *run, size_t i, bool dry_run) {
        const bl_topic_spec_t *spec = &run->plan->topics[i];
        const bl_topic_observed_t *seen = &run->observed[i];
        const char *action = action_label(run, i, dry_run);
        json_t *topic = json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:s, s:O}", "name", spec->name, "role",
                                  spec->role, "action", action, "exists", seen->exists, "partitions",
                                  seen->exists ? seen->partitions : spec->partitions, "replication_factor",
                                  seen->exists ? seen->replication_factor : spec->replication_factor,
                                  "cleanup_policy", seen->exists ? seen->cleanup_policy : spec->cleanup_policy,
                                  "problems", run->problems[i]);
        if (run->create_errors[i])
                json_object_set_new(topic, "create_error", json_string(run->create_errors[i]));
        return topic;
}

static void print_text(const topics_run_t *run, bool dry_run) {
        for (size_t i = 0; i < run->plan->count; i++) {
                const bl_topic_spec_t *spec = &run->plan->topics[i];
                const bl_topic_observed_t *seen = &run->observed[i];
                const char *action = action_label(run, i, dry_run);
                int partitions = seen->exists ? seen->partitions : spec->partitions;
                printf("%-36s %-12s %d partition%s, ", spec->name, action, partitions, partitions == 1 ? "" : "s");
                if (seen->exists)
                        printf("replication %d, cleanup.policy=%s\n", seen->replication_factor, seen->cleanup_policy);
                else
                        printf("cleanup.policy=%s\n", spec->cleanup_policy);
                if (run->create_errors[i])
                        printf("%-36s   error: %s\n", spec->name, run->create_errors[i]);
                for (size_t p = 0; p < json_array_size(run->problems[i]); p++) {
                        json_t *problem = json_array_get(run->problems[i], p);
                        printf("%-36s   %s: %s\n", spec->name,
                               json_string_value(json_object_get(problem, "severity")),
                               json_string_value(json_object_get(problem, "what")));
                }
        }
}

static size_t count_action(const topics_run_t *run, topic_action_t action) {
        size_t count = 0;
        for (size_t i = 0; i < run->plan->count; i++)
                count += run->observed[i].exists && run->actions[i] == action;
        return count;
}

/* Prints the outcome; returns the exit status it implies. */
static int report(const topics_run_t *run, bool as_json, bool dry_run) {
        size_t created = count_action(run, ACTION_CREATED), unchanged = count_action(run, ACTION_UNCHANGED);
        size_t failed = run->plan->count - created - unchanged;
        bool ok = run->mismatches == 0 && (failed == 0 || dry_run);
        if (as_json) {
                json_t *topics = json_array();
                for (size_t i = 0; i < run->plan->count; i++)
                        json_array_append_new(topics, topic_json(run, i, dry_run));
                json_t *out = json_pack("{s:o, s:i, s:i, s:i, s:i, s:b, s:b}", "topics", topics, "created",
                                        (int)created, "unchanged", (int)unchanged, "missing", (int)failed,
                                        "mismatches", run->mismatches, "dry_run", dry_run, "ok", ok);
                json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(out);
        } else {
                print_text(run, dry_run);
        }
        if (run->mismatches > 0)
                fprintf(stderr, "backlogd topics: %d mismatch%s; nothing was created or changed\n",
                        run->mismatches, run->mismatches == 1 ? "" : "es");
        else if (failed > 0 && !dry_run)
                fprintf(stderr, "backlogd topics: %zu topic%s could not be created\n", failed,
                        failed == 1 ? "" : "s");
        else if (dry_run)
                fprintf(stderr, "backlogd topics: %zu to create, %zu in place (dry run, nothing changed)\n", failed,
                        unchanged);
        else if (created == 0)
                fprintf(stderr, "backlogd topics: all %zu topics exist as configured; nothing changed\n",
                        unchanged);
        else
                fprintf(stderr, "backlogd topics: %zu created, %zu already in place\n", created, unchanged);
        return ok ? BL_EXIT_OK : BL_EXIT_FAILURE;
}

static void run_destroy(topics_run_t *run) {
        for (size_t i = 0; run->problems && i < run->plan->count; i++)
                json_decref(run->problems[i]);
        for (size_t i = 0; run->create_errors && i < run->plan->count; i++)
                free(run->create_errors[i]);
        free(run->problems);
        free(run->create_errors);
        free(run->observed);
        free(run->actions);
}

static bool run_init(topics_run_t *run, const bl_topic_plan_t *plan) {
        memset(run, 0, sizeof(*run));
        run->plan = plan;
        run->observed = calloc(plan->count, sizeof(*run->observed));
        run->actions = calloc(plan->count, sizeof(*run->actions));
        run->problems = calloc(plan->count, sizeof(*run->problems));
        run->create_errors = calloc(plan->count, sizeof(*run->create_errors));
        if (!run->observed || !run->actions || !run->problems || !run->create_errors)
                return false;
        for (size_t i = 0; i < plan->count; i++)
                if (!(run->problems[i] = json_array()))
                        return false;
        return true;
}

static int topics_create(const bl_config_t *config, bool dry_run, bool as_json) {
        char errstr[512];
        bl_topic_plan_t *plan = bl_topic_plan_new(config);
        bl_admin_t *admin = NULL;
        topics_run_t run = {0};
        bool *missing = NULL;
        int status = BL_EXIT_FAILURE;
        if (!plan || !run_init(&run, plan) || !(missing = calloc(plan->count, sizeof(*missing)))) {
                fprintf(stderr, "backlogd topics: out of memory\n");
                goto done;
        }
        admin = bl_admin_new(config, errstr, sizeof(errstr));
        if (!admin || observe(admin, &run, errstr, sizeof(errstr)) != BL_OK) {
                fprintf(stderr, "backlogd topics: %s\n", errstr);
                goto done;
        }
        if (run.mismatches == 0 && !dry_run && count_missing(&run, missing) > 0 &&
            create_missing(admin, &run, missing, errstr, sizeof(errstr)) != BL_OK) {
                fprintf(stderr, "backlogd topics: %s\n", errstr);
                goto done;
        }
        status = report(&run, as_json, dry_run);
done:
        free(missing);
        run_destroy(&run);
        bl_admin_destroy(admin);
        bl_topic_plan_destroy(plan);
        return status;
}

int bl_cmd_topics(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"dry-run", no_argument, NULL, 'n'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *path = NULL;
        bool dry_run = false, as_json = false;
        bl_config_t *config;
        int opt, status;
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (argc < 2)
                return bl_cmd_usage_error("topics", "missing action: create");
        if (strcmp(argv[1], "create"))
                return bl_cmd_usage_error("topics", "unknown action '%s': expected create", argv[1]);
        argc--, argv++;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'c': path = optarg; break;
                case 'n': dry_run = true; break;
                case 'j': as_json = true; break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("topics", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("topics", "unexpected argument '%s'", argv[optind]);
        config = bl_cmd_load_config(path);
        if (!config)
                return BL_EXIT_FAILURE;
        status = topics_create(config, dry_run, as_json);
        bl_config_destroy(config);
        return status;
}
