/*
 * spill_glue.c: the pipeline's spill store behind the backlog's
 * bl_spill_ops_t.
 *
 * Three calls that turn the ops' (offset, len) pairs into the store's refs
 * and back; the store does the rest (its file, buffer, counts). A refused
 * append comes back to the backlog as an error, which keeps the task whole;
 * a failed read comes back as one too, which the backlog treats as the loss
 * of the task. Compaction gathers where the backlog's frozen tasks are in
 * one walk (bl_backlog_foreach_frozen), then walks that array twice as the
 * store asks (copy, new offsets), and moves each stub to its new offset once
 * the copy went through. Pipeline thread only, as the backlog that calls it.
 */
#include "pipeline/spill_glue.h"

#include <stdlib.h>

#include "base/log.h"

struct bl_spill_glue_s {
        bl_spill_t *store;
        bl_spill_ops_t ops; /* opaque: the store */
};

static bl_err_t glue_append(void *opaque, const void *bytes, size_t len, uint64_t *offset, char *errstr,
                            size_t errstr_size) {
        bl_spill_ref_t ref;
        bl_err_t err = bl_spill_append(opaque, bytes, len, &ref, errstr, errstr_size);
        if (err == BL_OK)
                *offset = ref.offset;
        return err;
}

static bl_err_t glue_read(void *opaque, uint64_t offset, uint32_t len, void *out, char *errstr,
                          size_t errstr_size) {
        return bl_spill_read(opaque, (bl_spill_ref_t){offset, len}, out, errstr, errstr_size);
}

static void glue_release(void *opaque, uint64_t offset, uint32_t len) {
        bl_spill_release(opaque, (bl_spill_ref_t){offset, len});
}

bl_err_t bl_spill_glue_new(const bl_config_t *config, bl_spill_glue_t **out, char *errstr, size_t errstr_size) {
        *out = NULL;
        if (!config->backlog_spill_enabled)
                return BL_OK;
        bl_spill_glue_t *glue = calloc(1, sizeof(*glue));
        if (!glue)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "spill store: out of memory");
        char store_error[512];
        bl_err_t err = bl_spill_new(config->backlog_spill_dir, &glue->store, store_error, sizeof(store_error));
        if (err != BL_OK) {
                free(glue);
                return bl_err_set(errstr, errstr_size, err, "backlog.spill_dir: %s", store_error);
        }
        glue->ops = bl_spill_ops_over(glue->store);
        bl_log_info("spill", "tasks at rest go to an unlinked file in %s", bl_spill_dir(glue->store));
        *out = glue;
        return BL_OK;
}

void bl_spill_glue_destroy(bl_spill_glue_t *glue) {
        if (!glue)
                return;
        bl_spill_destroy(glue->store);
        free(glue);
}

bl_spill_ops_t bl_spill_ops_over(bl_spill_t *store) {
        return (bl_spill_ops_t){store, glue_append, glue_read, glue_release};
}

const bl_spill_ops_t *bl_spill_glue_ops(const bl_spill_glue_t *glue) {
        return glue ? &glue->ops : NULL;
}

/* Where one frozen task's bytes are: its stub, and their offset (which the compaction rewrites) and size. */
typedef struct frozen_place_s {
        bl_frozen_t *frozen;
        uint64_t offset;
        uint32_t len;
} frozen_place_t;

typedef struct frozen_places_s {
        frozen_place_t *places;
        size_t count;
        size_t capacity;
        size_t at; /* the walk's position */
        bool out_of_memory;
} frozen_places_t;

static void gather_place(bl_frozen_t *frozen, void *opaque) {
        frozen_places_t *gathered = opaque;
        if (gathered->count == gathered->capacity && !gathered->out_of_memory) {
                size_t capacity = gathered->capacity ? gathered->capacity * 2 : 4096;
                frozen_place_t *grown = realloc(gathered->places, capacity * sizeof(*grown));
                if (!grown)
                        gathered->out_of_memory = true;
                else {
                        gathered->places = grown;
                        gathered->capacity = capacity;
                }
        }
        if (!gathered->out_of_memory)
                gathered->places[gathered->count++] =
                        (frozen_place_t){frozen, bl_frozen_spill_offset(frozen), bl_frozen_spill_len(frozen)};
}

static void places_start(void *opaque) {
        ((frozen_places_t *)opaque)->at = 0;
}

static bool places_next(void *opaque, uint64_t **offset, uint32_t *len) {
        frozen_places_t *gathered = opaque;
        if (gathered->at == gathered->count)
                return false;
        *offset = &gathered->places[gathered->at].offset;
        *len = gathered->places[gathered->at].len;
        gathered->at++;
        return true;
}

bool bl_spill_glue_compact_if_due(bl_spill_glue_t *glue, bl_backlog_t *backlog, uint64_t min_file_bytes) {
        if (!glue || !bl_spill_wants_compaction(glue->store, min_file_bytes))
                return false;
        frozen_places_t gathered = {0};
        bl_backlog_foreach_frozen(backlog, gather_place, &gathered);
        char errstr[512] = "out of memory gathering the frozen tasks";
        bl_spill_stats_t before;
        bl_spill_stats(glue->store, &before);
        bl_spill_walk_t walk = {.opaque = &gathered, .start = places_start, .next = places_next};
        bl_err_t err = gathered.out_of_memory ? BL_ERR_NOMEM : bl_spill_compact(glue->store, &walk, errstr,
                                                                                sizeof(errstr));
        for (size_t i = 0; err == BL_OK && i < gathered.count; i++) /* the copy went through: the stubs follow */
                bl_frozen_move(gathered.places[i].frozen, gathered.places[i].offset);
        free(gathered.places);
        if (err != BL_OK) {
                bl_log_warn("spill", "compaction failed, the file stays at %llu bytes: %s",
                            (unsigned long long)before.file_bytes, errstr);
                return false;
        }
        bl_log_info("spill", "compacted: %llu live bytes of %zu tasks kept, %llu dead bytes dropped",
                    (unsigned long long)before.live_bytes, gathered.count, (unsigned long long)before.dead_bytes);
        return true;
}

void bl_spill_glue_stats(const bl_spill_glue_t *glue, bl_spill_stats_t *out) {
        if (!glue) {
                *out = (bl_spill_stats_t){0};
                return;
        }
        bl_spill_stats(glue->store, out);
}
