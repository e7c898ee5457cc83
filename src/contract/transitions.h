/*
 * transitions.h: backlog.transitions read in order, each record with the
 * whole item after its change, whatever version wrote it.
 *
 * A Transition v3 tells the item of a task's later transition in a
 * transaction as changes against the one before it (schemas/transition/
 * v3.avsc). This reader keeps, for each task, what the task's last record
 * said, and hands every record back as version 2 did: the item whole
 * (without payload after the submission), cause, event and instance
 * spelled out. A record told against a transition the reader did not see
 * (it started mid-transaction, or past a record it could not decode) comes
 * back with unknown_before and no item: never a wrong one.
 *
 * Memory: a task is kept only until its transaction is over. With the
 * records' offsets, a gap in a partition's offsets (the commit marker of a
 * transaction takes one) forgets that partition's tasks; without them
 * (offset -1: a reader that skips records, such as one task's audit), at
 * most max_tasks are kept, and past that all are forgotten at once.
 * Not thread-safe; one per scan.
 */
#ifndef BL_TRANSITIONS_H
#define BL_TRANSITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "contract/records.h"

/* Tasks kept at most when no offsets tell where transactions end: about 100 MB of items. */
#define BL_TRANSITION_READER_MAX_TASKS 250000

typedef struct bl_transition_reader_s bl_transition_reader_t;

/** A reader over @p schemas (borrowed); @p max_tasks 0 takes the default. NULL when out of memory. */
bl_transition_reader_t *bl_transition_reader_new(bl_schemas_t *schemas, size_t max_tasks);
void bl_transition_reader_destroy(bl_transition_reader_t *reader);

/**
 * The record @p value of @p size with key @p key (NULL: unknown) at
 * @p offset of @p partition (-1: not said; the caller then passes only some
 * records, in offset order per partition), as bl_records_decode_transition
 * returns it, with the item of a v3 record carried forward. Records of a
 * partition come in offset order. NULL with @p error as that function
 * says; the task is then forgotten.
 */
bl_transition_record_t *bl_transition_reader_read(bl_transition_reader_t *reader, const void *key, size_t key_size,
                                                  const void *value, size_t size, int32_t partition, int64_t offset,
                                                  bl_record_error_t *error);

/** How many tasks the reader keeps now (for tests and the memory bound). */
size_t bl_transition_reader_kept(const bl_transition_reader_t *reader);

#endif
