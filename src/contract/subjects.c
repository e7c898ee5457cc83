/*
 * subjects.c: the contract -> topic table behind registry subjects, shared
 * by start-up registration (pipeline/run.c) and `contracts check --registry`.
 */
#include "contract/subjects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
        const char *contract;
        const char *topic_role; /* NULL: one dispatch.<domain> per domain */
        bool written_by_backlogd;
} subject_table[] = {
        {"task_event", "tasks.events", false},           {"task_event", "tasks.results", false},
        {"transition", "backlog.transitions", true},     {"backlog_item", "backlog.state", true},
        {"dispatch_decision", NULL, true},               {"dependency_notice", "backlog.deps", true},
};

static void emit(const bl_config_t *config, const char *contract, const char *role, bool ours, bl_subject_cb *cb,
                 void *opaque) {
        char subject[512];
        snprintf(subject, sizeof(subject), "%s%s-value", config->topics_prefix, role);
        cb(contract, subject, ours, opaque);
}

void bl_contract_each_subject(const bl_config_t *config, bl_subject_cb *cb, void *opaque) {
        for (size_t i = 0; i < sizeof(subject_table) / sizeof(subject_table[0]); i++) {
                if (subject_table[i].topic_role) {
                        emit(config, subject_table[i].contract, subject_table[i].topic_role,
                             subject_table[i].written_by_backlogd, cb, opaque);
                        continue;
                }
                for (size_t d = 0; d < config->domains.count; d++) {
                        char role[160];
                        snprintf(role, sizeof(role), "dispatch.%s", config->domains.items[d]);
                        emit(config, subject_table[i].contract, role, true, cb, opaque);
                }
        }
}
