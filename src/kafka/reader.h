/*
 * reader.h: read a topic (or one partition of it) from the beginning to its
 * end as a read_committed consumer outside any group: how an instance
 * restores backlog.state, and how inspect, audit and replay read history.
 */
#ifndef BL_READER_H
#define BL_READER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops/config.h"
#include "base/err.h"

typedef struct bl_reader_s bl_reader_t;

/** A reader with the config's kafka properties. NULL with errstr. */
bl_reader_t *bl_reader_new(const bl_config_t *config, char *errstr, size_t errstr_size);
void bl_reader_destroy(bl_reader_t *reader);

/**
 * Called for each record in offset order per partition; return false to
 * stop the scan early (bl_reader_scan then returns BL_OK).
 */
typedef bool(bl_reader_cb)(const rd_kafka_message_t *message, void *opaque);

/**
 * Reads @p topic, the @p count partitions listed (count 0: every
 * partition), from the earliest offset to the high watermark as a
 * read_committed reader (aborted records left out, open transactions waited
 * for), all partitions at once; empty partitions are skipped without a
 * fetch. BL_ERR_NOT_FOUND when the topic or a partition does not exist,
 * BL_ERR_TIMEOUT when there is no progress for @p timeout_ms.
 */
bl_err_t bl_reader_scan(bl_reader_t *reader, const char *topic, const int32_t *partitions, size_t count,
                        bl_reader_cb *cb, void *opaque, int timeout_ms, char *errstr, size_t errstr_size);

/** The partition count of @p topic, or -1 with errstr. */
int32_t bl_reader_partition_count(bl_reader_t *reader, const char *topic, int timeout_ms, char *errstr,
                                  size_t errstr_size);

/** The partition Java's default partitioner (murmur2) gives @p key among @p partition_count. */
int32_t bl_reader_partition_for_key(const char *key, int32_t partition_count);

#endif
