/*
 * dlq_read.h: what `backlogd dlq` reads: the dead letters of backlog.dlq
 * with their dlq.* headers (SPEC §7), and the redrives already published to
 * the input topics, found by their dlq.redriven.from header. Both `dlq list`
 * (the redriven column) and `dlq redrive` (its idempotency) use the same
 * reading, so they cannot disagree about what was redriven.
 */
#ifndef BL_CMD_DLQ_READ_H
#define BL_CMD_DLQ_READ_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/scan.h"
#include "ops/config.h"

/* The headers a redrive adds to the record it republishes. */
#define BL_DLQ_REDRIVEN_FROM "dlq.redriven.from" /* "<dlq topic>:<partition>:<offset>" */
#define BL_DLQ_REDRIVEN_AT   "dlq.redriven.at"   /* RFC 3339, UTC */
#define BL_DLQ_REDRIVEN_BY   "dlq.redriven.by"   /* "<user>@<host>" */

/* Every header a dead letter gains starts with this; a redrive removes them all. */
#define BL_DLQ_HEADER_PREFIX "dlq."

/* A numeric header that is absent or not a number. */
#define BL_DLQ_ABSENT INT64_MIN

/** One dead letter. Every pointer is owned by the letter. */
typedef struct bl_dlq_letter_s {
        int32_t partition; /* where the letter is in the DLQ */
        int64_t offset;
        unsigned char *key; /* the original key; NULL when it had none */
        size_t key_size;

        /* the dlq.* string headers; NULL when absent */
        char *reason;
        char *detail;
        char *stage;
        char *original_topic;
        char *failed_at;
        char *processor;
        /* the numeric ones; BL_DLQ_ABSENT when absent or not a number */
        int64_t original_partition;
        int64_t original_offset;
        int64_t original_timestamp_ms;
        int64_t schema_id;
        int64_t attempts;
        int64_t failed_at_ms; /* failed_at parsed; BL_DLQ_ABSENT when it is not RFC 3339 */

        /* kept only for letters selected with BL_DLQ_READ_PAYLOAD */
        bool has_value; /* false: the original value was null */
        unsigned char *value;
        size_t value_size;
        rd_kafka_headers_t *headers; /* the original headers (every one but dlq.*); NULL when none */
} bl_dlq_letter_t;

typedef struct bl_dlq_letters_s {
        bl_dlq_letter_t *items;
        size_t count, capacity;
} bl_dlq_letters_t;

/** What to keep of a letter the DLQ holds. */
typedef enum {
        BL_DLQ_READ_SKIP,    /* not wanted */
        BL_DLQ_READ_KEEP,    /* its key and dlq.* headers */
        BL_DLQ_READ_PAYLOAD, /* also its value and original headers, to republish them */
} bl_dlq_read_choice_t;

/** Decides for each letter, whose key and dlq.* fields are filled in (value and headers are not). */
typedef bl_dlq_read_choice_t(bl_dlq_read_select_cb)(const bl_dlq_letter_t *letter, void *opaque);

/**
 * Reads @p dlq_topic to its read_committed end and appends to @p letters
 * each letter @p select keeps (NULL: keep all, without payload), in offset
 * order per partition. False, with the reason on stderr, when the topic
 * cannot be read or memory runs out; @p letters holds what was read so far
 * and must be cleared either way.
 */
bool bl_dlq_read_letters(bl_cmd_scan_t *scan, const char *dlq_topic, bl_dlq_read_select_cb *select, void *opaque,
                         bl_dlq_letters_t *letters);

/** Frees every letter and empties @p letters. */
void bl_dlq_read_letters_clear(bl_dlq_letters_t *letters);

/** One record on an input topic that carries dlq.redriven.from. Pointers owned. */
typedef struct bl_dlq_redrive_s {
        int32_t dlq_partition; /* the letter it republished */
        int64_t dlq_offset;
        char *topic; /* where the republished record is */
        int32_t partition;
        int64_t offset;
        char *at; /* dlq.redriven.at, dlq.redriven.by; NULL when absent */
        char *by;
} bl_dlq_redrive_t;

typedef struct bl_dlq_redrives_s {
        bl_dlq_redrive_t *items; /* sorted by letter once bl_dlq_read_redrives returned */
        size_t count, capacity;
} bl_dlq_redrives_t;

/**
 * "tasks.events" or "tasks.results" when @p topic is that input topic of
 * @p config's prefix (a topic a redrive may publish to); NULL otherwise.
 */
const char *bl_dlq_read_input_role(const bl_config_t *config, const char *topic);

/**
 * Finds the redrives of @p letters: reads, to its read_committed end, each
 * input topic (bl_dlq_read_input_role) that one of them came from, only the
 * partitions that the letters' keys land in under murmur2 (every partition
 * when one has no key: a redrive produces keyless records at random), and
 * collects each record whose dlq.redriven.from names a letter of
 * @p dlq_topic, sorted for bl_dlq_read_redrive_of. False, with the reason on
 * stderr, when a topic cannot be read; clear @p redrives either way.
 */
bool bl_dlq_read_redrives(bl_cmd_scan_t *scan, const char *dlq_topic, const bl_dlq_letters_t *letters,
                          bl_dlq_redrives_t *redrives);

/** The first redrive of the letter at @p partition / @p offset, or NULL. */
const bl_dlq_redrive_t *bl_dlq_read_redrive_of(const bl_dlq_redrives_t *redrives, int32_t partition, int64_t offset);

/** Frees every redrive and empties @p redrives. */
void bl_dlq_read_redrives_clear(bl_dlq_redrives_t *redrives);

#endif
