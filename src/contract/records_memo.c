/*
 * records_memo.c: a map from task id to the bytes the Transition writer
 * told of that task last in the open transaction (records_memo.h).
 *
 * Design: the keys and the bytes are appended to one arena that only grows
 * during a transaction; a task told again points at its new bytes and its
 * old ones stay until the clear. The index is open addressing with linear
 * probing over (hash, arena offset) slots, kept at most half full. A
 * transaction holds a few thousand tasks, so the arena is a few hundred KB
 * at most and the clear is a reset of two sizes and one memset.
 *
 * Invariants: every slot with used set points at a key and bytes inside the
 * arena; offsets, never pointers, so that the arena may move when it grows.
 * Thread: the encoder's (one per pipeline thread).
 */
#include "contract/records_memo.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_SLOTS 1024

typedef struct slot_s {
        uint64_t hash;
        size_t key_at;   /* the NUL-terminated key in the arena */
        size_t bytes_at; /* the bytes in the arena */
        size_t size;
        int64_t seq;
        bool used;
} slot_t;

struct bl_records_memo_s {
        slot_t *slots;
        size_t capacity, count;
        unsigned char *arena;
        size_t arena_size, arena_capacity;
};

static uint64_t hash_of(const char *key) {
        uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
        for (const unsigned char *c = (const unsigned char *)key; *c; c++)
                hash = (hash ^ *c) * 1099511628211ULL;
        return hash;
}

bl_records_memo_t *bl_records_memo_new(void) {
        bl_records_memo_t *memo = calloc(1, sizeof(*memo));
        if (!memo || !(memo->slots = calloc(FIRST_SLOTS, sizeof(*memo->slots)))) {
                free(memo);
                return NULL;
        }
        memo->capacity = FIRST_SLOTS;
        return memo;
}

void bl_records_memo_destroy(bl_records_memo_t *memo) {
        if (!memo)
                return;
        free(memo->slots);
        free(memo->arena);
        free(memo);
}

void bl_records_memo_clear(bl_records_memo_t *memo) {
        if (!memo->count)
                return;
        memset(memo->slots, 0, memo->capacity * sizeof(*memo->slots));
        memo->count = 0;
        memo->arena_size = 0;
}

size_t bl_records_memo_count(const bl_records_memo_t *memo) {
        return memo->count;
}

/* The slot of @p key, or the free slot where it would go. */
static slot_t *find_slot(const bl_records_memo_t *memo, const char *key, uint64_t hash) {
        size_t mask = memo->capacity - 1, i = (size_t)hash & mask;
        while (memo->slots[i].used &&
               (memo->slots[i].hash != hash || strcmp((const char *)memo->arena + memo->slots[i].key_at, key)))
                i = (i + 1) & mask;
        return &memo->slots[i];
}

const unsigned char *bl_records_memo_find(const bl_records_memo_t *memo, const char *task_id, int64_t *seq,
                                          size_t *size) {
        const slot_t *slot;
        if (!memo->count)
                return NULL;
        slot = find_slot(memo, task_id, hash_of(task_id));
        if (!slot->used)
                return NULL;
        *seq = slot->seq;
        *size = slot->size;
        return memo->arena + slot->bytes_at;
}

static bool grow_slots(bl_records_memo_t *memo) {
        bl_records_memo_t grown = *memo;
        grown.capacity = memo->capacity * 2;
        if (!(grown.slots = calloc(grown.capacity, sizeof(*grown.slots))))
                return false;
        for (size_t i = 0; i < memo->capacity; i++)
                if (memo->slots[i].used)
                        *find_slot(&grown, (const char *)memo->arena + memo->slots[i].key_at, memo->slots[i].hash) =
                                memo->slots[i];
        free(memo->slots);
        memo->slots = grown.slots;
        memo->capacity = grown.capacity;
        return true;
}

/* Appends @p size bytes to the arena; their offset, or SIZE_MAX when out of memory. */
static size_t append(bl_records_memo_t *memo, const void *bytes, size_t size) {
        size_t at = memo->arena_size;
        if (size > memo->arena_capacity - memo->arena_size) {
                size_t capacity = memo->arena_capacity ? memo->arena_capacity : 64 * 1024;
                while (capacity - memo->arena_size < size)
                        capacity *= 2;
                unsigned char *arena = realloc(memo->arena, capacity);
                if (!arena)
                        return SIZE_MAX;
                memo->arena = arena;
                memo->arena_capacity = capacity;
        }
        if (size)
                memcpy(memo->arena + at, bytes, size);
        memo->arena_size += size;
        return at;
}

bool bl_records_memo_put(bl_records_memo_t *memo, const char *task_id, int64_t seq, const void *bytes, size_t size) {
        uint64_t hash = hash_of(task_id);
        slot_t *slot;
        size_t bytes_at;
        if ((memo->count + 1) * 2 > memo->capacity && !grow_slots(memo))
                return false;
        slot = find_slot(memo, task_id, hash);
        if (!slot->used) {
                size_t key_at = append(memo, task_id, strlen(task_id) + 1);
                if (key_at == SIZE_MAX)
                        return false;
                *slot = (slot_t){.hash = hash, .key_at = key_at};
        }
        if ((bytes_at = append(memo, bytes, size)) == SIZE_MAX)
                return false; /* a new slot stays unused; an old one keeps its bytes */
        if (!slot->used)
                memo->count++;
        slot->used = true;
        slot->bytes_at = bytes_at;
        slot->size = size;
        slot->seq = seq;
        return true;
}
