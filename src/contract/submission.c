/*
 * submission.c: a task's submission as a TaskEvent document, for the DLQ.
 *
 * A task given up by the backlog (retries.exhausted, deadline.expired,
 * dependency_failed, processing.failed) goes to backlog.dlq as what was
 * submitted: a SUBMITTED TaskEvent built from the item, which the pipeline
 * then encodes with the newest TaskEvent schema, so that a redrive publishes
 * it as any producer's event, without the labels backlogd set itself. The original event_id is kept while the item
 * still remembers it; the payload goes base64 in the JSON form the encoder
 * reads ({"base64": ...}). Pure: no Kafka; any thread, one item at a time.
 */
#include "contract/submission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Labels backlogd sets on a task itself (agents' marks, remediation): never in a submission, which a
 * redrive publishes as a producer's event and the contract refuses with them (contract/validate.c). */
#define RESERVED_LABEL_PREFIX "backlogd."

static json_t *strvec_json(const bl_strvec_t *vec) {
        json_t *array = json_array();
        for (size_t i = 0; i < vec->count; i++)
                json_array_append_new(array, json_string(vec->items[i]));
        return array;
}

static void set_time(json_t *event, const char *name, int64_t ms) {
        if (ms != BL_NO_TIME)
                json_object_set_new(event, name, json_integer(ms));
}

static char *base64(const void *data, size_t size) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *bytes = data;
        char *out = malloc((size + 2) / 3 * 4 + 1), *at = out;
        for (size_t i = 0; out && i < size; i += 3) {
                unsigned value = (unsigned)bytes[i] << 16 | (i + 1 < size ? (unsigned)bytes[i + 1] << 8 : 0) |
                                 (i + 2 < size ? bytes[i + 2] : 0);
                *at++ = alphabet[value >> 18 & 63];
                *at++ = alphabet[value >> 12 & 63];
                *at++ = i + 1 < size ? alphabet[value >> 6 & 63] : '=';
                *at++ = i + 2 < size ? alphabet[value & 63] : '=';
        }
        if (out)
                *at = '\0';
        return out;
}

json_t *bl_submission_json(const bl_item_t *item) {
        const bl_item_cold_t *cold = bl_item_cold(item);
        const char *first_event_id = bl_item_event_next(item, NULL);
        const char *event_id = first_event_id ? first_event_id : item->task_id;
        json_t *labels = json_object();
        json_t *event = json_pack(
                "{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:f, s:f, s:o, s:s}", "event_id", event_id, "task_id",
                item->task_id, "event_type", "SUBMITTED", "occurred_at", (json_int_t)item->submitted_at_ms, "producer",
                "backlogd", "task_type", item->kind->task_type ? item->kind->task_type : "", "domain",
                item->kind->domain ? item->kind->domain : "", "business_value", item->business_value, "risk",
                item->risk, "depends_on", strvec_json(&cold->depends_on), "sla_class", item->kind->sla_class);
        set_time(event, "deadline", item->deadline_ms);
        set_time(event, "not_before", item->not_before_ms);
        set_time(event, "data_ready_at", item->data_ready_at_ms);
        if (item->max_attempts > 0)
                json_object_set_new(event, "max_attempts", json_integer(item->max_attempts));
        if (item->kind->tenant)
                json_object_set_new(event, "tenant", json_string(item->kind->tenant));
        const char *value;
        for (const char *key = bl_labels_next(&cold->labels, NULL, &value); key;
             key = bl_labels_next(&cold->labels, key, &value))
                if (strncmp(key, RESERVED_LABEL_PREFIX, strlen(RESERVED_LABEL_PREFIX)))
                        json_object_set_new(labels, key, json_string(value)); /* backlogd's own marks stay out */
        json_object_set_new(event, "labels", labels);
        if (item->has_payload) {
                char *encoded = base64(item->payload, item->payload_size);
                json_object_set_new(event, "payload", json_pack("{s:s}", "base64", encoded ? encoded : ""));
                free(encoded);
        }
        return event;
}
