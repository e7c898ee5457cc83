/*
 * source.c: open the catalog, the registry client and the schema cache in
 * one step, for every command that reads or writes contracts.
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

void bl_contract_source_close(bl_contract_source_t *source) {
        bl_schemas_destroy(source->schemas);
        bl_registry_destroy(source->registry);
        bl_catalog_destroy(source->catalog);
        memset(source, 0, sizeof(*source));
}
