/*
 * steer.c: the policy `run` follows (SPEC §4, §5), and what it changes.
 *
 * The policy comes from policy.file (read at start-up, again on SIGHUP) or,
 * with policy.name, from the newest record of that key in backlog.policy
 * (looked at every POLICY_POLL_MS); with neither, READY tasks go FIFO under
 * "fifo@1". A policy that does not parse is refused with every problem
 * logged and the running one stays; at start-up it stops the instance.
 *
 * The backlog asks the policy through three callbacks: the score of a task
 * (for the scheduler's order), the decision with its rationale and the name
 * of the policy that made it (the canary for its stable fraction of tasks),
 * the task's settings (retries, approval, runtime bound) and whether a
 * remediation rule takes a task out of retries. The domains' worker groups
 * and lag bounds go to the credit ledger and the lag monitor, whose answers
 * (the worker groups' committed offsets) this file hands to the ledger.
 * Swapping the policy re-scores every READY task at once. Pipeline thread.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "policy/load.h"
#include "base/log.h"
#include "pipeline/pipeline_int.h"

#define POLICY_POLL_MS 5000
#define LAG_INTERVAL_MS 500

static double score_task(void *opaque, const bl_item_t *item, int64_t now_ms) {
        bl_pipeline_t *p = opaque;
        return p->policy ? bl_policy_score_task_with(p->policy, item, now_ms, p->capacity, NULL, NULL) : 0;
}

static void decide(void *opaque, const bl_item_t *item, int64_t now_ms, bl_decision_t *decision) {
        bl_pipeline_t *p = opaque;
        const bl_policy_t *chosen = NULL;
        if (!p->policy)
                return; /* fifo@1 as the backlog set it */
        decision->score =
                bl_policy_score_task_with(p->policy, item, now_ms, p->capacity, decision->criteria, &chosen);
        decision->criteria_count = BL_POLICY_CRITERIA;
        decision->policy_name = bl_policy_name(chosen);
        decision->policy_version = bl_policy_version(chosen);
}

static void task_settings(void *opaque, const bl_item_t *item, bl_task_settings_t *settings) {
        bl_pipeline_t *p = opaque;
        if (!p->policy)
                return;
        const bl_policy_t *chosen = bl_policy_for_task(p->policy, item->task_id);
        const bl_domain_policy_t *domain = bl_policy_domain(chosen, item->kind->domain ? item->kind->domain : "");
        if (domain) {
                settings->retry_base_ms = domain->retry_base_ms;
                settings->retry_cap_ms = domain->retry_cap_ms;
                settings->max_attempts = domain->max_attempts;
                settings->max_runtime_ms = bl_resilience_max_runtime_ms(domain->resilience, item->kind->task_type);
        }
        settings->approval_required = bl_policy_requires_approval(chosen, item);
        if (domain) {
                settings->on_deadline = domain->on_deadline;
                settings->decision_deadline_ms = domain->decision_deadline_ms;
        }
}

/* Whether a remediation rule of the task's domain takes it, out of retries (SPEC §14). */
static bool task_remediation(void *opaque, const bl_item_t *item, bl_remediation_plan_t *plan) {
        bl_pipeline_t *p = opaque;
        if (!p->policy)
                return false;
        const bl_domain_policy_t *domain = bl_policy_domain(p->policy, item->kind->domain ? item->kind->domain : "");
        const bl_remediation_rule_t *rule = bl_resilience_rule_for(domain->resilience, item);
        if (!rule)
                return false;
        plan->domain = rule->remediation_domain;
        plan->task_type = rule->remediation_task_type;
        plan->max_rounds = rule->max_rounds;
        return true;
}

void bl_steer_backlog_options(bl_pipeline_t *p, bl_backlog_options_t *options) {
        options->rescore_interval_ms = p->config->backlog_rescore_interval_ms;
        options->score = score_task;
        options->decide = decide;
        options->settings = task_settings;
        options->remediation = task_remediation;
        options->policy_opaque = p;
}

static void log_problem(const char *path, const char *reason, bool fatal, void *opaque) {
        (void)opaque;
        bl_log(fatal ? BL_LOG_ERROR : BL_LOG_WARN, "policy", "%s%s%s", *path ? path : "", *path ? ": " : "", reason);
}

static bl_policy_fallback_t fallback_of(const bl_config_t *config) {
        bl_policy_fallback_t fallback = {config->backlog_retry_base_ms, config->backlog_retry_cap_ms,
                                         (int32_t)config->backlog_max_attempts};
        return fallback;
}

/* The domains' worker groups and lag bounds, to the credit ledger and the lag monitor. */
static void apply_lag_bounds(bl_pipeline_t *p) {
        for (size_t d = 0; d < p->config->domains.count; d++) {
                const char *domain = p->config->domains.items[d];
                const bl_domain_policy_t *settings = bl_policy_domain(p->policy, domain);
                char topic[512];
                if (!settings)
                        continue;
                bl_credit_set_domain(p->credit, domain, p->total_input_partitions, settings->max_lag,
                                     settings->resume_lag);
                if (p->lag_watched[d])
                        continue; /* a worker group is fixed for the life of the process */
                snprintf(topic, sizeof(topic), "%sdispatch.%s", p->config->topics_prefix, domain);
                p->lag_watched[d] = bl_lag_watch(p->lag, domain, topic, settings->worker_group,
                                                 p->total_input_partitions);
        }
}

/* Takes @p policy over, replacing the running one. */
static void adopt(bl_pipeline_t *p, bl_policy_t *policy, const char *source) {
        bl_policy_t *old = p->policy;
        p->policy = policy;
        bl_log_info("policy", "following %s from %s%s%s", bl_policy_label(policy), source,
                    bl_policy_canary(policy) ? ", canary " : "",
                    bl_policy_canary(policy) ? bl_policy_label(bl_policy_canary(policy)) : "");
        if (p->lag)
                apply_lag_bounds(p);
        bl_resilience_configure(p);
        if (p->backlog)
                bl_backlog_rescore(p->backlog, bl_clock_wall_ms());
        /* READY tasks the new policy wants approved wait for it now (their transitions go into the open batch);
           without a batch, the check at dispatch (core/backlog.c) still holds them back */
        if (p->backlog && p->batch && bl_batch_ensure(p->batch)) {
                size_t blocked = bl_backlog_reevaluate_approvals(p->backlog, bl_clock_wall_ms());
                if (blocked)
                        bl_log_info("policy", "%zu READY tasks wait for approval under %s", blocked,
                                    bl_policy_label(policy));
        }
        bl_policy_destroy(old);
}

static bool load_file(bl_pipeline_t *p) {
        bl_policy_fallback_t fallback = fallback_of(p->config);
        bl_policy_t *policy = bl_policy_load_file(p->config->policy_file, (const char *const *)p->config->domains.items,
                                                  p->config->domains.count, &fallback, log_problem, NULL);
        if (!policy) {
                bl_log_error("policy", "%s is refused (see above); %s", p->config->policy_file,
                             p->policy ? "the running policy stays" : "no policy to start with");
                return false;
        }
        adopt(p, policy, p->config->policy_file);
        return true;
}

typedef struct newest_s {
        const char *name;
        char *text;
        size_t size;
} newest_t;

static bool keep_newest(const rd_kafka_message_t *message, void *opaque) {
        newest_t *newest = opaque;
        if (!message->key || message->key_len != strlen(newest->name) ||
            memcmp(message->key, newest->name, message->key_len))
                return true;
        free(newest->text);
        newest->text = NULL;
        newest->size = 0;
        if (message->payload && (newest->text = malloc(message->len + 1))) {
                memcpy(newest->text, message->payload, message->len);
                newest->text[message->len] = '\0';
                newest->size = message->len;
        }
        return true;
}

/* Reads backlog.policy; adopts the newest record of policy.name when its name@version is new. */
static bool follow_topic(bl_pipeline_t *p) {
        char errstr[512], *topic = bl_config_topic_name(p->config, "backlog.policy");
        newest_t newest = {p->config->policy_name, NULL, 0};
        bl_err_t err = topic ? bl_reader_scan(p->reader, topic, NULL, 0, keep_newest, &newest,
                                              (int)p->config->admin_timeout_ms, errstr, sizeof(errstr))
                             : BL_ERR_NOMEM;
        bool ok = true;
        free(topic);
        if (err) {
                bl_log_warn("policy", "reading backlog.policy: %s", errstr);
                ok = p->policy != NULL;
        } else if (!newest.text) {
                bl_log_warn("policy", "backlog.policy has no policy named %s yet", p->config->policy_name);
        } else {
                bl_policy_fallback_t fallback = fallback_of(p->config);
                bl_policy_t *policy = bl_policy_parse_with(newest.text, newest.size,
                                                           (const char *const *)p->config->domains.items,
                                                           p->config->domains.count, &fallback, log_problem, NULL);
                if (!policy)
                        bl_log_error("policy", "the newest %s in backlog.policy is refused (see above)%s",
                                     p->config->policy_name, p->policy ? "; the running policy stays" : "");
                else if (p->policy && !strcmp(bl_policy_label(policy), bl_policy_label(p->policy)))
                        bl_policy_destroy(policy); /* nothing new */
                else
                        adopt(p, policy, "backlog.policy");
        }
        free(newest.text);
        p->policy_checked_ms = bl_clock_monotonic_ms();
        return ok;
}

/* The lag monitor's answers, into the credit ledger: kafka/ reports, the pipeline decides where they go. */
static void committed_to_credit(const char *domain, int32_t partition, int64_t offset, void *opaque) {
        bl_credit_committed(opaque, domain, partition, offset);
}

bool bl_steer_open_lag(bl_pipeline_t *p) {
        p->lag = bl_lag_new(p->producer, committed_to_credit, p->credit, LAG_INTERVAL_MS,
                            (int)p->config->admin_timeout_ms);
        return p->lag != NULL;
}

void bl_steer_close_lag(bl_pipeline_t *p) {
        bl_lag_destroy(p->lag);
        p->lag = NULL;
}

bool bl_steer_open(bl_pipeline_t *p) {
        if (!bl_steer_open_lag(p))
                return false;
        if (*p->config->policy_file)
                return load_file(p);
        if (*p->config->policy_name)
                return follow_topic(p);
        bl_log_info("policy", "no policy.file or policy.name: READY tasks go FIFO (fifo@1), without lag bounds");
        return true;
}

void bl_steer_tick(bl_pipeline_t *p, volatile sig_atomic_t *reload) {
        if (reload && *reload) {
                *reload = 0;
                if (*p->config->policy_file) {
                        bl_log_info("policy", "SIGHUP: reading %s again", p->config->policy_file);
                        load_file(p);
                }
        }
        if (!*p->config->policy_file && *p->config->policy_name &&
            bl_clock_monotonic_ms() - p->policy_checked_ms >= POLICY_POLL_MS)
                follow_topic(p);
        if (p->policy)
                bl_lag_poll(p->lag, bl_clock_monotonic_ms());
}

void bl_steer_close(bl_pipeline_t *p) {
        bl_policy_destroy(p->policy);
        p->policy = NULL;
}

size_t bl_steer_quota(const bl_pipeline_t *p, const char *domain, size_t round_total) {
        return p->policy ? bl_policy_quota(p->policy, domain, round_total) : round_total;
}
