/*
 * records_int.h: what contract/transitions.c needs of records.c's inside.
 */
#ifndef BL_RECORDS_INT_H
#define BL_RECORDS_INT_H

#include "contract/records.h"

/**
 * A copy of @p item in @p partition, without its payload: what a Transition
 * v3 told against it starts from. NULL when out of memory.
 */
bl_item_t *bl_records_item_copy_without_payload(const bl_item_t *item, int32_t partition);

#endif
