/*
 * frozen.c: freezing a task at rest into a stub plus its encoding in a
 * spill store, and thawing it back.
 *
 * The stub copies the fields the backlog's walks read without thawing; the
 * encoding (core/item_codec.c) holds every field, those included, so a thaw
 * needs only the bytes and the stub's timer slot, and the item it makes
 * encodes to the same bytes as the one frozen. The store is reached through
 * bl_spill_ops_t: the pipeline hands in its store/spill.c, core's tests an
 * array in memory. Freezing copies and never changes the item, and thawing
 * never changes the stub: the caller swaps one for the other only when the
 * new one is whole, so that no failure loses a task. Stubs are carved from
 * the arena's blocks by size (the arena below). One thread: the store's
 * owner.
 */
#include "core/frozen.h"

#include "core/kind.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the stub arena -------------------------------------------------------------- */

#define ARENA_STEP 8 /* stub sizes are rounded up to this: the stubs' alignment */
#define ARENA_CLASSES (BL_FROZEN_ARENA_MAX_STUB / ARENA_STEP + 1)

struct bl_frozen_arena_s {
        void *free_stubs[ARENA_CLASSES]; /* by size / ARENA_STEP: freed stubs, each pointing at the next */
        unsigned char **blocks;
        size_t block_count, block_capacity;
        size_t carved; /* bytes handed out of the last block */
};

bl_frozen_arena_t *bl_frozen_arena_new(void) {
        return calloc(1, sizeof(bl_frozen_arena_t));
}

void bl_frozen_arena_destroy(bl_frozen_arena_t *arena) {
        if (!arena)
                return;
        for (size_t i = 0; i < arena->block_count; i++)
                free(arena->blocks[i]);
        free(arena->blocks);
        free(arena);
}

size_t bl_frozen_arena_bytes(const bl_frozen_arena_t *arena) {
        return arena ? arena->block_count * BL_FROZEN_ARENA_BLOCK : 0;
}

static size_t rounded_size(size_t size) {
        return (size + ARENA_STEP - 1) & ~(size_t)(ARENA_STEP - 1);
}

/* Whether a stub of @p size bytes lives in @p arena. */
static bool in_arena(const bl_frozen_arena_t *arena, size_t size) {
        return arena && rounded_size(size) <= BL_FROZEN_ARENA_MAX_STUB;
}

static bool arena_grow(bl_frozen_arena_t *arena) {
        if (arena->block_count == arena->block_capacity) {
                size_t capacity = arena->block_capacity ? arena->block_capacity * 2 : 16;
                unsigned char **blocks = realloc(arena->blocks, capacity * sizeof(*blocks));
                if (!blocks)
                        return false;
                arena->blocks = blocks;
                arena->block_capacity = capacity;
        }
        if (!(arena->blocks[arena->block_count] = malloc(BL_FROZEN_ARENA_BLOCK)))
                return false;
        arena->block_count++;
        arena->carved = 0;
        return true;
}

/* @p size bytes for a stub: a freed one of its size, else carved from the last block. NULL: out of memory. */
static void *arena_take(bl_frozen_arena_t *arena, size_t size) {
        size_t rounded = rounded_size(size);
        void **free_list = &arena->free_stubs[rounded / ARENA_STEP];
        void *stub = *free_list;
        if (stub) {
                memcpy(free_list, stub, sizeof(void *));
                return stub;
        }
        if ((!arena->block_count || arena->carved + rounded > BL_FROZEN_ARENA_BLOCK) && !arena_grow(arena))
                return NULL;
        stub = arena->blocks[arena->block_count - 1] + arena->carved;
        arena->carved += rounded;
        return stub;
}

static void arena_give(bl_frozen_arena_t *arena, void *stub, size_t size) {
        void **free_list = &arena->free_stubs[rounded_size(size) / ARENA_STEP];
        memcpy(stub, free_list, sizeof(void *));
        *free_list = stub;
}

/* ---- stubs --------------------------------------------------------------------------- */

/* The stub's bytes: its fields and its task_id, at least the struct (a short id ends inside its padding). */
static size_t stub_size(const char *task_id) {
        size_t size = offsetof(bl_frozen_t, task_id) + strlen(task_id) + 1;
        return size > sizeof(bl_frozen_t) ? size : sizeof(bl_frozen_t);
}

bool bl_frozen_may_freeze(const bl_item_t *item) {
        return item->state != BL_STATE_READY && !item->placeholder && item->sched_slot == BL_ITEM_NO_SLOT &&
               !(item->approval_required && !item->approved) && item->ready_since_ms == BL_NO_TIME;
}

static bl_frozen_t *stub_of(const bl_item_t *item, bl_frozen_arena_t *arena) {
        size_t size = stub_size(item->task_id);
        bl_frozen_t *frozen = in_arena(arena, size) ? arena_take(arena, size) : malloc(size);
        if (!frozen)
                return NULL;
        *frozen = (bl_frozen_t){
                .kind = bl_kind_hold(item->kind),
                .state_since_ms = item->state_since_ms,
                .timer_due_ms = item->timer_due_ms,
                .timer_slot = item->timer_slot,
                .partition = item->partition,
                .state = (uint8_t)item->state,
                .approval_required = item->approval_required,
                .approved = item->approved,
                .overdue = item->overdue,
        };
        memcpy(frozen->task_id, item->task_id, strlen(item->task_id) + 1);
        return frozen;
}

bl_frozen_t *bl_frozen_freeze(const bl_item_t *item, const bl_spill_ops_t *spill, bl_frozen_arena_t *arena,
                              bl_item_bytes_t *scratch, bl_err_t *err, char *errstr, size_t errstr_size) {
        *err = BL_OK;
        if (!bl_item_encode(item, scratch)) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "freezing task %s: out of memory",
                                  item->task_id);
                return NULL;
        }
        if (scratch->size > BL_FROZEN_MAX_LEN) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "freezing task %s: %zu bytes, more than a stub can point at", item->task_id,
                                  scratch->size);
                return NULL;
        }
        uint64_t offset = 0;
        *err = spill->append(spill->opaque, scratch->bytes, scratch->size, &offset, errstr, errstr_size);
        if (*err)
                return NULL;
        bl_frozen_t *frozen = offset <= BL_FROZEN_MAX_OFFSET ? stub_of(item, arena) : NULL;
        if (!frozen) {
                spill->release(spill->opaque, offset, (uint32_t)scratch->size);
                *err = offset > BL_FROZEN_MAX_OFFSET
                               ? bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                            "freezing task %s: the spill file passed 1 TiB", item->task_id)
                               : bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "freezing task %s: out of memory",
                                            item->task_id);
                return NULL;
        }
        frozen->spill_place = offset << BL_FROZEN_LEN_BITS | scratch->size;
        return frozen;
}

static bool scratch_fit(bl_item_bytes_t *scratch, size_t size) {
        if (size <= scratch->capacity)
                return true;
        unsigned char *grown = realloc(scratch->bytes, size);
        if (!grown)
                return false;
        scratch->bytes = grown;
        scratch->capacity = size;
        return true;
}

bl_item_t *bl_frozen_thaw(const bl_frozen_t *frozen, const bl_spill_ops_t *spill, bl_item_bytes_t *scratch,
                          bl_err_t *err, char *errstr, size_t errstr_size) {
        char reason[256] = "";
        bl_item_t *item = NULL;
        uint32_t len = bl_frozen_spill_len(frozen);
        if (!scratch_fit(scratch, len)) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "thawing task %s: out of memory",
                                  frozen->task_id);
                return NULL;
        }
        scratch->size = len;
        *err = spill->read(spill->opaque, bl_frozen_spill_offset(frozen), len, scratch->bytes, reason,
                           sizeof(reason));
        if (!*err)
                *err = bl_item_decode(scratch->bytes, scratch->size, &item, reason, sizeof(reason));
        if (!*err && strcmp(item->task_id, frozen->task_id)) {
                bl_item_destroy(item);
                item = NULL;
                *err = bl_err_set(reason, sizeof(reason), BL_ERR_MISMATCH, "the bytes are another task's");
        }
        if (*err) {
                bl_err_set(errstr, errstr_size, *err, "thawing task %s: %s", frozen->task_id, reason);
                return NULL;
        }
        item->timer_slot = frozen->timer_slot;
        return item;
}

void bl_frozen_release(bl_frozen_t *frozen, const bl_spill_ops_t *spill, bl_frozen_arena_t *arena) {
        if (!frozen)
                return;
        spill->release(spill->opaque, bl_frozen_spill_offset(frozen), bl_frozen_spill_len(frozen));
        bl_frozen_destroy(frozen, arena);
}

void bl_frozen_destroy(bl_frozen_t *frozen, bl_frozen_arena_t *arena) {
        if (!frozen)
                return;
        size_t size = stub_size(frozen->task_id);
        bl_kind_release(frozen->kind);
        if (in_arena(arena, size))
                arena_give(arena, frozen, size);
        else
                free(frozen);
}

size_t bl_frozen_held_bytes(const bl_frozen_t *frozen, const bl_frozen_arena_t *arena) {
        size_t size = stub_size(frozen->task_id);
        if (in_arena(arena, size))
                return rounded_size(size);
        size = (size + 8 + 15) & ~(size_t)15; /* malloc's header, its 16-byte steps */
        return size < 32 ? 32 : size;
}
