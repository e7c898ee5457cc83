/*
 * frozen.h: a task at rest held as a small stub while the rest of it lies
 * in a spill store (store/spill.h, reached through bl_spill_ops_t since core
 * may not include it).
 *
 * The stub keeps what the backlog's index, its timer heap and the
 * per-second walks (the census by state and domain, state_since,
 * approval) read without the task: task_id, kind, partition, state,
 * state_since and the timer's due time, two approval flags, the timer slot;
 * and where the
 * task's encoding (core/item_codec.h) is. Everything else (payload, event
 * ids, the cold part, the other times, scores, seq, attempts) is read back
 * by bl_frozen_thaw when anything touches the task.
 */
#ifndef BL_FROZEN_H
#define BL_FROZEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/item.h"
#include "core/item_codec.h"

/**
 * A spill store as core sees it: append bytes and learn where they went,
 * read them back, let them go. bl_frozen_* call these on the one thread
 * that owns the store.
 */
typedef struct bl_spill_ops_s {
        void *opaque;
        /** Stores the @p len bytes; their place in *@p offset. BL_ERR_IO when they could not be (nothing stored). */
        bl_err_t (*append)(void *opaque, const void *bytes, size_t len, uint64_t *offset, char *errstr,
                           size_t errstr_size);
        /** Copies the @p len bytes at @p offset into @p out. An error means they are lost. */
        bl_err_t (*read)(void *opaque, uint64_t offset, uint32_t len, void *out, char *errstr, size_t errstr_size);
        /** The bytes at @p offset are no longer needed. */
        void (*release)(void *opaque, uint64_t offset, uint32_t len);
} bl_spill_ops_t;

/* A stub's spill_place: the bytes' offset in its high bits, their length in its low BL_FROZEN_LEN_BITS. */
#define BL_FROZEN_LEN_BITS 24
#define BL_FROZEN_MAX_LEN ((UINT64_C(1) << BL_FROZEN_LEN_BITS) - 1)           /* 16 MiB - 1 */
#define BL_FROZEN_MAX_OFFSET ((UINT64_C(1) << (64 - BL_FROZEN_LEN_BITS)) - 1) /* 1 TiB - 1 */

/**
 * A frozen task: 42 bytes and its task_id (64 bytes with a 21-character
 * one, 80 with a UUID), in one piece of a stub arena (or one allocation of
 * its own without one). Its ready_since_ms is BL_NO_TIME
 * (bl_frozen_may_freeze), so not kept. Where its bytes are is one word:
 * read it with bl_frozen_spill_offset and bl_frozen_spill_len.
 */
typedef struct bl_frozen_s {
        const bl_kind_t *kind; /* a reference of its own, as the item held */
        int64_t state_since_ms;
        int64_t timer_due_ms;
        uint64_t spill_place; /* offset << BL_FROZEN_LEN_BITS | length */
        uint32_t timer_slot;  /* as the item's: the backlog's position of it in the timer heap */
        int32_t partition;
        uint8_t state;        /* a bl_state_t */
        bool approval_required : 1;
        bool approved : 1;
        bool overdue : 1;
        char task_id[];
} bl_frozen_t;

static inline uint64_t bl_frozen_spill_offset(const bl_frozen_t *frozen) {
        return frozen->spill_place >> BL_FROZEN_LEN_BITS;
}

static inline uint32_t bl_frozen_spill_len(const bl_frozen_t *frozen) {
        return (uint32_t)(frozen->spill_place & BL_FROZEN_MAX_LEN);
}

/** Where the stub's bytes are after a compaction moved them to @p offset (at most BL_FROZEN_MAX_OFFSET). */
static inline void bl_frozen_move(bl_frozen_t *frozen, uint64_t offset) {
        frozen->spill_place = offset << BL_FROZEN_LEN_BITS | bl_frozen_spill_len(frozen);
}

/**
 * Where stubs live: blocks of BL_FROZEN_ARENA_BLOCK bytes carved into
 * stubs by size (8-byte steps), each freed stub kept for the next of its
 * size. No malloc header or 16-byte rounding per stub, and no stub among the
 * short-lived allocations of whole items, whose holes would keep the heap
 * large after they are freed. Stubs larger than BL_FROZEN_ARENA_MAX_STUB
 * (a task_id of more than about 460 bytes) are allocated on their own. The
 * blocks are kept until the arena is destroyed, for the stubs to come.
 * One thread: the owner's.
 */
typedef struct bl_frozen_arena_s bl_frozen_arena_t;

#define BL_FROZEN_ARENA_BLOCK ((size_t)1 << 20)
#define BL_FROZEN_ARENA_MAX_STUB 512

/** A new, empty arena; NULL when out of memory. */
bl_frozen_arena_t *bl_frozen_arena_new(void);
/** Frees every block, and with them the stubs still in them (whose kinds must have been let go). NULL is a no-op. */
void bl_frozen_arena_destroy(bl_frozen_arena_t *arena);
/** The bytes of the arena's blocks (stubs and free room alike). */
size_t bl_frozen_arena_bytes(const bl_frozen_arena_t *arena);

/**
 * Whether the backlog may freeze @p item: at rest (not READY, which the
 * scheduler scores; not a placeholder, which dependents fill in; not waiting
 * for an approval), not in the scheduler's heap, and without a
 * ready_since_ms (which only a READY task has, unless a snapshot says
 * otherwise).
 */
bool bl_frozen_may_freeze(const bl_item_t *item);

/**
 * Encodes @p item into @p scratch (reused across calls), appends it through
 * @p spill and returns a new stub of it, in @p arena (NULL: an allocation of
 * its own); the item is left as it was, for the
 * caller to destroy once the stub has taken its place. NULL when the store
 * refused the bytes (errstr says why, BL_ERR_IO in *@p err), they are more
 * than BL_FROZEN_MAX_LEN or would lie past BL_FROZEN_MAX_OFFSET
 * (BL_ERR_INVALID_ARG), or memory ran out (BL_ERR_NOMEM): the caller keeps
 * the item whole, nothing is lost.
 */
bl_frozen_t *bl_frozen_freeze(const bl_item_t *item, const bl_spill_ops_t *spill, bl_frozen_arena_t *arena,
                              bl_item_bytes_t *scratch, bl_err_t *err, char *errstr, size_t errstr_size);

/**
 * A new item, whole again, from @p frozen: read, decoded, its timer slot the
 * stub's. The stub and its bytes in the store stay, for the caller to let go
 * with bl_frozen_release once the item has taken their place. NULL with
 * *@p err BL_ERR_IO or BL_ERR_MISMATCH when the bytes could not be read or
 * decoded (the task is lost: the owner must stop, errstr names the task and
 * the reason), BL_ERR_NOMEM when memory ran out (the stub stays good).
 */
bl_item_t *bl_frozen_thaw(const bl_frozen_t *frozen, const bl_spill_ops_t *spill, bl_item_bytes_t *scratch,
                          bl_err_t *err, char *errstr, size_t errstr_size);

/**
 * Lets go of the stub's bytes in the store and frees it (its kind reference
 * too) back to @p arena, the one it was made in. NULL is a no-op.
 */
void bl_frozen_release(bl_frozen_t *frozen, const bl_spill_ops_t *spill, bl_frozen_arena_t *arena);

/**
 * Frees the stub (back to @p arena, the one it was made in) and its kind
 * reference, leaving its bytes in the store (which is going away). NULL is a
 * no-op.
 */
void bl_frozen_destroy(bl_frozen_t *frozen, bl_frozen_arena_t *arena);

/**
 * The heap bytes the stub holds as bl_item_held_bytes counts them: its piece
 * of @p arena, or its malloc chunk.
 */
size_t bl_frozen_held_bytes(const bl_frozen_t *frozen, const bl_frozen_arena_t *arena);

#endif
