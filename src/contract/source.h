/*
 * source.h: where a process's contracts come from, as the config says: the
 * catalog in schemas.dir, and the Schema Registry when registry.url is set,
 * behind one schema cache.
 */
#ifndef BL_CONTRACT_SOURCE_H
#define BL_CONTRACT_SOURCE_H

#include <stdbool.h>

#include "contract/catalog.h"
#include "contract/fetcher.h"
#include "contract/registry.h"
#include "contract/schemas.h"
#include "ops/config.h"

typedef struct bl_contract_source_s {
        bl_catalog_t *catalog;
        bl_registry_t *registry; /* NULL: the file registry */
        bl_schemas_t *schemas;
        bl_fetcher_t *fetcher;   /* NULL: a miss blocks (the CLI commands); see below */
} bl_contract_source_t;

/** Opens all three (or two); false with errstr, and what was opened closed again. */
bool bl_contract_source_open(bl_contract_source_t *source, const bl_config_t *config, char *errstr,
                             size_t errstr_size);

/**
 * Moves the registry look-ups of the schema cache onto a thread of their own
 * (contract/fetcher.h), with a registry handle of its own: from now on a
 * miss never blocks, it answers BL_ERR_PENDING. For the pipeline; a no-op
 * without a registry. False with errstr when the thread cannot start.
 */
bool bl_contract_source_fetch_async(bl_contract_source_t *source, const bl_config_t *config, char *errstr,
                                    size_t errstr_size);

/** Closes what is open; safe on a zeroed or half-opened source. */
void bl_contract_source_close(bl_contract_source_t *source);

#endif
