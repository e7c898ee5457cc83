/*
 * kind.c: the table of shared task kinds.
 *
 * One process-wide chained hash table, guarded by one mutex: items are made
 * on the pipeline thread, but the demo's workers and the replay tools decode
 * items on theirs. Each kind is one allocation (the entry, then its four
 * strings) with a reference count; the last release unlinks and frees it, so
 * a stream of one-off tenants does not grow the table for good. The table
 * doubles at a load of one and is freed when it empties.
 *
 * The lock is taken once per item made or freed, never per score: readers use
 * item->kind's strings without it, since a kind does not change while an item
 * holds it.
 */
#include "core/kind.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry_s {
        bl_kind_t kind; /* first: a bl_kind_t * is the entry's address */
        struct entry_s *next;
        uint64_t hash;
        size_t references;
        char text[];
} entry_t;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t **buckets;
static size_t bucket_count; /* a power of two, or 0 */
static size_t kind_count;

/* FNV-1a over the four fields, each ended by a byte no string holds, NULL apart from "". */
static uint64_t hash_fields(const char *const fields[4]) {
        uint64_t hash = 0xcbf29ce484222325ULL;
        for (int i = 0; i < 4; i++) {
                for (const char *c = fields[i]; c && *c; c++)
                        hash = (hash ^ (unsigned char)*c) * 0x100000001b3ULL;
                hash = (hash ^ (fields[i] ? 0x01u : 0x02u)) * 0x100000001b3ULL;
        }
        return hash;
}

static bool same_text(const char *a, const char *b) {
        return a == b || (a && b && !strcmp(a, b));
}

bool bl_kind_is(const bl_kind_t *kind, const char *task_type, const char *domain, const char *tenant,
                const char *sla_class) {
        return same_text(kind->task_type, task_type) && same_text(kind->domain, domain) &&
               same_text(kind->tenant, tenant) && same_text(kind->sla_class, sla_class);
}

static bool entry_matches(const entry_t *entry, uint64_t hash, const char *const fields[4]) {
        return entry->hash == hash && bl_kind_is(&entry->kind, fields[0], fields[1], fields[2], fields[3]);
}

static entry_t *entry_new(uint64_t hash, const char *const fields[4]) {
        size_t lengths[4], total = 0;
        for (int i = 0; i < 4; i++)
                total += (lengths[i] = fields[i] ? strlen(fields[i]) + 1 : 0);
        entry_t *entry = malloc(sizeof(*entry) + total);
        if (!entry)
                return NULL;
        const char **slots[4] = {&entry->kind.task_type, &entry->kind.domain, &entry->kind.tenant,
                                 &entry->kind.sla_class};
        char *at = entry->text;
        for (int i = 0; i < 4; i++) {
                *slots[i] = fields[i] ? memcpy(at, fields[i], lengths[i]) : NULL;
                at += lengths[i];
        }
        entry->next = NULL;
        entry->hash = hash;
        entry->references = 1;
        return entry;
}

/* Doubles the buckets; false when out of memory, the table then stays as it was. */
static bool grow(void) {
        size_t count = bucket_count ? bucket_count * 2 : 64;
        entry_t **grown = calloc(count, sizeof(*grown));
        if (!grown)
                return false;
        for (size_t b = 0; b < bucket_count; b++)
                for (entry_t *entry = buckets[b], *next; entry; entry = next) {
                        next = entry->next;
                        entry->next = grown[entry->hash & (count - 1)];
                        grown[entry->hash & (count - 1)] = entry;
                }
        free(buckets);
        buckets = grown;
        bucket_count = count;
        return true;
}

const bl_kind_t *bl_kind_intern(const char *task_type, const char *domain, const char *tenant, const char *sla_class) {
        const char *const fields[4] = {task_type, domain, tenant, sla_class};
        uint64_t hash = hash_fields(fields);
        entry_t *found = NULL;
        pthread_mutex_lock(&table_lock);
        for (entry_t *entry = bucket_count ? buckets[hash & (bucket_count - 1)] : NULL; entry; entry = entry->next)
                if (entry_matches(entry, hash, fields)) {
                        found = entry;
                        found->references++;
                        break;
                }
        if (!found && (kind_count < bucket_count || grow()) && (found = entry_new(hash, fields))) {
                entry_t **bucket = &buckets[hash & (bucket_count - 1)];
                found->next = *bucket;
                *bucket = found;
                kind_count++;
        }
        pthread_mutex_unlock(&table_lock);
        return found ? &found->kind : NULL;
}

const bl_kind_t *bl_kind_hold(const bl_kind_t *kind) {
        pthread_mutex_lock(&table_lock);
        ((entry_t *)kind)->references++;
        pthread_mutex_unlock(&table_lock);
        return kind;
}

void bl_kind_release(const bl_kind_t *kind) {
        if (!kind)
                return;
        entry_t *gone = (entry_t *)kind;
        pthread_mutex_lock(&table_lock);
        if (--gone->references == 0) {
                entry_t **link = &buckets[gone->hash & (bucket_count - 1)];
                while (*link != gone)
                        link = &(*link)->next;
                *link = gone->next;
                free(gone);
                if (--kind_count == 0) {
                        free(buckets);
                        buckets = NULL;
                        bucket_count = 0;
                }
        }
        pthread_mutex_unlock(&table_lock);
}

size_t bl_kind_count(void) {
        pthread_mutex_lock(&table_lock);
        size_t count = kind_count;
        pthread_mutex_unlock(&table_lock);
        return count;
}
