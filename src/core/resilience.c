/*
 * resilience.c: the per-domain failure settings of SPEC §14 as data
 * (resilience.h): defaults, deep copy, destruction and the two lookups the
 * backlog makes, a task_type's runtime bound and the remediation rule that
 * takes a task. The lists are short (a few entries per domain): a linear
 * walk is the fastest and simplest lookup. Pure; any thread may read a
 * finished policy.
 */
#include "core/resilience.h"

#include <stdlib.h>
#include <string.h>

void bl_breaker_policy_defaults(bl_breaker_policy_t *breaker) {
        *breaker = (bl_breaker_policy_t){
                .enabled = false,
                .failure_share = 0.5,
                .window_ms = 60000,
                .min_results = 20,
                .cooldown_ms = 30000,
                .probes = 3,
        };
}

bl_resilience_policy_t *bl_resilience_policy_new(void) {
        bl_resilience_policy_t *resilience = calloc(1, sizeof(*resilience));
        if (resilience)
                bl_breaker_policy_defaults(&resilience->breaker);
        return resilience;
}

static void rule_clear(bl_remediation_rule_t *rule) {
        free(rule->task_type);
        free(rule->error_code);
        free(rule->remediation_domain);
        free(rule->remediation_task_type);
}

void bl_resilience_policy_destroy(bl_resilience_policy_t *resilience) {
        if (!resilience)
                return;
        for (size_t i = 0; i < resilience->runtime_by_task_type_count; i++)
                free(resilience->runtime_by_task_type[i].task_type);
        free(resilience->runtime_by_task_type);
        for (size_t i = 0; i < resilience->rule_count; i++)
                rule_clear(&resilience->rules[i]);
        free(resilience->rules);
        free(resilience);
}

/* A copy of @p text, false when it could not be made (NULL copies as NULL). */
static bool copy_text(char **to, const char *text) {
        *to = text ? strdup(text) : NULL;
        return !text || *to;
}

static bool copy_lists(bl_resilience_policy_t *to, const bl_resilience_policy_t *from) {
        size_t runtimes = from->runtime_by_task_type_count, rules = from->rule_count;
        to->runtime_by_task_type = runtimes ? calloc(runtimes, sizeof(*to->runtime_by_task_type)) : NULL;
        to->rules = rules ? calloc(rules, sizeof(*to->rules)) : NULL;
        if ((runtimes && !to->runtime_by_task_type) || (rules && !to->rules))
                return false;
        for (; to->runtime_by_task_type_count < runtimes; to->runtime_by_task_type_count++) {
                const bl_runtime_bound_t *bound = &from->runtime_by_task_type[to->runtime_by_task_type_count];
                bl_runtime_bound_t *copy = &to->runtime_by_task_type[to->runtime_by_task_type_count];
                copy->max_runtime_ms = bound->max_runtime_ms;
                if (!copy_text(&copy->task_type, bound->task_type))
                        return false;
        }
        for (; to->rule_count < rules; to->rule_count++) {
                const bl_remediation_rule_t *rule = &from->rules[to->rule_count];
                bl_remediation_rule_t *copy = &to->rules[to->rule_count];
                copy->max_rounds = rule->max_rounds;
                if (!copy_text(&copy->task_type, rule->task_type) || !copy_text(&copy->error_code, rule->error_code) ||
                    !copy_text(&copy->remediation_domain, rule->remediation_domain) ||
                    !copy_text(&copy->remediation_task_type, rule->remediation_task_type)) {
                        to->rule_count++; /* its strings made so far are freed with it */
                        return false;
                }
        }
        return true;
}

bl_resilience_policy_t *bl_resilience_policy_copy(const bl_resilience_policy_t *from, bool *oom) {
        *oom = false;
        if (!from)
                return NULL;
        bl_resilience_policy_t *to = calloc(1, sizeof(*to));
        if (!to) {
                *oom = true;
                return NULL;
        }
        to->max_runtime_ms = from->max_runtime_ms;
        to->breaker = from->breaker;
        if (!copy_lists(to, from)) {
                bl_resilience_policy_destroy(to);
                *oom = true;
                return NULL;
        }
        return to;
}

int64_t bl_resilience_max_runtime_ms(const bl_resilience_policy_t *resilience, const char *task_type) {
        if (!resilience)
                return 0;
        for (size_t i = 0; task_type && i < resilience->runtime_by_task_type_count; i++)
                if (!strcmp(resilience->runtime_by_task_type[i].task_type, task_type))
                        return resilience->runtime_by_task_type[i].max_runtime_ms;
        return resilience->max_runtime_ms;
}

static bool text_matches(const char *wanted, const char *actual) {
        return !wanted || (actual && !strcmp(wanted, actual));
}

const bl_remediation_rule_t *bl_resilience_rule_for(const bl_resilience_policy_t *resilience, const bl_item_t *item) {
        if (!resilience)
                return NULL;
        const bl_item_cold_t *cold = bl_item_cold(item);
        for (size_t i = 0; i < resilience->rule_count; i++) {
                const bl_remediation_rule_t *rule = &resilience->rules[i];
                if (text_matches(rule->task_type, item->kind->task_type) &&
                    text_matches(rule->error_code, cold->has_last_error ? cold->error_code : NULL))
                        return rule;
        }
        return NULL;
}
