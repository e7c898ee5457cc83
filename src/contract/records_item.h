/*
 * records_item.h: BacklogItem snapshots read straight from their Avro bytes,
 * without avro-c's generic values (records_item.c). Internal to the records
 * module: contract/records.c tries it before the generic path and keeps the
 * generic path's verdict whenever it declines.
 */
#ifndef BL_RECORDS_ITEM_H
#define BL_RECORDS_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/records.h"
#include "contract/schemas.h"
#include "core/item.h"
#include "core/reason.h"

/**
 * Reads the Avro body of a BacklogItem written with @p writer (the cache's
 * schema, a BacklogItem record) into a new item of @p partition. NULL with
 * *@p declined true when this reader does not take the record: a writer
 * shape it does not know, bytes it does not accept as they are (malformed,
 * not UTF-8, a NUL, a map key twice, an unknown state symbol, a required
 * field null): the caller then reads it the generic way, which gives the
 * verdict and its message. NULL with *@p declined false and a transient
 * @p error when out of memory. An item it returns is the one the generic
 * path would return for the same bytes.
 *
 * The plan of a writer is made on its first record and kept in @p writer
 * (writer->item_plan, freed with the schema by bl_records_item_plan_free),
 * with references to the kinds met last. Not thread-safe: the schema cache
 * is one thread's.
 */
bl_item_t *bl_records_item_read(bl_schema_t *writer, const unsigned char *body, size_t size, int32_t partition,
                                bool *declined, bl_record_error_t *error);

/**
 * The same, read in place into @p view (records.h, bl_records_decode_item_view):
 * true with view->item set, its payload pointing into @p body. False with
 * *@p declined as above, or a transient @p error when out of memory.
 */
bool bl_records_item_read_view(bl_schema_t *writer, const unsigned char *body, size_t size, int32_t partition,
                               bl_records_item_view_t *view, bool *declined, bl_record_error_t *error);

/** Frees a writer's plan (bl_schema_t.item_plan) and gives back the kinds it holds. NULL is a no-op. */
void bl_records_item_plan_free(void *plan);

#endif
