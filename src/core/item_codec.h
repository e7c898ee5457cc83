/*
 * item_codec.h: an item's every field as a compact run of bytes and back:
 * the form a task at rest takes in the spill store (store/spill.h) while
 * the backlog keeps only a small stub of it. Pure C, no schema: the bytes
 * never leave the process (the spill file dies with it), so the format can
 * change with any release.
 */
#ifndef BL_ITEM_CODEC_H
#define BL_ITEM_CODEC_H

#include <stddef.h>

#include "base/err.h"
#include "core/item.h"

/** A growable byte buffer that bl_item_encode fills; reuse it across items. */
typedef struct bl_item_bytes_s {
        unsigned char *bytes;
        size_t size;
        size_t capacity;
} bl_item_bytes_t;

/** Frees the buffer's bytes and empties it. */
void bl_item_bytes_free(bl_item_bytes_t *buffer);

/**
 * Replaces @p out's contents by the encoding of @p item: task_id, kind,
 * partition, seq, scores, every time, attempts, state, flags, payload,
 * recent event ids, cold fields, and the backlog's timer_due_ms and overdue
 * (not its heap slots or held_bytes, which depend on where the item is
 * held). False when out of memory; @p out then holds no encoding.
 */
bool bl_item_encode(const bl_item_t *item, bl_item_bytes_t *out);

/**
 * A new item from the @p size bytes at @p bytes that bl_item_encode made:
 * equal in every encoded field, its cold part packed in one allocation, its
 * heap slots unset, held_bytes 0. BL_ERR_MISMATCH (errstr says where) when
 * the bytes are not such an encoding (cut short, a length past the end,
 * bytes left over); BL_ERR_NOMEM.
 */
bl_err_t bl_item_decode(const void *bytes, size_t size, bl_item_t **out, char *errstr, size_t errstr_size);

#endif
