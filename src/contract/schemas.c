/*
 * schemas.c: the schema cache.
 *
 * Entries are parsed once (avro-c schema, generic value class, one reusable
 * value, jansson tree) and kept until the process ends: a schema id never
 * changes meaning, so there is nothing to invalidate. The catalog's schemas
 * are parsed lazily too, so start-up costs only what is used. Misses on the
 * registry are not cached: an id that is unknown now is asked again by the
 * next record that carries it (a poison pill costs one request, not memory).
 *
 * With a fetcher (contract/fetcher.c), a miss on the registry asks the
 * fetcher's thread and returns at once, BL_ERR_PENDING until the answer is
 * in; the text it brings is parsed here, on the cache's own thread.
 *
 * A process holds tens of schemas, so lookup is a scan of a small array.
 * Not thread-safe: one cache per ingest thread.
 */
#include "contract/schemas.h"

#include "contract/records_item.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bl_schemas_s {
        const bl_catalog_t *catalog;
        bl_registry_t *registry;
        bl_fetcher_t *fetcher; /* NULL: misses block on the registry */
        bl_schema_t **entries;
        size_t count;
        size_t capacity;
};

static void schema_destroy(bl_schema_t *schema) {
        if (!schema)
                return;
        if (schema->iface) {
                avro_value_decref(&schema->value);
                avro_value_iface_decref(schema->iface);
        }
        if (schema->avro)
                avro_schema_decref(schema->avro);
        json_decref(schema->json);
        bl_records_item_plan_free(schema->item_plan);
        free(schema);
}

void bl_schemas_destroy(bl_schemas_t *schemas) {
        if (!schemas)
                return;
        for (size_t i = 0; i < schemas->count; i++)
                schema_destroy(schemas->entries[i]);
        free(schemas->entries);
        free(schemas);
}

bl_schemas_t *bl_schemas_new(const bl_catalog_t *catalog, bl_registry_t *registry, char *errstr,
                             size_t errstr_size) {
        bl_schemas_t *schemas = calloc(1, sizeof(*schemas));
        if (!schemas) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        schemas->catalog = catalog;
        schemas->registry = registry;
        return schemas;
}

/* Parses @p text into a new entry; NULL with errstr when avro-c or jansson refuse it. */
static bl_schema_t *schema_parse(int32_t id, const char *text, char *errstr, size_t errstr_size) {
        bl_schema_t *schema = calloc(1, sizeof(*schema));
        json_error_t error;
        if (!schema) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        schema->id = id;
        schema->json = json_loads(text, JSON_DECODE_ANY, &error);
        if (!schema->json) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "schema id %d is not JSON: %s", (int)id, error.text);
                goto fail;
        }
        if (avro_schema_from_json_length(text, strlen(text), &schema->avro)) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "schema id %d is not a usable Avro schema: %s",
                           (int)id, avro_strerror());
                goto fail;
        }
        schema->iface = avro_generic_class_from_schema(schema->avro);
        if (!schema->iface || avro_generic_value_new(schema->iface, &schema->value)) {
                if (schema->iface)
                        avro_value_iface_decref(schema->iface);
                schema->iface = NULL;
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "schema id %d: %s", (int)id, avro_strerror());
                goto fail;
        }
        return schema;
fail:
        schema_destroy(schema);
        return NULL;
}

/* The cached schema a record's id names: with a registry, ids are the
 * registry's, and catalog entries (parsed for the reader and our outputs)
 * live in another id space. */
static bl_schema_t *cache_find_id(const bl_schemas_t *schemas, int32_t id) {
        bool want_catalog = !schemas->registry;
        for (size_t i = 0; i < schemas->count; i++)
                if (schemas->entries[i]->id == id && schemas->entries[i]->from_catalog == want_catalog)
                        return schemas->entries[i];
        return NULL;
}

static bl_schema_t *cache_find_catalog(const bl_schemas_t *schemas, const bl_catalog_entry_t *entry) {
        for (size_t i = 0; i < schemas->count; i++)
                if (schemas->entries[i]->from_catalog && schemas->entries[i]->id == entry->id)
                        return schemas->entries[i];
        return NULL;
}

static bool cache_add(bl_schemas_t *schemas, bl_schema_t *schema) {
        if (schemas->count == schemas->capacity) {
                size_t capacity = schemas->capacity ? schemas->capacity * 2 : 8;
                bl_schema_t **entries = realloc(schemas->entries, capacity * sizeof(*entries));
                if (!entries)
                        return false;
                schemas->entries = entries;
                schemas->capacity = capacity;
        }
        schemas->entries[schemas->count++] = schema;
        return true;
}

/* Parses a catalog entry into the cache (once). */
static bl_schema_t *load_catalog_entry(bl_schemas_t *schemas, const bl_catalog_entry_t *entry, char *errstr,
                                       size_t errstr_size) {
        bl_schema_t *schema = cache_find_catalog(schemas, entry);
        if (schema)
                return schema;
        schema = schema_parse(entry->id, entry->text, errstr, errstr_size);
        if (!schema)
                return NULL;
        schema->from_catalog = true;
        schema->contract = entry->contract;
        schema->version = entry->version;
        if (!cache_add(schemas, schema)) {
                schema_destroy(schema);
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        return schema;
}

static bl_err_t fetch_from_registry(bl_schemas_t *schemas, int32_t id, bl_schema_t **out, char *errstr,
                                    size_t errstr_size) {
        char *text = NULL;
        bl_err_t err = schemas->fetcher ? bl_fetcher_get(schemas->fetcher, id, &text, errstr, errstr_size)
                                        : bl_registry_get_schema(schemas->registry, id, &text, errstr, errstr_size);
        bl_schema_t *schema;
        if (err)
                return err;
        schema = schema_parse(id, text, errstr, errstr_size);
        free(text);
        if (!schema)
                return BL_ERR_CONFIG;
        if (!cache_add(schemas, schema)) {
                schema_destroy(schema);
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        }
        *out = schema;
        return BL_OK;
}

void bl_schemas_use_fetcher(bl_schemas_t *schemas, bl_fetcher_t *fetcher) {
        schemas->fetcher = fetcher;
}

bool bl_schemas_wait(bl_schemas_t *schemas, int32_t id, int timeout_ms) {
        return !schemas->fetcher || bl_fetcher_wait(schemas->fetcher, id, timeout_ms);
}

bl_err_t bl_schemas_get(bl_schemas_t *schemas, int32_t id, bl_schema_t **schema, char *errstr, size_t errstr_size) {
        const bl_catalog_entry_t *entry;
        *schema = cache_find_id(schemas, id);
        if (*schema)
                return BL_OK;
        if (schemas->registry)
                return fetch_from_registry(schemas, id, schema, errstr, errstr_size);
        entry = bl_catalog_by_id(schemas->catalog, id);
        if (!entry)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "schema id %d is not in %s/ids.json",
                                  (int)id, schemas->catalog->dir);
        *schema = load_catalog_entry(schemas, entry, errstr, errstr_size);
        return *schema ? BL_OK : BL_ERR_CONFIG;
}

bl_schema_t *bl_schemas_version(bl_schemas_t *schemas, const char *contract, int version) {
        char errstr[256];
        const bl_catalog_entry_t *entry = bl_catalog_find(schemas->catalog, contract, version);
        return entry ? load_catalog_entry(schemas, entry, errstr, sizeof(errstr)) : NULL;
}

bl_schema_t *bl_schemas_newest(bl_schemas_t *schemas, const char *contract) {
        return bl_schemas_version(schemas, contract, 0);
}

bl_schema_t *bl_schemas_private_copy(bl_schemas_t *schemas, const char *contract, int version) {
        char errstr[256];
        const bl_catalog_entry_t *entry = bl_catalog_find(schemas->catalog, contract, version);
        bl_schema_t *schema = entry ? schema_parse(entry->id, entry->text, errstr, sizeof(errstr)) : NULL;
        if (schema) {
                schema->from_catalog = true;
                schema->contract = entry->contract;
                schema->version = entry->version;
        }
        return schema;
}

void bl_schema_free(bl_schema_t *schema) {
        schema_destroy(schema);
}

bl_err_t bl_schemas_publish(bl_schemas_t *schemas, const bl_schema_t *schema, const char *subject, int32_t *id,
                            char *errstr, size_t errstr_size) {
        const bl_catalog_entry_t *entry;
        if (!schemas->registry) {
                *id = schema->id;
                return BL_OK;
        }
        entry = bl_catalog_find(schemas->catalog, schema->contract, schema->version);
        if (!entry)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "schema %d is not in the catalog",
                                  (int)schema->id);
        return bl_registry_register(schemas->registry, subject, entry->text, id, errstr, errstr_size);
}
