/*
 * catalog.h: the contracts in schemas/: every version of every contract,
 * read from the id file (schemas/ids.json) and the .avsc files it names.
 *
 * The catalog is the file registry's content (stable ids when no Schema
 * Registry is configured) and the input of `backlogd contracts check`.
 */
#ifndef BL_CATALOG_H
#define BL_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bl_catalog_entry_s {
        int32_t id;        /* stable id from ids.json */
        char *contract;    /* "task_event" */
        int version;       /* 1, 2, ... */
        char *path;        /* the .avsc file */
        char *text;        /* its text, as registered */
        json_t *schema;    /* parsed */
} bl_catalog_entry_t;

typedef struct bl_catalog_s {
        bl_catalog_entry_t *entries; /* by contract, then version ascending */
        size_t count;
        char *dir;
} bl_catalog_t;

/**
 * Reads @p dir/ids.json and every file it lists. Checks that ids are
 * positive and unique, that each (contract, version) appears once, that
 * versions of a contract run 1, 2, ... without gaps, and that each file is a
 * JSON Avro schema. NULL with errstr naming the file and the problem.
 */
bl_catalog_t *bl_catalog_load(const char *dir, char *errstr, size_t errstr_size);
void bl_catalog_destroy(bl_catalog_t *catalog);

/** The entry with @p id, or NULL. */
const bl_catalog_entry_t *bl_catalog_by_id(const bl_catalog_t *catalog, int32_t id);

/** The entry of @p contract at @p version (0: the newest), or NULL. */
const bl_catalog_entry_t *bl_catalog_find(const bl_catalog_t *catalog, const char *contract, int version);

#endif
