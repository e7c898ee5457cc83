/*
 * source.c: open the catalog, the registry client and the schema cache in
 * one step, for every command that reads or writes contracts; and, for the
 * pipeline, the fetcher that takes the cache's registry look-ups off its
 * thread. The registry handle of the source stays with the caller's thread
 * (registering schemas at start-up); the fetcher's thread has its own.
 */
#include "contract/source.h"

#include <string.h>

bool bl_contract_source_open(bl_contract_source_t *source, const bl_config_t *config, char *errstr,
                             size_t errstr_size) {
        memset(source, 0, sizeof(*source));
        source->catalog = bl_catalog_load(bl_config_schemas_dir(config), errstr, errstr_size);
        if (source->catalog && *config->registry_url)
                source->registry = bl_registry_new_from_config(config, NULL, errstr, errstr_size);
        if (source->catalog && (source->registry || !*config->registry_url))
                source->schemas = bl_schemas_new(source->catalog, source->registry, errstr, errstr_size);
        if (!source->schemas) {
                bl_contract_source_close(source);
                return false;
        }
        return true;
}

bool bl_contract_source_fetch_async(bl_contract_source_t *source, const bl_config_t *config, char *errstr,
                                    size_t errstr_size) {
        bl_registry_t *registry;
        if (!source->registry || source->fetcher)
                return true;
        registry = bl_registry_new_from_config(config, NULL, errstr, errstr_size);
        if (!registry || !(source->fetcher = bl_fetcher_new(registry, errstr, errstr_size)))
                return false;
        bl_schemas_use_fetcher(source->schemas, source->fetcher);
        return true;
}

void bl_contract_source_close(bl_contract_source_t *source) {
        bl_fetcher_destroy(source->fetcher); /* first: its thread is joined before the cache it feeds goes */
        bl_schemas_destroy(source->schemas);
        bl_registry_destroy(source->registry);
        bl_catalog_destroy(source->catalog);
        memset(source, 0, sizeof(*source));
}
