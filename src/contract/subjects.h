/*
 * subjects.h: which registry subjects each contract is written under:
 * <topic>-value (Confluent's TopicNameStrategy), topics.prefix applied.
 *
 *   task_event         tasks.events, tasks.results
 *   transition         backlog.transitions
 *   backlog_item       backlog.state
 *   dispatch_decision  dispatch.<domain>, for each configured domain
 *   dependency_notice  backlog.deps
 */
#ifndef BL_SUBJECTS_H
#define BL_SUBJECTS_H

#include <stdbool.h>

#include "ops/config.h"

/** Called once per (contract, subject); @p written_by_backlogd is false for TaskEvent subjects. */
typedef void(bl_subject_cb)(const char *contract, const char *subject, bool written_by_backlogd, void *opaque);

/** Calls @p cb for every subject of every contract, in the order of the table above. */
void bl_contract_each_subject(const bl_config_t *config, bl_subject_cb *cb, void *opaque);

#endif
