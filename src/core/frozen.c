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
 * new one is whole, so that no failure loses a task. One thread: the
 * store's owner.
 */
#include "core/frozen.h"

#include "core/kind.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

bool bl_frozen_may_freeze(const bl_item_t *item) {
        return item->state != BL_STATE_READY && !item->placeholder && item->sched_slot == BL_ITEM_NO_SLOT &&
               !(item->approval_required && !item->approved) && item->ready_since_ms == BL_NO_TIME;
}

static bl_frozen_t *stub_of(const bl_item_t *item) {
        size_t id_size = strlen(item->task_id) + 1;
        bl_frozen_t *frozen = malloc(offsetof(bl_frozen_t, task_id) + id_size);
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
        memcpy(frozen->task_id, item->task_id, id_size);
        return frozen;
}

bl_frozen_t *bl_frozen_freeze(const bl_item_t *item, const bl_spill_ops_t *spill, bl_item_bytes_t *scratch,
                              bl_err_t *err, char *errstr, size_t errstr_size) {
        *err = BL_OK;
        if (!bl_item_encode(item, scratch) || scratch->size > UINT32_MAX) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "freezing task %s: out of memory",
                                  item->task_id);
                return NULL;
        }
        uint64_t offset = 0;
        *err = spill->append(spill->opaque, scratch->bytes, scratch->size, &offset, errstr, errstr_size);
        if (*err)
                return NULL;
        bl_frozen_t *frozen = stub_of(item);
        if (!frozen) {
                spill->release(spill->opaque, offset, (uint32_t)scratch->size);
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "freezing task %s: out of memory",
                                  item->task_id);
                return NULL;
        }
        frozen->spill_offset = offset;
        frozen->spill_len = (uint32_t)scratch->size;
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
        if (!scratch_fit(scratch, frozen->spill_len)) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "thawing task %s: out of memory",
                                  frozen->task_id);
                return NULL;
        }
        scratch->size = frozen->spill_len;
        *err = spill->read(spill->opaque, frozen->spill_offset, frozen->spill_len, scratch->bytes, reason,
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

void bl_frozen_release(bl_frozen_t *frozen, const bl_spill_ops_t *spill) {
        if (!frozen)
                return;
        spill->release(spill->opaque, frozen->spill_offset, frozen->spill_len);
        bl_frozen_destroy(frozen);
}

void bl_frozen_destroy(bl_frozen_t *frozen) {
        if (!frozen)
                return;
        bl_kind_release(frozen->kind);
        free(frozen);
}

size_t bl_frozen_held_bytes(const bl_frozen_t *frozen) {
        size_t size = offsetof(bl_frozen_t, task_id) + strlen(frozen->task_id) + 1 + 8; /* malloc's header */
        size = (size + 15) & ~(size_t)15;
        return size < 32 ? 32 : size;
}
