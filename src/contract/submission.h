/*
 * submission.h: a task's submission, rebuilt from its item as a TaskEvent
 * document (SUBMITTED) for the dead-letter queue.
 */
#ifndef BL_SUBMISSION_H
#define BL_SUBMISSION_H

#include <jansson.h>

#include "core/item.h"

/**
 * The submission of @p item as a TaskEvent JSON object (a new reference: the caller json_decref()s it), with
 * the original event_id when the item still remembers it; NULL when a field cannot go into JSON (jansson
 * refuses strings that are not UTF-8, which validation keeps out of items).
 */
json_t *bl_submission_json(const bl_item_t *item);

#endif
