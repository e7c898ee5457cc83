/*
 * spill_glue.h: the pipeline's spill store (store/spill.h), made from the
 * configuration (backlog.spill_enabled, backlog.spill_dir) and handed to the
 * backlog as the bl_spill_ops_t of core/frozen.h, since core may not include
 * store/. One per pipeline, on the pipeline's thread.
 */
#ifndef BL_SPILL_GLUE_H
#define BL_SPILL_GLUE_H

#include <stddef.h>

#include "base/err.h"
#include "core/backlog.h"
#include "core/frozen.h"
#include "ops/config.h"
#include "store/spill.h"

typedef struct bl_spill_glue_s bl_spill_glue_t;

/**
 * The spill store of @p config: a file made and unlinked in
 * backlog.spill_dir, logged with its directory. With backlog.spill_enabled
 * false, *@p out is NULL and BL_OK (tasks stay whole). BL_ERR_IO when no file
 * can be made there (errstr names the key and the directory: startup must
 * stop rather than run without the memory it was sized for); BL_ERR_NOMEM.
 */
bl_err_t bl_spill_glue_new(const bl_config_t *config, bl_spill_glue_t **out, char *errstr, size_t errstr_size);
/** Closes the store's file. NULL is a no-op. The backlog that used its ops must be gone first. */
void bl_spill_glue_destroy(bl_spill_glue_t *glue);

/** What bl_backlog_options_t.spill takes, valid for the glue's life; NULL for a NULL glue. */
const bl_spill_ops_t *bl_spill_glue_ops(const bl_spill_glue_t *glue);

/** The backlog's spill operations over @p store (NULL: to be set later), as the glue hands them on; for tests and
 * benches that make a store of their own. */
bl_spill_ops_t bl_spill_ops_over(bl_spill_t *store);

/**
 * Between batches, after bl_backlog_freeze_at_rest: when the store's dead
 * bytes pass its live ones in a file of at least @p min_file_bytes
 * (BL_SPILL_COMPACT_MIN_BYTES in a deployment), copies @p backlog's frozen
 * tasks' bytes to a new file and moves their stubs to it. It gathers the
 * stubs' places first (16 bytes a frozen task, freed at the end). A failed
 * compaction changes nothing and is logged: the file stays as large until
 * the next try. Nothing for a NULL glue. Returns whether it compacted.
 */
bool bl_spill_glue_compact_if_due(bl_spill_glue_t *glue, bl_backlog_t *backlog, uint64_t min_file_bytes);

/** The store's figures for metrics; all 0 for a NULL glue. */
void bl_spill_glue_stats(const bl_spill_glue_t *glue, bl_spill_stats_t *out);

#endif
