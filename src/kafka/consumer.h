/*
 * consumer.h: the group consumer the one way backlogd reads its inputs
 * (SPEC §6): read_committed, no automatic commits (offsets go into the
 * producer's transactions), eager range assignment (co-partitioned inputs
 * land together), fetch queues sized so that the fetcher never idles, and
 * the end of each partition reported. Assignment and revocation come to the
 * caller through two callbacks; the assignment itself is done here.
 */
#ifndef BL_KAFKA_CONSUMER_H
#define BL_KAFKA_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "base/err.h"
#include "ops/config.h"

typedef struct bl_consumer_settings_s {
        const char *group_id;
        const char *client_id;         /* NULL: librdkafka's */
        const char *group_instance_id; /* static membership; NULL: a dynamic member */
        bool partition_eof;            /* report each partition's end (RD_KAFKA_RESP_ERR__PARTITION_EOF) */
        const char *const *overrides;  /* more "name", "value" pairs, NULL-terminated; may be NULL */
        /*
         * Partitions given to this member, from the consumer's poll, before they are assigned (nothing is
         * fetched yet: restore what they need now): true to take them, false to leave them unassigned (the
         * caller is stopping). NULL: taken.
         */
        bool (*assigning)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque);
        /* ... and once they are assigned (pause what must wait). May be NULL. */
        void (*assigned)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque);
        /* Partitions taken away, before they are unassigned: commit what is theirs now. May be NULL. */
        void (*revoked)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, void *opaque);
        void *opaque; /* of both */
} bl_consumer_settings_t;

typedef struct bl_consumer_s bl_consumer_t;

/**
 * A consumer in @p settings' group, its poll redirected to the consumer queue (one poll serves messages,
 * rebalances and errors). NULL with errstr when librdkafka refuses a property.
 */
bl_consumer_t *bl_consumer_new(const bl_config_t *config, const bl_consumer_settings_t *settings, char *errstr,
                               size_t errstr_size);

/** The librdkafka handle: poll, pause, seek, group metadata. Its opaque is this consumer's, not the caller's. */
rd_kafka_t *bl_consumer_handle(const bl_consumer_t *consumer);

/** Subscribes to the @p count topics named. BL_ERR_KAFKA with errstr when librdkafka refuses. */
bl_err_t bl_consumer_subscribe(bl_consumer_t *consumer, const char *const *topics, size_t count, char *errstr,
                               size_t errstr_size);

/** Leaves the group: the revocation callback runs (in this call) for what was assigned. Once. */
void bl_consumer_close(bl_consumer_t *consumer);

/** Closes (if not yet) and frees. NULL: no-op. */
void bl_consumer_destroy(bl_consumer_t *consumer);

#endif
