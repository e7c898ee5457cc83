/*
 * answer.c: the strict decoder of an agent's response (answer.h).
 *
 * The checks are the schema's, one for one: the members it names and no
 * other (additionalProperties false), their types, the patterns of the
 * consultation id and of the agent's name and version, the lengths of task
 * ids and reasons in characters (code points, as JSON Schema counts them,
 * not bytes), the bounds of hold_ms (an integer: 5.0 is one, as JSON Schema
 * says, 5.5 is not) and the most entries of each list. Beyond the schema:
 * the consultation id must be the request's. tests/fixtures/agent/response
 * holds documents that the schema accepts and refuses; the unit test
 * decodes them and tests/cli/test_agent_schemas.py validates them, so the
 * decoder and the schema are held to the same verdicts.
 *
 * An answer is parsed whole (bounded by the client's max_response_bytes
 * before it gets here) and copied out of jansson, so nothing of the parse
 * outlives the call. Any thread.
 */
#include "agent/answer.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct decoder_s {
        char *errstr;
        size_t errstr_size;
        bl_err_t err; /* the first problem's; BL_OK while none */
} decoder_t;

static bool fail(decoder_t *decoder, bl_err_t err, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static bool fail(decoder_t *decoder, bl_err_t err, const char *path, const char *fmt, ...) {
        char reason[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (decoder->err == BL_OK)
                decoder->err = bl_err_set(decoder->errstr, decoder->errstr_size, err, "%s%s%s", path,
                                          *path ? ": " : "", reason);
        return false;
}

static const char *type_name(const json_t *value) {
        switch (json_typeof(value)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        default: return "null";
        }
}

/* Characters as JSON Schema counts them: code points of the (valid, jansson-checked) UTF-8. */
static size_t code_points(const char *text, size_t bytes) {
        size_t count = 0;
        for (size_t i = 0; i < bytes; i++)
                count += ((unsigned char)text[i] & 0xC0) != 0x80;
        return count;
}

/* ---- the schema's rules --------------------------------------------------------------- */

/* Only the @p allowed members: the schema's additionalProperties false. */
static bool only_members(decoder_t *decoder, const char *path, const json_t *object, const char *const *allowed,
                         size_t allowed_count) {
        const char *member;
        const json_t *value;
        json_object_foreach((json_t *)object, member, value) {
                size_t i;
                for (i = 0; i < allowed_count && strcmp(member, allowed[i]); i++)
                        ;
                if (i == allowed_count)
                        return fail(decoder, BL_ERR_MISMATCH, path, "unknown member \"%.40s\"", member);
        }
        return true;
}

static const json_t *member_of(decoder_t *decoder, const char *path, const json_t *object, const char *name,
                               bool required) {
        const json_t *value = json_object_get(object, name);
        if (!value && required)
                fail(decoder, BL_ERR_MISMATCH, path, "missing \"%s\"", name);
        return value;
}

typedef enum { TEXT_ANY, TEXT_LABEL, TEXT_PRINTABLE_ASCII, TEXT_NO_CONTROL } text_rule_t;

static bool char_ok(unsigned char c, text_rule_t rule) {
        switch (rule) {
        case TEXT_LABEL: return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '.' || c == '_' || c == '-';
        case TEXT_PRINTABLE_ASCII: return c >= '!' && c <= '~';
        case TEXT_NO_CONTROL: return c >= 0x20 && c != 0x7f;
        default: return true;
        }
}

/* A string of @p min to @p max characters under @p rule, copied into *out. */
static bool read_text(decoder_t *decoder, const char *path, const json_t *value, size_t min, size_t max,
                      text_rule_t rule, char **out) {
        if (!json_is_string(value))
                return fail(decoder, BL_ERR_MISMATCH, path, "expected a string, got %s", type_name(value));
        const char *text = json_string_value(value);
        size_t bytes = json_string_length(value), length = code_points(text, bytes);
        if (length < min || length > max)
                return fail(decoder, BL_ERR_MISMATCH, path, "%zu characters, expected %zu to %zu", length, min,
                            max);
        for (size_t i = 0; i < bytes; i++)
                if (!char_ok((unsigned char)text[i], rule))
                        return fail(decoder, BL_ERR_MISMATCH, path, "character %zu is not allowed here", i + 1);
        if (!(*out = strdup(text)))
                return fail(decoder, BL_ERR_NOMEM, path, "out of memory");
        return true;
}

/* An integer in [min, max]: JSON Schema's "integer" takes 5.0 as well as 5. */
static bool read_integer(decoder_t *decoder, const char *path, const json_t *value, int64_t min, int64_t max,
                         int64_t *out) {
        double number;
        if (json_is_integer(value))
                number = (double)json_integer_value(value);
        else if (json_is_real(value) && json_real_value(value) == floor(json_real_value(value)))
                number = json_real_value(value);
        else
                return fail(decoder, BL_ERR_MISMATCH, path, "expected an integer, got %s", type_name(value));
        if (number < (double)min || number > (double)max)
                return fail(decoder, BL_ERR_MISMATCH, path, "%.0f is out of [%lld, %lld]", number, (long long)min,
                            (long long)max);
        *out = (int64_t)number;
        return true;
}

/* An optional list of at most BL_AGENT_ENTRIES_MAX objects; *count its length (0 when absent). */
static const json_t *read_list(decoder_t *decoder, const json_t *root, const char *name, size_t *count) {
        const json_t *list = json_object_get(root, name);
        *count = 0;
        if (!list)
                return NULL;
        if (!json_is_array(list)) {
                fail(decoder, BL_ERR_MISMATCH, name, "expected an array, got %s", type_name(list));
                return NULL;
        }
        if (json_array_size(list) > BL_AGENT_ENTRIES_MAX) {
                fail(decoder, BL_ERR_MISMATCH, name, "%zu entries, at most %d", json_array_size(list),
                     BL_AGENT_ENTRIES_MAX);
                return NULL;
        }
        *count = json_array_size(list);
        return list;
}

/* ---- the parts --------------------------------------------------------------------------- */

/* One entry of order, holds or escalations: its task_id, its reason (required or not), hold_ms for a hold. */
static bool read_entry(decoder_t *decoder, const char *list_name, size_t index, const json_t *entry,
                       bool reason_required, int64_t *hold_ms, char **task_id, char **reason) {
        static const char *const pick_members[] = {"task_id", "reason"};
        static const char *const hold_members[] = {"task_id", "hold_ms", "reason"};
        char path[96], member_path[128];
        snprintf(path, sizeof(path), "%s[%zu]", list_name, index);
        if (!json_is_object(entry))
                return fail(decoder, BL_ERR_MISMATCH, path, "expected an object, got %s", type_name(entry));
        if (!only_members(decoder, path, entry, hold_ms ? hold_members : pick_members, hold_ms ? 3 : 2))
                return false;
        const json_t *id = member_of(decoder, path, entry, "task_id", true);
        const json_t *why = member_of(decoder, path, entry, "reason", reason_required);
        const json_t *duration = hold_ms ? member_of(decoder, path, entry, "hold_ms", true) : NULL;
        if (!id || (reason_required && !why) || (hold_ms && !duration))
                return false;
        snprintf(member_path, sizeof(member_path), "%s.task_id", path);
        if (!read_text(decoder, member_path, id, 1, BL_AGENT_TASK_ID_MAX, TEXT_NO_CONTROL, task_id))
                return false;
        snprintf(member_path, sizeof(member_path), "%s.reason", path);
        if (why) {
                if (!read_text(decoder, member_path, why, 0, BL_AGENT_REASON_MAX, TEXT_ANY, reason))
                        return false;
        } else if (!(*reason = strdup(""))) {
                return fail(decoder, BL_ERR_NOMEM, path, "out of memory");
        }
        snprintf(member_path, sizeof(member_path), "%s.hold_ms", path);
        return !hold_ms || read_integer(decoder, member_path, duration, 1, BL_AGENT_HOLD_MS_MAX, hold_ms);
}

static bool read_order(decoder_t *decoder, const json_t *root, bl_agent_answer_t *answer) {
        size_t count;
        const json_t *list = read_list(decoder, root, "order", &count);
        if (decoder->err || !count)
                return decoder->err == BL_OK;
        if (!(answer->order = calloc(count, sizeof(*answer->order))))
                return fail(decoder, BL_ERR_NOMEM, "order", "out of memory");
        for (; answer->order_count < count; answer->order_count++) {
                bl_agent_pick_t *pick = &answer->order[answer->order_count];
                if (!read_entry(decoder, "order", answer->order_count, json_array_get(list, answer->order_count),
                                false, NULL, &pick->task_id, &pick->reason)) {
                        answer->order_count++; /* what it copied is freed with the rest */
                        return false;
                }
        }
        return true;
}

static bool read_holds(decoder_t *decoder, const json_t *root, bl_agent_answer_t *answer) {
        size_t count;
        const json_t *list = read_list(decoder, root, "holds", &count);
        if (decoder->err || !count)
                return decoder->err == BL_OK;
        if (!(answer->holds = calloc(count, sizeof(*answer->holds))))
                return fail(decoder, BL_ERR_NOMEM, "holds", "out of memory");
        for (; answer->hold_count < count; answer->hold_count++) {
                bl_agent_hold_t *hold = &answer->holds[answer->hold_count];
                if (!read_entry(decoder, "holds", answer->hold_count, json_array_get(list, answer->hold_count), true,
                                &hold->hold_ms, &hold->task_id, &hold->reason)) {
                        answer->hold_count++;
                        return false;
                }
        }
        return true;
}

static bool read_escalations(decoder_t *decoder, const json_t *root, bl_agent_answer_t *answer) {
        size_t count;
        const json_t *list = read_list(decoder, root, "escalations", &count);
        if (decoder->err || !count)
                return decoder->err == BL_OK;
        if (!(answer->escalations = calloc(count, sizeof(*answer->escalations))))
                return fail(decoder, BL_ERR_NOMEM, "escalations", "out of memory");
        for (; answer->escalation_count < count; answer->escalation_count++) {
                bl_agent_escalation_t *escalation = &answer->escalations[answer->escalation_count];
                if (!read_entry(decoder, "escalations", answer->escalation_count,
                                json_array_get(list, answer->escalation_count), true, NULL, &escalation->task_id,
                                &escalation->reason)) {
                        answer->escalation_count++;
                        return false;
                }
        }
        return true;
}

static bool read_agent(decoder_t *decoder, const json_t *root, bl_agent_answer_t *answer) {
        static const char *const members[] = {"name", "version"};
        const json_t *agent = member_of(decoder, "", root, "agent", true);
        if (!agent)
                return false;
        if (!json_is_object(agent))
                return fail(decoder, BL_ERR_MISMATCH, "agent", "expected an object, got %s", type_name(agent));
        if (!only_members(decoder, "agent", agent, members, 2))
                return false;
        const json_t *name = member_of(decoder, "agent", agent, "name", true);
        const json_t *version = member_of(decoder, "agent", agent, "version", true);
        if (!name || !version ||
            !read_text(decoder, "agent.name", name, 1, BL_AGENT_NAME_MAX, TEXT_LABEL, &answer->agent_name) ||
            !read_text(decoder, "agent.version", version, 1, BL_AGENT_VERSION_MAX, TEXT_LABEL,
                       &answer->agent_version))
                return false;
        size_t size = strlen(answer->agent_name) + strlen(answer->agent_version) + 2;
        if (!(answer->label = malloc(size)))
                return fail(decoder, BL_ERR_NOMEM, "agent", "out of memory");
        snprintf(answer->label, size, "%s@%s", answer->agent_name, answer->agent_version);
        return true;
}

static bool read_header(decoder_t *decoder, const json_t *root, const char *consultation_id) {
        static const char *const members[] = {"schema", "consultation_id", "agent", "order", "holds", "escalations"};
        if (!json_is_object(root))
                return fail(decoder, BL_ERR_MISMATCH, "", "expected one JSON object, got %s", type_name(root));
        if (!only_members(decoder, "", root, members, sizeof(members) / sizeof(members[0])))
                return false;
        const json_t *schema = member_of(decoder, "", root, "schema", true);
        const json_t *id = member_of(decoder, "", root, "consultation_id", true);
        if (!schema || !id)
                return false;
        if (!json_is_string(schema) || strcmp(json_string_value(schema), BL_AGENT_RESPONSE_SCHEMA))
                return fail(decoder, BL_ERR_MISMATCH, "schema", "expected \"%s\"", BL_AGENT_RESPONSE_SCHEMA);
        char *copy = NULL;
        if (!read_text(decoder, "consultation_id", id, 1, 128, TEXT_PRINTABLE_ASCII, &copy))
                return false;
        bool same = !consultation_id || !strcmp(copy, consultation_id);
        free(copy);
        if (!same)
                return fail(decoder, BL_ERR_MISMATCH, "consultation_id", "the answer to another consultation");
        return true;
}

bl_err_t bl_agent_answer_decode(const char *body, size_t length, const char *consultation_id,
                                bl_agent_answer_t *answer, char *errstr, size_t errstr_size) {
        decoder_t decoder = {errstr, errstr_size, BL_OK};
        json_error_t error;
        memset(answer, 0, sizeof(*answer));
        json_t *root = json_loadb(body, length, JSON_REJECT_DUPLICATES, &error);
        if (!root) /* jansson's text may quote the body: position and kind only */
                return bl_err_set(errstr, errstr_size, BL_ERR_REFUSED, "not JSON: line %d, column %d", error.line,
                                  error.column);
        bool ok = read_header(&decoder, root, consultation_id) && read_agent(&decoder, root, answer) &&
                  read_order(&decoder, root, answer) && read_holds(&decoder, root, answer) &&
                  read_escalations(&decoder, root, answer);
        json_decref(root);
        if (!ok)
                bl_agent_answer_clear(answer);
        return ok ? BL_OK : decoder.err;
}
