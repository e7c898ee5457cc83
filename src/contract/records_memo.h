/*
 * records_memo.h: what the Transition writer remembers of each task within
 * one transaction (contract/records_encode.c): the bytes of the item its
 * last transition told, under the task's id and that transition's seq.
 * Cleared when the transaction ends (bl_records_forget_changes).
 */
#ifndef BL_RECORDS_MEMO_H
#define BL_RECORDS_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bl_records_memo_s bl_records_memo_t;

bl_records_memo_t *bl_records_memo_new(void);
void bl_records_memo_destroy(bl_records_memo_t *memo);

/** Forgets every task; the memory stays for the next transaction. */
void bl_records_memo_clear(bl_records_memo_t *memo);

/**
 * The bytes kept for @p task_id and their seq, or NULL. Valid until the
 * next put or clear.
 */
const unsigned char *bl_records_memo_find(const bl_records_memo_t *memo, const char *task_id, int64_t *seq,
                                          size_t *size);

/** Keeps a copy of @p size bytes for @p task_id at @p seq, in place of any before. False when out of memory. */
bool bl_records_memo_put(bl_records_memo_t *memo, const char *task_id, int64_t seq, const void *bytes, size_t size);

/** How many tasks are kept (for tests). */
size_t bl_records_memo_count(const bl_records_memo_t *memo);

#endif
