/*
 * gate.c: the refused output topics, a small array scanned linearly.
 *
 * Refusals are rare and few (at most the output topics of one instance), so
 * an array beats any index: bl_gate_wrote() on the hot path returns at once
 * while nothing is refused. An entry lives from the first refusal of its
 * topic until a batch that wrote to it commits.
 */
#include "pipeline/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gate_slot_s {
        char *topic;
        char cause[BL_GATE_CAUSE_MAX];
        int64_t since_ms, retry_at_ms, backoff_ms;
        uint64_t refusals;
        bool written; /* by the open batch */
} gate_slot_t;

struct bl_gate_s {
        gate_slot_t slots[BL_GATE_MAX];
        size_t count;
        int64_t first_backoff_ms, max_backoff_ms;
};

bl_gate_t *bl_gate_new(int64_t first_backoff_ms, int64_t max_backoff_ms) {
        bl_gate_t *gate = calloc(1, sizeof(*gate));
        if (!gate)
                return NULL;
        gate->first_backoff_ms = first_backoff_ms > 0 ? first_backoff_ms : 1;
        gate->max_backoff_ms = max_backoff_ms > gate->first_backoff_ms ? max_backoff_ms : gate->first_backoff_ms;
        return gate;
}

void bl_gate_destroy(bl_gate_t *gate) {
        if (!gate)
                return;
        for (size_t i = 0; i < gate->count; i++)
                free(gate->slots[i].topic);
        free(gate);
}

static gate_slot_t *find(const bl_gate_t *gate, const char *topic) {
        for (size_t i = 0; i < gate->count; i++)
                if (!strcmp(gate->slots[i].topic, topic))
                        return (gate_slot_t *)&gate->slots[i];
        return NULL;
}

static void remove_slot(bl_gate_t *gate, size_t index) {
        free(gate->slots[index].topic);
        memmove(&gate->slots[index], &gate->slots[index + 1], (gate->count - index - 1) * sizeof(gate->slots[0]));
        gate->count--;
}

/* A new slot for @p topic; when all are taken, the oldest refusal makes room (it is refused again if need be). */
static gate_slot_t *add_slot(bl_gate_t *gate, const char *topic) {
        char *copy = strdup(topic);
        if (!copy)
                return NULL;
        if (gate->count == BL_GATE_MAX)
                remove_slot(gate, 0);
        gate_slot_t *slot = &gate->slots[gate->count++];
        memset(slot, 0, sizeof(*slot));
        slot->topic = copy;
        return slot;
}

bool bl_gate_refused(bl_gate_t *gate, const char *topic, const char *cause, int64_t now_ms, int64_t *backoff_ms) {
        gate_slot_t *slot = find(gate, topic);
        bool first = slot == NULL;
        if (first && !(slot = add_slot(gate, topic))) {
                *backoff_ms = gate->first_backoff_ms;
                return false; /* out of memory: the pipeline's own hold back still waits */
        }
        if (first) {
                slot->since_ms = now_ms;
                slot->backoff_ms = gate->first_backoff_ms;
        } else {
                slot->backoff_ms = slot->backoff_ms * 2 < gate->max_backoff_ms ? slot->backoff_ms * 2
                                                                                : gate->max_backoff_ms;
        }
        snprintf(slot->cause, sizeof(slot->cause), "%s", cause && *cause ? cause : "refused");
        slot->retry_at_ms = now_ms + slot->backoff_ms;
        slot->refusals++;
        slot->written = false;
        *backoff_ms = slot->backoff_ms;
        return first;
}

bool bl_gate_open(const bl_gate_t *gate, const char *topic, int64_t now_ms) {
        if (!gate || gate->count == 0)
                return true;
        const gate_slot_t *slot = find(gate, topic);
        return !slot || now_ms >= slot->retry_at_ms;
}

const char *bl_gate_cause(const bl_gate_t *gate, const char *topic) {
        const gate_slot_t *slot = gate && gate->count ? find(gate, topic) : NULL;
        return slot ? slot->cause : NULL;
}

void bl_gate_wrote(bl_gate_t *gate, const char *topic) {
        if (!gate || gate->count == 0)
                return;
        gate_slot_t *slot = find(gate, topic);
        if (slot)
                slot->written = true;
}

static void entry_of(const gate_slot_t *slot, bl_gate_entry_t *entry) {
        *entry = (bl_gate_entry_t){slot->topic, slot->cause, slot->since_ms, slot->retry_at_ms, slot->backoff_ms,
                                   slot->refusals};
}

void bl_gate_committed(bl_gate_t *gate, bl_gate_reopened_cb *reopened, void *opaque) {
        for (size_t i = 0; gate && i < gate->count;) {
                if (!gate->slots[i].written) {
                        i++;
                        continue;
                }
                if (reopened) {
                        bl_gate_entry_t entry;
                        entry_of(&gate->slots[i], &entry);
                        reopened(&entry, opaque);
                }
                remove_slot(gate, i);
        }
}

void bl_gate_aborted(bl_gate_t *gate) {
        for (size_t i = 0; gate && i < gate->count; i++)
                gate->slots[i].written = false;
}

size_t bl_gate_count(const bl_gate_t *gate) {
        return gate ? gate->count : 0;
}

void bl_gate_foreach(const bl_gate_t *gate, void (*cb)(const bl_gate_entry_t *entry, void *opaque), void *opaque) {
        for (size_t i = 0; gate && i < gate->count; i++) {
                bl_gate_entry_t entry;
                entry_of(&gate->slots[i], &entry);
                cb(&entry, opaque);
        }
}
