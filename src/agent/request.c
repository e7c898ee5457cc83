/*
 * request.c: a consultation encoded as the request schema's JSON
 * (request.h). Every member the schema requires is written, times unset as
 * null, and the context's unknown numbers (negative) are left out, so that
 * an agent tells "unknown" from "zero". Payloads go base64, and only for an
 * agent with send_payload. The encoder is the one place that knows the
 * request's members; tests/unit/test_agent_request.c pins its output and
 * tests/cli/test_agent_schemas.py validates that output against the schema.
 *
 * Any thread; no state outside the call.
 */
#include "agent/request.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/item.h" /* BL_NO_TIME */

bool bl_agent_consultation_id_ok(const char *id) {
        size_t length = id ? strlen(id) : 0;
        if (length < 1 || length > BL_AGENT_CONSULTATION_ID_MAX)
                return false;
        for (const char *p = id; *p; p++)
                if (*p < '!' || *p > '~')
                        return false;
        return true;
}

static json_t *finite_real(double value) {
        return json_real(isfinite(value) ? value : 0.0);
}

static json_t *time_or_null(int64_t ms) {
        return ms == BL_NO_TIME ? json_null() : json_integer(ms);
}

static json_t *string_or_null(const char *text) {
        return text ? json_string(text) : json_null();
}

/* Standard base64 with padding (RFC 4648 §4), NUL-terminated; NULL when out of memory. */
static char *base64_of(const unsigned char *bytes, size_t size) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc(4 * ((size + 2) / 3) + 1), *w = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < size; i += 3) {
                uint32_t chunk = (uint32_t)bytes[i] << 16;
                if (i + 1 < size)
                        chunk |= (uint32_t)bytes[i + 1] << 8;
                if (i + 2 < size)
                        chunk |= bytes[i + 2];
                *w++ = alphabet[(chunk >> 18) & 63];
                *w++ = alphabet[(chunk >> 12) & 63];
                *w++ = i + 1 < size ? alphabet[(chunk >> 6) & 63] : '=';
                *w++ = i + 2 < size ? alphabet[chunk & 63] : '=';
        }
        *w = '\0';
        return out;
}

static json_t *encode_rationale(const bl_criterion_t *rationale) {
        json_t *array = json_array();
        for (size_t i = 0; rationale && array && i < BL_POLICY_CRITERIA; i++)
                json_array_append_new(array, json_pack("{s:s, s:o, s:o, s:o, s:o}", "criterion",
                                                       rationale[i].name ? rationale[i].name : "?", "raw",
                                                       finite_real(rationale[i].raw), "normalised",
                                                       finite_real(rationale[i].normalised), "weight",
                                                       finite_real(rationale[i].weight), "contribution",
                                                       finite_real(rationale[i].contribution)));
        return array;
}

static json_t *encode_labels(const bl_agent_candidate_t *candidate) {
        json_t *labels = json_object();
        const char *key = NULL, *value;
        while (labels && candidate->labels && (key = bl_labels_next(candidate->labels, key, &value)))
                json_object_set_new(labels, key, json_string(value));
        return labels;
}

/* One candidate; NULL when out of memory. */
static json_t *encode_candidate(const bl_agent_candidate_t *candidate, bool send_payload) {
        json_t *object = json_object();
        if (!object)
                return NULL;
        json_object_set_new(object, "task_id", json_string(candidate->task_id));
        json_object_set_new(object, "attempt", json_integer(candidate->attempt < 1 ? 1 : candidate->attempt));
        json_object_set_new(object, "max_attempts",
                            json_integer(candidate->max_attempts < 1 ? 1 : candidate->max_attempts));
        json_object_set_new(object, "task_type", string_or_null(candidate->task_type));
        json_object_set_new(object, "tenant", string_or_null(candidate->tenant));
        json_object_set_new(object, "business_value", finite_real(candidate->business_value));
        json_object_set_new(object, "risk", finite_real(candidate->risk));
        json_object_set_new(object, "deadline_ms", time_or_null(candidate->deadline_ms));
        json_object_set_new(object, "data_ready_at_ms", time_or_null(candidate->data_ready_at_ms));
        json_object_set_new(object, "ready_since_ms", time_or_null(candidate->ready_since_ms));
        json_object_set_new(object, "labels", encode_labels(candidate));
        json_object_set_new(object, "score", finite_real(candidate->score));
        json_object_set_new(object, "policy", string_or_null(candidate->policy_label));
        json_object_set_new(object, "rationale", encode_rationale(candidate->rationale));
        if (send_payload && candidate->payload) {
                char *text = base64_of(candidate->payload, candidate->payload_size);
                if (!text) {
                        json_decref(object);
                        return NULL;
                }
                json_object_set_new(object, "payload_base64", json_string(text));
                free(text);
        }
        return object;
}

static json_t *encode_context(const bl_agent_context_t *context) {
        json_t *object = json_object();
        if (!object)
                return NULL;
        if (context->credit >= 0)
                json_object_set_new(object, "credit", json_integer(context->credit));
        if (context->lag >= 0)
                json_object_set_new(object, "lag", json_integer(context->lag));
        json_object_set_new(object, "throttled", json_boolean(context->throttled));
        if (context->breaker)
                json_object_set_new(object, "breaker", json_string(context->breaker));
        if (context->ready >= 0)
                json_object_set_new(object, "ready", json_integer(context->ready));
        if (context->in_flight >= 0)
                json_object_set_new(object, "in_flight", json_integer(context->in_flight));
        if (context->throughput_per_s >= 0 && isfinite(context->throughput_per_s))
                json_object_set_new(object, "throughput_per_s", json_real(context->throughput_per_s));
        if (context->drain_ms >= 0)
                json_object_set_new(object, "drain_ms", json_integer(context->drain_ms));
        if (context->recent_failure_rate >= 0 && context->recent_failure_rate <= 1)
                json_object_set_new(object, "recent_failure_rate", json_real(context->recent_failure_rate));
        return object;
}

static json_t *encode_limits(const bl_agent_policy_t *agent) {
        return json_pack("{s:I, s:I, s:f, s:I, s:I}", "timeout_ms", (json_int_t)agent->timeout_ms, "hold_max_ms",
                         (json_int_t)agent->hold_max_ms, "max_held_share", agent->max_held_share,
                         "deadline_margin_ms", (json_int_t)agent->deadline_margin_ms, "max_response_bytes",
                         (json_int_t)agent->max_response_bytes);
}

static bl_err_t check_request(const bl_agent_request_t *request, const bl_agent_policy_t *agent, char *errstr,
                              size_t errstr_size) {
        if (!bl_agent_consultation_id_ok(request->consultation_id))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "a consultation id is 1 to %d printable ASCII characters without spaces",
                                  BL_AGENT_CONSULTATION_ID_MAX);
        if (!request->domain || !*request->domain)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "a consultation needs its domain");
        if (request->candidate_count > (size_t)agent->max_candidates ||
            request->candidate_count > BL_AGENT_CANDIDATES_MAX)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "%zu candidates: the agent takes at most %d", request->candidate_count,
                                  (int)agent->max_candidates);
        for (size_t i = 0; i < request->candidate_count; i++)
                if (!request->candidates[i].task_id || !*request->candidates[i].task_id)
                        return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "candidate %zu has no task_id",
                                          i);
        return BL_OK;
}

bl_err_t bl_agent_request_encode(const bl_agent_request_t *request, const bl_agent_policy_t *agent, char **body,
                                 size_t *length, char *errstr, size_t errstr_size) {
        *body = NULL;
        bl_err_t err = check_request(request, agent, errstr, errstr_size);
        if (err != BL_OK)
                return err;
        json_t *candidates = json_array();
        json_t *root = json_object();
        bool whole = candidates && root;
        for (size_t i = 0; whole && i < request->candidate_count; i++) {
                json_t *candidate = encode_candidate(&request->candidates[i], agent->send_payload);
                whole = candidate && json_array_append_new(candidates, candidate) == 0;
        }
        if (whole) {
                json_object_set_new(root, "schema", json_string(BL_AGENT_REQUEST_SCHEMA));
                json_object_set_new(root, "consultation_id", json_string(request->consultation_id));
                json_object_set_new(root, "domain", json_string(request->domain));
                json_object_set_new(root, "sent_at_ms", json_integer(request->now_ms));
                json_object_set_new(root, "limits", encode_limits(agent));
                json_object_set_new(root, "context", encode_context(&request->context));
                json_object_set_new(root, "candidates", candidates);
                candidates = NULL;
                *body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        }
        json_decref(candidates);
        json_decref(root);
        if (!*body)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory encoding a consultation");
        *length = strlen(*body);
        return BL_OK;
}
