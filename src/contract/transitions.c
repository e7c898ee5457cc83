/*
 * transitions.c: the Transition reader that carries a v3 record's item
 * forward from the task's record before it (transitions.h).
 *
 * Design: a map from task id to a kept copy of the task's last record (its
 * seq, cause, event, origin, instance and item without payload), handed to
 * bl_records_decode_transition_after as the base of the next. The map is
 * open addressing with linear probing, at most half full; forgetting a
 * partition rebuilds it without that partition's tasks, which costs the
 * map's size once per transaction and partition.
 *
 * Invariants: a kept record is the reader's own, never one handed out; a
 * task is kept only from a record decoded whole (item known or absent by
 * its base). Thread: the caller's.
 */
#include "contract/transitions.h"

#include <stdlib.h>
#include <string.h>

#include "contract/records_int.h"

#define FIRST_SLOTS 64

typedef struct kept_s {
        bl_transition_record_t *record; /* NULL: a free slot */
        int32_t partition;
        uint64_t hash;
} kept_t;

struct bl_transition_reader_s {
        bl_schemas_t *schemas;
        size_t max_tasks;
        kept_t *slots;
        size_t capacity, count;
        int64_t *last_offsets; /* by partition; -1: none yet */
        size_t partitions;
};

static uint64_t hash_of(const void *key, size_t size) {
        uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
        for (size_t i = 0; i < size; i++)
                hash = (hash ^ ((const unsigned char *)key)[i]) * 1099511628211ULL;
        return hash;
}

bl_transition_reader_t *bl_transition_reader_new(bl_schemas_t *schemas, size_t max_tasks) {
        bl_transition_reader_t *reader = calloc(1, sizeof(*reader));
        if (!reader || !(reader->slots = calloc(FIRST_SLOTS, sizeof(*reader->slots)))) {
                free(reader);
                return NULL;
        }
        reader->schemas = schemas;
        reader->max_tasks = max_tasks ? max_tasks : BL_TRANSITION_READER_MAX_TASKS;
        reader->capacity = FIRST_SLOTS;
        return reader;
}

static void forget_all(bl_transition_reader_t *reader) {
        for (size_t i = 0; i < reader->capacity; i++) {
                bl_transition_record_destroy(reader->slots[i].record);
                reader->slots[i].record = NULL;
        }
        reader->count = 0;
}

void bl_transition_reader_destroy(bl_transition_reader_t *reader) {
        if (!reader)
                return;
        forget_all(reader);
        free(reader->slots);
        free(reader->last_offsets);
        free(reader);
}

size_t bl_transition_reader_kept(const bl_transition_reader_t *reader) {
        return reader->count;
}

/* The slot of the task @p key, or the free slot where it would go. */
static kept_t *find_slot(kept_t *slots, size_t capacity, const void *key, size_t key_size, uint64_t hash) {
        size_t i = (size_t)hash & (capacity - 1);
        while (slots[i].record &&
               (slots[i].hash != hash || strlen(slots[i].record->transition.task_id) != key_size ||
                memcmp(slots[i].record->transition.task_id, key, key_size)))
                i = (i + 1) & (capacity - 1);
        return &slots[i];
}

/* The map again, of @p capacity slots, without the tasks of @p partition (-2: keep every one). */
static bool rebuild(bl_transition_reader_t *reader, size_t capacity, int32_t partition) {
        kept_t *slots = calloc(capacity, sizeof(*slots));
        if (!slots)
                return false;
        reader->count = 0;
        for (size_t i = 0; i < reader->capacity; i++) {
                kept_t *kept = &reader->slots[i];
                if (!kept->record)
                        continue;
                if (kept->partition == partition) {
                        bl_transition_record_destroy(kept->record);
                        continue;
                }
                const char *task_id = kept->record->transition.task_id;
                *find_slot(slots, capacity, task_id, strlen(task_id), kept->hash) = *kept;
                reader->count++;
        }
        free(reader->slots);
        reader->slots = slots;
        reader->capacity = capacity;
        return true;
}

/* Forgets the task @p key, if kept. */
static void forget_task(bl_transition_reader_t *reader, const void *key, size_t key_size) {
        kept_t *slot = find_slot(reader->slots, reader->capacity, key, key_size, hash_of(key, key_size));
        if (!slot->record)
                return;
        bl_transition_record_destroy(slot->record);
        slot->record = NULL;
        reader->count--;
        /* the slots after it in its run may have probed past it: put them back where they now go */
        for (size_t i = (size_t)(slot - reader->slots + 1) & (reader->capacity - 1); reader->slots[i].record;
             i = (i + 1) & (reader->capacity - 1)) {
                kept_t moved = reader->slots[i];
                const char *task_id = moved.record->transition.task_id;
                reader->slots[i].record = NULL;
                *find_slot(reader->slots, reader->capacity, task_id, strlen(task_id), moved.hash) = moved;
        }
}

/* A gap in @p partition's offsets: a transaction ended (or records were skipped), its tasks go. */
static void note_offset(bl_transition_reader_t *reader, int32_t partition, int64_t offset) {
        if (offset < 0 || partition < 0)
                return;
        if ((size_t)partition >= reader->partitions) {
                size_t count = (size_t)partition + 1;
                int64_t *grown = realloc(reader->last_offsets, count * sizeof(*grown));
                if (!grown) {
                        forget_all(reader); /* without room to note where transactions end, keep nothing */
                        return;
                }
                for (size_t p = reader->partitions; p < count; p++)
                        grown[p] = -1;
                reader->last_offsets = grown;
                reader->partitions = count;
        }
        if (reader->last_offsets[partition] >= 0 && offset != reader->last_offsets[partition] + 1 && reader->count &&
            !rebuild(reader, reader->capacity, partition))
                forget_all(reader);
        reader->last_offsets[partition] = offset;
}

/* A copy of what the next record of the task may be told against: NULL when out of memory. */
static bl_transition_record_t *keep_copy(const bl_transition_record_t *record) {
        const bl_transition_t *t = &record->transition;
        bl_transition_record_t *kept = calloc(1, sizeof(*kept));
        bool ok = kept && (kept->transition.task_id = strdup(t->task_id)) &&
                  (kept->transition.cause = strdup(t->cause)) && (kept->instance = strdup(record->instance)) &&
                  (!t->event_id || (kept->transition.event_id = strdup(t->event_id))) &&
                  (!record->origin.topic || (kept->origin.topic = strdup(record->origin.topic))) &&
                  (!record->item ||
                   (kept->item = bl_records_item_copy_without_payload(record->item, record->item->partition)));
        if (!ok) {
                bl_transition_record_destroy(kept);
                return NULL;
        }
        kept->transition.seq = t->seq;
        kept->transition.occurred_at_ms = t->occurred_at_ms;
        kept->origin.partition = record->origin.partition;
        kept->origin.offset = record->origin.offset;
        kept->transition.origin = kept->origin.topic ? &kept->origin : NULL;
        return kept;
}

/* Keeps @p record as its task's last; a record whose base was unknown leaves the task unknown. */
static void keep(bl_transition_reader_t *reader, const bl_transition_record_t *record, int32_t partition) {
        const char *task_id = record->transition.task_id;
        size_t size = strlen(task_id);
        uint64_t hash = hash_of(task_id, size);
        bl_transition_record_t *kept;
        kept_t *slot;
        if (record->unknown_before || !(kept = keep_copy(record))) {
                forget_task(reader, task_id, size);
                return;
        }
        if (reader->count >= reader->max_tasks)
                forget_all(reader);
        if ((reader->count + 1) * 2 > reader->capacity && !rebuild(reader, reader->capacity * 2, -2)) {
                bl_transition_record_destroy(kept);
                forget_task(reader, task_id, size);
                return;
        }
        slot = find_slot(reader->slots, reader->capacity, task_id, size, hash);
        if (slot->record)
                bl_transition_record_destroy(slot->record);
        else
                reader->count++;
        *slot = (kept_t){kept, partition, hash};
}

bl_transition_record_t *bl_transition_reader_read(bl_transition_reader_t *reader, const void *key, size_t key_size,
                                                  const void *value, size_t size, int32_t partition, int64_t offset,
                                                  bl_record_error_t *error) {
        const bl_transition_record_t *before = NULL;
        bl_transition_record_t *record;
        note_offset(reader, partition, offset);
        if (key) {
                kept_t *slot = find_slot(reader->slots, reader->capacity, key, key_size, hash_of(key, key_size));
                before = slot->record;
        }
        record = bl_records_decode_transition_after(reader->schemas, value, size, partition, before, error);
        if (!record && key)
                forget_task(reader, key, key_size);
        else if (record && key && (strlen(record->transition.task_id) != key_size ||
                                   memcmp(record->transition.task_id, key, key_size)))
                forget_task(reader, key, key_size); /* a record under another key than its task's */
        if (record)
                keep(reader, record, partition);
        return record;
}
