/*
 * scan.h: what the commands that read backlogd's own topics (inspect,
 * audit, replay) share: the contracts and a reader opened from the config,
 * and a scan of a topic to its read_committed end that shows its progress
 * on stderr when stderr is a terminal.
 */
#ifndef BL_CMD_SCAN_H
#define BL_CMD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/source.h"
#include "contract/transitions.h"
#include "kafka/reader.h"
#include "ops/config.h"

typedef struct bl_cmd_scan_s {
        const char *command;          /* "inspect", ... for messages */
        const bl_config_t *config;    /* borrowed */
        bl_contract_source_t contracts;
        bl_reader_t *reader;
        bl_transition_reader_t *transitions; /* backlog.transitions' records, each item carried forward (v3) */
} bl_cmd_scan_t;

/**
 * Opens the contracts and a reader for @p command. False, with the reason
 * printed on stderr, when either cannot be opened; close it all the same.
 */
bool bl_cmd_scan_open(bl_cmd_scan_t *scan, const char *command, const bl_config_t *config);

/** Closes what is open; safe on a zeroed or half-opened scan. */
void bl_cmd_scan_close(bl_cmd_scan_t *scan);

/**
 * Reads @p topic (the @p count partitions listed; 0: all) to its
 * read_committed end, calling @p cb for each record in offset order per
 * partition. False, with the reason printed on stderr, when the topic is
 * missing or the cluster does not answer within admin.timeout_ms.
 */
bool bl_cmd_scan_topic(bl_cmd_scan_t *scan, const char *topic, const int32_t *partitions, size_t count,
                       bl_reader_cb *cb, void *opaque);

/** The partition count of @p topic; -1 with the reason printed on stderr. */
int32_t bl_cmd_scan_partition_count(bl_cmd_scan_t *scan, const char *topic);

/** @p ms as "850ms", "42s", "3m 07s", "5h 02m", "2d 03h" (negative: "0ms"); returns @p out. */
const char *bl_cmd_format_duration(int64_t ms, char *out, size_t out_size);

/** The wall clock in milliseconds since 1970. */
int64_t bl_cmd_now_ms(void);

#endif
