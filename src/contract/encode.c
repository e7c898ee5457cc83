/*
 * encode.c: JSON -> Avro generic value -> wire-format bytes.
 *
 * The walk follows the avro-c value (which knows the layout) and the schema's
 * JSON side by side (which knows defaults and logical types that avro-c drops).
 * Named types referenced by name ("TaskState" after its first definition)
 * are looked up in a table of every named type of the schema, collected
 * before the walk. The schema's reusable value is filled and written; the
 * schema cache must therefore not be decoding on another thread meanwhile
 * (one cache per thread, as everywhere). Errors carry the field path.
 */
#include "contract/encode.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract/wire.h"

#define PATH_MAX_BYTES 256

typedef struct encoder_s {
        json_t *named;   /* name and fullname -> the type's JSON definition */
        char path[PATH_MAX_BYTES];
        char *errstr;
        size_t errstr_size;
} encoder_t;

static bool fill(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value);

static bool fail(encoder_t *enc, const char *what) {
        bl_err_set(enc->errstr, enc->errstr_size, BL_ERR_INVALID_ARG, "%s: %s", *enc->path ? enc->path : "(document)",
                   what);
        return false;
}

/* ---- named types -------------------------------------------------------- */

static void collect_named(json_t *named, const json_t *type, const char *namespace_) {
        if (json_is_array(type)) {
                for (size_t i = 0; i < json_array_size(type); i++)
                        collect_named(named, json_array_get(type, i), namespace_);
                return;
        }
        if (!json_is_object(type))
                return;
        const char *name = json_string_value(json_object_get(type, "name"));
        const char *ns = json_string_value(json_object_get(type, "namespace"));
        if (name) {
                char fullname[512];
                const char *effective_ns = strchr(name, '.') ? NULL : ns ? ns : namespace_;
                snprintf(fullname, sizeof(fullname), "%s%s%s", effective_ns ? effective_ns : "",
                         effective_ns && *effective_ns ? "." : "", name);
                json_object_set(named, fullname, (json_t *)type);
                json_object_set(named, strrchr(fullname, '.') ? strrchr(fullname, '.') + 1 : fullname, (json_t *)type);
                namespace_ = effective_ns ? effective_ns : namespace_;
        }
        const json_t *fields = json_object_get(type, "fields");
        for (size_t i = 0; i < json_array_size(fields); i++)
                collect_named(named, json_object_get(json_array_get(fields, i), "type"), namespace_);
        collect_named(named, json_object_get(type, "items"), namespace_);
        collect_named(named, json_object_get(type, "values"), namespace_);
}

/* A type as written in the schema, with references replaced by their definition. */
static const json_t *resolve(encoder_t *enc, const json_t *type) {
        const json_t *definition = json_is_string(type) ? json_object_get(enc->named, json_string_value(type)) : NULL;
        return definition ? definition : type;
}

static bool is_timestamp_millis(const json_t *type) {
        return json_is_object(type) && !strcmp(json_string_value(json_object_get(type, "logicalType")) ?: "",
                                               "timestamp-millis");
}

/* ---- RFC 3339 ----------------------------------------------------------- */

static bool read_digits(const char **p, int count, int *out) {
        *out = 0;
        for (int i = 0; i < count; i++, (*p)++) {
                if (!isdigit((unsigned char)**p))
                        return false;
                *out = *out * 10 + (**p - '0');
        }
        return true;
}

bool bl_encode_parse_rfc3339(const char *text, int64_t *ms) {
        struct tm tm = {0};
        int year, month, day, hour, minute, second, offset_hours = 0, offset_minutes = 0;
        int64_t millis = 0, sign = 0;
        const char *p = text;
        if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) || *p++ != '-' ||
            !read_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' ') || !++p ||
            !read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute) || *p++ != ':' ||
            !read_digits(&p, 2, &second))
                return false;
        if (*p == '.') {
                int scale = 100;
                for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
                        millis += (*p - '0') * scale;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                sign = *p++ == '-' ? -1 : 1;
                if (!read_digits(&p, 2, &offset_hours) || *p++ != ':' || !read_digits(&p, 2, &offset_minutes))
                        return false;
        } else {
                return false;
        }
        if (*p || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
                return false;
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_min = minute;
        tm.tm_sec = second;
        *ms = (int64_t)timegm(&tm) * 1000 + millis - sign * (offset_hours * 3600 + offset_minutes * 60) * 1000;
        return true;
}

/* ---- the walk ----------------------------------------------------------- */

static bool fill_bytes(encoder_t *enc, avro_value_t *dst, const json_t *value) {
        const char *text = json_string_value(value);
        if (text)
                return avro_value_set_bytes(dst, (void *)text, json_string_length(value)) == 0 || fail(enc, "out of memory");
        const char *base64 = json_string_value(json_object_get(value, "base64"));
        if (!base64)
                return fail(enc, "expected a string or {\"base64\": \"...\"}");
        size_t len = strlen(base64), size = 0;
        unsigned char *bytes = malloc(len / 4 * 3 + 3);
        unsigned int accumulator = 0, bits = 0;
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (size_t i = 0; bytes && i < len && base64[i] != '='; i++) {
                const char *at = strchr(alphabet, base64[i]);
                if (!at) {
                        free(bytes);
                        return fail(enc, "invalid base64");
                }
                accumulator = accumulator << 6 | (unsigned)(at - alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        bytes[size++] = (unsigned char)(accumulator >> bits);
                }
        }
        bool ok = bytes && avro_value_set_bytes(dst, bytes, size) == 0;
        free(bytes);
        return ok || fail(enc, "out of memory");
}

static bool fill_long(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        int64_t ms;
        if (json_is_integer(value))
                return avro_value_set_long(dst, json_integer_value(value)) == 0;
        if (json_is_string(value) && is_timestamp_millis(type)) {
                if (!bl_encode_parse_rfc3339(json_string_value(value), &ms))
                        return fail(enc, "expected milliseconds or an RFC 3339 timestamp");
                return avro_value_set_long(dst, ms) == 0;
        }
        return fail(enc, is_timestamp_millis(type) ? "expected milliseconds or an RFC 3339 timestamp"
                                                   : "expected an integer");
}

static bool fill_scalar(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        switch (avro_value_get_type(dst)) {
        case AVRO_NULL: return json_is_null(value) ? avro_value_set_null(dst) == 0 : fail(enc, "expected null");
        case AVRO_BOOLEAN:
                return json_is_boolean(value) ? avro_value_set_boolean(dst, json_is_true(value)) == 0
                                              : fail(enc, "expected true or false");
        case AVRO_INT32:
                if (!json_is_integer(value) || json_integer_value(value) < INT32_MIN ||
                    json_integer_value(value) > INT32_MAX)
                        return fail(enc, "expected an integer that fits 32 bits");
                return avro_value_set_int(dst, (int32_t)json_integer_value(value)) == 0;
        case AVRO_INT64: return fill_long(enc, dst, type, value);
        case AVRO_FLOAT:
                return json_is_number(value) ? avro_value_set_float(dst, (float)json_number_value(value)) == 0
                                             : fail(enc, "expected a number");
        case AVRO_DOUBLE:
                return json_is_number(value) ? avro_value_set_double(dst, json_number_value(value)) == 0
                                             : fail(enc, "expected a number");
        case AVRO_STRING:
                if (!json_is_string(value))
                        return fail(enc, "expected a string");
                return avro_value_set_string_len(dst, json_string_value(value), json_string_length(value) + 1) == 0;
        case AVRO_BYTES: return fill_bytes(enc, dst, value);
        case AVRO_ENUM: {
                int symbol = json_is_string(value)
                                     ? avro_schema_enum_get_by_name(avro_value_get_schema(dst), json_string_value(value))
                                     : -1;
                return symbol >= 0 ? avro_value_set_enum(dst, symbol) == 0 : fail(enc, "not a symbol of the enum");
        }
        default: return fail(enc, "this Avro type is not supported in JSON input");
        }
}

/* Extends the path with ".name" or "[i]" for the duration of one fill. */
static bool fill_at(encoder_t *enc, const char *step, avro_value_t *dst, const json_t *type, const json_t *value) {
        size_t len = strlen(enc->path);
        snprintf(enc->path + len, sizeof(enc->path) - len, "%s%s", len && step[0] != '[' ? "." : "", step);
        bool ok = fill(enc, dst, type, value);
        enc->path[len] = '\0';
        return ok;
}

static bool fill_record(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        const json_t *fields = json_object_get(type, "fields");
        const char *member;
        json_t *member_value;
        if (!json_is_object(value))
                return fail(enc, "expected an object");
        json_object_foreach((json_t *)value, member, member_value) {
                bool known = false;
                for (size_t i = 0; i < json_array_size(fields) && !known; i++)
                        known = !strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")) ?: "",
                                        member);
                if (!known) {
                        char what[300];
                        snprintf(what, sizeof(what), "unknown field \"%s\"", member);
                        return fail(enc, what);
                }
        }
        for (size_t i = 0; i < json_array_size(fields); i++) {
                const json_t *field = json_array_get(fields, i);
                const char *name = json_string_value(json_object_get(field, "name"));
                const json_t *given = json_object_get(value, name);
                avro_value_t child;
                if (!given)
                        given = json_object_get(field, "default");
                if (avro_value_get_by_name(dst, name, &child, NULL))
                        return fail(enc, "schema mismatch");
                if (!given) {
                        char what[300];
                        snprintf(what, sizeof(what), "field \"%s\" is required", name);
                        return fail(enc, what);
                }
                if (!fill_at(enc, name, &child, json_object_get(field, "type"), given))
                        return false;
        }
        return true;
}

static bool fill_array(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        if (!json_is_array(value))
                return fail(enc, "expected an array");
        for (size_t i = 0; i < json_array_size(value); i++) {
                avro_value_t item;
                char step[32];
                snprintf(step, sizeof(step), "[%zu]", i);
                if (avro_value_append(dst, &item, NULL) ||
                    !fill_at(enc, step, &item, json_object_get(type, "items"), json_array_get(value, i)))
                        return false;
        }
        return true;
}

static bool fill_map(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        const char *key;
        json_t *item_value;
        if (!json_is_object(value))
                return fail(enc, "expected an object");
        json_object_foreach((json_t *)value, key, item_value) {
                avro_value_t item;
                if (avro_value_add(dst, key, &item, NULL, NULL) ||
                    !fill_at(enc, key, &item, json_object_get(type, "values"), item_value))
                        return false;
        }
        return true;
}

/* Whether a JSON value can be read as the Avro type of branch @p branch. */
static bool fits(avro_value_t *branch, const json_t *type, const json_t *value) {
        switch (avro_value_get_type(branch)) {
        case AVRO_NULL: return json_is_null(value);
        case AVRO_BOOLEAN: return json_is_boolean(value);
        case AVRO_INT32:
        case AVRO_INT64: return json_is_integer(value) || (json_is_string(value) && is_timestamp_millis(type));
        case AVRO_FLOAT:
        case AVRO_DOUBLE: return json_is_number(value);
        case AVRO_STRING:
        case AVRO_ENUM: return json_is_string(value);
        case AVRO_BYTES: return json_is_string(value) || json_is_object(value);
        case AVRO_RECORD:
        case AVRO_MAP: return json_is_object(value);
        case AVRO_ARRAY: return json_is_array(value);
        default: return false;
        }
}

static bool fill_union(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        for (size_t i = 0; i < json_array_size(type); i++) {
                const json_t *branch_type = resolve(enc, json_array_get(type, i));
                avro_value_t branch;
                if (avro_value_set_branch(dst, (int)i, &branch))
                        return fail(enc, "schema mismatch");
                if (fits(&branch, branch_type, value))
                        return fill(enc, &branch, branch_type, value);
        }
        return fail(enc, "fits no branch of the union");
}

static bool fill(encoder_t *enc, avro_value_t *dst, const json_t *type, const json_t *value) {
        type = resolve(enc, type);
        switch (avro_value_get_type(dst)) {
        case AVRO_RECORD: return fill_record(enc, dst, type, value);
        case AVRO_ARRAY: return fill_array(enc, dst, type, value);
        case AVRO_MAP: return fill_map(enc, dst, type, value);
        case AVRO_UNION: return fill_union(enc, dst, type, value);
        default: return fill_scalar(enc, dst, type, value);
        }
}

static bl_err_t write_framed(bl_schema_t *schema, int32_t schema_id, unsigned char **out, size_t *out_size,
                             char *errstr, size_t errstr_size) {
        size_t body_size;
        avro_writer_t writer;
        if (avro_value_sizeof(&schema->value, &body_size))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "%s", avro_strerror());
        *out = malloc(BL_WIRE_HEADER_SIZE + body_size);
        if (!*out)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        bl_wire_write_header(*out, schema_id);
        writer = avro_writer_memory((char *)*out + BL_WIRE_HEADER_SIZE, (int64_t)body_size);
        if (!writer || avro_value_write(writer, &schema->value)) {
                if (writer)
                        avro_writer_free(writer);
                free(*out);
                *out = NULL;
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "%s", avro_strerror());
        }
        avro_writer_free(writer);
        *out_size = BL_WIRE_HEADER_SIZE + body_size;
        return BL_OK;
}

bl_err_t bl_encode_json(bl_schema_t *schema, int32_t schema_id, const json_t *document, unsigned char **out,
                        size_t *out_size, char *errstr, size_t errstr_size) {
        encoder_t enc = {json_object(), "", errstr, errstr_size};
        bl_err_t err;
        if (!enc.named)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        collect_named(enc.named, schema->json, NULL);
        avro_value_reset(&schema->value);
        err = fill(&enc, &schema->value, schema->json, document) ? BL_OK : BL_ERR_INVALID_ARG;
        json_decref(enc.named);
        return err ? err : write_framed(schema, schema_id, out, out_size, errstr, errstr_size);
}
