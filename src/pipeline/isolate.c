/*
 * isolate.c: the bisection that finds a batch's culprit (isolate.h).
 *
 * Two batches can be alive at once: the one handed off and committing, and
 * the open one gathering behind it. Units are counted for each; a failure
 * drops both (batch.c aborts the one and discards the other), so both counts
 * start again. The allowance `limit` is 0 while batching is normal; a
 * record's fault sets it to half the failed batch's units, and each further
 * failure halves it again, down to 1. While the units of the last failed
 * batch have not all passed, the allowance stays as it is (a binary search:
 * growing back too early would take the culprit in again and fail once
 * more); once they have, or once the culprit is found, it doubles with each
 * commit. A failed batch of one unit names the culprit. While the culprit is being given up, a failure of that batch is
 * the giving up's own (its DEAD change or its letter cannot be written
 * either): the pipeline then gives it up harder, counted here.
 *
 * Pipeline thread only.
 */
#include "pipeline/isolate.h"

#include <stdlib.h>
#include <string.h>

struct bl_isolate_s {
        size_t normal_units; /* the allowance at which batching is normal again */
        size_t limit;        /* 0: normal; else most units a batch may take */
        size_t open_units, committing_units;
        size_t searched_units; /* units of the last failed batch not yet committed since: the search goes on */
        bl_unit_t open_last, committing_last;
        bool has_culprit;
        bl_unit_t culprit;
        int give_up_failures;
        uint64_t found;
};

bl_isolate_t *bl_isolate_new(size_t normal_units) {
        bl_isolate_t *isolate = calloc(1, sizeof(*isolate));
        if (!isolate)
                return NULL;
        isolate->normal_units = normal_units > 1 ? normal_units : 2;
        return isolate;
}

void bl_isolate_destroy(bl_isolate_t *isolate) {
        free(isolate);
}

/* Every record passes here: copy the name's own bytes, not the whole buffer. */
void bl_isolate_unit(bl_isolate_t *isolate, bl_unit_kind_t kind, const char *name, int32_t partition, int64_t offset) {
        bl_unit_t *last = &isolate->open_last;
        size_t length = strnlen(name, BL_UNIT_NAME_MAX - 1);
        memcpy(last->name, name, length);
        last->name[length] = '\0';
        last->kind = kind;
        last->partition = partition;
        last->offset = offset;
        isolate->open_units++;
}

size_t bl_isolate_room(const bl_isolate_t *isolate) {
        if (!isolate->limit)
                return SIZE_MAX;
        return isolate->limit > isolate->open_units ? isolate->limit - isolate->open_units : 0;
}

bool bl_isolate_active(const bl_isolate_t *isolate) {
        return isolate->limit > 0 || isolate->has_culprit;
}

void bl_isolate_handed_off(bl_isolate_t *isolate) {
        isolate->committing_units = isolate->open_units;
        isolate->committing_last = isolate->open_last;
        isolate->open_units = 0;
}

void bl_isolate_committed(bl_isolate_t *isolate) {
        size_t units = isolate->committing_units;
        isolate->committing_units = 0;
        if (isolate->searched_units > 0) {
                isolate->searched_units = units < isolate->searched_units ? isolate->searched_units - units : 0;
                return;
        }
        if (!isolate->limit || isolate->has_culprit)
                return;
        isolate->limit *= 2;
        if (isolate->limit >= isolate->normal_units)
                isolate->limit = 0;
}

bl_isolate_action_t bl_isolate_failed(bl_isolate_t *isolate, bl_fault_t fault, bool open) {
        size_t units = open ? isolate->open_units : isolate->committing_units;
        const bl_unit_t *last = open ? &isolate->open_last : &isolate->committing_last;
        bl_isolate_action_t action = BL_ISOLATE_WAIT;
        if (fault != BL_FAULT_RECORD) {
                action = BL_ISOLATE_WAIT; /* a culprit still waiting is given up once the fault is over */
        } else if (isolate->has_culprit && units >= 1 && last->kind == BL_UNIT_GIVE_UP) {
                isolate->give_up_failures++; /* the giving up failed too: harder next time */
                action = BL_ISOLATE_CULPRIT;
        } else if (units == 1) { /* a new culprit; one still waiting for its record comes back by itself */
                isolate->culprit = *last;
                isolate->has_culprit = true;
                isolate->give_up_failures = 0;
                isolate->limit = 1;
                isolate->searched_units = 0;
                action = BL_ISOLATE_CULPRIT;
        } else if (units > 1) {
                isolate->limit = units / 2;
                isolate->searched_units = units;
                action = BL_ISOLATE_BISECT;
        }
        isolate->open_units = 0;
        isolate->committing_units = 0;
        return action;
}

const bl_unit_t *bl_isolate_culprit(const bl_isolate_t *isolate, int *give_up_failures) {
        if (!isolate->has_culprit)
                return NULL;
        if (give_up_failures)
                *give_up_failures = isolate->give_up_failures;
        return &isolate->culprit;
}

void bl_isolate_culprit_done(bl_isolate_t *isolate) {
        isolate->has_culprit = false;
        isolate->give_up_failures = 0;
        isolate->found++;
}

void bl_isolate_culprit_forget(bl_isolate_t *isolate) {
        isolate->has_culprit = false;
        isolate->give_up_failures = 0;
}

uint64_t bl_isolate_found(const bl_isolate_t *isolate) {
        return isolate->found;
}
