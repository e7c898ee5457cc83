/*
 * catalog.c: load schemas/ids.json and the .avsc files it lists.
 *
 * ids.json is the one place where a schema gets its stable id:
 *   {"schemas": [{"id": 1, "contract": "task_event", "version": 1,
 *                 "file": "task_event/v1.avsc"}, ...]}
 * Entries are kept sorted by contract, then version, so "every earlier
 * version of a contract" is a contiguous run. Loaded once at start-up; read
 * only afterwards, so any thread may read it.
 */
#include "contract/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, char *errstr, size_t errstr_size) {
        FILE *file = fopen(path, "rb");
        char *text = NULL;
        long size;
        if (!file) {
                bl_err_set(errstr, errstr_size, BL_ERR_IO, "%s: cannot open", path);
                return NULL;
        }
        if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0 &&
            (text = malloc((size_t)size + 1)) && fread(text, 1, (size_t)size, file) == (size_t)size) {
                text[size] = '\0';
        } else {
                free(text);
                text = NULL;
                bl_err_set(errstr, errstr_size, BL_ERR_IO, "%s: cannot read", path);
        }
        fclose(file);
        return text;
}

static int compare_entries(const void *a, const void *b) {
        const bl_catalog_entry_t *x = a, *y = b;
        int by_contract = strcmp(x->contract, y->contract);
        return by_contract ? by_contract : x->version - y->version;
}

static bool load_entry(bl_catalog_t *catalog, const json_t *item, size_t index, char *errstr, size_t errstr_size) {
        bl_catalog_entry_t *entry = &catalog->entries[catalog->count];
        const char *contract = json_string_value(json_object_get(item, "contract"));
        const char *file = json_string_value(json_object_get(item, "file"));
        json_t *id = json_object_get(item, "id"), *version = json_object_get(item, "version");
        json_error_t error;
        if (!contract || !file || !json_is_integer(id) || !json_is_integer(version) || json_integer_value(id) <= 0 ||
            json_integer_value(id) > INT32_MAX || json_integer_value(version) <= 0) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                           "%s/ids.json: schemas[%zu] needs a positive id and version, a contract and a file",
                           catalog->dir, index);
                return false;
        }
        entry->id = (int32_t)json_integer_value(id);
        entry->version = (int)json_integer_value(version);
        entry->contract = strdup(contract);
        entry->path = malloc(strlen(catalog->dir) + strlen(file) + 2);
        catalog->count++; /* from here on, destroy frees what was set */
        if (!entry->contract || !entry->path) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return false;
        }
        sprintf(entry->path, "%s/%s", catalog->dir, file);
        entry->text = read_file(entry->path, errstr, errstr_size);
        if (!entry->text)
                return false;
        entry->schema = json_loads(entry->text, 0, &error);
        if (!entry->schema) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "%s: line %d: %s", entry->path, error.line,
                           error.text);
                return false;
        }
        return true;
}

/* Unique ids, unique (contract, version), versions 1..n without gaps. Entries are sorted. */
static bool check_entries(const bl_catalog_t *catalog, char *errstr, size_t errstr_size) {
        for (size_t i = 0; i < catalog->count; i++) {
                const bl_catalog_entry_t *entry = &catalog->entries[i];
                const bl_catalog_entry_t *previous = i > 0 ? &catalog->entries[i - 1] : NULL;
                bool first_of_contract = !previous || strcmp(previous->contract, entry->contract);
                int expected = first_of_contract ? 1 : previous->version + 1;
                for (size_t j = 0; j < i; j++)
                        if (catalog->entries[j].id == entry->id) {
                                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "%s/ids.json: id %d is given twice",
                                           catalog->dir, (int)entry->id);
                                return false;
                        }
                if (entry->version != expected) {
                        bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                   "%s/ids.json: %s version %d %s (expected version %d)", catalog->dir,
                                   entry->contract, entry->version,
                                   entry->version < expected ? "is listed twice" : "leaves a gap", expected);
                        return false;
                }
        }
        return true;
}

bl_catalog_t *bl_catalog_load(const char *dir, char *errstr, size_t errstr_size) {
        bl_catalog_t *catalog = calloc(1, sizeof(*catalog));
        char *ids_path = NULL, *ids_text = NULL;
        json_t *ids = NULL, *schemas;
        json_error_t error;
        if (!catalog || !(catalog->dir = strdup(dir)) || !(ids_path = malloc(strlen(dir) + sizeof("/ids.json")))) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                goto fail;
        }
        sprintf(ids_path, "%s/ids.json", dir);
        if (!(ids_text = read_file(ids_path, errstr, errstr_size)))
                goto fail;
        ids = json_loads(ids_text, JSON_REJECT_DUPLICATES, &error);
        schemas = json_object_get(ids, "schemas");
        if (!json_is_array(schemas)) {
                bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "%s: %s", ids_path,
                           ids ? "needs a \"schemas\" array" : error.text);
                goto fail;
        }
        catalog->entries = calloc(json_array_size(schemas) + 1, sizeof(*catalog->entries));
        if (!catalog->entries)
                goto fail;
        for (size_t i = 0; i < json_array_size(schemas); i++)
                if (!load_entry(catalog, json_array_get(schemas, i), i, errstr, errstr_size))
                        goto fail;
        qsort(catalog->entries, catalog->count, sizeof(*catalog->entries), compare_entries);
        if (!check_entries(catalog, errstr, errstr_size))
                goto fail;
        json_decref(ids);
        free(ids_text);
        free(ids_path);
        return catalog;

fail:
        json_decref(ids);
        free(ids_text);
        free(ids_path);
        bl_catalog_destroy(catalog);
        return NULL;
}

void bl_catalog_destroy(bl_catalog_t *catalog) {
        if (!catalog)
                return;
        for (size_t i = 0; i < catalog->count; i++) {
                free(catalog->entries[i].contract);
                free(catalog->entries[i].path);
                free(catalog->entries[i].text);
                json_decref(catalog->entries[i].schema);
        }
        free(catalog->entries);
        free(catalog->dir);
        free(catalog);
}

const bl_catalog_entry_t *bl_catalog_by_id(const bl_catalog_t *catalog, int32_t id) {
        for (size_t i = 0; i < catalog->count; i++)
                if (catalog->entries[i].id == id)
                        return &catalog->entries[i];
        return NULL;
}

const bl_catalog_entry_t *bl_catalog_find(const bl_catalog_t *catalog, const char *contract, int version) {
        const bl_catalog_entry_t *newest = NULL;
        for (size_t i = 0; i < catalog->count; i++) {
                const bl_catalog_entry_t *entry = &catalog->entries[i];
                if (strcmp(entry->contract, contract))
                        continue;
                if (entry->version == version)
                        return entry;
                newest = entry;
        }
        return version == 0 ? newest : NULL;
}
