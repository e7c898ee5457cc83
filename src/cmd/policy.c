/*
 * policy.c: `backlogd policy check FILE` and `backlogd policy publish FILE`.
 *
 * check parses the policy the way `run` will (policy/load.c, against the
 * configured domains, retry settings falling back to the config's) and
 * prints what it means: name@version, the weight and formula of each
 * criterion, every domain's settings with the defaults resolved, the
 * guardrails, the canary. Or every problem with its JSON path, and exit 1.
 *
 * publish checks first, then writes the document, compacted, to
 * <prefix>backlog.policy keyed by the policy's name, with an idempotent
 * producer, and waits for the delivery report: exit 0 means the broker has
 * the record (partition and offset are printed). The topic must exist and
 * be compacted (`backlogd topics create` makes it); publish never lets a
 * broker auto-create it with the wrong cleanup policy. A running backlogd
 * that follows backlog.policy applies it when the version changes.
 *
 * Options are validated, and the policy checked, before any Kafka handle
 * exists. Main thread only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "policy/load.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "kafka/topics.h"
#include "base/log.h"

#define POLICY_ROLE "backlog.policy"

typedef struct policy_opts_s {
        const char *config_path;
        const char *file;
        bool as_json;
        bool dry_run;
} policy_opts_t;

/* Problems found while checking, printed as they come and kept for --json. */
typedef struct check_state_s {
        const char *file;
        json_t *problems; /* [{path, reason, fatal}] */
        size_t errors, warnings;
} check_state_t;

typedef struct delivery_s {
        bool done;
        rd_kafka_resp_err_t err;
        int32_t partition;
        int64_t offset;
} delivery_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd policy check FILE [-c CONFIG] [--json]\n"
                     "       backlogd policy publish FILE [-c CONFIG] [--dry-run] [--json]\n"
                     "\n"
                     "check    parse the scheduling policy in FILE against the configured domains\n"
                     "         and print what it means: name@version, the weight and formula of\n"
                     "         each criterion, every domain's settings, guardrails and canary; or\n"
                     "         print every problem with its JSON path and exit 1\n"
                     "publish  check FILE, then write it (compacted) to backlog.policy keyed by\n"
                     "         the policy's name and wait until the broker has it; exit 1 on any\n"
                     "         failure. The topic must exist (backlogd topics create).\n"
                     "\n"
                     "The format is described in docs/policy.md; config/policy.json is an example.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults):\n"
                     "                     the domains, the retry defaults, the cluster\n"
                     "      --dry-run      publish: check and show what would be written; send nothing\n"
                     "      --json         print the outcome as one JSON object on stdout\n"
                     "  -h, --help         this help\n");
}

/* ---- check -------------------------------------------------------------------------------- */

static void on_problem(const char *path, const char *reason, bool fatal, void *opaque) {
        check_state_t *state = opaque;
        const char *where = *path ? path : state->file;
        if (fatal)
                state->errors++;
        else
                state->warnings++;
        fprintf(stderr, "backlogd: policy %s: %s: %s\n", fatal ? "error" : "warning", where, reason);
        json_array_append_new(state->problems,
                              json_pack("{s:s, s:s, s:b}", "path", path, "reason", reason, "fatal", fatal));
}

static bl_policy_t *check_file(const bl_config_t *config, const char *file, check_state_t *state) {
        const bl_policy_fallback_t fallback = {config->backlog_retry_base_ms, config->backlog_retry_cap_ms,
                                               (int32_t)config->backlog_max_attempts};
        state->file = file;
        state->problems = json_array();
        return bl_policy_load_file(file, (const char *const *)config->domains.items, config->domains.count, &fallback,
                                   on_problem, state);
}

static const char *formula(const bl_policy_t *policy, bl_criterion_id_t criterion, char *out, size_t out_size) {
        switch (criterion) {
        case BL_CRITERION_BUSINESS_VALUE: snprintf(out, out_size, "business_value"); break;
        case BL_CRITERION_RISK: snprintf(out, out_size, "risk"); break;
        case BL_CRITERION_SLA_URGENCY:
                snprintf(out, out_size, "1 - clamp(ms to deadline / %lld); 1 past due, 0 without a deadline",
                         (long long)bl_policy_urgency_horizon_ms(policy));
                break;
        case BL_CRITERION_FRESHNESS:
                snprintf(out, out_size, "0.5 ^ (ms since data_ready_at / %lld); 0 without data_ready_at",
                         (long long)bl_policy_freshness_half_life_ms(policy));
                break;
        case BL_CRITERION_AGING:
                snprintf(out, out_size, "clamp(ms READY / %lld)", (long long)bl_policy_aging_horizon_ms(policy));
                break;
        case BL_CRITERION_DEADLINE_RISK:
                snprintf(out, out_size,
                         "P(late if it waits its turn) - P(late if it starts now); 0 without deadline or estimate");
                break;
        default: snprintf(out, out_size, "clamp(attempts made / max_attempts)"); break;
        }
        return out;
}

static void format_fraction(bool present, double value, const char *prefix, char *out, size_t out_size) {
        if (present)
                snprintf(out, out_size, "%s%.2f", prefix, value);
        else
                snprintf(out, out_size, "-");
}

static void print_domain_row(const bl_domain_policy_t *settings, const char *label, bool domain_level) {
        char quota[32], approval[32], retry[64];
        format_fraction(settings->has_quota, settings->quota_share, "", quota, sizeof(quota));
        format_fraction(settings->has_approval, settings->approval_risk_threshold, ">= ", approval, sizeof(approval));
        snprintf(retry, sizeof(retry), "%lld..%lld", (long long)settings->retry_base_ms,
                 (long long)settings->retry_cap_ms);
        if (domain_level)
                printf("  %-20s %-28s %9lld %10lld %-17s %8d %6s %s\n", label, settings->worker_group,
                       (long long)settings->max_lag, (long long)settings->resume_lag, retry,
                       (int)settings->max_attempts, quota, approval);
        else
                printf("  %-20s %-28s %9s %10s %-17s %8d %6s %s\n", label, "(main policy's)", "", "", retry,
                       (int)settings->max_attempts, "", approval);
}

static void print_policy(const bl_policy_t *policy, bool is_canary) {
        char text[256];
        printf("  %-16s %7s  %s\n", "criterion", "weight", "normalised to [0, 1] as");
        for (int i = 0; i < BL_POLICY_CRITERIA; i++)
                printf("  %-16s %7.2f  %s\n", bl_policy_criterion_name((bl_criterion_id_t)i),
                       bl_policy_weight(policy, (bl_criterion_id_t)i),
                       formula(policy, (bl_criterion_id_t)i, text, sizeof(text)));
        printf("\n  %-20s %-28s %9s %10s %-17s %8s %6s %s\n", "domain", "worker group", "max_lag", "resume_lag",
               "retry ms", "attempts", "quota", "approval at risk");
        for (size_t i = 0; i < bl_policy_domain_count(policy); i++) {
                const bl_domain_policy_t *settings = bl_policy_domain_at(policy, i);
                print_domain_row(settings, settings->domain, !is_canary);
        }
        print_domain_row(bl_policy_defaults(policy), "(other domains)", !is_canary);
}

/* The bearer token as `policy check` shows it: masked, or why there is none. Never the value. */
static const char *token_shown(const bl_agent_policy_t *agent) {
        if (!agent->token_env)
                return "none";
        return getenv(agent->token_env) ? "********" : "not set";
}

/* The domains' agents (SPEC §13, docs/agents.md): where, which share, and the bounds they are held to. */
/* What a deadline passed before dispatch does, and the decision deadlines (SPEC §14, docs/policy.md). */
static void print_deadline_row(const bl_domain_policy_t *settings, const char *label) {
        const char *meaning[BL_ON_DEADLINE__COUNT] = {
                "EXPIRED, to the DLQ (deadline.expired)",
                "dispatched first all the same, marked late",
                "BLOCKED awaiting approval (an escalation), then dispatched late",
        };
        char decision[64] = "none";
        if (settings->decision_deadline_ms > 0)
                snprintf(decision, sizeof(decision), "dispatched first after %lld ms READY",
                         (long long)settings->decision_deadline_ms);
        printf("  %-20s %-14s %s; decision deadline: %s\n", label, bl_on_deadline_name(settings->on_deadline),
               (unsigned)settings->on_deadline < BL_ON_DEADLINE__COUNT ? meaning[settings->on_deadline] : "?",
               decision);
}

static void print_deadlines(const bl_policy_t *policy) {
        printf("\ndeadlines (a deadline passed before dispatch; the longest a task waits READY)\n");
        for (size_t i = 0; i < bl_policy_domain_count(policy); i++)
                print_deadline_row(bl_policy_domain_at(policy, i), bl_policy_domain_at(policy, i)->domain);
        print_deadline_row(bl_policy_defaults(policy), "(other domains)");
}

static void print_agents(const bl_policy_t *policy) {
        bool any = false;
        for (size_t i = 0; i < bl_policy_domain_count(policy); i++) {
                const bl_domain_policy_t *settings = bl_policy_domain_at(policy, i);
                const bl_agent_policy_t *agent = settings->agent;
                if (!agent)
                        continue;
                if (!any)
                        printf("\nagents (a pilot share of a domain's tasks, by a hash of task_id; the rest is the "
                               "control group)\n");
                any = true;
                printf("  %s: %s\n", settings->domain, agent->url);
                printf("    pilot %g%% of the tasks; up to %d candidates a consultation%s\n",
                       agent->pilot_share * 100, (int)agent->max_candidates,
                       agent->send_payload ? ", with their payloads" : "");
                printf("    an answer within %lld ms and %lld bytes, else the policy decides\n",
                       (long long)agent->timeout_ms, (long long)agent->max_response_bytes);
                printf("    holds at most %lld ms, of at most %g%% of the candidates, ending %lld ms before a "
                       "deadline\n",
                       (long long)agent->hold_max_ms, agent->max_held_share * 100,
                       (long long)agent->deadline_margin_ms);
                printf("    breaker: open after %d failures in a row, tried again after %lld ms\n",
                       (int)agent->breaker_failures, (long long)agent->breaker_cooldown_ms);
                printf("    tls: ca %s, client certificate %s; bearer token %s%s%s\n",
                       agent->ca_location ? agent->ca_location : "(system)",
                       agent->certificate_location ? agent->certificate_location : "none", token_shown(agent),
                       agent->token_env ? " from $" : "", agent->token_env ? agent->token_env : "");
        }
        if (!any)
                printf("\nagents: none (the policy alone decides)\n");
}

/* One domain's failure settings (SPEC §14), in words; nothing when it has none. Returns whether any was shown. */
static bool print_domain_resilience(const bl_domain_policy_t *settings, bool any) {
        const bl_resilience_policy_t *resilience = settings->resilience;
        bool bounded = resilience && (resilience->max_runtime_ms > 0 || resilience->runtime_by_task_type_count > 0);
        if (!resilience || (!bounded && !resilience->breaker.enabled && resilience->rule_count == 0))
                return any;
        if (!any)
                printf("\nresilience (runtime bounds, circuit breakers, remediation rules)\n");
        printf("  %s:\n", settings->domain);
        if (resilience->max_runtime_ms > 0)
                printf("    RUNNING longer than %lld ms fails (runtime_exceeded), heartbeats or not\n",
                       (long long)resilience->max_runtime_ms);
        for (size_t i = 0; i < resilience->runtime_by_task_type_count; i++)
                printf("    task_type %s: RUNNING longer than %lld ms fails\n",
                       resilience->runtime_by_task_type[i].task_type,
                       (long long)resilience->runtime_by_task_type[i].max_runtime_ms);
        const bl_breaker_policy_t *breaker = &resilience->breaker;
        if (breaker->enabled)
                printf("    breaker: opens when >= %g%% of at least %d results in %lld ms FAILED; then nothing is "
                       "dispatched for %lld ms, then %d probes go out; their success closes it\n",
                       breaker->failure_share * 100, (int)breaker->min_results, (long long)breaker->window_ms,
                       (long long)breaker->cooldown_ms, (int)breaker->probes);
        for (size_t i = 0; i < resilience->rule_count; i++) {
                const bl_remediation_rule_t *rule = &resilience->rules[i];
                printf("    remediation: out of retries (task_type %s, error code %s) -> a %s task in %s; when it "
                       "COMPLETED the task runs again, at most %d rounds, then the DLQ\n",
                       rule->task_type ? rule->task_type : "any", rule->error_code ? rule->error_code : "any",
                       rule->remediation_task_type, rule->remediation_domain, (int)rule->max_rounds);
        }
        return true;
}

static void print_resilience(const bl_policy_t *policy) {
        bool any = false;
        for (size_t i = 0; i < bl_policy_domain_count(policy); i++)
                any = print_domain_resilience(bl_policy_domain_at(policy, i), any);
        if (!any)
                printf("\nresilience: no runtime bound, breaker or remediation rule\n");
}

/* For --json: each agent's token, masked, by domain (the document itself names only its variable). */
static json_t *agent_tokens(const bl_policy_t *policy) {
        json_t *tokens = json_object();
        for (size_t i = 0; i < bl_policy_domain_count(policy); i++) {
                const bl_domain_policy_t *settings = bl_policy_domain_at(policy, i);
                if (settings->agent)
                        json_object_set_new(tokens, settings->domain,
                                            json_pack("{s:s?, s:s}", "token_env", settings->agent->token_env,
                                                      "token", token_shown(settings->agent)));
        }
        return tokens;
}

static void print_summary(const bl_policy_t *policy) {
        const bl_policy_t *canary = bl_policy_canary(policy);
        printf("policy %s\n", bl_policy_label(policy));
        if (*bl_policy_description(policy))
                printf("  %s\n", bl_policy_description(policy));
        printf("\n");
        print_policy(policy, false);
        printf("\n  score = sum of weight x criterion; quota: at most floor(share x round) of a scheduling\n"
               "  round's dispatches (at least 1); approval: risk at or above the threshold waits BLOCKED\n"
               "  for an APPROVED event.\n");
        print_deadlines(policy);
        print_agents(policy);
        print_resilience(policy);
        if (!canary) {
                printf("\ncanary: none\n");
                return;
        }
        printf("\ncanary %s scores %g%% of the tasks (FNV-1a + splitmix64 of task_id)\n", bl_policy_label(canary),
               bl_policy_canary_fraction(policy) * 100);
        if (*bl_policy_description(canary))
                printf("  %s\n", bl_policy_description(canary));
        printf("\n");
        print_policy(canary, true);
}

static int policy_check(const policy_opts_t *opts) {
        check_state_t state = {0};
        bl_config_t *config = bl_cmd_load_config(opts->config_path);
        bl_policy_t *policy = NULL;
        int status = BL_EXIT_FAILURE;
        if (!config)
                return BL_EXIT_FAILURE;
        policy = check_file(config, opts->file, &state);
        if (opts->as_json) {
                json_t *outcome = json_pack("{s:b, s:s, s:O}", "ok", policy != NULL, "file", opts->file, "problems",
                                            state.problems);
                if (policy) {
                        const bl_policy_t *canary = bl_policy_canary(policy);
                        json_object_set_new(outcome, "label", json_string(bl_policy_label(policy)));
                        json_object_set_new(outcome, "canary",
                                            canary ? json_string(bl_policy_label(canary)) : json_null());
                        json_object_set_new(outcome, "policy", bl_policy_describe(policy));
                        json_object_set_new(outcome, "agent_tokens", agent_tokens(policy));
                }
                json_dumpf(outcome, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                fputc('\n', stdout);
                json_decref(outcome);
        } else if (policy) {
                print_summary(policy);
        }
        if (policy) {
                fprintf(stderr, "backlogd: policy %s is valid (%s%s%zu warning%s)\n", opts->file,
                        bl_policy_label(policy), ", ", state.warnings, state.warnings == 1 ? "" : "s");
                status = BL_EXIT_OK;
        } else {
                fprintf(stderr, "backlogd: policy %s is not usable: %zu error%s (see above)\n", opts->file,
                        state.errors, state.errors == 1 ? "" : "s");
        }
        bl_policy_destroy(policy);
        json_decref(state.problems);
        bl_config_destroy(config);
        return status;
}

/* ---- publish ------------------------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        delivery_t *delivery = opaque;
        (void)rk;
        delivery->done = true;
        delivery->err = message->err;
        delivery->partition = message->partition;
        delivery->offset = message->offset;
}

/* The policy document as published: the file's JSON, compacted. A new string, or NULL with errstr. */
static char *compact_document(const char *file, char *errstr, size_t errstr_size) {
        json_error_t error;
        json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &error);
        char *text;
        if (!root) {
                bl_err_set(errstr, errstr_size, BL_ERR_IO, "%s: %s", file, error.text);
                return NULL;
        }
        text = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (!text)
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        return text;
}

/* The topic must exist and be compacted: a producer must not let a broker auto-create it otherwise. */
static bool topic_ready(const bl_config_t *config, char *topic, char *errstr, size_t errstr_size) {
        bl_topic_spec_t spec = {topic, (char *)POLICY_ROLE, 1, -1, false, "compact", 0};
        bl_topic_plan_t plan = {&spec, 1};
        bl_topic_observed_t observed;
        bl_admin_t *admin = bl_admin_new(config, errstr, errstr_size);
        bool ready = false;
        memset(&observed, 0, sizeof(observed));
        if (!admin)
                return false;
        if (bl_admin_describe_topics(admin, &plan, &observed, errstr, errstr_size) != BL_OK)
                goto done;
        if (observed.denied[0])
                bl_err_set(errstr, errstr_size, BL_ERR_REFUSED,
                           "topic %s cannot be checked: the broker denies this principal %s on it (grant %s on "
                           "topic %s; docs/security.md)",
                           topic, observed.denied, observed.denied, topic);
        else if (!observed.exists)
                bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND,
                           "topic %s does not exist: create it with 'backlogd topics create'", topic);
        else if (strcmp(observed.cleanup_policy, "compact"))
                bl_err_set(errstr, errstr_size, BL_ERR_MISMATCH,
                           "topic %s has cleanup.policy=%s, needs compact: it would not keep the latest policy "
                           "of each name",
                           topic, observed.cleanup_policy);
        else
                ready = true;
done:
        bl_admin_destroy(admin);
        return ready;
}

/* Produces @p value keyed by @p key and waits for its delivery report. */
static bool produce_and_wait(const bl_config_t *config, const char *topic, const char *key, const char *value,
                             delivery_t *delivery, char *errstr, size_t errstr_size) {
        char timeout[32];
        snprintf(timeout, sizeof(timeout), "%lld", (long long)config->admin_timeout_ms);
        /* Idempotent (acks=all); bounded in time; never a topic auto-created without compaction. */
        const char *overrides[] = {
                "enable.idempotence", "true", "message.timeout.ms", timeout, "allow.auto.create.topics", "false", NULL};
        rd_kafka_conf_t *conf = bl_kafka_conf_new(config, overrides, errstr, errstr_size);
        rd_kafka_t *producer;
        rd_kafka_resp_err_t err;
        if (!conf)
                return false;
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, delivery);
        producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!producer)
                return false;
        err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err) {
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "cannot produce to %s: %s", topic, rd_kafka_err2str(err));
                rd_kafka_destroy(producer);
                return false;
        }
        rd_kafka_flush(producer, (int)config->admin_timeout_ms + 5000);
        rd_kafka_destroy(producer);
        if (!delivery->done) {
                bl_err_set(errstr, errstr_size, BL_ERR_TIMEOUT, "no delivery report from %s within %lld ms",
                           bl_kafka_bootstrap(config), (long long)config->admin_timeout_ms + 5000);
                return false;
        }
        if (delivery->err) {
                bl_err_set(errstr, errstr_size, BL_ERR_KAFKA, "delivery to %s failed: %s", topic,
                           rd_kafka_err2str(delivery->err));
                return false;
        }
        return true;
}

static int policy_publish(const policy_opts_t *opts) {
        check_state_t state = {0};
        delivery_t delivery = {false, RD_KAFKA_RESP_ERR_NO_ERROR, -1, -1};
        char errstr[512];
        char *topic = NULL, *document = NULL;
        bool published = false;
        int status = BL_EXIT_FAILURE;
        bl_policy_t *policy = NULL;
        bl_config_t *config = bl_cmd_load_config(opts->config_path);
        if (!config)
                return BL_EXIT_FAILURE;
        policy = check_file(config, opts->file, &state);
        if (!policy) {
                fprintf(stderr, "backlogd: policy %s is not usable: %zu error%s (see above); nothing published\n",
                        opts->file, state.errors, state.errors == 1 ? "" : "s");
                if (opts->as_json) {
                        json_t *outcome = json_pack("{s:b, s:s, s:b, s:O}", "ok", false, "file", opts->file,
                                                    "published", false, "problems", state.problems);
                        json_dumpf(outcome, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                        fputc('\n', stdout);
                        json_decref(outcome);
                }
                goto done;
        }
        topic = bl_config_topic_name(config, POLICY_ROLE);
        document = compact_document(opts->file, errstr, sizeof(errstr));
        if (!topic || !document) {
                fprintf(stderr, "backlogd policy: %s\n", topic ? errstr : "out of memory");
                goto done;
        }
        if (opts->dry_run) {
                fprintf(stderr, "backlogd policy: would publish %s to %s (key %s, %zu bytes); nothing sent\n",
                        bl_policy_label(policy), topic, bl_policy_name(policy), strlen(document));
                status = BL_EXIT_OK;
        } else if (!topic_ready(config, topic, errstr, sizeof(errstr)) ||
                   !produce_and_wait(config, topic, bl_policy_name(policy), document, &delivery, errstr,
                                     sizeof(errstr))) {
                fprintf(stderr, "backlogd policy: %s; %s not published\n", errstr, bl_policy_label(policy));
        } else {
                published = true;
                fprintf(stderr, "backlogd policy: published %s to %s (key %s, partition %d, offset %lld, %zu bytes)\n",
                        bl_policy_label(policy), topic, bl_policy_name(policy), (int)delivery.partition,
                        (long long)delivery.offset, strlen(document));
                status = BL_EXIT_OK;
        }
        if (opts->as_json) {
                const bl_policy_t *canary = bl_policy_canary(policy);
                json_t *outcome = json_pack(
                        "{s:b, s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:I, s:O}", "ok", status == BL_EXIT_OK, "file",
                        opts->file, "label", bl_policy_label(policy), "topic", topic, "key", bl_policy_name(policy),
                        "canary", canary ? json_string(bl_policy_label(canary)) : json_null(), "dry_run", opts->dry_run,
                        "published", published, "bytes", (json_int_t)strlen(document), "problems", state.problems);
                if (published) {
                        json_object_set_new(outcome, "partition", json_integer(delivery.partition));
                        json_object_set_new(outcome, "offset", json_integer(delivery.offset));
                } else if (!opts->dry_run) {
                        json_object_set_new(outcome, "error", json_string(errstr));
                }
                json_dumpf(outcome, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                fputc('\n', stdout);
                json_decref(outcome);
        }
done:
        free(document);
        free(topic);
        bl_policy_destroy(policy);
        json_decref(state.problems);
        bl_config_destroy(config);
        return status;
}

/* ---- the command -------------------------------------------------------------------------- */

/* Fills @p opts from argv (argv[0] is the action); -1 to go on, else the exit status (BL_EXIT_OK after --help). */
static int parse_options(int argc, char **argv, bool publish, policy_opts_t *opts) {
        int early = bl_cmd_parse_options("policy", argc, argv, usage, &opts->config_path, &opts->as_json,
                                         publish ? &opts->dry_run : NULL);
        if (early >= 0)
                return early;
        if (optind >= argc)
                return bl_cmd_usage_error("policy", "missing FILE: the policy to %s", publish ? "publish" : "check");
        opts->file = argv[optind++];
        if (optind < argc)
                return bl_cmd_usage_error("policy", "unexpected argument '%s'", argv[optind]);
        return -1;
}

int bl_cmd_policy(int argc, char **argv) {
        policy_opts_t opts = {0};
        bool publish;
        int status;
        if (argc < 2)
                return bl_cmd_usage_error("policy", "missing action: check or publish");
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (strcmp(argv[1], "check") && strcmp(argv[1], "publish"))
                return bl_cmd_usage_error("policy", "unknown action '%s': expected check or publish", argv[1]);
        publish = !strcmp(argv[1], "publish");
        if ((status = parse_options(argc - 1, argv + 1, publish, &opts)) >= 0)
                return status;
        return publish ? policy_publish(&opts) : policy_check(&opts);
}
