/*
 * compat.c: Avro schema resolution (the specification's "Schema Resolution"
 * section) as a compatibility check, in our own code.
 *
 * Design: each schema's JSON is first parsed into a small graph of types
 * (type_t), which is where malformed schemas are caught: unknown type names,
 * names defined twice, duplicate fields or symbols, bad unions, defaults that
 * do not fit their field. Named types get their full names here, with the
 * namespace inherited from the enclosing named type, so a reference such as
 * "TaskState" or "io.backlogd.TaskError" points at the very type_t that
 * defined it; a recursive record is a cycle in the graph. The resolution
 * rules then walk a reader graph and a writer graph side by side:
 *
 *   primitives      equal, or promoted: int -> long, float, double;
 *                   long -> float, double; float -> double; string <-> bytes
 *   record          same unqualified name (or a reader alias); fields by name
 *                   (or a reader field alias); writer-only fields are skipped;
 *                   a reader-only field needs a default
 *   enum            same name; every writer symbol is a reader symbol, unless
 *                   the reader enum has a default
 *   fixed           same name and size
 *   array, map      items, values
 *   union           reader union: the writer (each writer branch, when the
 *                   writer is a union too) must match some reader branch;
 *                   writer union against a non-union: every branch must match
 *
 * logicalType is ignored: a timestamp-millis is a long. Recursion: a
 * (reader record, writer record) pair met again while it is being checked is
 * assumed compatible, which is what makes the answer for recursive schemas
 * finite and right (a mismatch inside would be found on the first visit);
 * pairs proven compatible are remembered, so a type referenced from many
 * places is walked once per pair, not once per path.
 *
 * Invariants: the graphs borrow strings and defaults from the JSON, which the
 * caller keeps alive for the whole call; full names are owned. A failure
 * message is "<path>: <reason>", the path being the root record's name
 * followed by field names ("TaskEvent.error.code"), "[]" for array items and
 * "{}" for map values.
 *
 * Thread: any; no shared state.
 */
#include "contract/compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128        /* schema nesting; resolution may go 2x deeper through named types */
#define MAX_STEPS 1000000L   /* resolution steps: a bound for schemas built to make the walk explode */
#define PATH_MAX_BYTES 512   /* the path in messages; longer ones are cut */
#define REASON_MAX_BYTES 768 /* one failure's text */

typedef enum {
        KIND_NULL,
        KIND_BOOLEAN,
        KIND_INT,
        KIND_LONG,
        KIND_FLOAT,
        KIND_DOUBLE,
        KIND_BYTES,
        KIND_STRING, /* the last primitive */
        KIND_RECORD,
        KIND_ENUM,
        KIND_FIXED,
        KIND_ARRAY,
        KIND_MAP,
        KIND_UNION,
} kind_t;

static const char *const kind_names[] = {"null",   "boolean", "int",  "long",  "float", "double", "bytes",
                                         "string", "record",  "enum", "fixed", "array", "map",    "union"};

typedef struct type_s type_t;

typedef struct field_s {
        const char *name;            /* borrowed from the schema JSON */
        const json_t *aliases;       /* array of strings, or NULL */
        const json_t *default_value; /* NULL: no default (a JSON null default is json_null()) */
        type_t *type;
} field_t;

struct type_s {
        kind_t kind;
        char *fullname;          /* named types: "io.backlogd.TaskEvent" (owned) */
        const char *name;        /* the unqualified part, inside fullname */
        const json_t *aliases;   /* named types: array of strings, or NULL */
        field_t *fields;         /* record */
        size_t field_count;
        const json_t *symbols;   /* enum: array of strings */
        const char *enum_default; /* enum: NULL when none */
        json_int_t size;         /* fixed */
        type_t *items;           /* array items, map values */
        type_t **branches;       /* union */
        size_t branch_count;
        type_t *next_allocated;  /* every type of one schema, newest first */
};

/* One parsed schema: its root and every type_t it allocated. */
typedef struct schema_s {
        type_t *root;
        type_t *allocated;
} schema_t;

/* Where in a schema we are, for messages: "TaskEvent.error.code". */
typedef struct path_s {
        char text[PATH_MAX_BYTES];
        size_t length;
} path_t;

/* A namespace as a slice: the prefix of an enclosing full name, or a JSON string. */
typedef struct space_s {
        const char *text;
        size_t length;
} space_t;

typedef struct parser_s {
        schema_t *schema;
        path_t path;
        int depth;
        int field_depth; /* 0 outside any record field: a record there is a root */
        bl_err_t err;
        char *errstr;
        size_t errstr_size;
} parser_t;

typedef struct pair_s {
        const type_t *reader;
        const type_t *writer;
} pair_t;

typedef struct pairs_s {
        pair_t *items;
        size_t count;
        size_t capacity;
} pairs_t;

typedef struct matcher_s {
        pairs_t in_progress; /* record pairs being checked: the recursion guard */
        pairs_t proven;      /* record pairs found compatible, so shared types are walked once */
        path_t path;
        int depth;
        int field_depth;
        long steps; /* match() calls so far, against MAX_STEPS */
        char *errstr;
        size_t errstr_size;
} matcher_t;

/* ---- paths and messages ------------------------------------------------- */

/* Appends to the path; returns the length to restore with path_pop. */
static size_t path_push(path_t *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(path_t *path, const char *fmt, ...) {
        size_t old_length = path->length;
        size_t room = sizeof(path->text) - path->length;
        va_list ap;
        int written;
        va_start(ap, fmt);
        written = vsnprintf(path->text + path->length, room, fmt, ap);
        va_end(ap);
        if (written > 0)
                path->length += (size_t)written < room ? (size_t)written : room - 1;
        return old_length;
}

static void path_pop(path_t *path, size_t old_length) {
        path->length = old_length;
        path->text[old_length] = '\0';
}

/* "<path>: <message>" into errstr (just the message while the path is empty); returns err. */
static bl_err_t fail_at(const path_t *path, char *errstr, size_t errstr_size, bl_err_t err, const char *fmt,
                        va_list ap) __attribute__((format(printf, 5, 0)));

static bl_err_t fail_at(const path_t *path, char *errstr, size_t errstr_size, bl_err_t err, const char *fmt,
                        va_list ap) {
        char message[REASON_MAX_BYTES];
        vsnprintf(message, sizeof(message), fmt, ap);
        if (path->length == 0)
                return bl_err_set(errstr, errstr_size, err, "%s", message);
        return bl_err_set(errstr, errstr_size, err, "%s: %s", path->text, message);
}

/* A short, readable name of a type: "int", "enum EventType", "array of string", "union [null, int]". */
static void describe(const type_t *type, char *out, size_t out_size) {
        char inner[256];
        size_t used;
        if (type->fullname) {
                snprintf(out, out_size, "%s %s", kind_names[type->kind], type->name);
                return;
        }
        if (type->kind == KIND_ARRAY || type->kind == KIND_MAP) {
                describe(type->items, inner, sizeof(inner));
                if (snprintf(out, out_size, "%s of %s", kind_names[type->kind], inner) < 0)
                        out[0] = '\0'; /* a description too long is cut, never an error */
                return;
        }
        if (type->kind != KIND_UNION) {
                snprintf(out, out_size, "%s", kind_names[type->kind]);
                return;
        }
        snprintf(out, out_size, "union [");
        for (size_t i = 0; i < type->branch_count; i++) {
                describe(type->branches[i], inner, sizeof(inner));
                used = strlen(out);
                snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", inner);
        }
        used = strlen(out);
        snprintf(out + used, out_size - used, "]");
}

/* ---- names -------------------------------------------------------------- */

static int primitive_kind(const char *name) {
        for (int kind = KIND_NULL; kind <= KIND_STRING; kind++)
                if (!strcmp(name, kind_names[kind]))
                        return kind;
        return -1;
}

/* [A-Za-z_][A-Za-z0-9_]* over length bytes. */
static bool valid_name_part(const char *name, size_t length) {
        if (length == 0 || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
                             name[0] == '_'))
                return false;
        for (size_t i = 1; i < length; i++) {
                char c = name[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                        return false;
        }
        return true;
}

static bool valid_name(const char *name) {
        return valid_name_part(name, strlen(name));
}

/* Dot-separated valid parts. */
static bool valid_fullname(const char *fullname) {
        const char *part = fullname, *dot;
        while ((dot = strchr(part, '.'))) {
                if (!valid_name_part(part, (size_t)(dot - part)))
                        return false;
                part = dot + 1;
        }
        return valid_name(part);
}

static const char *unqualified(const char *fullname) {
        const char *dot = strrchr(fullname, '.');
        return dot ? dot + 1 : fullname;
}

/* The namespace that types nested in @p named inherit. */
static space_t space_of(const type_t *named) {
        space_t space = {named->fullname, (size_t)(named->name - named->fullname)};
        if (space.length > 0)
                space.length--; /* the dot */
        return space;
}

/* @p name qualified with @p space unless it holds a dot already. NULL when out of memory. */
static char *qualify(const char *name, space_t space) {
        size_t size = space.length + 1 + strlen(name) + 1;
        char *fullname;
        if (strchr(name, '.') || space.length == 0)
                return strdup(name);
        if (!(fullname = malloc(size)))
                return NULL;
        snprintf(fullname, size, "%.*s.%s", (int)space.length, space.text, name);
        return fullname;
}

static type_t *find_named(const schema_t *schema, const char *fullname) {
        for (type_t *type = schema->allocated; type; type = type->next_allocated)
                if (type->fullname && !strcmp(type->fullname, fullname))
                        return type;
        return NULL;
}

/* Does @p alias (full or relative to the aliased type's namespace) name @p name unqualified? */
static bool aliases_name(const json_t *aliases, const char *name) {
        size_t i;
        json_t *alias;
        json_array_foreach(aliases, i, alias) {
                if (!strcmp(unqualified(json_string_value(alias)), name))
                        return true;
        }
        return false;
}

/* Symbols are checked to be strings before this is called. */
static bool symbol_in(const json_t *symbols, const char *symbol) {
        size_t i;
        json_t *item;
        json_array_foreach(symbols, i, item) {
                if (!strcmp(json_string_value(item), symbol))
                        return true;
        }
        return false;
}

/* ---- parsing: JSON to a graph of types, malformed schemas refused ----------- */

static type_t *parse_fail(parser_t *p, bl_err_t err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static type_t *parse_fail(parser_t *p, bl_err_t err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        p->err = fail_at(&p->path, p->errstr, p->errstr_size, err, fmt, ap);
        va_end(ap);
        return NULL;
}

/* The same for functions that answer yes or no: a malformed schema. */
static bool refuse(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(parser_t *p, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        p->err = fail_at(&p->path, p->errstr, p->errstr_size, BL_ERR_INVALID_ARG, fmt, ap);
        va_end(ap);
        return false;
}

static type_t *new_type(parser_t *p, kind_t kind) {
        type_t *type = calloc(1, sizeof(*type));
        if (!type)
                return parse_fail(p, BL_ERR_NOMEM, "out of memory");
        type->kind = kind;
        type->next_allocated = p->schema->allocated;
        p->schema->allocated = type;
        return type;
}

static type_t *parse_type(parser_t *p, const json_t *json, space_t space);

static bool valid_aliases(const json_t *aliases) {
        size_t i;
        json_t *alias;
        if (!aliases)
                return true;
        if (!json_is_array(aliases))
                return false;
        json_array_foreach(aliases, i, alias) {
                if (!json_is_string(alias) || !valid_fullname(json_string_value(alias)))
                        return false;
        }
        return true;
}

/* The full name a definition gives itself: its name, else namespace + name, else the enclosing space + name. */
static char *definition_fullname(parser_t *p, const json_t *json, const char *name, space_t space) {
        const json_t *namespace_json = json_object_get(json, "namespace");
        char *fullname;
        if (namespace_json && !json_is_string(namespace_json)) {
                refuse(p, "\"namespace\" of %s must be a string", name);
                return NULL;
        }
        if (namespace_json && !strchr(name, '.')) {
                space.text = json_string_value(namespace_json);
                space.length = strlen(space.text);
        }
        if (!(fullname = qualify(name, space)))
                parse_fail(p, BL_ERR_NOMEM, "out of memory");
        return fullname;
}

/* Checks a named type's name and registers it, before its body, so the body may refer to it. */
static type_t *define_named(parser_t *p, kind_t kind, const json_t *json, space_t space) {
        const char *name = json_string_value(json_object_get(json, "name"));
        const json_t *aliases = json_object_get(json, "aliases");
        char *fullname;
        type_t *type;
        if (!name)
                return parse_fail(p, BL_ERR_INVALID_ARG, "a %s needs a \"name\" string", kind_names[kind]);
        if (!(fullname = definition_fullname(p, json, name, space)))
                return NULL;
        if (!valid_fullname(fullname) || primitive_kind(unqualified(fullname)) >= 0) {
                parse_fail(p, BL_ERR_INVALID_ARG, "'%s' is not a valid name for a %s", fullname, kind_names[kind]);
        } else if (find_named(p->schema, fullname)) {
                parse_fail(p, BL_ERR_INVALID_ARG, "type %s is defined twice", fullname);
        } else if (!valid_aliases(aliases)) {
                parse_fail(p, BL_ERR_INVALID_ARG, "\"aliases\" of %s must be an array of names", fullname);
        } else if ((type = new_type(p, kind))) {
                type->fullname = fullname;
                type->name = unqualified(fullname);
                type->aliases = aliases;
                return type;
        }
        free(fullname);
        return NULL;
}

static bool parse_field(parser_t *p, type_t *record, const json_t *json, space_t space) {
        field_t *field = &record->fields[record->field_count];
        const char *name = json_string_value(json_object_get(json, "name"));
        const json_t *type_json = json_object_get(json, "type");
        size_t old_length;
        if (!json_is_object(json) || !name)
                return refuse(p, "field %zu needs a \"name\" string", record->field_count);
        if (!valid_name(name))
                return refuse(p, "'%s' is not a valid field name", name);
        for (size_t i = 0; i < record->field_count; i++)
                if (!strcmp(record->fields[i].name, name))
                        return refuse(p, "field %s is defined twice", name);
        old_length = path_push(&p->path, ".%s", name);
        p->field_depth++;
        field->name = name;
        field->aliases = json_object_get(json, "aliases");
        field->default_value = json_object_get(json, "default");
        record->field_count++;
        if (!valid_aliases(field->aliases))
                return refuse(p, "\"aliases\" must be an array of names");
        if (!type_json)
                return refuse(p, "the field needs a \"type\"");
        if (!(field->type = parse_type(p, type_json, space)))
                return false;
        p->field_depth--;
        path_pop(&p->path, old_length);
        return true;
}

static type_t *parse_record(parser_t *p, const json_t *json, space_t space) {
        const json_t *fields = json_object_get(json, "fields");
        type_t *record = define_named(p, KIND_RECORD, json, space);
        path_t outer_path = p->path;
        size_t i;
        json_t *field;
        if (!record)
                return NULL;
        if (!json_is_array(fields))
                return parse_fail(p, BL_ERR_INVALID_ARG, "record %s needs a \"fields\" array", record->fullname);
        if (!(record->fields = calloc(json_array_size(fields) + 1, sizeof(*record->fields))))
                return parse_fail(p, BL_ERR_NOMEM, "out of memory");
        if (p->field_depth == 0) { /* a root record: paths start with its name */
                path_pop(&p->path, 0);
                path_push(&p->path, "%s", record->name);
        }
        json_array_foreach(fields, i, field) {
                if (!parse_field(p, record, field, space_of(record)))
                        return NULL;
        }
        if (p->field_depth == 0)
                p->path = outer_path;
        return record;
}

static type_t *parse_enum(parser_t *p, const json_t *json, space_t space) {
        const json_t *symbols = json_object_get(json, "symbols"), *default_json = json_object_get(json, "default");
        type_t *type = define_named(p, KIND_ENUM, json, space);
        size_t i;
        json_t *symbol;
        if (!type)
                return NULL;
        if (!json_is_array(symbols))
                return parse_fail(p, BL_ERR_INVALID_ARG, "enum %s needs a \"symbols\" array", type->fullname);
        json_array_foreach(symbols, i, symbol) {
                const char *text = json_string_value(symbol);
                if (!text || !valid_name(text))
                        return parse_fail(p, BL_ERR_INVALID_ARG, "enum %s: symbol %zu is not a valid name",
                                          type->fullname, i);
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(json_string_value(json_array_get(symbols, j)), text))
                                return parse_fail(p, BL_ERR_INVALID_ARG, "enum %s: symbol %s is given twice",
                                                  type->fullname, text);
        }
        type->symbols = symbols;
        if (default_json && !(json_is_string(default_json) && symbol_in(symbols, json_string_value(default_json))))
                return parse_fail(p, BL_ERR_INVALID_ARG, "enum %s: the default must be one of its symbols",
                                  type->fullname);
        type->enum_default = json_string_value(default_json);
        return type;
}

static type_t *parse_fixed(parser_t *p, const json_t *json, space_t space) {
        const json_t *size = json_object_get(json, "size");
        type_t *type = define_named(p, KIND_FIXED, json, space);
        if (!type)
                return NULL;
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return parse_fail(p, BL_ERR_INVALID_ARG, "fixed %s needs a \"size\" that is a whole number >= 0",
                                  type->fullname);
        type->size = json_integer_value(size);
        return type;
}

/* An array ("items") or a map ("values"). */
static type_t *parse_container(parser_t *p, kind_t kind, const json_t *json, space_t space) {
        const char *key = kind == KIND_ARRAY ? "items" : "values";
        const json_t *inner = json_object_get(json, key);
        type_t *type;
        size_t old_length;
        if (!inner)
                return parse_fail(p, BL_ERR_INVALID_ARG, "an %s needs \"%s\"", kind_names[kind], key);
        if (!(type = new_type(p, kind)))
                return NULL;
        old_length = path_push(&p->path, kind == KIND_ARRAY ? "[]" : "{}");
        type->items = parse_type(p, inner, space);
        if (!type->items)
                return NULL;
        path_pop(&p->path, old_length);
        return type;
}

/* Avro forbids a union directly inside a union and two branches of one unnamed type or one full name. */
static bool union_branch_allowed(parser_t *p, const type_t *type, const type_t *branch) {
        if (branch->kind == KIND_UNION)
                return refuse(p, "a union may not hold a union directly");
        for (size_t i = 0; i < type->branch_count; i++) {
                const type_t *other = type->branches[i];
                bool same = branch->fullname ? other->fullname && !strcmp(other->fullname, branch->fullname)
                                             : other->kind == branch->kind;
                if (same)
                        return refuse(p, "a union holds %s%s%s twice", kind_names[branch->kind],
                                      branch->fullname ? " " : "", branch->fullname ? branch->fullname : "");
        }
        return true;
}

static type_t *parse_union(parser_t *p, const json_t *json, space_t space) {
        type_t *type = new_type(p, KIND_UNION);
        size_t i;
        json_t *branch_json;
        if (!type)
                return NULL;
        if (!(type->branches = calloc(json_array_size(json) + 1, sizeof(*type->branches))))
                return parse_fail(p, BL_ERR_NOMEM, "out of memory");
        json_array_foreach(json, i, branch_json) {
                type_t *branch = parse_type(p, branch_json, space);
                if (!branch || !union_branch_allowed(p, type, branch))
                        return NULL;
                type->branches[type->branch_count++] = branch;
        }
        return type;
}

/* A type name used as a schema: a primitive, or a named type defined earlier. */
static type_t *parse_reference(parser_t *p, const char *name, space_t space) {
        int primitive = primitive_kind(name);
        char *fullname;
        type_t *type;
        if (primitive >= 0)
                return new_type(p, (kind_t)primitive);
        if (!(fullname = qualify(name, space)))
                return parse_fail(p, BL_ERR_NOMEM, "out of memory");
        type = find_named(p->schema, fullname);
        free(fullname);
        if (!type && !strchr(name, '.'))
                type = find_named(p->schema, name); /* a type defined in the null namespace */
        if (!type)
                return parse_fail(p, BL_ERR_INVALID_ARG, "unknown type name '%s'", name);
        return type;
}

static type_t *parse_object(parser_t *p, const json_t *json, space_t space) {
        const char *type_name = json_string_value(json_object_get(json, "type"));
        int primitive;
        if (!type_name)
                return parse_fail(p, BL_ERR_INVALID_ARG, "a schema object needs a \"type\" string");
        if ((primitive = primitive_kind(type_name)) >= 0)
                return new_type(p, (kind_t)primitive); /* logicalType and other attributes change nothing */
        if (!strcmp(type_name, "record") || !strcmp(type_name, "error"))
                return parse_record(p, json, space);
        if (!strcmp(type_name, "enum"))
                return parse_enum(p, json, space);
        if (!strcmp(type_name, "fixed"))
                return parse_fixed(p, json, space);
        if (!strcmp(type_name, "array"))
                return parse_container(p, KIND_ARRAY, json, space);
        if (!strcmp(type_name, "map"))
                return parse_container(p, KIND_MAP, json, space);
        return parse_reference(p, type_name, space);
}

static type_t *parse_type(parser_t *p, const json_t *json, space_t space) {
        type_t *type = NULL;
        if (++p->depth > MAX_DEPTH)
                return parse_fail(p, BL_ERR_INVALID_ARG, "the schema nests deeper than %d levels", MAX_DEPTH);
        if (json_is_string(json))
                type = parse_reference(p, json_string_value(json), space);
        else if (json_is_array(json))
                type = parse_union(p, json, space);
        else if (json_is_object(json))
                type = parse_object(p, json, space);
        else
                parse_fail(p, BL_ERR_INVALID_ARG, "a schema must be a type name, an object or an array");
        p->depth--;
        return type;
}

/* ---- defaults ----------------------------------------------------------- */

/* A JSON string standing for bytes: every code point in 0..255. Returns the byte count, or -1. */
static long long json_bytes_length(const json_t *value) {
        const unsigned char *text = (const unsigned char *)json_string_value(value);
        size_t length = json_string_length(value);
        long long count = 0;
        for (size_t i = 0; i < length; count++) {
                if (text[i] < 0x80)
                        i += 1;
                else if ((text[i] == 0xC2 || text[i] == 0xC3) && i + 1 < length)
                        i += 2;
                else
                        return -1;
        }
        return count;
}

static bool is_float_default(const json_t *value) {
        const char *text = json_string_value(value);
        return json_is_number(value) ||
               (text && (!strcmp(text, "NaN") || !strcmp(text, "Infinity") || !strcmp(text, "-Infinity")));
}

static bool default_fits(const type_t *type, const json_t *value, char *reason, size_t reason_size);

static bool record_default_fits(const type_t *record, const json_t *value, char *reason, size_t reason_size) {
        if (!json_is_object(value))
                return false;
        for (size_t i = 0; i < record->field_count; i++) {
                const field_t *field = &record->fields[i];
                const json_t *field_value = json_object_get(value, field->name);
                if (!field_value && !field->default_value) {
                        snprintf(reason, reason_size, "field %s of record %s is missing and has no default",
                                 field->name, record->name);
                        return false;
                }
                if (field_value && !default_fits(field->type, field_value, reason, reason_size))
                        return false;
        }
        return true;
}

static bool container_default_fits(const type_t *type, const json_t *value, char *reason, size_t reason_size) {
        size_t i;
        const char *key;
        json_t *item;
        if (type->kind == KIND_ARRAY) {
                if (!json_is_array(value))
                        return false;
                json_array_foreach(value, i, item) {
                        if (!default_fits(type->items, item, reason, reason_size))
                                return false;
                }
                return true;
        }
        if (!json_is_object(value))
                return false;
        json_object_foreach((json_t *)value, key, item) {
                if (!default_fits(type->items, item, reason, reason_size))
                        return false;
        }
        return true;
}

/* A union's default is its first branch's: the Avro specification says so, and the decoders rely on it. */
static bool union_default_fits(const type_t *type, const json_t *value, char *reason, size_t reason_size) {
        const type_t *first = type->branch_count > 0 ? type->branches[0] : NULL;
        char described[256];
        if (!first) {
                snprintf(reason, reason_size, "an empty union cannot have a default");
                return false;
        }
        if (default_fits(first, value, reason, reason_size))
                return true;
        if (first->kind != KIND_RECORD && first->kind != KIND_ARRAY && first->kind != KIND_MAP) {
                describe(first, described, sizeof(described));
                snprintf(reason, reason_size, "a union's default must fit its first branch, %s", described);
        }
        return false;
}

/* Is the JSON @p value a valid default for @p type? When not, and no deeper reason was written, says which type. */
static bool default_fits(const type_t *type, const json_t *value, char *reason, size_t reason_size) {
        char described[256];
        bool fits;
        reason[0] = '\0';
        switch (type->kind) {
        case KIND_NULL: fits = json_is_null(value); break;
        case KIND_BOOLEAN: fits = json_is_boolean(value); break;
        case KIND_INT:
                fits = json_is_integer(value) && json_integer_value(value) >= INT32_MIN &&
                       json_integer_value(value) <= INT32_MAX;
                break;
        case KIND_LONG: fits = json_is_integer(value); break;
        case KIND_FLOAT:
        case KIND_DOUBLE: fits = is_float_default(value); break;
        case KIND_BYTES: fits = json_is_string(value) && json_bytes_length(value) >= 0; break;
        case KIND_STRING: fits = json_is_string(value); break;
        case KIND_FIXED: fits = json_is_string(value) && json_bytes_length(value) == type->size; break;
        case KIND_ENUM: fits = json_is_string(value) && symbol_in(type->symbols, json_string_value(value)); break;
        case KIND_RECORD: fits = record_default_fits(type, value, reason, reason_size); break;
        case KIND_ARRAY:
        case KIND_MAP: fits = container_default_fits(type, value, reason, reason_size); break;
        case KIND_UNION: fits = union_default_fits(type, value, reason, reason_size); break;
        default: fits = false;
        }
        if (!fits && !reason[0]) {
                describe(type, described, sizeof(described));
                snprintf(reason, reason_size, "not a valid %s", described);
        }
        return fits;
}

/* Every field default of every record in the schema, once the whole graph exists (defaults may use later types). */
static bool check_defaults(parser_t *p) {
        char reason[REASON_MAX_BYTES];
        for (const type_t *type = p->schema->allocated; type; type = type->next_allocated) {
                for (size_t i = 0; type->kind == KIND_RECORD && i < type->field_count; i++) {
                        const field_t *field = &type->fields[i];
                        if (!field->default_value || default_fits(field->type, field->default_value, reason,
                                                                  sizeof(reason)))
                                continue;
                        char *shown = json_dumps(field->default_value, JSON_ENCODE_ANY | JSON_COMPACT);
                        path_pop(&p->path, 0);
                        path_push(&p->path, "%s.%s", type->name, field->name);
                        parse_fail(p, BL_ERR_INVALID_ARG, "bad default %.64s: %s", shown ? shown : "", reason);
                        free(shown);
                        return false;
                }
        }
        return true;
}

static void schema_destroy(schema_t *schema) {
        type_t *type, *next;
        if (!schema)
                return;
        for (type = schema->allocated; type; type = next) {
                next = type->next_allocated;
                free(type->fullname);
                free(type->fields);
                free(type->branches);
                free(type);
        }
        free(schema);
}

/* The graph of @p json, or NULL with *err and errstr set. */
static schema_t *schema_parse(const json_t *json, bl_err_t *err, char *errstr, size_t errstr_size) {
        parser_t p = {.errstr = errstr, .errstr_size = errstr_size, .err = BL_OK};
        space_t null_space = {"", 0};
        if (!(p.schema = calloc(1, sizeof(*p.schema)))) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        if (!json) {
                parse_fail(&p, BL_ERR_INVALID_ARG, "no schema");
        } else if ((p.schema->root = parse_type(&p, json, null_space)) && check_defaults(&p)) {
                *err = BL_OK;
                return p.schema;
        }
        *err = p.err;
        schema_destroy(p.schema);
        return NULL;
}

/* ---- resolution --------------------------------------------------------- */

static bl_err_t mismatch(matcher_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bl_err_t mismatch(matcher_t *m, const char *fmt, ...) {
        va_list ap;
        bl_err_t err;
        va_start(ap, fmt);
        err = fail_at(&m->path, m->errstr, m->errstr_size, BL_ERR_MISMATCH, fmt, ap);
        va_end(ap);
        return err;
}

static bl_err_t match(matcher_t *m, const type_t *reader, const type_t *writer);

static bool promotes(kind_t writer, kind_t reader) {
        switch (writer) {
        case KIND_INT: return reader == KIND_LONG || reader == KIND_FLOAT || reader == KIND_DOUBLE;
        case KIND_LONG: return reader == KIND_FLOAT || reader == KIND_DOUBLE;
        case KIND_FLOAT: return reader == KIND_DOUBLE;
        case KIND_STRING: return reader == KIND_BYTES;
        case KIND_BYTES: return reader == KIND_STRING;
        default: return false;
        }
}

static bool names_match(const type_t *reader, const type_t *writer) {
        return !strcmp(reader->name, writer->name) || (reader->aliases && aliases_name(reader->aliases, writer->name));
}

/* How well a reader union branch fits a (non-union) writer: 3 same type, 2 same name, 1 promotion, 0 not at all. */
static int branch_rank(const type_t *branch, const type_t *writer) {
        if (branch->kind == writer->kind) {
                if (!branch->fullname || !strcmp(branch->fullname, writer->fullname))
                        return 3;
                return names_match(branch, writer) ? 2 : 0;
        }
        return promotes(writer->kind, branch->kind) ? 1 : 0;
}

/*
 * A non-union writer read by a reader union: some branch must resolve. The
 * branches are tried best first (Java's decoder picks that way too); when all
 * fail, the reason of the best candidate is kept, else there was none.
 */
static bl_err_t match_into_union(matcher_t *m, const type_t *reader, const type_t *writer) {
        char first_reason[REASON_MAX_BYTES] = "", scratch[REASON_MAX_BYTES];
        char *saved_errstr = m->errstr, reader_text[256], writer_text[256];
        size_t saved_size = m->errstr_size;
        bl_err_t err = BL_ERR_MISMATCH;
        for (int rank = 3; rank >= 1 && err == BL_ERR_MISMATCH; rank--) {
                for (size_t i = 0; i < reader->branch_count && err == BL_ERR_MISMATCH; i++) {
                        if (branch_rank(reader->branches[i], writer) != rank)
                                continue;
                        m->errstr = scratch, m->errstr_size = sizeof(scratch);
                        err = match(m, reader->branches[i], writer);
                        if (err == BL_ERR_MISMATCH && !first_reason[0])
                                memcpy(first_reason, scratch, sizeof(first_reason));
                }
        }
        m->errstr = saved_errstr, m->errstr_size = saved_size;
        if (err != BL_ERR_MISMATCH)
                return err == BL_ERR_NOMEM ? bl_err_set(m->errstr, m->errstr_size, err, "%s", scratch) : err;
        if (first_reason[0])
                return bl_err_set(m->errstr, m->errstr_size, BL_ERR_MISMATCH, "%s", first_reason);
        describe(writer, writer_text, sizeof(writer_text));
        describe(reader, reader_text, sizeof(reader_text));
        return mismatch(m, "writer type %s matches no branch of the reader's %s", writer_text, reader_text);
}

/* A writer union: every branch the writer may have written must be readable. */
static bl_err_t match_writer_union(matcher_t *m, const type_t *reader, const type_t *writer) {
        for (size_t i = 0; i < writer->branch_count; i++) {
                const type_t *branch = writer->branches[i];
                bl_err_t err = reader->kind == KIND_UNION ? match_into_union(m, reader, branch)
                                                          : match(m, reader, branch);
                if (err)
                        return err;
        }
        return BL_OK;
}

static bool pairs_contain(const pairs_t *pairs, const type_t *reader, const type_t *writer) {
        for (size_t i = 0; i < pairs->count; i++)
                if (pairs->items[i].reader == reader && pairs->items[i].writer == writer)
                        return true;
        return false;
}

static bool pairs_add(pairs_t *pairs, const type_t *reader, const type_t *writer) {
        if (pairs->count == pairs->capacity) {
                size_t capacity = pairs->capacity ? 2 * pairs->capacity : 16;
                pair_t *grown = realloc(pairs->items, capacity * sizeof(*grown));
                if (!grown)
                        return false;
                pairs->items = grown;
                pairs->capacity = capacity;
        }
        pairs->items[pairs->count++] = (pair_t){reader, writer};
        return true;
}

/* The writer's field that a reader field reads: same name, else one of the reader field's aliases. */
static const field_t *writer_field_for(const type_t *writer, const field_t *reader_field) {
        for (size_t i = 0; i < writer->field_count; i++)
                if (!strcmp(writer->fields[i].name, reader_field->name))
                        return &writer->fields[i];
        for (size_t i = 0; reader_field->aliases && i < writer->field_count; i++)
                if (aliases_name(reader_field->aliases, writer->fields[i].name))
                        return &writer->fields[i];
        return NULL;
}

static bl_err_t match_fields(matcher_t *m, const type_t *reader, const type_t *writer) {
        for (size_t i = 0; i < reader->field_count; i++) {
                const field_t *reader_field = &reader->fields[i];
                const field_t *writer_field = writer_field_for(writer, reader_field);
                size_t old_length = path_push(&m->path, ".%s", reader_field->name);
                bl_err_t err = BL_OK;
                m->field_depth++;
                if (writer_field)
                        err = match(m, reader_field->type, writer_field->type);
                else if (!reader_field->default_value)
                        err = mismatch(m, "reader field has no default and the writer has no such field");
                m->field_depth--;
                path_pop(&m->path, old_length);
                if (err)
                        return err;
        }
        return BL_OK;
}

/*
 * A pair already being checked further up is assumed compatible: the first
 * visit decides. A pair proven compatible is not walked again; but a proof
 * made while some pair was in progress may rest on that assumption, so when
 * a pair fails, the proofs made during its check are forgotten (that matters
 * inside a union, where a failed branch is not the end).
 */
static bl_err_t match_record(matcher_t *m, const type_t *reader, const type_t *writer) {
        path_t outer_path = m->path;
        size_t proven_before = m->proven.count;
        bl_err_t err;
        if (pairs_contain(&m->in_progress, reader, writer) || pairs_contain(&m->proven, reader, writer))
                return BL_OK;
        if (!pairs_add(&m->in_progress, reader, writer))
                return bl_err_set(m->errstr, m->errstr_size, BL_ERR_NOMEM, "out of memory");
        if (m->field_depth == 0) { /* a root record: paths start with its name */
                path_pop(&m->path, 0);
                path_push(&m->path, "%s", reader->name);
        }
        err = match_fields(m, reader, writer);
        m->in_progress.count--;
        if (m->field_depth == 0)
                m->path = outer_path;
        if (err)
                m->proven.count = proven_before;
        else if (!pairs_add(&m->proven, reader, writer))
                err = bl_err_set(m->errstr, m->errstr_size, BL_ERR_NOMEM, "out of memory");
        return err;
}

static bl_err_t match_enum(matcher_t *m, const type_t *reader, const type_t *writer) {
        char missing[REASON_MAX_BYTES / 2] = "";
        size_t missing_count = 0, used = 0, i;
        json_t *symbol;
        if (reader->enum_default)
                return BL_OK; /* an unknown symbol reads as the default */
        json_array_foreach(writer->symbols, i, symbol) {
                if (symbol_in(reader->symbols, json_string_value(symbol)))
                        continue;
                if (used < sizeof(missing))
                        used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%s",
                                                 missing_count ? ", " : "", json_string_value(symbol));
                missing_count++;
        }
        if (missing_count == 0)
                return BL_OK;
        return mismatch(m, "writer symbol%s %s %s not in the reader enum %s, which has no default",
                        missing_count == 1 ? "" : "s", missing, missing_count == 1 ? "is" : "are", reader->name);
}

/* Same kind on both sides: the kind's own rule. */
static bl_err_t match_same_kind(matcher_t *m, const type_t *reader, const type_t *writer) {
        size_t old_length;
        bl_err_t err;
        if (reader->fullname && !names_match(reader, writer))
                return mismatch(m, "reader %s %s cannot read writer %s %s: the names differ and no reader alias "
                                   "matches",
                                kind_names[reader->kind], reader->name, kind_names[writer->kind], writer->name);
        switch (reader->kind) {
        case KIND_RECORD: return match_record(m, reader, writer);
        case KIND_ENUM: return match_enum(m, reader, writer);
        case KIND_FIXED:
                if (reader->size == writer->size)
                        return BL_OK;
                return mismatch(m, "reader fixed %s has size %lld, the writer's has size %lld", reader->name,
                                (long long)reader->size, (long long)writer->size);
        case KIND_ARRAY:
        case KIND_MAP:
                old_length = path_push(&m->path, reader->kind == KIND_ARRAY ? "[]" : "{}");
                err = match(m, reader->items, writer->items);
                path_pop(&m->path, old_length);
                return err;
        default: return BL_OK; /* the same primitive */
        }
}

static bl_err_t match(matcher_t *m, const type_t *reader, const type_t *writer) {
        char reader_text[256], writer_text[256];
        bl_err_t err;
        if (++m->depth > MAX_DEPTH * 2 || ++m->steps > MAX_STEPS) {
                err = mismatch(m, "the schemas nest too deeply or are too large to compare");
        } else if (writer->kind == KIND_UNION) {
                err = match_writer_union(m, reader, writer);
        } else if (reader->kind == KIND_UNION) {
                err = match_into_union(m, reader, writer);
        } else if (reader->kind == writer->kind) {
                err = match_same_kind(m, reader, writer);
        } else if (promotes(writer->kind, reader->kind)) {
                err = BL_OK;
        } else {
                describe(reader, reader_text, sizeof(reader_text));
                describe(writer, writer_text, sizeof(writer_text));
                err = mismatch(m, "reader type %s cannot read writer type %s", reader_text, writer_text);
        }
        m->depth--;
        return err;
}

/* Resolution of two parsed schemas. */
static bl_err_t schemas_match(const schema_t *reader, const schema_t *writer, char *errstr, size_t errstr_size) {
        matcher_t m = {.errstr = errstr, .errstr_size = errstr_size};
        bl_err_t err = match(&m, reader->root, writer->root);
        free(m.in_progress.items);
        free(m.proven.items);
        return err;
}

/* ---- the API ------------------------------------------------------------ */

bl_err_t bl_compat_can_read(const json_t *reader, const json_t *writer, char *errstr, size_t errstr_size) {
        char reason[REASON_MAX_BYTES];
        schema_t *reader_schema = NULL, *writer_schema = NULL;
        bl_err_t err;
        if (!(reader_schema = schema_parse(reader, &err, reason, sizeof(reason)))) {
                bl_err_set(errstr, errstr_size, err, "reader schema: %s", reason);
        } else if (!(writer_schema = schema_parse(writer, &err, reason, sizeof(reason)))) {
                bl_err_set(errstr, errstr_size, err, "writer schema: %s", reason);
        } else {
                err = schemas_match(reader_schema, writer_schema, errstr, errstr_size);
        }
        schema_destroy(writer_schema);
        schema_destroy(reader_schema);
        return err;
}

/* Parses every version, reporting each malformed one; BL_OK only when all parsed. */
static bl_err_t parse_versions(const json_t *const *versions, size_t count, schema_t **parsed,
                               bl_compat_failure_cb *on_failure, void *opaque) {
        char reason[REASON_MAX_BYTES];
        bl_err_t result = BL_OK, err;
        for (size_t i = 0; i < count; i++) {
                if ((parsed[i] = schema_parse(versions[i], &err, reason, sizeof(reason))))
                        continue;
                bl_compat_failure_t failure = {i, i, err, reason};
                if (on_failure)
                        on_failure(&failure, opaque);
                if (err == BL_ERR_NOMEM)
                        return err;
                result = err;
        }
        return result;
}

/* Every (newer, older) pair of parsed versions, each failure reported. */
static bl_err_t check_pairs(schema_t *const *parsed, size_t count, bl_compat_failure_cb *on_failure, void *opaque) {
        char reason[REASON_MAX_BYTES];
        bl_err_t result = BL_OK;
        for (size_t newer = 1; newer < count; newer++) {
                for (size_t older = newer; older-- > 0;) {
                        bl_err_t err = schemas_match(parsed[newer], parsed[older], reason, sizeof(reason));
                        if (!err)
                                continue;
                        bl_compat_failure_t failure = {newer, older, err, reason};
                        if (on_failure)
                                on_failure(&failure, opaque);
                        if (err == BL_ERR_NOMEM)
                                return err;
                        result = err;
                }
        }
        return result;
}

bl_err_t bl_compat_check_each_backward(const json_t *const *versions, size_t count, bl_compat_failure_cb *on_failure,
                                       void *opaque) {
        schema_t **parsed = calloc(count + 1, sizeof(*parsed));
        bl_err_t result;
        if (!parsed)
                return BL_ERR_NOMEM;
        result = parse_versions(versions, count, parsed, on_failure, opaque);
        if (result == BL_OK)
                result = check_pairs(parsed, count, on_failure, opaque);
        for (size_t i = 0; i < count; i++)
                schema_destroy(parsed[i]);
        free(parsed);
        return result;
}

typedef struct first_failure_s {
        char *errstr;
        size_t errstr_size;
        bool seen;
} first_failure_t;

static void keep_first(const bl_compat_failure_t *failure, void *opaque) {
        first_failure_t *first = opaque;
        if (first->seen)
                return;
        first->seen = true;
        if (failure->reader_index == failure->writer_index)
                bl_err_set(first->errstr, first->errstr_size, failure->err, "version %zu: malformed schema: %s",
                           failure->reader_index + 1, failure->reason);
        else
                bl_err_set(first->errstr, first->errstr_size, failure->err, "version %zu cannot read version %zu: %s",
                           failure->reader_index + 1, failure->writer_index + 1, failure->reason);
}

bl_err_t bl_compat_check_backward_transitive(const json_t *const *versions, size_t count, char *errstr,
                                             size_t errstr_size) {
        first_failure_t first = {errstr, errstr_size, false};
        bl_err_t err = bl_compat_check_each_backward(versions, count, keep_first, &first);
        if (err == BL_ERR_NOMEM && !first.seen)
                bl_err_set(errstr, errstr_size, err, "out of memory");
        return err;
}
