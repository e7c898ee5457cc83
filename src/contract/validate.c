/*
 * validate.c: the TaskEvent contract's semantic rules.
 *
 * Every string an event carries is well-formed UTF-8 (the Avro
 * specification requires it, and every reader of our own topics, and the
 * DLQ's JSON tools, rely on it): the detail names the field path and the
 * offset of the first bad byte ("labels.team: not valid UTF-8 at byte 3";
 * depends_on[2], labels{key 1} for the second key). Every event: event_id,
 * task_id and producer are non-empty, bounded and printable; occurred_at is not before 1970; tenant and sla_class are
 * bounded. SUBMITTED: task_type and a known domain are given, business_value
 * and risk are in [0, 1], deadline and not_before (when given) come after
 * occurred_at and in that order, depends_on, labels and payload stay within
 * their bounds and a task does not depend on itself, max_attempts is 1 to
 * 1000. UPDATED: whatever it carries obeys the same ranges. Results (STARTED,
 * HEARTBEAT, COMPLETED, FAILED): attempt >= 1 and a dispatch_id; FAILED
 * carries an error with a code. And whatever the type makes of a field, its
 * size is bounded (SPEC §2, §12): a CANCELLED or a result that carries a
 * payload, labels or ids gets the same bounds as a SUBMITTED. An operator's
 * actor (v3) is an id of at most BL_ACTOR_MAX_BYTES, its reason text of at
 * most BL_REASON_MAX_BYTES. Pure, no
 * allocation; any thread.
 */
#include "contract/validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/text.h"

#define MAX_ATTEMPTS_LIMIT 1000
#define BL_RESERVED_LABEL_PREFIX "backlogd." /* core/wait.h's marks: never from a producer */
#define PATH_KEY_MAX_BYTES 100 /* of a label key quoted in a field path: the detail stays whole */

static bool violation(bl_record_error_t *error, const char *field, const char *what) {
        return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "%s: %s", field, what);
}

static bool check_text(const char *field, const char *value, bool required, size_t max_bytes,
                       bl_record_error_t *error) {
        size_t len, bad_offset;
        if (!value)
                return required ? violation(error, field, "required") : true;
        len = strlen(value);
        if (len == 0 && required)
                return violation(error, field, "must not be empty");
        if (len > max_bytes)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "%s: %zu bytes, the limit is %zu",
                                           field, len, max_bytes);
        if (!bl_text_utf8_valid(value, len, &bad_offset))
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "%s: not valid UTF-8 at byte %zu",
                                           field, bad_offset);
        return true;
}

/* Ids travel as Kafka keys, header values and log fields: no control characters. */
static bool check_id(const char *field, const char *value, bool required, size_t max_bytes,
                     bl_record_error_t *error) {
        if (!check_text(field, value, required, max_bytes, error))
                return false;
        for (const unsigned char *p = (const unsigned char *)value; p && *p; p++)
                if (*p < 0x20 || *p == 0x7F)
                        return violation(error, field, "contains a control character");
        return true;
}

static bool check_unit_interval(const char *field, bool present, double value, bool required,
                                bl_record_error_t *error) {
        if (!present)
                return required ? violation(error, field, "required") : true;
        if (!isfinite(value) || value < 0.0 || value > 1.0)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "%s: %g is outside [0, 1]", field,
                                           value);
        return true;
}

static bool known_domain(const char *domain, const bl_contract_rules_t *rules) {
        for (size_t i = 0; i < rules->domain_count; i++)
                if (!strcmp(rules->domains[i], domain))
                        return true;
        return false;
}

static bool check_times(const bl_task_event_t *event, bl_record_error_t *error) {
        if (event->has_deadline && event->deadline_ms <= event->occurred_at_ms)
                return violation(error, "deadline", "must be after occurred_at");
        if (event->has_not_before && event->has_deadline && event->not_before_ms >= event->deadline_ms)
                return violation(error, "not_before", "must be before deadline");
        if (event->has_data_ready_at && event->data_ready_at_ms < 0)
                return violation(error, "data_ready_at", "is before 1970");
        return true;
}

/* "depends_on[2]" */
static const char *entry_path(char *path, size_t path_size, size_t index) {
        snprintf(path, path_size, "depends_on[%zu]", index);
        return path;
}

/* "labels.team" for a key that is itself sound; "labels{key 1}" for the key at position 1 otherwise. */
static const char *label_path(char *path, size_t path_size, const char *key, size_t index, bool key_is_sound) {
        if (key_is_sound)
                snprintf(path, path_size, "labels.%.*s", (int)bl_text_utf8_prefix(key, strlen(key), PATH_KEY_MAX_BYTES),
                         key);
        else
                snprintf(path, path_size, "labels{key %zu}", index);
        return path;
}

static bool check_labels(const bl_task_event_t *event, const bl_contract_rules_t *rules, bl_record_error_t *error) {
        char path[PATH_KEY_MAX_BYTES + 16];
        if (event->label_count > rules->labels_max)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "labels: %zu entries, the limit is %zu",
                                           event->label_count, rules->labels_max);
        for (size_t i = 0; i < event->label_count; i++) {
                const char *key = event->label_keys[i];
                if (!strncmp(key, BL_RESERVED_LABEL_PREFIX, strlen(BL_RESERVED_LABEL_PREFIX)))
                        return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION,
                                                   "%s: the prefix \"" BL_RESERVED_LABEL_PREFIX
                                                   "\" is reserved for backlogd's own marks (an agent's hold or "
                                                   "escalation)",
                                                   label_path(path, sizeof(path), key, i, true));
                if (!check_text(label_path(path, sizeof(path), key, i, false), key, true, rules->label_max_bytes,
                                error) ||
                    !check_text(label_path(path, sizeof(path), key, i, true), event->label_values[i], false,
                                rules->label_max_bytes, error))
                        return false;
        }
        return true;
}

static bool check_collections(const bl_task_event_t *event, const bl_contract_rules_t *rules,
                              bl_record_error_t *error) {
        char path[48];
        if (event->depends_on_count > rules->depends_on_max)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "depends_on: %zu entries, the limit is %zu",
                                           event->depends_on_count, rules->depends_on_max);
        for (size_t i = 0; i < event->depends_on_count; i++) {
                if (!check_id(entry_path(path, sizeof(path), i), event->depends_on[i], true, rules->id_max_bytes,
                              error))
                        return false;
                if (!strcmp(event->depends_on[i], event->task_id))
                        return violation(error, path, "a task cannot depend on itself");
        }
        if (!check_labels(event, rules, error))
                return false;
        if (event->has_payload && event->payload_size > rules->payload_max_bytes)
                return bl_record_error_set(error, BL_REASON_CONTRACT_VIOLATION, "payload: %zu bytes, the limit is %zu",
                                           event->payload_size, rules->payload_max_bytes);
        return true;
}

/* SUBMITTED requires what scheduling needs; UPDATED may carry any of it. */
static bool check_task_fields(const bl_task_event_t *event, const bl_contract_rules_t *rules, bool required,
                              bl_record_error_t *error) {
        if (!check_id("task_type", event->task_type, required, rules->id_max_bytes, error) ||
            !check_id("domain", event->domain, required, rules->id_max_bytes, error))
                return false;
        if (event->domain && !known_domain(event->domain, rules))
                return violation(error, "domain", "is not one of the configured domains");
        if (!check_unit_interval("business_value", event->has_business_value, event->business_value, required,
                                 error) ||
            !check_unit_interval("risk", event->has_risk, event->risk, required, error))
                return false;
        if (event->has_max_attempts && (event->max_attempts < 1 || event->max_attempts > MAX_ATTEMPTS_LIMIT))
                return violation(error, "max_attempts", "must be 1 to 1000");
        return check_times(event, error);
}

/*
 * The longest dispatch_id a worker may echo: backlogd makes it from a
 * task_id of up to id_max_bytes, a '/' and the attempt (up to 11 digits).
 */
static size_t dispatch_id_max(const bl_contract_rules_t *rules) {
        return rules->id_max_bytes + 12;
}

static bool check_result_fields(const bl_task_event_t *event, const bl_contract_rules_t *rules,
                                bl_record_error_t *error) {
        if (!event->has_attempt)
                return violation(error, "attempt", "required in a result");
        if (event->attempt < 1)
                return violation(error, "attempt", "must be 1 or more");
        if (!check_id("dispatch_id", event->dispatch_id, true, dispatch_id_max(rules), error))
                return false;
        if (event->event_type == BL_EVENT_FAILED && !event->has_error)
                return violation(error, "error", "required in a FAILED result");
        if (event->has_error && (!check_id("error.code", event->error_code, true, rules->id_max_bytes, error) ||
                                 !check_text("error.message", event->error_message, false, rules->text_max_bytes,
                                             error)))
                return false;
        return true;
}

/* The bounds of every field an event may carry, for every type: the types' own rules only read some. */
static bool check_sizes(const bl_task_event_t *event, const bl_contract_rules_t *rules, bl_record_error_t *error) {
        return check_id("task_type", event->task_type, false, rules->id_max_bytes, error) &&
               check_id("domain", event->domain, false, rules->id_max_bytes, error) &&
               check_id("dispatch_id", event->dispatch_id, false, dispatch_id_max(rules), error) &&
               check_id("error.code", event->error_code, false, rules->id_max_bytes, error) &&
               check_text("error.message", event->error_message, false, rules->text_max_bytes, error) &&
               check_collections(event, rules, error);
}

bool bl_validate_task_event(const bl_task_event_t *event, const bl_contract_rules_t *rules,
                            bl_record_error_t *error) {
        bool type_rules_hold;
        if (!check_id("event_id", event->event_id, true, rules->id_max_bytes, error) ||
            !check_id("task_id", event->task_id, true, rules->id_max_bytes, error) ||
            !check_id("producer", event->producer, true, rules->id_max_bytes, error) ||
            !check_id("tenant", event->tenant, false, rules->id_max_bytes, error) ||
            !check_id("sla_class", event->sla_class, false, rules->id_max_bytes, error) ||
            !check_id("actor", event->actor, false, BL_ACTOR_MAX_BYTES, error) ||
            !check_text("reason", event->reason, false, BL_REASON_MAX_BYTES, error))
                return false;
        if (event->occurred_at_ms < 0)
                return violation(error, "occurred_at", "is before 1970");
        switch (event->event_type) {
        case BL_EVENT_SUBMITTED: type_rules_hold = check_task_fields(event, rules, true, error); break;
        case BL_EVENT_UPDATED: type_rules_hold = check_task_fields(event, rules, false, error); break;
        case BL_EVENT_CANCELLED:
        case BL_EVENT_APPROVED:
        case BL_EVENT_REJECTED: type_rules_hold = true; break;
        default: type_rules_hold = check_result_fields(event, rules, error); break;
        }
        return type_rules_hold && check_sizes(event, rules, error);
}
