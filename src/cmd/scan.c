/*
 * scan.c: reading backlogd's own topics for inspect, audit and replay.
 *
 * These commands open the same two things (the contracts the config names,
 * to decode what `run` wrote, and a reader outside any consumer group that
 * sees only committed records) and read whole topics, which can take a
 * while: when stderr is a terminal, a line there counts the records read,
 * redrawn at most five times a second and erased at the end, so that
 * stdout stays clean for --json. Main thread.
 */
#include "cmd/scan.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_MS 200

typedef struct progress_s {
        const bl_cmd_scan_t *scan;
        const char *topic;
        bl_reader_cb *cb;
        void *opaque;
        uint64_t records;
        int64_t shown_at_ms;
        bool shown;
} progress_t;

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t bl_cmd_now_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

const char *bl_cmd_format_duration(int64_t ms, char *out, size_t out_size) {
        int64_t s = ms / 1000;
        if (ms < 0)
                ms = s = 0;
        if (ms < 1000)
                snprintf(out, out_size, "%" PRId64 "ms", ms);
        else if (s < 60)
                snprintf(out, out_size, "%" PRId64 "s", s);
        else if (s < 3600)
                snprintf(out, out_size, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(out, out_size, "%" PRId64 "h %02" PRId64 "m", s / 3600, s % 3600 / 60);
        else
                snprintf(out, out_size, "%" PRId64 "d %02" PRId64 "h", s / 86400, s % 86400 / 3600);
        return out;
}

bool bl_cmd_scan_open(bl_cmd_scan_t *scan, const char *command, const bl_config_t *config) {
        char errstr[512];
        memset(scan, 0, sizeof(*scan));
        scan->command = command;
        scan->config = config;
        if (!bl_contract_source_open(&scan->contracts, config, errstr, sizeof(errstr)) ||
            !(scan->reader = bl_reader_new(config, errstr, sizeof(errstr)))) {
                fprintf(stderr, "backlogd %s: %s\n", command, errstr);
                return false;
        }
        if (!(scan->transitions = bl_transition_reader_new(scan->contracts.schemas, 0))) {
                fprintf(stderr, "backlogd %s: out of memory\n", command);
                return false;
        }
        return true;
}

void bl_cmd_scan_close(bl_cmd_scan_t *scan) {
        bl_transition_reader_destroy(scan->transitions);
        scan->transitions = NULL;
        bl_reader_destroy(scan->reader);
        scan->reader = NULL;
        bl_contract_source_close(&scan->contracts);
}

static bool count_record(const rd_kafka_message_t *message, void *opaque) {
        progress_t *progress = opaque;
        progress->records++;
        if ((progress->records & 255) == 0) {
                int64_t now = monotonic_ms();
                if (now - progress->shown_at_ms >= PROGRESS_INTERVAL_MS) {
                        fprintf(stderr, "\rbacklogd %s: reading %s: %" PRIu64 " records", progress->scan->command,
                                progress->topic, progress->records);
                        progress->shown_at_ms = now;
                        progress->shown = true;
                }
        }
        return progress->cb(message, progress->opaque);
}

/* Says why reading failed, naming the cluster when it did not answer. */
static void report_failure(const bl_cmd_scan_t *scan, bl_err_t err, const char *errstr) {
        const char *servers = json_string_value(json_object_get(scan->config->kafka, "bootstrap.servers"));
        if (err == BL_ERR_NOT_FOUND)
                fprintf(stderr, "backlogd %s: %s (run 'backlogd topics create', or check topics.prefix)\n",
                        scan->command, errstr);
        else
                fprintf(stderr, "backlogd %s: %s (bootstrap.servers %s)\n", scan->command, errstr,
                        servers ? servers : "unset");
}

int32_t bl_cmd_scan_partition_count(bl_cmd_scan_t *scan, const char *topic) {
        char errstr[512];
        int32_t count = bl_reader_partition_count(scan->reader, topic, (int)scan->config->admin_timeout_ms, errstr,
                                                  sizeof(errstr));
        if (count < 0)
                report_failure(scan, strstr(errstr, "does not exist") ? BL_ERR_NOT_FOUND : BL_ERR_KAFKA, errstr);
        return count;
}

bool bl_cmd_scan_topic(bl_cmd_scan_t *scan, const char *topic, const int32_t *partitions, size_t count,
                       bl_reader_cb *cb, void *opaque) {
        char errstr[512];
        progress_t progress = {scan, topic, cb, opaque, 0, monotonic_ms(), false};
        bool to_terminal = isatty(STDERR_FILENO);
        bl_err_t err = bl_reader_scan(scan->reader, topic, partitions, count, to_terminal ? count_record : cb,
                                      to_terminal ? (void *)&progress : opaque, (int)scan->config->admin_timeout_ms,
                                      errstr, sizeof(errstr));
        if (progress.shown)
                fprintf(stderr, "\r\033[K");
        if (err)
                report_failure(scan, err, errstr);
        return err == BL_OK;
}
