/*
 * schemas.h: Avro schemas by id, from the file registry (schemas/ids.json)
 * or a Confluent-compatible Schema Registry, parsed once and cached for the
 * life of the process (ids are immutable).
 */
#ifndef BL_SCHEMAS_H
#define BL_SCHEMAS_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "contract/catalog.h"
#include "contract/fetcher.h"
#include "contract/registry.h"
#include "base/err.h"

/** One parsed schema. Owned by the cache; valid until bl_schemas_destroy. */
typedef struct bl_schema_s {
        int32_t id;
        const char *contract; /* catalog contract name, or NULL for a schema only the registry knows */
        int version;          /* catalog version, or 0 */
        bool from_catalog;    /* parsed from schemas/; with a registry, its id is the catalog's, not the registry's */
        json_t *json;
        avro_schema_t avro;
        avro_value_iface_t *iface;
        avro_value_t value;   /* reused for every record decoded with this schema */

        /* Whether the reader contract can read data written with this schema:
         * computed once by the decoder (contract/decoder.c). */
        bool compat_checked;
        bool compat_ok;
        char compat_reason[256];
        /* How contract/records_item.c reads BacklogItems written with this schema straight from
         * their bytes: planned on the first one, freed with the schema (bl_records_item_plan_free). */
        void *item_plan;
} bl_schema_t;

typedef struct bl_schemas_s bl_schemas_t;

/**
 * A cache over @p catalog (borrowed; it must outlive the cache) and, when
 * @p registry is not NULL (borrowed too), the registry. Without a registry
 * the catalog's ids are the only ids there are.
 */
bl_schemas_t *bl_schemas_new(const bl_catalog_t *catalog, bl_registry_t *registry, char *errstr,
                             size_t errstr_size);
void bl_schemas_destroy(bl_schemas_t *schemas);

/**
 * From now on, ids the cache lacks are asked of the registry through
 * @p fetcher (borrowed; it must outlive the cache), and bl_schemas_get never
 * waits for the network. Without it, a miss is a blocking request.
 */
void bl_schemas_use_fetcher(bl_schemas_t *schemas, bl_fetcher_t *fetcher);

/**
 * The schema with @p id. BL_ERR_NOT_FOUND when no source knows it (a
 * permanent fault for the record), BL_ERR_UNAVAILABLE when the registry
 * cannot answer now (transient), BL_ERR_PENDING when a fetcher is asking it
 * (transient: ask again shortly), BL_ERR_CONFIG when the schema it holds does
 * not parse. errstr says which. A cached id is a scan of a small array: no
 * lock, no request.
 */
bl_err_t bl_schemas_get(bl_schemas_t *schemas, int32_t id, bl_schema_t **schema, char *errstr, size_t errstr_size);

/**
 * Waits up to @p timeout_ms for the fetcher's answer about @p id, for a
 * caller that cannot go on without it (restore). True when bl_schemas_get
 * will no longer answer BL_ERR_PENDING for it; true at once without a fetcher.
 */
bool bl_schemas_wait(bl_schemas_t *schemas, int32_t id, int timeout_ms);

/** The newest catalog version of @p contract, parsed (the reader schema); NULL if the catalog lacks it. */
bl_schema_t *bl_schemas_newest(bl_schemas_t *schemas, const char *contract);

/** The catalog version @p version of @p contract (0: newest), parsed; NULL if absent. */
bl_schema_t *bl_schemas_version(bl_schemas_t *schemas, const char *contract, int version);

/**
 * A private copy of catalog schema @p contract @p version (0: newest), with a
 * value of its own: for encoding while the cache's value of the same schema
 * may hold a decoded record. The caller frees it with bl_schema_free.
 */
bl_schema_t *bl_schemas_private_copy(bl_schemas_t *schemas, const char *contract, int version);
void bl_schema_free(bl_schema_t *schema);

/**
 * Registers catalog schema @p schema under @p subject when a registry is
 * configured, and returns the id records must carry: the registry's id, or
 * the catalog id without a registry. Registering an existing schema is a
 * no-op that returns its id.
 */
bl_err_t bl_schemas_publish(bl_schemas_t *schemas, const bl_schema_t *schema, const char *subject, int32_t *id,
                            char *errstr, size_t errstr_size);

#endif
